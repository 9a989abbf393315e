//! Who may do what in which chat: membership and admin checks against
//! Telegram, the admin cache, and the connection access rules.
//!
//! Rights are always judged in the target chat. Checks that guard a
//! connection go to Telegram live; the admin cache only serves commands sent
//! inside the group itself, lives at most [`ADMIN_CACHE_TTL`] and is dropped
//! for a chat on every chat_member / my_chat_member update of that chat.
//! Telegram sends chat_member updates only to a bot that is an administrator
//! of the chat, so only such chats are cached: elsewhere nothing would tell
//! castellan of a demotion, and the check is asked live.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use teloxide::payloads::{GetChat, GetChatAdministrators, GetChatMember};
use teloxide::prelude::*;
use teloxide::types::{ChatMember, ChatMemberKind, Recipient};

use crate::business::LiveConnection;
use crate::error::HandlerError;
use crate::store::{Space, Store, StoreError};
use crate::telegram::{Refusal, Telegram, TelegramError};

pub const ADMIN_CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// Bounds the cache: past this many chats, expired entries are swept.
const ADMIN_CACHE_SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Member,
}

/// Why a user may not use a chat through a connection. Each has a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// A private chat or a channel.
    NotAGroup,
    /// Telegram does not know the chat, or does not show it to the bot.
    ChatNotFound,
    /// The bot is not (or no longer) in the chat.
    BotNotInChat,
    /// The user left the chat or never joined.
    NotMember,
    /// The user is banned from the chat.
    Banned,
    /// The chat lets only admins connect.
    ConnectionsDisabled,
    /// The user has no business account connected to the bot.
    NoBusinessConnection,
    /// The user's business account disconnected the bot (it is disabled).
    BusinessDisabled,
    /// A business account is only ever the owner's to manage.
    NotBusinessOwner,
}

impl Denial {
    pub fn locale_key(self) -> &'static str {
        match self {
            Denial::NotAGroup => "deny-not-a-group",
            Denial::ChatNotFound => "deny-chat-not-found",
            Denial::BotNotInChat => "deny-bot-not-in-chat",
            Denial::NotMember => "deny-not-member",
            Denial::Banned => "deny-banned",
            Denial::ConnectionsDisabled => "deny-connections-disabled",
            Denial::NoBusinessConnection => "deny-no-business",
            Denial::BusinessDisabled => "deny-business-disabled",
            Denial::NotBusinessOwner => "deny-not-business-owner",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// A definite answer: the user may not use the chat.
    #[error("access denied: {0:?}")]
    Denied(Denial),
    /// Telegram could not answer; nothing is known, so nothing is changed.
    #[error("telegram error: {0}")]
    Telegram(#[from] TelegramError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AccessError {
    /// The denial, or the failure that kept the check from deciding.
    pub fn into_denial(self) -> Result<Denial, HandlerError> {
        match self {
            AccessError::Denied(denial) => Ok(denial),
            AccessError::Telegram(error) => Err(error.into()),
            AccessError::Store(error) => Err(error.into()),
        }
    }
}

/// A chat that passed the connection checks, as Telegram describes it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupChat {
    pub id: i64,
    pub title: String,
}

/// The membership facts the rules need, from a ChatMember.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Admin,
    Member,
    NotMember,
    Banned,
}

impl Membership {
    pub fn of(member: &ChatMember) -> Self {
        match &member.kind {
            ChatMemberKind::Owner(_) | ChatMemberKind::Administrator(_) => Membership::Admin,
            ChatMemberKind::Member(_) => Membership::Member,
            ChatMemberKind::Restricted(r) if r.is_member => Membership::Member,
            ChatMemberKind::Restricted(_) | ChatMemberKind::Left => Membership::NotMember,
            ChatMemberKind::Banned(_) => Membership::Banned,
        }
    }
}

/// Whether `user_id` may manage the business account of `owner_id`: only its
/// owner may, and only while the account's connection to the bot is enabled.
/// Used to connect and on every use of the connection.
pub async fn check_business(
    store: &dyn Store,
    owner_id: i64,
    user_id: UserId,
) -> Result<LiveConnection, AccessError> {
    if owner_id != user_id.0 as i64 {
        return Err(AccessError::Denied(Denial::NotBusinessOwner));
    }
    match store.owner_business_connection(owner_id).await? {
        None => Err(AccessError::Denied(Denial::NoBusinessConnection)),
        Some(record) if !record.is_enabled => Err(AccessError::Denied(Denial::BusinessDisabled)),
        Some(record) => Ok(LiveConnection::from_record(record)),
    }
}

/// Maps Telegram's refusals about a chat to a denial; anything else (network,
/// 429, 5xx) stays an error so a passing fault never disconnects anyone.
pub fn denial_of(error: &TelegramError) -> Option<Denial> {
    match error.refusal()? {
        Refusal::ChatNotFound => Some(Denial::ChatNotFound),
        Refusal::BotNotInChat | Refusal::BotLacksRights => Some(Denial::BotNotInChat),
        Refusal::UserNotFound => Some(Denial::NotMember),
        _ => None,
    }
}

fn classify(error: TelegramError) -> AccessError {
    match denial_of(&error) {
        Some(denial) => AccessError::Denied(denial),
        None => AccessError::Telegram(error),
    }
}

struct CachedAdmins {
    fetched_at: Instant,
    user_ids: HashSet<u64>,
}

/// The admin cache, with what keeps a list fetched before an invalidation
/// from being stored after it.
#[derive(Default)]
struct AdminCache {
    chats: HashMap<i64, CachedAdmins>,
    /// Counts invalidations: a fetch notes it before asking Telegram.
    epoch: u64,
    /// The epoch of each chat's latest invalidation (recent ones).
    invalidated: HashMap<i64, u64>,
    /// The epoch of the latest invalidation of every chat at once.
    all_invalidated: u64,
}

impl AdminCache {
    /// Whether a list fetched from `started` on is still news for `chat_id`.
    fn current(&self, chat_id: i64, started: u64) -> bool {
        self.all_invalidated <= started
            && self
                .invalidated
                .get(&chat_id)
                .is_none_or(|epoch| *epoch <= started)
    }

    fn invalidate(&mut self, chat_id: i64) {
        self.epoch += 1;
        self.chats.remove(&chat_id);
        if self.invalidated.len() >= ADMIN_CACHE_SWEEP_AT {
            // Forgetting which chats: every fetch under way is stale now.
            self.invalidated.clear();
            self.all_invalidated = self.epoch;
        } else {
            self.invalidated.insert(chat_id, self.epoch);
        }
    }

    fn invalidate_all(&mut self) {
        self.epoch += 1;
        self.chats.clear();
        self.invalidated.clear();
        self.all_invalidated = self.epoch;
    }
}

pub struct Auth {
    tg: Telegram,
    bot_id: UserId,
    admin_cache: Mutex<AdminCache>,
    /// Groups the bot was seen in, and when. Telegram sends my_chat_member
    /// on every change of the bot's own membership, wherever it is, and that
    /// drops the entry ([`invalidate`](Self::invalidate)); a stale entry is
    /// caught anyway, by the user's membership call failing with "bot not
    /// in the chat".
    bot_present: Mutex<HashMap<i64, Instant>>,
}

impl Auth {
    pub fn new(tg: Telegram, bot_id: UserId) -> Self {
        Self {
            tg,
            bot_id,
            admin_cache: Mutex::new(AdminCache::default()),
            bot_present: Mutex::new(HashMap::new()),
        }
    }

    pub fn bot_id(&self) -> UserId {
        self.bot_id
    }

    /// Full check for connecting to `chat` (an id or @username): the chat is a
    /// group the bot is in, the user may use it, and non-admins only when the
    /// chat allows connections. Every way in to a connection goes through here.
    pub async fn check_connect(
        &self,
        store: &dyn Store,
        chat: Recipient,
        user_id: UserId,
    ) -> Result<(GroupChat, Role), AccessError> {
        let info = self.tg.call(GetChat::new(chat)).await.map_err(classify)?;
        if !(info.is_group() || info.is_supergroup()) {
            return Err(AccessError::Denied(Denial::NotAGroup));
        }
        let group = GroupChat {
            id: info.id.0,
            title: info.title().unwrap_or_default().to_owned(),
        };
        let role = self.check_use(store, group.id, user_id).await?;
        Ok((group, role))
    }

    /// The check repeated on every use of a connection to `space`;
    /// `allow_connect` is the chat's setting when the caller read it already.
    pub async fn check_space(
        &self,
        store: &dyn Store,
        space: Space,
        user_id: UserId,
        allow_connect: Option<bool>,
    ) -> Result<Role, AccessError> {
        match space {
            Space::Chat(chat_id) => {
                self.check_use_known(store, chat_id, user_id, allow_connect)
                    .await
            }
            Space::Business(owner_id) => {
                check_business(store, owner_id, user_id).await?;
                Ok(Role::Admin)
            }
        }
    }

    /// The check repeated on every use of an existing connection: the bot is
    /// still in the chat, the user is still a member (or admin), and a
    /// non-admin still may connect. Both memberships are asked live.
    pub async fn check_use(
        &self,
        store: &dyn Store,
        chat_id: i64,
        user_id: UserId,
    ) -> Result<Role, AccessError> {
        self.check_use_known(store, chat_id, user_id, None).await
    }

    /// [`check_use`](Self::check_use), with the chat's `allow_connect`
    /// setting when the caller read it already (else it is read here).
    pub async fn check_use_known(
        &self,
        store: &dyn Store,
        chat_id: i64,
        user_id: UserId,
        allow_connect: Option<bool>,
    ) -> Result<Role, AccessError> {
        let chat = ChatId(chat_id);
        let user_member = self.tg.call(GetChatMember::new(chat, user_id));
        let user_member = if self.bot_seen_in(chat_id) {
            user_member.await
        } else {
            let (bot_member, user_member) = tokio::join!(
                self.tg.call(GetChatMember::new(chat, self.bot_id)),
                user_member,
            );
            match Membership::of(&bot_member.map_err(classify)?) {
                Membership::Admin | Membership::Member => self.saw_bot_in(chat_id),
                Membership::NotMember | Membership::Banned => {
                    return Err(AccessError::Denied(Denial::BotNotInChat));
                }
            }
            user_member
        };
        match Membership::of(&user_member.map_err(classify)?) {
            Membership::Admin => Ok(Role::Admin),
            Membership::Banned => Err(AccessError::Denied(Denial::Banned)),
            Membership::NotMember => Err(AccessError::Denied(Denial::NotMember)),
            Membership::Member => {
                let allow = match allow_connect {
                    Some(allow) => allow,
                    None => store.allow_connect(chat_id).await?,
                };
                if allow {
                    Ok(Role::Member)
                } else {
                    Err(AccessError::Denied(Denial::ConnectionsDisabled))
                }
            }
        }
    }

    /// Admin check for commands sent inside the group: from the cache where
    /// the bot is an administrator (Telegram then reports every change of
    /// rights), live elsewhere.
    pub async fn is_admin_cached(
        &self,
        chat_id: i64,
        user_id: UserId,
    ) -> Result<bool, TelegramError> {
        if let Some(known) = self.cached(chat_id, user_id) {
            return Ok(known);
        }
        // An invalidation that comes while Telegram answers makes this
        // answer stale: it is used once, not stored.
        let started = self.lock_cache().epoch;
        let admins = self
            .tg
            .call(GetChatAdministrators::new(ChatId(chat_id)))
            .await?;
        let user_ids: HashSet<u64> = admins.iter().map(|m| m.user.id.0).collect();
        let is_admin = user_ids.contains(&user_id.0);
        if !user_ids.contains(&self.bot_id.0) {
            return Ok(is_admin);
        }
        let mut cache = self.lock_cache();
        if !cache.current(chat_id, started) {
            return Ok(is_admin);
        }
        if cache.chats.len() >= ADMIN_CACHE_SWEEP_AT {
            cache
                .chats
                .retain(|_, entry| entry.fetched_at.elapsed() < ADMIN_CACHE_TTL);
        }
        cache.chats.insert(
            chat_id,
            CachedAdmins {
                fetched_at: Instant::now(),
                user_ids,
            },
        );
        Ok(is_admin)
    }

    fn cached(&self, chat_id: i64, user_id: UserId) -> Option<bool> {
        let cache = self.lock_cache();
        let entry = cache.chats.get(&chat_id)?;
        (entry.fetched_at.elapsed() < ADMIN_CACHE_TTL).then(|| entry.user_ids.contains(&user_id.0))
    }

    /// Forgets what the caches know of a chat's admins and of the bot's
    /// own membership there.
    pub fn invalidate(&self, chat_id: i64) {
        self.lock_cache().invalidate(chat_id);
        self.lock_presence().remove(&chat_id);
    }

    /// Forgets everything cached (changes may have been missed).
    pub fn invalidate_all(&self) {
        self.lock_cache().invalidate_all();
        self.lock_presence().clear();
    }

    fn bot_seen_in(&self, chat_id: i64) -> bool {
        self.lock_presence()
            .get(&chat_id)
            .is_some_and(|seen| seen.elapsed() < ADMIN_CACHE_TTL)
    }

    /// The bot is in `chat_id` now: an update from it came in.
    pub fn saw_bot_in(&self, chat_id: i64) {
        let mut seen = self.lock_presence();
        if seen.len() >= ADMIN_CACHE_SWEEP_AT {
            seen.retain(|_, at| at.elapsed() < ADMIN_CACHE_TTL);
        }
        seen.insert(chat_id, Instant::now());
    }

    fn lock_presence(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Instant>> {
        self.bot_present
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, AdminCache> {
        // The map stays consistent even if a holder panicked: recover it.
        self.admin_cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use fake_bot_api::{BOT_ID, BOT_TOKEN, FakeTelegram, Fault, MemberStatus};
    use url::Url;

    use super::*;

    #[test]
    fn an_invalidation_outdates_the_fetches_begun_before_it() {
        let mut cache = AdminCache::default();
        let started = cache.epoch;
        cache.invalidate(-1);
        assert!(!cache.current(-1, started));
        assert!(cache.current(-2, started), "another chat's fetch stands");
        assert!(cache.current(-1, cache.epoch), "a fetch begun after it");
        let started = cache.epoch;
        cache.invalidate_all();
        assert!(!cache.current(-2, started));
    }

    /// A cached list is trusted for five minutes, then asked for again
    /// (chat_member updates may have been missed).
    #[test]
    fn a_cached_list_ages_out() {
        let tg =
            Telegram::builder(&url::Url::parse("http://127.0.0.1:9").unwrap(), BOT_TOKEN).build();
        let auth = Auth::new(tg, UserId(BOT_ID as u64));
        let now = Instant::now();
        for (chat, age) in [
            (-1, Duration::from_secs(60)),
            (-2, ADMIN_CACHE_TTL + Duration::from_secs(1)),
        ] {
            let fetched_at = now.checked_sub(age).unwrap();
            auth.lock_cache().chats.insert(
                chat,
                CachedAdmins {
                    fetched_at,
                    user_ids: [7].into(),
                },
            );
        }
        assert_eq!(auth.cached(-1, UserId(7)), Some(true));
        assert_eq!(auth.cached(-1, UserId(8)), Some(false));
        assert_eq!(auth.cached(-2, UserId(7)), None, "too old to trust");
    }

    /// A list Telegram sent before an invalidation came is not kept: the
    /// next check asks again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_list_fetched_across_an_invalidation_is_not_stored() {
        let fake = FakeTelegram::start().await;
        let api_url = Url::parse(&fake.api_url()).unwrap();
        let tg = Telegram::builder(&api_url, BOT_TOKEN)
            .send_limits(None)
            .build();
        let auth = std::sync::Arc::new(Auth::new(tg, UserId(BOT_ID as u64)));
        let chat = fake.add_supergroup("Team", None);
        fake.set_bot_status(chat, MemberStatus::Administrator);
        let ada = fake.add_user("Ada");
        fake.set_member(chat, ada, MemberStatus::Administrator);

        fake.fail_next(
            "getChatAdministrators",
            Fault::Stall(Duration::from_secs(2)),
            1,
        );
        let asking = {
            let auth = std::sync::Arc::clone(&auth);
            tokio::spawn(async move { auth.is_admin_cached(chat, UserId(ada as u64)).await })
        };
        // While Telegram takes its time, Ada is demoted.
        tokio::time::sleep(Duration::from_millis(500)).await;
        auth.invalidate(chat);
        assert!(asking.await.unwrap().unwrap(), "the answer of its time");
        assert_eq!(auth.cached(chat, UserId(ada as u64)), None);

        // Without an invalidation, the list is kept.
        assert!(
            auth.is_admin_cached(chat, UserId(ada as u64))
                .await
                .unwrap()
        );
        assert_eq!(auth.cached(chat, UserId(ada as u64)), Some(true));
    }
}
