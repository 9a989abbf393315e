-- castellan: initial schema (SQLite).
-- Telegram ids are 64-bit: INTEGER in SQLite is a signed 64-bit integer.

-- The chat each user currently manages from their private chat. One row per
-- user: the primary key is what guarantees a user never has two current
-- connections.
CREATE TABLE current_connections (
    user_id    INTEGER NOT NULL PRIMARY KEY,
    chat_id    INTEGER NOT NULL,
    chat_title TEXT    NOT NULL
);

CREATE INDEX current_connections_chat_id ON current_connections (chat_id);

-- Chats a user connected to, newest first by `seq` (a per-user counter
-- computed inside the connecting transaction, so ties cannot happen), trimmed
-- to HISTORY_LIMIT rows per user by the same transaction.
CREATE TABLE connection_history (
    user_id    INTEGER NOT NULL,
    chat_id    INTEGER NOT NULL,
    chat_title TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (user_id, chat_id)
);

CREATE INDEX connection_history_user_seq ON connection_history (user_id, seq DESC);
CREATE INDEX connection_history_chat_id ON connection_history (chat_id);

-- Per-chat settings; a chat without a row has every default.
CREATE TABLE chat_settings (
    chat_id       INTEGER NOT NULL PRIMARY KEY,
    allow_connect BOOLEAN NOT NULL DEFAULT 1
);

-- Saved notes; `name` is canonical (lower-case). `entities` is the Bot API's
-- JSON array of message entities, stored as text.
CREATE TABLE notes (
    chat_id  INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    text     TEXT    NOT NULL,
    entities TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (chat_id, name)
);

-- A chat's rules.
CREATE TABLE rules (
    chat_id  INTEGER NOT NULL PRIMARY KEY,
    text     TEXT    NOT NULL,
    entities TEXT    NOT NULL DEFAULT '[]'
);
