"""tools.sweep end to end: a small grid with a failing value (runner, cli), the table and the plot (summary), resume
(also after kill -9), timeouts and the Dask path (dask_runs). The notebooks are tiny fixtures (sweep_fixtures.py: no
torch, no data); each run still starts a kernel (1-3 s on a busy 2-core machine), so the grids stay small. The
checks before a run are in test_sweep_plan.py, the output folder's rules in test_sweep_store.py."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from helpers import paths
from sweep_fixtures import notebook, read_csv, run_main, write_notebook  # noqa: F401 (notebook: a fixture)
from tools.sweep import make_run_id


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
                            stderr=subprocess.DEVNULL, cwd=paths.REPO_ROOT)
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
