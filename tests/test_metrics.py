"""helpers.metrics against scikit-image on known images, and the Pillow codecs at a target rate."""

import io
import math
import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from helpers import metrics as M


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()[::2, ::2].copy()  # 256x256x3 uint8


@pytest.fixture(scope="module")
def noisy(astronaut):
    rng = np.random.default_rng(0)
    return np.clip(astronaut + rng.normal(0, 12, astronaut.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def pair_batch(astronaut, noisy):
    rng = np.random.default_rng(1)
    chelsea = data.chelsea()[:256, :256]
    noisy_chelsea = np.clip(chelsea + rng.normal(0, 5, chelsea.shape), 0, 255).astype(np.uint8)
    return np.stack([astronaut, chelsea]), np.stack([noisy, noisy_chelsea])


def _wang(a, b):
    return structural_similarity(a, b, channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)


def test_single_image_against_skimage(astronaut, noisy):
    assert M.mse(astronaut, noisy) == pytest.approx(mean_squared_error(astronaut, noisy), rel=1e-12)
    assert M.psnr(astronaut, noisy) == pytest.approx(peak_signal_noise_ratio(astronaut, noisy, data_range=255),
                                                     rel=1e-12)
    assert M.ssim(astronaut, noisy) == pytest.approx(_wang(astronaut, noisy), rel=1e-12)
    # the Wang settings differ from scikit-image's defaults (the guide's ~0.005)
    default = structural_similarity(astronaut, noisy, channel_axis=-1, data_range=255)
    assert abs(M.ssim(astronaut, noisy) - default) > 1e-3
    assert 20 < M.psnr(astronaut, noisy) < 30


def test_batches_are_per_image_means(pair_batch):
    a, b = pair_batch
    per = [peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a, b)]
    assert M.psnr(a, b, reduction="none") == pytest.approx(per)
    assert M.psnr(a, b) == pytest.approx(np.mean(per))
    assert M.ssim(a, b) == pytest.approx(np.mean([_wang(x, y) for x, y in zip(a, b)]))
    assert M.mse(a, b) == pytest.approx(np.mean([mean_squared_error(x, y) for x, y in zip(a, b)]))


def test_torch_tensors_float_and_uint8_read_the_same(pair_batch):
    a, b = pair_batch
    ta = torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255
    tb = torch.from_numpy(b).permute(0, 3, 1, 2).float() / 255
    assert np.array_equal(M.to_uint8(ta), a)
    assert M.psnr(ta, tb) == pytest.approx(M.psnr(a, b), rel=1e-12)
    assert M.ssim(ta, tb) == pytest.approx(M.ssim(a, b), rel=1e-12)
    assert M.ssim(ta[0], tb[0]) == pytest.approx(M.ssim(a[0], b[0]), rel=1e-12)  # (3, H, W)
    assert np.array_equal(M.to_uint8(torch.from_numpy(a).permute(0, 3, 1, 2)), a)  # uint8 tensor


def test_torch_psnr_agrees_with_skimage(pair_batch):
    a, b = pair_batch
    # floats that are not exactly on the 8-bit grid: torch_psnr quantizes as to_uint8 does
    rng = np.random.default_rng(2)
    fa = torch.from_numpy(a / 255 + rng.uniform(-0.0019, 0.0019, a.shape)).permute(0, 3, 1, 2).float()
    fb = torch.from_numpy(b / 255 + rng.uniform(-0.0019, 0.0019, b.shape)).permute(0, 3, 1, 2).float()
    qa, qb = M.to_uint8(fa), M.to_uint8(fb)
    expected = [peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(qa, qb)]
    got = M.torch_psnr(fa, fb, reduction="none")
    assert got.tolist() == pytest.approx(expected, abs=1e-9)
    assert float(M.torch_psnr(fa, fb)) == pytest.approx(np.mean(expected), abs=1e-9)
    assert float(M.torch_psnr(fa, fb)) == pytest.approx(M.psnr(fa, fb), abs=1e-9)
    # data_range: tensors on a 0..255 scale
    assert float(M.torch_psnr(fa * 255, fb * 255, data_range=255)) == pytest.approx(np.mean(expected), abs=1e-9)


def test_identical_images_give_inf_without_warning(astronaut, noisy):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert M.psnr(astronaut, astronaut) == math.inf
        assert math.isinf(float(M.torch_psnr(torch.ones(1, 3, 8, 8), torch.ones(1, 3, 8, 8))))
    batch_a = np.stack([astronaut, astronaut])
    batch_b = np.stack([astronaut, noisy])
    per = M.psnr(batch_a, batch_b, reduction="none")
    assert per[0] == math.inf and math.isfinite(per[1])
    assert M.psnr(batch_a, batch_b) == math.inf  # the documented batch mean
    assert M.psnr_from_mse(0.0) == math.inf
    assert M.psnr_from_mse(M.mse(astronaut, noisy)) == pytest.approx(M.psnr(astronaut, noisy))
    assert M.ssim(astronaut, astronaut) == pytest.approx(1.0)


def test_to_uint8_conventions():
    x = np.array([[[-0.2, 0.5, 1.3]]])
    assert M.to_uint8(x).tolist() == [[[0, 128, 255]]]
    grey = np.zeros((4, 5), np.uint8)
    assert M.to_uint8(grey).shape == (4, 5, 3)
    assert M.to_uint8(np.zeros((3, 4, 5), np.uint8)).shape == (4, 5, 3)  # channels-first array
    with pytest.raises(TypeError, match="uint8"):
        M.to_uint8(np.zeros((4, 4, 3), np.int32))
    with pytest.raises(ValueError, match="shapes differ"):
        M.psnr(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))


def test_bits_per_pixel_and_latent_bpp():
    assert M.bits_per_pixel(1000, 100, 80) == pytest.approx(1.0)
    assert M.bits_per_pixel(0, 10, bits=50) == pytest.approx(0.5)
    assert M.latent_bpp(256, 224) == pytest.approx(256 * 8 / 224**2)
    assert M.latent_bpp((16, 14, 14), (224, 224), bits_per_value=4) == pytest.approx(16 * 196 * 4 / 224**2)
    assert M.latent_bpp(torch.zeros(16, 14, 14), 224, 4) == M.latent_bpp((16, 14, 14), 224, 4)


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_encode_image_measures_the_buffer(astronaut, codec):
    r = M.encode_image(astronaut, codec, 50)
    assert r["num_bytes"] == len(r["data"])
    assert r["bpp"] == pytest.approx(8 * len(r["data"]) / (256 * 256))
    with Image.open(io.BytesIO(r["data"])) as im:
        assert im.format == codec.upper()
        assert np.array_equal(np.asarray(im.convert("RGB")), r["decoded"])
    assert r["psnr"] == pytest.approx(peak_signal_noise_ratio(astronaut, r["decoded"], data_range=255))
    assert r["ssim"] == pytest.approx(_wang(astronaut, r["decoded"]))
    with pytest.raises(ValueError):
        M.encode_image(astronaut, codec, 0)


def test_jpeg_optimize_and_subsampling(astronaut):
    r = M.encode_image(astronaut, "jpeg", 75)
    plain = io.BytesIO()
    Image.fromarray(astronaut).save(plain, format="JPEG", quality=75)
    assert r["num_bytes"] <= len(plain.getvalue())  # optimize=True: smaller or equal, same pixels
    with Image.open(plain) as im:
        assert np.array_equal(np.asarray(im.convert("RGB")), r["decoded"])
    from PIL import JpegImagePlugin
    with Image.open(io.BytesIO(r["data"])) as im:
        assert JpegImagePlugin.get_sampling(im) == 2  # 4:2:0


def test_quality_sweep_rows(astronaut):
    rows = M.quality_sweep(astronaut, "jpeg", [10, 50, 90])
    assert [r["quality"] for r in rows] == [10, 50, 90]
    assert rows[0]["bpp"] < rows[1]["bpp"] < rows[2]["bpp"]
    assert rows[0]["psnr"] < rows[2]["psnr"]
    assert set(rows[0]) == {"codec", "quality", "num_bytes", "bpp", "psnr", "ssim"}


@pytest.mark.parametrize("codec", ["jpeg", "webp"])
def test_codec_at_bpp_finds_the_highest_quality_under_target(astronaut, codec):
    target = 1.0
    r = M.codec_at_bpp(astronaut, target, codec)
    assert r["hit_target"] and r["bpp"] <= target
    if r["quality"] < 100:  # the next quality is over the target
        assert M.encode_image(astronaut, codec, r["quality"] + 1)["bpp"] > target
    # brute force agrees (on this image the size grows with quality)
    sizes = {q: M.encode_image(astronaut, codec, q)["bpp"] for q in range(max(1, r["quality"] - 5),
                                                                          min(100, r["quality"] + 6))}
    assert r["quality"] == max(q for q, b in sizes.items() if b <= target)


def test_codec_at_bpp_says_when_quality_1_is_too_big(astronaut):
    r = M.codec_at_bpp(astronaut, 0.01, "jpeg")
    assert r["quality"] == 1 and not r["hit_target"]
    assert r["bpp"] > 0.01 and "quality 1" in r["note"]
    with pytest.raises(ValueError, match="codec"):
        M.codec_at_bpp(astronaut, 1.0, "png")


def test_ssim_of_a_batch_scored_in_threads_keeps_the_order_of_its_images():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, size=(5, 24, 24, 3), dtype=np.uint8)
    b = np.stack([np.clip(a[i].astype(int) + rng.integers(-8 * i, 8 * i + 1, size=a[i].shape), 0, 255)
                  for i in range(5)]).astype(np.uint8)
    values = M.ssim(a, b, reduction="none")
    assert values == [pytest.approx(_wang(x, y), rel=1e-12) for x, y in zip(a, b)]
    assert values == sorted(values, reverse=True)  # more noise on each later image: the order is the images'
