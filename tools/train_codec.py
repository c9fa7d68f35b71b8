"""Train the shipped codec checkpoints (``checkpoints/rd_lambda*.pt``) on the embedded sample, on a CPU.

    .venv/bin/python tools/train_codec.py                  # the shipped settings: 5 lambdas, 5,200 steps
    .venv/bin/python tools/train_codec.py --quick          # a smoke run (tiny steps) into runs/codec_quick
    .venv/bin/python tools/train_codec.py --model hyperprior --quick    # the same for a scale hyperprior

The shipped checkpoints came from the first command, as is (``checkpoints/manifest.json`` records the settings,
the machine's torch, each stage's time and its validation bpp/PSNR): about 14 minutes of wall time on a shared
2-core AMD EPYC with AVX512-BF16, one thread, under ``nice``. Where there is no AVX512-BF16, bfloat16 is off and
it takes about 1.4 times longer.

One :class:`helpers.rd_model.FactorizedPriorModel` (48 hidden, 64 latent channels; 0.7 MB in float16) per
lambda, loss ``lambda * 255**2 * MSE + bpp`` on random 128x128 crops (with flips) of the sample's training
images. The highest lambda is trained from scratch; each lower lambda starts from the one above it and is
fine-tuned (a warm start: every stage keeps improving the transforms, so the later, lower-rate codecs have had
the most training). ``--model hyperprior`` trains :class:`helpers.hyperprior.ScaleHyperpriorModel` checkpoints
(``hp_lambda*.pt``, ``--hyper-channels`` in h_a/h_s and z) the same way, with the same flags. The shipped ones
came from the command in ``checkpoints/manifest.json`` under "hyperprior" (with ``--out runs/hp_ckpt``; their
files were then copied into ``checkpoints/`` and that run's manifest put under "hyperprior").

``--min-scale S`` (below 1) trains on random-scale crops (:class:`RandomScaleCrops`): each training photograph is
first shrunk by a factor drawn in [S, 1], then cropped and flipped, the learned-compression literature's defence
against a small training set (the embedded sample has 15 training photographs).
Each stage is ``helpers.rd_model.train_steps``: Adam at 2e-3 (the density at 10x), warm-up,
cosine decay. After each stage the checkpoint is written (float16 weights and its integer CDF tables) and
measured on the validation images with real bytes.

Choices measured on this machine (800 steps at lambda 0.004, validation vs JPEG at equal PSNR): a density that
learns 10x faster than the transforms halves the rate at equal quality early in training (its wide start would
otherwise cost bits for hundreds of steps); lr 2e-3 beats 1e-3 and 3e-3 diverges; straight-through rounding in
the decoder (``--ste``) changed nothing measurable; bfloat16 autocast is 1.35x faster at the same loss.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import hyperprior, rd_model  # noqa: E402
from helpers.codec import CHECKPOINT_DIR, Codec  # noqa: E402
from helpers.files import atomic_write  # noqa: E402
from helpers.metrics import psnr, ssim  # noqa: E402
from helpers.rd_model import endless_batches, train_steps  # noqa: E402

LAMBDAS = (0.008, 0.004, 0.002, 0.001, 0.0005)     # high to low rate, a factor 2 apart: about 0.35 .. 0.07 bpp
# --model: the checkpoints' file name prefix, the model's class, and the save_checkpoint of its module
MODELS = {"factorized": ("rd", rd_model.FactorizedPriorModel, rd_model.save_checkpoint),
          "hyperprior": ("hp", hyperprior.ScaleHyperpriorModel, hyperprior.save_checkpoint)}


def load_data(crop: int, seed: int, crops_per_image: int = 16, root=None):
    """Training crops and validation images of ``root``: the embedded sample when None (built if needed), so the
    shipped checkpoints do not depend on whether LIVE is installed.

    ``helpers.data.make_splits`` splits by reference image (seeded); the training side gives ``crops_per_image``
    random ``crop`` x ``crop`` crops (with flips) of every training reference per epoch, new ones each epoch.
    Validation is measured on the whole validation references, at their stored size.
    """
    from helpers.data import build_sample, make_splits, read_image
    splits = make_splits(root if root is not None else build_sample(), image_size=crop, seed=seed,
                         preprocess="random_crop", crops_per_image=crops_per_image, flips=True, normalization="unit")
    val_paths = sorted({str(item.input_path) for item in splits.val.items})
    return splits.train, [read_image(p) for p in val_paths], splits.references


class RandomScaleCrops(torch.utils.data.Dataset):
    """Random ``crop`` x ``crop`` crops of ``images`` at random scales, with flips: ``(x, x)`` pairs of float32
    ``(3, crop, crop)`` tensors in [0, 1] (the pair shape ``rd_model.endless_batches`` reads).

    ``images``: RGB uint8 ``(H, W, 3)`` arrays. Each item first shrinks its image by a factor drawn uniformly in
    ``[min_scale, 1]`` (Lanczos; never below ``crop`` pixels on the short side, never enlarged), then takes a
    random crop and flips it left-right with probability 1/2. Shrinking is the literature's defence against a small
    training set: it shows the same photograph at several sizes of detail, and it washes out the sensor noise and
    old compression artifacts a codec would otherwise spend bits on. ``crops_per_image`` items per image and epoch;
    ``set_epoch`` draws new ones (seeded by ``seed``, epoch and index: the same seed gives the same crops).
    """

    def __init__(self, images: list[np.ndarray], crop: int, min_scale: float = 0.5, crops_per_image: int = 16,
                 seed: int = 0):
        if not 0 < min_scale <= 1:
            raise ValueError(f"min_scale must be in (0, 1], got {min_scale!r}")
        small = [i for i, a in enumerate(images) if min(a.shape[:2]) < crop]
        if small:
            raise ValueError(f"images {small} are smaller than the crop size {crop} on a side")
        self.images, self.crop, self.min_scale = images, int(crop), float(min_scale)
        self.crops_per_image, self.seed, self.epoch = int(crops_per_image), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images) * self.crops_per_image

    def pixels(self, index: int) -> np.ndarray:
        """Item ``index`` as RGB uint8 ``(crop, crop, 3)``."""
        from PIL import Image

        rng = np.random.default_rng([self.seed, self.epoch, index])
        a = self.images[index // self.crops_per_image]
        h, w = a.shape[:2]
        s = max(rng.uniform(self.min_scale, 1.0), self.crop / min(h, w))
        if s < 1.0:
            a = np.asarray(Image.fromarray(a).resize((max(self.crop, round(w * s)), max(self.crop, round(h * s))),
                                                     Image.Resampling.LANCZOS))
        top = int(rng.integers(0, a.shape[0] - self.crop + 1))
        left = int(rng.integers(0, a.shape[1] - self.crop + 1))
        a = a[top:top + self.crop, left:left + self.crop]
        if rng.random() < 0.5:
            a = a[:, ::-1]
        return np.ascontiguousarray(a)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(self.pixels(index)).permute(2, 0, 1).float() / 255.0
        return x, x


def measure(codec: Codec, images: list[np.ndarray]) -> dict:
    """Mean bpp (real bytes), mean PSNR and mean SSIM over ``images``, per image then averaged."""
    bpps, psnrs, ssims = [], [], []
    for img in images:
        data = codec.compress(img)
        decoded = codec.decompress(data)
        bpps.append(8 * len(data) / (img.shape[0] * img.shape[1]))
        psnrs.append(psnr(img, decoded))
        ssims.append(ssim(img, decoded))
    return {"bpp": float(np.mean(bpps)), "psnr": float(np.mean(psnrs)), "ssim": float(np.mean(ssims))}


def describe_cpu() -> str:
    """The CPU's model name (Linux /proc/cpuinfo, else platform.processor()) and the number of cores."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def _shown(path: Path) -> str:
    """A path for the manifest: relative to the repository when inside it (no local folder names)."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def cpu_has_bf16() -> bool:
    """True where /proc/cpuinfo lists AVX512-BF16 or AMX-BF16 (Linux); False elsewhere."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", choices=sorted(MODELS), default="factorized",
                   help="factorized prior (the shipped checkpoints, rd_lambda*.pt) or scale hyperprior (hp_lambda*.pt)")
    p.add_argument("--out", type=Path, default=CHECKPOINT_DIR, help="folder for the checkpoints and manifest.json")
    p.add_argument("--lambdas", type=float, nargs="+", default=list(LAMBDAS), help="rate-distortion trade-offs")
    p.add_argument("--steps-first", type=int, default=2000, help="steps for the highest lambda (from scratch)")
    p.add_argument("--steps-next", type=int, default=800, help="steps for each lower lambda (warm start)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate at the start of each stage")
    p.add_argument("--density-lr", type=float, default=None, help="learning rate of the density (default 10 x --lr)")
    p.add_argument("--batch", type=int, default=8, help="crops per step")
    p.add_argument("--crop", type=int, default=128,
                   help="crop size in pixels (a multiple of 16; of 64 for --model hyperprior)")
    p.add_argument("--channels", type=int, default=48, help="hidden channels of the transforms")
    p.add_argument("--latent-channels", type=int, default=64, help="latent channels")
    p.add_argument("--hyper-channels", type=int, default=64, help="channels of h_a/h_s and z (--model hyperprior)")
    p.add_argument("--data", type=Path, default=None, help="image folder or LIVE root (default: the embedded sample)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (1: on a busy machine more threads spin-wait for each other; "
                        "2 is faster on an idle 2-core machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-scale", type=float, default=1.0,
                   help="random-scale crops: shrink each training photograph by a factor in [MIN_SCALE, 1] before "
                        "cropping (1: crops at the stored size only, as the shipped factorized checkpoints)")
    p.add_argument("--ste", action="store_true", help="decoder trains on rounded latents (straight-through)")
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                   help="bfloat16 autocast for the transforms; auto: on where the CPU has AVX512-BF16 or AMX "
                        "(about 1.4x faster there, much slower elsewhere)")
    p.add_argument("--log-every", type=int, default=250)
    p.add_argument("--quick", action="store_true", help="smoke run: 2 lambdas, 20 + 10 steps, into runs/codec_quick")
    p.add_argument("--force", action="store_true", help="overwrite existing checkpoints in --out")
    args = p.parse_args(argv)
    if args.quick:
        args.lambdas, args.steps_first, args.steps_next = [0.013, 0.0045], 20, 10
        args.log_every = 10
        if args.out == CHECKPOINT_DIR:
            args.out = Path(__file__).resolve().parent.parent / "runs" / "codec_quick"
    if not 0 < args.min_scale <= 1:
        p.error(f"--min-scale {args.min_scale} must be in (0, 1]")
    if any(lam <= 0 for lam in args.lambdas) or min(args.steps_first, args.steps_next) < 1:
        p.error("lambdas and steps must be positive")
    prefix, model_class, save_checkpoint = MODELS[args.model]
    if args.crop % model_class.stride:
        p.error(f"--crop {args.crop} must be a multiple of {model_class.stride} for --model {args.model}")
    lambdas = sorted(set(args.lambdas), reverse=True)
    paths = [args.out / f"{prefix}_lambda{lam:g}.pt" for lam in lambdas]
    existing = [str(q) for q in paths + [args.out / "manifest.json"] if q.exists()]
    if existing and not args.force:
        p.error(f"would overwrite {', '.join(existing)}; pass --force")
    others = sorted(str(q) for q in args.out.glob("*.pt") if q not in paths)
    if others:
        p.error(f"{args.out} holds other checkpoints ({', '.join(others)}) that the codec would ship with these; "
                f"move them away or choose another --out")
    args.bf16 = args.bf16 == "on" or (args.bf16 == "auto" and cpu_has_bf16())
    args.out.mkdir(parents=True, exist_ok=True)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train, val_images, references = load_data(args.crop, args.seed, root=args.data)
    if args.min_scale < 1:      # random scales too: the same training references, shrunk before cropping
        train = RandomScaleCrops(train.photographs(), args.crop, args.min_scale, seed=args.seed)
    print(f"training on random {args.crop}px crops (scales {args.min_scale:g}..1, flips) of "
          f"{', '.join(references['train'])}; "
          f"validating on {', '.join(references['val'])}; lambdas {lambdas}; {args.threads} threads", flush=True)
    data = endless_batches(train, args.batch, args.seed)
    hyper = [args.hyper_channels] if args.model == "hyperprior" else []
    model = model_class(args.channels, args.latent_channels, *hyper)
    manifest = {"command": " ".join(["python tools/train_codec.py", *(argv if argv is not None else sys.argv[1:])]),
                "settings": {k: (_shown(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                "torch": torch.__version__, "machine": platform.machine(), "cpu": describe_cpu(), "checkpoints": []}
    start = time.time()
    for i, (lam, path) in enumerate(zip(lambdas, paths)):
        steps = args.steps_first if i == 0 else args.steps_next
        t0 = time.time()
        print(f"lambda {lam:g}: {steps} steps ({'from scratch' if i == 0 else 'from lambda %g' % lambdas[i - 1]})")
        train_steps(model, data, lam, steps, args.lr, density_lr=args.density_lr, ste=args.ste, bf16=args.bf16,
                    log_every=args.log_every, log=lambda line: print(line, flush=True))
        seconds = time.time() - t0
        save_checkpoint(model, path, lam, meta={"steps": steps, "train_seconds": round(seconds, 1),
                                                "warm_start": None if i == 0 else paths[i - 1].name})
        result = measure(Codec.load(path), val_images)
        entry = {"file": path.name, "lambda": lam, "steps": steps, "train_seconds": round(seconds, 1),
                 "bytes": path.stat().st_size, "val_bpp": round(result["bpp"], 4), "val_psnr": round(result["psnr"], 3),
                 "val_ssim": round(result["ssim"], 4)}
        manifest["checkpoints"].append(entry)
        print(f"  -> {path}: validation {result['bpp']:.3f} bpp, {result['psnr']:.2f} dB, SSIM {result['ssim']:.4f}; "
              f"{seconds:.0f}s", flush=True)
    manifest["total_seconds"] = round(time.time() - start, 1)
    atomic_write(args.out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    print(f"done in {manifest['total_seconds']:.0f}s; wrote {args.out / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
