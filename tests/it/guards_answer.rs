//! Filters and antiflood, on one castellan and across replicas.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use fake_bot_api::{
    AdminRights, BOT_TOKEN, ChatPermissions, FakeTelegram, IncomingMessage, MemberStatus,
    SentMessage,
};
use serde_json::{Value, json};

use crate::app::{TestApp, button_data, free_local_addr, spawn_unlimited, test_fake};
use crate::db::{Backend, TestDb};

crate::backend_tests!(
    a_filter_answers_with_its_formatted_reply,
    filters_match_whole_words_and_phrases_in_any_case,
    a_filter_set_in_reply_answers_with_the_replied_message,
    filters_are_listed_and_stopped,
    a_filter_without_keyword_or_reply_is_refused,
    stopall_is_for_the_creator_alone,
    a_group_keeps_at_most_500_filters,
    filters_need_the_right_to_change_info,
    filters_answer_admins_but_not_a_command,
    a_flood_in_a_row_mutes_by_default,
    another_member_in_between_breaks_the_row,
    a_flood_within_the_timer_is_sanctioned,
    messages_older_than_the_timer_do_not_count,
    each_flood_mode_is_applied,
    antiflood_turned_off_sanctions_nobody,
    flood_shows_the_settings,
    admins_and_anonymous_admins_never_flood,
    bad_flood_settings_are_refused,
    flood_settings_need_the_right_to_change_info,
    guards_set_through_a_connection,
    chatter_past_many_guards_costs_nothing,
    a_bot_that_cannot_restrict_counts_nothing,
);

// ------------------------------------------------------------------ helpers

/// "Team", its owner, and the bot an administrator with the usual rights
/// (it sees every message, and may restrict, ban and delete).
fn team(app: &TestApp) -> (i64, i64) {
    let (chat, owner) = app.group_with_owner("Team");
    app.tg.set_bot_admin(chat, AdminRights::usual());
    (chat, owner)
}

fn member(app: &TestApp, chat: i64, name: &str) -> i64 {
    app.user_in(chat, name, MemberStatus::Member)
}

/// An administrator of `chat` with `rights`, promoted once the bot was
/// (Telegram tells it), and seen writing in the group.
async fn admin(app: &TestApp, chat: i64, name: &str, rights: AdminRights) -> i64 {
    let user = app.tg.add_user(name);
    app.tg.change_admin(chat, user, rights);
    app.id_in_group(user, chat).await;
    user
}

/// `user` writes `text` in `chat`; the bot's next message there must be a
/// reply to it. Returns that reply.
async fn answered(app: &TestApp, user: i64, chat: i64, text: &str) -> SentMessage {
    answered_msg(app, chat, IncomingMessage::new(user, chat, text), text).await
}

async fn answered_msg(
    app: &TestApp,
    chat: i64,
    message: IncomingMessage,
    what: &str,
) -> SentMessage {
    let id = app.tg.send_message(message);
    let reply = app.tg.next_message(chat).await;
    assert_eq!(
        reply.reply_to_message_id,
        Some(id),
        "the bot's next message is not a reply to {what:?}: {:?}",
        reply.text
    );
    reply
}

/// `user` writes each of `texts` in `chat`, and none is answered: the
/// bot's next message in the group answers `asker`'s `/id` after them.
async fn unanswered(app: &TestApp, user: i64, asker: i64, chat: i64, texts: &[&str]) {
    for text in texts {
        app.tg.send_text(user, chat, text);
    }
    app.id_in_group(asker, chat).await;
}

/// Sends a command and returns the bot's answer in the same chat.
async fn say(app: &TestApp, user: i64, chat: i64, text: &str) -> SentMessage {
    app.say(user, chat, text).await
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The text of the alert a button press was answered with.
fn alert(answer: &Value) -> String {
    assert_eq!(answer["show_alert"], true, "{answer}");
    answer["text"].as_str().unwrap_or_default().to_owned()
}

fn entity_spans(message: &SentMessage) -> Vec<(String, u64, u64)> {
    message
        .entities
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap_or_default().to_owned(),
                e["offset"].as_u64().unwrap_or_default(),
                e["length"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

async fn stored_filters(app: &TestApp, chat: i64) -> i64 {
    app.db
        .query_i64("SELECT COUNT(*) FROM filters WHERE chat_id = $1", &[chat])
        .await
}

/// The sanctioning requests (restrict or ban) about `user` so far.
fn sanctions_of(tg: &FakeTelegram, user: i64) -> usize {
    ["restrictChatMember", "banChatMember"]
        .iter()
        .flat_map(|method| tg.requests_for(method))
        .filter(|r| r.params["user_id"].to_string().trim_matches('"') == user.to_string())
        .count()
}

/// `/filters`' answer lists exactly `keywords`, in this order, under a
/// heading giving their number.
fn assert_listed(listed: &SentMessage, keywords: &[&str]) {
    let mut lines = listed.text.lines();
    let heading = lines.next().unwrap_or_default();
    let count = match keywords.len() {
        1 => "One filter".to_owned(),
        n => format!("{n} filters"),
    };
    assert_eq!(heading, format!("{count} in Team:"), "{}", listed.text);
    let items: Vec<&str> = lines.map(|line| line.trim_start_matches("• ")).collect();
    assert_eq!(items, keywords, "{}", listed.text);
}

fn settings(consecutive: &str, timer: &str, action: &str) -> String {
    format!(
        "Antiflood in Team:\n• in a row: {consecutive}\n• in a time: {timer}\n• sanction: {action}"
    )
}

// ------------------------------------------------------------------ filters

async fn a_filter_answers_with_its_formatted_reply(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    // "/filter hello Welcome friend!", "friend" in bold (as the app sends
    // what its user formatted).
    let text = "/filter hello Welcome friend!";
    app.tg
        .send_message(IncomingMessage::new(owner, chat, text).entities(vec![
            json!({"type": "bot_command", "offset": 0, "length": 7}),
            json!({"type": "bold", "offset": 22, "length": 6}),
        ]));
    let saved = app.tg.next_message(chat).await;
    assert_eq!(saved.text, "Filters saved in Team: hello.");

    let reply = answered(&app, bea, chat, "hello").await;
    assert_eq!(reply.text, "Welcome friend!");
    assert_eq!(entity_spans(&reply), vec![("bold".to_owned(), 8, 6)]);
    // Anywhere in a message, as a whole word.
    let reply = answered(&app, bea, chat, "well hello there").await;
    assert_eq!(reply.text, "Welcome friend!");
    assert_eq!(entity_spans(&reply), vec![("bold".to_owned(), 8, 6)]);
}

async fn filters_match_whole_words_and_phrases_in_any_case(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let saved = say(&app, owner, chat, "/filter (\"good morning\", hi) Hi there").await;
    assert!(
        saved.text.starts_with("Filters saved in Team:"),
        "{}",
        saved.text
    );
    assert!(saved.text.contains("good morning"), "{}", saved.text);
    assert!(saved.text.contains("hi"), "{}", saved.text);
    let saved = say(&app, owner, chat, "/filter \"good night\" Sleep well").await;
    assert_eq!(saved.text, "Filters saved in Team: good night.");
    let saved = say(&app, owner, chat, "/filter ÉTÉ summer").await;
    assert_eq!(saved.text, "Filters saved in Team: été.");

    // Whole words only.
    unanswered(
        &app,
        bea,
        owner,
        chat,
        &["this", "hint", "chi", "good", "morning", "good mornings"],
    )
    .await;
    for text in [
        "hi all",
        "HI",
        "oh, hi!",
        "well, GOOD MORNING!",
        "Good Morning",
    ] {
        let reply = answered(&app, bea, chat, text).await;
        assert_eq!(reply.text, "Hi there", "{text}");
    }
    let reply = answered(&app, bea, chat, "good night!").await;
    assert_eq!(reply.text, "Sleep well");
    // Letter case over Unicode.
    for text in ["un été chaud", "L'ÉTÉ", "Été"] {
        let reply = answered(&app, bea, chat, text).await;
        assert_eq!(reply.text, "summer", "{text}");
    }
    unanswered(&app, bea, owner, chat, &["étés", "cet"]).await;
    // In a caption.
    let photo = IncomingMessage::new(bea, chat, "hi").photo();
    let reply = answered_msg(&app, chat, photo, "a photo captioned hi").await;
    assert_eq!(reply.text, "Hi there");
    // One answer for a message holding several keywords.
    let reply = answered(&app, bea, chat, "hi, good night").await;
    assert!(
        ["Hi there", "Sleep well"].contains(&reply.text.as_str()),
        "{}",
        reply.text
    );
    app.id_in_group(owner, chat).await;
}

async fn a_filter_set_in_reply_answers_with_the_replied_message(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let text = "See you soon, friend";
    let replied = app
        .tg
        .send_message(IncomingMessage::new(bea, chat, text).entities(vec![
            json!({"type": "bold", "offset": 0, "length": 7}),
            json!({"type": "italic", "offset": 14, "length": 6}),
        ]));
    app.tg.send_message(
        IncomingMessage::new(owner, chat, "/filter hey \"see you\"").reply_to(replied),
    );
    let saved = app.tg.next_message(chat).await;
    assert!(
        saved.text.starts_with("Filters saved in Team:"),
        "{}",
        saved.text
    );
    assert!(saved.text.contains("hey"), "{}", saved.text);
    assert!(saved.text.contains("see you"), "{}", saved.text);

    for said in ["hey", "well, see you!"] {
        let reply = answered(&app, bea, chat, said).await;
        assert_eq!(reply.text, text, "{said}");
        assert_eq!(
            entity_spans(&reply),
            vec![("bold".to_owned(), 0, 7), ("italic".to_owned(), 14, 6)],
            "{said}"
        );
    }
    let listed = say(&app, bea, chat, "/filters").await;
    assert!(listed.text.contains("• hey"), "{}", listed.text);
    assert!(listed.text.contains("• see you"), "{}", listed.text);
}

async fn filters_are_listed_and_stopped(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let none = say(&app, bea, chat, "/filters").await;
    assert_eq!(none.text, "Team has no filters.");
    say(&app, owner, chat, "/filter (\"good morning\", hi) Hi there").await;
    say(&app, owner, chat, "/filter bye See you").await;

    let listed = say(&app, bea, chat, "/filters").await;
    assert_listed(&listed, &["bye", "good morning", "hi"]);

    let stopped = say(&app, owner, chat, "/stop hi").await;
    assert_eq!(stopped.text, "Filters removed from Team: hi.");
    unanswered(&app, bea, owner, chat, &["hi", "hi all"]).await;
    // The others still answer.
    assert_eq!(
        answered(&app, bea, chat, "good morning").await.text,
        "Hi there"
    );
    let listed = say(&app, bea, chat, "/filters").await;
    assert_listed(&listed, &["bye", "good morning"]);

    let unknown = say(&app, owner, chat, "/stop nothing").await;
    assert_eq!(unknown.text, "Team has no filter for nothing.");
    let usage = say(&app, owner, chat, "/stop").await;
    assert_eq!(usage.text, "Which filter? /stop hello");
    let stopped = say(&app, owner, chat, "/stop \"GOOD MORNING\"").await;
    assert_eq!(stopped.text, "Filters removed from Team: good morning.");
    unanswered(&app, bea, owner, chat, &["good morning"]).await;
    assert_eq!(stored_filters(&app, chat).await, 1);
}

async fn a_filter_without_keyword_or_reply_is_refused(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    for command in [
        "/filter",
        "/filter hi",
        "/filter (hi, hello)",
        "/filter (unclosed hi",
    ] {
        let reply = say(&app, owner, chat, command).await;
        assert!(
            reply.text.starts_with("Give a keyword and its answer"),
            "{command}: {}",
            reply.text
        );
    }
    let long = "a".repeat(101);
    let reply = say(&app, owner, chat, &format!("/filter {long} reply")).await;
    assert!(
        reply
            .text
            .contains("is too long for a keyword: at most 100 characters."),
        "{}",
        reply.text
    );
    assert_eq!(stored_filters(&app, chat).await, 0);
    let fits = "a".repeat(100);
    let saved = say(&app, owner, chat, &format!("/filter {fits} Long")).await;
    assert!(saved.text.starts_with("Filters saved"), "{}", saved.text);
    assert_eq!(answered(&app, bea, chat, &fits).await.text, "Long");
    unanswered(&app, bea, owner, chat, &["hi", "hello", &long]).await;
}

async fn stopall_is_for_the_creator_alone(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let adam = admin(&app, chat, "Adam", AdminRights::usual()).await;
    say(&app, owner, chat, "/filter (hi, hello, hey) Hi there").await;

    let refused = say(&app, adam, chat, "/stopall").await;
    assert_eq!(
        refused.text,
        "Only the creator of Team can remove every filter."
    );
    assert!(button_data(&refused).is_empty());
    let refused = say(&app, bea, chat, "/stopall").await;
    assert_eq!(refused.text, "Only admins can use /stopall.");

    let ask = say(&app, owner, chat, "/stopall").await;
    assert_eq!(
        ask.text,
        "Remove every filter of Team? This cannot be undone."
    );
    let data = button_data(&ask);
    assert_eq!(data.len(), 1, "{data:?}");
    let data = data[0].clone();
    assert!(data.starts_with("filtersclear."), "{data}");

    for presser in [bea, adam] {
        let id = app.tg.press_button(presser, chat, ask.message_id, &data);
        let answer = app.tg.next_callback_answer(&id).await;
        assert_eq!(
            alert(&answer),
            "Only the group's creator can remove every filter."
        );
    }
    assert_eq!(stored_filters(&app, chat).await, 3);
    assert_eq!(answered(&app, bea, chat, "hey").await.text, "Hi there");

    let id = app.tg.press_button(owner, chat, ask.message_id, &data);
    let answer = app.tg.next_callback_answer(&id).await;
    assert_ne!(answer["show_alert"], true, "{answer}");
    let done = app.tg.next_message(chat).await;
    assert!(done.edited);
    assert_eq!(done.message_id, ask.message_id);
    assert_eq!(done.text, "3 filters removed.");
    assert_eq!(stored_filters(&app, chat).await, 0);
    let none = say(&app, bea, chat, "/filters").await;
    assert_eq!(none.text, "Team has no filters.");
    unanswered(&app, bea, owner, chat, &["hi", "hello", "hey"]).await;
}

async fn a_group_keeps_at_most_500_filters(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    for batch in 0..5 {
        let keywords: Vec<String> = (1..=100).map(|i| format!("k{}", batch * 100 + i)).collect();
        let command = format!("/filter ({}) Found", keywords.join(", "));
        assert!(command.len() < 4096);
        let saved = say(&app, owner, chat, &command).await;
        assert!(
            saved.text.starts_with("Filters saved in Team:"),
            "batch {batch}: {}",
            saved.text
        );
    }
    assert_eq!(stored_filters(&app, chat).await, 500);

    let refused = say(&app, owner, chat, "/filter extra Too many").await;
    assert_eq!(refused.text, "Team can have at most 500 filters.");
    let refused = say(&app, owner, chat, "/filter (k1, extra2) Too many").await;
    assert_eq!(refused.text, "Team can have at most 500 filters.");
    assert_eq!(stored_filters(&app, chat).await, 500);
    unanswered(&app, bea, owner, chat, &["extra", "extra2"]).await;
    assert_eq!(answered(&app, bea, chat, "k1").await.text, "Found");
    assert_eq!(answered(&app, bea, chat, "k500").await.text, "Found");
    assert_eq!(
        answered(&app, bea, chat, "so k250 it is").await.text,
        "Found"
    );
}

async fn filters_need_the_right_to_change_info(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let ida = admin(&app, chat, "Ida", AdminRights::usual().change_info(false)).await;
    let refused = say(&app, bea, chat, "/filter hi Hello").await;
    assert_eq!(refused.text, "Only admins can use /filter.");
    let refused = say(&app, ida, chat, "/filter hi Hello").await;
    assert_eq!(
        refused.text,
        "To use /filter in Team you need the admin right to change group info."
    );
    assert_eq!(stored_filters(&app, chat).await, 0);
    unanswered(&app, bea, owner, chat, &["hi"]).await;

    say(&app, owner, chat, "/filter hi Hello").await;
    for (who, command) in [(bea, "/stop hi"), (ida, "/stop hi")] {
        let refused = say(&app, who, chat, command).await;
        assert!(
            refused.text == "Only admins can use /stop."
                || refused.text
                    == "To use /stop in Team you need the admin right to change group info.",
            "{}",
            refused.text
        );
    }
    assert_eq!(stored_filters(&app, chat).await, 1);
    // Members may read them.
    let listed = say(&app, bea, chat, "/filters").await;
    assert_listed(&listed, &["hi"]);
    // An admin with the right alone may set them.
    let cai = admin(&app, chat, "Cai", AdminRights::none().change_info(true)).await;
    let saved = say(&app, cai, chat, "/filter yo Yo!").await;
    assert_eq!(saved.text, "Filters saved in Team: yo.");
    assert_eq!(answered(&app, bea, chat, "yo").await.text, "Yo!");
}

async fn filters_answer_admins_but_not_a_command(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let adam = admin(&app, chat, "Adam", AdminRights::usual()).await;
    let saved = say(&app, owner, chat, "/filter hi Hello").await;
    assert_eq!(saved.text, "Filters saved in Team: hi.");
    // The admins' talk is answered too.
    assert_eq!(answered(&app, owner, chat, "hi all").await.text, "Hello");
    assert_eq!(answered(&app, adam, chat, "hi").await.text, "Hello");
    let anonymous = IncomingMessage::new(owner, chat, "hi").anonymous_admin();
    let reply = answered_msg(&app, chat, anonymous, "an anonymous admin's hi").await;
    assert_eq!(reply.text, "Hello");

    // A command holding the keyword is no talk: "/filter hi …" (the
    // filter exists now) answers as a command only.
    let saved = say(&app, owner, chat, "/filter hi Hello again").await;
    assert_eq!(saved.text, "Filters saved in Team: hi.");
    let listed = say(&app, owner, chat, "/filters hi").await;
    assert_listed(&listed, &["hi"]);
    app.id_in_group(owner, chat).await;
    assert_eq!(answered(&app, adam, chat, "hi").await.text, "Hello again");
}

// ---------------------------------------------------------------- antiflood

/// The owner sets `command`; its answer is the settings.
async fn set(app: &TestApp, owner: i64, chat: i64, command: &str) -> String {
    let reply = say(app, owner, chat, command).await;
    assert!(
        reply.text.starts_with("Antiflood in Team:"),
        "{command}: {}",
        reply.text
    );
    reply.text
}

/// `user` sends `count` plain messages in a row.
fn chatter(app: &TestApp, user: i64, chat: i64, count: usize) {
    for i in 0..count {
        app.tg.send_text(user, chat, &format!("message {i}"));
    }
}

async fn a_flood_in_a_row_mutes_by_default(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let text = set(&app, owner, chat, "/setflood 3").await;
    assert_eq!(text, settings("3 messages in a row", "off", "mute"));

    chatter(&app, bea, chat, 2);
    app.id_in_group(owner, chat).await;
    assert_eq!(app.tg.restriction(chat, bea), None, "2 are no flood");
    chatter(&app, bea, chat, 1);
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Bea was muted by"),
        "{}",
        announced.text
    );
    assert!(
        announced.text.ends_with("Reason: flooding"),
        "{}",
        announced.text
    );
    assert_eq!(
        app.tg.restriction(chat, bea),
        Some((ChatPermissions::none(), 0))
    );
    assert_eq!(sanctions_of(&app.tg, bea), 1);
    app.id_in_group(owner, chat).await;
}

async fn another_member_in_between_breaks_the_row(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ann = member(&app, chat, "Ann");
    let bea = member(&app, chat, "Bea");
    set(&app, owner, chat, "/setflood 3").await;
    chatter(&app, ann, chat, 2);
    chatter(&app, bea, chat, 1);
    chatter(&app, ann, chat, 2);
    app.id_in_group(owner, chat).await;
    assert_eq!(app.tg.restriction(chat, ann), None);
    assert_eq!(app.tg.restriction(chat, bea), None);
    assert_eq!(sanctions_of(&app.tg, ann), 0);
    // Her third in a row now is one.
    chatter(&app, ann, chat, 1);
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Ann was muted by"),
        "{}",
        announced.text
    );
    assert_eq!(sanctions_of(&app.tg, bea), 0);
}

async fn a_flood_within_the_timer_is_sanctioned(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let ann = member(&app, chat, "Ann");
    let bea = member(&app, chat, "Bea");
    let text = set(&app, owner, chat, "/setfloodtimer 4 30s").await;
    assert_eq!(text, settings("off", "4 messages within 30s", "mute"));
    // Others' messages in between do not matter.
    for _ in 0..3 {
        chatter(&app, ann, chat, 1);
        chatter(&app, bea, chat, 1);
    }
    app.id_in_group(owner, chat).await;
    assert_eq!(sanctions_of(&app.tg, ann), 0);
    assert_eq!(sanctions_of(&app.tg, bea), 0);
    chatter(&app, ann, chat, 1);
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Ann was muted by"),
        "{}",
        announced.text
    );
    assert_eq!(
        app.tg.restriction(chat, ann),
        Some((ChatPermissions::none(), 0))
    );
    assert_eq!(sanctions_of(&app.tg, bea), 0);
    app.id_in_group(owner, chat).await;
}

async fn messages_older_than_the_timer_do_not_count(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let text = set(&app, owner, chat, "/setfloodtimer 3 2s").await;
    assert_eq!(text, settings("off", "3 messages within 2s", "mute"));
    chatter(&app, bea, chat, 2);
    app.id_in_group(owner, chat).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Two more: two within the time, not three.
    chatter(&app, bea, chat, 2);
    app.id_in_group(owner, chat).await;
    assert_eq!(sanctions_of(&app.tg, bea), 0);
    // A third within the time is one too many.
    chatter(&app, bea, chat, 1);
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Bea was muted by"),
        "{}",
        announced.text
    );
}

async fn each_flood_mode_is_applied(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    set(&app, owner, chat, "/setflood 3").await;
    let flood = |name: &'static str| {
        let user = member(&app, chat, name);
        chatter(&app, user, chat, 3);
        user
    };

    let text = set(&app, owner, chat, "/setfloodmode ban").await;
    assert_eq!(text, settings("3 messages in a row", "off", "ban"));
    let bea = flood("Bea");
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Bea was banned by"),
        "{}",
        announced.text
    );
    assert_eq!(app.tg.member_status(chat, bea), MemberStatus::Kicked);
    assert_eq!(app.tg.ban_until(chat, bea), Some(0));

    let text = set(&app, owner, chat, "/setfloodmode kick").await;
    assert_eq!(text, settings("3 messages in a row", "off", "kick"));
    let cid = flood("Cid");
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Cid was removed by"),
        "{}",
        announced.text
    );
    assert_eq!(app.tg.member_status(chat, cid), MemberStatus::Left);
    assert_eq!(app.tg.ban_until(chat, cid), None);

    let text = set(&app, owner, chat, "/setfloodmode tmute 2h").await;
    assert_eq!(text, settings("3 messages in a row", "off", "mute for 2h"));
    let dee = flood("Dee");
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Dee was muted by"),
        "{}",
        announced.text
    );
    assert!(announced.text.contains("for 2h"), "{}", announced.text);
    let Some((permissions, until)) = app.tg.restriction(chat, dee) else {
        panic!("Dee is not restricted");
    };
    assert_eq!(permissions, ChatPermissions::none());
    assert!((until - (now() + 2 * 3600)).abs() <= 60, "{until}");

    let text = set(&app, owner, chat, "/setfloodmode tban 2d").await;
    assert_eq!(text, settings("3 messages in a row", "off", "ban for 2d"));
    let eve = flood("Eve");
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Eve was banned by"),
        "{}",
        announced.text
    );
    assert!(announced.text.contains("for 2d"), "{}", announced.text);
    assert_eq!(app.tg.member_status(chat, eve), MemberStatus::Kicked);
    let until = app.tg.ban_until(chat, eve).unwrap_or_default();
    assert!((until - (now() + 2 * 86_400)).abs() <= 60, "{until}");

    let text = set(&app, owner, chat, "/setfloodmode mute").await;
    assert_eq!(text, settings("3 messages in a row", "off", "mute"));
    app.id_in_group(owner, chat).await;
}

async fn antiflood_turned_off_sanctions_nobody(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    set(&app, owner, chat, "/setflood 3").await;
    set(&app, owner, chat, "/setfloodtimer 4 1m").await;
    let text = set(&app, owner, chat, "/setflood off").await;
    assert_eq!(text, settings("off", "4 messages within 1m", "mute"));
    let text = set(&app, owner, chat, "/setfloodtimer off").await;
    assert_eq!(text, settings("off", "off", "mute"));
    chatter(&app, bea, chat, 10);
    app.id_in_group(owner, chat).await;
    assert_eq!(sanctions_of(&app.tg, bea), 0);
    assert_eq!(app.tg.restriction(chat, bea), None);
}

async fn flood_shows_the_settings(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let shown = say(&app, bea, chat, "/flood").await;
    assert_eq!(shown.text, settings("off", "off", "mute"));
    set(&app, owner, chat, "/setflood 7").await;
    set(&app, owner, chat, "/setfloodtimer 10 30s").await;
    set(&app, owner, chat, "/setfloodmode tban 3d").await;
    let shown = say(&app, bea, chat, "/flood").await;
    assert_eq!(
        shown.text,
        settings(
            "7 messages in a row",
            "10 messages within 30s",
            "ban for 3d"
        )
    );
}

async fn admins_and_anonymous_admins_never_flood(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let adam = admin(&app, chat, "Adam", AdminRights::usual()).await;
    set(&app, owner, chat, "/setflood 3").await;
    set(&app, owner, chat, "/setfloodtimer 4 1m").await;
    chatter(&app, adam, chat, 10);
    chatter(&app, owner, chat, 10);
    for i in 0..10 {
        app.tg.send_message(
            IncomingMessage::new(owner, chat, &format!("anon {i}")).anonymous_admin(),
        );
    }
    app.id_in_group(owner, chat).await;
    assert_eq!(app.tg.requests_for("restrictChatMember").len(), 0);
    assert_eq!(app.tg.requests_for("banChatMember").len(), 0);
    assert_eq!(
        app.tg.member_status(chat, adam),
        MemberStatus::Administrator
    );
}

async fn bad_flood_settings_are_refused(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    set(&app, owner, chat, "/setflood 5").await;
    for bad in ["1", "1000", "abc", "201", "-3"] {
        let reply = say(&app, owner, chat, &format!("/setflood {bad}")).await;
        assert_eq!(
            reply.text,
            format!("“{bad}” is not a flood limit: give a number from 2 to 200, or off."),
        );
    }
    let usage = "Give a count from 2 to 100 and a duration from 1s to 24h, for example /setfloodtimer 10 30s, or off.";
    for bad in ["4", "200 10s", "1 10s", "4 soon", "4 0s", "4 2d", ""] {
        let reply = say(&app, owner, chat, &format!("/setfloodtimer {bad}")).await;
        assert_eq!(reply.text, usage, "/setfloodtimer {bad}");
    }
    let reply = say(&app, owner, chat, "/setfloodmode explode").await;
    assert_eq!(
        reply.text,
        "“explode” is not one of: mute, kick, ban, tmute, tban."
    );
    let reply = say(&app, owner, chat, "/setfloodmode tban").await;
    assert!(!reply.text.starts_with("Antiflood"), "{}", reply.text);
    // Nothing changed.
    let shown = say(&app, owner, chat, "/flood").await;
    assert_eq!(shown.text, settings("5 messages in a row", "off", "mute"));
}

async fn flood_settings_need_the_right_to_change_info(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let ida = admin(&app, chat, "Ida", AdminRights::usual().change_info(false)).await;
    for command in ["setflood 3", "setfloodtimer 4 30s", "setfloodmode ban"] {
        let name = command.split(' ').next().unwrap_or_default();
        let reply = say(&app, bea, chat, &format!("/{command}")).await;
        assert_eq!(reply.text, format!("Only admins can use /{name}."));
        let reply = say(&app, ida, chat, &format!("/{command}")).await;
        assert_eq!(
            reply.text,
            format!("To use /{name} in Team you need the admin right to change group info.")
        );
    }
    let shown = say(&app, bea, chat, "/flood").await;
    assert_eq!(shown.text, settings("off", "off", "mute"));
    let shown = say(&app, owner, chat, "/flood").await;
    assert_eq!(shown.text, settings("off", "off", "mute"));
}

// ------------------------------------------------------------- connections

async fn guards_set_through_a_connection(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    let adam = admin(&app, chat, "Adam", AdminRights::usual()).await;
    let reply = app.pm(adam, &format!("/connect {chat}")).await;
    assert!(
        reply.text.starts_with("You are now connected to Team"),
        "{}",
        reply.text
    );

    let saved = app.pm(adam, "/filter hello Hi").await;
    assert_eq!(saved.text, "Filters saved in Team: hello.");
    assert_eq!(answered(&app, bea, chat, "hello").await.text, "Hi");
    let flood = app.pm(adam, "/setflood 5").await;
    assert_eq!(flood.text, settings("5 messages in a row", "off", "mute"));
    let shown = say(&app, owner, chat, "/flood").await;
    assert_eq!(shown.text, settings("5 messages in a row", "off", "mute"));
    let listed = app.pm(adam, "/filters").await;
    assert_listed(&listed, &["hello"]);

    // Adam loses the right to change the group's info; Telegram tells the
    // bot, and the group's next command comes after it.
    app.tg
        .change_admin(chat, adam, AdminRights::usual().change_info(false));
    app.id_in_group(owner, chat).await;
    let refusal = |name: &str| {
        format!("To use /{name} in Team you need the admin right to change group info.")
    };
    assert_eq!(
        app.pm(adam, "/filter bye Bye").await.text,
        refusal("filter")
    );
    assert_eq!(app.pm(adam, "/stop hello").await.text, refusal("stop"));
    assert_eq!(app.pm(adam, "/setflood 9").await.text, refusal("setflood"));
    assert_eq!(
        app.pm(adam, "/setfloodtimer 4 30s").await.text,
        refusal("setfloodtimer")
    );
    assert_eq!(
        app.pm(adam, "/setfloodmode ban").await.text,
        refusal("setfloodmode")
    );
    assert_eq!(stored_filters(&app, chat).await, 1);
    let shown = say(&app, owner, chat, "/flood").await;
    assert_eq!(shown.text, settings("5 messages in a row", "off", "mute"));
    unanswered(&app, bea, owner, chat, &["bye"]).await;
    assert_eq!(answered(&app, bea, chat, "hello").await.text, "Hi");
}

// --------------------------------------------------------------------- cost

const BINARY: &str = env!("CARGO_BIN_EXE_castellan");

/// Variables of the test's own environment a castellan run here must not
/// inherit.
const CLEARED: &[&str] = &[
    "BOT_TOKEN",
    "DATABASE_URL",
    "DATABASE_POOL_SIZE",
    "TELEGRAM_API_URL",
    "RUST_LOG",
    "HTTP_ADDR",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "TAKE_OVER_WEBHOOK",
    "METRICS_TOKEN",
    "SEND_LIMITS",
    "USER_PACE",
];

/// A castellan process of the test's own, killed when dropped.
struct Process(std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// castellan as its own process (its database counter is its own: the
/// tests in this process share theirs), polling `tg`, its metrics at the
/// address returned.
async fn castellan_process(
    tg: &FakeTelegram,
    db: &TestDb,
    dir: &tempfile::TempDir,
) -> (Process, SocketAddr) {
    let addr = free_local_addr();
    let mut command = std::process::Command::new(BINARY);
    command.current_dir(dir.path());
    for name in CLEARED {
        command.env_remove(name);
    }
    let child = command
        .env("BOT_TOKEN", BOT_TOKEN)
        .env("DATABASE_URL", &db.url)
        .env("TELEGRAM_API_URL", tg.api_url())
        .env("SEND_LIMITS", "off")
        .env("USER_PACE", "off")
        .env("HTTP_ADDR", addr.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {BINARY}: {e}"));
    let process = Process(child);
    let started = tg
        .wait_for_request("deleteWebhook", |_| true, Duration::from_secs(20))
        .await;
    assert!(started.is_some(), "castellan did not start within 20 s");
    (process, addr)
}

async fn queries(addr: SocketAddr) -> f64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(response) = reqwest::get(format!("http://{addr}/metrics")).await
            && let Ok(text) = response.text().await
            && let Some(value) = text.lines().find_map(|line| {
                line.strip_prefix("castellan_database_queries_total")?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no castellan_database_queries_total at {addr}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The Bot API methods called since request number `start`, without the
/// polling itself.
fn calls_since(tg: &FakeTelegram, start: usize) -> Vec<String> {
    tg.requests_since(start)
        .into_iter()
        .map(|request| request.method)
        .filter(|method| method != "getUpdates")
        .collect()
}

async fn chatter_past_many_guards_costs_nothing(backend: Backend) {
    let Some(db) = TestDb::new(backend).await else {
        return;
    };
    let tg = test_fake().await;
    tg.enforce_flood_limits(false);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let (_castellan, addr) = castellan_process(&tg, &db, &dir).await;
    let owner = tg.add_user("Owner");
    let chat = tg.add_supergroup("Team", None);
    tg.set_member(chat, owner, MemberStatus::Creator);
    tg.set_bot_admin(chat, AdminRights::usual());
    let bea = tg.add_user("Bea");
    tg.set_member(chat, bea, MemberStatus::Member);
    let say = |text: &str| {
        tg.send_text(owner, chat, text);
        tg.next_message(chat)
    };

    let keywords: Vec<String> = (0..200).map(|i| format!("keyword{i}")).collect();
    let saved = say(&format!("/filter ({}) Found", keywords.join(", "))).await;
    assert!(saved.text.starts_with("Filters saved"), "{}", saved.text);
    let entries: Vec<String> = (0..200).map(|i| format!("badword{i}")).collect();
    let added = say(&format!("/addblacklist\n{}", entries.join("\n"))).await;
    assert!(
        added.text.starts_with("Blacklisted in Team"),
        "{}",
        added.text
    );
    let locked = say("/lock sticker gif voice poll game").await;
    assert!(locked.text.starts_with("Locked in Team"), "{}", locked.text);
    let listed = say("/filters").await;
    assert!(listed.text.starts_with("200 filters"), "{}", listed.text);
    // The guards hold: a keyword is answered, an entry removed.
    tg.send_text(bea, chat, "keyword7");
    assert_eq!(tg.next_message(chat).await.text, "Found");
    let bad = tg.send_text(bea, chat, "badword9");
    // Bea's first messages: she is learned, the chat's guards compiled.
    tg.send_text(bea, chat, "hello everyone");
    let id = say("/id").await;
    assert!(id.text.contains("This chat's id"), "{}", id.text);
    assert!(tg.is_deleted(chat, bad), "the blacklisted message stays");
    assert!(tg.wait_updates_confirmed(Duration::from_secs(10)).await);

    let before = queries(addr).await;
    let start = tg.request_count();
    for i in 0..30 {
        tg.send_text(
            bea,
            chat,
            &format!("nothing to see here, just chatting away {i} keyword badwords"),
        );
    }
    assert!(tg.wait_updates_confirmed(Duration::from_secs(10)).await);
    // A moment for anything the chatter set off.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let after = queries(addr).await;
    assert_eq!(
        calls_since(&tg, start),
        Vec::<String>::new(),
        "chatter called the Bot API"
    );
    assert_eq!(
        after - before,
        0.0,
        "30 messages of chatter cost {} database operations",
        after - before
    );
    let id = say("/id").await;
    assert!(id.text.contains("This chat's id"), "{}", id.text);
    let violations = tg.spec_violations();
    assert!(violations.is_empty(), "{violations:#?}");
}

// ----------------------------------------------------------------- replicas

const SECRET: &str = "guards-s3cret";
const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

/// A load balancer in front of replicas: posts go to the one the test
/// picks.
struct Balancer {
    targets: Vec<String>,
    pick: AtomicUsize,
    http: reqwest::Client,
}

impl Balancer {
    async fn start(targets: Vec<String>) -> (SocketAddr, Arc<Balancer>) {
        let balancer = Arc::new(Balancer {
            targets,
            pick: AtomicUsize::new(0),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_else(|e| panic!("reqwest: {e}")),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("addr: {e}"));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(forward))
            .with_state(Arc::clone(&balancer));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (addr, balancer)
    }

    fn send_to(&self, target: usize) {
        self.pick.store(target, Ordering::SeqCst);
    }
}

async fn forward(
    State(balancer): State<Arc<Balancer>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let index = balancer.pick.load(Ordering::SeqCst);
    let mut request = balancer
        .http
        .post(&balancer.targets[index])
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = headers.get(SECRET_HEADER) {
        request = request.header(SECRET_HEADER, secret);
    }
    match request.send().await {
        Ok(response) => {
            StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY)
        }
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

/// Two castellans in webhook mode on one PostgreSQL, behind a balancer;
/// `None` without PostgreSQL.
async fn two_replicas() -> Option<(TestApp, crate::app::Replica, Arc<Balancer>)> {
    let (a, b) = (free_local_addr(), free_local_addr());
    let (lb, balancer) =
        Balancer::start(vec![format!("http://{a}/hook"), format!("http://{b}/hook")]).await;
    let webhook_url = format!("http://{lb}/hook");
    let replica = |addr: SocketAddr| {
        vec![
            ("HTTP_ADDR".to_owned(), addr.to_string()),
            ("WEBHOOK_URL".to_owned(), webhook_url.clone()),
            ("WEBHOOK_SECRET".to_owned(), SECRET.to_owned()),
            ("SEND_LIMITS".to_owned(), "off".to_owned()),
        ]
    };
    let settings_a = replica(a);
    let settings_a: Vec<(&str, &str)> = settings_a
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let app = TestApp::spawn_with(Backend::Postgres, &settings_a).await?;
    app.tg.enforce_flood_limits(false);
    let settings_b = replica(b);
    let settings_b: Vec<(&str, &str)> = settings_b
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let second = app.spawn_replica(&settings_b).await;
    Some((app, second, balancer))
}

/// A filter added through one replica answers on the other at once, and
/// one stopped there stops answering there at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filter_set_on_one_replica_answers_on_the_other_at_once() {
    let Some((app, mut second, balancer)) = two_replicas().await else {
        return;
    };
    // B sees the group first: its guards (none) are compiled there.
    balancer.send_to(1);
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    unanswered(&app, bea, owner, chat, &["hello"]).await;

    balancer.send_to(0);
    let saved = say(&app, owner, chat, "/filter hello Welcome!").await;
    assert_eq!(saved.text, "Filters saved in Team: hello.");
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;

    balancer.send_to(1);
    assert_eq!(answered(&app, bea, chat, "hello").await.text, "Welcome!");
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;

    balancer.send_to(0);
    let stopped = say(&app, owner, chat, "/stop hello").await;
    assert_eq!(stopped.text, "Filters removed from Team: hello.");
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    balancer.send_to(1);
    unanswered(&app, bea, owner, chat, &["hello"]).await;
    second.stop().await;
}

/// A member's messages spread over two replicas count as one stream: the
/// flood is sanctioned once, after the limit's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn antiflood_counts_exactly_across_replicas() {
    let Some((app, mut second, balancer)) = two_replicas().await else {
        return;
    };
    balancer.send_to(0);
    let (chat, owner) = team(&app);
    let bea = member(&app, chat, "Bea");
    // Both replicas know the group's admins and guards before the flood.
    for replica in [0, 1] {
        balancer.send_to(replica);
        app.id_in_group(owner, chat).await;
        app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    }
    balancer.send_to(1);
    set(&app, owner, chat, "/setflood 4").await;
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;

    for i in 0..3 {
        balancer.send_to(i % 2);
        app.tg.send_text(bea, chat, &format!("message {i}"));
        app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    }
    assert_eq!(sanctions_of(&app.tg, bea), 0, "3 of 4 are no flood");
    app.tg
        .assert_no_message(chat, Duration::from_millis(300))
        .await;
    balancer.send_to(1);
    app.tg.send_text(bea, chat, "message 3");
    let announced = app.tg.next_message(chat).await;
    assert!(
        announced.text.starts_with("Bea was muted by"),
        "{}",
        announced.text
    );
    app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    assert_eq!(
        app.tg.restriction(chat, bea),
        Some((ChatPermissions::none(), 0))
    );
    for replica in [0, 1] {
        balancer.send_to(replica);
        app.id_in_group(owner, chat).await;
        app.tg.wait_webhook_idle(Duration::from_secs(5)).await;
    }
    assert_eq!(sanctions_of(&app.tg, bea), 1);
    second.stop().await;
}

/// Where the bot may not restrict members, antiflood cannot act: the
/// setting says so, and members' messages cost no call (not even the
/// admin list asked to see who is exempt) and no count.
async fn a_bot_that_cannot_restrict_counts_nothing(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    app.tg.set_privacy_mode(false);
    let (chat, owner) = app.group_with_owner("Team");
    let bea = member(&app, chat, "Bea");
    let text = set(&app, owner, chat, "/setflood 3").await;
    assert!(
        text.contains("I need the admin right to ban users in <b>Team</b>")
            || text.contains("I need the admin right to ban users in Team"),
        "{text}"
    );
    // The first message learns the bot's standing (one call at most).
    chatter(&app, bea, chat, 1);
    app.id_in_group(owner, chat).await;
    let start = app.tg.request_count();
    chatter(&app, bea, chat, 5);
    app.id_in_group(owner, chat).await;
    assert_eq!(calls_since(&app.tg, start), ["sendMessage"]);
    assert_eq!(sanctions_of(&app.tg, bea), 0);
}
