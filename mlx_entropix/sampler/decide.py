"""The per-token entropix decision, entirely on device: no Python branching on
device values, no host syncs, compilable with `mx.compile` (one graph per
batch size and vocabulary).

Rules, checked in this order (H, V = logits entropy/varentropy in nats/nats^2;
AE, AV = attention entropy / its across-head variance; AG = agreement;
IS = interaction strength). "Low" is strictly below its threshold, "high"
strictly above; the config guarantees low_ent <= med_ent <= high_ent and
low_vent <= high_vent, so the regions below are disjoint and every threshold
decides something:

1. argmax    H < low_ent and V < low_vent: the most probable token; reported
             with temperature 0.
2. think     H > high_ent and V < low_vent and think_allowed: the engine inserts
             cfg.think_text (the returned token is a valid draw at the params
             below and is not used).
             Same region with think_allowed False: outcome "adaptive" (nothing
             inserted, so it is not reported as think), chosen by the adaptive
             candidate score below, at T = min(1.5, temperature *
             (helv_attn_ent_offset + helv_attn_ent_coef * AE)) and the base
             top_p/top_k/min_p. The think outcome reports these same params.
3. explore   H < med_ent and V > high_vent: one draw at
             T = min(1.5, temperature * (lehv_offset + lehv_coef * IS)),
             top_k = max(5, floor(top_k * (1 + 0.5 * (1 - AG)))).
4. resample  H >= med_ent and V > high_vent: one draw at
             T = max(2.0, temperature * (hehv_attn_vent_offset + hehv_attn_vent_coef * AV)),
             top_p = max(0.5, top_p - hehv_attn_ent_coef * AE).
5. adaptive  everything else: T = temperature * (1 + ada_temp_logits (H+V)
             + ada_temp_attn (AE+AV) - ada_temp_agree AG) (floored at 0),
             top_p = clip(top_p (1 + ada_top_p AV), 0.1, 1),
             top_k = clip(round(top_k (1 + ada_top_k_int IS - ada_top_k_agree AG)), 1, 100),
             min_p = clip(min_p (1 - ada_min_p (H+V)), 0.01, 0.5);
             n_adaptive_samples candidates, the best by `score_candidates`.

With cfg.gating == "frog" every rule's region is further gated on the four
attention signals (see `REGION_RULES`); the parameters of each rule stay as above.

The original rule order (explore on H < high_ent before resample on
H > med_ent) left med_ent dead; here explore/resample split at med_ent.
top_k = 0 (off) stays off in every formula (they would otherwise turn it into
a hard cut of 5 or 1 tokens). Parameters not named in a rule are the base ones.
With cfg.greedy every token is argmax.

Every filter keeps a subset of a row's top-k tokens, so with top-k on the
draw runs over each row's max_top_k most probable tokens, not the whole
vocabulary (same distribution, a small fraction of the cost); the engine
selects them once per step (filters.top_tokens) for the draw and for the
recorded alternatives.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

import mlx.core as mx

from mlx_entropix.sampler.config import SamplerConfig
from mlx_entropix.sampler.filters import filtered_logprobs, sample, top_tokens

OUTCOME_CODES = ("argmax", "think", "explore", "resample", "adaptive")
ARGMAX, THINK, EXPLORE, RESAMPLE, ADAPTIVE = range(len(OUTCOME_CODES))

METRIC_KEYS = ("entropy", "varentropy", "attn_entropy", "attn_varentropy", "agreement", "interaction_strength")


@dataclass
class Decision:
    """What the sampler chose for each row; every field is an mx.array [B]."""

    token: mx.array  # int32
    outcome: mx.array  # int32 index into OUTCOME_CODES
    temperature: mx.array  # float32, effective params used (0 for argmax)
    top_p: mx.array
    top_k: mx.array  # int32, 0 = off
    min_p: mx.array
    branch: mx.array  # bool: the engine should open a branch point here
    exact: mx.array  # bool: False where a draw within a pool of tokens may have missed some (batch.plain_decide)


@dataclass
class Regions:
    """Which rule's region each row is in ([B] bool arrays; they may overlap,
    the rule order decides)."""

    argmax: mx.array
    helv: mx.array
    explore: mx.array
    resample: mx.array


Condition = tuple[str, str, str]  # (metric, comparison, threshold field)

# Attention calm: every attention signal below its low threshold (frog's argmax and think).
_CALM: tuple[Condition, ...] = (
    ("attn_entropy", "<", "low_attn_ent"), ("attn_varentropy", "<", "low_attn_vent"),
    ("agreement", "<", "low_agree"), ("interaction_strength", "<", "low_int"),
)

# The rule regions as data: per gating, per rule (in the order they are checked), the
# conditions that must all hold; a row in none of them is adaptive. The one definition
# of the regions: `regions` evaluates it on device, and the UI's re-classifier reads the
# same table (`decision_rule`, written to ui/src/decision_rule.json).
REGION_RULES: dict[str, dict[str, tuple[Condition, ...]]] = {
    "quadrant": {
        "argmax": (("entropy", "<", "low_ent"), ("varentropy", "<", "low_vent")),
        "think": (("entropy", ">", "high_ent"), ("varentropy", "<", "low_vent")),
        "explore": (("varentropy", ">", "high_vent"), ("entropy", "<", "med_ent")),
        "resample": (("varentropy", ">", "high_vent"), ("entropy", ">=", "med_ent")),
    },
    # Frog gating (the six-metric variant of the original), per rule:
    # argmax    all four attention signals low (focused, consistent heads);
    # think     the same, with high H: the model is unsure of a clear context;
    # explore   H below high_ent (not med_ent), attention entropy and agreement
    #           low, its variance across heads high, interaction strength above low;
    # resample  every attention signal high.
    "frog": {
        "argmax": (("entropy", "<", "low_ent"), ("varentropy", "<", "low_vent")) + _CALM,
        "think": (("entropy", ">", "high_ent"), ("varentropy", "<", "low_vent")) + _CALM,
        "explore": (("varentropy", ">", "high_vent"), ("entropy", "<", "high_ent"),
                    ("attn_entropy", "<", "low_attn_ent"), ("attn_varentropy", ">", "high_attn_vent"),
                    ("agreement", "<", "low_agree"), ("interaction_strength", ">", "low_int")),
        "resample": (("varentropy", ">", "high_vent"), ("entropy", ">=", "med_ent"),
                     ("attn_entropy", ">", "high_attn_ent"), ("attn_varentropy", ">", "high_attn_vent"),
                     ("agreement", ">", "high_agree"), ("interaction_strength", ">", "high_int")),
    },
}
RULE_ORDER = ("argmax", "think", "explore", "resample")
_COMPARE = {"<": operator.lt, ">": operator.gt, ">=": operator.ge}


def decision_rule() -> dict[str, Any]:
    """The regions as JSON for clients: rule order, fallback outcome and each gating's conditions."""
    return {
        "order": list(RULE_ORDER),
        "fallback": OUTCOME_CODES[ADAPTIVE],
        "gatings": {g: {r: [list(c) for c in conds] for r, conds in rules.items()}
                    for g, rules in REGION_RULES.items()},
    }


def _holds(m: dict[str, mx.array], cfg: SamplerConfig, conditions: tuple[Condition, ...]) -> mx.array:
    """Whether every condition holds, per row."""
    return functools.reduce(operator.and_, (_COMPARE[op](m[k], getattr(cfg, f)) for k, op, f in conditions))


def regions(m: dict[str, mx.array], cfg: SamplerConfig) -> Regions:
    """The rule regions of each row (REGION_RULES of cfg.gating). Quadrant gating
    looks at H and V only; frog gating also at the four attention signals, "low"
    below the signal's low threshold, "high" above its high one."""
    rules = REGION_RULES[cfg.gating]
    return Regions(*(_holds(m, cfg, rules[r]) for r in RULE_ORDER))


def region_outcomes(metrics: dict[str, mx.array], cfg: SamplerConfig) -> mx.array:
    """The outcome code each row's signals select, think taken as allowed
    (calibration measures outcome shares with it; decide uses the same regions)."""
    m = {k: metrics[k].astype(mx.float32) for k in METRIC_KEYS}
    return _select(regions(m, cfg), ARGMAX, THINK, EXPLORE, RESAMPLE, ADAPTIVE).astype(mx.int32)


def _select(r: Regions, argmax, helv, explore, resample, adaptive) -> mx.array:
    """Per-row value by region (same priority as the rule order)."""
    return mx.where(
        r.argmax, argmax, mx.where(r.helv, helv, mx.where(r.explore, explore, mx.where(r.resample, resample, adaptive)))
    )


def confidence(metrics: dict[str, mx.array], cfg: SamplerConfig) -> mx.array:
    """The original's state confidence with its published weights (nats now):
    high entropies lower it, agreement and interaction strength raise it."""
    m = metrics
    return (
        cfg.ada_score_logits_ent * (1 - m["entropy"])
        + cfg.ada_score_attn_ent * (1 - m["attn_entropy"])
        + cfg.ada_score_logits_vent * (1 - m["varentropy"])
        + cfg.ada_score_attn_vent * (1 - m["attn_varentropy"])
        + cfg.ada_score_agree * m["agreement"]
        + cfg.ada_score_int * m["interaction_strength"]
    )


def score_candidates(
    adjusted_logprob: mx.array,
    raw_logprob: mx.array,
    entropy: mx.array,
    confidence: mx.array,
    typicality: float,
) -> mx.array:
    """Score [B, n] candidates; higher is better.

    score = g * log p_adj(c) - (1 - g) * typicality * |-log p(c) - H|, with
    g = sigmoid(confidence). A confident state favours the likeliest candidate;
    an uncertain one favours the most *typical* candidate, whose surprisal is
    closest to the entropy (as in locally typical sampling). Both terms depend
    on the candidate, unlike the original's confidence bonus, which was the same
    for every candidate and so never changed the choice.
    """
    g = mx.sigmoid(confidence)[:, None]
    atypical = mx.abs(-raw_logprob - entropy[:, None])
    return g * adjusted_logprob - (1 - g) * typicality * atypical


def _greedy(logits: mx.array, cfg: SamplerConfig) -> Decision:
    b = logits.shape[0]

    def full(x, dtype):
        return mx.full((b,), x, dtype=dtype)

    return Decision(
        token=mx.argmax(logits, axis=-1).astype(mx.int32),
        outcome=full(ARGMAX, mx.int32),
        temperature=full(0.0, mx.float32),
        top_p=full(cfg.top_p, mx.float32),
        top_k=full(cfg.top_k, mx.int32),
        min_p=full(cfg.min_p, mx.float32),
        branch=full(False, mx.bool_),
        exact=full(True, mx.bool_),
    )


def max_top_k(cfg: SamplerConfig) -> int:
    """The largest top_k any rule can give under cfg (0: top-k is off, so
    every token may be drawn). Explore widens the base k by at most half
    (agreement >= 0), adaptive clips it at 100."""
    if cfg.top_k == 0:
        return 0
    return max(cfg.top_k, 5, math.floor(cfg.top_k * 1.5), 100)


def pool_width(cfg: SamplerConfig) -> int:
    """How many of a row's most probable tokens `decide` draws from under cfg
    (0: it needs none: greedy, or top-k off so every token may be drawn)."""
    return 0 if cfg.greedy else max_top_k(cfg)


def _pool(logprobs: mx.array, cfg: SamplerConfig, top: mx.array | None = None) -> mx.array | None:
    """Token ids [B, K] of each row's K = max_top_k(cfg) most probable tokens,
    or None when top-k is off. Every filter keeps a subset of a row's top-k
    tokens and renormalises over what it keeps, so sampling within the pool
    draws from exactly the distribution the whole vocabulary gives, at a cost
    of K tokens instead of V (sorting and drawing from 152k tokens per row
    took longer than the forward pass of a 0.5B model). `top` is those ids
    when the caller has them (top_tokens: the engine shares one selection
    with the recorded alternatives). The pool is in token id order, so a draw
    does not depend on how the selection happened to order it (a batched
    row's logits differ from its lone run's in the last bits, which may
    reorder a selection but rarely changes its members)."""
    k = max_top_k(cfg)
    if k == 0 or k >= logprobs.shape[-1]:
        return None
    if top is None or top.shape[-1] != k:
        top = top_tokens(logprobs, k)
    return mx.sort(top, axis=-1)


def decide(
    logprobs: mx.array,
    metrics: dict[str, mx.array],
    key: mx.array,
    cfg: SamplerConfig,
    think_allowed: mx.array,
    top: mx.array | None = None,
) -> Decision:
    """Choose the next token of every row from its log-probabilities [B, V]
    (log_softmax of the logits: the candidates' scores read them as such).
    `key` must be fresh for each call; it is used once, by the single
    categorical call that draws all candidates (i.i.d. per row and candidate).
    `top`: each row's pool_width(cfg) most probable token ids (top_tokens),
    if the caller has them; else they are selected here."""
    logprobs = logprobs.astype(mx.float32)
    if cfg.greedy:
        return _greedy(logprobs, cfg)
    m = {k: metrics[k].astype(mx.float32) for k in METRIC_KEYS}
    h, v, ae, av, ag, i_s = (m[k] for k in METRIC_KEYS)
    r = regions(m, cfg)
    temp, base_k = cfg.temperature, cfg.top_k

    t_helv = mx.minimum(1.5, temp * (cfg.helv_attn_ent_offset + cfg.helv_attn_ent_coef * ae))
    t_lehv = mx.minimum(1.5, temp * (cfg.lehv_interaction_strength_offset + cfg.lehv_interaction_strength_coef * i_s))
    t_hehv = mx.maximum(2.0, temp * (cfg.hehv_attn_vent_offset + cfg.hehv_attn_vent_coef * av))
    t_ada = mx.maximum(
        0.0, temp * (1 + cfg.ada_temp_logits * (h + v) + cfg.ada_temp_attn * (ae + av) - cfg.ada_temp_agree * ag)
    )
    temperature = _select(r, 0.0, t_helv, t_lehv, t_hehv, t_ada)

    p_hehv = mx.maximum(0.5, cfg.top_p - cfg.hehv_attn_ent_coef * ae)
    p_ada = mx.clip(cfg.top_p * (1 + cfg.ada_top_p * av), 0.1, 1.0)
    top_p = _select(r, cfg.top_p, cfg.top_p, cfg.top_p, p_hehv, p_ada)

    k_lehv = mx.maximum(5, mx.floor(base_k * (1 + 0.5 * (1 - ag))))
    k_ada = mx.clip(mx.round(base_k * (1 + cfg.ada_top_k_int * i_s - cfg.ada_top_k_agree * ag)), 1, 100)
    top_k = mx.minimum(_select(r, base_k, base_k, k_lehv, base_k, k_ada), max_top_k(cfg)).astype(mx.int32)
    if base_k == 0:
        top_k = mx.zeros_like(top_k)

    m_ada = mx.clip(cfg.min_p * (1 - cfg.ada_min_p * (h + v)), 0.01, 0.5)
    min_p = _select(r, cfg.min_p, cfg.min_p, cfg.min_p, cfg.min_p, m_ada)

    think = mx.where(think_allowed, THINK, ADAPTIVE)
    outcome = _select(r, ARGMAX, think, EXPLORE, RESAMPLE, ADAPTIVE).astype(mx.int32)

    ids = _pool(logprobs, cfg, top)
    pool = logprobs if ids is None else mx.take_along_axis(logprobs, ids, axis=-1)
    adjusted = filtered_logprobs(pool, temperature, top_p, top_k, min_p)
    cands = sample(adjusted, key, num_samples=cfg.n_adaptive_samples)  # positions in the pool
    scores = score_candidates(
        mx.take_along_axis(adjusted, cands, axis=-1),
        mx.take_along_axis(pool, cands, axis=-1),
        h,
        confidence(m, cfg),
        cfg.ada_score_typicality,
    )
    best = mx.take_along_axis(cands, mx.argmax(scores, axis=-1, keepdims=True), axis=-1)[:, 0]
    drawn = mx.where(outcome == ADAPTIVE, best, cands[:, 0])
    if ids is not None:
        drawn = mx.take_along_axis(ids, drawn[:, None], axis=-1)[:, 0]
    token = mx.where(r.argmax, mx.argmax(logprobs, axis=-1).astype(mx.int32), drawn)

    both_high = (h > cfg.branch_fraction * cfg.high_ent) & (v > cfg.branch_fraction * cfg.high_vent)
    # Never on a sure (argmax) row: a fit can put low_ent above branch_fraction x high_ent.
    branch = (r.explore | both_high) & (outcome != THINK) & (outcome != ARGMAX)
    if not cfg.branching:
        branch = mx.zeros_like(branch)

    return Decision(token, outcome, temperature, top_p, top_k, min_p, branch, mx.ones_like(branch))


@functools.lru_cache(maxsize=16)
def compiled_decide(cfg: SamplerConfig) -> Callable[..., Decision]:
    """`decide` for a fixed config, compiled once per config (and traced once
    per input shape): call it as f(logprobs, metrics, key, think_allowed, top=None).
    Its `pool` attribute is pool_width(cfg): the width of `top` it takes."""

    def run(logprobs, metrics, key, think_allowed, *top):
        d = decide(logprobs, metrics, key, cfg, think_allowed, *top)
        return tuple(getattr(d, f.name) for f in dataclasses.fields(Decision))

    compiled = mx.compile(run)

    def call(logprobs, metrics, key, think_allowed, top=None) -> Decision:
        extra = () if top is None else (top,)
        return Decision(*compiled(logprobs, {k: metrics[k] for k in METRIC_KEYS}, key, think_allowed, *extra))

    call.pool = pool_width(cfg)
    return call
