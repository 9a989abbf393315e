//! Configuration, read once at start-up from the environment (and `.env`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use crate::store::{
    DEFAULT_DATABASE_URL, DEFAULT_POSTGRES_POOL_SIZE, DatabaseUrl, MAX_POSTGRES_POOL_SIZE,
    MIN_POSTGRES_POOL_SIZE, OpenOptions,
};
use crate::telegram::SendLimits;

pub const DEFAULT_TELEGRAM_API_URL: &str = "https://api.telegram.org";
pub const DEFAULT_LOG_FILTER: &str = "info";

#[derive(Clone)]
pub struct Config {
    pub bot_token: BotToken,
    pub database_url: DatabaseUrl,
    /// PostgreSQL: the most connections castellan opens
    /// (`DATABASE_POOL_SIZE`, 2-100, default 8). SQLite keeps its own.
    pub database_pool_size: u32,
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
    /// Polling: delete a webhook Telegram has set for the bot instead of
    /// refusing to start (`TAKE_OVER_WEBHOOK=1`, switching a webhook
    /// deployment to polling on purpose).
    pub take_over_webhook: bool,
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
            .field("database_pool_size", &self.database_pool_size)
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
            .field("take_over_webhook", &self.take_over_webhook)
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
    DatabaseUrl(#[from] crate::store::InvalidDatabaseUrl),
    #[error("DATABASE_POOL_SIZE must be a number from 2 to 100, got {0:?}")]
    DatabasePoolSize(String),
    /// `.env` could not be read (never a value from it: only the system's
    /// reason).
    #[error(".env cannot be read: {0}")]
    DotEnv(String),
    /// A line of `.env` does not parse. Names the line and the variable,
    /// never the value (it may be a token or a password).
    #[error("{}", dotenv_line_message(.path, *.line, .name.as_deref(), *.problem))]
    DotEnvLine {
        path: String,
        /// 1-based; 0 when it could not be told.
        line: usize,
        /// The variable the line sets, when it has a `NAME=` at all.
        name: Option<String>,
        problem: DotEnvProblem,
    },
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
    #[error("{0} must be 1 or 0 (on or off), got {1:?}")]
    Flag(&'static str, String),
}

/// What is wrong with a line of `.env`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotEnvProblem {
    /// A quote opened on the line is never closed.
    UnclosedQuote,
    /// The file ends on a backslash or a space inside the value.
    UnfinishedEnd,
    /// Not `NAME=value` (nor a comment or a blank line).
    NotAnAssignment,
    /// The value does not parse: a space outside quotes, an unknown escape,
    /// an unclosed `${`.
    BadValue,
}

fn dotenv_line_message(
    path: &str,
    line: usize,
    name: Option<&str>,
    problem: DotEnvProblem,
) -> String {
    let at = match (line, name) {
        (0, Some(name)) => format!("the line setting {name}"),
        (0, None) => "a line".to_owned(),
        (line, Some(name)) => format!("line {line} ({name})"),
        (line, None) => format!("line {line}"),
    };
    let what = match problem {
        DotEnvProblem::UnclosedQuote => "a quote is never closed",
        DotEnvProblem::UnfinishedEnd => {
            "the file ends inside the value (after a backslash or a space): end the file with a newline"
        }
        DotEnvProblem::NotAnAssignment => "not NAME=value, a comment or a blank line",
        DotEnvProblem::BadValue => {
            "the value does not parse: quote a value with spaces, escape only \\\\ \\' \\\" \\$ and \\n, close every ${"
        }
    };
    format!("{path} cannot be read: {at}: {what} (the value is not shown)")
}

impl Config {
    /// Reads the process environment, after loading `.env` if present.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a present one fills unset variables only,
        // and one that does not parse is an error rather than half-read.
        // dotenvy's own message quotes the line, value and all: it is never
        // shown, only where the line is and what it sets.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(error) if error.not_found() => {}
            Err(dotenvy::Error::Io(error)) => return Err(ConfigError::DotEnv(error.to_string())),
            Err(_) => return Err(dotenv_line_error()),
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
        let database_pool_size = match non_empty("DATABASE_POOL_SIZE") {
            None => DEFAULT_POSTGRES_POOL_SIZE,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (MIN_POSTGRES_POOL_SIZE..=MAX_POSTGRES_POOL_SIZE).contains(n))
                .ok_or(ConfigError::DatabasePoolSize(raw))?,
        };
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

        let take_over_webhook = match non_empty("TAKE_OVER_WEBHOOK").as_deref().map(str::trim) {
            None | Some("0" | "off" | "false" | "no") => false,
            Some("1" | "on" | "true" | "yes") => true,
            Some(other) => return Err(ConfigError::Flag("TAKE_OVER_WEBHOOK", other.to_owned())),
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
            database_pool_size,
            telegram_api_url,
            log_filter,
            send_limits,
            user_pace,
            http_addr,
            metrics_token,
            webhook,
            take_over_webhook,
            shutdown_grace,
        })
    }

    /// How the store is opened (beyond its URL).
    pub fn store_options(&self) -> OpenOptions {
        OpenOptions {
            postgres_pool_size: self.database_pool_size,
        }
    }
}

/// The `.env` dotenvy reads: in the working directory or the nearest
/// parent that has one.
fn find_dotenv() -> Option<PathBuf> {
    let dir = std::env::current_dir().ok()?;
    dir.ancestors()
        .map(|dir| dir.join(".env"))
        .find(|candidate| candidate.is_file())
}

/// The error for a `.env` dotenvy could not parse: which line, setting what
/// (read again here, since dotenvy's error quotes the line instead).
fn dotenv_line_error() -> ConfigError {
    let path = find_dotenv();
    let shown = path
        .as_deref()
        .map_or_else(|| ".env".to_owned(), |path| path.display().to_string());
    let located = path
        .as_deref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .and_then(|contents| locate_dotenv_error(&contents));
    match located {
        Some((line, name, problem)) => ConfigError::DotEnvLine {
            path: shown,
            line,
            name,
            problem,
        },
        None => ConfigError::DotEnvLine {
            path: shown,
            line: 0,
            name: None,
            problem: DotEnvProblem::BadValue,
        },
    }
}

/// Where dotenvy stops reading `contents`: the line (1-based) the failing
/// entry starts on, the variable it sets if it has a `NAME=`, and what is
/// wrong. None when dotenvy reads it all.
///
/// dotenvy reads entries one after the other and stops at the first that
/// fails; each entry that is not blank nor a comment is either read or
/// fails. So the entry that failed is the one after those it read, counted
/// over the file's entries as [`dotenv_entries`] splits them (as dotenvy
/// 0.15 does).
fn locate_dotenv_error(contents: &str) -> Option<(usize, Option<String>, DotEnvProblem)> {
    // dotenvy skips a byte-order mark when it loads a file.
    let contents = contents.strip_prefix('\u{feff}').unwrap_or(contents);
    let mut read = 0;
    for item in dotenvy::from_read_iter(contents.as_bytes()) {
        match item {
            Ok(_) => read += 1,
            Err(_) => {
                let entry = dotenv_entries(contents)
                    .into_iter()
                    .filter(|entry| entry.counts())
                    .nth(read)?;
                let name = entry.name();
                let problem = match entry.end {
                    EntryEnd::InQuote => DotEnvProblem::UnclosedQuote,
                    EntryEnd::Unfinished => DotEnvProblem::UnfinishedEnd,
                    EntryEnd::Complete if name.is_none() => DotEnvProblem::NotAnAssignment,
                    EntryEnd::Complete => DotEnvProblem::BadValue,
                };
                return Some((entry.line, name, problem));
            }
        }
    }
    None
}

/// How an entry of `.env` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryEnd {
    Complete,
    /// The file ended inside a quote.
    InQuote,
    /// The file ended on an escape or a space (dotenvy wants more).
    Unfinished,
}

/// One entry of `.env` as dotenvy splits the file: a line, or several when
/// a quote spans them.
#[derive(Debug)]
struct DotEnvEntry<'a> {
    /// The 1-based line it starts on.
    line: usize,
    text: &'a str,
    end: EntryEnd,
}

impl DotEnvEntry<'_> {
    /// Whether dotenvy reads it as a variable (or fails on it): not blank,
    /// not a comment.
    fn counts(&self) -> bool {
        let text = self.text.trim_start();
        self.end != EntryEnd::Complete || !(text.is_empty() || text.starts_with('#'))
    }

    /// The variable it sets, when it starts with `NAME=` (or
    /// `export NAME=`) as dotenvy reads names.
    fn name(&self) -> Option<String> {
        fn key(text: &str) -> Option<(&str, &str)> {
            if !text.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                return None;
            }
            let end = text
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .unwrap_or(text.len());
            Some((&text[..end], text[end..].trim_start()))
        }
        let (mut name, mut rest) = key(self.text.trim_start())?;
        if name == "export" && !rest.starts_with('=') {
            (name, rest) = key(rest)?;
        }
        rest.starts_with('=').then(|| name.to_owned())
    }
}

/// Splits `.env` into entries as dotenvy 0.15's reader does: a line ends an
/// entry unless a quote or an escape is still open at its end; a `#` after
/// a space outside quotes starts a comment.
fn dotenv_entries(contents: &str) -> Vec<DotEnvEntry<'_>> {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum State {
        Complete,
        Escape,
        Strong,
        StrongEscape,
        Weak,
        WeakEscape,
        WhiteSpace,
    }
    let mut entries = Vec::new();
    let mut lines = contents.split_inclusive('\n').enumerate();
    // Where the next entry starts.
    let mut end = 0;
    while let Some((index, first)) = lines.next() {
        let start = end;
        end += first.len();
        if first.trim_start().starts_with('#') {
            entries.push(DotEnvEntry {
                line: index + 1,
                text: &contents[start..end],
                end: EntryEnd::Complete,
            });
            continue;
        }
        let mut state = State::Complete;
        let mut line = first;
        loop {
            let mut comment = false;
            for c in line.chars() {
                state = match state {
                    State::WhiteSpace if c == '#' => {
                        comment = true;
                        break;
                    }
                    State::WhiteSpace | State::Complete => match c {
                        '\\' => State::Escape,
                        '"' => State::Weak,
                        '\'' => State::Strong,
                        c if state == State::Complete
                            && c.is_whitespace()
                            && c != '\n'
                            && c != '\r' =>
                        {
                            State::WhiteSpace
                        }
                        _ => State::Complete,
                    },
                    State::Escape => State::Complete,
                    State::Weak => match c {
                        '\\' => State::WeakEscape,
                        '"' => State::Complete,
                        _ => State::Weak,
                    },
                    State::WeakEscape => State::Weak,
                    State::Strong => match c {
                        '\\' => State::StrongEscape,
                        '\'' => State::Complete,
                        _ => State::Strong,
                    },
                    State::StrongEscape => State::Strong,
                };
            }
            if comment || state == State::Complete {
                entries.push(DotEnvEntry {
                    line: index + 1,
                    text: &contents[start..end],
                    end: EntryEnd::Complete,
                });
                break;
            }
            match lines.next() {
                Some((_, next)) => {
                    end += next.len();
                    line = next;
                }
                None => {
                    let how = match state {
                        State::Strong | State::StrongEscape | State::Weak | State::WeakEscape => {
                            EntryEnd::InQuote
                        }
                        _ => EntryEnd::Unfinished,
                    };
                    entries.push(DotEnvEntry {
                        line: index + 1,
                        text: &contents[start..end],
                        end: how,
                    });
                    break;
                }
            }
        }
    }
    entries
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
    fn a_malformed_database_url_is_a_configuration_error_that_hides_the_password() {
        let cases = [
            // An unencoded space, '#' or '/' in the password.
            "postgres://user:pa ss@127.0.0.1:5432/db",
            "postgres://user:hunter2#x@127.0.0.1/db",
            "postgres://user:hunter2/x@127.0.0.1/db",
            "postgres://127.0.0.1:notaport/db",
            "postgres://user:hunter2@127.0.0.1/db?sslmode=sometimes",
            "postgres://user:hunter2@127.0.0.1:99999/db",
            "sqlite://castellan.db?mode=bogus",
            "sqlite://castellan.db?colour=blue",
            // No scheme at all: nothing of it is shown.
            "hunter2",
            "//user:hunter2@host/db",
        ];
        for url in cases {
            let err = config(&[("BOT_TOKEN", TOKEN), ("DATABASE_URL", url)]).unwrap_err();
            assert!(matches!(err, ConfigError::DatabaseUrl(_)), "{url}: {err:?}");
            let message = err.to_string();
            assert!(message.starts_with("DATABASE_URL "), "{url}: {message}");
            for secret in ["pa ss", "hunter2", "pa%20ss"] {
                assert!(!message.contains(secret), "{url}: {message}");
            }
            assert!(!message.contains('\n'), "one line: {message}");
        }
        let err = config(&[("BOT_TOKEN", TOKEN), ("DATABASE_URL", "mysql://h/db")]).unwrap_err();
        assert!(err.to_string().contains("\"mysql\""), "{err}");
        // Percent-encoded, and options the drivers know, are fine.
        for url in [
            "postgres://user:pa%20ss%23@127.0.0.1:5432/db?sslmode=require",
            "sqlite://castellan.db?mode=rwc",
            "sqlite::memory:",
        ] {
            config(&[("BOT_TOKEN", TOKEN), ("DATABASE_URL", url)])
                .unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn database_pool_size_is_checked() {
        let c = config(&[("BOT_TOKEN", TOKEN)]).unwrap();
        assert_eq!(c.database_pool_size, 8);
        assert_eq!(c.store_options().postgres_pool_size, 8);
        for (raw, size) in [("2", 2), ("100", 100), (" 20 ", 20)] {
            let c = config(&[("BOT_TOKEN", TOKEN), ("DATABASE_POOL_SIZE", raw)]).unwrap();
            assert_eq!(c.database_pool_size, size);
            assert_eq!(c.store_options().postgres_pool_size, size);
        }
        for bad in ["0", "1", "101", "eight", "-3", "8.5"] {
            let err = config(&[("BOT_TOKEN", TOKEN), ("DATABASE_POOL_SIZE", bad)]).unwrap_err();
            assert!(matches!(err, ConfigError::DatabasePoolSize(_)), "{bad}");
            assert!(err.to_string().contains("DATABASE_POOL_SIZE"), "{err}");
        }
    }

    #[test]
    fn take_over_webhook_is_off_unless_asked() {
        assert!(!config(&[("BOT_TOKEN", TOKEN)]).unwrap().take_over_webhook);
        for (raw, on) in [("1", true), ("on", true), ("0", false), ("off", false)] {
            let c = config(&[("BOT_TOKEN", TOKEN), ("TAKE_OVER_WEBHOOK", raw)]).unwrap();
            assert_eq!(c.take_over_webhook, on, "{raw}");
        }
        let err = config(&[("BOT_TOKEN", TOKEN), ("TAKE_OVER_WEBHOOK", "please")]).unwrap_err();
        assert!(matches!(err, ConfigError::Flag("TAKE_OVER_WEBHOOK", _)));
        assert!(err.to_string().contains("TAKE_OVER_WEBHOOK"), "{err}");
    }

    #[test]
    fn a_broken_env_line_is_located_and_its_value_never_shown() {
        use DotEnvProblem::*;
        /// The line, the variable named, the problem.
        type Located<'a> = (usize, Option<&'a str>, DotEnvProblem);
        let cases: [(&str, Located); 11] = [
            (
                "BOT_TOKEN=\"123:secretvalue\n",
                (1, Some("BOT_TOKEN"), UnclosedQuote),
            ),
            (
                "# castellan\n\nRUST_LOG=info\nBOT_TOKEN=\"123:secretvalue\nDATABASE_URL=sqlite://x.db\n",
                (4, Some("BOT_TOKEN"), UnclosedQuote),
            ),
            (
                "BOT_TOKEN='123:secretvalue\n",
                (1, Some("BOT_TOKEN"), UnclosedQuote),
            ),
            (
                "RUST_LOG=info\nDATABASE_URL=postgres://u:secret value@h/db\n",
                (2, Some("DATABASE_URL"), BadValue),
            ),
            (
                "A=\"two\nlines\" # fine\n  export B=x\\qsecretvalue\n",
                (3, Some("B"), BadValue),
            ),
            (
                "BOT_TOKEN=${secretvalue\n",
                (1, Some("BOT_TOKEN"), BadValue),
            ),
            ("123:secretvalue\n", (1, None, NotAnAssignment)),
            (
                "A=1\nBOT_TOKEN 123:secretvalue\n",
                (2, None, NotAnAssignment),
            ),
            ("A=1\n secretvalue\n", (2, None, NotAnAssignment)),
            (
                "BOT_TOKEN=secretvalue\\",
                (1, Some("BOT_TOKEN"), UnfinishedEnd),
            ),
            (
                "\u{feff}A=1\r\nB=2\r\nC=\"secretvalue",
                (3, Some("C"), UnclosedQuote),
            ),
        ];
        for (contents, expected) in cases {
            let (line, name, problem) = locate_dotenv_error(contents)
                .unwrap_or_else(|| panic!("{contents:?} should not parse"));
            assert_eq!((line, name.as_deref(), problem), expected, "{contents:?}");
            let message = ConfigError::DotEnvLine {
                path: "/srv/castellan/.env".into(),
                line,
                name,
                problem,
            }
            .to_string();
            assert!(!message.contains("secret"), "{message}");
            assert!(message.contains(&format!("line {line}")), "{message}");
            if let Some(name) = expected.1 {
                assert!(message.contains(name), "{message}");
            }
        }
        for fine in [
            "",
            "# only a comment\n",
            "BOT_TOKEN=\"123:abc\"\nA='x y' # note\nexport B=c\n",
            "A=\"multi\nline\"\n",
        ] {
            assert_eq!(locate_dotenv_error(fine), None, "{fine:?}");
        }
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
