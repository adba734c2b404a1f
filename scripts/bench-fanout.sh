#!/usr/bin/env bash
# The fan-out part of `make bench` (run after scripts/bench.sh):
#   1. a broadcast to 100 HTTP mock backends that each sleep 100 ms: wall time, and its ratio
#      to the slowest single call through the same gateway (target ≤ 1.3);
#   2. discovery of 200 backends at start: from the gateway's start to all 200 healthy
#      (target ≤ 2 s), and the gateway's RSS with 200 backends connected.
# One mock process serves every backend, each on its own port (`--count`). A benchmark, not a
# test: it exits 0 whenever it ran. Knobs: FANOUT_TARGETS (100), DISCOVERY_TARGETS (200),
# FANOUT_LATENCY_MS (100), BENCH_BIN_DIR (target/release), BENCH_KEEP (1: keep the work dir).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FANOUT_TARGETS=${FANOUT_TARGETS:-100}
DISCOVERY_TARGETS=${DISCOVERY_TARGETS:-200}
LATENCY_MS=${FANOUT_LATENCY_MS:-100}

# shellcheck source=scripts/bench-lib.sh
source "$ROOT/scripts/bench-lib.sh"
bench_init bench-fanout
require_binaries "$BENCH" "$MOCK_BIN" "$GATEWAY_BIN"

# Start `count` mock backends in one process; print their URLs, one per line. Not in a
# pipeline: there it would run in a subshell, and the process it starts would escape PIDS (and
# the cleanup at exit).
start_mocks() {
  local count=$1 name=$2 out=$WORK/$2.out
  "$MOCK_BIN" --transport http --listen 127.0.0.1:0 --name "$name" --count "$count" \
    --latency-ms "$LATENCY_MS" >"$out" 2>"$WORK/$name.err" &
  PIDS+=("$!")
  for _ in $(seq 1 200); do
    [[ $(grep -c '^LISTENING ' "$out" 2>/dev/null) -ge $count ]] && break
    sleep 0.05
  done
  awk '/^LISTENING /{print $2}' "$out"
}

# Write a config with one server per URL: <prefix>-000, <prefix>-001, …
write_config() {
  local prefix=$1 file=$2 i=0 url
  echo "servers:" >"$file"
  while read -r url; do
    printf '  %s-%03d:\n    type: http\n    url: "%s"\n' "$prefix" "$i" "$url" >>"$file"
    i=$((i + 1))
  done
  echo "limits:" >>"$file"
  echo "  broadcast_concurrency: 256" >>"$file"
}

# Start a gateway on a config; sets GW_PID and GW_PORT.
start_fanout_gateway() {
  local config=$1 name=$2
  GW_PORT=$("$BENCH" free-port)
  (
    cd "$WORK" && exec env AUTH_ENABLED=false AUDIT_TO_STDOUT=false LOG_LEVEL=warn \
      AUDIT_LOG_FILE="$WORK/$name-audit.json" DATABASE_URL="sqlite://$WORK/$name.db" \
      "$GATEWAY_BIN" --config "$config" --listen "127.0.0.1:$GW_PORT"
  ) >"$WORK/$name.gw.out" 2>"$WORK/$name.gw.err" &
  GW_PID=$!
  PIDS+=("$GW_PID")
}

json_field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print($2)" "$1"; }

# 1. Broadcast to FANOUT_TARGETS backends.
start_mocks "$FANOUT_TARGETS" fan >"$WORK/fan.urls"
write_config fan "$WORK/fan.yaml" <"$WORK/fan.urls"
start_fanout_gateway "$WORK/fan.yaml" fan
"$BENCH" wait-health --url "http://127.0.0.1:$GW_PORT/health" --expect "$FANOUT_TARGETS" \
  --pid "$GW_PID" --timeout-secs 60 >/dev/null 2>"$WORK/fan.health.err" || say "fan-out gateway not healthy"
URL="http://127.0.0.1:$GW_PORT/mcp"
single=$("$BENCH" fanout --url "$URL" --tool fan-000__echo --args '{"x":1}' --calls 20 --warmup 2 --label single 2>/dev/null)
broadcast=$("$BENCH" fanout --url "$URL" --tool broadcast__echo --args '{"x":1}' --calls 10 --warmup 1 --label broadcast 2>/dev/null)

# 2. Discovery of DISCOVERY_TARGETS backends.
start_mocks "$DISCOVERY_TARGETS" disc >"$WORK/disc.urls"
write_config disc "$WORK/disc.yaml" <"$WORK/disc.urls"
started=$(date +%s%N)
start_fanout_gateway "$WORK/disc.yaml" disc
"$BENCH" wait-health --url "http://127.0.0.1:$GW_PORT/health" --expect "$DISCOVERY_TARGETS" \
  --pid "$GW_PID" --timeout-secs 60 >/dev/null 2>"$WORK/disc.health.err" || say "discovery gateway not healthy"
discovered=$(date +%s%N)
sleep 1
rss=$("$BENCH" rss --pid "$GW_PID" --label gateway_200 2>/dev/null)

python3 - "$single" "$broadcast" "$started" "$discovered" "$rss" "$FANOUT_TARGETS" "$DISCOVERY_TARGETS" "$LATENCY_MS" <<'PY'
import json, sys
single, broadcast, started, discovered, rss, n_fan, n_disc, latency = sys.argv[1:9]
def load(text):
    try:
        return json.loads(text)
    except Exception:
        return {}
single, broadcast, rss = load(single), load(broadcast), load(rss)
def ms(record, key):
    wall = record.get("wall") or {}
    return wall.get(key, float("nan")) / 1000.0
slowest_single = ms(single, "max_us")
bc_p50 = ms(broadcast, "p50_us")
ratio = bc_p50 / slowest_single if slowest_single == slowest_single and slowest_single > 0 else float("nan")
discovery_s = (int(discovered) - int(started)) / 1e9
rss_mib = (rss.get("rss_kib") or float("nan")) / 1024.0
mark = lambda ok: "✓" if ok else "✗"
print()
print(f"FAN-OUT ({n_fan} HTTP backends, each {latency} ms per call)")
print(f"  single call through the gateway: p50 {ms(single,'p50_us'):.1f} ms, slowest {slowest_single:.1f} ms")
print(f"  broadcast to all {n_fan}: p50 {bc_p50:.1f} ms, max {ms(broadcast,'max_us'):.1f} ms  (errors: {broadcast.get('errors','?')})")
print(f"  broadcast / slowest single call: {ratio:.2f}   target ≤ 1.3 {mark(ratio <= 1.3)}")
print(f"DISCOVERY ({n_disc} HTTP backends)")
print(f"  gateway start → all healthy: {discovery_s:.2f} s   target ≤ 2 s {mark(discovery_s <= 2.0)}")
print(f"  gateway RSS with {n_disc} backends connected: {rss_mib:.1f} MiB")
PY
exit 0
