//! Every kind of message a member can post (media, polls, dice, contacts,
//! places, games, forwards, messages via inline bots), as Telegram shapes
//! them; automatic `url` entities; bots added to groups; the rules of
//! deletion; what privacy mode hides.

mod common;

use common::{assert_no_violations, check, err, ok, take_updates};
use fake_bot_api::{
    AdminRights, BOT_ID, ChatPermissions, FakeTelegram, IncomingMessage, Media, MemberStatus,
};
use serde_json::{Value, json};
use teloxide_core::types::{Me, Message, MessageOrigin, Update};

struct Room {
    fake: FakeTelegram,
    sg: i64,
    ann: i64,
}

/// A supergroup where the bot is an administrator (it sees everything)
/// and Ann a member.
async fn room() -> Room {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Owner");
    let ann = fake.add_user_with("Ann", None, Some("ann"), Some("en"));
    let sg = fake.add_supergroup("Kinds", None);
    fake.set_member(sg, owner, MemberStatus::Creator);
    fake.set_member(sg, ann, MemberStatus::Member);
    fake.set_bot_admin(sg, AdminRights::usual());
    take_updates(&fake).await;
    Room { fake, sg, ann }
}

/// Sends `msg`, checks the stored JSON and the delivered update against the
/// spec and teloxide, and returns (JSON, teloxide's Message).
async fn post(fake: &FakeTelegram, msg: IncomingMessage) -> (Value, Message) {
    let chat = msg.chat_id;
    let id = fake.send_message(msg);
    let json = fake.message_json(chat, id).expect("stored");
    let updates = take_updates(fake).await;
    assert_eq!(updates.len(), 1, "{updates:#?}");
    let _: Update = check("Update", &updates[0]);
    assert_eq!(updates[0]["message"], json);
    let parsed: Message = check("Message", &json);
    (json, parsed)
}

#[tokio::test]
async fn every_kind_has_telegrams_fields() {
    let Room { fake, sg, ann } = room().await;
    let new = || IncomingMessage::new(ann, sg, "");

    let (j, m) = post(&fake, new().sticker()).await;
    let s = m.sticker().expect("sticker");
    assert_eq!(j["sticker"]["type"], "regular");
    assert_eq!(j["sticker"]["is_animated"], false);
    assert_eq!(j["sticker"]["is_video"], false);
    assert!(s.is_static() && s.is_regular());
    assert!(j.get("text").is_none() && j.get("caption").is_none());

    let (j, m) = post(&fake, new().animation()).await;
    assert!(m.animation().is_some());
    assert_eq!(j["document"]["file_id"], j["animation"]["file_id"]);
    assert_eq!(j["document"]["mime_type"], "video/mp4");

    let (j, m) = post(&fake, new().photo()).await;
    assert_eq!(m.photo().expect("photo").len(), 3);
    assert!(j.get("caption").is_none());

    let (_, m) = post(&fake, new().video()).await;
    assert!(m.video().is_some());
    let (_, m) = post(&fake, new().voice()).await;
    assert!(m.voice().is_some());
    let (_, m) = post(&fake, new().audio()).await;
    assert!(m.audio().is_some());
    let (j, m) = post(&fake, new().document()).await;
    assert!(m.document().is_some() && m.animation().is_none());
    assert!(j.get("animation").is_none());
    let (_, m) = post(&fake, new().video_note()).await;
    assert!(m.video_note().is_some());

    let (j, m) = post(&fake, new().poll("Lunch?")).await;
    let poll = m.poll().expect("poll");
    assert_eq!(poll.question, "Lunch?");
    assert_eq!(poll.options.len(), 2);
    assert_eq!(j["poll"]["options"][1]["text"], "No");

    let (j, m) = post(&fake, new().dice("🎲")).await;
    let dice = m.dice().expect("dice");
    assert!((1..=6).contains(&dice.value), "{j}");
    let mut fixed = new();
    fixed.media = Some(Media::Dice {
        emoji: "🎰".into(),
        value: Some(64),
    });
    let (j, _) = post(&fake, fixed).await;
    assert_eq!(j["dice"], json!({"emoji": "🎰", "value": 64}));

    let (j, m) = post(&fake, new().contact("+15550100", "Bob")).await;
    assert_eq!(m.contact().expect("contact").phone_number, "+15550100");
    assert_eq!(j["contact"]["first_name"], "Bob");

    let (_, m) = post(&fake, new().location(48.85, 2.35)).await;
    assert_eq!(m.location().expect("location").latitude, 48.85);
    assert!(m.venue().is_none());

    let (j, m) = post(&fake, new().venue(48.85, 2.35, "Louvre", "Rue de Rivoli")).await;
    assert_eq!(m.venue().expect("venue").title, "Louvre");
    // Telegram sets `location` too, for backward compatibility.
    assert_eq!(j["location"], j["venue"]["location"]);

    let games = fake.add_bot_user("Games", "gamee");
    let (j, m) = post(&fake, new().game("Tetris").via_bot(games)).await;
    let game = m.game().expect("game");
    assert_eq!(game.title, "Tetris");
    assert!(!game.photo.is_empty());
    assert_eq!(j["via_bot"]["is_bot"], true);
    assert_eq!(m.via_bot.as_ref().map(|u| u.id.0), Some(games as u64));

    assert_no_violations(&fake);
}

#[tokio::test]
async fn media_carry_captions_with_entities() {
    let Room { fake, sg, ann } = room().await;
    // The text of `new` becomes the caption.
    let (j, m) = post(
        &fake,
        IncomingMessage::new(ann, sg, "see https://example.com").video(),
    )
    .await;
    assert_eq!(m.caption(), Some("see https://example.com"));
    assert_eq!(
        j["caption_entities"],
        json!([{"type": "url", "offset": 4, "length": 19}])
    );
    assert!(j.get("text").is_none() && j.get("entities").is_none());
    // `caption` before or after the kind.
    let (j, _) = post(
        &fake,
        IncomingMessage::new(ann, sg, "")
            .caption("a doc")
            .document(),
    )
    .await;
    assert_eq!(j["caption"], "a doc");
    let (j, m) = post(
        &fake,
        IncomingMessage::new(ann, sg, "").animation().caption("lol"),
    )
    .await;
    assert_eq!(j["caption"], "lol");
    assert!(m.animation().is_some());
    // A caption alone still makes a photo.
    let (j, m) = post(&fake, IncomingMessage::new(ann, sg, "").caption("pic")).await;
    assert!(m.photo().is_some());
    assert_eq!(j["caption"], "pic");
    // A user edits the caption of a media message without one.
    let id = fake.send_message(IncomingMessage::new(ann, sg, "").voice());
    take_updates(&fake).await;
    fake.edit_text(ann, sg, id, "now captioned");
    let j = fake.message_json(sg, id).unwrap();
    assert_eq!(j["caption"], "now captioned");
    assert!(j.get("text").is_none());
    assert_no_violations(&fake);
}

#[test]
#[should_panic(expected = "a sticker message has no caption")]
fn stickers_take_no_caption() {
    let _ = IncomingMessage::new(1, -1, "").sticker().caption("no");
}

#[tokio::test]
async fn forwards_keep_their_content_and_say_where_from() {
    let Room { fake, sg, ann } = room().await;
    let bob = fake.add_user("Bob");
    let channel = fake.add_channel("News", Some("news"));
    fake.send_message(IncomingMessage::new(BOT_ID, channel, "post"));
    let other = fake.add_supergroup("Other", None);

    let (j, m) = post(
        &fake,
        IncomingMessage::new(ann, sg, "hello").forwarded_from_user(bob),
    )
    .await;
    assert_eq!(m.text(), Some("hello"));
    assert!(matches!(
        m.forward_origin(),
        Some(MessageOrigin::User { sender_user, .. }) if sender_user.id.0 == bob as u64
    ));
    assert_eq!(j["forward_origin"]["type"], "user");

    let (j, m) = post(
        &fake,
        IncomingMessage::new(ann, sg, "")
            .photo()
            .forwarded_from_chat(channel),
    )
    .await;
    assert!(m.photo().is_some());
    assert!(matches!(
        m.forward_origin(),
        Some(MessageOrigin::Channel { chat, message_id, .. })
            if chat.id.0 == channel && message_id.0 == 1
    ));
    assert_eq!(j["forward_origin"]["chat"]["type"], "channel");

    let (j, m) = post(
        &fake,
        IncomingMessage::new(ann, sg, "anon").forwarded_from_chat(other),
    )
    .await;
    assert!(matches!(
        m.forward_origin(),
        Some(MessageOrigin::Chat { sender_chat, .. }) if sender_chat.id.0 == other
    ));
    assert_eq!(j["forward_origin"]["type"], "chat");

    let (j, m) = post(
        &fake,
        IncomingMessage::new(ann, sg, "psst").forwarded_hidden("Mystery Man"),
    )
    .await;
    assert!(matches!(
        m.forward_origin(),
        Some(MessageOrigin::HiddenUser { sender_user_name, .. }) if sender_user_name == "Mystery Man"
    ));
    assert_eq!(j["forward_origin"]["type"], "hidden_user");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn links_in_texts_are_detected() {
    let Room { fake, sg, ann } = room().await;
    let (j, _) = post(
        &fake,
        IncomingMessage::new(ann, sg, "go to https://example.com/a?b=1 now"),
    )
    .await;
    assert_eq!(
        j["entities"],
        json!([{"type": "url", "offset": 6, "length": 25}])
    );
    let (j, _) = post(
        &fake,
        IncomingMessage::new(ann, sg, "try example.com, or http://x.org."),
    )
    .await;
    assert_eq!(
        j["entities"],
        json!([
            {"type": "url", "offset": 4, "length": 11},
            {"type": "url", "offset": 20, "length": 12},
        ])
    );
    let (j, _) = post(&fake, IncomingMessage::new(ann, sg, "no links here")).await;
    assert!(j.get("entities").is_none());
    // A text_link given explicitly stays as given.
    let (j, _) = post(
        &fake,
        IncomingMessage::new(ann, sg, "click").entities(vec![
            json!({"type": "text_link", "offset": 0, "length": 5, "url": "https://example.com/"}),
        ]),
    )
    .await;
    assert_eq!(j["entities"][0]["type"], "text_link");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn privacy_mode_hides_plain_group_messages_of_every_kind() {
    let fake = FakeTelegram::start().await;
    let ann = fake.add_user("Ann");
    let sg = fake.add_supergroup("Quiet", None);
    fake.set_member(sg, ann, MemberStatus::Member);
    let me: Me = check("User", &ok(&fake, "getMe", json!({})).await);
    assert!(!me.can_read_all_group_messages);

    fake.send_text(ann, sg, "hello");
    fake.send_message(IncomingMessage::new(ann, sg, "").sticker());
    fake.send_message(IncomingMessage::new(ann, sg, "").poll("Q?"));
    fake.send_message(IncomingMessage::new(ann, sg, "look").photo());
    fake.send_message(IncomingMessage::new(ann, sg, "fwd").forwarded_hidden("X"));
    assert!(take_updates(&fake).await.is_empty());
    // Messages sent through this bot inline are received.
    fake.send_message(IncomingMessage::new(ann, sg, "inline result").via_bot(BOT_ID));
    // Service messages too.
    let owner = fake.add_user("Owner");
    fake.set_member(sg, owner, MemberStatus::Creator);
    fake.add_bot_to_group(owner, sg, "Spam");
    let got = take_updates(&fake).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0]["message"]["text"], "inline result");
    assert!(got[1]["message"]["new_chat_members"].is_array());

    // An administrator sees everything, privacy mode or not.
    fake.set_bot_admin(sg, AdminRights::none());
    take_updates(&fake).await;
    fake.send_message(IncomingMessage::new(ann, sg, "").sticker());
    assert_eq!(take_updates(&fake).await.len(), 1);

    fake.set_privacy_mode(false);
    let me: Me = check("User", &ok(&fake, "getMe", json!({})).await);
    assert!(me.can_read_all_group_messages);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn permissions_decide_which_kinds_a_member_may_send() {
    let Room { fake, sg, ann } = room().await;
    fake.set_chat_permissions(
        sg,
        ChatPermissions {
            can_send_other_messages: false,
            ..ChatPermissions::group_default()
        },
    );
    // Text, photos and polls still go.
    fake.send_text(ann, sg, "hi");
    fake.send_message(IncomingMessage::new(ann, sg, "").photo());
    fake.send_message(IncomingMessage::new(ann, sg, "").poll("Q?"));
    // Stickers, GIFs, dice and inline bots' messages do not: Telegram
    // refuses them, the fake panics.
    let games = fake.add_bot_user("Games", "gamee");
    let refused = [
        IncomingMessage::new(ann, sg, "").sticker(),
        IncomingMessage::new(ann, sg, "").animation(),
        IncomingMessage::new(ann, sg, "").dice("🎯"),
        IncomingMessage::new(ann, sg, "hi").via_bot(games),
    ];
    for msg in refused {
        let f = fake.clone();
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || f.send_message(msg)));
        let e = result.expect_err("Telegram would refuse it");
        let text = e.downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(text.contains("Telegram would refuse the message"), "{text}");
    }
    assert_eq!(take_updates(&fake).await.len(), 3);
}

#[tokio::test]
async fn a_bot_added_to_a_group_can_be_removed() {
    let Room { fake, sg, ann } = room().await;
    // chat_member updates come only when asked for.
    ok(
        &fake,
        "getUpdates",
        json!({"allowed_updates": ["message", "chat_member"]}),
    )
    .await;
    let spam = fake.add_bot_to_group(ann, sg, "Spam Bot");
    assert_eq!(fake.member_status(sg, spam), MemberStatus::Member);
    let got = take_updates(&fake).await;
    assert_eq!(got.len(), 2, "{got:#?}");
    let _: Update = check("Update", &got[0]);
    let cm = &got[0]["chat_member"];
    assert_eq!(cm["from"]["id"], ann);
    assert_eq!(cm["new_chat_member"]["status"], "member");
    assert_eq!(cm["new_chat_member"]["user"]["is_bot"], true);
    let m: Message = check("Message", &got[1]["message"]);
    let added = m.new_chat_members().expect("new_chat_members");
    assert_eq!(added.len(), 1);
    assert!(added[0].is_bot);
    assert_eq!(added[0].id.0, spam as u64);
    assert!(added[0].username.as_deref().unwrap().ends_with("bot"));
    assert_eq!(m.from.as_ref().unwrap().id.0, ann as u64);
    let service = got[1]["message"]["message_id"].as_i64().unwrap() as i32;
    assert_eq!(fake.last_message_id(sg), Some(service));

    // The bot bans it, and deletes the service message.
    ok(
        &fake,
        "banChatMember",
        json!({"chat_id": sg, "user_id": spam}),
    )
    .await;
    assert_eq!(fake.member_status(sg, spam), MemberStatus::Kicked);
    ok(
        &fake,
        "deleteMessage",
        json!({"chat_id": sg, "message_id": service}),
    )
    .await;
    assert!(fake.is_deleted(sg, service));

    // In a basic group a ban removes it; usernames stay unique.
    let g = fake.add_group("Basic");
    fake.set_member(g, ann, MemberStatus::Creator);
    fake.set_bot_admin(g, AdminRights::usual());
    let spam2 = fake.add_bot_to_group(ann, g, "Spam Bot");
    let u = ok(
        &fake,
        "getChatMember",
        json!({"chat_id": g, "user_id": spam2}),
    )
    .await;
    assert_ne!(
        u["user"]["username"],
        cm["new_chat_member"]["user"]["username"]
    );
    ok(
        &fake,
        "banChatMember",
        json!({"chat_id": g, "user_id": spam2}),
    )
    .await;
    assert_eq!(fake.member_status(g, spam2), MemberStatus::Left);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn deletion_needs_the_right_to_delete_others_messages() {
    let fake = FakeTelegram::start().await;
    let ann = fake.add_user("Ann");
    let sg = fake.add_supergroup("Del", None);
    fake.set_member(sg, ann, MemberStatus::Member);
    let theirs = fake.send_message(IncomingMessage::new(ann, sg, "").sticker());
    let mine = ok(&fake, "sendMessage", json!({"chat_id": sg, "text": "mine"})).await["message_id"]
        .as_i64()
        .unwrap();

    // A plain member: only its own messages.
    assert_eq!(
        err(
            &fake,
            "deleteMessage",
            json!({"chat_id": sg, "message_id": theirs})
        )
        .await,
        "Bad Request: message can't be deleted"
    );
    assert_eq!(
        err(
            &fake,
            "deleteMessage",
            json!({"chat_id": sg, "message_id": 999})
        )
        .await,
        "Bad Request: message to delete not found"
    );
    // deleteMessages skips what it can't delete and answers true.
    let done = ok(
        &fake,
        "deleteMessages",
        json!({"chat_id": sg, "message_ids": [theirs, mine, 999]}),
    )
    .await;
    assert_eq!(done, json!(true));
    assert!(fake.is_deleted(sg, mine as i32));
    assert!(!fake.is_deleted(sg, theirs));
    assert!(fake.message_json(sg, theirs).is_some());
    assert!(!fake.is_deleted(sg, 999));

    // An administrator without can_delete_messages: still not.
    fake.set_bot_admin(sg, AdminRights::usual().delete_messages(false));
    assert_eq!(
        err(
            &fake,
            "deleteMessage",
            json!({"chat_id": sg, "message_id": theirs})
        )
        .await,
        "Bad Request: message can't be deleted"
    );
    // With it: yes.
    fake.set_bot_admin(sg, AdminRights::none().delete_messages(true));
    let more: Vec<i32> = (0..3)
        .map(|i| fake.send_text(ann, sg, &format!("spam {i}")))
        .collect();
    ok(
        &fake,
        "deleteMessage",
        json!({"chat_id": sg, "message_id": theirs}),
    )
    .await;
    assert!(fake.is_deleted(sg, theirs));
    assert!(fake.message_json(sg, theirs).is_none());
    ok(
        &fake,
        "deleteMessages",
        json!({"chat_id": sg, "message_ids": more}),
    )
    .await;
    assert!(more.iter().all(|m| fake.is_deleted(sg, *m)));
    assert_eq!(
        fake.deleted_messages(sg),
        [vec![mine as i32, theirs], more].concat()
    );

    // message_ids as the Bot API server reads them.
    let too_many: Vec<i32> = (1..=101).collect();
    for (ids, text) in [
        (json!(null), "message identifiers are not specified"),
        (json!([]), "message identifiers are not specified"),
        (json!(5), "expected an Array of message identifiers"),
        (json!(too_many), "too many message identifiers specified"),
        (json!([1, 0]), "invalid message identifier specified"),
    ] {
        let mut params = json!({"chat_id": sg});
        if !ids.is_null() {
            params["message_ids"] = ids;
        }
        assert_eq!(
            err(&fake, "deleteMessages", params).await,
            format!("Bad Request: {text}")
        );
    }
    let hundred: Vec<i32> = (1..=100).collect();
    ok(
        &fake,
        "deleteMessages",
        json!({"chat_id": sg, "message_ids": hundred}),
    )
    .await;
}
