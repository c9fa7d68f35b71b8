"""The kit's main job (`make run`): the dataset's summary, then the whole notebook series, then a report.

    python -m tools.run                          # every solution notebook, stored defaults
    python -m tools.run --only 01 04             # some notebooks (by number or name)
    python -m tools.run -f params/full_size.yaml # the course's full-size settings (for a GPU)
    python -m tools.run --summary-only           # build or find the dataset and print its summary
    python -m tools.run --out /scratch/runs      # the run's folder under another folder than runs/

Each notebook runs with papermill in its own kernel into ``runs/<timestamp>/``: the executed notebook
``<name>.ipynb`` and a folder ``<name>/`` (its ``output_dir``) with its figures and ``metrics.json``. A run never
writes into an earlier run's folder. At the end ``report.md`` and ``report.html`` gather the figures and metrics,
and ``timings.json`` holds the seconds each notebook took (each written atomically, ``helpers.files``).
``--out`` (default ``runs/``) must be a folder outside ``solutions/``: an existing file, or the notebooks' own
folder, is refused at once.

A parameter file is a YAML mapping. Top-level names apply to every notebook that declares them (others are
skipped, so one file serves the whole series); a mapping under a notebook's name applies to that notebook only.
Every value is checked against the type the notebook declares for it (``tools.notebook_parameters.checked_value``, as
``tools.sweep`` does) before any notebook runs::

    image_size: 224
    batch_size: 64
    06_bottleneck_sweep:
      latent_dims: "8,32,128,512"
"""

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

from helpers import data, paths
from helpers.files import OutputError, atomic_write, check_not_input, check_output_folder
from helpers.params import ParameterError
from tools.notebook_parameters import OUTPUT_PARAM, checked_value, notebook_parameters
from tools import report
from tools.execute import execute_notebook


class RunError(ValueError):
    """A bad command line or parameter file; the message says what to do."""


def solution_notebooks(only=()):
    """Solution notebooks in series order, optionally filtered by number ("04") or name ("04_conv_model")."""
    notebooks = sorted(paths.SOLUTIONS_DIR.glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return notebooks
    chosen = [nb for nb in notebooks if any(nb.stem == o or nb.stem.split("_")[0] == o for o in only)]
    unknown = [o for o in only if not any(nb.stem == o or nb.stem.split("_")[0] == o for nb in notebooks)]
    if unknown:
        names = ", ".join(nb.stem for nb in notebooks)
        raise RunError(f"no solution notebook called {', '.join(unknown)}; choose from: {names}")
    return chosen


def read_parameter_file(path):
    """The YAML parameter file as a dict (see the module docstring for its shape)."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"parameter file {path} does not exist")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise RunError(f"parameter file {path} is not valid YAML: {error}") from None
    if not isinstance(values, dict):
        raise RunError(f"parameter file {path} must hold a mapping of name: value, not {type(values).__name__}")
    return values


def parameters_for(notebook, file_values, output_dir, source="the parameter file"):
    """The parameters to pass to one notebook: those of the file it declares, each converted to its declared type
    (a ParameterError naming `source`, the notebook and the value when it does not fit), plus its output_dir."""
    declared = notebook_parameters(notebook)
    section = file_values.get(notebook.stem, {})
    if not isinstance(section, dict):
        raise RunError(f"{notebook.stem} in the parameter file must be a mapping of name: value, not {section!r}")
    chosen = {k: v for k, v in file_values.items() if k in declared and not isinstance(v, dict)}
    chosen.update(section)
    unknown = sorted(set(section) - set(declared))
    if unknown:
        raise RunError(f"{notebook.name} has no parameter {', '.join(unknown)}; it has: {', '.join(declared)}")
    chosen = {name: checked_value(name, value, declared, f"{source} for {notebook.stem}")
              for name, value in chosen.items()}
    if OUTPUT_PARAM in declared:
        chosen[OUTPUT_PARAM] = str(output_dir)
    return chosen


def new_run_dir(root=None):
    """A fresh folder <root>/<timestamp>/ (root: runs/ by default; a suffix if that second is taken: earlier runs are
    never touched)."""
    root = paths.RUNS_DIR if root is None else root
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in [""] + [f"-{i}" for i in range(1, 100)]:
        run_dir = Path(root) / f"{stamp}{suffix}"
        try:
            run_dir.mkdir(parents=True)
            return run_dir
        except FileExistsError:
            continue
    raise RunError(f"could not create a new run folder under {root}")


def run_series(notebooks, file_values, run_dir):
    """Execute each notebook with papermill into run_dir; return {name: seconds}. Stops at the first failure,
    after writing what ran so far."""
    timings = {}
    for notebook in notebooks:
        output_dir = run_dir / notebook.stem
        parameters = parameters_for(notebook, file_values, output_dir)
        print(f"\n== {notebook.stem}  ({', '.join(f'{k}={v}' for k, v in parameters.items() if k != OUTPUT_PARAM)})")
        start = time.perf_counter()
        try:
            execute_notebook(notebook, run_dir / notebook.name, parameters, cwd=notebook.parent)
        finally:
            timings[notebook.stem] = round(time.perf_counter() - start, 1)
            atomic_write(run_dir / "timings.json", json.dumps(timings, indent=2) + "\n")
        print(f"   done in {timings[notebook.stem]:.0f} s")
    return timings


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=(), metavar="NOTEBOOK", help="notebooks by number or name")
    parser.add_argument("-f", "--parameters", metavar="YAML", help="parameter file (see this module's docstring)")
    parser.add_argument("--summary-only", action="store_true", help="only print the dataset's summary")
    parser.add_argument("--out", metavar="DIR", help="folder for the run's timestamped folder (default runs/)")
    args = parser.parse_args(argv)
    try:
        if args.out is not None:                # before any work: a file in the way, or the notebooks' folder
            try:
                check_output_folder(args.out)
                check_not_input(args.out, [paths.SOLUTIONS_DIR, args.parameters], "--out")
            except OutputError as error:
                raise RunError(str(error)) from None
        root = data.default_dataset_root()
        print(data.format_summary(data.dataset_summary(root)))
        if args.summary_only:
            return 0
        notebooks = solution_notebooks(args.only)
        file_values = read_parameter_file(args.parameters) if args.parameters else {}
        names = [nb.stem for nb in solution_notebooks()]
        strays = sorted(k for k, v in file_values.items() if isinstance(v, dict) and k not in names)
        if strays:  # a misspelt notebook name would otherwise be ignored without a word
            raise RunError(f"parameter file {args.parameters}: no notebook called {', '.join(strays)}; "
                           f"choose from: {', '.join(names)}")
        if not notebooks:
            print(f"\nno notebooks in {paths.SOLUTIONS_DIR} yet: nothing more to run")
            return 0
        source = Path(args.parameters).name if args.parameters else "the parameter file"
        for notebook in notebooks:  # check every name and value before anything runs
            parameters_for(notebook, file_values, Path("."), source)
        run_dir = new_run_dir(args.out)
        print(f"\nrunning {len(notebooks)} notebook(s) into {run_dir}")
        timings = run_series(notebooks, file_values, run_dir)
    except (RunError, ParameterError, data.DataError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a notebook failed: say which, keep what ran
        if type(error).__name__ != "PapermillExecutionError":
            raise
        failed = max(run_dir.glob("*.ipynb"), key=lambda p: p.stat().st_mtime)
        print(f"\nerror: {failed.name} failed: {error.ename}: {error.evalue}\n"
              f"the executed notebook with the traceback is {failed}", file=sys.stderr)
        report.write_report(run_dir, json.loads((run_dir / "timings.json").read_text()))
        return 1
    report_path = report.write_report(run_dir, timings)
    print(f"\nseries done in {sum(timings.values()):.0f} s; report: {report_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
