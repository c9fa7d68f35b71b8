"""The knobs of the kit's autoencoders and the layers they name; which output activation fits which targets.

Each knob is a string from a short tuple (``ACTIVATIONS``, ``OUTPUTS``, ...); a value outside it is refused by
the kit's one check of a choice, ``helpers.params.check_choice`` (a ``ParameterError``, a ``ValueError``, that
names the value and lists the allowed ones). :func:`activation` and :func:`output_activation` turn a name into a
fresh ``nn.Module``.

:func:`output_for` pairs a ``helpers.data`` normalization with the output activation that can reach its targets
('unit' -> 'sigmoid', 'symmetric' -> 'tanh', 'standard' -> 'linear'); :func:`output_range` tells the interval a
model's output can reach.
"""

from __future__ import annotations

import math

from torch import nn

from ..params import check_choice

__all__ = ["ACTIVATIONS", "OUTPUTS", "POOLINGS", "UPSAMPLES", "BOTTLENECKS", "activation", "output_activation",
           "OUTPUT_RANGES", "output_range", "output_for"]

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
OUTPUTS = ("sigmoid", "tanh", "linear")
POOLINGS = ("max", "avg", "stride")
UPSAMPLES = ("nearest", "bilinear", "transposed")
BOTTLENECKS = ("dense", "conv")

#: The interval each output activation can reach.
OUTPUT_RANGES = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "linear": (-math.inf, math.inf)}


def activation(name: str) -> nn.Module:
    """A new hidden activation layer: 'relu', 'tanh', 'sigmoid' or 'leaky_relu' (slope 0.2)."""
    check_choice("activation", name, ACTIVATIONS)
    return {
        "relu": nn.ReLU,
        "tanh": nn.Tanh,
        "sigmoid": nn.Sigmoid,
        "leaky_relu": lambda: nn.LeakyReLU(0.2),
    }[name]()


def output_activation(name: str) -> nn.Module:
    """A new output layer: 'sigmoid' (into [0, 1]), 'tanh' (into [-1, 1]) or 'linear' (unbounded, ``nn.Identity``)."""
    check_choice("output", name, OUTPUTS)
    return {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "linear": nn.Identity}[name]()


def output_range(model: nn.Module) -> tuple[float, float]:
    """The interval a model's output can reach: (0, 1) for sigmoid, (-1, 1) for tanh, (-inf, inf) for linear."""
    return OUTPUT_RANGES[getattr(model, "output", "linear")]


def output_for(normalization: str) -> str:
    """The output activation that matches a ``helpers.data`` normalization: 'unit' -> 'sigmoid',
    'symmetric' -> 'tanh', 'standard' -> 'linear'."""
    pairs = {"unit": "sigmoid", "symmetric": "tanh", "standard": "linear"}
    if normalization not in pairs:
        raise ValueError(f"unknown normalization {normalization!r}; expected one of {', '.join(map(repr, pairs))}")
    return pairs[normalization]
