"""tools.train_reference: trains the notebook's model at its stored defaults and writes a reference that
helpers.reference loads, with a manifest whose figures are the loaded model's (a tiny run here)."""

import pytest
import torch

from helpers import compare, reference
from tools import train_reference as tool

torch.set_num_threads(1)


def test_reads_the_notebooks_stored_defaults():
    defaults = tool.notebook_defaults("04_conv_model")
    assert {"image_size", "latent_dim", "depth", "width", "batch_norm", "lr", "batch_size", "scheduler"} <= set(defaults)
    assert isinstance(defaults["image_size"], int)


def test_a_tiny_run_writes_a_reference_whose_manifest_holds(tmp_path, monkeypatch):
    small = dict(tool.notebook_defaults("04_conv_model"), crops_per_image=2)
    monkeypatch.setattr(tool, "notebook_defaults", lambda notebook: small)
    assert tool.main(["--epochs", "2", "--out", str(tmp_path)]) == 0
    model, entry = reference.load_reference("04_conv_model", tmp_path)
    assert entry["epochs"] == 2 and entry["settings"]["epochs"] == 2 and entry["settings"]["crops_per_image"] == 2
    assert entry["steps"] == entry["curve"]["steps"][-1] > 0 and len(entry["curve"]["val_psnr"]) == 2
    assert entry["command"] == f"python -m tools.train_reference --epochs 2 --out {tmp_path}"
    assert entry["torch"] == torch.__version__ and entry["seconds"] > 0
    _, _, val_set = tool.build_04(small)
    measured = compare.photo_metrics(model, val_set.photographs(), small["image_size"], val_set.normalization)
    assert measured["image_psnr"] == pytest.approx(entry["metrics"]["image_psnr"], abs=1e-3)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(SystemExit, match="no reference recipe for '03_baseline'"):
        tool.main(["--notebook", "03_baseline", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="--epochs must be at least 1, got 0"):
        tool.main(["--epochs", "0", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        tool.main(["--threads", "0", "--out", str(tmp_path)])
