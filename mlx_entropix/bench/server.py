"""Tokens/s as an SSE client of mlx_server.py sees them, against the same
request run in-process through the runner: the cost of the server path."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Iterator

from ..engine import GenerationOptions
from ..load import LoadedModel
from ..runner import RunRequest, start_run
from ..server.launch import running_server
from ..sync import SyncCounter
from .measure import BenchError, Summary, TokenStream, ratios, repeat

MESSAGES = [{"role": "user", "content": "Tell the story of a small river town and its mill."}]


def sse_events(response) -> Iterator[tuple[str, str]]:
    """(event, data) pairs of a text/event-stream response, as they arrive."""
    event, data = "message", []
    for raw in response:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip(" "))


def sse_variant(url: str) -> TokenStream:
    """POST /api/generate (greedy) and yield at every `token` event."""
    def stream(prompt: list[int], max_tokens: int, syncs: SyncCounter) -> Iterator[int]:
        body = json.dumps({"messages": MESSAGES, "method": "greedy", "max_tokens": max_tokens}).encode()
        request = urllib.request.Request(f"{url}/api/generate", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            for event, data in sse_events(response):
                if event == "token":
                    yield json.loads(data)["id"]
                elif event == "error":
                    raise BenchError(f"the server failed: {json.loads(data)['message']}")
                elif event == "done":
                    return

    return stream


def in_process_variant(lm: LoadedModel) -> TokenStream:
    """The same request through the runner, as the server runs it."""
    def stream(prompt: list[int], max_tokens: int, syncs: SyncCounter) -> Iterator[int]:
        req = RunRequest(messages=MESSAGES, method="greedy",
                         options=GenerationOptions(max_tokens=max_tokens))
        _, responses = start_run(lm, req, syncs)
        for r in responses:
            if r.record is not None:
                yield r.token

    return stream


def server_comparison(lm: LoadedModel, model: str | None, max_tokens: int, reps: int,
                      warmup: int) -> dict:
    """In-process and SSE figures for the same greedy chat request."""
    prompt = lm.tokenizer.prompt_tokens(MESSAGES)
    local = repeat(in_process_variant(lm), prompt, max_tokens, reps, warmup)
    with running_server(*(["--model", model] if model else [])) as url:
        remote: Summary = repeat(sse_variant(url), prompt, max_tokens, reps, warmup)
    return {"prompt_tokens": len(prompt), "max_tokens": max_tokens,
            "in_process": local.to_dict(), "sse": remote.to_dict(),
            "same_tokens": remote.runs[0].tokens == local.runs[0].tokens,
            "sse_vs_in_process": ratios(remote, local)}
