"""tools.targets: the course's measured targets, checked on a run folder."""

import pytest

from helpers import record
from tools import report
from tools.targets import SERIES, TARGETS, check_targets

TIMINGS = {name: 100.0 for name in SERIES}


def a_run(tmp_path, conv_psnr=24.3, psnr=(20.0, 21.0, 22.0, 23.5, 25.2), gain=0.6):
    record.save_metrics(tmp_path / "04_conv_model", {"image_psnr": conv_psnr, "bpp": 0.2656})
    record.save_metrics(tmp_path / "06_bottleneck_sweep", {"latent_dims": [8, 16, 32, 64, 128], "psnr": list(psnr),
                                                           "conv_vs_dense": {"difference_db": gain, "bpp": 0.5625,
                                                                             "verdict": "better"}})
    return tmp_path


def test_every_target_met(tmp_path):
    rows = check_targets(a_run(tmp_path), TIMINGS)
    assert [r["target"] for r in rows] == [t for t, _ in TARGETS]
    assert [r["met"] for r in rows] == [True] * len(TARGETS)
    assert rows[0]["measured"] == "24.30 dB at 0.266 bpp"
    assert rows[2]["measured"] == "latent 128 is +3.20 dB over latent 32"
    assert rows[3]["measured"] == "conv - dense = +0.60 dB at 0.562 bpp (better)"
    assert rows[4]["measured"] == "700 s (11.7 min)"


def test_each_target_can_fail(tmp_path):
    rows = check_targets(a_run(tmp_path, conv_psnr=23.9, psnr=(20.0, 21.0, 22.0, 21.9, 24.9), gain=-0.1),
                         {**TIMINGS, "05_regularization": 700.0})
    assert [r["met"] for r in rows] == [False] * len(TARGETS)


def test_a_missing_notebook_or_metric_is_not_measured_not_passed(tmp_path):
    record.save_metrics(tmp_path / "04_conv_model", {"image_psnr": 25.0})  # no bpp
    rows = check_targets(tmp_path, {"01_explore": 10.0})
    assert [r["met"] for r in rows] == [None] * len(TARGETS)
    assert {r["measured"] for r in rows} == {"not measured"}


def test_the_report_shows_the_targets_first(tmp_path):
    a_run(tmp_path)
    report.write_report(tmp_path, TIMINGS)
    md = (tmp_path / "report.md").read_text()
    assert md.index("## Course targets") < md.index("## 01_explore")
    assert "| 04: conv autoencoder >= 24 dB whole-image PSNR at about 0.25 bpp | 24.30 dB at 0.266 bpp | met |" in md
    assert "NOT MET" not in md and "NOT MET" not in (tmp_path / "report.html").read_text()
