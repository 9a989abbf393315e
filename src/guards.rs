//! Each group's message guards, compiled once from the store and held in
//! memory: locks as a bit set, every filter keyword and blacklist entry in
//! one Aho-Corasick automaton (word boundaries checked on the hits), the
//! disabled commands as a set. A message is checked without a query and at
//! a cost that grows with its length, not with the number of keywords.
//!
//! A chat's entry is built on its first message and rebuilt when an admin
//! changes its guards, on every replica: the change is announced on the
//! database's channel (see `Store::announce_guards_changed`), as admin
//! changes are. A chat with no guards keeps an empty entry, so its chatter
//! costs one map lookup.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use aho_corasick::{AhoCorasick, MatchKind};
use teloxide::types::{Message, MessageEntityKind};

use crate::store::{FloodSettings, FormattedText, GuardAction, GuardSet};

/// What a lock can forbid. The bit of each is its position here; stored
/// bit sets keep their meaning as long as kinds are only ever appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockKind {
    All,
    Sticker,
    Gif,
    Photo,
    Video,
    Voice,
    Audio,
    Document,
    Url,
    Forward,
    Inline,
    Poll,
    Contact,
    Location,
    Game,
    Dice,
    Bot,
    VideoNote,
}

impl LockKind {
    pub const ALL: [LockKind; 18] = [
        LockKind::All,
        LockKind::Sticker,
        LockKind::Gif,
        LockKind::Photo,
        LockKind::Video,
        LockKind::Voice,
        LockKind::Audio,
        LockKind::Document,
        LockKind::Url,
        LockKind::Forward,
        LockKind::Inline,
        LockKind::Poll,
        LockKind::Contact,
        LockKind::Location,
        LockKind::Game,
        LockKind::Dice,
        LockKind::Bot,
        LockKind::VideoNote,
    ];

    /// The name `/lock` takes.
    pub fn name(self) -> &'static str {
        match self {
            LockKind::All => "all",
            LockKind::Sticker => "sticker",
            LockKind::Gif => "gif",
            LockKind::Photo => "photo",
            LockKind::Video => "video",
            LockKind::Voice => "voice",
            LockKind::Audio => "audio",
            LockKind::Document => "document",
            LockKind::Url => "url",
            LockKind::Forward => "forward",
            LockKind::Inline => "inline",
            LockKind::Poll => "poll",
            LockKind::Contact => "contact",
            LockKind::Location => "location",
            LockKind::Game => "game",
            LockKind::Dice => "dice",
            LockKind::Bot => "bot",
            LockKind::VideoNote => "videonote",
        }
    }

    pub fn by_name(name: &str) -> Option<LockKind> {
        let name = name.trim().to_lowercase();
        let name = name
            .strip_suffix('s')
            .filter(|n| !n.is_empty())
            .unwrap_or(&name);
        LockKind::ALL.into_iter().find(|kind| {
            kind.name() == name
                || matches!(
                    (kind, name),
                    (LockKind::Gif, "animation")
                        | (LockKind::Url, "link")
                        | (LockKind::Inline, "via")
                        | (LockKind::VideoNote, "video_note")
                )
        })
    }

    pub fn bit(self) -> u64 {
        1 << (self as u32)
    }

    /// The kinds a message is, for the locks (a bot added is not a message
    /// kind: see [`added_bots`]).
    pub fn of(msg: &Message) -> u64 {
        let mut kinds = 0;
        let mut add = |kind: LockKind, present: bool| {
            if present {
                kinds |= kind.bit();
            }
        };
        add(LockKind::Sticker, msg.sticker().is_some());
        add(LockKind::Gif, msg.animation().is_some());
        add(LockKind::Photo, msg.photo().is_some());
        add(LockKind::Video, msg.video().is_some());
        add(LockKind::Voice, msg.voice().is_some());
        add(LockKind::Audio, msg.audio().is_some());
        // A GIF comes with a document too: it counts as a GIF only.
        add(
            LockKind::Document,
            msg.document().is_some() && msg.animation().is_none(),
        );
        add(LockKind::VideoNote, msg.video_note().is_some());
        add(LockKind::Forward, msg.forward_origin().is_some());
        add(LockKind::Inline, msg.via_bot.is_some());
        add(LockKind::Poll, msg.poll().is_some());
        add(LockKind::Contact, msg.contact().is_some());
        add(
            LockKind::Location,
            msg.location().is_some() || msg.venue().is_some(),
        );
        add(LockKind::Game, msg.game().is_some());
        add(LockKind::Dice, msg.dice().is_some());
        let entities = msg
            .entities()
            .into_iter()
            .chain(msg.caption_entities())
            .flatten();
        let links = entities.into_iter().any(|e| {
            matches!(
                e.kind,
                MessageEntityKind::Url | MessageEntityKind::TextLink { .. }
            )
        });
        add(LockKind::Url, links);
        // Anything a member can post counts for "all"; service messages do not.
        if msg.text().is_some() || msg.caption().is_some() || kinds != 0 {
            kinds |= LockKind::All.bit();
        }
        kinds
    }
}

/// The bots a message says were added to the group.
pub fn added_bots(msg: &Message) -> impl Iterator<Item = &teloxide::types::User> {
    msg.new_chat_members()
        .unwrap_or_default()
        .iter()
        .filter(|user| user.is_bot)
}

/// What one automaton pattern stands for.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    /// `filters[i]`.
    Filter(usize),
    /// `blacklist[i]`: the pattern is the entry's first literal part.
    Blacklist(usize),
}

/// One chat's guards, compiled.
pub struct ChatGuards {
    pub locks: u64,
    pub filters: Vec<(String, FormattedText)>,
    pub blacklist: Vec<String>,
    pub blacklist_action: GuardAction,
    pub flood: FloodSettings,
    pub disabled: HashSet<String>,
    pub disabled_delete: bool,
    automaton: Option<AhoCorasick>,
    patterns: Vec<Pattern>,
}

/// A keyword or blacklist entry found in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Filter(usize),
    Blacklist(usize),
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `text[start..end]` stands as whole words.
fn at_word_boundaries(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    let first = text[start..].chars().next();
    let last = text[..end].chars().next_back();
    // A keyword that starts (ends) with a word character needs a
    // non-word character (or the text's edge) before (after) it.
    let open = !first.is_some_and(is_word_char) || !before.is_some_and(is_word_char);
    let close = !last.is_some_and(is_word_char) || !after.is_some_and(is_word_char);
    open && close
}

/// The end of a wildcard entry's match starting with its first literal at
/// `start..first_end` in `text`, when the rest of the entry matches: each
/// `*` stands for any run of characters other than white space.
fn glob_end(text: &str, first_end: usize, rest: &[&str]) -> Option<usize> {
    let mut at = first_end;
    for literal in rest {
        if literal.is_empty() {
            // A trailing `*`: the rest of the word.
            at += text[at..]
                .find(char::is_whitespace)
                .unwrap_or(text.len() - at);
            continue;
        }
        let found = text[at..].find(literal)?;
        // The run the `*` covers may not cross white space.
        if text[at..at + found].contains(char::is_whitespace) {
            return None;
        }
        at += found + literal.len();
    }
    Some(at)
}

/// The lower-case form keywords, entries and texts are compared in.
pub fn fold(text: &str) -> String {
    text.to_lowercase()
}

impl ChatGuards {
    pub fn compile(set: GuardSet) -> ChatGuards {
        let mut literals = Vec::new();
        let mut patterns = Vec::new();
        for (i, (keyword, _)) in set.filters.iter().enumerate() {
            if !keyword.is_empty() {
                literals.push(keyword.clone());
                patterns.push(Pattern::Filter(i));
            }
        }
        for (i, entry) in set.blacklist.iter().enumerate() {
            let first = entry.split('*').find(|part| !part.is_empty()).unwrap_or("");
            if !first.is_empty() {
                literals.push(first.to_owned());
                patterns.push(Pattern::Blacklist(i));
            }
        }
        let automaton = if literals.is_empty() {
            None
        } else {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&literals)
                .map_err(|error| tracing::error!(%error, "a chat's keywords did not compile"))
                .ok()
        };
        ChatGuards {
            locks: set.locks,
            disabled: set.disabled.into_iter().collect(),
            disabled_delete: set.disabled_delete,
            filters: set.filters,
            blacklist: set.blacklist,
            blacklist_action: set.blacklist_action,
            flood: set.flood,
            automaton,
            patterns,
        }
    }

    /// Nothing is guarded: chatter asks nothing.
    pub fn is_empty(&self) -> bool {
        self.locks == 0
            && self.automaton.is_none()
            && self.flood.consecutive.is_none()
            && self.flood.timer.is_none()
            && self.disabled.is_empty()
    }

    /// Whether antiflood counts this chat's messages.
    pub fn counts_flood(&self) -> bool {
        self.flood.consecutive.is_some() || self.flood.timer.is_some()
    }

    pub fn locked(&self, kinds: u64) -> bool {
        self.locks & kinds != 0
    }

    /// The keywords and entries a (folded) text holds as whole words, in
    /// the order they start; overlapping hits all count.
    pub fn hits(&self, folded: &str) -> Vec<Hit> {
        let Some(automaton) = &self.automaton else {
            return Vec::new();
        };
        let mut hits = Vec::new();
        for found in automaton.find_overlapping_iter(folded) {
            let Some(pattern) = self.patterns.get(found.pattern().as_usize()) else {
                continue;
            };
            let hit = match *pattern {
                Pattern::Filter(i) => {
                    at_word_boundaries(folded, found.start(), found.end()).then_some(Hit::Filter(i))
                }
                Pattern::Blacklist(i) => {
                    let entry = &self.blacklist[i];
                    let parts: Vec<&str> = entry.split('*').collect();
                    // Only an entry's first literal is in the automaton: the
                    // rest is matched here.
                    let leading_star = parts.first().is_some_and(|p| p.is_empty());
                    let rest: Vec<&str> = parts
                        .iter()
                        .skip_while(|p| p.is_empty())
                        .skip(1)
                        .copied()
                        .collect();
                    let mut start = found.start();
                    if leading_star {
                        start = folded[..start]
                            .rfind(char::is_whitespace)
                            .map_or(0, |at| at + 1);
                    }
                    glob_end(folded, found.end(), &rest)
                        .filter(|end| at_word_boundaries(folded, start, *end))
                        .map(|_| Hit::Blacklist(i))
                }
            };
            if let Some(hit) = hit
                && !hits.contains(&hit)
            {
                hits.push(hit);
            }
        }
        hits
    }

    /// Roughly what this chat's compiled guards hold in memory, in bytes.
    pub fn memory(&self) -> usize {
        let texts: usize = self
            .filters
            .iter()
            .map(|(keyword, reply)| keyword.len() + reply.text.len() + reply.entities_json.len())
            .sum::<usize>()
            + self.blacklist.iter().map(String::len).sum::<usize>()
            + self.disabled.iter().map(String::len).sum::<usize>();
        let automaton = self.automaton.as_ref().map_or(0, AhoCorasick::memory_usage);
        std::mem::size_of::<Self>() + texts + automaton + self.patterns.len() * 16
    }
}

/// The most chats whose guards are held; past it the cache starts afresh
/// (each chat then costs one read on its next message).
const MAX_CHATS: usize = 50_000;

/// Every chat's compiled guards, as far as loaded.
#[derive(Default)]
pub struct GuardCache {
    chats: Mutex<HashMap<i64, Arc<ChatGuards>>>,
    /// Counts invalidations, so that a build begun before one is not kept.
    epoch: Mutex<u64>,
}

impl GuardCache {
    /// A chat's guards, when loaded.
    pub fn get(&self, chat_id: i64) -> Option<Arc<ChatGuards>> {
        self.lock().get(&chat_id).cloned()
    }

    /// The epoch to pass to [`keep`](Self::keep) for a build starting now.
    pub fn epoch(&self) -> u64 {
        *self.lock_epoch()
    }

    /// Keeps a chat's guards built from a read begun at `epoch`, unless an
    /// invalidation came meanwhile (then they are used once, not kept).
    pub fn keep(&self, chat_id: i64, guards: Arc<ChatGuards>, epoch: u64) {
        let current = self.lock_epoch();
        if *current != epoch {
            return;
        }
        let mut chats = self.lock();
        if chats.len() >= MAX_CHATS {
            chats.clear();
        }
        chats.insert(chat_id, guards);
        drop(current);
    }

    /// A chat's guards changed: the next message reads them again.
    pub fn invalidate(&self, chat_id: i64) {
        let mut epoch = self.lock_epoch();
        *epoch += 1;
        self.lock().remove(&chat_id);
    }

    pub fn invalidate_all(&self) {
        let mut epoch = self.lock_epoch();
        *epoch += 1;
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<ChatGuards>>> {
        self.chats
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_epoch(&self) -> std::sync::MutexGuard<'_, u64> {
        self.epoch
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guards(filters: &[&str], blacklist: &[&str]) -> ChatGuards {
        ChatGuards::compile(GuardSet {
            filters: filters
                .iter()
                .map(|k| {
                    (
                        fold(k),
                        FormattedText {
                            text: format!("reply to {k}"),
                            entities_json: "[]".into(),
                        },
                    )
                })
                .collect(),
            blacklist: blacklist.iter().map(|e| fold(e)).collect(),
            ..GuardSet::default()
        })
    }

    #[test]
    fn keywords_match_whole_words_in_any_case() {
        let g = guards(&["hi", "good morning", "été"], &[]);
        assert_eq!(g.hits(&fold("Hi there")), vec![Hit::Filter(0)]);
        assert_eq!(g.hits(&fold("this is it")), vec![]);
        assert_eq!(g.hits(&fold("well, GOOD MORNING!")), vec![Hit::Filter(1)]);
        assert_eq!(g.hits(&fold("good mornings")), vec![]);
        assert_eq!(g.hits(&fold("ÉTÉ chaud")), vec![Hit::Filter(2)]);
        assert_eq!(g.hits(&fold("hi, hi")), vec![Hit::Filter(0)]);
        assert!(!g.is_empty());
        assert!(guards(&[], &[]).is_empty());
    }

    #[test]
    fn blacklist_wildcards_stay_within_words() {
        let g = guards(&[], &["buy*now", "casino", "*coin"]);
        assert_eq!(g.hits("please buynow"), vec![Hit::Blacklist(0)]);
        assert_eq!(g.hits("buy-it-now"), vec![Hit::Blacklist(0)]);
        assert_eq!(g.hits("buy it now"), vec![]);
        assert_eq!(g.hits("online casino!"), vec![Hit::Blacklist(1)]);
        assert_eq!(g.hits("casinos"), vec![]);
        assert_eq!(g.hits("free bitcoin"), vec![Hit::Blacklist(2)]);
        assert_eq!(g.hits("coin"), vec![Hit::Blacklist(2)]);
    }

    #[test]
    fn lock_names_and_bits() {
        for kind in LockKind::ALL {
            assert_eq!(LockKind::by_name(kind.name()), Some(kind));
        }
        assert_eq!(LockKind::by_name("stickers"), Some(LockKind::Sticker));
        assert_eq!(LockKind::by_name("Links"), Some(LockKind::Url));
        assert_eq!(LockKind::by_name("nope"), None);
        let bits: HashSet<u64> = LockKind::ALL.iter().map(|k| k.bit()).collect();
        assert_eq!(bits.len(), LockKind::ALL.len());
    }

    /// What a heavily guarded chat holds in memory (the figure
    /// BENCHMARKS.md reports): 200 filters with short replies, 200 entries.
    #[test]
    fn a_heavily_guarded_chat_costs_tens_of_kilobytes() {
        let keywords: Vec<String> = (0..200).map(|i| format!("keyword{i}")).collect();
        let entries: Vec<String> = (0..200).map(|i| format!("bad*word{i}")).collect();
        let keywords: Vec<&str> = keywords.iter().map(String::as_str).collect();
        let entries: Vec<&str> = entries.iter().map(String::as_str).collect();
        let g = guards(&keywords, &entries);
        let bytes = g.memory();
        println!("a chat with 200 filters and 200 blacklist entries: {bytes} bytes");
        assert!(bytes < 1 << 20, "{bytes} bytes");
        assert_eq!(g.hits("say keyword7 now"), vec![Hit::Filter(7)]);
    }

    #[test]
    fn a_build_across_an_invalidation_is_not_kept() {
        let cache = GuardCache::default();
        let epoch = cache.epoch();
        cache.invalidate(-1);
        cache.keep(-1, Arc::new(guards(&["x"], &[])), epoch);
        assert!(cache.get(-1).is_none());
        let epoch = cache.epoch();
        cache.keep(-1, Arc::new(guards(&["x"], &[])), epoch);
        assert!(cache.get(-1).is_some());
    }
}
