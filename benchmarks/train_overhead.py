"""Overhead of helpers.train.fit against a bare torch loop, measured in one run.

Both sides train the same model (ConvAE with its defaults, from the same initial weights) with Adam (lr 1e-3) and
MSE on the same random 224x224 data, batch 64, the same number of steps, on the CPU, each through a DataLoader
(``num_workers=0``, shuffled by a seeded generator) -- so the difference is what fit adds: its progress bar,
timing, NaN checks, history, best-state copy and per-epoch validation.

What is timed: the whole call. The bare side is ``DataLoader + Adam + the step loop``; the fit side is one
``fit(..., epochs=1, progress=True)`` call, *including* its per-epoch validation, which is kept fair by giving it a
tiny validation set (``--val-images``, default 1 image: one forward pass and one SSIM, a fraction of a percent of
an epoch of training steps). A warm-up run of each side comes first and is not timed; then ``--repeats`` timed runs
of each, alternating which side goes first; each side's throughput is the median over its runs.

Prints both throughputs (images/s, training images only) and, last, ``ratio: X.XX`` (fit / bare; target >= 0.95).
Sizes are flags; the defaults take about 2 minutes on 2 CPU cores (a step of 64 images at 224x224 takes ~4 s).

    python benchmarks/train_overhead.py [--steps 3] [--repeats 3] [--batch-size 64] [--size 224] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, installed or not

from helpers.models import ConvAE  # noqa: E402
from helpers.train import fit  # noqa: E402


def bare_loop(model, data, batch_size, seed) -> float:
    """Seconds for one pass of a plain training loop over ``data``."""
    t0 = time.perf_counter()
    loader = DataLoader(data, batch_size=batch_size, shuffle=True, num_workers=0,
                        generator=torch.Generator().manual_seed(seed))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    for x, y in loader:
        opt.zero_grad(set_to_none=True)
        loss = F.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    loss.item()  # the last loss, as any loop would report it
    return time.perf_counter() - t0


def fit_once(model, data, val, batch_size, seed) -> float:
    """Seconds for one epoch of helpers.train.fit over ``data`` (progress bar on, tiny validation set)."""
    t0 = time.perf_counter()
    fit(model, data, val, epochs=1, lr=1e-3, batch_size=batch_size, seed=seed, device="cpu", progress=True)
    return time.perf_counter() - t0


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=3, help="training steps per timed run (default 3)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each side (default 3)")
    p.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument("--val-images", type=int, default=1, help="validation images for fit (default 1)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    n = args.steps * args.batch_size
    x = torch.rand(n, 3, args.size, args.size)
    data = TensorDataset(x, x)
    v = torch.rand(args.val_images, 3, args.size, args.size)
    val = TensorDataset(v, v)
    warm = TensorDataset(x[: args.batch_size], x[: args.batch_size])
    model0 = ConvAE(image_size=args.size)
    print(f"ConvAE defaults at {args.size}x{args.size}: {sum(p.numel() for p in model0.parameters()):,} parameters; "
          f"batch {args.batch_size}, {args.steps} steps per run, {args.repeats} runs per side, "
          f"{torch.get_num_threads()} threads, validation on {args.val_images} image(s)", flush=True)

    def fresh():
        return copy.deepcopy(model0)

    bare_loop(fresh(), warm, args.batch_size, 0)  # warm-up (allocator, kernels), not timed
    fit_once(fresh(), warm, val, args.batch_size, 0)
    times = {"bare": [], "fit": []}
    for r in range(args.repeats):
        order = ("bare", "fit") if r % 2 == 0 else ("fit", "bare")
        for side in order:
            if side == "bare":
                times[side].append(bare_loop(fresh(), data, args.batch_size, r))
            else:
                times[side].append(fit_once(fresh(), data, val, args.batch_size, r))
        print(f"run {r + 1}: bare {n / times['bare'][-1]:.2f} img/s, fit {n / times['fit'][-1]:.2f} img/s",
              flush=True)
    bare = n / statistics.median(times["bare"])
    fitted = n / statistics.median(times["fit"])
    print(f"bare loop: {bare:.2f} images/s (median of {args.repeats})")
    print(f"fit:       {fitted:.2f} images/s (median of {args.repeats})")
    print(f"ratio: {fitted / bare:.2f}")


if __name__ == "__main__":
    main()
