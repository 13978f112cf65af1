-- The app-wide WeChat access_token (sealed), shared by every instance.
CREATE TABLE access_tokens (
    appid        TEXT    PRIMARY KEY,
    sealed_token BLOB    NOT NULL,
    expires_at   INTEGER NOT NULL,
    fence        INTEGER NOT NULL
) WITHOUT ROWID;

-- Named leases with fencing (access_token refresh).
CREATE TABLE locks (
    name        TEXT    PRIMARY KEY,
    owner       TEXT    NOT NULL,
    lease_until INTEGER NOT NULL,
    fence       INTEGER NOT NULL
) WITHOUT ROWID;
