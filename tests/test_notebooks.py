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
from helpers.params import ParameterError
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


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_checks_cell_refuses_unknown_parameter_names(path):
    """papermill only warns about a parameter name a notebook does not declare; the cell after the parameters cell
    stops the run instead (helpers.params.check_parameter_names, tested in tests/test_params.py)."""
    cells = read(path).cells
    params = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    assert re.search(r"^check_parameter_names\(\)", cells[params + 1].source, flags=re.M), path.name


# The parameters a setup cell handles outside its check_parameters table, and where.
OUTSIDE_THE_TABLE = {"data_dir": "resolve_data_dir", "output_dir": "resolve_output_dir",
                     "show_explorer": "read as it is (a bool)",
                     "example_image": "checked in 01 once the images are listed (its maximum is their number)"}
SINGLE_CHECKS = {"check_int", "check_float", "check_choice", "check_int_list", "check_float_list"}


def parameters_and_setup(path):
    """The sources of a notebook's `parameters` cell and of the setup cell right after it."""
    cells = read(path).cells
    params = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    return cells[params].source, cells[params + 1].source


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_setup_cell_checks_the_parameters_in_one_table(path):
    """One helpers.params.check_parameters table: a row for every declared parameter (but OUTSIDE_THE_TABLE), no
    single check_* line beside it, and the names it assigns are its rows' names, in their order, each row's value
    the parameter of its name (a swapped pair of ints would pass its checks and train the wrong model)."""
    declared_source, setup = parameters_and_setup(path)
    tree = ast.parse(setup)
    calls = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert not calls & SINGLE_CHECKS, f"{path.name}: {sorted(calls & SINGLE_CHECKS)} beside the table"
    tables = [node for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
              and getattr(node.value.func, "id", None) == "check_parameters"]
    assert len(tables) == 1, f"{path.name}: expected one `... = check_parameters({{...}})`"
    assigned = [target.id for target in tables[0].targets[0].elts]
    rows = tables[0].value.args[0]
    names = [key.value for key in rows.keys]
    values = [row.elts[0].id for row in rows.values]
    assert assigned == names, f"{path.name}: assigns {assigned}, the table's rows are {names}"
    assert values == names, f"{path.name}: a row's value is not the parameter of its name: {names} vs {values}"
    declared = re.findall(r"^(\w+)\s*:", declared_source, flags=re.M)
    assert names == [n for n in declared if n not in OUTSIDE_THE_TABLE], f"{path.name}: table and parameters differ"


def run_setup(path, tmp_path, **injected):
    """Execute the parameters cell, papermill-like assignments of `injected`, and the setup cell; the namespace."""
    declared_source, setup = parameters_and_setup(path)
    namespace = {"output_dir": str(tmp_path)}
    exec(compile(declared_source, str(path), "exec"), namespace)
    namespace.update(output_dir=str(tmp_path), **injected)
    exec(compile(setup, str(path), "exec"), namespace)
    return namespace


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_setup_cell_keeps_the_stored_defaults_and_stops_on_a_bad_value(path, tmp_path):
    """At the stored defaults every parameter comes out of the table equal and of the same type (the notebooks'
    numbers depend on it; a list stored as text, 01's "2,5,10", comes out as its list of numbers); a bad value in
    the first row stops with the ParameterError that names it."""
    declared_source, _ = parameters_and_setup(path)
    defaults = {}
    exec(compile(declared_source, str(path), "exec"), defaults)
    checked = run_setup(path, tmp_path)
    for name in re.findall(r"^(\w+)\s*:", declared_source, flags=re.M):
        if name in OUTSIDE_THE_TABLE:
            continue
        want = defaults[name]
        if isinstance(want, str) and isinstance(checked[name], list):
            want = [type(checked[name][0])(item) for item in want.split(",")]
        assert repr(checked[name]) == repr(want) and type(checked[name]) is type(want), name  # 64 is not 64.0
    first = next(n for n in re.findall(r"^(\w+)\s*:", declared_source, flags=re.M) if n not in OUTSIDE_THE_TABLE)
    with pytest.raises(ParameterError, match=f"parameter {first}"):
        run_setup(path, tmp_path, **{first: "not a value"})

@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_goals_first_and_lessons_last(path):
    nb = read(path)
    assert nb.cells[0].cell_type == "markdown" and "Goals" in nb.cells[0].source
    assert nb.cells[-1].cell_type == "markdown" and "What we learned" in nb.cells[-1].source
    assert any("save_metrics" in c.source for c in nb.cells if c.cell_type == "code")


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


def test_05_asks_for_a_prediction_before_each_study_and_judges_against_five_seeds(tmp_path):
    """Notebook 05 (issue 15): the code cell right before every study that trains (calls train_variant) is the
    student's prediction (`my_prediction = ...`); every study but the seeds judges its variants with the verdict
    table or a printed comparison with the prediction; at the stored defaults the seed spread comes from at least
    5 seeds and the SGD sweep has at least 3 rates."""
    path = paths.SOLUTIONS_DIR / "05_regularization.ipynb"
    cells = [c for c in read(path).cells if c.cell_type == "code"]
    studies = [i for i, c in enumerate(cells) if re.search(r"^\s*(_, \w+ = )?train_variant\(", c.source, flags=re.M)]
    assert len(studies) >= 6, f"expected at least 6 studies, found {len(studies)}"
    for i in studies:
        assert cells[i - 1].source.lstrip().startswith("my_prediction ="), cells[i].source[:80]
        assert "my_prediction" in cells[i].source, f"the study does not compare with the prediction: {cells[i].source[:80]}"
    checked = run_setup(path, tmp_path)
    assert len(set(checked["seeds"])) >= 5 and len(checked["sgd_lrs"]) >= 3
    assert checked["batch_size"] == 16


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


def test_04_shows_the_courses_224_setting_at_its_defaults_and_the_full_size_file_skips_it(tmp_path):
    """Issue 15: one run at the course's 224x224 with resize is executed at the stored defaults (section 9 of 04);
    params/full_size.yaml runs the whole notebook at 224x224, so it turns the short extra run off."""
    import yaml

    path = paths.SOLUTIONS_DIR / "04_conv_model.ipynb"
    checked = run_setup(path, tmp_path)
    assert checked["full_size_epochs"] >= 1
    section = next(c.source for c in read(path).cells if c.source.startswith("if full_size_epochs:"))
    assert 'image_size=224' in section and 'preprocess="resize"' in section and "train.fit(full_model" in section
    full = yaml.safe_load((paths.REPO_ROOT / "params" / "full_size.yaml").read_text())["04_conv_model"]
    assert full["full_size_epochs"] == 0 and full["image_size"] == 224
