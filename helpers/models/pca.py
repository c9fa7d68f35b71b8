"""The best linear code of a given size, in closed form: principal component analysis (:class:`PCACode`).

An autoencoder whose encoder and decoder are single dense layers with no activation can at best learn the
``latent_dim`` directions along which the training patches vary most: the principal components. PCA finds them
in one step (a singular value decomposition of the centred patches), with no training at all:

    encode:  z = (x - mean) @ components.T         x flattened to (N, 3*S*S), z of shape (N, latent_dim)
    decode:  x_hat = z @ components + mean           reshaped to (N, 3, S, S)

That makes it a yardstick, not a rival to teach: notebook 06 draws it beside the trained autoencoders to show what a
latent of each size can buy, and so whether a flat quality curve is a limit of the latent or of the training.
An autoencoder that ends far below it does not use what its latent allows: its training falls short, or its
architecture throws away what PCA keeps (max pooling, for one).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import Autoencoder, save_config

__all__ = ["PCACode", "fit_pca"]


class PCACode(Autoencoder):
    """PCA as an autoencoder: ``encode`` projects onto the top ``latent_dim`` principal components, ``decode``
    maps back. Built empty (zero components); :meth:`fit` computes the components from training patches.

    Args:
        latent_dim: number of principal components kept (the latent's size per patch).
        image_size: side S of the square patches (fixed: the components have 3*S*S values each).

    The weights are ``nn.Parameter``s that gradients never touch (``requires_grad=False``): they are saved with
    ``state_dict`` like any model's, and the kit's tools that read a model's device find them. The output is not
    squashed (``output='linear'``): reconstructions are clipped when they are turned back into 8-bit pixels.
    """

    def __init__(self, latent_dim: int = 64, image_size: int = 32) -> None:
        super().__init__()
        save_config(self, locals())  # self.latent_dim, self.image_size and self.config
        if latent_dim < 1 or image_size < 1:
            raise ValueError(f"latent_dim and image_size must be positive, got {latent_dim} and {image_size}")
        self.output = "linear"
        values = 3 * image_size * image_size
        if latent_dim > values:
            raise ValueError(f"PCACode keeps at most 3*S*S = {values} components for {image_size}x{image_size} "
                             f"patches, got latent_dim={latent_dim}")
        self.mean = nn.Parameter(torch.zeros(values), requires_grad=False)
        self.components = nn.Parameter(torch.zeros(latent_dim, values), requires_grad=False)

    @torch.no_grad()
    def fit(self, patches: torch.Tensor) -> "PCACode":
        """Compute the mean and the top ``latent_dim`` principal components of ``patches`` ``(N, 3, S, S)``
        (in the normalization the model will see). Needs at least ``latent_dim`` patches. Returns ``self``."""
        self._check_input(patches)
        if len(patches) < self.latent_dim:
            raise ValueError(f"PCA with latent_dim={self.latent_dim} needs at least that many patches, got "
                             f"{len(patches)}: give more patches or a smaller latent_dim")
        x = patches.reshape(len(patches), -1).double()       # float64: the small components are accurate
        mean = x.mean(dim=0)
        _, _, directions = torch.linalg.svd(x - mean, full_matrices=False)  # rows: components, largest first
        self.mean.copy_(mean.float())
        self.components.copy_(directions[: self.latent_dim].float())
        return self

    def keep(self, latent_dim: int) -> "PCACode":
        """A new fitted :class:`PCACode` with only the first ``latent_dim`` components of this one: the PCA of that
        size, without another decomposition (the components come ordered, largest variance first)."""
        if not 1 <= latent_dim <= self.latent_dim:
            raise ValueError(f"keep({latent_dim}): this PCA has {self.latent_dim} components; "
                             f"keep 1 to {self.latent_dim}")
        smaller = PCACode(latent_dim=latent_dim, image_size=self.image_size)
        with torch.no_grad():
            smaller.mean.copy_(self.mean)
            smaller.components.copy_(self.components[:latent_dim])
        return smaller

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Patches ``(N, 3, S, S)`` -> latent ``(N, latent_dim)``: the coordinates along the components."""
        self._check_input(x)
        return (x.reshape(len(x), -1) - self.mean) @ self.components.T

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``(N, latent_dim)`` -> patches ``(N, 3, S, S)`` (not clipped)."""
        s = self.image_size
        return (z @ self.components + self.mean).reshape(len(z), 3, s, s)

    def latent_shape(self, image_size: int | None = None) -> tuple[int, ...]:
        return (self.latent_dim,)

    def _check_size(self, size: int) -> None:
        if size != self.image_size:
            raise ValueError(f"PCACode was built for {self.image_size}x{self.image_size} patches, got {size}x{size}: "
                             f"build and fit it with image_size={size}")


def fit_pca(patches: torch.Tensor, latent_dim: int) -> PCACode:
    """A :class:`PCACode` with ``latent_dim`` components fitted to ``patches`` ``(N, 3, S, S)``."""
    return PCACode(latent_dim=latent_dim, image_size=patches.shape[-1]).fit(patches)
