//! Throughput, CPU and memory of the real `castellan` binary, driven through
//! the fake Bot API: `cargo bench --bench throughput`.
//!
//! Each scenario queues many updates at once and waits for every answer. The
//! bot runs as its own process so its CPU time and peak memory are its own
//! (read from /proc), not the fake's. `BENCH_UPDATES` sets the updates per
//! scenario (default 2000); `BENCH_DATABASE_URL` runs on PostgreSQL instead
//! of a fresh SQLite file.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_bot_api::{BOT_TOKEN, FakeTelegram, MemberStatus};

const BINARY: &str = env!("CARGO_BIN_EXE_castellan");

/// CPU time (user + system) and peak resident memory of a process.
struct Usage {
    cpu: Duration,
    peak_rss_kib: u64,
}

fn usage(pid: u32) -> Usage {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // Linux reports in USER_HZ, 100 on every mainstream configuration.
    let cpu = Duration::from_millis(ticks * 10);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Usage { cpu, peak_rss_kib }
}

struct Bot {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_bot(tg: &FakeTelegram) -> Bot {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let mut command = Command::new(BINARY);
    command
        .current_dir(dir.path())
        .env("BOT_TOKEN", BOT_TOKEN)
        .env("TELEGRAM_API_URL", tg.api_url())
        .env("RUST_LOG", "warn")
        // The fake has no flood limits and one scripted user sends every
        // command: measure castellan's own cost, not Telegram's pacing.
        .env("SEND_LIMITS", "off")
        .env("USER_PACE", "off")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Ok(url) = std::env::var("BENCH_DATABASE_URL") {
        command.env("DATABASE_URL", url);
    }
    let child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
    Bot { child, _dir: dir }
}

/// Waits until the bot has sent `count` messages since request number `start`.
async fn wait_for_sends(tg: &FakeTelegram, start: usize, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(600);
    let sent = || {
        tg.requests_since(start)
            .iter()
            .filter(|r| r.method == "sendMessage")
            .count()
    };
    while sent() < count {
        assert!(
            Instant::now() < deadline,
            "the bot did not answer everything"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn measure(
    name: &str,
    tg: &FakeTelegram,
    bot: &Bot,
    updates: usize,
    expected_sends: usize,
    queue: impl FnOnce(),
) {
    let requests_before = tg.request_count();
    let usage_before = usage(bot.child.id());
    let started = Instant::now();
    queue();
    if expected_sends > 0 {
        wait_for_sends(tg, requests_before, expected_sends).await;
    }
    assert!(tg.wait_updates_confirmed(Duration::from_secs(600)).await);
    let elapsed = started.elapsed();
    let usage_after = usage(bot.child.id());
    let api_calls = tg.request_count() - requests_before;
    let get_updates = tg
        .requests_since(requests_before)
        .iter()
        .filter(|r| r.method == "getUpdates")
        .count();
    let cpu = usage_after.cpu.saturating_sub(usage_before.cpu);
    println!(
        "{name:<28} {updates:>6} updates  {:>8.0} updates/s  {:>7.1} µs CPU/update  {:>5.2} API calls/update (+{get_updates} getUpdates)  peak RSS {:.1} MiB",
        updates as f64 / elapsed.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / updates as f64,
        (api_calls - get_updates) as f64 / updates as f64,
        usage_after.peak_rss_kib as f64 / 1024.0,
    );
}

#[tokio::main]
async fn main() {
    let updates: usize = std::env::var("BENCH_UPDATES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let tg = FakeTelegram::start().await;
    tg.set_privacy_mode(false);
    let bot = start_bot(&tg);

    let owner = tg.add_user("Owner");
    let chat = tg.add_supergroup("Bench", None);
    tg.set_member(chat, owner, MemberStatus::Creator);
    tg.send_text(owner, chat, "/save welcome Welcome to the <b>bench</b>");
    tg.next_message(chat).await;
    let users: Vec<i64> = (0..100)
        .map(|i| {
            let user = tg.add_user(&format!("User {i}"));
            tg.set_member(chat, user, MemberStatus::Member);
            user
        })
        .collect();
    let started = usage(bot.child.id());
    println!(
        "castellan benchmark: {} storage, idle peak RSS {:.1} MiB",
        if std::env::var("BENCH_DATABASE_URL").is_ok() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        started.peak_rss_kib as f64 / 1024.0
    );

    measure("group chatter (ignored)", &tg, &bot, updates, 0, || {
        for i in 0..updates {
            tg.send_text(users[i % users.len()], chat, "just talking");
        }
    })
    .await;
    measure("/id in PM", &tg, &bot, updates, updates, || {
        for i in 0..updates {
            let user = users[i % users.len()];
            tg.send_text(user, user, "/id");
        }
    })
    .await;
    measure("/get in the group", &tg, &bot, updates, updates, || {
        for i in 0..updates {
            tg.send_text(users[i % users.len()], chat, "/get welcome");
        }
    })
    .await;
    measure(
        "/connect in PM",
        &tg,
        &bot,
        users.len(),
        users.len(),
        || {
            for &user in &users {
                tg.send_text(user, user, &format!("/connect {chat}"));
            }
        },
    )
    .await;
    measure(
        "/get through a connection",
        &tg,
        &bot,
        updates,
        updates,
        || {
            for i in 0..updates {
                let user = users[i % users.len()];
                tg.send_text(user, user, "/get welcome");
            }
        },
    )
    .await;
    let violations = tg.spec_violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
