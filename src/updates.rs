//! Getting updates from Telegram: long polling that reads each update as raw
//! JSON, repairs what teloxide 0.17 cannot parse, and only then builds
//! teloxide's `Update`.
//!
//! teloxide-core 0.13 expects `deleted_business_messages.message_ids` to be
//! `[{"message_id": n}]`, while Telegram sends `[n]` (Bot API: "Array of
//! Integer"); such an update becomes `UpdateKind::Error` and the dispatcher
//! drops it with "Cannot parse an update". [`parse_update`] fixes the JSON on
//! the way in. The fix on teloxide's main branch is unreleased.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use teloxide::requests::Payload;
use teloxide::types::{AllowedUpdate, Update, UpdateKind};
use tokio_util::sync::CancellationToken;

use crate::dispatch::ALLOWED_UPDATES;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::telegram::{RetryPolicy, Telegram, TelegramError, backoff, read_result};

/// How many updates one getUpdates call may return (Telegram's maximum).
const BATCH_LIMIT: u8 = 100;

/// Builds an `Update` from Telegram's JSON, repairing the shapes teloxide
/// 0.17 gets wrong first.
pub fn parse_update(mut update: Value) -> Result<Update, serde_json::Error> {
    repair(&mut update);
    // teloxide's Update only parses from text: it borrows its keys.
    serde_json::from_str(&update.to_string())
}

/// Builds an `Update` from one update's JSON text. Only an update teloxide
/// cannot read as sent takes the repairing detour through a `Value`; every
/// other is parsed once, as teloxide itself would.
pub fn parse_update_text(text: &str) -> Result<Update, serde_json::Error> {
    if text.contains("\"deleted_business_messages\"") {
        parse_update(serde_json::from_str(text)?)
    } else {
        serde_json::from_str(text)
    }
}

/// The `kind` label of an update: a fixed set.
pub fn update_kind(update: &Update) -> &'static str {
    use teloxide::types::UpdateKind as K;
    match &update.kind {
        K::Message(_) => "message",
        K::EditedMessage(_) => "edited_message",
        K::CallbackQuery(_) => "callback_query",
        K::ChatMember(_) => "chat_member",
        K::MyChatMember(_) => "my_chat_member",
        K::BusinessConnection(_) => "business_connection",
        K::BusinessMessage(_) => "business_message",
        K::EditedBusinessMessage(_) => "edited_business_message",
        K::DeletedBusinessMessages(_) => "deleted_business_messages",
        _ => "other",
    }
}

fn repair(update: &mut Value) {
    if let Some(ids) = update
        .get_mut("deleted_business_messages")
        .and_then(|deleted| deleted.get_mut("message_ids"))
        .and_then(Value::as_array_mut)
    {
        for id in ids.iter_mut() {
            if id.is_number() {
                *id = serde_json::json!({ "message_id": id.take() });
            }
        }
    }
}

/// getUpdates answering raw JSON values instead of teloxide's `Update`s.
#[derive(Debug, Clone, Serialize)]
struct GetRawUpdates {
    offset: i64,
    limit: u8,
    timeout: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_updates: Option<Vec<AllowedUpdate>>,
}

impl Payload for GetRawUpdates {
    // Read in one pass, as teloxide's own polling does (see `read_updates`).
    type Output = Vec<Update>;
    const NAME: &'static str = "GetUpdates";

    fn timeout_hint(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.timeout.into()))
    }
}

/// How many updates taken after the oldest unsettled one a getUpdates may
/// bring back again (see [`Intake::confirmable`]).
const REREAD: i64 = 50;
/// With updates unsettled, getUpdates answers at once (with them): before
/// asking, wait this long at most for the oldest to settle.
const UNSETTLED_PAUSE: Duration = Duration::from_millis(250);

/// Long polling until `stop`: each update is handed to `intake`, and
/// Telegram is told to forget only updates that settled. Returns the
/// offset past every update taken, for the last confirmation
/// ([`confirm`]).
pub async fn poll(
    tg: &Telegram,
    metrics: &Metrics,
    intake: &Arc<Intake>,
    timeout: Duration,
    stop: &CancellationToken,
) -> i64 {
    let mut next = 0i64;
    let mut failures = 0u32;
    let timeout = u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX);
    while !stop.is_cancelled() {
        let mut offset = intake.confirmable(next, REREAD);
        if offset < next {
            // Most updates settle within milliseconds: give the oldest a
            // moment rather than read it again at once.
            tokio::select! {
                _ = intake.settled(offset, UNSETTLED_PAUSE) => {}
                _ = stop.cancelled() => break,
            }
            offset = intake.confirmable(next, REREAD);
        }
        // Nothing unsettled: wait at Telegram for new updates. Otherwise
        // Telegram answers at once with what is unsettled.
        let waiting = offset == next;
        let request = GetRawUpdates {
            offset,
            limit: BATCH_LIMIT,
            timeout: if waiting { timeout } else { 0 },
            allowed_updates: Some(ALLOWED_UPDATES.to_vec()),
        };
        // One try: this loop has its own backoff, and honours 429s itself.
        let result = tokio::select! {
            result = tg.call_body(request, RetryPolicy::ONCE) => result,
            // Dropping the call in flight loses nothing: its updates stay
            // unconfirmed and come again.
            _ = stop.cancelled() => break,
        };
        match result.and_then(|answer| read_updates(&answer)) {
            Ok(updates) => {
                failures = 0;
                for update in updates {
                    let id = i64::from(update.id.0);
                    if id < next {
                        continue;
                    }
                    next = id + 1;
                    if matches!(update.kind, UpdateKind::Error(_)) {
                        continue;
                    }
                    metrics.update(update_kind(&update));
                    // Settles by itself: the intake tracks it.
                    drop(intake.submit(update));
                }
            }
            Err(error) => {
                let delay = error.retry_after().unwrap_or_else(|| backoff(failures));
                failures = failures.saturating_add(1);
                tracing::warn!(%error, "getUpdates failed; retrying in {delay:?}");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stop.cancelled() => break,
                }
            }
        }
    }
    next
}

/// Tells Telegram to forget every update before `offset`.
pub async fn confirm(tg: &Telegram, offset: i64) -> Result<(), TelegramError> {
    let request = GetRawUpdates {
        offset,
        limit: 1,
        timeout: 0,
        allowed_updates: None,
    };
    tg.call_body(request, RetryPolicy::ONCE).await.map(drop)
}

/// getUpdates' answer, read in one pass as teloxide's own polling does. An
/// update teloxide cannot read as sent comes out as an empty
/// `UpdateKind::Error`; only then is the answer read again as JSON values,
/// and those updates repaired.
fn read_updates(answer: &[u8]) -> Result<Vec<Update>, TelegramError> {
    let mut updates: Vec<Update> = read_result("GetUpdates", answer)?;
    if updates
        .iter()
        .any(|update| matches!(update.kind, UpdateKind::Error(_)))
    {
        let values: Vec<Value> = read_result("GetUpdates", answer)?;
        for (update, value) in updates.iter_mut().zip(values) {
            if matches!(update.kind, UpdateKind::Error(_)) {
                match parse_update(value) {
                    Ok(repaired) => *update = repaired,
                    Err(error) => tracing::warn!(
                        update_id = update.id.0,
                        %error,
                        "an update that does not parse was skipped"
                    ),
                }
            }
        }
    }
    Ok(updates)
}

#[cfg(test)]
mod tests {
    use teloxide::types::UpdateKind;

    use super::*;

    #[test]
    fn deleted_business_messages_with_integer_ids_parse() {
        let update = serde_json::json!({
            "update_id": 7,
            "deleted_business_messages": {
                "business_connection_id": "abc",
                "chat": {"id": 42, "type": "private", "first_name": "Ann"},
                "message_ids": [3, 5]
            }
        });
        // teloxide alone cannot: it would be dropped as an error.
        let unrepaired: Update = serde_json::from_str(&update.to_string()).unwrap();
        assert!(matches!(unrepaired.kind, UpdateKind::Error(_)));

        let update = parse_update(update).unwrap();
        let UpdateKind::DeletedBusinessMessages(deleted) = update.kind else {
            panic!("not repaired: {update:?}");
        };
        assert_eq!(deleted.business_connection_id.0, "abc");
        let ids: Vec<i32> = deleted.message_ids.iter().map(|id| id.0).collect();
        assert_eq!(ids, [3, 5]);
    }

    #[test]
    fn a_polled_batch_is_read_once_and_repaired_where_needed() {
        let answer = br#"{"ok": true, "result": [
            {"update_id": 1, "message": {"message_id": 1, "date": 0,
                "chat": {"id": 42, "type": "private", "first_name": "Ann"},
                "from": {"id": 42, "is_bot": false, "first_name": "Ann"}, "text": "hi"}},
            {"update_id": 2, "deleted_business_messages": {"business_connection_id": "abc",
                "chat": {"id": 42, "type": "private", "first_name": "Ann"}, "message_ids": [3, 5]}}
        ]}"#;
        let updates = read_updates(answer).unwrap();
        assert_eq!(updates.len(), 2);
        assert!(matches!(updates[0].kind, UpdateKind::Message(_)));
        let UpdateKind::DeletedBusinessMessages(deleted) = &updates[1].kind else {
            panic!("not repaired: {:?}", updates[1]);
        };
        assert_eq!(deleted.message_ids.len(), 2);
    }

    /// An update that does not parse even repaired is skipped (its kind
    /// stays an error, which polling steps over); the batch's others are
    /// kept.
    #[test]
    fn an_update_the_repair_cannot_save_is_skipped_alone() {
        let answer = br#"{"ok": true, "result": [
            {"update_id": 1, "deleted_business_messages": {"business_connection_id": "abc",
                "chat": {"id": 42, "type": "private", "first_name": "Ann"}, "message_ids": ["x"]}},
            {"update_id": 2, "message": {"message_id": 1, "date": 0,
                "chat": {"id": 42, "type": "private", "first_name": "Ann"},
                "from": {"id": 42, "is_bot": false, "first_name": "Ann"}, "text": "/id"}}
        ]}"#;
        let updates = read_updates(answer).unwrap();
        assert_eq!(updates.len(), 2);
        assert!(matches!(updates[0].kind, UpdateKind::Error(_)));
        assert!(matches!(updates[1].kind, UpdateKind::Message(_)));
    }

    #[test]
    fn texts_parse_once_unless_they_need_the_repair() {
        let deleted = r#"{"update_id": 9, "deleted_business_messages": {"business_connection_id": "abc",
            "chat": {"id": 42, "type": "private", "first_name": "Ann"}, "message_ids": [3]}}"#;
        let update = parse_update_text(deleted).unwrap();
        assert!(matches!(
            update.kind,
            UpdateKind::DeletedBusinessMessages(_)
        ));
        let message = r#"{"update_id": 10, "message": {"message_id": 1, "date": 0,
            "chat": {"id": 42, "type": "private", "first_name": "Ann"},
            "from": {"id": 42, "is_bot": false, "first_name": "Ann"}, "text": "hi"}}"#;
        let update = parse_update_text(message).unwrap();
        assert_eq!(update.id.0, 10);
        assert!(matches!(update.kind, UpdateKind::Message(_)));
    }

    #[test]
    fn other_updates_are_untouched() {
        let update = serde_json::json!({
            "update_id": 8,
            "message": {
                "message_id": 1, "date": 0,
                "chat": {"id": 42, "type": "private", "first_name": "Ann"},
                "from": {"id": 42, "is_bot": false, "first_name": "Ann"},
                "text": "hi"
            }
        });
        let mut repaired = update.clone();
        repair(&mut repaired);
        assert_eq!(repaired, update);
        assert!(matches!(
            parse_update(update).unwrap().kind,
            UpdateKind::Message(_)
        ));
    }
}
