"""Tests of helpers.data.summary: the facts and the table of a dataset."""

from __future__ import annotations

import pytest

from helpers import data, paths, sample
from photos import photo_folder

pytestmark = pytest.mark.usefixtures("fresh_memory_cache")


# ------------------------------------------------------------------------------------------------------- summary
def test_summary_of_sample_and_folder(embedded_sample, tmp_path, data_cache, monkeypatch):
    s = data.dataset_summary(embedded_sample)
    assert s["kind"] == "embedded sample" and s["root"] == str(embedded_sample)
    assert s["n_references"] == len(sample.SAMPLE_SOURCES) and s["n_jpeg"] >= 60
    assert min(s["size_min"]) >= 256 and max(s["size_max"]) <= 768
    assert 0 < s["bpp_min"] < s["bpp_mean"] < s["bpp_max"]
    assert s["total_bytes"] == sum(f.stat().st_size for f in embedded_sample.rglob("*")
                                   if f.suffix in (".bmp", ".jpg"))
    text = data.format_summary(s)
    assert "embedded sample" in text and f"{s['n_jpeg']}" in text and "bits per pixel" in text
    monkeypatch.setattr(paths, "CACHE_DIR", data_cache)
    f = data.dataset_summary(photo_folder(tmp_path))
    assert f["kind"] == "image folder" and f["n_references"] == 4 and f["qualities"] == [75]
