"""Tests of helpers.data.sources: LIVE folders (the embedded sample and a tiny LIVE tree), image folders,
the default dataset, every bad input, and the files that are left out with on_error="skip"."""

from __future__ import annotations

import pytest
from PIL import Image

from helpers import data, paths, sample
from helpers.data import DataError
from photos import photo, photo_folder, UNDECODABLE, blp_with_unsupported_encoding, dds_with_unknown_pixel_format

pytestmark = pytest.mark.usefixtures("fresh_memory_cache")


def test_load_live_reads_the_embedded_sample(embedded_sample):
    pairs = data.load_live(embedded_sample)
    assert len(pairs) == len(sample.SAMPLE_SOURCES) * len(sample.SAMPLE_QUALITIES)
    assert {p.quality for p in pairs} == set(sample.SAMPLE_QUALITIES)
    for p in pairs[:: len(sample.SAMPLE_QUALITIES) - 1]:
        w, h = Image.open(p.reference).size
        assert p.distorted.suffix == ".jpg" and Image.open(p.distorted).format == "JPEG"
        assert p.bpp == pytest.approx(8 * p.distorted.stat().st_size / (w * h), abs=6e-5)
    bpps = [p.bpp for p in pairs]
    assert min(bpps) < 0.3 and max(bpps) > 2.5  # about LIVE's span of bit rates
    for ref in {p.reference for p in pairs}:  # the bit rate falls as the quality falls, for every image
        by_q = sorted((p.quality, p.bpp) for p in pairs if p.reference == ref)
        assert [b for _, b in by_q] == sorted(b for _, b in by_q)


def test_default_root_prefers_real_live(tmp_path, monkeypatch, live_fixture):
    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(paths, "SAMPLE_DIR", tmp_path / "data" / "sample")
    monkeypatch.setattr(data.sources, "build_sample", lambda: paths.SAMPLE_DIR)  # building is tested above
    assert data.default_dataset_root() == tmp_path / "data" / "sample"
    (tmp_path / "data" / "databaserelease2").mkdir(parents=True)
    with pytest.raises(DataError, match="databaserelease2.*empty"):  # a LIVE folder left empty is not ignored
        data.default_dataset_root()
    (tmp_path / "data" / "databaserelease2").rmdir()
    (live_fixture / "databaserelease2").rename(tmp_path / "data" / "databaserelease2")
    assert data.default_dataset_root() == tmp_path / "data" / "databaserelease2"
    assert len(data.load_live()) == 10


# -------------------------------------------------------------------------------------------------- LIVE fixture
def test_load_live_fixture(live_fixture):
    pairs = data.load_live(live_fixture)  # the folder that contains databaserelease2/
    assert pairs == data.load_live(live_fixture / "databaserelease2")  # or databaserelease2/ itself
    assert len(pairs) == 10 and all(p.quality is None for p in pairs)
    assert pairs[0].reference.name == "ref0.bmp" and pairs[0].distorted.name == "img1.bmp" and pairs[0].name == "ref0"
    assert all(isinstance(p.bpp, float) and p.bpp > 0 for p in pairs)
    s = data.dataset_summary(live_fixture)
    assert s["kind"] == "LIVE release 2" and s["n_references"] == 5 and s["n_jpeg"] == 10
    assert s["size_min"] == s["size_max"] == (48, 40) and s["qualities"] is None


@pytest.mark.parametrize("bad_line", [
    "ref0.bmp img1.bmp",  # a field missing
    "ref0.bmp img1.bmp 1.2 extra",  # one too many
    "ref0.bmp img1.bmp fast",  # not a number
    "ref0.bmp img1.bmp -0.5",  # not a bit rate
    "ref0.bmp img1.bmp nan",
    "../ref0.bmp img1.bmp 1.0",  # not a plain name
])
def test_load_live_malformed_line_names_file_and_line(live_fixture, bad_line):
    info = live_fixture / "databaserelease2" / "jpeg" / "info.txt"
    lines = info.read_text().splitlines()
    lines[3] = bad_line
    info.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"info\.txt, line 4\b"):
        data.load_live(live_fixture)


def test_load_live_pair_naming_a_missing_file(live_fixture):
    (live_fixture / "databaserelease2" / "jpeg" / "img3.bmp").unlink()
    with pytest.raises(DataError, match=r"line 4\b.*img3\.bmp.*does not exist"):
        data.load_live(live_fixture)
    (live_fixture / "databaserelease2" / "refimgs" / "ref0.bmp").unlink()
    with pytest.raises(DataError, match=r"line 1\b.*ref0\.bmp"):
        data.load_live(live_fixture)


def test_load_live_duplicate_names(live_fixture):
    info = live_fixture / "databaserelease2" / "jpeg" / "info.txt"
    info.write_text(info.read_text() + "ref1.bmp img2.bmp 0.9\n")
    with pytest.raises(DataError, match=r"duplicate name 'img2\.bmp'.*line 2"):
        data.load_live(live_fixture)


def test_load_live_bad_folders(tmp_path, live_fixture):
    with pytest.raises(DataError, match="no such folder"):
        data.load_live(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        data.load_live(tmp_path / "empty")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match="not a LIVE release 2 folder.*load_folder"):
        data.load_live(tmp_path / "other")
    root = live_fixture / "databaserelease2"
    (root / "jpeg" / "info.txt").rename(root / "jpeg" / "info.bak")
    with pytest.raises(DataError, match=r"info\.txt: missing"):
        data.load_live(live_fixture)
    (root / "jpeg" / "info.bak").write_text("\n\n")
    (root / "jpeg" / "info.bak").rename(root / "jpeg" / "info.txt")
    with pytest.raises(DataError, match="lists no pairs"):
        data.load_live(live_fixture)
    for f in (root / "refimgs").iterdir():
        f.unlink()
    with pytest.raises(DataError, match="refimgs: the folder is empty"):
        data.load_live(live_fixture)


# -------------------------------------------------------------------------------------------------- load_folder
def test_load_folder_makes_jpegs_once(tmp_path, data_cache, monkeypatch):
    folder = photo_folder(tmp_path)
    pairs = data.load_folder(folder, quality=[50, 10], cache_dir=data_cache)
    assert len(pairs) == 8 and [p.quality for p in pairs[:2]] == [10, 50]
    for p in pairs:
        assert p.distorted.parent == data_cache / "jpeg" and Image.open(p.distorted).format == "JPEG"
        assert p.bpp == pytest.approx(8 * p.distorted.stat().st_size / (56 * 40))
    assert pairs[0].bpp < pairs[1].bpp
    calls = []
    monkeypatch.setattr(data.sources, "read_image", lambda p: calls.append(p))
    assert data.load_folder(folder, quality=[10, 50], cache_dir=data_cache) == pairs
    assert calls == []  # the JPEGs already made are reused, nothing is decoded
    s = data.dataset_summary(pairs)
    assert s["n_references"] == 4 and s["n_jpeg"] == 8 and s["qualities"] == [10, 50]


def test_load_folder_skip_gives_one_warning_listing_bad_files(tmp_path, data_cache):
    folder = photo_folder(tmp_path)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match="broken.png"):
        data.load_folder(folder, cache_dir=data_cache)
    with pytest.warns(UserWarning) as rec:
        pairs = data.load_folder(folder, on_error="skip", cache_dir=data_cache)
    assert len(rec) == 1
    msg = str(rec[0].message)
    assert "skipped 2 of 6" in msg and "broken.png" in msg and "empty.jpg" in msg
    assert sorted(p.name for p in pairs) == ["photo0", "photo1", "photo2", "photo3"]


def test_load_folder_bad_input(tmp_path, data_cache):
    with pytest.raises(DataError, match="no such folder"):
        data.load_folder(tmp_path / "nope", cache_dir=data_cache)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        data.load_folder(tmp_path / "empty", cache_dir=data_cache)
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("x")
    with pytest.raises(DataError, match="no image files, only a.txt"):
        data.load_folder(tmp_path / "txt", cache_dir=data_cache)
    folder = photo_folder(tmp_path)
    Image.fromarray(photo(40, 56, 99)).save(folder / "Photo0.jpeg")
    with pytest.raises(DataError, match=r"duplicate names \(Photo0\.jpeg and photo0\.png\)"):
        data.load_folder(folder, cache_dir=data_cache)
    (folder / "Photo0.jpeg").unlink()
    for q in (0, 101, 7.5, [], True):
        with pytest.raises(DataError, match="quality="):
            data.load_folder(folder, quality=q, cache_dir=data_cache)
    with pytest.raises(DataError, match="on_error="):
        data.load_folder(folder, on_error="ignore", cache_dir=data_cache)
    bad = tmp_path / "allbad"
    bad.mkdir()
    (bad / "a.png").write_text("no")
    with pytest.raises(DataError, match="none of its 1 images"):
        data.load_folder(bad, on_error="skip", cache_dir=data_cache)


# ---------------------------------------------------------------------------------- files that cannot be decoded
def test_load_folder_skips_files_pillow_cannot_decode(tmp_path, data_cache):
    folder = photo_folder(tmp_path)
    for name, make in UNDECODABLE.items():
        (folder / name).write_bytes(make())
    with pytest.raises(DataError, match="blp_unsupported_encoding.png"):
        data.load_folder(folder, cache_dir=data_cache)
    with pytest.warns(UserWarning) as rec:
        pairs = data.load_folder(folder, on_error="skip", cache_dir=data_cache)
    msg = str(rec[0].message)
    assert len(rec) == 1 and "skipped 4 of 8" in msg and all(name in msg for name in UNDECODABLE)
    assert sorted(p.name for p in pairs) == ["photo0", "photo1", "photo2", "photo3"]


def test_load_live_skip_leaves_out_pairs_pillow_cannot_decode(live_fixture):
    root = live_fixture / "databaserelease2"
    (root / "refimgs" / "ref2.bmp").write_bytes(blp_with_unsupported_encoding())  # a reference: both its pairs
    (root / "jpeg" / "img3.bmp").write_bytes(dds_with_unknown_pixel_format())  # one JPEG version of ref1
    assert len(data.load_live(live_fixture)) == 10  # "raise" checks existence; the datasets raise when reading
    with pytest.warns(UserWarning) as rec:
        pairs = data.load_live(live_fixture, on_error="skip")
    msg = str(rec[0].message)
    assert len(rec) == 1 and "skipped 3 of 10 pairs" in msg and "ref2.bmp" in msg and "img3.bmp" in msg
    assert len(pairs) == 7 and not {p.reference.name for p in pairs} & {"ref2.bmp"}
    assert "img3.bmp" not in {p.distorted.name for p in pairs}
    with pytest.raises(DataError, match="on_error="):
        data.load_live(live_fixture, on_error="ignore")


# ------------------------------------------------------------------------------------------- very long file names
def test_a_very_long_file_name_does_not_break_the_cache(tmp_path, data_cache):
    """A source name near the file system's 255-byte limit: the cached JPEG's name keeps at most 64 bytes of it
    (the content hash identifies the file), so load_folder and make_splits work and the cache is reused."""
    folder = tmp_path / "long"
    folder.mkdir()
    names = ["a" * 250 + ".png", "é" * 125 + ".jpg", "short.png"]  # 254, 254 and 9 bytes
    for i, name in enumerate(names):
        Image.fromarray(photo(40, 48, 20 + i)).save(folder / name)
    pairs = data.load_folder(folder, quality=[10, 50], cache_dir=data_cache)
    assert sorted(p.reference.name for p in pairs) == sorted(names * 2)
    cached = sorted((data_cache / "jpeg").iterdir())
    assert len(cached) == 6 and max(len(p.name.encode()) for p in cached) <= 64 + 25
    assert any(p.name.startswith("short-") for p in cached)  # short names are kept whole
    data.reset_cache_stats()
    assert data.load_folder(folder, quality=[10, 50], cache_dir=data_cache) == pairs
    train, val = data.make_splits(folder, image_size=32, target="jpeg", val_fraction=0.34, cache_dir=data_cache)
    assert len(train) + len(val) == 3 and train[0][0].shape == (3, 32, 32)
