//! What each common update costs in Bot API calls: counted through the fake,
//! never timed. (Database operations and CPU are the benchmark's.)

use fake_bot_api::MemberStatus;

use crate::app::{TestApp, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(
    common_updates_cost_the_fewest_calls,
    where_the_bot_is_an_admin_membership_is_known_not_asked,
);

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

async fn common_updates_cost_the_fewest_calls(backend: Backend) {
    // Answers faster than Telegram allows in one chat: no send limits.
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    app.tg.set_privacy_mode(false);
    let (chat, owner) = app.group_with_owner("Team");
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.say(owner, chat, "/save welcome Hi").await;

    // Plain chatter: nothing at all.
    let start = app.tg.request_count();
    app.tg.send_text(member, chat, "just talking");
    app.say(owner, chat, "/id").await;
    assert_eq!(
        calls_since(&app, start),
        ["sendMessage"],
        "only /id's reply"
    );

    // /connect <id>: the chat, the user's membership, the reply (the bot is
    // known to be in the group: commands there reach it).
    let start = app.tg.request_count();
    app.pm(member, &format!("/connect {chat}")).await;
    assert_eq!(
        calls_since(&app, start),
        ["getChat", "getChatMember", "sendMessage"]
    );

    // /connection and /get through a connection: one check, one reply.
    for command in ["/connection", "/get welcome"] {
        let start = app.tg.request_count();
        app.pm(member, command).await;
        assert_eq!(
            calls_since(&app, start),
            ["getChatMember", "sendMessage"],
            "{command}"
        );
    }
}

/// Where the bot is an administrator, Telegram reports every member change
/// (chat_member updates): a member's standing, asked once, is kept, and a
/// command through a connection then costs no check at all, until a
/// report says the member changed.
async fn where_the_bot_is_an_admin_membership_is_known_not_asked(backend: Backend) {
    let Some(app) = spawn_unlimited(backend).await else {
        return;
    };
    let (chat, owner) = app.group_with_owner("Team");
    app.tg.set_bot_status(chat, MemberStatus::Administrator);
    let member = app.user_in(chat, "Bea", MemberStatus::Member);
    app.say(owner, chat, "/save welcome Hi").await;
    app.pm(member, &format!("/connect {chat}")).await;

    for _ in 0..2 {
        let start = app.tg.request_count();
        let note = app.pm(member, "/get welcome").await;
        assert_eq!(note.text, "Hi");
        assert_eq!(calls_since(&app, start), ["sendMessage"], "/get welcome");
    }

    // Banned: the report reaches castellan, and the next use is refused
    // without asking Telegram.
    app.tg.change_member(chat, member, MemberStatus::Kicked);
    // The group's lane takes the report before the owner's /id after it.
    app.id_in_group(owner, chat).await;
    let start = app.tg.request_count();
    let refused = app.pm(member, "/get welcome").await;
    assert!(refused.text.contains("banned"), "{}", refused.text);
    assert_eq!(calls_since(&app, start), ["sendMessage"]);
}
