"""The latent explorer in a real browser: JupyterLab + headless Chromium driven by Playwright.

The test starts JupyterLab (the kit's environment: this Python) on 127.0.0.1 with a free port and a random token,
in a temporary root folder, opens notebook 06 there with small parameters injected by papermill (without running
it), runs all cells from the browser, waits for the explorer's slider, moves it, and checks that the
reconstruction shown changes and that the browser console reports no widget errors. A screenshot, the console log
and the server log are saved in the test's tmp_path and copied to ``runs/artifacts/test_browser/``.

Chromium is Debian's (``/usr/bin/chromium``; ``.ci/run`` installs it); Playwright never downloads a browser.
Without it the test is skipped and says why. The server is always stopped, also when the test fails.

    .venv/bin/python -m pytest -q tests/test_browser.py       # about a minute on 2 CPU cores
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK_06 = REPO / "solutions" / "06_bottleneck_sweep.ipynb"
ARTIFACTS = REPO / "runs" / "artifacts" / "test_browser"
# Small enough for a CPU run of a minute or so; output_dir is added per run.
SMALL_06 = {"latent_dims": [8, 64], "epochs": 1, "crops_per_image": 2, "seed": 0}
SERVER_START_S = 90
RUN_ALL_S = 150

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(360)]


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return (f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium; .ci/run does "
                f"it in CI). Playwright never downloads a browser here.")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is missing: pip install -e '.[test]'"
    return None


# ----------------------------------------------------------------------------------------------------- server
@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path
    process: subprocess.Popen


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 2.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status


def _stop(lab: Lab) -> None:
    """Stop the server we started (and the kernels it started): polite shutdown first, then signals to its group."""
    if lab.process.poll() is None:
        try:
            request = urllib.request.Request(f"{lab.url}api/shutdown", method="POST",
                                             headers={"Authorization": f"token {lab.token}"})
            urllib.request.urlopen(request, timeout=5).close()
            lab.process.wait(timeout=15)
        except Exception:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if lab.process.poll() is not None:
            break
        try:
            os.killpg(lab.process.pid, sig)  # the process group of the server we started (start_new_session)
        except ProcessLookupError:
            break
        try:
            lab.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on 127.0.0.1 (free port, random token) in tmp_path/root, isolated from the user's settings."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    root, home = tmp_path / "root", tmp_path / "jupyter"
    root.mkdir()
    settings = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false",
                                                                          "checkForUpdates": False}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_PLATFORM_DIRS="1",
               PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
    env.pop("JUPYTER_PATH", None)
    port, token = _free_port(), secrets.token_hex(16)
    log = tmp_path / "jupyterlab.log"
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--ServerApp.open_browser=False",
               "--ServerApp.terminals_enabled=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root; the server still listens on 127.0.0.1 only
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Lab(f"http://127.0.0.1:{port}/", token, root, log, process)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with code {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if _get(f"{server.url}api/status?token={token}") == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield server
    finally:
        _stop(server)


# ----------------------------------------------------------------------------------------------------- notebooks
def prepare_notebook(root: Path, output_dir: Path) -> tuple[Path, str]:
    """Notebook 06 with SMALL_06 injected by papermill (not executed: the browser runs it), written into ``root``.
    Returns its path and a description."""
    import papermill

    if not NOTEBOOK_06.exists():
        pytest.fail(f"{NOTEBOOK_06} is missing: this test opens notebook 06 and uses its latent explorer")
    parameters = dict(SMALL_06, output_dir=str(output_dir))
    target = root / NOTEBOOK_06.name
    papermill.execute_notebook(str(NOTEBOOK_06), str(target), parameters=parameters, prepare_only=True,
                               progress_bar=False, kernel_name="python3")
    return target, f"{NOTEBOOK_06.name} with {SMALL_06}"


# ----------------------------------------------------------------------------------------------------- the test
SLIDER = ".jp-OutputArea .widget-slider"
HANDLE = f"{SLIDER} .noUi-handle"
RECON = ".jp-OutputArea .widget-output img[alt='autoencoder']"
WIDGET_WORDS = ("widget", "comm", "model not found", "jupyter-widgets", "ipywidgets")


def _save_artifacts(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("explorer.png", "explorer_before.png", "page.png", "console.log", "jupyterlab.log"):
        if (tmp_path / name).exists():
            shutil.copy2(tmp_path / name, ARTIFACTS / name)


def _cell_errors(page) -> list[str]:
    """Texts of error outputs (tracebacks) shown in the notebook."""
    return page.eval_on_selector_all(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
        "els => els.map(e => e.innerText).filter(t => /Traceback \\(most recent call last\\)/.test(t))")


def _run_all_and_wait_for_slider(page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    deadline = time.monotonic() + RUN_ALL_S
    while time.monotonic() < deadline:
        if page.locator(HANDLE).count() and page.locator(RECON).count():
            return
        errors = _cell_errors(page)
        if errors:
            pytest.fail("a cell failed in JupyterLab:\n" + errors[0][-3000:])
        page.wait_for_timeout(1000)
    pytest.fail(f"no explorer slider and reconstruction after {RUN_ALL_S} s of running the notebook")


def _move_slider(page, before: str) -> tuple[str, str]:
    """Move the slider one step right by keyboard (by a mouse drag if that changes nothing); return the new
    reconstruction's src and how the slider was moved."""
    changed = f"src => document.querySelector(\"{RECON}\")?.getAttribute('src') !== src"
    handle = page.locator(HANDLE).first
    handle.scroll_into_view_if_needed()
    handle.focus()
    page.keyboard.press("ArrowRight")
    how = "keyboard (ArrowRight on the focused slider handle)"
    try:
        page.wait_for_function(changed, arg=before, timeout=30_000)
    except Exception:
        how = "mouse drag of the slider handle (the key press changed nothing)"
        box, track = handle.bounding_box(), page.locator(SLIDER).first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(track["x"] + track["width"] - 2, box["y"] + box["height"] / 2, steps=10)
        page.mouse.up()
        page.wait_for_function(changed, arg=before, timeout=60_000)
    return page.locator(RECON).first.get_attribute("src"), how


def test_latent_explorer_in_jupyterlab(lab, tmp_path):
    from playwright.sync_api import sync_playwright

    notebook, what = prepare_notebook(lab.root, tmp_path / "outputs")
    console: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
                page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
                page.goto(f"{lab.url}lab/tree/{notebook.name}?token={lab.token}")
                page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=90_000)
                page.wait_for_function(
                    "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel?.status"
                    " === 'idle'", timeout=90_000)
                _run_all_and_wait_for_slider(page)

                labels = page.locator(f"{SLIDER} .widget-readout").first
                start_label = labels.inner_text()
                before = page.locator(RECON).first.get_attribute("src")
                assert before.startswith("data:image/png;base64,")
                explorer = page.locator(".jp-OutputArea-output").filter(has=page.locator(".widget-slider")).last
                explorer.screenshot(path=tmp_path / "explorer_before.png")

                after, how = _move_slider(page, before)
                console.append(f"test: slider moved by {how}")
                assert after.startswith("data:image/png;base64,") and after != before, \
                    "the reconstruction did not change when the slider moved"
                assert labels.inner_text() != start_label
                page.wait_for_timeout(300)  # let the last comm messages and console lines arrive
                explorer.screenshot(path=tmp_path / "explorer.png")
                page.screenshot(path=tmp_path / "page.png")

                shown = page.locator(".jp-OutputArea").all_inner_texts()
                assert not any("Error displaying widget" in t for t in shown), "a widget failed to render"
                assert not _cell_errors(page)
            finally:
                browser.close()
    finally:
        (tmp_path / "console.log").write_text(f"notebook: {what}\n" + "\n".join(console) + "\n")
        _save_artifacts(tmp_path)
    widget_errors = [line for line in console
                     if line.startswith(("error", "pageerror")) and any(w in line.lower() for w in WIDGET_WORDS)]
    assert not widget_errors, "widget errors in the browser console:\n" + "\n".join(widget_errors)


def test_skips_with_a_reason_without_chromium(monkeypatch, tmp_path):
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", tmp_path / "no-chromium")
    reason = _skip_reason()
    assert reason and "apt-get install -y chromium" in reason and "never downloads" in reason
