"""What a notebook keeps of its run: key metrics (``metrics.json``), the claims its lessons rest on (``claims.json``)
and figures (PNG), in its output folder.

A notebook's setup call (``helpers.params.setup``) returns its :class:`Run`; the notebook then calls, where each
number is computed::

    run.keep(image_psnr=31.2, bpp=0.25)                       # into metrics.json, at once
    run.claim("convolutions beat the dense model at the same rate", diff > 2 * spread, diff=diff, spread=spread)
    run.figure(fig, "loss_curves")                            # loss_curves.png

A **claim** is one factual sentence of the notebook's written lesson, checked by one line: it prints whether this
run supports it, with the numbers that decide it, and records both. At the stored defaults every claim of the kit
holds: when the environment variable ``KIT_CLAIMS_MUST_HOLD`` is set (the test suite sets it), a claim that does
not hold at the stored defaults raises :class:`ClaimError`. At other parameters (a sweep, a quick autograde, your own
try) it prints "this run does not support: ..." and the notebook goes on: the lesson was written for the defaults.

The kit's tools read these files back: ``python -m tools.run`` gathers them into a report, ``python -m tools.sweep``
into a table of runs. Each file is written atomically (``helpers.files``): a failed write leaves the previous one.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from .files import atomic_output, atomic_write

METRICS_FILE = "metrics.json"
CLAIMS_FILE = "claims.json"
STRICT_VARIABLE = "KIT_CLAIMS_MUST_HOLD"


class ClaimError(AssertionError):
    """A claim of the notebook's lesson did not hold at the stored defaults (under the test suite)."""


class Run:
    """One run of a notebook: its output folder ``out``, its data folder ``data_dir`` (None: the default dataset),
    its checked ``parameters``, and whether they are the stored defaults (``at_defaults``)."""

    def __init__(self, out: str | os.PathLike, *, notebook: str = "", data_dir: Path | None = None,
                 parameters: dict | None = None, at_defaults: bool = False):
        self.out = Path(out)
        self.notebook = notebook
        self.data_dir = data_dir
        self.parameters = dict(parameters or {})
        self.at_defaults = at_defaults
        self.metrics: dict[str, Any] = {}
        self.claims: dict[str, dict] = {}

    def __repr__(self) -> str:
        return f"Run({self.notebook or 'notebook'}: outputs in {self.out}, {len(self.parameters)} parameters)"

    def keep(self, **metrics: Any) -> None:
        """Add ``metrics`` (numbers, texts, lists or dicts of them) to the run's ``metrics.json``, written at once.
        A ``metrics.json`` left by an earlier run is kept as ``metrics.previous.json`` the first time."""
        new = {name: _plain(value, name) for name, value in metrics.items()}   # a TypeError before any write
        if not self.metrics:
            _keep_previous(self.out / METRICS_FILE)
        self.metrics.update(new)
        atomic_write(self.out / METRICS_FILE, json.dumps(self.metrics, indent=2, sort_keys=True) + "\n")

    def claim(self, text: str, holds: Any, **numbers: Any) -> None:
        """Check one claim of the lesson: print it with the ``numbers`` that decide it and whether this run supports
        it; record it in ``claims.json`` (``run.claims``). Returns None, so a cell ending with it shows only its line.
        Raises :class:`ClaimError` when it does not hold, the parameters are the stored defaults, and
        ``KIT_CLAIMS_MUST_HOLD`` is set."""
        holds = bool(holds)
        shown = ", ".join(f"{name} {_shown(value)}" for name, value in numbers.items())
        print(f"{'supported' if holds else 'this run does not support'}: {text}" + (f"  [{shown}]" if shown else ""))
        if not self.claims:
            _keep_previous(self.out / CLAIMS_FILE)
        self.claims[text] = {"holds": holds, "numbers": {k: _plain(v, k) for k, v in numbers.items()},
                             "at_defaults": self.at_defaults}
        atomic_write(self.out / CLAIMS_FILE, json.dumps(self.claims, indent=2) + "\n")
        if not holds and self.at_defaults and os.environ.get(STRICT_VARIABLE):
            raise ClaimError(f"{self.notebook}: at the stored defaults the lesson's claim does not hold: {text} "
                             f"[{shown}]")

    def figure(self, fig, name: str) -> None:
        """Save a matplotlib figure as ``<out>/<name>.png`` (150 dpi) for the report; returns None, so a cell ending
        with it shows the figure and nothing else."""
        save_figure(fig, self.out, name)


def save_metrics(output_dir: str | os.PathLike, metrics: dict) -> None:
    """Write ``metrics`` as ``output_dir/metrics.json`` in one call (what :meth:`Run.keep` does step by step)."""
    Run(output_dir).keep(**metrics)


def save_figure(fig, output_dir: str | os.PathLike, name: str) -> None:
    """Save a matplotlib figure as ``output_dir/<name>.png`` (150 dpi), atomically."""
    with atomic_output(Path(output_dir) / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")


def _keep_previous(path: Path) -> None:
    """An earlier run's file at ``path`` is kept as ``<stem>.previous.json`` (and the notebook says so)."""
    if path.exists():
        atomic_write(path.with_name(f"{path.stem}.previous.json"), path.read_bytes())
        print(f"note: the previous {path.name} was kept as {path.stem}.previous.json")


def _plain(value: Any, name: str) -> Any:
    """A value JSON can hold: numpy and torch scalars become Python numbers, arrays and tuples lists, NaN None,
    infinities the texts "inf" and "-inf" (a PSNR of identical images); anything else is a TypeError naming the
    metric ``name``."""
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{name}.{k}") for k, v in value.items()}
    if hasattr(value, "tolist") and getattr(value, "ndim", 0) > 0:      # a numpy array or a torch tensor
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v, name) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise TypeError(f"metric {name}={value!r}: keep numbers, texts, or lists and dicts of them")


def _shown(value: Any) -> str:
    """A number as a person reads it: 4 significant digits; anything else as it prints."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        value = value.item()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
