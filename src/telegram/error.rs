//! What a failed Telegram call means, decided once from Telegram's answer:
//! the HTTP status and `error_code` it sent and teloxide's typed reading of
//! the description (`ApiError`), never from matching error text here.

use teloxide::ApiError;

/// Why Telegram refused a call: a definite answer that repeating the call
/// will not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The chat does not exist, is deactivated, or is hidden from the bot.
    ChatNotFound,
    /// The bot was removed from the group or channel, or never joined it.
    BotNotInChat,
    /// The bot is in the chat but lacks the rights for this.
    BotLacksRights,
    /// The user blocked the bot, deleted their account or never started it.
    UserBlockedBot,
    /// The user is not known in the chat asked about.
    UserNotFound,
    /// The member cannot be banned or restricted: an administrator, the
    /// chat's creator, or the bot itself.
    ProtectedMember,
    /// The method works in supergroups only (a basic group keeps no ban
    /// list and no member permissions).
    SupergroupOnly,
    /// An edit that changes nothing (a button pressed twice).
    NotModified,
    /// The message to edit is gone or too old to edit.
    MessageGone,
    /// A button press answered too late, or twice.
    QueryExpired,
    /// The token is not (or no longer) a bot's.
    InvalidToken,
    /// Another castellan polls with the same token.
    Conflict,
    /// The group became a supergroup (only seen when following it failed).
    Migrated(i64),
    /// Anything else Telegram refused (a bug of castellan, most likely).
    Other,
}

/// A failed Telegram call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TelegramError {
    /// Telegram could not be reached, did not answer in time, failed (5xx)
    /// or kept asking to wait: nothing is known, trying later may work.
    #[error("{method}: Telegram is unavailable ({detail})")]
    Unavailable {
        method: &'static str,
        detail: String,
    },
    /// Telegram asked to wait longer than the call could.
    #[error("{method}: Telegram asks to wait {retry_after:?}")]
    RateLimited {
        method: &'static str,
        retry_after: std::time::Duration,
    },
    /// Telegram answered and refused.
    #[error("{method}: Telegram refused ({code}): {description}")]
    Refused {
        method: &'static str,
        code: u16,
        refusal: Refusal,
        description: String,
    },
    /// The message was never sent: see the reason.
    #[error("{method}: not sent ({})", reason.label())]
    Dropped {
        method: &'static str,
        reason: super::outbox::DropReason,
    },
    /// Telegram answered something castellan cannot read.
    #[error("{method}: unreadable answer from Telegram ({detail})")]
    Unreadable {
        method: &'static str,
        detail: String,
    },
}

impl TelegramError {
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            TelegramError::Refused { refusal, .. } => Some(*refusal),
            _ => None,
        }
    }

    /// The method that failed, in Telegram's spelling.
    pub fn method(&self) -> &'static str {
        match self {
            TelegramError::Unavailable { method, .. }
            | TelegramError::RateLimited { method, .. }
            | TelegramError::Refused { method, .. }
            | TelegramError::Unreadable { method, .. }
            | TelegramError::Dropped { method, .. } => method,
        }
    }

    /// Nothing is known: trying later may work.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            TelegramError::Unavailable { .. } | TelegramError::RateLimited { .. }
        )
    }

    /// How long Telegram asked to wait, when it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            TelegramError::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Classifies a 4xx answer. `chat_id` is the chat the call addressed, if
/// any: a 403 about a private chat (positive id) means the user shut the bot
/// out, about a group or channel that the bot is not in it.
pub fn classify(code: u16, api: &ApiError, chat_id: Option<i64>) -> Refusal {
    use ApiError as E;
    match api {
        E::ChatNotFound | E::GroupDeactivated => Refusal::ChatNotFound,
        E::BotKicked | E::BotKickedFromSupergroup | E::BotKickedFromChannel => {
            Refusal::BotNotInChat
        }
        E::BotBlocked | E::UserDeactivated | E::CantInitiateConversation | E::CantTalkWithBots => {
            Refusal::UserBlockedBot
        }
        E::UserNotFound => Refusal::UserNotFound,
        E::CantRestrictSelf | E::CantDemoteChatCreator => Refusal::ProtectedMember,
        // teloxide has no variant for these two: read them here, the one
        // place Telegram's answers are classified.
        E::Unknown(text)
            if text == "Bad Request: user is an administrator of the chat"
                || text == "Bad Request: can't remove chat owner"
                || text == "Bad Request: can't restrict chat owner" =>
        {
            Refusal::ProtectedMember
        }
        E::Unknown(text)
            if text == "Bad Request: PARTICIPANT_ID_INVALID"
                || text == "Bad Request: USER_NOT_PARTICIPANT" =>
        {
            Refusal::UserNotFound
        }
        E::MethodNotAvailableInPrivateChats => Refusal::SupergroupOnly,
        E::Unknown(text)
            if text == "Bad Request: method is available only for supergroups"
                || text
                    == "Bad Request: method is available for supergroup and channel chats only" =>
        {
            Refusal::SupergroupOnly
        }
        E::NotEnoughRightsToPinMessage
        | E::NotEnoughRightsToManagePins
        | E::NotEnoughRightsToChangeChatPermissions
        | E::NotEnoughRightsToRestrict
        | E::NotEnoughRightsToPostMessages => Refusal::BotLacksRights,
        E::MessageNotModified => Refusal::NotModified,
        E::MessageToEditNotFound | E::MessageCantBeEdited | E::MessageIdInvalid => {
            Refusal::MessageGone
        }
        E::InvalidQueryId => Refusal::QueryExpired,
        E::InvalidToken => Refusal::InvalidToken,
        E::TerminatedByOtherGetUpdates => Refusal::Conflict,
        _ => match code {
            401 => Refusal::InvalidToken,
            403 => match chat_id {
                Some(id) if id > 0 => Refusal::UserBlockedBot,
                Some(_) => Refusal::BotNotInChat,
                None => Refusal::Other,
            },
            409 => Refusal::Conflict,
            _ => Refusal::Other,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(description: &str) -> ApiError {
        serde_json::from_value(serde_json::Value::String(description.into())).unwrap()
    }

    #[test]
    fn typed_errors_are_classified() {
        let cases = [
            (
                400,
                "Bad Request: chat not found",
                None,
                Refusal::ChatNotFound,
            ),
            (
                403,
                "Forbidden: bot was kicked from the supergroup chat",
                Some(-100),
                Refusal::BotNotInChat,
            ),
            (
                403,
                "Forbidden: bot was blocked by the user",
                Some(5),
                Refusal::UserBlockedBot,
            ),
            (
                400,
                "Bad Request: user not found",
                None,
                Refusal::UserNotFound,
            ),
            (
                400,
                "Bad Request: query is too old and response timeout expired or query id is invalid",
                None,
                Refusal::QueryExpired,
            ),
            (401, "Unauthorized", None, Refusal::InvalidToken),
            (
                400,
                "Bad Request: user is an administrator of the chat",
                Some(-100),
                Refusal::ProtectedMember,
            ),
            (
                400,
                "Bad Request: can't remove chat owner",
                Some(-100),
                Refusal::ProtectedMember,
            ),
            (
                400,
                "Bad Request: method is available only for supergroups",
                Some(-100),
                Refusal::SupergroupOnly,
            ),
            (
                400,
                "Bad Request: can't restrict self",
                Some(-100),
                Refusal::ProtectedMember,
            ),
            (
                400,
                "Bad Request: not enough rights to restrict/unrestrict chat member",
                Some(-100),
                Refusal::BotLacksRights,
            ),
        ];
        for (code, description, chat, expected) in cases {
            assert_eq!(
                classify(code, &api(description), chat),
                expected,
                "{description}"
            );
        }
    }

    #[test]
    fn unknown_forbidden_is_read_from_the_chat_kind() {
        let text = api("Forbidden: bot is not a member of the group chat");
        assert!(matches!(text, ApiError::Unknown(_)));
        assert_eq!(classify(403, &text, Some(-42)), Refusal::BotNotInChat);
        let text = api("Forbidden: some new reason");
        assert_eq!(classify(403, &text, Some(42)), Refusal::UserBlockedBot);
        let text = api("Bad Request: something new");
        assert_eq!(classify(400, &text, Some(-42)), Refusal::Other);
    }
}
