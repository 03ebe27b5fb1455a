"""The packed per-token row: everything the host needs about one decode step,
as one float32 array, so that reading it is the step's only synchronisation.

One layout, named here, for every writer (the engine, the baseline) and every
reader (the generation loop, branching, records): columns are reached by name,
never by a bare index.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from .metrics import SIGNALS
from .sampler import Decision, top_tokens

N_TOP = 5  # alternatives recorded per token

# The fixed head, in order; then the signals, the top ids, the top logprobs,
# the logprob of each think-text token, and optionally the per-layer arrays.
TOKEN, OUTCOME, TEMPERATURE, TOP_P, TOP_K, MIN_P, LOGPROB, BRANCH = range(8)
SIGNALS_AT = BRANCH + 1
TOP_IDS_AT = SIGNALS_AT + len(SIGNALS)
TOP_LOGPROBS_AT = TOP_IDS_AT + N_TOP
THINK_AT = TOP_LOGPROBS_AT + N_TOP


def layers_at(n_think: int) -> int:
    """Where the per-layer attention arrays start, after n_think think logprobs."""
    return THINK_AT + n_think


def pack_step(logprobs: mx.array, signals: dict[str, mx.array], stats, decision: Decision,
              think_ids: mx.array, with_layers: bool, top: mx.array | None = None) -> mx.array:
    """Everything the host needs about the chosen tokens, as one [B, N] float32 array.
    top: ids of each row's most probable tokens (at least N_TOP of them, in no
    order: filters.top_tokens), when the caller has selected them already."""
    chosen = mx.take_along_axis(logprobs, decision.token[:, None].astype(mx.int32), axis=-1)[:, 0]
    k = min(N_TOP, logprobs.shape[-1])
    if top is None:
        top = top_tokens(logprobs, k)  # no full-vocabulary sort
    order = mx.argsort(-mx.take_along_axis(logprobs, top, -1), -1)[:, :k]
    top_ids = mx.take_along_axis(top, order, -1)
    if k < N_TOP:
        top_ids = mx.concatenate([top_ids, mx.repeat(top_ids[:, :1], N_TOP - k, axis=1)], axis=1)
    top_lp = mx.take_along_axis(logprobs, top_ids, axis=-1)
    head = [decision.token, decision.outcome, decision.temperature, decision.top_p,
            decision.top_k, decision.min_p, chosen, decision.branch]
    parts = [mx.stack([c.astype(mx.float32) for c in head + [signals[n] for n in SIGNALS]], axis=1),
             top_ids.astype(mx.float32), top_lp, logprobs[:, think_ids]]
    if with_layers and stats is not None:
        B = logprobs.shape[0]
        parts += [stats.head_entropy.reshape(B, -1), stats.head_varentropy.reshape(B, -1)]
    return mx.concatenate(parts, axis=1)


class Row:
    """One packed row on the host, read by name."""

    def __init__(self, values: np.ndarray):
        self.values = values

    @property
    def token(self) -> int:
        return int(self.values[TOKEN])

    @property
    def outcome_code(self) -> int:
        return int(self.values[OUTCOME])

    @property
    def branch(self) -> bool:
        return bool(self.values[BRANCH])

    @property
    def logprob(self) -> float:
        return float(self.values[LOGPROB])

    @property
    def params(self) -> tuple[float, float, int, float]:
        """The effective (temperature, top_p, top_k, min_p) of this position."""
        v = self.values
        return float(v[TEMPERATURE]), float(v[TOP_P]), int(v[TOP_K]), float(v[MIN_P])

    @property
    def entropy(self) -> float:
        return float(self.values[SIGNALS_AT])

    def signals(self) -> dict[str, float]:
        return {name: float(v) for name, v in zip(SIGNALS, self.values[SIGNALS_AT:TOP_IDS_AT])}

    def top(self) -> list[tuple[int, float]]:
        """The N_TOP most likely next tokens and their logprobs, most likely first."""
        v = self.values
        return [(int(i), float(lp)) for i, lp in zip(v[TOP_IDS_AT:TOP_LOGPROBS_AT],
                                                    v[TOP_LOGPROBS_AT:THINK_AT])]

    def top_margin(self) -> float:
        """p(most likely) - p(second most likely)."""
        v = self.values
        return float(np.exp(v[TOP_LOGPROBS_AT]) - np.exp(v[TOP_LOGPROBS_AT + 1]))

    def think_logprob(self, position: int) -> float:
        return float(self.values[THINK_AT + position])

    def layers(self, n_think: int, shape: tuple[int, int, int]) -> np.ndarray | None:
        """The per-layer (entropy, head varentropy) grid, when it was packed."""
        at = layers_at(n_think)
        return self.values[at:].reshape(shape) if len(self.values) > at else None
