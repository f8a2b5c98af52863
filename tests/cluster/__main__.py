"""`python3 tests/cluster [PYTEST ARGS]`: the cluster suite, both modules on
one topology (what `./stack test cluster` runs)."""
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import testkit  # noqa: E402

sys.exit(testkit.pytest_main(HERE, sys.argv[1:]))
