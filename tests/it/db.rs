//! The shared test-database helper: a fresh, empty, isolated database per
//! test, on either backend.
//!
//! - SQLite: a database file in a new temporary directory, removed with it.
//! - PostgreSQL: a new schema with a unique name in the database
//!   `TEST_DATABASE_URL` names, reached through a URL whose
//!   `options=-c search_path=<schema>` makes every unqualified object land in
//!   it; the schema is dropped when the `TestDb` is. Without
//!   `TEST_DATABASE_URL` PostgreSQL tests are skipped, except when `CI` is
//!   set to any non-empty value: there they must run, and so fail.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use castellan::store::Backend;
use castellan::store::{DatabaseUrl, Store};
use sqlx::Connection;

/// Names the PostgreSQL database the tests may create schemas in.
pub const TEST_DATABASE_URL: &str = "TEST_DATABASE_URL";

/// Every test schema's name starts with this.
const SCHEMA_PREFIX: &str = "castellan_test_";

pub struct TestDb {
    /// What `castellan::store::open` (or `DATABASE_URL`) takes.
    pub url: String,
    pub backend: Backend,
    /// PostgreSQL: the test's schema.
    pub schema: Option<String>,
    /// PostgreSQL: the URL without the schema option, to drop the schema.
    admin_url: Option<String>,
    /// SQLite: keeps the directory holding the database file alive.
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh, empty database for one test. SQLite: a file in a new temp
    /// dir. PostgreSQL: a new schema (unique name) in the database
    /// TEST_DATABASE_URL names, reached through a URL with
    /// `options=-c search_path=<schema>`.
    ///
    /// Returns None (after printing a line that the test is skipped) for
    /// PostgreSQL when TEST_DATABASE_URL is unset — but PANICS when CI is set
    /// to any non-empty value: in CI the PostgreSQL tests must run.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => Some(Self::new_sqlite()),
            Backend::Postgres => Self::new_postgres().await,
        }
    }

    fn new_sqlite() -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("castellan-test-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temporary directory: {e}"));
        let url = format!("sqlite://{}", dir.path().join("castellan.db").display());
        TestDb {
            url,
            backend: Backend::Sqlite,
            schema: None,
            admin_url: None,
            _dir: Some(dir),
        }
    }

    /// A PostgreSQL schema whose name takes all 63 bytes PostgreSQL allows:
    /// castellan's announcement channel, named after it, is then too long
    /// for `pg_notify`, which fails while every other statement works.
    pub async fn postgres_where_announcements_fail() -> Option<TestDb> {
        let mut schema = unique_schema_name();
        while schema.len() < 63 {
            schema.push('x');
        }
        Self::new_postgres_named(schema).await
    }

    async fn new_postgres() -> Option<TestDb> {
        Self::new_postgres_named(unique_schema_name()).await
    }

    async fn new_postgres_named(schema: String) -> Option<TestDb> {
        let admin_url = match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if !url.trim().is_empty() => url,
            _ => {
                if std::env::var("CI").is_ok_and(|ci| !ci.trim().is_empty()) {
                    panic!(
                        "{TEST_DATABASE_URL} is unset but CI is set: the PostgreSQL tests must run in CI"
                    );
                }
                eprintln!("skipped: PostgreSQL test, {TEST_DATABASE_URL} is unset");
                return None;
            }
        };
        let mut conn = sqlx::PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {TEST_DATABASE_URL}: {e}"));
        sqlx::query(&format!("CREATE SCHEMA \"{schema}\""))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("cannot create schema {schema}: {e}"));
        let _ = conn.close().await;
        let url = with_search_path(&admin_url, &schema);
        Some(TestDb {
            url,
            backend: Backend::Postgres,
            schema: Some(schema),
            admin_url: Some(admin_url),
            _dir: None,
        })
    }

    pub fn database_url(&self) -> DatabaseUrl {
        DatabaseUrl::parse(&self.url).unwrap_or_else(|e| panic!("bad test database URL: {e}"))
    }

    /// Opens the store (running migrations), panicking on failure.
    pub async fn open(&self) -> Arc<dyn Store> {
        castellan::store::open(&self.database_url())
            .await
            .unwrap_or_else(|e| panic!("cannot open the {} store: {e}", self.backend))
    }

    /// Runs a raw query returning one integer (e.g. `SELECT COUNT(*) …`) on a
    /// separate connection, binding `binds` in order as `$1`, `$2`, …
    pub async fn query_i64(&self, sql: &str, binds: &[i64]) -> i64 {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to the SQLite database: {e}"));
                let mut query = sqlx::query_scalar::<_, i64>(sql);
                for bind in binds {
                    query = query.bind(*bind);
                }
                let value = query
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("query {sql:?} failed: {e}"));
                let _ = conn.close().await;
                value
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot connect to the PostgreSQL database: {e}"));
                let mut query = sqlx::query_scalar::<_, i64>(sql);
                for bind in binds {
                    query = query.bind(*bind);
                }
                let value = query
                    .fetch_one(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("query {sql:?} failed: {e}"));
                let _ = conn.close().await;
                value
            }
        }
    }
}

impl Drop for TestDb {
    /// Drops the PostgreSQL schema (the SQLite directory goes by itself).
    /// Runs on its own thread and runtime: `Drop` cannot await, and the
    /// test's runtime may be shutting down.
    fn drop(&mut self) {
        let (Some(admin_url), Some(schema)) = (self.admin_url.take(), self.schema.take()) else {
            return;
        };
        if std::env::var("CASTELLAN_KEEP_TEST_DB").is_ok_and(|keep| !keep.is_empty()) {
            eprintln!("kept test schema {schema}");
            return;
        }
        let dropper = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return eprintln!("cannot drop test schema {schema}: {e}"),
            };
            runtime.block_on(async {
                let drop_schema = async {
                    let mut conn = sqlx::PgConnection::connect(&admin_url).await?;
                    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                        .execute(&mut conn)
                        .await?;
                    conn.close().await
                };
                match tokio::time::timeout(Duration::from_secs(30), drop_schema).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("cannot drop test schema {schema}: {e}"),
                    Err(_) => eprintln!("timed out dropping test schema {schema}"),
                }
            });
        });
        let _ = dropper.join();
    }
}

/// `castellan_test_<pid>_<counter>_<nanos>`: unique across concurrent tests
/// and test processes, and a plain identifier (no quoting surprises).
fn unique_schema_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{SCHEMA_PREFIX}{}_{n}_{nanos}", std::process::id())
}

/// Adds `options=-c search_path=<schema>` (percent-encoded) to a PostgreSQL
/// URL, keeping any query it already has.
fn with_search_path(url: &str, schema: &str) -> String {
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let separator = if base.contains('?') { '&' } else { '?' };
    let mut url = format!("{base}{separator}options=-c%20search_path%3D{schema}");
    if let Some(fragment) = fragment {
        url.push('#');
        url.push_str(fragment);
    }
    url
}

/// Generates, for each `async fn name(backend: Backend)` listed, a
/// `#[tokio::test]` in `mod sqlite` and in `mod postgres` (multi-thread
/// runtime, 2 workers). Use it once per test module:
///
/// ```ignore
/// crate::backend_tests!(connect_works, notes_work);
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::db::Backend::Sqlite).await;
                }
            )+
        }

        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::db::Backend::Postgres).await;
                }
            )+
        }
    };
}
