"""A real MCP server built on the official Python SDK, used as a gateway backend in tests.

Usage: backend.py --name NAME --transport stdio|sse|streamable-http [--port PORT] [--resources N]

`--resources N` adds N more resources, `notes://bulk/000` …, for listing in pages.
"""

import argparse

from mcp.server.mcpserver import MCPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="py")
    parser.add_argument("--transport", default="stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--resources", type=int, default=0)
    args = parser.parse_args()

    server = MCPServer(args.name)

    @server.tool()
    def search_logs(query: str) -> str:
        """Search the (fake) logs of this server."""
        return f"[{args.name}] python search_logs query={query}"

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.prompt()
    def incident_summary(service: str) -> str:
        """Summarise the incidents of a service."""
        return f"[{args.name}] summarise the incidents of {service}"

    @server.resource("notes://runbook", mime_type="text/plain")
    def runbook() -> str:
        """The on-call runbook."""
        return f"[{args.name}] runbook"

    @server.resource("notes://{topic}/latest")
    def latest_note(topic: str) -> str:
        """The latest note on a topic."""
        return f"[{args.name}] latest note on {topic}"

    def bulk(uri):
        return lambda: f"[{args.name}] {uri}"

    for i in range(args.resources):
        uri = f"notes://bulk/{i:03}"
        server.resource(uri, name=f"bulk-{i:03}")(bulk(uri))

    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run(args.transport, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
