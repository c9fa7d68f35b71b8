"""The minimal fully connected autoencoder of notebook 03 (:class:`BaselineAE`)."""

from __future__ import annotations

import torch
from torch import nn

from ..params import check_choice
from . import layers
from .base import Autoencoder, save_config

__all__ = ["BaselineAE"]


class BaselineAE(Autoencoder):
    """The minimal fully connected autoencoder.

    ``x (N,3,S,S) -> [avg-pool by pool] -> flatten -> Linear -> [act -> Linear] -> z (N, latent_dim)``
    and back: ``z -> [Linear -> act] -> Linear -> output activation -> reshape -> [upsample by pool]``.

    Args:
        latent_dim: size of the latent vector per image.
        image_size: side S of the square input images (a dense layer needs it fixed).
        hidden: width of an optional hidden layer on each side (``None``: a single dense layer each way).
        activation: activation of the hidden layer ('relu', 'tanh', 'sigmoid', 'leaky_relu').
        output: 'sigmoid' (targets in [0, 1], the default), 'tanh' ([-1, 1], ``normalization='symmetric'``)
            or 'linear' (``'standard'``). See the module docstring.
        pool: side of an average-pooling front (and bilinear upsampling back); 1 means none. Dense layers on
            raw pixels grow with S*S: at 224x224 one ``Linear(150528, 64)`` already has 9.6 M weights, and a
            hidden layer of 512 makes it 154 M. ``pool=4`` works on 56x56 instead (16x fewer weights) at the
            price of detail the model can never reconstruct.
        max_parameters: refuse to build a model larger than this (default 50 M, about 200 MB of float32) with
            a message that suggests ``pool`` or a smaller ``image_size``.
    """

    def __init__(
        self,
        latent_dim: int = 64,
        image_size: int = 32,
        hidden: int | None = None,
        activation: str = "relu",
        output: str = "sigmoid",
        pool: int = 1,
        max_parameters: int = 50_000_000,
    ) -> None:
        super().__init__()
        save_config(self, locals())  # self.latent_dim, self.image_size, self.output, self.pool, ... and self.config
        check_choice("activation", activation, layers.ACTIVATIONS)
        check_choice("output", output, layers.OUTPUTS)
        if latent_dim < 1 or image_size < 1 or pool < 1 or (hidden is not None and hidden < 1):
            raise ValueError("latent_dim, image_size, pool and hidden must be positive integers")
        if image_size % pool:
            raise ValueError(f"image_size={image_size} is not divisible by pool={pool}")
        inner = image_size // pool
        n_in = 3 * inner * inner
        widths = [n_in] + ([hidden] if hidden else []) + [latent_dim]
        n_params = sum((a + 1) * b + (b + 1) * a for a, b in zip(widths[:-1], widths[1:]))
        if n_params > max_parameters:
            raise ValueError(
                f"BaselineAE at {image_size}x{image_size} (pool={pool}, hidden={hidden}) would have "
                f"{n_params:,} parameters, more than max_parameters={max_parameters:,}. Dense layers on raw pixels "
                f"grow with the image area: use pool=4 or 8 (average-pool the input first), a smaller image_size, "
                f"no hidden layer, or ConvAE; or raise max_parameters if you really mean it."
            )
        enc: list[nn.Module] = [nn.AvgPool2d(pool)] if pool > 1 else []
        enc += [nn.Flatten(), *_dense_stack(widths, activation)]
        dec = [*_dense_stack(widths[::-1], activation), layers.output_activation(output),
               nn.Unflatten(1, (3, inner, inner))]
        if pool > 1:
            dec.append(nn.Upsample(scale_factor=pool, mode="bilinear", align_corners=False))
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def _check_size(self, size: int) -> None:
        if size != self.image_size:
            raise ValueError(
                f"BaselineAE was built for {self.image_size}x{self.image_size} images, got {size}x{size}: "
                f"build it with image_size={size} (its dense layers fix the input size)"
            )

    def latent_shape(self, image_size: int | None = None) -> tuple[int, ...]:
        return (self.latent_dim,)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, S, S)`` -> latent vectors ``(N, latent_dim)``."""
        self._check_input(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent vectors ``(N, latent_dim)`` -> images ``(N, 3, S, S)``."""
        return self.decoder(z)


def _dense_stack(widths: list[int], activation: str) -> list[nn.Module]:
    """``Linear(widths[0], widths[1])``, then ``activation``, ... ending with ``Linear(widths[-2], widths[-1])``."""
    stack: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        stack.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            stack.append(layers.activation(activation))
    return stack
