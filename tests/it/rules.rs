//! Rules, in the group and through a connection.

use fake_bot_api::{IncomingMessage, MemberStatus};

use crate::app::TestApp;
use crate::db::Backend;

crate::backend_tests!(
    rules_in_the_group_and_through_a_connection,
    rules_from_a_reply_keep_formatting
);

async fn rules_in_the_group_and_through_a_connection(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
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
