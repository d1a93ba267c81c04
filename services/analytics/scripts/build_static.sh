#!/usr/bin/env bash
# Bundle Apache ECharts from the npm registry into the analytics service's
# static files (never a CDN). Pinned by web/package-lock.json (integrity hash);
# npm's cache makes re-runs offline. Idempotent: does nothing when the bundle
# is already there and newer than the lock file.
set -euo pipefail
service="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$service/../.." && pwd)"
target="$service/src/analytics/static/echarts.min.js"
lock="$service/web/package-lock.json"
if [[ -s "$target" && "$target" -nt "$lock" && "${1:-}" != "--force" ]]; then
  exit 0
fi
command -v npm >/dev/null || { echo "error: npm is needed to bundle ECharts (apt-get install -y npm)" >&2; exit 1; }
work="${ANALYTICS_WEB_CACHE:-$root/.local/web/analytics}"
mkdir -p "$work"
cp "$service/web/package.json" "$lock" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
mkdir -p "$(dirname "$target")"
cp "$work/node_modules/echarts/dist/echarts.min.js" "$target.tmp"
mv "$target.tmp" "$target"
cp "$work/node_modules/echarts/LICENSE" "$service/src/analytics/static/echarts.LICENSE.txt"
echo "bundled echarts $(node -p "require('$work/node_modules/echarts/package.json').version" 2>/dev/null || echo '?') -> $target"
