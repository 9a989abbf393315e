//! Feature modules, one file each.

pub mod business;
pub mod connections;
pub mod misc;
pub mod notes;
pub mod rules;

use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::{CallbackQuery, InlineKeyboardMarkup, MaybeInaccessibleMessage, ParseMode};

use crate::Bot;
use crate::context::no_preview;

/// Whether Telegram refused an edit only because nothing changed (a button
/// pressed twice): not an error worth reporting.
pub fn is_not_modified(error: &RequestError) -> bool {
    matches!(error, RequestError::Api(api) if api.to_string().to_ascii_lowercase().contains("message is not modified"))
}

/// Replaces the text and keyboard of the message a button belongs to. When
/// the message is too old to edit, sends the content as a new message.
pub async fn edit_or_send(
    bot: &Bot,
    query: &CallbackQuery,
    html: String,
    keyboard: InlineKeyboardMarkup,
) -> Result<(), RequestError> {
    let target = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => Some((message.chat.id, message.id)),
        _ => None,
    };
    let result = match target {
        Some((chat, id)) => bot
            .edit_message_text(chat, id, html.clone())
            .parse_mode(ParseMode::Html)
            .link_preview_options(no_preview())
            .reply_markup(keyboard.clone())
            .await
            .map(|_| ()),
        None => Err(RequestError::Api(teloxide::ApiError::MessageToEditNotFound)),
    };
    match result {
        Ok(()) => Ok(()),
        Err(error) if is_not_modified(&error) => Ok(()),
        Err(error) => {
            let chat = target.map_or(ChatId(query.from.id.0 as i64), |(chat, _)| chat);
            tracing::debug!(%error, "editing failed; sending a new message instead");
            crate::context::send_html(bot, chat, html, None, Some(keyboard))
                .await
                .map(|_| ())
        }
    }
}

/// Answers a button press, as an alert when `alert` is set.
pub async fn answer(
    bot: &Bot,
    query: &CallbackQuery,
    text: Option<String>,
    alert: bool,
) -> Result<(), RequestError> {
    let mut request = bot.answer_callback_query(query.id.clone());
    if let Some(text) = text {
        // Telegram caps callback answers at 200 characters.
        let text: String = text.chars().take(200).collect();
        request = request.text(text).show_alert(alert);
    }
    request.await.map(|_| ())
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
