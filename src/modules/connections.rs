//! Connections: a user connects their PM with the bot to a group (or to
//! their own Telegram Business account), and space commands sent in PM then
//! act on it.
//!
//! Every way in (`/connect <chat>`, `/connect business`, the deep link,
//! `/reconnect`, the history buttons) goes through the full check
//! ([`Auth::check_connect`](crate::auth::Auth::check_connect) for groups,
//! [`check_business`] for a business account), and every later use through
//! `check_space`: a user who no longer passes is disconnected and told why.
//! The connection is stored before any reply says it exists.

use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Recipient};

use crate::auth::{AccessError, Denial, Role, check_business};
use crate::business::LiveConnection;
use crate::commands::{self, Access, ConnectionKind};
use crate::context::{
    AppState, Ctx, HandlerResult, Target, connection_check_failed, connection_kind,
    connection_title, ended_connection_notice,
};
use crate::format::echo;
use crate::i18n::{Html, Lang};
use crate::modules::misc::url_keyboard;
use crate::modules::{answer, edit_or_send, plain};
use crate::payload::{
    Button, ChatRef, ConnectionPage, HistoryTarget, StartPayload, parse_chat_ref,
};
use crate::store::{ConnectedChat, Space};
use crate::t;
use crate::telegram::Telegram;

fn recipient(chat: &ChatRef) -> Option<Recipient> {
    match chat {
        ChatRef::Id(id) => Some(Recipient::Id(ChatId(*id))),
        ChatRef::Username(name) => Some(Recipient::ChannelUsername(format!("@{name}"))),
        ChatRef::Business => None,
    }
}

/// A connection that passed its check: what the views show.
struct Checked {
    chat: ConnectedChat,
    role: Role,
    /// For a business account: its connection as it stands.
    business: Option<LiveConnection>,
}

/// The check of every use of an existing connection.
async fn check_current(
    state: &AppState,
    user_id: UserId,
    chat: ConnectedChat,
    allow_connect: bool,
) -> Result<Checked, AccessError> {
    match chat.space {
        Space::Chat(chat_id) => {
            let store = state.store.as_ref();
            let role = state
                .auth
                .check_use_known(store, chat_id, user_id, Some(allow_connect))
                .await?;
            Ok(Checked {
                chat,
                role,
                business: None,
            })
        }
        Space::Business(owner_id) => {
            let live = check_business(state.store.as_ref(), owner_id, user_id).await?;
            Ok(Checked {
                chat,
                role: Role::Admin,
                business: Some(live),
            })
        }
    }
}

/// The connected view: what you are connected to, and the command lists.
fn connected_view(lang: Lang, key: &str, checked: &Checked) -> (String, InlineKeyboardMarkup) {
    let mut rows = Vec::new();
    if checked.role == Role::Admin {
        rows.push(vec![InlineKeyboardButton::callback(
            t!(lang, "button-admin-commands"),
            Button::Connection(ConnectionPage::Admin),
        )]);
    }
    rows.push(vec![InlineKeyboardButton::callback(
        t!(lang, "button-user-commands"),
        Button::Connection(ConnectionPage::User),
    )]);
    let role_text = t!(
        lang,
        match (&checked.business, checked.role) {
            (Some(_), _) => "role-owner",
            (None, Role::Admin) => "role-admin",
            (None, Role::Member) => "role-member",
        }
    );
    let title = connection_title(lang, &checked.chat);
    let mut text = t!(lang, key, title = &title, role = Html(role_text));
    if let Some(live) = &checked.business {
        text.push_str("\n\n");
        text.push_str(&business_state(lang, live));
    }
    (text, InlineKeyboardMarkup::new(rows))
}

/// A business connection's state and rights, as HTML.
pub fn business_state(lang: Lang, live: &LiveConnection) -> String {
    let yes_no = |value: bool| t!(lang, if value { "word-yes" } else { "word-no" });
    t!(
        lang,
        "business-state",
        enabled = Html(yes_no(live.record.is_enabled)),
        can_reply = Html(yes_no(live.rights.can_reply)),
        can_read = Html(yes_no(live.rights.can_read_messages))
    )
}

/// A command list from the registry, one command per line.
fn command_list(
    lang: Lang,
    title: &str,
    kind: ConnectionKind,
    access: Access,
) -> (String, InlineKeyboardMarkup) {
    let lines: Vec<String> = commands::connection_commands(kind, access)
        .map(|spec| spec.describe(lang))
        .collect();
    let key = match access {
        Access::Admin => "connbtns-admin-list",
        Access::Member => "connbtns-user-list",
    };
    let text = t!(lang, key, title = title, commands = Html(lines.join("\n")));
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback(
        t!(lang, "button-back"),
        Button::Connection(ConnectionPage::Main),
    )]]);
    (text, keyboard)
}

enum Outcome {
    Connected(Checked),
    Refused(AccessError),
}

/// The full check of a new connection, by what the user asked for.
async fn check_new(
    state: &AppState,
    user_id: UserId,
    chat: &ChatRef,
) -> Result<Checked, AccessError> {
    match recipient(chat) {
        Some(recipient) => {
            let (group, role) = state
                .auth
                .check_connect(state.store.as_ref(), recipient, user_id)
                .await?;
            Ok(Checked {
                chat: ConnectedChat {
                    space: Space::Chat(group.id),
                    title: group.title,
                },
                role,
                business: None,
            })
        }
        None => {
            let owner_id = user_id.0 as i64;
            let live = check_business(state.store.as_ref(), owner_id, user_id).await?;
            Ok(Checked {
                chat: ConnectedChat {
                    space: Space::Business(owner_id),
                    title: String::new(),
                },
                role: Role::Admin,
                business: Some(live),
            })
        }
    }
}

/// The one way a connection is made: full check, then stored, then told.
async fn try_connect(
    state: &AppState,
    user_id: UserId,
    chat: &ChatRef,
) -> Result<Outcome, crate::store::StoreError> {
    match check_new(state, user_id, chat).await {
        Ok(checked) => {
            state.store.connect(user_id.0 as i64, &checked.chat).await?;
            tracing::debug!(user = user_id.0, space = ?checked.chat.space, role = ?checked.role, "connected");
            Ok(Outcome::Connected(checked))
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
async fn connect_and_reply(ctx: &Ctx<'_>, chat: &ChatRef) -> HandlerResult {
    match try_connect(ctx.state, ctx.user.id, chat).await? {
        Outcome::Connected(checked) => {
            let (text, keyboard) = connected_view(ctx.lang, "connect-success", &checked);
            ctx.reply_with(text, Some(keyboard)).await?;
        }
        Outcome::Refused(error) => {
            ctx.reply(refusal_text(ctx.lang, &error)).await?;
        }
    }
    Ok(())
}

/// `/connect [chat | business]`
pub async fn connect(ctx: &Ctx<'_>, args: &str) -> HandlerResult {
    if !ctx.is_private() {
        return connect_in_group(ctx).await;
    }
    let args = args.trim();
    if args.is_empty() {
        return show_history(ctx).await;
    }
    // Replies quote the input shortened: it may be a whole message long.
    if args.split_whitespace().count() > 1 {
        ctx.reply(t!(ctx.lang, "connect-bad-chat", input = echo(args)))
            .await?;
        return Ok(());
    }
    match parse_chat_ref(args) {
        Ok(chat) => connect_and_reply(ctx, &chat).await,
        Err(error) => {
            ctx.reply(t!(ctx.lang, error.locale_key(), input = echo(args)))
                .await?;
            Ok(())
        }
    }
}

/// `/start connect_<chat id>`: exactly the checks of `/connect <id>`.
pub async fn deep_link(ctx: &Ctx<'_>, chat_id: Option<i64>) -> HandlerResult {
    match chat_id {
        Some(chat_id) if ctx.is_private() => connect_and_reply(ctx, &ChatRef::Id(chat_id)).await,
        _ => {
            ctx.reply(t!(ctx.lang, "connect-bad-link")).await?;
            Ok(())
        }
    }
}

fn history_button(lang: Lang, chat: &ConnectedChat) -> InlineKeyboardButton {
    let (label, target) = match chat.space {
        Space::Chat(chat_id) => {
            let label = if chat.title.trim().is_empty() {
                chat_id.to_string()
            } else {
                chat.title.clone()
            };
            (label, HistoryTarget::Group(chat_id))
        }
        Space::Business(_) => (connection_title(lang, chat), HistoryTarget::Business),
    };
    InlineKeyboardButton::callback(label, Button::Reconnect(target))
}

async fn show_history(ctx: &Ctx<'_>) -> HandlerResult {
    let recent = ctx.store().recent_chats(ctx.user.id.0 as i64).await?;
    if recent.is_empty() {
        ctx.reply(t!(ctx.lang, "connect-how")).await?;
        return Ok(());
    }
    let rows: Vec<Vec<InlineKeyboardButton>> = recent
        .iter()
        .map(|chat| vec![history_button(ctx.lang, chat)])
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
        ctx.state.deep_link(&StartPayload::Connect(chat_id)),
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
    let text = match ctx.store().disconnect(ctx.user.id.0 as i64).await? {
        Some(chat) => t!(
            ctx.lang,
            "disconnect-done",
            title = &connection_title(ctx.lang, &chat)
        ),
        None => t!(ctx.lang, "disconnect-not-connected"),
    };
    ctx.reply(text).await?;
    Ok(())
}

/// What a stored history entry asks to connect to again.
fn chat_ref_of(chat: &ConnectedChat) -> ChatRef {
    match chat.space {
        Space::Chat(chat_id) => ChatRef::Id(chat_id),
        Space::Business(_) => ChatRef::Business,
    }
}

/// `/reconnect`: the last chat, after the full check.
pub async fn reconnect(ctx: &Ctx<'_>) -> HandlerResult {
    let recent = ctx.store().recent_chats(ctx.user.id.0 as i64).await?;
    match recent.first() {
        Some(last) => connect_and_reply(ctx, &chat_ref_of(last)).await,
        None => {
            ctx.reply(t!(ctx.lang, "reconnect-no-history")).await?;
            Ok(())
        }
    }
}

/// `/connection`: the current connection, checked again.
pub async fn connection(ctx: &Ctx<'_>) -> HandlerResult {
    let user_id = ctx.user.id.0 as i64;
    let Some((current, allow_connect)) = ctx.store().current_connection_for_use(user_id).await?
    else {
        let text = match ended_connection_notice(ctx.store(), ctx.lang, user_id).await? {
            Some(notice) => notice,
            None => t!(ctx.lang, "connection-none"),
        };
        ctx.reply(text).await?;
        return Ok(());
    };
    let title = connection_title(ctx.lang, &current);
    let checked = current.clone();
    match check_current(ctx.state, ctx.user.id, current, allow_connect).await {
        Ok(checked) => {
            let (text, keyboard) = connected_view(ctx.lang, "connection-current", &checked);
            ctx.reply_with(text, Some(keyboard)).await?;
            Ok(())
        }
        Err(error) => ctx.report_access_error(error, &checked, &title).await,
    }
}

/// What `/allowconnect` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowOption {
    /// Nothing: show the setting.
    Show,
    /// yes, on, true (`true`); no, off, false (`false`); in any letter case.
    Set(bool),
    /// Anything else: its first word, lower-case.
    Unknown(String),
}

/// The option of `/allowconnect [yes|no|…]`: its first word.
pub fn parse_allow_option(args: &str) -> AllowOption {
    let arg = args.split_whitespace().next().map(str::to_lowercase);
    match arg.as_deref() {
        None => AllowOption::Show,
        Some("yes" | "on" | "true") => AllowOption::Set(true),
        Some("no" | "off" | "false") => AllowOption::Set(false),
        Some(other) => AllowOption::Unknown(other.to_owned()),
    }
}

/// `/allowconnect [yes|no|…]`, by the chat's admins (resolved by the caller).
pub async fn allow_connect(ctx: &Ctx<'_>, target: &Target, args: &str) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, "allowconnect").await? else {
        return Ok(());
    };
    let text = match parse_allow_option(args) {
        AllowOption::Show => {
            let allowed = ctx.store().allow_connect(chat_id).await?;
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
        AllowOption::Set(true) => {
            ctx.store().set_allow_connect(chat_id, true).await?;
            t!(ctx.lang, "allowconnect-set-on", title = &target.title)
        }
        AllowOption::Set(false) => {
            ctx.store().set_allow_connect(chat_id, false).await?;
            t!(ctx.lang, "allowconnect-set-off", title = &target.title)
        }
        AllowOption::Unknown(other) => {
            t!(ctx.lang, "allowconnect-bad-option", option = echo(&other))
        }
    };
    ctx.reply(text).await?;
    Ok(())
}

/// The pages of the current connection: every press re-checks the
/// connection, and the Admin list needs a live admin.
pub async fn page_button(
    tg: &Telegram,
    state: &AppState,
    query: &CallbackQuery,
    lang: Lang,
    page: ConnectionPage,
) -> HandlerResult {
    let user_id = query.from.id;
    let Some((current, allow_connect)) = state
        .store
        .current_connection_for_use(user_id.0 as i64)
        .await?
    else {
        let notice = ended_connection_notice(state.store.as_ref(), lang, user_id.0 as i64).await?;
        let text = notice.map_or_else(
            || t!(lang, "connbtns-not-connected"),
            |html: String| plain(&html),
        );
        answer(tg, query, Some(text), true).await?;
        return Ok(());
    };
    let title = connection_title(lang, &current);
    let kind = connection_kind(current.space);
    let space = current.space;
    let checked = match check_current(state, user_id, current, allow_connect).await {
        Ok(checked) => checked,
        Err(error) => {
            let text = connection_check_failed(
                state.store.as_ref(),
                lang,
                user_id.0 as i64,
                space,
                &title,
                error,
            )
            .await?;
            answer(tg, query, Some(plain(&text)), true).await?;
            return Ok(());
        }
    };
    let (text, keyboard) = match page {
        ConnectionPage::Admin if checked.role == Role::Admin => {
            command_list(lang, &title, kind, Access::Admin)
        }
        ConnectionPage::Admin => {
            answer(
                tg,
                query,
                Some(plain(&t!(lang, "connbtns-admins-only"))),
                true,
            )
            .await?;
            return Ok(());
        }
        ConnectionPage::User => command_list(lang, &title, kind, Access::Member),
        ConnectionPage::Main => connected_view(lang, "connection-current", &checked),
    };
    answer(tg, query, None, false).await?;
    edit_or_send(tg, query, text, keyboard).await?;
    Ok(())
}

/// A history button: connects after the full check.
pub async fn reconnect_button(
    tg: &Telegram,
    state: &AppState,
    query: &CallbackQuery,
    lang: Lang,
    target: HistoryTarget,
) -> HandlerResult {
    let chat = match target {
        HistoryTarget::Group(chat_id) => ChatRef::Id(chat_id),
        HistoryTarget::Business => ChatRef::Business,
    };
    match try_connect(state, query.from.id, &chat).await? {
        Outcome::Connected(checked) => {
            answer(tg, query, None, false).await?;
            let (text, keyboard) = connected_view(lang, "connect-success", &checked);
            edit_or_send(tg, query, text, keyboard).await?;
        }
        Outcome::Refused(error) => {
            answer(tg, query, Some(plain(&refusal_text(lang, &error))), true).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_entries_reconnect_to_what_they_name() {
        let group = ConnectedChat {
            space: Space::Chat(-100),
            title: "G".into(),
        };
        let business = ConnectedChat {
            space: Space::Business(5),
            title: String::new(),
        };
        assert_eq!(chat_ref_of(&group), ChatRef::Id(-100));
        assert_eq!(chat_ref_of(&business), ChatRef::Business);
    }

    #[test]
    fn allowconnect_options() {
        assert_eq!(parse_allow_option(""), AllowOption::Show);
        assert_eq!(parse_allow_option("  \n "), AllowOption::Show);
        assert_eq!(parse_allow_option("YES"), AllowOption::Set(true));
        assert_eq!(parse_allow_option("off please"), AllowOption::Set(false));
        assert_eq!(
            parse_allow_option("Maybe so"),
            AllowOption::Unknown("maybe".into())
        );
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any arguments: no panic; nothing but white space shows the
        /// setting; only the six words (in any case, first) change it.
        #[test]
        fn allowconnect_option_parser(args in "\\PC{0,40}|[ \t\n]*(?i:yes|no|on|off|true|false)[a-z]?( \\PC{0,10})?") {
            let words = ["yes", "on", "true", "no", "off", "false"];
            let first = args.split_whitespace().next().map(str::to_lowercase);
            match parse_allow_option(&args) {
                AllowOption::Show => prop_assert!(args.trim().is_empty()),
                AllowOption::Set(on) => {
                    let first = first.unwrap_or_default();
                    prop_assert!(words.contains(&first.as_str()));
                    prop_assert_eq!(on, ["yes", "on", "true"].contains(&first.as_str()));
                }
                AllowOption::Unknown(word) => {
                    prop_assert!(!word.is_empty() && !word.contains(char::is_whitespace));
                    prop_assert!(!words.contains(&word.as_str()));
                    prop_assert_eq!(Some(word), first);
                }
            }
        }
    }
}
