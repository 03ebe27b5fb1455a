"""The trace format: one run, token by token, as the CLI writes it, the server
streams it and the UI loads it.

Defined once here so the three cannot drift apart. Every entropy-like number is
in nats (natural log); `UNIT` is written into every trace so a reader never has
to guess. See docs/trace-format.md for the field-by-field description.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TRACE_VERSION = 1
UNIT = "nats"

# Outcomes, in the order the UI and the CLI legend show them.
OUTCOMES = ("argmax", "think", "explore", "resample", "adaptive", "branch", "sample")
OUTCOME_LABELS = {
    "argmax": "Argmax (low entropy, low varentropy)",
    "think": "Thinking token inserted (high entropy, low varentropy)",
    "explore": "Explore (low entropy, high varentropy)",
    "resample": "Resample hot (high entropy, high varentropy)",
    "adaptive": "Adaptive sampling (in between)",
    "branch": "Branch point (parallel continuations, winner kept)",
    "sample": "Plain sampling (normal baseline)",
}

METRIC_NAMES = (
    "entropy",
    "varentropy",
    "attn_entropy",
    "attn_varentropy",
    "attn_head_varentropy",
    "agreement",
    "interaction_strength",
)


@dataclass
class Metrics:
    """Per-token signals, all in nats (squared nats for varentropies).

    attn_varentropy is the across-head variance of attention entropy (what the
    original entropix calls "attention varentropy"); attn_head_varentropy is the
    true per-head varentropy of the attention distribution, averaged over heads.
    Attention values are reduced over layers (mean, or one chosen layer).
    """

    entropy: float
    varentropy: float
    attn_entropy: float
    attn_varentropy: float
    attn_head_varentropy: float
    agreement: float
    interaction_strength: float


@dataclass
class SamplingParams:
    """The effective parameters the sampler used for this token."""

    temperature: float
    top_p: float
    top_k: int
    min_p: float


@dataclass
class Alternative:
    id: int
    text: str
    logprob: float


@dataclass
class BranchCandidate:
    tokens: list[int]
    text: str
    score: float


@dataclass
class Branch:
    """A branch point: N continuations rolled forward, the winner kept."""

    score_kind: str
    winner: int
    candidates: list[BranchCandidate]


@dataclass
class TokenRecord:
    index: int
    id: int
    text: str
    outcome: str
    inserted: bool
    logprob: float
    params: SamplingParams
    metrics: Metrics
    top: list[Alternative] = field(default_factory=list)
    branch: Branch | None = None
    layers: dict[str, list[list[float]]] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["branch"] is None:
            del d["branch"]
        if d["layers"] is None:
            del d["layers"]
        return d


@dataclass
class Stats:
    prompt_tokens: int
    generation_tokens: int
    prompt_tps: float
    generation_tps: float
    time_to_first_token_s: float
    total_time_s: float
    peak_memory_gb: float
    finish_reason: str
    outcome_counts: dict[str, int]
    mean_entropy: float


@dataclass
class Trace:
    model: dict[str, Any]
    prompt: dict[str, Any]
    sampler: dict[str, Any]
    tokens: list[TokenRecord]
    stats: Stats | None = None
    text: str = ""
    unit: str = UNIT
    version: int = TRACE_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "unit": self.unit,
            "model": self.model,
            "prompt": self.prompt,
            "sampler": self.sampler,
            "text": self.text,
            "tokens": [t.to_dict() for t in self.tokens],
            "stats": asdict(self.stats) if self.stats else None,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, allow_nan=False))


class TraceError(ValueError):
    """A trace file that is not a valid trace."""


def token_from_dict(d: dict[str, Any]) -> TokenRecord:
    branch = d.get("branch")
    return TokenRecord(
        index=int(d["index"]),
        id=int(d["id"]),
        text=str(d["text"]),
        outcome=str(d["outcome"]),
        inserted=bool(d["inserted"]),
        logprob=float(d["logprob"]),
        params=SamplingParams(**d["params"]),
        metrics=Metrics(**d["metrics"]),
        top=[Alternative(**a) for a in d.get("top", [])],
        branch=Branch(
            score_kind=branch["score_kind"],
            winner=int(branch["winner"]),
            candidates=[BranchCandidate(**c) for c in branch["candidates"]],
        )
        if branch
        else None,
        layers=d.get("layers"),
    )


def trace_from_dict(d: dict[str, Any]) -> Trace:
    """Parse and validate a trace; raises TraceError naming the first problem."""
    try:
        if d.get("version") != TRACE_VERSION:
            raise TraceError(f"unsupported trace version {d.get('version')!r} (expected {TRACE_VERSION})")
        if d.get("unit") != UNIT:
            raise TraceError(f"trace unit is {d.get('unit')!r}, expected {UNIT!r}")
        tokens = [token_from_dict(t) for t in d["tokens"]]
        for t in tokens:
            if t.outcome not in OUTCOMES:
                raise TraceError(f"token {t.index}: unknown outcome {t.outcome!r}")
            bad = [k for k, v in asdict(t.metrics).items() if not math.isfinite(v)]
            if bad:
                raise TraceError(f"token {t.index}: non-finite metric {bad[0]}")
        stats = Stats(**d["stats"]) if d.get("stats") else None
        return Trace(
            model=dict(d["model"]),
            prompt=dict(d["prompt"]),
            sampler=dict(d["sampler"]),
            tokens=tokens,
            stats=stats,
            text=str(d.get("text", "")),
        )
    except TraceError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise TraceError(f"malformed trace: {type(e).__name__}: {e}") from None


def load_trace(path: str | Path) -> Trace:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TraceError(f"trace file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise TraceError(f"{path} is not JSON (line {e.lineno}: {e.msg})") from None
    return trace_from_dict(data)
