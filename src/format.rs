//! Formatted text: cutting a saved text out of a command message with its
//! entities, and rendering text + entities back as Telegram HTML.
//!
//! Telegram measures entity offsets in UTF-16 code units.

use teloxide::types::{Message, MessageEntity, MessageEntityKind};

use crate::i18n::{escape, push_escaped};
use crate::store::FormattedText;

/// The UTF-16 length of a string, the unit of entity offsets.
pub fn utf16_len(text: &str) -> usize {
    text.encode_utf16().count()
}

/// The part of `text` from byte `start` on, with the entities that fall in it
/// shifted (and clipped at the cut).
pub fn tail(text: &str, entities: &[MessageEntity], start: usize) -> (String, Vec<MessageEntity>) {
    let start = start.min(text.len());
    let Some(rest) = text.get(start..) else {
        return (String::new(), Vec::new());
    };
    let cut = text.get(..start).map_or(0, utf16_len);
    let end = cut + utf16_len(rest);
    let entities = entities
        .iter()
        .filter_map(|e| {
            let from = e.offset.max(cut);
            let to = e.offset.saturating_add(e.length).min(end);
            (from < to).then(|| MessageEntity {
                kind: e.kind.clone(),
                offset: from - cut,
                length: to - from,
            })
        })
        .collect();
    (rest.to_owned(), entities)
}

/// The text of a command message from byte `start` on, when not blank.
pub fn message_tail(msg: &Message, start: usize) -> Option<FormattedText> {
    let text = msg.text()?;
    let rest = text.get(start..)?;
    if rest.trim().is_empty() {
        return None;
    }
    let (body, entities) = tail(text, msg.entities().unwrap_or_default(), start);
    Some(to_stored(body, &entities))
}

/// The text (or caption) of the message `msg` replies to, when not blank.
pub fn replied_content(msg: &Message) -> Option<FormattedText> {
    let replied = msg.reply_to_message()?;
    let (body, entities) = match replied.text() {
        Some(text) => (text, replied.entities().unwrap_or_default()),
        None => (
            replied.caption()?,
            replied.caption_entities().unwrap_or_default(),
        ),
    };
    (!body.trim().is_empty()).then(|| to_stored(body.to_owned(), entities))
}

/// Packs text and entities for the store.
pub fn to_stored(text: String, entities: &[MessageEntity]) -> FormattedText {
    let entities_json = serde_json::to_string(entities).unwrap_or_else(|_| "[]".to_owned());
    FormattedText {
        text,
        entities_json,
    }
}

/// Renders stored text as HTML, every character of the text escaped.
pub fn stored_to_html(stored: &FormattedText) -> String {
    let entities: Vec<MessageEntity> = match serde_json::from_str(&stored.entities_json) {
        Ok(entities) => entities,
        Err(error) => {
            tracing::warn!(%error, "stored entities do not parse; sending the text unformatted");
            Vec::new()
        }
    };
    to_html(&stored.text, &entities)
}

fn open_tag(kind: &MessageEntityKind) -> Option<String> {
    Some(match kind {
        MessageEntityKind::Bold => "<b>".into(),
        MessageEntityKind::Italic => "<i>".into(),
        MessageEntityKind::Underline => "<u>".into(),
        MessageEntityKind::Strikethrough => "<s>".into(),
        MessageEntityKind::Spoiler => "<tg-spoiler>".into(),
        MessageEntityKind::Code => "<code>".into(),
        MessageEntityKind::Pre {
            language: Some(lang),
        } => {
            format!("<pre><code class=\"language-{}\">", escape(lang))
        }
        MessageEntityKind::Pre { language: None } => "<pre>".into(),
        MessageEntityKind::TextLink { url } => format!("<a href=\"{}\">", escape(url.as_str())),
        MessageEntityKind::TextMention { user } => {
            format!("<a href=\"tg://user?id={}\">", user.id.0)
        }
        MessageEntityKind::CustomEmoji { custom_emoji_id } => {
            format!("<tg-emoji emoji-id=\"{}\">", escape(&custom_emoji_id.0))
        }
        MessageEntityKind::Blockquote => "<blockquote>".into(),
        MessageEntityKind::ExpandableBlockquote => "<blockquote expandable>".into(),
        // Mentions, hashtags, links, commands…: Telegram finds these itself.
        _ => return None,
    })
}

fn close_tag(kind: &MessageEntityKind) -> &'static str {
    match kind {
        MessageEntityKind::Bold => "</b>",
        MessageEntityKind::Italic => "</i>",
        MessageEntityKind::Underline => "</u>",
        MessageEntityKind::Strikethrough => "</s>",
        MessageEntityKind::Spoiler => "</tg-spoiler>",
        MessageEntityKind::Code => "</code>",
        MessageEntityKind::Pre { language: Some(_) } => "</code></pre>",
        MessageEntityKind::Pre { language: None } => "</pre>",
        MessageEntityKind::TextLink { .. } | MessageEntityKind::TextMention { .. } => "</a>",
        MessageEntityKind::CustomEmoji { .. } => "</tg-emoji>",
        MessageEntityKind::Blockquote | MessageEntityKind::ExpandableBlockquote => "</blockquote>",
        _ => "",
    }
}

/// Renders text with entities as Telegram HTML. Entities that overlap
/// without nesting are closed and reopened so the tags always nest.
pub fn to_html(text: &str, entities: &[MessageEntity]) -> String {
    // (start, end, open tag, close tag), outer entities first at equal starts.
    let mut spans: Vec<(usize, usize, String, &'static str)> = entities
        .iter()
        .filter(|e| e.length > 0)
        .filter_map(|e| {
            let end = e.offset.saturating_add(e.length);
            open_tag(&e.kind).map(|open| (e.offset, end, open, close_tag(&e.kind)))
        })
        .collect();
    spans.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));

    let mut out = String::with_capacity(text.len() + spans.len() * 16);
    let mut open: Vec<usize> = Vec::new(); // indices into spans, innermost last
    let mut next = 0;
    let mut position = 0; // in UTF-16 units
    let mut chars = text.chars().peekable();
    loop {
        // Close what ends here, reopening inner spans that outlive the closed one.
        while let Some(i) = open.iter().position(|&s| spans[s].1 <= position) {
            let reopened: Vec<usize> = open.drain(i..).collect();
            for &s in reopened.iter().rev() {
                out.push_str(spans[s].3);
            }
            for s in reopened.into_iter().filter(|&s| spans[s].1 > position) {
                out.push_str(&spans[s].2);
                open.push(s);
            }
        }
        while next < spans.len() && spans[next].0 <= position {
            // A span that starts and ends inside one character (half of a
            // surrogate pair) formats nothing.
            if spans[next].1 > position {
                out.push_str(&spans[next].2);
                open.push(next);
            }
            next += 1;
        }
        let Some(c) = chars.next() else { break };
        push_escaped(&mut out, c);
        position += c.len_utf16();
    }
    for &s in open.iter().rev() {
        out.push_str(spans[s].3);
    }
    out
}

/// Telegram's limit on a message's text: UTF-16 units after entity parsing
/// (tags do not count, an escape counts as the character it stands for).
pub const MESSAGE_LIMIT: usize = 4096;

/// How many characters of a user's input a reply echoes back. Every valid
/// note name (64 characters) and chat reference (an id, or an @username of
/// at most 33) is shown whole; anything longer is cut and ends in "…".
pub const ECHO_MAX_CHARS: usize = 64;

/// `text` cut to at most `max_chars` characters (Unicode scalar values, at
/// least one), ending in "…" when it was cut. Cuts fall on character
/// boundaries; the text is not escaped (escape after shortening, as `t!`
/// does, so no escape is ever cut in two).
pub fn shorten(text: &str, max_chars: usize) -> String {
    if text.char_indices().nth(max_chars).is_none() {
        return text.to_owned();
    }
    let keep = max_chars.saturating_sub(1);
    let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
    let mut out = text.get(..end).unwrap_or_default().trim_end().to_owned();
    out.push('…');
    out
}

/// User input as a reply quotes it: shortened to [`ECHO_MAX_CHARS`].
pub fn echo(text: &str) -> String {
    shorten(text, ECHO_MAX_CHARS)
}

/// Characters Telegram strips from both ends of a message (TDLib's
/// `strip_empty_characters`: control characters, spaces, zero-width and
/// direction marks, fillers), and that a split drops at its cut points.
pub fn is_blank(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FEFF}'
                | '\u{FFA0}'
        )
}

/// Where a long text may be cut, after line breaks: white space, except the
/// non-breaking kinds.
fn is_break(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{A0}' | '\u{2007}' | '\u{202F}')
}

/// A piece of Telegram HTML.
#[derive(Debug)]
enum Token<'a> {
    /// A start tag as written, and its lower-case name.
    Open { raw: &'a str, name: String },
    /// The end of the innermost open element.
    Close,
    /// One visible character as written: itself, or an escape.
    Char { raw: &'a str, c: char },
}

/// The lower-case name of a tag from what is between its `<` (or `</`)
/// and `>`.
fn tag_name(inner: &str) -> String {
    inner
        .split(|c: char| c.is_ascii_whitespace() || c == '/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// An escape at the start of `s` (which starts with `&`) the way Telegram
/// reads them: `&lt;` `&gt;` `&amp;` `&quot;`, `&#NN;` and `&#xHH;`, the
/// `;` optional. Returns the character and the escape's length in bytes.
fn decode_escape(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    let (c, mut end) = if b.get(1) == Some(&b'#') {
        let (radix, start) = if b.get(2) == Some(&b'x') {
            (16, 3)
        } else {
            (10, 2)
        };
        let digits = b
            .get(start..)
            .unwrap_or_default()
            .iter()
            .take_while(|d| char::from(**d).is_digit(radix))
            .count();
        let end = start + digits;
        if digits == 0 || end >= 10 {
            return None;
        }
        let value = u32::from_str_radix(s.get(start..end)?, radix).ok()?;
        if value == 0 {
            return None;
        }
        (char::from_u32(value)?, end)
    } else {
        let letters = b
            .get(1..)
            .unwrap_or_default()
            .iter()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        let c = match s.get(1..1 + letters)? {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            _ => return None,
        };
        (c, 1 + letters)
    };
    if b.get(end) == Some(&b';') {
        end += 1;
    }
    Some((c, end))
}

/// Reads Telegram HTML into tags and visible characters. End tags always
/// close the innermost element: a stray one is dropped, one that closes an
/// outer element closes the inner ones first, and elements left open are
/// closed at the end; so the tokens always nest.
fn tokenize(html: &str) -> Vec<Token<'_>> {
    let mut tokens = Vec::new();
    let mut open: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(rest) = html.get(i..).filter(|rest| !rest.is_empty()) {
        if rest.starts_with('<')
            && let Some(end) = rest.find('>')
        {
            let raw = &rest[..=end];
            let inner = &rest[1..end];
            i += end + 1;
            if let Some(closing) = inner.strip_prefix('/') {
                let name = tag_name(closing);
                let depth = if name.is_empty() {
                    open.len().checked_sub(1)
                } else {
                    open.iter().rposition(|open| *open == name)
                };
                if let Some(depth) = depth {
                    tokens.extend((depth..open.len()).map(|_| Token::Close));
                    open.truncate(depth);
                }
            } else {
                let name = tag_name(inner);
                open.push(name.clone());
                tokens.push(Token::Open { raw, name });
            }
            continue;
        }
        if rest.starts_with('&')
            && let Some((c, len)) = decode_escape(rest)
        {
            tokens.push(Token::Char {
                raw: &rest[..len],
                c,
            });
            i += len;
            continue;
        }
        let Some(c) = rest.chars().next() else { break };
        tokens.push(Token::Char {
            raw: &rest[..c.len_utf8()],
            c,
        });
        i += c.len_utf8();
    }
    tokens.extend(open.iter().map(|_| Token::Close));
    tokens
}

/// The length of an HTML text's visible text in UTF-16 units, as Telegram
/// counts it against [`MESSAGE_LIMIT`] (before it strips blank ends).
pub fn visible_len(html: &str) -> usize {
    tokenize(html)
        .iter()
        .map(|token| match token {
            Token::Char { c, .. } => c.len_utf16(),
            _ => 0,
        })
        .sum()
}

/// Chooses the parts of a visible text: ranges of character indices, each
/// at most `limit` UTF-16 units, starting and ending with a non-blank
/// character. A part ends at the last line break that fits, else at the last
/// white space, else at the last character that fits; the blank characters
/// around each cut belong to no part.
fn cut_ranges(chars: &[char], limit: usize) -> Vec<(usize, usize)> {
    let n = chars.len();
    let skip_blank = |mut i: usize| {
        while i < n && is_blank(chars[i]) {
            i += 1;
        }
        i
    };
    let trim_end = |start: usize, mut end: usize| {
        while end > start + 1 && is_blank(chars[end - 1]) {
            end -= 1;
        }
        end
    };
    let mut ranges = Vec::new();
    let mut start = skip_blank(0);
    while start < n {
        let mut end = start;
        let mut used = 0;
        while end < n && used + chars[end].len_utf16() <= limit {
            used += chars[end].len_utf16();
            end += 1;
        }
        if end == n {
            ranges.push((start, trim_end(start, n)));
            break;
        }
        // A character wider than the limit (below 2) still goes, alone.
        let end = end.max(start + 1);
        // Cut before a separator at most at `end`: the separator is dropped.
        let candidates = start + 1..=end.min(n - 1);
        let cut = candidates
            .clone()
            .rev()
            .find(|&j| chars[j] == '\n')
            .or_else(|| candidates.rev().find(|&j| is_break(chars[j])))
            .unwrap_or(end);
        ranges.push((start, trim_end(start, cut)));
        start = skip_blank(cut);
    }
    ranges
}

/// Splits a Telegram HTML text (what castellan writes: b, strong, i, em, u,
/// ins, s, strike, del, code, pre, a, tg-spoiler, span, blockquote,
/// tg-emoji and the escapes) into messages whose visible text is at most
/// `limit` UTF-16 units each (for `limit` ≥ 2; see [`MESSAGE_LIMIT`]).
///
/// A text that fits is returned unchanged, as one part. Otherwise parts end
/// at line breaks where they can, else at white space, else anywhere between
/// two characters (never inside an escape or a surrogate pair). The blank
/// characters ([`is_blank`]) at the ends of a part are left out, as Telegram
/// would strip them; no part is blank, and a blank text gives no part. Each
/// part is valid HTML: the elements open at a cut are closed at the end of
/// the part and opened again, with the same attributes, at the start of the
/// next one.
pub fn split_html(html: &str, limit: usize) -> Vec<String> {
    let tokens = tokenize(html);
    let visible: Vec<(usize, char)> = tokens
        .iter()
        .enumerate()
        .filter_map(|(i, token)| match token {
            Token::Char { c, .. } => Some((i, *c)),
            _ => None,
        })
        .collect();
    if visible.iter().map(|(_, c)| c.len_utf16()).sum::<usize>() <= limit {
        return vec![html.to_owned()];
    }
    let chars: Vec<char> = visible.iter().map(|&(_, c)| c).collect();
    let close = |open: usize| match &tokens[open] {
        Token::Open { name, .. } => format!("</{name}>"),
        _ => String::new(),
    };
    let mut parts = Vec::new();
    // Token indices of the open elements, innermost last, before token `next`.
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0;
    let step = |i: usize, stack: &mut Vec<usize>, out: Option<&mut String>| match &tokens[i] {
        Token::Open { raw, .. } => {
            stack.push(i);
            if let Some(out) = out {
                out.push_str(raw);
            }
        }
        Token::Close => {
            if let Some(open) = stack.pop()
                && let Some(out) = out
            {
                out.push_str(&close(open));
            }
        }
        Token::Char { raw, .. } => {
            if let Some(out) = out {
                out.push_str(raw);
            }
        }
    };
    for (first, end) in cut_ranges(&chars, limit) {
        let from = visible[first].0;
        let to = visible[end - 1].0 + 1;
        // What lies between two parts only opens and closes elements.
        while next < from {
            step(next, &mut stack, None);
            next += 1;
        }
        let mut part = String::new();
        for &open in &stack {
            if let Token::Open { raw, .. } = &tokens[open] {
                part.push_str(raw);
            }
        }
        while next < to {
            step(next, &mut stack, Some(&mut part));
            next += 1;
        }
        for &open in stack.iter().rev() {
            part.push_str(&close(open));
        }
        parts.push(part);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(kind: MessageEntityKind, offset: usize, length: usize) -> MessageEntity {
        MessageEntity {
            kind,
            offset,
            length,
        }
    }

    #[test]
    fn renders_nested_and_escaped() {
        let text = "bold <x> & link";
        let entities = vec![
            entity(MessageEntityKind::Bold, 0, 8),
            entity(MessageEntityKind::Italic, 5, 3),
            entity(
                MessageEntityKind::TextLink {
                    url: "https://example.com/?a=1&b=2".parse().unwrap(),
                },
                11,
                4,
            ),
        ];
        assert_eq!(
            to_html(text, &entities),
            "<b>bold <i>&lt;x&gt;</i></b> &amp; <a href=\"https://example.com/?a=1&amp;b=2\">link</a>"
        );
    }

    #[test]
    fn utf16_offsets_and_overlaps() {
        // The emoji takes two UTF-16 units.
        let text = "😀 ab";
        let entities = vec![entity(MessageEntityKind::Bold, 3, 2)];
        assert_eq!(to_html(text, &entities), "😀 <b>ab</b>");
        let text = "abcd";
        let entities = vec![
            entity(MessageEntityKind::Bold, 0, 3),
            entity(MessageEntityKind::Italic, 1, 3),
        ];
        assert_eq!(to_html(text, &entities), "<b>a<i>bc</i></b><i>d</i>");
    }

    #[test]
    fn tail_shifts_and_clips() {
        let text = "/save n 😀 bold";
        let entities = vec![
            entity(MessageEntityKind::BotCommand, 0, 5),
            entity(MessageEntityKind::Bold, 11, 4),
        ];
        let start = text.find('😀').unwrap();
        let (rest, shifted) = tail(text, &entities, start);
        assert_eq!(rest, "😀 bold");
        assert_eq!(shifted, vec![entity(MessageEntityKind::Bold, 3, 4)]);
    }

    #[test]
    fn shortening() {
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("exactly10!", 10), "exactly10!");
        assert_eq!(shorten("abcdefghijk", 10), "abcdefghi…");
        assert_eq!(shorten("abcd efghijk", 6), "abcd…");
        assert_eq!(shorten("😀😀😀😀", 3), "😀😀…");
        assert_eq!(shorten("abc", 0), "…");
        assert_eq!(echo(&"x".repeat(5000)).chars().count(), ECHO_MAX_CHARS);
    }

    #[test]
    fn splitting_prefers_lines_then_spaces_then_anywhere() {
        let fits = "<b>a\nb</b>";
        assert_eq!(split_html(fits, 3), vec![fits.to_owned()]);
        assert_eq!(split_html("aaa\nbbb\nccc", 7), vec!["aaa\nbbb", "ccc"]);
        assert_eq!(split_html("aaa bbb\nccc", 10), vec!["aaa bbb", "ccc"]);
        assert_eq!(split_html("aaa bbb ccc", 5), vec!["aaa", "bbb", "ccc"]);
        assert_eq!(split_html("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert_eq!(split_html("  \n\n  ", 2), Vec::<String>::new());
        assert_eq!(split_html("ab \n\n \ncd  ", 3), vec!["ab", "cd"]);
    }

    #[test]
    fn splitting_counts_escapes_and_surrogates_as_telegram_does() {
        assert_eq!(
            split_html("&lt;&lt;&lt; &amp;&amp;", 3),
            vec!["&lt;&lt;&lt;", "&amp;&amp;"]
        );
        assert_eq!(split_html("😀😀😀", 3), vec!["😀", "😀", "😀"]);
        assert_eq!(split_html("a😀b", 2), vec!["a", "😀", "b"]);
        assert_eq!(visible_len("<b>&lt;😀&#x41;&#66;&amp</b>"), 6);
    }

    #[test]
    fn splitting_reopens_elements_with_their_attributes() {
        let html = "<b>aaa <i>bbb ccc</i></b> <a href=\"https://x.y/?a=1&amp;b=2\">dd eeeee</a>";
        assert_eq!(
            split_html(html, 5),
            vec![
                "<b>aaa</b>",
                "<b><i>bbb</i></b>",
                "<b><i>ccc</i></b>",
                "<a href=\"https://x.y/?a=1&amp;b=2\">dd</a>",
                "<a href=\"https://x.y/?a=1&amp;b=2\">eeeee</a>",
            ]
        );
        let html = "<pre><code class=\"language-rust\">let a;\nlet b;</code></pre>";
        assert_eq!(
            split_html(html, 8),
            vec![
                "<pre><code class=\"language-rust\">let a;</code></pre>",
                "<pre><code class=\"language-rust\">let b;</code></pre>",
            ]
        );
        let html =
            "<blockquote expandable>one\ntwo</blockquote><span class=\"tg-spoiler\">x</span>";
        assert_eq!(
            split_html(html, 4),
            vec![
                "<blockquote expandable>one</blockquote>",
                "<blockquote expandable>two</blockquote><span class=\"tg-spoiler\">x</span>",
            ]
        );
        // Elements wrapping only the dropped blanks at a cut vanish.
        assert_eq!(split_html("ab<b> </b>\ncd", 3), vec!["ab", "cd"]);
    }

    #[test]
    fn splitting_repairs_what_does_not_nest() {
        assert_eq!(
            split_html("<b>ab <i>cd</b> ef", 3),
            vec!["<b>ab</b>", "<b><i>cd</i></b>", "ef"]
        );
        assert_eq!(
            split_html("ab </u>cd <s>ef", 3),
            vec!["ab", "cd", "<s>ef</s>"]
        );
    }
}

/// Property tests: the renderer and the splitter never panic, and what
/// they write is HTML the fake Bot API (which parses like Telegram) accepts.
#[cfg(test)]
mod proptests {
    use super::*;
    use fake_bot_api::text::{Entity, finalize, parse_html, utf16_len as fake_utf16_len};
    use proptest::prelude::*;
    use teloxide::types::{CustomEmojiId, User, UserId};

    fn text_char() -> impl Strategy<Value = char> {
        prop_oneof![
            8 => prop::char::range('a', 'z'),
            3 => Just(' '),
            2 => Just('\n'),
            2 => prop::sample::select(vec![
                '<', '>', '&', '"', '\'', '\t', '\r', '\u{a0}', '\u{200b}', '\u{200d}', 'é',
                '中', '\u{301}', ';', '#',
            ]),
            2 => prop::sample::select(vec!['😀', '👍', '𝐀', '🇪', '🏳']),
            1 => any::<char>(),
        ]
    }

    fn text(max: usize) -> impl Strategy<Value = String> {
        prop::collection::vec(text_char(), 0..max).prop_map(|chars| chars.into_iter().collect())
    }

    fn kind() -> impl Strategy<Value = MessageEntityKind> {
        use MessageEntityKind as K;
        prop_oneof![
            Just(K::Bold),
            Just(K::Italic),
            Just(K::Underline),
            Just(K::Strikethrough),
            Just(K::Spoiler),
            Just(K::Code),
            Just(K::Pre { language: None }),
            "[a-z+#\"<&]{1,8}".prop_map(|l| K::Pre { language: Some(l) }),
            prop::sample::select(vec![
                "https://example.com/",
                "https://example.com/?a=1&b=\"2\"",
                "tg://user?id=7",
            ])
            .prop_map(|url| K::TextLink {
                url: url.parse().expect("a valid test URL"),
            }),
            (1u64..1_000_000).prop_map(|id| K::CustomEmoji {
                custom_emoji_id: CustomEmojiId(id.to_string()),
            }),
            (1u64..1_000).prop_map(|id| K::TextMention {
                user: User {
                    id: UserId(id),
                    is_bot: false,
                    first_name: "U".into(),
                    last_name: None,
                    username: None,
                    language_code: None,
                    is_premium: false,
                    added_to_attachment_menu: false,
                },
            }),
            Just(K::Blockquote),
            Just(K::ExpandableBlockquote),
            Just(K::Mention),
            Just(K::BotCommand),
        ]
    }

    /// Entities anywhere: in range, past the end, inside surrogate pairs,
    /// and with offsets and lengths that overflow.
    fn entities() -> impl Strategy<Value = Vec<MessageEntity>> {
        let number = prop_oneof![8 => 0usize..120, 1 => any::<usize>()];
        prop::collection::vec(
            (kind(), number.clone(), number).prop_map(|(kind, offset, length)| MessageEntity {
                kind,
                offset,
                length,
            }),
            0..8,
        )
    }

    /// Entities within a text of `len` UTF-16 units.
    fn entities_within(len: usize) -> impl Strategy<Value = Vec<MessageEntity>> {
        let len = len.max(1);
        prop::collection::vec(
            (kind(), 0..len, 1..=len).prop_map(|(kind, offset, length)| MessageEntity {
                kind,
                offset,
                length,
            }),
            0..10,
        )
    }

    /// A text with entities in range. At most one code or pre: Telegram
    /// nests nothing in those, and the fake's parser (like TDLib's) tells
    /// `<pre><code class>` apart from nested ones by their ranges only.
    fn formatted(max: usize) -> impl Strategy<Value = (String, Vec<MessageEntity>)> {
        text(max).prop_flat_map(|text| {
            let len = utf16_len(&text);
            let entities = entities_within(len).prop_map(|entities| {
                let mut code = false;
                entities
                    .into_iter()
                    .filter(|e| {
                        let is_code = matches!(
                            e.kind,
                            MessageEntityKind::Code | MessageEntityKind::Pre { .. }
                        );
                        let keep = !(is_code && code);
                        code |= is_code;
                        keep
                    })
                    .collect::<Vec<_>>()
            });
            (Just(text), entities)
        })
    }

    /// What formats each UTF-16 unit of a parsed text.
    fn coverage(len: usize, entities: &[Entity]) -> Vec<Vec<String>> {
        let mut units = vec![Vec::new(); len];
        for e in entities {
            let what = format!(
                "{} {:?} {:?} {:?} {:?}",
                e.kind, e.url, e.language, e.custom_emoji_id, e.user_id
            );
            for unit in units.iter_mut().skip(e.offset).take(e.length) {
                unit.push(what.clone());
            }
        }
        for unit in &mut units {
            unit.sort();
        }
        units
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]

        #[test]
        fn to_html_never_panics_and_parses_back(text in text(80), entities in entities()) {
            let html = to_html(&text, &entities);
            let parsed = parse_html(&html);
            prop_assert!(parsed.is_ok(), "{html}: {parsed:?}");
            let (plain, _) = parsed.unwrap_or_default();
            prop_assert_eq!(plain, text);
        }

        #[test]
        fn tail_never_panics(text in text(40), entities in entities(), start in 0usize..60) {
            let (rest, shifted) = tail(&text, &entities, start);
            let len = utf16_len(&rest);
            for e in &shifted {
                prop_assert!(e.length > 0 && e.offset + e.length <= len);
            }
            prop_assert!(parse_html(&to_html(&rest, &shifted)).is_ok());
        }

        #[test]
        fn stored_to_html_never_panics(
            text in text(40),
            json in prop_oneof![
                ".{0,40}".boxed(),
                entities().prop_map(|e| serde_json::to_string(&e).unwrap_or_default()).boxed(),
            ],
        ) {
            let html = stored_to_html(&FormattedText { text: text.clone(), entities_json: json });
            let parsed = parse_html(&html);
            prop_assert!(parsed.is_ok(), "{html}: {parsed:?}");
        }

        #[test]
        fn split_parts_fit_parse_and_keep_text_and_formatting(
            (text, entities) in formatted(300),
            limit in 2usize..120,
        ) {
            let html = to_html(&text, &entities);
            let (original, original_entities) = parse_html(&html).unwrap_or_default();
            let original_coverage = coverage(fake_utf16_len(&original), &original_entities);
            let parts = split_html(&html, limit);
            if fake_utf16_len(&original) <= limit {
                prop_assert_eq!(parts, vec![html]);
                return Ok(());
            }
            // The parts' texts follow each other in the original, with only
            // blank characters between them.
            let mut rest = original.as_str();
            let mut at = 0; // UTF-16 units of the original consumed
            for part in &parts {
                let parsed = parse_html(part);
                prop_assert!(parsed.is_ok(), "{part}: {parsed:?}");
                let (plain, part_entities) = parsed.unwrap_or_default();
                let (sent, _) = finalize(&plain, part_entities.clone());
                prop_assert!(fake_utf16_len(&sent) <= limit, "{part}");
                prop_assert!(!plain.chars().all(is_blank), "blank part {part:?}");
                let skipped = rest.len() - rest.trim_start_matches(is_blank).len();
                at += fake_utf16_len(&rest[..skipped]);
                rest = &rest[skipped..];
                prop_assert!(rest.starts_with(&plain), "{plain:?} is not next in {rest:?}");
                let len = fake_utf16_len(&plain);
                prop_assert_eq!(
                    coverage(len, &part_entities),
                    original_coverage[at..at + len].to_vec(),
                    "formatting of {:?}", part
                );
                rest = &rest[plain.len()..];
                at += len;
            }
            prop_assert!(rest.chars().all(is_blank), "left over: {rest:?}");
        }

        #[test]
        fn split_never_panics_on_any_input(html in ".{0,200}", limit in 0usize..50) {
            let parts = split_html(&html, limit);
            if visible_len(&html) > limit {
                for part in &parts {
                    prop_assert!(!part.trim().is_empty());
                    if limit >= 2 {
                        prop_assert!(visible_len(part) <= limit, "{part}");
                    }
                }
            }
        }

        #[test]
        fn shorten_bounds_and_keeps_a_prefix(text in ".{0,100}", max in 1usize..80) {
            let short = shorten(&text, max);
            prop_assert!(short.chars().count() <= max);
            match short.strip_suffix('…') {
                Some(kept) if short != text => prop_assert!(text.starts_with(kept)),
                _ => prop_assert_eq!(short, text),
            }
        }
    }
}
