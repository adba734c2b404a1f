# Shared by the benchmark scripts (sourced, not run): messages, a work directory removed at
# exit together with every process the script started, and waiting for a mock server.
#
#   bench_init NAME     say() prefixes NAME; WORK is a new temporary directory; PIDS collects
#                       started processes, stopped at exit (BENCH_KEEP=1 keeps WORK).
#   require_binaries B… exit 1 naming the first one that is missing.
#   show_log FILE       the last lines of a log, indented, when something did not start.
#   wait_listening OUT PID
#                       print the first `LISTENING <url>` line of a process's stdout.
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
