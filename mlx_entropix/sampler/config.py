"""SamplerConfig: every knob of the entropix sampler, with its units, range and
documentation in one place, plus JSON/TOML files and named presets.

Units: the engine measures entropies in nats. The original thresholds were in
bits, so they are converted exactly here (entropy thresholds x ln 2,
varentropy thresholds x (ln 2)^2). The published coefficients of the
temperature/top-p/top-k/min-p formulas are kept as published; they now act on
nats metrics, which is a (documented) change of their effective strength.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..text import TextError, checked_text

LN2 = math.log(2.0)

BRANCH_SCORES = ("entropy", "margin")
BRANCH_CANDIDATES = ("sampled", "top")
GATINGS = ("quadrant", "frog")
THRESHOLD_SOURCES = ("published", "fitted", "custom")

# The fields a threshold fit sets (FITTED_FIELDS) and that mark a config "custom" when overridden.
QUADRANT_THRESHOLDS = ("low_ent", "low_vent", "med_ent", "high_ent", "high_vent")
ATTN_THRESHOLDS = ("low_attn_ent", "high_attn_ent", "low_attn_vent", "high_attn_vent",
                   "low_agree", "high_agree", "low_int", "high_int")
THRESHOLD_FIELDS = QUADRANT_THRESHOLDS + ATTN_THRESHOLDS


class ConfigError(ValueError):
    """A sampler config (field, file or preset) that cannot be used as given."""


@dataclass(frozen=True)
class Range:
    """Accepted values of a numeric field; `str()` gives the interval notation
    used in error messages."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def contains(self, x: float) -> bool:
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open else x <= self.hi
        return math.isfinite(x) and above and below

    def __str__(self) -> str:
        def fmt(v: float) -> str:
            if math.isinf(v):
                return "-inf" if v < 0 else "inf"
            return str(int(v)) if float(v).is_integer() else f"{v:g}"

        left = "(" if self.lo_open or math.isinf(self.lo) else "["
        right = ")" if self.hi_open or math.isinf(self.hi) else "]"
        return f"{left}{fmt(self.lo)}, {fmt(self.hi)}{right}"


ANY = Range()
NONNEG = Range(0.0)
# Far above any useful temperature and far below where 1/T underflows in
# float32, which turns a draw into NaN and an out-of-vocabulary token.
MAX_TEMPERATURE = 100.0
TEMPERATURE = Range(0.0, MAX_TEMPERATURE, lo_open=True)
UNIT = Range(0.0, 1.0)


def _f(default: float, doc: str, rng: Range = ANY) -> Any:
    return field(default=default, metadata={"doc": doc, "type": float, "range": rng})


def _i(default: int, doc: str, rng: Range) -> Any:
    return field(default=default, metadata={"doc": doc, "type": int, "range": rng})


def _b(default: bool, doc: str) -> Any:
    return field(default=default, metadata={"doc": doc, "type": bool})


def _s(default: str, doc: str, choices: tuple[str, ...] = ()) -> Any:
    return field(default=default, metadata={"doc": doc, "type": str, "choices": choices})


@dataclass(frozen=True)
class SamplerConfig:
    """Entropix sampler parameters. Entropies in nats, varentropies in nats^2.

    Rule boundaries (see decide.py): "low" means strictly below (<) its
    threshold, "high" strictly above (>); resample takes H >= med_ent.
    """

    temperature: float = _f(0.666, "Base sampling temperature the rules scale from.", TEMPERATURE)
    top_p: float = _f(0.90, "Base nucleus mass: keep the most probable tokens until their mass reaches top_p (1 = off).", UNIT)
    top_k: int = _i(27, "Base top-k: keep the k most probable tokens (0 = off, also in every rule's formula).", Range(0, 2**31 - 1))
    min_p: float = _f(0.03, "Base min-p: drop tokens with p < min_p * p_max (0 = off).", UNIT)

    low_ent: float = _f(0.1 * LN2, "Entropy below which H is 'low' (nats; 0.1 bits).", NONNEG)
    low_vent: float = _f(0.1 * LN2**2, "Varentropy below which V is 'low' (nats^2; 0.1 bits^2).", NONNEG)
    med_ent: float = _f(3.0 * LN2, "Entropy splitting explore (H < med_ent) from resample (H >= med_ent) when V is high (nats; 3 bits).", NONNEG)
    high_ent: float = _f(5.0 * LN2, "Entropy above which H is 'high' for the think rule (nats; 5 bits).", NONNEG)
    high_vent: float = _f(5.0 * LN2**2, "Varentropy above which V is 'high' (nats^2; 5 bits^2).", NONNEG)
    thresholds: str = _s("published", "Where the thresholds come from: 'published' (the original's, in nats), 'fitted' (to the loaded model, see calibrate) or 'custom'; set to 'custom' whenever a threshold is overridden.", THRESHOLD_SOURCES)

    gating: str = _s("quadrant", "Rule gating: 'quadrant' (entropy and varentropy only) or 'frog' (every rule also gated on the four attention signals' low/high thresholds below).", GATINGS)
    low_attn_ent: float = _f(1.85, "Frog gating: attention entropy below which it is 'low' (nats; default: SmolLM2-135M's p25 over greedy dev answers).", NONNEG)
    high_attn_ent: float = _f(2.05, "Frog gating: attention entropy above which it is 'high' (nats; SmolLM2-135M's p75).", NONNEG)
    low_attn_vent: float = _f(0.45, "Frog gating: across-head attention-entropy variance below which it is 'low' (SmolLM2-135M's p25).", NONNEG)
    high_attn_vent: float = _f(0.59, "Frog gating: across-head attention-entropy variance above which it is 'high' (SmolLM2-135M's p75).", NONNEG)
    low_agree: float = _f(0.008, "Frog gating: agreement (mean head deviation) below which it is 'low' (SmolLM2-135M's p25).", NONNEG)
    high_agree: float = _f(0.011, "Frog gating: agreement above which it is 'high' (SmolLM2-135M's p75).", NONNEG)
    low_int: float = _f(3.46, "Frog gating: interaction strength below which it is 'low' (SmolLM2-135M's p25).", NONNEG)
    high_int: float = _f(3.74, "Frog gating: interaction strength above which it is 'high' (SmolLM2-135M's p75).", NONNEG)

    helv_attn_ent_offset: float = _f(1.3, "Think region, insertion blocked: T = min(1.5, temperature * (offset + coef * attn_entropy)).")
    helv_attn_ent_coef: float = _f(0.2, "Think region, insertion blocked: attention-entropy coefficient of T.")
    lehv_interaction_strength_offset: float = _f(1.2, "Explore: T = min(1.5, temperature * (offset + coef * interaction_strength)).")
    lehv_interaction_strength_coef: float = _f(0.3, "Explore: interaction-strength coefficient of T.")
    hehv_attn_ent_coef: float = _f(0.2, "Resample: top_p = max(0.5, top_p - coef * attn_entropy).")
    hehv_attn_vent_offset: float = _f(2.0, "Resample: T = max(2.0, temperature * (offset + coef * attn_varentropy)).")
    hehv_attn_vent_coef: float = _f(0.5, "Resample: attention-varentropy coefficient of T.")

    n_adaptive_samples: int = _i(5, "Adaptive: number of candidates drawn; the best-scored one is kept.", Range(1, 64))
    ada_temp_logits: float = _f(0.3, "Adaptive T: coefficient of (entropy + varentropy).")
    ada_temp_attn: float = _f(0.2, "Adaptive T: coefficient of (attn_entropy + attn_varentropy).")
    ada_temp_agree: float = _f(0.2, "Adaptive T: coefficient of agreement (subtracted).")
    ada_top_p: float = _f(0.1, "Adaptive top_p = clip(top_p * (1 + coef * attn_varentropy), 0.1, 1).")
    ada_top_k_int: float = _f(0.3, "Adaptive top_k: coefficient of interaction_strength.")
    ada_top_k_agree: float = _f(0.2, "Adaptive top_k: coefficient of agreement (subtracted); top_k clipped to [1, 100].")
    ada_min_p: float = _f(0.5, "Adaptive min_p = clip(min_p * (1 - coef * (entropy + varentropy)), 0.01, 0.5).")

    ada_score_logits_ent: float = _f(0.1, "Adaptive score: weight of (1 - entropy) in the confidence that gates likelihood vs typicality.")
    ada_score_attn_ent: float = _f(0.2, "Adaptive score: weight of (1 - attn_entropy) in the confidence.")
    ada_score_logits_vent: float = _f(0.3, "Adaptive score: weight of (1 - varentropy) in the confidence.")
    ada_score_attn_vent: float = _f(0.4, "Adaptive score: weight of (1 - attn_varentropy) in the confidence.")
    ada_score_agree: float = _f(0.5, "Adaptive score: weight of agreement in the confidence.")
    ada_score_int: float = _f(0.6, "Adaptive score: weight of interaction_strength in the confidence.")
    ada_score_typicality: float = _f(1.0, "Adaptive score: weight of the typicality penalty |surprisal - entropy| (0 = pick the most likely candidate).", NONNEG)

    greedy: bool = _b(False, "Pure argmax for every token (no rules, no insertions, no branches).")
    think_text: str = _s(" ...", "Text a think insertion inserts, encoded with the model's own tokenizer.")
    max_think_insertions: int = _i(3, "Most think insertions per generation (0 = never insert).", NONNEG)
    branching: bool = _b(True, "Open branch points (explore tokens, and tokens where H and V are both high).")
    n_branches: int = _i(4, "Continuations rolled forward at a branch point.", Range(2, 16))
    branch_max_tokens: int = _i(8, "Longest continuation of a branch (it also stops at the end of a sentence or line).", Range(1, 256))
    branch_fraction: float = _f(0.8, "Also branch when H > fraction * high_ent and V > fraction * high_vent.", Range(0.0, 1.0, lo_open=True))
    branch_score: str = _s("entropy", "How the winning branch is picked: 'entropy' (lowest mean entropy) or 'margin' (highest mean top-2 probability margin, the answer confidence of CoT-decoding).", BRANCH_SCORES)
    branch_candidates: str = _s("sampled", "Branch first tokens: 'sampled' (drawn without replacement under the position's parameters) or 'top' (the most probable ones, as CoT-decoding branches on the top-k).", BRANCH_CANDIDATES)
    attn_layer: int = _i(-1, "Layer whose attention feeds the metrics (-1 = mean over all layers).", Range(-1))

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, _check(f, getattr(self, f.name)))
        if not self.low_ent <= self.med_ent <= self.high_ent:
            raise ConfigError(
                f"entropy thresholds must satisfy low_ent <= med_ent <= high_ent, got "
                f"{self.low_ent:g}, {self.med_ent:g}, {self.high_ent:g}"
            )
        if not self.low_vent <= self.high_vent:
            raise ConfigError(
                f"varentropy thresholds must satisfy low_vent <= high_vent, got {self.low_vent:g}, {self.high_vent:g}"
            )
        for low, high in (("low_attn_ent", "high_attn_ent"), ("low_attn_vent", "high_attn_vent"),
                          ("low_agree", "high_agree"), ("low_int", "high_int")):
            if getattr(self, low) > getattr(self, high):
                raise ConfigError(f"{low} must be <= {high}, got {getattr(self, low):g} > {getattr(self, high):g}")
        if not self.think_text:
            raise ConfigError("think_text must not be empty; set max_think_insertions = 0 to disable insertions")

    def check_depth(self, n_layers: int) -> SamplerConfig:
        """Refuse an attn_layer the model does not have (the config alone cannot
        know the depth; a missing layer would turn every attention signal into NaN)."""
        if self.attn_layer >= n_layers:
            raise ConfigError(f"sampler field 'attn_layer' = {self.attn_layer} but the model has "
                              f"{n_layers} layers; use 0..{n_layers - 1}, or -1 for the mean over layers")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SamplerConfig:
        """Defaults overridden by `d`; unknown or invalid fields raise ConfigError."""
        return cls().with_overrides(d)

    def with_overrides(self, d: dict[str, Any]) -> SamplerConfig:
        if not isinstance(d, dict):
            raise ConfigError(f"sampler config must be a table/object of fields, got {type(d).__name__}")
        unknown = [k for k in d if k not in FIELD_DOCS]
        if unknown:
            raise ConfigError(f"unknown sampler field '{unknown[0]}'; known fields: {', '.join(FIELD_DOCS)}")
        if "thresholds" not in d and any(k in THRESHOLD_FIELDS for k in d):
            d = {**d, "thresholds": "custom"}
        return dataclasses.replace(self, **d)

    def with_fitted(self, thresholds: dict[str, float]) -> SamplerConfig:
        """This config with thresholds fitted to a model (see sampler/fitted.py)."""
        return self.with_overrides({**thresholds, "thresholds": "fitted"})


def _type_name(t: type) -> str:
    return {float: "a number", int: "an integer", bool: "true or false", str: "a string"}[t]


def _as_float(value: int) -> float:
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _check(f: dataclasses.Field, value: Any) -> Any:
    """Validate one field value; returns it normalised (ints -> float for floats)."""
    kind = f.metadata["type"]
    ok_type = {
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        bool: isinstance(value, bool),
        str: isinstance(value, str),
    }[kind]
    if not ok_type:
        raise ConfigError(f"sampler field '{f.name}' must be {_type_name(kind)}, got {value!r}")
    if kind is float and isinstance(value, int) and not math.isfinite(_as_float(value)):
        raise ConfigError(f"sampler field '{f.name}' = {value} is too large for a number")
    if kind is str:
        try:
            checked_text(value, f"sampler field '{f.name}'")
        except TextError as e:
            raise ConfigError(str(e)) from None
    rng: Range | None = f.metadata.get("range")
    if rng is not None and not rng.contains(value):
        raise ConfigError(f"sampler field '{f.name}' = {value!r} is out of range; accepted: {rng}")
    choices = f.metadata.get("choices")
    if choices and value not in choices:
        raise ConfigError(f"sampler field '{f.name}' = {value!r}; accepted: {', '.join(choices)}")
    return float(value) if kind is float else value


FIELD_DOCS: dict[str, str] = {f.name: f.metadata["doc"] for f in dataclasses.fields(SamplerConfig)}


def config_fields() -> list[dict[str, Any]]:
    """Field descriptions for clients (the server's `config_fields`): name,
    description, type, default, and min/max (null = unbounded) or choices."""
    out = []
    for f in dataclasses.fields(SamplerConfig):
        entry: dict[str, Any] = {
            "name": f.name,
            "description": f.metadata["doc"],
            "type": f.metadata["type"].__name__,
            "default": f.default,
        }
        rng = f.metadata.get("range")
        if rng is not None:
            entry["min"] = None if math.isinf(rng.lo) else rng.lo
            entry["max"] = None if math.isinf(rng.hi) else rng.hi
        if f.metadata.get("choices"):
            entry["choices"] = list(f.metadata["choices"])
        out.append(entry)
    return out


def load_config(path: str | Path) -> SamplerConfig:
    """Read a flat .json or .toml file of fields (missing ones keep defaults)."""
    p = Path(path)
    if p.suffix not in (".json", ".toml"):
        raise ConfigError(f"sampler config {p} must end in .json or .toml")
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(f"sampler config file not found: {p}") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else tomllib.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p} is not valid TOML: {e}") from None
    try:
        return SamplerConfig.from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        # JSON's escapes are valid TOML; DEL is the one control character JSON leaves raw.
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    return repr(v)


def save_config(cfg: SamplerConfig, path: str | Path) -> None:
    """Write every field, as JSON or (flat) TOML according to the suffix."""
    p = Path(path)
    d = cfg.to_dict()
    if p.suffix == ".json":
        p.write_text(json.dumps(d, indent=2) + "\n")
    elif p.suffix == ".toml":
        p.write_text("".join(f"{k} = {_toml_value(v)}\n" for k, v in d.items()))
    else:
        raise ConfigError(f"sampler config {p} must end in .json or .toml")


PRESETS: dict[str, SamplerConfig] = {
    "entropix": SamplerConfig(),
    "entropix-paper": SamplerConfig(),
    "greedy": SamplerConfig(greedy=True, branching=False),
    "no_branch": SamplerConfig(branching=False),
    "no_think": SamplerConfig(max_think_insertions=0),
    "frog": SamplerConfig(gating="frog"),
    "cot_margin": SamplerConfig(branch_candidates="top", branch_score="margin"),
}

# The preset a run uses when none is named: what the preregistered rule chose from the
# held-out runs of 2026-12-04 (docs/results/PREREGISTRATION.md, README "Does it help?"):
# the fitted `entropix`, never significantly behind greedy and level with it pooled
# over the finished runs, where `no_branch` was one answer behind.
DEFAULT_PRESET = "entropix"

# Presets whose thresholds are replaced by the loaded model's fitted ones when it has them
# (sampler/fitted.py): the gating each takes its fitted table from. entropix-paper keeps
# the published thresholds, for faithfulness; greedy has no use for thresholds.
FITTED_PRESETS: dict[str, str] = {
    "entropix": "quadrant",
    "no_branch": "quadrant",
    "no_think": "quadrant",
    "cot_margin": "quadrant",
    "frog": "frog",
}


def get_preset(name: str) -> SamplerConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset '{name}'; known presets: {', '.join(PRESETS)}") from None
