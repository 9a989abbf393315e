//! `HTTP_ADDR` facing the open internet: posts without the secret refused
//! before their body, bodies capped, slow and silent clients timed out and
//! unable to lock Telegram out, refusals logged once a minute, and
//! `/health` asking Telegram once for a crowd.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use castellan::http::{HttpState, Limits};
use castellan::metrics::Metrics;
use castellan::telegram::Telegram;
use fake_bot_api::{BOT_TOKEN, FakeTelegram, Fault};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout};

use crate::app::{TestApp, free_local_addr};
use crate::db::{Backend, TestDb};

const SECRET: &str = "edge_s3cret-token";
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
const MIB: u64 = 1024 * 1024;
const PATH: &str = "/telegram/updates";

/// A castellan in webhook mode with the default limits, on SQLite (the
/// HTTP edge does not depend on the backend).
async fn webhook_app() -> (TestApp, SocketAddr) {
    let addr = free_local_addr();
    let url = format!("http://127.0.0.1:{}{PATH}", addr.port());
    let app = TestApp::spawn_with(
        Backend::Sqlite,
        &[
            ("HTTP_ADDR", &addr.to_string()),
            ("WEBHOOK_URL", &url),
            ("WEBHOOK_SECRET", SECRET),
        ],
    )
    .await
    .unwrap_or_else(|| panic!("SQLite tests always run"));
    (app, addr)
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap_or_else(|e| panic!("reqwest: {e}"))
}

/// The status of the HTTP response read from `reader`; `None` when the
/// connection ends (or fails) before a whole response head came.
async fn read_status(reader: &mut (impl AsyncRead + Unpin)) -> Option<u16> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = reader.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(end) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&head[..end]).ok()?;
            return head.split(' ').nth(1)?.parse().ok();
        }
    }
}

/// Reads (and ignores) whatever comes until the server closes the
/// connection; how long that took, or `None` if it did not within `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|()| started.elapsed())
}

/// How a post with a large body went.
#[derive(Debug)]
struct BigPost {
    status: Option<u16>,
    /// From the first byte sent to the answer's head.
    answered_after: Duration,
    /// Body bytes the client had written when the answer came.
    sent_when_answered: u64,
    /// How the client's sending ended: `Some(true)` all written,
    /// `Some(false)` the server closed the connection, `None` still stuck.
    sent_all: Option<bool>,
}

/// Posts a body of `length` bytes (streamed in 64 KiB writes, as
/// `Content-Length` or chunked) while reading the answer.
async fn big_post(addr: SocketAddr, secret: Option<&str>, length: u64, chunked: bool) -> BigPost {
    let stream = TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"));
    let (mut reader, mut writer) = stream.into_split();
    let mut head =
        format!("POST {PATH} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n");
    if let Some(secret) = secret {
        head += &format!("{SECRET_HEADER}: {secret}\r\n");
    }
    if chunked {
        head += "Transfer-Encoding: chunked\r\n\r\n";
    } else {
        head += &format!("Content-Length: {length}\r\n\r\n");
    }
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let sender = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await?;
            let chunk = vec![b' '; 64 * 1024];
            let mut left = length;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if chunked {
                    writer.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                    writer.write_all(&chunk[..n]).await?;
                    writer.write_all(b"\r\n").await?;
                } else {
                    writer.write_all(&chunk[..n]).await?;
                }
                sent.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
            if chunked {
                writer.write_all(b"0\r\n\r\n").await?;
            }
            Ok::<(), io::Error>(())
        })
    };
    let status = timeout(Duration::from_secs(10), read_status(&mut reader))
        .await
        .ok()
        .flatten();
    let answered_after = started.elapsed();
    let sent_when_answered = sent.load(Ordering::SeqCst);
    let sent_all = match timeout(Duration::from_secs(10), sender).await {
        Ok(Ok(Ok(()))) => Some(true),
        Ok(Ok(Err(_))) => Some(false),
        Ok(Err(e)) => panic!("the sender failed: {e}"),
        Err(_) => None,
    };
    BigPost {
        status,
        answered_after,
        sent_when_answered,
        sent_all,
    }
}

/// The value of a metric without labels on `/metrics`.
async fn metric(addr: SocketAddr, name: &str) -> f64 {
    let text = http_client()
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("/metrics: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("/metrics: {e}"));
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing from:\n{text}"))
}

/// A post without the secret (or with a wrong one) is answered 401 from
/// its header alone: a 50 MiB body is not read. The client sees the 401
/// long before it could have sent the body, and the server then closes the
/// connection, so the rest never goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_without_the_secret_are_refused_before_their_body() {
    let (_app, addr) = webhook_app().await;
    for secret in [None, Some("wrong"), Some(&SECRET[1..])] {
        let post = big_post(addr, secret, 50 * MIB, false).await;
        assert_eq!(post.status, Some(401), "{secret:?}: {post:?}");
        assert!(
            post.answered_after < Duration::from_secs(2),
            "{secret:?}: {post:?}"
        );
        assert!(post.sent_when_answered < 50 * MIB, "{secret:?}: {post:?}");
        assert_eq!(
            post.sent_all,
            Some(false),
            "{secret:?}: the server must close the connection without reading the body: {post:?}"
        );
    }
    assert_eq!(metric(addr, "castellan_webhook_refused_total").await, 3.0);
}

/// Bodies are capped at 1 MiB: one byte more is 413 (exactly 1 MiB is
/// read, and refused only for not being JSON); a 50 MiB body with the
/// secret is refused from its length, and a chunked one as soon as it
/// passes the cap, neither read whole. Telegram's posts still go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_a_mebibyte_are_refused_unread() {
    let (app, addr) = webhook_app().await;
    let http = http_client();
    let url = format!("http://{addr}{PATH}");
    for (length, status) in [(MIB + 1, 413), (MIB, 400)] {
        let response = http
            .post(&url)
            .header(SECRET_HEADER, SECRET)
            .body(vec![b' '; length as usize])
            .send()
            .await
            .unwrap_or_else(|e| panic!("{length}: {e}"));
        assert_eq!(response.status(), status, "{length} bytes");
    }

    for chunked in [false, true] {
        let post = big_post(addr, Some(SECRET), 50 * MIB, chunked).await;
        assert_eq!(post.status, Some(413), "chunked: {chunked}: {post:?}");
        assert!(
            post.answered_after < Duration::from_secs(3),
            "chunked: {chunked}: {post:?}"
        );
        assert!(post.sent_when_answered < 50 * MIB, "{post:?}");
        assert_eq!(post.sent_all, Some(false), "chunked: {chunked}: {post:?}");
    }

    let user = app.tg.add_user("Ann");
    assert_eq!(app.pm(user, "/id").await.text, format!("Your id: {user}"));
}

/// A slow-loris crowd: 1,000 connections that each send half a request
/// header and then nothing. The server keeps at most 512 connections (it
/// closes the ones that waited longest), so Telegram's post and `/health`
/// are answered at once while the crowd hangs on, and a stop is quick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_do_not_lock_telegram_out() {
    let (mut app, addr) = webhook_app().await;
    let crowd = timeout(Duration::from_secs(60), async {
        let mut crowd = Vec::with_capacity(1000);
        for i in 0..1000 {
            let mut stream = TcpStream::connect(addr)
                .await
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            stream
                .write_all(format!("POST {PATH} HTTP/1.1\r\nHost: castellan\r\nContent-").as_bytes())
                .await
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            crowd.push(stream);
        }

        let started = Instant::now();
        let user = app.tg.add_user("Ann");
        let reply = timeout(Duration::from_secs(5), app.pm(user, "/id"))
            .await
            .unwrap_or_else(|_| panic!("Telegram's post was not answered within 5 s"));
        assert_eq!(reply.text, format!("Your id: {user}"));
        let health = http_client()
            .get(format!("http://{addr}/health"))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .unwrap_or_else(|e| panic!("/health was not answered: {e}"));
        assert_eq!(health.status(), 200);
        assert!(started.elapsed() < Duration::from_secs(5));

        // The server closed the connections beyond its cap.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let open = crowd
                .iter()
                .filter(|stream| {
                    let mut buf = [0u8; 64];
                    matches!(stream.try_read(&mut buf), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                })
                .count();
            if open <= 512 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{open} of the 1,000 half-open connections are still open"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The cap did it, not a timeout: each new connection took the
        // place of the oldest.
        let evicted = metric(addr, "castellan_http_connections_evicted_total").await;
        assert!(evicted >= 488.0, "{evicted} evicted");
        crowd
    })
    .await
    .unwrap_or_else(|_| panic!("the test took over a minute"));

    // Half-open connections do not hold a stop up.
    let stopping = Instant::now();
    app.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(3),
        "the stop took {:?}",
        stopping.elapsed()
    );
    drop(crowd);
}

/// A header that never ends, a keep-alive connection left idle and a body
/// that stalls are each cut off after 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_bodies_and_idle_connections_are_cut_off() {
    let (_app, addr) = webhook_app().await;
    let within = Duration::from_secs(15);
    let connect = || async {
        TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"))
    };
    let half_header = async {
        let mut stream = connect().await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: castellan\r\n")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        closed_within(&mut stream, within).await
    };
    let idle = async {
        let mut stream = connect().await;
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: castellan\r\n\r\n")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let status = timeout(Duration::from_secs(5), read_status(&mut stream)).await;
        assert_eq!(status.ok().flatten(), Some(200), "/health was not answered");
        closed_within(&mut stream, within).await
    };
    let slow_body = async {
        let mut stream = connect().await;
        let head = format!(
            "POST {PATH} HTTP/1.1\r\nHost: castellan\r\n{SECRET_HEADER}: {SECRET}\r\nContent-Length: 1000\r\n\r\n{{\"update_id\""
        );
        stream
            .write_all(head.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let started = Instant::now();
        let status = timeout(within, read_status(&mut stream))
            .await
            .ok()
            .flatten();
        (status, started.elapsed())
    };
    let (half_header, idle, (status, slow_body)) = timeout(Duration::from_secs(30), async {
        tokio::join!(half_header, idle, slow_body)
    })
    .await
    .unwrap_or_else(|_| panic!("the test took over 30 s"));
    let ten = Duration::from_secs(9)..Duration::from_secs(13);
    let half_header = half_header.unwrap_or_else(|| panic!("a half header was never cut off"));
    assert!(ten.contains(&half_header), "half header: {half_header:?}");
    let idle = idle.unwrap_or_else(|| panic!("an idle connection was never closed"));
    assert!(ten.contains(&idle), "idle: {idle:?}");
    assert_eq!(status, Some(408), "a stalled body after {slow_body:?}");
    assert!(ten.contains(&slow_body), "stalled body: {slow_body:?}");
}

/// Log lines written while it is the default subscriber.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn lines_with(&self, needle: &str) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// 1,000 posts with a wrong or no secret: each refused and counted, one
/// log line for them all. (Single-threaded, so that every task of the bot
/// logs to this test's subscriber.)
#[tokio::test]
async fn a_flood_of_refused_posts_is_logged_once() {
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    let _logging = tracing::subscriber::set_default(subscriber);

    let (_app, addr) = webhook_app().await;
    let http = http_client();
    let url = format!("http://{addr}{PATH}");
    for round in 0..20 {
        let posts = (0..50).map(|i| {
            let mut request = http.post(&url).body(r#"{"update_id": 1}"#);
            if i % 2 == 0 {
                request = request.header(SECRET_HEADER, format!("guess-{round}-{i}"));
            }
            request.send()
        });
        for response in futures::future::join_all(posts).await {
            let response = response.unwrap_or_else(|e| panic!("post: {e}"));
            assert_eq!(response.status(), 401);
        }
    }
    let lines = logs.lines_with("secret token");
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(lines[0].contains("refused=1"), "{}", lines[0]);
    assert_eq!(
        metric(addr, "castellan_webhook_refused_total").await,
        1000.0
    );
}

/// Just the HTTP server, its Telegram client new (it has never heard from
/// Telegram, so `/health` must ask getMe).
struct HealthServer {
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    _db: TestDb,
    _stop: oneshot::Sender<()>,
}

impl HealthServer {
    async fn start(tg: &FakeTelegram) -> HealthServer {
        let db = TestDb::new(Backend::Sqlite)
            .await
            .unwrap_or_else(|| panic!("SQLite tests always run"));
        let metrics = Arc::new(Metrics::new().unwrap_or_else(|e| panic!("metrics: {e}")));
        let api = url::Url::parse(&tg.api_url()).unwrap_or_else(|e| panic!("{e}"));
        let telegram = Telegram::builder(&api, BOT_TOKEN)
            .send_limits(None)
            .metrics(Arc::clone(&metrics))
            .build();
        let state = Arc::new(HttpState {
            store: db.open().await,
            telegram,
            metrics: Arc::clone(&metrics),
            metrics_token: None,
            webhook: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(castellan::http::serve(
            listener,
            state,
            Limits::default(),
            async move {
                let _ = stopped.await;
            },
        ));
        HealthServer {
            addr,
            metrics,
            _db: db,
            _stop: stop,
        }
    }

    /// `n` `/health` requests at once: each status and body.
    async fn crowd(&self, n: usize) -> Vec<(u16, Value)> {
        let http = http_client();
        let url = format!("http://{}/health", self.addr);
        let asks = (0..n).map(|_| async {
            let response = http
                .get(&url)
                .timeout(Duration::from_secs(3))
                .send()
                .await
                .unwrap_or_else(|e| panic!("/health: {e}"));
            let status = response.status().as_u16();
            let body = response
                .json()
                .await
                .unwrap_or_else(|e| panic!("/health: {e}"));
            (status, body)
        });
        futures::future::join_all(asks).await
    }

    /// getMe calls tried, answered or not.
    fn get_me_tries(&self) -> u64 {
        let text = self
            .metrics
            .render()
            .unwrap_or_else(|e| panic!("metrics: {e}"));
        text.lines()
            .filter(|line| line.starts_with("castellan_telegram_requests_total{method=\"GetMe\""))
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }
}

/// 200 `/health` at once while Telegram's last answer is not fresh (and
/// getMe takes half a second): one getMe between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_polling_health_costs_one_get_me() {
    let tg = FakeTelegram::start().await;
    tg.fail_next("getMe", Fault::Stall(Duration::from_millis(500)), 1000);
    let server = HealthServer::start(&tg).await;
    for (status, body) in server.crowd(200).await {
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["telegram"], "ok");
    }
    assert_eq!(tg.requests_for("getMe").len(), 1);
    // Telegram answered: it is fresh, and is not asked again.
    server.crowd(50).await;
    assert_eq!(tg.requests_for("getMe").len(), 1);
}

/// With Telegram unreachable, `/health` says so (503) at once; a crowd
/// shares one getMe, whose failure is kept a few seconds before Telegram
/// is tried again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_says_telegram_is_unavailable_when_it_is_offline() {
    let tg = FakeTelegram::start().await;
    tg.go_offline().await;
    let server = HealthServer::start(&tg).await;
    let started = Instant::now();
    for (status, body) in server.crowd(200).await {
        assert_eq!(status, 503, "{body}");
        assert_eq!(
            body,
            serde_json::json!({"status": "unavailable", "database": "ok", "telegram": "unavailable"})
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.get_me_tries(), 1);

    // Back online: the failure is kept a few seconds, then getMe is tried
    // once more and health comes back.
    tg.go_online().await;
    let (status, _) = server.crowd(1).await.remove(0);
    assert_eq!(status, 503, "the failed getMe is kept for a few seconds");
    assert_eq!(server.get_me_tries(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.crowd(1).await[0].0 != 200 {
        assert!(Instant::now() < deadline, "never healthy again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(server.get_me_tries(), 2);
}
