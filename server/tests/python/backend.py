"""A real MCP server built on the official Python SDK, used as a gateway backend in tests.

Usage: backend.py --name NAME --transport stdio|sse|streamable-http [--port PORT] [--resources N]

`--resources N` adds N more resources, `notes://bulk/000` …, for listing in pages.
"""

import argparse

import anyio

from pydantic import BaseModel

from mcp import types
from mcp.server.mcpserver import Context, MCPServer


class Name(BaseModel):
    name: str


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

    @server.prompt()
    async def slow_summary(seconds: str) -> str:
        """A prompt that takes `seconds` to make."""
        await anyio.sleep(float(seconds))
        return f"[{args.name}] slow summary"

    @server.prompt()
    async def sampled_summary(topic: str, ctx: Context) -> str:
        """A prompt made with the client's model (sampling/createMessage)."""
        messages = [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=topic))]
        result = await ctx.session.create_message(messages, max_tokens=50)
        return f"[{args.name}] {result.content.text}"

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
    # Tools that ask the client something during the call: their results say what it answered
    # (a failed request fails the tool, with the client's or the gateway's error as its text).

    @server.tool()
    async def sample(prompt: str, ctx: Context, outcome_file: str = "") -> str:
        """Ask the client's model (sampling/createMessage). With `outcome_file`, the request
        outlives the call (a backend that ignores cancellation) and how it ended is written
        there."""
        messages = [types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))]
        if not outcome_file:
            result = await ctx.session.create_message(messages, max_tokens=50, related_request_id=ctx.request_id)
            return f"sampled: {result.content.text}"
        with anyio.CancelScope(shield=True):
            try:
                result = await ctx.session.create_message(
                    messages, max_tokens=50, related_request_id=ctx.request_id
                )
                outcome = f"sampled: {result.content.text}"
            except Exception as exc:
                outcome = f"error: {exc}"
            with open(outcome_file, "w") as file:
                file.write(outcome)
        return outcome

    @server.tool()
    async def ask_name(ctx: Context) -> str:
        """Ask the user for a name (elicitation/create, form mode)."""
        result = await ctx.elicit("What is your name?", Name)
        name = result.data.name if result.action == "accept" else ""
        return f"elicited: {result.action} {name}"

    @server.tool()
    async def ask_consent(ctx: Context) -> str:
        """Send the user to a page (elicitation/create, url mode)."""
        result = await ctx.elicit_url("Please consent", "https://example.com/consent", "consent-1")
        return f"url elicitation: {result.action}"

    @server.tool()
    async def wait(seconds: float, marker: str = "") -> str:
        """Take `seconds` to answer; create the file `marker` (if named) when starting."""
        if marker:
            open(marker, "w").close()
        await anyio.sleep(seconds)
        return f"waited {seconds}"

    @server.tool()
    async def roots(ctx: Context) -> str:
        """The client's roots (roots/list, sent without naming the call)."""
        result = await ctx.session.list_roots()
        return "roots: " + " ".join(f"{root.name}={root.uri}" for root in result.roots)

    if args.transport == "stdio":
        server.run("stdio")
    else:
        server.run(args.transport, host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
