-- castellan: spaces and Telegram Business (PostgreSQL).
--
-- Notes, connections and history now belong to a space: a group ('chat', by
-- chat id) or a Telegram Business account ('business', by its owner's user
-- id). The kind is part of every key, so a business account's records never
-- mix with those of a chat of the same number. Existing rows are all chats.

ALTER TABLE current_connections
    ADD COLUMN space TEXT NOT NULL DEFAULT 'chat'
        CONSTRAINT current_connections_space CHECK (space IN ('chat', 'business'));

-- Serves migrate_chat's lookup of the users connected to a chat.
DROP INDEX current_connections_chat_id;
CREATE INDEX current_connections_space_chat_id ON current_connections (space, chat_id);

ALTER TABLE connection_history
    ADD COLUMN space TEXT NOT NULL DEFAULT 'chat'
        CONSTRAINT connection_history_space CHECK (space IN ('chat', 'business'));

-- One history entry per user and space.
ALTER TABLE connection_history
    DROP CONSTRAINT connection_history_pkey,
    ADD CONSTRAINT connection_history_pkey PRIMARY KEY (user_id, space, chat_id);

DROP INDEX connection_history_chat_id;
CREATE INDEX connection_history_space_chat_id ON connection_history (space, chat_id);

-- `name` keeps its COLLATE "C": listings stay byte-wise.
ALTER TABLE notes
    ADD COLUMN space TEXT NOT NULL DEFAULT 'chat'
        CONSTRAINT notes_space CHECK (space IN ('chat', 'business'));

ALTER TABLE notes
    DROP CONSTRAINT notes_pkey,
    ADD CONSTRAINT notes_pkey PRIMARY KEY (space, chat_id, name);

-- Telegram Business connections, as Telegram last described them. One owner
-- has at most one live (not superseded) connection: the newest by `date`;
-- every other id of the owner is superseded, and updates carrying a
-- superseded id are ignored. `rights` is the Bot API's `BusinessBotRights`
-- as JSON, NULL when Telegram sent none.
CREATE TABLE business_connections (
    id           TEXT    NOT NULL PRIMARY KEY,
    owner_id     BIGINT  NOT NULL,
    user_chat_id BIGINT  NOT NULL,
    rights       TEXT,
    is_enabled   BOOLEAN NOT NULL,
    date         BIGINT  NOT NULL,
    superseded   BOOLEAN NOT NULL DEFAULT FALSE
);

-- The index on owner_id: every query by owner asks for the live connection
-- (`NOT superseded`), and it being unique makes two live connections of one
-- owner impossible, whatever a writer does.
CREATE UNIQUE INDEX business_connections_owner_id
    ON business_connections (owner_id) WHERE NOT superseded;

-- Connection ids Telegram said it did not know, and since when (Unix time).
CREATE TABLE business_connection_misses (
    id    TEXT   NOT NULL PRIMARY KEY,
    since BIGINT NOT NULL
);

-- Customer chats of a business account where the bot's replies are paused;
-- a chat without a row is not paused.
CREATE TABLE business_chat_pauses (
    owner_id BIGINT NOT NULL,
    chat_id  BIGINT NOT NULL,
    PRIMARY KEY (owner_id, chat_id)
);
