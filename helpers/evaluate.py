"""Rate-distortion evaluation: JPEG, WebP and the kit's codec on a folder of images, each with real bytes.

    python -m helpers.evaluate --images DIR --out DIR [--checkpoint CKPT ...] [--force]

For every image in ``DIR`` (PNG, JPEG, BMP, TIFF, ... any size; read by ``helpers.data.read_image``):

* JPEG and WebP through Pillow over a quality sweep (``helpers.metrics.quality_sweep``: bytes of the encoded
  buffer; JPEG with ``optimize=True`` and 4:2:0 chroma);
* the kit's codec (``helpers.codec``) once per checkpoint -- each shipped checkpoint is one lambda, so one
  setting -- with bytes from the real stream, which is then decoded to measure quality.

Writes into ``--out``:

* ``rd.csv``: one row per (image, codec, setting): ``image, codec, setting, bytes, bpp, psnr, ssim, width,
  height``; codec is ``jpeg``, ``webp`` or ``kit``; setting is the quality, or the checkpoint's name;
* ``rd.png``: mean bpp against mean PSNR and SSIM per codec (each setting averaged over the images, per image
  first, as CompressAI does);
* ``summary.json`` and ``summary.txt``: the mean curves, the Bjontegaard delta rate of each codec against JPEG
  on the mean curves over the PSNR range where both have points (``helpers.bdrate``), per-image BD-rates, the
  PSNR at 0.25 bpp and the lowest bit rate each codec reaches.

``--out`` is refused when it already holds results, unless ``--force``; at once when it is an existing file, or
``--images`` itself or a folder inside it (the next run would score its own plots), even with ``--force``. Each
file is written atomically (``helpers.files``): a failed or interrupted write leaves the previous file as it was.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from . import bdrate
from .files import OutputError, atomic_output, atomic_write, check_not_input, check_output_folder

JPEG_QUALITIES = (1, 2, 3, 5, 8, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
WEBP_QUALITIES = (1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95)
COLUMNS = ("image", "codec", "setting", "bytes", "bpp", "psnr", "ssim", "width", "height")
RESULT_FILES = ("rd.csv", "rd.png", "summary.json", "summary.txt")
KIT = "kit"
REFERENCE = "jpeg"
TARGET_BPP = 0.25


def list_images(folder) -> list[Path]:
    """The image files directly in ``folder`` (by suffix, case-insensitive), sorted by name."""
    from .data import IMAGE_SUFFIXES
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


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


def evaluate(images, checkpoints, jpeg_qualities=JPEG_QUALITIES, webp_qualities=WEBP_QUALITIES,
             progress: bool = True) -> list[dict]:
    """Rows of rd.csv for ``images`` (a list of paths); ``checkpoints``: paths of the kit's codec settings."""
    from .codec import Codec

    codecs = [Codec.load(c) for c in checkpoints]
    return evaluate_images(list(images), [Path(path).name for path in images], {KIT: codecs}, jpeg_qualities,
                           webp_qualities, progress)


# ----------------------------------------------------------------------------------------------------
# Summary
# ----------------------------------------------------------------------------------------------------

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


def summarize(rows, reference: str = REFERENCE, target_bpp: float = TARGET_BPP) -> dict:
    """BD-rates against ``reference``, PSNR at ``target_bpp``, lowest rates; see the module docstring."""
    curves = mean_curves(rows)
    if reference not in curves:
        raise ValueError(f"no {reference} rows to compare against")
    ref = curves[reference]
    images = sorted({r["image"] for r in rows})
    summary = {"images": images, "reference": reference, "target_bpp": target_bpp, "codecs": {}}
    ref_curve = (ref["bpp"], ref["psnr"])
    for codec, c in curves.items():
        curve = (c["bpp"], c["psnr"])
        entry = {"curve": c, "lowest_bpp": min(c["bpp"]),
                 "psnr_at_target_bpp": _safe(lambda b, p: bdrate.psnr_at_rate(b, p, target_bpp), curve)}
        if codec != reference:
            p_ref, p_mine = _finite(*ref_curve)[1], _finite(*curve)[1]
            lo, hi = (max(min(p_ref), min(p_mine)), min(max(p_ref), max(p_mine))) if p_ref and p_mine else (0, 0)
            entry["bd_rate_percent"] = _safe(bdrate.bd_rate, ref_curve, curve)
            entry["bd_psnr_db"] = _safe(bdrate.bd_psnr, ref_curve, curve)
            entry["overlap_psnr_db"] = [lo, hi] if hi > lo else None
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


def summary_text(summary: dict) -> str:
    ref = summary["reference"]
    lines = [f"{len(summary['images'])} images: {', '.join(summary['images'])}", "",
             f"{'codec':<6} {'setting':<18} {'bpp':>7} {'PSNR dB':>8} {'SSIM':>7}"]
    for codec, e in summary["codecs"].items():
        c = e["curve"]
        for s, b, p, q in sorted(zip(c["setting"], c["bpp"], c["psnr"], c["ssim"]), key=lambda t: t[1]):
            lines.append(f"{codec:<6} {str(s):<18} {b:7.3f} {p:8.2f} {q:7.4f}")
    lines.append("")
    t = summary["target_bpp"]

    def fmt(v, unit=""):
        return "n/a" if v is None else f"{v:+.1f}{unit}" if unit == " %" else f"{v:.2f}{unit}"
    for codec, e in summary["codecs"].items():
        line = (f"{codec:<6} PSNR at {t:g} bpp: {fmt(e['psnr_at_target_bpp'], ' dB')}; "
                f"lowest rate {e['lowest_bpp']:.3f} bpp")
        if codec != ref:
            ov = e["overlap_psnr_db"]
            line += (f"; BD-rate vs {ref}: {fmt(e['bd_rate_percent'], ' %')}, BD-PSNR {fmt(e['bd_psnr_db'], ' dB')}"
                     + (f" (over {ov[0]:.2f}..{ov[1]:.2f} dB)" if ov else " (no overlap)"))
        lines.append(line)
    return "\n".join(lines) + "\n"


def plot(summary: dict, path) -> None:
    from matplotlib.figure import Figure     # no pyplot: works the same under any backend, leaks no figure

    from .plots import plot_rd
    curves = {}
    for codec, e in summary["codecs"].items():
        label = codec if codec == summary["reference"] or e.get("bd_rate_percent") is None else \
            f"{codec} (BD-rate {e['bd_rate_percent']:+.1f} %)"
        curves[label] = e["curve"]
    fig = Figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    n = len(summary["images"])
    plot_rd(curves, "psnr", ax=axes[0], title=f"PSNR, mean of {n} image(s)")
    plot_rd(curves, "ssim", ax=axes[1], title=f"SSIM, mean of {n} image(s)")
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=120)


# ----------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------

def write_results(rows, out: Path) -> dict:
    """rd.csv, summary.json, summary.txt and rd.png in ``out``, each written atomically."""
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    summary = summarize(rows)
    atomic_write(out / "rd.csv", table.getvalue())
    atomic_write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    atomic_write(out / "summary.txt", summary_text(summary))
    plot(summary, out / "rd.png")
    return summary


def main(argv=None) -> int:
    from .codec import shipped_checkpoints
    p = argparse.ArgumentParser(prog="python -m helpers.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--images", required=True, type=Path, help="folder of images (PNG, JPEG, BMP, TIFF, ...)")
    p.add_argument("--out", required=True, type=Path, help="folder for rd.csv, rd.png, summary.json/.txt")
    p.add_argument("--checkpoint", nargs="+", default=None,
                   help="the kit's codec checkpoints (default: all shipped ones in checkpoints/)")
    p.add_argument("--jpeg-qualities", type=int, nargs="+", default=list(JPEG_QUALITIES))
    p.add_argument("--webp-qualities", type=int, nargs="+", default=list(WEBP_QUALITIES))
    p.add_argument("--force", action="store_true", help="overwrite results already in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:                                        # before any work: a file in the way, or --out among the inputs
        check_output_folder(args.out)
        check_not_input(args.out, [args.images, *(args.checkpoint or [])], "--out")
    except OutputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    existing = [name for name in RESULT_FILES if (args.out / name).exists()]
    if existing and not args.force:
        print(f"error: {args.out} already holds results ({', '.join(existing)}); pass --force to overwrite",
              file=sys.stderr)
        return 1
    try:
        images = list_images(args.images)
        checkpoints = args.checkpoint if args.checkpoint is not None else shipped_checkpoints()
        t0 = time.time()
        rows = evaluate(images, checkpoints, args.jpeg_qualities, args.webp_qualities, not args.no_progress)
        summary = write_results(rows, args.out)
    except (ValueError, OSError) as e:        # DataError and CodecError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(summary_text(summary), end="")
    print(f"wrote {', '.join(RESULT_FILES)} to {args.out} in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
