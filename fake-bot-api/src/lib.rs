//! A fake Telegram Bot API server for castellan's integration tests and
//! benchmark.
//!
//! [`FakeTelegram::start`] serves the Bot API over HTTP on `127.0.0.1`;
//! point a real teloxide `Bot` at [`FakeTelegram::api_url`] with
//! [`BOT_TOKEN`]. The fake keeps a small simulated world (users, groups,
//! supergroups, channels, memberships, messages), answers requests the way
//! Telegram does (same error texts, same JSON shapes, checked against the
//! Bot API spec in `spec/bot-api.json`), delivers updates through real long
//! polling (`getUpdates`) or, once the bot sets a webhook, by HTTP POST to
//! it, and records every request and delivery for assertions.
//!
//! Faithfulness notes:
//! * Privacy mode is on by default (`getMe` says
//!   `can_read_all_group_messages: false`): in groups and supergroups where
//!   the bot is not an administrator it only receives commands addressed to
//!   it (`/cmd@castellan_test_bot`), general commands (`/cmd`) when it was
//!   the last bot to send a message to the group or no other bot is in the
//!   group, replies to its own messages and service messages. Turn it off
//!   with [`FakeTelegram::set_privacy_mode`]. Whatever the mode, a bot never
//!   sees another bot's messages (users made with
//!   [`FakeTelegram::add_bot_user`]).
//! * `chat_member` updates are queued only when the bot is an administrator
//!   of the chat, and delivered only when "chat_member" is in the
//!   `allowed_updates` of the bot's latest `getUpdates` or `setWebhook` that
//!   set them (one setting shared by both, as on Telegram: a call without
//!   the parameter keeps it; unknown kinds are ignored; an empty list means
//!   the default). Updates of kinds not allowed are dropped when a
//!   `getUpdates`, a `getWebhookInfo` or the webhook delivery sees them.
//! * Webhooks: `setWebhook` checks like Telegram (an HTTPS URL on port 80,
//!   88, 443 or 8443, else 400 "Bad Request: bad webhook: ...", e.g.
//!   "HTTPS url must be provided for webhook"; a `secret_token` of up to
//!   256 characters `A-Za-z0-9_-`, empty meaning none; `max_connections`
//!   clamped to 1-100, default 40; `certificate` is ignored) and takes a
//!   call with a URL at most once a second (sooner: 429 "Too Many
//!   Requests: retry after 1", before any other check; see
//!   [`FakeTelegram::limit_set_webhook_rate`]). Tests have no TLS: an
//!   `https://` host must be routed to a local plain-HTTP address with
//!   [`FakeTelegram::route_webhook_host`] (else "Failed to resolve host"),
//!   or the fake told to act as a local Bot API server, which takes
//!   `http://` URLs on any port ([`FakeTelegram::allow_http_webhooks`]:
//!   `http://127.0.0.1:PORT/...` and `http://localhost:PORT/...` connect
//!   to 127.0.0.1). A call that changes nothing but `allowed_updates`
//!   keeps the webhook; any other first removes the
//!   current one (abandoning its deliveries in flight: their updates stay
//!   queued, their answers are ignored), so a refused URL leaves no webhook
//!   (Telegram's order). While a webhook is set, `getUpdates` answers 409
//!   "Conflict: can't use getUpdates method while webhook is active; use
//!   deleteWebhook to delete the webhook first"; a long poll under way
//!   when it is set gets 409 "Conflict: terminated by setWebhook request".
//! * Webhook delivery: a background task POSTs each queued Update (JSON,
//!   header `X-Telegram-Bot-Api-Secret-Token` when a secret is set) on a
//!   new connection. Like the Bot API server it delivers each *queue* in
//!   update_id order, one update at a time, and different queues in
//!   parallel, up to `max_connections` at once: messages, edits and channel
//!   posts queue per chat, callback queries per user who pressed,
//!   `my_chat_member` per chat, `chat_member` per member,
//!   `business_connection` per account owner, business messages, edits and
//!   deletions per business chat. So a chat's messages arrive in order, but
//!   a button press, a `my_chat_member` or a `chat_member` update may
//!   overtake a message of the same chat, as on Telegram
//!   (`max_connections: 1` delivers one update at a time, in update_id
//!   order but for retries). An update leaves the queue only on a 2xx
//!   answer; a non-2xx answer ("Wrong response from the webhook: 500
//!   Internal Server Error"), a connection error ("Connection refused") or
//!   a timeout ("Read timeout expired", after
//!   [`FakeTelegram::set_webhook_timeout`], 10 s by default) sets
//!   getWebhookInfo's `last_error_date` / `last_error_message`, and the
//!   update (with the rest of its queue) waits
//!   [`FakeTelegram::set_webhook_retry_delay`] (100 ms by default; Telegram
//!   waits about a second, doubling up to a minute or two) or the answer's
//!   `Retry-After` seconds before it is sent again. A 2xx answer carrying a
//!   method call (a JSON object or form with `method`) is executed and
//!   recorded like a request, as Telegram does. Every attempt is listed by
//!   [`FakeTelegram::webhook_deliveries`]. A test can make Telegram send an
//!   update again ([`FakeTelegram::redeliver`], with
//!   [`FakeTelegram::last_update_id`]), as it does after a timeout or to a
//!   second replica. Not emulated: updates do not expire (Telegram drops
//!   them after about a day), repeated getUpdates conflicts are not slowed
//!   down, a webhook answering 410 for a day is not removed, a URL's user
//!   info is not sent as Basic authorization, and `go_offline` does not
//!   stop deliveries.
//! * Telegram Business: a user connects the bot to their business account
//!   ([`FakeTelegram::connect_business`]); the bot gets a
//!   `business_connection` update with a random-looking connection id, then
//!   `business_message` / `edited_business_message` /
//!   `deleted_business_messages` updates (`message_ids` are integers, as
//!   api.json says) for the account's private chats while the connection is
//!   enabled (nothing while disabled). One account has at most one connected
//!   bot: connecting again, or editing the settings
//!   ([`FakeTelegram::change_business_connection_id`]), issues a new id and
//!   the old one becomes invalid (`BUSINESS_CONNECTION_INVALID`, also from
//!   `getBusinessConnection`). Sending with `business_connection_id` needs
//!   an enabled connection whose rights include `can_reply`
//!   (else `BUSINESS_CONNECTION_NOT_ALLOWED`) and a customer who wrote to
//!   the account (else "chat not found"); the message comes `from` the
//!   owner with `sender_business_bot` = the bot. A business chat has the
//!   customer's user id as chat id, like the customer's private chat with
//!   the bot, but its messages, ids and outbox are separate
//!   ([`FakeTelegram::next_business_message`]).
//! * Removing the bot ([`FakeTelegram::set_bot_status`] with `Left` or
//!   `Kicked`) queues `my_chat_member` (chat, `from` = the owner or an
//!   admin, `date`, old and new `ChatMember`); then sends fail with 403
//!   "Forbidden: bot was kicked from the group chat" / "...supergroup
//!   chat" or "Forbidden: bot is not a member of the group chat" /
//!   "...supergroup chat", as do getChatMember & co. Adding it back queues
//!   `my_chat_member` and a `new_chat_members` message.
//! * A group upgrade ([`FakeTelegram::migrate_group_with`]) delivers its two
//!   service messages in any order, once, twice or only one of them
//!   ([`MigrationDelivery`]). The old group then answers like the Bot API
//!   server, whose `check_chat_access` refuses write access and access to
//!   members: sends, deletions, pins, moderation, getChatMember of another
//!   user, getChatAdministrators, getChatMemberCount and command scopes
//!   naming it fail with 400 "Bad Request: group chat was upgraded to a
//!   supergroup chat" and `parameters.migrate_to_chat_id`; getChat,
//!   getChatMember of the bot itself and leaveChat (read access) still
//!   answer about the old group. Edits (which the server leaves to TDLib,
//!   with an undocumented answer) get the same 400 in the fake.
//! * Moderation follows the Bot API server and TDLib. Administrators carry
//!   rights ([`AdminRights`]; [`FakeTelegram::set_admin`],
//!   [`FakeTelegram::set_bot_admin`]), restricted members permissions and
//!   an end, groups default permissions ([`ChatPermissions`];
//!   [`FakeTelegram::set_chat_permissions`] or setChatPermissions, shown by
//!   getChat). `banChatMember` makes the user Kicked in supergroups and
//!   channels, removes them (Left) from a basic group; `unbanChatMember`
//!   (supergroups and channels) makes a banned user, or with
//!   `only_if_banned` unset any member, Left; `restrictChatMember`
//!   (supergroups) makes a member Restricted, or a plain member again when
//!   every permission is granted. An `until_date` less than 30 s or more
//!   than 366 days ahead means forever (0). Refusals, all 400 "Bad
//!   Request: ...": "can't ban members in private chats", "method is
//!   available for supergroup and channel chats only" (unban),
//!   "method is available only for supergroups" (restrict), "user not
//!   found", "can't restrict self" (ban, restrict; unbanning itself makes
//!   the bot leave, as TDLib does), "can't remove chat owner", "not enough
//!   rights to restrict/unrestrict chat member" (the bot lacks
//!   `can_restrict_members`), "user is an administrator of the chat",
//!   "USER_NOT_PARTICIPANT" (a basic group's non-member). Calls that change
//!   nothing succeed without an update; others queue `chat_member` with
//!   the bot as `from` (when the bot is an administrator). Not emulated:
//!   bans and restrictions never expire, `revoke_messages` changes nothing
//!   the bot can see, and public supergroups do not ignore
//!   `can_change_info` / `can_pin_messages`.
//! * Message kinds: [`IncomingMessage`] sends texts (with automatic
//!   entities: bot_command, mention, hashtag, cashtag, email, and `url`
//!   for `http(s)://...` and bare domains like `example.com`), photos,
//!   stickers, GIFs (`animation` plus `document`, as Telegram sends them),
//!   videos, voice notes, audios, documents, video notes, polls, dice,
//!   contacts, locations, venues (`venue` plus `location`), games,
//!   forwards (`forward_origin`) and messages via inline bots (`via_bot`),
//!   captions on the media that take one; members may send only what
//!   their permissions allow. In privacy mode a bot that is not an
//!   administrator gets none of these unless addressed to it (a command,
//!   a reply to it, a message sent through it inline); service messages
//!   always. [`FakeTelegram::add_bot_to_group`] makes a user add another
//!   bot.
//! * Deletion: `deleteMessage` deletes the bot's own messages, anything in
//!   a private chat, and others' messages when the bot is an administrator
//!   with `can_delete_messages` (else 400 "Bad Request: message can't be
//!   deleted"; an unknown id: "Bad Request: message to delete not
//!   found"). `deleteMessages` takes 1-100 ids ("Bad Request: message
//!   identifiers are not specified", "...too many message identifiers
//!   specified", "...invalid message identifier specified"), deletes those
//!   it may, skips the rest and answers `true`. See
//!   [`FakeTelegram::is_deleted`].
//! * Renaming a chat ([`FakeTelegram::rename_chat`]) delivers the
//!   `new_chat_title` service message, in privacy mode too.
//! * Button presses: answerCallbackQuery more than 15 s after the press
//!   (tokio's clock, so paused time works), a second time, or with an
//!   unknown id gets 400 "Bad Request: query is too old and response
//!   timeout expired or query ID is invalid".
//! * Lengths: sendMessage/editMessageText text is limited to 4096 UTF-16
//!   code units after entity parsing (tags are free, `&amp;` counts one):
//!   "Bad Request: message is too long" for a send, "Bad Request:
//!   MESSAGE_TOO_LONG" for an edit; answerCallbackQuery `text` to 200
//!   ("Bad Request: MESSAGE_TOO_LONG"); `callback_data` to 1-64 bytes
//!   ("Bad Request: BUTTON_DATA_INVALID"); an inline keyboard to 100 buttons
//!   ("Bad Request: reply markup is too long").
//! * Faults, injected per method ([`FakeTelegram::fail_next`]) or per method
//!   and chat ([`FakeTelegram::fail_next_in_chat`]): Telegram's JSON errors
//!   (429 with `retry_after`, 400, 403, 500), nginx's HTML 502 page,
//!   connections closed without a response, before or after the request
//!   took effect, and requests answered only after a stall (taking effect
//!   then, even if the client gave up) or never ([`Fault`]).
//!   [`FakeTelegram::go_offline`] makes Telegram unreachable (connections
//!   refused, open ones closed) until [`FakeTelegram::go_online`], on the
//!   same port.
//! * Flood limits are opt-in ([`FakeTelegram::enforce_flood_limits`]; off
//!   so that a benchmark can measure a bot that keeps no limits, but
//!   castellan's integration tests turn them on): one
//!   message per second per chat (bursts of 3) and 20 a minute per group,
//!   for sends and for edits of messages alike (they share the per-chat
//!   limits); requests over them get 429 "Too Many Requests: retry after
//!   N" and are listed by [`FakeTelegram::flood_violations`]. Telegram has
//!   no fixed overall limit (its "30 a second" is advice for bulk
//!   notifications); a test may set one apart
//!   ([`FakeTelegram::enforce_overall_limit`]): sends beyond it get 429 and
//!   are listed by [`FakeTelegram::overall_limit_refusals`].

mod flood;
mod params;
mod server;
pub mod spec;
pub mod text;
mod webhook;
mod world;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::world::{ChatKind, State};

/// The token the fake accepts (bot id [`BOT_ID`]).
pub const BOT_TOKEN: &str = "123456789:AAHfakeTokenForCastellanTests_0123456";
/// The bot's user id.
pub const BOT_ID: i64 = 123456789;
/// The bot's username (without `@`).
pub const BOT_USERNAME: &str = "castellan_test_bot";
/// The bot's first name.
pub const BOT_FIRST_NAME: &str = "Castellan";
/// Telegram's GroupAnonymousBot, the `from` of anonymous admins' messages.
pub const ANONYMOUS_ADMIN_ID: i64 = 1087968824;

/// A membership status in a chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberStatus {
    /// The owner ("creator").
    Creator,
    /// An administrator with [`AdminRights::usual`] (all usual rights
    /// except promoting members); other rights with
    /// [`FakeTelegram::set_admin`].
    Administrator,
    /// A plain member.
    Member,
    /// Restricted. Set by a test: all permissions off, "until forever";
    /// restrictChatMember keeps its permissions and `until_date` (see
    /// [`FakeTelegram::restriction`]). `is_member` tells whether the user is
    /// currently in the chat.
    Restricted {
        /// Whether the user is currently a member of the chat.
        is_member: bool,
    },
    /// Not in the chat.
    Left,
    /// Banned ("kicked"); forever when set by a test, banChatMember keeps
    /// its `until_date` (see [`FakeTelegram::ban_until`]).
    Kicked,
}

impl MemberStatus {
    /// In the chat (creator, administrator, member, restricted member).
    pub fn is_present(&self) -> bool {
        matches!(
            self,
            MemberStatus::Creator
                | MemberStatus::Administrator
                | MemberStatus::Member
                | MemberStatus::Restricted { is_member: true }
        )
    }

    /// Creator or administrator.
    pub fn is_admin(&self) -> bool {
        matches!(self, MemberStatus::Creator | MemberStatus::Administrator)
    }
}

/// An injected failure (see [`FakeTelegram::fail_next`] and
/// [`FakeTelegram::fail_next_in_chat`]). Except for
/// [`DropAfterProcessing`](Fault::DropAfterProcessing) and
/// [`Stall`](Fault::Stall), the request is not processed: it has no effect
/// on the simulated world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 429 "Too Many Requests: retry after N" with `parameters.retry_after`.
    RetryAfter(u32),
    /// 400 "Bad Request: {0}" (a leading "Bad Request: " in the text is not
    /// doubled).
    BadRequest(String),
    /// 403 "Forbidden: {0}".
    Forbidden(String),
    /// 500 "Internal Server Error" (teloxide then sleeps 10 s).
    ServerError,
    /// 409 "Conflict: terminated by other getUpdates request; make sure
    /// that only one bot instance is running": another process polls with
    /// the same token.
    Conflict,
    /// 502 with an HTML page (`content-type: text/html`, not JSON), as
    /// Telegram's nginx front answers when the Bot API server behind it
    /// does not.
    BadGateway,
    /// The connection is closed without any HTTP response: the client's
    /// read of the response fails (hyper: "connection closed before message
    /// completed").
    DropConnection,
    /// The request is processed (its effects happen and it is recorded with
    /// the reply it would have had), then the connection is closed without
    /// a response: the client cannot know that it worked.
    DropAfterProcessing,
    /// The server holds the request this long without answering, then
    /// processes and answers it normally (flood limits included, counted at
    /// the end of the stall). A client whose timeout is shorter sees a
    /// timeout, yet the request still takes effect after the stall (even if
    /// the client closed the connection meanwhile), as on Telegram. The
    /// request is recorded when processed, with its reply. Time is tokio's
    /// clock. [`go_offline`](FakeTelegram::go_offline) closes the
    /// connection, but the request still takes effect; dropping the fake
    /// abandons stalled requests unprocessed.
    Stall(Duration),
    /// The request is never answered and never processed: the server holds
    /// the connection until the client closes it (e.g. on its timeout) or
    /// the fake is dropped (or goes offline). Recorded when received, with
    /// `ok: false` and a `null` response.
    Hang,
}

/// One request the bot made.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Canonical camelCase method name from the spec, e.g. "sendMessage"
    /// (as sent when the method is unknown).
    pub method: String,
    /// The request's parameters as a JSON object (form values as strings).
    pub params: Value,
    /// Whether the reply was `ok: true` (for
    /// [`Fault::DropAfterProcessing`], the reply that was never sent).
    pub ok: bool,
    /// The full JSON reply; for [`Fault::DropAfterProcessing`] the reply
    /// that was never sent, for [`Fault::DropConnection`] and
    /// [`Fault::Hang`] `null`, for [`Fault::BadGateway`] the HTML page as a
    /// JSON string.
    pub response: Value,
    /// The injected fault the request met, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    /// Whether the connection was closed without a response
    /// ([`Fault::DropConnection`] or [`Fault::DropAfterProcessing`]; not
    /// [`Fault::Hang`], whose connection the client closes).
    pub fn dropped(&self) -> bool {
        matches!(
            self.fault,
            Some(Fault::DropConnection | Fault::DropAfterProcessing)
        )
    }
}

/// The webhook the bot set (see [`FakeTelegram::webhook_info`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// The `url` parameter, as given.
    pub url: String,
    /// The `secret_token` parameter (None when absent or empty): the value
    /// of the `X-Telegram-Bot-Api-Secret-Token` header of each delivery.
    pub secret_token: Option<String>,
    /// The `max_connections` parameter clamped to 1-100 (40 when absent):
    /// the most deliveries in flight at once.
    pub max_connections: u32,
    /// The current `allowed_updates` setting (shared with getUpdates; None:
    /// the default, every kind but `chat_member`, `message_reaction` and
    /// `message_reaction_count`), kinds in the Bot API server's order.
    pub allowed_updates: Option<Vec<String>>,
    /// The `ip_address` parameter (validated, not used to connect).
    pub ip_address: Option<String>,
}

/// One attempt to deliver an update to the webhook (see
/// [`FakeTelegram::webhook_deliveries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The update's `update_id`.
    pub update_id: i64,
    /// The webhook's URL.
    pub url: String,
    /// The HTTP status of the answer; None when there was none.
    pub status: Option<u16>,
    /// None when delivered (a 2xx answer). Otherwise the error, in the
    /// words of getWebhookInfo's `last_error_message`: "Wrong response from
    /// the webhook: 500 Internal Server Error", "Connection refused", "Read
    /// timeout expired", "Webhook connection closed"...; or, for a request
    /// abandoned because deleteWebhook or setWebhook removed or changed the
    /// webhook while it was in flight (its update stays queued and its
    /// answer is ignored), "abandoned: the webhook was deleted or changed
    /// during the request".
    pub error: Option<String>,
}

impl WebhookDelivery {
    /// Whether the endpoint answered 2xx (the update left the queue).
    pub fn delivered(&self) -> bool {
        self.error.is_none()
    }

    /// Whether deleteWebhook or setWebhook abandoned the request.
    pub fn abandoned(&self) -> bool {
        self.error.as_deref() == Some(webhook::ABANDONED)
    }
}

/// How the two service messages of a group upgrade reach the bot (see
/// [`FakeTelegram::migrate_group_with`]): `migrate_to_chat_id` in the old
/// group and `migrate_from_chat_id` in the new supergroup. Telegram gives
/// no order guarantee between the two chats, and a bot may miss or see
/// again an update (e.g. across a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationDelivery {
    /// `migrate_to_chat_id`, then `migrate_from_chat_id`.
    Both,
    /// `migrate_from_chat_id`, then `migrate_to_chat_id`.
    FromFirst,
    /// Only `migrate_to_chat_id` (in the old group).
    ToOnly,
    /// Only `migrate_from_chat_id` (in the new supergroup).
    FromOnly,
    /// `migrate_to_chat_id`, `migrate_from_chat_id`, then both again: each
    /// message twice (same message, new update ids).
    Twice,
    /// Neither: the bot missed the upgrade (its updates were lost, or it was
    /// away longer than Telegram keeps them) and learns of it from the
    /// `migrate_to_chat_id` errors of its calls.
    Neither,
}

/// A message the bot sent (or its state after an edit).
#[derive(Debug, Clone, PartialEq)]
pub struct SentMessage {
    /// The chat (for a business message, the customer's user id).
    pub chat_id: i64,
    /// The message id.
    pub message_id: i32,
    /// Plain text after parse_mode parsing and trimming, as Telegram shows it.
    pub text: String,
    /// Entities as Telegram computes them (UTF-16 offsets), including the
    /// automatically detected ones (bot_command, url, mention, hashtag...).
    pub entities: Vec<Value>,
    /// The `text` parameter exactly as sent.
    pub raw_text: String,
    /// The `parse_mode` parameter.
    pub parse_mode: Option<String>,
    /// The `reply_markup` parameter (None when absent, e.g. removed by an
    /// edit).
    pub reply_markup: Option<Value>,
    /// `reply_parameters.message_id` when it referred to an existing message.
    pub reply_to_message_id: Option<i32>,
    /// True for the result of editMessageText / editMessageReplyMarkup.
    pub edited: bool,
    /// The business connection it was sent (or last edited) through; None
    /// for the bot's own chats.
    pub business_connection_id: Option<String>,
}

impl SentMessage {
    /// The texts of the inline keyboard buttons, row by row.
    pub fn button_texts(&self) -> Vec<Vec<String>> {
        self.buttons()
            .into_iter()
            .map(|row| row.into_iter().map(|(t, _)| t).collect())
            .collect()
    }

    /// (text, callback_data or url) of each inline button, row by row.
    pub fn buttons(&self) -> Vec<Vec<(String, String)>> {
        let Some(rows) = self
            .reply_markup
            .as_ref()
            .and_then(|m| m.get("inline_keyboard"))
            .and_then(Value::as_array)
        else {
            return Vec::new();
        };
        rows.iter()
            .map(|row| {
                row.as_array()
                    .map(|r| {
                        r.iter()
                            .map(|b| {
                                let text = b["text"].as_str().unwrap_or_default().to_owned();
                                let data = b
                                    .get("callback_data")
                                    .or_else(|| b.get("url"))
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                                    .to_owned();
                                (text, data)
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect()
    }

    /// The callback_data of the first button whose text contains `needle`.
    pub fn callback_data_of(&self, needle: &str) -> Option<String> {
        self.buttons()
            .into_iter()
            .flatten()
            .find(|(t, _)| t.contains(needle))
            .map(|(_, d)| d)
    }
}

/// The content of a message other than a text (see the builder methods of
/// [`IncomingMessage`], which set it). Each kind becomes the Message
/// field(s) Telegram sends for it, with made-up but unique file ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Media {
    /// `photo`: three `PhotoSize`s (90x68, 320x240, 800x600). May carry a
    /// caption.
    Photo,
    /// `sticker`: a regular static 512x512 sticker (`type` "regular",
    /// `is_animated` and `is_video` false, `emoji` "👍", a set name and a
    /// thumbnail). No caption.
    Sticker,
    /// A GIF: `animation` and, as Telegram sends for backward
    /// compatibility, `document` with the same file. May carry a caption.
    Animation,
    /// `video` (1280x720, 10 s, video/mp4). May carry a caption.
    Video,
    /// `voice` (a voice note, 4 s, audio/ogg). May carry a caption.
    Voice,
    /// `audio` (a song, 180 s, audio/mpeg, performer and title). May carry
    /// a caption.
    Audio,
    /// `document` (file.pdf, application/pdf). May carry a caption.
    Document,
    /// `video_note` (a round video, 240 px, 5 s). No caption.
    VideoNote,
    /// `poll`: a regular, anonymous, open poll without votes. No caption.
    Poll {
        /// The question (1-300 characters).
        question: String,
        /// The options' texts (2-12, 1-100 characters each).
        options: Vec<String>,
    },
    /// `dice`: one of Telegram's animated emoji with its value. No caption.
    Dice {
        /// "🎲", "🎯", "🎳" (values 1-6), "🏀", "⚽" (1-5) or "🎰" (1-64).
        emoji: String,
        /// The value shown; None lets the fake pick one in range.
        value: Option<i32>,
    },
    /// `contact`. No caption.
    Contact {
        /// The phone number.
        phone_number: String,
        /// The contact's first name.
        first_name: String,
    },
    /// `location`. No caption.
    Location {
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
    },
    /// `venue` and, as Telegram sends for backward compatibility,
    /// `location`. No caption.
    Venue {
        /// Latitude.
        latitude: f64,
        /// Longitude.
        longitude: f64,
        /// The venue's name.
        title: String,
        /// Its address.
        address: String,
    },
    /// `game` (title, description, a photo array). Users post games
    /// through an inline bot: add [`IncomingMessage::via_bot`] to be
    /// faithful. No caption.
    Game {
        /// The game's title.
        title: String,
    },
}

impl Media {
    /// Whether Telegram lets this kind carry a caption (photo, video,
    /// animation, audio, document, voice).
    pub fn takes_caption(&self) -> bool {
        matches!(
            self,
            Media::Photo
                | Media::Animation
                | Media::Video
                | Media::Voice
                | Media::Audio
                | Media::Document
        )
    }

    /// The Message field that names this kind ("photo", "sticker"...).
    pub fn field(&self) -> &'static str {
        match self {
            Media::Photo => "photo",
            Media::Sticker => "sticker",
            Media::Animation => "animation",
            Media::Video => "video",
            Media::Voice => "voice",
            Media::Audio => "audio",
            Media::Document => "document",
            Media::VideoNote => "video_note",
            Media::Poll { .. } => "poll",
            Media::Dice { .. } => "dice",
            Media::Contact { .. } => "contact",
            Media::Location { .. } => "location",
            Media::Venue { .. } => "venue",
            Media::Game { .. } => "game",
        }
    }
}

/// Where a forwarded message comes from: its `forward_origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardFrom {
    /// `MessageOriginUser`: a user (or bot) who allows linking to their
    /// account.
    User(i64),
    /// A chat of the fake: `MessageOriginChannel` (with the channel's
    /// latest message id, 1 if it has none) for a channel,
    /// `MessageOriginChat` (its `sender_chat`) for a group or supergroup
    /// (an anonymous administrator's message).
    Chat(i64),
    /// `MessageOriginHiddenUser`: a user who hides their account in
    /// forwards; only their name is shown.
    HiddenUser(String),
}

/// A message a user sends (see [`FakeTelegram::send_message`]). Start from
/// [`IncomingMessage::new`] and add a kind: `new(from, chat, "").sticker()`
/// sends a sticker; `new(from, chat, "look").photo()` a photo captioned
/// "look" (the text becomes the caption of kinds that take one, and is
/// dropped by the others). A member may send only what their permissions
/// and the chat's allow (the fake panics otherwise, as Telegram would
/// refuse the message): text, contacts, locations and venues need
/// `can_send_messages`; photos, videos, voice notes, audios, documents and
/// video notes their own right; polls `can_send_polls`; stickers, GIFs,
/// games, dice and messages via an inline bot `can_send_other_messages`.
#[derive(Debug, Clone, Default)]
pub struct IncomingMessage {
    /// The sender (ignored for the `from` field when `sender_chat` is set:
    /// then `from` is GroupAnonymousBot).
    pub from: i64,
    /// The chat; in private chats the user's id.
    pub chat_id: i64,
    /// The text (None for a caption-only or empty message).
    pub text: Option<String>,
    /// A caption: the message becomes a photo with this caption unless
    /// `media` says another kind (one that takes a caption).
    pub caption: Option<String>,
    /// Entities (of the text or of the caption); None = detected like
    /// Telegram (bot_command, hashtag, url, ...).
    pub entities: Option<Vec<Value>>,
    /// Reply to this message of the chat (the full stored message is
    /// included as `reply_to_message`).
    pub reply_to: Option<i32>,
    /// Sent on behalf of a chat (anonymous admin: the group itself).
    pub sender_chat: Option<i64>,
    /// The kind of content other than a text; None = a text message (a
    /// photo when `caption` is set).
    pub media: Option<Media>,
    /// A forwarded message: its `forward_origin` (the text or media is
    /// kept).
    pub forward_from: Option<ForwardFrom>,
    /// Sent through this inline bot (`via_bot`, a user made with
    /// [`FakeTelegram::add_bot_user`] or [`BOT_ID`]).
    pub via_bot: Option<i64>,
}

impl IncomingMessage {
    /// A text message.
    pub fn new(from: i64, chat_id: i64, text: &str) -> IncomingMessage {
        IncomingMessage {
            from,
            chat_id,
            text: Some(text.to_owned()),
            ..IncomingMessage::default()
        }
    }

    /// Makes it a reply to `message_id`.
    pub fn reply_to(mut self, message_id: i32) -> IncomingMessage {
        self.reply_to = Some(message_id);
        self
    }

    /// Explicit entities instead of auto-detection (of the text, or of the
    /// caption for media).
    pub fn entities(mut self, entities: Vec<Value>) -> IncomingMessage {
        self.entities = Some(entities);
        self
    }

    /// Sent by an anonymous administrator of the group (sender_chat = the
    /// group, from = GroupAnonymousBot).
    pub fn anonymous_admin(mut self) -> IncomingMessage {
        self.sender_chat = Some(self.chat_id);
        self
    }

    /// A caption instead of a text: on the media kind set (before or
    /// after), a photo when none is. Panics for a kind that takes no
    /// caption (sticker, video note, poll, dice, contact, location, venue,
    /// game).
    pub fn caption(mut self, caption: &str) -> IncomingMessage {
        if let Some(m) = &self.media {
            assert!(
                m.takes_caption(),
                "fake-bot-api: a {} message has no caption",
                m.field()
            );
        }
        self.text = None;
        self.caption = Some(caption.to_owned());
        self
    }

    /// Sets the kind: a non-empty text becomes the caption of a kind that
    /// takes one (unless a caption is set); other kinds drop the text and
    /// refuse a caption (panic).
    pub fn with_media(mut self, media: Media) -> IncomingMessage {
        if media.takes_caption() {
            if self.caption.is_none() {
                self.caption = self.text.take().filter(|t| !t.is_empty());
            }
        } else {
            assert!(
                self.caption.is_none(),
                "fake-bot-api: a {} message has no caption",
                media.field()
            );
        }
        self.text = None;
        self.media = Some(media);
        self
    }

    /// A photo ([`Media::Photo`]); the text becomes its caption.
    pub fn photo(self) -> IncomingMessage {
        self.with_media(Media::Photo)
    }

    /// A sticker ([`Media::Sticker`]).
    pub fn sticker(self) -> IncomingMessage {
        self.with_media(Media::Sticker)
    }

    /// A GIF ([`Media::Animation`]: `animation` and `document`); the text
    /// becomes its caption.
    pub fn animation(self) -> IncomingMessage {
        self.with_media(Media::Animation)
    }

    /// A video ([`Media::Video`]); the text becomes its caption.
    pub fn video(self) -> IncomingMessage {
        self.with_media(Media::Video)
    }

    /// A voice note ([`Media::Voice`]); the text becomes its caption.
    pub fn voice(self) -> IncomingMessage {
        self.with_media(Media::Voice)
    }

    /// An audio file ([`Media::Audio`]); the text becomes its caption.
    pub fn audio(self) -> IncomingMessage {
        self.with_media(Media::Audio)
    }

    /// A document ([`Media::Document`]); the text becomes its caption.
    pub fn document(self) -> IncomingMessage {
        self.with_media(Media::Document)
    }

    /// A round video note ([`Media::VideoNote`]).
    pub fn video_note(self) -> IncomingMessage {
        self.with_media(Media::VideoNote)
    }

    /// A poll with options "Yes" and "No" ([`Media::Poll`]; set `media`
    /// for other options).
    pub fn poll(self, question: &str) -> IncomingMessage {
        self.with_media(Media::Poll {
            question: question.to_owned(),
            options: vec!["Yes".to_owned(), "No".to_owned()],
        })
    }

    /// A dice ([`Media::Dice`]) with `emoji` ("🎲", "🎯", "🎳", "🏀", "⚽"
    /// or "🎰") and a value in its range.
    pub fn dice(self, emoji: &str) -> IncomingMessage {
        self.with_media(Media::Dice {
            emoji: emoji.to_owned(),
            value: None,
        })
    }

    /// A shared contact ([`Media::Contact`]).
    pub fn contact(self, phone_number: &str, first_name: &str) -> IncomingMessage {
        self.with_media(Media::Contact {
            phone_number: phone_number.to_owned(),
            first_name: first_name.to_owned(),
        })
    }

    /// A shared location ([`Media::Location`]).
    pub fn location(self, latitude: f64, longitude: f64) -> IncomingMessage {
        self.with_media(Media::Location {
            latitude,
            longitude,
        })
    }

    /// A venue ([`Media::Venue`]: `venue` and `location`).
    pub fn venue(
        self,
        latitude: f64,
        longitude: f64,
        title: &str,
        address: &str,
    ) -> IncomingMessage {
        self.with_media(Media::Venue {
            latitude,
            longitude,
            title: title.to_owned(),
            address: address.to_owned(),
        })
    }

    /// A game ([`Media::Game`]); add [`via_bot`](Self::via_bot) for the
    /// inline bot that posted it.
    pub fn game(self, title: &str) -> IncomingMessage {
        self.with_media(Media::Game {
            title: title.to_owned(),
        })
    }

    /// Forwarded from a user who allows linking to their account
    /// (`forward_origin` of type "user").
    pub fn forwarded_from_user(mut self, user_id: i64) -> IncomingMessage {
        self.forward_from = Some(ForwardFrom::User(user_id));
        self
    }

    /// Forwarded from a chat of the fake: a channel post (type "channel")
    /// or a group's anonymous message (type "chat"); see
    /// [`ForwardFrom::Chat`].
    pub fn forwarded_from_chat(mut self, chat_id: i64) -> IncomingMessage {
        self.forward_from = Some(ForwardFrom::Chat(chat_id));
        self
    }

    /// Forwarded from a user who hides their account (type
    /// "hidden_user", only `sender_user_name`).
    pub fn forwarded_hidden(mut self, name: &str) -> IncomingMessage {
        self.forward_from = Some(ForwardFrom::HiddenUser(name.to_owned()));
        self
    }

    /// Sent through the inline bot `bot_user` (`via_bot`): a user made with
    /// [`FakeTelegram::add_bot_user`] (or [`BOT_ID`]; in privacy mode the
    /// bot receives the messages sent through itself).
    pub fn via_bot(mut self, bot_user: i64) -> IncomingMessage {
        self.via_bot = Some(bot_user);
        self
    }
}

/// The rights of a business bot (`BusinessBotRights`); only the `true`
/// ones appear in the JSON.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BusinessRights {
    /// Can send and edit messages in the account's private chats.
    pub can_reply: bool,
    /// Can mark incoming private messages as read.
    pub can_read_messages: bool,
    /// Can delete messages sent by the bot.
    pub can_delete_sent_messages: bool,
    /// Can delete all private messages in managed chats.
    pub can_delete_all_messages: bool,
    /// Can edit the account's first and last name.
    pub can_edit_name: bool,
    /// Can edit the account's bio.
    pub can_edit_bio: bool,
    /// Can edit the account's profile photo.
    pub can_edit_profile_photo: bool,
    /// Can edit the account's username.
    pub can_edit_username: bool,
    /// Can change the account's gift privacy settings.
    pub can_change_gift_settings: bool,
    /// Can view the account's gifts and Telegram Stars.
    pub can_view_gifts_and_stars: bool,
    /// Can convert the account's regular gifts to Telegram Stars.
    pub can_convert_gifts_to_stars: bool,
    /// Can transfer and upgrade the account's gifts.
    pub can_transfer_and_upgrade_gifts: bool,
    /// Can transfer the account's Telegram Stars.
    pub can_transfer_stars: bool,
    /// Can post, edit and delete the account's stories.
    pub can_manage_stories: bool,
}

impl BusinessRights {
    /// The usual rights of a chat bot: `can_reply` and `can_read_messages`.
    pub fn reply() -> BusinessRights {
        BusinessRights {
            can_reply: true,
            can_read_messages: true,
            ..BusinessRights::default()
        }
    }

    /// The `BusinessBotRights` object (only the `true` fields, like the Bot
    /// API server writes it).
    pub fn to_json(&self) -> Value {
        let fields = [
            ("can_reply", self.can_reply),
            ("can_read_messages", self.can_read_messages),
            ("can_delete_sent_messages", self.can_delete_sent_messages),
            ("can_delete_all_messages", self.can_delete_all_messages),
            ("can_edit_name", self.can_edit_name),
            ("can_edit_bio", self.can_edit_bio),
            ("can_edit_profile_photo", self.can_edit_profile_photo),
            ("can_edit_username", self.can_edit_username),
            ("can_change_gift_settings", self.can_change_gift_settings),
            ("can_view_gifts_and_stars", self.can_view_gifts_and_stars),
            (
                "can_convert_gifts_to_stars",
                self.can_convert_gifts_to_stars,
            ),
            (
                "can_transfer_and_upgrade_gifts",
                self.can_transfer_and_upgrade_gifts,
            ),
            ("can_transfer_stars", self.can_transfer_stars),
            ("can_manage_stories", self.can_manage_stories),
        ];
        Value::Object(
            fields
                .into_iter()
                .filter(|(_, on)| *on)
                .map(|(k, _)| (k.to_owned(), Value::Bool(true)))
                .collect(),
        )
    }
}

/// An administrator's rights: the booleans of `ChatMemberAdministrator`.
/// [`MemberStatus::Administrator`] means [`AdminRights::usual`]; make an
/// administrator with other rights with [`FakeTelegram::set_admin`] or
/// [`FakeTelegram::set_bot_admin`]. The rights the chat kind lacks are
/// left out of the JSON (as the Bot API server does): `can_post_messages`,
/// `can_edit_messages` and `can_manage_direct_messages` exist in channels
/// only, `can_pin_messages` and `can_manage_tags` in groups and
/// supergroups, `can_manage_topics` in supergroups. The bot's own rights
/// decide its refusals: `can_restrict_members` for ban/unban/restrict and
/// setChatPermissions, `can_delete_messages` for deleting others' messages,
/// `can_pin_messages` (`can_edit_messages` in channels) for pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminRights {
    /// The bot may edit this administrator's rights (it promoted them).
    pub can_be_edited: bool,
    /// The administrator's presence in the chat is hidden.
    pub is_anonymous: bool,
    /// Event log, hidden members, slow mode...; implied by any other right
    /// (the fake always sets it: an administrator without it is a member).
    pub can_manage_chat: bool,
    /// Can delete other users' messages.
    pub can_delete_messages: bool,
    /// Can manage video chats.
    pub can_manage_video_chats: bool,
    /// Can restrict, ban and unban members.
    pub can_restrict_members: bool,
    /// Can add administrators with a subset of their own rights.
    pub can_promote_members: bool,
    /// Can change the title, photo and other settings.
    pub can_change_info: bool,
    /// Can invite users.
    pub can_invite_users: bool,
    /// Can post stories.
    pub can_post_stories: bool,
    /// Can edit others' stories.
    pub can_edit_stories: bool,
    /// Can delete others' stories.
    pub can_delete_stories: bool,
    /// Channels only: can post.
    pub can_post_messages: bool,
    /// Channels only: can edit others' posts and pin.
    pub can_edit_messages: bool,
    /// Groups and supergroups only: can pin messages.
    pub can_pin_messages: bool,
    /// Supergroups only: can manage forum topics.
    pub can_manage_topics: bool,
    /// Channels only: can manage the channel's direct messages.
    pub can_manage_direct_messages: bool,
    /// Groups and supergroups only: can edit members' tags.
    pub can_manage_tags: bool,
}

impl AdminRights {
    /// The rights of [`MemberStatus::Administrator`]: all usual rights
    /// (delete, restrict, change info, invite, pin, video chats; post and
    /// edit in channels) except promoting members, stories, topics, tags
    /// and direct messages; not anonymous, not editable by the bot.
    pub fn usual() -> AdminRights {
        AdminRights {
            can_be_edited: false,
            is_anonymous: false,
            can_manage_chat: true,
            can_delete_messages: true,
            can_manage_video_chats: true,
            can_restrict_members: true,
            can_promote_members: false,
            can_change_info: true,
            can_invite_users: true,
            can_post_stories: false,
            can_edit_stories: false,
            can_delete_stories: false,
            can_post_messages: true,
            can_edit_messages: true,
            can_pin_messages: true,
            can_manage_topics: false,
            can_manage_direct_messages: false,
            can_manage_tags: false,
        }
    }

    /// Every right (not anonymous, not editable by the bot).
    pub fn all() -> AdminRights {
        AdminRights {
            can_be_edited: false,
            is_anonymous: false,
            can_manage_chat: true,
            can_delete_messages: true,
            can_manage_video_chats: true,
            can_restrict_members: true,
            can_promote_members: true,
            can_change_info: true,
            can_invite_users: true,
            can_post_stories: true,
            can_edit_stories: true,
            can_delete_stories: true,
            can_post_messages: true,
            can_edit_messages: true,
            can_pin_messages: true,
            can_manage_topics: true,
            can_manage_direct_messages: true,
            can_manage_tags: true,
        }
    }

    /// An administrator with no right but `can_manage_chat` (which every
    /// administrator has).
    pub fn none() -> AdminRights {
        AdminRights {
            can_be_edited: false,
            is_anonymous: false,
            can_manage_chat: true,
            can_delete_messages: false,
            can_manage_video_chats: false,
            can_restrict_members: false,
            can_promote_members: false,
            can_change_info: false,
            can_invite_users: false,
            can_post_stories: false,
            can_edit_stories: false,
            can_delete_stories: false,
            can_post_messages: false,
            can_edit_messages: false,
            can_pin_messages: false,
            can_manage_topics: false,
            can_manage_direct_messages: false,
            can_manage_tags: false,
        }
    }

    /// Sets `can_restrict_members`.
    pub fn restrict_members(mut self, on: bool) -> AdminRights {
        self.can_restrict_members = on;
        self
    }

    /// Sets `can_delete_messages`.
    pub fn delete_messages(mut self, on: bool) -> AdminRights {
        self.can_delete_messages = on;
        self
    }

    /// Sets `can_pin_messages`.
    pub fn pin_messages(mut self, on: bool) -> AdminRights {
        self.can_pin_messages = on;
        self
    }

    /// Sets `can_promote_members`.
    pub fn promote_members(mut self, on: bool) -> AdminRights {
        self.can_promote_members = on;
        self
    }

    /// Sets `can_change_info`.
    pub fn change_info(mut self, on: bool) -> AdminRights {
        self.can_change_info = on;
        self
    }

    /// Sets `can_invite_users`.
    pub fn invite_users(mut self, on: bool) -> AdminRights {
        self.can_invite_users = on;
        self
    }

    /// Sets `is_anonymous`.
    pub fn anonymous(mut self, on: bool) -> AdminRights {
        self.is_anonymous = on;
        self
    }

    /// Sets `can_be_edited` (the bot promoted this administrator).
    pub fn editable(mut self, on: bool) -> AdminRights {
        self.can_be_edited = on;
        self
    }
}

/// What a member may do (`ChatPermissions`): a chat's default permissions
/// ([`FakeTelegram::set_chat_permissions`], setChatPermissions, getChat's
/// `permissions`) or a restricted member's (restrictChatMember,
/// `ChatMemberRestricted`). The JSON always has all 16 fields, as the Bot
/// API server writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatPermissions {
    /// Text messages, contacts, locations, venues...
    pub can_send_messages: bool,
    /// Audios.
    pub can_send_audios: bool,
    /// Documents.
    pub can_send_documents: bool,
    /// Photos.
    pub can_send_photos: bool,
    /// Videos.
    pub can_send_videos: bool,
    /// Video notes.
    pub can_send_video_notes: bool,
    /// Voice notes.
    pub can_send_voice_notes: bool,
    /// Polls and checklists.
    pub can_send_polls: bool,
    /// Animations, games, stickers, inline bots.
    pub can_send_other_messages: bool,
    /// Link previews.
    pub can_add_web_page_previews: bool,
    /// Reactions.
    pub can_react_to_messages: bool,
    /// Editing one's own tag.
    pub can_edit_tag: bool,
    /// Changing the title, photo and other settings.
    pub can_change_info: bool,
    /// Inviting users.
    pub can_invite_users: bool,
    /// Pinning messages.
    pub can_pin_messages: bool,
    /// Creating forum topics.
    pub can_manage_topics: bool,
}

impl ChatPermissions {
    /// Everything allowed: restricting a member to these makes them a
    /// plain member again.
    pub fn all() -> ChatPermissions {
        ChatPermissions {
            can_send_messages: true,
            can_send_audios: true,
            can_send_documents: true,
            can_send_photos: true,
            can_send_videos: true,
            can_send_video_notes: true,
            can_send_voice_notes: true,
            can_send_polls: true,
            can_send_other_messages: true,
            can_add_web_page_previews: true,
            can_react_to_messages: true,
            can_edit_tag: true,
            can_change_info: true,
            can_invite_users: true,
            can_pin_messages: true,
            can_manage_topics: true,
        }
    }

    /// Nothing allowed (a full mute; what `MemberStatus::Restricted` means).
    pub fn none() -> ChatPermissions {
        ChatPermissions {
            can_send_messages: false,
            can_send_audios: false,
            can_send_documents: false,
            can_send_photos: false,
            can_send_videos: false,
            can_send_video_notes: false,
            can_send_voice_notes: false,
            can_send_polls: false,
            can_send_other_messages: false,
            can_add_web_page_previews: false,
            can_react_to_messages: false,
            can_edit_tag: false,
            can_change_info: false,
            can_invite_users: false,
            can_pin_messages: false,
            can_manage_topics: false,
        }
    }

    /// A new group's defaults, as Telegram creates groups: every kind of
    /// message, reactions and invitations allowed; changing info, pinning,
    /// topics and tags not.
    pub fn group_default() -> ChatPermissions {
        ChatPermissions {
            can_edit_tag: false,
            can_change_info: false,
            can_pin_messages: false,
            can_manage_topics: false,
            ..ChatPermissions::all()
        }
    }

    /// The `ChatPermissions` object, every field present.
    pub fn to_json(&self) -> Value {
        json!({
            "can_send_messages": self.can_send_messages,
            "can_send_audios": self.can_send_audios,
            "can_send_documents": self.can_send_documents,
            "can_send_photos": self.can_send_photos,
            "can_send_videos": self.can_send_videos,
            "can_send_video_notes": self.can_send_video_notes,
            "can_send_voice_notes": self.can_send_voice_notes,
            "can_send_polls": self.can_send_polls,
            "can_send_other_messages": self.can_send_other_messages,
            "can_add_web_page_previews": self.can_add_web_page_previews,
            "can_react_to_messages": self.can_react_to_messages,
            "can_edit_tag": self.can_edit_tag,
            "can_change_info": self.can_change_info,
            "can_invite_users": self.can_invite_users,
            "can_pin_messages": self.can_pin_messages,
            "can_manage_topics": self.can_manage_topics,
        })
    }
}

pub(crate) struct Inner {
    pub(crate) state: Mutex<State>,
    pub(crate) changed: watch::Sender<u64>,
    /// Work that outlives its connection (the processing of a request
    /// after a [`Fault::Stall`]); aborted when the fake is dropped.
    detached: Mutex<JoinSet<()>>,
}

impl Inner {
    pub(crate) fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    /// Records a request; `violation` is a spec violation.
    pub(crate) fn record(&self, r: RecordedRequest, violation: Option<String>) {
        {
            let mut s = self.state.lock();
            if let Some(v) = violation {
                s.violations.push(v);
            }
            s.requests.push(r);
        }
        self.bump();
    }

    /// Runs `work` in a task that goes on when the caller's future is
    /// dropped, until done or until the fake is dropped.
    pub(crate) fn spawn_detached(
        &self,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let mut set = self.detached.lock();
        while set.try_join_next().is_some() {}
        set.spawn(work);
    }

    /// Aborts the work of [`spawn_detached`](Self::spawn_detached).
    pub(crate) fn abort_detached(&self) {
        self.detached.lock().abort_all();
    }

    /// The next injected fault for a call of `method` with parameters `p`:
    /// one queued for the chat its `chat_id` names first, then one for any
    /// chat.
    pub(crate) fn take_fault(&self, method: &str, p: &params::Params) -> Option<Fault> {
        let mut s = self.state.lock();
        if s.faults.is_empty() {
            return None;
        }
        let method = method.to_ascii_lowercase();
        let per_chat = s
            .faults
            .keys()
            .any(|(m, chat)| *m == method && chat.is_some());
        let chat = if per_chat { s.chat_id_param(p) } else { None };
        let keys = chat
            .map(|c| (method.clone(), Some(c)))
            .into_iter()
            .chain([(method.clone(), None)]);
        for key in keys {
            if let Some(q) = s.faults.get_mut(&key) {
                let f = q.pop_front();
                if q.is_empty() {
                    s.faults.remove(&key);
                }
                if f.is_some() {
                    return f;
                }
            }
        }
        None
    }
}

/// The fake Telegram: a Bot API server plus its simulated world. Cheap to
/// clone; the server (and the webhook deliveries) stop when the last clone
/// is dropped.
#[derive(Clone)]
pub struct FakeTelegram {
    inner: Arc<Inner>,
    net: Arc<server::Net>,
    _deliverer: Arc<webhook::Deliverer>,
}

impl std::fmt::Debug for FakeTelegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeTelegram")
            .field("addr", &self.net.addr)
            .finish()
    }
}

const NEXT_MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);

impl FakeTelegram {
    /// Binds 127.0.0.1 on a free port and serves in a tokio task.
    pub async fn start() -> FakeTelegram {
        let (changed, _) = watch::channel(0u64);
        let inner = Arc::new(Inner {
            state: Mutex::new(State::new()),
            changed,
            detached: Mutex::new(JoinSet::new()),
        });
        let net = server::Net::start(inner.clone()).await;
        let deliverer = webhook::Deliverer::start(inner.clone());
        FakeTelegram {
            inner,
            net: Arc::new(net),
            _deliverer: Arc::new(deliverer),
        }
    }

    /// "http://127.0.0.1:PORT/"; teloxide appends "bot<token>/<Method>".
    /// The same for the fake's whole life (also across
    /// [`go_offline`](Self::go_offline)).
    pub fn api_url(&self) -> String {
        format!("http://{}/", self.net.addr)
    }

    // ----------------------------------------------------------- network

    /// Telegram becomes unreachable: the fake stops listening, so new
    /// connections to its port are refused (ECONNREFUSED: a connect error,
    /// reqwest's `is_connect()`), and every open connection is closed
    /// (idle keep-alive ones and those of requests in flight, e.g. a long
    /// poll, which get no response). Nothing reaches the fake until
    /// [`go_online`](Self::go_online). Returns once all that is done; a
    /// no-op when already offline.
    ///
    /// A client may still notice the closed keep-alive connection only when
    /// it reuses it: its next request can then fail with a "connection
    /// closed" error instead of a connect error, as on a real network.
    /// The port stays reserved by the fake meanwhile.
    pub async fn go_offline(&self) {
        self.net.go_offline().await;
    }

    /// Telegram is reachable again, on the same port. Returns once the fake
    /// listens; a no-op when already online.
    pub async fn go_online(&self) {
        self.net.go_online().await;
    }

    /// False between [`go_offline`](Self::go_offline) and
    /// [`go_online`](Self::go_online).
    pub fn is_online(&self) -> bool {
        self.net.is_online()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let out = f(&mut self.inner.state.lock());
        self.inner.bump();
        out
    }

    fn read<T>(&self, f: impl FnOnce(&State) -> T) -> T {
        f(&self.inner.state.lock())
    }

    // ------------------------------------------------------------- world

    /// A new user (positive unique id), no last name/username/language.
    pub fn add_user(&self, first_name: &str) -> i64 {
        self.with(|s| s.add_user(first_name, None, None, None, false))
    }

    /// A new user with all details.
    pub fn add_user_with(
        &self,
        first_name: &str,
        last_name: Option<&str>,
        username: Option<&str>,
        language_code: Option<&str>,
    ) -> i64 {
        self.with(|s| s.add_user(first_name, last_name, username, language_code, false))
    }

    /// Another bot (is_bot = true). Its messages (e.g. with
    /// [`send_text`](Self::send_text)) are never delivered to this bot,
    /// but in privacy mode one makes it the group's last bot to speak, to
    /// which general commands go.
    pub fn add_bot_user(&self, first_name: &str, username: &str) -> i64 {
        self.with(|s| s.add_user(first_name, None, Some(username), None, true))
    }

    /// A basic group (id -4000000001, -4000000002, ...); the bot is a Member.
    pub fn add_group(&self, title: &str) -> i64 {
        self.with(|s| s.add_chat(ChatKind::Group, title, None))
    }

    /// A supergroup (id -1001000000001, ...); the bot is a Member.
    pub fn add_supergroup(&self, title: &str, username: Option<&str>) -> i64 {
        self.with(|s| s.add_chat(ChatKind::Supergroup, title, username))
    }

    /// A channel; the bot is an Administrator.
    pub fn add_channel(&self, title: &str, username: Option<&str>) -> i64 {
        self.with(|s| s.add_chat(ChatKind::Channel, title, username))
    }

    /// Sets a membership silently (no update).
    pub fn set_member(&self, chat_id: i64, user_id: i64, status: MemberStatus) {
        self.with(|s| s.change_member(chat_id, user_id, status, None, false));
    }

    /// Sets a membership and queues the `chat_member` update Telegram sends
    /// (only when the bot is an administrator of the chat). The actor
    /// (`from`) is the user for joins/leaves, otherwise the owner or an
    /// administrator.
    pub fn change_member(&self, chat_id: i64, user_id: i64, status: MemberStatus) {
        self.with(|s| s.change_member(chat_id, user_id, status, None, true));
    }

    /// Like [`change_member`](Self::change_member) with an explicit actor.
    pub fn change_member_by(&self, chat_id: i64, user_id: i64, status: MemberStatus, by: i64) {
        self.with(|s| s.change_member(chat_id, user_id, status, Some(by), true));
    }

    /// A user joins a group: status Member, the `new_chat_members` service
    /// message and (if the bot is admin) the `chat_member` update.
    pub fn join_chat(&self, user_id: i64, chat_id: i64) -> i32 {
        self.with(|s| {
            s.change_member(chat_id, user_id, MemberStatus::Member, Some(user_id), true);
            let msg = s.service_message(
                chat_id,
                user_id,
                "new_chat_members",
                json!([s.user_json(user_id, false)]),
            );
            let id = msg["message_id"].as_i64().unwrap_or(0) as i32;
            if s.status(chat_id, BOT_ID).is_present() {
                s.push_update("message", msg);
            }
            id
        })
    }

    /// A user leaves a group: status Left, the `left_chat_member` service
    /// message and (if the bot is admin) the `chat_member` update.
    pub fn leave_chat(&self, user_id: i64, chat_id: i64) -> i32 {
        self.with(|s| {
            s.change_member(chat_id, user_id, MemberStatus::Left, Some(user_id), true);
            let msg = s.service_message(
                chat_id,
                user_id,
                "left_chat_member",
                s.user_json(user_id, false),
            );
            let id = msg["message_id"].as_i64().unwrap_or(0) as i32;
            if s.status(chat_id, BOT_ID).is_present() {
                s.push_update("message", msg);
            }
            id
        })
    }

    /// The user `by` adds a new bot (is_bot true, first name `bot_name`,
    /// username made of it, ending in "bot") to a group or supergroup, as
    /// Telegram shows it: the bot becomes a Member, a `chat_member` update
    /// is queued (from `by`, only when this bot is an administrator) and
    /// the `new_chat_members` service message from `by` with the new bot's
    /// User is stored and delivered (privacy mode does not hide it).
    /// Returns the new bot's user id: whether this bot then removed it
    /// (banChatMember: Kicked in a supergroup, Left in a basic group) is
    /// [`member_status`](Self::member_status); the service message is the
    /// chat's latest ([`last_message_id`](Self::last_message_id)). Panics
    /// when `by` is not in the chat or may not invite users (an
    /// administrator without `can_invite_users`, or a member the chat's
    /// permissions or their restriction forbid it).
    pub fn add_bot_to_group(&self, by: i64, chat_id: i64, bot_name: &str) -> i64 {
        self.with(|s| s.add_bot_to_group(by, chat_id, bot_name))
    }

    /// The bot's own membership; queues `my_chat_member` when it changes
    /// (plus a `new_chat_members` service message when the bot is added to
    /// a group). The actor is the chat owner or an admin.
    pub fn set_bot_status(&self, chat_id: i64, status: MemberStatus) {
        self.with(|s| s.change_member(chat_id, BOT_ID, status, None, true));
    }

    /// Like [`set_bot_status`](Self::set_bot_status) with an explicit actor.
    pub fn set_bot_status_by(&self, chat_id: i64, status: MemberStatus, by: i64) {
        self.with(|s| s.change_member(chat_id, BOT_ID, status, Some(by), true));
    }

    /// Makes `user_id` an administrator of the chat with `rights`, silently
    /// (no update, like [`set_member`](Self::set_member)).
    /// `can_manage_chat` is always on (Telegram implies it). Rights equal to
    /// [`AdminRights::usual`] are what [`MemberStatus::Administrator`]
    /// means.
    pub fn set_admin(&self, chat_id: i64, user_id: i64, rights: AdminRights) {
        self.with(|s| {
            s.change_membership(
                chat_id,
                user_id,
                MemberStatus::Administrator,
                world::Terms::Admin(rights),
                None,
                false,
            )
        });
    }

    /// Like [`set_admin`](Self::set_admin), queuing the `chat_member`
    /// update as [`change_member`](Self::change_member) does (only when the
    /// bot is an administrator; also when only the rights change).
    pub fn change_admin(&self, chat_id: i64, user_id: i64, rights: AdminRights) {
        self.with(|s| {
            s.change_membership(
                chat_id,
                user_id,
                MemberStatus::Administrator,
                world::Terms::Admin(rights),
                None,
                true,
            )
        });
    }

    /// Makes the bot an administrator with `rights`, queuing
    /// `my_chat_member` as [`set_bot_status`](Self::set_bot_status) does
    /// (also when only its rights change, as on Telegram). Its rights
    /// decide what it may do: see [`AdminRights`].
    pub fn set_bot_admin(&self, chat_id: i64, rights: AdminRights) {
        self.with(|s| {
            s.change_membership(
                chat_id,
                BOT_ID,
                MemberStatus::Administrator,
                world::Terms::Admin(rights),
                None,
                true,
            )
        });
    }

    /// The rights of an administrator (all of them for the creator); None
    /// for anyone else.
    pub fn admin_rights(&self, chat_id: i64, user_id: i64) -> Option<AdminRights> {
        self.read(|s| s.rights(chat_id, user_id))
    }

    /// Sets a group's or supergroup's default permissions silently, as an
    /// administrator would in the app (getChat's `permissions`; a member
    /// may then send only what they allow). New groups have
    /// [`ChatPermissions::group_default`].
    pub fn set_chat_permissions(&self, chat_id: i64, permissions: ChatPermissions) {
        self.with(|s| match s.chats.get_mut(&chat_id) {
            Some(c) if matches!(c.kind, ChatKind::Group | ChatKind::Supergroup) => {
                c.permissions = permissions;
            }
            Some(_) => panic!("fake-bot-api: chat {chat_id} is not a group or supergroup"),
            None => panic!("fake-bot-api: unknown chat {chat_id}"),
        });
    }

    /// A group's or supergroup's default permissions.
    pub fn chat_permissions(&self, chat_id: i64) -> ChatPermissions {
        self.read(|s| match s.chats.get(&chat_id) {
            Some(c) => c.permissions,
            None => panic!("fake-bot-api: unknown chat {chat_id}"),
        })
    }

    /// A restricted member's permissions and `until_date` (0: forever);
    /// None when the user is not restricted. [`MemberStatus::Restricted`]
    /// set by a test is `(ChatPermissions::none(), 0)`.
    pub fn restriction(&self, chat_id: i64, user_id: i64) -> Option<(ChatPermissions, i64)> {
        self.read(|s| match s.status(chat_id, user_id) {
            MemberStatus::Restricted { .. } => {
                let t = s.terms(chat_id, user_id);
                Some((t.permissions(), t.until()))
            }
            _ => None,
        })
    }

    /// A banned user's `until_date` (0: forever); None when not banned.
    pub fn ban_until(&self, chat_id: i64, user_id: i64) -> Option<i64> {
        self.read(|s| {
            (s.status(chat_id, user_id) == MemberStatus::Kicked)
                .then(|| s.terms(chat_id, user_id).until())
        })
    }

    /// Renames a chat silently (no service message, no update).
    pub fn set_chat_title(&self, chat_id: i64, title: &str) {
        self.with(|s| {
            if let Some(c) = s.chats.get_mut(&chat_id) {
                c.title = title.to_owned();
            }
        });
    }

    /// `by_user` renames a group, supergroup or channel: the title changes
    /// and the `new_chat_title` service message is stored and queued as
    /// Telegram delivers it (privacy mode does not hide service messages):
    /// a `message` update in a group or supergroup the bot is in, a
    /// `channel_post` (no `from`, `sender_chat` = the channel) in a channel
    /// where the bot is an administrator. `by_user` must be in the chat (an
    /// administrator of a channel), or be [`ANONYMOUS_ADMIN_ID`] for an
    /// anonymous administrator. Returns the service message's id.
    pub fn rename_chat(&self, chat_id: i64, title: &str, by_user: i64) -> i32 {
        self.with(|s| s.rename_chat(chat_id, title, by_user))
    }

    /// Current membership; Left when unknown.
    pub fn member_status(&self, chat_id: i64, user_id: i64) -> MemberStatus {
        self.read(|s| s.status(chat_id, user_id))
    }

    /// The user blocks the bot (queues `my_chat_member` kicked in the
    /// private chat; sendMessage then fails with "bot was blocked by the
    /// user").
    pub fn block_bot(&self, user_id: i64) {
        self.with(|s| {
            if let Some(u) = s.users.get_mut(&user_id) {
                u.blocked = true;
            }
            s.ensure_private_chat(user_id);
            s.change_member(user_id, BOT_ID, MemberStatus::Kicked, Some(user_id), true);
        });
    }

    /// Privacy mode (default on: see the crate docs for what the bot then
    /// receives in groups). Off = the bot sees every group message (but
    /// other bots' messages) and getMe says can_read_all_group_messages:
    /// true.
    pub fn set_privacy_mode(&self, enabled: bool) {
        self.with(|s| s.privacy_mode = enabled);
    }

    // ------------------------------------------------------ user actions

    /// A user's text message (private chat: chat_id == user id). Entities
    /// are detected like Telegram (bot_command, hashtag, mention, url...).
    /// A user not in a group becomes a Member. Returns the message id.
    pub fn send_text(&self, from: i64, chat_id: i64, text: &str) -> i32 {
        self.send_message(IncomingMessage::new(from, chat_id, text))
    }

    /// A user's message with all options. Returns the message id.
    pub fn send_message(&self, msg: IncomingMessage) -> i32 {
        self.with(|s| s.user_message(&msg))
    }

    /// The user edits their message `message_id`: queues `edited_message`
    /// (`edited_channel_post` in channels) with the full updated message.
    pub fn edit_text(&self, from: i64, chat_id: i64, message_id: i32, new_text: &str) {
        self.with(|s| s.user_edit(from, chat_id, message_id, new_text));
    }

    /// A press on an inline button of `message_id` (any data, even not in
    /// the keyboard). Returns the callback query id.
    pub fn press_button(&self, from: i64, chat_id: i64, message_id: i32, data: &str) -> String {
        self.with(|s| s.press_button(from, chat_id, message_id, data))
    }

    /// Upgrades a basic group to a supergroup; returns the new id. Same as
    /// [`migrate_group_with`](Self::migrate_group_with)`(group_id,
    /// MigrationDelivery::Both)`.
    pub fn migrate_group(&self, group_id: i64) -> i64 {
        self.migrate_group_with(group_id, MigrationDelivery::Both)
    }

    /// Upgrades a basic group to a supergroup with the same title, members
    /// and statuses; returns the new id. The `migrate_to_chat_id` service
    /// message (in the old group, from its owner or an admin) and the
    /// `migrate_from_chat_id` one (in the supergroup, from
    /// GroupAnonymousBot with `sender_chat` = the supergroup) are queued as
    /// `message` updates in the order and number `delivery` says (each only
    /// when the bot is in the chat).
    ///
    /// Afterwards, as with the Bot API server, methods that write to the old
    /// group (sendMessage & co, sendChatAction, deleteMessage(s),
    /// pin/unpin, ban/unban/restrict) or read its members (getChatMember of
    /// another user, getChatAdministrators, getChatMemberCount, a command
    /// scope naming it) fail with 400 "Bad Request: group chat was upgraded
    /// to a supergroup chat" and `parameters.migrate_to_chat_id` = the new
    /// id; so do edits of its messages (the fake's choice: Telegram's
    /// answer there is undocumented). getChat, getChatMember of the bot
    /// itself and leaveChat only need read access, which the server still
    /// grants: they answer about the old group.
    pub fn migrate_group_with(&self, group_id: i64, delivery: MigrationDelivery) -> i64 {
        self.with(|s| s.migrate_group(group_id, delivery))
    }

    // ------------------------------------------------------------ business

    /// The user `owner` connects the bot to their business account: a new
    /// unique connection id (returned), enabled, dated now, and a
    /// `business_connection` update. `rights: None` = no `rights` field (no
    /// rights). An account has at most one connected bot: an earlier
    /// connection of `owner` is replaced and its id becomes invalid.
    pub fn connect_business(&self, owner: i64, rights: Option<BusinessRights>) -> String {
        self.with(|s| s.connect_business(owner, rights, true))
    }

    /// Like [`connect_business`](Self::connect_business) but without the
    /// update (connected while the bot was offline: it learns of the
    /// connection only through getBusinessConnection).
    pub fn connect_business_silently(&self, owner: i64, rights: Option<BusinessRights>) -> String {
        self.with(|s| s.connect_business(owner, rights, false))
    }

    /// The owner changes the bot's rights (same id); queues
    /// `business_connection`.
    pub fn set_business_rights(&self, connection_id: &str, rights: Option<BusinessRights>) {
        self.with(|s| s.update_business(connection_id, |c| c.rights = rights));
    }

    /// The owner disables the connection (`is_enabled: false`, id kept);
    /// queues `business_connection`. Nothing more is delivered from the
    /// account and sends through it fail with BUSINESS_CONNECTION_NOT_ALLOWED.
    pub fn disable_business(&self, connection_id: &str) {
        self.with(|s| s.update_business(connection_id, |c| c.enabled = false));
    }

    /// The owner enables the connection again; queues `business_connection`.
    pub fn enable_business(&self, connection_id: &str) {
        self.with(|s| s.update_business(connection_id, |c| c.enabled = true));
    }

    /// The owner edits the settings and Telegram issues a new id for the
    /// same account (same rights, enabled, dated now): queues
    /// `business_connection` with the new id, which is returned; the old id
    /// becomes invalid for requests, though tests may still deliver user
    /// actions on it (updates Telegram sent just before the change).
    pub fn change_business_connection_id(&self, connection_id: &str) -> String {
        self.with(|s| s.change_business_connection_id(connection_id))
    }

    /// The user `customer` writes `text` to the business account in their
    /// private chat with its owner: a `business_message` update (only while
    /// the connection is enabled) with entities detected like Telegram.
    /// Returns the message id (ids count per business chat).
    pub fn business_message(&self, connection_id: &str, customer: i64, text: &str) -> i32 {
        self.with(|s| s.business_incoming(connection_id, customer, false, text))
    }

    /// The owner writes `text` in their chat with `customer` (from = owner);
    /// a `business_message` update while enabled. Returns the message id.
    pub fn business_message_from_owner(
        &self,
        connection_id: &str,
        customer: i64,
        text: &str,
    ) -> i32 {
        self.with(|s| s.business_incoming(connection_id, customer, true, text))
    }

    /// The customer or the owner edits their message `message_id` of the
    /// business chat: an `edited_business_message` update while enabled.
    pub fn edit_business_message(
        &self,
        connection_id: &str,
        customer: i64,
        message_id: i32,
        new_text: &str,
    ) {
        self.with(|s| s.business_edit(connection_id, customer, message_id, new_text));
    }

    /// Messages of the business chat with `customer` are deleted: a
    /// `deleted_business_messages` update (integer `message_ids`) while
    /// enabled. The ids need not be known to the fake (messages older than
    /// the connection).
    pub fn delete_business_messages(
        &self,
        connection_id: &str,
        customer: i64,
        message_ids: &[i32],
    ) {
        self.with(|s| s.business_delete(connection_id, customer, message_ids));
    }

    /// The customer presses an inline button of `message_id`, a message the
    /// bot sent through the connection: a `callback_query` update whose
    /// message carries `business_connection_id` (while enabled). Returns the
    /// callback query id (answerCallbackQuery works as usual).
    pub fn press_business_button(
        &self,
        connection_id: &str,
        customer: i64,
        message_id: i32,
        data: &str,
    ) -> String {
        self.with(|s| s.business_press(connection_id, customer, message_id, data))
    }

    // -------------------------------------------------------- observation

    /// Every request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.read(|s| s.requests.clone())
    }

    /// The requests of one method (case-insensitive).
    pub fn requests_for(&self, method: &str) -> Vec<RecordedRequest> {
        self.read(|s| {
            s.requests
                .iter()
                .filter(|r| r.method.eq_ignore_ascii_case(method))
                .cloned()
                .collect()
        })
    }

    /// Number of requests so far (cheap, for loops and benchmarks).
    pub fn request_count(&self) -> usize {
        self.read(|s| s.requests.len())
    }

    /// The requests from index `start` on (see [`request_count`](Self::request_count)).
    pub fn requests_since(&self, start: usize) -> Vec<RecordedRequest> {
        self.read(|s| {
            s.requests
                .get(start..)
                .map(<[_]>::to_vec)
                .unwrap_or_default()
        })
    }

    /// Forgets the recorded requests (and resets the count) and webhook
    /// deliveries, e.g. between benchmark rounds. Spec violations and flood
    /// violations are kept.
    pub fn clear_requests(&self) {
        self.with(|s| {
            s.requests.clear();
            s.webhook.deliveries.clear();
        });
    }

    /// The first request (past or future) of `method` matching `pred`.
    /// `pred` runs without the fake's lock: it may call the fake.
    pub async fn wait_for_request(
        &self,
        method: &str,
        pred: impl Fn(&RecordedRequest) -> bool,
        timeout: Duration,
    ) -> Option<RecordedRequest> {
        let mut seen = 0usize;
        self.wait_for_fresh(
            timeout,
            |s| {
                if seen > s.requests.len() {
                    seen = 0; // cleared meanwhile
                }
                let fresh = s.requests[seen..]
                    .iter()
                    .filter(|r| r.method.eq_ignore_ascii_case(method))
                    .cloned()
                    .collect();
                seen = s.requests.len();
                fresh
            },
            pred,
        )
        .await
    }

    /// The first item matching `pred` among those `fresh` returns (each
    /// call, under the lock: the items new since the previous call), now or
    /// within `timeout`. `pred` runs without the lock.
    async fn wait_for_fresh<T>(
        &self,
        timeout: Duration,
        mut fresh: impl FnMut(&State) -> Vec<T>,
        pred: impl Fn(&T) -> bool,
    ) -> Option<T> {
        let mut rx = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let batch = fresh(&self.inner.state.lock());
            if let Some(found) = batch.into_iter().find(|item| pred(item)) {
                return Some(found);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                let batch = fresh(&self.inner.state.lock());
                return batch.into_iter().find(|item| pred(item));
            }
        }
    }

    async fn wait_until<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&mut State) -> Option<T>,
    ) -> Option<T> {
        let mut rx = self.inner.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(v) = f(&mut self.inner.state.lock()) {
                return Some(v);
            }
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return f(&mut self.inner.state.lock());
            }
        }
    }

    fn recent_requests(&self) -> String {
        self.read(|s| {
            let start = s.requests.len().saturating_sub(15);
            let mut out = String::new();
            for r in &s.requests[start..] {
                let mut resp = r.response.to_string();
                if resp.len() > 300 {
                    let mut cut = 300;
                    while !resp.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    resp.truncate(cut);
                    resp.push('…');
                }
                out.push_str(&format!("  {} {} -> {}\n", r.method, r.params, resp));
            }
            out
        })
    }

    /// Takes the next message the bot sent or edited in the chat (FIFO).
    /// Panics after 10 s with the recent requests.
    pub async fn next_message(&self, chat_id: i64) -> SentMessage {
        let got = self
            .wait_until(NEXT_MESSAGE_TIMEOUT, |s| {
                s.outbox.get_mut(&chat_id).and_then(|q| q.pop_front())
            })
            .await;
        match got {
            Some(m) => m,
            None => panic!(
                "fake-bot-api: no message from the bot in chat {chat_id} within {:?}; recent requests:\n{}",
                NEXT_MESSAGE_TIMEOUT,
                self.recent_requests()
            ),
        }
    }

    /// Like [`next_message`](Self::next_message) with a custom timeout,
    /// returning None instead of panicking.
    pub async fn try_next_message(&self, chat_id: i64, timeout: Duration) -> Option<SentMessage> {
        self.wait_until(timeout, |s| {
            s.outbox.get_mut(&chat_id).and_then(|q| q.pop_front())
        })
        .await
    }

    /// The parameters of the answerCallbackQuery for `callback_id`. Panics
    /// after 10 s.
    pub async fn next_callback_answer(&self, callback_id: &str) -> Value {
        let got = self
            .wait_until(NEXT_MESSAGE_TIMEOUT, |s| {
                s.callback_answers.get(callback_id).cloned()
            })
            .await;
        match got {
            Some(v) => v,
            None => panic!(
                "fake-bot-api: callback query {callback_id} not answered within {:?}; recent requests:\n{}",
                NEXT_MESSAGE_TIMEOUT,
                self.recent_requests()
            ),
        }
    }

    /// Panics if an untaken message of the bot is (or becomes) pending in
    /// the chat within `wait`.
    pub async fn assert_no_message(&self, chat_id: i64, wait: Duration) {
        let got = self
            .wait_until(wait, |s| {
                s.outbox.get(&chat_id).and_then(|q| q.front().cloned())
            })
            .await;
        if let Some(m) = got {
            panic!(
                "fake-bot-api: expected no message in chat {chat_id}, but the bot sent {:?} (message {}, edited: {})",
                m.text, m.message_id, m.edited
            );
        }
    }

    /// Ends a check that the bot stays quiet in a chat with a positive
    /// exchange, so that a late stray message fails instead of going
    /// unnoticed: panics if an untaken message of the bot is pending in the
    /// chat, then `from` sends `text` there and the bot's very next message
    /// in the chat (within 10 s) must satisfy `is_answer(message, id of the
    /// message sent)` (a stray message sent before the answer comes first,
    /// and fails the check). Returns the answer. Sound for a bot that
    /// handles a chat's updates in order and sends a chat's messages in
    /// order.
    pub async fn assert_next_is_answer_to(
        &self,
        from: i64,
        chat_id: i64,
        text: &str,
        is_answer: impl Fn(&SentMessage, i32) -> bool,
    ) -> SentMessage {
        self.assert_no_message(chat_id, Duration::ZERO).await;
        let asked = self.send_text(from, chat_id, text);
        let next = self.next_message(chat_id).await;
        assert!(
            is_answer(&next, asked),
            "fake-bot-api: the bot's next message in chat {chat_id} is not its answer to {text:?}: {:?} (message {}, edited: {})",
            next.text,
            next.message_id,
            next.edited
        );
        next
    }

    /// [`assert_next_is_answer_to`](Self::assert_next_is_answer_to) in a
    /// business chat: `customer` writes `text` to the account of the
    /// connection's owner, and the bot's very next message through a
    /// business connection in that chat must satisfy `is_answer(message,
    /// id of the message sent)`.
    pub async fn assert_next_business_is_answer_to(
        &self,
        connection_id: &str,
        customer: i64,
        text: &str,
        is_answer: impl Fn(&SentMessage, i32) -> bool,
    ) -> SentMessage {
        let owner = self.read(|s| s.business_owner_of(connection_id));
        let Some(owner) = owner else {
            panic!("fake-bot-api: unknown business connection {connection_id}");
        };
        self.assert_no_business_message(owner, customer, Duration::ZERO)
            .await;
        let asked = self.business_message(connection_id, customer, text);
        let next = self.next_business_message(owner, customer).await;
        assert!(
            is_answer(&next, asked),
            "fake-bot-api: the bot's next business message in the chat of {owner} with {customer} is not its answer to {text:?}: {:?} (message {}, edited: {})",
            next.text,
            next.message_id,
            next.edited
        );
        next
    }

    /// Takes the next message the bot sent or edited through a business
    /// connection in the chat of `owner`'s account with `customer` (FIFO;
    /// not the bot's private chat with `customer`). Panics after 10 s.
    pub async fn next_business_message(&self, owner: i64, customer: i64) -> SentMessage {
        match self
            .try_next_business_message(owner, customer, NEXT_MESSAGE_TIMEOUT)
            .await
        {
            Some(m) => m,
            None => panic!(
                "fake-bot-api: no business message from the bot in the chat of {owner} with {customer} within {:?}; recent requests:\n{}",
                NEXT_MESSAGE_TIMEOUT,
                self.recent_requests()
            ),
        }
    }

    /// Like [`next_business_message`](Self::next_business_message) with a
    /// custom timeout, returning None instead of panicking.
    pub async fn try_next_business_message(
        &self,
        owner: i64,
        customer: i64,
        timeout: Duration,
    ) -> Option<SentMessage> {
        self.wait_until(timeout, |s| {
            s.business_outbox
                .get_mut(&(owner, customer))
                .and_then(|q| q.pop_front())
        })
        .await
    }

    /// Panics if an untaken business message of the bot is (or becomes)
    /// pending in the chat of `owner`'s account with `customer` within
    /// `wait`.
    pub async fn assert_no_business_message(&self, owner: i64, customer: i64, wait: Duration) {
        let got = self
            .wait_until(wait, |s| {
                s.business_outbox
                    .get(&(owner, customer))
                    .and_then(|q| q.front().cloned())
            })
            .await;
        if let Some(m) = got {
            panic!(
                "fake-bot-api: expected no business message in the chat of {owner} with {customer}, but the bot sent {:?} (message {}, edited: {})",
                m.text, m.message_id, m.edited
            );
        }
    }

    /// The full stored Message JSON of a business chat (any sender), None
    /// if absent/deleted.
    pub fn business_message_json(
        &self,
        owner: i64,
        customer: i64,
        message_id: i32,
    ) -> Option<Value> {
        self.read(|s| {
            s.business_chats
                .get(&(owner, customer))
                .and_then(|c| c.messages.get(&message_id))
                .map(|m| m.json.clone())
        })
    }

    /// The getBusinessConnection requests so far.
    pub fn business_connection_requests(&self) -> Vec<RecordedRequest> {
        self.requests_for("getBusinessConnection")
    }

    /// All the bot's messages in the chat (current state, not deleted),
    /// by message id.
    pub fn messages(&self, chat_id: i64) -> Vec<SentMessage> {
        self.read(|s| {
            s.chats
                .get(&chat_id)
                .map(|c| c.messages.values().filter_map(|m| m.sent.clone()).collect())
                .unwrap_or_default()
        })
    }

    /// The full stored Message JSON (any sender), None if absent/deleted.
    pub fn message_json(&self, chat_id: i64, message_id: i32) -> Option<Value> {
        self.read(|s| {
            s.chats
                .get(&chat_id)
                .and_then(|c| c.messages.get(&message_id))
                .map(|m| m.json.clone())
        })
    }

    /// Ids of messages deleted by the bot in the chat, in order.
    pub fn deleted_messages(&self, chat_id: i64) -> Vec<i32> {
        self.read(|s| {
            s.chats
                .get(&chat_id)
                .map(|c| c.deleted.clone())
                .unwrap_or_default()
        })
    }

    /// Whether the bot deleted message `message_id` of the chat
    /// (deleteMessage or deleteMessages); false for a message still there,
    /// unknown, or in an unknown chat. [`message_json`](Self::message_json)
    /// is None for a deleted message.
    pub fn is_deleted(&self, chat_id: i64, message_id: i32) -> bool {
        self.read(|s| {
            s.chats
                .get(&chat_id)
                .is_some_and(|c| c.deleted.contains(&message_id))
        })
    }

    /// The id of the chat's latest message (any sender, service messages
    /// included, deleted or not); None before the first one.
    pub fn last_message_id(&self, chat_id: i64) -> Option<i32> {
        self.read(|s| {
            s.chats
                .get(&chat_id)
                .map(|c| c.next_message_id - 1)
                .filter(|id| *id > 0)
        })
    }

    /// What setMyCommands stored for scope `{"type": scope_type}` and the
    /// language (None = no language_code).
    pub fn my_commands(
        &self,
        scope_type: &str,
        language_code: Option<&str>,
    ) -> Vec<(String, String)> {
        self.my_commands_for_scope(&json!({"type": scope_type}), language_code)
    }

    /// What setMyCommands stored for an arbitrary scope object (e.g.
    /// `{"type": "chat", "chat_id": -100...}`).
    pub fn my_commands_for_scope(
        &self,
        scope: &Value,
        language_code: Option<&str>,
    ) -> Vec<(String, String)> {
        let key = (
            world::scope_key(scope),
            language_code.unwrap_or_default().to_owned(),
        );
        self.read(|s| s.commands.get(&key).cloned().unwrap_or_default())
    }

    /// The next `times` calls of `method` (case-insensitive) fail with
    /// `fault`.
    pub fn fail_next(&self, method: &str, fault: Fault, times: usize) {
        self.with(|s| {
            let q = s
                .faults
                .entry((method.to_ascii_lowercase(), None))
                .or_default();
            q.extend(std::iter::repeat_n(fault, times));
        });
    }

    /// Like [`fail_next`](Self::fail_next), but only for calls whose
    /// `chat_id` parameter is `chat_id` (an `@username` counts as the chat
    /// it names): the next `times` such calls fail while other chats work.
    /// Faults queued for the chat come before those of
    /// [`fail_next`](Self::fail_next).
    pub fn fail_next_in_chat(&self, method: &str, chat_id: i64, fault: Fault, times: usize) {
        self.with(|s| {
            let q = s
                .faults
                .entry((method.to_ascii_lowercase(), Some(chat_id)))
                .or_default();
            q.extend(std::iter::repeat_n(fault, times));
        });
    }

    /// The requests whose connection was closed without a response
    /// ([`Fault::DropConnection`], [`Fault::DropAfterProcessing`]).
    pub fn dropped_requests(&self) -> Vec<RecordedRequest> {
        self.read(|s| s.requests.iter().filter(|r| r.dropped()).cloned().collect())
    }

    /// Opt-in (off by default): refuse message sends and edits that exceed
    /// Telegram's per-chat and per-group limits with 429 "Too Many
    /// Requests: retry after N" and `parameters.retry_after` = N, the whole
    /// seconds until the request would be allowed (at least 1); a refused
    /// request is not processed and is listed by
    /// [`flood_violations`](Self::flood_violations).
    ///
    /// Sends are the methods that post a message: sendMessage, send*
    /// (sendPhoto, sendPoll, sendMediaGroup...; not sendChatAction,
    /// sendGift, sendChatJoinRequestWebApp nor the *Draft methods),
    /// forwardMessage(s) and copyMessage(s), also through a business
    /// connection. Edits are editMessageText, editMessageCaption,
    /// editMessageMedia and editMessageReplyMarkup of a chat's message
    /// (`chat_id` + `message_id`; not the `inline_message_id` form): they
    /// share the per-chat limits with sends, as Telegram's Bot API
    /// maintainer says. A send or edit counts when it succeeds. The limits,
    /// from Telegram's bot FAQ:
    /// * one chat (a business chat counts apart from the bot's private chat
    ///   with the same user): one message per second sustained, with a
    ///   burst of up to 3 tolerated (a token bucket of 3 refilled at one per
    ///   second: 3 at once, then one per second);
    /// * one group or supergroup: at most 20 messages in any 60 seconds.
    ///
    /// There is no fixed limit for all chats together (the FAQ's "30
    /// messages per second" is advice for bulk notifications): see
    /// [`enforce_overall_limit`](Self::enforce_overall_limit), which works
    /// independently of this.
    ///
    /// Time is tokio's clock (`tokio::time::Instant`), so a test with
    /// paused time sees the limits follow it. Turning the limits off
    /// forgets the sends and edits counted so far.
    pub fn enforce_flood_limits(&self, on: bool) {
        self.with(|s| s.set_flood_limits(on));
    }

    /// The sends and edits refused by
    /// [`enforce_flood_limits`](Self::enforce_flood_limits) so far (the
    /// per-chat and per-group limits, which a well-behaved bot never
    /// exceeds), oldest first (kept by
    /// [`clear_requests`](Self::clear_requests)). Refusals by
    /// [`enforce_overall_limit`](Self::enforce_overall_limit) are not
    /// listed here (see [`overall_limit_refusals`](Self::overall_limit_refusals)).
    pub fn flood_violations(&self) -> Vec<RecordedRequest> {
        self.read(|s| s.flood_violations.clone())
    }

    /// Opt-in (off by default; `None` turns it off): with `Some(n)`, a
    /// message send (as in [`enforce_flood_limits`](Self::enforce_flood_limits);
    /// edits do not count) beyond `n` in any one-second window, all chats
    /// together, is refused with 429 "Too Many Requests: retry after N",
    /// `parameters.retry_after` = N the whole seconds until it would be
    /// allowed (at least 1, so 1), is not processed and is listed by
    /// [`overall_limit_refusals`](Self::overall_limit_refusals), not by
    /// [`flood_violations`](Self::flood_violations). Telegram has no such
    /// fixed limit, but may slow down a bot sending too much overall: this
    /// lets a test see how the bot copes. `Some(0)` refuses every send.
    ///
    /// Independent of [`enforce_flood_limits`](Self::enforce_flood_limits):
    /// either, both or none may be on. A send over the per-chat or
    /// per-group limits counts as a flood violation even when the overall
    /// limit would refuse it too. A send counts when it succeeds; time is
    /// tokio's clock. Setting the limit (again) forgets the sends counted
    /// so far.
    pub fn enforce_overall_limit(&self, per_second: Option<u32>) {
        self.with(|s| s.set_overall_limit(per_second));
    }

    /// The sends refused by
    /// [`enforce_overall_limit`](Self::enforce_overall_limit) so far,
    /// oldest first (kept by [`clear_requests`](Self::clear_requests)).
    pub fn overall_limit_refusals(&self) -> Vec<RecordedRequest> {
        self.read(|s| s.overall_refusals.clone())
    }

    /// Every spec violation so far (unknown method, missing required or
    /// unknown parameter).
    pub fn spec_violations(&self) -> Vec<String> {
        self.read(|s| s.violations.clone())
    }

    /// Updates queued and not yet confirmed by a getUpdates offset or, in
    /// webhook mode, delivered with a 2xx answer.
    pub fn pending_updates(&self) -> usize {
        self.read(|s| s.updates.len())
    }

    /// Waits until every queued update is confirmed by a getUpdates offset
    /// or delivered to the webhook with a 2xx answer; false on timeout.
    pub async fn wait_updates_confirmed(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, |s| s.updates.is_empty().then_some(()))
            .await
            .is_some()
    }

    /// The current `allowed_updates` setting, shared by getUpdates and
    /// setWebhook (None: the default, every kind but `chat_member`,
    /// `message_reaction` and `message_reaction_count`).
    pub fn allowed_updates(&self) -> Option<Vec<String>> {
        self.read(|s| s.allowed_updates.clone())
    }

    // ------------------------------------------------------------ webhook

    /// The webhook the bot set, None while it uses getUpdates.
    pub fn webhook_info(&self) -> Option<WebhookConfig> {
        self.read(|s| s.webhook_config())
    }

    /// getWebhookInfo's `last_error_date` (unix time) and
    /// `last_error_message`: the latest failed delivery to the current
    /// webhook (forgotten when the webhook is removed or changed).
    pub fn webhook_last_error(&self) -> Option<(i64, String)> {
        self.read(|s| s.webhook.last_error.clone())
    }

    /// The pause before an update whose delivery failed is sent again
    /// (100 ms by default), unless the answer had a `Retry-After` header
    /// (seconds, at most 3600), which wins as on Telegram. Applies to the
    /// failures from now on; zero retries at once.
    pub fn set_webhook_retry_delay(&self, delay: Duration) {
        self.with(|s| s.webhook.retry_delay = delay);
    }

    /// How long a delivery may take, from connecting to the end of the
    /// answer (10 s by default); then it fails with "Read timeout expired"
    /// and is retried. Applies to the attempts started from now on. Time is
    /// tokio's clock: in a test with paused time, a delivery waiting for
    /// its answer times out as soon as the clock auto-advances.
    pub fn set_webhook_timeout(&self, timeout: Duration) {
        assert!(
            !timeout.is_zero(),
            "fake-bot-api: a zero webhook timeout would fail every delivery"
        );
        self.with(|s| s.webhook.timeout = timeout);
    }

    /// Off by default, as on Telegram, where setWebhook refuses an
    /// `http://` URL with 400 "Bad Request: bad webhook: HTTPS url must be
    /// provided for webhook". On, the fake acts as a local Bot API server
    /// (`telegram-bot-api --local`): `http://` URLs on any port are
    /// accepted, delivered over plain HTTP to `127.0.0.1` / `localhost`
    /// directly and to another host through
    /// [`route_webhook_host`](Self::route_webhook_host) (else "Failed to
    /// resolve host"). `https://` URLs are checked as before either way.
    /// Applies to the setWebhook calls from now on.
    pub fn allow_http_webhooks(&self, allow: bool) {
        self.with(|s| s.webhook.allow_http = allow);
    }

    /// On by default, as on Telegram: a setWebhook with a URL (not
    /// deleteWebhook, nor setWebhook with an empty URL) less than a second
    /// after the previous one is refused, before any other check, with 429
    /// "Too Many Requests: retry after 1" and `parameters.retry_after` = 1;
    /// a call refused so does not count, one refused for its URL does. Time
    /// is tokio's clock. Off lets a test of the fake itself try many URLs
    /// in a row; turning it on or off forgets the last call.
    pub fn limit_set_webhook_rate(&self, on: bool) {
        self.with(|s| {
            s.webhook.rate_limited = on;
            s.webhook.next_set_allowed = None;
        });
    }

    /// The fake has no TLS and no DNS: deliveries to `https://host/...`
    /// (any port Telegram allows) go over plain HTTP to `addr`, as through
    /// a TLS-terminating proxy in front of the bot, with `Host: host`.
    /// setWebhook refuses an `https://` URL whose host is not routed with
    /// 400 "Bad Request: bad webhook: Failed to resolve host: Name or
    /// service not known". `host` is a domain or an IP address
    /// (case-insensitive); routing it again replaces the address, for the
    /// webhooks set from now on.
    pub fn route_webhook_host(&self, host: &str, addr: SocketAddr) {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.with(|s| s.webhook.routes.insert(host, addr));
    }

    /// The `update_id` of the latest update created (by a user action such
    /// as [`send_text`](Self::send_text), [`press_button`](Self::press_button),
    /// a membership change...), None before the first one. Actions that
    /// create no update (a group message hidden by privacy mode, say) leave
    /// it unchanged; an action creating several updates leaves the last
    /// one's id.
    pub fn last_update_id(&self) -> Option<i64> {
        self.read(|s| s.last_update_id())
    }

    /// Sends update `update_id` to the webhook again, as Telegram does when
    /// an answer timed out or when the bot runs as several replicas: the
    /// very same Update JSON, same `update_id`, queued again as a new
    /// delivery (even when the first one is still queued or in flight).
    /// The new delivery goes like any other: in its queue's order (before
    /// the queued updates of larger ids of the same chat, after any copy of
    /// the same id), retried until a 2xx answer, listed by
    /// [`webhook_deliveries`](Self::webhook_deliveries) with its status,
    /// counted by [`pending_updates`](Self::pending_updates) and awaited by
    /// [`wait_webhook_idle`](Self::wait_webhook_idle) until delivered; and
    /// dropped if its kind is not in `allowed_updates`.
    ///
    /// Panics when no webhook is set, or when `update_id` is not one of the
    /// latest 10 000 updates created (see
    /// [`last_update_id`](Self::last_update_id)).
    pub fn redeliver(&self, update_id: i64) {
        let result = self.with(|s| {
            if s.webhook.hook.is_none() {
                return Err(
                    "no webhook is set (the bot did not call setWebhook, or removed it)".to_owned(),
                );
            }
            s.redeliver(update_id)
        });
        if let Err(e) = result {
            panic!("fake-bot-api: can't redeliver update {update_id}: {e}");
        }
    }

    /// Every webhook delivery attempt so far, in the order they ended
    /// (kept until [`clear_requests`](Self::clear_requests)).
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.read(|s| s.webhook.deliveries.clone())
    }

    /// The first delivery attempt (past or future) matching `pred`; None on
    /// timeout. `pred` runs without the fake's lock: it may call the fake.
    pub async fn wait_for_delivery(
        &self,
        pred: impl Fn(&WebhookDelivery) -> bool,
        timeout: Duration,
    ) -> Option<WebhookDelivery> {
        let mut seen = 0usize;
        self.wait_for_fresh(
            timeout,
            |s| {
                let list = &s.webhook.deliveries;
                if seen > list.len() {
                    seen = 0; // cleared meanwhile
                }
                let fresh = list[seen..].to_vec();
                seen = list.len();
                fresh
            },
            pred,
        )
        .await
    }

    /// Waits until every queued update was delivered to the webhook with a
    /// 2xx answer. Panics when no webhook is set (nothing would deliver
    /// them) and, after `timeout`, with the pending updates, the last error
    /// and the latest attempts.
    pub async fn wait_webhook_idle(&self, timeout: Duration) {
        if self.read(|s| s.webhook.hook.is_none()) {
            panic!(
                "fake-bot-api: wait_webhook_idle without a webhook: the bot did not call setWebhook (or removed it); {} updates pending",
                self.pending_updates()
            );
        }
        let idle = self
            .wait_until(timeout, |s| s.updates.is_empty().then_some(()))
            .await
            .is_some();
        if !idle {
            let (pending, last_error, deliveries, url) = self.read(|s| {
                let pending: Vec<i64> = s.updates.iter().map(|u| u.id).collect();
                let start = s.webhook.deliveries.len().saturating_sub(10);
                (
                    pending,
                    s.webhook.last_error.clone(),
                    s.webhook.deliveries[start..].to_vec(),
                    s.webhook.hook.as_ref().map(|h| h.url.clone()),
                )
            });
            let mut out = String::new();
            for d in deliveries {
                out.push_str(&format!(
                    "  update {} -> {}\n",
                    d.update_id,
                    match (&d.error, d.status) {
                        (None, Some(st)) => format!("{st}"),
                        (Some(e), _) => e.clone(),
                        (None, None) => "?".to_owned(),
                    }
                ));
            }
            panic!(
                "fake-bot-api: updates {pending:?} not delivered to the webhook {url:?} within {timeout:?}; last error: {last_error:?}; latest attempts:\n{out}"
            );
        }
    }
}
