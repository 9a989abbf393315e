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
    }
}

const fn space_command(
    name: &'static str,
    access: Access,
    run: crate::modules::registry::SpaceRun,
    in_private_menu: bool,
) -> CommandSpec {
    CommandSpec {
        name,
        aliases: &[],
        scope: Scope::Space {
            access,
            via: Via::GROUP,
            run,
        },
        in_private_menu,
        in_group_menu: true,
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
        space_command(
            "warn",
            RESTRICT,
            |ctx, target, command| Box::pin(warns::warn(ctx, target, command)),
            false,
        ),
        space_command(
            "warns",
            Access::Member,
            |ctx, target, command| Box::pin(warns::list(ctx, target, command)),
            true,
        ),
        space_command(
            "rmwarn",
            RESTRICT,
            |ctx, target, command| Box::pin(warns::remove(ctx, target, command, false)),
            false,
        ),
        space_command(
            "resetwarns",
            RESTRICT,
            |ctx, target, command| Box::pin(warns::remove(ctx, target, command, true)),
            false,
        ),
        space_command(
            "warnlimit",
            SETTINGS,
            |ctx, target, command| Box::pin(warns::limit(ctx, target, command)),
            false,
        ),
        space_command(
            "warnmode",
            SETTINGS,
            |ctx, target, command| Box::pin(warns::mode(ctx, target, command)),
            false,
        ),
        space_command(
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
