//! Who may do what in which chat: rights, membership and admin checks
//! against Telegram, the member cache, and the connection access rules.
//!
//! Rights are always judged in the target chat. Where the bot is an
//! administrator, Telegram reports every member change (chat_member
//! updates), so a member's standing learned from getChatMember or from such
//! a report is kept, at most [`ADMIN_CACHE_TTL`], and replaced or dropped by
//! the next report (here, and through the database's announcements in every
//! other castellan). Elsewhere nothing would tell castellan of a demotion,
//! a departure or a ban, so nothing is kept and every check asks Telegram.

use std::collections::HashMap;
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

/// An administrator's right that a command may need, as Telegram names it
/// in `ChatMemberAdministrator`. The creator holds them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    /// `can_restrict_members`: ban, mute, kick, warn.
    RestrictMembers,
    /// `can_delete_messages`.
    DeleteMessages,
    /// `can_change_info`: the chat's settings and content (notes, rules).
    ChangeInfo,
    /// `can_pin_messages`.
    PinMessages,
    /// `can_promote_members`.
    PromoteMembers,
}

impl Right {
    pub const ALL: [Right; 5] = [
        Right::RestrictMembers,
        Right::DeleteMessages,
        Right::ChangeInfo,
        Right::PinMessages,
        Right::PromoteMembers,
    ];

    /// The right's name as users read it ("ban users").
    pub fn locale_key(self) -> &'static str {
        match self {
            Right::RestrictMembers => "right-restrict-members",
            Right::DeleteMessages => "right-delete-messages",
            Right::ChangeInfo => "right-change-info",
            Right::PinMessages => "right-pin-messages",
            Right::PromoteMembers => "right-promote-members",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The rights an administrator holds, of those castellan asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights(u8);

impl Rights {
    /// The creator's.
    pub const ALL: Rights = Rights(0b1_1111);
    pub const NONE: Rights = Rights(0);

    pub fn holds(self, right: Right) -> bool {
        self.0 & right.bit() != 0
    }

    pub fn with(self, right: Right) -> Rights {
        Rights(self.0 | right.bit())
    }

    /// An administrator's rights from their ChatMember; `None` for anyone
    /// who is not an administrator.
    pub fn of(member: &ChatMember) -> Option<Rights> {
        match &member.kind {
            ChatMemberKind::Owner(_) => Some(Rights::ALL),
            ChatMemberKind::Administrator(admin) => {
                let held = [
                    (Right::RestrictMembers, admin.can_restrict_members),
                    (Right::DeleteMessages, admin.can_delete_messages),
                    (Right::ChangeInfo, admin.can_change_info),
                    (Right::PinMessages, admin.can_pin_messages),
                    (Right::PromoteMembers, admin.can_promote_members),
                ];
                Some(
                    held.into_iter()
                        .filter(|(_, held)| *held)
                        .fold(Rights::NONE, |rights, (right, _)| rights.with(right)),
                )
            }
            _ => None,
        }
    }
}

/// A user's standing in a chat: a member, or an administrator with rights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin(Rights),
    Member,
}

impl Role {
    pub fn is_admin(self) -> bool {
        matches!(self, Role::Admin(_))
    }

    /// Whether this role may do what `right` allows.
    pub fn holds(self, right: Right) -> bool {
        matches!(self, Role::Admin(rights) if rights.holds(right))
    }
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
    Admin(Rights),
    Member,
    NotMember,
    Banned,
}

impl Membership {
    /// Whether this standing may do what `right` allows.
    pub fn holds(self, right: Right) -> bool {
        matches!(self, Membership::Admin(rights) if rights.holds(right))
    }

    pub fn of(member: &ChatMember) -> Self {
        match &member.kind {
            ChatMemberKind::Owner(_) | ChatMemberKind::Administrator(_) => {
                Membership::Admin(Rights::of(member).unwrap_or_default())
            }
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

/// What is known of one chat where the bot is an administrator: Telegram
/// then reports every member change as a chat_member update, so what is
/// learned can be kept until one says otherwise (or it ages out: updates
/// can be missed). Chats where the bot is not an administrator have no
/// entry: nothing would tell castellan of a change there.
struct CachedChat {
    /// Its administrators and their rights, when the list was fetched.
    admins: Option<(Instant, HashMap<u64, Rights>)>,
    /// Single members' standing, learned from getChatMember or chat_member.
    members: HashMap<u64, (Instant, Membership)>,
}

impl CachedChat {
    fn new() -> Self {
        CachedChat {
            admins: None,
            members: HashMap::new(),
        }
    }

    fn membership(&self, user_id: u64) -> Option<Membership> {
        if let Some((at, known)) = self.members.get(&user_id)
            && at.elapsed() < ADMIN_CACHE_TTL
        {
            return Some(*known);
        }
        // The admin list is the truth about admins, not about the others
        // (who may have left or been banned).
        let (at, admins) = self.admins.as_ref()?;
        let rights = admins.get(&user_id)?;
        (at.elapsed() < ADMIN_CACHE_TTL).then_some(Membership::Admin(*rights))
    }

    fn is_stale(&self) -> bool {
        self.admins
            .as_ref()
            .is_none_or(|(at, _)| at.elapsed() >= ADMIN_CACHE_TTL)
            && self
                .members
                .values()
                .all(|(at, _)| at.elapsed() >= ADMIN_CACHE_TTL)
    }
}

/// The member cache, with what keeps an answer fetched before an
/// invalidation from being stored after it.
#[derive(Default)]
struct AdminCache {
    chats: HashMap<i64, CachedChat>,
    /// Counts invalidations: a fetch notes it before asking Telegram.
    epoch: u64,
    /// The epoch of each chat's latest invalidation (recent ones).
    invalidated: HashMap<i64, u64>,
    /// The epoch of the latest invalidation of every chat at once.
    all_invalidated: u64,
    /// Chats where the bot was found a plain member, and when: its status
    /// need not be asked again with every user's.
    bot_not_admin: HashMap<i64, Instant>,
}

impl AdminCache {
    /// Whether an answer fetched from `started` on is still news for
    /// `chat_id`.
    fn current(&self, chat_id: i64, started: u64) -> bool {
        self.all_invalidated <= started
            && self
                .invalidated
                .get(&chat_id)
                .is_none_or(|epoch| *epoch <= started)
    }

    /// Outdates every fetch under way for `chat_id`.
    fn outdate(&mut self, chat_id: i64) {
        self.epoch += 1;
        if self.invalidated.len() >= ADMIN_CACHE_SWEEP_AT {
            // Forgetting which chats: every fetch under way is stale now.
            self.invalidated.clear();
            self.all_invalidated = self.epoch;
        } else {
            self.invalidated.insert(chat_id, self.epoch);
        }
    }

    fn invalidate(&mut self, chat_id: i64) {
        self.outdate(chat_id);
        self.chats.remove(&chat_id);
        self.bot_not_admin.remove(&chat_id);
    }

    fn invalidate_all(&mut self) {
        self.epoch += 1;
        self.chats.clear();
        self.bot_not_admin.clear();
        self.invalidated.clear();
        self.all_invalidated = self.epoch;
    }

    /// The entry of a chat where the bot is an administrator, made room for.
    fn entry(&mut self, chat_id: i64) -> &mut CachedChat {
        if !self.chats.contains_key(&chat_id) && self.chats.len() >= ADMIN_CACHE_SWEEP_AT {
            self.chats.retain(|_, chat| !chat.is_stale());
        }
        self.chats.entry(chat_id).or_insert_with(CachedChat::new)
    }
}

/// The most members remembered per chat; past it, aged-out ones are swept
/// and, should that not be enough, all are forgotten.
const MEMBERS_PER_CHAT: usize = 10_000;

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
                Ok(Role::Admin(Rights::ALL))
            }
        }
    }

    /// The check repeated on every use of an existing connection: the bot is
    /// still in the chat, the user is still a member (or admin), and a
    /// non-admin still may connect.
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
        match self.membership(chat_id, user_id).await? {
            Membership::Admin(rights) => Ok(Role::Admin(rights)),
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

    /// A user's standing in a group, and the bot's presence there: known
    /// where the bot is an administrator (from an earlier answer or a
    /// chat_member update), asked live elsewhere.
    pub async fn membership(
        &self,
        chat_id: i64,
        user_id: UserId,
    ) -> Result<Membership, AccessError> {
        if let Some(known) = self.cached(chat_id, user_id) {
            return Ok(known);
        }
        let started = self.lock_cache().epoch;
        let chat = ChatId(chat_id);
        let user_member = self.tg.call(GetChatMember::new(chat, user_id));
        // The bot's own standing is asked along only where nothing shows it
        // is in the chat; once asked, it also says whether answers are kept.
        let bot_known = self.bot_seen_in(chat_id) || !self.wants_bot_status(chat_id);
        let (bot, user_member) = if user_id == self.bot_id {
            // Asked about the bot itself: one call answers both.
            let member = user_member.await.map_err(classify)?;
            let bot = Membership::of(&member);
            if matches!(bot, Membership::Admin(_) | Membership::Member) {
                self.saw_bot_in(chat_id);
            }
            (Some(bot), Ok(member))
        } else if bot_known {
            (None, user_member.await)
        } else {
            let (bot_member, user_member) = tokio::join!(
                self.tg.call(GetChatMember::new(chat, self.bot_id)),
                user_member,
            );
            let bot = Membership::of(&bot_member.map_err(classify)?);
            match bot {
                Membership::Admin(_) | Membership::Member => self.saw_bot_in(chat_id),
                Membership::NotMember | Membership::Banned => {
                    return Err(AccessError::Denied(Denial::BotNotInChat));
                }
            }
            (Some(bot), user_member)
        };
        let membership = Membership::of(&user_member.map_err(classify)?);
        let mut cache = self.lock_cache();
        if cache.current(chat_id, started) {
            match bot {
                Some(Membership::Admin(_)) => {
                    cache.entry(chat_id);
                }
                // Not an administrator: nothing would report a change.
                Some(_) => {
                    cache.chats.remove(&chat_id);
                    if cache.bot_not_admin.len() >= ADMIN_CACHE_SWEEP_AT {
                        cache
                            .bot_not_admin
                            .retain(|_, at| at.elapsed() < ADMIN_CACHE_TTL);
                    }
                    cache.bot_not_admin.insert(chat_id, Instant::now());
                }
                None => {}
            }
            if let Some(entry) = cache.chats.get_mut(&chat_id) {
                if entry.members.len() >= MEMBERS_PER_CHAT {
                    entry
                        .members
                        .retain(|_, (at, _)| at.elapsed() < ADMIN_CACHE_TTL);
                    if entry.members.len() >= MEMBERS_PER_CHAT {
                        entry.members.clear();
                    }
                }
                entry
                    .members
                    .insert(user_id.0, (Instant::now(), membership));
            }
        }
        Ok(membership)
    }

    /// Whether the bot's own standing in `chat_id` is worth asking along
    /// with a user's: unknown there, it decides whether answers are kept.
    fn wants_bot_status(&self, chat_id: i64) -> bool {
        let cache = self.lock_cache();
        !cache.chats.contains_key(&chat_id)
            && cache
                .bot_not_admin
                .get(&chat_id)
                .is_none_or(|at| at.elapsed() >= ADMIN_CACHE_TTL)
    }

    /// A chat_member update: the member's new standing replaces what was
    /// known, here; answers under way are outdated. A change to or from
    /// administrator forgets the admin list too.
    pub fn member_changed(&self, chat_id: i64, user_id: UserId, now: Membership, admins: bool) {
        let mut cache = self.lock_cache();
        if admins {
            cache.invalidate(chat_id);
            return;
        }
        cache.outdate(chat_id);
        if let Some(entry) = cache.chats.get_mut(&chat_id) {
            entry.members.insert(user_id.0, (Instant::now(), now));
        }
    }

    /// The bot's own standing in a chat changed (a my_chat_member update):
    /// everything known there is forgotten, and as an administrator it
    /// starts keeping what it learns, Telegram now reporting every change.
    pub fn bot_changed(&self, chat_id: i64, now: Membership) {
        self.invalidate(chat_id);
        match now {
            Membership::Admin(_) => {
                let mut cache = self.lock_cache();
                cache
                    .entry(chat_id)
                    .members
                    .insert(self.bot_id.0, (Instant::now(), now));
            }
            Membership::Member => {
                self.lock_cache()
                    .bot_not_admin
                    .insert(chat_id, Instant::now());
            }
            Membership::NotMember | Membership::Banned => return,
        }
        self.saw_bot_in(chat_id);
    }

    /// castellan changed a member's standing itself: what was known of them
    /// is dropped, and answers under way outdated (the chat_member update
    /// that follows says what they are now).
    pub fn invalidate_member(&self, chat_id: i64, user_id: UserId) {
        let mut cache = self.lock_cache();
        cache.outdate(chat_id);
        if let Some(entry) = cache.chats.get_mut(&chat_id) {
            entry.members.remove(&user_id.0);
        }
    }

    /// An administrator's rights in a group, `None` for anyone else: for
    /// commands sent inside the group. From the cache where the bot is an
    /// administrator, else from the chat's admin list asked live.
    pub async fn admin_rights(
        &self,
        chat_id: i64,
        user_id: UserId,
    ) -> Result<Option<Rights>, TelegramError> {
        if let Some(known) = self.cached(chat_id, user_id) {
            return Ok(match known {
                Membership::Admin(rights) => Some(rights),
                _ => None,
            });
        }
        if let Some(known) = self.cached_admin_rights(chat_id, user_id) {
            return Ok(known);
        }
        // An invalidation that comes while Telegram answers makes this
        // answer stale: it is used once, not stored.
        let started = self.lock_cache().epoch;
        let list = self
            .tg
            .call(GetChatAdministrators::new(ChatId(chat_id)))
            .await?;
        let admins: HashMap<u64, Rights> = list
            .iter()
            .filter_map(|member| Some((member.user.id.0, Rights::of(member)?)))
            .collect();
        let rights = admins.get(&user_id.0).copied();
        if !admins.contains_key(&self.bot_id.0) {
            return Ok(rights);
        }
        let mut cache = self.lock_cache();
        if cache.current(chat_id, started) {
            cache.entry(chat_id).admins = Some((Instant::now(), admins));
        }
        Ok(rights)
    }

    fn cached(&self, chat_id: i64, user_id: UserId) -> Option<Membership> {
        let cache = self.lock_cache();
        if let Some(entry) = cache.chats.get(&chat_id) {
            return entry.membership(user_id.0);
        }
        // The bot found a plain member there lately: that much is known
        // of itself, though nothing is kept of the others.
        let plain = user_id == self.bot_id
            && cache
                .bot_not_admin
                .get(&chat_id)
                .is_some_and(|at| at.elapsed() < ADMIN_CACHE_TTL);
        plain.then_some(Membership::Member)
    }

    /// A user's rights by the chat's fresh cached admin list: `Some(None)`
    /// for anyone it leaves out.
    fn cached_admin_rights(&self, chat_id: i64, user_id: UserId) -> Option<Option<Rights>> {
        let cache = self.lock_cache();
        let (at, admins) = cache.chats.get(&chat_id)?.admins.as_ref()?;
        (at.elapsed() < ADMIN_CACHE_TTL).then(|| admins.get(&user_id.0).copied())
    }

    /// Forgets what the caches know of a chat's members and of the bot's
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
        let restrict = Rights::NONE.with(Right::RestrictMembers);
        for (chat, age) in [
            (-1, Duration::from_secs(60)),
            (-2, ADMIN_CACHE_TTL + Duration::from_secs(1)),
        ] {
            let fetched_at = now.checked_sub(age).unwrap();
            auth.lock_cache().entry(chat).admins = Some((fetched_at, [(7, restrict)].into()));
        }
        assert_eq!(
            auth.cached(-1, UserId(7)),
            Some(Membership::Admin(restrict))
        );
        assert_eq!(auth.cached(-1, UserId(8)), None, "not an admin: unknown");
        assert_eq!(auth.cached(-2, UserId(7)), None, "too old to trust");
    }

    /// A chat_member update replaces what was known of that member; a
    /// change of an admin's forgets the whole list.
    #[test]
    fn member_updates_replace_what_was_known() {
        let tg =
            Telegram::builder(&url::Url::parse("http://127.0.0.1:9").unwrap(), BOT_TOKEN).build();
        let auth = Auth::new(tg, UserId(BOT_ID as u64));
        auth.lock_cache().entry(-1).admins = Some((Instant::now(), [(7, Rights::ALL)].into()));
        auth.member_changed(-1, UserId(8), Membership::Banned, false);
        assert_eq!(auth.cached(-1, UserId(8)), Some(Membership::Banned));
        assert_eq!(
            auth.cached(-1, UserId(7)),
            Some(Membership::Admin(Rights::ALL))
        );
        auth.member_changed(-1, UserId(7), Membership::Member, true);
        assert_eq!(auth.cached(-1, UserId(7)), None);
        assert_eq!(auth.cached(-1, UserId(8)), None);
        // Where the bot is no admin nothing is kept.
        auth.member_changed(-2, UserId(8), Membership::Banned, false);
        assert_eq!(auth.cached(-2, UserId(8)), None);
    }

    #[test]
    fn rights_are_held_one_by_one() {
        let rights = Rights::NONE.with(Right::ChangeInfo);
        assert!(rights.holds(Right::ChangeInfo));
        assert!(!rights.holds(Right::RestrictMembers));
        for right in Right::ALL {
            assert!(Rights::ALL.holds(right));
            assert!(!Rights::NONE.holds(right));
            assert!(Role::Admin(Rights::ALL).holds(right));
            assert!(!Role::Member.holds(right));
        }
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
            tokio::spawn(async move { auth.admin_rights(chat, UserId(ada as u64)).await })
        };
        // While Telegram takes its time, Ada is demoted.
        tokio::time::sleep(Duration::from_millis(500)).await;
        auth.invalidate(chat);
        assert!(
            asking.await.unwrap().unwrap().is_some(),
            "the answer of its time"
        );
        assert_eq!(auth.cached(chat, UserId(ada as u64)), None);

        // Without an invalidation, the list is kept.
        let rights = auth.admin_rights(chat, UserId(ada as u64)).await.unwrap();
        assert!(rights.is_some());
        assert_eq!(
            auth.cached(chat, UserId(ada as u64)),
            rights.map(Membership::Admin)
        );
    }
}
