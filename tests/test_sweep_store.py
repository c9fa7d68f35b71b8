"""tools.sweep.store: a sweep's output folder. A folder that holds another run is never overwritten, a second sweep
is locked out, results.csv is rebuilt atomically, and a redo removes only the files the sweep wrote."""

import json
from pathlib import Path

import pytest

from sweep_fixtures import error_line, main, notebook, read_csv, run_main  # noqa: F401 (notebook: a fixture)
from tools.sweep import FolderLock, rebuild_results


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
    held = FolderLock(out)
    try:
        assert main([str(notebook), "--grid", "x=1", "--out", str(out), "--no-progress"]) == 2
        assert "another sweep" in error_line(capsys)
    finally:
        held.close()
    assert not (out / "x=1").exists()


def test_rebuild_results_on_an_empty_or_missing_folder(tmp_path):
    assert rebuild_results(tmp_path) == []
    assert read_csv(tmp_path / "results.csv") == []
    assert rebuild_results(tmp_path / "missing") == [] and not (tmp_path / "missing").exists()


# -- what a redo may remove; interrupted writes ------------------------------------------------------------------

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
