"""helpers.rd_curves: rate-distortion rows of JPEG, WebP and the kit's codecs, and their summary (BD-rates)."""

import numpy as np
import pytest

from helpers import rd_curves


def test_summary_bd_rate_against_jpeg_on_mean_curves():
    rows = []
    for image, scale in (("x", 1.0), ("y", 2.0)):
        for q, (b, p) in enumerate([(0.2, 28.0), (0.4, 31.0), (0.8, 34.0)]):
            rows.append({"image": image, "codec": "jpeg", "setting": q, "bpp": b * scale, "psnr": p, "ssim": 0.9})
            rows.append({"image": image, "codec": "kit", "setting": f"s{q}", "bpp": 0.5 * b * scale, "psnr": p,
                         "ssim": 0.9})
    s = rd_curves.summarize(rows)
    kit = s["codecs"]["kit"]
    assert kit["bd_rate_percent"] == pytest.approx(-50.0)
    assert kit["bd_rate_per_image_percent"] == {"x": pytest.approx(-50.0), "y": pytest.approx(-50.0)}
    assert kit["below_reference_lowest_bpp"] and kit["overlap_psnr_db"] == [28.0, 34.0]
    assert s["codecs"]["jpeg"]["psnr_at_target_bpp"] is None          # mean curve starts at 0.3 bpp
    # PCHIP reproduces a curve that is linear in log-rate exactly: 28 dB + 3 dB per doubling from 0.15 bpp
    assert kit["psnr_at_target_bpp"] == pytest.approx(28.0 + 3 * np.log2(0.25 / 0.15), abs=1e-9)


def test_evaluate_images_takes_arrays_and_several_codec_families():
    import torch

    from helpers.codec import Codec
    from helpers.rd_model import FactorizedPriorModel
    torch.manual_seed(0)
    codecs = [Codec(FactorizedPriorModel(8, 8), name=f"random{i}") for i in range(2)]
    image = np.full((20, 35, 3), 128, np.uint8)
    rows = rd_curves.evaluate_images([image], ["grey"], {"mine": codecs[:1], "theirs": codecs[1:]},
                                     jpeg_qualities=[10, 50], webp_qualities=[], progress=False)
    assert [(r["codec"], r["setting"]) for r in rows] == [("jpeg", 10), ("jpeg", 50), ("mine", "random0"),
                                                          ("theirs", "random1")]
    assert all(r["width"] == 35 and r["height"] == 20 for r in rows)
    with pytest.raises(ValueError, match="uint8"):
        rd_curves.evaluate_images([image.astype(float)], ["x"], {}, progress=False)


def _rows(codec, points, image="x"):
    return [{"image": image, "codec": codec, "setting": i, "bpp": b, "psnr": p, "ssim": 0.9}
            for i, (b, p) in enumerate(points)]


def test_every_codec_is_compared_with_jpeg_and_with_webp_each_over_its_own_overlap():
    jpeg = [(0.2, 26.0), (0.4, 29.0), (0.8, 32.0), (1.6, 35.0)]
    webp = [(0.1, 27.0), (0.2, 30.0), (0.4, 33.0)]                     # a different PSNR range from JPEG's
    kit = [(b * 0.8, p) for b, p in webp]                              # 20 % fewer bits than WebP, same PSNRs
    s = rd_curves.summarize(_rows("jpeg", jpeg) + _rows("webp", webp) + _rows("kit", kit))
    against = s["codecs"]["kit"]["against"]
    assert list(against) == ["jpeg", "webp"]
    assert against["webp"]["bd_rate_percent"] == pytest.approx(-20.0)
    assert against["webp"]["overlap_psnr_db"] == [27.0, 33.0]
    assert against["jpeg"]["overlap_psnr_db"] == [27.0, 33.0]
    assert against["jpeg"]["bd_rate_percent"] == s["codecs"]["kit"]["bd_rate_percent"]     # the same number
    assert list(s["codecs"]["webp"]["against"]) == ["jpeg"] and list(s["codecs"]["jpeg"]["against"]) == ["webp"]
    text = rd_curves.summary_text(s)
    assert "BD-rate vs webp: -20.0 %" in text and "(over 27.00..33.00 dB)" in text


def test_curves_that_do_not_overlap_are_said_to_with_their_ranges():
    """Before: a codec whose PSNRs never met WebP's got no line about WebP at all (only JPEG was compared)."""
    jpeg = [(0.2, 26.0), (0.4, 29.0), (0.8, 32.0)]
    webp = [(0.2, 30.0), (0.4, 33.0), (0.8, 36.0)]
    kit = [(0.05, 22.0), (0.1, 25.0), (0.2, 27.5)]                       # below every WebP point
    s = rd_curves.summarize(_rows("jpeg", jpeg) + _rows("webp", webp) + _rows("kit", kit))
    versus = s["codecs"]["kit"]["against"]["webp"]
    assert versus["overlap_psnr_db"] is None and versus["bd_rate_percent"] is None
    assert versus["psnr_range_db"] == [22.0, 27.5] and versus["reference_psnr_range_db"] == [30.0, 36.0]
    text = rd_curves.summary_text(s)
    assert ("BD-rate vs webp: none, the curves do not overlap (kit reaches 22.00..27.50 dB, webp 30.00..36.00 dB)"
            in text)
    assert "BD-rate vs jpeg: " in text and "(over 26.00..27.50 dB)" in text
