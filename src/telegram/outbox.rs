//! The one outgoing path for every message castellan sends or edits.
//!
//! A handler hands its message to the chat's queue and returns; one sender
//! task drains the queues under Telegram's per-chat limits, so a raided
//! group's backlog waits in its own queue and never in a handler (where it
//! would hold up the chat's next updates, a stop, or a webhook post). The
//! per-chat state lives in one map with one timer heap: tasks and memory do
//! not grow with the number of waiting messages, only each send in flight
//! is a task of its own (at most [`CONCURRENCY`]).
//!
//! Per chat: one message a second, and 20 in any 61 s to a group
//! (Telegram's minute and a second of margin); edits count like sends. A
//! chat's queue holds at most [`QUEUE_LIMIT`] messages (a group's minute of
//! sends); a message still queued [`MAX_AGE`] after it was handed over is
//! dropped rather than sent late; an identical message already waiting for
//! the same chat absorbs a new one (fifty `/rules` in a raid send the rules
//! once). Without limits (`SEND_LIMITS=off`: a test server, a benchmark)
//! nothing waits for a slot, and nothing is merged or refused for a full
//! queue. Each drop or merge is counted in
//! `castellan_replies_dropped_total{reason}` and logged once per chat per
//! minute.
//!
//! Replies have no overall cap: Telegram's "about 30 a second" is guidance
//! for bulk notifications, not a limit on answers. What castellan sends
//! unprompted (owner notices) keeps to [`UNPROMPTED_INTERVAL`]. When
//! Telegram answers 429 to a chat that was within its own limits, the
//! overall rate is what it objects to: every send then keeps to an overall
//! rate, halved on each such 429 and raised step by step while none comes
//! ([`Adaptive`]).
//!
//! The limits hold per process: replicas share Telegram's budget, and a 429
//! that still comes is waited out for its chat.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

use super::{Inner, RetryPolicy, SendLimits, TelegramError};
use crate::metrics::{LogEvery, Metrics};

/// Messages waiting for one chat, at most: a group's minute of sends. A
/// message past it would go out later than [`MAX_AGE`] anyway.
pub const QUEUE_LIMIT: usize = 20;
/// A message not sent this long after it was handed over is dropped.
pub const MAX_AGE: Duration = Duration::from_secs(60);
/// Sends in flight at once, over all chats.
const CONCURRENCY: usize = 64;
/// At least this long between two messages castellan sends unprompted.
const UNPROMPTED_INTERVAL: Duration = Duration::from_millis(40);
/// How many 429s one message is put back for before it is given up.
const RATE_LIMITED_TRIES: u32 = 5;
/// How often idle chats' state is swept from the map.
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Drops and merges in a chat are logged at most this often.
const DROP_LOG_EVERY: Duration = Duration::from_secs(60);
/// The adaptive overall rate: raised by a quarter this often while no 429
/// comes, and lifted entirely above [`ADAPTIVE_CEILING`] a second.
const RECOVERY_STEP: Duration = Duration::from_secs(5);
const ADAPTIVE_CEILING: f64 = 1000.0;

/// Why a message was not sent (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Its chat's queue was full.
    QueueFull,
    /// It waited longer than [`MAX_AGE`].
    Stale,
    /// An identical message was already waiting: that one carries it.
    Merged,
    /// Telegram kept answering 429.
    RateLimited,
    /// The process stopped before its turn came.
    Shutdown,
}

impl DropReason {
    pub fn label(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Stale => "stale",
            DropReason::Merged => "merged",
            DropReason::RateLimited => "rate_limited",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Who a message answers, for the overall budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// A reply to something a user just did: no overall cap.
    Reply,
    /// Sent on castellan's own initiative (owner notices): kept to
    /// [`UNPROMPTED_INTERVAL`].
    Unprompted,
}

/// The answer to a queued message, once it went out (or why it did not).
/// Dropping it is fine: the message goes out all the same.
pub struct Receipt(oneshot::Receiver<Result<Bytes, TelegramError>>);

impl Receipt {
    /// Waits for the message's fate; `None` if the outbox went away.
    pub async fn answer(self) -> Option<Result<Bytes, TelegramError>> {
        self.0.await.ok()
    }
}

/// One message waiting for its chat.
struct Queued {
    method: &'static str,
    /// The request without `reply_parameters`, as compact JSON: what an
    /// identical message is recognised by, kept small.
    body: Box<str>,
    reply_parameters: Option<Box<str>>,
    prompt: Prompt,
    repeatable: bool,
    timeout: Duration,
    handed_over: Instant,
    /// When it last went out, for telling which 429s answer an old rate.
    dispatched: Option<Instant>,
    rate_limited: u32,
    /// Sent in its place when Telegram may not have it (a 5xx, no answer):
    /// the user hears that it did not go through, rather than nothing.
    notice: Option<Box<str>>,
    /// Whoever waits for the answer: the sender, and any merged into it.
    receipts: Vec<oneshot::Sender<Result<Bytes, TelegramError>>>,
}

impl Queued {
    fn finish(self, result: &Result<Bytes, TelegramError>) {
        for receipt in self.receipts {
            let _ = receipt.send(result.clone());
        }
    }
}

#[derive(Default)]
struct ChatQueue {
    pending: VecDeque<Queued>,
    in_flight: bool,
    /// When the chat is due in the timer heap, if it is in it.
    scheduled: Option<Instant>,
    /// When the next message may go (per-chat interval, or a 429's wait).
    next_slot: Option<Instant>,
    /// The latest sends to a group, oldest first (at most the per-minute
    /// limit of them).
    recent: VecDeque<Instant>,
    /// Drops and merges, logged once a minute.
    drops: LogEvery,
}

impl ChatQueue {
    fn idle_at(&self, now: Instant) -> bool {
        self.pending.is_empty()
            && !self.in_flight
            && self.next_slot.is_none_or(|slot| slot <= now)
            && self
                .recent
                .back()
                .is_none_or(|last| *last + super::limits::GROUP_WINDOW <= now)
    }
}

/// The overall rate Telegram's 429s taught: none until one comes.
#[derive(Debug, Default)]
struct Adaptive {
    /// Messages a second; `None`: no overall cap.
    rate: Option<f64>,
    /// When the rate last changed.
    changed: Option<Instant>,
    /// When the next message may go under the rate.
    next: Option<Instant>,
    /// Sends in the last second, to halve from.
    recent: VecDeque<Instant>,
}

impl Adaptive {
    fn note_send(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|at| *at + Duration::from_secs(1) <= now)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        if let Some(rate) = self.rate {
            let next = self.next.map_or(now, |next| next.max(now));
            self.next = Some(next + Duration::from_secs_f64(1.0 / rate));
        }
    }

    /// A 429 for a send dispatched at `sent`: the rate is halved once per
    /// change (the sends already out when it changed say nothing of the
    /// new rate).
    fn slow_down(&mut self, sent: Option<Instant>, now: Instant) {
        if let (Some(sent), Some(changed)) = (sent, self.changed)
            && sent < changed
        {
            return;
        }
        let current = self.rate.unwrap_or(self.recent.len() as f64);
        let rate = (current / 2.0).max(1.0);
        tracing::warn!("Telegram asks castellan to slow down: at most {rate:.0} messages a second");
        self.rate = Some(rate);
        self.changed = Some(now);
    }

    fn recover(&mut self, now: Instant) {
        let (Some(rate), Some(changed)) = (self.rate, self.changed) else {
            return;
        };
        if now < changed + RECOVERY_STEP {
            return;
        }
        let raised = rate * 1.25 + 1.0;
        self.changed = Some(now);
        if raised > ADAPTIVE_CEILING {
            tracing::info!("no 429 for a while: the overall rate is free again");
            self.rate = None;
            self.next = None;
        } else {
            self.rate = Some(raised);
        }
    }

    /// When a send may go under the rate (`now` when uncapped).
    fn gate(&self, now: Instant) -> Instant {
        match (self.rate, self.next) {
            (Some(_), Some(next)) => next.max(now),
            _ => now,
        }
    }
}

struct State {
    chats: HashMap<i64, ChatQueue>,
    /// (when due, tie-breaker, chat): each chat at most once current.
    timers: BinaryHeap<Reverse<(Instant, u64, i64)>>,
    seq: u64,
    in_flight: usize,
    unprompted_next: Instant,
    adaptive: Adaptive,
    last_sweep: Instant,
    closed: bool,
}

impl State {
    fn schedule(&mut self, chat_id: i64, at: Instant) {
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            return;
        };
        if chat.scheduled.is_some_and(|due| due <= at) {
            return;
        }
        chat.scheduled = Some(at);
        self.seq += 1;
        self.timers.push(Reverse((at, self.seq, chat_id)));
    }

    fn pending(&self) -> usize {
        self.chats.values().map(|chat| chat.pending.len()).sum()
    }
}

pub(super) struct Shared {
    limits: Option<SendLimits>,
    state: Mutex<State>,
    wake: Notify,
    idle: Notify,
    metrics: Option<Arc<Metrics>>,
    client: Weak<Inner>,
}

/// The outgoing queues of one client; see the module docs.
pub(super) struct Outbox {
    shared: Arc<Shared>,
    sender: std::sync::OnceLock<()>,
}

impl Outbox {
    pub(super) fn new(
        limits: Option<SendLimits>,
        metrics: Option<Arc<Metrics>>,
        client: Weak<Inner>,
    ) -> Self {
        let now = Instant::now();
        Outbox {
            shared: Arc::new(Shared {
                limits,
                state: Mutex::new(State {
                    chats: HashMap::new(),
                    timers: BinaryHeap::new(),
                    seq: 0,
                    in_flight: 0,
                    unprompted_next: now,
                    adaptive: Adaptive::default(),
                    last_sweep: now,
                    closed: false,
                }),
                wake: Notify::new(),
                idle: Notify::new(),
                metrics,
                client,
            }),
            sender: std::sync::OnceLock::new(),
        }
    }

    /// Queues a message for `chat_id`, with the notice to send should it
    /// fail on Telegram's side (see [`Queued::notice`]).
    pub(super) fn push(
        &self,
        chat_id: i64,
        method: &'static str,
        mut body: Value,
        prompt: Prompt,
        timeout: Duration,
        notice: Option<Value>,
    ) -> Receipt {
        // The sender starts with the first message, inside the runtime.
        self.sender
            .get_or_init(|| drop(tokio::spawn(run_sender(Arc::clone(&self.shared)))));
        let (tx, rx) = oneshot::channel();
        let reply_parameters = body
            .as_object_mut()
            .and_then(|object| object.remove("reply_parameters"))
            .map(|value| value.to_string().into_boxed_str());
        let message = Queued {
            method,
            body: body.to_string().into_boxed_str(),
            reply_parameters,
            prompt,
            // Edits may be repeated after a failure; a message may not.
            repeatable: super::MethodKind::of(method) == super::MethodKind::Repeatable,
            timeout,
            handed_over: Instant::now(),
            dispatched: None,
            rate_limited: 0,
            notice: notice.map(|notice| notice.to_string().into_boxed_str()),
            receipts: vec![tx],
        };
        let now = Instant::now();
        let mut state = self.shared.lock();
        if state.closed {
            drop(state);
            self.shared
                .dropped(chat_id, method, DropReason::Shutdown, None);
            message.finish(&Err(dropped(method, DropReason::Shutdown)));
            return Receipt(rx);
        }
        let chat = state.chats.entry(chat_id).or_default();
        // Without limits nothing waits for a slot: every reply goes.
        let merges = self.shared.limits.is_some();
        if let Some(same) = chat
            .pending
            .iter_mut()
            .filter(|_| merges)
            .find(|queued| queued.method == method && queued.body == message.body)
        {
            same.receipts.extend(message.receipts);
            let log = chat.drops.tick(now, DROP_LOG_EVERY);
            drop(state);
            self.shared
                .dropped(chat_id, method, DropReason::Merged, log);
            return Receipt(rx);
        }
        // Without limits a queue drains as fast as Telegram answers: only a
        // chat that must wait for its slots has a minute's worth to bound.
        if merges && chat.pending.len() >= QUEUE_LIMIT {
            let log = chat.drops.tick(now, DROP_LOG_EVERY);
            drop(state);
            self.shared
                .dropped(chat_id, method, DropReason::QueueFull, log);
            message.finish(&Err(dropped(method, DropReason::QueueFull)));
            return Receipt(rx);
        }
        chat.pending.push_back(message);
        let due = (!chat.in_flight).then(|| chat.next_slot.map_or(now, |slot| slot.max(now)));
        if let Some(due) = due {
            state.schedule(chat_id, due);
            drop(state);
            // The sender may sleep past `due`, or on nothing at all.
            self.shared.wake.notify_one();
        }
        Receipt(rx)
    }

    /// Messages waiting or in flight.
    pub(super) fn backlog(&self) -> usize {
        let state = self.shared.lock();
        state.pending() + state.in_flight
    }

    /// Waits until every queue is empty and nothing is in flight, or until
    /// `deadline`; then drops what is left (counted as `shutdown`) and
    /// takes no more. `true` when everything went out.
    pub(super) async fn drain(&self, deadline: Instant) -> bool {
        loop {
            let idle = self.shared.idle.notified();
            if self.backlog() == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                break;
            }
        }
        let left: Vec<(i64, Queued)> = {
            let mut state = self.shared.lock();
            state.closed = true;
            state
                .chats
                .iter_mut()
                .flat_map(|(chat_id, chat)| chat.pending.drain(..).map(|q| (*chat_id, q)))
                .collect()
        };
        let everything = left.is_empty();
        if !everything {
            tracing::warn!(
                count = left.len(),
                "the stop came before these messages' turn; they were dropped"
            );
        }
        for (chat_id, queued) in left {
            self.shared
                .dropped(chat_id, queued.method, DropReason::Shutdown, None);
            let method = queued.method;
            queued.finish(&Err(dropped(method, DropReason::Shutdown)));
        }
        self.shared.wake.notify_one();
        everything
    }
}

impl Drop for Outbox {
    /// The client is gone: the sender ends once its sends in flight do.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

fn dropped(method: &'static str, reason: DropReason) -> TelegramError {
    TelegramError::Dropped { method, reason }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every change leaves the state consistent: recover from a poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dropped(&self, chat_id: i64, method: &str, reason: DropReason, log: Option<u64>) {
        if let Some(metrics) = &self.metrics {
            metrics.reply_dropped(reason.label());
        }
        if let Some(count) = log {
            tracing::warn!(
                chat_id,
                method,
                count,
                reason = reason.label(),
                "messages to a busy chat were dropped or merged (logged once a minute per chat)"
            );
        }
    }

    /// Takes the messages whose turn has come, and says when to look again.
    fn due(self: &Arc<Self>, now: Instant) -> (Vec<(i64, Queued)>, Option<Instant>) {
        let mut state = self.lock();
        let mut ready = Vec::new();
        let mut stale_drops = Vec::new();
        state.adaptive.recover(now);
        if now >= state.last_sweep + SWEEP_EVERY {
            state.last_sweep = now;
            state.chats.retain(|_, chat| !chat.idle_at(now));
        }
        while state.in_flight < CONCURRENCY {
            let Some(Reverse((at, _, chat_id))) = state.timers.peek().copied() else {
                break;
            };
            if at > now {
                break;
            }
            state.timers.pop();
            let State {
                chats,
                adaptive,
                unprompted_next,
                ..
            } = &mut *state;
            let Some(chat) = chats.get_mut(&chat_id) else {
                continue;
            };
            if chat.scheduled != Some(at) || chat.in_flight {
                continue;
            }
            chat.scheduled = None;
            // Drop what waited too long, then look at the next message.
            while let Some(stale) = chat
                .pending
                .pop_front_if(|queued| now > queued.handed_over + MAX_AGE)
            {
                stale_drops.push((chat_id, stale, chat.drops.tick(now, DROP_LOG_EVERY)));
            }
            let Some(front) = chat.pending.front() else {
                continue;
            };
            let mut slot = chat.next_slot.map_or(now, |slot| slot.max(now));
            if let Some(limits) = self.limits
                && chat_id < 0
                && chat.recent.len() >= limits.per_group_per_minute
                && limits.per_group_per_minute > 0
            {
                let oldest = chat.recent[chat.recent.len() - limits.per_group_per_minute];
                slot = slot.max(oldest + super::limits::GROUP_WINDOW);
            }
            if self.limits.is_some() {
                slot = slot.max(adaptive.gate(now));
                if front.prompt == Prompt::Unprompted {
                    slot = slot.max(*unprompted_next);
                }
            }
            if slot > now {
                state.schedule(chat_id, slot);
                continue;
            }
            let Some(mut queued) = chat.pending.pop_front() else {
                continue;
            };
            queued.dispatched = Some(now);
            chat.in_flight = true;
            if let Some(limits) = self.limits {
                chat.next_slot = Some(now + limits.per_chat_interval);
                if chat_id < 0 && limits.per_group_per_minute > 0 {
                    chat.recent.push_back(now);
                    while chat.recent.len() > limits.per_group_per_minute {
                        chat.recent.pop_front();
                    }
                }
                adaptive.note_send(now);
                if queued.prompt == Prompt::Unprompted {
                    *unprompted_next = now + UNPROMPTED_INTERVAL;
                }
            }
            state.in_flight += 1;
            ready.push((chat_id, queued));
        }
        let next = state.timers.peek().map(|Reverse((at, _, _))| *at);
        drop(state);
        for (chat_id, stale, log) in stale_drops {
            self.dropped(chat_id, stale.method, DropReason::Stale, log);
            let method = stale.method;
            stale.finish(&Err(dropped(method, DropReason::Stale)));
        }
        (ready, next)
    }

    /// A send finished: hand out its answer and line up the chat's next.
    fn sent(&self, chat_id: i64, mut queued: Queued, result: Result<Bytes, TelegramError>) {
        let now = Instant::now();
        let mut state = self.lock();
        state.in_flight = state.in_flight.saturating_sub(1);
        let mut result = result;
        if let Err(TelegramError::RateLimited {
            method,
            retry_after,
        }) = &result
        {
            // The chat kept its own limits, so Telegram objects to the
            // overall rate: slow everything down, and try this one again
            // when Telegram says (for this chat alone).
            let (method, retry_after) = (*method, *retry_after);
            queued.rate_limited += 1;
            if self.limits.is_some() {
                state.adaptive.slow_down(queued.dispatched, now);
            }
            let closed = state.closed;
            if let Some(chat) = state.chats.get_mut(&chat_id) {
                chat.next_slot = Some(now + retry_after);
                if queued.rate_limited < RATE_LIMITED_TRIES && !closed {
                    chat.in_flight = false;
                    chat.pending.push_front(queued);
                    state.schedule(chat_id, now + retry_after);
                    drop(state);
                    self.wake.notify_one();
                    return;
                }
            }
            result = Err(dropped(method, DropReason::RateLimited));
        }
        let mut reschedule = None;
        let closed = state.closed;
        if let Some(chat) = state.chats.get_mut(&chat_id) {
            chat.in_flight = false;
            // Telegram may not have it: say so, before the chat's next.
            if let (Err(error), Some(notice)) = (&result, queued.notice.take())
                && error.is_unavailable()
                && !closed
            {
                chat.pending.push_front(Queued {
                    method: "SendMessage",
                    body: notice,
                    reply_parameters: queued.reply_parameters.clone(),
                    prompt: Prompt::Reply,
                    repeatable: false,
                    timeout: queued.timeout,
                    handed_over: now,
                    dispatched: None,
                    rate_limited: 0,
                    notice: None,
                    receipts: Vec::new(),
                });
            }
            if !chat.pending.is_empty() {
                reschedule = Some(chat.next_slot.map_or(now, |slot| slot.max(now)));
            }
        }
        if let Some(at) = reschedule {
            state.schedule(chat_id, at);
        }
        let idle = state.in_flight == 0 && state.pending() == 0;
        drop(state);
        if let Err(error) = &result {
            if let TelegramError::Dropped { reason, .. } = error {
                self.dropped(chat_id, queued.method, *reason, None);
            }
            log_failure(chat_id, error);
        }
        queued.finish(&result);
        self.wake.notify_one();
        if idle {
            self.idle.notify_waiters();
        }
    }
}

/// Nobody may be waiting for a queued message's answer: its failure is
/// logged here, at the level it deserves.
fn log_failure(chat_id: i64, error: &TelegramError) {
    use super::Refusal;
    match error.refusal() {
        Some(
            Refusal::UserBlockedBot
            | Refusal::BotNotInChat
            | Refusal::ChatNotFound
            | Refusal::NotModified
            | Refusal::MessageGone,
        ) => tracing::info!(chat_id, %error, "a message was not delivered"),
        _ => tracing::warn!(chat_id, %error, "a message could not be sent"),
    }
}

async fn run_sender(shared: Arc<Shared>) {
    loop {
        let wake = shared.wake.notified();
        let (ready, next) = shared.due(Instant::now());
        for (chat_id, queued) in ready {
            let shared = Arc::clone(&shared);
            tokio::spawn(async move {
                let result = send(&shared, &queued).await;
                shared.sent(chat_id, queued, result);
            });
        }
        {
            let state = shared.lock();
            if state.closed && state.in_flight == 0 {
                return;
            }
        }
        match next {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at) => {}
                    _ = wake => {}
                }
            }
            None => wake.await,
        }
    }
}

/// Sends one queued message: 429s come back to the outbox (which waits them
/// out for this chat alone); other failures are retried as the client
/// does for any call.
async fn send(shared: &Shared, queued: &Queued) -> Result<Bytes, TelegramError> {
    let Some(client) = shared.client.upgrade() else {
        return Err(dropped(queued.method, DropReason::Shutdown));
    };
    let mut body: Value =
        serde_json::from_str(&queued.body).map_err(|error| TelegramError::Unreadable {
            method: queued.method,
            detail: format!("a queued request does not parse: {error}"),
        })?;
    if let (Some(object), Some(reply)) = (body.as_object_mut(), &queued.reply_parameters)
        && let Ok(reply) = serde_json::from_str(reply)
    {
        object.insert("reply_parameters".into(), reply);
    }
    let policy = RetryPolicy {
        rate_limited_attempts: 0,
        ..client.retry
    };
    super::Telegram { inner: client }
        .call_raw_direct(
            queued.method,
            body,
            queued.timeout,
            policy,
            queued.repeatable,
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox(limits: Option<SendLimits>) -> Outbox {
        let metrics = Metrics::new().map(Arc::new).ok();
        Outbox::new(limits, metrics, Weak::new())
    }

    fn dropped_count(outbox: &Outbox, reason: DropReason) -> String {
        let text = outbox
            .shared
            .metrics
            .as_ref()
            .and_then(|metrics| metrics.render().ok())
            .unwrap_or_default();
        let series = format!(
            "castellan_replies_dropped_total{{reason=\"{}\"}} ",
            reason.label()
        );
        text.lines()
            .find_map(|line| line.strip_prefix(&series).map(str::to_owned))
            .unwrap_or_default()
    }

    fn body(text: &str) -> Value {
        serde_json::json!({"chat_id": -5, "text": text})
    }

    fn push(outbox: &Outbox, chat: i64, text: &str) -> Receipt {
        outbox.push(
            chat,
            "SendMessage",
            body(text),
            Prompt::Reply,
            Duration::from_secs(1),
            None,
        )
    }

    #[tokio::test(start_paused = true)]
    async fn identical_waiting_messages_are_sent_once() {
        let outbox = outbox(Some(SendLimits::TELEGRAM));
        let _first = push(&outbox, -5, "rules");
        let _second = push(&outbox, -5, "rules");
        let _other = push(&outbox, -5, "other");
        assert_eq!(outbox.shared.lock().pending(), 2);
        assert_eq!(dropped_count(&outbox, DropReason::Merged), "1");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_refuses_more() {
        let outbox = outbox(Some(SendLimits::TELEGRAM));
        for n in 0..QUEUE_LIMIT {
            let _ = push(&outbox, -5, &n.to_string());
        }
        let refused = push(&outbox, -5, "one too many");
        assert!(matches!(
            refused.answer().await,
            Some(Err(TelegramError::Dropped {
                reason: DropReason::QueueFull,
                ..
            }))
        ));
        // Another chat has its own queue.
        let _ = push(&outbox, -6, "fine");
        assert_eq!(outbox.shared.lock().pending(), QUEUE_LIMIT + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_gets_one_a_second_and_twenty_a_minute() {
        let outbox = outbox(Some(SendLimits::TELEGRAM));
        let shared = Arc::clone(&outbox.shared);
        let start = Instant::now();
        {
            let mut state = shared.lock();
            state.chats.entry(-5).or_default();
        }
        let mut sent = Vec::new();
        let mut now = start;
        for n in 0..25 {
            {
                let mut state = shared.lock();
                let chat = state.chats.entry(-5).or_default();
                let (tx, _rx) = oneshot::channel();
                chat.pending.push_back(Queued {
                    method: "SendMessage",
                    body: n.to_string().into(),
                    reply_parameters: None,
                    prompt: Prompt::Reply,
                    repeatable: false,
                    timeout: Duration::from_secs(1),
                    handed_over: now,
                    dispatched: None,
                    rate_limited: 0,
                    notice: None,
                    receipts: vec![tx],
                });
                state.schedule(-5, now);
            }
            loop {
                let (ready, next) = shared.due(now);
                if let Some((chat, queued)) = ready.into_iter().next() {
                    sent.push(now);
                    shared.sent(chat, queued, Ok(Bytes::new()));
                    break;
                }
                now = next.expect("the chat is scheduled");
            }
        }
        for pair in sent.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_secs(1));
        }
        for window in sent.windows(21) {
            assert!(window[20] - window[0] > Duration::from_secs(60));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_message_that_waited_a_minute_is_dropped_not_sent() {
        let outbox = outbox(Some(SendLimits::TELEGRAM));
        let shared = Arc::clone(&outbox.shared);
        let start = Instant::now();
        let _first = push(&outbox, -5, "first");
        let late = push(&outbox, -5, "late");
        let (ready, next) = shared.due(start);
        assert_eq!(ready.len(), 1);
        for (chat, queued) in ready {
            shared.sent(chat, queued, Ok(Bytes::new()));
        }
        assert_eq!(next, None, "the chat waits for its slot");
        // Its slot came, but only after a minute had gone by.
        let (ready, _) = shared.due(start + MAX_AGE + Duration::from_secs(1));
        assert!(ready.is_empty());
        assert!(matches!(
            late.answer().await,
            Some(Err(TelegramError::Dropped {
                reason: DropReason::Stale,
                ..
            }))
        ));
        assert_eq!(dropped_count(&outbox, DropReason::Stale), "1");
    }

    #[test]
    fn the_overall_rate_halves_on_429_and_recovers() {
        let start = Instant::now();
        let mut adaptive = Adaptive::default();
        for n in 0..40 {
            adaptive.note_send(start + Duration::from_millis(n * 10));
        }
        let now = start + Duration::from_millis(400);
        adaptive.slow_down(Some(start), now);
        assert_eq!(adaptive.rate, Some(20.0));
        // Another answer to a send of the old rate changes nothing.
        adaptive.slow_down(Some(start), now + Duration::from_millis(1));
        assert_eq!(adaptive.rate, Some(20.0));
        adaptive.slow_down(Some(now), now + Duration::from_millis(2));
        assert_eq!(adaptive.rate, Some(10.0));
        let mut later = now;
        while adaptive.rate.is_some() {
            later += RECOVERY_STEP;
            adaptive.recover(later);
        }
        assert!(later - now < Duration::from_secs(200));
    }
}
