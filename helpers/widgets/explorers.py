"""The explorers: a slider and an image chooser wired to the panels of ``helpers.widgets.panels``.

* :func:`latent_explorer` (notebook 06): a slider over the latent sizes of trained autoencoders;
* :func:`rate_explorer` (notebook 08): a slider over the kit's codec checkpoints (one per lambda).

Each explorer is an ``ipywidgets.VBox`` whose parts are attributes; setting ``explorer.slider.value`` runs the
same callback a drag runs in JupyterLab. A view is computed the first time it is shown (``explorer_panel`` or
``rate_panel``) and cached; its HTML is set directly on the ``Output`` widget's ``outputs`` (never printed), so
nothing leaks into the notebook cell. Bad arguments are refused at once with a message that says what to pass.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
import torch

from .. import compare
from ..models import torch_threads
from .panels import CODEC_NAMES, explorer_panel, panel_html, panel_text, rate_panel, tile_for

__all__ = ["latent_explorer", "rate_explorer", "check_images", "show_html"]


# ----------------------------------------------------------------------------------------------------- checks
def check_images(images: Sequence[np.ndarray], names: Sequence[str] | None = None,
                 min_size: int = 7) -> tuple[list[np.ndarray], list[str]]:
    """Check a list of images and their names; return them as (list of arrays, list of names).

    Each image must be a NumPy ``uint8`` array ``(H, W, 3)`` (8-bit RGB pixels, channels last) at least
    ``min_size`` pixels on each side. ``names`` defaults to ``"image 0"``, ``"image 1"``, ...
    Raises ``TypeError`` or ``ValueError`` saying which image is wrong and how to fix it.
    """
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise TypeError("images must be a list of images; for a single image pass [image]")
    images = list(images)
    if not images:
        raise ValueError("no images: pass a non-empty list of uint8 (H, W, 3) images")
    for i, image in enumerate(images):
        where = f"image {i}"
        if isinstance(image, torch.Tensor):
            raise TypeError(f"{where} is a torch tensor; pass uint8 (H, W, 3) NumPy pixels "
                            f"(normalization.to_uint8(tensor) gives them)")
        if not isinstance(image, np.ndarray):
            raise TypeError(f"{where} is a {type(image).__name__}; expected a NumPy uint8 (H, W, 3) array")
        if image.dtype != np.uint8:
            raise TypeError(f"{where} has dtype {image.dtype}; expected uint8 pixels 0..255 "
                            f"(floats in [0, 1]: helpers.metrics.to_uint8(image) converts them)")
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{where} has shape {image.shape}; expected (H, W, 3): one RGB image, channels last")
        if min(image.shape[:2]) < min_size:
            raise ValueError(f"{where} is {image.shape[0]}x{image.shape[1]}; it must be at least "
                             f"{min_size}x{min_size}")
    if names is None:
        names = [f"image {i}" for i in range(len(images))]
    names = [str(n) for n in names]
    if len(names) != len(images):
        raise ValueError(f"{len(names)} names for {len(images)} images: give one name per image")
    return images, names


def _check_models(models: Mapping[int, torch.nn.Module]) -> dict[int, torch.nn.Module]:
    """Models keyed by latent size, sorted by it; clear errors for anything else."""
    if not isinstance(models, Mapping):
        raise TypeError(f"models must be a dict {{latent size: model}}, got {type(models).__name__}")
    if not models:
        raise ValueError("no models: pass a dict {latent size: trained model} with at least one entry")
    out = {}
    for key, model in models.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)) or key < 1:
            raise ValueError(f"model keys must be positive integers (latent sizes), got {key!r}")
        if not (isinstance(model, torch.nn.Module) and hasattr(model, "encode") and hasattr(model, "decode")):
            raise TypeError(f"models[{key}] is a {type(model).__name__}; expected an autoencoder "
                            f"(torch.nn.Module with encode and decode), e.g. helpers.models.ConvAE")
        out[int(key)] = model
    return dict(sorted(out.items()))


def _check_zoom_and_threads(zoom, threads) -> None:
    """``zoom`` a positive integer; ``threads`` a positive integer or None."""
    if int(zoom) != zoom or zoom < 1:
        raise ValueError(f"zoom must be a positive integer, got {zoom!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, (int, np.integer))
                                or threads < 1):
        raise ValueError(f"threads must be a positive integer or None (torch's own setting), got {threads!r}")


# ----------------------------------------------------------------------------------------------------- wiring
def show_html(output: widgets.Output, text_html: str, text_plain: str = "") -> None:
    """Replace what ``output`` shows with ``text_html``. Sets the widget's outputs directly instead of printing
    inside ``with output:``, so nothing can leak into the notebook cell (and it works outside a kernel)."""
    output.outputs = ({"output_type": "display_data", "metadata": {},
                       "data": {"text/html": text_html, "text/plain": text_plain or "explorer output"}},)


def _show_error(output: widgets.Output, error: Exception) -> None:
    message = f"{type(error).__name__}: {error}"
    show_html(output, f"<pre style='color:#b00; white-space:pre-wrap'>{html.escape(message)}</pre>", message)


def _explorer(slider: widgets.SelectionSlider, chooser: widgets.Dropdown, compute: Callable[[Any, int], dict],
              titles: Callable[[Any], dict[str, str]], zoom: int) -> widgets.VBox:
    """Wire a slider and an image chooser to ``compute(slider value, image index) -> panel`` with a cache."""
    output = widgets.Output(layout=widgets.Layout(min_height="120px"))
    box = widgets.VBox([widgets.HBox([slider, chooser]), output])
    box.slider, box.chooser, box.output = slider, chooser, output
    box.cache = {}
    box.panel = None
    box.error = None

    def update(change=None) -> None:
        key = (slider.value, chooser.value)
        try:
            if key not in box.cache:
                box.cache[key] = compute(*key)
            box.panel = box.cache[key]
            box.error = None
            names = titles(slider.value)
            show_html(output, panel_html(box.panel, names, zoom), panel_text(box.panel, names))
        except Exception as error:  # shown in the widget: a callback's exception would only reach the log
            box.error = error
            _show_error(output, error)

    box.update = update
    slider.observe(update, names="value")
    chooser.observe(update, names="value")
    update()
    return box


# ----------------------------------------------------------------------------------------------------- explorers
def _controls(description: str, options: list, names: Sequence[str]):
    """The explorers' two controls: a slider over `options` ((label, value) pairs; it starts at the first and
    reports only when released) and a dropdown over the images' `names` (its value is the image's index)."""
    slider = widgets.SelectionSlider(options=options, value=options[0][1], description=description,
                                     continuous_update=False, style={"description_width": "initial"},
                                     layout=widgets.Layout(width="420px"))
    chooser = widgets.Dropdown(options=[(name, i) for i, name in enumerate(names)], value=0, description="image")
    return slider, chooser


def latent_explorer(models: Mapping[int, torch.nn.Module], images: Sequence[np.ndarray], normalization, *,
                    names: Sequence[str] | None = None, tile: int | None = None, bits_per_value: int | None = 8,
                    zoom: int = 1, threads: int | None = 1) -> widgets.VBox:
    """The latent-size explorer of notebook 06: drag the slider, watch the reconstruction sharpen.

    Args:
        models: trained autoencoders keyed by latent size, e.g. ``{8: model_8, 64: model_64}``; all trained with
            ``normalization``.
        images: uint8 ``(H, W, 3)`` images (e.g. the validation images at 224x224).
        normalization: the ``helpers.data.Normalization`` the models were trained with (``train.normalization``).
        names: one name per image for the chooser (default ``"image 0"``, ...).
        tile: the models' training patch size: images are cropped to whole tiles and coded tile by tile.
            ``None``: each (square) image is coded whole.
        bits_per_value: bits per latent number (``helpers.compare``: uniform quantization, 8 by default).
        zoom: integer magnification of the shown pictures.
        threads: torch threads for computing one view (default 1, see :func:`torch_threads`; None: torch's own).

    Returns an ``ipywidgets.VBox`` with the parts as attributes: ``slider`` (``SelectionSlider`` over the latent
    sizes, ``continuous_update=False``), ``chooser`` (``Dropdown``, value = image index), ``output`` (the
    ``Output`` with the pictures), ``cache`` (``{(latent, image index): panel}``), ``panel`` (what is shown: a
    dict from :func:`explorer_panel`), ``error`` (the last error, shown in the output, or None) and ``update()``.
    """
    models = _check_models(models)
    images, names = check_images(images, names)
    if not (callable(normalization) and hasattr(normalization, "to_uint8")):
        raise TypeError("normalization must be the helpers.data.Normalization the models were trained with "
                        "(e.g. train.normalization from make_splits)")
    if tile is not None and (isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 1):
        raise ValueError(f"tile must be a positive integer (the models' training size) or None, got {tile!r}")
    _check_zoom_and_threads(zoom, threads)
    for i, image in enumerate(images):
        side = tile_for(image, tile)
        if min(image.shape[:2]) < side:
            raise ValueError(f"image {names[i]!r} is {image.shape[0]}x{image.shape[1]}, smaller than one "
                             f"{side}x{side} tile: pass larger images or a smaller tile")
    for side in sorted({tile_for(image, tile) for image in images}):
        for latent, model in models.items():
            try:  # one blank tile through each model: a size it cannot take fails here, not in the widget
                compare.tile_bpp(model, side, bits_per_value)
            except Exception as error:
                raise ValueError(f"the model for latent size {latent} cannot code {side}x{side} tiles ({error}); "
                                 f"pass tile= the size it was trained on") from error

    slider, chooser = _controls("latent size", [(str(k), k) for k in models], names)

    def compute(latent: int, index: int) -> dict:
        with torch_threads(threads):
            return explorer_panel(models[latent], images[index], normalization, tile=tile,
                                  bits_per_value=bits_per_value)

    def titles(latent: int) -> dict[str, str]:
        return {"original": "original", "autoencoder": f"autoencoder, latent {latent}", "jpeg": "JPEG"}

    return _explorer(slider, chooser, compute, titles, int(zoom))


def _codec_label(codec) -> str:
    return f"λ={codec.lmbda:g}" if getattr(codec, "lmbda", None) is not None else str(codec.name)


def rate_explorer(images: Sequence[np.ndarray], codecs=None, *, names: Sequence[str] | None = None,
                  baselines: Sequence[str] = ("jpeg", "webp"), zoom: int = 1,
                  threads: int | None = 1) -> widgets.VBox:
    """The rate explorer of notebook 08: one slider position per trained codec (per lambda)::

        widgets.rate_explorer(images)            # the shipped checkpoints in checkpoints/

    Args:
        images: uint8 ``(H, W, 3)`` images of any size (the codec pads to multiples of 16 itself).
        codecs: ``helpers.codec.Codec`` objects or checkpoint paths; ``None``: the shipped factorized-prior
            checkpoints in ``checkpoints/`` (``helpers.codec.shipped_checkpoints()``, ``by_kind``). Ordered by
            lambda, lowest rate first.
        names: one name per image for the chooser.
        baselines: Pillow codecs shown beside it, each at the highest quality whose bpp is at most the codec's.
        zoom: integer magnification of the shown pictures.
        threads: torch threads for computing one view (default 1, see :func:`torch_threads`; None: torch's own).

    Returns an ``ipywidgets.VBox`` like :func:`latent_explorer`'s: ``slider`` (value = position in the list of
    codecs, labelled by lambda), ``chooser``, ``output``, ``cache``, ``panel``, ``error``, ``update()``, and
    ``codecs`` (the loaded codecs, in slider order).
    """
    from .. import codec as kit_codec  # imported here: only the rate explorer needs the codec and its checkpoints

    images, names = check_images(images, names)
    shipped = codecs is None
    if shipped:
        codecs = kit_codec.shipped_checkpoints()
        if not codecs:
            raise ValueError(f"no codec checkpoints in {kit_codec.CHECKPOINT_DIR}; train them with "
                             f"tools/train_codec.py or pass codecs=[...]")
    loaded = [kit_codec.Codec.load(c) if isinstance(c, (str, Path)) else c for c in codecs]
    if shipped:     # notebook 08's model: the factorized checkpoints, one slider of one codec (not the hyperprior's)
        loaded = kit_codec.by_kind(loaded).get("factorized", loaded)
    if not loaded:
        raise ValueError("no codecs: pass Codec objects or checkpoint paths, or None for the shipped ones")
    for c in loaded:
        if not (hasattr(c, "compress") and hasattr(c, "decompress")):
            raise TypeError(f"expected helpers.codec.Codec objects or checkpoint paths, got {type(c).__name__}")
    for b in baselines:
        if b not in CODEC_NAMES:
            raise ValueError(f"unknown baseline {b!r}; choose from {', '.join(CODEC_NAMES)}")
    _check_zoom_and_threads(zoom, threads)
    loaded.sort(key=lambda c: (math.inf if getattr(c, "lmbda", None) is None else c.lmbda))

    slider, chooser = _controls("codec", [(_codec_label(c), i) for i, c in enumerate(loaded)], names)

    def compute(position: int, index: int) -> dict:
        with torch_threads(threads):
            return rate_panel(loaded[position], images[index], baselines)

    def titles(position: int) -> dict[str, str]:
        out = {"original": "original", "codec": f"kit codec, {_codec_label(loaded[position])}"}
        out.update({b: CODEC_NAMES[b] for b in baselines})
        return out

    box = _explorer(slider, chooser, compute, titles, int(zoom))
    box.codecs = loaded
    return box
