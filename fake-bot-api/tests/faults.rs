//! Real Telegram's faults: server errors, dropped connections, an
//! unreachable server, flood limits, group upgrades delivered in any
//! order, renames, the bot's removal, and the length limits.

mod common;

use std::time::{Duration, Instant};

use common::{assert_no_violations, call_status, check, err, method_url, ok, take_updates};
use fake_bot_api::{
    BOT_ID, BOT_TOKEN, BusinessRights, FakeTelegram, Fault, MemberStatus, MigrationDelivery,
};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Takes the pending updates (and confirms them), each checked against the
/// spec and teloxide-core.
async fn updates(fake: &FakeTelegram) -> Vec<Value> {
    let list = take_updates(fake).await;
    for u in &list {
        check::<teloxide_core::types::Update>("Update", u);
    }
    list
}

/// The error's chain, for messages.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

#[tokio::test]
async fn server_errors_are_not_processed() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "hi");
    fake.fail_next("sendMessage", Fault::ServerError, 1);
    fake.fail_next("sendMessage", Fault::BadGateway, 1);

    let (status, body) =
        call_status(&fake, "sendMessage", json!({"chat_id": u, "text": "one"})).await;
    assert_eq!(
        (status, body),
        (
            500,
            json!({"ok": false, "error_code": 500, "description": "Internal Server Error"})
        )
    );

    let resp = reqwest::Client::new()
        .post(method_url(&fake, "sendMessage"))
        .json(&json!({"chat_id": u, "text": "two"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 502);
    assert_eq!(resp.headers()["content-type"], "text/html");
    let html = resp.text().await.unwrap();
    assert!(html.starts_with("<html>"), "{html}");
    assert!(html.contains("<title>502 Bad Gateway</title>"), "{html}");
    assert!(serde_json::from_str::<Value>(&html).is_err());

    // Neither was processed; both are recorded with their fault.
    assert!(fake.messages(u).is_empty());
    fake.assert_no_message(u, Duration::ZERO).await;
    let r = fake.requests_for("sendMessage");
    assert_eq!(
        r.iter().map(|r| r.fault.clone()).collect::<Vec<_>>(),
        vec![Some(Fault::ServerError), Some(Fault::BadGateway)]
    );
    assert!(r.iter().all(|r| !r.ok && !r.dropped()));
    assert_eq!(r[1].response, Value::String(html));
}

#[tokio::test]
async fn dropped_connections() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "hi");
    let client = reqwest::Client::new();
    let send = |text: &str| {
        client
            .post(method_url(&fake, "sendMessage"))
            .json(&json!({"chat_id": u, "text": text}))
            .send()
    };
    // A first request leaves a keep-alive connection in the client's pool.
    assert!(send("warm-up").await.unwrap().status().is_success());
    fake.next_message(u).await;

    fake.fail_next("sendMessage", Fault::DropConnection, 1);
    let e = send("lost").await.expect_err("no response at all");
    assert!(
        !e.is_connect() && !e.is_timeout() && e.status().is_none(),
        "{e:?}"
    );
    eprintln!("dropped before processing: {}", chain(&e));
    fake.assert_no_message(u, Duration::ZERO).await;
    assert_eq!(fake.messages(u).len(), 1);

    fake.fail_next("sendMessage", Fault::DropAfterProcessing, 1);
    let e = send("sent").await.expect_err("no response at all");
    assert!(!e.is_connect() && e.status().is_none(), "{e:?}");
    eprintln!("dropped after processing: {}", chain(&e));
    // …but the message was sent.
    let m = fake.next_message(u).await;
    assert_eq!(m.text, "sent");

    // The client recovers on a new connection.
    assert!(send("again").await.unwrap().status().is_success());
    assert_eq!(fake.next_message(u).await.text, "again");

    let dropped = fake.dropped_requests();
    assert_eq!(dropped.len(), 2);
    assert_eq!(dropped[0].fault, Some(Fault::DropConnection));
    assert_eq!((dropped[0].ok, &dropped[0].response), (false, &Value::Null));
    assert_eq!(dropped[1].fault, Some(Fault::DropAfterProcessing));
    assert!(dropped[1].ok);
    assert_eq!(dropped[1].response["result"]["text"], "sent");
    // Each reached the fake once: no automatic retry.
    assert_eq!(fake.requests_for("sendMessage").len(), 4);

    // teloxide reports a network error.
    use teloxide_core::prelude::*;
    use teloxide_core::types::ChatId;
    let bot = Bot::new(BOT_TOKEN).set_api_url(reqwest::Url::parse(&fake.api_url()).unwrap());
    fake.fail_next("sendMessage", Fault::DropConnection, 1);
    let e = bot.send_message(ChatId(u), "x").await.unwrap_err();
    assert!(
        matches!(e, teloxide_core::RequestError::Network(_)),
        "{e:?}"
    );
    assert_no_violations(&fake);
}

/// Reads one HTTP response (with Content-Length) from a raw connection.
async fn read_response(s: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed mid-response");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .expect("content-length");
            if buf.len() >= end + 4 + len {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn telegram_unreachable() {
    let fake = FakeTelegram::start().await;
    let url = fake.api_url();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let client = reqwest::Client::new();
    let get_me = |c: &reqwest::Client| c.get(method_url(&fake, "getMe")).send();
    assert!(get_me(&client).await.unwrap().status().is_success());

    // A raw keep-alive connection, idle after one request.
    let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!("GET /bot{BOT_TOKEN}/getMe HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    raw.write_all(request.as_bytes()).await.unwrap();
    assert!(read_response(&mut raw).await.starts_with("HTTP/1.1 200"));

    // A long poll in flight (or about to start).
    let poll = tokio::spawn({
        let c = client.clone();
        let u = method_url(&fake, "getUpdates");
        async move { c.post(u).json(&json!({"timeout": 30})).send().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;

    let count = fake.request_count();
    fake.go_offline().await;
    assert!(!fake.is_online());
    fake.go_offline().await; // no-op

    // Open connections are closed…
    let mut byte = [0u8; 1];
    let read = raw.read(&mut byte).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let polled = tokio::time::timeout(Duration::from_secs(5), poll)
        .await
        .expect("the long poll ends with the connection")
        .unwrap();
    assert!(polled.is_err(), "{polled:?}");
    // …and new ones refused.
    let fresh = reqwest::Client::new();
    for _ in 0..3 {
        let e = get_me(&fresh).await.unwrap_err();
        assert!(e.is_connect(), "{e:?}");
    }
    let refused = tokio::net::TcpStream::connect(&addr).await.unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    // A client that had a connection notices it closed, then cannot
    // connect.
    let first = get_me(&client).await;
    assert!(first.is_err(), "{first:?}");
    let e = get_me(&client).await.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert_eq!(
        fake.request_count(),
        count,
        "nothing reaches an offline fake"
    );

    fake.go_online().await;
    assert!(fake.is_online());
    assert_eq!(fake.api_url(), url, "same port");
    assert!(get_me(&client).await.unwrap().status().is_success());
    assert!(get_me(&fresh).await.unwrap().status().is_success());
    assert_eq!(fake.request_count(), count + 2);

    // Offline and online again, e.g. a second outage.
    fake.go_offline().await;
    assert!(get_me(&fresh).await.is_err());
    fake.go_online().await;
    fake.go_online().await; // no-op
    assert!(get_me(&fresh).await.unwrap().status().is_success());
}

#[tokio::test]
async fn flood_limits() {
    let fake = FakeTelegram::start().await;
    let users: Vec<i64> = (0..32).map(|i| fake.add_user(&format!("U{i}"))).collect();
    for &u in &users {
        fake.send_text(u, u, "/start");
    }
    let a = users[0];
    // Off by default.
    for i in 0..5 {
        ok(
            &fake,
            "sendMessage",
            json!({"chat_id": a, "text": format!("free {i}")}),
        )
        .await;
    }
    assert!(fake.flood_violations().is_empty());

    fake.enforce_flood_limits(true);
    // One chat: a burst of 3, then one per second.
    let t = Instant::now();
    for i in 0..3 {
        ok(
            &fake,
            "sendMessage",
            json!({"chat_id": a, "text": format!("burst {i}")}),
        )
        .await;
    }
    let (status, body) = call_status(
        &fake,
        "sendMessage",
        json!({"chat_id": a, "text": "too much"}),
    )
    .await;
    if t.elapsed() < Duration::from_millis(900) {
        assert_eq!(
            (status, body),
            (
                429,
                json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})
            )
        );
        let v = fake.flood_violations();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].params["text"], "too much");
        assert!(!fake.messages(a).iter().any(|m| m.text == "too much"));
        // Other methods are not limited.
        ok(
            &fake,
            "sendChatAction",
            json!({"chat_id": a, "action": "typing"}),
        )
        .await;
        ok(&fake, "getChat", json!({"chat_id": a})).await;
    } else {
        eprintln!("slow machine: skipped the burst check");
    }

    // No overall limit: 31 chats at once are fine.
    fake.enforce_flood_limits(false);
    fake.enforce_flood_limits(true); // starts afresh
    let before = fake.flood_violations().len();
    for &u in &users[1..] {
        let (status, body) =
            call_status(&fake, "sendMessage", json!({"chat_id": u, "text": "news"})).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(fake.flood_violations().len(), before);
    assert!(fake.overall_limit_refusals().is_empty());

    // Business chats count too.
    fake.enforce_flood_limits(false);
    fake.enforce_flood_limits(true);
    let owner = fake.add_user("Owner");
    let customer = users[1];
    let bc = fake.connect_business(owner, Some(BusinessRights::reply()));
    fake.business_message(&bc, customer, "hello");
    let t = Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _) = call_status(
            &fake,
            "sendMessage",
            json!({"business_connection_id": bc, "chat_id": customer, "text": "hi"}),
        )
        .await;
        statuses.push(status);
    }
    if t.elapsed() < Duration::from_millis(900) {
        assert_eq!(statuses, vec![200, 200, 200, 429]);
        // The bot's own private chat with the customer is another chat.
        ok(
            &fake,
            "sendMessage",
            json!({"chat_id": customer, "text": "pm"}),
        )
        .await;
    }

    fake.enforce_flood_limits(false);
    for _ in 0..5 {
        ok(&fake, "sendMessage", json!({"chat_id": a, "text": "free"})).await;
    }
    assert_no_violations(&fake);
}

#[tokio::test]
async fn a_bot_honouring_retry_after_gets_every_message_through() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "/start");
    fake.enforce_flood_limits(true);
    let mut sent = 0;
    let mut refused = 0;
    while sent < 5 {
        let (status, body) =
            call_status(&fake, "sendMessage", json!({"chat_id": u, "text": "x"})).await;
        match status {
            200 => sent += 1,
            429 => {
                let n = body["parameters"]["retry_after"].as_u64().unwrap();
                assert!(n >= 1);
                refused += 1;
                tokio::time::sleep(Duration::from_secs(n)).await;
            }
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(fake.messages(u).len(), 5);
    assert_eq!(fake.flood_violations().len(), refused);
}

#[tokio::test]
async fn an_overall_limit_apart_from_the_flood_limits() {
    let fake = FakeTelegram::start().await;
    let users: Vec<i64> = (0..8).map(|i| fake.add_user(&format!("U{i}"))).collect();
    for &u in &users {
        fake.send_text(u, u, "/start");
    }
    let send = |chat: i64, text: &'static str| {
        let fake = fake.clone();
        async move { call_status(&fake, "sendMessage", json!({"chat_id": chat, "text": text})).await }
    };

    fake.enforce_overall_limit(Some(5));
    let t = Instant::now();
    let mut answers = Vec::new();
    for &u in &users[..6] {
        answers.push(send(u, "news").await);
    }
    if t.elapsed() < Duration::from_millis(900) {
        for (status, body) in &answers[..5] {
            assert_eq!(*status, 200, "{body}");
        }
        assert_eq!(
            answers[5],
            (
                429,
                json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})
            )
        );
        let refused = fake.overall_limit_refusals();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].params["chat_id"], users[5]);
        assert!(!refused[0].ok);
        // Not processed, and not a flood violation.
        assert!(fake.messages(users[5]).is_empty());
        assert!(fake.flood_violations().is_empty());
        // Edits and other methods do not count for the overall limit.
        let m = fake.next_message(users[0]).await;
        ok(
            &fake,
            "editMessageText",
            json!({"chat_id": users[0], "message_id": m.message_id, "text": "edited"}),
        )
        .await;
        ok(
            &fake,
            "sendChatAction",
            json!({"chat_id": users[0], "action": "typing"}),
        )
        .await;
    } else {
        eprintln!("slow machine: skipped the overall check");
    }
    // A second later, sends go through again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(send(users[5], "later").await.0, 200);

    // Both on: a chat over its burst is a flood violation (even when the
    // overall limit would refuse it too); a send refused only by the
    // overall limit is not.
    fake.enforce_flood_limits(true);
    fake.enforce_overall_limit(Some(4)); // starts afresh
    let flood_before = fake.flood_violations().len();
    let overall_before = fake.overall_limit_refusals().len();
    let t = Instant::now();
    let mut statuses = Vec::new();
    for chat in [users[6], users[6], users[6], users[6], users[7], users[7]] {
        statuses.push(send(chat, "x").await.0);
    }
    if t.elapsed() < Duration::from_millis(900) {
        // Three in chat 6, its fourth over the chat's burst, then one in
        // chat 7 (the 4th of the second), the next over the overall limit.
        assert_eq!(statuses, [200, 200, 200, 429, 200, 429]);
        let flood = fake.flood_violations();
        assert_eq!(flood.len(), flood_before + 1);
        assert_eq!(flood[flood_before].params["chat_id"], users[6]);
        let overall = fake.overall_limit_refusals();
        assert_eq!(overall.len(), overall_before + 1);
        assert_eq!(overall[overall_before].params["chat_id"], users[7]);
    } else {
        eprintln!("slow machine: skipped the combined check");
    }

    // Off again: no limit at all.
    fake.enforce_overall_limit(None);
    fake.enforce_flood_limits(false);
    for _ in 0..8 {
        assert_eq!(send(users[1], "free").await.0, 200);
    }
    assert_no_violations(&fake);
}

#[tokio::test]
async fn edits_share_the_chat_limits_with_sends() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "/start");
    // Off by default.
    let first = ok(&fake, "sendMessage", json!({"chat_id": u, "text": "v0"})).await;
    let id = first["message_id"].as_i64().unwrap();
    for i in 1..6 {
        ok(
            &fake,
            "editMessageText",
            json!({"chat_id": u, "message_id": id, "text": format!("free {i}")}),
        )
        .await;
    }

    fake.enforce_flood_limits(true);
    let keyboard = json!({"inline_keyboard": [[{"text": "b", "callback_data": "b"}]]});
    let t = Instant::now();
    let m = ok(&fake, "sendMessage", json!({"chat_id": u, "text": "v0"})).await;
    let id = m["message_id"].as_i64().unwrap();
    ok(
        &fake,
        "editMessageText",
        json!({"chat_id": u, "message_id": id, "text": "v1"}),
    )
    .await;
    ok(
        &fake,
        "editMessageReplyMarkup",
        json!({"chat_id": u, "message_id": id, "reply_markup": keyboard}),
    )
    .await;
    let edit = call_status(
        &fake,
        "editMessageText",
        json!({"chat_id": u, "message_id": id, "text": "v2"}),
    )
    .await;
    let caption = call_status(
        &fake,
        "editMessageCaption",
        json!({"chat_id": u, "message_id": id, "caption": "c"}),
    )
    .await;
    let media = call_status(
        &fake,
        "editMessageMedia",
        json!({"chat_id": u, "message_id": id, "media": {"type": "photo", "media": "x"}}),
    )
    .await;
    let send = call_status(&fake, "sendMessage", json!({"chat_id": u, "text": "v3"})).await;
    // The inline form names no chat: not limited.
    let inline = call_status(
        &fake,
        "editMessageText",
        json!({"inline_message_id": "AgAAA", "text": "v4"}),
    )
    .await;
    if t.elapsed() < Duration::from_millis(900) {
        let refused = json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}});
        for answer in [&edit, &caption, &media, &send] {
            assert_eq!(answer, &(429, refused.clone()));
        }
        assert_eq!(inline.0, 400, "{}", inline.1);
        let v = fake.flood_violations();
        let methods: Vec<&str> = v.iter().map(|r| r.method.as_str()).collect();
        assert_eq!(
            methods,
            [
                "editMessageText",
                "editMessageCaption",
                "editMessageMedia",
                "sendMessage"
            ]
        );
        // Not processed.
        let now = fake.message_json(u, id as i32).unwrap();
        assert_eq!(now["text"], "v1");
        assert!(fake.overall_limit_refusals().is_empty());
    } else {
        eprintln!("slow machine: skipped the edit checks");
    }
    // One more a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ok(
        &fake,
        "editMessageText",
        json!({"chat_id": u, "message_id": id, "text": "v5"}),
    )
    .await;
    assert_no_violations(&fake);
}

/// A client giving up after `timeout`.
fn impatient(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

async fn post_send(
    client: &reqwest::Client,
    fake: &FakeTelegram,
    params: Value,
) -> reqwest::Result<reqwest::Response> {
    client
        .post(method_url(fake, "sendMessage"))
        .json(&params)
        .send()
        .await
}

#[tokio::test]
async fn a_stalled_request_takes_effect_after_the_client_gave_up() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "hi");
    let stall = Duration::from_millis(600);
    fake.fail_next("sendMessage", Fault::Stall(stall), 1);

    let t = Instant::now();
    let e = post_send(
        &impatient(Duration::from_millis(150)),
        &fake,
        json!({"chat_id": u, "text": "late"}),
    )
    .await
    .expect_err("the client times out");
    assert!(e.is_timeout(), "{e:?}");
    // Not processed nor recorded yet…
    if t.elapsed() < Duration::from_millis(500) {
        assert!(fake.requests_for("sendMessage").is_empty());
        assert!(fake.messages(u).is_empty());
    }
    // …but it takes effect after the stall.
    let m = fake.next_message(u).await;
    assert!(t.elapsed() >= stall, "{:?}", t.elapsed());
    assert_eq!(m.text, "late");
    let r = fake.requests_for("sendMessage");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].fault, Some(Fault::Stall(stall)));
    assert!(r[0].ok && !r[0].dropped());
    assert_eq!(r[0].response["result"]["text"], "late");

    // A patient client gets the answer, late.
    fake.fail_next("sendMessage", Fault::Stall(Duration::from_millis(300)), 1);
    let t = Instant::now();
    let resp = post_send(
        &reqwest::Client::new(),
        &fake,
        json!({"chat_id": u, "text": "slow"}),
    )
    .await
    .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(300));
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["result"]["text"], "slow");
    assert_eq!(fake.next_message(u).await.text, "slow");
    assert_no_violations(&fake);

    // The spec check still applies (recorded when processed), and so does
    // every usual error.
    fake.fail_next("sendMessage", Fault::Stall(Duration::from_millis(50)), 1);
    let (status, body) = call_status(
        &fake,
        "sendMessage",
        json!({"chat_id": u, "text": "x", "bogus": 1}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        fake.spec_violations(),
        ["sendMessage: unknown parameter \"bogus\""]
    );
    fake.fail_next("sendMessage", Fault::Stall(Duration::from_millis(50)), 1);
    let description = err(&fake, "sendMessage", json!({"chat_id": 42, "text": "x"})).await;
    assert_eq!(description, "Bad Request: chat not found");
}

#[tokio::test]
async fn a_stall_in_one_chat_does_not_hold_the_others() {
    let fake = FakeTelegram::start().await;
    let a = fake.add_user("Ann");
    let b = fake.add_user("Bob");
    for u in [a, b] {
        fake.send_text(u, u, "hi");
    }
    let stall = Duration::from_millis(500);
    fake.fail_next_in_chat("sendMessage", a, Fault::Stall(stall), 1);
    let t = Instant::now();
    let stalled = tokio::spawn({
        let fake = fake.clone();
        async move { call_status(&fake, "sendMessage", json!({"chat_id": a, "text": "a"})).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, _) = call_status(&fake, "sendMessage", json!({"chat_id": b, "text": "b"})).await;
    assert_eq!(status, 200);
    let quick = t.elapsed();
    let (status, body) = stalled.await.unwrap();
    assert_eq!((status, &body["result"]["text"]), (200, &json!("a")));
    assert!(t.elapsed() >= stall);
    if quick < Duration::from_millis(400) {
        // Recorded in the order processed: Bob's first.
        let r = fake.requests_for("sendMessage");
        assert_eq!(r[0].params["chat_id"], b);
        assert_eq!(r[0].fault, None);
        assert_eq!(r[1].params["chat_id"], a);
        assert_eq!(r[1].fault, Some(Fault::Stall(stall)));
    }
    assert_no_violations(&fake);
}

#[tokio::test]
async fn a_hanging_request_is_never_answered_nor_processed() {
    let fake = FakeTelegram::start().await;
    let a = fake.add_user("Ann");
    let b = fake.add_user("Bob");
    for u in [a, b] {
        fake.send_text(u, u, "hi");
    }
    fake.fail_next_in_chat("sendMessage", a, Fault::Hang, 1);
    let client = impatient(Duration::from_millis(300));
    let hanging = tokio::spawn({
        let (client, fake) = (client.clone(), fake.clone());
        async move { post_send(&client, &fake, json!({"chat_id": a, "text": "lost"})).await }
    });
    // Recorded when received.
    let r = fake
        .wait_for_request("sendMessage", |_| true, Duration::from_secs(5))
        .await
        .expect("recorded");
    assert_eq!(r.fault, Some(Fault::Hang));
    assert_eq!((r.ok, &r.response), (false, &Value::Null));
    assert!(!r.dropped());
    // Other chats are served meanwhile.
    assert_eq!(
        call_status(&fake, "sendMessage", json!({"chat_id": b, "text": "b"}))
            .await
            .0,
        200
    );
    let e = hanging.await.unwrap().expect_err("never answered");
    assert!(e.is_timeout(), "{e:?}");
    fake.assert_no_message(a, Duration::from_millis(200)).await;
    assert!(fake.messages(a).is_empty());
    // The same client goes on.
    let resp = post_send(&client, &fake, json!({"chat_id": a, "text": "next"}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(fake.next_message(a).await.text, "next");

    // teloxide waits for its own timeout.
    use teloxide_core::prelude::*;
    use teloxide_core::types::ChatId;
    let bot = Bot::with_client(BOT_TOKEN, impatient(Duration::from_millis(200)))
        .set_api_url(reqwest::Url::parse(&fake.api_url()).unwrap());
    fake.fail_next("sendMessage", Fault::Hang, 1);
    let e = bot.send_message(ChatId(a), "x").await.unwrap_err();
    assert!(
        matches!(e, teloxide_core::RequestError::Network(ref n) if n.is_timeout()),
        "{e:?}"
    );
    assert_no_violations(&fake);
}

/// A raw request to the fake on a connection of its own.
async fn raw_send(fake: &FakeTelegram, chat: i64) -> tokio::net::TcpStream {
    let addr = fake
        .api_url()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let body = json!({"chat_id": chat, "text": "raw"}).to_string();
    let request = format!(
        "POST /bot{BOT_TOKEN}/sendMessage HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw.write_all(request.as_bytes()).await.unwrap();
    raw
}

/// Reads until the peer closes the connection; what came, or None after
/// `wait`.
async fn read_to_close(raw: &mut tokio::net::TcpStream, wait: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    tokio::time::timeout(wait, async {
        let mut chunk = [0u8; 1024];
        loop {
            match raw.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(got)
}

#[tokio::test]
async fn hanging_and_stalled_requests_do_not_hold_the_fake_up() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "hi");

    // When the client closes its side, the server lets the connection go.
    fake.fail_next("sendMessage", Fault::Hang, 1);
    let mut raw = raw_send(&fake, u).await;
    fake.wait_for_request("sendMessage", |_| true, Duration::from_secs(5))
        .await
        .expect("recorded");
    assert_eq!(
        read_to_close(&mut raw, Duration::from_millis(300)).await,
        None
    );
    raw.shutdown().await.unwrap();
    let got = read_to_close(&mut raw, Duration::from_secs(5)).await;
    assert_eq!(got.as_deref(), Some(&[][..]), "closed without a response");

    // Going offline closes a hanging connection.
    fake.fail_next("sendMessage", Fault::Hang, 1);
    let mut raw = raw_send(&fake, u).await;
    fake.wait_for_request("sendMessage", |_| true, Duration::from_secs(5))
        .await
        .expect("recorded");
    tokio::time::timeout(Duration::from_secs(5), fake.go_offline())
        .await
        .expect("go_offline is not held up");
    let got = read_to_close(&mut raw, Duration::from_secs(5)).await;
    assert_eq!(got.as_deref(), Some(&[][..]), "closed without a response");
    fake.go_online().await;

    // Dropping the fake closes hanging and stalled connections; the
    // stalled request is never processed.
    fake.fail_next("sendMessage", Fault::Hang, 1);
    let mut hanging = raw_send(&fake, u).await;
    fake.wait_for_request(
        "sendMessage",
        |r| r.params["text"] == "raw",
        Duration::from_secs(5),
    )
    .await
    .expect("recorded");
    fake.fail_next("sendMessage", Fault::Stall(Duration::from_secs(60)), 1);
    let mut stalled = raw_send(&fake, u).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(fake.request_count(), 3, "the stall is not recorded yet");
    drop(fake);
    for raw in [&mut hanging, &mut stalled] {
        let got = read_to_close(raw, Duration::from_secs(5)).await;
        assert_eq!(got.as_deref(), Some(&[][..]), "closed without a response");
    }
}

/// The `(field, chat id)` of each migration service message among the
/// updates, in order.
fn migration_messages(ups: &[Value]) -> Vec<(&'static str, i64)> {
    ups.iter()
        .filter_map(|u| {
            let m = &u["message"];
            let chat = m["chat"]["id"].as_i64()?;
            if m.get("migrate_to_chat_id").is_some() {
                Some(("to", chat))
            } else if m.get("migrate_from_chat_id").is_some() {
                Some(("from", chat))
            } else {
                None
            }
        })
        .collect()
}

#[tokio::test]
async fn group_upgrades_in_any_order() {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Owner");
    let cases = [
        (MigrationDelivery::Both, vec!["to", "from"]),
        (MigrationDelivery::FromFirst, vec!["from", "to"]),
        (MigrationDelivery::ToOnly, vec!["to"]),
        (MigrationDelivery::FromOnly, vec!["from"]),
        (MigrationDelivery::Twice, vec!["to", "from", "to", "from"]),
    ];
    for (delivery, expected) in cases {
        let g = fake.add_group("G");
        fake.set_member(g, owner, MemberStatus::Creator);
        updates(&fake).await;
        let sg = fake.migrate_group_with(g, delivery);
        let ups = updates(&fake).await;
        let got = migration_messages(&ups);
        let kinds: Vec<&str> = got.iter().map(|(k, _)| *k).collect();
        assert_eq!(kinds, expected, "{delivery:?}");
        for (kind, chat) in &got {
            assert_eq!(*chat, if *kind == "to" { g } else { sg }, "{delivery:?}");
        }
        for u in &ups {
            let m = &u["message"];
            if m.get("migrate_to_chat_id").is_some() {
                assert_eq!(m["migrate_to_chat_id"], sg);
                assert_eq!(m["from"]["id"], owner);
            } else {
                assert_eq!(m["migrate_from_chat_id"], g);
                assert_eq!(m["sender_chat"]["id"], sg);
            }
        }
        if delivery == MigrationDelivery::Twice {
            assert_eq!(ups[0]["message"], ups[2]["message"]);
            assert_ne!(ups[0]["update_id"], ups[2]["update_id"]);
        }
        assert_eq!(fake.member_status(sg, owner), MemberStatus::Creator);
    }
}

#[tokio::test]
async fn an_upgraded_group_answers_with_its_new_id() {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Owner");
    let u = fake.add_user("Ann");
    let g = fake.add_group("G");
    fake.set_member(g, owner, MemberStatus::Creator);
    fake.set_member(g, u, MemberStatus::Member);
    fake.set_bot_status(g, MemberStatus::Administrator);
    let old = fake.send_text(u, g, "/hello");
    let mine = ok(&fake, "sendMessage", json!({"chat_id": g, "text": "hi"})).await;
    let mine = mine["message_id"].as_i64().unwrap();
    let sg = fake.migrate_group(g);
    let migrated = json!({
        "ok": false,
        "error_code": 400,
        "description": "Bad Request: group chat was upgraded to a supergroup chat",
        "parameters": {"migrate_to_chat_id": sg},
    });
    let calls = [
        ("sendMessage", json!({"chat_id": g, "text": "x"})),
        (
            "sendMessage",
            json!({"chat_id": g.to_string(), "text": "form-like id"}),
        ),
        ("sendChatAction", json!({"chat_id": g, "action": "typing"})),
        ("getChatMember", json!({"chat_id": g, "user_id": u})),
        ("getChatAdministrators", json!({"chat_id": g})),
        ("getChatMemberCount", json!({"chat_id": g})),
        ("deleteMessage", json!({"chat_id": g, "message_id": old})),
        (
            "deleteMessages",
            json!({"chat_id": g, "message_ids": [old]}),
        ),
        ("pinChatMessage", json!({"chat_id": g, "message_id": old})),
        ("unpinAllChatMessages", json!({"chat_id": g})),
        ("banChatMember", json!({"chat_id": g, "user_id": u})),
        ("unbanChatMember", json!({"chat_id": g, "user_id": u})),
        (
            "editMessageText",
            json!({"chat_id": g, "message_id": mine, "text": "edited"}),
        ),
        (
            "setMyCommands",
            json!({"commands": [{"command": "a", "description": "b"}], "scope": {"type": "chat", "chat_id": g}}),
        ),
    ];
    for (method, params) in calls {
        let (status, body) = call_status(&fake, method, params.clone()).await;
        assert_eq!((status, &body), (400, &migrated), "{method} {params}");
    }
    // Read access still works, as with the Bot API server.
    let chat = ok(&fake, "getChat", json!({"chat_id": g})).await;
    assert_eq!(
        (chat["id"].as_i64(), chat["type"].as_str()),
        (Some(g), Some("group"))
    );
    let me = ok(
        &fake,
        "getChatMember",
        json!({"chat_id": g, "user_id": BOT_ID}),
    )
    .await;
    assert_eq!(me["status"], "administrator");
    // The new supergroup works.
    ok(&fake, "sendMessage", json!({"chat_id": sg, "text": "x"})).await;
    ok(&fake, "getChatMember", json!({"chat_id": sg, "user_id": u})).await;
    assert_no_violations(&fake);
}

#[tokio::test]
async fn renames_deliver_new_chat_title() {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Owner");
    let g = fake.add_supergroup("Old name", None);
    fake.set_member(g, owner, MemberStatus::Creator);
    // Privacy mode on, bot a plain member: service messages still arrive.
    let id = fake.rename_chat(g, "New name", owner);
    let ups = updates(&fake).await;
    assert_eq!(ups.len(), 1, "{ups:#?}");
    let m = &ups[0]["message"];
    assert_eq!(m["message_id"], id);
    assert_eq!(m["new_chat_title"], "New name");
    assert_eq!(m["chat"]["title"], "New name");
    assert_eq!(m["from"]["id"], owner);
    assert_eq!(
        ok(&fake, "getChat", json!({"chat_id": g})).await["title"],
        "New name"
    );
    assert_eq!(fake.message_json(g, id).as_ref(), Some(m));

    // The silent variant changes the title without an update.
    fake.set_chat_title(g, "Quiet");
    assert!(updates(&fake).await.is_empty());
    assert_eq!(
        ok(&fake, "getChat", json!({"chat_id": g})).await["title"],
        "Quiet"
    );

    // An anonymous administrator.
    fake.rename_chat(g, "Anon", fake_bot_api::ANONYMOUS_ADMIN_ID);
    let ups = updates(&fake).await;
    assert_eq!(ups[0]["message"]["sender_chat"]["id"], g);

    // A channel: a channel post from the channel, for an admin bot.
    let ch = fake.add_channel("News", Some("news"));
    fake.set_member(ch, owner, MemberStatus::Creator);
    fake.rename_chat(ch, "Fresh news", owner);
    let ups = updates(&fake).await;
    let post = &ups[0]["channel_post"];
    assert_eq!(post["new_chat_title"], "Fresh news");
    assert_eq!(post["sender_chat"]["id"], ch);
    assert!(post.get("from").is_none(), "{post}");

    // Not delivered where the bot is absent, but the title changes.
    let gone = fake.add_group("Gone");
    fake.set_member(gone, owner, MemberStatus::Creator);
    fake.set_bot_status(gone, MemberStatus::Left);
    updates(&fake).await;
    fake.rename_chat(gone, "Still gone", owner);
    assert!(updates(&fake).await.is_empty());
    assert_no_violations(&fake);
}

#[test]
#[should_panic(expected = "can't rename chat")]
fn only_members_rename_chats() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fake = FakeTelegram::start().await;
        let stranger = fake.add_user("Stranger");
        let g = fake.add_group("G");
        fake.rename_chat(g, "Mine", stranger);
    });
}

#[tokio::test]
async fn removing_and_re_adding_the_bot() {
    use teloxide_core::types::{ChatMemberKind, UpdateKind};
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Owner");
    let u = fake.add_user("Ann");
    let sg = fake.add_supergroup("S", None);
    let g = fake.add_group("G");
    for chat in [sg, g] {
        fake.set_member(chat, owner, MemberStatus::Creator);
        fake.set_member(chat, u, MemberStatus::Member);
    }
    fake.set_bot_status(sg, MemberStatus::Administrator);
    updates(&fake).await;

    fake.set_bot_status(sg, MemberStatus::Kicked);
    let ups = updates(&fake).await;
    assert_eq!(ups.len(), 1, "{ups:#?}");
    let cmu = &ups[0]["my_chat_member"];
    assert_eq!(cmu["chat"]["id"], sg);
    assert_eq!(cmu["chat"]["type"], "supergroup");
    assert_eq!(cmu["from"]["id"], owner);
    assert!(cmu["date"].as_i64().unwrap() > 1_600_000_000);
    assert_eq!(cmu["old_chat_member"]["status"], "administrator");
    assert_eq!(cmu["old_chat_member"]["user"]["id"], BOT_ID);
    assert_eq!(cmu["new_chat_member"]["status"], "kicked");
    assert_eq!(cmu["new_chat_member"]["until_date"], 0);
    let parsed = check::<teloxide_core::types::Update>("Update", &ups[0]);
    let UpdateKind::MyChatMember(upd) = parsed.kind else {
        panic!("{parsed:?}");
    };
    assert!(matches!(
        upd.new_chat_member.kind,
        ChatMemberKind::Banned(_)
    ));

    let kicked = "Forbidden: bot was kicked from the supergroup chat";
    for (method, params) in [
        ("sendMessage", json!({"chat_id": sg, "text": "x"})),
        ("getChatMember", json!({"chat_id": sg, "user_id": u})),
        ("getChatAdministrators", json!({"chat_id": sg})),
        ("getChat", json!({"chat_id": sg})),
    ] {
        let (status, body) = call_status(&fake, method, params).await;
        assert_eq!(
            (status, body["description"].as_str()),
            (403, Some(kicked)),
            "{method}"
        );
    }

    // Leaving a basic group.
    fake.set_bot_status(g, MemberStatus::Left);
    let ups = updates(&fake).await;
    let cmu = &ups[0]["my_chat_member"];
    assert_eq!(
        (
            cmu["old_chat_member"]["status"].as_str(),
            cmu["new_chat_member"]["status"].as_str()
        ),
        (Some("member"), Some("left"))
    );
    for (method, params) in [
        ("sendMessage", json!({"chat_id": g, "text": "x"})),
        ("getChatMember", json!({"chat_id": g, "user_id": u})),
        ("getChatMemberCount", json!({"chat_id": g})),
    ] {
        assert_eq!(
            err(&fake, method, params).await,
            "Forbidden: bot is not a member of the group chat",
            "{method}"
        );
    }
    fake.set_bot_status(g, MemberStatus::Kicked);
    updates(&fake).await;
    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": g, "text": "x"})).await,
        "Forbidden: bot was kicked from the group chat"
    );

    // Re-added: my_chat_member again, and the new_chat_members message.
    fake.set_bot_status(sg, MemberStatus::Member);
    let ups = updates(&fake).await;
    assert_eq!(ups.len(), 2, "{ups:#?}");
    let cmu = &ups[0]["my_chat_member"];
    assert_eq!(
        (
            cmu["old_chat_member"]["status"].as_str(),
            cmu["new_chat_member"]["status"].as_str()
        ),
        (Some("kicked"), Some("member"))
    );
    assert_eq!(ups[1]["message"]["new_chat_members"][0]["id"], BOT_ID);
    ok(&fake, "sendMessage", json!({"chat_id": sg, "text": "back"})).await;
    assert_no_violations(&fake);
}

#[tokio::test]
async fn faults_for_one_chat() {
    let fake = FakeTelegram::start().await;
    let a = fake.add_user("Ann");
    let b = fake.add_user("Bob");
    let public = fake.add_supergroup("P", Some("public_sg"));
    for u in [a, b] {
        fake.send_text(u, u, "hi");
    }
    fake.fail_next_in_chat("SendMessage", a, Fault::RetryAfter(2), 2);
    fake.fail_next_in_chat("sendMessage", public, Fault::ServerError, 1);
    let status = |chat: Value| {
        let fake = fake.clone();
        async move {
            call_status(&fake, "sendMessage", json!({"chat_id": chat, "text": "x"}))
                .await
                .0
        }
    };
    assert_eq!(status(json!(b)).await, 200);
    assert_eq!(status(json!(a)).await, 429);
    assert_eq!(status(json!(b)).await, 200);
    assert_eq!(status(json!(a.to_string())).await, 429);
    assert_eq!(status(json!(a)).await, 200);
    // An @username names its chat.
    assert_eq!(status(json!("@public_sg")).await, 500);
    assert_eq!(status(json!(public)).await, 200);
    // Other methods of the chat are not affected.
    ok(&fake, "getChat", json!({"chat_id": a})).await;

    // The chat's faults come before those of any chat.
    fake.fail_next("sendMessage", Fault::ServerError, 1);
    fake.fail_next_in_chat("sendMessage", a, Fault::DropConnection, 1);
    let e = reqwest::Client::new()
        .post(method_url(&fake, "sendMessage"))
        .json(&json!({"chat_id": a, "text": "x"}))
        .send()
        .await;
    assert!(e.is_err(), "{e:?}");
    assert_eq!(status(json!(a)).await, 500);
    assert_eq!(status(json!(a)).await, 200);
}

#[tokio::test]
async fn length_limits() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "/start");
    let send = |text: String, parse_mode: Option<&str>| {
        let mut p = json!({"chat_id": u, "text": text});
        if let Some(pm) = parse_mode {
            p["parse_mode"] = json!(pm);
        }
        call_status(&fake, "sendMessage", p)
    };
    let too_long = "Bad Request: message is too long";
    let a4096 = "a".repeat(4096);
    assert_eq!(send(a4096.clone(), None).await.0, 200);
    assert_eq!(
        send("a".repeat(4097), None).await.1["description"],
        too_long
    );
    // Counted after entity parsing: tags are free, an escape is one.
    let (status, body) = send(format!("<b>{a4096}</b>"), Some("HTML")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["entities"][0]["length"], 4096);
    assert_eq!(send("&amp;".repeat(4096), Some("HTML")).await.0, 200);
    assert_eq!(
        send("&amp;".repeat(4097), Some("HTML")).await.1["description"],
        too_long
    );
    assert_eq!(send(format!("*{a4096}*"), Some("MarkdownV2")).await.0, 200);
    // UTF-16 code units: an emoji outside the BMP counts 2.
    assert_eq!(send("😀".repeat(2048), None).await.0, 200);
    assert_eq!(
        send("😀".repeat(2048) + "a", None).await.1["description"],
        too_long
    );

    // editMessageText words it differently.
    let mid = ok(&fake, "sendMessage", json!({"chat_id": u, "text": "short"})).await["message_id"]
        .clone();
    assert_eq!(
        err(
            &fake,
            "editMessageText",
            json!({"chat_id": u, "message_id": mid, "text": "b".repeat(4097)})
        )
        .await,
        "Bad Request: MESSAGE_TOO_LONG"
    );
    ok(
        &fake,
        "editMessageText",
        json!({"chat_id": u, "message_id": mid, "text": format!("<i>{}</i>", "b".repeat(4096)), "parse_mode": "HTML"}),
    )
    .await;

    // answerCallbackQuery: 200 characters.
    let cb = fake.press_button(u, u, mid.as_i64().unwrap() as i32, "x");
    assert_eq!(
        err(
            &fake,
            "answerCallbackQuery",
            json!({"callback_query_id": cb, "text": "c".repeat(201)})
        )
        .await,
        "Bad Request: MESSAGE_TOO_LONG"
    );
    ok(
        &fake,
        "answerCallbackQuery",
        json!({"callback_query_id": cb, "text": "c".repeat(200), "show_alert": true}),
    )
    .await;

    // callback_data: 1-64 bytes (not characters).
    let with_data = |data: String| json!({"chat_id": u, "text": "k", "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": data}]]}});
    ok(&fake, "sendMessage", with_data("d".repeat(64))).await;
    ok(&fake, "sendMessage", with_data("é".repeat(32))).await;
    for bad in ["é".repeat(33), "d".repeat(65)] {
        assert_eq!(
            err(&fake, "sendMessage", with_data(bad)).await,
            "Bad Request: BUTTON_DATA_INVALID"
        );
    }
    assert_no_violations(&fake);
}
