//! The Lua scripts of the Redis store. Every change that touches several keys,
//! or that must check before it writes (claims, fencing, revocation), runs as
//! one script, so it is atomic on the server.
//!
//! Key layout under the prefix P: `P:u:{appid}:{openid}` user hash,
//! `P:s:{hash}` session hash (expires with the session), `P:sid:{id}` → hash,
//! `P:us:{appid}:{openid}` set of session ids, `P:c:{claim}` claim hash
//! (expires with the replay window), `P:t:{appid}` access token,
//! `P:l:{name}` lock. Scripts that walk a user's sessions derive keys from the
//! prefix, so this layout targets a single Redis (or one hash slot), not a
//! sharded cluster.

/// Upsert the user in KEYS[1] from ARGV[1..8] = appid, openid, unionid ('' =
/// none), sealed key, fingerprint, now, previous_key_until. Leaves `new_user`
/// (boolean) in a local.
const UPSERT_USER: &str = r"
local u = KEYS[1]
local new_user = redis.call('EXISTS', u) == 0
local uf
if new_user then
  uf = {'appid', ARGV[1], 'openid', ARGV[2], 'session_key', ARGV[4], 'key_fp', ARGV[5],
        'created_at', ARGV[6], 'updated_at', ARGV[6]}
else
  local old = redis.call('HMGET', u, 'key_fp', 'session_key')
  uf = {'session_key', ARGV[4], 'key_fp', ARGV[5], 'updated_at', ARGV[6]}
  if old[1] ~= ARGV[5] then
    for _, v in ipairs({'prev_session_key', old[2], 'prev_key_until', ARGV[7]}) do uf[#uf + 1] = v end
  end
end
if ARGV[3] ~= '' then uf[#uf + 1] = 'unionid'; uf[#uf + 1] = ARGV[3] end
redis.call('HSET', u, unpack(uf))
";

/// Create the session: KEYS[2] = `P:s:{hash}`, KEYS[3] = `P:sid:{id}`, KEYS[4] =
/// the user's session set; ARGV[8..17] = hash hex, id, token hash bytes, appid,
/// openid, unionid, created_at, expires_at, idle_expires_at, ttl seconds.
const CREATE_SESSION: &str = r"
local s = KEYS[2]
local sf = {'id', ARGV[9], 'token_hash', ARGV[10], 'appid', ARGV[11], 'openid', ARGV[12],
            'created_at', ARGV[14], 'expires_at', ARGV[15], 'idle_expires_at', ARGV[16]}
if ARGV[13] ~= '' then sf[#sf + 1] = 'unionid'; sf[#sf + 1] = ARGV[13] end
redis.call('HSET', s, unpack(sf))
redis.call('EXPIRE', s, ARGV[17])
redis.call('SET', KEYS[3], ARGV[8], 'EX', ARGV[17])
redis.call('SADD', KEYS[4], ARGV[9])
-- The set of a user's sessions lives as long as its longest session.
if redis.call('TTL', KEYS[4]) < tonumber(ARGV[17]) then redis.call('EXPIRE', KEYS[4], ARGV[17]) end
";

pub fn upsert_user() -> String {
    format!("{UPSERT_USER}\nreturn new_user and 1 or 0")
}

/// KEYS: user, session, sid, user set, claim. ARGV: user (1..7), session
/// (8..17), then owner (18), sealed token (19). Fenced on the claim's owner.
pub fn complete_login() -> String {
    format!(
        r"
local c = KEYS[5]
local held = redis.call('HMGET', c, 'state', 'owner')
if held[1] ~= 'pending' or held[2] ~= ARGV[18] then
  return -1
end
{UPSERT_USER}
{CREATE_SESSION}
local cf = {{'state', 'done', 'session_id', ARGV[9], 'sealed_token', ARGV[19],
            'openid', ARGV[2], 'new_user', new_user and '1' or '0', 'session_expires_at', ARGV[15]}}
if ARGV[3] ~= '' then cf[#cf + 1] = 'unionid'; cf[#cf + 1] = ARGV[3] end
redis.call('HSET', c, unpack(cf))
return new_user and 1 or 0
"
    )
}

/// KEYS: unused, new session, new sid, user set, old sid. ARGV: session (8..17)
/// after 7 placeholders, then now (18). Revokes the old session if active and
/// creates the new one; 0 if the old one was not active.
pub fn replace_session() -> String {
    format!(
        r"
local old_hash = redis.call('GET', KEYS[5])
if not old_hash then return 0 end
local old = ARGV[20] .. old_hash
local now = tonumber(ARGV[18])
if redis.call('HEXISTS', old, 'revoked_at') == 1
   or tonumber(redis.call('HGET', old, 'expires_at') or '0') <= now
   or tonumber(redis.call('HGET', old, 'idle_expires_at') or '0') <= now then
  return 0
end
redis.call('HSET', old, 'revoked_at', ARGV[18])
{CREATE_SESSION}
return 1
"
    )
}

/// KEYS[1] claim. ARGV: appid, owner, now, lease_until, expires_at, ttl.
/// Answers the claim's fields as `HGETALL` would; when the caller now holds
/// it (a fresh code, the usual case), only `state` and `owner`.
pub const CLAIM: &str = r"
local k = KEYS[1]
local now = tonumber(ARGV[3])
local held = redis.call('HMGET', k, 'state', 'expires_at', 'lease_until')
local state = held[1]
if state then
  local expires = tonumber(held[2] or '0')
  local lease = tonumber(held[3] or '0')
  if expires > now and not (state == 'pending' and lease <= now) then
    return redis.call('HGETALL', k)
  end
  redis.call('DEL', k)
end
redis.call('HSET', k, 'appid', ARGV[1], 'state', 'pending', 'owner', ARGV[2],
           'lease_until', ARGV[4], 'expires_at', ARGV[5])
redis.call('EXPIRE', k, ARGV[6])
return {'state', 'pending', 'owner', ARGV[2]}
";

/// KEYS[1] claim. ARGV: owner, error code ('' = release).
pub const END_CLAIM: &str = r"
local k = KEYS[1]
if redis.call('HGET', k, 'state') ~= 'pending' or redis.call('HGET', k, 'owner') ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', k)
else
  redis.call('HSET', k, 'state', 'failed', 'error_code', ARGV[2])
end
return 1
";

/// KEYS[1] sid. ARGV: prefix of session keys, idle deadline.
pub const TOUCH: &str = r"
local h = redis.call('GET', KEYS[1])
if not h then return 0 end
local s = ARGV[1] .. h
if redis.call('HEXISTS', s, 'revoked_at') == 1 then return 0 end
if tonumber(redis.call('HGET', s, 'idle_expires_at') or '0') < tonumber(ARGV[2]) then
  redis.call('HSET', s, 'idle_expires_at', ARGV[2])
end
return 1
";

/// KEYS[1] sid. ARGV: prefix of session keys, now.
pub const REVOKE: &str = r"
local h = redis.call('GET', KEYS[1])
if not h then return 0 end
local s = ARGV[1] .. h
if redis.call('EXISTS', s) == 0 or redis.call('HEXISTS', s, 'revoked_at') == 1 then return 0 end
redis.call('HSET', s, 'revoked_at', ARGV[2])
return 1
";

/// KEYS[1] user set. ARGV: prefix of sid keys, prefix of session keys, now.
pub const REVOKE_ALL: &str = r"
local now = tonumber(ARGV[3])
local count = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local h = redis.call('GET', ARGV[1] .. id)
  if not h then
    redis.call('SREM', KEYS[1], id)
  else
    local s = ARGV[2] .. h
    if redis.call('HEXISTS', s, 'revoked_at') == 0
       and tonumber(redis.call('HGET', s, 'expires_at') or '0') > now
       and tonumber(redis.call('HGET', s, 'idle_expires_at') or '0') > now then
      redis.call('HSET', s, 'revoked_at', ARGV[3])
      count = count + 1
    end
  end
end
return count
";

/// KEYS[1] token. ARGV: sealed token, expires_at, fence.
pub const PUT_TOKEN: &str = r"
local k = KEYS[1]
if tonumber(redis.call('HGET', k, 'fence') or '0') > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', k, 'sealed_token', ARGV[1], 'expires_at', ARGV[2], 'fence', ARGV[3])
return 1
";

/// KEYS[1] lock. ARGV: owner, now, lease_until. Returns the fence or nil.
pub const TRY_LOCK: &str = r"
local k = KEYS[1]
local now = tonumber(ARGV[2])
local owner = redis.call('HGET', k, 'owner')
local lease = tonumber(redis.call('HGET', k, 'lease_until') or '0')
if owner and owner ~= ARGV[1] and lease > now then return false end
local fence = tonumber(redis.call('HGET', k, 'fence') or '0')
if not (owner == ARGV[1] and lease > now) then fence = fence + 1 end
redis.call('HSET', k, 'owner', ARGV[1], 'lease_until', ARGV[3], 'fence', fence)
return fence
";

/// KEYS[1] lock. ARGV: owner.
pub const UNLOCK: &str = r"
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lease_until', '0')
end
return 1
";
