"""Normalization (notebook 02's topic): 8-bit pixels to the tensors a model sees, and exactly back.

A model learns best from small, centred numbers, not from the integers 0..255 of a photograph. A normalization
maps each pixel ``u`` (0..255) of channel ``c`` to ``x = (u / 255 - mean[c]) / std[c]``:

* ``"unit"``: mean 0, std 1 -- values in [0, 1] (pairs with a sigmoid output, ``helpers.models.output_for``);
* ``"symmetric"``: mean 0.5, std 0.5 -- values in [-1, 1] (pairs with tanh);
* ``"standard"``: the *training* split's per-channel mean and std (unbounded; pairs with a linear output).

Each has an exact inverse: ``n.to_uint8(n(u))`` gives back the very 8-bit pixels ``u``, and ``n.inverse(x)`` gives
floats in [0, 1] pixel units. Compute metrics on those, never on normalized tensors.

    n = Normalization.make("symmetric")
    x = n(pixels)            # uint8 (H, W, 3) -> float32 (3, H, W) in [-1, 1]
    back = n.to_uint8(x)     # -> uint8 (H, W, 3), equal to pixels
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..images import DataError, to_pixel_levels

__all__ = ["NORMALIZATIONS", "Normalization"]

NORMALIZATIONS = ("unit", "symmetric", "standard")


@dataclass(frozen=True)
class Normalization:
    """Maps 8-bit pixels to model tensors and back, exactly.

    ``x = (u / 255 - mean) / std`` per channel: ``"unit"`` (mean 0, std 1: [0, 1]), ``"symmetric"`` (mean 0.5,
    std 0.5: [-1, 1]), ``"standard"`` (the training split's per-channel mean and std).
    """

    kind: str = "unit"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @classmethod
    def make(cls, kind: str, mean=None, std=None) -> "Normalization":
        if kind == "unit":
            return cls("unit")
        if kind == "symmetric":
            return cls("symmetric", (0.5,) * 3, (0.5,) * 3)
        if kind == "standard":
            if mean is None or std is None:
                raise DataError("normalization='standard' needs the training split's mean and std (use make_splits).")
            return cls("standard", tuple(float(m) for m in mean), tuple(float(s) for s in std))
        raise DataError(f"normalization={kind!r}: expected one of {', '.join(map(repr, NORMALIZATIONS))}.")

    def _affine(self, x: torch.Tensor, channel_dim: int):
        shape = [1] * x.dim()
        shape[channel_dim] = 3
        mean = torch.tensor(self.mean, dtype=torch.float32).reshape(shape)
        std = torch.tensor(self.std, dtype=torch.float32).reshape(shape)
        return mean, std

    def __call__(self, pixels) -> torch.Tensor:
        """``uint8`` pixels ``(H, W, 3)`` or ``(N, H, W, 3)`` (NumPy or torch) -> float32 ``(3, H, W)`` / ``(N, 3, H, W)``."""
        a = pixels.detach().cpu().numpy() if isinstance(pixels, torch.Tensor) else np.asarray(pixels)
        if a.dtype != np.uint8 or a.ndim not in (3, 4) or a.shape[-1] != 3:
            raise DataError(
                f"normalize expects uint8 pixels shaped (H, W, 3) or (N, H, W, 3), got {a.dtype} {a.shape}."
            )
        # NumPy rather than torch here: one image at a time, in DataLoader workers, without torch's thread pool
        x = np.ascontiguousarray(np.moveaxis(a, -1, -3), dtype=np.float32)
        x /= np.float32(255.0)
        if self.kind != "unit":
            x -= np.asarray(self.mean, dtype=np.float32)[:, None, None]
            x /= np.asarray(self.std, dtype=np.float32)[:, None, None]
        return torch.from_numpy(x)

    normalize = __call__

    def inverse(self, x) -> torch.Tensor:
        """Normalized ``(3, H, W)`` / ``(N, 3, H, W)`` -> pixel values in [0, 1] units (not clipped): exact inverse."""
        x = torch.as_tensor(x).to(torch.float32)
        if x.dim() not in (3, 4) or x.shape[-3] != 3:
            raise DataError(f"expected a (3, H, W) or (N, 3, H, W) tensor, got shape {tuple(x.shape)}.")
        if self.kind == "unit":
            return x
        mean, std = self._affine(x, x.dim() - 3)
        return x * std + mean

    denormalize = inverse

    def to_uint8(self, x) -> np.ndarray:
        """Normalized ``(3, H, W)`` / ``(N, 3, H, W)`` -> 8-bit pixels ``(H, W, 3)`` / ``(N, H, W, 3)``, by the kit's
        one rule (``helpers.images.to_pixel_levels``: clipped to [0, 1], times 255, rounded half to even).

        ``to_uint8(normalize(u))`` equals ``u`` exactly for every kind."""
        u = self.inverse(torch.as_tensor(x).detach().cpu()).to(torch.float64)
        u = to_pixel_levels(u).to(torch.uint8)
        return np.ascontiguousarray(u.movedim(-3, -1).numpy())
