-- The keys that sign access tokens (tokens.format = "jwt"), shared by every
-- instance: the private key sealed under the data key, the public half
-- derived from it when loaded. Rotated on a schedule; a retired key is
-- deleted once no token it signed can still be valid.
CREATE TABLE signing_keys (
    kid        TEXT   PRIMARY KEY,
    alg        TEXT   NOT NULL,
    sealed_key BYTEA  NOT NULL,
    created_at BIGINT   NOT NULL
);
