//! Texts longer than one Telegram message, and user input echoed back in
//! replies: the helpers the notes and rules tests share, and the echo tests.

#![allow(dead_code)]

use fake_bot_api::SentMessage;
use serde_json::{Value, json};

use crate::app::{TestApp, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(long_input_is_echoed_shortened);

/// Telegram's limit on a message's text, in UTF-16 units.
pub const LIMIT: usize = 4096;

pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The part of `text` at a UTF-16 range, as entities address it.
pub fn utf16_slice(text: &str, offset: usize, length: usize) -> String {
    let units: Vec<u16> = text.encode_utf16().skip(offset).take(length).collect();
    String::from_utf16_lossy(&units)
}

/// A formatted text of `lines` lines (about 75 characters each): every line
/// starts with a bold "Rule N", every fifth links "everyone", every seventh
/// has a code "<hello>", and one italic runs from inside the bold of line 10
/// to the end of line `lines`-10.
/// Entities are Bot API JSON, their offsets `shift` UTF-16 units on (the
/// command in front of the text).
pub fn long_formatted_text(lines: usize, shift: usize) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut entities = Vec::new();
    let mut italic = (0, 0);
    for i in 0..lines {
        if i > 0 {
            text.push('\n');
        }
        let start = utf16_len(&text);
        if i == 10 {
            italic.0 = start + 3;
        }

        let rule = format!("Rule {i}");
        let line =
            format!("{rule}: be kind to 😀 everyone & say <hello> in the chat, line {i} of many.");
        entities.push(json!({"type": "bold", "offset": shift + start, "length": utf16_len(&rule)}));
        let at = |needle: &str| start + utf16_len(&line[..line.find(needle).unwrap_or(0)]);
        if i % 5 == 0 {
            entities.push(json!({"type": "text_link", "offset": shift + at("everyone"), "length": 8, "url": "https://example.com/?a=1&b=2"}));
        }
        if i % 7 == 0 {
            entities.push(json!({"type": "code", "offset": shift + at("<hello>"), "length": 7}));
        }
        text.push_str(&line);
        if i == lines.saturating_sub(10) {
            italic.1 = utf16_len(&text);
        }
    }
    entities
        .push(json!({"type": "italic", "offset": shift + italic.0, "length": italic.1 - italic.0}));
    (text, entities)
}

/// Takes the bot's messages in `chat` until their texts, joined by the line
/// breaks the cuts dropped, are as long as `expected`; checks they are
/// `expected` and that each fits in a message.
pub async fn take_parts(app: &TestApp, chat: i64, expected: &str) -> Vec<SentMessage> {
    let mut parts: Vec<SentMessage> = Vec::new();
    let mut len = 0;
    while len < utf16_len(expected) {
        assert!(parts.len() < 10, "too many parts");
        let part = app.tg.next_message(chat).await;
        len += utf16_len(&part.text) + usize::from(!parts.is_empty());
        parts.push(part);
    }
    let texts: Vec<&str> = parts.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts.join("\n"), expected);
    for part in &parts {
        assert!(
            utf16_len(&part.text) <= LIMIT,
            "{} units",
            utf16_len(&part.text)
        );
    }
    parts
}

/// The entities of a part of a [`long_formatted_text`] cover what they
/// covered in the original; returns the italic's length in the part.
pub fn check_formatting(part: &SentMessage) -> usize {
    let mut italic = 0;
    for entity in &part.entities {
        let offset = entity["offset"].as_u64().unwrap_or_default() as usize;
        let length = entity["length"].as_u64().unwrap_or_default() as usize;
        let covered = utf16_slice(&part.text, offset, length);
        match entity["type"].as_str().unwrap_or_default() {
            "bold" => assert!(covered.starts_with("Rule"), "bold {covered:?}"),
            "code" => assert_eq!(covered, "<hello>"),
            "text_link" => {
                assert_eq!(covered, "everyone");
                assert_eq!(entity["url"], "https://example.com/?a=1&b=2");
            }
            "italic" => italic += length,
            other => panic!("unexpected {other} entity on {covered:?}"),
        }
    }
    italic
}

async fn long_input_is_echoed_shortened(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let long = "x".repeat(5000);
    let shortened = format!("{}…", "x".repeat(63));

    let reply = app.pm(owner, &format!("/connect @{long}")).await;
    assert!(
        reply
            .text
            .starts_with(&format!("@{}… is not a valid username", "x".repeat(62))),
        "{}",
        reply.text
    );
    let reply = app
        .pm(owner, &format!("/connect -{}", "9".repeat(5000)))
        .await;
    assert!(
        reply
            .text
            .starts_with(&format!("-{}… is not a Telegram chat id", "9".repeat(62))),
        "{}",
        reply.text
    );
    let reply = app.pm(owner, &format!("/connect {long} more")).await;
    assert!(
        reply
            .text
            .starts_with(&format!("{shortened} is not a chat")),
        "{}",
        reply.text
    );
    let reply = app.pm(owner, &format!("/help {long}")).await;
    assert!(
        reply
            .text
            .starts_with(&format!("There is no module called {shortened}.")),
        "{}",
        reply.text
    );
    let reply = app.say(owner, chat, &format!("/allowconnect {long}")).await;
    assert!(
        reply
            .text
            .starts_with(&format!("{shortened} is not an option")),
        "{}",
        reply.text
    );
    // Escapes count as the character they stand for, and are never cut.
    let angles = "<".repeat(5000);
    let reply = app
        .say(owner, chat, &format!("/allowconnect {angles}"))
        .await;
    assert!(
        reply
            .text
            .starts_with(&format!("{}… is not an option", "<".repeat(63))),
        "{}",
        reply.text
    );
}
