//! Rules: one formatted text per chat.

use crate::auth::Right;
use crate::commands::{Access, Via};
use crate::context::{Ctx, HandlerResult, Target};
use crate::format::{message_tail, replied_content, stored_to_html};
use crate::i18n::Html;
use crate::modules::registry::{CommandSpec, Interests, ModuleSpec, ParsedCommand, Scope};
use crate::t;

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "rules",
    aliases: &["rule", "reglas"],
    help: Some(("module-rules", "help-rules")),
    commands: &[
        CommandSpec {
            name: "rules",
            aliases: &[],
            scope: Scope::Space {
                access: Access::Member,
                via: Via::GROUP,
                run: |ctx, target, _| Box::pin(show(ctx, target)),
            },
            in_private_menu: true,
            in_group_menu: true,
            disableable: true,
        },
        CommandSpec {
            name: "setrules",
            aliases: &[],
            scope: Scope::Space {
                access: Access::Admin(Right::ChangeInfo),
                via: Via::GROUP,
                run: |ctx, target, command| Box::pin(set(ctx, target, command)),
            },
            in_private_menu: false,
            in_group_menu: true,
            disableable: false,
        },
        CommandSpec {
            name: "clearrules",
            aliases: &[],
            scope: Scope::Space {
                access: Access::Admin(Right::ChangeInfo),
                via: Via::GROUP,
                run: |ctx, target, _| Box::pin(clear(ctx, target)),
            },
            in_private_menu: false,
            in_group_menu: true,
            disableable: false,
        },
    ],
    buttons: &[],
    interests: Interests::NONE,
};

/// `/rules`
pub async fn show(ctx: &Ctx<'_>, target: &Target) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, "rules").await? else {
        return Ok(());
    };
    let text = match ctx.store().rules(chat_id).await? {
        Some(rules) => t!(
            ctx.lang,
            "rules-show",
            title = &target.title,
            rules = Html(stored_to_html(&rules))
        ),
        None => t!(ctx.lang, "rules-none", title = &target.title),
    };
    // Rules as long as a message, with the heading, take more than one.
    ctx.reply(text).await?;
    Ok(())
}

/// `/setrules <text>`, or as a reply.
pub async fn set(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, "setrules").await? else {
        return Ok(());
    };
    let rules = message_tail(ctx.msg, command.args_offset).or_else(|| replied_content(ctx.msg));
    let Some(rules) = rules else {
        ctx.reply(t!(ctx.lang, "rules-set-usage")).await?;
        return Ok(());
    };
    ctx.store().set_rules(chat_id, &rules).await?;
    ctx.reply(t!(ctx.lang, "rules-set", title = &target.title))
        .await?;
    Ok(())
}

/// `/clearrules`
pub async fn clear(ctx: &Ctx<'_>, target: &Target) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, "clearrules").await? else {
        return Ok(());
    };
    let key = if ctx.store().clear_rules(chat_id).await? {
        "rules-cleared"
    } else {
        "rules-none"
    };
    ctx.reply(t!(ctx.lang, key, title = &target.title)).await?;
    Ok(())
}
