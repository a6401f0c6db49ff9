#!/usr/bin/env bash
# `npm run chaos [-- --schedules N] [-- --seed S]`: the long chaos run (test/chaos/, outside CI
# time): N schedules at L0 (default 1000), N/20 at L1 (default 50), N/2 sequential plus N/2
# concurrent policy schedules (test/chaos/policy.test.ts) and N/50 at L2 (at least 20;
# CHAOS_L2_RUNS sets it), inside a network namespace that has only the loopback interface.
# Prints each layer's figures and writes bench/chaos.json.
set -euo pipefail
cd "$(dirname "$0")/.."

schedules=1000
seed=$(( $(date +%s) % 2147483647 ))
while [ $# -gt 0 ]; do
  case "$1" in
    --schedules) schedules="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    *) echo "usage: npm run chaos [-- --schedules N] [-- --seed S]" >&2; exit 2 ;;
  esac
done
l1=$(( schedules / 20 )); [ "$l1" -ge 1 ] || l1=1
policy=$(( schedules / 2 )); [ "$policy" -ge 1 ] || policy=1
# L2 (processes in network namespaces, ~1 min a schedule): N/50, at least 20; CHAOS_L2_RUNS wins
l2=$(( schedules / 50 )); [ "$l2" -ge 20 ] || l2=20
export CHAOS_L2_RUNS="${CHAOS_L2_RUNS:-$l2}"

export CHAOS_RUNS="$schedules" CHAOS_L1_RUNS="$l1" CHAOS_SEED="$seed"
export POLICY_RUNS="$policy" POLICY_SEED="$seed"
export CHAOS_FIGURES="$PWD/bench/chaos.json" CHAOS_TIMEOUT_MS=86400000
echo "chaos: $schedules schedules at L0, $l1 at L1, $policy + $policy policy, seed $seed"
echo "chaos: $CHAOS_L2_RUNS schedules at L2 (skipped, with the reason, where namespaces cannot be made)"
cmd=(npx vitest run test/chaos --testTimeout=86400000)
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${cmd[@]}"
else
  echo "note: cannot make a network namespace (not root); the chaos run still uses loopback only" >&2
  "${cmd[@]}"
fi
# L3: Playwright, Chromium and the relay (e2e/chaos.spec.ts): N/50 schedules, at least 20
# (CHAOS_L3_RUNS overrides), after a build when dist/ is missing
l3=${CHAOS_L3_RUNS:-$(( schedules / 50 ))}; [ "$l3" -ge 20 ] || [ -n "${CHAOS_L3_RUNS:-}" ] || l3=20
echo "chaos L3: $l3 schedules, seed $seed"
[ -f dist/index.html ] || npm run build
l3cmd=(env CHAOS_L3_RUNS="$l3" npx playwright test e2e/chaos.spec.ts)
if [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  unshare -n sh -c 'ip link set lo up && exec "$@"' sh "${l3cmd[@]}"
else
  "${l3cmd[@]}"
fi
echo "figures: bench/chaos.json"
