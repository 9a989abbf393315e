//! Moderation as Telegram does it: administrators' rights, restricted
//! members' permissions, chats' default permissions, and banChatMember,
//! unbanChatMember, restrictChatMember and setChatPermissions with their
//! refusals.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{assert_no_violations, call_status, check, err, ok, take_updates};
use fake_bot_api::spec::spec;
use fake_bot_api::{AdminRights, BOT_ID, ChatPermissions, FakeTelegram, MemberStatus};
use serde_json::{Value, json};
use teloxide_core::types::{ChatFullInfo, ChatMember, Update};

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A supergroup with its owner, a member and the bot as a usual admin.
struct Room {
    fake: FakeTelegram,
    sg: i64,
    owner: i64,
    ann: i64,
}

/// A fake whose bot asked for `chat_member` updates too.
async fn start() -> FakeTelegram {
    let fake = FakeTelegram::start().await;
    let kinds = json!(["message", "my_chat_member", "chat_member"]);
    ok(&fake, "getUpdates", json!({"allowed_updates": kinds})).await;
    fake
}

async fn room() -> Room {
    let fake = start().await;
    let owner = fake.add_user("Owner");
    let ann = fake.add_user("Ann");
    let sg = fake.add_supergroup("Mods", None);
    fake.set_member(sg, owner, MemberStatus::Creator);
    fake.set_member(sg, ann, MemberStatus::Member);
    fake.set_bot_status(sg, MemberStatus::Administrator);
    take_updates(&fake).await;
    Room {
        fake,
        sg,
        owner,
        ann,
    }
}

async fn member(fake: &FakeTelegram, chat: i64, user: i64) -> Value {
    let m = ok(
        fake,
        "getChatMember",
        json!({"chat_id": chat, "user_id": user}),
    )
    .await;
    check::<ChatMember>("ChatMember", &m);
    m
}

/// The pending updates (confirmed), each valid per the spec and teloxide.
async fn updates(fake: &FakeTelegram) -> Vec<Value> {
    let list = take_updates(fake).await;
    for u in &list {
        check::<Update>("Update", u);
    }
    list
}

/// The pending updates must be exactly one `kind` update; returns it.
async fn only_update(fake: &FakeTelegram, kind: &str) -> Value {
    let list = updates(fake).await;
    assert_eq!(list.len(), 1, "{list:#?}");
    list[0][kind].clone()
}

#[tokio::test]
async fn administrators_carry_their_rights() {
    let Room {
        fake,
        sg,
        owner,
        ann,
    } = room().await;
    let group = fake.add_group("G");
    let channel = fake.add_channel("C", None);
    for chat in [sg, group, channel] {
        fake.set_member(chat, ann, MemberStatus::Administrator);
        let m = member(&fake, chat, ann).await;
        assert_eq!(m["status"], "administrator");
        // The usual rights, as before.
        for (right, on) in [
            ("can_be_edited", false),
            ("is_anonymous", false),
            ("can_manage_chat", true),
            ("can_delete_messages", true),
            ("can_restrict_members", true),
            ("can_promote_members", false),
            ("can_change_info", true),
            ("can_invite_users", true),
        ] {
            assert_eq!(m[right], on, "{right} in {m}");
        }
        // Each chat kind has its own fields.
        let has = |f: &str| m.get(f).is_some();
        assert_eq!(has("can_post_messages"), chat == channel, "{m}");
        assert_eq!(has("can_manage_direct_messages"), chat == channel, "{m}");
        assert_eq!(has("can_pin_messages"), chat != channel, "{m}");
        assert_eq!(has("can_manage_tags"), chat != channel, "{m}");
        assert_eq!(has("can_manage_topics"), chat == sg, "{m}");
        assert_eq!(fake.admin_rights(chat, ann), Some(AdminRights::usual()));
    }
    // Every required field of ChatMemberAdministrator is there.
    let m = member(&fake, sg, ann).await;
    for field in spec()
        .type_spec("ChatMemberAdministrator")
        .unwrap()
        .required
        .keys()
    {
        assert!(m.get(field).is_some(), "{field} missing in {m}");
    }

    // An administrator with no rights but managing the chat.
    fake.set_admin(sg, ann, AdminRights::none().pin_messages(true));
    assert!(updates(&fake).await.is_empty(), "set_admin is silent");
    let m = member(&fake, sg, ann).await;
    assert_eq!(
        (
            &m["can_manage_chat"],
            &m["can_restrict_members"],
            &m["can_delete_messages"],
            &m["can_pin_messages"]
        ),
        (&json!(true), &json!(false), &json!(false), &json!(true))
    );
    // can_manage_chat is implied.
    let mut bare = AdminRights::none();
    bare.can_manage_chat = false;
    fake.set_admin(sg, ann, bare);
    assert_eq!(fake.admin_rights(sg, ann), Some(AdminRights::none()));
    assert_eq!(fake.admin_rights(sg, owner), Some(AdminRights::all()));
    assert_eq!(fake.admin_rights(sg, fake.add_user("Bo")), None);

    let admins = ok(&fake, "getChatAdministrators", json!({"chat_id": sg})).await;
    let _: Vec<ChatMember> = check("Array of ChatMember", &admins);
    let rights: Vec<(i64, Value)> = admins
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["user"]["id"].as_i64().unwrap(),
                a["can_restrict_members"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rights,
        vec![
            (owner, Value::Null),
            (BOT_ID, json!(true)),
            (ann, json!(false))
        ]
    );

    // change_admin queues chat_member (the bot is an admin), even when
    // only the rights change.
    fake.change_admin(sg, ann, AdminRights::all().anonymous(true));
    let cm = only_update(&fake, "chat_member").await;
    assert_eq!(cm["old_chat_member"]["can_promote_members"], false);
    assert_eq!(cm["new_chat_member"]["can_promote_members"], true);
    assert_eq!(cm["new_chat_member"]["is_anonymous"], true);
    fake.change_admin(sg, ann, AdminRights::all().anonymous(true));
    assert!(updates(&fake).await.is_empty(), "no change, no update");

    // The bot's own rights: my_chat_member, and getChatMember of itself.
    fake.set_bot_admin(sg, AdminRights::usual().restrict_members(false));
    let my = only_update(&fake, "my_chat_member").await;
    assert_eq!(my["old_chat_member"]["can_restrict_members"], true);
    assert_eq!(my["new_chat_member"]["can_restrict_members"], false);
    let me = member(&fake, sg, BOT_ID).await;
    assert_eq!(me["can_restrict_members"], false);
    assert_eq!(me["can_delete_messages"], true);
    // From a member to an admin.
    let sg2 = fake.add_supergroup("Other", None);
    fake.set_bot_admin(sg2, AdminRights::all());
    let my = only_update(&fake, "my_chat_member").await;
    assert_eq!(
        (
            &my["old_chat_member"]["status"],
            &my["new_chat_member"]["status"]
        ),
        (&json!("member"), &json!("administrator"))
    );
    assert_eq!(my["new_chat_member"]["can_promote_members"], true);
    assert_eq!(fake.member_status(sg2, BOT_ID), MemberStatus::Administrator);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn bans_keep_their_end_and_notify() {
    let Room { fake, sg, ann, .. } = room().await;
    let until = unix_now() + 3600;
    let r = ok(
        &fake,
        "banChatMember",
        json!({"chat_id": sg, "user_id": ann, "until_date": until, "revoke_messages": true}),
    )
    .await;
    assert_eq!(r, true);
    assert_eq!(fake.member_status(sg, ann), MemberStatus::Kicked);
    assert_eq!(fake.ban_until(sg, ann), Some(until));
    let m = member(&fake, sg, ann).await;
    assert_eq!(
        m,
        json!({"status": "kicked", "user": m["user"], "until_date": until})
    );
    let cm = only_update(&fake, "chat_member").await;
    assert_eq!(cm["from"]["id"], BOT_ID);
    assert_eq!(cm["old_chat_member"]["status"], "member");
    assert_eq!(cm["new_chat_member"]["status"], "kicked");
    assert_eq!(cm["new_chat_member"]["until_date"], until);

    // The same ban again changes nothing; another end is a change.
    ok(
        &fake,
        "banChatMember",
        json!({"chat_id": sg, "user_id": ann, "until_date": until}),
    )
    .await;
    assert!(updates(&fake).await.is_empty());
    ok(
        &fake,
        "banChatMember",
        json!({"chat_id": sg, "user_id": ann}),
    )
    .await;
    let cm = only_update(&fake, "chat_member").await;
    assert_eq!(cm["old_chat_member"]["until_date"], until);
    assert_eq!(cm["new_chat_member"]["until_date"], 0);
    assert_eq!(fake.ban_until(sg, ann), Some(0));

    // Less than 30 s or more than 366 days ahead: forever.
    let now = unix_now();
    for (until, kept) in [
        (now + 5, 0),
        (now - 100, 0),
        (now + 367 * 86_400, 0),
        (now + 300, now + 300),
        (now + 365 * 86_400, now + 365 * 86_400),
    ] {
        ok(
            &fake,
            "banChatMember",
            json!({"chat_id": sg, "user_id": ann, "until_date": until}),
        )
        .await;
        assert_eq!(fake.ban_until(sg, ann), Some(kept), "until {until}");
    }

    // A user who never joined can be banned beforehand.
    let stranger = fake.add_user("Stranger");
    ok(
        &fake,
        "banChatMember",
        json!({"chat_id": sg, "user_id": stranger}),
    )
    .await;
    assert_eq!(fake.member_status(sg, stranger), MemberStatus::Kicked);
    // A member of the bot's request log, with its parameters.
    let bans = fake.requests_for("banChatMember");
    assert_eq!(bans.len(), 9);
    assert!(bans.iter().all(|r| r.ok));
    assert_eq!(bans[0].params["revoke_messages"], true);
    assert_eq!(bans[8].params["user_id"], stranger);
    assert_eq!(fake.ban_until(sg, fake.add_user("Free")), None);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn unbans_follow_only_if_banned() {
    let Room { fake, sg, ann, .. } = room().await;
    let bob = fake.add_user("Bob");
    fake.set_member(sg, bob, MemberStatus::Kicked);

    // Banned: Left, with or without only_if_banned.
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": sg, "user_id": bob, "only_if_banned": true}),
    )
    .await;
    assert_eq!(fake.member_status(sg, bob), MemberStatus::Left);
    let cm = only_update(&fake, "chat_member").await;
    assert_eq!(
        (
            &cm["old_chat_member"]["status"],
            &cm["new_chat_member"]["status"]
        ),
        (&json!("kicked"), &json!("left"))
    );

    // A member stays with only_if_banned...
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": sg, "user_id": ann, "only_if_banned": true}),
    )
    .await;
    assert_eq!(fake.member_status(sg, ann), MemberStatus::Member);
    assert!(updates(&fake).await.is_empty());
    // ... and is removed without it, as the docs say.
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": sg, "user_id": ann}),
    )
    .await;
    assert_eq!(fake.member_status(sg, ann), MemberStatus::Left);
    let cm = only_update(&fake, "chat_member").await;
    assert_eq!(cm["new_chat_member"]["status"], "left");
    // Nothing to do for a user who is not there.
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": sg, "user_id": ann}),
    )
    .await;
    assert!(updates(&fake).await.is_empty());

    // A restricted member is removed too (restrictions lifted).
    fake.set_member(sg, bob, MemberStatus::Restricted { is_member: true });
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": sg, "user_id": bob}),
    )
    .await;
    assert_eq!(fake.member_status(sg, bob), MemberStatus::Left);
    assert_eq!(fake.restriction(sg, bob), None);

    // In a channel too.
    let channel = fake.add_channel("News", None);
    fake.set_member(channel, bob, MemberStatus::Kicked);
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": channel, "user_id": bob}),
    )
    .await;
    assert_eq!(fake.member_status(channel, bob), MemberStatus::Left);
    assert_eq!(fake.requests_for("unbanChatMember").len(), 6);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn restrictions_keep_permissions_and_end() {
    let Room { fake, sg, ann, .. } = room().await;
    let until = unix_now() + 600;
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": ann, "until_date": until,
               "permissions": {"can_send_messages": false, "can_send_polls": false}}),
    )
    .await;
    assert_eq!(
        fake.member_status(sg, ann),
        MemberStatus::Restricted { is_member: true }
    );
    assert_eq!(
        fake.restriction(sg, ann),
        Some((ChatPermissions::none(), until))
    );
    let m = member(&fake, sg, ann).await;
    assert_eq!(m["status"], "restricted");
    assert_eq!(m["is_member"], true);
    assert_eq!(m["until_date"], until);
    for field in spec()
        .type_spec("ChatMemberRestricted")
        .unwrap()
        .required
        .keys()
    {
        assert!(m.get(field).is_some(), "{field} missing in {m}");
    }
    let cm = only_update(&fake, "chat_member").await;
    assert_eq!(cm["from"]["id"], BOT_ID);
    assert_eq!(cm["new_chat_member"]["can_send_messages"], false);
    assert_eq!(cm["new_chat_member"]["until_date"], until);

    // Without use_independent_chat_permissions, other messages imply media
    // and text; absent fields are false; reactions follow the text field
    // as given (before the implications, as the Bot API server reads it),
    // topics and tags follow pins.
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": ann,
               "permissions": {"can_send_other_messages": true, "can_pin_messages": true}}),
    )
    .await;
    let (p, until) = fake.restriction(sg, ann).unwrap();
    assert_eq!(until, 0);
    assert_eq!(
        p,
        ChatPermissions {
            can_send_polls: false,
            can_react_to_messages: false,
            can_change_info: false,
            can_invite_users: false,
            can_add_web_page_previews: false,
            ..ChatPermissions::all()
        }
    );
    // Independent: exactly what is given.
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": ann, "use_independent_chat_permissions": true,
               "permissions": {"can_send_other_messages": true, "can_send_polls": true,
                               "can_react_to_messages": false}}),
    )
    .await;
    let (p, _) = fake.restriction(sg, ann).unwrap();
    assert_eq!(
        p,
        ChatPermissions {
            can_send_other_messages: true,
            can_send_polls: true,
            ..ChatPermissions::none()
        }
    );
    // Polls imply text otherwise.
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": ann, "permissions": {"can_send_polls": true}}),
    )
    .await;
    let (p, _) = fake.restriction(sg, ann).unwrap();
    assert!(p.can_send_messages && p.can_send_polls);
    assert!(!p.can_send_photos && !p.can_react_to_messages);
    updates(&fake).await;

    // Every permission granted: a plain member again.
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": ann, "permissions": ChatPermissions::all().to_json()}),
    )
    .await;
    assert_eq!(fake.member_status(sg, ann), MemberStatus::Member);
    assert_eq!(fake.restriction(sg, ann), None);
    let cm = only_update(&fake, "chat_member").await;
    assert_eq!(cm["new_chat_member"]["status"], "member");
    // ... which a member already is: nothing happens.
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": ann, "permissions": ChatPermissions::all().to_json(),
               "until_date": unix_now() + 600}),
    )
    .await;
    assert!(updates(&fake).await.is_empty());

    // Restricting someone not in the chat: restricted, not a member.
    let bob = fake.add_user("Bob");
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": bob, "permissions": {}}),
    )
    .await;
    assert_eq!(
        fake.member_status(sg, bob),
        MemberStatus::Restricted { is_member: false }
    );
    assert_eq!(member(&fake, sg, bob).await["is_member"], false);
    // A form body carries the permissions as JSON text.
    let form = reqwest::Client::new()
        .post(common::method_url(&fake, "restrictChatMember"))
        .form(&[
            ("chat_id", sg.to_string()),
            ("user_id", ann.to_string()),
            ("permissions", r#"{"can_send_messages":true}"#.to_owned()),
            ("use_independent_chat_permissions", "true".to_owned()),
        ])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(form["ok"], true, "{form}");
    let (p, _) = fake.restriction(sg, ann).unwrap();
    assert!(p.can_send_messages && p.can_react_to_messages && !p.can_send_photos);
    assert_eq!(fake.requests_for("restrictChatMember").len(), 8);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn restricted_users_write_only_what_they_may() {
    let Room { fake, sg, ann, .. } = room().await;
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": ann, "use_independent_chat_permissions": true,
               "permissions": {"can_send_messages": true}}),
    )
    .await;
    fake.send_text(ann, sg, "text is fine");
    let photo = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fake.send_message(fake_bot_api::IncomingMessage::new(ann, sg, "pic").caption("pic"))
    }));
    assert!(photo.is_err(), "a photo needs can_send_photos");
    // The chat's defaults bind plain members.
    let bob = fake.add_user("Bob");
    fake.set_member(sg, bob, MemberStatus::Member);
    fake.set_chat_permissions(
        sg,
        ChatPermissions {
            can_send_messages: false,
            ..ChatPermissions::group_default()
        },
    );
    let text = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        fake.send_text(bob, sg, "hello")
    }));
    assert!(text.is_err(), "the chat forbids text");
}

#[tokio::test]
async fn refusals_use_telegrams_words() {
    let Room {
        fake,
        sg,
        owner,
        ann,
    } = room().await;
    let perms = json!({"can_send_messages": false});
    let methods = |user: i64| {
        [
            ("banChatMember", json!({"chat_id": sg, "user_id": user})),
            ("unbanChatMember", json!({"chat_id": sg, "user_id": user})),
            (
                "restrictChatMember",
                json!({"chat_id": sg, "user_id": user, "permissions": perms}),
            ),
        ]
    };
    let expect_all = async |user: i64, want: &str| {
        for (method, params) in methods(user) {
            let (status, body) = call_status(&fake, method, params).await;
            assert_eq!(
                (status, body["description"].as_str().unwrap()),
                (400, want),
                "{method} of {user}"
            );
        }
    };

    // The owner, before the bot's rights are even looked at.
    expect_all(owner, "Bad Request: can't remove chat owner").await;
    // Another administrator.
    let admin = fake.add_user("Admin");
    fake.set_member(sg, admin, MemberStatus::Administrator);
    expect_all(admin, "Bad Request: user is an administrator of the chat").await;
    fake.set_admin(sg, admin, AdminRights::none().editable(true));
    expect_all(admin, "Bad Request: user is an administrator of the chat").await;
    // Unknown users.
    expect_all(424242, "Bad Request: user not found").await;
    // The bot itself (unbanning itself is leaving: below).
    for (method, params) in methods(BOT_ID) {
        if method != "unbanChatMember" {
            assert_eq!(
                err(&fake, method, params).await,
                "Bad Request: can't restrict self"
            );
        }
    }
    // Unknown chats.
    for (method, mut params) in methods(ann) {
        params["chat_id"] = json!(-100999);
        assert_eq!(
            err(&fake, method, params).await,
            "Bad Request: chat not found"
        );
    }
    // The bot without can_restrict_members, then not an admin at all.
    fake.set_bot_admin(sg, AdminRights::usual().restrict_members(false));
    expect_all(
        ann,
        "Bad Request: not enough rights to restrict/unrestrict chat member",
    )
    .await;
    expect_all(owner, "Bad Request: can't remove chat owner").await;
    expect_all(
        admin,
        "Bad Request: not enough rights to restrict/unrestrict chat member",
    )
    .await;
    fake.set_bot_status(sg, MemberStatus::Member);
    expect_all(
        ann,
        "Bad Request: not enough rights to restrict/unrestrict chat member",
    )
    .await;
    // Nothing changed meanwhile.
    assert_eq!(fake.member_status(sg, ann), MemberStatus::Member);
    assert_eq!(fake.member_status(sg, owner), MemberStatus::Creator);
    assert_eq!(fake.member_status(sg, admin), MemberStatus::Administrator);
    // Out of the chat: Forbidden, as for getChatMember.
    fake.set_bot_status(sg, MemberStatus::Kicked);
    for (method, params) in methods(ann) {
        let (status, body) = call_status(&fake, method, params).await;
        assert_eq!(
            (status, body["description"].as_str().unwrap()),
            (403, "Forbidden: bot was kicked from the supergroup chat")
        );
    }

    // Chat kinds.
    fake.send_text(ann, ann, "hi");
    let group = fake.add_group("G");
    fake.set_member(group, ann, MemberStatus::Member);
    fake.set_bot_status(group, MemberStatus::Administrator);
    let channel = fake.add_channel("C", None);
    fake.set_member(channel, ann, MemberStatus::Member);
    for (method, chat, want) in [
        ("banChatMember", ann, "can't ban members in private chats"),
        (
            "unbanChatMember",
            ann,
            "method is available for supergroup and channel chats only",
        ),
        (
            "unbanChatMember",
            group,
            "method is available for supergroup and channel chats only",
        ),
        (
            "restrictChatMember",
            ann,
            "method is available only for supergroups",
        ),
        (
            "restrictChatMember",
            group,
            "method is available only for supergroups",
        ),
        (
            "restrictChatMember",
            channel,
            "method is available only for supergroups",
        ),
    ] {
        let mut params = json!({"chat_id": chat, "user_id": ann});
        if method == "restrictChatMember" {
            params["permissions"] = perms.clone();
        }
        assert_eq!(
            err(&fake, method, params).await,
            format!("Bad Request: {want}"),
            "{method} in {chat}"
        );
    }
    // Bad permissions, before the chat is looked at.
    for (permissions, want) in [
        (json!("{oops"), "can't parse permissions JSON object"),
        (json!([1]), "object expected as permissions"),
        (
            json!({"can_send_messages": 1}),
            "can't parse chat permissions: Field \"can_send_messages\" must be of type Boolean",
        ),
    ] {
        assert_eq!(
            err(
                &fake,
                "restrictChatMember",
                json!({"chat_id": -100999, "user_id": ann, "permissions": permissions})
            )
            .await,
            format!("Bad Request: {want}")
        );
    }
    assert_eq!(
        fake.requests_for("banChatMember")
            .iter()
            .filter(|r| r.ok)
            .count(),
        0
    );
    assert_no_violations(&fake);
    // A missing parameter is a spec violation answered like Telegram.
    assert_eq!(
        err(
            &fake,
            "restrictChatMember",
            json!({"chat_id": channel, "user_id": ann})
        )
        .await,
        "Bad Request: permissions is empty"
    );
    assert_eq!(
        fake.spec_violations(),
        vec!["restrictChatMember: missing required parameter \"permissions\"".to_owned()]
    );
}

#[tokio::test]
async fn unbanning_itself_makes_the_bot_leave() {
    let Room { fake, sg, .. } = room().await;
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": sg, "user_id": BOT_ID, "only_if_banned": true}),
    )
    .await;
    assert_eq!(fake.member_status(sg, BOT_ID), MemberStatus::Administrator);
    ok(
        &fake,
        "unbanChatMember",
        json!({"chat_id": sg, "user_id": BOT_ID}),
    )
    .await;
    assert_eq!(fake.member_status(sg, BOT_ID), MemberStatus::Left);
    let my = only_update(&fake, "my_chat_member").await;
    assert_eq!(my["new_chat_member"]["status"], "left");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn basic_groups_remove_instead_of_banning() {
    let fake = start().await;
    let owner = fake.add_user("Owner");
    let ann = fake.add_user("Ann");
    let g = fake.add_group("G");
    fake.set_member(g, owner, MemberStatus::Creator);
    fake.set_member(g, ann, MemberStatus::Member);
    fake.set_bot_status(g, MemberStatus::Administrator);
    take_updates(&fake).await;
    ok(
        &fake,
        "banChatMember",
        json!({"chat_id": g, "user_id": ann, "until_date": unix_now() + 3600}),
    )
    .await;
    assert_eq!(fake.member_status(g, ann), MemberStatus::Left);
    assert_eq!(fake.ban_until(g, ann), None);
    let cm = only_update(&fake, "chat_member").await;
    assert_eq!(cm["new_chat_member"]["status"], "left");
    assert_eq!(
        err(
            &fake,
            "banChatMember",
            json!({"chat_id": g, "user_id": ann})
        )
        .await,
        "Bad Request: USER_NOT_PARTICIPANT"
    );
    assert_eq!(
        err(
            &fake,
            "banChatMember",
            json!({"chat_id": g, "user_id": owner})
        )
        .await,
        "Bad Request: can't remove chat owner"
    );
    fake.set_member(g, ann, MemberStatus::Member);
    fake.set_bot_admin(g, AdminRights::usual().restrict_members(false));
    assert_eq!(
        err(
            &fake,
            "banChatMember",
            json!({"chat_id": g, "user_id": ann})
        )
        .await,
        "Bad Request: not enough rights to restrict/unrestrict chat member"
    );
    // The bot removing itself leaves.
    take_updates(&fake).await;
    ok(
        &fake,
        "banChatMember",
        json!({"chat_id": g, "user_id": BOT_ID}),
    )
    .await;
    assert_eq!(fake.member_status(g, BOT_ID), MemberStatus::Left);
    assert_eq!(
        only_update(&fake, "my_chat_member").await["new_chat_member"]["status"],
        "left"
    );
    assert_no_violations(&fake);
}

#[tokio::test]
async fn chat_permissions_are_defaults_the_bot_may_set() {
    let Room { fake, sg, ann, .. } = room().await;
    let info = ok(&fake, "getChat", json!({"chat_id": sg})).await;
    let _: ChatFullInfo = check("ChatFullInfo", &info);
    assert_eq!(
        info["permissions"],
        ChatPermissions::group_default().to_json()
    );
    assert!(info["permissions"]["can_send_messages"].as_bool().unwrap());
    ok(
        &fake,
        "setChatPermissions",
        json!({"chat_id": sg, "permissions": {"can_send_messages": true},
               "use_independent_chat_permissions": true}),
    )
    .await;
    let want = ChatPermissions {
        can_send_messages: true,
        can_react_to_messages: true,
        ..ChatPermissions::none()
    };
    assert_eq!(fake.chat_permissions(sg), want);
    let info = ok(&fake, "getChat", json!({"chat_id": sg})).await;
    let _: ChatFullInfo = check("ChatFullInfo", &info);
    assert_eq!(info["permissions"], want.to_json());
    assert!(updates(&fake).await.is_empty());
    // Restrictions are not defaults: equal to them, still restricted.
    ok(
        &fake,
        "restrictChatMember",
        json!({"chat_id": sg, "user_id": ann, "permissions": want.to_json()}),
    )
    .await;
    assert_eq!(fake.restriction(sg, ann), Some((want, 0)));

    fake.send_text(ann, ann, "hi");
    let channel = fake.add_channel("C", None);
    for (chat, want) in [
        (ann, "can't change private chat permissions"),
        (channel, "can't change channel chat permissions"),
    ] {
        assert_eq!(
            err(
                &fake,
                "setChatPermissions",
                json!({"chat_id": chat, "permissions": {}})
            )
            .await,
            format!("Bad Request: {want}")
        );
    }
    fake.set_bot_admin(sg, AdminRights::usual().restrict_members(false));
    assert_eq!(
        err(
            &fake,
            "setChatPermissions",
            json!({"chat_id": sg, "permissions": {}})
        )
        .await,
        "Bad Request: not enough rights to change chat permissions"
    );
    fake.set_chat_permissions(sg, ChatPermissions::all());
    assert_eq!(fake.chat_permissions(sg), ChatPermissions::all());
    assert_eq!(fake.requests_for("setChatPermissions").len(), 4);
    assert_no_violations(&fake);
}

#[tokio::test]
async fn the_bots_rights_govern_deletions_and_pins() {
    let Room { fake, sg, ann, .. } = room().await;
    let theirs = fake.send_text(ann, sg, "spam");
    fake.set_bot_admin(
        sg,
        AdminRights::usual()
            .delete_messages(false)
            .pin_messages(false),
    );
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
            "pinChatMessage",
            json!({"chat_id": sg, "message_id": theirs})
        )
        .await,
        "Bad Request: not enough rights to manage pinned messages in the chat"
    );
    fake.set_bot_admin(
        sg,
        AdminRights::none().delete_messages(true).pin_messages(true),
    );
    ok(
        &fake,
        "pinChatMessage",
        json!({"chat_id": sg, "message_id": theirs}),
    )
    .await;
    ok(
        &fake,
        "deleteMessage",
        json!({"chat_id": sg, "message_id": theirs}),
    )
    .await;
    assert_no_violations(&fake);
}

#[tokio::test]
async fn set_member_keeps_its_meaning() {
    let Room { fake, sg, ann, .. } = room().await;
    fake.set_member(sg, ann, MemberStatus::Restricted { is_member: true });
    assert_eq!(
        fake.restriction(sg, ann),
        Some((ChatPermissions::none(), 0))
    );
    let m = member(&fake, sg, ann).await;
    assert_eq!(m["until_date"], 0);
    assert_eq!(m["can_send_messages"], false);
    fake.set_member(sg, ann, MemberStatus::Kicked);
    assert_eq!(fake.ban_until(sg, ann), Some(0));
    // A status change drops the terms of the old one.
    let until = unix_now() + 600;
    fake.set_member(sg, ann, MemberStatus::Member);
    ok(
        &fake,
        "banChatMember",
        json!({"chat_id": sg, "user_id": ann, "until_date": until}),
    )
    .await;
    fake.set_member(sg, ann, MemberStatus::Kicked);
    assert_eq!(fake.ban_until(sg, ann), Some(0));
    fake.set_admin(sg, ann, AdminRights::all());
    fake.set_member(sg, ann, MemberStatus::Administrator);
    assert_eq!(fake.admin_rights(sg, ann), Some(AdminRights::usual()));
    // A migration keeps rights, restrictions and defaults.
    let g = fake.add_group("G");
    let owner = fake.add_user("O");
    fake.set_member(g, owner, MemberStatus::Creator);
    fake.set_bot_admin(g, AdminRights::all());
    fake.set_member(g, ann, MemberStatus::Member);
    fake.set_chat_permissions(g, ChatPermissions::none());
    let sg2 = fake.migrate_group(g);
    assert_eq!(fake.admin_rights(sg2, BOT_ID), Some(AdminRights::all()));
    assert_eq!(fake.chat_permissions(sg2), ChatPermissions::none());
}
