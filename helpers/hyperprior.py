"""A scale hyperprior (Balle, Minnen, Singh, Hwang & Johnston 2018), from plain torch, beside the factorized prior.

    x --g_a--> y --h_a(|y|)--> z --round--> z_hat            z_hat coded with a learned factorized density
                                              |
                                             h_s --> scales (one per element of y)
    y --round--> y_hat                                        y_hat coded with N(0, scale) per element
    y_hat --g_s--> x_hat

The factorized prior (``helpers.rd_model``) gives every element of a latent channel the same density, wherever
it is in the image. But a flat sky and a textured roof need very different spreads: the hyperprior sends a small
second latent ``z`` (the *side information*, 4x smaller again on each side) that says how wide the density of
each element of ``y`` is. ``z`` itself is coded with the factorized density; ``y`` with a zero-mean Gaussian
whose standard deviation (its *scale*) comes from the hyper decoder ``h_s``. Rate = bits of ``y`` + bits of ``z``.

Two pieces here:

``GaussianConditional``
    The probability of an integer ``k`` under N(0, s) convolved with a unit box:
    ``Phi((k + 1/2) / s) - Phi((k - 1/2) / s)``, the distribution of ``y + u``, ``u ~ U(-1/2, 1/2)``, used in
    training (noisy y) and for the estimate (rounded y). Scales are bounded below by ``SCALE_BOUND``.
    For coding, scales are not used directly: each one picks a row of a FIXED table of 64 scales, log-spaced
    from 0.11 to 256 (CompressAI's table), the nearest one in log scale. Every row has an
    integer frequency table (``entropy.CdfTables``, built once in float64, with the escape symbols of
    ``entropy``: any integer round-trips). Encoder and decoder thus code with identical integers.

``ScaleHyperpriorModel``
    ``g_a``/``g_s`` as in the factorized prior (the same building blocks), ``h_a``/``h_s`` shaped as in Balle
    et al. 2018 (with this kit's 4x4 transposed convolutions, and softplus for positive scales), a
    ``FactorizedDensity`` for z. ``forward`` returns the keys of ``FactorizedPriorModel.forward`` (with
    ``likelihoods = {"y": ..., "z": ...}``) plus ``z_hat`` and ``scales``, so ``rd_model.rd_loss`` and
    ``rd_model.train_steps`` train it.
    The image sides must be multiples of ``stride`` = 64 (16 for y, 4 more for z).

Checkpoints (``save_checkpoint`` / ``load_checkpoint``, format mark ``helpers.hyperprior/1``): config, float16
weights and the z tables. ``helpers.codec.HyperpriorCodec`` codes images with them (stream format version 2,
``helpers.streams``); its model identity covers the config, the z tables and the Gaussian tables.

Bit-exact decoding across machines: the honest caveat
    The decoder chooses each element's table row from a float: ``h_s(z_hat)``. If encoder and decoder compute a
    scale that falls on different sides of a row boundary, the rows differ, and from that element on the ANS
    stream decodes garbage. Rows are 13 % apart (0.123 in log scale), so a scale spread evenly in log scale lies
    within a relative distance ``d`` of a boundary with probability about ``16 d``. float32 results are off by
    1e-7..1e-5 relative, and different kernels (CPU vs GPU, AVX2 vs AVX-512) are off differently: with 1e5
    elements per photograph (768x512, 64 channels) that is of the order of one disagreement per image -- not
    good enough. (Measured against float64 on this kit's CPU: 0 of 8192 rows differ on a photograph through a
    briefly trained model, 6e-7 relative at most; 8 of 1.57 million through an untrained h_s with three times
    larger weights, 9e-6 at most -- and 5364 there with CompressAI's row rule, see ``indexes``.)
    So for coding, ``coding_scales`` runs ``h_s`` in float64 on the CPU (a copy; training is untouched):
    differences there are about 1e-15 relative, which makes a disagreement roughly a billion times rarer.
    Rarer, not impossible: only integer arithmetic in ``h_s`` (Balle, Johnston & Minnen 2019, "Integer networks
    for data compression") removes it. The rows are tested to be identical across runs and thread counts on one
    machine; the integer tables are pinned by a hash (``GaussianConditional().tables.identity()``) that a
    stream should carry, so a decoder whose tables differ refuses instead of decoding garbage.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .entropy import (LIKELIHOOD_BOUND, PRECISION, TAIL_MASS, CdfTables, FactorizedDensity, cpu_float64_copy,
                      decode_rows, decode_symbols, encode_rows, encode_symbols)
from .files import load_torch_file
from .models import save_config
from .rd_model import (CHECKPOINT_TODO, STRIDE as LATENT_STRIDE, _down, _up, analysis_transform, model_from_checkpoint,
                       synthesis_transform, total_bits, write_checkpoint)

SCALE_BOUND = 0.11                   # the smallest scale: below it a Gaussian bin holds more than 99.99 % of the mass
SCALE_TABLE = np.exp(np.linspace(np.log(SCALE_BOUND), np.log(256.0), 64))   # float64, fixed: part of the format
HYPER_STRIDE = 4                     # z is this many times smaller than y on each side
STRIDE = LATENT_STRIDE * HYPER_STRIDE
FORMAT = "helpers.hyperprior/1"      # the checkpoints' format mark (the factorized prior's is rd_model.FORMAT)


# ----------------------------------------------------------------------------------------------------
# The Gaussian conditional
# ----------------------------------------------------------------------------------------------------

def _box_likelihood(v: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
    """P(integer bin around v) under N(0, scales): ``Phi((1/2 - |v|) / s) - Phi((-1/2 - |v|) / s)``.

    Written with ``|v|`` so both terms are in the lower tail, where ``Phi`` is accurate (no 1 - 1 cancellation)."""
    v = torch.abs(v)
    return torch.special.ndtr((0.5 - v) / scales) - torch.special.ndtr((-0.5 - v) / scales)


class GaussianConditional:
    """The latent's distribution given its scale: N(0, scale) convolved with a unit box, on integers.

    ``likelihood`` serves training and the estimate (any scale, differentiable); ``indexes``, ``tables``,
    ``encode`` and ``decode`` serve coding, with the integer tables of the fixed ``scale_table``.
    """

    def __init__(self, scale_table=SCALE_TABLE, tail_mass: float = TAIL_MASS, precision: int = PRECISION):
        table = np.asarray(scale_table, dtype=np.float64)
        if table.ndim != 1 or len(table) < 1 or table[0] <= 0 or np.any(np.diff(table) <= 0):
            raise ValueError("scale_table must be positive scales in increasing order")
        self.scale_table, self.tail_mass, self.precision = table, float(tail_mass), int(precision)

    def likelihood(self, y: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        """Probability of each element of ``y`` given its scale (same shape as ``y``), bounded below.

        Scales below ``SCALE_BOUND`` are raised to it. Always computed in float32 (autocast off)."""
        with torch.autocast(y.device.type, enabled=False):
            p = _box_likelihood(y.float(), scales.float().clamp_min(SCALE_BOUND))
        return p.clamp_min(LIKELIHOOD_BOUND)

    @cached_property
    def tables(self) -> CdfTables:
        """One integer table per scale of ``scale_table``, built on first use, in float64.

        Row ``i`` covers ``-c .. c`` with ``c = ceil(scale_i * z)``, ``z`` the Gaussian quantile that leaves
        ``tail_mass`` outside; the two tails go to the escape symbols (so any integer still round-trips)."""
        scales = torch.from_numpy(self.scale_table)
        z = -float(torch.special.ndtri(torch.tensor(self.tail_mass / 2, dtype=torch.float64)))
        offsets, pmfs = [], []
        for s in scales:
            c = int(np.ceil(float(s) * z))
            k = torch.arange(-c, c + 1, dtype=torch.float64)
            tail = float(torch.special.ndtr((-c - 0.5) / s))          # mass below -c - 1/2 (and above c + 1/2)
            offsets.append(-c)
            pmfs.append(np.concatenate([_box_likelihood(k, s).numpy(), [tail, tail]]))
        return CdfTables.from_pmfs(offsets, pmfs, self.precision)

    def indexes(self, scales: np.ndarray) -> np.ndarray:
        """The table row of each scale: the nearest table scale in log scale (row 0 below the table, the last
        row above it). The boundaries between rows are the geometric means of neighbouring table scales.

        Why nearest and not "the smallest table scale at least as large" (CompressAI's rule): the model's scales
        pile up just above ``SCALE_BOUND`` (``SCALE_BOUND + softplus(...)`` of a quiet channel), and with that
        rule ``SCALE_BOUND`` itself is a row boundary: 0.11 + 1e-9 would be row 1 in float64 and row 0 in
        float32. Here the pile-up sits in the middle of row 0, 6 % from the nearest boundary."""
        boundaries = np.sqrt(self.scale_table[:-1] * self.scale_table[1:])
        return np.searchsorted(boundaries, np.asarray(scales, dtype=np.float64), side="right")

    def encode(self, values: np.ndarray, indexes: np.ndarray) -> bytes:
        """Integer latents and their table rows (same shape) -> one ANS payload.

        The values are grouped by row, in raster order within a row: the decoder, which knows the rows, finds
        them again."""
        order, counts = self._grouping(indexes)
        rows = np.split(np.asarray(values).ravel()[order], np.cumsum(counts)[:-1])
        return encode_rows(rows, self.tables)

    def decode(self, payload: bytes, indexes: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`encode`: int32 latents of the shape of ``indexes``. Raises ``entropy.CodecError``
        on a payload that does not decode."""
        order, counts = self._grouping(indexes)
        values = np.empty(indexes.size, dtype=np.int32)
        values[order] = np.concatenate(decode_rows(payload, self.tables, counts))
        return values.reshape(indexes.shape)

    def _grouping(self, indexes: np.ndarray) -> tuple[np.ndarray, list[int]]:
        flat = np.asarray(indexes).ravel()
        return np.argsort(flat, kind="stable"), np.bincount(flat, minlength=len(self.scale_table)).tolist()


# ----------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------

def scales_from(h_s: nn.Module, z_hat: torch.Tensor) -> torch.Tensor:
    """The scales of y from the hyper latent: ``SCALE_BOUND + softplus(h_s(z_hat))``, always above the bound.

    softplus rather than ReLU: a scale pushed below the bound still gets a gradient (a ReLU would stop at 0)."""
    return SCALE_BOUND + F.softplus(h_s(z_hat))


def _noisy(t: torch.Tensor) -> torch.Tensor:
    """``t + u``, ``u ~ U(-1/2, 1/2)``: the training stand-in for rounding."""
    return t + torch.empty_like(t).uniform_(-0.5, 0.5)


class ScaleHyperpriorModel(nn.Module):
    """``channels`` hidden channels in g_a/g_s, ``latent_channels`` in y, ``hyper_channels`` in h_a/h_s and z."""

    stride = STRIDE

    def __init__(self, channels: int = 64, latent_channels: int = 64, hyper_channels: int = 64):
        super().__init__()
        channels, latent_channels, hyper_channels = int(channels), int(latent_channels), int(hyper_channels)
        self.config = save_config(self, locals())       # rebuild with ScaleHyperpriorModel(**model.config)
        n, m, k = channels, latent_channels, hyper_channels
        self.g_a = analysis_transform(n, m)
        self.g_s = synthesis_transform(n, m)
        self.h_a = nn.Sequential(nn.Conv2d(m, k, 3, padding=1), nn.ReLU(), _down(k, k), nn.ReLU(), _down(k, k))
        self.h_s = nn.Sequential(_up(k, k), nn.ReLU(), _up(k, k), nn.ReLU(), nn.Conv2d(k, m, 3, padding=1))
        self.density = FactorizedDensity(k)     # of z; named as in rd_model, so train_steps gives it its own rate
        self.gaussian = GaussianConditional()

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], (B, 3, H, W) with H, W multiples of 64 -> latents y (B, M, H/16, W/16)."""
        return self.g_a(x - 0.5)

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """Latents -> reconstructions (not clamped: clamp to [0, 1] before measuring)."""
        return self.g_s(y_hat) + 0.5

    def hyper_analysis(self, y: torch.Tensor) -> torch.Tensor:
        """y (B, M, h, w) -> z (B, K, h/4, w/4), from ``|y|``: the spread, not the sign, is what z describes."""
        return self.h_a(torch.abs(y))

    def forward(self, x: torch.Tensor, ste: bool = False) -> dict:
        """Returns x_hat, y_hat, z_hat, the scales, and ``likelihoods = {"y": ..., "z": ...}``.

        Eval mode: y and z rounded. Training mode: both get uniform noise for the rate; the synthesis sees the
        noisy y, or with ``ste=True`` the rounded one with a straight-through gradient (as in rd_model)."""
        y = self.analysis(x)
        z = self.hyper_analysis(y)
        if self.training:
            y_hat, z_hat = _noisy(y), _noisy(z)
            y_dec = y + (torch.round(y) - y).detach() if ste else y_hat
        else:
            y_hat, z_hat = torch.round(y), torch.round(z)
            y_dec = y_hat
        scales = scales_from(self.h_s, z_hat)
        return {"x_hat": self.synthesis(y_dec), "y_hat": y_hat, "z_hat": z_hat, "scales": scales,
                "likelihoods": {"y": self.gaussian.likelihood(y_hat, scales), "z": self.density.likelihood(z_hat)}}

    def tabulate(self) -> CdfTables:
        """The integer tables of the z density (y's tables are fixed: ``self.gaussian.tables``)."""
        return self.density.tabulate()


# ----------------------------------------------------------------------------------------------------
# Coding: latents <-> two ANS payloads (z first, then y given z)
# ----------------------------------------------------------------------------------------------------

@torch.no_grad()
def coding_scales(model: ScaleHyperpriorModel, z_hat: np.ndarray) -> np.ndarray:
    """Integer z (K, h, w) -> the float64 scales (M, 4h, 4w) that pick the table rows, for encoder and decoder.

    ``h_s`` runs in float64 on the CPU, on a copy (see the module's note on bit-exact decoding)."""
    h_s = cpu_float64_copy(model.h_s)
    z = torch.from_numpy(np.asarray(z_hat, dtype=np.float64))[None]
    return scales_from(h_s, z)[0].numpy()


@torch.no_grad()
def analyse_latents(model: ScaleHyperpriorModel, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Images (1, 3, H, W) in [0, 1], H and W multiples of ``model.stride`` -> the integer latents
    (z_hat (K, H/64, W/64), y_hat (M, H/16, W/16)), int64."""
    if x.ndim != 4 or x.shape[:2] != (1, 3) or x.shape[2] % model.stride or x.shape[3] % model.stride:
        raise ValueError(f"expected one RGB image (1, 3, H, W) with H and W multiples of {model.stride}, got "
                         f"{tuple(x.shape)}: pad it first (rd_model.pad_to_stride(x, {model.stride}))")
    y = model.analysis(x.float().to(next(model.parameters()).device))
    z_hat = torch.round(model.hyper_analysis(y))[0].cpu().numpy().astype(np.int64)
    return z_hat, torch.round(y)[0].cpu().numpy().astype(np.int64)


def encode_latents(model: ScaleHyperpriorModel, z_hat: np.ndarray, y_hat: np.ndarray,
                   z_tables: CdfTables | None = None) -> tuple[bytes, bytes]:
    """Integer latents -> (z_bytes, y_bytes): z with its tables (a checkpoint's; by default tabulated from the
    model now), then y with the Gaussian table rows that ``h_s(z_hat)`` picks."""
    z_tables = z_tables if z_tables is not None else model.tabulate()
    indexes = model.gaussian.indexes(coding_scales(model, z_hat))
    return encode_symbols(z_hat, z_tables), model.gaussian.encode(y_hat, indexes)


def decode_latents(model: ScaleHyperpriorModel, z_bytes: bytes, y_bytes: bytes, z_shape: tuple[int, int, int],
                   z_tables: CdfTables | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`encode_latents`: (z_hat (K, h, w), y_hat (M, 4h, 4w)), int32. Raises
    ``entropy.CodecError`` on payloads that do not decode."""
    z_tables = z_tables if z_tables is not None else model.tabulate()
    z_hat = decode_symbols(z_bytes, z_tables, z_shape)
    indexes = model.gaussian.indexes(coding_scales(model, z_hat))
    return z_hat, model.gaussian.decode(y_bytes, indexes)


def compress_latents(model: ScaleHyperpriorModel, x: torch.Tensor, z_tables: CdfTables | None = None
                     ) -> tuple[bytes, bytes, tuple[int, int, int]]:
    """One image (1, 3, H, W) in [0, 1], H and W multiples of ``model.stride`` -> (z_bytes, y_bytes, z_shape).

    ``z_shape`` is (K, H/64, W/64); y's shape follows from it (M, H/16, W/16)."""
    z_hat, y_hat = analyse_latents(model, x)
    return (*encode_latents(model, z_hat, y_hat, z_tables), tuple(z_hat.shape))


def decompress_latents(model: ScaleHyperpriorModel, z_bytes: bytes, y_bytes: bytes, z_shape: tuple[int, int, int],
                       z_tables: CdfTables | None = None) -> torch.Tensor:
    """The inverse of :func:`compress_latents`: y_hat (1, M, 4h, 4w), float32 on the CPU (feed it to
    ``model.synthesis``). Raises ``entropy.CodecError`` on payloads that do not decode."""
    return torch.from_numpy(decode_latents(model, z_bytes, y_bytes, z_shape, z_tables)[1]).float()[None]


@torch.no_grad()
def latent_bits(model: ScaleHyperpriorModel, z_hat: np.ndarray, y_hat: np.ndarray) -> float:
    """The model's own estimate of the code length of integer latents: ``-log2`` of the likelihoods of z under
    its density and of y under N(0, scale) with the float32 scales of ``h_s(z_hat)`` (not the table's)."""
    device = next(model.parameters()).device
    z = torch.from_numpy(np.asarray(z_hat, dtype=np.float32))[None].to(device)
    y = torch.from_numpy(np.asarray(y_hat, dtype=np.float32))[None].to(device)
    likelihoods = {"y": model.gaussian.likelihood(y, scales_from(model.h_s, z)), "z": model.density.likelihood(z)}
    return float(total_bits(likelihoods))


def estimate_bits(model: ScaleHyperpriorModel, x: torch.Tensor) -> float:
    """The model's own estimate of the code length of ``x``: ``-log2`` of the likelihoods of the rounded y and
    z (float32 scales, not the table's), summed. The real payloads should be within a few percent of it."""
    return latent_bits(model, *analyse_latents(model, x))


# ----------------------------------------------------------------------------------------------------
# Checkpoints (the factorized prior's: rd_model.save_checkpoint / load_checkpoint; the codec reads both kinds)
# ----------------------------------------------------------------------------------------------------

def save_checkpoint(model: ScaleHyperpriorModel, path, lmbda: float, meta: dict | None = None) -> CdfTables:
    """Write config, float16 weights and the z tables built from the float16 weights (y's Gaussian tables are
    fixed by ``SCALE_TABLE``: the codec's model identity covers them). Returns the z tables."""
    return write_checkpoint(model, path, lmbda, meta, FORMAT)


def load_checkpoint(path) -> tuple[ScaleHyperpriorModel, CdfTables, dict]:
    """-> (model in eval mode on CPU, its z tables, the checkpoint's other fields); read safely, with the same
    errors as ``rd_model.load_checkpoint`` (a factorized checkpoint here is a ``ValueError`` naming its format)."""
    return model_from_checkpoint(load_torch_file(path, FORMAT, CHECKPOINT_TODO), ScaleHyperpriorModel, path)
