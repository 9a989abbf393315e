//! Filters: a group's keywords, each with a formatted reply sent when a
//! message holds it as a whole word or phrase (any letter case, texts and
//! captions). Matching is the compiled guards' (one automaton per chat).

use teloxide::payloads::GetChatMember;
use teloxide::prelude::*;
use teloxide::types::{ChatMemberKind, InlineKeyboardButton, InlineKeyboardMarkup};

use crate::auth::Right;
use crate::commands::Access;
use crate::context::{Ctx, HandlerError, HandlerResult, Target, send_html};
use crate::format::{echo, message_tail, replied_content, stored_to_html};
use crate::guards::{ChatGuards, Hit, fold};
use crate::i18n::{Html, Lang, escape};
use crate::modules::registry::{
    ButtonSpec, CommandSpec, Guard, Guarded, Inspected, Interests, ModuleSpec, ParsedCommand,
    Press, Stage, Verdict,
};
use crate::modules::{answer, edit_or_send, plain};
use crate::t;

const SETTINGS: Access = Access::Admin(Right::ChangeInfo);
/// The most filters a group keeps.
pub const MAX_FILTERS: u64 = 500;
/// The longest keyword, in characters.
const MAX_KEYWORD: usize = 100;
const CLEAR_PREFIX: &str = "filtersclear";

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "filters",
    aliases: &["filter", "filtros"],
    help: Some(("module-filters", "help-filters")),
    commands: &[
        CommandSpec::group(
            "filter",
            SETTINGS,
            |ctx, target, command| Box::pin(add(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "stop",
            SETTINGS,
            |ctx, target, command| Box::pin(stop(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "stopall",
            SETTINGS,
            |ctx, target, command| Box::pin(stop_all(ctx, target, command)),
            false,
        ),
        CommandSpec::group(
            "filters",
            Access::Member,
            |ctx, target, command| Box::pin(list(ctx, target, command)),
            true,
        ),
    ],
    buttons: &[ButtonSpec {
        prefix: CLEAR_PREFIX,
        in_groups: true,
        run: |press| Box::pin(clear_button(press)),
    }],
    interests: Interests {
        guard: Some(Guard {
            stage: Stage::Answer,
            fires,
            run: |guarded| Box::pin(answer_filter(guarded)),
        }),
        ..Interests::NONE
    },
};

fn first_filter(inspected: &Inspected<'_>) -> Option<usize> {
    inspected.hits.iter().find_map(|hit| match hit {
        Hit::Filter(i) => Some(*i),
        Hit::Blacklist(_) => None,
    })
}

fn fires(_: &ChatGuards, inspected: &Inspected<'_>) -> bool {
    // A command is not talk: `/filter hi …` does not answer itself.
    let command = inspected
        .msg
        .text()
        .is_some_and(|text| text.starts_with('/'));
    !command && first_filter(inspected).is_some()
}

/// Answers the first keyword the message holds, as a reply to it.
async fn answer_filter(guarded: &Guarded<'_>) -> Result<Verdict, HandlerError> {
    let Some((_, reply)) =
        first_filter(guarded.inspected).and_then(|i| guarded.guards.filters.get(i))
    else {
        return Ok(Verdict::Pass);
    };
    let msg = guarded.msg;
    let lang = Lang::from_code(msg.from.as_ref().and_then(|u| u.language_code.as_deref()));
    send_html(
        &guarded.state.telegram,
        msg.chat.id,
        stored_to_html(reply),
        Some(msg.id),
        None,
        lang,
    )?;
    Ok(Verdict::Stop)
}

/// Reads keywords: a word, a "quoted phrase", or a list in parentheses
/// (`("good morning", hi, hello)`); with `all`, every word and phrase of
/// the text. Returns them folded, and the byte offset where the rest
/// begins.
fn keywords(args: &str, all: bool) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut push = |raw: &str| {
        let keyword = fold(&raw.split_whitespace().collect::<Vec<_>>().join(" "));
        if !keyword.is_empty() && !found.contains(&keyword) {
            found.push(keyword);
        }
    };
    let trimmed = args.trim_start();
    let mut at = args.len() - trimmed.len();
    if let Some(list) = trimmed.strip_prefix('(') {
        let Some(end) = list.find(')') else {
            return (Vec::new(), args.len());
        };
        for item in list[..end].split(',') {
            push(item.trim().trim_matches('"'));
        }
        return (found, at + 1 + end + 1);
    }
    loop {
        let rest = &args[at..];
        let skipped = rest.len() - rest.trim_start().len();
        at += skipped;
        let rest = &args[at..];
        if rest.is_empty() {
            break;
        }
        if let Some(quoted) = rest.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                break;
            };
            push(&quoted[..end]);
            at += end + 2;
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            push(&rest[..end]);
            at += end;
        }
        if !all {
            break;
        }
    }
    (found, at)
}

/// `/filter <keyword> <reply>`, `/filter ("a b", c) <reply>`, or in reply
/// to a message (every word and "phrase" given is a keyword; the replied
/// message is the reply).
async fn add(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let replied = replied_content(ctx.msg).filter(|_| !target.via_connection);
    let (keywords, rest) = keywords(command.args, replied.is_some());
    let tail = &command.args[rest.min(command.args.len())..];
    let rest = rest + (tail.len() - tail.trim_start().len());
    let reply = replied.or_else(|| message_tail(ctx.msg, command.args_offset + rest));
    let Some(reply) = reply.filter(|_| !keywords.is_empty()) else {
        ctx.reply(t!(ctx.lang, "filters-usage")).await?;
        return Ok(());
    };
    if let Some(long) = keywords.iter().find(|k| k.chars().count() > MAX_KEYWORD) {
        ctx.reply(t!(
            ctx.lang,
            "filters-keyword-too-long",
            keyword = echo(long),
            max = MAX_KEYWORD
        ))
        .await?;
        return Ok(());
    }
    let existing = ctx.store().filters(chat_id).await?;
    let new = keywords
        .iter()
        .filter(|k| !existing.iter().any(|(e, _)| e == *k))
        .count() as u64;
    if existing.len() as u64 + new > MAX_FILTERS {
        ctx.reply(t!(
            ctx.lang,
            "filters-too-many",
            title = &target.title,
            max = MAX_FILTERS as usize
        ))
        .await?;
        return Ok(());
    }
    for keyword in &keywords {
        ctx.store().save_filter(chat_id, keyword, &reply).await?;
    }
    ctx.state.guards_changed(chat_id).await?;
    let mut text = t!(
        ctx.lang,
        "filters-saved",
        title = &target.title,
        keywords = Html(quoted(&keywords))
    );
    text.push_str(&crate::modules::guard_notes(ctx, chat_id, &target.title, &[], true).await?);
    ctx.reply(text).await?;
    Ok(())
}

fn quoted(keywords: &[String]) -> String {
    keywords
        .iter()
        .map(|k| format!("<code>{}</code>", escape(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `/stop <keyword>`
async fn stop(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let (keywords, _) = keywords(command.args, true);
    if keywords.is_empty() {
        ctx.reply(t!(ctx.lang, "filters-stop-usage")).await?;
        return Ok(());
    }
    let mut stopped = Vec::new();
    let mut unknown = Vec::new();
    for keyword in keywords {
        if ctx.store().delete_filter(chat_id, &keyword).await? {
            stopped.push(keyword);
        } else {
            unknown.push(keyword);
        }
    }
    if !stopped.is_empty() {
        ctx.state.guards_changed(chat_id).await?;
    }
    let mut lines = Vec::new();
    if !stopped.is_empty() {
        lines.push(t!(
            ctx.lang,
            "filters-stopped",
            title = &target.title,
            keywords = Html(quoted(&stopped))
        ));
    }
    if !unknown.is_empty() {
        lines.push(t!(
            ctx.lang,
            "filters-not-found",
            title = &target.title,
            keywords = Html(quoted(&unknown))
        ));
    }
    ctx.reply(lines.join("\n")).await?;
    Ok(())
}

/// Whether `user` created the group, asked live: clearing every filter is
/// the creator's alone.
async fn is_creator(
    state: &crate::context::AppState,
    chat_id: i64,
    user: UserId,
) -> Result<bool, HandlerError> {
    let member = state
        .telegram
        .call(GetChatMember::new(ChatId(chat_id), user))
        .await?;
    Ok(matches!(member.kind, ChatMemberKind::Owner(_)))
}

/// `/stopall`: the creator confirms with a button.
async fn stop_all(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    if ctx.is_anonymous_admin() || !is_creator(ctx.state, chat_id, ctx.user.id).await? {
        ctx.reply(t!(ctx.lang, "filters-creator-only", title = &target.title))
            .await?;
        return Ok(());
    }
    let button = InlineKeyboardButton::callback(
        t!(ctx.lang, "button-filters-clear"),
        format!("{CLEAR_PREFIX}.{chat_id}"),
    );
    ctx.reply_with(
        t!(ctx.lang, "filters-clear-confirm", title = &target.title),
        Some(InlineKeyboardMarkup::new([[button]])),
    )
    .await?;
    Ok(())
}

/// The confirm button of `/stopall`: the creator, checked again at the
/// press, clears every filter of the group the button names.
async fn clear_button(press: &Press<'_>) -> HandlerResult {
    let (tg, query, lang) = (press.tg, press.query, press.lang);
    let chat_id = press
        .data
        .strip_prefix(CLEAR_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|id| crate::payload::parse_group_id(id).ok());
    let Some(chat_id) = chat_id else {
        answer(tg, query, Some(t!(lang, "button-unknown")), true).await?;
        return Ok(());
    };
    let creator = match is_creator(press.state, chat_id, query.from.id).await {
        Ok(creator) => creator,
        Err(HandlerError::Telegram(error)) if !error.is_unavailable() => false,
        Err(error) => return Err(error),
    };
    if !creator {
        let text = plain(&t!(lang, "filters-creator-only-plain"));
        answer(tg, query, Some(text), true).await?;
        return Ok(());
    }
    let removed = press.state.store.delete_all_filters(chat_id).await?;
    press.state.guards_changed(chat_id).await?;
    answer(tg, query, None, false).await?;
    let text = t!(lang, "filters-cleared", count = removed as usize);
    edit_or_send(tg, query, text, InlineKeyboardMarkup::default()).await?;
    Ok(())
}

/// `/filters`
async fn list(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let filters = ctx.store().filters(chat_id).await?;
    let text = if filters.is_empty() {
        t!(ctx.lang, "filters-none", title = &target.title)
    } else {
        let lines: Vec<String> = filters
            .iter()
            .map(|(keyword, _)| format!("• <code>{}</code>", escape(keyword)))
            .collect();
        t!(
            ctx.lang,
            "filters-list",
            title = &target.title,
            count = filters.len(),
            filters = Html(lines.join("\n"))
        )
    };
    ctx.reply(text).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_words_phrases_or_lists() {
        assert_eq!(keywords("hi Hello there", false), (vec!["hi".into()], 2));
        let (found, rest) = keywords("\"Good  Morning\" sun", false);
        assert_eq!(found, vec!["good morning".to_owned()]);
        assert_eq!(&"\"Good  Morning\" sun"[rest..], " sun");
        let (found, rest) = keywords("(\"good morning\", hi,HEY) reply", false);
        assert_eq!(
            found,
            vec!["good morning".to_owned(), "hi".into(), "hey".into()]
        );
        assert_eq!(&"(\"good morning\", hi,HEY) reply"[rest..], " reply");
        let (found, _) = keywords("\"good morning\" hello hi", true);
        assert_eq!(
            found,
            vec!["good morning".to_owned(), "hello".into(), "hi".into()]
        );
        assert_eq!(keywords("", false).0, Vec::<String>::new());
        assert_eq!(keywords("(unclosed", false).0, Vec::<String>::new());
    }
}
