//! Warnings: counted per member and group; reaching the group's limit
//! applies its mode (ban, kick, mute, or a timed one) and starts the count
//! again. Each warning's message carries a button that removes it, for an
//! admin holding the right to ban users (checked live at the press).

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup, MaybeInaccessibleMessage, User};

use super::duration;
use super::sanction::{self, Acting, Applied, Request, Sanction};
use super::subject::{self, Subject};
use crate::auth::{Membership, Right};
use crate::context::{AppState, Ctx, HandlerError, HandlerResult, Target, lacks_right_text};
use crate::i18n::{Html, Lang};
use crate::modules::registry::{ParsedCommand, Press};
use crate::modules::{answer, edit_or_send, plain};
use crate::store::{ModAction, WarnMode};
use crate::t;

/// The data prefix of "remove warning".
pub const REMOVE_PREFIX: &str = "warnrm";
/// The highest warn limit a group may set.
pub const MAX_LIMIT: u32 = 100;

/// `/warn <user> [reason]`
pub async fn warn(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let name = command.spec.name;
    let Some(chat_id) = target.group(ctx, name).await? else {
        return Ok(());
    };
    let Some((subject, rest)) =
        subject::named(ctx, chat_id, command, target.via_connection).await?
    else {
        return Ok(());
    };
    if ctx.is_anonymous_admin() {
        return sanction::ask_to_confirm(ctx, &subject, name).await;
    }
    let acting = Acting::of(ctx, chat_id, target);
    let (given, text, keyboard) = give(
        ctx.state,
        ctx.lang,
        &acting,
        subject,
        sanction::reason_of(rest),
    )
    .await?;
    // A warning given through a connection is told in the group too (with
    // its button, or with the sanction the limit brought); a refusal only
    // to the sender.
    if target.via_connection && given {
        crate::context::send_html(
            ctx.tg,
            teloxide::types::ChatId(chat_id),
            text.clone(),
            None,
            keyboard,
            ctx.lang,
        )?;
        ctx.reply(text).await?;
    } else {
        ctx.reply_with(text, keyboard).await?;
    }
    Ok(())
}

/// Gives a warning: checked as a ban would be (never an admin, the bot,
/// the sender), counted, and at the limit the group's mode applied. The
/// text to say, and the "remove warning" button when one was kept.
pub async fn give(
    state: &AppState,
    lang: Lang,
    acting: &Acting<'_>,
    subject: Subject,
    reason: Option<String>,
) -> Result<(bool, String, Option<InlineKeyboardMarkup>), HandlerError> {
    let Acting {
        chat_id,
        actor,
        via_connection,
        ..
    } = *acting;
    if let Some(text) = refusal(state, lang, chat_id, actor, &subject).await? {
        return Ok((false, text, None));
    }
    let settings = state.store.warn_settings(chat_id).await?;
    let at = crate::store::unix_ms() / 1000;
    let added = state
        .store
        .add_warn(
            chat_id,
            subject.id,
            actor.id.0 as i64,
            reason.as_deref(),
            at,
            settings.limit,
        )
        .await?;
    state
        .store
        .record_action(&ModAction {
            chat_id,
            actor_id: actor.id.0 as i64,
            action: "warn".into(),
            target_id: subject.id,
            reason: reason.clone(),
            until: None,
            via_connection,
            at,
        })
        .await?;
    let mention = Html(subject.mention());
    let mut text = t!(
        lang,
        "mod-warned",
        user = mention.clone(),
        count = added.count as usize,
        limit = settings.limit as usize
    );
    if let Some(reason) = &reason {
        text.push('\n');
        text.push_str(&t!(lang, "mod-reason", reason = reason.as_str()));
    }
    if !added.limit_reached {
        let button = InlineKeyboardButton::callback(
            t!(lang, "button-remove-warn"),
            format!("{REMOVE_PREFIX}.{}", added.id),
        );
        return Ok((true, text, Some(InlineKeyboardMarkup::new([[button]]))));
    }
    let (sanction, duration) = match settings.mode {
        WarnMode::Ban => (Sanction::Ban, None),
        WarnMode::Kick => (Sanction::Kick, None),
        WarnMode::Mute => (Sanction::Mute, None),
        WarnMode::TempBan(seconds) => (Sanction::TempBan, Some(seconds)),
        WarnMode::TempMute(seconds) => (Sanction::TempMute, Some(seconds)),
    };
    let request = Request {
        acting: *acting,
        subject,
        sanction,
        duration: duration.map(std::time::Duration::from_secs),
        reason: Some(t!(
            lang,
            "mod-limit-reason",
            limit = settings.limit as usize
        )),
    };
    text.push_str("\n\n");
    match sanction::apply(state, lang, &request).await? {
        Applied::Done(done) => text.push_str(&done),
        Applied::Refused(why) => {
            text.push_str(&t!(lang, "mod-limit-not-applied", reason = Html(why)));
        }
    }
    Ok((true, text, None))
}

/// The refusals a warning shares with a ban, without the bot's right to
/// restrict (a warning needs none until the limit).
async fn refusal(
    state: &AppState,
    lang: Lang,
    chat_id: i64,
    actor: &User,
    subject: &Subject,
) -> Result<Option<String>, HandlerError> {
    if let Some(text) = sanction::not_a_subject(state, lang, actor, subject.id, "warn") {
        return Ok(Some(text));
    }
    let standing = state
        .auth
        .membership(chat_id, teloxide::types::UserId(subject.id as u64))
        .await;
    Ok(match standing {
        Ok(Membership::Admin(_)) => {
            Some(t!(lang, "mod-target-admin", user = Html(subject.mention())))
        }
        Err(crate::auth::AccessError::Telegram(error)) => return Err(error.into()),
        Err(crate::auth::AccessError::Store(error)) => return Err(error.into()),
        _ => None,
    })
}

/// `/warns [user]`: members see their own; another's needs the right to
/// ban users.
pub async fn list(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let name = command.spec.name;
    let Some(chat_id) = target.group(ctx, name).await? else {
        return Ok(());
    };
    let asked_about_someone = !command.args.trim().is_empty()
        || (!target.via_connection && ctx.msg.reply_to_message().is_some());
    let subject = if asked_about_someone {
        let named = subject::named(ctx, chat_id, command, target.via_connection).await?;
        let Some((subject, _)) = named else {
            return Ok(());
        };
        subject
    } else {
        Subject {
            id: ctx.user.id.0 as i64,
            name: Some(ctx.user.first_name.clone()),
        }
    };
    if subject.id != ctx.user.id.0 as i64 {
        // In the group, members' commands are not checked: check now.
        let role = if target.via_connection {
            target.role
        } else {
            ctx.group_role().await?
        };
        if !role.holds(Right::RestrictMembers) {
            ctx.reply(lacks_right_text(
                ctx.lang,
                name,
                &target.title,
                Right::RestrictMembers,
            ))
            .await?;
            return Ok(());
        }
    }
    let warns = ctx.store().warns(chat_id, subject.id).await?;
    let settings = ctx.store().warn_settings(chat_id).await?;
    let mention = Html(subject.mention());
    if warns.is_empty() {
        ctx.reply(t!(ctx.lang, "mod-warns-none", user = mention))
            .await?;
        return Ok(());
    }
    let lines: Vec<String> = warns
        .iter()
        .enumerate()
        .map(|(i, warn)| {
            let reason = warn
                .reason
                .as_deref()
                .map_or_else(|| t!(ctx.lang, "mod-no-reason"), crate::i18n::escape);
            format!("{}. {reason}", i + 1)
        })
        .collect();
    ctx.reply(t!(
        ctx.lang,
        "mod-warns-list",
        user = mention,
        count = warns.len(),
        limit = settings.limit as usize,
        warns = Html(lines.join("\n"))
    ))
    .await?;
    Ok(())
}

/// `/rmwarn <user>` (the latest) and `/resetwarns <user>` (all).
pub async fn remove(
    ctx: &Ctx<'_>,
    target: &Target,
    command: &ParsedCommand<'_>,
    all: bool,
) -> HandlerResult {
    let name = command.spec.name;
    let Some(chat_id) = target.group(ctx, name).await? else {
        return Ok(());
    };
    let Some((subject, _)) = subject::named(ctx, chat_id, command, target.via_connection).await?
    else {
        return Ok(());
    };
    if ctx.is_anonymous_admin() {
        return sanction::ask_to_confirm(ctx, &subject, name).await;
    }
    let acting = Acting::of(ctx, chat_id, target);
    let text = remove_for(ctx.state, ctx.lang, &acting, &subject, all).await?;
    ctx.reply(text).await?;
    Ok(())
}

/// Removes a member's latest warning, or all of them; recorded; the text.
pub async fn remove_for(
    state: &AppState,
    lang: Lang,
    acting: &Acting<'_>,
    subject: &Subject,
    all: bool,
) -> Result<String, HandlerError> {
    let Acting {
        chat_id,
        actor,
        via_connection,
        ..
    } = *acting;
    let removed = if all {
        state.store.reset_warns(chat_id, subject.id).await? > 0
    } else {
        state.store.remove_latest_warn(chat_id, subject.id).await?
    };
    let mention = Html(subject.mention());
    if !removed {
        return Ok(t!(lang, "mod-warns-none", user = mention));
    }
    state
        .store
        .record_action(&ModAction {
            chat_id,
            actor_id: actor.id.0 as i64,
            action: if all { "resetwarns" } else { "rmwarn" }.into(),
            target_id: subject.id,
            reason: None,
            until: None,
            via_connection,
            at: crate::store::unix_ms() / 1000,
        })
        .await?;
    let key = if all {
        "mod-warns-reset"
    } else {
        "mod-warn-removed"
    };
    Ok(t!(lang, key, user = mention))
}

/// A press of "remove warning" under a warning in the group.
pub async fn remove_button(press: &Press<'_>) -> HandlerResult {
    let (tg, query, lang, state) = (press.tg, press.query, press.lang, press.state);
    let warn_id = press
        .data
        .strip_prefix(REMOVE_PREFIX)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|id| id.parse::<i64>().ok());
    let chat = match &query.message {
        Some(MaybeInaccessibleMessage::Regular(message)) => Some(&message.chat),
        Some(MaybeInaccessibleMessage::Inaccessible(message)) => Some(&message.chat),
        None => None,
    };
    let (Some(warn_id), Some(chat)) = (warn_id, chat) else {
        answer(tg, query, Some(t!(lang, "button-unknown")), true).await?;
        return Ok(());
    };
    let chat_id = chat.id.0;
    let standing = state.auth.membership(chat_id, query.from.id).await;
    let holds = standing.is_ok_and(|standing| standing.holds(Right::RestrictMembers));
    if !holds {
        let title = chat.title().unwrap_or_default();
        let text = lacks_right_text(lang, "rmwarn", title, Right::RestrictMembers);
        answer(tg, query, Some(plain(&text)), true).await?;
        return Ok(());
    }
    // The warning is looked up in the chat the button is in: data forged
    // with another chat's warning removes nothing.
    let Some(user_id) = state.store.remove_warn(chat_id, warn_id).await? else {
        answer(
            tg,
            query,
            Some(plain(&t!(lang, "mod-warn-already-removed"))),
            true,
        )
        .await?;
        return Ok(());
    };
    state
        .store
        .record_action(&ModAction {
            chat_id,
            actor_id: query.from.id.0 as i64,
            action: "rmwarn".into(),
            target_id: user_id,
            reason: None,
            until: None,
            via_connection: false,
            at: crate::store::unix_ms() / 1000,
        })
        .await?;
    let subject = Subject {
        id: user_id,
        name: state
            .store
            .known_user(chat_id, user_id)
            .await?
            .map(|u| u.first_name),
    };
    let admin = Subject {
        id: query.from.id.0 as i64,
        name: Some(query.from.first_name.clone()),
    };
    let text = t!(
        lang,
        "mod-warn-removed-by",
        user = Html(subject.mention()),
        admin = Html(admin.mention())
    );
    answer(tg, query, None, false).await?;
    edit_or_send(tg, query, text, InlineKeyboardMarkup::default()).await?;
    Ok(())
}

/// `/warnlimit [n]`
pub async fn limit(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let arg = command.args.split_whitespace().next();
    let text = match arg {
        None => {
            let settings = ctx.store().warn_settings(chat_id).await?;
            t!(
                ctx.lang,
                "mod-warnlimit-is",
                title = &target.title,
                limit = settings.limit as usize
            )
        }
        Some(arg) => match arg.parse::<u32>() {
            Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => {
                ctx.store().set_warn_limit(chat_id, limit).await?;
                t!(
                    ctx.lang,
                    "mod-warnlimit-set",
                    title = &target.title,
                    limit = limit as usize
                )
            }
            _ => t!(
                ctx.lang,
                "mod-warnlimit-bad",
                input = crate::format::echo(arg),
                max = MAX_LIMIT as usize
            ),
        },
    };
    ctx.reply(text).await?;
    Ok(())
}

/// What `/warnmode` was given.
pub fn parse_mode(args: &str) -> Result<WarnMode, Option<duration::DurationError>> {
    let mut words = args.split_whitespace();
    let mode = words.next().map(str::to_lowercase);
    let timed = |words: &mut std::str::SplitWhitespace<'_>| -> Result<u64, Option<duration::DurationError>> {
        let word = words.next().ok_or(Some(duration::DurationError::Invalid))?;
        duration::parse(word).map(|d| d.as_secs()).map_err(Some)
    };
    match mode.as_deref() {
        Some("ban") => Ok(WarnMode::Ban),
        Some("kick") => Ok(WarnMode::Kick),
        Some("mute") => Ok(WarnMode::Mute),
        Some("tban") => timed(&mut words).map(WarnMode::TempBan),
        Some("tmute") => timed(&mut words).map(WarnMode::TempMute),
        _ => Err(None),
    }
}

/// A warn mode in words ("ban for 2 days").
fn mode_text(lang: Lang, mode: WarnMode) -> String {
    let span = |seconds: u64| duration::format(std::time::Duration::from_secs(seconds));
    match mode {
        WarnMode::Ban => t!(lang, "mod-mode-ban"),
        WarnMode::Kick => t!(lang, "mod-mode-kick"),
        WarnMode::Mute => t!(lang, "mod-mode-mute"),
        WarnMode::TempBan(seconds) => t!(lang, "mod-mode-tban", duration = span(seconds)),
        WarnMode::TempMute(seconds) => t!(lang, "mod-mode-tmute", duration = span(seconds)),
    }
}

/// `/warnmode [ban|kick|mute|tban <d>|tmute <d>]`
pub async fn mode(ctx: &Ctx<'_>, target: &Target, command: &ParsedCommand<'_>) -> HandlerResult {
    let Some(chat_id) = target.group(ctx, command.spec.name).await? else {
        return Ok(());
    };
    let text = if command.args.trim().is_empty() {
        let settings = ctx.store().warn_settings(chat_id).await?;
        t!(
            ctx.lang,
            "mod-warnmode-is",
            title = &target.title,
            mode = Html(mode_text(ctx.lang, settings.mode))
        )
    } else {
        match parse_mode(command.args) {
            Ok(mode) => {
                ctx.store().set_warn_mode(chat_id, mode).await?;
                t!(
                    ctx.lang,
                    "mod-warnmode-set",
                    title = &target.title,
                    mode = Html(mode_text(ctx.lang, mode))
                )
            }
            Err(Some(error)) if error != duration::DurationError::Invalid => {
                // The duration is the word after the mode.
                let word = command.args.split_whitespace().nth(1).unwrap_or_default();
                t!(
                    ctx.lang,
                    error.locale_key(),
                    duration = crate::format::echo(word)
                )
            }
            Err(_) => t!(
                ctx.lang,
                "mod-warnmode-bad",
                input = crate::format::echo(command.args.trim())
            ),
        }
    };
    ctx.reply(text).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warn_modes() {
        assert_eq!(parse_mode("ban"), Ok(WarnMode::Ban));
        assert_eq!(parse_mode(" KICK "), Ok(WarnMode::Kick));
        assert_eq!(parse_mode("mute"), Ok(WarnMode::Mute));
        assert_eq!(parse_mode("tban 2d"), Ok(WarnMode::TempBan(2 * 86400)));
        assert_eq!(parse_mode("tmute 30m"), Ok(WarnMode::TempMute(1800)));
        assert_eq!(
            parse_mode("tban"),
            Err(Some(duration::DurationError::Invalid))
        );
        assert_eq!(
            parse_mode("tban 10s"),
            Err(Some(duration::DurationError::TooShort))
        );
        assert_eq!(
            parse_mode("tmute 400d"),
            Err(Some(duration::DurationError::TooLong))
        );
        assert_eq!(parse_mode("explode"), Err(None));
        assert_eq!(parse_mode(""), Err(None));
    }
}
