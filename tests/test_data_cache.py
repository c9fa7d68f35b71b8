"""Tests of helpers.data.cache: each image decoded once per process and once on disk, keyed by content, damage healed."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from helpers import data

pytestmark = pytest.mark.usefixtures("fresh_memory_cache")


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
    monkeypatch.setattr(data.datasets, "read_image", lambda p: decoded.append(p) or real(p))
    list(sp.train)
    assert len(decoded) == len(sp.train)  # a damaged entry is decoded again, not trusted
    data.clear_memory_cache()
    data.reset_cache_stats()
    list(sp.train)
    assert data.cache_stats()["disk_hits"] == len(sp.train)  # and rewritten


# ------------------------------------------------------------------------------------------------- the Cache object
def test_cache_keys_and_file_names_are_those_written_before():
    """A cache folder filled by an earlier version of the kit is still used: the key of a prepared image is
    sha256("v1|<file sha256>|<preprocess>|<size>|lanczos")[:32], and its file <cache>/images/<key>.npy."""
    assert data.cache.cache_key("0" * 64, "resize", 32) == "e211f9ef1e822b7f046a2b88c2007866"
    assert data.cache.cache_key("ab" * 32, "random_crop", 224) == "a0526000118c1f567ba0d1de83a58c18"


def test_a_cache_object_counts_and_remembers(tmp_path):
    made = []

    def make(value):
        return lambda: made.append(value) or np.full((2, 3, 3), value, np.uint8)

    cache = data.Cache(memory_limit=2 * 18)  # room for two 2x3x3 images
    a = cache.get("a", tmp_path, make(1))
    assert a[0, 0, 0] == 1 and not a.flags.writeable  # handed out read-only: the cached copy cannot be changed
    assert (tmp_path / "images" / "a.npy").is_file()
    assert cache.get("a", tmp_path, make(9))[0, 0, 0] == 1 and made == [1]  # from memory
    cache.get("b", tmp_path, make(2))
    cache.get("c", tmp_path, make(3))  # over the limit: "a", the least recently used, leaves memory
    assert cache.stats() == {"decodes": 3, "disk_hits": 0, "memory_hits": 1, "disk_writes": 3}
    assert cache.get("a", tmp_path, make(9))[0, 0, 0] == 1 and made == [1, 2, 3]  # from disk, not made again
    assert cache.stats()["disk_hits"] == 1
    cache.clear()
    cache.reset_stats()
    assert cache.stats() == dict.fromkeys(("decodes", "disk_hits", "memory_hits", "disk_writes"), 0)
    cache.get("c", tmp_path, make(9))
    assert cache.stats()["disk_hits"] == 1 and data.cache_stats()["disk_hits"] == 0  # its own counts only


def test_the_module_functions_are_the_default_cache(live_fixture, data_cache):
    list(data.make_splits(live_fixture, image_size=32, cache_dir=data_cache).train)
    assert data.cache_stats() == data.default_cache.stats() and data.cache_stats()["decodes"] > 0
    data.reset_cache_stats()
    assert data.default_cache.stats()["decodes"] == 0
    data.clear_memory_cache()
    assert not data.default_cache._memory


def test_the_disk_cache_serves_another_process(live_fixture, data_cache):
    """A run prepares the images once; a later run (another process) reads them from disk and decodes none."""
    child = ("import sys; from helpers import data; "
             "list(data.make_splits(sys.argv[1], image_size=32, cache_dir=sys.argv[2]).train); "
             "print(data.cache_stats()['decodes'])")
    out = subprocess.run([sys.executable, "-c", child, str(live_fixture), str(data_cache)], capture_output=True,
                         text=True, check=True)
    sp = data.make_splits(live_fixture, image_size=32, cache_dir=data_cache)
    assert int(out.stdout) == len(sp.train) > 0
    list(sp.train)
    assert data.cache_stats()["decodes"] == 0 and data.cache_stats()["disk_hits"] == len(sp.train)
