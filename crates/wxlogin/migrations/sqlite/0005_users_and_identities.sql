-- Users and identities. What was a user, one (appid, openid) with its
-- session_key, becomes an identity; a user has an id of its own and one or
-- more identities (apps, platforms), joined by unionid when WeChat gives one.
ALTER TABLE users RENAME TO identities;
ALTER TABLE identities ADD COLUMN platform TEXT NOT NULL DEFAULT 'wechat';
ALTER TABLE identities ADD COLUMN user_id TEXT;

-- A UUIDv7 per identity: its creation time in milliseconds, then random bits.
UPDATE identities SET user_id =
    substr(printf('%012x', created_at * 1000), 1, 8) || '-' ||
    substr(printf('%012x', created_at * 1000), 9, 4) || '-7' ||
    substr(lower(hex(randomblob(2))), 1, 3) || '-' ||
    substr('89ab', 1 + abs(random() % 4), 1) || substr(lower(hex(randomblob(2))), 1, 3) || '-' ||
    lower(hex(randomblob(6)));
-- Identities that already share a unionid are one person by WeChat's own
-- account: they join the user of the oldest of them, as a login with
-- identity.link_by_unionid (the default) would have done.
UPDATE identities SET user_id = (
    SELECT first.user_id FROM identities AS first
    WHERE first.platform = identities.platform AND first.unionid = identities.unionid
    ORDER BY first.created_at, first.appid, first.openid LIMIT 1)
WHERE unionid IS NOT NULL;
CREATE INDEX identities_by_user ON identities (user_id);

CREATE TABLE users (
    user_id    TEXT    PRIMARY KEY,
    created_at INTEGER NOT NULL,
    -- The phone number the user proved through /v1/phone, sealed under the
    -- data key (identity.store_phone), and when.
    phone      BLOB,
    phone_at   INTEGER
) WITHOUT ROWID;
INSERT INTO users (user_id, created_at)
    SELECT user_id, MIN(created_at) FROM identities GROUP BY user_id;

-- Which user a unionid belongs to, per platform: the primary key makes two
-- concurrent first logins of one unionid agree on one user.
CREATE TABLE unionids (
    platform TEXT NOT NULL,
    unionid  TEXT NOT NULL,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (platform, unionid)
) WITHOUT ROWID;
INSERT INTO unionids (platform, unionid, user_id)
    SELECT platform, unionid, MIN(user_id) FROM identities
    WHERE unionid IS NOT NULL GROUP BY platform, unionid;

-- Sessions name their user, and the chain of refreshes they belong to (a
-- reused refresh token revokes the whole chain).
ALTER TABLE sessions ADD COLUMN user_id TEXT;
ALTER TABLE sessions ADD COLUMN family TEXT;
UPDATE sessions SET family = id, user_id = (
    SELECT i.user_id FROM identities AS i
    WHERE i.appid = sessions.appid AND i.openid = sessions.openid);
CREATE INDEX sessions_by_user_id ON sessions (user_id);

-- A login whose unionid belongs to another user than its identity's: kept
-- apart, recorded once, shown to operators until a merge resolves it.
CREATE TABLE conflicts (
    id            TEXT    PRIMARY KEY,
    at            INTEGER NOT NULL,
    platform      TEXT    NOT NULL,
    unionid       TEXT    NOT NULL,
    appid         TEXT    NOT NULL,
    openid        TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    other_user_id TEXT    NOT NULL,
    resolved_at   INTEGER,
    UNIQUE (appid, openid, other_user_id)
) WITHOUT ROWID;

-- Every link, conflict, merge, unlink and admin action: who, what, when.
CREATE TABLE audit_log (
    id            TEXT    PRIMARY KEY,
    at            INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    user_id       TEXT,
    other_user_id TEXT,
    appid         TEXT,
    openid        TEXT,
    detail        TEXT
) WITHOUT ROWID;
CREATE INDEX audit_by_user ON audit_log (user_id, id);
CREATE INDEX audit_by_other_user ON audit_log (other_user_id, id);
