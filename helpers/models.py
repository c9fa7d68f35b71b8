"""Autoencoders for image compression, from plain ``torch.nn``.

Two models, both mapping a batch of RGB images ``(N, 3, S, S)`` to a tensor of the same shape:

* :class:`BaselineAE` -- the minimal fully connected autoencoder: flatten, one dense layer down to the latent
  (optionally through a hidden layer), one dense layer back, reshape.
* :class:`ConvAE` -- the course's model: convolution and pooling down to a small feature map, a dense (or 1x1
  convolutional) bottleneck, then upsampling and convolution back to full size.

Both expose ``encode(x) -> z`` and ``decode(z) -> x_hat`` (so notebooks and the codec can reach the latent),
``describe(image_size)`` (parameters, multiply-adds, latent size, compression ratio, bits per pixel) and
``config`` (the keyword arguments that rebuild the model; :func:`build_model` does it, and
``helpers.train.load_checkpoint`` uses it). Every model records its config the same way: the first line of its
``__init__`` after ``super().__init__()`` is ``save_config(self, locals())`` (:func:`save_config`).

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

import inspect
import math
from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

__all__ = [
    "ACTIVATIONS",
    "OUTPUTS",
    "POOLINGS",
    "UPSAMPLES",
    "BOTTLENECKS",
    "BaselineAE",
    "ConvAE",
    "build_model",
    "save_config",
    "evaluation_mode",
    "count_parameters",
    "count_macs",
    "output_range",
    "output_for",
]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
OUTPUTS = ("sigmoid", "tanh", "linear")
POOLINGS = ("max", "avg", "stride")
UPSAMPLES = ("nearest", "bilinear", "transposed")
BOTTLENECKS = ("dense", "conv")

_OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "linear": (-math.inf, math.inf)}


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(map(repr, allowed))}")
    return value


def _activation(name: str) -> nn.Module:
    _choice("activation", name, ACTIVATIONS)
    return {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
    }[name]()


def _output(name: str) -> nn.Module:
    _choice("output", name, OUTPUTS)
    return {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "linear": nn.Identity}[name]()


def output_range(model: nn.Module) -> tuple[float, float]:
    """The interval a model's output can reach: (0, 1) for sigmoid, (-1, 1) for tanh, (-inf, inf) for linear."""
    return _OUTPUT_RANGES[getattr(model, "output", "linear")]


def output_for(normalization: str) -> str:
    """The output activation that matches a ``helpers.data`` normalization: 'unit' -> 'sigmoid',
    'symmetric' -> 'tanh', 'standard' -> 'linear'."""
    pairs = {"unit": "sigmoid", "symmetric": "tanh", "standard": "linear"}
    if normalization not in pairs:
        raise ValueError(f"unknown normalization {normalization!r}; expected one of {', '.join(map(repr, pairs))}")
    return pairs[normalization]


def save_config(model: nn.Module, arguments: dict[str, Any]) -> dict[str, Any]:
    """Record the arguments ``model`` was built with, so :func:`build_model` can rebuild it from ``model.config``.

    Call it as ``save_config(self, locals())`` right after ``super().__init__()``, before any argument is
    changed: it keeps the value of every parameter of the class's ``__init__`` (by its signature, so a new
    argument is recorded without being listed twice) and ignores the other local names. The record is stored
    as ``model._config`` and returned: ``{argument name: value}``.
    """
    names = [n for n in inspect.signature(type(model).__init__).parameters if n != "self"]
    model._config = {n: arguments[n] for n in names}
    return model._config


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode inside the ``with`` block, then restore the mode it had (also after an error).

    Eval mode turns dropout off and makes batch normalization use its running statistics; it does not turn off
    gradients (add ``torch.no_grad()`` for that).
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of one forward pass for ONE image of ``input_shape`` (C, H, W), counted with forward hooks.

    Counts the layers that dominate the cost: ``Conv2d`` (output elements x in-channels/groups x kernel area),
    ``ConvTranspose2d`` (input elements x out-channels/groups x kernel area) and ``Linear`` (in x out per row).
    Biases, batch normalization, activations, pooling and upsampling are left out (each is a few operations per
    element, small next to the convolutions). Runs one forward pass on zeros in eval mode, without gradients.
    """
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += output.numel() * (module.in_channels // module.groups) * k
        elif isinstance(module, nn.ConvTranspose2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            total += inputs[0].numel() * (module.out_channels // module.groups) * k
        elif isinstance(module, nn.Linear):
            total += (output.numel() // module.out_features) * module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    try:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
        with evaluation_mode(model), torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
    return int(total)


class _Describable(nn.Module):
    """Shared ``describe`` / ``config`` / ``output_range`` of the kit's autoencoders."""

    image_size: int
    output: str

    def latent_numel(self, image_size: int | None = None) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def config(self) -> dict[str, Any]:
        """Keyword arguments (plus ``"name"``) that rebuild this model with :func:`build_model` (a new dict each
        time; recorded by :func:`save_config`)."""
        return {"name": type(self).__name__, **self._config}

    def output_range(self) -> tuple[float, float]:
        return _OUTPUT_RANGES[self.output]

    def describe(self, image_size: int | None = None, bits_per_value: float = 8.0) -> dict[str, Any]:
        """What this model costs and how much it compresses, for ``image_size`` x ``image_size`` RGB images.

        Returns a dict with ``parameters``, ``macs`` (multiply-adds per image, see :func:`count_macs`),
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

    def _check_size(self, size: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def latent_shape(self, image_size: int | None = None) -> tuple[int, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
            raise ValueError(
                f"{type(self).__name__} expects a batch of square RGB images (N, 3, S, S), got shape {tuple(x.shape)}"
            )
        self._check_size(int(x.shape[-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class BaselineAE(_Describable):
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
        save_config(self, locals())
        _choice("activation", activation, ACTIVATIONS)
        _choice("output", output, OUTPUTS)
        if latent_dim < 1 or image_size < 1 or pool < 1 or (hidden is not None and hidden < 1):
            raise ValueError("latent_dim, image_size, pool and hidden must be positive integers")
        if image_size % pool:
            raise ValueError(f"image_size={image_size} is not divisible by pool={pool}")
        self.latent_dim = latent_dim
        self.image_size = image_size
        self.output = output
        self.pool = pool
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
        enc.append(nn.Flatten())
        dec: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            enc.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                enc.append(_activation(activation))
        rev = widths[::-1]
        for i, (a, b) in enumerate(zip(rev[:-1], rev[1:])):
            dec.append(nn.Linear(a, b))
            if i < len(rev) - 2:
                dec.append(_activation(activation))
        dec += [_output(output), nn.Unflatten(1, (3, inner, inner))]
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

    def latent_numel(self, image_size: int | None = None) -> int:
        return self.latent_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, S, S)`` -> latent vectors ``(N, latent_dim)``."""
        self._check_input(x)
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent vectors ``(N, latent_dim)`` -> images ``(N, 3, S, S)``."""
        return self.decoder(z)


class ConvAE(_Describable):
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
        save_config(self, locals())
        _choice("activation", activation, ACTIVATIONS)
        _choice("pooling", pooling, POOLINGS)
        _choice("upsample", upsample, UPSAMPLES)
        _choice("bottleneck", bottleneck, BOTTLENECKS)
        _choice("output", output, OUTPUTS)
        if latent_dim < 1 or depth < 1 or width < 1:
            raise ValueError(f"latent_dim, depth and width must be positive, got {latent_dim}, {depth}, {width}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.latent_dim = latent_dim
        self.depth = depth
        self.width = width
        self.bottleneck = bottleneck
        self.output = output
        self.image_size = image_size
        self._check_size(image_size)

        chans = [width * 2**i for i in range(depth)]
        bias = not batch_norm  # a bias right before BatchNorm is redundant

        def post(c: int) -> list[nn.Module]:
            layers: list[nn.Module] = [nn.BatchNorm2d(c)] if batch_norm else []
            layers.append(_activation(activation))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            return layers

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
        act = _activation(activation)
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
        dec += [nn.Conv2d(width, 3, 3, padding=1), _output(output)]
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

    def latent_numel(self, image_size: int | None = None) -> int:
        return math.prod(self.latent_shape(image_size))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, S, S)`` -> latent: ``(N, latent_dim)`` (dense) or ``(N, latent_dim, S/2**d, S/2**d)``."""
        self._check_input(x)
        return self.to_latent(self.features(x))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent (as returned by :meth:`encode`) -> images ``(N, 3, S, S)`` in the output's range."""
        return self.reconstruct(self.from_latent(z))


_MODELS = {"BaselineAE": BaselineAE, "ConvAE": ConvAE}


def build_model(config: dict[str, Any]) -> nn.Module:
    """Rebuild a model from its ``config`` (a dict with ``"name"`` and the constructor's keyword arguments)."""
    config = dict(config)
    name = config.pop("name", None)
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(_MODELS)}")
    return _MODELS[name](**config)
