"""Token generation with per-token metrics: prompt -> model -> metrics -> policy -> stream.

One decode step runs entirely on device: the forward pass with attention
statistics, the logit statistics, the sampling decision and the top
alternatives, all packed into one float32 row per sequence. The host reads that
row once per token (the only synchronisation), while the next step is already
queued with the sampled token, as mlx-lm does. When the host then learns that
the step asked for something else (a thinking-token insertion or a branch), the
queued step is discarded and the cache rewound by one position.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator

import mlx.core as mx
import numpy as np

from .branching import SENTENCE_END, run_branches
from .load import LoadedModel
from .metrics import SIGNALS, log_softmax, token_signals
from .sampler import Decision, SamplerConfig, compiled_decide
from .sampler.decide import OUTCOME_CODES
from .sync import SyncCounter
from .trace import Alternative, Metrics, SamplingParams, TokenRecord

PREFILL_CHUNK = 512
N_TOP = 5

# Layout of the packed per-token row: these columns, the signals, the top ids,
# the top logprobs, then (optionally) per-layer/per-head attention arrays.
_HEAD = ("token", "outcome", "temperature", "top_p", "top_k", "min_p", "logprob", "branch")
_BRANCH = _HEAD.index("branch")
_SIG = len(_HEAD)
_TOP = _SIG + len(SIGNALS)
_N_FIXED = _TOP + 2 * N_TOP


def packed_layout() -> dict[str, int]:
    """Column indices of the packed row, for readers outside this module."""
    return {"token": 0, "entropy": _SIG, "top_ids": _TOP, "n_top": N_TOP}


class GenerationError(ValueError):
    """A generation request that cannot run (e.g. a prompt longer than the context)."""


@dataclass
class GenerationOptions:
    max_tokens: int = 256
    seed: int = 0
    metrics: str = "all"  # "all" | "logits" | "none"
    layers: bool = False  # include per-layer, per-head attention arrays in the records
    cancelled: Callable[[], bool] | None = None


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


@dataclass
class Step:
    """A dispatched decode step, on device: packed rows, sampled tokens, logits."""

    packed: mx.array
    token: mx.array
    logits: mx.array


def peak_memory_gb() -> float:
    return mx.get_peak_memory() / 1e9


def pack_step(logprobs: mx.array, signals: dict[str, mx.array], stats, decision: Decision,
              think_ids: mx.array, with_layers: bool) -> mx.array:
    """Everything the host needs about the chosen tokens, as one [B, N] float32 array."""
    chosen = mx.take_along_axis(logprobs, decision.token[:, None].astype(mx.int32), axis=-1)[:, 0]
    k = min(N_TOP, logprobs.shape[-1])
    top_ids = mx.argpartition(-logprobs, k - 1, axis=-1)[:, :k]  # no full-vocabulary sort
    top_ids = mx.take_along_axis(top_ids, mx.argsort(-mx.take_along_axis(logprobs, top_ids, -1), -1), -1)
    if k < N_TOP:
        top_ids = mx.concatenate([top_ids, mx.repeat(top_ids[:, :1], N_TOP - k, axis=1)], axis=1)
    top_lp = mx.take_along_axis(logprobs, top_ids, axis=-1)
    cols = [decision.token, decision.outcome, decision.temperature, decision.top_p,
            decision.top_k, decision.min_p, chosen, decision.branch,
            *(signals[n] for n in SIGNALS)]
    parts = [mx.stack([c.astype(mx.float32) for c in cols], axis=1),
             top_ids.astype(mx.float32), top_lp, logprobs[:, think_ids]]
    if with_layers and stats is not None:
        B = logprobs.shape[0]
        parts += [stats.head_entropy.reshape(B, -1), stats.head_varentropy.reshape(B, -1)]
    return mx.concatenate(parts, axis=1)


class Engine:
    """Runs a LoadedModel under a sampler configuration."""

    def __init__(self, lm: LoadedModel, cfg: SamplerConfig, options: GenerationOptions,
                 syncs: SyncCounter | None = None):
        self.lm, self.cfg, self.opts = lm, cfg, options
        self.syncs = syncs or SyncCounter()
        self.think_ids = lm.tokenizer.encode(cfg.think_text) if cfg.think_text else []
        self.decide = compiled_decide(cfg)
        self._think = mx.array(self.think_ids, dtype=mx.int32)
        self._layers_at = _N_FIXED + len(self.think_ids)
        args = lm.model.args
        self._layers_shape = (2, args.num_hidden_layers, args.num_attention_heads)

    def is_boundary(self, token: int) -> bool:
        """Does this token end a sentence or a line?"""
        return token in self.lm.tokenizer.ids_containing(SENTENCE_END)

    def forward(self, tokens: mx.array, cache: list, key: mx.array, think_allowed: bool) -> Step:
        """Feed tokens [B, L]; decide the next token of each row from the last position."""
        if tokens.shape[1] > 1:
            self.lm.model.forward(tokens[:, :-1], cache)
            tokens = tokens[:, -1:]
        logits, stats = self.lm.model.forward(tokens, cache, with_stats=self.opts.metrics == "all")
        logits = logits[:, -1, :].astype(mx.float32)
        logprobs = log_softmax(logits)
        if self.opts.metrics == "none":
            signals = {name: mx.zeros(logits.shape[:1]) for name in SIGNALS}
        else:
            signals = token_signals(logprobs, stats, self.cfg.attn_layer)
        allowed = mx.full((logits.shape[0],), think_allowed and bool(self.think_ids))
        decision = self.decide(logits, signals, key, allowed)
        packed = pack_step(logprobs, signals, stats, decision, self._think, self.opts.layers)
        mx.async_eval(packed, decision.token)
        return Step(packed, decision.token.astype(mx.int32), logits)

    def insertion(self, row: np.ndarray, index: int, position: int) -> TokenRecord:
        """The record of the think text's token at `position`, from the row before it."""
        return self.record(row, index, "", token=self.think_ids[position], outcome="think",
                           inserted=True, logprob=float(row[_N_FIXED + position]))

    def prefill(self, prompt: list[int], cache: list) -> None:
        """All prompt tokens but the last, in chunks, through the fused attention."""
        ids = mx.array(prompt[:-1], dtype=mx.int32)[None]
        for start in range(0, ids.shape[1], PREFILL_CHUNK):
            self.lm.model.forward(ids[:, start:start + PREFILL_CHUNK], cache)
            mx.eval([c.state for c in cache])
            self.syncs.count()

    def record(self, row: np.ndarray, index: int, text: str, token: int | None = None,
               outcome: str | None = None, inserted: bool = False,
               logprob: float | None = None) -> TokenRecord:
        """A TokenRecord from one packed row; token/outcome given for insertions and branches."""
        tok = self.lm.tokenizer
        signals = {name: float(v) for name, v in zip(SIGNALS, row[_SIG:_TOP])}
        top = [Alternative(int(i), tok.token_text(int(i)), float(lp))
               for i, lp in zip(row[_TOP:_TOP + N_TOP], row[_TOP + N_TOP:_N_FIXED])]
        layers = None
        if self.opts.layers and len(row) > self._layers_at:
            grid = row[self._layers_at:].reshape(self._layers_shape)
            layers = {"attn_entropy": grid[0].tolist(), "attn_head_varentropy": grid[1].tolist()}
        return TokenRecord(
            index=index,
            id=int(row[0]) if token is None else token,
            text=text,
            outcome=outcome or OUTCOME_CODES[int(row[1])],
            inserted=inserted,
            logprob=float(row[6]) if logprob is None else logprob,
            params=SamplingParams(float(row[2]), float(row[3]), int(row[4]), float(row[5])),
            metrics=Metrics(**signals),
            top=top,
            layers=layers,
        )


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

        outcome = OUTCOME_CODES[int(row[1])]
        if forced:
            rec = engine.insertion(row, n, forced.popleft())
        elif outcome == "think" and engine.think_ids:
            if queued is not None:
                rewind(cache, 1)
            think_count += 1
            forced.extend(range(len(engine.think_ids)))
            rec = engine.insertion(row, n, forced.popleft())
            queued = dispatch(rec.id, think_allowed=False) if n + 1 < max_tokens else None
        elif queued is not None and row[_BRANCH]:
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
            rec = engine.record(row, n, "")
        done = yield from emit(rec, last=queued is None)
        if done:
            return
        current = queued
