//! Telegram's per-chat send limits (its bot FAQ): about one message per
//! second in a chat, 20 per minute in a group. The outbox
//! ([`super::outbox`]) keeps to them.

use std::time::Duration;

/// The per-chat limits a castellan process keeps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendLimits {
    /// At least this long between two messages to one chat.
    pub per_chat_interval: Duration,
    /// At most this many messages to one group in [`GROUP_WINDOW`].
    pub per_group_per_minute: usize,
}

/// Telegram's minute, and a second more: a send goes out a little after its
/// turn, and the margin keeps 21 of them out of any minute.
pub const GROUP_WINDOW: Duration = Duration::from_secs(61);

impl SendLimits {
    /// Telegram's published per-chat limits.
    pub const TELEGRAM: SendLimits = SendLimits {
        per_chat_interval: Duration::from_secs(1),
        per_group_per_minute: 20,
    };
}
