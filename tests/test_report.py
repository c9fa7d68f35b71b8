"""tools.report: the run report that gathers the metrics and figures the notebooks saved."""

import math
from pathlib import Path

import pytest

from helpers import record
from tools import report


# ---------------------------------------------------------------------------------------------------------- _format
@pytest.mark.parametrize("value, text", [(28.123456, "28.12"), (0.000123456, "0.0001235"), (3, "3"), ("conv", "conv"),
                                         (math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan"), (True, "True")])
def test_format(value, text):
    assert report._format(value) == text


# ------------------------------------------------------------------------------------------------------ write_report
@pytest.fixture
def run_dir(tmp_path, figure):
    run = tmp_path / "20240101-120000"
    record.save_metrics(run / "01_explore", {"n_images": 19, "mean_bpp": 0.7234567})
    record.save_figure(figure, run / "01_explore", "histogram")
    record.save_figure(figure, run / "01_explore", "a_grid")
    record.save_metrics(run / "02_preprocess", {"note": "<b>&", "psnr_identical": math.inf})
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
    assert page.count("<h2>") == 4 + 1  # the notebooks and the course targets


def test_write_report_with_no_notebooks(tmp_path):
    report.write_report(tmp_path, {})
    assert "0 notebook(s), 0 s in all." in (tmp_path / "report.md").read_text()
    assert (tmp_path / "report.html").read_text().count("<h2>") == 1  # only the course targets (not measured)


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
