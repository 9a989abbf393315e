//! The command registry: every command is declared once, here. The
//! declaration drives the dispatcher, `/help`, setMyCommands and the
//! connection's Admin/User command lists.

/// The modules `/help` lists, in that order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Module {
    Connections,
    Notes,
    Rules,
    Misc,
}

impl Module {
    pub const ALL: [Module; 4] = [
        Module::Connections,
        Module::Notes,
        Module::Rules,
        Module::Misc,
    ];

    /// The id used in callback data and `/help <module>`.
    pub fn id(self) -> &'static str {
        match self {
            Module::Connections => "connections",
            Module::Notes => "notes",
            Module::Rules => "rules",
            Module::Misc => "misc",
        }
    }

    /// Other names `/help <name>` accepts.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Module::Connections => &["connection", "connect", "connexions", "conexiones"],
            Module::Notes => &["note", "saved", "notas"],
            Module::Rules => &["rule", "reglas"],
            Module::Misc => &["misc", "basics", "general", "id", "start"],
        }
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
            Module::Misc => "module-misc",
        }
    }

    pub fn help_key(self) -> &'static str {
        match self {
            Module::Connections => "help-connections",
            Module::Notes => "help-notes",
            Module::Rules => "help-rules",
            Module::Misc => "help-misc",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Start,
    Help,
    Id,
    Connect,
    Disconnect,
    Reconnect,
    Connection,
    AllowConnect,
    Save,
    Get,
    Notes,
    Clear,
    Rules,
    SetRules,
    ClearRules,
}

/// Who may use a command on a chat. Judged in the target chat, never in PM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Members of the chat (and its admins).
    Member,
    /// The chat's creator and administrators.
    Admin,
}

/// Where a command is meant to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Commands about the user and the bot itself, in any chat
    /// (/start, /help, /id, connection management).
    Anywhere,
    /// Commands that act on a group: sent in the group, or in PM through a
    /// connection when `via_connection` is set.
    Chat {
        access: Access,
        via_connection: bool,
    },
}

#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    pub command: Command,
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

    /// The access level when usable through a connection.
    pub fn connection_access(&self) -> Option<Access> {
        match self.scope {
            Scope::Chat {
                access,
                via_connection: true,
            } => Some(access),
            _ => None,
        }
    }
}

const fn chat(access: Access, via_connection: bool) -> Scope {
    Scope::Chat {
        access,
        via_connection,
    }
}

pub static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        command: Command::Start,
        name: "start",
        aliases: &[],
        module: Module::Misc,
        scope: Scope::Anywhere,
        in_private_menu: true,
        in_group_menu: false,
    },
    CommandSpec {
        command: Command::Help,
        name: "help",
        aliases: &[],
        module: Module::Misc,
        scope: Scope::Anywhere,
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::Id,
        name: "id",
        aliases: &[],
        module: Module::Misc,
        scope: Scope::Anywhere,
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::Connect,
        name: "connect",
        aliases: &[],
        module: Module::Connections,
        scope: Scope::Anywhere,
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::Disconnect,
        name: "disconnect",
        aliases: &[],
        module: Module::Connections,
        scope: Scope::Anywhere,
        in_private_menu: true,
        in_group_menu: false,
    },
    CommandSpec {
        command: Command::Reconnect,
        name: "reconnect",
        aliases: &[],
        module: Module::Connections,
        scope: Scope::Anywhere,
        in_private_menu: true,
        in_group_menu: false,
    },
    CommandSpec {
        command: Command::Connection,
        name: "connection",
        aliases: &[],
        module: Module::Connections,
        scope: Scope::Anywhere,
        in_private_menu: true,
        in_group_menu: false,
    },
    CommandSpec {
        command: Command::AllowConnect,
        name: "allowconnect",
        aliases: &[],
        module: Module::Connections,
        scope: chat(Access::Admin, true),
        in_private_menu: false,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::Get,
        name: "get",
        aliases: &[],
        module: Module::Notes,
        scope: chat(Access::Member, true),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::Notes,
        name: "notes",
        aliases: &["saved"],
        module: Module::Notes,
        scope: chat(Access::Member, true),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::Save,
        name: "save",
        aliases: &[],
        module: Module::Notes,
        scope: chat(Access::Admin, true),
        in_private_menu: false,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::Clear,
        name: "clear",
        aliases: &[],
        module: Module::Notes,
        scope: chat(Access::Admin, true),
        in_private_menu: false,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::Rules,
        name: "rules",
        aliases: &[],
        module: Module::Rules,
        scope: chat(Access::Member, true),
        in_private_menu: true,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::SetRules,
        name: "setrules",
        aliases: &[],
        module: Module::Rules,
        scope: chat(Access::Admin, true),
        in_private_menu: false,
        in_group_menu: true,
    },
    CommandSpec {
        command: Command::ClearRules,
        name: "clearrules",
        aliases: &[],
        module: Module::Rules,
        scope: chat(Access::Admin, true),
        in_private_menu: false,
        in_group_menu: true,
    },
];

pub fn spec(command: Command) -> &'static CommandSpec {
    // Every Command has an entry: checked by `every_command_is_declared_once`.
    COMMANDS
        .iter()
        .find(|s| s.command == command)
        .unwrap_or(&COMMANDS[0])
}

/// Looks a typed name (without the slash) up among names and aliases.
pub fn lookup(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|s| {
        s.name.eq_ignore_ascii_case(name) || s.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The commands usable through a connection with exactly this access level,
/// in registry order.
pub fn connection_commands(access: Access) -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS
        .iter()
        .filter(move |s| s.connection_access() == Some(access))
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
        for declared in COMMANDS {
            let spec = declared;
            assert_eq!(super::spec(spec.command).name, spec.name);
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
    fn both_connection_lists_are_non_empty() {
        assert!(connection_commands(Access::Admin).count() > 0);
        assert!(connection_commands(Access::Member).count() > 0);
    }

    #[test]
    fn parsing() {
        let p = parse("/connect -100123", "castellan_bot").unwrap();
        assert_eq!(p.spec.command, Command::Connect);
        assert_eq!(p.args, "-100123");
        assert_eq!(&"/connect -100123"[p.args_offset..], "-100123");
        let p = parse("/Connect@Castellan_Bot   x y ", "castellan_bot").unwrap();
        assert_eq!(p.args, "x y ");
        assert!(parse("/connect@other_bot 1", "castellan_bot").is_none());
        assert!(parse("/unknown", "castellan_bot").is_none());
        assert!(parse("connect", "castellan_bot").is_none());
        assert_eq!(parse("/saved", "b").unwrap().spec.command, Command::Notes);
        let p = parse("/save n\nline two", "b").unwrap();
        assert_eq!(p.args, "n\nline two");
    }
}
