//! Connections: a user connects their PM with the bot to a group, and chat
//! commands sent in PM then act on that group.
//!
//! Every way in (`/connect <chat>`, the deep link, `/reconnect`, the history
//! buttons) goes through [`Auth::check_connect`](crate::auth::Auth::check_connect),
//! and every later use through `check_use`: a user who no longer passes is
//! disconnected and told why. The connection is stored before any reply
//! says it exists.

use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Recipient};

use crate::Bot;
use crate::auth::{AccessError, Denial, GroupChat, Role};
use crate::commands::{self, Access};
use crate::context::{AppState, Ctx, HandlerResult, Target, connection_check_failed};
use crate::i18n::{Html, Lang};
use crate::modules::misc::url_keyboard;
use crate::modules::{answer, edit_or_send};
use crate::store::ConnectedChat;
use crate::t;

/// The largest magnitude a Telegram chat id has (channels and supergroups
/// are `-100…` followed by up to 10 digits; see Bot API "Chat.id").
const MAX_CHAT_ID_MAGNITUDE: i64 = 1_999_999_999_999;

/// What `/connect` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatRef {
    Id(i64),
    Username(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRefError {
    /// Not a number, not an @username.
    Invalid,
    /// A number, but no Telegram chat has it.
    OutOfRange,
    /// A positive id: a user or their private chat, never a group.
    NotAGroupId,
    /// `@` with nothing (valid) after it.
    BadUsername,
}

impl ChatRefError {
    fn locale_key(self) -> &'static str {
        match self {
            ChatRefError::Invalid => "connect-bad-chat",
            ChatRefError::OutOfRange => "connect-id-out-of-range",
            ChatRefError::NotAGroupId => "connect-positive-id",
            ChatRefError::BadUsername => "connect-bad-username",
        }
    }
}

pub fn parse_chat_ref(input: &str) -> Result<ChatRef, ChatRefError> {
    let input = input.trim();
    if let Some(name) = input.strip_prefix('@') {
        let valid = (4..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if valid {
            Ok(ChatRef::Username(name.to_owned()))
        } else {
            Err(ChatRefError::BadUsername)
        };
    }
    let digits = input.strip_prefix('-').unwrap_or(input);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ChatRefError::Invalid);
    }
    // Anything longer than 13 digits is out of range whatever i64 says.
    let magnitude: i64 = match digits.parse() {
        Ok(value) if digits.len() <= 13 => value,
        _ => return Err(ChatRefError::OutOfRange),
    };
    if magnitude == 0 || magnitude > MAX_CHAT_ID_MAGNITUDE {
        return Err(ChatRefError::OutOfRange);
    }
    if !input.starts_with('-') {
        return Err(ChatRefError::NotAGroupId);
    }
    Ok(ChatRef::Id(-magnitude))
}

impl ChatRef {
    fn recipient(&self) -> Recipient {
        match self {
            ChatRef::Id(id) => Recipient::Id(ChatId(*id)),
            ChatRef::Username(name) => Recipient::ChannelUsername(format!("@{name}")),
        }
    }
}

/// The connected view: who you are connected to, and the command lists.
fn connected_view(
    lang: Lang,
    key: &str,
    title: &str,
    role: Role,
) -> (String, InlineKeyboardMarkup) {
    let mut rows = Vec::new();
    if role == Role::Admin {
        rows.push(vec![InlineKeyboardButton::callback(
            t!(lang, "button-admin-commands"),
            "connbtns.Admin",
        )]);
    }
    rows.push(vec![InlineKeyboardButton::callback(
        t!(lang, "button-user-commands"),
        "connbtns.User",
    )]);
    let role_text = t!(
        lang,
        if role == Role::Admin {
            "role-admin"
        } else {
            "role-member"
        }
    );
    let text = t!(lang, key, title = title, role = Html(role_text));
    (text, InlineKeyboardMarkup::new(rows))
}

/// A command list from the registry, one command per line.
fn command_list(lang: Lang, title: &str, access: Access) -> (String, InlineKeyboardMarkup) {
    let lines: Vec<String> = commands::connection_commands(access)
        .map(|spec| spec.describe(lang))
        .collect();
    let key = match access {
        Access::Admin => "connbtns-admin-list",
        Access::Member => "connbtns-user-list",
    };
    let text = t!(lang, key, title = title, commands = Html(lines.join("\n")));
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback(
        t!(lang, "button-back"),
        "connbtns.Main",
    )]]);
    (text, keyboard)
}

enum Outcome {
    Connected(GroupChat, Role),
    Refused(AccessError),
}

/// The one way a connection is made: full check, then stored, then told.
async fn try_connect(
    state: &AppState,
    user_id: UserId,
    chat: Recipient,
) -> Result<Outcome, crate::store::StoreError> {
    match state
        .auth
        .check_connect(state.store.as_ref(), chat, user_id)
        .await
    {
        Ok((group, role)) => {
            state
                .store
                .connect(
                    user_id.0 as i64,
                    &ConnectedChat {
                        chat_id: group.id,
                        chat_title: group.title.clone(),
                    },
                )
                .await?;
            tracing::debug!(user = user_id.0, chat = group.id, ?role, "connected");
            Ok(Outcome::Connected(group, role))
        }
        Err(AccessError::Store(error)) => Err(error),
        Err(error) => Ok(Outcome::Refused(error)),
    }
}

fn refusal_text(lang: Lang, error: &AccessError) -> String {
    match error {
        AccessError::Denied(denial) => t!(
            lang,
            "connect-refused",
            reason = Html(t!(lang, denial.locale_key()))
        ),
        AccessError::Telegram(error) => {
            tracing::warn!(%error, "Telegram could not answer a connection check");
            t!(lang, "error-telegram-unavailable")
        }
        AccessError::Store(_) => t!(lang, "error-internal"),
    }
}

/// Connects from a message (`/connect <chat>`, deep link, `/reconnect`).
async fn connect_and_reply(ctx: &Ctx<'_>, chat: Recipient) -> HandlerResult {
    match try_connect(ctx.state, ctx.user.id, chat).await? {
        Outcome::Connected(group, role) => {
            let (text, keyboard) = connected_view(ctx.lang, "connect-success", &group.title, role);
            ctx.reply_with(text, Some(keyboard)).await?;
        }
        Outcome::Refused(error) => {
            ctx.reply(refusal_text(ctx.lang, &error)).await?;
        }
    }
    Ok(())
}

/// `/connect [chat]`
pub async fn connect(ctx: &Ctx<'_>, args: &str) -> HandlerResult {
    if !ctx.is_private() {
        return connect_in_group(ctx).await;
    }
    let args = args.trim();
    if args.is_empty() {
        return show_history(ctx).await;
    }
    if args.split_whitespace().count() > 1 {
        ctx.reply(t!(ctx.lang, "connect-bad-chat", input = args))
            .await?;
        return Ok(());
    }
    match parse_chat_ref(args) {
        Ok(chat) => connect_and_reply(ctx, chat.recipient()).await,
        Err(error) => {
            ctx.reply(t!(ctx.lang, error.locale_key(), input = args))
                .await?;
            Ok(())
        }
    }
}

/// `/start connect_<chat id>`: exactly the checks of `/connect <id>`.
pub async fn deep_link(ctx: &Ctx<'_>, payload: &str) -> HandlerResult {
    match parse_chat_ref(payload) {
        Ok(chat @ ChatRef::Id(_)) if ctx.is_private() => {
            connect_and_reply(ctx, chat.recipient()).await
        }
        _ => {
            ctx.reply(t!(ctx.lang, "connect-bad-link")).await?;
            Ok(())
        }
    }
}

async fn show_history(ctx: &Ctx<'_>) -> HandlerResult {
    let recent = ctx.store().recent_chats(ctx.user.id.0 as i64).await?;
    if recent.is_empty() {
        ctx.reply(t!(ctx.lang, "connect-how")).await?;
        return Ok(());
    }
    let rows: Vec<Vec<InlineKeyboardButton>> = recent
        .iter()
        .map(|chat| {
            let label = if chat.chat_title.trim().is_empty() {
                chat.chat_id.to_string()
            } else {
                chat.chat_title.clone()
            };
            vec![InlineKeyboardButton::callback(
                label,
                format!("connect.{}", chat.chat_id),
            )]
        })
        .collect();
    ctx.reply_with(
        t!(ctx.lang, "connect-recent"),
        Some(InlineKeyboardMarkup::new(rows)),
    )
    .await?;
    Ok(())
}

/// `/connect` inside a group: a deep-link button to connect in PM, for
/// anyone who may connect; whoever taps it is checked again in PM.
async fn connect_in_group(ctx: &Ctx<'_>) -> HandlerResult {
    let chat_id = ctx.msg.chat.id.0;
    let may_connect = ctx.is_anonymous_admin()
        || (!ctx.is_foreign_chat_sender()
            // The stored setting first: it spares most users a Telegram call.
            && (ctx.store().allow_connect(chat_id).await?
                || ctx.group_role().await? == Role::Admin));
    if !may_connect {
        let denial = if ctx.is_foreign_chat_sender() {
            "error-channel-sender"
        } else {
            Denial::ConnectionsDisabled.locale_key()
        };
        ctx.reply(t!(
            ctx.lang,
            "connect-refused",
            reason = Html(t!(ctx.lang, denial))
        ))
        .await?;
        return Ok(());
    }
    let keyboard = url_keyboard(
        t!(ctx.lang, "button-connect-pm"),
        ctx.state.deep_link(&format!("connect_{chat_id}")),
    );
    ctx.reply_with(
        t!(ctx.lang, "connect-in-group", title = &ctx.chat_title()),
        Some(keyboard),
    )
    .await?;
    Ok(())
}

/// `/disconnect`
pub async fn disconnect(ctx: &Ctx<'_>) -> HandlerResult {
    if !ctx.is_private() {
        ctx.reply(t!(ctx.lang, "error-pm-only", command = "disconnect"))
            .await?;
        return Ok(());
    }
    let text = match ctx.store().disconnect(ctx.user.id.0 as i64).await? {
        Some(chat) => t!(ctx.lang, "disconnect-done", title = &chat.chat_title),
        None => t!(ctx.lang, "disconnect-not-connected"),
    };
    ctx.reply(text).await?;
    Ok(())
}

/// `/reconnect`: the last chat, after the full check.
pub async fn reconnect(ctx: &Ctx<'_>) -> HandlerResult {
    if !ctx.is_private() {
        ctx.reply(t!(ctx.lang, "error-pm-only", command = "reconnect"))
            .await?;
        return Ok(());
    }
    let recent = ctx.store().recent_chats(ctx.user.id.0 as i64).await?;
    match recent.first() {
        Some(last) => connect_and_reply(ctx, Recipient::Id(ChatId(last.chat_id))).await,
        None => {
            ctx.reply(t!(ctx.lang, "reconnect-no-history")).await?;
            Ok(())
        }
    }
}

/// `/connection`: the current connection, checked again.
pub async fn connection(ctx: &Ctx<'_>) -> HandlerResult {
    if !ctx.is_private() {
        ctx.reply(t!(ctx.lang, "error-pm-only", command = "connection"))
            .await?;
        return Ok(());
    }
    let Some(current) = ctx.store().current_connection(ctx.user.id.0 as i64).await? else {
        ctx.reply(t!(ctx.lang, "connection-none")).await?;
        return Ok(());
    };
    match ctx
        .state
        .auth
        .check_use(ctx.store(), current.chat_id, ctx.user.id)
        .await
    {
        Ok(role) => {
            let (text, keyboard) =
                connected_view(ctx.lang, "connection-current", &current.chat_title, role);
            ctx.reply_with(text, Some(keyboard)).await?;
            Ok(())
        }
        Err(error) => ctx.report_access_error(error, &current.chat_title).await,
    }
}

/// `/allowconnect [yes|no|…]`, by the chat's admins (resolved by the caller).
pub async fn allow_connect(ctx: &Ctx<'_>, target: &Target, args: &str) -> HandlerResult {
    let arg = args.split_whitespace().next().map(str::to_lowercase);
    let text = match arg.as_deref() {
        None => {
            let allowed = ctx.store().allow_connect(target.chat_id).await?;
            t!(
                ctx.lang,
                if allowed {
                    "allowconnect-status-on"
                } else {
                    "allowconnect-status-off"
                },
                title = &target.title
            )
        }
        Some("yes" | "on" | "true") => {
            ctx.store().set_allow_connect(target.chat_id, true).await?;
            t!(ctx.lang, "allowconnect-set-on", title = &target.title)
        }
        Some("no" | "off" | "false") => {
            ctx.store().set_allow_connect(target.chat_id, false).await?;
            t!(ctx.lang, "allowconnect-set-off", title = &target.title)
        }
        Some(other) => t!(ctx.lang, "allowconnect-bad-option", option = other),
    };
    ctx.reply(text).await?;
    Ok(())
}

/// `connbtns.Admin`, `connbtns.User`, `connbtns.Main`: every press re-checks
/// the connection, and the Admin list needs a live admin.
pub async fn buttons(
    bot: &Bot,
    state: &AppState,
    query: &CallbackQuery,
    lang: Lang,
    which: &str,
) -> HandlerResult {
    let user_id = query.from.id;
    let Some(current) = state.store.current_connection(user_id.0 as i64).await? else {
        answer(bot, query, Some(t!(lang, "connbtns-not-connected")), true).await?;
        return Ok(());
    };
    let role = match state
        .auth
        .check_use(state.store.as_ref(), current.chat_id, user_id)
        .await
    {
        Ok(role) => role,
        Err(error) => {
            let text = connection_check_failed(
                state.store.as_ref(),
                lang,
                user_id.0 as i64,
                &current.chat_title,
                error,
            )
            .await?;
            answer(bot, query, Some(plain(&text)), true).await?;
            return Ok(());
        }
    };
    let (text, keyboard) = match which {
        "Admin" if role == Role::Admin => command_list(lang, &current.chat_title, Access::Admin),
        "Admin" => {
            answer(
                bot,
                query,
                Some(plain(&t!(lang, "connbtns-admins-only"))),
                true,
            )
            .await?;
            return Ok(());
        }
        "User" => command_list(lang, &current.chat_title, Access::Member),
        "Main" => connected_view(lang, "connection-current", &current.chat_title, role),
        _ => {
            answer(bot, query, Some(t!(lang, "button-unknown")), true).await?;
            return Ok(());
        }
    };
    answer(bot, query, None, false).await?;
    edit_or_send(bot, query, text, keyboard).await?;
    Ok(())
}

/// A history button (`connect.<chat id>`): connects after the full check.
pub async fn history_button(
    bot: &Bot,
    state: &AppState,
    query: &CallbackQuery,
    lang: Lang,
    data: &str,
) -> HandlerResult {
    let chat = match parse_chat_ref(data) {
        Ok(chat @ ChatRef::Id(_)) => chat,
        _ => {
            answer(bot, query, Some(t!(lang, "button-unknown")), true).await?;
            return Ok(());
        }
    };
    match try_connect(state, query.from.id, chat.recipient()).await? {
        Outcome::Connected(group, role) => {
            answer(bot, query, None, false).await?;
            let (text, keyboard) = connected_view(lang, "connect-success", &group.title, role);
            edit_or_send(bot, query, text, keyboard).await?;
        }
        Outcome::Refused(error) => {
            answer(bot, query, Some(plain(&refusal_text(lang, &error))), true).await?;
        }
    }
    Ok(())
}

/// Alerts are plain text: drop the tags of a translated HTML message and
/// undo its escapes.
fn plain(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_refs() {
        assert_eq!(
            parse_chat_ref("-1001234567890"),
            Ok(ChatRef::Id(-1001234567890))
        );
        assert_eq!(parse_chat_ref(" -4001 "), Ok(ChatRef::Id(-4001)));
        assert_eq!(
            parse_chat_ref("@Some_Group"),
            Ok(ChatRef::Username("Some_Group".into()))
        );
        assert_eq!(parse_chat_ref("abc"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("-"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("--5"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("+5"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("-12a"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("@"), Err(ChatRefError::BadUsername));
        assert_eq!(parse_chat_ref("@a b"), Err(ChatRefError::BadUsername));
        assert_eq!(parse_chat_ref("@1abc"), Err(ChatRefError::BadUsername));
        assert_eq!(parse_chat_ref("12345"), Err(ChatRefError::NotAGroupId));
        assert_eq!(parse_chat_ref("0"), Err(ChatRefError::OutOfRange));
        assert_eq!(parse_chat_ref("-0"), Err(ChatRefError::OutOfRange));
        assert_eq!(
            parse_chat_ref("-9999999999999"),
            Err(ChatRefError::OutOfRange)
        );
        assert_eq!(
            parse_chat_ref(&format!("-{}", "9".repeat(300))),
            Err(ChatRefError::OutOfRange)
        );
        assert_eq!(
            parse_chat_ref("-9223372036854775808"),
            Err(ChatRefError::OutOfRange)
        );
    }

    #[test]
    fn alerts_are_plain() {
        assert_eq!(
            plain("<b>Ops &lt;Team&gt; &amp;amp;</b>"),
            "Ops <Team> &amp;"
        );
    }
}
