//! Telegram's HTML/MarkdownV2 parsing and automatic entities.

use fake_bot_api::text::{Entity, finalize, find_auto_entities, parse_html, parse_markdown_v2};

fn kinds(e: &[Entity]) -> Vec<(String, usize, usize)> {
    e.iter()
        .map(|e| (e.kind.clone(), e.offset, e.length))
        .collect()
}

fn k(kind: &str, o: usize, l: usize) -> (String, usize, usize) {
    (kind.to_owned(), o, l)
}

#[test]
fn nested_tags() {
    let (t, e) = parse_html("<b>bold <i>both</i></b> plain <u>u</u><s>s</s>").unwrap();
    assert_eq!(t, "bold both plain us");
    assert_eq!(
        kinds(&e),
        vec![
            k("italic", 5, 4),
            k("bold", 0, 9),
            k("underline", 16, 1),
            k("strikethrough", 17, 1)
        ]
    );
}

#[test]
fn escapes_are_accepted() {
    let (t, e) = parse_html("Ops &lt;Team&gt; &amp; \"Friends\"").unwrap();
    assert_eq!(t, "Ops <Team> & \"Friends\"");
    assert!(e.is_empty());
    let (t, _) = parse_html("&#60;&#x3E;&quot;&nbsp;&copy; AT&T &").unwrap();
    assert_eq!(t, "<>\"&nbsp;&copy; AT&T &");
}

#[test]
fn raw_angle_brackets_are_rejected() {
    let e = parse_html("Ops <Team>").unwrap_err();
    assert_eq!(e, "Unsupported start tag \"team\" at byte offset 4");
    let e = parse_html("a < b").unwrap_err();
    assert!(
        e.starts_with("Unsupported start tag \"\" at byte offset 2"),
        "{e}"
    );
    let e = parse_html("x <b").unwrap_err();
    assert_eq!(e, "Unclosed start tag at byte offset 2");
}

#[test]
fn unbalanced_tags_are_rejected() {
    assert_eq!(
        parse_html("<b>x").unwrap_err(),
        "Can't find end tag corresponding to start tag \"b\""
    );
    assert_eq!(
        parse_html("<b>x</i>").unwrap_err(),
        "Unmatched end tag at byte offset 4, expected \"</b>\", found \"</i>\""
    );
    assert_eq!(
        parse_html("x</b>").unwrap_err(),
        "Unexpected end tag at byte offset 1"
    );
    assert!(
        parse_html("<span>x</span>")
            .unwrap_err()
            .contains("tg-spoiler")
    );
}

#[test]
fn utf16_offsets() {
    let (t, e) = parse_html("😀 é <b>x</b>").unwrap();
    assert_eq!(t, "😀 é x");
    assert_eq!(kinds(&e), vec![k("bold", 5, 1)]);
}

#[test]
fn links_code_pre_spoiler_blockquote() {
    let (t, e) = parse_html(
        "<a href=\"https://example.com\">site</a> <a href='tg://user?id=42'>u</a> <code>c</code> \
         <pre><code class=\"language-rust\">fn</code></pre> <span class=\"tg-spoiler\">s</span> \
         <tg-spoiler>t</tg-spoiler> <blockquote expandable>q</blockquote> <blockquote>r</blockquote>",
    )
    .unwrap();
    assert_eq!(t, "site u c fn s t q r");
    assert_eq!(e[0].kind, "text_link");
    assert_eq!(e[0].url.as_deref(), Some("https://example.com/"));
    assert_eq!(e[1].kind, "text_mention");
    assert_eq!(e[1].user_id, Some(42));
    assert_eq!(e[2].kind, "code");
    assert_eq!(e[3].kind, "pre");
    assert_eq!(e[3].language.as_deref(), Some("rust"));
    assert_eq!(e[4].kind, "spoiler");
    assert_eq!(e[5].kind, "spoiler");
    assert_eq!(e[6].kind, "expandable_blockquote");
    assert_eq!(e[7].kind, "blockquote");
}

#[test]
fn tags_are_case_insensitive_and_empty_entities_vanish() {
    let (t, e) = parse_html("<B>x</B><i></i>").unwrap();
    assert_eq!(t, "x");
    assert_eq!(kinds(&e), vec![k("bold", 0, 1)]);
}

#[test]
fn auto_entities() {
    let e = find_auto_entities(
        "/start@castellan_test_bot hi #ops @alice_w x/y $USD https://t.me/x mail a@b.com example.org /help",
    );
    let got: Vec<&str> = e.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        got,
        vec![
            "bot_command",
            "hashtag",
            "mention",
            "cashtag",
            "url",
            "email",
            "url",
            "bot_command"
        ]
    );
    assert_eq!((e[0].offset, e[0].length), (0, 25));
}

#[test]
fn finalize_trims_and_keeps_offsets() {
    let (t, e) = parse_html("\n  <b>hi</b> /help  \n").unwrap();
    let (t, e) = finalize(&t, e);
    assert_eq!(t, "hi /help");
    assert_eq!(kinds(&e), vec![k("bold", 0, 2), k("bot_command", 3, 5)]);
    // no auto entities inside code
    let (t, e) = parse_html("<code>/help</code>").unwrap();
    let (_, e) = finalize(&t, e);
    assert_eq!(kinds(&e), vec![k("code", 0, 5)]);
}

#[test]
fn markdown_v2() {
    let (t, e) =
        parse_markdown_v2("*bold _it_* \\. [link](https://example.com) `c` ||s||").unwrap();
    assert_eq!(t, "bold it . link c s");
    assert_eq!(
        kinds(&e),
        vec![
            k("italic", 5, 2),
            k("bold", 0, 7),
            k("text_link", 10, 4),
            k("code", 15, 1),
            k("spoiler", 17, 1)
        ]
    );
    let err = parse_markdown_v2("1.5").unwrap_err();
    assert!(err.contains("reserved"), "{err}");
    let (t, e) = parse_markdown_v2("```rust\nfn x```").unwrap();
    assert_eq!(t, "fn x");
    assert_eq!(e[0].language.as_deref(), Some("rust"));
}
