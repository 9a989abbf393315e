//! Translations: every user-facing string lives in `locales/<lang>.ftl`
//! (Fluent), compiled into the binary so it runs from any directory.
//!
//! Messages are sent in HTML parse mode. Interpolated values are escaped by
//! [`t!`] unless wrapped in [`Html`], which marks markup the bot built itself
//! from already-escaped parts.

use std::borrow::Cow;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lang {
    En,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Es];

    /// The user's Telegram `language_code` (an IETF tag such as `es-AR`),
    /// falling back to English for anything we do not translate.
    pub fn from_code(code: Option<&str>) -> Self {
        let primary = code
            .and_then(|code| code.split(['-', '_']).next())
            .unwrap_or("");
        if primary.eq_ignore_ascii_case("es") {
            Lang::Es
        } else {
            Lang::En
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Es => "es",
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("../locales/en.ftl"),
            Lang::Es => include_str!("../locales/es.ftl"),
        }
    }
}

type Bundle = FluentBundle<FluentResource>;

struct Catalog {
    en: Bundle,
    es: Bundle,
}

static CATALOG: LazyLock<Catalog> = LazyLock::new(|| Catalog {
    en: bundle(Lang::En),
    es: bundle(Lang::Es),
});

fn bundle(lang: Lang) -> Bundle {
    let langid: LanguageIdentifier = lang.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![langid]);
    // Unicode isolation marks would show up inside <code> ids and URLs.
    bundle.set_use_isolating(false);
    let resource = match FluentResource::try_new(lang.source().to_owned()) {
        Ok(resource) => resource,
        Err((resource, errors)) => {
            // Locale files are compiled in and checked by tests; keep what parsed.
            tracing::error!(lang = lang.code(), ?errors, "locale file has syntax errors");
            resource
        }
    };
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(lang = lang.code(), ?errors, "duplicate keys in locale file");
    }
    bundle
}

fn bundle_for(lang: Lang) -> &'static Bundle {
    match lang {
        Lang::En => &CATALOG.en,
        Lang::Es => &CATALOG.es,
    }
}

/// Markup the bot built itself from escaped parts: inserted as is.
#[derive(Debug, Clone)]
pub struct Html(pub String);

/// A value interpolated into a translated message.
pub trait Arg {
    fn into_arg(self) -> FluentValue<'static>;
}

impl Arg for &str {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(escape(self))
    }
}

impl Arg for String {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(escape(&self))
    }
}

impl Arg for &String {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(escape(self))
    }
}

impl Arg for Html {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(self.0)
    }
}

/// Ids are text, not numbers: Fluent would format -1001234567890 with digit
/// grouping in some locales.
impl Arg for i64 {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(self.to_string())
    }
}

/// Counts are numbers, so Fluent can choose plural forms.
impl Arg for usize {
    fn into_arg(self) -> FluentValue<'static> {
        FluentValue::from(self)
    }
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_escaped(&mut out, c);
    }
    out
}

/// Appends one character, escaped for Telegram's HTML parse mode.
pub fn push_escaped(out: &mut String, c: char) {
    match c {
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '&' => out.push_str("&amp;"),
        '"' => out.push_str("&quot;"),
        c => out.push(c),
    }
}

/// Formats message `key` in `lang`, falling back to English and, when the key
/// is missing everywhere (a bug the locale tests catch), to the key itself.
pub fn translate(lang: Lang, key: &str, args: Option<&FluentArgs<'_>>) -> String {
    for candidate in [lang, Lang::En] {
        let bundle = bundle_for(candidate);
        if let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) {
            let mut errors = Vec::new();
            let text: Cow<'_, str> = bundle.format_pattern(pattern, args, &mut errors);
            if !errors.is_empty() {
                tracing::error!(key, lang = candidate.code(), ?errors, "translation error");
            }
            return text.into_owned();
        }
    }
    tracing::error!(key, "missing translation");
    key.to_owned()
}

/// Whether a message exists in a locale (used by tests and the registry).
pub fn has_message(lang: Lang, key: &str) -> bool {
    bundle_for(lang).get_message(key).is_some()
}

/// `t!(lang, "key")` or `t!(lang, "key", name = value, …)`: a translated
/// string with every value escaped for HTML (wrap markup in [`Html`]).
#[macro_export]
macro_rules! t {
    ($lang:expr, $key:expr $(,)?) => {
        $crate::i18n::translate($lang, $key, None)
    };
    ($lang:expr, $key:expr, $($name:ident = $value:expr),+ $(,)?) => {{
        let mut args = ::fluent_bundle::FluentArgs::new();
        $( args.set(stringify!($name), $crate::i18n::Arg::into_arg($value)); )+
        $crate::i18n::translate($lang, $key, Some(&args))
    }};
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn keys(lang: Lang) -> BTreeSet<String> {
        let resource = match FluentResource::try_new(lang.source().to_owned()) {
            Ok(resource) => resource,
            Err((_, errors)) => panic!("{} locale does not parse: {errors:?}", lang.code()),
        };
        resource
            .entries()
            .filter_map(|entry| match entry {
                fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_locale_parses_and_has_the_same_keys() {
        let en = keys(Lang::En);
        let es = keys(Lang::Es);
        assert!(!en.is_empty());
        let only_en: Vec<_> = en.difference(&es).collect();
        let only_es: Vec<_> = es.difference(&en).collect();
        assert!(only_en.is_empty(), "missing in es.ftl: {only_en:?}");
        assert!(only_es.is_empty(), "missing in en.ftl: {only_es:?}");
    }

    /// Every `t!(…, "key"` in the sources names a message that exists.
    #[test]
    fn every_key_used_in_the_code_exists() {
        let mut missing = Vec::new();
        let mut seen = 0;
        visit(
            std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")),
            &mut |source| {
                for (_, rest) in source
                    .match_indices("t!(")
                    // `t!(`, not the end of `assert!(`.
                    .filter(|(i, _)| {
                        !source[..*i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                    })
                    .map(|(i, _)| ((), &source[i + 3..]))
                {
                    let Some(start) = rest.find('"') else {
                        continue;
                    };
                    // Only the first argument list: `t!(lang, "key"`.
                    if rest[..start].contains(')') || rest[..start].matches(',').count() != 1 {
                        continue;
                    }
                    let Some(len) = rest[start + 1..].find('"') else {
                        continue;
                    };
                    let key = &rest[start + 1..start + 1 + len];
                    seen += 1;
                    for lang in Lang::ALL {
                        if !has_message(lang, key) {
                            missing.push(format!("{}: {key}", lang.code()));
                        }
                    }
                }
            },
        );
        assert!(
            seen > 20,
            "the scan found too few keys ({seen}): is it broken?"
        );
        assert!(
            missing.is_empty(),
            "keys used in code but missing: {missing:?}"
        );
    }

    fn visit(dir: &std::path::Path, f: &mut dyn FnMut(&str)) {
        let entries = std::fs::read_dir(dir).expect("src is readable");
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                visit(&path, f);
            } else if path.extension().is_some_and(|e| e == "rs")
                // This file defines `t!` and would match itself.
                && !path.ends_with("i18n.rs")
            {
                f(&std::fs::read_to_string(&path).expect("source is readable"));
            }
        }
    }

    #[test]
    fn language_fallback() {
        assert_eq!(Lang::from_code(Some("es")), Lang::Es);
        assert_eq!(Lang::from_code(Some("es-AR")), Lang::Es);
        assert_eq!(Lang::from_code(Some("ES")), Lang::Es);
        assert_eq!(Lang::from_code(Some("de")), Lang::En);
        assert_eq!(Lang::from_code(Some("estonian")), Lang::En);
        assert_eq!(Lang::from_code(None), Lang::En);
    }

    #[test]
    fn values_are_escaped_and_markup_is_not() {
        let title = r#"Ops <Team> & "Friends""#;
        assert_eq!(escape(title), "Ops &lt;Team&gt; &amp; &quot;Friends&quot;");
        let text = crate::t!(Lang::En, "connect-success", title = title);
        assert!(
            text.contains("Ops &lt;Team&gt; &amp; &quot;Friends&quot;"),
            "{text}"
        );
        assert!(!text.contains("<Team>"));
    }
}
