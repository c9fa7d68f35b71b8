"""What a model costs: its parameters, the multiply-adds of one forward pass, and the measured seconds of one
optimizer step (notebook 07)."""

from __future__ import annotations

import copy
import statistics
import time

import torch
from torch import nn

from .running import evaluation_mode

__all__ = ["count_parameters", "count_macs", "seconds_per_step"]


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


def seconds_per_step(model: nn.Module, batch: torch.Tensor, *, warmup: int = 3, repeats: int = 10,
                     lr: float = 1e-3) -> float:
    """Median wall time in seconds of one training step of ``model`` on ``batch`` ``(N, C, H, W)``, after a warm-up.

    One step is what ``helpers.train.train_one_epoch`` does per batch: zero the gradients, forward, MSE loss
    against the batch itself, backward, an Adam step. The first ``warmup`` steps are run and not timed (memory
    allocation and the first calls of each kernel make them slower: they measure the first run, not the model);
    then ``repeats`` steps are timed one by one and their median is returned (robust to a step slowed by another
    process). The model is not changed: the steps train a copy of it, on the device of its parameters.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}")
    if batch.dim() != 4:
        raise ValueError(f"batch must be (N, C, H, W), got shape {tuple(batch.shape)}")
    trial = copy.deepcopy(model).train()
    p = next(trial.parameters(), None)
    if p is None:
        raise ValueError("seconds_per_step needs a model with parameters to train")
    x = batch.to(p.device)
    optimizer = torch.optim.Adam(trial.parameters(), lr=lr)

    def step() -> None:
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(trial(x), x).backward()
        optimizer.step()
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return float(statistics.median(times))
