"""OpenAI response shapes: chat and text completions, whole or as stream
chunks, with usage and logprobs. Token chunks also carry `entropix`, the
token's trace entry (outcome, effective parameters, metrics)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ..tokenizer import Tokenizer
from ..trace import TokenRecord


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _entry(tok: Tokenizer, token_id: int, logprob: float) -> dict[str, Any]:
    """A token's text and its real bytes (a token may hold part of a character)."""
    return {"token": tok.token_text(token_id), "logprob": logprob,
            "bytes": list(tok.token_bytes(token_id))}


def chat_logprobs(records: list[TokenRecord], tok: Tokenizer, top_n: int) -> dict[str, Any]:
    """`{"content": [...]}`: per token, the sampled token, then its most probable alternatives."""
    return {"content": [
        {**_entry(tok, r.id, r.logprob),
         "top_logprobs": [_entry(tok, a.id, a.logprob) for a in r.top[:top_n]]}
        for r in records]}


def completion_logprobs(records: list[TokenRecord], tok: Tokenizer, top_n: int,
                        offset: int) -> dict[str, Any]:
    """The legacy completions shape; offset is where these tokens' text starts."""
    offsets = []
    for r in records:
        offsets.append(offset)
        offset += len(r.text)
    return {"tokens": [tok.token_text(r.id) for r in records],
            "token_logprobs": [r.logprob for r in records],
            "top_logprobs": [{a.text: a.logprob for a in r.top[:top_n]} for r in records],
            "text_offset": offsets}


@dataclass
class Shaper:
    """Builds the objects of one response; `chat` picks chat or text completions."""

    model: str
    chat: bool
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.id = self.id or f"{'chatcmpl' if self.chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"

    def _object(self, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.id, "object": kind, "created": self.created, "model": self.model,
                "choices": choices}

    def _piece(self, text: str | None, logprobs: dict[str, Any] | None, finish: str | None
               ) -> dict[str, Any]:
        """A streamed choice: a chat delta, or a text piece."""
        if self.chat:
            body: dict[str, Any] = {"delta": {} if text is None else {"content": text}}
        else:
            body = {"text": text or ""}
        return {"index": 0, **body, "logprobs": logprobs, "finish_reason": finish}

    @property
    def _chunk_kind(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"

    def role_chunk(self) -> dict[str, Any]:
        """A chat stream's first chunk, as OpenAI sends it."""
        choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None,
                  "finish_reason": None}
        return self._object(self._chunk_kind, [choice])

    def token_chunk(self, text: str, record: TokenRecord, logprobs: dict[str, Any] | None
                    ) -> dict[str, Any]:
        return {**self._object(self._chunk_kind, [self._piece(text, logprobs, None)]),
                "entropix": record.to_dict()}

    def final_chunk(self, tail: str, finish: str) -> dict[str, Any]:
        """The chunk with the finish reason; tail is text held back for stop strings."""
        return self._object(self._chunk_kind, [self._piece(tail or None, None, finish)])

    def usage_chunk(self, counts: dict[str, int]) -> dict[str, Any]:
        return {**self._object(self._chunk_kind, []), "usage": counts}

    def completion(self, text: str, finish: str, counts: dict[str, int],
                   logprobs: dict[str, Any] | None) -> dict[str, Any]:
        if self.chat:
            kind, body = "chat.completion", {"message": {"role": "assistant", "content": text}}
        else:
            kind, body = "text_completion", {"text": text}
        choice = {"index": 0, **body, "logprobs": logprobs, "finish_reason": finish}
        return {**self._object(kind, [choice]), "usage": counts}
