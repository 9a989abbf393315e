//! castellan: a Telegram group-management bot. Users connect their private
//! chat with the bot to a group and manage (or read) it from there.

pub mod app;
pub mod auth;
pub mod business;
pub mod commands;
pub mod config;
pub mod context;
pub mod directory;
pub mod dispatch;
pub mod error;
pub mod format;
pub mod guards;
pub mod http;
pub mod i18n;
pub mod intake;
pub mod metrics;
pub mod modules;
pub mod pace;
pub mod payload;
pub mod store;
pub mod telegram;
pub mod updates;
