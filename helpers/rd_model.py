"""A rate-distortion autoencoder in the spirit of Balle et al.'s factorized prior, from plain torch.nn.

    x --g_a--> y --quantize--> y_hat --g_s--> x_hat            rate = -log2 p(y_hat), p learned per channel

* ``g_a`` (analysis): four 5x5 convolutions with stride 2 (the latent is 16x smaller on each side), with
  GDN between them. ``g_s`` (synthesis): four 4x4 transposed convolutions with stride 2 and inverse GDN.
  The transposed kernels are 4, divisible by the stride 2, so every output pixel gets the same number of
  kernel taps and there is no checkerboard pattern (Odena et al. 2016); 5x5 with stride 2 would have one.
* Why GDN rather than ReLU: generalized divisive normalization (Balle et al. 2016) divides each channel by
  a learned norm of all channels at the same position. It Gaussianizes the responses of natural images and,
  for a given rate-distortion, lets a network be several times smaller than with ReLU, which is what makes a
  sub-megabyte model trainable on a CPU in minutes. It costs one 1x1 convolution per layer.
* Quantization: during training ``y + u``, ``u ~ U(-1/2, 1/2)`` (a differentiable stand-in whose density
  is the learned density convolved with a unit box); at test ``round(y)``.
* Loss (``rd_loss``): ``lambda * 255**2 * MSE + bpp``: MSE on [0, 1] pixels times 255**2 is the MSE in
  8-bit units, so lambda has the same scale as CompressAI's (0.0018 .. 0.0483 span its quality levels).

Checkpoints (``save_checkpoint`` / ``load_checkpoint``) hold the config, the weights (float16, to keep the
shipped files small; loaded back as float32) and the integer CDF tables that the codec codes with.
``write_checkpoint`` / ``model_from_checkpoint`` do it for either model kind (``helpers.hyperprior`` saves its
checkpoints with them, under its own format mark); ``helpers.codec`` reads both kinds.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .entropy import CdfTables, FactorizedDensity
from .files import atomic_output, load_torch_file
from .models import save_config

STRIDE = 16                 # the latent is this many times smaller than the image on each side
FORMAT = "helpers.rd_model/1"


class GDN(nn.Module):
    """Generalized divisive normalization: ``y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j**2)``.

    ``inverse=True`` gives IGDN (multiply instead of divide), used in the synthesis transform. beta and gamma
    must stay positive; they are stored as square roots (``beta = b**2 + eps``, ``gamma = g**2``), with a
    small nonzero off-diagonal start so those entries receive gradient.
    """

    def __init__(self, channels: int, inverse: bool = False, eps: float = 1e-6):
        super().__init__()
        self.inverse = inverse
        self.eps = eps
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        gamma = 0.1 * torch.eye(channels) + 1e-4
        self.gamma_sqrt = nn.Parameter(gamma.sqrt())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        beta = self.beta_sqrt ** 2 + self.eps
        gamma = (self.gamma_sqrt ** 2).view(c, c, 1, 1)
        norm = F.conv2d(x * x, gamma, beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def _down(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=5, stride=2, padding=2)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, kernel_size=4, stride=2, padding=1)


def analysis_transform(channels: int, latent_channels: int) -> nn.Sequential:
    """``g_a``: four 5x5 stride-2 convolutions with GDN between them, (B, 3, H, W) -> (B, M, H/16, W/16)."""
    n, m = channels, latent_channels
    return nn.Sequential(_down(3, n), GDN(n), _down(n, n), GDN(n), _down(n, n), GDN(n), _down(n, m))


def synthesis_transform(channels: int, latent_channels: int) -> nn.Sequential:
    """``g_s``: four 4x4 stride-2 transposed convolutions with inverse GDN between them, back to 3 channels."""
    n, m = channels, latent_channels
    return nn.Sequential(_up(m, n), GDN(n, inverse=True), _up(n, n), GDN(n, inverse=True),
                         _up(n, n), GDN(n, inverse=True), _up(n, 3))


class FactorizedPriorModel(nn.Module):
    """Analysis/synthesis transforms with ``channels`` hidden and ``latent_channels`` latent channels."""

    stride = STRIDE

    def __init__(self, channels: int = 64, latent_channels: int = 64):
        super().__init__()
        channels, latent_channels = int(channels), int(latent_channels)
        self.config = save_config(self, locals())       # {"channels": ..., "latent_channels": ...}
        self.g_a = analysis_transform(channels, latent_channels)
        self.g_s = synthesis_transform(channels, latent_channels)
        self.density = FactorizedDensity(latent_channels)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (B, 3, H, W) with H, W multiples of 16 -> latents (B, M, H/16, W/16)."""
        return self.g_a(x - 0.5)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Latents -> reconstructions (not clamped: clamp to [0, 1] before measuring)."""
        return self.g_s(y_hat) + 0.5

    def forward(self, x: torch.Tensor, ste: bool = False) -> dict:
        """Returns x_hat, y_hat and the likelihoods of y_hat.

        Eval mode: ``y_hat = round(y)``. Training mode: ``y_hat = y + u``, ``u ~ U(-1/2, 1/2)`` for the rate; the
        synthesis sees the same noisy latent, or with ``ste=True`` the rounded one with a straight-through
        gradient ("mixed" quantization, Minnen & Singh 2020: the decoder then trains on what it decodes at test).
        """
        y = self.analysis(x)
        if not self.training:
            y_hat = torch.round(y)
            return {"x_hat": self.synthesis(y_hat), "y_hat": y_hat, "likelihoods": self.density.likelihood(y_hat)}
        y_noisy = y + torch.empty_like(y).uniform_(-0.5, 0.5)
        y_dec = y + (torch.round(y) - y).detach() if ste else y_noisy
        return {"x_hat": self.synthesis(y_dec), "y_hat": y_noisy, "likelihoods": self.density.likelihood(y_noisy)}

    def tabulate(self) -> CdfTables:
        return self.density.tabulate()


def total_bits(likelihoods) -> torch.Tensor:
    """``-log2`` of every likelihood, summed: the ideal code length in bits. ``likelihoods`` is a tensor (the
    factorized prior's y) or a dict of tensors (a hyperprior's ``{"y": ..., "z": ...}``)."""
    if isinstance(likelihoods, dict):
        return sum(total_bits(p) for p in likelihoods.values())
    return -torch.log2(likelihoods).sum()


def rd_loss(out: dict, x: torch.Tensor, lmbda: float) -> dict:
    """``lambda * 255**2 * MSE + bpp``. bpp counts the bits of all latents (y, and z for a hyperprior) over the
    pixels of ``x``."""
    b, _, h, w = x.shape
    bpp = total_bits(out["likelihoods"]) / (b * h * w)
    mse = F.mse_loss(out["x_hat"], x)
    return {"loss": lmbda * 255.0 ** 2 * mse + bpp, "mse": mse, "bpp": bpp}


def endless_batches(dataset, batch_size: int, seed: int = 0):
    """Shuffled batches of images ``(B, 3, H, W)`` in [0, 1] from a dataset of ``(input, target)`` pairs, forever.

    After each pass it calls ``dataset.set_epoch`` where there is one (``helpers.data``'s random crops then
    change), so training by steps still sees new crops. Seeded: the same seed gives the same batches.
    """
    generator = torch.Generator().manual_seed(seed)
    epoch = 0
    while True:
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(epoch)
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                                             generator=generator)
        for x, _ in loader:
            yield x
        epoch += 1


def train_steps(model: FactorizedPriorModel, batches, lmbda: float, steps: int, lr: float = 1e-3, *,
                density_lr: float | None = None, loss_fn=None, ste: bool = False, bf16: bool = False,
                log_every: int = 0, log=print) -> list[dict]:
    """Train ``model`` for ``steps`` optimizer steps on ``batches`` (an iterator of (B, 3, H, W) images in [0, 1]),
    on the device the model is on (the batches are moved there).

    Adam with a linear warm-up over the first ``min(100, steps // 10)`` steps, then a cosine decay of the learning
    rate to 2 % of ``lr``; gradients clipped to norm 1. The learned
    density gets its own rate ``density_lr`` (default ``10 * lr``): it starts wide on purpose (nothing is
    improbable at first) and must narrow quickly, or every early step pays for bits the latents do not need.
    ``loss_fn(out, x, lmbda)`` returns a dict with ``loss``, ``bpp`` and ``mse`` (default :func:`rd_loss`).
    ``bf16``: bfloat16 autocast for the transforms (faster on GPUs and on CPUs with AVX512-BF16; the density
    stays float32).
    Returns one dict per logged interval: ``step``, ``loss``, ``bpp``, ``psnr`` (of the noisy training output).

    Why not ``helpers.train``'s pieces: this is a step loop over an endless stream, with two parameter groups, a
    per-step warm-up and cosine, gradient clipping and bf16 autocast; ``train_one_epoch`` is one pass of an epoch.
    """
    import math
    import time

    loss_fn = loss_fn or rd_loss
    density = list(model.density.parameters())
    ids = {id(p) for p in density}
    others = [p for p in model.parameters() if id(p) not in ids]
    opt = torch.optim.Adam([{"params": others, "lr": lr},
                            {"params": density, "lr": density_lr if density_lr is not None else 10 * lr}])
    warmup = min(100, steps // 10)          # Adam's first steps are large: ramp up, or a high lr can diverge
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / (warmup + 1)) * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * s / steps))))
    model.train()
    device = next(model.parameters()).device
    history, running, t0 = [], [], time.perf_counter()
    for step in range(1, steps + 1):
        x = next(batches).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = model(x, ste=ste)
        out["x_hat"] = out["x_hat"].float()
        losses = loss_fn(out, x, lmbda)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running.append([float(losses[k].detach()) for k in ("loss", "bpp", "mse")])
        if log_every and (step % log_every == 0 or step == steps):
            loss, bpp, mse = (sum(r[i] for r in running) / len(running) for i in range(3))
            running = []
            history.append({"step": step, "loss": loss, "bpp": bpp, "psnr": 10 * math.log10(1 / max(mse, 1e-12))})
            if log:
                log(f"  lambda {lmbda:g} step {step:5d}/{steps}  loss {loss:.4f}  bpp {bpp:.3f}  "
                    f"psnr {history[-1]['psnr']:.2f} dB (noisy)  {time.perf_counter() - t0:.0f}s")
    model.eval()
    return history


def pad_to_stride(x: torch.Tensor, stride: int = STRIDE) -> torch.Tensor:
    """Pad (B, C, H, W) on the bottom/right by repeating the edge, up to multiples of ``stride``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % stride, (-w) % stride
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


# ----------------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------------

CHECKPOINT_TODO = "use a shipped checkpoint (checkpoints/) or train one with tools/train_codec.py"


def save_checkpoint(model: FactorizedPriorModel, path, lmbda: float, meta: dict | None = None) -> CdfTables:
    """Write config, float16 weights and the integer CDF tables (built from the float16 weights)."""
    return write_checkpoint(model, path, lmbda, meta, FORMAT)


def load_checkpoint(path) -> tuple[FactorizedPriorModel, CdfTables, dict]:
    """-> (model in eval mode on CPU, its CDF tables, the checkpoint's other fields).

    Loaded safely (``torch.load(weights_only=True)``: tensors and plain containers only). A missing or unreadable
    file is an ``OSError``; an empty, truncated, foreign or code-carrying one a ``ValueError``; both name the file
    and what to do (torch's own advice to load unsafely is never repeated)."""
    return model_from_checkpoint(load_torch_file(path, FORMAT, CHECKPOINT_TODO), FactorizedPriorModel, path)


def write_checkpoint(model: nn.Module, path, lmbda: float, meta: dict | None, format_mark: str) -> CdfTables:
    """A codec checkpoint of either kind (``format_mark`` says which): config, float16 weights and the integer
    tables of ``model.tabulate()`` built from the float16 weights, so the codec codes with exactly those."""
    state = {k: v.detach().to("cpu", torch.float16) for k, v in model.state_dict().items()}
    reloaded = type(model)(**model.config)
    reloaded.load_state_dict({k: v.float() for k, v in state.items()})
    tables = reloaded.tabulate()
    checkpoint = {"format": format_mark, "config": dict(model.config), "lambda": float(lmbda), "state_dict": state,
                  "tables": tables.to_dict(), "meta": json.loads(json.dumps(meta or {}))}
    with atomic_output(path) as tmp:        # a failed write leaves the previous checkpoint as it was
        torch.save(checkpoint, tmp)
    return tables


def model_from_checkpoint(ckpt: dict, model_class: type, path) -> tuple[nn.Module, CdfTables, dict]:
    """A checkpoint's dict (read by ``files.load_torch_file``) -> (``model_class`` in eval mode on CPU, its
    tables, the other fields). A damaged one is a ``ValueError`` naming ``path``."""
    try:
        model = model_class(**ckpt["config"])
        model.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
        tables = CdfTables.from_dict(ckpt["tables"]) if "tables" in ckpt else model.tabulate()
    except (KeyError, TypeError, RuntimeError) as e:
        raise ValueError(f"{path}: a damaged {ckpt.get('format')} checkpoint ({e})") from None
    model.eval()
    info = {k: v for k, v in ckpt.items() if k not in ("state_dict", "tables")}
    return model, tables, info
