"""The sweep's output folder: one folder a run, its result.json written last, results.csv rebuilt from them,
the lock that keeps a second sweep out, and the record of the files the sweep wrote in each run folder (only
those are removed when a run is redone).

    DIR/results.csv                  one row per run, rebuilt from every DIR/*/result.json
    DIR/.sweep.lock                  held while a sweep writes into DIR
    DIR/<run id>/result.json         written last, atomically: a run folder with it is a finished run
    DIR/<run id>/runner.log          what the run printed outside the notebook
    DIR/<run id>/.sweep-files        the files the sweep wrote, or saw its run write, in that folder
"""

import csv
import io
import json
import sys
import time
from pathlib import Path

from helpers import record
from helpers.files import atomic_write
from tools.sweep.plan import SweepError, plain

RESULT_FILE = "result.json"
RESULTS_CSV = "results.csv"
LOG_FILE = "runner.log"
LOCK_FILE = ".sweep.lock"
RECORD_FILE = ".sweep-files"    # in a run folder: what the sweep wrote there (only that is removed on a redo)


# -- finished runs and results.csv --------------------------------------------------------------------------------

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


def result_of(sweep, run, outcome):
    """What result.json holds: the run's id, notebook and parameters, then its outcome."""
    return {"run_id": run.run_id, "notebook": sweep.key, "params": run.params, **outcome,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S")}


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
    return (2, 0, plain(value))


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


# -- a run folder: what the sweep wrote there, and only that, goes on a redo ------------------------------------------

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


def fresh_dir(run_dir, notebook_name, extra=()):
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


def record_new_files(run_dir, notebook_name, kept):
    """After a run: record every file in its folder but those kept from before (what the run wrote)."""
    files = [p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file() and p.name != RECORD_FILE]
    _record(run_dir, [*_own_files(notebook_name), *(f for f in files if f not in kept)])
