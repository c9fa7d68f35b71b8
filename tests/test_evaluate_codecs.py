"""tools.evaluate_codecs: the command on a small folder (2 tiny images), its files, columns and refusal to overwrite."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tools import evaluate_codecs
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
    checkpoints = [p for p in shipped_checkpoints() if p.name.startswith("rd_")][:2]   # factorized prior
    assert len(checkpoints) == 2
    args = ["--images", str(folder), "--out", str(out), "--no-progress",
            "--jpeg-qualities", "5", "30", "80", "--webp-qualities", "10", "60",
            "--checkpoint", *map(str, checkpoints)]
    assert evaluate_codecs.main(args) == 0
    for name in evaluate_codecs.RESULT_FILES:
        assert (out / name).stat().st_size > 0
    with open(out / "rd.csv") as f:
        rows = list(csv.DictReader(f))
    assert set(evaluate_codecs.COLUMNS) <= set(rows[0])
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
    assert evaluate_codecs.main(args) == 1
    assert "--force" in capsys.readouterr().err
    assert evaluate_codecs.main(args + ["--force"]) == 0


def test_evaluate_errors_are_clear(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    assert evaluate_codecs.main(["--images", str(images), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "no images" in capsys.readouterr().err
    bad = images / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert evaluate_codecs.main(["--images", str(images), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "bad.png" in capsys.readouterr().err


def _no_work(*args, **kwargs):
    pytest.fail("the command started working before refusing its --out")


def test_an_out_that_is_a_file_is_refused_before_any_work(folder, tmp_path, capsys, monkeypatch):
    """Before: the images were all measured, then writing failed (NotADirectoryError or FileExistsError)."""
    monkeypatch.setattr(evaluate_codecs, "evaluate_checkpoints", _no_work)
    out = tmp_path / "results.csv"
    out.write_text("mine")
    for force in ([], ["--force"]):
        assert evaluate_codecs.main(["--images", str(folder), "--out", str(out), "--no-progress", *force]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error:") and "results.csv is an existing file" in err
    assert out.read_text() == "mine"


def test_out_inside_images_is_refused_even_with_force(folder, tmp_path, capsys, monkeypatch):
    """Before: --out equal to --images put rd.png there, and the next run scored its own plot as an image."""
    monkeypatch.setattr(evaluate_codecs, "evaluate_checkpoints", _no_work)
    (tmp_path / "link").symlink_to(folder)
    before = sorted(p.name for p in folder.iterdir())
    for out in (folder, folder / "rd", tmp_path / "link", tmp_path / "link" / "sub"):
        assert evaluate_codecs.main(["--images", str(folder), "--out", str(out), "--no-progress", "--force"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error:") and "--out" in err and "input" in err, out
    assert sorted(p.name for p in folder.iterdir()) == before


def test_an_interrupted_write_leaves_the_previous_results(tmp_path, monkeypatch):
    """Before: rd.csv opened with "w" and rd.png saved in place: Ctrl-C midway left half files."""
    from matplotlib.figure import Figure

    rows = [{"image": "x", "codec": c, "setting": q, "bytes": 10, "bpp": b, "psnr": p, "ssim": 0.9, "width": 8,
             "height": 8} for c, k in (("jpeg", 1.0), ("kit", 0.5)) for q, (b, p) in
            enumerate([(0.2 * k, 28.0), (0.4 * k, 31.0), (0.8 * k, 34.0)])]
    evaluate_codecs.write_results(rows, tmp_path)
    before = {name: (tmp_path / name).read_bytes() for name in evaluate_codecs.RESULT_FILES}
    real_savefig = Figure.savefig

    def half_then_interrupt(self, fname, *args, **kwargs):
        real_savefig(self, fname, *args, **kwargs)
        Path(fname).write_bytes(Path(fname).read_bytes()[:100])
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        evaluate_codecs.write_results(rows[:-1], tmp_path)
    assert (tmp_path / "rd.png").read_bytes() == before["rd.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(evaluate_codecs.RESULT_FILES)   # no temporary file


def test_each_model_kind_is_its_own_curve(folder, tmp_path):
    """A factorized and a hyperprior checkpoint are two codecs, not two settings of one: rows labelled ``kit`` and
    ``hyperprior``."""
    import torch

    from helpers import hyperprior
    from helpers.codec import Codec, HyperpriorCodec, by_kind
    from helpers.rd_model import FactorizedPriorModel, save_checkpoint

    torch.manual_seed(0)
    save_checkpoint(FactorizedPriorModel(8, 8), tmp_path / "rd_lambda0.01.pt", 0.01)
    hyperprior.save_checkpoint(hyperprior.ScaleHyperpriorModel(8, 8, 8), tmp_path / "hp_lambda0.01.pt", 0.01)
    paths = sorted(tmp_path.glob("*.pt"))
    kinds = by_kind([Codec.load(p) for p in paths])
    assert [c.name for c in kinds["factorized"]] == ["rd_lambda0.01"]
    assert [type(c) for c in kinds["hyperprior"]] == [HyperpriorCodec]
    rows = evaluate_codecs.evaluate_checkpoints(sorted(folder.iterdir())[:1], paths, [30], [], progress=False)
    assert {r["codec"]: r["setting"] for r in rows if r["codec"] != "jpeg"} == {"kit": "rd_lambda0.01",
                                                                                  "hyperprior": "hp_lambda0.01"}
