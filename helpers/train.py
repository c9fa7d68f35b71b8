"""Training: notebook 03's loop as named pieces, and :func:`fit` built from them (used from notebook 04 on).

* :func:`train_one_epoch` ``(model, loader, optimizer, scheduler=None)``: for each batch zero the gradients, forward,
  loss, backward, optimizer step (and a scheduler step); returns the epoch's mean loss over its examples (notebook
  03's exercise, word for word);
* :func:`evaluate` ``(model, data, loss)``: the validation loss, and PSNR and SSIM on **8-bit pixels** after
  mapping outputs and targets back to ``[0, 1]`` (:func:`target_inverse`), so the numbers compare across
  normalizations (see ``helpers.metrics``);
* :class:`Checkpoint`: the best epoch so far in a file, saved atomically, loaded safely; it lives in
  ``helpers.checkpoints`` with :class:`History` and :func:`load_checkpoint`.

:func:`fit` trains any model on any ``Dataset`` of ``(input, target)`` float tensors and returns a
:class:`History`. Each epoch: ``train_data.set_epoch(epoch - 1)`` when the dataset has it (new random crops and
flips), :func:`train_one_epoch` (shuffled by a generator seeded with ``seed``), :func:`evaluate`, the scheduler
step, the best weights (and checkpoint), one ``tqdm`` bar over epochs (never one per batch), early stopping; at
the end the best weights come back. A resumed run gives the same numbers as an uninterrupted one.

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
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from . import metrics
from .checkpoints import CHECKPOINT_FORMAT, Checkpoint, CheckpointError, History, load_checkpoint
from .models import evaluation_mode

__all__ = ["train_one_epoch", "evaluate", "fit", "History", "Checkpoint", "TrainingError", "CheckpointError",
           "load_checkpoint", "resolve_device", "target_inverse", "CHECKPOINT_FORMAT"]

OPTIMIZERS = ("adam", "sgd")
SCHEDULERS = (None, "step", "cosine", "plateau", "onecycle")
LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss}


class TrainingError(FloatingPointError):
    """Training went numerically wrong (NaN, inf or divergence). The message names the epoch and what to try."""


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
        warnings.warn(f"the model's output ({getattr(model, 'output', '?')}) stays in [{lo:g}, {hi:g}] but the "
                      f"targets reach [{t_lo:.3g}, {t_hi:.3g}]: the loss cannot go to zero. Match them: output="
                      f"'sigmoid' for normalization='unit', 'tanh' for 'symmetric', 'linear' for 'standard' "
                      f"(helpers.models.output_for).", stacklevel=3)


def _loader(data: Dataset, batch_size: int, shuffle: bool, generator: torch.Generator | None,
             device: torch.device) -> DataLoader:
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, generator=generator, num_workers=0,
                      pin_memory=device.type == "cuda")


def _loss_fn(loss: str | Callable) -> Callable:
    """A loss function from its name (``'mse'``, ``'l1'``); a function is returned as it is."""
    if callable(loss):
        return loss
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}, got {loss!r}")
    return LOSSES[loss]


# ------------------------------------------------------------------------------------ the pieces of notebook 03
def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer, scheduler: Any = None,
                    loss_fn: Callable = F.mse_loss) -> float:
    """One pass over ``loader`` (batches of ``(inputs, targets)``), one optimizer step per batch: notebook 03's
    exercise. Returns the epoch's mean loss over its examples (each batch's loss weighted by its size), a float.

    ``scheduler``: stepped after every optimizer step when given (a per-step schedule such as ``OneCycleLR``).
    ``loss_fn(outputs, targets)``: ``F.mse_loss`` unless told otherwise. The batches go to the model's device;
    the model is left in training mode. Raises ``ValueError`` when the loader gives no batch.
    """
    device = next(model.parameters()).device
    model.train()
    total, seen = 0.0, 0
    for inputs, targets in loader:
        inputs, targets = inputs.to(device), targets.to(device)
        optimizer.zero_grad()                     # clear the last batch's gradients
        loss = loss_fn(model(inputs), targets)    # forward, loss
        loss.backward()                           # gradients
        optimizer.step()                          # update the weights
        if scheduler is not None:
            scheduler.step()                      # the learning rate of the next step
        total += loss.item() * len(targets)       # a batch of 16 counts 16 times
        seen += len(targets)
    if seen == 0:
        raise ValueError("the training data is empty")
    return total / seen


@torch.no_grad()
def evaluate(model: nn.Module, data: Dataset | DataLoader, loss: str | Callable = "mse", *, batch_size: int = 64,
             device: str | torch.device = "auto") -> dict[str, float]:
    """Loss, PSNR and SSIM of ``model`` on ``data`` (a dataset, or a ``DataLoader`` over one), per image and
    averaged. Returns ``{'loss', 'psnr', 'ssim'}``.

    ``loss``: ``'mse'``, ``'l1'`` or a function taking ``reduction=`` (such as ``F.mse_loss``), on the tensors as
    the dataset gives them. PSNR (dB) and SSIM on 8-bit pixels, after ``target_inverse(dataset)``.
    ``batch_size`` applies to a dataset (a loader has its own). Gradients off; the model's mode is left as it was.
    A loss that is NaN or infinite is returned with NaN metrics (the caller reports it).
    """
    loss_fn = _loss_fn(loss)
    dev = resolve_device(device)
    loader = data if isinstance(data, DataLoader) else _loader(data, batch_size, False, None, dev)
    inverse = target_inverse(loader.dataset)
    total, count, psnrs, ssims = 0.0, 0, [], []
    with evaluation_mode(model):       # the model's previous mode comes back afterwards
        for x, y in loader:
            x, y = x.to(dev), y.to(dev)
            out = model(x)
            total += float(loss_fn(out, y, reduction="sum")) / y[0].numel()
            count += y.shape[0]
            if not math.isfinite(total):  # no metrics on NaN/inf pixels
                return {"loss": total, "psnr": math.nan, "ssim": math.nan}
            out01 = inverse(out.cpu()).clamp(0, 1)  # metrics on CPU (SSIM is scikit-image's)
            y01 = inverse(y.cpu()).clamp(0, 1)
            psnrs += metrics.torch_psnr(out01, y01, reduction="none").tolist()
            ssims += metrics.ssim(out01, y01, reduction="none")
    if count == 0:
        raise ValueError("the validation data is empty")
    return {"loss": total / count, "psnr": sum(psnrs) / count, "ssim": sum(ssims) / count}


# ------------------------------------------------------------------------------------------------ fit's helpers
def _check_fit_args(fit_args: dict[str, Any], patience: int | None) -> None:
    if fit_args["epochs"] < 0:
        raise ValueError(f"epochs must be >= 0, got {fit_args['epochs']}")
    if fit_args["batch_size"] < 1:
        raise ValueError(f"batch_size must be >= 1, got {fit_args['batch_size']}")
    if not fit_args["lr"] > 0:
        raise ValueError(f"lr must be positive, got {fit_args['lr']}")
    if patience is not None and patience < 1:
        raise ValueError(f"patience must be >= 1 or None, got {patience}")
    if callable(fit_args["loss"]):
        raise ValueError("fit takes the loss by name, 'mse' or 'l1' (it is saved in the checkpoint); for a loss "
                         "function of your own, write the loop with train_one_epoch and evaluate")


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


def _step_per_epoch(scheduler: Any, per_batch: bool, monitored: float) -> None:
    """The end-of-epoch scheduler step (plateau watches the monitored loss); per-batch ones step in the epoch."""
    if scheduler is None or per_batch:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(monitored)
    else:
        scheduler.step()


def _diverged(epoch: int, what: str, lr: float) -> TrainingError:
    return TrainingError(f"training diverged at epoch {epoch}: {what}. Try a lower learning rate (lr={lr:g} -> "
                         f"{lr / 10:g}), or check the data and the model's output range.")


def _check_training_loss(epoch: int, loss: float, best: float, factor: float | None, lr: float) -> float:
    """Raise :class:`TrainingError` for a NaN/inf loss or one over ``factor`` x the best; return the new best."""
    if not math.isfinite(loss):
        raise _diverged(epoch, f"the training loss became {loss}", lr)
    if factor is not None and loss > factor * best:
        raise _diverged(epoch, f"the training loss rose to {loss:.4g}, more than {factor:g}x its best "
                               f"({best:.4g})", lr)
    return min(best, loss)


def _validate(model: nn.Module, loader: DataLoader | None, loss_fn: Callable, device: torch.device, epoch: int,
              lr: float) -> dict[str, float]:
    """:func:`evaluate` on the validation loader (NaN without one); a NaN/inf loss is a :class:`TrainingError`."""
    if loader is None:
        return {"loss": math.nan, "psnr": math.nan, "ssim": math.nan}
    v = evaluate(model, loader, loss_fn, device=device)
    if not math.isfinite(v["loss"]):
        raise _diverged(epoch, f"the validation loss became {v['loss']}", lr)
    return v


def _loaders(train_data: Dataset, val_data: Dataset | None, batch_size: int, seed: int,
             device: torch.device) -> tuple[DataLoader, DataLoader | None, torch.Generator]:
    """The training loader shuffled by a generator seeded with ``seed``, the validation loader (or None), and
    that generator (its state goes into the checkpoint)."""
    generator = torch.Generator().manual_seed(seed)
    train_loader = _loader(train_data, batch_size, True, generator, device)
    if len(train_loader) == 0:
        raise ValueError("the training data is empty")
    val_loader = _loader(val_data, batch_size, False, None, device) if val_data is not None else None
    return train_loader, val_loader, generator


def _set_epoch(data: Dataset, epoch: int) -> None:
    """``data.set_epoch(epoch)`` when the dataset (or the one it wraps) has it: new random crops each epoch."""
    set_epoch = _find(data, "set_epoch")
    if callable(set_epoch):
        set_epoch(epoch)


@dataclass
class _Best:
    """The best monitored loss so far, the weights that gave it, and the epochs since (for early stopping)."""

    value: float = math.inf
    state: dict[str, torch.Tensor] | None = None
    bad_epochs: int = 0

    def update(self, value: float, model: nn.Module) -> bool:
        """Record ``value``; True (and a copy of the weights) when it improves on the best."""
        if not value < self.value:
            self.bad_epochs += 1
            return False
        self.value, self.bad_epochs = value, 0
        self.state = {k: t.detach().clone() for k, t in model.state_dict().items()}
        return True


def _start(ckpt: Checkpoint, state: dict | None, model: nn.Module, opt, sched, generator: torch.Generator
           ) -> tuple[int, History, _Best]:
    """Epoch 0, an empty history and no best yet; or, to resume, where the checkpoint ``state`` left off."""
    if state is None:
        return 0, History(), _Best()
    start, history, best_value = ckpt.restore(state, model, opt, sched, generator)
    return start, history, _Best(best_value, copy.deepcopy(model.state_dict()))


def _progress_bar(model: nn.Module, start: int, epochs: int, progress: bool) -> tqdm:
    return tqdm(total=epochs, initial=start, desc=f"fit {type(model).__name__}", unit="epoch",
                disable=not progress, dynamic_ncols=True, leave=True)


def _show(bar: tqdm, train_loss: float, val: dict[str, float]) -> None:
    postfix = {"train": f"{train_loss:.4g}"}
    if not math.isnan(val["loss"]):
        postfix.update(val=f"{val['loss']:.4g}", psnr=f"{val['psnr']:.2f}")
    bar.set_postfix(postfix, refresh=False)
    bar.update(1)


# ----------------------------------------------------------------------------------------------------------- fit
def fit(model: nn.Module, train_data: Dataset, val_data: Dataset | None = None, *, epochs: int, lr: float = 1e-3,
        batch_size: int = 64, optimizer: str = "adam", momentum: float = 0.9, weight_decay: float = 0.0,
        scheduler: str | None = None, loss: str = "mse", seed: int = 0, device: str | torch.device = "auto",
        patience: int | None = None, checkpoint: str | os.PathLike | None = None, resume: bool = False,
        overwrite: bool = False, progress: bool = True, restore_best: bool = True,
        divergence_factor: float | None = 10.0, epoch_fn: Callable | None = None) -> History:
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
        checkpoint: path of the best checkpoint (``None``: no file). ``resume``: continue it if it exists (a fresh
            start if not); ``overwrite``: replace an existing one from another run.
        progress: show a tqdm bar over epochs.
        restore_best: at the end, load the best epoch's weights into ``model`` (the checkpoint's); else keep
            the last epoch's.
        divergence_factor: raise :class:`TrainingError` when an epoch's training loss exceeds this many times the
            best one so far (``None``: only NaN/inf are errors).
        epoch_fn: the function that trains one epoch, called as ``epoch_fn(model, loader, optimizer, scheduler)``
            (scheduler: the per-step one, or None) and returning the epoch's mean loss; default
            :func:`train_one_epoch` with ``loss``. Notebook 03 passes the student's own ``train_one_epoch`` (its loss
            is then the student's: MSE).

    Raises:
        TrainingError: the loss became NaN/inf or diverged (the message names the epoch and suggests a lower lr).
        FileExistsError: ``checkpoint`` exists and neither ``resume`` nor ``overwrite`` is set.
        ValueError: a bad argument, or a checkpoint from a different model or settings on resume.
    """
    fit_args = dict(lr=lr, batch_size=batch_size, optimizer=optimizer, momentum=momentum,
                    weight_decay=weight_decay, scheduler=scheduler, loss=loss, seed=seed, epochs=epochs)
    _check_fit_args(fit_args, patience)
    ckpt = Checkpoint(checkpoint, resume=resume, overwrite=overwrite)
    loss_fn, dev = _loss_fn(loss), resolve_device(device)
    state = ckpt.resume_state(model, fit_args)           # None: a fresh start
    model.to(dev)
    torch.manual_seed(seed)                               # dropout (the loaders shuffle with their own generator)
    train_loader, val_loader, generator = _loaders(train_data, val_data, batch_size, seed, dev)
    opt = _make_optimizer(model, optimizer, lr, momentum, weight_decay)
    sched, per_batch = _make_scheduler(opt, scheduler, lr, epochs, len(train_loader))
    start, history, best = _start(ckpt, state, model, opt, sched, generator)
    if epoch_fn is None:
        def epoch_fn(model, loader, optimizer, scheduler):
            return train_one_epoch(model, loader, optimizer, scheduler, loss_fn)
    _check_output_range(model, train_data)
    best_train = min(history.train_loss, default=math.inf)
    monitor = "val_loss" if val_loader is not None else "train_loss"
    with _progress_bar(model, start, epochs, progress) as bar:
        for epoch in range(start + 1, epochs + 1):
            t0 = time.perf_counter()
            _set_epoch(train_data, epoch - 1)             # new random crops and flips (helpers.data)
            epoch_lr = float(opt.param_groups[0]["lr"])
            train_loss = epoch_fn(model, train_loader, opt, sched if per_batch else None)
            best_train = _check_training_loss(epoch, train_loss, best_train, divergence_factor, lr)
            val = _validate(model, val_loader, loss_fn, dev, epoch, lr)
            monitored = val["loss"] if val_loader is not None else train_loss
            _step_per_epoch(sched, per_batch, monitored)
            history.add_epoch(epoch_lr, train_loss, val, time.perf_counter() - t0, steps=len(train_loader))
            if best.update(monitored, model):             # remember the best weights, and save them
                history.best_epoch = epoch
                ckpt.save(model, opt, sched, generator, history, best.value, fit_args, monitor)
            _show(bar, train_loss, val)
            if patience is not None and best.bad_epochs >= patience:  # early stopping
                history.stopped_early = True
                break
    if restore_best and best.state is not None and history.best_epoch != history.epochs:
        model.load_state_dict(best.state)                 # the best epoch's weights
    return history
