"""One decode step on device, and its records on the host.

A step runs the forward pass with attention statistics, the logit statistics,
the sampling decision and the top alternatives, and packs them into one row
per sequence (packed.py). The generation loop (generate.py) and branching
(branching.py) both drive this Engine; neither knows the row's layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mlx.core as mx
import numpy as np

from . import vocab_stats
from .blas import use_threads
from .load import LoadedModel
from .metrics import SIGNALS, logit_statistics, token_signals
from .model import LayerStats
from .packed import N_TOP, Row, pack_step
from .prompt_head import head_length
from .requests import SEED_LIMIT, GenerationOptions, MetricsLevel  # noqa: F401 (their home before requests.py)
from .sampler import SamplerConfig, compiled_decide, top_tokens
from .sampler.decide import OUTCOME_CODES
from .sync import SyncCounter
from .trace import Alternative, Metrics, SamplingParams, TokenRecord

PREFILL_CHUNK = 512


def prefill(model, ids: mx.array, cache: list, syncs: SyncCounter) -> None:
    """Feed ids [B, L] into the cache through the fused attention, in chunks of
    at most PREFILL_CHUNK tokens in all (B rows x the chunk's columns), so a
    batch's prefill holds no more activations at once than one prompt's. The
    logits are never evaluated: only the cache is."""
    rows, length = ids.shape
    width = max(1, PREFILL_CHUNK // rows)
    use_threads()
    for start in range(0, length, width):
        model.forward(ids[:, start:start + width], cache)
        mx.eval([c.state for c in cache])
        syncs.count()


def syncs_per_step() -> int:
    """Host waits in one decode step: the read of its packed decision, and
    before it, where the host computes the logit statistics (vocab_stats.py:
    MLX on a CPU), the wait for the step's logits. On the GPU, one."""
    return 1 + vocab_stats.serves()


class GenerationError(ValueError):
    """A generation request that cannot run (e.g. a prompt longer than the context)."""


@dataclass
class Step:
    """A dispatched decode step, on device: packed rows, sampled tokens, logits,
    and whether each row's draw is exact (Decision.exact)."""

    packed: mx.array
    token: mx.array
    logits: mx.array
    exact: mx.array


class Engine:
    """Runs a LoadedModel under a sampler configuration."""

    def __init__(self, lm: LoadedModel, cfg: SamplerConfig, options: GenerationOptions,
                 syncs: SyncCounter | None = None, decide: Callable | None = None):
        """decide replaces the config's compiled decision (batch.plain_decide);
        like it, it takes `top` (each row's `decide.pool` most probable token ids)."""
        self.lm, self.cfg, self.opts = lm, cfg, options
        self.syncs = syncs or SyncCounter()
        self.think_ids = lm.tokenizer.encode_mid_text(cfg.think_text) if cfg.think_text else []
        self.decide = decide or compiled_decide(cfg)
        self.think = mx.array(self.think_ids, dtype=mx.int32)
        args = lm.model.args
        self._layers_shape = (2, args.num_hidden_layers, args.num_attention_heads)

    def forward(self, tokens: mx.array, cache: list, key: mx.array, think_allowed: bool) -> Step:
        """Feed tokens [B, L]; decide the next token of each row from the last position."""
        use_threads()
        if tokens.shape[1] > 1:
            self.lm.model.forward(tokens[:, :-1], cache)
            tokens = tokens[:, -1:]
        logits, stats = self.lm.model.forward(tokens, cache, with_stats=self.opts.metrics == "all")
        allowed = mx.full((logits.shape[0],), think_allowed)
        step = self.decide_step(logits[:, -1, :], stats, key, allowed)
        mx.async_eval(step.packed, step.token)
        return step

    def decide_step(self, logits: mx.array, stats: LayerStats | None, key: mx.array,
                    think_allowed: mx.array) -> Step:
        """Signals, decision and packed rows from the last position's logits [B, V].
        key: one key for all rows (a lone sequence, a branch's rollouts), or
        keys [B, 2], one per row (batch.py); think_allowed [B] bool."""
        logits = logits.astype(mx.float32)
        if vocab_stats.serves():
            self.syncs.count()  # logit_statistics waits for the logits (vocab_stats.py)
        if self.opts.metrics == "none":
            logprobs = logit_statistics(logits)[0]
            signals = {name: mx.zeros(logits.shape[:1]) for name in SIGNALS}
        else:
            stats = stats if self.opts.metrics == "all" else None
            logprobs, signals = token_signals(logits, stats, self.cfg.attn_layer)
        allowed = think_allowed & bool(self.think_ids)
        # One selection of each row's most probable tokens serves the draw's pool and the alternatives.
        top = top_tokens(logprobs, max(N_TOP, self.decide.pool))
        decision = self.decide(logprobs, signals, key, allowed, top if self.decide.pool >= N_TOP else None)
        packed = pack_step(logprobs, signals, stats, decision, self.think, self.opts.layers, top)
        return Step(packed, decision.token.astype(mx.int32), logits, decision.exact)

    def prefill(self, prompt: list[int], cache: list) -> None:
        """All prompt tokens but the last (the first decode step feeds it);
        the chat template's head in a pass of its own, as batch.py does."""
        ids = prompt[:-1]
        cut = head_length(ids, self.lm.prompt_head)
        for part in (ids[:cut], ids[cut:]) if cut else (ids,):
            prefill(self.lm.model, mx.array(part, dtype=mx.int32)[None], cache, self.syncs)

    def insertion(self, row: np.ndarray, index: int, position: int) -> TokenRecord:
        """The record of the think text's token at `position`, from the row before it."""
        return self.record(row, index, token=self.think_ids[position], outcome="think",
                           inserted=True, logprob=Row(row).think_logprob(position))

    def record(self, row: np.ndarray, index: int, token: int | None = None,
               outcome: str | None = None, inserted: bool = False,
               logprob: float | None = None) -> TokenRecord:
        """A TokenRecord (text still empty) from one packed row; token, outcome
        and logprob are given for insertions and branches."""
        tok = self.lm.tokenizer
        r = Row(row)
        layers = None
        if self.opts.layers:
            grid = r.layers(len(self.think_ids), self._layers_shape)
            if grid is not None:
                layers = {"attn_entropy": grid[0].tolist(), "attn_head_varentropy": grid[1].tolist()}
        return TokenRecord(
            index=index,
            id=r.token if token is None else token,
            text="",
            outcome=outcome or OUTCOME_CODES[r.outcome_code],
            inserted=inserted,
            logprob=r.logprob if logprob is None else logprob,
            params=SamplingParams(*r.params),
            metrics=Metrics(**r.signals()),
            top=[Alternative(i, tok.token_text(i), lp) for i, lp in r.top()],
            layers=layers,
        )
