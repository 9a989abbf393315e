//! Notes, in the group and through a connection.

use std::time::Duration;

use fake_bot_api::{IncomingMessage, MemberStatus};
use serde_json::json;

use castellan::store::{FormattedText, Note, Space, Store};

use crate::app::{TestApp, button_data, spawn_unlimited};
use crate::db::Backend;
use crate::long_text::{check_formatting, long_formatted_text, take_parts, utf16_len, utf16_slice};

crate::backend_tests!(
    notes_in_the_group,
    notes_through_a_connection,
    member_cannot_run_admin_note_commands_through_a_connection,
    banned_member_loses_the_connection_on_use,
    formatting_survives_saving,
    note_names_are_checked,
    pm_without_connection_points_to_connect,
    notes_follow_a_group_upgraded_to_a_supergroup,
    long_notes_arrive_in_several_valid_messages,
    many_notes_are_listed_in_pages,
    very_long_note_names_are_refused_and_echoed_shortened,
);

async fn notes_in_the_group(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    // #name needs every group message: privacy mode off, as the README says.
    app.tg.set_privacy_mode(false);
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);

    let reply = app
        .say(owner, chat, "/save Welcome Hello <everyone> & all")
        .await;
    assert_eq!(
        reply.text,
        "Saved note welcome in Team. Get it with /get welcome or #welcome."
    );
    let reply = app.say(member, chat, "/get WELCOME").await;
    assert_eq!(reply.text, "Hello <everyone> & all");
    let reply = app.say(member, chat, "#welcome please").await;
    assert_eq!(reply.text, "Hello <everyone> & all");
    // Other hashtags are just chat: the group's next message answers the
    // next command.
    app.tg.send_text(member, chat, "#nothing here");
    app.id_in_group(member, chat).await;

    app.say(owner, chat, "/save rules-2 Second").await;
    let reply = app.say(owner, chat, "/save welcome Hi again").await;
    assert_eq!(reply.text, "Updated note welcome in Team.");
    let reply = app.say(member, chat, "/notes").await;
    assert_eq!(
        reply.text,
        "Team has 2 notes:\n• rules-2\n• welcome\nGet one with /get name or #name."
    );
    let reply = app.say(member, chat, "/saved").await;
    assert!(reply.text.starts_with("Team has 2 notes"), "{}", reply.text);

    let reply = app.say(member, chat, "/save x y").await;
    assert_eq!(reply.text, "Only admins can use /save.");
    let reply = app.say(member, chat, "/clear welcome").await;
    assert_eq!(reply.text, "Only admins can use /clear.");
    let reply = app.say(owner, chat, "/clear welcome").await;
    assert_eq!(reply.text, "Deleted note welcome from Team.");
    let reply = app.say(owner, chat, "/clear welcome").await;
    assert!(
        reply.text.starts_with("There is no note welcome in Team"),
        "{}",
        reply.text
    );
    let reply = app.say(member, chat, "/get welcome").await;
    assert!(
        reply.text.starts_with("There is no note welcome"),
        "{}",
        reply.text
    );
    app.say(owner, chat, "/clear rules-2").await;
    let reply = app.say(member, chat, "/notes").await;
    assert_eq!(reply.text, "Team has no notes yet.");

    // Saving a replied-to message.
    let original = app.tg.send_text(member, chat, "Meeting at 10");
    app.tg
        .send_message(IncomingMessage::new(owner, chat, "/save meeting").reply_to(original));
    let reply = app.tg.next_message(chat).await;
    assert!(
        reply.text.starts_with("Saved note meeting"),
        "{}",
        reply.text
    );
    let reply = app.say(member, chat, "/get meeting").await;
    assert_eq!(reply.text, "Meeting at 10");
}

async fn notes_through_a_connection(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // #name needs every group message: privacy mode off, as the README says.
    app.tg.set_privacy_mode(false);
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.pm(owner, &format!("/connect {chat}")).await;
    app.pm(member, &format!("/connect {chat}")).await;

    let reply = app.pm(owner, "/save faq Read the FAQ").await;
    assert!(
        reply.text.starts_with("Saved note faq in Team"),
        "{}",
        reply.text
    );
    let reply = app.pm(member, "/get faq").await;
    assert_eq!(reply.text, "Read the FAQ");
    let reply = app.pm(member, "/notes").await;
    assert!(
        reply.text.starts_with("Team has one note:"),
        "{}",
        reply.text
    );
    // The group itself heard nothing of it, and has the note: once the
    // owner's and the member's next commands are handled (so were theirs
    // above), the group's next message answers #faq there.
    app.id_in_pm(owner).await;
    app.id_in_pm(member).await;
    app.tg
        .assert_next_is_answer_to(member, chat, "#faq", |answer, asked| {
            answer.text == "Read the FAQ" && answer.reply_to_message_id == Some(asked)
        })
        .await;
    let reply = app.pm(owner, "/clear faq").await;
    assert_eq!(reply.text, "Deleted note faq from Team.");
}

async fn member_cannot_run_admin_note_commands_through_a_connection(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.say(owner, chat, "/save keep Keep me").await;
    app.pm(member, &format!("/connect {chat}")).await;
    for command in [
        "/save x forged",
        "/clear keep",
        "/setrules forged",
        "/clearrules",
        "/allowconnect off",
    ] {
        let reply = app.pm(member, command).await;
        assert!(
            reply.text.starts_with("Only admins of Team can use"),
            "{command}: {}",
            reply.text
        );
    }
    let reply = app.say(member, chat, "/get keep").await;
    assert_eq!(reply.text, "Keep me");
    let reply = app.say(member, chat, "/get x").await;
    assert!(
        reply.text.starts_with("There is no note x"),
        "{}",
        reply.text
    );
    // Rights are judged in the group, never in the PM: an admin of another
    // group is still a member here.
    let other = app.tg.add_supergroup("Other", None);
    app.tg.set_member(other, member, MemberStatus::Creator);
    let reply = app.pm(member, "/save y forged").await;
    assert!(
        reply.text.starts_with("Only admins of Team"),
        "{}",
        reply.text
    );
}

async fn banned_member_loses_the_connection_on_use(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.say(owner, chat, "/save secret Members only").await;
    app.pm(member, &format!("/connect {chat}")).await;
    app.tg.set_member(chat, member, MemberStatus::Kicked);
    let reply = app.pm(member, "/get secret").await;
    assert!(!reply.text.contains("Members only"));
    assert!(
        reply.text.contains("connection to Team has ended"),
        "{}",
        reply.text
    );
    let reply = app.pm(member, "/get secret").await;
    assert!(
        reply.text.contains("connect this chat to the group first"),
        "{}",
        reply.text
    );

    // A member who left is refused the same way.
    let leaver = app.user_in(chat, "Lea", MemberStatus::Member);
    app.pm(leaver, &format!("/connect {chat}")).await;
    app.tg.set_member(chat, leaver, MemberStatus::Left);
    let reply = app.pm(leaver, "/notes").await;
    assert!(reply.text.contains("not a member"), "{}", reply.text);
}

async fn formatting_survives_saving(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let text = "/save fmt 😀 bold italic link <tag> & code";
    // Offsets in UTF-16: "/save fmt " is 10, the emoji takes 2.
    let entities = vec![
        json!({"type": "bot_command", "offset": 0, "length": 5}),
        json!({"type": "bold", "offset": 13, "length": 4}),
        json!({"type": "italic", "offset": 18, "length": 6}),
        json!({"type": "text_link", "offset": 25, "length": 4, "url": "https://example.com/?a=1&b=2"}),
        json!({"type": "code", "offset": 38, "length": 4}),
    ];
    app.tg
        .send_message(IncomingMessage::new(owner, chat, text).entities(entities));
    let saved = app.tg.next_message(chat).await;
    assert!(saved.text.starts_with("Saved note fmt"), "{}", saved.text);

    let note = app.say(owner, chat, "/get fmt").await;
    assert_eq!(note.text, "😀 bold italic link <tag> & code");
    let kinds: Vec<(String, u64, u64)> = note
        .entities
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["offset"].as_u64().unwrap_or_default(),
                e["length"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("bold".to_owned(), 3, 4),
            ("italic".to_owned(), 8, 6),
            ("text_link".to_owned(), 15, 4),
            ("code".to_owned(), 28, 4),
        ]
    );
    let link = note.entities.iter().find(|e| e["type"] == "text_link");
    assert_eq!(
        link.map(|e| e["url"].clone()),
        Some(json!("https://example.com/?a=1&b=2"))
    );
}

async fn note_names_are_checked(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let long = "n".repeat(65);
    let reply = app.say(owner, chat, &format!("/save {long} text")).await;
    assert_eq!(
        reply.text,
        format!(
            "{}… is too long for a note name (65 characters): names have at most 64 characters.",
            "n".repeat(63)
        )
    );
    for command in [
        "/save bad.name text".to_owned(),
        "/save <b> text".to_owned(),
    ] {
        let reply = app.say(owner, chat, &command).await;
        assert!(
            reply.text.contains("is not a valid note name"),
            "{command}: {}",
            reply.text
        );
    }
    let reply = app.say(owner, chat, "/save").await;
    assert!(
        reply.text.starts_with("Send /save name text"),
        "{}",
        reply.text
    );
    let reply = app.say(owner, chat, "/save empty").await;
    assert!(
        reply.text.starts_with("There is nothing to save as empty"),
        "{}",
        reply.text
    );
    let reply = app.say(owner, chat, "/get").await;
    assert!(reply.text.starts_with("Send /get name"), "{}", reply.text);
    let reply = app.say(owner, chat, "/clear").await;
    assert!(reply.text.starts_with("Send /clear name"), "{}", reply.text);
    let max = "m".repeat(64);
    let reply = app.say(owner, chat, &format!("/save {max} ok")).await;
    assert!(reply.text.starts_with("Saved note"), "{}", reply.text);
}

async fn pm_without_connection_points_to_connect(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let user = app.tg.add_user("Ana");
    for command in ["/get x", "/notes", "/save x y", "/rules", "/setrules r"] {
        let reply = app.pm(user, command).await;
        assert!(reply.text.contains("/connect"), "{command}: {}", reply.text);
    }
}

async fn notes_follow_a_group_upgraded_to_a_supergroup(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let owner = app.tg.add_user("Owner");
    let group = app.tg.add_group("Small");
    app.tg.set_member(group, owner, MemberStatus::Creator);
    app.say(owner, group, "/save hello Hi").await;
    app.say(owner, group, "/setrules Be kind").await;
    let supergroup = app.tg.migrate_group(group);
    // The migration is a service message the bot handles silently; wait for it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        app.tg.send_text(owner, supergroup, "/get hello");
        let reply = app.tg.next_message(supergroup).await;
        if reply.text == "Hi" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the note did not move: {}",
            reply.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let reply = app.say(owner, supergroup, "/rules").await;
    assert!(reply.text.ends_with("Be kind"), "{}", reply.text);
}

async fn long_notes_arrive_in_several_valid_messages(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    app.tg.set_privacy_mode(false);
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let command = "/save long ";
    let (note, mut entities) = long_formatted_text(140, utf16_len(command));
    assert!(utf16_len(&note) > 10_000, "{}", utf16_len(&note));
    entities.push(json!({"type": "bot_command", "offset": 0, "length": 5}));
    app.tg.send_message(
        IncomingMessage::new(owner, chat, &format!("{command}{note}")).entities(entities),
    );
    let reply = app.tg.next_message(chat).await;
    assert!(reply.text.starts_with("Saved note long"), "{}", reply.text);

    for ask in ["/get long", "#long"] {
        app.tg.send_text(member, chat, ask);
        let parts = take_parts(&app, chat, &note).await;
        assert_eq!(parts.len(), 3, "{ask}");
        let italics: Vec<usize> = parts.iter().map(check_formatting).collect();
        assert!(italics.iter().all(|&len| len > 0), "{ask}: {italics:?}");
        // The first part answers the request.
        assert!(parts[0].reply_to_message_id.is_some(), "{ask}");
    }
    app.pm(member, &format!("/connect {chat}")).await;
    app.tg.send_text(member, member, "/get long");
    let parts = take_parts(&app, member, &note).await;
    assert_eq!(parts.len(), 3);
}

async fn save_notes(store: &dyn Store, chat: i64, names: impl Iterator<Item = String>) {
    for name in names {
        let note = Note {
            content: FormattedText {
                text: format!("Note {name}"),
                entities_json: "[]".into(),
            },
            name,
        };
        store
            .save_note(Space::Chat(chat), &note)
            .await
            .unwrap_or_else(|e| panic!("cannot save a note: {e}"));
    }
}

fn listed(message: &fake_bot_api::SentMessage) -> Vec<&str> {
    message
        .text
        .lines()
        .filter_map(|line| line.strip_prefix("• "))
        .collect()
}

async fn many_notes_are_listed_in_pages(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let store = app.db.open().await;
    let names: Vec<String> = (0..120).map(|i| format!("note{i:03}")).collect();
    save_notes(store.as_ref(), chat, names.iter().cloned()).await;

    app.pm(member, &format!("/connect {chat}")).await;
    let list = app.pm(member, "/notes").await;
    assert!(
        list.text
            .starts_with("Team has 120 notes, page 1 of 3:\n• note000\n"),
        "{}",
        list.text
    );
    assert!(
        list.text.ends_with("Get one with /get name or #name."),
        "{}",
        list.text
    );
    assert_eq!(listed(&list), names[..50].to_vec());
    assert_eq!(button_data(&list), vec!["notes.1"]);
    assert_eq!(list.button_texts(), vec![vec!["Next ▶".to_owned()]]);

    // ▶, ▶, ◀: each press edits the list in place.
    let mut message_id = list.message_id;
    for (data, page, shown, buttons) in [
        ("notes.1", 2, &names[50..100], vec!["notes.0", "notes.2"]),
        ("notes.2", 3, &names[100..], vec!["notes.1"]),
        ("notes.0", 1, &names[..50], vec!["notes.1"]),
        // A page past the end (forged) shows the last one.
        ("notes.99", 3, &names[100..], vec!["notes.1"]),
    ] {
        let id = app.tg.press_button(member, member, message_id, data);
        let answer = app.tg.next_callback_answer(&id).await;
        assert!(answer.get("text").is_none(), "{data}: {answer}");
        let page_message = app.tg.next_message(member).await;
        assert!(page_message.edited, "{data}");
        assert!(
            page_message
                .text
                .starts_with(&format!("Team has 120 notes, page {page} of 3:")),
            "{data}: {}",
            page_message.text
        );
        assert_eq!(listed(&page_message), shown.to_vec(), "{data}");
        assert_eq!(button_data(&page_message), buttons, "{data}");
        message_id = page_message.message_id;
    }

    // Every press is checked again like /notes: banned meanwhile, the press
    // is refused and the connection ends.
    app.tg.set_member(chat, member, MemberStatus::Kicked);
    let id = app.tg.press_button(member, member, message_id, "notes.1");
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(answer["show_alert"], true);
    let alert = answer["text"].as_str().unwrap_or_default();
    assert!(alert.contains("connection to Team has ended"), "{alert}");
    let id = app.tg.press_button(member, member, message_id, "notes.1");
    let answer = app.tg.next_callback_answer(&id).await;
    let alert = answer["text"].as_str().unwrap_or_default();
    assert!(alert.contains("not connected"), "{alert}");
    // Nothing but the alerts: the member's next message answers their /id.
    app.id_in_pm(member).await;
    // A press in a group is refused before anything is looked at.
    let id = app.tg.press_button(owner, chat, message_id, "notes.1");
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(answer["show_alert"], true);

    // In the group, where buttons do not work, the whole list is sent, in
    // as many messages as it takes: here 120 short names fit in one.
    let list = app.say(owner, chat, "/notes").await;
    assert!(
        list.text.starts_with("Team has 120 notes:"),
        "{}",
        list.text
    );
    assert_eq!(
        listed(&list),
        names.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(button_data(&list).is_empty());
    // 120 longest names take three messages.
    let long: Vec<String> = (0..120)
        .map(|i| format!("{i:03}{}", "n".repeat(61)))
        .collect();
    save_notes(store.as_ref(), chat, long.iter().cloned()).await;
    app.tg.send_text(owner, chat, "/notes");
    let mut all: Vec<&str> = names.iter().chain(&long).map(String::as_str).collect();
    all.sort_unstable();
    let lines: Vec<String> = all.iter().map(|name| format!("• {name}")).collect();
    let expected = format!(
        "Team has 240 notes:\n{}\nGet one with /get name or #name.",
        lines.join("\n")
    );
    let parts = take_parts(&app, chat, &expected).await;
    assert_eq!(parts.len(), 3);
    for part in &parts {
        assert!(part.reply_markup.is_none());
        // Every name stays whole, in its own code entity.
        for entity in &part.entities {
            let offset = entity["offset"].as_u64().unwrap_or_default() as usize;
            let length = entity["length"].as_u64().unwrap_or_default() as usize;
            let covered = utf16_slice(&part.text, offset, length);
            match entity["type"].as_str() {
                Some("code") => assert!(
                    all.contains(&covered.as_str())
                        || ["/get name", "#name"].contains(&covered.as_str()),
                    "{covered}"
                ),
                Some("bold") => assert_eq!(covered, "Team"),
                other => panic!("{other:?} on {covered}"),
            }
        }
    }
}

async fn very_long_note_names_are_refused_and_echoed_shortened(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let name = "ñ".repeat(4000);
    let shortened = format!("{}…", "ñ".repeat(63));
    for command in ["/save", "/get", "/clear"] {
        let reply = app
            .say(owner, chat, &format!("{command} #{name} text"))
            .await;
        assert_eq!(
            reply.text,
            format!(
                "{shortened} is too long for a note name (4000 characters): names have at most 64 characters."
            )
        );
    }
    // Too long is said first, whatever else is wrong with the name.
    let bad = format!("<{}>", "b".repeat(4000));
    let reply = app.say(owner, chat, &format!("/get {bad}")).await;
    assert_eq!(
        reply.text,
        format!(
            "<{}… is too long for a note name (4002 characters): names have at most 64 characters.",
            "b".repeat(62)
        )
    );
    let reply = app.say(owner, chat, "/get <b>").await;
    assert_eq!(
        reply.text,
        "<b> is not a valid note name: use letters, digits, _ and -, at most 64 characters."
    );
}
