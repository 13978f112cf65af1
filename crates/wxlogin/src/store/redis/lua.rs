//! The Lua scripts of the Redis store. Every change that touches several
//! keys, or that must check before it writes (claims, fencing, revocation),
//! runs as one script, so it is atomic on the server. Keys and arguments are
//! Lua locals named by `script.rs`'s preamble.
//!
//! Key layout under the prefix P: `P:u:{appid}:{openid}` identity hash,
//! `P:s:{hash}` session hash (expires with the session), `P:sid:{id}` → hash,
//! `P:us:{appid}:{openid}` set of session ids, `P:c:{claim}` claim hash
//! (expires with the replay window), `P:t:{appid}` access token, `P:l:{name}`
//! lock; users, unionids, conflicts and the audit log are in `users_lua.rs`.
//! Scripts that walk a user's sessions derive keys from the prefix, so this
//! layout targets a single Redis (or one hash slot).

use super::script::LuaScript;
use super::users_lua::{AUDIT, IDENTITY_ARGS, RECORD_RESOLUTION, RESOLVE_IDENTITY};

/// The arguments of an identity upsert, shared by `upsert_identity` and
/// `complete_login` ('' = no unionid), before `IDENTITY_ARGS`.
const USER_ARGS: [&str; 8] = [
    "appid",
    "openid",
    "unionid",
    "session_key",
    "key_fp",
    "now",
    "prev_until",
    "key_at",
];
/// The arguments of a new session ('' = no unionid).
const SESSION_ARGS: [&str; 13] = [
    "s_hash_hex",
    "s_id",
    "s_token_hash",
    "s_appid",
    "s_openid",
    "s_unionid",
    "s_created",
    "s_expires",
    "s_idle",
    "s_ttl",
    "sid_prefix",
    "s_user",
    "s_family",
];

/// Expects `user_id` and `platform` (after `RESOLVE_IDENTITY`). Leaves `new_user` (boolean) in a local. A key answered earlier than the
/// stored one (`key_at`, ms) changes no key, as in `sql::UPSERT_USER`.
const UPSERT_USER: &str = r"
local new_user = redis.call('EXISTS', user) == 0
local uf
if new_user then
  uf = {'appid', appid, 'openid', openid, 'session_key', session_key, 'key_fp', key_fp,
        'created_at', now, 'updated_at', now, 'key_at', key_at, 'user_id', user_id,
        'platform', platform}
else
  local old = redis.call('HMGET', user, 'key_fp', 'session_key', 'key_at')
  uf = {'updated_at', now}
  if tonumber(old[3] or '0') <= tonumber(key_at) then
    for _, v in ipairs({'session_key', session_key, 'key_fp', key_fp, 'key_at', key_at}) do uf[#uf + 1] = v end
    if old[1] ~= key_fp then
      for _, v in ipairs({'prev_session_key', old[2], 'prev_key_until', prev_until}) do uf[#uf + 1] = v end
    end
  end
end
if unionid ~= '' then uf[#uf + 1] = 'unionid'; uf[#uf + 1] = unionid end
redis.call('HSET', user, unpack(uf))
";

const CREATE_SESSION: &str = r"
local sf = {'id', s_id, 'token_hash', s_token_hash, 'appid', s_appid, 'openid', s_openid,
            'created_at', s_created, 'expires_at', s_expires, 'idle_expires_at', s_idle,
            'user_id', s_user, 'family', s_family}
if s_unionid ~= '' then sf[#sf + 1] = 'unionid'; sf[#sf + 1] = s_unionid end
redis.call('HSET', session, unpack(sf))
redis.call('EXPIRE', session, s_ttl)
redis.call('SET', sid, s_hash_hex, 'EX', s_ttl)
redis.call('SADD', user_sessions, s_id)
-- The set of a user's sessions lives as long as its longest session, and
-- forgets the ones whose keys expired (revoked ones go after a few minutes).
if redis.call('TTL', user_sessions) < tonumber(s_ttl) then redis.call('EXPIRE', user_sessions, s_ttl) end
for _, id in ipairs(redis.call('SMEMBERS', user_sessions)) do
  if redis.call('EXISTS', sid_prefix .. id) == 0 then redis.call('SREM', user_sessions, id) end
end
";

/// Shorten a revoked session's keys to the revoked afterlife (never longer
/// than they had). Expects `rs` (session key) and `rsid` (its sid key).
const SHORTEN_REVOKED: &str = r"
if redis.call('TTL', rs) > tonumber(revoked_ttl) then
  redis.call('EXPIRE', rs, revoked_ttl)
  redis.call('EXPIRE', rsid, revoked_ttl)
end
";

pub(super) struct Scripts {
    pub upsert_identity: LuaScript,
    pub complete_login: LuaScript,
    pub replace_session: LuaScript,
    pub claim: LuaScript,
    pub end_claim: LuaScript,
    pub touch: LuaScript,
    pub revoke: LuaScript,
    pub revoke_all: LuaScript,
    pub put_token: LuaScript,
    pub try_lock: LuaScript,
    pub unlock: LuaScript,
    pub reseal: LuaScript,
}

/// The claim fields `rows::claim` reads, in its order.
pub(super) const CLAIM_FIELDS: &str = "'state', 'owner', 'error_code', 'session_id', 'sealed_token', \
     'openid', 'unionid', 'new_user', 'session_expires_at'";

impl Scripts {
    pub fn new() -> Self {
        let identity_args = [&USER_ARGS[..], &IDENTITY_ARGS[..]].concat();
        let audit_if_needed = audit_if_needed();
        Self {
            upsert_identity: LuaScript::new(
                "upsert_identity",
                &["user"],
                &identity_args,
                &format!(
                    "{RESOLVE_IDENTITY}\n{UPSERT_USER}\n{RECORD_RESOLUTION}\n{audit_if_needed}\n{RETURN_RESOLUTION}"
                ),
            ),
            complete_login: LuaScript::new(
                "complete_login",
                &["user", "session", "sid", "user_sessions", "claim"],
                &login_args(),
                &format!(
                    r"
local held = redis.call('HMGET', claim, 'state', 'owner')
if held[1] ~= 'pending' or held[2] ~= owner then return {{}} end
{RESOLVE_IDENTITY}
{UPSERT_USER}
{RECORD_RESOLUTION}
{audit_if_needed}
s_user = user_id
{CREATE_SESSION}
local cf = {{'state', 'done', 'session_id', s_id, 'sealed_token', sealed_token,
            'openid', openid, 'new_user', new_user and '1' or '0', 'session_expires_at', s_expires}}
if unionid ~= '' then cf[#cf + 1] = 'unionid'; cf[#cf + 1] = unionid end
redis.call('HSET', claim, unpack(cf))
{RETURN_RESOLUTION}
"
                ),
            ),
            replace_session: LuaScript::new(
                "replace_session",
                &["session", "sid", "user_sessions", "old_sid"],
                &REPLACE_ARGS,
                &format!(
                    r"
local old_hash = redis.call('GET', old_sid)
if not old_hash then return 0 end
local old = session_prefix .. old_hash
local t = tonumber(now)
if redis.call('HEXISTS', old, 'revoked_at') == 1
   or tonumber(redis.call('HGET', old, 'expires_at') or '0') <= t
   or tonumber(redis.call('HGET', old, 'idle_expires_at') or '0') <= t then
  return 0
end
redis.call('HSET', old, 'revoked_at', now)
local rs, rsid = old, old_sid
{SHORTEN_REVOKED}
{CREATE_SESSION}
return 1
"
                ),
            ),
            claim: LuaScript::new(
                "claim",
                &["claim"],
                &["appid", "owner", "now", "lease_until", "expires_at", "ttl"],
                &format!(
                    r"
local t = tonumber(now)
local held = redis.call('HMGET', claim, 'state', 'expires_at', 'lease_until')
if held[1] then
  local expires = tonumber(held[2] or '0')
  local lease = tonumber(held[3] or '0')
  if expires > t and not (held[1] == 'pending' and lease <= t) then
    return redis.call('HMGET', claim, {CLAIM_FIELDS})
  end
  redis.call('DEL', claim)
end
redis.call('HSET', claim, 'appid', appid, 'state', 'pending', 'owner', owner,
           'lease_until', lease_until, 'expires_at', expires_at)
redis.call('EXPIRE', claim, ttl)
return {{'pending', owner}}
"
                ),
            ),
            end_claim: LuaScript::new(
                "end_claim",
                &["claim"],
                &["owner", "error_code"],
                r"
if redis.call('HGET', claim, 'state') ~= 'pending' or redis.call('HGET', claim, 'owner') ~= owner then
  return 0
end
if error_code == '' then
  redis.call('DEL', claim)
else
  redis.call('HSET', claim, 'state', 'failed', 'error_code', error_code)
end
return 1
",
            ),
            touch: LuaScript::new(
                "touch",
                &["sid"],
                &["session_prefix", "idle_until"],
                r"
local h = redis.call('GET', sid)
if not h then return 0 end
local s = session_prefix .. h
if redis.call('HEXISTS', s, 'revoked_at') == 1 then return 0 end
if tonumber(redis.call('HGET', s, 'idle_expires_at') or '0') < tonumber(idle_until) then
  redis.call('HSET', s, 'idle_expires_at', idle_until)
end
return 1
",
            ),
            revoke: LuaScript::new(
                "revoke",
                &["sid"],
                &["session_prefix", "now", "revoked_ttl"],
                &format!(
                    r"
local h = redis.call('GET', sid)
if not h then return 0 end
local s = session_prefix .. h
if redis.call('EXISTS', s) == 0 or redis.call('HEXISTS', s, 'revoked_at') == 1 then return 0 end
redis.call('HSET', s, 'revoked_at', now)
local rs, rsid = s, sid
{SHORTEN_REVOKED}
return 1
"
                ),
            ),
            revoke_all: LuaScript::new(
                "revoke_all",
                &["user_sessions"],
                &[
                    "sid_prefix",
                    "session_prefix",
                    "now",
                    "revoked_ttl",
                    "family",
                ],
                &format!(
                    r"
local t = tonumber(now)
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', user_sessions)) do
  local h = redis.call('GET', sid_prefix .. id)
  if not h then
    redis.call('SREM', user_sessions, id)
  else
    local s = session_prefix .. h
    if redis.call('HEXISTS', s, 'revoked_at') == 0
       and (family == '' or redis.call('HGET', s, 'family') == family)
       and tonumber(redis.call('HGET', s, 'expires_at') or '0') > t
       and tonumber(redis.call('HGET', s, 'idle_expires_at') or '0') > t then
      redis.call('HSET', s, 'revoked_at', now)
      local rs, rsid = s, sid_prefix .. id
      {SHORTEN_REVOKED}
      count = count + 1
    end
  end
end
return count
"
                ),
            ),
            put_token: LuaScript::new(
                "put_token",
                &["token"],
                &["sealed_token", "expires_at", "fence"],
                r"
if tonumber(redis.call('HGET', token, 'fence') or '0') > tonumber(fence) then return 0 end
redis.call('HSET', token, 'sealed_token', sealed_token, 'expires_at', expires_at, 'fence', fence)
return 1
",
            ),
            try_lock: LuaScript::new(
                "try_lock",
                &["lock"],
                &["owner", "now", "lease_until"],
                r"
local t = tonumber(now)
local holder = redis.call('HGET', lock, 'owner')
local lease = tonumber(redis.call('HGET', lock, 'lease_until') or '0')
if holder and holder ~= owner and lease > t then return false end
local fence = tonumber(redis.call('HGET', lock, 'fence') or '0')
if not (holder == owner and lease > t) then fence = fence + 1 end
redis.call('HSET', lock, 'owner', owner, 'lease_until', lease_until, 'fence', fence)
return fence
",
            ),
            reseal: LuaScript::new(
                "reseal",
                &["hash"],
                &["field", "old", "new"],
                r"
if redis.call('HGET', hash, field) ~= old then return 0 end
redis.call('HSET', hash, field, new)
return 1
",
            ),
            unlock: LuaScript::new(
                "unlock",
                &["lock"],
                &["owner"],
                r"
if redis.call('HGET', lock, 'owner') == owner then
  redis.call('HSET', lock, 'lease_until', '0')
end
return 1
",
            ),
        }
    }
}

/// Writes the login's audit entry (a link, or a conflict first recorded).
fn audit_if_needed() -> String {
    format!(
        r"
if audit_needed then
  local a_id, a_at, a_actor, a_user, a_appid, a_openid = audit_id, now, 'login', user_id, appid, openid
  local a_action = linked and 'link' or 'conflict'
  local a_other = conflict or ''
  local a_detail = unionid ~= '' and ('unionid ' .. unionid) or ''
{AUDIT}
end
"
    )
}

/// What `rows`-side Rust reads back: user id, new identity, linked, conflict.
const RETURN_RESOLUTION: &str =
    "return {user_id, new_user and '1' or '0', linked and '1' or '0', conflict or ''}";

/// A login's arguments: the identity's, the session's, then the claim's
/// owner and the sealed token kept for replays.
fn login_args() -> Vec<&'static str> {
    [
        &USER_ARGS[..],
        &IDENTITY_ARGS[..],
        &SESSION_ARGS[..],
        &["owner", "sealed_token"],
    ]
    .concat()
}

/// A refresh's arguments: the new session's, then now, the prefix of
/// session keys and the revoked afterlife of the old one.
const REPLACE_ARGS: [&str; 16] = [
    "s_hash_hex",
    "s_id",
    "s_token_hash",
    "s_appid",
    "s_openid",
    "s_unionid",
    "s_created",
    "s_expires",
    "s_idle",
    "s_ttl",
    "sid_prefix",
    "s_user",
    "s_family",
    "now",
    "session_prefix",
    "revoked_ttl",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of a login has a name, and no name twice.
    #[test]
    fn a_logins_arguments_are_all_named_once() {
        let args = login_args();
        assert!(!args.contains(&""), "{args:?}");
        for (i, a) in args.iter().enumerate() {
            assert!(!args[..i].contains(a), "{a} twice");
        }
    }
}
