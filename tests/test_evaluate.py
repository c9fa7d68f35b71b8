"""helpers.evaluate: the command on a small folder (2 tiny images), its files, columns and refusal to overwrite."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import evaluate
from helpers.codec import shipped_checkpoints


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:56] / 56
    a = np.stack([np.sin(6 * xx), np.cos(4 * yy), xx * yy], -1) * 100 + 120 + rng.normal(0, 3, (40, 56, 3))
    Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).save(d / "a.png")
    Image.fromarray(np.clip(a[:33, :29, 0] * 0.8, 0, 255).astype(np.uint8)).save(d / "b_gray.bmp")   # odd size, L
    (d / "notes.txt").write_text("not an image")
    return d


def test_evaluate_command_on_a_small_folder(folder, tmp_path, capsys):
    out = tmp_path / "results"
    checkpoints = shipped_checkpoints()[:2]
    assert len(checkpoints) == 2
    args = ["--images", str(folder), "--out", str(out), "--no-progress",
            "--jpeg-qualities", "5", "30", "80", "--webp-qualities", "10", "60",
            "--checkpoint", *map(str, checkpoints)]
    assert evaluate.main(args) == 0
    for name in evaluate.RESULT_FILES:
        assert (out / name).stat().st_size > 0
    with open(out / "rd.csv") as f:
        rows = list(csv.DictReader(f))
    assert set(evaluate.COLUMNS) <= set(rows[0])
    assert {r["image"] for r in rows} == {"a.png", "b_gray.bmp"}
    assert len(rows) == 2 * (3 + 2 + 2)
    assert {r["codec"] for r in rows} == {"jpeg", "webp", "kit"}
    for r in rows:          # bpp is the real byte count over the pixels
        assert float(r["bpp"]) == pytest.approx(8 * int(r["bytes"]) / (int(r["width"]) * int(r["height"])), rel=1e-5)
        assert float(r["psnr"]) > 10 and 0 < float(r["ssim"]) <= 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["reference"] == "jpeg" and set(summary["codecs"]) == {"jpeg", "webp", "kit"}
    assert "BD-rate vs jpeg" in capsys.readouterr().out

    # results already there: refused without --force, replaced with it
    assert evaluate.main(args) == 1
    assert "--force" in capsys.readouterr().err
    assert evaluate.main(args + ["--force"]) == 0


def test_evaluate_errors_are_clear(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    assert evaluate.main(["--images", str(images), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "no images" in capsys.readouterr().err
    bad = images / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert evaluate.main(["--images", str(images), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "bad.png" in capsys.readouterr().err


def test_summary_bd_rate_against_jpeg_on_mean_curves():
    rows = []
    for image, scale in (("x", 1.0), ("y", 2.0)):
        for q, (b, p) in enumerate([(0.2, 28.0), (0.4, 31.0), (0.8, 34.0)]):
            rows.append({"image": image, "codec": "jpeg", "setting": q, "bpp": b * scale, "psnr": p, "ssim": 0.9})
            rows.append({"image": image, "codec": "kit", "setting": f"s{q}", "bpp": 0.5 * b * scale, "psnr": p,
                         "ssim": 0.9})
    s = evaluate.summarize(rows)
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
    rows = evaluate.evaluate_images([image], ["grey"], {"mine": codecs[:1], "theirs": codecs[1:]},
                                    jpeg_qualities=[10, 50], webp_qualities=[], progress=False)
    assert [(r["codec"], r["setting"]) for r in rows] == [("jpeg", 10), ("jpeg", 50), ("mine", "random0"),
                                                          ("theirs", "random1")]
    assert all(r["width"] == 35 and r["height"] == 20 for r in rows)
    with pytest.raises(ValueError, match="uint8"):
        evaluate.evaluate_images([image.astype(float)], ["x"], {}, progress=False)


def _no_work(*args, **kwargs):
    pytest.fail("the command started working before refusing its --out")


def test_an_out_that_is_a_file_is_refused_before_any_work(folder, tmp_path, capsys, monkeypatch):
    """Before: the images were all measured, then writing failed (NotADirectoryError or FileExistsError)."""
    monkeypatch.setattr(evaluate, "evaluate", _no_work)
    out = tmp_path / "results.csv"
    out.write_text("mine")
    for force in ([], ["--force"]):
        assert evaluate.main(["--images", str(folder), "--out", str(out), "--no-progress", *force]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error:") and "results.csv is an existing file" in err
    assert out.read_text() == "mine"


def test_out_inside_images_is_refused_even_with_force(folder, tmp_path, capsys, monkeypatch):
    """Before: --out equal to --images put rd.png there, and the next run scored its own plot as an image."""
    monkeypatch.setattr(evaluate, "evaluate", _no_work)
    (tmp_path / "link").symlink_to(folder)
    before = sorted(p.name for p in folder.iterdir())
    for out in (folder, folder / "rd", tmp_path / "link", tmp_path / "link" / "sub"):
        assert evaluate.main(["--images", str(folder), "--out", str(out), "--no-progress", "--force"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error:") and "--out" in err and "input" in err, out
    assert sorted(p.name for p in folder.iterdir()) == before


def test_an_interrupted_write_leaves_the_previous_results(tmp_path, monkeypatch):
    """Before: rd.csv opened with "w" and rd.png saved in place: Ctrl-C midway left half files."""
    from matplotlib.figure import Figure

    rows = [{"image": "x", "codec": c, "setting": q, "bytes": 10, "bpp": b, "psnr": p, "ssim": 0.9, "width": 8,
             "height": 8} for c, k in (("jpeg", 1.0), ("kit", 0.5)) for q, (b, p) in
            enumerate([(0.2 * k, 28.0), (0.4 * k, 31.0), (0.8 * k, 34.0)])]
    evaluate.write_results(rows, tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in evaluate.RESULT_FILES}
    real_savefig = Figure.savefig

    def half_then_interrupt(self, fname, *args, **kwargs):
        real_savefig(self, fname, *args, **kwargs)
        Path(fname).write_bytes(Path(fname).read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        evaluate.write_results(rows[:-1], tmp_path)
    assert (tmp_path / "rd.png").read_bytes() == before["rd.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(evaluate.RESULT_FILES)   # no temporary file
