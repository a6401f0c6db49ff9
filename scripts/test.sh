#!/usr/bin/env bash
# `npm test`: everything, on a fresh machine. Installs what it needs (npm packages; Debian's
# chromium when absent, as root), checks types, lint and format, builds, then runs the unit and
# in-process tests (vitest) and the browser tests (Playwright + Chromium + the real relay) inside
# a network namespace that has only the loopback interface.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "dependencies"
node scripts/ensure-deps.mjs
need_apt=()
command -v chromium >/dev/null 2>&1 || [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ] || need_apt+=(chromium)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# chaos L2's faults (test/chaos/l2.test.ts; it skips, saying why, without them or without root)
[ "$(id -u)" != 0 ] || command -v nft >/dev/null 2>&1 || need_apt+=(nftables)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing ${need_apt[*]} (apt-get)…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing: ${need_apt[*]}; install them (sudo apt-get install ${need_apt[*]}) and run again" >&2
    exit 1
  fi
fi

step "types, lint, format"
npx tsc --noEmit -p .
npx eslint .
npx prettier --check . >/dev/null || { npx prettier --check .; exit 1; }

step "build"
npm run build

# Keep every test byte on loopback: a fresh network namespace with only `lo`.
isolated() {
  if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
    unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"
  else
    echo "note: cannot make a network namespace (not root); tests still use loopback only" >&2
    "$@"
  fi
}

step "unit and in-process tests (vitest)"
isolated npx vitest run

step "browser tests (Playwright, Chromium, relay)"
isolated npx playwright test
