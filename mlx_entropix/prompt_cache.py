"""Prefilled prompts kept for reuse, so one prompt is prefilled once.

Many generations share a prompt: an eval item's traces (greedy, k
self-consistency samples, every method), a chat regenerated in the UI, a
server client retrying. On a CPU, prefill runs at the machine's peak flops
(about 150 tokens/s on the 0.5B model here), so a batch of short answers
spends as long prefilling as decoding; reusing the cache of an identical
prompt removes that cost and gives exactly the cache a fresh prefill of it
gave.

Entries are per-layer lone caches (mlx-lm's KVCache or RotatingKVCache) of a
prompt's prefilled tokens, never mutated: a batch merges copies of them.
The oldest used entries leave once the entries hold more than the token
budget (the KV memory is tokens x layers x KV heads x head dim x 2 x 4 bytes,
about 25 KB per token for Qwen2.5-0.5B, 46 KB for SmolLM2-135M).
"""

from __future__ import annotations

from collections import OrderedDict

DEFAULT_PROMPT_CACHE_TOKENS = 8192


class PromptCache:
    """Least recently used prefilled prompts within a token budget (0: none kept)."""

    def __init__(self, max_tokens: int = DEFAULT_PROMPT_CACHE_TOKENS):
        if max_tokens < 0:
            raise ValueError(f"the prompt cache's token budget must be >= 0, got {max_tokens}")
        self.max_tokens = max_tokens
        self._entries: OrderedDict[tuple[int, ...], list] = OrderedDict()
        self.tokens = 0
        self.hits = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, ids: tuple[int, ...]) -> list | None:
        """The per-layer caches holding exactly `ids`, or None."""
        cache = self._entries.get(ids)
        if cache is not None:
            self._entries.move_to_end(ids)
            self.hits += 1
        return cache

    def put(self, ids: tuple[int, ...], cache: list) -> None:
        """Keep `cache` (holding exactly `ids`) unless it alone exceeds the budget."""
        if not ids or len(ids) > self.max_tokens or ids in self._entries:
            return
        self._entries[ids] = cache
        self.tokens += len(ids)
        while self.tokens > self.max_tokens:
            old, _ = self._entries.popitem(last=False)
            self.tokens -= len(old)
