# Shared by the benchmark scripts (sourced, not run): messages, a work directory removed at
# exit together with every process the script started, and waiting for a mock server.
#
#   bench_init NAME     say() prefixes NAME; WORK is a new temporary directory; PIDS collects
#                       started processes, stopped at exit (BENCH_KEEP=1 keeps WORK).
#   require_binaries B… exit 1 naming the first one that is missing.
#   show_log FILE       the last lines of a log, indented, when something did not start.
#   wait_listening OUT PID
#                       print the first `LISTENING <url>` line of a process's stdout.
#   start_mock_backend  the mock MCP server over streamable HTTP: MOCK_URL, MOCK_PID.
#   write_bench_config  $WORK/mcp_servers.yaml: `bench` (HTTP, MOCK_URL) and `local` (stdio).
#   start_gateway DIR [VAR=VALUE…] [-- WAIT-HEALTH FLAGS…]
#                       a gateway (GATEWAY_BIN) with that config: STARTED_URL, STARTED_PID.
#
# Sourcing it also names the binaries (ROOT set by the script): BENCH (mcp-bench), MOCK_BIN and
# GATEWAY_BIN, from BENCH_BIN_DIR (target/release), BENCH_MOCK_BIN and BENCH_GATEWAY_BIN.

BIN_DIR=${BENCH_BIN_DIR:-$ROOT/target/release}
BENCH=$BIN_DIR/mcp-bench
MOCK_BIN=${BENCH_MOCK_BIN:-$BIN_DIR/mock-mcp-server}
GATEWAY_BIN=${BENCH_GATEWAY_BIN:-$BIN_DIR/mcp-gateway}

bench_init() {
  BENCH_NAME=$1
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/mcp-$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  # Everything binds 127.0.0.1 only; no proxy between the processes.
  export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
}

say() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; }

bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${BENCH_KEEP:-0} == 1 ]]; then
    say "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
}

require_binaries() {
  local binary
  for binary in "$@"; do
    if [[ ! -x $binary ]]; then
      say "$binary is missing; run: cargo build --release --workspace"
      exit 1
    fi
  done
}

show_log() {
  [[ -s $1 ]] && sed -e 's/^/    /' "$1" | tail -n 20 >&2
  return 0
}

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

start_mock_backend() {
  "$MOCK_BIN" --transport http --listen 127.0.0.1:0 --name bench \
    >"$WORK/mock.out" 2>"$WORK/mock.err" &
  MOCK_PID=$!
  PIDS+=("$MOCK_PID")
  if ! MOCK_URL=$(wait_listening "$WORK/mock.out" "$MOCK_PID"); then
    say "the mock MCP server did not start"
    show_log "$WORK/mock.err"
    return 1
  fi
}

write_bench_config() {
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
}

# Starts GATEWAY_BIN with $WORK/mcp_servers.yaml on 127.0.0.1:<free port>, in the working
# directory $1 (its audit file, database and logs land there), with the environment
# assignments that follow (after AUTH_ENABLED=false AUDIT_TO_STDOUT=false LOG_LEVEL=warn,
# which they may override), and waits until both backends are healthy; extra flags of
# `wait-health` may follow a `--`. Sets STARTED_URL (its /mcp, empty when it did not become
# healthy) and STARTED_PID. `exec` keeps the pid the gateway's own, whose CPU time and memory
# are read.
start_gateway() {
  local dir=$1
  shift
  local settings=() health_flags=() port
  while (($#)) && [[ $1 != -- ]]; do
    settings+=("$1")
    shift
  done
  (($#)) && shift
  health_flags=("$@")
  port=$("$BENCH" free-port)
  mkdir -p "$dir"
  (
    cd "$dir" &&
      exec env AUTH_ENABLED=false AUDIT_TO_STDOUT=false LOG_LEVEL=warn "${settings[@]}" \
        "$GATEWAY_BIN" --config "$WORK/mcp_servers.yaml" --listen "127.0.0.1:$port"
  ) >"$dir/gateway.out" 2>"$dir/gateway.err" &
  STARTED_PID=$!
  PIDS+=("$STARTED_PID")
  STARTED_URL=""
  if "$BENCH" wait-health --url "http://127.0.0.1:$port/health" --expect 2 \
    --pid "$STARTED_PID" --timeout-secs 60 "${health_flags[@]}" 2>"$dir/health.err"; then
    STARTED_URL="http://127.0.0.1:$port/mcp"
  else
    show_log "$dir/health.err"
    show_log "$dir/gateway.err"
  fi
}
