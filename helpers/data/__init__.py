"""The course's data: LIVE release 2, any folder of images, the embedded LIVE-shaped sample; splits; normalization.

``from helpers import data`` gives every name below; each lives in the module of its concern:

=====================  ==================================================================================
module                 what it holds
=====================  ==================================================================================
``data.sources``       where the images come from: :func:`default_dataset_root` (real LIVE in
                       ``data/databaserelease2``, else the embedded sample, built on first use by
                       :func:`build_sample`), :func:`load_live`, :func:`load_folder` (JPEG versions made with
                       Pillow), :func:`load_pairs`, and :class:`Pair` (one reference, one JPEG, its bit rate)
``data.normalization`` :class:`Normalization`: 8-bit pixels to model tensors and exactly back (notebook 02)
``data.datasets``      :func:`make_splits`: the seeded, leak-free split by reference image into torch datasets
                       (:class:`ImagePairs`, with ``photographs()`` for whole-image comparisons), preprocessing
                       (resize, centre crop, random crops, flips)
``data.cache``         the :class:`Cache` of prepared images (memory and disk) and its counts
                       (:func:`cache_stats`, :func:`reset_cache_stats`, :func:`clear_memory_cache`)
``data.summary``       :func:`dataset_summary` and :func:`format_summary` (``python -m helpers.data``)
=====================  ==================================================================================

One image file is read by :func:`read_image` (``helpers.images``: RGB ``uint8`` ``(H, W, 3)``, whatever the file
holds). A typical start::

    splits = data.make_splits(image_size=224, seed=0)        # the default dataset, 80 % train / 20 % validation
    train, val = splits                                       # torch datasets of (input, target) (3, H, W) tensors
    val.photographs()                                         # the validation photographs, whole, uint8
    val.normalization.to_uint8(model(x))                      # model outputs back to 8-bit pixels for metrics

Every failure raises :class:`DataError` (a ``ValueError``) naming the file or value and saying what to do.
"""

from __future__ import annotations

from ..images import IMAGE_SUFFIXES, DataError, image_size, read_image
from ..sample import SAMPLE_QUALITIES, build_sample
from .cache import (CACHE_VERSION, MEMORY_CACHE_LIMIT, Cache, cache_stats, clear_memory_cache, default_cache,
                    reset_cache_stats)
from .datasets import PREPROCESS, SIDES, ImagePairs, Splits, assign_sides, is_grayscale, make_splits
from .normalization import NORMALIZATIONS, Normalization
from .sources import (LIVE_DIRNAME, Pair, default_dataset_root, find_live_root, load_folder, load_live,
                      load_pairs)
from .summary import dataset_summary, format_summary

__all__ = [
    "DataError",
    "IMAGE_SUFFIXES",
    "SAMPLE_QUALITIES",
    "Pair",
    "Normalization",
    "ImagePairs",
    "Splits",
    "Cache",
    "read_image",
    "image_size",
    "build_sample",
    "default_dataset_root",
    "find_live_root",
    "load_live",
    "load_folder",
    "load_pairs",
    "make_splits",
    "assign_sides",
    "is_grayscale",
    "dataset_summary",
    "format_summary",
    "default_cache",
    "cache_stats",
    "reset_cache_stats",
    "clear_memory_cache",
]
