"""helpers.report: figures and metrics saved by notebooks, and the run report that gathers them."""

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from helpers import report  # noqa: E402


@pytest.fixture
def figure():
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1, 2], [2, 0, 1])
    yield fig
    plt.close(fig)


# ------------------------------------------------------------------------------------------------------- save_figure
def test_save_figure_writes_a_png_and_returns_none(tmp_path, figure):
    out = tmp_path / "new" / "folder"
    assert report.save_figure(figure, out, "curves") is None
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
    report.save_figure(figure, tmp_path, "curves")
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------------------------------------ save_metrics
def test_save_metrics_writes_sorted_json_and_says_where(tmp_path, capsys):
    out = tmp_path / "04_conv_model"
    assert report.save_metrics(out, {"psnr": 28.5, "bpp": 0.25, "model": "conv"}) is None
    text = (out / "metrics.json").read_text()
    assert json.loads(text) == {"psnr": 28.5, "bpp": 0.25, "model": "conv"}
    assert text.index('"bpp"') < text.index('"model"') < text.index('"psnr"')
    assert text.endswith("}\n")
    printed = capsys.readouterr().out
    assert f"key metrics saved to {out / 'metrics.json'}" in printed
    assert "previous" not in printed
    assert not (out / "metrics.previous.json").exists()
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]  # no temporary file left behind


def test_save_metrics_converts_numpy_numbers(tmp_path):
    report.save_metrics(tmp_path, {"psnr": np.float32(30.25), "ssim": np.float64(0.875), "bpp": 0.5})
    got = json.loads((tmp_path / "metrics.json").read_text())
    assert got == {"psnr": 30.25, "ssim": 0.875, "bpp": 0.5}


def test_save_metrics_keeps_the_previous_file(tmp_path, capsys):
    report.save_metrics(tmp_path, {"psnr": 1.0})
    report.save_metrics(tmp_path, {"psnr": 2.0})
    assert "kept as metrics.previous.json" in capsys.readouterr().out
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"psnr": 2.0}
    assert json.loads((tmp_path / "metrics.previous.json").read_text()) == {"psnr": 1.0}
    report.save_metrics(tmp_path, {"psnr": 3.0})  # only the one before is kept
    assert json.loads((tmp_path / "metrics.previous.json").read_text()) == {"psnr": 2.0}
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"psnr": 3.0}


# ---------------------------------------------------------------------------------------------------------- _format
@pytest.mark.parametrize("value, text", [(28.123456, "28.12"), (0.000123456, "0.0001235"), (3, "3"), ("conv", "conv"),
                                         (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"), (True, "True")])
def test_format(value, text):
    assert report._format(value) == text


# ------------------------------------------------------------------------------------------------------ write_report
@pytest.fixture
def run_dir(tmp_path, figure):
    run = tmp_path / "20240101-120000"
    report.save_metrics(run / "01_explore", {"n_images": 19, "mean_bpp": 0.7234567})
    report.save_figure(figure, run / "01_explore", "histogram")
    report.save_figure(figure, run / "01_explore", "a_grid")
    report.save_metrics(run / "02_preprocess", {"note": "<b>&", "psnr_identical": math.inf})
    (run / "03_baseline").mkdir()  # ran, wrote nothing
    return run


def test_write_report_gathers_metrics_and_figures(run_dir):
    timings = {"01_explore": 12.4, "02_preprocess": 3.0, "03_baseline": 100.6, "04_missing": 1.0}
    html_path = report.write_report(run_dir, timings)
    assert html_path == run_dir / "report.html"

    md = (run_dir / "report.md").read_text()
    assert md.startswith("# Report of the run 20240101-120000\n")
    assert "4 notebook(s), 117 s in all." in md
    assert "| 01_explore | 12 |" in md and "| 03_baseline | 101 |" in md
    assert "## 01_explore (12 s)" in md and "## 04_missing (1 s)" in md
    assert "| mean_bpp | 0.7235 |" in md and "| n_images | 19 |" in md
    assert "| psnr_identical | inf |" in md
    # figures sorted by name, linked relative to the run folder
    assert md.index("![a_grid](01_explore/a_grid.png)") < md.index("![histogram](01_explore/histogram.png)")
    # sections in the order of the timings (the run order)
    assert md.index("## 01_explore") < md.index("## 02_preprocess") < md.index("## 03_baseline")

    page = html_path.read_text()
    assert page.startswith("<!doctype html>")
    assert "<h1>Report of the run 20240101-120000</h1>" in page
    assert "<img src='01_explore/histogram.png'" in page
    assert "<td>note</td><td>&lt;b&gt;&amp;</td>" in page  # metric values are escaped
    assert "<b>&" not in page
    assert page.count("<h2>") == 4


def test_write_report_with_no_notebooks(tmp_path):
    report.write_report(tmp_path, {})
    assert "0 notebook(s), 0 s in all." in (tmp_path / "report.md").read_text()
    assert "<h2>" not in (tmp_path / "report.html").read_text()


def test_a_failed_metrics_write_leaves_the_previous_metrics_json(tmp_path, monkeypatch):
    """Before: metrics.json was moved away first, so a value json cannot write (here an object) left none."""
    report.save_metrics(tmp_path, {"psnr": 1.0})
    before = (tmp_path / "metrics.json").read_bytes()
    with pytest.raises(TypeError):
        report.save_metrics(tmp_path, {"psnr": object()})       # the serializer fails
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_an_interrupted_metrics_write_leaves_the_file_and_no_temporary_file(tmp_path, monkeypatch):
    report.save_metrics(tmp_path, {"psnr": 1.0})
    before = (tmp_path / "metrics.json").read_bytes()
    real_write = Path.write_bytes

    def half_then_interrupt(self, data):
        real_write(self, data[: len(data) // 2])
        if self.name.startswith(".metrics.json"):             # the temporary file of the new metrics.json
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        report.save_metrics(tmp_path, {"psnr": 2.0})
    assert (tmp_path / "metrics.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]


def test_the_report_is_written_atomically(tmp_path, monkeypatch):
    report.write_report(tmp_path, {})
    before = (tmp_path / "report.html").read_bytes()
    real_write = Path.write_bytes

    def half_then_interrupt(self, data):
        real_write(self, data[: len(data) // 2])
        if self.name.startswith(".report.html"):
            raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        report.write_report(tmp_path, {"01_explore": 3.0})
    assert (tmp_path / "report.html").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]
