"""Image quality and bit rate, always measured on 8-bit RGB pixels.

Conventions
-----------
* Every metric first converts its inputs to 8-bit pixels with :func:`to_uint8`: torch tensors are
  channels-first (``(3, H, W)`` or ``(N, 3, H, W)``), NumPy arrays channels-last (``(H, W, 3)`` or
  ``(N, H, W, 3)``); ``uint8`` is taken as is, floats are read as ``[0, 1]`` (clipped, times 255, rounded).
  So denormalize first (``dataset.target_normalization.inverse``): these functions know nothing of mean/std.
* Batches are scored per image and then averaged over images (as CompressAI does), never pooled over pixels.
* :func:`psnr` of two identical images is ``float('inf')`` (the MSE is zero). A batch mean that includes an
  identical pair is therefore ``inf`` too -- the honest answer, not an error. Pass ``reduction='none'`` to see
  the per-image values, or average finite values yourself if that is what you mean.
* :func:`ssim` uses Wang et al.'s settings: ``structural_similarity(a, b, channel_axis=-1, data_range=255,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` (scikit-image's defaults differ by ~0.005).
* :func:`torch_psnr` is the fast PSNR for training logs: it quantizes to 8 bits like :func:`to_uint8`, so it
  gives the same numbers as :func:`psnr` (scikit-image) on the same inputs.

Bit rates
---------
* :func:`bits_per_pixel` turns a size in bytes (or bits) into bits per pixel; :func:`latent_bpp` gives the bpp of a
  latent of ``n`` numbers stored at ``bits_per_value`` bits each.
* :func:`encode_image`, :func:`quality_sweep` and :func:`codec_at_bpp` run JPEG or WebP through Pillow and measure
  bytes from the encoded buffer. JPEG uses ``optimize=True`` (smaller files, identical pixels) and Pillow's
  default 4:2:0 chroma subsampling. WebP is lossy WebP at Pillow's default ``method``.
"""

from __future__ import annotations

import io
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterable, Literal, Sequence

import numpy as np
import torch
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .images import to_pixel_levels

__all__ = [
    "SSIM_SETTINGS",
    "CODECS",
    "to_uint8",
    "mse",
    "psnr",
    "ssim",
    "psnr_from_mse",
    "torch_psnr",
    "bits_per_pixel",
    "latent_bpp",
    "encode_image",
    "quality_sweep",
    "codec_at_bpp",
]

SSIM_SETTINGS: dict[str, Any] = dict(
    channel_axis=-1, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
)
CODECS = ("jpeg", "webp")

Reduction = Literal["mean", "none"]


# ----------------------------------------------------------------------------------------------------------- pixels
def to_uint8(images: Any) -> np.ndarray:
    """Images as 8-bit RGB pixels, channels-last: ``(H, W, 3)`` or ``(N, H, W, 3)`` ``uint8``.

    Accepts a torch tensor (channels-first), a NumPy array (channels-last; a channels-first array whose last axis
    is not 1 or 3 is transposed), or a PIL image. Floats are read as ``[0, 1]``: clipped, times 255, rounded
    half to even. Grey images ``(H, W)`` get 3 identical channels.
    """
    if isinstance(images, Image.Image):
        return np.asarray(images.convert("RGB"))
    if isinstance(images, torch.Tensor):
        t = images.detach().cpu()
        if t.dim() == 3:
            t = t.permute(1, 2, 0)
        elif t.dim() == 4:
            t = t.permute(0, 2, 3, 1)
        else:
            raise ValueError(f"expected a (3, H, W) or (N, 3, H, W) tensor, got shape {tuple(t.shape)}")
        arr = t.numpy() if t.dtype == torch.uint8 else t.to(torch.float64).numpy()
    else:
        arr = np.asarray(images)
        if arr.ndim == 2:
            arr = np.repeat(arr[..., None], 3, axis=-1)
        if arr.ndim not in (3, 4):
            raise ValueError(f"expected an (H, W, 3) or (N, H, W, 3) array, got shape {arr.shape}")
        if arr.shape[-1] not in (1, 3) and arr.shape[-3] in (1, 3):
            arr = np.moveaxis(arr, -3, -1)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.shape[-1] != 3:
        raise ValueError(f"expected 3 colour channels, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"cannot read pixels of dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"integer pixels must be uint8 (got {arr.dtype}); floats are read as [0, 1]")
    return to_pixel_levels(arr.astype(np.float64)).astype(np.uint8)


def _pairs(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = to_uint8(a), to_uint8(b)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    if x.ndim == 3:
        x, y = x[None], y[None]
    return x, y


def _reduce(values: list[float], reduction: Reduction) -> float | list[float]:
    if reduction == "none":
        return values
    if reduction != "mean":
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    return float(np.mean(values))


# ----------------------------------------------------------------------------------------------------------- quality
def mse(a: Any, b: Any, reduction: Reduction = "mean") -> float | list[float]:
    """Mean squared error on 8-bit pixels (0..255 scale), per image, then averaged over images."""
    x, y = _pairs(a, b)
    d = x.astype(np.float64) - y.astype(np.float64)
    return _reduce([float(np.mean(v * v)) for v in d], reduction)


def psnr_from_mse(mse_value: float, data_range: float = 255.0) -> float:
    """PSNR in dB from an MSE on the ``data_range`` scale; ``inf`` for an MSE of 0."""
    if mse_value < 0 or math.isnan(mse_value):
        raise ValueError(f"MSE must be >= 0, got {mse_value}")
    if mse_value == 0:
        return float("inf")
    return 10.0 * math.log10(data_range**2 / mse_value)


def psnr(a: Any, b: Any, reduction: Reduction = "mean") -> float | list[float]:
    """PSNR in dB on 8-bit pixels (scikit-image, ``data_range=255``), per image, then averaged over images.

    Identical images give ``float('inf')`` (returned directly, without scikit-image's divide-by-zero warning);
    a batch mean including one is ``inf``. ``reduction='none'`` returns the list of per-image values.
    """
    x, y = _pairs(a, b)
    values = [
        float("inf") if np.array_equal(u, v) else float(peak_signal_noise_ratio(u, v, data_range=255))
        for u, v in zip(x, y)
    ]
    return _reduce(values, reduction)


def ssim(a: Any, b: Any, reduction: Reduction = "mean") -> float | list[float]:
    """SSIM on 8-bit RGB pixels with Wang et al.'s settings (:data:`SSIM_SETTINGS`), per image, then averaged.

    Images must be at least 7x7 (the Gaussian window's support). A batch ``(N, H, W, 3)`` is scored one image per
    thread on all CPU cores (scikit-image's filters release the GIL: about 2x faster on 2 cores); the values are
    the same as one by one."""
    x, y = _pairs(a, b)

    def one(i: int) -> float:
        return float(structural_similarity(x[i], y[i], **SSIM_SETTINGS))

    if len(x) == 1:
        return _reduce([one(0)], reduction)
    with ThreadPoolExecutor(max_workers=min(len(x), os.cpu_count() or 1)) as pool:
        return _reduce(list(pool.map(one, range(len(x)))), reduction)


def torch_psnr(
    output: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 1.0,
    quantize: bool = True,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Fast PSNR in dB for training logs, computed in torch on ``(N, C, H, W)`` (or ``(C, H, W)``) tensors.

    With ``quantize=True`` (the default) both tensors are mapped to 8-bit levels first
    (``round(clip(x / data_range, 0, 1) * 255)``, as :func:`to_uint8` does), so the result equals
    :func:`psnr` (scikit-image on the same 8-bit pixels). With ``quantize=False`` it is the PSNR of the raw floats
    on the ``data_range`` scale. Per image, then averaged (``reduction='none'``: one value per image).
    Identical images give ``inf``. No gradient; returns a 0-dim tensor (or ``(N,)``) on the inputs' device.
    """
    if output.shape != target.shape:
        raise ValueError(f"shapes differ: {tuple(output.shape)} vs {tuple(target.shape)}")
    with torch.no_grad():
        # float64 where the device has it (exact agreement with scikit-image); MPS has no float64.
        dtype = torch.float32 if output.device.type == "mps" else torch.float64
        x = output.detach().to(dtype)
        y = target.detach().to(dtype)
        if x.dim() == 3:
            x, y = x[None], y[None]
        if quantize:
            x = to_pixel_levels(x / data_range)
            y = to_pixel_levels(y / data_range)
            peak = 255.0
        else:
            peak = float(data_range)
        err = ((x - y) ** 2).flatten(1).mean(dim=1)
        values = 10 * torch.log10(peak**2 / err)  # err == 0 -> inf
        if reduction == "none":
            return values
        if reduction != "mean":
            raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
        return values.mean()


# ----------------------------------------------------------------------------------------------------------- rates
def bits_per_pixel(num_bytes: float, height: int, width: int | None = None, *, bits: float | None = None) -> float:
    """Bits per pixel of ``num_bytes`` bytes (or ``bits=`` bits, with ``num_bytes=0``) for an image of
    ``height`` x ``width`` pixels (``width`` defaults to ``height``)."""
    width = height if width is None else width
    total_bits = 8.0 * num_bytes if bits is None else float(bits)
    return total_bits / (height * width)


def latent_bpp(latent: Any, image_size: int | tuple[int, int], bits_per_value: float = 8.0) -> float:
    """Bits per pixel of a latent of ``latent`` numbers per image (an int, a shape, or one image's latent tensor)
    stored at ``bits_per_value`` bits each, for an image of ``image_size`` (side, or ``(H, W)``)."""
    if isinstance(latent, (torch.Tensor, np.ndarray)):
        n = int(np.prod(latent.shape))
    elif isinstance(latent, (tuple, list, torch.Size)):
        n = int(np.prod(latent))
    else:
        n = int(latent)
    h, w = (image_size, image_size) if isinstance(image_size, int) else image_size
    return n * float(bits_per_value) / (h * w)


def _check_codec(codec: str) -> str:
    c = codec.lower()
    if c not in CODECS:
        raise ValueError(f"codec must be one of {CODECS}, got {codec!r}")
    return c


def encode_image(image: Any, codec: str = "jpeg", quality: int = 75) -> dict[str, Any]:
    """Encode ONE RGB image with Pillow and decode it back.

    ``image``: anything :func:`to_uint8` reads (one image). JPEG: ``optimize=True``, Pillow's default 4:2:0
    chroma subsampling. WebP: lossy, Pillow's default method. ``quality``: integer 1..100.

    Returns a dict: ``codec``, ``quality``, ``num_bytes`` (length of the encoded buffer), ``bpp``,
    ``data`` (the encoded bytes), ``decoded`` (``uint8`` ``(H, W, 3)``), ``psnr`` and ``ssim`` of the decoded image
    against the original (8-bit, :func:`psnr` / :func:`ssim`).
    """
    codec = _check_codec(codec)
    q = int(quality)
    if q != quality or not 1 <= q <= 100:
        raise ValueError(f"quality must be an integer in 1..100, got {quality!r}")
    pixels = to_uint8(image)
    if pixels.ndim != 3:
        raise ValueError(f"encode_image takes one image, got shape {pixels.shape}")
    data = _encoded_bytes(pixels, codec, q)
    with Image.open(io.BytesIO(data)) as im:
        decoded = np.asarray(im.convert("RGB"))
    h, w = pixels.shape[:2]
    return {
        "codec": codec,
        "quality": q,
        "num_bytes": len(data),
        "bpp": bits_per_pixel(len(data), h, w),
        "data": data,
        "decoded": decoded,
        "psnr": psnr(pixels, decoded),
        "ssim": ssim(pixels, decoded),
    }


def _encoded_bytes(pixels: np.ndarray, codec: str, quality: int) -> bytes:
    """Pillow's encoding of one uint8 (H, W, 3) image: the settings :func:`encode_image` documents."""
    buf = io.BytesIO()
    if codec == "jpeg":
        Image.fromarray(pixels).save(buf, format="JPEG", quality=quality, optimize=True)
    else:
        Image.fromarray(pixels).save(buf, format="WEBP", quality=quality, lossless=False)
    return buf.getvalue()


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in ("data", "decoded")}


def quality_sweep(
    image: Any, codec: str = "jpeg", qualities: Iterable[int] = range(5, 101, 5)
) -> list[dict[str, Any]]:
    """Encode ``image`` at each quality; one row per quality: ``codec``, ``quality``, ``num_bytes``, ``bpp``,
    ``psnr``, ``ssim`` (no pixels, so the rows go straight into a DataFrame or JSON)."""
    pixels = to_uint8(image)
    return [_summary(encode_image(pixels, codec, q)) for q in qualities]


def codec_at_bpp(image: Any, target_bpp: float, codec: str = "jpeg") -> dict[str, Any]:
    """The highest integer quality (1..100) whose bit rate is at most ``target_bpp``, found by binary search.

    Assumes the size grows with quality (true of Pillow's JPEG and WebP up to rare one-step wobbles; the search
    then returns a quality that fits, possibly one below the very best). Returns :func:`encode_image`'s dict plus
    ``target_bpp`` and ``hit_target``. When even quality 1 is above the target (Pillow's JPEG cannot go below
    about 0.17 bpp on 768x512 photos), it returns quality 1 with ``hit_target=False`` and a ``note`` saying so.
    """
    codec = _check_codec(codec)
    if not target_bpp > 0:
        raise ValueError(f"target_bpp must be positive, got {target_bpp}")
    pixels = to_uint8(image)
    if pixels.ndim != 3:
        raise ValueError(f"codec_at_bpp takes one image, got shape {pixels.shape}")
    h, w = pixels.shape[:2]
    cache: dict[int, float] = {}

    def bpp_at(q: int) -> float:
        """The bit rate at quality q: the search needs only sizes (decoding and scoring come once, at the end)."""
        if q not in cache:
            cache[q] = bits_per_pixel(len(_encoded_bytes(pixels, codec, q)), h, w)
        return cache[q]

    if bpp_at(1) > target_bpp:
        best = encode_image(pixels, codec, 1)
        best.update(target_bpp=float(target_bpp), hit_target=False,
                    note=f"{codec} at quality 1 needs {best['bpp']:.3f} bpp, above the target {target_bpp:.3f}")
        return best
    lo, hi = 1, 100  # invariant: at(lo) fits; the answer is in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if bpp_at(mid) <= target_bpp:
            lo = mid
        else:
            hi = mid - 1
    best = encode_image(pixels, codec, lo)
    best.update(target_bpp=float(target_bpp), hit_target=True)
    return best


def batch_codec_at_bpp(images: Sequence[Any], target_bpp: float, codec: str = "jpeg") -> list[dict[str, Any]]:
    """:func:`codec_at_bpp` for each image of a batch (each image gets its own quality)."""
    pixels = to_uint8(images)
    if pixels.ndim == 3:
        pixels = pixels[None]
    return [codec_at_bpp(p, target_bpp, codec) for p in pixels]
