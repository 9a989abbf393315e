-- castellan: spaces and Telegram Business (SQLite).
--
-- Notes, connections and history now belong to a space: a group ('chat', by
-- chat id) or a Telegram Business account ('business', by its owner's user
-- id). The kind is part of every key, so a business account's records never
-- mix with those of a chat of the same number. Existing rows are all chats.
--
-- SQLite cannot change a primary key in place: connection_history and notes
-- are rebuilt (create, copy, drop, rename, index again), inside the
-- migration's transaction.

ALTER TABLE current_connections
    ADD COLUMN space TEXT NOT NULL DEFAULT 'chat' CHECK (space IN ('chat', 'business'));

-- Serves migrate_chat's lookup of the users connected to a chat.
DROP INDEX current_connections_chat_id;
CREATE INDEX current_connections_space_chat_id ON current_connections (space, chat_id);

-- One history entry per user and space.
CREATE TABLE connection_history_0002 (
    user_id    INTEGER NOT NULL,
    space      TEXT    NOT NULL DEFAULT 'chat' CHECK (space IN ('chat', 'business')),
    chat_id    INTEGER NOT NULL,
    chat_title TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (user_id, space, chat_id)
);

INSERT INTO connection_history_0002 (user_id, space, chat_id, chat_title, seq)
SELECT user_id, 'chat', chat_id, chat_title, seq FROM connection_history;

DROP TABLE connection_history;
ALTER TABLE connection_history_0002 RENAME TO connection_history;

CREATE INDEX connection_history_user_seq ON connection_history (user_id, seq DESC);
CREATE INDEX connection_history_space_chat_id ON connection_history (space, chat_id);

-- `name` compares with SQLite's default BINARY collation: byte-wise, like
-- PostgreSQL's COLLATE "C".
CREATE TABLE notes_0002 (
    space    TEXT    NOT NULL DEFAULT 'chat' CHECK (space IN ('chat', 'business')),
    chat_id  INTEGER NOT NULL,
    name     TEXT    NOT NULL,
    text     TEXT    NOT NULL,
    entities TEXT    NOT NULL DEFAULT '[]',
    PRIMARY KEY (space, chat_id, name)
);

INSERT INTO notes_0002 (space, chat_id, name, text, entities)
SELECT 'chat', chat_id, name, text, entities FROM notes;

DROP TABLE notes;
ALTER TABLE notes_0002 RENAME TO notes;

-- Telegram Business connections, as Telegram last described them. One owner
-- has at most one live (not superseded) connection: the newest by `date`;
-- every other id of the owner is superseded, and updates carrying a
-- superseded id are ignored. `rights` is the Bot API's `BusinessBotRights`
-- as JSON, NULL when Telegram sent none.
CREATE TABLE business_connections (
    id           TEXT    NOT NULL PRIMARY KEY,
    owner_id     INTEGER NOT NULL,
    user_chat_id INTEGER NOT NULL,
    rights       TEXT,
    is_enabled   BOOLEAN NOT NULL,
    date         INTEGER NOT NULL,
    superseded   BOOLEAN NOT NULL DEFAULT 0
);

-- The index on owner_id: every query by owner asks for the live connection
-- (`NOT superseded`), and it being unique makes two live connections of one
-- owner impossible, whatever a writer does.
CREATE UNIQUE INDEX business_connections_owner_id
    ON business_connections (owner_id) WHERE NOT superseded;

-- Connection ids Telegram said it did not know, and since when (Unix time).
CREATE TABLE business_connection_misses (
    id    TEXT    NOT NULL PRIMARY KEY,
    since INTEGER NOT NULL
);

-- Customer chats of a business account where the bot's replies are paused;
-- a chat without a row is not paused.
CREATE TABLE business_chat_pauses (
    owner_id INTEGER NOT NULL,
    chat_id  INTEGER NOT NULL,
    PRIMARY KEY (owner_id, chat_id)
);
