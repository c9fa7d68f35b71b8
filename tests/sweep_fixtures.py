"""The tiny notebook the sweep tests run (no torch, no data), and what they share to read a sweep's output.

Shared by test_sweep.py, test_sweep_plan.py and test_sweep_store.py (pytest puts tests/ on sys.path); a test file
uses the ``notebook`` fixture by importing it.
"""

import contextlib
import csv
import io

import nbformat
import pytest

from tools.sweep import main

PARAMS = '''from typing import Optional
x: int = 1  # the input
scale: float = 1.0  # a factor
mode: str = "a"  # a label
flag: bool = False  # a switch
sizes: list[int] = [1, 2]  # a list
cap: Optional[int] = None  # an optional bound
delay: float = 0.0  # seconds to sleep
output_dir: str = ""  # where metrics.json goes
'''

BODY = '''import time
from helpers import record
if x < 0:
    raise ValueError(f"x must be >= 0, got {x}")
time.sleep(delay)
record.save_metrics(output_dir, {"y": x * scale, "mode": mode, "nested": {"sq": x * x}, "n_sizes": len(sizes)})
'''


def write_notebook(path, params=PARAMS, body=BODY):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# fixture"), cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def notebook(tmp_path):
    return write_notebook(tmp_path / "fixture.ipynb")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def error_line(capsys):
    """What main() printed to stderr for a bad command: a message, no traceback, nothing started."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("sweep: error: ") and "Traceback" not in err, err
    return err


def run_main(argv):
    """main(argv) with its stdout captured: (exit code, stdout)."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(argv)
    return rc, stdout.getvalue()
