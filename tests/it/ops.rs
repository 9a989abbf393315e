//! castellan run like a service: health, metrics, webhooks, replicas.

use std::time::Duration;

use serde_json::Value;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fake_bot_api::{BusinessRights, MemberStatus};

use crate::app::{TestApp, free_local_addr};
use crate::db::{Backend, TestDb};
use crate::proxy::TcpProxy;

crate::backend_tests!(
    health_and_metrics_over_http,
    webhook_mode_takes_telegrams_posts_and_only_those,
);

const SECRET: &str = "webhook-s3cret_X";
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("reqwest: {e}"))
}

async fn health_and_metrics_over_http(backend: Backend) {
    let addr = free_local_addr();
    let Some(app) = TestApp::spawn_with(
        backend,
        &[
            ("HTTP_ADDR", &addr.to_string()),
            ("METRICS_TOKEN", "sesame-42"),
        ],
    )
    .await
    else {
        return;
    };
    let http = client();
    let base = format!("http://{addr}");

    let health = http.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let body: Value = health.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "database": "ok", "telegram": "ok"})
    );

    let user = app.tg.add_user("Ann");
    app.pm(user, "/id").await;
    app.tg.send_text(user, user, "hello");
    // Nothing answers the chatter: the next message is /start's answer.
    app.tg
        .assert_next_is_answer_to(user, user, "/start", |answer, _| {
            answer.text.starts_with("Hi")
        })
        .await;

    for auth in [
        None,
        Some("Bearer wrong"),
        Some("sesame-42"),
        Some("Basic sesame-42"),
    ] {
        let mut request = http.get(format!("{base}/metrics"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{auth:?}");
    }
    let response = http
        .get(format!("{base}/metrics"))
        .header("authorization", "Bearer sesame-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for needle in [
        "castellan_updates_total{kind=\"message\"}",
        "castellan_commands_total{command=\"id\",outcome=\"ok\"} 1",
        "castellan_telegram_requests_total{method=\"SendMessage\",outcome=\"ok\"}",
        "castellan_telegram_requests_total{method=\"GetUpdates\",outcome=\"ok\"}",
        "castellan_handler_duration_seconds_count",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    // What users write never becomes a label.
    assert!(!text.contains("hello"), "{text}");

    // The container's probe: `castellan healthcheck`.
    assert_eq!(healthcheck(&addr.to_string()).await, Some(0));
    assert_eq!(healthcheck(&free_local_addr().to_string()).await, Some(1));
}

async fn healthcheck(http_addr: &str) -> Option<i32> {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    tokio::process::Command::new(env!("CARGO_BIN_EXE_castellan"))
        .arg("healthcheck")
        .current_dir(dir.path())
        .env("HTTP_ADDR", http_addr)
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run castellan healthcheck: {e}"))
        .status
        .code()
}

/// The health check says 503, naming the database, while PostgreSQL is
/// away, and never waits long to say it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_names_a_database_outage() {
    let Some(db) = TestDb::new(Backend::Postgres).await else {
        return;
    };
    let (db, proxy) = behind_proxy(db).await;
    let addr = free_local_addr();
    let app = TestApp::spawn_on_with(db, &[("HTTP_ADDR", &addr.to_string())]).await;
    let http = client();
    let url = format!("http://{addr}/health");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    proxy.cut().await;
    let response = http
        .get(&url)
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .unwrap_or_else(|e| panic!("the health check must answer quickly: {e}"));
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["database"], "unavailable");
    assert_eq!(body["telegram"], "ok");
    assert_eq!(body["status"], "unavailable");

    proxy.restore().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while http.get(&url).send().await.unwrap().status() != 200 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never healthy again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(app);
}

/// `db` reached through a proxy the test can cut.
pub async fn behind_proxy(mut db: TestDb) -> (TestDb, std::sync::Arc<TcpProxy>) {
    let mut url = url::Url::parse(&db.url).unwrap_or_else(|e| panic!("{e}"));
    let upstream = format!(
        "{}:{}",
        url.host_str().unwrap_or("127.0.0.1"),
        url.port().unwrap_or(5432)
    );
    let upstream = tokio::net::lookup_host(&upstream)
        .await
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| panic!("cannot resolve {upstream}"));
    let proxy = TcpProxy::start(upstream).await;
    let _ = url.set_host(Some("127.0.0.1"));
    let _ = url.set_port(Some(proxy.addr().port()));
    db.url = url.to_string();
    (db, proxy)
}

/// A message update as Telegram would post it.
fn message_update(update_id: i64, user: i64, text: &str) -> Value {
    serde_json::json!({
        "update_id": update_id,
        "message": {
            "message_id": 1, "date": 1_700_000_000,
            "chat": {"id": user, "type": "private", "first_name": "Ann"},
            "from": {"id": user, "is_bot": false, "first_name": "Ann"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": text.len()}]
        }
    })
}

async fn webhook_mode_takes_telegrams_posts_and_only_those(backend: Backend) {
    let addr = free_local_addr();
    let url = format!("http://127.0.0.1:{}/telegram/updates", addr.port());
    let Some(mut app) = TestApp::spawn_with(
        backend,
        &[
            ("HTTP_ADDR", &addr.to_string()),
            ("WEBHOOK_URL", &url),
            ("WEBHOOK_SECRET", SECRET),
        ],
    )
    .await
    else {
        return;
    };
    let info = app
        .tg
        .webhook_info()
        .unwrap_or_else(|| panic!("no webhook set"));
    assert_eq!(info.url, url);
    assert_eq!(info.secret_token.as_deref(), Some(SECRET));
    let allowed = info.allowed_updates.unwrap_or_default();
    for kind in [
        "message",
        "callback_query",
        "chat_member",
        "my_chat_member",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
    ] {
        assert!(
            allowed.iter().any(|a| a == kind),
            "{kind} not asked for: {allowed:?}"
        );
    }

    // Telegram posts; castellan answers.
    let user = app.tg.add_user("Ann");
    assert_eq!(app.pm(user, "/id").await.text, format!("Your id: {user}"));
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    assert!(app.tg.requests_for("getUpdates").is_empty());

    // Anyone else is refused and nothing is processed.
    let http = client();
    let forged = message_update(777_001, user, "/id");
    for secret in [None, Some("wrong"), Some("webhook-s3cret_")] {
        let mut request = http.post(&url).json(&forged);
        if let Some(secret) = secret {
            request = request.header(SECRET_HEADER, secret);
        }
        assert_eq!(request.send().await.unwrap().status(), 401, "{secret:?}");
    }
    // Had a forged /id been processed, its answer would come before this.
    app.tg
        .assert_next_is_answer_to(user, user, "/start", |answer, _| {
            answer.text.starts_with("Hi")
        })
        .await;

    // Stopping one castellan leaves the webhook for the others.
    app.stop().await;
    assert!(app.tg.requests_for("deleteWebhook").is_empty());
    assert!(app.tg.webhook_info().is_some());
}

/// A load balancer in front of replicas: posts go to the one the test
/// picks, or to each in turn.
struct Balancer {
    targets: Vec<String>,
    /// An index into `targets`, or `ROUND_ROBIN`.
    pick: AtomicUsize,
    turn: AtomicUsize,
    http: reqwest::Client,
}

const ROUND_ROBIN: usize = usize::MAX;

impl Balancer {
    async fn start(targets: Vec<String>) -> (SocketAddr, Arc<Balancer>) {
        let balancer = Arc::new(Balancer {
            targets,
            pick: AtomicUsize::new(ROUND_ROBIN),
            turn: AtomicUsize::new(0),
            http: client(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(forward))
            .with_state(Arc::clone(&balancer));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (addr, balancer)
    }

    fn send_to(&self, target: usize) {
        self.pick.store(target, Ordering::SeqCst);
    }
}

async fn forward(
    State(balancer): State<Arc<Balancer>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let index = match balancer.pick.load(Ordering::SeqCst) {
        ROUND_ROBIN => balancer.turn.fetch_add(1, Ordering::SeqCst) % balancer.targets.len(),
        picked => picked,
    };
    let mut request = balancer
        .http
        .post(&balancer.targets[index])
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = headers.get(SECRET_HEADER) {
        request = request.header(SECRET_HEADER, secret);
    }
    match request.send().await {
        Ok(response) => {
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)
        }
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

/// Two castellans behind a load balancer on one PostgreSQL behave as one
/// bot: an admin change one of them hears reaches the other at once, and a
/// business connection neither knew is fetched once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_behave_as_one_bot() {
    let (a, b) = (free_local_addr(), free_local_addr());
    let (lb, balancer) =
        Balancer::start(vec![format!("http://{a}/hook"), format!("http://{b}/hook")]).await;
    let webhook_url = format!("http://{lb}/hook");
    let replica = |addr: SocketAddr| {
        vec![
            ("HTTP_ADDR".to_owned(), addr.to_string()),
            ("WEBHOOK_URL".to_owned(), webhook_url.clone()),
            ("WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
        ]
    };
    let settings_a = replica(a);
    let settings_a: Vec<(&str, &str)> = settings_a
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let Some(app) = TestApp::spawn_with(Backend::Postgres, &settings_a).await else {
        return;
    };
    let settings_b = replica(b);
    let settings_b: Vec<(&str, &str)> = settings_b
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut second = app.spawn_replica(&settings_b).await;

    // B learns Ada is an admin (the bot is one: the list is cached). The
    // setup's own member updates go to B too, so no announcement from A is
    // still on its way.
    balancer.send_to(1);
    let (chat, _owner) = app.group_with_owner("Team");
    app.tg.set_bot_status(chat, MemberStatus::Administrator);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    let reply = app.say(ada, chat, "/allowconnect").await;
    assert!(reply.text.starts_with("Members may"), "{}", reply.text);
    let reply = app.say(ada, chat, "/allowconnect").await;
    assert!(reply.text.starts_with("Members may"), "{}", reply.text);
    assert_eq!(
        app.tg.requests_for("getChatAdministrators").len(),
        1,
        "B cached it"
    );

    // A hears she was demoted…
    balancer.send_to(0);
    app.tg.change_member(chat, ada, MemberStatus::Member);
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    // …and B knows at once.
    balancer.send_to(1);
    let reply = app.say(ada, chat, "/allowconnect").await;
    assert_eq!(reply.text, "Only admins can use /allowconnect.");

    // A business connection neither replica has seen, its messages spread
    // over both at once (each a #name: only those need the connection):
    // one getBusinessConnection between them.
    balancer.send_to(ROUND_ROBIN);
    let owner = app.tg.add_user("Olga");
    let id = app
        .tg
        .connect_business_silently(owner, Some(BusinessRights::reply()));
    for i in 0..12 {
        let customer = app.tg.add_user(&format!("Customer {i}"));
        app.tg.business_message(&id, customer, "#hello");
    }
    app.tg.wait_webhook_idle(Duration::from_secs(10)).await;
    assert_eq!(app.tg.business_connection_requests().len(), 1);

    second.stop().await;
    assert!(app.tg.requests_for("deleteWebhook").is_empty());
}
