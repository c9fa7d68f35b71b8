"""The scale hyperprior against the factorized prior of the same size, trained the same short way, with real bytes.

    .venv/bin/python benchmarks/hyperprior_vs_factorized.py                       # 3 seeds, 300 steps each
    .venv/bin/python benchmarks/hyperprior_vs_factorized.py --steps 1000 --channels 32

For each seed, both models (``helpers.rd_model.FactorizedPriorModel(C, C)`` and
``helpers.hyperprior.ScaleHyperpriorModel(C, C, C)``: the same g_a/g_s) start from that seed and train
``--steps`` steps of ``rd_model.train_steps`` at one lambda on the same batches (64x64 crops of the training side
of ``helpers.data.make_splits`` at seed 0: the embedded sample, or real LIVE when it is there), on one thread.
Each is then measured on the validation photographs (padded to its stride by repeating the edge, cropped back):
bpp from the real payloads (the factorized y payload; the hyperprior's z and y payloads; no header for either),
PSNR on 8-bit pixels, and the cost training minimizes, ``lambda * 255**2 * MSE + bpp`` (MSE on [0, 1] pixels),
per image then averaged over images.

Prints one line per seed and model, then the mean over seeds per model, and last
``rd_cost_difference: X`` (hyperprior minus factorized, mean over seeds, with the spread of the seeds' differences):
negative means the hyperprior is better at this lambda. A short training is not how either model ends up: compare
with care (CompressAI trains for millions of steps).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers.data import make_splits, read_image  # noqa: E402
from helpers.entropy import encode_symbols  # noqa: E402
from helpers.hyperprior import ScaleHyperpriorModel, compress_latents, decompress_latents  # noqa: E402
from helpers.images import to_pixel_levels  # noqa: E402
from helpers import metrics  # noqa: E402
from helpers.rd_model import FactorizedPriorModel, endless_batches, pad_to_stride, train_steps  # noqa: E402


def real_bits_and_reconstruction(model, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """(bits of the real payloads, x_hat) for one padded image; the hyperprior's y_hat comes back through its
    own decoder."""
    with torch.no_grad():
        if isinstance(model, ScaleHyperpriorModel):
            z_bytes, y_bytes, z_shape = compress_latents(model, x)
            y_hat = decompress_latents(model, z_bytes, y_bytes, z_shape)
            return 8 * (len(z_bytes) + len(y_bytes)), model.synthesis(y_hat)
        y_hat = torch.round(model.analysis(x))
        payload = encode_symbols(y_hat[0].numpy().astype(np.int64), model.tabulate())
        return 8 * len(payload), model.synthesis(y_hat)


def measure(model, images: list[np.ndarray], lmbda: float) -> dict:
    bpps, psnrs, costs = [], [], []
    for img in images:
        h, w = img.shape[:2]
        x = torch.from_numpy(img.copy()).permute(2, 0, 1)[None].float() / 255
        bits, x_hat = real_bits_and_reconstruction(model, pad_to_stride(x, model.stride))
        out = to_pixel_levels(x_hat[0, :, :h, :w]).permute(1, 2, 0).to(torch.uint8).numpy()
        mse = metrics.mse(img, out) / 255.0 ** 2                 # on 8-bit pixels, rescaled to [0, 1]
        bpps.append(bits / (h * w))
        psnrs.append(metrics.psnr(img, out))
        costs.append(lmbda * 255.0 ** 2 * mse + bpps[-1])
    return {"bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs)), "cost": float(np.mean(costs))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="models per kind, seeds 0 .. N-1")
    parser.add_argument("--steps", type=int, default=300, help="training steps of each model")
    parser.add_argument("--channels", type=int, default=16, help="channels of g_a/g_s, y and (hyperprior) z")
    parser.add_argument("--lmbda", type=float, default=0.01, help="the rate-distortion trade-off")
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    splits = make_splits(image_size=64, seed=0, preprocess="random_crop", crops_per_image=8, flips=True)
    images = [read_image(p) for p in sorted({str(item.input_path) for item in splits.val.items})]
    c = args.channels
    kinds = {"factorized": lambda: FactorizedPriorModel(c, c), "hyperprior": lambda: ScaleHyperpriorModel(c, c, c)}
    results = {kind: [] for kind in kinds}
    for seed in range(args.seeds):
        for kind, make in kinds.items():
            torch.manual_seed(seed)
            model = make()
            t0 = time.perf_counter()
            train_steps(model, endless_batches(splits.train, args.batch_size, seed=seed), args.lmbda, args.steps,
                        log_every=0)
            r = measure(model, images, args.lmbda)
            results[kind].append(r)
            print(f"seed {seed} {kind:10s}  bpp {r['bpp']:.4f}  psnr {r['psnr']:.2f} dB  cost {r['cost']:.4f}  "
                  f"({time.perf_counter() - t0:.0f} s, {args.steps} steps)", flush=True)
    for kind, rows in results.items():
        print(f"mean {kind:10s}  bpp {np.mean([r['bpp'] for r in rows]):.4f}  "
              f"psnr {np.mean([r['psnr'] for r in rows]):.2f} dB  cost {np.mean([r['cost'] for r in rows]):.4f}")
    diffs = [h["cost"] - f["cost"] for h, f in zip(results["hyperprior"], results["factorized"])]
    spread = statistics.stdev(diffs) if len(diffs) > 1 else float("nan")
    print(f"rd_cost_difference: {np.mean(diffs):+.4f} (hyperprior - factorized; seeds' std {spread:.4f}, "
          f"{len(images)} validation photographs, lambda {args.lmbda:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
