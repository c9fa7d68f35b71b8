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
