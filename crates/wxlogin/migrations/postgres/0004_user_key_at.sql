-- When WeChat answered with the stored session_key, in milliseconds: of two
-- logins of one user that commit out of order, the newer key wins.
ALTER TABLE users ADD COLUMN key_at BIGINT;
UPDATE users SET key_at = updated_at * 1000;
