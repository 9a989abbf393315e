//! What each common update costs in Bot API calls: counted through the fake,
//! never timed. (Database operations and CPU are the benchmark's.)

use fake_bot_api::MemberStatus;

use crate::app::{TestApp, spawn_unlimited};
use crate::db::Backend;

crate::backend_tests!(common_updates_cost_the_fewest_calls);

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
