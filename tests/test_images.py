"""Tests of helpers.images: one image file to RGB uint8 pixels, and the one rule from floats to 8-bit pixels."""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from helpers import data, metrics
from helpers.data import DataError, Normalization
from helpers.images import to_pixel_levels
from photos import UNDECODABLE, blp_with_unsupported_encoding, photo

RNG = np.random.default_rng(1234)


# ---------------------------------------------------------------------------------------------- 8-bit pixels
def test_to_pixel_levels_clips_scales_and_rounds_half_to_even():
    assert to_pixel_levels(np.array([-0.2, 0.0, 0.25, 0.5, 1.0, 1.3])).tolist() == [0, 0, 64, 128, 255, 255]
    assert to_pixel_levels(torch.tensor([-0.2, 0.25, 0.5, 1.3])).tolist() == [0, 64, 128, 255]
    halves = np.array([2.5, 3.5, 127.5]) / 255  # x * 255 lands on (or next to) .5: the float rounding decides
    assert np.array_equal(to_pixel_levels(halves), np.round(np.clip(halves, 0, 1) * 255))


def test_every_conversion_to_8_bits_gives_the_same_pixels():
    """metrics.to_uint8, Normalization.to_uint8 and torch_psnr's quantization all use to_pixel_levels."""
    x = np.concatenate([np.linspace(-0.1, 1.1, 2001), (np.arange(256) + 0.5) / 255])
    x = np.resize(x, (1, 3, 3, 755)).astype(np.float32)  # (N, 3, H, W) channels-first float32, as a model gives
    levels = to_pixel_levels(x.astype(np.float64))  # metrics read floats in float64
    assert np.array_equal(levels, to_pixel_levels(torch.from_numpy(x).double()).numpy())  # NumPy and torch alike
    assert np.array_equal(to_pixel_levels(x.astype(np.float64)),  # the rule metrics used before: unchanged
                          np.clip(np.round(x.astype(np.float64) * 255.0), 0, 255))
    pixels = np.moveaxis(levels, 1, -1).astype(np.uint8)  # (N, H, W, 3)
    assert np.array_equal(metrics.to_uint8(torch.from_numpy(x)), pixels)
    assert np.array_equal(metrics.to_uint8(np.moveaxis(x, 1, -1)), pixels)
    assert np.array_equal(Normalization.make("unit").to_uint8(torch.from_numpy(x)), pixels)
    y = torch.from_numpy(x[:, ::-1].copy())
    assert float(metrics.torch_psnr(torch.from_numpy(x), y)) == metrics.psnr(pixels, metrics.to_uint8(y))


def _png16(path: Path, arr: np.ndarray) -> None:
    """Write a 16-bit PNG (gray or RGB) by hand: Pillow cannot write 16-bit colour."""
    h, w = arr.shape[:2]
    c = 1 if arr.ndim == 2 else arr.shape[2]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, {1: 0, 3: 2}[c], 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


# --------------------------------------------------------------------------------------------------- read_image
def test_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


def test_read_image_rgb_and_grayscale(tmp_path):
    a = photo(20, 30, 0)
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
    p = Image.fromarray(photo(8, 8, 1)).quantize(16)
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
    Image.fromarray(photo(64, 64, 2)).save(good, "PNG")
    jpg = io.BytesIO()
    Image.fromarray(photo(64, 64, 2)).save(jpg, "JPEG")
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
    f.write_bytes(blp_with_unsupported_encoding())
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
    Image.fromarray(photo(8, 8, 4)).save(f)

    def fail(*args, **kwargs):
        raise error("the decoder gave up")

    monkeypatch.setattr(ImageFile.ImageFile if step == "load" else Image.Image, step, fail)
    with pytest.raises(DataError, match=rf"exotic\.png.*{error.__name__}: '?the decoder gave up"):
        data.read_image(f)
