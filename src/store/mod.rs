//! Storage: one interface for every handler, implemented once ([`SqlStore`])
//! for PostgreSQL (production) and SQLite (the embedded default), chosen by
//! URL scheme.
//!
//! Every method commits before it returns: a handler that replies after an
//! `await` on the store never tells the user something the database does not
//! hold.

mod sql;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

pub use sql::SqlStore;

/// How many recent chats a user's connection history keeps.
pub const HISTORY_LIMIT: usize = 5;

/// The default database when `DATABASE_URL` is unset: a file next to the
/// working directory, created on first start.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://castellan.db";

/// How many connections to PostgreSQL a castellan keeps at most, unless
/// `DATABASE_POOL_SIZE` says otherwise.
pub const DEFAULT_POSTGRES_POOL_SIZE: u32 = 8;
/// The least pool `DATABASE_POOL_SIZE` may ask for: the admin-change
/// listener holds one connection for good, queries need another.
pub const MIN_POSTGRES_POOL_SIZE: u32 = 2;
/// The most pool `DATABASE_POOL_SIZE` may ask for (PostgreSQL's default
/// `max_connections` is 100).
pub const MAX_POSTGRES_POOL_SIZE: u32 = 100;

/// How the store is opened, beyond its URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// PostgreSQL: the most connections the pool opens. SQLite keeps its
    /// own size (one writer; a few readers).
    pub postgres_pool_size: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            postgres_pool_size: DEFAULT_POSTGRES_POOL_SIZE,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// The database refused who castellan is or what it asked for at
    /// connect time (wrong password, unknown role or database): a
    /// configuration error, not an outage.
    pub fn is_refusal(&self) -> bool {
        let StoreError::Database(sqlx::Error::Database(error)) = self else {
            return false;
        };
        // SQLSTATE 28xxx: invalid authorization; 3D000: no such database.
        error
            .code()
            .is_some_and(|code| code.starts_with("28") || code == "3D000")
    }

    /// The database cannot be reached or is shutting down: nothing is
    /// wrong with the request, and it may work shortly.
    pub fn is_unavailable(&self) -> bool {
        let StoreError::Database(error) = self else {
            return false;
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => true,
            // 08: connection exception; 57P0x: the server is shutting down
            // or starting; 53300: too many connections.
            sqlx::Error::Database(error) => error.code().is_some_and(|code| {
                code.starts_with("08") || code.starts_with("57P0") || code == "53300"
            }),
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Now, in the Unix milliseconds the store's claims and leases are kept in.
pub fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
        })
}

/// Database operations since start, in this process: each one query, or one
/// transaction (a handful of statements in one round of the pool). The
/// metrics expose it as `castellan_database_queries_total`.
pub static OPERATIONS: std::sync::LazyLock<Option<prometheus::IntCounter>> =
    std::sync::LazyLock::new(|| {
        prometheus::IntCounter::new(
            "castellan_database_queries_total",
            "Database operations: each one query, or one transaction.",
        )
        .ok()
    });

fn count_operation() {
    if let Some(counter) = OPERATIONS.as_ref() {
        counter.inc();
    }
}

/// A database URL whose scheme named a supported backend and whose
/// connection options parse (checked once, when the configuration is read).
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(String),
    Postgres(String),
}

/// Why `DATABASE_URL` cannot be used. The messages never hold the URL, nor
/// anything of its user info: it may carry a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidDatabaseUrl {
    #[error(
        "DATABASE_URL must start with sqlite:// or postgres:// (or postgresql://), got {}",
        match .scheme { Some(scheme) => format!("scheme {scheme:?}"), None => "no scheme".to_owned() }
    )]
    Scheme {
        /// The scheme given, when it looks like one (never free text that
        /// could be a password).
        scheme: Option<String>,
    },
    #[error(
        "DATABASE_URL contains a space or a control character: percent-encode them in the user name and password (a space is %20)"
    )]
    Whitespace,
    #[error(
        "DATABASE_URL is not a valid PostgreSQL URL ({reason}): expected postgres://user:password@host:port/database, special characters in the user name and password percent-encoded"
    )]
    Postgres { reason: String },
    #[error("DATABASE_URL is not a valid SQLite URL ({reason}): expected sqlite://path/to/file.db")]
    Sqlite { reason: String },
}

impl DatabaseUrl {
    /// Checks the scheme and parses the connection options as the store
    /// will when it opens the database.
    pub fn parse(url: &str) -> Result<Self, InvalidDatabaseUrl> {
        use std::str::FromStr;

        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        let parsed = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Self::Sqlite(url.to_owned()),
            "postgres" | "postgresql" => Self::Postgres(url.to_owned()),
            _ => {
                // RFC 3986's shape of a scheme; anything else is shown not
                // at all (a URL without a scheme may start with a password).
                let looks_like_scheme = scheme.len() <= 20
                    && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
                return Err(InvalidDatabaseUrl::Scheme {
                    scheme: looks_like_scheme.then(|| scheme.to_owned()),
                });
            }
        };
        // A URL holds no spaces; the url crate would quietly encode one,
        // but one there is nearly always a password pasted unencoded. (A
        // SQLite URL is a path, which may have spaces.)
        if parsed.backend() == Backend::Postgres
            && url.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(InvalidDatabaseUrl::Whitespace);
        }
        let reason = |error: sqlx::Error| {
            let reason = match error {
                sqlx::Error::Configuration(source) => source.to_string(),
                other => other.to_string(),
            };
            // Some options' errors come wrapped twice.
            let reason = reason
                .strip_prefix("error with configuration: ")
                .map_or(reason.clone(), str::to_owned);
            redact_password(url, reason)
        };
        match &parsed {
            Self::Sqlite(url) => {
                sqlx::sqlite::SqliteConnectOptions::from_str(url).map_err(|error| {
                    InvalidDatabaseUrl::Sqlite {
                        reason: reason(error),
                    }
                })?;
            }
            Self::Postgres(url) => {
                sqlx::postgres::PgConnectOptions::from_str(url).map_err(|error| {
                    InvalidDatabaseUrl::Postgres {
                        reason: reason(error),
                    }
                })?;
            }
        }
        Ok(parsed)
    }

    pub fn backend(&self) -> Backend {
        match self {
            Self::Sqlite(_) => Backend::Sqlite,
            Self::Postgres(_) => Backend::Postgres,
        }
    }
}

/// Never prints the URL itself: it may carry a password.
impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.backend())
    }
}

/// `message` with any password `url` carries (in its user info or a
/// `password` parameter, encoded or not) blotted out. The parsers' messages
/// hold none today; this keeps it so.
fn redact_password(url: &str, mut message: String) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return message;
    };
    let mut secrets: Vec<String> = Vec::new();
    if let Some(password) = parsed.password() {
        secrets.push(password.to_owned());
        if let Some(decoded) = percent_decode(password) {
            secrets.push(decoded);
        }
    }
    secrets.extend(
        parsed
            .query_pairs()
            .filter(|(key, _)| key == "password")
            .map(|(_, value)| value.into_owned()),
    );
    for secret in secrets.iter().filter(|secret| !secret.is_empty()) {
        message = message.replace(secret.as_str(), "***");
    }
    message
}

/// Percent-decodes user info as the PostgreSQL driver does.
fn percent_decode(raw: &str) -> Option<String> {
    let hex = |b: &u8| (*b as char).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match tail {
            [h, l, after @ ..] if b == b'%' => match (hex(h), hex(l)) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).ok()?);
                    rest = after;
                }
                _ => {
                    out.push(b);
                    rest = tail;
                }
            },
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "SQLite",
            Self::Postgres => "PostgreSQL",
        })
    }
}

/// Whose records a command reads and writes: a group's, or a Telegram
/// Business account's. Stored as a kind (`'chat'` / `'business'`) beside the
/// id, so a business account's records can never be taken for those of a
/// chat with the same number (a business chat's id is its customer's user
/// id, the same number as that customer's PM with the bot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Space {
    /// A group or supergroup, by chat id.
    Chat(i64),
    /// A Telegram Business account, by its owner's user id.
    Business(i64),
}

impl Space {
    /// The `space` column's value.
    pub fn kind(self) -> &'static str {
        match self {
            Space::Chat(_) => "chat",
            Space::Business(_) => "business",
        }
    }

    /// The `chat_id` column's value: the chat id, or the owner's user id.
    pub fn id(self) -> i64 {
        match self {
            Space::Chat(id) | Space::Business(id) => id,
        }
    }

    /// Rebuilds a space from its two columns; `None` for an unknown kind.
    pub fn from_columns(kind: &str, id: i64) -> Option<Space> {
        match kind {
            "chat" => Some(Space::Chat(id)),
            "business" => Some(Space::Business(id)),
            _ => None,
        }
    }
}

/// What a user is, or was, connected to. The title is the one seen when
/// connecting; it labels buttons and replies without asking Telegram again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedChat {
    pub space: Space,
    pub title: String,
}

/// Text with its Telegram message entities kept as the Bot API's JSON array
/// (`[{"type":"bold","offset":0,"length":4}, …]`), so formatting survives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormattedText {
    pub text: String,
    pub entities_json: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Canonical (lower-case) name; the caller validates and lower-cases it.
    pub name: String,
    pub content: FormattedText,
}

/// A Telegram Business connection as Telegram last described it (the Bot
/// API's `BusinessConnection`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessConnectionRecord {
    pub id: String,
    /// The business account's owner (`user.id`).
    pub owner_id: i64,
    /// The owner's private chat with the bot.
    pub user_chat_id: i64,
    /// The `rights` object (`BusinessBotRights`) as JSON; `None` when
    /// Telegram sent none, which means no rights.
    pub rights_json: Option<String>,
    pub is_enabled: bool,
    /// When the connection was established, in Unix time.
    pub date: i64,
}

/// A stored business connection and whether a newer one of the same owner
/// replaced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBusinessConnection {
    pub connection: BusinessConnectionRecord,
    /// A newer connection of the same owner exists: this id is dead, and
    /// updates carrying it are ignored.
    pub superseded: bool,
}

/// What [`Store::record_business_connection`] made of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessRecorded {
    /// It is now the owner's connection (any older id of the owner is
    /// superseded).
    Current,
    /// The id was already superseded, or the owner has a newer connection:
    /// nothing the bot acts on changed.
    Superseded,
}

/// How many warnings make a limit in a chat that never set one.
pub const DEFAULT_WARN_LIMIT: u32 = 3;

/// How many actions a chat's log keeps: inserting one more drops the oldest.
pub const ACTION_LOG_LIMIT: u32 = 1000;

/// A warning of a user in a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warn {
    /// Names the warning for its "remove warning" button; never reused.
    pub id: i64,
    /// The admin who warned.
    pub actor_id: i64,
    pub reason: Option<String>,
    /// When, in Unix time.
    pub at: i64,
}

/// What [`Store::add_warn`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarnAdded {
    /// The new warning's id.
    pub id: i64,
    /// The user's warnings in the chat with this one.
    pub count: u32,
    /// `count` reached the limit: the punishment is due, and the user's
    /// warnings in the chat are gone already.
    pub limit_reached: bool,
}

/// What reaching the warn limit does to the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WarnMode {
    #[default]
    Ban,
    Kick,
    Mute,
    /// A ban for this many seconds.
    TempBan(u64),
    /// A mute for this many seconds.
    TempMute(u64),
}

impl WarnMode {
    /// The `mode` and `seconds` columns' values (seconds beyond the column's
    /// range are kept as its largest value).
    pub(crate) fn to_columns(self) -> (&'static str, Option<i64>) {
        let seconds = |seconds: u64| Some(i64::try_from(seconds).unwrap_or(i64::MAX));
        match self {
            WarnMode::Ban => ("ban", None),
            WarnMode::Kick => ("kick", None),
            WarnMode::Mute => ("mute", None),
            WarnMode::TempBan(s) => ("tban", seconds(s)),
            WarnMode::TempMute(s) => ("tmute", seconds(s)),
        }
    }

    /// Rebuilds a mode from its two columns; `None` for a mode this
    /// castellan does not know (written by a newer one), or a temporary one
    /// without a length.
    pub(crate) fn from_columns(mode: &str, seconds: Option<i64>) -> Option<WarnMode> {
        let seconds = || seconds.and_then(|s| u64::try_from(s).ok());
        match mode {
            "ban" => Some(WarnMode::Ban),
            "kick" => Some(WarnMode::Kick),
            "mute" => Some(WarnMode::Mute),
            "tban" => seconds().map(WarnMode::TempBan),
            "tmute" => seconds().map(WarnMode::TempMute),
            _ => None,
        }
    }
}

/// A chat's warn settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarnSettings {
    /// How many warnings trigger `mode`; at least 1.
    pub limit: u32,
    pub mode: WarnMode,
}

impl Default for WarnSettings {
    fn default() -> Self {
        Self {
            limit: DEFAULT_WARN_LIMIT,
            mode: WarnMode::Ban,
        }
    }
}

/// One entry of a chat's action log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModAction {
    pub chat_id: i64,
    /// The admin who acted.
    pub actor_id: i64,
    /// What was done: `"ban"`, `"tban"`, `"unban"`, `"kick"`, `"mute"`,
    /// `"tmute"`, `"unmute"`, `"warn"`, `"rmwarn"`, `"resetwarns"`, …
    /// (stored as given).
    pub action: String,
    /// The user acted on.
    pub target_id: i64,
    pub reason: Option<String>,
    /// When a temporary restriction ends, in Unix time; `None` for none.
    pub until: Option<i64>,
    /// The admin acted from their private chat, through a connection.
    pub via_connection: bool,
    /// When, in Unix time.
    pub at: i64,
}

/// A member of a group as last seen there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUser {
    /// The user id.
    pub id: i64,
    /// Without the `@`, as Telegram spells it.
    pub username: Option<String>,
    pub first_name: String,
    pub last_name: Option<String>,
}

/// What a guard does to the sender of a message it catches (the message
/// itself is deleted whatever it is).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GuardAction {
    /// Nothing more: the blacklist's default.
    #[default]
    Delete,
    Warn,
    Mute,
    Kick,
    Ban,
    /// A mute for this many seconds.
    TempMute(u64),
    /// A ban for this many seconds.
    TempBan(u64),
}

impl GuardAction {
    /// The `*_mode` and `*_seconds` columns' values (seconds beyond the
    /// column's range are kept as its largest value).
    pub(crate) fn to_columns(self) -> (&'static str, Option<i64>) {
        let seconds = |seconds: u64| Some(i64::try_from(seconds).unwrap_or(i64::MAX));
        match self {
            GuardAction::Delete => ("delete", None),
            GuardAction::Warn => ("warn", None),
            GuardAction::Mute => ("mute", None),
            GuardAction::Kick => ("kick", None),
            GuardAction::Ban => ("ban", None),
            GuardAction::TempMute(s) => ("tmute", seconds(s)),
            GuardAction::TempBan(s) => ("tban", seconds(s)),
        }
    }

    /// Rebuilds an action from its two columns; `None` for an action this
    /// castellan does not know (written by a newer one), or a temporary one
    /// without a length.
    pub(crate) fn from_columns(mode: &str, seconds: Option<i64>) -> Option<GuardAction> {
        let seconds = || seconds.and_then(|s| u64::try_from(s).ok());
        match mode {
            "delete" => Some(GuardAction::Delete),
            "warn" => Some(GuardAction::Warn),
            "mute" => Some(GuardAction::Mute),
            "kick" => Some(GuardAction::Kick),
            "ban" => Some(GuardAction::Ban),
            "tmute" => seconds().map(GuardAction::TempMute),
            "tban" => seconds().map(GuardAction::TempBan),
            _ => None,
        }
    }
}

/// A chat's antiflood settings; with neither limit set, antiflood is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodSettings {
    /// Messages in a row by one member (nobody else writing in between)
    /// that trigger `action`.
    pub consecutive: Option<u32>,
    /// `(count, seconds)`: `count` messages by one member within `seconds`
    /// trigger `action`. [`Store::flood_hit`] counts at most
    /// [`FLOOD_WINDOW_LIMIT`]: a larger count is never reached.
    pub timer: Option<(u32, u64)>,
    pub action: GuardAction,
}

impl Default for FloodSettings {
    fn default() -> Self {
        Self {
            consecutive: None,
            timer: None,
            action: GuardAction::Mute,
        }
    }
}

/// How many of one member's messages in a chat [`Store::flood_hit`] keeps
/// (and counts) within a flood timer's window: the bound on what a flood
/// leaves in the database.
pub const FLOOD_WINDOW_LIMIT: u32 = 100;

/// What [`Store::flood_hit`] counted, the message it recorded included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodCount {
    /// The sender's messages in a row in the chat, nobody else's in between.
    pub consecutive: u32,
    /// The sender's messages in the chat within the window (0 without one),
    /// at most [`FLOOD_WINDOW_LIMIT`].
    pub in_window: u32,
}

/// Everything a chat's message checks need ([`Store::guards`]); the default
/// is a chat that never set any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuardSet {
    /// `(keyword, reply)`, sorted by keyword (byte-wise).
    pub filters: Vec<(String, FormattedText)>,
    /// Sorted (byte-wise).
    pub blacklist: Vec<String>,
    pub blacklist_action: GuardAction,
    /// [`Store::locks`].
    pub locks: u64,
    pub flood: FloodSettings,
    /// Sorted (byte-wise).
    pub disabled: Vec<String>,
    /// Disabled commands members send are deleted.
    pub disabled_delete: bool,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    // --- connections -----------------------------------------------------

    /// Makes `chat` the user's current connection and the newest entry of
    /// their history (trimmed to [`HISTORY_LIMIT`]), in one transaction.
    /// A user has at most one current connection, whatever runs concurrently.
    /// History entries are unique per space (kind and id).
    async fn connect(&self, user_id: i64, chat: &ConnectedChat) -> StoreResult<()>;
    /// Ends the current connection (history is kept) and returns it.
    async fn disconnect(&self, user_id: i64) -> StoreResult<Option<ConnectedChat>>;
    /// Ends the current connection only if it is still to `space` (a check
    /// of it failed; a connection made meanwhile stays); `true` if it ended.
    async fn disconnect_from(&self, user_id: i64, space: Space) -> StoreResult<bool>;
    async fn current_connection(&self, user_id: i64) -> StoreResult<Option<ConnectedChat>>;
    /// The current connection, with whether its chat lets members connect
    /// (what every use of it checks), in one query.
    async fn current_connection_for_use(
        &self,
        user_id: i64,
    ) -> StoreResult<Option<(ConnectedChat, bool)>>;
    /// Newest first, at most [`HISTORY_LIMIT`].
    async fn recent_chats(&self, user_id: i64) -> StoreResult<Vec<ConnectedChat>>;

    // --- per-chat settings -----------------------------------------------

    /// Whether non-admins may connect; `true` for a chat never configured.
    async fn allow_connect(&self, chat_id: i64) -> StoreResult<bool>;
    async fn set_allow_connect(&self, chat_id: i64, allow: bool) -> StoreResult<()>;

    // --- notes -----------------------------------------------------------

    /// Inserts or replaces; returns `true` when a note of that name existed.
    async fn save_note(&self, space: Space, note: &Note) -> StoreResult<bool>;
    async fn note(&self, space: Space, name: &str) -> StoreResult<Option<Note>>;
    /// Sorted by name (byte-wise).
    async fn note_names(&self, space: Space) -> StoreResult<Vec<String>>;
    /// Returns `true` when a note was deleted.
    async fn delete_note(&self, space: Space, name: &str) -> StoreResult<bool>;

    // --- rules -----------------------------------------------------------

    async fn set_rules(&self, chat_id: i64, rules: &FormattedText) -> StoreResult<()>;
    async fn rules(&self, chat_id: i64) -> StoreResult<Option<FormattedText>>;
    /// Returns `true` when there were rules to clear.
    async fn clear_rules(&self, chat_id: i64) -> StoreResult<bool>;

    // --- Telegram Business -------------------------------------------------

    /// Stores a connection as Telegram described it, replacing what was known
    /// for its id, in one transaction. One owner has one live connection: the
    /// one with the latest `date` (on a tie, the one recorded last) is
    /// current and every other id of that owner is marked superseded. An id
    /// already superseded is not changed. Forgets any failed lookup of the id.
    async fn record_business_connection(
        &self,
        connection: &BusinessConnectionRecord,
    ) -> StoreResult<BusinessRecorded>;
    async fn business_connection(&self, id: &str) -> StoreResult<Option<StoredBusinessConnection>>;
    /// The owner's current (not superseded) connection, enabled or not.
    async fn owner_business_connection(
        &self,
        owner_id: i64,
    ) -> StoreResult<Option<BusinessConnectionRecord>>;
    /// Remembers that Telegram did not know the id, at Unix time `at`
    /// (replacing an earlier time).
    async fn remember_unknown_business_connection(&self, id: &str, at: i64) -> StoreResult<()>;
    /// When Telegram last said it did not know the id (Unix time), if it did.
    async fn unknown_business_connection_since(&self, id: &str) -> StoreResult<Option<i64>>;
    /// Pauses or resumes the bot's replies in one customer chat of the
    /// owner's business account.
    async fn set_business_chat_paused(
        &self,
        owner_id: i64,
        chat_id: i64,
        paused: bool,
    ) -> StoreResult<()>;
    /// `false` for a chat never paused.
    async fn business_chat_paused(&self, owner_id: i64, chat_id: i64) -> StoreResult<bool>;

    // --- warnings --------------------------------------------------------

    /// Warns `user_id` in `chat_id` (`at` in Unix time) and returns the new
    /// warning's id and the user's count in the chat with it, in one
    /// transaction. When the count reaches `limit` (0 counts as 1) the
    /// user's warnings in the chat are removed in the same transaction and
    /// `limit_reached` is set. Every change to one user's warnings in a chat
    /// is serialized, so concurrent warns never both miss, or both reach,
    /// the limit.
    async fn add_warn(
        &self,
        chat_id: i64,
        user_id: i64,
        actor_id: i64,
        reason: Option<&str>,
        at: i64,
        limit: u32,
    ) -> StoreResult<WarnAdded>;
    /// The user's warnings in the chat, oldest first.
    async fn warns(&self, chat_id: i64, user_id: i64) -> StoreResult<Vec<Warn>>;
    /// Removes the user's newest warning in the chat; `true` if there was one.
    async fn remove_latest_warn(&self, chat_id: i64, user_id: i64) -> StoreResult<bool>;
    /// Removes warning `warn_id` if it is one of `chat_id`'s (an id from a
    /// button is not trusted: one of another chat is left alone), and
    /// returns whom it warned.
    async fn remove_warn(&self, chat_id: i64, warn_id: i64) -> StoreResult<Option<i64>>;
    /// Removes every warning of the user in the chat; returns how many.
    async fn reset_warns(&self, chat_id: i64, user_id: i64) -> StoreResult<u64>;

    /// The chat's warn limit and mode; [`WarnSettings::default`] for a chat
    /// never configured.
    async fn warn_settings(&self, chat_id: i64) -> StoreResult<WarnSettings>;
    /// Sets the limit (0 is stored as 1), keeping the mode.
    async fn set_warn_limit(&self, chat_id: i64, limit: u32) -> StoreResult<()>;
    /// Sets the mode, keeping the limit.
    async fn set_warn_mode(&self, chat_id: i64, mode: WarnMode) -> StoreResult<()>;

    // --- action log ------------------------------------------------------

    /// Appends to the chat's log, and trims it to its newest
    /// [`ACTION_LOG_LIMIT`] entries, in one transaction.
    async fn record_action(&self, action: &ModAction) -> StoreResult<()>;
    /// The chat's newest `limit` actions, newest (last recorded) first.
    async fn recent_actions(&self, chat_id: i64, limit: u32) -> StoreResult<Vec<ModAction>>;

    // --- guards ----------------------------------------------------------

    /// Every guard of the chat, in one query (one round trip, one snapshot
    /// on either backend): what a castellan compiles to check the chat's
    /// messages.
    async fn guards(&self, chat_id: i64) -> StoreResult<GuardSet>;

    /// Inserts or replaces the filter of `keyword` (normalized by the
    /// caller); returns `true` when one existed.
    async fn save_filter(
        &self,
        chat_id: i64,
        keyword: &str,
        reply: &FormattedText,
    ) -> StoreResult<bool>;
    /// Returns `true` when a filter was deleted.
    async fn delete_filter(&self, chat_id: i64, keyword: &str) -> StoreResult<bool>;
    /// Returns how many filters were deleted.
    async fn delete_all_filters(&self, chat_id: i64) -> StoreResult<u64>;
    /// Sorted by keyword (byte-wise).
    async fn filters(&self, chat_id: i64) -> StoreResult<Vec<(String, FormattedText)>>;
    async fn filter_count(&self, chat_id: i64) -> StoreResult<u64>;

    /// Adds the entries (normalized by the caller) to the chat's blacklist,
    /// in one transaction; returns how many were not there yet.
    async fn add_blacklist(&self, chat_id: i64, entries: &[String]) -> StoreResult<u64>;
    /// Removes the entries, in one transaction; returns how many were there.
    async fn remove_blacklist(&self, chat_id: i64, entries: &[String]) -> StoreResult<u64>;
    /// Sorted (byte-wise).
    async fn blacklist(&self, chat_id: i64) -> StoreResult<Vec<String>>;
    /// What a blacklisted word does; [`GuardAction::Delete`] for a chat
    /// never configured (and for an action a newer castellan wrote).
    async fn blacklist_action(&self, chat_id: i64) -> StoreResult<GuardAction>;
    async fn set_blacklist_action(&self, chat_id: i64, action: GuardAction) -> StoreResult<()>;

    /// The chat's locks, a bit set whose bits the caller defines; 0 for a
    /// chat never configured.
    async fn locks(&self, chat_id: i64) -> StoreResult<u64>;
    async fn set_locks(&self, chat_id: i64, bits: u64) -> StoreResult<()>;

    /// [`FloodSettings::default`] for a chat never configured.
    async fn flood_settings(&self, chat_id: i64) -> StoreResult<FloodSettings>;
    /// Replaces the chat's antiflood settings. Without a timer, the chat's
    /// recorded messages are forgotten in the same transaction.
    async fn set_flood_settings(&self, chat_id: i64, settings: &FloodSettings) -> StoreResult<()>;
    /// Records a message of `user_id` in `chat_id` at `at_ms` (Unix ms) and
    /// counts, with it, the sender's streak (messages in a row in the chat,
    /// nobody else's in between: another sender's message starts theirs
    /// at 1) and, when `window_ms` is given, their messages in the chat
    /// within the last `window_ms` (`at_ms - window_ms` excluded). One
    /// transaction; the counts of one chat are serialized across every
    /// castellan on the database, so they are exact whichever replica each
    /// message reaches.
    async fn flood_hit(
        &self,
        chat_id: i64,
        user_id: i64,
        at_ms: i64,
        window_ms: Option<i64>,
    ) -> StoreResult<FloodCount>;
    /// Forgets the user's streak and window in the chat (they were
    /// sanctioned): their next message counts 1.
    async fn flood_reset(&self, chat_id: i64, user_id: i64) -> StoreResult<()>;

    /// Disables the commands (names normalized by the caller) for members,
    /// in one transaction; returns how many were not disabled yet.
    async fn disable_commands(&self, chat_id: i64, commands: &[String]) -> StoreResult<u64>;
    /// Enables the commands again, in one transaction; returns how many were
    /// disabled.
    async fn enable_commands(&self, chat_id: i64, commands: &[String]) -> StoreResult<u64>;
    /// Sorted (byte-wise).
    async fn disabled_commands(&self, chat_id: i64) -> StoreResult<Vec<String>>;
    /// Whether disabled commands sent by members are deleted; `false` for a
    /// chat never configured.
    async fn disabled_delete(&self, chat_id: i64) -> StoreResult<bool>;
    async fn set_disabled_delete(&self, chat_id: i64, delete: bool) -> StoreResult<()>;

    // --- user directory --------------------------------------------------

    /// Remembers `user` as seen in `chat_id` at `at` (Unix time), replacing
    /// what was known of them there. Usernames are unique at any time: one
    /// another member of the chat had is taken from them, in the same
    /// transaction.
    async fn learn_user(&self, chat_id: i64, user: &KnownUser, at: i64) -> StoreResult<()>;
    /// The member of the chat with this username (without the `@`, in any
    /// case).
    async fn user_by_username(
        &self,
        chat_id: i64,
        username: &str,
    ) -> StoreResult<Option<KnownUser>>;
    async fn known_user(&self, chat_id: i64, user_id: i64) -> StoreResult<Option<KnownUser>>;

    // --- chat lifecycle --------------------------------------------------

    /// A group was upgraded to a supergroup: every record of the space
    /// `Space::Chat(from_chat_id)` (and every setting keyed by that chat id)
    /// moves to `to_chat_id` (records already present under the new id win;
    /// warnings and logged actions of both ids are all kept), in one
    /// transaction. Business records never move.
    async fn migrate_chat(&self, from_chat_id: i64, to_chat_id: i64) -> StoreResult<()>;

    /// The bot left or was removed from a group: every connection to it ends
    /// now, and each of its users is told on their next command
    /// ([`take_ended_connection`](Self::take_ended_connection)). Returns
    /// how many ended.
    async fn end_connections_to(&self, chat_id: i64) -> StoreResult<u64>;

    /// The connection of `user_id` that ended while they were away, once:
    /// taking it forgets it. A new connect forgets it too.
    async fn take_ended_connection(&self, user_id: i64) -> StoreResult<Option<ConnectedChat>>;

    /// A group's new title, for the connections and histories that show it.
    async fn rename_chat(&self, chat_id: i64, title: &str) -> StoreResult<()>;

    // --- replicas --------------------------------------------------------

    /// Answers once the database does (the health check).
    async fn ping(&self) -> StoreResult<()>;

    /// Tells every castellan sharing this database that `chat_id`'s admins
    /// changed (PostgreSQL `NOTIFY`). SQLite serves one process: nothing to
    /// tell.
    async fn announce_admins_changed(&self, chat_id: i64) -> StoreResult<()>;

    /// Tells every castellan sharing this database that an admin changed
    /// `chat_id`'s guards, so they compile them again (PostgreSQL `NOTIFY`,
    /// on the channel of admin changes). SQLite: nothing to tell.
    async fn announce_guards_changed(&self, chat_id: i64) -> StoreResult<()>;

    /// Tells every castellan sharing this database that one member's
    /// standing in `chat_id` changed (not to or from admin), so they forget
    /// what they knew of that member alone. SQLite: nothing to tell.
    async fn announce_member_changed(&self, chat_id: i64, user_id: i64) -> StoreResult<()>;

    /// What every castellan on this database announces; `None` on SQLite.
    async fn admin_changes(&self) -> StoreResult<Option<AdminChanges>>;

    /// Claims the fetch of business connection `id` for this store until
    /// `until_ms` (Unix ms): `true` when nobody else holds an unexpired
    /// claim. No connection is held afterwards.
    async fn claim_business_fetch(&self, id: &str, now_ms: i64, until_ms: i64)
    -> StoreResult<bool>;
    /// Gives this store's claim on fetching `id` up.
    async fn release_business_fetch(&self, id: &str) -> StoreResult<()>;

    /// This store among the castellans on the database: tags its claims
    /// and announcements.
    fn instance(&self) -> &str;

    /// The pool's connections now: (in use, idle).
    fn connections(&self) -> (u32, u32);

    // --- delivery --------------------------------------------------------

    /// Claims update `update_id` for `owner` until `lease_until` (Unix ms):
    /// [`UpdateClaim::Claimed`] when nobody handled it, or a claim ran out
    /// unfinished (its owner died); otherwise what became of it.
    async fn claim_update(
        &self,
        update_id: i64,
        owner: &str,
        now_ms: i64,
        lease_until: i64,
    ) -> StoreResult<UpdateClaim>;
    /// Records these updates as handled, claimed or not, in one transaction.
    async fn finish_updates(&self, update_ids: &[i64], owner: &str, now_ms: i64)
    -> StoreResult<()>;
    /// Gives up `owner`'s unfinished claim on an update so that its next
    /// delivery runs at once: its handler was cut off (`failed: false`), or
    /// failed on an outage (`failed: true`, counted as an attempt).
    async fn release_update(&self, update_id: i64, owner: &str, failed: bool) -> StoreResult<()>;
    /// Which of the updates `from..=to` were handled.
    async fn handled_updates_among(&self, from: i64, to: i64) -> StoreResult<Vec<i64>>;
    /// The largest update id recorded, handled or not.
    async fn newest_recorded_update(&self) -> StoreResult<Option<i64>>;
    /// Forgets the updates claimed before `before_ms`; returns how many.
    async fn prune_handled_updates(&self, before_ms: i64) -> StoreResult<u64>;

    // --- shutdown --------------------------------------------------------

    /// Closes the store's connections (on SQLite this also checkpoints the
    /// write-ahead log); every later call fails. For a graceful shutdown;
    /// dropping the store without it is safe too.
    async fn close(&self) {}
}

/// What `migrate_chat` runs, in order and in one transaction, on either
/// backend (`$1` = old chat id, `$2` = new chat id). For each chat-keyed
/// table: first drop the old records whose key the new id already has (the
/// new ones win), then move the rest. Tables with a `space` column move only
/// `'chat'` rows: a business account's records are keyed by its owner's
/// user id, which may be the same number.
const MIGRATE_CHAT_STATEMENTS: [&str; 27] = [
    // Keyed by user: a user connected to the old chat is now connected to the new one.
    "UPDATE current_connections SET chat_id = $2 WHERE space = 'chat' AND chat_id = $1",
    "UPDATE ended_connections SET chat_id = $2 WHERE space = 'chat' AND chat_id = $1",
    // Keyed by chat: copy what the new chat lacks (a row written there in the
    // meantime is newer and wins), then drop the old rows the new chat now
    // has. An old row written after the copy began stays for the next run
    // (the upgrade arrives twice: migrate_to and migrate_from).
    "INSERT INTO connection_history (user_id, space, chat_id, chat_title, seq)
     SELECT user_id, space, $2, chat_title, seq FROM connection_history
     WHERE space = 'chat' AND chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM connection_history WHERE space = 'chat' AND chat_id = $1
     AND user_id IN (SELECT user_id FROM connection_history WHERE space = 'chat' AND chat_id = $2)",
    "INSERT INTO chat_settings (chat_id, allow_connect)
     SELECT $2, allow_connect FROM chat_settings WHERE chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM chat_settings WHERE chat_id = $1
     AND EXISTS (SELECT 1 FROM chat_settings WHERE chat_id = $2)",
    "INSERT INTO notes (space, chat_id, name, text, entities)
     SELECT space, $2, name, text, entities FROM notes WHERE space = 'chat' AND chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM notes WHERE space = 'chat' AND chat_id = $1
     AND name IN (SELECT name FROM notes WHERE space = 'chat' AND chat_id = $2)",
    "INSERT INTO rules (chat_id, text, entities)
     SELECT $2, text, entities FROM rules WHERE chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM rules WHERE chat_id = $1
     AND EXISTS (SELECT 1 FROM rules WHERE chat_id = $2)",
    "INSERT INTO warn_settings (chat_id, warn_limit, mode, seconds)
     SELECT $2, warn_limit, mode, seconds FROM warn_settings WHERE chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM warn_settings WHERE chat_id = $1
     AND EXISTS (SELECT 1 FROM warn_settings WHERE chat_id = $2)",
    "INSERT INTO guard_settings
     (chat_id, blacklist_mode, blacklist_seconds, locks, flood_consecutive, flood_timer_count,
      flood_timer_seconds, flood_mode, flood_seconds, disabled_delete)
     SELECT $2, blacklist_mode, blacklist_seconds, locks, flood_consecutive, flood_timer_count,
         flood_timer_seconds, flood_mode, flood_seconds, disabled_delete
     FROM guard_settings WHERE chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM guard_settings WHERE chat_id = $1
     AND EXISTS (SELECT 1 FROM guard_settings WHERE chat_id = $2)",
    "INSERT INTO filters (chat_id, keyword, text, entities)
     SELECT $2, keyword, text, entities FROM filters WHERE chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM filters WHERE chat_id = $1
     AND keyword IN (SELECT keyword FROM filters WHERE chat_id = $2)",
    "INSERT INTO blacklist (chat_id, entry)
     SELECT $2, entry FROM blacklist WHERE chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM blacklist WHERE chat_id = $1
     AND entry IN (SELECT entry FROM blacklist WHERE chat_id = $2)",
    "INSERT INTO disabled_commands (chat_id, command)
     SELECT $2, command FROM disabled_commands WHERE chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM disabled_commands WHERE chat_id = $1
     AND command IN (SELECT command FROM disabled_commands WHERE chat_id = $2)",
    // The flood counters: a streak under the new id is newer and wins; the
    // recorded messages of both ids all happened, and merge (the next count
    // prunes what is out of its window). The streak first, as in flood_hit:
    // the same lock order.
    "INSERT INTO flood_streaks (chat_id, user_id, streak)
     SELECT $2, user_id, streak FROM flood_streaks WHERE chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM flood_streaks WHERE chat_id = $1
     AND EXISTS (SELECT 1 FROM flood_streaks WHERE chat_id = $2)",
    "UPDATE flood_hits SET chat_id = $2 WHERE chat_id = $1",
    // Keyed by nothing of the chat's: warnings and actions under both ids
    // all happened, so they are merged (keeping their ids, hence their
    // order). A count beyond the limit is acted on at the next warning; a
    // log beyond its bound is trimmed at the next action.
    "UPDATE warnings SET chat_id = $2 WHERE chat_id = $1",
    "UPDATE mod_actions SET chat_id = $2 WHERE chat_id = $1",
    // The directory: a member already known in the new chat wins, and so
    // does a username one of its members holds there (the moving member
    // keeps their row without it).
    "INSERT INTO known_users
     (chat_id, user_id, username, username_lower, first_name, last_name, seen_at)
     SELECT $2, o.user_id,
         CASE WHEN taken.user_id IS NULL THEN o.username END,
         CASE WHEN taken.user_id IS NULL THEN o.username_lower END,
         o.first_name, o.last_name, o.seen_at
     FROM known_users o
     LEFT JOIN known_users taken
         ON taken.chat_id = $2 AND taken.username_lower = o.username_lower
     WHERE o.chat_id = $1
     ON CONFLICT DO NOTHING",
    "DELETE FROM known_users WHERE chat_id = $1
     AND user_id IN (SELECT user_id FROM known_users WHERE chat_id = $2)",
];

/// What [`Store::claim_update`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateClaim {
    /// The caller now handles it: after `attempts` runs that failed on an
    /// outage, the first claimed at `first_claimed_at` (Unix ms).
    Claimed {
        attempts: u32,
        first_claimed_at: i64,
    },
    /// It was handled before: nothing to do.
    Handled,
    /// Someone else is handling it now.
    Running,
}

/// What another castellan announced ([`Store::admin_changes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminChange {
    /// This chat's admins changed.
    Chat(i64),
    /// This chat's guards changed ([`Store::announce_guards_changed`]).
    Guards(i64),
    /// This member's standing in this chat changed
    /// ([`Store::announce_member_changed`]).
    Member(i64, i64),
    /// Announcements may have been missed (the connection was lost):
    /// anything may have changed.
    Unknown,
}

/// The announcements of admin changes (of a chat's admins, or of the guards
/// its admins set), from every other castellan on a database (a castellan's
/// own come back to it too, and are skipped: it acted on them already).
pub struct AdminChanges {
    pub(crate) listener: sqlx::postgres::PgListener,
    /// This store's own tag ([`announcement`]).
    pub(crate) origin: String,
}

/// The payload announcing a change of `chat_id`'s admins by `origin`.
pub(crate) fn announcement(origin: &str, chat_id: i64) -> String {
    format!("{origin} {chat_id}")
}

/// The payload announcing a change of `chat_id`'s guards by `origin`: a
/// word before the id, which castellans older than guards take for an
/// unreadable announcement and skip.
pub(crate) fn guards_announcement(origin: &str, chat_id: i64) -> String {
    format!("{origin} {GUARDS_WORD} {chat_id}")
}

const GUARDS_WORD: &str = "guards";

/// The payload announcing a change of one member's standing in `chat_id`.
pub(crate) fn member_announcement(origin: &str, chat_id: i64, user_id: i64) -> String {
    format!("{origin} {MEMBER_WORD} {chat_id} {user_id}")
}

const MEMBER_WORD: &str = "member";

/// What an announcement's payload says, and by whom; `None` when unreadable.
fn parse_announcement(payload: &str) -> Option<(&str, AdminChange)> {
    let (origin, rest) = payload.split_once(' ')?;
    let change = match rest.split_once(' ') {
        Some((GUARDS_WORD, chat)) => AdminChange::Guards(chat.parse().ok()?),
        Some((MEMBER_WORD, ids)) => {
            let (chat, user) = ids.split_once(' ')?;
            AdminChange::Member(chat.parse().ok()?, user.parse().ok()?)
        }
        Some(_) => return None,
        None => AdminChange::Chat(rest.parse().ok()?),
    };
    Some((origin, change))
}

impl AdminChanges {
    /// The next announcement of another castellan; waits for one.
    pub async fn next(&mut self) -> StoreResult<AdminChange> {
        loop {
            // `None`: the connection was lost (reconnected on the next call).
            let Some(notification) = self.listener.try_recv().await? else {
                return Ok(AdminChange::Unknown);
            };
            match parse_announcement(notification.payload()) {
                Some((origin, _)) if origin == self.origin => {}
                Some((_, change)) => return Ok(change),
                None => tracing::warn!(
                    payload = notification.payload(),
                    "an unreadable admin-change announcement was ignored"
                ),
            }
        }
    }
}

/// Connects to the database the URL names and runs its migrations, with
/// the default [`OpenOptions`].
pub async fn open(url: &DatabaseUrl) -> StoreResult<Arc<dyn Store>> {
    open_with(url, OpenOptions::default()).await
}

/// [`open`] with the options the configuration gives.
pub async fn open_with(url: &DatabaseUrl, options: OpenOptions) -> StoreResult<Arc<dyn Store>> {
    Ok(Arc::new(SqlStore::open_with(url, options).await?))
}
