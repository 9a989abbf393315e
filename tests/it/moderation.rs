//! Moderation: bans, mutes and kicks, in the group and through a connection.
//!
//! Every refusal is checked twice: the bot's answer, and that it asked
//! Telegram for no sanction (no banChatMember, unbanChatMember or
//! restrictChatMember), so that a rule broken would fail here.

use std::time::{SystemTime, UNIX_EPOCH};

use fake_bot_api::{
    ANONYMOUS_ADMIN_ID, AdminRights, BOT_ID, ChatPermissions, IncomingMessage, MemberStatus,
    RecordedRequest,
};
use serde_json::{Value, json};

use crate::app::{TestApp, button_data, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(
    bans_need_the_right_to_ban_users,
    durations_outside_telegrams_range_are_refused,
    targets_that_cannot_be_acted_on_are_refused,
    each_sanction_does_what_it_says,
    moderation_through_a_connection_rechecks_the_right,
    anonymous_admins_need_a_confirming_admin,
    targets_by_username_id_reply_and_mention,
);

/// The Telegram methods that act on a member.
const SANCTION_METHODS: [&str; 3] = ["banChatMember", "unbanChatMember", "restrictChatMember"];

/// How many sanctions the bot has asked Telegram for so far.
fn sanction_calls(app: &TestApp) -> usize {
    SANCTION_METHODS
        .iter()
        .map(|method| app.tg.requests_for(method).len())
        .sum()
}

/// The last request of `method`.
fn last(app: &TestApp, method: &str) -> RecordedRequest {
    app.tg
        .requests_for(method)
        .pop()
        .unwrap_or_else(|| panic!("the bot made no {method} request"))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `until` is `seconds` from now, give or take a minute.
fn assert_about(until: i64, seconds: i64, what: &str) {
    let expected = now() + seconds;
    assert!(
        (until - expected).abs() <= 60,
        "{what}: until {until}, expected about {expected} (now + {seconds} s)"
    );
}

/// A supergroup with an owner, where the bot is an administrator with the
/// usual rights (restricting members among them).
fn moderated_group(app: &TestApp, title: &str) -> (i64, i64) {
    let (chat, owner) = app.group_with_owner(title);
    app.tg.set_bot_admin(chat, AdminRights::usual());
    (chat, owner)
}

/// A member with a @username who has written in the group (so the bot's
/// directory knows them there).
fn member_who_spoke(app: &TestApp, chat: i64, name: &str, username: &str) -> i64 {
    let user = app.tg.add_user_with(name, None, Some(username), None);
    app.tg.set_member(chat, user, MemberStatus::Member);
    app.tg.send_text(user, chat, "hello everyone");
    user
}

/// `from` sends `text` in the group; the bot's answer, after checking that
/// it asked Telegram for no sanction.
async fn refused(app: &TestApp, from: i64, chat: i64, text: &str) -> String {
    let before = sanction_calls(app);
    let reply = app.say(from, chat, text).await;
    assert_eq!(
        sanction_calls(app),
        before,
        "{text}: a sanction was asked of Telegram, though the bot answered {:?}",
        reply.text
    );
    reply.text
}

/// `user` sends `text` in PM; the bot's answer there, after checking that
/// it asked Telegram for no sanction.
async fn refused_in_pm(app: &TestApp, user: i64, text: &str) -> String {
    let before = sanction_calls(app);
    let reply = app.pm(user, text).await;
    assert_eq!(
        sanction_calls(app),
        before,
        "{text} (PM): a sanction was asked of Telegram, though the bot answered {:?}",
        reply.text
    );
    reply.text
}

/// `from` sends `text` in the group; the bot's answer, which must reply to
/// the command.
async fn done(app: &TestApp, from: i64, chat: i64, text: &str) -> String {
    let asked = app.tg.send_text(from, chat, text);
    let reply = app.tg.next_message(chat).await;
    assert_eq!(
        reply.reply_to_message_id,
        Some(asked),
        "{text}: the announcement replies to the command: {:?}",
        reply.text
    );
    reply.text
}

/// The bot answers `/id` in the group: every update of the group queued
/// before (a chat_member update, say) has been handled.
async fn group_caught_up(app: &TestApp, user: i64, chat: i64) {
    app.id_in_group(user, chat).await;
}

async fn bans_need_the_right_to_ban_users(backend: Backend) {
    // Many commands in one chat, faster than people type: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = moderated_group(&app, "Team");
    let spammer = member_who_spoke(&app, chat, "Spam", "spammer");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let no_right = app.tg.add_user("Nora");
    app.tg
        .set_admin(chat, no_right, AdminRights::usual().restrict_members(false));

    for command in [
        "/ban @spammer",
        "/tban @spammer 1h",
        "/unban @spammer",
        "/kick @spammer",
        "/mute @spammer",
        "/tmute @spammer 1h",
        "/unmute @spammer",
    ] {
        let name = &command[1..command.find(' ').unwrap_or(command.len())];
        let text = refused(&app, member, chat, command).await;
        assert_eq!(text, format!("Only admins can use /{name}."), "{command}");
        let text = refused(&app, no_right, chat, command).await;
        assert_eq!(
            text,
            format!("To use /{name} in Team you need the admin right to ban users."),
            "{command}"
        );
    }
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Member);

    // The bot needs the right too: an admin without it…
    app.tg
        .set_bot_admin(chat, AdminRights::usual().restrict_members(false));
    let text = refused(&app, owner, chat, "/ban @spammer").await;
    assert_eq!(
        text,
        "I need the admin right to ban users in Team for that."
    );
    let text = refused(&app, owner, chat, "/mute @spammer").await;
    assert_eq!(
        text,
        "I need the admin right to ban users in Team for that."
    );
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Member);

    // …and a bot that is no admin at all (it sees commands only: the
    // spammer is named by id).
    let (other, other_owner) = app.group_with_owner("Other");
    app.tg.set_member(other, spammer, MemberStatus::Member);
    let text = refused(&app, other_owner, other, &format!("/ban {spammer}")).await;
    assert_eq!(
        text,
        "I need the admin right to ban users in Other for that."
    );
    assert_eq!(app.tg.member_status(other, spammer), MemberStatus::Member);

    // With both rights, an admin who is not the owner bans.
    app.tg.set_bot_admin(chat, AdminRights::usual());
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let text = done(&app, ada, chat, "/ban @spammer").await;
    assert_eq!(text, "Spam was banned by Ada.");
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Kicked);
}

async fn durations_outside_telegrams_range_are_refused(backend: Backend) {
    // Many commands in one chat, faster than people type: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = moderated_group(&app, "Team");
    let spammer = member_who_spoke(&app, chat, "Spam", "spammer");

    for command in ["tban", "tmute"] {
        for (duration, expected) in [
            (
                "30s",
                "“30s” is too short: at least one minute (Telegram would make it forever).",
            ),
            (
                "59s",
                "“59s” is too short: at least one minute (Telegram would make it forever).",
            ),
            (
                "400d",
                "“400d” is too long: at most 365 days (Telegram would make it forever).",
            ),
            (
                "366d",
                "“366d” is too long: at most 365 days (Telegram would make it forever).",
            ),
            (
                "soon",
                "“soon” is not a duration. Use for example 30m, 4h, 2d or 1w.",
            ),
            (
                "10",
                "“10” is not a duration. Use for example 30m, 4h, 2d or 1w.",
            ),
        ] {
            let text = refused(
                &app,
                owner,
                chat,
                &format!("/{command} @spammer {duration} flooding"),
            )
            .await;
            assert_eq!(text, expected, "/{command} {duration}");
        }
        let text = refused(&app, owner, chat, &format!("/{command} @spammer")).await;
        assert_eq!(
            text,
            format!("How long? For example: /{command} @username 2d")
        );
    }
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Member);
    assert!(app.tg.requests_for("banChatMember").is_empty());

    // The ends of the range are taken, and passed on as they are.
    let text = done(&app, owner, chat, "/tmute @spammer 1m").await;
    assert_eq!(text, "Spam was muted by Owner for 1m.");
    let (_, until) = app
        .tg
        .restriction(chat, spammer)
        .unwrap_or_else(|| panic!("Spam is not muted"));
    assert_about(until, 60, "tmute 1m");
    let text = done(&app, owner, chat, "/tban @spammer 365d").await;
    assert!(text.starts_with("Spam was banned by Owner for "), "{text}");
    let until = app
        .tg
        .ban_until(chat, spammer)
        .unwrap_or_else(|| panic!("Spam is not banned"));
    assert_about(until, 365 * 86_400, "tban 365d");
}

async fn targets_that_cannot_be_acted_on_are_refused(backend: Backend) {
    // Many commands in one chat, faster than people type: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = moderated_group(&app, "Team");
    let spammer = member_who_spoke(&app, chat, "Spam", "spammer");
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    app.tg.send_text(ada, chat, "I keep order here");
    app.tg.send_text(owner, chat, "welcome");
    let gone = member_who_spoke(&app, chat, "Gone", "gone_user");
    app.tg.leave_chat(gone, chat);
    let banned = member_who_spoke(&app, chat, "Barred", "barred_user");
    app.tg.change_member(chat, banned, MemberStatus::Kicked);

    // Oneself, the bot.
    for command in ["ban", "kick", "mute", "unmute"] {
        let text = refused(&app, owner, chat, &format!("/{command} {owner}")).await;
        assert_eq!(text, format!("You cannot {command} yourself."));
        let text = refused(&app, owner, chat, &format!("/{command} {BOT_ID}")).await;
        assert_eq!(text, format!("I will not {command} myself."));
    }
    let bots_message = app.say(owner, chat, "/id").await;
    let before = sanction_calls(&app);
    app.tg.send_message(
        IncomingMessage::new(owner, chat, "/ban go away").reply_to(bots_message.message_id),
    );
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "I will not ban myself.");
    assert_eq!(sanction_calls(&app), before);

    // Telegram's stand-ins are nobody to act on.
    for stand_in in [ANONYMOUS_ADMIN_ID, 136817688, 777000] {
        let text = refused(&app, owner, chat, &format!("/ban {stand_in}")).await;
        assert_eq!(
            text,
            "That message was sent on behalf of a chat (a channel or an anonymous admin), not by a person I can act on.",
            "{stand_in}"
        );
    }
    // Nor a message an anonymous admin sent.
    let anonymous = app
        .tg
        .send_message(IncomingMessage::new(owner, chat, "an announcement").anonymous_admin());
    let before = sanction_calls(&app);
    app.tg
        .send_message(IncomingMessage::new(ada, chat, "/mute").reply_to(anonymous));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(
        reply.text,
        "That message was sent on behalf of a chat (a channel or an anonymous admin), not by a person I can act on."
    );
    assert_eq!(sanction_calls(&app), before);

    // Admins and the owner.
    for command in [
        "/ban {}",
        "/tban {} 1h",
        "/kick {}",
        "/mute {}",
        "/tmute {} 1h",
    ] {
        let text = refused(&app, owner, chat, &command.replace("{}", &ada.to_string())).await;
        assert_eq!(
            text, "Ada is an admin of this group: I cannot act on them.",
            "{command}"
        );
        let text = refused(&app, ada, chat, &command.replace("{}", &owner.to_string())).await;
        assert_eq!(
            text, "Owner is an admin of this group: I cannot act on them.",
            "{command}"
        );
    }

    // Who is not in the group cannot be kicked, muted or unmuted…
    for command in ["/kick {}", "/mute {}", "/tmute {} 1h", "/unmute {}"] {
        let text = refused(&app, owner, chat, &command.replace("{}", "@gone_user")).await;
        assert_eq!(text, "Gone is not in this group.", "{command}");
        let text = refused(&app, owner, chat, &command.replace("{}", "@barred_user")).await;
        assert_eq!(text, "Barred is not in this group.", "{command}");
    }
    // …and who is not banned, unbanned.
    let text = refused(&app, owner, chat, "/unban @spammer").await;
    assert_eq!(text, "Spam is not banned.");
    let text = refused(&app, owner, chat, "/unban @gone_user").await;
    assert_eq!(text, "Gone is not banned.");

    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Member);
    assert_eq!(app.tg.member_status(chat, ada), MemberStatus::Administrator);
    assert_eq!(app.tg.member_status(chat, owner), MemberStatus::Creator);
    assert_eq!(app.tg.member_status(chat, gone), MemberStatus::Left);
    assert_eq!(app.tg.member_status(chat, banned), MemberStatus::Kicked);
}

async fn each_sanction_does_what_it_says(backend: Backend) {
    // Many commands in one chat, faster than people type: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = moderated_group(&app, "Team");
    let spammer = member_who_spoke(&app, chat, "Spam", "spammer");
    let defaults = app.tg.chat_permissions(chat);

    // Mute: every permission off, independently of the chat's.
    let text = done(&app, owner, chat, "/mute @spammer").await;
    assert_eq!(text, "Spam was muted by Owner.");
    assert_eq!(
        app.tg.restriction(chat, spammer),
        Some((ChatPermissions::none(), 0))
    );
    let mute = last(&app, "restrictChatMember");
    assert_eq!(mute.params["use_independent_chat_permissions"], true);
    let permissions = mute.params["permissions"]
        .as_object()
        .unwrap_or_else(|| panic!("no permissions: {}", mute.params));
    assert!(
        permissions.values().all(|allowed| allowed == false),
        "a mute allows nothing: {}",
        mute.params
    );
    assert!(mute.params.get("until_date").is_none_or(|u| u == 0));

    // Unmute: back to what the chat lets every member do.
    let text = done(&app, owner, chat, "/unmute @spammer").await;
    assert_eq!(text, "Spam can write again (Owner).");
    let unmute = last(&app, "restrictChatMember");
    assert_eq!(unmute.params["use_independent_chat_permissions"], true);
    // Whatever it leaves them, they may do all the chat allows (the
    // fields a request leaves out default as on Telegram)…
    if let Some((left, _)) = app.tg.restriction(chat, spammer) {
        let (left, defaults) = (left.to_json(), defaults.to_json());
        for (name, allowed) in defaults.as_object().into_iter().flatten() {
            if allowed == true {
                assert_eq!(
                    left[name], true,
                    "an unmute gives back what the chat allows ({name}): asked {}",
                    unmute.params["permissions"]
                );
            }
        }
    }
    // …as a member again, not a restricted one (checked at the end, so
    // that the other sanctions are checked whatever comes of this).
    let after_unmute = (
        app.tg.member_status(chat, spammer),
        app.tg.restriction(chat, spammer),
        unmute.params["permissions"].clone(),
    );

    // A timed mute, with a reason.
    let text = done(&app, owner, chat, "/tmute @spammer 4h too loud").await;
    assert_eq!(text, "Spam was muted by Owner for 4h.\nReason: too loud");
    let (permissions, until) = app
        .tg
        .restriction(chat, spammer)
        .unwrap_or_else(|| panic!("Spam is not muted"));
    assert_eq!(permissions, ChatPermissions::none());
    assert_about(until, 4 * 3600, "tmute 4h");
    let tmute = last(&app, "restrictChatMember");
    assert_about(
        tmute.params["until_date"].as_i64().unwrap_or_default(),
        4 * 3600,
        "tmute's until_date",
    );
    done(&app, owner, chat, "/unmute @spammer").await;
    let writes = app
        .tg
        .restriction(chat, spammer)
        .is_none_or(|(left, _)| left.can_send_messages);
    assert!(writes, "{:?}", app.tg.restriction(chat, spammer));

    // Kick: a ban lifted at once; they may come back.
    let bans = app.tg.requests_for("banChatMember").len();
    let unbans = app.tg.requests_for("unbanChatMember").len();
    let text = done(&app, owner, chat, "/kick @spammer spam links").await;
    assert_eq!(text, "Spam was removed by Owner.\nReason: spam links");
    assert_eq!(app.tg.requests_for("banChatMember").len(), bans + 1);
    assert_eq!(app.tg.requests_for("unbanChatMember").len(), unbans + 1);
    assert_eq!(last(&app, "unbanChatMember").params["only_if_banned"], true);
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Left);
    app.tg.join_chat(spammer, chat);
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Member);

    // Ban: for good.
    let text = done(&app, owner, chat, "/ban @spammer flooding").await;
    assert_eq!(text, "Spam was banned by Owner.\nReason: flooding");
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Kicked);
    assert_eq!(app.tg.ban_until(chat, spammer), Some(0));
    let ban = last(&app, "banChatMember");
    assert_eq!(ban.params["chat_id"], chat);
    assert_eq!(ban.params["user_id"], spammer);

    // Unban: only if banned; they are out, free to come back.
    let text = done(&app, owner, chat, "/unban @spammer").await;
    assert_eq!(text, "Spam was unbanned by Owner.");
    let unban = last(&app, "unbanChatMember");
    assert_eq!(unban.params["only_if_banned"], true);
    assert_eq!(unban.params["user_id"], spammer);
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Left);

    // A timed ban.
    let text = done(&app, owner, chat, "/tban @spammer 2d").await;
    assert_eq!(text, "Spam was banned by Owner for 2d.");
    let until = app
        .tg
        .ban_until(chat, spammer)
        .unwrap_or_else(|| panic!("Spam is not banned"));
    assert_about(until, 2 * 86_400, "tban 2d");
    let tban = last(&app, "banChatMember");
    assert_about(
        tban.params["until_date"].as_i64().unwrap_or_default(),
        2 * 86_400,
        "tban's until_date",
    );
    let text = done(&app, owner, chat, "/tban @spammer 1w").await;
    assert_eq!(text, "Spam was banned by Owner for 7d.");
    assert_about(
        app.tg.ban_until(chat, spammer).unwrap_or_default(),
        7 * 86_400,
        "tban 1w",
    );

    let (status, restriction, asked) = after_unmute;
    assert_eq!(
        status,
        MemberStatus::Member,
        "an unmuted member is a member again; left restricted to {restriction:?} after asking {asked}"
    );
}

async fn moderation_through_a_connection_rechecks_the_right(backend: Backend) {
    // Many commands in one chat, faster than people type: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = moderated_group(&app, "Team");
    let spammer = member_who_spoke(&app, chat, "Spam", "spammer");
    // The group's lane has learned Spam's name before a PM asks for it.
    group_caught_up(&app, owner, chat).await;
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let reply = app.pm(ada, &format!("/connect {chat}")).await;
    assert!(
        reply.text.starts_with("You are now connected to Team"),
        "{}",
        reply.text
    );

    // The announcement goes to the group, and the same text to the PM.
    let reply = app.pm(ada, "/ban @spammer flooding").await;
    assert_eq!(reply.text, "Spam was banned by Ada.\nReason: flooding");
    let announced = app.tg.next_message(chat).await;
    assert_eq!(announced.text, reply.text);
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Kicked);
    let reply = app.pm(ada, "/unban @spammer").await;
    assert_eq!(reply.text, "Spam was unbanned by Ada.");
    assert_eq!(app.tg.next_message(chat).await.text, reply.text);
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Left);
    app.tg.join_chat(spammer, chat);

    // Nothing to reply to in PM: the target must be named.
    let text = refused_in_pm(&app, ada, "/ban").await;
    assert_eq!(
        text,
        "Who? Reply to one of their messages, or give their @username or id: /ban @username"
    );

    // The right to ban users taken away (Telegram tells the bot, an
    // admin): refused from then on.
    app.tg
        .change_admin(chat, ada, AdminRights::usual().restrict_members(false));
    group_caught_up(&app, owner, chat).await;
    let text = refused_in_pm(&app, ada, "/ban @spammer").await;
    assert_eq!(
        text,
        "To use /ban in Team you need the admin right to ban users."
    );
    // No longer an admin at all.
    app.tg.change_member(chat, ada, MemberStatus::Member);
    group_caught_up(&app, owner, chat).await;
    let text = refused_in_pm(&app, ada, "/mute @spammer").await;
    assert_eq!(text, "Only admins of Team can use /mute.");
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Member);

    // A plain member connected from the start is refused too.
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    let reply = app.pm(bea, &format!("/connect {chat}")).await;
    assert!(
        reply.text.starts_with("You are now connected"),
        "{}",
        reply.text
    );
    let text = refused_in_pm(&app, bea, "/kick @spammer").await;
    assert_eq!(text, "Only admins of Team can use /kick.");

    // Where the bot is no admin, nothing tells it of a demotion: the check
    // is live, every time.
    let (other, _) = app.group_with_owner("Other");
    let cid = app.user_in(other, "Cid", MemberStatus::Administrator);
    app.tg.set_member(other, spammer, MemberStatus::Member);
    let reply = app.pm(cid, &format!("/connect {other}")).await;
    assert!(
        reply.text.starts_with("You are now connected"),
        "{}",
        reply.text
    );
    // Cid passes; the bot itself lacks the right there.
    let text = refused_in_pm(&app, cid, &format!("/ban {spammer}")).await;
    assert_eq!(
        text,
        "I need the admin right to ban users in Other for that."
    );
    app.tg.set_member(other, cid, MemberStatus::Member);
    let text = refused_in_pm(&app, cid, &format!("/ban {spammer}")).await;
    assert_eq!(text, "Only admins of Other can use /ban.");
    app.tg
        .set_admin(other, cid, AdminRights::usual().restrict_members(false));
    let text = refused_in_pm(&app, cid, &format!("/ban {spammer}")).await;
    assert_eq!(
        text,
        "To use /ban in Other you need the admin right to ban users."
    );
    assert_eq!(app.tg.member_status(other, spammer), MemberStatus::Member);
    app.tg
        .assert_no_message(chat, std::time::Duration::from_millis(200))
        .await;
}

async fn anonymous_admins_need_a_confirming_admin(backend: Backend) {
    // Many commands in one chat, faster than people type: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = moderated_group(&app, "Team");
    let spammer = member_who_spoke(&app, chat, "Spam", "spammer");
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    let nora = app.tg.add_user("Nora");
    app.tg
        .set_admin(chat, nora, AdminRights::usual().restrict_members(false));
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);

    let command = app.tg.send_message(
        IncomingMessage::new(owner, chat, "/ban @spammer flooding").anonymous_admin(),
    );
    let ask = app.tg.next_message(chat).await;
    assert_eq!(
        ask.text,
        "An anonymous admin asked for /ban on Spam. An admin with the right to ban users can confirm it."
    );
    assert_eq!(ask.reply_to_message_id, Some(command));
    assert_eq!(
        ask.button_texts(),
        vec![vec!["Confirm as an admin".to_owned()]]
    );
    let data = format!("modok.{spammer}");
    assert_eq!(button_data(&ask), vec![data.clone()]);
    assert_eq!(
        sanction_calls(&app),
        0,
        "nothing is done before a confirmation"
    );

    // A member, and an admin without the right: an alert, nothing done.
    for (presser, who) in [(bea, "a member"), (nora, "an admin without the right")] {
        let id = app.tg.press_button(presser, chat, ask.message_id, &data);
        let answer = app.tg.next_callback_answer(&id).await;
        assert_eq!(answer["show_alert"], true, "{who}: {answer}");
        assert_eq!(
            answer["text"], "To use /ban in Team you need the admin right to ban users.",
            "{who}: {answer}"
        );
        assert_eq!(sanction_calls(&app), 0, "{who} pressed: nothing is done");
        assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Member);
    }
    app.tg
        .assert_no_message(chat, std::time::Duration::from_millis(200))
        .await;

    // An admin holding it: done, and the question becomes the announcement.
    let id = app.tg.press_button(ada, chat, ask.message_id, &data);
    let answer = app.tg.next_callback_answer(&id).await;
    assert_ne!(answer["show_alert"], true, "{answer}");
    let edited = app.tg.next_message(chat).await;
    assert!(edited.edited, "{edited:?}");
    assert_eq!(edited.message_id, ask.message_id);
    assert_eq!(edited.text, "Spam was banned by Ada.\nReason: flooding");
    assert!(button_data(&edited).is_empty(), "{:?}", edited.reply_markup);
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Kicked);
    assert_eq!(app.tg.requests_for("banChatMember").len(), 1);

    // A timed one: the duration is re-read from the command.
    let troll = member_who_spoke(&app, chat, "Troll", "troll");
    app.tg.send_message(
        IncomingMessage::new(owner, chat, "/tmute @troll 2h calm down").anonymous_admin(),
    );
    let ask = app.tg.next_message(chat).await;
    let data = format!("modok.{troll}");
    assert_eq!(button_data(&ask), vec![data.clone()]);
    let id = app.tg.press_button(owner, chat, ask.message_id, &data);
    app.tg.next_callback_answer(&id).await;
    let edited = app.tg.next_message(chat).await;
    assert_eq!(
        edited.text,
        "Troll was muted by Owner for 2h.\nReason: calm down"
    );
    let (_, until) = app
        .tg
        .restriction(chat, troll)
        .unwrap_or_else(|| panic!("Troll is not muted"));
    assert_about(until, 2 * 3600, "confirmed tmute 2h");
}

/// A message whose entities are a bot command at its start and a text
/// mention of `user` over `mentioned` (found in `text`).
fn with_text_mention(
    from: i64,
    chat: i64,
    text: &str,
    mentioned: &str,
    user: Value,
) -> IncomingMessage {
    let utf16 = |s: &str| s.encode_utf16().count();
    let command_end = text.find(' ').unwrap_or(text.len());
    let at = text
        .find(mentioned)
        .unwrap_or_else(|| panic!("{mentioned:?} is not in {text:?}"));
    IncomingMessage::new(from, chat, text).entities(vec![
        json!({"type": "bot_command", "offset": 0, "length": utf16(&text[..command_end])}),
        json!({
            "type": "text_mention",
            "offset": utf16(&text[..at]),
            "length": utf16(mentioned),
            "user": user,
        }),
    ])
}

async fn targets_by_username_id_reply_and_mention(backend: Backend) {
    // Many commands in one chat, faster than people type: no send limits.
    let Some(mut app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = moderated_group(&app, "Team");
    let spammer = member_who_spoke(&app, chat, "Spam", "spammer");

    // A reply names the replied-to sender; every argument is the reason.
    let message = app.tg.send_text(spammer, chat, "cheap watches here");
    app.tg
        .send_message(IncomingMessage::new(owner, chat, "/mute spam links").reply_to(message));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "Spam was muted by Owner.\nReason: spam links");
    assert!(app.tg.restriction(chat, spammer).is_some());

    // A numeric id, with the name the directory knows…
    let text = done(&app, owner, chat, &format!("/unmute {spammer}")).await;
    assert_eq!(text, "Spam can write again (Owner).");
    // …or, for someone never seen, the id itself.
    let quiet = app.user_in(chat, "Quiet", MemberStatus::Member);
    let text = done(&app, owner, chat, &format!("/kick {quiet} lurking")).await;
    assert_eq!(
        text,
        format!("{quiet} was removed by Owner.\nReason: lurking")
    );
    assert_eq!(app.tg.member_status(chat, quiet), MemberStatus::Left);

    // A @username only of someone seen in this group.
    let text = refused(&app, owner, chat, "/ban @nobody_here").await;
    assert_eq!(
        text,
        "I have not seen @nobody_here here: reply to one of their messages or use their id."
    );
    let (elsewhere_chat, _) = moderated_group(&app, "Elsewhere");
    let elsewhere = member_who_spoke(&app, elsewhere_chat, "Else", "elsewhere_user");
    app.tg.set_member(chat, elsewhere, MemberStatus::Member);
    let text = refused(&app, owner, chat, "/ban @elsewhere_user").await;
    assert_eq!(
        text,
        "I have not seen @elsewhere_user here: reply to one of their messages or use their id."
    );
    // Nobody named at all.
    let text = refused(&app, owner, chat, "/ban").await;
    assert_eq!(
        text,
        "Who? Reply to one of their messages, or give their @username or id: /ban @username"
    );
    let text = refused(&app, owner, chat, "/tmute").await;
    assert_eq!(
        text,
        "Who? Reply to one of their messages, or give their @username or id: /tmute @username"
    );

    // Someone who joined is known by the chat_member update.
    let joiner = app.tg.add_user_with("Joy", None, Some("joiner"), None);
    app.tg.join_chat(joiner, chat);
    let text = done(&app, owner, chat, "/mute @joiner").await;
    assert_eq!(text, "Joy was muted by Owner.");
    assert!(app.tg.restriction(chat, joiner).is_some());

    // A text mention (someone with no username) spanning two words, then
    // a reason.
    let ana = app.tg.add_user_with("Ana", Some("López"), None, None);
    app.tg.set_member(chat, ana, MemberStatus::Member);
    let ana_json = json!({"id": ana, "is_bot": false, "first_name": "Ana", "last_name": "López"});
    let text = "/ban Ana López flooding the chat";
    let asked = app
        .tg
        .send_message(with_text_mention(owner, chat, text, "Ana López", ana_json));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.reply_to_message_id, Some(asked));
    assert_eq!(
        reply.text,
        "Ana was banned by Owner.\nReason: flooding the chat"
    );
    assert_eq!(app.tg.member_status(chat, ana), MemberStatus::Kicked);
    // Offsets count UTF-16 units: a name beyond the BMP.
    let zed = app.tg.add_user_with("😀 Zed", None, None, None);
    app.tg.set_member(chat, zed, MemberStatus::Member);
    let zed_json = json!({"id": zed, "is_bot": false, "first_name": "😀 Zed"});
    let text = "/tmute 😀 Zed 30m shouting";
    app.tg
        .send_message(with_text_mention(owner, chat, text, "😀 Zed", zed_json));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(
        reply.text,
        "😀 Zed was muted by Owner for 30m.\nReason: shouting"
    );
    let (_, until) = app
        .tg
        .restriction(chat, zed)
        .unwrap_or_else(|| panic!("Zed is not muted"));
    assert_about(until, 30 * 60, "tmute 30m by mention");

    // The directory outlives a restart.
    app.restart().await;
    let text = done(&app, owner, chat, "/ban @spammer again").await;
    assert_eq!(text, "Spam was banned by Owner.\nReason: again");
    assert_eq!(app.tg.member_status(chat, spammer), MemberStatus::Kicked);
}
