"""The generation loop: prompt tokens -> decode steps -> a stream of tokens with records.

Each decode step runs entirely on device (engine.py) and packs what the host
needs into one row per sequence. The host reads that row once per token (the
only synchronisation), while the next step is already queued with the sampled
token, as mlx-lm does. When the host then learns that the step asked for
something else (a thinking-token insertion or a branch), the queued step is
discarded and the cache rewound by one position.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Iterator

import mlx.core as mx

from .branching import run_branches
from .engine import Engine, GenerationError, GenerationOptions, Step
from .load import LoadedModel
from .packed import Row
from .sampler import SamplerConfig
from .sampler.decide import OUTCOME_CODES
from .sync import SyncCounter
from .trace import TokenRecord


@dataclass
class GenerationResponse:
    """One step of the stream, shaped like mlx-lm's GenerationResponse.

    record is the generated token's trace entry; the closing response after an
    end-of-sequence token has record None and finish_reason "stop".
    """

    text: str
    token: int
    record: TokenRecord | None
    prompt_tokens: int
    prompt_tps: float
    generation_tokens: int
    generation_tps: float
    peak_memory: float
    time_to_first_token: float
    finish_reason: str | None = None


def peak_memory_gb() -> float:
    return mx.get_peak_memory() / 1e9


def rewind(cache: list, n: int) -> None:
    for c in cache:
        c.trim(n)


def stream_generate(lm: LoadedModel, prompt: list[int], cfg: SamplerConfig,
                    options: GenerationOptions | None = None,
                    syncs: SyncCounter | None = None) -> Iterator[GenerationResponse]:
    """Generate from prompt token ids, one GenerationResponse per token.

    Stops on any end-of-sequence id of the tokenizer (not part of the answer),
    at max_tokens, or when options.cancelled() turns true; the last response
    carries the finish_reason ("stop", "length" or "cancelled").
    """
    opts = options or GenerationOptions()
    opts.check_sampler(cfg.check_depth(lm.model.args.num_hidden_layers))
    if not prompt:
        raise GenerationError("the prompt is empty")
    room = lm.context_length - len(prompt)
    if room <= 0:
        raise GenerationError(f"the prompt has {len(prompt)} tokens but the model's context is "
                              f"{lm.context_length}; shorten the prompt")
    max_tokens = min(opts.max_tokens, room)
    engine = Engine(lm, cfg, opts, syncs)
    eos = lm.tokenizer.eos_token_ids
    detok = lm.tokenizer.detokenizer()
    mx.reset_peak_memory()
    start = time.perf_counter()
    cache = lm.model.make_cache()
    key = mx.random.key(opts.seed)
    engine.prefill(prompt, cache)

    def next_key() -> mx.array:
        nonlocal key
        key, sub = mx.random.split(key)
        return sub

    def dispatch(token: mx.array | int, think_allowed: bool) -> Step:
        ids = mx.array([[token]], dtype=mx.int32) if isinstance(token, int) else token.reshape(1, 1)
        return engine.forward(ids, cache, next_key(), think_allowed)

    n = 0
    first_token_time = 0.0
    think_count = 0
    forced: deque[int] = deque()  # positions in the think text still to emit

    def response(text: str, token: int, record: TokenRecord | None, finish: str | None
                 ) -> GenerationResponse:
        gen_time = time.perf_counter() - start - first_token_time
        return GenerationResponse(
            text=text, token=token, record=record, prompt_tokens=len(prompt),
            prompt_tps=len(prompt) / max(first_token_time, 1e-9),
            generation_tokens=n, generation_tps=(n - 1) / gen_time if n > 1 else 0.0,
            peak_memory=peak_memory_gb(), time_to_first_token=first_token_time,
            finish_reason=finish)

    def emit(rec: TokenRecord, last: bool) -> Iterator[GenerationResponse]:
        """Yield one token; returns (via StopIteration value) whether generation ends."""
        nonlocal n
        if rec.id in eos:
            yield response(detok.finalize(), rec.id, None, "stop")
            return True
        n += 1
        rec.text = detok.add(rec.id)
        cancelled = opts.cancelled is not None and opts.cancelled()
        if n >= max_tokens or cancelled or last:
            rec.text += detok.finalize()
            yield response(rec.text, rec.id, rec, "cancelled" if cancelled else "length")
            return True
        yield response(rec.text, rec.id, rec, None)
        return False

    current = dispatch(prompt[-1], think_allowed=cfg.max_think_insertions > 0)
    while True:
        # Queue the next step with the token this one is expected to emit.
        queued = None
        if n + 1 < max_tokens:
            if forced:
                queued = dispatch(engine.think_ids[forced[0]], think_allowed=False)
            else:
                queued = dispatch(current.token, think_allowed=think_count < cfg.max_think_insertions)
        row = engine.syncs.to_host(current.packed)[0]
        if n == 0:
            first_token_time = time.perf_counter() - start

        outcome = OUTCOME_CODES[Row(row).outcome_code]
        if forced:
            rec = engine.insertion(row, n, forced.popleft())
        elif outcome == "think" and engine.think_ids:
            if queued is not None:
                rewind(cache, 1)
            think_count += 1
            forced.extend(range(len(engine.think_ids)))
            rec = engine.insertion(row, n, forced.popleft())
            queued = dispatch(rec.id, think_allowed=False) if n + 1 < max_tokens else None
        elif queued is not None and Row(row).branch:
            rewind(cache, 1)
            result = run_branches(engine, cache, current.logits, row, n, max_tokens - n, next_key)
            cache = result.cache
            for i, rec in enumerate(result.records):
                last = result.next_step is None and i == len(result.records) - 1
                done = yield from emit(rec, last=last)
                if done:
                    return
            current = result.next_step
            continue
        else:
            rec = engine.record(row, n)
        done = yield from emit(rec, last=queued is None)
        if done:
            return
        current = queued
