"""The course's data: LIVE release 2, any folder of images, the embedded LIVE-shaped sample; splits; transforms.

Where the data comes from
-------------------------
* :func:`default_dataset_root` -- ``data/databaserelease2`` when the real LIVE database is there, otherwise the
  embedded sample (built on first use by :func:`build_sample`, offline, from images scikit-image and matplotlib
  carry).
* :func:`load_live` -- the reference/JPEG pairs of a LIVE release 2 folder (or of the sample: same layout, same code).
* :func:`load_folder` -- any folder of PNG/JPEG/BMP/TIFF images; JPEG versions are made with Pillow at the
  qualities you ask for (written once into the cache folder, so their size -- the bit rate -- is measurable).
* :func:`read_image` -- one file as RGB ``uint8`` ``(H, W, 3)``, whatever it holds (see ``helpers.images``).

From pairs to tensors
---------------------
:func:`make_splits` splits *by reference image* (all JPEG versions of one photo fall on the same side), seeded, and
returns torch datasets of ``(input, target)`` float tensors ``(3, H, W)``::

    train, val = make_splits(image_size=224, seed=0)                   # plain autoencoder: original -> original
    train, val = make_splits(target="jpeg")                            # original -> its JPEG version
    train, val = make_splits(input="jpeg")                             # JPEG -> original (artifact removal)
    train, val, test = make_splits(test_fraction=0.15)

Preprocessing (``preprocess=``): ``"resize"`` the whole image to ``image_size`` x ``image_size`` (the course's
choice; the aspect ratio is not kept), ``"center_crop"`` (short side to ``image_size``, then the centre square),
or ``"random_crop"`` (``crops_per_image`` random ``image_size`` squares of the stored image per item and epoch).
``flips=True`` flips training items left-right at random. Random choices come from a generator seeded with
``(seed, epoch, index)``: the same seed gives the same crops; call ``train.set_epoch(e)`` each epoch for new ones
(validation and test items never change).

Normalization (``normalization=``): ``"unit"`` ([0, 1]), ``"symmetric"`` ([-1, 1]) or ``"standard"`` (per-channel
mean and std of the *training* split's images). Each has an exact inverse: ``ds.normalization.to_uint8(x)`` gives
back the very 8-bit pixels (``(H, W, 3)`` or ``(N, H, W, 3)``); ``.inverse(x)`` gives floats in [0, 1] pixel units.
Compute metrics on those, never on normalized tensors.

Caching: each image is decoded and resized once, then kept in memory and on disk
(``helpers.paths.CACHE_DIR/images``, keyed by a hash of the file's bytes and the settings; written atomically).
A later epoch, or a later run, never decodes it again; :func:`cache_stats` counts decodes and hits.

Every failure raises :class:`DataError` (a ``ValueError``) naming the file or value and saying what to do.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from . import images as _images
from . import paths
from .files import atomic_write
from .images import IMAGE_SUFFIXES, DataError, file_digest, image_size, read_image
from .sample import SAMPLE_QUALITIES, build_sample, read_manifest

__all__ = [
    "DataError",
    "IMAGE_SUFFIXES",
    "SAMPLE_QUALITIES",
    "Pair",
    "Normalization",
    "ImagePairs",
    "Splits",
    "read_image",
    "image_size",
    "build_sample",
    "default_dataset_root",
    "find_live_root",
    "load_live",
    "load_folder",
    "load_pairs",
    "make_splits",
    "dataset_summary",
    "format_summary",
    "cache_stats",
    "reset_cache_stats",
    "clear_memory_cache",
]

LIVE_DIRNAME = "databaserelease2"
PREPROCESS = ("resize", "center_crop", "random_crop")
NORMALIZATIONS = ("unit", "symmetric", "standard")
SIDES = ("original", "jpeg")
CACHE_VERSION = 1  # bump when the preparation of cached images changes
_RESAMPLE = Image.Resampling.LANCZOS


# --------------------------------------------------------------------------------------------------------- pairs
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


def _is_live(root: Path) -> bool:
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
        return load_live(p) if p.is_dir() and _is_live(p) else load_folder(p, **folder_kw)
    pairs = list(source)
    if not pairs:
        raise DataError("the list of pairs is empty. Pass a dataset folder or load_live()/load_folder() pairs.")
    bad = [p for p in pairs if not isinstance(p, Pair)]
    if bad:
        raise DataError(f"expected Pair items (from load_live or load_folder), got {type(bad[0]).__name__}: {bad[0]!r}")
    return pairs


# ---------------------------------------------------------------------------------------------------------- cache
_MEMORY: OrderedDict[str, np.ndarray] = OrderedDict()
_MEMORY_BYTES = 0
#: Memory cache budget in bytes (least recently used images are dropped beyond it; the disk cache keeps them).
MEMORY_CACHE_LIMIT = 2 * 1024**3
_STATS = {"decodes": 0, "disk_hits": 0, "memory_hits": 0, "disk_writes": 0}


def cache_stats() -> dict[str, int]:
    """Counts since the last reset: ``decodes`` (files decoded), ``disk_hits``, ``memory_hits``, ``disk_writes``."""
    return dict(_STATS)


def reset_cache_stats() -> None:
    for k in _STATS:
        _STATS[k] = 0


def clear_memory_cache() -> None:
    """Forget the decoded images held in memory (the disk cache stays)."""
    global _MEMORY_BYTES
    _MEMORY.clear()
    _MEMORY_BYTES = 0


def _remember(key: str, a: np.ndarray) -> None:
    global _MEMORY_BYTES
    a.flags.writeable = False
    if key not in _MEMORY:
        _MEMORY_BYTES += a.nbytes
    _MEMORY[key] = a
    _MEMORY.move_to_end(key)
    while _MEMORY_BYTES > MEMORY_CACHE_LIMIT and len(_MEMORY) > 1:
        _, old = _MEMORY.popitem(last=False)
        _MEMORY_BYTES -= old.nbytes


def _cache_key(digest: str, preprocess: str, size: int) -> str:
    spec = f"v{CACHE_VERSION}|{digest}|{preprocess}|{size}|lanczos"
    return hashlib.sha256(spec.encode()).hexdigest()[:32]


def _prepare(a: np.ndarray, preprocess: str, size: int) -> np.ndarray:
    h, w = a.shape[:2]
    im = Image.fromarray(a, "RGB")
    if preprocess == "resize":
        if (w, h) != (size, size):
            im = im.resize((size, size), _RESAMPLE)
    elif preprocess == "center_crop":
        s = size / min(w, h)
        nw, nh = max(size, round(w * s)), max(size, round(h * s))
        if (nw, nh) != (w, h):
            im = im.resize((nw, nh), _RESAMPLE)
        left, top = (nw - size) // 2, (nh - size) // 2
        im = im.crop((left, top, left + size, top + size))
    else:  # random_crop: keep the stored resolution (upscaled only when allowed and too small)
        if min(w, h) < size:
            s = size / min(w, h)
            im = im.resize((max(size, round(w * s)), max(size, round(h * s))), _RESAMPLE)
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _load_prepared(path: Path, key: str, preprocess: str, size: int, cache_dir: Path) -> np.ndarray:
    a = _MEMORY.get(key)
    if a is not None:
        _MEMORY.move_to_end(key)
        _STATS["memory_hits"] += 1
        return a
    f = cache_dir / "images" / f"{key}.npy"
    try:
        a = np.load(f, allow_pickle=False)
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError("unexpected array")
        _STATS["disk_hits"] += 1
    except FileNotFoundError:
        a = None
    except (OSError, ValueError, EOFError):  # a damaged cache entry: decode again and overwrite it
        a = None
    if a is None:
        a = _prepare(read_image(path), preprocess, size)
        _STATS["decodes"] += 1
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=False)
        atomic_write(f, buf.getvalue())
        _STATS["disk_writes"] += 1
    _remember(key, a)
    return a


# --------------------------------------------------------------------------------------------------- normalization
@dataclass(frozen=True)
class Normalization:
    """Maps 8-bit pixels to model tensors and back, exactly.

    ``x = (u / 255 - mean) / std`` per channel: ``"unit"`` (mean 0, std 1: [0, 1]), ``"symmetric"`` (mean 0.5,
    std 0.5: [-1, 1]), ``"standard"`` (the training split's per-channel mean and std).
    """

    kind: str = "unit"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def make(cls, kind: str, mean=None, std=None) -> "Normalization":
        if kind == "unit":
            return cls("unit")
        if kind == "symmetric":
            return cls("symmetric", (0.5,) * 3, (0.5,) * 3)
        if kind == "standard":
            if mean is None or std is None:
                raise DataError("normalization='standard' needs the training split's mean and std (use make_splits).")
            return cls("standard", tuple(float(m) for m in mean), tuple(float(s) for s in std))
        raise DataError(f"normalization={kind!r}: expected one of {', '.join(map(repr, NORMALIZATIONS))}.")

    def _affine(self, x: torch.Tensor, channel_dim: int):
        shape = [1] * x.dim()
        shape[channel_dim] = 3
        mean = torch.tensor(self.mean, dtype=torch.float32).reshape(shape)
        std = torch.tensor(self.std, dtype=torch.float32).reshape(shape)
        return mean, std

    def __call__(self, pixels) -> torch.Tensor:
        """``uint8`` pixels ``(H, W, 3)`` or ``(N, H, W, 3)`` (NumPy or torch) -> float32 ``(3, H, W)`` / ``(N, 3, H, W)``."""
        a = pixels.detach().cpu().numpy() if isinstance(pixels, torch.Tensor) else np.asarray(pixels)
        if a.dtype != np.uint8 or a.ndim not in (3, 4) or a.shape[-1] != 3:
            raise DataError(
                f"normalize expects uint8 pixels shaped (H, W, 3) or (N, H, W, 3), got {a.dtype} {a.shape}."
            )
        # NumPy rather than torch here: one image at a time, in DataLoader workers, without torch's thread pool
        x = np.ascontiguousarray(np.moveaxis(a, -1, -3), dtype=np.float32)
        x /= np.float32(255.0)
        if self.kind != "unit":
            x -= np.asarray(self.mean, dtype=np.float32)[:, None, None]
            x /= np.asarray(self.std, dtype=np.float32)[:, None, None]
        return torch.from_numpy(x)

    normalize = __call__

    def inverse(self, x) -> torch.Tensor:
        """Normalized ``(3, H, W)`` / ``(N, 3, H, W)`` -> pixel values in [0, 1] units (not clipped): exact inverse."""
        x = torch.as_tensor(x).to(torch.float32)
        if x.dim() not in (3, 4) or x.shape[-3] != 3:
            raise DataError(f"expected a (3, H, W) or (N, 3, H, W) tensor, got shape {tuple(x.shape)}.")
        if self.kind == "unit":
            return x
        mean, std = self._affine(x, x.dim() - 3)
        return x * std + mean

    denormalize = inverse

    def to_uint8(self, x) -> np.ndarray:
        """Normalized ``(3, H, W)`` / ``(N, 3, H, W)`` -> 8-bit pixels ``(H, W, 3)`` / ``(N, H, W, 3)`` (rounded, clipped).

        ``to_uint8(normalize(u))`` equals ``u`` exactly for every kind."""
        u = self.inverse(torch.as_tensor(x).detach().cpu()).to(torch.float64)
        u = torch.clamp(torch.round(u * 255.0), 0, 255).to(torch.uint8)
        return np.ascontiguousarray(u.movedim(-3, -1).numpy())


# ---------------------------------------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class _Item:
    input_key: str
    input_path: Path
    target_key: str
    target_path: Path
    pair: Pair | None  # None for original -> original items


class ImagePairs(torch.utils.data.Dataset):
    """``(input, target)`` float32 tensors ``(3, image_size, image_size)``, normalized by ``self.normalization``.

    ``pixels(i)`` gives the same item as 8-bit ``(H, W, 3)`` arrays before normalization. ``references`` are the
    names of the reference images on this side of the split; ``pairs`` the (reference, JPEG) pairs it uses.
    """

    def __init__(self, items, *, split, image_size, preprocess, flips, seed, normalization, cache_dir,
                 references, input, target):
        self.items: list[_Item] = list(items)
        self.split = split
        self.image_size = image_size
        self.preprocess = preprocess
        self.flips = flips
        self.seed = seed
        self.epoch = 0
        self.normalization: Normalization = normalization
        self.cache_dir = Path(cache_dir)
        self.references: list[str] = list(references)
        self.input, self.target = input, target

    # metrics and plots read these; input and target share one normalization
    @property
    def input_normalization(self) -> Normalization:
        return self.normalization

    @property
    def target_normalization(self) -> Normalization:
        return self.normalization

    @property
    def pairs(self) -> list[Pair]:
        return [it.pair for it in self.items if it.pair is not None]

    def set_epoch(self, epoch: int) -> None:
        """New random crops and flips for this epoch (training split only; deterministic per seed and epoch)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (f"ImagePairs({self.split}: {len(self)} items from {len(self.references)} references, "
                f"{self.input} -> {self.target}, {self.preprocess} {self.image_size}px, {self.normalization.kind})")

    def _load(self, key: str, path: Path) -> np.ndarray:
        return _load_prepared(path, key, self.preprocess, self.image_size, self.cache_dir)

    def pixels(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Item ``index`` as 8-bit ``(H, W, 3)`` input and target, before normalization."""
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        it = self.items[index]
        x = self._load(it.input_key, it.input_path)
        y = x if it.target_key == it.input_key else self._load(it.target_key, it.target_path)
        augment = self.split == "train"
        rng = np.random.default_rng([self.seed, self.epoch if augment else 0, index])
        if self.preprocess == "random_crop":
            s = self.image_size
            top = int(rng.integers(0, x.shape[0] - s + 1))
            left = int(rng.integers(0, x.shape[1] - s + 1))
            x, y = x[top:top + s, left:left + s], y[top:top + s, left:left + s]
        if augment and self.flips and rng.random() < 0.5:
            x, y = x[:, ::-1], y[:, ::-1]
        return np.array(x, copy=True), np.array(y, copy=True)  # writable, contiguous; the cache stays untouched

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.pixels(index)
        return self.normalization(x), self.normalization(y)


@dataclass
class Splits:
    """What :func:`make_splits` returns: unpacks as ``train, val`` (or ``train, val, test`` when a test split exists)."""

    train: ImagePairs
    val: ImagePairs
    test: ImagePairs | None
    normalization: Normalization
    references: dict[str, list[str]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[ImagePairs]:
        yield self.train
        yield self.val
        if self.test is not None:
            yield self.test

    def __len__(self) -> int:
        return 2 if self.test is None else 3

    def to_uint8(self, x) -> np.ndarray:
        return self.normalization.to_uint8(x)


def _fraction(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if not 0 <= v < 1:
        raise DataError(f"{name}={value!r}: expected a fraction in [0, 1), e.g. 0.2.")
    return v


def make_splits(root_or_pairs=None, image_size: int = 224, seed: int = 0, *, val_fraction: float = 0.2,
                test_fraction: float = 0.0, target: str = "original", input: str = "original",
                preprocess: str = "resize", crops_per_image: int = 1, flips: bool = False,
                normalization: str = "unit", allow_upscale: bool = False, cache_dir=None) -> Splits:
    """Train / validation (/ test) datasets of ``(input, target)`` tensors, split by reference image.

    ``root_or_pairs``: None (the default dataset: real LIVE in ``data/databaserelease2`` or the embedded sample),
    a LIVE-shaped folder, a folder of images, or a list of :class:`Pair` (filter it yourself, e.g. one quality).
    ``target`` / ``input``: ``"original"`` or ``"jpeg"``. With both ``"original"`` there is one item per reference
    (times ``crops_per_image`` for random crops); otherwise one per (reference, JPEG) pair (times the same).
    The split shuffles the sorted reference names with ``seed``: ``test_fraction`` of them go to test, then
    ``val_fraction`` to validation (at least one each when the fraction is above 0), the rest to training.
    ``normalization="standard"`` uses the mean and std of the training split's images only.
    Images smaller than ``image_size`` (either side for ``"resize"``/``"random_crop"``, the short side for
    ``"center_crop"``) raise :class:`DataError` unless ``allow_upscale=True`` (then one warning lists them).
    """
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise DataError(f"image_size={image_size!r}: expected an integer of at least 8 (the course uses 224).")
    image_size = int(image_size)
    for name, v in (("target", target), ("input", input)):
        if v not in SIDES:
            raise DataError(f"{name}={v!r}: expected 'original' or 'jpeg'.")
    if preprocess not in PREPROCESS:
        raise DataError(f"preprocess={preprocess!r}: expected one of {', '.join(map(repr, PREPROCESS))}.")
    if normalization not in NORMALIZATIONS:
        raise DataError(f"normalization={normalization!r}: expected one of {', '.join(map(repr, NORMALIZATIONS))}.")
    if isinstance(crops_per_image, bool) or not isinstance(crops_per_image, (int, np.integer)) or crops_per_image < 1:
        raise DataError(f"crops_per_image={crops_per_image!r}: expected a positive integer.")
    if crops_per_image > 1 and preprocess != "random_crop":
        raise DataError(f"crops_per_image={crops_per_image} needs preprocess='random_crop' (other modes give one view).")
    val_fraction, test_fraction = _fraction("val_fraction", val_fraction), _fraction("test_fraction", test_fraction)
    if val_fraction <= 0 or val_fraction + test_fraction >= 1:
        raise DataError(
            f"val_fraction={val_fraction}, test_fraction={test_fraction}: validation needs a fraction above 0 "
            f"and the two together must leave some images for training (below 1)."
        )
    cache_dir = Path(cache_dir if cache_dir is not None else paths.CACHE_DIR)
    pairs = load_pairs(root_or_pairs)

    refs = sorted({str(p.reference) for p in pairs})
    n = len(refs)
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction))
    if n - n_test - n_val < 1:
        raise DataError(
            f"only {n} reference image(s): too few to give {n_val} to validation, {n_test} to test and at least one "
            f"to training. Add images, or lower val_fraction / test_fraction."
        )
    order = [refs[i] for i in np.random.default_rng(seed).permutation(n)]
    side = {r: "test" for r in order[:n_test]}
    side.update({r: "val" for r in order[n_test:n_test + n_val]})
    side.update({r: "train" for r in order[n_test + n_val:]})

    # every file the splits read: size checks up front, content hashes for the cache keys
    uses_pairs = input == "jpeg" or target == "jpeg"
    files = sorted({str(p.reference) for p in pairs} | ({str(p.distorted) for p in pairs} if uses_pairs else set()))
    sizes = {f: _images.image_size(f) for f in files}
    # "resize" and "random_crop" need both sides >= image_size, "center_crop" the short side: the same test
    small = [f"{f} ({w}x{h})" for f, (w, h) in sizes.items() if min(w, h) < image_size]
    if small:
        listed = "\n  ".join(small[:10] + ([f"... and {len(small) - 10} more"] if len(small) > 10 else []))
        if not allow_upscale:
            raise DataError(
                f"{len(small)} image(s) smaller than image_size={image_size}:\n  {listed}\n"
                f"Use a smaller image_size, remove them, or pass allow_upscale=True to enlarge them."
            )
        warnings.warn(f"make_splits: upscaling {len(small)} image(s) smaller than {image_size} px:\n  {listed}",
                      stacklevel=2)
    if uses_pairs:
        for p in pairs:
            if sizes[str(p.reference)] != sizes[str(p.distorted)]:
                raise DataError(
                    f"{p.distorted}: is {'x'.join(map(str, sizes[str(p.distorted)]))} but its reference {p.reference} "
                    f"is {'x'.join(map(str, sizes[str(p.reference)]))}; a JPEG version must have its reference's size."
                )
    keys = {f: _cache_key(file_digest(f), preprocess, image_size) for f in files}

    def items_for(split: str) -> list[_Item]:
        out = []
        if not uses_pairs:
            for r in refs:
                if side[r] == split:
                    out += [_Item(keys[r], Path(r), keys[r], Path(r), None)] * crops_per_image
        else:
            for p in pairs:
                if side[str(p.reference)] != split:
                    continue
                ref, dist = str(p.reference), str(p.distorted)
                i = (keys[dist], p.distorted) if input == "jpeg" else (keys[ref], p.reference)
                t = (keys[dist], p.distorted) if target == "jpeg" else (keys[ref], p.reference)
                out += [_Item(i[0], i[1], t[0], t[1], p)] * crops_per_image
        return out

    names = {s: sorted(Path(r).stem for r in refs if side[r] == s) for s in ("train", "val", "test")}
    common = dict(image_size=image_size, preprocess=preprocess, seed=seed, cache_dir=cache_dir, input=input,
                  target=target)
    norm = Normalization.make(normalization if normalization != "standard" else "unit")
    train = ImagePairs(items_for("train"), split="train", flips=flips, normalization=norm,
                       references=names["train"], **common)
    if normalization == "standard":  # computed on the training split only
        norm = Normalization.make("standard", *_mean_std(train))
        train.normalization = norm
    val = ImagePairs(items_for("val"), split="val", flips=False, normalization=norm, references=names["val"], **common)
    test = (ImagePairs(items_for("test"), split="test", flips=False, normalization=norm, references=names["test"],
                       **common) if n_test else None)
    return Splits(train, val, test, norm, {k: v for k, v in names.items() if v or k != "test"})


def _mean_std(train: ImagePairs) -> tuple[list[float], list[float]]:
    """Per-channel mean and std, in [0, 1] units, over the distinct images of the training split (as prepared)."""
    total = np.zeros(3)
    total_sq = np.zeros(3)
    count = 0
    seen = set()
    for it in train.items:
        for key, path in ((it.input_key, it.input_path), (it.target_key, it.target_path)):
            if key in seen:
                continue
            seen.add(key)
            a = train._load(key, path).reshape(-1, 3).astype(np.float64) / 255.0
            total += a.sum(0)
            total_sq += (a * a).sum(0)
            count += a.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean * mean, 0.0))
    if (std < 1e-6).any():
        raise DataError(
            f"the training images have no variation in some channel (std {std.round(6).tolist()}): "
            f"normalization='standard' would divide by zero. Use 'unit' or add varied images."
        )
    return mean.tolist(), std.tolist()


# ---------------------------------------------------------------------------------------------------------- summary
def dataset_summary(source=None) -> dict:
    """Facts about a dataset: a root folder (LIVE, the embedded sample, or an image folder), a list of pairs, or
    None (the default dataset). Keys: root, kind, n_references, n_jpeg, size_min / size_max ((width, height) of
    the smallest and largest reference by area), bpp_min / bpp_max / bpp_mean, qualities (None when unknown),
    total_bytes (references and JPEG files)."""
    if source is None:
        source = default_dataset_root()
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_dir() and _is_live(p):
            root = find_live_root(p)
            m = read_manifest(root)
            kind = "embedded sample" if m and m.get("kind") == "embedded sample" else "LIVE release 2"
            pairs = load_live(root)
        else:
            root, kind, pairs = p, "image folder", load_folder(p)
    else:
        pairs = load_pairs(source)
        root = Path(os.path.commonpath([str(q.reference.parent) for q in pairs]))
        kind = "pairs"
    refs = sorted({q.reference for q in pairs})
    sizes = [image_size(r) for r in refs]
    bpps = [q.bpp for q in pairs]
    qualities = sorted({q.quality for q in pairs if q.quality is not None}) or None
    files = set(refs) | {q.distorted for q in pairs}
    return {
        "root": str(root),
        "kind": kind,
        "n_references": len(refs),
        "n_jpeg": len(pairs),
        "size_min": min(sizes, key=lambda s: (s[0] * s[1], s)),
        "size_max": max(sizes, key=lambda s: (s[0] * s[1], s)),
        "bpp_min": min(bpps),
        "bpp_max": max(bpps),
        "bpp_mean": sum(bpps) / len(bpps),
        "qualities": qualities,
        "total_bytes": sum(f.stat().st_size for f in files),
    }


def format_summary(summary: dict) -> str:
    """A short readable table of :func:`dataset_summary`'s dict."""
    q = summary.get("qualities")
    rows = [
        ("dataset", summary["kind"]),
        ("root", summary["root"]),
        ("references", str(summary["n_references"])),
        ("JPEG versions", f"{summary['n_jpeg']}" + (f" (Pillow qualities {', '.join(map(str, q))})" if q else "")),
        ("image sizes", "{}x{} to {}x{}".format(*summary["size_min"], *summary["size_max"])),
        ("bits per pixel", f"{summary['bpp_min']:.2f} to {summary['bpp_max']:.2f} (mean {summary['bpp_mean']:.2f})"),
        ("on disk", f"{summary['total_bytes'] / 1e6:.1f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


if __name__ == "__main__":  # python -m helpers.data: the dataset in use, in a few lines
    print(format_summary(dataset_summary()))
