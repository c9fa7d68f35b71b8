"""What a :func:`helpers.train.fit` run keeps: its :class:`History` and its checkpoint file (:class:`Checkpoint`).

The checkpoint is the best epoch so far, rewritten whenever the monitored loss improves. It holds the model's
weights and config, the optimizer, scheduler and random states, the epoch, the history and the settings of
``fit``: tensors and plain containers only, so it is read with ``torch.load(weights_only=True)`` and a file that
would run code is refused. Written atomically (``helpers.files.atomic_output``: a killed save leaves the previous
checkpoint intact).

    ckpt = Checkpoint("runs/best.pt", resume=True)
    state = ckpt.resume_state(model, fit_args)       # None: start afresh; else the checkpoint, checked
    ...
    ckpt.save(model, optimizer, scheduler, generator, history, best_value, fit_args, monitor)
    model, history = load_checkpoint("runs/best.pt")  # the best model, rebuilt from its config

An existing file is never overwritten silently: ``resume=True`` continues it, ``overwrite=True`` replaces it.
A file that is empty, truncated, not a checkpoint of ``fit``, from another model or other settings, or that holds
objects torch's safe loader refuses is a :class:`CheckpointError` naming the file and what to do.
(The codec's checkpoints are another kind: ``helpers.rd_model.save_checkpoint`` / ``load_checkpoint``.)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .files import atomic_output, load_torch_file
from .models import build_model

__all__ = ["History", "Checkpoint", "CheckpointError", "load_checkpoint", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "helpers.train/1"

# fit() arguments that must match when resuming (epochs may grow; device, progress and patience may change).
# Schedules laid out over the whole run: resuming them needs the same `epochs`.
_SPANNING = ("step", "cosine", "onecycle")
_RESUME_KEYS = ("lr", "batch_size", "optimizer", "momentum", "weight_decay", "scheduler", "loss", "seed")
_TODO = "pass the path of a checkpoint that helpers.train.fit wrote, or retrain with fit(checkpoint=...)"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: empty, truncated, foreign, unsafe, or from another model or
    settings. The message names the file and what to do."""


@dataclass
class History:
    """Per-epoch record of a :func:`helpers.train.fit` run; list index ``i`` is epoch ``i + 1``.

    ``train_loss``/``val_loss`` are in the loss's own units (on the normalized tensors); ``val_psnr`` (dB) and
    ``val_ssim`` on 8-bit pixels; ``lr`` is the learning rate at the start of each epoch; ``seconds`` the wall time
    of each epoch (training and validation); ``steps`` the optimizer steps (batches) of each epoch. ``best_epoch`` is the 1-based epoch of the best monitored loss (the
    one saved in the checkpoint); ``stopped_early`` tells whether early stopping ended the run. Without
    validation data the ``val_*`` entries are NaN.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_psnr: list[float] = field(default_factory=list)
    val_ssim: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps (weight updates) over the whole run: what a model learns from, more than epochs."""
        return int(sum(self.steps))

    @property
    def best_is_last(self) -> bool:
        """True when the best epoch is the last one: the model was still improving when training stopped."""
        return self.best_epoch is not None and self.best_epoch == self.epochs

    def summary(self) -> str:
        """One or two lines for a notebook: epochs, optimizer steps, time, the best epoch and its validation
        metrics, and a warning when the best epoch is the last (more steps would probably still help)."""
        text = (f"{self.epochs} epochs, {self.optimizer_steps} optimizer steps, {sum(self.seconds):.0f} s")
        if self.best_epoch is None:
            return text
        i = self.best_epoch - 1
        text += (f"; best epoch {self.best_epoch} of {self.epochs}: validation loss {self.val_loss[i]:.5f}, "
                 f"patch PSNR {self.val_psnr[i]:.2f} dB, SSIM {self.val_ssim[i]:.3f}")
        if self.best_is_last:
            text += "\n  the best epoch is the last one: the model was still improving when training stopped"
        return text

    def add_epoch(self, lr: float, train_loss: float, val: dict[str, float], seconds: float, steps: int = 0) -> None:
        """Append one epoch: its starting learning rate, training loss, validation ``{'loss', 'psnr', 'ssim'}``,
        wall time and optimizer steps."""
        self.steps.append(int(steps))
        self.lr.append(lr)
        self.train_loss.append(train_loss)
        self.val_loss.append(val["loss"])
        self.val_psnr.append(val["psnr"])
        self.val_ssim.append(val["ssim"])
        self.seconds.append(seconds)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists of floats), ready for JSON or a DataFrame."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls(**{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in d.items()})

    def _truncate(self, n: int) -> None:
        for name in ("train_loss", "val_loss", "val_psnr", "val_ssim", "lr", "seconds", "steps"):
            del getattr(self, name)[n:]


def _model_config(model: nn.Module) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    return dict(config) if isinstance(config, dict) else None


class Checkpoint:
    """The checkpoint file of one :func:`helpers.train.fit` run: its best epoch so far.

    ``path=None``: a run without a file (nothing to resume; :meth:`save` does nothing). ``resume=True``: continue
    an existing file; ``overwrite=True``: replace it; neither: an existing file is refused (``FileExistsError``).
    """

    def __init__(self, path: str | os.PathLike | None, *, resume: bool = False, overwrite: bool = False):
        if resume and overwrite:
            raise ValueError("resume=True and overwrite=True contradict each other: choose one")
        self.path = Path(path) if path is not None else None
        self.resume = resume
        self.overwrite = overwrite

    @property
    def exists(self) -> bool:
        """Whether there is a file at ``path``."""
        return self.path is not None and self.path.exists()

    def load(self, map_location: str | torch.device = "cpu") -> dict:
        """The dict that ``fit`` saved, read safely (``torch.load(weights_only=True)``). Raises
        :class:`CheckpointError` for anything else (``FileNotFoundError`` when there is no file)."""
        state = load_torch_file(self.path, CHECKPOINT_FORMAT, _TODO, error=CheckpointError,
                                map_location=map_location)
        missing = [k for k in ("model_state", "history") if k not in state]
        if missing:
            raise CheckpointError(f"{self.path} is a damaged {CHECKPOINT_FORMAT} checkpoint (no "
                                  f"{', '.join(missing)}); {_TODO}")
        return state

    def check_resumable(self, state: dict, model: nn.Module, fit_args: dict[str, Any]) -> None:
        """Raise :class:`CheckpointError` when ``state`` comes from another model (config) or other settings of
        ``fit`` (``fit_args``, see ``_RESUME_KEYS``; ``epochs`` too for schedules laid out over the run)."""
        config = _model_config(model)
        if config is not None and state.get("model_config") is not None and config != state["model_config"]:
            raise CheckpointError(f"{self.path} holds a different model ({state['model_config']}) than the one "
                                  f"given ({config}); use another checkpoint path or overwrite=True")
        old = state.get("fit_args", {})
        diff = {k: (old.get(k), fit_args[k]) for k in _RESUME_KEYS if old.get(k) != fit_args[k]}
        if old.get("scheduler") in _SPANNING and old.get("epochs") != fit_args["epochs"]:
            diff["epochs"] = (old.get("epochs"), fit_args["epochs"])  # these schedules are laid out over `epochs`
        if diff:
            pretty = ", ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, (a, b) in diff.items())
            raise CheckpointError(f"cannot resume {self.path} with different settings ({pretty}); "
                                  f"use the same settings, another path, or overwrite=True")

    def resume_state(self, model: nn.Module, fit_args: dict[str, Any]) -> dict | None:
        """The checkpoint to continue (loaded and checked), or ``None`` for a fresh start: no file, or
        ``overwrite=True``. An existing file without ``resume`` or ``overwrite`` is a ``FileExistsError``."""
        if not self.exists:
            return None
        if self.resume:
            state = self.load()
            self.check_resumable(state, model, fit_args)
            return state
        if self.overwrite:
            return None
        raise FileExistsError(f"checkpoint {self.path} already exists (another run's?). Pass resume=True to "
                              f"continue it, overwrite=True to replace it, or choose another path.")

    @staticmethod
    def restore(state: dict, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
                generator: torch.Generator) -> tuple[int, History, float]:
        """Put the saved weights, optimizer, scheduler and random states back; returns ``(epoch, history,
        best_value)``: the run goes on after ``epoch`` with the same numbers as an uninterrupted one."""
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        if scheduler is not None and state.get("scheduler_state") is not None:
            scheduler.load_state_dict(state["scheduler_state"])
        torch.set_rng_state(state["torch_rng_state"])
        generator.set_state(state["generator_state"])
        epoch = int(state["epoch"])
        history = History.from_dict(state["history"])
        history._truncate(epoch)
        return epoch, history, float(state["best_value"])

    def save(self, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, generator: torch.Generator,
             history: History, best_value: float, fit_args: dict[str, Any], monitor: str) -> None:
        """Write the run as it stands after its last recorded epoch (``history.epochs``), atomically: a killed
        save leaves the previous checkpoint intact. ``monitor``: ``'val_loss'`` or ``'train_loss'``."""
        if self.path is None:
            return
        state = {
            "format": CHECKPOINT_FORMAT,
            "model_config": _model_config(model),
            "model_state": {k: t.detach().cpu() for k, t in model.state_dict().items()},
            "optimizer_state": optimizer.state_dict(),
            "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
            "torch_rng_state": torch.get_rng_state(),
            "generator_state": generator.get_state(),
            "epoch": history.epochs,
            "best_value": float(best_value),
            "monitor": monitor,
            "history": history.to_dict(),
            "fit_args": dict(fit_args),
            "torch_version": str(torch.__version__),
        }
        with atomic_output(self.path) as tmp:
            torch.save(state, tmp)


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None,
                    map_location: str | torch.device = "cpu") -> tuple[nn.Module, History]:
    """Load the best model saved by :func:`helpers.train.fit` and its history, safely.

    The model is rebuilt from the stored config with ``helpers.models.build_model``; pass ``model`` to load the
    weights into a model of your own instead (required for models without a ``config``). Returns
    ``(model, history)`` with the model in eval mode. Raises :class:`CheckpointError` for a file that is not
    such a checkpoint (empty, truncated, foreign, unsafe) or whose weights do not fit the model.
    """
    state = Checkpoint(path).load(map_location)
    if model is None:
        if state.get("model_config") is None:
            raise CheckpointError(f"{path} stores no model config (the model had no .config): pass model=")
        model = build_model(state["model_config"])
    try:
        model.load_state_dict(state["model_state"])
        history = History.from_dict(state["history"])
    except (RuntimeError, TypeError, KeyError) as e:
        raise CheckpointError(f"{path}: its weights do not fit this model ({str(e).splitlines()[0][:200]}); "
                              f"pass the model it was trained with") from None
    model.eval()
    return model, history
