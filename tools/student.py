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

In markdown cells the answer is replaced by "YOUR ANSWER HERE". A check cell may hold tests that students do
not see, between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS`: the student version drops them (as
`nbgrader generate_assignment` does), and nbgrader's `autograde` runs them. Outputs, execution counts and widget
state are removed from both versions, so committed notebooks stay small and diff cleanly.

The solutions also get nbgrader's cell metadata, derived from the cells so that it never drifts
(`nbgrader_metadata`): a cell with solution markers is a solution cell, the check cell that follows a code
exercise is an autograded test cell worth `POINTS`, the parameters cell and the setup cell after it are locked.
The student versions carry no nbgrader metadata (grading is the release's business: see `tools.course`).

    python -m tools.student            # regenerate notebooks/ from solutions/ (and clean solutions/)
    python -m tools.student --check    # exit 1 if a file is stale: notebooks/, or a solution's outputs/metadata

A student's work is never overwritten silently: a student notebook that differs in any way from what this
command wrote last (recorded in notebooks/.generated.json) is first copied to notebooks/backup/ (git-ignored),
and the command says so. A notebook that is not valid JSON is reported and left alone.
"""

import argparse
import copy
import hashlib
import json
import re
import sys
import time
from pathlib import Path

import nbformat

from helpers.files import atomic_write
from helpers.paths import NOTEBOOKS_DIR, SOLUTIONS_DIR

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
MARKDOWN_STUB = ["YOUR ANSWER HERE"]
POINTS = 1              # what one autograded check cell is worth
MANUAL_POINTS = 1       # what one written (markdown) answer is worth, graded by hand
RECORD_NAME = ".generated.json"  # in notebooks/: sha256 of each student notebook as this command last wrote it


class MarkerError(ValueError):
    """A solution cell whose markers do not pair up, or a notebook whose nbgrader metadata cannot be derived."""


def _replace_blocks(source, begin, end, stub_lines, where, kind):
    """`source` with every `begin`/`end` block (marker lines included) replaced by `stub_lines`, indented like
    the marker."""
    out, inside = [], False
    for number, line in enumerate(source.splitlines(), start=1):
        stripped = line.strip()
        if stripped == begin:
            if inside:
                raise MarkerError(f"{where}, line {number}: '{begin}' inside another {kind} block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in stub_lines)
        elif stripped == end:
            if not inside:
                raise MarkerError(f"{where}, line {number}: '{end}' without a '{begin}' before it")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: '{begin}' is never closed by '{end}'")
    return "\n".join(out)


def replace_solutions(source, stub_lines, where="cell"):
    """Return `source` with every BEGIN/END SOLUTION block replaced by `stub_lines`, indented like the marker."""
    return _replace_blocks(source, BEGIN, END, stub_lines, where, "solution")


def remove_hidden_tests(source, where="cell"):
    """Return `source` without its BEGIN/END HIDDEN TESTS blocks (marker lines included), as nbgrader does."""
    return _replace_blocks(source, BEGIN_HIDDEN, END_HIDDEN, [], where, "hidden tests")


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


# ------------------------------------------------------------------------------------------- nbgrader metadata
def _nbgrader(grade_id, solution=False, grade=False, locked=False, points=None):
    """One cell's nbgrader metadata (schema version 3)."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3, "solution": solution,
            "task": False}
    if grade:
        meta["points"] = points
    return meta


def _defined_name(source):
    """The first function or class a cell defines, or None."""
    match = re.search(r"^\s*(?:def|class)\s+(\w+)", source, flags=re.M)
    return match.group(1) if match else None


def nbgrader_metadata(nb, name="notebook"):
    """[cell metadata or None] for each cell of a solution notebook, derived from the cells themselves:

    - a cell with solution markers: a solution cell (grade_id: the function or class it defines, else
      `answer_<cell>`); a markdown answer is also graded by hand (MANUAL_POINTS);
    - the first code cell after a code exercise, when it calls `checks.check_*`: an autograded test cell
      (grade_id: the check's name, POINTS points, locked);
    - the cell tagged `parameters` and the code cell after it (the setup): locked read-only;
    - any other cell: no nbgrader metadata (None).
    Raises MarkerError when two cells would get the same grade_id, or hidden tests sit outside a test cell."""
    cells = nb.cells
    found = [None] * len(cells)
    params = [i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", [])]
    if params:
        found[params[0]] = _nbgrader("parameters", locked=True)
        setup = next((k for k in range(params[0] + 1, len(cells)) if cells[k].cell_type == "code"), None)
        if setup is not None:
            found[setup] = _nbgrader("setup", locked=True)
    for i, cell in enumerate(cells):
        if BEGIN not in cell.source:
            continue
        grade_id = _defined_name(cell.source) if cell.cell_type == "code" else None
        if cell.cell_type == "markdown":
            found[i] = _nbgrader(f"answer_{i}", solution=True, grade=True, points=MANUAL_POINTS)
            continue
        found[i] = _nbgrader(grade_id or f"answer_{i}", solution=True)
        check = next((k for k in range(i + 1, len(cells)) if cells[k].cell_type == "code"), None)
        match = re.search(r"\bchecks\.(check_\w+)\(", cells[check].source) if check is not None else None
        if match and BEGIN not in cells[check].source:
            found[check] = _nbgrader(match.group(1), grade=True, locked=True, points=POINTS)
    for i, cell in enumerate(cells):
        if BEGIN_HIDDEN in cell.source and not (found[i] or {}).get("grade"):
            raise MarkerError(f"{name}, cell {i}: hidden tests belong in a check cell right after an exercise")
    ids = [meta["grade_id"] for meta in found if meta]
    duplicates = sorted({g for g in ids if ids.count(g) > 1})
    if duplicates:
        raise MarkerError(f"{name}: two cells would have the same nbgrader grade_id {duplicates}; "
                          f"give each exercise its own function or class name")
    return found


def with_nbgrader_metadata(nb, name="notebook"):
    """Set every cell's nbgrader metadata to what `nbgrader_metadata` derives (in place; stale metadata goes)."""
    for cell, meta in zip(nb.cells, nbgrader_metadata(nb, name)):
        cell.metadata.pop("nbgrader", None)
        if meta:
            cell.metadata["nbgrader"] = meta
    return nb


def make_solution(solution_nb, name="notebook"):
    """The solution notebook as committed: clean, with derived nbgrader metadata (a new notebook)."""
    return with_nbgrader_metadata(clean(copy.deepcopy(solution_nb)), name)


def make_student(solution_nb, name="notebook"):
    """The student version of a solution notebook (a new notebook; the argument is not changed): answers
    replaced by stubs, hidden tests removed, no outputs, no nbgrader metadata."""
    nb = clean(copy.deepcopy(solution_nb))
    for index, cell in enumerate(nb.cells):
        stub = CODE_STUB if cell.cell_type == "code" else MARKDOWN_STUB
        where = f"{name}, cell {index}"
        cell.source = remove_hidden_tests(replace_solutions(cell.source, stub, where=where), where=where)
        cell.metadata.pop("nbgrader", None)
    return nb


def _dumps(nb):
    return nbformat.writes(nb) + "\n"


def expected_files(solutions_dir=SOLUTIONS_DIR, notebooks_dir=NOTEBOOKS_DIR):
    """{path: text} for every file this command writes: cleaned solutions and their student versions."""
    files = {}
    for path in sorted(Path(solutions_dir).glob("*.ipynb")):
        solution = nbformat.read(path, as_version=4)
        files[path] = _dumps(make_solution(solution, name=path.name))
        files[Path(notebooks_dir) / path.name] = _dumps(make_student(solution, name=path.name))
    return files


def stale_files(solutions_dir=SOLUTIONS_DIR, notebooks_dir=NOTEBOOKS_DIR):
    """Paths whose content differs from what `python -m tools.student` would write, plus student notebooks
    that have no solution any more."""
    expected = expected_files(solutions_dir, notebooks_dir)
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    orphans = [p for p in Path(notebooks_dir).glob("*.ipynb") if p not in expected]
    return stale + orphans


# ------------------------------------------------------------------------------------------------ student work
def has_student_work(path):
    """True when the notebook at `path` was executed or has an exercise stub filled in. (`main` keeps any change
    at all, see `is_unchanged`; this narrower test says whether a notebook holds answers or results.)"""
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


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def read_record(notebooks_dir=NOTEBOOKS_DIR):
    """{notebook name: sha256 of the text this command last wrote}; empty when there is no (readable) record."""
    try:
        return dict(json.loads((Path(notebooks_dir) / RECORD_NAME).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


def is_unchanged(path, record):
    """True when the student notebook at `path` is byte for byte what this command wrote last (per `record`)."""
    return record.get(Path(path).name) == _sha256(Path(path).read_bytes())


def is_valid_notebook(path):
    """True when `path` holds a notebook nbformat can read (valid JSON, a notebook)."""
    try:
        nbformat.read(path, as_version=4)
        return True
    except Exception:  # nbformat raises JSON, validation and key errors alike for a broken file
        return False


def back_up(path):
    """Copy `path` to notebooks/backup/<name>.<timestamp>.ipynb and return the copy's path."""
    backup_dir = Path(path).parent / "backup"
    backup_dir.mkdir(exist_ok=True)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    copy_path = backup_dir / f"{Path(path).stem}.{stamp}.ipynb"
    number = 1
    while copy_path.exists():  # a backup from the same second is kept too
        copy_path, number = backup_dir / f"{Path(path).stem}.{stamp}-{number}.ipynb", number + 1
    atomic_write(copy_path, Path(path).read_bytes())
    return copy_path


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tools.student", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files(SOLUTIONS_DIR, NOTEBOOKS_DIR)
        for path in stale:
            print(f"stale: {path} (run `make student` to regenerate notebooks/ from solutions/)")
        return 1 if stale else 0
    NOTEBOOKS_DIR.mkdir(exist_ok=True)
    expected = expected_files(SOLUTIONS_DIR, NOTEBOOKS_DIR)
    record, status = read_record(NOTEBOOKS_DIR), 0
    for path, text in expected.items():
        is_student = path.parent == NOTEBOOKS_DIR
        if path.exists() and path.read_text(errors="replace") == text:
            if is_student:
                record[path.name] = _sha256(text.encode("utf-8"))
            continue
        if is_student and path.exists():
            if not is_valid_notebook(path):
                print(f"left alone: {path} is not a valid notebook (not JSON?); fix it, or move it away and run "
                      f"`make student` again")
                status = 1
                continue
            if not is_unchanged(path, record):
                print(f"kept your work: {path} -> {back_up(path)}")
        atomic_write(path, text)
        if is_student:
            record[path.name] = _sha256(text.encode("utf-8"))
        print(f"wrote {path}")
    names = {path.name for path in expected if path.parent == NOTEBOOKS_DIR}  # a removed notebook leaves the record
    new_record = json.dumps({k: v for k, v in sorted(record.items()) if k in names}, indent=1) + "\n"
    record_path = NOTEBOOKS_DIR / RECORD_NAME
    if not record_path.exists() or record_path.read_text() != new_record:
        atomic_write(record_path, new_record)
    for orphan in set(NOTEBOOKS_DIR.glob("*.ipynb")) - set(expected):
        print(f"note: {orphan} has no solution in {SOLUTIONS_DIR}; delete it if it is not needed")
    return status


if __name__ == "__main__":
    sys.exit(main())
