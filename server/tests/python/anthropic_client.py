"""The official Anthropic Python SDK as a client of the gateway's Anthropic proxy.

    python anthropic_client.py '<plan JSON>'

The plan: {"base_url": ..., "auth_token": ... | "api_key": ..., "steps": [step, ...]}; the
client is made as Claude Code's settings make it (`ANTHROPIC_BASE_URL` with
`ANTHROPIC_AUTH_TOKEN`, sent as `Authorization: Bearer`, or `ANTHROPIC_API_KEY`, sent as
`x-api-key`), with retries off so that every answer is seen. Steps:

- {"op": "create", "model", "text", "beta"?}: a plain Messages request;
- {"op": "stream", "model", "text"}: a streamed one, read to its end through the SDK's
  stream helper; reports the text, the final usage and when the first and last events came;
- {"op": "hang_up", "model", "events"}: a stream read for that many events, then closed;
- {"op": "count", "model", "text"}; {"op": "models"}.

Prints one JSON list: per step {"ok": true, ...} or {"ok": false, "status", "type",
"message", "retry_after"} for an API error.
"""

import json
import sys
import time

import anthropic


def error_report(error):
    body = error.body if isinstance(error.body, dict) else {}
    detail = body.get("error", {}) if isinstance(body.get("error"), dict) else {}
    return {
        "ok": False,
        "status": error.status_code,
        "type": detail.get("type"),
        "message": detail.get("message"),
        "shape": body.get("type"),
        "retry_after": error.response.headers.get("retry-after"),
        "request_id": error.response.headers.get("request-id"),
    }


def usage_of(usage):
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens,
    }


def run(client, step):
    op = step["op"]
    messages = [{"role": "user", "content": step.get("text", "Hello")}]
    if op == "create":
        extra = {}
        if step.get("beta"):
            extra["extra_headers"] = {"anthropic-beta": step["beta"]}
        message = client.messages.create(
            model=step["model"], max_tokens=64, messages=messages, **extra
        )
        return {
            "ok": True,
            "text": "".join(block.text for block in message.content if block.type == "text"),
            "stop_reason": message.stop_reason,
            "usage": usage_of(message.usage),
        }
    if op == "stream":
        started = time.monotonic()
        first = None
        with client.messages.stream(model=step["model"], max_tokens=64, messages=messages) as stream:
            for _event in stream:
                if first is None:
                    first = time.monotonic() - started
            message = stream.get_final_message()
        return {
            "ok": True,
            "text": "".join(block.text for block in message.content if block.type == "text"),
            "stop_reason": message.stop_reason,
            "usage": usage_of(message.usage),
            "first_event_s": first,
            "total_s": time.monotonic() - started,
        }
    if op == "hang_up":
        seen = 0
        stream = client.messages.create(
            model=step["model"], max_tokens=64, messages=messages, stream=True
        )
        for _event in stream:
            seen += 1
            if seen >= step["events"]:
                break
        stream.close()
        return {"ok": True, "events": seen}
    if op == "count":
        counted = client.messages.count_tokens(model=step["model"], messages=messages)
        return {"ok": True, "input_tokens": counted.input_tokens}
    if op == "models":
        return {"ok": True, "ids": [model.id for model in client.models.list()]}
    raise ValueError(f"unknown op {op}")


def main():
    plan = json.loads(sys.argv[1])
    client = anthropic.Anthropic(
        base_url=plan["base_url"],
        api_key=plan.get("api_key"),
        auth_token=plan.get("auth_token"),
        max_retries=0,
        timeout=plan.get("timeout", 60),
    )
    results = []
    for step in plan["steps"]:
        try:
            results.append(run(client, step))
        except anthropic.APIStatusError as error:
            results.append(error_report(error))
        except anthropic.APIConnectionError as error:
            results.append({"ok": False, "status": None, "type": "connection", "message": str(error)})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
