"""Rate-distortion evaluation: JPEG, WebP and the kit's codec on a folder of images, each with real bytes.

    python -m tools.evaluate_codecs --images DIR --out DIR [--checkpoint CKPT ...] [--force]

For every image in ``DIR`` (PNG, JPEG, BMP, TIFF, ... any size; read by ``helpers.data.read_image``):

* JPEG and WebP through Pillow over a quality sweep (``helpers.metrics.quality_sweep``: bytes of the encoded
  buffer; JPEG with ``optimize=True`` and 4:2:0 chroma);
* the kit's codec (``helpers.codec``) once per checkpoint -- each shipped checkpoint is one lambda, so one
  setting -- with bytes from the real stream, which is then decoded to measure quality.

Writes into ``--out``:

* ``rd.csv``: one row per (image, codec, setting): ``image, codec, setting, bytes, bpp, psnr, ssim, width,
  height``; codec is ``jpeg``, ``webp``, ``kit`` (the factorized prior's checkpoints) or ``hyperprior`` (the
  scale hyperprior's); setting is the quality, or the checkpoint's name;
* ``rd.png``: mean bpp against mean PSNR and SSIM per codec (each setting averaged over the images, per image
  first, as CompressAI does);
* ``summary.json`` and ``summary.txt``: the mean curves, the Bjontegaard delta rate of each codec against JPEG and WebP
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
import sys
import time
from pathlib import Path

from helpers.files import OutputError, atomic_output, atomic_write, check_not_input, check_output_folder
from helpers.rd_curves import COLUMNS, JPEG_QUALITIES, KIT, WEBP_QUALITIES, evaluate_images, summarize, summary_text

RESULT_FILES = ("rd.csv", "rd.png", "summary.json", "summary.txt")


def list_images(folder) -> list[Path]:
    """The image files directly in ``folder`` (by suffix, case-insensitive), sorted by name."""
    from helpers.data import IMAGE_SUFFIXES
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return files


def evaluate_checkpoints(images, checkpoints, jpeg_qualities=JPEG_QUALITIES, webp_qualities=WEBP_QUALITIES,
             progress: bool = True) -> list[dict]:
    """Rows of rd.csv for ``images`` (a list of paths); ``checkpoints``: paths of the kit's codec settings, one
    curve per model kind: the factorized prior's labelled ``kit``, the scale hyperprior's ``hyperprior``."""
    from helpers.codec import Codec, by_kind

    kinds = by_kind([Codec.load(c) for c in checkpoints])
    labels = {"factorized": KIT, "hyperprior": "hyperprior"}
    return evaluate_images(list(images), [Path(path).name for path in images],
                           {labels[kind]: codecs for kind, codecs in kinds.items()}, jpeg_qualities, webp_qualities,
                           progress)


def plot(summary: dict, path) -> None:
    from matplotlib.figure import Figure     # no pyplot: works the same under any backend, leaks no figure

    from helpers.plots import plot_rd
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
    from helpers.codec import shipped_checkpoints
    p = argparse.ArgumentParser(prog="python -m tools.evaluate_codecs", description=__doc__.split("\n\n")[0])
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
        rows = evaluate_checkpoints(images, checkpoints, args.jpeg_qualities, args.webp_qualities, not args.no_progress)
        summary = write_results(rows, args.out)
    except (ValueError, OSError) as e:        # DataError and CodecError are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(summary_text(summary), end="")
    print(f"wrote {', '.join(RESULT_FILES)} to {args.out} in {time.time() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
