"""Is a difference between two trainings real, or noise? Verdicts measured against the seed spread.

Two trainings of the very same model that differ only in their random seed (initialization, crops, shuffling)
end at different scores. That spread is the noise floor of every comparison: a variant that beats the baseline
by less than it has not been shown to be better. The kit's rule (GUIDE: "verdicts compare a difference with the
seed spread of the same model"):

    spread = seed_spread([psnr_seed0, psnr_seed1, ..., psnr_seed4])   # standard deviation over >= 2 seeds
    verdict(psnr_variant - psnr_baseline, spread)                       # 'better', 'worse' or 'within noise'

A difference counts only when it exceeds ``NOISE_FACTOR`` (2) times the spread: the difference of two single runs
has a standard deviation of about 1.4 spreads, so 2 spreads is a little beyond that, a deliberately modest bar.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = ["NOISE_FACTOR", "seed_spread", "bootstrap_spread", "verdict", "noise_band"]

NOISE_FACTOR = 2.0


def seed_spread(values: Sequence[float]) -> float:
    """Sample standard deviation (ddof=1) of one metric over runs that differ only in their seed.

    ``values``: at least 2 finite numbers (the issue's rule asks for 5 seeds; fewer gives a rougher estimate).
    Raises ``ValueError`` on fewer than 2 values or a NaN/inf (a diverged run has no place in a spread)."""
    a = np.asarray(list(values), dtype=float)
    if a.size < 2:
        raise ValueError(f"seed_spread needs the metric of at least 2 seeds, got {a.size}: run more seeds")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"seed_spread got a value that is not finite ({a.tolist()}): a run diverged; fix it first")
    return float(a.std(ddof=1))


def bootstrap_spread(values: Sequence[float], resamples: int = 2000, seed: int = 0) -> float:
    """Standard deviation of the MEAN of ``values`` over bootstrap resamples (draws with replacement, same size).

    Use it instead of a seed spread when two models are compared image by image: ``values`` are the per-image
    differences (e.g. PSNR of model A minus model B on each validation photograph), and the spread says how much
    their mean would move with another draw of photographs. It measures the photographs' noise, not the training's.
    ``values``: at least 2 finite numbers; ``seed`` makes the resampling deterministic."""
    a = np.asarray(list(values), dtype=float)
    if a.size < 2:
        raise ValueError(f"bootstrap_spread needs at least 2 values (one per image), got {a.size}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"bootstrap_spread got a value that is not finite ({a.tolist()})")
    if resamples < 2:
        raise ValueError(f"resamples must be at least 2, got {resamples}")
    draws = np.random.default_rng(seed).integers(0, a.size, size=(resamples, a.size))
    return float(a[draws].mean(axis=1).std(ddof=1))


def noise_band(spread: float, factor: float = NOISE_FACTOR) -> float:
    """The half-width of 'within noise': ``factor * spread``."""
    if not spread >= 0 or not math.isfinite(spread):
        raise ValueError(f"spread must be a finite number >= 0, got {spread!r}")
    return factor * spread


def verdict(difference: float, spread: float, *, higher_is_better: bool = True,
            factor: float = NOISE_FACTOR) -> str:
    """``'better'``, ``'worse'`` or ``'within noise'`` for ``difference`` = variant - baseline of one metric.

    ``spread``: the seed spread of that metric (:func:`seed_spread`). ``higher_is_better``: True for PSNR and SSIM,
    False for losses and MSE. Within noise when ``|difference| <= factor * spread``."""
    if not math.isfinite(difference):
        return "diverged"
    if abs(difference) <= noise_band(spread, factor):
        return "within noise"
    improved = difference > 0 if higher_is_better else difference < 0
    return "better" if improved else "worse"
