-- Users: one row per (appid, openid). session_key is sealed (AES-256-GCM under
-- the data key); key_fp is a keyed fingerprint used to detect rotation.
CREATE TABLE users (
    appid            TEXT    NOT NULL,
    openid           TEXT    NOT NULL,
    unionid          TEXT,
    session_key      BLOB    NOT NULL,
    key_fp           BLOB    NOT NULL,
    prev_session_key BLOB,
    prev_key_until   INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (appid, openid)
) WITHOUT ROWID;

-- Sessions: only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    id              TEXT    PRIMARY KEY,
    token_hash      BLOB    NOT NULL UNIQUE,
    appid           TEXT    NOT NULL,
    openid          TEXT    NOT NULL,
    unionid         TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idle_expires_at INTEGER NOT NULL,
    revoked_at      INTEGER
);
CREATE INDEX sessions_by_user ON sessions (appid, openid);

-- Login claims: single flight per code and replay of its answer.
CREATE TABLE login_claims (
    claim_key    BLOB    PRIMARY KEY,
    appid        TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    owner        TEXT    NOT NULL,
    lease_until  INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    error_code   TEXT,
    session_id   TEXT,
    sealed_token BLOB,
    openid       TEXT,
    unionid      TEXT,
    new_user     INTEGER
) WITHOUT ROWID;
