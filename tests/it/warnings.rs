//! Warnings, warn settings, the action log and the user directory.

use std::time::{SystemTime, UNIX_EPOCH};

use fake_bot_api::{AdminRights, BOT_ID, ChatPermissions, IncomingMessage, MemberStatus};
use serde_json::json;

use crate::app::{TestApp, button_data, free_local_addr, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(
    warn_names_its_subject_every_way,
    warning_an_admin_yourself_or_the_bot_is_refused,
    warn_needs_the_right_to_ban_users,
    warn_limit_bans,
    warn_limit_kicks,
    warn_limit_mutes,
    warn_limit_bans_for_a_while,
    warn_limit_mutes_for_a_while,
    warn_limit_is_shown_set_and_checked,
    warn_mode_is_shown_set_and_checked,
    warn_settings_need_the_right_to_change_info,
    warns_of_others_need_the_right_to_ban_users,
    rmwarn_removes_the_latest_and_resetwarns_all,
    remove_warning_button_needs_the_right_to_ban_users,
    forged_remove_button_cannot_reach_another_group,
    anonymous_admin_warning_is_confirmed_by_a_real_admin,
    warnings_through_a_connection,
    limit_reached_through_a_connection_is_announced_in_the_group,
    losing_the_right_after_connecting_is_seen,
    modlog_lists_the_latest_twenty_newest_first,
    usernames_are_found_case_insensitively,
    renamed_users_are_found_by_their_new_username,
    restart_keeps_warnings_and_the_directory,
    chatter_from_known_users_costs_no_call,
);

/// "Team", its owner, and the bot an administrator with the usual rights.
fn team(app: &TestApp) -> (i64, i64) {
    let (chat, owner) = app.group_with_owner("Team");
    app.tg.set_bot_admin(chat, AdminRights::usual());
    (chat, owner)
}

/// A member of `chat` who has written there (`/id`), so the directory
/// knows them.
async fn member(app: &TestApp, chat: i64, name: &str, username: Option<&str>) -> i64 {
    let user = app.tg.add_user_with(name, None, username, None);
    app.tg.set_member(chat, user, MemberStatus::Member);
    introduce(app, chat, user).await;
    user
}

/// `user` writes in `chat` (`/id`, answered).
async fn introduce(app: &TestApp, chat: i64, user: i64) {
    let reply = app.say(user, chat, "/id").await;
    assert!(reply.text.contains("This chat's id"), "{}", reply.text);
}

/// An administrator of `chat` with `rights`, promoted once the bot was
/// (see [`team`]), known to the directory.
async fn admin(app: &TestApp, chat: i64, name: &str, rights: AdminRights) -> i64 {
    let user = app.tg.add_user(name);
    // Telegram tells the bot, an administrator, with a chat_member update.
    app.tg.change_admin(chat, user, rights);
    introduce(app, chat, user).await;
    user
}

/// The warnings `user` has in `chat`, counted in the database.
async fn stored_warns(app: &TestApp, chat: i64, user: i64) -> i64 {
    app.db
        .query_i64(
            "SELECT COUNT(*) FROM warnings WHERE chat_id = $1 AND user_id = $2",
            &[chat, user],
        )
        .await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The text of the alert a button press was answered with.
fn alert(answer: &serde_json::Value) -> String {
    assert_eq!(answer["show_alert"], true, "{answer}");
    answer["text"].as_str().unwrap_or_default().to_owned()
}

async fn warn_names_its_subject_every_way(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;

    // By reply.
    let spam = app.tg.send_text(bea, chat, "buy now");
    app.tg
        .send_message(IncomingMessage::new(owner, chat, "/warn spam").reply_to(spam));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "Bea has 1/3 warnings.\nReason: spam");
    assert_eq!(
        reply.button_texts(),
        vec![vec!["Remove warning".to_owned()]]
    );
    let data = button_data(&reply);
    assert_eq!(data.len(), 1);
    assert!(data[0].starts_with("warnrm."), "{data:?}");
    assert!(
        data[0]["warnrm.".len()..].parse::<i64>().is_ok(),
        "{data:?}"
    );

    // By @username.
    let reply = app.say(owner, chat, "/warn @bea flood").await;
    assert_eq!(reply.text, "Bea has 2/3 warnings.\nReason: flood");
    assert_eq!(button_data(&reply).len(), 1);
    assert_ne!(button_data(&reply), data, "each warning has its own button");

    // By id, without a reason.
    let reply = app.say(owner, chat, &format!("/warn {bea}")).await;
    assert!(
        reply.text.starts_with("Bea has 3/3 warnings."),
        "{}",
        reply.text
    );

    // By text mention (a full name), the reason after it.
    let ann = app.tg.add_user_with("Ann", Some("Lee"), None, None);
    app.tg.set_member(chat, ann, MemberStatus::Member);
    let text = "/warn Ann Lee off topic";
    app.tg
        .send_message(IncomingMessage::new(owner, chat, text).entities(vec![
            json!({"type": "bot_command", "offset": 0, "length": 5}),
            json!({"type": "text_mention", "offset": 6, "length": 7,
               "user": {"id": ann, "is_bot": false, "first_name": "Ann", "last_name": "Lee"}}),
        ]));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "Ann has 1/3 warnings.\nReason: off topic");
    assert_eq!(stored_warns(&app, chat, ann).await, 1);

    // Ann never wrote: the directory does not know her name.
    let reply = app.say(owner, chat, &format!("/warns {ann}")).await;
    assert_eq!(reply.text, format!("{ann} has 1/3 warnings:\n1. off topic"));

    // Nobody named.
    let reply = app.say(owner, chat, "/warn").await;
    assert!(reply.text.starts_with("Who?"), "{}", reply.text);
}

async fn warning_an_admin_yourself_or_the_bot_is_refused(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let adam = admin(&app, chat, "Adam", AdminRights::usual()).await;

    let reply = app.say(owner, chat, &format!("/warn {adam} bossy")).await;
    assert_eq!(
        reply.text,
        "Adam is an admin of this group: I cannot act on them."
    );
    let reply = app.say(adam, chat, &format!("/warn {owner}")).await;
    assert!(
        reply
            .text
            .ends_with("is an admin of this group: I cannot act on them."),
        "{}",
        reply.text
    );
    let reply = app.say(owner, chat, &format!("/warn {owner}")).await;
    assert_eq!(reply.text, "You cannot warn yourself.");
    let reply = app.say(owner, chat, &format!("/warn {BOT_ID}")).await;
    assert_eq!(reply.text, "I will not warn myself.");
    // By reply to the bot's own message.
    app.tg
        .send_message(IncomingMessage::new(owner, chat, "/warn").reply_to(reply.message_id));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "I will not warn myself.");

    for user in [adam, owner, BOT_ID] {
        assert_eq!(stored_warns(&app, chat, user).await, 0, "{user}");
    }
    let reply = app.say(owner, chat, &format!("/warns {adam}")).await;
    assert_eq!(reply.text, "Adam has no warnings.");
    let reply = app.say(owner, chat, "/warns").await;
    assert_eq!(reply.text, "Owner has no warnings.");
}

async fn warn_needs_the_right_to_ban_users(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", None).await;
    let cid = member(&app, chat, "Cid", None).await;
    let ida = admin(
        &app,
        chat,
        "Ida",
        AdminRights::usual().restrict_members(false),
    )
    .await;

    let reply = app.say(cid, chat, &format!("/warn {bea} I say so")).await;
    assert_eq!(reply.text, "Only admins can use /warn.");
    let reply = app.say(ida, chat, &format!("/warn {bea} I say so")).await;
    assert_eq!(
        reply.text,
        "To use /warn in Team you need the admin right to ban users."
    );
    assert_eq!(stored_warns(&app, chat, bea).await, 0);
    let reply = app.say(owner, chat, &format!("/warns {bea}")).await;
    assert_eq!(reply.text, "Bea has no warnings.");

    // The same admin with the right may.
    let ria = admin(
        &app,
        chat,
        "Ria",
        AdminRights::none().restrict_members(true),
    )
    .await;
    let reply = app.say(ria, chat, &format!("/warn {bea}")).await;
    assert!(
        reply.text.starts_with("Bea has 1/3 warnings."),
        "{}",
        reply.text
    );
}

/// Gives `user` warnings up to the group's limit of 3; returns the last
/// reply (the one applying the mode).
async fn warn_to_the_limit(app: &TestApp, chat: i64, admin: i64, user: i64) -> String {
    for count in 1..=2 {
        let reply = app
            .say(admin, chat, &format!("/warn {user} r{count}"))
            .await;
        assert!(
            reply.text.contains(&format!("has {count}/3 warnings.")),
            "{}",
            reply.text
        );
    }
    let reply = app.say(admin, chat, &format!("/warn {user} r3")).await;
    assert!(
        reply
            .text
            .starts_with("Bea has 3/3 warnings.\nReason: r3\n\n"),
        "{}",
        reply.text
    );
    assert!(button_data(&reply).is_empty(), "no button once applied");
    assert_eq!(stored_warns(app, chat, user).await, 0, "the count restarts");
    let shown = app.say(admin, chat, &format!("/warns {user}")).await;
    assert_eq!(shown.text, "Bea has no warnings.");
    reply.text
}

/// A group whose warn mode `mode` was set, and a member in it.
async fn limit_setup(app: &TestApp, mode: &str) -> (i64, i64, i64) {
    let (chat, owner) = team(app);
    let bea = member(app, chat, "Bea", None).await;
    if !mode.is_empty() {
        let reply = app.say(owner, chat, &format!("/warnmode {mode}")).await;
        assert!(reply.text.contains("now means"), "{}", reply.text);
    }
    (chat, owner, bea)
}

async fn warn_limit_bans(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    // Ban is the default mode.
    let (chat, owner, bea) = limit_setup(&app, "").await;
    let text = warn_to_the_limit(&app, chat, owner, bea).await;
    assert!(
        text.ends_with("Bea was banned by Owner.\nReason: 3 warnings"),
        "{text}"
    );
    assert_eq!(app.tg.member_status(chat, bea), MemberStatus::Kicked);
    assert_eq!(app.tg.ban_until(chat, bea), Some(0));
}

async fn warn_limit_kicks(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner, bea) = limit_setup(&app, "kick").await;
    let text = warn_to_the_limit(&app, chat, owner, bea).await;
    assert!(text.contains("Bea was removed by Owner."), "{text}");
    assert_eq!(app.tg.member_status(chat, bea), MemberStatus::Left);
    let about_bea = |method: &str| {
        app.tg
            .requests_for(method)
            .into_iter()
            .filter(|r| r.params["user_id"].to_string().trim_matches('"') == bea.to_string())
            .count()
    };
    assert_eq!(about_bea("banChatMember"), 1);
    assert_eq!(about_bea("unbanChatMember"), 1);
}

async fn warn_limit_mutes(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner, bea) = limit_setup(&app, "mute").await;
    let text = warn_to_the_limit(&app, chat, owner, bea).await;
    assert!(text.contains("Bea was muted by Owner."), "{text}");
    assert_eq!(
        app.tg.restriction(chat, bea),
        Some((ChatPermissions::none(), 0))
    );
    assert!(app.tg.member_status(chat, bea).is_present());
}

async fn warn_limit_bans_for_a_while(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner, bea) = limit_setup(&app, "tban 2d").await;
    let text = warn_to_the_limit(&app, chat, owner, bea).await;
    assert!(text.contains("Bea was banned by Owner for 2d."), "{text}");
    let until = app.tg.ban_until(chat, bea).unwrap_or_default();
    let expected = now() + 2 * 86_400;
    assert!((until - expected).abs() <= 60, "{until} vs {expected}");
}

async fn warn_limit_mutes_for_a_while(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner, bea) = limit_setup(&app, "tmute 30m").await;
    let text = warn_to_the_limit(&app, chat, owner, bea).await;
    assert!(text.contains("Bea was muted by Owner for 30m."), "{text}");
    let Some((permissions, until)) = app.tg.restriction(chat, bea) else {
        panic!(
            "Bea is not restricted: {:?}",
            app.tg.member_status(chat, bea)
        );
    };
    assert_eq!(permissions, ChatPermissions::none());
    let expected = now() + 30 * 60;
    assert!((until - expected).abs() <= 60, "{until} vs {expected}");
}

async fn warn_limit_is_shown_set_and_checked(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", None).await;
    let reply = app.say(owner, chat, "/warnlimit").await;
    assert_eq!(reply.text, "In Team the warn limit is 3.");
    let reply = app.say(owner, chat, "/warnlimit 5").await;
    assert_eq!(reply.text, "In Team the warn limit is now 5.");
    for bad in ["0", "101", "abc", "-1"] {
        let reply = app.say(owner, chat, &format!("/warnlimit {bad}")).await;
        assert_eq!(
            reply.text,
            format!("“{bad}” is not a warn limit: give a number from 1 to 100."),
        );
    }
    let reply = app.say(owner, chat, "/warnlimit").await;
    assert_eq!(reply.text, "In Team the warn limit is 5.");
    // The new limit counts.
    let reply = app.say(owner, chat, &format!("/warn {bea}")).await;
    assert!(
        reply.text.starts_with("Bea has 1/5 warnings."),
        "{}",
        reply.text
    );
    let reply = app.say(owner, chat, "/warnlimit 100").await;
    assert_eq!(reply.text, "In Team the warn limit is now 100.");
    let reply = app.say(owner, chat, "/warnlimit 1").await;
    assert_eq!(reply.text, "In Team the warn limit is now 1.");
}

async fn warn_mode_is_shown_set_and_checked(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let reply = app.say(owner, chat, "/warnmode").await;
    assert_eq!(reply.text, "In Team, reaching the warn limit means: ban.");
    let reply = app.say(owner, chat, "/warnmode tban 2d").await;
    assert_eq!(
        reply.text,
        "In Team, reaching the warn limit now means: ban for 2d."
    );
    let reply = app.say(owner, chat, "/warnmode tban 10s").await;
    assert!(
        reply.text.starts_with("“10s” is too short"),
        "{}",
        reply.text
    );
    let reply = app.say(owner, chat, "/warnmode tmute 400d").await;
    assert!(reply.text.contains("is too long"), "{}", reply.text);
    let reply = app.say(owner, chat, "/warnmode explode").await;
    assert_eq!(
        reply.text,
        "“explode” is not a warn mode: use ban, kick, mute, tban <duration> or tmute <duration>."
    );
    let reply = app.say(owner, chat, "/warnmode tban").await;
    assert!(reply.text.contains("is not a warn mode"), "{}", reply.text);
    // None of the refused ones changed it.
    let reply = app.say(owner, chat, "/warnmode").await;
    assert_eq!(
        reply.text,
        "In Team, reaching the warn limit means: ban for 2d."
    );
    for (mode, shown) in [
        ("KICK", "kick"),
        ("mute", "mute"),
        ("tmute 30m", "mute for 30m"),
        ("ban", "ban"),
    ] {
        let reply = app.say(owner, chat, &format!("/warnmode {mode}")).await;
        assert_eq!(
            reply.text,
            format!("In Team, reaching the warn limit now means: {shown}.")
        );
    }
}

async fn warn_settings_need_the_right_to_change_info(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", None).await;
    let rex = admin(&app, chat, "Rex", AdminRights::usual().change_info(false)).await;

    for command in ["/warnlimit 5", "/warnmode kick"] {
        let reply = app.say(rex, chat, command).await;
        let name = &command[1..command.find(' ').unwrap_or(command.len())];
        assert_eq!(
            reply.text,
            format!("To use /{name} in Team you need the admin right to change group info.")
        );
        let reply = app.say(bea, chat, command).await;
        assert_eq!(reply.text, format!("Only admins can use /{name}."));
    }
    let reply = app.say(owner, chat, "/warnlimit").await;
    assert_eq!(reply.text, "In Team the warn limit is 3.");
    let reply = app.say(owner, chat, "/warnmode").await;
    assert_eq!(reply.text, "In Team, reaching the warn limit means: ban.");
    // Rex may warn all the same: that needs the right he has.
    let reply = app.say(rex, chat, &format!("/warn {bea}")).await;
    assert!(
        reply.text.starts_with("Bea has 1/3 warnings."),
        "{}",
        reply.text
    );
    // And an admin with change_info but without restrict may set them.
    let ina = admin(&app, chat, "Ina", AdminRights::none().change_info(true)).await;
    let reply = app.say(ina, chat, "/warnlimit 4").await;
    assert_eq!(reply.text, "In Team the warn limit is now 4.");
}

async fn warns_of_others_need_the_right_to_ban_users(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;
    let cid = member(&app, chat, "Cid", None).await;
    let adam = admin(&app, chat, "Adam", AdminRights::usual()).await;
    app.say(owner, chat, &format!("/warn {bea} spam <b>&"))
        .await;
    app.say(owner, chat, &format!("/warn {bea}")).await;

    // Their own, without naming anyone.
    let reply = app.say(bea, chat, "/warns").await;
    assert_eq!(
        reply.text,
        "Bea has 2/3 warnings:\n1. spam <b>&\n2. (no reason)"
    );
    let reply = app.say(cid, chat, "/warns").await;
    assert_eq!(reply.text, "Cid has no warnings.");

    // Another's: refused to a member, by name and by reply.
    let refusal = "To use /warns in Team you need the admin right to ban users.";
    let reply = app.say(cid, chat, "/warns @bea").await;
    assert_eq!(reply.text, refusal);
    let said = app.tg.send_text(bea, chat, "hi");
    app.tg
        .send_message(IncomingMessage::new(cid, chat, "/warns").reply_to(said));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, refusal);
    // ... and to an admin without the right.
    let ida = admin(
        &app,
        chat,
        "Ida",
        AdminRights::usual().restrict_members(false),
    )
    .await;
    let reply = app.say(ida, chat, "/warns @bea").await;
    assert_eq!(reply.text, refusal);

    // Shown to an admin with it.
    let reply = app.say(adam, chat, "/warns @bea").await;
    assert_eq!(
        reply.text,
        "Bea has 2/3 warnings:\n1. spam <b>&\n2. (no reason)"
    );
    assert_eq!(stored_warns(&app, chat, bea).await, 2);
}

async fn rmwarn_removes_the_latest_and_resetwarns_all(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;
    let ida = admin(
        &app,
        chat,
        "Ida",
        AdminRights::usual().restrict_members(false),
    )
    .await;
    let reply = app.say(owner, chat, "/warnlimit 10").await;
    assert!(reply.text.contains("now 10"), "{}", reply.text);
    for reason in ["first", "second", "third"] {
        app.say(owner, chat, &format!("/warn @bea {reason}")).await;
    }

    // Refused without the right: nothing removed.
    for command in ["/rmwarn @bea", "/resetwarns @bea"] {
        let reply = app.say(bea, chat, command).await;
        assert!(
            reply.text.starts_with("Only admins can use /"),
            "{}",
            reply.text
        );
        let reply = app.say(ida, chat, command).await;
        assert!(
            reply
                .text
                .ends_with("you need the admin right to ban users."),
            "{}",
            reply.text
        );
    }
    assert_eq!(stored_warns(&app, chat, bea).await, 3);

    let reply = app.say(owner, chat, "/rmwarn @bea").await;
    assert_eq!(reply.text, "The latest warning of Bea was removed.");
    let reply = app.say(owner, chat, "/warns @bea").await;
    assert_eq!(reply.text, "Bea has 2/10 warnings:\n1. first\n2. second");

    let reply = app.say(owner, chat, "/resetwarns @bea").await;
    assert_eq!(reply.text, "All warnings of Bea were removed.");
    let reply = app.say(owner, chat, "/warns @bea").await;
    assert_eq!(reply.text, "Bea has no warnings.");
    let reply = app.say(owner, chat, "/rmwarn @bea").await;
    assert_eq!(reply.text, "Bea has no warnings.");
    let reply = app.say(owner, chat, "/resetwarns @bea").await;
    assert_eq!(reply.text, "Bea has no warnings.");
}

async fn remove_warning_button_needs_the_right_to_ban_users(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;
    let cid = member(&app, chat, "Cid", None).await;
    let ida = admin(
        &app,
        chat,
        "Ida",
        AdminRights::usual().restrict_members(false),
    )
    .await;
    let adam = admin(&app, chat, "Adam", AdminRights::usual()).await;
    let warned = app.say(owner, chat, "/warn @bea spam").await;
    let data = button_data(&warned).pop().unwrap_or_default();
    assert!(data.starts_with("warnrm."), "{data}");
    let refusal = "To use /rmwarn in Team you need the admin right to ban users.";

    // The warned member herself, another member, an admin without the right.
    for presser in [bea, cid, ida] {
        let id = app.tg.press_button(presser, chat, warned.message_id, &data);
        let answer = app.tg.next_callback_answer(&id).await;
        assert_eq!(alert(&answer), refusal, "{presser}");
    }
    assert_eq!(stored_warns(&app, chat, bea).await, 1);
    // Nothing was edited: the group's next message answers /warns.
    let reply = app.say(owner, chat, "/warns @bea").await;
    assert_eq!(reply.text, "Bea has 1/3 warnings:\n1. spam");

    // An admin with the right removes it; the message says so.
    let id = app.tg.press_button(adam, chat, warned.message_id, &data);
    let answer = app.tg.next_callback_answer(&id).await;
    assert!(answer.get("text").is_none(), "{answer}");
    let edited = app.tg.next_message(chat).await;
    assert!(edited.edited);
    assert_eq!(edited.message_id, warned.message_id);
    assert_eq!(edited.text, "A warning of Bea was removed by Adam.");
    assert!(button_data(&edited).is_empty());
    assert_eq!(stored_warns(&app, chat, bea).await, 0);

    // Pressed again: already removed.
    let id = app.tg.press_button(owner, chat, warned.message_id, &data);
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(alert(&answer), "That warning was already removed.");
    let reply = app.say(owner, chat, "/warns @bea").await;
    assert_eq!(reply.text, "Bea has no warnings.");

    // A button whose warning the limit already cleared removes nothing of
    // the new count.
    let stale = app.say(owner, chat, "/warn @bea a").await;
    app.say(owner, chat, "/warn @bea b").await;
    app.say(owner, chat, "/warnmode mute").await;
    app.say(owner, chat, "/warn @bea c").await;
    let fresh = app.say(owner, chat, &format!("/warn {bea} d")).await;
    assert!(fresh.text.starts_with("Bea has 1/3"), "{}", fresh.text);
    let stale_data = button_data(&stale).pop().unwrap_or_default();
    let id = app
        .tg
        .press_button(adam, chat, stale.message_id, &stale_data);
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(alert(&answer), "That warning was already removed.");
    assert_eq!(stored_warns(&app, chat, bea).await, 1);
}

async fn forged_remove_button_cannot_reach_another_group(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (alpha, alice) = team(&app);
    app.tg.set_chat_title(alpha, "Alpha");
    let bea = member(&app, alpha, "Bea", None).await;
    let in_alpha = app.say(alice, alpha, &format!("/warn {bea} alpha")).await;
    let alpha_data = button_data(&in_alpha).pop().unwrap_or_default();

    // Another group, another owner, who has no rights in Alpha.
    let beta = app.tg.add_supergroup("Beta", None);
    let bob = app.tg.add_user("Bob");
    app.tg.set_member(beta, bob, MemberStatus::Creator);
    app.tg.set_bot_admin(beta, AdminRights::usual());
    app.tg.set_member(beta, bea, MemberStatus::Member);
    introduce(&app, beta, bea).await;
    let in_beta = app.say(bob, beta, &format!("/warn {bea} beta")).await;
    assert!(in_beta.text.starts_with("Bea has 1/3"), "{}", in_beta.text);

    // Bob presses a button in Beta carrying Alpha's warning.
    let id = app
        .tg
        .press_button(bob, beta, in_beta.message_id, &alpha_data);
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(alert(&answer), "That warning was already removed.");
    assert_eq!(stored_warns(&app, alpha, bea).await, 1);
    assert_eq!(stored_warns(&app, beta, bea).await, 1);
    let reply = app.say(alice, alpha, &format!("/warns {bea}")).await;
    assert_eq!(reply.text, "Bea has 1/3 warnings:\n1. alpha");
    // Beta's message was not touched: its next message answers /warns.
    let reply = app.say(bob, beta, &format!("/warns {bea}")).await;
    assert_eq!(reply.text, "Bea has 1/3 warnings:\n1. beta");
    // Malformed data is refused too.
    for forged in ["warnrm.", "warnrm.x", "warnrm"] {
        let id = app.tg.press_button(bob, beta, in_beta.message_id, forged);
        let answer = app.tg.next_callback_answer(&id).await;
        assert!(!alert(&answer).is_empty(), "{forged}");
    }
    assert_eq!(stored_warns(&app, alpha, bea).await, 1);
    assert_eq!(stored_warns(&app, beta, bea).await, 1);
}

async fn anonymous_admin_warning_is_confirmed_by_a_real_admin(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;
    let ida = admin(
        &app,
        chat,
        "Ida",
        AdminRights::usual().restrict_members(false),
    )
    .await;
    app.tg
        .send_message(IncomingMessage::new(owner, chat, "/warn @bea spam").anonymous_admin());
    let ask = app.tg.next_message(chat).await;
    assert_eq!(
        ask.text,
        "An anonymous admin asked for /warn on Bea. An admin with the right to ban users can confirm it."
    );
    let data = button_data(&ask).pop().unwrap_or_default();
    assert_eq!(data, format!("modok.{bea}"));
    assert_eq!(
        stored_warns(&app, chat, bea).await,
        0,
        "not before a confirmation"
    );

    for presser in [bea, ida] {
        let id = app.tg.press_button(presser, chat, ask.message_id, &data);
        let answer = app.tg.next_callback_answer(&id).await;
        assert_eq!(
            alert(&answer),
            "To use /warn in Team you need the admin right to ban users."
        );
    }
    assert_eq!(stored_warns(&app, chat, bea).await, 0);

    let id = app.tg.press_button(owner, chat, ask.message_id, &data);
    app.tg.next_callback_answer(&id).await;
    let done = app.tg.next_message(chat).await;
    assert!(done.edited);
    assert_eq!(done.text, "Bea has 1/3 warnings.\nReason: spam");
    assert_eq!(stored_warns(&app, chat, bea).await, 1);
}

async fn warnings_through_a_connection(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;
    let reply = app.pm(owner, &format!("/connect {chat}")).await;
    assert!(
        reply.text.starts_with("You are now connected to Team"),
        "{}",
        reply.text
    );

    let reply = app.pm(owner, "/warn @bea spam").await;
    assert_eq!(reply.text, "Bea has 1/3 warnings.\nReason: spam");
    assert!(button_data(&reply).is_empty(), "no button in PM");
    let in_group = app.tg.next_message(chat).await;
    assert_eq!(in_group.text, "Bea has 1/3 warnings.\nReason: spam");
    let data = button_data(&in_group);
    assert_eq!(data.len(), 1);
    assert!(data[0].starts_with("warnrm."), "{data:?}");
    assert_eq!(stored_warns(&app, chat, bea).await, 1);

    let reply = app.pm(owner, "/warnlimit 4").await;
    assert_eq!(reply.text, "In Team the warn limit is now 4.");
    let reply = app.pm(owner, "/warnmode kick").await;
    assert_eq!(
        reply.text,
        "In Team, reaching the warn limit now means: kick."
    );
    let reply = app.pm(owner, "/warns @bea").await;
    assert_eq!(reply.text, "Bea has 1/4 warnings:\n1. spam");
    let reply = app.pm(owner, "/modlog").await;
    assert!(reply.text.contains("→ warn"), "{}", reply.text);
    assert!(reply.text.contains("🔗"), "{}", reply.text);

    // The member's own warnings through theirs.
    app.pm(bea, &format!("/connect {chat}")).await;
    let reply = app.pm(bea, "/warns").await;
    assert_eq!(reply.text, "Bea has 1/4 warnings:\n1. spam");
    let reply = app.pm(bea, &format!("/warn {owner}")).await;
    assert_eq!(reply.text, "Only admins of Team can use /warn.");
    let reply = app.pm(bea, &format!("/warns {owner}")).await;
    assert_eq!(
        reply.text,
        "To use /warns in Team you need the admin right to ban users."
    );
    assert_eq!(stored_warns(&app, chat, owner).await, 0);
    // The group heard nothing more than the warning: its next message
    // answers /id.
    app.id_in_group(owner, chat).await;
}

async fn losing_the_right_after_connecting_is_seen(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;
    let adam = admin(&app, chat, "Adam", AdminRights::usual()).await;
    app.pm(adam, &format!("/connect {chat}")).await;
    let reply = app.pm(adam, "/warns @bea").await;
    assert_eq!(reply.text, "Bea has no warnings.");

    // The owner takes Adam's right to ban users away; Telegram tells the
    // bot (an admin) with a chat_member update, handled in the group's
    // turn: once the group's next command is answered, it was.
    app.tg
        .change_admin(chat, adam, AdminRights::usual().restrict_members(false));
    app.id_in_group(owner, chat).await;

    let refusal =
        |command: &str| format!("To use /{command} in Team you need the admin right to ban users.");
    let reply = app.pm(adam, "/warn @bea spam").await;
    assert_eq!(reply.text, refusal("warn"));
    let reply = app.pm(adam, "/warns @bea").await;
    assert_eq!(reply.text, refusal("warns"));
    let reply = app.pm(adam, "/modlog").await;
    assert_eq!(reply.text, refusal("modlog"));
    assert_eq!(stored_warns(&app, chat, bea).await, 0);
    // Settings need another right, which Adam still holds.
    let reply = app.pm(adam, "/warnlimit 4").await;
    assert_eq!(reply.text, "In Team the warn limit is now 4.");
    // Taken too: refused, the limit unchanged.
    app.tg.change_admin(
        chat,
        adam,
        AdminRights::usual()
            .restrict_members(false)
            .change_info(false),
    );
    app.id_in_group(owner, chat).await;
    let reply = app.pm(adam, "/warnlimit 7").await;
    assert_eq!(
        reply.text,
        "To use /warnlimit in Team you need the admin right to change group info."
    );
    let reply = app.pm(owner, &format!("/connect {chat}")).await;
    assert!(reply.text.contains("connected"), "{}", reply.text);
    let reply = app.pm(owner, "/warnlimit").await;
    assert_eq!(reply.text, "In Team the warn limit is 4.");
    // Given back: allowed again.
    app.tg.change_admin(chat, adam, AdminRights::usual());
    app.id_in_group(owner, chat).await;
    let reply = app.pm(adam, "/warn @bea spam").await;
    assert_eq!(reply.text, "Bea has 1/4 warnings.\nReason: spam");
}

async fn modlog_lists_the_latest_twenty_newest_first(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", None).await;
    let reply = app.say(owner, chat, "/modlog").await;
    assert_eq!(reply.text, "Nothing has been moderated in Team yet.");
    app.say(owner, chat, "/warnlimit 100").await;
    for n in 1..=22 {
        let reply = app.say(owner, chat, &format!("/warn {bea} r{n}")).await;
        assert!(reply.text.contains(&format!("{n}/100")), "{}", reply.text);
    }
    let reply = app.say(owner, chat, "/modlog").await;
    let mut lines = reply.text.lines();
    assert_eq!(lines.next(), Some("Latest moderation in Team:"));
    let lines: Vec<&str> = lines.collect();
    assert_eq!(lines.len(), 20, "{}", reply.text);
    for (line, n) in lines.iter().zip((3..=22).rev()) {
        assert!(
            line.ends_with(&format!("{owner} → warn {bea} — r{n}")),
            "{line} (expected r{n})"
        );
    }

    let refused = app.say(bea, chat, "/modlog").await;
    assert_eq!(refused.text, "Only admins can use /modlog.");
    let ida = admin(
        &app,
        chat,
        "Ida",
        AdminRights::usual().restrict_members(false),
    )
    .await;
    let refused = app.say(ida, chat, "/modlog").await;
    assert_eq!(
        refused.text,
        "To use /modlog in Team you need the admin right to ban users."
    );

    // Other actions are logged too, newest first.
    app.say(owner, chat, &format!("/rmwarn {bea}")).await;
    app.say(owner, chat, &format!("/resetwarns {bea}")).await;
    let reply = app.say(owner, chat, "/modlog").await;
    let lines: Vec<&str> = reply.text.lines().skip(1).collect();
    assert_eq!(lines.len(), 20);
    assert!(
        lines[0].ends_with(&format!("{owner} → resetwarns {bea}")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(&format!("{owner} → rmwarn {bea}")),
        "{}",
        lines[1]
    );
    assert!(lines[2].ends_with("— r22"), "{}", lines[2]);
}

async fn usernames_are_found_case_insensitively(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    app.tg.set_privacy_mode(false);
    let (chat, owner) = team(&app);
    let bea = app.tg.add_user_with("Bea", None, Some("BeaTrix"), None);
    app.tg.set_member(chat, bea, MemberStatus::Member);

    // Not seen yet.
    let reply = app.say(owner, chat, "/warn @beatrix").await;
    assert_eq!(
        reply.text,
        "I have not seen @beatrix here: reply to one of their messages or use their id."
    );
    // Plain chatter teaches the directory; the owner's command after it,
    // in the group's turn, sees it.
    app.tg.send_text(bea, chat, "hello all");
    for name in ["@beatrix", "@BEATRIX", "@BeaTrix"] {
        let reply = app.say(owner, chat, &format!("/warn {name} x")).await;
        assert!(reply.text.starts_with("Bea has "), "{name}: {}", reply.text);
    }
    assert_eq!(
        stored_warns(&app, chat, bea).await,
        0,
        "the limit of 3 applied"
    );
    assert_eq!(app.tg.member_status(chat, bea), MemberStatus::Kicked);

    let reply = app.say(owner, chat, "/warn @nobody spam").await;
    assert_eq!(
        reply.text,
        "I have not seen @nobody here: reply to one of their messages or use their id."
    );
    // The directory is per group: another group has not seen Bea.
    let other = app.tg.add_supergroup("Other", None);
    app.tg.set_member(other, owner, MemberStatus::Creator);
    app.tg.set_bot_admin(other, AdminRights::usual());
    let reply = app.say(owner, other, "/warn @beatrix").await;
    assert!(
        reply.text.starts_with("I have not seen @beatrix here"),
        "{}",
        reply.text
    );
}

const SECRET: &str = "warnings-s3cret";
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

async fn renamed_users_are_found_by_their_new_username(backend: Backend) {
    // Webhook mode: the fake has no way to rename a user, so the update
    // Telegram would deliver after the rename is posted to the webhook.
    let addr = free_local_addr();
    let url = format!("http://127.0.0.1:{}/telegram/updates", addr.port());
    let Some(app) = TestApp::spawn_with(
        backend,
        &[
            ("SEND_LIMITS", "off"),
            ("HTTP_ADDR", &addr.to_string()),
            ("WEBHOOK_URL", &url),
            ("WEBHOOK_SECRET", SECRET),
        ],
    )
    .await
    else {
        return;
    };
    app.tg.enforce_flood_limits(false);
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea_old")).await;
    let reply = app.say(owner, chat, "/warn @bea_old one").await;
    assert!(reply.text.starts_with("Bea has 1/3"), "{}", reply.text);

    // Bea renames herself to @bea_new and writes again.
    let update_id = app.tg.last_update_id().unwrap_or_default() + 1_000_000;
    let update = json!({
        "update_id": update_id,
        "message": {
            "message_id": 900_000,
            "date": now(),
            "chat": {"id": chat, "type": "supergroup", "title": "Team"},
            "from": {"id": bea, "is_bot": false, "first_name": "Bea", "username": "bea_new"},
            "text": "new name, same me"
        }
    });
    let response = reqwest::Client::new()
        .post(&url)
        .header(SECRET_HEADER, SECRET)
        .json(&update)
        .send()
        .await
        .unwrap_or_else(|e| panic!("posting the update: {e}"));
    assert!(response.status().is_success(), "{}", response.status());

    let reply = app.say(owner, chat, "/warn @Bea_New two").await;
    assert_eq!(reply.text, "Bea has 2/3 warnings.\nReason: two");
    let reply = app.say(owner, chat, "/warn @bea_old three").await;
    assert_eq!(
        reply.text,
        "I have not seen @bea_old here: reply to one of their messages or use their id."
    );
    assert_eq!(stored_warns(&app, chat, bea).await, 2);

    // Someone else takes the freed name: it is theirs now.
    let ben = member(&app, chat, "Ben", Some("bea_old")).await;
    let reply = app.say(owner, chat, "/warn @bea_old three").await;
    assert_eq!(reply.text, "Ben has 1/3 warnings.\nReason: three");
    assert_eq!(stored_warns(&app, chat, ben).await, 1);
    assert_eq!(stored_warns(&app, chat, bea).await, 2);
}

async fn restart_keeps_warnings_and_the_directory(backend: Backend) {
    let Some(mut app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;
    app.say(owner, chat, "/warn @bea one").await;
    app.say(owner, chat, "/warn @bea two").await;

    app.restart().await;

    // Bea has not written since: the directory still knows her.
    let reply = app.say(owner, chat, "/warns @bea").await;
    assert_eq!(reply.text, "Bea has 2/3 warnings:\n1. one\n2. two");
    let reply = app.say(owner, chat, "/warn @bea three").await;
    assert!(
        reply.text.starts_with("Bea has 3/3 warnings."),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("Bea was banned by Owner."),
        "{}",
        reply.text
    );
    assert_eq!(app.tg.member_status(chat, bea), MemberStatus::Kicked);
    assert_eq!(stored_warns(&app, chat, bea).await, 0);
}

/// The Bot API methods called since request number `start`, without the
/// polling itself.
fn calls_since(app: &TestApp, start: usize) -> Vec<String> {
    app.tg
        .requests_since(start)
        .into_iter()
        .map(|request| request.method)
        .filter(|method| method != "getUpdates")
        .collect()
}

async fn chatter_from_known_users_costs_no_call(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    app.tg.set_privacy_mode(false);
    let (chat, owner) = team(&app);
    let bea = app.tg.add_user_with("Bea", None, Some("bea"), None);
    app.tg.set_member(chat, bea, MemberStatus::Member);
    // The menus, registered after start-up, are done first.
    let last_menu = app
        .tg
        .wait_for_request(
            "setMyCommands",
            |r| r.params["language_code"] == "es" && r.params["scope"]["type"] == "all_group_chats",
            std::time::Duration::from_secs(10),
        )
        .await;
    assert!(last_menu.is_some(), "the menus were not registered");
    // Met for the first time: learned, and no Telegram call for it.
    let start = app.tg.request_count();
    app.tg.send_text(bea, chat, "hello");
    app.say(owner, chat, "/id").await;
    assert_eq!(calls_since(&app, start), ["sendMessage"]);
    // Known now: chatter costs nothing at all.
    let start = app.tg.request_count();
    app.tg.send_text(bea, chat, "still here");
    app.tg.send_text(bea, chat, "and here");
    app.say(owner, chat, "/id").await;
    assert_eq!(
        calls_since(&app, start),
        ["sendMessage"],
        "only /id's reply"
    );
    // She was learned: her @username resolves.
    let reply = app.say(owner, chat, "/warns @bea").await;
    assert_eq!(reply.text, "Bea has no warnings.");
}

async fn limit_reached_through_a_connection_is_announced_in_the_group(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea", Some("bea")).await;
    app.pm(owner, &format!("/connect {chat}")).await;
    let reply = app.pm(owner, "/warnlimit 4").await;
    assert_eq!(reply.text, "In Team the warn limit is now 4.");
    let reply = app.pm(owner, "/warnmode kick").await;
    assert!(reply.text.ends_with("now means: kick."), "{}", reply.text);
    let reply = app.pm(owner, "/warn @bea r1").await;
    assert!(reply.text.starts_with("Bea has 1/4"), "{}", reply.text);
    app.tg.next_message(chat).await;

    // The limit reached through the connection applies the group's mode,
    // announced in the group and told in PM.
    for count in 2..=3 {
        let reply = app.pm(owner, &format!("/warn @bea r{count}")).await;
        assert!(
            reply
                .text
                .starts_with(&format!("Bea has {count}/4 warnings.")),
            "{}",
            reply.text
        );
        app.tg.next_message(chat).await;
    }
    let reply = app.pm(owner, "/warn @bea r4").await;
    assert!(
        reply
            .text
            .starts_with("Bea has 4/4 warnings.\nReason: r4\n\n"),
        "{}",
        reply.text
    );
    assert!(
        reply.text.contains("Bea was removed by Owner."),
        "{}",
        reply.text
    );
    assert_eq!(app.tg.member_status(chat, bea), MemberStatus::Left);
    assert_eq!(stored_warns(&app, chat, bea).await, 0);
    // The group is told, as of any sanction given through a connection.
    let in_group = app
        .tg
        .try_next_message(chat, std::time::Duration::from_secs(5))
        .await;
    let Some(in_group) = in_group else {
        panic!(
            "the group was not told of the warning that reached the limit; PM got {:?}",
            reply.text
        );
    };
    assert_eq!(in_group.text, reply.text);
    assert!(button_data(&in_group).is_empty());
}
