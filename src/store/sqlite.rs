//! The SQLite backend: the embedded default, one database file.
//!
//! Concurrency: the database runs in WAL mode, so readers never block and
//! never get blocked. Writers are serialized twice over: inside the process by
//! an async mutex (fair, no busy-waiting), and against other processes by
//! starting every write transaction with `BEGIN IMMEDIATE`, which takes the
//! database's write lock up front. A deferred transaction that reads first and
//! writes later can fail with `SQLITE_BUSY` without waiting (the lock upgrade
//! would deadlock); an immediate one simply waits, up to `busy_timeout`.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use tokio::sync::Mutex;

use super::{Backend, ConnectedChat, FormattedText, HISTORY_LIMIT, Note, Store, StoreResult};

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections of a file database: readers run in parallel with the writer.
const FILE_POOL_SIZE: u32 = 4;

pub struct SqliteStore {
    pool: SqlitePool,
    /// Held for the whole of every write, see the module docs.
    write_lock: Mutex<()>,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database the `sqlite:` URL names and
    /// runs the migrations. `sqlite::memory:` (or `mode=memory`) gives a
    /// private in-memory database that lives as long as this store.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
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
            SqlitePoolOptions::new().max_connections(FILE_POOL_SIZE)
        };
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self {
            pool,
            write_lock: Mutex::new(()),
        })
    }

    /// Closes every connection (checkpointing the WAL); later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a write transaction. Call with `write_lock` held.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn close(&self) {
        SqliteStore::close(self).await;
    }

    async fn connect(&self, user_id: i64, chat: &ConnectedChat) -> StoreResult<()> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO current_connections (user_id, chat_id, chat_title) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE
             SET chat_id = excluded.chat_id, chat_title = excluded.chat_title",
        )
        .bind(user_id)
        .bind(chat.chat_id)
        .bind(&chat.chat_title)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO connection_history (user_id, chat_id, chat_title, seq)
             VALUES ($1, $2, $3,
                     (SELECT COALESCE(MAX(seq), 0) + 1 FROM connection_history WHERE user_id = $1))
             ON CONFLICT (user_id, chat_id) DO UPDATE
             SET chat_title = excluded.chat_title, seq = excluded.seq",
        )
        .bind(user_id)
        .bind(chat.chat_id)
        .bind(&chat.chat_title)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "DELETE FROM connection_history
             WHERE user_id = $1 AND chat_id NOT IN (
                 SELECT chat_id FROM connection_history WHERE user_id = $1
                 ORDER BY seq DESC LIMIT $2)",
        )
        .bind(user_id)
        .bind(history_limit())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn disconnect(&self, user_id: i64) -> StoreResult<Option<ConnectedChat>> {
        let _guard = self.write_lock.lock().await;
        let row: Option<(i64, String)> = sqlx::query_as(
            "DELETE FROM current_connections WHERE user_id = $1 RETURNING chat_id, chat_title",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(connected_chat))
    }

    async fn current_connection(&self, user_id: i64) -> StoreResult<Option<ConnectedChat>> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT chat_id, chat_title FROM current_connections WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(connected_chat))
    }

    async fn recent_chats(&self, user_id: i64) -> StoreResult<Vec<ConnectedChat>> {
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT chat_id, chat_title FROM connection_history WHERE user_id = $1
             ORDER BY seq DESC LIMIT $2",
        )
        .bind(user_id)
        .bind(history_limit())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(connected_chat).collect())
    }

    async fn allow_connect(&self, chat_id: i64) -> StoreResult<bool> {
        let allow: Option<bool> =
            sqlx::query_scalar("SELECT allow_connect FROM chat_settings WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(allow.unwrap_or(true))
    }

    async fn set_allow_connect(&self, chat_id: i64, allow: bool) -> StoreResult<()> {
        let _guard = self.write_lock.lock().await;
        sqlx::query(
            "INSERT INTO chat_settings (chat_id, allow_connect) VALUES ($1, $2)
             ON CONFLICT (chat_id) DO UPDATE SET allow_connect = excluded.allow_connect",
        )
        .bind(chat_id)
        .bind(allow)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_note(&self, chat_id: i64, note: &Note) -> StoreResult<bool> {
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        let updated = sqlx::query(
            "UPDATE notes SET text = $3, entities = $4 WHERE chat_id = $1 AND name = $2",
        )
        .bind(chat_id)
        .bind(&note.name)
        .bind(&note.content.text)
        .bind(&note.content.entities_json)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 0 {
            sqlx::query(
                "INSERT INTO notes (chat_id, name, text, entities) VALUES ($1, $2, $3, $4)",
            )
            .bind(chat_id)
            .bind(&note.name)
            .bind(&note.content.text)
            .bind(&note.content.entities_json)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(updated > 0)
    }

    async fn note(&self, chat_id: i64, name: &str) -> StoreResult<Option<Note>> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT name, text, entities FROM notes WHERE chat_id = $1 AND name = $2",
        )
        .bind(chat_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(name, text, entities_json)| Note {
            name,
            content: FormattedText {
                text,
                entities_json,
            },
        }))
    }

    async fn note_names(&self, chat_id: i64) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM notes WHERE chat_id = $1 ORDER BY name")
                .bind(chat_id)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn delete_note(&self, chat_id: i64, name: &str) -> StoreResult<bool> {
        let _guard = self.write_lock.lock().await;
        let deleted = sqlx::query("DELETE FROM notes WHERE chat_id = $1 AND name = $2")
            .bind(chat_id)
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn set_rules(&self, chat_id: i64, rules: &FormattedText) -> StoreResult<()> {
        let _guard = self.write_lock.lock().await;
        sqlx::query(
            "INSERT INTO rules (chat_id, text, entities) VALUES ($1, $2, $3)
             ON CONFLICT (chat_id) DO UPDATE SET text = excluded.text, entities = excluded.entities",
        )
        .bind(chat_id)
        .bind(&rules.text)
        .bind(&rules.entities_json)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn rules(&self, chat_id: i64) -> StoreResult<Option<FormattedText>> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT text, entities FROM rules WHERE chat_id = $1")
                .bind(chat_id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(text, entities_json)| FormattedText {
            text,
            entities_json,
        }))
    }

    async fn clear_rules(&self, chat_id: i64) -> StoreResult<bool> {
        let _guard = self.write_lock.lock().await;
        let deleted = sqlx::query("DELETE FROM rules WHERE chat_id = $1")
            .bind(chat_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn migrate_chat(&self, from_chat_id: i64, to_chat_id: i64) -> StoreResult<()> {
        if from_chat_id == to_chat_id {
            return Ok(());
        }
        let _guard = self.write_lock.lock().await;
        let mut tx = self.begin_write().await?;
        for statement in super::MIGRATE_CHAT_STATEMENTS {
            sqlx::query(statement)
                .bind(from_chat_id)
                .bind(to_chat_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn history_limit() -> i64 {
    i64::try_from(HISTORY_LIMIT).unwrap_or(i64::MAX)
}

fn connected_chat((chat_id, chat_title): (i64, String)) -> ConnectedChat {
    ConnectedChat {
        chat_id,
        chat_title,
    }
}
