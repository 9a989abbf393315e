//! Antiflood: a member who sends too many messages in a row (nobody else
//! in between), or too many within a time, is sanctioned.
//!
//! Counting is in the database (`Store::flood_hit`): with several
//! castellans behind one webhook a chat's messages reach different
//! replicas, and only a shared count is exact. It costs one round trip per
//! message, in chats that set antiflood only; the others pay nothing.

use std::time::Duration;

use crate::auth::Right;
use crate::commands::Access;
use crate::context::{Ctx, HandlerError, HandlerResult, Target, send_html};
use crate::guards::ChatGuards;
use crate::i18n::{Html, Lang};
use crate::modules::registry::{
    CommandSpec, Guard, Guarded, Inspected, Interests, ModuleSpec, ParsedCommand, Stage, Verdict,
};
use crate::modules::{guard_notes, moderation};
use crate::store::FloodSettings;
use crate::t;

const SETTINGS: Access = Access::Admin(Right::ChangeInfo);
const ACTIONS: [&str; 5] = ["mute", "kick", "ban", "tmute", "tban"];
/// The bounds of `/setflood` and of `/setfloodtimer`'s count.
const FEWEST: u32 = 2;
const MOST: u32 = 200;
/// The bounds of `/setfloodtimer`'s duration.
const SHORTEST: Duration = Duration::from_secs(1);
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "antiflood",
    aliases: &["flood", "antiinundacion"],
    help: Some(("module-antiflood", "help-antiflood")),
    commands: &[
        CommandSpec::group(
            "setflood",
            SETTINGS,
            |ctx, target, command| Box::pin(set_flood(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "setfloodtimer",
            SETTINGS,
            |ctx, target, command| Box::pin(set_timer(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "setfloodmode",
            SETTINGS,
            |ctx, target, command| Box::pin(set_mode(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "flood",
            Access::Member,
            |ctx, target, command| Box::pin(show(ctx, target, command)),
            true,
        ),
    ],
    buttons: &[],
    interests: Interests {
        guard: Some(Guard {
            stage: Stage::Flood,
            fires,
            run: |guarded| Box::pin(count(guarded)),
        }),
        ..Interests::NONE
    },
};

fn fires(guards: &ChatGuards, inspected: &Inspected<'_>) -> bool {
    guards.counts_flood() && inspected.msg.from.is_some()
}

/// Counts a member's message; past a limit, the group's flood action.
/// Where the bot cannot restrict members nothing is counted: it could not
/// act (`/setflood` and `/flood` say so), and asking who is exempt would
/// cost a call per message where the bot is no admin (nothing is cached
/// there).
async fn count(guarded: &Guarded<'_>) -> Result<Verdict, HandlerError> {
    if !bot_can_restrict(guarded).await || guarded.exempt().await? {
        return Ok(Verdict::Pass);
    }
    let (msg, state, flood) = (guarded.msg, guarded.state, &guarded.guards.flood);
    let Some(user) = msg.from.as_ref() else {
        return Ok(Verdict::Pass);
    };
    let chat_id = msg.chat.id.0;
    let window_ms = flood
        .timer
        .map(|(_, seconds)| i64::try_from(seconds.saturating_mul(1000)).unwrap_or(i64::MAX));
    let user_id = user.id.0 as i64;
    let counted = state
        .store
        .flood_hit(chat_id, user_id, crate::store::unix_ms(), window_ms)
        .await?;
    let in_a_row = flood.consecutive.is_some_and(|n| counted.consecutive >= n);
    let in_time = flood.timer.is_some_and(|(n, _)| counted.in_window >= n);
    if !in_a_row && !in_time {
        return Ok(Verdict::Pass);
    }
    state.store.flood_reset(chat_id, user_id).await?;
    let lang = Lang::from_code(user.language_code.as_deref());
    let title = msg.chat.title().unwrap_or_default();
    let reason = t!(lang, "flood-reason");
    if let Some(text) =
        moderation::punish(state, lang, chat_id, title, user, flood.action, reason).await?
    {
        send_html(&state.telegram, msg.chat.id, text, None, None, lang)?;
    }
    Ok(Verdict::Stop)
}

/// Whether the bot may restrict members in the guarded chat: known from
/// the member cache (a plain member too), or asked once and then kept.
async fn bot_can_restrict(guarded: &Guarded<'_>) -> bool {
    let auth = &guarded.state.auth;
    let standing = auth.membership(guarded.msg.chat.id.0, auth.bot_id()).await;
    standing.is_ok_and(|standing| standing.holds(Right::RestrictMembers))
}

fn settings_text(lang: Lang, title: &str, flood: &FloodSettings) -> String {
    let off = || t!(lang, "flood-off");
    let consecutive = flood
        .consecutive
        .map_or_else(off, |n| t!(lang, "flood-consecutive", count = n as usize));
    let timer = flood.timer.map_or_else(off, |(n, seconds)| {
        t!(
            lang,
            "flood-timer",
            count = n as usize,
            duration = humantime::format_duration(Duration::from_secs(seconds)).to_string()
        )
    });
    t!(
        lang,
        "flood-settings",
        title = title,
        consecutive = Html(consecutive),
        timer = Html(timer),
        action = Html(moderation::guard_action_text(lang, flood.action))
    )
}

/// Saves the chat's new flood settings and says them, with what keeps
/// them from working.
async fn save(ctx: &Ctx<'_>, target: &Target, chat_id: i64, flood: FloodSettings) -> HandlerResult {
    ctx.store().set_flood_settings(chat_id, &flood).await?;
    ctx.state.guards_changed(chat_id).await?;
    let mut text = settings_text(ctx.lang, &target.title, &flood);
    if flood.consecutive.is_some() || flood.timer.is_some() {
        let needs = [Right::RestrictMembers];
        text.push_str(&guard_notes(ctx, chat_id, &target.title, &needs, true).await?);
    }
    ctx.reply(text).await?;
    Ok(())
}

fn is_off(word: &str) -> bool {
    matches!(word.to_lowercase().as_str(), "off" | "no" | "0")
}

/// `/setflood <n|off>`
async fn set_flood(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let word = command.args.split_whitespace().next().unwrap_or_default();
    let mut flood = ctx.store().flood_settings(chat_id).await?;
    flood.consecutive = if is_off(word) {
        None
    } else {
        match word.parse::<u32>() {
            Ok(n) if (FEWEST..=MOST).contains(&n) => Some(n),
            _ => {
                ctx.reply(t!(
                    ctx.lang,
                    "flood-bad-count",
                    input = crate::format::echo(word),
                    min = FEWEST as usize,
                    max = MOST as usize
                ))
                .await?;
                return Ok(());
            }
        }
    };
    save(ctx, target, chat_id, flood).await
}

/// `/setfloodtimer <count> <duration>|off`
async fn set_timer(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let mut words = command.args.split_whitespace();
    let first = words.next().unwrap_or_default();
    let mut flood = ctx.store().flood_settings(chat_id).await?;
    if is_off(first) {
        flood.timer = None;
        return save(ctx, target, chat_id, flood).await;
    }
    let most = MOST.min(crate::store::FLOOD_WINDOW_LIMIT);
    let count = first
        .parse::<u32>()
        .ok()
        .filter(|n| (FEWEST..=most).contains(n));
    let window = words
        .next()
        .and_then(|word| humantime::parse_duration(word).ok())
        .filter(|d| (SHORTEST..=LONGEST).contains(d));
    let (Some(count), Some(window)) = (count, window) else {
        ctx.reply(t!(
            ctx.lang,
            "flood-timer-usage",
            min = FEWEST as usize,
            max = most as usize
        ))
        .await?;
        return Ok(());
    };
    flood.timer = Some((count, window.as_secs()));
    save(ctx, target, chat_id, flood).await
}

/// `/setfloodmode <mute|kick|ban|tmute <d>|tban <d>>`
async fn set_mode(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let action = match moderation::parse_guard_action(ctx.lang, command.args, &ACTIONS) {
        Ok(action) => action,
        Err(text) => {
            ctx.reply(text).await?;
            return Ok(());
        }
    };
    let mut flood = ctx.store().flood_settings(chat_id).await?;
    flood.action = action;
    save(ctx, target, chat_id, flood).await
}

/// `/flood`
async fn show(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let flood = ctx.store().flood_settings(chat_id).await?;
    let mut text = settings_text(ctx.lang, &target.title, &flood);
    if flood.consecutive.is_some() || flood.timer.is_some() {
        let needs = [Right::RestrictMembers];
        text.push_str(&guard_notes(ctx, chat_id, &target.title, &needs, true).await?);
    }
    ctx.reply(text).await?;
    Ok(())
}
