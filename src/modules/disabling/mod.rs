//! Disabling: a group turns members' commands off (`/disable id rules`);
//! members' uses are then ignored (their messages deleted if the group
//! asks), admins keep them. Which commands may be disabled is each
//! command's declaration (`disableable`); the connection commands never.

use crate::auth::Right;
use crate::commands::Access;
use crate::context::{Ctx, HandlerResult, Target};
use crate::i18n::Html;
use crate::modules::registry::{self, CommandSpec, Interests, ModuleSpec, ParsedCommand};
use crate::t;

const SETTINGS: Access = Access::Admin(Right::ChangeInfo);

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "disabling",
    aliases: &["disable", "disabled", "deshabilitar"],
    help: Some(("module-disabling", "help-disabling")),
    commands: &[
        CommandSpec::group(
            "disable",
            SETTINGS,
            |ctx, target, command| Box::pin(switch(ctx, target, command, true)),
            false,
        ),
        CommandSpec::group(
            "enable",
            SETTINGS,
            |ctx, target, command| Box::pin(switch(ctx, target, command, false)),
            false,
        ),
        CommandSpec::group(
            "disabled",
            Access::Member,
            |ctx, target, command| Box::pin(disabled(ctx, target, command)),
            true,
        ),
        CommandSpec::group(
            "disableable",
            Access::Member,
            |ctx, _, _| Box::pin(disableable(ctx)),
            true,
        ),
        CommandSpec::group(
            "disabledel",
            SETTINGS,
            |ctx, target, command| Box::pin(delete_setting(ctx, target, command)),
            false,
        ),
    ],
    buttons: &[],
    interests: Interests::NONE,
};

fn names(list: &[String]) -> String {
    list.iter()
        .map(|name| format!("/{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/disable <command…>` and `/enable <command…>`.
async fn switch(
    ctx: &Ctx<'_>,
    target: &Target,
    command: &ParsedCommand<'_>,
    disable: bool,
) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let mut known = Vec::new();
    let mut refused = Vec::new();
    for word in command.args.split_whitespace() {
        let name = word.trim_start_matches('/').to_lowercase();
        match registry::lookup(&name) {
            Some(spec) if spec.disableable => {
                if !known.contains(&spec.name.to_owned()) {
                    known.push(spec.name.to_owned());
                }
            }
            _ => refused.push(crate::format::echo(word)),
        }
    }
    if known.is_empty() && refused.is_empty() {
        let key = if disable {
            "disable-usage"
        } else {
            "enable-usage"
        };
        ctx.reply(t!(ctx.lang, key)).await?;
        return Ok(());
    }
    let mut lines = Vec::new();
    if !known.is_empty() {
        if disable {
            ctx.store().disable_commands(chat_id, &known).await?;
        } else {
            ctx.store().enable_commands(chat_id, &known).await?;
        }
        ctx.state.guards_changed(chat_id).await?;
        let key = if disable {
            "disabled-now"
        } else {
            "enabled-now"
        };
        lines.push(t!(
            ctx.lang,
            key,
            title = &target.title,
            commands = names(&known)
        ));
    }
    if !refused.is_empty() {
        lines.push(t!(
            ctx.lang,
            "disable-not-disableable",
            commands = refused.join(", ")
        ));
    }
    ctx.reply(lines.join("\n")).await?;
    Ok(())
}

/// `/disabled`
async fn disabled(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let list = ctx.store().disabled_commands(chat_id).await?;
    let text = if list.is_empty() {
        t!(ctx.lang, "disabled-none", title = &target.title)
    } else {
        let delete = ctx.store().disabled_delete(chat_id).await?;
        let mut text = t!(
            ctx.lang,
            "disabled-list",
            title = &target.title,
            commands = names(&list)
        );
        if delete {
            text.push('\n');
            text.push_str(&t!(ctx.lang, "disabledel-on-note"));
        }
        text
    };
    ctx.reply(text).await?;
    Ok(())
}

/// `/disableable`: what a group may turn off, from the registry.
async fn disableable(ctx: &Ctx<'_>) -> HandlerResult {
    let lines: Vec<String> = registry::commands()
        .filter(|spec| spec.disableable)
        .map(|spec| spec.describe(ctx.lang))
        .collect();
    ctx.reply(t!(
        ctx.lang,
        "disableable-list",
        commands = Html(lines.join("\n"))
    ))
    .await?;
    Ok(())
}

/// `/disabledel [on|off]`
async fn delete_setting(
    ctx: &Ctx<'_>,
    target: &Target,
    command: &ParsedCommand<'_>,
) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let option = crate::modules::connections::parse_allow_option(command.args);
    use crate::modules::connections::AllowOption;
    let text = match option {
        AllowOption::Show => {
            let on = ctx.store().disabled_delete(chat_id).await?;
            let key = if on {
                "disabledel-is-on"
            } else {
                "disabledel-is-off"
            };
            t!(ctx.lang, key, title = &target.title)
        }
        AllowOption::Set(on) => {
            ctx.store().set_disabled_delete(chat_id, on).await?;
            ctx.state.guards_changed(chat_id).await?;
            let key = if on {
                "disabledel-set-on"
            } else {
                "disabledel-set-off"
            };
            let mut text = t!(ctx.lang, key, title = &target.title);
            if on {
                let needs = [Right::DeleteMessages];
                text.push_str(
                    &crate::modules::guard_notes(ctx, chat_id, &target.title, &needs, false)
                        .await?,
                );
            }
            text
        }
        AllowOption::Unknown(other) => t!(
            ctx.lang,
            "onoff-bad-option",
            option = crate::format::echo(&other)
        ),
    };
    ctx.reply(text).await?;
    Ok(())
}
