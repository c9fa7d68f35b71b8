"""Reference models: a notebook's main model trained much longer, shipped small, to put beside a short run.

``python -m tools.train_reference`` trains them (see its docstring) and writes, under ``checkpoints/reference/``,
one file per notebook (``<notebook>.pt``: the model's ``config`` and float16 weights) and ``manifest.json``:
for each notebook the command, optimizer steps, seconds, machine, torch version, the settings, the whole-image
metrics measured on the validation photographs (``helpers.compare.photo_metrics``) and the validation curve
during training (``curve``: cumulative ``steps`` and ``seconds`` per epoch, validation patch ``val_psnr``)::

    from helpers import reference
    model, entry = reference.load_reference("04_conv_model")    # a float32 model in eval mode, its manifest entry
    entry["metrics"]["image_psnr"], entry["steps"], entry["curve"]["val_psnr"]

A missing file, a file that is not the one the manifest describes (its SHA-256 differs), or a notebook without
a reference raise :class:`ReferenceError` with what to do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import paths
from .files import atomic_output, atomic_write
from .models import build_model

__all__ = ["REFERENCE_DIR", "FORMAT", "ReferenceError", "read_manifest", "load_reference", "save_reference",
           "sha256"]

REFERENCE_DIR = paths.REPO_ROOT / "checkpoints" / "reference"
FORMAT = "neural-compression-kit/reference-v1"
_TODO = "train it with `python -m tools.train_reference` (see its --help)"


class ReferenceError(ValueError):
    """A reference model that cannot be used: no manifest entry, a missing file, or a file other than the one
    the manifest describes. The message names the file and what to do."""


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_manifest(folder: str | Path | None = None) -> dict[str, Any]:
    """The manifest (``{notebook: entry}``) of the references in ``folder`` (default :data:`REFERENCE_DIR`)."""
    path = Path(folder or REFERENCE_DIR) / "manifest.json"
    if not path.is_file():
        raise ReferenceError(f"no reference manifest at {path}: {_TODO}")
    return json.loads(path.read_text())


def save_reference(model: nn.Module, notebook: str, entry: dict[str, Any], folder: str | Path | None = None) -> Path:
    """Write ``model`` (float16 weights, its ``config``) as ``<notebook>.pt`` in ``folder`` and put ``entry``
    (plus the file's name, bytes and SHA-256) under ``notebook`` in its manifest. Returns the file's path."""
    folder = Path(folder or REFERENCE_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{notebook}.pt"
    state = {k: v.detach().cpu().half() if v.is_floating_point() else v.detach().cpu()
             for k, v in model.state_dict().items()}
    with atomic_output(path) as tmp:   # a killed save leaves the previous file intact
        torch.save({"format": FORMAT, "notebook": notebook, "config": dict(model.config), "state_dict": state}, tmp)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest[notebook] = {**entry, "file": path.name, "bytes": path.stat().st_size, "sha256": sha256(path)}
    atomic_write(manifest_path, json.dumps(manifest, indent=1) + "\n")
    return path


def load_reference(notebook: str, folder: str | Path | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """The reference model of ``notebook`` (e.g. ``"04_conv_model"``), float32, in eval mode, and its manifest
    entry. Raises :class:`ReferenceError` for a notebook without a reference, a missing file, or a file whose
    SHA-256 or contents differ from what the manifest records."""
    folder = Path(folder or REFERENCE_DIR)
    manifest = read_manifest(folder)
    if notebook not in manifest:
        known = ", ".join(sorted(manifest)) or "none"
        raise ReferenceError(f"no reference model for {notebook!r} in {folder} (known: {known}): {_TODO}")
    entry = manifest[notebook]
    path = folder / entry["file"]
    if not path.is_file():
        raise ReferenceError(f"the reference file {path} is missing: restore it from git or {_TODO}")
    if sha256(path) != entry["sha256"]:
        raise ReferenceError(f"{path} is not the file its manifest describes (SHA-256 differs): restore it from "
                             f"git, or {_TODO}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a file that is not a torch archive
        raise ReferenceError(f"{path} is not a reference model file ({error}): {_TODO}") from None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT or saved.get("notebook") != notebook:
        raise ReferenceError(f"{path} is not a reference model of {notebook!r} (format {FORMAT}): {_TODO}")
    model = build_model(saved["config"])
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in saved["state_dict"].items()})
    return model.eval(), entry
