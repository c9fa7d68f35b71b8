"""One run: papermill in a child process of its own (`Runner`), and the runs on this machine, --jobs at a time
(`run_locally`).

Each run is a fresh Python process that executes the notebook with `tools.execute.execute_notebook` (in its own
kernel). The child dies with the sweep, even when the sweep is killed with -9 (PR_SET_PDEATHSIG on Linux); a run
over --timeout, or a sweep stopped with Ctrl-C, kills the child and its kernel. What the child prints goes to the
run's runner.log, its error's last line after ERROR_MARK.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers import paths, record     # light modules only: every run's process imports this one
from tools.notebook_parameters import OUTPUT_PARAM
from tools.sweep.store import LOG_FILE, fresh_dir, record_new_files, result_of

ERROR_MARK = "sweep-run-error: "    # how a run tells the sweep its error's last line (in runner.log)


def skip_slow_import():
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
    skip_slow_import()
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


_CHILD = "from tools.sweep.runner import _run_child; _run_child()"


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


def run_locally(sweep, todo, jobs, timeout, finish):
    """Run `todo` (Run objects) in child processes, `jobs` at a time; `finish(run, result)` for each one done.
    Ctrl-C stops the runs in progress and starts no new one."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    runner = Runner(timeout, jobs)

    def one(run):                               # in a pool thread; the child process does the work
        if runner.stopping.is_set():
            return None
        run_dir = sweep.out / run.run_id
        kept = fresh_dir(run_dir, sweep.notebook.name)
        outcome = runner.run(sweep.notebook, run.params, run_dir, sweep.notebook.parent, sweep.kernel,
                             OUTPUT_PARAM in sweep.declared)
        record_new_files(run_dir, sweep.notebook.name, kept)
        return outcome

    pool = ThreadPoolExecutor(max_workers=jobs)
    try:
        futures = {pool.submit(one, run): run for run in todo}
        for future in as_completed(futures):
            if future.result() is not None:
                finish(futures[future], result_of(sweep, futures[future], future.result()))
    except BaseException:                       # Ctrl-C: stop the runs in progress, start no new one
        runner.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
