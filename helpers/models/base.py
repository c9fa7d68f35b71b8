"""What every autoencoder of the kit shares: one way to record its config, and :class:`Autoencoder`.

:func:`save_config` is the one way a model records the arguments it was built with: the first line of its
``__init__`` after ``super().__init__()`` is ``save_config(self, locals())``. ``model.config`` then gives them back
(with the class name), and ``helpers.models.build_model(model.config)`` rebuilds the same model: that is how
``helpers.train`` checkpoints bring a model back.

:class:`Autoencoder` is the base of ``BaselineAE`` and ``ConvAE``: a subclass gives ``encode``, ``decode``,
``latent_shape`` and ``_check_size``; the base adds ``forward`` (decode of encode), ``config``, ``output_range``
and ``describe`` (parameters, multiply-adds, latent size, compression ratio, bits per pixel).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import nn

from .cost import count_macs, count_parameters
from .layers import OUTPUT_RANGES

__all__ = ["save_config", "Autoencoder"]


def save_config(model: nn.Module, arguments: dict[str, Any]) -> dict[str, Any]:
    """Record the arguments ``model`` was built with, so ``build_model`` can rebuild it from ``model.config``.

    Call it as ``save_config(self, locals())`` right after ``super().__init__()``, before any argument is
    changed: it keeps the value of every parameter of the class's ``__init__`` (by its signature, so a new
    argument is recorded without being listed twice) and ignores the other local names. The record is stored
    as ``model._config`` and returned: ``{argument name: value}``. Each argument is also kept as an attribute of
    the same name (``self.latent_dim``, ``self.image_size``, ...), so a model does not copy them by hand.
    """
    names = [n for n in inspect.signature(type(model).__init__).parameters if n != "self"]
    model._config = {n: arguments[n] for n in names}
    for name, value in model._config.items():
        setattr(model, name, value)
    return model._config


class Autoencoder(nn.Module):
    """The base of the kit's autoencoders: ``forward``, ``config``, ``output_range`` and ``describe``.

    A subclass records its arguments with :func:`save_config` (which sets ``self.image_size`` and
    ``self.output``) and defines ``encode(x) -> z``, ``decode(z) -> x_hat``, ``latent_shape(image_size)`` and
    ``_check_size(size)`` (raise a ``ValueError`` that says what to do when the model cannot take that size).
    """

    image_size: int
    output: str

    def encode(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def latent_shape(self, image_size: int | None = None) -> tuple[int, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_size(self, size: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, S, S)`` -> reconstructions of the same shape, in the output's range."""
        return self.decode(self.encode(x))

    def latent_numel(self, image_size: int | None = None) -> int:
        """Numbers per image in the latent (the product of :meth:`latent_shape`)."""
        return math.prod(self.latent_shape(image_size))

    @property
    def config(self) -> dict[str, Any]:
        """Keyword arguments (plus ``"name"``) that rebuild this model with ``build_model`` (a new dict each
        time; recorded by :func:`save_config`)."""
        return {"name": type(self).__name__, **self._config}

    def output_range(self) -> tuple[float, float]:
        """The interval the output can reach (``helpers.models.layers.OUTPUT_RANGES``)."""
        return OUTPUT_RANGES[self.output]

    def describe(self, image_size: int | None = None, bits_per_value: float = 8.0) -> dict[str, Any]:
        """What this model costs and how much it compresses, for ``image_size`` x ``image_size`` RGB images.

        Returns a dict with ``parameters``, ``macs`` (multiply-adds per image, see ``count_macs``),
        ``latent_size`` (numbers per image in the latent), ``latent_shape``, ``bits_per_value``,
        ``compression_ratio`` (8-bit RGB bits / latent bits = ``3*S*S*8 / (latent_size * bits_per_value)``) and
        ``bpp`` (latent bits per pixel = ``latent_size * bits_per_value / (S*S)``). The ratio and bpp describe
        a latent stored at a fixed number of bits per value, before any entropy coding.
        """
        size = self.image_size if image_size is None else int(image_size)
        self._check_size(size)
        latent = self.latent_numel(size)
        bits = float(bits_per_value)
        if bits <= 0:
            raise ValueError(f"bits_per_value must be positive, got {bits_per_value}")
        return {
            "model": type(self).__name__,
            "image_size": size,
            "parameters": count_parameters(self),
            "macs": count_macs(self, (3, size, size)),
            "latent_shape": tuple(self.latent_shape(size)),
            "latent_size": latent,
            "bits_per_value": bits,
            "compression_ratio": (3 * size * size * 8) / (latent * bits),
            "bpp": latent * bits / (size * size),
        }

    def _check_input(self, x: torch.Tensor) -> None:
        """Refuse anything but a batch of square RGB images of a size this model takes."""
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
            raise ValueError(
                f"{type(self).__name__} expects a batch of square RGB images (N, 3, S, S), got shape {tuple(x.shape)}"
            )
        self._check_size(int(x.shape[-1]))
