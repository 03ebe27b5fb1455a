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


def _entry(text: str, logprob: float) -> dict[str, Any]:
    return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8"))}


def chat_logprobs(records: list[TokenRecord], tok: Tokenizer, top_n: int) -> dict[str, Any]:
    """`{"content": [...]}`: per token, the sampled token, then its most probable alternatives."""
    return {"content": [
        {**_entry(tok.token_text(r.id), r.logprob),
         "top_logprobs": [_entry(a.text, a.logprob) for a in r.top[:top_n]]}
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

    def _choice(self, text: str | None, logprobs: dict[str, Any] | None, finish: str | None,
                role: bool = False, whole: bool = False) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": 0}
        if not self.chat:
            choice["text"] = text or ""
        elif whole:
            choice["message"] = {"role": "assistant", "content": text or ""}
        else:
            delta: dict[str, Any] = {"role": "assistant"} if role else {}
            if text is not None:
                delta["content"] = text
            choice["delta"] = delta
        choice["logprobs"] = logprobs
        choice["finish_reason"] = finish
        return choice

    @property
    def _chunk_kind(self) -> str:
        return "chat.completion.chunk" if self.chat else "text_completion"

    def role_chunk(self) -> dict[str, Any]:
        return self._object(self._chunk_kind, [self._choice("", None, None, role=True)])

    def token_chunk(self, text: str, record: TokenRecord, logprobs: dict[str, Any] | None
                    ) -> dict[str, Any]:
        return {**self._object(self._chunk_kind, [self._choice(text, logprobs, None)]),
                "entropix": record.to_dict()}

    def final_chunk(self, tail: str, finish: str) -> dict[str, Any]:
        """The chunk with the finish reason; tail is text held back for stop strings."""
        return self._object(self._chunk_kind, [self._choice(tail or (None if self.chat else ""),
                                                            None, finish)])

    def usage_chunk(self, counts: dict[str, int]) -> dict[str, Any]:
        return {**self._object(self._chunk_kind, []), "usage": counts}

    def completion(self, text: str, finish: str, counts: dict[str, int],
                   logprobs: dict[str, Any] | None) -> dict[str, Any]:
        kind = "chat.completion" if self.chat else "text_completion"
        return {**self._object(kind, [self._choice(text, logprobs, finish, whole=True)]),
                "usage": counts}
