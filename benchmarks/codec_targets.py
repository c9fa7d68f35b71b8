"""The codec's targets, measured in one run beside JPEG and WebP: the rates it covers, its BD-rates, its speed.

    .venv/bin/python benchmarks/codec_targets.py                    # the embedded validation photographs
    .venv/bin/python benchmarks/codec_targets.py --images FOLDER    # any folder of natural photographs

The photographs: without ``--images``, the validation side of ``helpers.data.make_splits`` at seed 0 (the
photographs notebook 08 measures on: real LIVE in data/databaserelease2 when it is there, else the embedded
sample); with ``--images``, every image in the folder. Each goes through Pillow's JPEG and WebP over their quality
sweeps and through the kit's shipped checkpoints, one curve per model kind (``factorized``: ``rd_lambda*.pt``,
``hyperprior``: ``hp_lambda*.pt``; ``helpers.rd_curves.evaluate_images``: bytes of the real streams). Then one
photograph of 768x512 (scikit-image's astronaut, resized) is compressed and decompressed on one CPU thread,
transforms included, by the default checkpoint of each kind (the factorized ``DEFAULT_CHECKPOINT``; the
hyperprior's middle lambda): one warm-up, then ``--repeats`` timed runs.

Prints the RD summary (``helpers.rd_curves.summary_text``), then per kind one line per target, last:

    KIND coverage_bpp: LO..HI            target: from 0.1 or below to 0.8 or above
    KIND bd_rate_vs_webp_percent: X      target: below 0
    KIND bd_rate_vs_jpeg_percent: X      target: -35 or below
    KIND roundtrip_s: X                  target: below 1 (median of compress + decompress, one core)

Each target line ends with "met" or "not met"; a BD-rate over no common PSNR range prints "none" and "not met".
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.entropy_speed import photo  # noqa: E402
from helpers import data, rd_curves  # noqa: E402
from helpers.codec import DEFAULT_CHECKPOINT, Codec, by_kind, shipped_checkpoints  # noqa: E402
from tools.evaluate_codecs import list_images  # noqa: E402


def photographs(folder):
    """(images or paths, names): the folder's images, or the validation photographs of the default split."""
    if folder is not None:
        paths = list_images(folder)
        return paths, [p.name for p in paths]
    val = data.make_splits(None, seed=0).val
    return val.photographs(), list(val.references)


def roundtrip_seconds(codec: Codec, repeats: int) -> float:
    """Median seconds of compress + decompress of a 768x512 photograph (one warm-up untimed)."""
    image = photo()
    codec.decompress(codec.compress(image))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        codec.decompress(codec.compress(image))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timed_codec(kind: str, codecs: list[Codec]) -> Codec:
    """The codec whose round trip is timed: the default checkpoint for the factorized kind, else the middle one."""
    if kind == "factorized":
        return Codec.load(DEFAULT_CHECKPOINT)
    return codecs[len(codecs) // 2]


def verdict(ok: bool) -> str:
    return "met" if ok else "not met"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=Path, default=None, help="a folder of photographs (default: the validation "
                                                              "photographs of the default dataset)")
    p.add_argument("--repeats", type=int, default=5, help="timed round trips of the 768x512 photograph")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    images, names = photographs(args.images)
    kinds = by_kind([Codec.load(c) for c in shipped_checkpoints()])
    rows = rd_curves.evaluate_images(images, names, kinds, progress=False)
    summary = rd_curves.summarize(rows)
    print(rd_curves.summary_text(summary))

    for kind, codecs in kinds.items():
        entry = summary["codecs"][kind]
        lo, hi = min(entry["curve"]["bpp"]), max(entry["curve"]["bpp"])
        print(f"{kind} coverage_bpp: {lo:.3f}..{hi:.3f}  ({verdict(lo <= 0.1 and hi >= 0.8)}; target 0.1..0.8 or wider)")
        for other, target in (("webp", 0.0), ("jpeg", -35.0)):
            bd = entry["against"].get(other, {}).get("bd_rate_percent")
            shown = "none" if bd is None else f"{bd:+.1f}"
            ok = bd is not None and (bd < target if other == "webp" else bd <= target)
            print(f"{kind} bd_rate_vs_{other}_percent: {shown}  ({verdict(ok)}; target "
                  f"{'below 0' if other == 'webp' else '-35 or below'})")
        timed = timed_codec(kind, codecs)
        seconds = roundtrip_seconds(timed, args.repeats)
        print(f"{kind} roundtrip_s: {seconds:.3f}  ({verdict(seconds < 1.0)}; target below 1, 768x512, one core, "
              f"{timed.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
