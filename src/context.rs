//! What a handler works with: the shared state, the message being handled,
//! the reply helpers, and the resolver that decides which chat a chat
//! command acts on.

use std::sync::Arc;

use teloxide::payloads::SendMessageSetters;
use teloxide::prelude::*;
use teloxide::types::{
    InlineKeyboardMarkup, LinkPreviewOptions, MessageId, ParseMode, ReplyParameters, User,
};

use crate::auth::{AccessError, Auth, Role};
use crate::business::BusinessConnections;
use crate::commands::{Access, CommandSpec, ConnectionKind, Scope};
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
    pub pace: crate::pace::UserPace,
    /// `#name` answers per customer chat of a business connection.
    pub business_pace: crate::pace::UserPace,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl AppState {
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

    /// The sender's role in this group, from the admin cache.
    pub async fn group_role(&self) -> Result<Role, TelegramError> {
        if self.is_anonymous_admin() {
            return Ok(Role::Admin);
        }
        if self.is_foreign_chat_sender() {
            return Ok(Role::Member);
        }
        let admin = self
            .state
            .auth
            .is_admin_cached(self.msg.chat.id.0, self.user.id)
            .await?;
        Ok(if admin { Role::Admin } else { Role::Member })
    }

    pub fn chat_title(&self) -> String {
        self.msg.chat.title().unwrap_or_default().to_owned()
    }

    /// Explains to the user why their connection to `checked` failed its
    /// check (see [`connection_check_failed`]).
    pub async fn report_access_error(
        &self,
        error: AccessError,
        checked: &ConnectedChat,
        title: &str,
    ) -> HandlerResult {
        let user_id = self.user.id.0 as i64;
        let text = connection_check_failed(
            self.store(),
            self.lang,
            user_id,
            checked.space,
            title,
            error,
        )
        .await?;
        self.reply(text).await?;
        Ok(())
    }
}

/// What to tell a user whose connection to `checked` (titled `title`)
/// failed its check, as HTML. A definite denial ends that connection first,
/// so it is never left dangling (one made meanwhile, to another space, is
/// left alone); a Telegram failure changes nothing.
pub async fn connection_check_failed(
    store: &dyn Store,
    lang: Lang,
    user_id: i64,
    checked: Space,
    title: &str,
    error: AccessError,
) -> Result<String, HandlerError> {
    match error {
        AccessError::Denied(denial) => {
            store.disconnect_from(user_id, checked).await?;
            Ok(connection_ended(lang, title, denial.locale_key()))
        }
        AccessError::Telegram(error) => {
            tracing::warn!(%error, "Telegram could not answer an access check");
            Ok(t!(lang, "error-telegram-unavailable"))
        }
        AccessError::Store(error) => Err(error.into()),
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

/// Decides which space a space command acts on, and whether the sender may
/// run it there. Returns `None` after replying with the reason when not.
pub async fn resolve_target(
    ctx: &Ctx<'_>,
    spec: &'static CommandSpec,
) -> Result<Option<Target>, HandlerError> {
    let Scope::Space { access, via, .. } = spec.scope else {
        return Ok(None);
    };

    if !ctx.is_private() {
        let role = match access {
            // Anyone who can post in the group is a member of it.
            Access::Member => Role::Member,
            Access::Admin => ctx.group_role().await?,
        };
        if access == Access::Admin && role != Role::Admin {
            let text = if ctx.is_foreign_chat_sender() {
                t!(ctx.lang, "error-channel-sender")
            } else {
                t!(ctx.lang, "error-admins-only", command = spec.name)
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
        ctx.reply(t!(ctx.lang, "error-group-only", command = spec.name))
            .await?;
        return Ok(None);
    }
    let user_id = ctx.user.id.0 as i64;
    let Some((connection, allow_connect)) = ctx.store().current_connection_for_use(user_id).await?
    else {
        let text = match ended_connection_notice(ctx.store(), ctx.lang, user_id).await? {
            Some(notice) => notice,
            None => t!(ctx.lang, "error-not-connected", command = spec.name),
        };
        ctx.reply(text).await?;
        return Ok(None);
    };
    let title = connection_title(ctx.lang, &connection);
    if !via.accepts(connection_kind(connection.space)) {
        ctx.reply(t!(
            ctx.lang,
            "error-not-through-business",
            command = spec.name
        ))
        .await?;
        return Ok(None);
    }
    let upgrades = ctx.tg.upgrades_followed();
    let role = match ctx
        .state
        .auth
        .check_space(
            ctx.store(),
            connection.space,
            ctx.user.id,
            Some(allow_connect),
        )
        .await
    {
        Ok(role) => role,
        Err(error) => {
            ctx.report_access_error(error, &connection, &title).await?;
            return Ok(None);
        }
    };
    // The check found the group upgraded and moved its records: act on the
    // supergroup.
    let mut connection = connection;
    if ctx.tg.upgrades_followed() != upgrades
        && let Some(moved) = ctx.store().current_connection(user_id).await?
    {
        connection = moved;
    }
    if access == Access::Admin && role != Role::Admin {
        ctx.reply(t!(
            ctx.lang,
            "error-admins-only-in",
            command = spec.name,
            title = &title
        ))
        .await?;
        return Ok(None);
    }
    Ok(Some(Target {
        space: connection.space,
        title,
        role,
        via_connection: true,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Denial;
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
        let denied = AccessError::Denied(Denial::Banned);
        let text = connection_check_failed(store.as_ref(), Lang::En, user, old, "Old", denied)
            .await
            .unwrap();
        assert!(text.contains("Old"), "{text}");
        assert_eq!(store.current_connection(user).await.unwrap(), Some(new));

        let denied = AccessError::Denied(Denial::Banned);
        connection_check_failed(
            store.as_ref(),
            Lang::En,
            user,
            Space::Chat(-200),
            "New",
            denied,
        )
        .await
        .unwrap();
        assert_eq!(store.current_connection(user).await.unwrap(), None);
    }
}
