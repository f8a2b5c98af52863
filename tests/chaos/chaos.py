#!/usr/bin/env python3
"""stock-alerts reliability and security suite: injects faults,
bad input and attacks into a private stack and counts every alert by
alert_id at the users' SSE streams, the notifier's log, its webhook and (the
e-mail channel) its SMTP server.

usage: chaos.py [--quick] [--only 1,3,...] [--state DIR] [--record FILE] [--keep | --down]

  --quick    reduced scale (for ./stack test): fewer alerts, clients, cycles
  --only     run only these scenarios (their numbers in docs/reliability.md)
  --state    state folder (default <repo>/.stack/chaos); wiped at start
  --record   write the results as markdown into FILE between the markers
             <!-- chaos:MODE:begin --> and <!-- chaos:MODE:end -->
  --keep     leave the stack running at the end (debugging); --down stops it

Exit 0 when every scenario passed (or was skipped), 1 otherwise.
"""
import argparse
import json
import os
import resource
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

from harness import STACK_SCRIPT, ChaosError, Stack, log, stack_env  # noqa: E402
import scenarios  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))

SCALES = {
    # alerts in fault 1, its ramp seconds, SSE clients in fault 4, Kafka kill
    # cycles, cross-user attempts, alerts in fault 5; alerts, users and ramp
    # seconds of scenario 14 (at most MAX_ALERTS_PER_USER, 100, per user)
    "quick": {"f1_alerts": 1000, "f1_users": 20, "f1_ramp": 20, "f4_clients": 200,
              "kafka_cycles": 1, "cross_user": 2000, "f5_alerts": 300, "f3_alerts": 300,
              "f14_alerts": 2000, "f14_users": 20, "f14_ramp": 15},
    "full": {"f1_alerts": 10000, "f1_users": 100, "f1_ramp": 60, "f4_clients": 1000,
             "kafka_cycles": 3, "cross_user": 10000, "f5_alerts": 2000, "f3_alerts": 2000,
             "f14_alerts": 10000, "f14_users": 100, "f14_ramp": 40},
}

# Run order: the fast checks first, the ones that disturb the stack last.
# 14 starts consumer-c, which stays: the scenarios after it run with
# three evaluators in the group.
ORDER = ["13a", 10, 11, 12, 1, 5, 15, 14, 4, 3, 8, 2, 6, 9, "13b"]


def write_record(path, mode, results, cmd, started, elapsed):
    lines = [f"Run of `{cmd}` on {time.strftime('%Y-%m-%d %H:%M', time.localtime(started))}"
             f" ({os.cpu_count()} CPUs, {elapsed:.0f} s in total).", "",
             "| # | fault / attack | injected | counted | result | s |",
             "|---|---|---|---|---|---|"]
    for r in results:
        counted = "; ".join(r["counted"]).replace("|", "\\|")
        inj = r["injected"].replace("|", "\\|")
        lines.append(f"| {r['id']} | {r['title']} | {inj} | {counted} | **{r['verdict']}** |"
                     f" {r['seconds']:.0f} |")
    text = "\n".join(lines) + "\n"
    begin, end = f"<!-- chaos:{mode}:begin -->", f"<!-- chaos:{mode}:end -->"
    doc = open(path).read() if os.path.exists(path) else ""
    if begin in doc and end in doc:
        head, rest = doc.split(begin, 1)
        _, tail = rest.split(end, 1)
        doc = head + begin + "\n" + text + end + tail
    else:
        doc += f"\n{begin}\n{text}{end}\n"
    with open(path, "w") as f:
        f.write(doc)


def down_kept(state):
    """Stops a stack left running by --keep: the harness's own processes (pids
    checked against argv), then `./stack down` on the chaos topology."""
    base = os.environ.get("STACK_STATE", os.path.join(ROOT, ".stack"))
    state = state or os.path.join(base, "chaos")
    path = os.path.join(state, "run", "chaos.pids")
    if os.path.exists(path):
        for line in open(path).read().splitlines():
            name, pid, exe = line.split(" ", 2)
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()
            except OSError:
                continue
            if cmd.startswith(exe):
                log(f"stopping {name} (pid {pid})")
                os.kill(int(pid), signal.SIGTERM)
        os.unlink(path)
        time.sleep(3)
    import subprocess
    subprocess.run([STACK_SCRIPT, "down"], env=stack_env(state))
    scenarios.unmount_leftovers(state)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="")
    ap.add_argument("--state", default=None)
    ap.add_argument("--record", default=None)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--down", action="store_true")
    args = ap.parse_args()
    if args.down:
        return down_kept(args.state)
    mode = "quick" if args.quick else "full"
    scale = SCALES[mode]
    only = {x.strip() for x in args.only.split(",") if x.strip()} if args.only else None
    base = os.environ.get("STACK_STATE", os.path.join(ROOT, ".stack"))
    state = args.state or os.path.join(base, "chaos")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    for b in ("producer", "consumer", "notifier", "webapp"):
        if not os.access(os.path.join(ROOT, "build", b, b), os.X_OK):
            print(f"ERROR: build/{b}/{b} is not built (./stack build)", file=sys.stderr)
            return 2
    if os.path.exists(state):
        scenarios.unmount_leftovers(state)
        import shutil
        shutil.rmtree(state)
    os.makedirs(state)
    started = time.time()
    stack = Stack(ROOT, state, args.quick)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    results = []
    rc = 1
    try:
        stack.up(scenarios.all_tickers())
        ctx = scenarios.Ctx(stack, scale, mode)
        for n in ORDER:
            if only is not None and str(n) not in only and str(n).rstrip("ab") not in only:
                continue
            fn = scenarios.SCENARIOS[n]
            log(f"=== scenario {n}: {fn.title}")
            t0 = time.monotonic()
            res = scenarios.Result(n, fn.title)
            try:
                fn(ctx, res)
            except Exception as e:  # a crash of the scenario is a failure, not an abort
                res.fail(f"scenario raised {type(e).__name__}: {e}")
                traceback.print_exc()
            res.seconds = time.monotonic() - t0
            # A daemon that died unasked fails the scenario that was running.
            for name in stack.daemon_names():
                p = stack.procs[name]
                if p.exited() and not p.expected_down:
                    res.fail(f"{name} exited (code {p.returncode}) during the scenario")
                    p.start()
            log(f"=== scenario {n}: {res.verdict} ({res.seconds:.0f}s) "
                f"{'; '.join(res.counted)}")
            for d in res.problems:
                log(f"    problem: {d}")
            results.append(res.as_dict())
        rc = 0 if all(r["verdict"] != "FAIL" for r in results) else 1
    except ChaosError as e:
        log(f"ERROR: {e}")
        rc = 2
    except OSError as e:
        traceback.print_exc()
        log(f"ERROR: {e}")
        rc = 2
    except KeyboardInterrupt:
        log("interrupted")
        rc = 130
    finally:
        if args.keep:
            stack.save_pids()
            log("stack kept running: `tests/chaos/chaos.py --down` stops it")
        else:
            log("stopping the chaos stack")
            try:
                stack.down()
            finally:
                scenarios.unmount_leftovers(state)
    elapsed = time.time() - started
    with open(os.path.join(state, "results.json"), "w") as f:
        json.dump({"mode": mode, "started": started, "seconds": elapsed, "results": results},
                  f, indent=1)
    print()
    print(f"chaos ({mode}): {len(results)} scenarios in {elapsed:.0f} s")
    for r in results:
        print(f"  {r['id']:>2} {r['verdict']:<5} {r['title']}: {'; '.join(r['counted'])}")
        for p in r["problems"]:
            print(f"        - {p}")
    if args.record and results:
        cmd = "scripts/chaos" + (" --quick" if args.quick else "")
        write_record(args.record, mode, results, cmd, started, elapsed)
        print(f"results recorded in {args.record}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
