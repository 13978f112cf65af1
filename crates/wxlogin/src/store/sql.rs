//! The SQL text both engines run. SQLite and PostgreSQL agree on everything
//! here (`$N` parameters, `ON CONFLICT … DO UPDATE … WHERE`, `EXCLUDED`,
//! `RETURNING`); what differs (a login's commit, telling an insert from an
//! update) lives in the backend. Column lists are in the order `rows.rs`
//! reads them.

use std::sync::LazyLock;

/// Columns of `rows::session`.
pub const SESSION_BY_HASH: &str = "SELECT id, token_hash, user_id, family, appid, openid, unionid, created_at, expires_at, idle_expires_at, revoked_at
     FROM sessions WHERE token_hash = $1";

/// Columns of `rows::identity`.
const IDENTITY_COLUMNS: &str = "platform, user_id, appid, openid, unionid, session_key, prev_session_key, prev_key_until, created_at, updated_at";

pub static IDENTITY_BY_KEY: LazyLock<String> = LazyLock::new(|| {
    format!("SELECT {IDENTITY_COLUMNS} FROM identities WHERE appid = $1 AND openid = $2")
});

/// $1 user_id. Oldest first.
pub static IDENTITIES_OF: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {IDENTITY_COLUMNS} FROM identities WHERE user_id = $1 ORDER BY created_at, appid, openid"
    )
});

/// $1 appid, $2 openid: the identity's user, if the identity exists.
pub const IDENTITY_USER: &str = "SELECT user_id FROM identities WHERE appid = $1 AND openid = $2";

/// Offer a user for a unionid ($1 platform, $2 unionid, $3 user id): the
/// first offer wins; every offer answers the winner. `DO UPDATE` (a no-op
/// write) rather than `DO NOTHING` so the answer names a row another
/// transaction committed after ours began.
pub const OFFER_UNIONID: &str =
    "INSERT INTO unionids (platform, unionid, user_id) VALUES ($1, $2, $3)
     ON CONFLICT (platform, unionid) DO UPDATE SET user_id = unionids.user_id
     RETURNING user_id";

/// $1 user id, $2 now.
pub const INSERT_USER: &str =
    "INSERT INTO users (user_id, created_at) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING";

/// $1 id. Columns of `rows::session`.
pub const SESSION_BY_ID: &str = "SELECT id, token_hash, user_id, family, appid, openid, unionid, created_at, expires_at, idle_expires_at, revoked_at
     FROM sessions WHERE id = $1";

/// Columns of `rows::signing_key`, oldest first.
pub const SIGNING_KEYS: &str =
    "SELECT kid, alg, sealed_key, created_at FROM signing_keys ORDER BY created_at, kid";
/// $1..$4 = kid, alg, sealed key, created_at.
pub const ADD_SIGNING_KEY: &str =
    "INSERT INTO signing_keys (kid, alg, sealed_key, created_at) VALUES ($1, $2, $3, $4)";
/// $1 kid.
pub const DELETE_SIGNING_KEY: &str = "DELETE FROM signing_keys WHERE kid = $1";
/// Sealed signing keys for rekey: $1 start (exclusive), $2 page size.
pub const SEALED_SIGNING_KEYS: &str =
    "SELECT kid, sealed_key FROM signing_keys WHERE kid > $1 ORDER BY kid LIMIT $2";
/// $1 kid, $2 new, $3 old.
pub const RESEAL_SIGNING_KEY: &str =
    "UPDATE signing_keys SET sealed_key = $2 WHERE kid = $1 AND sealed_key = $3";

/// Columns of `rows::user`. $1 user id.
pub const USER_BY_ID: &str =
    "SELECT user_id, created_at, phone, phone_at FROM users WHERE user_id = $1";

/// $1 user id, $2 sealed phone, $3 now.
pub const SET_PHONE: &str = "UPDATE users SET phone = $2, phone_at = $3 WHERE user_id = $1";

/// $1..$10 = appid, openid, unionid, sealed session_key, its fingerprint,
/// now, previous_key_until, key_at (when WeChat answered with the key, ms),
/// platform, user id (of a new identity: an existing one keeps its user).
/// A key answered later than the stored one replaces it, and the stored one
/// becomes the previous key with its grace deadline; a key answered earlier
/// (a login that committed late) changes no key. A login without a unionid
/// keeps the one already known.
pub const UPSERT_IDENTITY: &str = "INSERT INTO identities (appid, openid, unionid, session_key, key_fp, created_at, updated_at, key_at, platform, user_id)
     VALUES ($1, $2, $3, $4, $5, $6, $6, $8, $9, $10)
     ON CONFLICT (appid, openid) DO UPDATE SET
       unionid = COALESCE(excluded.unionid, identities.unionid),
       prev_session_key = CASE WHEN COALESCE(identities.key_at, 0) > excluded.key_at THEN identities.prev_session_key
                               WHEN identities.key_fp <> excluded.key_fp THEN identities.session_key
                               ELSE identities.prev_session_key END,
       prev_key_until   = CASE WHEN COALESCE(identities.key_at, 0) > excluded.key_at THEN identities.prev_key_until
                               WHEN identities.key_fp <> excluded.key_fp THEN $7
                               ELSE identities.prev_key_until END,
       session_key = CASE WHEN COALESCE(identities.key_at, 0) > excluded.key_at
                          THEN identities.session_key ELSE excluded.session_key END,
       key_fp = CASE WHEN COALESCE(identities.key_at, 0) > excluded.key_at
                     THEN identities.key_fp ELSE excluded.key_fp END,
       key_at = CASE WHEN COALESCE(identities.key_at, 0) > excluded.key_at
                     THEN identities.key_at ELSE excluded.key_at END,
       updated_at = excluded.updated_at";

/// $1..$10 = id, token_hash, appid, openid, unionid, created_at,
/// expires_at, idle_expires_at, user_id, family.
pub const INSERT_SESSION: &str = "INSERT INTO sessions (id, token_hash, appid, openid, unionid, created_at, expires_at, idle_expires_at, user_id, family)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// $1 appid, $2 openid (a family never leaves its identity), $3 family,
/// $4 now.
pub const REVOKE_FAMILY: &str = "UPDATE sessions SET revoked_at = $4
     WHERE appid = $1 AND openid = $2 AND family = $3 AND revoked_at IS NULL
       AND expires_at > $4 AND idle_expires_at > $4";

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
pub const LIST_SESSIONS: &str = "SELECT id, token_hash, user_id, family, appid, openid, unionid, created_at, expires_at, idle_expires_at, revoked_at
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

/// $1 key, $2 owner: whether the caller still holds the claim (a login's
/// fence), locking the row until the commit on PostgreSQL.
pub const CLAIM_HELD: &str = "SELECT 1 FROM login_claims
     WHERE claim_key = $1 AND owner = $2 AND state = 'pending' FOR UPDATE";
/// The same on SQLite, which has no row locks (its one writer serialises).
pub const CLAIM_HELD_SQLITE: &str = "SELECT 1 FROM login_claims
     WHERE claim_key = $1 AND owner = $2 AND state = 'pending'";

/// Mark a held claim done with the answer for replays: $1 key, $2 owner,
/// $3 session id, $4 sealed token, $5 openid, $6 unionid, $7 session
/// expiry, $8 whether the identity was new.
pub const CLAIM_DONE: &str = "UPDATE login_claims SET state = 'done', session_id = $3,
       sealed_token = $4, openid = $5, unionid = $6, session_expires_at = $7, new_user = $8
     WHERE claim_key = $1 AND owner = $2 AND state = 'pending'";

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
pub const SEALED_IDENTITIES: &str =
    "SELECT appid, openid, session_key, prev_session_key FROM identities
     WHERE (appid, openid) > ($1, $2) ORDER BY appid, openid LIMIT $3";
pub const SEALED_PHONES: &str = "SELECT user_id, phone FROM users
     WHERE user_id > $1 AND phone IS NOT NULL ORDER BY user_id LIMIT $2";
pub const SEALED_CLAIMS: &str = "SELECT claim_key, session_id, sealed_token FROM login_claims
     WHERE claim_key > $1 AND sealed_token IS NOT NULL ORDER BY claim_key LIMIT $2";
pub const SEALED_TOKENS: &str =
    "SELECT appid, sealed_token FROM access_tokens WHERE appid > $1 ORDER BY appid LIMIT $2";

/// Compare-and-set of one sealed value: $1 (and $2) the row, then the new
/// value and the one it must still hold.
pub const RESEAL_KEY: &str = "UPDATE identities SET session_key = $3
     WHERE appid = $1 AND openid = $2 AND session_key = $4";
pub const RESEAL_PHONE: &str = "UPDATE users SET phone = $2 WHERE user_id = $1 AND phone = $3";
pub const RESEAL_PREVIOUS: &str = "UPDATE identities SET prev_session_key = $3
     WHERE appid = $1 AND openid = $2 AND prev_session_key = $4";
pub const RESEAL_CLAIM: &str =
    "UPDATE login_claims SET sealed_token = $2 WHERE claim_key = $1 AND sealed_token = $3";
pub const RESEAL_TOKEN: &str =
    "UPDATE access_tokens SET sealed_token = $2 WHERE appid = $1 AND sealed_token = $3";

/// A conflict, recorded once per (identity, other user). $1 id, $2 at,
/// $3 platform, $4 unionid, $5 appid, $6 openid, $7 user id, $8 other user.
pub const INSERT_CONFLICT: &str =
    "INSERT INTO conflicts (id, at, platform, unionid, appid, openid, user_id, other_user_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (appid, openid, other_user_id) DO NOTHING";

/// Columns of `rows::conflict`. $1 true for resolved ones too, $2 limit.
pub const LIST_CONFLICTS: &str =
    "SELECT id, at, platform, unionid, appid, openid, user_id, other_user_id, resolved_at
     FROM conflicts WHERE $1 OR resolved_at IS NULL ORDER BY id DESC LIMIT $2";

/// $1..$9 = the entry's columns in table order.
pub const INSERT_AUDIT: &str =
    "INSERT INTO audit_log (id, at, actor, action, user_id, other_user_id, appid, openid, detail)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// Columns of `rows::audit`. $1 user id (or NULL: every user), $2 the entry
/// id to page from (exclusive; NULL: the newest), $3 limit.
pub const LIST_AUDIT: &str =
    "SELECT id, at, actor, action, user_id, other_user_id, appid, openid, detail
     FROM audit_log
     WHERE (CAST($1 AS TEXT) IS NULL OR user_id = $1 OR other_user_id = $1)
       AND (CAST($2 AS TEXT) IS NULL OR id < $2)
     ORDER BY id DESC LIMIT $3";

/// $1 a user id, $2 another: how many of the two exist.
pub const COUNT_USERS: &str = "SELECT COUNT(*) FROM users WHERE user_id IN ($1, $2)";

/// A merge of $2 into $1, in this order, in one transaction, then
/// `MERGE_DROP`, `MERGE_RESOLVE` and `DELETE_USER`. Conflicts follow their
/// users; a conflict between the two is resolved by the merge.
pub const MERGE_MOVES: [&str; 5] = [
    "UPDATE identities SET user_id = $1 WHERE user_id = $2",
    "UPDATE sessions SET user_id = $1 WHERE user_id = $2",
    "UPDATE unionids SET user_id = $1 WHERE user_id = $2",
    "UPDATE conflicts SET user_id = $1 WHERE user_id = $2",
    "UPDATE conflicts SET other_user_id = $1 WHERE other_user_id = $2
       AND NOT EXISTS (SELECT 1 FROM conflicts AS c2 WHERE c2.appid = conflicts.appid
                       AND c2.openid = conflicts.openid AND c2.other_user_id = $1)",
];
/// $1 the merged user: conflicts naming it that the moves could not rename
/// (the same identity already had one with the user merged into).
pub const MERGE_DROP: &str = "DELETE FROM conflicts WHERE other_user_id = $1";
/// $1 now: conflicts of a user with itself are resolved.
pub const MERGE_RESOLVE: &str = "UPDATE conflicts SET resolved_at = $1
     WHERE user_id = other_user_id AND resolved_at IS NULL";
/// $1 user id.
pub const DELETE_USER: &str = "DELETE FROM users WHERE user_id = $1";

/// $1 user id: how many identities it has.
pub const COUNT_IDENTITIES: &str = "SELECT COUNT(*) FROM identities WHERE user_id = $1";

/// An unlink of identity ($1 appid, $2 openid) to the new user $3, after
/// `INSERT_USER`: the identity and its sessions move, then `UNLINK_UNIONID`.
pub const UNLINK_MOVES: [&str; 2] = [
    "UPDATE identities SET user_id = $3 WHERE appid = $1 AND openid = $2",
    "UPDATE sessions SET user_id = $3 WHERE appid = $1 AND openid = $2",
];
/// The identity's unionid moves with it ($3) from its old user $4, unless
/// another identity of $4 still has it.
pub const UNLINK_UNIONID: &str = "UPDATE unionids SET user_id = $3
     WHERE user_id = $4 AND (platform, unionid) IN
           (SELECT platform, unionid FROM identities WHERE appid = $1 AND openid = $2 AND unionid IS NOT NULL)
       AND NOT EXISTS (SELECT 1 FROM identities AS i WHERE i.user_id = $4
                       AND i.platform = unionids.platform AND i.unionid = unionids.unionid)";
