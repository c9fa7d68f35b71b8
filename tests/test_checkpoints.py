"""helpers.checkpoints: History, and the Checkpoint of a fit run (save atomically, load safely, resume checks).

fit's own use of checkpoints (resuming to the same numbers, refusing files through fit) is in test_train.py."""

import json

import pytest
import torch

from helpers.checkpoints import CHECKPOINT_FORMAT, Checkpoint, CheckpointError, History, load_checkpoint
from helpers.models import ConvAE

ARGS = dict(lr=1e-3, batch_size=8, optimizer="adam", momentum=0.9, weight_decay=0.0, scheduler=None, loss="mse",
            seed=0, epochs=3)
KEYS = {"format", "model_config", "model_state", "optimizer_state", "scheduler_state", "torch_rng_state",
        "generator_state", "epoch", "best_value", "monitor", "history", "fit_args", "torch_version"}


def tiny(seed=0, **kw):
    torch.manual_seed(seed)
    return ConvAE(**{"latent_dim": 8, "depth": 1, "width": 4, "image_size": 16, **kw})


def a_run(seed=0):
    """A model with one Adam step taken, its scheduler, a generator and a two-epoch history."""
    model = tiny(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(2, 3, 16, 16)).mean().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
    history = History()
    history.add_epoch(1e-3, 0.5, {"loss": 0.4, "psnr": 20.0, "ssim": 0.5}, 1.0)
    history.add_epoch(1e-3, 0.3, {"loss": 0.2, "psnr": 22.0, "ssim": 0.6}, 1.0)
    history.best_epoch = 2
    return model, opt, sched, torch.Generator().manual_seed(5), history


def test_history_round_trips():
    h = History(train_loss=[1.0], val_loss=[2.0], val_psnr=[30.0], val_ssim=[0.9], lr=[1e-3], seconds=[0.5],
                best_epoch=1)
    assert History.from_dict(json.loads(json.dumps(h.to_dict()))) == h
    h.add_epoch(5e-4, 0.5, {"loss": 1.5, "psnr": 31.0, "ssim": 0.95}, 0.25)
    assert h.epochs == 2 and h.lr == [1e-3, 5e-4] and h.val_psnr == [30.0, 31.0] and h.seconds == [0.5, 0.25]


def test_save_then_load_and_restore(tmp_path):
    model, opt, sched, generator, history = a_run()
    path = tmp_path / "run" / "best.pt"
    Checkpoint(path).save(model, opt, sched, generator, history, 0.2, ARGS, "val_loss")
    assert [p.name for p in path.parent.iterdir()] == ["best.pt"]     # written through a temporary file
    state = Checkpoint(path).load()
    assert set(state) == KEYS and state["format"] == CHECKPOINT_FORMAT == "helpers.train/1"
    assert state["epoch"] == 2 and state["best_value"] == 0.2 and state["fit_args"] == ARGS
    # restore into fresh objects: the same weights, optimizer, scheduler and random states
    rng = torch.get_rng_state()
    torch.manual_seed(99)
    fresh = tiny(seed=1)
    fresh_opt = torch.optim.Adam(fresh.parameters(), lr=1e-3)
    fresh_sched = torch.optim.lr_scheduler.StepLR(fresh_opt, step_size=1)
    fresh_gen = torch.Generator()
    epoch, restored, best = Checkpoint.restore(state, fresh, fresh_opt, fresh_sched, fresh_gen)
    assert (epoch, best) == (2, 0.2) and restored.to_dict() == history.to_dict()
    for (k, a), b in zip(model.state_dict().items(), fresh.state_dict().values()):
        assert torch.equal(a, b), k
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.equal(fresh_gen.get_state(), generator.get_state())
    assert fresh_opt.state_dict()["state"][0]["step"] == 1
    loaded, h = load_checkpoint(path)
    assert loaded.config == model.config and not loaded.training and h.to_dict() == history.to_dict()


def test_resume_state_refuses_or_checks(tmp_path):
    model, opt, sched, generator, history = a_run()
    path = tmp_path / "best.pt"
    assert Checkpoint(path).resume_state(model, ARGS) is None and not Checkpoint(path).exists  # no file: fresh
    Checkpoint(None).save(model, opt, sched, generator, history, 0.2, ARGS, "val_loss")           # no file: no-op
    assert Checkpoint(None).resume_state(model, ARGS) is None
    Checkpoint(path).save(model, opt, sched, generator, history, 0.2, ARGS, "val_loss")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"best\.pt.*resume=True.*overwrite=True"):
        Checkpoint(path).resume_state(model, ARGS)
    assert path.read_bytes() == before
    assert Checkpoint(path, overwrite=True).resume_state(model, ARGS) is None
    assert Checkpoint(path, resume=True).resume_state(model, ARGS)["epoch"] == 2
    with pytest.raises(ValueError, match="contradict"):
        Checkpoint(path, resume=True, overwrite=True)
    resuming = Checkpoint(path, resume=True)
    with pytest.raises(CheckpointError, match=r"different settings \(lr: 0.001 in the checkpoint, 0.01 now\)"):
        resuming.resume_state(model, {**ARGS, "lr": 1e-2})
    with pytest.raises(CheckpointError, match="different model"):
        resuming.resume_state(tiny(width=8), ARGS)
    resuming.check_resumable(Checkpoint(path).load(), model, {**ARGS, "epochs": 9})  # no schedule: may grow
    spanning = {**ARGS, "scheduler": "cosine"}
    Checkpoint(path, overwrite=True).save(model, opt, sched, generator, history, 0.2, spanning, "val_loss")
    with pytest.raises(CheckpointError, match="epochs: 3 in the checkpoint, 9 now"):
        resuming.resume_state(model, {**spanning, "epochs": 9})


def test_load_refuses_what_is_not_a_checkpoint_of_fit(tmp_path, capsys):
    files = {"empty.pt": b"", "text.pt": b"not a torch file"}
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    torch.save({"format": "helpers.rd_model/1", "state_dict": {}}, tmp_path / "codec.pt")      # another kind
    torch.save({"format": CHECKPOINT_FORMAT, "history": {}}, tmp_path / "damaged.pt")          # no weights
    torch.save({"format": CHECKPOINT_FORMAT, "code": Runs()}, tmp_path / "code.pt")
    for name in ("empty.pt", "text.pt", "codec.pt", "damaged.pt", "code.pt"):
        with pytest.raises(CheckpointError, match=name) as err:
            Checkpoint(tmp_path / name).load()
        assert "helpers.train.fit" in str(err.value) and "weights_only" not in str(err.value), name
    assert "this must never run" not in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        Checkpoint(tmp_path / "missing.pt").load()


class Runs:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_history_counts_optimizer_steps_and_flags_a_best_epoch_that_is_the_last():
    h = History()
    h.add_epoch(1e-3, 0.5, {"loss": 0.4, "psnr": 20.0, "ssim": 0.5}, 1.0, steps=23)
    h.add_epoch(1e-3, 0.3, {"loss": 0.2, "psnr": 22.0, "ssim": 0.6}, 2.0, steps=23)
    h.best_epoch = 2
    assert h.optimizer_steps == 46 and h.best_is_last
    text = h.summary()
    assert text.startswith("2 epochs, 46 optimizer steps, 3 s; best epoch 2 of 2")
    assert "still improving" in text
    h.add_epoch(1e-3, 0.3, {"loss": 0.3, "psnr": 21.0, "ssim": 0.55}, 1.0, steps=23)
    assert not h.best_is_last and "still improving" not in h.summary()
    assert History.from_dict(json.loads(json.dumps(h.to_dict()))) == h
    h._truncate(1)
    assert h.steps == [23] and h.optimizer_steps == 23


def test_a_history_saved_before_steps_were_counted_still_loads():
    old = History(train_loss=[1.0], val_loss=[2.0], val_psnr=[30.0], val_ssim=[0.9], lr=[1e-3], seconds=[0.5],
                  best_epoch=1).to_dict()
    del old["steps"]
    h = History.from_dict(old)
    assert h.steps == [] and h.optimizer_steps == 0 and h.best_is_last
