"""The layout of the package (issue 7): a short engine API, chapters that import the engine only."""
import ast
import pathlib
import subprocess
import sys

import helpers as H

ROOT = pathlib.Path(__file__).resolve().parents[1] / "helpers"
ENGINE = sorted(p for p in ROOT.glob("*.py"))
CHAPTERS = sorted((ROOT / "chapters").glob("ch*.py"))
# imports that stay inside a function, each for a reason given next to it in the code
LOCAL_IMPORTS_ALLOWED = {"torchdiffeq", "sklearn.datasets", "matplotlib.pyplot"}


def _imports(path, tree=None):
    tree = tree or ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            yield node, ("." * node.level) + (node.module or "")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name


def test_public_api_is_short_and_complete():
    assert len(H.__all__) <= 40 and len(set(H.__all__)) == len(H.__all__)
    for name in H.__all__:
        assert getattr(H, name) is not None, name
    assert not hasattr(H, "_LAZY"), "no lazy-import table: plain imports"


def test_import_does_not_load_scipy_or_torchdiffeq():
    code = ("import sys, helpers; heavy = [m for m in ('scipy', 'torchdiffeq') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import helpers loaded {out}"


def test_engine_never_imports_a_chapter():
    for path in ENGINE:
        for _, module in _imports(path):
            assert "chapters" not in module, f"{path.name} imports {module}"


def test_chapters_import_the_engine_only():
    assert CHAPTERS, "helpers/chapters holds one module per notebook"
    engine = {p.stem for p in ENGINE} - {"__init__"}
    for path in CHAPTERS:
        for _, module in _imports(path):
            if module.startswith(".."):
                assert module[2:].split(".")[0] in engine or module == "..", f"{path.name}: {module}"
            else:
                assert not module.startswith(".") and module.split(".")[0] != "helpers", \
                    f"{path.name} imports {module}: a chapter imports the engine (relative '..'), never a chapter"


def test_imports_stand_at_the_top_of_each_module():
    for path in ENGINE + CHAPTERS:
        tree = ast.parse(path.read_text())
        top = {id(node) for node in tree.body}
        for node, module in _imports(path, tree):
            if id(node) not in top:
                assert module in LOCAL_IMPORTS_ALLOWED, f"{path.name}:{node.lineno} imports {module} in a function"


def test_docstrings_cite_no_absent_document():
    for path in ENGINE + CHAPTERS:
        assert "course-design" not in path.read_text(), f"{path.name} cites course-design (not in the repository)"


def test_unknown_attribute_is_an_attribute_error():
    try:
        H.no_such_helper
    except AttributeError as err:
        assert "no_such_helper" in str(err)
    else:
        raise AssertionError("expected AttributeError")
