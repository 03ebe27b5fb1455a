import math

import pytest

from mlx_entropix.eval.stats import mcnemar_exact, paired_bootstrap_diff, wilson_interval


def test_wilson_matches_hand_computation():
    # 8/10 correct, z = 1.96: centre (0.8 + 0.19208) / 1.38416, half-width
    # 1.96 * sqrt(0.016 + 0.009604) / 1.38416.
    lo, hi = wilson_interval(8, 10, z=1.96)
    centre = (0.8 + 1.96**2 / 20) / (1 + 1.96**2 / 10)
    half = 1.96 * math.sqrt(0.8 * 0.2 / 10 + 1.96**2 / 400) / (1 + 1.96**2 / 10)
    assert lo == pytest.approx(centre - half) and hi == pytest.approx(centre + half)
    assert (lo, hi) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_wilson_edges():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(0, 20)
    assert lo == 0.0 and hi == pytest.approx(0.1611, abs=1e-4)
    lo, hi = wilson_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.8389, abs=1e-4)


def test_mcnemar_exact_hand_cases():
    # b=10, c=2: 2 * P(Binom(12, 1/2) <= 2) = 2 * (1 + 12 + 66) / 4096.
    assert mcnemar_exact(10, 2) == pytest.approx(2 * 79 / 4096)
    assert mcnemar_exact(10, 2) == pytest.approx(0.03857, abs=1e-5)
    assert mcnemar_exact(2, 10) == mcnemar_exact(10, 2)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert 0 < mcnemar_exact(700, 600) < 0.01


def test_bootstrap_is_deterministic_and_sensible():
    first = [True] * 60 + [False] * 40
    second = [True] * 40 + [False] * 60
    a = paired_bootstrap_diff(first, second)
    assert a == paired_bootstrap_diff(first, second)
    assert a != paired_bootstrap_diff(first, second, seed=1)
    lo, hi = a
    assert lo < 0.2 < hi and lo > 0
    assert paired_bootstrap_diff(first, first) == (0.0, 0.0)
    with pytest.raises(ValueError):
        paired_bootstrap_diff([True], [True, False])
