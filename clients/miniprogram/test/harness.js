// Starts the real service for the tests: `target/debug/wxlogin demo` (the
// simulator and the service in one process, temporary SQLite), and parses the
// URLs and keys it prints. Nothing here is mocked.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const APPID = 'wx4f4bc4dec97d474b';
/** The apps `wxlogin demo` serves, one per platform (see crates/wxlogin/src/demo_apps.rs). */
export const DEMO_APPS = {
  wechat: APPID,
  douyin: 'tt0123456789abcdef',
  alipay: '2021000000000001',
  qq: '1100000001',
  baidu: '10000001',
  wecom: 'wx0123456789abcdef',
};
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const BINARY = join(REPO_ROOT, 'target/debug/wxlogin');

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;
const FETCH_TIMEOUT_MS = 10_000;

// The lines of the walkthrough we need (see crates/wxlogin/src/demo.rs).
const PATTERNS = {
  service: /^\s*service\s+(http:\/\/\S+?)\/?(?:\s|$)/,
  simulator: /^\s*simulator\s+(http:\/\/\S+?)\/?(?:\s|$)/,
  adminKey: /^\s*admin key\s+([0-9a-f]+)\s*$/,
  serviceKey: /^\s*service key\s+([0-9a-f]+)\s*$/,
};

/**
 * Start `wxlogin demo --listen 127.0.0.1:0` (`tokens: 'jwt'`: with
 * `--tokens jwt`). Resolves with `{service, simulator, adminKey, serviceKey,
 * appid, output(), stop()}`; URLs have no trailing slash. Call stop() when
 * done (it is bounded).
 */
export async function startDemo({ tokens = 'opaque' } = {}) {
  if (!existsSync(BINARY)) {
    throw new Error(`${BINARY} is missing: run \`cargo build -p wxlogin\` in ${REPO_ROOT} first`);
  }
  const args = ['demo', '--listen', '127.0.0.1:0', ...(tokens === 'jwt' ? ['--tokens', 'jwt'] : [])];
  const child = spawn(BINARY, args, {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', RUST_LOG: process.env.RUST_LOG || 'warn' },
  });
  // Never leave the service behind, even if a test run is aborted.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  let output = '';
  const found = {};
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const ready = new Promise((resolve, reject) => {
    let buffer = '';
    const onData = (chunk) => {
      output += chunk;
      buffer += chunk;
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        for (const [name, pattern] of Object.entries(PATTERNS)) {
          const m = !found[name] && line.match(pattern);
          if (m) found[name] = m[1];
        }
        if (Object.keys(PATTERNS).every((name) => found[name])) resolve();
      }
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    exited.then(({ code, signal }) =>
      reject(new Error(`wxlogin demo exited (${code ?? signal}) before printing its URLs:\n${output}`)),
    );
  });

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };

  let timer;
  try {
    await Promise.race([
      ready,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`wxlogin demo printed no URLs within ${START_TIMEOUT_MS} ms:\n${output}`)),
          START_TIMEOUT_MS,
        );
      }),
    ]);
  } catch (e) {
    await stop();
    throw e;
  } finally {
    clearTimeout(timer);
  }

  // The listener is bound before the walkthrough is printed; /healthz makes sure.
  const health = await fetch(`${found.service}/healthz`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
  if (!health.ok) {
    await stop();
    throw new Error(`wxlogin demo is not healthy: /healthz answered ${health.status}`);
  }

  return {
    service: found.service,
    simulator: found.simulator,
    adminKey: found.adminKey,
    serviceKey: found.serviceKey,
    appid: APPID,
    output: () => output,
    stop,
  };
}

/** POST JSON, expect a 2xx JSON answer. */
export async function postJson(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`POST ${url} → ${res.status}: ${text}`);
  return JSON.parse(text);
}

/** Ask the simulator (about the WeChat app, unless `body.appid` names another). */
export function sim(demo, path, body) {
  return postJson(`${demo.simulator}${path}`, { appid: demo.appid, ...body });
}

/** Revoke every session of a user, as an operator (admin API). */
export async function revokeUser(demo, openid) {
  const url = `${demo.service}/v1/admin/users/${demo.appid}/${encodeURIComponent(openid)}/sessions`;
  const res = await fetch(url, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${demo.adminKey}` },
    signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`DELETE ${url} → ${res.status}: ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}
