"""tools.run: the notebook series under papermill, parameter files filtered per notebook, --only, --summary-only,
timings.json and the report. Tiny fixture notebooks in tmp_path stand in for solutions/.

Pointing it elsewhere: solution_notebooks() reads helpers.paths.SOLUTIONS_DIR when called, and run_series() and
new_run_dir() take their folders as arguments, so those are tested on tmp_path. main() makes its run folder in
runs/ unless --out names another folder: the tests of main() either pass --out under tmp_path or stop before a run
folder is made, and then check that runs/ gained nothing."""

import json
import re

import nbformat
import papermill
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from helpers import data, paths
from tools import report, run
from tools.run import RunError, new_run_dir, parameters_for, read_parameter_file, run_series, solution_notebooks

ALPHA_BODY = """import os, pathlib
from helpers import record
out = pathlib.Path(output_dir)
record.save_metrics(out, {"size": size, "label": label, "cwd": os.getcwd()})
(out / "figure.png").write_bytes(b"not really a png")"""


def notebook(path, parameters, body):
    nb = new_notebook(cells=[new_markdown_cell(f"# {path.stem}"),
                             new_code_cell(parameters, metadata={"tags": ["parameters"]}), new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def series(tmp_path, monkeypatch):
    """solutions/ with 01_alpha (writes metrics into its output_dir), 02_beta (no output_dir), 03_fail (raises),
    and a notes notebook that is not part of the series."""
    folder = tmp_path / "solutions"
    folder.mkdir()
    notebook(folder / "01_alpha.ipynb", 'size: int = 2  # a side\nlabel: str = "x"  # a label\n'
             'output_dir: str = ""  # where to write', ALPHA_BODY)
    notebook(folder / "02_beta.ipynb", "lr: float = 0.1  # learning rate", "print(f'lr is {lr}')")
    notebook(folder / "03_fail.ipynb", "size: int = 2  # a side", "raise ValueError(f'boom {size}')")
    notebook(folder / "notes.ipynb", "x: int = 1  # x", "pass")
    monkeypatch.setattr(paths, "SOLUTIONS_DIR", folder)
    return folder


@pytest.fixture
def no_new_runs(monkeypatch):
    """main() would make its run folder in the real runs/: make sure these tests never get that far."""

    def tripwire(*args, **kwargs):
        pytest.fail("main() went on to make a run folder in the real runs/")  # not an Exception: main can't catch it

    before = set(paths.RUNS_DIR.iterdir()) if paths.RUNS_DIR.exists() else set()
    monkeypatch.setattr(run, "new_run_dir", tripwire)
    yield
    after = set(paths.RUNS_DIR.iterdir()) if paths.RUNS_DIR.exists() else set()
    assert after == before, f"a test wrote into {paths.RUNS_DIR}: {sorted(after - before)}"


def write_yaml(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------------------------- solution_notebooks
def test_solution_notebooks_in_series_order_without_other_notebooks(series):
    assert [p.name for p in solution_notebooks()] == ["01_alpha.ipynb", "02_beta.ipynb", "03_fail.ipynb"]


def test_solution_notebooks_by_number_or_name(series):
    assert [p.stem for p in solution_notebooks(["02"])] == ["02_beta"]
    assert [p.stem for p in solution_notebooks(["03_fail", "01"])] == ["01_alpha", "03_fail"]  # series order


def test_solution_notebooks_refuses_an_unknown_name(series):
    with pytest.raises(RunError, match="no solution notebook called 04, beta; choose from: 01_alpha, 02_beta, 03_fail"):
        solution_notebooks(["01", "04", "beta"])


# ---------------------------------------------------------------------------------------------- read_parameter_file
def test_read_parameter_file(tmp_path):
    path = write_yaml(tmp_path, "batch_size: 64\n02_beta:\n  lr: 0.5\n")
    assert read_parameter_file(path) == {"batch_size": 64, "02_beta": {"lr": 0.5}}
    assert read_parameter_file(write_yaml(tmp_path, "# only a comment\n")) == {}


@pytest.mark.parametrize("text, match", [("a: [1, 2\n", "is not valid YAML"), ("- 1\n- 2\n", "must hold a mapping"),
                                         ("just a string", "not str")])
def test_read_parameter_file_refuses_bad_files(tmp_path, text, match):
    with pytest.raises(RunError, match=match):
        read_parameter_file(write_yaml(tmp_path, text))


def test_read_parameter_file_refuses_a_missing_file(tmp_path):
    with pytest.raises(RunError, match="does not exist"):
        read_parameter_file(tmp_path / "nope.yaml")


# --------------------------------------------------------------------------------------------------- parameters_for
def test_parameters_for_filters_top_level_names_and_applies_sections(series, tmp_path):
    values = {"size": 3, "lr": 0.5, "batch_size": 64, "01_alpha": {"label": "y"}, "02_beta": {"lr": 0.25}}
    alpha = parameters_for(series / "01_alpha.ipynb", values, tmp_path / "out")
    assert alpha == {"size": 3, "label": "y", "output_dir": str(tmp_path / "out")}
    beta = parameters_for(series / "02_beta.ipynb", values, tmp_path / "out")
    assert beta == {"lr": 0.25}  # its own section wins; no output_dir declared, none passed
    assert parameters_for(series / "03_fail.ipynb", {}, tmp_path) == {}


def test_parameters_for_refuses_an_unknown_name_in_a_notebook_section(series, tmp_path):
    with pytest.raises(RunError, match=r"02_beta.ipynb has no parameter batch_sise, size; it has: lr"):
        parameters_for(series / "02_beta.ipynb", {"02_beta": {"size": 1, "batch_sise": 2}}, tmp_path)


def test_parameters_for_refuses_a_section_that_is_not_a_mapping(series, tmp_path):
    with pytest.raises(RunError, match="02_beta in the parameter file must be a mapping"):
        parameters_for(series / "02_beta.ipynb", {"02_beta": 3}, tmp_path)


# ------------------------------------------------------------------------------------------------------ new_run_dir
def test_new_run_dir_is_always_a_fresh_folder(tmp_path):
    first, second, third = new_run_dir(tmp_path), new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert len({first, second, third}) == 3
    assert all(p.is_dir() and p.parent == tmp_path and not any(p.iterdir()) for p in (first, second, third))
    assert re.fullmatch(r"\d{8}-\d{6}", first.name)
    assert re.fullmatch(r"\d{8}-\d{6}(-\d+)?", third.name)


def test_new_run_dir_creates_the_runs_folder(tmp_path):
    assert new_run_dir(tmp_path / "runs").parent == tmp_path / "runs"


# ------------------------------------------------------------------------------------------------------- run_series
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_run_series_runs_each_notebook_with_its_parameters(series, tmp_path, capsys):
    run_dir = new_run_dir(tmp_path / "runs")
    values = {"size": 3, "lr": 0.5, "unused": 1, "01_alpha": {"label": "y"}}
    timings = run_series(solution_notebooks(["01", "02"]), values, run_dir)

    assert list(timings) == ["01_alpha", "02_beta"] and all(t >= 0 for t in timings.values())
    assert json.loads((run_dir / "timings.json").read_text()) == timings
    out = capsys.readouterr().out
    assert "== 01_alpha  (size=3, label=y)" in out and "== 02_beta  (lr=0.5)" in out
    # executed notebooks beside the output folders, parameters injected
    alpha = nbformat.read(run_dir / "01_alpha.ipynb", as_version=4)
    injected = [c for c in alpha.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "size = 3" in injected[0].source and "label = \"y\"" in injected[0].source
    beta = nbformat.read(run_dir / "02_beta.ipynb", as_version=4)
    assert "lr is 0.5" in "".join(o.get("text", "") for c in beta.cells if c.cell_type == "code" for o in c.outputs)
    # the notebook ran in its own folder and wrote into run_dir/<name>/
    metrics = json.loads((run_dir / "01_alpha" / "metrics.json").read_text())
    assert metrics == {"size": 3, "label": "y", "cwd": str(series)}
    assert not (run_dir / "03_fail.ipynb").exists()
    # the sources are untouched
    assert not any(c.get("outputs") for c in nbformat.read(series / "01_alpha.ipynb", as_version=4).cells)

    report.write_report(run_dir, timings)
    md = (run_dir / "report.md").read_text()
    assert "| label | y |" in md and "| size | 3 |" in md and "![figure](01_alpha/figure.png)" in md
    assert "## 02_beta" in md


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_run_series_stops_at_a_failure_and_keeps_its_timing(series, tmp_path):
    run_dir = new_run_dir(tmp_path)
    with pytest.raises(papermill.PapermillExecutionError, match="boom 5"):
        run_series(solution_notebooks(["03"]), {"size": 5}, run_dir)
    assert list(json.loads((run_dir / "timings.json").read_text())) == ["03_fail"]
    assert (run_dir / "03_fail.ipynb").exists()  # the executed notebook holds the traceback


# ------------------------------------------------------------------------------------------------------------- main
@pytest.fixture
def fake_dataset(monkeypatch, tmp_path):
    """main() prints the dataset's summary first: a fixed one here (helpers.data is tested on its own)."""
    summary = {"kind": "image folder", "root": tmp_path, "n_references": 2, "n_jpeg": 4, "qualities": [50, 75],
               "size_min": (16, 16), "size_max": (32, 24), "bpp_min": 0.5, "bpp_max": 2.0, "bpp_mean": 1.25,
               "total_bytes": 12_000}
    monkeypatch.setattr(data, "default_dataset_root", lambda: tmp_path)
    monkeypatch.setattr(data, "dataset_summary", lambda root: summary if root == tmp_path else None)
    return summary


def test_main_summary_only(series, fake_dataset, no_new_runs, capsys):
    assert run.main(["--summary-only"]) == 0
    out = capsys.readouterr().out
    assert out.strip() == data.format_summary(fake_dataset)
    assert "references      2" in out


def test_main_reports_a_data_error(series, monkeypatch, no_new_runs, capsys):
    def broken():
        raise data.DataError("data/databaserelease2: not a LIVE release 2 folder")

    monkeypatch.setattr(data, "default_dataset_root", broken)
    assert run.main([]) == 2
    assert "error: data/databaserelease2: not a LIVE release 2 folder" in capsys.readouterr().err


def test_main_refuses_an_unknown_notebook(series, fake_dataset, no_new_runs, capsys):
    assert run.main(["--only", "09"]) == 2
    assert "error: no solution notebook called 09; choose from: 01_alpha, 02_beta, 03_fail" in capsys.readouterr().err


@pytest.mark.parametrize("text, match", [
    ("02_beta:\n  learning_rate: 0.1\n", "02_beta.ipynb has no parameter learning_rate; it has: lr"),
    ("02_beat:\n  lr: 0.1\n", r"no notebook called 02_beat; choose from: 01_alpha, 02_beta, 03_fail"),
    ("a: [1\n", "is not valid YAML"),
])
def test_main_checks_the_parameter_file_before_running_anything(series, fake_dataset, no_new_runs, capsys, tmp_path,
                                                                 text, match):
    assert run.main(["--only", "02", "-f", str(write_yaml(tmp_path, text))]) == 2
    assert re.search(match, capsys.readouterr().err)


def test_main_checks_each_value_against_its_declared_type_as_the_sweep_does(series, fake_dataset, no_new_runs,
                                                                          monkeypatch, capsys, tmp_path):
    """Before: a value of the wrong type (size: "big" for `size: int`) passed the checks; the notebook failed on it
    only when its turn came, after the notebooks before it had run (hours, with full_size.yaml)."""
    from tools import sweep

    monkeypatch.setattr(run, "run_series", lambda *args: pytest.fail("a notebook ran before the values were checked"))
    bad = write_yaml(tmp_path, "size: big\n")
    assert run.main(["-f", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: params.yaml for 01_alpha: size=big is not a valid int (give a whole number)"), err
    assert sweep.main([str(series / "01_alpha.ipynb"), "-f", str(bad), "--out", str(tmp_path / "sweep")]) == 2
    swept = capsys.readouterr().err.strip()
    assert swept.startswith("sweep: error: params.yaml: size=big")
    assert err.split(": ", 2)[2] == swept.split(": ", 3)[3]        # the same message after where it comes from
    assert not (tmp_path / "sweep").exists()


def test_parameters_for_converts_values_to_their_declared_types(series, tmp_path):
    """As the sweep passes them: YAML reads 1e-3 as a text, and papermill would inject lr = "1e-3"."""
    values = {"lr": "1e-3", "01_alpha": {"size": 4.0, "label": 7}}
    assert parameters_for(series / "02_beta.ipynb", values, tmp_path) == {"lr": 0.001}
    assert parameters_for(series / "01_alpha.ipynb", values, tmp_path) == {"size": 4, "label": "7",
                                                                            "output_dir": str(tmp_path)}


def test_main_with_no_solution_notebooks(tmp_path, fake_dataset, no_new_runs, monkeypatch, capsys):
    monkeypatch.setattr(paths, "SOLUTIONS_DIR", tmp_path / "empty")
    assert run.main([]) == 0
    assert "nothing more to run" in capsys.readouterr().out


def test_the_full_size_parameter_file_fits_every_notebook(tmp_path):
    """params/full_size.yaml names only parameters the notebooks declare, with values of the declared types
    (a typo there would only surface hours into a GPU run)."""
    from tools.notebook_parameters import checked_value, notebook_parameters

    values = run.read_parameter_file(paths.REPO_ROOT / "params" / "full_size.yaml")
    sections = {k for k, v in values.items() if isinstance(v, dict)}
    notebooks = run.solution_notebooks()
    assert sections <= {nb.stem for nb in notebooks}, "a section names no solution notebook"
    for notebook in notebooks:
        declared = notebook_parameters(notebook)
        chosen = run.parameters_for(notebook, values, tmp_path)
        for name, value in chosen.items():
            checked_value(name, value, declared, f"full_size.yaml for {notebook.stem}")
    assert run.parameters_for(paths.SOLUTIONS_DIR / "08_rate_distortion.ipynb", values, tmp_path)["lr"] == 0.0005


def test_notebooks_run_in_the_kits_own_kernel_when_it_is_installed(monkeypatch):
    """`make setup` installs the kernel "neural-compression-kit" into .venv; run and sweep use it, so that a
    user's own "python3" kernel (another Python, in ~/.local/share/jupyter) cannot shadow the kit's."""
    import os
    import sys

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    from tools import kernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel.KIT_KERNEL)
    except NoSuchKernel:
        assert kernel.kernel_name() == "python3"
    else:
        assert kernel.kernel_name() == kernel.KIT_KERNEL
        assert os.path.realpath(spec.argv[0]) == os.path.realpath(sys.executable)
    monkeypatch.setattr(kernel, "KIT_KERNEL", "no-such-kernel-of-the-kit")
    assert kernel.kernel_name() == "python3"


def test_make_setup_installs_the_kits_kernel():
    from tools import kernel

    makefile = (paths.REPO_ROOT / "Makefile").read_text()
    assert f"ipykernel install --sys-prefix --name {kernel.KIT_KERNEL}" in makefile


def test_a_notebook_runs_in_the_kits_kernel_without_the_tcp_warning(tmp_path, capfd):
    """tools.execute (papermill with kernel_config()): the kernel's sockets are encrypted, so ipykernel does not warn
    that it runs "over TCP without encryption", and the notebook runs in this Python."""
    import os
    import sys

    from tools import kernel
    from tools.execute import execute_notebook

    nb = new_notebook(cells=[new_code_cell("import sys\nprint(sys.executable)")])
    nbformat.write(nb, tmp_path / "a.ipynb")
    execute_notebook(tmp_path / "a.ipynb", tmp_path / "b.ipynb", {}, cwd=tmp_path)     # run's and sweep's runner
    assert "without encryption" not in capfd.readouterr().err
    printed = nbformat.read(tmp_path / "b.ipynb", as_version=4).cells[0].outputs[0]["text"].strip()
    if kernel.kernel_name() == kernel.KIT_KERNEL:
        assert os.path.realpath(printed) == os.path.realpath(sys.executable)


# ---------------------------------------------------------------------------------------------------- output paths
def test_main_refuses_an_out_that_is_a_file_before_any_work(series, no_new_runs, monkeypatch, tmp_path, capsys):
    """Before: there was no --out (runs/ only)."""
    monkeypatch.setattr(data, "default_dataset_root", lambda: pytest.fail("worked before refusing --out"))
    out = tmp_path / "notes.txt"
    out.write_text("mine")
    assert run.main(["--out", str(out)]) == 2
    assert "notes.txt is an existing file" in capsys.readouterr().err and out.read_text() == "mine"
    (tmp_path / "link").symlink_to(series)
    for inside in (series, series / "runs", tmp_path / "link"):       # executed notebooks among the sources
        assert run.main(["--out", str(inside)]) == 2
        assert "input" in capsys.readouterr().err
    assert sorted(p.name for p in series.iterdir()) == ["01_alpha.ipynb", "02_beta.ipynb", "03_fail.ipynb",
                                                        "notes.ipynb"]


def test_main_makes_its_run_folder_under_out(series, fake_dataset, monkeypatch, tmp_path):
    made = []
    monkeypatch.setattr(run, "run_series", lambda notebooks, values, run_dir: made.append(run_dir) or {})
    monkeypatch.setattr(report, "write_report", lambda run_dir, timings: run_dir / "report.html")
    assert run.main(["--only", "02", "--out", str(tmp_path / "elsewhere")]) == 0
    assert len(made) == 1 and made[0].parent == tmp_path / "elsewhere" and made[0].is_dir()


def test_an_interrupted_timings_write_leaves_the_previous_file(series, tmp_path, monkeypatch):
    from pathlib import Path

    run_dir = new_run_dir(tmp_path)
    (run_dir / "timings.json").write_text('{"00_before": 1.0}\n')
    real_write = Path.write_bytes

    def half_then_interrupt(self, data):
        real_write(self, data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: None)
    monkeypatch.setattr(Path, "write_bytes", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_series(solution_notebooks(["02"]), {}, run_dir)
    monkeypatch.undo()
    assert (run_dir / "timings.json").read_text() == '{"00_before": 1.0}\n'
    assert sorted(p.name for p in run_dir.iterdir()) == ["timings.json"]
