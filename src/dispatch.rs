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
use teloxide::types::{
    BusinessConnection, BusinessMessagesDeleted, CallbackQuery, ChatMemberUpdated,
    MaybeInaccessibleMessage,
};

use crate::Bot;
use crate::business::connection_id_of;
use crate::commands::{self, ParsedCommand, PersonalCommand, Scope, SpaceCommand};
use crate::context::{AppState, Ctx, HandlerError, HandlerResult, resolve_target};
use crate::i18n::Lang;
use crate::modules::{answer, business, connections, misc, notes, rules};
use crate::payload::{Button, StartPayload};
use crate::t;

/// Every update kind castellan handles; the dispatcher derives the
/// `allowed_updates` it asks Telegram for from these filters.
pub fn handler_tree() -> UpdateHandler<HandlerError> {
    dptree::entry()
        .branch(Update::filter_message().endpoint(message_endpoint))
        .branch(Update::filter_callback_query().endpoint(callback_endpoint))
        .branch(Update::filter_chat_member().endpoint(chat_member_endpoint))
        .branch(Update::filter_my_chat_member().endpoint(chat_member_endpoint))
        .branch(Update::filter_business_connection().endpoint(business_connection_endpoint))
        .branch(Update::filter_business_message().endpoint(business_message_endpoint))
        .branch(Update::filter_edited_business_message().endpoint(edited_business_message_endpoint))
        .branch(
            Update::filter_deleted_business_messages().endpoint(deleted_business_messages_endpoint),
        )
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
    match command.spec.scope {
        Scope::Personal {
            command: personal,
            in_groups,
        } => {
            if !in_groups && !ctx.is_private() {
                ctx.reply(t!(ctx.lang, "error-pm-only", command = command.spec.name))
                    .await?;
                return Ok(());
            }
            on_personal(&ctx, personal, &command).await
        }
        Scope::Space { command: space, .. } => {
            let Some(target) = resolve_target(&ctx, command.spec).await? else {
                return Ok(());
            };
            match space {
                SpaceCommand::AllowConnect => {
                    connections::allow_connect(&ctx, &target, command.args).await
                }
                SpaceCommand::Save => notes::save(&ctx, &target, &command).await,
                SpaceCommand::Get => notes::get(&ctx, &target, command.args).await,
                SpaceCommand::Notes => notes::list(&ctx, &target).await,
                SpaceCommand::Clear => notes::clear(&ctx, &target, command.args).await,
                SpaceCommand::Rules => rules::show(&ctx, &target).await,
                SpaceCommand::SetRules => rules::set(&ctx, &target, &command).await,
                SpaceCommand::ClearRules => rules::clear(&ctx, &target).await,
            }
        }
    }
}

async fn on_personal(
    ctx: &Ctx<'_>,
    personal: PersonalCommand,
    command: &ParsedCommand<'_>,
) -> HandlerResult {
    match personal {
        PersonalCommand::Start => start(ctx, command.args).await,
        PersonalCommand::Help => misc::help(ctx, command.args).await,
        PersonalCommand::Id => misc::id(ctx).await,
        PersonalCommand::Connect => connections::connect(ctx, command.args).await,
        PersonalCommand::Disconnect => connections::disconnect(ctx).await,
        PersonalCommand::Reconnect => connections::reconnect(ctx).await,
        PersonalCommand::Connection => connections::connection(ctx).await,
    }
}

/// `/start [payload]`: deep-link payloads go to the module they belong to.
async fn start(ctx: &Ctx<'_>, payload: &str) -> HandlerResult {
    match StartPayload::parse(payload) {
        StartPayload::Greeting => misc::start(ctx).await,
        StartPayload::Help(module) => misc::help(ctx, &module).await,
        StartPayload::Connect(chat_id) => connections::deep_link(ctx, Some(chat_id)).await,
        StartPayload::BrokenConnectLink => connections::deep_link(ctx, None).await,
        StartPayload::BusinessChat(chat_id) if ctx.is_private() => {
            business::manage_chat(ctx, chat_id).await
        }
        StartPayload::BusinessChat(_) | StartPayload::Unknown => {
            ctx.reply(t!(ctx.lang, "start-unknown-link")).await?;
            Ok(())
        }
    }
}

async fn on_callback(bot: &Bot, query: &CallbackQuery, state: &AppState) -> HandlerResult {
    let lang = Lang::from_code(query.from.language_code.as_deref());
    let message = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => Some(message.as_ref()),
        _ => None,
    };
    // A business chat has its customer's id, the same number as that
    // customer's PM with the bot: it must never pass for a PM.
    if message.is_some_and(|message| connection_id_of(message).is_some()) {
        return business::callback(bot, query, lang).await;
    }
    // Every button the bot makes lives in the presser's private chat. Callback
    // data can be forged on any message, so a press anywhere else is refused
    // rather than letting it rewrite a group's message.
    let chat_id = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => Some(message.chat.id),
        Some(MaybeInaccessibleMessage::Inaccessible(message)) => Some(message.chat.id),
        None => None,
    };
    let in_own_pm = chat_id.is_some_and(|chat| chat.0 == query.from.id.0 as i64);
    let button = query.data.as_deref().and_then(Button::parse);
    match button {
        Some(button) if in_own_pm => match button {
            Button::Help(module) => misc::help_button(bot, query, lang, module).await,
            Button::Connection(page) => {
                connections::page_button(bot, state, query, lang, page).await
            }
            Button::Reconnect(target) => {
                connections::reconnect_button(bot, state, query, lang, target).await
            }
            Button::BusinessChat { chat_id, paused } => {
                business::pause_button(bot, state, query, lang, chat_id, paused).await
            }
            Button::Notes { page } => notes::page_button(bot, state, query, lang, page).await,
        },
        _ => {
            answer(bot, query, Some(t!(lang, "button-unknown")), true).await?;
            Ok(())
        }
    }
}

async fn business_connection_endpoint(
    bot: Bot,
    connection: BusinessConnection,
    state: Arc<AppState>,
) -> HandlerResult {
    let work = business::connection_update(&bot, &state, &connection);
    // Nobody asked for this update: a failure is logged, not replied to.
    let _ = guarded("business connection handler", work).await;
    Ok(())
}

async fn business_message_endpoint(bot: Bot, msg: Message, state: Arc<AppState>) -> HandlerResult {
    // Customers never hear of castellan's failures: they wrote to a business.
    let _ = guarded(
        "business message handler",
        business::message(&bot, &state, &msg),
    )
    .await;
    Ok(())
}

async fn edited_business_message_endpoint(msg: Message, state: Arc<AppState>) -> HandlerResult {
    let work = business::edited_message(&state, &msg);
    let _ = guarded("edited business message handler", work).await;
    Ok(())
}

async fn deleted_business_messages_endpoint(
    deleted: BusinessMessagesDeleted,
    state: Arc<AppState>,
) -> HandlerResult {
    let work = business::deleted_messages(&state, &deleted);
    let _ = guarded("deleted business messages handler", work).await;
    Ok(())
}
