"""helpers.train: train_one_epoch, evaluate, and fit built from them: learning, determinism, NaN detection,
checkpoints through fit (save, resume, refusal, safe loading; the Checkpoint object itself: test_checkpoints.py)."""

import ast
import inspect
import json
import math
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data
from torch import nn
from torch.utils.data import Subset, TensorDataset

from helpers import checks, metrics, train
from helpers.models import ConvAE
from helpers.train import (CheckpointError, History, TrainingError, evaluate, fit, load_checkpoint, resolve_device,
                           target_inverse, train_one_epoch)

torch.set_num_threads(1)  # small models: one thread is fastest, and steady on shared cores

FAST = dict(epochs=3, lr=3e-3, batch_size=8, device="cpu", progress=False)


@pytest.fixture(scope="module")
def patches():
    """64 natural 32x32 patches (astronaut at half size, cut in tiles): structure a small model can learn."""
    img = torch.from_numpy(data.astronaut()).permute(2, 0, 1).float() / 255
    x = torch.round(nn.functional.avg_pool2d(img[None], 2) * 255) / 255  # on the 8-bit grid, as real data
    return x.unfold(2, 32, 32).unfold(3, 32, 32).permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 32, 32).contiguous()


@pytest.fixture(scope="module")
def sets(patches):
    tr, va = patches[0:48:2], patches[1:64:8]  # 24 and 8 patches from all over the image
    return TensorDataset(tr, tr), TensorDataset(va, va)


def small_model(seed=0, **kw):
    torch.manual_seed(seed)
    return ConvAE(**{"latent_dim": 32, "depth": 2, "width": 8, "image_size": 32, **kw})


def same_numbers(a: History, b: History) -> bool:
    da, db = a.to_dict(), b.to_dict()
    da.pop("seconds"), db.pop("seconds")
    return da == db


def test_training_lowers_the_loss(sets):
    train, val = sets
    model = small_model(batch_norm=True)
    h = fit(model, train, val, **{**FAST, "epochs": 6, "batch_size": 4})
    assert h.epochs == 6 and len(h.val_loss) == len(h.val_psnr) == len(h.val_ssim) == len(h.lr) == len(h.seconds) == 6
    assert h.train_loss[-1] < 0.8 * h.train_loss[0]
    assert min(h.val_loss) < h.val_loss[0]
    assert max(h.val_psnr) > h.val_psnr[0]
    assert all(s > 0 for s in h.seconds)
    assert h.best_epoch == 1 + int(np.argmin(h.val_loss))
    # the model holds the best epoch's weights: evaluate() reproduces the recorded numbers
    ev = evaluate(model, val, batch_size=4, device="cpu")
    assert ev["loss"] == pytest.approx(min(h.val_loss), rel=1e-6)
    assert ev["psnr"] == pytest.approx(h.val_psnr[h.best_epoch - 1], rel=1e-9)


def test_val_metrics_are_8bit_metrics_after_inverse(sets):
    """Symmetric targets in [-1, 1] with a tanh output: metrics on the pixels mapped back to [0, 1]."""

    class Symmetric:
        def inverse(self, t):
            return (t + 1) / 2

    class SymmetricSet(TensorDataset):
        target_normalization = Symmetric()

    train, val = sets
    tr = SymmetricSet(train.tensors[0] * 2 - 1, train.tensors[1] * 2 - 1)
    va = SymmetricSet(val.tensors[0] * 2 - 1, val.tensors[1] * 2 - 1)
    model = small_model(output="tanh")
    h = fit(model, tr, Subset(va, range(8)), **{**FAST, "epochs": 1})
    with torch.no_grad():
        out = model(va.tensors[0])
    expected_psnr = metrics.psnr((out + 1) / 2, val.tensors[1])
    expected_ssim = metrics.ssim((out + 1) / 2, val.tensors[1])
    assert h.val_psnr[0] == pytest.approx(expected_psnr, rel=1e-9)
    assert h.val_ssim[0] == pytest.approx(expected_ssim, rel=1e-9)
    assert target_inverse(Subset(va, [0]))(torch.zeros(1)) == 0.5
    assert target_inverse(val)(torch.zeros(1)) == 0.0  # no normalization: identity


def test_mismatched_output_range_warns(sets):
    train, val = sets
    tr = TensorDataset(train.tensors[0] * 2 - 1, train.tensors[1] * 2 - 1)
    with pytest.warns(UserWarning, match="output='sigmoid' for normalization='unit', 'tanh' for 'symmetric'"):
        fit(small_model(), tr, None, **{**FAST, "epochs": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit(small_model(), train, None, **{**FAST, "epochs": 1})


def test_same_seed_same_numbers_on_cpu(sets):
    train, val = sets
    kw = {**FAST, "epochs": 2, "scheduler": "onecycle"}
    m1, m2 = small_model(dropout=0.1), small_model(dropout=0.1)
    h1, h2 = fit(m1, train, val, **kw), fit(m2, train, val, **kw)
    assert same_numbers(h1, h2)
    for (k, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        assert torch.equal(a, b), k
    h3 = fit(small_model(dropout=0.1), train, val, **{**kw, "seed": 1})
    assert h3.train_loss != h1.train_loss  # another seed shuffles (and drops out) differently


@pytest.mark.parametrize("opt,sched", [("sgd", "step"), ("adam", "cosine"), ("sgd", "plateau"),
                                       ("adam", "onecycle")])
def test_optimizers_and_schedulers_run(sets, opt, sched):
    train, _ = sets
    h = fit(small_model(), train, None, **{**FAST, "optimizer": opt, "scheduler": sched, "weight_decay": 1e-5,
                                           "loss": "l1"})
    assert all(math.isfinite(v) for v in h.train_loss)
    assert all(math.isnan(v) for v in h.val_psnr)  # no validation data
    if sched in ("step", "cosine"):
        assert h.lr[-1] < h.lr[0]


class NaNModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.w * math.nan


def test_nan_is_a_clear_error(sets):
    train, val = sets
    with pytest.raises(TrainingError, match=r"epoch 1.*lower learning rate") as err:
        fit(NaNModel(), train, val, **FAST)
    assert isinstance(err.value, FloatingPointError)


def test_huge_lr_is_a_clear_error(sets):
    train, val = sets
    with pytest.raises(TrainingError, match=r"diverged at epoch \d+.*lower learning rate \(lr=1e\+06"):
        fit(small_model(), train, val, **{**FAST, "lr": 1e6})


def test_divergence_factor(sets):
    class Worse(nn.Module):
        """Its loss grows 100x per epoch: finite, but diverging."""

        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            scale = 10.0 ** (self.calls // 3)  # 3 batches per epoch
            return x + scale + self.w

    train, _ = sets
    with pytest.raises(TrainingError, match="epoch 2: the training loss rose"):
        fit(Worse(), train, None, **FAST)


def test_early_stopping(sets):
    class Constant(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.full_like(x, 0.5) + 0 * self.w

    train, val = sets
    h = fit(Constant(), train, val, **{**FAST, "epochs": 10, "patience": 2})
    assert h.stopped_early and h.epochs == 3 and h.best_epoch == 1


def test_checkpoint_save_load_and_refusal(sets, tmp_path):
    train, val = sets
    path = tmp_path / "run" / "best.pt"
    model = small_model(batch_norm=True)
    h = fit(model, train, val, **FAST, checkpoint=path)
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    loaded, h2 = load_checkpoint(path)
    assert type(loaded) is ConvAE and loaded.config == model.config and not loaded.training
    assert same_numbers(h, h2)
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k  # the model ends with the best weights, the checkpoint's
    # another run must not overwrite it silently
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="resume=True.*overwrite=True"):
        fit(small_model(batch_norm=True), train, val, **FAST, checkpoint=path)
    assert path.read_bytes() == before
    fit(small_model(batch_norm=True, seed=5), train, val, **FAST, checkpoint=path, overwrite=True)
    assert path.read_bytes() != before
    with pytest.raises(ValueError, match="contradict"):
        fit(small_model(), train, val, **FAST, checkpoint=path, overwrite=True, resume=True)


class Interrupted(TensorDataset):
    """Raises KeyboardInterrupt when fit() starts epoch `stop_at` (0-based): a run killed mid-way."""

    stop_at = None

    def set_epoch(self, epoch):
        if epoch == self.stop_at:
            raise KeyboardInterrupt


def test_resume_gives_the_same_numbers(sets, tmp_path):
    train, val = sets
    kw = {**FAST, "scheduler": "cosine", "epochs": 4}
    full = fit(small_model(dropout=0.1), train, val, **kw, checkpoint=tmp_path / "full.pt")
    # the same run, killed at the start of epoch 3
    part = tmp_path / "part.pt"
    killed = Interrupted(*train.tensors)
    killed.stop_at = 2
    with pytest.raises(KeyboardInterrupt):
        fit(small_model(dropout=0.1), killed, val, **kw, checkpoint=part)
    assert load_checkpoint(part)[1].epochs == 2
    # continue in a new model object (as after a kernel restart); the checkpoint tells where to go on
    cont_model = small_model(dropout=0.1, seed=123)
    with pytest.raises(ValueError, match="different settings.*lr"):
        fit(cont_model, train, val, **{**kw, "lr": 1e-4}, checkpoint=part, resume=True)
    with pytest.raises(ValueError, match="different settings.*epochs: 4 in the checkpoint, 6 now"):
        fit(cont_model, train, val, **{**kw, "epochs": 6}, checkpoint=part, resume=True)
    resumed = fit(cont_model, train, val, **kw, checkpoint=part, resume=True)
    assert resumed.epochs == 4
    assert same_numbers(full, resumed)
    with pytest.raises(ValueError, match="different model"):
        fit(small_model(width=4), train, val, **kw, checkpoint=part, resume=True)
    # resume=True without a file starts fresh
    fresh = fit(small_model(dropout=0.1), train, val, **kw, checkpoint=tmp_path / "new.pt", resume=True)
    assert same_numbers(full, fresh)


def test_resume_can_extend_a_run_without_a_spanning_schedule(sets, tmp_path):
    train, val = sets
    kw = {**FAST, "scheduler": "plateau", "epochs": 4}
    full = fit(small_model(), train, val, **kw)
    path = tmp_path / "short.pt"
    fit(small_model(), train, val, **{**kw, "epochs": 2}, checkpoint=path)
    longer = fit(small_model(seed=9), train, val, **kw, checkpoint=path, resume=True)
    assert same_numbers(full, longer)


def test_checkpoint_loads_with_weights_only_and_refuses_pickles(sets, tmp_path):
    train, _ = sets
    path = tmp_path / "ok.pt"
    fit(small_model(), train, None, **{**FAST, "epochs": 1}, checkpoint=path)
    state = torch.load(path, weights_only=True)  # plain containers and tensors only
    json.dumps({k: v for k, v in state.items() if not k.endswith("_state")})  # the rest is plain data
    evil = tmp_path / "evil.pt"
    torch.save({"format": "helpers.train/1", "payload": Exploit()}, evil)
    with pytest.raises(CheckpointError):
        load_checkpoint(evil)
    with pytest.raises(CheckpointError):
        fit(small_model(), train, None, **{**FAST, "epochs": 1}, checkpoint=evil, resume=True)


def _bad_checkpoints(folder, good):
    """{what: path} of files that are not usable checkpoints of fit()."""
    data = good.read_bytes()
    files = {"empty": b"", "truncated": data[: len(data) // 2], "random": bytes(range(256)) * 40}
    paths = {}
    for what, content in files.items():
        paths[what] = folder / f"{what}.pt"
        paths[what].write_bytes(content)
    paths["foreign dict"] = folder / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, paths["foreign dict"])      # a torch file, not one of fit()'s
    paths["a pickle"] = folder / "plain.pt"
    paths["a pickle"].write_bytes(pickle.dumps({"model_state": {}}))
    paths["code"] = folder / "code.pt"
    torch.save({"format": "helpers.train/1", "payload": Exploit()}, paths["code"])
    return paths


def test_bad_checkpoint_files_are_the_kits_own_error_naming_the_file(sets, tmp_path, capsys):
    """Before: torch's EOFError, RuntimeError or UnpicklingError, the last advising weights_only=False."""
    train, _ = sets
    good = tmp_path / "good.pt"
    fit(small_model(), train, None, **{**FAST, "epochs": 1}, checkpoint=good)
    for what, path in _bad_checkpoints(tmp_path, good).items():
        for load in (lambda: load_checkpoint(path),
                     lambda: fit(small_model(), train, None, **{**FAST, "epochs": 1}, checkpoint=path, resume=True)):
            with pytest.raises(CheckpointError) as err:
                load()
            message = str(err.value)
            assert path.name in message and "fit" in message, what             # names the file, says what to do
            assert "weights_only" not in message and "False" not in message, what
        assert "this must never run" not in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_checkpoint_save_that_fails_midway_leaves_the_previous_one(sets, tmp_path, monkeypatch):
    train, _ = sets
    path = tmp_path / "best.pt"
    fit(small_model(), train, None, **{**FAST, "epochs": 1}, checkpoint=path)
    before = path.read_bytes()
    real_save = torch.save

    def half_then_interrupt(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[:100])       # half written, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        fit(small_model(seed=3), train, None, **{**FAST, "epochs": 1}, checkpoint=path, overwrite=True)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


class Exploit:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_progress_is_one_bar_over_epochs(sets, capsys):
    train, _ = sets
    fit(small_model(), train, None, **{**FAST, "epochs": 2})
    assert capsys.readouterr().err == ""
    fit(small_model(), train, None, **{**FAST, "epochs": 2, "progress": True})
    err = capsys.readouterr().err
    assert "2/2" in err and "epoch" in err and "train=" in err
    assert "3/3" not in err  # 3 batches per epoch: the bar counts epochs, not batches


def test_resolve_device(monkeypatch):  # History's round trip is in test_checkpoints.py
    assert resolve_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto").type == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"


def test_bad_arguments(sets):
    train, val = sets
    for bad in (dict(optimizer="rmsprop"), dict(scheduler="warm"), dict(loss="ssim"), dict(lr=0),
                dict(batch_size=0), dict(patience=0)):
        with pytest.raises(ValueError):
            fit(small_model(), train, val, **{**FAST, **bad})


# ------------------------------------------------------------------------------------ the pieces fit is built from
def test_train_one_epoch_returns_the_size_weighted_mean_loss_and_updates_the_weights(sets):
    train_set, _ = sets
    loader = torch.utils.data.DataLoader(train_set, batch_size=10)        # batches of 10, 10 and 4
    model, reference = small_model(), small_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ref_opt = torch.optim.SGD(reference.parameters(), lr=0.1)
    reference.train()
    losses, sizes = [], []
    for x, y in loader:                                                     # notebook 03's loop, by hand
        ref_opt.zero_grad()
        loss = nn.functional.l1_loss(reference(x), y)
        loss.backward()
        ref_opt.step()
        losses.append(loss.item())
        sizes.append(len(x))
    model.eval()
    got = train_one_epoch(model, loader, opt, loss_fn=nn.functional.l1_loss)
    assert isinstance(got, float) and model.training
    assert got == pytest.approx(sum(v * n for v, n in zip(losses, sizes)) / sum(sizes), rel=1e-6)
    for (k, a), b in zip(model.state_dict().items(), reference.state_dict().values()):
        assert torch.equal(a, b), k
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=6)
    train_one_epoch(model, loader, opt, sched)
    assert sched.last_epoch == 3                                            # stepped once per batch
    with pytest.raises(ValueError, match="empty"):
        train_one_epoch(model, [], opt)


def test_train_one_epoch_is_notebook_03s_exercise(capsys):
    """Called as notebook 03 calls the student's (model, loader, optimizer, scheduler): its check passes."""
    checks.check_train_one_epoch(train_one_epoch)
    assert "loss falls" in capsys.readouterr().out


def test_fit_runs_the_epoch_function_it_is_given_as_notebook_03_runs_the_students(sets):
    """fit(epoch_fn=...) calls it once per epoch as (model, loader, optimizer, scheduler) with the per-step schedule,
    and the run is the same as with the kit's own train_one_epoch."""
    train_set, val = sets
    calls = []

    def students(model, loader, optimizer, scheduler=None):
        calls.append(type(scheduler).__name__)
        return train_one_epoch(model, loader, optimizer, scheduler)

    torch.manual_seed(0)
    a = fit(small_model(), train_set, val, **{**FAST, "epochs": 2}, scheduler="onecycle", epoch_fn=students)
    torch.manual_seed(0)
    b = fit(small_model(), train_set, val, **{**FAST, "epochs": 2}, scheduler="onecycle")
    assert calls == ["OneCycleLR", "OneCycleLR"] and a.train_loss == b.train_loss and a.val_loss == b.val_loss


def test_evaluate_takes_a_loader_or_a_dataset_and_a_loss_name_or_function(sets):
    _, val = sets
    model = small_model()
    on_dataset = evaluate(model, val, batch_size=4, device="cpu")
    assert evaluate(model, torch.utils.data.DataLoader(val, batch_size=4), nn.functional.mse_loss) == on_dataset
    assert evaluate(model, val, "l1", device="cpu") == evaluate(model, val, loss=nn.functional.l1_loss, device="cpu")
    assert evaluate(model, val, "l1", device="cpu")["loss"] != on_dataset["loss"]


def test_fit_reads_in_about_forty_lines_and_calls_the_public_pieces(sets, monkeypatch):
    source = inspect.getsource(fit)
    docstring = ast.parse(source).body[0].body[0]
    code_lines = len(source.splitlines()) - (docstring.end_lineno - docstring.lineno + 1)
    assert code_lines <= 45, f"fit has {code_lines} lines of code besides its docstring"
    calls = []
    for name in ("train_one_epoch", "evaluate"):
        def spy(*args, _real=getattr(train, name), _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)
        monkeypatch.setattr(train, name, spy)
    train_set, val = sets
    fit(small_model(), train_set, val, **{**FAST, "epochs": 2})
    assert calls == ["train_one_epoch", "evaluate"] * 2


def test_fit_takes_the_loss_by_name(sets):
    train_set, _ = sets
    with pytest.raises(ValueError, match="loss by name.*train_one_epoch and evaluate"):
        fit(small_model(), train_set, None, **FAST, loss=nn.functional.mse_loss)


def test_fit_records_the_optimizer_steps_of_each_epoch(sets):
    train_set, val = sets
    batch_size = 3
    history = fit(small_model(), train_set, val, **{**FAST, "epochs": 2, "batch_size": batch_size})
    per_epoch = -(-len(train_set) // batch_size)   # the last batch may be short
    assert history.steps == [per_epoch, per_epoch] and history.optimizer_steps == 2 * per_epoch
    assert f"{2 * per_epoch} optimizer steps" in history.summary()
