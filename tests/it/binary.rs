//! The `castellan` binary itself: configuration errors, a real run against
//! the fake Bot API on the embedded default and on PostgreSQL, and SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fake_bot_api::{BOT_TOKEN, FakeTelegram, MemberStatus};

use crate::db::{Backend, TestDb};

const BINARY: &str = env!("CARGO_BIN_EXE_castellan");

/// Variables of the test's own environment a run must not inherit.
const CLEARED: &[&str] = &[
    "BOT_TOKEN",
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "TELEGRAM_API_URL",
    "RUST_LOG",
    "HTTP_ADDR",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "TAKE_OVER_WEBHOOK",
];

/// Runs the binary to completion in an empty directory (no `.env`).
fn run_with(vars: &[(&str, &str)]) -> std::process::Output {
    run_in(
        &tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}")),
        vars,
    )
}

fn run_in(dir: &tempfile::TempDir, vars: &[(&str, &str)]) -> std::process::Output {
    let mut command = Command::new(BINARY);
    command.current_dir(dir.path());
    for name in CLEARED {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {BINARY}: {e}"))
}

fn assert_config_error(vars: &[(&str, &str)], needle: &str) {
    let output = run_with(vars);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn missing_token_is_a_one_line_error_with_exit_code_2() {
    assert_config_error(&[], "BOT_TOKEN");
    assert_config_error(&[("BOT_TOKEN", "")], "BOT_TOKEN");
}

#[test]
fn malformed_token_is_a_one_line_error_with_exit_code_2() {
    assert_config_error(&[("BOT_TOKEN", "not-a-token")], "BOT_TOKEN");
    let output = run_with(&[("BOT_TOKEN", "123:short-secret-that-leaks")]);
    assert!(!String::from_utf8_lossy(&output.stderr).contains("short-secret-that-leaks"));
}

/// Runs the binary in a directory whose `.env` holds `contents`.
fn run_with_env_file(contents: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(dir.path().join(".env"), contents).unwrap_or_else(|e| panic!("write .env: {e}"));
    let output = run_in(&dir, &[]);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_broken_env_file_is_an_error_not_half_read() {
    let (code, stderr) = run_with_env_file("BOT_TOKEN='unterminated\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(".env"), "{stderr}");
}

#[test]
fn the_env_file_is_read() {
    let (code, stderr) = run_with_env_file("BOT_TOKEN=123:too-short\n");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("BOT_TOKEN is malformed"),
        "the token came from .env: {stderr}"
    );
}

#[test]
fn unsupported_database_url_is_a_clear_error() {
    assert_config_error(
        &[
            ("BOT_TOKEN", BOT_TOKEN),
            ("DATABASE_URL", "mysql://localhost/db"),
        ],
        "DATABASE_URL",
    );
}

/// dotenvy's own error quotes the line it could not parse, value and all:
/// a token or a password would reach the log. Only the line's number and
/// the variable it sets are shown.
#[test]
fn a_broken_env_line_is_named_by_number_and_variable_never_by_value() {
    const SECRET: &str = "AAHsecretValueThatMustNeverBeShown_42";
    let cases = [
        // An unclosed quote: dotenvy reads on to the end of the file.
        (
            format!("BOT_TOKEN=\"123456789:{SECRET}\n"),
            "line 1 (BOT_TOKEN)",
        ),
        (
            format!(
                "# castellan\nRUST_LOG=info\n\nBOT_TOKEN='123456789:{SECRET}\nSEND_LIMITS=on\n"
            ),
            "line 4 (BOT_TOKEN)",
        ),
        // A space in a password.
        (
            format!(
                "BOT_TOKEN=123456789:AAHfakeTokenForCastellanTests_0123456\nDATABASE_URL=postgres://castellan:{SECRET} x@localhost/castellan\n"
            ),
            "line 2 (DATABASE_URL)",
        ),
        // An escape dotenvy does not know, an unclosed ${.
        (
            format!("export BOT_TOKEN=123456789:\\q{SECRET}\n"),
            "line 1 (BOT_TOKEN)",
        ),
        (format!("BOT_TOKEN=${{{SECRET}\n"), "line 1 (BOT_TOKEN)"),
        // Not NAME=value at all: a token pasted alone.
        (format!("RUST_LOG=info\n123456789:{SECRET}\n"), "line 2:"),
        (format!("BOT_TOKEN 123456789:{SECRET}\n"), "line 1:"),
    ];
    for (contents, needle) in cases {
        let (code, stderr) = run_with_env_file(&contents);
        assert_eq!(code, Some(2), "{contents:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(".env"), "{stderr}");
        assert!(stderr.contains(needle), "{contents:?}: {stderr}");
        assert!(
            !stderr.contains(SECRET) && !stderr.contains("AAHsecret"),
            "the value is never shown: {stderr}"
        );
    }
}

/// A `DATABASE_URL` that cannot be parsed is found when the configuration
/// is read: exit code 2 at once, naming the variable, never the password;
/// not retried as if PostgreSQL were down.
#[tokio::test]
async fn a_malformed_database_url_ends_the_start_at_once_with_exit_code_2() {
    let cases = [
        // A space in the password, to a port nothing listens on.
        "postgres://castellan:pa ss@127.0.0.1:9/castellan",
        "postgres://127.0.0.1:notaport/castellan",
        // A '#' in the password cuts the URL short.
        "postgres://castellan:hunter2#x@127.0.0.1:9/castellan",
        "postgres://castellan:hunter2@127.0.0.1:9/castellan?sslmode=sometimes",
        "sqlite://castellan.db?mode=bogus",
        "sqlite://castellan.db?colour=blue",
    ];
    for url in cases {
        let started = Instant::now();
        let (code, stderr) = run_until_exit(
            &[
                ("BOT_TOKEN", BOT_TOKEN),
                ("DATABASE_URL", url),
                // Nothing listens there: Telegram is never reached.
                ("TELEGRAM_API_URL", "http://127.0.0.1:9"),
            ],
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{url}: {stderr}");
        for secret in ["pa ss", "pa%20ss", "hunter2"] {
            assert!(!stderr.contains(secret), "{url}: {stderr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{url}: took {:?}",
            started.elapsed()
        );
    }
}

/// `DATABASE_POOL_SIZE` out of range is a configuration error.
#[tokio::test]
async fn a_bad_database_pool_size_is_a_one_line_error_with_exit_code_2() {
    let (code, stderr) = run_until_exit(
        &[
            ("BOT_TOKEN", BOT_TOKEN),
            ("DATABASE_POOL_SIZE", "1"),
            ("TELEGRAM_API_URL", "http://127.0.0.1:9"),
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("DATABASE_POOL_SIZE"), "{stderr}");
}

/// Runs the binary with `vars` (and no `.env`) in a fresh directory, waiting
/// at most `limit` for it to exit.
async fn run_until_exit(vars: &[(&str, &str)], limit: Duration) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut command = Command::new(BINARY);
    command.current_dir(dir.path());
    for name in CLEARED {
        command.env_remove(name);
    }
    command
        .envs(vars.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
    let guard = KillOnDrop(child.id());
    let output = tokio::time::timeout(
        limit,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .unwrap_or_else(|_| panic!("the bot did not exit within {limit:?}"))
    .unwrap_or_else(|e| panic!("join: {e}"))
    .unwrap_or_else(|e| panic!("wait: {e}"));
    // It exited: nothing left to kill.
    std::mem::forget(guard);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_token_telegram_refuses_ends_the_start_with_exit_code_2() {
    let tg = FakeTelegram::start().await;
    let api_url = tg.api_url();
    // Well-formed, but not the fake's bot: getMe answers 401 Unauthorized.
    let token = "987654321:AAHsomeOtherBotsTokenThatIsUnknown_01";
    let (code, stderr) = run_until_exit(
        &[("BOT_TOKEN", token), ("TELEGRAM_API_URL", &api_url)],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("BOT_TOKEN"), "{stderr}");
    assert!(
        !stderr.contains(token),
        "the token is never printed: {stderr}"
    );
}

/// A polling castellan started against a webhook deployment (Telegram has
/// a webhook set) leaves the webhook alone and says how to proceed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_against_a_webhook_deployment_ends_with_exit_code_2() {
    let tg = FakeTelegram::start().await;
    let api_url = tg.api_url();
    let hook = crate::startup::set_webhook_elsewhere(&tg).await;
    let (code, stderr) = run_until_exit(
        &[("BOT_TOKEN", BOT_TOKEN), ("TELEGRAM_API_URL", &api_url)],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("WEBHOOK_URL"), "{stderr}");
    assert!(stderr.contains("TAKE_OVER_WEBHOOK=1"), "{stderr}");
    assert!(tg.requests_for("deleteWebhook").is_empty());
    assert_eq!(tg.webhook_info().map(|info| info.url), Some(hook));

    // Taking it over on purpose: the webhook goes, castellan polls.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut command = Command::new(BINARY);
    command.current_dir(dir.path());
    for name in CLEARED {
        command.env_remove(name);
    }
    let child = command
        .env("BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", &api_url)
        .env("TAKE_OVER_WEBHOOK", "1")
        .env("SHUTDOWN_GRACE", "2s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
    let pid = child.id();
    let guard = KillOnDrop(pid);
    let user = tg.add_user("Ana");
    tg.send_text(user, user, "/start");
    let reply = tg.next_message(user).await;
    assert!(reply.text.contains("Hi Ana"), "it polls: {}", reply.text);
    assert_eq!(tg.requests_for("deleteWebhook").len(), 1);
    assert_eq!(tg.webhook_info(), None);

    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(status.success());
    let output = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .unwrap_or_else(|_| panic!("the bot did not stop within 10 s"))
    .unwrap_or_else(|e| panic!("join: {e}"))
    .unwrap_or_else(|e| panic!("wait: {e}"));
    std::mem::forget(guard);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("TAKE_OVER_WEBHOOK") && stdout.contains("WARN"),
        "the take-over is logged as a warning: {stdout}"
    );
    assert!(
        !stdout.contains("secret-path"),
        "only the webhook's host is logged: {stdout}"
    );
}

/// Telegram refusing WEBHOOK_URL for good (a 400) ends the start, where it
/// used to be retried forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_url_telegram_refuses_ends_the_start_with_exit_code_2() {
    let tg = FakeTelegram::start().await;
    tg.fail_next(
        "setWebhook",
        fake_bot_api::Fault::BadRequest(
            "bad webhook: HTTPS url must be provided for webhook".into(),
        ),
        1,
    );
    let api_url = tg.api_url();
    let addr = crate::app::free_local_addr().to_string();
    let url = format!("http://{addr}/hook");
    let (code, stderr) = run_until_exit(
        &[
            ("BOT_TOKEN", BOT_TOKEN),
            ("TELEGRAM_API_URL", &api_url),
            ("HTTP_ADDR", &addr),
            ("WEBHOOK_URL", &url),
            ("WEBHOOK_SECRET", "s3cret_webhook"),
        ],
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("WEBHOOK_URL"), "{stderr}");
    assert!(!stderr.contains("s3cret_webhook"), "{stderr}");
    assert_eq!(tg.requests_for("setWebhook").len(), 1, "asked once");
}

#[tokio::test]
async fn a_database_that_refuses_castellan_ends_the_start_with_exit_code_2() {
    let Ok(test_url) = std::env::var(crate::db::TEST_DATABASE_URL) else {
        eprintln!(
            "skipped: PostgreSQL test, {} is unset",
            crate::db::TEST_DATABASE_URL
        );
        return;
    };
    let tg = FakeTelegram::start().await;
    let api_url = tg.api_url();
    let base = url::Url::parse(&test_url).unwrap_or_else(|e| panic!("TEST_DATABASE_URL: {e}"));
    let mut no_role = base.clone();
    let _ = no_role.set_username("castellan_no_such_role");
    let _ = no_role.set_password(None);
    let mut no_database = base.clone();
    no_database.set_path("/castellan_no_such_database");
    for url in [no_role, no_database] {
        let (code, stderr) = run_until_exit(
            &[
                ("BOT_TOKEN", BOT_TOKEN),
                ("TELEGRAM_API_URL", &api_url),
                ("DATABASE_URL", url.as_str()),
            ],
            Duration::from_secs(10),
        )
        .await;
        assert_eq!(code, Some(2), "{url}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{stderr}");
    }
    assert!(
        tg.requests_for("getMe").is_empty(),
        "it stopped before Telegram"
    );
}

crate::backend_tests!(binary_answers_in_pm_and_groups_and_stops_on_sigterm);

async fn binary_answers_in_pm_and_groups_and_stops_on_sigterm(backend: Backend) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    // SQLite: the embedded default, with no DATABASE_URL at all.
    let db = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match TestDb::new(Backend::Postgres).await {
            Some(db) => Some(db),
            None => return,
        },
    };
    let tg = FakeTelegram::start().await;
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env("BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", tg.api_url())
        .env("RUST_LOG", "info")
        .env("SHUTDOWN_GRACE", "3s")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(db) = &db {
        command.env("DATABASE_URL", &db.url);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
    let pid = child.id();
    let mut child = Some(child);
    let guard = KillOnDrop(pid);

    let owner = tg.add_user("Owner");
    let chat = tg.add_group("Team");
    tg.set_member(chat, owner, MemberStatus::Creator);

    tg.send_text(owner, owner, "/start");
    assert!(tg.next_message(owner).await.text.contains("Hi Owner"));
    tg.send_text(owner, owner, "/help");
    assert!(tg.next_message(owner).await.text.starts_with("Help"));
    tg.send_text(owner, owner, "/id");
    assert_eq!(
        tg.next_message(owner).await.text,
        format!("Your id: {owner}")
    );
    tg.send_text(owner, chat, "/id");
    assert!(
        tg.next_message(chat)
            .await
            .text
            .contains(&format!("This chat's id: {chat}"))
    );
    tg.send_text(owner, chat, "/help");
    assert!(tg.next_message(chat).await.text.contains("private chat"));
    tg.send_text(owner, chat, "/start");
    assert!(tg.next_message(chat).await.text.contains("up and running"));
    if backend == Backend::Sqlite {
        assert!(
            dir.path().join("castellan.db").exists(),
            "the embedded database is created in the working directory"
        );
    }

    // A raid leaves the group a backlog of replies, 20 a minute: the stop
    // does not wait for it.
    tg.enforce_flood_limits(true);
    let raided = tg.add_supergroup("Raided", None);
    for i in 0..30 {
        let member = tg.add_user(&format!("Raider {i}"));
        tg.set_member(raided, member, MemberStatus::Member);
        tg.send_text(member, raided, "/id");
    }
    tg.next_message(raided).await;
    // Every update taken, handled and confirmed: the backlog is of replies.
    assert!(
        tg.wait_updates_confirmed(Duration::from_secs(10)).await,
        "the raid was not taken in"
    );

    // SIGTERM: stops polling, confirms the offset, exits 0 within the grace.
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill: {e}"));
    assert!(status.success());
    let started = Instant::now();
    let output = tokio::task::spawn_blocking(move || child.take().map(|c| c.wait_with_output()))
        .await
        .unwrap_or_else(|e| panic!("join: {e}"))
        .unwrap_or_else(|| panic!("no child"))
        .unwrap_or_else(|e| panic!("wait: {e}"));
    std::mem::forget(guard);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let expected_backend = if backend == Backend::Sqlite {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    assert!(
        stdout.contains(&format!(
            "castellan is running with {expected_backend} storage as @castellan_test_bot"
        )),
        "{stdout}"
    );
    assert!(
        !stdout.contains(BOT_TOKEN) && !stderr.contains(BOT_TOKEN),
        "the token is never logged"
    );
    assert!(
        tg.wait_updates_confirmed(Duration::from_secs(1)).await,
        "every update was confirmed"
    );
    assert!(tg.flood_violations().is_empty());
    assert!(
        tg.messages(raided).len() < 30,
        "the backlog was dropped, not sent in a rush"
    );
}

/// Kills the child if the test fails before it is stopped on purpose.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-KILL", &self.0.to_string()])
            .status();
    }
}
