//! The user directory's memory of itself: per (group, user), the names
//! castellan last wrote, so that a message from a user already known with
//! the same names costs nothing (no query on the chatter path), and one
//! that brings a change costs one write.
//!
//! Each replica remembers only what it wrote. Another replica may have
//! written newer names since; an entry is therefore trusted for
//! [`TRUSTED_FOR`] only, after which the next message writes again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use teloxide::types::User;

use crate::store::KnownUser;

/// How long a written entry is trusted to match the database.
pub const TRUSTED_FOR: Duration = Duration::from_secs(60 * 60);
/// Bounds the memory: past this many entries, old ones are swept, and
/// should that not be enough, all are forgotten (which costs one write
/// per user met again, nothing worse).
const MAX_ENTRIES: usize = 200_000;

#[derive(Default)]
pub struct Seen {
    written: Mutex<HashMap<(i64, u64), (u64, Instant)>>,
}

fn fingerprint(user: &User) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (&user.username, &user.first_name, &user.last_name).hash(&mut hasher);
    hasher.finish()
}

/// The directory's row for a Telegram user.
pub fn known_user(user: &User) -> KnownUser {
    KnownUser {
        id: user.id.0 as i64,
        username: user.username.clone(),
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
    }
}

impl Seen {
    /// Whether `user` in `chat_id` is news to the directory. No lock is
    /// held beyond the lookup.
    pub fn is_news(&self, chat_id: i64, user: &User) -> bool {
        if user.is_bot || crate::telegram::is_stand_in(user.id.0) {
            return false;
        }
        let written = self.lock();
        match written.get(&(chat_id, user.id.0)) {
            Some((print, at)) => *print != fingerprint(user) || at.elapsed() >= TRUSTED_FOR,
            None => true,
        }
    }

    /// `user` in `chat_id` was written as they are now.
    pub fn wrote(&self, chat_id: i64, user: &User) {
        let mut written = self.lock();
        if written.len() >= MAX_ENTRIES {
            written.retain(|_, (_, at)| at.elapsed() < TRUSTED_FOR);
            if written.len() >= MAX_ENTRIES {
                written.clear();
            }
        }
        written.insert((chat_id, user.id.0), (fingerprint(user), Instant::now()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(i64, u64), (u64, Instant)>> {
        self.written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, username: Option<&str>, first: &str) -> User {
        User {
            id: teloxide::types::UserId(id),
            is_bot: false,
            first_name: first.into(),
            last_name: None,
            username: username.map(Into::into),
            language_code: None,
            is_premium: false,
            added_to_attachment_menu: false,
        }
    }

    #[test]
    fn only_changes_are_news() {
        let seen = Seen::default();
        let ann = user(7, Some("ann"), "Ann");
        assert!(seen.is_news(-1, &ann));
        seen.wrote(-1, &ann);
        assert!(!seen.is_news(-1, &ann));
        assert!(seen.is_news(-2, &ann), "another group");
        assert!(seen.is_news(-1, &user(7, Some("ann_2"), "Ann")), "renamed");
        assert!(
            !seen.is_news(-1, &user(1087968824, None, "Group")),
            "a stand-in"
        );
        let mut bot = user(8, Some("a_bot"), "Bot");
        bot.is_bot = true;
        assert!(!seen.is_news(-1, &bot));
    }
}
