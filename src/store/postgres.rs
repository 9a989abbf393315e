//! The PostgreSQL backend, for production.
//!
//! Objects are created and used unqualified, so the schema is whatever the
//! connection's `search_path` names first: a URL may pick one with
//! `?options=-c%20search_path%3Dsome_schema` (the tests isolate themselves
//! that way).
//!
//! Concurrency: `connect` first upserts the user's row of
//! `current_connections`; that row lock serializes every connect of one user
//! until commit, so the history update and trim that follow never interleave.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Backend, ConnectedChat, FormattedText, HISTORY_LIMIT, Note, Store, StoreResult};

const MAX_CONNECTIONS: u32 = 8;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database the `postgres:` URL names and runs the
    /// migrations.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("castellan");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn close(&self) {
        PostgresStore::close(self).await;
    }

    async fn connect(&self, user_id: i64, chat: &ConnectedChat) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO current_connections (user_id, chat_id, chat_title) VALUES ($1, $2, $3)
             ON CONFLICT (user_id) DO UPDATE
             SET chat_id = EXCLUDED.chat_id, chat_title = EXCLUDED.chat_title",
        )
        .bind(user_id)
        .bind(chat.chat_id)
        .bind(&chat.chat_title)
        .execute(&mut *tx)
        .await?;
        // `seq` defaults to the next value of a sequence, drawn while the row
        // lock above is held: newer connects always get larger values.
        sqlx::query(
            "INSERT INTO connection_history (user_id, chat_id, chat_title) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, chat_id) DO UPDATE
             SET chat_title = EXCLUDED.chat_title, seq = EXCLUDED.seq",
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
        sqlx::query(
            "INSERT INTO chat_settings (chat_id, allow_connect) VALUES ($1, $2)
             ON CONFLICT (chat_id) DO UPDATE SET allow_connect = EXCLUDED.allow_connect",
        )
        .bind(chat_id)
        .bind(allow)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn save_note(&self, chat_id: i64, note: &Note) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await?;
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
            // Upsert: a concurrent save of the same new name must not fail.
            sqlx::query(
                "INSERT INTO notes (chat_id, name, text, entities) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (chat_id, name) DO UPDATE
                 SET text = EXCLUDED.text, entities = EXCLUDED.entities",
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
        let deleted = sqlx::query("DELETE FROM notes WHERE chat_id = $1 AND name = $2")
            .bind(chat_id)
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted > 0)
    }

    async fn set_rules(&self, chat_id: i64, rules: &FormattedText) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO rules (chat_id, text, entities) VALUES ($1, $2, $3)
             ON CONFLICT (chat_id) DO UPDATE SET text = EXCLUDED.text, entities = EXCLUDED.entities",
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
        let mut tx = self.pool.begin().await?;
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
