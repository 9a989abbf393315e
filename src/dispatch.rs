//! The handler tree: every update kind the bot listens to, and the routing
//! of commands, deep links and buttons to their modules.
//!
//! Each endpoint runs its handler behind a guard: an error or a panic is
//! logged and the user told, never left in silence, and the dispatcher's
//! per-chat worker survives (a panicking worker would take the next update
//! of that chat down with it).

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use teloxide::dispatching::{UpdateFilterExt, UpdateHandler};
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, ChatMemberUpdated, MaybeInaccessibleMessage};

use crate::Bot;
use crate::commands::{self, Command, Scope};
use crate::context::{AppState, Ctx, HandlerError, HandlerResult, resolve_target};
use crate::i18n::Lang;
use crate::modules::{connections, misc, notes, rules};
use crate::t;

pub fn handler_tree() -> UpdateHandler<HandlerError> {
    dptree::entry()
        .branch(Update::filter_message().endpoint(message_endpoint))
        .branch(Update::filter_callback_query().endpoint(callback_endpoint))
        .branch(Update::filter_chat_member().endpoint(chat_member_endpoint))
        .branch(Update::filter_my_chat_member().endpoint(chat_member_endpoint))
}

fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic")
}

/// What went wrong in a handler, as far as the user is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Telegram refused or did not answer a call: worth trying again.
    Telegram,
    /// A bug, a panic or the database.
    Internal,
}

impl Failure {
    fn locale_key(self, plain: bool) -> &'static str {
        match (self, plain) {
            (Failure::Telegram, _) => "error-telegram-unavailable",
            (Failure::Internal, false) => "error-internal",
            (Failure::Internal, true) => "error-internal-plain",
        }
    }
}

/// Runs a handler; on error or panic logs it and says what to tell the user.
async fn guarded(what: &str, handler: impl Future<Output = HandlerResult>) -> Result<(), Failure> {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            if error.downcast_ref::<teloxide::RequestError>().is_some() {
                tracing::warn!(%error, "{what} failed: Telegram refused a call");
                Err(Failure::Telegram)
            } else {
                tracing::error!(%error, "{what} failed");
                Err(Failure::Internal)
            }
        }
        Err(panic) => {
            tracing::error!(panic = panic_text(panic.as_ref()), "{what} panicked");
            Err(Failure::Internal)
        }
    }
}

async fn message_endpoint(bot: Bot, msg: Message, state: Arc<AppState>) -> HandlerResult {
    let outcome = guarded("message handler", on_message(&bot, &msg, &state)).await;
    if let (Err(failure), Some(user)) = (outcome, msg.from.as_ref()) {
        let lang = Lang::from_code(user.language_code.as_deref());
        let reply_to = (!msg.chat.is_private()).then_some(msg.id);
        if let Err(error) = crate::context::send_html(
            &bot,
            msg.chat.id,
            t!(lang, failure.locale_key(false)),
            reply_to,
            None,
        )
        .await
        {
            tracing::warn!(%error, "could not report an internal error to the user");
        }
    }
    Ok(())
}

async fn callback_endpoint(bot: Bot, query: CallbackQuery, state: Arc<AppState>) -> HandlerResult {
    if let Err(failure) = guarded("button handler", on_callback(&bot, &query, &state)).await {
        let lang = Lang::from_code(query.from.language_code.as_deref());
        // The query may already be answered; then this fails and that is fine.
        let _ = bot
            .answer_callback_query(query.id.clone())
            .text(t!(lang, failure.locale_key(true)))
            .show_alert(true)
            .await;
    }
    Ok(())
}

async fn chat_member_endpoint(update: ChatMemberUpdated, state: Arc<AppState>) -> HandlerResult {
    // Someone's (or the bot's own) rights changed: forget the cached admins.
    state.auth.invalidate(update.chat.id.0);
    Ok(())
}

async fn on_message(bot: &Bot, msg: &Message, state: &AppState) -> HandlerResult {
    if let Some(new_id) = msg.migrate_to_chat_id() {
        // The group became a supergroup: its records follow it.
        tracing::info!(
            from = msg.chat.id.0,
            to = new_id.0,
            "group upgraded to a supergroup"
        );
        state.auth.invalidate(msg.chat.id.0);
        state.store.migrate_chat(msg.chat.id.0, new_id.0).await?;
        return Ok(());
    }
    let Some(user) = msg.from.as_ref() else {
        return Ok(());
    };
    if msg.chat.is_channel() {
        return Ok(());
    }
    let Some(text) = msg.text() else {
        return Ok(());
    };
    let ctx = Ctx {
        bot,
        state,
        msg,
        user,
        lang: Lang::from_code(user.language_code.as_deref()),
    };
    let Some(command) = commands::parse(text, &state.bot_username) else {
        if !ctx.is_private() && text.starts_with('#') {
            return notes::hashtag(&ctx, text).await;
        }
        return Ok(());
    };

    if let Scope::Chat { .. } = command.spec.scope {
        let Some(target) = resolve_target(&ctx, command.spec).await? else {
            return Ok(());
        };
        return match command.spec.command {
            Command::AllowConnect => connections::allow_connect(&ctx, &target, command.args).await,
            Command::Save => notes::save(&ctx, &target, &command).await,
            Command::Get => notes::get(&ctx, &target, command.args).await,
            Command::Notes => notes::list(&ctx, &target).await,
            Command::Clear => notes::clear(&ctx, &target, command.args).await,
            Command::Rules => rules::show(&ctx, &target).await,
            Command::SetRules => rules::set(&ctx, &target, &command).await,
            Command::ClearRules => rules::clear(&ctx, &target).await,
            Command::Start
            | Command::Help
            | Command::Id
            | Command::Connect
            | Command::Disconnect
            | Command::Reconnect
            | Command::Connection => Ok(()),
        };
    }
    match command.spec.command {
        Command::Start => start(&ctx, command.args).await,
        Command::Help => misc::help(&ctx, command.args).await,
        Command::Id => misc::id(&ctx).await,
        Command::Connect => connections::connect(&ctx, command.args).await,
        Command::Disconnect => connections::disconnect(&ctx).await,
        Command::Reconnect => connections::reconnect(&ctx).await,
        Command::Connection => connections::connection(&ctx).await,
        _ => Ok(()),
    }
}

/// `/start [payload]`: deep-link payloads go to the module owning their prefix.
async fn start(ctx: &Ctx<'_>, payload: &str) -> HandlerResult {
    let payload = payload.trim();
    if payload.is_empty() {
        return misc::start(ctx).await;
    }
    let (prefix, rest) = payload.split_once('_').unwrap_or((payload, ""));
    match prefix {
        "connect" => connections::deep_link(ctx, rest).await,
        // `/start help` and `/start help_<module>`.
        "help" => misc::help(ctx, rest).await,
        _ => {
            ctx.reply(t!(ctx.lang, "start-unknown-link")).await?;
            Ok(())
        }
    }
}

async fn on_callback(bot: &Bot, query: &CallbackQuery, state: &AppState) -> HandlerResult {
    let lang = Lang::from_code(query.from.language_code.as_deref());
    // Every button the bot makes lives in the presser's private chat. Callback
    // data can be forged on any message, so a press anywhere else is refused
    // rather than letting it rewrite a group's message.
    let in_own_pm = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => {
            message.chat.id.0 == query.from.id.0 as i64
        }
        Some(MaybeInaccessibleMessage::Inaccessible(message)) => {
            message.chat.id.0 == query.from.id.0 as i64
        }
        None => false,
    };
    let data = query.data.as_deref().unwrap_or_default();
    let (prefix, rest) = data.split_once('.').unwrap_or((data, ""));
    match prefix {
        _ if !in_own_pm => {
            bot.answer_callback_query(query.id.clone())
                .text(t!(lang, "button-unknown"))
                .show_alert(true)
                .await?;
            Ok(())
        }
        "connbtns" => connections::buttons(bot, state, query, lang, rest).await,
        "connect" => connections::history_button(bot, state, query, lang, rest).await,
        "help" => misc::help_button(bot, query, lang, rest).await,
        _ => {
            bot.answer_callback_query(query.id.clone())
                .text(t!(lang, "button-unknown"))
                .show_alert(true)
                .await?;
            Ok(())
        }
    }
}
