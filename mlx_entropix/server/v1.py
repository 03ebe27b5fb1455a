"""The OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/models."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

from fastapi import APIRouter, Request
from sse_starlette import EventSourceResponse

from ..trace import TokenRecord
from .context import ServerContext, dumps
from .convert import openai_run_request
from .errors import ERROR_RESPONSES, generation_failed
from .openai import Shaper, chat_logprobs, completion_logprobs, usage
from .schemas import ChatCompletionRequest, CompletionRequest
from .stops import StopMatcher
from .worker import Generation

log = logging.getLogger(__name__)


class TextStream:
    """A generation's text as OpenAI clients see it: cut at a stop string,
    with the OpenAI finish reason and the tokens it took."""

    def __init__(self, generation: Generation, stops: list[str]):
        self.generation = generation
        self.matcher = StopMatcher(stops)
        self.records: list[TokenRecord] = []
        self.text = ""
        self.tail = ""  # text after the last token: held back for a stop string, or a partial character
        self.finish = "length"

    async def pieces(self, disconnected: Callable[[], Awaitable[bool]] | None = None
                     ) -> AsyncIterator[tuple[str, TokenRecord]]:
        async with aclosing(self.generation.responses(disconnected)) as responses:
            async for r in responses:
                text, stopped = self.matcher.feed(r.text if r.record is None else r.record.text)
                if r.record is None:
                    self.tail += text
                else:
                    self.records.append(r.record)
                    self.text += text
                    yield text, r.record
                if stopped or r.finish_reason:
                    self.finish = "length" if r.finish_reason == "length" and not stopped else "stop"
                if stopped:
                    return
        self.tail += self.matcher.flush()

    @property
    def whole_text(self) -> str:
        return self.text + self.tail

    def usage(self) -> dict[str, int]:
        return usage(self.generation.trace.prompt["n_tokens"], len(self.records))


def _logprobs(ctx: ServerContext, body: ChatCompletionRequest | CompletionRequest,
              records: list[TokenRecord], offset: int) -> dict[str, Any] | None:
    if isinstance(body, ChatCompletionRequest):
        return chat_logprobs(records, ctx.lm.tokenizer, body.top_logprobs or 0) if body.logprobs else None
    if body.logprobs is None:
        return None
    return completion_logprobs(records, ctx.lm.tokenizer, body.logprobs, offset)


async def _stream(ctx: ServerContext, body: ChatCompletionRequest | CompletionRequest,
                  shaper: Shaper, text: TextStream) -> AsyncIterator[dict[str, str]]:
    try:
        if shaper.chat:
            yield {"data": dumps(shaper.role_chunk())}
        async for piece, record in text.pieces():
            offset = len(text.text) - len(piece)
            logprobs = _logprobs(ctx, body, [record], offset)
            yield {"data": dumps(shaper.token_chunk(piece, record, logprobs))}
        yield {"data": dumps(shaper.final_chunk(text.tail, text.finish))}
        if body.stream_options and body.stream_options.include_usage:
            yield {"data": dumps(shaper.usage_chunk(text.usage()))}
        yield {"data": "[DONE]"}
    except Exception as e:  # the stream has started: the error goes in it
        log.exception("streamed generation failed")
        yield {"data": dumps(generation_failed(e).body())}


async def _complete(ctx: ServerContext, body: ChatCompletionRequest | CompletionRequest,
                    request: Request) -> Any:
    generation = ctx.submit(openai_run_request(body, ctx.lm, ctx.default_method))
    shaper = Shaper(ctx.lm.name, chat=isinstance(body, ChatCompletionRequest))
    text = TextStream(generation, body.stops())
    if body.stream:
        return EventSourceResponse(_stream(ctx, body, shaper, text), sep="\n")
    try:
        async for _ in text.pieces(request.is_disconnected):
            pass
    except Exception as e:
        log.exception("generation failed")
        raise generation_failed(e) from None
    return shaper.completion(text.whole_text, text.finish, text.usage(),
                             _logprobs(ctx, body, text.records, 0))


def router(ctx: ServerContext) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["openai"])

    @api.post("/chat/completions", responses=ERROR_RESPONSES)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
        """Chat completion, whole or streamed (SSE, `data: [DONE]` at the end)."""
        return await _complete(ctx, body, request)

    @api.post("/completions", responses=ERROR_RESPONSES)
    async def completions(body: CompletionRequest, request: Request) -> Any:
        """Text completion of a raw prompt (no chat template)."""
        return await _complete(ctx, body, request)

    @api.get("/models")
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": ctx.lm.name, "object": "model", "created": 0,
                                            "owned_by": "mlx-entropix"}]}

    return api
