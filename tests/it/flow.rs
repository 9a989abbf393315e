//! Flow control: a raided group holds up nobody, a stop is quick and loses
//! nothing, and a redelivered update acts once.

use std::net::SocketAddr;
use std::time::Duration;

use fake_bot_api::{Fault, MemberStatus};
use serde_json::Value;

use crate::app::{TestApp, free_local_addr};
use crate::db::Backend;

crate::backend_tests!(
    a_raided_group_holds_up_nobody,
    identical_replies_in_a_raid_are_sent_once,
    replies_slow_down_when_telegram_says_so,
    a_stop_cuts_off_what_runs_and_the_restart_handles_it_once,
    a_webhook_update_delivered_again_acts_once,
    a_webhook_post_is_answered_while_its_chat_is_backlogged,
    a_webhook_post_cut_off_by_the_stop_is_answered_503,
);

const SECRET: &str = "flow-s3cret";

/// Telegram's per-chat limits kept by castellan, and enforced by the fake.
const LIMITS_ON: (&str, &str) = ("SEND_LIMITS", "on");

async fn metrics(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("metrics: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("metrics: {e}"))
}

/// The value of one series in Prometheus text, 0 when absent.
fn series(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A group with `count` members who each send `/id` at once.
fn raid(app: &TestApp, title: &str, count: usize) -> i64 {
    let (group, _owner) = app.group_with_owner(title);
    let members: Vec<i64> = (0..count)
        .map(|i| app.user_in(group, &format!("Raider {i}"), MemberStatus::Member))
        .collect();
    for member in &members {
        app.tg.send_text(*member, group, "/id");
    }
    group
}

/// A bot keeping Telegram's limits, which the fake enforces, with its
/// metrics served at the address returned.
async fn limited_app(backend: Backend) -> Option<(TestApp, SocketAddr)> {
    let addr = free_local_addr();
    let app = TestApp::spawn_with(backend, &[LIMITS_ON, ("HTTP_ADDR", &addr.to_string())]).await?;
    app.tg.enforce_flood_limits(true);
    Some((app, addr))
}

async fn a_raided_group_holds_up_nobody(backend: Backend) {
    let Some((app, addr)) = limited_app(backend).await else {
        return;
    };
    let raided = raid(&app, "Raided", 120);
    // The raid's first reply is out: the raid is being served.
    app.tg.next_message(raided).await;

    // Others are answered while the raided group's replies still wait for
    // their turn (20 a minute).
    for i in 0..3 {
        let user = app.tg.add_user(&format!("Bystander {i}"));
        assert_eq!(app.pm(user, "/id").await.text, format!("Your id: {user}"));
    }
    let (other, owner) = app.group_with_owner("Quiet");
    let reply = app.say(owner, other, "/id").await;
    assert!(reply.text.contains(&other.to_string()), "{}", reply.text);
    let sent_to_raided = app.tg.messages(raided).len();
    assert!(
        sent_to_raided <= 20,
        "{sent_to_raided} messages to one group within a minute"
    );
    assert!(
        app.tg.flood_violations().is_empty(),
        "{:#?}",
        app.tg.flood_violations()
    );
    // What could not wait in the group's queue was dropped and counted. The
    // raid's last updates may come in after the bystanders' (getUpdates
    // hands over 100 at a time): wait for the count rather than read once.
    let (full, text) = metric_reaching(
        addr,
        "castellan_replies_dropped_total{reason=\"queue_full\"}",
        80.0,
    )
    .await;
    assert!(full >= 80.0, "{full} dropped:\n{text}");
}

/// Reads a series until it reaches `at_least`, for up to ten seconds; its
/// last value and the metrics text it was read from.
async fn metric_reaching(addr: SocketAddr, name: &str, at_least: f64) -> (f64, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = metrics(addr).await;
        let value = series(&text, name);
        if value >= at_least || tokio::time::Instant::now() >= deadline {
            return (value, text);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn identical_replies_in_a_raid_are_sent_once(backend: Backend) {
    let Some((app, addr)) = limited_app(backend).await else {
        return;
    };
    let (group, owner) = app.group_with_owner("Team");
    let set = app.say(owner, group, "/setrules Be kind.").await;
    assert!(set.text.contains("rules"), "{}", set.text);
    let members: Vec<i64> = (0..50)
        .map(|i| app.user_in(group, &format!("Member {i}"), MemberStatus::Member))
        .collect();
    for member in &members {
        app.tg.send_text(*member, group, "/rules");
    }
    // The owner's own question comes after the fifty, and is answered.
    app.tg.send_text(owner, group, "/id");
    let mut rules = 0;
    loop {
        let reply = app.tg.next_message(group).await;
        if reply.text.contains("This chat's id") {
            break;
        }
        assert!(reply.text.contains("Be kind."), "{}", reply.text);
        rules += 1;
    }
    assert!(
        (1..=2).contains(&rules),
        "{rules} rules messages for fifty /rules"
    );
    let merged = series(
        &metrics(addr).await,
        "castellan_replies_dropped_total{reason=\"merged\"}",
    );
    assert!(merged >= 48.0, "{merged} merged");
    assert!(app.tg.flood_violations().is_empty());
}

async fn replies_slow_down_when_telegram_says_so(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, &[LIMITS_ON]).await else {
        return;
    };
    // Telegram objects to more than ten messages a second, whatever the chat.
    app.tg.enforce_overall_limit(Some(10));
    let wave = |count: usize, name: &str| -> Vec<i64> {
        let users: Vec<i64> = (0..count)
            .map(|i| app.tg.add_user(&format!("{name} {i}")))
            .collect();
        for user in &users {
            app.tg.send_text(*user, *user, "/id");
        }
        users
    };
    // Each reply of a wave arrives; slowed down to a few a second, a whole
    // wave may take longer than one reply's usual wait (and longer still on
    // a busy machine), so each gets the time the wave needs.
    let tg = &app.tg;
    let answered = |user: i64| async move {
        let reply = tg
            .try_next_message(user, Duration::from_secs(60))
            .await
            .unwrap_or_else(|| panic!("no reply to {user} within a minute"));
        assert_eq!(reply.text, format!("Your id: {user}"));
    };
    // The first burst meets the limit; every reply still arrives.
    for user in wave(30, "First") {
        answered(user).await;
    }
    let learned = app.tg.overall_limit_refusals().len();
    assert!(learned >= 1, "the fake's limit was never met");
    // The next keeps (mostly) to what Telegram taught.
    for user in wave(40, "Second") {
        answered(user).await;
    }
    let again = app.tg.overall_limit_refusals().len() - learned;
    assert!(
        again < 10,
        "{again} refusals for 40 replies: castellan did not slow down"
    );
    assert!(app.tg.flood_violations().is_empty());
}

async fn a_stop_cuts_off_what_runs_and_the_restart_handles_it_once(backend: Backend) {
    let Some(mut app) = TestApp::spawn_with(backend, &[LIMITS_ON, ("SHUTDOWN_GRACE", "2s")]).await
    else {
        return;
    };
    app.tg.enforce_flood_limits(true);
    let (group, owner) = app.group_with_owner("Team");
    let done = app.pm(owner, "/id").await;
    assert_eq!(done.text, format!("Your id: {owner}"));
    // A backlog in a group, and a /connect whose check Telegram never
    // answers.
    raid(&app, "Raided", 40);
    app.tg.fail_next("getChat", Fault::Hang, 1);
    app.tg.send_text(owner, owner, &format!("/connect {group}"));
    let hung = app
        .tg
        .wait_for_request("getChat", |_| true, Duration::from_secs(10))
        .await;
    assert!(hung.is_some(), "the /connect never asked about the group");

    let started = tokio::time::Instant::now();
    app.stop().await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "the stop took {took:?}");

    // The cut-off /connect comes again and is handled, once; the /id
    // handled before the stop is not.
    app.restart().await;
    let reply = app.tg.next_message(owner).await;
    assert!(
        reply.text.starts_with("You are now connected to"),
        "{}",
        reply.text
    );
    let again = app.pm(owner, "/connection").await;
    assert!(
        again.text.starts_with("You are connected"),
        "{}",
        again.text
    );
    let connected = app
        .tg
        .messages(owner)
        .iter()
        .filter(|m| m.text.starts_with("You are now connected"))
        .count();
    let ids = app
        .tg
        .messages(owner)
        .iter()
        .filter(|m| m.text.starts_with("Your id"))
        .count();
    assert_eq!((connected, ids), (1, 1));
}

/// A message update as Telegram posts it.
fn message_update(update_id: i64, chat: i64, user: i64, text: &str) -> Value {
    let chat = if chat == user {
        serde_json::json!({"id": user, "type": "private", "first_name": "Ann"})
    } else {
        serde_json::json!({"id": chat, "type": "supergroup", "title": "Team"})
    };
    serde_json::json!({
        "update_id": update_id,
        "message": {
            "message_id": update_id, "date": 1_700_000_000,
            "chat": chat,
            "from": {"id": user, "is_bot": false, "first_name": "Ann"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": text.len()}]
        }
    })
}

async fn post(url: &str, update: &Value) -> reqwest::StatusCode {
    reqwest::Client::new()
        .post(url)
        .header("x-telegram-bot-api-secret-token", SECRET)
        .timeout(Duration::from_secs(5))
        .json(update)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the post was not answered within 5 s: {e}"))
        .status()
}

fn webhook_settings(addr: SocketAddr, url: &str) -> Vec<(String, String)> {
    vec![
        ("HTTP_ADDR".to_owned(), addr.to_string()),
        ("WEBHOOK_URL".to_owned(), url.to_owned()),
        ("WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
        ("WEBHOOK_MAX_CONNECTIONS".to_owned(), "7".to_owned()),
    ]
}

fn borrowed(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

async fn a_webhook_update_delivered_again_acts_once(backend: Backend) {
    let addr = free_local_addr();
    let url = format!("http://{addr}/hook");
    let settings = webhook_settings(addr, &url);
    let Some(app) = TestApp::spawn_with(backend, &borrowed(&settings)).await else {
        return;
    };
    let info = app
        .tg
        .webhook_info()
        .unwrap_or_else(|| panic!("no webhook"));
    assert_eq!(info.max_connections, 7);
    let user = app.tg.add_user("Ann");
    assert_eq!(app.pm(user, "/id").await.text, format!("Your id: {user}"));
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;

    // Telegram sends it again (a timeout on its side, say): answered 200,
    // nothing done.
    let update_id = app
        .tg
        .last_update_id()
        .unwrap_or_else(|| panic!("no update"));
    app.tg.redeliver(update_id);
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    let deliveries = app.tg.webhook_deliveries();
    let last = deliveries.last().unwrap_or_else(|| panic!("no delivery"));
    assert!(last.delivered(), "{last:?}");
    // The next exchange is the next answer: nothing came in between.
    assert_eq!(
        app.pm(user, "/start")
            .await
            .text
            .lines()
            .next()
            .map(|l| l.starts_with("Hi")),
        Some(true)
    );
    assert_eq!(app.tg.messages(user).len(), 2);

    // Posted twice at once, as to two replicas: one reply.
    let update = message_update(900_001, user, user, "/id");
    let (first, second) = tokio::join!(post(&url, &update), post(&url, &update));
    let statuses = [first.as_u16(), second.as_u16()];
    assert!(statuses.contains(&200), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 503),
        "{statuses:?}"
    );
    assert_eq!(
        app.tg.next_message(user).await.text,
        format!("Your id: {user}")
    );
    assert_eq!(post(&url, &update).await.as_u16(), 200, "handled: taken");
    assert_eq!(
        app.pm(user, "/connection").await.text,
        "You are not connected to any group. Send /connect to connect."
    );
    assert_eq!(app.tg.messages(user).len(), 4);
}

/// Two replicas on one PostgreSQL, each posted the same update at once:
/// it acts once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_posted_to_two_replicas_at_once_acts_once() {
    let (a, b) = (free_local_addr(), free_local_addr());
    let url_a = format!("http://{a}/hook");
    let url_b = format!("http://{b}/hook");
    let settings_a = webhook_settings(a, &url_a);
    let Some(app) = TestApp::spawn_with(Backend::Postgres, &borrowed(&settings_a)).await else {
        return;
    };
    let settings_b = webhook_settings(b, &url_a);
    let _second = app.spawn_replica(&borrowed(&settings_b)).await;
    let user = app.tg.add_user("Ann");
    assert_eq!(app.pm(user, "/id").await.text, format!("Your id: {user}"));
    for n in 0..5 {
        let update = message_update(910_000 + n, user, user, "/id");
        let (first, second) = tokio::join!(post(&url_a, &update), post(&url_b, &update));
        let statuses = [first.as_u16(), second.as_u16()];
        assert!(statuses.contains(&200), "{statuses:?}");
        assert_eq!(
            app.tg.next_message(user).await.text,
            format!("Your id: {user}")
        );
        // Telegram's retry of a 503 is answered 200 and does nothing.
        assert_eq!(post(&url_b, &update).await.as_u16(), 200);
    }
    assert_eq!(
        app.pm(user, "/connection").await.text,
        "You are not connected to any group. Send /connect to connect."
    );
    assert_eq!(app.tg.messages(user).len(), 7);
}

async fn a_webhook_post_is_answered_while_its_chat_is_backlogged(backend: Backend) {
    let addr = free_local_addr();
    let url = format!("http://{addr}/hook");
    let mut settings = webhook_settings(addr, &url);
    settings.push((LIMITS_ON.0.to_owned(), LIMITS_ON.1.to_owned()));
    let Some(app) = TestApp::spawn_with(backend, &borrowed(&settings)).await else {
        return;
    };
    app.tg.enforce_flood_limits(true);
    let raided = raid(&app, "Raided", 30);
    app.tg.next_message(raided).await;
    app.tg.wait_webhook_idle(Duration::from_secs(10)).await;
    // The group's queue holds a minute of sends: a post for it is answered
    // all the same, without waiting for its reply's turn.
    let member = app.user_in(raided, "Late", MemberStatus::Member);
    let update = message_update(920_001, raided, member, "/id");
    assert_eq!(post(&url, &update).await.as_u16(), 200);
    assert!(app.tg.flood_violations().is_empty());
}

async fn a_webhook_post_cut_off_by_the_stop_is_answered_503(backend: Backend) {
    let addr = free_local_addr();
    let url = format!("http://{addr}/hook");
    let mut settings = webhook_settings(addr, &url);
    settings.push(("SHUTDOWN_GRACE".to_owned(), "2s".to_owned()));
    let Some(mut app) = TestApp::spawn_with(backend, &borrowed(&settings)).await else {
        return;
    };
    let (group, owner) = app.group_with_owner("Team");
    // The owner has written to the bot: it may answer them.
    assert!(app.pm(owner, "/id").await.text.starts_with("Your id"));
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    // A /connect whose check Telegram never answers, posted as Telegram
    // would; the stop comes while it runs.
    app.tg.fail_next("getChat", Fault::Hang, 1);
    let update = message_update(930_001, owner, owner, &format!("/connect {group}"));
    let posted = {
        let (url, update) = (url.clone(), update.clone());
        tokio::spawn(async move { post(&url, &update).await })
    };
    let hung = app
        .tg
        .wait_for_request("getChat", |_| true, Duration::from_secs(10))
        .await;
    assert!(hung.is_some(), "the /connect never asked about the group");
    app.stop().await;
    let status = posted.await.unwrap_or_else(|e| panic!("post: {e}"));
    assert_eq!(status.as_u16(), 503, "Telegram must send it again");

    // Sent again to the next castellan: handled, once.
    app.restart().await;
    assert_eq!(post(&url, &update).await.as_u16(), 200);
    let reply = app.tg.next_message(owner).await;
    assert!(
        reply.text.starts_with("You are now connected"),
        "{}",
        reply.text
    );
    assert_eq!(post(&url, &update).await.as_u16(), 200);
    let again = app.pm(owner, "/connection").await;
    assert!(
        again.text.starts_with("You are connected"),
        "{}",
        again.text
    );
}
