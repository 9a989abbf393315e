//! A group's life as castellan keeps it: the bot added, promoted or
//! removed, members' standing changing, the group renamed or upgraded to a
//! supergroup. Users never address this module; Telegram does.

use teloxide::types::{ChatMemberUpdated, Message, User, UserId};

use crate::auth::Membership;
use crate::context::{AppState, HandlerError, HandlerResult, is_group};
use crate::directory::known_user;
use crate::modules::registry::{Interests, ModuleSpec};

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "lifecycle",
    aliases: &[],
    help: None,
    commands: &[],
    buttons: &[],
    interests: Interests {
        chat_member: Some(|state, update| Box::pin(member_changed(state, update))),
        my_chat_member: Some(|state, update| Box::pin(bot_changed(state, update))),
        service_message: Some(|state, msg| Box::pin(chat_changed(state, msg))),
        observe: Some((directory_news, |state, msg| Box::pin(learn(state, msg)))),
        guard: None,
    },
};

/// The people a group message shows: its sender, the sender of the
/// message it replies to, and those it says joined. Stand-ins and
/// messages sent as a chat are no one.
fn people(msg: &Message) -> impl Iterator<Item = &User> {
    person(msg)
        .into_iter()
        .chain(msg.reply_to_message().and_then(person))
        .chain(msg.new_chat_members().unwrap_or_default())
}

fn person(msg: &Message) -> Option<&User> {
    msg.from.as_ref().filter(|_| msg.sender_chat.is_none())
}

/// Whether a group message shows someone the directory does not know as
/// they are now: the check on every group message, without a query.
fn directory_news(state: &AppState, msg: &Message) -> bool {
    is_group(&msg.chat) && people(msg).any(|user| state.directory.is_news(msg.chat.id.0, user))
}

/// Writes what is news to the directory: one write per person who changed.
async fn learn(state: &AppState, msg: &Message) -> HandlerResult {
    let chat_id = msg.chat.id.0;
    for user in people(msg) {
        learn_user(state, chat_id, user).await?;
    }
    Ok(())
}

async fn learn_user(state: &AppState, chat_id: i64, user: &User) -> HandlerResult {
    if state.directory.is_news(chat_id, user) {
        let at = crate::store::unix_ms() / 1000;
        state
            .store
            .learn_user(chat_id, &known_user(user), at)
            .await?;
        state.directory.wrote(chat_id, user);
    }
    Ok(())
}

/// A member's standing changed (Telegram reports it where the bot is an
/// administrator): what this castellan knows of them is replaced, and the
/// others on the database forget what they know of the chat.
async fn member_changed(state: &AppState, update: &ChatMemberUpdated) -> HandlerResult {
    let chat_id = update.chat.id.0;
    let old = Membership::of(&update.old_chat_member);
    let new = Membership::of(&update.new_chat_member);
    let admins = matches!(old, Membership::Admin(_)) || matches!(new, Membership::Admin(_));
    let user: UserId = update.new_chat_member.user.id;
    state.auth.member_changed(chat_id, user, new, admins);
    // Others forget the whole chat's admins only when an admin changed; a
    // member joining or leaving (a raid of joins) drops that member alone.
    if admins {
        state.store.announce_admins_changed(chat_id).await?;
    } else {
        let user_id = i64::try_from(user.0).unwrap_or(i64::MAX);
        state
            .store
            .announce_member_changed(chat_id, user_id)
            .await?;
    }
    learn_user(state, chat_id, &update.new_chat_member.user).await
}

/// The bot's own standing changed: its admin status decides what is
/// cached, and its removal ends the group's connections. The durable change
/// comes first: should the announcement to the other castellans fail, the
/// connections have ended all the same, and the update is done again.
async fn bot_changed(state: &AppState, update: &ChatMemberUpdated) -> HandlerResult {
    let chat_id = update.chat.id.0;
    state
        .auth
        .bot_changed(chat_id, Membership::of(&update.new_chat_member));
    let in_group = is_group(&update.chat);
    if in_group && !update.new_chat_member.is_present() {
        let ended = state.store.end_connections_to(chat_id).await?;
        tracing::info!(
            chat = chat_id,
            ended,
            "the bot is no longer in a group; its connections ended"
        );
    }
    state.store.announce_admins_changed(chat_id).await?;
    Ok(())
}

/// Service messages that change what castellan keeps about a group: its
/// upgrade to a supergroup (either message may come first, twice, or
/// alone: the move is idempotent) and its title.
async fn chat_changed(state: &AppState, msg: &Message) -> Result<bool, HandlerError> {
    let moved = match (msg.migrate_to_chat_id(), msg.migrate_from_chat_id()) {
        (Some(to), _) => Some((msg.chat.id.0, to.0)),
        (None, Some(from)) => Some((from.0, msg.chat.id.0)),
        (None, None) => None,
    };
    if let Some((from, to)) = moved {
        group_upgraded(state, from, to).await?;
        return Ok(true);
    }
    if let Some(title) = msg.new_chat_title() {
        state.store.rename_chat(msg.chat.id.0, title).await?;
        return Ok(true);
    }
    Ok(false)
}

/// A group became a supergroup: its records move to the new id, and what
/// was cached under the old one is forgotten, here and in the others. Also
/// called when a Telegram call learns of the upgrade first.
pub async fn group_upgraded(state: &AppState, from: i64, to: i64) -> HandlerResult {
    tracing::info!(from, to, "group upgraded to a supergroup");
    state.auth.invalidate(from);
    state.store.migrate_chat(from, to).await?;
    state.store.announce_admins_changed(from).await?;
    Ok(())
}
