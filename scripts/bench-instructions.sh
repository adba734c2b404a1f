#!/usr/bin/env bash
# `make bench-instructions`: the gateway's instructions per tools/call, counted by valgrind's
# callgrind, for comparing two builds of the gateway where timings are too noisy to.
#
# Starts the mock MCP server (streamable HTTP) and the gateway under callgrind in front of it,
# warms up, zeroes the counters, sends BENCH_CALLS calls (default 2000) at concurrency
# BENCH_CONCURRENCY (default 1), and prints the instructions the gateway executed per call
# (every thread, the audit writer included). The count repeats within about 1 %
# for the same binary, whatever else the machine is doing; it does not include the kernel
# (system calls, scheduling), so it complements the timings of `make bench` and does not
# replace them. Every instruction counts alike: SHA-256 of the audit chains is about a sixth of
# the count.
#
# Knobs: BENCH_CALLS, BENCH_CONCURRENCY, BENCH_GATEWAY_BIN, BENCH_BIN_DIR (target/release),
# BENCH_KEEP=1 keeps the work dir (callgrind's output, for callgrind_annotate).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CALLS=${BENCH_CALLS:-2000}
CONCURRENCY=${BENCH_CONCURRENCY:-1}

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
bench_init bench-instructions
for tool in valgrind callgrind_control; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    say "$tool is missing (Debian: apt-get install valgrind)"
    exit 1
  fi
done
require_binaries "$BENCH" "$MOCK_BIN" "$GATEWAY_BIN"

start_mock_backend || exit 1
cat >"$WORK/mcp_servers.yaml" <<YAML
servers:
  bench:
    type: http
    url: "$MOCK_URL"
YAML

PORT=$("$BENCH" free-port)
mkdir -p "$WORK/gateway"
(
  cd "$WORK/gateway" &&
    exec env AUTH_ENABLED=false AUDIT_TO_STDOUT=false LOG_LEVEL=warn MIMALLOC_ALLOW_THP=0 \
      valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.out.%p" \
      "$GATEWAY_BIN" --config "$WORK/mcp_servers.yaml" --listen "127.0.0.1:$PORT"
) >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
URL="http://127.0.0.1:$PORT/mcp"
if ! "$BENCH" wait-health --url "http://127.0.0.1:$PORT/health" --expect 1 \
  --pid "$GATEWAY_PID" --timeout-secs 180 >/dev/null 2>"$WORK/health.err"; then
  say "the gateway did not become healthy under valgrind"
  tail -n 20 "$WORK/gateway.err" >&2
  exit 1
fi

calls() {
  "$BENCH" --threads 1 calls --raw --url "$URL" --tool bench__echo \
    --concurrency "$CONCURRENCY" --calls "$1" --max-secs 600
}
say "warming up"
calls 300 >/dev/null || exit 1
sleep 0.5
callgrind_control -z "$GATEWAY_PID" >/dev/null 2>&1
say "$CALLS calls at concurrency $CONCURRENCY"
if ! RESULT=$(calls "$CALLS"); then
  say "the calls failed"
  exit 1
fi
# Let the audit writer's lingering batch land inside the measurement.
sleep 0.5
callgrind_control -d "$GATEWAY_PID" >/dev/null 2>&1
sleep 1
DUMP=$(ls -t "$WORK"/callgrind.out."$GATEWAY_PID".* 2>/dev/null | head -n 1)
if [[ -z $DUMP ]]; then
  say "callgrind wrote no dump"
  exit 1
fi
python3 - "$DUMP" "$RESULT" "$GATEWAY_BIN" <<'PY'
import json, re, sys
dump, result, binary = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
total = None
with open(dump) as f:
    for line in f:
        m = re.match(r"(?:summary|totals):\s+(\d+)", line)
        if m:
            total = int(m.group(1))
            break
ok = result["ok"]
if not total or not ok:
    sys.exit("bench-instructions: no count (calls ok: %s)" % ok)
print("gateway %s: %d calls at concurrency %d, %.0f instructions per call"
      % (binary, ok, result["concurrency"], total / ok))
PY
