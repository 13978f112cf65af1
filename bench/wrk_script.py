"""The wrk Lua script bench/run writes to its temporary directory (MODE env, see the script)."""

LUA = r"""
-- wrk script for bench/run. MODE (env):
--   verify:      GET with "Authorization: Bearer $TOKEN"
--   verify_many: GET with a bearer token picked at random per request from
--                $TOKENS (one per line)
--   login:       POST /v1/login {"code": ...}, one fresh code per request, read
--                from $CODES (one per line; thread i of n takes lines i, i+n, ...)
--   j2s:         GET /sns/jscode2session?appid=$APPID&secret=$SECRET&js_code=...
--                straight at the simulator, one fresh code per request from $CODES
--   decrypt:     POST $BODY (JSON) with "Authorization: Bearer $TOKEN"
--   mint:        POST /__sim/login {"appid": $APPID}, each answer's code appended
--                to $CODES_DIR/codes.<thread>
--   plain:       GET the URL as given
-- done() prints one machine-readable line: BENCH {...}
local mode = os.getenv("MODE") or "plain"
local counter = 0
local threads = {}

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local codes, nextcode, out, tokens = {}, 1, nil, {}
local j2s_prefix = nil

local function load_codes(n)
  local i = 0
  for line in io.lines(os.getenv("CODES")) do
    if i % n == tid and #line > 0 then table.insert(codes, line) end
    i = i + 1
  end
end

function init(args)
  local n = tonumber(os.getenv("THREADS") or "1")
  if mode == "verify" then
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  elseif mode == "verify_many" then
    for line in io.lines(os.getenv("TOKENS")) do
      if #line > 0 then table.insert(tokens, "Bearer " .. line) end
    end
    math.randomseed(os.time() + tid * 7919)
  elseif mode == "login" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    load_codes(n)
  elseif mode == "j2s" then
    load_codes(n)
    j2s_prefix = "/sns/jscode2session?appid=" .. os.getenv("APPID") .. "&secret=" ..
      os.getenv("SECRET") .. "&grant_type=authorization_code&js_code="
  elseif mode == "decrypt" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
    wrk.body = os.getenv("BODY")
  elseif mode == "mint" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = '{"appid":"' .. os.getenv("APPID") .. '"}'
    out = io.open(os.getenv("CODES_DIR") .. "/codes." .. tid, "w")
    out:setvbuf("line")
  end
end

function request()
  if mode == "login" then
    local code = codes[nextcode] or "exhausted-codes"
    nextcode = nextcode + 1
    return wrk.format(nil, nil, nil, '{"code":"' .. code .. '"}')
  elseif mode == "j2s" then
    local code = codes[nextcode] or "exhausted-codes"
    nextcode = nextcode + 1
    return wrk.format(nil, j2s_prefix .. code)
  elseif mode == "verify_many" then
    local headers = { ["Authorization"] = tokens[math.random(#tokens)] }
    return wrk.format(nil, nil, headers)
  end
  return wrk.format()
end

if mode == "mint" then
  function response(status, headers, body)
    if status == 200 then
      local code = body:match('"code":"([^"]+)"')
      if code then out:write(code, "\n") end
    end
  end
elseif mode == "j2s" then
  -- WeChat answers errors with HTTP 200: count a body without openid as non-2xx.
  function response(status, headers, body)
    if not body:find('"openid"', 1, true) then j2s_failed = (j2s_failed or 0) + 1 end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  local failed = 0
  for _, t in ipairs(threads) do failed = failed + (t:get("j2s_failed") or 0) end
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"rps":%.1f,"p50_us":%d,"p99_us":%d,"max_us":%d,' ..
    '"non2xx":%d,"connect_err":%d,"read_err":%d,"write_err":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    e.status + failed, e.connect, e.read, e.write, e.timeout))
end
"""
