//! Who pays for whose commands, and failed work redone.

use fake_bot_api::{BusinessRights, IncomingMessage, MemberStatus};

use crate::app::TestApp;
use crate::db::{Backend, TestDb};
use crate::ops::behind_proxy;
use crate::proxy::TcpProxy;

crate::backend_tests!(
    anonymous_admins_of_one_group_never_slow_another,
    a_customer_flooding_hashtags_gets_a_handful,
    a_demoted_bot_stops_trusting_its_admin_cache,
    polling_survives_get_updates_failures,
    a_send_answered_with_migrate_follows_the_supergroup,
    a_note_from_a_caption_keeps_its_text_mention,
);

const SLOW_DOWN: &str = "faster than I can serve";

async fn anonymous_admins_of_one_group_never_slow_another(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, &[("USER_PACE", "on")]).await else {
        return;
    };
    let (busy, busy_owner) = app.group_with_owner("Busy");
    let (quiet, quiet_owner) = app.group_with_owner("Quiet");
    // Telegram sends every anonymous admin as GroupAnonymousBot.
    for _ in 0..15 {
        app.tg
            .send_message(IncomingMessage::new(busy_owner, busy, "/id").anonymous_admin());
    }
    // (Identical answers waiting for the group are sent once.)
    let mut slowed = false;
    while let Some(reply) = app
        .tg
        .try_next_message(busy, std::time::Duration::from_secs(3))
        .await
    {
        slowed |= reply.text.contains(SLOW_DOWN);
    }
    assert!(slowed, "fifteen commands at once were all served");
    // Another group's anonymous admin has a budget of its own.
    app.tg
        .send_message(IncomingMessage::new(quiet_owner, quiet, "/id").anonymous_admin());
    let reply = app.tg.next_message(quiet).await;
    assert!(!reply.text.contains(SLOW_DOWN), "{}", reply.text);
    assert!(reply.text.contains(&quiet.to_string()), "{}", reply.text);
}

async fn a_customer_flooding_hashtags_gets_a_handful(backend: Backend) {
    let Some(app) = TestApp::spawn_with(backend, &[("USER_PACE", "on")]).await else {
        return;
    };
    let owner = app.tg.add_user("Olga");
    let id = app
        .tg
        .connect_business(owner, Some(BusinessRights::reply()));
    app.tg.next_message(owner).await;
    let saved = app.pm(owner, "/connect business").await;
    assert!(saved.text.contains("business"), "{}", saved.text);
    let saved = app.pm(owner, "/save hours Open 9-5").await;
    assert!(saved.text.contains("hours"), "{}", saved.text);
    let flooder = app.tg.add_user("Flooder");
    let calm = app.tg.add_user("Calm");
    let before = app.tg.request_count();
    for _ in 0..30 {
        app.tg.business_message(&id, flooder, "#hours");
    }
    // Another customer of the same business is answered all the same.
    app.tg.business_message(&id, calm, "#hours");
    let answer = app.tg.next_business_message(owner, calm).await;
    assert_eq!(answer.text, "Open 9-5");
    // Plain messages cost nothing: no request, no answer.
    for _ in 0..5 {
        app.tg.business_message(&id, calm, "just chatting");
    }
    app.tg.business_message(&id, calm, "#hours");
    assert_eq!(
        app.tg.next_business_message(owner, calm).await.text,
        "Open 9-5"
    );
    let answers = app
        .tg
        .requests_since(before)
        .into_iter()
        .filter(|r| r.method == "sendMessage" && r.params["chat_id"].as_i64() == Some(flooder))
        .count();
    assert!(
        (1..=3).contains(&answers),
        "{answers} answers to thirty #hours"
    );
}

/// A command that fails because PostgreSQL is away is told once, then done
/// again when it is back: the user gets their answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_failed_on_an_outage_is_done_again() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (db, proxy) = behind_proxy(db).await;
    let app = TestApp::spawn_on(db).await;
    let (group, _owner) = app.group_with_owner("Team");
    let member = app.user_in(group, "Ann", MemberStatus::Member);
    assert!(app.pm(member, "/id").await.text.starts_with("Your id"));

    connect_through_an_outage(&app, &proxy, member, group, || async {}).await;
}

/// `member` sends `/connect` while PostgreSQL is cut off and is told once;
/// `meanwhile` runs before it is restored; then the same `/connect` is done
/// without another word, and the connection holds.
async fn connect_through_an_outage<F, Fut>(
    app: &TestApp,
    proxy: &TcpProxy,
    member: i64,
    group: i64,
    meanwhile: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    proxy.cut().await;
    app.tg
        .send_text(member, member, &format!("/connect {group}"));
    let told = app.tg.next_message(member).await;
    assert!(
        told.text.contains("storage is unavailable"),
        "{}",
        told.text
    );
    meanwhile().await;
    proxy.restore().await;
    // Done again, not told again.
    let done = app.tg.next_message(member).await;
    assert!(
        done.text.starts_with("You are now connected to"),
        "{}",
        done.text
    );
    let again = app.pm(member, "/connection").await;
    assert!(
        again.text.starts_with("You are connected"),
        "{}",
        again.text
    );
}

/// Business connections nobody knew, fetched while Telegram is slow, hold
/// no database connection: the pool stays free for everyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_business_fetches_leave_the_pool_free() {
    let Some(app) = TestApp::spawn_with(Backend::Postgres, &[("DATABASE_POOL_SIZE", "4")]).await
    else {
        return;
    };
    let ids: Vec<String> = (0..4)
        .map(|i| {
            let owner = app.tg.add_user(&format!("Owner {i}"));
            app.tg
                .connect_business_silently(owner, Some(BusinessRights::reply()))
        })
        .collect();
    app.tg.fail_next(
        "getBusinessConnection",
        fake_bot_api::Fault::Stall(std::time::Duration::from_secs(6)),
        4,
    );
    for id in &ids {
        for c in 0..3 {
            let customer = app.tg.add_user(&format!("Customer {c}"));
            app.tg.business_message(id, customer, "#hours");
        }
    }
    // While the fetches wait on Telegram (they are under way within a
    // second), a command that reads the database is answered as usual.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let user = app.tg.add_user("Ann");
    let reply = app.pm(user, "/connection").await;
    assert_eq!(
        reply.text,
        "You are not connected to any group. Send /connect to connect."
    );
    // One fetch per id, not one per message; every message then answered
    // (with no note: nothing is sent).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while app.tg.requests_for("getBusinessConnection").len() < 4 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fetches never ended"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(app.pm(user, "/id").await.text.starts_with("Your id"));
    assert_eq!(app.tg.requests_for("getBusinessConnection").len(), 4);
}

/// In webhook mode, an update that failed on an outage is answered 5xx, so
/// Telegram sends it again; once PostgreSQL is back it is done, and its user
/// was told once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_update_failed_on_an_outage_is_sent_again_and_done() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (db, proxy) = behind_proxy(db).await;
    let addr = crate::app::free_local_addr();
    let url = format!("http://{addr}/hook");
    let app = TestApp::spawn_on_with(
        db,
        &[
            ("HTTP_ADDR", &addr.to_string()),
            ("WEBHOOK_URL", &url),
            ("WEBHOOK_SECRET", "outage-s3cret"),
        ],
    )
    .await;
    app.tg
        .set_webhook_retry_delay(std::time::Duration::from_millis(500));
    let (group, _owner) = app.group_with_owner("Team");
    let member = app.user_in(group, "Ann", MemberStatus::Member);
    assert!(app.pm(member, "/id").await.text.starts_with("Your id"));
    app.tg
        .wait_webhook_idle(std::time::Duration::from_secs(5))
        .await;

    // Telegram is answered 5xx before the database comes back.
    let update_id = || app.tg.last_update_id().unwrap_or_default();
    connect_through_an_outage(&app, &proxy, member, group, || async {
        let update_id = update_id();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !app
            .tg
            .webhook_deliveries()
            .iter()
            .any(|d| d.update_id == update_id && d.status.is_some_and(|s| s >= 500))
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "never answered 5xx: {:?}",
                app.tg.webhook_deliveries()
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
}

/// A bot demoted from admin gets no more chat_member updates: its cached
/// admin list is dropped, and every admin command asks Telegram again.
async fn a_demoted_bot_stops_trusting_its_admin_cache(backend: Backend) {
    let Some(app) = crate::app::spawn_unlimited(backend).await else {
        return;
    };
    let (chat, _owner) = app.group_with_owner("Team");
    app.tg.set_bot_status(chat, MemberStatus::Administrator);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let asked = || app.tg.requests_for("getChatAdministrators").len();
    let before = asked();
    for _ in 0..2 {
        let reply = app.say(ada, chat, "/allowconnect").await;
        assert!(reply.text.starts_with("Members may"), "{}", reply.text);
    }
    assert_eq!(asked(), before + 1, "cached while the bot is an admin");
    app.tg.set_bot_status(chat, MemberStatus::Member);
    for _ in 0..2 {
        let reply = app.say(ada, chat, "/allowconnect").await;
        assert!(reply.text.starts_with("Members may"), "{}", reply.text);
    }
    assert_eq!(asked(), before + 3, "asked live once demoted");
}

/// getUpdates failing (Telegram's 5xx, a dropped connection, a 409 from a
/// second poller) is retried
/// with backoff, and the updates waiting meanwhile are handled.
async fn polling_survives_get_updates_failures(backend: Backend) {
    let Some(app) = crate::app::spawn_unlimited(backend).await else {
        return;
    };
    let user = app.tg.add_user("Ann");
    app.tg
        .fail_next("getUpdates", fake_bot_api::Fault::ServerError, 2);
    app.tg
        .fail_next("getUpdates", fake_bot_api::Fault::DropConnection, 1);
    // Another process polling with the same token, for a while.
    app.tg
        .fail_next("getUpdates", fake_bot_api::Fault::Conflict, 1);
    // The poll under way takes this one; the next ones fail.
    let started = app.pm(user, "/start").await;
    assert!(started.text.starts_with("Hi"), "{}", started.text);
    app.tg.send_text(user, user, "/id");
    assert_eq!(
        app.tg.next_message(user).await.text,
        format!("Your id: {user}")
    );
    let failed = app
        .tg
        .requests_for("getUpdates")
        .iter()
        .filter(|r| r.fault.is_some())
        .count();
    assert_eq!(failed, 4);
}

/// A reply to a group that became a supergroup meanwhile is answered by
/// Telegram with `migrate_to_chat_id`: it is sent again to the supergroup,
/// and the group's records follow it.
async fn a_send_answered_with_migrate_follows_the_supergroup(backend: Backend) {
    let Some(mut app) = crate::app::spawn_unlimited(backend).await else {
        return;
    };
    let owner = app.tg.add_user("Owner");
    let group = app.tg.add_group("Team");
    app.tg.set_member(group, owner, MemberStatus::Creator);
    let set = app.say(owner, group, "/setrules Be kind.").await;
    assert!(set.text.contains("rules"), "{}", set.text);
    // Asked in the group just before its upgrade, answered after it.
    app.stop().await;
    app.tg.send_text(owner, group, "/rules");
    let supergroup = app
        .tg
        .migrate_group_with(group, fake_bot_api::MigrationDelivery::Neither);
    app.restart().await;
    let rules = app.tg.next_message(supergroup).await;
    assert!(rules.text.contains("Be kind."), "{}", rules.text);
    let refused = app
        .tg
        .requests_for("sendMessage")
        .iter()
        .filter(|r| r.params["chat_id"].as_i64() == Some(group) && !r.ok)
        .count();
    assert_eq!(refused, 1, "one send to the old id, then the supergroup");
    // The rules moved with it.
    let again = app.say(owner, supergroup, "/rules").await;
    assert!(again.text.contains("Be kind."), "{}", again.text);
}

/// The LISTEN connection that brings other castellans' admin changes is
/// lost (PostgreSQL restarted it, say): castellan forgets what it cached,
/// subscribes again, and hears the next change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_listen_connection_is_subscribed_again() {
    let Some(app) = crate::app::spawn_unlimited(Backend::Postgres).await else {
        return;
    };
    let (chat, _owner) = app.group_with_owner("Team");
    app.tg.set_bot_status(chat, MemberStatus::Administrator);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let allowed = |text: &str| text.starts_with("Members may");
    assert!(allowed(&app.say(ada, chat, "/allowconnect").await.text));

    // This castellan's LISTEN connection is cut (the channel is named
    // after the test's own schema: other tests' are left alone).
    let cut = app
        .db
        .query_i64(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = current_database() AND query ILIKE 'LISTEN%'
               AND query LIKE '%castellan_admins.' || current_schema() || '%'",
            &[],
        )
        .await;
    assert!(cut >= 1, "no LISTEN connection found");
    // Subscribed again after its backoff; meanwhile the cache is dropped
    // and filled again.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(allowed(&app.say(ada, chat, "/allowconnect").await.text));
    let asked = app.tg.requests_for("getChatAdministrators").len();
    assert!(allowed(&app.say(ada, chat, "/allowconnect").await.text));
    assert_eq!(
        app.tg.requests_for("getChatAdministrators").len(),
        asked,
        "cached again"
    );

    // Ada is demoted where this castellan cannot see it; another castellan
    // on the database announces it.
    app.tg.set_member(chat, ada, MemberStatus::Member);
    let other = app.db.open().await;
    other.announce_admins_changed(chat).await.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let reply = app.say(ada, chat, "/allowconnect").await;
        if reply.text == "Only admins can use /allowconnect." {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the announcement was never heard"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// A note saved in reply to a photo takes its caption, and a mention of a
/// user without a username (`text_mention`) survives as a link to them.
async fn a_note_from_a_caption_keeps_its_text_mention(backend: Backend) {
    let Some(app) = crate::app::spawn_unlimited(backend).await else {
        return;
    };
    let (group, owner) = app.group_with_owner("Team");
    let ann = app.user_in(group, "Ann", MemberStatus::Member);
    let caption = "Ask Ann about it";
    let photo = app.tg.send_message(
        IncomingMessage::new(owner, group, "")
            .caption(caption)
            .entities(vec![serde_json::json!({
                "type": "text_mention", "offset": 4, "length": 3,
                "user": {"id": ann, "is_bot": false, "first_name": "Ann"}
            })]),
    );
    app.tg
        .send_message(IncomingMessage::new(owner, group, "/save ask").reply_to(photo));
    let saved = app.tg.next_message(group).await;
    assert!(saved.text.contains("ask"), "{}", saved.text);
    app.tg.send_text(owner, group, "/get ask");
    let note = app.tg.next_message(group).await;
    assert_eq!(note.text, caption);
    let mention = app
        .tg
        .message_json(group, note.message_id)
        .and_then(|json| json["entities"].as_array().cloned())
        .unwrap_or_default();
    assert!(
        mention
            .iter()
            .any(|e| e["type"] == "text_mention" && e["user"]["id"].as_i64() == Some(ann)),
        "{mention:?}"
    );
}

/// The bot removed from a group ends its connections even when the
/// announcement to the other castellans fails: the durable change comes
/// first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_removed_ends_connections_even_when_the_announcement_fails() {
    let Some(db) = TestDb::postgres_where_announcements_fail().await else {
        return;
    };
    let store = db.open().await;
    let too_long = store.announce_admins_changed(-1).await;
    assert!(too_long.is_err(), "the announcement must fail here");
    drop(store);
    let app = TestApp::spawn_on_with(db, &[("SEND_LIMITS", "off")]).await;
    let (group, owner) = app.group_with_owner("Team");
    let reply = app.pm(owner, &format!("/connect {group}")).await;
    assert!(
        reply.text.starts_with("You are now connected to"),
        "{}",
        reply.text
    );
    app.tg.set_bot_status(group, MemberStatus::Kicked);
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply.text.contains("has ended"),
        "still connected: {}",
        reply.text
    );
}
