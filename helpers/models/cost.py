"""What a model costs: its parameters, and the multiply-adds of one forward pass (notebook 07)."""

from __future__ import annotations

import torch
from torch import nn

from .running import evaluation_mode

__all__ = ["count_parameters", "count_macs"]


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
