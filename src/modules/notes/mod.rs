//! Notes: named texts a chat keeps, with their formatting.

use std::ops::Range;

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use crate::auth::Right;
use crate::commands::{Access, Via};
use crate::context::{AppState, Ctx, HandlerError, HandlerResult, Target, check_connection};
use crate::format::{echo, message_tail, replied_content, stored_to_html, utf16_len};
use crate::i18n::{Html, Lang, escape};
use crate::modules::registry::{
    ButtonSpec, CommandSpec, Interests, ModuleSpec, ParsedCommand, Press, Scope,
};
use crate::modules::{answer, edit_or_send, plain};
use crate::payload::Button;
use crate::store::{Note, Space};
use crate::t;

/// Who may list notes, in the group and through a connection: the page
/// buttons check the same.
const LIST_ACCESS: Access = Access::Member;
const LIST_VIA: Via = Via::GROUP_AND_BUSINESS;

pub static MODULE: ModuleSpec = ModuleSpec {
    id: "notes",
    aliases: &["note", "saved", "notas"],
    help: Some(("module-notes", "help-notes")),
    commands: &[
        CommandSpec {
            name: "get",
            aliases: &[],
            scope: Scope::Space {
                access: Access::Member,
                via: Via::GROUP_AND_BUSINESS,
                run: |ctx, target, command| Box::pin(get(ctx, target, command.args)),
            },
            in_private_menu: true,
            in_group_menu: true,
            disableable: true,
        },
        CommandSpec {
            name: "notes",
            aliases: &["saved"],
            scope: Scope::Space {
                access: LIST_ACCESS,
                via: LIST_VIA,
                run: |ctx, target, _| Box::pin(list(ctx, target)),
            },
            in_private_menu: true,
            in_group_menu: true,
            disableable: true,
        },
        CommandSpec {
            name: "save",
            aliases: &[],
            scope: Scope::Space {
                access: Access::Admin(Right::ChangeInfo),
                via: Via::GROUP_AND_BUSINESS,
                run: |ctx, target, command| Box::pin(save(ctx, target, command)),
            },
            in_private_menu: false,
            in_group_menu: true,
            disableable: false,
        },
        CommandSpec {
            name: "clear",
            aliases: &[],
            scope: Scope::Space {
                access: Access::Admin(Right::ChangeInfo),
                via: Via::GROUP_AND_BUSINESS,
                run: |ctx, target, command| Box::pin(clear(ctx, target, command.args)),
            },
            in_private_menu: false,
            in_group_menu: true,
            disableable: false,
        },
    ],
    buttons: &[ButtonSpec {
        prefix: "notes",
        in_groups: false,
        run: |press| Box::pin(page_button(press)),
    }],
    interests: Interests::NONE,
};

/// The longest note name, in characters.
pub const MAX_NAME_LEN: usize = 64;

/// Why a note name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameError {
    Empty,
    /// Longer than [`MAX_NAME_LEN`] characters.
    TooLong,
    /// A character other than a letter, a digit, `_` or `-`.
    Invalid,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// Note names: letters, digits, `_` and `-`, at most [`MAX_NAME_LEN`]
/// characters, compared case-insensitively. Returns the stored (lower-case)
/// form, which is itself a valid name of the same note: what lower-casing
/// adds that is no name character (the dot of `İ`) is dropped.
pub fn parse_name(name: &str) -> Result<String, NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().nth(MAX_NAME_LEN).is_some() {
        return Err(NameError::TooLong);
    }
    if !name.chars().all(is_name_char) {
        return Err(NameError::Invalid);
    }
    let lower: String = name
        .to_lowercase()
        .chars()
        .filter(|&c| is_name_char(c))
        .collect();
    match lower.chars().count() {
        0 => Err(NameError::Invalid),
        n if n > MAX_NAME_LEN => Err(NameError::TooLong),
        _ => Ok(lower),
    }
}

/// The stored form of a valid note name (see [`parse_name`]).
pub fn normalize_name(name: &str) -> Option<String> {
    parse_name(name).ok()
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
    let bare = raw_name.strip_prefix('#').unwrap_or(raw_name);
    let text = match parse_name(bare) {
        Ok(name) => return Ok(Some((name, rest_start))),
        // Echoed shortened: the name may be a whole message long.
        Err(NameError::TooLong) => t!(
            ctx.lang,
            "notes-name-too-long",
            name = echo(bare),
            length = bare.chars().count(),
            max = MAX_NAME_LEN
        ),
        Err(NameError::Empty | NameError::Invalid) => t!(
            ctx.lang,
            "notes-bad-name",
            name = echo(raw_name),
            max = MAX_NAME_LEN
        ),
    };
    ctx.reply(text).await?;
    Ok(None)
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

/// Names on one page of `/notes` in private chat.
pub const NOTES_PER_PAGE: usize = 50;

/// UTF-16 units the lines of one page may take (a name and three more: the
/// bullet, its space and the line break). With the longest chat title (128
/// characters) and the page's own text, a page stays within Telegram's 4096
/// (`every_page_fits_in_a_message` checks the worst case).
const PAGE_BUDGET: usize = 3_000;

/// The pages of a note list: at most [`NOTES_PER_PAGE`] names each, and
/// names within [`PAGE_BUDGET`]. The same names always page the same way.
fn pages(names: &[String]) -> Vec<Range<usize>> {
    let mut pages = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (i, name) in names.iter().enumerate() {
        let len = utf16_len(name) + 3;
        if i > start && (i - start == NOTES_PER_PAGE || used + len > PAGE_BUDGET) {
            pages.push(start..i);
            start = i;
            used = 0;
        }
        used += len;
    }
    if start < names.len() {
        pages.push(start..names.len());
    }
    pages
}

fn name_lines(names: &[String]) -> Html {
    let lines: Vec<String> = names
        .iter()
        .map(|name| format!("• <code>{}</code>", escape(name)))
        .collect();
    Html(lines.join("\n"))
}

/// The whole list, in one text (of any length).
fn list_text(lang: Lang, title: &str, names: &[String]) -> String {
    if names.is_empty() {
        return t!(lang, "notes-none", title = title);
    }
    t!(
        lang,
        "notes-list",
        title = title,
        count = names.len(),
        notes = name_lines(names)
    )
}

/// Page `page` of the list (the last one when there are fewer), with ◀ and
/// ▶ buttons to its neighbours when there is more than one page.
fn page_view(
    lang: Lang,
    title: &str,
    names: &[String],
    page: usize,
) -> (String, Option<InlineKeyboardMarkup>) {
    let pages = pages(names);
    if pages.len() <= 1 {
        return (list_text(lang, title, names), None);
    }
    let page = page.min(pages.len() - 1);
    let shown = names.get(pages[page].clone()).unwrap_or_default();
    let text = t!(
        lang,
        "notes-list-page",
        title = title,
        count = names.len(),
        page = page + 1,
        pages = pages.len(),
        notes = name_lines(shown)
    );
    let button = |key: &str, page: usize| {
        u32::try_from(page)
            .ok()
            .map(|page| InlineKeyboardButton::callback(t!(lang, key), Button::Notes { page }))
    };
    let row: Vec<InlineKeyboardButton> = [
        page.checked_sub(1)
            .and_then(|p| button("button-previous", p)),
        (page + 1 < pages.len())
            .then(|| button("button-next", page + 1))
            .flatten(),
    ]
    .into_iter()
    .flatten()
    .collect();
    (text, Some(InlineKeyboardMarkup::new([row])))
}

/// `/notes` (`/saved`). In private chat a page at a time, with buttons to
/// page through. In a group buttons would not work (presses count only in
/// the presser's own private chat), so the whole list is sent, in as many
/// messages as it takes.
pub async fn list(ctx: &Ctx<'_>, target: &Target) -> HandlerResult {
    let names = ctx.store().note_names(target.space).await?;
    if ctx.is_private() {
        let (text, keyboard) = page_view(ctx.lang, &target.title, &names, 0);
        ctx.reply_with(text, keyboard).await?;
    } else {
        ctx.reply(list_text(ctx.lang, &target.title, &names))
            .await?;
    }
    Ok(())
}

/// The space (and its title) whose notes a page button shows the presser,
/// or why not as plain text: the checks of `/notes` sent in PM.
async fn notes_connection(
    state: &AppState,
    lang: Lang,
    user_id: teloxide::types::UserId,
) -> Result<Result<(Space, String), String>, HandlerError> {
    let check = check_connection(state, user_id, lang, Some(LIST_VIA)).await?;
    let not_connected = t!(lang, "connbtns-not-connected");
    let connected = match check.refusal(lang, "notes", not_connected) {
        Ok(connected) => connected,
        Err(text) => return Ok(Err(plain(&text))),
    };
    if let Access::Admin(right) = LIST_ACCESS
        && !connected.role.holds(right)
    {
        let text = t!(
            lang,
            "error-admins-only-in",
            command = "notes",
            title = &connected.title
        );
        return Ok(Err(plain(&text)));
    }
    Ok(Ok((connected.chat.space, connected.title)))
}

/// A ◀/▶ press under `/notes` in PM: that page of the current connection's
/// notes, after the checks `/notes` itself makes.
async fn page_button(press: &Press<'_>) -> HandlerResult {
    let (tg, query, lang) = (press.tg, press.query, press.lang);
    let Some(Button::Notes { page }) = Button::parse(press.data) else {
        answer(tg, query, Some(t!(lang, "button-unknown")), true).await?;
        return Ok(());
    };
    let (space, title) = match notes_connection(press.state, lang, query.from.id).await? {
        Ok(allowed) => allowed,
        Err(refusal) => {
            answer(tg, query, Some(refusal), true).await?;
            return Ok(());
        }
    };
    let names = press.state.store.note_names(space).await?;
    let page = usize::try_from(page).unwrap_or(usize::MAX);
    let (text, keyboard) = page_view(lang, &title, &names, page);
    answer(tg, query, None, false).await?;
    edit_or_send(tg, query, text, keyboard.unwrap_or_default()).await?;
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
        assert_eq!(parse_name(&"a".repeat(65)), Err(NameError::TooLong));
        assert_eq!(parse_name(&"é".repeat(64)), Ok("é".repeat(64)));
        assert_eq!(parse_name(""), Err(NameError::Empty));
        assert_eq!(parse_name("a.b"), Err(NameError::Invalid));
        assert_eq!(parse_name("İstanbul").as_deref(), Ok("istanbul"));
        assert_eq!(parse_name("ΟΔΟΣ").as_deref(), Ok("οδος"));
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

    fn many(count: usize, name: impl Fn(usize) -> String) -> Vec<String> {
        (0..count).map(name).collect()
    }

    #[test]
    fn pages_hold_fifty_names_within_the_budget() {
        assert!(pages(&[]).is_empty());
        let short = many(120, |i| format!("note{i:03}"));
        assert_eq!(pages(&short), vec![0..50, 50..100, 100..120]);
        let one = many(50, |i| format!("n{i}"));
        assert_eq!(pages(&one), vec![0..50]);
        // The longest names, of characters taking two UTF-16 units each.
        let long = many(200, |i| format!("{i:03}{}", "𝐀".repeat(61)));
        let long_pages = pages(&long);
        assert!(long_pages.len() > 4, "{long_pages:?}");
        for page in &long_pages {
            let len: usize = long[page.clone()].iter().map(|n| utf16_len(n) + 3).sum();
            assert!(
                page.len() <= NOTES_PER_PAGE && len <= PAGE_BUDGET,
                "{page:?}"
            );
        }
    }

    #[test]
    fn every_page_fits_in_a_message() {
        let title = "𝐓".repeat(128);
        let long = many(300, |i| format!("{i:03}{}", "𝐀".repeat(61)));
        let short = many(300, |i| format!("n{i}"));
        for lang in Lang::ALL {
            for names in [&long, &short] {
                for page in 0..pages(names).len() {
                    let (text, keyboard) = page_view(lang, &title, names, page);
                    assert!(
                        crate::format::visible_len(&text) <= crate::format::MESSAGE_LIMIT,
                        "page {page} in {lang:?}"
                    );
                    let data: Vec<String> = keyboard
                        .iter()
                        .flat_map(|k| k.inline_keyboard.iter().flatten())
                        .filter_map(|b| match &b.kind {
                            teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => {
                                Some(d.clone())
                            }
                            _ => None,
                        })
                        .collect();
                    let mut expected = Vec::new();
                    if page > 0 {
                        expected.push(format!("notes.{}", page - 1));
                    }
                    if page + 1 < pages(names).len() {
                        expected.push(format!("notes.{}", page + 1));
                    }
                    assert_eq!(data, expected);
                }
            }
        }
        // A page past the end shows the last one; a single page has no buttons.
        let (last, _) = page_view(Lang::En, "T", &short, 6);
        let (beyond, _) = page_view(Lang::En, "T", &short, 1_000);
        assert_eq!(last, beyond);
        assert!(last.contains("page 6 of 6"), "{last}");
        let (single, keyboard) = page_view(Lang::En, "T", &short[..3], 2);
        assert!(single.starts_with("<b>T</b> has 3 notes:"), "{single}");
        assert!(keyboard.is_none());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn name_char() -> impl Strategy<Value = char> {
        prop_oneof![
            4 => prop::char::range('a', 'z'),
            2 => prop::char::range('A', 'Z'),
            1 => prop::sample::select(vec!['_', '-', '0', '9', 'É', 'İ', 'Σ', 'ß', 'ǅ', '𝐀', '中']),
            1 => any::<char>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the input: no panic; a stored name is non-empty, at most
        /// 64 characters of the grammar, and names itself.
        #[test]
        fn normalized_names_are_valid_and_stable(
            name in prop::collection::vec(name_char(), 0..80).prop_map(String::from_iter),
        ) {
            match parse_name(&name) {
                Ok(stored) => {
                    prop_assert!(!stored.is_empty());
                    prop_assert!(stored.chars().count() <= MAX_NAME_LEN);
                    prop_assert!(stored.chars().all(is_name_char));
                    prop_assert_eq!(normalize_name(&stored), Some(stored.clone()));
                }
                Err(NameError::Empty) => prop_assert!(name.is_empty()),
                Err(NameError::TooLong) => prop_assert!(name.chars().count() > MAX_NAME_LEN),
                Err(NameError::Invalid) => prop_assert!(!name.chars().all(is_name_char)),
            }
        }

        #[test]
        fn hashtags_name_their_first_word(text in "\\PC{0,80}|#[a-zA-Z_-]{0,70}( \\PC{0,10})?") {
            let expected = text
                .strip_prefix('#')
                .and_then(|rest| rest.split(char::is_whitespace).next())
                .and_then(normalize_name);
            prop_assert_eq!(hashtag_name(&text), expected);
        }
    }
}
