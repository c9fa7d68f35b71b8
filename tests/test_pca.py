"""helpers.models.pca: PCA as a closed-form linear code (the yardstick of notebook 06)."""

import numpy as np
import pytest
import torch

from helpers import compare
from helpers.data import Normalization
from helpers.models import PCACode, build_model, fit_pca


def _patches(n=200, size=8, rank=5, seed=0):
    """Patches that lie exactly in a `rank`-dimensional affine subspace, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    basis = torch.randn(rank, 3 * size * size, generator=g) * 0.01
    x = 0.5 + torch.randn(n, rank, generator=g) @ basis
    return x.clamp(0, 1).reshape(n, 3, size, size)


def test_pca_reconstructs_patches_of_its_rank_exactly_and_fewer_components_lose_some():
    x = _patches(rank=5)
    assert 0 < x.min() and x.max() < 1  # nothing clamped: the patches lie exactly in the subspace
    full, short = fit_pca(x, 5), fit_pca(x, 2)
    assert full.encode(x).shape == (len(x), 5)
    assert torch.allclose(full(x), x, atol=1e-4)
    assert (short(x) - x).pow(2).mean() > 1e-4


def test_pca_components_are_orthonormal_and_ordered_by_variance():
    x = _patches(rank=8)
    model = fit_pca(x, 6)
    c = model.components
    assert torch.allclose(c @ c.T, torch.eye(6), atol=1e-5)
    variances = model.encode(x).var(dim=0)
    assert torch.all(variances[:-1] >= variances[1:] - 1e-6)


def test_pca_is_the_best_linear_code_on_its_training_patches():
    """No other projection of the same size reconstructs the training patches better (Eckart-Young)."""
    x = _patches(rank=20, seed=1)
    pca = fit_pca(x, 4)
    error = (pca(x) - x).pow(2).mean()
    flat = x.reshape(len(x), -1)
    q, _ = torch.linalg.qr(torch.randn(flat.shape[1], 4, generator=torch.Generator().manual_seed(3)))
    other = (flat - pca.mean) @ q @ q.T + pca.mean
    assert error < (other - flat).pow(2).mean()


def test_pca_plugs_into_the_photo_metrics_and_rebuilds_from_its_config():
    """A smooth photograph (a gradient) is nearly linear: a few components fitted on its tiles reconstruct it."""
    ramp = np.linspace(0, 255, 32)
    photo = np.stack([np.add.outer(ramp, ramp) / 2, np.add.outer(ramp, 255 - ramp) / 2,
                      np.full((32, 32), 128.0)], axis=-1).astype(np.uint8)
    unit = Normalization.make("unit")
    tiles = photo.reshape(4, 8, 4, 8, 3).swapaxes(1, 2).reshape(-1, 8, 8, 3)
    model = fit_pca(unit(tiles), 8)
    scores = compare.photo_metrics(model, [photo], 8, unit, bits_per_value=8)
    assert scores["image_psnr"] > 35
    assert scores["bpp"] == pytest.approx((8 * 8 + compare.RANGE_BITS) / 64)
    clone = build_model(model.config)
    clone.load_state_dict(model.state_dict())
    x = unit(tiles)
    assert torch.equal(clone.encode(x), model.encode(x))
    assert model.describe(8)["latent_size"] == 8


def test_keep_gives_the_pca_of_a_smaller_size_without_another_decomposition():
    x = _patches(rank=12, seed=2)
    large, small = fit_pca(x, 10), fit_pca(x, 3)
    kept = large.keep(3)
    assert kept.latent_dim == 3
    assert torch.allclose(kept(x), small(x), atol=1e-5)


@pytest.mark.parametrize("make, match", [
    (lambda: PCACode(latent_dim=200, image_size=8), "at most 3\\*S\\*S = 192"),
    (lambda: PCACode(latent_dim=50, image_size=8).fit(_patches(n=20)), "at least that many patches"),
    (lambda: fit_pca(_patches(size=8), 4).encode(torch.zeros(2, 3, 16, 16)), "built for 8x8"),
    (lambda: fit_pca(_patches(size=8), 4).keep(5), "keep 1 to 4"),
])
def test_pca_refuses_what_it_cannot_do(make, match):
    with pytest.raises(ValueError, match=match):
        make()
