import math

import pytest

from helpers.verdicts import NOISE_FACTOR, noise_band, seed_spread, verdict


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
