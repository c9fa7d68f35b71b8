"""Time the whole notebook series at its stored defaults, as `make run` runs it (papermill, one kernel each).

    .venv/bin/python benchmarks/notebook_times.py                # 01..08 into runs/bench-<timestamp>/
    .venv/bin/python benchmarks/notebook_times.py --only 04 06   # some notebooks

Prints one line per notebook (seconds), then the total of 01-07 (the course series, target: at most 20 minutes
on 2 CPU cores) and of 08 (the codec notebook, target: at most 15 minutes). Last line: `series_minutes: X`.
The machine's core count and load are printed first: figures taken beside other work are not comparable.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import paths  # noqa: E402
from tools import run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=(), metavar="NOTEBOOK", help="notebooks by number or name")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    notebooks = run.solution_notebooks(args.only)
    run_dir = run.new_run_dir(paths.RUNS_DIR / "bench")
    start = time.perf_counter()
    timings = run.run_series(notebooks, {}, run_dir)
    print(f"\nwall time {time.perf_counter() - start:.0f} s; outputs in {run_dir}")
    for name, seconds in timings.items():
        print(f"{name:<24} {seconds:7.1f} s")
    series = sum(s for name, s in timings.items() if name[:2] <= "07")
    codec = sum(s for name, s in timings.items() if name[:2] == "08")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"codec_minutes: {codec / 60:.1f}  (target <= 15)")
    print(f"series_minutes: {series / 60:.1f}  (target <= 20)")


if __name__ == "__main__":
    main()
