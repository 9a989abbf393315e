-- castellan: message guards: filters, the blacklist, locks, antiflood and
-- disabled commands (PostgreSQL).
--
-- Every table is keyed by a group's chat id (guards never apply to a
-- Telegram Business account). Keywords, entries and commands come
-- normalized by the caller (lower-case) and compare byte-wise (COLLATE
-- "C"), so listings sort the same on every backend and locale. Every row
-- moves with the group when it is upgraded to a supergroup (migrate_chat).

-- Filters: a message holding `keyword` (a word or phrase) is answered with
-- `text`; `entities` is the Bot API's JSON array of its message entities,
-- kept as text exactly as given (like a note's).
CREATE TABLE filters (
    chat_id  BIGINT NOT NULL,
    keyword  TEXT   COLLATE "C" NOT NULL,
    text     TEXT   NOT NULL,
    entities TEXT   NOT NULL,
    PRIMARY KEY (chat_id, keyword)
);

-- Blacklisted words or patterns; what a hit does is in guard_settings.
CREATE TABLE blacklist (
    chat_id BIGINT NOT NULL,
    entry   TEXT   COLLATE "C" NOT NULL,
    PRIMARY KEY (chat_id, entry)
);

-- Commands members may not use in the chat (admins still may).
CREATE TABLE disabled_commands (
    chat_id BIGINT NOT NULL,
    command TEXT   COLLATE "C" NOT NULL,
    PRIMARY KEY (chat_id, command)
);

-- A chat's guard settings, one row for all of them (one lookup compiles a
-- chat's guards); a chat without a row, or a NULL, has the default
-- (GuardSet::default()). Modes are not checked: a newer castellan on the
-- same database may know more (an unknown one reads as the default);
-- `*_seconds` is the length of a temporary ban or mute. The flood timer is
-- `flood_timer_count` messages within `flood_timer_seconds`, both or none.
CREATE TABLE guard_settings (
    chat_id             BIGINT  NOT NULL PRIMARY KEY,
    blacklist_mode      TEXT,
    blacklist_seconds   BIGINT,
    locks               BIGINT  NOT NULL DEFAULT 0,
    flood_consecutive   BIGINT,
    flood_timer_count   BIGINT,
    flood_timer_seconds BIGINT,
    flood_mode          TEXT,
    flood_seconds       BIGINT,
    disabled_delete     BOOLEAN NOT NULL DEFAULT FALSE,
    CHECK ((flood_timer_count IS NULL) = (flood_timer_seconds IS NULL))
);

-- Who wrote a chat's latest messages: `user_id` wrote the last `streak` in
-- a row. Every count of a chat first upserts this row: on PostgreSQL its
-- row lock serializes the chat's counts across castellans.
CREATE TABLE flood_streaks (
    chat_id BIGINT NOT NULL PRIMARY KEY,
    user_id BIGINT NOT NULL,
    streak  BIGINT NOT NULL
);

-- One row per message of a chat with a flood timer, at `at_ms` (Unix ms).
-- Each count deletes the chat's rows older than the timer's window and
-- keeps at most FLOOD_WINDOW_LIMIT of one user's, so a chat holds no more
-- than its last window's messages; setting no timer deletes them all.
CREATE TABLE flood_hits (
    chat_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    at_ms   BIGINT NOT NULL
);

-- Serves a user's count in the window, their trim and flood_reset.
CREATE INDEX flood_hits_user ON flood_hits (chat_id, user_id, at_ms);
-- Serves the chat's prune of the rows out of the window.
CREATE INDEX flood_hits_chat ON flood_hits (chat_id, at_ms);
