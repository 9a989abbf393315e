-- castellan: connections that ended while their user was away (PostgreSQL).
--
-- When the bot is removed from a group, every connection to it ends at once:
-- the row leaves current_connections (so re-adding the bot brings nothing
-- back) and waits here until its user's next command tells them why.
-- One row per user: only the latest ending is worth telling.
CREATE TABLE ended_connections (
    user_id    BIGINT NOT NULL PRIMARY KEY,
    space      TEXT   NOT NULL CHECK (space IN ('chat', 'business')),
    chat_id    BIGINT NOT NULL,
    chat_title TEXT   NOT NULL,
    reason     TEXT   NOT NULL CHECK (reason IN ('bot_removed'))
);

-- Serves migrate_chat and rename_chat.
CREATE INDEX ended_connections_space_chat_id ON ended_connections (space, chat_id);
