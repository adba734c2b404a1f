#!/usr/bin/env bash
# `scripts/bench-compare.sh OLD NEW`: two builds of the gateway compared in alternating runs
# on one machine, for changes smaller than the drift of a shared machine over minutes (its
# CPU figures can move by 15 % within the hour, more than most single changes save).
#
# Starts the mock backend once, then BENCH_ROUNDS rounds; each round starts a fresh gateway of
# OLD, then of NEW (own work dir, new audit database), and sends each BENCH_CALLS_LOW
# `tools/call` at concurrency 1 and BENCH_CALLS_HIGH at BENCH_CONCURRENCY (raw client,
# keep-alive), reading the gateway's CPU time per call; before each round, how busy the machine
# is for a second (`mcp-bench machine-load`). Prints every run, then per build and
# concurrency the median CPU per call and throughput, and NEW/OLD. A benchmark, not a test:
# it exits 0 whenever it ran.
#
# Knobs: BENCH_ROUNDS (4), BENCH_CONCURRENCY (16), BENCH_CALLS_LOW (5000), BENCH_CALLS_HIGH
# (20000), BENCH_MAX_SECS (20, per run), BENCH_THREADS (2, load generator), BENCH_BIN_DIR,
# BENCH_MOCK_BIN, BENCH_KEEP.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

if (($# != 2)); then
  echo "usage: scripts/bench-compare.sh OLD-GATEWAY-BINARY NEW-GATEWAY-BINARY" >&2
  exit 2
fi
OLD=$(realpath "$1")
NEW=$(realpath "$2")
ROUNDS=${BENCH_ROUNDS:-4}
HIGH=${BENCH_CONCURRENCY:-16}
CALLS_LOW=${BENCH_CALLS_LOW:-5000}
CALLS_HIGH=${BENCH_CALLS_HIGH:-20000}
MAX_SECS=${BENCH_MAX_SECS:-20}
THREADS=${BENCH_THREADS:-2}

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
bench_init bench-compare
require_binaries "$BENCH" "$MOCK_BIN" "$OLD" "$NEW"
start_mock_backend || exit 1
write_bench_config
RUNS=$WORK/runs.tsv
: >"$RUNS"

# The value of a numeric JSON key in a result line (the first one: the gateway is the only
# process measured with --pid).
json_number() { grep -o "\"$1\":[0-9.e+-]*" | head -n 1 | cut -d: -f2; }

# A share from a machine-load line, as printed: one decimal and %, or n/a.
percent() {
  local value
  value=$(json_number "$1" <<<"$2")
  if [[ -n $value ]]; then printf '%.1f %%' "$value"; else printf 'n/a'; fi
}

for round in $(seq 1 "$ROUNDS"); do
  # How busy the machine is just before the round (only the idle mock backend running):
  # rounds taken while other work shares the cores read high.
  if load=$("$BENCH" machine-load --secs 1 --label "round-$round" 2>/dev/null); then
    printf 'round %s  machine idle: CPUs busy %s, stolen %s, pressure %s\n' "$round" \
      "$(percent busy_pct "$load")" "$(percent steal_pct "$load")" "$(percent pressure_pct "$load")"
  fi
  for build in old new; do
    binary=$OLD
    [[ $build == new ]] && binary=$NEW
    GATEWAY_BIN=$binary start_gateway "$WORK/$build-$round"
    if [[ -z $STARTED_URL ]]; then
      say "round $round: the $build gateway did not become healthy"
      continue
    fi
    for concurrency in 1 "$HIGH"; do
      calls=$CALLS_HIGH
      [[ $concurrency == 1 ]] && calls=$CALLS_LOW
      if ! line=$("$BENCH" --threads "$THREADS" calls --raw --url "$STARTED_URL" \
        --tool bench__echo --label "$build" --concurrency "$concurrency" --calls "$calls" \
        --max-secs "$MAX_SECS" --pid "$STARTED_PID" 2>"$WORK/calls.err"); then
        say "round $round, $build, concurrency $concurrency: failed"
        show_log "$WORK/calls.err"
        continue
      fi
      cpu=$(json_number cpu_ms_per_call <<<"$line")
      rate=$(json_number throughput_per_s <<<"$line")
      printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$build" "$concurrency" "$cpu" "$rate" >>"$RUNS"
      printf 'round %s  %-3s  concurrency %-3s  CPU per call %.4f ms  %.0f calls/s\n' \
        "$round" "$build" "$concurrency" "$cpu" "$rate"
    done
    kill "$STARTED_PID" 2>/dev/null
    wait "$STARTED_PID" 2>/dev/null
  done
done

echo
echo "medians of $ROUNDS rounds (old: $OLD, new: $NEW)"
awk -F'\t' '
  function median(list,    n, i, j, t, a) {
    n = split(list, a, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) {
      t = a[j]; a[j] = a[j-1]; a[j-1] = t
    }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { cpu[$2 " " $3] = cpu[$2 " " $3] " " $4; rate[$2 " " $3] = rate[$2 " " $3] " " $5; seen[$3] = 1 }
  END {
    for (c in seen) {
      o = median(cpu["old " c]); n = median(cpu["new " c])
      ro = median(rate["old " c]); rn = median(rate["new " c])
      printf "concurrency %-3s  CPU per call  old %.4f ms  new %.4f ms  new/old %.2f   calls/s  old %.0f  new %.0f\n", c, o, n, (o > 0 ? n / o : 0), ro, rn
    }
  }' "$RUNS"
