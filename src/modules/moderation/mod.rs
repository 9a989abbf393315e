//! Moderation: bans, mutes, kicks and warnings, in the group and through a
//! connection from PM, each checked against the Telegram admin right it
//! needs (the sender's, live, and the bot's), recorded, and announced in
//! the group.

mod duration;
mod sanction;
mod subject;
mod warns;

use crate::auth::Right;
use crate::commands::{Access, Via};
use crate::context::{AppState, Ctx, HandlerError, HandlerResult, Target};
use crate::i18n::{Html, Lang};
use crate::modules::registry::{
    ButtonSpec, CommandSpec, Interests, ModuleSpec, ParsedCommand, Scope,
};
use crate::t;
use sanction::{Acting, Applied, Sanction};
use subject::Subject;

const RESTRICT: Access = Access::Admin(Right::RestrictMembers);
const SETTINGS: Access = Access::Admin(Right::ChangeInfo);

/// A sanction command's declaration.
const fn sanction_command(
    name: &'static str,
    run: crate::modules::registry::SpaceRun,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases: &[],
        scope: Scope::Space {
            access: RESTRICT,
            via: Via::GROUP,
            run,
        },
        in_private_menu: false,
        in_group_menu: true,
        disableable: false,
    }
}

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "moderation",
    aliases: &[
        "mod",
        "bans",
        "ban",
        "warns",
        "warn",
        "moderacion",
        "moderación",
    ],
    help: Some(("module-moderation", "help-moderation")),
    commands: &[
        sanction_command("ban", |ctx, target, command| {
            Box::pin(sanction::command(ctx, target, command, Sanction::Ban))
        }),
        sanction_command("tban", |ctx, target, command| {
            Box::pin(sanction::command(ctx, target, command, Sanction::TempBan))
        }),
        sanction_command("unban", |ctx, target, command| {
            Box::pin(sanction::command(ctx, target, command, Sanction::Unban))
        }),
        sanction_command("kick", |ctx, target, command| {
            Box::pin(sanction::command(ctx, target, command, Sanction::Kick))
        }),
        sanction_command("mute", |ctx, target, command| {
            Box::pin(sanction::command(ctx, target, command, Sanction::Mute))
        }),
        sanction_command("tmute", |ctx, target, command| {
            Box::pin(sanction::command(ctx, target, command, Sanction::TempMute))
        }),
        sanction_command("unmute", |ctx, target, command| {
            Box::pin(sanction::command(ctx, target, command, Sanction::Unmute))
        }),
        CommandSpec::group(
            "warn",
            RESTRICT,
            |ctx, target, command| Box::pin(warns::warn(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "warns",
            Access::Member,
            |ctx, target, command| Box::pin(warns::list(ctx, target, command)),
            true,
        ),
        CommandSpec::group(
            "rmwarn",
            RESTRICT,
            |ctx, target, command| Box::pin(warns::remove(ctx, target, command, false)),
            false,
        ),
        CommandSpec::group(
            "resetwarns",
            RESTRICT,
            |ctx, target, command| Box::pin(warns::remove(ctx, target, command, true)),
            false,
        ),
        CommandSpec::group(
            "warnlimit",
            SETTINGS,
            |ctx, target, command| Box::pin(warns::limit(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "warnmode",
            SETTINGS,
            |ctx, target, command| Box::pin(warns::mode(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "modlog",
            RESTRICT,
            |ctx, target, command| Box::pin(modlog(ctx, target, command)),
            false,
        ),
    ],
    buttons: &[
        ButtonSpec {
            prefix: warns::REMOVE_PREFIX,
            in_groups: true,
            run: |press| Box::pin(warns::remove_button(press)),
        },
        ButtonSpec {
            prefix: sanction::CONFIRM_PREFIX,
            in_groups: true,
            run: |press| Box::pin(sanction::confirm_button(press)),
        },
    ],
    interests: Interests::NONE,
};

/// Carries out an anonymous admin's command once a real admin confirmed it.
async fn confirmed(
    state: &AppState,
    lang: Lang,
    acting: &Acting<'_>,
    command: &str,
    subject: Subject,
    rest: &str,
) -> Result<Applied, HandlerError> {
    if let Some(sanction) = Sanction::by_name(command) {
        return sanction::confirmed_sanction(state, lang, acting, sanction, subject, rest).await;
    }
    match command {
        "warn" => {
            let reason = sanction::reason_of(rest);
            let (given, text, _) = warns::give(state, lang, acting, subject, reason).await?;
            Ok(if given {
                Applied::Done(text)
            } else {
                Applied::Refused(text)
            })
        }
        "rmwarn" | "resetwarns" => {
            let all = command == "resetwarns";
            let text = warns::remove_for(state, lang, acting, &subject, all).await?;
            Ok(Applied::Done(text))
        }
        _ => Ok(Applied::Refused(t!(lang, "mod-confirm-gone"))),
    }
}

/// Reads a guard's action: `delete`, `warn`, `mute`, `kick`, `ban`,
/// `tmute <d>`, `tban <d>` (those `allowed`); the reply explaining a bad
/// one otherwise.
pub fn parse_guard_action(
    lang: Lang,
    args: &str,
    allowed: &[&str],
) -> Result<crate::store::GuardAction, String> {
    use crate::store::GuardAction as A;
    let mut words = args.split_whitespace();
    let mode = words.next().map(str::to_lowercase).unwrap_or_default();
    let bad = || {
        t!(
            lang,
            "guard-action-bad",
            input = crate::format::echo(args.trim()),
            actions = allowed.join(", ")
        )
    };
    if !allowed.contains(&mode.as_str()) {
        return Err(bad());
    }
    let mut timed = || -> Result<u64, String> {
        let word = words.next().ok_or_else(bad)?;
        duration::parse(word).map(|d| d.as_secs()).map_err(|error| {
            t!(
                lang,
                error.locale_key(),
                duration = crate::format::echo(word)
            )
        })
    };
    Ok(match mode.as_str() {
        "delete" => A::Delete,
        "warn" => A::Warn,
        "mute" => A::Mute,
        "kick" => A::Kick,
        "ban" => A::Ban,
        "tmute" => A::TempMute(timed()?),
        "tban" => A::TempBan(timed()?),
        _ => return Err(bad()),
    })
}

/// A guard's action in words ("mute for 2d").
pub fn guard_action_text(lang: Lang, action: crate::store::GuardAction) -> String {
    use crate::store::GuardAction as A;
    let span = |seconds: u64| duration::format(std::time::Duration::from_secs(seconds));
    match action {
        A::Delete => t!(lang, "guard-action-delete"),
        A::Warn => t!(lang, "guard-action-warn"),
        A::Mute => t!(lang, "mod-mode-mute"),
        A::Kick => t!(lang, "mod-mode-kick"),
        A::Ban => t!(lang, "mod-mode-ban"),
        A::TempMute(seconds) => t!(lang, "mod-mode-tmute", duration = span(seconds)),
        A::TempBan(seconds) => t!(lang, "mod-mode-tban", duration = span(seconds)),
    }
}

/// A guard's sanction on a member (the blacklist's, antiflood's), the bot
/// acting: checked and recorded as an admin's would be. The announcement
/// for the group, or `None` when there is nothing to announce (`Delete`) or
/// the sanction could not be applied (logged: admins hear of a missing
/// right on the setting commands).
pub async fn punish(
    state: &AppState,
    lang: Lang,
    chat_id: i64,
    title: &str,
    user: &teloxide::types::User,
    action: crate::store::GuardAction,
    reason: String,
) -> Result<Option<String>, HandlerError> {
    use crate::store::GuardAction as A;
    let bot = teloxide::types::User {
        id: state.auth.bot_id(),
        is_bot: true,
        first_name: state.bot_username.clone(),
        last_name: None,
        username: Some(state.bot_username.clone()),
        language_code: None,
        is_premium: false,
        added_to_attachment_menu: false,
    };
    let acting = Acting {
        chat_id,
        title,
        actor: &bot,
        via_connection: false,
    };
    let subject = Subject {
        id: user.id.0 as i64,
        name: Some(user.first_name.clone()),
    };
    let (sanction, duration) = match action {
        A::Delete => return Ok(None),
        A::Warn => {
            let (_, text, _) = warns::give(state, lang, &acting, subject, Some(reason)).await?;
            return Ok(Some(text));
        }
        A::Mute => (Sanction::Mute, None),
        A::Kick => (Sanction::Kick, None),
        A::Ban => (Sanction::Ban, None),
        A::TempMute(seconds) => (Sanction::TempMute, Some(seconds)),
        A::TempBan(seconds) => (Sanction::TempBan, Some(seconds)),
    };
    let request = sanction::Request {
        acting,
        subject,
        sanction,
        duration: duration.map(std::time::Duration::from_secs),
        reason: Some(reason),
    };
    match sanction::apply(state, lang, &request).await? {
        Applied::Done(text) => Ok(Some(text)),
        Applied::Refused(why) => {
            tracing::debug!(why, "a guard's sanction was not applied");
            Ok(None)
        }
    }
}

/// How many actions `/modlog` shows.
const MODLOG_LENGTH: u32 = 20;

/// `/modlog`: the group's latest actions, newest first.
async fn modlog(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let actions = ctx.store().recent_actions(chat_id, MODLOG_LENGTH).await?;
    if actions.is_empty() {
        ctx.reply(t!(ctx.lang, "mod-log-empty", title = &target.title))
            .await?;
        return Ok(());
    }
    let lines: Vec<String> = actions
        .iter()
        .map(|action| {
            let when = chrono::DateTime::from_timestamp(action.at, 0)
                .map(|at| at.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            let who = |id: i64| Subject { id, name: None }.mention();
            let mut line = format!(
                "<code>{when}</code> {} → <b>{}</b> {}",
                who(action.actor_id),
                crate::i18n::escape(&action.action),
                who(action.target_id)
            );
            if let Some(until) = action
                .until
                .and_then(|until| chrono::DateTime::from_timestamp(until, 0))
            {
                line.push_str(&format!(" ⏱ {}", until.format("%Y-%m-%d %H:%M")));
            }
            if action.via_connection {
                line.push_str(" 🔗");
            }
            if let Some(reason) = &action.reason {
                line.push_str(&format!(" — {}", crate::i18n::escape(reason)));
            }
            line
        })
        .collect();
    ctx.reply(t!(
        ctx.lang,
        "mod-log",
        title = &target.title,
        actions = Html(lines.join("\n"))
    ))
    .await?;
    Ok(())
}
