#!/usr/bin/env bash
# `make run`: the gateway on 127.0.0.1:8000 in front of demo backends — one mock server over
# streamable HTTP (started here), one over stdio (started by the gateway) — with auth off
# (loopback only) and the embedded defaults. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=target/debug
HOST=${GATEWAY_HOST:-127.0.0.1}
PORT=${GATEWAY_PORT:-8000}
DEMO_HTTP=${DEMO_HTTP:-127.0.0.1:8101}

"$BIN/mock-mcp-server" --transport http --listen "$DEMO_HTTP" --name demo-http \
  --tags demo,logging --prompts >/dev/null 2>demo-http.log &
MOCK_PID=$!
trap 'kill $MOCK_PID 2>/dev/null || true' EXIT

cat <<MSG

  Secure MCP Gateway — demo
  Console:        http://$HOST:$PORT/ui/
  MCP endpoint:   http://$HOST:$PORT/mcp      (legacy SSE: http://$HOST:$PORT/sse)
  Health:         curl http://$HOST:$PORT/health
  Tools (curl):   curl -s http://$HOST:$PORT/mcp -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'
  Prompts:        curl -s http://$HOST:$PORT/mcp -d '{"jsonrpc":"2.0","id":2,"method":"prompts/list"}'
  Resources:      curl -s http://$HOST:$PORT/mcp -d '{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"demo-http+mock://runbook"}}'
  One server:     http://$HOST:$PORT/mcp/server/demo-stdio   (scoped endpoint; also /mcp/tag/<tag>)

  Python SDK:     pip install mcp, then
                    import asyncio, mcp
                    async def main():
                        async with mcp.Client("http://$HOST:$PORT/mcp") as c:
                            print([t.name for t in (await c.list_tools()).tools])
                            print(await c.call_tool("demo-http__echo", {"hello": "world"}))
                    asyncio.run(main())
  MCP Inspector:  npx @modelcontextprotocol/inspector  ->  Streamable HTTP, URL above
  Claude Desktop: see docs/CLAUDE_DESKTOP_CONFIG.md (npx mcp-remote http://$HOST:$PORT/mcp)

MSG

export AUTH_ENABLED=${AUTH_ENABLED:-false}
export AUDIT_TO_STDOUT=${AUDIT_TO_STDOUT:-false}
"$BIN/mcp-gateway" --config examples/mcp_servers.yaml --listen "$HOST:$PORT"
