-- castellan: warnings, warn settings, the action log and the user directory (PostgreSQL).
--
-- Every table is keyed by a group's chat id (moderation never applies to a
-- Telegram Business account), and every row moves with the group when it is
-- upgraded to a supergroup (migrate_chat). Times are Unix seconds.

-- Warnings, one row each, until the user's count in the chat reaches the
-- chat's limit (then they are all removed, in the warning's transaction),
-- or an admin removes them. Identity ids are never used twice, so a stale
-- "remove warning" button can never remove a later warning.
CREATE TABLE warnings (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id    BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    actor_id   BIGINT NOT NULL,
    reason     TEXT,
    created_at BIGINT NOT NULL
);

-- Serves a user's count, listing and latest warning, and migrate_chat.
CREATE INDEX warnings_chat_user ON warnings (chat_id, user_id, id);

-- A chat's warn limit and what reaching it does; a chat without a row has
-- the defaults (WarnSettings::default()). `mode` is not checked: a newer
-- castellan on the same database may know more modes (an unknown one reads
-- as a ban). `seconds` is the length of a temporary ban or mute.
CREATE TABLE warn_settings (
    chat_id    BIGINT  NOT NULL PRIMARY KEY,
    warn_limit INTEGER NOT NULL,
    mode       TEXT    NOT NULL,
    seconds    BIGINT
);

-- What admins did, newest last (by id); each chat's log is trimmed to its
-- newest ACTION_LOG_LIMIT rows by the inserting transaction. `until` is when
-- a temporary restriction ends, NULL for none.
CREATE TABLE mod_actions (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id        BIGINT  NOT NULL,
    actor_id       BIGINT  NOT NULL,
    action         TEXT    NOT NULL,
    target_id      BIGINT  NOT NULL,
    reason         TEXT,
    until          BIGINT,
    via_connection BOOLEAN NOT NULL,
    at             BIGINT  NOT NULL
);

-- Serves the listing (newest first), the trim and migrate_chat.
CREATE INDEX mod_actions_chat_id ON mod_actions (chat_id, id);

-- The members seen in each group, so commands can name a user by @username.
-- `username_lower` is the username lower-cased by castellan (the same on
-- every backend, whatever the database's collation or locale); a username
-- belongs to one user of a chat at a time, which the unique index keeps
-- (NULLs never conflict).
CREATE TABLE known_users (
    chat_id        BIGINT NOT NULL,
    user_id        BIGINT NOT NULL,
    username       TEXT,
    username_lower TEXT,
    first_name     TEXT   NOT NULL,
    last_name      TEXT,
    seen_at        BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
);

CREATE UNIQUE INDEX known_users_username ON known_users (chat_id, username_lower);
