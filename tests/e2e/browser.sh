#!/usr/bin/env bash
# End-to-end: the Playwright browser tests (tests/browser/*.test.mjs) against
# the test stack's nginx; every one runs, any failure fails the suite.
set -euo pipefail
dir=$(cd "$(dirname "$0")/../browser" && pwd)
[[ -n ${E2E_BASE_URL:-} ]] || { echo "E2E_BASE_URL not set: skipped"; exit 0; }
[[ -x /usr/bin/chromium ]] || { echo "chromium is not installed (./stack install)"; exit 1; }
if [[ ! -d $dir/node_modules/playwright-core ]]; then
  echo "==> installing playwright-core (npm)"
  npm --prefix "$dir" ci --no-audit --no-fund --silent
fi
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-${E2E_STATE:-/tmp}/artifacts}
rc=0
for t in "$dir"/*.test.mjs; do
  echo "==> ${t##*/}"
  node "$t" || rc=1
done
echo "screenshots in $E2E_ARTIFACTS"
exit "$rc"
