#!/usr/bin/env bash
# `make bench`: the gateway measured against direct calls to the same backend, in one run.
#
# Starts a mock MCP server (streamable HTTP) and a gateway in front of it (plus one stdio
# backend, so session opening is measured with one configured), then with target/release/mcp-bench:
# tools/call directly, through a bare TCP relay (`mcp-bench relay`: the floor of any proxy on
# this machine) and through the gateway at concurrency 1 and 16, the gateway's RSS idle
# and under load, its CPU time per call, and the time to open an MCP session. Then, with the
# benchmark's own OIDC issuer (`mcp-bench issuer`), two more gateways in front of the same
# backend, one with auth off and one with auth on, compared to show what token validation
# adds: at concurrency 1 with calls interleaved one by one between the two, at the high
# concurrency one after the other. Before anything starts and again at the end with everything
# idle, how busy the machine is (`mcp-bench machine-load`) says how much other work shares the
# cores. Prints one table with every target marked ✓/✗. A benchmark, not a test: it exits 0 whenever it ran.
#
# Knobs (environment): BENCH_CALLS_LOW (5000), BENCH_CALLS_HIGH (20000), BENCH_CONCURRENCY
# (16), BENCH_SESSIONS (50), BENCH_MAX_SECS (25, per measured phase), BENCH_CLIENT (raw |
# rmcp), BENCH_CONNECTIONS (keepalive | fresh), BENCH_THREADS (2), BENCH_AUTH_ROUNDS (3
# interleaved runs at concurrency 1; 0 skips the auth runs), BENCH_AUTH_CALLS (10000 per
# gateway and run), BENCH_BIN_DIR (target/release), BENCH_MOCK_BIN, BENCH_GATEWAY_BIN,
# BENCH_KEEP (1: keep the work dir).
# docs/benchmarks.md explains what is measured and how to read the table.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CALLS_LOW=${BENCH_CALLS_LOW:-5000}
CALLS_HIGH=${BENCH_CALLS_HIGH:-20000}
HIGH=${BENCH_CONCURRENCY:-16}
SESSIONS=${BENCH_SESSIONS:-50}
MAX_SECS=${BENCH_MAX_SECS:-25}
THREADS=${BENCH_THREADS:-2}
AUTH_ROUNDS=${BENCH_AUTH_ROUNDS:-3}
AUTH_CALLS=${BENCH_AUTH_CALLS:-10000}

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

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
bench_init bench
require_binaries "$BENCH" "$MOCK_BIN"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

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

# How much other work shares the cores, before anything of ours runs and again at the end.
measure "machine load, nothing started" machine-load --secs 2 --label before

start_mock_backend || exit 1
say "backend: $MOCK_URL (pid $MOCK_PID)"

# The floor: a TCP relay in front of the same backend, on one thread, copying bytes.
RELAY_URL=""
backend_address=${MOCK_URL#http://}
backend_path=/${backend_address#*/}
backend_address=${backend_address%%/*}
"$BENCH" --threads 1 relay --to "$backend_address" >"$WORK/relay.out" 2>"$WORK/relay.err" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
if RELAY_URL=$(wait_listening "$WORK/relay.out" "$RELAY_PID"); then
  RELAY_URL=$RELAY_URL$backend_path
  say "relay: $RELAY_URL (pid $RELAY_PID)"
else
  say "the relay did not start; the floor is not measured"
  show_log "$WORK/relay.err"
  RELAY_URL=""
fi

GATEWAY_URL=""
if [[ -x $GATEWAY_BIN ]]; then
  write_bench_config
  start_gateway "$WORK/gateway"
  GATEWAY_PID=$STARTED_PID
  GATEWAY_URL=$STARTED_URL
  if [[ -n $GATEWAY_URL ]]; then
    say "gateway: $GATEWAY_URL (pid $GATEWAY_PID)"
    # Idle: started, backends connected, no client yet.
    sleep 1
    measure "gateway RSS, idle" rss --pid "$GATEWAY_PID" --label gateway_idle
  else
    say "the gateway did not become healthy; measuring the direct path only"
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
  if [[ -n $RELAY_URL ]]; then
    measure "relay, concurrency $concurrency, $calls calls" \
      calls --url "$RELAY_URL" --tool echo --label relay --watch "relay=$RELAY_PID" "${common[@]}"
  fi
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

# Auth on. The issuer serves discovery and JWKS at Keycloak's paths and writes one token
# (RS256, valid for hours, realm role `user`). Two new gateways are compared, one with auth
# off and one with AUTH_ENABLED=true pointed at the issuer (auth on is allowed on loopback
# too): both new, with the same config, backend and history, so that the only difference is
# validation (the gateway measured above has served tens of thousands of calls and filled its
# audit database). Both get the same token; the auth-off one ignores it.
AUTH_URL=""
if [[ -n $GATEWAY_URL && $AUTH_ROUNDS -gt 0 ]]; then
  TOKEN_FILE=$WORK/bench-token
  "$BENCH" --threads 1 issuer --token-file "$TOKEN_FILE" \
    >"$WORK/issuer.out" 2>"$WORK/issuer.err" &
  ISSUER_PID=$!
  PIDS+=("$ISSUER_PID")
  if ISSUER_URL=$(wait_listening "$WORK/issuer.out" "$ISSUER_PID"); then
    say "issuer: $ISSUER_URL (pid $ISSUER_PID)"
    start_gateway "$WORK/auth-off"
    OFF_PID=$STARTED_PID
    OFF_URL=$STARTED_URL
    # Healthy, and the issuer's keys loaded: /whoami accepts the token.
    start_gateway "$WORK/auth-on" AUTH_ENABLED=true KEYCLOAK_URL="$ISSUER_URL" \
      KEYCLOAK_REALM=mcp-gateway JWT_AUDIENCE=mcp-gateway JWT_ALGORITHM=RS256 \
      -- --bearer-token-file "$TOKEN_FILE"
    AUTH_PID=$STARTED_PID
    if [[ -n $OFF_URL && -n $STARTED_URL ]]; then
      AUTH_URL=$STARTED_URL
      say "gateways for the auth runs: auth off $OFF_URL (pid $OFF_PID), auth on $AUTH_URL (pid $AUTH_PID)"
    else
      say "a gateway for the auth runs did not start (or did not accept the token); no auth figures"
    fi
  else
    say "the issuer did not start; no auth figures"
    show_log "$WORK/issuer.err"
  fi
fi

if [[ -n $AUTH_URL ]]; then
  issuer_requests() { grep -c '^served ' "$WORK/issuer.err" 2>/dev/null || true; }
  served_before=$(issuer_requests)
  auth_flags=(--tool bench__echo --max-secs "$MAX_SECS" --bearer-token-file "$TOKEN_FILE"
    "${CLIENT_FLAGS[@]}")
  # Concurrency 1: calls alternate between the two gateways (off on, on off, …), one in flight
  # at a time, so both are measured over the same seconds and the machine's other work falls
  # on both alike. Each run is one round of the report.
  for round in $(seq 1 "$AUTH_ROUNDS"); do
    measure "auth off and on interleaved, concurrency 1, $AUTH_CALLS calls each, round $round/$AUTH_ROUNDS" \
      paired --url "$OFF_URL" --label auth_off --pid "$OFF_PID" \
      --url-b "$AUTH_URL" --label-b auth_on --pid-b "$AUTH_PID" \
      --calls "$AUTH_CALLS" "${auth_flags[@]}"
  done
  # The high concurrency: one gateway after the other, never both under load at once; two
  # rounds, off on then on off, so neither always runs on the machine as the other left it.
  high=(--concurrency "$HIGH" --calls "$CALLS_HIGH" --watch "backend=$MOCK_PID" "${auth_flags[@]}")
  off=(calls --url "$OFF_URL" --label auth_off --pid "$OFF_PID" "${high[@]}")
  on=(calls --url "$AUTH_URL" --label auth_on --pid "$AUTH_PID" "${high[@]}")
  measure "auth off, concurrency $HIGH, $CALLS_HIGH calls, round 1/2" "${off[@]}"
  measure "auth on, concurrency $HIGH, $CALLS_HIGH calls, round 1/2" "${on[@]}"
  measure "auth on, concurrency $HIGH, $CALLS_HIGH calls, round 2/2" "${on[@]}"
  measure "auth off, concurrency $HIGH, $CALLS_HIGH calls, round 2/2" "${off[@]}"
  say "issuer: $((served_before)) requests before the auth runs, $(($(issuer_requests) - served_before)) during them"
fi

measure "machine load, benchmark idle" machine-load --secs 2 --label after

mkdir -p "$ROOT/target/bench"
cp "$RESULTS" "$ROOT/target/bench/last-results.jsonl"
echo
"$BENCH" report "$RESULTS" || say "the report failed"
echo
echo "raw results: target/bench/last-results.jsonl"
exit 0
