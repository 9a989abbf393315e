//! The one [`Store`] implementation, for both backends.
//!
//! [`SqlStore`] holds a `Pool` of either backend. Every method's body is
//! written once and expanded by a small macro into one `match` arm per
//! backend (`on_pool!` for reads, `write_one!` for a single write,
//! `write_tx!` for a write transaction), so each arm type-checks against
//! its concrete sqlx types: no generic bounds. Every statement's SQL text is
//! written once too: both backends take `$N` placeholders, lower-case
//! `excluded.`, `ON CONFLICT` and `RETURNING`. What must differ is written in
//! a `match` on the backend, with a comment saying why: SQLite's write
//! serialization (in the macros), the source of the history's `seq`, and the
//! PostgreSQL locks on a business account's owner and on a user's warnings.
//!
//! # SQLite
//!
//! The embedded default, one database file.
//!
//! Concurrency: the database runs in WAL mode, so readers never block and
//! never get blocked. Writers are serialized twice over: inside the process by
//! an async mutex (fair, no busy-waiting), and against other processes by
//! starting every write transaction with `BEGIN IMMEDIATE`, which takes the
//! database's write lock up front. A deferred transaction that reads first and
//! writes later can fail with `SQLITE_BUSY` without waiting (the lock upgrade
//! would deadlock); an immediate one simply waits, up to `busy_timeout`.
//!
//! # PostgreSQL
//!
//! For production.
//!
//! Objects are created and used unqualified, so the schema is whatever the
//! connection's `search_path` names first: a URL may pick one with
//! `?options=-c%20search_path%3Dsome_schema` (the tests isolate themselves
//! that way).
//!
//! Concurrency: `connect` first upserts the user's row of
//! `current_connections`; that row lock serializes every connect of one user
//! until commit, so the history update and trim that follow never interleave.
//! `record_business_connection` first takes a transaction-scoped advisory
//! lock on the owner's user id: the owner may have no row yet to lock, and
//! two connections of one owner recorded at once must still see each other.
//! Every change to one user's warnings in one chat first takes a
//! transaction-scoped advisory lock on the pair (hashed, in the two-key
//! space, apart from the owners' one-key locks), for the same reason: two
//! warns at once must count each other, or both would miss (or both reach)
//! the limit. `flood_hit` first upserts its chat's streak row, whose lock
//! serializes the chat's counts until commit, so that two replicas counting
//! one chat's messages at once each see the other's. `learn_user` and
//! `migrate_chat` resolve conflicts with concurrent writers (a username
//! taken meanwhile, a deadlock) by running again ([`retry_conflicts`]).

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use tokio::sync::Mutex;

use super::{
    ACTION_LOG_LIMIT, AdminChanges, Backend, BusinessConnectionRecord, BusinessRecorded,
    ConnectedChat, DEFAULT_POSTGRES_POOL_SIZE, DatabaseUrl, FLOOD_WINDOW_LIMIT, FloodCount,
    FloodSettings, FormattedText, GuardAction, GuardSet, HISTORY_LIMIT, KnownUser,
    MIN_POSTGRES_POOL_SIZE, ModAction, Note, OpenOptions, Space, Store, StoreError, StoreResult,
    StoredBusinessConnection, UpdateClaim, Warn, WarnAdded, WarnMode, WarnSettings,
};

/// SQLite: how long a statement waits for another connection's lock before
/// failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite: connections of a file database; readers run in parallel with the
/// writer.
const SQLITE_FILE_POOL_SIZE: u32 = 4;
const SQLITE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// PostgreSQL: how long a query waits for a connection. Short, so that with
/// the server gone a user hears "storage is unavailable" within seconds
/// instead of waiting on a pool that cannot connect.
const POSTGRES_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database behind a `SqlStore`.
enum Pool {
    Sqlite {
        pool: SqlitePool,
        /// Held for the whole of every write, see the module docs.
        write_lock: Mutex<()>,
    },
    Postgres(PgPool),
}

/// A store on SQLite or PostgreSQL; see the module docs.
pub struct SqlStore {
    pool: Pool,
    /// Tags this store's admin-change announcements, so it can tell its own
    /// from other castellans'.
    origin: String,
}

/// Evaluates `$body` with `$pool` bound to the backend's pool (`&SqlitePool`
/// or `&PgPool`). For reads: they never wait for SQLite's write lock.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {{
        super::count_operation();
        match &$store.pool {
            Pool::Sqlite { pool: $pool, .. } => $body,
            Pool::Postgres($pool) => $body,
        }
    }};
}

/// Like `on_pool!`, for a single statement that writes and commits on its
/// own: on SQLite it runs with the write lock held. No `BEGIN IMMEDIATE`
/// needed there: a lone writing statement takes the database's write lock
/// before it reads anything, so it waits out `busy_timeout` like one.
macro_rules! write_one {
    ($store:expr, |$pool:ident| $body:expr) => {{
        super::count_operation();
        match &$store.pool {
            Pool::Sqlite {
                pool: $pool,
                write_lock,
            } => {
                let _guard = write_lock.lock().await;
                $body
            }
            Pool::Postgres($pool) => $body,
        }
    }};
}

/// Evaluates `$body` inside a write transaction bound to `$tx` (use it as
/// `&mut *$tx`), then commits. A `?` in the body returns early and drops the
/// transaction, which rolls it back. On SQLite the write lock is held
/// throughout and the transaction starts with `BEGIN IMMEDIATE`.
macro_rules! write_tx {
    ($store:expr, |$tx:ident| $body:expr) => {{
        super::count_operation();
        match &$store.pool {
            Pool::Sqlite { pool, write_lock } => {
                let _guard = write_lock.lock().await;
                let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let value = $body;
                $tx.commit().await?;
                value
            }
            Pool::Postgres(pool) => {
                let mut $tx = pool.begin().await?;
                let value = $body;
                $tx.commit().await?;
                value
            }
        }
    }};
}

/// Inside a `write_tx!` body: on PostgreSQL, waits for and takes (until
/// commit) the lock on `$user_id`'s warnings in `$chat_id`, see the module
/// docs. SQLite's writers are serialized already.
macro_rules! lock_warns {
    ($backend:expr, $tx:ident, $chat_id:expr, $user_id:expr) => {
        if $backend == Backend::Postgres {
            // A hash collision of two pairs only makes one wait; a
            // transaction never holds two of these locks.
            sqlx::query("SELECT pg_advisory_xact_lock(hashint8($1), hashint8($2))")
                .bind($chat_id)
                .bind($user_id)
                .execute(&mut *$tx)
                .await?;
        }
    };
}

/// The columns of `guard_settings` a [`GuardSettingsRow`] holds, in its
/// order.
macro_rules! guard_settings_columns {
    () => {
        "blacklist_mode, blacklist_seconds, locks, flood_consecutive, flood_timer_count,
         flood_timer_seconds, flood_mode, flood_seconds, disabled_delete"
    };
}

/// A chat's guard settings, whichever of them a getter wants: one row.
const SELECT_GUARD_SETTINGS: &str = concat!(
    "SELECT ",
    guard_settings_columns!(),
    " FROM guard_settings WHERE chat_id = $1"
);

/// Every guard of a chat in one statement (one snapshot): the settings row
/// (part 0, when there is one), then the filters (1), the blacklist (2) and
/// the disabled commands (3), each read from its primary key. Unordered: the
/// lists are sorted by the caller, which costs the database no sort.
const SELECT_GUARDS: &str = concat!(
    "SELECT 0 AS part, CAST(NULL AS TEXT) AS name, CAST(NULL AS TEXT) AS text,
         CAST(NULL AS TEXT) AS entities, ",
    guard_settings_columns!(),
    " FROM guard_settings WHERE chat_id = $1
     UNION ALL
     SELECT 1, keyword, text, entities, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
     FROM filters WHERE chat_id = $1
     UNION ALL
     SELECT 2, entry, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
     FROM blacklist WHERE chat_id = $1
     UNION ALL
     SELECT 3, command, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
     FROM disabled_commands WHERE chat_id = $1"
);

/// Counts a message into its chat's streak: the sender's streak goes on,
/// anyone else's ends and theirs starts at 1. On PostgreSQL the upsert
/// works on the row's latest version under its lock (taken until commit),
/// so concurrent counts of a chat are serialized and each sees the last.
const UPSERT_FLOOD_STREAK: &str = "INSERT INTO flood_streaks (chat_id, user_id, streak)
     VALUES ($1, $2, 1)
     ON CONFLICT (chat_id) DO UPDATE
     SET streak = CASE WHEN flood_streaks.user_id = excluded.user_id
                       THEN flood_streaks.streak + 1 ELSE 1 END,
         user_id = excluded.user_id
     RETURNING streak";

/// The history upsert of `connect`, with the backend's `seq` source spliced
/// in.
macro_rules! upsert_history {
    ($seq:literal) => {
        concat!(
            "INSERT INTO connection_history (user_id, space, chat_id, chat_title, seq)
             VALUES ($1, $2, $3, $4, ",
            $seq,
            ")
             ON CONFLICT (user_id, space, chat_id) DO UPDATE
             SET chat_title = excluded.chat_title, seq = excluded.seq"
        )
    };
}

/// SQLite: one more than the user's newest entry, computed inside the
/// connecting transaction (writers are serialized), so ties cannot happen.
const SQLITE_UPSERT_HISTORY: &str = upsert_history!(
    "(SELECT COALESCE(MAX(seq), 0) + 1 FROM connection_history WHERE user_id = $1)"
);
/// PostgreSQL: the next value of a sequence, drawn while the user's
/// `current_connections` row lock is held, so newer connects always get
/// larger values.
const POSTGRES_UPSERT_HISTORY: &str = upsert_history!("nextval('connection_history_seq')");

impl SqlStore {
    /// Sends an announcement to every castellan on the database
    /// (PostgreSQL `NOTIFY`); SQLite serves one process: nobody to tell.
    async fn announce(&self, payload: String) -> StoreResult<()> {
        if let Pool::Postgres(pool) = &self.pool {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(admin_channel(pool).await?)
                .bind(payload)
                .execute(pool)
                .await?;
        }
        Ok(())
    }

    /// Connects to the database the URL names and runs its migrations.
    pub async fn open(url: &DatabaseUrl) -> StoreResult<Self> {
        Self::open_with(url, OpenOptions::default()).await
    }

    /// [`open`](Self::open) with the options the configuration gives.
    pub async fn open_with(url: &DatabaseUrl, options: OpenOptions) -> StoreResult<Self> {
        match url {
            DatabaseUrl::Sqlite(url) => Self::open_sqlite(url).await,
            DatabaseUrl::Postgres(url) => {
                Self::open_postgres_with(url, options.postgres_pool_size).await
            }
        }
    }

    /// Opens (creating it if missing) the database the `sqlite:` URL names and
    /// runs the migrations. `sqlite::memory:` (or `mode=memory`) gives a
    /// private in-memory database that lives as long as this store.
    pub async fn open_sqlite(url: &str) -> StoreResult<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool_options = if in_memory {
            // An in-memory database lives only while a connection to it is
            // open, and several connections to one would share a cache with
            // table-level locks: keep exactly one connection, forever.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(SQLITE_FILE_POOL_SIZE)
        };
        let pool = pool_options
            .acquire_timeout(SQLITE_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool: Pool::Sqlite {
                pool,
                write_lock: Mutex::new(()),
            },
            origin: origin_tag(),
        })
    }

    /// Connects to the database the `postgres:` URL names and runs the
    /// migrations, with the default pool size.
    pub async fn open_postgres(url: &str) -> StoreResult<Self> {
        Self::open_postgres_with(url, DEFAULT_POSTGRES_POOL_SIZE).await
    }

    /// [`open_postgres`](Self::open_postgres) with a pool of at most
    /// `pool_size` connections (at least two: the admin-change listener
    /// keeps one).
    pub async fn open_postgres_with(url: &str, pool_size: u32) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("castellan");
        let pool = PgPoolOptions::new()
            .max_connections(pool_size.max(MIN_POSTGRES_POOL_SIZE))
            .acquire_timeout(POSTGRES_ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool: Pool::Postgres(pool),
            origin: origin_tag(),
        })
    }

    /// Closes every connection (on SQLite, checkpointing the WAL); later
    /// calls fail.
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }

    /// Runs `sql` (`$1` the chat id, `$2` a name) once per name, in one
    /// transaction, and returns how many rows it changed in all. No names,
    /// no round trip.
    async fn for_each_name(&self, sql: &str, chat_id: i64, names: &[String]) -> StoreResult<u64> {
        if names.is_empty() {
            return Ok(0);
        }
        Ok(write_tx!(self, |tx| {
            let mut changed = 0;
            for name in names {
                changed += sqlx::query(sql)
                    .bind(chat_id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            changed
        }))
    }

    /// The chat's guard settings, defaults for a chat without them.
    async fn guard_settings(&self, chat_id: i64) -> StoreResult<GuardSettings> {
        let row: Option<GuardSettingsRow> = on_pool!(self, |pool| {
            sqlx::query_as(SELECT_GUARD_SETTINGS)
                .bind(chat_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(read_guard_settings(chat_id, row))
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite { .. } => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    async fn close(&self) {
        SqlStore::close(self).await;
    }

    // --- replicas --------------------------------------------------------

    async fn ping(&self) -> StoreResult<()> {
        on_pool!(self, |pool| {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    async fn announce_admins_changed(&self, chat_id: i64) -> StoreResult<()> {
        self.announce(super::announcement(&self.origin, chat_id))
            .await
    }

    async fn announce_guards_changed(&self, chat_id: i64) -> StoreResult<()> {
        self.announce(super::guards_announcement(&self.origin, chat_id))
            .await
    }

    async fn announce_member_changed(&self, chat_id: i64, user_id: i64) -> StoreResult<()> {
        self.announce(super::member_announcement(&self.origin, chat_id, user_id))
            .await
    }

    async fn admin_changes(&self) -> StoreResult<Option<AdminChanges>> {
        let Pool::Postgres(pool) = &self.pool else {
            return Ok(None);
        };
        let channel = admin_channel(pool).await?;
        let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
        listener.listen(&channel).await?;
        Ok(Some(AdminChanges {
            listener,
            origin: self.origin.clone(),
        }))
    }

    async fn claim_business_fetch(
        &self,
        id: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<bool> {
        let claimed: Option<String> = write_one!(self, |pool| {
            sqlx::query_scalar(
                "INSERT INTO business_fetches (id, owner, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (id) DO UPDATE
                 SET owner = excluded.owner, expires_at = excluded.expires_at
                 WHERE business_fetches.expires_at < $4
                 RETURNING id",
            )
            .bind(id)
            .bind(&self.origin)
            .bind(until_ms)
            .bind(now_ms)
            .fetch_optional(pool)
            .await?
        });
        Ok(claimed.is_some())
    }

    async fn release_business_fetch(&self, id: &str) -> StoreResult<()> {
        write_one!(self, |pool| {
            sqlx::query("DELETE FROM business_fetches WHERE id = $1 AND owner = $2")
                .bind(id)
                .bind(&self.origin)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    fn instance(&self) -> &str {
        &self.origin
    }

    fn connections(&self) -> (u32, u32) {
        let (size, idle) = match &self.pool {
            Pool::Sqlite { pool, .. } => (pool.size(), pool.num_idle()),
            Pool::Postgres(pool) => (pool.size(), pool.num_idle()),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX);
        (size.saturating_sub(idle), idle)
    }

    // --- connections -----------------------------------------------------

    async fn connect(&self, user_id: i64, chat: &ConnectedChat) -> StoreResult<()> {
        let upsert_history = match self.backend() {
            Backend::Sqlite => SQLITE_UPSERT_HISTORY,
            Backend::Postgres => POSTGRES_UPSERT_HISTORY,
        };
        write_tx!(self, |tx| {
            // First: on PostgreSQL this row lock serializes the user's connects.
            sqlx::query(
                "INSERT INTO current_connections (user_id, space, chat_id, chat_title)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id) DO UPDATE
                 SET space = excluded.space, chat_id = excluded.chat_id,
                     chat_title = excluded.chat_title",
            )
            .bind(user_id)
            .bind(chat.space.kind())
            .bind(chat.space.id())
            .bind(&chat.title)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM ended_connections WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(upsert_history)
                .bind(user_id)
                .bind(chat.space.kind())
                .bind(chat.space.id())
                .bind(&chat.title)
                .execute(&mut *tx)
                .await?;
            // `seq` is unique per user (see the upsert), so it names entries.
            sqlx::query(
                "DELETE FROM connection_history
                 WHERE user_id = $1 AND seq NOT IN (
                     SELECT seq FROM connection_history WHERE user_id = $1
                     ORDER BY seq DESC LIMIT $2)",
            )
            .bind(user_id)
            .bind(history_limit())
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    async fn disconnect(&self, user_id: i64) -> StoreResult<Option<ConnectedChat>> {
        let row: Option<ChatRow> = write_one!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM current_connections WHERE user_id = $1
                 RETURNING space, chat_id, chat_title",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(connected_chat).transpose()?)
    }

    async fn disconnect_from(&self, user_id: i64, space: Space) -> StoreResult<bool> {
        let ended = write_one!(self, |pool| {
            sqlx::query(
                "DELETE FROM current_connections
                 WHERE user_id = $1 AND space = $2 AND chat_id = $3",
            )
            .bind(user_id)
            .bind(space.kind())
            .bind(space.id())
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(ended > 0)
    }

    async fn current_connection(&self, user_id: i64) -> StoreResult<Option<ConnectedChat>> {
        let row: Option<ChatRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT space, chat_id, chat_title FROM current_connections WHERE user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(connected_chat).transpose()?)
    }

    async fn current_connection_for_use(
        &self,
        user_id: i64,
    ) -> StoreResult<Option<(ConnectedChat, bool)>> {
        let row: Option<(String, i64, String, bool)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT c.space, c.chat_id, c.chat_title, COALESCE(s.allow_connect, TRUE)
                 FROM current_connections c
                 LEFT JOIN chat_settings s ON c.space = 'chat' AND s.chat_id = c.chat_id
                 WHERE c.user_id = $1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row
            .map(|(space, id, title, allow)| Ok((connected_chat((space, id, title))?, allow)))
            .transpose()
            .map_err(|error: sqlx::Error| StoreError::Database(error))?)
    }

    async fn recent_chats(&self, user_id: i64) -> StoreResult<Vec<ConnectedChat>> {
        let rows: Vec<ChatRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT space, chat_id, chat_title FROM connection_history WHERE user_id = $1
                 ORDER BY seq DESC LIMIT $2",
            )
            .bind(user_id)
            .bind(history_limit())
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(connected_chat)
            .collect::<Result<_, _>>()?)
    }

    // --- per-chat settings -----------------------------------------------

    async fn allow_connect(&self, chat_id: i64) -> StoreResult<bool> {
        let allow: Option<bool> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT allow_connect FROM chat_settings WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(allow.unwrap_or(true))
    }

    async fn set_allow_connect(&self, chat_id: i64, allow: bool) -> StoreResult<()> {
        write_one!(self, |pool| {
            sqlx::query(
                "INSERT INTO chat_settings (chat_id, allow_connect) VALUES ($1, $2)
                 ON CONFLICT (chat_id) DO UPDATE SET allow_connect = excluded.allow_connect",
            )
            .bind(chat_id)
            .bind(allow)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    // --- notes -----------------------------------------------------------

    async fn save_note(&self, space: Space, note: &Note) -> StoreResult<bool> {
        let updated = write_tx!(self, |tx| {
            let updated = sqlx::query(
                "UPDATE notes SET text = $4, entities = $5
                 WHERE space = $1 AND chat_id = $2 AND name = $3",
            )
            .bind(space.kind())
            .bind(space.id())
            .bind(&note.name)
            .bind(&note.content.text)
            .bind(&note.content.entities_json)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                // Upsert: on PostgreSQL a concurrent save of the same new
                // name must not fail.
                sqlx::query(
                    "INSERT INTO notes (space, chat_id, name, text, entities)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT (space, chat_id, name) DO UPDATE
                     SET text = excluded.text, entities = excluded.entities",
                )
                .bind(space.kind())
                .bind(space.id())
                .bind(&note.name)
                .bind(&note.content.text)
                .bind(&note.content.entities_json)
                .execute(&mut *tx)
                .await?;
            }
            updated
        });
        Ok(updated > 0)
    }

    async fn note(&self, space: Space, name: &str) -> StoreResult<Option<Note>> {
        let row: Option<(String, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT name, text, entities FROM notes
                 WHERE space = $1 AND chat_id = $2 AND name = $3",
            )
            .bind(space.kind())
            .bind(space.id())
            .bind(name)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(name, text, entities_json)| Note {
            name,
            content: FormattedText {
                text,
                entities_json,
            },
        }))
    }

    async fn note_names(&self, space: Space) -> StoreResult<Vec<String>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT name FROM notes WHERE space = $1 AND chat_id = $2 ORDER BY name",
            )
            .bind(space.kind())
            .bind(space.id())
            .fetch_all(pool)
            .await?
        }))
    }

    async fn delete_note(&self, space: Space, name: &str) -> StoreResult<bool> {
        let deleted = write_one!(self, |pool| {
            sqlx::query("DELETE FROM notes WHERE space = $1 AND chat_id = $2 AND name = $3")
                .bind(space.kind())
                .bind(space.id())
                .bind(name)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    // --- rules -----------------------------------------------------------

    async fn set_rules(&self, chat_id: i64, rules: &FormattedText) -> StoreResult<()> {
        write_one!(self, |pool| {
            sqlx::query(
                "INSERT INTO rules (chat_id, text, entities) VALUES ($1, $2, $3)
                 ON CONFLICT (chat_id) DO UPDATE
                 SET text = excluded.text, entities = excluded.entities",
            )
            .bind(chat_id)
            .bind(&rules.text)
            .bind(&rules.entities_json)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn rules(&self, chat_id: i64) -> StoreResult<Option<FormattedText>> {
        let row: Option<(String, String)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT text, entities FROM rules WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(text, entities_json)| FormattedText {
            text,
            entities_json,
        }))
    }

    async fn clear_rules(&self, chat_id: i64) -> StoreResult<bool> {
        let deleted = write_one!(self, |pool| {
            sqlx::query("DELETE FROM rules WHERE chat_id = $1")
                .bind(chat_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    // --- Telegram Business -------------------------------------------------

    async fn record_business_connection(
        &self,
        connection: &BusinessConnectionRecord,
    ) -> StoreResult<BusinessRecorded> {
        let backend = self.backend();
        let recorded = write_tx!(self, |tx| {
            match backend {
                // Serialized already: the write lock and BEGIN IMMEDIATE.
                Backend::Sqlite => {}
                // See the module docs. Advisory keys are database-wide; the
                // only other advisory lock castellan takes is sqlx's
                // migration lock, and sharing a key only makes one wait.
                Backend::Postgres => {
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind(connection.owner_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            // The id is known now, whatever it turns out to be.
            sqlx::query("DELETE FROM business_connection_misses WHERE id = $1")
                .bind(&connection.id)
                .execute(&mut *tx)
                .await?;
            let superseded: Option<bool> =
                sqlx::query_scalar("SELECT superseded FROM business_connections WHERE id = $1")
                    .bind(&connection.id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if superseded == Some(true) {
                BusinessRecorded::Superseded
            } else {
                // On a tie of dates, the connection recorded last (this one)
                // wins: only a strictly newer live connection beats it.
                let newer: Option<String> = sqlx::query_scalar(
                    "SELECT id FROM business_connections
                     WHERE owner_id = $1 AND NOT superseded AND id <> $2 AND date > $3",
                )
                .bind(connection.owner_id)
                .bind(&connection.id)
                .bind(connection.date)
                .fetch_optional(&mut *tx)
                .await?;
                let current = newer.is_none();
                if current {
                    // Before the upsert: the unique index on the owner's live
                    // connection is checked statement by statement.
                    sqlx::query(
                        "UPDATE business_connections SET superseded = TRUE
                         WHERE owner_id = $1 AND NOT superseded AND id <> $2",
                    )
                    .bind(connection.owner_id)
                    .bind(&connection.id)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO business_connections
                     (id, owner_id, user_chat_id, rights, is_enabled, date, superseded)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (id) DO UPDATE
                     SET owner_id = excluded.owner_id, user_chat_id = excluded.user_chat_id,
                         rights = excluded.rights, is_enabled = excluded.is_enabled,
                         date = excluded.date, superseded = excluded.superseded",
                )
                .bind(&connection.id)
                .bind(connection.owner_id)
                .bind(connection.user_chat_id)
                .bind(connection.rights_json.as_deref())
                .bind(connection.is_enabled)
                .bind(connection.date)
                .bind(!current)
                .execute(&mut *tx)
                .await?;
                if current {
                    BusinessRecorded::Current
                } else {
                    BusinessRecorded::Superseded
                }
            }
        });
        Ok(recorded)
    }

    async fn business_connection(&self, id: &str) -> StoreResult<Option<StoredBusinessConnection>> {
        let row: Option<BusinessRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, owner_id, user_chat_id, rights, is_enabled, date, superseded
                 FROM business_connections WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(stored_business_connection))
    }

    async fn owner_business_connection(
        &self,
        owner_id: i64,
    ) -> StoreResult<Option<BusinessConnectionRecord>> {
        let row: Option<BusinessRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, owner_id, user_chat_id, rights, is_enabled, date, superseded
                 FROM business_connections WHERE owner_id = $1 AND NOT superseded",
            )
            .bind(owner_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|row| stored_business_connection(row).connection))
    }

    async fn remember_unknown_business_connection(&self, id: &str, at: i64) -> StoreResult<()> {
        write_one!(self, |pool| {
            sqlx::query(
                "INSERT INTO business_connection_misses (id, since) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET since = excluded.since",
            )
            .bind(id)
            .bind(at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn unknown_business_connection_since(&self, id: &str) -> StoreResult<Option<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT since FROM business_connection_misses WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }

    async fn set_business_chat_paused(
        &self,
        owner_id: i64,
        chat_id: i64,
        paused: bool,
    ) -> StoreResult<()> {
        // A row means paused: pausing twice or resuming an unpaused chat is
        // a no-op.
        let sql = if paused {
            "INSERT INTO business_chat_pauses (owner_id, chat_id) VALUES ($1, $2)
             ON CONFLICT (owner_id, chat_id) DO NOTHING"
        } else {
            "DELETE FROM business_chat_pauses WHERE owner_id = $1 AND chat_id = $2"
        };
        write_one!(self, |pool| {
            sqlx::query(sql)
                .bind(owner_id)
                .bind(chat_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    async fn business_chat_paused(&self, owner_id: i64, chat_id: i64) -> StoreResult<bool> {
        let row: Option<i64> = on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT owner_id FROM business_chat_pauses WHERE owner_id = $1 AND chat_id = $2",
            )
            .bind(owner_id)
            .bind(chat_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.is_some())
    }

    // --- warnings --------------------------------------------------------

    async fn add_warn(
        &self,
        chat_id: i64,
        user_id: i64,
        actor_id: i64,
        reason: Option<&str>,
        at: i64,
        limit: u32,
    ) -> StoreResult<WarnAdded> {
        let backend = self.backend();
        let limit = i64::from(limit.max(1));
        let (id, count, limit_reached) = write_tx!(self, |tx| {
            lock_warns!(backend, tx, chat_id, user_id);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO warnings (chat_id, user_id, actor_id, reason, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(chat_id)
            .bind(user_id)
            .bind(actor_id)
            .bind(reason)
            .bind(at)
            .fetch_one(&mut *tx)
            .await?;
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM warnings WHERE chat_id = $1 AND user_id = $2",
            )
            .bind(chat_id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            // At or beyond: a lowered limit, or warnings merged by a group's
            // upgrade, may have left more than the limit.
            let limit_reached = count >= limit;
            if limit_reached {
                sqlx::query("DELETE FROM warnings WHERE chat_id = $1 AND user_id = $2")
                    .bind(chat_id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
            }
            (id, count, limit_reached)
        });
        Ok(WarnAdded {
            id,
            count: u32::try_from(count).unwrap_or(u32::MAX),
            limit_reached,
        })
    }

    async fn warns(&self, chat_id: i64, user_id: i64) -> StoreResult<Vec<Warn>> {
        let rows: Vec<(i64, i64, Option<String>, i64)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, actor_id, reason, created_at FROM warnings
                 WHERE chat_id = $1 AND user_id = $2 ORDER BY id",
            )
            .bind(chat_id)
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, actor_id, reason, at)| Warn {
                id,
                actor_id,
                reason,
                at,
            })
            .collect())
    }

    async fn remove_latest_warn(&self, chat_id: i64, user_id: i64) -> StoreResult<bool> {
        let backend = self.backend();
        let removed = write_tx!(self, |tx| {
            // Locked: two removals at once remove two warnings.
            lock_warns!(backend, tx, chat_id, user_id);
            sqlx::query(
                "DELETE FROM warnings WHERE id = (
                     SELECT MAX(id) FROM warnings WHERE chat_id = $1 AND user_id = $2)",
            )
            .bind(chat_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
        });
        Ok(removed > 0)
    }

    async fn remove_warn(&self, chat_id: i64, warn_id: i64) -> StoreResult<Option<i64>> {
        let backend = self.backend();
        let removed = write_tx!(self, |tx| {
            let user_id: Option<i64> =
                sqlx::query_scalar("SELECT user_id FROM warnings WHERE id = $1 AND chat_id = $2")
                    .bind(warn_id)
                    .bind(chat_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match user_id {
                None => None,
                Some(user_id) => {
                    lock_warns!(backend, tx, chat_id, user_id);
                    // Gone meanwhile (the limit was reached): nothing removed.
                    let removed =
                        sqlx::query("DELETE FROM warnings WHERE id = $1 AND chat_id = $2")
                            .bind(warn_id)
                            .bind(chat_id)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    (removed > 0).then_some(user_id)
                }
            }
        });
        Ok(removed)
    }

    async fn reset_warns(&self, chat_id: i64, user_id: i64) -> StoreResult<u64> {
        let backend = self.backend();
        Ok(write_tx!(self, |tx| {
            lock_warns!(backend, tx, chat_id, user_id);
            sqlx::query("DELETE FROM warnings WHERE chat_id = $1 AND user_id = $2")
                .bind(chat_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        }))
    }

    async fn warn_settings(&self, chat_id: i64) -> StoreResult<WarnSettings> {
        let row: Option<(i32, String, Option<i64>)> = on_pool!(self, |pool| {
            sqlx::query_as("SELECT warn_limit, mode, seconds FROM warn_settings WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_optional(pool)
                .await?
        });
        let Some((limit, mode, seconds)) = row else {
            return Ok(WarnSettings::default());
        };
        let mode = WarnMode::from_columns(&mode, seconds).unwrap_or_else(|| {
            tracing::warn!(
                chat_id,
                mode,
                seconds,
                "an unknown warn mode is taken for a ban"
            );
            WarnMode::Ban
        });
        Ok(WarnSettings {
            limit: u32::try_from(limit).map_or(WarnSettings::default().limit, |limit| limit.max(1)),
            mode,
        })
    }

    async fn set_warn_limit(&self, chat_id: i64, limit: u32) -> StoreResult<()> {
        // A new row takes the default mode.
        let (mode, seconds) = WarnSettings::default().mode.to_columns();
        write_one!(self, |pool| {
            sqlx::query(
                "INSERT INTO warn_settings (chat_id, warn_limit, mode, seconds)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (chat_id) DO UPDATE SET warn_limit = excluded.warn_limit",
            )
            .bind(chat_id)
            .bind(warn_limit(limit))
            .bind(mode)
            .bind(seconds)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn set_warn_mode(&self, chat_id: i64, mode: WarnMode) -> StoreResult<()> {
        // A new row takes the default limit.
        let limit = warn_limit(WarnSettings::default().limit);
        let (mode, seconds) = mode.to_columns();
        write_one!(self, |pool| {
            sqlx::query(
                "INSERT INTO warn_settings (chat_id, warn_limit, mode, seconds)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (chat_id) DO UPDATE
                 SET mode = excluded.mode, seconds = excluded.seconds",
            )
            .bind(chat_id)
            .bind(limit)
            .bind(mode)
            .bind(seconds)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    // --- action log ------------------------------------------------------

    async fn record_action(&self, action: &ModAction) -> StoreResult<()> {
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO mod_actions
                 (chat_id, actor_id, action, target_id, reason, until, via_connection, at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(action.chat_id)
            .bind(action.actor_id)
            .bind(&action.action)
            .bind(action.target_id)
            .bind(action.reason.as_deref())
            .bind(action.until)
            .bind(action.via_connection)
            .bind(action.at)
            .execute(&mut *tx)
            .await?;
            // Trimmed here rather than by a periodic prune: the bound then
            // holds at all times with no job to schedule, and the cost is
            // small and paid per action (rare, next to messages): a walk of
            // the chat's newest ACTION_LOG_LIMIT index entries (a few pages)
            // and, once the log is full, one row deleted. Concurrent
            // inserts into one chat may each miss the other's row: the log
            // then holds a row or two more until the next action.
            sqlx::query(
                "DELETE FROM mod_actions WHERE chat_id = $1 AND id <= (
                     SELECT id FROM mod_actions WHERE chat_id = $1
                     ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(action.chat_id)
            .bind(i64::from(ACTION_LOG_LIMIT))
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    async fn recent_actions(&self, chat_id: i64, limit: u32) -> StoreResult<Vec<ModAction>> {
        let rows: Vec<ActionRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT chat_id, actor_id, action, target_id, reason, until, via_connection, at
                 FROM mod_actions WHERE chat_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(chat_id)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(chat_id, actor_id, action, target_id, reason, until, via_connection, at)| {
                    ModAction {
                        chat_id,
                        actor_id,
                        action,
                        target_id,
                        reason,
                        until,
                        via_connection,
                        at,
                    }
                },
            )
            .collect())
    }

    // --- guards ----------------------------------------------------------

    async fn guards(&self, chat_id: i64) -> StoreResult<GuardSet> {
        let rows: Vec<GuardsRow> = on_pool!(self, |pool| {
            sqlx::query_as(SELECT_GUARDS)
                .bind(chat_id)
                .fetch_all(pool)
                .await?
        });
        let mut set = GuardSet::default();
        for (
            part,
            name,
            text,
            entities,
            bl_mode,
            bl_seconds,
            locks,
            consecutive,
            timer_count,
            timer_seconds,
            flood_mode,
            flood_seconds,
            disabled_delete,
        ) in rows
        {
            match (part, name) {
                (0, _) => {
                    let settings = read_guard_settings(
                        chat_id,
                        Some((
                            bl_mode,
                            bl_seconds,
                            locks.unwrap_or(0),
                            consecutive,
                            timer_count,
                            timer_seconds,
                            flood_mode,
                            flood_seconds,
                            disabled_delete.unwrap_or(false),
                        )),
                    );
                    set.blacklist_action = settings.blacklist_action;
                    set.locks = settings.locks;
                    set.flood = settings.flood;
                    set.disabled_delete = settings.disabled_delete;
                }
                (1, Some(keyword)) => set.filters.push((
                    keyword,
                    FormattedText {
                        text: text.unwrap_or_default(),
                        entities_json: entities.unwrap_or_default(),
                    },
                )),
                (2, Some(entry)) => set.blacklist.push(entry),
                (3, Some(command)) => set.disabled.push(command),
                _ => {}
            }
        }
        // Byte-wise, as the listings' COLLATE "C" (and SQLite's BINARY).
        set.filters.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        set.blacklist.sort_unstable();
        set.disabled.sort_unstable();
        Ok(set)
    }

    async fn save_filter(
        &self,
        chat_id: i64,
        keyword: &str,
        reply: &FormattedText,
    ) -> StoreResult<bool> {
        let updated = write_tx!(self, |tx| {
            let updated = sqlx::query(
                "UPDATE filters SET text = $3, entities = $4 WHERE chat_id = $1 AND keyword = $2",
            )
            .bind(chat_id)
            .bind(keyword)
            .bind(&reply.text)
            .bind(&reply.entities_json)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                // Upsert: on PostgreSQL a concurrent save of the same new
                // keyword must not fail.
                sqlx::query(
                    "INSERT INTO filters (chat_id, keyword, text, entities) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (chat_id, keyword) DO UPDATE
                     SET text = excluded.text, entities = excluded.entities",
                )
                .bind(chat_id)
                .bind(keyword)
                .bind(&reply.text)
                .bind(&reply.entities_json)
                .execute(&mut *tx)
                .await?;
            }
            updated
        });
        Ok(updated > 0)
    }

    async fn delete_filter(&self, chat_id: i64, keyword: &str) -> StoreResult<bool> {
        let deleted = write_one!(self, |pool| {
            sqlx::query("DELETE FROM filters WHERE chat_id = $1 AND keyword = $2")
                .bind(chat_id)
                .bind(keyword)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(deleted > 0)
    }

    async fn delete_all_filters(&self, chat_id: i64) -> StoreResult<u64> {
        Ok(write_one!(self, |pool| {
            sqlx::query("DELETE FROM filters WHERE chat_id = $1")
                .bind(chat_id)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    async fn filters(&self, chat_id: i64) -> StoreResult<Vec<(String, FormattedText)>> {
        let rows: Vec<(String, String, String)> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT keyword, text, entities FROM filters WHERE chat_id = $1 ORDER BY keyword",
            )
            .bind(chat_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(keyword, text, entities_json)| {
                (
                    keyword,
                    FormattedText {
                        text,
                        entities_json,
                    },
                )
            })
            .collect())
    }

    async fn filter_count(&self, chat_id: i64) -> StoreResult<u64> {
        let count: i64 = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM filters WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_one(pool)
                .await?
        });
        Ok(u64::try_from(count).unwrap_or(0))
    }

    async fn add_blacklist(&self, chat_id: i64, entries: &[String]) -> StoreResult<u64> {
        self.for_each_name(
            "INSERT INTO blacklist (chat_id, entry) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            chat_id,
            entries,
        )
        .await
    }

    async fn remove_blacklist(&self, chat_id: i64, entries: &[String]) -> StoreResult<u64> {
        self.for_each_name(
            "DELETE FROM blacklist WHERE chat_id = $1 AND entry = $2",
            chat_id,
            entries,
        )
        .await
    }

    async fn blacklist(&self, chat_id: i64) -> StoreResult<Vec<String>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT entry FROM blacklist WHERE chat_id = $1 ORDER BY entry")
                .bind(chat_id)
                .fetch_all(pool)
                .await?
        }))
    }

    async fn blacklist_action(&self, chat_id: i64) -> StoreResult<GuardAction> {
        Ok(self.guard_settings(chat_id).await?.blacklist_action)
    }

    async fn set_blacklist_action(&self, chat_id: i64, action: GuardAction) -> StoreResult<()> {
        let (mode, seconds) = action.to_columns();
        write_one!(self, |pool| {
            sqlx::query(
                "INSERT INTO guard_settings (chat_id, blacklist_mode, blacklist_seconds)
                 VALUES ($1, $2, $3)
                 ON CONFLICT (chat_id) DO UPDATE
                 SET blacklist_mode = excluded.blacklist_mode,
                     blacklist_seconds = excluded.blacklist_seconds",
            )
            .bind(chat_id)
            .bind(mode)
            .bind(seconds)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn locks(&self, chat_id: i64) -> StoreResult<u64> {
        Ok(self.guard_settings(chat_id).await?.locks)
    }

    async fn set_locks(&self, chat_id: i64, bits: u64) -> StoreResult<()> {
        write_one!(self, |pool| {
            sqlx::query(
                "INSERT INTO guard_settings (chat_id, locks) VALUES ($1, $2)
                 ON CONFLICT (chat_id) DO UPDATE SET locks = excluded.locks",
            )
            .bind(chat_id)
            .bind(locks_column(bits))
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn flood_settings(&self, chat_id: i64) -> StoreResult<FloodSettings> {
        Ok(self.guard_settings(chat_id).await?.flood)
    }

    async fn set_flood_settings(&self, chat_id: i64, settings: &FloodSettings) -> StoreResult<()> {
        let (mode, seconds) = settings.action.to_columns();
        let consecutive = settings.consecutive.map(i64::from);
        let timer_count = settings.timer.map(|(count, _)| i64::from(count));
        let timer_seconds = settings
            .timer
            .map(|(_, seconds)| i64::try_from(seconds).unwrap_or(i64::MAX));
        write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO guard_settings
                 (chat_id, flood_consecutive, flood_timer_count, flood_timer_seconds, flood_mode,
                  flood_seconds)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (chat_id) DO UPDATE
                 SET flood_consecutive = excluded.flood_consecutive,
                     flood_timer_count = excluded.flood_timer_count,
                     flood_timer_seconds = excluded.flood_timer_seconds,
                     flood_mode = excluded.flood_mode, flood_seconds = excluded.flood_seconds",
            )
            .bind(chat_id)
            .bind(consecutive)
            .bind(timer_count)
            .bind(timer_seconds)
            .bind(mode)
            .bind(seconds)
            .execute(&mut *tx)
            .await?;
            // Counting restarts under the new settings (and without a timer
            // nothing is left behind). The streak first, as in flood_hit:
            // the same lock order.
            sqlx::query("DELETE FROM flood_streaks WHERE chat_id = $1")
                .bind(chat_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM flood_hits WHERE chat_id = $1")
                .bind(chat_id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    /// The streak is one row per chat: who wrote last, and how many in a
    /// row. Its upsert comes first and, on PostgreSQL, holds the row's lock
    /// until commit: that serializes the chat's counts across castellans
    /// (SQLite's writers are serialized already), so the rest of the
    /// transaction sees every earlier message of the chat.
    ///
    /// The window is a row per message rather than a ring of timestamps per
    /// member: the same SQL on both backends (no arrays on SQLite), an exact
    /// count by an index range, and a bound kept by deletes in the same
    /// transaction: the chat's messages out of the window go (an index
    /// range, each row deleted once), and a member with more than
    /// [`FLOOD_WINDOW_LIMIT`] in it keeps their newest. A chat thus holds no
    /// more than its last window's messages, and a ring (of a fixed size
    /// that still needs its stale members pruned) would save little.
    ///
    /// Round trips: one statement without a window; with one, a
    /// transaction of four statements (five when a member's messages are
    /// trimmed).
    async fn flood_hit(
        &self,
        chat_id: i64,
        user_id: i64,
        at_ms: i64,
        window_ms: Option<i64>,
    ) -> StoreResult<FloodCount> {
        let count = |n: i64| u32::try_from(n).unwrap_or(if n < 0 { 0 } else { u32::MAX });
        let Some(window_ms) = window_ms else {
            let streak: i64 = write_one!(self, |pool| {
                sqlx::query_scalar(UPSERT_FLOOD_STREAK)
                    .bind(chat_id)
                    .bind(user_id)
                    .fetch_one(pool)
                    .await?
            });
            return Ok(FloodCount {
                consecutive: count(streak),
                in_window: 0,
            });
        };
        // Messages at or before `since` are out of the window.
        let since = at_ms.saturating_sub(window_ms.max(0));
        let limit = i64::from(FLOOD_WINDOW_LIMIT);
        let (streak, in_window) = write_tx!(self, |tx| {
            let streak: i64 = sqlx::query_scalar(UPSERT_FLOOD_STREAK)
                .bind(chat_id)
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM flood_hits WHERE chat_id = $1 AND at_ms <= $2")
                .bind(chat_id)
                .bind(since)
                .execute(&mut *tx)
                .await?;
            sqlx::query("INSERT INTO flood_hits (chat_id, user_id, at_ms) VALUES ($1, $2, $3)")
                .bind(chat_id)
                .bind(user_id)
                .bind(at_ms)
                .execute(&mut *tx)
                .await?;
            let in_window: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM flood_hits WHERE chat_id = $1 AND user_id = $2 AND at_ms > $3",
            )
            .bind(chat_id)
            .bind(user_id)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            if in_window > limit {
                // Keeps the newest `limit` (and any as old as the last of
                // them: messages of one millisecond are few).
                sqlx::query(
                    "DELETE FROM flood_hits WHERE chat_id = $1 AND user_id = $2 AND at_ms < (
                         SELECT at_ms FROM flood_hits WHERE chat_id = $1 AND user_id = $2
                         ORDER BY at_ms DESC LIMIT 1 OFFSET $3)",
                )
                .bind(chat_id)
                .bind(user_id)
                .bind(limit - 1)
                .execute(&mut *tx)
                .await?;
            }
            (streak, in_window.min(limit))
        });
        Ok(FloodCount {
            consecutive: count(streak),
            in_window: count(in_window),
        })
    }

    async fn flood_reset(&self, chat_id: i64, user_id: i64) -> StoreResult<()> {
        write_tx!(self, |tx| {
            // The streak first, as in flood_hit: the same lock order. A
            // streak of 0: the member's next message, if nobody else's
            // comes first, counts 1.
            sqlx::query("UPDATE flood_streaks SET streak = 0 WHERE chat_id = $1 AND user_id = $2")
                .bind(chat_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM flood_hits WHERE chat_id = $1 AND user_id = $2")
                .bind(chat_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
        });
        Ok(())
    }

    async fn disable_commands(&self, chat_id: i64, commands: &[String]) -> StoreResult<u64> {
        self.for_each_name(
            "INSERT INTO disabled_commands (chat_id, command) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            chat_id,
            commands,
        )
        .await
    }

    async fn enable_commands(&self, chat_id: i64, commands: &[String]) -> StoreResult<u64> {
        self.for_each_name(
            "DELETE FROM disabled_commands WHERE chat_id = $1 AND command = $2",
            chat_id,
            commands,
        )
        .await
    }

    async fn disabled_commands(&self, chat_id: i64) -> StoreResult<Vec<String>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT command FROM disabled_commands WHERE chat_id = $1 ORDER BY command",
            )
            .bind(chat_id)
            .fetch_all(pool)
            .await?
        }))
    }

    async fn disabled_delete(&self, chat_id: i64) -> StoreResult<bool> {
        Ok(self.guard_settings(chat_id).await?.disabled_delete)
    }

    async fn set_disabled_delete(&self, chat_id: i64, delete: bool) -> StoreResult<()> {
        write_one!(self, |pool| {
            sqlx::query(
                "INSERT INTO guard_settings (chat_id, disabled_delete) VALUES ($1, $2)
                 ON CONFLICT (chat_id) DO UPDATE SET disabled_delete = excluded.disabled_delete",
            )
            .bind(chat_id)
            .bind(delete)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    // --- user directory --------------------------------------------------

    async fn learn_user(&self, chat_id: i64, user: &KnownUser, at: i64) -> StoreResult<()> {
        // Telegram never sends an empty username; one would mean none.
        let username = user.username.as_deref().filter(|name| !name.is_empty());
        let lower = username.map(username_key);
        let lower = lower.as_deref();
        // A concurrent learn_user may give the username to another member
        // between the two statements (23505 on the unique index): a second
        // run sees it and takes it from them.
        retry_conflicts("learning a user", || async move {
            write_tx!(self, |tx| {
                if let Some(lower) = lower {
                    sqlx::query(
                        "UPDATE known_users SET username = NULL, username_lower = NULL
                         WHERE chat_id = $1 AND username_lower = $2 AND user_id <> $3",
                    )
                    .bind(chat_id)
                    .bind(lower)
                    .bind(user.id)
                    .execute(&mut *tx)
                    .await?;
                }
                sqlx::query(
                    "INSERT INTO known_users
                     (chat_id, user_id, username, username_lower, first_name, last_name, seen_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (chat_id, user_id) DO UPDATE
                     SET username = excluded.username, username_lower = excluded.username_lower,
                         first_name = excluded.first_name, last_name = excluded.last_name,
                         seen_at = excluded.seen_at",
                )
                .bind(chat_id)
                .bind(user.id)
                .bind(username)
                .bind(lower)
                .bind(&user.first_name)
                .bind(user.last_name.as_deref())
                .bind(at)
                .execute(&mut *tx)
                .await?;
            });
            Ok(())
        })
        .await
    }

    async fn user_by_username(
        &self,
        chat_id: i64,
        username: &str,
    ) -> StoreResult<Option<KnownUser>> {
        let row: Option<KnownUserRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id, username, first_name, last_name FROM known_users
                 WHERE chat_id = $1 AND username_lower = $2",
            )
            .bind(chat_id)
            .bind(username_key(username))
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(known_user))
    }

    async fn known_user(&self, chat_id: i64, user_id: i64) -> StoreResult<Option<KnownUser>> {
        let row: Option<KnownUserRow> = on_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT user_id, username, first_name, last_name FROM known_users
                 WHERE chat_id = $1 AND user_id = $2",
            )
            .bind(chat_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(known_user))
    }

    // --- chat lifecycle --------------------------------------------------

    async fn migrate_chat(&self, from_chat_id: i64, to_chat_id: i64) -> StoreResult<()> {
        if from_chat_id == to_chat_id {
            return Ok(());
        }
        // The statements resolve conflicts themselves; a deadlock or
        // serialization failure against a concurrent writer is retried.
        retry_conflicts("moving a group's records", || async move {
            write_tx!(self, |tx| {
                for statement in super::MIGRATE_CHAT_STATEMENTS {
                    sqlx::query(statement)
                        .bind(from_chat_id)
                        .bind(to_chat_id)
                        .execute(&mut *tx)
                        .await?;
                }
            });
            Ok(())
        })
        .await
    }

    async fn end_connections_to(&self, chat_id: i64) -> StoreResult<u64> {
        let ended = write_tx!(self, |tx| {
            sqlx::query(
                "INSERT INTO ended_connections (user_id, space, chat_id, chat_title, reason)
                 SELECT user_id, space, chat_id, chat_title, 'bot_removed'
                 FROM current_connections WHERE space = 'chat' AND chat_id = $1
                 ON CONFLICT (user_id) DO UPDATE
                 SET space = excluded.space, chat_id = excluded.chat_id,
                     chat_title = excluded.chat_title, reason = excluded.reason",
            )
            .bind(chat_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM current_connections WHERE space = 'chat' AND chat_id = $1")
                .bind(chat_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
        });
        Ok(ended)
    }

    async fn take_ended_connection(&self, user_id: i64) -> StoreResult<Option<ConnectedChat>> {
        let row: Option<ChatRow> = write_one!(self, |pool| {
            sqlx::query_as(
                "DELETE FROM ended_connections WHERE user_id = $1
                 RETURNING space, chat_id, chat_title",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(connected_chat).transpose()?)
    }

    async fn rename_chat(&self, chat_id: i64, title: &str) -> StoreResult<()> {
        write_tx!(self, |tx| {
            for table in [
                "current_connections",
                "connection_history",
                "ended_connections",
            ] {
                sqlx::query(&format!(
                    "UPDATE {table} SET chat_title = $2
                     WHERE space = 'chat' AND chat_id = $1 AND chat_title <> $2"
                ))
                .bind(chat_id)
                .bind(title)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }

    // --- delivery --------------------------------------------------------

    async fn claim_update(
        &self,
        update_id: i64,
        owner: &str,
        now_ms: i64,
        lease_until: i64,
    ) -> StoreResult<UpdateClaim> {
        // Taken over only when unfinished and its lease ran out (or was
        // given up); the first claim's time stays, for the prune and the
        // hour an update is tried for.
        let claimed: Option<(i32, i64)> = write_one!(self, |pool| {
            sqlx::query_as(
                "INSERT INTO handled_updates (update_id, owner, done, lease_until, claimed_at)
                 VALUES ($1, $2, FALSE, $3, $4)
                 ON CONFLICT (update_id) DO UPDATE
                 SET owner = excluded.owner, lease_until = excluded.lease_until
                 WHERE handled_updates.done = FALSE
                   AND handled_updates.lease_until < excluded.claimed_at
                 RETURNING attempts, claimed_at",
            )
            .bind(update_id)
            .bind(owner)
            .bind(lease_until)
            .bind(now_ms)
            .fetch_optional(pool)
            .await?
        });
        if let Some((attempts, first_claimed_at)) = claimed {
            return Ok(UpdateClaim::Claimed {
                attempts: u32::try_from(attempts).unwrap_or(0),
                first_claimed_at,
            });
        }
        let done: Option<bool> = on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT done FROM handled_updates WHERE update_id = $1")
                .bind(update_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(match done {
            Some(true) => UpdateClaim::Handled,
            Some(false) => UpdateClaim::Running,
            // Pruned in between: a day old, so handled long ago.
            None => UpdateClaim::Handled,
        })
    }

    async fn finish_updates(
        &self,
        update_ids: &[i64],
        owner: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        // One statement for the whole batch, each backend reading the ids
        // from one parameter: PostgreSQL as an array, SQLite (no arrays) as
        // a JSON list.
        match &self.pool {
            Pool::Postgres(pool) => {
                super::count_operation();
                sqlx::query(
                    "INSERT INTO handled_updates (update_id, owner, done, lease_until, claimed_at)
                     SELECT id, $2, TRUE, $3, $3 FROM UNNEST($1::BIGINT[]) AS id
                     ON CONFLICT (update_id) DO UPDATE SET done = TRUE",
                )
                .bind(update_ids)
                .bind(owner)
                .bind(now_ms)
                .execute(pool)
                .await?;
            }
            Pool::Sqlite { .. } => {
                let ids = serde_json::to_string(update_ids).unwrap_or_else(|_| "[]".into());
                write_one!(self, |pool| {
                    // `WHERE TRUE`: SQLite's upsert after a SELECT needs it.
                    sqlx::query(
                        "INSERT INTO handled_updates (update_id, owner, done, lease_until, claimed_at)
                         SELECT value, $2, TRUE, $3, $3 FROM json_each($1) WHERE TRUE
                         ON CONFLICT (update_id) DO UPDATE SET done = TRUE",
                    )
                    .bind(ids)
                    .bind(owner)
                    .bind(now_ms)
                    .execute(pool)
                    .await?;
                });
            }
        }
        Ok(())
    }

    async fn release_update(&self, update_id: i64, owner: &str, failed: bool) -> StoreResult<()> {
        write_one!(self, |pool| {
            sqlx::query(
                "UPDATE handled_updates
                 SET lease_until = 0, attempts = attempts + CASE WHEN $3 THEN 1 ELSE 0 END
                 WHERE update_id = $1 AND owner = $2 AND done = FALSE",
            )
            .bind(update_id)
            .bind(owner)
            .bind(failed)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn handled_updates_among(&self, from: i64, to: i64) -> StoreResult<Vec<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT update_id FROM handled_updates
                 WHERE update_id BETWEEN $1 AND $2 AND done = TRUE",
            )
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?
        }))
    }

    async fn newest_recorded_update(&self) -> StoreResult<Option<i64>> {
        Ok(on_pool!(self, |pool| {
            sqlx::query_scalar("SELECT MAX(update_id) FROM handled_updates")
                .fetch_one(pool)
                .await?
        }))
    }

    async fn prune_handled_updates(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(write_one!(self, |pool| {
            sqlx::query("DELETE FROM handled_updates WHERE claimed_at < $1")
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }
}

/// A tag no other store (in this process or another) is likely to have.
fn origin_tag() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!(
        "{:x}-{:x}-{:x}",
        std::process::id(),
        nanos,
        OPENED.fetch_add(1, Ordering::Relaxed)
    )
}

/// The NOTIFY channel of admin changes: one per schema, so deployments (or
/// test runs) sharing a database in separate schemas never hear each other.
async fn admin_channel(pool: &PgPool) -> Result<String, sqlx::Error> {
    let schema: String = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(pool)
        .await?;
    Ok(format!("castellan_admins.{schema}"))
}

/// Runs `attempt` again, at most three more times, while it fails on a
/// conflict with a concurrent transaction that running again resolves: a
/// serialization failure, a deadlock, or a unique key taken meanwhile.
async fn retry_conflicts<T, F, Fut>(what: &str, mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(StoreError::Database(sqlx::Error::Database(error)))
                if retries < 3
                    && error.code().is_some_and(|code| {
                        matches!(code.as_ref(), "40001" | "40P01" | "23505")
                    }) =>
            {
                retries += 1;
                tracing::warn!(%error, "{what} met a concurrent write; retrying");
            }
            other => return other,
        }
    }
}

/// `chat_id, actor_id, action, target_id, reason, until, via_connection, at`.
type ActionRow = (
    i64,
    i64,
    String,
    i64,
    Option<String>,
    Option<i64>,
    bool,
    i64,
);

/// `user_id, username, first_name, last_name`.
type KnownUserRow = (i64, Option<String>, String, Option<String>);

fn known_user((id, username, first_name, last_name): KnownUserRow) -> KnownUser {
    KnownUser {
        id,
        username,
        first_name,
        last_name,
    }
}

/// The `username_lower` of a username: lower-cased here, not by the
/// database, so both backends (and every locale) agree.
fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// The `warn_limit` column's value: at least 1.
fn warn_limit(limit: u32) -> i32 {
    i32::try_from(limit.max(1)).unwrap_or(i32::MAX)
}

/// `blacklist_mode, blacklist_seconds, locks, flood_consecutive,
/// flood_timer_count, flood_timer_seconds, flood_mode, flood_seconds,
/// disabled_delete` ([`guard_settings_columns`]).
type GuardSettingsRow = (
    Option<String>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    bool,
);

/// A row of [`SELECT_GUARDS`]: `part, name, text, entities`, then the
/// settings' columns (NULL but in part 0).
type GuardsRow = (
    i32,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<bool>,
);

/// The settings of `guard_settings`, read.
struct GuardSettings {
    blacklist_action: GuardAction,
    locks: u64,
    flood: FloodSettings,
    disabled_delete: bool,
}

/// Reads a chat's settings row; the defaults ([`GuardSet::default`]) for
/// none, and for each NULL or unknown value (an action a newer castellan
/// wrote is logged, and taken for the default).
fn read_guard_settings(chat_id: i64, row: Option<GuardSettingsRow>) -> GuardSettings {
    let defaults = GuardSet::default();
    let Some((
        blacklist_mode,
        blacklist_seconds,
        locks,
        consecutive,
        timer_count,
        timer_seconds,
        flood_mode,
        flood_seconds,
        disabled_delete,
    )) = row
    else {
        return GuardSettings {
            blacklist_action: defaults.blacklist_action,
            locks: defaults.locks,
            flood: defaults.flood,
            disabled_delete: defaults.disabled_delete,
        };
    };
    let action = |what: &str, mode: Option<String>, seconds: Option<i64>, default| {
        let Some(mode) = mode else {
            return default;
        };
        GuardAction::from_columns(&mode, seconds).unwrap_or_else(|| {
            tracing::warn!(
                chat_id,
                mode,
                seconds,
                "an unknown {what} action is taken for the default"
            );
            default
        })
    };
    let count = |n: i64| u32::try_from(n).unwrap_or(if n < 0 { 0 } else { u32::MAX });
    GuardSettings {
        blacklist_action: action(
            "blacklist",
            blacklist_mode,
            blacklist_seconds,
            defaults.blacklist_action,
        ),
        locks: u64::from_ne_bytes(locks.to_ne_bytes()),
        flood: FloodSettings {
            consecutive: consecutive.map(count),
            timer: timer_count
                .zip(timer_seconds)
                .map(|(count_, seconds)| (count(count_), u64::try_from(seconds).unwrap_or(0))),
            action: action("flood", flood_mode, flood_seconds, defaults.flood.action),
        },
        disabled_delete,
    }
}

/// The `locks` column's value: the bits as they are (the column is signed).
fn locks_column(bits: u64) -> i64 {
    i64::from_ne_bytes(bits.to_ne_bytes())
}

/// `space, chat_id, chat_title`.
type ChatRow = (String, i64, String);

/// `id, owner_id, user_chat_id, rights, is_enabled, date, superseded`.
type BusinessRow = (String, i64, i64, Option<String>, bool, i64, bool);

fn history_limit() -> i64 {
    i64::try_from(HISTORY_LIMIT).unwrap_or(i64::MAX)
}

/// Fails on a `space` the schema's CHECK constraint should have refused.
fn connected_chat((kind, id, title): ChatRow) -> Result<ConnectedChat, sqlx::Error> {
    let space = Space::from_columns(&kind, id)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown space kind {kind:?}").into()))?;
    Ok(ConnectedChat { space, title })
}

fn stored_business_connection(
    (id, owner_id, user_chat_id, rights_json, is_enabled, date, superseded): BusinessRow,
) -> StoredBusinessConnection {
    StoredBusinessConnection {
        connection: BusinessConnectionRecord {
            id,
            owner_id,
            user_chat_id,
            rights_json,
            is_enabled,
            date,
        },
        superseded,
    }
}
