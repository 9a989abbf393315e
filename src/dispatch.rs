//! Routing: every update kind the bot listens to, and the routing of
//! commands, deep links and buttons to their modules.
//!
//! Each endpoint runs its handler behind a guard: an error or a panic is
//! logged and the user told, never left in silence, and the chat's lane
//! (see [`crate::intake`]) lives on to take the chat's next update.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use teloxide::prelude::*;
use teloxide::types::{
    AllowedUpdate, BusinessConnection, BusinessMessagesDeleted, CallbackQuery, ChatMemberUpdated,
    MaybeInaccessibleMessage, UpdateKind, User,
};

use crate::business::connection_id_of;
use crate::context::{
    AppState, Ctx, HandlerError, HandlerResult, is_group, resolve_target, send_html,
};
use crate::i18n::Lang;
use crate::metrics::CommandOutcome;
use crate::modules::registry::{
    self, Guarded, Inspected, MemberRun, ParsedCommand, Press, Scope, Verdict,
};
use crate::modules::{answer, business, notes, plain};
use crate::pace::Pace;
use crate::t;
use crate::telegram::{Refusal, TelegramError};

/// The update kinds [`route`] handles: what castellan asks Telegram for,
/// in getUpdates and setWebhook alike.
pub const ALLOWED_UPDATES: [AllowedUpdate; 8] = [
    AllowedUpdate::Message,
    AllowedUpdate::CallbackQuery,
    AllowedUpdate::ChatMember,
    AllowedUpdate::MyChatMember,
    AllowedUpdate::BusinessConnection,
    AllowedUpdate::BusinessMessage,
    AllowedUpdate::EditedBusinessMessage,
    AllowedUpdate::DeletedBusinessMessages,
];

/// What came of handling an update, for the intake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Done: whatever happened, the user heard of it or it was logged.
    Done,
    /// Telegram or the database was unavailable: worth doing again later.
    Unavailable,
}

impl Handled {
    fn of<T>(outcome: &Result<T, Failure>) -> Handled {
        match outcome {
            Err(Failure::TelegramUnavailable | Failure::StorageUnavailable) => Handled::Unavailable,
            _ => Handled::Done,
        }
    }
}

/// Whether an update asks anything of castellan: plain chatter (unless a
/// module watching group messages has work for it) and kinds not asked for
/// do not. Cheap: nothing is cloned, nothing waited for.
pub fn asks_anything(update: &Update, state: &AppState) -> bool {
    match &update.kind {
        UpdateKind::Message(msg) => {
            !Asked::of(msg, &state.bot_username).nothing()
                || observed(msg, state)
                || guards_have_work(msg, state)
        }
        UpdateKind::CallbackQuery(_)
        | UpdateKind::ChatMember(_)
        | UpdateKind::MyChatMember(_)
        | UpdateKind::BusinessConnection(_)
        | UpdateKind::BusinessMessage(_)
        | UpdateKind::EditedBusinessMessage(_)
        | UpdateKind::DeletedBusinessMessages(_) => true,
        // Not asked for (see `ALLOWED_UPDATES`): Telegram sends none.
        _ => false,
    }
}

/// The handler an update needs, if any: none for kinds not asked for. The
/// intake lets plain chatter go first ([`asks_anything`]); the message
/// handler finds it asks nothing should it come anyway. Only what a handler
/// will use is cloned. `attempt` counts the runs before that failed on an
/// outage: the user was told then, and is not told again.
pub fn route(
    update: &Update,
    state: Arc<AppState>,
    attempt: u32,
) -> Option<BoxFuture<'static, Handled>> {
    let tell = attempt == 0;
    let handler = match &update.kind {
        UpdateKind::Message(msg) => message_endpoint(msg.clone(), state, tell).boxed(),
        UpdateKind::CallbackQuery(query) => callback_endpoint(query.clone(), state, tell).boxed(),
        UpdateKind::ChatMember(member) => chat_member_endpoint(member.clone(), state).boxed(),
        UpdateKind::MyChatMember(member) => my_chat_member_endpoint(member.clone(), state).boxed(),
        UpdateKind::BusinessConnection(connection) => {
            business_connection_endpoint(connection.clone(), state).boxed()
        }
        UpdateKind::BusinessMessage(msg) => business_message_endpoint(msg.clone(), state).boxed(),
        UpdateKind::EditedBusinessMessage(msg) => {
            edited_business_message_endpoint(msg.clone(), state).boxed()
        }
        UpdateKind::DeletedBusinessMessages(deleted) => {
            deleted_business_messages_endpoint(deleted.clone(), state).boxed()
        }
        _ => return None,
    };
    Some(handler)
}

/// What a message asks of castellan.
struct Asked<'m> {
    /// Its text, unless it was posted in a channel.
    text: Option<&'m str>,
    command: Option<ParsedCommand<'m>>,
    /// A `#name` note shortcut in a group.
    hashtag: bool,
}

impl<'m> Asked<'m> {
    fn of(msg: &'m Message, bot_username: &str) -> Self {
        let text = msg.text().filter(|_| !msg.chat.is_channel());
        let command = text.and_then(|text| registry::parse(text, bot_username));
        let hashtag =
            command.is_none() && !msg.chat.is_private() && text.is_some_and(|t| t.starts_with('#'));
        Asked {
            text,
            command,
            hashtag,
        }
    }

    /// Plain chatter: a text that is neither a command nor a `#name`. It
    /// asks nothing of castellan, and nothing is built or recorded for it.
    fn nothing(&self) -> bool {
        self.text.is_some() && self.command.is_none() && !self.hashtag
    }
}

fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic")
}

/// What went wrong in a handler, as far as the user is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Telegram did not answer: worth trying again.
    TelegramUnavailable,
    /// Telegram refused, for a reason the user should hear.
    TelegramRefused(&'static str),
    /// Telegram refused where nobody is left to tell (the user blocked the
    /// bot, a press answered too late): logged only.
    Quiet,
    /// The database cannot be reached: worth trying again shortly.
    StorageUnavailable,
    /// A bug or a panic.
    Internal,
}

impl Failure {
    fn of(error: &HandlerError) -> Self {
        match error {
            HandlerError::Telegram(error) if error.is_unavailable() => Failure::TelegramUnavailable,
            // The outbox logged it; there is nobody to tell in time.
            HandlerError::Telegram(TelegramError::Dropped { .. }) => Failure::Quiet,
            HandlerError::Telegram(error) => match error.refusal() {
                Some(Refusal::ChatNotFound) => {
                    Failure::TelegramRefused("error-telegram-chat-not-found")
                }
                Some(Refusal::BotNotInChat) => {
                    Failure::TelegramRefused("error-telegram-bot-not-in-chat")
                }
                Some(Refusal::BotLacksRights) => {
                    Failure::TelegramRefused("error-telegram-bot-lacks-rights")
                }
                Some(
                    Refusal::UserBlockedBot
                    | Refusal::QueryExpired
                    | Refusal::NotModified
                    | Refusal::MessageGone,
                ) => Failure::Quiet,
                _ => Failure::Internal,
            },
            HandlerError::Store(error) if error.is_unavailable() => Failure::StorageUnavailable,
            HandlerError::Store(_) => Failure::Internal,
        }
    }

    /// What the user is told, if anything.
    fn locale_key(self) -> Option<&'static str> {
        match self {
            Failure::TelegramUnavailable => Some("error-telegram-unavailable"),
            Failure::TelegramRefused(key) => Some(key),
            Failure::Quiet => None,
            Failure::StorageUnavailable => Some("error-storage-unavailable"),
            Failure::Internal => Some("error-internal"),
        }
    }
}

/// Runs a handler; on error or panic logs it and says what to tell the user.
async fn guarded(what: &str, handler: impl Future<Output = HandlerResult>) -> Result<(), Failure> {
    match AssertUnwindSafe(handler).catch_unwind().await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => {
            let failure = Failure::of(&error);
            match failure {
                Failure::Quiet => tracing::info!(%error, "{what}: Telegram refused a call"),
                Failure::TelegramUnavailable
                | Failure::TelegramRefused(_)
                | Failure::StorageUnavailable => tracing::warn!(%error, "{what} failed"),
                Failure::Internal => tracing::error!(%error, "{what} failed"),
            }
            Err(failure)
        }
        Err(panic) => {
            tracing::error!(panic = panic_text(panic.as_ref()), "{what} panicked");
            Err(Failure::Internal)
        }
    }
}

/// Whether a module watching group messages has work for this one.
fn observed(msg: &Message, state: &AppState) -> bool {
    registry::modules()
        .filter_map(|m| m.interests.observe)
        .any(|(check, _)| check(state, msg))
}

/// Whether a group message has work to do with its chat's guards: when
/// they are not loaded yet (its handler reads them), or when one fires.
/// A chat with none costs one map lookup.
fn guards_have_work(msg: &Message, state: &AppState) -> bool {
    if !is_group(&msg.chat) {
        return false;
    }
    let Some(guards) = state.guards.get(msg.chat.id.0) else {
        return true;
    };
    if guards.is_empty() {
        return false;
    }
    let inspected = inspect(msg, &guards);
    registry::guards()
        .iter()
        .any(|guard| (guard.fires)(&guards, &inspected))
}

/// A message as every guard sees it: computed once.
fn inspect<'m>(msg: &'m Message, guards: &crate::guards::ChatGuards) -> Inspected<'m> {
    let text = msg.text().or_else(|| msg.caption());
    let hits = text.map_or_else(Vec::new, |text| guards.hits(&crate::guards::fold(text)));
    Inspected {
        msg,
        kinds: crate::guards::LockKind::of(msg),
        hits,
    }
}

/// Runs a group message past its chat's guards, in stage order; `Stop`
/// when one dealt with it (nothing else, commands included, fires).
async fn guard(msg: &Message, state: &AppState) -> Result<Verdict, HandlerError> {
    if !is_group(&msg.chat) || msg.from.is_none() {
        return Ok(Verdict::Pass);
    }
    let guards = state.chat_guards(msg.chat.id.0).await?;
    if guards.is_empty() {
        return Ok(Verdict::Pass);
    }
    let inspected = inspect(msg, &guards);
    let guarded = Guarded {
        state,
        msg,
        guards: &guards,
        inspected: &inspected,
        exempt: tokio::sync::OnceCell::new(),
    };
    for watch in registry::guards() {
        if (watch.fires)(&guards, &inspected) && (watch.run)(&guarded).await? == Verdict::Stop {
            return Ok(Verdict::Stop);
        }
    }
    Ok(Verdict::Pass)
}

/// Runs the watchers that have work for a message: nobody asked, so a
/// failure is logged, and the message's own handling goes on.
async fn observe(msg: &Message, state: &AppState) -> Handled {
    let mut handled = Handled::Done;
    for (check, run) in registry::modules().filter_map(|m| m.interests.observe) {
        if check(state, msg) {
            let outcome = guarded("message watcher", run(state, msg)).await;
            if Handled::of(&outcome) == Handled::Unavailable {
                handled = Handled::Unavailable;
            }
        }
    }
    handled
}

async fn message_endpoint(msg: Message, state: Arc<AppState>, tell: bool) -> Handled {
    let started = Instant::now();
    let watched = observe(&msg, &state).await;
    // The guards come before anything the message asks: a deleted message
    // fires nothing. Nobody asked for them: a failure is logged.
    let mut stopped = false;
    let guards = guarded("message guards", async {
        stopped = guard(&msg, &state).await? == Verdict::Stop;
        Ok(())
    })
    .await;
    if Handled::of(&guards) == Handled::Unavailable {
        return Handled::Unavailable;
    }
    if stopped {
        return watched;
    }
    let asked = Asked::of(&msg, &state.bot_username);
    if asked.nothing() {
        return watched;
    }
    let name = asked.command.as_ref().map(|command| command.spec.name);
    if (asked.command.is_some() || asked.hashtag)
        && let Some(user) = msg.from.as_ref()
        && !keeps_pace(&msg, user, &state).await
    {
        if let Some(name) = name {
            state.metrics.command(name, CommandOutcome::Slowed);
        }
        return Handled::Done;
    }
    // A group's command or service message reached the bot: it is in that
    // group (until a my_chat_member update says otherwise), so connection
    // checks need not ask Telegram about the bot itself.
    if is_group(&msg.chat) && msg.migrate_to_chat_id().is_none() {
        state.auth.saw_bot_in(msg.chat.id.0);
    }
    // Boxed: the command handlers' future is large, and kept out of this
    // one, which every message builds.
    let handler = Box::pin(on_message(&msg, &state, asked));
    let outcome = handle_message(&msg, &state, handler, tell).await;
    if let Some(name) = name {
        let outcome = match outcome {
            Ok(()) => CommandOutcome::Ok,
            Err(_) => CommandOutcome::Failed,
        };
        state.metrics.command(name, outcome);
    }
    state.metrics.handler_time(started.elapsed());
    Handled::of(&outcome)
}

/// Runs a message's handler under the guard, and tells the sender (when
/// `tell`: not again on a retry) when it failed in a way they should hear
/// of.
async fn handle_message(
    msg: &Message,
    state: &AppState,
    handler: impl Future<Output = HandlerResult>,
    tell: bool,
) -> Result<(), Failure> {
    let outcome = guarded("message handler", handler).await;
    if let (Err(failure), Some(user), true) = (outcome, msg.from.as_ref(), tell)
        && let Some(key) = failure.locale_key()
    {
        let text = t!(Lang::from_code(user.language_code.as_deref()), key);
        if let Err(error) = reply_to_sender(msg, state, text) {
            tracing::warn!(%error, "could not tell a user that their command failed");
        }
    }
    outcome
}

/// Answers `msg` where it was sent, as a reply to it in groups: for the
/// dispatcher's own notices, sent without a handler's `Ctx`.
fn reply_to_sender(
    msg: &Message,
    state: &AppState,
    html: String,
) -> Result<(), crate::telegram::TelegramError> {
    let reply_to = (!msg.chat.is_private()).then_some(msg.id);
    let lang = Lang::from_code(msg.from.as_ref().and_then(|u| u.language_code.as_deref()));
    send_html(&state.telegram, msg.chat.id, html, reply_to, None, lang)
}

/// "Too fast, wait N s", N rounded up to a whole second.
fn slow_down_text(lang: Lang, wait: std::time::Duration) -> String {
    let seconds = i64::try_from(wait.as_secs().max(1)).unwrap_or(i64::MAX);
    t!(lang, "error-slow-down", seconds = seconds)
}

async fn callback_endpoint(query: CallbackQuery, state: Arc<AppState>, tell: bool) -> Handled {
    let started = Instant::now();
    let outcome = guarded("button handler", on_callback(&query, &state)).await;
    state.metrics.handler_time(started.elapsed());
    if let (Err(failure), true) = (&outcome, tell)
        && let Some(key) = failure.locale_key()
    {
        let lang = Lang::from_code(query.from.language_code.as_deref());
        // The query may already be answered; then this fails and that is fine.
        let _ = answer(&state.telegram, &query, Some(plain(&t!(lang, key))), true).await;
    }
    Handled::of(&outcome)
}

async fn chat_member_endpoint(update: ChatMemberUpdated, state: Arc<AppState>) -> Handled {
    let work = member_interests(&update, &state, |i| i.chat_member);
    Handled::of(&guarded("chat_member handler", work).await)
}

async fn my_chat_member_endpoint(update: ChatMemberUpdated, state: Arc<AppState>) -> Handled {
    let work = member_interests(&update, &state, |i| i.my_chat_member);
    Handled::of(&guarded("my_chat_member handler", work).await)
}

/// Hands a member update to every module that wants its kind, in registry
/// order; the first failure ends the round (the update is done again).
async fn member_interests(
    update: &ChatMemberUpdated,
    state: &AppState,
    kind: fn(&registry::Interests) -> Option<MemberRun>,
) -> HandlerResult {
    for run in registry::modules().filter_map(|m| kind(&m.interests)) {
        run(state, update).await?;
    }
    Ok(())
}

/// Service messages for the modules that keep something about a group;
/// `true` when one took it.
async fn service_interests(msg: &Message, state: &AppState) -> Result<bool, HandlerError> {
    for run in registry::modules().filter_map(|m| m.interests.service_message) {
        if run(state, msg).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

async fn on_message(msg: &Message, state: &AppState, asked: Asked<'_>) -> HandlerResult {
    if service_interests(msg, state).await? {
        return Ok(());
    }
    let Some(user) = msg.from.as_ref() else {
        return Ok(());
    };
    // No text in channel posts either: castellan does not serve channels.
    let Some(text) = asked.text else {
        return Ok(());
    };
    let ctx = Ctx {
        tg: &state.telegram,
        state,
        msg,
        user,
        lang: Lang::from_code(user.language_code.as_deref()),
    };
    let Some(command) = asked.command else {
        if asked.hashtag {
            return notes::hashtag(&ctx, text).await;
        }
        return Ok(());
    };
    if !ctx.is_private() && disabled_for_sender(&ctx, &command).await? {
        return Ok(());
    }
    match command.spec.scope {
        Scope::Personal { in_groups, run } => {
            if !in_groups && !ctx.is_private() {
                ctx.reply(t!(ctx.lang, "error-pm-only", command = command.spec.name))
                    .await?;
                return Ok(());
            }
            run(&ctx, &command).await
        }
        Scope::Space { access, via, run } => {
            let Some(target) = resolve_target(&ctx, command.spec.name, access, via).await? else {
                return Ok(());
            };
            run(&ctx, &target, &command).await
        }
    }
}

/// A command the group disabled, sent by a member: ignored (its message
/// deleted when the group asks for that). Admins keep every command.
async fn disabled_for_sender(
    ctx: &Ctx<'_>,
    command: &ParsedCommand<'_>,
) -> Result<bool, HandlerError> {
    if !command.spec.disableable {
        return Ok(false);
    }
    let chat_id = ctx.msg.chat.id.0;
    let guards = ctx.state.chat_guards(chat_id).await?;
    if !guards.disabled.contains(command.spec.name) || ctx.group_role().await?.is_admin() {
        return Ok(false);
    }
    if guards.disabled_delete
        && let Err(error) = ctx
            .tg
            .call(teloxide::payloads::DeleteMessage::new(
                ctx.msg.chat.id,
                ctx.msg.id,
            ))
            .await
    {
        tracing::debug!(%error, "could not delete a disabled command");
    }
    Ok(true)
}

/// Takes one command from the sender's budget; `false` when they are too
/// fast (told once, then ignored until the budget refills).
async fn keeps_pace(msg: &Message, user: &User, state: &AppState) -> bool {
    let wait = match state.pace.take(pace_key(msg, user)) {
        Pace::Serve => return true,
        Pace::Ignore => return false,
        Pace::SlowDown { wait } => wait,
    };
    let text = slow_down_text(Lang::from_code(user.language_code.as_deref()), wait);
    if let Err(error) = reply_to_sender(msg, state, text) {
        tracing::info!(%error, "could not tell a user to slow down");
    }
    false
}

/// Whose budget a message spends: its sender's, or for a stand-in (one id
/// for every anonymous admin, channel and linked channel) the chat it
/// speaks for, so that one group's anonymous admins never slow another's.
/// Chat ids are negative: as keys they never meet a user's id.
fn pace_key(msg: &Message, user: &User) -> u64 {
    if !crate::telegram::is_stand_in(user.id.0) {
        return user.id.0;
    }
    let chat = msg.sender_chat.as_ref().map_or(msg.chat.id, |chat| chat.id);
    chat.0 as u64
}

async fn on_callback(query: &CallbackQuery, state: &AppState) -> HandlerResult {
    let tg = &state.telegram;
    let lang = Lang::from_code(query.from.language_code.as_deref());
    // Presses cost Telegram calls like commands do, and share their budget.
    match state.pace.take(query.from.id.0) {
        Pace::Serve => {}
        Pace::SlowDown { wait } => {
            let text = plain(&slow_down_text(lang, wait));
            return Ok(answer(tg, query, Some(text), true).await?);
        }
        // Unanswered, the button would spin on the user's screen.
        Pace::Ignore => return Ok(answer(tg, query, None, false).await?),
    }
    let message = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => Some(message.as_ref()),
        _ => None,
    };
    // A business chat has its customer's id, the same number as that
    // customer's PM with the bot: it must never pass for a PM.
    if message.is_some_and(|message| connection_id_of(message).is_some()) {
        return business::callback(tg, query, lang).await;
    }
    // Every button the bot makes lives in the presser's private chat. Callback
    // data can be forged on any message, so a press anywhere else is refused
    // rather than letting it rewrite a group's message.
    let chat_id = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => Some(message.chat.id),
        Some(MaybeInaccessibleMessage::Inaccessible(message)) => Some(message.chat.id),
        None => None,
    };
    let in_own_pm = chat_id.is_some_and(|chat| chat.0 == query.from.id.0 as i64);
    let data = query.data.as_deref().unwrap_or_default();
    match registry::button(data) {
        Some(button) if in_own_pm || button.in_groups => {
            let press = Press {
                tg,
                state,
                query,
                lang,
                data,
            };
            (button.run)(&press).await
        }
        _ => {
            answer(tg, query, Some(t!(lang, "button-unknown")), true).await?;
            Ok(())
        }
    }
}

async fn business_connection_endpoint(
    connection: BusinessConnection,
    state: Arc<AppState>,
) -> Handled {
    let work = business::connection_update(&state.telegram, &state, &connection);
    // Nobody asked for this update: a failure is logged, not replied to.
    Handled::of(&guarded("business connection handler", work).await)
}

async fn business_message_endpoint(msg: Message, state: Arc<AppState>) -> Handled {
    // Customers never hear of castellan's failures: they wrote to a business.
    let work = business::message(&state.telegram, &state, &msg);
    Handled::of(&guarded("business message handler", work).await)
}

async fn edited_business_message_endpoint(msg: Message, state: Arc<AppState>) -> Handled {
    let work = business::edited_message(&state, &msg);
    Handled::of(&guarded("edited business message handler", work).await)
}

async fn deleted_business_messages_endpoint(
    deleted: BusinessMessagesDeleted,
    state: Arc<AppState>,
) -> Handled {
    let work = business::deleted_messages(&state, &deleted);
    Handled::of(&guarded("deleted business messages handler", work).await)
}

#[cfg(test)]
mod tests {

    use fake_bot_api::{BOT_ID, BOT_TOKEN, FakeTelegram};
    use url::Url;

    use super::*;
    use crate::auth::Auth;
    use crate::business::BusinessConnections;
    use crate::pace::UserPace;
    use crate::store::{DatabaseUrl, open};
    use crate::telegram::Telegram;

    trait FromKind {
        fn from_kind(kind: &str) -> AllowedUpdate;
    }

    impl FromKind for AllowedUpdate {
        fn from_kind(kind: &str) -> AllowedUpdate {
            serde_json::from_value(serde_json::json!(kind)).unwrap()
        }
    }

    async fn app_state(api_url: &Url) -> Arc<AppState> {
        let tg = Telegram::builder(api_url, BOT_TOKEN)
            .send_limits(None)
            .build();
        let store = open(&DatabaseUrl::parse("sqlite::memory:").unwrap())
            .await
            .unwrap();
        Arc::new(AppState {
            telegram: tg.clone(),
            store: Arc::clone(&store),
            auth: Auth::new(tg.clone(), UserId(BOT_ID as u64)),
            business: BusinessConnections::new(tg.clone(), store),
            bot_username: fake_bot_api::BOT_USERNAME.to_owned(),
            reads_all_group_messages: true,
            pace: UserPace::new(false),
            business_pace: UserPace::new(false),
            metrics: Arc::new(crate::metrics::Metrics::new().unwrap()),
            directory: Default::default(),
            guards: Default::default(),
        })
    }

    /// A handler that panics is contained: its user is told, and the
    /// chat's next update is answered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_is_contained_and_the_chat_still_answered() {
        let fake = FakeTelegram::start().await;
        let api_url = Url::parse(&fake.api_url()).unwrap();
        let state = app_state(&api_url).await;
        let user = fake.add_user("Ann");
        // The user writes first: the bot cannot start a conversation.
        fake.send_text(user, user, "boom");
        let msg = message(
            serde_json::json!({"id": user, "type": "private", "first_name": "Ann"}),
            Some("boom"),
        );
        let outcome = handle_message(&msg, &state, async { panic!("a bug") }, true).await;
        assert_eq!(outcome, Err(Failure::Internal));
        let told = fake.next_message(user).await;
        assert!(
            told.text.starts_with("Something went wrong"),
            "{}",
            told.text
        );
        let msg = message(
            serde_json::json!({"id": user, "type": "private", "first_name": "Ann"}),
            Some("/id"),
        );
        let mut msg = msg;
        msg.from.as_mut().unwrap().id = UserId(user as u64);
        let asked = Asked::of(&msg, &state.bot_username);
        let outcome = handle_message(&msg, &state, on_message(&msg, &state, asked), true).await;
        assert_eq!(outcome, Ok(()));
        assert_eq!(
            fake.next_message(user).await.text,
            format!("Your id: {user}")
        );
    }

    /// Every kind asked of Telegram is routed, and nothing else is.
    #[tokio::test]
    async fn every_allowed_kind_is_routed() {
        let fake = FakeTelegram::start().await;
        let api_url = Url::parse(&fake.api_url()).unwrap();
        let state = app_state(&api_url).await;
        let chat = serde_json::json!({"id": -100, "type": "supergroup", "title": "Team"});
        let user = serde_json::json!({"id": 7, "is_bot": false, "first_name": "Ann"});
        let member = serde_json::json!({"status": "member", "user": user});
        let updated = serde_json::json!({"chat": chat, "from": user, "date": 0,
            "old_chat_member": member, "new_chat_member": member});
        let command = serde_json::json!({"message_id": 1, "date": 0, "chat": chat,
            "from": user, "text": "/id"});
        let business = serde_json::json!({"message_id": 1, "date": 0,
            "chat": {"id": 7, "type": "private", "first_name": "Ann"},
            "from": user, "text": "#hi", "business_connection_id": "b"});
        let kinds = [
            ("message", command.clone()),
            (
                "callback_query",
                serde_json::json!({"id": "q", "from": user,
                "chat_instance": "i", "data": "x"}),
            ),
            ("chat_member", updated.clone()),
            ("my_chat_member", updated),
            (
                "business_connection",
                serde_json::json!({"id": "b", "user": user,
                "user_chat_id": 7, "date": 0, "is_enabled": true}),
            ),
            ("business_message", business.clone()),
            ("edited_business_message", business),
            (
                "deleted_business_messages",
                serde_json::json!({"business_connection_id": "b",
                "chat": {"id": 7, "type": "private", "first_name": "Ann"},
                "message_ids": [{"message_id": 1}]}),
            ),
        ];
        let mut routed = Vec::new();
        for (kind, value) in kinds {
            let mut update = serde_json::Map::new();
            update.insert("update_id".into(), 1.into());
            update.insert(kind.into(), value);
            // teloxide's Update only parses from text: it borrows its keys.
            let update: Update = serde_json::from_str(&serde_json::Value::from(update).to_string())
                .unwrap_or_else(|error| panic!("{kind}: {error}"));
            assert!(
                !matches!(update.kind, UpdateKind::Error(_)),
                "{kind} does not parse: {update:?}"
            );
            if route(&update, Arc::clone(&state), 0).is_some() {
                routed.push(format!("{:?}", AllowedUpdate::from_kind(kind)));
            }
        }
        let ours: Vec<String> = ALLOWED_UPDATES.iter().map(|u| format!("{u:?}")).collect();
        assert_eq!(routed, ours);
        let edited: Update = serde_json::from_str(
            &serde_json::json!({"update_id": 2, "edited_message": command}).to_string(),
        )
        .unwrap();
        assert!(
            route(&edited, state, 0).is_none(),
            "not asked for, not routed"
        );
    }

    fn message(chat: serde_json::Value, text: Option<&str>) -> Message {
        let mut msg = serde_json::json!({
            "message_id": 1, "date": 0, "chat": chat,
            "from": {"id": 7, "is_bot": false, "first_name": "Ann"},
        });
        match text {
            Some(text) => msg["text"] = text.into(),
            None => msg["new_chat_title"] = "Renamed".into(),
        }
        serde_json::from_value(msg).unwrap()
    }

    /// Only plain chatter is let go before a handler runs: commands,
    /// `#name` in groups, service messages and channel posts all reach
    /// `message_endpoint`.
    #[test]
    fn only_plain_chatter_asks_nothing() {
        let group = serde_json::json!({"id": -100, "type": "supergroup", "title": "Team"});
        let private = serde_json::json!({"id": 7, "type": "private", "first_name": "Ann"});
        let channel = serde_json::json!({"id": -200, "type": "channel", "title": "News"});
        let bot = fake_bot_api::BOT_USERNAME;
        let asks_nothing = |chat: &serde_json::Value, text: Option<&str>| {
            Asked::of(&message(chat.clone(), text), bot).nothing()
        };
        assert!(asks_nothing(&group, Some("just talking")));
        assert!(asks_nothing(&private, Some("hello")));
        // A #name is a shortcut in groups only.
        assert!(asks_nothing(&private, Some("#welcome")));
        assert!(!asks_nothing(&group, Some("#welcome")));
        assert!(!asks_nothing(&group, Some("/get welcome")));
        assert!(!asks_nothing(&private, Some("/id")));
        // A command for another bot is chatter.
        assert!(asks_nothing(&group, Some("/id@other_bot")));
        assert!(!asks_nothing(&group, None), "a service message");
        assert!(!asks_nothing(&channel, Some("a post")), "a channel post");
    }
}
