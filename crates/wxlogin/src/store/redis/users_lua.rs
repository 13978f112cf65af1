//! The Lua of the Redis store's users: identity resolution at login (the
//! same decision as `users::resolve`, in Lua so it is atomic on the server),
//! merge, unlink, the audit log and the adoption of identities written
//! before users existed.
//!
//! Keys under the prefix P, besides `lua.rs`'s: `P:user:{user_id}` user hash,
//! `P:ui:{user_id}` set of the user's identities (`appid:openid`),
//! `P:un:{platform}:{unionid}` → user id, `P:cf:{id}` conflict hash, `P:cfs`
//! (sorted set of conflict ids), `P:cfu:{user_id}` (set of a user's conflict
//! ids), `P:cfk:{appid}:{openid}:{other}` → conflict id (recorded once),
//! `P:a:{id}` audit entry, `P:al` and `P:au:{user_id}` (sorted sets of audit
//! ids, all at score 0 so they sort by id, i.e. by time), `P:schema`.

use super::script::LuaScript;

/// What a login adds to the identity's arguments for its resolution.
pub(super) const IDENTITY_ARGS: [&str; 6] = [
    "platform",
    "new_user_id",
    "link",
    "prefix",
    "conflict_id",
    "audit_id",
];

/// Expects `user` (the identity key), `prefix`, `platform`, `appid`,
/// `openid`, `unionid` ('' = none), `new_user_id`, `link` ('1'/'0'), `now`.
/// Leaves `user_id`, `linked` and `conflict` (a user id or false).
pub(super) const RESOLVE_IDENTITY: &str = r"
local existing = redis.call('HGET', user, 'user_id')
local un_owner = false
if unionid ~= '' and link == '1' then
  local uk = prefix .. ':un:' .. platform .. ':' .. unionid
  redis.call('SET', uk, existing or new_user_id, 'NX')
  un_owner = redis.call('GET', uk)
end
local user_id, linked, conflict = existing, false, false
if existing then
  if un_owner and un_owner ~= existing then conflict = un_owner end
else
  user_id = un_owner or new_user_id
  linked = user_id ~= new_user_id
  if not linked then
    redis.call('HSET', prefix .. ':user:' .. user_id, 'user_id', user_id, 'created_at', now)
  end
end
redis.call('SADD', prefix .. ':ui:' .. user_id, appid .. ':' .. openid)
";

/// Records a conflict the first time it is met (`conflict_id`); leaves
/// `audit_needed`.
pub(super) const RECORD_RESOLUTION: &str = r"
local audit_needed = linked
if conflict then
  local ck = prefix .. ':cfk:' .. appid .. ':' .. openid .. ':' .. conflict
  if redis.call('SET', ck, conflict_id, 'NX') then
    redis.call('HSET', prefix .. ':cf:' .. conflict_id, 'id', conflict_id, 'at', now,
               'platform', platform, 'unionid', unionid, 'appid', appid, 'openid', openid,
               'user_id', user_id, 'other_user_id', conflict)
    redis.call('ZADD', prefix .. ':cfs', 0, conflict_id)
    redis.call('SADD', prefix .. ':cfu:' .. user_id, conflict_id)
    redis.call('SADD', prefix .. ':cfu:' .. conflict, conflict_id)
    audit_needed = true
  end
end
";

/// An audit entry's arguments ('' = none).
pub(super) const AUDIT_ARGS: [&str; 9] = [
    "a_id", "a_at", "a_actor", "a_action", "a_user", "a_other", "a_appid", "a_openid", "a_detail",
];

/// Expects `prefix` and the `AUDIT_ARGS` locals.
pub(super) const AUDIT: &str = r"
local af = {'id', a_id, 'at', a_at, 'actor', a_actor, 'action', a_action}
for _, kv in ipairs({{'user_id', a_user}, {'other_user_id', a_other}, {'appid', a_appid},
                     {'openid', a_openid}, {'detail', a_detail}}) do
  if kv[2] ~= '' then af[#af + 1] = kv[1]; af[#af + 1] = kv[2] end
end
redis.call('HSET', prefix .. ':a:' .. a_id, unpack(af))
redis.call('ZADD', prefix .. ':al', 0, a_id)
if a_user ~= '' then redis.call('ZADD', prefix .. ':au:' .. a_user, 0, a_id) end
if a_other ~= '' then redis.call('ZADD', prefix .. ':au:' .. a_other, 0, a_id) end
";

/// Set `field` to `value` on the sessions of identity `ref` that still exist.
const SET_ON_SESSIONS: &str = r"
local function set_on_sessions(ref, field, value)
  for _, id in ipairs(redis.call('SMEMBERS', prefix .. ':us:' .. ref)) do
    local h = redis.call('GET', prefix .. ':sid:' .. id)
    if h and redis.call('EXISTS', prefix .. ':s:' .. h) == 1 then
      redis.call('HSET', prefix .. ':s:' .. h, field, value)
    end
  end
end
";

pub(super) struct UserScripts {
    pub merge: LuaScript,
    pub unlink: LuaScript,
    pub adopt: LuaScript,
    pub audit: LuaScript,
    pub set_phone: LuaScript,
}

impl UserScripts {
    pub fn new() -> Self {
        let with_audit = |first: &[&'static str]| [first, &AUDIT_ARGS[..]].concat();
        Self {
            merge: LuaScript::new(
                "merge",
                &[],
                &with_audit(&["prefix", "into", "from", "now"]),
                &format!(
                    r"
{SET_ON_SESSIONS}
if into == from or redis.call('EXISTS', prefix .. ':user:' .. into) == 0
   or redis.call('EXISTS', prefix .. ':user:' .. from) == 0 then return 0 end
local ui_from, ui_into = prefix .. ':ui:' .. from, prefix .. ':ui:' .. into
for _, ref in ipairs(redis.call('SMEMBERS', ui_from)) do
  local ik = prefix .. ':u:' .. ref
  redis.call('HSET', ik, 'user_id', into)
  redis.call('SADD', ui_into, ref)
  local f = redis.call('HMGET', ik, 'platform', 'unionid')
  if f[2] then
    local uk = prefix .. ':un:' .. (f[1] or 'wechat') .. ':' .. f[2]
    if redis.call('GET', uk) == from then redis.call('SET', uk, into) end
  end
  set_on_sessions(ref, 'user_id', into)
end
for _, cid in ipairs(redis.call('SMEMBERS', prefix .. ':cfu:' .. from)) do
  local ck = prefix .. ':cf:' .. cid
  local c = redis.call('HMGET', ck, 'user_id', 'other_user_id', 'appid', 'openid')
  if c[1] then
    local u, o, keep = c[1], c[2], true
    if u == from then u = into end
    if o == from then
      local base = prefix .. ':cfk:' .. c[3] .. ':' .. c[4] .. ':'
      redis.call('DEL', base .. from)
      if redis.call('SET', base .. into, cid, 'NX') then
        o = into
      else
        redis.call('DEL', ck)
        redis.call('ZREM', prefix .. ':cfs', cid)
        keep = false
      end
    end
    if keep then
      redis.call('HSET', ck, 'user_id', u, 'other_user_id', o)
      if u == o then redis.call('HSETNX', ck, 'resolved_at', now) end
      redis.call('SADD', prefix .. ':cfu:' .. into, cid)
    end
  end
end
redis.call('DEL', prefix .. ':user:' .. from, ui_from, prefix .. ':cfu:' .. from)
{AUDIT}
return 1
"
                ),
            ),
            unlink: LuaScript::new(
                "unlink",
                &[],
                &with_audit(&["prefix", "appid", "openid", "to", "now"]),
                &format!(
                    r"
{SET_ON_SESSIONS}
local ref = appid .. ':' .. openid
local ik = prefix .. ':u:' .. ref
local from = redis.call('HGET', ik, 'user_id')
if not from then return {{'unknown'}} end
if redis.call('SCARD', prefix .. ':ui:' .. from) < 2 then return {{'only'}} end
redis.call('HSET', prefix .. ':user:' .. to, 'user_id', to, 'created_at', now)
redis.call('HSET', ik, 'user_id', to)
redis.call('SREM', prefix .. ':ui:' .. from, ref)
redis.call('SADD', prefix .. ':ui:' .. to, ref)
set_on_sessions(ref, 'user_id', to)
local f = redis.call('HMGET', ik, 'platform', 'unionid')
if f[2] then
  local platform = f[1] or 'wechat'
  local uk = prefix .. ':un:' .. platform .. ':' .. f[2]
  if redis.call('GET', uk) == from then
    local shared = false
    for _, other in ipairs(redis.call('SMEMBERS', prefix .. ':ui:' .. from)) do
      local o = redis.call('HMGET', prefix .. ':u:' .. other, 'platform', 'unionid')
      if (o[1] or 'wechat') == platform and o[2] == f[2] then shared = true end
    end
    if not shared then redis.call('SET', uk, to) end
  end
end
a_user, a_other = to, from
{AUDIT}
return {{'done', from}}
"
                ),
            ),
            adopt: LuaScript::new(
                "adopt",
                &["user"],
                &["prefix", "ref", "candidate"],
                &format!(
                    r"
{SET_ON_SESSIONS}
if redis.call('EXISTS', user) == 0 or redis.call('HEXISTS', user, 'user_id') == 1 then return 0 end
local f = redis.call('HMGET', user, 'unionid', 'created_at')
local uid = candidate
if f[1] and f[1] ~= '' then
  local uk = prefix .. ':un:wechat:' .. f[1]
  redis.call('SET', uk, candidate, 'NX')
  uid = redis.call('GET', uk)
end
redis.call('HSET', user, 'user_id', uid, 'platform', 'wechat')
if redis.call('EXISTS', prefix .. ':user:' .. uid) == 0 then
  redis.call('HSET', prefix .. ':user:' .. uid, 'user_id', uid, 'created_at', f[2] or '0')
end
redis.call('SADD', prefix .. ':ui:' .. uid, ref)
set_on_sessions(ref, 'user_id', uid)
for _, id in ipairs(redis.call('SMEMBERS', prefix .. ':us:' .. ref)) do
  local h = redis.call('GET', prefix .. ':sid:' .. id)
  if h and redis.call('EXISTS', prefix .. ':s:' .. h) == 1 then
    redis.call('HSETNX', prefix .. ':s:' .. h, 'family', id)
  end
end
return 1
"
                ),
            ),
            audit: LuaScript::new(
                "audit",
                &[],
                &with_audit(&["prefix"]),
                &format!("{AUDIT}\nreturn 1"),
            ),
            set_phone: LuaScript::new(
                "set_phone",
                &["user"],
                &["phone", "now"],
                r"
if redis.call('EXISTS', user) == 0 then return 0 end
redis.call('HSET', user, 'phone', phone, 'phone_at', now)
return 1
",
            ),
        }
    }
}
