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

The package, by concern:
    plan       names and values checked (with helpers.params, as tools.run does), the runs listed: plan_sweep
    store      the output folder: result.json, results.csv, the lock, what a redo may remove
    runner     one run in a child process (timeout, kill with its kernel), the runs on this machine
    dask_runs  the runs on a Dask cluster
    summary    the table and the plot at the end
    cli        run_sweep (resume, progress) and main, the command line
"""

from tools.sweep.plan import Run, Sweep, SweepError, make_run_id, plan_sweep
from tools.sweep.store import FolderLock, finished_runs, read_result, rebuild_results
from tools.sweep.cli import main, run_sweep

__all__ = ["FolderLock", "Run", "Sweep", "SweepError", "finished_runs", "main", "make_run_id", "plan_sweep",
           "read_result", "rebuild_results", "run_sweep"]
