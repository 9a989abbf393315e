//! The simulated Telegram world and the Bot API methods acting on it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::flood::{self, Flood, Overall};
use crate::params::{ApiError, ApiResult, Params};
use crate::text::{self, Entity};
use crate::webhook::{self, QueueKey, WebhookState};
use crate::{
    ANONYMOUS_ADMIN_ID, AdminRights, BOT_ID, BOT_USERNAME, BusinessRights, ChatPermissions, Fault,
    ForwardFrom, IncomingMessage, Media, MemberStatus, MigrationDelivery, RecordedRequest,
    SentMessage,
};

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
pub(crate) struct UserRec {
    pub id: i64,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub language_code: Option<String>,
    pub is_bot: bool,
    /// Blocked the bot (private chat).
    pub blocked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChatKind {
    Private,
    Group,
    Supergroup,
    Channel,
}

impl ChatKind {
    fn as_str(self) -> &'static str {
        match self {
            ChatKind::Private => "private",
            ChatKind::Group => "group",
            ChatKind::Supergroup => "supergroup",
            ChatKind::Channel => "channel",
        }
    }
    /// "group chat", "supergroup chat", "channel chat" as in error texts.
    fn chat_words(self) -> &'static str {
        match self {
            ChatKind::Private => "private chat",
            ChatKind::Group => "group chat",
            ChatKind::Supergroup => "supergroup chat",
            ChatKind::Channel => "channel chat",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct StoredMsg {
    /// The full Message object as Telegram would deliver it now.
    pub json: Value,
    pub from: i64,
    /// For the bot's messages: the current state.
    pub sent: Option<SentMessage>,
    pub text: Option<String>,
    pub entities: Vec<Value>,
    pub reply_markup: Option<Value>,
}

/// What a membership carries beyond its status. `Plain` stands for the
/// status's defaults: [`AdminRights::usual`] for an administrator, no
/// permission and no end for a restricted member, no end for a ban; so a
/// test's `set_member` means what it always meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Terms {
    #[default]
    Plain,
    Admin(AdminRights),
    Restricted {
        permissions: ChatPermissions,
        until: i64,
    },
    Banned {
        until: i64,
    },
}

impl Terms {
    /// The terms kept for a member of `status`: those of another status
    /// are dropped, defaults become `Plain` (one representation each, so
    /// memberships compare equal when Telegram's would).
    pub fn fit(self, status: &MemberStatus) -> Terms {
        match (status, self) {
            (MemberStatus::Administrator, Terms::Admin(mut r)) => {
                // Any right implies can_manage_chat (TDLib makes an
                // administrator without any right a member): always on.
                r.can_manage_chat = true;
                if r == AdminRights::usual() {
                    Terms::Plain
                } else {
                    Terms::Admin(r)
                }
            }
            (MemberStatus::Restricted { .. }, Terms::Restricted { permissions, until })
                if permissions == ChatPermissions::none() && until == 0 =>
            {
                Terms::Plain
            }
            (MemberStatus::Restricted { .. }, t @ Terms::Restricted { .. }) => t,
            (MemberStatus::Kicked, Terms::Banned { until: 0 }) => Terms::Plain,
            (MemberStatus::Kicked, t @ Terms::Banned { .. }) => t,
            _ => Terms::Plain,
        }
    }

    /// An administrator's rights.
    pub fn rights(self) -> AdminRights {
        match self {
            Terms::Admin(r) => r,
            _ => AdminRights::usual(),
        }
    }

    /// A restricted member's permissions.
    pub fn permissions(self) -> ChatPermissions {
        match self {
            Terms::Restricted { permissions, .. } => permissions,
            _ => ChatPermissions::none(),
        }
    }

    /// When a restriction or ban ends (0: never).
    pub fn until(self) -> i64 {
        match self {
            Terms::Restricted { until, .. } | Terms::Banned { until } => until,
            _ => 0,
        }
    }
}

/// How Telegram keeps the `until_date` of a ban or restriction: less than
/// 30 seconds or more than 366 days from now (or absent, or 0) is forever,
/// stored as 0 (TDLib's `get_dialog_participant_status`).
pub(crate) fn fix_until_date(until: i64, now: i64) -> i64 {
    if until < now + 30 || until > now + 366 * 86_400 {
        0
    } else {
        until
    }
}

/// The `permissions` parameter of restrictChatMember and
/// setChatPermissions, read like the Bot API server does: an absent field
/// is false, except `can_manage_topics` and `can_edit_tag` (default: the
/// value of `can_pin_messages`) and `can_react_to_messages` (default: the
/// value of `can_send_messages`); the legacy `can_send_media_messages`
/// stands for the six media fields when none of them is given. Unless
/// `use_independent_chat_permissions`, `can_send_other_messages` or
/// `can_add_web_page_previews` imply the media fields and
/// `can_send_messages`, and `can_send_polls` implies `can_send_messages`.
pub(crate) fn permissions_param(p: &Params) -> Result<ChatPermissions, ApiError> {
    let independent = p.bool("use_independent_chat_permissions");
    let value = match p.get("permissions") {
        None => return Ok(ChatPermissions::none()),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .map_err(|_| ApiError::bad("can't parse permissions JSON object"))?,
        Some(v) => v.clone(),
    };
    let Some(o) = value.as_object() else {
        return Err(ApiError::bad("object expected as permissions"));
    };
    let has = |name: &str| o.get(name).is_some_and(|v| !v.is_null());
    let field = |name: &str| -> Result<bool, ApiError> {
        match o.get(name) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ApiError::bad(format!(
                "can't parse chat permissions: Field \"{name}\" must be of type Boolean"
            ))),
        }
    };
    let mut r = ChatPermissions::none();
    r.can_send_messages = field("can_send_messages")?;
    r.can_send_polls = field("can_send_polls")?;
    r.can_send_other_messages = field("can_send_other_messages")?;
    r.can_add_web_page_previews = field("can_add_web_page_previews")?;
    r.can_change_info = field("can_change_info")?;
    r.can_invite_users = field("can_invite_users")?;
    r.can_pin_messages = field("can_pin_messages")?;
    r.can_manage_topics = if has("can_manage_topics") {
        field("can_manage_topics")?
    } else {
        r.can_pin_messages
    };
    const MEDIA: [&str; 6] = [
        "can_send_audios",
        "can_send_documents",
        "can_send_photos",
        "can_send_videos",
        "can_send_video_notes",
        "can_send_voice_notes",
    ];
    let media = if MEDIA.iter().any(|m| has(m)) {
        [
            field(MEDIA[0])?,
            field(MEDIA[1])?,
            field(MEDIA[2])?,
            field(MEDIA[3])?,
            field(MEDIA[4])?,
            field(MEDIA[5])?,
        ]
    } else {
        let legacy = field("can_send_media_messages")?;
        if legacy && !independent {
            r.can_send_messages = true;
        }
        [legacy; 6]
    };
    [
        r.can_send_audios,
        r.can_send_documents,
        r.can_send_photos,
        r.can_send_videos,
        r.can_send_video_notes,
        r.can_send_voice_notes,
    ] = media;
    r.can_edit_tag = if has("can_edit_tag") {
        field("can_edit_tag")?
    } else {
        r.can_pin_messages
    };
    r.can_react_to_messages = if has("can_react_to_messages") {
        field("can_react_to_messages")?
    } else {
        r.can_send_messages
    };
    if (r.can_send_other_messages || r.can_add_web_page_previews) && !independent {
        r.can_send_audios = true;
        r.can_send_documents = true;
        r.can_send_photos = true;
        r.can_send_videos = true;
        r.can_send_video_notes = true;
        r.can_send_voice_notes = true;
        r.can_send_messages = true;
    }
    if r.can_send_polls && !independent {
        r.can_send_messages = true;
    }
    Ok(r)
}

#[derive(Debug, Clone)]
pub(crate) struct ChatRec {
    pub id: i64,
    pub kind: ChatKind,
    pub title: String,
    pub username: Option<String>,
    pub members: HashMap<i64, MemberStatus>,
    /// The members' terms other than `Terms::Plain`.
    pub terms: HashMap<i64, Terms>,
    /// The default permissions of a group or supergroup.
    pub permissions: ChatPermissions,
    pub messages: BTreeMap<i32, StoredMsg>,
    pub deleted: Vec<i32>,
    pub next_message_id: i32,
    pub migrated_to: Option<i64>,
    /// The bot (this one or another) that last sent a message to the
    /// group: in privacy mode a bare `/command` goes to it.
    pub last_bot_sender: Option<i64>,
}

#[derive(Debug, Clone)]
pub(crate) struct QueuedUpdate {
    pub id: i64,
    /// Unique per entry of the queue: a redelivered update is queued again
    /// with its `id` and a new `seq`.
    pub seq: u64,
    pub kind: &'static str,
    pub json: Value,
    /// The webhook delivery queue it belongs to.
    pub queue: QueueKey,
}

/// The `update_id` of the first update.
const FIRST_UPDATE_ID: i64 = 700_000_001;

/// How many of the latest updates [`State::redeliver`] can send again.
pub(crate) const UPDATE_LOG: usize = 10_000;

/// A business connection: the current one of its owner's account (a
/// replaced connection is forgotten, so its id is invalid).
#[derive(Debug, Clone)]
pub(crate) struct BusinessConn {
    pub id: String,
    pub owner: i64,
    pub date: i64,
    pub rights: Option<BusinessRights>,
    pub enabled: bool,
}

/// Where a message lives: a chat of the bot, or the chat of a business
/// account with a customer. Both have the customer's user id as chat id
/// for private chats, hence the owner in the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Place {
    Chat(i64),
    Business { owner: i64, customer: i64 },
}

impl Place {
    fn chat_id(self) -> i64 {
        match self {
            Place::Chat(id) => id,
            Place::Business { customer, .. } => customer,
        }
    }
}

/// Which limit refused a request (see `State::dispatch_limited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The per-chat or per-group flood limits.
    Flood,
    /// The overall limit.
    Overall,
}

/// A bijective 64-bit mix (splitmix64), for ids that look random.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The `business_connection_id` parameter; empty counts as absent, like
/// the Bot API server does.
fn business_connection_param(p: &Params) -> Option<String> {
    p.string("business_connection_id").filter(|s| !s.is_empty())
}

#[derive(Debug, Clone)]
pub(crate) struct CallbackRec {
    pub answered: bool,
    /// When the button was pressed (tokio's clock): Telegram refuses an
    /// answer more than [`CALLBACK_ANSWER_WINDOW`] later.
    pub created: tokio::time::Instant,
}

impl CallbackRec {
    fn new() -> CallbackRec {
        CallbackRec {
            answered: false,
            created: tokio::time::Instant::now(),
        }
    }
}

/// How long after a button press Telegram accepts its answerCallbackQuery.
pub(crate) const CALLBACK_ANSWER_WINDOW: std::time::Duration = std::time::Duration::from_secs(15);

/// Kinds delivered when allowed_updates was never given or is empty.
pub(crate) const DEFAULT_EXCLUDED: &[&str] =
    &["chat_member", "message_reaction", "message_reaction_count"];

/// The update kinds in the Bot API server's order (its `UpdateType`
/// enum): the order of `allowed_updates` in getWebhookInfo.
pub(crate) const UPDATE_KINDS: &[&str] = &[
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
    "message_reaction",
    "message_reaction_count",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "purchased_paid_media",
    "managed_bot",
    "guest_message",
];

/// Whether `kind` is delivered under the allowed_updates setting `allowed`
/// (None: the default).
fn allowed_in(allowed: &Option<Vec<String>>, kind: &str) -> bool {
    match allowed {
        None => !DEFAULT_EXCLUDED.contains(&kind),
        Some(list) => list.iter().any(|k| k == kind),
    }
}

/// How the Bot API server reads an `allowed_updates` parameter: None when
/// it leaves the setting unchanged (absent, unparsable, not an array of
/// strings), else the new setting: known kinds (case-insensitive, each
/// once, in the server's order; unknown ones ignored), None (the default)
/// for an empty list, a list of unknown kinds only, or exactly the default
/// kinds.
fn read_allowed_updates(p: &Params) -> Option<Option<Vec<String>>> {
    let v = p.json("allowed_updates").ok().flatten()?;
    let mut names = std::collections::HashSet::new();
    for name in v.as_array()? {
        names.insert(name.as_str()?.to_ascii_lowercase());
    }
    let list: Vec<String> = UPDATE_KINDS
        .iter()
        .filter(|k| names.contains(**k))
        .map(|k| (*k).to_owned())
        .collect();
    let is_default = list.len() + DEFAULT_EXCLUDED.len() == UPDATE_KINDS.len()
        && list.iter().all(|k| !DEFAULT_EXCLUDED.contains(&k.as_str()));
    Some((!list.is_empty() && !is_default).then_some(list))
}

pub(crate) struct State {
    pub users: HashMap<i64, UserRec>,
    pub chats: HashMap<i64, ChatRec>,
    next_user_id: i64,
    next_group: i64,
    next_supergroup: i64,
    /// Queued updates, in update_id order (a redelivered one after the
    /// others of its id).
    pub updates: VecDeque<QueuedUpdate>,
    next_update_id: i64,
    next_update_seq: u64,
    /// The latest updates created (at most [`UPDATE_LOG`]), oldest first.
    update_log: VecDeque<QueuedUpdate>,
    /// The allowed_updates setting, shared by getUpdates and setWebhook
    /// (None: the default).
    pub allowed_updates: Option<Vec<String>>,
    pub poll_gen: u64,
    pub webhook: WebhookState,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    pub outbox: HashMap<i64, VecDeque<SentMessage>>,
    pub callbacks: HashMap<String, CallbackRec>,
    pub callback_answers: HashMap<String, Value>,
    next_callback: u64,
    /// (scope key, language code or "") → commands.
    pub commands: HashMap<(String, String), Vec<(String, String)>>,
    /// (lowercase method, chat or None for any chat) → faults to inject.
    pub faults: HashMap<(String, Option<i64>), VecDeque<Fault>>,
    /// The sends and edits counted while the flood limits are enforced.
    pub flood: Option<Flood>,
    /// Requests refused by the flood limits.
    pub flood_violations: Vec<RecordedRequest>,
    /// The sends counted while the overall limit is enforced.
    pub overall: Option<Overall>,
    /// Requests refused by the overall limit.
    pub overall_refusals: Vec<RecordedRequest>,
    pub privacy_mode: bool,
    /// Business connections by owner.
    pub business: HashMap<i64, BusinessConn>,
    /// Chats of business accounts by (owner, customer); never in `chats`.
    /// `members` holds the customer once they wrote.
    pub business_chats: HashMap<(i64, i64), ChatRec>,
    /// The bot's messages sent through business connections, by (owner,
    /// customer).
    pub business_outbox: HashMap<(i64, i64), VecDeque<SentMessage>>,
    /// Replaced connection ids and their owners: Telegram refuses them, but
    /// an update sent just before the change may still carry one.
    pub retired_business: HashMap<String, i64>,
    next_business: u64,
}

/// Canonical text of a command scope, independent of key order.
pub(crate) fn scope_key(scope: &Value) -> String {
    match scope.as_object() {
        Some(m) => {
            let sorted: BTreeMap<&String, String> = m
                .iter()
                .map(|(k, v)| {
                    let v = match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k, v)
                })
                .collect();
            sorted
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        }
        None => "type=default".to_owned(),
    }
}

/// The inline keyboard as Telegram echoes it in a Message: URLs
/// normalized (scheme added, `/` after the host), empty rows dropped.
fn normalize_inline_keyboard(markup: &Value) -> Value {
    let rows: Vec<Value> = markup["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(|row| {
                    let buttons: Vec<Value> = row
                        .as_array()?
                        .iter()
                        .map(|b| {
                            let mut b = b.clone();
                            if let Some(url) = b.get("url").and_then(Value::as_str)
                                && let Some(norm) = text::check_link(url)
                            {
                                b["url"] = json!(norm);
                            }
                            b
                        })
                        .collect();
                    (!buttons.is_empty()).then_some(Value::Array(buttons))
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "inline_keyboard": rows })
}

/// Whether permissions `p` let a member send `msg`, as TDLib checks it
/// (`can_send_message_content`, plus the right to use inline bots).
fn may_send(p: &ChatPermissions, msg: &IncomingMessage) -> bool {
    let media = match (&msg.media, &msg.caption) {
        (Some(m), _) => Some(m),
        (None, Some(_)) => Some(&Media::Photo),
        (None, None) => None,
    };
    let content = match media {
        None => p.can_send_messages,
        Some(Media::Photo) => p.can_send_photos,
        Some(Media::Video) => p.can_send_videos,
        Some(Media::Voice) => p.can_send_voice_notes,
        Some(Media::Audio) => p.can_send_audios,
        Some(Media::Document) => p.can_send_documents,
        Some(Media::VideoNote) => p.can_send_video_notes,
        Some(Media::Poll { .. }) => p.can_send_polls,
        Some(Media::Sticker | Media::Animation | Media::Game { .. } | Media::Dice { .. }) => {
            p.can_send_other_messages
        }
        Some(Media::Contact { .. } | Media::Location { .. } | Media::Venue { .. }) => {
            p.can_send_messages
        }
    };
    content && (msg.via_bot.is_none() || p.can_send_other_messages)
}

/// The Message fields of a media kind, with file ids unique to the message.
fn media_fields(media: &Media, chat_id: i64, id: i32) -> Map<String, Value> {
    let tag = format!("{}_{id}", chat_id.unsigned_abs());
    let file = |prefix: &str, size: i64| {
        json!({
            "file_id": format!("{prefix}fake{tag}"),
            "file_unique_id": format!("AgADfake{prefix}{tag}"),
            "file_size": size,
        })
    };
    let photo_sizes = |base: &str| {
        json!([
            {"file_id": format!("AgACfake{base}{tag}_s"), "file_unique_id": format!("AQADfake{base}{tag}s"), "width": 90, "height": 68, "file_size": 1342},
            {"file_id": format!("AgACfake{base}{tag}_m"), "file_unique_id": format!("AQADfake{base}{tag}m"), "width": 320, "height": 240, "file_size": 12345},
            {"file_id": format!("AgACfake{base}{tag}_x"), "file_unique_id": format!("AQADfake{base}{tag}x"), "width": 800, "height": 600, "file_size": 54321},
        ])
    };
    let thumb = |w: i64, h: i64| json!({"file_id": format!("AAMCfake{tag}"), "file_unique_id": format!("AQADfakethumb{tag}"), "width": w, "height": h, "file_size": 2048});
    let with = |mut v: Value, extra: Value| {
        if let (Some(o), Some(e)) = (v.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        v
    };
    let mut m = Map::new();
    match media {
        Media::Photo => {
            m.insert("photo".into(), photo_sizes(""));
        }
        Media::Sticker => {
            let v = with(
                file("CAAC", 20480),
                json!({"type": "regular", "width": 512, "height": 512, "is_animated": false,
                       "is_video": false, "emoji": "👍", "set_name": "FakeStickers",
                       "thumbnail": thumb(128, 128)}),
            );
            m.insert("sticker".into(), v);
        }
        Media::Animation => {
            let common = with(
                file("CgAC", 180_224),
                json!({"file_name": "fake.gif.mp4", "mime_type": "video/mp4", "thumbnail": thumb(320, 240)}),
            );
            m.insert(
                "animation".into(),
                with(
                    common.clone(),
                    json!({"width": 320, "height": 240, "duration": 3}),
                ),
            );
            m.insert("document".into(), common);
        }
        Media::Video => {
            let v = with(
                file("BAAC", 1_048_576),
                json!({"width": 1280, "height": 720, "duration": 10, "file_name": "video.mp4",
                       "mime_type": "video/mp4", "thumbnail": thumb(320, 180)}),
            );
            m.insert("video".into(), v);
        }
        Media::Voice => {
            let v = with(
                file("AwAC", 8192),
                json!({"duration": 4, "mime_type": "audio/ogg"}),
            );
            m.insert("voice".into(), v);
        }
        Media::Audio => {
            let v = with(
                file("CQAC", 2_883_584),
                json!({"duration": 180, "performer": "Fake Artist", "title": "Fake Song",
                       "file_name": "song.mp3", "mime_type": "audio/mpeg"}),
            );
            m.insert("audio".into(), v);
        }
        Media::Document => {
            let v = with(
                file("BQAC", 65536),
                json!({"file_name": "file.pdf", "mime_type": "application/pdf"}),
            );
            m.insert("document".into(), v);
        }
        Media::VideoNote => {
            let v = with(
                file("DQAC", 262_144),
                json!({"length": 240, "duration": 5, "thumbnail": thumb(240, 240)}),
            );
            m.insert("video_note".into(), v);
        }
        Media::Poll { question, options } => {
            let qlen = question.chars().count();
            assert!(
                (1..=300).contains(&qlen),
                "fake-bot-api: a poll question has 1-300 characters, not {qlen}"
            );
            assert!(
                (2..=12).contains(&options.len()),
                "fake-bot-api: a poll has 2-12 options, not {}",
                options.len()
            );
            let options: Vec<Value> = options
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"persistent_id": i.to_string(), "text": t, "voter_count": 0}))
                .collect();
            // Poll ids are decimal strings of a 64-bit number.
            let poll_id = mix(((chat_id as u64) << 20) ^ id as u64) >> 1;
            m.insert(
                "poll".into(),
                json!({
                    "id": poll_id.to_string(),
                    "question": question,
                    "options": options,
                    "total_voter_count": 0,
                    "is_closed": false,
                    "is_anonymous": true,
                    "type": "regular",
                    "allows_multiple_answers": false,
                    "allows_revoting": true,
                    "members_only": false,
                }),
            );
        }
        Media::Dice { emoji, value } => {
            let max = match emoji.as_str() {
                "🎲" | "🎯" | "🎳" => 6,
                "🏀" | "⚽" => 5,
                "🎰" => 64,
                other => panic!(
                    "fake-bot-api: Telegram has no dice {other:?} (🎲, 🎯, 🎳, 🏀, ⚽ or 🎰)"
                ),
            };
            let value = value.unwrap_or(id.rem_euclid(max) + 1);
            assert!(
                (1..=max).contains(&value),
                "fake-bot-api: a {emoji} dice shows 1-{max}, not {value}"
            );
            m.insert("dice".into(), json!({"emoji": emoji, "value": value}));
        }
        Media::Contact {
            phone_number,
            first_name,
        } => {
            m.insert(
                "contact".into(),
                json!({"phone_number": phone_number, "first_name": first_name}),
            );
        }
        Media::Location {
            latitude,
            longitude,
        } => {
            m.insert(
                "location".into(),
                json!({"latitude": latitude, "longitude": longitude}),
            );
        }
        Media::Venue {
            latitude,
            longitude,
            title,
            address,
        } => {
            let location = json!({"latitude": latitude, "longitude": longitude});
            m.insert(
                "venue".into(),
                json!({"location": location, "title": title, "address": address}),
            );
            m.insert("location".into(), location);
        }
        Media::Game { title } => {
            m.insert(
                "game".into(),
                json!({
                    "title": title,
                    "description": format!("Play {title}!"),
                    "photo": photo_sizes("game"),
                }),
            );
        }
    }
    m
}

/// The Message fields of content a member posted (not of service
/// messages).
const CONTENT_FIELDS: &[&str] = &[
    "text",
    "caption",
    "photo",
    "sticker",
    "animation",
    "video",
    "voice",
    "audio",
    "document",
    "video_note",
    "poll",
    "dice",
    "contact",
    "location",
    "venue",
    "game",
];

/// The Message fields of media that take a caption.
const CAPTIONED_FIELDS: &[&str] = &["photo", "animation", "video", "voice", "audio", "document"];

fn not_supported() -> ApiError {
    ApiError::bad("method not supported by the fake")
}

impl State {
    pub fn new() -> State {
        let mut users = HashMap::new();
        users.insert(
            BOT_ID,
            UserRec {
                id: BOT_ID,
                first_name: "Castellan".into(),
                last_name: None,
                username: Some(BOT_USERNAME.into()),
                language_code: None,
                is_bot: true,
                blocked: false,
            },
        );
        users.insert(
            ANONYMOUS_ADMIN_ID,
            UserRec {
                id: ANONYMOUS_ADMIN_ID,
                first_name: "Group".into(),
                last_name: None,
                username: Some("GroupAnonymousBot".into()),
                language_code: None,
                is_bot: true,
                blocked: false,
            },
        );
        State {
            users,
            chats: HashMap::new(),
            next_user_id: 1_000_000_001,
            next_group: 4_000_000_001,
            next_supergroup: 1_000_000_001,
            updates: VecDeque::new(),
            next_update_id: FIRST_UPDATE_ID,
            next_update_seq: 1,
            update_log: VecDeque::new(),
            allowed_updates: None,
            poll_gen: 0,
            webhook: WebhookState::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            outbox: HashMap::new(),
            callbacks: HashMap::new(),
            callback_answers: HashMap::new(),
            next_callback: 1,
            commands: HashMap::new(),
            faults: HashMap::new(),
            flood: None,
            flood_violations: Vec::new(),
            overall: None,
            overall_refusals: Vec::new(),
            privacy_mode: true,
            business: HashMap::new(),
            business_chats: HashMap::new(),
            business_outbox: HashMap::new(),
            retired_business: HashMap::new(),
            next_business: 1,
        }
    }

    // ----------------------------------------------------------------- world

    pub fn add_user(
        &mut self,
        first_name: &str,
        last_name: Option<&str>,
        username: Option<&str>,
        language_code: Option<&str>,
        is_bot: bool,
    ) -> i64 {
        let id = self.next_user_id;
        self.next_user_id += 1;
        self.users.insert(
            id,
            UserRec {
                id,
                first_name: first_name.into(),
                last_name: last_name.map(Into::into),
                username: username.map(Into::into),
                language_code: language_code.map(Into::into),
                is_bot,
                blocked: false,
            },
        );
        id
    }

    pub fn add_chat(&mut self, kind: ChatKind, title: &str, username: Option<&str>) -> i64 {
        let id = match kind {
            ChatKind::Group => {
                let id = -self.next_group;
                self.next_group += 1;
                id
            }
            ChatKind::Supergroup | ChatKind::Channel => {
                let id = -(1_000_000_000_000 + self.next_supergroup);
                self.next_supergroup += 1;
                id
            }
            ChatKind::Private => unreachable!("private chats come from users"),
        };
        let bot = if kind == ChatKind::Channel {
            MemberStatus::Administrator
        } else {
            MemberStatus::Member
        };
        let mut members = HashMap::new();
        members.insert(BOT_ID, bot);
        self.chats.insert(
            id,
            ChatRec {
                id,
                kind,
                title: title.into(),
                username: username.map(|u| u.trim_start_matches('@').to_owned()),
                members,
                terms: HashMap::new(),
                permissions: ChatPermissions::group_default(),
                messages: BTreeMap::new(),
                deleted: Vec::new(),
                next_message_id: 1,
                migrated_to: None,
                last_bot_sender: None,
            },
        );
        id
    }

    /// The private chat with `user`, created when the user first writes.
    pub fn ensure_private_chat(&mut self, user: i64) {
        if self.chats.contains_key(&user) {
            return;
        }
        let mut members = HashMap::new();
        members.insert(BOT_ID, MemberStatus::Member);
        members.insert(user, MemberStatus::Member);
        self.chats.insert(
            user,
            ChatRec {
                id: user,
                kind: ChatKind::Private,
                title: String::new(),
                username: None,
                members,
                terms: HashMap::new(),
                permissions: ChatPermissions::group_default(),
                messages: BTreeMap::new(),
                deleted: Vec::new(),
                next_message_id: 1,
                migrated_to: None,
                last_bot_sender: None,
            },
        );
    }

    pub fn status(&self, chat: i64, user: i64) -> MemberStatus {
        self.chats
            .get(&chat)
            .and_then(|c| c.members.get(&user).cloned())
            .unwrap_or(MemberStatus::Left)
    }

    /// A member's terms (`Terms::Plain` when they have none).
    pub fn terms(&self, chat: i64, user: i64) -> Terms {
        self.chats
            .get(&chat)
            .and_then(|c| c.terms.get(&user).copied())
            .unwrap_or_default()
    }

    /// The rights of a creator (all) or administrator; None for others.
    pub fn rights(&self, chat: i64, user: i64) -> Option<AdminRights> {
        match self.status(chat, user) {
            MemberStatus::Creator => Some(AdminRights::all()),
            MemberStatus::Administrator => Some(self.terms(chat, user).rights()),
            _ => None,
        }
    }

    /// Whether the bot is an administrator of the chat with the right
    /// `right` picks.
    fn bot_can(&self, chat: i64, right: impl Fn(&AdminRights) -> bool) -> bool {
        self.rights(chat, BOT_ID).is_some_and(|r| right(&r))
    }

    fn actor_for(&self, chat: i64, fallback: i64) -> i64 {
        let Some(c) = self.chats.get(&chat) else {
            return fallback;
        };
        let mut admins: Vec<(i64, &MemberStatus)> = c
            .members
            .iter()
            .filter(|(id, s)| {
                **id != BOT_ID && matches!(s, MemberStatus::Creator | MemberStatus::Administrator)
            })
            .map(|(id, s)| (*id, s))
            .collect();
        admins.sort_by_key(|(id, s)| (!matches!(s, MemberStatus::Creator), *id));
        admins.first().map_or(fallback, |(id, _)| *id)
    }

    /// Changes a membership; when `notify`, queues the chat_member /
    /// my_chat_member update Telegram would send. `actor` None picks the
    /// user themself for joins/leaves and the owner/an admin otherwise.
    pub fn change_member(
        &mut self,
        chat_id: i64,
        user: i64,
        new: MemberStatus,
        actor: Option<i64>,
        notify: bool,
    ) {
        self.change_membership(chat_id, user, new, Terms::Plain, actor, notify);
    }

    /// [`change_member`](Self::change_member) with the new member's terms
    /// (rights, permissions, end), kept as far as they fit the status.
    pub fn change_membership(
        &mut self,
        chat_id: i64,
        user: i64,
        new: MemberStatus,
        terms: Terms,
        actor: Option<i64>,
        notify: bool,
    ) {
        let old = self.status(chat_id, user);
        let old_terms = self.terms(chat_id, user);
        let terms = terms.fit(&new);
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            panic!("fake-bot-api: unknown chat {chat_id}");
        };
        if new == MemberStatus::Left && user != BOT_ID {
            chat.members.remove(&user);
        } else {
            chat.members.insert(user, new.clone());
        }
        if terms == Terms::Plain {
            chat.terms.remove(&user);
        } else {
            chat.terms.insert(user, terms);
        }
        if !notify || (old == new && old_terms == terms) {
            return;
        }
        let actor = actor.unwrap_or_else(|| {
            let self_action = matches!(
                (&old, &new),
                (MemberStatus::Left, MemberStatus::Member) | (_, MemberStatus::Left)
            );
            if self_action && user != BOT_ID {
                user
            } else {
                let fallback = if user == BOT_ID {
                    ANONYMOUS_ADMIN_ID
                } else {
                    user
                };
                self.actor_for(chat_id, fallback)
            }
        });
        let payload = json!({
            "chat": self.chat_json(chat_id),
            "from": self.user_json(actor, true),
            "date": now(),
            "old_chat_member": self.member_json(chat_id, user, &old, old_terms),
            "new_chat_member": self.member_json(chat_id, user, &new, terms),
        });
        if user == BOT_ID {
            self.push_update("my_chat_member", payload);
            // Being added to a group also produces a service message.
            let kind = self.chats.get(&chat_id).map(|c| c.kind);
            if matches!(kind, Some(ChatKind::Group | ChatKind::Supergroup))
                && !old.is_present()
                && new.is_present()
            {
                let msg = self.service_message(
                    chat_id,
                    actor,
                    "new_chat_members",
                    json!([self.user_json(BOT_ID, false)]),
                );
                self.push_update("message", msg);
            }
        } else if self.status(chat_id, BOT_ID).is_admin() {
            self.push_update("chat_member", payload);
        }
    }

    /// A stored service message from `from` with one extra field.
    pub fn service_message(&mut self, chat_id: i64, from: i64, field: &str, value: Value) -> Value {
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            panic!("fake-bot-api: unknown chat {chat_id}");
        };
        let id = chat.next_message_id;
        chat.next_message_id += 1;
        let mut msg = json!({
            "message_id": id,
            "from": self.user_json(from, true),
            "chat": self.chat_json(chat_id),
            "date": now(),
        });
        if from == ANONYMOUS_ADMIN_ID {
            msg["sender_chat"] = self.chat_json(chat_id);
        }
        msg[field] = value;
        if let Some(chat) = self.chats.get_mut(&chat_id) {
            chat.messages.insert(
                id,
                StoredMsg {
                    json: msg.clone(),
                    from,
                    sent: None,
                    text: None,
                    entities: Vec::new(),
                    reply_markup: None,
                },
            );
        }
        msg
    }

    pub fn push_update(&mut self, kind: &'static str, payload: Value) {
        let id = self.next_update_id;
        self.next_update_id += 1;
        let mut json = Map::new();
        json.insert("update_id".into(), json!(id));
        let queue = webhook::queue_key(kind, &payload, id);
        json.insert(kind.into(), payload);
        let seq = self.next_update_seq;
        self.next_update_seq += 1;
        let update = QueuedUpdate {
            id,
            seq,
            kind,
            json: Value::Object(json),
            queue,
        };
        if self.update_log.len() == UPDATE_LOG {
            self.update_log.pop_front();
        }
        self.update_log.push_back(update.clone());
        self.updates.push_back(update);
    }

    /// The id of the latest update created, if any.
    pub fn last_update_id(&self) -> Option<i64> {
        self.update_log.back().map(|u| u.id)
    }

    /// Queues update `update_id` again (same JSON), after the queued
    /// updates of ids up to its own. Err when it is unknown.
    pub fn redeliver(&mut self, update_id: i64) -> Result<(), String> {
        let i = self.update_log.partition_point(|u| u.id < update_id);
        let Some(logged) = self.update_log.get(i).filter(|u| u.id == update_id) else {
            let created = (FIRST_UPDATE_ID..self.next_update_id).contains(&update_id);
            return Err(match self.update_log.front() {
                Some(o) if created => format!(
                    "update {update_id} is too old: only the latest {UPDATE_LOG} (from {}) are kept",
                    o.id
                ),
                _ => format!("no update {update_id} was created"),
            });
        };
        let mut again = logged.clone();
        again.seq = self.next_update_seq;
        self.next_update_seq += 1;
        let at = self.updates.partition_point(|u| u.id <= update_id);
        self.updates.insert(at, again);
        Ok(())
    }

    /// Drops the queued updates of kinds not allowed (Telegram would not
    /// have queued them); true if there were some.
    pub fn drop_unallowed(&mut self) -> bool {
        let before = self.updates.len();
        let allowed = &self.allowed_updates;
        self.updates.retain(|u| allowed_in(allowed, u.kind));
        self.updates.len() != before
    }

    /// Applies the request's `allowed_updates` parameter, if it sets one.
    pub fn update_allowed_updates(&mut self, p: &Params) {
        if let Some(setting) = read_allowed_updates(p) {
            self.allowed_updates = setting;
        }
    }

    // ------------------------------------------------------------ rendering

    pub fn user_json(&self, id: i64, with_language: bool) -> Value {
        match self.users.get(&id) {
            Some(u) => {
                let mut v = json!({"id": u.id, "is_bot": u.is_bot, "first_name": u.first_name});
                if let Some(l) = &u.last_name {
                    v["last_name"] = json!(l);
                }
                if let Some(n) = &u.username {
                    v["username"] = json!(n);
                }
                if with_language && let Some(l) = &u.language_code {
                    v["language_code"] = json!(l);
                }
                v
            }
            None => json!({"id": id, "is_bot": false, "first_name": "Deleted Account"}),
        }
    }

    pub fn me_json(&self) -> Value {
        let mut me = self.user_json(BOT_ID, false);
        me["can_join_groups"] = json!(true);
        me["can_read_all_group_messages"] = json!(!self.privacy_mode);
        me["supports_inline_queries"] = json!(false);
        me["can_connect_to_business"] = json!(true);
        me["has_main_web_app"] = json!(false);
        me
    }

    pub fn chat_json(&self, id: i64) -> Value {
        let Some(c) = self.chats.get(&id) else {
            return json!({"id": id, "type": if id > 0 { "private" } else { "group" }});
        };
        if c.kind == ChatKind::Private {
            return self.user_chat_json(id);
        }
        let mut v = json!({"id": c.id, "type": c.kind.as_str(), "title": c.title});
        if let Some(n) = &c.username {
            v["username"] = json!(n);
        }
        v
    }

    /// The private chat with a user, as any account sees it.
    pub fn user_chat_json(&self, user: i64) -> Value {
        let mut v = json!({"id": user, "type": "private"});
        if let Some(u) = self.users.get(&user) {
            v["first_name"] = json!(u.first_name);
            if let Some(l) = &u.last_name {
                v["last_name"] = json!(l);
            }
            if let Some(n) = &u.username {
                v["username"] = json!(n);
            }
        }
        v
    }

    pub fn business_connection_json(&self, c: &BusinessConn) -> Value {
        let mut v = json!({
            "id": c.id,
            "user": self.user_json(c.owner, true),
            "user_chat_id": c.owner,
            "date": c.date,
            "is_enabled": c.enabled,
        });
        if let Some(r) = &c.rights {
            v["rights"] = r.to_json();
        }
        v
    }

    pub fn full_info_json(&self, id: i64) -> Value {
        let mut v = self.chat_json(id);
        v["accent_color_id"] = json!(id.rem_euclid(7));
        v["max_reaction_count"] = json!(11);
        v["accepted_gift_types"] = json!({
            "unlimited_gifts": false,
            "limited_gifts": false,
            "unique_gifts": false,
            "premium_subscription": false,
            "gifts_from_channels": false,
        });
        if let Some(c) = self.chats.get(&id) {
            if matches!(c.kind, ChatKind::Group | ChatKind::Supergroup) {
                v["permissions"] = c.permissions.to_json();
            }
            if c.kind == ChatKind::Private {
                // Nothing more for a user without a bio.
            }
        }
        v
    }

    /// A `ChatMember` object: `terms` give an administrator's rights (only
    /// those of the chat's kind, as the Bot API server writes them), a
    /// restricted member's permissions and the end of a restriction or ban.
    pub fn member_json(&self, chat: i64, user: i64, status: &MemberStatus, terms: Terms) -> Value {
        let u = self.user_json(user, false);
        let kind = self
            .chats
            .get(&chat)
            .map_or(ChatKind::Supergroup, |c| c.kind);
        match status {
            MemberStatus::Creator => json!({"status": "creator", "user": u, "is_anonymous": false}),
            MemberStatus::Administrator => {
                let r = terms.rights();
                let mut v = json!({
                    "status": "administrator", "user": u,
                    "can_be_edited": r.can_be_edited, "is_anonymous": r.is_anonymous,
                    "can_manage_chat": r.can_manage_chat,
                    "can_delete_messages": r.can_delete_messages,
                    "can_manage_video_chats": r.can_manage_video_chats,
                    "can_restrict_members": r.can_restrict_members,
                    "can_promote_members": r.can_promote_members,
                    "can_change_info": r.can_change_info,
                    "can_invite_users": r.can_invite_users,
                    "can_post_stories": r.can_post_stories,
                    "can_edit_stories": r.can_edit_stories,
                    "can_delete_stories": r.can_delete_stories,
                });
                if kind == ChatKind::Channel {
                    v["can_post_messages"] = json!(r.can_post_messages);
                    v["can_edit_messages"] = json!(r.can_edit_messages);
                    v["can_manage_direct_messages"] = json!(r.can_manage_direct_messages);
                } else {
                    v["can_pin_messages"] = json!(r.can_pin_messages);
                    v["can_manage_tags"] = json!(r.can_manage_tags);
                }
                if kind == ChatKind::Supergroup {
                    v["can_manage_topics"] = json!(r.can_manage_topics);
                }
                v
            }
            MemberStatus::Member => json!({"status": "member", "user": u}),
            MemberStatus::Restricted { is_member } => {
                let mut v = terms.permissions().to_json();
                v["status"] = json!("restricted");
                v["user"] = u;
                v["is_member"] = json!(is_member);
                v["until_date"] = json!(terms.until());
                v
            }
            MemberStatus::Left => json!({"status": "left", "user": u}),
            MemberStatus::Kicked => {
                json!({"status": "kicked", "user": u, "until_date": terms.until()})
            }
        }
    }

    /// The current `ChatMember` object of `user` in `chat`.
    pub fn current_member_json(&self, chat: i64, user: i64) -> Value {
        self.member_json(chat, user, &self.status(chat, user), self.terms(chat, user))
    }

    fn entity_json(&self, e: &Entity) -> Value {
        e.to_json(&|id| self.user_json(id, false))
    }

    /// The stored message for reply_to_message (without its own reply).
    fn reply_json(&self, place: Place, id: i32) -> Option<Value> {
        let m = self.rec(place)?.messages.get(&id)?;
        let mut v = m.json.clone();
        if let Some(o) = v.as_object_mut() {
            o.remove("reply_to_message");
        }
        Some(v)
    }

    // ------------------------------------------------------- user actions

    /// A user (or anonymous admin) message; returns (message id, delivered?).
    pub fn user_message(&mut self, msg: &IncomingMessage) -> i32 {
        let chat_id = msg.chat_id;
        if !self.users.contains_key(&msg.from) {
            panic!(
                "fake-bot-api: unknown user {} (use add_user first)",
                msg.from
            );
        }
        if chat_id > 0 {
            if chat_id != msg.from {
                panic!(
                    "fake-bot-api: user {} can't write in the private chat of {chat_id}",
                    msg.from
                );
            }
            self.ensure_private_chat(chat_id);
        }
        let Some(kind) = self.chats.get(&chat_id).map(|c| c.kind) else {
            panic!("fake-bot-api: unknown chat {chat_id}");
        };
        if let Some(to) = self.chats.get(&chat_id).and_then(|c| c.migrated_to) {
            panic!("fake-bot-api: chat {chat_id} was migrated to {to}; write there");
        }
        match &msg.forward_from {
            Some(ForwardFrom::User(u)) if !self.users.contains_key(u) => {
                panic!("fake-bot-api: unknown user {u} to forward from (use add_user first)")
            }
            Some(ForwardFrom::Chat(c)) if !self.chats.contains_key(c) => {
                panic!("fake-bot-api: unknown chat {c} to forward from")
            }
            Some(ForwardFrom::Chat(c)) if *c > 0 => {
                panic!("fake-bot-api: forward a private chat's message with forwarded_from_user")
            }
            _ => {}
        }
        if let Some(b) = msg.via_bot
            && !self.users.get(&b).is_some_and(|u| u.is_bot)
        {
            panic!("fake-bot-api: via_bot {b} is not a bot (use add_bot_user)");
        }
        let anonymous = msg.sender_chat.is_some();
        let from = if anonymous {
            ANONYMOUS_ADMIN_ID
        } else {
            msg.from
        };
        if matches!(kind, ChatKind::Group | ChatKind::Supergroup) && !anonymous {
            match self.status(chat_id, msg.from) {
                MemberStatus::Kicked => panic!(
                    "fake-bot-api: user {} is banned from chat {chat_id} and can't write there",
                    msg.from
                ),
                MemberStatus::Left => {
                    self.change_member(chat_id, msg.from, MemberStatus::Member, None, false);
                }
                _ => {}
            }
            // Telegram refuses what the member's permissions (and the
            // chat's) forbid (see `may_send`).
            let status = self.status(chat_id, msg.from);
            let chat_perms = self.chats.get(&chat_id).map(|c| c.permissions);
            let own = match status {
                MemberStatus::Restricted { .. } => {
                    Some(self.terms(chat_id, msg.from).permissions())
                }
                MemberStatus::Member => Some(ChatPermissions::all()),
                _ => None,
            };
            if let (Some(own), Some(chat_perms)) = (own, chat_perms) {
                let may = |p: ChatPermissions| may_send(&p, msg);
                if status == (MemberStatus::Restricted { is_member: false })
                    || !may(own)
                    || !may(chat_perms)
                {
                    panic!(
                        "fake-bot-api: user {} may not send this in chat {chat_id} ({status:?}, \
                         permissions {own:?}, chat's {chat_perms:?}); Telegram would refuse the message",
                        msg.from
                    );
                }
            }
        }
        let chat_json = self.chat_json(chat_id);
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            panic!("fake-bot-api: unknown chat {chat_id}");
        };
        let id = chat.next_message_id;
        chat.next_message_id += 1;
        let mut m = Map::new();
        m.insert("message_id".into(), json!(id));
        let is_channel = kind == ChatKind::Channel;
        if !is_channel {
            m.insert("from".into(), self.user_json(from, true));
        }
        if let Some(sc) = msg.sender_chat {
            m.insert("sender_chat".into(), self.chat_json(sc));
        } else if is_channel {
            m.insert("sender_chat".into(), chat_json.clone());
        }
        m.insert("chat".into(), chat_json);
        m.insert("date".into(), json!(now()));
        if let Some(r) = msg.reply_to
            && let Some(rv) = self.reply_json(Place::Chat(chat_id), r)
        {
            m.insert("reply_to_message".into(), rv);
        }
        if let Some(origin) = &msg.forward_from {
            m.insert("forward_origin".into(), self.forward_origin_json(origin));
        }
        if let Some(bot) = msg.via_bot {
            m.insert("via_bot".into(), self.user_json(bot, false));
        }
        let media = match (&msg.media, &msg.caption) {
            (Some(media), _) => Some(media.clone()),
            (None, Some(_)) => Some(Media::Photo),
            (None, None) => None,
        };
        let (body, field, efield) = match (&media, &msg.text, &msg.caption) {
            (Some(_), _, Some(c)) => (c.clone(), "caption", "caption_entities"),
            (Some(_), _, None) => (String::new(), "caption", "caption_entities"),
            (None, Some(t), _) => (t.clone(), "text", "entities"),
            (None, None, _) => (String::new(), "text", "entities"),
        };
        if let Some(media) = &media {
            let fields = media_fields(media, chat_id, id);
            m.extend(fields);
        }
        let entities: Vec<Value> = match &msg.entities {
            Some(e) => e.clone(),
            None => text::user_entities(&body)
                .iter()
                .map(|e| self.entity_json(e))
                .collect(),
        };
        if !body.is_empty() || msg.caption.is_some() {
            m.insert(field.into(), json!(body));
        }
        if !entities.is_empty() && (!body.is_empty() || msg.caption.is_some()) {
            m.insert(efield.into(), json!(entities));
        }
        let json = Value::Object(m);
        let from_a_bot = !anonymous && self.users.get(&from).is_some_and(|u| u.is_bot);
        if let Some(chat) = self.chats.get_mut(&chat_id) {
            if from_a_bot && matches!(kind, ChatKind::Group | ChatKind::Supergroup) {
                chat.last_bot_sender = Some(from);
            }
            chat.messages.insert(
                id,
                StoredMsg {
                    json: json.clone(),
                    from,
                    sent: None,
                    text: Some(body),
                    entities,
                    reply_markup: None,
                },
            );
        }
        // Bots never see other bots' messages, whatever the mode.
        if !from_a_bot && self.bot_receives(chat_id, &json) {
            self.push_update(
                if is_channel {
                    "channel_post"
                } else {
                    "message"
                },
                json,
            );
        }
        id
    }

    /// The `forward_origin` of a forwarded message (sent a minute before).
    fn forward_origin_json(&self, origin: &ForwardFrom) -> Value {
        let date = now() - 60;
        match origin {
            ForwardFrom::User(u) => {
                json!({"type": "user", "date": date, "sender_user": self.user_json(*u, false)})
            }
            ForwardFrom::HiddenUser(name) => {
                json!({"type": "hidden_user", "date": date, "sender_user_name": name})
            }
            ForwardFrom::Chat(c) => {
                let chat = self.chats.get(c);
                if chat.is_some_and(|c| c.kind == ChatKind::Channel) {
                    let message_id = chat
                        .and_then(|c| c.messages.keys().next_back().copied())
                        .unwrap_or(1);
                    json!({"type": "channel", "date": date, "chat": self.chat_json(*c),
                           "message_id": message_id})
                } else {
                    json!({"type": "chat", "date": date, "sender_chat": self.chat_json(*c)})
                }
            }
        }
    }

    /// `by` adds a new bot to a group: see `FakeTelegram::add_bot_to_group`.
    pub fn add_bot_to_group(&mut self, by: i64, chat_id: i64, bot_name: &str) -> i64 {
        let Some(chat) = self.chats.get(&chat_id) else {
            panic!("fake-bot-api: unknown chat {chat_id}");
        };
        if !matches!(chat.kind, ChatKind::Group | ChatKind::Supergroup) {
            panic!("fake-bot-api: chat {chat_id} is not a group or supergroup");
        }
        if let Some(to) = chat.migrated_to {
            panic!("fake-bot-api: chat {chat_id} was migrated to {to}; add the bot there");
        }
        let status = self.status(chat_id, by);
        let may_invite = match &status {
            MemberStatus::Creator => true,
            MemberStatus::Administrator => {
                self.rights(chat_id, by).is_some_and(|r| r.can_invite_users)
            }
            MemberStatus::Member => chat.permissions.can_invite_users,
            MemberStatus::Restricted { is_member: true } => {
                chat.permissions.can_invite_users
                    && self.terms(chat_id, by).permissions().can_invite_users
            }
            _ => false,
        };
        if !may_invite {
            panic!(
                "fake-bot-api: user {by} may not add members to chat {chat_id} ({status:?}); \
                 Telegram would refuse"
            );
        }
        let mut base: String = bot_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect::<String>()
            .to_ascii_lowercase();
        if !base.starts_with(|c: char| c.is_ascii_alphabetic()) {
            base.insert(0, 'x');
        }
        let taken = |name: &str| {
            self.users.values().any(|u| {
                u.username
                    .as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
        };
        let mut username = format!("{base}_bot");
        let mut n = 2;
        while taken(&username) {
            username = format!("{base}{n}_bot");
            n += 1;
        }
        let bot = self.add_user(bot_name, None, Some(&username), None, true);
        self.change_member(chat_id, bot, MemberStatus::Member, Some(by), true);
        let msg = self.service_message(
            chat_id,
            by,
            "new_chat_members",
            json!([self.user_json(bot, false)]),
        );
        if self.bot_receives(chat_id, &msg) {
            self.push_update("message", msg);
        }
        bot
    }

    /// A user edits their text message: queues `edited_message` (or
    /// `edited_channel_post`).
    pub fn user_edit(&mut self, from: i64, chat_id: i64, message_id: i32, new_text: &str) {
        let entities: Vec<Value> = text::user_entities(new_text)
            .iter()
            .map(|e| self.entity_json(e))
            .collect();
        let Some(chat) = self.chats.get_mut(&chat_id) else {
            panic!("fake-bot-api: unknown chat {chat_id}");
        };
        let kind = chat.kind;
        let Some(m) = chat.messages.get_mut(&message_id) else {
            panic!("fake-bot-api: no message {message_id} in chat {chat_id}");
        };
        if m.from != from && kind != ChatKind::Channel {
            panic!("fake-bot-api: message {message_id} in chat {chat_id} is not from user {from}");
        }
        let Some(obj) = m.json.as_object_mut() else {
            return;
        };
        let captioned =
            obj.contains_key("caption") || CAPTIONED_FIELDS.iter().any(|f| obj.contains_key(*f));
        let (field, efield) = if captioned {
            ("caption", "caption_entities")
        } else {
            ("text", "entities")
        };
        obj.insert(field.into(), json!(new_text));
        if entities.is_empty() {
            obj.remove(efield);
        } else {
            obj.insert(efield.into(), json!(entities));
        }
        obj.insert("edit_date".into(), json!(now()));
        m.text = Some(new_text.to_owned());
        m.entities = entities;
        let json = m.json.clone();
        let from_a_bot = kind != ChatKind::Channel
            && from != ANONYMOUS_ADMIN_ID
            && self.users.get(&from).is_some_and(|u| u.is_bot);
        if !from_a_bot && self.bot_receives(chat_id, &json) {
            let kind = if kind == ChatKind::Channel {
                "edited_channel_post"
            } else {
                "edited_message"
            };
            self.push_update(kind, json);
        }
    }

    /// Whether a bot other than this one (GroupAnonymousBot aside) is in
    /// the chat.
    fn has_other_bot(&self, chat: &ChatRec) -> bool {
        chat.members.iter().any(|(id, status)| {
            *id != BOT_ID
                && *id != ANONYMOUS_ADMIN_ID
                && status.is_present()
                && self.users.get(id).is_some_and(|u| u.is_bot)
        })
    }

    /// Privacy mode and membership rules for group messages.
    fn bot_receives(&self, chat_id: i64, msg: &Value) -> bool {
        let Some(chat) = self.chats.get(&chat_id) else {
            return false;
        };
        let bot = self.status(chat_id, BOT_ID);
        match chat.kind {
            ChatKind::Private => self.users.get(&chat_id).is_none_or(|u| !u.blocked),
            ChatKind::Channel => bot.is_admin(),
            ChatKind::Group | ChatKind::Supergroup => {
                if !bot.is_present() {
                    return false;
                }
                if !self.privacy_mode || bot.is_admin() {
                    return true;
                }
                if !CONTENT_FIELDS.iter().any(|f| msg.get(*f).is_some()) {
                    return true; // service messages
                }
                if msg["reply_to_message"]["from"]["id"].as_i64() == Some(BOT_ID) {
                    return true;
                }
                // Messages sent through the bot in inline mode.
                if msg["via_bot"]["id"].as_i64() == Some(BOT_ID) {
                    return true;
                }
                let text = msg
                    .get("text")
                    .or_else(|| msg.get("caption"))
                    .and_then(Value::as_str);
                let Some(text) = text else {
                    return false;
                };
                if let Some(cmd) = text.strip_prefix('/') {
                    let word = cmd.split(char::is_whitespace).next().unwrap_or("");
                    return match word.split_once('@') {
                        Some((_, bot)) => bot.eq_ignore_ascii_case(BOT_USERNAME),
                        // A general command goes to the bot that last sent
                        // a message to the group; with no other bot there,
                        // to this one.
                        None => {
                            !word.is_empty()
                                && (chat.last_bot_sender == Some(BOT_ID)
                                    || !self.has_other_bot(chat))
                        }
                    };
                }
                false
            }
        }
    }

    pub fn press_button(&mut self, from: i64, chat_id: i64, message_id: i32, data: &str) -> String {
        if !self.chats.contains_key(&chat_id) {
            panic!("fake-bot-api: unknown chat {chat_id}");
        }
        let message = match self
            .chats
            .get(&chat_id)
            .and_then(|c| c.messages.get(&message_id))
        {
            Some(m) => m.json.clone(),
            None => json!({"chat": self.chat_json(chat_id), "message_id": message_id, "date": 0}),
        };
        let id = (4_000_000_000_000_000_000u64 + self.next_callback).to_string();
        self.next_callback += 1;
        self.callbacks.insert(id.clone(), CallbackRec::new());
        let instance = (chat_id.wrapping_mul(2_654_435_761)).rem_euclid(9_000_000_000_000_000_000);
        let cq = json!({
            "id": id,
            "from": self.user_json(from, true),
            "message": message,
            "chat_instance": instance.to_string(),
            "data": data,
        });
        self.push_update("callback_query", cq);
        id
    }

    pub fn migrate_group(&mut self, group_id: i64, delivery: MigrationDelivery) -> i64 {
        let Some(old) = self.chats.get(&group_id).cloned() else {
            panic!("fake-bot-api: unknown chat {group_id}");
        };
        if old.kind != ChatKind::Group || old.migrated_to.is_some() {
            panic!("fake-bot-api: chat {group_id} is not a basic group that can be migrated");
        }
        let new_id = self.add_chat(ChatKind::Supergroup, &old.title, None);
        if let Some(c) = self.chats.get_mut(&new_id) {
            c.members = old.members.clone();
            c.terms = old.terms.clone();
            c.permissions = old.permissions;
            c.last_bot_sender = old.last_bot_sender;
        }
        if let Some(c) = self.chats.get_mut(&group_id) {
            c.migrated_to = Some(new_id);
        }
        let actor = self.actor_for(group_id, ANONYMOUS_ADMIN_ID);
        let to = self.service_message(group_id, actor, "migrate_to_chat_id", json!(new_id));
        let from = self.service_message(
            new_id,
            ANONYMOUS_ADMIN_ID,
            "migrate_from_chat_id",
            json!(group_id),
        );
        let to = self.status(group_id, BOT_ID).is_present().then_some(to);
        let from = self.status(new_id, BOT_ID).is_present().then_some(from);
        let order = match delivery {
            MigrationDelivery::Both => vec![to, from],
            MigrationDelivery::FromFirst => vec![from, to],
            MigrationDelivery::ToOnly => vec![to],
            MigrationDelivery::FromOnly => vec![from],
            MigrationDelivery::Twice => vec![to.clone(), from.clone(), to, from],
            MigrationDelivery::Neither => Vec::new(),
        };
        for msg in order.into_iter().flatten() {
            self.push_update("message", msg);
        }
        new_id
    }

    pub fn rename_chat(&mut self, chat_id: i64, title: &str, by: i64) -> i32 {
        let Some(chat) = self.chats.get(&chat_id) else {
            panic!("fake-bot-api: unknown chat {chat_id}");
        };
        let kind = chat.kind;
        if kind == ChatKind::Private {
            panic!("fake-bot-api: chat {chat_id} is a private chat, which has no title");
        }
        if let Some(to) = chat.migrated_to {
            panic!("fake-bot-api: chat {chat_id} was migrated to {to}; rename that one");
        }
        let len = title.trim().chars().count();
        if !(1..=128).contains(&len) {
            panic!("fake-bot-api: a chat title has 1-128 characters, not {len}: {title:?}");
        }
        if !self.users.contains_key(&by) {
            panic!("fake-bot-api: unknown user {by} (use add_user first)");
        }
        let status = self.status(chat_id, by);
        let allowed = match kind {
            ChatKind::Channel => status.is_admin(),
            _ => by == ANONYMOUS_ADMIN_ID || status.is_present(),
        };
        if !allowed {
            panic!(
                "fake-bot-api: user {by} can't rename chat {chat_id} (status {status:?}; \
                 set_member them first)"
            );
        }
        if let Some(c) = self.chats.get_mut(&chat_id) {
            c.title = title.to_owned();
        }
        let mut msg = self.service_message(chat_id, by, "new_chat_title", json!(title));
        let id = msg["message_id"].as_i64().unwrap_or(0) as i32;
        if kind == ChatKind::Channel {
            // Channel posts come from the channel itself.
            if let Some(o) = msg.as_object_mut() {
                o.remove("from");
            }
            msg["sender_chat"] = self.chat_json(chat_id);
            if let Some(m) = self
                .chats
                .get_mut(&chat_id)
                .and_then(|c| c.messages.get_mut(&id))
            {
                m.json = msg.clone();
            }
        }
        if self.bot_receives(chat_id, &msg) {
            let kind = if kind == ChatKind::Channel {
                "channel_post"
            } else {
                "message"
            };
            self.push_update(kind, msg);
        }
        id
    }

    // -------------------------------------------------------------- business

    /// A new connection id: 27 base64url characters, the middle 11 of which
    /// encode a bijection of a counter (so ids never repeat).
    fn new_business_id(&mut self) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let n = self.next_business;
        self.next_business += 1;
        let chars = |w: u64, count: u32| -> String {
            (0..count)
                .map(|i| char::from(ALPHABET[((w >> (6 * i)) & 63) as usize]))
                .collect()
        };
        let mut id = chars(mix(n ^ 0x5151_5151_5151_5151), 8);
        id.push_str(&chars(mix(n), 11));
        id.push_str(&chars(mix(n.rotate_left(29) ^ 0x0BAD_C0DE), 8));
        id
    }

    /// The current connection with this id.
    fn connection(&self, id: &str) -> Option<&BusinessConn> {
        self.business.values().find(|c| c.id == id)
    }

    /// The owner of the current connection `id`; panics for an unknown or
    /// replaced id (a bug in the test).
    fn business_owner(&self, id: &str) -> i64 {
        match self.connection(id) {
            Some(c) => c.owner,
            None => panic!("fake-bot-api: unknown or replaced business connection {id:?}"),
        }
    }

    /// The owner of connection `id`, current or replaced.
    pub fn business_owner_of(&self, id: &str) -> Option<i64> {
        self.connection(id)
            .map(|c| c.owner)
            .or_else(|| self.retired_business.get(id).copied())
    }

    fn push_business_connection(&mut self, owner: i64) {
        if let Some(c) = self.business.get(&owner) {
            let v = self.business_connection_json(c);
            self.push_update("business_connection", v);
        }
    }

    pub fn connect_business(
        &mut self,
        owner: i64,
        rights: Option<BusinessRights>,
        notify: bool,
    ) -> String {
        match self.users.get(&owner) {
            Some(u) if u.is_bot => {
                panic!("fake-bot-api: bot {owner} can't have a business account")
            }
            Some(_) => {}
            None => panic!("fake-bot-api: unknown user {owner} (use add_user first)"),
        }
        let id = self.new_business_id();
        // Connecting opens the owner's chat with the bot: user_chat_id
        // reaches them even if they never wrote to it.
        self.ensure_private_chat(owner);
        if let Some(old) = self.business.get(&owner) {
            self.retired_business.insert(old.id.clone(), owner);
        }
        self.business.insert(
            owner,
            BusinessConn {
                id: id.clone(),
                owner,
                date: now(),
                rights,
                enabled: true,
            },
        );
        if notify {
            self.push_business_connection(owner);
        }
        id
    }

    /// Changes the connection `id` in place and queues the update.
    pub fn update_business(&mut self, id: &str, f: impl FnOnce(&mut BusinessConn)) {
        let owner = self.business_owner(id);
        if let Some(c) = self.business.get_mut(&owner) {
            f(c);
        }
        self.push_business_connection(owner);
    }

    pub fn change_business_connection_id(&mut self, id: &str) -> String {
        let owner = self.business_owner(id);
        let new_id = self.new_business_id();
        self.retired_business.insert(id.to_owned(), owner);
        if let Some(c) = self.business.get_mut(&owner) {
            c.id = new_id.clone();
            c.enabled = true;
            c.date = now();
        }
        self.push_business_connection(owner);
        new_id
    }

    /// Whether the account of `owner` delivers updates (connection enabled).
    fn business_delivers(&self, owner: i64) -> bool {
        self.business.get(&owner).is_some_and(|c| c.enabled)
    }

    /// The owner of the connection `id` for a business action of a test
    /// with `customer`; panics on mistakes.
    /// A replaced id is accepted here: it stands for an update Telegram
    /// sent just before the id changed.
    fn business_chat_for(&self, id: &str, customer: i64) -> i64 {
        let owner = match self.retired_business.get(id) {
            Some(owner) => *owner,
            None => self.business_owner(id),
        };
        match self.users.get(&customer) {
            Some(u) if u.is_bot => {
                panic!("fake-bot-api: bot {customer} can't be a business customer")
            }
            Some(_) => {}
            None => panic!("fake-bot-api: unknown user {customer} (use add_user first)"),
        }
        if customer == owner {
            panic!("fake-bot-api: the business account {owner} can't be its own customer");
        }
        owner
    }

    /// The stored business message `message_id`; panics when absent.
    fn business_msg_mut(&mut self, owner: i64, customer: i64, message_id: i32) -> &mut StoredMsg {
        match self
            .business_chats
            .get_mut(&(owner, customer))
            .and_then(|c| c.messages.get_mut(&message_id))
        {
            Some(m) => m,
            None => panic!(
                "fake-bot-api: no message {message_id} in the business chat of {owner} with {customer}"
            ),
        }
    }

    /// A message of the customer (or of the owner) in a business chat.
    pub fn business_incoming(
        &mut self,
        id: &str,
        customer: i64,
        from_owner: bool,
        text: &str,
    ) -> i32 {
        let owner = self.business_chat_for(id, customer);
        let from = if from_owner { owner } else { customer };
        let entities: Vec<Value> = text::user_entities(text)
            .iter()
            .map(|e| self.entity_json(e))
            .collect();
        let mut m = Map::new();
        m.insert("business_connection_id".into(), json!(id));
        m.insert("from".into(), self.user_json(from, true));
        m.insert("chat".into(), self.user_chat_json(customer));
        m.insert("date".into(), json!(now()));
        if !text.is_empty() {
            m.insert("text".into(), json!(text));
        }
        if !entities.is_empty() {
            m.insert("entities".into(), json!(entities));
        }
        let chat = self
            .business_chats
            .entry((owner, customer))
            .or_insert_with(|| ChatRec {
                id: customer,
                kind: ChatKind::Private,
                title: String::new(),
                username: None,
                members: HashMap::from([(owner, MemberStatus::Member)]),
                terms: HashMap::new(),
                permissions: ChatPermissions::group_default(),
                messages: BTreeMap::new(),
                deleted: Vec::new(),
                next_message_id: 1,
                migrated_to: None,
                last_bot_sender: None,
            });
        if !from_owner {
            chat.members.insert(customer, MemberStatus::Member);
        }
        let mid = chat.next_message_id;
        chat.next_message_id += 1;
        m.insert("message_id".into(), json!(mid));
        let json = Value::Object(m);
        chat.messages.insert(
            mid,
            StoredMsg {
                json: json.clone(),
                from,
                sent: None,
                text: Some(text.to_owned()),
                entities,
                reply_markup: None,
            },
        );
        if self.business_delivers(owner) {
            self.push_update("business_message", json);
        }
        mid
    }

    pub fn business_edit(&mut self, id: &str, customer: i64, message_id: i32, new_text: &str) {
        let owner = self.business_chat_for(id, customer);
        let entities: Vec<Value> = text::user_entities(new_text)
            .iter()
            .map(|e| self.entity_json(e))
            .collect();
        let m = self.business_msg_mut(owner, customer, message_id);
        if m.from == BOT_ID {
            panic!(
                "fake-bot-api: message {message_id} of the business chat of {owner} with {customer} \
                 was sent by the bot (edit it with editMessageText)"
            );
        }
        m.text = Some(new_text.to_owned());
        m.entities = entities.clone();
        if let Some(obj) = m.json.as_object_mut() {
            obj.insert("business_connection_id".into(), json!(id));
            obj.insert("text".into(), json!(new_text));
            if entities.is_empty() {
                obj.remove("entities");
            } else {
                obj.insert("entities".into(), json!(entities));
            }
            obj.insert("edit_date".into(), json!(now()));
        }
        let json = m.json.clone();
        if self.business_delivers(owner) {
            self.push_update("edited_business_message", json);
        }
    }

    pub fn business_delete(&mut self, id: &str, customer: i64, message_ids: &[i32]) {
        // Ids the fake never saw are fine: messages older than the bot's
        // connection are deleted too.
        let owner = self.business_chat_for(id, customer);
        if let Some(c) = self.business_chats.get_mut(&(owner, customer)) {
            for mid in message_ids {
                c.messages.remove(mid);
            }
        }
        if self.business_delivers(owner) {
            let payload = json!({
                "business_connection_id": id,
                "chat": self.user_chat_json(customer),
                "message_ids": message_ids,
            });
            self.push_update("deleted_business_messages", payload);
        }
    }

    pub fn business_press(
        &mut self,
        id: &str,
        customer: i64,
        message_id: i32,
        data: &str,
    ) -> String {
        let owner = self.business_chat_for(id, customer);
        let m = self.business_msg_mut(owner, customer, message_id);
        if m.sent.is_none() {
            panic!(
                "fake-bot-api: message {message_id} of the business chat of {owner} with {customer} \
                 was not sent by the bot (it has no inline buttons)"
            );
        }
        let mut message = m.json.clone();
        message["business_connection_id"] = json!(id);
        let qid = (4_000_000_000_000_000_000u64 + self.next_callback).to_string();
        self.next_callback += 1;
        let instance = (owner.wrapping_mul(2_654_435_761) ^ customer.wrapping_mul(40_503))
            .rem_euclid(9_000_000_000_000_000_000);
        if self.business_delivers(owner) {
            self.callbacks.insert(qid.clone(), CallbackRec::new());
            let cq = json!({
                "id": qid,
                "from": self.user_json(customer, true),
                "message": message,
                "chat_instance": instance.to_string(),
                "data": data,
            });
            self.push_update("callback_query", cq);
        }
        qid
    }

    /// Checks a request made on behalf of a business account, in the Bot
    /// API server's order: the chat id (an Integer), the connection
    /// (current), the chat (a customer who wrote to the account), then the
    /// right to reply (connection enabled, `can_reply`).
    fn business_place(&self, p: &Params, connection_id: &str) -> Result<Place, ApiError> {
        let chat_id = p
            .i64("chat_id")
            .map_err(|_| ApiError::bad("chat identifier must be a valid Integer"))?
            .ok_or_else(|| ApiError::bad("chat identifier is empty"))?;
        let conn = self
            .connection(connection_id)
            .ok_or_else(|| ApiError::bad("BUSINESS_CONNECTION_INVALID"))?;
        if chat_id == conn.owner {
            return Err(ApiError::bad("Messages must not be sent to self"));
        }
        let known = self
            .business_chats
            .get(&(conn.owner, chat_id))
            .is_some_and(|c| c.members.contains_key(&chat_id));
        if !known {
            return Err(ApiError::bad("chat not found"));
        }
        let allowed = conn.enabled && conn.rights.is_some_and(|r| r.can_reply);
        if !allowed {
            return Err(ApiError::bad("BUSINESS_CONNECTION_NOT_ALLOWED"));
        }
        Ok(Place::Business {
            owner: conn.owner,
            customer: chat_id,
        })
    }

    /// sendMessage & co: a business chat with `business_connection_id`,
    /// else a chat the bot can write to.
    fn send_target(&self, p: &Params) -> Result<Place, ApiError> {
        if let Some(bc) = business_connection_param(p) {
            return self.business_place(p, &bc);
        }
        let chat_id = self.resolve_chat_id(p, "chat_id")?;
        self.writable_chat(chat_id)?;
        Ok(Place::Chat(chat_id))
    }

    fn rec(&self, place: Place) -> Option<&ChatRec> {
        match place {
            Place::Chat(id) => self.chats.get(&id),
            Place::Business { owner, customer } => self.business_chats.get(&(owner, customer)),
        }
    }

    fn rec_mut(&mut self, place: Place) -> Option<&mut ChatRec> {
        match place {
            Place::Chat(id) => self.chats.get_mut(&id),
            Place::Business { owner, customer } => self.business_chats.get_mut(&(owner, customer)),
        }
    }

    fn outbox_mut(&mut self, place: Place) -> &mut VecDeque<SentMessage> {
        match place {
            Place::Chat(id) => self.outbox.entry(id).or_default(),
            Place::Business { owner, customer } => {
                self.business_outbox.entry((owner, customer)).or_default()
            }
        }
    }

    /// The current connection id of a business place.
    fn place_connection_id(&self, place: Place) -> Option<String> {
        match place {
            Place::Chat(_) => None,
            Place::Business { owner, .. } => self.business.get(&owner).map(|c| c.id.clone()),
        }
    }

    // --------------------------------------------------------- resolution

    fn resolve_chat_id(&self, p: &Params, name: &str) -> Result<i64, ApiError> {
        match p.get(name) {
            None => Err(ApiError::bad(format!("{name} is empty"))),
            Some(Value::String(s)) if s.starts_with('@') => {
                let uname = &s[1..];
                self.chats
                    .values()
                    .find(|c| {
                        c.username
                            .as_deref()
                            .is_some_and(|u| u.eq_ignore_ascii_case(uname))
                    })
                    .map(|c| c.id)
                    .or_else(|| {
                        self.users
                            .values()
                            .find(|u| {
                                u.username
                                    .as_deref()
                                    .is_some_and(|n| n.eq_ignore_ascii_case(uname))
                            })
                            .map(|u| u.id)
                            .filter(|id| self.chats.contains_key(id))
                    })
                    .ok_or_else(|| ApiError::bad("chat not found"))
            }
            Some(_) => p
                .i64(name)
                .map_err(|_| ApiError::bad("chat not found"))?
                .ok_or_else(|| ApiError::bad("chat not found")),
        }
    }

    fn chat(&self, id: i64) -> Result<&ChatRec, ApiError> {
        self.chats
            .get(&id)
            .ok_or_else(|| ApiError::bad("chat not found"))
    }

    /// getChat rules.
    fn readable_chat(&self, id: i64) -> Result<&ChatRec, ApiError> {
        let chat = self.chat(id)?;
        if chat.kind == ChatKind::Private {
            return Ok(chat);
        }
        let bot = self.status(id, BOT_ID);
        if bot.is_present() || chat.username.is_some() {
            return Ok(chat);
        }
        if bot == MemberStatus::Kicked {
            return Err(ApiError::forbidden(format!(
                "bot was kicked from the {}",
                chat.kind.chat_words()
            )));
        }
        Err(ApiError::bad("chat not found"))
    }

    /// The bot must be in the chat (getChatMember & co).
    fn member_chat(&self, id: i64) -> Result<&ChatRec, ApiError> {
        let chat = self.chat(id)?;
        if chat.kind == ChatKind::Private {
            return Ok(chat);
        }
        match self.status(id, BOT_ID) {
            s if s.is_present() => Ok(chat),
            MemberStatus::Kicked => Err(ApiError::forbidden(format!(
                "bot was kicked from the {}",
                chat.kind.chat_words()
            ))),
            _ => Err(ApiError::forbidden(format!(
                "bot is not a member of the {}",
                chat.kind.chat_words()
            ))),
        }
    }

    fn migrated_error(chat: &ChatRec) -> Option<ApiError> {
        chat.migrated_to.map(|to| {
            ApiError::bad("group chat was upgraded to a supergroup chat")
                .with_parameters(json!({"migrate_to_chat_id": to}))
        })
    }

    /// The Bot API server refuses write access and access to the members
    /// of an upgraded basic group (read access, e.g. getChat, still works).
    fn not_migrated(&self, id: i64) -> Result<(), ApiError> {
        match self.chats.get(&id).and_then(Self::migrated_error) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The chat a request's `chat_id` names, if any (for per-chat faults).
    pub fn chat_id_param(&self, p: &Params) -> Option<i64> {
        p.get("chat_id")?;
        self.resolve_chat_id(p, "chat_id").ok()
    }

    /// sendMessage & co rules.
    fn writable_chat(&self, id: i64) -> Result<&ChatRec, ApiError> {
        let Some(chat) = self.chats.get(&id) else {
            if let Some(u) = self.users.get(&id) {
                if u.is_bot {
                    return Err(ApiError::forbidden("bot can't send messages to bots"));
                }
                return Err(ApiError::forbidden(
                    "bot can't initiate conversation with a user",
                ));
            }
            return Err(ApiError::bad("chat not found"));
        };
        if let Some(e) = Self::migrated_error(chat) {
            return Err(e);
        }
        match chat.kind {
            ChatKind::Private => {
                if self.users.get(&id).is_some_and(|u| u.blocked) {
                    return Err(ApiError::forbidden("bot was blocked by the user"));
                }
                Ok(chat)
            }
            ChatKind::Group | ChatKind::Supergroup => match self.status(id, BOT_ID) {
                MemberStatus::Kicked => Err(ApiError::forbidden(format!(
                    "bot was kicked from the {}",
                    chat.kind.chat_words()
                ))),
                MemberStatus::Left | MemberStatus::Restricted { is_member: false } => {
                    Err(ApiError::forbidden(format!(
                        "bot is not a member of the {}",
                        chat.kind.chat_words()
                    )))
                }
                MemberStatus::Restricted { .. } => Err(ApiError::bad(
                    "not enough rights to send text messages to the chat",
                )),
                _ => Ok(chat),
            },
            ChatKind::Channel => match self.status(id, BOT_ID) {
                MemberStatus::Kicked => {
                    Err(ApiError::forbidden("bot was kicked from the channel chat"))
                }
                s if s.is_admin() => Ok(chat),
                s if s.is_present() => Err(ApiError::bad(
                    "need administrator rights in the channel chat",
                )),
                _ => Err(ApiError::forbidden(
                    "bot is not a member of the channel chat",
                )),
            },
        }
    }

    fn user_id(&self, p: &Params, name: &str) -> Result<i64, ApiError> {
        let id = p
            .i64(name)?
            .ok_or_else(|| ApiError::bad(format!("{name} is empty")))?;
        if !self.users.contains_key(&id) {
            return Err(ApiError::bad("user not found"));
        }
        Ok(id)
    }

    // ------------------------------------------------------------ methods

    pub fn set_flood_limits(&mut self, on: bool) {
        if on {
            self.flood.get_or_insert_with(Flood::default);
        } else {
            self.flood = None;
        }
    }

    pub fn set_overall_limit(&mut self, per_second: Option<u32>) {
        self.overall = per_second.map(Overall::new);
    }

    /// Where a send or an edit goes, for the flood limits: the place and
    /// whether it is a group or supergroup. None when the request names no
    /// chat it could send to (it fails anyway).
    fn flood_target(&self, p: &Params) -> Option<(Place, bool)> {
        if let Some(bc) = business_connection_param(p) {
            let owner = self.connection(&bc)?.owner;
            let customer = p.i64("chat_id").ok()??;
            return Some((Place::Business { owner, customer }, false));
        }
        let id = self.resolve_chat_id(p, "chat_id").ok()?;
        let kind = self.chats.get(&id).map(|c| c.kind);
        let group = matches!(kind, Some(ChatKind::Group | ChatKind::Supergroup));
        Some((Place::Chat(id), group))
    }

    /// [`dispatch`](Self::dispatch) under the limits that are enforced: a
    /// send or edit over the per-chat or per-group limits, or a send over
    /// the overall limit, is refused with 429 and not processed (the
    /// second value tells which limit refused it); a successful one is
    /// counted.
    pub fn dispatch_limited(&mut self, method: &str, p: &Params) -> (ApiResult, Option<Refusal>) {
        let send = flood::is_message_send(method);
        let edit = flood::is_message_edit(method) && !p.has("inline_message_id");
        let target = if self.flood.is_some() && (send || edit) {
            self.flood_target(p)
        } else {
            None
        };
        let overall = send && self.overall.is_some();
        let now = tokio::time::Instant::now();
        let chat_wait = target
            .and_then(|(place, group)| self.flood.as_mut().and_then(|f| f.wait(place, group, now)));
        let overall_wait = if overall {
            self.overall.as_mut().and_then(|o| o.wait(now))
        } else {
            None
        };
        let refusal = match (chat_wait, overall_wait) {
            (Some(c), o) => Some((c.max(o.unwrap_or_default()), Refusal::Flood)),
            (None, Some(o)) => Some((o, Refusal::Overall)),
            (None, None) => None,
        };
        if let Some((wait, by)) = refusal {
            let n = flood::retry_after_secs(wait);
            let e = ApiError::new(429, format!("Too Many Requests: retry after {n}"))
                .with_parameters(json!({ "retry_after": n }));
            return (Err(e), Some(by));
        }
        let result = self.dispatch(method, p);
        if result.is_ok() {
            if let Some((place, group)) = target
                && let Some(f) = self.flood.as_mut()
            {
                f.note(place, group, now);
            }
            if overall && let Some(o) = self.overall.as_mut() {
                o.note(now);
            }
        }
        (result, None)
    }

    pub fn dispatch(&mut self, method: &str, p: &Params) -> ApiResult {
        match method {
            "getMe" => Ok(self.me_json()),
            "getWebhookInfo" => Ok(self.webhook_info_json()),
            "setWebhook" => self.set_webhook(p, false),
            "deleteWebhook" => self.set_webhook(p, true),
            "logOut" | "close" => Ok(json!(true)),
            "getChat" => {
                let id = self.resolve_chat_id(p, "chat_id")?;
                self.readable_chat(id)?;
                Ok(self.full_info_json(id))
            }
            "getChatMember" => self.get_chat_member(p),
            "getChatAdministrators" => self.get_chat_administrators(p),
            "getChatMemberCount" => {
                let id = self.resolve_chat_id(p, "chat_id")?;
                self.not_migrated(id)?;
                let chat = self.member_chat(id)?;
                Ok(json!(
                    chat.members.values().filter(|s| s.is_present()).count()
                ))
            }
            "leaveChat" => {
                let id = self.resolve_chat_id(p, "chat_id")?;
                let chat = self.member_chat(id)?;
                if chat.kind == ChatKind::Private {
                    return Err(ApiError::bad(
                        "chat member status can't be changed in private chats",
                    ));
                }
                self.change_member(id, BOT_ID, MemberStatus::Left, Some(BOT_ID), true);
                Ok(json!(true))
            }
            "sendChatAction" => {
                self.send_target(p)?;
                Ok(json!(true))
            }
            "getBusinessConnection" => {
                let id = p.string("business_connection_id").unwrap_or_default();
                match self.connection(&id) {
                    Some(c) => Ok(self.business_connection_json(c)),
                    None => Err(ApiError::bad("BUSINESS_CONNECTION_INVALID")),
                }
            }
            "sendMessage" => self.send_message(p),
            "editMessageText" => self.edit_message(p, true),
            "editMessageReplyMarkup" => self.edit_message(p, false),
            "deleteMessage" => self.delete_message(p),
            "deleteMessages" => self.delete_messages(p),
            "answerCallbackQuery" => self.answer_callback(p),
            "setMyCommands" => self.set_my_commands(p),
            "getMyCommands" => {
                let key = self.commands_key(p)?;
                let list = self.commands.get(&key).cloned().unwrap_or_default();
                Ok(Value::Array(
                    list.into_iter()
                        .map(|(c, d)| json!({"command": c, "description": d}))
                        .collect(),
                ))
            }
            "deleteMyCommands" => {
                let key = self.commands_key(p)?;
                self.commands.remove(&key);
                Ok(json!(true))
            }
            "banChatMember" | "unbanChatMember" | "restrictChatMember" => self.moderate(method, p),
            "setChatPermissions" => self.set_chat_permissions(p),
            "pinChatMessage" | "unpinChatMessage" if business_connection_param(p).is_some() => {
                let bc = business_connection_param(p).unwrap_or_default();
                let place = self.business_place(p, &bc)?;
                if let Some(mid) = p.i64("message_id")? {
                    let exists = self
                        .rec(place)
                        .is_some_and(|c| c.messages.contains_key(&(mid as i32)));
                    if !exists {
                        return Err(ApiError::bad(if method == "pinChatMessage" {
                            "message to pin not found"
                        } else {
                            "message to unpin not found"
                        }));
                    }
                }
                Ok(json!(true))
            }
            "pinChatMessage" | "unpinChatMessage" | "unpinAllChatMessages" => {
                let id = self.resolve_chat_id(p, "chat_id")?;
                self.not_migrated(id)?;
                let chat = self.member_chat(id)?;
                // Channels pin with can_edit_messages.
                let may_pin = self.bot_can(id, |r| {
                    if chat.kind == ChatKind::Channel {
                        r.can_edit_messages
                    } else {
                        r.can_pin_messages
                    }
                });
                if chat.kind != ChatKind::Private && !may_pin {
                    return Err(ApiError::bad(
                        "not enough rights to manage pinned messages in the chat",
                    ));
                }
                if method == "pinChatMessage" {
                    let mid = p.i64("message_id")?.unwrap_or(0) as i32;
                    if !chat.messages.contains_key(&mid) {
                        return Err(ApiError::bad("message to pin not found"));
                    }
                }
                Ok(json!(true))
            }
            _ => Err(not_supported()),
        }
    }

    fn get_chat_member(&self, p: &Params) -> ApiResult {
        let id = self.resolve_chat_id(p, "chat_id")?;
        // Only the bot's own membership needs mere read access.
        if p.i64("user_id").ok().flatten() != Some(BOT_ID) {
            self.not_migrated(id)?;
        }
        let chat = self.member_chat(id)?;
        let user = self.user_id(p, "user_id")?;
        if chat.kind == ChatKind::Private {
            if user == id || user == BOT_ID {
                return Ok(self.member_json(id, user, &MemberStatus::Member, Terms::Plain));
            }
            return Err(ApiError::bad("user not found"));
        }
        Ok(self.current_member_json(id, user))
    }

    fn get_chat_administrators(&self, p: &Params) -> ApiResult {
        let id = self.resolve_chat_id(p, "chat_id")?;
        self.not_migrated(id)?;
        let chat = self.member_chat(id)?;
        if chat.kind == ChatKind::Private {
            return Err(ApiError::bad(
                "there are no administrators in the private chat",
            ));
        }
        let mut admins: Vec<(i64, MemberStatus)> = chat
            .members
            .iter()
            .filter(|(_, s)| s.is_admin())
            .map(|(id, s)| (*id, s.clone()))
            .collect();
        admins.sort_by_key(|(uid, s)| (*s != MemberStatus::Creator, *uid));
        Ok(Value::Array(
            admins
                .iter()
                .map(|(uid, _)| self.current_member_json(id, *uid))
                .collect(),
        ))
    }

    /// banChatMember, unbanChatMember and restrictChatMember, checked in
    /// the order of the Bot API server and TDLib (`set_channel_participant_status`):
    /// the chat (access, kind), the user, the bot itself, nothing to
    /// change, the owner, the bot's `can_restrict_members`, an
    /// administrator. The bot is the actor of the `chat_member` update.
    fn moderate(&mut self, method: &str, p: &Params) -> ApiResult {
        // The server reads the permissions before it looks at the chat.
        let permissions = if method == "restrictChatMember" {
            Some(permissions_param(p)?)
        } else {
            None
        };
        let until = fix_until_date(p.i64("until_date")?.unwrap_or(0), now());
        let id = self.resolve_chat_id(p, "chat_id")?;
        self.not_migrated(id)?;
        let kind = self.member_chat(id)?.kind;
        match (method, kind) {
            ("banChatMember", ChatKind::Private) => {
                return Err(ApiError::bad("can't ban members in private chats"));
            }
            ("unbanChatMember", ChatKind::Private | ChatKind::Group) => {
                return Err(ApiError::bad(
                    "method is available for supergroup and channel chats only",
                ));
            }
            ("restrictChatMember", k) if k != ChatKind::Supergroup => {
                return Err(ApiError::bad("method is available only for supergroups"));
            }
            _ => {}
        }
        let user = self.user_id(p, "user_id")?;
        if kind == ChatKind::Group {
            return self.remove_from_group(id, user);
        }
        let old = self.status(id, user);
        let (new, terms) = match method {
            "banChatMember" => (MemberStatus::Kicked, Terms::Banned { until }),
            "unbanChatMember" => {
                if p.bool("only_if_banned") && old != MemberStatus::Kicked {
                    return Ok(json!(true));
                }
                (MemberStatus::Left, Terms::Plain)
            }
            _ => {
                let permissions = permissions.unwrap_or_else(ChatPermissions::none);
                let present = old.is_present();
                if permissions == ChatPermissions::all() {
                    // TDLib: a restriction to everything is no restriction.
                    let plain = if present {
                        MemberStatus::Member
                    } else {
                        MemberStatus::Left
                    };
                    (plain, Terms::Plain)
                } else {
                    (
                        MemberStatus::Restricted { is_member: present },
                        Terms::Restricted { permissions, until },
                    )
                }
            }
        };
        if user == BOT_ID {
            if new == MemberStatus::Left {
                // TDLib turns "make me Left" into leaving the chat.
                self.change_member(id, BOT_ID, MemberStatus::Left, Some(BOT_ID), true);
                return Ok(json!(true));
            }
            return Err(ApiError::bad("can't restrict self"));
        }
        if old != MemberStatus::Creator && old == new && self.terms(id, user) == terms.fit(&new) {
            return Ok(json!(true));
        }
        self.may_remove(id, &old)?;
        self.change_membership(id, user, new, terms, Some(BOT_ID), true);
        Ok(json!(true))
    }

    /// The refusals of removing or restricting a member whose status is
    /// `target`, in TDLib's order: the owner first, then the bot's right,
    /// then an administrator (refused by Telegram's server, even one the
    /// bot promoted: the fake does not model demoting first).
    fn may_remove(&self, chat: i64, target: &MemberStatus) -> Result<(), ApiError> {
        if *target == MemberStatus::Creator {
            return Err(ApiError::bad("can't remove chat owner"));
        }
        if !self.bot_can(chat, |r| r.can_restrict_members) {
            return Err(ApiError::bad(
                "not enough rights to restrict/unrestrict chat member",
            ));
        }
        if *target == MemberStatus::Administrator {
            return Err(ApiError::bad("user is an administrator of the chat"));
        }
        Ok(())
    }

    /// banChatMember in a basic group removes the member (TDLib's
    /// `delete_chat_participant`): basic groups keep no ban list, so the
    /// user becomes Left and `until_date` does not apply; the bot naming
    /// itself leaves the group; a user not in it is refused by Telegram's
    /// server ("USER_NOT_PARTICIPANT").
    fn remove_from_group(&mut self, id: i64, user: i64) -> ApiResult {
        if user == BOT_ID {
            self.change_member(id, BOT_ID, MemberStatus::Left, Some(BOT_ID), true);
            return Ok(json!(true));
        }
        let old = self.status(id, user);
        self.may_remove(id, &old)?;
        if !old.is_present() {
            return Err(ApiError::bad("USER_NOT_PARTICIPANT"));
        }
        self.change_member(id, user, MemberStatus::Left, Some(BOT_ID), true);
        Ok(json!(true))
    }

    /// setChatPermissions (TDLib's `set_dialog_permissions`): a group's or
    /// supergroup's default permissions; no update is sent.
    fn set_chat_permissions(&mut self, p: &Params) -> ApiResult {
        let permissions = permissions_param(p)?;
        let id = self.resolve_chat_id(p, "chat_id")?;
        self.not_migrated(id)?;
        match self.member_chat(id)?.kind {
            ChatKind::Private => {
                return Err(ApiError::bad("can't change private chat permissions"));
            }
            ChatKind::Channel => {
                return Err(ApiError::bad("can't change channel chat permissions"));
            }
            ChatKind::Group | ChatKind::Supergroup => {}
        }
        if !self.bot_can(id, |r| r.can_restrict_members) {
            return Err(ApiError::bad(
                "not enough rights to change chat permissions",
            ));
        }
        if let Some(c) = self.chats.get_mut(&id) {
            c.permissions = permissions;
        }
        Ok(json!(true))
    }

    /// Parses text + parse_mode/entities like Telegram; returns
    /// (plain text, entities JSON). The 4096 limit applies to the parsed
    /// text, in UTF-16 code units; `edit` picks editMessageText's wording
    /// of the error.
    fn message_text(
        &self,
        raw: &str,
        parse_mode: Option<&str>,
        entities: Option<Value>,
        edit: bool,
    ) -> Result<(String, Vec<Value>), ApiError> {
        let (plain, ents) = match parse_mode.map(str::to_ascii_lowercase).as_deref() {
            None | Some("") => {
                let ents = match entities {
                    None => Vec::new(),
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|e| {
                            Entity::from_json(e)
                                .ok_or_else(|| ApiError::bad("can't parse entities JSON object"))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                    Some(_) => return Err(ApiError::bad("can't parse entities JSON object")),
                };
                (raw.to_owned(), ents)
            }
            Some("html") => text::parse_html(raw)
                .map_err(|e| ApiError::bad(format!("can't parse entities: {e}")))?,
            Some("markdownv2") => text::parse_markdown_v2(raw)
                .map_err(|e| ApiError::bad(format!("can't parse entities: {e}")))?,
            Some("markdown") => {
                return Err(ApiError::bad(
                    "legacy Markdown parse mode is not supported by the fake",
                ));
            }
            Some(_) => return Err(ApiError::bad("unsupported parse_mode")),
        };
        // text_mention only for users Telegram knows.
        let ents: Vec<Entity> = ents
            .into_iter()
            .filter(|e| e.user_id.is_none_or(|u| self.users.contains_key(&u)))
            .collect();
        let (plain, ents) = text::finalize(&plain, ents);
        if plain.is_empty() {
            return Err(ApiError::bad("message text is empty"));
        }
        if text::utf16_len(&plain) > 4096 {
            return Err(ApiError::bad(if edit {
                "MESSAGE_TOO_LONG"
            } else {
                "message is too long"
            }));
        }
        Ok((plain, ents.iter().map(|e| self.entity_json(e)).collect()))
    }

    fn validate_reply_markup(v: &Value) -> Result<(), ApiError> {
        let Some(obj) = v.as_object() else {
            return Err(ApiError::bad(
                "can't parse reply keyboard markup JSON object",
            ));
        };
        let Some(kb) = obj.get("inline_keyboard") else {
            if obj.contains_key("keyboard")
                || obj.contains_key("remove_keyboard")
                || obj.contains_key("force_reply")
            {
                return Ok(());
            }
            return Err(ApiError::bad(
                "can't parse reply keyboard markup JSON object",
            ));
        };
        let rows = kb
            .as_array()
            .ok_or_else(|| ApiError::bad("can't parse inline keyboard markup JSON object"))?;
        let mut count = 0;
        for row in rows {
            let row = row
                .as_array()
                .ok_or_else(|| ApiError::bad("can't parse inline keyboard markup JSON object"))?;
            for b in row {
                count += 1;
                let b = b.as_object().ok_or_else(|| {
                    ApiError::bad("can't parse inline keyboard button JSON object")
                })?;
                match b.get("text").and_then(Value::as_str) {
                    Some(t) if !t.trim().is_empty() => {}
                    Some(_) => return Err(ApiError::bad("BUTTON_TEXT_INVALID")),
                    None => {
                        return Err(ApiError::bad(
                            "can't parse inline keyboard button: Field \"text\" must be of type String",
                        ));
                    }
                }
                const ACTIONS: &[&str] = &[
                    "url",
                    "callback_data",
                    "web_app",
                    "login_url",
                    "switch_inline_query",
                    "switch_inline_query_current_chat",
                    "switch_inline_query_chosen_chat",
                    "copy_text",
                    "callback_game",
                    "pay",
                ];
                if !ACTIONS.iter().any(|a| b.contains_key(*a)) {
                    return Err(ApiError::bad(
                        "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
                    ));
                }
                if let Some(d) = b.get("callback_data") {
                    let ok = d.as_str().is_some_and(|d| (1..=64).contains(&d.len()));
                    if !ok {
                        return Err(ApiError::bad("BUTTON_DATA_INVALID"));
                    }
                }
                if let Some(u) = b.get("url") {
                    let ok = u.as_str().and_then(text::check_link).is_some();
                    if !ok {
                        return Err(ApiError::bad("BUTTON_URL_INVALID"));
                    }
                }
            }
        }
        if count > 100 {
            return Err(ApiError::bad("reply markup is too long"));
        }
        Ok(())
    }

    /// A message of the bot. Through a business connection it comes from
    /// the account's owner, with `sender_business_bot` = the bot.
    fn bot_message_json(&self, place: Place, id: i32, sent: &SentMessage, date: i64) -> Value {
        let mut m = Map::new();
        m.insert("message_id".into(), json!(id));
        match place {
            Place::Business { owner, customer } => {
                if let Some(bc) = &sent.business_connection_id {
                    m.insert("business_connection_id".into(), json!(bc));
                }
                m.insert("sender_business_bot".into(), self.user_json(BOT_ID, false));
                m.insert("from".into(), self.user_json(owner, true));
                m.insert("chat".into(), self.user_chat_json(customer));
            }
            Place::Chat(chat_id) => {
                let kind = self.chats.get(&chat_id).map(|c| c.kind);
                if kind == Some(ChatKind::Channel) {
                    m.insert("sender_chat".into(), self.chat_json(chat_id));
                } else {
                    m.insert("from".into(), self.user_json(BOT_ID, false));
                }
                m.insert("chat".into(), self.chat_json(chat_id));
            }
        }
        m.insert("date".into(), json!(date));
        if sent.edited {
            m.insert("edit_date".into(), json!(now()));
        }
        if let Some(r) = sent.reply_to_message_id
            && let Some(rv) = self.reply_json(place, r)
        {
            m.insert("reply_to_message".into(), rv);
        }
        m.insert("text".into(), json!(sent.text));
        if !sent.entities.is_empty() {
            m.insert("entities".into(), json!(sent.entities));
        }
        if let Some(rm) = &sent.reply_markup
            && rm.get("inline_keyboard").is_some()
        {
            let kb = normalize_inline_keyboard(rm);
            if kb["inline_keyboard"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                m.insert("reply_markup".into(), kb);
            }
        }
        Value::Object(m)
    }

    fn send_message(&mut self, p: &Params) -> ApiResult {
        let place = self.send_target(p)?;
        let chat_id = place.chat_id();
        let raw = p.string("text").unwrap_or_default();
        let parse_mode = p.string("parse_mode");
        let (plain, entities) =
            self.message_text(&raw, parse_mode.as_deref(), p.json("entities")?, false)?;
        let reply_markup = p.json("reply_markup")?;
        if let Some(rm) = &reply_markup {
            Self::validate_reply_markup(rm)?;
        }
        let mut reply_to = None;
        if let Some(rp) = p.json("reply_parameters")? {
            let mid = rp.get("message_id").and_then(Value::as_i64);
            let other_chat = rp
                .get("chat_id")
                .is_some_and(|c| c.as_i64() != Some(chat_id));
            let exists = mid.is_some_and(|m| {
                self.rec(place)
                    .is_some_and(|c| c.messages.contains_key(&(m as i32)))
            });
            if mid.is_none() {
                return Err(ApiError::bad("can't parse reply parameters JSON object"));
            }
            if exists && !other_chat {
                reply_to = mid.map(|m| m as i32);
            } else if !rp
                .get("allow_sending_without_reply")
                .and_then(Value::as_bool)
                .unwrap_or(false)
            {
                return Err(ApiError::bad("message to be replied not found"));
            }
        }
        let link_preview = p.json("link_preview_options")?;
        let business_connection_id = self.place_connection_id(place);
        let Some(chat) = self.rec_mut(place) else {
            return Err(ApiError::bad("chat not found"));
        };
        let id = chat.next_message_id;
        chat.next_message_id += 1;
        if matches!(chat.kind, ChatKind::Group | ChatKind::Supergroup) {
            chat.last_bot_sender = Some(BOT_ID);
        }
        let sent = SentMessage {
            chat_id,
            message_id: id,
            text: plain.clone(),
            entities: entities.clone(),
            raw_text: raw,
            parse_mode,
            reply_markup: reply_markup.clone(),
            reply_to_message_id: reply_to,
            edited: false,
            business_connection_id,
        };
        let mut json = self.bot_message_json(place, id, &sent, now());
        if let Some(lp) = link_preview
            && lp.is_object()
        {
            json["link_preview_options"] = lp;
        }
        if let Some(chat) = self.rec_mut(place) {
            chat.messages.insert(
                id,
                StoredMsg {
                    json: json.clone(),
                    from: BOT_ID,
                    sent: Some(sent.clone()),
                    text: Some(plain),
                    entities,
                    reply_markup,
                },
            );
        }
        self.outbox_mut(place).push_back(sent);
        Ok(json)
    }

    fn edit_message(&mut self, p: &Params, with_text: bool) -> ApiResult {
        if p.has("inline_message_id") {
            return Err(ApiError::bad(
                "inline messages are not supported by the fake",
            ));
        }
        if !p.has("chat_id") || !p.has("message_id") {
            return Err(ApiError::bad("message identifier is not specified"));
        }
        let place = match business_connection_param(p) {
            Some(bc) => self.business_place(p, &bc)?,
            None => Place::Chat(self.resolve_chat_id(p, "chat_id")?),
        };
        let mid = p.i64("message_id")?.unwrap_or(0) as i32;
        let chat = match place {
            Place::Chat(chat_id) => self.member_chat(chat_id)?,
            Place::Business { .. } => self
                .rec(place)
                .ok_or_else(|| ApiError::bad("chat not found"))?,
        };
        if let Some(e) = Self::migrated_error(chat) {
            return Err(e);
        }
        let Some(stored) = chat.messages.get(&mid) else {
            return Err(ApiError::bad("message to edit not found"));
        };
        if stored.from != BOT_ID && chat.kind != ChatKind::Channel {
            return Err(ApiError::bad("message can't be edited"));
        }
        let Some(old) = stored.sent.clone() else {
            return Err(ApiError::bad("message can't be edited"));
        };
        let reply_markup = p.json("reply_markup")?;
        if let Some(rm) = &reply_markup {
            Self::validate_reply_markup(rm)?;
            if rm.get("inline_keyboard").is_none() {
                return Err(ApiError::bad("inline keyboard expected"));
            }
        }
        let mut new = old.clone();
        if with_text {
            let raw = p.string("text").unwrap_or_default();
            let parse_mode = p.string("parse_mode");
            let (plain, entities) =
                self.message_text(&raw, parse_mode.as_deref(), p.json("entities")?, true)?;
            new.text = plain;
            new.entities = entities;
            new.raw_text = raw;
            new.parse_mode = parse_mode;
        }
        new.reply_markup = reply_markup;
        let markup_eq = |a: &Option<Value>, b: &Option<Value>| {
            let norm = |m: &Option<Value>| {
                m.as_ref()
                    .and_then(|v| v.get("inline_keyboard"))
                    .filter(|k| k.as_array().is_some_and(|a| !a.is_empty()))
                    .cloned()
            };
            norm(a) == norm(b)
        };
        if new.text == old.text
            && new.entities == old.entities
            && markup_eq(&new.reply_markup, &old.reply_markup)
        {
            return Err(ApiError::bad(
                "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
            ));
        }
        new.edited = true;
        new.business_connection_id = self.place_connection_id(place);
        let date = stored.json["date"].as_i64().unwrap_or_else(now);
        let json = self.bot_message_json(place, mid, &new, date);
        if let Some(chat) = self.rec_mut(place)
            && let Some(m) = chat.messages.get_mut(&mid)
        {
            m.json = json.clone();
            m.text = Some(new.text.clone());
            m.entities = new.entities.clone();
            m.reply_markup = new.reply_markup.clone();
            m.sent = Some(new.clone());
        }
        self.outbox_mut(place).push_back(new);
        Ok(json)
    }

    fn delete_message(&mut self, p: &Params) -> ApiResult {
        let chat_id = self.resolve_chat_id(p, "chat_id")?;
        self.not_migrated(chat_id)?;
        let mid = p
            .i64("message_id")?
            .ok_or_else(|| ApiError::bad("message_id is empty"))? as i32;
        let chat = self.member_chat(chat_id)?;
        let Some(m) = chat.messages.get(&mid) else {
            return Err(ApiError::bad("message to delete not found"));
        };
        if !self.may_delete(chat, m) {
            return Err(ApiError::bad("message can't be deleted"));
        }
        if let Some(c) = self.chats.get_mut(&chat_id) {
            c.messages.remove(&mid);
            c.deleted.push(mid);
        }
        Ok(json!(true))
    }

    /// Whether the bot may delete message `m` of `chat`: anything in a
    /// private chat, its own messages anywhere, others' messages as an
    /// administrator with `can_delete_messages`.
    fn may_delete(&self, chat: &ChatRec, m: &StoredMsg) -> bool {
        chat.kind == ChatKind::Private
            || m.from == BOT_ID
            || self.bot_can(chat.id, |r| r.can_delete_messages)
    }

    /// deleteMessages, as the Bot API server reads `message_ids` (a JSON
    /// array of 1-100 positive ids) before it looks at the chat. Unknown
    /// messages are skipped, and so are those the bot may not delete;
    /// the answer is `true` either way.
    fn delete_messages(&mut self, p: &Params) -> ApiResult {
        let Some(list) = p.json("message_ids")? else {
            return Err(ApiError::bad("message identifiers are not specified"));
        };
        let Some(list) = list.as_array() else {
            return Err(ApiError::bad("expected an Array of message identifiers"));
        };
        if list.len() > 100 {
            return Err(ApiError::bad("too many message identifiers specified"));
        }
        let mut ids = Vec::with_capacity(list.len());
        for v in list {
            let id = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match id {
                Some(id) if id > 0 && id <= i64::from(i32::MAX) => ids.push(id as i32),
                _ => return Err(ApiError::bad("invalid message identifier specified")),
            }
        }
        if ids.is_empty() {
            return Err(ApiError::bad("message identifiers are not specified"));
        }
        let id = self.resolve_chat_id(p, "chat_id")?;
        self.not_migrated(id)?;
        let chat = self.member_chat(id)?;
        let deletable: Vec<i32> = ids
            .into_iter()
            .filter(|m| {
                chat.messages
                    .get(m)
                    .is_some_and(|m| self.may_delete(chat, m))
            })
            .collect();
        if let Some(c) = self.chats.get_mut(&id) {
            for m in deletable {
                if c.messages.remove(&m).is_some() {
                    c.deleted.push(m);
                }
            }
        }
        Ok(json!(true))
    }

    fn answer_callback(&mut self, p: &Params) -> ApiResult {
        let id = p.string("callback_query_id").unwrap_or_default();
        let invalid = || {
            ApiError::bad("query is too old and response timeout expired or query ID is invalid")
        };
        // Answered already, pressed too long ago, or never: one error.
        let now = tokio::time::Instant::now();
        match self.callbacks.get(&id) {
            Some(c) if !c.answered && now.duration_since(c.created) <= CALLBACK_ANSWER_WINDOW => {}
            _ => return Err(invalid()),
        }
        if let Some(t) = p.string("text")
            && text::utf16_len(&t) > 200
        {
            return Err(ApiError::bad("MESSAGE_TOO_LONG"));
        }
        if let Some(c) = self.callbacks.get_mut(&id) {
            c.answered = true;
        }
        self.callback_answers.insert(id, Value::Object(p.0.clone()));
        Ok(json!(true))
    }

    fn commands_key(&self, p: &Params) -> Result<(String, String), ApiError> {
        let scope = p
            .json("scope")?
            .unwrap_or_else(|| json!({"type": "default"}));
        let ty = scope.get("type").and_then(Value::as_str).unwrap_or("");
        const SCOPES: &[&str] = &[
            "default",
            "all_private_chats",
            "all_group_chats",
            "all_chat_administrators",
            "chat",
            "chat_administrators",
            "chat_member",
        ];
        if !SCOPES.contains(&ty) {
            return Err(ApiError::bad("can't parse BotCommandScope JSON object"));
        }
        let mut scope = scope.clone();
        if let Some(c) = scope.get("chat_id").cloned() {
            let mut m = Map::new();
            m.insert("chat_id".into(), c);
            let id = self.resolve_chat_id(&Params(&m), "chat_id")?;
            self.not_migrated(id)?;
            scope["chat_id"] = json!(id);
        }
        let lang = p.string("language_code").unwrap_or_default();
        let valid_lang = lang.len() == 2 && lang.chars().all(|c| c.is_ascii_lowercase());
        if !lang.is_empty() && !valid_lang {
            return Err(ApiError::bad("invalid language code specified"));
        }
        Ok((scope_key(&scope), lang))
    }

    fn set_my_commands(&mut self, p: &Params) -> ApiResult {
        let key = self.commands_key(p)?;
        let cmds = p
            .json("commands")?
            .ok_or_else(|| ApiError::bad("commands is empty"))?;
        let arr = cmds
            .as_array()
            .ok_or_else(|| ApiError::bad("can't parse commands JSON object"))?;
        if arr.len() > 100 {
            return Err(ApiError::bad("BOT_COMMANDS_TOO_MUCH"));
        }
        let mut list = Vec::with_capacity(arr.len());
        for c in arr {
            let command = c.get("command").and_then(Value::as_str);
            let description = c.get("description").and_then(Value::as_str);
            let (Some(command), Some(description)) = (command, description) else {
                return Err(ApiError::bad("can't parse BotCommand JSON object"));
            };
            let command = command.strip_prefix('/').unwrap_or(command);
            let valid = (1..=32).contains(&command.len())
                && command
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
            if !valid {
                return Err(ApiError::bad("BOT_COMMAND_INVALID"));
            }
            let dlen = description.trim().chars().count();
            if !(1..=256).contains(&dlen) {
                return Err(ApiError::bad("BOT_COMMAND_DESCRIPTION_INVALID"));
            }
            list.push((command.to_owned(), description.to_owned()));
        }
        if list.is_empty() {
            self.commands.remove(&key);
        } else {
            self.commands.insert(key, list);
        }
        Ok(json!(true))
    }
}

#[cfg(test)]
mod limit_tests {
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::{ChatKind, Refusal, State};
    use crate::params::Params;

    /// Calls `method` under the limits: Ok(result) or Err((retry_after,
    /// refusal)) when a limit refused it.
    fn call(s: &mut State, method: &str, params: Value) -> Result<Value, (u64, Refusal)> {
        let map = params.as_object().unwrap().clone();
        match s.dispatch_limited(method, &Params(&map)) {
            (Ok(v), None) => Ok(v),
            (Err(e), Some(by)) => {
                assert_eq!(e.code, 429);
                let n = e.parameters.unwrap()["retry_after"].as_u64().unwrap();
                assert_eq!(e.description, format!("Too Many Requests: retry after {n}"));
                Err((n, by))
            }
            (r, by) => panic!("{method}: {r:?} {by:?}"),
        }
    }

    fn edit(s: &mut State, chat: i64, id: i64, text: &str) -> Result<Value, (u64, Refusal)> {
        call(
            s,
            "editMessageText",
            json!({"chat_id": chat, "message_id": id, "text": text}),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn edits_count_for_the_group_window_not_the_overall_limit() {
        let mut s = State::new();
        s.set_flood_limits(true);
        s.set_overall_limit(Some(1));
        let group = s.add_chat(ChatKind::Group, "G", None);
        let sent = call(
            &mut s,
            "sendMessage",
            json!({"chat_id": group, "text": "0"}),
        )
        .unwrap();
        let id = sent["message_id"].as_i64().unwrap();
        // 19 edits at one a second: the overall limit (1 a second, sends
        // only) does not see them; with the send, 20 in the minute.
        for i in 1..20 {
            tokio::time::advance(Duration::from_secs(1)).await;
            edit(&mut s, group, id, &i.to_string()).unwrap();
        }
        // The 21st message of the minute waits for the send at t0 to leave
        // the window: 60 - 20 = 40 s.
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(edit(&mut s, group, id, "x"), Err((40, Refusal::Flood)));
        assert_eq!(
            call(
                &mut s,
                "sendMessage",
                json!({"chat_id": group, "text": "x"})
            ),
            Err((40, Refusal::Flood))
        );
        // Another chat is free; its send counts for the overall limit.
        let other = s.add_chat(ChatKind::Group, "H", None);
        call(
            &mut s,
            "sendMessage",
            json!({"chat_id": other, "text": "a"}),
        )
        .unwrap();
        assert_eq!(
            call(
                &mut s,
                "sendMessage",
                json!({"chat_id": other, "text": "b"})
            ),
            Err((1, Refusal::Overall))
        );
        // An edit is not refused by the overall limit.
        let first = s.chats[&other].messages.keys().next().copied().unwrap();
        edit(&mut s, other, i64::from(first), "a2").unwrap();
        tokio::time::advance(Duration::from_secs(40)).await;
        edit(&mut s, group, id, "x").unwrap();
        // Failed edits do not count; the inline form is not limited.
        for _ in 0..5 {
            assert!(matches!(
                s.dispatch_limited(
                    "editMessageText",
                    &Params(json!({"inline_message_id": "1", "text": "t"}).as_object().unwrap())
                ),
                (Err(e), None) if e.code == 400
            ));
        }
    }
}

#[cfg(test)]
mod update_log_tests {
    use serde_json::json;

    use super::{FIRST_UPDATE_ID, State, UPDATE_LOG};

    #[test]
    fn only_the_latest_updates_can_be_redelivered() {
        let mut s = State::new();
        assert_eq!(s.last_update_id(), None);
        for i in 0..=UPDATE_LOG as i64 {
            s.push_update("message", json!({"message_id": i, "chat": {"id": 1}}));
        }
        let last = FIRST_UPDATE_ID + UPDATE_LOG as i64;
        assert_eq!(s.last_update_id(), Some(last));
        let e = s.redeliver(FIRST_UPDATE_ID).unwrap_err();
        assert!(e.contains("too old"), "{e}");
        let e = s.redeliver(last + 1).unwrap_err();
        assert!(e.contains("no update"), "{e}");
        s.updates.clear();
        s.redeliver(FIRST_UPDATE_ID + 1).unwrap();
        s.redeliver(last).unwrap();
        s.redeliver(FIRST_UPDATE_ID + 1).unwrap();
        let queued: Vec<(i64, u64)> = s.updates.iter().map(|u| (u.id, u.seq)).collect();
        assert_eq!(queued.len(), 3);
        assert_eq!(queued[0].0, FIRST_UPDATE_ID + 1);
        assert_eq!(queued[1].0, FIRST_UPDATE_ID + 1);
        assert_eq!(queued[2].0, last);
        // Each copy is an entry of its own.
        assert!(queued[1].1 > queued[2].1);
        assert_eq!(s.updates[0].json["message"]["message_id"], 1);
    }
}
