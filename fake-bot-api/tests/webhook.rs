//! Webhooks: setWebhook's checks, getUpdates' conflict, delivery by POST
//! to an endpoint served by the test (secret header, retries and the last
//! error, allowed_updates, per-chat order, a method in the answer,
//! redeliveries), and deleteWebhook.

mod common;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::{assert_no_violations, call_status, check, err, ok};
use fake_bot_api::{FakeTelegram, WebhookConfig, WebhookDelivery};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, watch};

const WAIT: Duration = Duration::from_secs(5);

/// A request the test's webhook endpoint received.
#[derive(Debug)]
struct Hit {
    /// Path and query.
    target: String,
    headers: HeaderMap,
    update: Value,
}

impl Hit {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> &str {
        self.update["message"]["text"].as_str().unwrap_or_default()
    }
}

/// The test's webhook endpoint: what it received, in order of arrival.
struct Endpoint {
    addr: SocketAddr,
    hits: mpsc::UnboundedReceiver<Hit>,
}

impl Endpoint {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn next(&mut self) -> Hit {
        tokio::time::timeout(WAIT, self.hits.recv())
            .await
            .expect("no webhook request within 5 s")
            .expect("endpoint gone")
    }

    /// Everything received so far.
    fn received(&mut self) -> Vec<Hit> {
        std::iter::from_fn(|| self.hits.try_recv().ok()).collect()
    }
}

/// Serves an endpoint on `listener`: each request is reported, then
/// answered by `answer(update)`.
fn serve<F, Fut>(listener: TcpListener, answer: F) -> Endpoint
where
    F: Fn(Value) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    let addr = listener.local_addr().unwrap();
    let (tx, hits) = mpsc::unbounded_channel();
    let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let tx = tx.clone();
        let answer = answer.clone();
        async move {
            let update: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let _ = tx.send(Hit {
                target: uri.to_string(),
                headers,
                update: update.clone(),
            });
            answer(update).await
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Endpoint { addr, hits }
}

async fn endpoint<F, Fut>(answer: F) -> Endpoint
where
    F: Fn(Value) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Response> + Send + 'static,
{
    serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), answer)
}

fn status(code: u16) -> Response {
    StatusCode::from_u16(code).unwrap().into_response()
}

/// An endpoint answering 200 to everything.
async fn ok_endpoint() -> Endpoint {
    endpoint(|_| async { status(200) }).await
}

/// A fake acting as a local Bot API server (`telegram-bot-api --local`),
/// which takes the test's plain-HTTP endpoints on the loopback; Telegram
/// itself refuses `http://` webhooks.
async fn local_fake() -> FakeTelegram {
    let fake = FakeTelegram::start().await;
    fake.allow_http_webhooks(true);
    fake
}

/// A socket bound on a free port, not listening: connections to it are
/// refused until it listens.
fn refusing_socket() -> (TcpSocket, SocketAddr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}

async fn webhook_info(fake: &FakeTelegram) -> Value {
    let info = ok(fake, "getWebhookInfo", json!({})).await;
    let _: teloxide_core::types::WebhookInfo = check("WebhookInfo", &info);
    info
}

fn delivery(
    update_id: i64,
    url: &str,
    status: Option<u16>,
    error: Option<&str>,
) -> WebhookDelivery {
    WebhookDelivery {
        update_id,
        url: url.to_owned(),
        status,
        error: error.map(str::to_owned),
    }
}

/// Each setWebhook is refused with its description, and sets nothing.
async fn assert_refused(fake: &FakeTelegram, cases: &[(Value, &str)]) {
    for (params, expected) in cases {
        let (code, body) = call_status(fake, "setWebhook", params.clone()).await;
        assert_eq!(
            (code, body["description"].as_str()),
            (400, Some(*expected)),
            "{params}"
        );
        assert_eq!(fake.webhook_info(), None, "{params}");
    }
}

#[tokio::test]
async fn set_webhook_checks_like_telegram() {
    let fake = FakeTelegram::start().await;
    // This test tries many URLs in a row.
    fake.limit_set_webhook_rate(false);
    let info = webhook_info(&fake).await;
    assert_eq!(
        info,
        json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0})
    );
    let local = "http://127.0.0.1:9/hook";
    // Telegram's own checks; then a local Bot API server's, which takes
    // `http://` URLs.
    let telegram_cases = [
        (
            json!({"url": "http://example.com/hook"}),
            "Bad Request: bad webhook: HTTPS url must be provided for webhook",
        ),
        (
            json!({"url": local}),
            "Bad Request: bad webhook: HTTPS url must be provided for webhook",
        ),
        (
            json!({"url": "http://localhost:8443/hook", "secret_token": "s"}),
            "Bad Request: bad webhook: HTTPS url must be provided for webhook",
        ),
    ];
    assert_refused(&fake, &telegram_cases).await;
    fake.allow_http_webhooks(true);
    let cases = [
        (
            json!({"url": "http://example.com/hook"}),
            "Bad Request: bad webhook: Failed to resolve host: Name or service not known",
        ),
        (
            json!({"url": "https://example.com:8080/hook"}),
            "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ),
        (
            json!({"url": "https://example.com/hook"}),
            "Bad Request: bad webhook: Failed to resolve host: Name or service not known",
        ),
        (
            json!({"url": "https://127.0.0.1/hook"}),
            "Bad Request: bad webhook: IP address 127.0.0.1 is reserved",
        ),
        (
            json!({"url": "https://localhost:8443/hook"}),
            "Bad Request: bad webhook: IP address 127.0.0.1 is reserved",
        ),
        (
            json!({"url": "https://192.168.1.2/hook"}),
            "Bad Request: bad webhook: IP address 192.168.1.2 is reserved",
        ),
        (
            json!({"url": "ftp://example.com/hook"}),
            "Bad Request: invalid webhook URL specified",
        ),
        (
            json!({"url": local, "secret_token": "a+b"}),
            "Bad Request: secret token contains unallowed characters",
        ),
        (
            json!({"url": local, "secret_token": "x".repeat(257)}),
            "Bad Request: secret token is too long",
        ),
        (
            json!({"url": local, "ip_address": "not an ip"}),
            "Bad Request: bad webhook: Invalid IP address specified",
        ),
        (
            json!({"url": local, "ip_address": "::1"}),
            "Bad Request: bad webhook: IPv6-only addresses are not allowed",
        ),
    ];
    assert_refused(&fake, &cases).await;

    // Accepted: the local exception, a secret of every allowed character,
    // max_connections clamped to 1-100.
    let secret = "Az09_-".repeat(42) + "xyzw";
    assert_eq!(secret.len(), 256);
    assert_eq!(
        ok(
            &fake,
            "setWebhook",
            json!({"url": local, "secret_token": secret, "max_connections": 0}),
        )
        .await,
        json!(true)
    );
    assert_eq!(
        fake.webhook_info(),
        Some(WebhookConfig {
            url: local.to_owned(),
            secret_token: Some(secret.clone()),
            max_connections: 1,
            allowed_updates: None,
            ip_address: None,
        })
    );
    assert_eq!(
        webhook_info(&fake).await,
        json!({
            "url": local,
            "has_custom_certificate": false,
            "pending_update_count": 0,
            "max_connections": 1,
            "ip_address": "127.0.0.1",
        })
    );
    ok(
        &fake,
        "setWebhook",
        json!({"url": "http://localhost:9/", "max_connections": 1000}),
    )
    .await;
    assert_eq!(fake.webhook_info().unwrap().max_connections, 100);
    assert_eq!(fake.webhook_info().unwrap().secret_token, None);
    ok(
        &fake,
        "setWebhook",
        json!({"url": local, "ip_address": "203.0.114.7"}),
    )
    .await;
    let info = webhook_info(&fake).await;
    assert_eq!(info["max_connections"], 40);
    assert_eq!(info["ip_address"], "203.0.114.7");

    // A refused setWebhook first removed the webhook, as on Telegram.
    let e = err(&fake, "setWebhook", json!({"url": "ftp://example.com/"})).await;
    assert_eq!(e, "Bad Request: invalid webhook URL specified");
    assert_eq!(fake.webhook_info(), None);
    assert_eq!(webhook_info(&fake).await["url"], "");

    // An empty url removes the webhook, like deleteWebhook.
    ok(&fake, "setWebhook", json!({"url": local})).await;
    assert!(fake.webhook_info().is_some());
    assert_eq!(
        ok(&fake, "setWebhook", json!({"url": ""})).await,
        json!(true)
    );
    assert_eq!(fake.webhook_info(), None);
    assert_eq!(ok(&fake, "deleteWebhook", json!({})).await, json!(true));
    assert_no_violations(&fake);
}

#[tokio::test]
async fn get_updates_conflicts_while_a_webhook_is_set() {
    let fake = local_fake().await;
    let u = fake.add_user("Ann");
    let (_socket, addr) = refusing_socket();
    let url = format!("http://{addr}/");

    // A long poll under way is ended by setWebhook.
    let f2 = fake.clone();
    let poll =
        tokio::spawn(async move { call_status(&f2, "getUpdates", json!({"timeout": 5})).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    ok(&fake, "setWebhook", json!({"url": url})).await;
    let (code, body) = poll.await.unwrap();
    assert_eq!(
        (code, body["description"].as_str()),
        (409, Some("Conflict: terminated by setWebhook request"))
    );

    fake.send_text(u, u, "while hooked");
    let (code, body) = call_status(&fake, "getUpdates", json!({"offset": 1})).await;
    assert_eq!(code, 409);
    assert_eq!(
        body,
        json!({
            "ok": false,
            "error_code": 409,
            "description": "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        })
    );
    // Nothing listens: the update stays queued.
    let refused = fake
        .wait_for_delivery(|d| d.error.as_deref() == Some("Connection refused"), WAIT)
        .await
        .expect("a refused delivery");
    assert_eq!(refused.status, None);
    assert_eq!(fake.pending_updates(), 1);

    ok(&fake, "deleteWebhook", json!({})).await;
    let got = ok(&fake, "getUpdates", json!({})).await;
    assert_eq!(got.as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got[0]["message"]["text"], "while hooked");
    assert_eq!(got[0]["update_id"], refused.update_id);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn delivers_updates_by_post_with_the_secret_header() {
    let fake = local_fake().await;
    // This test changes the webhook several times a second.
    fake.limit_set_webhook_rate(false);
    let u = fake.add_user("Ann");
    let mut hook = ok_endpoint().await;
    let url = hook.url("/tg/hook?bot=1");
    ok(
        &fake,
        "setWebhook",
        json!({"url": url, "secret_token": "s3cr3t_-X"}),
    )
    .await;

    fake.send_text(u, u, "/start");
    let hit = hook.next().await;
    assert_eq!(hit.target, "/tg/hook?bot=1");
    assert_eq!(
        hit.header("x-telegram-bot-api-secret-token"),
        Some("s3cr3t_-X")
    );
    assert_eq!(hit.header("content-type"), Some("application/json"));
    assert_eq!(hit.header("host"), Some(hook.addr.to_string().as_str()));
    let _: teloxide_core::types::Update = check("Update", &hit.update);
    assert_eq!(hit.text(), "/start");
    assert_eq!(hit.update["message"]["entities"][0]["type"], "bot_command");
    fake.wait_webhook_idle(WAIT).await;
    assert_eq!(fake.pending_updates(), 0);
    assert!(fake.wait_updates_confirmed(Duration::from_millis(10)).await);
    let id = hit.update["update_id"].as_i64().unwrap();
    assert_eq!(
        fake.webhook_deliveries(),
        vec![delivery(id, &url, Some(200), None)]
    );
    assert!(fake.webhook_deliveries()[0].delivered());
    let info = webhook_info(&fake).await;
    assert_eq!(info["pending_update_count"], 0);
    assert!(info.get("last_error_message").is_none(), "{info}");

    // Without a secret: no header.
    ok(&fake, "setWebhook", json!({"url": url})).await;
    fake.send_text(u, u, "again");
    let hit = hook.next().await;
    assert_eq!(hit.text(), "again");
    assert_eq!(hit.header("x-telegram-bot-api-secret-token"), None);
    fake.wait_webhook_idle(WAIT).await;
    assert_no_violations(&fake);
}

#[tokio::test]
async fn retries_after_an_error_answer_and_reports_the_last_error() {
    let fake = local_fake().await;
    // This test changes the webhook several times a second.
    fake.limit_set_webhook_rate(false);
    let u = fake.add_user("Ann");
    let answers = Arc::new(Mutex::new(vec![401, 500]));
    let a2 = answers.clone();
    let mut hook = endpoint(move |_| {
        let code = a2.lock().unwrap().pop().unwrap_or(200);
        async move { status(code) }
    })
    .await;
    let url = hook.url("/hook");
    ok(&fake, "setWebhook", json!({"url": url})).await;
    let before = world_now();
    fake.send_text(u, u, "hello");
    fake.wait_webhook_idle(WAIT).await;

    let hits = [hook.next().await, hook.next().await, hook.next().await];
    let id = hits[0].update["update_id"].as_i64().unwrap();
    assert!(hits.iter().all(|h| h.update["update_id"] == id));
    assert_eq!(
        fake.webhook_deliveries(),
        vec![
            delivery(
                id,
                &url,
                Some(500),
                Some("Wrong response from the webhook: 500 Internal Server Error")
            ),
            delivery(
                id,
                &url,
                Some(401),
                Some("Wrong response from the webhook: 401 Unauthorized")
            ),
            delivery(id, &url, Some(200), None),
        ]
    );
    // The last error stays after a success, as on Telegram.
    let info = webhook_info(&fake).await;
    assert_eq!(
        info["last_error_message"],
        "Wrong response from the webhook: 401 Unauthorized"
    );
    let date = info["last_error_date"].as_i64().unwrap();
    assert!(date >= before && date <= world_now(), "{date}");
    assert_eq!(
        fake.webhook_last_error(),
        Some((
            date,
            "Wrong response from the webhook: 401 Unauthorized".to_owned()
        ))
    );
    // setWebhook changing nothing keeps it; a change forgets it.
    ok(&fake, "setWebhook", json!({"url": url})).await;
    assert!(fake.webhook_last_error().is_some());
    ok(
        &fake,
        "setWebhook",
        json!({"url": url, "max_connections": 5}),
    )
    .await;
    assert_eq!(fake.webhook_last_error(), None);
    assert!(webhook_info(&fake).await.get("last_error_date").is_none());
    assert_no_violations(&fake);
}

fn world_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn retries_after_a_refused_connection_and_a_timeout() {
    let fake = local_fake().await;
    let u = fake.add_user("Ann");
    let (socket, addr) = refusing_socket();
    let url = format!("http://{addr}/hook");
    fake.set_webhook_retry_delay(Duration::from_millis(50));
    fake.set_webhook_timeout(Duration::from_millis(300));
    ok(&fake, "setWebhook", json!({"url": url})).await;
    fake.send_text(u, u, "knock");
    let refused = fake
        .wait_for_delivery(|d| d.error.is_some(), WAIT)
        .await
        .unwrap();
    assert_eq!(refused.error.as_deref(), Some("Connection refused"));
    assert_eq!(
        webhook_info(&fake).await["last_error_message"],
        "Connection refused"
    );
    assert_eq!(fake.pending_updates(), 1);

    // Listening now, but the first request gets no answer in time.
    let (release, released) = watch::channel(false);
    let mut hook = serve(socket.listen(16).unwrap(), move |_| {
        let mut released = released.clone();
        async move {
            if !*released.borrow_and_update() {
                let _ = released.wait_for(|r| *r).await;
            }
            status(200)
        }
    });
    let timed_out = fake
        .wait_for_delivery(|d| d.error.as_deref() == Some("Read timeout expired"), WAIT)
        .await
        .expect("a timed out delivery");
    assert_eq!(timed_out.status, None);
    assert_eq!(hook.next().await.text(), "knock");
    release.send_replace(true);
    fake.wait_webhook_idle(WAIT).await;
    let last = fake.webhook_deliveries().last().cloned().unwrap();
    assert_eq!(last, delivery(refused.update_id, &url, Some(200), None));
    assert_eq!(
        fake.webhook_last_error().map(|(_, m)| m).as_deref(),
        Some("Read timeout expired")
    );
    assert_no_violations(&fake);
}

#[tokio::test]
async fn allowed_updates_filter_and_are_kept_when_omitted() {
    let fake = local_fake().await;
    // This test changes the webhook several times a second.
    fake.limit_set_webhook_rate(false);
    let u = fake.add_user("Ann");
    let mut hook = ok_endpoint().await;
    let url = hook.url("/");
    ok(
        &fake,
        "setWebhook",
        json!({"url": url, "allowed_updates": ["callback_query"]}),
    )
    .await;
    assert_eq!(
        webhook_info(&fake).await["allowed_updates"],
        json!(["callback_query"])
    );
    let mid = fake.send_text(u, u, "dropped");
    fake.press_button(u, u, mid, "data");
    fake.wait_webhook_idle(WAIT).await;
    let hits = hook.received();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].update["callback_query"]["data"], "data");
    assert_eq!(fake.webhook_deliveries().len(), 1);

    // A new secret, no allowed_updates: the list is kept.
    ok(
        &fake,
        "setWebhook",
        json!({"url": url, "secret_token": "new"}),
    )
    .await;
    assert_eq!(
        fake.webhook_info().unwrap().allowed_updates,
        Some(vec!["callback_query".to_owned()])
    );
    fake.send_text(u, u, "still dropped");
    fake.wait_webhook_idle(WAIT).await;
    assert_eq!(fake.webhook_deliveries().len(), 1);

    // Changing only the list keeps the webhook; names are read like
    // Telegram does (case-insensitive, unknown ones ignored, server order).
    ok(
        &fake,
        "setWebhook",
        json!({"url": url, "secret_token": "new", "allowed_updates": ["Callback_Query", "MESSAGE", "nonsense"]}),
    )
    .await;
    assert_eq!(
        fake.allowed_updates(),
        Some(vec!["message".to_owned(), "callback_query".to_owned()])
    );
    fake.send_text(u, u, "delivered");
    assert_eq!(hook.next().await.text(), "delivered");

    // An empty list is the default again.
    ok(
        &fake,
        "setWebhook",
        json!({"url": url, "secret_token": "new", "allowed_updates": []}),
    )
    .await;
    assert_eq!(fake.allowed_updates(), None);
    assert!(webhook_info(&fake).await.get("allowed_updates").is_none());
    fake.wait_webhook_idle(WAIT).await;
    assert_no_violations(&fake);
}

#[tokio::test]
async fn delete_webhook_stops_delivery_and_get_updates_works_again() {
    let fake = local_fake().await;
    // This test changes the webhook several times a second.
    fake.limit_set_webhook_rate(false);
    let u = fake.add_user("Ann");
    let hook = endpoint(|_| async { status(500) }).await;
    let url = hook.url("/");
    fake.set_webhook_retry_delay(Duration::from_millis(20));
    ok(&fake, "setWebhook", json!({"url": url})).await;
    fake.send_text(u, u, "one");
    wait_deliveries(&fake, 3).await;
    assert!(
        fake.webhook_deliveries()
            .iter()
            .all(|d| d.status == Some(500))
    );
    ok(&fake, "deleteWebhook", json!({})).await;
    let attempts = fake.webhook_deliveries().len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.webhook_deliveries().len(), attempts);
    let info = webhook_info(&fake).await;
    assert_eq!(
        info,
        json!({"url": "", "has_custom_certificate": false, "pending_update_count": 1})
    );
    let got = ok(&fake, "getUpdates", json!({})).await;
    assert_eq!(got[0]["message"]["text"], "one");

    // drop_pending_updates empties the queue.
    let (_socket, addr) = refusing_socket();
    ok(
        &fake,
        "setWebhook",
        json!({"url": format!("http://{addr}/")}),
    )
    .await;
    fake.send_text(u, u, "two");
    assert_eq!(fake.pending_updates(), 2);
    ok(
        &fake,
        "deleteWebhook",
        json!({"drop_pending_updates": true}),
    )
    .await;
    assert_eq!(fake.pending_updates(), 0);
    assert_eq!(ok(&fake, "getUpdates", json!({})).await, json!([]));
    assert_no_violations(&fake);
}

/// Waits until at least `n` delivery attempts were recorded.
async fn wait_deliveries(fake: &FakeTelegram, n: usize) {
    let count = std::cell::Cell::new(0);
    let nth = fake
        .wait_for_delivery(
            |_| {
                count.set(count.get() + 1);
                count.get() >= n
            },
            WAIT,
        )
        .await;
    assert!(nth.is_some(), "only {} deliveries", count.get());
}

#[tokio::test]
async fn a_delivery_in_flight_is_abandoned_by_delete_webhook() {
    let fake = local_fake().await;
    let u = fake.add_user("Ann");
    // Never answers.
    let mut hook = endpoint(|_| async {
        std::future::pending::<()>().await;
        status(200)
    })
    .await;
    let url = hook.url("/");
    ok(&fake, "setWebhook", json!({"url": url})).await;
    fake.send_text(u, u, "lost answer");
    let hit = hook.next().await;
    let id = hit.update["update_id"].as_i64().unwrap();
    ok(&fake, "deleteWebhook", json!({})).await;
    let d = fake.webhook_deliveries();
    assert_eq!(d.len(), 1);
    assert!(d[0].abandoned(), "{d:?}");
    assert_eq!(d[0].update_id, id);
    assert_eq!(d[0].status, None);
    assert!(!d[0].delivered());
    assert_eq!(fake.webhook_last_error(), None);
    // The update is still there for getUpdates.
    let got = ok(&fake, "getUpdates", json!({})).await;
    assert_eq!(got[0]["update_id"], id);
    assert_no_violations(&fake);
}

/// What the per-chat endpoint saw.
#[derive(Default)]
struct Seen {
    in_flight: HashMap<i64, usize>,
    total_in_flight: usize,
    max_total: usize,
    same_chat_overlap: bool,
    texts: HashMap<i64, Vec<String>>,
    failed_a2: bool,
    parallel: Option<bool>,
}

#[tokio::test]
async fn a_chat_keeps_its_order_while_chats_run_in_parallel() {
    let fake = local_fake().await;
    let a = fake.add_user("A");
    let b = fake.add_user("B");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (b_tx, b_rx) = watch::channel(false);
    let b_tx = Arc::new(b_tx);
    let s2 = seen.clone();
    let hook = endpoint(move |update| {
        let seen = s2.clone();
        let b_tx = b_tx.clone();
        let mut b_rx = b_rx.clone();
        async move {
            let chat = update["message"]["chat"]["id"].as_i64().unwrap();
            let text = update["message"]["text"].as_str().unwrap().to_owned();
            {
                let mut s = seen.lock().unwrap();
                let n = s.in_flight.entry(chat).or_default();
                *n += 1;
                if *n > 1 {
                    s.same_chat_overlap = true;
                }
                s.total_in_flight += 1;
                s.max_total = s.max_total.max(s.total_in_flight);
                s.texts.entry(chat).or_default().push(text.clone());
            }
            if text == "B1" {
                b_tx.send_replace(true);
            }
            if text == "A1" {
                // Chat B's first update arrives while A1 is in flight.
                let parallel = tokio::time::timeout(WAIT, b_rx.wait_for(|v| *v))
                    .await
                    .is_ok();
                seen.lock().unwrap().parallel = Some(parallel);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            let mut s = seen.lock().unwrap();
            let fail = text == "A2" && !std::mem::replace(&mut s.failed_a2, true);
            *s.in_flight.get_mut(&chat).unwrap() -= 1;
            s.total_in_flight -= 1;
            status(if fail { 500 } else { 200 })
        }
    })
    .await;
    ok(&fake, "setWebhook", json!({"url": hook.url("/")})).await;
    for (from, text) in [(a, "A1"), (a, "A2"), (a, "A3"), (b, "B1"), (b, "B2")] {
        fake.send_text(from, from, text);
    }
    fake.wait_webhook_idle(WAIT).await;
    let s = seen.lock().unwrap();
    assert_eq!(s.parallel, Some(true), "chat B waited for chat A");
    assert!(!s.same_chat_overlap, "two updates of one chat in flight");
    assert_eq!(s.texts[&a], ["A1", "A2", "A2", "A3"]);
    assert_eq!(s.texts[&b], ["B1", "B2"]);
    assert!(s.max_total >= 2);
    assert_eq!(fake.webhook_deliveries().len(), 6);
    drop(s);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn max_connections_one_delivers_one_update_at_a_time() {
    let fake = local_fake().await;
    let users: Vec<i64> = (0..3).map(|i| fake.add_user(&format!("U{i}"))).collect();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s2 = seen.clone();
    let mut hook = endpoint(move |_| {
        let seen = s2.clone();
        async move {
            {
                let mut s = seen.lock().unwrap();
                s.total_in_flight += 1;
                s.max_total = s.max_total.max(s.total_in_flight);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            seen.lock().unwrap().total_in_flight -= 1;
            status(200)
        }
    })
    .await;
    ok(
        &fake,
        "setWebhook",
        json!({"url": hook.url("/"), "max_connections": 1}),
    )
    .await;
    for round in 0..2 {
        for &u in &users {
            fake.send_text(u, u, &format!("{round}"));
        }
    }
    fake.wait_webhook_idle(WAIT).await;
    assert_eq!(seen.lock().unwrap().max_total, 1);
    // One at a time: in update_id order.
    let ids: Vec<i64> = hook
        .received()
        .iter()
        .map(|h| h.update["update_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 6);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn a_method_in_the_answer_is_executed() {
    let fake = local_fake().await;
    let u = fake.add_user("Ann");
    let hook = endpoint(|update| async move {
        let chat = update["message"]["chat"]["id"].clone();
        axum::Json(json!({"method": "sendMessage", "chat_id": chat, "text": "pong"}))
            .into_response()
    })
    .await;
    ok(&fake, "setWebhook", json!({"url": hook.url("/")})).await;
    fake.send_text(u, u, "ping");
    let m = fake.next_message(u).await;
    assert_eq!(m.text, "pong");
    let sends = fake.requests_for("sendMessage");
    assert_eq!(sends.len(), 1);
    assert!(sends[0].ok);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn an_https_host_is_delivered_to_its_route() {
    let fake = FakeTelegram::start().await;
    // This test changes the webhook several times a second.
    fake.limit_set_webhook_rate(false);
    let u = fake.add_user("Ann");
    let mut hook = ok_endpoint().await;
    fake.route_webhook_host("Bot.Example.com", hook.addr);
    ok(
        &fake,
        "setWebhook",
        json!({"url": "https://bot.example.com:8443/hook"}),
    )
    .await;
    assert_eq!(webhook_info(&fake).await["ip_address"], "127.0.0.1");
    fake.send_text(u, u, "secure");
    let hit = hook.next().await;
    assert_eq!(hit.text(), "secure");
    assert_eq!(hit.target, "/hook");
    assert_eq!(hit.header("host"), Some("bot.example.com:8443"));
    ok(&fake, "setWebhook", json!({"url": "bot.example.com/other"})).await;
    fake.send_text(u, u, "default port");
    let hit = hook.next().await;
    assert_eq!(hit.target, "/other");
    assert_eq!(hit.header("host"), Some("bot.example.com"));
    fake.wait_webhook_idle(WAIT).await;
    // Plain HTTP to the host: refused by Telegram, taken by a local Bot
    // API server, through the same route.
    let url = json!({"url": "http://bot.example.com:8080/plain"});
    assert_eq!(
        err(&fake, "setWebhook", url.clone()).await,
        "Bad Request: bad webhook: HTTPS url must be provided for webhook"
    );
    fake.allow_http_webhooks(true);
    ok(&fake, "setWebhook", url).await;
    fake.send_text(u, u, "plain");
    let hit = hook.next().await;
    assert_eq!(hit.target, "/plain");
    assert_eq!(hit.header("host"), Some("bot.example.com:8080"));
    fake.wait_webhook_idle(WAIT).await;
    assert_no_violations(&fake);
}

#[tokio::test]
#[should_panic(expected = "wait_webhook_idle without a webhook")]
async fn waiting_for_the_webhook_without_one_panics() {
    let fake = FakeTelegram::start().await;
    fake.wait_webhook_idle(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn last_update_id_names_the_latest_update() {
    let fake = FakeTelegram::start().await;
    assert_eq!(fake.last_update_id(), None);
    let u = fake.add_user("Ann");
    let group = fake.add_group("G");
    let mid = fake.send_text(u, u, "hi");
    let id = fake.last_update_id().unwrap();
    let ups = common::take_updates(&fake).await;
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0]["update_id"], id);
    assert_eq!(ups[0]["message"]["message_id"], mid);
    fake.press_button(u, u, mid, "data");
    assert_eq!(fake.last_update_id(), Some(id + 1));
    // Privacy mode hides a plain group message: no update.
    fake.send_text(u, group, "/start");
    let command = fake.last_update_id().unwrap();
    fake.send_text(u, group, "plain");
    assert_eq!(fake.last_update_id(), Some(command));
    assert_no_violations(&fake);
}

#[tokio::test]
async fn redelivering_an_update_posts_the_same_json_again() {
    let fake = local_fake().await;
    let u = fake.add_user("Ann");
    // The first delivery is accepted, the redelivery refused once.
    let answers = Arc::new(Mutex::new(vec![200, 500, 200]));
    let a2 = answers.clone();
    let mut hook = endpoint(move |_| {
        let code = a2.lock().unwrap().pop().unwrap_or(200);
        async move { status(code) }
    })
    .await;
    let url = hook.url("/hook");
    ok(&fake, "setWebhook", json!({"url": url})).await;
    let mid = fake.send_text(u, u, "once");
    let id = fake.last_update_id().unwrap();
    let first = hook.next().await;
    assert_eq!(first.update["update_id"], id);
    assert_eq!(first.update["message"]["message_id"], mid);
    fake.wait_webhook_idle(WAIT).await;

    fake.redeliver(id);
    assert_eq!(fake.last_update_id(), Some(id), "no new update");
    assert_eq!(fake.pending_updates(), 1);
    let refused = hook.next().await;
    let retried = hook.next().await;
    assert_eq!(refused.update, first.update);
    assert_eq!(retried.update, first.update);
    fake.wait_webhook_idle(WAIT).await;
    assert_eq!(
        fake.webhook_deliveries(),
        vec![
            delivery(id, &url, Some(200), None),
            delivery(
                id,
                &url,
                Some(500),
                Some("Wrong response from the webhook: 500 Internal Server Error")
            ),
            delivery(id, &url, Some(200), None),
        ]
    );
    assert_eq!(
        fake.webhook_last_error().map(|(_, m)| m).as_deref(),
        Some("Wrong response from the webhook: 500 Internal Server Error")
    );

    // wait_for_delivery sees redeliveries like any delivery.
    fake.redeliver(id);
    wait_deliveries(&fake, 4).await;
    assert_eq!(hook.next().await.update, first.update);
    let last = fake
        .wait_for_delivery(|d| d.update_id == id && d.delivered(), WAIT)
        .await;
    assert!(last.is_some());
    fake.wait_webhook_idle(WAIT).await;
    assert_eq!(fake.webhook_deliveries().len(), 4);
    // One message, however often it was delivered.
    assert_eq!(fake.message_json(u, mid).unwrap()["text"], "once");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn a_redelivery_keeps_its_chat_order() {
    let fake = local_fake().await;
    let u = fake.add_user("Ann");
    // The first request waits until released.
    let (release, released) = watch::channel(false);
    let mut hook = endpoint(move |_| {
        let mut released = released.clone();
        async move {
            let _ = released.wait_for(|r| *r).await;
            status(200)
        }
    })
    .await;
    let url = hook.url("/");
    ok(&fake, "setWebhook", json!({"url": url})).await;
    fake.send_text(u, u, "first");
    let id = fake.last_update_id().unwrap();
    assert_eq!(hook.next().await.update["update_id"], id);
    // While it is in flight, a later message of the chat is queued, then
    // the first is redelivered: the copy comes before the later message.
    fake.send_text(u, u, "second");
    let later = fake.last_update_id().unwrap();
    fake.redeliver(id);
    assert_eq!(fake.pending_updates(), 3);
    assert_eq!(webhook_info(&fake).await["pending_update_count"], 3);
    release.send_replace(true);
    fake.wait_webhook_idle(WAIT).await;
    let rest: Vec<(i64, String)> = [hook.next().await, hook.next().await]
        .iter()
        .map(|h| (h.update["update_id"].as_i64().unwrap(), h.text().to_owned()))
        .collect();
    assert_eq!(
        rest,
        [(id, "first".to_owned()), (later, "second".to_owned())]
    );
    assert_eq!(
        fake.webhook_deliveries(),
        vec![
            delivery(id, &url, Some(200), None),
            delivery(id, &url, Some(200), None),
            delivery(later, &url, Some(200), None),
        ]
    );
    assert_no_violations(&fake);
}

#[tokio::test]
async fn deleting_the_webhook_abandons_a_redelivery_in_flight() {
    let fake = local_fake().await;
    let u = fake.add_user("Ann");
    let answered = Arc::new(Mutex::new(false));
    let a2 = answered.clone();
    // Answers the first request, never the next.
    let mut hook = endpoint(move |_| {
        let first = !std::mem::replace(&mut *a2.lock().unwrap(), true);
        async move {
            if !first {
                std::future::pending::<()>().await;
            }
            status(200)
        }
    })
    .await;
    let url = hook.url("/");
    ok(&fake, "setWebhook", json!({"url": url})).await;
    fake.send_text(u, u, "hi");
    let id = fake.last_update_id().unwrap();
    fake.wait_webhook_idle(WAIT).await;
    fake.redeliver(id);
    hook.next().await;
    assert_eq!(hook.next().await.update["update_id"], id);
    ok(&fake, "deleteWebhook", json!({})).await;
    let d = fake.webhook_deliveries();
    assert_eq!(d.len(), 2);
    assert!(d[0].delivered());
    assert!(d[1].abandoned() && d[1].update_id == id, "{d:?}");
    // The copy stays queued, for getUpdates.
    let got = ok(&fake, "getUpdates", json!({})).await;
    assert_eq!(got.as_array().unwrap().len(), 1);
    assert_eq!(got[0]["update_id"], id);
    assert_eq!(got[0]["message"]["text"], "hi");
    assert_no_violations(&fake);
}

#[tokio::test]
#[should_panic(expected = "can't redeliver update")]
async fn redelivering_without_a_webhook_panics() {
    let fake = FakeTelegram::start().await;
    let u = fake.add_user("Ann");
    fake.send_text(u, u, "hi");
    fake.redeliver(fake.last_update_id().unwrap());
}

#[tokio::test]
#[should_panic(expected = "no update 12 was created")]
async fn redelivering_an_unknown_update_panics() {
    let fake = local_fake().await;
    let hook = ok_endpoint().await;
    ok(&fake, "setWebhook", json!({"url": hook.url("/")})).await;
    fake.redeliver(12);
}

/// Telegram takes a setWebhook with a URL at most once a second (tokio's
/// clock, paused here): sooner, 429 "retry after 1" before any other
/// check. deleteWebhook and an empty URL are not limited; a call refused
/// for its URL counts, one refused with 429 does not.
#[tokio::test(start_paused = true)]
async fn set_webhook_is_taken_at_most_once_a_second() {
    let fake = local_fake().await;
    let (_socket, addr) = refusing_socket();
    let url = format!("http://{addr}/hook");
    let too_many = json!({
        "ok": false,
        "error_code": 429,
        "description": "Too Many Requests: retry after 1",
        "parameters": {"retry_after": 1},
    });
    let hooked = || WebhookConfig {
        url: url.clone(),
        secret_token: None,
        max_connections: 40,
        allowed_updates: None,
        ip_address: None,
    };

    ok(&fake, "setWebhook", json!({"url": url})).await;
    assert_eq!(fake.webhook_info(), Some(hooked()));
    // At once: refused, even unchanged or invalid, and nothing changes.
    for params in [
        json!({"url": url}),
        json!({"url": url, "secret_token": "new"}),
        json!({"url": "ftp://example.com/"}),
    ] {
        assert_eq!(
            call_status(&fake, "setWebhook", params.clone()).await,
            (429, too_many.clone()),
            "{params}"
        );
        assert_eq!(fake.webhook_info(), Some(hooked()), "{params}");
    }
    // Removing is never limited.
    ok(&fake, "deleteWebhook", json!({})).await;
    assert_eq!(fake.webhook_info(), None);
    ok(&fake, "setWebhook", json!({"url": ""})).await;
    assert_eq!(
        call_status(&fake, "setWebhook", json!({"url": url})).await,
        (429, too_many.clone())
    );

    // A second after the last call taken: taken.
    tokio::time::advance(Duration::from_secs(1)).await;
    ok(&fake, "setWebhook", json!({"url": url})).await;
    assert_eq!(fake.webhook_info(), Some(hooked()));
    // A refused URL counts as a call.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        err(&fake, "setWebhook", json!({"url": "ftp://example.com/"})).await,
        "Bad Request: invalid webhook URL specified"
    );
    assert_eq!(
        call_status(&fake, "setWebhook", json!({"url": url})).await,
        (429, too_many.clone())
    );
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(
        call_status(&fake, "setWebhook", json!({"url": url})).await,
        (429, too_many)
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    ok(&fake, "setWebhook", json!({"url": url})).await;

    // A test of many webhooks in a row may lift the limit.
    fake.limit_set_webhook_rate(false);
    ok(
        &fake,
        "setWebhook",
        json!({"url": url, "secret_token": "s"}),
    )
    .await;
    assert_no_violations(&fake);
}
