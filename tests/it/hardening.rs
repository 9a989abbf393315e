//! Who pays for whose commands, and failed work redone.

use fake_bot_api::{BusinessRights, IncomingMessage, MemberStatus};

use crate::app::TestApp;
use crate::db::{Backend, TestDb};
use crate::ops::behind_proxy;
use crate::proxy::TcpProxy;

crate::backend_tests!(
    anonymous_admins_of_one_group_never_slow_another,
    a_customer_flooding_hashtags_gets_a_handful,
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
