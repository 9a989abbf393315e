//! Telegram Business: the owner's notes answer their customers.
//!
//! A customer who writes `#name` in a business chat gets the business's note
//! `name`, sent through the business connection, when the connection is
//! enabled, may reply, and the chat is not paused. Nothing else a customer
//! writes is answered, and nothing the owner writes. The owner hears in PM
//! when the connection starts, changes or ends; manages the notes in PM with
//! `/connect business`; and pauses castellan per chat through Telegram's
//! "Manage Bot" button (`/start bizChat<chat id>`).

use teloxide::payloads::{SendMessage, SendMessageSetters};
use teloxide::prelude::*;
use teloxide::types::{
    BusinessConnection, BusinessMessagesDeleted, CallbackQuery, InlineKeyboardButton,
    InlineKeyboardMarkup, ParseMode, ReplyParameters,
};

use crate::auth::{AccessError, check_business};
use crate::business::{LiveConnection, connection_id_of, no_rights, rights_of};
use crate::context::{AppState, Ctx, HandlerError, HandlerResult, message_parts, no_preview};
use crate::format::stored_to_html;
use crate::i18n::{Html, Lang};
use crate::modules::connections::business_state;
use crate::modules::notes::hashtag_name;
use crate::modules::registry::{ButtonSpec, Interests, ModuleSpec, Press};
use crate::modules::{answer, edit_or_send, plain};
use crate::pace::Pace;
use crate::payload::Button;
use crate::store::{BusinessRecorded, Space};
use crate::t;
use crate::telegram::Telegram;

/// Its commands are the notes' (through `/connect business`); its own are
/// the updates of business connections, which dispatch hands it by kind.
pub static MODULE: ModuleSpec = ModuleSpec {
    id: "business",
    aliases: &["negocio", "negocios", "empresa"],
    help: Some(("module-business", "help-business")),
    commands: &[],
    buttons: &[ButtonSpec {
        prefix: "biz",
        in_groups: false,
        run: |press| Box::pin(pause_button(press)),
    }],
    interests: Interests::NONE,
};

/// A `business_connection` update: stored, and the owner told what changed.
pub async fn connection_update(
    tg: &Telegram,
    state: &AppState,
    connection: &BusinessConnection,
) -> HandlerResult {
    let owner_id = connection.user.id.0 as i64;
    let before = state.store.owner_business_connection(owner_id).await?;
    if state.business.record(connection).await? == BusinessRecorded::Superseded {
        tracing::debug!(
            owner = owner_id,
            "an update on a superseded business connection was ignored"
        );
        return Ok(());
    }
    let rights = connection.rights.clone().unwrap_or_else(no_rights);
    let unchanged = before.as_ref().is_some_and(|before| {
        before.is_enabled == connection.is_enabled
            && rights_of(before.rights_json.as_deref()) == rights
    });
    if unchanged {
        return Ok(());
    }
    let lang = Lang::from_code(connection.user.language_code.as_deref());
    let key = match (connection.is_enabled, rights.can_reply) {
        (false, _) => "business-disconnected",
        (true, true) => "business-connected",
        (true, false) => "business-connected-no-reply",
    };
    let text = t!(lang, key, name = &connection.user.first_name);
    // user_chat_id reaches the owner even if they never wrote to the bot; a
    // refusal (the owner blocked the bot) changes nothing worth a retry.
    if let Err(error) =
        crate::context::send_html_unprompted(tg, ChatId(connection.user_chat_id.0 as i64), text)
    {
        tracing::info!(%error, owner = owner_id, "could not tell a business owner about their connection");
    }
    Ok(())
}

/// A `business_message`: a customer's `#name` is answered with the note.
/// Anything else costs nothing: the `#` is looked for before the database,
/// and each customer chat gets a handful of answers a minute at most.
pub async fn message(tg: &Telegram, state: &AppState, msg: &Message) -> HandlerResult {
    let Some(name) = msg.text().and_then(hashtag_name) else {
        return Ok(());
    };
    let Some(connection_id) = connection_id_of(msg) else {
        return Ok(());
    };
    if state
        .business_pace
        .take(chat_key(&connection_id.0, msg.chat.id.0))
        != Pace::Serve
    {
        tracing::debug!("a customer's #name was not answered: too many too fast");
        return Ok(());
    }
    let Some(live) = state.business.resolve(connection_id).await? else {
        return Ok(());
    };
    let Some(from) = msg.from.as_ref() else {
        return Ok(());
    };
    if from.id.0 as i64 == live.record.owner_id || from.is_bot {
        return Ok(());
    }
    if !live.can_reply() {
        tracing::debug!(
            owner = live.record.owner_id,
            "a business connection may not reply; #note not answered"
        );
        return Ok(());
    }
    let owner_id = live.record.owner_id;
    if state
        .store
        .business_chat_paused(owner_id, msg.chat.id.0)
        .await?
    {
        return Ok(());
    }
    let Some(note) = state.store.note(Space::Business(owner_id), &name).await? else {
        return Ok(());
    };
    for part in message_parts(stored_to_html(&note.content)) {
        let reply = SendMessage::new(msg.chat.id, part)
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview())
            .business_connection_id(teloxide::types::BusinessConnectionId(
                live.record.id.clone(),
            ))
            .reply_parameters(ReplyParameters::new(msg.id).allow_sending_without_reply());
        // Queued: a refusal (the connection lost its rights meanwhile) is
        // logged by the outbox; the customer hears nothing either way.
        tg.send(reply)?;
    }
    Ok(())
}

/// One customer chat of one business connection, as a pace key.
fn chat_key(connection_id: &str, chat_id: i64) -> u64 {
    use std::hash::BuildHasher;
    // Keyed per process: a customer cannot aim at another's budget.
    static KEYS: std::sync::LazyLock<std::hash::RandomState> =
        std::sync::LazyLock::new(std::hash::RandomState::new);
    KEYS.hash_one((connection_id, chat_id))
}

/// An `edited_business_message`: its connection is kept track of; an edit
/// is not answered (the customer already got, or did not ask for, a note).
pub async fn edited_message(state: &AppState, msg: &Message) -> HandlerResult {
    connection_of(state, msg).await?;
    Ok(())
}

/// A `deleted_business_messages`: castellan keeps no business messages, so
/// there is nothing to delete; its connection is kept track of.
pub async fn deleted_messages(
    state: &AppState,
    deleted: &BusinessMessagesDeleted,
) -> HandlerResult {
    let live = state
        .business
        .resolve(&deleted.business_connection_id)
        .await?;
    tracing::debug!(
        known = live.is_some(),
        count = deleted.message_ids.len(),
        "business messages deleted"
    );
    Ok(())
}

/// A press on a button of a message in a business chat. castellan puts no
/// buttons there, so it is answered and nothing else happens.
pub async fn callback(tg: &Telegram, query: &CallbackQuery, lang: Lang) -> HandlerResult {
    answer(tg, query, Some(t!(lang, "button-unknown")), false).await?;
    Ok(())
}

/// The live connection a business message came through; `None` when it
/// carries none, or Telegram does not know it, or a newer one replaced it.
async fn connection_of(
    state: &AppState,
    msg: &Message,
) -> Result<Option<LiveConnection>, HandlerError> {
    let Some(id) = connection_id_of(msg) else {
        return Ok(None);
    };
    state.business.resolve(id).await
}

/// The view of one customer chat, with the pause or resume button.
fn chat_view(
    lang: Lang,
    live: &LiveConnection,
    chat_id: i64,
    paused: bool,
) -> (String, InlineKeyboardMarkup) {
    let text = t!(
        lang,
        if paused {
            "business-chat-paused"
        } else {
            "business-chat-active"
        },
        chat = chat_id,
        state = Html(business_state(lang, live))
    );
    let (label, button) = if paused {
        (
            "button-business-resume",
            Button::BusinessChat {
                chat_id,
                paused: false,
            },
        )
    } else {
        (
            "button-business-pause",
            Button::BusinessChat {
                chat_id,
                paused: true,
            },
        )
    };
    let keyboard =
        InlineKeyboardMarkup::new([[InlineKeyboardButton::callback(t!(lang, label), button)]]);
    (text, keyboard)
}

/// What the owner is told when a check refuses; the check's own failure
/// (the database) is passed on.
fn refusal(lang: Lang, error: AccessError) -> Result<String, HandlerError> {
    let denial = error.into_denial()?;
    Ok(t!(
        lang,
        "business-manage-refused",
        reason = Html(t!(lang, denial.locale_key()))
    ))
}

/// `/start bizChat<chat id>`: Telegram's "Manage Bot" button, pressed by the
/// owner in a customer chat. Shows the chat's state with a pause button.
pub async fn manage_chat(ctx: &Ctx<'_>, chat_id: i64) -> HandlerResult {
    let owner_id = ctx.user.id.0 as i64;
    match check_business(ctx.store(), owner_id, ctx.user.id).await {
        Ok(live) => {
            let paused = ctx.store().business_chat_paused(owner_id, chat_id).await?;
            let (text, keyboard) = chat_view(ctx.lang, &live, chat_id, paused);
            ctx.reply_with(text, Some(keyboard)).await?;
            Ok(())
        }
        Err(error) => {
            ctx.reply(refusal(ctx.lang, error)?).await?;
            Ok(())
        }
    }
}

/// The pause / resume button of a customer chat's view.
async fn pause_button(press: &Press<'_>) -> HandlerResult {
    let (tg, state, query, lang) = (press.tg, press.state, press.query, press.lang);
    let Some(Button::BusinessChat { chat_id, paused }) = Button::parse(press.data) else {
        answer(tg, query, Some(t!(lang, "button-unknown")), true).await?;
        return Ok(());
    };
    let owner_id = query.from.id.0 as i64;
    let live = match check_business(state.store.as_ref(), owner_id, query.from.id).await {
        Ok(live) => live,
        Err(error) => {
            let text = refusal(lang, error)?;
            answer(tg, query, Some(plain(&text)), true).await?;
            return Ok(());
        }
    };
    state
        .store
        .set_business_chat_paused(owner_id, chat_id, paused)
        .await?;
    let done = t!(
        lang,
        if paused {
            "business-paused-done"
        } else {
            "business-resumed-done"
        }
    );
    answer(tg, query, Some(plain(&done)), false).await?;
    let (text, keyboard) = chat_view(lang, &live, chat_id, paused);
    edit_or_send(tg, query, text, keyboard).await?;
    Ok(())
}
