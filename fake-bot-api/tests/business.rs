//! Telegram Business: connections, business messages, sending on behalf
//! of the account, and the JSON of every new object against the spec and
//! teloxide-core.

mod common;

use std::time::Duration;

use common::{assert_no_violations, check, err, ok, take_updates};
use fake_bot_api::spec::spec;
use fake_bot_api::{BOT_ID, BOT_TOKEN, BusinessRights, FakeTelegram};
use serde_json::{Value, json};
use teloxide_core::types::{
    BusinessConnection, CallbackQuery, Message, MessageKind, Update, UpdateKind,
};

/// teloxide-core keeps `business_connection_id` in `MessageCommon`.
fn business_id_of(m: &Message) -> Option<String> {
    match &m.kind {
        MessageKind::Common(c) => c.business_connection_id.as_ref().map(|b| b.0.clone()),
        _ => None,
    }
}

/// The one update of the list, of kind `kind`.
fn single<'a>(list: &'a [Value], kind: &str) -> &'a Value {
    assert_eq!(list.len(), 1, "{list:#?}");
    list[0]
        .get(kind)
        .unwrap_or_else(|| panic!("no {kind} in {:#}", list[0]))
}

#[test]
fn the_fixture_knows_business() {
    let s = spec();
    let get = s
        .method("getBusinessConnection")
        .expect("getBusinessConnection");
    assert!(get.required.contains_key("business_connection_id"));
    for m in [
        "sendMessage",
        "sendChatAction",
        "editMessageText",
        "editMessageReplyMarkup",
    ] {
        let m = s.method(m).unwrap();
        assert!(m.optional.contains_key("business_connection_id"), "{m:?}");
    }
    let update = s.type_spec("Update").unwrap();
    for k in [
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
    ] {
        assert!(update.optional.contains_key(k), "{k}");
    }
    let deleted = s.type_spec("BusinessMessagesDeleted").unwrap();
    assert_eq!(deleted.required["message_ids"], "Array of Integer");
    let message = s.type_spec("Message").unwrap();
    assert!(message.optional.contains_key("business_connection_id"));
    assert_eq!(message.optional["sender_business_bot"], "User");
    let conn = s.type_spec("BusinessConnection").unwrap();
    assert_eq!(conn.optional["rights"], "BusinessBotRights");
}

#[tokio::test]
async fn connections_and_get_business_connection() {
    let fake = FakeTelegram::start().await;
    let me = ok(&fake, "getMe", json!({})).await;
    assert_eq!(me["can_connect_to_business"], true);

    let owner = fake.add_user_with("Olga", Some("Shop"), Some("olga_shop"), Some("en"));
    let id = fake.connect_business(owner, Some(BusinessRights::reply()));
    assert!(id.len() >= 20, "{id}");
    assert!(
        id.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{id}"
    );
    let list = take_updates(&fake).await;
    let conn = single(&list, "business_connection");
    let parsed: BusinessConnection = check("BusinessConnection", conn);
    assert_eq!(parsed.id.0, id);
    assert!(parsed.is_enabled);
    let rights = parsed.rights.expect("rights");
    assert!(rights.can_reply && rights.can_read_messages && !rights.can_delete_all_messages);
    assert_eq!(conn["user"]["id"], owner);
    assert_eq!(conn["user_chat_id"], owner);
    assert_eq!(
        conn["rights"],
        json!({"can_reply": true, "can_read_messages": true})
    );
    let parsed_update: Update = check("Update", &list[0]);
    assert!(matches!(
        parsed_update.kind,
        UpdateKind::BusinessConnection(_)
    ));

    // getBusinessConnection returns the same object
    let got = ok(
        &fake,
        "getBusinessConnection",
        json!({"business_connection_id": id}),
    )
    .await;
    assert_eq!(&got, conn);
    assert_eq!(fake.business_connection_requests().len(), 1);

    // unknown id
    assert_eq!(
        err(
            &fake,
            "getBusinessConnection",
            json!({"business_connection_id": "nope"})
        )
        .await,
        "Bad Request: BUSINESS_CONNECTION_INVALID"
    );

    // rights changed: same id; None = no rights field
    fake.set_business_rights(&id, None);
    let list = take_updates(&fake).await;
    let conn = single(&list, "business_connection");
    let parsed: BusinessConnection = check("BusinessConnection", conn);
    assert_eq!(parsed.id.0, id);
    assert!(parsed.rights.is_none());
    assert!(conn.get("rights").is_none(), "{conn}");
    // all false = an empty object
    fake.set_business_rights(&id, Some(BusinessRights::default()));
    let list = take_updates(&fake).await;
    assert_eq!(single(&list, "business_connection")["rights"], json!({}));

    // disabled, enabled: same id
    fake.disable_business(&id);
    fake.enable_business(&id);
    let list = take_updates(&fake).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["business_connection"]["is_enabled"], false);
    assert_eq!(list[1]["business_connection"]["is_enabled"], true);
    assert_eq!(list[1]["business_connection"]["id"], id.as_str());

    // the owner edits the settings: a new id, the old one is invalid
    fake.set_business_rights(&id, Some(BusinessRights::reply()));
    take_updates(&fake).await;
    let id2 = fake.change_business_connection_id(&id);
    assert_ne!(id2, id);
    let list = take_updates(&fake).await;
    let conn = single(&list, "business_connection");
    let _: BusinessConnection = check("BusinessConnection", conn);
    assert_eq!(conn["id"], id2.as_str());
    assert_eq!(conn["is_enabled"], true);
    assert_eq!(
        conn["rights"],
        json!({"can_reply": true, "can_read_messages": true})
    );
    assert_eq!(
        err(
            &fake,
            "getBusinessConnection",
            json!({"business_connection_id": id})
        )
        .await,
        "Bad Request: BUSINESS_CONNECTION_INVALID"
    );
    ok(
        &fake,
        "getBusinessConnection",
        json!({"business_connection_id": id2}),
    )
    .await;

    // connecting again replaces the connection
    let id3 = fake.connect_business(owner, None);
    assert!(id3 != id && id3 != id2);
    let list = take_updates(&fake).await;
    assert_eq!(single(&list, "business_connection")["id"], id3.as_str());
    err(
        &fake,
        "getBusinessConnection",
        json!({"business_connection_id": id2}),
    )
    .await;

    // connected while the bot was offline: no update, but known
    let other = fake.add_user("Oscar");
    let silent = fake.connect_business_silently(other, Some(BusinessRights::reply()));
    assert_eq!(fake.pending_updates(), 0);
    let got = ok(
        &fake,
        "getBusinessConnection",
        json!({"business_connection_id": silent}),
    )
    .await;
    let parsed: BusinessConnection = check("BusinessConnection", &got);
    assert_eq!(parsed.user.id.0, other as u64);

    // ids are unique
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let u = fake.add_user("U");
        assert!(ids.insert(fake.connect_business_silently(u, None)));
    }
    assert_no_violations(&fake);
}

#[tokio::test]
async fn business_messages_edits_and_deletions() {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user_with("Olga", None, Some("olga_shop"), Some("en"));
    let customer = fake.add_user_with("Carl", Some("Client"), Some("carl"), Some("de"));
    let id = fake.connect_business(owner, Some(BusinessRights::reply()));
    take_updates(&fake).await;

    // the customer never talked to the bot
    let m1 = fake.business_message(
        &id,
        customer,
        "Hi @olga_shop, see https://example.com #order",
    );
    assert_eq!(m1, 1);
    let list = take_updates(&fake).await;
    let msg = single(&list, "business_message");
    let parsed: Message = check("Message", msg);
    assert_eq!(business_id_of(&parsed), Some(id.clone()));
    assert!(parsed.sender_business_bot.is_none());
    assert_eq!(msg["from"]["id"], customer);
    assert_eq!(
        msg["chat"],
        json!({"id": customer, "type": "private", "first_name": "Carl", "last_name": "Client", "username": "carl"})
    );
    let kinds: Vec<&str> = msg["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["mention", "url", "hashtag"]);
    let parsed_update: Update = check("Update", &list[0]);
    assert!(matches!(parsed_update.kind, UpdateKind::BusinessMessage(_)));
    // not a chat of the bot
    assert!(fake.message_json(customer, m1).is_none());
    assert!(fake.business_message_json(owner, customer, m1).is_some());

    // the owner answers
    let m2 = fake.business_message_from_owner(&id, customer, "Hello!");
    assert_eq!(m2, 2);
    let list = take_updates(&fake).await;
    let msg = single(&list, "business_message");
    let _: Message = check("Message", msg);
    assert_eq!(msg["from"]["id"], owner);
    assert_eq!(msg["chat"]["id"], customer);

    // edits
    fake.edit_business_message(&id, customer, m1, "Hi again /start");
    let list = take_updates(&fake).await;
    let msg = single(&list, "edited_business_message");
    let _: Message = check("Message", msg);
    assert_eq!(msg["text"], "Hi again /start");
    assert!(msg["edit_date"].as_i64().is_some());
    assert_eq!(msg["entities"][0]["type"], "bot_command");
    let parsed_update: Update = check("Update", &list[0]);
    assert!(matches!(
        parsed_update.kind,
        UpdateKind::EditedBusinessMessage(_)
    ));

    // deletions: message_ids are integers, as api.json says
    fake.delete_business_messages(&id, customer, &[m1, m2]);
    let list = take_updates(&fake).await;
    let deleted = single(&list, "deleted_business_messages");
    let problems = spec().validate("BusinessMessagesDeleted", deleted);
    assert!(problems.is_empty(), "{problems:?}");
    assert!(spec().validate("Update", &list[0]).is_empty());
    assert_eq!(
        deleted,
        &json!({
            "business_connection_id": id,
            "chat": {"id": customer, "type": "private", "first_name": "Carl", "last_name": "Client", "username": "carl"},
            "message_ids": [1, 2],
        })
    );
    // Known teloxide-core 0.13 bug: its BusinessMessagesDeleted wants
    // `message_ids` as MessageId objects ({"message_id": 1}), so the real
    // Telegram update doesn't parse.
    let parsed_update: Update = serde_json::from_value(list[0].clone()).unwrap();
    assert!(
        matches!(parsed_update.kind, UpdateKind::Error(_)),
        "teloxide-core parses deleted_business_messages now: {:?}",
        parsed_update.kind
    );
    assert!(fake.business_message_json(owner, customer, m1).is_none());

    // a disabled connection delivers nothing
    fake.disable_business(&id);
    take_updates(&fake).await;
    let m3 = fake.business_message(&id, customer, "anyone?");
    fake.edit_business_message(&id, customer, m3, "anyone??");
    fake.delete_business_messages(&id, customer, &[m3]);
    assert_eq!(fake.pending_updates(), 0);
    fake.enable_business(&id);
    take_updates(&fake).await;
    fake.business_message(&id, customer, "back");
    let list = take_updates(&fake).await;
    assert_eq!(single(&list, "business_message")["message_id"], 4);

    // kinds follow allowed_updates; by default all business kinds come
    ok(
        &fake,
        "getUpdates",
        json!({"allowed_updates": ["message", "callback_query"]}),
    )
    .await;
    fake.business_message(&id, customer, "filtered");
    fake.set_business_rights(&id, None);
    assert_eq!(ok(&fake, "getUpdates", json!({})).await, json!([]));
    ok(
        &fake,
        "getUpdates",
        json!({"allowed_updates": ["business_message"]}),
    )
    .await;
    fake.business_message(&id, customer, "wanted");
    let list = take_updates(&fake).await;
    assert_eq!(single(&list, "business_message")["text"], "wanted");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn sending_on_behalf_of_the_account() {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user_with("Olga", None, Some("olga_shop"), None);
    let customer = fake.add_user("Carl");
    let stranger = fake.add_user("Sam");
    let id = fake.connect_business(owner, Some(BusinessRights::reply()));
    let asked = fake.business_message(&id, customer, "price?");
    fake.business_message_from_owner(&id, stranger, "owner wrote first");

    // ok, with parse mode, keyboard and a reply to a business message
    let kb = json!({"inline_keyboard": [[{"text": "Buy", "callback_data": "buy"}]]});
    let sent = ok(
        &fake,
        "sendMessage",
        json!({"business_connection_id": id, "chat_id": customer, "text": "<b>10</b> €",
               "parse_mode": "HTML", "reply_markup": kb, "reply_parameters": {"message_id": asked}}),
    )
    .await;
    let msg: Message = check("Message", &sent);
    assert_eq!(business_id_of(&msg), Some(id.clone()));
    assert_eq!(
        msg.sender_business_bot.as_ref().unwrap().id.0,
        BOT_ID as u64
    );
    assert_eq!(sent["from"]["id"], owner);
    assert_eq!(sent["chat"]["id"], customer);
    assert_eq!(sent["chat"]["type"], "private");
    assert_eq!(sent["message_id"], 2);
    assert_eq!(sent["text"], "10 €");
    assert_eq!(sent["entities"][0]["type"], "bold");
    assert_eq!(sent["reply_to_message"]["message_id"], asked);
    let m = fake.next_business_message(owner, customer).await;
    assert_eq!(m.text, "10 €");
    assert_eq!(m.chat_id, customer);
    assert_eq!(m.business_connection_id.as_deref(), Some(id.as_str()));
    assert_eq!(m.reply_to_message_id, Some(asked));
    assert_eq!(m.callback_data_of("Buy").as_deref(), Some("buy"));
    assert!(fake.messages(customer).is_empty());

    // invalid ids
    let description = err(
        &fake,
        "sendMessage",
        json!({"business_connection_id": "bogus", "chat_id": customer, "text": "x"}),
    )
    .await;
    assert_eq!(description, "Bad Request: BUSINESS_CONNECTION_INVALID");
    // chats: the customer must have written; integers only; not self
    for (chat, want) in [
        (json!(stranger), "Bad Request: chat not found"),
        (json!(987654), "Bad Request: chat not found"),
        (
            json!("@olga_shop"),
            "Bad Request: chat identifier must be a valid Integer",
        ),
        (
            json!(owner),
            "Bad Request: Messages must not be sent to self",
        ),
    ] {
        let description = err(
            &fake,
            "sendMessage",
            json!({"business_connection_id": id, "chat_id": chat, "text": "x"}),
        )
        .await;
        assert_eq!(description, want, "{chat}");
    }
    // a reply to a message of another chat
    assert_eq!(
        err(
            &fake,
            "sendMessage",
            json!({"business_connection_id": id, "chat_id": customer, "text": "x",
                   "reply_parameters": {"message_id": 77}}),
        )
        .await,
        "Bad Request: message to be replied not found"
    );
    // same parsing errors as ordinary messages
    assert!(
        err(
            &fake,
            "sendMessage",
            json!({"business_connection_id": id, "chat_id": customer, "text": "<b>x", "parse_mode": "HTML"}),
        )
        .await
        .starts_with("Bad Request: can't parse entities")
    );

    // not allowed: no rights, rights without can_reply, disabled
    let not_allowed = "Bad Request: BUSINESS_CONNECTION_NOT_ALLOWED";
    let send = json!({"business_connection_id": id, "chat_id": customer, "text": "x"});
    fake.set_business_rights(&id, None);
    assert_eq!(err(&fake, "sendMessage", send.clone()).await, not_allowed);
    let read_only = BusinessRights {
        can_read_messages: true,
        ..BusinessRights::default()
    };
    fake.set_business_rights(&id, Some(read_only));
    assert_eq!(err(&fake, "sendMessage", send.clone()).await, not_allowed);
    fake.set_business_rights(&id, Some(BusinessRights::reply()));
    fake.disable_business(&id);
    assert_eq!(err(&fake, "sendMessage", send.clone()).await, not_allowed);
    assert_eq!(
        err(
            &fake,
            "sendChatAction",
            json!({"business_connection_id": id, "chat_id": customer, "action": "typing"}),
        )
        .await,
        not_allowed
    );
    fake.enable_business(&id);
    ok(&fake, "sendMessage", send.clone()).await;
    ok(
        &fake,
        "sendChatAction",
        json!({"business_connection_id": id, "chat_id": customer, "action": "typing"}),
    )
    .await;

    // the id changes: the old one is invalid, the chats stay
    let id2 = fake.change_business_connection_id(&id);
    assert_eq!(
        err(&fake, "sendMessage", send.clone()).await,
        "Bad Request: BUSINESS_CONNECTION_INVALID"
    );
    let sent = ok(
        &fake,
        "sendMessage",
        json!({"business_connection_id": id2, "chat_id": customer, "text": "new id"}),
    )
    .await;
    assert_eq!(sent["business_connection_id"], id2.as_str());
    let _: Message = check("Message", &sent);
    assert_eq!(fake.next_business_message(owner, customer).await.text, "x");
    let m = fake.next_business_message(owner, customer).await;
    assert_eq!(m.text, "new id");
    assert_eq!(m.business_connection_id.as_deref(), Some(id2.as_str()));
    fake.assert_no_business_message(owner, customer, Duration::from_millis(50))
        .await;
    assert_no_violations(&fake);
}

#[tokio::test]
async fn pm_and_business_chat_of_the_same_number_are_separate() {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Olga");
    let customer = fake.add_user("Carl");
    let id = fake.connect_business(owner, Some(BusinessRights::reply()));

    // the customer also has a private chat with the bot
    let pm1 = fake.send_text(customer, customer, "/start");
    let pm2 = fake.send_text(customer, customer, "hello bot");
    let b1 = fake.business_message(&id, customer, "hello shop");
    assert_eq!((pm1, pm2, b1), (1, 2, 1));

    let pm = ok(
        &fake,
        "sendMessage",
        json!({"chat_id": customer, "text": "pm answer"}),
    )
    .await;
    assert_eq!(pm["message_id"], 3);
    assert!(pm.get("business_connection_id").is_none());
    assert_eq!(pm["from"]["id"], BOT_ID);
    let biz = ok(
        &fake,
        "sendMessage",
        json!({"business_connection_id": id, "chat_id": customer, "text": "business answer"}),
    )
    .await;
    assert_eq!(biz["message_id"], 2);
    assert_eq!(biz["from"]["id"], owner);

    let m = fake.next_message(customer).await;
    assert_eq!(m.text, "pm answer");
    assert!(m.business_connection_id.is_none());
    fake.assert_no_message(customer, Duration::from_millis(50))
        .await;
    let m = fake.next_business_message(owner, customer).await;
    assert_eq!(m.text, "business answer");
    fake.assert_no_business_message(owner, customer, Duration::from_millis(50))
        .await;
    assert!(
        fake.try_next_business_message(owner, customer, Duration::from_millis(10))
            .await
            .is_none()
    );
    assert_eq!(fake.messages(customer).len(), 1);
    assert_eq!(fake.message_json(customer, 2).unwrap()["text"], "hello bot");
    assert_eq!(
        fake.business_message_json(owner, customer, 2).unwrap()["text"],
        "business answer"
    );

    // a reply to the PM's message 3 doesn't exist in the business chat
    assert_eq!(
        err(
            &fake,
            "sendMessage",
            json!({"business_connection_id": id, "chat_id": customer, "text": "x",
                   "reply_parameters": {"message_id": 3}}),
        )
        .await,
        "Bad Request: message to be replied not found"
    );
    // editing the business message without the connection looks in the PM
    assert_eq!(
        err(
            &fake,
            "editMessageText",
            json!({"chat_id": customer, "message_id": 2, "text": "edited"}),
        )
        .await,
        "Bad Request: message can't be edited"
    );

    // a customer without a PM: the bot can't write to them directly
    let shy = fake.add_user("Shy");
    fake.business_message(&id, shy, "hi");
    assert_eq!(
        err(&fake, "sendMessage", json!({"chat_id": shy, "text": "x"})).await,
        "Forbidden: bot can't initiate conversation with a user"
    );
    ok(
        &fake,
        "sendMessage",
        json!({"business_connection_id": id, "chat_id": shy, "text": "x"}),
    )
    .await;
    assert_eq!(fake.next_business_message(owner, shy).await.text, "x");
    assert_no_violations(&fake);
}

#[tokio::test]
async fn buttons_and_edits_through_the_connection() {
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Olga");
    let customer = fake.add_user("Carl");
    let id = fake.connect_business(owner, Some(BusinessRights::reply()));
    fake.business_message(&id, customer, "menu please");
    let kb = json!({"inline_keyboard": [[{"text": "Tea", "callback_data": "tea"}]]});
    let sent = ok(
        &fake,
        "sendMessage",
        json!({"business_connection_id": id, "chat_id": customer, "text": "Menu", "reply_markup": kb}),
    )
    .await;
    let mid = sent["message_id"].as_i64().unwrap() as i32;
    fake.next_business_message(owner, customer).await;
    take_updates(&fake).await;

    let qid = fake.press_business_button(&id, customer, mid, "tea");
    let list = take_updates(&fake).await;
    let cq = single(&list, "callback_query");
    let parsed: CallbackQuery = check("CallbackQuery", cq);
    assert_eq!(parsed.id.0, qid);
    assert_eq!(cq["from"]["id"], customer);
    assert_eq!(cq["message"]["business_connection_id"], id.as_str());
    assert_eq!(cq["message"]["sender_business_bot"]["id"], BOT_ID);
    assert_eq!(cq["data"], "tea");
    ok(
        &fake,
        "answerCallbackQuery",
        json!({"callback_query_id": qid, "text": "Brewing"}),
    )
    .await;
    assert_eq!(fake.next_callback_answer(&qid).await["text"], "Brewing");

    // edit it through the connection
    let edited = ok(
        &fake,
        "editMessageText",
        json!({"business_connection_id": id, "chat_id": customer, "message_id": mid, "text": "Tea is coming",
               "reply_markup": kb}),
    )
    .await;
    let _: Message = check("Message", &edited);
    assert_eq!(edited["business_connection_id"], id.as_str());
    assert!(edited["edit_date"].as_i64().is_some());
    let m = fake.next_business_message(owner, customer).await;
    assert!(m.edited);
    assert_eq!(m.text, "Tea is coming");
    ok(
        &fake,
        "editMessageReplyMarkup",
        json!({"business_connection_id": id, "chat_id": customer, "message_id": mid}),
    )
    .await;
    assert!(
        fake.next_business_message(owner, customer)
            .await
            .reply_markup
            .is_none()
    );
    // the customer's message can't be edited by the bot
    assert_eq!(
        err(
            &fake,
            "editMessageText",
            json!({"business_connection_id": id, "chat_id": customer, "message_id": 1, "text": "x"}),
        )
        .await,
        "Bad Request: message can't be edited"
    );
    fake.disable_business(&id);
    assert_eq!(
        err(
            &fake,
            "editMessageText",
            json!({"business_connection_id": id, "chat_id": customer, "message_id": mid, "text": "y"}),
        )
        .await,
        "Bad Request: BUSINESS_CONNECTION_NOT_ALLOWED"
    );
    // presses on a disabled connection aren't delivered
    take_updates(&fake).await;
    let lost = fake.press_business_button(&id, customer, mid, "tea");
    assert_eq!(fake.pending_updates(), 0);
    assert_eq!(
        err(
            &fake,
            "answerCallbackQuery",
            json!({"callback_query_id": lost})
        )
        .await,
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    );
    assert_no_violations(&fake);
}

#[tokio::test]
async fn teloxide_client_uses_business_connections() {
    use teloxide_core::prelude::*;
    use teloxide_core::types::{BusinessConnectionId, ChatId, ParseMode};
    let fake = FakeTelegram::start().await;
    let owner = fake.add_user("Olga");
    let customer = fake.add_user("Carl");
    let id = fake.connect_business(owner, Some(BusinessRights::reply()));
    fake.business_message(&id, customer, "hi");
    let bot = Bot::new(BOT_TOKEN).set_api_url(reqwest::Url::parse(&fake.api_url()).unwrap());
    let me = bot.get_me().await.unwrap();
    assert!(me.can_connect_to_business);
    let ups = bot.get_updates().await.unwrap();
    assert_eq!(ups.len(), 2);
    assert!(matches!(ups[0].kind, UpdateKind::BusinessConnection(_)));
    let UpdateKind::BusinessMessage(m) = &ups[1].kind else {
        panic!("{:?}", ups[1].kind);
    };
    assert_eq!(m.chat.id, ChatId(customer));
    let conn = bot
        .get_business_connection(BusinessConnectionId(id.clone()))
        .await
        .unwrap();
    assert_eq!(conn.user.id.0, owner as u64);
    let sent = bot
        .send_message(ChatId(customer), "<i>Welcome</i>")
        .parse_mode(ParseMode::Html)
        .business_connection_id(BusinessConnectionId(id.clone()))
        .await
        .unwrap();
    assert_eq!(sent.text(), Some("Welcome"));
    assert_eq!(sent.from.as_ref().unwrap().id.0, owner as u64);
    let err = bot
        .get_business_connection(BusinessConnectionId("gone".into()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("BUSINESS_CONNECTION_INVALID"),
        "{err}"
    );
    assert_eq!(
        fake.next_business_message(owner, customer).await.text,
        "Welcome"
    );
    assert_no_violations(&fake);
}
