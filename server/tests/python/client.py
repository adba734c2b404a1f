"""Drive the gateway with the official MCP Python SDK and print what happened as JSON.

Usage: client.py '<plan JSON>'
  plan = {"url": "...", "mode": "auto" | "legacy" | "sse", "steps": [step, ...],
          "headers": {"Authorization": "Bearer ..."},            (optional)
          "sampling": "<the text every sampling request is answered with>",  (optional)
          "sampling_delay": <seconds the answer to a sampling request takes>,  (optional)
          "elicitation": {"content": {...}},  (optional: accept forms with this content, urls)
          "roots": [{"uri": "file:///...", "name": "..."}]}      (optional)
  step = ["list_tools"] | ["list_tools_of", "<server>"] | ["call", "<tool>", {arguments}] | ["ping"]
         | ["sleep", <seconds>]
A client given "sampling", "elicitation" or "roots" declares that capability and answers with
it; without them it declares none of them.
Prints one JSON document: {"protocol_version": ..., "results": [...], "asked": [...]} where a
list_tools result (also of list_tools_of: `tools/list` with the gateway's `params.server`) is
the sorted tool names, a call result {"is_error", "text", "structured"}, a step that raised
{"error": "<type>: <message>"}, and "asked" what the server asked this client
({"method", "text"}: a sampling request's last message, an elicitation's message or url).
"""

import asyncio

import anyio
import json
import sys
from contextlib import AsyncExitStack
from typing import Any, Literal

import mcp
from mcp import types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


async def run(plan):
    mode = plan.get("mode", "auto")
    # Extra HTTP headers (a bearer token) go on every request of the transport.
    headers = plan.get("headers")
    results = []
    asked = []
    callbacks = client_callbacks(plan, asked)
    async with AsyncExitStack() as stack:
        if mode == "sse":
            client = mcp.Client(sse_client(plan["url"], headers=headers), mode="legacy", **callbacks)
        elif headers:
            http_client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            client = mcp.Client(
                streamable_http_client(plan["url"], http_client=http_client), mode=mode, **callbacks
            )
        else:
            client = mcp.Client(plan["url"], mode=mode, **callbacks)
        await run_steps(client, plan, results, asked)


def client_callbacks(plan, asked):
    """The callbacks (and so the capabilities) the plan gives the client."""
    callbacks = {}
    if "sampling" in plan:

        async def sampling(context, params):
            last = params.messages[-1].content
            asked.append({"method": "sampling/createMessage", "text": getattr(last, "text", "")})
            try:
                await anyio.sleep(plan.get("sampling_delay", 0))
            except anyio.get_cancelled_exc_class():
                asked.append({"method": "cancelled", "text": ""})
                raise
            return types.CreateMessageResult(
                role="assistant",
                content=types.TextContent(type="text", text=plan["sampling"]),
                model="test-model",
                stop_reason="endTurn",
            )

        callbacks["sampling_callback"] = sampling
    if "elicitation" in plan:

        async def elicitation(context, params):
            if getattr(params, "mode", None) == "url":
                asked.append({"method": "elicitation/create", "text": params.url})
                return types.ElicitResult(action="accept")
            asked.append({"method": "elicitation/create", "text": params.message})
            return types.ElicitResult(action="accept", content=plan["elicitation"].get("content", {}))

        callbacks["elicitation_callback"] = elicitation
    if "roots" in plan:

        async def list_roots(context):
            asked.append({"method": "roots/list", "text": ""})
            return types.ListRootsResult(roots=[types.Root(**root) for root in plan["roots"]])

        callbacks["list_roots_callback"] = list_roots
    return callbacks


class ListToolsOfServer(types.Request[dict[str, Any], Literal["tools/list"]]):
    """`tools/list` with the gateway's `params.server`, which the SDK's own request drops."""

    method: Literal["tools/list"] = "tools/list"
    params: dict[str, Any]


async def run_steps(client, plan, results, asked):
    async with client:
        for step in plan["steps"]:
            try:
                if step[0] == "list_tools":
                    listed = await client.list_tools()
                    results.append(sorted(t.name for t in listed.tools))
                elif step[0] == "list_tools_of":
                    request = ListToolsOfServer(params={"server": step[1]})
                    listed = await client.session.send_request(request, types.ListToolsResult)
                    results.append(sorted(t.name for t in listed.tools))
                elif step[0] == "call":
                    result = await client.call_tool(step[1], step[2] if len(step) > 2 else {})
                    text = "\n".join(c.text for c in result.content if getattr(c, "type", "") == "text")
                    results.append(
                        {
                            "is_error": bool(result.is_error),
                            "text": text,
                            "structured": result.structured_content,
                        }
                    )
                elif step[0] == "sleep":
                    await anyio.sleep(step[1])
                    results.append("slept")
                elif step[0] == "ping":
                    await client.send_ping()
                    results.append("pong")
                else:
                    results.append({"error": f"unknown step {step[0]}"})
            except Exception as exc:  # report, do not crash: the test asserts on it
                results.append({"error": f"{type(exc).__name__}: {exc}"})
        version = getattr(client, "protocol_version", None)
    print(json.dumps({"protocol_version": version, "results": results, "asked": asked}))


if __name__ == "__main__":
    asyncio.run(run(json.loads(sys.argv[1])))
