-- castellan: the updates handled, or being handled, so that each acts once (PostgreSQL).
--
-- Telegram delivers at least once: again after a restart, after a webhook
-- post timed out, or to a second replica. A delivery of an update whose row
-- is done changes nothing. A row not done is being handled by `owner`
-- until `lease_until` (Unix ms): another replica leaves it alone until
-- then, and takes it over after (its handler died with its process).
-- A run that failed on an outage gives its lease up and counts an attempt;
-- past a few attempts, or an hour after the first, the update is given up.
-- Rows are pruned a day after they were first claimed.
CREATE TABLE handled_updates (
    update_id   BIGINT NOT NULL PRIMARY KEY,
    owner       TEXT    NOT NULL,
    done        BOOLEAN NOT NULL,
    lease_until BIGINT NOT NULL,
    claimed_at  BIGINT NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0
);

-- Serves the daily prune.
CREATE INDEX handled_updates_claimed_at ON handled_updates (claimed_at);
