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

__all__ = ["NOISE_FACTOR", "seed_spread", "bootstrap_spread", "verdict", "noise_band", "judge_prediction",
           "judge_size_prediction"]

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
            factor: float = NOISE_FACTOR, still_improving: bool = False) -> str:
    """``'better'``, ``'worse'``, ``'within noise'`` or ``'undecided'`` for ``difference`` = variant - baseline of
    one metric.

    ``spread``: the seed spread of that metric (:func:`seed_spread`). ``higher_is_better``: True for PSNR and SSIM,
    False for losses and MSE. Within noise when ``|difference| <= factor * spread``. ``still_improving``: the
    variant's best epoch was its last; then a variant behind the baseline is ``'undecided'`` (a longer run may
    close the gap), not ``'worse'``."""
    if not math.isfinite(difference):
        return "diverged"
    if abs(difference) <= noise_band(spread, factor):
        return "within noise"
    improved = difference > 0 if higher_is_better else difference < 0
    if not improved and still_improving:
        return "undecided"
    return "better" if improved else "worse"


def _said(guess) -> bool:
    """Whether a prediction was written: ``None`` and a blank string mean 'no prediction'."""
    return guess is not None and str(guess).strip() != ""


def _same_answer(a, b) -> bool:
    return str(a).strip().lower() == str(b).strip().lower()


def judge_prediction(question: str, guess, answer, *, accepted: Sequence | None = None,
                     choices: Sequence | None = None) -> bool | None:
    """Print the run's ``answer`` to ``question`` beside the student's ``guess``, and whether they agree.

    Predictions are not graded: a wrong guess is how intuition is trained. Answers are compared as stripped,
    case-insensitive text, so ``"Batch norm"`` agrees with ``"batch norm"``.

    Args:
        question: what was predicted, e.g. ``"the best of the schedule study"``.
        guess: the student's answer; ``None`` or ``""`` means no prediction was written.
        answer: the run's answer.
        accepted: every answer that counts as agreeing (default: ``answer`` alone), e.g. all the variants
            within noise of the best one.
        choices: the answers that make sense; a guess outside them is reported as not one of them.

    Returns ``True`` (agrees), ``False`` (does not) or ``None`` (no prediction, or one outside ``choices``)."""
    accepted = [answer] if accepted is None else list(accepted)
    if not _said(guess):
        options = f" (one of {', '.join(map(repr, choices))})" if choices else ""
        print(f"{question}: the run says {answer!r} (no prediction written{options})")
        return None
    if choices is not None and not any(_same_answer(guess, c) for c in choices):
        print(f"{question}: your prediction {guess!r} is not one of {', '.join(map(repr, choices))}; "
              f"the run says {answer!r}")
        return None
    agrees = any(_same_answer(guess, a) for a in accepted)
    also = [a for a in accepted if not _same_answer(a, answer)]
    within = f" (also counted: {', '.join(map(repr, also))})" if also else ""
    print(f"{question}: you predicted {guess!r}, the run says {answer!r}{within}: "
          + ("the run agrees" if agrees else "the run disagrees"))
    return agrees


def judge_size_prediction(question: str, guess, measured: float, unit: str = "dB") -> bool | None:
    """Print a guessed size (e.g. the seed spread in dB) beside the ``measured`` one: about right when they are
    within a factor of 2 of each other, else too large or too small. ``guess``: a number, or ``None`` / ``""``
    for no prediction. Returns ``True`` (about right), ``False`` or ``None`` (no prediction)."""
    if not _said(guess):
        print(f"{question}: the run measured {measured:.2f} {unit} (no prediction written)")
        return None
    guess = float(guess)
    ratio = guess / measured if measured > 0 else (1.0 if guess == 0 else math.inf)
    about_right = 0.5 <= ratio <= 2
    print(f"{question}: you predicted {guess:.2f} {unit}, the run measured {measured:.2f} {unit}: "
          + ("about right (within a factor of 2)" if about_right else "too large" if ratio > 2 else "too small"))
    return about_right
