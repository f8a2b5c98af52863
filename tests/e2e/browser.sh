#!/usr/bin/env bash
# End-to-end: the Playwright browser tests (every tests/browser/*.test.mjs)
# against the test stack's nginx. Each runs to its end; the script fails if
# any of them failed.
set -euo pipefail
dir=$(cd "$(dirname "$0")/../browser" && pwd)
[[ -n ${E2E_BASE_URL:-} ]] || { echo "E2E_BASE_URL not set: skipped"; exit 0; }
"$dir/install.sh"
export E2E_ARTIFACTS=${E2E_ARTIFACTS:-${E2E_STATE:-/tmp}/artifacts}
failed=()
shopt -s nullglob
tests=("$dir"/*.test.mjs)
((${#tests[@]})) || { echo "no browser tests in $dir"; exit 1; }
for t in "${tests[@]}"; do
  echo "==> ${t##*/}"
  node "$t" || failed+=("${t##*/}")
done
echo "screenshots in $E2E_ARTIFACTS"
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}"
  exit 1
fi
