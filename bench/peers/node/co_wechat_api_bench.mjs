#!/usr/bin/env node
// Peer benchmark: co-wechat-api's mini-program code2Session against the WeChat simulator.
//
//   node bench/peers/node/co_wechat_api_bench.mjs \
//       --base-url http://127.0.0.1:PORT/ --appid A --secret S \
//       --codes FILE --concurrency N --duration SECONDS
//
// One `API` (as an app holds one per process) and N async loops, each calling
// `api.code2Session(code)` with one-time login codes taken from FILE (one per
// line, each used once) until `duration` seconds have passed or the codes run
// out. Prints one line to stdout:
//
//   BENCH {"requests": ..., "errors": ..., "rps": ..., "p50_us": ..., "p99_us": ...,
//          "seconds": ..., "ran_out": ..., "peer": "co-wechat-api X.Y.Z"}
//
// How the simulator replaces api.weixin.qq.com (co-wechat-api 3.11.0):
// `code2Session(jsCode)` (lib/api_miniprogram_login.js) builds its URL from the
// instance's `snsPrefix` (`'https://api.weixin.qq.com/sns/'`, set in the API
// constructor, lib/api_common.js) + `jscode2session?appid=&secret=&js_code=
// &grant_type=authorization_code` and sends it with `this.request(url)`; it
// never asks for an access_token. There is no base-URL option, so the script
// sets the instance's `snsPrefix` (and the other prefixes, unused here) to the
// simulator's. `request` goes through httpx, which parses a `text/plain` or
// `application/json` body with json-bigint (WeChat and the simulator answer
// `text/plain`) and throws a `WeChatAPIError` for an `errcode`.
// Connections: httpx uses its own module-level `http.Agent({keepAlive: true})`
// with no cap on sockets, so N loops use up to N connections. httpx ignores
// $http_proxy (it calls http.request directly), so no proxy can be in the way.
// Its default timeout is 3 s; `setOpts({timeout: 10000})` gives the same 10 s
// as the other peers.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const API = require('co-wechat-api');
const PEER = `co-wechat-api ${require('co-wechat-api/package.json').version}`;

function usage(msg) {
  console.error(`co_wechat_api_bench: ${msg}`);
  console.error('usage: co_wechat_api_bench.mjs --base-url URL --appid A --secret S --codes FILE --concurrency N --duration SECONDS');
  process.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      'base-url': { type: 'string' },
      appid: { type: 'string' },
      secret: { type: 'string' },
      codes: { type: 'string' },
      concurrency: { type: 'string' },
      duration: { type: 'string' },
    },
    strict: true,
  }));
} catch (e) {
  usage(e.message);
}
for (const k of ['base-url', 'appid', 'secret', 'codes', 'concurrency', 'duration']) {
  if (values[k] === undefined) usage(`--${k} is required`);
}
const concurrency = Number.parseInt(values.concurrency, 10);
const duration = Number.parseFloat(values.duration);
if (!(concurrency >= 1) || !(duration > 0)) usage('--concurrency must be >= 1 and --duration > 0');
const baseURL = values['base-url'].endsWith('/') ? values['base-url'] : `${values['base-url']}/`;

const codes = readFileSync(values.codes, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
let nextCode = 0;
let ranOut = false;

const api = new API(values.appid, values.secret);
api.setOpts({ timeout: 10000 });
// The prefixes the constructor set to https://api.weixin.qq.com/... (and mp.weixin.qq.com,
// file.api.weixin.qq.com): every one to the simulator, so nothing can leave 127.0.0.1.
for (const key of Object.keys(api)) {
  if (key.endsWith('Prefix') && typeof api[key] === 'string') {
    api[key] = new URL(new URL(api[key]).pathname.replace(/^\//, ''), baseURL).href;
  }
}
if (api.snsPrefix !== `${baseURL}sns/`) usage(`cannot point snsPrefix at the simulator (got ${api.snsPrefix})`);

const latencies = [];
let ok = 0;
let errors = 0;
const firstErrors = [];

const t0 = process.hrtime.bigint();
const deadline = t0 + BigInt(Math.round(duration * 1e9));

async function loop() {
  while (process.hrtime.bigint() < deadline) {
    if (nextCode >= codes.length) {
      ranOut = true;
      return;
    }
    const code = codes[nextCode++];
    const start = process.hrtime.bigint();
    let why = null;
    try {
      const r = await api.code2Session(code);
      if (!r || !r.openid || !r.session_key) why = `unexpected response: ${JSON.stringify(r)}`;
    } catch (e) {
      why = `${e?.name ?? 'Error'}: ${e?.message ?? e}`;
    }
    latencies.push(Number(process.hrtime.bigint() - start) / 1000);
    if (why === null) {
      ok += 1;
    } else {
      errors += 1;
      if (firstErrors.length < 5) firstErrors.push(why);
    }
  }
}

await Promise.all(Array.from({ length: concurrency }, loop));
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

// Nearest-rank percentile of an ascending array; 0 when empty.
function percentile(sorted, q) {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((sorted.length * q) / 100));
  return sorted[rank - 1];
}
latencies.sort((a, b) => a - b);
for (const why of firstErrors) console.error(`[co_wechat_api_bench] error: ${why}`);
const out = {
  requests: ok + errors,
  errors,
  rps: seconds > 0 ? ok / seconds : 0,
  p50_us: percentile(latencies, 50),
  p99_us: percentile(latencies, 99),
  seconds,
  ran_out: ranOut,
  peer: PEER,
};
console.log(`BENCH ${JSON.stringify(out)}`);
// Idle keep-alive sockets of httpx's agent would hold the process open.
process.exit(0);
