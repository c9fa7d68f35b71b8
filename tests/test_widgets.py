"""helpers.widgets (panels and explorers) without a browser: the explorers' logic, driven by setting ``.value`` as a
drag would."""

import base64
import io
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import compare, metrics, widgets
from helpers.data import Normalization
from helpers.models import ConvAE
from helpers.widgets import explorers  # where the explorers look up explorer_panel (patched below)

TILE = 32
LATENTS = (4, 32)


def smooth_image(h, w, seed=0):
    """A photo-like uint8 image: smooth gradients plus a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, 128 + 60 * np.sin(xx / 7.0) * np.cos(yy / 9.0)], axis=-1)
    return np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {k: ConvAE(latent_dim=k, depth=2, width=4, image_size=TILE) for k in LATENTS}


@pytest.fixture(scope="module")
def images():
    return [smooth_image(64, 64, 0), smooth_image(70, 96, 1)]  # the second is cropped to 64x96


@pytest.fixture(scope="module")
def norm():
    return Normalization.make("unit")


@pytest.fixture
def explorer(models, images, norm):
    return widgets.latent_explorer(models, images, norm, names=["first", "second"], tile=TILE)


def shown_html(box):
    (out,) = box.output.outputs
    assert out["output_type"] == "display_data"
    return out["data"]["text/html"]


def shown_image(box, alt):
    """The pixels of the <img alt=...> the output shows."""
    match = re.search(rf"<img alt='{alt}' src='data:image/png;base64,([^']+)'", shown_html(box))
    assert match, f"no image {alt!r} shown"
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(match.group(1)))))


# ----------------------------------------------------------------------------------------------------- panels
def test_explorer_panel_matches_compare(models, images, norm):
    model = models[32]
    panel = widgets.explorer_panel(model, images[1], norm, tile=TILE)
    original = compare.crop_to_tiles(images[1], TILE)
    recon = compare.reconstruct(model, images[1], TILE, norm)
    assert set(panel["images"]) == {"original", "autoencoder", "jpeg"}
    for picture in panel["images"].values():
        assert picture.shape == (64, 96, 3) and picture.dtype == np.uint8
    np.testing.assert_array_equal(panel["images"]["original"], original)
    np.testing.assert_array_equal(panel["images"]["autoencoder"], recon)
    ae, jpeg = panel["metrics"]["autoencoder"], panel["metrics"]["jpeg"]
    assert ae["bpp"] == pytest.approx(compare.tile_bpp(model, TILE))
    assert ae["psnr"] == pytest.approx(metrics.psnr(original, recon))
    assert ae["ssim"] == pytest.approx(metrics.ssim(original, recon))
    assert jpeg["target_bpp"] == pytest.approx(ae["bpp"])
    assert jpeg["bpp"] <= ae["bpp"] or not jpeg["hit_target"]
    assert jpeg["psnr"] == pytest.approx(metrics.psnr(original, panel["images"]["jpeg"]))
    assert panel["metrics"]["original"] == {"bpp": 24.0, "psnr": math.inf, "ssim": 1.0}


def test_panel_without_tile_codes_the_whole_square_image(norm, images):
    model = ConvAE(latent_dim=8, depth=2, width=4, image_size=64)
    panel = widgets.explorer_panel(model, images[0], norm, tile=None, codecs=("jpeg", "webp"))
    assert panel["images"]["autoencoder"].shape == (64, 64, 3)
    assert set(panel["metrics"]) == {"original", "autoencoder", "jpeg", "webp"}
    with pytest.raises(ValueError, match="square"):
        widgets.explorer_panel(model, images[1], norm, tile=None)


def test_png_data_uri_is_lossless(images):
    uri = widgets.png_data_uri(images[1])
    assert uri.startswith("data:image/png;base64,")
    back = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    np.testing.assert_array_equal(back, images[1])


def test_panel_html_titles_every_picture(models, images, norm):
    panel = widgets.explorer_panel(models[4], images[0], norm, tile=TILE)
    text = widgets.panel_html(panel, {"original": "original", "autoencoder": "AE <4>", "jpeg": "JPEG"}, zoom=2)
    assert text.count("<img") == 3
    assert "AE &lt;4&gt;" in text  # titles are escaped
    assert text.count("PSNR") == 2 and text.count("SSIM") == 2 and text.count(" bpp") >= 3
    assert "width='128' height='128'" in text  # zoom 2 of a 64x64 picture


# ----------------------------------------------------------------------------------------------------- latent explorer
def test_explorer_parts_and_first_view(explorer):
    assert isinstance(explorer, widgets.widgets.VBox)
    assert isinstance(explorer.slider, widgets.widgets.SelectionSlider)
    assert isinstance(explorer.chooser, widgets.widgets.Dropdown)
    assert isinstance(explorer.output, widgets.widgets.Output)
    assert explorer.slider.continuous_update is False
    assert [label for label, _ in explorer.slider.options] == [str(k) for k in LATENTS]
    assert explorer.slider.value == LATENTS[0] and explorer.chooser.value == 0
    assert [label for label, _ in explorer.chooser.options] == ["first", "second"]
    assert list(explorer.cache) == [(LATENTS[0], 0)]
    assert explorer.error is None
    html = shown_html(explorer)
    for alt in ("original", "autoencoder", "jpeg"):
        assert f"alt='{alt}'" in html
    assert f"autoencoder, latent {LATENTS[0]}" in html


def test_moving_the_slider_shows_the_other_model(explorer, models, images, norm):
    before_html = shown_html(explorer)
    before = shown_image(explorer, "autoencoder")
    explorer.slider.value = 32
    assert explorer.error is None
    assert (32, 0) in explorer.cache and explorer.panel is explorer.cache[(32, 0)]
    after = shown_image(explorer, "autoencoder")
    np.testing.assert_array_equal(after, compare.reconstruct(models[32], images[0], TILE, norm))
    assert not np.array_equal(before, after)
    assert shown_html(explorer) != before_html
    assert "autoencoder, latent 32" in shown_html(explorer)
    assert explorer.panel["metrics"]["autoencoder"]["bpp"] == pytest.approx(compare.tile_bpp(models[32], TILE))
    np.testing.assert_array_equal(shown_image(explorer, "original"), images[0])


def test_choosing_an_image(explorer, images):
    explorer.chooser.value = 1
    assert explorer.error is None
    assert set(explorer.cache) == {(LATENTS[0], 0), (LATENTS[0], 1)}
    np.testing.assert_array_equal(shown_image(explorer, "original"), images[1][:64, :96])


def test_cached_views_are_not_recomputed(explorer, monkeypatch):
    calls = []
    real = widgets.explorer_panel

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(explorers, "explorer_panel", counting)
    explorer.slider.value = 32            # new: computed
    first = explorer.panel
    explorer.slider.value = LATENTS[0]    # shown at construction: cached
    explorer.slider.value = 32            # cached
    assert len(calls) == 1
    assert explorer.panel is first
    assert len(explorer.cache) == 2


def test_nothing_is_printed(models, images, norm, capsys):
    box = widgets.latent_explorer(models, images, norm, tile=TILE)
    box.slider.value = 32
    box.chooser.value = 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_an_error_while_updating_is_shown_not_raised(explorer, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("out of memory, say")

    monkeypatch.setattr(explorers, "explorer_panel", broken)
    explorer.slider.value = 32  # must not raise inside the widget callback
    assert isinstance(explorer.error, RuntimeError)
    assert "RuntimeError: out of memory, say" in shown_html(explorer)
    monkeypatch.undo()
    explorer.update()
    assert explorer.error is None and "<img" in shown_html(explorer)


# ----------------------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("bad, error, message", [
    ({}, ValueError, "no models"),
    ([1, 2], TypeError, "must be a dict"),
    ({"8": None}, ValueError, "positive integers"),
    ({0: None}, ValueError, "positive integers"),
    ({8: "model"}, TypeError, "encode and decode"),
])
def test_bad_models(bad, error, message, images, norm):
    with pytest.raises(error, match=message):
        widgets.latent_explorer(bad, images, norm, tile=TILE)


@pytest.mark.parametrize("bad, error, message", [
    ([], ValueError, "no images"),
    ([np.zeros((64, 64, 3), np.float32)], TypeError, "dtype float32; expected uint8"),
    ([np.zeros((64, 64), np.uint8)], ValueError, r"shape \(64, 64\); expected \(H, W, 3\)"),
    ([np.zeros((3, 64, 64), np.uint8)], ValueError, r"shape \(3, 64, 64\)"),
    ([torch.zeros(64, 64, 3, dtype=torch.uint8)], TypeError, "torch tensor"),
    ([[[0, 0, 0]]], TypeError, "list"),
    (np.zeros((64, 64, 3), np.uint8), TypeError, r"pass \[image\]"),
    ([np.zeros((16, 64, 3), np.uint8)], ValueError, "smaller than one 32x32 tile"),
])
def test_bad_images(bad, error, message, models, norm):
    with pytest.raises(error, match=message):
        widgets.latent_explorer(models, bad, norm, tile=TILE)


def test_other_bad_arguments(models, images, norm):
    with pytest.raises(ValueError, match="2 names for 1 images"):
        widgets.latent_explorer(models, images[:1], norm, names=["a", "b"], tile=TILE)
    with pytest.raises(TypeError, match="Normalization"):
        widgets.latent_explorer(models, images, "unit", tile=TILE)
    with pytest.raises(ValueError, match="tile must be a positive integer"):
        widgets.latent_explorer(models, images, norm, tile=0)
    with pytest.raises(ValueError, match="must then be square"):
        widgets.latent_explorer(models, images, norm, tile=None)
    with pytest.raises(ValueError, match="zoom"):
        widgets.latent_explorer(models, images, norm, tile=TILE, zoom=0)
    with pytest.raises(ValueError, match="threads"):
        widgets.latent_explorer(models, images, norm, tile=TILE, threads=0)
    # dense ConvAE built for 32x32 tiles cannot take 64x64 ones: said at once, naming the latent size
    with pytest.raises(ValueError, match="latent size 4 cannot code 64x64 tiles"):
        widgets.latent_explorer(models, images[:1], norm, tile=64)


# ----------------------------------------------------------------------------------------------------- rate explorer
@pytest.fixture(scope="module")
def codecs():
    Codec = pytest.importorskip("helpers.codec", reason="helpers.codec is not in this checkout").Codec
    from helpers.rd_model import FactorizedPriorModel

    torch.manual_seed(0)
    return [Codec(FactorizedPriorModel(8, 8), name="high", lmbda=0.05),
            Codec(FactorizedPriorModel(8, 8), name="low", lmbda=0.002)]


def test_rate_explorer(codecs, images):
    box = widgets.rate_explorer(images, codecs, names=["a", "b"])
    assert box.error is None
    assert [c.lmbda for c in box.codecs] == [0.002, 0.05]  # lowest rate first
    assert [label for label, _ in box.slider.options] == ["λ=0.002", "λ=0.05"] and box.slider.continuous_update is False
    html = shown_html(box)
    for alt in ("original", "codec", "jpeg", "webp"):
        assert f"alt='{alt}'" in html
    box.slider.value = 1
    box.chooser.value = 1
    assert box.error is None and set(box.cache) == {(0, 0), (1, 0), (1, 1)}
    image = images[1]
    data = box.codecs[1].compress(image)
    m = box.panel["metrics"]
    assert m["codec"]["bytes"] == len(data)
    assert m["codec"]["bpp"] == pytest.approx(8 * len(data) / (image.shape[0] * image.shape[1]))
    np.testing.assert_array_equal(shown_image(box, "codec"), box.codecs[1].decompress(data))
    np.testing.assert_array_equal(shown_image(box, "original"), image)  # no crop: the codec takes any size
    for b in ("jpeg", "webp"):
        assert m[b]["bpp"] <= m["codec"]["bpp"] or not m[b]["hit_target"]


def test_rate_panel_baselines(codecs, images):
    panel = widgets.rate_panel(codecs[0], images[0], codecs=("webp",))
    assert set(panel["images"]) == {"original", "codec", "webp"}


def test_rate_explorer_bad_inputs(codecs, images, monkeypatch):
    import helpers.codec as kit_codec

    with pytest.raises(ValueError, match="no images"):
        widgets.rate_explorer([], codecs)
    with pytest.raises(ValueError, match="no codecs"):
        widgets.rate_explorer(images, [])
    with pytest.raises(TypeError, match="Codec objects"):
        widgets.rate_explorer(images, [object()])
    with pytest.raises(ValueError, match="unknown baseline"):
        widgets.rate_explorer(images, codecs, baselines=("png",))
    with pytest.raises(TypeError, match="dtype float64"):
        widgets.rate_explorer([images[0] / 255.0], codecs)
    with pytest.raises(FileNotFoundError, match="not found"):
        widgets.rate_explorer(images, ["no_such_checkpoint.pt"])
    monkeypatch.setattr(kit_codec, "shipped_checkpoints", lambda *a, **k: [])
    with pytest.raises(ValueError, match="no codec checkpoints"):
        widgets.rate_explorer(images)


def test_rate_explorer_loads_checkpoint_paths(tmp_path, images):
    rd_model = pytest.importorskip("helpers.rd_model", reason="helpers.rd_model is not in this checkout")
    FactorizedPriorModel, save_checkpoint = rd_model.FactorizedPriorModel, rd_model.save_checkpoint

    torch.manual_seed(1)
    paths = []
    for lmbda in (0.01, 0.001):
        path = tmp_path / f"rd_lambda{lmbda}.pt"
        save_checkpoint(FactorizedPriorModel(8, 8), path, lmbda)
        paths.append(path)
    box = widgets.rate_explorer(images[:1], paths)
    assert box.error is None
    assert [label for label, _ in box.slider.options] == ["λ=0.001", "λ=0.01"]
    box.slider.value = 1
    assert box.error is None and "kit codec, λ=0.01" in shown_html(box)


def test_updates_run_on_the_requested_threads_and_restore_torch(models, images, norm, monkeypatch):
    seen = []
    real = widgets.explorer_panel

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(explorers, "explorer_panel", spy)
    before = torch.get_num_threads()
    box = widgets.latent_explorer(models, images, norm, tile=TILE)  # threads=1 by default
    box.slider.value = 32
    assert seen == [1, 1] and torch.get_num_threads() == before
    box = widgets.latent_explorer(models, images, norm, tile=TILE, threads=None)
    assert seen[-1] == before
