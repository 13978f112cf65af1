//! The SQL text both engines run. SQLite and PostgreSQL agree on everything
//! here (`$N` parameters, `ON CONFLICT … DO UPDATE … WHERE`, `EXCLUDED`,
//! `RETURNING`); what differs (a login's commit, telling an insert from an
//! update) lives in the backend. Column lists are in the order `rows.rs`
//! reads them.

use std::sync::LazyLock;

/// Columns of `rows::session`.
pub const SESSION_BY_HASH: &str = "SELECT id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at, revoked_at
     FROM sessions WHERE token_hash = $1";

/// Columns of `rows::user`.
pub const USER_BY_KEY: &str = "SELECT appid, openid, unionid, session_key, prev_session_key, prev_key_until, created_at, updated_at
     FROM users WHERE appid = $1 AND openid = $2";

/// $1..$8 = appid, openid, unionid, sealed session_key, its fingerprint,
/// now, previous_key_until, key_at (when WeChat answered with the key, ms).
/// A key answered later than the stored one replaces it, and the stored one
/// becomes the previous key with its grace deadline; a key answered earlier
/// (a login that committed late) changes no key. A login without a unionid
/// keeps the one already known.
pub const UPSERT_USER: &str = "INSERT INTO users (appid, openid, unionid, session_key, key_fp, created_at, updated_at, key_at)
     VALUES ($1, $2, $3, $4, $5, $6, $6, $8)
     ON CONFLICT (appid, openid) DO UPDATE SET
       unionid = COALESCE(excluded.unionid, users.unionid),
       prev_session_key = CASE WHEN COALESCE(users.key_at, 0) > excluded.key_at THEN users.prev_session_key
                               WHEN users.key_fp <> excluded.key_fp THEN users.session_key
                               ELSE users.prev_session_key END,
       prev_key_until   = CASE WHEN COALESCE(users.key_at, 0) > excluded.key_at THEN users.prev_key_until
                               WHEN users.key_fp <> excluded.key_fp THEN $7
                               ELSE users.prev_key_until END,
       session_key = CASE WHEN COALESCE(users.key_at, 0) > excluded.key_at
                          THEN users.session_key ELSE excluded.session_key END,
       key_fp = CASE WHEN COALESCE(users.key_at, 0) > excluded.key_at
                     THEN users.key_fp ELSE excluded.key_fp END,
       key_at = CASE WHEN COALESCE(users.key_at, 0) > excluded.key_at
                     THEN users.key_at ELSE excluded.key_at END,
       updated_at = excluded.updated_at";

/// $1..$8 = the session's columns in table order.
pub const INSERT_SESSION: &str = "INSERT INTO sessions (id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// $1 id, $2 new idle deadline (never moved backwards).
pub const TOUCH_SESSION: &str = "UPDATE sessions SET idle_expires_at = $2
     WHERE id = $1 AND revoked_at IS NULL AND idle_expires_at < $2";

/// $1 id, $2 now.
pub const REVOKE_SESSION: &str =
    "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL";

/// $1 id, $2 now: revokes only a session still active (a refresh).
pub const REVOKE_IF_ACTIVE: &str = "UPDATE sessions SET revoked_at = $2
     WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2 AND idle_expires_at > $2";

/// $1 appid, $2 openid, $3 now. Columns of `rows::session`.
pub const LIST_SESSIONS: &str = "SELECT id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at, revoked_at
     FROM sessions
     WHERE appid = $1 AND openid = $2 AND revoked_at IS NULL
       AND expires_at > $3 AND idle_expires_at > $3
     ORDER BY created_at, id";

/// $1 appid, $2 openid, $3 now.
pub const REVOKE_ALL: &str = "UPDATE sessions SET revoked_at = $3
     WHERE appid = $1 AND openid = $2 AND revoked_at IS NULL
       AND expires_at > $3 AND idle_expires_at > $3";

/// Take a claim if free, forgotten or abandoned: $1 key, $2 appid, $3
/// owner, $4 lease_until, $5 expires_at, $6 now. A row comes back only when
/// this statement wrote it, i.e. the caller holds the claim; `ON CONFLICT`
/// serialises concurrent claimers across instances.
pub const TAKE_CLAIM: &str =
    "INSERT INTO login_claims (claim_key, appid, state, owner, lease_until, expires_at)
     VALUES ($1, $2, 'pending', $3, $4, $5)
     ON CONFLICT (claim_key) DO UPDATE SET
       state = 'pending', owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
       expires_at = EXCLUDED.expires_at, error_code = NULL, session_id = NULL,
       sealed_token = NULL, openid = NULL, unionid = NULL, new_user = NULL
     WHERE login_claims.expires_at <= $6
        OR (login_claims.state = 'pending' AND login_claims.lease_until <= $6)
     RETURNING owner";

/// $1 key. Columns of `rows::claim`. A second statement, not a CTE of the
/// first: a CTE would read an older snapshot and miss a row another
/// instance committed meanwhile.
pub const READ_CLAIM: &str = "SELECT state, owner, error_code, session_id, sealed_token, openid, unionid, new_user, session_expires_at
     FROM login_claims WHERE claim_key = $1";

/// $1 key, $2 owner, $3 error code.
pub const FAIL_CLAIM: &str = "UPDATE login_claims SET state = 'failed', error_code = $3
     WHERE claim_key = $1 AND owner = $2 AND state = 'pending'";

/// $1 key, $2 owner.
pub const RELEASE_CLAIM: &str =
    "DELETE FROM login_claims WHERE claim_key = $1 AND owner = $2 AND state = 'pending'";

/// $1 appid. Columns of `rows::token`.
pub const GET_TOKEN: &str =
    "SELECT sealed_token, expires_at, fence FROM access_tokens WHERE appid = $1";

/// $1 appid, $2 sealed token, $3 expires_at, $4 fence: refused when a newer
/// fence wrote the row.
pub const PUT_TOKEN: &str = "INSERT INTO access_tokens (appid, sealed_token, expires_at, fence) VALUES ($1, $2, $3, $4)
     ON CONFLICT (appid) DO UPDATE SET
       sealed_token = EXCLUDED.sealed_token, expires_at = EXCLUDED.expires_at, fence = EXCLUDED.fence
     WHERE access_tokens.fence <= EXCLUDED.fence";

/// $1 name, $2 owner, $3 lease_until, $4 now. Returns the fence when taken.
pub const TRY_LOCK: &str =
    "INSERT INTO locks (name, owner, lease_until, fence) VALUES ($1, $2, $3, 1)
     ON CONFLICT (name) DO UPDATE SET
       owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until,
       fence = CASE WHEN locks.owner = EXCLUDED.owner AND locks.lease_until > $4
                    THEN locks.fence ELSE locks.fence + 1 END
     WHERE locks.lease_until <= $4 OR locks.owner = EXCLUDED.owner
     RETURNING fence";

/// $1 name, $2 owner.
pub const UNLOCK: &str = "UPDATE locks SET lease_until = 0 WHERE name = $1 AND owner = $2";

/// $1 now.
pub const PURGE_CLAIMS: &str = "DELETE FROM login_claims WHERE expires_at <= $1";

/// $1 now minus the afterlife of an expired session, $2 now minus the
/// afterlife of a revoked one.
pub const PURGE_SESSIONS: &str =
    "DELETE FROM sessions WHERE expires_at <= $1 OR idle_expires_at <= $1 OR revoked_at <= $2";

/// Sealed values page by page, in primary-key order. $1/$2 (users: appid,
/// openid; claims: key; tokens: appid) is where the page starts (exclusive),
/// the last $ the page size.
pub const SEALED_USERS: &str = "SELECT appid, openid, session_key, prev_session_key FROM users
     WHERE (appid, openid) > ($1, $2) ORDER BY appid, openid LIMIT $3";
pub const SEALED_CLAIMS: &str = "SELECT claim_key, session_id, sealed_token FROM login_claims
     WHERE claim_key > $1 AND sealed_token IS NOT NULL ORDER BY claim_key LIMIT $2";
pub const SEALED_TOKENS: &str =
    "SELECT appid, sealed_token FROM access_tokens WHERE appid > $1 ORDER BY appid LIMIT $2";

/// Compare-and-set of one sealed value: $1 (and $2) the row, then the new
/// value and the one it must still hold.
pub const RESEAL_KEY: &str = "UPDATE users SET session_key = $3
     WHERE appid = $1 AND openid = $2 AND session_key = $4";
pub const RESEAL_PREVIOUS: &str = "UPDATE users SET prev_session_key = $3
     WHERE appid = $1 AND openid = $2 AND prev_session_key = $4";
pub const RESEAL_CLAIM: &str =
    "UPDATE login_claims SET sealed_token = $2 WHERE claim_key = $1 AND sealed_token = $3";
pub const RESEAL_TOKEN: &str =
    "UPDATE access_tokens SET sealed_token = $2 WHERE appid = $1 AND sealed_token = $3";

/// The upsert on PostgreSQL, answering whether it inserted (`xmax = 0`), so
/// two instances never both report a new user.
pub static PG_UPSERT_USER: LazyLock<String> =
    LazyLock::new(|| format!("{UPSERT_USER} RETURNING (xmax = 0) AS inserted"));

/// A login's whole commit on PostgreSQL in one statement (one round trip
/// instead of four): the claim row is locked if the caller still holds it
/// ($8 key, $9 owner), and only then are the user upserted ($1..$7), the
/// session inserted ($10..$17) and the claim marked done with the answer
/// for replays ($18 session id, $19 sealed token, $20 openid, $21 unionid,
/// $22 session expiry); $23 is the user's key_at. Sub-statements of a
/// WITH run once each on one snapshot; none touches a row another writes, and an empty `claim` makes
/// every one of them a no-op.
pub static PG_COMPLETE_LOGIN: LazyLock<String> = LazyLock::new(|| {
    // The upsert's $8 (key_at) is $23 here: $8 is the claim's key.
    let upsert = UPSERT_USER
        .replacen(
            "VALUES ($1, $2, $3, $4, $5, $6, $6, $8)",
            "SELECT $1, $2, $3, $4, $5, $6, $6, $23 FROM claim",
            1,
        )
        .replace("$8", "$23");
    let insert = INSERT_SESSION.replacen(
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        "SELECT $10, $11, $12, $13, $14, $15, $16, $17 FROM claim",
        1,
    );
    format!(
        "WITH claim AS (
           SELECT claim_key FROM login_claims
           WHERE claim_key = $8 AND owner = $9 AND state = 'pending'
           FOR UPDATE
         ), usr AS ({upsert} RETURNING (xmax = 0) AS inserted
         ), sess AS ({insert})
         UPDATE login_claims SET state = 'done', session_id = $18, sealed_token = $19,
           openid = $20, unionid = $21, session_expires_at = $22,
           new_user = (SELECT inserted FROM usr)
         WHERE claim_key = (SELECT claim_key FROM claim)
         RETURNING new_user"
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    /// The login commit is built from the shared texts; a change to either
    /// that breaks the substitution must fail here, not in production.
    #[test]
    fn the_postgres_login_commit_embeds_the_shared_upsert_and_insert() {
        assert!(PG_COMPLETE_LOGIN.contains("SELECT $1, $2, $3, $4, $5, $6, $6, $23 FROM claim"));
        assert!(
            !PG_COMPLETE_LOGIN.contains("$8)"),
            "the upsert's key_at is renumbered"
        );
        assert!(
            PG_COMPLETE_LOGIN.contains("SELECT $10, $11, $12, $13, $14, $15, $16, $17 FROM claim")
        );
        assert!(!PG_COMPLETE_LOGIN.contains("VALUES"));
    }
}
