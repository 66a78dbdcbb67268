"""The explorers in a real browser: nbval runs every notebook but no front end, so a widget could be broken for
every student while the suite stays green. This test starts JupyterLab on 127.0.0.1, opens a copy of
notebook 02 (byte for byte the course's) in headless Chromium driven by Playwright, runs all cells, and checks
that the explorer's slider renders, that moving it with the keyboard changes the plotted image, and that the
page raised no JavaScript error.

Needs Debian's ``chromium`` (``apt-get install chromium``, at /usr/bin/chromium; never ``playwright install``)
and the ``playwright`` package (the ``dev`` extra). Without them the test is skipped, with a message, on a
student's machine; in CI (environment variable ``CI`` set) it fails instead. ``COURSE_CHROMIUM`` points it at
another Chromium. About 30-40 s and 1.1 GB (server, kernel and browser together; both printed at the end, with
``pytest -s``).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from helpers.explorers import EXPLORER_CLASS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "02_resnets_as_discretizations.ipynb"      # explorer 1: depth slider, start and scaling buttons
CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# lab extensions switched off in the test's own config (COURSE_BROWSER_DISABLE adds more, comma-separated: the
# way to watch this test fail, e.g. COURSE_BROWSER_DISABLE=@jupyter-widgets/jupyterlab-manager)
DISABLED = ["@jupyterlab/apputils-extension:announcements"] + [
    e for e in os.environ.get("COURSE_BROWSER_DISABLE", "").split(",") if e]

pytestmark = pytest.mark.browser


def _require_browser():
    """Skip (a student's machine) or fail (CI) when Chromium or Playwright is missing."""
    missing = []
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        missing.append(f"Chromium at {CHROMIUM} (Debian/Ubuntu: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append('the Python package playwright (pip install -e ".[dev]")')
    if missing:
        message = ("the real-browser test of the explorers needs " + " and ".join(missing)
                   + "; never run `playwright install`, the test uses the system's Chromium")
        if os.environ.get("CI"):
            pytest.fail(f"CI is set, so this test is required: {message}")
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


class _PeakMemory:
    """Peak of the memory of this process's descendants (server, kernel, browser), summed over processes:
    proportional set sizes, so that memory shared between processes is counted once."""

    def __init__(self):
        self.peak_mb, self._stop = 0.0, threading.Event()
        try:
            import psutil
        except ImportError:          # psutil comes with ipykernel; without it, no figure is printed
            self._thread = None
            return
        me = psutil.Process()

        def sample():
            while not self._stop.wait(0.5):
                total = 0
                for p in me.children(recursive=True):
                    try:       # proportional set size: the browser's processes share much of their memory
                        info = p.memory_full_info()
                        total += getattr(info, "pss", info.rss)
                    except psutil.Error:
                        pass
                self.peak_mb = max(self.peak_mb, total / 2 ** 20)

        self._thread = threading.Thread(target=sample, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


@pytest.fixture
def jupyterlab(tmp_path):
    """A JupyterLab server on 127.0.0.1 whose root holds a copy of the notebook; every Jupyter directory in
    tmp_path. Yields its URL; stopped with SIGTERM to its own PID."""
    _require_browser()
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(ROOT / "notebooks" / NOTEBOOK, root / NOTEBOOK)
    dirs = {name: tmp_path / name.lower() for name in
            ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTERLAB_SETTINGS_DIR",
             "JUPYTERLAB_WORKSPACES_DIR", "IPYTHONDIR")}
    for d in dirs.values():
        d.mkdir()
    _write_json(dirs["JUPYTER_CONFIG_DIR"] / "labconfig" / "page_config.json",
                {"disabledExtensions": {name: True for name in DISABLED}})
    settings = dirs["JUPYTERLAB_SETTINGS_DIR"]
    _write_json(settings / "@jupyterlab" / "docmanager-extension" / "plugin.jupyterlab-settings", {"autosave": False})
    # every cell in the DOM (no windowing), so that the explorer can be found wherever the page is scrolled
    _write_json(settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings",
                {"windowingMode": "none"})
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env.update({k: str(v) for k, v in dirs.items()})
    env["COURSE_PROGRESS"] = "0"
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1", f"--port={port}",
         "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={root}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                log_tail = (tmp_path / "server.log").read_text()[-3000:]
                pytest.fail(f"JupyterLab exited with code {server.returncode}:\n{log_tail}")
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 90 s:\n{(tmp_path / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, tmp_path / "server.log"
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _menu(page, menu: str, item: str) -> None:
    """Click ``item`` in the menu ``menu`` of JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{menu}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def test_explorer_slider_redraws_in_jupyterlab(jupyterlab):
    from playwright.sync_api import expect, sync_playwright

    url, server_log = jupyterlab
    start, memory = time.monotonic(), _PeakMemory()
    page_errors, console_errors = [], []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on("pageerror", lambda e: page_errors.append(str(e)))
                page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
                page.goto(f"{url}/lab/tree/{NOTEBOOK}", wait_until="domcontentloaded")

                # the kernel status text (not the toolbar's circle, which shows idle before the kernel connects)
                kernel_idle = page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\|\s*Idle"))
                expect(kernel_idle).to_be_visible(timeout=120_000)
                # clear the stored outputs and execution counts first, so that a prompt "[ ]:" or "[*]:" marks a
                # code cell still to run (cells whose input is hidden show no prompt)
                _menu(page, "Edit", "Clear Outputs of All Cells")
                pending = page.locator(".jp-CodeCell .jp-InputPrompt", has_text=re.compile(r"\[[ *]\]"))
                expect(pending.first).to_be_attached(timeout=15_000)
                _menu(page, "Run", "Run All Cells")
                # Run All has finished when no prompt is pending (it stops at an error: then one stays pending);
                # only then look for the explorer, so that a missing widget fails fast
                expect(pending).to_have_count(0, timeout=300_000)
                expect(kernel_idle).to_be_visible(timeout=60_000)
                explorer = page.locator(f".{EXPLORER_CLASS}")
                handle = explorer.locator(".noUi-handle")
                image = explorer.locator("img.widget-image")
                expect(handle).to_be_visible(timeout=15_000)
                expect(image).to_be_visible(timeout=15_000)
                depth = explorer.locator(".widget-readout").first
                before_src, before_depth = image.get_attribute("src"), depth.inner_text()

                handle.focus()
                moved = time.monotonic()
                page.keyboard.press("ArrowRight")                       # one step of the depth slider
                expect(depth).not_to_have_text(before_depth, timeout=10_000)
                # a new figure: an image in the explorer again, with another PNG
                page.wait_for_function(
                    "([sel, before]) => { const img = document.querySelector(sel);"
                    " return img !== null && img.getAttribute('src') !== before; }",
                    arg=[f".{EXPLORER_CLASS} img.widget-image", before_src], timeout=60_000)
                redraw_s = time.monotonic() - moved
                after_depth = depth.inner_text()
                page.screenshot(path=str(server_log.parent / "explorer.png"), full_page=False)
            finally:
                browser.close()
    finally:
        memory.stop()
    total_s = time.monotonic() - start
    print(f"\nbrowser test: depth {before_depth} -> {after_depth}, new figure {redraw_s:.2f} s after the key press; "
          f"{total_s:.0f} s in all; peak memory of server + kernel + browser {memory.peak_mb:.0f} MB; "
          f"{len(console_errors)} console errors {console_errors[:3]}")
    assert not page_errors, f"JavaScript errors on the page: {page_errors}"
    # network failures are no JavaScript errors: offline, the notebook's badge images do not load
    js_errors = [e for e in console_errors if not e.startswith("Failed to load resource")]
    assert not js_errors, f"errors in the browser console: {js_errors}"
