//! Webhooks: setWebhook, deleteWebhook and getWebhookInfo as the Bot API
//! server answers them, and the task that delivers the queued updates by
//! HTTP POST while a webhook is set.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, Uri, header};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpStream;
use tokio::task::{AbortHandle, JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::params::{ApiError, ApiResult, Params};
use crate::world::{State, now};
use crate::{BOT_TOKEN, Inner, WebhookConfig, WebhookDelivery};

/// `max_connections` when setWebhook does not give it.
pub(crate) const DEFAULT_MAX_CONNECTIONS: u32 = 40;
/// The pause before an update whose delivery failed is sent again.
pub(crate) const DEFAULT_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long a delivery may take (connection, request, whole answer).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The Bot API server caps a webhook's `Retry-After` at an hour.
const MAX_RETRY_AFTER: u64 = 3600;
/// The largest webhook answer the fake reads (for a method in it).
const MAX_ANSWER: usize = 16 << 20;
/// The `error` of a delivery abandoned by deleteWebhook or setWebhook.
pub(crate) const ABANDONED: &str =
    "abandoned: the webhook was deleted or changed during the request";

pub(crate) const GET_UPDATES_CONFLICT: &str = "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
pub(crate) const TERMINATED_BY_SET_WEBHOOK: &str = "Conflict: terminated by setWebhook request";

// ------------------------------------------------------------------ queues

/// The delivery queue of an update, as the Bot API server keys it (its
/// `webhook_queue_id`): updates of one queue are delivered one at a time,
/// in order; different queues in parallel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct QueueKey {
    class: u8,
    id: i64,
}

/// The queue of an update of `kind` with this payload: messages, edits and
/// channel posts per chat; inline queries, chosen results and callback
/// queries per user (the sender); my_chat_member per chat; chat_member and
/// chat_join_request per user; boosts, reactions and reaction counts per
/// chat (each its own queue); business_connection per account owner;
/// business messages, their edits and deletions per business chat. Other
/// kinds get a queue of their own.
pub(crate) fn queue_key(kind: &str, payload: &Value, update_id: i64) -> QueueKey {
    let chat = || payload["chat"]["id"].as_i64();
    let from = || payload["from"]["id"].as_i64();
    let (class, id) = match kind {
        "message" | "edited_message" | "channel_post" | "edited_channel_post" => (0, chat()),
        "inline_query" => (1, from()),
        "chosen_inline_result" => (2, from()),
        "callback_query" => (3, from()),
        "my_chat_member" => (5, chat()),
        "chat_member" => (6, payload["new_chat_member"]["user"]["id"].as_i64()),
        "chat_join_request" => (6, from()),
        "chat_boost" | "removed_chat_boost" => (7, chat()),
        "message_reaction" => (8, chat()),
        "message_reaction_count" => (9, chat()),
        "business_connection" => (10, payload["user"]["id"].as_i64()),
        "business_message" | "edited_business_message" | "deleted_business_messages" => {
            (11, chat())
        }
        _ => (u8::MAX, None),
    };
    match id {
        Some(id) => QueueKey { class, id },
        None => QueueKey {
            class: u8::MAX,
            id: update_id,
        },
    }
}

// ------------------------------------------------------------------- state

/// A webhook set by setWebhook.
#[derive(Debug)]
pub(crate) struct Hook {
    pub url: String,
    pub secret: Option<String>,
    pub max_connections: u32,
    /// The `ip_address` parameter.
    pub ip_address: Option<String>,
    /// Where deliveries connect.
    addr: SocketAddr,
    /// The Host header.
    host: String,
    /// Path and query.
    target: String,
}

#[derive(Debug)]
struct InFlight {
    update_id: i64,
    attempt: u64,
    queue: QueueKey,
    abort: Option<AbortHandle>,
}

/// The webhook side of the fake's state.
#[derive(Debug)]
pub(crate) struct WebhookState {
    pub hook: Option<Arc<Hook>>,
    /// (unix time, message) of the latest failed delivery of this webhook.
    pub last_error: Option<(i64, String)>,
    /// Deliveries under way, by queue entry (`QueuedUpdate::seq`: an
    /// update redelivered has two).
    in_flight: HashMap<u64, InFlight>,
    /// Queue entries whose delivery failed: not sent again before this
    /// instant.
    retry_at: HashMap<u64, Instant>,
    pub deliveries: Vec<WebhookDelivery>,
    pub retry_delay: Duration,
    pub timeout: Duration,
    /// Lowercase host → where deliveries to `https://host` connect.
    pub routes: HashMap<String, SocketAddr>,
    next_attempt: u64,
    /// The getUpdates generation a setWebhook ended (for its 409 text).
    pub poll_ended_at: Option<u64>,
    /// `http://` URLs are accepted, as by a Bot API server run with
    /// `--local` (`FakeTelegram::allow_http_webhooks`).
    pub allow_http: bool,
    /// Whether setWebhook with a URL is limited to one call a second.
    pub rate_limited: bool,
    /// When the next setWebhook with a URL is allowed.
    pub next_set_allowed: Option<Instant>,
}

impl WebhookState {
    pub fn new() -> WebhookState {
        WebhookState {
            hook: None,
            last_error: None,
            in_flight: HashMap::new(),
            retry_at: HashMap::new(),
            deliveries: Vec::new(),
            retry_delay: DEFAULT_RETRY_DELAY,
            timeout: DEFAULT_TIMEOUT,
            routes: HashMap::new(),
            next_attempt: 1,
            poll_ended_at: None,
            allow_http: false,
            rate_limited: true,
            next_set_allowed: None,
        }
    }
}

/// One delivery attempt to make.
#[derive(Debug)]
struct Job {
    update_id: i64,
    /// The queue entry (`QueuedUpdate::seq`).
    seq: u64,
    attempt: u64,
    hook: Arc<Hook>,
    body: String,
    timeout: Duration,
}

/// What came back from a delivery attempt.
#[derive(Debug)]
enum Outcome {
    Answer {
        status: u16,
        reason: String,
        retry_after: Option<u64>,
        content_type: String,
        body: Bytes,
    },
    Failed(String),
}

// ------------------------------------------------------------- validation

fn bad_webhook(reason: impl std::fmt::Display) -> ApiError {
    ApiError::bad(format!("bad webhook: {reason}"))
}

/// IPv4 ranges the Bot API server refuses to deliver to ("IP address ...
/// is reserved"): this network, private, shared, loopback, link-local,
/// protocol assignments, documentation, benchmarking, multicast, reserved
/// and broadcast.
fn is_reserved(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    matches!(
        (a, b, c),
        (0 | 10 | 127, _, _)
            | (100, 64..=127, _)
            | (169, 254, _)
            | (172, 16..=31, _)
            | (192, 0, 0 | 2)
            | (192, 168, _)
            | (198, 18..=19, _)
            | (198, 51, 100)
            | (203, 0, 113)
            | (224..=255, _, _)
    )
}

/// The Bot API server's check of an IP address it is to deliver to.
fn check_ip(ip: IpAddr) -> Result<(), ApiError> {
    match ip {
        IpAddr::V6(_) => Err(bad_webhook("IPv6-only addresses are not allowed")),
        IpAddr::V4(v4) if is_reserved(v4) => {
            Err(bad_webhook(format!("IP address {v4} is reserved")))
        }
        IpAddr::V4(_) => Ok(()),
    }
}

/// Parses a webhook URL like the Bot API server: HTTP or HTTPS (the
/// default when the scheme is missing), with a host.
fn parse_hook_url(url: &str) -> Result<url::Url, ApiError> {
    let invalid = || ApiError::bad("invalid webhook URL specified");
    let full = if url.contains("://") {
        url.to_owned()
    } else {
        format!("https://{url}")
    };
    let parsed = url::Url::parse(&full).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(invalid());
    }
    Ok(parsed)
}

/// Checks a webhook like the Bot API server does before answering
/// setWebhook (an HTTPS URL on port 80, 88, 443 or 8443, a valid public
/// IPv4 `ip_address`, a host resolving to a public IPv4 address), except
/// that the fake resolves only the hosts routed by
/// `FakeTelegram::route_webhook_host`. With `allow_http` (a local Bot API
/// server), `http://` URLs on any port are accepted too: to `127.0.0.1`
/// or `localhost` they connect there, to another host through its route.
/// Returns where to connect, the Host header and the request target.
fn verify_hook(
    parsed: &url::Url,
    ip_address: Option<&str>,
    routes: &HashMap<String, SocketAddr>,
    allow_http: bool,
) -> Result<(SocketAddr, String, String), ApiError> {
    let host = parsed
        .host()
        .ok_or_else(|| ApiError::bad("invalid webhook URL specified"))?;
    let port = parsed.port_or_known_default().unwrap_or(443);
    let local = match &host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => *ip == Ipv4Addr::LOCALHOST,
        url::Host::Ipv6(_) => false,
    };
    let is_http = parsed.scheme() == "http";
    if is_http && !allow_http {
        return Err(bad_webhook("HTTPS url must be provided for webhook"));
    }
    if !is_http && ![80, 88, 443, 8443].contains(&port) {
        return Err(bad_webhook(
            "Webhook can be set up only on ports 80, 88, 443 or 8443",
        ));
    }
    if let Some(ip) = ip_address {
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| bad_webhook("Invalid IP address specified"))?;
        check_ip(ip)?;
    }
    let addr = if is_http && local {
        SocketAddr::from((Ipv4Addr::LOCALHOST, port))
    } else if is_http {
        let name = host.to_string().to_ascii_lowercase();
        let name = name.trim_start_matches('[').trim_end_matches(']');
        match routes.get(name) {
            Some(addr) => *addr,
            None => {
                return Err(bad_webhook(
                    "Failed to resolve host: Name or service not known",
                ));
            }
        }
    } else {
        let name = host.to_string().to_ascii_lowercase();
        let name = name.trim_start_matches('[').trim_end_matches(']');
        match routes.get(name) {
            Some(addr) => *addr,
            None => {
                match &host {
                    _ if local => check_ip(IpAddr::V4(Ipv4Addr::LOCALHOST))?,
                    url::Host::Ipv4(ip) => check_ip(IpAddr::V4(*ip))?,
                    url::Host::Ipv6(ip) => check_ip(IpAddr::V6(*ip))?,
                    url::Host::Domain(_) => {}
                }
                return Err(bad_webhook(
                    "Failed to resolve host: Name or service not known",
                ));
            }
        }
    };
    let host_header = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let mut target = parsed.path().to_owned();
    if let Some(q) = parsed.query() {
        target.push('?');
        target.push_str(q);
    }
    Ok((addr, host_header, target))
}

/// `max_connections` as the server reads it: clamped to 1-100, 40 when
/// absent, 1 when not a number.
fn max_connections_param(p: &Params) -> u32 {
    match p.i64("max_connections") {
        Ok(None) => DEFAULT_MAX_CONNECTIONS,
        Ok(Some(n)) => n.clamp(1, 100) as u32,
        Err(_) => 1,
    }
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

// ----------------------------------------------------------- the methods

impl State {
    /// setWebhook (`delete`: deleteWebhook), in the Bot API server's order:
    /// a request that changes nothing but `allowed_updates` keeps the
    /// webhook ("Webhook is already set"); any other one first closes the
    /// current webhook (deliveries in flight are abandoned, the last error
    /// forgotten), drops the pending updates if asked, and only then checks
    /// the new URL: a refused URL leaves no webhook.
    pub fn set_webhook(&mut self, p: &Params, delete: bool) -> ApiResult {
        let url = if delete {
            String::new()
        } else {
            p.string("url").unwrap_or_default()
        };
        // A URL at most once a second, before anything else is checked (the
        // Bot API server's next_allowed_set_webhook_time_).
        if !url.is_empty() && self.webhook.rate_limited {
            let now = Instant::now();
            if self.webhook.next_set_allowed.is_some_and(|at| now < at) {
                return Err(ApiError::new(429, "Too Many Requests: retry after 1")
                    .with_parameters(json!({"retry_after": 1})));
            }
            self.webhook.next_set_allowed = Some(now + Duration::from_secs(1));
        }
        let drop_pending = p.bool("drop_pending_updates");
        let (secret, max_connections, ip_address) = if url.is_empty() {
            (None, 0, None)
        } else {
            (
                non_empty(p.string("secret_token")),
                max_connections_param(p),
                non_empty(p.string("ip_address")),
            )
        };
        let unchanged = match &self.webhook.hook {
            None => url.is_empty(),
            Some(h) => {
                h.url == url
                    && h.secret == secret
                    && h.max_connections == max_connections
                    && h.ip_address == ip_address
            }
        };
        if unchanged && !drop_pending {
            if !delete {
                self.update_allowed_updates(p);
            }
            return Ok(json!(true));
        }
        if !url.is_empty() {
            // A pending long poll ends with 409 "terminated by setWebhook".
            self.poll_gen += 1;
            self.webhook.poll_ended_at = Some(self.poll_gen);
        }
        self.close_webhook();
        if drop_pending {
            self.updates.clear();
        }
        if url.is_empty() {
            return Ok(json!(true));
        }
        let parsed = parse_hook_url(&url)?;
        if let Some(s) = &secret {
            if s.len() > 256 {
                return Err(ApiError::bad("secret token is too long"));
            }
            if !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(ApiError::bad("secret token contains unallowed characters"));
            }
        }
        let (addr, host, target) = verify_hook(
            &parsed,
            ip_address.as_deref(),
            &self.webhook.routes,
            self.webhook.allow_http,
        )?;
        self.webhook.hook = Some(Arc::new(Hook {
            url,
            secret,
            max_connections,
            ip_address,
            addr,
            host,
            target,
        }));
        self.update_allowed_updates(p);
        Ok(json!(true))
    }

    /// Removes the webhook, if any: its deliveries in flight are abandoned
    /// (recorded as such, their updates stay queued), its last error and
    /// retry delays forgotten.
    fn close_webhook(&mut self) {
        let Some(hook) = self.webhook.hook.take() else {
            return;
        };
        let mut abandoned: Vec<(u64, InFlight)> = self.webhook.in_flight.drain().collect();
        abandoned.sort_by_key(|(seq, f)| (f.update_id, *seq));
        for (_, f) in abandoned {
            if let Some(a) = f.abort {
                a.abort();
            }
            self.webhook.deliveries.push(WebhookDelivery {
                update_id: f.update_id,
                url: hook.url.clone(),
                status: None,
                error: Some(ABANDONED.to_owned()),
            });
        }
        self.webhook.retry_at.clear();
        self.webhook.last_error = None;
    }

    /// The WebhookInfo object (after dropping the updates of kinds not
    /// allowed, which Telegram would not count).
    pub fn webhook_info_json(&mut self) -> Value {
        self.drop_unallowed();
        let hook = self.webhook.hook.clone();
        let mut v = json!({
            "url": hook.as_ref().map(|h| h.url.as_str()).unwrap_or_default(),
            "has_custom_certificate": false,
            "pending_update_count": self.updates.len(),
        });
        if let Some((date, message)) = &self.webhook.last_error {
            v["last_error_date"] = json!(date);
            v["last_error_message"] = json!(message);
        }
        if let Some(h) = &hook {
            v["max_connections"] = json!(h.max_connections);
            v["ip_address"] = json!(
                h.ip_address
                    .clone()
                    .unwrap_or_else(|| h.addr.ip().to_string())
            );
        }
        if let Some(list) = &self.allowed_updates {
            v["allowed_updates"] = json!(list);
        }
        v
    }

    /// The current webhook for the public API.
    pub fn webhook_config(&self) -> Option<WebhookConfig> {
        self.webhook.hook.as_ref().map(|h| WebhookConfig {
            url: h.url.clone(),
            secret_token: h.secret.clone(),
            max_connections: h.max_connections,
            allowed_updates: self.allowed_updates.clone(),
            ip_address: h.ip_address.clone(),
        })
    }

    // -------------------------------------------------------- scheduling

    /// The deliveries to start now (marked in flight), and when to look
    /// again for an update waiting out its retry delay. Walks the queued
    /// updates in update_id order: the first one of each queue is due
    /// unless it is in flight or waiting; at most `max_connections` in
    /// flight. Drops the updates of kinds not allowed first (true if any).
    fn due_deliveries(&mut self, now: Instant) -> (Vec<Job>, Option<Instant>, bool) {
        let Some(hook) = self.webhook.hook.clone() else {
            return (Vec::new(), None, false);
        };
        let dropped = self.drop_unallowed();
        let w = &mut self.webhook;
        if !w.retry_at.is_empty() {
            let queued: HashSet<u64> = self.updates.iter().map(|u| u.seq).collect();
            w.retry_at.retain(|seq, _| queued.contains(seq));
        }
        let mut free = (hook.max_connections as usize).saturating_sub(w.in_flight.len());
        let mut busy: HashSet<QueueKey> = w.in_flight.values().map(|f| f.queue).collect();
        let mut jobs = Vec::new();
        let mut wake: Option<Instant> = None;
        for u in &self.updates {
            if free == 0 {
                break;
            }
            if !busy.insert(u.queue) {
                continue;
            }
            if let Some(&at) = w.retry_at.get(&u.seq)
                && at > now
            {
                wake = Some(wake.map_or(at, |w| w.min(at)));
                continue;
            }
            let attempt = w.next_attempt;
            w.next_attempt += 1;
            w.in_flight.insert(
                u.seq,
                InFlight {
                    update_id: u.id,
                    attempt,
                    queue: u.queue,
                    abort: None,
                },
            );
            jobs.push(Job {
                update_id: u.id,
                seq: u.seq,
                attempt,
                hook: hook.clone(),
                body: u.json.to_string(),
                timeout: w.timeout,
            });
            free -= 1;
        }
        (jobs, wake, dropped)
    }

    /// Records the outcome of an attempt, unless it was abandoned: a 2xx
    /// answer removes the update from the queue; anything else sets the
    /// last error and delays the update. Returns the method call in a 2xx
    /// answer, if any.
    fn finish_delivery(
        &mut self,
        job: &Job,
        outcome: Outcome,
        now_instant: Instant,
    ) -> Option<(String, Map<String, Value>)> {
        let w = &mut self.webhook;
        if w.in_flight.get(&job.seq).map(|f| f.attempt) != Some(job.attempt) {
            return None; // abandoned
        }
        w.in_flight.remove(&job.seq);
        let (status, error, retry_after, call) = match outcome {
            Outcome::Answer {
                status,
                content_type,
                body,
                ..
            } if (200..300).contains(&status) => {
                (Some(status), None, None, answer_call(&content_type, &body))
            }
            Outcome::Answer {
                status,
                reason,
                retry_after,
                ..
            } => {
                let message = format!("Wrong response from the webhook: {status} {reason}");
                (
                    Some(status),
                    Some(message.trim_end().to_owned()),
                    retry_after,
                    None,
                )
            }
            Outcome::Failed(message) => (None, Some(message), None, None),
        };
        w.deliveries.push(WebhookDelivery {
            update_id: job.update_id,
            url: job.hook.url.clone(),
            status,
            error: error.clone(),
        });
        match error {
            None => {
                w.retry_at.remove(&job.seq);
                if let Some(i) = self.updates.iter().position(|u| u.seq == job.seq) {
                    self.updates.remove(i);
                }
            }
            Some(message) => {
                let delay = match retry_after {
                    Some(secs) if secs > 0 => Duration::from_secs(secs.min(MAX_RETRY_AFTER)),
                    _ => w.retry_delay,
                };
                w.retry_at.insert(job.seq, now_instant + delay);
                w.last_error = Some((now(), message));
            }
        }
        call
    }
}

/// The Bot API method a webhook may call in its answer: a JSON object or
/// form with a `method` field, except deleteWebhook, setWebhook, close,
/// logOut and the get* methods, which the server ignores there.
fn answer_call(content_type: &str, body: &[u8]) -> Option<(String, Map<String, Value>)> {
    let ct = content_type.to_ascii_lowercase();
    let mut params = if ct.starts_with("application/x-www-form-urlencoded") {
        form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect()
    } else if ct.starts_with("application/json") {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(m)) => m,
            _ => return None,
        }
    } else {
        return None;
    };
    let method = match params.remove("method")? {
        Value::String(s) => s,
        _ => return None,
    };
    let lower = method.to_ascii_lowercase();
    let ignored = lower.is_empty()
        || lower.starts_with("get")
        || matches!(
            lower.as_str(),
            "deletewebhook" | "setwebhook" | "close" | "logout"
        );
    (!ignored).then_some((method, params))
}

// --------------------------------------------------------------- delivery

/// The task that delivers updates while a webhook is set; stops when
/// dropped (with the deliveries in flight).
pub(crate) struct Deliverer(JoinHandle<()>);

impl Drop for Deliverer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Deliverer {
    pub fn start(inner: Arc<Inner>) -> Deliverer {
        Deliverer(tokio::spawn(deliver_loop(inner)))
    }
}

async fn deliver_loop(inner: Arc<Inner>) {
    let mut rx = inner.changed.subscribe();
    // Dropping the set (when this task is aborted) aborts the attempts.
    let mut attempts = JoinSet::new();
    loop {
        let (wake, dropped) = {
            let mut s = inner.state.lock();
            let (jobs, wake, dropped) = s.due_deliveries(Instant::now());
            for job in jobs {
                let seq = job.seq;
                let abort = attempts.spawn(attempt(inner.clone(), job));
                if let Some(f) = s.webhook.in_flight.get_mut(&seq) {
                    f.abort = Some(abort);
                }
            }
            (wake, dropped)
        };
        if dropped {
            inner.bump();
        }
        tokio::select! {
            r = rx.changed() => {
                if r.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            Some(_) = attempts.join_next(), if !attempts.is_empty() => {}
        }
    }
}

/// One delivery attempt, its outcome recorded, then the method call of its
/// answer made, if any.
async fn attempt(inner: Arc<Inner>, job: Job) {
    let outcome = match tokio::time::timeout(job.timeout, post(&job)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::Failed("Read timeout expired".to_owned()),
    };
    let call = inner
        .state
        .lock()
        .finish_delivery(&job, outcome, Instant::now());
    inner.bump();
    if let Some((method, params)) = call {
        let uri: Uri = format!("/bot{BOT_TOKEN}/{method}")
            .parse()
            .unwrap_or_else(|_| Uri::from_static("/"));
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
        let body = Bytes::from(Value::Object(params).to_string());
        let _ = crate::server::handle(inner, uri, headers, body).await;
    }
}

/// POSTs the update on a new connection (closed after the answer).
async fn post(job: &Job) -> Outcome {
    match exchange(job).await {
        Ok(outcome) => outcome,
        Err(message) => Outcome::Failed(message),
    }
}

async fn exchange(job: &Job) -> Result<Outcome, String> {
    let stream = TcpStream::connect(job.hook.addr)
        .await
        .map_err(|e| io_message(&e))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| hyper_message(&e))?;
    let mut req = Request::post(job.hook.target.as_str())
        .header(header::HOST, job.hook.host.as_str())
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(secret) = &job.hook.secret {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", secret.as_str());
    }
    let req = req
        .body(Body::from(job.body.clone()))
        .map_err(|e| format!("fake-bot-api: can't build the webhook request: {e}"))?;
    let answer = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| hyper_message(&e))?;
        let status = resp.status();
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .or_else(|| status.canonical_reason().map(str::to_owned))
            .unwrap_or_default();
        let header_str = |name: header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let retry_after =
            header_str(header::RETRY_AFTER).and_then(|v| v.trim().parse::<u64>().ok());
        let content_type = header_str(header::CONTENT_TYPE).unwrap_or_default();
        let body = axum::body::to_bytes(Body::new(resp.into_body()), MAX_ANSWER)
            .await
            .map_err(|_| "Webhook connection closed".to_owned())?;
        Ok::<_, String>(Outcome::Answer {
            status: status.as_u16(),
            reason,
            retry_after,
            content_type,
            body,
        })
    };
    let mut conn = std::pin::pin!(conn);
    let mut answer = std::pin::pin!(answer);
    tokio::select! {
        r = &mut answer => r,
        // The connection ended: the answer, if any, is buffered.
        _ = &mut conn => answer.await,
    }
}

/// An I/O error as the Bot API server words it.
fn io_message(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "Connection refused".to_owned(),
        io::ErrorKind::ConnectionReset => "Connection reset by peer".to_owned(),
        io::ErrorKind::TimedOut => "Connection timed out".to_owned(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error") {
                Some(i) => text[..i].to_owned(),
                None => text,
            }
        }
    }
}

fn hyper_message(e: &hyper::Error) -> String {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return io_message(io);
        }
        source = s.source();
    }
    if e.is_parse() {
        "Wrong response from the webhook".to_owned()
    } else {
        "Webhook connection closed".to_owned()
    }
}
