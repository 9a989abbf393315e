//! Rules, in the group and through a connection.

use fake_bot_api::{IncomingMessage, MemberStatus};

use crate::app::{TestApp, spawn_unlimited};
use crate::db::Backend;
use crate::long_text::{LIMIT, check_formatting, long_formatted_text, take_parts, utf16_len};

crate::backend_tests!(
    rules_in_the_group_and_through_a_connection,
    rules_from_a_reply_keep_formatting,
    long_rules_arrive_in_several_valid_messages,
    rules_as_long_as_a_message_are_accepted,
);

async fn rules_in_the_group_and_through_a_connection(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Ops <Team>");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);

    let reply = app.say(member, chat, "/rules").await;
    assert_eq!(reply.text, "Ops <Team> has no rules yet.");
    let reply = app.say(member, chat, "/setrules Be nice").await;
    assert_eq!(reply.text, "Only admins can use /setrules.");
    let reply = app
        .say(
            owner,
            chat,
            "/setrules 1. Be nice\n2. No spam & no <scripts>",
        )
        .await;
    assert_eq!(reply.text, "The rules of Ops <Team> are saved.");
    let reply = app.say(member, chat, "/rules").await;
    assert_eq!(
        reply.text,
        "Rules of Ops <Team>\n\n1. Be nice\n2. No spam & no <scripts>"
    );

    app.pm(member, &format!("/connect {chat}")).await;
    let reply = app.pm(member, "/rules").await;
    assert!(
        reply.text.ends_with("2. No spam & no <scripts>"),
        "{}",
        reply.text
    );
    let reply = app.pm(member, "/clearrules").await;
    assert!(
        reply.text.starts_with("Only admins of Ops <Team>"),
        "{}",
        reply.text
    );

    app.pm(owner, &format!("/connect {chat}")).await;
    let reply = app.pm(owner, "/setrules Updated from PM").await;
    assert_eq!(reply.text, "The rules of Ops <Team> are saved.");
    let reply = app.say(member, chat, "/rules").await;
    assert!(reply.text.ends_with("Updated from PM"), "{}", reply.text);
    let reply = app.pm(owner, "/clearrules").await;
    assert_eq!(reply.text, "The rules of Ops <Team> are deleted.");
    let reply = app.pm(owner, "/clearrules").await;
    assert_eq!(reply.text, "Ops <Team> has no rules yet.");
    let reply = app.pm(owner, "/setrules").await;
    assert!(reply.text.starts_with("Send /setrules"), "{}", reply.text);
}

async fn rules_from_a_reply_keep_formatting(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let entities = vec![serde_json::json!({"type": "bold", "offset": 0, "length": 4})];
    let original = app
        .tg
        .send_message(IncomingMessage::new(owner, chat, "Rule one").entities(entities));
    app.tg
        .send_message(IncomingMessage::new(owner, chat, "/setrules").reply_to(original));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "The rules of Team are saved.");
    let reply = app.say(owner, chat, "/rules").await;
    assert_eq!(reply.text, "Rules of Team\n\nRule one");
    // The title's bold, then the rule's own bold at its place.
    let bolds: Vec<u64> = reply
        .entities
        .iter()
        .filter(|e| e["type"] == "bold")
        .filter_map(|e| e["offset"].as_u64())
        .collect();
    assert_eq!(bolds, vec![0, 15]);
}

async fn long_rules_arrive_in_several_valid_messages(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let command = "/setrules ";
    let (rules, mut entities) = long_formatted_text(140, utf16_len(command));
    assert!(utf16_len(&rules) > 10_000, "{}", utf16_len(&rules));
    entities.push(serde_json::json!({"type": "bot_command", "offset": 0, "length": 9}));
    let italic: u64 = entities
        .iter()
        .filter(|e| e["type"] == "italic")
        .filter_map(|e| e["length"].as_u64())
        .sum();
    app.tg.send_message(
        IncomingMessage::new(owner, chat, &format!("{command}{rules}")).entities(entities),
    );
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "The rules of Team are saved.");

    let expected = format!("Rules of Team\n\n{rules}");
    for (user, place) in [(member, chat), (owner, owner)] {
        if place == owner {
            app.pm(owner, &format!("/connect {chat}")).await;
        }
        app.tg.send_text(user, place, "/rules");
        let parts = take_parts(&app, place, &expected).await;
        assert_eq!(parts.len(), 3);
        // Each part but the last uses most of the room.
        for part in &parts[..2] {
            assert!(
                utf16_len(&part.text) > LIMIT - 100,
                "{}",
                utf16_len(&part.text)
            );
        }
        let heading = &parts[0].entities[0];
        assert_eq!(
            (heading["type"].as_str(), heading["length"].as_u64()),
            (Some("bold"), Some(13))
        );
        // The italic crosses both cuts: it is reopened in every part, and
        // only the line breaks at the cuts are missing from it.
        let italics: Vec<usize> = parts.iter().map(check_formatting).collect();
        assert!(italics.iter().all(|&len| len > 0), "{italics:?}");
        assert_eq!(italics.iter().sum::<usize>() as u64 + 2, italic);
    }
}

async fn rules_as_long_as_a_message_are_accepted(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    // The longest text a user can send, as a reply: all of it is kept.
    let rules = format!("{}\n{}", "a".repeat(2001), "😀".repeat(1047));
    assert_eq!(utf16_len(&rules), LIMIT);
    let original = app.tg.send_text(owner, chat, &rules);
    app.tg
        .send_message(IncomingMessage::new(owner, chat, "/setrules").reply_to(original));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "The rules of Team are saved.");
    app.tg.send_text(owner, chat, "/rules");
    let parts = take_parts(&app, chat, &format!("Rules of Team\n\n{rules}")).await;
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[1].text, "😀".repeat(1047));
}
