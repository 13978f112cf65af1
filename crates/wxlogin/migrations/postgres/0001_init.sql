-- Users: one row per (appid, openid). session_key is sealed (AES-256-GCM under
-- the data key); key_fp is a keyed fingerprint used to detect rotation.
CREATE TABLE users (
    appid            TEXT   NOT NULL,
    openid           TEXT   NOT NULL,
    unionid          TEXT,
    session_key      BYTEA  NOT NULL,
    key_fp           BYTEA  NOT NULL,
    prev_session_key BYTEA,
    prev_key_until   BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (appid, openid)
);

-- Sessions: only the SHA-256 of the token is stored.
CREATE TABLE sessions (
    id              TEXT   PRIMARY KEY,
    token_hash      BYTEA  NOT NULL UNIQUE,
    appid           TEXT   NOT NULL,
    openid          TEXT   NOT NULL,
    unionid         TEXT,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    idle_expires_at BIGINT NOT NULL,
    revoked_at      BIGINT
);
CREATE INDEX sessions_by_user ON sessions (appid, openid);

-- Login claims: single flight per code (across instances) and replay.
CREATE TABLE login_claims (
    claim_key    BYTEA  PRIMARY KEY,
    appid        TEXT   NOT NULL,
    state        TEXT   NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
    owner        TEXT   NOT NULL,
    lease_until  BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    error_code   TEXT,
    session_id   TEXT,
    sealed_token BYTEA,
    openid       TEXT,
    unionid      TEXT,
    new_user     BOOLEAN
);
