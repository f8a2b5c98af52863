#!/usr/bin/env python3
"""cluster_report.py RESULTS: the Markdown section "Redis Cluster" of
docs/benchmarks.md from the RESULT and META lines that the cluster part of
scripts/bench collected, with the production projection computed from the
figures of the same run (every number below comes from RESULTS or from the
stated assumptions; nothing is carried over from other runs)."""
import math
import statistics
import sys

# Assumptions of the projection (stated in the text).
ALERTS = 100_000_000
USERS = 10_000_000
TICKERS = 10_000
TICK_HZ = 1.0  # ticks per ticker per second
FIRED_SHARE = 0.0001  # alerts fired per second, as a share of the stored ones, at a burst
SHARD_GB = 25.0
CREATE_RATE = 2_000  # peak creates/s to size the idempotency keys
IDEM_TTL_S = 60


def parse(path):
    meta, rows = {}, []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if line.startswith("META "):
            k, _, v = line[5:].partition("=")
            meta[k] = v
        elif line.startswith("RESULT "):
            words = line[7:].split()
            row = {"kind": next(w for w in words if "=" not in w)}
            for w in words:
                if "=" in w:
                    k, _, v = w.partition("=")
                    row[k] = v
            rows.append(row)
    return meta, rows


def f(row, key):
    return float(row[key])


def num(x, digits=0):
    return f"{x:,.{digits}f}"


def main():
    meta, rows = parse(sys.argv[1])
    out = []
    w = out.append
    w(f"## Redis Cluster: run of {meta.get('date', '?')} (`{meta.get('command', '?')}`)")
    w("")
    machine = meta.get("machine", "?").replace("; v=", "; Redis ")
    try:
        busy = float(str(meta.get("load_start", "")).split()[0]) >= 1.0
    except (ValueError, IndexError):
        busy = True
    w(f"Machine: {machine}. Load average (1, 5, 15 min) "
      f"{meta.get('load_start', '?')} at the start, {meta.get('load_end', '?')} at the end. "
      + ("**Other load was running when this run started (a 1-minute load average of 1 "
         "or more): the figures are noisy.** Repeat at a quiet time with the same command."
         if busy else
         "Nothing else was running when it started (the load at the end is the run's own)."))
    w("")
    w(f"Servers started by the run on ports {meta.get('ports', '?')}: one `redis-server` "
      "and a six-node Redis Cluster (3 masters + 3 replicas, `scripts/redis-cluster`), "
      "both with the stack's persistence (AOF, `appendfsync everysec`), and one private "
      "Kafka broker. Sizes: " + meta.get("sizes", "?") + ".")
    w("")
    w("**On this 2-core machine a cluster cannot be faster than one Redis**: its six "
      "`redis-server` processes, the client and Kafka share two cores, and each create or "
      "claim on the cluster also pays the replication stream to a replica that one Redis "
      "does not have. The ratios below measure the cost of the cluster (routing, more "
      "processes, replication) on the same cores, not its capacity; capacity comes from "
      "the Redis CPU seconds per operation (`INFO` `used_cpu_sys + used_cpu_user` of every "
      "server, before and after each timed phase), which is what the projection uses.")
    w("")

    # 1a: the store's create path
    store = [r for r in rows if r["kind"] == "store"]
    scpu = {r["label"]: r for r in rows if r["kind"] == "store_cpu"}
    w("### Set-alert: the store's create path (`build/bench/store_bench`)")
    w("")
    w("`alert_store_create_once` (create, arm, mark: three single-slot scripts, with an "
      "idempotency key as nginx's `X-Request-Id` gives the webapp) at a fixed concurrency "
      "of one connection per client, single and cluster alternating.")
    w("")
    w("| run | creates | creates/s | p50 ms | p99 ms | errors | Redis CPU-s / 1000 creates: masters | replicas |")
    w("|---|---|---|---|---|---|---|---|")
    per = {"single": [], "cluster": []}
    cpu_per = {"single": [], "cluster": []}
    for r in store:
        if r["label"].startswith("mem-"):
            continue
        c = scpu.get(r["label"], {})
        w(f"| {r['label']} | {r['creates']} | {num(f(r, 'creates_per_s'))} | {r['p50_ms']} | "
          f"{r['p99_ms']} | {r['errors']} | {c.get('master_cpu_s_per_1k', '')} | "
          f"{c.get('replica_cpu_s_per_1k', '')} |")
        per[r["target"]].append(f(r, "creates_per_s"))
        if c:
            cpu_per[r["target"]].append(f(c, "master_cpu_s_per_1k"))
    w("")
    create_cpu = None
    if per["single"] and per["cluster"]:
        s_mean, c_mean = statistics.mean(per["single"]), statistics.mean(per["cluster"])
        w(f"- cluster / single: {c_mean / s_mean:.2f}x the creates/s "
          f"(means {num(c_mean)} / {num(s_mean)}).")
    if cpu_per["single"] and cpu_per["cluster"]:
        create_cpu = statistics.mean(cpu_per["cluster"])
        w(f"- Redis CPU per 1000 creates on the masters: cluster "
          f"{create_cpu:.3f} s, single {statistics.mean(cpu_per['single']):.3f} s "
          f"({create_cpu / statistics.mean(cpu_per['single']):.2f}x).")
    w("")

    # 1b and 2: the evaluator
    ev = [r for r in rows if r["kind"] == "evaluator"]
    ecpu = [r for r in rows if r["kind"] == "evaluator_cpu"]
    w("### Evaluator claims (`build/bench/evaluator_bench`)")
    w("")
    w("The existing workload (resident alerts on 100 tickers; a quiet phase that fires "
      "nothing, then a rising sweep that fires about a fifth of them; timing ends when every "
      "fired alert is acknowledged by Kafka and removed from its outbox). `single`/`cluster`: "
      "one evaluator in the bench process, as in the evaluator section above. `group1`/"
      "`group3`: `BENCH_INSTANCES=1` or `3` evaluator processes (the consumer's own modules, "
      "each with its own Redis and Kafka connections) in one consumer group over 6 "
      "partitions, on the cluster; the bench feeds the ticks while the group is paused, "
      "then times it from the first tick processed to the last alert acknowledged. This "
      "measures the evaluator code without a tick injector's own limits; the real "
      "`consumer` daemons run the same modules.")
    w("")
    w("| run | phase | ticks | fired | ticks/s | fired alerts/s | Redis CPU-s / 1000 (masters) | (replicas) |")
    w("|---|---|---|---|---|---|---|---|")
    # the CPU lines follow their phase's RESULT line in the same run (target tag)
    cpu_by = {}
    for r in ecpu:
        cpu_by.setdefault((r["target"], r["phase"]), r)
    evr = {}
    for r in ev:
        c = cpu_by.get((r["target"], r["phase"]), {})
        evr[(r["target"], r["phase"])] = r
        w(f"| {r['target']} | {r['phase']} | {r['ticks']} | {r['fired']} | "
          f"{num(f(r, 'ticks_per_s'))} | {num(f(r, 'fired_per_s'))} | "
          f"{c.get('master_cpu_s_per_1k', '')} | {c.get('replica_cpu_s_per_1k', '')} |")
    w("")
    for phase, key, what in (("quiet", "ticks_per_s", "quiet ticks/s"),
                             ("firing", "fired_per_s", "fired alerts/s")):
        a, b = evr.get(("single", phase)), evr.get(("cluster", phase))
        if a and b:
            w(f"- {what}, cluster / single: {f(b, key) / f(a, key):.2f}x.")
        a, b = evr.get(("group1", phase)), evr.get(("group3", phase))
        if a and b:
            w(f"- {what}, 3 evaluators / 1 on the cluster: {f(b, key) / f(a, key):.2f}x. "
              "Three evaluators, six Redis servers, Kafka and the feeder share the same two "
              "cores, so this ratio shows contention for them, not what three instances on "
              "machines of their own would do; that needs cores of its own per instance.")
    w("- The in-process runs (`single`, `cluster`) read a topic of 1 partition, the groups "
      "one of 6: compare within each pair, not across them.")
    w("")
    claim_cpu = cpu_by.get(("cluster", "firing"))
    quiet_cpu = cpu_by.get(("cluster", "quiet"))

    # 3: memory
    mem = {r["target"]: r for r in rows if r["kind"] == "memory"}
    w("### Memory per stored alert")
    w("")
    w("`INFO memory` `used_memory` before and after storing N alerts through the store "
      "(`alert_store_create_once`, no idempotency key: the durable footprint), 10 alerts per "
      "user and 10,000 per ticker as in the projection below (so the hashes and sorted sets "
      "have production's encodings: small per-user hashes stay listpacks, the per-ticker "
      "hash and index are hash tables and skip lists). Cluster: summed over the three "
      "masters; the replicas hold the same again.")
    w("")
    w("| target | alerts | masters: bytes | per alert | replicas: bytes | per alert |")
    w("|---|---|---|---|---|---|")
    per_alert = {}
    for t in ("single", "cluster"):
        r = mem.get(t)
        if not r:
            continue
        n = f(r, "alerts")
        per_alert[t] = f(r, "masters_bytes") / n
        rep = f(r, "replicas_bytes")
        w(f"| {t} | {num(n)} | {num(f(r, 'masters_bytes'))} | {per_alert[t]:.0f} | "
          f"{num(rep) if t == 'cluster' else '-'} | "
          f"{f'{rep / n:.0f}' if t == 'cluster' else '-'} |")
    w("")

    # 4: the projection
    w("### Projection for production (on paper, from the figures above)")
    w("")
    w("**This is a projection, not a measurement.** Assumptions: "
      f"{num(ALERTS)} stored alerts of {num(USERS)} users (10 each), {num(TICKERS)} tickers "
      f"(10,000 alerts each), {TICK_HZ:g} tick/s per ticker, a burst firing "
      f"{FIRED_SHARE:.2%} of the stored alerts per second ({num(ALERTS * FIRED_SHARE)}/s), shards of {SHARD_GB:g} GB, "
      f"peak {num(CREATE_RATE)} creates/s.")
    w("")
    b_alert = per_alert.get("cluster") or per_alert.get("single")
    if b_alert:
        data_gb = ALERTS * b_alert / 1e9
        shards = max(1, math.ceil(data_gb / SHARD_GB))
        w(f"- **Redis memory**: {num(ALERTS)} × {b_alert:.0f} B = {data_gb:.1f} GB of data "
          f"on the masters, the same again on the replicas: {2 * data_gb:.1f} GB in all "
          "(plus jemalloc fragmentation and the replication and AOF rewrite buffers: "
          "keep each server under about 60-70% of its RAM). The idempotency keys add "
          f"{num(CREATE_RATE)}/s × {IDEM_TTL_S} s = {num(CREATE_RATE * IDEM_TTL_S)} small "
          "keys at peak (not measured here; tens of MB), and the users' histories "
          "(`alert_events:{U}`, up to 100 entries) grow with fired alerts, not counted.")
        w(f"- **Shards** at {SHARD_GB:g} GB: ceil({data_gb:.1f} / {SHARD_GB:g}) = {shards} "
          f"master(s) by memory, plus one replica each = {2 * shards} servers; "
          "in practice at least 3 masters for the cluster's failover quorum, and more "
          "when the CPU below says so.")
    tick_rate = TICKERS * TICK_HZ
    fired_rate = ALERTS * FIRED_SHARE
    firing = evr.get(("cluster", "firing"))
    if quiet_cpu and claim_cpu and firing and f(firing, "fired") > 0:
        q = f(quiet_cpu, "master_cpu_s_per_1k") / 1000.0
        # the firing phase's CPU less what its ticks cost when nothing fires
        c = (f(claim_cpu, "master_cpu_s") - f(firing, "ticks") * q) / f(firing, "fired")
        cores = tick_rate * q + fired_rate * c
        w(f"- **Redis CPU for the evaluators' claims**: per quiet tick {q * 1e6:.1f} µs "
          f"(cluster masters, quiet phase); per fired alert ({f(claim_cpu, 'master_cpu_s'):.2f} s "
          f"of the firing phase − {f(firing, 'ticks'):.0f} ticks × {q * 1e6:.1f} µs) / "
          f"{f(firing, 'fired'):.0f} fired = {c * 1e6:.1f} µs. So {num(tick_rate)} ticks/s × "
          f"{q * 1e6:.1f} µs + {num(fired_rate)} fired alerts/s × {c * 1e6:.1f} µs = "
          f"{cores:.2f} cores of Redis during a burst, spread over the masters by ticker "
          "slot (one hot ticker's claims stay on one master: that is the limit per ticker). "
          "These CPU figures include each server's idle background work (`serverCron`) "
          "over the phase, so they are upper bounds.")
    if create_cpu:
        w(f"- **Redis CPU for set-alert**: {num(CREATE_RATE)} creates/s × "
          f"{create_cpu:.3f} ms (cluster masters, per create) = "
          f"{CREATE_RATE * create_cpu / 1000.0:.2f} cores.")
    g1 = evr.get(("group1", "quiet"))
    g1f = evr.get(("group1", "firing"))
    if g1 and g1f:
        per_q, per_f = f(g1, "ticks_per_s"), f(g1f, "fired_per_s")
        need_q = math.ceil(tick_rate / per_q)
        need_f = math.ceil(fired_rate / per_f)
        n_ev = max(need_q, need_f, 2)
        w(f"- **Evaluator instances** (group1, one evaluator process on the cluster): it did {num(per_q)} quiet ticks/s and "
          f"{num(per_f)} fired alerts/s on a shared 2-core machine. {num(tick_rate)} ticks/s "
          f"need ceil({num(tick_rate)} / {num(per_q)}) = {need_q}; a burst of "
          f"{num(fired_rate)} fired alerts/s needs ceil({num(fired_rate)} / {num(per_f)}) = "
          f"{need_f}; with one spare for failover: {n_ev + 1} instances.")
        parts = max(6, 2 * (n_ev + 1))
        w(f"- **Kafka partitions**: `stock-prices` and `alerts` need at least as many "
          f"partitions as the largest group reading them ({n_ev + 1} evaluators; the "
          "notifiers and webapps for `alerts`), with room to grow without repartitioning "
          f"(which moves tickers between evaluators): {parts} to 12 each. Volume is small: "
          f"{num(tick_rate)} ticks/s of about 200 B = "
          f"{tick_rate * 200 / 1e6:.1f} MB/s; {num(fired_rate)} alerts/s of about 400 B = "
          f"{fired_rate * 400 / 1e6:.1f} MB/s at the burst.")
    claim_us = None
    if quiet_cpu and claim_cpu and firing and f(firing, "fired") > 0:
        claim_us = c * 1e6
    if claim_us and claim_us > 0:
        hot = 1e6 / claim_us
        w(f"- **Next bottleneck**: one hot ticker. All of a ticker's alerts live in its "
          f"slot, on one master, and every claim of it runs there: at {claim_us:.0f} µs of "
          f"Redis CPU per fired alert, one master core claims at most 1e6 / {claim_us:.0f} = "
          f"{num(hot)} fired alerts/s of one ticker, however many shards and evaluators "
          "there are (and one evaluator, the owner of the ticker's partition, runs them): a "
          "crossing of a popular threshold (many users on BTC-USD at 70,000) that fires N "
          f"alerts takes at least N × {claim_us:.0f} µs. Adding shards does not help; "
          "splitting a ticker's index by threshold range over several slots would. After "
          "it: the delivery fan-out (one "
          "`deliver.lua` per user slot, then the webapps' SSE streams and the notifiers' "
          "webhooks).")
    else:
        w("- **Next bottleneck**: not computed: the run has no firing figures.")
    w("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
