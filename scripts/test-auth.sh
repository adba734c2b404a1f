#!/usr/bin/env bash
# `make test-auth`: what the stack promises about authentication (SPEC §11), checked against a
# running gateway and its Keycloak, one line per step; the first failure stops it (exit 1).
#
#   GATEWAY_URL     default http://localhost:8000
#   KEYCLOAK_URL    default http://localhost:8080
#   KEYCLOAK_REALM  default mcp-gateway
#   CLIENT_ID       default mcp-cli (a public client with the password grant)
#   USER_NAME / USER_PASSWORD    default testuser / testpass (realm role user)
#   ADMIN_NAME / ADMIN_PASSWORD  default admin / admin123 (realm role admin)
#
# Needs curl and python3 (for JSON). The same script runs in `make test` against the test
# issuer and a local gateway.
set -euo pipefail

GATEWAY_URL=${GATEWAY_URL:-http://localhost:8000}
KEYCLOAK_URL=${KEYCLOAK_URL:-http://localhost:8080}
KEYCLOAK_REALM=${KEYCLOAK_REALM:-mcp-gateway}
CLIENT_ID=${CLIENT_ID:-mcp-cli}
USER_NAME=${USER_NAME:-testuser}
USER_PASSWORD=${USER_PASSWORD:-testpass}
ADMIN_NAME=${ADMIN_NAME:-admin}
ADMIN_PASSWORD=${ADMIN_PASSWORD:-admin123}
TOKEN_URL="$KEYCLOAK_URL/realms/$KEYCLOAK_REALM/protocol/openid-connect/token"

body=$(mktemp)
headers=$(mktemp)
trap 'rm -f "$body" "$headers"' EXIT

step() { printf '%-58s ' "$1"; }
ok() { echo "ok${1:+  ($1)}"; }
fail() {
  echo "FAILED: $1"
  exit 1
}

# A JSON field of the last answer: json 'expression over d'
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$body"; }

# request METHOD PATH [TOKEN] [JSON body]: the status; the answer in $body, headers in $headers.
request() {
  local args=(-s -o "$body" -D "$headers" -w '%{http_code}' -X "$1" "$GATEWAY_URL$2")
  [[ -n ${3:-} ]] && args+=(-H "Authorization: Bearer $3")
  [[ -n ${4:-} ]] && args+=(-H 'Content-Type: application/json' -d "$4")
  curl "${args[@]}" || echo 000
}

# (Helpers that can fail set a variable rather than print: a failure inside $(…) would be
# swallowed by the subshell.)

# token_for USER PASSWORD: the access token in $token.
token_for() {
  local status
  status=$(curl -s -o "$body" -w '%{http_code}' -X POST "$TOKEN_URL" \
    -d grant_type=password -d "client_id=$CLIENT_ID" \
    --data-urlencode "username=$1" --data-urlencode "password=$2" || echo 000)
  [[ $status == 200 ]] || fail "HTTP $status from $TOKEN_URL for $1: $(head -c 200 "$body")"
  token=$(json 'd["access_token"]')
}

echo "Gateway $GATEWAY_URL, issuer $KEYCLOAK_URL/realms/$KEYCLOAK_REALM"

step "token for $USER_NAME from Keycloak"
token_for "$USER_NAME" "$USER_PASSWORD"
user_token=$token
ok
step "token for $ADMIN_NAME from Keycloak"
token_for "$ADMIN_NAME" "$ADMIN_PASSWORD"
admin_token=$token
ok

step "no token: 401 with WWW-Authenticate"
status=$(request GET /tools)
[[ $status == 401 ]] || fail "HTTP $status"
grep -qi '^www-authenticate: Bearer .*resource_metadata=' "$headers" \
  || fail "no WWW-Authenticate with resource_metadata"
ok

for who in user admin; do
  name_var=${who^^}_NAME
  token_var=${who}_token
  step "whoami as ${!name_var}"
  status=$(request GET /whoami "${!token_var}")
  [[ $status == 200 ]] || fail "HTTP $status: $(head -c 200 "$body")"
  [[ $(json 'd["user"]') == "${!name_var}" ]] || fail "user is $(json 'd["user"]')"
  ok "roles: $(json '", ".join(d["roles"])')"
done

# list_tools TOKEN: the names the caller sees in $tools, one per line, sorted.
list_tools() {
  local status
  status=$(request GET /tools "$1")
  [[ $status == 200 ]] || fail "HTTP $status: $(head -c 200 "$body")"
  tools=$(json '"\n".join(sorted(t["name"] for t in d["tools"]))')
}
step "tools $USER_NAME sees"
list_tools "$user_token"
user_tools=$tools
[[ -n $user_tools ]] || fail "none"
ok "$(wc -l <<<"$user_tools") tools"
step "tools $ADMIN_NAME sees"
list_tools "$admin_token"
admin_tools=$tools
ok "$(wc -l <<<"$admin_tools") tools"
only_admin=$(comm -13 <(echo "$user_tools") <(echo "$admin_tools") | grep -v '^broadcast__' | head -1 || true)

call_tool=$(grep -v '^broadcast__' <<<"$user_tools" | grep '__search_logs$' | head -1 || true)
step "call ${call_tool:-a search_logs tool} as $USER_NAME"
[[ -n $call_tool ]] || fail "$USER_NAME sees no <server>__search_logs tool"
status=$(request POST "/tools/$call_tool/invoke" "$user_token" '{"query": "error", "limit": 1}')
[[ $status == 200 ]] || fail "HTTP $status: $(head -c 200 "$body")"
[[ $(json 'd.get("isError", False)') == False ]] || fail "the tool failed: $(head -c 200 "$body")"
ok

step "broadcast__search_logs as $USER_NAME"
status=$(request POST /tools/broadcast__search_logs/invoke "$user_token" '{"query": "error", "limit": 1}')
[[ $status == 200 ]] || fail "HTTP $status: $(head -c 200 "$body")"
ok "$(json 'len(d["structuredContent"]["results"])') servers answered"

step "a tool only $ADMIN_NAME may call, as $USER_NAME: 403"
[[ -n $only_admin ]] || fail "$ADMIN_NAME sees no tool that $USER_NAME does not"
status=$(request POST "/tools/$only_admin/invoke" "$user_token" '{}')
[[ $status == 403 ]] || fail "$only_admin: HTTP $status"
ok "$only_admin"

echo "All authentication checks passed."
