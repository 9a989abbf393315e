//! Formatted text: cutting a saved text out of a command message with its
//! entities, and rendering text + entities back as Telegram HTML.
//!
//! Telegram measures entity offsets in UTF-16 code units.

use teloxide::types::{Message, MessageEntity, MessageEntityKind};

use crate::i18n::{escape, push_escaped};
use crate::store::FormattedText;

/// The UTF-16 length of a string, the unit of entity offsets.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The part of `text` from byte `start` on, with the entities that fall in it
/// shifted (and clipped at the cut).
pub fn tail(text: &str, entities: &[MessageEntity], start: usize) -> (String, Vec<MessageEntity>) {
    let start = start.min(text.len());
    let Some(rest) = text.get(start..) else {
        return (String::new(), Vec::new());
    };
    let cut = text.get(..start).map_or(0, utf16_len);
    let end = cut + utf16_len(rest);
    let entities = entities
        .iter()
        .filter_map(|e| {
            let from = e.offset.max(cut);
            let to = (e.offset + e.length).min(end);
            (from < to).then(|| MessageEntity {
                kind: e.kind.clone(),
                offset: from - cut,
                length: to - from,
            })
        })
        .collect();
    (rest.to_owned(), entities)
}

/// The text of a command message from byte `start` on, when not blank.
pub fn message_tail(msg: &Message, start: usize) -> Option<FormattedText> {
    let text = msg.text()?;
    let rest = text.get(start..)?;
    if rest.trim().is_empty() {
        return None;
    }
    let (body, entities) = tail(text, msg.entities().unwrap_or_default(), start);
    Some(to_stored(body, &entities))
}

/// The text (or caption) of the message `msg` replies to, when not blank.
pub fn replied_content(msg: &Message) -> Option<FormattedText> {
    let replied = msg.reply_to_message()?;
    let (body, entities) = match replied.text() {
        Some(text) => (text, replied.entities().unwrap_or_default()),
        None => (
            replied.caption()?,
            replied.caption_entities().unwrap_or_default(),
        ),
    };
    (!body.trim().is_empty()).then(|| to_stored(body.to_owned(), entities))
}

/// Packs text and entities for the store.
pub fn to_stored(text: String, entities: &[MessageEntity]) -> FormattedText {
    let entities_json = serde_json::to_string(entities).unwrap_or_else(|_| "[]".to_owned());
    FormattedText {
        text,
        entities_json,
    }
}

/// Renders stored text as HTML, every character of the text escaped.
pub fn stored_to_html(stored: &FormattedText) -> String {
    let entities: Vec<MessageEntity> = match serde_json::from_str(&stored.entities_json) {
        Ok(entities) => entities,
        Err(error) => {
            tracing::warn!(%error, "stored entities do not parse; sending the text unformatted");
            Vec::new()
        }
    };
    to_html(&stored.text, &entities)
}

fn open_tag(kind: &MessageEntityKind) -> Option<String> {
    Some(match kind {
        MessageEntityKind::Bold => "<b>".into(),
        MessageEntityKind::Italic => "<i>".into(),
        MessageEntityKind::Underline => "<u>".into(),
        MessageEntityKind::Strikethrough => "<s>".into(),
        MessageEntityKind::Spoiler => "<tg-spoiler>".into(),
        MessageEntityKind::Code => "<code>".into(),
        MessageEntityKind::Pre {
            language: Some(lang),
        } => {
            format!("<pre><code class=\"language-{}\">", escape(lang))
        }
        MessageEntityKind::Pre { language: None } => "<pre>".into(),
        MessageEntityKind::TextLink { url } => format!("<a href=\"{}\">", escape(url.as_str())),
        MessageEntityKind::TextMention { user } => {
            format!("<a href=\"tg://user?id={}\">", user.id.0)
        }
        MessageEntityKind::CustomEmoji { custom_emoji_id } => {
            format!("<tg-emoji emoji-id=\"{}\">", escape(&custom_emoji_id.0))
        }
        MessageEntityKind::Blockquote => "<blockquote>".into(),
        MessageEntityKind::ExpandableBlockquote => "<blockquote expandable>".into(),
        // Mentions, hashtags, links, commands…: Telegram finds these itself.
        _ => return None,
    })
}

fn close_tag(kind: &MessageEntityKind) -> &'static str {
    match kind {
        MessageEntityKind::Bold => "</b>",
        MessageEntityKind::Italic => "</i>",
        MessageEntityKind::Underline => "</u>",
        MessageEntityKind::Strikethrough => "</s>",
        MessageEntityKind::Spoiler => "</tg-spoiler>",
        MessageEntityKind::Code => "</code>",
        MessageEntityKind::Pre { language: Some(_) } => "</code></pre>",
        MessageEntityKind::Pre { language: None } => "</pre>",
        MessageEntityKind::TextLink { .. } | MessageEntityKind::TextMention { .. } => "</a>",
        MessageEntityKind::CustomEmoji { .. } => "</tg-emoji>",
        MessageEntityKind::Blockquote | MessageEntityKind::ExpandableBlockquote => "</blockquote>",
        _ => "",
    }
}

/// Renders text with entities as Telegram HTML. Entities that overlap
/// without nesting are closed and reopened so the tags always nest.
pub fn to_html(text: &str, entities: &[MessageEntity]) -> String {
    // (start, end, open tag, close tag), outer entities first at equal starts.
    let mut spans: Vec<(usize, usize, String, &'static str)> = entities
        .iter()
        .filter(|e| e.length > 0)
        .filter_map(|e| {
            open_tag(&e.kind).map(|open| (e.offset, e.offset + e.length, open, close_tag(&e.kind)))
        })
        .collect();
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));

    let mut out = String::with_capacity(text.len() + spans.len() * 16);
    let mut open: Vec<usize> = Vec::new(); // indices into spans, innermost last
    let mut next = 0;
    let mut position = 0; // in UTF-16 units
    let mut chars = text.chars().peekable();
    loop {
        // Close what ends here, reopening inner spans that outlive the closed one.
        while let Some(i) = open.iter().position(|&s| spans[s].1 <= position) {
            let reopened: Vec<usize> = open.drain(i..).collect();
            for &s in reopened.iter().rev() {
                out.push_str(spans[s].3);
            }
            for s in reopened.into_iter().filter(|&s| spans[s].1 > position) {
                out.push_str(&spans[s].2);
                open.push(s);
            }
        }
        while next < spans.len() && spans[next].0 <= position {
            out.push_str(&spans[next].2);
            open.push(next);
            next += 1;
        }
        let Some(c) = chars.next() else { break };
        push_escaped(&mut out, c);
        position += c.len_utf16();
    }
    for &s in open.iter().rev() {
        out.push_str(spans[s].3);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(kind: MessageEntityKind, offset: usize, length: usize) -> MessageEntity {
        MessageEntity {
            kind,
            offset,
            length,
        }
    }

    #[test]
    fn renders_nested_and_escaped() {
        let text = "bold <x> & link";
        let entities = vec![
            entity(MessageEntityKind::Bold, 0, 8),
            entity(MessageEntityKind::Italic, 5, 3),
            entity(
                MessageEntityKind::TextLink {
                    url: "https://example.com/?a=1&b=2".parse().unwrap(),
                },
                11,
                4,
            ),
        ];
        assert_eq!(
            to_html(text, &entities),
            "<b>bold <i>&lt;x&gt;</i></b> &amp; <a href=\"https://example.com/?a=1&amp;b=2\">link</a>"
        );
    }

    #[test]
    fn utf16_offsets_and_overlaps() {
        // The emoji takes two UTF-16 units.
        let text = "😀 ab";
        let entities = vec![entity(MessageEntityKind::Bold, 3, 2)];
        assert_eq!(to_html(text, &entities), "😀 <b>ab</b>");
        let text = "abcd";
        let entities = vec![
            entity(MessageEntityKind::Bold, 0, 3),
            entity(MessageEntityKind::Italic, 1, 3),
        ];
        assert_eq!(to_html(text, &entities), "<b>a<i>bc</i></b><i>d</i>");
    }

    #[test]
    fn tail_shifts_and_clips() {
        let text = "/save n 😀 bold";
        let entities = vec![
            entity(MessageEntityKind::BotCommand, 0, 5),
            entity(MessageEntityKind::Bold, 11, 4),
        ];
        let start = text.find('😀').unwrap();
        let (rest, shifted) = tail(text, &entities, start);
        assert_eq!(rest, "😀 bold");
        assert_eq!(shifted, vec![entity(MessageEntityKind::Bold, 3, 4)]);
    }
}
