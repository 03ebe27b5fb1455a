"""Branching ("parallel CoT"): fork N continuations from one position, roll them
forward together as one batch, keep the best.

The N candidates for the branch token are drawn without replacement from the
distribution the sampler chose for that position (Gumbel top-N). Their KV
caches share the prefix: the cache rows are repeated, not re-prefilled. All N
roll forward up to branch_max_tokens tokens in one batched forward per step;
each branch ends at its first sentence boundary (boundary.py: a "." between
digits or after "e.g" is none) or end-of-sequence token. The
winner's cache is cut back to its own length and generation continues from it.

Insertions are off inside a rollout, and by design that includes the decision
after the winner's last token: it is the winner's own last row, so the token
right after a branch is never a think insertion. An insertion would give the
batched rows different lengths mid-rollout, and re-deciding that last row with
insertions on would cost a second decision per branch point; the branch itself
already answered the uncertainty an insertion would address. A consequence:
where every token is a branch point, insertions wait until a token is decided
outside a rollout (tests/test_branching.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import mlx.core as mx
import numpy as np
from mlx_lm.models.cache import KVCache, RotatingKVCache

from .boundary import sentence_end
from .engine import Engine, Step
from .packed import TOKEN, Row
from .sampler import filtered_logprobs
from .trace import Branch, BranchCandidate, TokenRecord


@dataclass
class BranchResult:
    records: list[TokenRecord]  # the winner's tokens, first one marked as the branch point
    cache: list[KVCache]  # the winner's cache
    next_step: Step | None  # the decision after the winner's last token; None if it ended the answer


class ForkedWindow(RotatingKVCache):
    """A sliding-window cache forked into rows, remembering the slot each decode
    step wrote. Rolling forward overwrites the window's oldest keys, so a row
    cannot be cut back by trimming: select_row replays the kept steps' keys
    onto the cache the fork started from instead."""

    def __init__(self, base: RotatingKVCache, n: int):
        super().__init__(base.max_size, base.keep)
        self.base = base
        self.keys = mx.repeat(base.keys, n, axis=0)
        self.values = mx.repeat(base.values, n, axis=0)
        self.offset, self._idx = base.offset, base._idx
        self.slots: list[int] = []

    def _update_in_place(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        fetched = super()._update_in_place(keys, values)
        self.slots.append(self._idx - 1)  # rollouts feed one token per step
        return fetched

    def row(self, row: int, length: int) -> RotatingKVCache:
        """Row `row` after its first `length - base.offset` steps: the base's
        window with exactly those keys written, as a lone decode would have."""
        kept = RotatingKVCache(self.base.max_size, self.base.keep)
        kept.keys, kept.values = mx.array(self.base.keys), mx.array(self.base.values)
        kept.offset, kept._idx = self.base.offset, self.base._idx
        for slot in self.slots[: length - self.base.offset]:
            kept.update_and_fetch(self.keys[row : row + 1, :, slot : slot + 1],
                                  self.values[row : row + 1, :, slot : slot + 1])
        return kept


def fork_cache(cache: list[KVCache | RotatingKVCache], n: int) -> list[KVCache | ForkedWindow]:
    """n copies of a one-row cache, as one n-row cache."""
    forked = []
    for c in cache:
        if isinstance(c, RotatingKVCache):
            forked.append(ForkedWindow(c, n))
            continue
        f = KVCache()
        f.keys = mx.repeat(c.keys[:, :, : c.offset], n, axis=0)
        f.values = mx.repeat(c.values[:, :, : c.offset], n, axis=0)
        f.offset = c.offset
        forked.append(f)
    return forked


def select_row(cache: list[KVCache | ForkedWindow], row: int, length: int
               ) -> list[KVCache | RotatingKVCache]:
    """Row `row` of a forked cache, cut to its first `length` positions."""
    kept = []
    for c in cache:
        if isinstance(c, ForkedWindow):
            kept.append(c.row(row, length))
            continue
        k = KVCache()
        k.keys = c.keys[row : row + 1, :, :length]
        k.values = c.values[row : row + 1, :, :length]
        k.offset = length
        kept.append(k)
    return kept


def draw_candidates(logits: mx.array, row: Row, n: int, key: mx.array, top: bool = False) -> mx.array:
    """n distinct tokens drawn without replacement (Gumbel top-n) under the
    position's effective parameters, or with `top` the n most probable of them
    (CoT-decoding's top-k branching); impossible ones come out with -inf score."""
    lp = filtered_logprobs(logits, *row.params)
    scores = lp
    if not top:
        scores = lp - mx.log(-mx.log(mx.random.uniform(low=1e-20, high=1.0, shape=lp.shape, key=key)))
    k = min(n, scores.shape[-1])
    top = mx.argpartition(-scores, k - 1, axis=-1)[:, :k]
    valid = mx.take_along_axis(lp, top, axis=-1) > -math.inf
    raw = mx.take_along_axis(logits - mx.logsumexp(logits, axis=-1, keepdims=True), top, axis=-1)
    return mx.concatenate([top.astype(mx.float32), valid.astype(mx.float32), raw], axis=0)


def score_branch(rows: np.ndarray, length: int, kind: str) -> float:
    """Mean entropy after each branch token (lower is better), or the mean
    probability margin between the two most likely next tokens (higher is better)."""
    per_token = [Row(r).top_margin() if kind == "margin" else Row(r).entropy for r in rows[:length]]
    return float(np.mean(per_token))


class Rollout:
    """A branch point's N rollouts in progress, whoever runs their forward
    passes (run_branches alone; batch.py as extra rows of its shared steps):
    the candidates, each step's packed rows and logits, and the stop rule.

    The rows are read on the host after 2, 4, 8, ... steps and at the budget;
    the rollout stops at the first such check where every valid branch has
    ended (a sentence end or end-of-sequence), or at the budget."""

    def __init__(self, engine: Engine, drawn: mx.array, row: np.ndarray | None, index: int, budget: int):
        """Branch at generated position `index` (row: the packed decision
        there) with the candidates `drawn` (draw_candidates) and at most
        `budget` tokens left."""
        cfg = engine.cfg
        self.engine, self.drawn, self.row, self.index = engine, drawn, row, index
        self.n = drawn.shape[1]
        self.steps = max(1, min(cfg.branch_max_tokens, budget))
        self.tokens = self.drawn[0].astype(mx.int32)[:, None]  # what the next step feeds, [n, 1]
        self.first: np.ndarray | None = None  # drawn, on the host
        self.rows: np.ndarray | None = None  # packed rows [n, steps run, cols], on the host
        self.pending: list[mx.array] = []  # packed rows of the steps since the last check
        self.logits_seen: list[mx.array] = []
        self.done, self.check_at, self.finished = 0, 2, False

    def add(self, step: Step) -> bool:
        """One rollout step's outputs; True when the stop rule is checked now
        (then `check` takes the candidates and `pending` on the host)."""
        self.pending.append(step.packed)
        self.logits_seen.append(step.logits)
        self.tokens = step.token[:, None]
        self.done += 1
        return self.done in (self.check_at, self.steps)

    def check(self, first: np.ndarray, part: np.ndarray) -> None:
        """first: the candidates; part: the packed rows [n, steps, cols] since the last check."""
        tok = self.engine.lm.tokenizer
        self.first, self.pending = first, []
        self.rows = part if self.rows is None else np.concatenate([self.rows, part], axis=1)
        ended = [not ok or sentence_end([int(t)] + [int(x) for x in r[:, TOKEN]], tok.token_text,
                                        tok.eos_token_ids)
                 for t, ok, r in zip(first[0], first[1], self.rows)]
        self.finished = all(ended) or self.done == self.steps
        self.check_at *= 2

    def result(self) -> tuple[list[TokenRecord], int, int, Step | None]:
        """The winner's records (the first marked as the branch point), its
        row, its length in tokens and the decision after its last token
        (None if it ended the answer).

        Candidates that the position's filters rule out were rolled along
        (dropping them would cost a synchronisation) but never win."""
        engine, cfg, first, rows = self.engine, self.engine.cfg, self.first, self.rows
        tok = engine.lm.tokenizer
        eos = tok.eos_token_ids
        live = [r for r in range(first.shape[1]) if first[1, r]]
        seqs, scores = [], []
        for r in live:
            decided = [int(first[0, r])] + [int(t) for t in rows[r, :, TOKEN]]  # the last one not yet fed
            seq = decided[:sentence_end(decided, tok.token_text, eos) or len(decided) - 1]
            seqs.append(seq)
            scores.append(score_branch(rows[r], len(seq), cfg.branch_score))
        better = max if cfg.branch_score == "margin" else min
        winner = scores.index(better(scores))
        seq, w = seqs[winner], live[winner]

        branch = Branch(
            score_kind=cfg.branch_score,
            winner=winner,
            candidates=[BranchCandidate(tokens=s, text=tok.decode([t for t in s if t not in eos]),
                                        score=sc) for s, sc in zip(seqs, scores)],
        )
        records = [engine.record(self.row, self.index, token=seq[0], outcome="branch",
                                 logprob=float(first[2, w]))]
        records[0].branch = branch
        records += [engine.record(rows[w, j - 1], self.index + j) for j in range(1, len(seq))]
        next_step = None
        if seq[-1] not in eos:
            last = rows[w, len(seq) - 1]
            next_step = Step(packed=mx.array(last[None]), token=mx.array([Row(last).token], dtype=mx.int32),
                             logits=self.logits_seen[len(seq) - 1][w : w + 1], exact=mx.ones((1,), mx.bool_))
        return records, w, len(seq), next_step


def roll_forward(rollout: Rollout, forked: list, next_key: Callable[[], mx.array]) -> None:
    """Step a rollout to its end as a batch of its own, on its forked cache."""
    engine = rollout.engine
    while not rollout.finished:
        step = engine.forward(rollout.tokens, forked, next_key(), think_allowed=False)
        if rollout.add(step):
            part = mx.stack(rollout.pending, axis=1)
            if rollout.first is None:
                first, part = engine.syncs.to_host_many(rollout.drawn, part)
            else:
                first, part = rollout.first, engine.syncs.to_host(part)
            rollout.check(first, part)


def start_rollout(engine: Engine, logits: mx.array, row: np.ndarray, index: int, budget: int,
                  key: mx.array) -> Rollout:
    """A branch point's rollout, its candidates drawn with `key`."""
    cfg = engine.cfg
    drawn = draw_candidates(logits, Row(row), cfg.n_branches, key, top=cfg.branch_candidates == "top")
    return Rollout(engine, drawn, row, index, budget)


def run_branches(engine: Engine, cache: list[KVCache], logits: mx.array, row: np.ndarray,
                 index: int, budget: int, next_key: Callable[[], mx.array]) -> BranchResult:
    """Branch at generated position `index` (row: the packed decision there):
    the N rollouts step as one batch of their own, forked from `cache`."""
    rollout = start_rollout(engine, logits, row, index, budget, next_key())
    forked = fork_cache(cache, rollout.n)
    roll_forward(rollout, forked, next_key)
    records, w, length, next_step = rollout.result()
    return BranchResult(records, select_row(forked, w, cache[0].offset + length), next_step)
