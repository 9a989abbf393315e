//! castellan run like a service: health, metrics, webhooks, replicas.

use std::time::Duration;

use serde_json::Value;

use crate::app::{TestApp, free_local_addr};
use crate::db::{Backend, TestDb};
use crate::proxy::TcpProxy;

crate::backend_tests!(health_and_metrics_over_http);

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
    app.tg
        .assert_no_message(user, Duration::from_millis(300))
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
