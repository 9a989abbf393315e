//! Telegram Business connections, kept as Telegram's documentation asks:
//! every `business_connection` update is stored; an id castellan has never
//! seen is fetched with getBusinessConnection once (concurrent updates on it
//! share the call, in this process and across every castellan on the
//! database, through a claim that holds no connection while Telegram
//! answers), and never again once known (changes arrive as updates);
//! an id Telegram refuses is remembered as unknown for [`UNKNOWN_ID_TTL`].
//!
//! What may be done through a connection is decided here too: castellan
//! never sends through a disabled or superseded connection, nor through one
//! whose rights lack `can_reply`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use teloxide::payloads::GetBusinessConnection;
use teloxide::prelude::*;
use teloxide::types::{BusinessBotRights, BusinessConnection, BusinessConnectionId, MessageKind};

use crate::error::HandlerError;
use crate::store::{
    BusinessConnectionRecord, BusinessRecorded, Store, StoreError, StoredBusinessConnection,
};
use crate::telegram::{Telegram, TelegramError};

/// How long an id Telegram refused stays unknown before it is asked again.
pub const UNKNOWN_ID_TTL: Duration = Duration::from_secs(10 * 60);
/// How long a claim to fetch an unknown id holds off the other castellans:
/// longer than a getBusinessConnection call takes with its retries.
const FETCH_CLAIM: Duration = Duration::from_secs(60);
/// How often a castellan waiting for another's fetch looks for its answer.
const FETCH_POLL: Duration = Duration::from_millis(100);

/// A connection as the bot may use it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveConnection {
    pub record: BusinessConnectionRecord,
    pub rights: BusinessBotRights,
}

impl LiveConnection {
    pub fn from_record(record: BusinessConnectionRecord) -> Self {
        let rights = rights_of(record.rights_json.as_deref());
        Self { record, rights }
    }

    /// Enabled and allowed to reply: the bot may send through it.
    pub fn can_reply(&self) -> bool {
        self.record.is_enabled && self.rights.can_reply
    }
}

/// Parses stored rights; missing or unreadable rights are no rights.
pub fn rights_of(json: Option<&str>) -> BusinessBotRights {
    json.and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(no_rights)
}

/// What a connection without a `rights` object may do: nothing.
pub fn no_rights() -> BusinessBotRights {
    BusinessBotRights {
        can_reply: false,
        can_read_messages: false,
        can_delete_sent_messages: false,
        can_delete_all_messages: false,
        can_edit_name: false,
        can_edit_bio: false,
        can_edit_profile_photo: false,
        can_edit_username: false,
        can_change_gift_settings: false,
        can_view_gifts_and_stars: false,
        can_convert_gifts_to_stars: false,
        can_transfer_and_upgrade_gifts: false,
        can_transfer_stars: false,
        can_manage_stories: false,
    }
}

/// The business connection a message belongs to, if it is a business chat's.
pub fn connection_id_of(msg: &Message) -> Option<&BusinessConnectionId> {
    match &msg.kind {
        MessageKind::Common(common) => common.business_connection_id.as_ref(),
        _ => None,
    }
}

/// The stored form of a `BusinessConnection`.
pub fn record_of(connection: &BusinessConnection) -> BusinessConnectionRecord {
    BusinessConnectionRecord {
        id: connection.id.0.clone(),
        owner_id: connection.user.id.0 as i64,
        user_chat_id: connection.user_chat_id.0 as i64,
        rights_json: connection
            .rights
            .as_ref()
            .and_then(|rights| serde_json::to_string(rights).ok()),
        is_enabled: connection.is_enabled,
        date: connection.date.timestamp(),
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// The business-connection bookkeeping.
pub struct BusinessConnections {
    tg: Telegram,
    store: Arc<dyn Store>,
    /// One lock per id being fetched, so concurrent updates on one unknown
    /// id make a single getBusinessConnection call. Entries live only while
    /// a lookup of their id runs.
    fetching: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl BusinessConnections {
    pub fn new(tg: Telegram, store: Arc<dyn Store>) -> Self {
        Self {
            tg,
            store,
            fetching: Mutex::new(HashMap::new()),
        }
    }

    /// Stores a connection from a `business_connection` update (or a fetch).
    pub async fn record(
        &self,
        connection: &BusinessConnection,
    ) -> Result<BusinessRecorded, StoreError> {
        self.store
            .record_business_connection(&record_of(connection))
            .await
    }

    /// The live connection a business update names: `None` when Telegram
    /// does not know the id or a newer connection superseded it.
    pub async fn resolve(
        &self,
        id: &BusinessConnectionId,
    ) -> Result<Option<LiveConnection>, HandlerError> {
        if let Some(stored) = self.store.business_connection(&id.0).await? {
            return Ok(live(stored));
        }
        let lock = self.lock_for(&id.0);
        let result = async {
            // One lookup at a time in this process...
            let _fetching = lock.lock().await;
            // ...and one fetch across every castellan on the database,
            // claimed without holding a connection while Telegram answers.
            loop {
                // Whoever fetched before may have stored the answer.
                if let Some(stored) = self.store.business_connection(&id.0).await? {
                    return Ok(live(stored));
                }
                let now = crate::store::unix_ms();
                let until = now + FETCH_CLAIM.as_millis() as i64;
                if self.store.claim_business_fetch(&id.0, now, until).await? {
                    break;
                }
                // Another castellan fetches it: wait for its answer (or for
                // its claim to run out, should it have died).
                tokio::time::sleep(FETCH_POLL).await;
            }
            let fetched = self.fetch(id).await;
            if let Err(error) = self.store.release_business_fetch(&id.0).await {
                // The claim runs out by itself.
                tracing::warn!(%error, "could not release a business connection fetch");
            }
            fetched
        }
        .await;
        self.release(&id.0, lock);
        result
    }

    async fn fetch(
        &self,
        id: &BusinessConnectionId,
    ) -> Result<Option<LiveConnection>, HandlerError> {
        let now = unix_now();
        if let Some(since) = self.store.unknown_business_connection_since(&id.0).await?
            && now.saturating_sub(since) < UNKNOWN_ID_TTL.as_secs() as i64
        {
            return Ok(None);
        }
        match self.tg.call(GetBusinessConnection::new(id.clone())).await {
            Ok(connection) => {
                tracing::info!(
                    owner = connection.user.id.0,
                    "fetched an unknown business connection"
                );
                self.record(&connection).await?;
                Ok(self.store.business_connection(&id.0).await?.and_then(live))
            }
            // A refusal is Telegram's answer about the id; a failure to
            // answer (network, 429, 5xx) is not, and is not remembered.
            Err(error @ TelegramError::Refused { .. }) => {
                tracing::info!(%error, "Telegram does not know a business connection id");
                self.store
                    .remember_unknown_business_connection(&id.0, now)
                    .await?;
                Ok(None)
            }
            Err(error) => Err(error.into()),
        }
    }

    fn lock_for(&self, id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(fetching.entry(id.to_owned()).or_default())
    }

    fn release(&self, id: &str, lock: Arc<tokio::sync::Mutex<()>>) {
        let mut fetching = self.fetching.lock().unwrap_or_else(|p| p.into_inner());
        drop(lock);
        // Only the map holds it now: nobody else is waiting on this id.
        if fetching
            .get(id)
            .is_some_and(|entry| Arc::strong_count(entry) == 1)
        {
            fetching.remove(id);
        }
    }
}

fn live(stored: StoredBusinessConnection) -> Option<LiveConnection> {
    (!stored.superseded).then(|| LiveConnection::from_record(stored.connection))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_broken_rights_are_no_rights() {
        assert!(!rights_of(None).can_reply);
        assert!(!rights_of(Some("not json")).can_reply);
        assert!(rights_of(Some(r#"{"can_reply":true}"#)).can_reply);
        assert_eq!(rights_of(Some("{}")), no_rights());
    }
}
