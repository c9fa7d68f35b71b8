"""Train a notebook's main model much longer than the notebook does, and ship it as a reference model.

    .venv/bin/python -m tools.train_reference                       # 04_conv_model, the shipped settings
    nice -n 19 .venv/bin/python -m tools.train_reference --epochs 120     # what was shipped (see the manifest)
    .venv/bin/python -m tools.train_reference --epochs 1 --out /tmp/ref  # a smoke run into another folder

The model, its patch size, data split, crops per image, batch size, peak learning rate and schedule are the
notebook's stored defaults (read from its `parameters` cell), so the reference is the notebook's own model with
only more epochs. Training is ``helpers.train.fit`` on the CPU, seeded; the weights are stored in float16 (half the
bytes; the whole-image PSNR is measured after that rounding) as ``checkpoints/reference/<notebook>.pt``, and
``checkpoints/reference/manifest.json`` records: the command, the settings, optimizer steps, seconds, machine,
torch version, the whole-image metrics on the validation photographs (``helpers.compare.photo_metrics``) and the
validation curve (cumulative optimizer steps and seconds per epoch, validation patch PSNR), so a notebook can draw
"validation PSNR against training steps" for its short run and for the reference. Load one with
``helpers.reference.load_reference(notebook)``.

Seconds are wall time on the machine that trained it (the manifest's ``machine``; a shared machine under ``nice``
takes longer than an idle one): compare steps first.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import torch

from helpers import compare, data, models, paths, reference, train
from helpers.params import resolve_data_dir

NOTEBOOKS = ("04_conv_model",)  # the notebooks this tool knows how to build a main model for


def notebook_defaults(notebook: str) -> dict[str, Any]:
    """The stored defaults of ``solutions/<notebook>.ipynb``: its `parameters` cell, executed."""
    path = paths.SOLUTIONS_DIR / f"{notebook}.ipynb"
    cells = nbformat.read(path, as_version=4).cells
    source = next(c.source for c in cells if "parameters" in c.metadata.get("tags", []))
    values: dict[str, Any] = {}
    exec(compile(source, str(path), "exec"), values)
    return {k: v for k, v in values.items() if not k.startswith("__")}


def build_04(p: dict[str, Any]) -> tuple[torch.nn.Module, Any, Any]:
    """Notebook 04's main model and data at parameters ``p``: (ConvAE, train set, validation set)."""
    pairs = data.load_pairs(resolve_data_dir(p["data_dir"]))
    pairs = [q for q in pairs if q.quality == p["jpeg_quality"]] or pairs  # the notebook's choice, embedded sample
    splits = data.make_splits(pairs, image_size=p["image_size"], seed=p["seed"], target=p["target"],
                              preprocess=p["preprocess"], crops_per_image=p["crops_per_image"],
                              flips=p["preprocess"] == "random_crop")
    torch.manual_seed(p["seed"])
    model = models.ConvAE(latent_dim=p["latent_dim"], depth=p["depth"], width=p["width"],
                          batch_norm=p["batch_norm"] == "on", image_size=p["image_size"])
    return model, splits.train, splits.val


def train_reference(notebook: str, epochs: int, out: Path, command: str) -> dict[str, Any]:
    """Train ``notebook``'s main model for ``epochs`` epochs, save it under ``out``; returns its manifest entry."""
    if notebook not in NOTEBOOKS:
        raise SystemExit(f"no reference recipe for {notebook!r}; known: {', '.join(NOTEBOOKS)}")
    if epochs < 1:
        raise SystemExit(f"--epochs must be at least 1, got {epochs}")
    p = notebook_defaults(notebook)
    model, train_set, val_set = build_04(p)
    settings = {k: p[k] for k in ("image_size", "preprocess", "crops_per_image", "target", "latent_dim", "depth",
                                  "width", "batch_norm", "lr", "batch_size", "scheduler", "seed")}
    settings["epochs"] = epochs
    start = time.perf_counter()
    history = train.fit(model, train_set, val_set, epochs=epochs, lr=p["lr"], batch_size=p["batch_size"],
                        scheduler=None if p["scheduler"] == "none" else p["scheduler"], seed=p["seed"], device="cpu", progress=False)
    seconds = time.perf_counter() - start
    rounded = models.build_model(model.config)  # measure what ships: the float16 weights
    rounded.load_state_dict({k: v.half().float() if v.is_floating_point() else v
                             for k, v in model.state_dict().items()})
    rounded.eval()
    measured = compare.photo_metrics(rounded, val_set.photographs(), p["image_size"], val_set.normalization)
    entry = {
        "command": command,
        "settings": settings,
        "steps": history.optimizer_steps,
        "epochs": history.epochs,
        "best_epoch": history.best_epoch,
        "seconds": round(seconds, 1),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {platform.processor() or '?'}",
        "torch": torch.__version__,
        "validation_photographs": list(val_set.references),
        "metrics": {k: (round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v])
                    for k, v in measured.items()},
        "curve": {"steps": np.cumsum(history.steps).tolist(),
                  "seconds": [round(s, 2) for s in np.cumsum(history.seconds).tolist()],
                  "val_psnr": [round(v, 4) for v in history.val_psnr]},
    }
    reference.save_reference(rounded, notebook, entry, out)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.train_reference", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--notebook", default="04_conv_model", help="whose main model (default 04_conv_model)")
    parser.add_argument("--epochs", type=int, default=120, help="epochs of the notebook's training set (120)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared machine one thread is several times faster than two)")
    parser.add_argument("--out", type=Path, default=reference.REFERENCE_DIR,
                        help=f"folder of the .pt file and manifest.json (default {reference.REFERENCE_DIR})")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    command = "python -m tools.train_reference " + " ".join(argv if argv is not None else sys.argv[1:])
    entry = train_reference(args.notebook, args.epochs, args.out, command.strip())
    m = entry["metrics"]
    print(f"{args.notebook}: {entry['steps']} optimizer steps in {entry['seconds']:.0f} s; validation photographs: "
          f"{m['image_psnr']:.2f} dB PSNR, SSIM {m['image_ssim']:.3f} at {m['bpp']:.3f} bpp -> "
          f"{args.out / (args.notebook + '.pt')}")
    print(json.dumps({k: entry[k] for k in ("steps", "seconds", "best_epoch")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
