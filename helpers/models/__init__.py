"""Autoencoders for image compression, from plain ``torch.nn``.

Two models, both mapping a batch of RGB images ``(N, 3, S, S)`` to a tensor of the same shape (and a yardstick
computed in closed form, :class:`PCACode`, the best linear code: see ``pca``):

* :class:`BaselineAE` -- the minimal fully connected autoencoder: flatten, one dense layer down to the latent
  (optionally through a hidden layer), one dense layer back, reshape.
* :class:`ConvAE` -- the course's model: convolution and pooling down to a small feature map, a dense (or 1x1
  convolutional) bottleneck, then upsampling and convolution back to full size.

Both expose ``encode(x) -> z`` and ``decode(z) -> x_hat`` (so notebooks and the codec can reach the latent),
``describe(image_size)`` (parameters, multiply-adds, latent size, compression ratio, bits per pixel) and
``config`` (the keyword arguments that rebuild the model; :func:`build_model` does it, and
``helpers.train.load_checkpoint`` uses it). Every model records its config the same way: the first line of its
``__init__`` after ``super().__init__()`` is ``save_config(self, locals())`` (:func:`save_config`).

The package, one concern per module, each read top to bottom (``from helpers.models import X`` gives every name
below, as does ``from helpers import models; models.X``):

    layers    the knobs (ACTIVATIONS, OUTPUTS, ...), the layers they name, output_range and output_for
    running   evaluation_mode and torch_threads: run a model in a setting, then restore the setting
    cost      count_parameters, count_macs, seconds_per_step
    base      save_config (the one way to record a model's config) and Autoencoder, the models' shared base
    dense     BaselineAE (notebook 03)
    conv      ConvAE (notebooks 04 to 08)
    pca       PCACode and fit_pca: the best linear code, in closed form (the yardstick of notebook 06)

and here, :func:`build_model`: a model back from its ``config``.

:func:`evaluation_mode` is the one way to run a model in eval mode and put it back as it was::

    with evaluation_mode(model), torch.no_grad():
        out = model(x)           # dropout off, batch norm on its running statistics; the mode is restored after

Output range and normalization must agree
-----------------------------------------
A sigmoid output lives in ``[0, 1]``: it cannot reach targets normalized to ``[-1, 1]`` or by mean/std, and the
loss would then measure an error the model can never remove. The rule in this kit (``helpers.data`` gives inputs
and targets the same ``normalization``):

* ``normalization='unit'`` (the default) gives targets in ``[0, 1]``; ``output='sigmoid'`` (the default) matches.
* ``normalization='symmetric'`` gives ``[-1, 1]``; pair it with ``output='tanh'``.
* ``normalization='standard'`` (mean/std) is unbounded; pair it with ``output='linear'``.

:func:`output_for` gives that pairing, and ``helpers.train.fit`` warns when a model's output range cannot
reach the training targets. Metrics are always computed after mapping outputs and targets back to 8-bit pixels
(``fit`` uses the dataset's ``target_normalization.inverse``), so the numbers compare whatever the choice.
:func:`output_range` tells which interval a model's output can reach.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .base import Autoencoder, save_config
from .conv import ConvAE
from .cost import count_macs, count_parameters, seconds_per_step
from .dense import BaselineAE
from .layers import ACTIVATIONS, BOTTLENECKS, OUTPUTS, POOLINGS, UPSAMPLES, output_for, output_range
from .pca import PCACode, fit_pca
from .running import evaluation_mode, torch_threads

__all__ = [
    "ACTIVATIONS",
    "OUTPUTS",
    "POOLINGS",
    "UPSAMPLES",
    "BOTTLENECKS",
    "Autoencoder",
    "BaselineAE",
    "ConvAE",
    "PCACode",
    "fit_pca",
    "build_model",
    "save_config",
    "evaluation_mode",
    "torch_threads",
    "count_parameters",
    "count_macs",
    "output_range",
    "output_for",
]

_MODELS = {"BaselineAE": BaselineAE, "ConvAE": ConvAE, "PCACode": PCACode}


def build_model(config: dict[str, Any]) -> nn.Module:
    """Rebuild a model from its ``config`` (a dict with ``"name"`` and the constructor's keyword arguments)."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(_MODELS)}")
    return _MODELS[name](**config)
