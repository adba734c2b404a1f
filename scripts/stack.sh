#!/usr/bin/env bash
# `make` / `make up-observability`: build the image, start the stack with docker compose, and
# wait until every service is healthy (the gateway starts last: it waits for the others).
#   scripts/stack.sh up [--profile observability]
set -euo pipefail
cd "$(dirname "$0")/.."

COMPOSE=${COMPOSE:-docker compose}
if ! $COMPOSE version >/dev/null 2>&1; then
  cat >&2 <<MSG
make: '$COMPOSE' is not available, and the full stack needs Docker with Compose.
      Without Docker: 'make run' starts the gateway with demo backends (no auth), and
      'make test' runs every test.
MSG
  exit 1
fi

shift # "up"
profiles=("$@")
if [[ " ${profiles[*]} " == *" observability "* ]]; then
  # The gateway's traces go to the profile's Jaeger.
  export OTEL_EXPORTER_OTLP_ENDPOINT=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://jaeger:4318}
fi
$COMPOSE "${profiles[@]}" up -d --build

# Every service with a healthcheck must report healthy (the one-shot image build exits 0;
# --all, so that a service that exited is waited for, not overlooked).
deadline=$((SECONDS + ${STACK_TIMEOUT:-300}))
while true; do
  states=$($COMPOSE "${profiles[@]}" ps --all --format '{{.Service}} {{.Health}} {{.State}}' 2>/dev/null \
    | grep -v '^gateway-image ' || true)
  waiting=$(awk '$2 != "healthy" {print $1}' <<<"$states" | tr '\n' ' ')
  if [[ -n $states && -z $waiting ]]; then
    break
  fi
  if ((SECONDS > deadline)); then
    echo "The stack did not become healthy; still waiting for: $waiting" >&2
    $COMPOSE "${profiles[@]}" ps >&2
    exit 1
  fi
  sleep 3
done

cat <<MSG

  Secure MCP Gateway — full stack
  Gateway:   http://localhost:8000/mcp        (health: http://localhost:8000/health)
  Keycloak:  http://localhost:8080            (admin / admin; realm mcp-gateway)
  Users:     testuser / testpass (user), admin / admin123 (admin)
  Postgres:  localhost:5432 mcp_gateway       (mcp_user / mcp_password)
MSG
if [[ " ${profiles[*]} " == *" observability "* ]]; then
  cat <<MSG
  Grafana:   http://localhost:3000            (admin / admin; dashboard "Secure MCP Gateway")
  Prometheus http://localhost:9090    Jaeger: http://localhost:16686
MSG
fi
echo
