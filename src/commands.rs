//! The command registry: every command is declared once, here. The
//! declaration drives the dispatcher, `/help`, setMyCommands and the
//! connection's Admin/User command lists.

/// The modules `/help` lists, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    Connections,
    Notes,
    Rules,
    Business,
    Misc,
}

impl Module {
    pub const ALL: [Module; 5] = [
        Module::Connections,
        Module::Notes,
        Module::Rules,
        Module::Business,
        Module::Misc,
    ];

    /// The id used in callback data and `/help <module>`.
    pub fn id(self) -> &'static str {
        match self {
            Module::Connections => "connections",
            Module::Notes => "notes",
            Module::Rules => "rules",
            Module::Business => "business",
            Module::Misc => "misc",
        }
    }

    /// Other names `/help <name>` accepts.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Module::Connections => &["connection", "connect", "connexions", "conexiones"],
            Module::Notes => &["note", "saved", "notas"],
            Module::Rules => &["rule", "reglas"],
            Module::Business => &["negocio", "negocios", "empresa"],
            Module::Misc => &["misc", "basics", "general", "id", "start"],
        }
    }

    /// The module whose id this is, exactly (button data).
    pub fn by_id(id: &str) -> Option<Module> {
        Module::ALL.into_iter().find(|m| m.id() == id)
    }

    pub fn by_name(name: &str) -> Option<Module> {
        let name = name.trim().to_lowercase();
        Module::ALL
            .into_iter()
            .find(|m| m.id() == name || m.aliases().contains(&name.as_str()))
    }

    /// Locale keys of the module's button label and help text.
    pub fn name_key(self) -> &'static str {
        match self {
            Module::Connections => "module-connections",
            Module::Notes => "module-notes",
            Module::Rules => "module-rules",
            Module::Business => "module-business",
            Module::Misc => "module-misc",
        }
    }

    pub fn help_key(self) -> &'static str {
        match self {
            Module::Connections => "help-connections",
            Module::Notes => "help-notes",
            Module::Rules => "help-rules",
            Module::Business => "help-business",
            Module::Misc => "help-misc",
        }
    }
}

/// Commands about the sender and the bot itself; they need no target chat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonalCommand {
    Start,
    Help,
    Id,
    Connect,
    Disconnect,
    Reconnect,
    Connection,
}

/// Commands that act on a space: the group they are sent in, or in PM the
/// space the sender is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpaceCommand {
    AllowConnect,
    Save,
    Get,
    Notes,
    Clear,
    Rules,
    SetRules,
    ClearRules,
}

/// Who may use a command on a space. Judged in the target space, never in PM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Members of the chat (and its admins).
    Member,
    /// The chat's creator and administrators; a business account's owner.
    Admin,
}

/// The kinds of connection a space command works through, from PM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via {
    /// A connection to a group.
    pub group: bool,
    /// A connection to the sender's own Telegram Business account.
    pub business: bool,
}

impl Via {
    pub const GROUP: Via = Via {
        group: true,
        business: false,
    };
    pub const GROUP_AND_BUSINESS: Via = Via {
        group: true,
        business: true,
    };

    pub fn accepts(self, kind: ConnectionKind) -> bool {
        match kind {
            ConnectionKind::Group => self.group,
            ConnectionKind::Business => self.business,
        }
    }
}

/// What a PM can be connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    Group,
    Business,
}

/// Where a command runs and what it acts on. Dispatch is derived from it:
/// a personal command is handled in private chats (and in groups when
/// `in_groups`); a space command is handled in groups, and in private chats
/// through a connection of a kind `via` accepts. No command runs in a
/// business chat: those are a business's customers talking to its owner, and
/// only `#name` is answered there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Personal {
        command: PersonalCommand,
        in_groups: bool,
    },
    Space {
        command: SpaceCommand,
        access: Access,
        via: Via,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// The name users type, lower-case, as registered with setMyCommands.
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    pub module: Module,
    pub scope: Scope,
    /// Shown in PM command menus (setMyCommands for private chats).
    pub in_private_menu: bool,
    /// Shown in group command menus.
    pub in_group_menu: bool,
}

impl CommandSpec {
    /// Locale key of the one-line description.
    pub fn description_key(&self) -> String {
        format!("cmd-{}", self.name)
    }

    /// `/name — description` in `lang`, as HTML, for help pages and lists.
    pub fn describe(&self, lang: crate::i18n::Lang) -> String {
        let description = crate::i18n::translate(lang, &self.description_key(), None);
        format!("/{} — {}", self.name, crate::i18n::escape(&description))
    }

    /// The access level when usable through a connection of `kind`.
    pub fn connection_access(&self, kind: ConnectionKind) -> Option<Access> {
        match self.scope {
            Scope::Space { access, via, .. } if via.accepts(kind) => Some(access),
            _ => None,
        }
    }
}

const fn personal(command: PersonalCommand, in_groups: bool) -> Scope {
    Scope::Personal { command, in_groups }
}

const fn space(command: SpaceCommand, access: Access, via: Via) -> Scope {
    Scope::Space {
        command,
        access,
        via,
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "start",
        aliases: &[],
        module: Module::Misc,
        scope: personal(PersonalCommand::Start, true),
        in_private_menu: true,
        in_group_menu: false,
    },
    CommandSpec {
        name: "help",
        aliases: &[],
        module: Module::Misc,
        scope: personal(PersonalCommand::Help, true),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        name: "id",
        aliases: &[],
        module: Module::Misc,
        scope: personal(PersonalCommand::Id, true),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        name: "connect",
        aliases: &[],
        module: Module::Connections,
        scope: personal(PersonalCommand::Connect, true),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        name: "disconnect",
        aliases: &[],
        module: Module::Connections,
        scope: personal(PersonalCommand::Disconnect, false),
        in_private_menu: true,
        in_group_menu: false,
    },
    CommandSpec {
        name: "reconnect",
        aliases: &[],
        module: Module::Connections,
        scope: personal(PersonalCommand::Reconnect, false),
        in_private_menu: true,
        in_group_menu: false,
    },
    CommandSpec {
        name: "connection",
        aliases: &[],
        module: Module::Connections,
        scope: personal(PersonalCommand::Connection, false),
        in_private_menu: true,
        in_group_menu: false,
    },
    CommandSpec {
        name: "allowconnect",
        aliases: &[],
        module: Module::Connections,
        scope: space(SpaceCommand::AllowConnect, Access::Admin, Via::GROUP),
        in_private_menu: false,
        in_group_menu: true,
    },
    CommandSpec {
        name: "get",
        aliases: &[],
        module: Module::Notes,
        scope: space(SpaceCommand::Get, Access::Member, Via::GROUP_AND_BUSINESS),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        name: "notes",
        aliases: &["saved"],
        module: Module::Notes,
        scope: space(SpaceCommand::Notes, Access::Member, Via::GROUP_AND_BUSINESS),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        name: "save",
        aliases: &[],
        module: Module::Notes,
        scope: space(SpaceCommand::Save, Access::Admin, Via::GROUP_AND_BUSINESS),
        in_private_menu: false,
        in_group_menu: true,
    },
    CommandSpec {
        name: "clear",
        aliases: &[],
        module: Module::Notes,
        scope: space(SpaceCommand::Clear, Access::Admin, Via::GROUP_AND_BUSINESS),
        in_private_menu: false,
        in_group_menu: true,
    },
    CommandSpec {
        name: "rules",
        aliases: &[],
        module: Module::Rules,
        scope: space(SpaceCommand::Rules, Access::Member, Via::GROUP),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        name: "setrules",
        aliases: &[],
        module: Module::Rules,
        scope: space(SpaceCommand::SetRules, Access::Admin, Via::GROUP),
        in_private_menu: false,
        in_group_menu: true,
    },
    CommandSpec {
        name: "clearrules",
        aliases: &[],
        module: Module::Rules,
        scope: space(SpaceCommand::ClearRules, Access::Admin, Via::GROUP),
        in_private_menu: false,
        in_group_menu: true,
    },
];

/// Looks a typed name (without the slash) up among names and aliases.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|s| {
        s.name.eq_ignore_ascii_case(name) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The commands usable through a connection of `kind` with exactly this
/// access level, in registry order.
pub fn connection_commands(
    kind: ConnectionKind,
    access: Access,
) -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS
        .iter()
        .filter(move |s| s.connection_access(kind) == Some(access))
}

pub fn module_commands(module: Module) -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter().filter(move |s| s.module == module)
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
    let body = text.strip_prefix('/')?;
    let end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
    let word = &body[..end];
    let name = match word.split_once('@') {
        Some((name, target)) if target.eq_ignore_ascii_case(bot_username) => name,
        Some(_) => return None,
        None => word,
    };
    let spec = lookup(name)?;
    let rest = &body[end..];
    let trimmed = rest.trim_start();
    let args_offset = 1 + end + (rest.len() - trimmed.len());
    Some(ParsedCommand {
        spec,
        args: trimmed,
        args_offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_declared_once_with_a_valid_telegram_name() {
        use std::collections::HashSet;
        let mut names = HashSet::new();
        let mut scopes = HashSet::new();
        for spec in COMMANDS {
            let command = match spec.scope {
                Scope::Personal { command, .. } => format!("{command:?}"),
                Scope::Space { command, .. } => format!("{command:?}"),
            };
            assert!(scopes.insert(command), "/{} is declared twice", spec.name);
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
            for lang in crate::i18n::Lang::ALL {
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
    fn every_connection_list_is_non_empty() {
        for kind in [ConnectionKind::Group, ConnectionKind::Business] {
            for access in [Access::Admin, Access::Member] {
                assert!(
                    connection_commands(kind, access).count() > 0,
                    "{kind:?} {access:?}"
                );
            }
        }
    }

    #[test]
    fn every_command_enum_value_is_in_the_registry() {
        use PersonalCommand as P;
        use SpaceCommand as S;
        let personal = [
            P::Start,
            P::Help,
            P::Id,
            P::Connect,
            P::Disconnect,
            P::Reconnect,
            P::Connection,
        ];
        let space = [
            S::AllowConnect,
            S::Save,
            S::Get,
            S::Notes,
            S::Clear,
            S::Rules,
            S::SetRules,
            S::ClearRules,
        ];
        for wanted in personal {
            assert!(
                COMMANDS.iter().any(
                    |s| matches!(s.scope, Scope::Personal { command, .. } if command == wanted)
                )
            );
        }
        for wanted in space {
            assert!(
                COMMANDS
                    .iter()
                    .any(|s| matches!(s.scope, Scope::Space { command, .. } if command == wanted))
            );
        }
        assert_eq!(COMMANDS.len(), personal.len() + space.len());
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
            spec in prop::sample::select(COMMANDS.to_vec()),
            upper in any::<bool>(),
            args in "[^\\s]\\PC{0,30}",
            other in "[a-z]{1,10}_bot",
        ) {
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
