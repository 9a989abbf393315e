//! Taking updates in, from long polling and webhook posts alike.
//!
//! Each chat's updates run in order in a lane of their own; a lane is a
//! queue in one map, worked by one task while it has work, so a raided
//! group's backlog waits in its lane and never in front of another chat's
//! updates. Handlers do not wait for sends (the outbox does), so a lane
//! moves at the pace of the database.
//!
//! Each update acts once ([`Store::claim_update`]): in webhook mode, where
//! replicas and Telegram's retries may hand one update over twice at once,
//! an update is claimed before it runs, with a lease; in polling mode only
//! this process polls, so only updates an earlier process may have handled
//! (at or below the newest id recorded when it started) are looked up.
//! Finished updates are recorded in batches, by one writer, before they
//! count as finished: for polling's confirmed offset and a webhook's 2xx.
//!
//! On a stop, handlers get until a deadline; what is still running then is
//! cut off and left unconfirmed (polling) or answered non-2xx (webhook), so
//! Telegram delivers it again.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use teloxide::types::Update;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::context::AppState;
use crate::dispatch::{Handled, asks_anything, route};
use crate::store::{UpdateClaim, unix_ms};

/// Updates waiting in one chat's lane, at most; past it the chat's new
/// updates are dropped (counted as `backlog`). At a few milliseconds each,
/// this is seconds of work, far more than a chat's users could be
/// answered in a minute.
pub const LANE_LIMIT: usize = 1000;
/// A handler running longer than this is abandoned (logged).
const JOB_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a webhook claim holds off other replicas: longer than any
/// handler runs.
const LEASE: Duration = Duration::from_secs(120);
/// Finished updates recorded in one statement, at most.
const MARK_BATCH: usize = 500;
/// An update whose handling fails on an outage (Telegram or the database
/// unavailable) is run this many times at most...
const MAX_ATTEMPTS: u32 = 6;
/// ...within this long of its first run; then it is logged and dropped.
const GIVE_UP_AFTER: Duration = Duration::from_secs(60 * 60);
/// Polling: the wait before the first rerun, tripled for each further one
/// (5 s, 15 s, 45 s, 2 min 15 s, 6 min 45 s).
const FIRST_RETRY: Duration = Duration::from_secs(5);

/// Where updates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Long polling: this process alone takes updates.
    Polling,
    /// Webhook posts: replicas and Telegram's retries may overlap.
    Webhook,
}

/// What became of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Handled, and recorded as such (or nothing to handle).
    Handled,
    /// Handled before: nothing done.
    Duplicate,
    /// Being handled elsewhere right now: to be delivered again later.
    Running,
    /// Failed on an outage (webhook mode): to be delivered again later.
    Failed,
    /// Its chat's lane was full: dropped (and counted).
    Dropped,
    /// The stop came first: to be delivered again.
    Cut,
}

/// An update handed in.
pub enum Ticket {
    /// Settled at once (plain chatter: nothing to do).
    Done(Outcome),
    /// Settles when its handler has run and been recorded.
    Pending(oneshot::Receiver<Outcome>),
}

impl Ticket {
    pub async fn outcome(self) -> Outcome {
        match self {
            Ticket::Done(outcome) => outcome,
            Ticket::Pending(receiver) => receiver.await.unwrap_or(Outcome::Cut),
        }
    }
}

struct Job {
    update: Update,
    settled: oneshot::Sender<Outcome>,
}

pub struct Intake {
    state: Arc<AppState>,
    mode: Mode,
    /// This process, in claims.
    owner: String,
    lanes: Mutex<HashMap<i64, VecDeque<Job>>>,
    /// Updates handed in and not settled, for polling's confirmed offset.
    unsettled: Mutex<BTreeSet<i64>>,
    /// Jobs handed in and not settled.
    active: AtomicUsize,
    /// Signalled whenever an update settles.
    progress: Notify,
    /// Set when the stop begins: updates handed in after it are cut off
    /// at once (a webhook post still being read), as the outbox no longer
    /// sends their replies.
    stopping: AtomicBool,
    cut: CancellationToken,
    marks: mpsc::UnboundedSender<(i64, oneshot::Sender<Outcome>)>,
    /// Polling: updates at or below this id may have been handled by an
    /// earlier process, and are looked up before they run.
    recorded_before: Option<i64>,
}

impl Intake {
    /// An intake for `mode`. Polling first reads the newest update id on
    /// record (one query, at start).
    pub async fn start(state: Arc<AppState>, mode: Mode) -> Arc<Intake> {
        let recorded_before = match mode {
            Mode::Webhook => None,
            Mode::Polling => match state.store.newest_recorded_update().await {
                Ok(newest) => newest,
                Err(error) => {
                    // Then every early update is looked up instead.
                    tracing::warn!(%error, "cannot read which updates were handled before");
                    Some(i64::MAX)
                }
            },
        };
        let (marks, receiver) = mpsc::unbounded_channel();
        let owner = state.store.instance().to_owned();
        let intake = Arc::new(Intake {
            state,
            mode,
            owner,
            lanes: Mutex::new(HashMap::new()),
            unsettled: Mutex::new(BTreeSet::new()),
            active: AtomicUsize::new(0),
            progress: Notify::new(),
            stopping: AtomicBool::new(false),
            cut: CancellationToken::new(),
            marks,
            recorded_before,
        });
        tokio::spawn(record_finished(Arc::downgrade(&intake), receiver));
        intake
    }

    /// Hands an update in: queued in its chat's lane, unless it asks
    /// nothing of castellan (plain chatter).
    pub fn submit(self: &Arc<Self>, update: Update) -> Ticket {
        if self.stopping.load(Ordering::Acquire) {
            return Ticket::Done(Outcome::Cut);
        }
        if !asks_anything(&update, &self.state) {
            return Ticket::Done(Outcome::Handled);
        }
        let update_id = i64::from(update.id.0);
        let lane = update
            .chat()
            .map(|chat| chat.id.0)
            .or_else(|| update.from().map(|user| user.id.0 as i64));
        let (settled, receiver) = oneshot::channel();
        let job = Job { update, settled };
        self.active.fetch_add(1, Ordering::AcqRel);
        lock(&self.unsettled).insert(update_id);
        let Some(lane) = lane else {
            let intake = Arc::clone(self);
            tokio::spawn(async move { intake.run(job).await });
            return Ticket::Pending(receiver);
        };
        let mut lanes = lock(&self.lanes);
        match lanes.get_mut(&lane) {
            Some(queue) if queue.len() >= LANE_LIMIT => {
                drop(lanes);
                self.state.metrics.update_dropped("backlog");
                tracing::warn!(
                    chat_id = lane,
                    "a chat's backlog is full; an update was dropped"
                );
                self.settle(update_id, job.settled, Outcome::Dropped);
            }
            Some(queue) => queue.push_back(job),
            None => {
                lanes.insert(lane, VecDeque::from([job]));
                drop(lanes);
                let intake = Arc::clone(self);
                tokio::spawn(async move { intake.work_lane(lane).await });
            }
        }
        Ticket::Pending(receiver)
    }

    /// Works a chat's lane until it is empty.
    async fn work_lane(self: Arc<Self>, lane: i64) {
        loop {
            let job = {
                let mut lanes = lock(&self.lanes);
                match lanes.get_mut(&lane).and_then(VecDeque::pop_front) {
                    Some(job) => job,
                    None => {
                        lanes.remove(&lane);
                        return;
                    }
                }
            };
            self.run(job).await;
        }
    }

    async fn run(self: &Arc<Self>, job: Job) {
        let Job { update, settled } = job;
        let update_id = i64::from(update.id.0);
        if self.cut.is_cancelled() {
            return self.settle(update_id, settled, Outcome::Cut);
        }
        let mut attempt = match self.may_run(update_id).await {
            Ok(attempt) => attempt,
            Err(outcome) => {
                if outcome == Outcome::Duplicate {
                    self.state.metrics.update_dropped("duplicate");
                }
                return self.settle(update_id, settled, outcome);
            }
        };
        let claimed = self.mode == Mode::Webhook;
        loop {
            let Some(handler) = route(&update, Arc::clone(&self.state), attempt) else {
                break;
            };
            let handled = tokio::select! {
                handled = tokio::time::timeout(JOB_TIMEOUT, handler) => handled,
                _ = self.cut.cancelled() => {
                    self.state.metrics.update_dropped("cut");
                    self.release(claimed, update_id, false).await;
                    return self.settle(update_id, settled, Outcome::Cut);
                }
            };
            match handled {
                Ok(Handled::Done) => break,
                Err(_) => {
                    self.state.metrics.update_dropped("timed_out");
                    tracing::error!(
                        update_id,
                        "an update's handler ran too long and was abandoned"
                    );
                    break;
                }
                Ok(Handled::Unavailable) if attempt + 1 >= MAX_ATTEMPTS => {
                    self.give_up(update_id, attempt + 1);
                    break;
                }
                // Telegram sends it again, to this castellan or another.
                Ok(Handled::Unavailable) if claimed => {
                    self.release(true, update_id, true).await;
                    return self.settle(update_id, settled, Outcome::Failed);
                }
                // Polling: nobody else will; do it again here, in its turn
                // (the chat's later updates wait, in order).
                Ok(Handled::Unavailable) => {
                    let wait = FIRST_RETRY * 3u32.saturating_pow(attempt);
                    tracing::info!(
                        update_id,
                        "an update failed on an outage; trying again in {wait:?}"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = self.cut.cancelled() => {
                            self.state.metrics.update_dropped("cut");
                            return self.settle(update_id, settled, Outcome::Cut);
                        }
                    }
                    attempt += 1;
                }
            }
        }
        // Settled once recorded (see `record_finished`).
        if let Err(mpsc::error::SendError((update_id, settled))) =
            self.marks.send((update_id, settled))
        {
            self.settle(update_id, settled, Outcome::Handled);
        }
    }

    fn give_up(&self, update_id: i64, attempts: u32) {
        self.state.metrics.update_dropped("failed");
        tracing::error!(
            update_id,
            attempts,
            "an update kept failing on an outage and was given up"
        );
    }

    /// Gives up this castellan's claim on an update (webhook mode).
    async fn release(&self, claimed: bool, update_id: i64, failed: bool) {
        if !claimed {
            return;
        }
        if let Err(error) = self
            .state
            .store
            .release_update(update_id, &self.owner, failed)
            .await
        {
            // The lease runs out by itself.
            tracing::warn!(%error, update_id, "an update's claim could not be released");
        }
    }

    /// Whether an update is to run here, and after how many failed runs:
    /// `Err` with its outcome when not.
    async fn may_run(&self, update_id: i64) -> Result<u32, Outcome> {
        let store = &self.state.store;
        let now = unix_ms();
        let result = match self.mode {
            Mode::Webhook => {
                let lease_until = now + LEASE.as_millis() as i64;
                store
                    .claim_update(update_id, &self.owner, now, lease_until)
                    .await
            }
            Mode::Polling
                if self
                    .recorded_before
                    .is_some_and(|newest| update_id <= newest) =>
            {
                store
                    .handled_updates_among(update_id, update_id)
                    .await
                    .map(|handled| {
                        if handled.is_empty() {
                            UpdateClaim::Claimed {
                                attempts: 0,
                                first_claimed_at: now,
                            }
                        } else {
                            UpdateClaim::Handled
                        }
                    })
            }
            Mode::Polling => Ok(UpdateClaim::Claimed {
                attempts: 0,
                first_claimed_at: now,
            }),
        };
        match result {
            Ok(UpdateClaim::Claimed {
                attempts,
                first_claimed_at,
            }) => {
                let tried_for =
                    Duration::from_millis(u64::try_from(now - first_claimed_at).unwrap_or(0));
                if attempts >= MAX_ATTEMPTS || (attempts > 0 && tried_for > GIVE_UP_AFTER) {
                    self.give_up(update_id, attempts);
                    if let Err(error) = store.finish_updates(&[update_id], &self.owner, now).await {
                        tracing::warn!(%error, update_id, "a given-up update could not be recorded");
                    }
                    return Err(Outcome::Dropped);
                }
                Ok(attempts)
            }
            Ok(UpdateClaim::Handled) => Err(Outcome::Duplicate),
            Ok(UpdateClaim::Running) => Err(Outcome::Running),
            // Answering beats not answering: run it unrecorded.
            Err(error) => {
                tracing::warn!(%error, update_id, "cannot check whether an update was handled; handling it");
                Ok(0)
            }
        }
    }

    fn settle(&self, update_id: i64, settled: oneshot::Sender<Outcome>, outcome: Outcome) {
        // A cut-off update stays unsettled: the offset stops before it.
        if outcome != Outcome::Cut {
            lock(&self.unsettled).remove(&update_id);
        }
        let _ = settled.send(outcome);
        self.active.fetch_sub(1, Ordering::AcqRel);
        self.progress.notify_waiters();
    }

    /// The offset polling may confirm with updates up to `next` taken: up
    /// to the oldest update still unsettled. With more than `reread`
    /// updates taken after that one, its getUpdates would bring back mostly
    /// what was taken already: then everything taken is confirmed, and only
    /// a crash (not a stop) could lose the oldest.
    pub fn confirmable(&self, next: i64, reread: i64) -> i64 {
        match lock(&self.unsettled).first() {
            Some(&oldest) if next - oldest <= reread => oldest,
            _ => next,
        }
    }

    /// The offset to confirm at the end: before the oldest unsettled
    /// update, whatever the distance.
    pub fn final_offset(&self, next: i64) -> i64 {
        lock(&self.unsettled).first().copied().unwrap_or(next)
    }

    /// Waits until update `update_id` settles, or `wait` passes.
    pub async fn settled(&self, update_id: i64, wait: Duration) {
        let settled = self.until(|| !lock(&self.unsettled).contains(&update_id));
        let _ = tokio::time::timeout(wait, settled).await;
    }

    /// Waits until `done` holds, looking again whenever an update settles.
    async fn until(&self, done: impl Fn() -> bool) {
        loop {
            let progress = self.progress.notified();
            if done() {
                return;
            }
            progress.await;
        }
    }

    /// Updates handed in and not settled.
    fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Lets the handlers finish until `deadline`, then cuts off the rest.
    /// `true` when everything finished in time.
    pub async fn finish(&self, deadline: Instant) -> bool {
        self.stopping.store(true, Ordering::Release);
        let idle = || self.active() == 0;
        if tokio::time::timeout_at(deadline, self.until(idle))
            .await
            .is_ok()
        {
            return true;
        }
        tracing::warn!(
            running = self.active(),
            "the stop's grace ran out: cutting off the updates still running; Telegram delivers them again"
        );
        self.cut.cancel();
        // Cut-off handlers release their claims: a moment for that.
        let _ = tokio::time::timeout(Duration::from_millis(300), self.until(idle)).await;
        false
    }
}

/// Records finished updates in batches, then settles them: one statement
/// for whatever finished while the last one ran.
async fn record_finished(
    intake: Weak<Intake>,
    mut marks: mpsc::UnboundedReceiver<(i64, oneshot::Sender<Outcome>)>,
) {
    let mut batch = Vec::new();
    while let Some(first) = marks.recv().await {
        batch.push(first);
        while batch.len() < MARK_BATCH {
            match marks.try_recv() {
                Ok(mark) => batch.push(mark),
                Err(_) => break,
            }
        }
        let Some(intake) = intake.upgrade() else {
            return;
        };
        let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        if let Err(error) = intake
            .state
            .store
            .finish_updates(&ids, &intake.owner, unix_ms())
            .await
        {
            // Handled all the same; a second delivery would run again.
            tracing::warn!(%error, count = ids.len(), "handled updates could not be recorded");
        }
        for (update_id, settled) in batch.drain(..) {
            intake.settle(update_id, settled, Outcome::Handled);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Every change leaves the state consistent: recover from a poison.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// How long ago a day was, in Unix ms: handled updates older than it are
/// pruned.
pub fn prune_before() -> i64 {
    unix_ms() - 24 * 60 * 60 * 1000
}
