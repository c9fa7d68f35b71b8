"""helpers.reference: the shipped reference models load, match their manifest (re-measured here), and a missing,
altered or foreign file is refused clearly."""

import json
import shutil

import pytest
import torch

from helpers import compare, models, reference
from helpers.reference import ReferenceError
from tools.train_reference import build_04, notebook_defaults

torch.set_num_threads(1)
SHIPPED_LIMIT = 8 * 2**20  # all shipped reference files together stay under 8 MB


def test_the_shipped_references_are_small():
    total = sum(p.stat().st_size for p in reference.REFERENCE_DIR.iterdir())
    assert total < SHIPPED_LIMIT, f"{total:,} bytes in {reference.REFERENCE_DIR}"


def test_04_reference_is_the_notebooks_model_and_its_manifest_figures_hold():
    """The reference is notebook 04's model at its stored defaults, and the whole-image metrics in the manifest
    are what the shipped file gives on the validation photographs (measured again here)."""
    model, entry = reference.load_reference("04_conv_model")
    defaults = notebook_defaults("04_conv_model")
    for name in ("image_size", "latent_dim", "depth", "width"):
        assert model.config[name] == defaults[name] == entry["settings"][name], name
    assert model.config["batch_norm"] == (defaults["batch_norm"] == "on")
    for name in ("crops_per_image", "preprocess", "target", "seed", "lr", "batch_size", "scheduler"):
        assert entry["settings"][name] == defaults[name], name
    assert not model.training
    curve = entry["curve"]
    assert len(curve["steps"]) == len(curve["seconds"]) == len(curve["val_psnr"]) == entry["epochs"]
    assert curve["steps"][-1] == entry["steps"] and entry["seconds"] >= curve["seconds"][-1] > 0
    _, _, val_set = build_04(defaults)
    assert list(val_set.references) == entry["validation_photographs"]
    measured = compare.photo_metrics(model, val_set.photographs(), defaults["image_size"], val_set.normalization)
    assert measured["bpp"] == pytest.approx(entry["metrics"]["bpp"], abs=1e-4)
    assert measured["image_psnr"] == pytest.approx(entry["metrics"]["image_psnr"], abs=0.01)
    assert measured["image_ssim"] == pytest.approx(entry["metrics"]["image_ssim"], abs=0.002)


@pytest.fixture
def copy_of_shipped(tmp_path):
    shutil.copytree(reference.REFERENCE_DIR, tmp_path / "ref")
    return tmp_path / "ref"


def test_unknown_notebook_is_refused(copy_of_shipped):
    with pytest.raises(ReferenceError, match=r"no reference model for '99_x'.*known: 04_conv_model"):
        reference.load_reference("99_x", copy_of_shipped)


def test_missing_manifest_or_file_is_refused(copy_of_shipped, tmp_path):
    with pytest.raises(ReferenceError, match="no reference manifest at .*tools.train_reference"):
        reference.load_reference("04_conv_model", tmp_path / "empty")
    (copy_of_shipped / "04_conv_model.pt").unlink()
    with pytest.raises(ReferenceError, match=r"04_conv_model.pt is missing"):
        reference.load_reference("04_conv_model", copy_of_shipped)


def test_an_altered_file_is_refused(copy_of_shipped):
    path = copy_of_shipped / "04_conv_model.pt"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ReferenceError, match="not the file its manifest describes"):
        reference.load_reference("04_conv_model", copy_of_shipped)


def test_a_foreign_file_is_refused_even_with_a_matching_manifest(copy_of_shipped):
    path = copy_of_shipped / "04_conv_model.pt"
    torch.save({"state_dict": {}}, path)  # a torch file, but not a reference model
    manifest = json.loads((copy_of_shipped / "manifest.json").read_text())
    manifest["04_conv_model"]["sha256"] = reference.sha256(path)
    (copy_of_shipped / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReferenceError, match="is not a reference model of '04_conv_model'"):
        reference.load_reference("04_conv_model", copy_of_shipped)
    path.write_bytes(b"not a torch file")
    manifest["04_conv_model"]["sha256"] = reference.sha256(path)
    (copy_of_shipped / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReferenceError, match="is not a reference model file"):
        reference.load_reference("04_conv_model", copy_of_shipped)


def test_save_then_load_gives_the_float16_rounded_model(tmp_path):
    torch.manual_seed(0)
    model = models.ConvAE(latent_dim=8, depth=2, width=4, batch_norm=True, image_size=16)
    path = reference.save_reference(model, "04_conv_model", {"steps": 1}, tmp_path)
    loaded, entry = reference.load_reference("04_conv_model", tmp_path)
    assert entry["steps"] == 1 and entry["file"] == path.name and entry["bytes"] == path.stat().st_size
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        want = a.half().float() if a.is_floating_point() else a
        assert torch.equal(want, b), k
