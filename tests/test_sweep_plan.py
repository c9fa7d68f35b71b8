"""tools.sweep.plan: every name and value checked against the notebook, the runs listed and named, --out checked,
before anything runs or is written (no kernel is started here)."""

import shutil

import pytest

from helpers import paths
from sweep_fixtures import error_line, main, notebook  # noqa: F401 (notebook: a fixture)
from tools.sweep import make_run_id, plan, plan_sweep


def test_run_ids_are_stable_readable_and_safe():
    assert make_run_id({"lr": 0.001, "latent_dim": 16}) == "latent_dim=16__lr=0.001"
    assert make_run_id({"latent_dim": 16, "lr": 1e-3}) == "latent_dim=16__lr=0.001"
    assert make_run_id({"latent_dims": [8, 32]}) == "latent_dims=8,32"
    assert make_run_id({}) == "default"
    odd = make_run_id({"mode": "a/b"})
    assert odd.startswith("mode=a_b__") and "/" not in odd and odd != make_run_id({"mode": "a_b"})
    long = make_run_id({"name": "x" * 300})
    assert len(long) <= plan.MAX_ID_LEN and long != make_run_id({"name": "x" * 301})


# -- checks on the command line: nothing runs, nothing is written -----------------------------------------------

def test_unknown_name_is_an_error_listing_the_valid_names(notebook, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(notebook), "--grid", "scal=1,2", "--out", str(out)]) == 2
    line = error_line(capsys)
    assert "'scal'" in line and "did you mean scale?" in line and "x, scale, mode, flag, sizes, cap, delay" in line
    assert not out.exists()


def test_bad_value_is_an_error_naming_the_parameter_and_type(notebook, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([str(notebook), "--grid", "x=1,two", "--out", str(out)]) == 2
    line = error_line(capsys)
    assert "x=two" in line and "not a valid int" in line and "the input" in line
    assert main([str(notebook), "--grid", "flag=true,perhaps", "--out", str(out)]) == 2
    assert "flag=perhaps" in error_line(capsys)
    assert main([str(notebook), "--grid", "sizes=3", "--out", str(out)]) == 2
    assert "sizes=3 is not a valid list[int] (write a list in brackets" in error_line(capsys)
    assert main([str(notebook), "--grid", "output_dir=/tmp", "--out", str(out)]) == 2
    assert "set by the sweep" in error_line(capsys)
    assert main([str(notebook), "--grid", "x=1", "--grid", "x=2", "--out", str(out)]) == 2
    assert "given twice" in error_line(capsys)
    assert main([str(notebook), "--grid", "x", "--out", str(out)]) == 2
    assert "NAME=V1,V2" in error_line(capsys)
    assert main([str(notebook), "--grid", "x=1", "--jobs", "0", "--out", str(out)]) == 2
    assert "--jobs 0" in error_line(capsys)
    assert main([str(tmp_path / "missing.ipynb"), "--grid", "x=1"]) == 2
    assert "missing.ipynb not found" in error_line(capsys)
    assert main([str(notebook), "--grid", "x=1", "--scheduler", "nonsense", "--out", str(out)]) == 2
    assert "Dask scheduler at nonsense" in error_line(capsys)
    assert not any(out.glob("*/result.json"))


def test_params_file_fixed_values_grid_and_errors(notebook, tmp_path, capsys):
    f = tmp_path / "p.yaml"
    f.write_text("scale: 2\nflag: yes\ngrid:\n  x: [1, 2]\n  mode: [a, b]\n")
    s = plan_sweep(notebook, ["mode=c"], f, tmp_path / "out")        # --grid replaces the file's entry
    assert [r.params for r in s.runs] == [{"x": 1, "scale": 2.0, "mode": "c", "flag": True},
                                          {"x": 2, "scale": 2.0, "mode": "c", "flag": True}]
    assert s.runs[0].run_id == "flag=True__mode=c__scale=2.0__x=1"
    assert s.swept == ["x"]
    s = plan_sweep(notebook, ["scale=0.5,1e0,1"], f, tmp_path / "out")   # and a fixed one
    assert s.grid["scale"] == [0.5, 1.0] and len(s.runs) == 8            # 1e0 and 1 are one value

    for text, words in [("grid:\n  nope: [1]\n", ["'nope'", "p.yaml"]),
                        ("x: [1, 2]\n", ["x=[1, 2]", "not a valid int"]),
                        ("grid: [1, 2]\n", ["grid:"]),
                        ("grid:\n  sizes: [1, 2]\n", ["sizes=1", "not a valid list"]),
                        ("x: [1\n", ["not valid YAML"])]:
        f.write_text(text)
        assert main([str(notebook), "-f", str(f), "--out", str(tmp_path / "out")]) == 2
        line = error_line(capsys)
        assert all(w in line for w in words), line
    assert not (tmp_path / "out").exists()


SWEEP_FILES = sorted((paths.REPO_ROOT / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=[p.name for p in SWEEP_FILES])
def test_the_example_sweep_files_fit_their_notebooks(path, tmp_path):
    notebook = path.parent.parent / "solutions" / f"{path.name.split('.')[0]}.ipynb"
    if not notebook.exists():
        pytest.skip(f"{notebook.name} is not written yet")
    planned = plan_sweep(notebook, (), path, tmp_path / "out")
    assert len(planned.runs) >= 2 and planned.swept


def test_dry_run_lists_the_runs(notebook, tmp_path, capsys):
    assert main([str(notebook), "--grid", "x=1,2", "--grid", "sizes=[1],[2,3]", "--dry-run",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "sizes=2,3__x=1  to run" in out and "4 runs" in out
    assert not (tmp_path / "out").exists()


# -- output paths ---------------------------------------------------------------------------------------------------

def test_an_out_that_is_a_file_is_refused_at_once(notebook, tmp_path, capsys, monkeypatch):
    """Before: the notebook was inspected, then the sweep failed with a traceback when it made the folder."""
    monkeypatch.setattr(plan, "notebook_parameters", lambda *a: pytest.fail("worked before refusing --out"))
    out = tmp_path / "results.csv"
    out.write_text("mine")
    assert main([str(notebook), "--grid", "x=1", "--out", str(out)]) == 2
    assert "results.csv is an existing file" in error_line(capsys) and out.read_text() == "mine"


def test_an_out_that_holds_the_sweeps_input_is_refused(notebook, tmp_path, capsys):
    """Before: --out holding an earlier run's notebook, swept again, removed that notebook (its own input) first."""
    (tmp_path / "params.yaml").write_text("x: 2\n")
    for argv in ([str(notebook), "--grid", "x=1", "--out", str(tmp_path)],
                 [str(notebook), "--grid", "x=1", "--out", str(tmp_path / "link")],
                 [str(notebook), "-f", str(tmp_path / "params.yaml"), "--out", str(tmp_path / "sub" / "..")]):
        if not (tmp_path / "link").exists():
            (tmp_path / "link").symlink_to(tmp_path)
        assert main(argv) == 2
        assert "holds the sweep's input" in error_line(capsys)
    run = tmp_path / "out" / "default"
    run.mkdir(parents=True)
    shutil.copy(notebook, run / "fixture.ipynb")
    (run / "runner.log").write_text("a cut-off run")
    before = (run / "fixture.ipynb").read_bytes()
    assert main([str(run / "fixture.ipynb"), "--out", str(tmp_path / "out")]) == 2
    assert "holds the sweep's input" in error_line(capsys) and (run / "fixture.ipynb").read_bytes() == before
