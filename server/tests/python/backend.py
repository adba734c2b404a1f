"""A real MCP server built on the official Python SDK, used as a gateway backend in tests.

Usage: backend.py --name NAME --transport stdio|sse|streamable-http [--port PORT]
"""

import argparse

from mcp.server.mcpserver import MCPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="py")
    parser.add_argument("--transport", default="stdio")
    parser.add_argument("--port", type=int, default=0)
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

    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run(args.transport, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
