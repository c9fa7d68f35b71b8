"""The runs on a Dask distributed cluster (--scheduler tcp://HOST:PORT).

The notebook travels to a worker, runs there in a scratch folder through the same `Runner` as on this machine (a
child process, in the notebook's own folder as working directory when the worker has it, e.g. the same
checkout), and the run's files come back into the sweep's folder. Workers need the kit installed.
"""

import os
import shutil
import tempfile
from pathlib import Path

from helpers.files import atomic_write
from tools.notebook_parameters import OUTPUT_PARAM
from tools.sweep.plan import SweepError
from tools.sweep.runner import Runner
from tools.sweep.store import fresh_dir, result_of


def dask_client(scheduler):
    """A distributed.Client connected to the scheduler at tcp://HOST:PORT; a SweepError when there is none."""
    from distributed import Client

    try:
        return Client(scheduler, timeout="20s")
    except (OSError, TimeoutError, ValueError) as error:
        raise SweepError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None


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


def run_on_dask(sweep, todo, client, timeout, finish):
    """Send `todo` (Run objects) to the cluster; as each comes back, write its files into its run folder and
    `finish(run, result)`. A run the cluster could not do (a worker died...) is a failed run."""
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
            fresh_dir(sweep.out / run.run_id, sweep.notebook.name, files)
            for name, data in files.items():
                atomic_write(sweep.out / run.run_id / name, data)
            finish(run, result_of(sweep, run, outcome))
    finally:                                    # Ctrl-C: the cluster drops the runs not started
        client.cancel(list(futures))
