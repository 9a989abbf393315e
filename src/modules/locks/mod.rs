//! Locks: a group forbids kinds of messages (stickers, links, forwards…);
//! a member's locked message is deleted, and a bot a member adds while
//! bots are locked is removed. Admins, anonymous admins and the linked
//! channel are exempt.

use teloxide::payloads::{BanChatMember, DeleteMessage};

use crate::auth::Right;
use crate::commands::Access;
use crate::context::{Ctx, HandlerError, HandlerResult, Target};
use crate::guards::{LockKind, added_bots};
use crate::modules::guard_notes;
use crate::modules::registry::{
    CommandSpec, Guard, Guarded, Inspected, Interests, ModuleSpec, ParsedCommand, Stage, Verdict,
};
use crate::t;
use crate::telegram::Refusal;

const SETTINGS: Access = Access::Admin(Right::ChangeInfo);

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "locks",
    aliases: &["lock", "bloqueos"],
    help: Some(("module-locks", "help-locks")),
    commands: &[
        CommandSpec::group(
            "lock",
            SETTINGS,
            |ctx, target, command| Box::pin(switch(ctx, target, command, true)),
            false,
        ),
        CommandSpec::group(
            "unlock",
            SETTINGS,
            |ctx, target, command| Box::pin(switch(ctx, target, command, false)),
            false,
        ),
        CommandSpec::group(
            "locks",
            Access::Member,
            |ctx, target, command| Box::pin(show(ctx, target, command)),
            true,
        ),
        CommandSpec::group(
            "locktypes",
            Access::Member,
            |ctx, _, _| Box::pin(types(ctx)),
            true,
        ),
    ],
    buttons: &[],
    interests: Interests {
        guard: Some(Guard {
            stage: Stage::Remove,
            fires,
            run: |guarded| Box::pin(enforce(guarded)),
        }),
        ..Interests::NONE
    },
};

/// What locks need of the bot: deleting, and removing added bots.
const NEEDS: [Right; 2] = [Right::DeleteMessages, Right::RestrictMembers];

fn fires(guards: &crate::guards::ChatGuards, inspected: &Inspected<'_>) -> bool {
    guards.locked(inspected.kinds)
        || (guards.locks & LockKind::Bot.bit() != 0 && added_bots(inspected.msg).next().is_some())
}

/// A locked message from someone not exempt: deleted; a bot they added
/// while bots are locked: removed.
async fn enforce(guarded: &Guarded<'_>) -> Result<Verdict, HandlerError> {
    if guarded.exempt().await? {
        return Ok(Verdict::Pass);
    }
    let (tg, msg) = (&guarded.state.telegram, guarded.msg);
    if guarded.guards.locks & LockKind::Bot.bit() != 0 {
        for bot in added_bots(msg) {
            if let Err(error) = tg.call(BanChatMember::new(msg.chat.id, bot.id)).await {
                tracing::debug!(%error, "could not remove a bot a member added");
            }
        }
    }
    if !guarded.guards.locked(guarded.inspected.kinds) {
        return Ok(Verdict::Pass);
    }
    delete(guarded).await
}

/// Deletes the guarded message; `Stop` once it is gone. A bot without the
/// right is told to admins on the settings commands, not here.
pub async fn delete(guarded: &Guarded<'_>) -> Result<Verdict, HandlerError> {
    let msg = guarded.msg;
    match guarded
        .state
        .telegram
        .call(DeleteMessage::new(msg.chat.id, msg.id))
        .await
    {
        Ok(_) => Ok(Verdict::Stop),
        Err(error) if error.is_unavailable() => Err(error.into()),
        Err(error) => {
            let gone = error.refusal() == Some(Refusal::MessageGone);
            tracing::debug!(%error, "could not delete a guarded message");
            Ok(if gone { Verdict::Stop } else { Verdict::Pass })
        }
    }
}

/// The lock kinds named in `args`, and the words that name none.
fn kinds_in(args: &str) -> (Vec<LockKind>, Vec<String>) {
    let mut kinds = Vec::new();
    let mut unknown = Vec::new();
    for word in args.split_whitespace() {
        match LockKind::by_name(word) {
            Some(kind) if !kinds.contains(&kind) => kinds.push(kind),
            Some(_) => {}
            None => unknown.push(crate::format::echo(word)),
        }
    }
    (kinds, unknown)
}

fn list(kinds: impl Iterator<Item = LockKind>) -> String {
    kinds.map(LockKind::name).collect::<Vec<_>>().join(", ")
}

/// `/lock <type…>` and `/unlock <type…>`.
async fn switch(
    ctx: &Ctx<'_>,
    target: &Target,
    command: &ParsedCommand<'_>,
    lock: bool,
) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let (kinds, unknown) = kinds_in(command.args);
    if kinds.is_empty() {
        let mut text = t!(ctx.lang, "locks-usage", command = command.spec.name);
        if !unknown.is_empty() {
            text = t!(ctx.lang, "locks-unknown", kinds = unknown.join(", "));
        }
        ctx.reply(text).await?;
        return Ok(());
    }
    let bits = kinds.iter().fold(0, |bits, kind| bits | kind.bit());
    let before = ctx.store().locks(chat_id).await?;
    let after = if lock { before | bits } else { before & !bits };
    ctx.store().set_locks(chat_id, after).await?;
    ctx.state.guards_changed(chat_id).await?;
    let key = if lock {
        "locks-locked"
    } else {
        "locks-unlocked"
    };
    let mut text = t!(
        ctx.lang,
        key,
        title = &target.title,
        kinds = list(kinds.into_iter())
    );
    if !unknown.is_empty() {
        text.push('\n');
        text.push_str(&t!(ctx.lang, "locks-unknown", kinds = unknown.join(", ")));
    }
    if lock {
        text.push_str(&guard_notes(ctx, chat_id, &target.title, &NEEDS[..1], true).await?);
    }
    ctx.reply(text).await?;
    Ok(())
}

/// `/locks`: what is locked, and what keeps the locks from working.
async fn show(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let bits = ctx.store().locks(chat_id).await?;
    let locked = LockKind::ALL
        .into_iter()
        .filter(|kind| bits & kind.bit() != 0);
    let mut text = if bits == 0 {
        t!(ctx.lang, "locks-none", title = &target.title)
    } else {
        t!(
            ctx.lang,
            "locks-list",
            title = &target.title,
            kinds = list(locked)
        )
    };
    if bits != 0 {
        text.push_str(&guard_notes(ctx, chat_id, &target.title, &NEEDS[..1], true).await?);
    }
    ctx.reply(text).await?;
    Ok(())
}

/// `/locktypes`
async fn types(ctx: &Ctx<'_>) -> HandlerResult {
    ctx.reply(t!(
        ctx.lang,
        "locks-types",
        kinds = list(LockKind::ALL.into_iter())
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_arguments() {
        let (kinds, unknown) = kinds_in("sticker GIFs url url nonsense");
        assert_eq!(kinds, vec![LockKind::Sticker, LockKind::Gif, LockKind::Url]);
        assert_eq!(unknown, vec!["nonsense".to_owned()]);
    }
}
