import numpy as np
import pytest

from mlx_entropix.calibrate import ShareTargets, collect_signals, fit_thresholds, outcome_shares
from mlx_entropix.fit_search import CandidateResult, choose
from mlx_entropix.prompts import Prompt
from mlx_entropix.sampler import SamplerConfig
from mlx_entropix.trace import METRIC_NAMES


def signals(n: int = 4000, seed: int = 0) -> dict[str, np.ndarray]:
    """Correlated signals shaped like a small model's: H and V rise together,
    the attention signals loosely with them."""
    rng = np.random.default_rng(seed)
    h = rng.gamma(0.6, 1.5, n)
    v = h * rng.uniform(0.5, 3.0, n) + rng.gamma(0.5, 0.3, n)
    noise = rng.normal(0, 0.3, (4, n))
    return {"entropy": h, "varentropy": v, "attn_entropy": 2 + 0.2 * h + noise[0],
            "attn_varentropy": np.abs(0.3 + 0.05 * v + noise[1]), "agreement": np.abs(0.01 + 0.01 * noise[2]),
            "interaction_strength": np.abs(1 + 0.1 * h + noise[3])}


@pytest.mark.parametrize("gating, argmax", [("quadrant", 0.3), ("quadrant", 0.5), ("quadrant", 0.7),
                                            ("frog", 0.3), ("frog", 0.5)])
def test_the_fit_gives_the_target_argmax_share(gating, argmax):
    s = signals()
    fit = fit_thresholds(s, ShareTargets(argmax=argmax, high_vent=0.1, explore=0.5), gating)
    assert fit.shares["argmax"] == pytest.approx(argmax, abs=0.01)
    cfg = SamplerConfig(gating=gating).with_fitted(fit.thresholds)
    assert outcome_shares(s, cfg) == fit.shares
    assert cfg.thresholds == "fitted"
    assert np.mean(s["varentropy"] > cfg.high_vent) == pytest.approx(0.1, abs=0.01)
    if gating == "quadrant":
        torn = s["varentropy"] > cfg.high_vent
        assert np.mean(s["entropy"][torn] < cfg.med_ent) == pytest.approx(0.5, abs=0.02)
        assert fit.shares["explore"] + fit.shares["resample"] == pytest.approx(0.1, abs=0.01)


def test_the_old_fixed_percentiles_made_argmax_rare_and_shares_do_not():
    s = signals()
    p10 = SamplerConfig().with_fitted({"low_ent": float(np.percentile(s["entropy"], 10)),
                                       "low_vent": float(np.percentile(s["varentropy"], 10))})
    assert outcome_shares(s, p10)["argmax"] <= 0.1
    assert fit_thresholds(s, ShareTargets(argmax=0.5)).shares["argmax"] > 0.45


def test_an_unreachable_target_stops_at_the_high_thresholds():
    fit = fit_thresholds(signals(), ShareTargets(argmax=0.9, high_vent=0.1), "frog")
    assert fit.low_percentile == pytest.approx(90.0)
    assert fit.shares["argmax"] < 0.9


def test_bad_targets_and_empty_signals():
    with pytest.raises(ValueError, match="target share argmax must be in"):
        ShareTargets(argmax=1.5).check()
    with pytest.raises(ValueError, match="argmax \\+ high_vent must be <= 1"):
        ShareTargets(argmax=0.95, high_vent=0.1).check()
    empty = {name: np.array([]) for name in METRIC_NAMES}
    with pytest.raises(ValueError, match="no tokens"):
        fit_thresholds(empty, ShareTargets())


def result(label: str, correct: int, argmax: float, ratio: float) -> CandidateResult:
    return CandidateResult(label, ShareTargets(), correct / 30, correct, 30, argmax, ratio,
                           argmax >= 0.3 and ratio <= 2.0)


def test_the_search_takes_the_most_accurate_candidate_within_the_bounds():
    chosen = choose([result("rare-argmax", 12, 0.1, 1.5), result("slow", 12, 0.5, 2.5),
                     result("ok", 10, 0.5, 1.8), result("ok-faster", 10, 0.6, 1.2)])
    assert chosen.label == "ok-faster"
    fallback = choose([result("rare-argmax", 12, 0.1, 1.5), result("slow", 11, 0.5, 2.5)])
    assert fallback.label == "rare-argmax" and not fallback.eligible


def test_collects_every_metric_of_every_token(lm):
    found = collect_signals(lm, [Prompt("p", "Name a colour.").messages()], max_tokens=3, seed=0)
    assert set(found) == set(METRIC_NAMES)
    assert 1 <= len(found["entropy"]) <= 3
    assert all(np.isfinite(v).all() for v in found.values())


def test_the_search_runs_greedy_and_each_candidate_on_the_dev_items(lm, tmp_path):
    from mlx_entropix.eval.dataset import load_dataset, select_split
    from mlx_entropix.fit_search import search_targets

    dataset = tmp_path / "d.jsonl"
    dataset.write_text('{"question": "What is 2 + 3?", "answer": "5", "split": "dev"}\n'
                       '{"question": "What is 4 + 4?", "answer": "8", "split": "test"}\n')
    items = select_split(load_dataset(dataset), "dev", dataset)
    grid = [ShareTargets(argmax=0.5), ShareTargets(argmax=0.8, high_vent=0.05)]
    best, results = search_targets(lm, signals(), grid, items, dataset, tmp_path / "out", max_tokens=3, seed=0)
    assert [r.label for r in results] == ["fit-a50-v10-e50", "fit-a80-v5-e50"]
    assert all(r.n == 1 and 0 <= r.argmax_share <= 1 and r.time_ratio > 0 for r in results)
    assert best in results
    assert (tmp_path / "out" / "report.md").is_file()


def test_the_fit_decodes_its_prompts_together_in_order_and_stops_between_steps(lm, monkeypatch):
    """The first-use and server fits (collect_with_progress) batch their prompts:
    about max_tokens steps for three prompts, not three times that; the signals
    come back in the prompts' order, equal to each prompt collected alone; a
    cancel between steps stops it."""
    from mlx_entropix.calibrate import collect_with_progress
    from mlx_entropix.runner import TraceDecoder

    chats = [Prompt(str(i), text).messages() for i, text in
             enumerate(["Name a colour.", "Count to three, slowly and with words.", "Say hi."])]
    steps = []
    original = TraceDecoder.step
    monkeypatch.setattr(TraceDecoder, "step", lambda self, *a: steps.append(self.gen.running) or original(self, *a))
    progress = collect_with_progress(lm, chats, max_tokens=4, seed=0)
    seen = []
    while True:
        try:
            seen.append(next(progress))
        except StopIteration as stop:
            together = stop.value
            break
    assert [p.done for p in seen] == [1, 2, 3] and seen[-1].tokens == len(together["entropy"])
    assert len(steps) <= 5 and max(steps) == 3
    alone = [collect_signals(lm, [c], max_tokens=4, seed=i) for i, c in enumerate(chats)]
    for name in METRIC_NAMES:
        np.testing.assert_allclose(together[name], np.concatenate([a[name] for a in alone]), rtol=1e-4, atol=1e-5)
    calls = []
    cancelled = collect_with_progress(lm, chats, max_tokens=4, seed=0, cancelled=lambda: calls.append(1) or len(calls) > 2)
    with pytest.raises(StopIteration) as stop:
        while True:
            next(cancelled)
    assert stop.value.value is None and len(calls) == 3
