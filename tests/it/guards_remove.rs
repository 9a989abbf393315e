//! Locks, blacklists and disabled commands.
//!
//! A member's message is handled in its group's lane in order: the owner's
//! `/id` sent afterwards, answered as the very next message of the group
//! ([`caught_up`]), says it was handled, and that the bot said nothing
//! about it meanwhile.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fake_bot_api::{AdminRights, ChatPermissions, IncomingMessage, MemberStatus, SentMessage};
use serde_json::{Value, json};

use crate::app::{TestApp, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(
    lock_settings_need_the_right_to_change_info,
    each_lock_removes_its_kind_from_members_only,
    lock_all_and_links_in_every_form,
    bot_lock_removes_bots_members_add,
    locks_without_the_right_to_delete_warn_admins_not_the_group,
    blacklist_entries_match_whole_words_in_any_case,
    blacklist_settings_need_the_right_to_change_info,
    blacklist_modes_sanction_the_sender,
    blacklisted_message_fires_nothing_else,
    disabled_commands_are_ignored_for_members,
    guards_set_through_a_connection,
    chatter_costs_no_call_with_or_without_guards,
    guards_survive_a_restart,
    privacy_mode_hiding_messages_is_told_on_the_setting,
);

/// Every lock kind that a message is, with how to make one (see [`sample`]).
const MESSAGE_KINDS: [&str; 16] = [
    "sticker",
    "gif",
    "photo",
    "video",
    "voice",
    "audio",
    "document",
    "videonote",
    "url",
    "forward",
    "inline",
    "poll",
    "contact",
    "location",
    "game",
    "dice",
];

/// What the warning about the right to delete messages says.
const NEEDS_DELETE: &str = "I need the admin right to delete messages in Team for this to work.";

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

/// "Team", its owner, and the bot an administrator with the usual rights.
fn team(app: &TestApp) -> (i64, i64) {
    let (chat, owner) = app.group_with_owner("Team");
    app.tg.set_bot_admin(chat, AdminRights::usual());
    (chat, owner)
}

/// The owner's `/id` in the group is answered as the bot's very next
/// message there: everything sent to the group before was handled, and
/// the bot said nothing else meanwhile.
async fn caught_up(app: &TestApp, owner: i64, chat: i64) {
    app.tg
        .assert_next_is_answer_to(owner, chat, "/id", |answer, asked| {
            answer.reply_to_message_id == Some(asked)
                && answer.text.contains(&format!("Your id: {owner}"))
                && answer.text.contains(&format!("This chat's id: {chat}"))
        })
        .await;
}

/// The owner's `/id` sent, the bot's messages in the group until its
/// answer: those before it.
async fn messages_until_caught_up(app: &TestApp, owner: i64, chat: i64) -> Vec<SentMessage> {
    let asked = app.tg.send_text(owner, chat, "/id");
    let mut before = Vec::new();
    loop {
        let message = app.tg.next_message(chat).await;
        if message.reply_to_message_id == Some(asked)
            && message.text.contains(&format!("Your id: {owner}"))
        {
            return before;
        }
        before.push(message);
    }
}

/// A message of lock kind `kind` from `from`: `via` is a bot user for
/// inline messages, `source` a user to forward from.
fn sample(kind: &str, from: i64, chat: i64, via: i64, source: i64) -> IncomingMessage {
    let base = IncomingMessage::new(from, chat, "look at this");
    match kind {
        "sticker" => base.sticker(),
        "gif" => base.animation(),
        "photo" => base.photo(),
        "video" => base.video(),
        "voice" => base.voice(),
        "audio" => base.audio(),
        "document" => base.document(),
        "videonote" => base.video_note(),
        "url" => IncomingMessage::new(from, chat, "see https://example.com now"),
        "forward" => base.forwarded_from_user(source),
        "inline" => base.via_bot(via),
        "poll" => base.poll("Lunch?"),
        "contact" => base.contact("+15550100", "Ann"),
        "location" => base.location(48.85, 2.35),
        "game" => base.game("Tetris"),
        "dice" => base.dice("🎲"),
        other => panic!("no sample for {other}"),
    }
}

/// The bot's answer to `from`'s `text` in the group.
async fn answer(app: &TestApp, from: i64, chat: i64, text: &str) -> String {
    app.say(from, chat, text).await.text
}

/// A JSON parameter as an integer (JSON number or form string).
fn int(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
}

/// The requests of `method` about `user`.
fn requests_about(app: &TestApp, method: &str, user: i64) -> Vec<Value> {
    app.tg
        .requests_for(method)
        .into_iter()
        .filter(|r| int(&r.params["user_id"]) == Some(user))
        .map(|r| r.params)
        .collect()
}

fn calls_since(app: &TestApp, start: usize) -> Vec<String> {
    app.tg
        .requests_since(start)
        .into_iter()
        .map(|request| request.method)
        .filter(|method| method != "getUpdates")
        .collect()
}

async fn lock_settings_need_the_right_to_change_info(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    let nora = app.tg.add_user("Nora");
    app.tg
        .set_admin(chat, nora, AdminRights::usual().change_info(false));
    caught_up(&app, owner, chat).await;

    for command in ["lock", "unlock"] {
        let text = answer(&app, bea, chat, &format!("/{command} sticker")).await;
        assert_eq!(text, format!("Only admins can use /{command}."));
        let text = answer(&app, nora, chat, &format!("/{command} sticker")).await;
        assert_eq!(
            text,
            format!("To use /{command} in Team you need the admin right to change group info.")
        );
    }
    assert_eq!(
        answer(&app, bea, chat, "/locks").await,
        "Nothing is locked in Team."
    );

    // Anyone may see what can be locked, and what is.
    let text = answer(&app, bea, chat, "/locktypes").await;
    assert_eq!(
        text,
        "Kinds that can be locked: all, sticker, gif, photo, video, voice, audio, document, \
         url, forward, inline, poll, contact, location, game, dice, bot, videonote."
    );
    let text = answer(&app, owner, chat, "/lock sticker url forward").await;
    assert_eq!(text, "Locked in Team: sticker, url, forward.");
    let text = answer(&app, bea, chat, "/locks").await;
    assert_eq!(text, "Locked in Team: sticker, url, forward.");
    let text = answer(&app, owner, chat, "/unlock url").await;
    assert_eq!(text, "Unlocked in Team: url.");
    let text = answer(&app, nora, chat, "/locks").await;
    assert_eq!(text, "Locked in Team: sticker, forward.");

    // Usage and unknown kinds.
    let text = answer(&app, owner, chat, "/lock").await;
    assert_eq!(
        text,
        "What should I lock? For example: /lock sticker url. /locktypes lists them."
    );
    let text = answer(&app, owner, chat, "/lock nonsense").await;
    assert_eq!(
        text,
        "I do not know these kinds: nonsense. /locktypes lists them."
    );
    let text = answer(&app, owner, chat, "/lock photo nonsense").await;
    assert_eq!(
        text,
        "Locked in Team: photo.\nI do not know these kinds: nonsense. /locktypes lists them."
    );
    // The refused ones changed nothing.
    let text = answer(&app, owner, chat, "/locks").await;
    assert_eq!(text, "Locked in Team: sticker, photo, forward.");
    caught_up(&app, owner, chat).await;
}

async fn each_lock_removes_its_kind_from_members_only(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    let via = app.tg.add_bot_user("Gifs", "gifs_bot");
    let source = app.tg.add_user("Source");
    caught_up(&app, owner, chat).await;

    for kind in MESSAGE_KINDS {
        let text = answer(&app, owner, chat, &format!("/lock {kind}")).await;
        assert_eq!(text, format!("Locked in Team: {kind}."));
        let member = app.tg.send_message(sample(kind, bea, chat, via, source));
        let admin = app.tg.send_message(sample(kind, ada, chat, via, source));
        let anonymous = app
            .tg
            .send_message(sample(kind, owner, chat, via, source).anonymous_admin());
        let other = app.tg.send_text(bea, chat, "just some words");
        caught_up(&app, owner, chat).await;
        assert!(
            app.tg.is_deleted(chat, member),
            "{kind} locked: a member's {kind} is deleted"
        );
        assert!(
            !app.tg.is_deleted(chat, admin),
            "{kind} locked: an admin's {kind} is kept"
        );
        assert!(
            !app.tg.is_deleted(chat, anonymous),
            "{kind} locked: an anonymous admin's {kind} is kept"
        );
        assert!(
            !app.tg.is_deleted(chat, other),
            "{kind} locked: a member's plain text is kept"
        );

        let text = answer(&app, owner, chat, &format!("/unlock {kind}")).await;
        assert_eq!(text, format!("Unlocked in Team: {kind}."));
        let again = app.tg.send_message(sample(kind, bea, chat, via, source));
        caught_up(&app, owner, chat).await;
        assert!(
            !app.tg.is_deleted(chat, again),
            "{kind} unlocked: a member's {kind} is kept"
        );
    }

    // A kind locked leaves the others alone: only stickers go.
    let text = answer(&app, owner, chat, "/lock sticker").await;
    assert_eq!(text, "Locked in Team: sticker.");
    let mut kept = Vec::new();
    for kind in MESSAGE_KINDS.into_iter().filter(|k| *k != "sticker") {
        kept.push((
            kind,
            app.tg.send_message(sample(kind, bea, chat, via, source)),
        ));
    }
    let sticker = app
        .tg
        .send_message(sample("sticker", bea, chat, via, source));
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, sticker));
    for (kind, id) in kept {
        assert!(
            !app.tg.is_deleted(chat, id),
            "only stickers are locked: a member's {kind} is kept"
        );
    }

    // A GIF comes with a document: locking documents leaves GIFs alone.
    let text = answer(&app, owner, chat, "/lock document").await;
    assert_eq!(text, "Locked in Team: document.");
    let gif = app.tg.send_message(sample("gif", bea, chat, via, source));
    let document = app
        .tg
        .send_message(sample("document", bea, chat, via, source));
    caught_up(&app, owner, chat).await;
    assert!(!app.tg.is_deleted(chat, gif), "a GIF is not a document");
    assert!(app.tg.is_deleted(chat, document));
}

async fn lock_all_and_links_in_every_form(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    let via = app.tg.add_bot_user("Gifs", "gifs_bot");
    let source = app.tg.add_user("Source");
    caught_up(&app, owner, chat).await;

    // Links: a URL in a text, a text link, a URL in a caption.
    let text = answer(&app, owner, chat, "/lock url").await;
    assert_eq!(text, "Locked in Team: url.");
    let plain = app
        .tg
        .send_text(bea, chat, "go to https://example.com please");
    let text_link =
        app.tg.send_message(
            IncomingMessage::new(bea, chat, "click here").entities(vec![json!({
                "type": "text_link", "offset": 0, "length": 10, "url": "https://example.com"
            })]),
        );
    let caption = app.tg.send_message(
        IncomingMessage::new(bea, chat, "")
            .photo()
            .caption("my site https://example.com"),
    );
    let no_link = app.tg.send_text(bea, chat, "example dot com, no link");
    let admin_link = app.tg.send_text(ada, chat, "https://example.com");
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, plain), "a URL in a text");
    assert!(app.tg.is_deleted(chat, text_link), "a text_link entity");
    assert!(app.tg.is_deleted(chat, caption), "a URL in a caption");
    assert!(!app.tg.is_deleted(chat, no_link), "a text with no link");
    assert!(!app.tg.is_deleted(chat, admin_link), "an admin's link");
    let text = answer(&app, owner, chat, "/unlock url").await;
    assert_eq!(text, "Unlocked in Team: url.");

    // All: every message a member posts.
    let text = answer(&app, owner, chat, "/lock all").await;
    assert_eq!(text, "Locked in Team: all.");
    let mut members = vec![("text", app.tg.send_text(bea, chat, "hello"))];
    for kind in MESSAGE_KINDS {
        members.push((
            kind,
            app.tg.send_message(sample(kind, bea, chat, via, source)),
        ));
    }
    let admin = app.tg.send_text(ada, chat, "an admin speaks");
    let admin_sticker = app
        .tg
        .send_message(sample("sticker", ada, chat, via, source));
    let anonymous = app
        .tg
        .send_message(IncomingMessage::new(owner, chat, "an announcement").anonymous_admin());
    caught_up(&app, owner, chat).await;
    for (kind, id) in &members {
        assert!(
            app.tg.is_deleted(chat, *id),
            "all locked: a member's {kind} is deleted"
        );
    }
    assert!(!app.tg.is_deleted(chat, admin));
    assert!(!app.tg.is_deleted(chat, admin_sticker));
    assert!(!app.tg.is_deleted(chat, anonymous));

    let text = answer(&app, owner, chat, "/unlock all").await;
    assert_eq!(text, "Unlocked in Team: all.");
    let text_again = app.tg.send_text(bea, chat, "hello again");
    let sticker_again = app
        .tg
        .send_message(sample("sticker", bea, chat, via, source));
    caught_up(&app, owner, chat).await;
    assert!(!app.tg.is_deleted(chat, text_again));
    assert!(!app.tg.is_deleted(chat, sticker_again));
    assert_eq!(
        answer(&app, owner, chat, "/locks").await,
        "Nothing is locked in Team."
    );
}

async fn bot_lock_removes_bots_members_add(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    caught_up(&app, owner, chat).await;

    // Unlocked: a member's bot stays.
    let first = app.tg.add_bot_to_group(bea, chat, "First");
    caught_up(&app, owner, chat).await;
    assert_eq!(app.tg.member_status(chat, first), MemberStatus::Member);

    let text = answer(&app, owner, chat, "/lock bot").await;
    assert_eq!(text, "Locked in Team: bot.");
    let spam = app.tg.add_bot_to_group(bea, chat, "Spam");
    caught_up(&app, owner, chat).await;
    assert_eq!(
        app.tg.member_status(chat, spam),
        MemberStatus::Kicked,
        "a bot a member added while bots are locked is removed"
    );
    // An admin's and the owner's stay.
    let helper = app.tg.add_bot_to_group(ada, chat, "Helper");
    let owners = app.tg.add_bot_to_group(owner, chat, "Owners");
    caught_up(&app, owner, chat).await;
    assert_eq!(app.tg.member_status(chat, helper), MemberStatus::Member);
    assert_eq!(app.tg.member_status(chat, owners), MemberStatus::Member);
    assert_eq!(app.tg.member_status(chat, first), MemberStatus::Member);

    let text = answer(&app, owner, chat, "/unlock bot").await;
    assert_eq!(text, "Unlocked in Team: bot.");
    let later = app.tg.add_bot_to_group(bea, chat, "Later");
    caught_up(&app, owner, chat).await;
    assert_eq!(app.tg.member_status(chat, later), MemberStatus::Member);
    assert_eq!(
        requests_about(&app, "banChatMember", spam).len(),
        app.tg.requests_for("banChatMember").len(),
        "only the bot added while bots were locked was banned"
    );
}

async fn locks_without_the_right_to_delete_warn_admins_not_the_group(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    app.tg
        .set_bot_admin(chat, AdminRights::usual().delete_messages(false));
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    caught_up(&app, owner, chat).await;

    let text = answer(&app, owner, chat, "/lock sticker").await;
    assert!(text.starts_with("Locked in Team: sticker."), "{text}");
    assert!(text.contains(NEEDS_DELETE), "{text}");
    let text = answer(&app, bea, chat, "/locks").await;
    assert!(text.starts_with("Locked in Team: sticker."), "{text}");
    assert!(text.contains(NEEDS_DELETE), "{text}");

    // Stickers stay, and the group hears nothing of it.
    let mut stickers = Vec::new();
    for _ in 0..3 {
        stickers.push(
            app.tg
                .send_message(IncomingMessage::new(bea, chat, "").sticker()),
        );
    }
    caught_up(&app, owner, chat).await;
    for sticker in stickers {
        assert!(!app.tg.is_deleted(chat, sticker));
    }
    app.tg
        .assert_no_message(chat, Duration::from_millis(200))
        .await;

    // Given the right (Telegram tells the bot), the locks work and the
    // warning is gone.
    app.tg.set_bot_admin(chat, AdminRights::usual());
    caught_up(&app, owner, chat).await;
    let text = answer(&app, owner, chat, "/locks").await;
    assert_eq!(text, "Locked in Team: sticker.");
    let sticker = app
        .tg
        .send_message(IncomingMessage::new(bea, chat, "").sticker());
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, sticker));
}

async fn blacklist_entries_match_whole_words_in_any_case(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    caught_up(&app, owner, chat).await;

    assert_eq!(
        answer(&app, bea, chat, "/blacklist").await,
        "Team has no blacklist."
    );
    let text = answer(&app, owner, chat, "/addblacklist casino\nbuy*now\nÉTÉ").await;
    assert_eq!(text, "Blacklisted in Team: casino, buy*now, été.");
    let text = answer(&app, bea, chat, "/blacklist").await;
    assert!(
        text.starts_with("Blacklist of Team (action: delete the message):"),
        "{text}"
    );
    for entry in ["• casino", "• buy*now", "• été"] {
        assert!(text.contains(entry), "{entry}: {text}");
    }

    let mut caught = Vec::new();
    for text in [
        "online casino!",
        "CASINO tonight",
        "please buynow",
        "buy-it-now",
        "c'est l'été",
        "L'ÉTÉ arrive",
    ] {
        caught.push((text, app.tg.send_text(bea, chat, text)));
    }
    let caption = app.tg.send_message(
        IncomingMessage::new(bea, chat, "")
            .photo()
            .caption("casino night"),
    );
    caught.push(("a caption with casino", caption));
    let mut kept = Vec::new();
    for text in ["casinos are closed", "buy it now", "summer is here", "étés"] {
        kept.push((text, app.tg.send_text(bea, chat, text)));
    }
    kept.push(("an admin's casino", app.tg.send_text(ada, chat, "casino")));
    kept.push((
        "an anonymous admin's casino",
        app.tg
            .send_message(IncomingMessage::new(owner, chat, "casino").anonymous_admin()),
    ));
    caught_up(&app, owner, chat).await;
    for (text, id) in caught {
        assert!(app.tg.is_deleted(chat, id), "{text:?} is deleted");
    }
    for (text, id) in kept {
        assert!(!app.tg.is_deleted(chat, id), "{text:?} is kept");
    }

    // Removed: kept from then on.
    let text = answer(&app, owner, chat, "/rmblacklist casino\nbuy*now").await;
    assert_eq!(text, "Removed from the blacklist of Team: 2.");
    let casino = app.tg.send_text(bea, chat, "casino");
    let buy = app.tg.send_text(bea, chat, "buynow");
    let ete = app.tg.send_text(bea, chat, "été");
    caught_up(&app, owner, chat).await;
    assert!(!app.tg.is_deleted(chat, casino));
    assert!(!app.tg.is_deleted(chat, buy));
    assert!(app.tg.is_deleted(chat, ete));
    let text = answer(&app, owner, chat, "/blacklist").await;
    assert!(text.contains("• été"), "{text}");
    assert!(!text.contains("casino"), "{text}");
}

async fn blacklist_settings_need_the_right_to_change_info(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    let nora = app.tg.add_user("Nora");
    app.tg
        .set_admin(chat, nora, AdminRights::usual().change_info(false));
    caught_up(&app, owner, chat).await;

    for command in [
        "/addblacklist casino",
        "/rmblacklist casino",
        "/blacklistmode ban",
    ] {
        let name = &command[1..command.find(' ').unwrap_or(command.len())];
        let text = answer(&app, bea, chat, command).await;
        assert_eq!(text, format!("Only admins can use /{name}."), "{command}");
        let text = answer(&app, nora, chat, command).await;
        assert_eq!(
            text,
            format!("To use /{name} in Team you need the admin right to change group info."),
            "{command}"
        );
    }
    assert_eq!(
        answer(&app, owner, chat, "/blacklist").await,
        "Team has no blacklist."
    );
    assert_eq!(
        answer(&app, owner, chat, "/blacklistmode").await,
        "In Team, a blacklisted message is deleted, and then: delete the message."
    );
    let text = answer(&app, owner, chat, "/addblacklist").await;
    assert_eq!(text, "Give the entries, one per line: /addblacklist casino");
}

async fn blacklist_modes_sanction_the_sender(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    caught_up(&app, owner, chat).await;
    let text = answer(&app, owner, chat, "/addblacklist casino").await;
    assert_eq!(text, "Blacklisted in Team: casino.");

    // Bad modes are refused, the mode kept.
    for bad in ["explode", "tmute", "tban soon"] {
        let text = answer(&app, owner, chat, &format!("/blacklistmode {bad}")).await;
        if bad == "tban soon" {
            assert_eq!(
                text, "“soon” is not a duration. Use for example 30m, 4h, 2d or 1w.",
                "{bad}"
            );
        } else {
            assert_eq!(
                text,
                format!("“{bad}” is not one of: delete, warn, mute, kick, ban, tmute, tban."),
                "{bad}"
            );
        }
    }
    assert_eq!(
        answer(&app, owner, chat, "/blacklistmode").await,
        "In Team, a blacklisted message is deleted, and then: delete the message."
    );

    for (mode, said) in [
        ("delete", "delete the message"),
        ("warn", "warn"),
        ("mute", "mute"),
        ("kick", "kick"),
        ("ban", "ban"),
        ("tmute 2h", "mute for 2h"),
        ("tban 2d", "ban for 2d"),
    ] {
        let text = answer(&app, owner, chat, &format!("/blacklistmode {mode}")).await;
        assert_eq!(
            text,
            format!("In Team, a blacklisted message is now deleted, and then: {said}."),
            "{mode}"
        );
        let name = format!("Member{}", mode.replace(' ', ""));
        let member = app.user_in(chat, &name, MemberStatus::Member);
        let spam = app.tg.send_text(member, chat, "visit my casino");
        let said = messages_until_caught_up(&app, owner, chat).await;
        let said: Vec<String> = said.into_iter().map(|m| m.text).collect();
        assert!(app.tg.is_deleted(chat, spam), "{mode}: deleted");
        match mode {
            "delete" => {
                assert!(said.is_empty(), "delete: nothing said: {said:?}");
                assert_eq!(app.tg.member_status(chat, member), MemberStatus::Member);
            }
            "warn" => {
                assert_eq!(said.len(), 1, "warn: one announcement: {said:?}");
                assert!(
                    said[0].starts_with(&format!("{name} has 1/3 warnings.")),
                    "warn: {said:?}"
                );
                assert_eq!(app.tg.member_status(chat, member), MemberStatus::Member);
            }
            "mute" | "tmute 2h" => {
                assert!(
                    said.len() <= 1,
                    "{mode}: at most one announcement: {said:?}"
                );
                let mutes = requests_about(&app, "restrictChatMember", member);
                assert_eq!(mutes.len(), 1, "{mode}: {mutes:?}");
                let permissions = mutes[0]["permissions"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{mode}: no permissions: {}", mutes[0]));
                assert!(
                    permissions.values().all(|allowed| allowed == false),
                    "{mode}: a mute allows nothing: {}",
                    mutes[0]
                );
                let (left, until) = app
                    .tg
                    .restriction(chat, member)
                    .unwrap_or_else(|| panic!("{mode}: not muted"));
                assert_eq!(left, ChatPermissions::none(), "{mode}");
                if mode == "mute" {
                    assert_eq!(until, 0, "mute: forever");
                } else {
                    assert_about(until, 2 * 3600, "tmute 2h");
                }
            }
            "kick" => {
                assert!(said.len() <= 1, "kick: at most one announcement: {said:?}");
                assert_eq!(requests_about(&app, "banChatMember", member).len(), 1);
                assert_eq!(requests_about(&app, "unbanChatMember", member).len(), 1);
                let status = app.tg.member_status(chat, member);
                assert!(
                    status == MemberStatus::Left,
                    "kick: out, not banned: {status:?}"
                );
            }
            "ban" => {
                assert!(said.len() <= 1, "ban: at most one announcement: {said:?}");
                assert_eq!(app.tg.member_status(chat, member), MemberStatus::Kicked);
                let until = app.tg.ban_until(chat, member).unwrap_or(-1);
                assert_eq!(until, 0, "ban: forever");
            }
            "tban 2d" => {
                assert!(said.len() <= 1, "tban: at most one announcement: {said:?}");
                assert_eq!(app.tg.member_status(chat, member), MemberStatus::Kicked);
                let until = app
                    .tg
                    .ban_until(chat, member)
                    .unwrap_or_else(|| panic!("tban: not banned"));
                assert_about(until, 2 * 86_400, "tban 2d");
            }
            _ => unreachable!(),
        }
    }
    let text = answer(&app, owner, chat, "/blacklist").await;
    assert!(
        text.starts_with("Blacklist of Team (action: ban for 2d):"),
        "{text}"
    );
}

async fn blacklisted_message_fires_nothing_else(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    caught_up(&app, owner, chat).await;
    let text = answer(&app, owner, chat, "/filter casino Welcome").await;
    assert!(text.starts_with("Filters saved in Team"), "{text}");
    let text = answer(&app, owner, chat, "/addblacklist casino").await;
    assert_eq!(text, "Blacklisted in Team: casino.");

    // The member's message is deleted; no filter answers it.
    let spam = app.tg.send_text(bea, chat, "casino");
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, spam));

    // Nor does a command in a deleted message run.
    let command = app.tg.send_text(bea, chat, "/id casino");
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, command));

    // An admin's is kept, and the filter answers it.
    let kept = app.tg.send_text(ada, chat, "casino");
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.text, "Welcome");
    assert_eq!(reply.reply_to_message_id, Some(kept));
    assert!(!app.tg.is_deleted(chat, kept));
    caught_up(&app, owner, chat).await;
}

async fn disabled_commands_are_ignored_for_members(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    let nora = app.tg.add_user("Nora");
    app.tg
        .set_admin(chat, nora, AdminRights::usual().change_info(false));
    caught_up(&app, owner, chat).await;

    // Settings need the right to change group info.
    for command in ["/disable id", "/enable id", "/disabledel on"] {
        let name = &command[1..command.find(' ').unwrap_or(command.len())];
        let text = answer(&app, bea, chat, command).await;
        assert_eq!(text, format!("Only admins can use /{name}."), "{command}");
        let text = answer(&app, nora, chat, command).await;
        assert_eq!(
            text,
            format!("To use /{name} in Team you need the admin right to change group info."),
            "{command}"
        );
    }

    // What can be turned off.
    let text = answer(&app, bea, chat, "/disableable").await;
    let lines: Vec<&str> = text.lines().collect();
    for name in ["/id", "/rules", "/notes", "/get", "/warns", "/filters"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{name} — "))),
            "{name} can be turned off: {text}"
        );
    }
    for name in ["/connect", "/disable", "/lock", "/ban"] {
        assert!(
            !lines.iter().any(|l| l.starts_with(&format!("{name} — "))),
            "{name} cannot be turned off: {text}"
        );
    }
    let text = answer(&app, owner, chat, "/disable connect").await;
    assert!(
        text.starts_with("These cannot be turned off: connect"),
        "{text}"
    );
    assert_eq!(
        answer(&app, owner, chat, "/disabled").await,
        "No command is turned off in Team."
    );

    let text = answer(&app, owner, chat, "/disable id rules").await;
    assert_eq!(text, "Turned off for members in Team: /id, /rules.");
    let text = answer(&app, bea, chat, "/disabled").await;
    assert_eq!(text, "Turned off for members in Team: /id, /rules.");

    // A member's uses are ignored (neither answered nor deleted).
    let ignored = app.tg.send_text(bea, chat, "/id");
    let rules = app.tg.send_text(bea, chat, "/rules");
    caught_up(&app, owner, chat).await;
    assert!(!app.tg.is_deleted(chat, ignored));
    assert!(!app.tg.is_deleted(chat, rules));
    // An admin's are answered.
    app.tg
        .assert_next_is_answer_to(ada, chat, "/id", |answer, asked| {
            answer.reply_to_message_id == Some(asked)
                && answer.text.contains(&format!("Your id: {ada}"))
        })
        .await;
    // In PM it still works.
    app.id_in_pm(bea).await;

    // Deleted when the group asks.
    let text = answer(&app, owner, chat, "/disabledel on").await;
    assert_eq!(
        text,
        "In Team, turned-off commands members send are now deleted."
    );
    let text = answer(&app, owner, chat, "/disabled").await;
    assert_eq!(
        text,
        "Turned off for members in Team: /id, /rules.\nMembers' uses of them are deleted."
    );
    let deleted = app.tg.send_text(bea, chat, "/id");
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, deleted));
    let admins = app.tg.send_text(ada, chat, "/id");
    let reply = app.tg.next_message(chat).await;
    assert_eq!(reply.reply_to_message_id, Some(admins));
    assert!(!app.tg.is_deleted(chat, admins));

    // Turned on again.
    let text = answer(&app, owner, chat, "/enable id").await;
    assert_eq!(text, "Turned on again in Team: /id.");
    app.tg
        .assert_next_is_answer_to(bea, chat, "/id", |answer, asked| {
            answer.reply_to_message_id == Some(asked)
                && answer.text.contains(&format!("Your id: {bea}"))
        })
        .await;
    let rules = app.tg.send_text(bea, chat, "/rules");
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, rules), "/rules is still off");
    let text = answer(&app, owner, chat, "/disabled").await;
    assert!(
        text.starts_with("Turned off for members in Team: /rules."),
        "{text}"
    );
}

async fn guards_set_through_a_connection(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ada = app.user_in(chat, "Ada", MemberStatus::Administrator);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    caught_up(&app, owner, chat).await;
    let reply = app.pm(ada, &format!("/connect {chat}")).await;
    assert!(
        reply.text.starts_with("You are now connected to Team"),
        "{}",
        reply.text
    );

    let reply = app.pm(ada, "/lock sticker").await;
    assert_eq!(reply.text, "Locked in Team: sticker.");
    let reply = app.pm(ada, "/addblacklist casino").await;
    assert_eq!(reply.text, "Blacklisted in Team: casino.");
    let reply = app.pm(ada, "/disable id").await;
    assert_eq!(reply.text, "Turned off for members in Team: /id.");
    let reply = app.pm(ada, "/locks").await;
    assert_eq!(reply.text, "Locked in Team: sticker.");

    let sticker = app
        .tg
        .send_message(IncomingMessage::new(bea, chat, "").sticker());
    let casino = app.tg.send_text(bea, chat, "casino");
    let id = app.tg.send_text(bea, chat, "/id");
    let photo = app
        .tg
        .send_message(IncomingMessage::new(bea, chat, "").photo());
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, sticker));
    assert!(app.tg.is_deleted(chat, casino));
    assert!(!app.tg.is_deleted(chat, id), "ignored, not deleted");
    assert!(!app.tg.is_deleted(chat, photo));

    // The right to change info taken away (Telegram tells the bot, an
    // admin): refused from then on, nothing changed.
    app.tg
        .change_admin(chat, ada, AdminRights::usual().change_info(false));
    caught_up(&app, owner, chat).await;
    let reply = app.pm(ada, "/lock photo").await;
    assert_eq!(
        reply.text,
        "To use /lock in Team you need the admin right to change group info."
    );
    let reply = app.pm(ada, "/addblacklist poker").await;
    assert_eq!(
        reply.text,
        "To use /addblacklist in Team you need the admin right to change group info."
    );
    let reply = app.pm(ada, "/enable id").await;
    assert_eq!(
        reply.text,
        "To use /enable in Team you need the admin right to change group info."
    );
    assert_eq!(
        answer(&app, owner, chat, "/locks").await,
        "Locked in Team: sticker."
    );
    let photo = app
        .tg
        .send_message(IncomingMessage::new(bea, chat, "").photo());
    let poker = app.tg.send_text(bea, chat, "poker");
    caught_up(&app, owner, chat).await;
    assert!(!app.tg.is_deleted(chat, photo));
    assert!(!app.tg.is_deleted(chat, poker));
    // /id stays off for members.
    let id = app.tg.send_text(bea, chat, "/id");
    caught_up(&app, owner, chat).await;
    assert!(!app.tg.is_deleted(chat, id));
}

async fn chatter_costs_no_call_with_or_without_guards(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    app.tg.set_privacy_mode(false);
    let (chat, owner) = team(&app);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    // The menus, registered after start-up, are done first.
    let last_menu = app
        .tg
        .wait_for_request(
            "setMyCommands",
            |r| r.params["language_code"] == "es" && r.params["scope"]["type"] == "all_group_chats",
            Duration::from_secs(10),
        )
        .await;
    assert!(last_menu.is_some(), "the menus were not registered");
    caught_up(&app, owner, chat).await;
    app.tg.send_text(bea, chat, "hello");
    caught_up(&app, owner, chat).await;

    // No guards.
    let start = app.tg.request_count();
    app.tg.send_text(bea, chat, "how is everyone");
    app.tg.send_text(bea, chat, "fine, thanks");
    caught_up(&app, owner, chat).await;
    assert_eq!(
        calls_since(&app, start),
        ["sendMessage"],
        "no guards: only /id's reply"
    );

    // Five locks and a blacklist entry the chatter does not hold.
    let text = answer(&app, owner, chat, "/lock sticker gif photo video forward").await;
    assert_eq!(text, "Locked in Team: sticker, gif, photo, video, forward.");
    let text = answer(&app, owner, chat, "/addblacklist casino").await;
    assert_eq!(text, "Blacklisted in Team: casino.");
    let start = app.tg.request_count();
    app.tg.send_text(bea, chat, "how is everyone");
    app.tg.send_text(bea, chat, "casinos are closed today");
    app.tg.send_text(bea, chat, "see you");
    caught_up(&app, owner, chat).await;
    assert_eq!(
        calls_since(&app, start),
        ["sendMessage"],
        "guards that do not fire: only /id's reply"
    );
}

async fn guards_survive_a_restart(backend: Backend) {
    let Some(mut app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = app.user_in(chat, "Bea", MemberStatus::Member);
    caught_up(&app, owner, chat).await;
    let text = answer(&app, owner, chat, "/lock sticker").await;
    assert_eq!(text, "Locked in Team: sticker.");
    let text = answer(&app, owner, chat, "/addblacklist casino").await;
    assert_eq!(text, "Blacklisted in Team: casino.");
    let text = answer(&app, owner, chat, "/blacklistmode warn").await;
    assert_eq!(
        text,
        "In Team, a blacklisted message is now deleted, and then: warn."
    );
    let text = answer(&app, owner, chat, "/disable id").await;
    assert_eq!(text, "Turned off for members in Team: /id.");

    app.restart().await;

    let sticker = app
        .tg
        .send_message(IncomingMessage::new(bea, chat, "").sticker());
    let id = app.tg.send_text(bea, chat, "/id");
    caught_up(&app, owner, chat).await;
    assert!(app.tg.is_deleted(chat, sticker));
    assert!(!app.tg.is_deleted(chat, id), "ignored, not deleted");
    let casino = app.tg.send_text(bea, chat, "casino");
    let warned = app.tg.next_message(chat).await;
    assert!(
        warned.text.starts_with("Bea has 1/3 warnings."),
        "{}",
        warned.text
    );
    assert!(app.tg.is_deleted(chat, casino));
    caught_up(&app, owner, chat).await;
}

const PRIVACY: &str = "My privacy mode hides ordinary group messages from me";

/// A bot in privacy mode (Telegram's default) that is not an admin never
/// sees the messages a lock or a blacklist watches: the setting says so;
/// once the bot is an admin it sees them and the note is gone.
async fn privacy_mode_hiding_messages_is_told_on_the_setting(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let text = answer(&app, owner, chat, "/lock sticker").await;
    assert!(text.starts_with("Locked in Team: sticker."), "{text}");
    assert!(text.contains(PRIVACY), "{text}");
    let text = answer(&app, owner, chat, "/addblacklist casino").await;
    assert!(text.contains(PRIVACY), "{text}");
    // Disabling watches commands, which the bot receives anyway.
    let text = answer(&app, owner, chat, "/disabledel on").await;
    assert!(!text.contains(PRIVACY), "{text}");

    app.tg.set_bot_admin(chat, AdminRights::usual());
    caught_up(&app, owner, chat).await;
    let text = answer(&app, owner, chat, "/lock sticker").await;
    assert!(text.starts_with("Locked in Team: sticker."), "{text}");
    assert!(!text.contains(PRIVACY), "{text}");
    assert!(!text.contains("I need the admin right"), "{text}");
}
