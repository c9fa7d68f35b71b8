"""tools.course and the nbgrader round trip, proven with nbgrader's own commands: a course folder is written,
`nbgrader generate_assignment` releases every notebook of the series (no solution, no hidden test, equal to the
kit's student versions), and `nbgrader autograde` gives 0 to an unedited release, full marks to the solution and
exactly the right exercise's points to a half-done submission (notebook 02, at small injected parameters).
The whole series at its stored defaults is benchmarks/autograde_times.py's job."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import paths
from tools import course, student
from tools.run import RunError

BIN = Path(sys.executable).parent
SOLUTIONS = sorted(paths.SOLUTIONS_DIR.glob("[0-9][0-9]_*.ipynb"))
GRADED = "02_preprocess"  # two exercises, the fastest notebook that has more than one


def nbgrader(course_dir, *args):
    """Run `nbgrader ARGS` in the course folder as an instructor would (the kit's .venv/bin on PATH: nbgrader
    runs `alembic` by name); fail with its output when it fails."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course_dir, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    # a broken nbgrader_config.py is only logged, and nbgrader goes on with its defaults: refuse that
    assert "Exception while loading config" not in result.stderr, result.stderr
    return result


def read(path):
    return nbformat.read(path, as_version=4)


def cell_by_grade_id(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


# ------------------------------------------------------------------------------------------ writing the folder
def test_write_course_makes_a_config_parameters_and_one_source_assignment_per_notebook(tmp_path):
    written = course.write_course(tmp_path / "course")
    root = tmp_path / "course"
    assert root / "nbgrader_config.py" in written and root / course.PARAMETERS_NAME in written
    for solution in SOLUTIONS:
        source = root / "source" / solution.stem / solution.name
        assert source.read_bytes() == solution.read_bytes()
    assert "c.Execute.timeout = 1800" in (root / "nbgrader_config.py").read_text()


def test_write_course_refuses_to_overwrite_edited_files_unless_forced(tmp_path):
    root = tmp_path / "course"
    course.write_course(root)
    assert course.write_course(root) == []  # nothing changed: nothing written
    config = root / "nbgrader_config.py"
    config.write_text(config.read_text() + "c.Execute.timeout = 60  # mine\n")
    edited = config.read_text()
    source = root / "source" / "03_baseline" / "03_baseline.ipynb"
    source.write_text(source.read_text().replace("Goals", "Aims"))
    with pytest.raises(course.CourseError, match=r"(?s)nbgrader_config.py.*03_baseline.ipynb.*--force"):
        course.write_course(root)
    assert config.read_text() == edited  # nothing was written, not even the unchanged files
    (root / "gradebook.db").write_text("the instructor's grades")
    assert sorted(course.write_course(root, force=True)) == sorted([config, source])
    assert (root / "gradebook.db").read_text() == "the instructor's grades"


def test_main_reports_an_edited_folder_and_copies_a_parameter_file(tmp_path, capsys):
    root = tmp_path / "course"
    assert course.main(["--out", str(root), "-f", str(paths.REPO_ROOT / "params" / "autograde_quick.yaml")]) == 0
    assert (root / course.PARAMETERS_NAME).read_text() == (paths.REPO_ROOT / "params/autograde_quick.yaml").read_text()
    assert "nbgrader generate_assignment" in capsys.readouterr().out
    assert course.main(["--out", str(root)]) == 2  # the default parameters differ from the copied ones
    assert "--force" in capsys.readouterr().err
    assert course.main(["--out", str(root), "-f", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- InjectParameters
def tiny_notebook():
    nb = new_notebook(cells=[new_markdown_cell("# 99"),
                             new_code_cell("epochs: int = 60  # passes\nlr: float = 0.001  # step",
                                           metadata={"tags": ["parameters"]}),
                             new_code_cell("print(epochs)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def inject(tmp_path, text):
    parameters = tmp_path / "p.yaml"
    parameters.write_text(text)
    return course.InjectParameters(parameters_file=str(parameters)).preprocess(tiny_notebook(),
                                                                               {"unique_key": "99_tiny"})[0]


def test_inject_parameters_inserts_papermills_cell_after_the_parameters_cell(tmp_path):
    nb = inject(tmp_path, "epochs: 2\nnot_declared_here: 1\n99_tiny:\n  lr: 0.5\n")
    assert len(nb.cells) == 4 and nb.cells[2].metadata["tags"] == ["injected-parameters"]
    assert "epochs = 2" in nb.cells[2].source and "lr = 0.5" in nb.cells[2].source
    assert "not_declared_here" not in nb.cells[2].source


def test_inject_parameters_leaves_the_notebook_alone_without_values_and_refuses_unknown_names(tmp_path):
    assert len(inject(tmp_path, "{}\n").cells) == 3
    assert len(inject(tmp_path, "other_notebook:\n  epochs: 1\n").cells) == 3
    assert len(course.InjectParameters().preprocess(tiny_notebook(), {"unique_key": "99_tiny"})[0].cells) == 3
    with pytest.raises(RunError, match="99_tiny.ipynb has no parameter epoch"):
        inject(tmp_path, "99_tiny:\n  epoch: 1\n")


# ------------------------------------------------------------------------------------ nbgrader's own commands
@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """A course folder with every notebook released by `nbgrader generate_assignment`."""
    root = tmp_path_factory.mktemp("nbgrader") / "course"
    course.write_course(root, parameters_text=f"{GRADED}:\n  image_size: 32\n")
    nbgrader(root, "generate_assignment", "*")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_generate_assignment_releases_no_solution_and_no_hidden_test(released, solution):
    release = released / "release" / solution.stem / solution.name
    text = release.read_text()
    for marker in (student.BEGIN, student.END, "HIDDEN TESTS"):
        assert marker not in text, f"{release}: {marker}"
    source = read(solution)
    for cell in source.cells:  # every line of an answer or a hidden test that the student version drops
        hidden = set(cell.source.splitlines()) - set(student.make_student(new_notebook(cells=[cell])).cells[0]
                                                    .source.splitlines())
        for line in hidden:
            if line.strip() and not line.strip().startswith("#"):
                assert all(line not in c.source for c in read(release).cells), f"{release} leaks {line!r}"


@pytest.mark.slow
@pytest.mark.parametrize("solution", SOLUTIONS, ids=lambda p: p.stem)
def test_student_notebooks_equal_what_nbgrader_releases(released, solution):
    """Cell for cell: the same type, source and tags, and the notebook's metadata. nbgrader adds its bookkeeping
    to the release (a checksum and the cell type in `nbgrader`, `editable`/`deletable` locks), which the student
    versions in notebooks/ leave out: the rest of the release's `nbgrader` metadata is the solution's."""
    release = read(released / "release" / solution.stem / solution.name)
    ours = read(paths.NOTEBOOKS_DIR / solution.name)
    source = read(solution)
    assert [c.cell_type for c in release.cells] == [c.cell_type for c in ours.cells]
    assert [c.source for c in release.cells] == [c.source for c in ours.cells]
    assert [c.metadata.get("tags") for c in release.cells] == [c.metadata.get("tags") for c in ours.cells]
    assert release.metadata == ours.metadata
    for released_cell, solution_cell in zip(release.cells, source.cells):
        meta = dict(released_cell.metadata.get("nbgrader", {}))
        meta.pop("checksum", None), meta.pop("cell_type", None)
        assert meta == solution_cell.metadata.get("nbgrader", {})


def submit(root, student_id, nb):
    folder = root / "submitted" / student_id / GRADED
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, folder / f"{GRADED}.ipynb")


def without_markers(source):
    return "\n".join(line for line in source.splitlines() if line.strip() not in (student.BEGIN, student.END))


@pytest.mark.slow
def test_autograde_scores_a_blank_a_complete_and_a_half_done_submission(released):
    release = read(released / "release" / GRADED / f"{GRADED}.ipynb")
    solution = read(paths.SOLUTIONS_DIR / f"{GRADED}.ipynb")
    submit(released, "blank", release)
    submit(released, "complete", solution)
    half = read(released / "release" / GRADED / f"{GRADED}.ipynb")
    cell_by_grade_id(half, "normalize").source = without_markers(cell_by_grade_id(solution, "normalize").source)
    wrong = cell_by_grade_id(half, "channel_stats")  # 0-255 units instead of [0, 1]: a classic mistake
    wrong.source = wrong.source.replace("# YOUR CODE HERE\n    raise NotImplementedError()",
                                        "return images.mean(axis=(0, 1, 2)), images.std(axis=(0, 1, 2))")
    assert "NotImplementedError" not in wrong.source
    submit(released, "half", half)

    nbgrader(released, "autograde", GRADED, "--create")
    nbgrader(released, "export")
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{released / 'gradebook.db'}", "neural-image-compression") as gradebook:
        def scores(student_id):
            submission = gradebook.find_submission_notebook(GRADED, GRADED, student_id)
            return {grade.name: (grade.score, grade.max_score) for grade in submission.grades}

        assert scores("blank") == {"check_normalization": (0, 1), "check_channel_stats": (0, 1)}
        assert scores("complete") == {"check_normalization": (1, 1), "check_channel_stats": (1, 1)}
        assert scores("half") == {"check_normalization": (1, 1), "check_channel_stats": (0, 1)}
    with open(released / "grades.csv") as f:
        raw = {row["student_id"]: (float(row["raw_score"]), float(row["max_score"])) for row in csv.DictReader(f)
               if row["assignment"] == GRADED}  # one row per student and released assignment
    assert raw == {"blank": (0, 2), "complete": (2, 2), "half": (1, 2)}
    # the parameters of the course's autograde_parameters.yaml were injected before execution
    graded = read(released / "autograded" / "complete" / GRADED / f"{GRADED}.ipynb")
    injected = [c for c in graded.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "image_size = 32" in injected[0].source
