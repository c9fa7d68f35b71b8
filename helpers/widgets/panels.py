"""What an explorer shows for one setting, as plain data: the pictures with their measures, and that as HTML.

* :func:`explorer_panel` -- an autoencoder (coded tile by tile, ``helpers.compare``) beside JPEG at the same bpp;
* :func:`rate_panel` -- the kit's codec (real bytes, ``helpers.codec``) beside JPEG and WebP at the same bpp;
* :func:`panel_html` / :func:`panel_text` -- a panel as HTML (true-size PNGs, captions) or as lines of text.

A panel is ``{"images": {key: uint8 (h, w, 3)}, "metrics": {key: {"bpp", "psnr", "ssim", ...}}}``. Nothing here
needs ipywidgets or a kernel: ``helpers.widgets.explorers`` wires these functions to a slider.

Fair comparison: JPEG and WebP get the highest quality whose bit rate is at most the other method's
(``helpers.metrics.codec_at_bpp``). When even quality 1 needs more bits (JPEG cannot go below about 0.2 bpp on
photos), the caption says so: the baseline is then shown at more bits than the method it is compared with.
"""

from __future__ import annotations

import base64
import html
import io
import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from PIL import Image

from .. import compare, metrics

__all__ = ["explorer_panel", "rate_panel", "panel_html", "panel_text", "png_data_uri", "tile_for", "CODEC_NAMES"]

CODEC_NAMES = {"jpeg": "JPEG", "webp": "WebP"}


def _quality(original: np.ndarray, decoded: np.ndarray, bpp: float) -> dict[str, float]:
    return {"bpp": float(bpp), "psnr": float(metrics.psnr(original, decoded)),
            "ssim": float(metrics.ssim(original, decoded))}


def _baselines(original: np.ndarray, bpp: float, codecs: Sequence[str], pictures: dict, scores: dict) -> None:
    """Add each Pillow codec at the highest quality whose bit rate is at most ``bpp``."""
    for codec in codecs:
        coded = metrics.codec_at_bpp(original, bpp, codec)
        pictures[codec] = coded["decoded"]
        scores[codec] = {"bpp": coded["bpp"], "psnr": coded["psnr"], "ssim": coded["ssim"],
                         "quality": coded["quality"], "hit_target": coded["hit_target"], "target_bpp": float(bpp)}


def explorer_panel(model: torch.nn.Module, image: np.ndarray, normalization, *, tile: int | None = None,
                   bits_per_value: int | None = 8, codecs: Sequence[str] = ("jpeg",)) -> dict[str, Any]:
    """Everything the latent explorer shows for one model and one image, as a plain dict.

    The image (uint8 ``(H, W, 3)``) is cropped to whole ``tile x tile`` tiles (``tile=None``: the whole image,
    which must then be square), coded tile by tile with ``helpers.compare.reconstruct`` (latent quantized to
    ``bits_per_value`` bits per number) and compared with each of ``codecs`` at the highest quality whose bit
    rate is at most the autoencoder's. Returns::

        {"images":  {"original": ..., "autoencoder": ..., "jpeg": ...},    # uint8 (h, w, 3), all the same size
         "metrics": {"original":    {"bpp": 24.0, "psnr": inf, "ssim": 1.0},
                     "autoencoder": {"bpp": ..., "psnr": ..., "ssim": ...},
                     "jpeg":        {"bpp": ..., "psnr": ..., "ssim": ..., "quality": ..., "hit_target": ...,
                                     "target_bpp": ...}}}
    """
    tile = tile_for(image, tile)
    original = compare.crop_to_tiles(image, tile)
    recon = compare.reconstruct(model, image, tile, normalization, bits_per_value)
    bpp = compare.tile_bpp(model, tile, bits_per_value)
    pictures = {"original": original, "autoencoder": recon}
    scores = {"original": {"bpp": 24.0, "psnr": math.inf, "ssim": 1.0}, "autoencoder": _quality(original, recon, bpp)}
    _baselines(original, bpp, codecs, pictures, scores)
    return {"images": pictures, "metrics": scores}


def rate_panel(codec, image: np.ndarray, codecs: Sequence[str] = ("jpeg", "webp")) -> dict[str, Any]:
    """Everything the rate explorer shows for one kit codec (``helpers.codec.Codec``) and one image.

    The image is compressed to real bytes and decompressed; its bpp is ``8 * len(bytes) / (H * W)``. Each of
    ``codecs`` gets the highest quality whose bit rate is at most that. Same layout as :func:`explorer_panel`, with
    the kit codec's picture under ``"codec"`` and its ``"bytes"`` in its metrics.
    """
    data = codec.compress(image)
    decoded = codec.decompress(data)
    h, w = image.shape[:2]
    bpp = metrics.bits_per_pixel(len(data), h, w)
    pictures = {"original": image, "codec": decoded}
    scores = {"original": {"bpp": 24.0, "psnr": math.inf, "ssim": 1.0}, "codec": _quality(image, decoded, bpp)}
    scores["codec"]["bytes"] = len(data)
    _baselines(image, bpp, codecs, pictures, scores)
    return {"images": pictures, "metrics": scores}


def tile_for(image: np.ndarray, tile: int | None) -> int:
    """The side of the tiles ``image`` is coded in: ``tile``, or for ``tile=None`` the side of the whole image
    (which must then be square; a ``ValueError`` says so)."""
    if tile is None:
        h, w = image.shape[:2]
        if h != w:
            raise ValueError(f"tile=None codes the whole image, which must then be square; this one is {h}x{w}. "
                             f"Pass tile= the models' training size")
        return h
    return int(tile)


# ----------------------------------------------------------------------------------------------------- display
def png_data_uri(image: np.ndarray) -> str:
    """A uint8 (H, W, 3) image as a ``data:image/png;base64,...`` URI (lossless: every pixel as it is)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _caption_line(m: Mapping[str, Any]) -> str:
    if math.isinf(m["psnr"]):
        return f"{m['bpp']:.0f} bpp (uncompressed)"
    return f"PSNR {m['psnr']:.2f} dB · SSIM {m['ssim']:.3f} · {m['bpp']:.3f} bpp"


def panel_html(panel: Mapping[str, Any], titles: Mapping[str, str], zoom: int = 1) -> str:
    """HTML for one panel: the pictures side by side (in the order of ``titles``), each titled with its name and
    PSNR, SSIM and bpp. ``titles`` maps a key of ``panel["images"]`` to its title. ``zoom`` scales the pictures by
    an integer factor, keeping pixels square and sharp. Each ``<img>`` has ``alt`` set to its key."""
    cells = []
    for key, title in titles.items():
        image, m = panel["images"][key], panel["metrics"][key]
        lines = [f"<b>{html.escape(title)}</b>", html.escape(_caption_line(m))]
        if "quality" in m:
            lines[0] += f" <span style='font-weight:normal'>(quality {m['quality']})</span>"
            if not m["hit_target"]:
                lines.append(f"<span style='color:#b00'>cannot go down to {m['target_bpp']:.3f} bpp: "
                             f"shown at more bits</span>")
        h, w = image.shape[:2]
        cells.append(
            "<figure style='margin:0 12px 8px 0; display:inline-block; vertical-align:top'>"
            f"<img alt='{html.escape(key)}' src='{png_data_uri(image)}' width='{w * zoom}' height='{h * zoom}' "
            "style='image-rendering:pixelated; max-width:none'>"
            f"<figcaption style='font-size:12px; line-height:1.4'>{'<br>'.join(lines)}</figcaption></figure>"
        )
    return "<div class='kit-explorer'>" + "".join(cells) + "</div>"


def panel_text(panel: Mapping[str, Any], titles: Mapping[str, str]) -> str:
    """The same panel as lines of text, one per picture (the ``text/plain`` beside :func:`panel_html`)."""
    lines = []
    for key, title in titles.items():
        m = panel["metrics"][key]
        extra = f" (quality {m['quality']}{'' if m['hit_target'] else ', above the target'})" if "quality" in m else ""
        lines.append(f"{title}{extra}: {_caption_line(m)}")
    return "\n".join(lines)

