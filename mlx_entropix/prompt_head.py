"""The chat template's head: the tokens every chat prompt of a model begins
with when it brings no system message of its own (the template's default
system turn and the opening of the user's turn), prefilled once and reused.

Qwen2.5's head is 24 tokens ("<|im_start|>system\\nYou are Qwen, created by
Alibaba Cloud. ..."), a fifth of a GSM8K prompt, and on a CPU a prompt's
prefill costs the same seconds at any batch size.

A prompt that begins with the head is always prefilled in two passes, the head
and then the rest, whether the head's cache was at hand or not. So a
prompt's cache is the same whatever was prefilled before it: a pass of
different length rounds differently (the split matmul's kernel serves up to
64 rows, OpenBLAS more), and a reused head must give exactly what a fresh
prefill of the prompt gives. The lone engine (engine.Engine.prefill) and the
batch generator (batch.py) split alike, so a batched sequence still equals
the same request run alone.
"""

from __future__ import annotations

from typing import Sequence

from mlx_lm.models.cache import KVCache

from .tokenizer import Tokenizer

# Two user messages that differ from their first character: the template's
# renderings share exactly the tokens before the user's text.
PROBES = ("Alpha", "Zulu")


def template_head(tokenizer: Tokenizer, cache: list) -> tuple[int, ...]:
    """The ids every single-turn chat prompt without a system message begins
    with; () where there is no chat template, or where a layer's cache is not
    a plain KVCache (a sliding window's cache is not split)."""
    if not tokenizer.has_chat_template or any(type(c) is not KVCache for c in cache):
        return ()
    a, b = (tokenizer.prompt_tokens([{"role": "user", "content": p}]) for p in PROBES)
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return tuple(a[:n])


def head_length(ids: Sequence[int], head: tuple[int, ...]) -> int:
    """How many leading ids to prefill as the head's pass: len(head) where ids
    begin with the head and go on past it, else 0 (one pass)."""
    n = len(head)
    if n == 0 or len(ids) <= n or tuple(ids[:n]) != head:
        return 0
    return n
