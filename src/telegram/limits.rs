//! Staying under Telegram's send limits, so that a burst is answered late
//! rather than refused: about one message per second in a chat, 20 per
//! minute in a group, 30 per second overall (Telegram's bot FAQ).
//!
//! Each send reserves the earliest moment its chat allows (per-chat state,
//! so a busy group never delays another chat), then waits its turn in the
//! overall budget just before it goes out. The limits hold per process;
//! replicas share Telegram's budget, and a 429 that still comes is waited
//! out by the client.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// The send limits a castellan process keeps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    /// At least this long between two messages to one chat.
    pub per_chat_interval: Duration,
    /// At most this many messages to one group in [`GROUP_WINDOW`].
    pub per_group_per_minute: usize,
    /// At least this long between any two messages.
    pub overall_interval: Duration,
}

/// Telegram's minute, and a second more: a send goes out a little after its
/// reserved moment, and the margin keeps 21 of them out of any minute.
const GROUP_WINDOW: Duration = Duration::from_secs(61);
/// Past this many chats tracked, those idle for a full window are dropped.
const SWEEP_AT: usize = 4096;

impl SendLimits {
    /// Telegram's published limits, with room for the jitter between a
    /// reserved moment and the request's arrival: 25 a second overall
    /// rather than 30.
    pub const TELEGRAM: SendLimits = SendLimits {
        per_chat_interval: Duration::from_secs(1),
        per_group_per_minute: 20,
        overall_interval: Duration::from_millis(40),
    };
}

#[derive(Default)]
struct ChatSlots {
    /// When the next message to this chat may go.
    next: Option<Instant>,
    /// The moments of the latest sends to a group, oldest first (at most
    /// `per_group_per_minute`).
    recent: VecDeque<Instant>,
}

struct State {
    chats: HashMap<i64, ChatSlots>,
    overall_next: Instant,
}

pub struct SendLimiter {
    limits: SendLimits,
    state: Mutex<State>,
}

impl SendLimiter {
    pub fn new(limits: SendLimits) -> Self {
        Self {
            limits,
            state: Mutex::new(State {
                chats: HashMap::new(),
                overall_next: Instant::now(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update leaves the state consistent: recover from a poison.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a message to `chat_id` may be sent.
    pub async fn wait_for_chat(&self, chat_id: i64) {
        let slot = self.reserve_chat(chat_id, Instant::now());
        tokio::time::sleep_until(slot).await;
        let overall = self.reserve_overall(Instant::now());
        tokio::time::sleep_until(overall).await;
    }

    fn reserve_chat(&self, chat_id: i64, now: Instant) -> Instant {
        let limits = self.limits;
        let mut state = self.lock();
        if state.chats.len() >= SWEEP_AT {
            state.chats.retain(|_, slots| {
                slots.next.is_some_and(|next| next > now)
                    || slots
                        .recent
                        .back()
                        .is_some_and(|last| *last + GROUP_WINDOW > now)
            });
        }
        let slots = state.chats.entry(chat_id).or_default();
        let mut slot = slots.next.map_or(now, |next| next.max(now));
        // Group ids are negative; private chats have no per-minute limit.
        if chat_id < 0 && limits.per_group_per_minute > 0 {
            if slots.recent.len() >= limits.per_group_per_minute
                && let Some(oldest) = slots.recent.pop_front()
            {
                slot = slot.max(oldest + GROUP_WINDOW);
            }
            slots.recent.push_back(slot);
        }
        slots.next = Some(slot + limits.per_chat_interval);
        slot
    }

    fn reserve_overall(&self, now: Instant) -> Instant {
        let mut state = self.lock();
        let slot = state.overall_next.max(now);
        state.overall_next = slot + self.limits.overall_interval;
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_chat_gets_one_message_a_second() {
        let limiter = SendLimiter::new(SendLimits::TELEGRAM);
        let start = Instant::now();
        let slots: Vec<_> = (0..3).map(|_| limiter.reserve_chat(7, start)).collect();
        assert_eq!(slots[0], start);
        assert_eq!(slots[1], start + Duration::from_secs(1));
        assert_eq!(slots[2], start + Duration::from_secs(2));
        // Another chat is not delayed by the first.
        assert_eq!(limiter.reserve_chat(8, start), start);
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_gets_twenty_a_minute() {
        let limiter = SendLimiter::new(SendLimits::TELEGRAM);
        let start = Instant::now();
        let slots: Vec<_> = (0..25).map(|_| limiter.reserve_chat(-5, start)).collect();
        assert_eq!(slots[19], start + Duration::from_secs(19));
        // The 21st waits until the first leaves the minute's window.
        assert_eq!(slots[20], start + GROUP_WINDOW);
        for window in slots.windows(21) {
            assert!(window[20] - window[0] > Duration::from_secs(60));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn overall_thirty_a_second() {
        let limiter = SendLimiter::new(SendLimits::TELEGRAM);
        let start = Instant::now();
        let slots: Vec<_> = (0..31).map(|_| limiter.reserve_overall(start)).collect();
        assert!(slots[30] - slots[0] > Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_chats_are_forgotten() {
        let limiter = SendLimiter::new(SendLimits::TELEGRAM);
        let start = Instant::now();
        for chat in 0..SWEEP_AT as i64 {
            limiter.reserve_chat(chat + 1, start);
        }
        let later = start + GROUP_WINDOW + Duration::from_secs(1);
        limiter.reserve_chat(-1, later);
        assert_eq!(limiter.lock().chats.len(), 1);
    }
}
