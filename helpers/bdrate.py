"""Bjontegaard delta rate: the average bit-rate difference between two rate-distortion curves at equal quality.

Bjontegaard (VCEG-M33, 2001), with the piecewise cubic Hermite (PCHIP) interpolation used by later
revisions (VCEG-AL22, JVET's common test conditions) instead of one cubic polynomial fit, which can
oscillate between points:

1. for each codec, interpolate log(rate) as a function of PSNR through its points (PCHIP is monotone
   between points, so it never overshoots);
2. integrate both over the PSNR range where the curves overlap (max of the minima .. min of the maxima);
3. exponentiate the mean difference of log-rates: ``BD-rate = exp(mean(log R_test - log R_ref)) - 1``.

A curve that needs 20 % fewer bits than the reference at every quality has a BD-rate of -20 %.
Negative is better.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator


def _interpolator(x, y) -> PchipInterpolator:
    """PCHIP through (x, y), sorted by x; points with equal x are merged (mean of their y)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError("a curve is two 1-D arrays of the same length")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("a curve's values must be finite")
    ux, inverse = np.unique(x, return_inverse=True)
    if len(ux) < 2:
        raise ValueError("a curve needs at least 2 points with distinct values")
    return PchipInterpolator(ux, np.bincount(inverse, weights=y) / np.bincount(inverse))


def _log_rate(rate) -> np.ndarray:
    rate = np.asarray(rate, dtype=np.float64)
    if np.any(rate <= 0):
        raise ValueError("rates must be positive")
    return np.log(rate)


def _mean_difference(f_ref: PchipInterpolator, f_test: PchipInterpolator, what: str) -> float:
    lo = max(f_ref.x[0], f_test.x[0])
    hi = min(f_ref.x[-1], f_test.x[-1])
    if not hi > lo:
        raise ValueError(f"the curves do not overlap in {what} (reference {f_ref.x[0]:.3g}..{f_ref.x[-1]:.3g}, "
                         f"test {f_test.x[0]:.3g}..{f_test.x[-1]:.3g})")
    return float((f_test.integrate(lo, hi) - f_ref.integrate(lo, hi)) / (hi - lo))


def bd_rate(rate_ref, psnr_ref, rate_test, psnr_test) -> float:
    """BD-rate of ``test`` against ``ref`` in percent (negative: ``test`` needs fewer bits at equal PSNR).

    Rates in any unit (bytes, bpp) as long as both curves use the same. ``ValueError`` when the curves do
    not overlap in PSNR.
    """
    diff = _mean_difference(_interpolator(psnr_ref, _log_rate(rate_ref)),
                            _interpolator(psnr_test, _log_rate(rate_test)), "PSNR")
    return float(np.expm1(diff) * 100.0)


def bd_psnr(rate_ref, psnr_ref, rate_test, psnr_test) -> float:
    """BD-PSNR in dB: the mean PSNR gain of ``test`` over ``ref`` at equal rate (positive is better)."""
    return _mean_difference(_interpolator(_log_rate(rate_ref), psnr_ref),
                            _interpolator(_log_rate(rate_test), psnr_test), "rate")


def psnr_at_rate(rate, psnr, target: float) -> float:
    """PSNR of a curve at rate ``target`` (PCHIP over log-rate); NaN outside the curve's rate range."""
    f = _interpolator(_log_rate(rate), psnr)
    t = float(np.log(target))
    return float(f(t)) if f.x[0] <= t <= f.x[-1] else float("nan")
