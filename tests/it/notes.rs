//! Notes, in the group and through a connection.

use std::time::Duration;

use fake_bot_api::{IncomingMessage, MemberStatus};
use serde_json::json;

use crate::app::TestApp;
use crate::db::Backend;

crate::backend_tests!(
    notes_in_the_group,
    notes_through_a_connection,
    member_cannot_run_admin_note_commands_through_a_connection,
    banned_member_loses_the_connection_on_use,
    formatting_survives_saving,
    note_names_are_checked,
    pm_without_connection_points_to_connect,
    notes_follow_a_group_upgraded_to_a_supergroup,
);

async fn notes_in_the_group(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
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
    // Other hashtags are just chat.
    app.tg.send_text(member, chat, "#nothing here");
    app.tg
        .assert_no_message(chat, Duration::from_millis(200))
        .await;

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
    // The group itself heard nothing of it, and has the note.
    app.tg
        .assert_no_message(chat, Duration::from_millis(100))
        .await;
    let reply = app.say(member, chat, "#faq").await;
    assert_eq!(reply.text, "Read the FAQ");
    let reply = app.pm(owner, "/clear faq").await;
    assert_eq!(reply.text, "Deleted note faq from Team.");
}

async fn member_cannot_run_admin_note_commands_through_a_connection(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
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
    let Some(app) = TestApp::spawn(backend).await else {
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
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let long = "n".repeat(65);
    for command in [
        format!("/save {long} text"),
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
    let Some(app) = TestApp::spawn(backend).await else {
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
