//! castellan's Telegram client: every Bot API call goes through
//! [`Telegram::call`], which keeps to the send limits, reads Telegram's
//! answer with its status code, waits out 429s, follows a group's upgrade to
//! a supergroup, retries what is safe to retry, and classifies the rest
//! ([`TelegramError`]).
//!
//! teloxide's typed payloads (`SendMessage::new(..).parse_mode(..)`) are the
//! requests; teloxide's own HTTP path is not used because it drops the
//! status code (a 5xx reads like a 4xx) and sleeps 10 s after every 5xx.

pub mod error;
pub mod limits;
pub mod outbox;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use teloxide::ApiError;
use teloxide::requests::Payload;
use url::Url;

pub use error::{Refusal, TelegramError};
pub use limits::SendLimits;
pub use outbox::{DropReason, Prompt, Receipt};

use crate::metrics::Metrics;

/// Telegram's GroupAnonymousBot: the `from` of an anonymous admin's
/// message (`sender_chat` is the group).
pub const GROUP_ANONYMOUS_BOT: u64 = 1087968824;
/// Channel_Bot: the `from` of a message sent as a channel (`sender_chat`).
pub const CHANNEL_BOT: u64 = 136817688;
/// "Telegram": the `from` of a linked channel's automatic forwards.
pub const TELEGRAM_SERVICE: u64 = 777000;

/// Whether `user_id` stands in for a chat rather than being a person: the
/// same id speaks for every anonymous admin, channel or linked channel.
pub fn is_stand_in(user_id: u64) -> bool {
    matches!(
        user_id,
        GROUP_ANONYMOUS_BOT | CHANNEL_BOT | TELEGRAM_SERVICE
    )
}

/// Moves what castellan keeps about a group to the supergroup it became:
/// called with (old id, new id) when a call learns of the upgrade.
pub type MigrationHook = Arc<dyn Fn(i64, i64) -> BoxFuture<'static, ()> + Send + Sync>;

/// How hard a call tries before giving up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all, the first included, for network failures and 5xx.
    pub attempts: u32,
    /// The wait before the first retry; doubled for each further one.
    pub first_backoff: Duration,
    /// How many 429s in a row are waited out.
    pub rate_limited_attempts: u32,
    /// A 429 asking for a longer wait than this is not waited out.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    /// For calls made while a user waits for an answer.
    pub const STANDARD: RetryPolicy = RetryPolicy {
        attempts: 3,
        first_backoff: Duration::from_millis(500),
        rate_limited_attempts: 5,
        max_retry_after: Duration::from_secs(60),
    };
    /// One try: the caller has its own loop (long polling, start-up).
    pub const ONCE: RetryPolicy = RetryPolicy {
        attempts: 1,
        first_backoff: Duration::ZERO,
        rate_limited_attempts: 0,
        max_retry_after: Duration::ZERO,
    };
}

/// The wait before the next try of a loop that retries on its own (long
/// polling, start-up, reconnecting): 0.5 s after the first failure in a
/// row, doubling up to a minute.
pub fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << failures.min(7))).min(MAX_BACKOFF)
}

const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How long a call may take when its payload gives no hint.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Added to a long poll's own timeout for the HTTP request's.
const POLL_MARGIN: Duration = Duration::from_secs(7);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// What a method does, for what may be limited and repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MethodKind {
    /// Reads and idempotent writes (get*, set*, edit*): repeating is harmless.
    Repeatable,
    /// Sends a message: limited, and repeated only when Telegram cannot have
    /// received it (a repeat could show the message twice).
    Send,
    /// Neither limited nor safely repeatable (answerCallbackQuery).
    Once,
}

impl MethodKind {
    fn of(method: &str) -> Self {
        let sends = ["Send", "Copy", "Forward"];
        if method == "AnswerCallbackQuery" || method == "SendChatAction" {
            MethodKind::Once
        } else if sends.iter().any(|prefix| method.starts_with(prefix)) {
            MethodKind::Send
        } else {
            MethodKind::Repeatable
        }
    }
}

#[derive(Clone)]
pub struct Telegram {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `<api url>/bot<token>/`: a method name completes it.
    endpoint: Url,
    /// Every message and edit to a chat goes through it.
    outbox: outbox::Outbox,
    on_migrate: Option<MigrationHook>,
    /// How many upgrades calls have followed, so a handler can tell that ids
    /// it read before a call may be stale.
    upgrades_followed: AtomicU64,
    /// When Telegram last answered anything (ms since the Unix epoch; 0:
    /// never), for the health check.
    last_answer_ms: AtomicU64,
    metrics: Option<Arc<Metrics>>,
    retry: RetryPolicy,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The endpoint holds the token: never print it.
        f.write_str("Telegram")
    }
}

/// Telegram's answer to one HTTP request.
enum Answer {
    /// A 2xx: the body, read into the method's own type by the caller in
    /// one pass.
    Ok(Bytes),
    RetryAfter(Duration),
    Migrated(i64),
    Refused {
        code: u16,
        api: ApiError,
    },
    /// 5xx: Telegram received the call and failed.
    ServerError(String),
    /// The request never reached Telegram (connection refused, DNS).
    NotSent(String),
    /// Sent, but no answer came (timeout, connection lost).
    Unanswered(String),
    Unreadable(String),
}

/// A successful answer, read straight into the method's type.
#[derive(Deserialize)]
struct Success<T> {
    result: T,
}

/// An answer that was not a success.
#[derive(Deserialize)]
struct Envelope {
    error_code: Option<u16>,
    #[serde(default)]
    description: String,
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    retry_after: Option<u64>,
    migrate_to_chat_id: Option<i64>,
}

pub struct TelegramBuilder {
    api_url: Url,
    token: String,
    limits: Option<SendLimits>,
    on_migrate: Option<MigrationHook>,
    metrics: Option<Arc<Metrics>>,
    retry: RetryPolicy,
}

impl TelegramBuilder {
    /// Keeps to `limits` (`None`: no limits, for a test server).
    pub fn send_limits(mut self, limits: Option<SendLimits>) -> Self {
        self.limits = limits;
        self
    }

    pub fn on_migrate(mut self, hook: MigrationHook) -> Self {
        self.on_migrate = Some(hook);
        self
    }

    /// Counts every request by method and outcome.
    pub fn metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn build(self) -> Telegram {
        let mut endpoint = self.api_url;
        let base = endpoint.path().trim_end_matches('/').to_owned();
        endpoint.set_path(&format!("{base}/bot{}/", self.token));
        // Building a client fails only on a broken TLS backend: fall back to
        // the default rather than refuse to start.
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .build()
            .unwrap_or_default();
        let inner = Arc::new_cyclic(|client| Inner {
            http,
            endpoint,
            outbox: outbox::Outbox::new(self.limits, self.metrics.clone(), client.clone()),
            on_migrate: self.on_migrate,
            upgrades_followed: AtomicU64::new(0),
            last_answer_ms: AtomicU64::new(0),
            metrics: self.metrics,
            retry: self.retry,
        });
        Telegram { inner }
    }
}

impl Telegram {
    pub fn builder(api_url: &Url, token: &str) -> TelegramBuilder {
        TelegramBuilder {
            api_url: api_url.clone(),
            token: token.to_owned(),
            limits: Some(SendLimits::TELEGRAM),
            on_migrate: None,
            metrics: None,
            retry: RetryPolicy::STANDARD,
        }
    }

    /// How many group upgrades this client's calls have followed so far. A
    /// change across a call means records may have moved under the caller.
    pub fn upgrades_followed(&self) -> u64 {
        self.inner.upgrades_followed.load(Ordering::Relaxed)
    }

    /// How long ago Telegram last answered a call (any answer: it is
    /// reachable); `None` if it never has.
    pub fn since_last_answer(&self) -> Option<Duration> {
        let at = self.inner.last_answer_ms.load(Ordering::Relaxed);
        (at > 0).then(|| Duration::from_millis(unix_ms().saturating_sub(at)))
    }

    /// Calls a Bot API method with the client's retry policy.
    pub async fn call<P>(&self, payload: P) -> Result<P::Output, TelegramError>
    where
        P: Payload + Serialize,
        P::Output: DeserializeOwned,
    {
        self.call_with(payload, self.inner.retry).await
    }

    /// Calls a Bot API method, trying as `policy` says.
    pub async fn call_with<P>(
        &self,
        payload: P,
        policy: RetryPolicy,
    ) -> Result<P::Output, TelegramError>
    where
        P: Payload + Serialize,
        P::Output: DeserializeOwned,
    {
        let answer = self.call_body(payload, policy).await?;
        read_result(P::NAME, &answer)
    }

    /// Like [`call_with`](Self::call_with), handing back the successful
    /// answer's body unread (see [`read_result`]).
    pub async fn call_body<P>(
        &self,
        payload: P,
        policy: RetryPolicy,
    ) -> Result<Bytes, TelegramError>
    where
        P: Payload + Serialize,
    {
        let method = P::NAME;
        let timeout = payload
            .timeout_hint()
            .map_or(DEFAULT_TIMEOUT, |poll| poll + POLL_MARGIN);
        let body = to_body(method, &payload)?;
        match chat_queue(method, &body) {
            // A message or an edit waits for its chat's turn in the outbox;
            // this call waits with it.
            Some(chat_id) => {
                let receipt =
                    self.inner
                        .outbox
                        .push(chat_id, method, body, Prompt::Reply, timeout, None);
                match receipt.answer().await {
                    Some(result) => result,
                    None => Err(TelegramError::Dropped {
                        method,
                        reason: DropReason::Shutdown,
                    }),
                }
            }
            None => {
                let repeatable = MethodKind::of(method) == MethodKind::Repeatable;
                self.call_raw_direct(method, body, timeout, policy, repeatable)
                    .await
            }
        }
    }

    /// Hands a message (or an edit) to its chat's queue and returns at
    /// once: the outbox sends it when the chat's limits allow. The receipt
    /// gives the answer to whoever needs it; dropping it is fine.
    pub fn send<P>(&self, payload: P) -> Result<Receipt, TelegramError>
    where
        P: Payload + Serialize,
    {
        self.queue(payload, Prompt::Reply, None)
    }

    /// Like [`send`](Self::send), with `notice` sent in its place (to the
    /// same chat, as a reply to the same message) should Telegram fail in a
    /// way that may have lost it: the user hears that it did not go
    /// through instead of nothing.
    pub fn send_or_notice<P, N>(&self, payload: P, notice: N) -> Result<Receipt, TelegramError>
    where
        P: Payload + Serialize,
        N: Payload + Serialize,
    {
        let notice = to_body(N::NAME, &notice)?;
        self.queue(payload, Prompt::Reply, Some(notice))
    }

    /// Like [`send`](Self::send), for what castellan sends on its own
    /// initiative: kept to an overall budget.
    pub fn send_unprompted<P>(&self, payload: P) -> Result<Receipt, TelegramError>
    where
        P: Payload + Serialize,
    {
        self.queue(payload, Prompt::Unprompted, None)
    }

    fn queue<P>(
        &self,
        payload: P,
        prompt: Prompt,
        notice: Option<Value>,
    ) -> Result<Receipt, TelegramError>
    where
        P: Payload + Serialize,
    {
        let method = P::NAME;
        let timeout = payload.timeout_hint().unwrap_or(DEFAULT_TIMEOUT);
        let body = to_body(method, &payload)?;
        let chat_id = chat_queue(method, &body).ok_or_else(|| TelegramError::Unreadable {
            method,
            detail: "only a message or an edit to a chat can be queued".into(),
        })?;
        Ok(self
            .inner
            .outbox
            .push(chat_id, method, body, prompt, timeout, notice))
    }

    /// Lets the outbox send what it can until `deadline`, then drops the
    /// rest and takes no more. `true` when everything went out.
    pub async fn drain(&self, deadline: tokio::time::Instant) -> bool {
        self.inner.outbox.drain(deadline).await
    }

    /// One call, now: the outbox's sends and every call that is not a
    /// message. `repeatable`: repeating it after a failure is harmless.
    async fn call_raw_direct(
        &self,
        method: &'static str,
        mut body: Value,
        timeout: Duration,
        policy: RetryPolicy,
        repeatable: bool,
    ) -> Result<Bytes, TelegramError> {
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        let mut migrated = false;
        loop {
            let chat_id = body.get("chat_id").and_then(Value::as_i64);
            let unavailable = |detail: String| TelegramError::Unavailable { method, detail };
            let retry_in = |failures: u32| policy.first_backoff * 2u32.saturating_pow(failures - 1);
            let answer = self.post(method, &body, timeout).await;
            self.note(method, &answer);
            match answer {
                Answer::Ok(raw) => return Ok(raw),
                Answer::RetryAfter(wait) => {
                    rate_limited += 1;
                    if rate_limited > policy.rate_limited_attempts || wait > policy.max_retry_after
                    {
                        return Err(TelegramError::RateLimited {
                            method,
                            retry_after: wait,
                        });
                    }
                    tracing::warn!(method, "Telegram asks to wait {wait:?}; waiting");
                    tokio::time::sleep(wait).await;
                }
                Answer::Migrated(new_id) => {
                    let Some(old_id) = chat_id.filter(|_| !migrated) else {
                        return Err(TelegramError::Refused {
                            method,
                            code: 400,
                            refusal: Refusal::Migrated(new_id),
                            description: "group chat was upgraded to a supergroup chat".into(),
                        });
                    };
                    tracing::info!(from = old_id, to = new_id, "a group became a supergroup");
                    if let Some(hook) = &self.inner.on_migrate {
                        hook(old_id, new_id).await;
                    }
                    self.inner.upgrades_followed.fetch_add(1, Ordering::Relaxed);
                    body["chat_id"] = Value::from(new_id);
                    migrated = true;
                }
                Answer::Refused { code, api } => {
                    return Err(TelegramError::Refused {
                        method,
                        code,
                        refusal: error::classify(code, &api, chat_id),
                        description: api.to_string(),
                    });
                }
                Answer::ServerError(detail) | Answer::Unanswered(detail) if !repeatable => {
                    // Telegram may have acted on it: repeating could do it twice.
                    return Err(unavailable(detail));
                }
                Answer::ServerError(detail)
                | Answer::Unanswered(detail)
                | Answer::NotSent(detail) => {
                    failures += 1;
                    if failures >= policy.attempts {
                        return Err(unavailable(detail));
                    }
                    let wait = retry_in(failures);
                    tracing::warn!(method, %detail, "Telegram call failed; retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                Answer::Unreadable(detail) => {
                    return Err(TelegramError::Unreadable { method, detail });
                }
            }
        }
    }

    /// Counts a request's outcome, and remembers when Telegram answered.
    fn note(&self, method: &'static str, answer: &Answer) {
        let outcome = match answer {
            Answer::Ok(_) => "ok",
            Answer::RetryAfter(_) => "rate_limited",
            Answer::Migrated(_) => "migrated",
            Answer::Refused { .. } => "refused",
            Answer::ServerError(_) => "server_error",
            Answer::NotSent(_) => "not_sent",
            Answer::Unanswered(_) => "unanswered",
            Answer::Unreadable(_) => "unreadable",
        };
        if matches!(
            answer,
            Answer::Ok(_) | Answer::RetryAfter(_) | Answer::Migrated(_) | Answer::Refused { .. }
        ) {
            self.inner
                .last_answer_ms
                .store(unix_ms(), Ordering::Relaxed);
        }
        if let Some(metrics) = &self.inner.metrics {
            metrics.telegram_request(method, outcome);
        }
    }

    async fn post(&self, method: &str, body: &Value, timeout: Duration) -> Answer {
        let url = match self.inner.endpoint.join(method) {
            Ok(url) => url,
            Err(error) => return Answer::Unreadable(format!("bad method URL: {error}")),
        };
        let response = self
            .inner
            .http
            .post(url)
            .json(body)
            .timeout(timeout)
            .send()
            .await;
        let response = match response {
            Ok(response) => response,
            Err(error) if error.is_connect() => {
                return Answer::NotSent(error.without_url().to_string());
            }
            Err(error) => return Answer::Unanswered(error.without_url().to_string()),
        };
        let status = response.status().as_u16();
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => return Answer::Unanswered(error.without_url().to_string()),
        };
        read_answer(status, bytes)
    }
}

fn to_body<P: Serialize>(method: &'static str, payload: &P) -> Result<Value, TelegramError> {
    serde_json::to_value(payload).map_err(|error| TelegramError::Unreadable {
        method,
        detail: format!("the request does not serialize: {error}"),
    })
}

/// The chat whose outbox queue a call waits in: a message or an edit of a
/// chat's message (one with an `inline_message_id` belongs to no chat).
fn chat_queue(method: &str, body: &Value) -> Option<i64> {
    let queued = MethodKind::of(method) == MethodKind::Send || method.starts_with("Edit");
    queued
        .then(|| body.get("chat_id").and_then(Value::as_i64))
        .flatten()
}

/// Reads a successful answer's `result` into `T`, in one pass.
pub fn read_result<T: DeserializeOwned>(
    method: &'static str,
    answer: &[u8],
) -> Result<T, TelegramError> {
    serde_json::from_slice::<Success<T>>(answer)
        .map(|success| success.result)
        .map_err(|error| TelegramError::Unreadable {
            method,
            detail: error.to_string(),
        })
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

fn read_answer(status: u16, bytes: Bytes) -> Answer {
    // Telegram answers a success with 200 and nothing else with a 2xx.
    if (200..300).contains(&status) {
        return Answer::Ok(bytes);
    }
    let envelope: Envelope = match serde_json::from_slice(&bytes) {
        Ok(envelope) => envelope,
        // Telegram's front answers 502/504 with an HTML page.
        Err(_) if status >= 500 => return Answer::ServerError(format!("HTTP {status}")),
        Err(error) => return Answer::Unreadable(format!("HTTP {status}: {error}")),
    };
    let code = envelope.error_code.unwrap_or(status);
    let parameters = envelope.parameters.as_ref();
    if let Some(new_id) = parameters.and_then(|p| p.migrate_to_chat_id) {
        return Answer::Migrated(new_id);
    }
    if code == 429 {
        let seconds = parameters.and_then(|p| p.retry_after).unwrap_or(1);
        return Answer::RetryAfter(Duration::from_secs(seconds.max(1)));
    }
    if code >= 500 {
        return Answer::ServerError(format!("{code} {}", envelope.description));
    }
    let api = serde_json::from_value(Value::String(envelope.description.clone()))
        .unwrap_or(ApiError::Unknown(envelope.description));
    Answer::Refused { code, api }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_kinds() {
        assert_eq!(MethodKind::of("SendMessage"), MethodKind::Send);
        assert_eq!(MethodKind::of("CopyMessage"), MethodKind::Send);
        assert_eq!(MethodKind::of("GetChatMember"), MethodKind::Repeatable);
        assert_eq!(MethodKind::of("EditMessageText"), MethodKind::Repeatable);
        assert_eq!(MethodKind::of("AnswerCallbackQuery"), MethodKind::Once);
    }

    #[test]
    fn answers_are_read_with_their_status() {
        let ok = read_answer(200, Bytes::from_static(br#"{"ok":true,"result":{"id":1}}"#));
        // A success is handed on unread: the caller reads it into its type.
        assert!(matches!(ok, Answer::Ok(bytes) if bytes.starts_with(b"{\"ok\":true")));
        let flood = read_answer(429, Bytes::from_static(br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#));
        assert!(matches!(flood, Answer::RetryAfter(wait) if wait == Duration::from_secs(7)));
        let moved = read_answer(400, Bytes::from_static(br#"{"ok":false,"error_code":400,"description":"Bad Request: group chat was upgraded to a supergroup chat","parameters":{"migrate_to_chat_id":-1001}}"#));
        assert!(matches!(moved, Answer::Migrated(-1001)));
        let server = read_answer(
            500,
            Bytes::from_static(
                br#"{"ok":false,"error_code":500,"description":"Internal Server Error"}"#,
            ),
        );
        assert!(matches!(server, Answer::ServerError(_)));
        let html = read_answer(
            502,
            Bytes::from_static(b"<html><body>502 Bad Gateway</body></html>"),
        );
        assert!(matches!(html, Answer::ServerError(_)));
        let refused = read_answer(
            400,
            Bytes::from_static(
                br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#,
            ),
        );
        assert!(matches!(
            refused,
            Answer::Refused {
                code: 400,
                api: ApiError::ChatNotFound
            }
        ));
        assert!(matches!(
            read_answer(400, Bytes::from_static(b"nonsense")),
            Answer::Unreadable(_)
        ));
    }
}
