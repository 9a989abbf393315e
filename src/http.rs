//! The HTTP side of castellan, on `HTTP_ADDR`: `/health` for orchestrators,
//! `/metrics` for Prometheus, and in webhook mode the path Telegram posts
//! updates to.
//!
//! `HTTP_ADDR` may face the internet without a proxy in front, so the
//! server keeps to [`Limits`]: a webhook post is judged by its secret
//! header before a byte of its body is read, bodies are capped, headers and
//! bodies must arrive in time, and the number of open connections is
//! capped in a way a crowd of slow or silent clients cannot use to lock
//! Telegram out (see `Connections`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::future::{BoxFuture, Shared};
use futures::{FutureExt, StreamExt};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use prometheus::{IntCounter, IntGauge};
use serde_json::json;
use subtle::ConstantTimeEq;
use teloxide::payloads::GetMe;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Secret, parse_http_addr};
use crate::intake::{Intake, Outcome};
use crate::metrics::{LogEvery, Metrics};
use crate::store::Store;
use crate::telegram::{RetryPolicy, Telegram};
use crate::updates::{parse_update_text, update_kind};

/// How long each health probe may take; the two run side by side.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Telegram counts as reachable if it answered this recently; otherwise the
/// health check asks getMe.
const TELEGRAM_FRESH: Duration = Duration::from_secs(60);
/// How long the health check keeps the answer of its own getMe: a crowd
/// polling `/health` costs Telegram one call per this at most.
const GET_ME_KEPT: Duration = Duration::from_secs(5);
/// Telegram's header carrying the webhook's secret token.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// At most one log line per this about the same kind of refusal.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// The largest request header block read (hyper's read buffer).
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What the HTTP server allows a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections open at once. At the cap a new connection closes the
    /// idle or half-open one (no request being answered) that has waited
    /// longest; only when every one is answering a request does it wait.
    pub max_connections: usize,
    /// How long a request's header may take to arrive; also how long a
    /// keep-alive connection may stay idle.
    pub header_timeout: Duration,
    /// How long a webhook post's body may take to arrive (408 past it).
    pub body_timeout: Duration,
    /// The largest webhook post body (413 above it); no update comes near.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
        }
    }
}

pub struct HttpState {
    pub store: Arc<dyn Store>,
    pub telegram: Telegram,
    pub metrics: Arc<Metrics>,
    pub metrics_token: Option<Secret>,
    pub webhook: Option<WebhookRoute>,
}

/// Where and how Telegram's posts are taken in webhook mode.
pub struct WebhookRoute {
    /// The path of `WEBHOOK_URL`.
    pub path: String,
    pub secret: Secret,
    pub intake: Arc<Intake>,
}

/// What the handlers share: the state the app gave, and the server's own.
struct Served {
    state: Arc<HttpState>,
    limits: Limits,
    /// The database ping of `/health`: one at a time, shared by whoever
    /// asks meanwhile.
    database: Arc<Probe>,
    /// The getMe of `/health`: one at a time, its answer kept a while.
    telegram: Arc<Probe>,
    /// Posts refused for their secret: counted, logged once a minute.
    refused_log: Mutex<LogEvery>,
}

fn router(served: Arc<Served>) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics));
    if let Some(webhook) = &served.state.webhook {
        router = router.route(&webhook.path, post(webhook_update));
    }
    router.with_state(served)
}

/// Serves HTTP on `listener` within `limits` until `shutdown` resolves;
/// then takes no new connection, closes the idle and half-open ones at
/// once, and returns when the requests in flight have been answered.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Connections::new(
        limits.max_connections,
        state.metrics.http_evicted.clone(),
        state.metrics.http_connections.clone(),
    ));
    let served = Arc::new(Served {
        state,
        limits,
        database: Arc::new(Probe::new(Duration::ZERO)),
        telegram: Arc::new(Probe::new(GET_ME_KEPT)),
        refused_log: Mutex::new(LogEvery::default()),
    });
    let service = TowerToHyperService::new(router(served));
    let mut http1 = hyper::server::conn::http1::Builder::new();
    http1
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(MAX_HEADER_BYTES)
        .keep_alive(true);
    let http1 = Arc::new(http1);
    let stop = CancellationToken::new();
    let mut accept_errors = LogEvery::default();
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);

    'accept: loop {
        while tasks.try_join_next().is_some() {}
        let stream = tokio::select! {
            biased;
            () = &mut shutdown => break 'accept,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    if !is_connection_error(&error) {
                        // Out of file descriptors, say: give it a moment.
                        if let Some(count) = accept_errors.tick(tokio::time::Instant::now(), LOG_EVERY) {
                            tracing::warn!(%error, count, "cannot accept HTTP connections");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
        };
        // Make room: at the cap, the longest-waiting idle or half-open
        // connection goes; if every one is answering, wait for one.
        let conn = loop {
            let changed = connections.changed.notified();
            if let Some(conn) = connections.admit() {
                break conn;
            }
            tokio::select! {
                biased;
                () = &mut shutdown => break 'accept,
                () = changed => {}
            }
        };
        let _ = stream.set_nodelay(true);
        tasks.spawn(serve_connection(
            stream,
            Arc::clone(&http1),
            service.clone(),
            conn,
            Arc::clone(&connections),
            stop.clone(),
        ));
    }

    drop(listener);
    // Requests in flight are answered, then their connections close; the
    // others have nothing to finish.
    stop.cancel();
    connections.close_idle();
    while tasks.join_next().await.is_some() {}
}

/// Errors of one connection that came and went before it was accepted:
/// nothing is wrong with the listener.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset | Interrupted
    )
}

async fn serve_connection(
    stream: TcpStream,
    http1: Arc<hyper::server::conn::http1::Builder>,
    service: TowerToHyperService<Router>,
    conn: Arc<Conn>,
    connections: Arc<Connections>,
    stop: CancellationToken,
) {
    // However the task ends, the connection leaves the books.
    let _open = OpenGuard {
        conn: Arc::clone(&conn),
        connections: Arc::clone(&connections),
    };
    let service = ConnService {
        inner: service,
        conn: Arc::clone(&conn),
        connections,
    };
    let connection = http1.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    // Timeouts, resets, malformed requests: the client's
                    // business, and an attacker's way to fill the log.
                    tracing::debug!(%error, "an HTTP connection ended with an error");
                }
                return;
            }
            () = conn.closed.cancelled() => return,
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Takes a connection off the books when its task ends.
struct OpenGuard {
    conn: Arc<Conn>,
    connections: Arc<Connections>,
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.connections.remove(self.conn.id);
    }
}

/// The router behind one connection, keeping that connection's books: a
/// connection answering a request is never closed to make room.
#[derive(Clone)]
struct ConnService {
    inner: TowerToHyperService<Router>,
    conn: Arc<Conn>,
    connections: Arc<Connections>,
}

impl hyper::service::Service<Request<Incoming>> for ConnService {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        if !self.conn.begin() {
            // Chosen to make room (or a stop) just as this request came:
            // the connection closes with this answer.
            let response = (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONNECTION, "close")],
            )
                .into_response();
            return Box::pin(std::future::ready(Ok(response)));
        }
        let busy = BusyGuard {
            conn: Arc::clone(&self.conn),
            connections: Arc::clone(&self.connections),
        };
        let answer = hyper::service::Service::call(&self.inner, request);
        Box::pin(async move {
            let response = answer.await;
            drop(busy);
            response
        })
    }
}

/// Marks a connection idle again when its request has been answered (or
/// abandoned).
struct BusyGuard {
    conn: Arc<Conn>,
    connections: Arc<Connections>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.conn.end(self.connections.now());
        self.connections.changed.notify_one();
    }
}

/// `Conn::state` of a connection chosen to be closed.
const CLOSING: u32 = u32::MAX;

/// One open connection.
struct Conn {
    id: u64,
    /// Requests being answered (HTTP/1.1: 0 or 1), or [`CLOSING`].
    state: AtomicU32,
    /// When it last started waiting (accepted, or answered a request), in
    /// nanoseconds since [`Connections::epoch`].
    waiting_since: AtomicU64,
    /// Cancelled when it is to close at once.
    closed: CancellationToken,
}

impl Conn {
    /// A request came: false when the connection is closing.
    fn begin(&self) -> bool {
        self.state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != CLOSING).then(|| state + 1)
            })
            .is_ok()
    }

    fn end(&self, now: u64) {
        self.waiting_since.store(now, Ordering::Release);
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |state| {
                (state != CLOSING && state > 0).then(|| state - 1)
            });
    }

    /// Marks it closing if no request is being answered on it.
    fn try_close(&self) -> bool {
        let idle = self
            .state
            .compare_exchange(0, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if idle {
            self.closed.cancel();
        }
        idle
    }
}

/// The open connections, capped.
///
/// A cap alone (a semaphore) would be a lock for an attacker to hold: open
/// as many connections as it allows, send half a header on each, and
/// Telegram waits in the kernel's queue until they time out, while the
/// attacker opens new ones. Here, at the cap, a new connection takes the
/// place of the one that has waited longest without a request being
/// answered on it (silent, half-open, idle keep-alive or slow to read its
/// answer): an attacker's connections are always older than Telegram's
/// newest, which sends its request at once and is then being answered.
/// Every request this server answers is short (a webhook post with the
/// secret is the only one whose body is read), so connections answering a
/// request free up quickly; only while all of them are does a new one wait.
struct Connections {
    max: usize,
    epoch: Instant,
    open: Mutex<HashMap<u64, Arc<Conn>>>,
    next_id: AtomicU64,
    /// A connection closed or finished a request.
    changed: Notify,
    evicted: IntCounter,
    gauge: IntGauge,
}

impl Connections {
    fn new(max: usize, evicted: IntCounter, gauge: IntGauge) -> Self {
        Connections {
            max: max.max(1),
            epoch: Instant::now(),
            open: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            changed: Notify::new(),
            evicted,
            gauge,
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Conn>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new connection, closing the longest-waiting idle one
    /// at the cap; `None` when every open connection is answering.
    fn admit(&self) -> Option<Arc<Conn>> {
        let mut open = self.lock();
        while open.len() >= self.max {
            let oldest = open
                .values()
                .filter(|conn| conn.state.load(Ordering::Acquire) == 0)
                .min_by_key(|conn| conn.waiting_since.load(Ordering::Acquire))
                .cloned()?;
            // It may have taken a request meanwhile: then look again.
            if oldest.try_close() {
                open.remove(&oldest.id);
                self.evicted.inc();
            }
        }
        let conn = Arc::new(Conn {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            state: AtomicU32::new(0),
            waiting_since: AtomicU64::new(self.now()),
            closed: CancellationToken::new(),
        });
        open.insert(conn.id, Arc::clone(&conn));
        self.gauge.set(gauge_value(open.len()));
        Some(conn)
    }

    fn remove(&self, id: u64) {
        let mut open = self.lock();
        if open.remove(&id).is_some() {
            self.gauge.set(gauge_value(open.len()));
        }
        drop(open);
        self.changed.notify_one();
    }

    /// A stop: every connection not answering a request closes now.
    fn close_idle(&self) {
        let mut open = self.lock();
        open.retain(|_, conn| !conn.try_close());
        self.gauge.set(gauge_value(open.len()));
    }
}

fn gauge_value(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

/// A check run at most once at a time: whoever asks while it runs shares
/// its answer, which is kept for `keep` after it came. It runs in a task of
/// its own, so a client that goes away does not cut it short (and cannot
/// make it start again).
struct Probe {
    keep: Duration,
    slot: Mutex<ProbeSlot>,
}

#[derive(Default)]
struct ProbeSlot {
    last: Option<(Instant, bool)>,
    running: Option<Shared<BoxFuture<'static, bool>>>,
}

impl Probe {
    fn new(keep: Duration) -> Self {
        Probe {
            keep,
            slot: Mutex::new(ProbeSlot::default()),
        }
    }

    async fn check<F>(self: &Arc<Self>, run: impl FnOnce() -> F) -> bool
    where
        F: Future<Output = bool> + Send + 'static,
    {
        let running = {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((at, ok)) = slot.last
                && at.elapsed() < self.keep
            {
                return ok;
            }
            match &slot.running {
                Some(running) => running.clone(),
                None => {
                    let probe = Arc::clone(self);
                    let check = run();
                    // Holding the slot, so the task cannot record its
                    // answer before it is known to be running.
                    let task = tokio::spawn(async move {
                        let ok = check.await;
                        let mut slot = probe.slot.lock().unwrap_or_else(PoisonError::into_inner);
                        slot.last = Some((Instant::now(), ok));
                        slot.running = None;
                        ok
                    });
                    let running = async move { task.await.unwrap_or(false) }.boxed().shared();
                    slot.running = Some(running.clone());
                    running
                }
            }
        };
        running.await
    }
}

/// 200 when the database answers a ping within a second and Telegram
/// answered recently (or answers getMe now); 503 naming what failed. A
/// crowd asking at once shares one ping and one getMe, and getMe's answer
/// is kept a few seconds: polling `/health` costs Telegram nothing more.
async fn health(State(served): State<Arc<Served>>) -> Response {
    let state = &served.state;
    let store = Arc::clone(&state.store);
    let database = served.database.check(move || async move {
        matches!(
            tokio::time::timeout(PROBE_TIMEOUT, store.ping()).await,
            Ok(Ok(()))
        )
    });
    let telegram = async {
        if state
            .telegram
            .since_last_answer()
            .is_some_and(|since| since < TELEGRAM_FRESH)
        {
            return true;
        }
        let tg = state.telegram.clone();
        served
            .telegram
            .check(move || async move {
                let probe = tg.call_with(GetMe::new(), RetryPolicy::ONCE);
                matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(_)))
            })
            .await
    };
    let (database, telegram) = tokio::join!(database, telegram);
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let status = if database && telegram {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": word(database && telegram),
        "database": word(database),
        "telegram": word(telegram),
    });
    (status, axum::Json(body)).into_response()
}

/// Prometheus text format; with `METRICS_TOKEN`, only for its bearer.
async fn metrics(State(served): State<Arc<Served>>, headers: HeaderMap) -> Response {
    let state = &served.state;
    if let Some(token) = &state.metrics_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or_default();
        if !bool::from(given.ct_eq(token.expose().as_bytes())) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a bearer token is required\n",
            )
                .into_response();
        }
    }
    let (used, idle) = state.store.connections();
    state.metrics.db_connections(used, idle);
    match state.metrics.render() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "the metrics could not be rendered");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Why a webhook post's body was not taken.
enum BodyError {
    TooLarge,
    Broken,
}

/// Reads a body of at most `max` bytes, refusing it as soon as it is more.
async fn read_capped(body: Body, max: usize) -> Result<Bytes, BodyError> {
    let mut chunks = body.into_data_stream();
    let mut read = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if read.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        read.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(read))
}

/// One update posted by Telegram. Answered 200 once it was handled (or had
/// been before): its replies are queued then, not necessarily sent, so the
/// post never waits for a chat's send slots. An update handled elsewhere
/// right now, failed on an outage, or cut off by a stop, is answered 503:
/// Telegram sends it again.
///
/// The secret header is checked before the body is read: a post without
/// it is answered 401 and its body never read (the connection closes).
/// Then a body over [`Limits::max_body`] is answered 413 (at once when its
/// length says so, else as soon as it grows past), and one that does not
/// arrive within [`Limits::body_timeout`] 408.
async fn webhook_update(
    State(served): State<Arc<Served>>,
    headers: HeaderMap,
    body: Body,
) -> StatusCode {
    let Some(webhook) = &served.state.webhook else {
        return StatusCode::NOT_FOUND;
    };
    let given = headers
        .get(SECRET_HEADER)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(webhook.secret.expose().as_bytes())) {
        served.state.metrics.webhook_refused.inc();
        // Anyone may post: one line a minute, however many do.
        let line = served
            .refused_log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .tick(tokio::time::Instant::now(), LOG_EVERY);
        if let Some(refused) = line {
            tracing::warn!(
                refused,
                "webhook posts without the right secret token were refused: {refused} since the last such line (one a minute at most)"
            );
        }
        return StatusCode::UNAUTHORIZED;
    }
    let limits = served.limits;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body as u64) {
        tracing::warn!(
            ?declared,
            "a webhook post larger than the limit was refused"
        );
        return StatusCode::PAYLOAD_TOO_LARGE;
    }
    let body =
        match tokio::time::timeout(limits.body_timeout, read_capped(body, limits.max_body)).await {
            Ok(Ok(body)) => body,
            Ok(Err(BodyError::TooLarge)) => {
                tracing::warn!("a webhook post larger than the limit was refused");
                return StatusCode::PAYLOAD_TOO_LARGE;
            }
            Ok(Err(BodyError::Broken)) => return StatusCode::BAD_REQUEST,
            Err(_) => {
                tracing::warn!("a webhook post whose body did not arrive in time was refused");
                return StatusCode::REQUEST_TIMEOUT;
            }
        };
    let Ok(text) = std::str::from_utf8(&body) else {
        tracing::warn!("a webhook post that is not UTF-8 was refused");
        return StatusCode::BAD_REQUEST;
    };
    let update = match parse_update_text(text) {
        Ok(update) => update,
        Err(error) if error.is_syntax() || error.is_eof() => {
            tracing::warn!(%error, "a webhook post that is not JSON was refused");
            return StatusCode::BAD_REQUEST;
        }
        Err(error) => {
            // Telegram would send it again and again: take it and say so.
            tracing::warn!(%error, "an update that does not parse was skipped");
            return StatusCode::OK;
        }
    };
    served.state.metrics.update(update_kind(&update));
    match webhook.intake.submit(update).outcome().await {
        Outcome::Handled | Outcome::Duplicate | Outcome::Dropped => StatusCode::OK,
        Outcome::Running | Outcome::Failed | Outcome::Cut => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// `castellan healthcheck`: asks the `/health` of the castellan whose
/// `HTTP_ADDR` (environment or `.env`) names, as a container probe does.
pub async fn probe_health_from_env() -> Result<(), String> {
    let _ = dotenvy::dotenv();
    let raw = std::env::var("HTTP_ADDR").map_err(|_| "HTTP_ADDR is not set".to_owned())?;
    let mut addr = parse_http_addr(&raw).map_err(|error| error.to_string())?;
    // Listening on every interface: ask on this machine's own.
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|error| error.to_string())?;
    let response = client
        .get(format!("http://{addr}/health"))
        .send()
        .await
        .map_err(|error| error.without_url().to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        let status = response.status();
        Err(format!(
            "{status}: {}",
            response.text().await.unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn books(max: usize) -> Connections {
        Connections::new(
            max,
            IntCounter::new("evicted", "evicted").unwrap(),
            IntGauge::new("open", "open").unwrap(),
        )
    }

    #[test]
    fn at_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let connections = books(3);
        let [a, b, c] = [(); 3].map(|()| connections.admit().unwrap());
        for (conn, since) in [(&a, 1), (&b, 2), (&c, 3)] {
            conn.waiting_since.store(since, Ordering::Release);
        }
        // B is answering a request: it stays, though older than C.
        assert!(b.begin());
        let d = connections.admit().unwrap();
        assert!(a.closed.is_cancelled() && !a.begin(), "A waited longest");
        let e = connections.admit().unwrap();
        assert!(c.closed.is_cancelled(), "C was the idle one left");
        assert!(!b.closed.is_cancelled());
        // Every connection answering: no room until one is done.
        assert!(d.begin() && e.begin());
        assert!(connections.admit().is_none());
        b.end(connections.now());
        let _f = connections.admit().unwrap();
        assert!(b.closed.is_cancelled());
        assert_eq!(connections.lock().len(), 3);
        assert_eq!(connections.evicted.get(), 3);

        // A stop closes the idle ones and lets the others finish.
        e.end(connections.now());
        connections.close_idle();
        assert!(e.closed.is_cancelled() && !d.closed.is_cancelled());
    }

    #[tokio::test]
    async fn a_probe_runs_once_for_a_crowd_and_keeps_its_answer() {
        let runs = Arc::new(AtomicU32::new(0));
        let run = |runs: &Arc<AtomicU32>| {
            let runs = Arc::clone(runs);
            move || async move {
                runs.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(50)).await;
                false
            }
        };
        let kept = Arc::new(Probe::new(Duration::from_secs(60)));
        let crowd = (0..100).map(|_| kept.check(run(&runs)));
        let answers = futures::future::join_all(crowd).await;
        assert!(answers.iter().all(|ok| !ok));
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(!kept.check(run(&runs)).await);
        assert_eq!(runs.load(Ordering::SeqCst), 1, "the answer is kept");

        // Kept for no time: shared while it runs, run again after.
        runs.store(0, Ordering::SeqCst);
        let shared = Arc::new(Probe::new(Duration::ZERO));
        let crowd = (0..100).map(|_| shared.check(run(&runs)));
        futures::future::join_all(crowd).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        shared.check(run(&runs)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }
}
