#!/usr/bin/env python3
"""Turns the lines scripts/bench collected into a Markdown section.

  report.py RESULTS_FILE   (Markdown on stdout)

Input lines: "META key=value..." (machine, command, ...),
"RESULT label=... key=value..." (sse_load, alert_latency.py, wrk_api.lua),
"LOAD label=... load1=..." (the load a fan-out or alert run started under),
"FOOT phase=... service=... rss_kb=..." (footprint) and
"RAW name<TAB>text" (verbatim output, e.g. the evaluator bench's).
Each row says whether its target is met and by how much not.
"""
import sys

TARGET_SINGLE_RATIO = 1.25  # one webapp, against the self-made-burst floor
TARGET_NGINX_RATIO = 1.6    # nginx and two webapps, the same floor
TARGET_KB_PER_STREAM = 8.0
TARGET_E2E_P50, TARGET_E2E_P99 = 5.0, 20.0
TARGET_API_CEILING_RATIO, TARGET_API_P99 = 0.5, 20.0


def parse_kv(text):
    out = {}
    for tok in text.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def num(d, k, default=0.0):
    try:
        return float(d.get(k, default))
    except ValueError:
        return default


def verdict(ok, miss):
    return "met" if ok else f"**missed** ({miss})"


def fanout_section(res, loads, lines):
    kinds = ("floor", "floorself", "webapp", "producer", "nginxfloor", "nginx", "firstprice")
    rows = [r for r in res.values() if r["label"].split("-", 1)[0] in kinds]
    if not rows:
        return
    lines += ["### SSE fan-out", "",
              "`build/bench/sse_load` against two floors (`build/bench/floor_broadcaster`), one "
              "dedicated webapp, and nginx in front of two dedicated webapps (reached by their Unix "
              "sockets, as the stack's nginx reaches its replicas). `floor-N` reads the "
              "bench topic from Kafka as the webapp does (one write per client per fragment Kafka "
              "hands over); `floorself-N` makes the same 15-tick bursts itself and writes each to "
              "every client with one `write()`: the least work any server must do, and the floor "
              "the targets are held to. The webapp-N and nginx-N runs take their ticks from the "
              "load client's injector (15 bench tickers, one burst a second, the burst number as "
              "the price, so every missing tick is counted); producer-N takes the stack's "
              "simulated producer's ticks, timed by their own timestamps (no sequence, so losses "
              "are not counted there). `nginxfloor-N` is the same nginx in front of two self "
              "floors on Unix sockets, bursting at the same moments, where the two webapps stand "
              "in nginx-N: the least any fan-out proxied by nginx can cost (the proxy floor).", "",
              "| run | load (1 min) | streams open | events expected | lost | p50 ms | p99 ms | "
              "max ms | p99 / Kafka floor | p99 / self floor | target RSS MiB idle -> streaming | "
              "KiB/stream | target CPU % | CPU us/event |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    order = {k: i for i, k in enumerate(kinds)}

    def key(r):
        kind, n = r["label"].split("-", 1)
        return (int(n) if n.isdigit() else 0, order.get(kind, 9))

    def ratio(r, floor):
        if floor and num(floor, "p99_ms") > 0 and r["label"].split("-", 1)[0] not in kinds[:2]:
            return num(r, "p99_ms") / num(floor, "p99_ms")
        return None

    for r in sorted(rows, key=key):
        kind, n = r["label"].split("-", 1)
        rk, rs = ratio(r, res.get(f"floor-{n}")), ratio(r, res.get(f"floorself-{n}"))
        lost = "n/a" if r.get("any_ticker") == "1" else r.get("lost")
        expected = "n/a" if r.get("any_ticker") == "1" else r.get("expected")
        lines.append(
            f"| {r['label']} | {loads.get(r['label'], '?')} | {r.get('open')}/{r.get('streams')} | "
            f"{expected} | {lost} | {num(r, 'p50_ms'):.1f} | {num(r, 'p99_ms'):.1f} | "
            f"{num(r, 'max_ms'):.1f} | {'' if rk is None else f'{rk:.2f}x'} | "
            f"{'' if rs is None else f'{rs:.2f}x'} | {num(r, 'rss_idle_kb') / 1024:.1f} -> "
            f"{num(r, 'rss_open_kb') / 1024:.1f} | {num(r, 'kb_per_stream'):.2f} | "
            f"{num(r, 'cpu_pct'):.0f} | {num(r, 'cpu_us_per_event'):.2f} |")
    lines += ["", "For the nginx-N and nginxfloor-N rows, RSS and CPU are the sums over both "
              "upstreams and both nginx workers (KiB/stream there includes nginx's own buffers); "
              "CPU us/event divides the "
              "targets' CPU time by the events delivered. The load column is the 1-minute load "
              "average when the run started.", ""]
    checks = []
    for r in sorted(rows, key=key):
        kind, n = r["label"].split("-", 1)
        if kind not in ("webapp", "nginx", "producer"):
            continue
        if kind != "producer":
            lost = num(r, "lost") + num(r, "failed") + num(r, "ended")
            checks.append(f"- {r['label']}: every tick delivered: "
                          + verdict(lost == 0, f"{lost:.0f} lost or streams failed"))
        rs = ratio(r, res.get(f"floorself-{n}"))
        floor = res.get(f"floorself-{n}")
        if rs is not None and kind in ("webapp", "nginx"):
            want = TARGET_SINGLE_RATIO if kind == "webapp" else TARGET_NGINX_RATIO
            checks.append(f"- {r['label']}: p99 {num(r, 'p99_ms'):.1f} ms = {rs:.2f}x the self "
                          f"floor's {num(floor, 'p99_ms'):.1f} ms, target <= {want}x: "
                          + verdict(rs <= want, f"by {rs / want:.2f}x"))
        proxy = res.get(f"nginxfloor-{n}")
        if kind == "nginx" and proxy and num(proxy, "p99_ms") > 0:
            pr = ratio(proxy, floor)
            checks.append(f"- {r['label']}: p99 = {num(r, 'p99_ms') / num(proxy, 'p99_ms'):.2f}x "
                          f"the proxy floor's {num(proxy, 'p99_ms'):.1f} ms (nginxfloor-{n}, itself "
                          + ("" if pr is None else f"{pr:.2f}x ")
                          + "the self floor): reported, no target")
        if kind in ("webapp", "producer"):
            kb = num(r, "kb_per_stream")
            checks.append(f"- {r['label']}: {kb:.2f} KiB of webapp RSS per stream, target <= "
                          f"{TARGET_KB_PER_STREAM:.0f}: "
                          + verdict(kb <= TARGET_KB_PER_STREAM, f"{kb - TARGET_KB_PER_STREAM:.1f} over"))
    lines += checks + [""]
    for r in rows:
        if r["label"].startswith("firstprice-"):
            lines += ["### Time to first price", "",
                      f"{r.get('open')} new price streams opened at {r.get('connect_rate')} a "
                      f"second on one webapp while ticks flow; each timed from `connect()` to the "
                      f"first tick of its snapshot ({r.get('snaps')} timed): p50 "
                      f"{num(r, 'snap_p50_ms'):.2f} ms, p99 {num(r, 'snap_p99_ms'):.2f} ms "
                      f"(reported, no target). Every stream then got every tick: "
                      + verdict(num(r, "lost") + num(r, "failed") + num(r, "ended") == 0,
                                f"{r.get('lost')} lost") + ".", ""]


def alert_section(res, loads, lines):
    r = res.get("alert-e2e")
    if not r:
        return
    p50, p99 = num(r, "p50_ms"), num(r, "p99_ms")
    lines += ["### End-to-end alert latency", "",
              "`bench/alert_latency.py` through the stack's nginx: tick published (tick-pipe, "
              "linger 0) -> consumer -> `alerts` -> webapp -> the user's `/api/stream-alerts`"
              + (f" (started at a 1-minute load of {loads['alert-e2e']})" if "alert-e2e" in loads
                 else "") + ".", "",
              f"- {r.get('received')} of {r.get('samples')} alerts received ({r.get('lost')} "
              f"timed out, {r.get('errors')} set-alert errors)",
              f"- p50 {p50:.2f} ms (target <= {TARGET_E2E_P50:.0f}: "
              + verdict(p50 <= TARGET_E2E_P50, f"by {p50 - TARGET_E2E_P50:.1f} ms") + "), "
              f"p99 {p99:.2f} ms (target <= {TARGET_E2E_P99:.0f}: "
              + verdict(p99 <= TARGET_E2E_P99, f"by {p99 - TARGET_E2E_P99:.1f} ms") + "), "
              f"max {num(r, 'max_ms'):.2f} ms", ""]


def api_section(res, lines):
    keys = ("api-set-direct", "api-set", "api-static", "api-get")
    rows = [res[k] for k in keys if k in res]
    if not rows:
        return
    names = {"api-set-direct": "POST /api/set-alert, straight to one webapp (Idempotency-Key)",
             "api-set": "POST /api/set-alert through nginx (X-Request-Id)",
             "api-static": "GET /static/style.css through nginx (a static reply)",
             "api-get": "GET /api/get-alerts through nginx"}
    lines += ["### API throughput (wrk -t2)", "",
              "| endpoint | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | "
              "socket errors |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {names[r['label']]} | {r.get('requests')} | {num(r, 'rps'):.0f} | "
                     f"{num(r, 'p50_ms'):.2f} | {num(r, 'p90_ms'):.2f} | {num(r, 'p99_ms'):.2f} | "
                     f"{num(r, 'max_ms'):.2f} | {r.get('non2xx')} | {r.get('socket_errors')} |")
    lines.append("")
    ceil = res.get("api-ceiling")
    if ceil:
        lines.append(f"- Ceiling: redis-benchmark, EVALSHA at the same concurrency, one call per "
                     f"round trip: create.lua {num(ceil, 'create_rps'):.0f}/s, arm.lua "
                     f"{num(ceil, 'arm_rps'):.0f}/s, mark.lua {num(ceil, 'mark_rps'):.0f}/s, so "
                     f"{num(ceil, 'rps'):.0f} creates/s (a create needs all three).")
    r = res.get("api-set-direct")
    if r and ceil and num(ceil, "rps") > 0:
        rps, p99 = num(r, "rps"), num(r, "p99_ms")
        ratio = rps / num(ceil, "rps")
        lines.append(f"- set-alert straight to one webapp: {rps:.0f} req/s = {ratio:.2f}x the "
                     f"ceiling (target >= {TARGET_API_CEILING_RATIO}x: "
                     + verdict(ratio >= TARGET_API_CEILING_RATIO, f"{ratio:.2f}x")
                     + f"), p99 {p99:.2f} ms (target <= {TARGET_API_P99:.0f}: "
                     + verdict(p99 <= TARGET_API_P99, f"by {p99 - TARGET_API_P99:.1f} ms") + ")")
    r, st = res.get("api-set"), res.get("api-static")
    if r and st and num(st, "rps") > 0:
        lines.append(f"- Through nginx: set-alert {num(r, 'rps'):.0f} req/s = "
                     f"{num(r, 'rps') / num(st, 'rps'):.2f}x nginx proxying a static "
                     f"libmicrohttpd reply ({num(st, 'rps'):.0f} req/s), p99 {num(r, 'p99_ms'):.2f} ms "
                     "(reported, no target).")
    lines.append("")


def footprint_section(foot, lines):
    if not foot:
        return
    phases = []
    table = {}
    for f in foot:
        ph, svc = f.get("phase"), f.get("service")
        if ph not in phases:
            phases.append(ph)
        table.setdefault(svc, {})[ph] = f.get("rss_kb")
    lines += ["### Footprint (resident memory, MiB)", "",
              "| service | " + " | ".join(phases) + " |",
              "|---|" + "---|" * len(phases)]
    for svc, by in table.items():
        cells = []
        for ph in phases:
            v = by.get(ph)
            cells.append(f"{int(v) / 1024:.1f}" if v and v.isdigit() else "")
        lines.append(f"| {svc} | " + " | ".join(cells) + " |")
    lines.append("")


def main():
    meta, res, foot, raw, loads = {}, {}, [], [], {}
    with open(sys.argv[1], encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("META "):
                k, _, v = line[5:].partition("=")
                meta[k] = v
            elif line.startswith("RESULT "):
                d = parse_kv(line[7:])
                res[d.get("label", "?")] = d
            elif line.startswith("LOAD "):
                d = parse_kv(line[5:])
                loads[d.get("label", "?")] = d.get("load1", "?")
            elif line.startswith("FOOT "):
                foot.append(parse_kv(line[5:]))
            elif line.startswith("RAW "):
                name, _, text = line[4:].partition("\t")
                raw.append((name, text))
    lines = [f"## Run of {meta.get('date', '?')} (`{meta.get('command', 'scripts/bench')}`)", "",
             f"Machine: {meta.get('nproc', '?')} CPUs ({meta.get('cpu', '?')}), "
             f"{meta.get('ram', '?')} RAM, Linux {meta.get('kernel', '?')}; "
             f"build {meta.get('build', '?')}; {meta.get('note', '')}".rstrip("; "), ""]
    fanout_section(res, loads, lines)
    alert_section(res, loads, lines)
    api_section(res, lines)
    by_name = {}
    for name, text in raw:
        by_name.setdefault(name, []).append(text)
    for name, texts in by_name.items():
        lines += [f"### {name}", "", "```"] + texts + ["```", ""]
    footprint_section(foot, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
