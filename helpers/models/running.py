"""Running a model in a setting for one block of code, then putting the setting back as it was.

* :func:`evaluation_mode` -- eval mode (dropout off, batch norm on its running statistics)::

      with evaluation_mode(model), torch.no_grad():
          out = model(x)           # the model's train/eval mode is restored after, also after an error

* :func:`torch_threads` -- torch's number of CPU threads::

      with torch_threads(1):
          out = model(x)           # torch.get_num_threads() is what it was before, after the block
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

__all__ = ["evaluation_mode", "torch_threads"]


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run ``model`` in eval mode inside the ``with`` block, then restore the mode it had (also after an error).

    Eval mode turns dropout off and makes batch normalization use its running statistics; it does not turn off
    gradients (add ``torch.no_grad()`` for that).
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)``, then restore the previous setting (``None``: no change).

    Used by the explorers (``helpers.widgets``: for their small models one thread is about as fast as several on
    an idle CPU, and many times faster on a shared one, where torch's threads wait for each other; one run of
    ``benchmarks/widget_latency.py`` with other jobs on 2 cores: 0.68 s per update with torch's 2 threads, 0.08 s
    with one) and by the codec's decoder (``helpers.codec``: the same pixels whatever the caller's setting).
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        if n is not None:
            torch.set_num_threads(before)
