//! Message text processing the way Telegram (TDLib's `MessageEntity.cpp`)
//! does it: HTML parse mode, MarkdownV2 parse mode, trimming, and automatic
//! detection of bot commands, mentions, hashtags, cashtags, URLs and e-mails.
//! All offsets and lengths are in UTF-16 code units.

use serde_json::{Value, json};

/// One message entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Entity type as the Bot API names it ("bold", "text_link", ...).
    pub kind: String,
    /// Offset in UTF-16 code units.
    pub offset: usize,
    /// Length in UTF-16 code units.
    pub length: usize,
    /// For "text_link".
    pub url: Option<String>,
    /// For "pre".
    pub language: Option<String>,
    /// For "custom_emoji".
    pub custom_emoji_id: Option<String>,
    /// For "text_mention".
    pub user_id: Option<i64>,
}

impl Entity {
    fn new(kind: &str, offset: usize, length: usize) -> Entity {
        Entity {
            kind: kind.to_owned(),
            offset,
            length,
            url: None,
            language: None,
            custom_emoji_id: None,
            user_id: None,
        }
    }

    /// The entity as Bot API JSON; `user` renders a text_mention's user.
    pub fn to_json(&self, user: &dyn Fn(i64) -> Value) -> Value {
        let mut v = json!({"type": self.kind, "offset": self.offset, "length": self.length});
        if let Some(u) = &self.url {
            v["url"] = json!(u);
        }
        if let Some(l) = &self.language {
            v["language"] = json!(l);
        }
        if let Some(c) = &self.custom_emoji_id {
            v["custom_emoji_id"] = json!(c);
        }
        if let Some(id) = self.user_id {
            v["user"] = user(id);
        }
        v
    }

    /// Parses an entity given by a client (the `entities` parameter).
    pub fn from_json(v: &Value) -> Option<Entity> {
        let kind = v.get("type")?.as_str()?;
        let offset = usize::try_from(v.get("offset")?.as_i64()?).ok()?;
        let length = usize::try_from(v.get("length")?.as_i64()?).ok()?;
        let mut e = Entity::new(kind, offset, length);
        e.url = v.get("url").and_then(Value::as_str).map(str::to_owned);
        e.language = v.get("language").and_then(Value::as_str).map(str::to_owned);
        e.custom_emoji_id = v
            .get("custom_emoji_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        e.user_id = v
            .get("user")
            .and_then(|u| u.get("id"))
            .and_then(Value::as_i64);
        Some(e)
    }

    fn end(&self) -> usize {
        self.offset + self.length
    }
}

/// Number of UTF-16 code units of `s`.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

fn type_priority(kind: &str) -> u8 {
    // TDLib's order for entities starting at the same offset with the same
    // length: containers first.
    match kind {
        "blockquote" | "expandable_blockquote" => 0,
        "pre" => 1,
        "code" => 2,
        "text_link" | "text_mention" => 3,
        "bold" => 4,
        "italic" => 5,
        "underline" => 6,
        "strikethrough" => 7,
        "spoiler" => 8,
        "custom_emoji" => 9,
        _ => 10,
    }
}

/// Sorts entities like Telegram: by offset, then longer first, then type.
pub fn sort_entities(entities: &mut [Entity]) {
    entities.sort_by(|a, b| {
        a.offset
            .cmp(&b.offset)
            .then(b.length.cmp(&a.length))
            .then(type_priority(&a.kind).cmp(&type_priority(&b.kind)))
    });
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n' | 0 | 0x0b | 0x0c)
}

/// TDLib's `decode_html_entity`: `&lt;` `&gt;` `&amp;` `&quot;` `&#NN;`
/// `&#xHH;` (the `;` is optional). Anything else is not an entity and the
/// `&` stays literal. On success advances `pos` past the entity.
fn decode_html_entity(b: &[u8], pos: &mut usize) -> Option<char> {
    let at = |i: usize| -> u8 { b.get(i).copied().unwrap_or(0) };
    let start = *pos;
    if at(start) != b'&' {
        return None;
    }
    let mut end = start + 1;
    let mut res: u32 = 0;
    if at(start + 1) == b'#' {
        end += 1;
        if at(start + 2) == b'x' {
            end += 1;
            while at(end).is_ascii_hexdigit() {
                res = res * 16 + (at(end) as char).to_digit(16).unwrap_or(0);
                end += 1;
                if res >= 0x10ffff {
                    return None;
                }
            }
        } else {
            while at(end).is_ascii_digit() {
                res = res * 10 + u32::from(at(end) - b'0');
                end += 1;
                if res >= 0x10ffff {
                    return None;
                }
            }
        }
        if res == 0 || end - start >= 10 {
            return None;
        }
    } else {
        while at(end).is_ascii_alphabetic() {
            end += 1;
        }
        res = match &b[start + 1..end] {
            b"lt" => u32::from(b'<'),
            b"gt" => u32::from(b'>'),
            b"amp" => u32::from(b'&'),
            b"quot" => u32::from(b'"'),
            _ => return None,
        };
    }
    let ch = char::from_u32(res)?;
    *pos = if at(end) == b';' { end + 1 } else { end };
    Some(ch)
}

const HTML_TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "s",
    "strike",
    "del",
    "u",
    "ins",
    "tg-spoiler",
    "tg-emoji",
    "span",
    "pre",
    "code",
    "blockquote",
];

/// Parses Telegram HTML (`parse_mode=HTML`) into plain text and entities.
/// `a` tags with `tg://user?id=N` become `text_mention` entities (with
/// `user_id` set). Errors are the `<reason>` part of
/// "Bad Request: can't parse entities: <reason>".
pub fn parse_html(text: &str) -> Result<(String, Vec<Entity>), String> {
    struct Open {
        tag: String,
        arg: String,
        offset: usize,
        begin_pos: usize,
    }
    let b = text.as_bytes();
    let at = |i: usize| -> u8 { b.get(i).copied().unwrap_or(0) };
    let lossy = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
    let mut result: Vec<u8> = Vec::with_capacity(b.len());
    let mut utf16 = 0usize;
    let mut entities: Vec<Entity> = Vec::new();
    let mut nested: Vec<Open> = Vec::new();
    let mut i = 0usize;
    while i < b.len() {
        let c = b[i];
        if c == b'&' {
            let mut pos = i;
            if let Some(ch) = decode_html_entity(b, &mut pos) {
                utf16 += ch.len_utf16();
                let mut buf = [0u8; 4];
                result.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                i = pos;
                continue;
            }
        }
        if c != b'<' {
            result.push(c);
            if c & 0xc0 != 0x80 {
                utf16 += if c >= 0xf0 { 2 } else { 1 };
            }
            i += 1;
            continue;
        }
        let begin_pos = i;
        i += 1;
        if at(i) != b'/' {
            while !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            if at(i) == 0 {
                return Err(format!("Unclosed start tag at byte offset {begin_pos}"));
            }
            let tag = lossy(&b[begin_pos + 1..i]).to_lowercase();
            if !HTML_TAGS.contains(&tag.as_str()) {
                return Err(format!(
                    "Unsupported start tag \"{tag}\" at byte offset {begin_pos}"
                ));
            }
            let mut arg = String::new();
            while at(i) != b'>' {
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == b'>' {
                    break;
                }
                let attr_begin = i;
                while !is_space(at(i)) && at(i) != b'=' && at(i) != b'>' {
                    i += 1;
                }
                let attr_name = lossy(&b[attr_begin.min(b.len())..i.min(b.len())]);
                let attr_end = i;
                if attr_name.is_empty() {
                    return Err(format!(
                        "Empty attribute name in the tag \"{tag}\" at byte offset {begin_pos}"
                    ));
                }
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) != b'=' && at(i) != 0 && (at(i) == b'>' || i > attr_end) {
                    // An attribute without a value, e.g. <blockquote expandable>.
                    if tag == "blockquote" && attr_name == "expandable" {
                        arg = "1".to_owned();
                    }
                    continue;
                }
                if at(i) != b'=' {
                    return Err(format!(
                        "Expected equal sign in declaration of an attribute of the tag \"{tag}\" at byte offset {begin_pos}"
                    ));
                }
                i += 1;
                while at(i) != 0 && is_space(at(i)) {
                    i += 1;
                }
                if at(i) == 0 {
                    return Err(format!(
                        "Unclosed start tag \"{tag}\" at byte offset {begin_pos}"
                    ));
                }
                let mut value: Vec<u8> = Vec::new();
                if at(i) != b'\'' && at(i) != b'"' {
                    let token_begin = i;
                    while at(i).is_ascii_alphanumeric() || at(i) == b'.' || at(i) == b'-' {
                        i += 1;
                    }
                    value.extend(b[token_begin..i].iter().map(u8::to_ascii_lowercase));
                    if !is_space(at(i)) && at(i) != b'>' {
                        return Err(format!(
                            "Unexpected end of name token at byte offset {token_begin}"
                        ));
                    }
                } else {
                    let end_ch = at(i);
                    i += 1;
                    while at(i) != end_ch && at(i) != 0 {
                        if at(i) == b'&' {
                            let mut pos = i;
                            if let Some(ch) = decode_html_entity(b, &mut pos) {
                                let mut buf = [0u8; 4];
                                value.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                                i = pos;
                                continue;
                            }
                        }
                        value.push(at(i));
                        i += 1;
                    }
                    if at(i) == end_ch {
                        i += 1;
                    }
                }
                if at(i) == 0 {
                    return Err(format!("Unclosed start tag at byte offset {begin_pos}"));
                }
                let value = lossy(&value);
                match (tag.as_str(), attr_name.as_str()) {
                    ("a", "href") => arg = value,
                    ("code", "class") if value.starts_with("language-") => {
                        arg = value["language-".len()..].to_owned()
                    }
                    ("span", "class") if value.starts_with("tg-") => {
                        arg = value["tg-".len()..].to_owned()
                    }
                    ("tg-emoji", "emoji-id") => arg = value,
                    ("blockquote", "expandable") => arg = "1".to_owned(),
                    _ => {}
                }
            }
            if tag == "span" && arg != "spoiler" {
                return Err(format!(
                    "Tag \"span\" must have class \"tg-spoiler\" at byte offset {begin_pos}"
                ));
            }
            nested.push(Open {
                tag,
                arg,
                offset: utf16,
                begin_pos: result.len(),
            });
            i += 1;
        } else {
            let Some(open) = nested.pop() else {
                return Err(format!("Unexpected end tag at byte offset {begin_pos}"));
            };
            while !is_space(at(i)) && at(i) != b'>' {
                i += 1;
            }
            let end_tag = lossy(&b[(begin_pos + 2).min(b.len())..i.min(b.len())]).to_lowercase();
            while is_space(at(i)) && at(i) != 0 {
                i += 1;
            }
            if at(i) != b'>' {
                return Err(format!("Unclosed end tag at byte offset {begin_pos}"));
            }
            if !end_tag.is_empty() && end_tag != open.tag {
                return Err(format!(
                    "Unmatched end tag at byte offset {begin_pos}, expected \"</{}>\", found \"</{end_tag}>\"",
                    open.tag
                ));
            }
            if utf16 > open.offset {
                let offset = open.offset;
                let length = utf16 - offset;
                match open.tag.as_str() {
                    "i" | "em" => entities.push(Entity::new("italic", offset, length)),
                    "b" | "strong" => entities.push(Entity::new("bold", offset, length)),
                    "s" | "strike" | "del" => {
                        entities.push(Entity::new("strikethrough", offset, length))
                    }
                    "u" | "ins" => entities.push(Entity::new("underline", offset, length)),
                    "tg-spoiler" | "span" => entities.push(Entity::new("spoiler", offset, length)),
                    "tg-emoji" => {
                        match open.arg.parse::<i64>() {
                            Ok(id) if id != 0 => {
                                let mut e = Entity::new("custom_emoji", offset, length);
                                e.custom_emoji_id = Some(id.to_string());
                                entities.push(e);
                            }
                            _ => return Err("Invalid custom emoji identifier specified".into()),
                        };
                    }
                    "a" => {
                        let url = if open.arg.is_empty() {
                            lossy(&result[open.begin_pos..])
                        } else {
                            open.arg
                        };
                        if let Some(user_id) = link_user_id(&url) {
                            let mut e = Entity::new("text_mention", offset, length);
                            e.user_id = Some(user_id);
                            entities.push(e);
                        } else if let Some(url) = check_link(&url) {
                            let mut e = Entity::new("text_link", offset, length);
                            e.url = Some(url);
                            entities.push(e);
                        }
                    }
                    "pre" => {
                        let last = entities.last_mut();
                        match last {
                            Some(e)
                                if e.kind == "code"
                                    && e.offset == offset
                                    && e.length == length
                                    && e.language.is_some() =>
                            {
                                e.kind = "pre".into();
                            }
                            _ => entities.push(Entity::new("pre", offset, length)),
                        }
                    }
                    "code" => {
                        let last = entities.last_mut();
                        match last {
                            Some(e)
                                if e.kind == "pre"
                                    && e.offset == offset
                                    && e.length == length
                                    && !open.arg.is_empty() =>
                            {
                                e.language = Some(open.arg);
                            }
                            _ => {
                                let mut e = Entity::new("code", offset, length);
                                if !open.arg.is_empty() {
                                    e.language = Some(open.arg);
                                }
                                entities.push(e);
                            }
                        }
                    }
                    "blockquote" => entities.push(Entity::new(
                        if open.arg == "1" {
                            "expandable_blockquote"
                        } else {
                            "blockquote"
                        },
                        offset,
                        length,
                    )),
                    _ => {}
                }
            }
            i += 1;
        }
    }
    if let Some(open) = nested.last() {
        return Err(format!(
            "Can't find end tag corresponding to start tag \"{}\"",
            open.tag
        ));
    }
    for e in &mut entities {
        if e.kind == "code" {
            e.language = None;
        }
    }
    Ok((String::from_utf8_lossy(&result).into_owned(), entities))
}

/// `tg://user?id=N` → N.
fn link_user_id(url: &str) -> Option<i64> {
    let rest = url
        .strip_prefix("tg://user?")
        .or_else(|| url.strip_prefix("tg:user?"))?;
    rest.split('&')
        .find_map(|kv| kv.strip_prefix("id="))
        .and_then(|id| id.parse::<i64>().ok())
        .filter(|id| *id > 0)
}

/// A simplified `LinkManager::check_link`: accepts http(s)/ftp/tg/ton links
/// and bare domains, normalizing like Telegram (scheme added, `/` after the
/// host). Returns None for links Telegram would drop.
pub fn check_link(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("tg:") || lower.starts_with("ton:") || lower.starts_with("mailto:") {
        return Some(url.to_owned());
    }
    let (scheme, rest) = match url.find("://") {
        Some(p) => {
            let scheme = lower[..p].to_owned();
            if !matches!(scheme.as_str(), "http" | "https" | "ftp") {
                return None;
            }
            (scheme, &url[p + 3..])
        }
        None => ("http".to_owned(), url),
    };
    let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..host_end];
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '@'))
    {
        return None;
    }
    if !host.contains('.') && !host.starts_with("localhost") {
        return None;
    }
    let mut out = format!("{scheme}://{host}");
    let tail = &rest[host_end..];
    if !tail.starts_with('/') {
        out.push('/');
    }
    out.push_str(tail);
    Some(out)
}

// ---------------------------------------------------------------------------
// MarkdownV2

const MDV2_RESERVED: &str = "_*[]()~`>#+-=|{}.!";

/// Parses MarkdownV2 (`parse_mode=MarkdownV2`). Errors are the `<reason>`
/// part of "Bad Request: can't parse entities: <reason>".
pub fn parse_markdown_v2(text: &str) -> Result<(String, Vec<Entity>), String> {
    struct Open {
        marker: &'static str,
        offset: usize,
        byte: usize,
        begin_pos: usize,
    }
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = String::with_capacity(text.len());
    let mut utf16 = 0usize;
    let mut entities: Vec<Entity> = Vec::new();
    let mut nested: Vec<Open> = Vec::new();
    let mut i = 0usize;
    let ch = |i: usize| chars.get(i).map(|c| c.1);
    let byte_of = |i: usize| chars.get(i).map_or(text.len(), |c| c.0);
    while i < chars.len() {
        let (pos, c) = chars[i];
        if c == '\\' {
            match ch(i + 1) {
                Some(n) if (n as u32) > 0 && (n as u32) < 127 => {
                    out.push(n);
                    utf16 += 1;
                    i += 2;
                    continue;
                }
                _ => {
                    out.push(c);
                    utf16 += 1;
                    i += 1;
                    continue;
                }
            }
        }
        // Inside code/pre only ` and \ are special.
        let in_code = nested
            .last()
            .is_some_and(|o| o.marker == "`" || o.marker == "```");
        if in_code && c != '`' {
            out.push(c);
            utf16 += c.len_utf16();
            i += 1;
            continue;
        }
        if !MDV2_RESERVED.contains(c) {
            out.push(c);
            utf16 += c.len_utf16();
            i += 1;
            continue;
        }
        // Closing an open entity?
        let marker: Option<&'static str> = match c {
            '_' if ch(i + 1) == Some('_') => Some("__"),
            '_' => Some("_"),
            '*' => Some("*"),
            '~' => Some("~"),
            '|' if ch(i + 1) == Some('|') => Some("||"),
            '`' if ch(i + 1) == Some('`') && ch(i + 2) == Some('`') => Some("```"),
            '`' => Some("`"),
            '[' => Some("["),
            ']' if nested.last().is_some_and(|o| o.marker == "[") => Some("]"),
            _ => None,
        };
        let Some(marker) = marker else {
            return Err(format!(
                "Character '{c}' is reserved and must be escaped with the preceding '\\'"
            ));
        };
        let marker_len = marker.chars().count();
        if marker == "]" {
            let Some(open) = nested.pop() else {
                return Err("Unexpected end tag".into());
            };
            i += 1;
            // Expect (url)
            if ch(i) != Some('(') {
                // Telegram treats [text] without url as plain? it errors.
                return Err(format!(
                    "Can't find end of Url at byte offset {}",
                    byte_of(i)
                ));
            }
            i += 1;
            let mut url = String::new();
            loop {
                match ch(i) {
                    None => {
                        return Err(format!(
                            "Can't find end of a Url at byte offset {}",
                            open.begin_pos
                        ));
                    }
                    Some(')') => {
                        i += 1;
                        break;
                    }
                    Some('\\') if ch(i + 1).is_some() => {
                        url.push(ch(i + 1).unwrap_or_default());
                        i += 2;
                    }
                    Some(x) => {
                        url.push(x);
                        i += 1;
                    }
                }
            }
            if utf16 > open.offset {
                let length = utf16 - open.offset;
                if let Some(user_id) = link_user_id(&url) {
                    let mut e = Entity::new("text_mention", open.offset, length);
                    e.user_id = Some(user_id);
                    entities.push(e);
                } else if let Some(url) = check_link(&url) {
                    let mut e = Entity::new("text_link", open.offset, length);
                    e.url = Some(url);
                    entities.push(e);
                }
            }
            continue;
        }
        if let Some(idx) = nested.iter().rposition(|o| o.marker == marker) {
            let open = nested.remove(idx);
            i += marker_len;
            if marker == "```" {
                // The first line of a pre block may name its language.
                let body = &out[open.byte..];
                let mut language = None;
                if let Some(nl) = body.find('\n') {
                    let lang = &body[..nl];
                    if !lang.is_empty() && !lang.contains(char::is_whitespace) {
                        language = Some(lang.to_owned());
                    }
                }
                if let Some(lang) = &language {
                    out.replace_range(open.byte..open.byte + lang.len() + 1, "");
                    utf16 -= utf16_len(lang) + 1;
                }
                if utf16 > open.offset {
                    let mut e = Entity::new("pre", open.offset, utf16 - open.offset);
                    e.language = language;
                    entities.push(e);
                }
                continue;
            }
            if utf16 > open.offset {
                let kind = match marker {
                    "*" => "bold",
                    "_" => "italic",
                    "__" => "underline",
                    "~" => "strikethrough",
                    "||" => "spoiler",
                    _ => "code",
                };
                entities.push(Entity::new(kind, open.offset, utf16 - open.offset));
            }
            continue;
        }
        nested.push(Open {
            marker,
            offset: utf16,
            byte: out.len(),
            begin_pos: pos,
        });
        i += marker_len;
    }
    if let Some(open) = nested.last() {
        return Err(format!(
            "Can't find end of the entity starting at byte offset {}",
            open.begin_pos
        ));
    }
    Ok((out, entities))
}

// ---------------------------------------------------------------------------
// Automatic entities

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

const TLDS: &[&str] = &[
    "com", "org", "net", "io", "me", "ru", "de", "uk", "us", "info", "biz", "dev", "app", "tv",
    "gg", "co", "ly", "eu", "fr", "it", "es", "nl", "ch", "at", "be", "pl", "ua", "by", "kz", "in",
    "jp", "cn", "br", "ca", "au", "xyz", "online", "site", "tech", "ai", "edu", "gov", "org.uk",
    "su", "pro", "name", "mobi", "cc", "to", "fm", "sh", "se", "no", "fi", "dk",
];

/// Finds the entities Telegram detects by itself in plain text.
pub fn find_auto_entities(text: &str) -> Vec<Entity> {
    let chars: Vec<char> = text.chars().collect();
    let mut off16 = Vec::with_capacity(chars.len() + 1);
    let mut acc = 0usize;
    for c in &chars {
        off16.push(acc);
        acc += c.len_utf16();
    }
    off16.push(acc);
    let n = chars.len();
    let at = |i: usize| chars.get(i).copied();
    let mut found: Vec<Entity> = Vec::new();
    let mut push = |kind: &str, s: usize, e: usize| {
        found.push(Entity::new(kind, off16[s], off16[e] - off16[s]));
    };
    let cmd_boundary =
        |c: Option<char>| c.is_some_and(|c| is_word_char(c) || matches!(c, '/' | '<' | '>' | '\\'));
    let mut i = 0usize;
    while i < n {
        let c = chars[i];
        let prev = if i == 0 { None } else { at(i - 1) };
        match c {
            '/' if !cmd_boundary(prev) => {
                let mut j = i + 1;
                while j < n && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                if j == i + 1 || j - i - 1 > 64 {
                    i += 1;
                    continue;
                }
                if at(j) == Some('@') {
                    let mut k = j + 1;
                    while k < n && (chars[k].is_ascii_alphanumeric() || chars[k] == '_') {
                        k += 1;
                    }
                    let size = k - j - 1;
                    if (3..=32).contains(&size) {
                        j = k;
                    }
                }
                if cmd_boundary(at(j)) {
                    i += 1;
                    continue;
                }
                push("bot_command", i, j);
                i = j;
                continue;
            }
            '@' if !prev.is_some_and(|p| is_word_char(p) || p == '@' || p == '.') => {
                let mut j = i + 1;
                while j < n && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let size = j - i - 1;
                if (4..=32).contains(&size) && !at(j).is_some_and(is_word_char) {
                    push("mention", i, j);
                    i = j;
                    continue;
                }
            }
            '#' if !prev.is_some_and(|p| is_word_char(p) || p == '#') => {
                let mut j = i + 1;
                while j < n && (is_word_char(chars[j]) || chars[j] == '·') && j - i <= 256 {
                    j += 1;
                }
                if j > i + 1 && at(j).is_none_or(|c| c != '#') {
                    push("hashtag", i, j);
                    i = j;
                    continue;
                }
            }
            '$' if !prev.is_some_and(|p| is_word_char(p) || p == '$') => {
                let mut j = i + 1;
                while j < n && chars[j].is_ascii_uppercase() {
                    j += 1;
                }
                let size = j - i - 1;
                if (1..=8).contains(&size) && !at(j).is_some_and(|c| is_word_char(c) || c == '$') {
                    push("cashtag", i, j);
                    i = j;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    // URLs and e-mails: scan whitespace-separated tokens.
    let mut start = 0usize;
    while start < n {
        while start < n && chars[start].is_whitespace() {
            start += 1;
        }
        let mut end = start;
        while end < n && !chars[end].is_whitespace() {
            end += 1;
        }
        if start < end {
            scan_token_for_links(&chars[start..end], start, &mut |k, s, e| push(k, s, e));
        }
        start = end;
    }
    // Resolve overlaps: earlier and longer wins.
    sort_entities(&mut found);
    let mut kept: Vec<Entity> = Vec::new();
    for e in found {
        if kept
            .iter()
            .all(|k| e.offset >= k.end() || e.end() <= k.offset)
        {
            kept.push(e);
        }
    }
    kept
}

fn scan_token_for_links(tok: &[char], base: usize, push: &mut dyn FnMut(&str, usize, usize)) {
    // Strip leading/trailing punctuation.
    let mut s = 0usize;
    let mut e = tok.len();
    while s < e && matches!(tok[s], '(' | '[' | '"' | '\'' | '<' | '«' | '{') {
        s += 1;
    }
    while e > s
        && matches!(
            tok[e - 1],
            '.' | ',' | ':' | ';' | '!' | '?' | ')' | ']' | '"' | '\'' | '>' | '»' | '}'
        )
    {
        e -= 1;
    }
    if s >= e {
        return;
    }
    let word: String = tok[s..e].iter().collect();
    let lower = word.to_lowercase();
    let scheme_len = ["http://", "https://", "ftp://", "tg://", "ton://"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| p.chars().count());
    if let Some(sl) = scheme_len {
        if e - s > sl {
            push("url", base + s, base + e);
        }
        return;
    }
    // e-mail
    if let Some(at_pos) = word.find('@') {
        let (local, domain) = (&word[..at_pos], &word[at_pos + 1..]);
        if !local.is_empty()
            && local
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+'))
            && is_domain(domain)
        {
            push("email", base + s, base + e);
        }
        return;
    }
    // bare domain with optional path
    let host_end = word.find(['/', '?', '#', ':']).unwrap_or(word.len());
    if is_domain(&word[..host_end]) {
        push("url", base + s, base + e);
    }
}

fn is_domain(host: &str) -> bool {
    let lower = host.to_lowercase();
    let labels: Vec<&str> = lower.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    if !labels.iter().all(|l| {
        !l.is_empty()
            && !l.starts_with('-')
            && l.chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
    }) {
        return false;
    }
    let tld = labels[labels.len() - 1];
    TLDS.contains(&tld)
}

/// What Telegram does to a message text after parsing: trims whitespace at
/// both ends (moving entities), drops empty entities, clamps the ones
/// beyond the text, adds the automatically detected entities that don't
/// intersect code/pre/links, and sorts.
pub fn finalize(text: &str, mut entities: Vec<Entity>) -> (String, Vec<Entity>) {
    let is_ws = |c: char| matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{0b}' | '\u{0c}');
    let trimmed_start = text.trim_start_matches(is_ws);
    let removed16 = utf16_len(&text[..text.len() - trimmed_start.len()]);
    let trimmed = trimmed_start.trim_end_matches(is_ws).to_owned();
    let len16 = utf16_len(&trimmed);
    let mut out: Vec<Entity> = Vec::with_capacity(entities.len());
    for mut e in entities.drain(..) {
        let start = e.offset.saturating_sub(removed16);
        let end = (e.offset + e.length).saturating_sub(removed16).min(len16);
        if end <= start {
            continue;
        }
        e.offset = start;
        e.length = end - start;
        out.push(e);
    }
    let blocking: Vec<(usize, usize)> = out
        .iter()
        .filter(|e| {
            matches!(
                e.kind.as_str(),
                "code"
                    | "pre"
                    | "text_link"
                    | "text_mention"
                    | "custom_emoji"
                    | "url"
                    | "email"
                    | "bot_command"
                    | "mention"
                    | "hashtag"
                    | "cashtag"
            )
        })
        .map(|e| (e.offset, e.end()))
        .collect();
    for auto in find_auto_entities(&trimmed) {
        if blocking
            .iter()
            .all(|&(s, t)| auto.end() <= s || auto.offset >= t)
        {
            out.push(auto);
        }
    }
    sort_entities(&mut out);
    (trimmed, out)
}

/// Entities of an incoming user message (what a Telegram client sends plus
/// what the server detects): only the automatic ones.
pub fn user_entities(text: &str) -> Vec<Entity> {
    find_auto_entities(text)
}
