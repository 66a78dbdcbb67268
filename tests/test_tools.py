"""The course's own commands (tools/course.py): reproduction report, figures, HTML site, repository address."""
import importlib.util
import json
import pathlib
import re
import shutil

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("course_tools", ROOT / "tools" / "course.py")
course = importlib.util.module_from_spec(spec)
spec.loader.exec_module(course)


def _tiny_notebook(path, measured):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 — tiny\n## 1. A rate"),
                nbformat.v4.new_code_cell("import helpers as H\nimport matplotlib.pyplot as plt\n"
                                          "plt.plot([1, 2], [2, 1]); plt.show()"),
                nbformat.v4.new_code_cell(f'H.check("slope of the gap", {measured}, target=-1, tol=0.15)'),
                nbformat.v4.new_code_cell('print("still running after a failed claim")')]
    nbformat.write(nb, path)


def test_run_collects_checks_figures_and_a_failed_claim(tmp_path):
    path = tmp_path / "99_tiny.ipynb"
    _tiny_notebook(path, -1.5)                 # a claim that fails must show as failed, and the run go on
    result = course._execute_one(path, "quick", inplace=False, figures=True, timeout=120)
    assert [c["ok"] for c in result["checks"]] == [False]
    assert result["checks"][0]["section"] == "1. A rate" and result["checks"][0]["value"] == "-1.5"
    assert result["errors"] == [] and result["peak_mb"] > 50
    assert result["slowest_cells"][0]["section"] == "1. A rate" and len(result["slowest_cells"]) == 3
    fig = result["figures"][0]
    assert fig["name"] == "1-a-rate-1" and fig["png"] and fig["pdf"]
    course.save_figures(result, tmp_path / "figs")
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["99_1-a-rate-1.pdf", "99_1-a-rate-1.png"]


def test_inplace_and_figures_are_refused_together(tmp_path, capsys):
    # stored outputs must come from the notebook alone: execution counts 1, 2, ... (no figure set-up cell)
    with pytest.raises(SystemExit):
        course.main(["run", "--inplace", "--figures", str(tmp_path), "--notebooks", "00"])
    assert "--inplace and --figures" in capsys.readouterr().err
    with pytest.raises(ValueError, match="inplace and figures"):
        course._execute_one(tmp_path / "99_tiny.ipynb", "quick", inplace=True, figures=True, timeout=10)


def _record(ok):
    checks = [{"section": "3. Fig. 1", "claim": "slope of max gap vs L", "value": "-1.02" if ok else "-0.4",
               "expected": "-1 ± 0.15", "ok": ok, "cell_seconds": 1.5}]
    return {"scale": "x", "date": "2026-11-29", "total_seconds": 60,
            "machine": {"cores": 2, "python": "3.11", "torch": "2.13", "torchdiffeq": "0.2.5", "numpy": "2"},
            "notebooks": [{"notebook": "04_x.ipynb", "seconds": 10, "peak_mb": 400, "checks": checks, "errors": []}]}


def test_report_shows_both_scales_and_never_hides_a_failure():
    text = course.report_markdown(_record(ok=False), _record(ok=True))
    row = next(line for line in text.splitlines() if line.startswith("| 3. Fig. 1"))
    assert "✘ **fails**" in row and "-0.4" in row and "-1.02" in row and "-1 ± 0.15" in row
    assert "1 checks, 1 failed" in text and "2 cores" in text
    page = course.markdown_to_html(text, "Reproduction report")
    assert "<table>" in page and "<b>fails</b>" in page


def test_committed_report_matches_the_notebooks():
    report = ROOT / "REPRODUCTION.md"
    if not report.exists():
        pytest.skip("no reproduction report committed yet")
    text = report.read_text()
    for path in course.notebooks():
        assert path.name in text, f"REPRODUCTION.md lacks {path.name}: rerun tools/course.py run and report"


def test_site_has_every_notebook_every_figure_and_working_links(tmp_path):
    pages = course.build_site(tmp_path / "site")
    names = {p.name for p in pages}
    for path in course.notebooks():
        page = tmp_path / "site" / (path.stem + ".html")
        assert page.name in names
        stored = sum("image/png" in out.get("data", {}) for cell in json.loads(path.read_text())["cells"]
                     for out in cell.get("outputs", []))
        html = page.read_text()
        assert html.count("data:image/png;base64") >= stored, path.name
        for target in re.findall(r'href="([0-9][0-9]_[A-Za-z0-9_]+\.(?:html|ipynb))', html):
            assert target.endswith(".html") and (tmp_path / "site" / target).exists(), (path.name, target)
    index = (tmp_path / "site" / "index.html").read_text()
    assert all(f"{p.stem}.html" in index for p in course.notebooks())


def test_repository_address_lives_in_one_place():
    home = course.repository().split("github.com/")[1]
    mentions = course.repository_mentions()
    assert mentions, "the badges and the install cell name the repository"
    for name, repos in mentions.items():
        assert repos == {home}, f"{name} names {repos}, pyproject.toml says {home}"


def test_set_repository_rewrites_every_mention(tmp_path, monkeypatch):
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(ROOT / "notebooks" / "00_welcome.ipynb", tmp_path / "notebooks")
    monkeypatch.setattr(course, "ROOT", tmp_path)
    monkeypatch.setattr(course, "PYPROJECT", tmp_path / "pyproject.toml")
    monkeypatch.setattr(course, "NOTEBOOKS", tmp_path / "notebooks")
    course.set_repository("https://github.com/someone/their-course")
    assert course.repository() == "https://github.com/someone/their-course"
    assert all(r == {"someone/their-course"} for r in course.repository_mentions().values())
    with pytest.raises(SystemExit, match="url"):
        course.set_repository("github.com/no-scheme")


def test_partial_runs_merge_into_one_record(tmp_path, monkeypatch):
    monkeypatch.setattr(course, "REPORTS", tmp_path)
    first, second = _record(ok=True), _record(ok=False)
    second["notebooks"][0]["notebook"] = "05_y.ipynb"
    course.save_run({**first, "scale": "paper"}, partial=True)
    course.save_run({**second, "scale": "paper"}, partial=True)
    merged = json.loads((tmp_path / "paper.json").read_text())
    assert [nb["notebook"] for nb in merged["notebooks"]] == ["04_x.ipynb", "05_y.ipynb"]
    assert merged["partial_runs"] == 2 and merged["total_seconds"] == 20
    assert "in 2 runs" in course.report_markdown(merged, None)


def test_report_lists_notebooks_missing_from_the_paper_run():
    quick = _record(ok=True)
    extra = json.loads(json.dumps(quick["notebooks"][0]))
    extra["notebook"] = "08_y.ipynb"
    quick["notebooks"].append(extra)
    text = course.report_markdown(_record(ok=True), quick)
    assert "## 08_y.ipynb" in text and "Not run at paper scale" in text
    assert "| 08_y.ipynb | not run | – |" in text
