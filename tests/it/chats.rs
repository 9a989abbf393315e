//! Chats change under the bot: groups become supergroups, the bot is removed
//! and added back, titles change, admins are demoted. castellan follows.

use std::future::Future;
use std::time::Duration;

use castellan::store::Space;
use fake_bot_api::{MemberStatus, MigrationDelivery};

use crate::app::{TestApp, button_data, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(
    upgrades_are_followed_whatever_the_delivery,
    a_call_to_an_upgraded_group_follows_the_upgrade,
    removing_the_bot_ends_connections_for_good,
    a_new_title_replaces_the_stored_one,
    admin_status_is_live_where_the_bot_is_not_admin,
);

/// Waits until `check` holds (the bot handles updates of other chats
/// concurrently with a test's next step).
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn upgrades_are_followed_whatever_the_delivery(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let store = app.db.open().await;
    let deliveries = [
        MigrationDelivery::Both,
        MigrationDelivery::FromFirst,
        MigrationDelivery::ToOnly,
        MigrationDelivery::FromOnly,
        MigrationDelivery::Twice,
    ];
    for delivery in deliveries {
        let owner = app.tg.add_user("Owner");
        let group = app.tg.add_group("Small");
        app.tg.set_member(group, owner, MemberStatus::Creator);
        app.say(owner, group, "/save hello Hi").await;
        app.say(owner, group, "/setrules Be kind").await;
        app.pm(owner, &format!("/connect {group}")).await;

        let supergroup = app.tg.migrate_group_with(group, delivery);
        eventually(&format!("{delivery:?}: the records moved"), || async {
            store
                .note(Space::Chat(supergroup), "hello")
                .await
                .ok()
                .flatten()
                .is_some()
                && store.rules(supergroup).await.ok().flatten().is_some()
        })
        .await;
        assert!(
            store
                .note(Space::Chat(group), "hello")
                .await
                .unwrap()
                .is_none()
        );
        let connection = store.current_connection(owner).await.unwrap().unwrap();
        assert_eq!(connection.space, Space::Chat(supergroup), "{delivery:?}");

        let reply = app.say(owner, supergroup, "/get hello").await;
        assert_eq!(reply.text, "Hi", "{delivery:?}");
        let reply = app.pm(owner, "/rules").await;
        assert!(
            reply.text.ends_with("Be kind"),
            "{delivery:?}: {}",
            reply.text
        );
    }
}

async fn a_call_to_an_upgraded_group_follows_the_upgrade(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let store = app.db.open().await;
    let owner = app.tg.add_user("Owner");
    let group = app.tg.add_group("Small");
    app.tg.set_member(group, owner, MemberStatus::Creator);
    app.say(owner, group, "/save hello Hi").await;
    app.pm(owner, &format!("/connect {group}")).await;

    // The bot never hears of the upgrade: its next call about the old
    // group is answered with migrate_to_chat_id.
    let supergroup = app.tg.migrate_group_with(group, MigrationDelivery::Neither);
    let reply = app.pm(owner, "/get hello").await;
    assert_eq!(reply.text, "Hi");
    let connection = store.current_connection(owner).await.unwrap().unwrap();
    assert_eq!(connection.space, Space::Chat(supergroup));
    assert!(
        store
            .note(Space::Chat(supergroup), "hello")
            .await
            .unwrap()
            .is_some()
    );

    // From then on castellan asks about the supergroup directly.
    let start = app.tg.request_count();
    let reply = app.pm(owner, "/connection").await;
    assert!(reply.text.contains("Small"), "{}", reply.text);
    for request in app.tg.requests_since(start) {
        assert_ne!(
            request.params.get("chat_id").and_then(|id| id.as_i64()),
            Some(group),
            "{} still names the old group",
            request.method
        );
    }
}

async fn removing_the_bot_ends_connections_for_good(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let store = app.db.open().await;
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    let (other_chat, _) = app.group_with_owner("Elsewhere");
    let bystander = app.user_in(other_chat, "Cid", MemberStatus::Member);
    app.pm(owner, &format!("/connect {chat}")).await;
    app.pm(member, &format!("/connect {chat}")).await;
    app.pm(bystander, &format!("/connect {other_chat}")).await;

    // Removed and added back before anyone writes again.
    app.tg.set_bot_status(chat, MemberStatus::Kicked);
    eventually("the connections ended", || async {
        store
            .current_connection(owner)
            .await
            .ok()
            .flatten()
            .is_none()
            && store
                .current_connection(member)
                .await
                .ok()
                .flatten()
                .is_none()
    })
    .await;
    app.tg.set_bot_status(chat, MemberStatus::Member);

    // Each hears it on their next command, once.
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply.text.contains("connection to <b>Team</b> has ended")
            || reply.text.contains("connection to Team has ended"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("I was removed"), "{}", reply.text);
    let reply = app.pm(owner, "/connection").await;
    assert!(
        reply.text.starts_with("You are not connected"),
        "{}",
        reply.text
    );
    let reply = app.pm(member, "/rules").await;
    assert!(reply.text.contains("I was removed"), "{}", reply.text);
    let reply = app.pm(member, "/rules").await;
    assert!(reply.text.contains("/connect"), "{}", reply.text);

    // Another group's connection is untouched, and connecting again works.
    let reply = app.pm(bystander, "/connection").await;
    assert!(reply.text.contains("Elsewhere"), "{}", reply.text);
    let reply = app.pm(owner, &format!("/connect {chat}")).await;
    assert!(reply.text.contains("Team"), "{}", reply.text);
    let reply = app.pm(owner, "/connection").await;
    assert!(!reply.text.contains("ended"), "{}", reply.text);
}

async fn a_new_title_replaces_the_stored_one(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let store = app.db.open().await;
    let (chat, owner) = app.group_with_owner("Old name");
    let (second, _) = app.group_with_owner("Second");
    app.tg
        .set_member(second, owner, MemberStatus::Administrator);
    app.pm(owner, &format!("/connect {chat}")).await;
    app.pm(owner, &format!("/connect {second}")).await;
    app.pm(owner, &format!("/connect {chat}")).await;

    app.tg.rename_chat(chat, "New <name>", owner);
    eventually("the title changed", || async {
        store
            .current_connection(owner)
            .await
            .ok()
            .flatten()
            .is_some_and(|c| c.title == "New <name>")
    })
    .await;
    let reply = app.pm(owner, "/connection").await;
    assert!(reply.text.contains("New <name>"), "{}", reply.text);
    let history = store.recent_chats(owner).await.unwrap();
    assert!(
        history.iter().any(|c| c.title == "New <name>"),
        "{history:?}"
    );
    assert!(
        !history.iter().any(|c| c.title == "Old name"),
        "{history:?}"
    );
    let list = app.pm(owner, "/connect").await;
    assert!(
        list.button_texts()
            .concat()
            .iter()
            .any(|t| t == "New <name>"),
        "{:?}",
        list.button_texts()
    );
    assert_eq!(button_data(&list).len(), 2);
}

async fn admin_status_is_live_where_the_bot_is_not_admin(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    // The bot is a plain member: Telegram sends it no chat_member updates.
    let (chat, _owner) = app.group_with_owner("Team");
    let admin = app.user_in(chat, "Ada", MemberStatus::Administrator);
    app.assert_admin_changes_seen_at_once(chat, admin).await;
    assert_eq!(app.tg.requests_for("getChatAdministrators").len(), 3);

    // Where the bot is an admin, the list is cached: chat_member updates
    // say when it changes.
    let (cached, _) = app.group_with_owner("Cached");
    app.tg.set_bot_status(cached, MemberStatus::Administrator);
    let ada = app.user_in(cached, "Ada", MemberStatus::Administrator);
    let before = app.tg.requests_for("getChatAdministrators").len();
    app.say(ada, cached, "/allowconnect").await;
    app.say(ada, cached, "/allowconnect").await;
    assert_eq!(
        app.tg.requests_for("getChatAdministrators").len(),
        before + 1
    );
}
