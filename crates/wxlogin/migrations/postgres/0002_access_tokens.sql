-- The app-wide WeChat access_token (sealed), shared by every instance.
CREATE TABLE access_tokens (
    appid        TEXT   PRIMARY KEY,
    sealed_token BYTEA  NOT NULL,
    expires_at   BIGINT NOT NULL,
    fence        BIGINT NOT NULL
);

-- Named leases with fencing (access_token refresh).
CREATE TABLE locks (
    name        TEXT   PRIMARY KEY,
    owner       TEXT   NOT NULL,
    lease_until BIGINT NOT NULL,
    fence       BIGINT NOT NULL
);
