#!/usr/bin/env node
// Peer benchmark: node-easywechat's mini-program code2session against the WeChat simulator.
//
//   node bench/peers/node/easywechat_bench.mjs \
//       --base-url http://127.0.0.1:PORT/ --appid A --secret S \
//       --codes FILE --concurrency N --duration SECONDS
//
// One `MiniApp` (as an app holds one per process) and N async loops, each
// calling `app.getUtils().codeToSession(code)` with one-time login codes taken
// from FILE (one per line, each used once) until `duration` seconds have
// passed or the codes run out. Prints one line to stdout:
//
//   BENCH {"requests": ..., "errors": ..., "rps": ..., "p50_us": ..., "p99_us": ...,
//          "seconds": ..., "ran_out": ..., "peer": "node-easywechat X.Y.Z"}
//
// How the simulator replaces api.weixin.qq.com (node-easywechat 3.x): the
// MiniApp's HTTP client is `axios.create(options)` where options are
// `merge(true, {baseURL: 'https://api.weixin.qq.com/'}, config.http)`
// (MiniApp/Application.js getHttpClientDefaultOptions, Core/HttpClient
// HttpClient.create), so the documented `http: { baseURL }` config is a clean
// override; no interception needed. `Utils.codeToSession` requests
// GET /sns/jscode2session through that plain client (`app.getHttpClient()`),
// not the access-token-aware one, so no access_token is fetched for it.
// Connections: axios uses Node's global agent, which keeps connections alive
// (Node >= 19), with no cap on sockets, so N loops use up to N connections.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';

const require = createRequire(import.meta.url);
const { MiniApp } = require('node-easywechat');
const PEER = `node-easywechat ${require('node-easywechat/package.json').version}`;

function usage(msg) {
  console.error(`easywechat_bench: ${msg}`);
  console.error('usage: easywechat_bench.mjs --base-url URL --appid A --secret S --codes FILE --concurrency N --duration SECONDS');
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

// axios honours $http_proxy; keep the simulator's traffic direct.
const host = new URL(baseURL).hostname;
for (const v of ['no_proxy', 'NO_PROXY']) {
  process.env[v] = [process.env[v], host].filter(Boolean).join(',');
}

const codes = readFileSync(values.codes, 'utf8').split('\n').map((s) => s.trim()).filter(Boolean);
let nextCode = 0;
let ranOut = false;

const app = new MiniApp({
  app_id: values.appid,
  secret: values.secret,
  http: { baseURL, timeout: 10000 },
});
const utils = app.getUtils();

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
      const r = await utils.codeToSession(code);
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
for (const why of firstErrors) console.error(`[easywechat_bench] error: ${why}`);
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
// Idle keep-alive sockets of the global agent would hold the process open a few seconds.
process.exit(0);
