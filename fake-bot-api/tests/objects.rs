//! Every object the fake emits has all the fields the spec requires (and no
//! unknown ones), and deserializes into teloxide-core's types.

mod common;

use common::{assert_no_violations, check, ok};
use fake_bot_api::spec::spec;
use fake_bot_api::{BOT_ID, FakeTelegram, IncomingMessage, MemberStatus};
use serde_json::json;
use teloxide_core::types::{
    BotCommand, CallbackQuery, ChatFullInfo, ChatMember, ChatMemberUpdated, Me, Message, Update,
    WebhookInfo,
};

#[tokio::test]
async fn emitted_objects_follow_the_spec_and_teloxide() {
    let fake = FakeTelegram::start().await;
    let alice = fake.add_user_with("Alice", Some("Liddell"), Some("alice"), Some("en"));
    let bob = fake.add_user("Bob");
    let group = fake.add_group("Ops");
    let sg = fake.add_supergroup("Ops Super", Some("ops_super"));
    let channel = fake.add_channel("News", Some("news"));
    fake.set_member(group, alice, MemberStatus::Creator);
    fake.set_member(sg, alice, MemberStatus::Creator);
    fake.set_member(sg, bob, MemberStatus::Member);

    // getMe
    let me = ok(&fake, "getMe", json!({})).await;
    let me: Me = check("User", &me);
    assert_eq!(me.user.id.0, BOT_ID as u64);

    // webhook info
    let wi = ok(&fake, "getWebhookInfo", json!({})).await;
    let _: WebhookInfo = check("WebhookInfo", &wi);

    // the private chat exists once alice writes
    fake.send_text(alice, alice, "/start");

    for chat in [group, sg, channel, alice] {
        let info = ok(&fake, "getChat", json!({"chat_id": chat})).await;
        let _: ChatFullInfo = check("ChatFullInfo", &info);
    }
    let info = ok(&fake, "getChat", json!({"chat_id": "@OPS_SUPER"})).await;
    assert_eq!(info["id"], json!(sg));

    // every member status
    let statuses = [
        MemberStatus::Creator,
        MemberStatus::Administrator,
        MemberStatus::Member,
        MemberStatus::Restricted { is_member: true },
        MemberStatus::Restricted { is_member: false },
        MemberStatus::Left,
        MemberStatus::Kicked,
    ];
    let carol = fake.add_user("Carol");
    for st in statuses.iter() {
        fake.set_member(sg, carol, st.clone());
        let m = ok(
            &fake,
            "getChatMember",
            json!({"chat_id": sg, "user_id": carol}),
        )
        .await;
        let _: ChatMember = check("ChatMember", &m);
    }
    fake.set_bot_status(group, MemberStatus::Administrator);
    let m = ok(
        &fake,
        "getChatMember",
        json!({"chat_id": group, "user_id": BOT_ID}),
    )
    .await;
    let _: ChatMember = check("ChatMember", &m);
    let m = ok(
        &fake,
        "getChatMember",
        json!({"chat_id": channel, "user_id": BOT_ID}),
    )
    .await;
    let _: ChatMember = check("ChatMember", &m);
    let admins = ok(&fake, "getChatAdministrators", json!({"chat_id": group})).await;
    let _: Vec<ChatMember> = check("Array of ChatMember", &admins);

    // a sent message with entities and a keyboard, replying to alice
    let kb = json!({"inline_keyboard": [[{"text": "Yes", "callback_data": "y"}, {"text": "Site", "url": "https://example.com"}]]});
    let sent = ok(
        &fake,
        "sendMessage",
        json!({"chat_id": alice, "text": "<b>Hi</b> see /help or https://t.me", "parse_mode": "HTML",
               "reply_markup": kb, "reply_parameters": {"message_id": 1}}),
    )
    .await;
    let msg: Message = check("Message", &sent);
    assert!(msg.reply_to_message().is_some());
    let sent_ch = ok(
        &fake,
        "sendMessage",
        json!({"chat_id": channel, "text": "post"}),
    )
    .await;
    let _: Message = check("Message", &sent_ch);
    let edited = ok(
        &fake,
        "editMessageText",
        json!({"chat_id": alice, "message_id": sent["message_id"], "text": "<i>Edited</i>", "parse_mode": "HTML"}),
    )
    .await;
    let _: Message = check("Message", &edited);

    // updates of every kind
    fake.set_bot_status(sg, MemberStatus::Administrator);
    fake.send_text(alice, sg, "hello #ops /ban@castellan_test_bot");
    fake.send_message(IncomingMessage::new(alice, sg, "anon").anonymous_admin());
    fake.send_message(IncomingMessage::new(bob, sg, "nice pic").caption("nice pic"));
    let reply_target = fake.send_text(bob, sg, "first");
    fake.send_message(IncomingMessage::new(alice, sg, "re").reply_to(reply_target));
    let post = fake.send_text(alice, channel, "channel post");
    fake.edit_text(alice, channel, post, "channel post, edited");
    let hello = fake.send_text(bob, sg, "helo");
    fake.edit_text(bob, sg, hello, "hello @alice");
    fake.change_member(sg, carol, MemberStatus::Member);
    fake.join_chat(bob, group);
    fake.leave_chat(bob, group);
    fake.press_button(
        alice,
        alice,
        sent["message_id"].as_i64().unwrap() as i32,
        "y",
    );
    fake.press_button(alice, alice, 999, "ghost");
    let g2 = fake.add_group("Old");
    fake.set_member(g2, alice, MemberStatus::Creator);
    fake.migrate_group(g2);
    let g3 = fake.add_group("Later");
    fake.set_bot_status(g3, MemberStatus::Left);
    fake.set_bot_status(g3, MemberStatus::Member);
    fake.block_bot(bob);

    let updates = ok(
        &fake,
        "getUpdates",
        json!({"allowed_updates": ["message", "channel_post", "edited_message", "edited_channel_post", "callback_query", "my_chat_member", "chat_member"]}),
    )
    .await;
    let list = updates.as_array().unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for u in list {
        let parsed: Update = check("Update", u);
        let kind = u
            .as_object()
            .unwrap()
            .keys()
            .find(|k| *k != "update_id")
            .unwrap()
            .clone();
        match kind.as_str() {
            "callback_query" => {
                let _: CallbackQuery = check("CallbackQuery", &u[&kind]);
            }
            "chat_member" | "my_chat_member" => {
                let _: ChatMemberUpdated = check("ChatMemberUpdated", &u[&kind]);
            }
            _ => {
                let _: Message = check("Message", &u[&kind]);
            }
        }
        assert!(
            !matches!(parsed.kind, teloxide_core::types::UpdateKind::Error(_)),
            "teloxide couldn't parse update {u:#}"
        );
        kinds.insert(kind);
    }
    for k in [
        "message",
        "channel_post",
        "callback_query",
        "my_chat_member",
        "chat_member",
    ] {
        assert!(kinds.contains(k), "no {k} update in {kinds:?}");
    }

    // commands
    ok(
        &fake,
        "setMyCommands",
        json!({"commands": [{"command": "help", "description": "Help"}]}),
    )
    .await;
    let cmds = ok(&fake, "getMyCommands", json!({})).await;
    let _: Vec<BotCommand> = check("Array of BotCommand", &cmds);

    assert_no_violations(&fake);
}

#[test]
fn the_validator_catches_missing_and_unknown_fields() {
    let problems = spec().validate("User", &json!({"id": 1, "nickname": "x"}));
    assert_eq!(problems.len(), 3, "{problems:?}");
    let problems = spec().validate(
        "ChatMember",
        &json!({"status": "administrator", "user": {"id": 1, "is_bot": false, "first_name": "A"}}),
    );
    assert!(!problems.is_empty());
    let problems = spec().validate(
        "Message",
        &json!({"message_id": 1, "date": 0, "chat": {"id": 1}}),
    );
    assert!(problems.iter().any(|p| p.contains("type")), "{problems:?}");
}
