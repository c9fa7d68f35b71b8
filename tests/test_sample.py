"""Tests of helpers.sample: the embedded LIVE-shaped sample, built offline, deterministic, never over a foreign folder."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from PIL import Image

from helpers import data, sample
from helpers.data import DataError


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------------------------- embedded sample
def test_embedded_sample_layout(embedded_sample):
    refs = sorted((embedded_sample / "refimgs").glob("*.bmp"))
    jpegs = sorted((embedded_sample / "jpeg").glob("img*.jpg"))
    assert len(refs) >= 15 and len(jpegs) >= 60
    for r in refs:
        w, h = Image.open(r).size
        assert min(w, h) >= 256 and max(w, h) <= 768 and Image.open(r).mode == "RGB"
    line = re.compile(r"^\S+\.bmp img\d+\.jpg \d+\.\d{4}$")
    info = (embedded_sample / "jpeg" / "info.txt").read_text().splitlines()
    assert len(info) == len(jpegs) and all(line.match(x) for x in info)
    sources = (embedded_sample / "SOURCES.md").read_text()
    assert all(f"| {r.name} |" in sources for r in refs) and "license" in sources.lower()


def test_build_sample_is_deterministic_and_reused(embedded_sample, tmp_path, monkeypatch):
    again = data.build_sample(tmp_path / "again")
    assert _tree_hashes(again) == _tree_hashes(embedded_sample)

    def no_rebuild(root):
        raise AssertionError("a complete sample must be reused, not rebuilt")

    monkeypatch.setattr(sample, "_write_sample", no_rebuild)
    assert data.build_sample(again) == again


def test_build_sample_rebuilds_a_half_built_sample(tmp_path):
    root = data.build_sample(tmp_path / "s")
    good = _tree_hashes(root)
    (root / sample.MANIFEST_NAME).unlink()  # as if the build had stopped before its last step
    (root / "jpeg" / "img3.jpg").write_bytes(b"partial")
    assert not sample.sample_is_complete(root)
    assert _tree_hashes(data.build_sample(root)) == good
    (root / "refimgs" / "astronaut.bmp").write_bytes(b"x")  # damaged after the build: size no longer matches
    assert _tree_hashes(data.build_sample(root)) == good
    assert not list(tmp_path.glob(".s-building-*"))  # no temporary folders left behind


def test_build_sample_never_deletes_a_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(DataError, match="thesis.tex"):
        data.build_sample(tmp_path / "mine")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
