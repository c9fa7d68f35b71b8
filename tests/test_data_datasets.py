"""Tests of helpers.data.datasets: make_splits splits by reference (no leakage), items, seeded crops and flips,
bad values, and the whole validation photographs."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import data, sample
from helpers.data import DataError, Pair
from photos import photo

pytestmark = pytest.mark.usefixtures("fresh_memory_cache")


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
    other = Image.fromarray(photo(30, 30, 5))
    other.save(tmp_path / "wrong.bmp")
    with pytest.raises(DataError, match="wrong.bmp.*must have its reference's size"):
        data.make_splits([p, Pair(p.reference.with_name("ref1.bmp"), tmp_path / "wrong.bmp", 1.0)],
                         image_size=16, target="jpeg", val_fraction=0.5, **kw)


def test_truncated_reference_fails_at_the_split_naming_the_file(live_fixture, data_cache):
    ref = live_fixture / "databaserelease2" / "refimgs" / "ref2.bmp"
    ref.write_bytes(ref.read_bytes()[:200])  # the header survives, the pixels do not
    with pytest.raises(DataError, match="ref2.bmp"):  # the split reads every reference (colour or gray?)
        data.make_splits(live_fixture, image_size=32, cache_dir=data_cache)


# ------------------------------------------------------------------------------------------- whole photographs
def test_photographs_are_the_whole_references_of_the_split_in_the_order_of_their_names(live_fixture, data_cache):
    for target in ("original", "jpeg"):  # one item per reference, or two (one per JPEG version): one photo each
        splits = data.make_splits(live_fixture, image_size=32, target=target, val_fraction=0.4, cache_dir=data_cache)
        for side in splits:
            refdir = live_fixture / "databaserelease2" / "refimgs"
            photos = side.photographs()
            assert len(photos) == len(side.references) >= 2
            for name, im in zip(side.references, photos):
                assert im.dtype == np.uint8 and im.shape == (40, 48, 3)  # as stored, not resized to 32
                assert np.array_equal(im, data.read_image(refdir / f"{name}.bmp"))


def test_photographs_follow_the_names_not_the_paths(tmp_path, data_cache):
    """'a-b.png' sorts before 'a.png' as a path ('-' < '.') but after 'a' as a name: the photographs follow
    ``references``, so ``names=val.references`` labels each one right."""
    folder = tmp_path / "photos"
    folder.mkdir()
    names = ["a", "a-b", "a-c", "z", "y"]
    for i, name in enumerate(names):
        Image.fromarray(photo(40 + 8 * i, 48, seed=i)).save(folder / f"{name}.png")
    train, val = data.make_splits(folder, image_size=32, seed=1, val_fraction=0.2, cache_dir=data_cache)
    assert {"a", "a-b"} <= set(train.references) and train.references == sorted(train.references)
    for side in (train, val):
        heights = [im.shape[0] for im in side.photographs()]
        assert heights == [40 + 8 * names.index(n) for n in side.references]


# ------------------------------------------------------------------------------------------- the stratified split
def _gray_and_colour_folder(folder, n_colour, n_gray):
    rng = np.random.default_rng(0)
    folder.mkdir()
    for i in range(n_colour):
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(folder / f"c{i:02d}.png")
    for i in range(n_gray):
        Image.fromarray(rng.integers(0, 256, (40, 48), dtype=np.uint8)).convert("RGB").save(folder / f"g{i:02d}.png")
    return folder


def test_validation_keeps_the_colour_and_grayscale_mix_of_the_whole_set_for_every_seed(tmp_path, data_cache):
    folder = _gray_and_colour_folder(tmp_path / "mixed", n_colour=12, n_gray=7)
    for seed in range(6):
        sp = data.make_splits(folder, image_size=32, seed=seed, cache_dir=data_cache)
        val = sp.references["val"]
        assert len(val) == 4 and sum(name.startswith("g") for name in val) == 1, (seed, val)  # 4 * 7/19 -> 1 gray
        assert not set(val) & set(sp.references["train"])


def test_a_set_of_one_kind_is_split_by_the_plain_seeded_shuffle(tmp_path, data_cache):
    folder = _gray_and_colour_folder(tmp_path / "colour", n_colour=10, n_gray=0)
    names = sorted(p.stem for p in folder.iterdir())
    for seed in range(3):
        order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
        sp = data.make_splits(folder, image_size=32, seed=seed, cache_dir=data_cache)
        assert sp.references["val"] == sorted(order[:2])
