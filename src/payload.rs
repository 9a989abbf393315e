//! Typed forms of what users and buttons send the bot: chat references
//! (`/connect <chat>`), `/start` deep-link payloads and inline-button data.
//! Each is written and parsed in one place, so a button the bot makes always
//! parses back to what it meant, and anything else is refused.

use std::fmt;

/// The largest magnitude a Telegram chat id has (channels and supergroups
/// are `-100…` followed by up to 10 digits; see Bot API "Chat.id").
const MAX_CHAT_ID_MAGNITUDE: i64 = 1_999_999_999_999;
/// User ids fit in 52 bits (Bot API "User.id").
const MAX_USER_ID: i64 = (1 << 52) - 1;

/// What `/connect` was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatRef {
    Id(i64),
    Username(String),
    /// `/connect business`: the sender's own business account.
    Business,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatRefError {
    /// Not a number, not an @username.
    Invalid,
    /// A number, but no Telegram chat has it.
    OutOfRange,
    /// A positive id: a user or their private chat, never a group.
    NotAGroupId,
    /// `@` with nothing (valid) after it.
    BadUsername,
}

impl ChatRefError {
    pub fn locale_key(self) -> &'static str {
        match self {
            ChatRefError::Invalid => "connect-bad-chat",
            ChatRefError::OutOfRange => "connect-id-out-of-range",
            ChatRefError::NotAGroupId => "connect-positive-id",
            ChatRefError::BadUsername => "connect-bad-username",
        }
    }
}

/// The keyword `/connect` takes for the sender's business account.
pub const BUSINESS_KEYWORD: &str = "business";

pub fn parse_chat_ref(input: &str) -> Result<ChatRef, ChatRefError> {
    let input = input.trim();
    if input.eq_ignore_ascii_case(BUSINESS_KEYWORD) {
        return Ok(ChatRef::Business);
    }
    if let Some(name) = input.strip_prefix('@') {
        let valid = (4..=32).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        return if valid {
            Ok(ChatRef::Username(name.to_owned()))
        } else {
            Err(ChatRefError::BadUsername)
        };
    }
    parse_group_id(input).map(ChatRef::Id)
}

/// A group's (negative) chat id, strictly: digits after one `-`.
pub fn parse_group_id(input: &str) -> Result<i64, ChatRefError> {
    let digits = input.strip_prefix('-').unwrap_or(input);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ChatRefError::Invalid);
    }
    // Anything longer than 13 digits is out of range whatever i64 says.
    let magnitude: i64 = match digits.parse() {
        Ok(value) if digits.len() <= 13 => value,
        _ => return Err(ChatRefError::OutOfRange),
    };
    if magnitude == 0 || magnitude > MAX_CHAT_ID_MAGNITUDE {
        return Err(ChatRefError::OutOfRange);
    }
    if !input.starts_with('-') {
        return Err(ChatRefError::NotAGroupId);
    }
    Ok(-magnitude)
}

/// A user's (positive) id, strictly: digits only, within Telegram's range.
fn parse_user_id(input: &str) -> Option<i64> {
    if input.is_empty() || input.len() > 16 || !input.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    input
        .parse()
        .ok()
        .filter(|id| (1..=MAX_USER_ID).contains(id))
}

/// What `/start <payload>` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartPayload {
    /// Plain `/start`.
    Greeting,
    /// `help` or `help_<module>` (the module name unchecked: help explains
    /// an unknown one).
    Help(String),
    /// `connect_<group id>`: the connect button of a group.
    Connect(i64),
    /// `bizChat<customer chat id>`: Telegram's "Manage Bot" button in a
    /// business chat.
    BusinessChat(i64),
    /// A `connect_` link whose id does not parse.
    BrokenConnectLink,
    /// Anything else.
    Unknown,
}

impl StartPayload {
    pub fn parse(payload: &str) -> StartPayload {
        let payload = payload.trim();
        if payload.is_empty() {
            return StartPayload::Greeting;
        }
        if let Some(id) = payload.strip_prefix("bizChat") {
            return parse_user_id(id).map_or(StartPayload::Unknown, StartPayload::BusinessChat);
        }
        let (prefix, rest) = payload.split_once('_').unwrap_or((payload, ""));
        match prefix {
            "connect" => {
                parse_group_id(rest).map_or(StartPayload::BrokenConnectLink, StartPayload::Connect)
            }
            "help" => StartPayload::Help(rest.to_owned()),
            _ => StartPayload::Unknown,
        }
    }
}

/// Deep-link payloads the bot itself puts in links.
impl fmt::Display for StartPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartPayload::Greeting => f.write_str("start"),
            StartPayload::Help(module) if module.is_empty() => f.write_str("help"),
            StartPayload::Help(module) => write!(f, "help_{module}"),
            StartPayload::Connect(chat_id) => write!(f, "connect_{chat_id}"),
            StartPayload::BusinessChat(chat_id) => write!(f, "bizChat{chat_id}"),
            StartPayload::BrokenConnectLink | StartPayload::Unknown => f.write_str("start"),
        }
    }
}

/// The pages of a connection's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionPage {
    Main,
    Admin,
    User,
}

/// What a connection-history button connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryTarget {
    Group(i64),
    Business,
}

/// The data of every inline button the bot makes (at most 64 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Button {
    /// `connbtns.Main|Admin|User`: pages of the current connection.
    Connection(ConnectionPage),
    /// `connect.<chat id>`, `connect.business`: connect from the history.
    Reconnect(HistoryTarget),
    /// `biz.pause.<chat id>`, `biz.resume.<chat id>`: the owner pauses or
    /// resumes the bot's replies in one customer chat.
    BusinessChat { chat_id: i64, paused: bool },
    /// `notes.<page>`: a page of the current connection's note list,
    /// counted from 0, in decimal without leading zeros.
    Notes { page: u32 },
}

/// Telegram's limit on callback data, in bytes.
pub const MAX_BUTTON_DATA: usize = 64;

/// A page number as the bot writes it: decimal digits, no sign, no leading
/// zero, within `u32`.
fn parse_page(input: &str) -> Option<u32> {
    let canonical = !input.is_empty()
        && input.len() <= 10
        && input.bytes().all(|b| b.is_ascii_digit())
        && (input == "0" || !input.starts_with('0'));
    canonical.then(|| input.parse().ok()).flatten()
}

impl Button {
    pub fn parse(data: &str) -> Option<Button> {
        if data.len() > MAX_BUTTON_DATA {
            return None;
        }
        let (prefix, rest) = data.split_once('.')?;
        match prefix {
            "connbtns" => match rest {
                "Main" => Some(Button::Connection(ConnectionPage::Main)),
                "Admin" => Some(Button::Connection(ConnectionPage::Admin)),
                "User" => Some(Button::Connection(ConnectionPage::User)),
                _ => None,
            },
            "connect" if rest == BUSINESS_KEYWORD => {
                Some(Button::Reconnect(HistoryTarget::Business))
            }
            "connect" => parse_group_id(rest)
                .ok()
                .map(|id| Button::Reconnect(HistoryTarget::Group(id))),
            "biz" => {
                let (action, id) = rest.split_once('.')?;
                let paused = match action {
                    "pause" => true,
                    "resume" => false,
                    _ => return None,
                };
                parse_user_id(id).map(|chat_id| Button::BusinessChat { chat_id, paused })
            }
            "notes" => parse_page(rest).map(|page| Button::Notes { page }),
            _ => None,
        }
    }
}

impl fmt::Display for Button {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Button::Connection(page) => write!(f, "connbtns.{page:?}"),
            Button::Reconnect(HistoryTarget::Group(id)) => write!(f, "connect.{id}"),
            Button::Reconnect(HistoryTarget::Business) => write!(f, "connect.{BUSINESS_KEYWORD}"),
            Button::BusinessChat { chat_id, paused } => {
                let action = if *paused { "pause" } else { "resume" };
                write!(f, "biz.{action}.{chat_id}")
            }
            Button::Notes { page } => write!(f, "notes.{page}"),
        }
    }
}

impl From<Button> for String {
    fn from(button: Button) -> String {
        button.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_refs() {
        assert_eq!(
            parse_chat_ref("-1001234567890"),
            Ok(ChatRef::Id(-1001234567890))
        );
        assert_eq!(parse_chat_ref(" -4001 "), Ok(ChatRef::Id(-4001)));
        assert_eq!(
            parse_chat_ref("@Some_Group"),
            Ok(ChatRef::Username("Some_Group".into()))
        );
        assert_eq!(parse_chat_ref("business"), Ok(ChatRef::Business));
        assert_eq!(parse_chat_ref("Business"), Ok(ChatRef::Business));
        assert_eq!(parse_chat_ref("abc"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("-"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("--5"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("+5"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("-12a"), Err(ChatRefError::Invalid));
        assert_eq!(parse_chat_ref("@"), Err(ChatRefError::BadUsername));
        assert_eq!(parse_chat_ref("@a b"), Err(ChatRefError::BadUsername));
        assert_eq!(parse_chat_ref("@1abc"), Err(ChatRefError::BadUsername));
        assert_eq!(parse_chat_ref("12345"), Err(ChatRefError::NotAGroupId));
        assert_eq!(parse_chat_ref("0"), Err(ChatRefError::OutOfRange));
        assert_eq!(parse_chat_ref("-0"), Err(ChatRefError::OutOfRange));
        assert_eq!(
            parse_chat_ref("-9999999999999"),
            Err(ChatRefError::OutOfRange)
        );
        assert_eq!(
            parse_chat_ref(&format!("-{}", "9".repeat(300))),
            Err(ChatRefError::OutOfRange)
        );
        assert_eq!(
            parse_chat_ref("-9223372036854775808"),
            Err(ChatRefError::OutOfRange)
        );
    }

    #[test]
    fn start_payloads() {
        use StartPayload as P;
        assert_eq!(P::parse(""), P::Greeting);
        assert_eq!(P::parse("help"), P::Help(String::new()));
        assert_eq!(P::parse("help_notes"), P::Help("notes".into()));
        assert_eq!(P::parse("connect_-100123"), P::Connect(-100123));
        assert_eq!(P::parse("connect_100123"), P::BrokenConnectLink);
        assert_eq!(P::parse("connect_"), P::BrokenConnectLink);
        assert_eq!(P::parse("connect_-1x"), P::BrokenConnectLink);
        assert_eq!(P::parse("bizChat1000000001"), P::BusinessChat(1000000001));
        assert_eq!(P::parse("bizChat-5"), P::Unknown);
        assert_eq!(P::parse("bizChat"), P::Unknown);
        assert_eq!(P::parse("bizChat99999999999999999999"), P::Unknown);
        assert_eq!(P::parse("whatever"), P::Unknown);
        for payload in [
            P::Help(String::new()),
            P::Help("rules".into()),
            P::Connect(-1001234567890),
            P::BusinessChat(42),
        ] {
            assert_eq!(P::parse(&payload.to_string()), payload);
        }
    }

    #[test]
    fn buttons_round_trip_and_fit_telegram() {
        let buttons = vec![
            Button::Connection(ConnectionPage::Main),
            Button::Connection(ConnectionPage::Admin),
            Button::Connection(ConnectionPage::User),
            Button::Reconnect(HistoryTarget::Group(-1_999_999_999_999)),
            Button::Reconnect(HistoryTarget::Business),
            Button::BusinessChat {
                chat_id: MAX_USER_ID,
                paused: true,
            },
            Button::BusinessChat {
                chat_id: 1,
                paused: false,
            },
            Button::Notes { page: 0 },
            Button::Notes { page: 7 },
            Button::Notes { page: u32::MAX },
        ];
        for button in buttons {
            let data = button.to_string();
            assert!((1..=64).contains(&data.len()), "{data}");
            assert_eq!(Button::parse(&data), Some(button), "{data}");
        }
    }

    #[test]
    fn foreign_button_data_is_refused() {
        for data in [
            "",
            "help",
            "help.main",
            "connbtns.admin",
            "connect.5",
            "connect.-0",
            "connect.",
            "biz.pause",
            "biz.stop.5",
            "biz.pause.-5",
            "biz.pause.0",
            "notes",
            "notes.",
            "notes.-1",
            "notes.+1",
            "notes.01",
            "notes.1.2",
            "notes.4294967296",
            "notes. 1",
            "unknown.x",
        ] {
            assert_eq!(Button::parse(data), None, "{data}");
        }
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn group_id() -> impl Strategy<Value = i64> {
        (1..=MAX_CHAT_ID_MAGNITUDE).prop_map(|magnitude| -magnitude)
    }

    fn button() -> impl Strategy<Value = Button> {
        prop_oneof![
            prop::sample::select(vec![
                ConnectionPage::Main,
                ConnectionPage::Admin,
                ConnectionPage::User
            ])
            .prop_map(Button::Connection)
            .boxed(),
            group_id()
                .prop_map(|id| Button::Reconnect(HistoryTarget::Group(id)))
                .boxed(),
            Just(Button::Reconnect(HistoryTarget::Business)).boxed(),
            (1..=MAX_USER_ID, any::<bool>())
                .prop_map(|(chat_id, paused)| Button::BusinessChat { chat_id, paused })
                .boxed(),
            any::<u32>().prop_map(|page| Button::Notes { page }).boxed(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn chat_refs_never_panic_and_stay_in_range(input in "\\PC{0,40}|[-+@ 0-9]{0,30}") {
            match parse_chat_ref(&input) {
                Ok(ChatRef::Id(id)) => {
                    prop_assert!((-MAX_CHAT_ID_MAGNITUDE..0).contains(&id));
                }
                Ok(ChatRef::Username(name)) => {
                    prop_assert!((4..=32).contains(&name.len()));
                    prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
                }
                Ok(ChatRef::Business) => {
                    prop_assert!(input.trim().eq_ignore_ascii_case(BUSINESS_KEYWORD));
                }
                Err(_) => {}
            }
        }

        #[test]
        fn group_ids_round_trip(id in group_id()) {
            prop_assert_eq!(parse_group_id(&id.to_string()), Ok(id));
            prop_assert_eq!(parse_chat_ref(&format!(" {id} ")), Ok(ChatRef::Id(id)));
            prop_assert_eq!(parse_group_id(&(-id).to_string()), Err(ChatRefError::NotAGroupId));
        }

        #[test]
        fn ids_outside_telegrams_range_are_refused(
            magnitude in (MAX_CHAT_ID_MAGNITUDE + 1)..=i64::MAX,
            digits in "[0-9]{14,40}",
        ) {
            prop_assert_eq!(parse_group_id(&format!("-{magnitude}")), Err(ChatRefError::OutOfRange));
            prop_assert_eq!(parse_group_id(&format!("-{digits}")), Err(ChatRefError::OutOfRange));
            prop_assert_eq!(parse_group_id(&format!("-{}", u128::MAX)), Err(ChatRefError::OutOfRange));
        }

        #[test]
        fn non_numeric_ids_are_refused(input in "-?[0-9]{0,5}[^0-9]+[0-9]{0,5}") {
            prop_assert_eq!(parse_group_id(&input), Err(ChatRefError::Invalid));
        }

        #[test]
        fn usernames_in_the_grammar_parse(name in "[a-zA-Z][a-zA-Z0-9_]{3,31}") {
            prop_assert_eq!(parse_chat_ref(&format!("@{name}")), Ok(ChatRef::Username(name)));
        }

        #[test]
        fn usernames_outside_the_grammar_are_refused(
            name in "[a-zA-Z][a-zA-Z0-9_]{32,60}|[a-zA-Z][a-zA-Z0-9_]{0,2}|[0-9_][a-zA-Z0-9_]{3,20}|[a-z]{2,8}[^a-zA-Z0-9_][a-z]{2,8}",
        ) {
            prop_assert_eq!(parse_chat_ref(&format!("@{name}")), Err(ChatRefError::BadUsername));
        }

        #[test]
        fn start_payloads_never_panic(payload in "\\PC{0,80}|(connect_|bizChat|help_)[-0-9a-z]{0,30}") {
            match StartPayload::parse(&payload) {
                StartPayload::Connect(id) => prop_assert!((-MAX_CHAT_ID_MAGNITUDE..0).contains(&id)),
                StartPayload::BusinessChat(id) => prop_assert!((1..=MAX_USER_ID).contains(&id)),
                _ => {}
            }
        }

        #[test]
        fn start_payloads_round_trip(
            payload in prop_oneof![
                "[a-z_]{0,20}".prop_map(StartPayload::Help).boxed(),
                group_id().prop_map(StartPayload::Connect).boxed(),
                (1..=MAX_USER_ID).prop_map(StartPayload::BusinessChat).boxed(),
            ],
        ) {
            let text = payload.to_string();
            // Deep-link payloads: at most 64 of A-Z a-z 0-9 _ -.
            prop_assert!(text.len() <= 64 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
            prop_assert_eq!(StartPayload::parse(&text), payload);
        }

        #[test]
        fn buttons_round_trip(button in button()) {
            let data = button.to_string();
            prop_assert!((1..=MAX_BUTTON_DATA).contains(&data.len()), "{}", data);
            prop_assert_eq!(Button::parse(&data), Some(button));
        }

        #[test]
        fn button_data_never_panics_and_parses_to_what_it_writes(data in "\\PC{0,80}|(help|connbtns|connect|biz|notes)\\.[-.a-zA-Z0-9]{0,70}") {
            if let Some(button) = Button::parse(&data) {
                prop_assert!(data.len() <= MAX_BUTTON_DATA);
                prop_assert_eq!(Button::parse(&button.to_string()), Some(button));
            }
        }

        #[test]
        fn button_data_longer_than_telegram_allows_is_refused(
            button in button(),
            padding in "[0-9.]{64,80}",
        ) {
            prop_assert_eq!(Button::parse(&format!("{button}{padding}")), None);
        }

        #[test]
        fn notes_pages_are_canonical(page in any::<u64>(), zeros in 1usize..4) {
            let expected = u32::try_from(page).ok().map(|page| Button::Notes { page });
            prop_assert_eq!(Button::parse(&format!("notes.{page}")), expected);
            prop_assert_eq!(Button::parse(&format!("notes.{}{page}", "0".repeat(zeros))), None);
        }
    }
}
