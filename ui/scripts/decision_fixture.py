"""Write the sampler's decision rule and traces recorded with it, for the UI's
re-classifier (ui/src/classify.ts) and its test (ui/src/classify.test.ts):

    uv run python ui/scripts/decision_fixture.py

- ui/src/decision_rule.json: `decide.decision_rule()`, the regions as data; the
  UI classifies by this table, so it applies the sampler's own rule.
- ui/src/fixtures/decisions.json: one short seeded run per preset, with each
  preset's config as the server serves it (fitted thresholds where the embedded
  model has them), and every token's six signals and outcome (minutes of work).
- ui/src/fixtures/regions.json: signals drawn around the thresholds of each
  gating, with the region `region_outcomes` gives each row (every rule is hit).
  `--regions-only` rewrites this file and the rule, without the model runs.

tests/test_ui_decisions.py fails when either file no longer matches the sampler.
"""

import json
import sys
from pathlib import Path

from mlx_entropix.engine import GenerationOptions
from mlx_entropix.load import load
from mlx_entropix.runner import RunRequest, run
from mlx_entropix.sampler.config import THRESHOLD_FIELDS
from mlx_entropix.sampler.config import get_preset
from mlx_entropix.sampler.decide import METRIC_KEYS, OUTCOME_CODES, decision_rule, region_outcomes
from mlx_entropix.sampler.fitted import presets_for

import mlx.core as mx  # noqa: E402  (after mlx_entropix, which loads the optimised BLAS first)
import numpy as np  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
RULE_FILE = SRC / "decision_rule.json"
FIXTURE_FILE = SRC / "fixtures" / "decisions.json"
REGIONS_FILE = SRC / "fixtures" / "regions.json"
ROWS = 600
PROMPT = "Which number is larger, 9.9 or 9.11?"
MAX_TOKENS = 32
# The config fields re-classification reads.
RULE_FIELDS = (*THRESHOLD_FIELDS, "gating", "greedy", "branch_fraction", "branching", "max_think_insertions")


def recorded(lm, preset: str, config) -> dict:
    request = RunRequest(messages=[{"role": "user", "content": PROMPT}], config=config,
                         options=GenerationOptions(max_tokens=MAX_TOKENS, seed=0))
    trace = run(lm, request)
    return {
        "preset": preset,
        "config": {k: getattr(config, k) for k in RULE_FIELDS},
        "tokens": [{"index": t.index, "outcome": t.outcome, "inserted": t.inserted,
                    "metrics": {k: getattr(t.metrics, k) for k in METRIC_KEYS}}
                   for t in trace.tokens],
    }


def drawn_regions(gating: str, seed: int) -> dict:
    """ROWS rows of signals, each below its low threshold, between, or above its high one
    (uniformly within), with the region `region_outcomes` gives each row. A row leans low,
    high or neither for all six signals, so every region of the gating is populated."""
    cfg = get_preset(gating if gating == "frog" else "entropix")
    bounds = {"entropy": (cfg.low_ent, cfg.high_ent), "varentropy": (cfg.low_vent, cfg.high_vent),
              "attn_entropy": (cfg.low_attn_ent, cfg.high_attn_ent),
              "attn_varentropy": (cfg.low_attn_vent, cfg.high_attn_vent),
              "agreement": (cfg.low_agree, cfg.high_agree), "interaction_strength": (cfg.low_int, cfg.high_int)}
    rng = np.random.default_rng(seed)
    lean = rng.integers(0, 3, ROWS)  # 0 low, 1 neither, 2 high
    metrics = {}
    for k, (lo, hi) in bounds.items():
        p = np.array([[0.8, 0.1, 0.1], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.1, 0.8]])[lean]
        bucket = (rng.uniform(size=(ROWS, 1)) > p.cumsum(axis=1)).sum(axis=1)
        edges = np.array([0.0, lo, hi, 1.5 * hi + 1e-3])
        metrics[k] = rng.uniform(edges[bucket], edges[bucket + 1]).astype(np.float32)
    codes = np.array(region_outcomes({k: mx.array(v) for k, v in metrics.items()}, cfg))
    return {
        "config": {k: getattr(cfg, k) for k in RULE_FIELDS},
        "rows": [{"metrics": {k: float(metrics[k][i]) for k in METRIC_KEYS}, "region": OUTCOME_CODES[c]}
                 for i, c in enumerate(codes)],
    }


def main() -> None:
    RULE_FILE.write_text(json.dumps(decision_rule(), indent=1) + "\n")
    FIXTURE_FILE.parent.mkdir(exist_ok=True)
    REGIONS_FILE.write_text(json.dumps([drawn_regions(g, i) for i, g in enumerate(("quadrant", "frog"))]) + "\n")
    if "--regions-only" in sys.argv:
        return
    lm = load(None)
    traces = [recorded(lm, name, cfg) for name, cfg in presets_for(lm).items()]
    FIXTURE_FILE.write_text(json.dumps({"model": lm.name, "prompt": PROMPT, "traces": traces}) + "\n")
    for t in traces:
        counts: dict[str, int] = {}
        for tok in t["tokens"]:
            counts[tok["outcome"]] = counts.get(tok["outcome"], 0) + 1
        print(t["preset"], t["config"]["gating"], counts, file=sys.stderr)


if __name__ == "__main__":
    main()
