//! Bans, mutes and kicks: who may be acted on, what Telegram is asked, what
//! is recorded and announced. Commands, the warn limit and an anonymous
//! admin's confirmed command all end in [`apply`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use teloxide::payloads::{
    BanChatMemberSetters, RestrictChatMember, RestrictChatMemberSetters, UnbanChatMemberSetters,
};
use teloxide::prelude::*;
use teloxide::types::{ChatPermissions, InlineKeyboardButton, InlineKeyboardMarkup, User};

use super::duration;
use super::subject::{self, Subject};
use crate::auth::{AccessError, Denial, Membership, Right};
use crate::context::{AppState, Ctx, HandlerError, HandlerResult, Target, lacks_right_text};
use crate::i18n::{Html, Lang};
use crate::modules::registry::{ParsedCommand, Press};
use crate::modules::{answer, edit_or_send, plain};
use crate::store::ModAction;
use crate::t;
use crate::telegram::{Refusal, TelegramError};

/// What a moderation command does to its subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sanction {
    Ban,
    TempBan,
    Unban,
    Kick,
    Mute,
    TempMute,
    Unmute,
}

impl Sanction {
    /// The action's name in the log (and its command's).
    pub fn name(self) -> &'static str {
        match self {
            Sanction::Ban => "ban",
            Sanction::TempBan => "tban",
            Sanction::Unban => "unban",
            Sanction::Kick => "kick",
            Sanction::Mute => "mute",
            Sanction::TempMute => "tmute",
            Sanction::Unmute => "unmute",
        }
    }

    pub fn by_name(name: &str) -> Option<Sanction> {
        [
            Sanction::Ban,
            Sanction::TempBan,
            Sanction::Unban,
            Sanction::Kick,
            Sanction::Mute,
            Sanction::TempMute,
            Sanction::Unmute,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }

    fn timed(self) -> bool {
        matches!(self, Sanction::TempBan | Sanction::TempMute)
    }

    /// Whether the subject must be in the group for it to make sense.
    fn needs_member(self) -> bool {
        matches!(
            self,
            Sanction::Kick | Sanction::Mute | Sanction::TempMute | Sanction::Unmute
        )
    }
}

/// Who acts where: the group, its title, the admin, and whether through a
/// connection.
#[derive(Clone, Copy)]
pub struct Acting<'a> {
    pub chat_id: i64,
    pub title: &'a str,
    pub actor: &'a User,
    pub via_connection: bool,
}

impl<'a> Acting<'a> {
    /// A command's sender acting on the group `chat_id` of `target`.
    pub fn of(ctx: &'a Ctx<'_>, chat_id: i64, target: &'a Target) -> Self {
        Acting {
            chat_id,
            title: &target.title,
            actor: ctx.user,
            via_connection: target.via_connection,
        }
    }
}

/// One request to act on someone, checked and carried out by [`apply`].
pub struct Request<'a> {
    pub acting: Acting<'a>,
    pub subject: Subject,
    pub sanction: Sanction,
    pub duration: Option<Duration>,
    pub reason: Option<String>,
}

/// What came of a request, as HTML for whoever asked.
pub enum Applied {
    /// Done, recorded; the announcement for the group.
    Done(String),
    /// Refused, with the reason.
    Refused(String),
}

/// Why a subject cannot be acted on, checked before Telegram is asked.
async fn refusal(
    state: &AppState,
    lang: Lang,
    request: &Request<'_>,
) -> Result<Option<String>, HandlerError> {
    let subject = request.subject.id;
    let actor = request.acting.actor;
    if let Some(text) = not_a_subject(state, lang, actor, subject, request.sanction.name()) {
        return Ok(Some(text));
    }
    // The bot's own right first: without it nothing else matters.
    let bot = state.auth.bot_id();
    match state.auth.membership(request.acting.chat_id, bot).await {
        Ok(standing) if standing.holds(Right::RestrictMembers) => {}
        Ok(_) => return Ok(Some(bot_lacks_right(lang, request.acting.title))),
        Err(error) => return access_refusal(lang, error).map(Some),
    }
    let standing = match state
        .auth
        .membership(request.acting.chat_id, UserId(subject as u64))
        .await
    {
        Ok(standing) => standing,
        // Telegram knows no such user here: a ban still keeps them out.
        Err(AccessError::Denied(Denial::NotMember)) => Membership::NotMember,
        Err(error) => return access_refusal(lang, error).map(Some),
    };
    let mention = Html(request.subject.mention());
    Ok(match standing {
        Membership::Admin(_) => Some(t!(lang, "mod-target-admin", user = mention)),
        Membership::NotMember | Membership::Banned if request.sanction.needs_member() => {
            Some(t!(lang, "mod-not-in-group", user = mention))
        }
        Membership::Member | Membership::NotMember if request.sanction == Sanction::Unban => {
            Some(t!(lang, "mod-not-banned", user = mention))
        }
        _ => None,
    })
}

/// Who no moderation action is ever about, whatever their standing: the
/// sender, the bot, and the stand-ins (anonymous admins, channels).
pub fn not_a_subject(
    state: &AppState,
    lang: Lang,
    actor: &User,
    subject: i64,
    action: &str,
) -> Option<String> {
    if subject == actor.id.0 as i64 {
        Some(t!(lang, "mod-not-yourself", action = action))
    } else if subject == state.auth.bot_id().0 as i64 {
        Some(t!(lang, "mod-not-the-bot", action = action))
    } else if crate::telegram::is_stand_in(subject as u64) {
        Some(t!(lang, "mod-stand-in"))
    } else {
        None
    }
}

fn bot_lacks_right(lang: Lang, title: &str) -> String {
    let right = Html(t!(lang, Right::RestrictMembers.locale_key()));
    t!(lang, "mod-bot-lacks-right", title = title, right = right)
}

fn access_refusal(lang: Lang, error: AccessError) -> Result<String, HandlerError> {
    match error {
        AccessError::Denied(denial) => Ok(t!(lang, denial.locale_key())),
        AccessError::Telegram(error) if error.is_unavailable() => {
            Ok(t!(lang, "error-telegram-unavailable"))
        }
        AccessError::Telegram(error) => Err(error.into()),
        AccessError::Store(error) => Err(error.into()),
    }
}

/// When a timed sanction ends, in Telegram's terms.
fn until(duration: Option<Duration>) -> Option<DateTime<Utc>> {
    let duration = chrono::Duration::from_std(duration?).ok()?;
    Utc::now().checked_add_signed(duration)
}

/// Asks Telegram to carry the request out.
async fn carry_out(
    state: &AppState,
    request: &Request<'_>,
    until: Option<DateTime<Utc>>,
) -> Result<(), TelegramError> {
    let tg = &state.telegram;
    let chat = ChatId(request.acting.chat_id);
    let user = UserId(request.subject.id as u64);
    match request.sanction {
        Sanction::Ban | Sanction::TempBan => {
            let mut ban = teloxide::payloads::BanChatMember::new(chat, user);
            if let Some(until) = until {
                ban = ban.until_date(until);
            }
            tg.call(ban).await?;
        }
        Sanction::Unban => {
            tg.call(teloxide::payloads::UnbanChatMember::new(chat, user).only_if_banned(true))
                .await?;
        }
        Sanction::Kick => {
            // Telegram has no kick: a ban lifted at once removes them and
            // lets them come back.
            tg.call(teloxide::payloads::BanChatMember::new(chat, user))
                .await?;
            let lift = teloxide::payloads::UnbanChatMember::new(chat, user).only_if_banned(true);
            match tg.call(lift).await {
                // A basic group keeps no ban list: the ban only removed them.
                Err(error) if error.refusal() == Some(Refusal::SupergroupOnly) => {}
                answer => {
                    answer?;
                }
            }
        }
        Sanction::Mute | Sanction::TempMute => {
            let mut mute = RestrictChatMember::new(chat, user, ChatPermissions::empty())
                .use_independent_chat_permissions(true);
            if let Some(until) = until {
                mute = mute.until_date(until);
            }
            tg.call(mute).await?;
        }
        Sanction::Unmute => {
            // Every permission granted lifts the member's own restriction:
            // the group's defaults are what they may do again.
            let lift = RestrictChatMember::new(chat, user, ChatPermissions::all())
                .use_independent_chat_permissions(true);
            tg.call(lift).await?;
        }
    }
    // Telegram reports the change to castellan as a chat_member update only
    // where the bot is an administrator, and this one is: what was known of
    // the member is stale now.
    state.auth.invalidate_member(request.acting.chat_id, user);
    Ok(())
}

/// Checks a request, carries it out, records and words it.
pub async fn apply(
    state: &AppState,
    lang: Lang,
    request: &Request<'_>,
) -> Result<Applied, HandlerError> {
    if let Some(text) = refusal(state, lang, request).await? {
        return Ok(Applied::Refused(text));
    }
    let until = until(request.duration);
    if let Err(error) = carry_out(state, request, until).await {
        let mention = Html(request.subject.mention());
        let text = match error.refusal() {
            Some(Refusal::ProtectedMember) => t!(lang, "mod-target-admin", user = mention),
            Some(Refusal::BotLacksRights) => bot_lacks_right(lang, request.acting.title),
            Some(Refusal::UserNotFound) => t!(lang, "mod-not-in-group", user = mention),
            Some(Refusal::SupergroupOnly) => t!(lang, "mod-supergroup-only"),
            _ => return Err(error.into()),
        };
        return Ok(Applied::Refused(text));
    }
    let at = crate::store::unix_ms() / 1000;
    state
        .store
        .record_action(&ModAction {
            chat_id: request.acting.chat_id,
            actor_id: request.acting.actor.id.0 as i64,
            action: request.sanction.name().to_owned(),
            target_id: request.subject.id,
            reason: request.reason.clone(),
            until: until.map(|until| until.timestamp()),
            via_connection: request.acting.via_connection,
            at,
        })
        .await?;
    Ok(Applied::Done(announcement(lang, request)))
}

/// "Ann was banned by Bob for 2 days. Reason: spam", as HTML.
fn announcement(lang: Lang, request: &Request<'_>) -> String {
    let key = match request.sanction {
        Sanction::Ban => "mod-banned",
        Sanction::TempBan => "mod-banned-for",
        Sanction::Unban => "mod-unbanned",
        Sanction::Kick => "mod-kicked",
        Sanction::Mute => "mod-muted",
        Sanction::TempMute => "mod-muted-for",
        Sanction::Unmute => "mod-unmuted",
    };
    let actor = Subject {
        id: request.acting.actor.id.0 as i64,
        name: Some(request.acting.actor.first_name.clone()),
    };
    let span = request.duration.map(duration::format).unwrap_or_default();
    let mut text = t!(
        lang,
        key,
        user = Html(request.subject.mention()),
        admin = Html(actor.mention()),
        duration = span
    );
    if let Some(reason) = &request.reason {
        text.push('\n');
        text.push_str(&t!(lang, "mod-reason", reason = reason.as_str()));
    }
    text
}

/// Says what came of a request: in the group, the announcement (a reply
/// to the command there); through a connection, the announcement in the
/// group and a word in PM.
pub async fn report(
    ctx: &Ctx<'_>,
    chat_id: i64,
    via_connection: bool,
    applied: Applied,
) -> HandlerResult {
    match applied {
        Applied::Refused(text) => ctx.reply(text).await?,
        Applied::Done(text) if via_connection => {
            crate::context::send_html(ctx.tg, ChatId(chat_id), text.clone(), None, None, ctx.lang)?;
            ctx.reply(text).await?;
        }
        Applied::Done(text) => ctx.reply(text).await?,
    }
    Ok(())
}

/// A reason as given: trimmed, at most 200 characters, none when empty.
pub fn reason_of(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.chars().take(200).collect())
}

/// `/ban`, `/tban`, `/unban`, `/kick`, `/mute`, `/tmute`, `/unmute`.
pub async fn command(
    ctx: &Ctx<'_>,
    target: &Target,
    command: &ParsedCommand<'_>,
    sanction: Sanction,
) -> HandlerResult {
    let name = command.spec.name;
    let Some(chat_id) = target.group(ctx, name).await? else {
        return Ok(());
    };
    let Some((subject, rest)) =
        subject::named(ctx, chat_id, command, target.via_connection).await?
    else {
        return Ok(());
    };
    let (duration, reason) = match split_duration(sanction, rest) {
        Ok(parsed) => parsed,
        Err(text) => {
            ctx.reply(text(ctx.lang, name)).await?;
            return Ok(());
        }
    };
    if ctx.is_anonymous_admin() {
        return ask_to_confirm(ctx, &subject, name).await;
    }
    let request = Request {
        acting: Acting::of(ctx, chat_id, target),
        subject,
        sanction,
        duration,
        reason,
    };
    let applied = apply(ctx.state, ctx.lang, &request).await?;
    report(ctx, chat_id, target.via_connection, applied).await
}

type Wording = Box<dyn Fn(Lang, &str) -> String + Send>;

/// A timed sanction's duration (its first word) and the reason after it.
fn split_duration(
    sanction: Sanction,
    rest: &str,
) -> Result<(Option<Duration>, Option<String>), Wording> {
    if !sanction.timed() {
        return Ok((None, reason_of(rest)));
    }
    let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
    let (word, reason) = (&rest[..end], &rest[end..]);
    if word.is_empty() {
        return Err(Box::new(|lang, name| {
            t!(lang, "mod-duration-missing", command = name)
        }));
    }
    match duration::parse(word) {
        Ok(duration) => Ok((Some(duration), reason_of(reason))),
        Err(error) => {
            let word = crate::format::echo(word);
            Err(Box::new(move |lang, _| {
                t!(lang, error.locale_key(), duration = word.as_str())
            }))
        }
    }
}

/// The data prefix of the "confirm as an admin" button.
pub const CONFIRM_PREFIX: &str = "modok";

/// An anonymous admin's command: nobody's rights can be checked, so a
/// button asks a real admin holding the right to carry it out. The button
/// names the subject; the command itself is the message it replies to.
pub async fn ask_to_confirm(ctx: &Ctx<'_>, subject: &Subject, command: &str) -> HandlerResult {
    let button = InlineKeyboardButton::callback(
        t!(ctx.lang, "button-mod-confirm"),
        format!("{CONFIRM_PREFIX}.{}", subject.id),
    );
    ctx.reply_with(
        t!(
            ctx.lang,
            "mod-anonymous-confirm",
            command = command,
            user = Html(subject.mention())
        ),
        Some(InlineKeyboardMarkup::new([[button]])),
    )
    .await?;
    Ok(())
}

/// A press of "confirm as an admin": a real admin holding the right to ban
/// users carries out the anonymous admin's command, re-read from the
/// message the button's message replies to.
pub async fn confirm_button(press: &Press<'_>) -> HandlerResult {
    let (tg, query, lang, state) = (press.tg, press.query, press.lang, press.state);
    let refuse = |key: &str| Some(plain(&t!(lang, key)));
    let subject_id = press
        .data
        .strip_prefix(CONFIRM_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|id| id.parse::<i64>().ok());
    let message = match &query.message {
        Some(teloxide::types::MaybeInaccessibleMessage::Regular(message)) => Some(message.as_ref()),
        _ => None,
    };
    let (Some(subject_id), Some(message)) = (subject_id, message) else {
        answer(tg, query, refuse("button-unknown"), true).await?;
        return Ok(());
    };
    let chat_id = message.chat.id.0;
    // Only the bot's own confirmation, replying to an anonymous admin's
    // command in the same group, carries a command out.
    let original = message.reply_to_message().filter(|original| {
        message
            .from
            .as_ref()
            .is_some_and(|from| from.id == state.auth.bot_id())
            && original
                .sender_chat
                .as_ref()
                .is_some_and(|sender| sender.id.0 == chat_id)
    });
    let parsed = original.and_then(|original| {
        let text = original.text()?;
        let parsed = crate::modules::registry::parse(text, &state.bot_username)?;
        Some((original, parsed))
    });
    let Some((original, parsed)) = parsed else {
        answer(tg, query, refuse("mod-confirm-gone"), true).await?;
        return Ok(());
    };
    // The presser's own right, live.
    let rights = state.auth.membership(chat_id, query.from.id).await;
    let holds = rights.is_ok_and(|standing| standing.holds(Right::RestrictMembers));
    if !holds {
        let title = message.chat.title().unwrap_or_default();
        let text = lacks_right_text(lang, parsed.spec.name, title, Right::RestrictMembers);
        answer(tg, query, Some(plain(&text)), true).await?;
        return Ok(());
    }
    let store = state.store.as_ref();
    let named =
        subject::resolve_in(store, chat_id, original, parsed.args, parsed.args_offset).await?;
    if named.as_ref().is_some_and(|named| named.id != subject_id) {
        answer(tg, query, refuse("button-unknown"), true).await?;
        return Ok(());
    }
    let rest =
        subject::rest_after(store, chat_id, original, parsed.args, parsed.args_offset).await?;
    let subject = named.unwrap_or(Subject {
        id: subject_id,
        name: store
            .known_user(chat_id, subject_id)
            .await?
            .map(|user| user.first_name),
    });
    let acting = Acting {
        chat_id,
        title: message.chat.title().unwrap_or_default(),
        actor: &query.from,
        via_connection: false,
    };
    let text = match super::confirmed(state, lang, &acting, parsed.spec.name, subject, rest).await?
    {
        Applied::Done(text) => text,
        Applied::Refused(text) => {
            answer(tg, query, Some(plain(&text)), true).await?;
            return Ok(());
        }
    };
    answer(tg, query, None, false).await?;
    edit_or_send(tg, query, text, InlineKeyboardMarkup::default()).await?;
    Ok(())
}

/// Carries out a confirmed sanction command (see [`confirm_button`]).
pub async fn confirmed_sanction(
    state: &AppState,
    lang: Lang,
    acting: &Acting<'_>,
    sanction: Sanction,
    subject: Subject,
    rest: &str,
) -> Result<Applied, HandlerError> {
    let (duration, reason) = match split_duration(sanction, rest) {
        Ok(parsed) => parsed,
        Err(text) => return Ok(Applied::Refused(text(lang, sanction.name()))),
    };
    let request = Request {
        acting: *acting,
        subject,
        sanction,
        duration,
        reason,
    };
    apply(state, lang, &request).await
}
