"""The course's convolutional autoencoder (:class:`ConvAE`, notebooks 04 to 08)."""

from __future__ import annotations

import torch
from torch import nn

from ..params import check_choice
from . import layers
from .base import Autoencoder, save_config

__all__ = ["ConvAE"]


class ConvAE(Autoencoder):
    """The course's convolutional autoencoder.

    Encoder: ``depth`` blocks, block ``i`` with ``c_i = width * 2**i`` channels:
    ``Conv3x3 -> [BatchNorm] -> activation -> [Dropout] -> pool`` (``pooling='max'|'avg'``: 2x2 pooling;
    ``'stride'``: the convolution itself has stride 2 and there is no pooling layer). Each block halves the side,
    so an ``S x S`` image becomes a ``c_{depth-1} x S/2**depth x S/2**depth`` feature map.

    Bottleneck:
      * ``'dense'`` (default): flatten, ``Linear`` to ``latent_dim`` (the latent ``z``, shape ``(N, latent_dim)``),
        then ``Linear`` back and activation, reshape. Dense layers fix the input size, so the model is built for
        ``image_size`` (default 224) and refuses others.
      * ``'conv'``: a 1x1 convolution to ``latent_dim`` channels (``z`` is a feature map
        ``(N, latent_dim, S/2**depth, S/2**depth)``), a 1x1 convolution back and activation. Fully
        convolutional: any ``S`` divisible by ``2**depth`` works, and the latent grows with the image.

    Decoder: ``depth`` blocks mirroring the encoder, each doubling the side: ``upsample='nearest'|'bilinear'``
    upsamples by 2 then applies a 3x3 convolution (no checkerboard artifacts); ``'transposed'`` uses a
    ``ConvTranspose2d`` with kernel 4 and stride 2 (kernel divisible by the stride, which limits the
    checkerboard artifacts of uneven overlap). Then ``[BatchNorm] -> activation -> [Dropout]``, and a final
    3x3 convolution to 3 channels with the ``output`` activation.

    Args:
        latent_dim: size of the latent vector (dense bottleneck) or its number of channels (conv bottleneck).
        depth: number of down (and up) blocks; the input side must be divisible by ``2**depth``.
        width: channels of the first block; doubled at each block down.
        activation: hidden activation: 'relu' (default), 'tanh', 'sigmoid' or 'leaky_relu' (slope 0.2).
        batch_norm: BatchNorm2d after each hidden convolution.
        dropout: dropout probability after each hidden activation (0 disables it).
        pooling: 'max' (default), 'avg' or 'stride' (strided convolution).
        upsample: 'nearest' (default), 'bilinear' or 'transposed'.
        bottleneck: 'dense' (default) or 'conv'.
        output: 'sigmoid' (default; targets in [0, 1], ``normalization='unit'``), 'tanh' (targets in [-1, 1],
            ``normalization='symmetric'``) or 'linear' (``'standard'``). See the module docstring.
        image_size: side of the input images; fixed for the dense bottleneck, only the default for ``describe``
            with the conv bottleneck.
    """

    def __init__(
        self,
        latent_dim: int = 256,
        depth: int = 4,
        width: int = 16,
        activation: str = "relu",
        batch_norm: bool = False,
        dropout: float = 0.0,
        pooling: str = "max",
        upsample: str = "nearest",
        bottleneck: str = "dense",
        output: str = "sigmoid",
        image_size: int = 224,
    ) -> None:
        super().__init__()
        save_config(self, locals())  # self.latent_dim, self.depth, self.width, ... and self.config
        check_choice("activation", activation, layers.ACTIVATIONS)
        check_choice("pooling", pooling, layers.POOLINGS)
        check_choice("upsample", upsample, layers.UPSAMPLES)
        check_choice("bottleneck", bottleneck, layers.BOTTLENECKS)
        check_choice("output", output, layers.OUTPUTS)
        if latent_dim < 1 or depth < 1 or width < 1:
            raise ValueError(f"latent_dim, depth and width must be positive, got {latent_dim}, {depth}, {width}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self._check_size(image_size)

        chans = [width * 2**i for i in range(depth)]
        bias = not batch_norm  # a bias right before BatchNorm is redundant

        def post(c: int) -> list[nn.Module]:
            after: list[nn.Module] = [nn.BatchNorm2d(c)] if batch_norm else []
            after.append(layers.activation(activation))
            if dropout > 0:
                after.append(nn.Dropout(dropout))
            return after

        enc: list[nn.Module] = []
        c_in = 3
        for c in chans:
            stride = 2 if pooling == "stride" else 1
            enc += [nn.Conv2d(c_in, c, 3, stride=stride, padding=1, bias=bias), *post(c)]
            if pooling == "max":
                enc.append(nn.MaxPool2d(2))
            elif pooling == "avg":
                enc.append(nn.AvgPool2d(2))
            c_in = c
        self.features = nn.Sequential(*enc)

        c_top = chans[-1]
        side = image_size // 2**depth
        self._top = (c_top, side, side)
        act = layers.activation(activation)
        if bottleneck == "dense":
            self.to_latent = nn.Sequential(nn.Flatten(), nn.Linear(c_top * side * side, latent_dim))
            self.from_latent = nn.Sequential(nn.Linear(latent_dim, c_top * side * side), act,
                                             nn.Unflatten(1, self._top))
        else:
            self.to_latent = nn.Conv2d(c_top, latent_dim, 1)
            self.from_latent = nn.Sequential(nn.Conv2d(latent_dim, c_top, 1), act)

        dec: list[nn.Module] = []
        outs = [width] + chans[:-1]  # block i goes from chans[i] to chans[i-1] (width for the last one)
        for c, c_out in zip(reversed(chans), reversed(outs)):
            if upsample == "transposed":
                dec.append(nn.ConvTranspose2d(c, c_out, 4, stride=2, padding=1, bias=bias))
            else:
                up = nn.Upsample(scale_factor=2, mode=upsample,
                                 **({"align_corners": False} if upsample == "bilinear" else {}))
                dec += [up, nn.Conv2d(c, c_out, 3, padding=1, bias=bias)]
            dec += post(c_out)
        dec += [nn.Conv2d(width, 3, 3, padding=1), layers.output_activation(output)]
        self.reconstruct = nn.Sequential(*dec)

    def _check_size(self, size: int) -> None:
        step = 2**self.depth
        if size < step or size % step:
            raise ValueError(
                f"ConvAE with depth={self.depth} needs an image side divisible by 2**depth={step}, got {size} "
                f"(resize or crop to {max(step, size // step * step)}, or lower depth)"
            )
        if self.bottleneck == "dense" and size != self.image_size:
            raise ValueError(
                f"ConvAE with a dense bottleneck was built for {self.image_size}x{self.image_size} images, got "
                f"{size}x{size}: build it with image_size={size}, or use bottleneck='conv' for any size"
            )

    def latent_shape(self, image_size: int | None = None) -> tuple[int, ...]:
        size = self.image_size if image_size is None else image_size
        if self.bottleneck == "dense":
            return (self.latent_dim,)
        side = size // 2**self.depth
        return (self.latent_dim, side, side)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, S, S)`` -> latent: ``(N, latent_dim)`` (dense) or ``(N, latent_dim, S/2**d, S/2**d)``."""
        self._check_input(x)
        return self.to_latent(self.features(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (as returned by :meth:`encode`) -> images ``(N, 3, S, S)`` in the output's range."""
        return self.reconstruct(self.from_latent(z))
