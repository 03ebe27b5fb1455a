"""The generation loop: prompt tokens -> decode steps -> a stream of tokens with records.

Each decode step runs entirely on device (engine.py) and packs what the host
needs into one row per sequence. The host reads that row once per token (the
only synchronisation on the GPU; on a CPU where the host computes the logit
statistics, vocab_stats.py, each step also waits for its logits), while the
next step is already queued with the sampled token, as mlx-lm does. When the
host then learns that the step asked for something else (a thinking-token
insertion or a branch), the queued step is discarded and the cache rewound by
one position.
"""

from __future__ import annotations

from typing import Iterator

import mlx.core as mx

from .branching import run_branches
from .engine import Engine, Step
from .requests import GenerationOptions
from .load import LoadedModel
from .sampler import SamplerConfig
from .sequence import Event, GenerationResponse, Sequence, check_prompt, peak_memory_gb
from .sync import SyncCounter

__all__ = ["GenerationResponse", "peak_memory_gb", "rewind", "stream_generate"]


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
    max_tokens = check_prompt(lm, prompt, opts)
    engine = Engine(lm, cfg, opts, syncs)
    mx.reset_peak_memory()
    seq = Sequence(lm, engine, prompt, max_tokens, opts)
    cache = lm.model.make_cache()
    key = mx.random.key(opts.seed)
    engine.prefill(prompt, cache)
    engine.syncs.mark_prefill()

    def next_key() -> mx.array:
        nonlocal key
        key, sub = mx.random.split(key)
        return sub

    def dispatch(token: mx.array | int, think_allowed: bool) -> Step:
        ids = mx.array([[token]], dtype=mx.int32) if isinstance(token, int) else token.reshape(1, 1)
        return engine.forward(ids, cache, next_key(), think_allowed)

    current = dispatch(prompt[-1], think_allowed=seq.think_allowed(False))
    while True:
        # Queue the next step with the token this one is expected to emit.
        queued = None
        if seq.more:
            if seq.forced:
                queued = dispatch(engine.think_ids[seq.forced[0]], think_allowed=False)
            else:
                queued = dispatch(current.token, think_allowed=seq.think_allowed(False))
        row = engine.syncs.to_host(current.packed)[0]
        seq.mark_first()
        rec, event = seq.next_record(row, can_branch=queued is not None)
        if event is Event.THINK:
            if queued is not None:
                rewind(cache, 1)
            queued = dispatch(rec.id, think_allowed=False) if seq.more else None
        elif event is Event.BRANCH:
            rewind(cache, 1)
            result = run_branches(engine, cache, current.logits, row, seq.n, max_tokens - seq.n, next_key)
            cache = result.cache
            for i, rec in enumerate(result.records):
                last = result.next_step is None and i == len(result.records) - 1
                response, done = seq.emit(rec, last=last)
                yield response
                if done:
                    return
            current = result.next_step
            continue
        response, done = seq.emit(rec, last=queued is None)
        yield response
        if done:
            return
        current = queued
