"""Student notebooks are generated from the solutions, never edited by hand.

`solutions/` holds the complete notebooks: the single source of truth. An exercise's answer sits between
nbgrader's markers::

    def psnr(a, b):
        ### BEGIN SOLUTION
        mse = ...
        return 10 * np.log10(255**2 / mse)
        ### END SOLUTION

and the student version keeps everything else, replacing the answer with::

    def psnr(a, b):
        # YOUR CODE HERE
        raise NotImplementedError()

In markdown cells the answer is replaced by "YOUR ANSWER HERE". Outputs, execution counts and widget state are
removed from both versions, so committed notebooks stay small and diff cleanly.

    python -m helpers.student            # regenerate notebooks/ from solutions/ (and clean solutions/)
    python -m helpers.student --check    # exit 1 if notebooks/ is stale or a notebook carries outputs

A student's work is never overwritten silently: a student notebook that was run or has exercises filled in is
first copied to notebooks/backup/ (git-ignored), and the command says so.
"""

import argparse
import copy
import re
import sys
import time
from pathlib import Path

import nbformat

from helpers.paths import NOTEBOOKS_DIR, SOLUTIONS_DIR

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
MARKDOWN_STUB = ["YOUR ANSWER HERE"]


class MarkerError(ValueError):
    """A solution cell whose markers do not pair up."""


def replace_solutions(source, stub_lines, where="cell"):
    """Return `source` with every BEGIN/END SOLUTION block replaced by `stub_lines`, indented like the marker."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise MarkerError(f"{where}, line {number}: '{BEGIN}' inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in stub_lines)
        elif stripped == END:
            if not inside:
                raise MarkerError(f"{where}, line {number}: '{END}' without a '{BEGIN}' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: '{BEGIN}' is never closed by '{END}'")
    return "\n".join(out)


def clean(nb):
    """Remove outputs, execution counts and widget state (in place); keep tags and other cell metadata."""
    nb.metadata.pop("widgets", None)
    nb.metadata.pop("papermill", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return nb


def make_student(solution_nb, name="notebook"):
    """The student version of a solution notebook (a new notebook; the argument is not changed)."""
    nb = clean(copy.deepcopy(solution_nb))
    for index, cell in enumerate(nb.cells):
        stub = CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB
        cell.source = replace_solutions(cell.source, stub, where=f"{name}, cell {index}")
    return nb


def _dumps(nb):
    return nbformat.writes(nb) + "\n"


def expected_files(solutions_dir=SOLUTIONS_DIR, notebooks_dir=NOTEBOOKS_DIR):
    """{path: text} for every file this command writes: cleaned solutions and their student versions."""
    files = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        solution = nbformat.read(path, as_version=4)
        files[path] = _dumps(clean(copy.deepcopy(solution)))
        files[Path(notebooks_dir) / path.name] = _dumps(make_student(solution, name=path.name))
    return files


def stale_files(solutions_dir=SOLUTIONS_DIR, notebooks_dir=NOTEBOOKS_DIR):
    """Paths whose content differs from what `python -m helpers.student` would write, plus student notebooks
    that have no solution any more."""
    expected = expected_files(solutions_dir, notebooks_dir)
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    orphans = [p for p in Path(notebooks_dir).glob("*.ipynb") if p not in expected]
    return stale + orphans


def has_student_work(path):
    """True when the notebook at `path` was executed or has an exercise stub filled in."""
    nb = nbformat.read(path, as_version=4)
    executed = any(c.cell_type == "code" and (c.outputs or c.execution_count) for c in nb.cells)
    # an untouched code stub is both of its lines, one under the other (students often keep the comment)
    code_stub = re.compile(rf"^([ \t]*){re.escape(CODE_STUB[0])}[ \t]*\n\1{re.escape(CODE_STUB[1])}[ \t]*$", re.M)
    open_stubs = sum(len(code_stub.findall(c.source)) if c.cell_type == "code" else c.source.count(MARKDOWN_STUB[0])
                     for c in nb.cells)
    solution = Path(SOLUTIONS_DIR) / Path(path).name
    expected_stubs = 0
    if solution.exists():
        solution_cells = nbformat.read(solution, as_version=4).cells
        expected_stubs = sum(c.source.count(BEGIN) for c in solution_cells)
    return executed or open_stubs < expected_stubs


def back_up(path):
    """Copy `path` to notebooks/backup/<name>.<timestamp>.ipynb and return the copy's path."""
    backup_dir = Path(path).parent / "backup"
    backup_dir.mkdir(exist_ok=True)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    copy_path = backup_dir / f"{Path(path).stem}.{stamp}.ipynb"
    number = 1
    while copy_path.exists():  # a backup from the same second is kept too
        copy_path, number = backup_dir / f"{Path(path).stem}.{stamp}-{number}.ipynb", number + 1
    copy_path.write_bytes(Path(path).read_bytes())
    return copy_path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m helpers.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(SOLUTIONS_DIR, NOTEBOOKS_DIR)
        for path in stale:
            print(f"stale: {path} (run `make student` to regenerate notebooks/ from solutions/)")
        return 1 if stale else 0
    NOTEBOOKS_DIR.mkdir(exist_ok=True)
    expected = expected_files(SOLUTIONS_DIR, NOTEBOOKS_DIR)
    for path, text in expected.items():
        if not path.exists() or path.read_text() != text:
            if path.parent == NOTEBOOKS_DIR and path.exists() and has_student_work(path):
                print(f"kept your work: {path} -> {back_up(path)}")
            path.write_text(text)
            print(f"wrote {path}")
    for orphan in set(NOTEBOOKS_DIR.glob("*.ipynb")) - set(expected):
        print(f"note: {orphan} has no solution in {SOLUTIONS_DIR}; delete it if it is not needed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
