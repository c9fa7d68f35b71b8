"""The training loop used from notebook 04 on (notebook 03 has students write their own).

:func:`fit` trains any model on any ``torch.utils.data.Dataset`` of ``(input, target)`` float tensors and returns
a :class:`History`. What it does, in order, each epoch:

1. one pass over the training data (shuffled by a ``torch.Generator`` seeded with ``seed``; ``num_workers=0``;
   ``train_data.set_epoch(epoch - 1)`` first when the dataset has it, for new random crops and flips);
2. one pass over the validation data: the loss, then PSNR and SSIM on **8-bit pixels** after mapping outputs and
   targets back to ``[0, 1]`` with ``val_data.target_normalization.inverse`` when the dataset has one (identity
   otherwise), so the numbers compare across normalizations (see ``helpers.metrics``);
3. the scheduler step, early stopping, and the best checkpoint.

Progress: one ``tqdm.auto`` bar per call, over epochs (losses and PSNR in its postfix), never one per batch: a
notebook saved after training holds one line, not thousands, and the bar renders in JupyterLab, in papermill
runs and in a terminal. ``progress=False`` turns it off.

Errors: a loss that becomes NaN or infinite, or an epoch loss more than ``divergence_factor`` times the best so far,
raises :class:`TrainingError` (a ``FloatingPointError``) naming the epoch and suggesting a lower learning rate.

Checkpoints (``checkpoint=path``): whenever the monitored loss improves (validation loss, or training loss without
validation data) the file is rewritten atomically (``helpers.files.atomic_output``: a temporary file, then
``os.replace``, so a killed save leaves the previous checkpoint intact) with the model's
weights and config, the optimizer, scheduler and random states, the epoch and the history. It holds only tensors
and plain containers, so :func:`load_checkpoint` reads it with ``torch.load(weights_only=True)``. An existing file
is never overwritten silently: pass ``resume=True`` to continue it or ``overwrite=True`` to replace it.
A file that is empty, truncated, not a checkpoint of ``fit`` or that holds objects torch's safe loader refuses
(a pickle that would run code) is a :class:`CheckpointError` naming the file and what to do; the kit never
loads a checkpoint unsafely.
Resuming restarts after the checkpoint's (best) epoch with the saved random state, so a resumed run gives the same
numbers as an uninterrupted one.

Determinism: with ``device='cpu'`` the same seed, data, model initialization and arguments give identical
numbers. (Seed the model's initialization yourself, e.g. ``torch.manual_seed(0)`` before building it; ``fit``
seeds dropout and shuffling.) On GPUs some kernels are not bit-exact.
"""

from __future__ import annotations

import copy
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import metrics
from .files import atomic_output, load_torch_file
from .models import build_model, evaluation_mode

__all__ = ["History", "TrainingError", "CheckpointError", "fit", "evaluate", "load_checkpoint", "resolve_device",
           "target_inverse", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = "helpers.train/1"
OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = (None, "step", "cosine", "plateau", "onecycle")
LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}

# fit() arguments that must match when resuming (epochs may grow; device, progress and patience may change).
# Schedules laid out over the whole run: resuming them needs the same `epochs`.
_SPANNING = ("step", "cosine", "onecycle")
_RESUME_KEYS = ("lr", "batch_size", "optimizer", "momentum", "weight_decay", "scheduler", "loss", "seed")


class TrainingError(FloatingPointError):
    """Training went numerically wrong (NaN, inf or divergence). The message names the epoch and what to try."""


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: empty, truncated, foreign, unsafe, or from another model or
    settings. The message names the file and what to do."""


@dataclass
class History:
    """Per-epoch record of a :func:`fit` run; list index ``i`` is epoch ``i + 1``.

    ``train_loss``/``val_loss`` are in the loss's own units (on the normalized tensors); ``val_psnr`` (dB) and
    ``val_ssim`` on 8-bit pixels; ``lr`` is the learning rate at the start of each epoch; ``seconds`` the wall time
    of each epoch (training and validation). ``best_epoch`` is the 1-based epoch of the best monitored loss (the
    one saved in the checkpoint); ``stopped_early`` tells whether early stopping ended the run. Without
    validation data the ``val_*`` entries are NaN.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_psnr: list[float] = field(default_factory=list)
    val_ssim: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        """Number of epochs recorded."""
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists of floats), ready for JSON or a DataFrame."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "History":
        return cls(**{k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in d.items()})

    def _truncate(self, n: int) -> None:
        for name in ("train_loss", "val_loss", "val_psnr", "val_ssim", "lr", "seconds"):
            del getattr(self, name)[n:]


# ----------------------------------------------------------------------------------------------------------- utils
def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``'auto'``: CUDA if available, then Apple's MPS, then CPU; anything else is passed to ``torch.device``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def target_inverse(dataset: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function mapping a dataset's targets (and a model's outputs) back to ``[0, 1]`` pixels.

    ``dataset.target_normalization.inverse`` when the dataset (or the dataset a ``Subset`` wraps) has one,
    otherwise the identity (targets already in ``[0, 1]``)."""
    norm = _find(dataset, "target_normalization")
    if norm is None:
        return lambda t: t
    if not callable(getattr(norm, "inverse", None)):
        raise TypeError(f"{type(dataset).__name__}.target_normalization has no inverse() method")
    return norm.inverse


def _find(dataset: Any, name: str) -> Any:
    """``dataset.<name>``, looking through wrappers such as ``Subset`` (their ``.dataset``); None if absent."""
    d = dataset
    for _ in range(10):
        if hasattr(d, name):
            return getattr(d, name)
        if not hasattr(d, "dataset"):
            return None
        d = d.dataset
    return None


def _check_output_range(model: nn.Module, data: Dataset) -> None:
    """Warn when the model's output range cannot reach the targets (e.g. a sigmoid against [-1, 1] targets)."""
    output_range = getattr(model, "output_range", None)
    if not callable(output_range) or len(data) == 0:
        return
    lo, hi = output_range()
    target = data[0][1]
    t_lo, t_hi = float(target.min()), float(target.max())
    if t_lo < lo - 1e-6 or t_hi > hi + 1e-6:
        warnings.warn(
            f"the model's output ({getattr(model, 'output', '?')}) stays in [{lo:g}, {hi:g}] but the targets reach "
            f"[{t_lo:.3g}, {t_hi:.3g}]: the loss cannot go to zero. Match them: output='sigmoid' for "
            f"normalization='unit', 'tanh' for 'symmetric', 'linear' for 'standard' (helpers.models.output_for).",
            stacklevel=3,
        )


def _loader(data: Dataset, batch_size: int, shuffle: bool, generator: torch.Generator | None,
             device: torch.device) -> DataLoader:
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0,
                      pin_memory=device.type == "cuda")


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset, *, batch_size: int = 64, loss: str = "mse",
             device: str | torch.device = "auto") -> dict[str, float]:
    """Loss, PSNR and SSIM of ``model`` on ``data`` (per image, averaged), metrics on 8-bit pixels after
    ``target_inverse(data)``. Returns ``{'loss', 'psnr', 'ssim'}``. Leaves the model in its previous mode."""
    dev = resolve_device(device)
    loss_fn = _loss_fn(loss)
    return _evaluate(model, _loader(data, batch_size, False, None, dev), loss_fn, target_inverse(data), dev)


def _evaluate(model: nn.Module, loader: DataLoader, loss_fn: Callable, inverse: Callable,
              device: torch.device) -> dict[str, float]:
    total, count, psnrs, ssims = 0.0, 0, [], []
    with evaluation_mode(model), torch.no_grad():       # the model's previous mode comes back afterwards
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            out = model(x)
            total += float(loss_fn(out, y, reduction="sum")) / y[0].numel()
            count += y.shape[0]
            if not math.isfinite(total):  # no metrics on NaN/inf pixels; the caller reports the loss
                return {"loss": total, "psnr": math.nan, "ssim": math.nan}
            out01 = inverse(out.cpu()).clamp(0, 1)  # metrics on CPU (SSIM is scikit-image's)
            y01 = inverse(y.cpu()).clamp(0, 1)
            psnrs += metrics.torch_psnr(out01, y01, reduction="none").tolist()
            ssims += metrics.ssim(out01, y01, reduction="none")
    if count == 0:
        raise ValueError("the validation data is empty")
    return {"loss": total / count, "psnr": sum(psnrs) / count, "ssim": sum(ssims) / count}


def _loss_fn(loss: str) -> Callable:
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}, got {loss!r}")
    return LOSSES[loss]


def _make_optimizer(model: nn.Module, name: str, lr: float, momentum: float, weight_decay: float):
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be one of {', '.join(map(repr, OPTIMIZERS))}, got {name!r}")


def _make_scheduler(opt, name: str | None, lr: float, epochs: int, steps_per_epoch: int):
    """Scheduler and whether it steps per batch. step: x0.1 every max(1, epochs // 3) epochs; cosine: to 0 over
    ``epochs``; plateau: x0.5 after 2 epochs without improvement of the monitored loss; onecycle: peak ``lr``,
    per batch over the whole run."""
    s = torch.optim.lr_scheduler
    if name is None:
        return None, False
    if name == "step":
        return s.StepLR(opt, step_size=max(1, epochs // 3), gamma=0.1), False
    if name == "cosine":
        return s.CosineAnnealingLR(opt, T_max=max(1, epochs)), False
    if name == "plateau":
        return s.ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=2), False
    if name == "onecycle":
        return s.OneCycleLR(opt, max_lr=lr, total_steps=max(1, epochs * steps_per_epoch)), True
    raise ValueError(f"scheduler must be one of {', '.join(map(repr, SCHEDULERS))}, got {name!r}")


def _model_config(model: nn.Module) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    return dict(config) if isinstance(config, dict) else None


def _read_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """The dict that :func:`fit` saved in ``path``, read safely (``torch.load(weights_only=True)``).
    Raises :class:`CheckpointError` for anything else (``FileNotFoundError`` when there is no file)."""
    todo = "pass the path of a checkpoint that helpers.train.fit wrote, or retrain with fit(checkpoint=...)"
    state = load_torch_file(path, CHECKPOINT_FORMAT, todo, error=CheckpointError, map_location=map_location)
    missing = [k for k in ("model_state", "history") if k not in state]
    if missing:
        raise CheckpointError(f"{path} is a damaged {CHECKPOINT_FORMAT} checkpoint (no {', '.join(missing)}); "
                              f"{todo}")
    return state


def _diverged(epoch: int, what: str, lr: float) -> TrainingError:
    return TrainingError(
        f"training diverged at epoch {epoch}: {what}. Try a lower learning rate (lr={lr:g} -> {lr / 10:g}), "
        f"or check the data and the model's output range."
    )


# ----------------------------------------------------------------------------------------------------------- fit
def fit(
    model: nn.Module,
    train_data: Dataset,
    val_data: Dataset | None = None,
    *,
    epochs: int,
    lr: float = 1e-3,
    batch_size: int = 64,
    optimizer: str = "adam",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    scheduler: str | None = None,
    loss: str = "mse",
    seed: int = 0,
    device: str | torch.device = "auto",
    patience: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    restore_best: bool = True,
    divergence_factor: float | None = 10.0,
) -> History:
    """Train ``model`` on ``train_data`` for ``epochs`` epochs and return its :class:`History`.

    Args:
        model: any ``nn.Module`` mapping a batch of inputs to outputs shaped like the targets. Models with a
            ``config`` dict (the kit's) can be rebuilt from a checkpoint by :func:`load_checkpoint`.
        train_data, val_data: datasets of ``(input, target)`` float tensors. ``val_data`` may be ``None``
            (then the ``val_*`` history entries are NaN and early stopping watches the training loss).
        epochs: total number of epochs. On resume the run continues up to this number; it may grow with
            ``scheduler=None`` or ``'plateau'``, not with the schedules laid out over the run
            (``'step'``, ``'cosine'``, ``'onecycle'``).
        lr: learning rate (the peak rate for ``'onecycle'``).
        batch_size: training and validation batch size.
        optimizer: ``'adam'`` or ``'sgd'`` (with ``momentum``); ``weight_decay`` for both.
        scheduler: ``None``, ``'step'``, ``'cosine'``, ``'plateau'`` or ``'onecycle'`` (see ``_make_scheduler``).
        loss: ``'mse'`` or ``'l1'``, on the tensors as the dataset gives them.
        seed: seeds shuffling and dropout (not the model's initialization: seed before building the model).
        device: ``'auto'`` (CUDA, then MPS, then CPU), or any ``torch.device`` string. The model is moved there.
        patience: early stopping: stop after this many epochs without improvement (``None``: never).
        checkpoint: path of the best checkpoint (``None``: no file).
        resume: continue from ``checkpoint`` if it exists (a fresh start if it does not).
        overwrite: replace an existing ``checkpoint`` from another run.
        progress: show a tqdm bar over epochs.
        restore_best: at the end, load the best epoch's weights into ``model`` (the checkpoint's); else keep
            the last epoch's.
        divergence_factor: raise :class:`TrainingError` when an epoch's training loss exceeds this many times the
            best one so far (``None``: only NaN/inf are errors).

    Raises:
        TrainingError: the loss became NaN/inf or diverged (the message names the epoch and suggests a lower lr).
        FileExistsError: ``checkpoint`` exists and neither ``resume`` nor ``overwrite`` is set.
        ValueError: a bad argument, or a checkpoint from a different model or settings on resume.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not lr > 0:
        raise ValueError(f"lr must be positive, got {lr}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 or None, got {patience}")
    if resume and overwrite:
        raise ValueError("resume=True and overwrite=True contradict each other: choose one")
    loss_fn = _loss_fn(loss)
    dev = resolve_device(device)
    fit_args = dict(lr=lr, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
                    weight_decay=weight_decay, scheduler=scheduler, loss=loss, seed=seed, epochs=epochs)

    ckpt_path = Path(checkpoint) if checkpoint is not None else None
    state = None
    if ckpt_path is not None and ckpt_path.exists():
        if resume:
            state = _read_checkpoint(ckpt_path)
            _check_resumable(state, model, fit_args, ckpt_path)
        elif not overwrite:
            raise FileExistsError(
                f"checkpoint {ckpt_path} already exists (another run's?). Pass resume=True to continue it, "
                f"overwrite=True to replace it, or choose another path."
            )

    model.to(dev)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    train_loader = _loader(train_data, batch_size, True, generator, dev)
    val_loader = _loader(val_data, batch_size, False, None, dev) if val_data is not None else None
    inverse = target_inverse(val_data) if val_data is not None else None
    steps = len(train_loader)
    if steps == 0:
        raise ValueError("the training data is empty")
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    sched, per_batch = _make_scheduler(opt, scheduler, lr, epochs, steps)

    history = History()
    start = 0
    best_value = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    if state is not None:
        model.load_state_dict(state["model_state"])
        opt.load_state_dict(state["optimizer_state"])
        if sched is not None and state.get("scheduler_state") is not None:
            sched.load_state_dict(state["scheduler_state"])
        torch.set_rng_state(state["torch_rng_state"])
        generator.set_state(state["generator_state"])
        history = History.from_dict(state["history"])
        start = int(state["epoch"])
        history._truncate(start)
        best_value = float(state["best_value"])
        best_state = copy.deepcopy(model.state_dict())
    _check_output_range(model, train_data)
    set_epoch = _find(train_data, "set_epoch")  # new random crops/flips each epoch (helpers.data)
    bad_epochs = 0
    best_train = min(history.train_loss, default=math.inf)
    monitor = "val_loss" if val_loader is not None else "train_loss"

    bar = tqdm(total=epochs, initial=start, desc=f"fit {type(model).__name__}", unit="epoch",
               disable=not progress, dynamic_ncols=True, leave=True)
    try:
        for epoch in range(start + 1, epochs + 1):
            t0 = time.perf_counter()
            if callable(set_epoch):
                set_epoch(epoch - 1)
            history.lr.append(float(opt.param_groups[0]["lr"]))
            model.train()
            running = torch.zeros((), dtype=torch.float64, device=dev)
            seen = 0
            for x, y in train_loader:
                x = x.to(dev, non_blocking=True)
                y = y.to(dev, non_blocking=True)
                opt.zero_grad(set_to_none=True)
                batch_loss = loss_fn(model(x), y)
                batch_loss.backward()
                opt.step()
                if per_batch:
                    sched.step()
                running += batch_loss.detach() * y.shape[0]
                seen += y.shape[0]
            train_loss = float(running) / seen  # one device sync per epoch
            if not math.isfinite(train_loss):
                raise _diverged(epoch, f"the training loss became {train_loss}", lr)
            if divergence_factor is not None and train_loss > divergence_factor * best_train:
                raise _diverged(epoch, f"the training loss rose to {train_loss:.4g}, more than "
                                       f"{divergence_factor:g}x its best ({best_train:.4g})", lr)
            best_train = min(best_train, train_loss)
            history.train_loss.append(train_loss)

            if val_loader is not None:
                v = _evaluate(model, val_loader, loss_fn, inverse, dev)
                if not math.isfinite(v["loss"]):
                    raise _diverged(epoch, f"the validation loss became {v['loss']}", lr)
            else:
                v = {"loss": math.nan, "psnr": math.nan, "ssim": math.nan}
            history.val_loss.append(v["loss"])
            history.val_psnr.append(v["psnr"])
            history.val_ssim.append(v["ssim"])
            value = v["loss"] if val_loader is not None else train_loss

            if sched is not None and not per_batch:
                if scheduler == "plateau":
                    sched.step(value)
                else:
                    sched.step()
            history.seconds.append(time.perf_counter() - t0)

            improved = value < best_value
            if improved:
                best_value = value
                history.best_epoch = epoch
                bad_epochs = 0
                best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
                if ckpt_path is not None:
                    with atomic_output(ckpt_path) as tmp:   # a killed save leaves the previous one intact
                        torch.save(_checkpoint_dict(model, opt, sched, generator, history, epoch, best_value,
                                                    fit_args, monitor), tmp)
            else:
                bad_epochs += 1

            postfix = {"train": f"{train_loss:.4g}"}
            if val_loader is not None:
                postfix.update(val=f"{v['loss']:.4g}", psnr=f"{v['psnr']:.2f}")
            bar.set_postfix(postfix, refresh=False)
            bar.update(1)
            if patience is not None and bad_epochs >= patience:
                history.stopped_early = True
                break
    finally:
        bar.close()

    if restore_best and best_state is not None and history.best_epoch != history.epochs:
        model.load_state_dict(best_state)
    return history


def _checkpoint_dict(model, opt, sched, generator, history, epoch, best_value, fit_args, monitor) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "model_config": _model_config(model),
        "model_state": {k: t.detach().cpu() for k, t in model.state_dict().items()},
        "optimizer_state": opt.state_dict(),
        "scheduler_state": sched.state_dict() if sched is not None else None,
        "torch_rng_state": torch.get_rng_state(),
        "generator_state": generator.get_state(),
        "epoch": epoch,
        "best_value": float(best_value),
        "monitor": monitor,
        "history": history.to_dict(),
        "fit_args": dict(fit_args),
        "torch_version": str(torch.__version__),
    }


def _check_resumable(state: dict, model: nn.Module, fit_args: dict, path: Path) -> None:
    config = _model_config(model)
    if config is not None and state.get("model_config") is not None and config != state["model_config"]:
        raise CheckpointError(f"{path} holds a different model ({state['model_config']}) than the one given "
                              f"({config}); use another checkpoint path or overwrite=True")
    old = state.get("fit_args", {})
    diff = {k: (old.get(k), fit_args[k]) for k in _RESUME_KEYS if old.get(k) != fit_args[k]}
    if old.get("scheduler") in _SPANNING and old.get("epochs") != fit_args["epochs"]:
        diff["epochs"] = (old.get("epochs"), fit_args["epochs"])  # these schedules are laid out over `epochs`
    if diff:
        pretty = ", ".join(f"{k}: {a!r} in the checkpoint, {b!r} now" for k, (a, b) in diff.items())
        raise CheckpointError(f"cannot resume {path} with different settings ({pretty}); "
                              f"use the same settings, another path, or overwrite=True")


def load_checkpoint(path: str | os.PathLike, model: nn.Module | None = None,
                    map_location: str | torch.device = "cpu") -> tuple[nn.Module, History]:
    """Load the best model saved by :func:`fit` and its history, safely (``torch.load(weights_only=True)``).

    The model is rebuilt from the stored config with ``helpers.models.build_model``; pass ``model`` to load the
    weights into a model of your own instead (required for models without a ``config``). Returns
    ``(model, history)`` with the model in eval mode. Raises :class:`CheckpointError` for a file that is not
    such a checkpoint (empty, truncated, foreign, unsafe) or whose weights do not fit the model.
    """
    state = _read_checkpoint(Path(path), map_location)
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
