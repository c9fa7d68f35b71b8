"""Images the data tests write: photo-like arrays, a tiny LIVE tree, a folder of photos, undecodable files.

Shared by test_images.py, test_sample.py and the test_data_*.py files (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def photo(h: int, w: int, seed: int) -> np.ndarray:
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
        ref = Image.fromarray(photo(*size, seed=i))
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


def photo_folder(tmp_path: Path, n: int = 4) -> Path:
    """``tmp_path/photos``: ``n`` photos in PNG, JPEG, BMP and TIFF, and a text file that is not an image."""
    d = tmp_path / "photos"
    d.mkdir()
    fmts = ["png", "jpg", "bmp", "tif"]
    for i in range(n):
        Image.fromarray(photo(40, 56, 10 + i)).save(d / f"photo{i}.{fmts[i % 4]}")
    (d / "notes.txt").write_text("not an image, and not named like one: ignored")
    return d


def blp_with_unsupported_encoding() -> bytes:
    """A BLP1 file (Blizzard's texture format, which Pillow opens) whose encoding 3 Pillow does not implement: the
    header is read at open, the pixels raise NotImplementedError on load()."""
    header = b"BLP1" + struct.pack("<iI", 1, 0) + struct.pack("<II", 8, 8) + struct.pack("<ii", 3, 0)
    return header + bytes(16 * 4 * 2 + 256 * 4 + 64)


def dds_with_unknown_pixel_format() -> bytes:
    """A DDS header (DirectDraw Surface) with pixel-format flags Pillow does not know: NotImplementedError at open."""
    header = struct.pack("<7I", 124, 0x1007, 8, 8, 32, 0, 0) + bytes(11 * 4)
    pixel_format = struct.pack("<8I", 32, 0x800, 0, 32, 0, 0, 0, 0)
    return b"DDS " + header + pixel_format + bytes(4 * 5) + bytes(8 * 8 * 4)


def png_larger_than_its_data() -> bytes:
    """A PNG whose header promises 64x64 pixels while its data holds 8x8: Pillow opens it lazily, load() fails."""
    good = io.BytesIO()
    Image.fromarray(photo(8, 8, 3)).save(good, "PNG")
    b = bytearray(good.getvalue())
    b[16:24] = struct.pack(">II", 64, 64)
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))  # a valid header checksum: only the size lies
    return bytes(b)


def tiff_with_old_style_jpeg_compression() -> bytes:
    """A TIFF whose compression tag says "old-style JPEG" (6), a scheme libtiff reads only with tables this file
    lacks: Pillow opens it from the header, load() fails in the decoder."""
    buf = io.BytesIO()
    Image.fromarray(photo(8, 8, 5)).save(buf, "TIFF", compression="tiff_lzw")
    b = bytearray(buf.getvalue())
    ifd = struct.unpack("<I", b[4:8])[0]
    for i in range(struct.unpack("<H", b[ifd:ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", b[entry:entry + 2])[0] == 259:  # Compression, one SHORT stored in the entry
            b[entry + 8:entry + 10] = struct.pack("<H", 6)
    return bytes(b)


UNDECODABLE = {
    "blp_unsupported_encoding.png": blp_with_unsupported_encoding,  # named like a PNG: Pillow goes by content
    "dds_unknown_pixel_format.png": dds_with_unknown_pixel_format,
    "png_larger_than_its_data.png": png_larger_than_its_data,
    "tiff_old_style_jpeg.tif": tiff_with_old_style_jpeg_compression,
}
