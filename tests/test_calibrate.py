import numpy as np
import pytest

from mlx_entropix.calibrate import Percentiles, calibrated_config, collect_signals
from mlx_entropix.prompts import Prompt
from mlx_entropix.sampler import get_preset, load_config, save_config
from mlx_entropix.trace import METRIC_NAMES


def test_thresholds_are_the_chosen_percentiles(tmp_path):
    h = np.arange(101, dtype=float) / 10  # 0.0 .. 10.0
    v = np.arange(101, dtype=float) / 5  # 0.0 .. 20.0
    cfg = calibrated_config({"entropy": h, "varentropy": v}, get_preset("entropix"), Percentiles(10, 50, 90))
    assert (cfg.low_ent, cfg.med_ent, cfg.high_ent) == pytest.approx((1.0, 5.0, 9.0))
    assert (cfg.low_vent, cfg.high_vent) == pytest.approx((2.0, 18.0))
    assert cfg.temperature == get_preset("entropix").temperature
    save_config(cfg, tmp_path / "c.toml")
    assert load_config(tmp_path / "c.toml") == cfg


def test_bad_percentiles_and_empty_signals():
    with pytest.raises(ValueError, match="percentiles"):
        Percentiles(60, 50, 90).check()
    with pytest.raises(ValueError, match="no tokens"):
        calibrated_config({"entropy": np.array([]), "varentropy": np.array([])},
                          get_preset("entropix"), Percentiles())


def test_collects_every_metric_of_every_token(lm):
    signals = collect_signals(lm, [Prompt("p", "Name a colour.")], max_tokens=3, seed=0)
    assert set(signals) == set(METRIC_NAMES)
    assert 1 <= len(signals["entropy"]) <= 3
    assert all(np.isfinite(v).all() for v in signals.values())
