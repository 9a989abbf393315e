//! Each user's pace: commands and button presses cost Telegram calls, so a
//! user sending them faster than a person would (`/connect` in a loop) is
//! slowed down with one reply, then ignored until their budget refills.
//!
//! A token bucket per user, in this process: with several replicas each
//! keeps its own, which makes the limit looser, never wrong.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Commands a user may send in a burst.
pub const BURST: u32 = 10;
/// One more command is allowed every this long.
pub const REFILL: Duration = Duration::from_millis(1500);
/// Past this many users tracked, those with a full bucket are dropped.
const SWEEP_AT: usize = 10_000;

/// What to do with a user's command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    Serve,
    /// Too fast: tell them once how long to wait.
    SlowDown {
        wait: Duration,
    },
    /// Too fast, and already told.
    Ignore,
}

struct Bucket {
    /// Commands still allowed, as of `at`.
    tokens: f64,
    at: Instant,
    told: bool,
}

/// `#name` answers a business may send one customer chat in a burst...
pub const BUSINESS_BURST: u32 = 3;
/// ...and one more every this long: a handful a minute, so a customer who
/// floods `#name`s never floods the owner's account.
pub const BUSINESS_REFILL: Duration = Duration::from_secs(10);

pub struct UserPace {
    enabled: bool,
    burst: u32,
    refill: Duration,
    buckets: Mutex<HashMap<u64, Bucket>>,
}

impl UserPace {
    /// A person's pace ([`BURST`], [`REFILL`]); `enabled: false` serves
    /// everyone (test scripts, benchmarks).
    pub fn new(enabled: bool) -> Self {
        Self::with_budget(enabled, BURST, REFILL)
    }

    /// `burst` at once, then one every `refill`.
    pub fn with_budget(enabled: bool, burst: u32, refill: Duration) -> Self {
        Self {
            enabled,
            burst,
            refill,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one command from `user_id`'s budget (any key: a user's id, a
    /// chat's id as `u64`, a hash).
    pub fn take(&self, user_id: u64) -> Pace {
        if !self.enabled {
            return Pace::Serve;
        }
        self.take_at(user_id, Instant::now())
    }

    fn take_at(&self, user_id: u64, now: Instant) -> Pace {
        let rate = 1.0 / self.refill.as_secs_f64();
        let burst = f64::from(self.burst);
        let refilled = |bucket: &Bucket| {
            (bucket.tokens + now.saturating_duration_since(bucket.at).as_secs_f64() * rate)
                .min(burst)
        };
        // The map stays consistent whatever a holder did: recover a poison.
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_AT {
            buckets.retain(|_, bucket| refilled(bucket) < burst);
        }
        let bucket = buckets.entry(user_id).or_insert(Bucket {
            tokens: burst,
            at: now,
            told: false,
        });
        bucket.tokens = refilled(bucket);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            bucket.told = false;
            return Pace::Serve;
        }
        if bucket.told {
            return Pace::Ignore;
        }
        bucket.told = true;
        let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
        Pace::SlowDown { wait }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_then_one_notice_then_silence_then_service_again() {
        let pace = UserPace::new(true);
        let start = Instant::now();
        for _ in 0..BURST {
            assert_eq!(pace.take_at(1, start), Pace::Serve);
        }
        assert!(matches!(pace.take_at(1, start), Pace::SlowDown { wait } if wait <= REFILL));
        assert_eq!(pace.take_at(1, start), Pace::Ignore);
        // Another user is not affected.
        assert_eq!(pace.take_at(2, start), Pace::Serve);
        assert_eq!(pace.take_at(1, start + REFILL), Pace::Serve);
        assert!(matches!(
            pace.take_at(1, start + REFILL),
            Pace::SlowDown { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_person_pace_is_never_slowed() {
        let pace = UserPace::new(true);
        let start = Instant::now();
        for i in 0..100u32 {
            assert_eq!(pace.take_at(1, start + REFILL * i), Pace::Serve);
        }
    }
}
