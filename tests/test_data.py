"""Tests of helpers.data: the loaders (embedded sample, a LIVE-shaped fixture, image folders), every bad input,
the split's absence of leakage, normalization round trips, and cache reuse.

Fixtures here are named for what they hold: ``embedded_sample`` (built once per session into a temporary folder),
``live_fixture`` (a tiny LIVE release 2 tree written per test), ``data_cache`` (an empty cache folder per test).
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data, paths, sample
from helpers.data import DataError, Pair

RNG = np.random.default_rng(1234)


# ------------------------------------------------------------------------------------------------------ fixtures
def _photo(h: int, w: int, seed: int) -> np.ndarray:
    """A smooth, photo-like RGB image (gradients plus a few blobs), so JPEG sizes behave like a photograph's."""
    r = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    chans = []
    for c in range(3):
        f = r.uniform(1, 4, size=2)
        chans.append(0.5 + 0.25 * np.sin(2 * np.pi * f[0] * xx + c) * np.cos(2 * np.pi * f[1] * yy))
    a = np.stack(chans, -1) + r.normal(0, 0.03, size=(h, w, 3))
    return (np.clip(a, 0, 1) * 255).round().astype(np.uint8)


def write_live(parent: Path, n_refs: int = 5, size=(40, 48), qualities=(10, 60)) -> Path:
    """A tiny LIVE release 2 tree under ``parent/databaserelease2``: refimgs/*.bmp, jpeg/img*.bmp, jpeg/info.txt
    (with a blank line and trailing whitespace, as hand-edited files have). Returns ``parent``."""
    root = parent / "databaserelease2"
    (root / "refimgs").mkdir(parents=True)
    (root / "jpeg").mkdir()
    lines, n = [], 0
    for i in range(n_refs):
        ref = Image.fromarray(_photo(*size, seed=i))
        ref.save(root / "refimgs" / f"ref{i}.bmp")
        for q in qualities:
            n += 1
            buf = io.BytesIO()
            ref.save(buf, "JPEG", quality=q)
            bpp = 8 * len(buf.getvalue()) / (size[0] * size[1])
            Image.open(buf).convert("RGB").save(root / "jpeg" / f"img{n}.bmp")  # LIVE stores decoded JPEGs as BMP
            lines.append(f"ref{i}.bmp img{n}.bmp {bpp:.4f}   ")
        lines.append("")
    (root / "jpeg" / "info.txt").write_text("\n".join(lines) + "\n")
    return parent


@pytest.fixture(scope="session")
def embedded_sample(tmp_path_factory) -> Path:
    return data.build_sample(tmp_path_factory.mktemp("embedded") / "sample")


@pytest.fixture
def live_fixture(tmp_path) -> Path:
    return write_live(tmp_path / "live")


@pytest.fixture
def data_cache(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def _fresh_memory_cache():
    data.clear_memory_cache()
    data.reset_cache_stats()
    yield
    data.clear_memory_cache()


def _png16(path: Path, arr: np.ndarray) -> None:
    """Write a 16-bit PNG (gray or RGB) by hand: Pillow cannot write 16-bit colour."""
    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 3: 2}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------- read_image
def test_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


def test_read_image_rgb_and_grayscale(tmp_path):
    a = _photo(20, 30, 0)
    Image.fromarray(a).save(tmp_path / "a.png")
    out = data.read_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (20, 30, 3) and np.array_equal(out, a)
    g = a[..., 0]
    Image.fromarray(g, "L").save(tmp_path / "g.png")
    out = data.read_image(str(tmp_path / "g.png"))
    assert out.shape == (20, 30, 3) and all(np.array_equal(out[..., c], g) for c in range(3))
    Image.fromarray(g > 128).save(tmp_path / "bw.png")  # mode "1"
    assert set(np.unique(data.read_image(tmp_path / "bw.png"))) <= {0, 255}


def test_read_image_16_bit_is_scaled_not_clipped(tmp_path):
    v = np.array([[0, 257, 32896, 65535, 128, 65280]], dtype=np.uint16)
    Image.fromarray(v).save(tmp_path / "g16.png")  # I;16
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    out = data.read_image(tmp_path / "g16.png")
    expected = np.round(v.astype(float) * 255 / 65535).astype(np.uint8)
    assert np.array_equal(out[..., 0], expected) and np.array_equal(out[..., 2], expected)
    Image.fromarray(v.astype(np.int32)).save(tmp_path / "i32.tif")  # mode I
    assert Image.open(tmp_path / "i32.tif").mode == "I"
    assert np.array_equal(data.read_image(tmp_path / "i32.tif")[..., 1], expected)
    rgb16 = np.stack([v, v[:, ::-1], v], -1)
    _png16(tmp_path / "rgb16.png", rgb16)
    out = data.read_image(tmp_path / "rgb16.png")
    assert np.abs(out.astype(int) - np.round(rgb16.astype(float) * 255 / 65535)).max() <= 1  # within one level


def test_read_image_alpha_palette_cmyk_float(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red stays red
    rgba[0, 1] = (0, 0, 0, 0)  # transparent black shows the white background
    rgba[0, 2] = (0, 0, 0, 128)  # half-transparent black is mid gray
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = data.read_image(tmp_path / "a.png")
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[0, 1]) == (255, 255, 255)
    assert 120 <= out[0, 2, 0] <= 130
    Image.fromarray(rgba[..., [0, 3]], "LA").save(tmp_path / "la.png")
    assert tuple(data.read_image(tmp_path / "la.png")[0, 1]) == (255, 255, 255)
    p = Image.fromarray(_photo(8, 8, 1)).quantize(16)
    p.save(tmp_path / "p.png")
    assert np.array_equal(data.read_image(tmp_path / "p.png"), np.asarray(p.convert("RGB")))
    p.save(tmp_path / "pt.png", transparency=int(np.asarray(p)[0, 0]))
    assert tuple(data.read_image(tmp_path / "pt.png")[0, 0]) == (255, 255, 255)
    Image.new("CMYK", (6, 5), (0, 255, 255, 0)).save(tmp_path / "c.tif")
    out = data.read_image(tmp_path / "c.tif")
    assert out.shape == (5, 6, 3) and tuple(out[0, 0]) == (255, 0, 0)
    Image.fromarray(np.full((3, 3), 0.5, np.float32), "F").save(tmp_path / "f.tif")
    assert data.read_image(tmp_path / "f.tif")[0, 0, 0] == 128
    Image.fromarray(np.full((3, 3), 7.0, np.float32), "F").save(tmp_path / "f7.tif")
    with pytest.raises(DataError, match="f7.tif"):
        data.read_image(tmp_path / "f7.tif")


def test_read_image_applies_exif_orientation(tmp_path):
    a = np.zeros((10, 20, 3), np.uint8)
    a[:, :10] = (255, 0, 0)
    a[:, 10:] = (0, 0, 255)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    im.save(tmp_path / "o.png", exif=exif)
    out = data.read_image(tmp_path / "o.png")
    assert np.array_equal(out, np.rot90(a, k=-1))
    assert data.image_size(tmp_path / "o.png") == (10, 20)  # (width, height) as displayed


@pytest.mark.parametrize("case", ["missing", "folder", "empty", "not_image", "truncated_png", "truncated_jpeg",
                                  "corrupt"])
def test_read_image_bad_files(tmp_path, case):
    good = io.BytesIO()
    Image.fromarray(_photo(64, 64, 2)).save(good, "PNG")
    jpg = io.BytesIO()
    Image.fromarray(_photo(64, 64, 2)).save(jpg, "JPEG")
    f = tmp_path / f"{case}.png"
    if case == "folder":
        f.mkdir()
    elif case == "empty":
        f.write_bytes(b"")
    elif case == "not_image":
        f.write_text("these are my notes, not a picture\n")
    elif case == "truncated_png":
        f.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    elif case == "truncated_jpeg":
        f = tmp_path / "t.jpg"
        f.write_bytes(jpg.getvalue()[: len(jpg.getvalue()) // 2])
    elif case == "corrupt":
        f.write_bytes(good.getvalue()[:40] + bytes(RNG.integers(0, 256, 300, dtype=np.uint8)))
    with pytest.raises(DataError) as e:
        data.read_image(f)
    assert f.name in str(e.value)


@pytest.mark.parametrize("pixels", [150, 250])  # above the limit (Pillow warns) and above twice it (Pillow raises)
def test_read_image_refuses_decompression_bombs(tmp_path, monkeypatch, pixels):
    Image.new("RGB", (pixels, 1)).save(tmp_path / "bomb.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray DecompressionBombWarning either
        with pytest.raises(DataError, match=r"bomb\.png.*decompression bomb"):
            data.read_image(tmp_path / "bomb.png")


# ------------------------------------------------------------------------------- orientation: size agrees with pixels
# What each EXIF/TIFF orientation value asks a viewer to do with the stored pixels (a: (H, W, 3)).
ORIENTED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],  # mirror left-right
    3: lambda a: a[::-1, ::-1],  # rotate 180
    4: lambda a: a[::-1],  # mirror top-bottom
    5: lambda a: a.transpose(1, 0, 2),  # transpose (swaps width and height)
    6: lambda a: np.rot90(a, k=-1),  # rotate 90 clockwise
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),  # transverse
    8: lambda a: np.rot90(a, k=1),  # rotate 90 counter-clockwise
}


def _quadrants(h: int = 16, w: int = 24) -> np.ndarray:
    """Four flat colours, one per quadrant, so every orientation gives a different picture (even after JPEG)."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (230, 30, 30)
    a[: h // 2, w // 2:] = (30, 230, 30)
    a[h // 2:, : w // 2] = (30, 30, 230)
    a[h // 2:, w // 2:] = (230, 230, 30)
    return a


def _save_oriented(path: Path, a: np.ndarray, orientation: int) -> None:
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    fmt = path.suffix
    if fmt == ".tif":  # the TIFF orientation tag itself, raw (Pillow's own reader) and compressed (libtiff)
        im.save(path, tiffinfo={0x0112: orientation})
    elif fmt == ".tiff":
        im.save(path, tiffinfo={0x0112: orientation}, compression="tiff_lzw")
    elif fmt == ".jpg":
        im.save(path, exif=exif, quality=95, subsampling=0)
    elif fmt == ".webp":
        im.save(path, exif=exif, lossless=True)
    else:
        im.save(path, exif=exif)


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("suffix", [".jpg", ".tif", ".tiff", ".png", ".webp"])
def test_image_size_agrees_with_read_image_for_every_orientation(tmp_path, suffix, orientation):
    """image_size() reads the header only; its (width, height) must be the shape read_image() returns, and the
    pixels must stand as the orientation asks (5-8 swap width and height). Pillow's TIFF reader turns the image as
    it loads it and already reports the turned size: it was turned twice by image_size before."""
    a = _quadrants()
    f = tmp_path / f"o{orientation}{suffix}"
    _save_oriented(f, a, orientation)
    pixels = data.read_image(f)
    assert data.image_size(f) == (pixels.shape[1], pixels.shape[0])
    expected = ORIENTED[orientation](a)
    assert pixels.shape == expected.shape
    assert np.abs(pixels.astype(int) - expected).mean() < 4  # JPEG is lossy; a wrong turn is off by about 100
    if orientation in (5, 6, 7, 8):
        assert data.image_size(f) == (16, 24)


@pytest.mark.parametrize("fmt", ["BMP", "GIF", "PNG", "TIFF", "WEBP", "JPEG"])
def test_image_size_agrees_with_read_image_without_orientation(tmp_path, fmt):
    """Formats that carry no orientation (BMP, GIF) and files without one: the stored size, as decoded."""
    f = tmp_path / f"plain.{fmt.lower()}"
    Image.fromarray(_quadrants(10, 14)).save(f, fmt)
    pixels = data.read_image(f)
    assert pixels.shape == (10, 14, 3) and data.image_size(f) == (14, 10)


# ------------------------------------------------------------------------ files Pillow opens but cannot decode
def _blp_with_unsupported_encoding() -> bytes:
    """A BLP1 file (Blizzard's texture format, which Pillow opens) whose encoding 3 Pillow does not implement: the
    header is read at open, the pixels raise NotImplementedError on load()."""
    header = b"BLP1" + struct.pack("<iI", 1, 0) + struct.pack("<II", 8, 8) + struct.pack("<ii", 3, 0)
    return header + bytes(16 * 4 * 2 + 256 * 4 + 64)


def _dds_with_unknown_pixel_format() -> bytes:
    """A DDS header (DirectDraw Surface) with pixel-format flags Pillow does not know: NotImplementedError at open."""
    header = struct.pack("<7I", 124, 0x1007, 8, 8, 32, 0, 0) + bytes(11 * 4)
    pixel_format = struct.pack("<8I", 32, 0x800, 0, 32, 0, 0, 0, 0)
    return b"DDS " + header + pixel_format + bytes(4 * 5) + bytes(8 * 8 * 4)


def _png_larger_than_its_data() -> bytes:
    """A PNG whose header promises 64x64 pixels while its data holds 8x8: Pillow opens it lazily, load() fails."""
    good = io.BytesIO()
    Image.fromarray(_photo(8, 8, 3)).save(good, "PNG")
    b = bytearray(good.getvalue())
    b[16:24] = struct.pack(">II", 64, 64)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))  # a valid header checksum: only the size lies
    return bytes(b)


def _tiff_with_old_style_jpeg_compression() -> bytes:
    """A TIFF whose compression tag says "old-style JPEG" (6), a scheme libtiff reads only with tables this file
    lacks: Pillow opens it from the header, load() fails in the decoder."""
    buf = io.BytesIO()
    Image.fromarray(_photo(8, 8, 5)).save(buf, "TIFF", compression="tiff_lzw")
    b = bytearray(buf.getvalue())
    ifd = struct.unpack("<I", b[4:8])[0]
    for i in range(struct.unpack("<H", b[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", b[entry:entry + 2])[0] == 259:  # Compression, one SHORT stored in the entry
            b[entry + 8:entry + 10] = struct.pack("<H", 6)
    return bytes(b)


UNDECODABLE = {
    "blp_unsupported_encoding.png": _blp_with_unsupported_encoding,  # named like a PNG: Pillow goes by content
    "dds_unknown_pixel_format.png": _dds_with_unknown_pixel_format,
    "png_larger_than_its_data.png": _png_larger_than_its_data,
    "tiff_old_style_jpeg.tif": _tiff_with_old_style_jpeg_compression,
}


@pytest.mark.parametrize("name", sorted(UNDECODABLE))
def test_a_file_pillow_cannot_decode_is_a_data_error_naming_it(tmp_path, name):
    f = tmp_path / name
    f.write_bytes(UNDECODABLE[name]())
    with pytest.raises(DataError, match=re.escape(name)) as error:
        data.read_image(f)
    opened = not name.startswith("dds")  # the DDS file fails in Pillow's open already, the others in load()
    assert ("Pillow opened it" in str(error.value)) == opened


def test_an_unimplemented_format_variant_opens_but_does_not_decode(tmp_path):
    """The BLP file's header is fine (image_size answers); only its pixels cannot be decoded."""
    f = tmp_path / "texture.png"
    f.write_bytes(_blp_with_unsupported_encoding())
    assert data.image_size(f) == (8, 8)
    with pytest.raises(DataError, match=r"texture\.png: Pillow opened it \(BLP RGB 8x8\) but cannot decode.*"
                                        r"Unsupported BLP encoding 3"):
        data.read_image(f)


@pytest.mark.parametrize("error", [NotImplementedError, OSError, ValueError, struct.error, SyntaxError, EOFError,
                                   IndexError, KeyError, TypeError, ZeroDivisionError])
@pytest.mark.parametrize("step", ["load", "convert"])
def test_every_error_pillow_raises_while_decoding_is_a_data_error(tmp_path, monkeypatch, error, step):
    """Pillow's readers raise many kinds of error on pixels they cannot decode (in load(), or when converting an
    exotic mode); each one becomes a DataError that names the file."""
    from PIL import ImageFile

    f = tmp_path / "exotic.png"
    Image.fromarray(_photo(8, 8, 4)).save(f)

    def fail(*args, **kwargs):
        raise error("the decoder gave up")

    monkeypatch.setattr(ImageFile.ImageFile if step == "load" else Image.Image, step, fail)
    with pytest.raises(DataError, match=rf"exotic\.png.*{error.__name__}: '?the decoder gave up"):
        data.read_image(f)


def test_load_folder_skips_files_pillow_cannot_decode(tmp_path, data_cache):
    folder = _folder(tmp_path)
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
    (root / "refimgs" / "ref2.bmp").write_bytes(_blp_with_unsupported_encoding())  # a reference: both its pairs
    (root / "jpeg" / "img3.bmp").write_bytes(_dds_with_unknown_pixel_format())  # one JPEG version of ref1
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
        Image.fromarray(_photo(40, 48, 20 + i)).save(folder / name)
    pairs = data.load_folder(folder, quality=[10, 50], cache_dir=data_cache)
    assert sorted(p.reference.name for p in pairs) == sorted(names * 2)
    cached = sorted((data_cache / "jpeg").iterdir())
    assert len(cached) == 6 and max(len(p.name.encode()) for p in cached) <= 64 + 25
    assert any(p.name.startswith("short-") for p in cached)  # short names are kept whole
    data.reset_cache_stats()
    assert data.load_folder(folder, quality=[10, 50], cache_dir=data_cache) == pairs
    train, val = data.make_splits(folder, image_size=32, target="jpeg", val_fraction=0.34, cache_dir=data_cache)
    assert len(train) + len(val) == 3 and train[0][0].shape == (3, 32, 32)

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


def test_default_root_prefers_real_live(tmp_path, monkeypatch, live_fixture):
    monkeypatch.setattr(paths, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(paths, "SAMPLE_DIR", tmp_path / "data" / "sample")
    monkeypatch.setattr(data, "build_sample", lambda: paths.SAMPLE_DIR)  # building is tested above
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
def _folder(tmp_path: Path, n: int = 4) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    fmts = ["png", "jpg", "bmp", "tif"]
    for i in range(n):
        Image.fromarray(_photo(40, 56, 10 + i)).save(d / f"photo{i}.{fmts[i % 4]}")
    (d / "notes.txt").write_text("not an image, and not named like one: ignored")
    return d


def test_load_folder_makes_jpegs_once(tmp_path, data_cache, monkeypatch):
    folder = _folder(tmp_path)
    pairs = data.load_folder(folder, quality=[50, 10], cache_dir=data_cache)
    assert len(pairs) == 8 and [p.quality for p in pairs[:2]] == [10, 50]
    for p in pairs:
        assert p.distorted.parent == data_cache / "jpeg" and Image.open(p.distorted).format == "JPEG"
        assert p.bpp == pytest.approx(8 * p.distorted.stat().st_size / (56 * 40))
    assert pairs[0].bpp < pairs[1].bpp
    calls = []
    monkeypatch.setattr(data, "read_image", lambda p: calls.append(p))
    assert data.load_folder(folder, quality=[10, 50], cache_dir=data_cache) == pairs
    assert calls == []  # the JPEGs already made are reused, nothing is decoded
    s = data.dataset_summary(pairs)
    assert s["n_references"] == 4 and s["n_jpeg"] == 8 and s["qualities"] == [10, 50]


def test_load_folder_skip_gives_one_warning_listing_bad_files(tmp_path, data_cache):
    folder = _folder(tmp_path)
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
    folder = _folder(tmp_path)
    Image.fromarray(_photo(40, 56, 99)).save(folder / "Photo0.jpeg")
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


# --------------------------------------------------------------------------------------------------- make_splits
def test_split_by_reference_has_no_leakage(embedded_sample, data_cache):
    sp = data.make_splits(embedded_sample, image_size=32, seed=3, target="jpeg", test_fraction=0.15,
                          cache_dir=data_cache)
    train, val, test = sp
    refs = [set(p.reference for p in ds.pairs) for ds in (train, val, test)]
    assert not (refs[0] & refs[1]) and not (refs[0] & refs[2]) and not (refs[1] & refs[2])
    assert len(set.union(*refs)) == len(sample.SAMPLE_SOURCES)
    assert [set(ds.references) for ds in sp] == [{r.stem for r in s} for s in refs]
    n_q = len(sample.SAMPLE_QUALITIES)
    assert len(train) == n_q * len(train.references) and len(val) == n_q * len(val.references)
    same = data.make_splits(embedded_sample, image_size=32, seed=3, target="jpeg", test_fraction=0.15,
                            cache_dir=data_cache)
    assert same.references == sp.references  # seeded: reproducible
    others = [data.make_splits(embedded_sample, image_size=32, seed=s, cache_dir=data_cache).references["val"]
              for s in range(4)]
    assert len({tuple(v) for v in others}) > 1  # and the seed matters


def test_items_inputs_and_targets(live_fixture, data_cache):
    plain = data.make_splits(live_fixture, image_size=32, cache_dir=data_cache)
    assert len(plain.train) + len(plain.val) == 5 and plain.test is None and len(plain) == 2
    x, y = plain.train[0]
    assert x.shape == y.shape == (3, 32, 32) and x.dtype == torch.float32 and torch.equal(x, y)
    artifact = data.make_splits(live_fixture, image_size=32, input="jpeg", cache_dir=data_cache)
    assert len(artifact.train) + len(artifact.val) == 10
    x, y = artifact.train[0]
    assert not torch.equal(x, y)
    xi, yi = artifact.train.pixels(0)
    assert xi.dtype == np.uint8 and xi.shape == (32, 32, 3)
    crops = data.make_splits(live_fixture, image_size=24, preprocess="random_crop", crops_per_image=3,
                             cache_dir=data_cache)
    assert len(crops.train) + len(crops.val) == 15
    assert crops.train[0][0].shape == (3, 24, 24)
    centre = data.make_splits(live_fixture, image_size=32, preprocess="center_crop", target="jpeg",
                              cache_dir=data_cache)
    assert centre.train[0][1].shape == (3, 32, 32)


def test_random_crops_and_flips_are_seeded(live_fixture, data_cache):
    def make(seed):
        return data.make_splits(live_fixture, image_size=16, seed=seed, preprocess="random_crop", flips=True,
                                crops_per_image=4, cache_dir=data_cache)

    a, b = make(0), make(0)
    first = [a.train.pixels(i)[0] for i in range(len(a.train))]
    assert all(np.array_equal(p, b.train.pixels(i)[0]) for i, p in enumerate(first))
    assert len({p.tobytes() for p in first}) > 1  # crops of one image differ from one another
    a.train.set_epoch(1)
    assert any(not np.array_equal(p, a.train.pixels(i)[0]) for i, p in enumerate(first))
    v0 = [a.val.pixels(i)[0] for i in range(len(a.val))]
    a.val.set_epoch(5)
    assert all(np.array_equal(p, a.val.pixels(i)[0]) for i, p in enumerate(v0))  # validation never changes


def test_image_smaller_than_size(live_fixture, data_cache):
    with pytest.raises(DataError, match=r"(?s)smaller than image_size=64.*ref0\.bmp \(48x40\).*allow_upscale=True"):
        data.make_splits(live_fixture, image_size=64, cache_dir=data_cache)
    with pytest.warns(UserWarning, match="upscaling 5 image"):
        sp = data.make_splits(live_fixture, image_size=64, allow_upscale=True, cache_dir=data_cache)
    assert sp.train[0][0].shape == (3, 64, 64)


def test_make_splits_bad_values(live_fixture, data_cache, tmp_path):
    kw = dict(cache_dir=data_cache)
    for bad, match in [
        (dict(image_size=0), "image_size=0"),
        (dict(target="webp"), "target='webp'"),
        (dict(input="png"), "input='png'"),
        (dict(preprocess="squash"), "preprocess='squash'"),
        (dict(normalization="zscore"), "normalization='zscore'"),
        (dict(crops_per_image=2), "crops_per_image=2 needs"),
        (dict(val_fraction=1.5), "val_fraction=1.5"),
        (dict(val_fraction=0.6, test_fraction=0.5), "must leave some images"),
        (dict(val_fraction=0.7, test_fraction=0.25), "too few"),
    ]:
        with pytest.raises(DataError, match=re.escape(match)):
            data.make_splits(live_fixture, image_size=bad.pop("image_size", 32), **bad, **kw)
    with pytest.raises(DataError, match="empty"):
        data.make_splits([], **kw)
    p = data.load_live(live_fixture)[0]
    other = Image.fromarray(_photo(30, 30, 5))
    other.save(tmp_path / "wrong.bmp")
    with pytest.raises(DataError, match="wrong.bmp.*must have its reference's size"):
        data.make_splits([p, Pair(p.reference.with_name("ref1.bmp"), tmp_path / "wrong.bmp", 1.0)],
                         image_size=16, target="jpeg", val_fraction=0.5, **kw)


def test_truncated_reference_fails_when_read(live_fixture, data_cache):
    ref = live_fixture / "databaserelease2" / "refimgs" / "ref2.bmp"
    ref.write_bytes(ref.read_bytes()[:200])  # the header survives, the pixels do not
    sp = data.make_splits(live_fixture, image_size=32, cache_dir=data_cache)
    with pytest.raises(DataError, match="ref2.bmp"):
        for ds in sp:
            for _ in ds:
                pass


# ------------------------------------------------------------------------------------------------- normalization
@pytest.mark.parametrize("kind", ["unit", "symmetric", "standard"])
def test_normalization_round_trips(live_fixture, data_cache, kind):
    sp = data.make_splits(live_fixture, image_size=32, normalization=kind, cache_dir=data_cache)
    norm = sp.train.normalization
    assert sp.val.normalization is norm and sp.train.target_normalization is norm and sp.normalization is norm
    u = RNG.integers(0, 256, size=(2, 9, 7, 3), dtype=np.uint8)
    x = norm(u)
    assert x.shape == (2, 3, 9, 7) and x.dtype == torch.float32
    assert np.array_equal(norm.to_uint8(x), u)  # exact for a batch
    assert np.array_equal(norm.to_uint8(x[1]), u[1])  # and for one image
    assert np.array_equal(norm.to_uint8(norm(torch.from_numpy(u))), u)
    assert torch.allclose(norm.inverse(x), torch.from_numpy(u).permute(0, 3, 1, 2) / 255.0, atol=1e-6)
    noisy = x + (torch.rand_like(x) - 0.5) * 0.8 / 255 / torch.tensor(norm.std).reshape(1, 3, 1, 1)
    assert np.array_equal(norm.to_uint8(noisy), u)  # less than half a level of error rounds back exactly
    far = norm.to_uint8(x * 10)  # out of range values are clipped to valid pixels
    assert far.dtype == np.uint8
    xi, yi = sp.train.pixels(0)
    xt, yt = sp.train[0]
    assert np.array_equal(norm.to_uint8(xt), xi) and np.abs(norm.inverse(yt).permute(1, 2, 0).numpy() * 255
                                                             - yi).max() < 1e-3
    if kind == "unit":
        assert 0 <= float(xt.min()) and float(xt.max()) <= 1
    if kind == "symmetric":
        assert -1 <= float(xt.min()) and float(xt.max()) <= 1
    with pytest.raises(DataError, match="uint8"):
        norm(u.astype(np.float32))


def test_standard_normalization_uses_training_split_only(live_fixture, data_cache):
    sp = data.make_splits(live_fixture, image_size=32, normalization="standard", cache_dir=data_cache)
    train = np.stack([sp.train.pixels(i)[0] for i in range(len(sp.train))]).reshape(-1, 3) / 255.0
    assert np.allclose(sp.normalization.mean, train.mean(0)) and np.allclose(sp.normalization.std, train.std(0))
    every = np.concatenate([train, np.stack([sp.val.pixels(i)[0] for i in range(len(sp.val))]).reshape(-1, 3) / 255])
    assert not np.allclose(sp.normalization.mean, every.mean(0))
    batch = torch.stack([sp.train[i][0] for i in range(len(sp.train))])
    assert torch.allclose(batch.mean((0, 2, 3)), torch.zeros(3), atol=1e-4)
    assert torch.allclose(batch.std((0, 2, 3), correction=0), torch.ones(3), atol=1e-3)


# --------------------------------------------------------------------------------------------------------- cache
def test_cache_decodes_each_image_once(embedded_sample, data_cache):
    sp = data.make_splits(embedded_sample, image_size=48, target="jpeg", cache_dir=data_cache)
    distinct = {it.input_key for it in sp.train.items} | {it.target_key for it in sp.train.items}
    list(sp.train)
    first = data.cache_stats()
    assert first["decodes"] == len(distinct) and first["disk_writes"] == len(distinct)
    list(sp.train)
    list(sp.train)
    again = data.cache_stats()
    assert again["decodes"] == first["decodes"]  # later epochs never decode
    assert again["memory_hits"] - first["memory_hits"] == 2 * 2 * len(sp.train)
    assert len(list((data_cache / "images").glob("*.npy"))) == len(distinct)

    data.clear_memory_cache()  # a new process: memory gone, the disk cache remains
    data.reset_cache_stats()
    sp2 = data.make_splits(embedded_sample, image_size=48, target="jpeg", cache_dir=data_cache)
    list(sp2.train)
    assert data.cache_stats()["decodes"] == 0 and data.cache_stats()["disk_hits"] == len(distinct)

    data.clear_memory_cache()
    data.reset_cache_stats()
    list(data.make_splits(embedded_sample, image_size=40, target="jpeg", cache_dir=data_cache).train)
    assert data.cache_stats()["decodes"] == len(distinct)  # other settings, other cache entries


def test_cache_is_keyed_by_content_and_survives_damage(live_fixture, tmp_path, data_cache, monkeypatch):
    list(data.make_splits(live_fixture, image_size=32, cache_dir=data_cache).train)
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(live_fixture, copy)  # same bytes, other paths: the cache still applies
    data.clear_memory_cache()
    data.reset_cache_stats()
    sp = data.make_splits(copy, image_size=32, cache_dir=data_cache)
    list(sp.train)
    assert data.cache_stats()["decodes"] == 0
    for f in (data_cache / "images").glob("*.npy"):
        f.write_bytes(b"damaged")
    data.clear_memory_cache()
    decoded = []
    real = data.read_image
    monkeypatch.setattr(data, "read_image", lambda p: decoded.append(p) or real(p))
    list(sp.train)
    assert len(decoded) == len(sp.train)  # a damaged entry is decoded again, not trusted
    data.clear_memory_cache()
    data.reset_cache_stats()
    list(sp.train)
    assert data.cache_stats()["disk_hits"] == len(sp.train)  # and rewritten


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
    f = data.dataset_summary(_folder(tmp_path))
    assert f["kind"] == "image folder" and f["n_references"] == 4 and f["qualities"] == [75]
