"""The cache of prepared images: each image is decoded and resized once, then kept in memory and on disk.

A prepared image (RGB ``uint8`` ``(H, W, 3)``, as a dataset reads it) is named by :func:`cache_key`: a hash of
the file's bytes and the preparation settings, so the same photograph under another path hits the cache and a
changed file or setting misses it. On disk it is ``<cache folder>/images/<key>.npy`` (written atomically; a
damaged file is decoded again and rewritten). In memory the least recently used images are dropped beyond
``memory_limit`` bytes (the disk keeps them).

One :class:`Cache` object, :data:`default_cache`, serves every dataset of the process; :func:`cache_stats`,
:func:`reset_cache_stats` and :func:`clear_memory_cache` are its methods under the names the notebooks use.
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from pathlib import Path
from typing import Callable

import numpy as np

from ..files import atomic_write

__all__ = ["CACHE_VERSION", "MEMORY_CACHE_LIMIT", "Cache", "cache_key", "default_cache", "cache_stats",
           "reset_cache_stats", "clear_memory_cache"]

CACHE_VERSION = 1  # bump when the preparation of cached images changes
#: Default memory budget in bytes of a :class:`Cache` (least recently used images are dropped beyond it).
MEMORY_CACHE_LIMIT = 2 * 1024**3


def cache_key(digest: str, preprocess: str, size: int) -> str:
    """The name of one prepared image: a hash of the file's content ``digest`` (sha256 hex) and the settings."""
    spec = f"v{CACHE_VERSION}|{digest}|{preprocess}|{size}|lanczos"
    return hashlib.sha256(spec.encode()).hexdigest()[:32]


class Cache:
    """Prepared images by key, in memory (least recently used dropped beyond ``memory_limit`` bytes) and on disk.

    ``get(key, folder, make)`` returns the image from memory, else from ``folder/images/<key>.npy``, else calls
    ``make()`` (which decodes and prepares it), writes it to disk and remembers it. Arrays handed out are
    read-only: copy one before changing it. ``stats()`` counts what happened since the last ``reset_stats()``.
    """

    def __init__(self, memory_limit: int = MEMORY_CACHE_LIMIT) -> None:
        self.memory_limit = memory_limit
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._memory_bytes = 0
        self._counts = {"decodes": 0, "disk_hits": 0, "memory_hits": 0, "disk_writes": 0}

    def stats(self) -> dict[str, int]:
        """Counts since the last reset: ``decodes`` (files decoded), ``disk_hits``, ``memory_hits``, ``disk_writes``."""
        return dict(self._counts)

    def reset_stats(self) -> None:
        for k in self._counts:
            self._counts[k] = 0

    def clear(self) -> None:
        """Forget the images held in memory (the disk cache stays)."""
        self._memory.clear()
        self._memory_bytes = 0

    def get(self, key: str, folder: Path, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The prepared image named ``key``: from memory, from ``folder/images``, or made by ``make()`` and stored."""
        a = self._memory.get(key)
        if a is not None:
            self._memory.move_to_end(key)
            self._counts["memory_hits"] += 1
            return a
        f = Path(folder) / "images" / f"{key}.npy"
        a = self._read(f)
        if a is None:
            a = make()
            self._counts["decodes"] += 1
            buf = io.BytesIO()
            np.save(buf, a, allow_pickle=False)
            atomic_write(f, buf.getvalue())
            self._counts["disk_writes"] += 1
        self._remember(key, a)
        return a

    def _read(self, f: Path) -> np.ndarray | None:
        """The array stored in ``f``; None when it is missing or damaged (then it is made again and overwritten)."""
        try:
            a = np.load(f, allow_pickle=False)
        except (OSError, ValueError, EOFError):  # FileNotFoundError is an OSError
            return None
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            return None
        self._counts["disk_hits"] += 1
        return a

    def _remember(self, key: str, a: np.ndarray) -> None:
        a.flags.writeable = False
        if key not in self._memory:
            self._memory_bytes += a.nbytes
        self._memory[key] = a
        self._memory.move_to_end(key)
        while self._memory_bytes > self.memory_limit and len(self._memory) > 1:
            _, old = self._memory.popitem(last=False)
            self._memory_bytes -= old.nbytes


#: The cache every dataset of this process uses.
default_cache = Cache()


def cache_stats() -> dict[str, int]:
    """``default_cache.stats()``: ``decodes`` (files decoded), ``disk_hits``, ``memory_hits``, ``disk_writes``."""
    return default_cache.stats()


def reset_cache_stats() -> None:
    """``default_cache.reset_stats()``: the counts of :func:`cache_stats` back to zero."""
    default_cache.reset_stats()


def clear_memory_cache() -> None:
    """``default_cache.clear()``: forget the decoded images held in memory (the disk cache stays)."""
    default_cache.clear()
