"""Entropy coding speed of the kit's codec: encode and decode of a 768x512 image's latent on the CPU.

    .venv/bin/python benchmarks/entropy_speed.py [--checkpoint PATH] [--repeats 7] [--threads 1]

The photograph is scikit-image's astronaut resized to 768x512 (installed with the kit; nothing is downloaded).
It goes through the analysis transform once; what is timed is what ``helpers.entropy`` does with the integer
latent (64 x 32 x 48 = 98,304 symbols with the shipped checkpoints): ``Codec.encode_latent`` (ANS encoding plus
the header and CRC) and ``Codec.decode_latent`` (checks plus ANS decoding), checked to round-trip exactly.
One untimed warm-up, then ``--repeats`` timed runs; the median is reported. For context it also times the
whole ``compress`` / ``decompress`` of the image (transforms included), which is not the target.

Prints one line per run and last ``median_s: X`` (encode + decode, target < 0.5).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.codec import Codec  # noqa: E402


def photo(width: int = 768, height: int = 512) -> np.ndarray:
    """uint8 (height, width, 3): scikit-image's astronaut, resized with Lanczos."""
    from skimage import data
    return np.asarray(Image.fromarray(data.astronaut()).resize((width, height), Image.Resampling.LANCZOS))


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=None, help="codec checkpoint (default: the shipped default)")
    p.add_argument("--repeats", type=int, default=7, help="timed runs")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (for the transforms only)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    codec = Codec.load(args.checkpoint)
    image = photo()
    h, w = image.shape[:2]
    symbols = codec.analyse(image)
    print(f"{codec.name}: latent {symbols.shape} = {symbols.size:,} symbols of a {w}x{h} image")

    data = codec.encode_latent(symbols, h, w)                       # warm-up
    codec.decode_latent(data)
    totals = []
    for i in range(args.repeats):
        data, t_enc = timed(lambda: codec.encode_latent(symbols, h, w))
        (back, _), t_dec = timed(lambda: codec.decode_latent(data))
        assert np.array_equal(back, symbols), "the latent did not round-trip"
        totals.append(t_enc + t_dec)
        print(f"run {i + 1}: encode {t_enc * 1000:.1f} ms, decode {t_dec * 1000:.1f} ms, "
              f"{len(data):,} bytes ({8 * len(data) / (h * w):.3f} bpp)")
    _, t_c = timed(lambda: codec.compress(image))
    _, t_d = timed(lambda: codec.decompress(data))
    print(f"whole image with transforms ({args.threads} thread(s)): compress {t_c:.2f} s, decompress {t_d:.2f} s")
    print(f"median_s: {statistics.median(totals):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
