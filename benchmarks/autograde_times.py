"""Time nbgrader's autograde of one student's whole series, with nbgrader's own commands.

    .venv/bin/python benchmarks/autograde_times.py                 # stored defaults (as autograde runs them)
    .venv/bin/python benchmarks/autograde_times.py -f params/autograde_quick.yaml   # the quick settings
    .venv/bin/python benchmarks/autograde_times.py --only 01 02    # some notebooks

Writes a course folder (tools.course) under runs/autograde/<timestamp>/, releases every notebook
(`nbgrader generate_assignment`), submits the solutions as student "bench", autogrades each notebook
(`nbgrader autograde`, one process per notebook, timed) and checks that every check cell got full marks.
Prints one line per notebook (seconds, points), the load average before and after, and last
`autograde_minutes_per_student: X`.
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from helpers import paths  # noqa: E402
from tools import course, run

BIN = Path(sys.executable).parent


def nbgrader(root, *args):
    """Run `nbgrader ARGS` in the course folder (.venv/bin on PATH: nbgrader runs `alembic` by name)."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([str(BIN / "nbgrader"), *args], cwd=root, env=env, capture_output=True, text=True)
    if result.returncode != 0 or "Exception while loading config" in result.stderr:
        sys.exit(f"nbgrader {' '.join(args)} failed:\n{result.stderr[-3000:]}")


def points(root, notebook):
    """(score, max score) of student "bench" on one notebook, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "neural-image-compression") as gradebook:
        submission = gradebook.find_submission_notebook(notebook, notebook, "bench")
        return submission.score, submission.max_score


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", default=(), metavar="NOTEBOOK", help="notebooks by number or name")
    parser.add_argument("-f", "--parameters", metavar="YAML", help="autograde parameters (default: stored defaults)")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.2f}")
    notebooks = run.solution_notebooks(args.only)
    root = run.new_run_dir(paths.RUNS_DIR / "autograde") / "course"
    parameters = Path(args.parameters).read_text() if args.parameters else None
    course.write_course(root, parameters_text=parameters)
    nbgrader(root, "generate_assignment", "*")
    timings = {}
    for notebook in notebooks:
        submitted = root / "submitted" / "bench" / notebook.stem
        submitted.mkdir(parents=True)
        shutil.copy(notebook, submitted / notebook.name)
        start = time.perf_counter()
        nbgrader(root, "autograde", notebook.stem, "--create")
        timings[notebook.stem] = time.perf_counter() - start
        score, max_score = points(root, notebook.stem)
        print(f"{notebook.stem:<24} {timings[notebook.stem]:7.1f} s   {score:g} / {max_score:g} points", flush=True)
        if score != max_score:
            sys.exit(f"the solution of {notebook.stem} did not get full marks: see {root / 'autograded'}")
    print(f"course folder: {root}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"autograde_minutes_per_student: {sum(timings.values()) / 60:.1f}")


if __name__ == "__main__":
    main()
