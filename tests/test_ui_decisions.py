"""The UI's re-classifier applies the sampler's rule: the table it reads
(ui/src/decision_rule.json) is the sampler's REGION_RULES, and the fixtures its
test replays (ui/src/fixtures/) hold decisions this sampler makes. Regenerate
all three with `uv run python ui/scripts/decision_fixture.py`."""

import json
from pathlib import Path

import mlx.core as mx
import pytest

from mlx_entropix.sampler import SamplerConfig
from mlx_entropix.sampler.decide import METRIC_KEYS, OUTCOME_CODES, decision_rule, region_outcomes

SRC = Path(__file__).resolve().parents[1] / "ui" / "src"
REGENERATE = "regenerate with `uv run python ui/scripts/decision_fixture.py`"


def regions_of(rows: list[dict], config: dict) -> list[str]:
    metrics = {k: mx.array([r["metrics"][k] for r in rows], dtype=mx.float32) for k in METRIC_KEYS}
    cfg = SamplerConfig.from_dict(config)
    return [OUTCOME_CODES[c] for c in region_outcomes(metrics, cfg).tolist()]


def test_the_ui_reads_the_samplers_rule_table():
    assert json.loads((SRC / "decision_rule.json").read_text()) == decision_rule(), REGENERATE


def test_the_rule_table_names_real_signals_and_fields():
    rule = decision_rule()
    fields = SamplerConfig().to_dict()
    for gating in rule["gatings"].values():
        assert list(gating) == rule["order"]
        for conditions in gating.values():
            for signal, op, field in conditions:
                assert signal in METRIC_KEYS and op in ("<", ">", ">=") and isinstance(fields[field], float)


@pytest.mark.parametrize("index", [0, 1])
def test_drawn_rows_hold_the_regions_region_outcomes_gives(index):
    drawn = json.loads((SRC / "fixtures" / "regions.json").read_text())[index]
    assert regions_of(drawn["rows"], drawn["config"]) == [r["region"] for r in drawn["rows"]], REGENERATE


def test_recorded_runs_hold_decisions_of_this_sampler():
    """Each recorded token's outcome is its region's (a spent think budget reports adaptive;
    a branch point opens in the explore region or where H and V are both high)."""
    fixture = json.loads((SRC / "fixtures" / "decisions.json").read_text())
    assert {t["preset"] for t in fixture["traces"]} >= {"entropix", "frog", "greedy", "entropix-paper"}
    for trace in fixture["traces"]:
        tokens = [t for t in trace["tokens"] if not t["inserted"]]
        if trace["config"]["greedy"]:  # no rules: every token argmax
            assert {t["outcome"] for t in tokens} == {"argmax"}
            continue
        allowed = {"adaptive": {"adaptive", "think"}, "branch": {"explore", "adaptive", "resample"}}
        for tok, region in zip(tokens, regions_of(tokens, trace["config"])):
            assert region in allowed.get(tok["outcome"], {tok["outcome"]}), (trace["preset"], tok, region, REGENERATE)
