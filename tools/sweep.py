"""Instructors' sweeps: run one notebook over a grid of parameters, each combination its own papermill run.

    python -m tools.sweep solutions/04_conv_model.ipynb --grid latent_dim=16,64,256 --grid epochs=5
    python -m tools.sweep solutions/04_conv_model.ipynb -f sweeps/04_conv_model.latent_dim.yaml --jobs 2
    python -m tools.sweep NOTEBOOK --grid lr=1e-3,3e-3 --scheduler tcp://HOST:8786

Before anything runs, every name is checked against the notebook's `parameters` cell (papermill.inspect_notebook)
and every value is converted to the parameter's annotated type: an unknown name or a bad value is an error that
names it. Then each combination runs in its own kernel, and the sweep writes (DIR: --out, by default
runs/sweeps/<notebook name>):

    DIR/results.csv                  one row per run: parameters, status (ok/failed), error, metrics, seconds
    DIR/plot_<notebook>_vs_<names>.png   each metric against each swept parameter
    DIR/<run id>/<notebook>.ipynb    the executed notebook (with the traceback when the run failed)
    DIR/<run id>/metrics.json        the notebook's key metrics (helpers.record.save_metrics into its output_dir)
    DIR/<run id>/runner.log          what the run printed outside the notebook (warnings, papermill)
    DIR/<run id>/result.json         written last, atomically: a run folder with it is a finished run
    DIR/<run id>/.sweep-files        the files the sweep wrote, or saw its run write, in that folder

A run id names the parameters the sweep sets, e.g. `epochs=5__latent_dim=16`. A failing run does not stop the
others. Running the same command again skips the finished runs (--retry-failed runs the failed ones again) and
redoes runs that were cut off; results.csv is rebuilt from the result.json files after each run and replaced
atomically (every file the sweep writes goes through helpers.files.atomic_write), so a sweep killed at any moment
(even kill -9) loses no finished run. Redoing a run removes only the files its folder's .sweep-files names; any
other file there (yours) is kept and named.

--out must be a folder: an existing file is refused at once, and so is a folder that holds the notebook or the
parameter file (a run's files would land beside, or onto, the sweep's own input).

Values: `--grid NAME=V1,V2` splits on the commas outside brackets and quotes, so a list parameter is swept with
`--grid latent_dims=[8],[8,32]` and a text that holds commas is quoted: `--grid qualities="'10,50','90'"`.
A YAML file (-f) holds fixed values at the top level and the grid under `grid:`; --grid replaces a name of it:

    epochs: 5                  # the same in every run
    grid:
      latent_dim: [16, 64, 256]
      lr: [0.001, 0.003]

Runs go to local processes (--jobs at a time), or with --scheduler to a Dask distributed cluster: the notebook
travels to a worker, runs in a scratch folder there (in the notebook's own folder as working directory when the
worker has it, e.g. the same checkout) and the run's files come back into DIR. Workers need the kit installed.
"""

import argparse
import csv
import io
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from helpers import paths, record     # light modules only: every run's process imports this one
from helpers.files import OutputError, atomic_output, atomic_write, check_output_folder, is_same_or_inside
from helpers.params import (OUTPUT_PARAM, ParameterError, check_name, checked_value, notebook_parameters,
                            split_values)

RESULT_FILE = "result.json"
RESULTS_CSV = "results.csv"
LOG_FILE = "runner.log"
LOCK_FILE = ".sweep.lock"
RECORD_FILE = ".sweep-files"    # in a run folder: what the sweep wrote there (only that is removed on a redo)
MAX_ID_LEN = 120
ERROR_MARK = "sweep-run-error: "    # how a run tells the sweep its error's last line (in runner.log)


class SweepError(ValueError):
    """A bad command line, parameter file or output folder; the message names the culprit."""


# -- the plan: every run, checked before anything runs ----------------------------------------------------------

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


def _plain(value):
    if isinstance(value, list):
        return ",".join(_plain(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def make_run_id(params):
    """A readable folder name from the parameters, e.g. "latent_dim=16__lr=0.001". Characters that do not
    belong in a folder name become "_"; then (or when it is long) a short hash keeps the id unique."""
    if not params:
        return "default"
    text = "__".join(f"{name}={_plain(params[name])}" for name in sorted(params))
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


# -- the output folder ------------------------------------------------------------------------------------------

def read_result(run_dir):
    """The run's result.json as a dict, or None when the run has not finished."""
    try:
        result = json.loads((Path(run_dir) / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and result.get("status") in ("ok", "failed") else None


def finished_runs(sweep):
    """{run id: result} of this sweep's runs already finished in DIR. A folder of the same name that holds
    another notebook's run, other parameters or no run at all is an error: it is never overwritten. (A folder
    with a runner.log and no result.json is a run that was cut off: it is redone.)"""
    finished = {}
    for run in sweep.runs:
        folder = sweep.out / run.run_id
        result = read_result(folder)
        if result is None:
            ours = (folder / LOG_FILE).exists() or (folder / RECORD_FILE).exists()
            if folder.exists() and not ours and (folder.is_file() or any(folder.iterdir())):
                raise SweepError(f"{folder} is in the way (it holds no run of a sweep); use another --out "
                                 f"or move it away")
            continue
        if result.get("notebook") != sweep.key or result.get("params") != run.params:
            raise SweepError(f"{sweep.out / run.run_id} holds a run of {result.get('notebook')} with "
                             f"{result.get('params')}, not of {sweep.key} with {run.params}; "
                             f"use another --out or move that folder away")
        finished[run.run_id] = result
    return finished


def flat_metrics(metrics, prefix=""):
    """{"a": {"b": 1}} -> {"a.b": 1}: one column per metric (lists are kept as JSON text)."""
    flat = {}
    for name, value in metrics.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, key + "."))
        else:
            flat[key] = json.dumps(value) if isinstance(value, list) else value
    return flat


def _sort_key(value):
    """Numbers in numeric order, before texts; an empty cell first."""
    if value in ("", None):
        return (0, 0, "")
    if isinstance(value, (int, float)):
        return (1, value, "")
    return (2, 0, _plain(value))


def rebuild_results(out, param_order=()):
    """Rewrite DIR/results.csv from every DIR/*/result.json (atomically); return the rows."""
    out = Path(out)
    folders = sorted(d for d in out.iterdir() if d.is_dir()) if out.is_dir() else []
    results = [read_result(d) for d in folders]
    results = [r for r in results if r is not None]
    names = list(dict.fromkeys([*param_order, *(n for r in results for n in r["params"])]))
    names = [n for n in names if any(n in r["params"] for r in results)]
    rows, metric_columns = [], {}
    for r in results:
        row = {"run_id": r["run_id"], "notebook": r["notebook"], **{n: r["params"].get(n, "") for n in names},
               "status": r["status"], "error": r["error"]}
        for name, value in flat_metrics(r.get("metrics") or {}).items():
            column = f"metrics.{name}" if name in row or name == "seconds" else name   # e.g. named like a parameter
            metric_columns[column] = True
            row[column] = value
        row["seconds"] = r["seconds"]
        rows.append(row)
    rows.sort(key=lambda row: (row["notebook"], [_sort_key(row[n]) for n in names], row["run_id"]))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, ["run_id", "notebook", *names, "status", "error", *metric_columns, "seconds"],
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()})
    if out.is_dir():
        atomic_write(out / RESULTS_CSV, buffer.getvalue())
    return rows


class FolderLock:
    """DIR/.sweep.lock, held while a sweep writes into DIR; the system frees it even after kill -9."""

    def __init__(self, out):
        import fcntl

        self.file = open(Path(out) / LOCK_FILE, "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.close()
            raise SweepError(f"another sweep is writing into {out}: wait for it or use another --out") from None

    def close(self):
        self.file.close()


# -- one run: papermill in a child process ----------------------------------------------------------------------

def _skip_slow_import():
    """papermill -> nbformat -> jsonschema imports the optional rfc3987_syntax, which builds a grammar at import
    (about 2 s). nbformat never uses it; the processes the sweep starts skip it (measured: 2.3 s -> 0.4 s)."""
    sys.modules.setdefault("rfc3987_syntax", None)


def _run_child():
    """The child process of one run: papermill executes the notebook in a fresh kernel. Its error's last line
    goes to stderr (runner.log) after ERROR_MARK."""
    if sys.platform.startswith("linux"):        # die with the sweep, even when it is killed with -9
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)      # 1 = PR_SET_PDEATHSIG
    spec = json.loads(sys.argv[1])
    if os.getppid() != spec["parent_pid"]:      # the sweep died before prctl took effect
        sys.exit(1)
    _skip_slow_import()
    from tools.execute import execute_notebook

    try:
        execute_notebook(spec["notebook"], spec["output"], spec["params"], spec["cwd"], spec["kernel"])
    except Exception as error:
        if hasattr(error, "ename"):             # the notebook raised: its exception's name and message
            line = f"{error.ename}: {error.evalue}"
        else:                                   # papermill itself failed (no kernel, unreadable notebook...)
            line = f"{type(error).__name__}: {error}"
        print(ERROR_MARK + " ".join(line.split())[:500], file=sys.stderr, flush=True)
        sys.exit(1)


_CHILD = "from tools.sweep import _run_child; _run_child()"


class Runner:
    """Runs notebooks in child processes; stop() ends those running (Ctrl-C)."""

    def __init__(self, timeout=None, jobs=1):
        self.timeout = timeout
        self.threads = str(max(1, (os.cpu_count() or 1) // jobs))    # torch threads per run: no oversubscription
        self.stopping = threading.Event()
        self.live = set()
        self.lock = threading.Lock()

    def run(self, notebook, params, run_dir, cwd, kernel, set_output_dir=True):
        """Execute the notebook into run_dir (an empty folder), which is also its output_dir when it has one.
        Returns {status, error (its last line), metrics, seconds, host}, or None when the sweep is stopping."""
        started = time.time()
        if set_output_dir:
            params = {**params, OUTPUT_PARAM: str(run_dir)}
        spec = {"notebook": str(notebook), "output": str(run_dir / Path(notebook).name), "params": params,
                "cwd": str(cwd), "kernel": kernel, "parent_pid": os.getpid()}
        env = {"OMP_NUM_THREADS": self.threads, "MKL_NUM_THREADS": self.threads, **os.environ,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(paths.REPO_ROOT), os.environ.get("PYTHONPATH")]))}
        with open(run_dir / LOG_FILE, "w") as log:
            child = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(spec)], stdout=log,
                                     stderr=subprocess.STDOUT, env=env, cwd=cwd)
            with self.lock:
                self.live.add(child)
            try:
                child.wait(timeout=self.timeout)
                error = "" if child.returncode == 0 else _error_line(run_dir / LOG_FILE, child.returncode)
            except subprocess.TimeoutExpired:
                _kill_with_children(child)
                error = f"TimeoutError: the run took longer than --timeout {self.timeout:g} s"
            finally:
                with self.lock:
                    self.live.discard(child)
        if self.stopping.is_set():
            return None
        metrics, metrics_error = _read_metrics(run_dir / record.METRICS_FILE)
        return {"status": "failed" if error or metrics_error else "ok", "error": error or metrics_error,
                "metrics": metrics, "seconds": round(time.time() - started, 2), "host": socket.gethostname()}

    def stop(self):
        self.stopping.set()
        with self.lock:
            for child in list(self.live):
                _kill_with_children(child)


def _read_metrics(path):
    """(metrics dict, "") from the run's metrics.json; ({}, "") when there is none; ({}, why) when unreadable."""
    if not path.is_file():
        return {}, ""
    try:
        metrics = json.loads(path.read_text())
    except ValueError as error:
        return {}, f"{path.name} is not valid JSON: {error}"
    return (metrics, "") if isinstance(metrics, dict) else ({}, f"{path.name} holds no mapping of name: value")


def _error_line(log_path, returncode):
    lines = [line for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
    marked = [line[len(ERROR_MARK):] for line in lines if line.startswith(ERROR_MARK)]
    if marked:
        return marked[-1]
    return f"the run's process ended with code {returncode}" + (f": {lines[-1].strip()[:300]}" if lines else "")


def _kill_with_children(process):
    """Kill a run's process and its kernel (psutil comes with distributed)."""
    import psutil

    try:
        family = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for p in [process, *family]:
        try:
            p.kill()
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    process.wait()


def _own_files(notebook_name):
    """The files the sweep itself writes in every run folder (the notebook's metrics.json included: the sweep
    reads it as the run's outcome, so a stale one must not survive a redo)."""
    return [LOG_FILE, notebook_name, record.METRICS_FILE, RESULT_FILE]


def _recorded(run_dir):
    """The files the run folder's record names (relative paths inside it); [] without a readable record."""
    try:
        names = json.loads((run_dir / RECORD_FILE).read_text())
    except (OSError, ValueError):
        return []
    return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []


def _record(run_dir, names):
    atomic_write(run_dir / RECORD_FILE, json.dumps(sorted(set(names)), indent=0) + "\n")


def _fresh_dir(run_dir, notebook_name, extra=()):
    """Make ready the folder of a run that is (re)done: remove what an earlier, cut-off or failed run of the
    sweep recorded writing there (without a record, the sweep's own files), and nothing else; record the files
    this run will write (``extra``: more of them, e.g. those a Dask worker sent back). Returns the files the
    folder still holds, which the sweep did not write: they are kept, and named on stderr."""
    run_dir.mkdir(parents=True, exist_ok=True)
    emptied = set()
    for name in _recorded(run_dir) or _own_files(notebook_name):
        path = run_dir / name
        if path.is_file() and not path.is_symlink() and run_dir.resolve() in path.resolve().parents:
            path.unlink()
            emptied.update(q for q in path.parents if run_dir in q.parents)
    for folder in sorted(emptied, key=lambda q: len(q.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):       # a subfolder the removed files leave empty
            folder.rmdir()
    kept = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*")
                  if p.is_file() and p.name != RECORD_FILE)
    if kept:
        print(f"note: {run_dir} holds files the sweep did not write; kept: {', '.join(kept)}", file=sys.stderr)
    _record(run_dir, [*_own_files(notebook_name), *extra])
    return kept


def _record_new_files(run_dir, notebook_name, kept):
    """After a run: record every file in its folder but those kept from before (what the run wrote)."""
    files = [p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file() and p.name != RECORD_FILE]
    _record(run_dir, [*_own_files(notebook_name), *(f for f in files if f not in kept)])


def _result(sweep, run, outcome):
    """What result.json holds: the run's id, notebook and parameters, then its outcome."""
    return {"run_id": run.run_id, "notebook": sweep.key, "params": run.params, **outcome,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}


def _on_dask_worker(notebook_name, notebook_bytes, params, cwd, kernel, set_output_dir, timeout):
    """A Dask task: run the notebook in a scratch folder of the worker; return the outcome and the run's files."""
    from distributed import get_worker

    scratch = Path(tempfile.mkdtemp(prefix="sweep-"))
    try:
        notebook = scratch / notebook_name
        notebook.write_bytes(notebook_bytes)
        run_dir = scratch / "run"
        run_dir.mkdir()
        runner = Runner(timeout, jobs=get_worker().state.nthreads)     # runs at a time on this worker
        outcome = runner.run(notebook, params, run_dir, cwd if os.path.isdir(cwd) else scratch, kernel,
                             set_output_dir)
        files = {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
        return outcome, files
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# -- the sweep --------------------------------------------------------------------------------------------------

def run_sweep(sweep, jobs=1, scheduler=None, timeout=None, retry_failed=False, progress=True):
    """Run what is not finished yet; return ({run id: result} of this sweep's runs, how many ran now)."""
    from tqdm import tqdm

    finished_runs(sweep)                        # a folder in the way is an error before anything is written
    table = sweep.out / RESULTS_CSV
    if table.exists() and not table.read_text().startswith("run_id,notebook,"):
        raise SweepError(f"{table} was not written by a sweep; use another --out")
    client = dask_client(scheduler) if scheduler else None      # an unreachable cluster: before anything is written
    lock = None
    try:
        sweep.out.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(sweep.out)
        results = finished_runs(sweep)
        if retry_failed:
            results = {k: r for k, r in results.items() if r["status"] == "ok"}
        todo = [run for run in sweep.runs if run.run_id not in results]
        where = f"the Dask cluster at {scheduler}" if scheduler else f"{jobs} local job(s)"
        print(f"{len(sweep.runs)} runs of {sweep.notebook.name}: {len(results)} already done, {len(todo)} to run "
              f"on {where}, into {sweep.out}", file=sys.stderr)
        bar = tqdm(total=len(sweep.runs), initial=len(results), unit="run", file=sys.stderr, disable=not progress)

        def finish(run, result):                # result.json last: from now on the run counts as finished
            atomic_write(sweep.out / run.run_id / RESULT_FILE, json.dumps(result, indent=1) + "\n")
            results[run.run_id] = result
            rebuild_results(sweep.out, list(sweep.declared))
            bar.update(1)
            if result["status"] == "failed":
                bar.write(f"failed: {run.run_id}: {result['error']}", file=sys.stderr)

        try:
            if todo and client:
                _run_on_dask(sweep, todo, client, timeout, finish)
            elif todo:
                _run_locally(sweep, todo, jobs, timeout, finish)
        finally:
            bar.close()
            rebuild_results(sweep.out, list(sweep.declared))
        return {run.run_id: results[run.run_id] for run in sweep.runs if run.run_id in results}, len(todo)
    finally:
        if lock:
            lock.close()
        if client:
            client.close()


def _run_locally(sweep, todo, jobs, timeout, finish):
    from concurrent.futures import ThreadPoolExecutor, as_completed

    runner = Runner(timeout, jobs)

    def one(run):                               # in a pool thread; the child process does the work
        if runner.stopping.is_set():
            return None
        run_dir = sweep.out / run.run_id
        kept = _fresh_dir(run_dir, sweep.notebook.name)
        outcome = runner.run(sweep.notebook, run.params, run_dir, sweep.notebook.parent, sweep.kernel,
                             OUTPUT_PARAM in sweep.declared)
        _record_new_files(run_dir, sweep.notebook.name, kept)
        return outcome

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(one, run): run for run in todo}
        for future in as_completed(futures):
            if future.result() is not None:
                finish(futures[future], _result(sweep, futures[future], future.result()))
    except BaseException:                       # Ctrl-C: stop the runs in progress, start no new one
        runner.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def dask_client(scheduler):
    """A distributed.Client connected to the scheduler at tcp://HOST:PORT; a SweepError when there is none."""
    from distributed import Client

    try:
        return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as error:
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None


def _run_on_dask(sweep, todo, client, timeout, finish):
    from distributed import as_completed

    notebook_bytes = sweep.notebook.read_bytes()
    futures = {client.submit(_on_dask_worker, sweep.notebook.name, notebook_bytes, run.params,
                             str(sweep.notebook.parent), sweep.kernel, OUTPUT_PARAM in sweep.declared, timeout,
                             pure=False): run for run in todo}
    try:
        for future in as_completed(futures):
            run = futures[future]
            try:
                outcome, files = future.result()
            except Exception as error:          # the worker died, or could not import helpers...
                outcome = {"status": "failed", "error": f"dask: {type(error).__name__}: {error}"[:500],
                           "metrics": {}, "seconds": 0.0, "host": ""}
                files = {}
            _fresh_dir(sweep.out / run.run_id, sweep.notebook.name, files)
            for name, data in files.items():
                atomic_write(sweep.out / run.run_id / name, data)
            finish(run, _result(sweep, run, outcome))
    finally:                                    # Ctrl-C: the cluster drops the runs not started
        client.cancel(list(futures))


# -- the summary: a table and a plot ----------------------------------------------------------------------------

def numeric_metrics(results):
    """Names of the metrics that are numbers in at least one successful run, in order of appearance."""
    names = {}
    for r in results:
        for name, value in flat_metrics(r.get("metrics") or {}).items():
            if r["status"] == "ok" and isinstance(value, (int, float)) and not isinstance(value, bool):
                names[name] = True
    return list(names)


def summary_table(sweep, results, max_metrics=6):
    """The runs as a text table: swept parameters, status, the first metrics, seconds, error."""
    import pandas as pd

    metrics = numeric_metrics(results)[:max_metrics]
    rows = []
    for r in results:
        flat = flat_metrics(r.get("metrics") or {})
        rows.append({**{p: _plain(r["params"][p]) for p in sweep.swept}, "status": r["status"],
                     **{m: flat.get(m, "") for m in metrics}, "seconds": round(r["seconds"], 1),
                     "error": r["error"][:70]})
    return pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.4g}")


def plot_results(sweep, results, max_metrics=12):
    """DIR/plot_<notebook>_vs_<swept names>.png: for each swept parameter and numeric metric, a panel of the
    metric against the parameter, one line per combination of the other swept parameters (four panels a row).
    Returns its path, or None when no run succeeded with a numeric metric."""
    from matplotlib.figure import Figure

    ok = [r for r in results if r["status"] == "ok"]
    panels = [(name, metric) for name in sweep.swept for metric in numeric_metrics(ok)[:max_metrics]]
    if not panels:
        return None
    columns = min(4, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig = Figure(figsize=(0.5 + 3.6 * columns, 0.6 + 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).flat
    for ax, (name, metric) in zip(axes, panels):
        values = sweep.grid[name]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        position = {_plain(v): v if numeric else i for i, v in enumerate(values)}
        others = [p for p in sweep.swept if p != name]
        lines = {}
        for r in ok:
            y = flat_metrics(r["metrics"]).get(metric)
            if isinstance(y, (int, float)) and not isinstance(y, bool):
                label = ", ".join(f"{p}={_plain(r['params'][p])}" for p in others)
                lines.setdefault(label, []).append((position[_plain(r["params"][name])], y))
        for label, points in lines.items():
            ax.plot(*zip(*sorted(points)), marker="o", label=label or None)
        if numeric and min(values) > 0 and max(values) / min(values) >= 50:
            ax.set_xscale("log")                # latent sizes 8..512, learning rates 1e-4..1e-2
        if not numeric or len(values) <= 8:
            ax.set_xticks([position[_plain(v)] for v in values], [_plain(v) for v in values])
        ax.set(xlabel=name, ylabel=metric)
        ax.grid(alpha=0.3)
        if 1 < len(lines) <= 6:
            ax.legend(fontsize="x-small")
    for ax in axes:                             # the empty places of the last row
        ax.set_visible(False)
    fig.suptitle(f"{sweep.notebook.name}: {len(ok)} of {len(results)} runs ok")
    path = sweep.out / f"plot_{sweep.notebook.stem}_vs_{'_'.join(sweep.swept)}.png"
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    return path


# -- command line -----------------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.sweep", description=__doc__.split("\n\n")[0],
                                     epilog="See the module's docstring (pydoc tools.sweep) for the file layout.")
    parser.add_argument("notebook", help="the notebook (.ipynb) to run")
    parser.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2",
                        help="values of one parameter (repeat for more; lists as [8],[8,32])")
    parser.add_argument("-f", "--params", metavar="YAML", help="fixed values, and a grid: mapping")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time on this machine (default 1)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default runs/sweeps/<notebook name>)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="send the runs to this Dask scheduler")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="fail a run that takes longer")
    parser.add_argument("--retry-failed", action="store_true", help="run the failed runs again")
    parser.add_argument("--dry-run", action="store_true", help="check everything, list the runs, run nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        if args.jobs < 1:
            raise SweepError(f"--jobs {args.jobs}: give 1 or more")
        if args.timeout is not None and not args.timeout > 0:
            raise SweepError(f"--timeout {args.timeout:g}: give a number of seconds above 0")
        sweep = plan_sweep(args.notebook, args.grid, args.params, args.out)
        if args.dry_run:
            done = finished_runs(sweep)
            for run in sweep.runs:
                print(f"{run.run_id}  {done[run.run_id]['status'] if run.run_id in done else 'to run'}")
            print(f"{len(sweep.runs)} runs of {sweep.notebook.name} into {sweep.out}")
            return 0
        if OUTPUT_PARAM not in sweep.declared:
            print(f"note: {sweep.notebook.name} has no {OUTPUT_PARAM} parameter: the runs record no metrics",
                  file=sys.stderr)
        results, ran = run_sweep(sweep, args.jobs, args.scheduler, args.timeout, args.retry_failed,
                                 not args.no_progress)
    except (SweepError, ParameterError) as error:
        print(f"sweep: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: finished runs are kept; the same command resumes the sweep", file=sys.stderr)
        return 130
    results = list(results.values())
    failed = sum(r["status"] == "failed" for r in results)
    print(summary_table(sweep, results))
    plot = plot_results(sweep, results)
    print(f"\n{len(results)} runs: {len(results) - failed} ok, {failed} failed ({ran} run now, "
          f"{len(results) - ran} already done)\nresults: {sweep.out / RESULTS_CSV}")
    if plot:
        print(f"plot: {plot}")
    return 1 if failed else 0


if __name__ == "__main__":
    _skip_slow_import()
    sys.exit(main())
