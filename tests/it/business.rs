//! Telegram Business: connection bookkeeping as Telegram asks, and the
//! owner's notes answering customers.

use std::time::Duration;

use fake_bot_api::{BusinessRights, Fault, MemberStatus, RecordedRequest};
use serde_json::Value;

use crate::app::{TestApp, button_data, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(
    owner_hears_of_connect_rights_change_and_disable,
    superseded_connection_id_is_ignored,
    unknown_connection_is_fetched_once_under_a_burst,
    unknown_id_telegram_refuses_is_not_fetched_per_message,
    a_fetch_telegram_could_not_answer_is_tried_again,
    deleted_business_messages_reach_a_handler,
    edited_business_messages_and_business_buttons_are_handled,
    customer_commands_in_business_chats_do_nothing,
    hashtag_answers_customers_with_the_business_note,
    no_answer_without_reply_right_or_when_disabled,
    owner_connects_to_their_business_account,
    others_cannot_connect_to_a_business_account,
    business_connection_is_rechecked_on_every_use,
    manage_bot_button_pauses_one_chat,
    business_help_explains_it_all,
    business_state_survives_a_restart,
);

/// The sends castellan tried through a business connection into the chat
/// with `customer`, refused or not; `connection`: through that id only.
/// Telegram refuses a send through a dead or disabled connection, or
/// without the right to reply, so what was *tried* is what tells.
fn business_sends(app: &TestApp, customer: i64, connection: Option<&str>) -> Vec<RecordedRequest> {
    app.tg
        .requests_for("sendMessage")
        .into_iter()
        .filter(|request| {
            let through = &request.params["business_connection_id"];
            request.params["chat_id"] == customer
                && match connection {
                    Some(id) => *through == id,
                    None => !through.is_null(),
                }
        })
        .collect()
}

/// The messages and edits castellan tried in its own private chat with
/// `user` (not through a business connection), refused or not: Telegram
/// refuses them until the user has written to the bot.
fn pm_attempts(app: &TestApp, user: i64) -> Vec<RecordedRequest> {
    app.tg
        .requests()
        .into_iter()
        .filter(|request| {
            matches!(
                request.method.as_str(),
                "sendMessage" | "editMessageText" | "editMessageReplyMarkup"
            ) && request.params["chat_id"] == user
                && request
                    .params
                    .get("business_connection_id")
                    .is_none_or(Value::is_null)
        })
        .collect()
}

/// `customer` asks the business for `#hours` through `connection`: the
/// very next business message in the chat is `note`, answering that very
/// message. Once it is, everything the chat got before was handled, and
/// any reply castellan tried for it came before.
async fn asks_and_gets(app: &TestApp, connection: &str, customer: i64, note: &str) {
    app.tg
        .assert_next_business_is_answer_to(connection, customer, "#hours", |answer, asked| {
            answer.text == note && answer.reply_to_message_id == Some(asked)
        })
        .await;
}

/// An owner whose business account is connected with the right to reply,
/// after the welcome message in their PM.
async fn connected_owner(app: &TestApp) -> (i64, String) {
    let owner = app.tg.add_user("Olga");
    let id = app
        .tg
        .connect_business(owner, Some(BusinessRights::reply()));
    let hello = app.tg.next_message(owner).await;
    assert!(
        hello
            .text
            .starts_with("Hi Olga! I am now connected to your business account."),
        "{}",
        hello.text
    );
    (owner, id)
}

/// Waits until castellan has stored `count` business connections: updates
/// without a chat are handled beside, not before, the messages after them.
async fn wait_for_stored_connections(app: &TestApp, count: i64) {
    for _ in 0..200 {
        if app
            .db
            .query_i64("SELECT COUNT(*) FROM business_connections", &[])
            .await
            >= count
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("castellan did not store {count} business connections");
}

/// The owner saves a business note from PM.
async fn save_business_note(app: &TestApp, owner: i64, name: &str, body: &str) {
    let reply = app.pm(owner, "/connect business").await;
    assert!(
        reply
            .text
            .starts_with("You are now connected to your business account"),
        "{}",
        reply.text
    );
    let reply = app.pm(owner, &format!("/save {name} {body}")).await;
    assert!(reply.text.starts_with("Saved note"), "{}", reply.text);
}

async fn owner_hears_of_connect_rights_change_and_disable(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let owner = app.tg.add_user("Olga");
    let id = app.tg.connect_business(owner, None);
    let hello = app.tg.next_message(owner).await;
    assert!(
        hello.text.contains("I may not reply to messages"),
        "{}",
        hello.text
    );
    assert!(hello.text.contains("Reply to messages"), "{}", hello.text);

    app.tg
        .set_business_rights(&id, Some(BusinessRights::reply()));
    let changed = app.tg.next_message(owner).await;
    assert!(
        changed.text.contains("I am now connected"),
        "{}",
        changed.text
    );

    app.tg.disable_business(&id);
    let gone = app.tg.next_message(owner).await;
    assert!(gone.text.contains("has disconnected me"), "{}", gone.text);

    // Everything was stored: /connect business now says it is disabled.
    let reply = app.pm(owner, "/connect business").await;
    assert!(reply.text.contains("has disconnected me"), "{}", reply.text);
    // No update needed fetching.
    assert!(app.tg.business_connection_requests().is_empty());
}

async fn superseded_connection_id_is_ignored(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (owner, old_id) = connected_owner(&app).await;
    save_business_note(&app, owner, "hours", "9 to 5").await;
    let new_id = app.tg.change_business_connection_id(&old_id);
    assert_ne!(new_id, old_id);
    wait_for_stored_connections(&app, 2).await;
    // Same rights, same state: nothing worth telling the owner, whose next
    // message is the answer to their /id.
    app.id_in_pm(owner).await;

    let customer = app.tg.add_user("Carl");
    asks_and_gets(&app, &new_id, customer, "9 to 5").await;

    // The old id is dead: nothing is tried through it (Telegram would
    // refuse it) and it is not fetched. The next ask through the new id
    // is the next answer.
    app.tg.business_message(&old_id, customer, "#hours");
    asks_and_gets(&app, &new_id, customer, "9 to 5").await;
    let through_old = business_sends(&app, customer, Some(&old_id));
    assert!(through_old.is_empty(), "{through_old:#?}");
    assert_eq!(business_sends(&app, customer, None).len(), 2);
    assert!(app.tg.business_connection_requests().is_empty());
    // The owner's connection is the new one.
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply.text.contains("Connection enabled: yes"),
        "{}",
        reply.text
    );
}

async fn unknown_connection_is_fetched_once_under_a_burst(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    // The owner connected while castellan was down: no update for it.
    let owner = app.tg.add_user("Olga");
    let id = app
        .tg
        .connect_business_silently(owner, Some(BusinessRights::reply()));
    let customers: Vec<i64> = (0..12)
        .map(|i| app.tg.add_user(&format!("Customer {i}")))
        .collect();
    for customer in &customers {
        app.tg.business_message(&id, *customer, "hello");
        app.tg.business_message(&id, *customer, "#nothing");
    }
    // The fetched connection is stored, and with it the owner may connect.
    wait_for_stored_connections(&app, 1).await;
    let reply = app.pm(owner, "/connect business").await;
    assert!(
        reply
            .text
            .starts_with("You are now connected to your business account"),
        "{}",
        reply.text
    );
    // Every customer chat has been handled once one more message in it is.
    app.pm(owner, "/save hours 9 to 5").await;
    for customer in &customers {
        app.tg.business_message(&id, *customer, "#hours");
        app.tg.next_business_message(owner, *customer).await;
    }
    assert_eq!(app.tg.business_connection_requests().len(), 1);
    // Known now: one more ask is answered without asking Telegram.
    asks_and_gets(&app, &id, customers[0], "9 to 5").await;
    assert_eq!(app.tg.business_connection_requests().len(), 1);
}

async fn unknown_id_telegram_refuses_is_not_fetched_per_message(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let owner = app.tg.add_user("Olga");
    let id = app
        .tg
        .connect_business_silently(owner, Some(BusinessRights::reply()));
    // Replaced before castellan ever heard of it: Telegram refuses the old id.
    let new_id = app.tg.change_business_connection_id(&id);
    app.tg.next_message(owner).await;
    save_business_note(&app, owner, "hours", "9 to 5").await;
    let customer = app.tg.add_user("Carl");
    for _ in 0..5 {
        app.tg.business_message(&id, customer, "#hours");
    }
    // One chat's updates are handled in order: once this is answered (and
    // nothing came before it), the five above were handled, and no reply
    // was tried for them.
    asks_and_gets(&app, &new_id, customer, "9 to 5").await;
    let through_dead = business_sends(&app, customer, Some(&id));
    assert!(through_dead.is_empty(), "{through_dead:#?}");
    assert_eq!(business_sends(&app, customer, None).len(), 1);
    let fetches = app.tg.business_connection_requests();
    assert_eq!(fetches.len(), 1, "{fetches:#?}");
    assert!(!fetches[0].ok);
}

async fn a_fetch_telegram_could_not_answer_is_tried_again(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let owner = app.tg.add_user("Olga");
    let id = app
        .tg
        .connect_business_silently(owner, Some(BusinessRights::reply()));
    // A 429 says nothing about the id: it is not remembered as unknown.
    app.tg
        .fail_next("getBusinessConnection", Fault::RetryAfter(1), 1);
    // `#name`s: what castellan needs the connection for.
    let customer = app.tg.add_user("Carl");
    app.tg.business_message(&id, customer, "#hello");
    app.tg.business_message(&id, customer, "#hello again");
    wait_for_stored_connections(&app, 1).await;
    let fetches = app.tg.business_connection_requests();
    assert_eq!(fetches.len(), 2, "{fetches:#?}");
    assert!(!fetches[0].ok && fetches[1].ok, "{fetches:#?}");
}

async fn deleted_business_messages_reach_a_handler(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let owner = app.tg.add_user("Olga");
    let id = app
        .tg
        .connect_business_silently(owner, Some(BusinessRights::reply()));
    let customer = app.tg.add_user("Carl");
    // Integer message ids, as Telegram sends them: teloxide 0.17 alone would
    // drop this update. Handled, it makes castellan learn the connection.
    app.tg.delete_business_messages(&id, customer, &[1, 2, 3]);
    let fetch = app
        .tg
        .wait_for_request("getBusinessConnection", |_| true, Duration::from_secs(10))
        .await;
    assert!(
        fetch.is_some(),
        "the deleted-messages update was not handled"
    );
}

async fn edited_business_messages_and_business_buttons_are_handled(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (owner, id) = connected_owner(&app).await;
    save_business_note(&app, owner, "hours", "9 to 5").await;
    let customer = app.tg.add_user("Carl");
    let asked = app.tg.business_message(&id, customer, "#hours");
    let answer = app.tg.next_business_message(owner, customer).await;
    assert_eq!(answer.reply_to_message_id, Some(asked));
    // An edit is not answered again: the next ask is the next answer.
    app.tg
        .edit_business_message(&id, customer, asked, "#hours please");
    asks_and_gets(&app, &id, customer, "9 to 5").await;
    assert_eq!(business_sends(&app, customer, None).len(), 2);
    // A (forged) button press on the bot's business message is answered,
    // and not taken for a press in the customer's PM with the bot: nothing
    // is tried there (Telegram would refuse it: Carl never wrote to the
    // bot), and once Carl writes, the first message there answers him.
    let query = app
        .tg
        .press_business_button(&id, customer, answer.message_id, "connect.business");
    let answered = app.tg.next_callback_answer(&query).await;
    assert_eq!(answered["text"], "This button is not valid (any more).");
    app.id_in_pm(customer).await;
    assert_eq!(pm_attempts(&app, customer).len(), 1);
}

async fn customer_commands_in_business_chats_do_nothing(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (owner, id) = connected_owner(&app).await;
    save_business_note(&app, owner, "hours", "9 to 5").await;
    let chat = app.tg.add_supergroup("Shop fans", None);
    let customer = app.user_in(chat, "Carl", MemberStatus::Member);
    for command in [
        format!("/connect {chat}"),
        "/start".to_owned(),
        "/help".to_owned(),
        "/connection".to_owned(),
        "/id".to_owned(),
    ] {
        app.tg.business_message(&id, customer, &command);
    }
    // Handled in order: the next ask is the first answer in the business
    // chat, and nothing was tried in the customer's PM (Telegram would
    // refuse it: Carl never wrote to the bot).
    asks_and_gets(&app, &id, customer, "9 to 5").await;
    assert_eq!(business_sends(&app, customer, None).len(), 1);
    let in_pm = pm_attempts(&app, customer);
    assert!(in_pm.is_empty(), "{in_pm:#?}");
    // In the customer's own PM with the bot, nothing was connected.
    let reply = app.pm(customer, "/connection").await;
    assert!(
        reply.text.starts_with("You are not connected"),
        "{}",
        reply.text
    );
    // The owner's own commands in a business chat are not commands either:
    // once the customer's next ask is answered, the owner's message was
    // handled, and the owner's next message in PM answers their /id.
    app.tg
        .business_message_from_owner(&id, customer, "/connect business");
    asks_and_gets(&app, &id, customer, "9 to 5").await;
    app.id_in_pm(owner).await;
}

async fn hashtag_answers_customers_with_the_business_note(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (owner, id) = connected_owner(&app).await;
    save_business_note(&app, owner, "Hours", "<b>Open</b> 9–5 & weekends").await;
    let customer = app.tg.add_user("Carl");

    let asked = app.tg.business_message(&id, customer, "#hours when?");
    let answer = app.tg.next_business_message(owner, customer).await;
    assert_eq!(answer.text, "<b>Open</b> 9–5 & weekends");
    assert_eq!(answer.reply_to_message_id, Some(asked));
    let sends = app.tg.requests_for("sendMessage");
    let last = sends.last().map(|r| r.params.clone()).unwrap_or_default();
    assert_eq!(last["business_connection_id"], id.as_str());

    // Other hashtags, plain text and the owner's own #hours get nothing:
    // the next ask is the next answer, and the second reply tried.
    app.tg.business_message(&id, customer, "#unknown");
    app.tg
        .business_message(&id, customer, "what are your hours?");
    app.tg.business_message_from_owner(&id, customer, "#hours");
    asks_and_gets(&app, &id, customer, "<b>Open</b> 9–5 & weekends").await;
    assert_eq!(business_sends(&app, customer, None).len(), 2);

    // A group's note of the same name is not the business's, and the
    // business's notes are not a group's.
    let (group, group_owner) = app.group_with_owner("Fans");
    app.tg.set_privacy_mode(false);
    app.say(group_owner, group, "/save hours Group hours").await;
    let reply = app.say(group_owner, group, "#hours").await;
    assert_eq!(reply.text, "Group hours");
    asks_and_gets(&app, &id, customer, "<b>Open</b> 9–5 & weekends").await;
}

async fn no_answer_without_reply_right_or_when_disabled(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (owner, id) = connected_owner(&app).await;
    save_business_note(&app, owner, "hours", "9 to 5").await;
    let customer = app.tg.add_user("Carl");
    let tried = || business_sends(&app, customer, None).len();

    // No rights, then rights without `can_reply`: Telegram would refuse a
    // reply, so castellan does not even try one. (Carl's /id to the bot
    // comes after his ask, in the same order: once it is answered, the
    // ask was handled under the rights of the time.)
    app.tg.set_business_rights(&id, None);
    app.tg.next_message(owner).await;
    app.tg.business_message(&id, customer, "#hours");
    app.id_in_pm(customer).await;
    let mut read_only = BusinessRights::reply();
    read_only.can_reply = false;
    app.tg.set_business_rights(&id, Some(read_only));
    app.tg.next_message(owner).await;
    app.tg.business_message(&id, customer, "#hours");
    app.id_in_pm(customer).await;
    assert_eq!(tried(), 0);
    // The right back, the same ask is answered: it is the first answer in
    // the chat, and the only reply tried.
    app.tg
        .set_business_rights(&id, Some(BusinessRights::reply()));
    app.tg.next_message(owner).await;
    asks_and_gets(&app, &id, customer, "9 to 5").await;
    assert_eq!(tried(), 1);

    // Disabled: Telegram delivers nothing and castellan tries nothing;
    // enabled again, the next ask is the next answer.
    app.tg.disable_business(&id);
    app.tg.next_message(owner).await;
    app.tg.business_message(&id, customer, "#hours");
    app.tg.enable_business(&id);
    app.tg.next_message(owner).await;
    asks_and_gets(&app, &id, customer, "9 to 5").await;
    assert_eq!(tried(), 2);
    // Never once did castellan try a send Telegram would refuse.
    let refused = app
        .tg
        .requests_for("sendMessage")
        .into_iter()
        .filter(|r| !r.ok)
        .count();
    assert_eq!(refused, 0);
}

async fn owner_connects_to_their_business_account(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (owner, _id) = connected_owner(&app).await;
    let reply = app.pm(owner, "/connect business").await;
    assert!(
        reply
            .text
            .starts_with("You are now connected to your business account as owner."),
        "{}",
        reply.text
    );
    assert!(
        reply
            .text
            .contains("Connection enabled: yes. May reply to customers: yes."),
        "{}",
        reply.text
    );
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply
            .text
            .starts_with("You are connected to your business account as owner."),
        "{}",
        reply.text
    );
    // The command lists are the business's: notes, no rules.
    let id = app
        .tg
        .press_button(owner, owner, reply.message_id, "connbtns.Admin");
    app.tg.next_callback_answer(&id).await;
    let list = app.tg.next_message(owner).await;
    assert!(list.text.contains("/save"), "{}", list.text);
    assert!(!list.text.contains("/setrules"), "{}", list.text);
    assert!(!list.text.contains("/allowconnect"), "{}", list.text);

    let reply = app.pm(owner, "/rules").await;
    assert!(
        reply.text.contains("does not work for a business account"),
        "{}",
        reply.text
    );
    let reply = app.pm(owner, "/notes").await;
    assert_eq!(reply.text, "your business account has no notes yet.");

    // History: the business account is listed, and its button reconnects.
    let (group, _) = {
        let chat = app.tg.add_supergroup("Fans", None);
        app.tg.set_member(chat, owner, MemberStatus::Creator);
        (chat, owner)
    };
    app.pm(owner, &format!("/connect {group}")).await;
    let list = app.pm(owner, "/connect").await;
    let data = button_data(&list);
    assert!(data.contains(&"connect.business".to_owned()), "{data:?}");
    let press = app
        .tg
        .press_button(owner, owner, list.message_id, "connect.business");
    app.tg.next_callback_answer(&press).await;
    let view = app.tg.next_message(owner).await;
    assert!(
        view.text
            .starts_with("You are now connected to your business account"),
        "{}",
        view.text
    );
    let reply = app.pm(owner, "/disconnect").await;
    assert_eq!(reply.text, "Disconnected from your business account.");
    let reply = app.pm(owner, "/reconnect").await;
    assert!(
        reply
            .text
            .starts_with("You are now connected to your business account"),
        "{}",
        reply.text
    );
}

async fn others_cannot_connect_to_a_business_account(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (_owner, id) = connected_owner(&app).await;
    let customer = app.tg.add_user("Carl");
    app.tg.business_message(&id, customer, "hello");
    // Someone without a business account of their own.
    let reply = app.pm(customer, "/connect business").await;
    assert!(
        reply
            .text
            .starts_with("I cannot connect you: you have no Telegram Business account"),
        "{}",
        reply.text
    );
    let reply = app.pm(customer, "/connection").await;
    assert!(
        reply.text.starts_with("You are not connected"),
        "{}",
        reply.text
    );
    // A forged history button is checked the same way.
    let prompt = app.pm(customer, "/id").await;
    let press = app
        .tg
        .press_button(customer, customer, prompt.message_id, "connect.business");
    let answer = app.tg.next_callback_answer(&press).await;
    assert_eq!(answer["show_alert"], true);
    assert!(
        answer["text"]
            .as_str()
            .unwrap_or_default()
            .contains("no Telegram Business account"),
        "{answer}"
    );
}

async fn business_connection_is_rechecked_on_every_use(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (owner, id) = connected_owner(&app).await;
    save_business_note(&app, owner, "hours", "9 to 5").await;
    app.tg.disable_business(&id);
    app.tg.next_message(owner).await;
    let reply = app.pm(owner, "/get hours").await;
    assert!(
        reply
            .text
            .starts_with("Your connection to your business account has ended"),
        "{}",
        reply.text
    );
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply.text.starts_with("You are not connected"),
        "{}",
        reply.text
    );
    // Enabled again: connecting works again, and the notes were kept.
    app.tg.enable_business(&id);
    app.tg.next_message(owner).await;
    app.pm(owner, "/connect business").await;
    let reply = app.pm(owner, "/get hours").await;
    assert_eq!(reply.text, "9 to 5");
}

async fn manage_bot_button_pauses_one_chat(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (owner, id) = connected_owner(&app).await;
    save_business_note(&app, owner, "hours", "9 to 5").await;
    let carl = app.tg.add_user("Carl");
    let dora = app.tg.add_user("Dora");

    let view = app.pm(owner, &format!("/start bizChat{carl}")).await;
    assert!(view.text.contains(&carl.to_string()), "{}", view.text);
    assert!(view.text.contains("I answer #name there"), "{}", view.text);
    let pause = format!("biz.pause.{carl}");
    assert_eq!(button_data(&view), vec![pause.clone()]);
    let press = app.tg.press_button(owner, owner, view.message_id, &pause);
    let answer = app.tg.next_callback_answer(&press).await;
    assert_eq!(answer["text"], "Paused: I will not reply in that chat.");
    let edited = app.tg.next_message(owner).await;
    assert!(edited.text.contains("paused"), "{}", edited.text);
    assert_eq!(button_data(&edited), vec![format!("biz.resume.{carl}")]);

    app.tg.business_message(&id, carl, "#hours");
    asks_and_gets(&app, &id, dora, "9 to 5").await;
    // Carl's /id to the bot comes after his ask, in the same order: once
    // it is answered, the ask was handled, paused.
    app.id_in_pm(carl).await;

    // Someone else's "Manage Bot" link and forged button are refused.
    let reply = app.pm(dora, &format!("/start bizChat{carl}")).await;
    assert!(
        reply
            .text
            .starts_with("I cannot manage that chat: you have no Telegram Business account"),
        "{}",
        reply.text
    );
    let press = app
        .tg
        .press_button(dora, dora, reply.message_id, &format!("biz.resume.{carl}"));
    let answer = app.tg.next_callback_answer(&press).await;
    assert_eq!(answer["show_alert"], true);
    app.tg.business_message(&id, carl, "#hours");
    app.id_in_pm(carl).await;
    assert!(business_sends(&app, carl, None).is_empty());

    // Resumed by the owner: Carl's next ask is the first answer in his
    // chat, and the only reply tried there; his two asks while paused got
    // nothing.
    let press = app.tg.press_button(
        owner,
        owner,
        edited.message_id,
        &format!("biz.resume.{carl}"),
    );
    app.tg.next_callback_answer(&press).await;
    app.tg.next_message(owner).await;
    asks_and_gets(&app, &id, carl, "9 to 5").await;
    assert_eq!(business_sends(&app, carl, None).len(), 1);
}

async fn business_help_explains_it_all(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let user = app.tg.add_user("Ann");
    let help = app.pm(user, "/help business").await;
    assert!(help.text.starts_with("Business\n"), "{}", help.text);
    for needle in [
        "/connect business",
        "#name",
        "Manage Bot",
        "Reply to messages",
    ] {
        assert!(help.text.contains(needle), "{needle}: {}", help.text);
    }
    assert!(!help.text.contains("Commands"), "{}", help.text);
    let spanish = app.tg.add_user_with("Ana", None, None, Some("es"));
    let help = app.pm(spanish, "/help negocio").await;
    assert!(help.text.starts_with("Negocio\n"), "{}", help.text);
    assert!(help.text.contains("Gestionar bot"), "{}", help.text);
}

async fn business_state_survives_a_restart(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(mut app) = spawn_unlimited(backend).await else {
        return;
    };
    let (owner, id) = connected_owner(&app).await;
    save_business_note(&app, owner, "hours", "9 to 5").await;
    let carl = app.tg.add_user("Carl");
    let dora = app.tg.add_user("Dora");
    let view = app.pm(owner, &format!("/start bizChat{carl}")).await;
    let press = app
        .tg
        .press_button(owner, owner, view.message_id, &format!("biz.pause.{carl}"));
    app.tg.next_callback_answer(&press).await;
    app.tg.next_message(owner).await;

    app.restart().await;

    asks_and_gets(&app, &id, dora, "9 to 5").await;
    // Carl's chat is still paused: once Carl's /id to the bot (handled
    // after his ask, in the same order) is answered, nothing was tried in
    // his business chat.
    app.tg.business_message(&id, carl, "#hours");
    app.id_in_pm(carl).await;
    let to_carl = business_sends(&app, carl, None);
    assert!(to_carl.is_empty(), "{to_carl:#?}");
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply
            .text
            .starts_with("You are connected to your business account"),
        "{}",
        reply.text
    );
    assert!(app.tg.business_connection_requests().is_empty());
}
