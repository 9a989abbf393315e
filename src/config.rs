//! Configuration, read once at start-up from the environment (and `.env`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use crate::store::{DEFAULT_DATABASE_URL, DatabaseUrl};
use crate::telegram::SendLimits;

pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_LOG_FILTER: &str = "info";

#[derive(Clone)]
pub struct Config {
    pub bot_token: BotToken,
    pub database_url: DatabaseUrl,
    pub telegram_api_url: Url,
    pub log_filter: String,
    /// Telegram's send limits, kept unless `SEND_LIMITS=off` (a test server
    /// or a benchmark, never real Telegram).
    pub send_limits: Option<SendLimits>,
    /// Whether a user sending commands faster than a person would is slowed
    /// down (`USER_PACE=off` only for test scripts and benchmarks).
    pub user_pace: bool,
    /// Where the HTTP server (health, metrics, webhook) listens; none when
    /// unset.
    pub http_addr: Option<SocketAddr>,
    /// `Authorization: Bearer <token>` that `/metrics` requires, if set.
    pub metrics_token: Option<Secret>,
    /// Webhook mode instead of long polling.
    pub webhook: Option<Webhook>,
    /// How long a stop lets handlers and queued replies finish
    /// (`SHUTDOWN_GRACE`, 8 s: under Docker's 10 s before it kills).
    pub shutdown_grace: Duration,
}

/// `SHUTDOWN_GRACE` when unset.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(8);
/// `WEBHOOK_MAX_CONNECTIONS` when unset: Telegram's own default.
pub const DEFAULT_WEBHOOK_MAX_CONNECTIONS: u8 = 40;

/// Webhook mode: Telegram posts updates to `url`, served on `HTTP_ADDR` at
/// the URL's path, with `secret` in a header.
#[derive(Clone)]
pub struct Webhook {
    pub url: Url,
    pub secret: Secret,
    /// How many posts Telegram may have open at once (1-100).
    pub max_connections: u8,
}

/// A value never printed (tokens, secrets).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// A bot token of Telegram's shape (`<bot id>:<secret>`). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct BotToken(String);

impl BotToken {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let raw = raw.trim();
        let (id, secret) = raw.split_once(':').ok_or(ConfigError::MalformedToken)?;
        let id_ok = !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit());
        let secret_ok = secret.len() >= 30
            && secret.len() <= 100
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if id_ok && secret_ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ConfigError::MalformedToken)
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BotToken(<redacted>)")
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("bot_token", &self.bot_token)
            .field("database_url", &self.database_url)
            .field("telegram_api_url", &self.telegram_api_url.as_str())
            .field("log_filter", &self.log_filter)
            .field("send_limits", &self.send_limits)
            .field("user_pace", &self.user_pace)
            .field("http_addr", &self.http_addr)
            .field("metrics_token", &self.metrics_token)
            .field(
                "webhook_url",
                &self.webhook.as_ref().map(|w| w.url.as_str()),
            )
            .field("shutdown_grace", &self.shutdown_grace)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("BOT_TOKEN is not set: get a token from @BotFather and set BOT_TOKEN")]
    MissingToken,
    #[error("BOT_TOKEN is malformed: expected <bot id>:<secret> as given by @BotFather")]
    MalformedToken,
    #[error(transparent)]
    DatabaseUrl(#[from] crate::store::UnsupportedDatabaseUrl),
    #[error(".env cannot be read: {0}")]
    DotEnv(String),
    #[error("TELEGRAM_API_URL is not a valid http(s) URL: {0}")]
    TelegramApiUrl(String),
    #[error("{0} must be on or off, got {1:?}")]
    Switch(&'static str, String),
    #[error("HTTP_ADDR must be an address to listen on, like 0.0.0.0:8080, got {0:?}")]
    HttpAddr(String),
    #[error("WEBHOOK_URL must be an http(s) URL, got {0:?}")]
    WebhookUrl(String),
    #[error("WEBHOOK_URL needs HTTP_ADDR: the address the webhook is served on")]
    WebhookWithoutHttp,
    #[error(
        "WEBHOOK_SECRET is required with WEBHOOK_URL: 1-256 characters of A-Z, a-z, 0-9, _ and -"
    )]
    WebhookSecret,
    #[error("WEBHOOK_MAX_CONNECTIONS must be a number from 1 to 100, got {0:?}")]
    WebhookMaxConnections(String),
    #[error("SHUTDOWN_GRACE must be a duration from 1s to 10m, like 8s, got {0:?}")]
    ShutdownGrace(String),
}

impl Config {
    /// Reads the process environment, after loading `.env` if present.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a present one fills unset variables only,
        // and one that does not parse is an error rather than half-read.
        if let Err(error) = dotenvy::dotenv()
            && !error.not_found()
        {
            return Err(ConfigError::DotEnv(error.to_string()));
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds the configuration from any variable lookup (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let non_empty = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let bot_token = match non_empty("BOT_TOKEN") {
            Some(raw) => BotToken::parse(&raw)?,
            None => return Err(ConfigError::MissingToken),
        };
        let database_url = DatabaseUrl::parse(
            non_empty("DATABASE_URL")
                .as_deref()
                .unwrap_or(DEFAULT_DATABASE_URL)
                .trim(),
        )?;
        let api = non_empty("TELEGRAM_API_URL").unwrap_or_else(|| DEFAULT_TELEGRAM_API_URL.into());
        let telegram_api_url =
            http_url(&api).ok_or_else(|| ConfigError::TelegramApiUrl(api.clone()))?;
        let log_filter = non_empty("RUST_LOG").unwrap_or_else(|| DEFAULT_LOG_FILTER.into());
        let switch = |name: &'static str| match non_empty(name).as_deref().map(str::trim) {
            None | Some("on") => Ok(true),
            Some("off") => Ok(false),
            Some(other) => Err(ConfigError::Switch(name, other.to_owned())),
        };
        let send_limits = switch("SEND_LIMITS")?.then_some(SendLimits::TELEGRAM);
        let user_pace = switch("USER_PACE")?;
        let http_addr = non_empty("HTTP_ADDR")
            .map(|raw| parse_http_addr(&raw))
            .transpose()?;
        let metrics_token = non_empty("METRICS_TOKEN").map(|raw| Secret(raw.trim().to_owned()));
        let webhook = match non_empty("WEBHOOK_URL") {
            None => None,
            Some(raw) => {
                let url = http_url(&raw).ok_or_else(|| ConfigError::WebhookUrl(raw.clone()))?;
                if http_addr.is_none() {
                    return Err(ConfigError::WebhookWithoutHttp);
                }
                // Telegram's rule for secret_token.
                let secret = non_empty("WEBHOOK_SECRET")
                    .map(|raw| raw.trim().to_owned())
                    .filter(|secret| {
                        secret.len() <= 256
                            && secret
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                    })
                    .ok_or(ConfigError::WebhookSecret)?;
                let max_connections = match non_empty("WEBHOOK_MAX_CONNECTIONS") {
                    None => DEFAULT_WEBHOOK_MAX_CONNECTIONS,
                    Some(raw) => raw
                        .trim()
                        .parse::<u8>()
                        .ok()
                        .filter(|n| (1..=100).contains(n))
                        .ok_or(ConfigError::WebhookMaxConnections(raw))?,
                };
                Some(Webhook {
                    url,
                    secret: Secret(secret),
                    max_connections,
                })
            }
        };

        let shutdown_grace = match non_empty("SHUTDOWN_GRACE") {
            None => DEFAULT_SHUTDOWN_GRACE,
            Some(raw) => humantime::parse_duration(raw.trim())
                .ok()
                .filter(|grace| (Duration::from_secs(1)..=Duration::from_secs(600)).contains(grace))
                .ok_or(ConfigError::ShutdownGrace(raw))?,
        };

        Ok(Self {
            bot_token,
            database_url,
            telegram_api_url,
            log_filter,
            send_limits,
            user_pace,
            http_addr,
            metrics_token,
            webhook,
            shutdown_grace,
        })
    }
}

/// `HTTP_ADDR`: the address castellan's HTTP server listens on.
pub fn parse_http_addr(raw: &str) -> Result<SocketAddr, ConfigError> {
    raw.trim()
        .parse()
        .map_err(|_| ConfigError::HttpAddr(raw.to_owned()))
}

/// An absolute http(s) URL with a host.
fn http_url(raw: &str) -> Option<Url> {
    Url::parse(raw.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOKEN: &str = "123456789:AAHfakeTokenForCastellanTests_0123456";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn token_is_required_and_checked() {
        assert_eq!(config(&[]).unwrap_err(), ConfigError::MissingToken);
        assert_eq!(
            config(&[("BOT_TOKEN", "  ")]).unwrap_err(),
            ConfigError::MissingToken
        );
        for bad in [
            "abc",
            "123:short",
            ":AAHfakeTokenForCastellanTests_0123456",
            "12a:AAHfakeTokenForCastellanTests_0123456",
            "123:AAHfake Token ForCastellanTests_0123456",
        ] {
            assert_eq!(
                config(&[("BOT_TOKEN", bad)]).unwrap_err(),
                ConfigError::MalformedToken,
                "{bad}"
            );
        }
        let ok = config(&[("BOT_TOKEN", TOKEN)]).unwrap();
        assert_eq!(ok.bot_token.expose(), TOKEN);
        assert!(
            !format!("{ok:?}").contains("AAH"),
            "the token must never be printed"
        );
    }

    #[test]
    fn defaults() {
        let c = config(&[("BOT_TOKEN", TOKEN)]).unwrap();
        assert_eq!(
            c.database_url,
            DatabaseUrl::Sqlite(DEFAULT_DATABASE_URL.into())
        );
        assert_eq!(c.telegram_api_url.as_str(), "https://api.telegram.org/");
        assert_eq!(c.log_filter, "info");
        assert_eq!(c.send_limits, Some(SendLimits::TELEGRAM));
    }

    #[test]
    fn webhook_mode_needs_an_address_and_a_secret() {
        let base = [("BOT_TOKEN", TOKEN), ("HTTP_ADDR", "127.0.0.1:8080")];
        let c = config(&base).unwrap();
        assert_eq!(c.http_addr, Some("127.0.0.1:8080".parse().unwrap()));
        assert!(c.webhook.is_none());
        let url = ("WEBHOOK_URL", "https://bot.example.org/telegram");
        let err = config(&[base[0], base[1], url]).unwrap_err();
        assert_eq!(err, ConfigError::WebhookSecret);
        let err = config(&[base[0], url, ("WEBHOOK_SECRET", "s3cret")]).unwrap_err();
        assert_eq!(err, ConfigError::WebhookWithoutHttp);
        let bad = ("WEBHOOK_SECRET", "not allowed!");
        assert_eq!(
            config(&[base[0], base[1], url, bad]).unwrap_err(),
            ConfigError::WebhookSecret
        );
        let c = config(&[base[0], base[1], url, ("WEBHOOK_SECRET", "s3cret_-X")]).unwrap();
        let webhook = c.webhook.as_ref().unwrap();
        assert_eq!(webhook.url.path(), "/telegram");
        assert_eq!(webhook.secret.expose(), "s3cret_-X");
        assert!(
            !format!("{c:?}").contains("s3cret"),
            "secrets are never printed"
        );
        let err = config(&[("BOT_TOKEN", TOKEN), ("HTTP_ADDR", "eight thousand")]).unwrap_err();
        assert!(matches!(err, ConfigError::HttpAddr(_)));
    }

    #[test]
    fn stop_grace_and_webhook_connections() {
        let c = config(&[("BOT_TOKEN", TOKEN)]).unwrap();
        assert_eq!(c.shutdown_grace, Duration::from_secs(8));
        let c = config(&[("BOT_TOKEN", TOKEN), ("SHUTDOWN_GRACE", "2s 500ms")]).unwrap();
        assert_eq!(c.shutdown_grace, Duration::from_millis(2500));
        for bad in ["soon", "0s", "1h"] {
            let err = config(&[("BOT_TOKEN", TOKEN), ("SHUTDOWN_GRACE", bad)]).unwrap_err();
            assert!(matches!(err, ConfigError::ShutdownGrace(_)), "{bad}");
        }
        let base = [
            ("BOT_TOKEN", TOKEN),
            ("HTTP_ADDR", "127.0.0.1:8080"),
            ("WEBHOOK_URL", "https://bot.example.org/telegram"),
            ("WEBHOOK_SECRET", "s3cret"),
        ];
        let c = config(&base).unwrap();
        assert_eq!(c.webhook.unwrap().max_connections, 40);
        let mut vars = base.to_vec();
        vars.push(("WEBHOOK_MAX_CONNECTIONS", "100"));
        assert_eq!(config(&vars).unwrap().webhook.unwrap().max_connections, 100);
        for bad in ["0", "101", "many"] {
            let mut vars = base.to_vec();
            vars.push(("WEBHOOK_MAX_CONNECTIONS", bad));
            let err = config(&vars).unwrap_err();
            assert!(
                matches!(err, ConfigError::WebhookMaxConnections(_)),
                "{bad}"
            );
        }
    }

    #[test]
    fn send_limits_can_be_turned_off_only_explicitly() {
        let off = config(&[("BOT_TOKEN", TOKEN), ("SEND_LIMITS", "off")]).unwrap();
        assert_eq!(off.send_limits, None);
        let err = config(&[("BOT_TOKEN", TOKEN), ("SEND_LIMITS", "no")]).unwrap_err();
        assert!(matches!(err, ConfigError::Switch("SEND_LIMITS", _)));
        let c = config(&[("BOT_TOKEN", TOKEN), ("USER_PACE", "off")]).unwrap();
        assert!(!c.user_pace);
        assert!(config(&[("BOT_TOKEN", TOKEN)]).unwrap().user_pace);
    }

    #[test]
    fn database_url_scheme_picks_the_backend() {
        let pg = config(&[
            ("BOT_TOKEN", TOKEN),
            ("DATABASE_URL", "postgres://u:secret@h/db"),
        ])
        .unwrap();
        assert_eq!(pg.database_url.backend(), crate::store::Backend::Postgres);
        assert!(!format!("{pg:?}").contains("secret"));
        let pg2 = config(&[("BOT_TOKEN", TOKEN), ("DATABASE_URL", "postgresql://h/db")]).unwrap();
        assert_eq!(pg2.database_url.backend(), crate::store::Backend::Postgres);
        let err = config(&[("BOT_TOKEN", TOKEN), ("DATABASE_URL", "mysql://h/db")]).unwrap_err();
        assert!(err.to_string().contains("DATABASE_URL"), "{err}");
    }

    #[test]
    fn api_url_must_be_http() {
        let err = config(&[("BOT_TOKEN", TOKEN), ("TELEGRAM_API_URL", "not a url")]).unwrap_err();
        assert!(matches!(err, ConfigError::TelegramApiUrl(_)));
        let c = config(&[
            ("BOT_TOKEN", TOKEN),
            ("TELEGRAM_API_URL", "http://127.0.0.1:8081"),
        ])
        .unwrap();
        assert_eq!(c.telegram_api_url.as_str(), "http://127.0.0.1:8081/");
    }
}
