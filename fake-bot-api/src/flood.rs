//! Telegram's flood limits on sending messages (opt-in, see
//! `FakeTelegram::enforce_flood_limits`), and an optional overall limit
//! (`FakeTelegram::enforce_overall_limit`).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::world::Place;

/// One chat: one message per second sustained...
const CHAT_INTERVAL: Duration = Duration::from_secs(1);
/// ...with bursts of up to this many messages.
const CHAT_BURST: u32 = 3;
/// One group or supergroup: at most `GROUP_MAX` messages in any
/// `GROUP_WINDOW`.
const GROUP_WINDOW: Duration = Duration::from_secs(60);
const GROUP_MAX: usize = 20;
/// The window of the overall limit: at most N sends in any second.
const OVERALL_WINDOW: Duration = Duration::from_secs(1);

/// Whether a method posts a message (and so counts for the limits).
pub(crate) fn is_message_send(method: &str) -> bool {
    const NOT_MESSAGES: &[&str] = &["sendChatAction", "sendGift", "sendChatJoinRequestWebApp"];
    let posts = method.starts_with("send")
        || matches!(
            method,
            "forwardMessage" | "forwardMessages" | "copyMessage" | "copyMessages"
        );
    posts && !method.ends_with("Draft") && !NOT_MESSAGES.contains(&method)
}

/// Whether a method edits a message (and so counts for the per-chat and
/// per-group limits, not for the overall one). Only the forms naming a
/// chat and a message count, not those with `inline_message_id`: the
/// caller checks the parameters.
pub(crate) fn is_message_edit(method: &str) -> bool {
    matches!(
        method,
        "editMessageText" | "editMessageCaption" | "editMessageMedia" | "editMessageReplyMarkup"
    )
}

#[derive(Debug, Default)]
struct ChatFlood {
    /// Theoretical arrival time of the token bucket (GCRA): a message is
    /// allowed when `now + (CHAT_BURST - 1) * CHAT_INTERVAL >= tat`.
    tat: Option<Instant>,
    /// Sends within the last `GROUP_WINDOW` (groups and supergroups only).
    recent: VecDeque<Instant>,
}

/// The sends and edits counted so far, per chat.
#[derive(Debug, Default)]
pub(crate) struct Flood {
    chats: HashMap<Place, ChatFlood>,
}

/// The overall limit: at most `per_second` sends in any second, all chats
/// together.
#[derive(Debug)]
pub(crate) struct Overall {
    per_second: usize,
    recent: VecDeque<Instant>,
}

fn prune(q: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while q.front().is_some_and(|t| *t + window <= now) {
        q.pop_front();
    }
}

/// How long until the oldest of the last `max` sends of `q` leaves the
/// window (zero when fewer than `max` are in it).
fn window_wait(q: &VecDeque<Instant>, max: usize, window: Duration, now: Instant) -> Duration {
    if q.len() < max {
        return Duration::ZERO;
    }
    (q[q.len() - max] + window).saturating_duration_since(now)
}

/// Whole seconds to wait, at least 1 (Telegram's `retry_after`).
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl Flood {
    /// How long a send to `place` must wait at `now` (None = allowed now).
    /// `group`: the place is a group or supergroup.
    pub fn wait(&mut self, place: Place, group: bool, now: Instant) -> Option<Duration> {
        let mut wait = Duration::ZERO;
        if let Some(c) = self.chats.get_mut(&place) {
            if let Some(tat) = c.tat {
                let tolerance = CHAT_INTERVAL * (CHAT_BURST - 1);
                wait = wait.max(tat.saturating_duration_since(now + tolerance));
            }
            if group {
                prune(&mut c.recent, GROUP_WINDOW, now);
                wait = wait.max(window_wait(&c.recent, GROUP_MAX, GROUP_WINDOW, now));
            }
        }
        (!wait.is_zero()).then_some(wait)
    }

    /// Counts a send to `place` at `now`.
    pub fn note(&mut self, place: Place, group: bool, now: Instant) {
        let c = self.chats.entry(place).or_default();
        c.tat = Some(c.tat.map_or(now, |t| t.max(now)) + CHAT_INTERVAL);
        if group {
            c.recent.push_back(now);
        }
    }
}

impl Overall {
    pub fn new(per_second: u32) -> Overall {
        Overall {
            per_second: per_second as usize,
            recent: VecDeque::new(),
        }
    }

    /// How long a send must wait at `now` (None = allowed now).
    pub fn wait(&mut self, now: Instant) -> Option<Duration> {
        prune(&mut self.recent, OVERALL_WINDOW, now);
        if self.per_second == 0 {
            // Nothing is ever allowed: a second at a time.
            return Some(OVERALL_WINDOW);
        }
        let wait = window_wait(&self.recent, self.per_second, OVERALL_WINDOW, now);
        (!wait.is_zero()).then_some(wait)
    }

    /// Counts a send at `now`.
    pub fn note(&mut self, now: Instant) {
        self.recent.push_back(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Sends at `t0 + at` while allowed; returns the wait of a refused one.
    fn send(f: &mut Flood, place: Place, group: bool, now: Instant) -> Option<Duration> {
        match f.wait(place, group, now) {
            None => {
                f.note(place, group, now);
                None
            }
            w => w,
        }
    }

    #[test]
    fn methods_that_post_messages() {
        for m in [
            "sendMessage",
            "sendPhoto",
            "sendMediaGroup",
            "sendPoll",
            "copyMessage",
            "forwardMessages",
        ] {
            assert!(is_message_send(m), "{m}");
        }
        for m in [
            "sendChatAction",
            "sendMessageDraft",
            "sendRichMessageDraft",
            "sendGift",
            "editMessageText",
            "getMe",
        ] {
            assert!(!is_message_send(m), "{m}");
        }
        for m in [
            "editMessageText",
            "editMessageCaption",
            "editMessageMedia",
            "editMessageReplyMarkup",
        ] {
            assert!(is_message_edit(m) && !is_message_send(m), "{m}");
        }
        for m in ["editMessageLiveLocation", "sendMessage", "deleteMessage"] {
            assert!(!is_message_edit(m), "{m}");
        }
    }

    #[test]
    fn one_chat_bursts_three_then_one_per_second() {
        let mut f = Flood::default();
        let t0 = Instant::now();
        let chat = Place::Chat(1);
        for _ in 0..3 {
            assert_eq!(send(&mut f, chat, false, t0), None);
        }
        assert_eq!(send(&mut f, chat, false, t0), Some(ms(1000)));
        assert_eq!(send(&mut f, chat, false, t0 + ms(400)), Some(ms(600)));
        assert_eq!(retry_after_secs(ms(600)), 1);
        // Another chat is not affected.
        assert_eq!(send(&mut f, Place::Chat(2), false, t0), None);
        assert_eq!(send(&mut f, chat, false, t0 + ms(1000)), None);
        assert_eq!(send(&mut f, chat, false, t0 + ms(1500)), Some(ms(500)));
        assert_eq!(send(&mut f, chat, false, t0 + ms(2000)), None);
        // After a pause the burst is available again, never more.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(send(&mut f, chat, false, later), None);
        }
        assert!(send(&mut f, chat, false, later).is_some());
        // A business chat counts apart from the private chat.
        let business = Place::Business {
            owner: 7,
            customer: 1,
        };
        assert_eq!(send(&mut f, business, false, later), None);
    }

    #[test]
    fn a_group_takes_twenty_a_minute() {
        let mut f = Flood::default();
        let t0 = Instant::now();
        let group = Place::Chat(-5);
        // One per second: the chat limit never bites.
        for i in 0..20 {
            assert_eq!(send(&mut f, group, true, t0 + ms(1000 * i)), None, "{i}");
        }
        // The 21st within the minute of the first waits for the first to
        // leave the window (t0 + 60 s).
        assert_eq!(send(&mut f, group, true, t0 + ms(20_000)), Some(ms(40_000)));
        assert_eq!(send(&mut f, group, true, t0 + ms(59_500)), Some(ms(500)));
        assert_eq!(send(&mut f, group, true, t0 + ms(60_000)), None);
        // Not a group (e.g. a channel): only the chat limit.
        let channel = Place::Chat(-6);
        for i in 0..25 {
            assert_eq!(send(&mut f, channel, false, t0 + ms(1000 * i)), None);
        }
    }

    #[test]
    fn no_overall_limit_among_the_chat_limits() {
        let mut f = Flood::default();
        let t0 = Instant::now();
        for chat in 0..100 {
            assert_eq!(send(&mut f, Place::Chat(chat), false, t0), None);
        }
    }

    /// Sends at `now` while the overall limit allows; returns the wait of a
    /// refused one.
    fn send_overall(o: &mut Overall, now: Instant) -> Option<Duration> {
        match o.wait(now) {
            None => {
                o.note(now);
                None
            }
            w => w,
        }
    }

    #[test]
    fn n_a_second_overall() {
        let mut o = Overall::new(30);
        let t0 = Instant::now();
        for _ in 0..30 {
            assert_eq!(send_overall(&mut o, t0 + ms(10)), None);
        }
        assert_eq!(send_overall(&mut o, t0 + ms(500)), Some(ms(510)));
        assert_eq!(retry_after_secs(ms(510)), 1);
        assert_eq!(send_overall(&mut o, t0 + ms(1010)), None);
        assert_eq!(retry_after_secs(ms(2001)), 3);
        assert_eq!(retry_after_secs(ms(2000)), 2);

        let mut two = Overall::new(2);
        assert_eq!(send_overall(&mut two, t0), None);
        assert_eq!(send_overall(&mut two, t0 + ms(300)), None);
        assert_eq!(send_overall(&mut two, t0 + ms(600)), Some(ms(400)));
        assert_eq!(send_overall(&mut two, t0 + ms(1000)), None);
        assert_eq!(send_overall(&mut two, t0 + ms(1100)), Some(ms(200)));

        let mut none = Overall::new(0);
        assert_eq!(send_overall(&mut none, t0), Some(ms(1000)));
    }
}
