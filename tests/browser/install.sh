#!/usr/bin/env bash
# Installs playwright-core (tests/browser/node_modules) from the lock file when
# it is not there yet: every suite that drives Debian's chromium calls this.
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
[[ -x /usr/bin/chromium ]] || { echo "chromium is not installed (./stack install)" >&2; exit 1; }
[[ -d $dir/node_modules/playwright-core ]] && exit 0
echo "==> installing playwright-core (npm)"
npm --prefix "$dir" ci --no-audit --no-fund --silent
