# castellan — English. Messages are Telegram HTML: values are escaped by the
# bot; keep tags to b, i, u, s, code, pre, a. Keys marked "plain" are shown
# in buttons or alerts and must not contain tags.

## Modules (plain: button labels)
module-connections = Connections
module-notes = Notes
module-rules = Rules
module-business = Business
module-misc = Basics

## Command descriptions (plain: command menus and lists)
cmd-start = Start the bot
cmd-help = Show help for the bot's modules
cmd-id = Show your id, and the chat's id in groups
cmd-connect = Connect your PM to a group
cmd-disconnect = End the connection to a group
cmd-reconnect = Reconnect to the last group
cmd-connection = Show the current connection
cmd-allowconnect = Allow or forbid members to connect
cmd-get = Get a note
cmd-notes = List the chat's notes
cmd-save = Save a note
cmd-clear = Delete a note
cmd-rules = Show the chat's rules
cmd-setrules = Set the chat's rules
cmd-clearrules = Delete the chat's rules

## Buttons (plain)
button-help = Help
button-back = « Back
button-open-pm = Open in private chat
button-help-pm = Help in private chat
button-connect-pm = Connect in private chat
button-admin-commands = Admin commands
button-user-commands = User commands
button-unknown = This button is not valid (any more).
button-business-pause = Pause my replies in this chat
button-business-resume = Resume my replies in this chat
button-previous = ◀ Previous
button-next = Next ▶

## Start and help
start-private = Hi <b>{ $name }</b>! I am castellan, a bot that helps manage groups.
    Connect this chat to one of your groups with /connect and manage it from here, without spamming the group.
    Press Help to see what I can do.
start-group = Hi! I am up and running. Talk to me in private for help and connections.
start-unknown-link = That link is not valid. Send /help to see what I can do.
help-main = <b>Help</b>
    Pick a module to see its commands. In private chat, group commands work through a connection: see <b>Connections</b>.
help-in-pm = Help is in private chat, so the group stays quiet.
help-unknown-module = There is no module called <code>{ $name }</code>. Modules: { $modules }.
help-module = <b>{ $name }</b>

    { $body }

    <b>Commands</b>
    { $commands }
help-module-no-commands = <b>{ $name }</b>

    { $body }
help-connections = Connect your private chat with me to a group, and the group's commands sent here act on that group without anyone in the group seeing them. Admins can change things; members can read what the group offers.
    • Send <code>/connect -1001234567890</code> with the group's id, or <code>/connect @groupname</code> for a public group.
    • Get the id by sending /id in the group: group ids are negative numbers.
    • Or send /connect in the group and press the button.
    • /connection shows where you are connected, /disconnect ends it, /reconnect goes back to the last group.
    • Admins decide with /allowconnect whether members may connect.
    Every command through a connection checks again that you are still a member (and still an admin for admin commands).
help-notes = Notes are texts a group keeps under a name, with their formatting.
    • <code>/save name text</code>, or <code>/save name</code> replying to a message (admins).
    • <code>/get name</code> or <code>#name</code> to read one; /notes lists them.
    • <code>/clear name</code> deletes one (admins).
    Names use letters, digits, _ and -, up to 64 characters, in any letter case.
help-rules = Every group can have rules.
    • /rules shows them.
    • <code>/setrules text</code>, or /setrules replying to a message, sets them (admins); /clearrules removes them.
help-business = With Telegram Business, your notes answer your customers.
    • Connect me to your business account: Settings → Telegram Business → Chatbots, pick me, and allow <b>Reply to messages</b>.
    • Send <code>/connect business</code> here, then <code>/save name text</code>, /notes and <code>/clear name</code> manage your business's notes. /connection shows the connection's state and rights.
    • When a customer writes <code>#name</code> in a chat with you, I answer with your note <code>name</code>, in your name. Nothing else a customer writes is answered, and nothing you write.
    • Press <b>Manage Bot</b> at the top of a customer chat to pause or resume my replies in that chat only.
    Only the account's owner can manage it; if you disconnect me or take away my right to reply, I stop answering at once.
help-misc = The basics.
    • /start greets you, /help shows this help.
    • /id shows your id; in a group also the group's id; as a reply, the id of the replied-to user.

## /id
id-yours = Your id: <code>{ $id }</code>
id-of-user = { $name }'s id: <code>{ $id }</code>
id-of-chat-sender = { $name }'s chat id: <code>{ $id }</code>
id-this-chat = This chat's id: <code>{ $id }</code>

## Roles (plain)
role-admin = admin
role-member = member
role-owner = owner
word-yes = yes
word-no = no
# used as a title in other messages: plain
business-account = your business account

## Connections
connect-success = You are now connected to <b>{ $title }</b> as { $role }.
    Commands you send here act on that group. /disconnect ends the connection.
connection-current = You are connected to <b>{ $title }</b> as { $role }.
connection-none = You are not connected to any group. Send /connect to connect.
connect-refused = I cannot connect you: { $reason }
connect-how = Send <code>/connect</code> followed by the group's id, for example <code>/connect -1001234567890</code>, or its @username.
    To get the id, send /id in the group: group ids are negative numbers. Or send /connect in the group and press the button.
connect-recent = Pick one of your recent groups, or send <code>/connect</code> with a group's id:
connect-bad-chat = <code>{ $input }</code> is not a chat. Send a group id such as <code>-1001234567890</code> (send /id in the group to get it) or an @username.
connect-id-out-of-range = <code>{ $input }</code> is not a Telegram chat id: it is out of range. Group ids look like <code>-1001234567890</code>.
connect-positive-id = <code>{ $input }</code> is the id of a user or a private chat, which cannot be connected. Group ids are negative: send /id in the group to get it.
connect-bad-username = <code>{ $input }</code> is not a valid username: it needs 4 to 32 letters, digits or _ after the @, starting with a letter.
connect-bad-link = This connection link is broken. Send /connect in the group to get a new one.
connect-in-group = Press the button to connect to <b>{ $title }</b> in private chat.
disconnect-done = Disconnected from <b>{ $title }</b>.
disconnect-not-connected = You are not connected to any group.
business-state = Connection enabled: { $enabled }. May reply to customers: { $can_reply }. May read messages: { $can_read }.
reconnect-no-history = You have not been connected to any group yet. Send /connect to connect.
connection-revoked = Your connection to <b>{ $title }</b> has ended: { $reason }
# plain
connbtns-not-connected = You are not connected to a group any more. Send /connect to connect.
# plain
connbtns-admins-only = Only the group's admins can see the admin commands.
connbtns-admin-list = <b>Admin commands</b> for <b>{ $title }</b>, usable here through the connection:
    { $commands }
connbtns-user-list = <b>Member commands</b> for <b>{ $title }</b>, usable here through the connection:
    { $commands }
allowconnect-status-on = Members may connect to <b>{ $title }</b> from private chat.
allowconnect-status-off = Only admins may connect to <b>{ $title }</b> from private chat.
allowconnect-set-on = Done: members may now connect to <b>{ $title }</b>.
allowconnect-set-off = Done: only admins may connect to <b>{ $title }</b> now.
allowconnect-bad-option = <code>{ $option }</code> is not an option. Use yes, no, on, off, true or false.

## Why a connection is refused (plain text, no tags)
deny-not-a-group = only groups and supergroups can be connected, not private chats or channels.
deny-chat-not-found = I cannot find that chat. Check the id, and make sure I am a member of the group.
deny-bot-not-in-chat = I am not a member of that group. Add me to it first.
deny-not-member = you are not a member of that group.
deny-banned = you are banned from that group.
deny-connections-disabled = the group's admins allow only admins to connect.
deny-no-business = you have no Telegram Business account connected to me. Connect me in Settings → Telegram Business → Chatbots first.
deny-business-disabled = your business account has disconnected me. Connect me again in Settings → Telegram Business → Chatbots.
deny-not-business-owner = only the owner of a business account can manage it.
ended-bot-removed = I was removed from that group. Add me again, then connect with /connect.

## Errors
error-admins-only = Only admins can use /{ $command }.
error-admins-only-in = Only admins of <b>{ $title }</b> can use /{ $command }.
error-lacks-right = To use /{ $command } in <b>{ $title }</b> you need the admin right to { $right }.
right-restrict-members = ban users
right-delete-messages = delete messages
right-change-info = change group info
right-pin-messages = pin messages
right-promote-members = add new admins
error-channel-sender = Commands sent on behalf of a channel cannot be checked. Send it as yourself.
error-group-only = /{ $command } works in groups only.
error-pm-only = Send /{ $command } to me in private chat.
error-not-connected = /{ $command } acts on a group: use it in the group, or connect this chat to the group first with /connect.
error-not-through-business = /{ $command } does not work for a business account: it is for groups. Connect to a group with /connect to use it.
error-telegram-unavailable = Telegram did not answer me just now. Please try again in a moment.
error-telegram-chat-not-found = Telegram says that chat does not exist any more, or that I cannot see it.
error-telegram-bot-not-in-chat = I am not a member of that chat any more, so I cannot do that there. Add me to it again first.
error-telegram-bot-lacks-rights = I do not have the rights to do that in this chat. An admin can give them to me.
error-slow-down = You are sending commands faster than I can serve them. Wait { $seconds } s, then try again.
error-storage-unavailable = My storage is unavailable right now. Please try again shortly.
error-internal = Something went wrong on my side. Please try again; if it keeps happening, tell the bot's operator.

## Notes
notes-name-too-long = <code>{ $name }</code> is too long for a note name ({ $length } characters): names have at most { $max } characters.
notes-save-usage = Send <code>/save name text</code>, or <code>/save name</code> as a reply to the message to save.
notes-save-empty = There is nothing to save as <code>{ $name }</code>: add a text after the name, or reply to a message with text.
notes-bad-name = <code>{ $name }</code> is not a valid note name: use letters, digits, _ and -, at most { $max } characters.
notes-saved = Saved note <code>{ $name }</code> in <b>{ $title }</b>. Get it with <code>/get { $name }</code> or <code>#{ $name }</code>.
notes-updated = Updated note <code>{ $name }</code> in <b>{ $title }</b>.
notes-get-usage = Send <code>/get name</code>. /notes lists the notes.
notes-not-found = There is no note <code>{ $name }</code> in <b>{ $title }</b>. /notes lists the notes.
notes-none = <b>{ $title }</b> has no notes yet.
notes-list = { $count ->
        [one] <b>{ $title }</b> has one note:
       *[other] <b>{ $title }</b> has { $count } notes:
    }
    { $notes }
    Get one with <code>/get name</code> or <code>#name</code>.
notes-list-page = <b>{ $title }</b> has { $count } notes, page { $page } of { $pages }:
    { $notes }
    Get one with <code>/get name</code> or <code>#name</code>.
notes-clear-usage = Send <code>/clear name</code> to delete a note.
notes-cleared = Deleted note <code>{ $name }</code> from <b>{ $title }</b>.

## Rules
rules-show = <b>Rules of { $title }</b>

    { $rules }
rules-none = <b>{ $title }</b> has no rules yet.
rules-set-usage = Send <code>/setrules</code> followed by the rules, or as a reply to the message with the rules.
rules-set = The rules of <b>{ $title }</b> are saved.
rules-cleared = The rules of <b>{ $title }</b> are deleted.

## Telegram Business
business-connected = Hi { $name }! I am now connected to your business account.
    When a customer writes <code>#name</code>, I answer with your note <code>name</code>. Send <code>/connect business</code> here to manage your business's notes, and /help business for more.
business-connected-no-reply = Hi { $name }! I am connected to your business account, but I may not reply to messages, so your customers get no answers from me.
    To allow it: Settings → Telegram Business → Chatbots → me → turn on <b>Reply to messages</b>.
business-disconnected = Hi { $name }! Your business account has disconnected me, so I no longer answer your customers. Your business's notes are kept: connect me again in Settings → Telegram Business → Chatbots to use them.
business-manage-refused = I cannot manage that chat: { $reason }
business-chat-active = Customer chat <code>{ $chat }</code>: I answer <code>#name</code> there with your notes.
    { $state }
business-chat-paused = Customer chat <code>{ $chat }</code>: my replies are <b>paused</b> there.
    { $state }
# plain
business-paused-done = Paused: I will not reply in that chat.
# plain
business-resumed-done = Resumed: I reply in that chat again.

## Moderation
module-moderation = Moderation
help-moderation = Ban, mute, kick and warn members, in the group or from here through a connection.
    • Name the member by replying to one of their messages, by @username (someone I have seen in the group), by numeric id, or by a mention.
    • Durations: 30m, 4h, 2d, 1w; from one minute to 365 days.
    • Every action needs the admin right to ban users, yours and mine; the warn settings need the right to change group info.
cmd-ban = Ban a member
cmd-tban = Ban a member for a while
cmd-unban = Lift a ban
cmd-kick = Remove a member (they may come back)
cmd-mute = Stop a member from sending messages
cmd-tmute = Mute a member for a while
cmd-unmute = Let a muted member write again
cmd-warn = Warn a member
cmd-warns = Show warnings (your own, or a member's)
cmd-rmwarn = Remove a member's latest warning
cmd-resetwarns = Remove all of a member's warnings
cmd-warnlimit = Show or set how many warnings lead to the sanction
cmd-warnmode = Show or set the sanction at the warn limit
cmd-modlog = Show the latest moderation actions
button-mod-confirm = Confirm as an admin
button-remove-warn = Remove warning
mod-who = Who? Reply to one of their messages, or give their @username or id: /{ $command } @username
mod-unknown-username = I have not seen { $name } here: reply to one of their messages or use their id.
mod-stand-in = That message was sent on behalf of a chat (a channel or an anonymous admin), not by a person I can act on.
mod-not-yourself = You cannot { $action } yourself.
mod-not-the-bot = I will not { $action } myself.
mod-target-admin = { $user } is an admin of this group: I cannot act on them.
mod-not-in-group = { $user } is not in this group.
mod-not-banned = { $user } is not banned.
mod-bot-lacks-right = I need the admin right to { $right } in <b>{ $title }</b> for that.
mod-duration-missing = How long? For example: /{ $command } @username 2d
mod-duration-invalid = “{ $duration }” is not a duration. Use for example 30m, 4h, 2d or 1w.
mod-duration-too-short = “{ $duration }” is too short: at least one minute (Telegram would make it forever).
mod-duration-too-long = “{ $duration }” is too long: at most 365 days (Telegram would make it forever).
mod-banned = { $user } was banned by { $admin }.
mod-banned-for = { $user } was banned by { $admin } for { $duration }.
mod-unbanned = { $user } was unbanned by { $admin }.
mod-kicked = { $user } was removed by { $admin }.
mod-muted = { $user } was muted by { $admin }.
mod-muted-for = { $user } was muted by { $admin } for { $duration }.
mod-unmuted = { $user } can write again ({ $admin }).
mod-supergroup-only = Telegram allows that in supergroups only. Any change to the group’s settings (for example making its history visible) makes it one.
mod-reason = Reason: { $reason }
mod-anonymous-confirm = An anonymous admin asked for /{ $command } on { $user }. An admin with the right to ban users can confirm it.
mod-confirm-gone = That request is gone: send the command again.
mod-warned = { $user } has { $count }/{ $limit } warnings.
mod-limit-reason = { $limit } warnings
mod-limit-not-applied = The warn limit was reached, but: { $reason }
mod-warns-none = { $user } has no warnings.
mod-no-reason = (no reason)
mod-warns-list = { $user } has { $count }/{ $limit } warnings:
    { $warns }
mod-warn-removed = The latest warning of { $user } was removed.
mod-warns-reset = All warnings of { $user } were removed.
# plain
mod-warn-already-removed = That warning was already removed.
mod-warn-removed-by = A warning of { $user } was removed by { $admin }.
mod-warnlimit-is = In <b>{ $title }</b> the warn limit is { $limit }.
mod-warnlimit-set = In <b>{ $title }</b> the warn limit is now { $limit }.
mod-warnlimit-bad = “{ $input }” is not a warn limit: give a number from 1 to { $max }.
mod-mode-ban = ban
mod-mode-kick = kick
mod-mode-mute = mute
mod-mode-tban = ban for { $duration }
mod-mode-tmute = mute for { $duration }
mod-warnmode-is = In <b>{ $title }</b>, reaching the warn limit means: { $mode }.
mod-warnmode-set = In <b>{ $title }</b>, reaching the warn limit now means: { $mode }.
mod-warnmode-bad = “{ $input }” is not a warn mode: use ban, kick, mute, tban &lt;duration&gt; or tmute &lt;duration&gt;.
mod-log-empty = Nothing has been moderated in <b>{ $title }</b> yet.
mod-log = Latest moderation in <b>{ $title }</b>:
    { $actions }

## Guards
module-locks = Locks
module-blacklists = Blacklists
module-antiflood = Antiflood
module-filters = Filters
module-disabling = Disabling
help-locks = Forbid kinds of messages in the group; a member's locked message is deleted (admins are exempt).
    • /lock sticker url — /unlock url — /locks — /locktypes
    • "bot": a bot a member adds is removed.
help-blacklists = Words and phrases the group does not want (one per line; * stands for the rest of a word). A member's message holding one is deleted and the blacklist action applied.
    • /addblacklist, /rmblacklist, /blacklist, /blacklistmode delete|warn|mute|kick|ban|tmute 2h|tban 2d
help-antiflood = Sanctions a member who sends too many messages: in a row (/setflood 5) or within a time (/setfloodtimer 10 30s). /setfloodmode chooses the sanction; /flood shows the settings.
help-filters = Keywords the bot answers: /filter hello Welcome! — several at once: /filter ("good morning", hi) Hello! — or reply to a message with /filter hi "good morning" to answer with it. Keywords match whole words, in any letter case. /stop removes one, /stopall (the creator) all, /filters lists them.
help-disabling = Turn members' commands off in the group: /disable id rules. Admins keep them. /enable, /disabled, /disableable, /disabledel on|off (delete the disabled commands members send).
cmd-lock = Lock kinds of messages
cmd-unlock = Unlock kinds of messages
cmd-locks = Show what is locked
cmd-locktypes = Show what can be locked
cmd-addblacklist = Add blacklist entries (one per line)
cmd-rmblacklist = Remove blacklist entries
cmd-blacklist = Show the blacklist
cmd-blacklistmode = Show or set what happens to a blacklisted message's sender
cmd-setflood = Set how many messages in a row are a flood (or off)
cmd-setfloodtimer = Set how many messages within a time are a flood (or off)
cmd-setfloodmode = Set the flood sanction
cmd-flood = Show the antiflood settings
cmd-filter = Add a filter: a keyword and its answer
cmd-stop = Remove a filter
cmd-stopall = Remove every filter (the creator)
cmd-filters = List the filters
cmd-disable = Turn commands off for members
cmd-enable = Turn commands on again
cmd-disabled = Show the commands turned off
cmd-disableable = Show the commands that can be turned off
cmd-disabledel = Delete turned-off commands members send (on/off)
guard-bot-lacks-right = ⚠️ I need the admin right to { $right } in <b>{ $title }</b> for this to work.
guard-privacy-mode = ⚠️ My privacy mode hides ordinary group messages from me: make me an admin (or turn privacy mode off with @BotFather) for this to work.
guard-action-bad = “{ $input }” is not one of: { $actions }.
guard-action-delete = delete the message
guard-action-warn = warn
onoff-bad-option = “{ $option }” is not an option: use on or off.
locks-usage = What should I lock? For example: /{ $command } sticker url. /locktypes lists them.
locks-unknown = I do not know these kinds: { $kinds }. /locktypes lists them.
locks-locked = Locked in <b>{ $title }</b>: { $kinds }.
locks-unlocked = Unlocked in <b>{ $title }</b>: { $kinds }.
locks-none = Nothing is locked in <b>{ $title }</b>.
locks-list = Locked in <b>{ $title }</b>: { $kinds }.
locks-types = Kinds that can be locked: { $kinds }.
blacklist-usage = Give the entries, one per line: /{ $command } casino
blacklist-too-many = <b>{ $title }</b> can have at most { $max } blacklist entries.
blacklist-added = Blacklisted in <b>{ $title }</b>: { $entries }.
blacklist-removed = Removed from the blacklist of <b>{ $title }</b>: { $count }.
blacklist-none = <b>{ $title }</b> has no blacklist.
blacklist-list = Blacklist of <b>{ $title }</b> (action: { $action }):
    { $entries }
blacklistmode-is = In <b>{ $title }</b>, a blacklisted message is deleted, and then: { $action }.
blacklistmode-set = In <b>{ $title }</b>, a blacklisted message is now deleted, and then: { $action }.
blacklist-reason = a blacklisted word
flood-off = off
flood-consecutive = { $count } messages in a row
flood-timer = { $count } messages within { $duration }
flood-settings = Antiflood in <b>{ $title }</b>:
    • in a row: { $consecutive }
    • in a time: { $timer }
    • sanction: { $action }
flood-bad-count = “{ $input }” is not a flood limit: give a number from { $min } to { $max }, or off.
flood-timer-usage = Give a count from { $min } to { $max } and a duration from 1s to 24h, for example /setfloodtimer 10 30s, or off.
flood-reason = flooding
filters-usage = Give a keyword and its answer: /filter hello Welcome! — or several: /filter ("good morning", hi) Hello! — or reply to a message with /filter hi.
filters-keyword-too-long = “{ $keyword }” is too long for a keyword: at most { $max } characters.
filters-too-many = <b>{ $title }</b> can have at most { $max } filters.
filters-saved = Filters saved in <b>{ $title }</b>: { $keywords }.
filters-stop-usage = Which filter? /stop hello
filters-stopped = Filters removed from <b>{ $title }</b>: { $keywords }.
filters-not-found = <b>{ $title }</b> has no filter for { $keywords }.
filters-creator-only = Only the creator of <b>{ $title }</b> can remove every filter.
# plain
filters-creator-only-plain = Only the group's creator can remove every filter.
filters-clear-confirm = Remove every filter of <b>{ $title }</b>? This cannot be undone.
button-filters-clear = Remove every filter
filters-cleared = { $count ->
        [one] One filter removed.
       *[other] { $count } filters removed.
    }
filters-none = <b>{ $title }</b> has no filters.
filters-list = { $count ->
        [one] One filter in <b>{ $title }</b>:
       *[other] { $count } filters in <b>{ $title }</b>:
    }
    { $filters }
disable-usage = Which commands? /disable id rules — /disableable lists them.
enable-usage = Which commands? /enable id rules
disabled-now = Turned off for members in <b>{ $title }</b>: { $commands }.
enabled-now = Turned on again in <b>{ $title }</b>: { $commands }.
disable-not-disableable = These cannot be turned off: { $commands }. /disableable lists those that can.
disabled-none = No command is turned off in <b>{ $title }</b>.
disabled-list = Turned off for members in <b>{ $title }</b>: { $commands }.
disabledel-on-note = Members' uses of them are deleted.
disableable-list = Commands a group can turn off for its members:
    { $commands }
disabledel-is-on = In <b>{ $title }</b>, turned-off commands members send are deleted.
disabledel-is-off = In <b>{ $title }</b>, turned-off commands members send are ignored, not deleted.
disabledel-set-on = In <b>{ $title }</b>, turned-off commands members send are now deleted.
disabledel-set-off = In <b>{ $title }</b>, turned-off commands members send are now only ignored.
