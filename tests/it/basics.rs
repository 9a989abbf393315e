//! /start, /help, /id, the command menus and start-up.

use fake_bot_api::{Fault, MemberStatus};

use crate::app::{TestApp, button_data, button_urls, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(
    start_in_pm_greets_with_a_help_button,
    start_registers_menus_and_removes_the_webhook,
    help_lists_modules_and_opens_each,
    help_in_a_group_points_to_pm,
    id_in_pm_group_and_reply,
    names_with_html_are_escaped,
    unknown_deep_link_gets_an_answer,
    spanish_users_get_spanish,
    start_up_retries_get_me_until_telegram_answers,
    stopping_while_telegram_is_unreachable_is_clean,
);

/// PostgreSQL that is not up yet is waited for (it returns an error at
/// once if the bot gives up); a stop request still ends the wait cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_postgres_at_start_is_retried_until_stopped() {
    let tg = fake_bot_api::FakeTelegram::start().await;
    let config = crate::app::config(&tg, "postgres://postgres@127.0.0.1:9/castellan");
    let run = tokio::spawn(castellan::app::run_until(
        config,
        tokio::time::sleep(std::time::Duration::from_millis(1500)),
    ));
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    assert!(
        !run.is_finished(),
        "the bot gave up on PostgreSQL instead of retrying"
    );
    let result = tokio::time::timeout(std::time::Duration::from_secs(5), run).await;
    assert!(matches!(result, Ok(Ok(Ok(())))), "{result:?}");
    assert!(
        tg.requests_for("getMe").is_empty(),
        "nothing is asked of Telegram before the database"
    );
}

async fn start_in_pm_greets_with_a_help_button(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let user = app.tg.add_user("Ana");
    let reply = app.pm(user, "/start").await;
    assert!(reply.text.contains("Hi Ana"), "{}", reply.text);
    assert_eq!(reply.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(button_data(&reply), vec!["help.main"]);

    app.tg
        .press_button(user, user, reply.message_id, "help.main");
    let help = app.tg.next_message(user).await;
    assert!(help.edited);
    assert!(help.text.starts_with("Help"), "{}", help.text);
}

async fn start_registers_menus_and_removes_the_webhook(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    assert!(!app.tg.requests_for("deleteWebhook").is_empty());
    // Two scopes × two languages, registered right after start-up.
    let last_menu = app
        .tg
        .wait_for_request(
            "setMyCommands",
            |r| r.params["language_code"] == "es" && r.params["scope"]["type"] == "all_group_chats",
            std::time::Duration::from_secs(10),
        )
        .await;
    assert!(last_menu.is_some(), "no Spanish group menu was registered");
    let private = app.tg.my_commands("all_private_chats", None);
    let group = app.tg.my_commands("all_group_chats", None);
    let names = |menu: &[(String, String)]| menu.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>();
    for command in [
        "start",
        "help",
        "id",
        "connect",
        "disconnect",
        "reconnect",
        "connection",
        "get",
        "notes",
        "rules",
    ] {
        assert!(
            names(&private).contains(&command.to_owned()),
            "/{command} missing in PM menu"
        );
    }
    for command in [
        "help",
        "id",
        "connect",
        "allowconnect",
        "save",
        "get",
        "notes",
        "clear",
        "rules",
        "setrules",
        "clearrules",
    ] {
        assert!(
            names(&group).contains(&command.to_owned()),
            "/{command} missing in group menu"
        );
    }
    assert!(!names(&group).contains(&"disconnect".to_owned()));
    let spanish = app.tg.my_commands("all_private_chats", Some("es"));
    assert_eq!(spanish.len(), private.len());
    assert!(
        spanish
            .iter()
            .any(|(c, d)| c == "connect" && d.contains("Conectar")),
        "{spanish:?}"
    );
}

async fn help_lists_modules_and_opens_each(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let user = app.tg.add_user("Ana");
    let help = app.pm(user, "/help").await;
    let data = button_data(&help);
    assert_eq!(
        data,
        vec![
            "help.connections",
            "help.notes",
            "help.rules",
            "help.moderation",
            "help.locks",
            "help.blacklists",
            "help.antiflood",
            "help.filters",
            "help.disabling",
            "help.business",
            "help.misc"
        ]
    );

    app.tg
        .press_button(user, user, help.message_id, "help.connections");
    let page = app.tg.next_message(user).await;
    assert!(page.edited);
    assert!(page.text.starts_with("Connections"), "{}", page.text);
    assert!(
        page.text.contains("/id"),
        "the help explains where ids come from"
    );
    assert!(page.text.contains("negative"), "{}", page.text);
    assert!(
        page.text.contains("/allowconnect — "),
        "commands listed from the registry"
    );
    assert_eq!(button_data(&page), vec!["help.main"]);

    for alias in ["connection", "connect", "Connections"] {
        let page = app.pm(user, &format!("/help {alias}")).await;
        assert!(
            page.text.starts_with("Connections"),
            "/help {alias}: {}",
            page.text
        );
    }
    let notes = app.pm(user, "/help notes").await;
    assert!(notes.text.contains("/save — "), "{}", notes.text);
    let unknown = app.pm(user, "/help <nope>").await;
    assert!(
        unknown.text.contains("There is no module called <nope>"),
        "{}",
        unknown.text
    );

    let id = app
        .tg
        .press_button(user, user, help.message_id, "help.bogus");
    let answer = app.tg.next_callback_answer(&id).await;
    assert_eq!(answer["show_alert"], true);
}

async fn help_in_a_group_points_to_pm(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let reply = app.say(owner, chat, "/help").await;
    assert_eq!(
        button_urls(&reply),
        vec!["https://t.me/castellan_test_bot?start=help"]
    );
    let reply = app.say(owner, chat, "/help@castellan_test_bot notes").await;
    assert_eq!(
        button_urls(&reply),
        vec!["https://t.me/castellan_test_bot?start=help_notes"]
    );
    // The deep link opens that module's help in PM.
    let page = app.pm(owner, "/start help_notes").await;
    assert!(page.text.starts_with("Notes"), "{}", page.text);
}

async fn id_in_pm_group_and_reply(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    let reply = app.pm(owner, "/id").await;
    assert_eq!(reply.text, format!("Your id: {owner}"));

    let reply = app.say(owner, chat, "/id").await;
    assert_eq!(
        reply.text,
        format!("Your id: {owner}\nThis chat's id: {chat}")
    );
    assert!(chat < 0);
    assert!(
        reply.reply_to_message_id.is_some(),
        "answers in groups reply to the command"
    );

    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let said = app.tg.send_text(member, chat, "hello");
    app.tg
        .send_message(fake_bot_api::IncomingMessage::new(owner, chat, "/id").reply_to(said));
    let reply = app.tg.next_message(chat).await;
    assert_eq!(
        reply.text,
        format!("Bea's id: {member}\nThis chat's id: {chat}")
    );
}

async fn names_with_html_are_escaped(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let user = app.tg.add_user(r#"<b>Ops</b> & "Co""#);
    let reply = app.pm(user, "/start").await;
    assert!(
        reply.text.contains(r#"Hi <b>Ops</b> & "Co""#),
        "{}",
        reply.text
    );
}

async fn unknown_deep_link_gets_an_answer(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let user = app.tg.add_user("Ana");
    let reply = app.pm(user, "/start whatever_1").await;
    assert!(reply.text.contains("link is not valid"), "{}", reply.text);
}

async fn spanish_users_get_spanish(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let user = app.tg.add_user_with("Lucía", None, None, Some("es-ES"));
    let reply = app.pm(user, "/start").await;
    assert!(reply.text.contains("¡Hola, Lucía!"), "{}", reply.text);
    let reply = app.pm(user, "/connection").await;
    assert!(reply.text.contains("No estás conectado"), "{}", reply.text);
    let other = app.tg.add_user_with("Jan", None, None, Some("de"));
    let reply = app.pm(other, "/connection").await;
    assert!(
        reply.text.contains("You are not connected"),
        "{}",
        reply.text
    );
}

async fn start_up_retries_get_me_until_telegram_answers(backend: Backend) {
    let Some(app) = TestApp::spawn_prepared(backend, |tg| {
        tg.fail_next(
            "getMe",
            Fault::BadRequest("Bad Request: try later".into()),
            2,
        );
        tg.fail_next("deleteWebhook", Fault::RetryAfter(1), 1);
    })
    .await
    else {
        return;
    };
    let user = app.tg.add_user("Ana");
    let reply = app.pm(user, "/start").await;
    assert!(reply.text.contains("Hi Ana"), "{}", reply.text);
    let failed_get_me = app
        .tg
        .requests_for("getMe")
        .iter()
        .filter(|r| !r.ok)
        .count();
    assert_eq!(failed_get_me, 2);
}

async fn stopping_while_telegram_is_unreachable_is_clean(backend: Backend) {
    let Some(db) = crate::db::TestDb::new(backend).await else {
        return;
    };
    // Nothing listens on port 9 of the loopback: every call fails at once.
    let config = castellan::config::Config::from_lookup(|name| match name {
        "BOT_TOKEN" => Some(fake_bot_api::BOT_TOKEN.to_owned()),
        "DATABASE_URL" => Some(db.url.clone()),
        "TELEGRAM_API_URL" => Some("http://127.0.0.1:9".to_owned()),
        _ => None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        castellan::app::run_until(
            config,
            tokio::time::sleep(std::time::Duration::from_millis(1500)),
        ),
    )
    .await;
    assert!(matches!(result, Ok(Ok(()))), "{result:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
