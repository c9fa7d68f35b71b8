"""The plan of a sweep: every name and value checked against the notebook, and every run listed, before anything
runs or is written (`plan_sweep`). The checks of one name and one value are `tools.notebook_parameters`' (`check_name`,
`checked_value`), the same that `tools.run` applies to a parameter file."""

import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from helpers import paths
from helpers.files import OutputError, check_output_folder, is_same_or_inside
from tools.notebook_parameters import check_name, checked_value, notebook_parameters, split_values

MAX_ID_LEN = 120


class SweepError(ValueError):
    """A bad command line, parameter file or output folder; the message names the culprit."""


@dataclass
class Run:
    run_id: str
    params: dict        # what the sweep sets (output_dir is added when the run starts)


@dataclass
class Sweep:
    notebook: Path
    declared: dict      # the notebook's parameters, as papermill describes them
    grid: dict          # name -> list of (converted) values
    runs: list
    out: Path
    kernel: str         # the Jupyter kernel every run uses (tools.run's, as `make run`)

    @property
    def swept(self):
        """The grid's names with more than one value (all of them when none has)."""
        return [n for n, values in self.grid.items() if len(values) > 1] or list(self.grid)

    @property
    def key(self):
        """The notebook as results record it: relative to the repository when it lies inside it."""
        try:
            return self.notebook.relative_to(paths.REPO_ROOT).as_posix()
        except ValueError:
            return self.notebook.as_posix()


def plain(value):
    """A parameter value as text in a run id, a table or a plot: a list as 8,32; a float as repr (0.001)."""
    if isinstance(value, list):
        return ",".join(plain(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def make_run_id(params):
    """A readable folder name from the parameters, e.g. "latent_dim=16__lr=0.001". Characters that do not
    belong in a folder name become "_"; then (or when it is long) a short hash keeps the id unique."""
    if not params:
        return "default"
    text = "__".join(f"{name}={plain(params[name])}" for name in sorted(params))
    safe = re.sub(r"[^A-Za-z0-9_.,+=-]", "_", text)
    if safe == text and len(text) <= MAX_ID_LEN:
        return text
    import hashlib

    digest = hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]
    return f"{safe[:MAX_ID_LEN - 10]}__{digest}"


def plan_sweep(notebook, grid_options=(), params_file=None, out=None):
    """Check every name and value and list the runs. Nothing is executed or written. A bad name or value is
    helpers.params' ParameterError; the rest (notebook, file, grid, --out) a SweepError."""
    from tools.kernel import kernel_name
    from tools.run import RunError, read_parameter_file   # here: tools.run imports torch

    notebook = Path(notebook).resolve()
    out = (Path(out) if out else paths.RUNS_DIR / "sweeps" / notebook.stem).resolve()
    check_out(out, [notebook, params_file])
    declared = _declared(notebook)
    fixed, grid = {}, {}
    if params_file:
        try:
            values = read_parameter_file(params_file)
        except RunError as error:
            raise SweepError(str(error)) from None
        where = Path(params_file).name
        file_grid = values.pop("grid", None) or {}
        if not isinstance(file_grid, dict):
            raise SweepError(f"{where}: grid: must map each NAME to a list of values")
        for name, value in values.items():
            check_name(name, declared, notebook, where)
            fixed[name] = checked_value(name, value, declared, where)
        for name, value in file_grid.items():
            check_name(name, declared, notebook, f"{where} grid")
            options = value if isinstance(value, list) else [value]
            grid[name] = [checked_value(name, v, declared, f"{where} grid") for v in options]
    given = set()
    for option in grid_options:
        name, equals, text = option.partition("=")
        name = name.strip()
        if not equals or not name or not text.strip():
            raise SweepError(f"--grid {option!r}: write NAME=V1,V2,...")
        if name in given:
            raise SweepError(f"--grid {name} is given twice: list all its values in one --grid {name}=V1,V2")
        given.add(name)
        check_name(name, declared, notebook, "--grid")
        grid[name] = [checked_value(name, v, declared, "--grid") for v in split_values(text)]
        fixed.pop(name, None)
    for name, values in grid.items():         # 1e-3 and 0.001 are one value: one run
        if not values:
            raise SweepError(f"grid {name} has no values")
        unique = {json.dumps(v, sort_keys=True): v for v in values}
        grid[name] = list(unique.values())

    runs = []
    for combination in itertools.product(*grid.values()):
        params = {**fixed, **dict(zip(grid, combination))}
        params = {name: params[name] for name in declared if name in params}   # the notebook's order
        runs.append(Run(make_run_id(params), params))
    if len({run.run_id for run in runs}) < len(runs):
        raise SweepError("two runs of this grid would share a folder name; rename or quote the values")
    return Sweep(notebook, declared, grid, runs, out, kernel_name())


def _declared(notebook):
    """The notebook's declared parameters; a SweepError when it is not a notebook or declares none."""
    if notebook.suffix != ".ipynb" or not notebook.is_file():
        raise SweepError(f"notebook {notebook} not found (give the path of an .ipynb file)")
    declared = notebook_parameters(notebook)
    if not declared:
        raise SweepError(f"{notebook} has no cell tagged 'parameters': there is nothing to sweep")
    return declared


def check_out(out, inputs):
    """SweepError when --out is an existing file, or a folder that holds one of ``inputs`` (the notebook, the
    parameter file): a sweep never writes beside or onto its own input."""
    try:
        check_output_folder(out)
    except OutputError as error:
        raise SweepError(str(error)) from None
    for given in inputs:
        if given is not None and is_same_or_inside(given, out):
            raise SweepError(f"--out {out} holds the sweep's input {given}: give the sweep a folder of its own "
                             f"(default runs/sweeps/<notebook name>)")
