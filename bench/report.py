"""Table and bench/RESULTS.md for bench/run (kept apart so the runner stays readable)."""

import json


def ms(us):
    return f"{us / 1000:.2f} ms"


def verdict(value, target, higher_is_better=True):
    if target is None or value is None:
        return ""
    ok = value >= target if higher_is_better else value <= target
    sign = "≥" if higher_is_better else "≤"
    return f"{sign} {target}× — {'met' if ok else 'NOT met'}"


def row(name, r, limit=None, target=None):
    if r is None:
        return f"| {name} | not measured | | | | | | |"
    ratio = r["ok_rps"] / limit["ok_rps"] if limit else None
    cpu = f"{r['server_cpu_us_per_req']:.0f} µs" if "server_cpu_us_per_req" in r else ""
    if r.get("connections") and r["connections"] != 64:
        name += f" ({r['connections']} connections)"
    return (f"| {name} | {r['ok_rps']:,.0f} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | "
            f"{f'{ratio:.2f}×' if ratio is not None else 'limit'} | {verdict(ratio, target)} | {cpu} | {r['errors']} |")


HEAD = ["| measurement | req/s | p50 | p99 | ÷ limit | target | server CPU / req | errors |",
        "|---|---|---|---|---|---|---|---|"]
STORES = (("sqlite", "SQLite", 0.5), ("postgres", "PostgreSQL", 0.35), ("redis", "Redis", 0.5))


def mib(kib):
    return f"{kib / 1024:.1f} MiB" if kib else "not measured"


def render(R):
    s = R["settings"]
    out = [
        f"wrk: {s['threads']} threads, {s['connections']} keep-alive connections, "
        f"{s['duration']} s per measurement (verify runs after a {s['warmup']} s warm-up); "
        f"req/s counts successful answers only",
        "",
        "### 1. Token verify (`GET /v1/auth`) ÷ a bare axum handler",
        "",
        *HEAD,
        row("bare axum `GET /v1/auth` → 200 (limit)", R.get("bare")),
    ]
    for key, name, target in STORES:
        out.append(row(f"verify, {name}, cache off (default)", R.get(f"verify_{key}"), R.get("bare"), target))
    for key, name, target in STORES:
        out.append(row(f"verify, {name}, `cache_ttl = {s['cache_ttl']}`", R.get(f"verify_cached_{key}"),
                       R.get("bare"), target))
    out += [
        "",
        "### 2. Logins (`POST /v1/login`, one fresh code each) ÷ the simulator's own `jscode2session`",
        "",
        *HEAD,
        row("simulator `jscode2session`, fresh valid codes, 0 ms (limit)", R.get("sim0")),
    ]
    for key, name, _ in STORES:
        out.append(row(f"login, {name}, 0 ms upstream", R.get(f"login0_{key}"), R.get("sim0"), 0.5))
    out.append(row("simulator `jscode2session`, 50 ms injected (limit)", R.get("sim50")))
    for key, name, _ in STORES:
        out.append(row(f"login, {name}, 50 ms upstream", R.get(f"login50_{key}"), R.get("sim50")))
    out.append(row("simulator `jscode2session`, 50 ms injected (limit)", R.get("sim50_c8")))
    for key, name, _ in STORES:
        out.append(row(f"login, {name}, 50 ms upstream", R.get(f"login50_c8_{key}"), R.get("sim50_c8")))
    out += ["", "| latency the service adds over the upstream at 50 ms (login − simulator, same connections) "
                "| p50 | p99 | target |", "|---|---|---|---|"]
    for key, name, _ in STORES:
        for k, s_ in ((f"login50_{key}", "sim50"), (f"login50_c8_{key}", "sim50_c8")):
            if R.get(k) and R.get(s_):
                a50 = R[k]["p50_us"] - R[s_]["p50_us"]
                a99 = R[k]["p99_us"] - R[s_]["p99_us"]
                met = "met" if a99 <= 2000 else "NOT met"
                out.append(f"| {name}, {R[k]['connections']} connections | {ms(a50)} | {ms(a99)} "
                           f"| p99 ≤ 2 ms — {met} |")
    out += ["", "### 3. `/v1/decrypt` over HTTP (the ratio to raw AES + JSON is the criterion bench below)", "",
            *HEAD]
    for key, name, _ in STORES:
        out.append(row(f"decrypt, {name}, cache off", R.get(f"decrypt_{key}"), R.get("bare")))
        out.append(row(f"decrypt, {name}, `cache_ttl = {s['cache_ttl']}`", R.get(f"decrypt_cached_{key}"),
                       R.get("bare")))
    out += ["", f"### 4. Scaling: verify with random tokens of 1,000 vs {s['sessions']:,} stored sessions "
                "(cache off)", "",
            "| store | req/s at 1,000 | p99 at 1,000 | req/s at big | p99 at big | p99 big ÷ small | target |",
            "|---|---|---|---|---|---|---|"]
    for key, name, _ in STORES:
        a, b = R.get(f"scale_small_{key}"), R.get(f"scale_big_{key}")
        if a and b:
            ratio = b["p99_us"] / a["p99_us"]
            out.append(f"| {name} | {a['ok_rps']:,.0f} | {ms(a['p99_us'])} | {b['ok_rps']:,.0f} | {ms(b['p99_us'])} "
                       f"| {ratio:.2f}× | {verdict(ratio, 1.5, higher_is_better=False)} |")
        else:
            out.append(f"| {name} | not measured | | | | | |")
    rss_c = R.get("rss_conns_kib")
    out += ["", "### 5. Memory of the service (VmRSS)", "", "| state | RSS | target |", "|---|---|---|",
            f"| idle, just started | {mib(R.get('rss_idle_kib'))} | |",
            f"| {R.get('conns_open', 0):,} idle keep-alive connections open ({R.get('conns_failed', 0)} failed) "
            f"| {mib(rss_c)} | ≤ 64 MB — {'met' if rss_c and rss_c * 1024 <= 64e6 else 'NOT met'} |",
            f"| *reference:* bare axum idle / with the same connections | {mib(R.get('rss_bare_idle_kib'))} / "
            f"{mib(R.get('rss_bare_conns_kib'))} | |",
            f"| after {R.get('rss_logins', 0):,} logins ({R.get('rss_logins_seconds', 0):.0f} s) "
            f"| {mib(R.get('rss_logins_kib'))} | |"]
    peers = [R[k] for k in ("peer_wechatpy", "peer_easywechat", "peer_co_wechat_api") if R.get(k)]
    if peers:
        fastest = max(peers, key=lambda r: r["rps"])
        out += ["", "### 6. Side by side: our full login vs the SDKs' bare `code2session`, same simulator", "",
                "| client | calls/s | p50 | p99 | errors | ÷ fastest peer | target |", "|---|---|---|---|---|---|---|"]
        for r in peers:
            out.append(f"| {r['peer']} `code2session` (best of 16 / {s['connections']} workers: {r['concurrency']}) "
                       f"| {r['rps']:,.0f} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | {r['errors']} | "
                       f"{r['rps'] / fastest['rps']:.2f}× | |")
        for key, name, _ in STORES:
            r = R.get(f"login0_{key}")
            if r:
                ratio = r["ok_rps"] / fastest["rps"]
                out.append(f"| wxlogin full login, {name} ({s['connections']} connections) | {r['ok_rps']:,.0f} | "
                           f"{ms(r['p50_us'])} | {ms(r['p99_us'])} | {r['errors']} | {ratio:.2f}× | "
                           f"{verdict(ratio, 3)} |")
    for k, why in R.get("skipped", {}).items():
        out.append(f"\nSkipped {k}: {why}")
    return "\n".join(x for x in out if x is not None)


NOTES = """\
## How to read this

- **Same machine, shared cores.** wrk, the simulator, the stores and the server under test
  all run on the same {nproc} vCPUs. Every number (limits included) is what is left after
  wrk takes its share; for logins the simulator takes a share too, and PostgreSQL / Redis
  take theirs. These are ratios taken in the same run, not absolute capacity figures.
- **Verify limit**: `crates/wxlogin/examples/bare_axum.rs` (axum, multi-thread tokio, the
  same global allocator as `wxlogin`, `GET /v1/auth` → 200, empty body), same wrk settings.
  Verify repeats one valid token; the store is read on every request unless
  `sessions.cache_ttl` is set (then at most once per token per `cache_ttl`).
- **Login limit**: the simulator's own `jscode2session` driven by wrk with fresh valid codes
  (a new simulated user each, minted beforehand through `POST /__sim/login`). Each login
  is a real `jscode2session` round trip to the simulator, a claim, a committed
  user + session, and a new token.
- **Added latency** = login p50/p99 − the simulator's own p50/p99 with the same 50 ms
  fault and connections (percentiles do not subtract exactly; the usual approximation).
- **Decrypt** posts the simulator's profile payload for the token's user (TV1 shape).
- **Scaling** seeds the store with `examples/seed_sessions` (Redis through the store
  traits; SQLite / PostgreSQL straight into `sessions`) and verifies with a token picked at
  random per request from 1,000 (small) or 10,000 spread over all (big), cache off, with
  `touch_interval = 3600`: seeding a million sessions outlasts the default 60 s, and the
  big run would otherwise also write the sliding idle deadline of every token on its
  first use (a burst of writes the small run never makes; on SQLite, one `fsync` each).
- **Memory** is `VmRSS` of the `wxlogin serve` process; the connections are held open by
  `bench/conns.py` after one request each.
- **Peers** run `bench/peers/` (wechatpy in N threads, node-easywechat and co-wechat-api with N
  async loops) against the same simulator with fresh codes; the best of 16 and {connections}
  workers is kept.
"""


START, END = "<!-- findings -->", "<!-- /findings -->"


def kept_findings(path):
    """The hand-written findings of the previous RESULTS.md (between the markers), if any."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        return ""
    i, j = old.find(START), old.find(END)
    return old[i:j + len(END)] + "\n" if 0 <= i < j else ""


def write_results(R, table, path):
    commentary = kept_findings(path)
    m = R["machine"]
    s = R["settings"]
    text = f"""# Load benchmark results

Produced by `bench/run` (issue 7). Re-running it rewrites this file and keeps the
hand-written "Findings" section (between the `findings` markers) as it is: check it
against the new table.

## Machine

- date: {m['date']}
- `nproc`: {m['nproc']} — **load generator (wrk), simulator and server share these cores**
- CPU (`lscpu` model name): {m['cpu']}
- RAM: {m['ram']}
- OS: {m['os']}
- {m['rustc']}, release profile; {m['wrk']}
- source: {m.get('git', '?')}

## Last run

{table}

{commentary}
{NOTES.format(nproc=m['nproc'], connections=s['connections'])}
<details><summary>raw numbers of this run (JSON; latencies in µs)</summary>

```json
{json.dumps({k: v for k, v in R.items() if k != 'machine'}, indent=1)}
```

</details>
"""
    with open(path, "w") as f:
        f.write(text)
