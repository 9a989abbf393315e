//! Integration tests: the real bot against the fake Bot API. Each
//! backend-generic test runs on SQLite always and on PostgreSQL when
//! TEST_DATABASE_URL names a database (always in CI).

mod app;
mod basics;
mod binary;
mod business;
mod chats;
mod connections;
mod costs;
mod db;
mod faults;
mod flow;
mod guards_answer;
mod guards_remove;
mod hardening;
mod http_edge;
mod long_text;
mod moderation;
mod notes;
mod ops;
mod proxy;
mod rules;
mod startup;
mod storage;
mod warnings;
