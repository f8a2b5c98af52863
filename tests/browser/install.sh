#!/usr/bin/env bash
# Installs playwright-core and axe-core (tests/browser/node_modules) from the
# lock file when they are not there yet: every suite that drives Debian's
# chromium calls this.
set -euo pipefail
dir=$(cd "$(dirname "$0")" && pwd)
[[ -x /usr/bin/chromium ]] || { echo "chromium is not installed (./stack install)" >&2; exit 1; }
[[ -d $dir/node_modules/playwright-core && -d $dir/node_modules/axe-core ]] && exit 0
echo "==> installing playwright-core and axe-core (npm)"
npm --prefix "$dir" ci --no-audit --no-fund --silent
