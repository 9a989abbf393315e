//! Getting updates from Telegram: long polling that reads each update as raw
//! JSON, repairs what teloxide 0.17 cannot parse, and only then builds
//! teloxide's `Update`.
//!
//! teloxide-core 0.13 expects `deleted_business_messages.message_ids` to be
//! `[{"message_id": n}]`, while Telegram sends `[n]` (Bot API: "Array of
//! Integer"); such an update becomes `UpdateKind::Error` and the dispatcher
//! drops it with "Cannot parse an update". [`parse_update`] fixes the JSON on
//! the way in. The fix on teloxide's main branch is unreleased.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use serde::Serialize;
use serde_json::Value;
use teloxide::requests::Payload;
use teloxide::stop::{StopFlag, StopToken, mk_stop_token};
use teloxide::types::{AllowedUpdate, Update, UpdateKind};
use teloxide::update_listeners::{AsUpdateStream, UpdateListener};

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

/// Long polling with repaired updates, as a teloxide update listener. The
/// update kinds asked for are the ones the handler tree filters on (the
/// dispatcher hints them); on stop, one last getUpdates confirms every
/// update handed out.
pub struct RawPolling {
    tg: Telegram,
    metrics: Arc<Metrics>,
    timeout: Duration,
    allowed_updates: Option<Vec<AllowedUpdate>>,
    token: StopToken,
    flag: StopFlag,
}

impl RawPolling {
    /// Polls with `tg`, counting every update received in `metrics`.
    pub fn new(tg: Telegram, metrics: Arc<Metrics>, timeout: Duration) -> Self {
        let (token, flag) = mk_stop_token();
        Self {
            tg,
            metrics,
            timeout,
            allowed_updates: None,
            token,
            flag,
        }
    }
}

impl UpdateListener for RawPolling {
    type Err = TelegramError;

    fn stop_token(&mut self) -> StopToken {
        self.token.clone()
    }

    fn hint_allowed_updates(&mut self, hint: &mut dyn Iterator<Item = AllowedUpdate>) {
        self.allowed_updates = Some(hint.collect());
    }
}

struct PollState {
    tg: Telegram,
    metrics: Arc<Metrics>,
    request: GetRawUpdates,
    flag: StopFlag,
    buffer: VecDeque<Update>,
    /// The failures in a row, for the backoff.
    failures: u32,
    /// Wait this long before the next call (after a failure).
    pause: Option<Duration>,
    finished: bool,
}

impl<'a> AsUpdateStream<'a> for RawPolling {
    type StreamErr = TelegramError;
    type Stream = BoxStream<'a, Result<Update, TelegramError>>;

    fn as_stream(&'a mut self) -> Self::Stream {
        let state = PollState {
            tg: self.tg.clone(),
            metrics: Arc::clone(&self.metrics),
            request: GetRawUpdates {
                offset: 0,
                limit: BATCH_LIMIT,
                timeout: u32::try_from(self.timeout.as_secs()).unwrap_or(u32::MAX),
                allowed_updates: self.allowed_updates.clone(),
            },
            flag: self.flag.clone(),
            buffer: VecDeque::new(),
            failures: 0,
            pause: None,
            finished: false,
        };
        // Boxed: the stream moves its state in and out of every step.
        Box::pin(futures::stream::unfold(Box::new(state), next_update))
    }
}

async fn next_update(
    mut state: Box<PollState>,
) -> Option<(Result<Update, TelegramError>, Box<PollState>)> {
    loop {
        if let Some(update) = state.buffer.pop_front() {
            return Some((Ok(update), state));
        }
        if state.finished {
            return None;
        }
        let stop = state.flag.clone();
        if stop.is_stopped() {
            // Confirm everything handed out, then end.
            state.finished = true;
            let confirm = GetRawUpdates {
                limit: 1,
                timeout: 0,
                ..state.request.clone()
            };
            return match state.tg.call_body(confirm, RetryPolicy::ONCE).await {
                Ok(_) => None,
                Err(error) => Some((Err(error), state)),
            };
        }
        if let Some(pause) = state.pause.take() {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop => {}
            }
            continue;
        }
        // One try: this loop has its own backoff, and honours 429s itself.
        let request = state.tg.call_body(state.request.clone(), RetryPolicy::ONCE);
        let result = tokio::select! {
            result = request => result,
            // Dropping the call in flight loses nothing: its updates stay
            // unconfirmed and come again.
            _ = stop => continue,
        };
        match result.and_then(|answer| read_updates(&answer)) {
            Ok(updates) => {
                state.failures = 0;
                for update in updates {
                    take(&mut state, update);
                }
            }
            Err(error) => {
                let delay = error
                    .retry_after()
                    .unwrap_or_else(|| backoff(state.failures));
                state.failures = state.failures.saturating_add(1);
                state.pause = Some(delay);
                return Some((Err(error), state));
            }
        }
    }
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

/// Moves the offset past one update and queues it, unless nothing could
/// read it.
fn take(state: &mut PollState, update: Update) {
    state.request.offset = state.request.offset.max(i64::from(update.id.0) + 1);
    if matches!(update.kind, UpdateKind::Error(_)) {
        return;
    }
    state.metrics.update(update_kind(&update));
    state.buffer.push_back(update);
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
