"""helpers.record: the metrics and figures a notebook saves into its output folder."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import record


# ------------------------------------------------------------------------------------------------------- save_figure
def test_save_figure_writes_a_png_and_returns_none(tmp_path, figure):
    out = tmp_path / "new" / "folder"
    assert record.save_figure(figure, out, "curves") is None
    path = out / "curves.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as image:
        width, height = image.size
        dpi = image.info["dpi"]
    assert dpi == pytest.approx((150, 150), abs=0.5)
    # 2 x 1.5 inches at 150 dpi is 300 x 225, give or take what bbox_inches="tight" trims or adds
    assert 200 < width < 400 and 150 < height < 300


def test_save_figure_replaces_an_existing_figure(tmp_path, figure):
    (tmp_path / "curves.png").write_bytes(b"old")
    record.save_figure(figure, tmp_path, "curves")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------------------------------------ save_metrics
def test_save_metrics_writes_sorted_json_and_says_where(tmp_path, capsys):
    out = tmp_path / "04_conv_model"
    assert record.save_metrics(out, {"psnr": 28.5, "bpp": 0.25, "model": "conv"}) is None
    text = (out / "metrics.json").read_text()
    assert json.loads(text) == {"psnr": 28.5, "bpp": 0.25, "model": "conv"}
    assert text.index('"bpp"') < text.index('"model"') < text.index('"psnr"')
    assert text.endswith("}\n")
    assert "previous" not in capsys.readouterr().out
    assert not (out / "metrics.previous.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]  # no temporary file left behind


def test_save_metrics_converts_numpy_numbers(tmp_path):
    record.save_metrics(tmp_path, {"psnr": np.float32(30.25), "ssim": np.float64(0.875), "bpp": 0.5})
    got = json.loads((tmp_path / "metrics.json").read_text())
    assert got == {"psnr": 30.25, "ssim": 0.875, "bpp": 0.5}


def test_save_metrics_keeps_the_previous_file(tmp_path, capsys):
    record.save_metrics(tmp_path, {"psnr": 1.0})
    record.save_metrics(tmp_path, {"psnr": 2.0})
    assert "kept as metrics.previous.json" in capsys.readouterr().out
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"psnr": 2.0}
    assert json.loads((tmp_path / "metrics.previous.json").read_text()) == {"psnr": 1.0}
    record.save_metrics(tmp_path, {"psnr": 3.0})  # only the one before is kept
    assert json.loads((tmp_path / "metrics.previous.json").read_text()) == {"psnr": 2.0}
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"psnr": 3.0}


def test_a_failed_metrics_write_leaves_the_previous_metrics_json(tmp_path, monkeypatch):
    """Before: metrics.json was moved away first, so a value json cannot write (here an object) left none."""
    record.save_metrics(tmp_path, {"psnr": 1.0})
    before = (tmp_path / "metrics.json").read_bytes()
    with pytest.raises(TypeError):
        record.save_metrics(tmp_path, {"psnr": object()})       # the serializer fails
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_an_interrupted_metrics_write_leaves_the_file_and_no_temporary_file(tmp_path, monkeypatch):
    record.save_metrics(tmp_path, {"psnr": 1.0})
    before = (tmp_path / "metrics.json").read_bytes()
    real_write = Path.write_bytes

    def half_then_interrupt(self, data):
        real_write(self, data[: len(data) // 2])
        if self.name.startswith(".metrics.json"):             # the temporary file of the new metrics.json
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        record.save_metrics(tmp_path, {"psnr": 2.0})
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


# --------------------------------------------------------------------------------------------------------- the Run
def test_keep_adds_to_metrics_json_at_once(tmp_path):
    run = record.Run(tmp_path)
    run.keep(psnr=np.float32(30.25), steps=600)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"psnr": 30.25, "steps": 600}
    run.keep(ssim=0.5, curve=(1.0, float("nan")))
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"psnr": 30.25, "steps": 600, "ssim": 0.5,
                                                                    "curve": [1.0, None]}


def test_a_claim_prints_its_numbers_and_is_recorded_whether_it_holds_or_not(tmp_path, capsys):
    run = record.Run(tmp_path, notebook="nb")
    assert run.claim("conv beats dense", 1.9 > 2 * 0.2, diff=1.9, spread=0.2) is None
    run.claim("tanh beats relu", False, diff=-0.3)
    printed = capsys.readouterr().out.splitlines()
    assert printed == ["supported: conv beats dense  [diff 1.9, spread 0.2]",
                       "this run does not support: tanh beats relu  [diff -0.3]"]
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert claims["conv beats dense"] == {"holds": True, "numbers": {"diff": 1.9, "spread": 0.2}, "at_defaults": False}
    assert claims["tanh beats relu"]["holds"] is False


def test_a_claim_that_fails_at_the_stored_defaults_stops_the_notebook_only_under_the_tests(tmp_path, monkeypatch):
    monkeypatch.delenv(record.STRICT_VARIABLE, raising=False)
    record.Run(tmp_path, at_defaults=True).claim("a", False, x=1)
    monkeypatch.setenv(record.STRICT_VARIABLE, "1")
    record.Run(tmp_path, at_defaults=False).claim("b", False, x=1)     # other parameters: the notebook goes on
    record.Run(tmp_path, at_defaults=True).claim("c", True, x=1)
    with pytest.raises(record.ClaimError, match=r"nb: at the stored defaults the lesson's claim does not hold: d "
                                                r"\[x 1\]"):
        record.Run(tmp_path, notebook="nb", at_defaults=True).claim("d", False, x=1)
