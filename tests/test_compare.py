"""helpers.compare: latent quantization and its exact bit rate, tiling whole images, and the comparison with JPEG
at the same bits per pixel. Tiny untrained models and small synthetic images keep it fast."""

import numpy as np
import pytest
import torch
from torch import nn

from helpers import metrics
from helpers.compare import (RANGE_BITS, center_crop, compare_with_codecs, crop_to_tiles, detail,
                             most_detailed_window, photo_metrics, quantize_uniform, reconstruct, tile_bpp)
from helpers.data import Normalization
from helpers.models import ConvAE

torch.set_num_threads(1)


class Identity(nn.Module):
    """encode and decode are the identity: the latent is the tile itself (3 * tile * tile values)."""

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def encode(self, x):
        return x.clone()

    def decode(self, z):
        return z


class TileMean(Identity):
    """Every tile becomes its mean colour: a latent of 3 values per tile."""

    def encode(self, x):
        return x.mean(dim=(2, 3))

    def decode(self, z):
        return z[:, :, None, None].expand(-1, -1, 16, 16)


def smooth_image(height, width, seed=0):
    """A smooth colour image with some texture (JPEG-friendly, unlike pure noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    channels = [128 + 90 * np.sin(xx / (5 + 3 * c) + yy / (7 + c)) for c in range(3)]
    image = np.stack(channels, axis=-1) + rng.normal(0, 6, (height, width, 3))
    return np.clip(image, 0, 255).round().astype(np.uint8)


# ------------------------------------------------------------------------------------------------- quantize_uniform
def test_quantize_uniform_keeps_float32_storage_unchanged():
    z = torch.randn(3, 5)
    assert quantize_uniform(z, None) is z
    assert quantize_uniform(z, 32) is z


@pytest.mark.parametrize("bits", [1, 2, 4, 8])
def test_quantize_uniform_uses_2_to_the_bits_levels_per_row(bits):
    z = torch.randn(4, 6, 5, generator=torch.Generator().manual_seed(bits)) * torch.tensor([1.0, 10, 0.1, 3])[:, None, None]
    q = quantize_uniform(z, bits)
    assert q.shape == z.shape
    for row, qrow in zip(z.reshape(4, -1), q.reshape(4, -1)):
        low, high = row.min(), row.max()
        step = (high - low) / (2**bits - 1)
        assert len(torch.unique(qrow)) <= 2**bits
        assert torch.isclose(qrow.min(), low) and torch.isclose(qrow.max(), high, rtol=1e-5)  # the ends are exact
        assert (qrow - row).abs().max() <= step / 2 + 1e-5 * (high - low)  # nearest level
        codes = (qrow - low) / step
        assert torch.allclose(codes, codes.round(), atol=1e-3)  # on the grid of levels


def test_quantize_uniform_one_bit_maps_each_value_to_its_rows_min_or_max():
    z = torch.tensor([[0.0, 0.4, 0.6, 1.0], [-5.0, -1.0, 2.0, 3.0]])
    assert torch.equal(quantize_uniform(z, 1), torch.tensor([[0.0, 0.0, 1.0, 1.0], [-5.0, -5.0, 3.0, 3.0]]))


def test_quantize_uniform_is_exact_on_values_already_on_the_grid_and_on_constant_rows():
    z = torch.tensor([[0.0, 1 / 255, 128 / 255, 1.0], [0.5, 0.5, 0.5, 0.5]])
    q = quantize_uniform(z, 8)
    assert torch.allclose(q, z, atol=1e-7)
    assert torch.isfinite(q).all()


def test_quantize_uniform_rows_are_independent():
    a, b = torch.rand(1, 8), torch.rand(1, 8) * 100
    both = quantize_uniform(torch.cat([a, b]), 3)
    assert torch.equal(both[0:1], quantize_uniform(a, 3)) and torch.equal(both[1:2], quantize_uniform(b, 3))


# --------------------------------------------------------------------------------------------------------- tile_bpp
def test_tile_bpp_of_a_dense_bottleneck():
    model = ConvAE(latent_dim=16, depth=2, width=4, image_size=16)
    assert tile_bpp(model, 16, 8) == pytest.approx((16 * 8 + RANGE_BITS) / 256)  # 0.75
    assert tile_bpp(model, 16, 4) == pytest.approx((16 * 4 + 64) / 256)
    assert tile_bpp(model, 16, None) == pytest.approx(16 * 32 / 256)  # float32, no range stored
    assert tile_bpp(model, 16, 32) == tile_bpp(model, 16, None)


def test_tile_bpp_of_a_conv_bottleneck_grows_with_the_tile_size_like_the_pixels():
    model = ConvAE(latent_dim=4, depth=2, width=4, bottleneck="conv")
    # 4 channels at tile/4 x tile/4
    assert tile_bpp(model, 16, 8) == pytest.approx((4 * 4 * 4 * 8 + 64) / 16**2)
    assert tile_bpp(model, 32, None) == pytest.approx(4 * 8 * 8 * 32 / 32**2) == tile_bpp(model, 16, None)


def test_tile_bpp_leaves_the_model_as_it_was():
    model = ConvAE(latent_dim=8, depth=2, width=4, image_size=16, batch_norm=True)
    model.train()
    stats = [b.clone() for b in model.buffers()]
    tile_bpp(model, 16)
    assert model.training
    assert all(torch.equal(a, b) for a, b in zip(stats, model.buffers()))  # no BatchNorm update from the blank tile
    model.eval()
    tile_bpp(model, 16)
    assert not model.training


# ---------------------------------------------------------------------------------------------------- crop_to_tiles
def test_crop_to_tiles_keeps_the_top_left_multiple_of_the_tile():
    image = np.arange(35 * 50 * 3).reshape(35, 50, 3)
    cropped = crop_to_tiles(image, 16)
    assert cropped.shape == (32, 48, 3)
    assert np.array_equal(cropped, image[:32, :48])
    assert crop_to_tiles(image[:32, :48], 16).shape == (32, 48, 3)


def test_center_crop_takes_the_central_square():
    image = np.arange(6 * 10 * 3, dtype=np.uint8).reshape(6, 10, 3)
    assert np.array_equal(center_crop(image, 4), image[1:5, 3:7])
    assert np.array_equal(center_crop(image, 224), image[:, 2:8])          # the short side (6) sets the size
    assert center_crop(np.zeros((300, 200, 3), np.uint8), 224).shape == (200, 200, 3)


def test_crop_to_tiles_refuses_an_image_smaller_than_a_tile():
    with pytest.raises(ValueError, match="image of 15x40 is smaller than one tile of 16x16"):
        crop_to_tiles(np.zeros((15, 40, 3), np.uint8), 16)
    with pytest.raises(ValueError):
        crop_to_tiles(np.zeros((40, 15, 3), np.uint8), 16)


# ------------------------------------------------------------------------------------------------------ reconstruct
@pytest.mark.parametrize("kind", ["unit", "symmetric"])
def test_reconstruct_puts_every_tile_back_in_its_place(kind):
    """With an identity model and float storage, the reconstruction is the cropped image, pixel for pixel: any
    mix-up of tile order, rows and columns, or channels would show."""
    image = np.random.default_rng(1).integers(0, 256, (37, 53, 3), dtype=np.uint8)
    out = reconstruct(Identity(), image, 16, Normalization.make(kind), bits_per_value=None)
    assert out.dtype == np.uint8 and out.shape == (32, 48, 3)
    assert np.array_equal(out, image[:32, :48])


def test_reconstruct_codes_each_tile_on_its_own():
    image = smooth_image(32, 48)
    out = reconstruct(TileMean(), image, 16, Normalization.make("unit"), bits_per_value=None)
    for r in range(2):
        for c in range(3):
            tile = image[16 * r:16 * r + 16, 16 * c:16 * c + 16].reshape(-1, 3)
            block = out[16 * r:16 * r + 16, 16 * c:16 * c + 16].reshape(-1, 3)
            assert (block == block[0]).all()  # flat
            assert np.abs(block[0].astype(float) - tile.mean(0)).max() <= 0.5 + 1e-6  # its own tile's mean


def test_reconstruct_quantizes_the_latent():
    image = smooth_image(32, 32)
    exact = reconstruct(Identity(), image, 16, Normalization.make("unit"), bits_per_value=None)
    fine = reconstruct(Identity(), image, 16, Normalization.make("unit"), bits_per_value=8)
    coarse = reconstruct(Identity(), image, 16, Normalization.make("unit"), bits_per_value=2)
    assert np.array_equal(exact, image)
    assert np.abs(fine.astype(int) - image).max() <= 1  # 255 levels over each tile's range: at most one level off
    assert metrics.psnr(image, coarse) < metrics.psnr(image, fine) - 10
    for r in range(2):
        for c in range(2):  # 2 bits: at most 4 values in a tile (one range for its whole latent)
            assert len(np.unique(coarse[16 * r:16 * r + 16, 16 * c:16 * c + 16])) <= 4


class Broken(Identity):
    """A model whose decoder fails: the comparison must still leave it in the mode it had."""

    def decode(self, z):
        raise RuntimeError("decoder failed")

    def encode(self, x):
        if x.abs().sum() == 0:  # tile_bpp's blank tile: fail there too
            raise RuntimeError("encoder failed")
        return super().encode(x)


def test_a_failing_model_is_left_in_the_mode_it_had():
    model = Broken().train()
    with pytest.raises(RuntimeError, match="decoder failed"):
        reconstruct(model, smooth_image(32, 32), 16, Normalization.make("unit"))
    assert model.training
    with pytest.raises(RuntimeError, match="encoder failed"):
        tile_bpp(model, 16)
    assert model.training


def test_reconstruct_batches_give_the_same_result_and_the_mode_is_restored():
    model = ConvAE(latent_dim=8, depth=2, width=4, image_size=16, batch_norm=True)
    image = smooth_image(48, 32)
    model.train()
    a = reconstruct(model, image, 16, Normalization.make("unit"), batch_size=64)
    b = reconstruct(model, image, 16, Normalization.make("unit"), batch_size=1)
    assert model.training
    assert np.array_equal(a, b)  # eval mode: BatchNorm does not depend on the batch
    assert a.shape == (48, 32, 3) and a.dtype == np.uint8


# ---------------------------------------------------------------------------------------------- compare_with_codecs
def test_compare_with_codecs_rows_and_pictures():
    images = [smooth_image(40, 56, seed=0), smooth_image(32, 32, seed=1)]
    model = Identity()
    rows, pictures = compare_with_codecs(model, images, 16, Normalization.make("unit"), bits_per_value=8,
                                         codecs=("jpeg", "webp"), names=["a", "b"])
    assert [(r["image"], r["method"]) for r in rows] == [("a", "autoencoder"), ("a", "jpeg"), ("a", "webp"),
                                                         ("b", "autoencoder"), ("b", "jpeg"), ("b", "webp")]
    target = tile_bpp(model, 16, 8)
    assert target == pytest.approx((3 * 16 * 16 * 8 + 64) / 256)
    for row in rows:
        assert set(row) == {"image", "method", "bpp", "psnr", "ssim", "quality", "hit_target"}
        if row["method"] == "autoencoder":
            assert row["bpp"] == target and row["quality"] is None and row["hit_target"] is True
            assert row["psnr"] > 45 and row["ssim"] > 0.99  # the identity loses only the 8-bit quantization
        else:
            assert row["hit_target"] and row["bpp"] <= target and 1 <= row["quality"] <= 100
    assert set(pictures) == {"a", "b"}
    assert set(pictures["a"]) == {"original", "autoencoder", "jpeg", "webp"}
    assert np.array_equal(pictures["a"]["original"], images[0][:32, :48])  # cropped to whole tiles
    for name, row in (("a", rows[0]), ("b", rows[3])):
        original = pictures[name]["original"]
        assert pictures[name]["jpeg"].shape == pictures[name]["autoencoder"].shape == original.shape
        assert row["psnr"] == pytest.approx(metrics.psnr(original, pictures[name]["autoencoder"]))
    jpeg_a = metrics.codec_at_bpp(pictures["a"]["original"], target, "jpeg")
    assert rows[1]["quality"] == jpeg_a["quality"] and rows[1]["bpp"] == pytest.approx(jpeg_a["bpp"])


def test_compare_with_codecs_default_names_and_an_unreachable_target():
    """A tiny latent asks for fewer bits than JPEG can give on a small image: the row says it missed."""
    model = ConvAE(latent_dim=4, depth=2, width=4, image_size=16)
    rows, pictures = compare_with_codecs(model, [smooth_image(32, 32)], 16, Normalization.make("unit"))
    assert [r["method"] for r in rows] == ["autoencoder", "jpeg"] and list(pictures) == ["image 0"]
    ae, jpeg = rows
    assert ae["bpp"] == pytest.approx((4 * 8 + 64) / 256)
    assert jpeg["hit_target"] is False and jpeg["quality"] == 1 and jpeg["bpp"] > ae["bpp"]



# ---------------------------------------------------------------------------------------------- photo_metrics
def test_photo_metrics_whole_image_psnr_and_psnr_of_the_mean_mse():
    images = [smooth_image(40, 56, seed=0), smooth_image(32, 32, seed=1)]
    model = ConvAE(latent_dim=4, depth=2, width=4, image_size=16)
    norm = Normalization.make("unit")
    m = photo_metrics(model, images, 16, norm)
    rows, pictures = compare_with_codecs(model, images, 16, norm, codecs=(), names=["a", "b"])
    assert m["per_image_psnr"] == pytest.approx([r["psnr"] for r in rows])
    assert m["image_psnr"] == pytest.approx(np.mean([r["psnr"] for r in rows]))
    assert m["image_ssim"] == pytest.approx(np.mean([r["ssim"] for r in rows]))
    mses = [metrics.mse(pictures[n]["original"], pictures[n]["autoencoder"]) for n in "ab"]
    assert m["image_mse"] == pytest.approx(np.mean(mses))
    assert m["psnr_of_mean_mse"] == pytest.approx(metrics.psnr_from_mse(np.mean(mses)))
    assert m["psnr_of_mean_mse"] <= m["image_psnr"] + 1e-9  # Jensen: the worse image weighs more
    assert m["bpp"] == tile_bpp(model, 16, 8)
    with pytest.raises(ValueError, match="at least one"):
        photo_metrics(model, [], 16, norm)


def test_detail_is_zero_on_a_flat_image_and_counts_neighbour_differences():
    assert detail(np.full((8, 8, 3), 77, np.uint8)) == 0.0
    stripes = np.zeros((4, 4, 3), np.uint8)
    stripes[:, 1::2] = 10                      # columns alternate 0, 10: horizontal steps of 10, no vertical ones
    assert detail(stripes) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="shape"):
        detail(np.zeros((1, 5, 3), np.uint8))


def test_most_detailed_window_finds_the_textured_corner_on_the_tile_grid():
    rng = np.random.default_rng(0)
    image = np.full((64, 96, 3), 128, np.uint8)
    image[32:64, 48:80] = rng.integers(0, 256, (32, 32, 3))   # noise in one 32x32 block of the 16-pixel grid
    assert most_detailed_window(image, 32, 16) == (32, 48)
    top, left = most_detailed_window(image, 16, 16)
    assert top % 16 == 0 and left % 16 == 0 and 32 <= top < 64 and 48 <= left < 80


@pytest.mark.parametrize("size, match", [(24, "multiple"), (8, "multiple"), (128, "does not fit")])
def test_most_detailed_window_refuses_a_bad_size(size, match):
    with pytest.raises(ValueError, match=match):
        most_detailed_window(np.zeros((64, 96, 3), np.uint8), size, 16)
