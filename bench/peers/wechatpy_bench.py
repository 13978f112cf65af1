#!/usr/bin/env python3
"""Peer benchmark: wechatpy's mini-program code2session against the WeChat simulator.

    bench/peers/.venv/bin/python bench/peers/wechatpy_bench.py \
        --base-url http://127.0.0.1:PORT/ --appid A --secret S \
        --codes FILE --concurrency N --duration SECONDS

N threads, each with its own `WeChatClient` (as people run it in a thread
pool), call `client.wxa.code_to_session(code)` with one-time login codes taken
from FILE (one per line, each used once) until `duration` seconds have passed
or the codes run out. Prints one line to stdout:

    BENCH {"requests": ..., "errors": ..., "rps": ..., "p50_us": ..., "p99_us": ...,
           "seconds": ..., "ran_out": ..., "peer": "wechatpy X.Y.Z"}

How the simulator replaces api.weixin.qq.com (wechatpy 1.8.x):

* `code_to_session` lives on `WeChatWxa`, whose class attribute `API_BASE_URL`
  ('https://api.weixin.qq.com/') wins over the client's own `API_BASE_URL`
  ('https://api.weixin.qq.com/cgi-bin/'): `BaseWeChatAPI._get` passes its own
  base as `api_base_url`. So the override that matters is the instance
  attribute `client.wxa.API_BASE_URL`; the client's is set too, for symmetry.
* `BaseWeChatClient._request` adds `access_token` to the query of every call,
  code2session included, so the first call fetches one through
  `fetch_access_token`, whose URL is hard-coded
  ('https://api.weixin.qq.com/cgi-bin/token'), not derived from API_BASE_URL.
  `SimClient` below overrides it to ask the simulator's /cgi-bin/token. Each
  worker fetches its token before the clock starts: a long-running server has
  it cached (7200 s) in the steady state this measures. The simulator ignores
  the extra `access_token` parameter on jscode2session, as WeChat does.
"""

import argparse
import json
import os
import sys
import threading
import time
from importlib.metadata import version
from urllib.parse import urlsplit

from wechatpy import WeChatClient

PEER = f"wechatpy {version('wechatpy')}"


class SimClient(WeChatClient):
    """A WeChatClient whose every URL points at `base_url` (ends with '/')."""

    def __init__(self, base_url, appid, secret, **kwargs):
        super().__init__(appid, secret, **kwargs)
        self.API_BASE_URL = base_url + "cgi-bin/"
        self.wxa.API_BASE_URL = base_url

    def fetch_access_token(self):
        # Same request as WeChatClient.fetch_access_token, at the simulator.
        return self._fetch_access_token(
            url=self.API_BASE_URL + "token",
            params={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
            },
        )


class Codes:
    """One-time codes handed out once each, across threads."""

    def __init__(self, path):
        with open(path) as f:
            self.codes = [line.strip() for line in f if line.strip()]
        self.next = 0
        self.lock = threading.Lock()
        self.ran_out = False

    def take(self):
        with self.lock:
            if self.next >= len(self.codes):
                self.ran_out = True
                return None
            code = self.codes[self.next]
            self.next += 1
            return code


def percentile(sorted_values, q):
    """Nearest-rank percentile of an ascending list; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n*q/100)
    return float(sorted_values[int(rank) - 1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--appid", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--codes", required=True)
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--duration", type=float, required=True)
    args = ap.parse_args()
    if args.concurrency < 1 or args.duration <= 0:
        ap.error("--concurrency must be >= 1 and --duration > 0")
    base = args.base_url if args.base_url.endswith("/") else args.base_url + "/"
    # requests honours $http_proxy; keep the simulator's traffic direct, without
    # changing the code path (trust_env stays on, as in people's servers).
    host = urlsplit(base).hostname
    for var in ("no_proxy", "NO_PROXY"):
        os.environ[var] = ",".join(filter(None, [os.environ.get(var), host]))

    codes = Codes(args.codes)
    clients = []
    for _ in range(args.concurrency):
        c = SimClient(base, args.appid, args.secret, timeout=10)
        try:
            c.fetch_access_token()  # before the clock: see the module docstring
        except Exception as e:  # noqa: BLE001
            sys.exit(f"wechatpy_bench: fetching the access_token at {c.API_BASE_URL}token failed: "
                     f"{type(e).__name__}: {e}")
        clients.append(c)

    results = [None] * args.concurrency  # per worker: (latencies_us, successes, errors)
    first_errors = []
    start_barrier = threading.Barrier(args.concurrency + 1)
    deadline = [0.0]

    def worker(i):
        client = clients[i]
        lat, ok, err = [], 0, 0
        start_barrier.wait()
        while time.perf_counter() < deadline[0]:
            code = codes.take()
            if code is None:
                break
            t0 = time.perf_counter_ns()
            try:
                r = client.wxa.code_to_session(code)
                good = isinstance(r, dict) and bool(r.get("openid")) and bool(r.get("session_key"))
                why = None if good else f"unexpected response: {r!r}"
            except Exception as e:  # noqa: BLE001 - any failure is an error
                good, why = False, f"{type(e).__name__}: {e}"
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
            if good:
                ok += 1
            else:
                err += 1
                if len(first_errors) < 5:
                    first_errors.append(why)
        results[i] = (lat, ok, err)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(args.concurrency)]
    for t in threads:
        t.start()
    t_start = time.perf_counter()
    deadline[0] = t_start + args.duration
    start_barrier.wait()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t_start

    lat = sorted(x for r in results for x in r[0])
    ok = sum(r[1] for r in results)
    err = sum(r[2] for r in results)
    for why in first_errors:
        print(f"[wechatpy_bench] error: {why}", file=sys.stderr)
    out = {
        "requests": ok + err,
        "errors": err,
        "rps": ok / seconds if seconds > 0 else 0.0,
        "p50_us": percentile(lat, 50),
        "p99_us": percentile(lat, 99),
        "seconds": seconds,
        "ran_out": codes.ran_out,
        "peer": PEER,
    }
    print("BENCH " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
