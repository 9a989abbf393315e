//! What a command needs, in words every layer below the modules shares:
//! who may use it ([`Access`]), through which connections ([`Via`]), and how
//! a message names a command ([`split`]). The commands themselves are
//! declared by their modules (`crate::modules::registry`).

use crate::auth::Right;

/// Who may use a command on a space. Judged in the target space, never in PM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Members of the chat (and its admins).
    Member,
    /// The chat's creator and administrators holding this right; a business
    /// account's owner.
    Admin(Right),
}

impl Access {
    pub fn is_admin(self) -> bool {
        matches!(self, Access::Admin(_))
    }
}

/// The kinds of connection a space command works through, from PM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via {
    /// A connection to a group.
    pub group: bool,
    /// A connection to the sender's own Telegram Business account.
    pub business: bool,
}

impl Via {
    pub const GROUP: Via = Via {
        group: true,
        business: false,
    };
    pub const GROUP_AND_BUSINESS: Via = Via {
        group: true,
        business: true,
    };

    pub fn accepts(self, kind: ConnectionKind) -> bool {
        match kind {
            ConnectionKind::Group => self.group,
            ConnectionKind::Business => self.business,
        }
    }
}

/// What a PM can be connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    Group,
    Business,
}

/// A command word in a message: `/name@bot args`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandWord<'a> {
    /// The name as typed, without the slash or the bot's username.
    pub name: &'a str,
    /// Everything after the command and one run of white space, untrimmed at
    /// the end so saved texts keep their shape.
    pub args: &'a str,
    /// Byte offset of `args` in the message text.
    pub args_offset: usize,
}

/// Splits a command addressed to this bot (or to no bot in particular) off
/// a text. `/cmd@other_bot` is not ours.
pub fn split<'a>(text: &'a str, bot_username: &str) -> Option<CommandWord<'a>> {
    let body = text.strip_prefix('/')?;
    let end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
    let word = &body[..end];
    let name = match word.split_once('@') {
        Some((name, target)) if target.eq_ignore_ascii_case(bot_username) => name,
        Some(_) => return None,
        None => word,
    };
    let rest = &body[end..];
    let trimmed = rest.trim_start();
    let args_offset = 1 + end + (rest.len() - trimmed.len());
    Some(CommandWord {
        name,
        args: trimmed,
        args_offset,
    })
}
