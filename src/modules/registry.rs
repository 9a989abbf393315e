//! The registry: every module declares itself once, in its own folder, as a
//! [`ModuleSpec`] (its commands, its buttons, the updates it wants), and
//! [`MODULES`](super::MODULES) lists them. Dispatch, `/help`, the command
//! menus and the connection's command lists are all derived from those
//! declarations: adding a module adds no case anywhere else.

use futures::future::BoxFuture;
use teloxide::types::{CallbackQuery, ChatMemberUpdated, Message};

use crate::commands::{Access, ConnectionKind, Via};
use crate::context::{AppState, Ctx, HandlerResult, Target};
use crate::i18n::Lang;
use crate::telegram::Telegram;

/// Runs a personal command: about the sender or the bot, no target chat.
pub type PersonalRun =
    for<'a> fn(&'a Ctx<'a>, &'a ParsedCommand<'a>) -> BoxFuture<'a, HandlerResult>;
/// Runs a space command on the target the one connection check resolved.
pub type SpaceRun =
    for<'a> fn(&'a Ctx<'a>, &'a Target, &'a ParsedCommand<'a>) -> BoxFuture<'a, HandlerResult>;
/// Runs a button press.
pub type ButtonRun = for<'a> fn(&'a Press<'a>) -> BoxFuture<'a, HandlerResult>;
/// Takes a chat_member or my_chat_member update.
pub type MemberRun =
    for<'a> fn(&'a AppState, &'a ChatMemberUpdated) -> BoxFuture<'a, HandlerResult>;
/// Takes a group's service message; `true` when it was one of its kind (the
/// message then asks nothing more).
pub type ServiceRun = for<'a> fn(
    &'a AppState,
    &'a Message,
) -> BoxFuture<'a, Result<bool, crate::error::HandlerError>>;
/// Looks at a group message that asks nothing of castellan, without
/// waiting: `true` when it has work to do for it (then `ObserveRun` runs).
pub type ObserveCheck = fn(&AppState, &Message) -> bool;
pub type ObserveRun = for<'a> fn(&'a AppState, &'a Message) -> BoxFuture<'a, HandlerResult>;

/// Where a command runs and what it acts on. Dispatch is derived from it:
/// a personal command is handled in private chats (and in groups when
/// `in_groups`); a space command is handled in groups, and in private chats
/// through a connection of a kind `via` accepts. No command runs in a
/// business chat: those are a business's customers talking to its owner, and
/// only `#name` is answered there.
#[derive(Clone, Copy)]
pub enum Scope {
    Personal {
        in_groups: bool,
        run: PersonalRun,
    },
    Space {
        access: Access,
        via: Via,
        run: SpaceRun,
    },
}

#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// The name users type, lower-case, as registered with setMyCommands.
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub scope: Scope,
    /// Shown in PM command menus (setMyCommands for private chats).
    pub in_private_menu: bool,
    /// Shown in group command menus.
    pub in_group_menu: bool,
    /// A group may turn it off for its members (`/disable`); admins keep
    /// it. Never a connection command: those are how admins reach a group.
    pub disableable: bool,
}

impl std::fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/{}", self.name)
    }
}

impl CommandSpec {
    /// A command on a group, in the group or through a connection to it,
    /// listed in the group's menu (and the PM one when `in_private_menu`).
    /// What members may use, a group may turn off for them.
    pub const fn group(
        name: &'static str,
        access: Access,
        run: SpaceRun,
        in_private_menu: bool,
    ) -> CommandSpec {
        CommandSpec {
            name,
            aliases: &[],
            scope: Scope::Space {
                access,
                via: Via::GROUP,
                run,
            },
            in_private_menu,
            in_group_menu: true,
            disableable: matches!(access, Access::Member),
        }
    }

    /// Locale key of the one-line description.
    pub fn description_key(&self) -> String {
        format!("cmd-{}", self.name)
    }

    /// `/name — description` in `lang`, as HTML, for help pages and lists.
    pub fn describe(&self, lang: Lang) -> String {
        let description = crate::i18n::translate(lang, &self.description_key(), None);
        format!("/{} — {}", self.name, crate::i18n::escape(&description))
    }

    /// The access needed when used through a connection of `kind`.
    pub fn connection_access(&self, kind: ConnectionKind) -> Option<Access> {
        match self.scope {
            Scope::Space { access, via, .. } if via.accepts(kind) => Some(access),
            _ => None,
        }
    }
}

/// A button press, with what its handler needs.
pub struct Press<'a> {
    pub tg: &'a Telegram,
    pub state: &'a AppState,
    pub query: &'a CallbackQuery,
    pub lang: Lang,
    /// The whole callback data, prefix included.
    pub data: &'a str,
}

/// The buttons of one data prefix (`prefix.rest`).
#[derive(Clone, Copy)]
pub struct ButtonSpec {
    pub prefix: &'static str,
    /// Pressed where its message is, a group included. Other buttons only
    /// count in the presser's own PM: callback data can be forged on any
    /// message, so a press elsewhere is refused before it runs.
    pub in_groups: bool,
    pub run: ButtonRun,
}

/// The updates besides commands and buttons a module wants.
#[derive(Clone, Copy)]
pub struct Interests {
    pub chat_member: Option<MemberRun>,
    pub my_chat_member: Option<MemberRun>,
    pub service_message: Option<ServiceRun>,
    pub observe: Option<(ObserveCheck, ObserveRun)>,
    /// Watches every group message of chats that set it up.
    pub guard: Option<Guard>,
}

impl Interests {
    /// Commands and buttons only.
    pub const NONE: Interests = Interests {
        chat_member: None,
        my_chat_member: None,
        service_message: None,
        observe: None,
        guard: None,
    };
}

/// The order a group message meets the guards in: a deleted message fires
/// nothing after it; commands come last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Locks, then the blacklist: delete (and sanction).
    Remove,
    /// Antiflood: count, and sanction.
    Flood,
    /// Filters: answer.
    Answer,
}

/// What a guard made of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing, or nothing that stops the message: on to the next guard.
    Pass,
    /// The message is gone (or dealt with): nothing else fires.
    Stop,
}

/// A group message, looked at once for every guard.
pub struct Inspected<'a> {
    pub msg: &'a Message,
    /// Its lock kinds ([`crate::guards::LockKind::of`]).
    pub kinds: u64,
    /// The keywords and blacklist entries its text or caption holds.
    pub hits: Vec<crate::guards::Hit>,
}

/// What a guard's run works with.
pub struct Guarded<'a> {
    pub state: &'a AppState,
    pub msg: &'a Message,
    pub guards: &'a crate::guards::ChatGuards,
    pub inspected: &'a Inspected<'a>,
    /// Whether the sender is exempt (an admin, an anonymous admin, the
    /// linked channel): asked once, when a guard first needs it.
    pub exempt: tokio::sync::OnceCell<bool>,
}

/// A module's watch on group messages.
#[derive(Clone, Copy)]
pub struct Guard {
    pub stage: Stage,
    /// Whether it has work for this message: no waiting, no query.
    pub fires: fn(&crate::guards::ChatGuards, &Inspected<'_>) -> bool,
    pub run:
        for<'a> fn(&'a Guarded<'a>) -> BoxFuture<'a, Result<Verdict, crate::error::HandlerError>>,
}

/// Every module's guard, in stage order.
pub fn guards() -> &'static [Guard] {
    static GUARDS: std::sync::LazyLock<Vec<Guard>> = std::sync::LazyLock::new(|| {
        let mut guards: Vec<Guard> = modules().filter_map(|m| m.interests.guard).collect();
        guards.sort_by_key(|guard| guard.stage);
        guards
    });
    &GUARDS
}

impl Guarded<'_> {
    /// Admins, anonymous admins and the linked channel's automatic
    /// forwards are exempt from locks, the blacklist and antiflood. The
    /// admin check is the cached one of commands in the group.
    pub async fn exempt(&self) -> Result<bool, crate::error::HandlerError> {
        let msg = self.msg;
        let exempt = self
            .exempt
            .get_or_try_init(|| async {
                if msg.sender_chat.is_some() || msg.is_automatic_forward() {
                    // The group itself (an anonymous admin) or its linked
                    // channel; a channel a member posts as is not exempt.
                    let own = msg
                        .sender_chat
                        .as_ref()
                        .is_some_and(|chat| chat.id == msg.chat.id)
                        || msg.is_automatic_forward();
                    return Ok::<bool, crate::error::HandlerError>(own);
                }
                let Some(user) = msg.from.as_ref() else {
                    return Ok(false);
                };
                let rights = self.state.auth.admin_rights(msg.chat.id.0, user.id).await?;
                Ok(rights.is_some())
            })
            .await?;
        Ok(*exempt)
    }
}

/// A module: one folder under `src/modules/`, declared once.
pub struct ModuleSpec {
    /// The id used in callback data and `/help <module>`.
    pub id: &'static str,
    /// Other names `/help <name>` accepts.
    pub aliases: &'static [&'static str],
    /// Locale keys of its button label and help text; `None` for a module
    /// users never address (it has no help page).
    pub help: Option<(&'static str, &'static str)>,
    pub commands: &'static [CommandSpec],
    pub buttons: &'static [ButtonSpec],
    pub interests: Interests,
}

impl std::fmt::Debug for ModuleSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id)
    }
}

impl PartialEq for ModuleSpec {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

/// Every module, in `/help` order.
pub fn modules() -> impl Iterator<Item = &'static ModuleSpec> {
    super::MODULES.iter().copied()
}

/// The modules `/help` lists.
pub fn helped_modules() -> impl Iterator<Item = &'static ModuleSpec> {
    modules().filter(|m| m.help.is_some())
}

/// Every command, in registry order.
pub fn commands() -> impl Iterator<Item = &'static CommandSpec> {
    modules().flat_map(|m| m.commands.iter())
}

/// The module whose id this is, exactly (button data).
pub fn module_by_id(id: &str) -> Option<&'static ModuleSpec> {
    helped_modules().find(|m| m.id == id)
}

/// The module `/help <name>` means.
pub fn module_by_name(name: &str) -> Option<&'static ModuleSpec> {
    let name = name.trim().to_lowercase();
    helped_modules().find(|m| m.id == name || m.aliases.contains(&name.as_str()))
}

/// Looks a typed name (without the slash) up among names and aliases.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    commands().find(|s| {
        s.name.eq_ignore_ascii_case(name) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The button handler of a callback data's prefix.
pub fn button(data: &str) -> Option<&'static ButtonSpec> {
    let prefix = data.split_once('.').map_or(data, |(prefix, _)| prefix);
    modules()
        .flat_map(|m| m.buttons.iter())
        .find(|b| b.prefix == prefix)
}

/// The commands usable through a connection of `kind`, those needing an
/// admin's right (`admin`) or not, in registry order.
pub fn connection_commands(
    kind: ConnectionKind,
    admin: bool,
) -> impl Iterator<Item = &'static CommandSpec> {
    commands().filter(move |s| {
        s.connection_access(kind)
            .is_some_and(|a| a.is_admin() == admin)
    })
}

/// A command in a message: `/name@bot args`.
#[derive(Debug, Clone)]
pub struct ParsedCommand<'a> {
    pub spec: &'static CommandSpec,
    /// Everything after the command and one run of white space, untrimmed at
    /// the end so saved texts keep their shape.
    pub args: &'a str,
    /// Byte offset of `args` in the message text.
    pub args_offset: usize,
}

/// Parses a command addressed to this bot. `/cmd@other_bot` is not ours;
/// unknown commands are not ours either (other bots in the group may own them).
pub fn parse<'a>(text: &'a str, bot_username: &str) -> Option<ParsedCommand<'a>> {
    let word = crate::commands::split(text, bot_username)?;
    let spec = lookup(word.name)?;
    Some(ParsedCommand {
        spec,
        args: word.args,
        args_offset: word.args_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_declared_once_with_a_valid_telegram_name() {
        use std::collections::HashSet;
        let mut names = HashSet::new();
        for spec in commands() {
            for name in std::iter::once(&spec.name).chain(spec.aliases) {
                assert!(names.insert(*name), "{name} declared twice");
                assert!(
                    !name.is_empty()
                        && name.len() <= 32
                        && name
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{name} is not a valid Telegram command"
                );
            }
            for lang in Lang::ALL {
                assert!(
                    crate::i18n::has_message(lang, &spec.description_key()),
                    "no description for /{} in {}",
                    spec.name,
                    lang.code()
                );
            }
        }
    }

    #[test]
    fn every_module_and_button_prefix_is_declared_once() {
        use std::collections::HashSet;
        let mut ids = HashSet::new();
        let mut prefixes = HashSet::new();
        for module in modules() {
            assert!(ids.insert(module.id), "module {} twice", module.id);
            for button in module.buttons {
                assert!(prefixes.insert(button.prefix), "{} twice", button.prefix);
                assert!(!button.prefix.contains('.'));
            }
            if let Some((name, help)) = module.help {
                for lang in Lang::ALL {
                    assert!(crate::i18n::has_message(lang, name), "{name}");
                    assert!(crate::i18n::has_message(lang, help), "{help}");
                }
            }
        }
    }

    #[test]
    fn only_members_commands_can_be_disabled() {
        for spec in commands() {
            if spec.disableable {
                let members = match spec.scope {
                    Scope::Space { access, .. } => access == Access::Member,
                    Scope::Personal { .. } => spec.name == "id",
                };
                assert!(members, "/{} is not a members' command", spec.name);
            }
        }
        for name in ["id", "rules", "notes", "get", "warns"] {
            assert!(lookup(name).is_some_and(|s| s.disableable), "/{name}");
        }
        for name in [
            "connect",
            "disconnect",
            "reconnect",
            "connection",
            "help",
            "start",
        ] {
            assert!(lookup(name).is_some_and(|s| !s.disableable), "/{name}");
        }
    }

    #[test]
    fn every_connection_list_is_non_empty() {
        for kind in [ConnectionKind::Group, ConnectionKind::Business] {
            for admin in [true, false] {
                assert!(
                    connection_commands(kind, admin).count() > 0,
                    "{kind:?} {admin:?}"
                );
            }
        }
    }

    #[test]
    fn parsing() {
        let p = parse("/connect -100123", "castellan_bot").unwrap();
        assert_eq!(p.spec.name, "connect");
        assert_eq!(p.args, "-100123");
        assert_eq!(&"/connect -100123"[p.args_offset..], "-100123");
        let p = parse("/Connect@Castellan_Bot   x y ", "castellan_bot").unwrap();
        assert_eq!(p.args, "x y ");
        assert!(parse("/connect@other_bot 1", "castellan_bot").is_none());
        assert!(parse("/unknown", "castellan_bot").is_none());
        assert!(parse("connect", "castellan_bot").is_none());
        assert_eq!(parse("/saved", "b").unwrap().spec.name, "notes");
        let p = parse("/save n\nline two", "b").unwrap();
        assert_eq!(p.args, "n\nline two");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any text, any bot username: no panic, and the arguments are the
        /// text from `args_offset` on, with no white space in front.
        #[test]
        fn parse_never_panics(
            text in "\\PC{0,60}|/[a-zA-Z@_ ]{0,20}[\\s\\S]{0,20}",
            bot in "\\PC{0,20}",
        ) {
            if let Some(parsed) = parse(&text, &bot) {
                prop_assert_eq!(text.get(parsed.args_offset..), Some(parsed.args));
                prop_assert!(!parsed.args.starts_with(char::is_whitespace));
                prop_assert!(text.starts_with('/'));
            }
        }

        /// Every registered name parses, addressed to us or to no one, with
        /// whatever arguments follow; addressed to another bot it does not.
        #[test]
        fn registered_commands_parse(
            index in 0usize..1000,
            upper in any::<bool>(),
            args in "[^\\s]\\PC{0,30}",
            other in "[a-z]{1,10}_bot",
        ) {
            let all: Vec<&CommandSpec> = commands().collect();
            let spec = all[index % all.len()];
            let name = if upper { spec.name.to_uppercase() } else { spec.name.to_owned() };
            for text in [format!("/{name} {args}"), format!("/{name}@Castellan_Bot\n {args}")] {
                let parsed = parse(&text, "castellan_bot");
                prop_assert!(parsed.is_some(), "{}", text);
                if let Some(parsed) = parsed {
                    prop_assert_eq!(parsed.spec.name, spec.name);
                    prop_assert_eq!(parsed.args, args.as_str());
                }
            }
            let foreign = format!("/{name}@{other} {args}");
            let parsed = parse(&foreign, "castellan_bot");
            prop_assert!(parsed.is_none());
        }
    }
}
