//! The HTTP side of castellan, on `HTTP_ADDR`: `/health` for orchestrators,
//! `/metrics` for Prometheus, and in webhook mode the path Telegram posts
//! updates to.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use subtle::ConstantTimeEq;
use teloxide::payloads::GetMe;

use crate::config::{Secret, parse_http_addr};
use crate::intake::{Intake, Outcome};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::telegram::{RetryPolicy, Telegram};
use crate::updates::{parse_update_text, update_kind};

/// How long each health probe may take; the two run side by side.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// Telegram counts as reachable if it answered this recently; otherwise the
/// health check asks getMe.
const TELEGRAM_FRESH: Duration = Duration::from_secs(60);
/// Telegram's header carrying the webhook's secret token.
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

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

pub fn router(state: Arc<HttpState>) -> Router {
    let mut router = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics));
    if let Some(webhook) = &state.webhook {
        router = router.route(&webhook.path, post(webhook_update));
    }
    router.with_state(state)
}

/// 200 when the database answers a ping within a second and Telegram
/// answered recently (or answers getMe now); 503 naming what failed.
async fn health(State(state): State<Arc<HttpState>>) -> Response {
    let database = async {
        matches!(
            tokio::time::timeout(PROBE_TIMEOUT, state.store.ping()).await,
            Ok(Ok(()))
        )
    };
    let telegram = async {
        if state
            .telegram
            .since_last_answer()
            .is_some_and(|since| since < TELEGRAM_FRESH)
        {
            return true;
        }
        let probe = state.telegram.call_with(GetMe::new(), RetryPolicy::ONCE);
        matches!(tokio::time::timeout(PROBE_TIMEOUT, probe).await, Ok(Ok(_)))
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
async fn metrics(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
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

/// One update posted by Telegram. Answered 200 once it was handled (or had
/// been before): its replies are queued then, not necessarily sent, so the
/// post never waits for a chat's send slots. An update handled elsewhere
/// right now, or cut off by a stop, is answered 503: Telegram sends it
/// again.
async fn webhook_update(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let Some(webhook) = &state.webhook else {
        return StatusCode::NOT_FOUND;
    };
    let given = headers
        .get(SECRET_HEADER)
        .map(|value| value.as_bytes())
        .unwrap_or_default();
    if !bool::from(given.ct_eq(webhook.secret.expose().as_bytes())) {
        tracing::warn!("a webhook post without the right secret token was refused");
        return StatusCode::UNAUTHORIZED;
    }
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
    state.metrics.update(update_kind(&update));
    match webhook.intake.submit(&update).outcome().await {
        Outcome::Handled | Outcome::Duplicate | Outcome::Dropped => StatusCode::OK,
        Outcome::Running | Outcome::Cut => StatusCode::SERVICE_UNAVAILABLE,
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
