//! Start-up, in-process: what castellan does before it takes the first
//! update when Telegram's webhook state or the database says the
//! configuration is wrong, and what it keeps retrying.

use std::future::Future;
use std::time::Duration;

use castellan::app::{AppError, run_until};
use fake_bot_api::{BOT_TOKEN, FakeTelegram, Fault};

use crate::app::{config_with, free_local_addr, owned, spawn_bot};
use crate::db::{Backend, TestDb};

/// Sets a webhook on the fake as another deployment would have: through
/// the Bot API, with the bot's token, to an https URL of its own (routed to
/// a local port nothing listens on). Returns the URL.
pub async fn set_webhook_elsewhere(tg: &FakeTelegram) -> String {
    tg.route_webhook_host("other-deployment.example", free_local_addr());
    let url = "https://other-deployment.example/secret-path/hook";
    let endpoint = format!("{}bot{BOT_TOKEN}/setWebhook", tg.api_url());
    let response = reqwest::Client::new()
        .post(endpoint)
        .json(&serde_json::json!({ "url": url }))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap_or_else(|e| panic!("setWebhook: {e}"));
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    assert!(status.is_success(), "setWebhook: {status} {body}");
    assert_eq!(
        tg.webhook_info().map(|info| info.url).as_deref(),
        Some(url),
        "the fake holds the webhook"
    );
    url.to_owned()
}

/// Runs castellan until `stop` resolves, at most `limit`: its result.
async fn run_for(
    tg: &FakeTelegram,
    db: &TestDb,
    overrides: &[(&str, &str)],
    stop: impl Future<Output = ()> + Send + 'static,
    limit: Duration,
) -> Result<(), AppError> {
    let config = config_with(tg, &db.url, &owned(overrides));
    tokio::time::timeout(limit, run_until(config, stop))
        .await
        .unwrap_or_else(|_| panic!("castellan did not return within {limit:?}"))
}

/// Waits until the fake has seen a request for `method`.
async fn wait_request(tg: &FakeTelegram, method: &str) {
    let seen = tg
        .wait_for_request(method, |_| true, Duration::from_secs(10))
        .await;
    assert!(seen.is_some(), "no {method} within 10 s");
}

/// A polling castellan started against a bot whose updates go to a
/// webhook (another deployment's) leaves the webhook alone and ends the
/// start with a configuration error saying how to proceed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_refuses_to_delete_a_webhook_someone_else_set() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let tg = FakeTelegram::start().await;
    let hook = set_webhook_elsewhere(&tg).await;

    let result = run_for(
        &tg,
        &db,
        &[],
        std::future::pending(),
        Duration::from_secs(10),
    )
    .await;
    let error = result.expect_err("the start must end");
    assert!(matches!(error, AppError::WebhookSet { .. }), "{error:?}");
    assert!(error.is_configuration(), "exit code 2: {error}");
    let message = error.to_string();
    assert!(message.contains("WEBHOOK_URL"), "{message}");
    assert!(message.contains("TAKE_OVER_WEBHOOK=1"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
    assert!(
        !message.contains("secret-path"),
        "only the webhook's host is shown: {message}"
    );
    assert!(tg.requests_for("deleteWebhook").is_empty());
    assert!(tg.requests_for("getUpdates").is_empty());
    assert_eq!(
        tg.webhook_info().map(|info| info.url),
        Some(hook),
        "the webhook deployment keeps its updates"
    );
}

/// `TAKE_OVER_WEBHOOK=1`: the webhook is deleted on purpose and castellan
/// polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_over_webhook_deletes_the_webhook_and_polls() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let tg = FakeTelegram::start().await;
    set_webhook_elsewhere(&tg).await;

    let mut bot = spawn_bot(&tg, &db.url, &owned(&[("TAKE_OVER_WEBHOOK", "1")])).await;
    wait_request(&tg, "deleteWebhook").await;
    assert_eq!(tg.webhook_info(), None, "the webhook was deleted");
    let user = tg.add_user("Ana");
    tg.send_text(user, user, "/start");
    let reply = tg.next_message(user).await;
    assert!(reply.text.contains("Hi Ana"), "{}", reply.text);
    // Stops cleanly (Replica::stop asserts it).
    bot.stop().await;
}

/// A polling castellan on a bot without a webhook starts as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_without_a_webhook_starts_as_before() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let tg = FakeTelegram::start().await;
    let mut bot = spawn_bot(&tg, &db.url, &[]).await;
    let user = tg.add_user("Ana");
    tg.send_text(user, user, "/start");
    let reply = tg.next_message(user).await;
    assert!(reply.text.contains("Hi Ana"), "{}", reply.text);
    assert_eq!(tg.requests_for("getWebhookInfo").len(), 1);
    assert_eq!(tg.requests_for("deleteWebhook").len(), 1);
    bot.stop().await;
}

/// Webhook mode on `addr`, behind `https://bot.example.org/hook` (which
/// the fake routes to `addr`: it has no TLS).
fn webhook_settings(tg: &FakeTelegram, addr: std::net::SocketAddr) -> Vec<(String, String)> {
    tg.route_webhook_host("bot.example.org", addr);
    vec![
        ("HTTP_ADDR".to_owned(), addr.to_string()),
        ("WEBHOOK_URL".to_owned(), WEBHOOK_URL.to_owned()),
        ("WEBHOOK_SECRET".to_owned(), "s3cret".to_owned()),
    ]
}

const WEBHOOK_URL: &str = "https://bot.example.org/hook";

fn borrowed(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Telegram refusing the webhook (a 400: the URL is not one it accepts)
/// will not change by asking again: the start ends, naming WEBHOOK_URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_telegram_refuses_ends_the_start() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let tg = FakeTelegram::start().await;
    tg.fail_next(
        "setWebhook",
        Fault::BadRequest("bad webhook: HTTPS url must be provided for webhook".into()),
        1,
    );
    let settings = webhook_settings(&tg, free_local_addr());
    let result = run_for(
        &tg,
        &db,
        &borrowed(&settings),
        std::future::pending(),
        Duration::from_secs(10),
    )
    .await;
    let error = result.expect_err("the start must end");
    assert!(matches!(error, AppError::WebhookRefused(_)), "{error:?}");
    assert!(error.is_configuration(), "exit code 2: {error}");
    let message = error.to_string();
    assert!(message.contains("WEBHOOK_URL"), "{message}");
    assert!(message.contains("HTTPS url must be provided"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
    assert_eq!(tg.requests_for("setWebhook").len(), 1, "asked once");
    assert_eq!(tg.webhook_info(), None);
}

/// A 5xx or a 429 from setWebhook says nothing about the URL: retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_set_webhook_is_retried() {
    let Some(db) = TestDb::new(Backend::Sqlite).await else {
        return;
    };
    let tg = FakeTelegram::start().await;
    tg.fail_next("setWebhook", Fault::ServerError, 1);
    tg.fail_next("setWebhook", Fault::RetryAfter(1), 1);
    let settings = webhook_settings(&tg, free_local_addr());
    let mut bot = spawn_bot(&tg, &db.url, &settings).await;
    let set = tokio::time::timeout(Duration::from_secs(15), async {
        while tg.webhook_info().is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(set.is_ok(), "the webhook was never set");
    assert_eq!(
        tg.webhook_info().map(|info| info.url).as_deref(),
        Some(WEBHOOK_URL)
    );
    assert!(tg.requests_for("setWebhook").len() >= 3);
    bot.stop().await;
}

/// A PostgreSQL that cannot be reached is waited for (it may come up after
/// the bot): the start goes on retrying until stopped, asking nothing of
/// Telegram meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_is_waited_for() {
    let tg = FakeTelegram::start().await;
    let config = castellan::config::Config::from_lookup(|name| match name {
        "BOT_TOKEN" => Some(BOT_TOKEN.to_owned()),
        // Nothing listens on port 9 of the loopback.
        "DATABASE_URL" => Some("postgres://castellan@127.0.0.1:9/castellan".to_owned()),
        "TELEGRAM_API_URL" => Some(tg.api_url()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        run_until(config, tokio::time::sleep(Duration::from_millis(1500))),
    )
    .await
    .unwrap_or_else(|_| panic!("the stop was not heard"));
    assert!(result.is_ok(), "retried until stopped: {result:?}");
    assert!(tg.requests_for("getMe").is_empty());
}

/// A PostgreSQL that answers but refuses what castellan asks at connect
/// for a reason other than the credentials (here a bad `options`
/// parameter) is not an outage: reported at once, not retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_that_is_not_an_outage_is_not_retried() {
    let Ok(base) = std::env::var(crate::db::TEST_DATABASE_URL) else {
        eprintln!(
            "skipped: PostgreSQL test, {} is unset",
            crate::db::TEST_DATABASE_URL
        );
        return;
    };
    let mut url = url::Url::parse(&base).unwrap_or_else(|e| panic!("TEST_DATABASE_URL: {e}"));
    url.query_pairs_mut()
        .append_pair("options", "-c work_mem=banana");
    let tg = FakeTelegram::start().await;
    let config = castellan::config::Config::from_lookup(|name| match name {
        "BOT_TOKEN" => Some(BOT_TOKEN.to_owned()),
        "DATABASE_URL" => Some(url.to_string()),
        "TELEGRAM_API_URL" => Some(tg.api_url()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(10),
        run_until(config, std::future::pending()),
    )
    .await
    .unwrap_or_else(|_| panic!("retried as if PostgreSQL were down"));
    let error = result.expect_err("the start must end");
    assert!(matches!(error, AppError::Store(_)), "{error:?}");
    assert!(error.to_string().contains("work_mem"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(tg.requests_for("getMe").is_empty());
}
