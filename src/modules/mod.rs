//! Feature modules, one folder each, each declaring itself once as a
//! [`registry::ModuleSpec`].

pub mod antiflood;
pub mod blacklists;
pub mod business;
pub mod connections;
pub mod disabling;
pub mod filters;
pub mod lifecycle;
pub mod locks;
pub mod misc;
pub mod moderation;
pub mod notes;
pub mod registry;
pub mod rules;

/// Every module, in `/help` order.
pub static MODULES: &[&registry::ModuleSpec] = &[
    &connections::MODULE,
    &notes::MODULE,
    &rules::MODULE,
    &moderation::MODULE,
    &locks::MODULE,
    &blacklists::MODULE,
    &antiflood::MODULE,
    &filters::MODULE,
    &disabling::MODULE,
    &business::MODULE,
    &misc::MODULE,
    &lifecycle::MODULE,
];

use teloxide::payloads::{
    AnswerCallbackQuery, AnswerCallbackQuerySetters, EditMessageText, EditMessageTextSetters,
};
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, InlineKeyboardMarkup, MaybeInaccessibleMessage, ParseMode};

use crate::context::no_preview;
use crate::t;
use crate::telegram::{Refusal, Telegram, TelegramError};

/// What keeps a group's guards from working, as lines to add to a setting
/// command's answer (and to `/locks`, `/flood`): the bot lacking a right
/// they need, or, for guards that watch ordinary messages, privacy mode
/// hiding those from a bot that is not an admin. Told there, once, rather
/// than on every message.
pub async fn guard_notes(
    ctx: &crate::context::Ctx<'_>,
    chat_id: i64,
    title: &str,
    needs: &[crate::auth::Right],
    watches_messages: bool,
) -> Result<String, crate::context::HandlerError> {
    use crate::auth::{AccessError, Membership};
    let state = ctx.state;
    let bot = state.auth.membership(chat_id, state.auth.bot_id()).await;
    let rights = match bot {
        Ok(Membership::Admin(rights)) => Some(rights),
        Ok(_) => None,
        Err(AccessError::Denied(_)) => None,
        Err(AccessError::Telegram(error)) => return Err(error.into()),
        Err(AccessError::Store(error)) => return Err(error.into()),
    };
    let mut notes = String::new();
    for right in needs {
        if !rights.is_some_and(|rights| rights.holds(*right)) {
            let right = crate::i18n::Html(t!(ctx.lang, right.locale_key()));
            notes.push_str("\n\n");
            notes.push_str(&t!(
                ctx.lang,
                "guard-bot-lacks-right",
                title = title,
                right = right
            ));
        }
    }
    if watches_messages && rights.is_none() && !state.reads_all_group_messages {
        notes.push_str("\n\n");
        notes.push_str(&t!(ctx.lang, "guard-privacy-mode"));
    }
    Ok(notes)
}

/// Replaces the text and keyboard of the message a button belongs to. When
/// the message is gone or too old to edit, sends the content as a new
/// message; an edit that changes nothing (a button pressed twice) is fine.
pub async fn edit_or_send(
    tg: &Telegram,
    query: &CallbackQuery,
    html: String,
    keyboard: InlineKeyboardMarkup,
) -> Result<(), TelegramError> {
    let target = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => Some((message.chat.id, message.id)),
        _ => None,
    };
    if let Some((chat, id)) = target {
        let edit = EditMessageText::new(chat, id, html.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview())
            .reply_markup(keyboard.clone());
        match tg.call(edit).await {
            Ok(_) => return Ok(()),
            Err(error) => match error.refusal() {
                Some(Refusal::NotModified) => return Ok(()),
                Some(Refusal::MessageGone) => {
                    tracing::debug!(%error, "editing failed; sending a new message instead");
                }
                _ => return Err(error),
            },
        }
    }
    let chat = target.map_or(ChatId(query.from.id.0 as i64), |(chat, _)| chat);
    let lang = crate::i18n::Lang::from_code(query.from.language_code.as_deref());
    crate::context::send_html(tg, chat, html, None, Some(keyboard), lang)
}

/// Answers a button press, as an alert when `alert` is set. A press
/// answered too late (or twice) is not worth an error.
pub async fn answer(
    tg: &Telegram,
    query: &CallbackQuery,
    text: Option<String>,
    alert: bool,
) -> Result<(), TelegramError> {
    let mut request = AnswerCallbackQuery::new(query.id.clone());
    if let Some(text) = text {
        // Telegram caps callback answers at 200 characters, counted in
        // UTF-16 code units like every Bot API length.
        let mut units = 0;
        let text: String = text
            .chars()
            .take_while(|c| {
                units += c.len_utf16();
                units <= 200
            })
            .collect();
        request = request.text(text).show_alert(alert);
    }
    match tg.call(request).await {
        Ok(_) => Ok(()),
        Err(error) if error.refusal() == Some(Refusal::QueryExpired) => {
            tracing::debug!(%error, "a button press was answered too late");
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// Alerts are plain text: drop the tags of a translated HTML message and
/// undo its escapes.
pub fn plain(html: &str) -> String {
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
    fn alerts_are_plain() {
        assert_eq!(
            plain("<b>Ops &lt;Team&gt; &amp;amp;</b>"),
            "Ops <Team> &amp;"
        );
    }
}
