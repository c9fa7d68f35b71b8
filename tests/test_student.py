"""tools.student: student notebooks generated from solutions, outputs cleared, student work backed up, --check.
Everything runs on tiny synthetic notebooks in tmp_path; the real solutions/ and notebooks/ are never touched."""

import json
import re

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tools import student
from tools.student import MarkerError, clean, make_student, replace_solutions

PSNR_SOLUTION = """import numpy as np

def psnr(a, b):
    \"\"\"PSNR in dB.\"\"\"
    ### BEGIN SOLUTION
    mse = np.mean((a - b) ** 2)
    return 10 * np.log10(255 ** 2 / mse)
    ### END SOLUTION"""

PSNR_STUB = """import numpy as np

def psnr(a, b):
    \"\"\"PSNR in dB.\"\"\"
    # YOUR CODE HERE
    raise NotImplementedError()"""


def solution_notebook():
    """Title, a parameters cell, a code exercise with outputs, a check, a markdown answer."""
    nb = new_notebook(cells=[
        new_markdown_cell("# 01 Explore\nLearning goals."),
        new_code_cell("size: int = 32  # image side", metadata={"tags": ["parameters"]}),
        new_code_cell(PSNR_SOLUTION, execution_count=3, outputs=[new_output("stream", name="stdout", text="hi\n")],
                      metadata={"tags": ["exercise"], "execution": {"iopub.status.busy": "2024"}}),
        new_code_cell("checks.check_psnr(psnr)", execution_count=4),
        new_markdown_cell("Why 255?\n\n### BEGIN SOLUTION\nIt is the peak of 8-bit pixels.\n### END SOLUTION"),
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["papermill"] = {"duration": 1.0}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture
def kit(tmp_path, monkeypatch):
    """A solutions/ folder with two notebooks (the second already clean) and no notebooks/ folder, for student.main()."""
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    solutions.mkdir()
    nbformat.write(solution_notebook(), solutions / "01_explore.ipynb")
    second = new_notebook(cells=[new_code_cell("def f(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION")])
    nbformat.write(student.make_solution(second), solutions / "02_more.ipynb")  # clean, with its nbgrader metadata
    monkeypatch.setattr(student, "SOLUTIONS_DIR", solutions)
    monkeypatch.setattr(student, "NOTEBOOKS_DIR", notebooks)
    return solutions, notebooks


def read(path):
    return nbformat.read(path, as_version=4)


def change_the_solution(solutions):
    """The teacher adds a sentence to the first cell of 01's solution (its student version is then stale)."""
    solution = read(solutions / "01_explore.ipynb")
    solution.cells[0].source += "\nA new sentence."
    nbformat.write(solution, solutions / "01_explore.ipynb")


# ------------------------------------------------------------------------------------------------ replace_solutions
def test_replace_solutions_keeps_everything_but_the_answer_and_indents_the_stub():
    assert replace_solutions(PSNR_SOLUTION, student.CODE_STUB) == PSNR_STUB


def test_replace_solutions_handles_several_blocks_and_leaves_other_cells_alone():
    source = "a = 1\n### BEGIN SOLUTION\nb = 2\n### END SOLUTION\nc = 3\n  ### BEGIN SOLUTION\n  d = 4\n  ### END SOLUTION"
    assert replace_solutions(source, ["X"]) == "a = 1\nX\nc = 3\n  X"
    assert replace_solutions("print(1)", ["X"]) == "print(1)"
    assert replace_solutions("", ["X"]) == ""


@pytest.mark.parametrize("source, match", [
    ("### BEGIN SOLUTION\nx = 1", r"cell 7: '### BEGIN SOLUTION' is never closed"),
    ("x = 1\n### END SOLUTION", r"cell 7, line 2: '### END SOLUTION' without a '### BEGIN SOLUTION'"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", r"line 2: .* inside another solution block"),
])
def test_replace_solutions_refuses_unpaired_markers(source, match):
    with pytest.raises(MarkerError, match=match):
        replace_solutions(source, ["X"], where="cell 7")


# ------------------------------------------------------------------------------------------------ clean, make_student
def test_clean_removes_outputs_counts_and_widget_state_but_keeps_tags():
    nb = clean(solution_notebook())
    assert "widgets" not in nb.metadata and "papermill" not in nb.metadata
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert "execution" not in code[1].metadata
    assert code[0].metadata["tags"] == ["parameters"] and code[1].metadata["tags"] == ["exercise"]
    assert code[1].source == PSNR_SOLUTION  # the answer stays in the solution


def test_make_student_replaces_code_and_markdown_answers_and_does_not_change_the_solution():
    solution = solution_notebook()
    before = nbformat.writes(solution)
    nb = make_student(solution)
    assert nbformat.writes(solution) == before
    assert nb.cells[2].source == PSNR_STUB
    assert nb.cells[4].source == "Why 255?\n\nYOUR ANSWER HERE"
    assert nb.cells[0].source == solution.cells[0].source and nb.cells[3].source == solution.cells[3].source
    assert nb.cells[2].outputs == [] and nb.cells[2].execution_count is None
    assert nb.cells[1].metadata["tags"] == ["parameters"]
    nbformat.validate(nb)


def test_make_student_names_the_notebook_and_cell_of_a_bad_marker():
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("### BEGIN SOLUTION\ny = 2")])
    with pytest.raises(MarkerError, match=r"03_x.ipynb, cell 1: .* never closed"):
        make_student(nb, name="03_x.ipynb")


# -------------------------------------------------------------------------------------------- expected, stale files
def test_expected_files_are_clean_solutions_and_student_versions(kit):
    solutions, notebooks = kit
    files = student.expected_files(solutions, notebooks)
    assert sorted(files) == sorted([solutions / "01_explore.ipynb", solutions / "02_more.ipynb",
                                    notebooks / "01_explore.ipynb", notebooks / "02_more.ipynb"])
    stub_nb = nbformat.reads(files[notebooks / "01_explore.ipynb"], as_version=4)
    assert stub_nb.cells[2].source == PSNR_STUB
    clean_solution = nbformat.reads(files[solutions / "01_explore.ipynb"], as_version=4)
    assert clean_solution.cells[2].source == PSNR_SOLUTION and clean_solution.cells[2].outputs == []
    assert all(text.endswith("\n") for text in files.values())


def test_stale_files_lists_what_is_missing_different_or_orphaned(kit):
    solutions, notebooks = kit
    # no student notebooks yet, and one solution carries outputs: stale; the other solution is already clean
    assert sorted(student.stale_files(solutions, notebooks)) == sorted([
        solutions / "01_explore.ipynb", notebooks / "01_explore.ipynb", notebooks / "02_more.ipynb"])
    for path, text in student.expected_files(solutions, notebooks).items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert student.stale_files(solutions, notebooks) == []
    (notebooks / "99_old.ipynb").write_text((notebooks / "02_more.ipynb").read_text())
    assert student.stale_files(solutions, notebooks) == [notebooks / "99_old.ipynb"]


# ------------------------------------------------------------------------------------------------- has_student_work
def write_student(kit, edit=None):
    """The generated student version of 01_explore, optionally edited like a student would, on disk."""
    solutions, notebooks = kit
    notebooks.mkdir(exist_ok=True)
    nb = make_student(read(solutions / "01_explore.ipynb"))
    if edit:
        edit(nb)
    path = notebooks / "01_explore.ipynb"
    nbformat.write(nb, path)
    return path


def test_a_fresh_student_notebook_has_no_work(kit):
    assert not student.has_student_work(write_student(kit))


def run_it(nb):
    nb.cells[1].execution_count = 1


def add_output(nb):
    nb.cells[3].outputs = [new_output("stream", name="stdout", text="PASSED: ...\n")]


def answer_replacing_the_stub(nb):
    nb.cells[2].source = PSNR_STUB.replace("    # YOUR CODE HERE\n    raise NotImplementedError()",
                                           "    return 10 * np.log10(255 ** 2 / np.mean((a - b) ** 2))")


def answer_keeping_the_comment(nb):
    """Very common: the student keeps `# YOUR CODE HERE` and writes under it."""
    nb.cells[2].source = PSNR_STUB.replace("raise NotImplementedError()",
                                           "return 10 * np.log10(255 ** 2 / np.mean((a - b) ** 2))")


def answer_in_markdown(nb):
    nb.cells[4].source = "Why 255?\n\nBecause 8-bit pixels go up to 255."


@pytest.mark.parametrize("edit", [run_it, add_output, answer_replacing_the_stub, answer_keeping_the_comment,
                                  answer_in_markdown])
def test_student_work_is_recognised(kit, edit):
    assert student.has_student_work(write_student(kit, edit))


# ----------------------------------------------------------------------------------------------------------- back_up
def test_back_up_copies_into_a_backup_folder_without_overwriting(kit):
    path = write_student(kit, run_it)
    first = student.back_up(path)
    assert first.parent == path.parent / "backup"
    assert re.fullmatch(r"01_explore\.\d{8}-\d{6}(-\d+)?\.ipynb", first.name)
    assert first.read_bytes() == path.read_bytes()
    path.write_text(path.read_text().replace("YOUR ANSWER HERE", "second version"))
    second = student.back_up(path)  # the same second: still a new file
    assert second != first
    assert first.read_bytes() != second.read_bytes() == path.read_bytes()


# -------------------------------------------------------------------------------------------------------------- main
def test_main_writes_student_notebooks_and_cleans_solutions(kit, capsys):
    solutions, notebooks = kit
    assert student.main([]) == 0
    out = capsys.readouterr().out
    assert f"wrote {notebooks / '01_explore.ipynb'}" in out and f"wrote {solutions / '01_explore.ipynb'}" in out
    nb = read(notebooks / "01_explore.ipynb")
    assert nb.cells[2].source == PSNR_STUB and "widgets" not in nb.metadata
    assert read(solutions / "01_explore.ipynb").cells[2].outputs == []
    assert not (notebooks / "backup").exists()
    # a second run has nothing to do
    assert student.main([]) == 0
    assert "wrote" not in capsys.readouterr().out


def test_main_backs_up_student_work_before_regenerating(kit, capsys):
    solutions, notebooks = kit
    student.main([])
    path = write_student(kit, answer_replacing_the_stub)
    worked = path.read_bytes()
    change_the_solution(solutions)  # the student notebook must be regenerated
    capsys.readouterr()
    assert student.main([]) == 0
    out = capsys.readouterr().out
    backups = list((notebooks / "backup").glob("01_explore.*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == worked
    assert f"kept your work: {path} -> {backups[0]}" in out
    assert read(path).cells[0].source.endswith("A new sentence.") and read(path).cells[2].source == PSNR_STUB


def test_main_overwrites_an_untouched_stale_notebook_without_a_backup(kit, capsys):
    solutions, notebooks = kit
    student.main([])
    solution = read(solutions / "02_more.ipynb")
    solution.cells.append(new_code_cell("print('new cell')"))
    nbformat.write(solution, solutions / "02_more.ipynb")
    assert student.main([]) == 0
    assert "kept your work" not in capsys.readouterr().out
    assert not (notebooks / "backup").exists()
    assert read(notebooks / "02_more.ipynb").cells[-1].source == "print('new cell')"


def test_main_mentions_orphans_but_keeps_them(kit, capsys):
    solutions, notebooks = kit
    notebooks.mkdir()
    orphan = notebooks / "09_gone.ipynb"
    nbformat.write(new_notebook(), orphan)
    student.main([])
    assert f"note: {orphan} has no solution" in capsys.readouterr().out
    assert orphan.exists()


def test_check_mode_reports_stale_files_and_changes_nothing(kit, capsys):
    solutions, notebooks = kit
    before = (solutions / "01_explore.ipynb").read_bytes()
    assert student.main(["--check"]) == 1
    out = capsys.readouterr().out
    assert f"stale: {notebooks / '01_explore.ipynb'}" in out
    assert f"stale: {solutions / '01_explore.ipynb'}" in out  # it still carries outputs
    assert "make student" in out
    assert not notebooks.exists() and (solutions / "01_explore.ipynb").read_bytes() == before

    student.main([])
    capsys.readouterr()
    assert student.main(["--check"]) == 0
    assert capsys.readouterr().out == ""

    # a student notebook that was run carries outputs: stale
    path = notebooks / "02_more.ipynb"
    data = json.loads(path.read_text())
    data["cells"][0]["execution_count"] = 1
    path.write_text(json.dumps(data))
    assert student.main(["--check"]) == 1
    assert capsys.readouterr().out.strip() == f"stale: {path} (run `make student` to regenerate notebooks/ from solutions/)"


# --------------------------------------------------------------------------------------------- nbgrader metadata
HIDDEN = "\n### BEGIN HIDDEN TESTS\nassert psnr(np.zeros((2, 2, 3)), np.ones((2, 2, 3))) > 48\n### END HIDDEN TESTS"


def test_nbgrader_metadata_is_derived_from_the_cells():
    nb = solution_notebook()
    nb.cells.insert(2, new_code_cell("from helpers import checks"))  # the setup cell, right after the parameters
    meta = student.nbgrader_metadata(nb, "01_explore.ipynb")
    assert [m and m["grade_id"] for m in meta] == [None, "parameters", "setup", "psnr", "check_psnr", "answer_5"]
    params, setup, exercise, check, answer = meta[1:]
    for locked in (params, setup):
        assert locked["locked"] and not locked["solution"] and not locked["grade"] and "points" not in locked
    assert exercise["solution"] and not exercise["grade"] and not exercise["locked"]
    assert check["grade"] and check["locked"] and not check["solution"] and check["points"] == student.POINTS
    assert answer["solution"] and answer["grade"] and answer["points"] == student.MANUAL_POINTS
    assert all(m["schema_version"] == 3 for m in meta if m)


def test_make_solution_replaces_stale_metadata_and_student_versions_carry_none():
    nb = solution_notebook()
    nb.cells[0].metadata["nbgrader"] = {"grade": True, "grade_id": "old", "points": 5}  # stale: not a test cell
    solution = student.make_solution(nb)
    assert "nbgrader" not in solution.cells[0].metadata
    assert solution.cells[3].metadata["nbgrader"]["grade_id"] == "check_psnr"
    assert all("nbgrader" not in c.metadata for c in make_student(solution).cells)


def test_a_check_cell_without_an_exercise_before_it_is_not_graded():
    nb = new_notebook(cells=[new_code_cell("x = 1"), new_code_cell("checks.check_psnr(psnr)")])
    assert student.nbgrader_metadata(nb) == [None, None]


def test_duplicate_grade_ids_and_misplaced_hidden_tests_are_refused():
    twice = new_notebook(cells=[new_code_cell(PSNR_SOLUTION), new_code_cell(PSNR_SOLUTION)])
    with pytest.raises(MarkerError, match=r"04_x.ipynb: .* same nbgrader grade_id \['psnr'\]"):
        student.nbgrader_metadata(twice, "04_x.ipynb")
    misplaced = new_notebook(cells=[new_code_cell("x = 1" + HIDDEN)])
    with pytest.raises(MarkerError, match=r"04_x.ipynb, cell 0: hidden tests belong in a check cell"):
        student.nbgrader_metadata(misplaced, "04_x.ipynb")


def test_hidden_tests_are_removed_from_the_student_version_like_nbgrader_does():
    nb = solution_notebook()
    nb.cells[3].source += HIDDEN
    assert student.remove_hidden_tests(nb.cells[3].source) == "checks.check_psnr(psnr)"
    released = make_student(nb)
    assert released.cells[3].source == "checks.check_psnr(psnr)"
    assert "HIDDEN" not in nbformat.writes(released) and "> 48" not in nbformat.writes(released)
    with pytest.raises(MarkerError, match="never closed"):
        student.remove_hidden_tests("### BEGIN HIDDEN TESTS\nassert 1")


def test_check_mode_reports_a_solution_whose_nbgrader_metadata_is_stale(kit, capsys):
    solutions, notebooks = kit
    student.main([])
    assert student.main(["--check"]) == 0
    nb = read(solutions / "02_more.ipynb")
    nb.cells[0].metadata["nbgrader"]["grade_id"] = "renamed_by_hand"
    nbformat.write(nb, solutions / "02_more.ipynb")
    capsys.readouterr()
    assert student.main(["--check"]) == 1
    assert f"stale: {solutions / '02_more.ipynb'}" in capsys.readouterr().out
    nb.cells[0].metadata.pop("nbgrader")  # missing metadata is stale too
    nbformat.write(nb, solutions / "02_more.ipynb")
    assert student.main(["--check"]) == 1


# ------------------------------------------------------------------------------ any change of a student is kept
def edit_markdown(nb):
    nb.cells[0].source += "\nMy own note."


def add_code_cell(nb):
    nb.cells.insert(3, new_code_cell("print(size * 2)"))


def change_parameters(nb):
    nb.cells[1].source = "size: int = 64  # image side"


def rename_variable(nb):
    nb.cells[1].source = nb.cells[1].source.replace("size", "side")


@pytest.mark.parametrize("edit", [edit_markdown, add_code_cell, change_parameters, rename_variable])
def test_main_backs_up_any_change_a_student_made(kit, capsys, edit):
    """Neither executed nor an exercise filled in, yet the student's own change: it must be backed up."""
    solutions, notebooks = kit
    student.main([])
    path = notebooks / "01_explore.ipynb"
    nb = read(path)
    edit(nb)
    nbformat.write(nb, path)
    edited = path.read_bytes()
    change_the_solution(solutions)
    capsys.readouterr()
    assert student.main([]) == 0
    backups = list((notebooks / "backup").glob("01_explore.*.ipynb"))
    assert len(backups) == 1 and backups[0].read_bytes() == edited
    assert f"kept your work: {path} -> {backups[0]}" in capsys.readouterr().out
    assert read(path).cells[0].source.endswith("A new sentence.")


def test_main_leaves_an_invalid_notebook_alone_and_regenerates_the_others(kit, capsys):
    solutions, notebooks = kit
    student.main([])
    broken = notebooks / "01_explore.ipynb"
    broken.write_text('{"cells": [ half a notebook')
    for path in solutions.glob("*.ipynb"):  # both solutions change: both student notebooks are stale
        nb = read(path)
        nb.cells.append(new_markdown_cell("One more thing."))
        nbformat.write(nb, path)
    capsys.readouterr()
    assert student.main([]) == 1
    out = capsys.readouterr().out
    assert f"left alone: {broken} is not a valid notebook" in out
    assert broken.read_text() == '{"cells": [ half a notebook'
    assert read(notebooks / "02_more.ipynb").cells[-1].source == "One more thing."
    assert f"wrote {notebooks / '02_more.ipynb'}" in out


def test_main_records_what_it_wrote(kit):
    solutions, notebooks = kit
    student.main([])
    record = student.read_record(notebooks)
    assert sorted(record) == ["01_explore.ipynb", "02_more.ipynb"]
    assert student.is_unchanged(notebooks / "02_more.ipynb", record)
    (notebooks / "02_more.ipynb").write_text((notebooks / "02_more.ipynb").read_text() + " ")
    assert not student.is_unchanged(notebooks / "02_more.ipynb", record)
    (solutions / "02_more.ipynb").unlink()  # a notebook removed from the series leaves the record
    student.main([])
    assert sorted(student.read_record(notebooks)) == ["01_explore.ipynb"]


def test_main_writes_atomically(kit, monkeypatch):
    """A write that fails half-way leaves the old notebook whole (helpers.files.atomic_write)."""
    solutions, notebooks = kit
    student.main([])
    before = (notebooks / "02_more.ipynb").read_bytes()
    nb = read(solutions / "02_more.ipynb")
    nb.cells.append(new_markdown_cell("changed"))
    nbformat.write(nb, solutions / "02_more.ipynb")
    calls = []
    monkeypatch.setattr(student, "atomic_write", lambda path, data: calls.append(path) or 1 / 0)
    with pytest.raises(ZeroDivisionError):
        student.main([])
    assert calls and (notebooks / "02_more.ipynb").read_bytes() == before
