"""The notebooks as files: parameters documented, student versions in sync, no outputs committed, and every
exercise check proven both ways (it passes on the solution and fails on the student's stub).

Executing the solution notebooks end to end is nbval's job: `make test` collects solutions/*.ipynb with
`--nbval-lax` (see pyproject.toml)."""

import ast
import re

import nbformat
import papermill
import pytest

from helpers import checks, paths
from helpers.params import ParameterError, declarations
from tools import student

SOLUTIONS = sorted(paths.SOLUTIONS_DIR.glob("[0-9][0-9]_*.ipynb"))
SHARED_NAMES = {"data_dir": "str", "output_dir": "str"}


def read(path):
    return nbformat.read(path, as_version=4)


def test_the_series_is_there():
    names = [p.stem for p in SOLUTIONS]
    for expected in ("01_explore", "02_preprocess", "03_baseline", "04_conv_model", "05_regularization",
                     "06_bottleneck_sweep", "07_analysis", "08_rate_distortion", "09_hyperprior"):
        assert expected in names


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_one_documented_parameters_cell(path):
    nb = read(path)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected exactly one cell tagged 'parameters'"
    params = papermill.inspect_notebook(str(path))
    for name, info in params.items():
        assert info["inferred_type_name"] != "None", f"{path.name}: parameter {name} has no type annotation"
        assert info["help"], f"{path.name}: parameter {name} has no help comment"
    for name, type_name in SHARED_NAMES.items():
        assert params[name]["inferred_type_name"] == type_name, f"{path.name}: {name} should be a {type_name}"
    # a parameter whose comment holds '=' is silently dropped by papermill: compare with the source
    declared = re.findall(r"^(\w+)\s*:", tagged[0].source, flags=re.M)
    assert sorted(declared) == sorted(params), f"{path.name}: papermill sees {sorted(params)}, cell has {declared}"


def parameters_and_setup(path):
    """The sources of a notebook's `parameters` cell and of the setup cell right after it."""
    cells = read(path).cells
    params = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    return cells[params].source, cells[params + 1].source


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_each_parameter_is_declared_once_and_checked_by_one_setup_call(path):
    """The parameters cell declares every parameter the way helpers.params reads it (type, default, help and what it
    allows); the cell after it calls `run = setup(globals(), "<notebook>")` once (it checks every one of them), and
    no parameter is named again in a table or a tuple unpack."""
    declared_source, setup_source = parameters_and_setup(path)
    declared = declarations(declared_source)
    assert list(declared) == re.findall(r"^(\w+)\s*:", declared_source, flags=re.M), path.name
    for d in declared.values():
        assert d.help, f"{path.name}: {d.name} has no help comment"
        if d.type in ("int", "float", "list[int]", "list[float]") and d.name != "example_image":
            assert d.minimum is not None or d.maximum is not None, f"{path.name}: {d.name} declares no range"
    tree = ast.parse(setup_source)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup"]
    assert len(calls) == 1 and ast.unparse(calls[0]) == f"setup(globals(), '{path.stem}')", path.name
    assert "check_parameters" not in setup_source and "check_parameter_names" not in setup_source, path.name


def run_setup(path, tmp_path, **injected):
    """Execute the parameters cell, papermill-like assignments of `injected`, and the setup cell; the namespace."""
    declared_source, setup_source = parameters_and_setup(path)
    namespace = {}
    exec(compile(declared_source, str(path), "exec"), namespace)
    namespace.update(output_dir=str(tmp_path), **injected)
    exec(compile(setup_source, str(path), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_setup_cell_keeps_the_stored_defaults_and_stops_on_a_bad_value(path, tmp_path):
    """At the stored defaults every parameter comes out of setup equal and of the same type (the notebooks' numbers
    depend on it: 64 is not 64.0), and the run knows it is at its defaults; a bad value stops with the ParameterError
    that names it."""
    declared_source, _ = parameters_and_setup(path)
    defaults = {}
    exec(compile(declared_source, str(path), "exec"), defaults)
    checked = run_setup(path, tmp_path)
    for name in declarations(declared_source):
        if name != "output_dir":
            assert repr(checked[name]) == repr(defaults[name]) and type(checked[name]) is type(defaults[name]), name
    assert checked["run"].at_defaults and checked["run"].out == tmp_path
    first = next(n for n, d in declarations(declared_source).items() if d.type in ("int", "float"))
    with pytest.raises(ParameterError, match=f"parameter {first}"):
        run_setup(path, tmp_path, **{first: "not a value"})


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_goals_first_and_lessons_last(path):
    nb = read(path)
    assert nb.cells[0].cell_type == "markdown" and "Goals" in nb.cells[0].source
    assert nb.cells[-1].cell_type == "markdown" and "What we learned" in nb.cells[-1].source
    assert any("run.keep(" in c.source for c in nb.cells if c.cell_type == "code")


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_markdown_is_not_commented_out(path):
    """Prose written as '# text' renders as a wall of headings in JupyterLab; a markdown cell whose lines all
    start with '#' is almost certainly that mistake (a one-line heading cell is fine)."""
    for i, cell in enumerate(read(path).cells):
        if cell.cell_type != "markdown":
            continue
        lines = [line for line in cell.source.splitlines() if line.strip()]
        assert not any(line.startswith("# #") for line in lines), f"{path.name}: cell {i} has '# #'"
        if len(lines) > 1:
            assert not all(line.startswith("#") for line in lines), f"{path.name}: cell {i} is all headings"


def test_no_output_comparison_markers():
    """nbval compares a cell marked NBVAL_CHECK_OUTPUT only against outputs stored in the notebook, and committed
    notebooks store none: such a marker would check nothing. Notebooks state their invariants with `assert`."""
    for path in SOLUTIONS:
        for i, cell in enumerate(read(path).cells):
            assert "NBVAL_CHECK_OUTPUT" not in cell.source, f"{path.name}: cell {i}: use an assert instead"


def test_committed_notebooks_carry_no_outputs_or_widget_state():
    for path in SOLUTIONS + sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        nb = read(path)
        assert "widgets" not in nb.metadata, f"{path}: widget state in the metadata"
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path}: cell {i} has outputs"


def test_student_notebooks_are_in_sync():
    stale = student.stale_files()
    assert not stale, f"regenerate with `make student`: {[str(p) for p in stale]}"


def test_the_record_of_generated_student_notebooks_is_in_sync():
    """`make student` backs up a student notebook that differs from what it wrote last: the committed record must
    describe the committed notebooks, or a fresh clone would back up notebooks nobody touched."""
    record = student.read_record()
    notebooks = sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))
    assert sorted(record) == [p.name for p in notebooks]
    for path in notebooks:
        assert student.is_unchanged(path, record), f"{path}: regenerate with `make student`"


def test_solutions_carry_nbgrader_metadata_and_hidden_tests_only_in_test_cells():
    for path in SOLUTIONS:
        nb = read(path)
        graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert graded, f"{path.name}: no autograded check cell"
        for cell in nb.cells:
            if student.BEGIN in cell.source:
                assert cell.metadata["nbgrader"]["solution"], path.name
            if student.BEGIN_HIDDEN in cell.source:
                assert cell.metadata["nbgrader"]["grade"], path.name


def test_student_notebooks_hold_no_solutions():
    for path in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb")):
        text = path.read_text()
        assert student.BEGIN not in text and student.END not in text, path
        assert "HIDDEN TESTS" not in text and '"nbgrader"' not in text, path


# ------------------------------------------------------------------------------------- exercises, both ways
def exercises():
    """(notebook, exercise cell index, check cell index) for every exercise of every solution notebook."""
    found = []
    for path in SOLUTIONS:
        cells = read(path).cells
        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and student.BEGIN in cell.source:
                j = next(k for k in range(i + 1, len(cells)) if cells[k].cell_type == "code")
                found.append(pytest.param(path, i, j, id=f"{path.stem}-cell{i}"))
    return found


def run_exercise(path, exercise, check, make_stub):
    """Run the parameters cell, the setup cell after it, the exercise (solution or stub) and its check cell."""
    cells = read(path).cells
    params = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    source = cells[exercise].source
    if make_stub:
        source = student.replace_solutions(source, student.CODE_STUB)
    namespace = {"display": print}
    for code in (cells[params].source, cells[params + 1].source, source, cells[check].source):
        exec(compile(code, str(path), "exec"), namespace)


def test_every_notebook_from_03_has_an_exercise():
    with_exercises = {p.values[0].stem for p in exercises()}
    for path in SOLUTIONS:
        if path.stem >= "03":
            assert path.stem in with_exercises, f"{path.name} has no exercise"


@pytest.mark.parametrize("path, exercise, check", exercises())
def test_check_passes_on_the_solution(path, exercise, check, capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path)
    run_exercise(path, exercise, check, make_stub=False)
    assert "PASSED" in capsys.readouterr().out


@pytest.mark.parametrize("path, exercise, check", exercises())
def test_check_fails_on_the_stub(path, exercise, check, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "RUNS_DIR", tmp_path)
    with pytest.raises(checks.CheckFailed, match="(?i)not implemented|YOUR CODE"):
        run_exercise(path, exercise, check, make_stub=True)


# ------------------------------------------------------------------------------------- lessons written by people
def _branched_prose(tree):
    """The lines of `tree` where prose is chosen by a branch: `"a" if x else "b"` with text on both sides, or an
    if/else whose two sides both print."""
    def texty(node):
        return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, str))

    def prints(body):
        return any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print" for b in body for n in ast.walk(b))

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.IfExp) and texty(node.body) and texty(node.orelse) and len(
                ast.unparse(node.body) + ast.unparse(node.orelse)) > 30:
            found.append(node.lineno)
        if isinstance(node, ast.If) and node.orelse and prints(node.body) and prints(node.orelse):
            found.append(node.lineno)
    return found


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_no_prose_is_generated_by_branches_and_the_lesson_is_checked_by_claims(path):
    """A lesson is markdown a person wrote; the run checks its claims (`run.claim`), it does not choose its sentences
    with if/else. Every notebook checks at least one claim."""
    cells = [c for c in read(path).cells if c.cell_type == "code"]
    for i, cell in enumerate(cells):
        lines = _branched_prose(ast.parse(student.replace_solutions(cell.source, student.CODE_STUB)))
        assert not lines, f"{path.name}, code cell {i}: prose chosen by a branch at line(s) {lines}"
    assert any("run.claim(" in c.source for c in cells), f"{path.name} checks no claim"


def test_the_branch_detector_finds_both_shapes():
    assert _branched_prose(ast.parse('print("the autoencoder wins by far" if a > b else "JPEG wins by far here")'))
    assert _branched_prose(ast.parse('if a:\n    print(f"{a} wins")\nelse:\n    print("it does not")'))
    assert not _branched_prose(ast.parse('if a:\n    print(f"{a} wins")\nrun.claim("a wins", a > b, a=a)'))
