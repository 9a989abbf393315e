-- castellan: who is asking Telegram about an unknown business connection (PostgreSQL).
--
-- An id castellan has never seen is fetched once with getBusinessConnection,
-- across every castellan on the database. The fetch is claimed here in a
-- short statement, with an expiry (Unix ms), and no database connection is
-- held while Telegram answers; the others wait for the answer to be stored,
-- or for the claim to run out (its castellan died).
CREATE TABLE business_fetches (
    id         TEXT NOT NULL PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
