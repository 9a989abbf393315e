//! Integration tests. Each backend-generic test runs on SQLite always and on
//! PostgreSQL when TEST_DATABASE_URL names a database (always in CI).

mod db;
mod storage;
