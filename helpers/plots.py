"""Figures for the notebooks: side-by-side grids, training curves, metric-against-setting and rate-distortion plots.

Every function returns the matplotlib ``Figure`` (a notebook shows it; a script saves it with ``fig.savefig``)
and never calls ``plt.show()``. Images are read with ``helpers.metrics.to_uint8``: torch tensors channels-first,
arrays channels-last, floats in ``[0, 1]`` -- denormalize first.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .metrics import to_uint8

__all__ = ["side_by_side", "plot_history", "plot_metric_vs_setting", "plot_rd", "show_images", "overlapping_texts"]

_HISTORY_METRICS = {"loss": ("train_loss", "val_loss"), "psnr": (None, "val_psnr"), "ssim": (None, "val_ssim")}


def _batch(images: Any) -> np.ndarray | list[np.ndarray]:
    """Images as (H, W, 3) uint8 arrays, indexable; a list or tuple may mix sizes (whole photographs)."""
    if isinstance(images, (list, tuple)):
        return [to_uint8(image) for image in images]
    pixels = to_uint8(images)
    return pixels[None] if pixels.ndim == 3 else pixels


def _get(obj: Any, name: str) -> Any:
    return obj[name] if isinstance(obj, Mapping) else getattr(obj, name)


def _caption(metrics: Mapping[str, Sequence[float]] | None, i: int) -> str:
    if not metrics:
        return ""
    parts = []
    for key, fmt in (("psnr", "{:.2f} dB"), ("ssim", "SSIM {:.3f}"), ("bpp", "{:.3f} bpp")):
        values = metrics.get(key)
        if values is not None and i < len(values) and values[i] is not None:
            parts.append(fmt.format(values[i]))
    return "\n".join(parts)


def side_by_side(
    originals: Any,
    jpegs: Any | None = None,
    reconstructions: Any | None = None,
    *,
    jpeg_metrics: Mapping[str, Sequence[float]] | None = None,
    recon_metrics: Mapping[str, Sequence[float]] | None = None,
    titles: Sequence[str] = ("original", "JPEG", "reconstruction"),
    max_images: int = 8,
    size: float = 2.6,
) -> Figure:
    """A grid with one row per image: original | JPEG | reconstruction.

    ``jpegs`` or ``reconstructions`` may be ``None`` (the column is left out). ``jpeg_metrics`` and
    ``recon_metrics`` map ``'psnr'``, ``'ssim'`` and ``'bpp'`` to one value per image (e.g. from
    ``helpers.metrics.psnr(..., reduction='none')`` or the dicts of ``codec_at_bpp``); each image's values go
    under it. At most ``max_images`` rows.
    """
    columns = [(titles[0], _batch(originals), None)]
    if jpegs is not None:
        columns.append((titles[1], _batch(jpegs), jpeg_metrics))
    if reconstructions is not None:
        columns.append((titles[2], _batch(reconstructions), recon_metrics))
    n = min(len(columns[0][1]), max_images)
    for title, imgs, _ in columns:
        if len(imgs) < n:
            raise ValueError(f"{title}: {len(imgs)} images for {n} originals")
    fig, axes = plt.subplots(n, len(columns), figsize=(size * len(columns), size * n + 0.5), squeeze=False)
    for i in range(n):
        for j, (title, imgs, mets) in enumerate(columns):
            ax = axes[i, j]
            ax.imshow(imgs[i])
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(title, fontsize=11, fontweight="bold")
            caption = _caption(mets, i)
            if caption:
                ax.set_xlabel(caption, fontsize=9)
    fig.tight_layout()
    return fig


def show_images(images: Any, titles: Sequence[str] | None = None, ncols: int = 8, size: float = 2.0) -> Figure:
    """A plain grid of images (a batch), with optional titles."""
    imgs = _batch(images)
    n = len(imgs)
    ncols = max(1, min(ncols, n))
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(imgs[k])
            if titles is not None and k < len(titles):
                ax.set_title(titles[k], fontsize=9)
    fig.tight_layout()
    return fig


def plot_history(
    history: Any | Sequence[Any],
    labels: Sequence[str] | None = None,
    metrics: Sequence[str] = ("loss", "psnr", "ssim"),
    logy_loss: bool = True,
) -> Figure:
    """Training curves: one panel per metric (``'loss'``, ``'psnr'``, ``'ssim'``), epochs on x.

    ``history``: a ``helpers.train.History``, a dict with the same keys, or a list of them (one colour per run,
    named by ``labels``). The loss panel shows training (dashed) and validation (solid); PSNR and SSIM are on the
    validation set. The best epoch, when known, is marked with a dot.
    """
    runs = list(history) if isinstance(history, (list, tuple)) else [history]
    if labels is None:
        labels = [f"run {i + 1}" for i in range(len(runs))] if len(runs) > 1 else [""]
    if len(labels) != len(runs):
        raise ValueError(f"{len(labels)} labels for {len(runs)} histories")
    for m in metrics:
        if m not in _HISTORY_METRICS:
            raise ValueError(f"unknown metric {m!r}; choose from {', '.join(_HISTORY_METRICS)}")
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r, (run, label) in enumerate(zip(runs, labels)):
        color = colors[r % len(colors)]
        best = run.get("best_epoch") if isinstance(run, Mapping) else getattr(run, "best_epoch", None)
        for ax, m in zip(axes[0], metrics):
            train_key, val_key = _HISTORY_METRICS[m]
            prefix = f"{label} " if label else ""
            if train_key is not None:
                y = np.asarray(_get(run, train_key), dtype=float)
                ax.plot(np.arange(1, len(y) + 1), y, "--", color=color, label=f"{prefix}train")
            y = np.asarray(_get(run, val_key), dtype=float)
            if len(y) and not np.all(np.isnan(y)):
                ax.plot(np.arange(1, len(y) + 1), y, "-", color=color, label=f"{prefix}val")
                if best is not None and 1 <= best <= len(y):
                    ax.plot([best], [y[best - 1]], "o", color=color)
    for ax, m in zip(axes[0], metrics):
        ax.set_xlabel("epoch")
        ax.set_ylabel({"loss": "loss", "psnr": "PSNR (dB)", "ssim": "SSIM"}[m])
        ax.set_title({"loss": "loss", "psnr": "validation PSNR", "ssim": "validation SSIM"}[m])
        if m == "loss" and logy_loss:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_psnr_vs_training(runs: Sequence[Any], labels: Sequence[str]) -> Figure:
    """Validation PSNR against training effort, one line per run: optimizer steps (log scale) on the left panel,
    seconds of training on the right. Each run is a ``helpers.train.History`` (or its dict), or a curve
    ``{"steps": [...], "seconds": [...], "val_psnr": [...]}`` whose steps and seconds are cumulative per epoch (a
    reference model's manifest stores one: ``helpers.reference``). Training time against reconstruction accuracy."""
    if len(labels) != len(runs):
        raise ValueError(f"{len(labels)} labels for {len(runs)} runs")
    fig, (by_steps, by_seconds) = plt.subplots(1, 2, figsize=(10, 3.6))
    for run, label in zip(runs, labels):
        if isinstance(run, Mapping) and "val_psnr" in run and "train_loss" not in run:
            steps, seconds = np.asarray(run["steps"], float), np.asarray(run["seconds"], float)
        else:
            steps = np.cumsum(np.asarray(_get(run, "steps"), float))
            seconds = np.cumsum(np.asarray(_get(run, "seconds"), float))
        psnr = np.asarray(_get(run, "val_psnr"), float)
        if not len(steps) == len(seconds) == len(psnr):
            raise ValueError(f"run {label!r}: {len(steps)} steps, {len(seconds)} seconds, {len(psnr)} PSNR values")
        by_steps.plot(steps, psnr, ".-", markersize=4, label=label)  # a dot per epoch: a 1-epoch run shows too
        by_seconds.plot(seconds, psnr, ".-", markersize=4, label=label)
    by_steps.set_xscale("log")
    by_steps.set_xlabel("optimizer steps (log scale)")
    by_seconds.set_xlabel("seconds of training")
    for ax in (by_steps, by_seconds):
        ax.set_ylabel("validation PSNR (dB)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_metric_vs_setting(
    settings: Sequence[Any],
    values: Sequence[float] | Mapping[str, Sequence[float]],
    *,
    setting_name: str = "setting",
    metric_name: str = "PSNR (dB)",
    logx: bool = False,
    ax: Any | None = None,
) -> Figure:
    """A metric against a setting (e.g. PSNR against ``latent_dim``).

    ``values``: one value per setting, or a dict ``{label: values}`` for several series. Numeric settings are
    drawn as lines (``logx`` for a log axis), other settings (e.g. ``'relu'``, ``'tanh'``) as grouped bars.
    """
    series = dict(values) if isinstance(values, Mapping) else {"": values}
    for label, ys in series.items():
        if len(ys) != len(settings):
            raise ValueError(f"series {label!r}: {len(ys)} values for {len(settings)} settings")
    fig = ax.figure if ax is not None else plt.figure(figsize=(5.5, 3.6))
    ax = ax if ax is not None else fig.add_subplot(1, 1, 1)
    numeric = all(isinstance(s, (int, float, np.integer, np.floating)) and not isinstance(s, bool) for s in settings)
    if numeric:
        for label, ys in series.items():
            ax.plot(list(settings), list(ys), "o-", label=label or None)
        if logx:
            ax.set_xscale("log")
    else:
        k = len(series)
        x = np.arange(len(settings))
        w = 0.8 / k
        for i, (label, ys) in enumerate(series.items()):
            ax.bar(x + (i - (k - 1) / 2) * w, list(ys), width=w, label=label or None)
        ax.set_xticks(x, [str(s) for s in settings])
    ax.set_xlabel(setting_name)
    ax.set_ylabel(metric_name)
    ax.set_title(f"{metric_name} vs {setting_name}")
    ax.grid(True, alpha=0.3)
    if any(series):
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_rd(
    curves: Mapping[str, Any],
    metric: str = "psnr",
    *,
    ax: Any | None = None,
    title: str | None = None,
) -> Figure:
    """Rate-distortion curves: bits per pixel on x, PSNR (dB) or SSIM on y, one labelled curve per method.

    ``curves`` maps a label to either a pair ``(bpp_values, metric_values)``, a dict with keys ``'bpp'`` and
    ``metric``, or a list of rows (dicts) with those keys (e.g. ``helpers.metrics.quality_sweep``'s output).
    Points are sorted by bpp; a single point is drawn as a marker; non-finite points (the ``inf`` PSNR of a
    lossless result) are left out.
    """
    if metric not in ("psnr", "ssim"):
        raise ValueError(f"metric must be 'psnr' or 'ssim', got {metric!r}")
    fig = ax.figure if ax is not None else plt.figure(figsize=(5.5, 4.0))
    ax = ax if ax is not None else fig.add_subplot(1, 1, 1)
    for label, data in curves.items():
        if isinstance(data, Mapping):
            bpp, y = data["bpp"], data[metric]
        elif isinstance(data, (list, tuple)) and data and isinstance(data[0], Mapping):
            bpp, y = [row["bpp"] for row in data], [row[metric] for row in data]
        else:
            bpp, y = data
        bpp, y = np.asarray(bpp, dtype=float), np.asarray(y, dtype=float)
        if bpp.shape != y.shape:
            raise ValueError(f"{label}: {bpp.size} bpp values for {y.size} {metric} values")
        keep = np.isfinite(bpp) & np.isfinite(y)  # a lossless point (PSNR inf) has no place on the axis
        bpp, y = bpp[keep], y[keep]
        order = np.argsort(bpp)
        ax.plot(bpp[order], y[order], "o-" if len(bpp) > 1 else "o", label=label)
    ax.set_xlabel("bits per pixel (bpp)")
    ax.set_ylabel("PSNR (dB)" if metric == "psnr" else "SSIM")
    ax.set_title(title or f"rate-distortion ({metric.upper()})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def overlapping_texts(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of annotations (``ax.annotate`` / ``ax.text`` inside the axes) whose drawn boxes overlap, as their
    texts: ``[]`` when no label overprints another. Draws the figure once to measure the boxes in pixels.
    Titles, axis labels, tick labels and legends are not checked (matplotlib lays those out itself)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for ax in fig.axes for t in ax.texts
             if t.get_visible() and t.get_text()]
    return [(a, b) for i, (a, box_a) in enumerate(boxes) for b, box_b in boxes[i + 1:] if box_a.overlaps(box_b)]
