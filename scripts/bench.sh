#!/usr/bin/env bash
# `make bench`: the gateway measured against direct calls to the same backend, in one run.
#
# Starts a mock MCP server (streamable HTTP) and a gateway in front of it (plus one stdio
# backend, so session opening is measured with one configured), then with target/release/mcp-bench:
# tools/call directly and through the gateway at concurrency 1 and 16, the gateway's RSS idle
# and under load, its CPU time per call, and the time to open an MCP session. Prints one table
# with every target marked ✓/✗. A benchmark, not a test: it exits 0 whenever it ran.
#
# Knobs (environment): BENCH_CALLS_LOW (5000), BENCH_CALLS_HIGH (20000), BENCH_CONCURRENCY
# (16), BENCH_SESSIONS (50), BENCH_MAX_SECS (25, per measured phase), BENCH_CLIENT (raw |
# rmcp), BENCH_CONNECTIONS (keepalive | fresh), BENCH_THREADS (2), BENCH_BIN_DIR
# (target/release), BENCH_MOCK_BIN, BENCH_GATEWAY_BIN, BENCH_KEEP (1: keep the work dir).
# docs/benchmarks.md explains what is measured and how to read the table.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BIN_DIR=${BENCH_BIN_DIR:-$ROOT/target/release}
BENCH=$BIN_DIR/mcp-bench
MOCK_BIN=${BENCH_MOCK_BIN:-$BIN_DIR/mock-mcp-server}
GATEWAY_BIN=${BENCH_GATEWAY_BIN:-$BIN_DIR/mcp-gateway}
CALLS_LOW=${BENCH_CALLS_LOW:-5000}
CALLS_HIGH=${BENCH_CALLS_HIGH:-20000}
HIGH=${BENCH_CONCURRENCY:-16}
SESSIONS=${BENCH_SESSIONS:-50}
MAX_SECS=${BENCH_MAX_SECS:-25}
THREADS=${BENCH_THREADS:-2}

CLIENT_FLAGS=()
case ${BENCH_CLIENT:-raw} in
  raw) CLIENT_FLAGS+=(--raw) ;;
  rmcp) ;;
  *) echo "bench: BENCH_CLIENT must be raw or rmcp" >&2; exit 2 ;;
esac
case ${BENCH_CONNECTIONS:-keepalive} in
  keepalive) ;;
  fresh) CLIENT_FLAGS+=(--fresh-connections) ;;
  *) echo "bench: BENCH_CONNECTIONS must be keepalive or fresh" >&2; exit 2 ;;
esac

for binary in "$BENCH" "$MOCK_BIN"; do
  if [[ ! -x $binary ]]; then
    echo "bench: $binary is missing; run: cargo build --release --workspace" >&2
    exit 1
  fi
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-bench.XXXXXX")
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
STARTED_PIDS=()

cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    echo "bench: work dir kept: $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf 'bench: %s\n' "$*" >&2; }

# The last lines of a log, indented, when something did not start.
show_log() {
  [[ -s $1 ]] && sed -e 's/^/    /' "$1" | tail -n 20 >&2
  return 0
}

# Waits for the first `LISTENING <url>` line of a process's stdout.
wait_listening() {
  local out=$1 pid=$2 url=""
  for _ in $(seq 1 100); do
    url=$(awk '/^LISTENING /{print $2; exit}' "$out" 2>/dev/null)
    if [[ -n $url ]]; then
      echo "$url"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# One measuring subcommand; its JSON line goes to the results, a failure only to stderr.
measure() {
  local what=$1
  shift
  say "$what"
  local line
  if line=$("$BENCH" --threads "$THREADS" "$@" 2>"$WORK/measure.err"); then
    echo "$line" >>"$RESULTS"
  else
    say "$what: failed"
    show_log "$WORK/measure.err"
  fi
}

# Everything binds 127.0.0.1 only; no proxy between the processes.
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

"$MOCK_BIN" --transport http --listen 127.0.0.1:0 --name bench \
  >"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
STARTED_PIDS+=("$MOCK_PID")
if ! MOCK_URL=$(wait_listening "$WORK/mock.out" "$MOCK_PID"); then
  say "the mock MCP server did not start"
  show_log "$WORK/mock.err"
  exit 1
fi
say "backend: $MOCK_URL (pid $MOCK_PID)"

GATEWAY_URL=""
if [[ -x $GATEWAY_BIN ]]; then
  cat >"$WORK/mcp_servers.yaml" <<YAML
servers:
  bench:
    type: http
    url: "$MOCK_URL"
  local:
    type: stdio
    command: "$MOCK_BIN"
    args: ["--transport", "stdio", "--name", "local"]
YAML
  GATEWAY_PORT=$("$BENCH" free-port)
  # The gateway runs in the work dir, so its audit file and database land there. `exec` keeps
  # $! the gateway's own pid, whose CPU time and memory are read.
  (
    cd "$WORK" &&
      exec env AUTH_ENABLED=false AUDIT_TO_STDOUT=false LOG_LEVEL=warn \
        "$GATEWAY_BIN" --config "$WORK/mcp_servers.yaml" --listen "127.0.0.1:$GATEWAY_PORT"
  ) >"$WORK/gateway.out" 2>"$WORK/gateway.err" &
  GATEWAY_PID=$!
  STARTED_PIDS+=("$GATEWAY_PID")
  if "$BENCH" wait-health --url "http://127.0.0.1:$GATEWAY_PORT/health" --expect 2 \
    --pid "$GATEWAY_PID" --timeout-secs 60 2>"$WORK/health.err"; then
    GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT/mcp"
    say "gateway: $GATEWAY_URL (pid $GATEWAY_PID)"
    # Idle: started, backends connected, no client yet.
    sleep 1
    measure "gateway RSS, idle" rss --pid "$GATEWAY_PID" --label gateway_idle
  else
    say "the gateway did not become healthy; measuring the direct path only"
    show_log "$WORK/health.err"
    show_log "$WORK/gateway.err"
  fi
else
  say "$GATEWAY_BIN is missing; measuring the direct path only"
fi

for concurrency in 1 "$HIGH"; do
  calls=$CALLS_HIGH
  [[ $concurrency == 1 ]] && calls=$CALLS_LOW
  common=(--concurrency "$concurrency" --calls "$calls" --max-secs "$MAX_SECS" "${CLIENT_FLAGS[@]}")
  measure "direct, concurrency $concurrency, $calls calls" \
    calls --url "$MOCK_URL" --tool echo --label direct --watch "backend=$MOCK_PID" "${common[@]}"
  if [[ -n $GATEWAY_URL ]]; then
    measure "gateway, concurrency $concurrency, $calls calls" \
      calls --url "$GATEWAY_URL" --tool bench__echo --label gateway \
      --pid "$GATEWAY_PID" --watch "backend=$MOCK_PID" "${common[@]}"
  fi
done

if [[ -n $GATEWAY_URL ]]; then
  measure "session open through the gateway, $SESSIONS sessions" \
    sessions --url "$GATEWAY_URL" --label gateway --count "$SESSIONS" "${CLIENT_FLAGS[@]}"
fi

mkdir -p "$ROOT/target/bench"
cp "$RESULTS" "$ROOT/target/bench/last-results.jsonl"
echo
"$BENCH" report "$RESULTS" || say "the report failed"
echo
echo "raw results: target/bench/last-results.jsonl"
exit 0
