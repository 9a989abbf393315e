//! castellan's cost next to the least any teloxide bot can do:
//! `cargo bench --bench throughput`.
//!
//! Every workload runs with three bots, each time in fresh processes: the
//! *floor* (a minimal teloxide bot, which this executable becomes when
//! re-run with `CASTELLAN_BENCH_ROLE=floor`: one `sendMessage` per command,
//! nothing else, no database), and the release `castellan` binary on SQLite
//! and on PostgreSQL. Each run starts a fresh fake Bot API, builds the
//! workload's world in it, lets the bot answer the setup commands (notes,
//! rules, connections), and only then measures: the bot's CPU time (its
//! threads' run time from /proc), its peak memory, the Bot API calls it made
//! (from the fake's log) and, for castellan, the database queries it counted
//! (`castellan_database_queries_total` on its `/metrics`). A last run sends
//! castellan a long stream of plain group messages and reads its memory
//! along the way.
//!
//! Two more workloads test castellan's flow control alone (no floor), with
//! Telegram's per-chat limits kept (`SEND_LIMITS=on`) and enforced by the
//! fake: a *command raid* (300 members of one group send `/id` within two
//! seconds while other users write in PM and in another group: their reply
//! latency, the raided group's sends, what was dropped, memory) and a
//! *backlog* (10,000 groups each with a full outgoing queue: memory per
//! queued message).
//!
//! Environment:
//! * `BENCH_UPDATES`: updates per workload (default 10,000).
//! * `BENCH_RUNS`: runs of each bot and workload (default 3); every figure
//!   printed is the median of its runs. The raid and the backlog run once
//!   per backend in a small run (`BENCH_UPDATES` under 1,000) unless
//!   `BENCH_RUNS` is set.
//! * `BENCH_DATABASE_URL`: the PostgreSQL server to create throw-away
//!   databases on (default `postgres://postgres@127.0.0.1:5432/postgres`);
//!   the PostgreSQL half is skipped when it cannot be reached.
//! * `BENCH_SOAK`: plain updates in the memory-over-time run (default 500 ×
//!   `BENCH_UPDATES`, at most 1,000,000), RSS read after 1%, 10% and all of
//!   them; `off` skips it. The fake keeps every message: about 3 GB of the
//!   bench's own memory for 1,000,000. Not run when `BENCH_WORKLOADS` is
//!   set, unless `BENCH_SOAK` is too.
//! * `BENCH_WORKLOADS`: only these workloads, by key, comma-separated
//!   (`chatter`, `id`, `connection`, `connect`, `get`, `busy`, `mix`, and
//!   castellan's flow control: `raid`, `backlog`; default all), for
//!   profiling one of them. The raid takes about 17 s a run; the backlog
//!   sends 22 commands to each of 10,000 groups (500 when `BENCH_UPDATES`
//!   is under 1,000).
//! * `BENCH_INSTRUCTIONS`: `off` skips counting instructions under
//!   callgrind (done by default when valgrind is installed) for the
//!   workloads held to a CPU ratio to the floor and the realistic mix, on
//!   at most 2,000 updates each.
//! * `BENCH_CALLGRIND_DIR`: keep callgrind's counts there (one file per
//!   bot and workload), to read with `callgrind_annotate`.
//! * `BENCH_MARKDOWN`: a file to write the figures to as Markdown (at its
//!   end, between markers, when it has none); when it
//!   already holds the `<!-- bench:begin -->` / `<!-- bench:end -->`
//!   markers (as `BENCHMARKS.md` does), only what is between them changes;
//!   the flow-control figures go between `<!-- bench:flow:begin -->` and
//!   `<!-- bench:flow:end -->`. Each part is written only when its
//!   workloads ran.
//!
//! Linux only: everything is read from /proc.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fake_bot_api::{BOT_TOKEN, FakeTelegram, MemberStatus};
use sqlx::Connection;

const CASTELLAN: &str = env!("CARGO_BIN_EXE_castellan");
/// Set in the environment of the re-executed bench to make it the floor bot.
const ROLE_VARIABLE: &str = "CASTELLAN_BENCH_ROLE";
const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/postgres";
/// A run that makes no progress (no request but getUpdates, no update
/// confirmed) for this long is stuck: the bench stops rather than hang CI.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);
/// The long soak's batches: queued at once, then waited for, so that the
/// fake's queue and request log stay small.
const SOAK_BATCH: usize = 10_000;
const MARKDOWN_BEGIN: &str = "<!-- bench:begin -->";
const MARKDOWN_END: &str = "<!-- bench:end -->";
const FLOW_MARKDOWN_BEGIN: &str = "<!-- bench:flow:begin -->";
const FLOW_MARKDOWN_END: &str = "<!-- bench:flow:end -->";
/// Under this many `BENCH_UPDATES` the run is a small one (CI's): the
/// backlog is smaller and the flow-control workloads run once.
const SMALL_RUN: usize = 1000;

fn main() {
    if std::env::var(ROLE_VARIABLE).as_deref() == Ok("floor") {
        floor::run();
        return;
    }
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    runtime.block_on(bench(Settings::from_env()));
}

// ---------------------------------------------------------------- settings

struct Settings {
    updates: usize,
    /// Runs of each bot and workload; each figure is their median.
    runs: usize,
    /// Update counts after which the soak reads castellan's RSS; empty: no
    /// soak.
    soak_checkpoints: Vec<usize>,
    markdown: Option<PathBuf>,
    postgres_url: String,
    workloads: Vec<Workload>,
    /// castellan's flow-control workloads (no floor, no table).
    flows: Vec<Flow>,
    /// Runs of each flow-control workload per backend.
    flow_runs: usize,
    /// Count instructions under callgrind too.
    instructions: bool,
}

impl Settings {
    fn from_env() -> Settings {
        let updates = std::env::var("BENCH_UPDATES")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n > 0)
            .unwrap_or(10_000);
        let soak = match std::env::var("BENCH_SOAK").as_deref().map(str::trim) {
            Ok("off") => 0,
            Ok(count) => count.parse().unwrap_or_else(|_| {
                panic!("BENCH_SOAK must be a number of updates or off, got {count:?}")
            }),
            // Only the workloads asked for.
            Err(_) if std::env::var_os("BENCH_WORKLOADS").is_some() => 0,
            Err(_) => (500 * updates).min(1_000_000),
        };
        // Memory that grows with traffic shows between the checkpoints.
        let mut soak_checkpoints: Vec<usize> = [soak / 100, soak / 10, soak]
            .into_iter()
            .filter(|&n| n > 0)
            .collect();
        soak_checkpoints.dedup();
        let runs: Option<usize> = std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &usize| n > 0);
        let (workloads, flows) = match std::env::var("BENCH_WORKLOADS") {
            Ok(keys) if !keys.trim().is_empty() => {
                let (mut workloads, mut flows) = (Vec::new(), Vec::new());
                for key in keys.split(',').map(str::trim) {
                    if let Some(workload) = Workload::ALL.into_iter().find(|w| w.key() == key) {
                        workloads.push(workload);
                    } else if let Some(flow) = Flow::ALL.into_iter().find(|f| f.key() == key) {
                        flows.push(flow);
                    } else {
                        panic!("BENCH_WORKLOADS: no workload {key:?}");
                    }
                }
                (workloads, flows)
            }
            _ => (Workload::ALL.to_vec(), Flow::ALL.to_vec()),
        };
        Settings {
            updates,
            runs: runs.unwrap_or(3),
            // The raid takes its 17 s whatever the size: a small run (CI's)
            // runs it, and the backlog, once.
            flow_runs: runs.unwrap_or(if updates < SMALL_RUN { 1 } else { 3 }),
            soak_checkpoints,
            markdown: std::env::var_os("BENCH_MARKDOWN").map(PathBuf::from),
            postgres_url: std::env::var("BENCH_DATABASE_URL")
                .ok()
                .filter(|url| !url.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_POSTGRES.to_owned()),
            workloads,
            flows,
            instructions: match std::env::var("BENCH_INSTRUCTIONS").as_deref() {
                Ok("off") => false,
                _ => Command::new("valgrind")
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|status| status.success()),
            },
        }
    }

    fn runs_phrase(&self) -> String {
        runs_phrase(self.runs)
    }
}

fn runs_phrase(runs: usize) -> String {
    match runs {
        1 => "one run each".to_owned(),
        n => format!("each figure the median of {n} runs"),
    }
}

// ------------------------------------------------------------------- bench

async fn bench(settings: Settings) {
    let machine = Machine::read();
    println!("{}", machine.describe());
    let postgres = PostgresServer::reach(&settings.postgres_url).await;
    if postgres.is_none() {
        println!(
            "PostgreSQL is unreachable at {}: the PostgreSQL half is skipped",
            redact(&settings.postgres_url)
        );
    }
    println!(
        "{} updates per workload; {}, each run in fresh processes\n",
        settings.updates,
        settings.runs_phrase()
    );

    let mut bots = vec![Bot::Floor, Bot::Castellan(Backend::Sqlite)];
    if postgres.is_some() {
        bots.push(Bot::Castellan(Backend::Postgres));
    }
    let mut rows = Vec::new();
    for &workload in &settings.workloads {
        let mut runs: Vec<Vec<Figures>> = bots.iter().map(|_| Vec::new()).collect();
        for round in 1..=settings.runs {
            // The bots take turns, so that whatever else the machine does
            // weighs on all of them alike.
            for (bot, figures) in bots.iter().zip(&mut runs) {
                let label = format!("{} run {round}/{}", bot.name(), settings.runs);
                figures
                    .push(run(*bot, workload, settings.updates, postgres.as_ref(), &label).await);
            }
        }
        let mut medians = runs.into_iter().map(Figures::median);
        rows.push(Row {
            workload,
            floor: medians.next().expect("floor figures"),
            sqlite: medians.next().expect("SQLite figures"),
            postgres: medians.next(),
        });
    }
    let mut tables = Vec::new();
    if !rows.is_empty() {
        println!();
        for backend in [Backend::Sqlite, Backend::Postgres] {
            if backend == Backend::Postgres && postgres.is_none() {
                continue;
            }
            let table = Table::new(backend, &rows);
            println!("{}", table.text());
            tables.push(table);
        }
        println!("{LEGEND}\n");
        println!("{}", calls_by_method_text(&rows));
    }
    let counts = if settings.instructions {
        count_instructions(&settings).await
    } else {
        Vec::new()
    };
    if !counts.is_empty() {
        println!("{}", counts_text(&counts));
    }
    let flows = flow_control(&settings, postgres.as_ref()).await;
    let soak = if settings.soak_checkpoints.is_empty() {
        None
    } else {
        let soak = soak(&settings.soak_checkpoints).await;
        println!("{}", soak.text());
        Some(soak)
    };
    if let Some(path) = &settings.markdown {
        if !rows.is_empty() {
            let fragment = markdown(&machine, &settings, &tables, &rows, &counts, soak.as_ref());
            write_markdown(path, (MARKDOWN_BEGIN, MARKDOWN_END), &fragment);
        }
        if !flows.is_empty() {
            let fragment = flow_markdown(&machine, &settings, &flows);
            write_markdown(path, (FLOW_MARKDOWN_BEGIN, FLOW_MARKDOWN_END), &fragment);
        }
        println!("figures written to {}", path.display());
    }
}

/// One workload on one bot, in fresh processes: fake, world, bot, setup,
/// measured traffic.
async fn run(
    bot: Bot,
    workload: Workload,
    updates: usize,
    postgres: Option<&PostgresServer>,
    label: &str,
) -> Figures {
    let figures = with_database(bot, postgres, async |database_url| {
        let ready = Ready::set_up(bot, workload, updates, database_url, Meter::Proc).await;
        let figures = measure(&ready.tg, &ready.process, &ready.traffic, workload.name()).await;
        ready.finish(bot);
        figures
    })
    .await;
    println!(
        "  {:<26} {label:<30} {:>7.0} updates/s  {:>8.1} µs CPU/update",
        workload.name(),
        figures.updates_per_second(),
        figures.cpu_per_update_us(),
    );
    figures
}

/// Runs `work` with the bot's database: for castellan on PostgreSQL a
/// fresh database, dropped afterwards; None for the others (castellan on
/// SQLite makes a file of its own).
async fn with_database<T>(
    bot: Bot,
    postgres: Option<&PostgresServer>,
    work: impl AsyncFnOnce(Option<&str>) -> T,
) -> T {
    let server = match bot {
        Bot::Castellan(Backend::Postgres) => postgres,
        _ => None,
    };
    let database = match server {
        Some(server) => Some(server.create().await),
        None => None,
    };
    let out = work(database.as_ref().map(|d| d.url.as_str())).await;
    if let (Some(server), Some(database)) = (server, database) {
        server.drop_database(database).await;
    }
    out
}

/// A bot started on a fresh fake with a workload's world, its setup
/// answered: ready for the measured traffic.
struct Ready {
    tg: FakeTelegram,
    process: BotProcess,
    traffic: Vec<Msg>,
}

impl Ready {
    async fn set_up(
        bot: Bot,
        workload: Workload,
        updates: usize,
        database_url: Option<&str>,
        meter: Meter,
    ) -> Ready {
        let tg = FakeTelegram::start().await;
        let plan = workload.plan(&tg, updates);
        let launch = Launch {
            meter,
            ..Launch::UNLIMITED
        };
        Ready::start(bot, tg, plan, database_url, launch).await
    }

    /// Starts the bot on `tg`, whose world is built, and has it answer the
    /// plan's setup.
    async fn start(
        bot: Bot,
        tg: FakeTelegram,
        plan: Plan,
        database_url: Option<&str>,
        launch: Launch,
    ) -> Ready {
        // The bot sees every group message, as castellan's `#name` shortcuts
        // need: ignoring chatter is part of the cost being measured.
        tg.set_privacy_mode(false);
        let process = BotProcess::start(bot, &tg, database_url, launch);
        // Start-up and setup are not measured. A first command, answered,
        // tells that the bot is up and polling even when the workload needs
        // no setup.
        let warm_up = tg.add_user("Warm-up");
        let mut setup = vec![Msg::pm(warm_up, "/id")];
        setup.extend(plan.setup);
        let mut progress = Progress::new(&tg, process.pid());
        queue(&tg, &setup);
        progress.wait(&tg, answers_expected(&setup), "setup").await;
        Ready {
            tg,
            process,
            traffic: plan.traffic,
        }
    }

    /// Stops the bot; every request it made kept to the Bot API spec.
    fn finish(self, bot: Bot) {
        drop(self.process);
        let violations = self.tg.spec_violations();
        assert!(
            violations.is_empty(),
            "{} broke the Bot API spec: {violations:#?}",
            bot.name()
        );
    }
}

// ------------------------------------------------------------ instructions

/// The workloads held to a CPU ratio to the floor, and the realistic mix,
/// counted again in instructions: CPU time on a shared two-core machine
/// moves by ±15% run to run, more than the margins of those targets.
const COUNTED: [Workload; 4] = [
    Workload::Chatter,
    Workload::GuardedChatter,
    Workload::Id,
    Workload::Mix,
];
/// Updates per counted run at most: callgrind runs a bot some 50 times
/// slower, and the count per update is steady well before this.
const COUNTED_UPDATES: usize = 2000;

/// Instructions per update of one workload, the floor's and castellan's.
struct Count {
    workload: Workload,
    updates: usize,
    floor: u64,
    castellan: u64,
}

impl Count {
    fn per_update(&self, instructions: u64) -> f64 {
        instructions as f64 / self.updates as f64
    }

    fn ratio(&self) -> f64 {
        self.castellan as f64 / self.floor as f64
    }
}

/// castellan on SQLite and the floor, each under callgrind in a fresh
/// process, once.
async fn count_instructions(settings: &Settings) -> Vec<Count> {
    let mut counts = Vec::new();
    for &workload in settings.workloads.iter().filter(|w| COUNTED.contains(w)) {
        let updates = settings.updates.min(COUNTED_UPDATES);
        let count = |bot| counted_run(bot, workload, updates);
        let floor = count(Bot::Floor).await;
        let castellan = count(Bot::Castellan(Backend::Sqlite)).await;
        counts.push(Count {
            workload,
            updates,
            floor,
            castellan,
        });
    }
    counts
}

async fn counted_run(bot: Bot, workload: Workload, updates: usize) -> u64 {
    let ready = Ready::set_up(bot, workload, updates, None, Meter::Callgrind).await;
    let process = &ready.process;
    CpuMeter::new(process.pid()).settle().await;
    process.zero_instructions();
    let mut progress = Progress::new(&ready.tg, process.pid());
    queue(&ready.tg, &ready.traffic);
    let answers = answers_expected(&ready.traffic);
    progress.wait(&ready.tg, answers, workload.name()).await;
    progress.cpu.settle().await;
    let dump_name = format!("{}-{}", bot.key(), workload.key());
    let instructions = process.instructions(&dump_name).await;
    println!(
        "  {:<26} {:<30} {:>10.0} instructions/update",
        workload.name(),
        format!("{} under callgrind", bot.name()),
        instructions as f64 / updates as f64
    );
    ready.finish(bot);
    instructions
}

fn counts_text(counts: &[Count]) -> String {
    let mut out = String::from("Instructions per update under callgrind (castellan on SQLite):\n");
    for count in counts {
        let _ = writeln!(
            out,
            "  {:<26} floor {:>9.0}  castellan {:>9.0}  ×floor {:.2}",
            count.workload.name(),
            count.per_update(count.floor),
            count.per_update(count.castellan),
            count.ratio()
        );
    }
    out
}

fn counts_markdown(counts: &[Count]) -> String {
    let updates = counts.first().map_or(0, |count| count.updates);
    let mut out = format!(
        "### Instructions per update, counted by callgrind\n\n\
         The workloads held to a CPU ratio to the floor, and the realistic \
         mix, run once more by each bot under `valgrind --tool=callgrind` \
         (castellan on SQLite) with {} updates, counting the instructions of \
         the measured part alone (within a few percent run to run).\n\n\
         | workload | floor instructions/update | castellan instructions/update | ×floor |\n\
         |---|---:|---:|---:|\n",
        thousands(updates)
    );
    for count in counts {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.0} | {:.2} |",
            count.workload.name(),
            count.per_update(count.floor),
            count.per_update(count.castellan),
            count.ratio()
        );
    }
    out
}

/// Queues the traffic, waits until it is answered and confirmed, and reads
/// what it cost the bot.
async fn measure(tg: &FakeTelegram, process: &BotProcess, traffic: &[Msg], label: &str) -> Figures {
    // The bot is idle when measuring starts: what setup left to do is done.
    CpuMeter::new(process.pid()).settle().await;
    // Scraped before the CPU reading starts and after it ends: the scrape's
    // own cost stays out of the figures.
    let queries_before = process.database_queries().await;
    let mut progress = Progress::new(tg, process.pid());
    let cpu_before = progress.cpu.total();
    let started = Instant::now();
    queue(tg, traffic);
    progress.wait(tg, answers_expected(traffic), label).await;
    let elapsed = started.elapsed();
    // Work still under way for the last updates (an update is confirmed
    // when the bot fetches the next batch, not when it is handled).
    progress.cpu.settle().await;
    let cpu = progress.cpu.total().saturating_sub(cpu_before);
    progress.requests.read(tg);
    let queries_after = process.database_queries().await;
    if progress.requests.failed_sends > 0 {
        println!(
            "  warning: {label}: {} sendMessage calls failed",
            progress.requests.failed_sends
        );
    }
    Figures {
        updates: traffic.len(),
        elapsed,
        cpu,
        api_calls: progress.requests.calls(),
        get_updates: progress.requests.count("getUpdates"),
        database_queries: queries_before
            .zip(queries_after)
            .map(|(before, after)| after.saturating_sub(before)),
        peak_rss_kib: process.status_kib("VmHWM"),
    }
}

/// What one measured run cost the bot.
struct Figures {
    updates: usize,
    elapsed: Duration,
    cpu: Duration,
    /// Bot API calls but getUpdates, by method.
    api_calls: BTreeMap<String, usize>,
    get_updates: usize,
    /// None: the bot does not count its queries (the floor, or a castellan
    /// without the metric).
    database_queries: Option<u64>,
    peak_rss_kib: u64,
}

impl Figures {
    /// Each figure's median over several runs of one bot and workload.
    fn median(runs: Vec<Figures>) -> Figures {
        fn middle<T: Ord + Copy>(mut values: Vec<T>) -> T {
            values.sort_unstable();
            values[(values.len() - 1) / 2]
        }
        let of = |figure: fn(&Figures) -> u64| middle(runs.iter().map(figure).collect());
        Figures {
            updates: runs[0].updates,
            elapsed: middle(runs.iter().map(|f| f.elapsed).collect()),
            cpu: middle(runs.iter().map(|f| f.cpu).collect()),
            api_calls: runs
                .iter()
                .flat_map(|f| f.api_calls.keys())
                .map(|method| {
                    let count = |f: &Figures| f.api_calls.get(method).copied().unwrap_or(0);
                    (method.clone(), middle(runs.iter().map(count).collect()))
                })
                .collect(),
            get_updates: of(|f| f.get_updates as u64) as usize,
            database_queries: runs
                .iter()
                .map(|f| f.database_queries)
                .collect::<Option<Vec<u64>>>()
                .map(middle),
            peak_rss_kib: of(|f| f.peak_rss_kib),
        }
    }

    fn updates_per_second(&self) -> f64 {
        self.updates as f64 / self.elapsed.as_secs_f64()
    }

    fn cpu_per_update_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.updates as f64
    }

    fn api_calls_per_update(&self) -> f64 {
        self.api_calls.values().sum::<usize>() as f64 / self.updates as f64
    }

    /// "getChatMember 2.00, sendMessage 1.00"
    fn api_calls_by_method(&self) -> String {
        let calls: Vec<String> = self
            .api_calls
            .iter()
            .map(|(method, n)| format!("{method} {:.2}", *n as f64 / self.updates as f64))
            .collect();
        if calls.is_empty() {
            "none".to_owned()
        } else {
            calls.join(", ")
        }
    }

    fn queries_per_update(&self) -> Option<f64> {
        self.database_queries
            .map(|q| q as f64 / self.updates as f64)
    }

    fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib as f64 / 1024.0
    }
}

// -------------------------------------------------------------------- bots

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bot {
    Floor,
    Castellan(Backend),
}

impl Bot {
    /// A name for files.
    fn key(self) -> &'static str {
        match self {
            Bot::Floor => "floor",
            Bot::Castellan(Backend::Sqlite) => "castellan-sqlite",
            Bot::Castellan(Backend::Postgres) => "castellan-postgres",
        }
    }

    fn name(self) -> String {
        match self {
            Bot::Floor => "floor".to_owned(),
            Bot::Castellan(backend) => format!("castellan/{}", backend.name()),
        }
    }
}

/// How a bot's cost is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meter {
    /// From /proc: CPU time and memory, at full speed.
    Proc,
    /// Under callgrind, which counts the instructions run: the same run
    /// after run, where CPU time on a shared machine is not.
    Callgrind,
}

/// How a bot process is started.
#[derive(Debug, Clone, Copy)]
struct Launch {
    meter: Meter,
    /// castellan keeps Telegram's per-chat send limits (`SEND_LIMITS=on`);
    /// off, it sends as fast as it can (the fake has no limits then).
    send_limits: bool,
    /// castellan's `RUST_LOG`.
    log: &'static str,
}

impl Launch {
    /// castellan's own cost, without Telegram's pacing.
    const UNLIMITED: Launch = Launch {
        meter: Meter::Proc,
        send_limits: false,
        log: "warn",
    };
    /// Telegram's per-chat limits kept, as in production.
    const LIMITED: Launch = Launch {
        send_limits: true,
        ..Launch::UNLIMITED
    };
}

/// A bot running as its own process (so that /proc tells its cost apart
/// from the fake's), killed when dropped.
struct BotProcess {
    child: Child,
    /// Under callgrind: where it writes its counts (each dump gets a `.N`
    /// suffix).
    callgrind_out: Option<PathBuf>,
    /// castellan's HTTP server, for `/metrics`.
    http: Option<SocketAddr>,
    /// Holds the SQLite file; removed after the process is gone.
    _dir: tempfile::TempDir,
}

impl BotProcess {
    fn start(
        bot: Bot,
        tg: &FakeTelegram,
        postgres_url: Option<&str>,
        launch: Launch,
    ) -> BotProcess {
        let dir = tempfile::tempdir().expect("temporary directory");
        let program = match bot {
            Bot::Floor => std::env::current_exe().expect("the bench's own path"),
            Bot::Castellan(_) => PathBuf::from(CASTELLAN),
        };
        let callgrind_out =
            (launch.meter == Meter::Callgrind).then(|| dir.path().join("callgrind.out"));
        let mut command = match &callgrind_out {
            Some(out) => {
                let mut command = Command::new("valgrind");
                command
                    .args(["--tool=callgrind", "--quiet"])
                    .arg(format!("--callgrind-out-file={}", out.display()))
                    .arg(&program);
                command
            }
            None => Command::new(&program),
        };
        if bot == Bot::Floor {
            command.env(ROLE_VARIABLE, "floor");
        }
        command
            .current_dir(dir.path())
            .env("BOT_TOKEN", BOT_TOKEN)
            .env("TELEGRAM_API_URL", tg.api_url())
            .env("RUST_LOG", launch.log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let mut http = None;
        if let Bot::Castellan(backend) = bot {
            let database_url = match backend {
                Backend::Sqlite => {
                    format!("sqlite://{}", dir.path().join("castellan.db").display())
                }
                Backend::Postgres => postgres_url
                    .expect("a PostgreSQL database for castellan/PostgreSQL")
                    .to_owned(),
            };
            let addr = free_local_address();
            http = Some(addr);
            command
                .env("DATABASE_URL", database_url)
                .env("HTTP_ADDR", addr.to_string())
                // Unless the workload is about Telegram's pacing, the fake
                // has no flood limits: measure castellan's own cost. And
                // scripted users type faster than people.
                .env("SEND_LIMITS", if launch.send_limits { "on" } else { "off" })
                .env("USER_PACE", "off")
                .env_remove("WEBHOOK_URL")
                .env_remove("METRICS_TOKEN");
        }
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bot.name()));
        BotProcess {
            child,
            callgrind_out,
            http,
            _dir: dir,
        }
    }

    /// Under callgrind: forgets the instructions counted so far.
    fn zero_instructions(&self) {
        self.callgrind_control("-z");
    }

    /// Under callgrind: the instructions run since the last zeroing. The
    /// dump is copied to `BENCH_CALLGRIND_DIR` as `<name>.callgrind` when
    /// that is set, for `callgrind_annotate`.
    async fn instructions(&self, name: &str) -> u64 {
        let out = self.callgrind_out.as_ref().expect("a bot under callgrind");
        self.callgrind_control("-d");
        // The dump is written by the bot's process, after the command
        // returns: wait for its last line.
        let deadline = Instant::now() + STALL_TIMEOUT;
        loop {
            if let Some((path, dump)) = newest_dump(out)
                && let Some(summary) = dump_summary(&dump)
            {
                if let Some(keep) = std::env::var_os("BENCH_CALLGRIND_DIR") {
                    let keep = PathBuf::from(keep);
                    std::fs::create_dir_all(&keep).expect("BENCH_CALLGRIND_DIR can be made");
                    std::fs::copy(path, keep.join(format!("{name}.callgrind")))
                        .expect("the dump can be kept");
                }
                return summary;
            }
            assert!(Instant::now() < deadline, "callgrind wrote no dump");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn callgrind_control(&self, command: &str) {
        let status = Command::new("callgrind_control")
            .arg(command)
            .arg(self.pid().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("callgrind_control runs");
        assert!(status.success(), "callgrind_control {command} failed");
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A `VmHWM`/`VmRSS`-style line of /proc/<pid>/status, in KiB.
    fn status_kib(&self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The sum of `castellan_database_queries_total` over all its series;
    /// None when the process has no such metric.
    async fn database_queries(&self) -> Option<u64> {
        sum_counter(&self.metrics().await?, "castellan_database_queries_total")
    }

    /// castellan's `/metrics`, in Prometheus' text format; None for the
    /// floor, or when it does not answer.
    async fn metrics(&self) -> Option<String> {
        let addr = self.http?;
        let client = reqwest::Client::builder().no_proxy().build().ok()?;
        client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    }
}

impl Drop for BotProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// callgrind's latest numbered dump next to `out`, and its text.
fn newest_dump(out: &std::path::Path) -> Option<(PathBuf, String)> {
    let base = out.file_name()?.to_str()?;
    let newest = std::fs::read_dir(out.parent()?)
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name();
            let n: u32 = name
                .to_str()?
                .strip_prefix(base)?
                .strip_prefix('.')?
                .parse()
                .ok()?;
            Some((n, entry.path()))
        })
        .max()?;
    let text = std::fs::read_to_string(&newest.1).ok()?;
    Some((newest.1, text))
}

/// A complete dump's `summary:` line: the instructions it counts.
fn dump_summary(dump: &str) -> Option<u64> {
    // `totals:` is the last line callgrind writes.
    dump.lines()
        .any(|line| line.starts_with("totals:"))
        .then_some(())?;
    dump.lines()
        .find_map(|line| line.strip_prefix("summary:"))
        .and_then(|n| n.trim().parse().ok())
}

/// Sums the samples of a counter in Prometheus' text format. A counter with
/// no series yet shows only its `# HELP`/`# TYPE` lines: that is 0, while no
/// mention at all is None.
fn sum_counter(text: &str, name: &str) -> Option<u64> {
    sum_counter_where(text, name, "")
}

/// [`sum_counter`] over the series whose labels contain `label` (such as
/// `reason="stale"`; "" for all).
fn sum_counter_where(text: &str, name: &str, label: &str) -> Option<u64> {
    let mut known = false;
    let mut sum = 0.0;
    for line in text.lines() {
        if line.starts_with('#') {
            known |= line.split_whitespace().nth(2) == Some(name);
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let labels = rest.strip_prefix('{').and_then(|r| r.split_once('}'));
        if labels.is_some_and(|(labels, _)| labels.contains(label))
            || (rest.starts_with(' ') && label.is_empty())
        {
            known = true;
            sum += rest
                .rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0);
        }
    }
    known.then_some(sum as u64)
}

/// A port nobody listens on now, for castellan's HTTP server.
fn free_local_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free local port");
    listener.local_addr().expect("its address")
}

/// The floor: the least a teloxide bot does. Default dispatcher, default
/// long polling, every command answered with one message, other text
/// ignored; no database, no logging.
mod floor {
    use teloxide::prelude::*;

    pub fn run() {
        let token = std::env::var("BOT_TOKEN").expect("BOT_TOKEN");
        let api_url = std::env::var("TELEGRAM_API_URL").expect("TELEGRAM_API_URL");
        let api_url = reqwest::Url::parse(&api_url).expect("TELEGRAM_API_URL is a URL");
        // Like `#[tokio::main]`: one worker per core, as castellan has.
        let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
        runtime.block_on(async {
            let bot = Bot::new(token).set_api_url(api_url);
            Dispatcher::builder(bot, Update::filter_message().endpoint(answer))
                .build()
                .dispatch()
                .await;
        });
    }

    async fn answer(bot: Bot, msg: Message) -> ResponseResult<()> {
        if msg.text().is_some_and(|text| text.starts_with('/')) {
            bot.send_message(msg.chat.id, "ok").await?;
        }
        Ok(())
    }
}

// -------------------------------------------------------------- PostgreSQL

/// The server on which each castellan run gets a database of its own.
struct PostgresServer {
    /// Where CREATE/DROP DATABASE are sent from.
    admin_url: String,
}

struct Database {
    name: String,
    url: String,
}

impl PostgresServer {
    async fn reach(url: &str) -> Option<PostgresServer> {
        let attempt =
            tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(url)).await;
        match attempt {
            Ok(Ok(connection)) => {
                let _ = connection.close().await;
                Some(PostgresServer {
                    admin_url: url.to_owned(),
                })
            }
            _ => None,
        }
    }

    async fn create(&self) -> Database {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("castellan_bench_{}_{n}", std::process::id());
        self.execute(&format!("CREATE DATABASE {name}")).await;
        // Same server, user and options; another database.
        let mut url = url::Url::parse(&self.admin_url).expect("BENCH_DATABASE_URL is a URL");
        url.set_path(&format!("/{name}"));
        Database {
            name,
            url: url.to_string(),
        }
    }

    async fn drop_database(&self, database: Database) {
        self.execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            database.name
        ))
        .await;
    }

    async fn execute(&self, sql: &str) {
        let mut connection = sqlx::PgConnection::connect(&self.admin_url)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL: {e}"));
        // CREATE/DROP DATABASE cannot be prepared: the simple protocol.
        sqlx::raw_sql(sql)
            .execute(&mut connection)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL: {sql}: {e}"));
        let _ = connection.close().await;
    }
}

/// The URL without its password, to print.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

// --------------------------------------------------------------- workloads

/// A message a user sends; `chat == from` is the user's private chat with
/// the bot.
struct Msg {
    from: i64,
    chat: i64,
    text: String,
}

impl Msg {
    fn new(from: i64, chat: i64, text: impl Into<String>) -> Msg {
        Msg {
            from,
            chat,
            text: text.into(),
        }
    }

    fn pm(from: i64, text: impl Into<String>) -> Msg {
        Msg::new(from, from, text)
    }
}

fn queue(tg: &FakeTelegram, messages: &[Msg]) {
    for msg in messages {
        tg.send_text(msg.from, msg.chat, &msg.text);
    }
}

/// Both bots answer every command with exactly one message (castellan does
/// for every command the workloads use) and nothing else.
fn answers_expected(messages: &[Msg]) -> usize {
    messages.iter().filter(|m| m.text.starts_with('/')).count()
}

/// What a workload sends: first the setup, answered before measuring, then
/// the measured traffic.
#[derive(Default)]
struct Plan {
    setup: Vec<Msg>,
    traffic: Vec<Msg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Workload {
    Chatter,
    Id,
    Connection,
    Connect,
    GetConnected,
    /// `/get` through a connection to a group where the bot is an
    /// administrator: membership is known from Telegram's reports.
    GetConnectedAdmin,
    /// Chatter in a group with 200 filters, 200 blacklist entries and five
    /// locks, none of which it trips.
    GuardedChatter,
    BusyGroup,
    Mix,
}

impl Workload {
    const ALL: [Workload; 9] = [
        Workload::Chatter,
        Workload::GuardedChatter,
        Workload::Id,
        Workload::Connection,
        Workload::Connect,
        Workload::GetConnected,
        Workload::GetConnectedAdmin,
        Workload::BusyGroup,
        Workload::Mix,
    ];

    /// What `BENCH_WORKLOADS` calls it.
    fn key(self) -> &'static str {
        match self {
            Workload::Chatter => "chatter",
            Workload::GuardedChatter => "guarded",
            Workload::Id => "id",
            Workload::Connection => "connection",
            Workload::Connect => "connect",
            Workload::GetConnected => "get",
            Workload::GetConnectedAdmin => "get-admin",
            Workload::BusyGroup => "busy",
            Workload::Mix => "mix",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Workload::Chatter => "group chatter (ignored)",
            Workload::GuardedChatter => "chatter, guarded group",
            Workload::Id => "/id in PM",
            Workload::Connection => "/connection (connected)",
            Workload::Connect => "/connect <id> in PM",
            Workload::GetConnected => "/get through a connection",
            Workload::GetConnectedAdmin => "/get through a connection, bot admin",
            Workload::BusyGroup => "one busy group",
            Workload::Mix => "realistic mix",
        }
    }

    /// Builds the workload's world in the fake and says what to send.
    fn plan(self, tg: &FakeTelegram, n: usize) -> Plan {
        let mut rng = Lcg::new(0x5eed);
        match self {
            Workload::Chatter => {
                let group = Group::new(tg, 0, 100);
                Plan {
                    setup: group.introduce(),
                    traffic: (0..n)
                        .map(|i| Msg::new(group.member(i), group.id, chatter(&mut rng)))
                        .collect(),
                }
            }
            Workload::GuardedChatter => {
                let group = Group::new(tg, 0, 100);
                let mut setup = group.introduce();
                setup.extend(group.guard_heavily());
                Plan {
                    setup,
                    traffic: (0..n)
                        .map(|i| Msg::new(group.member(i), group.id, chatter(&mut rng)))
                        .collect(),
                }
            }
            Workload::Id => {
                let users: Vec<i64> = (0..100)
                    .map(|i| tg.add_user(&format!("User {i}")))
                    .collect();
                Plan {
                    setup: vec![],
                    traffic: (0..n).map(|i| Msg::pm(users[i % 100], "/id")).collect(),
                }
            }
            Workload::Connection => {
                let group = Group::new(tg, 0, 100);
                Plan {
                    setup: group.connect_members(),
                    traffic: (0..n)
                        .map(|i| Msg::pm(group.member(i), "/connection"))
                        .collect(),
                }
            }
            Workload::Connect => {
                // Connected in setup already: every measured /connect is a
                // re-connect, the case that repeats in real life.
                let group = Group::new(tg, 0, 100);
                Plan {
                    setup: group.connect_members(),
                    traffic: (0..n)
                        .map(|i| Msg::pm(group.member(i), format!("/connect {}", group.id)))
                        .collect(),
                }
            }
            Workload::GetConnected | Workload::GetConnectedAdmin => {
                let group = Group::new(tg, 0, 100);
                if self == Workload::GetConnectedAdmin {
                    tg.set_bot_status(group.id, MemberStatus::Administrator);
                }
                let mut setup = vec![group.save_note()];
                setup.extend(group.connect_members());
                Plan {
                    setup,
                    traffic: (0..n)
                        .map(|i| Msg::pm(group.member(i), "/get welcome"))
                        .collect(),
                }
            }
            Workload::BusyGroup => {
                let group = Group::new(tg, 0, 100);
                let mut setup = group.introduce();
                setup.push(group.save_note());
                Plan {
                    setup,
                    traffic: (0..n)
                        .map(|i| {
                            let text = if rng.below(100) < 5 {
                                "/get welcome".to_owned()
                            } else {
                                chatter(&mut rng).to_owned()
                            };
                            Msg::new(group.member(i), group.id, text)
                        })
                        .collect(),
                }
            }
            Workload::Mix => mix(tg, n, &mut rng),
        }
    }
}

/// A supergroup with a creator and members.
struct Group {
    id: i64,
    creator: i64,
    members: Vec<i64>,
}

impl Group {
    fn new(tg: &FakeTelegram, number: usize, members: usize) -> Group {
        let id = tg.add_supergroup(&format!("Bench {number}"), None);
        let creator = tg.add_user(&format!("Owner {number}"));
        tg.set_member(id, creator, MemberStatus::Creator);
        let members = (0..members)
            .map(|i| {
                let user = tg.add_user(&format!("Member {i} of {number}"));
                tg.set_member(id, user, MemberStatus::Member);
                user
            })
            .collect();
        Group {
            id,
            creator,
            members,
        }
    }

    /// The members in turn.
    fn member(&self, i: usize) -> i64 {
        self.members[i % self.members.len()]
    }

    fn save_note(&self) -> Msg {
        Msg::new(
            self.creator,
            self.id,
            "/save welcome Welcome to the <b>bench</b>",
        )
    }

    /// Every member says hello, then the creator asks `/id`: once that is
    /// answered the group's members are known to castellan's user directory,
    /// as in a group that has been talking for a while (a first message
    /// costs one write; the measured ones are from known users).
    fn introduce(&self) -> Vec<Msg> {
        let mut messages: Vec<Msg> = self
            .members
            .iter()
            .map(|&user| Msg::new(user, self.id, "hello"))
            .collect();
        messages.push(Msg::new(self.creator, self.id, "/id"));
        messages
    }

    /// 200 filters, 200 blacklist entries and five locks, set by the
    /// creator; no chatter line holds a keyword or an entry.
    fn guard_heavily(&self) -> Vec<Msg> {
        let mut messages = Vec::new();
        for batch in 0..4 {
            let keywords: Vec<String> = (0..50).map(|i| format!("kw{batch}x{i}")).collect();
            messages.push(Msg::new(
                self.creator,
                self.id,
                format!("/filter ({}) Filtered", keywords.join(", ")),
            ));
        }
        let entries: Vec<String> = (0..200).map(|i| format!("bl{i}y")).collect();
        messages.push(Msg::new(
            self.creator,
            self.id,
            format!("/addblacklist\n{}", entries.join("\n")),
        ));
        messages.push(Msg::new(
            self.creator,
            self.id,
            "/lock sticker gif forward inline poll",
        ));
        messages
    }

    fn connect_members(&self) -> Vec<Msg> {
        self.members
            .iter()
            .map(|&user| Msg::pm(user, format!("/connect {}", self.id)))
            .collect()
    }
}

/// 1,000 users in 50 supergroups (each in a home group, a third of them in
/// a second one), every group with a note and rules, one user in five
/// connected to their home group. Of the traffic, 95% is plain group
/// messages and 5% commands, in groups and in PM.
fn mix(tg: &FakeTelegram, n: usize, rng: &mut Lcg) -> Plan {
    const USERS: usize = 1000;
    const GROUPS: usize = 50;
    let groups: Vec<Group> = (0..GROUPS).map(|g| Group::new(tg, g, 0)).collect();
    let users: Vec<i64> = (0..USERS)
        .map(|i| tg.add_user(&format!("User {i}")))
        .collect();
    let mut memberships: Vec<Vec<i64>> = Vec::with_capacity(USERS);
    for (i, &user) in users.iter().enumerate() {
        let mut chats = vec![groups[i % GROUPS].id];
        if rng.below(3) == 0 {
            chats.push(groups[rng.below(GROUPS)].id);
        }
        chats.dedup();
        for &chat in &chats {
            tg.set_member(chat, user, MemberStatus::Member);
        }
        memberships.push(chats);
    }
    let connected: Vec<usize> = (0..USERS).step_by(5).collect();

    let mut setup = Vec::new();
    for group in &groups {
        setup.push(group.save_note());
        setup.push(Msg::new(
            group.creator,
            group.id,
            "/setrules Be kind. No spam. Stay on topic.",
        ));
    }
    for &i in &connected {
        setup.push(Msg::pm(users[i], format!("/connect {}", memberships[i][0])));
    }
    // Everyone has spoken in their groups before: the directory knows them.
    for (i, chats) in memberships.iter().enumerate() {
        for &chat in chats {
            setup.push(Msg::new(users[i], chat, "hello"));
        }
    }
    for group in &groups {
        setup.push(Msg::new(group.creator, group.id, "/id"));
    }

    let traffic = (0..n)
        .map(|_| {
            let i = rng.below(USERS);
            let chats = &memberships[i];
            let chat = chats[rng.below(chats.len())];
            if rng.below(100) >= 5 {
                return Msg::new(users[i], chat, chatter(rng));
            }
            let someone_connected = users[connected[rng.below(connected.len())]];
            match rng.below(5) {
                0 => Msg::new(users[i], chat, "/id"),
                1 => Msg::new(users[i], chat, "/get welcome"),
                2 => Msg::new(users[i], chat, "/rules"),
                3 => Msg::pm(someone_connected, "/connection"),
                _ => Msg::pm(someone_connected, "/get welcome"),
            }
        })
        .collect();
    Plan { setup, traffic }
}

/// Plain group talk, of varied length, none of it for the bot.
fn chatter(rng: &mut Lcg) -> &'static str {
    const LINES: [&str; 6] = [
        "ok",
        "good morning everyone",
        "did anyone see the match yesterday?",
        "see you at five then",
        "this is a slightly longer message about nothing in particular, as people often write in busy groups",
        "haha",
    ];
    LINES[rng.below(LINES.len())]
}

/// A small deterministic generator: the same traffic on every run and for
/// every bot.
struct Lcg(u64);

impl Lcg {
    fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

// ---------------------------------------------------------------- waiting

/// Follows a run from a starting point: the bot's requests and CPU time.
struct Progress {
    requests: Requests,
    cpu: CpuMeter,
}

impl Progress {
    fn new(tg: &FakeTelegram, pid: u32) -> Progress {
        Progress {
            requests: Requests::since(tg.request_count()),
            cpu: CpuMeter::new(pid),
        }
    }

    /// Until the bot sent `answers` messages and confirmed every update.
    /// Panics when nothing moves for [`STALL_TIMEOUT`].
    async fn wait(&mut self, tg: &FakeTelegram, answers: usize, label: &str) {
        let mut last_change = Instant::now();
        let mut last_state = (usize::MAX, usize::MAX);
        loop {
            self.requests.read(tg);
            let pending = tg.pending_updates();
            if self.requests.count("sendMessage") >= answers && pending == 0 {
                return;
            }
            // Threads may end before the final reading: keep their time.
            self.cpu.sample();
            // An idle bot long-polls: getUpdates calls are no progress.
            let state = (
                self.requests.cursor - self.requests.count("getUpdates"),
                pending,
            );
            if state != last_state {
                last_state = state;
                last_change = Instant::now();
            }
            assert!(
                last_change.elapsed() < STALL_TIMEOUT,
                "{label}: stuck with {} of {answers} answers and {pending} updates unconfirmed",
                self.requests.count("sendMessage")
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// The fake's request log from a starting index on, read incrementally
/// (the log holds every request since the fake started).
struct Requests {
    cursor: usize,
    by_method: BTreeMap<String, usize>,
    failed_sends: usize,
}

impl Requests {
    fn since(cursor: usize) -> Requests {
        Requests {
            cursor,
            by_method: BTreeMap::new(),
            failed_sends: 0,
        }
    }

    fn read(&mut self, tg: &FakeTelegram) {
        let new = tg.requests_since(self.cursor);
        self.cursor += new.len();
        for request in &new {
            *self.by_method.entry(request.method.clone()).or_default() += 1;
            if request.method == "sendMessage" && !request.ok {
                self.failed_sends += 1;
            }
        }
    }

    fn count(&self, method: &str) -> usize {
        self.by_method.get(method).copied().unwrap_or(0)
    }

    /// Bot API calls but getUpdates, by method.
    fn calls(&self) -> BTreeMap<String, usize> {
        let mut calls = self.by_method.clone();
        calls.remove("getUpdates");
        calls
    }
}

/// A process' CPU time (user + system) to the nanosecond: the sum of its
/// threads' run time from /proc/<pid>/task/*/schedstat. /proc/<pid>/stat
/// counts in 10 ms ticks, too coarse for a few thousand updates. A thread
/// that ends takes its time with it, so each thread's latest reading is
/// kept: sample while waiting.
struct CpuMeter {
    pid: u32,
    threads: HashMap<u32, u64>,
}

impl CpuMeter {
    fn new(pid: u32) -> CpuMeter {
        let mut meter = CpuMeter {
            pid,
            threads: HashMap::new(),
        };
        meter.sample();
        meter
    }

    fn sample(&mut self) {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) else {
            return;
        };
        for task in tasks.flatten() {
            let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let run_time = std::fs::read_to_string(task.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
            if let Some(ns) = run_time {
                let seen = self.threads.entry(tid).or_default();
                *seen = (*seen).max(ns);
            }
        }
    }

    fn total(&mut self) -> Duration {
        self.sample();
        if self.threads.is_empty() {
            // No schedstat (a kernel without it): ticks it is.
            return stat_cpu(self.pid);
        }
        Duration::from_nanos(self.threads.values().sum())
    }

    /// Waits (up to 2 s) until the process stops using CPU.
    async fn settle(&mut self) {
        let mut last = self.total();
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.total();
            if now.saturating_sub(last) < Duration::from_micros(500) {
                return;
            }
            last = now;
        }
    }
}

/// utime + stime from /proc/<pid>/stat.
fn stat_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    // USER_HZ is 100 on every mainstream configuration.
    Duration::from_millis(ticks * 10)
}

// -------------------------------------------------------------------- soak

/// castellan's resident memory after growing numbers of plain group
/// messages, in one process: memory that grows with traffic is a leak.
struct Soak {
    /// (updates handled, VmRSS KiB); the first after setup, at 0.
    rss: Vec<(usize, u64)>,
    /// Sending and waiting, without the pauses to read memory.
    elapsed: Duration,
}

async fn soak(checkpoints: &[usize]) -> Soak {
    println!("memory over time: castellan on SQLite, plain group messages…");
    let tg = FakeTelegram::start().await;
    tg.set_privacy_mode(false);
    let group = Group::new(&tg, 0, 100);
    let process = BotProcess::start(
        Bot::Castellan(Backend::Sqlite),
        &tg,
        None,
        Launch::UNLIMITED,
    );
    // One command answered: castellan is up.
    let hello = [Msg::pm(group.member(0), "/id")];
    let mut progress = Progress::new(&tg, process.pid());
    queue(&tg, &hello);
    progress.wait(&tg, 1, "soak start").await;

    let mut rng = Lcg::new(0x50a4);
    let mut rss = vec![(0, process.status_kib("VmRSS"))];
    let mut sent = 0;
    let mut elapsed = Duration::ZERO;
    for &checkpoint in checkpoints {
        while sent < checkpoint {
            let batch: Vec<Msg> = (sent..checkpoint.min(sent + SOAK_BATCH))
                .map(|i| Msg::new(group.member(i), group.id, chatter(&mut rng)))
                .collect();
            let mut progress = Progress::new(&tg, process.pid());
            let started = Instant::now();
            queue(&tg, &batch);
            progress.wait(&tg, 0, "soak").await;
            elapsed += started.elapsed();
            sent += batch.len();
            // The fake logs every getUpdates answer: forget them, or the
            // bench's own memory grows with the soak.
            tg.clear_requests();
        }
        CpuMeter::new(process.pid()).settle().await;
        rss.push((sent, process.status_kib("VmRSS")));
    }
    Soak { rss, elapsed }
}

impl Soak {
    fn text(&self) -> String {
        let mut out = String::from("memory over time (castellan, SQLite, VmRSS):\n");
        for &(updates, kib) in &self.rss {
            let _ = writeln!(
                out,
                "  after {:>9} updates: {:>6.1} MiB",
                thousands(updates),
                kib as f64 / 1024.0
            );
        }
        let total = self.rss.last().map_or(0, |&(n, _)| n);
        let _ = writeln!(
            out,
            "  ({} updates in {:.1} s, {:.0} updates/s)",
            thousands(total),
            self.elapsed.as_secs_f64(),
            total as f64 / self.elapsed.as_secs_f64()
        );
        out
    }

    fn markdown(&self) -> String {
        let mut out = String::from("| plain updates handled | VmRSS MiB |\n|---:|---:|\n");
        for &(updates, kib) in &self.rss {
            let label = if updates == 0 {
                "0 (after start-up)".to_owned()
            } else {
                thousands(updates)
            };
            let _ = writeln!(out, "| {label} | {:.1} |", kib as f64 / 1024.0);
        }
        out
    }
}

// ------------------------------------------------------------ flow control

/// castellan's flow-control workloads: castellan alone (the floor has no
/// flow control to compare with), keeping Telegram's per-chat limits
/// (`SEND_LIMITS=on`), which the fake enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// One group raided with commands while other chats write.
    Raid,
    /// Thousands of groups, each with a full outgoing queue.
    Backlog,
}

impl Flow {
    const ALL: [Flow; 2] = [Flow::Raid, Flow::Backlog];

    /// What `BENCH_WORKLOADS` calls it.
    fn key(self) -> &'static str {
        match self {
            Flow::Raid => "raid",
            Flow::Backlog => "backlog",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Flow::Raid => "command raid",
            Flow::Backlog => "backlog memory",
        }
    }

    /// What is sent, for the reader of the figures.
    fn description(self, backlog_chats: usize) -> String {
        match self {
            Flow::Raid => format!(
                "{RAIDERS} members of one supergroup each send `/id` within {} s (the raid). \
                 From {} ms after it began, {RAID_PMS} other users send `/id` in PM, one \
                 every {} ms, each a different user; from {} s on, another group gets \
                 {OTHER_COMMANDS} `/id`s, one every {} s, each from another member. castellan \
                 is stopped {} s after the raid began, its backlog for the raided group \
                 still draining. Before the raid, {CALM_PMS} PM `/id`s at the same pace give \
                 the latency without it. Latency: from the update queued at the fake to the \
                 fake receiving the reply.",
                RAID_SPREAD.as_secs(),
                PM_START.as_millis(),
                PM_INTERVAL.as_millis(),
                OTHER_START.as_secs(),
                OTHER_INTERVAL.as_secs(),
                RAID_STOP.as_secs(),
            ),
            Flow::Backlog => format!(
                "{} supergroups each get {BACKLOG_COMMANDS} `/id`s, from {BACKLOG_COMMANDS} \
                 different members (distinct replies: none merged), each group's together. \
                 castellan's queue for a chat holds 20: each group's fills, and the commands \
                 past it find it full. The fake refuses sends beyond {BACKLOG_OVERALL} a \
                 second overall (429), as Telegram may when a bot sends that much; castellan \
                 then slows down overall, so the queues stay full while the {} updates are \
                 read. (Without that, each group's replies would go out once a second from \
                 its first command on: the first groups' queues would be empty before the \
                 last groups' commands were read, castellan sending thousands of messages a \
                 second meanwhile.) Memory is read before the traffic and once every update \
                 is handled, the queues full; the peak is VmHWM. Per queued reply: the \
                 growth over the RSS before, divided by the replies queued.",
                thousands(backlog_chats),
                thousands(backlog_chats * BACKLOG_COMMANDS),
            ),
        }
    }
}

/// Members of the raided group, each sending one `/id`.
const RAIDERS: usize = 300;
/// The raid's commands are sent evenly over this long.
const RAID_SPREAD: Duration = Duration::from_secs(2);
/// PM `/id`s before the raid, for the latency without it.
const CALM_PMS: usize = 10;
/// PM `/id`s during the raid, the first this long after it began.
const RAID_PMS: usize = 50;
const PM_START: Duration = Duration::from_millis(500);
/// Between two PM `/id`s (each from another user).
const PM_INTERVAL: Duration = Duration::from_millis(200);
/// `/id`s in the other group, the first this long after the raid began.
const OTHER_COMMANDS: usize = 5;
const OTHER_START: Duration = Duration::from_secs(1);
const OTHER_INTERVAL: Duration = Duration::from_secs(2);
/// castellan is stopped this long after the raid began.
const RAID_STOP: Duration = Duration::from_secs(15);
/// A reply not come this long after its command counts as unanswered.
const REPLY_TIMEOUT: Duration = Duration::from_secs(4);

/// Groups with a full queue in the backlog run (a small run: fewer).
const BACKLOG_CHATS: usize = 10_000;
const SMALL_BACKLOG_CHATS: usize = 500;
/// Commands per group: one whose reply goes out first, 20 queued (a
/// chat's queue) and one that finds the queue full.
const BACKLOG_COMMANDS: usize = 22;
/// The fake's overall limit in the backlog run, sends a second.
const BACKLOG_OVERALL: u32 = 30;

/// One figure of a flow-control run.
struct Reading {
    label: String,
    value: f64,
    decimals: usize,
}

impl Reading {
    fn new(label: impl Into<String>, value: f64, decimals: usize) -> Reading {
        Reading {
            label: label.into(),
            value,
            decimals,
        }
    }

    fn count(label: impl Into<String>, value: usize) -> Reading {
        Reading::new(label, value as f64, 0)
    }

    fn ms(label: impl Into<String>, value: Option<Duration>) -> Reading {
        let ms = value.map_or(f64::NAN, |d| d.as_secs_f64() * 1e3);
        Reading::new(label, ms, 1)
    }

    fn mib(label: impl Into<String>, kib: u64) -> Reading {
        Reading::new(label, kib as f64 / 1024.0, 1)
    }
}

/// A flow-control workload's runs, per backend.
struct FlowReport {
    flow: Flow,
    description: String,
    /// Each backend's runs, each run its readings (the same labels in the
    /// same order).
    backends: Vec<(Backend, Vec<Vec<Reading>>)>,
}

impl FlowReport {
    fn title(&self) -> String {
        let name = self.flow.name();
        let (first, rest) = name.split_at(1);
        format!("{}{rest} (castellan, SEND_LIMITS=on)", first.to_uppercase())
    }

    /// Per reading: its label and, per backend, the median of the runs
    /// with their range.
    fn lines(&self) -> Vec<(String, Vec<String>)> {
        let Some((_, first)) = self.backends.first() else {
            return Vec::new();
        };
        let labels = first.first().map_or(&[][..], Vec::as_slice);
        labels
            .iter()
            .enumerate()
            .map(|(i, reading)| {
                let cells = self
                    .backends
                    .iter()
                    .map(|(_, runs)| {
                        let values: Vec<f64> = runs.iter().map(|run| run[i].value).collect();
                        spread(&values, reading.decimals)
                    })
                    .collect();
                (reading.label.clone(), cells)
            })
            .collect()
    }

    fn text(&self) -> String {
        let lines = self.lines();
        let width = lines
            .iter()
            .map(|(l, _)| l.chars().count())
            .max()
            .unwrap_or(0);
        let mut out = format!("{}\n{:<width$}", self.title(), "");
        for (backend, _) in &self.backends {
            let _ = write!(out, "  {:>22}", backend.name());
        }
        out.push('\n');
        for (label, cells) in &lines {
            let _ = write!(out, "{label:<width$}");
            for cell in cells {
                let _ = write!(out, "  {cell:>22}");
            }
            out.push('\n');
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!("### {}\n\n{}\n\n| figure |", self.title(), self.description);
        for (backend, _) in &self.backends {
            let _ = write!(out, " {} |", backend.name());
        }
        out.push_str("\n|---|");
        out.push_str(&"---:|".repeat(self.backends.len()));
        out.push('\n');
        for (label, cells) in self.lines() {
            let _ = writeln!(out, "| {label} | {} |", cells.join(" | "));
        }
        out
    }
}

/// "3.1 (2.8–4.0)": the median and, when the runs differ, their range.
fn spread(values: &[f64], decimals: usize) -> String {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.is_empty() {
        return "n/a".to_owned();
    }
    sorted.sort_by(f64::total_cmp);
    let median = sorted[(sorted.len() - 1) / 2];
    let (low, high) = (sorted[0], sorted[sorted.len() - 1]);
    let median_text = format!("{median:.decimals$}");
    let (low_text, high_text) = (format!("{low:.decimals$}"), format!("{high:.decimals$}"));
    if low_text == high_text {
        median_text
    } else {
        format!("{median_text} ({low_text}–{high_text})")
    }
}

/// The flow-control workloads asked for, on each backend; the backends
/// take turns run by run.
async fn flow_control(settings: &Settings, postgres: Option<&PostgresServer>) -> Vec<FlowReport> {
    let mut backends = vec![Backend::Sqlite];
    if postgres.is_some() {
        backends.push(Backend::Postgres);
    }
    let backlog_chats = if settings.updates < SMALL_RUN {
        SMALL_BACKLOG_CHATS
    } else {
        BACKLOG_CHATS
    };
    let mut reports = Vec::new();
    for &flow in &settings.flows {
        println!(
            "\n{}: castellan alone, {}",
            flow.name(),
            runs_phrase(settings.flow_runs)
        );
        let mut runs: Vec<Vec<Vec<Reading>>> = backends.iter().map(|_| Vec::new()).collect();
        for round in 1..=settings.flow_runs {
            for (&backend, runs) in backends.iter().zip(&mut runs) {
                let bot = Bot::Castellan(backend);
                let started = Instant::now();
                let readings = match flow {
                    Flow::Raid => raid(bot, postgres).await,
                    Flow::Backlog => backlog(bot, backlog_chats, postgres).await,
                };
                println!(
                    "  {:<26} {:<30} done in {:.1} s",
                    flow.name(),
                    format!("{} run {round}/{}", bot.name(), settings.flow_runs),
                    started.elapsed().as_secs_f64()
                );
                runs.push(readings);
            }
        }
        let report = FlowReport {
            flow,
            description: flow.description(backlog_chats),
            backends: backends.iter().copied().zip(runs).collect(),
        };
        println!("\n{}", report.text());
        reports.push(report);
    }
    reports
}

/// The command raid (see [`Flow::description`]), once.
async fn raid(bot: Bot, postgres: Option<&PostgresServer>) -> Vec<Reading> {
    with_database(bot, postgres, async |database_url| {
        let tg = FakeTelegram::start().await;
        tg.enforce_flood_limits(true);
        let raided = Group::new(&tg, 0, RAIDERS);
        let other = Group::new(&tg, 1, OTHER_COMMANDS);
        let bystanders: Vec<i64> = (0..CALM_PMS + RAID_PMS)
            .map(|i| tg.add_user(&format!("Bystander {i}")))
            .collect();
        let (calm_users, raid_users) = bystanders.split_at(CALM_PMS);
        let ready = Ready::start(bot, tg, Plan::default(), database_url, Launch::LIMITED).await;
        let (tg, process) = (&ready.tg, &ready.process);

        let calm = pm_latencies(tg, calm_users, Instant::now()).await;
        let rss_before = process.status_kib("VmRSS");
        let start = Instant::now();
        let raid = async {
            for (i, &member) in raided.members.iter().enumerate() {
                sleep_until(start + RAID_SPREAD.mul_f64(i as f64 / RAIDERS as f64)).await;
                tg.send_text(member, raided.id, "/id");
            }
        };
        let other_group = async {
            let mut latencies = Vec::new();
            for i in 0..OTHER_COMMANDS {
                sleep_until(start + OTHER_START + OTHER_INTERVAL * i as u32).await;
                latencies.push(reply_latency(tg, other.member(i), other.id).await);
            }
            latencies
        };
        // Each message sent to the raided group, when the fake took it.
        let raided_sends = async {
            let stop = start + RAID_STOP;
            let mut times = Vec::new();
            while let Some(_message) = tg
                .try_next_message(raided.id, stop.saturating_duration_since(Instant::now()))
                .await
            {
                times.push(start.elapsed());
            }
            times
        };
        let ((), pms, others, sends) = tokio::join!(
            raid,
            pm_latencies(tg, raid_users, start + PM_START),
            other_group,
            raided_sends,
        );
        sleep_until(start + RAID_STOP).await;

        let metrics = process.metrics().await.unwrap_or_default();
        let dropped = |reason| replies_dropped(&metrics, reason);
        let (queue_full, merged, stale) =
            (dropped("queue_full"), dropped("merged"), dropped("stale"));
        let peak = process.status_kib("VmHWM");
        let violations = flood_violations(tg, bot, "raid");
        let unanswered = pms.iter().filter(|l| l.is_none()).count();
        if unanswered > 0 {
            println!(
                "  warning: {unanswered} PM /id unanswered within {REPLY_TIMEOUT:?} during the raid"
            );
        }
        let shortest_gap = sends.windows(2).map(|pair| pair[1] - pair[0]).min();
        // The PMs sent while the raid's commands still came, and the rest,
        // sent while the raided group's replies wait for their turn.
        let arriving = (RAID_SPREAD - PM_START).as_secs_f64() / PM_INTERVAL.as_secs_f64();
        let (arriving, draining) = pms.split_at((arriving.ceil() as usize).min(pms.len()));
        // (what, latencies, percentile)
        let latencies: [(String, &[Option<Duration>], usize); 7] = [
            ("PM /id latency before the raid, p50 (ms)".into(), &calm, 50),
            ("PM /id latency during the raid, p50 (ms)".into(), &pms, 50),
            (
                format!("PM /id latency during the raid, p99 (ms; the max of {RAID_PMS})"),
                &pms,
                99,
            ),
            (
                format!(
                    "PM /id latency, max of the {} sent while the raid's commands came (ms)",
                    arriving.len()
                ),
                arriving,
                100,
            ),
            (
                format!(
                    "PM /id latency, max of the {} sent while its backlog drained (ms)",
                    draining.len()
                ),
                draining,
                100,
            ),
            ("other group /id latency, median (ms)".into(), &others, 50),
            ("other group /id latency, max (ms)".into(), &others, 100),
        ];
        let mut readings: Vec<Reading> = latencies
            .into_iter()
            .map(|(label, of, p)| Reading::ms(label, percentile(of, p)))
            .collect();
        readings.extend([
            Reading::count(
                format!("PM /id unanswered within {} s", REPLY_TIMEOUT.as_secs()),
                unanswered,
            ),
            Reading::count(
                format!("raided group: replies sent in {} s", RAID_STOP.as_secs()),
                sends.len(),
            ),
            Reading::new(
                "raided group: shortest time between two sends (s)",
                shortest_gap.map_or(f64::NAN, |gap| gap.as_secs_f64()),
                2,
            ),
            Reading::count("raid replies dropped: queue full", queue_full),
            Reading::count("raid replies dropped: merged or stale", merged + stale),
            Reading::count(
                "raid replies still queued at the stop",
                RAIDERS.saturating_sub(sends.len() + queue_full + merged + stale),
            ),
            Reading::count("flood violations (fake's 429s)", violations),
            Reading::mib("RSS before the raid (MiB)", rss_before),
            Reading::mib("peak RSS, VmHWM (MiB)", peak),
        ]);
        ready.finish(bot);
        readings
    })
    .await
}

/// `/id` in PM from each of `users` in turn, one every [`PM_INTERVAL`] from
/// `first` on; each one's latency.
async fn pm_latencies(tg: &FakeTelegram, users: &[i64], first: Instant) -> Vec<Option<Duration>> {
    let each = users.iter().enumerate().map(|(i, &user)| async move {
        sleep_until(first + PM_INTERVAL * i as u32).await;
        reply_latency(tg, user, user).await
    });
    futures::future::join_all(each).await
}

/// `/id` from `user` in `chat`: the time from the update queued at the fake
/// to the fake receiving the bot's reply there; None when none came within
/// [`REPLY_TIMEOUT`].
async fn reply_latency(tg: &FakeTelegram, user: i64, chat: i64) -> Option<Duration> {
    let sent = Instant::now();
    tg.send_text(user, chat, "/id");
    let reply = tg.try_next_message(chat, REPLY_TIMEOUT).await;
    reply.map(|_| sent.elapsed())
}

/// The nearest-rank percentile of the latencies that came (None when none
/// did).
fn percentile(latencies: &[Option<Duration>], p: usize) -> Option<Duration> {
    let mut came: Vec<Duration> = latencies.iter().flatten().copied().collect();
    came.sort_unstable();
    let rank = (came.len() * p).div_ceil(100).max(1);
    came.get(rank - 1).copied()
}

/// The sends the fake refused for going over Telegram's per-chat or
/// per-group limits: none, or the bench stops.
fn flood_violations(tg: &FakeTelegram, bot: Bot, workload: &str) -> usize {
    let violations = tg.flood_violations();
    assert!(
        violations.is_empty(),
        "{}: sends over Telegram's flood limits in the {workload}: {violations:#?}",
        bot.name()
    );
    violations.len()
}

/// castellan's `castellan_replies_dropped_total{reason}` ("" for all
/// reasons together).
fn replies_dropped(metrics: &str, reason: &str) -> usize {
    let label = if reason.is_empty() {
        String::new()
    } else {
        format!("reason=\"{reason}\"")
    };
    sum_counter_where(metrics, "castellan_replies_dropped_total", &label).unwrap_or(0) as usize
}

async fn sleep_until(at: Instant) {
    tokio::time::sleep_until(at.into()).await;
}

/// The backlog (see [`Flow::description`]), once.
async fn backlog(bot: Bot, chats: usize, postgres: Option<&PostgresServer>) -> Vec<Reading> {
    with_database(bot, postgres, async |database_url| {
        let tg = FakeTelegram::start().await;
        tg.enforce_flood_limits(true);
        tg.enforce_overall_limit(Some(BACKLOG_OVERALL));
        let members: Vec<i64> = (0..BACKLOG_COMMANDS)
            .map(|i| tg.add_user(&format!("Member {i}")))
            .collect();
        // Each group's commands together, so that its queue fills at once.
        let traffic: Vec<Msg> = (0..chats)
            .flat_map(|g| {
                let group = tg.add_supergroup(&format!("Backlog {g}"), None);
                members
                    .iter()
                    .map(move |&user| Msg::new(user, group, "/id"))
            })
            .collect();
        // castellan logs each chat's first drop: 10,000 lines.
        let launch = Launch {
            log: "error",
            ..Launch::LIMITED
        };
        let ready = Ready::start(bot, tg, Plan::default(), database_url, launch).await;
        let (tg, process) = (&ready.tg, &ready.process);
        CpuMeter::new(process.pid()).settle().await;
        let rss_before = process.status_kib("VmRSS");

        let mut progress = Progress::new(tg, process.pid());
        let started = Instant::now();
        queue(tg, &traffic);
        // Every update handled: each reply is sent, queued or dropped.
        progress.wait(tg, 0, Flow::Backlog.name()).await;
        let intake = started.elapsed();
        let rss_full = process.status_kib("VmRSS");
        let metrics = process.metrics().await.unwrap_or_default();
        progress.requests.read(tg);
        let sent = progress.requests.count("sendMessage") - progress.requests.failed_sends;
        let dropped = |reason| replies_dropped(&metrics, reason);
        let queued = traffic.len().saturating_sub(sent + dropped(""));
        let peak = process.status_kib("VmHWM");
        let violations = flood_violations(tg, bot, "backlog");
        let per_queued = peak.saturating_sub(rss_before) as f64 * 1024.0 / queued.max(1) as f64;
        let readings = vec![
            Reading::count("groups", chats),
            Reading::new("time to handle every update (s)", intake.as_secs_f64(), 1),
            Reading::count("replies queued once every update is handled", queued),
            Reading::count("replies sent by then", sent),
            Reading::count("replies dropped: queue full", dropped("queue_full")),
            Reading::count(
                "replies dropped: merged, stale or rate-limited",
                dropped("merged") + dropped("stale") + dropped("rate_limited"),
            ),
            Reading::count(
                "sends refused by the overall limit (429)",
                tg.overall_limit_refusals().len(),
            ),
            Reading::count("flood violations", violations),
            Reading::mib("RSS before the traffic (MiB)", rss_before),
            Reading::mib("RSS with the queues full (MiB)", rss_full),
            Reading::mib("peak RSS, VmHWM (MiB)", peak),
            Reading::new("peak RSS growth per queued reply (bytes)", per_queued, 0),
        ];
        ready.finish(bot);
        readings
    })
    .await
}

fn flow_markdown(machine: &Machine, settings: &Settings, reports: &[FlowReport]) -> String {
    let runs = match settings.flow_runs {
        1 => "One run on each backend".to_owned(),
        n => format!("Each figure the median of {n} runs, their range in brackets"),
    };
    let mut out = format!(
        "{}\n- Command: `{}`\n- {runs}.\n\n",
        machine.markdown(),
        command_line(),
    );
    if !reports
        .iter()
        .any(|r| r.backends.iter().any(|(b, _)| *b == Backend::Postgres))
    {
        out.push_str("PostgreSQL was unreachable: no PostgreSQL figures.\n\n");
    }
    let tables: Vec<String> = reports.iter().map(FlowReport::markdown).collect();
    out.push_str(&tables.join("\n"));
    out
}

// ------------------------------------------------------------------ output

struct Row {
    workload: Workload,
    floor: Figures,
    sqlite: Figures,
    postgres: Option<Figures>,
}

/// castellan on one backend next to the floor, one line per workload.
struct Table {
    backend: Backend,
    lines: Vec<TableLine>,
}

struct TableLine {
    workload: &'static str,
    cells: Vec<String>,
}

/// Each column's heading: short on the terminal, long in Markdown.
const COLUMNS: [(&str, &str); 11] = [
    ("upd/s", "updates/s"),
    ("µs CPU/upd", "µs CPU/update"),
    ("API/upd", "API calls/update"),
    ("getUpd", "getUpdates calls"),
    ("DB q/upd", "DB queries/update"),
    ("peak MiB", "peak RSS MiB"),
    ("floor upd/s", "floor updates/s"),
    ("floor µs/upd", "floor µs CPU/update"),
    ("floor MiB", "floor peak RSS MiB"),
    ("CPU ×floor", "CPU/update ×floor"),
    ("upd/s ×floor", "updates/s ×floor"),
];

const LEGEND: &str = "API calls: Bot API calls but getUpdates, whose number is given \
apart. DB queries: castellan's castellan_database_queries_total (n/a: the \
binary does not count them). Peak RSS: VmHWM of the workload's own process. \
×floor: castellan's figure divided by the floor's.";

impl Table {
    fn new(backend: Backend, rows: &[Row]) -> Table {
        let lines = rows
            .iter()
            .filter_map(|row| {
                let castellan = match backend {
                    Backend::Sqlite => &row.sqlite,
                    Backend::Postgres => row.postgres.as_ref()?,
                };
                Some(TableLine {
                    workload: row.workload.name(),
                    cells: cells(castellan, &row.floor),
                })
            })
            .collect();
        Table { backend, lines }
    }

    fn title(&self) -> String {
        format!(
            "castellan on {} next to the floor (a minimal teloxide bot)",
            self.backend.name()
        )
    }

    fn text(&self) -> String {
        let mut widths: Vec<usize> = COLUMNS.iter().map(|(c, _)| c.chars().count()).collect();
        for line in &self.lines {
            for (width, cell) in widths.iter_mut().zip(&line.cells) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let name_width = 26;
        let mut out = format!("{}\n{:<name_width$}", self.title(), "workload");
        for ((column, _), width) in COLUMNS.iter().zip(&widths) {
            let _ = write!(out, "  {column:>width$}");
        }
        out.push('\n');
        for line in &self.lines {
            let _ = write!(out, "{:<name_width$}", line.workload);
            for (cell, width) in line.cells.iter().zip(&widths) {
                let _ = write!(out, "  {cell:>width$}");
            }
            out.push('\n');
        }
        out
    }

    fn markdown(&self) -> String {
        let headings: Vec<&str> = COLUMNS.iter().map(|(_, long)| *long).collect();
        let mut out = format!(
            "### {}\n\n| workload | {} |\n|---|",
            self.title(),
            headings.join(" | ")
        );
        out.push_str(&"---:|".repeat(COLUMNS.len()));
        out.push('\n');
        for line in &self.lines {
            let _ = writeln!(out, "| {} | {} |", line.workload, line.cells.join(" | "));
        }
        out
    }
}

/// Where castellan's Bot API calls go (the floor's are one sendMessage per
/// command).
fn calls_by_method_text(rows: &[Row]) -> String {
    let mut out = String::from("castellan's Bot API calls per update, by method:\n");
    for row in rows {
        let sqlite = row.sqlite.api_calls_by_method();
        match &row.postgres {
            Some(postgres) if postgres.api_calls_by_method() != sqlite => {
                let _ = writeln!(out, "  {:<26} SQLite: {sqlite}", row.workload.name());
                let postgres = postgres.api_calls_by_method();
                let _ = writeln!(out, "  {:<26} PostgreSQL: {postgres}", "");
            }
            _ => {
                let _ = writeln!(out, "  {:<26} {sqlite}", row.workload.name());
            }
        }
    }
    out
}

fn calls_by_method_markdown(rows: &[Row]) -> String {
    let postgres = rows.iter().any(|row| row.postgres.is_some());
    let mut out = String::from("### castellan's Bot API calls per update, by method\n\n");
    out.push_str(if postgres {
        "| workload | SQLite | PostgreSQL |\n|---|---|---|\n"
    } else {
        "| workload | SQLite |\n|---|---|\n"
    });
    for row in rows {
        let _ = write!(
            out,
            "| {} | {} |",
            row.workload.name(),
            row.sqlite.api_calls_by_method()
        );
        if let Some(figures) = &row.postgres {
            let _ = write!(out, " {} |", figures.api_calls_by_method());
        }
        out.push('\n');
    }
    out
}

fn cells(castellan: &Figures, floor: &Figures) -> Vec<String> {
    vec![
        format!("{:.0}", castellan.updates_per_second()),
        format!("{:.1}", castellan.cpu_per_update_us()),
        format!("{:.2}", castellan.api_calls_per_update()),
        castellan.get_updates.to_string(),
        castellan
            .queries_per_update()
            .map_or_else(|| "n/a".to_owned(), |q| format!("{q:.2}")),
        format!("{:.1}", castellan.peak_rss_mib()),
        format!("{:.0}", floor.updates_per_second()),
        format!("{:.1}", floor.cpu_per_update_us()),
        format!("{:.1}", floor.peak_rss_mib()),
        ratio(castellan.cpu_per_update_us(), floor.cpu_per_update_us()),
        ratio(castellan.updates_per_second(), floor.updates_per_second()),
    ]
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "n/a".to_owned()
    }
}

/// 1,000,000
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn markdown(
    machine: &Machine,
    settings: &Settings,
    tables: &[Table],
    rows: &[Row],
    counts: &[Count],
    soak: Option<&Soak>,
) -> String {
    let mut out = format!(
        "{}\n- Command: `{}`\n- {} updates per workload; {}.\n\n",
        machine.markdown(),
        command_line(),
        thousands(settings.updates),
        settings.runs_phrase(),
    );
    if !tables.iter().any(|t| t.backend == Backend::Postgres) {
        out.push_str("PostgreSQL was unreachable: no PostgreSQL figures.\n\n");
    }
    for table in tables {
        out.push_str(&table.markdown());
        out.push('\n');
    }
    out.push_str(LEGEND);
    out.push_str("\n\n");
    out.push_str(&calls_by_method_markdown(rows));
    out.push('\n');
    if !counts.is_empty() {
        out.push_str(&counts_markdown(counts));
        out.push('\n');
    }
    if let Some(soak) = soak {
        out.push_str("### Memory over time (castellan, SQLite)\n\n");
        out.push_str(&soak.markdown());
    }
    out
}

/// How this run was started, to repeat it: the bench's variables that are
/// set, and the cargo command.
fn command_line() -> String {
    let mut variables: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("BENCH_"))
        .map(|(name, value)| {
            let value = if name == "BENCH_DATABASE_URL" {
                redact(&value)
            } else {
                value
            };
            (name, value)
        })
        .collect();
    variables.sort();
    let mut out = String::new();
    for (name, value) in variables {
        let _ = write!(out, "{name}={value} ");
    }
    out + "cargo bench --bench throughput"
}

/// Replaces what is between the markers when the file has them (keeping the
/// prose around), else adds the figures at its end, between the markers.
fn write_markdown(
    path: &std::path::Path,
    (begin_marker, end_marker): (&str, &str),
    fragment: &str,
) {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let text = match (existing.find(begin_marker), existing.find(end_marker)) {
        (Some(begin), Some(end)) if begin < end => format!(
            "{}{begin_marker}\n\n{fragment}\n{}",
            &existing[..begin],
            &existing[end..]
        ),
        _ if existing.trim().is_empty() => format!("{begin_marker}\n\n{fragment}\n{end_marker}\n"),
        _ => format!("{existing}\n{begin_marker}\n\n{fragment}\n{end_marker}\n"),
    };
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Where the figures come from.
struct Machine {
    cpu: String,
    cores: usize,
    memory: String,
    kernel: String,
    date: String,
    commit: Option<String>,
    rustc: Option<String>,
}

impl Machine {
    fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: u64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        Machine {
            cpu: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
                .map_or_else(|| "unknown CPU".to_owned(), |(_, v)| v.trim().to_owned()),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory: format!("{:.1} GiB", memory_kib as f64 / 1024.0 / 1024.0),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned()),
            date: output_of("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
                .unwrap_or_else(|| "unknown date".to_owned()),
            commit: output_of("git", &["describe", "--always", "--dirty"]),
            rustc: output_of("rustc", &["--version"]),
        }
    }

    fn describe(&self) -> String {
        let mut out = format!(
            "machine: {}, {} cores, {} RAM, Linux {}\ndate: {}",
            self.cpu, self.cores, self.memory, self.kernel, self.date
        );
        if let Some(commit) = &self.commit {
            let _ = write!(out, ", castellan {commit}");
        }
        if let Some(rustc) = &self.rustc {
            let _ = write!(out, ", {rustc}");
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!(
            "- Machine: {}, {} cores, {} RAM, Linux {}\n- Date: {}",
            self.cpu, self.cores, self.memory, self.kernel, self.date
        );
        if let Some(commit) = &self.commit {
            let _ = write!(out, "\n- castellan: `{commit}`");
        }
        if let Some(rustc) = &self.rustc {
            let _ = write!(out, "\n- Compiler: {rustc}");
        }
        out
    }
}

fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let output = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    (output.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
