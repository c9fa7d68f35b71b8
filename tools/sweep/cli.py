"""The sweep as a command: `run_sweep` runs what is not finished yet (on this machine or a Dask cluster), and
`main` is `python -m tools.sweep` (the package's docstring is its help)."""

import argparse
import json
import sys

import tools.sweep
from helpers.files import atomic_write
from helpers.params import ParameterError
from tools.notebook_parameters import OUTPUT_PARAM
from tools.sweep.dask_runs import dask_client, run_on_dask
from tools.sweep.plan import SweepError, plan_sweep
from tools.sweep.runner import run_locally
from tools.sweep.store import RESULT_FILE, RESULTS_CSV, FolderLock, finished_runs, rebuild_results
from tools.sweep.summary import plot_results, summary_table


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
                run_on_dask(sweep, todo, client, timeout, finish)
            elif todo:
                run_locally(sweep, todo, jobs, timeout, finish)
        finally:
            bar.close()
            rebuild_results(sweep.out, list(sweep.declared))
        return {run.run_id: results[run.run_id] for run in sweep.runs if run.run_id in results}, len(todo)
    finally:
        if lock:
            lock.close()
        if client:
            client.close()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.sweep", description=tools.sweep.__doc__.split("\n\n")[0],
                                     epilog="See the package's docstring (pydoc tools.sweep) for the file layout.")
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
