//! The Connections module: who may connect, by every way in, and what every
//! command and button answers.

use std::time::Duration;

use castellan::commands::ConnectionKind;
use fake_bot_api::{Fault, IncomingMessage, MemberStatus, RecordedRequest};

use crate::app::{TestApp, button_data, button_urls, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(
    access_matrix_every_status_allow_connect_and_way_in,
    connect_keyboard_depends_on_role,
    connect_rejects_bad_input_and_changes_nothing,
    connect_refuses_chats_that_are_not_usable_groups,
    connect_without_argument_lists_recent_chats,
    connect_in_group_gives_a_deep_link_button,
    malformed_deep_links_are_refused,
    disconnect_and_reconnect,
    connection_is_rechecked_on_every_use,
    allowconnect_by_admins_only,
    allowconnect_through_a_connection,
    connbtns_lists_and_their_guards,
    demoted_admin_loses_admin_rights_at_once,
    group_admin_cache_follows_chat_member_updates,
    telegram_failure_keeps_the_connection_and_says_so,
    html_special_titles_are_escaped,
    failures_are_never_silent,
    connections_survive_a_restart,
);

#[derive(Debug, Clone, Copy)]
enum Way {
    Id,
    Username,
    DeepLink,
    Reconnect,
    HistoryButton,
}

const WAYS: [Way; 5] = [
    Way::Id,
    Way::Username,
    Way::DeepLink,
    Way::Reconnect,
    Way::HistoryButton,
];

fn statuses() -> Vec<(MemberStatus, &'static str)> {
    vec![
        (MemberStatus::Creator, "creator"),
        (MemberStatus::Administrator, "administrator"),
        (MemberStatus::Member, "member"),
        (
            MemberStatus::Restricted { is_member: true },
            "restricted member",
        ),
        (
            MemberStatus::Restricted { is_member: false },
            "restricted non-member",
        ),
        (MemberStatus::Left, "left"),
        (MemberStatus::Kicked, "kicked"),
    ]
}

/// Tries to connect `user` to `chat` one way; returns (connected, what the user saw).
async fn attempt(app: &TestApp, user: i64, chat: i64, username: &str, way: Way) -> (bool, String) {
    let command = match way {
        Way::Id => format!("/connect {chat}"),
        Way::Username => format!("/connect @{username}"),
        Way::DeepLink => format!("/start connect_{chat}"),
        Way::Reconnect => "/reconnect".to_owned(),
        Way::HistoryButton => {
            let list = app.pm(user, "/connect").await;
            let data = format!("connect.{chat}");
            assert!(
                button_data(&list).contains(&data),
                "history lacks the chat: {:?}",
                list.reply_markup
            );
            let id = app.tg.press_button(user, user, list.message_id, &data);
            let answer = app.tg.next_callback_answer(&id).await;
            return match answer["text"].as_str() {
                Some(alert) => {
                    assert_eq!(answer["show_alert"], true);
                    (false, alert.to_owned())
                }
                None => {
                    let edited = app.tg.next_message(user).await;
                    assert!(edited.edited);
                    (edited.text.contains("You are now connected"), edited.text)
                }
            };
        }
    };
    let reply = app.pm(user, &command).await;
    let connected = reply.text.starts_with("You are now connected");
    if !connected {
        assert!(
            reply.text.starts_with("I cannot connect you"),
            "{command}: {}",
            reply.text
        );
    }
    (connected, reply.text)
}

async fn access_matrix_every_status_allow_connect_and_way_in(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let owner = app.tg.add_user("Owner");
    for allow in [true, false] {
        let username = if allow {
            "matrix_open"
        } else {
            "matrix_closed"
        };
        let chat = app
            .tg
            .add_supergroup(&format!("Matrix {allow}"), Some(username));
        app.tg.set_member(chat, owner, MemberStatus::Creator);
        if !allow {
            let reply = app.say(owner, chat, "/allowconnect off").await;
            assert!(reply.text.contains("only admins"), "{}", reply.text);
        }
        for (status, label) in statuses() {
            for way in WAYS {
                let user = app.tg.add_user(&format!("{label} {way:?}"));
                if matches!(way, Way::Reconnect | Way::HistoryButton) {
                    // Build a history: connect once as an admin, then leave it.
                    app.tg.set_member(chat, user, MemberStatus::Administrator);
                    let (ok, text) = attempt(&app, user, chat, username, Way::Id).await;
                    assert!(ok, "{text}");
                    app.pm(user, "/disconnect").await;
                }
                app.tg.set_member(chat, user, status.clone());
                let expected = match status {
                    MemberStatus::Creator | MemberStatus::Administrator => true,
                    MemberStatus::Member | MemberStatus::Restricted { is_member: true } => allow,
                    _ => false,
                };
                let (connected, text) = attempt(&app, user, chat, username, way).await;
                assert_eq!(
                    connected, expected,
                    "{label}, allow_connect={allow}, {way:?}: {text}"
                );
                // What the user was told matches what is stored.
                let check = app.pm(user, "/connection").await;
                assert_eq!(
                    check.text.starts_with("You are connected"),
                    expected,
                    "{label}, allow_connect={allow}, {way:?}: /connection said {}",
                    check.text
                );
                if !expected {
                    let reason = match status {
                        MemberStatus::Kicked => "banned",
                        MemberStatus::Left | MemberStatus::Restricted { is_member: false } => {
                            "not a member"
                        }
                        _ => "allow only admins",
                    };
                    assert!(text.contains(reason), "{label}, {way:?}: {text}");
                }
            }
        }
    }
}

async fn connect_keyboard_depends_on_role(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let reply = app.pm(owner, &format!("/connect {chat}")).await;
    assert_eq!(
        reply.text.lines().next(),
        Some("You are now connected to Team as admin.")
    );
    assert_eq!(button_data(&reply), vec!["connbtns.Admin", "connbtns.User"]);

    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let reply = app.pm(member, &format!("/connect {chat}")).await;
    assert_eq!(
        reply.text.lines().next(),
        Some("You are now connected to Team as member.")
    );
    assert_eq!(button_data(&reply), vec!["connbtns.User"]);

    let reply = app.pm(member, "/connection").await;
    assert_eq!(reply.text, "You are connected to Team as member.");
    assert_eq!(button_data(&reply), vec!["connbtns.User"]);
}

async fn connect_rejects_bad_input_and_changes_nothing(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let ok = app.pm(owner, &format!("/connect {chat}")).await;
    assert!(ok.text.starts_with("You are now connected"));
    let requests_before = app.tg.requests_for("getChat").len();
    let cases = [
        ("abc", "is not a chat"),
        ("-12ab", "is not a chat"),
        ("--5", "is not a chat"),
        ("@", "is not a valid username"),
        ("@a!", "is not a valid username"),
        ("0", "out of range"),
        ("-99999999999999", "out of range"),
        ("12345", "id of a user"),
        ("-100 -200", "is not a chat"),
    ];
    for (input, expected) in cases {
        let reply = app.pm(owner, &format!("/connect {input}")).await;
        assert!(reply.text.contains(expected), "{input}: {}", reply.text);
    }
    let huge = format!("-{}", "9".repeat(300));
    let reply = app.pm(owner, &format!("/connect {huge}")).await;
    assert!(reply.text.contains("out of range"), "{}", reply.text);
    assert_eq!(
        app.tg.requests_for("getChat").len(),
        requests_before,
        "bad input never reaches Telegram"
    );
    let still = app.pm(owner, "/connection").await;
    assert!(
        still.text.starts_with("You are connected to Team"),
        "{}",
        still.text
    );
}

async fn connect_refuses_chats_that_are_not_usable_groups(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let user = app.tg.add_user_with("Ana", None, Some("ana_user"), None);
    let friend = app.tg.add_user_with("Fred", None, Some("fred_user"), None);
    app.pm(friend, "/start").await; // Fred's private chat now exists.

    let channel = app.tg.add_channel("News", Some("news_channel"));
    app.tg
        .set_member(channel, user, MemberStatus::Administrator);
    let basic = app.tg.add_group("Old group");
    app.tg.set_member(basic, user, MemberStatus::Creator);
    let botless = app.tg.add_supergroup("No bot", None);
    app.tg.set_member(botless, user, MemberStatus::Creator);
    app.tg.set_bot_status(botless, MemberStatus::Left);
    let kicked_bot = app.tg.add_supergroup("Kicked bot", None);
    app.tg.set_member(kicked_bot, user, MemberStatus::Creator);
    app.tg.set_bot_status(kicked_bot, MemberStatus::Kicked);
    let public_botless = app.tg.add_supergroup("Public", Some("public_nobot"));
    app.tg
        .set_member(public_botless, user, MemberStatus::Creator);
    app.tg.set_bot_status(public_botless, MemberStatus::Left);

    let cases = [
        (format!("/connect {channel}"), "only groups and supergroups"),
        (
            "/connect @news_channel".to_owned(),
            "only groups and supergroups",
        ),
        (
            "/connect @fred_user".to_owned(),
            "only groups and supergroups",
        ),
        (format!("/connect {botless}"), "cannot find that chat"),
        (
            format!("/connect {kicked_bot}"),
            "not a member of that group",
        ),
        (
            "/connect @public_nobot".to_owned(),
            "I am not a member of that group",
        ),
        (
            "/connect -1009999999999".to_owned(),
            "cannot find that chat",
        ),
        ("/connect @nobody_here".to_owned(), "cannot find that chat"),
    ];
    for (command, expected) in cases {
        let reply = app.pm(user, &command).await;
        assert!(
            reply.text.starts_with("I cannot connect you"),
            "{command}: {}",
            reply.text
        );
        assert!(reply.text.contains(expected), "{command}: {}", reply.text);
    }
    // A basic group works like a supergroup.
    let reply = app.pm(user, &format!("/connect {basic}")).await;
    assert!(
        reply.text.starts_with("You are now connected to Old group"),
        "{}",
        reply.text
    );
}

async fn connect_without_argument_lists_recent_chats(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let user = app.tg.add_user("Ana");
    let none = app.pm(user, "/connect").await;
    assert!(none.text.contains("/id in the group"), "{}", none.text);
    assert!(none.text.contains("negative"), "{}", none.text);
    assert!(button_data(&none).is_empty());

    let mut chats = Vec::new();
    for i in 0..7 {
        let chat = app.tg.add_supergroup(&format!("Group {i}"), None);
        app.tg.set_member(chat, user, MemberStatus::Member);
        let reply = app.pm(user, &format!("/connect {chat}")).await;
        assert!(
            reply.text.starts_with("You are now connected"),
            "{}",
            reply.text
        );
        chats.push(chat);
    }
    // Reconnecting to an old one moves it to the front without duplicating it.
    app.pm(user, &format!("/connect {}", chats[3])).await;
    let list = app.pm(user, "/connect").await;
    let expected: Vec<String> = [chats[3], chats[6], chats[5], chats[4], chats[2]]
        .iter()
        .map(|c| format!("connect.{c}"))
        .collect();
    assert_eq!(button_data(&list), expected);

    // A tap is re-checked: banned meanwhile, the tap is refused.
    app.tg.set_member(chats[6], user, MemberStatus::Kicked);
    let id = app.tg.press_button(
        user,
        user,
        list.message_id,
        &format!("connect.{}", chats[6]),
    );
    let answer = app.tg.next_callback_answer(&id).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("banned"),
        "{answer}"
    );
    // A forged button for a chat never joined is refused too.
    let stranger = app.tg.add_supergroup("Stranger", None);
    let id = app
        .tg
        .press_button(user, user, list.message_id, &format!("connect.{stranger}"));
    let answer = app.tg.next_callback_answer(&id).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("not a member"),
        "{answer}"
    );
    let id = app
        .tg
        .press_button(user, user, list.message_id, "connect.nonsense");
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(answer["show_alert"], true);
    let check = app.pm(user, "/connection").await;
    assert!(
        check.text.contains("Group 3"),
        "the refused taps changed nothing: {}",
        check.text
    );
}

async fn connect_in_group_gives_a_deep_link_button(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let link = format!("https://t.me/castellan_test_bot?start=connect_{chat}");

    let reply = app.say(member, chat, "/connect").await;
    assert_eq!(button_urls(&reply), vec![link.clone()]);

    app.say(owner, chat, "/allowconnect no").await;
    let reply = app.say(member, chat, "/connect").await;
    assert!(button_urls(&reply).is_empty());
    assert!(reply.text.contains("allow only admins"), "{}", reply.text);

    let reply = app.say(owner, chat, "/connect").await;
    assert_eq!(button_urls(&reply), vec![link.clone()]);

    // The group's anonymous admin gets the button; whoever taps it is checked in PM.
    app.tg
        .send_message(IncomingMessage::new(owner, chat, "/connect").anonymous_admin());
    let reply = app.tg.next_message(chat).await;
    assert_eq!(button_urls(&reply), vec![link]);
    let refused = app.pm(member, &format!("/start connect_{chat}")).await;
    assert!(
        refused.text.starts_with("I cannot connect you"),
        "{}",
        refused.text
    );
    let accepted = app.pm(owner, &format!("/start connect_{chat}")).await;
    assert!(
        accepted.text.starts_with("You are now connected to Team"),
        "{}",
        accepted.text
    );
}

async fn malformed_deep_links_are_refused(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    for payload in [
        "connect_",
        "connect_abc",
        "connect_12",
        "connect_--1",
        "connect_@team",
        &format!("connect_{chat}x"),
    ] {
        let reply = app.pm(owner, &format!("/start {payload}")).await;
        assert!(
            reply.text.contains("link is broken"),
            "{payload}: {}",
            reply.text
        );
    }
    let none = app.pm(owner, "/connection").await;
    assert!(
        none.text.starts_with("You are not connected"),
        "{}",
        none.text
    );
}

async fn disconnect_and_reconnect(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);

    let reply = app.pm(member, "/disconnect").await;
    assert_eq!(reply.text, "You are not connected to any group.");
    let reply = app.pm(member, "/reconnect").await;
    assert!(
        reply.text.contains("not been connected to any group yet"),
        "{}",
        reply.text
    );

    app.pm(member, &format!("/connect {chat}")).await;
    let reply = app.pm(member, "/disconnect").await;
    assert_eq!(reply.text, "Disconnected from Team.");
    let reply = app.pm(member, "/disconnect").await;
    assert_eq!(reply.text, "You are not connected to any group.");

    let reply = app.pm(member, "/reconnect").await;
    assert!(
        reply.text.starts_with("You are now connected to Team"),
        "{}",
        reply.text
    );
    app.pm(member, "/disconnect").await;
    app.tg.set_member(chat, member, MemberStatus::Kicked);
    let reply = app.pm(member, "/reconnect").await;
    assert!(
        reply.text.contains("you are banned from that group"),
        "{}",
        reply.text
    );

    for command in ["/disconnect", "/connection", "/reconnect"] {
        let reply = app.say(owner, chat, command).await;
        assert!(
            reply.text.contains("to me in private chat"),
            "{command}: {}",
            reply.text
        );
    }
}

async fn connection_is_rechecked_on_every_use(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.pm(member, &format!("/connect {chat}")).await;

    app.tg.set_member(chat, member, MemberStatus::Kicked);
    let reply = app.pm(member, "/connection").await;
    assert!(
        reply.text.contains("connection to Team has ended"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("banned"), "{}", reply.text);
    let reply = app.pm(member, "/connection").await;
    assert!(
        reply.text.starts_with("You are not connected"),
        "{}",
        reply.text
    );

    // Members lose the connection when the admins close connections…
    let other = app.user_in(chat, "Cid", MemberStatus::Member);
    app.pm(other, &format!("/connect {chat}")).await;
    app.say(owner, chat, "/allowconnect off").await;
    let reply = app.pm(other, "/rules").await;
    assert!(reply.text.contains("has ended"), "{}", reply.text);
    // …and everybody when the bot leaves the group.
    app.pm(owner, &format!("/connect {chat}")).await;
    app.tg.set_bot_status(chat, MemberStatus::Left);
    let reply = app.pm(owner, "/connection").await;
    assert!(reply.text.contains("has ended"), "{}", reply.text);
    // The live check, or the my_chat_member update if it came first.
    assert!(
        reply.text.contains("not a member of that group")
            || reply.text.contains("I was removed from that group"),
        "{}",
        reply.text
    );
}

async fn allowconnect_by_admins_only(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);

    let reply = app.say(owner, chat, "/allowconnect").await;
    assert_eq!(reply.text, "Members may connect to Team from private chat.");
    for (option, allowed) in [
        ("OFF", false),
        ("Yes", true),
        ("false", false),
        ("TRUE", true),
        ("no", false),
        ("On", true),
    ] {
        let reply = app
            .say(owner, chat, &format!("/allowconnect {option}"))
            .await;
        let expected = if allowed {
            "members may now connect"
        } else {
            "only admins may connect"
        };
        assert!(reply.text.contains(expected), "{option}: {}", reply.text);
        let status = app.say(owner, chat, "/allowconnect").await;
        assert_eq!(
            status.text.starts_with("Members may"),
            allowed,
            "{option}: {}",
            status.text
        );
    }
    let reply = app.say(owner, chat, "/allowconnect maybe").await;
    assert!(
        reply.text.contains("yes, no, on, off, true or false"),
        "{}",
        reply.text
    );

    let reply = app.say(member, chat, "/allowconnect off").await;
    assert_eq!(reply.text, "Only admins can use /allowconnect.");
    let status = app.say(owner, chat, "/allowconnect").await;
    assert!(
        status.text.starts_with("Members may"),
        "the member changed nothing: {}",
        status.text
    );

    let anonymous = IncomingMessage::new(owner, chat, "/allowconnect off").anonymous_admin();
    app.tg.send_message(anonymous);
    let reply = app.tg.next_message(chat).await;
    assert!(
        reply.text.contains("only admins may connect"),
        "{}",
        reply.text
    );

    // A channel posting in the group has no rights in it.
    let channel = app.tg.add_channel("Linked", None);
    app.tg.send_message(IncomingMessage {
        sender_chat: Some(channel),
        ..IncomingMessage::new(owner, chat, "/allowconnect on")
    });
    let reply = app.tg.next_message(chat).await;
    assert!(
        reply.text.contains("on behalf of a channel"),
        "{}",
        reply.text
    );
}

async fn allowconnect_through_a_connection(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.pm(owner, &format!("/connect {chat}")).await;
    app.pm(member, &format!("/connect {chat}")).await;

    let reply = app.pm(member, "/allowconnect off").await;
    assert_eq!(reply.text, "Only admins of Team can use /allowconnect.");
    let reply = app.pm(owner, "/allowconnect off").await;
    assert!(
        reply.text.contains("only admins may connect to Team"),
        "{}",
        reply.text
    );
    // Nothing was said in the group: once the owner's next command is
    // handled (so was /allowconnect), the group's next message answers a
    // command there.
    app.id_in_pm(owner).await;
    app.id_in_group(owner, chat).await;
    let reply = app.pm(member, "/connection").await;
    assert!(reply.text.contains("allow only admins"), "{}", reply.text);
}

/// What the bot's registry says is usable through a connection, by admins
/// (`admin`) or members.
fn registry_list(admin: bool) -> Vec<String> {
    castellan::modules::registry::connection_commands(ConnectionKind::Group, admin)
        .map(|spec| format!("/{}", spec.name))
        .collect()
}

async fn connbtns_lists_and_their_guards(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let view = app.pm(owner, &format!("/connect {chat}")).await;

    let id = app
        .tg
        .press_button(owner, owner, view.message_id, "connbtns.Admin");
    let answer = app.tg.next_callback_answer(&id).await;
    assert!(
        answer.get("text").is_none() || answer["text"].is_null(),
        "{answer}"
    );
    let list = app.tg.next_message(owner).await;
    assert!(list.edited);
    let listed: Vec<&str> = list
        .text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(" — ").next())
        .collect();
    assert_eq!(
        listed,
        vec![
            "/allowconnect",
            "/save",
            "/clear",
            "/setrules",
            "/clearrules",
            "/ban",
            "/tban",
            "/unban",
            "/kick",
            "/mute",
            "/tmute",
            "/unmute",
            "/warn",
            "/rmwarn",
            "/resetwarns",
            "/warnlimit",
            "/warnmode",
            "/modlog",
            "/lock",
            "/unlock",
            "/addblacklist",
            "/rmblacklist",
            "/blacklistmode",
            "/setflood",
            "/setfloodtimer",
            "/setfloodmode",
            "/filter",
            "/stop",
            "/stopall",
            "/disable",
            "/enable",
            "/disabledel"
        ]
    );
    assert_eq!(button_data(&list), vec!["connbtns.Main"]);

    let id = app
        .tg
        .press_button(owner, owner, view.message_id, "connbtns.User");
    app.tg.next_callback_answer(&id).await;
    let list = app.tg.next_message(owner).await;
    let listed: Vec<&str> = list
        .text
        .lines()
        .skip(1)
        .filter_map(|l| l.split(" — ").next())
        .collect();
    assert_eq!(listed, registry_list(false));
    assert_eq!(
        listed,
        vec![
            "/get",
            "/notes",
            "/rules",
            "/warns",
            "/locks",
            "/locktypes",
            "/blacklist",
            "/flood",
            "/filters",
            "/disabled",
            "/disableable"
        ]
    );

    let id = app
        .tg
        .press_button(owner, owner, view.message_id, "connbtns.Main");
    app.tg.next_callback_answer(&id).await;
    let back = app.tg.next_message(owner).await;
    assert_eq!(back.text, "You are connected to Team as admin.");
    // Pressing Back again gets an answer; the edit Telegram refuses as
    // "message is not modified" is fine: no error, no new message.
    let not_modified = |request: &RecordedRequest| {
        request.params["message_id"] == view.message_id
            && !request.ok
            && request.response["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Bad Request: message is not modified"))
    };
    let id = app
        .tg
        .press_button(owner, owner, view.message_id, "connbtns.Main");
    app.tg.next_callback_answer(&id).await;
    let refused = app
        .tg
        .wait_for_request("editMessageText", not_modified, Duration::from_secs(10))
        .await;
    assert!(refused.is_some(), "the second Back tried no edit");
    app.id_in_pm(owner).await;

    // A member's forged Admin press: an alert, no list.
    let member_view = app.pm(member, &format!("/connect {chat}")).await;
    let id = app
        .tg
        .press_button(member, member, member_view.message_id, "connbtns.Admin");
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(answer["show_alert"], true);
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Only the group's admins"),
        "{answer}"
    );
    app.id_in_pm(member).await;

    // A stale press after disconnecting: an alert.
    app.pm(member, "/disconnect").await;
    let id = app
        .tg
        .press_button(member, member, member_view.message_id, "connbtns.User");
    let answer = app.tg.next_callback_answer(&id).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("not connected"),
        "{answer}"
    );

    // Banned after connecting: the press ends the connection.
    app.pm(member, &format!("/connect {chat}")).await;
    app.tg.set_member(chat, member, MemberStatus::Kicked);
    let id = app
        .tg
        .press_button(member, member, member_view.message_id, "connbtns.User");
    let answer = app.tg.next_callback_answer(&id).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("has ended"),
        "{answer}"
    );
    let reply = app.pm(member, "/connection").await;
    assert!(
        reply.text.starts_with("You are not connected"),
        "{}",
        reply.text
    );

    let id = app
        .tg
        .press_button(owner, owner, view.message_id, "connbtns.Bogus");
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(answer["show_alert"], true);
}

async fn demoted_admin_loses_admin_rights_at_once(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, _owner) = app.group_with_owner("Team");
    let admin = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let view = app.pm(admin, &format!("/connect {chat}")).await;
    assert_eq!(button_data(&view), vec!["connbtns.Admin", "connbtns.User"]);

    // Demoted silently (no chat_member update reaches the bot).
    app.tg.set_member(chat, admin, MemberStatus::Member);
    let id = app
        .tg
        .press_button(admin, admin, view.message_id, "connbtns.Admin");
    let answer = app.tg.next_callback_answer(&id).await;
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Only the group's admins"),
        "{answer}"
    );
    let reply = app.pm(admin, "/connection").await;
    assert_eq!(button_data(&reply), vec!["connbtns.User"]);
    let reply = app.pm(admin, "/allowconnect off").await;
    assert_eq!(reply.text, "Only admins of Team can use /allowconnect.");
}

async fn group_admin_cache_follows_chat_member_updates(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    // Telegram sends chat_member updates only to admin bots.
    app.tg.set_bot_status(chat, MemberStatus::Administrator);
    let admin = app.user_in(chat, "Ada", MemberStatus::Administrator);
    app.assert_admin_changes_seen_at_once(chat, admin).await;
    let _ = owner;
    let polls = app.tg.requests_for("getUpdates");
    let asked: Vec<String> = polls
        .iter()
        .filter_map(|r| r.params.get("allowed_updates"))
        .filter_map(|v| v.as_array())
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert!(
        asked.contains(&"chat_member".to_owned()),
        "the bot asks for chat_member updates: {asked:?}"
    );
}

async fn telegram_failure_keeps_the_connection_and_says_so(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    app.pm(owner, &format!("/connect {chat}")).await;
    // The user's membership (the bot's own is known since connecting),
    // tried 3 times.
    app.tg.fail_next("getChatMember", Fault::ServerError, 3);
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply.text.contains("Telegram did not answer"),
        "{}",
        reply.text
    );
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply.text.starts_with("You are connected to Team"),
        "{}",
        reply.text
    );

    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.tg.fail_next(
        "getChat",
        Fault::BadRequest("Bad Request: something odd".into()),
        1,
    );
    let reply = app.pm(member, &format!("/connect {chat}")).await;
    assert!(
        reply.text.contains("Telegram did not answer"),
        "{}",
        reply.text
    );
}

async fn html_special_titles_are_escaped(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let title = r#"Ops <Team> & "Friends""#;
    let (chat, owner) = app.group_with_owner(title);
    let reply = app.pm(owner, &format!("/connect {chat}")).await;
    assert_eq!(
        reply.text.lines().next(),
        Some(format!("You are now connected to {title} as admin.").as_str())
    );
    let bold = &reply.entities[0];
    assert_eq!(bold["type"], "bold");
    let reply = app.pm(owner, "/connection").await;
    assert!(reply.text.contains(title));
    let id = app
        .tg
        .press_button(owner, owner, reply.message_id, "connbtns.Admin");
    app.tg.next_callback_answer(&id).await;
    let list = app.tg.next_message(owner).await;
    assert!(list.text.contains(title), "{}", list.text);
    let reply = app.say(owner, chat, "/connect").await;
    assert!(reply.text.contains(title), "{}", reply.text);
    app.tg.set_member(chat, owner, MemberStatus::Left);
    let reply = app.pm(owner, "/connection").await;
    assert!(reply.text.contains(title), "{}", reply.text);
    let list = app.pm(owner, "/connect").await;
    let label = list
        .reply_markup
        .as_ref()
        .map(|m| m["inline_keyboard"][0][0]["text"].clone());
    assert_eq!(label, Some(serde_json::Value::from(title)));
}

async fn connections_survive_a_restart(backend: Backend) {
    let Some(mut app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.pm(member, &format!("/connect {chat}")).await;
    app.pm(owner, &format!("/connect {chat}")).await;
    app.pm(owner, "/disconnect").await;
    app.say(owner, chat, "/allowconnect off").await;
    app.tg.set_member(chat, member, MemberStatus::Administrator);

    app.restart().await;

    let reply = app.pm(member, "/connection").await;
    assert!(
        reply.text.starts_with("You are connected to Team"),
        "{}",
        reply.text
    );
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply.text.starts_with("You are not connected"),
        "{}",
        reply.text
    );
    let list = app.pm(owner, "/connect").await;
    assert_eq!(button_data(&list), vec![format!("connect.{chat}")]);
    let reply = app.say(owner, chat, "/allowconnect").await;
    assert!(
        reply.text.starts_with("Only admins may connect"),
        "{}",
        reply.text
    );
}

async fn failures_are_never_silent(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");

    // Telegram refuses the admin list for a reason castellan does not know:
    // the user hears that something went wrong.
    app.tg.fail_next(
        "getChatAdministrators",
        Fault::BadRequest("Bad Request: odd".into()),
        1,
    );
    let reply = app.say(owner, chat, "/allowconnect").await;
    assert!(
        reply.text.starts_with("Something went wrong on my side"),
        "{}",
        reply.text
    );

    // A button whose check fails still gets an answer, as an alert.
    let view = app.pm(owner, &format!("/connect {chat}")).await;
    app.tg.fail_next("getChatMember", Fault::ServerError, 3);
    let id = app
        .tg
        .press_button(owner, owner, view.message_id, "connbtns.User");
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(answer["show_alert"], true);
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("Telegram did not answer"),
        "{answer}"
    );

    // A message that can no longer be edited: the content comes as a new one.
    app.tg.fail_next(
        "editMessageText",
        Fault::BadRequest("Bad Request: message can't be edited".into()),
        1,
    );
    let id = app
        .tg
        .press_button(owner, owner, view.message_id, "connbtns.Admin");
    app.tg.next_callback_answer(&id).await;
    let list = app.tg.next_message(owner).await;
    assert!(!list.edited);
    assert!(
        list.text.starts_with("Admin commands for Team"),
        "{}",
        list.text
    );
}
