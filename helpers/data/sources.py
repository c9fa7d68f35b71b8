"""Where the course's images come from: LIVE release 2, any folder of images, or the embedded sample.

* :func:`default_dataset_root` -- ``data/databaserelease2`` when the real LIVE database is there, otherwise the
  embedded sample (built on first use by :func:`helpers.sample.build_sample`, offline, from images scikit-image
  and matplotlib carry).
* :func:`load_live` -- the reference/JPEG pairs of a LIVE release 2 folder (or of the sample: same layout, same code).
* :func:`load_folder` -- any folder of PNG/JPEG/BMP/TIFF images; JPEG versions are made with Pillow at the
  qualities you ask for (written once into the cache folder, so their size -- the bit rate -- is measurable).
* :func:`load_pairs` -- any of these (or a list of :class:`Pair`), as :func:`helpers.data.make_splits` takes them.

Every failure raises :class:`~helpers.images.DataError` naming the file or value and saying what to do.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import paths
from ..files import atomic_write
from ..images import IMAGE_SUFFIXES, DataError, file_digest, image_size, read_image
from ..sample import build_sample

__all__ = ["LIVE_DIRNAME", "Pair", "default_dataset_root", "find_live_root", "is_live", "load_live", "load_folder",
           "load_pairs"]

LIVE_DIRNAME = "databaserelease2"


@dataclass(frozen=True)
class Pair:
    """One reference image and one JPEG version of it, with the JPEG's bit rate.

    ``quality`` is Pillow's JPEG quality where known (the embedded sample, :func:`load_folder`); the real LIVE
    database does not record it, so it is ``None`` there.
    """

    reference: Path
    distorted: Path
    bpp: float
    quality: int | None = None

    @property
    def name(self) -> str:
        """The reference's file name without its suffix (``"parrots"``)."""
        return self.reference.stem


def default_dataset_root() -> Path:
    """``data/databaserelease2`` when the real LIVE database is there; otherwise the embedded sample (built if needed).

    A ``data/databaserelease2`` folder that is not LIVE-shaped raises :class:`DataError` instead of being ignored.
    """
    live = paths.DATA_DIR / LIVE_DIRNAME
    if live.exists():
        return find_live_root(live)
    return build_sample()


def find_live_root(root) -> Path:
    """The folder that holds ``refimgs/`` and ``jpeg/``: ``root`` itself or ``root/databaserelease2``."""
    root = Path(root)
    where = f"Put LIVE release 2 in {paths.DATA_DIR / LIVE_DIRNAME} (the folder that holds refimgs/ and jpeg/)"
    if not root.exists():
        raise DataError(f"{root}: no such folder. {where}, or pass a folder that exists.")
    if not root.is_dir():
        raise DataError(f"{root}: is a file, not a folder. {where}.")
    for cand in (root, root / LIVE_DIRNAME):
        if (cand / "refimgs").is_dir() and (cand / "jpeg").is_dir():
            return cand
    if not any(root.iterdir()):
        raise DataError(f"{root}: the folder is empty. {where}.")
    raise DataError(
        f"{root}: not a LIVE release 2 folder: expected refimgs/ and jpeg/ in it (or in {root / LIVE_DIRNAME}). "
        f"{where}; for a plain folder of images use load_folder()."
    )


def is_live(root) -> bool:
    """Whether ``root`` is a LIVE-shaped folder (``refimgs/`` and ``jpeg/`` in it or in ``root/databaserelease2``)."""
    try:
        find_live_root(root)
        return True
    except DataError:
        return False


def _plain_name(name: str, info: Path, lineno: int) -> str:
    if not name or Path(name).name != name or name in (".", ".."):
        raise DataError(f"{info}, line {lineno}: {name!r} is not a plain file name. Fix or delete the line.")
    return name


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a text file ({e}). Restore the file from the LIVE release.") from None
    return text.splitlines()


def _read_qualities(path: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for lineno, line in enumerate(_read_lines(path), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            if len(fields) != 2:
                raise ValueError
            name, q = fields[0], int(fields[1])
        except ValueError:
            raise DataError(
                f"{path}, line {lineno}: expected '<distorted> <quality>', got {line.strip()!r}. "
                f"Fix the line, or rebuild the sample (build_sample(force=True))."
            ) from None
        out[name] = q
    return out


def load_live(root=None, *, on_error: str = "raise") -> list[Pair]:
    """The reference/JPEG pairs of a LIVE release 2 folder, in ``jpeg/info.txt`` order.

    ``root`` is ``databaserelease2/`` itself or the folder that contains it (default: :func:`default_dataset_root`).
    ``jpeg/info.txt`` has one line per JPEG, ``<reference> <distorted> <bits per pixel>`` (``parrots.bmp img1.bmp
    1.8853``); blank lines and surrounding whitespace are ignored, anything else malformed raises
    :class:`DataError` with the line number. Reads the embedded sample too (its ``jpeg/qualities.txt`` gives
    ``Pair.quality``).

    ``on_error="raise"`` (default) only checks that the files exist: an image that cannot be decoded raises
    :class:`DataError` when it is first read (by :func:`make_splits`' datasets). ``"skip"`` decodes every file
    now and leaves out the pairs whose reference or JPEG cannot be decoded, with ONE warning that lists them
    (then pass the pairs to :func:`make_splits`).
    """
    if on_error not in ("raise", "skip"):
        raise DataError(f"on_error={on_error!r}: expected 'raise' or 'skip'.")
    root = find_live_root(default_dataset_root() if root is None else root)
    refdir, jpegdir = root / "refimgs", root / "jpeg"
    info = jpegdir / "info.txt"
    if not info.is_file():
        raise DataError(f"{info}: missing. LIVE's jpeg/ folder must hold info.txt; restore it from the release.")
    if not any(refdir.iterdir()):
        raise DataError(f"{refdir}: the folder is empty. Copy LIVE's reference images (refimgs/*.bmp) into it.")
    qfile = jpegdir / "qualities.txt"
    qualities = _read_qualities(qfile) if qfile.is_file() else {}
    pairs: list[Pair] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(_read_lines(info), 1):
        if not line.strip():
            continue
        fields = line.split()
        bpp = math.nan
        if len(fields) == 3:
            try:
                bpp = float(fields[2])
            except ValueError:
                pass
        if len(fields) != 3 or not (math.isfinite(bpp) and bpp > 0):
            raise DataError(
                f"{info}, line {lineno}: expected '<reference> <distorted> <bits per pixel>' "
                f"(e.g. 'parrots.bmp img1.bmp 1.8853'), got {line.strip()!r}. Fix or delete the line."
            )
        ref_name = _plain_name(fields[0], info, lineno)
        dist_name = _plain_name(fields[1], info, lineno)
        if dist_name in seen:
            raise DataError(
                f"{info}, line {lineno}: duplicate name {dist_name!r}, already listed on line {seen[dist_name]}. "
                f"Each JPEG must appear once; delete one of the lines."
            )
        seen[dist_name] = lineno
        ref, dist = refdir / ref_name, jpegdir / dist_name
        for p in (ref, dist):
            if not p.is_file():
                raise DataError(
                    f"{info}, line {lineno}: names {p}, which does not exist. Copy the missing file from the "
                    f"LIVE release, or delete the line."
                )
        pairs.append(Pair(ref, dist, bpp, qualities.get(dist_name)))
    if not pairs:
        raise DataError(f"{info}: lists no pairs. Restore info.txt from the LIVE release.")
    return _decodable_pairs(pairs, root) if on_error == "skip" else pairs


def _decodable_pairs(pairs: list[Pair], root: Path) -> list[Pair]:
    """The pairs whose reference and JPEG both decode; ONE warning lists the files that do not."""
    bad: dict[Path, str] = {}
    for f in sorted({p.reference for p in pairs} | {p.distorted for p in pairs}):
        try:
            read_image(f)
        except DataError as e:
            bad[f] = str(e)
    kept = [p for p in pairs if p.reference not in bad and p.distorted not in bad]
    listed = "\n  ".join(bad.values())
    if not kept:
        raise DataError(f"{root}: none of its {len(pairs)} pairs could be read:\n  {listed}")
    if bad:
        warnings.warn(f"load_live({str(root)!r}): skipped {len(pairs) - len(kept)} of {len(pairs)} pairs, "
                      f"whose files could not be read:\n  {listed}", stacklevel=3)
    return kept


def _check_qualities(quality) -> tuple[int, ...]:
    try:
        qs = (quality,) if isinstance(quality, (int, np.integer)) else tuple(quality)
    except TypeError:
        qs = ()
    bad = [q for q in qs if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 1 <= q <= 100]
    if not qs or bad:
        raise DataError(f"quality={quality!r}: expected an integer 1..100 or a list of them (e.g. [10, 30, 75]).")
    return tuple(sorted(set(int(q) for q in qs)))


def _folder_images(folder: Path) -> list[Path]:
    if not folder.exists():
        raise DataError(f"{folder}: no such folder. Create it and put your images (PNG, JPEG, BMP, TIFF) in it.")
    if not folder.is_dir():
        raise DataError(f"{folder}: is a file, not a folder. Pass the folder that holds your images.")
    entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    images = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        others = [p.name for p in entries]
        what = f"it holds no image files, only {', '.join(others[:5])}" if others else "the folder is empty"
        raise DataError(
            f"{folder}: {what}. Put images ending in {', '.join(IMAGE_SUFFIXES)} in it (sub-folders are not searched)."
        )
    by_stem: dict[str, list[str]] = {}
    for p in images:
        by_stem.setdefault(p.stem.lower(), []).append(p.name)
    dups = [names for names in by_stem.values() if len(names) > 1]
    if dups:
        listed = "; ".join(" and ".join(n) for n in dups)
        raise DataError(
            f"{folder}: duplicate names ({listed}): each image is known by its name without the suffix, "
            f"ignoring case. Rename or remove one of each."
        )
    return images


def load_folder(path, quality=75, *, on_error: str = "raise", cache_dir=None) -> list[Pair]:
    """Pairs for any folder of images: each image with a Pillow JPEG of it at each ``quality``.

    ``quality``: one Pillow quality (1..100) or a list of them. The JPEGs are made on first use and written once
    into ``cache_dir/jpeg`` (default ``helpers.paths.CACHE_DIR``), named by the image's content hash (after at
    most 64 bytes of its name, so a very long file name still gives a valid cache name), so their size gives the
    bit rate: ``bpp = 8 * bytes / (width * height)``. Files whose name does not end in an image
    suffix (and hidden files) are ignored; sub-folders are not searched.

    ``on_error="raise"`` (default) raises :class:`DataError` at the first bad file (empty, corrupt, truncated, or
    one Pillow opens but cannot decode); ``"skip"`` leaves bad files out and issues ONE warning that lists them
    (it still raises if no image is usable).
    """
    if on_error not in ("raise", "skip"):
        raise DataError(f"on_error={on_error!r}: expected 'raise' or 'skip'.")
    folder = Path(path)
    qualities = _check_qualities(quality)
    images = _folder_images(folder)
    jpeg_dir = Path(cache_dir if cache_dir is not None else paths.CACHE_DIR) / "jpeg"
    pairs: list[Pair] = []
    skipped: list[str] = []
    for ref in images:
        try:
            pairs.extend(_folder_pairs(ref, qualities, jpeg_dir))
        except DataError as e:
            if on_error == "raise":
                raise
            skipped.append(str(e))
    if skipped:
        if len(skipped) == len(images):
            raise DataError(
                f"{folder}: none of its {len(images)} images could be read:\n  " + "\n  ".join(skipped)
            )
        warnings.warn(
            f"load_folder({str(folder)!r}): skipped {len(skipped)} of {len(images)} files that could not be read:\n  "
            + "\n  ".join(skipped),
            stacklevel=2,
        )
    return pairs


def _folder_pairs(ref: Path, qualities: tuple[int, ...], jpeg_dir: Path) -> list[Pair]:
    if ref.stat().st_size == 0:
        read_image(ref)  # raises the "empty file" DataError
    digest = file_digest(ref)
    targets = {q: jpeg_dir / f"{_short_name(ref.stem)}-{digest[:16]}-q{q}.jpg" for q in qualities}
    pixels = None
    out = []
    for q, jpg in targets.items():
        if not jpg.is_file():
            if pixels is None:
                pixels = Image.fromarray(read_image(ref), "RGB")
            buf = io.BytesIO()
            pixels.save(buf, "JPEG", quality=q, optimize=True)
            atomic_write(jpg, buf.getvalue())
        w, h = image_size(jpg)
        out.append(Pair(ref, jpg, 8 * jpg.stat().st_size / (w * h), q))
    return out


def _short_name(stem: str, limit: int = 64) -> str:
    """``stem`` cut to at most ``limit`` bytes of UTF-8, for the readable part of a cache file's name.

    File systems refuse names over 255 bytes; a source image may already have a name close to that. The cache
    file is identified by the content hash that follows this part, so cutting the name loses nothing."""
    return stem.encode("utf-8")[:limit].decode("utf-8", errors="ignore")


def load_pairs(source=None, **folder_kw) -> list[Pair]:
    """Pairs from anything :func:`make_splits` accepts: None (the default dataset), a LIVE-shaped folder, a folder
    of images (``folder_kw`` go to :func:`load_folder`), or a list of :class:`Pair`."""
    if source is None:
        return load_live(default_dataset_root())
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        return load_live(p) if p.is_dir() and is_live(p) else load_folder(p, **folder_kw)
    pairs = list(source)
    if not pairs:
        raise DataError("the list of pairs is empty. Pass a dataset folder or load_live()/load_folder() pairs.")
    bad = [p for p in pairs if not isinstance(p, Pair)]
    if bad:
        raise DataError(f"expected Pair items (from load_live or load_folder), got {type(bad[0]).__name__}: {bad[0]!r}")
    return pairs
