"""The statistics an accuracy comparison needs, computed exactly and without
scipy: a Wilson interval per method, and for a pair of methods evaluated on the
same items an exact McNemar test and a paired bootstrap interval."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z_95 = 1.959963984540054
BOOTSTRAP_SEED = 20240917
BOOTSTRAP_SAMPLES = 10_000


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """95% Wilson score interval for a proportion: unlike the normal
    approximation it stays inside [0, 1] and behaves at 0/n and n/n."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b and c are the discordant pairs (only
    the first method right, only the second right); under the null each
    discordant pair goes either way with probability 1/2."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / 2**n)


def paired_bootstrap_diff(
    first: Sequence[bool],
    second: Sequence[bool],
    samples: int = BOOTSTRAP_SAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float]:
    """Percentile 95% interval of accuracy(first) - accuracy(second), resampling
    items (pairs kept together).

    Each item's difference is -1, 0 or +1, so resampling n items with
    replacement is exactly a multinomial draw over those three counts: the same
    distribution as resampling indices, in O(samples) memory."""
    if len(first) != len(second):
        raise ValueError(f"paired samples differ in length: {len(first)} vs {len(second)}")
    n = len(first)
    if n == 0:
        return 0.0, 0.0
    diffs = np.asarray(first, dtype=np.int8) - np.asarray(second, dtype=np.int8)
    probs = [float(np.mean(diffs == v)) for v in (-1, 0, 1)]
    counts = np.random.default_rng(seed).multinomial(n, probs, size=samples)
    resampled = (counts[:, 2] - counts[:, 0]) / n
    lo, hi = np.quantile(resampled, [0.025, 0.975])
    return float(lo), float(hi)
