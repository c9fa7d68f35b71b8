"""The course's measured targets, checked on a `make run`: one row per target, met or not, from the run's own files.

Issue 15 ("Models that really learn") set them; the report (``tools.report``) shows this table first, so a run
says at a glance whether the course still teaches what its notebooks claim:

* 04's conv autoencoder at about 0.25 bpp reaches at least 24 dB whole-image PSNR on the validation photographs;
* 06's whole-image PSNR rises with every latent size, and the largest latent is at least 3 dB above latent 32;
* 06: at the same rate and patch size, the conv model beats the dense baseline (the notebook measures both);
* notebooks 01-07 together take at most 20 minutes.

Each check reads ``<run>/<notebook>/metrics.json`` (``helpers.record``) and the run's timings; a notebook that did
not run, or a metric it did not write, gives "not measured" rather than a pass.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from helpers.record import METRICS_FILE

__all__ = ["TARGETS", "check_targets"]

SERIES = ("01_explore", "02_preprocess", "03_baseline", "04_conv_model", "05_regularization",
          "06_bottleneck_sweep", "07_analysis")
SERIES_LIMIT_SECONDS = 20 * 60


def _conv_at_quarter_bpp(m: dict) -> tuple[str, bool]:
    psnr, bpp = m["04_conv_model"]["image_psnr"], m["04_conv_model"]["bpp"]
    return f"{psnr:.2f} dB at {bpp:.3f} bpp", psnr >= 24.0 and 0.2 <= bpp <= 0.3


def _monotone(m: dict) -> tuple[str, bool]:
    psnr = m["06_bottleneck_sweep"]["psnr"]
    rises = all(b > a for a, b in zip(psnr, psnr[1:]))
    return " < ".join(f"{p:.2f}" for p in psnr) if rises else ", ".join(f"{p:.2f}" for p in psnr), rises


def _span_over_32(m: dict) -> tuple[str, bool]:
    dims, psnr = m["06_bottleneck_sweep"]["latent_dims"], m["06_bottleneck_sweep"]["psnr"]
    gain = psnr[-1] - psnr[dims.index(32)]
    return f"latent {dims[-1]} is {gain:+.2f} dB over latent 32", gain >= 3.0


def _conv_beats_dense(m: dict) -> tuple[str, bool]:
    versus = m["06_bottleneck_sweep"]["conv_vs_dense"]
    gain = versus["difference_db"]
    return f"conv - dense = {gain:+.2f} dB at {versus['bpp']:.3f} bpp ({versus['verdict']})", gain > 0


def _series_time(m: dict, timings: dict[str, float]) -> tuple[str, bool]:
    missing = [n for n in SERIES if n not in timings]
    if missing:
        raise KeyError(missing[0])
    total = sum(timings[n] for n in SERIES)
    return f"{total:.0f} s ({total / 60:.1f} min)", total <= SERIES_LIMIT_SECONDS


# (what is promised, how it is measured)
TARGETS: list[tuple[str, Callable[..., tuple[str, bool]]]] = [
    ("04: conv autoencoder >= 24 dB whole-image PSNR at about 0.25 bpp", _conv_at_quarter_bpp),
    ("06: PSNR rises with every latent size", _monotone),
    ("06: largest latent >= 3 dB above latent 32", _span_over_32),
    ("06: conv model beats the dense baseline at the same rate and patch size", _conv_beats_dense),
    ("01-07 run in at most 20 minutes", _series_time),
]


def _read_metrics(run_dir: Path) -> dict[str, dict[str, Any]]:
    metrics = {}
    for path in sorted(Path(run_dir).glob(f"*/{METRICS_FILE}")):
        metrics[path.parent.name] = json.loads(path.read_text())
    return metrics


def check_targets(run_dir: str | Path, timings: dict[str, float]) -> list[dict[str, Any]]:
    """One row per target: ``{'target', 'measured', 'met'}``; ``met`` is True, False, or None (not measured)."""
    metrics = _read_metrics(Path(run_dir))
    rows = []
    for target, measure in TARGETS:
        try:
            args = (metrics, timings) if measure is _series_time else (metrics,)
            measured, met = measure(*args)
        except (KeyError, ValueError, IndexError, TypeError):
            measured, met = "not measured", None
        rows.append({"target": target, "measured": measured, "met": met})
    return rows
