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
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, Recipient};

use crate::auth::{AccessError, Denial, Right, Rights, Role, check_business};
use crate::business::LiveConnection;
use crate::commands::{Access, ConnectionKind, Via};
use crate::context::{
    AppState, Connected as Checked, Ctx, HandlerResult, Target, check_connection, connection_kind,
    connection_title,
};
use crate::format::echo;
use crate::i18n::{Html, Lang};
use crate::modules::misc::url_keyboard;
use crate::modules::registry::{
    self, ButtonSpec, CommandSpec, Interests, ModuleSpec, Press, Scope,
};
use crate::modules::{answer, edit_or_send, plain};
use crate::payload::{
    Button, ChatRef, ConnectionPage, HistoryTarget, StartPayload, parse_chat_ref,
};
use crate::store::{ConnectedChat, Space};
use crate::t;

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "connections",
    aliases: &["connection", "connect", "connexions", "conexiones"],
    help: Some(("module-connections", "help-connections")),
    commands: &[
        CommandSpec {
            name: "connect",
            aliases: &[],
            scope: Scope::Personal {
                in_groups: true,
                run: |ctx, command| Box::pin(connect(ctx, command.args)),
            },
            in_private_menu: true,
            in_group_menu: true,
            disableable: false,
        },
        CommandSpec {
            name: "disconnect",
            aliases: &[],
            scope: Scope::Personal {
                in_groups: false,
                run: |ctx, _| Box::pin(disconnect(ctx)),
            },
            in_private_menu: true,
            in_group_menu: false,
            disableable: false,
        },
        CommandSpec {
            name: "reconnect",
            aliases: &[],
            scope: Scope::Personal {
                in_groups: false,
                run: |ctx, _| Box::pin(reconnect(ctx)),
            },
            in_private_menu: true,
            in_group_menu: false,
            disableable: false,
        },
        CommandSpec {
            name: "connection",
            aliases: &[],
            scope: Scope::Personal {
                in_groups: false,
                run: |ctx, _| Box::pin(connection(ctx)),
            },
            in_private_menu: true,
            in_group_menu: false,
            disableable: false,
        },
        CommandSpec {
            name: "allowconnect",
            aliases: &[],
            scope: Scope::Space {
                access: Access::Admin(Right::ChangeInfo),
                via: Via::GROUP,
                run: |ctx, target, command| Box::pin(allow_connect(ctx, target, command.args)),
            },
            in_private_menu: false,
            in_group_menu: true,
            disableable: false,
        },
    ],
    buttons: &[
        ButtonSpec {
            prefix: "connbtns",
            in_groups: false,
            run: |press| Box::pin(page_button(press)),
        },
        ButtonSpec {
            prefix: "connect",
            in_groups: false,
            run: |press| Box::pin(reconnect_button(press)),
        },
    ],
    interests: Interests::NONE,
};

fn recipient(chat: &ChatRef) -> Option<Recipient> {
    match chat {
        ChatRef::Id(id) => Some(Recipient::Id(ChatId(*id))),
        ChatRef::Username(name) => Some(Recipient::ChannelUsername(format!("@{name}"))),
        ChatRef::Business => None,
    }
}

/// The connected view: what you are connected to, and the command lists.
fn connected_view(lang: Lang, key: &str, checked: &Checked) -> (String, InlineKeyboardMarkup) {
    let mut rows = Vec::new();
    if checked.role.is_admin() {
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
            (None, Role::Admin(_)) => "role-admin",
            (None, Role::Member) => "role-member",
        }
    );
    let mut text = t!(lang, key, title = &checked.title, role = Html(role_text));
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
    admin: bool,
) -> (String, InlineKeyboardMarkup) {
    let lines: Vec<String> = registry::connection_commands(kind, admin)
        .map(|spec| spec.describe(lang))
        .collect();
    let key = if admin {
        "connbtns-admin-list"
    } else {
        "connbtns-user-list"
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
    lang: Lang,
) -> Result<Checked, AccessError> {
    match recipient(chat) {
        Some(recipient) => {
            let (group, role) = state
                .auth
                .check_connect(state.store.as_ref(), recipient, user_id)
                .await?;
            Ok(Checked {
                title: group.title.clone(),
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
            let chat = ConnectedChat {
                space: Space::Business(owner_id),
                title: String::new(),
            };
            Ok(Checked {
                title: connection_title(lang, &chat),
                chat,
                role: Role::Admin(Rights::ALL),
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
    lang: Lang,
) -> Result<Outcome, crate::store::StoreError> {
    match check_new(state, user_id, chat, lang).await {
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
    match try_connect(ctx.state, ctx.user.id, chat, ctx.lang).await? {
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
                || ctx.group_role().await?.is_admin()));
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
    let check = check_connection(ctx.state, ctx.user.id, ctx.lang, None).await?;
    let not_connected = t!(ctx.lang, "connection-none");
    match check.refusal(ctx.lang, "connection", not_connected) {
        Ok(checked) => {
            let (text, keyboard) = connected_view(ctx.lang, "connection-current", &checked);
            ctx.reply_with(text, Some(keyboard)).await?;
        }
        Err(text) => ctx.reply(text).await?,
    }
    Ok(())
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
async fn page_button(press: &Press<'_>) -> HandlerResult {
    let (tg, query, lang) = (press.tg, press.query, press.lang);
    let Some(Button::Connection(page)) = Button::parse(press.data) else {
        answer(tg, query, Some(t!(lang, "button-unknown")), true).await?;
        return Ok(());
    };
    let check = check_connection(press.state, query.from.id, lang, None).await?;
    let not_connected = t!(lang, "connbtns-not-connected");
    let checked = match check.refusal(lang, "connection", not_connected) {
        Ok(checked) => checked,
        Err(text) => {
            answer(tg, query, Some(plain(&text)), true).await?;
            return Ok(());
        }
    };
    let kind = connection_kind(checked.chat.space);
    let (text, keyboard) = match page {
        ConnectionPage::Admin if checked.role.is_admin() => {
            command_list(lang, &checked.title, kind, true)
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
        ConnectionPage::User => command_list(lang, &checked.title, kind, false),
        ConnectionPage::Main => connected_view(lang, "connection-current", &checked),
    };
    answer(tg, query, None, false).await?;
    edit_or_send(tg, query, text, keyboard).await?;
    Ok(())
}

/// A history button: connects after the full check.
async fn reconnect_button(press: &Press<'_>) -> HandlerResult {
    let (tg, query, lang) = (press.tg, press.query, press.lang);
    let Some(Button::Reconnect(target)) = Button::parse(press.data) else {
        answer(tg, query, Some(t!(lang, "button-unknown")), true).await?;
        return Ok(());
    };
    let chat = match target {
        HistoryTarget::Group(chat_id) => ChatRef::Id(chat_id),
        HistoryTarget::Business => ChatRef::Business,
    };
    match try_connect(press.state, query.from.id, &chat, lang).await? {
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
