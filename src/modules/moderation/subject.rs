//! Who a moderation command is about: the sender of the message it
//! replies to, a `@username` castellan has seen in the group, a numeric
//! id, or a text mention. The Bot API cannot turn a user's `@username`
//! into an id: the user directory, learned from the group's updates,
//! does.

use teloxide::types::{Message, MessageEntityKind, User};

use crate::context::{Ctx, HandlerError};
use crate::format::{echo, utf16_len};
use crate::i18n::{Lang, escape};
use crate::modules::registry::ParsedCommand;
use crate::store::Store;
use crate::t;

/// User ids fit in 52 bits (Bot API "User.id").
const MAX_USER_ID: i64 = (1 << 52) - 1;

/// The person a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub id: i64,
    /// Their first name, when known.
    pub name: Option<String>,
}

impl Subject {
    fn of(user: &User) -> Subject {
        Subject {
            id: user.id.0 as i64,
            name: Some(user.first_name.clone()),
        }
    }

    /// A mention that opens their profile, as HTML.
    pub fn mention(&self) -> String {
        let name = self.name.clone().unwrap_or_else(|| self.id.to_string());
        format!("<a href=\"tg://user?id={}\">{}</a>", self.id, escape(&name))
    }
}

/// Why a command names nobody castellan can act on; each has a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectError {
    /// Nothing names anyone.
    Missing,
    /// A `@username` not in the directory of the group.
    UnknownUsername(String),
    /// The replied-to message was sent as a chat (a channel, the group).
    SentAsChat,
}

impl SubjectError {
    pub fn text(&self, lang: Lang, command: &str) -> String {
        match self {
            SubjectError::Missing => t!(lang, "mod-who", command = command),
            SubjectError::UnknownUsername(name) => {
                t!(lang, "mod-unknown-username", name = echo(name))
            }
            SubjectError::SentAsChat => t!(lang, "mod-stand-in"),
        }
    }
}

/// An explicit reference at the start of `args`: the subject and the byte
/// offset of what follows. `None` when the first word names nobody.
async fn explicit<'a>(
    store: &dyn Store,
    chat_id: i64,
    msg: &Message,
    args: &'a str,
    args_offset: usize,
) -> Result<Option<Result<(Subject, &'a str), SubjectError>>, HandlerError> {
    let end = args.find(char::is_whitespace).unwrap_or(args.len());
    let (word, rest) = (&args[..end], args[end..].trim_start());
    if word.is_empty() {
        return Ok(None);
    }
    if let Some(username) = word.strip_prefix('@') {
        let found = store.user_by_username(chat_id, username).await?;
        return Ok(Some(match found {
            Some(user) => Ok((
                Subject {
                    id: user.id,
                    name: Some(user.first_name),
                },
                rest,
            )),
            None => Err(SubjectError::UnknownUsername(word.to_owned())),
        }));
    }
    if word.bytes().all(|b| b.is_ascii_digit())
        && let Ok(id) = word.parse::<i64>()
        && (1..=MAX_USER_ID).contains(&id)
    {
        let name = store
            .known_user(chat_id, id)
            .await?
            .map(|user| user.first_name);
        return Ok(Some(Ok((Subject { id, name }, rest))));
    }
    // A text mention: Telegram's entity offsets count UTF-16 units.
    let text = msg.text().unwrap_or_default();
    let at = text.get(..args_offset).map_or(usize::MAX, utf16_len);
    let mentioned = msg
        .entities()
        .unwrap_or_default()
        .iter()
        .find_map(|entity| match &entity.kind {
            MessageEntityKind::TextMention { user } if entity.offset == at => Some(user),
            _ => None,
        });
    if let Some(user) = mentioned {
        // The mention may span several words (a full name).
        let covered = msg
            .entities()
            .unwrap_or_default()
            .iter()
            .find(|e| e.offset == at)
            .map_or(0, |e| e.length);
        let rest = skip_utf16(args, covered).trim_start();
        return Ok(Some(Ok((Subject::of(user), rest))));
    }
    Ok(None)
}

/// `text` after its first `units` UTF-16 units.
fn skip_utf16(text: &str, units: usize) -> &str {
    let mut seen = 0;
    for (index, c) in text.char_indices() {
        if seen >= units {
            return &text[index..];
        }
        seen += c.len_utf16();
    }
    ""
}

/// Who the command names, and the rest of its arguments (a duration, a
/// reason); `None` after telling the sender why nobody. In the group, a
/// reply names the replied-to sender and every argument is the rest;
/// through a connection there is nothing to reply to.
pub async fn named<'a>(
    ctx: &Ctx<'_>,
    chat_id: i64,
    command: &ParsedCommand<'a>,
    via_connection: bool,
) -> Result<Option<(Subject, &'a str)>, HandlerError> {
    let found = resolve(
        ctx,
        chat_id,
        command.args,
        command.args_offset,
        via_connection,
    )
    .await?;
    match found {
        Ok(found) => Ok(Some(found)),
        Err(error) => {
            ctx.reply(error.text(ctx.lang, command.spec.name)).await?;
            Ok(None)
        }
    }
}

async fn resolve<'a>(
    ctx: &Ctx<'_>,
    chat_id: i64,
    args: &'a str,
    args_offset: usize,
    via_connection: bool,
) -> Result<Result<(Subject, &'a str), SubjectError>, HandlerError> {
    if let Some(found) = explicit(ctx.store(), chat_id, ctx.msg, args, args_offset).await? {
        return Ok(found);
    }
    if !via_connection && let Some(replied) = ctx.msg.reply_to_message() {
        if replied.sender_chat.is_some() {
            return Ok(Err(SubjectError::SentAsChat));
        }
        if let Some(user) = replied.from.as_ref() {
            return Ok(Ok((Subject::of(user), args)));
        }
    }
    Ok(Err(SubjectError::Missing))
}

/// [`named`], quietly, on a message that is not the handler's own (the anonymous
/// admin's command a confirmation press carries out).
pub async fn resolve_in(
    store: &dyn Store,
    chat_id: i64,
    msg: &Message,
    args: &str,
    args_offset: usize,
) -> Result<Option<Subject>, HandlerError> {
    Ok(explicit(store, chat_id, msg, args, args_offset)
        .await?
        .and_then(Result::ok)
        .map(|(subject, _)| subject))
}

/// What follows an explicit reference at the start of `args`, or all of
/// `args` when it starts with none (the command replied to someone).
pub async fn rest_after<'a>(
    store: &dyn Store,
    chat_id: i64,
    msg: &Message,
    args: &'a str,
    args_offset: usize,
) -> Result<&'a str, HandlerError> {
    Ok(
        match explicit(store, chat_id, msg, args, args_offset).await? {
            Some(Ok((_, rest))) => rest,
            _ => args,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_skips_land_on_characters() {
        assert_eq!(skip_utf16("Ana López spam", 9), " spam");
        assert_eq!(skip_utf16("😀 x", 2), " x");
        assert_eq!(skip_utf16("ab", 5), "");
    }

    #[test]
    fn mentions_escape_names() {
        let subject = Subject {
            id: 5,
            name: Some("<b>".into()),
        };
        assert_eq!(
            subject.mention(),
            "<a href=\"tg://user?id=5\">&lt;b&gt;</a>"
        );
    }
}
