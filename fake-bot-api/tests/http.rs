//! Server behaviour over HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{assert_no_violations, call_status, err, ok};
use fake_bot_api::{BOT_ID, BOT_TOKEN, FakeTelegram, Fault, MemberStatus};
use serde_json::{Value, json};

#[tokio::test]
async fn routing_tokens_and_methods() {
    let fake = FakeTelegram::start().await;
    let client = reqwest::Client::new();
    let bad = client
        .post(format!("{}bot1:wrong/getMe", fake.api_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    assert_eq!(
        bad.json::<Value>().await.unwrap(),
        json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
    );
    let (status, body) = call_status(&fake, "noSuchMethod", json!({})).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (404, Some("Not Found"))
    );
    // PascalCase like teloxide, GET with a query string
    let me = client
        .get(format!("{}bot{}/GetMe", fake.api_url(), BOT_TOKEN))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(me["result"]["username"], "castellan_test_bot");
    assert_eq!(me["result"]["can_join_groups"], true);
    assert_eq!(fake.requests_for("getme").len(), 1);
    assert_eq!(fake.requests_for("getMe")[0].method, "getMe");
    assert_eq!(
        fake.spec_violations(),
        vec!["unknown method \"noSuchMethod\"".to_owned()]
    );
}

#[tokio::test]
async fn form_bodies_and_spec_checks() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "hi");
    let body = reqwest::Client::new()
        .post(format!("{}bot{}/sendMessage", fake.api_url(), BOT_TOKEN))
        .form(&[
            ("chat_id", u.to_string()),
            ("text", "<b>x</b>".into()),
            ("parse_mode", "HTML".into()),
            (
                "reply_markup",
                r#"{"inline_keyboard":[[{"text":"a","callback_data":"a"}]]}"#.into(),
            ),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(body["ok"], true, "{body}");
    let m = fake.next_message(u).await;
    assert_eq!(m.text, "x");
    assert_eq!(m.buttons(), vec![vec![("a".to_owned(), "a".to_owned())]]);

    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": u})).await,
        "Bad Request: message text is empty"
    );
    assert_eq!(
        err(&fake, "sendMessage", json!({"text": "x"})).await,
        "Bad Request: chat_id is empty"
    );
    ok(
        &fake,
        "sendMessage",
        json!({"chat_id": u, "text": "x", "bogus": 1}),
    )
    .await;
    assert_eq!(
        fake.spec_violations(),
        vec![
            "sendMessage: missing required parameter \"text\"",
            "sendMessage: missing required parameter \"chat_id\"",
            "sendMessage: unknown parameter \"bogus\"",
        ]
    );
    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": u, "text": "   "})).await,
        "Bad Request: message text is empty"
    );
    assert_eq!(
        err(
            &fake,
            "sendMessage",
            json!({"chat_id": u, "text": "x".repeat(4097)})
        )
        .await,
        "Bad Request: message is too long"
    );
    let e = err(
        &fake,
        "sendMessage",
        json!({"chat_id": u, "text": "Ops <Team>", "parse_mode": "HTML"}),
    )
    .await;
    assert!(
        e.starts_with("Bad Request: can't parse entities: Unsupported start tag \"team\""),
        "{e}"
    );
    let m = ok(
        &fake,
        "sendMessage",
        json!({"chat_id": u, "text": "Ops &lt;Team&gt; &amp; \"Friends\"", "parse_mode": "HTML"}),
    )
    .await;
    assert_eq!(m["text"], "Ops <Team> & \"Friends\"");
    let e = err(&fake, "sendMessage", json!({"chat_id": u, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "x".repeat(65)}]]}})).await;
    assert_eq!(e, "Bad Request: BUTTON_DATA_INVALID");
    let e = err(&fake, "sendMessage", json!({"chat_id": u, "text": "x", "reply_markup": {"inline_keyboard": [[{"text": "a", "url": "javascript:alert(1)"}]]}})).await;
    assert_eq!(e, "Bad Request: BUTTON_URL_INVALID");
    let e = err(
        &fake,
        "sendMessage",
        json!({"chat_id": u, "text": "x", "reply_parameters": {"message_id": 999}}),
    )
    .await;
    assert_eq!(e, "Bad Request: message to be replied not found");
    let e = err(&fake, "sendDice", json!({"chat_id": u})).await;
    assert_eq!(e, "Bad Request: method not supported by the fake");
}

#[tokio::test]
async fn who_the_bot_can_write_to() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    let g = fake.add_group("G");
    let sg = fake.add_supergroup("S", None);
    let public = fake.add_supergroup("P", Some("public_sg"));
    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": u, "text": "x"})).await,
        "Forbidden: bot can't initiate conversation with a user"
    );
    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": -5, "text": "x"})).await,
        "Bad Request: chat not found"
    );
    fake.set_bot_status(g, MemberStatus::Kicked);
    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": g, "text": "x"})).await,
        "Forbidden: bot was kicked from the group chat"
    );
    assert_eq!(
        err(&fake, "getChat", json!({"chat_id": g})).await,
        "Forbidden: bot was kicked from the group chat"
    );
    fake.set_bot_status(sg, MemberStatus::Left);
    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": sg, "text": "x"})).await,
        "Forbidden: bot is not a member of the supergroup chat"
    );
    assert_eq!(
        err(&fake, "getChat", json!({"chat_id": sg})).await,
        "Bad Request: chat not found"
    );
    assert_eq!(
        err(&fake, "getChatMember", json!({"chat_id": sg, "user_id": u})).await,
        "Forbidden: bot is not a member of the supergroup chat"
    );
    fake.set_bot_status(public, MemberStatus::Left);
    ok(&fake, "getChat", json!({"chat_id": "@Public_SG"})).await;
    assert_eq!(
        err(
            &fake,
            "getChatMember",
            json!({"chat_id": fake.add_group("G2"), "user_id": 42})
        )
        .await,
        "Bad Request: user not found"
    );
    fake.send_text(u, u, "hi");
    ok(&fake, "sendMessage", json!({"chat_id": u, "text": "x"})).await;
    fake.block_bot(u);
    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": u, "text": "x"})).await,
        "Forbidden: bot was blocked by the user"
    );
    assert_eq!(
        err(&fake, "getChatAdministrators", json!({"chat_id": u})).await,
        "Bad Request: there are no administrators in the private chat"
    );
}

#[tokio::test]
async fn long_polling_returns_promptly_and_offsets_confirm() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    let f2 = fake.clone();
    let poll = tokio::spawn(async move {
        let t = Instant::now();
        let r = ok(&f2, "getUpdates", json!({"timeout": 10})).await;
        (r, t.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.send_text(u, u, "/start");
    let (updates, took) = poll.await.unwrap();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let list = updates.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["message"]["text"], "/start");
    assert_eq!(list[0]["message"]["entities"][0]["type"], "bot_command");
    assert_eq!(fake.pending_updates(), 1);
    // not confirmed yet: same update again
    let again = ok(&fake, "getUpdates", json!({})).await;
    assert_eq!(again, updates);
    let id = list[0]["update_id"].as_i64().unwrap();
    fake.send_text(u, u, "two");
    fake.send_text(u, u, "three");
    let next = ok(&fake, "getUpdates", json!({"offset": id + 1, "limit": 1})).await;
    assert_eq!(next.as_array().unwrap().len(), 1);
    assert_eq!(next[0]["update_id"], id + 1);
    assert_eq!(fake.pending_updates(), 2);
    let t = Instant::now();
    let rest = ok(&fake, "getUpdates", json!({"offset": id + 3, "timeout": 1})).await;
    assert_eq!(rest, json!([]));
    assert!(t.elapsed() >= Duration::from_millis(900));
    assert_eq!(fake.pending_updates(), 0);
    assert!(fake.wait_updates_confirmed(Duration::from_millis(10)).await);
}

#[tokio::test]
async fn concurrent_get_updates_conflict() {
    let fake = FakeTelegram::start().await;
    let f2 = fake.clone();
    let first =
        tokio::spawn(async move { call_status(&f2, "getUpdates", json!({"timeout": 5})).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let f3 = fake.clone();
    let second =
        tokio::spawn(async move { call_status(&f3, "getUpdates", json!({"timeout": 1})).await });
    let (status, body) = first.await.unwrap();
    assert_eq!(status, 409);
    assert_eq!(
        body["description"],
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
    );
    let (status, _) = second.await.unwrap();
    assert_eq!(status, 200);
}

#[tokio::test]
async fn allowed_updates_filter() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    let sg = fake.add_supergroup("S", None);
    fake.set_bot_status(sg, MemberStatus::Administrator);
    let first = ok(&fake, "getUpdates", json!({})).await; // my_chat_member + service message
    let last = first.as_array().unwrap().last().unwrap()["update_id"]
        .as_i64()
        .unwrap();
    ok(&fake, "getUpdates", json!({"offset": last + 1})).await;
    // default: no chat_member
    fake.change_member(sg, u, MemberStatus::Member);
    assert_eq!(ok(&fake, "getUpdates", json!({})).await, json!([]));
    assert_eq!(fake.pending_updates(), 0);
    // remembered across calls
    ok(
        &fake,
        "getUpdates",
        json!({"allowed_updates": ["chat_member", "callback_query"]}),
    )
    .await;
    fake.change_member(sg, u, MemberStatus::Kicked);
    fake.send_text(u, u, "dropped");
    let got = ok(&fake, "getUpdates", json!({})).await;
    assert_eq!(got.as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got[0]["chat_member"]["new_chat_member"]["status"], "kicked");
    assert_eq!(got[0]["chat_member"]["old_chat_member"]["status"], "member");
    // bot not admin: no chat_member update queued at all
    let g = fake.add_group("G");
    fake.change_member(g, u, MemberStatus::Member);
    assert_eq!(fake.pending_updates(), 1);
}

#[tokio::test]
async fn privacy_mode() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    let g = fake.add_group("G");
    fake.send_text(u, g, "just chatting");
    fake.send_text(u, g, "/other@another_bot");
    assert_eq!(fake.pending_updates(), 0);
    fake.send_text(u, g, "/warn@castellan_test_bot x");
    fake.send_text(u, g, "/help");
    let bot_msg = ok(&fake, "sendMessage", json!({"chat_id": g, "text": "hello"})).await;
    fake.send_message(
        fake_bot_api::IncomingMessage::new(u, g, "a reply")
            .reply_to(bot_msg["message_id"].as_i64().unwrap() as i32),
    );
    assert_eq!(fake.pending_updates(), 3);
    fake.set_privacy_mode(false);
    fake.send_text(u, g, "now visible");
    assert_eq!(fake.pending_updates(), 4);
    assert_eq!(
        ok(&fake, "getMe", json!({})).await["can_read_all_group_messages"],
        true
    );
}

#[tokio::test]
async fn faults() {
    let fake = FakeTelegram::start().await;
    fake.fail_next("SendMessage", Fault::RetryAfter(3), 2);
    fake.fail_next("getMe", Fault::ServerError, 1);
    fake.fail_next(
        "getChat",
        Fault::Forbidden("bot was kicked from the group chat".into()),
        1,
    );
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "hi");
    for _ in 0..2 {
        let (status, body) =
            call_status(&fake, "sendMessage", json!({"chat_id": u, "text": "x"})).await;
        assert_eq!(status, 429);
        assert_eq!(
            body,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 3", "parameters": {"retry_after": 3}})
        );
    }
    ok(&fake, "sendMessage", json!({"chat_id": u, "text": "x"})).await;
    let (status, body) = call_status(&fake, "getMe", json!({})).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (500, Some("Internal Server Error"))
    );
    let (status, body) = call_status(&fake, "getChat", json!({"chat_id": u})).await;
    assert_eq!(
        (status, body["description"].as_str()),
        (403, Some("Forbidden: bot was kicked from the group chat"))
    );
    let r = fake.requests_for("sendMessage");
    assert_eq!(
        r.iter().map(|r| r.ok).collect::<Vec<_>>(),
        vec![false, false, true]
    );
}

#[tokio::test]
async fn callbacks_and_edits() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "/start");
    let kb = json!({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]});
    let m = ok(
        &fake,
        "sendMessage",
        json!({"chat_id": u, "text": "Pick", "reply_markup": kb}),
    )
    .await;
    let mid = m["message_id"].as_i64().unwrap() as i32;
    let sent = fake.next_message(u).await;
    assert_eq!((sent.message_id, sent.edited), (mid, false));
    let cb = fake.press_button(u, u, mid, "go");
    let ups = ok(&fake, "getUpdates", json!({})).await;
    let last = ups.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["callback_query"]["message"]["reply_markup"], kb);
    assert_eq!(last["callback_query"]["data"], "go");
    ok(
        &fake,
        "answerCallbackQuery",
        json!({"callback_query_id": cb, "text": "done"}),
    )
    .await;
    assert_eq!(fake.next_callback_answer(&cb).await["text"], "done");
    assert_eq!(
        err(
            &fake,
            "answerCallbackQuery",
            json!({"callback_query_id": cb})
        )
        .await,
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );
    // not modified
    let e = err(
        &fake,
        "editMessageText",
        json!({"chat_id": u, "message_id": mid, "text": "Pick", "reply_markup": kb}),
    )
    .await;
    assert!(e.starts_with("Bad Request: message is not modified: specified new message content and reply markup are exactly the same"), "{e}");
    let e = err(
        &fake,
        "editMessageReplyMarkup",
        json!({"chat_id": u, "message_id": mid, "reply_markup": kb}),
    )
    .await;
    assert!(e.starts_with("Bad Request: message is not modified"), "{e}");
    // editing the text without reply_markup drops the keyboard
    let edited = ok(
        &fake,
        "editMessageText",
        json!({"chat_id": u, "message_id": mid, "text": "Picked"}),
    )
    .await;
    assert!(edited.get("reply_markup").is_none());
    assert!(edited.get("edit_date").is_some());
    let e1 = fake.next_message(u).await;
    assert_eq!(
        (e1.text.as_str(), e1.edited, e1.reply_markup.is_none()),
        ("Picked", true, true)
    );
    fake.assert_no_message(u, Duration::from_millis(50)).await;
    assert_eq!(fake.messages(u).len(), 1);
    assert_eq!(fake.messages(u)[0].text, "Picked");
    assert_eq!(
        err(
            &fake,
            "editMessageText",
            json!({"chat_id": u, "message_id": 1, "text": "x"})
        )
        .await,
        "Bad Request: message can't be edited"
    );
    assert_eq!(
        err(
            &fake,
            "editMessageText",
            json!({"chat_id": u, "message_id": 77, "text": "x"})
        )
        .await,
        "Bad Request: message to edit not found"
    );
    ok(
        &fake,
        "deleteMessage",
        json!({"chat_id": u, "message_id": mid}),
    )
    .await;
    assert_eq!(
        err(
            &fake,
            "deleteMessage",
            json!({"chat_id": u, "message_id": mid})
        )
        .await,
        "Bad Request: message to delete not found"
    );
    assert!(fake.messages(u).is_empty());
    assert_eq!(fake.deleted_messages(u), vec![mid]);
}

#[tokio::test]
async fn commands() {
    let fake = FakeTelegram::start().await;
    ok(&fake, "setMyCommands", json!({"commands": [{"command": "help", "description": "Help"}, {"command": "ban", "description": "Ban"}]})).await;
    ok(&fake, "setMyCommands", json!({"commands": [{"command": "hilfe", "description": "Hilfe"}], "scope": {"type": "all_group_chats"}, "language_code": "de"})).await;
    assert_eq!(
        fake.my_commands("default", None),
        vec![("help".into(), "Help".into()), ("ban".into(), "Ban".into())]
    );
    assert_eq!(
        fake.my_commands("all_group_chats", Some("de")),
        vec![("hilfe".to_owned(), "Hilfe".to_owned())]
    );
    assert!(fake.my_commands("all_group_chats", None).is_empty());
    assert_eq!(
        err(
            &fake,
            "setMyCommands",
            json!({"commands": [{"command": "Bad-Cmd", "description": "x"}]})
        )
        .await,
        "Bad Request: BOT_COMMAND_INVALID"
    );
    let many: Vec<Value> = (0..101)
        .map(|i| json!({"command": format!("c{i}"), "description": "d"}))
        .collect();
    assert_eq!(
        err(&fake, "setMyCommands", json!({"commands": many})).await,
        "Bad Request: BOT_COMMANDS_TOO_MUCH"
    );
    let got = ok(
        &fake,
        "getMyCommands",
        json!({"scope": {"type": "all_group_chats"}, "language_code": "de"}),
    )
    .await;
    assert_eq!(got, json!([{"command": "hilfe", "description": "Hilfe"}]));
}

#[tokio::test]
async fn migration_and_moderation() {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Owner");
    let u = fake.add_user("Ann");
    let g = fake.add_group("G");
    fake.set_member(g, owner, MemberStatus::Creator);
    fake.set_member(g, u, MemberStatus::Member);
    fake.set_bot_status(g, MemberStatus::Administrator);
    let sg = fake.migrate_group(g);
    assert!(sg < -1_000_000_000_000);
    let (status, body) =
        call_status(&fake, "sendMessage", json!({"chat_id": g, "text": "x"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["parameters"]["migrate_to_chat_id"], sg);
    let ups = ok(&fake, "getUpdates", json!({})).await;
    let texts: Vec<String> = ups
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u.to_string())
        .collect();
    assert!(texts.iter().any(|t| t.contains("migrate_to_chat_id")));
    assert!(texts.iter().any(|t| t.contains("migrate_from_chat_id")));
    assert_eq!(fake.member_status(sg, u), MemberStatus::Member);
    assert_eq!(fake.member_status(sg, BOT_ID), MemberStatus::Administrator);
    ok(&fake, "banChatMember", json!({"chat_id": sg, "user_id": u})).await;
    assert_eq!(fake.member_status(sg, u), MemberStatus::Kicked);
    assert_eq!(
        err(
            &fake,
            "banChatMember",
            json!({"chat_id": sg, "user_id": owner})
        )
        .await,
        "Bad Request: can't remove chat owner"
    );
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": sg, "user_id": u, "only_if_banned": true}),
    )
    .await;
    assert_eq!(fake.member_status(sg, u), MemberStatus::Left);
    fake.set_member(sg, u, MemberStatus::Member);
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": u, "permissions": {"can_send_messages": false}}),
    )
    .await;
    assert_eq!(
        fake.member_status(sg, u),
        MemberStatus::Restricted { is_member: true }
    );
    let count = ok(&fake, "getChatMemberCount", json!({"chat_id": sg})).await;
    assert_eq!(count, 3);
}

#[tokio::test]
async fn teloxide_client_talks_to_the_fake() {
    use teloxide_core::prelude::*;
    use teloxide_core::types::{ChatId, ParseMode};
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "/start");
    let bot = Bot::new(BOT_TOKEN).set_api_url(reqwest::Url::parse(&fake.api_url()).unwrap());
    let me = bot.get_me().await.unwrap();
    assert_eq!(me.username(), "castellan_test_bot");
    let ups = bot.get_updates().await.unwrap();
    assert_eq!(ups.len(), 1);
    let msg = bot
        .send_message(ChatId(u), "<b>Hello</b> /help")
        .parse_mode(ParseMode::Html)
        .await
        .unwrap();
    assert_eq!(msg.text(), Some("Hello /help"));
    let err = bot
        .send_message(ChatId(u), "<team>")
        .parse_mode(ParseMode::Html)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("can't parse entities"), "{err}");
    let err = bot.send_message(ChatId(-42), "x").await.unwrap_err();
    assert!(
        matches!(
            err,
            teloxide_core::RequestError::Api(teloxide_core::ApiError::ChatNotFound)
        ),
        "{err:?}"
    );
    let info = bot.get_chat(ChatId(u)).await.unwrap();
    assert!(info.is_private());
    assert_no_violations(&fake);
}

#[tokio::test]
async fn thousands_of_updates() {
    let fake = FakeTelegram::start().await;
    let users: Vec<i64> = (0..50).map(|i| fake.add_user(&format!("U{i}"))).collect();
    let sg = fake.add_supergroup("Big", None);
    fake.set_bot_status(sg, MemberStatus::Administrator);
    let t = Instant::now();
    for i in 0..3000 {
        fake.send_text(users[i % users.len()], sg, &format!("message {i} #tag"));
    }
    let mut offset = 0i64;
    let mut got = 0;
    while got < 3001 {
        let ups = ok(&fake, "getUpdates", json!({"offset": offset, "timeout": 1})).await;
        let list = ups.as_array().unwrap();
        assert!(!list.is_empty());
        got += list.len();
        offset = list.last().unwrap()["update_id"].as_i64().unwrap() + 1;
    }
    ok(&fake, "getUpdates", json!({"offset": offset})).await;
    assert_eq!(fake.pending_updates(), 0);
    eprintln!("3000 updates in {:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(10));
}

/// A button press must be answered within 15 s of Telegram's clock (here
/// tokio's, paused), and once: later, or again, Telegram answers 400.
#[tokio::test(start_paused = true)]
async fn callback_queries_expire_after_15_seconds() {
    const EXPIRED: &str =
        "Bad Request: query is too old and response timeout expired or query ID is invalid";
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "/start");
    let kb = json!({"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]});
    let m = ok(
        &fake,
        "sendMessage",
        json!({"chat_id": u, "text": "Pick", "reply_markup": kb}),
    )
    .await;
    let mid = m["message_id"].as_i64().unwrap() as i32;
    let answer = |id: &str| json!({"callback_query_id": id, "text": "done"});

    // 14 s after the press: still in time.
    let in_time = fake.press_button(u, u, mid, "go");
    tokio::time::advance(Duration::from_secs(14)).await;
    assert_eq!(
        ok(&fake, "answerCallbackQuery", answer(&in_time)).await,
        json!(true)
    );
    // Answered twice: the second is refused like an expired one.
    assert_eq!(
        err(&fake, "answerCallbackQuery", answer(&in_time)).await,
        EXPIRED
    );

    // 16 s after the press: too late, nothing recorded as answered.
    let late = fake.press_button(u, u, mid, "go");
    tokio::time::advance(Duration::from_secs(16)).await;
    let (code, body) = call_status(&fake, "answerCallbackQuery", answer(&late)).await;
    assert_eq!(
        (code, body),
        (
            400,
            json!({"ok": false, "error_code": 400, "description": EXPIRED})
        )
    );
    // A late refusal does not make a later answer possible either.
    assert_eq!(
        err(&fake, "answerCallbackQuery", answer(&late)).await,
        EXPIRED
    );
    // An unknown id gets the same error.
    assert_eq!(
        err(&fake, "answerCallbackQuery", answer("12345")).await,
        EXPIRED
    );
    assert_no_violations(&fake);
}

/// Privacy mode: a general `/command` goes to the bot that last sent a
/// message to the group (or to the only bot there); a command addressed to
/// it, a reply to its message and a service message always reach it; other
/// bots' messages never do.
#[tokio::test]
async fn privacy_mode_gives_general_commands_to_the_last_bot_that_spoke() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    let g = fake.add_supergroup("G", None);
    let texts = |updates: Vec<Value>| -> Vec<String> {
        updates
            .iter()
            .map(|u| {
                u["message"]["text"]
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| "(service)".to_owned())
            })
            .collect()
    };

    // The only bot in the group gets general commands.
    fake.send_text(u, g, "/help");
    assert_eq!(texts(common::take_updates(&fake).await), ["/help"]);

    // Another bot joins and speaks last: general commands go to it.
    let other = fake.add_bot_user("Other", "other_bot");
    fake.set_member(g, other, MemberStatus::Member);
    fake.send_text(other, g, "I am here");
    fake.send_text(u, g, "/help");
    fake.send_text(u, g, "/help@other_bot");
    fake.send_text(u, g, "/rules@castellan_test_bot");
    fake.send_text(u, g, "just chatting");
    assert_eq!(
        texts(common::take_updates(&fake).await),
        ["/rules@castellan_test_bot"]
    );

    // This bot speaks: general commands and replies to it come back.
    let sent = ok(&fake, "sendMessage", json!({"chat_id": g, "text": "hello"})).await;
    let sent_id = sent["message_id"].as_i64().unwrap() as i32;
    fake.send_text(u, g, "/help");
    fake.send_message(fake_bot_api::IncomingMessage::new(u, g, "a reply").reply_to(sent_id));
    // The other bot speaks again: general commands are its own, but a
    // reply to this bot's message and service messages still come.
    fake.send_text(other, g, "/help");
    fake.send_text(u, g, "/start");
    fake.send_message(fake_bot_api::IncomingMessage::new(u, g, "/id").reply_to(sent_id));
    fake.join_chat(fake.add_user("Bea"), g);
    assert_eq!(
        texts(common::take_updates(&fake).await),
        ["/help", "a reply", "/id", "(service)"]
    );

    // Without privacy mode (or as an administrator) everything comes, but
    // still nothing from another bot.
    fake.set_privacy_mode(false);
    fake.send_text(u, g, "/start");
    fake.send_text(other, g, "hello humans");
    assert_eq!(texts(common::take_updates(&fake).await), ["/start"]);
    fake.set_privacy_mode(true);
    fake.set_bot_status(g, MemberStatus::Administrator);
    common::take_updates(&fake).await; // my_chat_member
    fake.send_text(u, g, "/start");
    assert_eq!(texts(common::take_updates(&fake).await), ["/start"]);
    assert_no_violations(&fake);
}

/// A bot on the fake: answers each private message "answer to <text>",
/// in order; but "quiet" it answers late, with "stray" just before its
/// answer to the next message (a bot that should have kept quiet).
fn start_echo_bot(fake: &FakeTelegram) -> tokio::task::JoinHandle<()> {
    let fake = fake.clone();
    tokio::spawn(async move {
        let mut offset = 0;
        let mut owed = false;
        loop {
            let got = ok(&fake, "getUpdates", json!({"offset": offset, "timeout": 1})).await;
            for update in got.as_array().cloned().unwrap_or_default() {
                offset = update["update_id"].as_i64().unwrap() + 1;
                let chat = update["message"]["chat"]["id"].clone();
                let text = update["message"]["text"].as_str().unwrap_or_default();
                if text == "quiet" {
                    owed = true;
                    continue;
                }
                if std::mem::take(&mut owed) {
                    ok(
                        &fake,
                        "sendMessage",
                        json!({"chat_id": chat, "text": "stray"}),
                    )
                    .await;
                }
                let reply = format!("answer to {text}");
                ok(
                    &fake,
                    "sendMessage",
                    json!({"chat_id": chat, "text": reply}),
                )
                .await;
            }
        }
    })
}

#[tokio::test]
async fn a_positive_exchange_returns_the_answer() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    let bot = start_echo_bot(&fake);
    let answer = fake
        .assert_next_is_answer_to(u, u, "/id", |m, asked| {
            m.text == "answer to /id" && asked > 0
        })
        .await;
    assert_eq!(answer.chat_id, u);
    bot.abort();
}

/// A late stray message comes before the answer to the next exchange in
/// the chat, and fails it.
#[tokio::test]
#[should_panic(expected = "is not its answer to \"/id\": \"stray\"")]
async fn a_late_stray_message_fails_the_next_exchange() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    let _bot = start_echo_bot(&fake);
    fake.send_text(u, u, "quiet");
    // Nothing yet: a short wait would have seen silence.
    fake.assert_no_message(u, Duration::from_millis(50)).await;
    fake.assert_next_is_answer_to(u, u, "/id", |m, _| m.text == "answer to /id")
        .await;
}

/// A predicate given to the waits may look at the fake itself.
#[tokio::test]
async fn wait_predicates_may_call_the_fake() {
    let fake = FakeTelegram::start().await;
    ok(&fake, "getMe", json!({})).await;
    ok(&fake, "getMe", json!({})).await;
    let found = fake
        .wait_for_request(
            "getMe",
            |_| fake.requests_for("getMe").len() >= 2,
            Duration::from_secs(1),
        )
        .await;
    assert!(found.is_some());
    let none = fake
        .wait_for_delivery(|_| fake.webhook_info().is_some(), Duration::ZERO)
        .await;
    assert!(none.is_none());
}
