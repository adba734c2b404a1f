#!/usr/bin/env bash
# `make bench`, the Anthropic proxy: a streamed message through the gateway's
# /anthropic/v1/messages against the same message straight from the same upstream.
#
# Starts `mcp-bench anthropic-upstream` (an Anthropic-compatible Messages API answering each
# streamed request with the API's event sequence: message_start, content_block_start, ping,
# BENCH_LLM_DELTAS content_block_delta, content_block_stop, message_delta, message_stop), a
# release gateway whose `llm:` section points at it with its own key for the upstream (random,
# from the environment, never printed; the upstream refuses any other), and a bare TCP relay
# in front of the same upstream (`mcp-bench relay`: the floor of any proxy). Then, with
# `mcp-bench llm`, time to first byte of the answer's body (TTFB) and time to the end of the
# stream, directly and through the gateway: at concurrency 1 with the two paths' requests
# interleaved one by one (BENCH_LLM_ROUNDS rounds, each with a round of the direct path
# interleaved with the relay), at the high concurrency one path after the other (two rounds,
# alternating which goes first); the gateway's, the relay's and the upstream's CPU per request
# from procfs. Prints one table with the target "≤ 1 ms added to TTFB at concurrency 1"
# marked ✓/✗. A benchmark, not a test: it exits 0 whenever it ran.
#
# Knobs (environment): BENCH_LLM_REQUESTS (2000 per path and round at concurrency 1),
# BENCH_LLM_REQUESTS_HIGH (10000 per path and round at the high concurrency),
# BENCH_LLM_ROUNDS (3), BENCH_LLM_DELTAS (20), BENCH_LLM_GAP_MS (0: events back to back, so
# the measure is the proxy's overhead), BENCH_CONCURRENCY (16), BENCH_MAX_SECS (25, per
# measured phase), BENCH_LLM_THREADS (1: the load generator's runtime threads),
# BENCH_BIN_DIR (target/release), BENCH_GATEWAY_BIN, BENCH_KEEP (1: keep the work dir).
# docs/benchmarks.md ("The Anthropic proxy") explains what is measured and how to read it.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

REQUESTS_LOW=${BENCH_LLM_REQUESTS:-2000}
REQUESTS_HIGH=${BENCH_LLM_REQUESTS_HIGH:-10000}
ROUNDS=${BENCH_LLM_ROUNDS:-3}
DELTAS=${BENCH_LLM_DELTAS:-20}
GAP_MS=${BENCH_LLM_GAP_MS:-0}
HIGH=${BENCH_CONCURRENCY:-16}
MAX_SECS=${BENCH_MAX_SECS:-25}
# One thread: with more, the load generator hands every chunk of a stream between its own
# threads, which costs it three times the CPU and adds ~0.2 ms to both paths' TTFB here.
THREADS=${BENCH_LLM_THREADS:-1}

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
bench_init bench-llm
require_binaries "$BENCH" "$GATEWAY_BIN"
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

# The gateway's key for the upstream, and what callers send the gateway as theirs (auth is
# off, so it is ignored there; the gateway must replace it with its own key). Same length, so
# both paths send requests of the same size. Neither is ever printed.
BENCH_ANTHROPIC_KEY=sk-bench-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
BENCH_CALLER_KEY=sk-caller-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' | cut -c 2-)
export BENCH_ANTHROPIC_KEY BENCH_CALLER_KEY

measure() {
  local what=$1
  shift
  say "$what"
  local lines
  if lines=$("$BENCH" --threads "$THREADS" "$@" 2>"$WORK/measure.err"); then
    echo "$lines" >>"$RESULTS"
  else
    say "$what: failed"
    show_log "$WORK/measure.err"
  fi
}

measure "machine load, nothing started" machine-load --secs 2 --label before

"$BENCH" --threads 1 anthropic-upstream --listen 127.0.0.1:0 --deltas "$DELTAS" \
  --gap-ms "$GAP_MS" --api-key-env BENCH_ANTHROPIC_KEY \
  >"$WORK/upstream.out" 2>"$WORK/upstream.err" &
UPSTREAM_PID=$!
PIDS+=("$UPSTREAM_PID")
if ! UPSTREAM_URL=$(wait_listening "$WORK/upstream.out" "$UPSTREAM_PID"); then
  say "the Anthropic upstream did not start"
  show_log "$WORK/upstream.err"
  exit 1
fi
say "upstream: $UPSTREAM_URL (pid $UPSTREAM_PID), $DELTAS deltas, ${GAP_MS} ms between events"

# The floor: a TCP relay in front of the same upstream, on one thread, copying bytes.
"$BENCH" --threads 1 relay --to "${UPSTREAM_URL#http://}" >"$WORK/relay.out" 2>"$WORK/relay.err" &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
if RELAY_URL=$(wait_listening "$WORK/relay.out" "$RELAY_PID"); then
  say "relay: $RELAY_URL (pid $RELAY_PID)"
else
  say "the relay did not start; the floor is not measured"
  show_log "$WORK/relay.err"
  RELAY_URL=""
fi

# A gateway without MCP backends, proxying claude-* to the upstream with its own key. Auth
# off on loopback: the caller is anonymous with the admin role and, with no authorization
# section, may use every forwarded model. Audit as in scripts/bench.sh: the file and the
# SQLite database in the gateway's working directory.
cat >"$WORK/mcp_servers.yaml" <<YAML
servers: {}
llm:
  anthropic:
    base_url: "$UPSTREAM_URL"
    api_key_ref: env://BENCH_ANTHROPIC_KEY
    models: ["claude-*"]
YAML
GATEWAY_DIR=$WORK/gateway
mkdir -p "$GATEWAY_DIR"
port=$("$BENCH" free-port)
(
  cd "$GATEWAY_DIR" &&
    exec env AUTH_ENABLED=false AUDIT_TO_STDOUT=false LOG_LEVEL=warn \
      "$GATEWAY_BIN" --config "$WORK/mcp_servers.yaml" --listen "127.0.0.1:$port"
) >"$GATEWAY_DIR/gateway.out" 2>"$GATEWAY_DIR/gateway.err" &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
if ! "$BENCH" wait-health --url "http://127.0.0.1:$port/health" --expect 0 \
  --pid "$GATEWAY_PID" --timeout-secs 60 2>"$GATEWAY_DIR/health.err"; then
  say "the gateway did not start"
  show_log "$GATEWAY_DIR/health.err"
  show_log "$GATEWAY_DIR/gateway.err"
  exit 1
fi
GATEWAY_URL=http://127.0.0.1:$port/anthropic
say "gateway: $GATEWAY_URL (pid $GATEWAY_PID)"

direct=(--url "$UPSTREAM_URL" --label direct --api-key-env BENCH_ANTHROPIC_KEY)
gateway=(--url "$GATEWAY_URL" --label gateway --pid "$GATEWAY_PID" --api-key-env BENCH_CALLER_KEY)
common=(--max-secs "$MAX_SECS" --watch "upstream=$UPSTREAM_PID")

# Concurrency 1: requests alternate between the paths (direct gateway, gateway direct, …),
# one in flight at a time, so both are measured over the same seconds. Each run is a round;
# each round also interleaves the direct path with the relay (labels relay_direct, relay).
for round in $(seq 1 "$ROUNDS"); do
  measure "direct and gateway interleaved, concurrency 1, $REQUESTS_LOW streams each, round $round/$ROUNDS" \
    llm "${direct[@]}" --url-b "$GATEWAY_URL" --label-b gateway --pid-b "$GATEWAY_PID" \
    --api-key-env-b BENCH_CALLER_KEY --requests "$REQUESTS_LOW" "${common[@]}"
  if [[ -n $RELAY_URL ]]; then
    measure "direct and relay interleaved, concurrency 1, $REQUESTS_LOW streams each, round $round/$ROUNDS" \
      llm --url "$UPSTREAM_URL" --label relay_direct --api-key-env BENCH_ANTHROPIC_KEY \
      --url-b "$RELAY_URL" --label-b relay --pid-b "$RELAY_PID" \
      --api-key-env-b BENCH_ANTHROPIC_KEY --requests "$REQUESTS_LOW" "${common[@]}"
  fi
done

# The high concurrency: one path after the other, never both under load at once; two rounds,
# direct gateway then gateway direct.
high=(--concurrency "$HIGH" --requests "$REQUESTS_HIGH" "${common[@]}")
measure "direct, concurrency $HIGH, $REQUESTS_HIGH streams, round 1/2" llm "${direct[@]}" "${high[@]}"
measure "gateway, concurrency $HIGH, $REQUESTS_HIGH streams, round 1/2" llm "${gateway[@]}" "${high[@]}"
measure "gateway, concurrency $HIGH, $REQUESTS_HIGH streams, round 2/2" llm "${gateway[@]}" "${high[@]}"
measure "direct, concurrency $HIGH, $REQUESTS_HIGH streams, round 2/2" llm "${direct[@]}" "${high[@]}"

# Every request through the gateway is accounted for: one llm_call audit record each,
# against the requests the load generator sent it (warm-up included).
sleep 1
sent=$(awk '/"kind":"llm"/ && /"label":"gateway"/ {
    for (field = 1; field <= 2; field++) {
      name = field == 1 ? "requests" : "warmup_requests"
      if (match($0, "\"" name "\":[0-9]+")) total += substr($0, RSTART + length(name) + 3, RLENGTH - length(name) - 3)
    }
  } END { print total + 0 }' "$RESULTS")
records=$(grep -c '"event":"llm_call"' "$GATEWAY_DIR/audit.json" 2>/dev/null)
succeeded=$(grep '"event":"llm_call"' "$GATEWAY_DIR/audit.json" 2>/dev/null | grep -c '"status":"success"')
say "gateway audit file: ${records:-0} llm_call records (${succeeded:-0} success) for $sent requests sent through the gateway"

measure "machine load, benchmark idle" machine-load --secs 2 --label after

mkdir -p "$ROOT/target/bench"
cp "$RESULTS" "$ROOT/target/bench/last-llm-results.jsonl"
echo
"$BENCH" report "$RESULTS" || say "the report failed"
echo
echo "raw results: target/bench/last-llm-results.jsonl"
exit 0
