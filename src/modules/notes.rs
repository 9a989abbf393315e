//! Notes: named texts a chat keeps, with their formatting.

use crate::commands::ParsedCommand;
use crate::context::{Ctx, HandlerError, HandlerResult, Target};
use crate::format::{message_tail, replied_content, stored_to_html};
use crate::i18n::Html;
use crate::store::{Note, Space};
use crate::t;

pub const MAX_NAME_LEN: usize = 64;

/// Note names: letters, digits, `_` and `-`, at most 64, compared
/// case-insensitively (stored lower-case).
pub fn normalize_name(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.chars().count() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    valid.then(|| name.to_lowercase())
}

/// Splits `args` into the first word and the rest, with the rest's byte
/// offset in `args`.
fn first_word(args: &str) -> (&str, usize) {
    let end = args.find(char::is_whitespace).unwrap_or(args.len());
    let rest_start = args[end..]
        .find(|c: char| !c.is_whitespace())
        .map_or(args.len(), |i| end + i);
    (&args[..end], rest_start)
}

/// The note name a command starts with (`#name` is accepted too) and where
/// the rest begins. Without a valid name, replies with `usage` or the naming
/// rules and returns `None`.
async fn name_argument(
    ctx: &Ctx<'_>,
    args: &str,
    usage: String,
) -> Result<Option<(String, usize)>, HandlerError> {
    let (raw_name, rest_start) = first_word(args);
    if raw_name.is_empty() {
        ctx.reply(usage).await?;
        return Ok(None);
    }
    let name = normalize_name(raw_name.strip_prefix('#').unwrap_or(raw_name));
    if name.is_none() {
        ctx.reply(t!(
            ctx.lang,
            "notes-bad-name",
            name = raw_name,
            max = MAX_NAME_LEN
        ))
        .await?;
    }
    Ok(name.map(|name| (name, rest_start)))
}

/// `/save <name> <text>`, or `/save <name>` replying to a message.
pub async fn save(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let usage = t!(ctx.lang, "notes-save-usage");
    let Some((name, rest_start)) = name_argument(ctx, command.args, usage).await? else {
        return Ok(());
    };
    let content = message_tail(ctx.msg, command.args_offset + rest_start)
        .or_else(|| replied_content(ctx.msg));
    let Some(content) = content else {
        ctx.reply(t!(ctx.lang, "notes-save-empty", name = &name))
            .await?;
        return Ok(());
    };
    let replaced = ctx
        .store()
        .save_note(
            target.space,
            &Note {
                name: name.clone(),
                content,
            },
        )
        .await?;
    let key = if replaced {
        "notes-updated"
    } else {
        "notes-saved"
    };
    ctx.reply(t!(ctx.lang, key, name = &name, title = &target.title))
        .await?;
    Ok(())
}

/// `/get <name>`: in the group, or in PM through a connection (sent to PM).
pub async fn get(ctx: &Ctx<'_>, target: &Target, args: &str) -> HandlerResult {
    let usage = t!(ctx.lang, "notes-get-usage");
    let Some((name, _)) = name_argument(ctx, args, usage).await? else {
        return Ok(());
    };
    match ctx.store().note(target.space, &name).await? {
        Some(note) => {
            ctx.reply(stored_to_html(&note.content)).await?;
        }
        None => {
            ctx.reply(t!(
                ctx.lang,
                "notes-not-found",
                name = &name,
                title = &target.title
            ))
            .await?;
        }
    }
    Ok(())
}

/// The note a message asks for with `#name` (alone or first), if any.
pub fn hashtag_name(text: &str) -> Option<String> {
    let word = text.strip_prefix('#')?.split(char::is_whitespace).next()?;
    normalize_name(word)
}

/// `#name` in a group: sends the note when there is one. Any other hashtag is
/// ordinary chat and gets no answer.
pub async fn hashtag(ctx: &Ctx<'_>, text: &str) -> HandlerResult {
    let Some(name) = hashtag_name(text) else {
        return Ok(());
    };
    if let Some(note) = ctx
        .store()
        .note(Space::Chat(ctx.msg.chat.id.0), &name)
        .await?
    {
        ctx.reply(stored_to_html(&note.content)).await?;
    }
    Ok(())
}

/// `/notes` (`/saved`)
pub async fn list(ctx: &Ctx<'_>, target: &Target) -> HandlerResult {
    let names = ctx.store().note_names(target.space).await?;
    let text = if names.is_empty() {
        t!(ctx.lang, "notes-none", title = &target.title)
    } else {
        let lines: Vec<String> = names
            .iter()
            .map(|name| format!("• <code>{}</code>", crate::i18n::escape(name)))
            .collect();
        t!(
            ctx.lang,
            "notes-list",
            title = &target.title,
            count = names.len(),
            notes = Html(lines.join("\n"))
        )
    };
    ctx.reply(text).await?;
    Ok(())
}

/// `/clear <name>`
pub async fn clear(ctx: &Ctx<'_>, target: &Target, args: &str) -> HandlerResult {
    let usage = t!(ctx.lang, "notes-clear-usage");
    let Some((name, _)) = name_argument(ctx, args, usage).await? else {
        return Ok(());
    };
    let key = if ctx.store().delete_note(target.space, &name).await? {
        "notes-cleared"
    } else {
        "notes-not-found"
    };
    ctx.reply(t!(ctx.lang, key, name = &name, title = &target.title))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            normalize_name("Hello_World-1").as_deref(),
            Some("hello_world-1")
        );
        assert_eq!(
            normalize_name(&"a".repeat(64)).as_deref(),
            Some("a".repeat(64).as_str())
        );
        assert_eq!(normalize_name(&"a".repeat(65)), None);
        assert_eq!(normalize_name(""), None);
        assert_eq!(normalize_name("a b"), None);
        assert_eq!(normalize_name("a.b"), None);
        assert_eq!(normalize_name("<b>"), None);
    }

    #[test]
    fn hashtags() {
        assert_eq!(hashtag_name("#Hours").as_deref(), Some("hours"));
        assert_eq!(hashtag_name("#hours please").as_deref(), Some("hours"));
        assert_eq!(hashtag_name("#hours\nthanks").as_deref(), Some("hours"));
        assert_eq!(hashtag_name("#"), None);
        assert_eq!(hashtag_name("# hours"), None);
        assert_eq!(hashtag_name("#hours!"), None);
        assert_eq!(hashtag_name("hours #x"), None);
    }

    #[test]
    fn splitting() {
        assert_eq!(first_word("name rest of it"), ("name", 5));
        assert_eq!(first_word("name\n\nbody"), ("name", 6));
        assert_eq!(first_word("name"), ("name", 4));
        assert_eq!(first_word(""), ("", 0));
    }
}
