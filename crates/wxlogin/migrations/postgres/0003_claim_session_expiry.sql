-- The replayed answer's expiry is the session's, not the claim's.
ALTER TABLE login_claims ADD COLUMN session_expires_at BIGINT;
