//! Telegram misbehaves as the real one does: 429s, 5xx, dropped and refused
//! connections, permanent refusals, flood limits; users type faster than
//! people. castellan waits, retries what is safe, never sends twice, and
//! says what went wrong.

use std::time::Duration;

use castellan::telegram::{Telegram, TelegramError};
use fake_bot_api::{BOT_TOKEN, FakeTelegram, Fault, MemberStatus};
use teloxide::payloads::SendMessage;
use teloxide::types::ChatId;

use crate::app::{TestApp, spawn_unlimited};
use crate::db::{Backend, TestDb};
use crate::ops::behind_proxy;

/// `user` (called `name`) sends `/start`: the bot's very next message in
/// their private chat greets them, so nothing stray came before it.
async fn greeted(app: &TestApp, user: i64, name: &str) {
    app.tg
        .assert_next_is_answer_to(user, user, "/start", |answer, _| {
            answer.text.starts_with(&format!("Hi {name}"))
        })
        .await;
}

crate::backend_tests!(
    a_429_inside_a_handler_is_waited_out,
    reads_are_retried_through_server_errors,
    a_send_telegram_may_have_received_is_never_repeated,
    refusals_are_explained_or_kept_quiet,
    bursts_stay_under_telegram_limits,
    a_user_faster_than_a_person_is_slowed_down,
);

async fn a_429_inside_a_handler_is_waited_out(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    app.pm(owner, &format!("/connect {chat}")).await;

    // A check, a reply and a button answer each meet a 429 once.
    app.tg.fail_next("getChatMember", Fault::RetryAfter(1), 1);
    let reply = app.pm(owner, "/connection").await;
    assert_eq!(reply.text, "You are connected to Team as admin.");

    app.tg.fail_next("sendMessage", Fault::RetryAfter(1), 1);
    let reply = app.pm(owner, "/id").await;
    assert_eq!(reply.text, format!("Your id: {owner}"));
    // Sent once: the next message answers the next command.
    greeted(&app, owner, "Owner").await;

    let view = app.pm(owner, "/connection").await;
    app.tg
        .fail_next("answerCallbackQuery", Fault::RetryAfter(1), 1);
    let id = app
        .tg
        .press_button(owner, owner, view.message_id, "connbtns.User");
    app.tg.next_callback_answer(&id).await;
}

async fn reads_are_retried_through_server_errors(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    app.tg.fail_next("getChat", Fault::BadGateway, 1);
    app.tg.fail_next("getChatMember", Fault::ServerError, 1);
    app.tg.fail_next("getChatMember", Fault::DropConnection, 1);
    let reply = app.pm(owner, &format!("/connect {chat}")).await;
    assert!(
        reply
            .text
            .starts_with("You are now connected to Team as admin."),
        "{}",
        reply.text
    );
    assert!(
        !reply.text.contains("Telegram did not answer"),
        "{}",
        reply.text
    );
    assert_eq!(app.tg.requests_for("getChat").len(), 2);
}

async fn a_send_telegram_may_have_received_is_never_repeated(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let user = app.tg.add_user("Ann");
    let id_reply = format!("Your id: {user}");

    // Telegram got the message but the answer was lost: the user has it
    // once, then hears that something did not go through.
    app.tg
        .fail_next("sendMessage", Fault::DropAfterProcessing, 1);
    app.tg.send_text(user, user, "/id");
    assert_eq!(app.tg.next_message(user).await.text, id_reply);
    let notice = app.tg.next_message(user).await;
    assert!(
        notice.text.contains("Telegram did not answer"),
        "{}",
        notice.text
    );

    // A 5xx or a dropped connection: Telegram may have acted, so the send is
    // not repeated either; the user is told to try again.
    for fault in [Fault::ServerError, Fault::DropConnection] {
        let before = app.tg.requests_for("sendMessage").len();
        app.tg.fail_next("sendMessage", fault.clone(), 1);
        app.tg.send_text(user, user, "/id");
        let notice = app.tg.next_message(user).await;
        assert!(
            notice.text.contains("Telegram did not answer"),
            "{fault:?}: {}",
            notice.text
        );
        assert_eq!(
            app.tg.requests_for("sendMessage").len(),
            before + 2,
            "{fault:?}: the failed send and the notice, nothing repeated"
        );
    }
    // Nothing else was sent: the next message answers the next command.
    greeted(&app, user, "Ann").await;
    let sent: Vec<_> = app
        .tg
        .messages(user)
        .into_iter()
        .filter(|m| m.text == id_reply)
        .collect();
    assert_eq!(sent.len(), 1, "nobody gets a message twice");
}

async fn refusals_are_explained_or_kept_quiet(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");

    app.tg.fail_next(
        "getChatAdministrators",
        Fault::Forbidden("bot is not a member of the supergroup chat".into()),
        1,
    );
    let reply = app.say(owner, chat, "/allowconnect").await;
    assert!(
        reply.text.starts_with("I am not a member of that chat"),
        "{}",
        reply.text
    );
    app.tg.fail_next(
        "getChatAdministrators",
        Fault::BadRequest("chat not found".into()),
        1,
    );
    let reply = app.say(owner, chat, "/allowconnect").await;
    assert!(
        reply
            .text
            .starts_with("Telegram says that chat does not exist"),
        "{}",
        reply.text
    );

    // The user blocked the bot: nothing more is sent to them.
    let user = app.tg.add_user("Bea");
    let sends_to_user = || {
        app.tg
            .requests_for("sendMessage")
            .into_iter()
            .filter(|request| request.params["chat_id"] == user)
            .count()
    };
    app.tg.fail_next(
        "sendMessage",
        Fault::Forbidden("bot was blocked by the user".into()),
        1,
    );
    app.tg.send_text(user, user, "/id");
    let refused = app
        .tg
        .wait_for_request(
            "sendMessage",
            |request| request.params["chat_id"] == user,
            Duration::from_secs(5),
        )
        .await;
    assert!(refused.is_some_and(|request| !request.ok));
    // Nothing was tried again: when Bea writes again, the answer is the
    // first message she gets, and the second send tried.
    greeted(&app, user, "Bea").await;
    assert_eq!(sends_to_user(), 2);
}

async fn bursts_stay_under_telegram_limits(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, &[("SEND_LIMITS", "on")]).await else {
        return;
    };
    app.tg.enforce_flood_limits(true);
    // One user types five commands at once; forty users write at once.
    let fast = app.tg.add_user("Fast");
    for _ in 0..5 {
        app.tg.send_text(fast, fast, "/id");
    }
    let crowd: Vec<i64> = (0..40).map(|i| app.tg.add_user(&format!("U{i}"))).collect();
    for user in &crowd {
        app.tg.send_text(*user, *user, "/id");
    }
    // A busy group.
    let (group, _) = app.group_with_owner("Busy");
    let members: Vec<i64> = (0..4)
        .map(|i| app.user_in(group, &format!("M{i}"), MemberStatus::Member))
        .collect();
    for member in &members {
        app.tg.send_text(*member, group, "/id");
    }

    // Their identical replies wait in the chat's queue as one: the first
    // goes at once, the rest are merged into the next.
    let mut answers = 0;
    loop {
        let reply = app.tg.next_message(fast).await.text;
        if reply.starts_with("Hi Fast") {
            break;
        }
        assert_eq!(reply, format!("Your id: {fast}"));
        answers += 1;
        if answers == 1 {
            app.tg.send_text(fast, fast, "/start");
        }
    }
    assert!((1..=2).contains(&answers), "{answers} answers to five /id");
    for user in &crowd {
        assert_eq!(
            app.tg.next_message(*user).await.text,
            format!("Your id: {user}")
        );
    }
    for _ in &members {
        app.tg.next_message(group).await;
    }
    let violations = app.tg.flood_violations();
    assert!(violations.is_empty(), "Telegram refused {violations:#?}");
}

async fn a_user_faster_than_a_person_is_slowed_down(backend: Backend) {
    // A dozen replies at once in one chat, faster than Telegram lets a bot
    // answer: no send limits on either side, this is about users' pace.
    let Some(app) =
        TestApp::spawn_with(backend, &[("USER_PACE", "on"), ("SEND_LIMITS", "off")]).await
    else {
        return;
    };
    app.tg.enforce_flood_limits(false);
    let (chat, owner) = app.group_with_owner("Team");
    for _ in 0..20 {
        app.tg.send_text(owner, owner, &format!("/connect {chat}"));
    }
    // The owner is served again once the budget refills: the answer to a
    // later /id comes after every reply to the twenty (one chat's updates
    // and messages go in order). An /id sent before that is ignored like
    // the rest, and asked again.
    let id_reply = format!("Your id: {owner}");
    let (mut connected, mut told, mut asked) = (0u32, 0u32, 0);
    'served: loop {
        asked += 1;
        assert!(asked <= 20, "never served again");
        app.tg.send_text(owner, owner, "/id");
        while let Some(reply) = app
            .tg
            .try_next_message(owner, castellan::pace::REFILL)
            .await
        {
            if reply.text == id_reply {
                break 'served;
            } else if reply.text.contains("faster than I can serve") {
                told += 1;
            } else {
                connected += 1;
            }
        }
    }
    // The burst is served, then one notice, then silence: the rest costs
    // Telegram nothing. Only a command served on what refilled meanwhile
    // (a slow machine) may earn another notice.
    assert!(
        connected >= castellan::pace::BURST,
        "served only {connected}"
    );
    assert!(
        (1..=1 + connected - castellan::pace::BURST).contains(&told),
        "{told} notices for {connected} served"
    );
    assert!(connected + told < 20, "served {connected}: none ignored");
    let checks = app.tg.requests_for("getChat").len();
    assert!(
        checks <= connected as usize,
        "{checks} getChat for {connected} served"
    );
}

/// Telegram unreachable (connections refused): Telegram cannot have the
/// message, so the send is tried again, and arrives once.
#[tokio::test]
async fn a_send_that_never_reached_telegram_is_retried() {
    let fake = FakeTelegram::start().await;
    let user = fake.add_user("Ann");
    // Ann has written to the bot, so it may write to her.
    fake.send_text(user, user, "hi");
    let api_url = url::Url::parse(&fake.api_url()).unwrap_or_else(|e| panic!("{e}"));
    let tg = Telegram::builder(&api_url, BOT_TOKEN)
        .send_limits(None)
        .build();
    fake.go_offline().await;
    let online = {
        let fake = fake.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(700)).await;
            fake.go_online().await;
        })
    };
    let sent = tg.call(SendMessage::new(ChatId(user), "hello")).await;
    assert!(sent.is_ok(), "{sent:?}");
    let _ = online.await;
    assert_eq!(fake.messages(user).len(), 1);

    // Unreachable for longer than the retries: the caller hears it.
    fake.go_offline().await;
    let sent = tg.call(SendMessage::new(ChatId(user), "again")).await;
    assert!(
        matches!(sent, Err(TelegramError::Unavailable { .. })),
        "{sent:?}"
    );
    fake.go_online().await;
    assert_eq!(fake.messages(user).len(), 1);
}

/// PostgreSQL goes away mid-run: commands are answered quickly with what
/// is wrong, the bot stays up, and work resumes when the server is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_is_answered_quickly_and_survived() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (db, proxy) = behind_proxy(db).await;
    let app = TestApp::spawn_on(db).await;
    let (chat, owner) = app.group_with_owner("Team");
    app.say(owner, chat, "/save x hello").await;

    proxy.cut().await;
    app.tg.send_text(owner, chat, "/get x");
    let reply = app
        .tg
        .try_next_message(chat, Duration::from_secs(3))
        .await
        .unwrap_or_else(|| panic!("no answer within 3 s while the database is away"));
    assert!(
        reply.text.contains("storage is unavailable"),
        "{}",
        reply.text
    );

    proxy.restore().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let reply = app.say(owner, chat, "/get x").await;
        if reply.text == "hello" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "work did not resume: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
