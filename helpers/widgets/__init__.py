"""Interactive explorers for the notebooks: drag a slider, see what the bits buy.

* :func:`latent_explorer` (notebook 06): a slider over the latent sizes of trained autoencoders and an image
  chooser; shows the original, the autoencoder's reconstruction and JPEG at the same bits per pixel.
* :func:`rate_explorer` (notebook 08): a slider over the kit's codec checkpoints (one per lambda); shows the
  original, the codec's decoded image (bpp from the real byte stream) and JPEG and WebP at the same bit rate.

Each explorer is an ``ipywidgets.VBox`` whose parts are attributes, so a test (or a curious student) can drive it
without a browser: setting ``explorer.slider.value`` runs the same callback a drag runs in JupyterLab::

    explorer = latent_explorer(models, images, normalization, tile=64)
    explorer                          # in a notebook: shows the widget
    explorer.slider.value = 64        # the 64-number latent
    explorer.chooser.value = 2        # the third image
    explorer.panel["metrics"]         # what is shown now: PSNR, SSIM and bpp of each picture
    explorer.cache                    # {(latent, image index): panel} computed so far

The work is done by plain functions -- :func:`explorer_panel`, :func:`rate_panel` and :func:`panel_html` -- that
return ordinary dicts and strings; the widgets only wire them to the slider. Pictures are computed on demand (the
first time a setting is shown) and cached. The package, one concern per module (every name is here too):

    panels     what one view shows, as plain data (pictures, PSNR, SSIM, bpp) and as HTML; no ipywidgets
    explorers  the two explorers: checks of their arguments, a slider and an image chooser wired to the panels

The pictures are shown as PNGs at their true pixel size in the explorer's ``Output`` widget (set directly on its
``outputs``, never printed), so every pixel you see is a pixel the codec produced: a matplotlib figure would
resample the images and blur exactly the artifacts the explorer is meant to show. Nothing is printed into the
notebook cell, so nbval sees no stray output.

Fair comparison: JPEG and WebP get the highest quality whose bit rate is at most the other method's
(``helpers.metrics.codec_at_bpp``). When even quality 1 needs more bits (JPEG cannot go below about 0.2 bpp on
photos), the caption says so: the baseline is then shown at more bits than the method it is compared with.
"""

import ipywidgets as widgets  # noqa: F401 - ``helpers.widgets.widgets`` is ipywidgets, as it always was

from ..models import torch_threads
from .explorers import check_images, latent_explorer, rate_explorer, show_html
from .panels import CODEC_NAMES, explorer_panel, panel_html, png_data_uri, rate_panel

__all__ = [
    "latent_explorer",
    "rate_explorer",
    "explorer_panel",
    "rate_panel",
    "panel_html",
    "check_images",
    "png_data_uri",
    "torch_threads",
]
