//! /start, /help and /id.

use teloxide::types::{CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup};

use crate::commands::{self, Module};
use crate::context::{Ctx, HandlerResult};
use crate::i18n::{Html, Lang};
use crate::modules::{answer, edit_or_send};
use crate::payload::{Button, StartPayload};
use crate::t;
use crate::telegram::Telegram;

fn url_button(text: String, url: String) -> InlineKeyboardButton {
    match url.parse() {
        Ok(url) => InlineKeyboardButton::url(text, url),
        // Only reachable with a bot username that is not URL-safe.
        Err(_) => InlineKeyboardButton::callback(text, Button::Help(None)),
    }
}

pub fn url_keyboard(text: String, url: String) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[url_button(text, url)]])
}

pub async fn start(ctx: &Ctx<'_>) -> HandlerResult {
    if ctx.is_private() {
        let keyboard = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback(
            t!(ctx.lang, "button-help"),
            Button::Help(None),
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
    let buttons: Vec<InlineKeyboardButton> = Module::ALL
        .into_iter()
        .map(|m| InlineKeyboardButton::callback(t!(lang, m.name_key()), Button::Help(Some(m))))
        .collect();
    let rows: Vec<Vec<InlineKeyboardButton>> = buttons.chunks(2).map(<[_]>::to_vec).collect();
    (t!(lang, "help-main"), InlineKeyboardMarkup::new(rows))
}

/// A module's help: its explanation, then its commands from the registry
/// (a module without commands of its own shows no empty list).
pub fn module_help(lang: Lang, module: Module) -> (String, InlineKeyboardMarkup) {
    let commands: Vec<String> = commands::module_commands(module)
        .map(|spec| spec.describe(lang))
        .collect();
    let name = Html(t!(lang, module.name_key()));
    let body = Html(t!(lang, module.help_key()));
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
        Button::Help(None),
    )]]);
    (text, keyboard)
}

pub async fn help(ctx: &Ctx<'_>, args: &str) -> HandlerResult {
    let wanted = args.split_whitespace().next();
    let module = match wanted {
        None => None,
        Some(name) => match Module::by_name(name) {
            Some(module) => Some(module),
            None => {
                let known: Vec<&str> = Module::ALL.iter().map(|m| m.id()).collect();
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
        let payload = StartPayload::Help(module.map(|m| m.id().to_owned()).unwrap_or_default());
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

pub async fn help_button(
    tg: &Telegram,
    query: &CallbackQuery,
    lang: Lang,
    module: Option<Module>,
) -> HandlerResult {
    let (text, keyboard) = match module {
        None => help_main(lang),
        Some(module) => module_help(lang, module),
    };
    answer(tg, query, None, false).await?;
    edit_or_send(tg, query, text, keyboard).await?;
    Ok(())
}

pub async fn id(ctx: &Ctx<'_>) -> HandlerResult {
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
