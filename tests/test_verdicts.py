import math

import pytest

from helpers.verdicts import (NOISE_FACTOR, bootstrap_spread, judge_prediction, judge_size_prediction, noise_band,
                              seed_spread, verdict)


def test_seed_spread_is_the_sample_standard_deviation():
    assert seed_spread([1.0, 2.0, 3.0]) == pytest.approx(1.0)
    assert seed_spread([5.0, 5.0]) == 0.0


@pytest.mark.parametrize("values", [[], [1.0], [1.0, math.nan], [1.0, math.inf]])
def test_seed_spread_refuses_too_few_or_diverged_runs(values):
    with pytest.raises(ValueError, match="seed"):
        seed_spread(values)


def test_verdict_within_noise_up_to_the_band_and_a_direction_beyond():
    spread = 0.1
    assert noise_band(spread) == pytest.approx(NOISE_FACTOR * spread)
    assert verdict(0.2, spread) == "within noise"
    assert verdict(-0.2, spread) == "within noise"
    assert verdict(0.21, spread) == "better"
    assert verdict(-0.21, spread) == "worse"


def test_verdict_for_a_loss_lower_is_better():
    assert verdict(-0.5, 0.1, higher_is_better=False) == "better"
    assert verdict(0.5, 0.1, higher_is_better=False) == "worse"
    assert verdict(math.nan, 0.1) == "diverged"


def test_noise_band_refuses_a_bad_spread():
    with pytest.raises(ValueError, match="spread"):
        noise_band(-1.0)


def test_bootstrap_spread_is_the_spread_of_the_resampled_mean():
    assert bootstrap_spread([1.5, 1.5, 1.5]) == 0.0
    # the mean of 2 draws from {0, 1}: variance 0.25 / 2, so a spread of about 0.354
    assert bootstrap_spread([0.0, 1.0], resamples=20000) == pytest.approx(0.125 ** 0.5, abs=0.01)
    assert bootstrap_spread([0.0, 1.0, 3.0], seed=1) == bootstrap_spread([0.0, 1.0, 3.0], seed=1)


@pytest.mark.parametrize("values", [[], [1.0], [1.0, math.nan]])
def test_bootstrap_spread_refuses_too_few_or_non_finite_values(values):
    with pytest.raises(ValueError, match="bootstrap_spread"):
        bootstrap_spread(values)


def test_judge_prediction_agrees_case_insensitively_and_with_any_accepted_answer(capsys):
    assert judge_prediction("best", " Batch Norm ", "batch norm") is True
    assert judge_prediction("best", "dropout", "batch norm") is False
    assert judge_prediction("best", "dropout", "batch norm", accepted=["batch norm", "dropout"]) is True
    assert "also counted: 'dropout'" in capsys.readouterr().out


@pytest.mark.parametrize("guess", [None, "", "  "])
def test_judge_prediction_without_a_prediction_says_so(guess, capsys):
    assert judge_prediction("best", guess, "tanh", choices=["relu", "tanh"]) is None
    out = capsys.readouterr().out
    assert "no prediction written" in out and "'tanh'" in out and "write one" not in out


def test_judge_prediction_names_a_guess_outside_the_choices(capsys):
    assert judge_prediction("best", "adamw", "baseline", choices=["baseline", "sgd lr=0.1"]) is None
    assert "'adamw' is not one of 'baseline', 'sgd lr=0.1'" in capsys.readouterr().out


@pytest.mark.parametrize("guess, measured, want, word", [(0.5, 0.3, True, "about right"), (0.6, 0.3, True, "about right"),
                                                        (0.61, 0.3, False, "too large"), (0.1, 0.3, False, "too small"),
                                                        (None, 0.3, None, "no prediction written")])
def test_judge_size_prediction_within_a_factor_of_two(guess, measured, want, word, capsys):
    assert judge_size_prediction("seed spread", guess, measured) is want
    assert word in capsys.readouterr().out


def test_a_variant_behind_but_still_improving_is_undecided_not_worse():
    assert verdict(-1.0, 0.1, still_improving=True) == "undecided"
    assert verdict(-1.0, 0.1) == "worse"
    assert verdict(1.0, 0.1, still_improving=True) == "better"
    assert verdict(0.1, 0.1, still_improving=True) == "within noise"
    assert verdict(0.5, 0.1, higher_is_better=False, still_improving=True) == "undecided"
