"""tools.sweep: name and value checks (helpers.params' typing itself is tested in test_params.py), run ids, a small
grid with a failing value, resume (also after kill -9), timeouts, the Dask path and the aggregated results. The notebooks are tiny fixtures written here (no torch, no
data); each run still starts a kernel (1-3 s on a busy 2-core machine), so the grids stay small."""

import contextlib
import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from tools import sweep
from tools.sweep import main, make_run_id, plan_sweep, rebuild_results

PARAMS = '''from typing import Optional
x: int = 1  # the input
scale: float = 1.0  # a factor
mode: str = "a"  # a label
flag: bool = False  # a switch
sizes: list[int] = [1, 2]  # a list
cap: Optional[int] = None  # an optional bound
delay: float = 0.0  # seconds to sleep
output_dir: str = ""  # where metrics.json goes
'''

BODY = '''import time
from helpers import record
if x < 0:
    raise ValueError(f"x must be >= 0, got {x}")
time.sleep(delay)
record.save_metrics(output_dir, {"y": x * scale, "mode": mode, "nested": {"sq": x * x}, "n_sizes": len(sizes)})
'''


def write_notebook(path, params=PARAMS, body=BODY):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(params)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# fixture"), cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def notebook(tmp_path):
    return write_notebook(tmp_path / "fixture.ipynb")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def error_line(capsys):
    """What main() printed to stderr for a bad command: a message, no traceback, nothing started."""
    err = capsys.readouterr().err.strip()
    assert err.startswith("sweep: error: ") and "Traceback" not in err, err
    return err


def run_main(argv):
    """main(argv) with its stdout captured: (exit code, stdout)."""
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(argv)
    return rc, stdout.getvalue()


# -- run ids (no kernel) ---------------------------------------------------------------------------------------

def test_run_ids_are_stable_readable_and_safe():
    assert make_run_id({"lr": 0.001, "latent_dim": 16}) == "latent_dim=16__lr=0.001"
    assert make_run_id({"latent_dim": 16, "lr": 1e-3}) == "latent_dim=16__lr=0.001"
    assert make_run_id({"latent_dims": [8, 32]}) == "latent_dims=8,32"
    assert make_run_id({}) == "default"
    odd = make_run_id({"mode": "a/b"})
    assert odd.startswith("mode=a_b__") and "/" not in odd and odd != make_run_id({"mode": "a_b"})
    long = make_run_id({"name": "x" * 300})
    assert len(long) <= sweep.MAX_ID_LEN and long != make_run_id({"name": "x" * 301})


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


SWEEP_FILES = sorted((Path(sweep.__file__).parent.parent / "sweeps").glob("*.yaml"))


@pytest.mark.parametrize("path", SWEEP_FILES, ids=[p.name for p in SWEEP_FILES])
def test_the_example_sweep_files_fit_their_notebooks(path, tmp_path):
    notebook = path.parent.parent / "solutions" / f"{path.name.split('.')[0]}.ipynb"
    if not notebook.exists():
        pytest.skip(f"{notebook.name} is not written yet")
    planned = plan_sweep(notebook, (), path, tmp_path / "out")
    assert len(planned.runs) >= 2 and planned.swept


def test_a_folder_with_another_run_of_the_same_name_is_never_overwritten(notebook, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "x=1").mkdir(parents=True)
    foreign = {"run_id": "x=1", "notebook": "other.ipynb", "params": {"x": 1}, "status": "ok", "error": "",
               "metrics": {"y": 9}, "seconds": 1.0}
    (out / "x=1" / "result.json").write_text(json.dumps(foreign))
    assert main([str(notebook), "--grid", "x=1,2", "--out", str(out)]) == 2
    assert "other.ipynb" in error_line(capsys)
    assert json.loads((out / "x=1" / "result.json").read_text()) == foreign
    assert not (out / "x=2").exists()

    mine = tmp_path / "mine"                           # a folder of the user's named like a run
    (mine / "x=1").mkdir(parents=True)
    (mine / "x=1" / "notes.txt").write_text("mine")
    assert main([str(notebook), "--grid", "x=1,2", "--out", str(mine)]) == 2
    assert "in the way" in error_line(capsys) and (mine / "x=1" / "notes.txt").read_text() == "mine"
    (mine / "x=1" / "notes.txt").unlink()              # an empty folder is taken (a run cut off at its start)
    (mine / "results.csv").write_text("a,b\n1,2\n")    # a results.csv that no sweep wrote
    assert main([str(notebook), "--grid", "x=1,2", "--out", str(mine)]) == 2
    assert "not written by a sweep" in error_line(capsys) and (mine / "results.csv").read_text() == "a,b\n1,2\n"


def test_a_second_sweep_into_the_same_folder_is_refused_while_one_runs(notebook, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    held = sweep.FolderLock(out)
    try:
        assert main([str(notebook), "--grid", "x=1", "--out", str(out), "--no-progress"]) == 2
        assert "another sweep" in error_line(capsys)
    finally:
        held.close()
    assert not (out / "x=1").exists()


def test_dry_run_lists_the_runs(notebook, tmp_path, capsys):
    assert main([str(notebook), "--grid", "x=1,2", "--grid", "sizes=[1],[2,3]", "--dry-run",
                 "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "sizes=2,3__x=1  to run" in out and "4 runs" in out
    assert not (tmp_path / "out").exists()


# -- real runs --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory):
    """x in (1, 2, -1) with --jobs 2 and a fixed list value; the notebook raises for -1."""
    tmp = tmp_path_factory.mktemp("small")
    nb = write_notebook(tmp / "fixture.ipynb")
    out = tmp / "out"
    argv = [str(nb), "--grid", "x=1,2,-1", "--grid", "sizes=[1,2,3]", "--jobs", "2", "--out", str(out),
            "--no-progress"]
    rc, stdout = run_main(argv)
    return {"nb": nb, "out": out, "argv": argv, "rc": rc, "stdout": stdout}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_failing_value_does_not_stop_the_others(small_sweep):
    assert small_sweep["rc"] == 1                  # some run failed
    rows = {r["x"]: r for r in read_csv(small_sweep["out"] / "results.csv")}
    assert {x: r["status"] for x, r in rows.items()} == {"1": "ok", "2": "ok", "-1": "failed"}
    assert rows["-1"]["error"] == "ValueError: x must be >= 0, got -1"
    assert rows["1"]["error"] == "" and rows["-1"]["y"] == ""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_results_csv_and_run_folders(small_sweep):
    out = small_sweep["out"]
    rows = read_csv(out / "results.csv")
    assert list(rows[0]) == ["run_id", "notebook", "x", "sizes", "status", "error", "mode", "n_sizes", "nested.sq",
                             "y", "seconds"]
    assert [r["x"] for r in rows] == ["-1", "1", "2"]                   # sorted as numbers, not as text
    row = rows[2]
    assert row["run_id"] == "sizes=1,2,3__x=2" == make_run_id({"x": 2, "sizes": [1, 2, 3]})
    assert (row["y"], row["mode"], row["nested.sq"], row["n_sizes"], row["sizes"]) == ("2.0", "a", "4", "3",
                                                                                         "[1, 2, 3]")
    assert float(row["seconds"]) > 0
    run = out / row["run_id"]
    assert json.loads((run / "metrics.json").read_text())["y"] == 2.0
    executed = nbformat.read(str(run / "fixture.ipynb"), as_version=4)
    injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "x = 2" in injected[0].source and f'output_dir = "{run}"' in injected[0].source
    result = json.loads((run / "result.json").read_text())
    assert result["status"] == "ok" and result["params"] == {"x": 2, "sizes": [1, 2, 3]}
    failed = out / rows[0]["run_id"]
    assert (failed / "fixture.ipynb").exists() and not (failed / "metrics.json").exists()
    assert not list(out.rglob("*.tmp"))                              # atomic writes leave no temporary file


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_table_and_plot(small_sweep):
    png = small_sweep["out"] / "plot_fixture_vs_x.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = small_sweep["stdout"]
    assert "status" in table and "nested.sq" in table and "ValueError: x must be >= 0" in table
    assert "3 runs: 2 ok, 1 failed (3 run now, 0 already done)" in table


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_rerun_skips_retries_failed_and_adds_new_grids(small_sweep, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(small_sweep["out"], out)
    argv = [*small_sweep["argv"][:-3], "--out", str(out), "--no-progress"]
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")}

    rc, stdout = run_main(argv)                        # nothing to run: the failed run stays failed
    assert rc == 1 and "(0 run now, 3 already done)" in stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/result.json")} == stamps

    rc, stdout = run_main([*argv, "--retry-failed"])   # only the failed run runs again (and fails again)
    assert rc == 1 and "(1 run now, 2 already done)" in stdout
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/result.json") if "-1" not in p.parent.name} == {
        p: t for p, t in stamps.items() if "-1" not in p.parent.name}

    # another grid in the same folder, over a list parameter: its rows are added to results.csv
    rc, stdout = run_main([str(small_sweep["nb"]), "--grid", "x=3", "--grid", "sizes=[5],[6,7]", "--out", str(out),
                           "--no-progress"])
    assert rc == 0 and "(2 run now, 0 already done)" in stdout
    rows = {r["run_id"]: r for r in read_csv(out / "results.csv")}
    assert len(rows) == 5
    assert (rows["sizes=5__x=3"]["sizes"], rows["sizes=5__x=3"]["n_sizes"]) == ("[5]", "1")
    assert (rows["sizes=6,7__x=3"]["sizes"], rows["sizes=6,7__x=3"]["n_sizes"]) == ("[6, 7]", "2")
    assert (out / "plot_fixture_vs_sizes.png").exists() and (out / "plot_fixture_vs_x.png").exists()


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_run_over_the_timeout_fails_and_its_processes_go(notebook, tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    t0 = time.monotonic()
    rc, _ = run_main([str(notebook), "--grid", "delay=60", "--timeout", "5", "--out", str(out), "--no-progress"])
    assert rc == 1 and time.monotonic() - t0 < 40
    (row,) = read_csv(out / "results.csv")
    assert row["status"] == "failed" and "--timeout 5 s" in row["error"]
    time.sleep(0.5)
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_resume_after_kill_9_loses_no_finished_run(notebook, tmp_path):
    psutil = pytest.importorskip("psutil")
    out = tmp_path / "out"
    argv = [str(notebook), "--grid", "x=1,2,3", "--grid", "delay=1.5", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "tools.sweep", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=Path(sweep.__file__).parent.parent)
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/result.json")):
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no run finished in time"
            time.sleep(0.1)
        while len(list(out.glob("*/runner.log"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)                           # the second run has started: kill the sweep mid-way
        family = psutil.Process(proc.pid).children(recursive=True)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    gone, alive = psutil.wait_procs(family, timeout=20)   # the run and its kernel die with the sweep
    assert not alive, alive

    finished = {p.parent.name: p.read_text() for p in out.glob("*/result.json")}
    assert 1 <= len(finished) < 3
    rc, stdout = run_main(argv)
    assert rc == 0 and f"({3 - len(finished)} run now, {len(finished)} already done)" in stdout
    rows = read_csv(out / "results.csv")
    assert [(r["x"], r["status"], r["y"]) for r in rows] == [("1", "ok", "1.0"), ("2", "ok", "2.0"),
                                                              ("3", "ok", "3.0")]
    for run_id, text in finished.items():              # finished runs were kept, not redone
        assert (out / run_id / "result.json").read_text() == text


@pytest.fixture
def dask_scheduler():
    """A Dask LocalCluster on loopback: one worker with two threads, in this process (each run is a child
    process anyway), closed after the test."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, protocol="tcp",
                                  host="127.0.0.1", dashboard_address=":0") as cluster:
        yield cluster.scheduler_address


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_dask_path(notebook, tmp_path, dask_scheduler):
    assert dask_scheduler.startswith("tcp://127.0.0.1:")
    out = tmp_path / "out"
    rc, stdout = run_main([str(notebook), "--grid", "x=2,-1", "--scheduler", dask_scheduler, "--out", str(out),
                           "--no-progress"])
    assert rc == 1 and "(2 run now, 0 already done)" in stdout
    rows = {r["x"]: r for r in read_csv(out / "results.csv")}
    assert rows["2"]["status"] == "ok" and rows["2"]["y"] == "2.0"
    assert rows["-1"]["status"] == "failed" and rows["-1"]["error"] == "ValueError: x must be >= 0, got -1"
    assert {p.name for p in (out / "x=2").iterdir()} == {"fixture.ipynb", "metrics.json", "result.json",
                                                         "runner.log", ".sweep-files"}
    assert (out / "plot_fixture_vs_x.png").exists()
    rc, stdout = run_main([str(notebook), "--grid", "x=2,3", "--scheduler", dask_scheduler, "--out", str(out),
                           "--no-progress"])           # finished runs are taken from DIR, not sent again
    assert rc == 0 and "(1 run now, 1 already done)" in stdout


def test_rebuild_results_on_an_empty_or_missing_folder(tmp_path):
    assert rebuild_results(tmp_path) == []
    assert read_csv(tmp_path / "results.csv") == []
    assert rebuild_results(tmp_path / "missing") == [] and not (tmp_path / "missing").exists()


# -- output paths and what a redo may remove ----------------------------------------------------------------------

def test_an_out_that_is_a_file_is_refused_at_once(notebook, tmp_path, capsys, monkeypatch):
    """Before: the notebook was inspected, then the sweep failed with a traceback when it made the folder."""
    monkeypatch.setattr(sweep, "notebook_parameters", lambda *a: pytest.fail("worked before refusing --out"))
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


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_redoing_a_cut_off_run_removes_only_what_the_sweep_wrote(notebook, tmp_path, capsys):
    """Before: the cut-off run's folder was removed whole (shutil.rmtree), a file of the user's with it."""
    out = tmp_path / "out"
    run = out / "x=1"
    run.mkdir(parents=True)
    (run / "runner.log").write_text("cut off")              # a run that was killed ...
    (run / "fixture.ipynb").write_text("{half a notebook")
    (run / "metrics.json").write_text('{"y": 99}')          # ... with a stale metrics.json
    (run / "notes.txt").write_text("my notes on this run")  # and a file the user put there since
    (run / "mine").mkdir()
    (run / "mine" / "a.txt").write_text("mine too")
    rc, _ = run_main([str(notebook), "--grid", "x=1", "--out", str(out), "--no-progress"])
    assert rc == 0
    assert (run / "notes.txt").read_text() == "my notes on this run" and (run / "mine" / "a.txt").exists()
    assert "kept: mine/a.txt, notes.txt" in capsys.readouterr().err
    assert json.loads((run / "metrics.json").read_text())["y"] == 1.0          # the new run's, not the stale one
    assert json.loads((run / "result.json").read_text())["status"] == "ok"
    recorded = json.loads((run / ".sweep-files").read_text())
    assert "notes.txt" not in recorded and {"runner.log", "fixture.ipynb", "metrics.json"} <= set(recorded)
    # --retry-failed on a failed run: its recorded files go, the user's stay
    (run / "result.json").write_text(json.dumps({**json.loads((run / "result.json").read_text()),
                                                 "status": "failed"}))
    rc, _ = run_main([str(notebook), "--grid", "x=1", "--out", str(out), "--no-progress", "--retry-failed"])
    assert rc == 0 and (run / "notes.txt").exists() and (run / "mine" / "a.txt").exists()


def test_an_interrupted_results_write_leaves_the_previous_results_csv(tmp_path, monkeypatch):
    (tmp_path / "x=1").mkdir()
    (tmp_path / "x=1" / "result.json").write_text(json.dumps(
        {"run_id": "x=1", "notebook": "n.ipynb", "params": {"x": 1}, "status": "ok", "error": "",
         "metrics": {"y": 1}, "seconds": 1.0}))
    rebuild_results(tmp_path)
    before = (tmp_path / "results.csv").read_bytes()
    (tmp_path / "x=1" / "result.json").write_text((tmp_path / "x=1" / "result.json").read_text()
                                                 .replace('"y": 1', '"y": 2'))
    real_write = Path.write_bytes

    def half_then_interrupt(self, data):
        real_write(self, data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        rebuild_results(tmp_path)
    monkeypatch.undo()
    assert (tmp_path / "results.csv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "x=1"]
