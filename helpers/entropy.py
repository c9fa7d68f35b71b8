"""Entropy model and entropy coding: from a learned density to real bits.

Three pieces, each small:

``FactorizedDensity``
    A learned probability density for each latent channel, written from scratch in torch after the
    "univariate non-parametric density model" of Balle et al. 2018 (Variational image compression with
    a scale hyperprior, appendix 6.1). Per channel, a tiny network maps a real number ``x`` to a logit
    whose sigmoid is a cumulative distribution function c(x). Monotonicity is built in: every weight
    matrix is passed through softplus (so it is positive) and the gating factors through tanh (> -1),
    so each layer is an increasing function of its input. The probability of an integer ``k`` is then
    ``c(k + 0.5) - c(k - 0.5)``: the density convolved with a unit box, which is exactly the
    distribution of ``y + u`` with ``u ~ U(-0.5, 0.5)`` -- the noisy latent used in training.

``CdfTables``
    The density turned into integer frequency tables, once, on CPU, in float64: for every channel a
    contiguous range of symbols ``lo .. hi`` plus two escape symbols (below ``lo``, above ``hi``), with
    integer frequencies that sum to ``2**PRECISION`` and are never zero. Encoder and decoder both use
    these stored integers (the network is never evaluated again), so decoding is bit-exact across
    runs, machines and devices. ``identity()`` hashes the tables and is written into every stream.

``encode_symbols`` / ``decode_symbols``
    Integer latents <-> bytes with ``constriction``'s ANS coder. Each channel uses one concrete
    ``Categorical(perfect=False)`` model built from its integer table, so a whole channel is coded in
    one vectorized call. Values outside a channel's table are coded as an escape symbol followed by an
    Elias-gamma code of the distance (uniform models), so *any* integer latent round-trips exactly.
    Underneath, ``encode_rows`` / ``decode_rows`` code one list of values per table row, of any lengths: the
    scale hyperprior (``helpers.hyperprior``) codes its latent that way, one row per scale of its table.

Nothing here knows about images; ``helpers.codec`` adds the stream header and the image transforms.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import constriction
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

PRECISION = 16                  # bits of the integer frequency tables (each table sums to 2**PRECISION)
TAIL_MASS = 1e-6                # probability mass left to the escape symbols, per channel (both tails)
SEARCH_RANGE = 1024             # integer range [-R, R] searched for a channel's support when tabulating
LIKELIHOOD_BOUND = 1e-9         # lower bound on a likelihood, so -log2 p stays finite


class CodecError(ValueError):
    """A byte stream that cannot be decoded: truncated, corrupted, or written by another model."""


# ----------------------------------------------------------------------------------------------------
# The learned density
# ----------------------------------------------------------------------------------------------------

class FactorizedDensity(nn.Module):
    """A learned, per-channel cumulative distribution c_k(x) = sigmoid(f_k(x)) with f_k increasing.

    ``filters`` are the widths of the hidden layers (Balle et al. use (3, 3, 3)); ``init_scale`` is the
    initial spread of the density, chosen wider than the latents so nothing starts out improbable.
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10.0):
        super().__init__()
        self.channels = int(channels)
        widths = (1, *filters, 1)
        scale = init_scale ** (1.0 / (len(widths) - 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(widths) - 1):
            # softplus(init) = 1 / scale / fan_out: the composed map starts as x / init_scale (roughly)
            init = math.log(math.expm1(1.0 / scale / widths[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, widths[i + 1], widths[i]), init)))
            self.biases.append(nn.Parameter(torch.empty(channels, widths[i + 1], 1).uniform_(-0.5, 0.5)))
            if i < len(widths) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, widths[i + 1], 1)))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (channels, 1, n) -> the logits of c(x), same shape. Increasing in ``x``."""
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases)):
            x = torch.matmul(F.softplus(matrix), x) + bias
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def _likelihood_cn(self, v: torch.Tensor) -> torch.Tensor:
        """P(integer box around v) for v of shape (channels, 1, n)."""
        lower = self.logits(v - 0.5)
        upper = self.logits(v + 0.5)
        # Subtract in the tail where the sigmoids are not both close to 1 (numerically stable).
        sign = -torch.sign(lower + upper).detach()
        return torch.abs(torch.sigmoid(sign * upper) - torch.sigmoid(sign * lower))

    def likelihood(self, y: torch.Tensor) -> torch.Tensor:
        """Probability of each element of ``y`` (B, C, H, W) under its channel's density, bounded below."""
        b, c, h, w = y.shape
        if c != self.channels:
            raise ValueError(f"the density has {self.channels} channels, the latent has {c}")
        with torch.autocast(y.device.type, enabled=False):       # always float32: probabilities need it
            v = y.float().permute(1, 0, 2, 3).reshape(c, 1, -1)
            p = self._likelihood_cn(v).reshape(c, b, h, w).permute(1, 0, 2, 3)
        return p.clamp_min(LIKELIHOOD_BOUND)

    @torch.no_grad()
    def tabulate(self, precision: int = PRECISION, tail_mass: float = TAIL_MASS) -> "CdfTables":
        """The integer tables that encoder and decoder share. Computed on CPU in float64."""
        density = cpu_float64_copy(self)
        grid = torch.arange(-SEARCH_RANGE, SEARCH_RANGE + 1, dtype=torch.float64)
        v = grid.expand(self.channels, 1, -1)
        cdf_hi = torch.sigmoid(density.logits(v + 0.5))[:, 0]       # c(k + 0.5), (C, K)
        cdf_lo = torch.sigmoid(density.logits(v - 0.5))[:, 0]       # c(k - 0.5)
        pmf = density._likelihood_cn(v)[:, 0]
        offsets, pmfs = [], []
        for ch in range(self.channels):
            inside = ((cdf_hi[ch] > tail_mass / 2) & (cdf_lo[ch] < 1 - tail_mass / 2)).nonzero()
            if len(inside) == 0:                    # degenerate density: put everything on 0
                first = last = SEARCH_RANGE
            else:
                first, last = int(inside[0]), int(inside[-1])
            p = pmf[ch, first:last + 1].numpy()
            below = float(cdf_lo[ch, first])
            above = float(1.0 - cdf_hi[ch, last])
            offsets.append(first - SEARCH_RANGE)
            pmfs.append(np.concatenate([p, [below, above]]))
        return CdfTables.from_pmfs(offsets, pmfs, precision)


def cpu_float64_copy(module: nn.Module) -> nn.Module:
    import copy
    return copy.deepcopy(module).to(device="cpu", dtype=torch.float64)


# ----------------------------------------------------------------------------------------------------
# Integer tables
# ----------------------------------------------------------------------------------------------------

def quantize_pmf(pmf: np.ndarray, precision: int = PRECISION) -> np.ndarray:
    """Integer frequencies that sum to ``2**precision``, each at least 1, close to ``pmf`` in proportion.

    Deterministic: floor of the scaled pmf, then the leftover units go to the largest remainders
    (ties broken by index), so the same float64 input always gives the same table.
    """
    pmf = np.asarray(pmf, dtype=np.float64)
    total = 1 << precision
    n = len(pmf)
    if n > total // 2:
        raise ValueError(f"{n} symbols do not fit a {precision}-bit table")
    pmf = np.maximum(pmf, 0.0)
    pmf = pmf / pmf.sum() if pmf.sum() > 0 else np.full(n, 1.0 / n)
    spare = total - n                               # one unit reserved for every symbol
    scaled = pmf * spare
    freq = np.floor(scaled).astype(np.int64)
    leftover = spare - int(freq.sum())
    order = np.lexsort((np.arange(n), -(scaled - freq)))
    freq[order[:leftover]] += 1
    return (freq + 1).astype(np.int32)


@dataclass(frozen=True)
class CdfTables:
    """Per-channel integer frequency tables.

    Channel ``c`` codes values ``offsets[c] .. offsets[c] + lengths[c] - 1`` as symbols
    ``0 .. lengths[c] - 1``; symbol ``lengths[c]`` is the escape "below", ``lengths[c] + 1`` "above".
    ``freqs[c, :lengths[c] + 2]`` are that channel's frequencies (the rest of the row is padding).
    """

    offsets: np.ndarray     # int32 (C,)
    lengths: np.ndarray     # int32 (C,)
    freqs: np.ndarray       # int32 (C, max_length + 2)
    precision: int = PRECISION

    @classmethod
    def from_pmfs(cls, offsets, pmfs, precision: int = PRECISION) -> "CdfTables":
        width = max(len(p) for p in pmfs)
        freqs = np.zeros((len(pmfs), width), dtype=np.int32)
        for c, p in enumerate(pmfs):
            freqs[c, :len(p)] = quantize_pmf(p, precision)
        return cls(np.asarray(offsets, dtype=np.int32),
                   np.asarray([len(p) - 2 for p in pmfs], dtype=np.int32), freqs, int(precision))

    @property
    def channels(self) -> int:
        return len(self.offsets)

    def identity(self) -> bytes:
        """8 bytes that name these tables: the first bytes of a SHA-256 over their exact integers."""
        h = hashlib.sha256()
        h.update(b"CdfTables/v1")
        h.update(np.int64(self.precision).tobytes())
        for a in (self.offsets, self.lengths, self.freqs):
            h.update(np.ascontiguousarray(a, dtype="<i4").tobytes())
        return h.digest()[:8]

    def to_dict(self) -> dict:
        """Plain tensors for a checkpoint."""
        return {"offsets": torch.from_numpy(self.offsets.copy()), "lengths": torch.from_numpy(self.lengths.copy()),
                "freqs": torch.from_numpy(self.freqs.copy()), "precision": self.precision}

    @classmethod
    def from_dict(cls, d: dict) -> "CdfTables":
        return cls(np.asarray(d["offsets"], dtype=np.int32), np.asarray(d["lengths"], dtype=np.int32),
                   np.asarray(d["freqs"], dtype=np.int32), int(d["precision"]))

    def bits(self, symbols: np.ndarray) -> float:
        """Ideal code length in bits of integer latents (C, H, W) under these tables (escape payload excluded)."""
        total = 0.0
        for c in range(self.channels):
            idx = self._indices(c, symbols[c].ravel())
            f = self.freqs[c, idx].astype(np.float64)
            total += float(np.sum(self.precision - np.log2(f)))
        return total

    def _indices(self, c: int, values: np.ndarray) -> np.ndarray:
        idx = values.astype(np.int64) - int(self.offsets[c])
        n = int(self.lengths[c])
        return np.where(idx < 0, n, np.where(idx >= n, n + 1, idx)).astype(np.int32)

    def _model(self, c: int):
        n = int(self.lengths[c]) + 2
        return constriction.stream.model.Categorical(self.freqs[c, :n].astype(np.float64), perfect=False)


# ----------------------------------------------------------------------------------------------------
# Coding
# ----------------------------------------------------------------------------------------------------

_UNIFORM = constriction.stream.model.Uniform
_GAMMA_PREFIX = _UNIFORM(32)        # the number of bits of (distance + 1) minus one: 0 .. 31
_CHUNK = 16                         # the remaining bits go in chunks of at most 16 bits
_INT32 = np.iinfo(np.int32)
_END_MARK = 0xA5C3                  # decoded last: a payload that does not end with it is not ours
_END_MODEL = _UNIFORM(1 << 16)


def _escape_parts(distance: int) -> list[tuple[int, int]]:
    """Elias-gamma code of ``distance >= 0`` as (value, alphabet size) pairs, in decoding order."""
    v = distance + 1
    nbits = v.bit_length() - 1
    parts = [(nbits, 32)]
    rest = v - (1 << nbits)
    while nbits > 0:
        k = min(nbits, _CHUNK)
        nbits -= k
        parts.append(((rest >> nbits) & ((1 << k) - 1), 1 << k))
    return parts


def _decode_escape(coder) -> int:
    nbits = int(coder.decode(_GAMMA_PREFIX))
    v = 1
    while nbits > 0:
        k = min(nbits, _CHUNK)
        v = (v << k) | int(coder.decode(_UNIFORM(1 << k)))
        nbits -= k
    return v - 1


def encode_symbols(symbols: np.ndarray, tables: CdfTables) -> bytes:
    """Integer latents (C, H, W) -> the ANS payload, little-endian 32-bit words. Channel ``c`` is coded with
    table row ``c``."""
    symbols = np.asarray(symbols)
    if symbols.ndim != 3 or symbols.shape[0] != tables.channels:
        raise ValueError(f"expected latents of shape ({tables.channels}, H, W), got {symbols.shape}")
    return encode_rows([symbols[c].ravel() for c in range(tables.channels)], tables)


def encode_rows(rows: list[np.ndarray], tables: CdfTables) -> bytes:
    """One 1-D integer array per table row (any lengths, empty ones included) -> the ANS payload.

    ``rows[r]`` is coded with table row ``r``: :func:`encode_symbols` passes one channel per row; a Gaussian
    conditional (``helpers.hyperprior``) passes the values whose scale fell on table row ``r``."""
    if len(rows) != tables.channels:
        raise ValueError(f"expected {tables.channels} rows of values, one per table row, got {len(rows)}")
    rows = [np.asarray(r) for r in rows]
    for r in rows:
        if not np.issubdtype(r.dtype, np.integer):
            raise ValueError("latents must be integers (quantize them first)")
        if r.size and (r.min() < _INT32.min or r.max() > _INT32.max):
            raise ValueError("latent values must fit in 32-bit signed integers")
    coder = constriction.stream.stack.AnsCoder()
    # ANS is a stack: push in the reverse of the decoding order. Decoding order, per row r:
    # all values of r, then the escape codes of r's out-of-range values in order; then the end mark.
    coder.encode_reverse(_END_MARK, _END_MODEL)
    for c in reversed(range(tables.channels)):
        values = rows[c].ravel().astype(np.int64)
        idx = tables._indices(c, values)
        lo, n = int(tables.offsets[c]), int(tables.lengths[c])
        escaped = np.flatnonzero(idx >= n)
        for j in reversed(escaped):
            v = int(values[j])
            distance = lo - 1 - v if v < lo else v - (lo + n)
            for value, size in reversed(_escape_parts(distance)):
                coder.encode_reverse(int(value), _UNIFORM(size))
        coder.encode_reverse(idx, tables._model(c))
    words = coder.get_compressed().astype("<u4")
    return words.tobytes()


def max_symbols(tables: CdfTables, payload_bytes: int) -> int:
    """The most symbols ``payload_bytes`` can hold: every symbol costs at least ``-log2`` of the largest
    probability in its table (below 1, since every symbol, escapes included, has a frequency of at least 1).
    A guard against a header that announces a huge latent for a short payload (which would otherwise allocate
    memory for it before the decoder notices)."""
    cheapest = min(tables.precision - math.log2(int(tables.freqs[c].max())) for c in range(tables.channels))
    return int((8 * payload_bytes + 64) / max(cheapest, 1e-12)) + 1


def decode_symbols(payload: bytes, tables: CdfTables, shape: tuple[int, int, int]) -> np.ndarray:
    """The inverse of :func:`encode_symbols`. Raises :class:`CodecError` on a payload that does not decode."""
    c_, h, w = (int(s) for s in shape)
    if c_ != tables.channels:
        raise CodecError(f"the stream has {c_} latent channels, the model has {tables.channels}")
    return np.stack(decode_rows(payload, tables, [h * w] * c_)).reshape(c_, h, w)


def decode_rows(payload: bytes, tables: CdfTables, counts: list[int]) -> list[np.ndarray]:
    """The inverse of :func:`encode_rows`: ``counts[r]`` values for table row ``r`` -> one int32 array per row.
    Raises :class:`CodecError` on a payload that does not decode to these counts."""
    if len(payload) % 4:
        raise CodecError("payload length is not a whole number of 32-bit words")
    total, most = int(sum(counts)), max_symbols(tables, len(payload))
    if total > most:
        raise CodecError(f"a payload of {len(payload)} bytes cannot hold {total} latents under this model "
                         f"(at most {most}): the header does not match the payload")
    words = np.frombuffer(payload, dtype="<u4").astype(np.uint32)
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        out = []
        for c, count in enumerate(counts):
            idx = coder.decode(tables._model(c), int(count)).astype(np.int64)
            lo, n = int(tables.offsets[c]), int(tables.lengths[c])
            values = idx + lo
            for j in np.flatnonzero(idx >= n):
                d = _decode_escape(coder)
                values[j] = lo - 1 - d if idx[j] == n else lo + n + d
            if values.size and (values.min() < _INT32.min or values.max() > _INT32.max):
                raise CodecError("decoded a latent value out of range")
            out.append(values.astype(np.int32))
        if int(coder.decode(_END_MODEL)) != _END_MARK or not coder.is_empty():
            raise CodecError("payload does not decode to this latent shape under this model")
    except CodecError:
        raise
    except Exception as e:  # constriction raises on invalid compressed data
        raise CodecError(f"payload does not decode: {e}") from e
    return out
