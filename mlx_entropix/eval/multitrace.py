"""Decoding methods that generate several traces per question and pick one
answer, each named with its budget: `self_consistency@k=5`,
`cot_decoding@k=5`, `egb@b=4:tau=2`, `deepconf@k=5:keep=0.6`. A method is a
trace set (which continuations it asks for) and a pick rule (how it chooses
among their answers); `pick=` swaps the rule, so the same traces can be
compared under two rules.

Trace sets:
- `self_consistency` / `deepconf`: k sampled answers (the `normal` sampler,
  T 0.666, top-p 0.9, min-p 0.03); sample 0 uses the item's own seed, so it is
  the single-pass `normal` answer.
- `cot_decoding` (Wang & Zhou 2024, "Chain-of-Thought Reasoning Without
  Prompting"): the k most likely first tokens, each continued greedily (the
  first path is greedy's own answer). k is at most the 5 alternatives a trace
  records per token.
- `egb` (entropy-gated branching; after Li et al. 2025, without their reward
  model): greedy's answer, and at up to b of its positions whose entropy
  exceeds tau nats (the most uncertain first) a branch that takes the next
  most likely token there and continues greedily.

Pick rules (answers are the strict answers of scoring.py; a trace without
one does not vote):
- `vote`: majority; a tie goes to the answer met first (greedy's, or sample 0).
- `margin`: the trace whose answer tokens have the largest mean
  p(top-1) - p(top-2) (CoT decoding's choice); `margin_sum` adds the margins of
  the traces sharing an answer (the paper's aggregated variant).
- `deepconf` (Fu et al. 2025, "Deep Think with Confidence", offline): keep the
  `keep` fraction of traces with the highest lowest-group confidence (window
  `window` tokens), then a confidence-weighted vote among them.
- `guard`: greedy's answer unless at least `agree` of the other traces (and
  at least two) agree on one other answer; a safe rule by construction. The
  greedy trace is added to the set when the set lacks it.

A method is charged the decoded tokens and the time of every trace it used,
as if it ran alone (two methods sharing a trace are each charged for it).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..methods import NORMAL, MethodError, MethodSpec, resolve_method
from ..packed import N_TOP
from ..sampler import get_preset
from ..trace import Trace
from .confidence import answer_margin, lowest_group_confidence
from .traces import TraceRequest, TraceSource, decoded_tokens

GREEDY = MethodSpec("greedy", "preset", get_preset("greedy"))
SAMPLER = MethodSpec(NORMAL, NORMAL)

# A trace's strict answer with its character span, or None (a format failure).
Parsed = tuple[str, int, int] | None
# (text) -> Parsed: the item's scorer, without the gold.
Parse = Callable[[str], Parsed]
# (traces, their parsed answers, the method's parameters) -> (chosen index or None, details)
Pick = Callable[[list[Trace], list[Parsed], dict[str, Any]], tuple[int | None, dict[str, Any]]]


@dataclass
class ItemContext:
    """What a method needs to answer one item (never its gold answer)."""

    messages: list[dict[str, str]]
    seed: int
    max_tokens: int
    source: TraceSource
    parse: Parse

    def request(self, spec: MethodSpec, seed: int | None = None, prefix: tuple[int, ...] = ()) -> TraceRequest:
        return TraceRequest.of(self.messages, spec, self.seed if seed is None else seed, self.max_tokens,
                               prefix)


@dataclass
class Answer:
    """One method's answer to one item: the chosen trace's text and what it cost."""

    text: str
    used: list[int]  # indices of the item's traces this method used
    chosen: int | None  # the one whose text is the answer
    tokens: int
    time_s: float
    details: dict[str, Any] = field(default_factory=dict)


def _charge(ctx: ItemContext, requests: list[TraceRequest], traces: list[Trace], chosen: int | None,
            details: dict[str, Any] | None = None) -> Answer:
    idx = [ctx.source.index(r) for r in requests]
    unique = list(dict.fromkeys(idx))
    by_index = dict(zip(idx, traces))
    return Answer(
        text=traces[chosen].text if chosen is not None else (traces[0].text if traces else ""),
        used=unique,
        chosen=idx[chosen] if chosen is not None else None,
        tokens=sum(decoded_tokens(by_index[i]) for i in unique),
        time_s=sum(by_index[i].stats.total_time_s for i in unique),
        details=details or {},
    )


@dataclass(frozen=True)
class SinglePass:
    """One trace under a sampler method (`greedy`, `normal`, a preset, a config file)."""

    spec: MethodSpec

    @property
    def label(self) -> str:
        return self.spec.label

    def describe(self) -> dict[str, Any]:
        return self.spec.describe()

    def answer(self, ctx: ItemContext) -> Answer:
        req = ctx.request(self.spec)
        return _charge(ctx, [req], ctx.source.get([req]), 0)


def sample_seed(seed: int, j: int) -> int:
    """Sample j's seed: the item's own for j = 0 (so it is the `normal` answer), else hashed."""
    if j == 0:
        return seed
    return int.from_bytes(hashlib.sha256(f"{seed}:sample:{j}".encode()).digest()[:4], "little")


# --- trace sets -----------------------------------------------------------------------------

def sample_requests(ctx: ItemContext, p: dict[str, Any]) -> list[TraceRequest]:
    return [ctx.request(SAMPLER, sample_seed(ctx.seed, j)) for j in range(p["k"])]


def cot_requests(ctx: ItemContext, p: dict[str, Any]) -> list[TraceRequest]:
    greedy = ctx.request(GREEDY)
    (g,) = ctx.source.get([greedy])
    if not g.tokens:
        return [greedy]
    firsts = [a.id for a in g.tokens[0].top[: p["k"]] if a.id != g.tokens[0].id]
    return [greedy] + [ctx.request(GREEDY, prefix=(t,)) for t in firsts[: p["k"] - 1]]


def egb_requests(ctx: ItemContext, p: dict[str, Any]) -> list[TraceRequest]:
    greedy = ctx.request(GREEDY)
    (g,) = ctx.source.get([greedy])
    prefix = tuple(t.id for t in g.tokens)
    uncertain = sorted((i for i, t in enumerate(g.tokens) if t.metrics.entropy > p["tau"] and not t.inserted),
                       key=lambda i: -g.tokens[i].metrics.entropy)
    branches: list[TraceRequest] = []
    for i in uncertain:
        alts = [a.id for a in g.tokens[i].top if a.id != g.tokens[i].id][: p["width"]]
        for a in alts:
            if len(branches) < p["b"]:
                branches.append(ctx.request(GREEDY, prefix=prefix[:i] + (a,)))
    return [greedy] + branches


TRACE_SETS = {"samples": sample_requests, "cot": cot_requests, "egb": egb_requests}


# --- pick rules -----------------------------------------------------------------------------

def pick_vote(traces: list[Trace], parsed: list[Parsed], p: dict[str, Any],
              weights: list[float] | None = None) -> tuple[int | None, dict[str, Any]]:
    tally: dict[str, float] = {}
    for j, a in enumerate(parsed):
        if a is not None:
            tally[a[0]] = tally.get(a[0], 0.0) + (1.0 if weights is None else weights[j])
    if not tally:
        return None, {"votes": {}}
    best = max(tally.values())
    winner = next(a[0] for a in parsed if a is not None and tally[a[0]] == best)
    chosen = next(j for j, a in enumerate(parsed) if a is not None and a[0] == winner)
    return chosen, {"votes": {k: round(v, 4) for k, v in tally.items()}}


def pick_margin(traces: list[Trace], parsed: list[Parsed], p: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    margins = [None if a is None else answer_margin(t, a[1], a[2]) for t, a in zip(traces, parsed)]
    if all(m is None for m in margins):
        return None, {"margins": margins}
    chosen = max((j for j, m in enumerate(margins) if m is not None), key=lambda j: margins[j])
    return chosen, {"margins": [None if m is None else round(m, 4) for m in margins]}


def pick_margin_sum(traces: list[Trace], parsed: list[Parsed], p: dict[str, Any]
                    ) -> tuple[int | None, dict[str, Any]]:
    margins = [0.0 if a is None else answer_margin(t, a[1], a[2]) for t, a in zip(traces, parsed)]
    return pick_vote(traces, parsed, p, weights=margins)


def pick_deepconf(traces: list[Trace], parsed: list[Parsed], p: dict[str, Any]
                  ) -> tuple[int | None, dict[str, Any]]:
    conf = [lowest_group_confidence(t, p["window"]) for t in traces]
    keep_n = max(1, math.ceil(p["keep"] * len(traces)))
    kept = sorted(range(len(traces)), key=lambda j: -conf[j])[:keep_n]
    filtered = [parsed[j] if j in kept else None for j in range(len(traces))]
    chosen, info = pick_vote(traces, filtered, p, weights=conf)
    return chosen, {**info, "confidence": [round(c, 4) for c in conf], "kept": sorted(kept)}


def pick_guard(traces: list[Trace], parsed: list[Parsed], p: dict[str, Any]) -> tuple[int | None, dict[str, Any]]:
    """traces[0] is greedy's; the rest are its alternatives."""
    alts = parsed[1:]
    tally: dict[str, int] = {}
    for a in alts:
        if a is not None:
            tally[a[0]] = tally.get(a[0], 0) + 1
    if parsed[0] is None:
        chosen, info = pick_vote(traces[1:], alts, p)
        return (None if chosen is None else chosen + 1), info
    need = max(2, math.ceil(p["agree"] * len(alts)))
    for answer, count in sorted(tally.items(), key=lambda kv: -kv[1]):
        if answer != parsed[0][0] and count >= need:
            return 1 + next(j for j, a in enumerate(alts) if a is not None and a[0] == answer), \
                {"votes": tally, "overruled": True}
    return 0, {"votes": tally, "overruled": False}


PICKS: dict[str, Pick] = {"vote": pick_vote, "margin": pick_margin, "margin_sum": pick_margin_sum,
         "deepconf": pick_deepconf, "guard": pick_guard}


# --- named methods --------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    trace_set: str
    defaults: dict[str, Any]


COMMON = {"agree": 0.75, "window": 16, "keep": 0.6}
FAMILIES = {
    "self_consistency": Family("samples", {"k": 5, "pick": "vote"}),
    "deepconf": Family("samples", {"k": 5, "pick": "deepconf"}),
    "cot_decoding": Family("cot", {"k": 5, "pick": "margin"}),
    "egb": Family("egb", {"b": 4, "tau": 2.0, "width": 1, "pick": "vote"}),
}
_INT = {"k", "b", "width", "window"}
_LIMITS = {"k": (1, 64), "b": (0, 64), "width": (1, N_TOP - 1), "window": (1, 100_000),
           "tau": (0.0, 50.0), "keep": (0.0, 1.0), "agree": (0.0, 1.0)}


@dataclass(frozen=True)
class MultiTrace:
    label: str
    family: str
    params: dict[str, Any]

    def describe(self) -> dict[str, Any]:
        return {"source": "multi-trace", "family": self.family, "params": dict(sorted(self.params.items())),
                "sampler": {"greedy": GREEDY.describe(), "samples": SAMPLER.describe()}}

    def answer(self, ctx: ItemContext) -> Answer:
        requests = TRACE_SETS[FAMILIES[self.family].trace_set](ctx, self.params)
        if self.params["pick"] == "guard" and requests[0].spec.label != "greedy":
            requests = [ctx.request(GREEDY)] + requests
        traces = ctx.source.get(requests)
        parsed = [ctx.parse(t.text) for t in traces]
        chosen, details = PICKS[self.params["pick"]](traces, parsed, self.params)
        return _charge(ctx, requests, traces, chosen, details)


def _param(label: str, key: str, raw: str) -> Any:
    if key == "pick":
        if raw not in PICKS:
            raise MethodError(f"{label}: pick={raw} is unknown; choose one of {', '.join(PICKS)}")
        return raw
    try:
        value = int(raw) if key in _INT else float(raw)
    except ValueError:
        raise MethodError(f"{label}: {key}={raw} is not a{'n integer' if key in _INT else ' number'}") from None
    lo, hi = _LIMITS[key]
    if not lo <= value <= hi:
        raise MethodError(f"{label}: {key}={raw} is outside [{lo}, {hi}]")
    return value


def parse_multitrace(name: str) -> MultiTrace:
    """`family` or `family@key=value:key=value`."""
    family, _, rest = name.partition("@")
    if family not in FAMILIES:
        raise MethodError(f"unknown multi-trace method {family!r}: choose one of {', '.join(FAMILIES)}")
    params = {**COMMON, **FAMILIES[family].defaults}
    allowed = set(params)
    for part in filter(None, rest.split(":")):
        key, eq, raw = part.partition("=")
        if not eq or key not in allowed:
            raise MethodError(f"{name}: {part!r} is not a parameter; {family} takes "
                              f"{', '.join(sorted(allowed))} as key=value, joined by ':'")
        params[key] = _param(name, key, raw)
    if family == "cot_decoding" and params["k"] > N_TOP:
        raise MethodError(f"{name}: k={params['k']} but a trace records only {N_TOP} first-token alternatives")
    return MultiTrace(name, family, params)


EvalMethod = SinglePass | MultiTrace


def resolve_eval_method(name: str) -> EvalMethod:
    if "@" in name or name in FAMILIES:
        return parse_multitrace(name)
    return SinglePass(resolve_method(name))


def resolve_eval_methods(text: str, flag: str = "--methods") -> tuple[EvalMethod, ...]:
    """A comma-separated list of single-pass and multi-trace methods, each once."""
    names = [m.strip() for m in text.split(",") if m.strip()]
    if not names:
        raise MethodError(f"{flag} is empty: give a comma-separated list, e.g. greedy,self_consistency@k=5")
    methods = tuple(resolve_eval_method(n) for n in names)
    labels = [m.label for m in methods]
    twice = next((lab for lab in labels if labels.count(lab) > 1), None)
    if twice is not None:
        raise MethodError(f"{flag} lists {twice!r} twice (a config file is labelled by its stem): give each once")
    return methods


def known_multitrace() -> str:
    return ", ".join(f"{f}@{':'.join(f'{k}={v}' for k, v in fam.defaults.items())}" for f, fam in FAMILIES.items())


def sc_points(configs: dict[str, Any]) -> dict[str, int]:
    """The self-consistency curve in a run, from its configs (describe()):
    label -> k (majority-vote self-consistency, and `normal`, which is its
    k = 1). The report compares methods with it at matched tokens; the plot draws it."""
    points = {}
    for label, c in configs.items():
        if c.get("source") == "normal":
            points[label] = 1
        elif c.get("family") == "self_consistency" and c.get("params", {}).get("pick") == "vote":
            points[label] = c["params"]["k"]
    return points
