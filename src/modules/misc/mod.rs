//! /start, /help and /id.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::context::{Ctx, HandlerResult};
use crate::i18n::{Html, Lang};
use crate::modules::registry::{
    self, ButtonSpec, CommandSpec, Interests, ModuleSpec, Press, Scope,
};
use crate::modules::{answer, business, connections, edit_or_send};
use crate::payload::StartPayload;
use crate::t;

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "misc",
    aliases: &["basics", "general", "id", "start"],
    help: Some(("module-misc", "help-misc")),
    commands: &[
        CommandSpec {
            name: "start",
            aliases: &[],
            scope: Scope::Personal {
                in_groups: true,
                run: |ctx, command| Box::pin(start(ctx, command.args)),
            },
            in_private_menu: true,
            in_group_menu: false,
            disableable: false,
        },
        CommandSpec {
            name: "help",
            aliases: &[],
            scope: Scope::Personal {
                in_groups: true,
                run: |ctx, command| Box::pin(help(ctx, command.args)),
            },
            in_private_menu: true,
            in_group_menu: true,
            disableable: false,
        },
        CommandSpec {
            name: "id",
            aliases: &[],
            scope: Scope::Personal {
                in_groups: true,
                run: |ctx, _| Box::pin(id(ctx)),
            },
            in_private_menu: true,
            in_group_menu: true,
            disableable: true,
        },
    ],
    buttons: &[ButtonSpec {
        prefix: HELP_PREFIX,
        in_groups: false,
        run: |press| Box::pin(help_button(press)),
    }],
    interests: Interests::NONE,
};

const HELP_PREFIX: &str = "help";

/// The data of a help button: `help.main`, `help.<module>`.
fn help_data(module: Option<&ModuleSpec>) -> String {
    format!("{HELP_PREFIX}.{}", module.map_or("main", |m| m.id))
}

/// What a help button's data names: the main page (`None`), or a module.
fn parse_help_data(data: &str) -> Option<Option<&'static ModuleSpec>> {
    match data.strip_prefix(HELP_PREFIX)?.strip_prefix('.')? {
        "main" => Some(None),
        id => registry::module_by_id(id).map(Some),
    }
}

/// `/start [payload]`: deep-link payloads go to the module they belong to.
async fn start(ctx: &Ctx<'_>, payload: &str) -> HandlerResult {
    match StartPayload::parse(payload) {
        StartPayload::Greeting => greet(ctx).await,
        StartPayload::Help(module) => help(ctx, &module).await,
        StartPayload::Connect(chat_id) => connections::deep_link(ctx, Some(chat_id)).await,
        StartPayload::BrokenConnectLink => connections::deep_link(ctx, None).await,
        StartPayload::BusinessChat(chat_id) if ctx.is_private() => {
            business::manage_chat(ctx, chat_id).await
        }
        StartPayload::BusinessChat(_) | StartPayload::Unknown => {
            ctx.reply(t!(ctx.lang, "start-unknown-link")).await?;
            Ok(())
        }
    }
}

fn url_button(text: String, url: String) -> InlineKeyboardButton {
    match url.parse() {
        Ok(url) => InlineKeyboardButton::url(text, url),
        // Only reachable with a bot username that is not URL-safe.
        Err(_) => InlineKeyboardButton::callback(text, help_data(None)),
    }
}

pub fn url_keyboard(text: String, url: String) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[url_button(text, url)]])
}

async fn greet(ctx: &Ctx<'_>) -> HandlerResult {
    if ctx.is_private() {
        let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback(
            t!(ctx.lang, "button-help"),
            help_data(None),
        )]]);
        ctx.reply_with(
            t!(ctx.lang, "start-private", name = &ctx.user.first_name),
            Some(keyboard),
        )
        .await?;
    } else {
        let keyboard = url_keyboard(
            t!(ctx.lang, "button-open-pm"),
            ctx.state.deep_link(&StartPayload::Greeting),
        );
        ctx.reply_with(t!(ctx.lang, "start-group"), Some(keyboard))
            .await?;
    }
    Ok(())
}

/// The module list: text and one button per module.
fn help_main(lang: Lang) -> (String, InlineKeyboardMarkup) {
    let buttons: Vec<InlineKeyboardButton> = registry::helped_modules()
        .filter_map(|m| {
            let (name, _) = m.help?;
            Some(InlineKeyboardButton::callback(
                t!(lang, name),
                help_data(Some(m)),
            ))
        })
        .collect();
    let rows: Vec<Vec<InlineKeyboardButton>> = buttons.chunks(2).map(<[_]>::to_vec).collect();
    (t!(lang, "help-main"), InlineKeyboardMarkup::new(rows))
}

/// A module's help: its explanation, then its commands from the registry
/// (a module without commands of its own shows no empty list).
pub fn module_help(lang: Lang, module: &ModuleSpec) -> (String, InlineKeyboardMarkup) {
    let commands: Vec<String> = module
        .commands
        .iter()
        .map(|spec| spec.describe(lang))
        .collect();
    let (name_key, help_key) = module.help.unwrap_or(("module-misc", "help-misc"));
    let name = Html(t!(lang, name_key));
    let body = Html(t!(lang, help_key));
    let text = if commands.is_empty() {
        t!(lang, "help-module-no-commands", name = name, body = body)
    } else {
        t!(
            lang,
            "help-module",
            name = name,
            body = body,
            commands = Html(commands.join("\n"))
        )
    };
    let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback(
        t!(lang, "button-back"),
        help_data(None),
    )]]);
    (text, keyboard)
}

async fn help(ctx: &Ctx<'_>, args: &str) -> HandlerResult {
    let wanted = args.split_whitespace().next();
    let module = match wanted {
        None => None,
        Some(name) => match registry::module_by_name(name) {
            Some(module) => Some(module),
            None => {
                let known: Vec<&str> = registry::helped_modules().map(|m| m.id).collect();
                ctx.reply(t!(
                    ctx.lang,
                    "help-unknown-module",
                    name = crate::format::echo(name),
                    modules = known.join(", ")
                ))
                .await?;
                return Ok(());
            }
        },
    };
    if !ctx.is_private() {
        let payload = StartPayload::Help(module.map(|m| m.id.to_owned()).unwrap_or_default());
        let keyboard = url_keyboard(
            t!(ctx.lang, "button-help-pm"),
            ctx.state.deep_link(&payload),
        );
        ctx.reply_with(t!(ctx.lang, "help-in-pm"), Some(keyboard))
            .await?;
        return Ok(());
    }
    let (text, keyboard) = match module {
        Some(module) => module_help(ctx.lang, module),
        None => help_main(ctx.lang),
    };
    ctx.reply_with(text, Some(keyboard)).await?;
    Ok(())
}

async fn help_button(press: &Press<'_>) -> HandlerResult {
    let (tg, query, lang) = (press.tg, press.query, press.lang);
    let Some(module) = parse_help_data(press.data) else {
        answer(tg, query, Some(t!(lang, "button-unknown")), true).await?;
        return Ok(());
    };
    let (text, keyboard) = match module {
        None => help_main(lang),
        Some(module) => module_help(lang, module),
    };
    answer(tg, query, None, false).await?;
    edit_or_send(tg, query, text, keyboard).await?;
    Ok(())
}

async fn id(ctx: &Ctx<'_>) -> HandlerResult {
    let mut lines = Vec::new();
    if let Some(replied) = ctx.msg.reply_to_message() {
        if let Some(chat) = replied.sender_chat.as_ref() {
            let name = chat.title().unwrap_or_default();
            lines.push(t!(
                ctx.lang,
                "id-of-chat-sender",
                name = name,
                id = chat.id.0
            ));
        } else if let Some(user) = replied.from.as_ref() {
            lines.push(t!(
                ctx.lang,
                "id-of-user",
                name = &user.first_name,
                id = user.id.0 as i64
            ));
        }
    } else {
        lines.push(t!(ctx.lang, "id-yours", id = ctx.user.id.0 as i64));
    }
    if !ctx.is_private() {
        lines.push(t!(ctx.lang, "id-this-chat", id = ctx.msg.chat.id.0));
    }
    ctx.reply(lines.join("\n")).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_buttons_round_trip_and_fit_telegram() {
        let mut all = vec![None];
        all.extend(registry::helped_modules().map(Some));
        for module in all {
            let data = help_data(module);
            assert!(data.len() <= crate::payload::MAX_BUTTON_DATA, "{data}");
            assert_eq!(parse_help_data(&data), Some(module), "{data}");
        }
        assert_eq!(parse_help_data("help.lifecycle"), None, "no help page");
        assert_eq!(parse_help_data("help.nope"), None);
        assert_eq!(parse_help_data("helpx.main"), None);
    }
}
