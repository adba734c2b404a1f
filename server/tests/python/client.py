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
       | ["capabilities"] | ["list_prompts"] | ["get_prompt", "<name>", {arguments}]
       | ["list_resources"] | ["list_resource_templates"] | ["read_resource", "<uri>"]
       | ["complete_prompt", "<prompt>", "<argument>", "<value>"]
       | ["subscribe", "<uri>"] | ["unsubscribe", "<uri>"] | ["wait_notification", "<method>", seconds]
       | ["clear_notifications"] | ["get_prompt_abandoned", "<name>", {arguments}, seconds]
A client given "sampling", "elicitation" or "roots" declares that capability and answers with
it; without them it declares none of them.
Prints one JSON document: {"protocol_version": ..., "results": [...], "asked": [...]} where a
list_tools result (also of list_tools_of: `tools/list` with the gateway's `params.server`) is
the sorted tool names, a call result {"is_error", "text", "structured"}, a list of prompts,
resources or templates {"names": [every page's, in order], "pages": n}, a prompt
{"description", "texts"}, a read {"uris", "texts"}, a completion its values, capabilities the
server's as JSON, wait_notification whether the notification came since the last clear_notifications (and its
params), get_prompt_abandoned "abandoned" when it gave up waiting after `seconds`, a step
that raised {"error": "<type>: <message>"}, and "asked" what the server asked this client
({"method", "text"}: a sampling request's last message, an elicitation's message or url).
"""

import asyncio
import json
import sys
from contextlib import AsyncExitStack
from typing import Any, Literal

import anyio
import mcp
from mcp import types
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


# Server notifications received so far: (method, params as JSON).
NOTIFICATIONS: list[tuple[str, Any]] = []


async def note_notification(message):
    if isinstance(message, types.ServerNotification):
        params = getattr(message, "params", None)
        NOTIFICATIONS.append((message.method, params.model_dump(mode="json") if params else None))


async def run(plan):
    mode = plan.get("mode", "auto")
    # Extra HTTP headers (a bearer token) go on every request of the transport.
    headers = plan.get("headers")
    results = []
    asked = []
    callbacks = client_callbacks(plan, asked)
    async with AsyncExitStack() as stack:
        if mode == "sse":
            transport = sse_client(plan["url"], headers=headers)
            mode = "legacy"
        elif headers:
            http_client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
            transport = streamable_http_client(plan["url"], http_client=http_client)
        else:
            transport = plan["url"]
        client = mcp.Client(transport, mode=mode, message_handler=note_notification, **callbacks)
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


async def every_page(list_page, items_of, name_of):
    """Follow the server's cursors to the end: every item's name in order, and the page count."""
    names, pages, cursor = [], 0, None
    while True:
        page = await list_page(cursor=cursor, cache_mode="bypass")
        pages += 1
        names.extend(name_of(item) for item in items_of(page))
        cursor = page.next_cursor
        if not cursor:
            return {"names": names, "pages": pages}


def texts_of(contents):
    return [getattr(c, "text", None) for c in contents]


async def wait_notification(method, seconds):
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        for seen, params in NOTIFICATIONS:
            if seen == method:
                return {"received": True, "params": params}
        await asyncio.sleep(0.05)
    return {"received": False, "seen": [seen for seen, _ in NOTIFICATIONS]}


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
                elif step[0] == "capabilities":
                    results.append(client.server_capabilities.model_dump(mode="json", exclude_none=True))
                elif step[0] == "list_prompts":
                    results.append(await every_page(client.list_prompts, lambda p: p.prompts, lambda p: p.name))
                elif step[0] == "get_prompt":
                    prompt = await client.get_prompt(step[1], step[2] if len(step) > 2 else None)
                    texts = [getattr(m.content, "text", None) for m in prompt.messages]
                    results.append({"description": prompt.description, "texts": texts})
                elif step[0] == "list_resources":
                    results.append(await every_page(client.list_resources, lambda p: p.resources, lambda r: str(r.uri)))
                elif step[0] == "list_resource_templates":
                    results.append(
                        await every_page(
                            client.list_resource_templates, lambda p: p.resource_templates, lambda t: t.uri_template
                        )
                    )
                elif step[0] == "read_resource":
                    read = await client.read_resource(step[1], cache_mode="bypass")
                    results.append({"uris": [str(c.uri) for c in read.contents], "texts": texts_of(read.contents)})
                elif step[0] == "complete_prompt":
                    completion = await client.complete(
                        types.PromptReference(type="ref/prompt", name=step[1]), {"name": step[2], "value": step[3]}
                    )
                    results.append(completion.completion.values)
                elif step[0] == "subscribe":
                    await client.subscribe_resource(step[1])
                    results.append("subscribed")
                elif step[0] == "unsubscribe":
                    await client.unsubscribe_resource(step[1])
                    results.append("unsubscribed")
                elif step[0] == "clear_notifications":
                    NOTIFICATIONS.clear()
                    results.append("cleared")
                elif step[0] == "get_prompt_abandoned":
                    # Give up on the request: the SDK cancels it (notifications/cancelled).
                    with anyio.move_on_after(step[3]) as scope:
                        await client.get_prompt(step[1], step[2])
                    results.append("abandoned" if scope.cancelled_caught else "answered")
                elif step[0] == "wait_notification":
                    results.append(await wait_notification(step[1], step[2]))
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
