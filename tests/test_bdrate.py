"""helpers.bdrate: Bjontegaard delta rate and PSNR on curves whose answer is known."""

import numpy as np
import pytest

from helpers import bdrate

R = np.array([0.1, 0.25, 0.5, 1.0, 2.0])
P = np.array([26.0, 29.0, 32.0, 35.0, 38.0])


@pytest.mark.parametrize("factor", [0.5, 0.8, 1.0, 1.3])
def test_bd_rate_of_a_curve_shifted_by_a_rate_factor(factor):
    assert bdrate.bd_rate(R, P, R * factor, P) == pytest.approx((factor - 1) * 100, abs=1e-9)
    assert bdrate.bd_rate(R * factor, P, R, P) == pytest.approx((1 / factor - 1) * 100, abs=1e-9)


def test_bd_rate_hand_computed_case():
    """ref: log R = P / 10, test: log R = P / 10 - (P - 30) / 20, both linear (PCHIP reproduces lines), on
    P in [30, 34] after the overlap: mean log difference = -mean(P - 30) / 20 = -2 / 20 -> exp(-0.1) - 1."""
    p_ref = np.array([28.0, 30.0, 32.0, 34.0])
    p_test = np.array([30.0, 32.0, 34.0, 36.0])
    r_ref = np.exp(p_ref / 10)
    r_test = np.exp(p_test / 10 - (p_test - 30) / 20)
    assert bdrate.bd_rate(r_ref, p_ref, r_test, p_test) == pytest.approx((np.exp(-0.1) - 1) * 100, abs=1e-9)


def test_bd_psnr_and_psnr_at_rate():
    assert bdrate.bd_psnr(R, P, R, P + 1.5) == pytest.approx(1.5, abs=1e-9)
    assert bdrate.psnr_at_rate(R, P, 0.5) == pytest.approx(32.0)
    assert 29.0 < bdrate.psnr_at_rate(R, P, 0.3) < 32.0
    assert np.isnan(bdrate.psnr_at_rate(R, P, 0.05))


def test_bd_rate_needs_overlapping_curves():
    with pytest.raises(ValueError, match="overlap"):
        bdrate.bd_rate(R, P, R, P + 20)
    with pytest.raises(ValueError):
        bdrate.bd_rate(R, P, [1.0], [30.0])
