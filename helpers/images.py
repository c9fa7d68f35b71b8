"""Reading one image file into RGB uint8 pixels, whatever the file holds.

This is the bottom of the data layer: ``helpers.data`` builds on it and re-exports its public names
(``DataError``, ``read_image``, ``IMAGE_SUFFIXES``). It imports nothing else from ``helpers``.

Conversions made by :func:`read_image` (every result is ``uint8``, shape ``(H, W, 3)``):

=====================  ==================================================================================
file holds             result
=====================  ==================================================================================
RGB, 8 bit             as stored
grayscale (L, 1)       the gray value copied to R, G and B
16-bit grayscale       scaled to 8 bits: ``round(v * 255 / 65535)`` (the full range, never clipped)
(I;16, I)
32-bit float (F)       values in [0, 1] are scaled by 255; any other range is refused (DataError)
16-bit colour          Pillow keeps the high byte of each sample (within one level of exact scaling)
palette (P)            the palette colours
alpha (RGBA, LA, PA,   composited on a **white** background, as a viewer shows it on a white page
P with transparency)   (dropping the alpha would expose whatever colour hides under transparent pixels)
CMYK                   Pillow's CMYK -> RGB conversion (Adobe's inverted CMYK JPEGs are handled by Pillow)
YCbCr, HSV, LAB        converted to RGB by Pillow
EXIF orientation       applied (``ImageOps.exif_transpose``; a TIFF's orientation tag by Pillow's TIFF reader),
                       so the pixels stand the way a viewer shows them; :func:`image_size` gives their size
several frames         the first frame (GIF, multi-page TIFF)
=====================  ==================================================================================

A file Pillow cannot open, or opens but cannot decode (corrupt, truncated, or a variant of its format Pillow does
not implement), raises :class:`DataError` naming the file, whatever error Pillow raised inside (except ``MemoryError``).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, TiffImagePlugin, UnidentifiedImageError

__all__ = ["DataError", "IMAGE_SUFFIXES", "read_image", "image_size", "file_digest", "to_pixel_levels"]

#: File name endings :func:`helpers.data.load_folder` treats as images (case does not matter).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


class DataError(ValueError):
    """The kit's own error for bad data: the message names the file or value and says what to do."""


def to_pixel_levels(x):
    """The kit's one rule from floats to 8-bit pixels: ``round(clip(x, 0, 1) * 255)``, rounded half to even.

    ``x`` holds pixel values in [0, 1] units (a NumPy array or a torch tensor); the result has the same type and
    shape and holds the levels 0..255, still as floats: cast with ``.astype(np.uint8)`` / ``.to(torch.uint8)``.
    Every conversion to 8 bits in the kit goes through it (``helpers.metrics.to_uint8``,
    ``Normalization.to_uint8``, ``metrics.torch_psnr``), so all of them give the same pixels.
    """
    return (x.clip(0, 1) * 255).round()


def _check_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: no such file. Check the path (it is resolved from {Path.cwd()}).")
    if path.is_dir():
        raise DataError(f"{path}: is a folder, not an image file. Pass an image file, or use load_folder().")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (0 bytes). Copy the image again or delete the file.")


def _open_checked(path: Path, what: str):
    """Open ``path`` with Pillow, turning every failure into a DataError. Returns an open image (caller closes)."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above MAX_IMAGE_PIXELS and raises above twice that; both are refused here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise _bomb_error(path, e) from None
    except UnidentifiedImageError:
        raise DataError(
            f"{path}: not an image Pillow can read ({what}). Remove the file from the folder, "
            f"or convert it to PNG, JPEG, BMP or TIFF."
        ) from None
    except MemoryError:
        raise
    except Exception as e:  # see _unreadable: Pillow's readers raise many kinds of error on a file they cannot read
        raise DataError(
            f"{path}: cannot open the image ({type(e).__name__}: {e}). The file is corrupt or in a variant of its "
            f"format Pillow does not support; copy it again, convert it to PNG, or remove it."
        ) from None


def _unreadable(path: Path, im: Image.Image, e: Exception) -> DataError:
    """The DataError for a file Pillow opened (its header made sense) but could not decode.

    Pillow reads the header when it opens a file and the pixels only later, and its readers raise many kinds of
    error on pixels they cannot decode: ``OSError`` (truncated data, a decoder error), ``SyntaxError``,
    ``ValueError``, ``struct.error``, ``IndexError``, and ``NotImplementedError`` for a variant of the format it does
    not implement (a BLP encoding, a DDS pixel format). The kit catches them all, except ``MemoryError`` (the
    machine's limit, not the file's fault), and names the file.
    """
    what = f"{im.format or 'image'} {im.mode} {im.size[0]}x{im.size[1]}"
    return DataError(
        f"{path}: Pillow opened it ({what}) but cannot decode its pixels ({type(e).__name__}: {e}). The file is "
        f"corrupt, truncated, or in a variant of its format Pillow does not support; copy it again, convert it "
        f"to PNG, or remove it."
    )


def _bomb_error(path: Path, e: Exception) -> DataError:
    return DataError(
        f"{path}: refused as a possible decompression bomb ({e}). If the image is genuine, downscale it first "
        f"(or raise PIL.Image.MAX_IMAGE_PIXELS, now {Image.MAX_IMAGE_PIXELS}, at your own risk)."
    )


def image_size(path) -> tuple[int, int]:
    """``(width, height)`` of an image file from its header, without decoding the pixels, as it is displayed:
    the same as the shape :func:`read_image` returns (``(H, W, 3)`` -> ``(W, H)``), EXIF orientation included.

    Orientations 5 to 8 turn the image by a quarter, so they swap width and height. Pillow's TIFF reader already
    reports the turned size (it applies the TIFF orientation tag itself as it loads the pixels); every other
    reader reports the stored size and leaves the turn to ``ImageOps.exif_transpose``.
    """
    path = Path(path)
    _check_file(path)
    im = _open_checked(path, "reading its header")
    with im:
        w, h = im.size
        if isinstance(im, TiffImagePlugin.TiffImageFile):
            return (w, h)
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # a broken EXIF block: read_image keeps the pixels as stored, so the size is as stored
            orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def read_image(path) -> np.ndarray:
    """One image file as RGB ``uint8`` pixels, shape ``(H, W, 3)``, whatever the file holds.

    See the module's table for each conversion (grayscale, 16-bit, palette, alpha on white, CMYK, EXIF
    orientation). Raises :class:`DataError`, naming the file, for a missing, empty, unreadable, corrupt or
    truncated file, for a file Pillow opens but cannot decode (a format variant it does not implement), and for a
    decompression bomb (more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels).
    """
    path = Path(path)
    _check_file(path)
    im = _open_checked(path, "unknown format")
    with im, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im.load()
            try:
                upright = ImageOps.exif_transpose(im)
            except Exception:  # broken EXIF metadata: keep the pixels as stored (image_size() does the same)
                upright = im
            return _to_rgb_uint8(upright, path)
        except DataError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise _bomb_error(path, e) from None
        except MemoryError:
            raise
        except Exception as e:  # any other failure to decode or convert the pixels: see _unreadable
            raise _unreadable(path, im, e) from None


def _to_rgb_uint8(im: Image.Image, path: Path) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16") or mode == "I":
        a = np.asarray(im).astype(np.int64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise DataError(
                f"{path}: 32-bit integer pixels outside 0..65535 (min {a.min()}, max {a.max()}); "
                f"the kit reads 8- and 16-bit images. Convert the file to 8- or 16-bit first."
            )
        g = ((a * 255 + 32767) // 65535).astype(np.uint8)  # round(v * 255 / 65535), exact in integers
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if a.size and (not np.isfinite(a).all() or a.min() < 0 or a.max() > 1):
            raise DataError(
                f"{path}: floating-point pixels outside [0, 1]; the kit cannot guess their scale. "
                f"Convert the file to an 8- or 16-bit image first."
            )
        g = to_pixel_levels(a).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in im.info) or (
        mode in ("L", "RGB") and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(white, rgba).convert("RGB")
    else:
        rgb = im.convert("RGB")  # a mode Pillow cannot convert raises here; read_image names the file
    a = np.asarray(rgb, dtype=np.uint8)
    if a.ndim != 3 or a.shape[2] != 3 or 0 in a.shape:
        raise DataError(f"{path}: decoded to an unexpected shape {a.shape}. Save it as an ordinary RGB image.")
    return np.ascontiguousarray(a)


# ---------------------------------------------------------------------------------------------------------------------
# small file utilities shared by the data layer


def file_digest(path, _memo: dict = {}) -> str:  # noqa: B006 - the memo is deliberately shared
    """sha256 of a file's bytes (hex). Memoized per (path, size, mtime) so an unchanged file is hashed once."""
    path = Path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    digest = _memo.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = _memo[key] = h.hexdigest()
    return digest
