"""Where a notebook puts what it measured: its key metrics (``metrics.json``) and figures (PNG), in its output folder.

Every notebook ends by calling :func:`save_metrics` and :func:`save_figure`. The kit's tools read these files back:
``python -m tools.run`` gathers them into a report, ``python -m tools.sweep`` into a table of runs. Each file is
written atomically (``helpers.files``): a failed write leaves the previous one as it was.
"""

import json
from pathlib import Path

from .files import atomic_output, atomic_write

METRICS_FILE = "metrics.json"


def save_metrics(output_dir, metrics):
    """Write `metrics` (a flat dict) to output_dir/metrics.json atomically and say where (returns None, so a
    notebook cell ending with it shows only that line).

    An existing metrics.json is kept as metrics.previous.json (and the notebook says so), never lost silently.
    The new text is made before anything is touched, and each file is written atomically (``helpers.files``): a
    failed write leaves the previous metrics.json as it was."""
    text = json.dumps(metrics, indent=2, sort_keys=True, default=float) + "\n"
    output_dir = Path(output_dir)
    path = output_dir / METRICS_FILE
    if path.exists():
        atomic_write(output_dir / "metrics.previous.json", path.read_bytes())
        print(f"note: the previous {path} was kept as metrics.previous.json")
    atomic_write(path, text)
    print(f"key metrics saved to {path}")


def save_figure(fig, output_dir, name):
    """Save a matplotlib figure as output_dir/<name>.png (150 dpi) for the report. Returns None, so that a
    notebook cell ending with it shows the figure and nothing else."""
    with atomic_output(Path(output_dir) / f"{name}.png") as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
