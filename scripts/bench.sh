#!/usr/bin/env bash
# `npm run bench [-- --runs N] [-- --only W1,W3]`: builds the app, then runs bench/run.ts (the
# relay and two or three headless Chromium peers) inside a network namespace that has only the
# loopback interface, so no benchmark byte leaves the machine. Results: the printed table and
# bench/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."

node scripts/ensure-deps.mjs
script=bench/run.ts
if [ "${1:-}" = "--dev" ]; then
  # `npm run bench:dev`: the development loop (bench/dev-run.ts) against the dev server
  shift
  script=bench/dev-run.ts
elif [ "${1:-}" = "--attacks" ]; then
  # `npm run bench:attacks`: the cost of each attack of issue 12 to honest peers (bench/attacks.ts;
  # Node only, no build)
  shift
  script=bench/attacks.ts
elif [ "${1:-}" = "--profile" ]; then
  # `npm run bench:profile [-- --shell]`: where a W1 round trip's CPU goes (bench/profile-w1.ts)
  shift
  script=bench/profile-w1.ts
  npm run build
elif [ "${1:-}" = "--durability" ]; then
  # `npm run bench:durability`: edits lost when a page goes away at once (bench/durability.ts)
  shift
  script=bench/durability.ts
  npm run build
else
  npm run build
fi

if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  unshare -n sh -c 'ip link set lo up && exec "$@"' sh npx tsx "$script" "$@"
else
  echo "note: cannot make a network namespace (not root); the benchmark still uses loopback only" >&2
  npx tsx "$script" "$@"
fi
# the saved figures in the repository's own style, so that committing them keeps the check green
npx prettier --write --log-level warn bench/*.json
