"""Latency of one slider update of helpers.widgets.latent_explorer at 224x224 on the CPU, uncached.

The explorer gets untrained ConvAE models of the kit's default CPU shape (``ConvAE(latent_dim=k, depth=3, width=16,
image_size=64)``: 64x64 tiles, so a 224x224 image is cropped to 192x192 and coded as 9 tiles) and three 224x224
photographs (scikit-image's astronaut, chelsea and coffee, resized). Untrained weights cost the same time as
trained ones.

What is timed: setting ``explorer.slider.value`` to another latent size with the cache emptied first, i.e.
everything a drag in JupyterLab runs in the kernel: the 9 tiles through encode -> 8-bit quantization -> decode,
PSNR and SSIM, JPEG at the same bpp (``helpers.metrics.codec_at_bpp``: a binary search over Pillow's qualities),
and the HTML with three PNGs. Not timed: the browser's drawing and the websocket (a few ms on localhost).
One untimed update first (warm-up), then ``--repeats`` timed ones, cycling through the latent sizes and images.

Prints each update, a breakdown by stage (median and max of the same steps timed one by one), the median and worst time,
and last ``median_ms: X`` (target: at most 100 ms).

    python benchmarks/widget_latency.py [--repeats 30] [--latents 8,32,64,128,256] [--threads 1 (0: torch's own)]
    python benchmarks/widget_latency.py --tile 32 --depth 2 --latents 4,8,16,32,64,128,256   # notebook 06's models
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere, installed or not

from helpers import compare, metrics, widgets  # noqa: E402
from helpers.data import Normalization  # noqa: E402
from helpers.models import ConvAE  # noqa: E402


def photos(size: int) -> list[np.ndarray]:
    """Three photographs bundled with scikit-image, resized to size x size (uint8 RGB)."""
    from skimage import data

    out = []
    for name in ("astronaut", "chelsea", "coffee"):
        image = Image.fromarray(getattr(data, name)()).convert("RGB")
        out.append(np.asarray(image.resize((size, size), Image.Resampling.LANCZOS)))
    return out


def stage_times(model, image, tile, normalization) -> dict[str, float]:
    """Seconds of each stage of one update, timed one by one."""
    t0 = time.perf_counter()
    recon = compare.reconstruct(model, image, tile, normalization)
    bpp = compare.tile_bpp(model, tile)
    t1 = time.perf_counter()
    original = compare.crop_to_tiles(image, tile)
    metrics.psnr(original, recon), metrics.ssim(original, recon)
    t2 = time.perf_counter()
    metrics.codec_at_bpp(original, bpp, "jpeg")
    t3 = time.perf_counter()
    panel = widgets.explorer_panel(model, image, normalization, tile=tile)
    t4 = time.perf_counter()
    widgets.panel_html(panel, {"original": "original", "autoencoder": "autoencoder", "jpeg": "JPEG"})
    t5 = time.perf_counter()
    return {f"model ({(image.shape[0] // tile) * (image.shape[1] // tile)} tiles)": t1 - t0, "PSNR + SSIM": t2 - t1, "JPEG at bpp": t3 - t2, "HTML + PNGs": t5 - t4}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed slider updates (default 30)")
    parser.add_argument("--latents", default="8,32,64,128,256", help="latent sizes on the slider")
    parser.add_argument("--size", type=int, default=224, help="image side (default 224)")
    parser.add_argument("--tile", type=int, default=64, help="the models' tile side (default 64)")
    parser.add_argument("--depth", type=int, default=3, help="ConvAE depth (default 3; notebook 06 uses 2)")
    parser.add_argument("--width", type=int, default=16, help="ConvAE width (default 16)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads of the explorer (its default, 1); 0: torch's own setting")
    args = parser.parse_args(argv)
    threads = args.threads or None
    latents = [int(k) for k in args.latents.split(",")]
    torch.manual_seed(0)
    models = {k: ConvAE(latent_dim=k, depth=args.depth, width=args.width, image_size=args.tile).eval()
              for k in latents}
    images = photos(args.size)
    normalization = Normalization.make("unit")
    explorer = widgets.latent_explorer(models, images, normalization, tile=args.tile, threads=threads)

    with widgets.torch_threads(threads):
        used = torch.get_num_threads()
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, explorer on {used} thread(s), "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"explorer: {len(latents)} ConvAE(depth={args.depth}, width={args.width}, image_size={args.tile}) "
          f"models {latents}, "
          f"{len(images)} images {args.size}x{args.size} (coded as {(args.size // args.tile) ** 2} tiles)")
    times = []
    for i in range(args.repeats + 1):
        explorer.cache.clear()
        if i % len(latents) == 0 and i:
            explorer.chooser.value = (explorer.chooser.value + 1) % len(images)  # new image: not timed
            explorer.cache.clear()
        target = latents[(latents.index(explorer.slider.value) + 1) % len(latents)]
        t0 = time.perf_counter()
        explorer.slider.value = target
        seconds = time.perf_counter() - t0
        if explorer.error is not None:
            raise explorer.error
        if i == 0:
            print(f"warm-up: {1e3 * seconds:.1f} ms (not counted)")
            continue
        times.append(seconds)
        m = explorer.panel["metrics"]
        print(f"update {i:2d}: latent {target:4d} image {explorer.chooser.value}  {1e3 * seconds:6.1f} ms  "
              f"(ae {m['autoencoder']['bpp']:.3f} bpp, JPEG q{m['jpeg']['quality']} {m['jpeg']['bpp']:.3f} bpp)")

    stages: dict[str, list[float]] = {}
    for k in latents:
        with widgets.torch_threads(threads):
            measured = stage_times(models[k], images[0], args.tile, normalization)
        for name, s in measured.items():
            stages.setdefault(name, []).append(s)
    print("stages, median/max over the latent sizes on image 0: "
          + ", ".join(f"{name} {1e3 * statistics.median(v):.1f}/{1e3 * max(v):.1f} ms" for name, v in stages.items()))
    median, worst = statistics.median(times), max(times)
    print(f"worst_ms: {1e3 * worst:.1f}")
    print(f"target: median <= 100 ms: {'met' if median <= 0.1 else 'NOT met'}")
    print(f"median_ms: {1e3 * median:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
