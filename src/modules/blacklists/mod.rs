//! Blacklists: words and phrases (with `*` standing for the rest of a
//! word) a group does not want; a member's message holding one is deleted
//! and the group's blacklist action applied. Matching is the compiled
//! guards' (one automaton per chat).

use crate::auth::Right;
use crate::commands::Access;
use crate::context::{Ctx, HandlerError, HandlerResult, Target, send_html};
use crate::guards::{ChatGuards, Hit, fold};
use crate::i18n::{Html, Lang, escape};
use crate::modules::registry::{
    CommandSpec, Guard, Guarded, Inspected, Interests, ModuleSpec, ParsedCommand, Stage, Verdict,
};
use crate::modules::{guard_notes, moderation};
use crate::t;

const SETTINGS: Access = Access::Admin(Right::ChangeInfo);
/// The most entries a group keeps.
pub const MAX_ENTRIES: usize = 500;
const ACTIONS: [&str; 7] = ["delete", "warn", "mute", "kick", "ban", "tmute", "tban"];

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "blacklists",
    aliases: &["blacklist", "lista negra"],
    help: Some(("module-blacklists", "help-blacklists")),
    commands: &[
        CommandSpec::group(
            "addblacklist",
            SETTINGS,
            |ctx, target, command| Box::pin(change(ctx, target, command, true)),
            false,
        ),
        CommandSpec::group(
            "rmblacklist",
            SETTINGS,
            |ctx, target, command| Box::pin(change(ctx, target, command, false)),
            false,
        ),
        CommandSpec::group(
            "blacklist",
            Access::Member,
            |ctx, target, command| Box::pin(list(ctx, target, command)),
            true,
        ),
        CommandSpec::group(
            "blacklistmode",
            SETTINGS,
            |ctx, target, command| Box::pin(mode(ctx, target, command)),
            false,
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

fn fires(_: &ChatGuards, inspected: &Inspected<'_>) -> bool {
    inspected
        .hits
        .iter()
        .any(|hit| matches!(hit, Hit::Blacklist(_)))
}

/// A member's message holding an entry: deleted, and the action applied.
async fn enforce(guarded: &Guarded<'_>) -> Result<Verdict, HandlerError> {
    if guarded.exempt().await? {
        return Ok(Verdict::Pass);
    }
    let verdict = crate::modules::locks::delete(guarded).await?;
    let (msg, state) = (guarded.msg, guarded.state);
    let Some(user) = msg.from.as_ref() else {
        return Ok(verdict);
    };
    let lang = Lang::from_code(user.language_code.as_deref());
    let title = msg.chat.title().unwrap_or_default();
    let reason = t!(lang, "blacklist-reason");
    let action = guarded.guards.blacklist_action;
    if let Some(text) =
        moderation::punish(state, lang, msg.chat.id.0, title, user, action, reason).await?
    {
        send_html(&state.telegram, msg.chat.id, text, None, None, lang)?;
    }
    Ok(Verdict::Stop)
}

/// The entries of `/addblacklist` or `/rmblacklist`: one per line, folded.
fn entries(args: &str) -> Vec<String> {
    let mut entries: Vec<String> = Vec::new();
    for line in args.lines() {
        let entry = fold(&line.split_whitespace().collect::<Vec<_>>().join(" "));
        if !entry.is_empty() && entry.chars().any(|c| c != '*') && !entries.contains(&entry) {
            entries.push(entry);
        }
    }
    entries
}

fn code_list(entries: &[String]) -> String {
    entries
        .iter()
        .map(|e| format!("<code>{}</code>", escape(e)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/addblacklist <entry per line>` and `/rmblacklist <entry per line>`.
async fn change(
    ctx: &Ctx<'_>,
    target: &Target,
    command: &ParsedCommand<'_>,
    add: bool,
) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let entries = entries(command.args);
    if entries.is_empty() {
        ctx.reply(t!(ctx.lang, "blacklist-usage", command = command.spec.name))
            .await?;
        return Ok(());
    }
    let text = if add {
        let existing = ctx.store().blacklist(chat_id).await?;
        let new = entries.iter().filter(|e| !existing.contains(e)).count();
        if existing.len() + new > MAX_ENTRIES {
            ctx.reply(t!(
                ctx.lang,
                "blacklist-too-many",
                title = &target.title,
                max = MAX_ENTRIES
            ))
            .await?;
            return Ok(());
        }
        ctx.store().add_blacklist(chat_id, &entries).await?;
        let mut text = t!(
            ctx.lang,
            "blacklist-added",
            title = &target.title,
            entries = Html(code_list(&entries))
        );
        let needs = [Right::DeleteMessages];
        text.push_str(&guard_notes(ctx, chat_id, &target.title, &needs, true).await?);
        text
    } else {
        let removed = ctx.store().remove_blacklist(chat_id, &entries).await?;
        t!(
            ctx.lang,
            "blacklist-removed",
            title = &target.title,
            count = removed as usize
        )
    };
    ctx.state.guards_changed(chat_id).await?;
    ctx.reply(text).await?;
    Ok(())
}

/// `/blacklist`
async fn list(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let entries = ctx.store().blacklist(chat_id).await?;
    let action = ctx.store().blacklist_action(chat_id).await?;
    let action = Html(moderation::guard_action_text(ctx.lang, action));
    let text = if entries.is_empty() {
        t!(ctx.lang, "blacklist-none", title = &target.title)
    } else {
        let lines: Vec<String> = entries
            .iter()
            .map(|e| format!("• <code>{}</code>", escape(e)))
            .collect();
        t!(
            ctx.lang,
            "blacklist-list",
            title = &target.title,
            action = action,
            entries = Html(lines.join("\n"))
        )
    };
    ctx.reply(text).await?;
    Ok(())
}

/// `/blacklistmode [delete|warn|mute|kick|ban|tmute <d>|tban <d>]`
async fn mode(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    if command.args.trim().is_empty() {
        let action = ctx.store().blacklist_action(chat_id).await?;
        let action = Html(moderation::guard_action_text(ctx.lang, action));
        ctx.reply(t!(
            ctx.lang,
            "blacklistmode-is",
            title = &target.title,
            action = action
        ))
        .await?;
        return Ok(());
    }
    let action = match moderation::parse_guard_action(ctx.lang, command.args, &ACTIONS) {
        Ok(action) => action,
        Err(text) => {
            ctx.reply(text).await?;
            return Ok(());
        }
    };
    ctx.store().set_blacklist_action(chat_id, action).await?;
    ctx.state.guards_changed(chat_id).await?;
    let mut text = t!(
        ctx.lang,
        "blacklistmode-set",
        title = &target.title,
        action = Html(moderation::guard_action_text(ctx.lang, action))
    );
    let needs = [Right::DeleteMessages, Right::RestrictMembers];
    let needs = if matches!(
        action,
        crate::store::GuardAction::Delete | crate::store::GuardAction::Warn
    ) {
        &needs[..1]
    } else {
        &needs[..]
    };
    text.push_str(&guard_notes(ctx, chat_id, &target.title, needs, true).await?);
    ctx.reply(text).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_line() {
        assert_eq!(
            entries("Casino\n  buy*now \n\n*\ncasino"),
            vec!["casino".to_owned(), "buy*now".into()]
        );
    }
}
