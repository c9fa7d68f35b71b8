"""Rate-distortion curves of JPEG, WebP and the kit's codec on images, each measured with real bytes.

* :func:`evaluate_images`: every image through JPEG and WebP over a quality sweep (Pillow, through
  ``helpers.metrics.quality_sweep``: bytes of the encoded buffer; JPEG with ``optimize=True`` and 4:2:0 chroma)
  and through each of the kit's codecs (``helpers.codec``: bytes of the real stream, then decoded to measure
  quality). One row per (image, codec, setting): ``image, codec, setting, bytes, bpp, psnr, ssim, width, height``.
* :func:`mean_curves`: per codec, bpp/PSNR/SSIM averaged over the images per setting (per image first, as
  CompressAI does).
* :func:`summarize` and :func:`summary_text`: the Bjontegaard delta rate of each codec against JPEG and against
  WebP on the mean curves, each over the PSNR range where both have points (``helpers.bdrate``; when two curves
  share no range, the text says so and gives each one's range), per-image BD-rates against JPEG, the PSNR at
  0.25 bpp and the lowest bit rate each codec reaches.

Notebook 08 calls these on the validation photographs; ``python -m tools.evaluate_codecs`` on a folder of images.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from . import bdrate

JPEG_QUALITIES = (1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
WEBP_QUALITIES = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
COLUMNS = ("image", "codec", "setting", "bytes", "bpp", "psnr", "ssim", "width", "height")
KIT = "kit"
REFERENCE = "jpeg"
TARGET_BPP = 0.25
ALSO_AGAINST = ("webp",)     # every codec is also compared with WebP, over its own overlap



def _kit_row(codec, image: np.ndarray) -> dict:
    """One image through one of the kit's codecs: bytes of the real stream, quality of its decoded image."""
    from .metrics import psnr, ssim
    data = codec.compress(image)
    decoded = codec.decompress(data)
    h, w = image.shape[:2]
    return {"bytes": len(data), "bpp": 8 * len(data) / (h * w), "psnr": psnr(image, decoded),
            "ssim": ssim(image, decoded)}


def evaluate_images(images, names, kit_codecs=None, jpeg_qualities=JPEG_QUALITIES, webp_qualities=WEBP_QUALITIES,
                    progress: bool = True) -> list[dict]:
    """Rows of rd.csv for ``images`` called ``names``: uint8 arrays (H, W, 3) or image files (read one at a time
    by ``helpers.data.read_image``), any sizes.

    ``kit_codecs`` maps a codec label (the ``codec`` column, e.g. ``"kit"``) to a list of ``helpers.codec.Codec``
    objects, one per setting (the ``setting`` column is each codec's ``name``). JPEG and WebP are measured with
    Pillow at every quality of ``jpeg_qualities`` / ``webp_qualities`` (an empty list leaves one out).
    """
    from tqdm.auto import tqdm

    from .data import read_image
    from .metrics import quality_sweep

    kit_codecs = dict(kit_codecs or {})
    if len(images) != len(names):
        raise ValueError(f"{len(images)} images but {len(names)} names")
    total = len(images) * (len(jpeg_qualities) + len(webp_qualities) + sum(map(len, kit_codecs.values())))
    rows = []
    with tqdm(total=total, unit="encode", disable=not progress, desc="evaluate") as bar:
        for item, name in zip(images, names):
            image = read_image(item) if isinstance(item, (str, Path)) else np.asarray(item)
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"image {name}: expected uint8 (H, W, 3), got {image.dtype} {image.shape}")
            h, w = image.shape[:2]
            base = {"image": name, "width": w, "height": h}
            for codec, qualities in (("jpeg", jpeg_qualities), ("webp", webp_qualities)):
                for q in qualities:
                    (r,) = quality_sweep(image, codec, [q])
                    rows.append({**base, "codec": codec, "setting": q, "bytes": r["num_bytes"], "bpp": r["bpp"],
                                 "psnr": r["psnr"], "ssim": r["ssim"]})
                    bar.update()
            for label, codecs in kit_codecs.items():
                for codec in codecs:
                    rows.append({**base, "codec": label, "setting": codec.name, **_kit_row(codec, image)})
                    bar.update()
    return [{k: row[k] for k in COLUMNS} for row in rows]


def mean_curves(rows) -> dict[str, dict[str, list]]:
    """Per codec: settings in their order of appearance, and bpp/psnr/ssim averaged over images per setting."""
    curves: dict[str, dict] = {}
    for row in rows:
        c = curves.setdefault(row["codec"], {})
        c.setdefault(row["setting"], []).append(row)
    out = {}
    for codec, by_setting in curves.items():
        settings = list(by_setting)
        out[codec] = {"setting": settings, "images": [len(by_setting[s]) for s in settings]}
        for key in ("bpp", "psnr", "ssim"):
            out[codec][key] = [float(np.mean([float(r[key]) for r in by_setting[s]])) for s in settings]
    return out


def _finite(bpp, psnr) -> tuple[list, list]:
    """The points of a curve with a finite PSNR (a lossless result has PSNR = inf)."""
    pts = [(float(b), float(p)) for b, p in zip(bpp, psnr) if math.isfinite(float(p))]
    return [b for b, _ in pts], [p for _, p in pts]


def _safe(f, *curves) -> float | None:
    """``f`` on the finite points of the given (bpp, psnr) curves; None where it is undefined."""
    args = [v for bpp, psnr in curves for v in _finite(bpp, psnr)]
    try:
        v = f(*args)
    except ValueError:
        return None
    return float(v) if math.isfinite(v) else None


def _psnr_range(curve) -> list[float] | None:
    """[lowest, highest] finite PSNR of a (bpp, psnr) curve; None when it has no finite point."""
    psnr = _finite(*curve)[1]
    return [min(psnr), max(psnr)] if psnr else None


def compare_curves(ref_curve, curve) -> dict:
    """How ``curve`` compares with ``ref_curve`` (each a (bpp list, psnr list)) over the PSNR range both reach.

    Returns ``bd_rate_percent`` (negative: fewer bits at equal PSNR), ``bd_psnr_db`` (positive: more dB at equal
    rate), ``overlap_psnr_db`` ([lo, hi], or None when the curves share no PSNR range, and then both BD values are
    None) and each curve's own ``psnr_range_db`` / ``reference_psnr_range_db``, so a report can say why.
    """
    mine, theirs = _psnr_range(curve), _psnr_range(ref_curve)
    lo, hi = (max(mine[0], theirs[0]), min(mine[1], theirs[1])) if mine and theirs else (0, 0)
    return {"bd_rate_percent": _safe(bdrate.bd_rate, ref_curve, curve),
            "bd_psnr_db": _safe(bdrate.bd_psnr, ref_curve, curve),
            "overlap_psnr_db": [lo, hi] if hi > lo else None,
            "psnr_range_db": mine, "reference_psnr_range_db": theirs}


def summarize(rows, reference: str = REFERENCE, target_bpp: float = TARGET_BPP,
              also_against: tuple[str, ...] = ALSO_AGAINST) -> dict:
    """BD-rates against ``reference`` (and in ``against`` also against each codec of ``also_against`` present in
    the rows, each over its own overlap), PSNR at ``target_bpp``, lowest rates; see the module docstring."""
    curves = mean_curves(rows)
    if reference not in curves:
        raise ValueError(f"no {reference} rows to compare against")
    ref = curves[reference]
    images = sorted({r["image"] for r in rows})
    summary = {"images": images, "reference": reference, "target_bpp": target_bpp, "codecs": {}}
    for codec, c in curves.items():
        curve = (c["bpp"], c["psnr"])
        entry = {"curve": c, "lowest_bpp": min(c["bpp"]),
                 "psnr_at_target_bpp": _safe(lambda b, p: bdrate.psnr_at_rate(b, p, target_bpp), curve),
                 "against": {other: compare_curves((curves[other]["bpp"], curves[other]["psnr"]), curve)
                             for other in (reference, *also_against) if other in curves and other != codec}}
        if codec != reference:
            versus = entry["against"][reference]             # the reference's numbers also stand at the top
            entry.update({k: versus[k] for k in ("bd_rate_percent", "bd_psnr_db", "overlap_psnr_db")})
            entry["below_reference_lowest_bpp"] = entry["lowest_bpp"] < min(ref["bpp"])
            per_image = {}
            for image in images:
                mine = [r for r in rows if r["image"] == image and r["codec"] == codec]
                theirs = [r for r in rows if r["image"] == image and r["codec"] == reference]
                per_image[image] = _safe(bdrate.bd_rate, ([r["bpp"] for r in theirs], [r["psnr"] for r in theirs]),
                                         ([r["bpp"] for r in mine], [r["psnr"] for r in mine]))
            entry["bd_rate_per_image_percent"] = per_image
        summary["codecs"][codec] = entry
    return summary


def _versus_text(codec: str, other: str, v: dict) -> str:
    """One codec against another: BD-rate and BD-PSNR over their overlap, or why there is none."""
    if v["overlap_psnr_db"] is None:
        mine, theirs = (f"{r[0]:.2f}..{r[1]:.2f} dB" if r else "no finite PSNR"
                        for r in (v["psnr_range_db"], v["reference_psnr_range_db"]))
        return (f"BD-rate vs {other}: none, the curves do not overlap ({codec} reaches {mine}, "
                f"{other} {theirs})")
    lo, hi = v["overlap_psnr_db"]
    return (f"BD-rate vs {other}: {_fmt(v['bd_rate_percent'], ' %')}, BD-PSNR {_fmt(v['bd_psnr_db'], ' dB')} "
            f"(over {lo:.2f}..{hi:.2f} dB)")


def _fmt(v, unit=""):
    return "n/a" if v is None else f"{v:+.1f}{unit}" if unit == " %" else f"{v:.2f}{unit}"


def summary_text(summary: dict) -> str:
    """The summary as text: the mean curve of every codec, then per codec its PSNR at the target rate, its lowest
    rate and its BD-rate against each reference (or why there is none)."""
    lines = [f"{len(summary['images'])} images: {', '.join(summary['images'])}", "",
             f"{'codec':<6} {'setting':<18} {'bpp':>7} {'PSNR dB':>8} {'SSIM':>7}"]
    for codec, e in summary["codecs"].items():
        c = e["curve"]
        for s, b, p, q in sorted(zip(c["setting"], c["bpp"], c["psnr"], c["ssim"]), key=lambda t: t[1]):
            lines.append(f"{codec:<6} {str(s):<18} {b:7.3f} {p:8.2f} {q:7.4f}")
    lines.append("")
    t = summary["target_bpp"]
    for codec, e in summary["codecs"].items():
        lines.append(f"{codec:<6} PSNR at {t:g} bpp: {_fmt(e['psnr_at_target_bpp'], ' dB')}; "
                     f"lowest rate {e['lowest_bpp']:.3f} bpp")
        for other, versus in e.get("against", {}).items():
            lines.append(f"{'':<6} {_versus_text(codec, other, versus)}")
    return "\n".join(lines) + "\n"
