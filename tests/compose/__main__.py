"""`python3 tests/compose [PYTEST ARGS]`: the compose suite (what
`./stack compose-test` runs once the Docker engine and the Debian base are
there: scripts/compose-test)."""
import os
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import testkit  # noqa: E402

sys.exit(testkit.pytest_main(HERE, sys.argv[1:]))
