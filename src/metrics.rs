//! Prometheus metrics. Every label value comes from a fixed set (update
//! kinds, command names from the registry, Bot API method names, outcomes),
//! never from what users write, so no user can grow the series count.

use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use tokio::time::Instant;

/// At most one log line per `every` about one kind of event (drops in a
/// chat, refused webhook posts), with how many there were since the last
/// line. Time is passed in, so it is tested without waiting.
#[derive(Debug, Default)]
pub struct LogEvery {
    logged_at: Option<Instant>,
    unlogged: u64,
}

impl LogEvery {
    /// Counts one event at `now`; `Some(count)` when a line is due now,
    /// `count` being the events since the last line, this one included.
    pub fn tick(&mut self, now: Instant, every: Duration) -> Option<u64> {
        self.unlogged += 1;
        if self
            .logged_at
            .is_some_and(|at| now.saturating_duration_since(at) < every)
        {
            return None;
        }
        self.logged_at = Some(now);
        Some(std::mem::take(&mut self.unlogged))
    }
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Handled (a refusal with its reason included).
    Ok,
    /// An error reached the user as "try again" or "went wrong".
    Failed,
    /// The user was too fast and was slowed down.
    Slowed,
}

impl CommandOutcome {
    fn label(self) -> &'static str {
        match self {
            CommandOutcome::Ok => "ok",
            CommandOutcome::Failed => "failed",
            CommandOutcome::Slowed => "slowed",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    updates: IntCounterVec,
    message_updates: prometheus::IntCounter,
    commands: IntCounterVec,
    telegram_requests: IntCounterVec,
    handler_duration: Histogram,
    replies_dropped: IntCounterVec,
    updates_dropped: IntCounterVec,
    db_connections: IntGaugeVec,
    /// Webhook posts refused for their secret.
    pub webhook_refused: IntCounter,
    /// HTTP connections closed to make room at the cap.
    pub http_evicted: IntCounter,
    /// HTTP connections open.
    pub http_connections: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let updates = IntCounterVec::new(
            Opts::new("castellan_updates_total", "Updates received, by kind."),
            &["kind"],
        )?;
        let commands = IntCounterVec::new(
            Opts::new(
                "castellan_commands_total",
                "Commands handled, by command and outcome.",
            ),
            &["command", "outcome"],
        )?;
        let telegram_requests = IntCounterVec::new(
            Opts::new(
                "castellan_telegram_requests_total",
                "Bot API requests made (each try), by method and outcome.",
            ),
            &["method", "outcome"],
        )?;
        let handler_duration = Histogram::with_opts(
            HistogramOpts::new(
                "castellan_handler_duration_seconds",
                "Time to handle one update, from dispatch to the end of its handler.",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )?;
        let replies_dropped = IntCounterVec::new(
            Opts::new(
                "castellan_replies_dropped_total",
                "Messages not sent, by reason: merged into an identical waiting one, queue_full, stale (waited past a minute), rate_limited, shutdown.",
            ),
            &["reason"],
        )?;
        let updates_dropped = IntCounterVec::new(
            Opts::new(
                "castellan_updates_dropped_total",
                "Updates not handled, by reason: backlog (their chat had too many waiting), duplicate (handled before), timed_out, cut (the stop came first).",
            ),
            &["reason"],
        )?;
        let db_connections = IntGaugeVec::new(
            Opts::new(
                "castellan_db_connections",
                "The database pool's connections, by state: used or idle (PostgreSQL's LISTEN connection is apart).",
            ),
            &["state"],
        )?;
        registry.register(Box::new(db_connections.clone()))?;
        let webhook_refused = IntCounter::new(
            "castellan_webhook_refused_total",
            "Webhook posts refused (401) for a missing or wrong secret token.",
        )?;
        let http_evicted = IntCounter::new(
            "castellan_http_connections_evicted_total",
            "Idle or half-open HTTP connections closed to make room for a new one at the cap.",
        )?;
        let http_connections =
            IntGauge::new("castellan_http_connections", "HTTP connections open.")?;
        registry.register(Box::new(webhook_refused.clone()))?;
        registry.register(Box::new(http_evicted.clone()))?;
        registry.register(Box::new(http_connections.clone()))?;
        registry.register(Box::new(replies_dropped.clone()))?;
        registry.register(Box::new(updates_dropped.clone()))?;
        registry.register(Box::new(updates.clone()))?;
        registry.register(Box::new(commands.clone()))?;
        registry.register(Box::new(telegram_requests.clone()))?;
        registry.register(Box::new(handler_duration.clone()))?;
        if let Some(queries) = crate::store::OPERATIONS.as_ref() {
            registry.register(Box::new(queries.clone()))?;
        }
        // Resident memory, CPU seconds, open files… of this process.
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let message_updates = updates.with_label_values(&["message"]);
        Ok(Self {
            registry,
            updates,
            message_updates,
            commands,
            telegram_requests,
            handler_duration,
            replies_dropped,
            updates_dropped,
            db_connections,
            webhook_refused,
            http_evicted,
            http_connections,
        })
    }

    /// The database pool's connections now, set before each scrape.
    pub fn db_connections(&self, used: u32, idle: u32) {
        self.db_connections
            .with_label_values(&["used"])
            .set(i64::from(used));
        self.db_connections
            .with_label_values(&["idle"])
            .set(i64::from(idle));
    }

    /// `reason` is one of the outbox's fixed labels.
    pub fn reply_dropped(&self, reason: &'static str) {
        self.replies_dropped.with_label_values(&[reason]).inc();
    }

    /// `reason` is one of the intake's fixed labels.
    pub fn update_dropped(&self, reason: &'static str) {
        self.updates_dropped.with_label_values(&[reason]).inc();
    }

    pub fn update(&self, kind: &'static str) {
        // The common kind without the label lookup: it is per update.
        if kind == "message" {
            self.message_updates.inc();
        } else {
            self.updates.with_label_values(&[kind]).inc();
        }
    }

    /// `command` is a registry name ([`crate::commands::CommandSpec::name`]).
    pub fn command(&self, command: &'static str, outcome: CommandOutcome) {
        self.commands
            .with_label_values(&[command, outcome.label()])
            .inc();
    }

    /// `method` is a Bot API method name, `outcome` one of the client's.
    pub fn telegram_request(&self, method: &'static str, outcome: &'static str) {
        self.telegram_requests
            .with_label_values(&[method, outcome])
            .inc();
    }

    pub fn handler_time(&self, elapsed: Duration) {
        self.handler_duration.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        String::from_utf8(out).map_err(|error| prometheus::Error::Msg(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let metrics = Metrics::new().unwrap();
        metrics.update("message");
        metrics.command("connect", CommandOutcome::Ok);
        metrics.telegram_request("SendMessage", "ok");
        metrics.handler_time(Duration::from_millis(3));
        metrics.db_connections(2, 6);
        metrics.reply_dropped("merged");
        metrics.update_dropped("duplicate");
        let text = metrics.render().unwrap();
        for needle in [
            "castellan_updates_total{kind=\"message\"} 1",
            "castellan_commands_total{command=\"connect\",outcome=\"ok\"} 1",
            "castellan_telegram_requests_total{method=\"SendMessage\",outcome=\"ok\"} 1",
            "castellan_handler_duration_seconds_bucket",
            "castellan_database_queries_total",
            "castellan_db_connections{state=\"used\"} 2",
            "castellan_db_connections{state=\"idle\"} 6",
            "castellan_replies_dropped_total{reason=\"merged\"} 1",
            "castellan_updates_dropped_total{reason=\"duplicate\"} 1",
            "castellan_webhook_refused_total 0",
            "castellan_http_connections_evicted_total 0",
            "castellan_http_connections 0",
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
    }

    #[test]
    fn a_flood_is_logged_once_a_minute_with_its_count() {
        let every = Duration::from_secs(60);
        let mut log = LogEvery::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // The first one is told at once…
        assert_eq!(log.tick(at(0), every), Some(1));
        // …then a thousand in the same minute only counted…
        for i in 1..=1000 {
            assert_eq!(log.tick(at(i * 50), every), None, "{i}");
        }
        // …and told with the next one a minute after the line.
        assert_eq!(log.tick(at(60_000), every), Some(1001));
        assert_eq!(log.tick(at(60_001), every), None);
        assert_eq!(log.tick(at(200_000), every), Some(2));
        // A quiet minute: the next one is told at once again.
        assert_eq!(log.tick(at(300_000), every), Some(1));
    }
}
