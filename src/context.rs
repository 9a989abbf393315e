//! What a handler works with: the shared state, the message being handled,
//! the reply helpers, and the resolver that decides which chat a chat
//! command acts on.

use std::sync::Arc;

use teloxide::payloads::SendMessageSetters;
use teloxide::prelude::*;
use teloxide::types::{
    InlineKeyboardMarkup, LinkPreviewOptions, MessageId, ParseMode, ReplyParameters, User, UserId,
};

use crate::auth::{AccessError, Auth, Denial, Right, Role, check_business};
use crate::business::{BusinessConnections, LiveConnection};
use crate::commands::{Access, ConnectionKind, Via};
pub use crate::error::{HandlerError, HandlerResult};
use crate::i18n::Lang;
use crate::payload::StartPayload;
use crate::store::{ConnectedChat, Space, Store};
use crate::t;
use crate::telegram::{Telegram, TelegramError};

/// Everything handlers share, injected into the handler tree.
pub struct AppState {
    pub telegram: Telegram,
    pub store: Arc<dyn Store>,
    pub auth: Auth,
    pub business: BusinessConnections,
    pub bot_username: String,
    /// getMe's `can_read_all_group_messages`: privacy mode is off.
    pub reads_all_group_messages: bool,
    pub pace: crate::pace::UserPace,
    /// `#name` answers per customer chat of a business connection.
    pub business_pace: crate::pace::UserPace,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What the user directory was last told, per group and user.
    pub directory: crate::directory::Seen,
    /// Each group's message guards, compiled.
    pub guards: crate::guards::GuardCache,
}

impl AppState {
    /// A group's compiled guards: from memory, or read (one query) and
    /// compiled on its first message since they changed.
    pub async fn chat_guards(
        &self,
        chat_id: i64,
    ) -> Result<Arc<crate::guards::ChatGuards>, crate::store::StoreError> {
        if let Some(guards) = self.guards.get(chat_id) {
            return Ok(guards);
        }
        let epoch = self.guards.epoch();
        let set = self.store.guards(chat_id).await?;
        let guards = Arc::new(crate::guards::ChatGuards::compile(set));
        self.guards.keep(chat_id, Arc::clone(&guards), epoch);
        Ok(guards)
    }

    /// An admin changed a group's guards: rebuilt here on its next message,
    /// and in every other castellan on the database.
    pub async fn guards_changed(&self, chat_id: i64) -> Result<(), crate::store::StoreError> {
        self.guards.invalidate(chat_id);
        self.store.announce_guards_changed(chat_id).await
    }

    /// `https://t.me/<bot>?start=<payload>`
    pub fn deep_link(&self, payload: &StartPayload) -> String {
        format!("https://t.me/{}?start={payload}", self.bot_username)
    }
}

/// One incoming message from a user, with what its handlers need.
pub struct Ctx<'a> {
    pub tg: &'a Telegram,
    pub state: &'a AppState,
    pub msg: &'a Message,
    pub user: &'a User,
    pub lang: Lang,
}

/// A group or a supergroup: where group commands and guards work.
pub fn is_group(chat: &teloxide::types::Chat) -> bool {
    chat.is_group() || chat.is_supergroup()
}

pub fn no_preview() -> LinkPreviewOptions {
    LinkPreviewOptions {
        is_disabled: true,
        url: None,
        prefer_small_media: false,
        prefer_large_media: false,
        show_above_text: false,
    }
}

/// Hands an HTML message for `chat` to the outbox, optionally as a reply,
/// with a keyboard, and returns at once: the outbox sends it in the chat's
/// turn (and logs a failure, since nobody waits for it). A text longer
/// than one message goes as several, in order.
/// Should Telegram fail in a way that may have lost it, the user is told
/// so, in `lang`.
pub fn send_html(
    tg: &Telegram,
    chat: ChatId,
    html: String,
    reply_to: Option<MessageId>,
    keyboard: Option<InlineKeyboardMarkup>,
    lang: Lang,
) -> Result<(), TelegramError> {
    send_html_as(tg, chat, html, reply_to, keyboard, Some(lang))
}

/// [`send_html`], for a message castellan sends on its own initiative.
pub fn send_html_unprompted(
    tg: &Telegram,
    chat: ChatId,
    html: String,
) -> Result<(), TelegramError> {
    send_html_as(tg, chat, html, None, None, None)
}

fn send_html_as(
    tg: &Telegram,
    chat: ChatId,
    html: String,
    reply_to: Option<MessageId>,
    keyboard: Option<InlineKeyboardMarkup>,
    // A reply (with a notice in this language), or unprompted.
    reply_lang: Option<Lang>,
) -> Result<(), TelegramError> {
    let mut parts = message_parts(html);
    let last = parts.pop().unwrap_or_default();
    let request_of = |text: String| {
        let request = teloxide::payloads::SendMessage::new(chat, text)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview());
        match reply_to {
            Some(id) => {
                request.reply_parameters(ReplyParameters::new(id).allow_sending_without_reply())
            }
            None => request,
        }
    };
    let queue = |request| match reply_lang {
        Some(lang) => {
            tg.send_or_notice(request, request_of(t!(lang, "error-telegram-unavailable")))
        }
        None => tg.send_unprompted(request),
    };
    for part in parts {
        queue(request_of(part))?;
    }
    let mut request = request_of(last);
    if let Some(keyboard) = keyboard {
        request = request.reply_markup(keyboard);
    }
    queue(request)?;
    Ok(())
}

/// An HTML text as the messages that carry it: one when it fits Telegram's
/// 4096 characters, else split at line boundaries with its formatting
/// valid in every part ([`crate::format::split_html`]).
pub fn message_parts(html: String) -> Vec<String> {
    if crate::format::visible_len(&html) <= crate::format::MESSAGE_LIMIT {
        return vec![html];
    }
    let parts = crate::format::split_html(&html, crate::format::MESSAGE_LIMIT);
    if parts.is_empty() { vec![html] } else { parts }
}

impl Ctx<'_> {
    pub fn is_private(&self) -> bool {
        self.msg.chat.is_private()
    }

    pub fn store(&self) -> &dyn Store {
        self.state.store.as_ref()
    }

    /// Replies in the chat the message came from; in groups as a reply to it.
    /// A text longer than one message is sent as several, in order.
    /// Returns once the reply is queued (see [`send_html`]).
    pub async fn reply(&self, html: String) -> Result<(), TelegramError> {
        self.reply_with(html, None).await
    }

    pub async fn reply_with(
        &self,
        html: String,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<(), TelegramError> {
        let reply_to = (!self.is_private()).then_some(self.msg.id);
        send_html(
            self.tg,
            self.msg.chat.id,
            html,
            reply_to,
            keyboard,
            self.lang,
        )
    }

    /// The group's anonymous admin: a message sent "as the group" itself.
    pub fn is_anonymous_admin(&self) -> bool {
        self.msg
            .sender_chat
            .as_ref()
            .is_some_and(|sender| sender.id == self.msg.chat.id)
    }

    /// Sent on behalf of some other chat (a linked channel, a channel the
    /// user posts as): such a sender has no rights in the group.
    pub fn is_foreign_chat_sender(&self) -> bool {
        self.msg
            .sender_chat
            .as_ref()
            .is_some_and(|sender| sender.id != self.msg.chat.id)
    }

    /// The sender's role in this group, from the admin cache. An
    /// anonymous admin's rights are unknown: they count as holding all,
    /// and what needs a person's rights asks one to confirm.
    pub async fn group_role(&self) -> Result<Role, TelegramError> {
        if self.is_anonymous_admin() {
            return Ok(Role::Admin(crate::auth::Rights::ALL));
        }
        if self.is_foreign_chat_sender() {
            return Ok(Role::Member);
        }
        let rights = self
            .state
            .auth
            .admin_rights(self.msg.chat.id.0, self.user.id)
            .await?;
        Ok(rights.map_or(Role::Member, Role::Admin))
    }

    pub fn chat_title(&self) -> String {
        self.msg.chat.title().unwrap_or_default().to_owned()
    }
}

/// What to tell a user who has no connection because it ended while they
/// were away (the bot was removed from the group); `None` when none did.
/// Said once: taking the notice forgets it.
pub async fn ended_connection_notice(
    store: &dyn Store,
    lang: Lang,
    user_id: i64,
) -> Result<Option<String>, HandlerError> {
    let Some(ended) = store.take_ended_connection(user_id).await? else {
        return Ok(None);
    };
    Ok(Some(connection_ended(
        lang,
        &ended.title,
        "ended-bot-removed",
    )))
}

/// "Your connection to <title> has ended: <reason>", as HTML.
fn connection_ended(lang: Lang, title: &str, reason_key: &str) -> String {
    let reason = crate::i18n::Html(t!(lang, reason_key));
    t!(lang, "connection-revoked", title = title, reason = reason)
}

/// What a connection's title shows: a group's stored title, or "your
/// business account" in the user's language.
pub fn connection_title(lang: Lang, chat: &ConnectedChat) -> String {
    match chat.space {
        Space::Chat(_) => chat.title.clone(),
        Space::Business(_) => crate::i18n::translate(lang, "business-account", None),
    }
}

/// The kind of connection a space is reached through.
pub fn connection_kind(space: Space) -> ConnectionKind {
    match space {
        Space::Chat(_) => ConnectionKind::Group,
        Space::Business(_) => ConnectionKind::Business,
    }
}

/// A connection that passed its check, as it stands now.
#[derive(Debug, Clone)]
pub struct Connected {
    /// The connected space: after a group's upgrade, the supergroup.
    pub chat: ConnectedChat,
    /// What the views show: the group's title, or "your business account".
    pub title: String,
    pub role: Role,
    /// For a business account: its connection as it stands.
    pub business: Option<LiveConnection>,
}

/// What the one connection check found: every use of a connection (a
/// command in PM, a page button, `/connection`) goes through
/// [`check_connection`], and its callers only word the outcome.
#[derive(Debug)]
pub enum ConnectionCheck {
    Usable(Connected),
    /// No connection. `ended` is the notice of one that ended while the
    /// user was away (said once: reading it forgot it).
    NotConnected {
        ended: Option<String>,
    },
    /// Connected to a kind of space this use does not work through.
    WrongKind {
        title: String,
    },
    /// A definite denial: the connection checked has ended, and `notice`
    /// says why (as HTML).
    Ended {
        notice: String,
    },
    /// Telegram could not answer: nothing was changed.
    Unavailable,
}

impl ConnectionCheck {
    /// What to tell the user when the check did not pass, as HTML;
    /// `command` names what they tried (for "not connected" and "not
    /// through a business account"), `not_connected` is said when they have
    /// no connection and none ended.
    pub fn refusal(
        self,
        lang: Lang,
        command: &str,
        not_connected: String,
    ) -> Result<Connected, String> {
        match self {
            ConnectionCheck::Usable(connected) => Ok(connected),
            ConnectionCheck::NotConnected { ended } => Err(ended.unwrap_or(not_connected)),
            ConnectionCheck::WrongKind { .. } => {
                Err(t!(lang, "error-not-through-business", command = command))
            }
            ConnectionCheck::Ended { notice } => Err(notice),
            ConnectionCheck::Unavailable => Err(t!(lang, "error-telegram-unavailable")),
        }
    }
}

/// The check of every use of a connection: the user's current connection,
/// of a kind `via` accepts (any kind when `None`), checked again live
/// (the user still a member or admin, the bot still there, the chat still
/// allowing members; a business account still connected and the user its
/// owner). A definite denial ends the connection it checked.
pub async fn check_connection(
    state: &AppState,
    user_id: UserId,
    lang: Lang,
    via: Option<Via>,
) -> Result<ConnectionCheck, HandlerError> {
    let store = state.store.as_ref();
    let user = user_id.0 as i64;
    let Some((current, allow_connect)) = store.current_connection_for_use(user).await? else {
        let ended = ended_connection_notice(store, lang, user).await?;
        return Ok(ConnectionCheck::NotConnected { ended });
    };
    let title = connection_title(lang, &current);
    if via.is_some_and(|via| !via.accepts(connection_kind(current.space))) {
        return Ok(ConnectionCheck::WrongKind { title });
    }
    let upgrades = state.telegram.upgrades_followed();
    let checked = match current.space {
        Space::Chat(chat_id) => state
            .auth
            .check_use_known(store, chat_id, user_id, Some(allow_connect))
            .await
            .map(|role| (role, None)),
        Space::Business(owner_id) => check_business(store, owner_id, user_id)
            .await
            .map(|live| (Role::Admin(crate::auth::Rights::ALL), Some(live))),
    };
    let (role, business) = match checked {
        Ok(checked) => checked,
        Err(AccessError::Denied(denial)) => {
            let notice =
                end_checked_connection(store, lang, user, current.space, &title, denial).await?;
            return Ok(ConnectionCheck::Ended { notice });
        }
        Err(AccessError::Telegram(error)) => {
            tracing::warn!(%error, "Telegram could not answer an access check");
            return Ok(ConnectionCheck::Unavailable);
        }
        Err(AccessError::Store(error)) => return Err(error.into()),
    };
    // The check found the group upgraded and moved its records: act on the
    // supergroup.
    let mut chat = current;
    if state.telegram.upgrades_followed() != upgrades
        && let Some(moved) = store.current_connection(user).await?
    {
        chat = moved;
    }
    Ok(ConnectionCheck::Usable(Connected {
        title: connection_title(lang, &chat),
        chat,
        role,
        business,
    }))
}

/// Ends the connection to `checked` after a definite denial (one made
/// meanwhile, to another space, is left alone) and says why, as HTML.
pub async fn end_checked_connection(
    store: &dyn Store,
    lang: Lang,
    user_id: i64,
    checked: Space,
    title: &str,
    denial: Denial,
) -> Result<String, HandlerError> {
    store.disconnect_from(user_id, checked).await?;
    Ok(connection_ended(lang, title, denial.locale_key()))
}

/// The space a space command acts on, and the sender's role there.
#[derive(Debug, Clone)]
pub struct Target {
    pub space: Space,
    pub title: String,
    pub role: Role,
    /// Sent in PM through a connection (replies go to the PM).
    pub via_connection: bool,
}

impl Target {
    /// The group a group-only command acts on. The registry routes such
    /// commands to groups only; should a business account reach one anyway,
    /// the user is told it has no such thing, and `None` returned.
    pub async fn group(&self, ctx: &Ctx<'_>, command: &str) -> Result<Option<i64>, HandlerError> {
        match self.space {
            Space::Chat(chat_id) => Ok(Some(chat_id)),
            Space::Business(_) => {
                ctx.reply(t!(
                    ctx.lang,
                    "error-not-through-business",
                    command = command
                ))
                .await?;
                Ok(None)
            }
        }
    }
}

/// "You need the right to … in <title>", as HTML.
pub fn lacks_right_text(lang: Lang, command: &str, title: &str, right: Right) -> String {
    let right = crate::i18n::Html(t!(lang, right.locale_key()));
    t!(
        lang,
        "error-lacks-right",
        command = command,
        title = title,
        right = right
    )
}

/// Decides which space a space command acts on, and whether the sender may
/// run it there. Returns `None` after replying with the reason when not.
pub async fn resolve_target(
    ctx: &Ctx<'_>,
    name: &str,
    access: Access,
    via: Via,
) -> Result<Option<Target>, HandlerError> {
    if !ctx.is_private() {
        let role = match access {
            // Anyone who can post in the group is a member of it.
            Access::Member => Role::Member,
            Access::Admin(_) => ctx.group_role().await?,
        };
        if let Access::Admin(right) = access
            && !role.holds(right)
        {
            let text = if ctx.is_foreign_chat_sender() {
                t!(ctx.lang, "error-channel-sender")
            } else if role.is_admin() {
                lacks_right_text(ctx.lang, name, &ctx.chat_title(), right)
            } else {
                t!(ctx.lang, "error-admins-only", command = name)
            };
            ctx.reply(text).await?;
            return Ok(None);
        }
        return Ok(Some(Target {
            space: Space::Chat(ctx.msg.chat.id.0),
            title: ctx.chat_title(),
            role,
            via_connection: false,
        }));
    }

    if !via.group && !via.business {
        ctx.reply(t!(ctx.lang, "error-group-only", command = name))
            .await?;
        return Ok(None);
    }
    let not_connected = t!(ctx.lang, "error-not-connected", command = name);
    let check = check_connection(ctx.state, ctx.user.id, ctx.lang, Some(via)).await?;
    let connected = match check.refusal(ctx.lang, name, not_connected) {
        Ok(connected) => connected,
        Err(text) => {
            ctx.reply(text).await?;
            return Ok(None);
        }
    };
    if let Access::Admin(right) = access
        && !connected.role.holds(right)
    {
        let text = if connected.role.is_admin() {
            lacks_right_text(ctx.lang, name, &connected.title, right)
        } else {
            t!(
                ctx.lang,
                "error-admins-only-in",
                command = name,
                title = &connected.title
            )
        };
        ctx.reply(text).await?;
        return Ok(None);
    }
    Ok(Some(Target {
        space: connected.chat.space,
        title: connected.title,
        role: connected.role,
        via_connection: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DatabaseUrl, open};

    /// A failed check ends the connection it checked, not one the user made
    /// while it ran (another update, another replica).
    #[tokio::test]
    async fn a_failed_check_ends_only_the_connection_it_checked() {
        let store = open(&DatabaseUrl::parse("sqlite::memory:").unwrap())
            .await
            .unwrap();
        let user = 7;
        let old = Space::Chat(-100);
        let new = ConnectedChat {
            space: Space::Chat(-200),
            title: "New".into(),
        };
        store.connect(user, &new).await.unwrap();
        let text =
            end_checked_connection(store.as_ref(), Lang::En, user, old, "Old", Denial::Banned)
                .await
                .unwrap();
        assert!(text.contains("Old"), "{text}");
        assert_eq!(store.current_connection(user).await.unwrap(), Some(new));

        end_checked_connection(
            store.as_ref(),
            Lang::En,
            user,
            Space::Chat(-200),
            "New",
            Denial::Banned,
        )
        .await
        .unwrap();
        assert_eq!(store.current_connection(user).await.unwrap(), None);
    }
}
