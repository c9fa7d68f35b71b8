"""An nbgrader course folder made from the solutions: one command, then nbgrader's own commands.

    python -m tools.course                       # writes course/ (`make course`)
    python -m tools.course --out ~/teaching/nic  # somewhere else
    python -m tools.course -f params/autograde_quick.yaml   # autograde at small settings (see below)

The folder holds what nbgrader reads::

    course/nbgrader_config.py                 the course's settings (timeouts, kernel, the parameter injection)
    course/autograde_parameters.yaml          parameters autograde gives each notebook ({}: the stored defaults)
    course/source/<notebook>/<notebook>.ipynb one assignment per notebook, copied from solutions/

One assignment per notebook: a class works through the series a notebook at a time, each notebook runs on its
own, and the gradebook then shows one grade per notebook. The solutions carry nbgrader's cell metadata (written by
`python -m tools.student`), so `nbgrader generate_assignment 03_baseline` releases the student version.

Autograde runs each submission top to bottom at the notebook's stored defaults (05-08 train for minutes). The
checks build their own inputs and do not depend on training, so a class can be graded at small settings instead:
`InjectParameters` (a preprocessor run just before nbgrader executes a notebook) reads autograde_parameters.yaml,
a file shaped like `python -m tools.run -f` takes (top-level names to every notebook that declares them, a mapping
under a notebook's name to that one), and inserts papermill's `injected-parameters` cell after the parameters cell.

Nothing an instructor may have edited is overwritten: a file that exists and differs from what this command would
write stops it, with the list, unless `--force` is given. The gradebook, releases and submissions are never touched.
"""

import argparse
import sys
import tempfile
from pathlib import Path

import nbformat
from nbgrader.converters import Autograde
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from helpers import paths
from tools import run
from helpers.files import atomic_write

COURSE_DIR = paths.REPO_ROOT / "course"
PARAMETERS_NAME = "autograde_parameters.yaml"

CONFIG = '''\
# nbgrader settings of the neural image compression course, written by `python -m tools.course`.
# Run nbgrader from this folder: nbgrader generate_assignment 03_baseline, nbgrader autograde 03_baseline, ...
from pathlib import Path

from tools.course import autograde_preprocessors
from tools.kernel import kernel_name

c = get_config()  # noqa: F821 (nbgrader provides it)
c.CourseDirectory.root = str(Path(__file__).resolve().parent)
c.CourseDirectory.course_id = "neural-image-compression"
# Notebooks 05-08 train for minutes: nbgrader's default of 30 s per cell would cut them off.
c.Execute.timeout = 1800
# Run submissions in the kit's kernel (its .venv), not whichever "python3" Jupyter finds first.
c.Execute.kernel_name = kernel_name()
# Before executing a submission, insert the parameters of autograde_parameters.yaml (papermill's way).
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.InjectParameters.parameters_file = str(Path(__file__).resolve().parent / "{parameters}")
'''

DEFAULT_PARAMETERS = '''\
# Parameters nbgrader's autograde gives each notebook, inserted after its parameters cell (tools.course).
# Empty: every submission runs at the notebook's stored defaults. For a quick autograde of a whole class:
#   python -m tools.course --force -f params/autograde_quick.yaml    (from the kit's folder)
# Top-level names go to every notebook that declares them; a mapping under a notebook's name to that one only.
{}
'''


class CourseError(ValueError):
    """The course folder cannot be written as asked; the message says what to do."""


class InjectParameters(NbGraderPreprocessor):
    """Insert papermill's `injected-parameters` cell with the values of `parameters_file` for this notebook.

    No file, or no value for this notebook: the notebook is left as it is (it runs at its stored defaults)."""

    parameters_file = Unicode("", help="YAML file of parameters (tools.run's shape); empty: none").tag(config=True)

    def preprocess(self, nb, resources):
        if not self.parameters_file or not Path(self.parameters_file).is_file():
            return nb, resources
        values = run.read_parameter_file(self.parameters_file)
        with tempfile.TemporaryDirectory() as scratch:  # papermill inspects a notebook file, named as the notebook
            path = Path(scratch) / f"{resources['unique_key']}.ipynb"
            nbformat.write(nb, path)
            parameters = run.parameters_for(path, values, output_dir="")
        parameters.pop("output_dir", None)  # the notebook's own default: runs/interactive/<notebook>
        if not parameters:
            return nb, resources
        from papermill.translators import translate_parameters

        self.log.info("Injecting parameters %s", parameters)
        source = translate_parameters(nb.metadata.kernelspec.name, "python", parameters, "Parameters")
        where = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        nb.cells.insert(where + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
        return nb, resources


def autograde_preprocessors():
    """nbgrader's autograde preprocessors with `InjectParameters` first (before `Execute`)."""
    return [InjectParameters] + list(Autograde.class_traits()["autograde_preprocessors"].default())


def course_files(out, parameters_text=None, solutions_dir=None):
    """{path: text} of every file the course folder gets (see the module docstring)."""
    out = Path(out)
    solutions = sorted(Path(solutions_dir or paths.SOLUTIONS_DIR).glob("[0-9][0-9]_*.ipynb"))
    files = {out / "nbgrader_config.py": CONFIG.format(parameters=PARAMETERS_NAME),
             out / PARAMETERS_NAME: parameters_text if parameters_text is not None else DEFAULT_PARAMETERS}
    for notebook in solutions:
        files[out / "source" / notebook.stem / notebook.name] = notebook.read_text()
    return files


def write_course(out, parameters_text=None, force=False, solutions_dir=None):
    """Write the course folder; return the paths written. Raises CourseError, writing nothing, when a file exists
    with other content and `force` is False."""
    files = course_files(out, parameters_text, solutions_dir)
    if not any(p.name.endswith(".ipynb") for p in files):
        raise CourseError(f"no solution notebooks in {solutions_dir or paths.SOLUTIONS_DIR}")
    changed = [p for p, text in files.items() if p.exists() and p.read_text() != text]
    if changed and not force:
        names = "\n  ".join(str(p) for p in changed)
        raise CourseError(f"these files exist and differ from what would be written (you may have edited them):\n"
                          f"  {names}\nmove them away, or run again with --force to replace them")
    written = []
    for path, text in files.items():
        if not path.exists() or path.read_text() != text:
            atomic_write(path, text)
            written.append(path)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.course", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(COURSE_DIR), help="course folder (default: course/ in the kit)")
    parser.add_argument("-f", "--parameters", metavar="YAML",
                        help=f"copy this parameter file to the course's {PARAMETERS_NAME} (autograde's settings)")
    parser.add_argument("--force", action="store_true", help="replace files that differ (edited by you?)")
    args = parser.parse_args(argv)
    try:
        parameters_text = None
        if args.parameters:
            run.read_parameter_file(args.parameters)  # a bad file stops here, not in the middle of grading
            parameters_text = Path(args.parameters).read_text()
        written = write_course(args.out, parameters_text, force=args.force)
    except (CourseError, run.RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}")
    out = Path(args.out)
    print(f"course ready in {out} ({len(written)} file(s) written). Next, from that folder:\n"
          f"  export PATH=\"{Path(sys.executable).parent}:$PATH\"   # nbgrader runs `alembic` by name\n"
          f"  nbgrader generate_assignment 03_baseline   # release/03_baseline/: the students' version\n"
          f"  nbgrader autograde 03_baseline --create    # grades submitted/<student>/03_baseline/\n"
          f"  nbgrader generate_feedback 03_baseline && nbgrader export   # feedback/, grades.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
