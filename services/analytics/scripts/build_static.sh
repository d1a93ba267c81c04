#!/usr/bin/env bash
# Bundle the dashboard page's browser libraries from the npm registry into the
# analytics service's static files (never a CDN): Apache ECharts, and
# oidc-client-ts's browser build (a plain script defining `oidc`, no bundler
# needed) for signing in. Pinned by web/package-lock.json (integrity hashes);
# npm's cache makes re-runs offline. Idempotent: does nothing when every
# bundle is already there and newer than the lock file.
set -euo pipefail
service="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$service/../.." && pwd)"
static="$service/src/analytics/static"
lock="$service/web/package-lock.json"
# package: file in its dist/ -> bundle in static/ (and its licence beside it)
bundles=(
  "echarts:dist/echarts.min.js:echarts.min.js"
  "oidc-client-ts:dist/browser/oidc-client-ts.min.js:oidc-client-ts.min.js"
)
fresh=1
for entry in "${bundles[@]}"; do
  target="$static/${entry##*:}"
  [[ -s "$target" && "$target" -nt "$lock" ]] || fresh=0
done
if [[ $fresh == 1 && "${1:-}" != "--force" ]]; then
  exit 0
fi
command -v npm >/dev/null || { echo "error: npm is needed to bundle the dashboard's scripts (apt-get install -y npm)" >&2; exit 1; }
work="${ANALYTICS_WEB_CACHE:-$root/.local/web/analytics}"
mkdir -p "$work" "$static"
cp "$service/web/package.json" "$lock" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
for entry in "${bundles[@]}"; do
  IFS=: read -r package file bundle <<<"$entry"
  cp "$work/node_modules/$package/$file" "$static/$bundle.tmp"
  mv "$static/$bundle.tmp" "$static/$bundle"
  cp "$work/node_modules/$package/LICENSE" "$static/${bundle%%.*}.LICENSE.txt"
  version="$(node -p "require('$work/node_modules/$package/package.json').version" 2>/dev/null || echo '?')"
  echo "bundled $package $version -> $static/$bundle"
done
# jwt-decode (MIT) is compiled into oidc-client-ts's browser build: its licence goes along
cp "$work/node_modules/jwt-decode/LICENSE" "$static/jwt-decode.LICENSE.txt"
