"""Tests of helpers.images: one image file to RGB uint8 pixels, and the one rule from floats to 8-bit pixels."""

from __future__ import annotations

import numpy as np
import torch

from helpers import metrics
from helpers.data import Normalization
from helpers.images import to_pixel_levels


# ---------------------------------------------------------------------------------------------- 8-bit pixels
def test_to_pixel_levels_clips_scales_and_rounds_half_to_even():
    assert to_pixel_levels(np.array([-0.2, 0.0, 0.25, 0.5, 1.0, 1.3])).tolist() == [0, 0, 64, 128, 255, 255]
    assert to_pixel_levels(torch.tensor([-0.2, 0.25, 0.5, 1.3])).tolist() == [0, 64, 128, 255]
    halves = np.array([2.5, 3.5, 127.5]) / 255  # x * 255 lands on (or next to) .5: the float rounding decides
    assert np.array_equal(to_pixel_levels(halves), np.round(np.clip(halves, 0, 1) * 255))


def test_every_conversion_to_8_bits_gives_the_same_pixels():
    """metrics.to_uint8, Normalization.to_uint8 and torch_psnr's quantization all use to_pixel_levels."""
    x = np.concatenate([np.linspace(-0.1, 1.1, 2001), (np.arange(256) + 0.5) / 255])
    x = np.resize(x, (1, 3, 3, 755)).astype(np.float32)  # (N, 3, H, W) channels-first float32, as a model gives
    levels = to_pixel_levels(x.astype(np.float64))  # metrics read floats in float64
    assert np.array_equal(levels, to_pixel_levels(torch.from_numpy(x).double()).numpy())  # NumPy and torch alike
    assert np.array_equal(to_pixel_levels(x.astype(np.float64)),  # the rule metrics used before: unchanged
                          np.clip(np.round(x.astype(np.float64) * 255.0), 0, 255))
    pixels = np.moveaxis(levels, 1, -1).astype(np.uint8)  # (N, H, W, 3)
    assert np.array_equal(metrics.to_uint8(torch.from_numpy(x)), pixels)
    assert np.array_equal(metrics.to_uint8(np.moveaxis(x, 1, -1)), pixels)
    assert np.array_equal(Normalization.make("unit").to_uint8(torch.from_numpy(x)), pixels)
    y = torch.from_numpy(x[:, ::-1].copy())
    assert float(metrics.torch_psnr(torch.from_numpy(x), y)) == metrics.psnr(pixels, metrics.to_uint8(y))
