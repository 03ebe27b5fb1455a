"""Many sequences per decode step: a BatchGenerator in the manner of mlx-lm's.

Requests join (`insert`) and leave (`remove`, or by ending) between steps;
`step()` advances every running row by one decode step with one forward pass
over the batch and one host synchronisation (one more when a branch point
starts: its candidates), and returns each row's responses.

What keeps a row's output independent of the rows beside it:
- The requests that join at one step are prefilled together (in groups of
  similar lengths: prefill_groups), left-padded to one length, into mlx-lm's
  left-padded batch caches (BatchKVCache and, for sliding windows,
  BatchRotatingKVCache). A prompt is prefilled once: each row's cache is
  kept in the prompt cache (prompt_cache.py), and every request with that
  prompt, joining now or later, merges a copy into the running batch. In prefill
  and decode each row's RoPE runs at its own offset and its attention masks
  the padding, which also drops out of the attention statistics (a masked
  key scores -inf; model.attention_stats). A padding position's own query
  sees no valid key (the fused attention still gives it finite values);
  nothing real attends to it.
- Float32 matmuls of another shape (B padded rows, not one prompt) may round
  differently in the last bits, so a row's prefilled keys and values equal its
  lone prefill's to 1e-5 (at most 4e-6 apart on the tiny test models), not
  bit for bit, and its metrics the lone run's to 1e-4; tokens are identical
  unless two logits tie to that precision (tests/test_batch.py).
- Each row has its own PRNG key chain from its request's seed, split exactly as
  the lone loop (generate.py) splits it, including the key the lone loop
  spends on a queued step it then discards (a think insertion, a branch).
  The sampler draws each row with its own key (sampler.filters.sample).
- Rows of different sampler configs share the forward pass; each config group
  decides with its own compiled decision.
- A branch point's N rollouts run as extra rows of the shared steps
  (branching.Rollout, the lone loop's own candidates, stop rule and winner;
  one key per step for the N rows, from the row's chain, as alone): the row
  leaves the batch, its rollouts join it, and when they stop it rejoins with
  the winner's cache. The other rows go on meanwhile. On a 2-core CPU a
  rollout step as 4 extra rows in a batch of 8 cost 2.3x (Xeon) and 1.9x
  (Zen 2) less than the others waiting (benchmarks/step_width.py). With sliding-window caches, a
  rolled-over window cannot be cut back to the winner's length in a batch
  row, so there the row branches alone (branching.run_branches) while the
  others wait.

The lone loop pipelines (it queues the next step before reading this one); a
batch does not, because its rows' next inputs differ in kind (sampled token,
forced think token, a branch), and one sync per step is the same budget. On
a 2-core CPU the two took the same time a step at one row (greedy on the
0.5B model: 97-98 ms against 97-101 ms), so pipelining would buy little there.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Protocol

import mlx.core as mx
import numpy as np
from mlx_lm.models.cache import BatchKVCache, BatchRotatingKVCache, KVCache, RotatingKVCache

from .batch_time import BatchTime
from .blas import use_threads
from .branching import Rollout, run_branches, start_rollout
from .engine import Engine, prefill
from .requests import DEFAULT_MAX_BATCH, GenerationOptions
from .load import LoadedModel
from .model import LayerStats
from .packed import Row
from .prompt_cache import PromptCache
from .prompt_head import head_length
from .sampler import Decision, SamplerConfig, filtered_logprobs, get_preset, pool_top_p, sample, top_tokens
from .sampler.decide import ADAPTIVE
from .sequence import Event, GenerationResponse, Sequence, check_prompt
from .sync import SyncCounter
from .trace import TokenRecord

BATCH_CACHES = {KVCache: BatchKVCache, RotatingKVCache: BatchRotatingKVCache}
_split_rows = mx.vmap(mx.random.split)  # keys [B, 2] -> [B, 2, 2]


class PlainSampling(Protocol):
    """Plain sampling's parameters (runner.NormalParams has these fields)."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float


@dataclass
class BatchRequest:
    """One sequence to generate: prompt ids, sampler config and options. With
    `plain`, every token is one draw from the filtered distribution at those
    fixed parameters (temperature 0: argmax), recorded with outcome "sample":
    the `normal` baseline in a batch (cfg then only sets what is recorded)."""

    prompt: list[int]
    cfg: SamplerConfig
    options: GenerationOptions = field(default_factory=GenerationOptions)
    plain: PlainSampling | None = None


PLAIN_POOL = 1024  # tokens a plain draw looks at first (the whole vocabulary when they may not suffice)


@functools.lru_cache(maxsize=32)
def plain_decide(temperature: float, top_p: float, top_k: int, min_p: float, pool: int = PLAIN_POOL):
    """A decision function (engine.decide's signature) for plain sampling.

    With a pool, the draw runs over each row's `pool` most probable tokens,
    in token id order (sorting 152k tokens for top-p took 17 ms a row, more
    than a batched decode step's forward pass per row): exact when top-k
    keeps at most the pool, else with the nucleus rescaled to the pool's mass
    (pool_top_p). The decision's `exact` is False for a row whose kept tokens
    may reach past the pool (its least probable token survives the filters,
    or ties with one that does: a very flat distribution); the caller then
    draws that row again with pool=0, over the whole vocabulary. Without a
    filter (top-k off, top_p 1, min_p 0) every token may be drawn: no pool."""

    pooled = bool(temperature and pool and top_k <= pool and (top_k or top_p < 1 or min_p > 0))

    def decide(logprobs: mx.array, metrics: dict, key: mx.array, think_allowed: mx.array,
               top: mx.array | None = None) -> Decision:
        b, vocab = logprobs.shape
        exact = mx.ones((b,), mx.bool_)
        if temperature == 0:
            token = mx.argmax(logprobs, axis=-1).astype(mx.int32)
        elif not pooled or pool >= vocab:
            token = sample(filtered_logprobs(logprobs, temperature, top_p, top_k, min_p), key)
        else:
            ids = mx.sort(top if top is not None and top.shape[-1] == pool else top_tokens(logprobs, pool), axis=-1)
            within = mx.take_along_axis(logprobs, ids, axis=-1)
            nucleus = top_p if top_k else pool_top_p(top_p, within, logprobs, temperature)
            kept = filtered_logprobs(within, temperature, nucleus, top_k, min_p)
            if not top_k:
                least_kept = mx.min(mx.where(kept > -math.inf, within, math.inf), axis=-1)
                exact = least_kept > mx.min(within, axis=-1)
            token = mx.take_along_axis(ids, sample(kept, key)[:, None], axis=-1)[:, 0]
        return Decision(token, mx.full((b,), ADAPTIVE, mx.int32), mx.full((b,), temperature),
                        mx.full((b,), top_p), mx.full((b,), top_k, mx.int32), mx.full((b,), min_p),
                        mx.zeros((b,), mx.bool_), exact)

    decide.pool = pool if pooled else 0  # the width of `top` it takes (engine.Engine)
    return decide


@dataclass
class _Row:
    uid: int
    seq: Sequence
    engine: Engine
    group: tuple
    key: mx.array  # the row's PRNG key chain, as the lone loop's `key`
    feed: int = 0  # the token the next step feeds
    allowed: bool = False  # may the next step's decision be a think insertion
    branching: "_Branching | None" = None  # set on a rollout row: the branch point it rolls for


@dataclass
class _Branching:
    """A row's branch point whose rollouts step as extra rows of the batch."""

    owner: _Row  # out of the batch until the rollout ends
    rollout: Rollout
    first: np.ndarray  # the candidates on the host
    base: int  # the owner's cache length at the branch point
    host: list[np.ndarray] = field(default_factory=list)  # packed rows [n, cols] of each step since the last check


def _batch_kind(cache) -> type:
    kind = BATCH_CACHES.get(type(cache))
    if kind is None:
        raise ValueError(f"a {type(cache).__name__} cannot join a batch (only "
                         f"{', '.join(k.__name__ for k in BATCH_CACHES)})")
    return kind


def _batch_cache(rows: list[list]) -> list:
    """Lone sequences' caches (one per-layer list per row) as batch caches,
    one row each, left-padded to the longest."""
    return [_batch_kind(layer[0]).merge(list(layer)) for layer in zip(*rows)]


def _padded_cache(cache: list, padding: list[int]) -> list:
    """Empty batch caches shaped like a lone cache (windows included), one row
    per entry of `padding`, each row's first `padding[i]` positions masked."""
    return [BatchRotatingKVCache(c.max_size, padding) if _batch_kind(c) is BatchRotatingKVCache
            else BatchKVCache(padding) for c in cache]


def prefill_groups(lengths: list[int]) -> list[list[int]]:
    """Indices of prompts to prefill together: longest first, the next shorter
    prompt joins the group while its padded work (rows x the longest) stays
    within 5/4 of its tokens. On a CPU padding is computed like any token,
    while each forward pass also pays a fixed cost (every weight is read once):
    8 chat prompts of 38-64 tokens on the 135M prefilled in 1.81 s one by one,
    1.67 s as one padded batch, 1.48 s in the two groups this rule makes
    (OpenBLAS 1 thread, machine loaded). A short prompt is never padded to a
    far longer one's length."""
    groups: list[list[int]] = []
    tokens = 0
    for i in sorted(range(len(lengths)), key=lambda i: -lengths[i]):
        if groups and 4 * (len(groups[-1]) + 1) * lengths[groups[-1][0]] <= 5 * (tokens + lengths[i]):
            groups[-1].append(i)
            tokens += lengths[i]
        else:
            groups.append([i])
            tokens = lengths[i]
    return groups


class BatchGenerator:
    """Decodes up to max_batch sequences per step; more wait their turn."""

    def __init__(self, lm: LoadedModel, max_batch: int = DEFAULT_MAX_BATCH, syncs: SyncCounter | None = None,
                 prompt_cache: PromptCache | None = None, timing: BatchTime | None = None):
        """prompt_cache keeps prefilled prompts for requests with the same
        prompt (a fresh default one if None; PromptCache(0) keeps none);
        timing accounts the prefill and the steps (a fresh one if None)."""
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, got {max_batch}")
        self.lm, self.max_batch = lm, max_batch
        self.syncs = syncs or SyncCounter()
        self.prompts = PromptCache() if prompt_cache is None else prompt_cache
        self._uids = itertools.count()
        self._engines: dict[tuple, Engine] = {}
        self._whole: dict[tuple, Engine] = {}  # a plain group's draw over the whole vocabulary
        self.waiting: list[tuple[int, BatchRequest, int]] = []  # uid, request, max_tokens
        self.rows: list[_Row] = []  # in the batch cache's row order (rollout rows included)
        self.branchings: list[_Branching] = []
        self.cache: list | None = None
        self._head_cache: list | None = None  # the chat template head's (prompt_head.py)
        self.admitted: dict[int, float] = {}  # uid -> its prefill's start (perf_counter); pop when done
        self.timing = timing if timing is not None else BatchTime()  # prefill passes and decode steps by width

    @property
    def running(self) -> int:
        """Sequences in the batch: a row whose rollouts run counts once."""
        return sum(r.branching is None for r in self.rows) + len(self.branchings)

    @property
    def done(self) -> bool:
        return not self.rows and not self.waiting

    def _engine(self, req: BatchRequest) -> tuple[tuple, Engine]:
        plain = None if req.plain is None else (float(req.plain.temperature), float(req.plain.top_p),
                                                 int(req.plain.top_k), float(req.plain.min_p))
        cfg = req.cfg
        if plain is not None:
            cfg = get_preset("entropix").with_overrides({"max_think_insertions": 0, "branching": False})
        group = (cfg, req.options.metrics, req.options.layers, plain)
        if group not in self._engines:
            opts = GenerationOptions(metrics=req.options.metrics, layers=req.options.layers)
            decide = plain_decide(*plain, pool=PLAIN_POOL) if plain is not None else None
            self._engines[group] = Engine(self.lm, cfg, opts, self.syncs, decide=decide)
            if plain is not None:
                self._whole[group] = Engine(self.lm, cfg, opts, self.syncs, decide=plain_decide(*plain, pool=0))
        return group, self._engines[group]

    def insert(self, request: BatchRequest) -> int:
        """Queue a request; it joins the batch at a coming step. Raises on a
        request that cannot run (an empty or too long prompt, a sampler that
        needs metrics the options turn off)."""
        if request.plain is None:
            request.options.check_sampler(request.cfg.check_depth(self.lm.model.args.num_hidden_layers))
        max_tokens = check_prompt(self.lm, request.prompt, request.options)
        uid = next(self._uids)
        self.waiting.append((uid, request, max_tokens))
        return uid

    def remove(self, uid: int) -> None:
        """Drop a waiting or running request; its row leaves before the next step."""
        self.waiting = [w for w in self.waiting if w[0] != uid]
        self.admitted.pop(uid, None)
        self.branchings = [b for b in self.branchings if b.owner.uid != uid]
        keep = [i for i, r in enumerate(self.rows) if r.uid != uid]  # rollout rows carry their owner's uid
        if len(keep) != len(self.rows):
            self._keep(keep)

    def _keep(self, keep: list[int]) -> None:
        self.rows = [self.rows[i] for i in keep]
        if not self.rows:
            self.cache = None
        elif self.cache is not None:
            idx = mx.array(keep, dtype=mx.int32)
            for c in self.cache:
                c.filter(idx)

    def _join(self, merged: list) -> None:
        """Append rows' batch caches to the batch cache."""
        if self.cache is None:
            self.cache = merged
        else:
            for c, m in zip(self.cache, merged):
                c.extend(m)

    def _prefill(self, heads: list[tuple[int, ...]]) -> list:
        """Batch caches holding the given token sequences, prefilled together
        in one forward pass per chunk: left-padded to one length, each row's
        padding masked (the batch cache's causal mask) and its RoPE at its own
        offset (the cache's per-row offset starts at -padding)."""
        width = max(map(len, heads))
        padding = [width - len(h) for h in heads]
        ids = np.array([[0] * p + list(h) for p, h in zip(padding, heads)], dtype=np.int32)  # 0: any id
        cache = _padded_cache(self.lm.model.make_cache(), padding)
        start = time.perf_counter()
        prefill(self.lm.model, mx.array(ids.reshape(len(heads), width)), cache, self.syncs)
        self.timing.add_prefill(sum(map(len, heads)), time.perf_counter() - start)
        return cache

    def _prompt_caches(self, prompts: list[list[int]]) -> list[list]:
        """Each prompt's lone per-layer caches holding all its tokens but the
        last (what the lone prefill holds; the first decode step feeds the
        last): from the prompt cache, else prefilled once each. A prompt that
        begins with the chat template's head continues a copy of the head's
        cache (prompt_head.py); the others are prefilled together, in groups
        of similar lengths (prefill_groups)."""
        heads = [tuple(p[:-1]) for p in prompts]
        found = {h: self.prompts.get(h) for h in dict.fromkeys(heads) if h}
        missing = [h for h, c in found.items() if c is None]
        template = self.lm.prompt_head
        after_head, whole = [], []
        for h in missing:
            (after_head if head_length(h, template) else whole).append(h)
        for members in prefill_groups([len(h) for h in whole]):
            cache = self._prefill([whole[i] for i in members])
            for j, i in enumerate(members):
                found[whole[i]] = [c.extract(j) for c in cache]
                self.prompts.put(whole[i], found[whole[i]])
        for h in after_head:
            found[h] = self._prefill_after(self._template_cache(), h[len(template):])
            self.prompts.put(h, found[h])
        return [found[h] if h else self.lm.model.make_cache() for h in heads]

    def _template_cache(self) -> list:
        """The chat template head's lone caches, prefilled alone at first need
        and kept for this generator's life whatever the prompt cache's budget
        (24 tokens: 0.6 MB on the 0.5B): with the prompt cache off, a server
        kept busy would otherwise prefill the head again, a pass of its own,
        for every request that joins."""
        if self._head_cache is None:
            self._head_cache = [c.extract(0) for c in self._prefill([self.lm.prompt_head])]
        return self._head_cache

    def _prefill_after(self, cache: list, ids: tuple[int, ...]) -> list:
        """Lone caches holding cache's tokens and then ids: a copy of cache
        (left untouched) prefilled on."""
        batch = _batch_cache([cache])
        start = time.perf_counter()
        prefill(self.lm.model, mx.array([ids], dtype=mx.int32), batch, self.syncs)
        self.timing.add_prefill(len(ids), time.perf_counter() - start)
        return [c.extract(0) for c in batch]

    def _admit(self) -> None:
        """Every waiting request the free rows can take joins, its prompt
        prefilled (or found in the prompt cache) and its cache merged into the
        batch's with the other joining rows'."""
        joining, prompts = [], []
        while self.waiting and self.running + len(joining) < self.max_batch:
            uid, req, max_tokens = self.waiting.pop(0)
            self.admitted[uid] = time.perf_counter()
            group, engine = self._engine(req)
            seq = Sequence(self.lm, engine, req.prompt, max_tokens, req.options,
                           outcome="sample" if req.plain is not None else None)
            joining.append(_Row(uid, seq, engine, group, mx.random.key(req.options.seed),
                                feed=req.prompt[-1], allowed=seq.think_allowed(False)))
            prompts.append(req.prompt)
        if joining:
            self._join(_batch_cache(self._prompt_caches(prompts)))
            self.rows.extend(joining)

    def step(self) -> list[tuple[int, GenerationResponse]]:
        """One decode step of every running row (after admitting waiting ones):
        (uid, response) pairs in row order, several for a row that branched.
        A row whose last response has a finish_reason has left the batch."""
        self._admit()
        if not self.rows:
            return []
        width, start = len(self.rows), time.perf_counter()
        out = self._step()
        self.timing.add_step(width, time.perf_counter() - start)
        return out

    def _step(self) -> list[tuple[int, GenerationResponse]]:
        """step() without the admission: the forward pass over the rows, their decisions, what they yield."""
        rows = self.rows
        split = _split_rows(mx.stack([r.key for r in rows]))
        subs = split[:, 1]
        for i, r in enumerate(rows):
            r.key = split[i, 0]
        tokens = mx.array([[r.feed] for r in rows], dtype=mx.int32)
        use_threads()
        with_stats = any(r.engine.opts.metrics == "all" for r in rows)
        logits, stats = self.lm.model.forward(tokens, self.cache, with_stats=with_stats)
        logits = logits[:, -1, :]
        allowed = mx.array([r.allowed for r in rows])
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(rows):
            groups.setdefault(r.group, []).append(i)
        steps, where = [], {}
        for members in groups.values():
            lg, st, keys, ok = self._rows_of(members, len(rows), logits, stats, subs, allowed)
            b = rows[members[0]].branching
            if b is not None:  # a rollout step: one key for its rows, from the owner's chain, as alone
                b.owner.key, keys = mx.random.split(b.owner.key)
            step = rows[members[0]].engine.decide_step(lg, st, keys, ok)
            for j, i in enumerate(members):
                where[i] = (len(steps), j)
            steps.append(step)
        host = self.syncs.to_host_many(*[s.packed for s in steps], *[s.exact for s in steps])
        host, exact = host[:len(steps)], host[len(steps):]
        for g, members in enumerate(groups.values()):
            if not exact[g].all():
                host[g] = self._redraw(rows[members[0]].group, np.flatnonzero(~exact[g]), members,
                                       host[g], logits, stats, subs, allowed)

        out: list[tuple[int, GenerationResponse]] = []
        keep, joining = [], []
        for i, r in enumerate(rows):
            if r.branching is not None:
                continue
            g, j = where[i]
            fate = self._advance(r, host[g][j], steps[g].logits[j : j + 1], i, out)
            if fate is True:
                keep.append(i)
            elif fate:
                joining += fate
        for b in list(self.branchings):
            members = [i for i, r in enumerate(rows) if r.branching is b]
            if members:  # not a rollout that starts at this step
                g = where[members[0]][0]
                joined = self._roll(b, members, steps[g], host[g], out)
                if joined is None:
                    keep += members
                else:
                    joining += joined
        if len(keep) < len(rows):
            self._keep(sorted(keep))
        if joining:
            self._join(_batch_cache([cache for _, cache in joining]))
            self.rows.extend(r for r, _ in joining)
        return out

    @staticmethod
    def _rows_of(members: list[int], n: int, logits: mx.array, stats: LayerStats | None, subs: mx.array,
                 allowed: mx.array) -> tuple:
        """decide_step's inputs for the given rows of the step's n."""
        idx = mx.array(members, dtype=mx.int32) if len(members) < n else None
        part = (lambda a: a) if idx is None else (lambda a: a[idx])
        sub_stats = None if stats is None else LayerStats(*(part(getattr(stats, f)) for f in (
            "head_entropy", "head_varentropy", "agreement", "interaction")))
        return part(logits), sub_stats, part(subs), part(allowed)

    def _redraw(self, group: tuple, again: np.ndarray, members: list[int], packed: np.ndarray,
                logits: mx.array, stats: LayerStats | None, subs: mx.array, allowed: mx.array) -> np.ndarray:
        """A plain group's packed rows, those in `again` (their pooled draw may
        have missed tokens) drawn again over the whole vocabulary, with the
        same keys: one more sync, on the rare step that needs it."""
        rows = [members[j] for j in again]
        step = self._whole[group].decide_step(*self._rows_of(rows, logits.shape[0], logits, stats, subs, allowed))
        packed = packed.copy()
        packed[again] = self.syncs.to_host(step.packed)
        return packed

    def _advance(self, r: _Row, row: np.ndarray, logits: mx.array, index: int,
                 out: list[tuple[int, GenerationResponse]]) -> bool | list[tuple[_Row, list]]:
        """Emit what row r's decision yields. True: it stays in place; False: it
        ended; else rows joining the batch with their caches (a branch point's
        rollouts, or the row itself after branching alone)."""
        seq = r.seq
        seq.mark_first()
        rec, event = seq.next_record(row, can_branch=seq.more)
        if event is Event.BRANCH:
            cache = [c.extract(index) for c in self.cache]
            if any(isinstance(c, BatchRotatingKVCache) for c in self.cache):
                return self._branch_alone(r, row, logits, cache, out)
            return self._fork(r, row, logits, cache)
        if event is Event.THINK and seq.more:
            r.key = mx.random.split(r.key)[0]  # the lone loop's discarded queued step
        return self._emit(r, rec, out)

    def _emit(self, r: _Row, rec: TokenRecord, out: list[tuple[int, GenerationResponse]]) -> bool:
        """Emit a record; True while the row goes on, feeding that record's token."""
        response, done = r.seq.emit(rec, last=not r.seq.more)
        out.append((r.uid, response))
        r.feed, r.allowed = rec.id, r.seq.think_allowed(rec.inserted)
        return not done

    def _fork(self, r: _Row, row: np.ndarray, logits: mx.array, cache: list) -> list[tuple[_Row, list]]:
        """Row r branches here (cache: its own, up to the branch point): it
        leaves the batch and its N rollouts join it, from copies of its cache.
        Keys as the lone loop spends them: one for the step it queued and
        discards, one for the candidates, then one per rollout step (step())."""
        seq = r.seq
        r.key = mx.random.split(r.key)[0]
        r.key, sub = mx.random.split(r.key)
        rollout = start_rollout(r.engine, logits, row, seq.n, seq.max_tokens - seq.n, sub)
        b = _Branching(r, rollout, self.syncs.to_host(rollout.drawn), cache[0].offset)
        self.branchings.append(b)
        group = ("rollout", r.uid, id(b))
        return [(_Row(r.uid, seq, r.engine, group, r.key, feed=int(t), branching=b), cache) for t in b.first[0]]

    def _roll(self, b: _Branching, members: list[int], step, host: np.ndarray,
              out: list[tuple[int, GenerationResponse]]) -> list[tuple[_Row, list]] | None:
        """A rollout step's rows (members, in rollout order; host: their packed
        rows). None while the rollout goes on; once it stops, the rows that
        join in their place (the owner with the winner's cache, or another
        branch point's rollouts), none if the owner ended."""
        rollout = b.rollout
        b.host.append(host)
        for j, i in enumerate(members):
            self.rows[i].feed = int(Row(host[j]).token)
        if rollout.add(step):
            rollout.check(b.first, np.stack(b.host, axis=1))
            b.host = []
        if not rollout.finished:
            return None
        self.branchings.remove(b)
        records, w, length, next_step = rollout.result()
        cache = [c.extract(members[w]) for c in self.cache]
        for c in cache:
            c.trim(c.offset - (b.base + length))
        return self._resume(b.owner, records, next_step, cache, out)

    def _resume(self, r: _Row, records: list[TokenRecord], next_step, cache: list,
                out: list[tuple[int, GenerationResponse]]) -> list[tuple[_Row, list]]:
        """After a rollout: emit the winner's records, then what the decision
        after them yields (as the lone loop does)."""
        seq = r.seq
        for i, rec in enumerate(records):
            response, done = seq.emit(rec, last=next_step is None and i == len(records) - 1)
            out.append((r.uid, response))
            if done:
                return []
        row = np.array(next_step.packed)[0]
        rec, event = seq.next_record(row, can_branch=seq.more)
        if event is Event.BRANCH:
            return self._fork(r, row, next_step.logits, cache)
        if event is Event.THINK and seq.more:
            r.key = mx.random.split(r.key)[0]
        return [(r, cache)] if self._emit(r, rec, out) else []

    def _branch_alone(self, r: _Row, row: np.ndarray, logits: mx.array, cache: list,
                      out: list[tuple[int, GenerationResponse]]) -> list[tuple[_Row, list]]:
        """Resolve row r's branch points as the lone loop does, their rollouts
        a batch of their own while the other rows wait, until it has a token
        to feed: then it rejoins with the winner's cache."""
        seq, engine = r.seq, r.engine

        def next_key() -> mx.array:
            r.key, sub = mx.random.split(r.key)
            return sub

        event = Event.BRANCH
        while event is Event.BRANCH:
            next_key()  # the lone loop's discarded queued step
            result = run_branches(engine, cache, logits, row, seq.n, seq.max_tokens - seq.n, next_key)
            cache = result.cache
            for i, rec in enumerate(result.records):
                response, done = seq.emit(rec, last=result.next_step is None
                                          and i == len(result.records) - 1)
                out.append((r.uid, response))
                if done:
                    return []
            row, logits = np.array(result.next_step.packed)[0], result.next_step.logits
            rec, event = seq.next_record(row, can_branch=seq.more)
        if event is Event.THINK and seq.more:
            next_key()
        return [(r, cache)] if self._emit(r, rec, out) else []
