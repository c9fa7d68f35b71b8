"""A dataset in a few numbers: :func:`dataset_summary` (a dict) and :func:`format_summary` (a short table).

``python -m helpers.data`` prints the summary of the dataset in use.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..images import image_size
from ..sample import read_manifest
from .sources import default_dataset_root, find_live_root, is_live, load_folder, load_live, load_pairs

__all__ = ["dataset_summary", "format_summary"]


def dataset_summary(source=None) -> dict:
    """Facts about a dataset: a root folder (LIVE, the embedded sample, or an image folder), a list of pairs, or
    None (the default dataset). Keys: root, kind, n_references, n_jpeg, size_min / size_max ((width, height) of
    the smallest and largest reference by area), bpp_min / bpp_max / bpp_mean, qualities (None when unknown),
    total_bytes (references and JPEG files)."""
    if source is None:
        source = default_dataset_root()
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        if p.is_dir() and is_live(p):
            root = find_live_root(p)
            m = read_manifest(root)
            kind = "embedded sample" if m and m.get("kind") == "embedded sample" else "LIVE release 2"
            pairs = load_live(root)
        else:
            root, kind, pairs = p, "image folder", load_folder(p)
    else:
        pairs = load_pairs(source)
        root = Path(os.path.commonpath([str(q.reference.parent) for q in pairs]))
        kind = "pairs"
    refs = sorted({q.reference for q in pairs})
    sizes = [image_size(r) for r in refs]
    bpps = [q.bpp for q in pairs]
    qualities = sorted({q.quality for q in pairs if q.quality is not None}) or None
    files = set(refs) | {q.distorted for q in pairs}
    return {
        "root": str(root),
        "kind": kind,
        "n_references": len(refs),
        "n_jpeg": len(pairs),
        "size_min": min(sizes, key=lambda s: (s[0] * s[1], s)),
        "size_max": max(sizes, key=lambda s: (s[0] * s[1], s)),
        "bpp_min": min(bpps),
        "bpp_max": max(bpps),
        "bpp_mean": sum(bpps) / len(bpps),
        "qualities": qualities,
        "total_bytes": sum(f.stat().st_size for f in files),
    }


def format_summary(summary: dict) -> str:
    """A short readable table of :func:`dataset_summary`'s dict."""
    q = summary.get("qualities")
    rows = [
        ("dataset", summary["kind"]),
        ("root", summary["root"]),
        ("references", str(summary["n_references"])),
        ("JPEG versions", f"{summary['n_jpeg']}" + (f" (Pillow qualities {', '.join(map(str, q))})" if q else "")),
        ("image sizes", "{}x{} to {}x{}".format(*summary["size_min"], *summary["size_max"])),
        ("bits per pixel", f"{summary['bpp_min']:.2f} to {summary['bpp_max']:.2f} (mean {summary['bpp_mean']:.2f})"),
        ("on disk", f"{summary['total_bytes'] / 1e6:.1f} MB"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
