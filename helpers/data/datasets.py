"""From pairs to torch datasets: the seeded, leak-free split by reference image, preprocessing and augmentation.

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

Each image is prepared once and kept in :data:`helpers.data.cache.default_cache`. ``val.photographs()`` gives
the validation side's whole photographs (as stored, not resized) for comparisons on whole images.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from PIL import Image

from .. import images as _images
from .. import paths
from ..images import DataError, file_digest, read_image
from .cache import cache_key, default_cache
from .normalization import NORMALIZATIONS, Normalization
from .sources import Pair, load_pairs

__all__ = ["PREPROCESS", "SIDES", "ImagePairs", "Splits", "assign_sides", "check_split_arguments", "is_grayscale",
           "make_splits"]

PREPROCESS = ("resize", "center_crop", "random_crop")
SIDES = ("original", "jpeg")
_RESAMPLE = Image.Resampling.LANCZOS


def _prepare(a: np.ndarray, preprocess: str, size: int) -> np.ndarray:
    """One decoded image, RGB uint8 ``(H, W, 3)``, prepared as ``preprocess`` says for ``size`` (see the module)."""
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
    names of the reference images on this side of the split, sorted; ``photographs()`` those images whole;
    ``pairs`` the (reference, JPEG) pairs it uses.
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
        """The prepared image of ``path`` (named ``key`` in the cache): decoded and prepared once, then cached."""
        return default_cache.get(key, self.cache_dir,
                                 lambda: _prepare(read_image(path), self.preprocess, self.image_size))

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

    def photographs(self) -> list[np.ndarray]:
        """The whole reference photographs on this side of the split, as stored (not resized, cropped or
        normalized): RGB ``uint8`` ``(H, W, 3)`` each, one per reference, in the order of ``self.references``
        (sorted by name). For comparisons on whole images, e.g.
        ``compare.compare_with_codecs(model, val.photographs(), ..., names=val.references)``."""
        refs = {it.pair.reference if it.pair is not None else it.input_path for it in self.items}
        return [read_image(r) for r in sorted(refs, key=lambda r: (r.stem, str(r)))]

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


def check_split_arguments(image_size, *, val_fraction, test_fraction, target, input, preprocess, crops_per_image,
                          normalization) -> tuple[int, float, float]:
    """The checks :func:`make_splits` makes before it reads a file: each bad value raises :class:`DataError`
    naming it and what is allowed. Returns ``(image_size, val_fraction, test_fraction)`` as int and floats."""
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 8:
        raise DataError(f"image_size={image_size!r}: expected an integer of at least 8 (the course uses 224).")
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
    return int(image_size), val_fraction, test_fraction


def is_grayscale(path, _memo: dict = {}) -> bool:  # noqa: B006 - the memo is deliberately shared
    """True when every pixel of the image file has equal red, green and blue (a gray photograph stored as RGB).
    Remembered per file content (``file_digest``), so a split made again reads no image twice."""
    key = file_digest(path)
    if key not in _memo:
        a = read_image(path)
        _memo[key] = bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())
    return _memo[key]


def assign_sides(references: list[str], seed: int, val_fraction: float, test_fraction: float = 0.0) -> dict[str, str]:
    """Each reference image's side of the split: ``"train"``, ``"val"`` or ``"test"``, seeded and stratified.

    Colour and grayscale photographs are split separately, so that validation (and test) keep the mix of the whole
    set: with 12 colour and 7 gray references, 4 for validation are 3 colour and 1 gray (the counts are shared out
    by largest remainder). Within each group the sorted names are shuffled by ``np.random.default_rng(seed)``;
    the first go to test, the next to validation, the rest to training. A set of one kind only (real LIVE is all
    colour) is one group: the split is then the plain seeded shuffle. Raises :class:`DataError` when too few
    references are left for training."""
    refs = sorted(references)
    n = len(refs)
    n_test = max(1, round(n * test_fraction)) if test_fraction > 0 else 0
    n_val = max(1, round(n * val_fraction))
    if n - n_test - n_val < 1:
        raise DataError(
            f"only {n} reference image(s): too few to give {n_val} to validation, {n_test} to test and at least one "
            f"to training. Add images, or lower val_fraction / test_fraction."
        )
    gray = {r: is_grayscale(r) for r in refs}
    groups = [g for g in ([r for r in refs if not gray[r]], [r for r in refs if gray[r]]) if g]
    rng = np.random.default_rng(seed)
    shuffled = [[group[i] for i in rng.permutation(len(group))] for group in groups]
    test_counts = _share_out(n_test, [len(g) for g in groups])
    val_counts = _share_out(n_val, [len(g) - t for g, t in zip(groups, test_counts)])
    side = {}
    for group, n_t, n_v in zip(shuffled, test_counts, val_counts):
        side.update({r: "test" for r in group[:n_t]})
        side.update({r: "val" for r in group[n_t:n_t + n_v]})
        side.update({r: "train" for r in group[n_t + n_v:]})
    return side


def _share_out(total: int, sizes: list[int]) -> list[int]:
    """``total`` shared among groups in proportion to ``sizes`` (largest remainder; ties to the earlier group)."""
    if not sizes or total == 0:
        return [0] * len(sizes)
    exact = [total * s / sum(sizes) for s in sizes]
    counts = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[:total - sum(counts)]:
        counts[i] += 1
    return counts


def make_splits(root_or_pairs=None, image_size: int = 224, seed: int = 0, *, val_fraction: float = 0.2,
                test_fraction: float = 0.0, target: str = "original", input: str = "original",
                preprocess: str = "resize", crops_per_image: int = 1, flips: bool = False,
                normalization: str = "unit", allow_upscale: bool = False, cache_dir=None) -> Splits:
    """Train / validation (/ test) datasets of ``(input, target)`` tensors, split by reference image.

    ``root_or_pairs``: None (the default dataset: real LIVE in ``data/databaserelease2`` or the embedded sample),
    a LIVE-shaped folder, a folder of images, or a list of :class:`Pair` (filter it yourself, e.g. one quality).
    ``target`` / ``input``: ``"original"`` or ``"jpeg"``. With both ``"original"`` there is one item per reference
    (times ``crops_per_image`` for random crops); otherwise one per (reference, JPEG) pair (times the same).
    The split (:func:`assign_sides`) shuffles the reference names with ``seed``, colour and grayscale photographs
    apart so that each side keeps the mix of the whole set: ``test_fraction`` of them go to test, then
    ``val_fraction`` to validation (at least one each when the fraction is above 0), the rest to training.
    ``normalization="standard"`` uses the mean and std of the training split's images only.
    Images smaller than ``image_size`` (either side for ``"resize"``/``"random_crop"``, the short side for
    ``"center_crop"``) raise :class:`DataError` unless ``allow_upscale=True`` (then one warning lists them).
    """
    image_size, val_fraction, test_fraction = check_split_arguments(
        image_size, val_fraction=val_fraction, test_fraction=test_fraction, target=target, input=input,
        preprocess=preprocess, crops_per_image=crops_per_image, normalization=normalization)
    cache_dir = Path(cache_dir if cache_dir is not None else paths.CACHE_DIR)
    pairs = load_pairs(root_or_pairs)
    refs = sorted({str(p.reference) for p in pairs})
    side = assign_sides(refs, seed, val_fraction, test_fraction)
    n_test = sum(s == "test" for s in side.values())

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
    keys = {f: cache_key(file_digest(f), preprocess, image_size) for f in files}

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
