"""What a student meets outside the happy path (issue 9): a newer PyTorch, a non-interactive matplotlib
backend, a course that is not installed or is hidden by a file of the same name."""
import builtins
import json
import os
import pathlib
import subprocess
import sys
import types

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SANITIZER = ROOT / "tests" / "nbval_sanitize.cfg"


def _check_notebook(path, measured):
    """A notebook with one check cell whose stored output says the slope was -0.99 (as an older torch
    measured it), and whose code now measures ``measured``."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        "# NBVAL_CHECK_OUTPUT\nimport helpers as H\n"
        f'H.check("slope of max gap vs L", {measured}, target=-1, tol=0.15, digits=2)')
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout",
                                           text="✔ slope of max gap vs L: -0.99 (expected -1 ± 0.15)\n")]
    cell.execution_count = 1
    nb.cells = [cell]
    nbformat.write(nb, path)


def _nbval(path, *extra):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", *extra, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=path.parent, timeout=240)


def test_nbval_compares_the_claim_not_the_digits(tmp_path):
    shifted = tmp_path / "shifted.ipynb"       # another random stream: another value, claim still holds
    _check_notebook(shifted, -0.93)
    assert _nbval(shifted).returncode != 0, "without the sanitizer the new digits fail the test"
    assert _nbval(shifted, f"--nbval-sanitize-with={SANITIZER}").returncode == 0
    broken = tmp_path / "broken.ipynb"         # the claim itself fails: the test must be red
    _check_notebook(broken, -1.3)
    result = _nbval(broken, f"--nbval-sanitize-with={SANITIZER}")
    assert result.returncode != 0 and "claim does not hold" in result.stdout


def test_every_compared_check_line_is_sanitized():
    # every line nbval compares in the course is a check line whose value the sanitizer hides
    import re
    regex = re.compile(r": [^ \n]+ \(expected")
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code" or "NBVAL_CHECK_OUTPUT" not in "".join(cell["source"]):
                continue
            for out in cell["outputs"]:
                assert out["output_type"] == "stream" and out["name"] == "stdout", (path.name, out)
                for line in "".join(out["text"]).splitlines():
                    assert line.startswith("✔ ") and regex.search(line), (path.name, line)


def test_figures_show_under_a_non_interactive_backend(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import helpers as H\ncfg = H.setup(seed=0)"),
                nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")]
    env = dict(os.environ, MPLBACKEND="Agg")
    old = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "Agg"           # the kernel inherits the environment
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        if old is None:
            os.environ.pop("MPLBACKEND")
        else:
            os.environ["MPLBACKEND"] = old
    setup_text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "switched to 'inline'" in setup_text and env["MPLBACKEND"] == "Agg"
    assert any("image/png" in o.get("data", {}) for o in nb.cells[1].outputs)


def _first_cell():
    cells = [c for c in json.loads(NOTEBOOKS[0].read_text())["cells"] if c["cell_type"] == "code"]
    return "".join(cells[0]["source"])


def test_every_notebook_starts_with_the_same_install_cell():
    first = _first_cell()
    assert "google.colab" in first and "pip install -e" in first
    for path in NOTEBOOKS:
        cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        assert "".join(cells[0]["source"]) == first, path.name


@pytest.mark.parametrize("situation", ["not installed", "shadowed"])
def test_install_cell_says_what_to_run(tmp_path, situation):
    args = [sys.executable]
    if situation == "not installed":
        args.append("-S")                      # no site-packages: as in a Jupyter without the course
    else:
        (tmp_path / "helpers.py").write_text("x = 1\n")   # a student's own helpers.py next to the notebook
    result = subprocess.run(args + ["-c", _first_cell()], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode != 0
    assert 'pip install -e ".[dev]"' in result.stderr and "Traceback" in result.stderr
    if situation == "shadowed":
        assert "helpers.py" in result.stderr and "rename" in result.stderr


def test_install_cell_installs_on_colab_only(monkeypatch):
    calls = []
    shell = types.SimpleNamespace(run_line_magic=lambda magic, line: calls.append((magic, line)))
    monkeypatch.setattr(builtins, "get_ipython", lambda: shell, raising=False)
    exec(_first_cell(), {})                    # elsewhere: a no-op (the course is installed here)
    assert calls == []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    exec(_first_cell(), {})
    assert len(calls) == 1 and calls[0][0] == "pip" and "git+https://" in calls[0][1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_come_from_one_top_to_bottom_run(path):
    # a fresh kernel, every code cell once and in order: execution counts 1, 2, ..., N
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1))
