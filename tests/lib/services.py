#!/usr/bin/env python3
"""Are the test servers there? The ctest fixtures `redis` and `kafka` run this
before every test that needs them, so a server that does not answer is one
clear failure instead of a failure (or a silent skip) per test.

usage: services.py redis|kafka
Exit 0: it answers; 1: the TEST_* variables name a server that does not
answer; 77 (skipped): the variables are not set, so the tests skip too.
"""
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import testkit  # noqa: E402

SKIP = 77


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("redis", "kafka"):
        print(__doc__, file=sys.stderr)
        return 2
    boot, host, port = testkit.services_from_env()
    if sys.argv[1] == "redis":
        if not (host and port):
            print("SKIP: TEST_REDIS_HOST / TEST_REDIS_PORT not set")
            return SKIP
        problem, where = testkit.redis_ping(host, port), f"Redis {host}:{port}"
    else:
        if not boot:
            print("SKIP: TEST_KAFKA_BOOTSTRAP not set")
            return SKIP
        problem, where = testkit.kafka_ping(boot), f"Kafka {boot}"
    if problem:
        print(f"FAIL: {problem}: the tests that need it are not run "
              "(is the test server running? ./stack test starts it)")
        return 1
    print(f"ok: {where} answers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
