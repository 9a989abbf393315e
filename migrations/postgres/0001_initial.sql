-- castellan: initial schema (PostgreSQL).
-- Every object is created unqualified, so it lands in the first schema of the
-- connection's search_path.

-- The chat each user currently manages from their private chat. One row per
-- user: the primary key is what guarantees a user never has two current
-- connections (and its row lock serializes concurrent connects of one user).
CREATE TABLE current_connections (
    user_id    BIGINT NOT NULL PRIMARY KEY,
    chat_id    BIGINT NOT NULL,
    chat_title TEXT   NOT NULL
);

CREATE INDEX current_connections_chat_id ON current_connections (chat_id);

-- Chats a user connected to, newest first by `seq` (drawn from a sequence on
-- every connect, so ties cannot happen), trimmed to HISTORY_LIMIT rows per
-- user by the connecting transaction.
CREATE SEQUENCE connection_history_seq AS BIGINT;

CREATE TABLE connection_history (
    user_id    BIGINT NOT NULL,
    chat_id    BIGINT NOT NULL,
    chat_title TEXT   NOT NULL,
    seq        BIGINT NOT NULL DEFAULT nextval('connection_history_seq'),
    PRIMARY KEY (user_id, chat_id)
);

ALTER SEQUENCE connection_history_seq OWNED BY connection_history.seq;

CREATE INDEX connection_history_user_seq ON connection_history (user_id, seq DESC);
CREATE INDEX connection_history_chat_id ON connection_history (chat_id);

-- Per-chat settings; a chat without a row has every default.
CREATE TABLE chat_settings (
    chat_id       BIGINT  NOT NULL PRIMARY KEY,
    allow_connect BOOLEAN NOT NULL DEFAULT TRUE
);

-- Saved notes; `name` is canonical (lower-case) and compared byte-wise
-- (COLLATE "C"), so listings sort the same on every backend and locale.
-- `entities` is the Bot API's JSON array of message entities, kept as text
-- exactly as given.
CREATE TABLE notes (
    chat_id  BIGINT NOT NULL,
    name     TEXT   COLLATE "C" NOT NULL,
    text     TEXT   NOT NULL,
    entities TEXT   NOT NULL DEFAULT '[]',
    PRIMARY KEY (chat_id, name)
);

-- A chat's rules.
CREATE TABLE rules (
    chat_id  BIGINT NOT NULL PRIMARY KEY,
    text     TEXT   NOT NULL,
    entities TEXT   NOT NULL DEFAULT '[]'
);
