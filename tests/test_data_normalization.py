"""Tests of helpers.data.normalization: exact round trips for every kind, and "standard" from the training split only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import data
from helpers.data import DataError

RNG = np.random.default_rng(1234)

pytestmark = pytest.mark.usefixtures("fresh_memory_cache")


# ------------------------------------------------------------------------------------------------- normalization
@pytest.mark.parametrize("kind", ["unit", "symmetric", "standard"])
def test_normalization_round_trips(live_fixture, data_cache, kind):
    sp = data.make_splits(live_fixture, image_size=32, normalization=kind, cache_dir=data_cache)
    norm = sp.train.normalization
    assert sp.val.normalization is norm and sp.train.target_normalization is norm and sp.normalization is norm
    u = RNG.integers(0, 256, size=(2, 9, 7, 3), dtype=np.uint8)
    x = norm(u)
    assert x.shape == (2, 3, 9, 7) and x.dtype == torch.float32
    assert np.array_equal(norm.to_uint8(x), u)  # exact for a batch
    assert np.array_equal(norm.to_uint8(x[1]), u[1])  # and for one image
    assert np.array_equal(norm.to_uint8(norm(torch.from_numpy(u))), u)
    assert torch.allclose(norm.inverse(x), torch.from_numpy(u).permute(0, 3, 1, 2) / 255.0, atol=1e-6)
    noisy = x + (torch.rand_like(x) - 0.5) * 0.8 / 255 / torch.tensor(norm.std).reshape(1, 3, 1, 1)
    assert np.array_equal(norm.to_uint8(noisy), u)  # less than half a level of error rounds back exactly
    far = norm.to_uint8(x * 10)  # out of range values are clipped to valid pixels
    assert far.dtype == np.uint8
    xi, yi = sp.train.pixels(0)
    xt, yt = sp.train[0]
    assert np.array_equal(norm.to_uint8(xt), xi) and np.abs(norm.inverse(yt).permute(1, 2, 0).numpy() * 255
                                                             - yi).max() < 1e-3
    if kind == "unit":
        assert 0 <= float(xt.min()) and float(xt.max()) <= 1
    if kind == "symmetric":
        assert -1 <= float(xt.min()) and float(xt.max()) <= 1
    with pytest.raises(DataError, match="uint8"):
        norm(u.astype(np.float32))


def test_standard_normalization_uses_training_split_only(live_fixture, data_cache):
    sp = data.make_splits(live_fixture, image_size=32, normalization="standard", cache_dir=data_cache)
    train = np.stack([sp.train.pixels(i)[0] for i in range(len(sp.train))]).reshape(-1, 3) / 255.0
    assert np.allclose(sp.normalization.mean, train.mean(0)) and np.allclose(sp.normalization.std, train.std(0))
    every = np.concatenate([train, np.stack([sp.val.pixels(i)[0] for i in range(len(sp.val))]).reshape(-1, 3) / 255])
    assert not np.allclose(sp.normalization.mean, every.mean(0))
    batch = torch.stack([sp.train[i][0] for i in range(len(sp.train))])
    assert torch.allclose(batch.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(batch.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-3)
