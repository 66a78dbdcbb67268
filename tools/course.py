"""The course's own commands: run every notebook headless and write the reproduction report, export every
figure for slides, build the static HTML site, and keep the repository address in one place.

    python tools/course.py run --scale quick            # every notebook, checks collected -> reports/quick.json
    python tools/course.py run --scale paper --inplace  # the whole course at the paper's scale, outputs stored
    python tools/course.py report                       # REPRODUCTION.md and REPRODUCTION.html from reports/*.json
    python tools/course.py figures --scale quick        # every figure as PNG and PDF into figures_out/
    python tools/course.py site                         # the static HTML site into site/
    python tools/course.py set-repository https://github.com/OWNER/NAME

``run`` executes each notebook in a fresh kernel (its own process, so that the kernel's peak memory is
measured), with ``COURSE_PROGRESS=0`` (no progress bars in stored outputs) and without storing widget
state. A failing check does not stop the run: it shows as failed in the report, never hidden.
"""
from __future__ import annotations

import argparse
import base64
import datetime as _dt
import html
import json
import os
import pathlib
import platform
import re
import resource
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
REPORTS = ROOT / "reports"
PYPROJECT = ROOT / "pyproject.toml"
CHECK_LINE = re.compile(r"^(?P<mark>[✔✘]) (?:claim does not hold -- )?(?P<claim>.*): (?P<value>[^ ]+) \(expected (?P<expected>.*)\)$")
FIGURE_SETUP = "%config InlineBackend.figure_formats = ['png', 'pdf']"


def notebooks(selection=None) -> list[pathlib.Path]:
    """The course's notebooks in order (``NN_*.ipynb``), or those whose number is in ``selection``."""
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if selection:
        wanted = {s.zfill(2) for s in selection}
        found = [p for p in found if p.name[:2] in wanted]
        if not found:
            raise SystemExit(f"no notebook numbered {sorted(wanted)} in {NOTEBOOKS}")
    return found


# -- running ---------------------------------------------------------------------------------------
def _execute_one(path: pathlib.Path, scale: str, inplace: bool, figures: bool, timeout: int) -> dict:
    """Run one notebook in a fresh kernel (called in a child process); return what it measured."""
    import nbformat
    from nbclient import NotebookClient

    if inplace and figures:      # the figure set-up cell would be stored as execution 1, the notebook's from 2
        raise ValueError("inplace and figures cannot be combined: run the two separately")
    nb = nbformat.read(path, as_version=4)
    os.environ.update(COURSE_SCALE=scale, COURSE_PROGRESS="0", MPLBACKEND="module://matplotlib_inline.backend_inline")
    if figures:                                   # vector copies of every figure, for slides
        nb.cells.insert(0, nbformat.v4.new_code_cell(FIGURE_SETUP))
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                            store_widget_state=False, record_timing=True,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024   # the kernel's peak
    if figures:
        nb.cells.pop(0)
    result = {"notebook": path.name, "scale": scale, "seconds": round(seconds, 1), "peak_mb": round(peak_mb),
              "checks": collect_checks(nb), "errors": collect_errors(nb), "slowest_cells": slowest_cells(nb)}
    if figures:
        result["figures"] = collect_figures(nb)
    if inplace:
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, path)
    return result


def _section_of_cells(nb) -> list[str]:
    """For each cell, the heading of the section it sits in (the last '#'/'##' line before it)."""
    section, out = "", []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    section = line.lstrip("#").strip()
        out.append(section)
    return out


def collect_checks(nb) -> list[dict]:
    """Every check line (``✔`` printed or ``✘`` raised) of an executed notebook, with its section and the
    execution time of its cell."""
    checks = []
    for cell, section in zip(nb.cells, _section_of_cells(nb)):
        if cell.cell_type != "code":
            continue
        timing = cell.metadata.get("execution", {})
        seconds = None
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            t0 = _dt.datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
            t1 = _dt.datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
            seconds = round((t1 - t0).total_seconds(), 2)
        for out in cell.get("outputs", []):
            lines = out.get("text", "").splitlines() if out.get("output_type") == "stream" else []
            if out.get("output_type") == "error":
                lines = [out.get("evalue", "")]
            for line in lines:
                m = CHECK_LINE.match(line.strip())
                if m:
                    checks.append({"section": section, "claim": m["claim"], "value": m["value"],
                                   "expected": m["expected"], "ok": m["mark"] == "✔", "cell_seconds": seconds})
    return checks


def _cell_seconds(cell):
    timing = cell.metadata.get("execution", {})
    if "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
        return None
    t0 = _dt.datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
    t1 = _dt.datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    return round((t1 - t0).total_seconds(), 2)


def slowest_cells(nb, k: int = 3) -> list[dict]:
    """The ``k`` code cells that took longest, with their section and first line: what dominates a run."""
    rows = []
    for cell, section in zip(nb.cells, _section_of_cells(nb)):
        seconds = _cell_seconds(cell) if cell.cell_type == "code" else None
        if seconds is not None:
            first = next((line for line in cell.source.splitlines() if line.strip() and not line.startswith("#")), "")
            rows.append({"seconds": seconds, "section": section, "code": first[:80]})
    return sorted(rows, key=lambda r: -r["seconds"])[:k]


def collect_errors(nb) -> list[str]:
    """Errors of an executed notebook that are not failed checks (a crash, not a claim)."""
    errors = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and not CHECK_LINE.match(out.get("evalue", "").strip()):
                errors.append(f"{out.get('ename')}: {out.get('evalue')}")
    return errors


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "intro"


def collect_figures(nb) -> list[dict]:
    """Every figure of an executed notebook: ``{"name", "png", "pdf"}`` (base64), named by section."""
    figures, counts = [], {}
    for cell, section in zip(nb.cells, _section_of_cells(nb)):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                slug = _slug(section)
                counts[slug] = counts.get(slug, 0) + 1
                figures.append({"name": f"{slug}-{counts[slug]}", "png": data["image/png"],
                                "pdf": data.get("application/pdf")})
    return figures


def run(selection, scale: str, inplace: bool, figures_dir: str | None, timeout: int) -> dict:
    """Run the chosen notebooks, one child process each; return and save the collected results."""
    from tqdm.auto import tqdm

    paths = notebooks(selection)
    results, start = [], time.perf_counter()
    bar = tqdm(paths, desc=f"course at {scale} scale", unit="notebook")
    try:
        for path in bar:
            bar.set_postfix_str(path.name)
            cmd = [sys.executable, __file__, "_one", str(path), "--scale", scale, "--timeout", str(timeout)]
            cmd += ["--inplace"] if inplace else []
            cmd += ["--figures"] if figures_dir else []
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                raise SystemExit(f"{path.name}: the runner failed\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results.append(result)
            if figures_dir:
                save_figures(result, pathlib.Path(figures_dir))
            failed = sum(not c["ok"] for c in result["checks"])
            tqdm.write(f"{path.name}: {result['seconds']:.0f} s, peak {result['peak_mb']} MB, "
                       f"{len(result['checks'])} checks, {failed} failed, {len(result['errors'])} errors")
    finally:
        bar.close()
    total = time.perf_counter() - start
    run_record = {"scale": scale, "date": _dt.date.today().isoformat(), "total_seconds": round(total),
                  "machine": machine(), "notebooks": [{k: v for k, v in r.items() if k != "figures"} for r in results]}
    save_run(run_record, partial=selection is not None)
    print(f"total: {total / 60:.1f} min for {len(results)} notebooks at {scale} scale")
    return run_record


def save_run(record: dict, partial: bool) -> None:
    """Write ``reports/<scale>.json``; a run of some notebooks only replaces their entries in the record
    of an earlier run (and says so in ``partial_runs``), so that a long paper-scale run can be made in parts."""
    REPORTS.mkdir(exist_ok=True)
    path = REPORTS / f"{record['scale']}.json"
    if partial and path.exists():
        old = json.loads(path.read_text())
        fresh = {nb["notebook"]: nb for nb in record["notebooks"]}
        merged = [fresh.pop(nb["notebook"], nb) for nb in old["notebooks"]] + list(fresh.values())
        merged.sort(key=lambda nb: nb["notebook"])
        record = {**record, "notebooks": merged, "total_seconds": round(sum(nb["seconds"] for nb in merged)),
                  "partial_runs": old.get("partial_runs", 1) + 1}
    elif partial:
        record = {**record, "partial_runs": 1}
    path.write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")


def machine() -> dict:
    import importlib.metadata as md

    versions = {}
    for pkg in ("torch", "torchdiffeq", "numpy", "matplotlib"):
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = "not installed"
    return {"cores": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            **versions}


def save_figures(result: dict, folder: pathlib.Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = result["notebook"][:2]
    for fig in result.get("figures", []):
        (folder / f"{stem}_{fig['name']}.png").write_bytes(base64.b64decode(fig["png"]))
        if fig.get("pdf"):
            (folder / f"{stem}_{fig['name']}.pdf").write_bytes(base64.b64decode(fig["pdf"]))


# -- the reproduction report -------------------------------------------------------------------------
def _load(scale: str):
    path = REPORTS / f"{scale}.json"
    return json.loads(path.read_text()) if path.exists() else None


def report_markdown(paper: dict | None, quick: dict | None) -> str:
    """REPRODUCTION.md: for each claim, the notebook and section, the expected value or trend, the value
    measured at paper and at quick scale, the verdict and the run time."""
    main = paper or quick
    if main is None:
        raise SystemExit("no run recorded yet: python tools/course.py run --scale quick (and/or paper)")
    lines = ["# Reproduction report", "",
             "Every check of the course, as the notebooks compute it: the claim (a statement or figure of Marion, Wu, "
             "Sander & Biau, ICLR 2024, or a step the course adds), the value or trend expected with its tolerance, "
             "the value measured, and the verdict. A failed claim is shown as failed. Generated by "
             "`python tools/course.py report` from `reports/*.json` (written by `python tools/course.py run`).", ""]
    for name, rec in (("paper scale", paper), ("quick scale", quick)):
        if rec:
            m = rec["machine"]
            n_checks = sum(len(nb["checks"]) for nb in rec["notebooks"])
            n_failed = sum(not c["ok"] for nb in rec["notebooks"] for c in nb["checks"])
            parts = (f" (in {rec['partial_runs']} runs of `tools/course.py run`, their notebook times added)"
                     if rec.get("partial_runs", 1) > 1 else "")
            lines.append(f"* **{name}**: run on {rec['date']}, {m['cores']} cores, Python {m['python']}, torch "
                         f"{m['torch']}, torchdiffeq {m['torchdiffeq']}, NumPy {m['numpy']}; "
                         f"{rec['total_seconds'] / 60:.1f} min in all{parts}; {n_checks} checks, {n_failed} failed.")
        else:
            lines.append(f"* **{name}**: not run yet (`python tools/course.py run --scale "
                         f"{name.split()[0]}`).")
    both = paper is not None and quick is not None
    by_scale = {scale: {nb["notebook"]: nb for nb in (rec or {}).get("notebooks", [])}
                for scale, rec in (("paper", paper), ("quick", quick))}
    first, second = ("paper", "quick") if paper else ("quick", None)
    names = sorted(set(by_scale["paper"]) | set(by_scale["quick"]))
    lines += ["", "| notebook | time (s) | peak memory (MB) |" + (" quick time (s) | quick peak (MB) |" if both else ""),
              "|---|---|---|" + ("---|---|" if both else "")]
    for name in names:
        cols = [by_scale[first].get(name)] + ([by_scale["quick"].get(name)] if both else [])
        lines.append(f"| {name} |" + "".join(f" {nb['seconds']:.0f} | {nb['peak_mb']} |" if nb else " not run | – |"
                                               for nb in cols))
    for name in names:
        main_nb = by_scale[first].get(name)
        quick_nb = by_scale["quick"].get(name) if both else None
        lines += ["", f"## {name}", ""]
        if main_nb is None:
            lines += [f"*Not run at {first} scale in this report's run; its {second} scale results follow.*", ""]
        slow = (main_nb or {}).get("slowest_cells")
        if slow:
            lines += ["Slowest cells: " + "; ".join(f"{r['seconds']:.0f} s in {r['section']} (`{r['code']}`)"
                                                 for r in slow), ""]
        errors = (main_nb or quick_nb or {}).get("errors", [])
        if errors:
            lines += [f"**Errors (not checks):** {'; '.join(errors)}", ""]
        head = "| section | claim | expected | measured | verdict | cell time (s) |"
        if both:
            head = ("| section | claim | expected | measured (paper) | verdict | measured (quick) | verdict (quick) "
                    "| cell time (s) |")
        lines += [head, "|" + "---|" * (head.count("|") - 1)]
        quick_checks = {(c["section"], c["claim"]): c for c in (quick_nb or {}).get("checks", [])}
        for c in (main_nb or quick_nb)["checks"]:
            q = quick_checks.get((c["section"], c["claim"]))
            if main_nb is None:
                cells = [c["section"], c["claim"], c["expected"], "not run", "–", c["value"], "✔" if c["ok"] else "✘"]
            else:
                cells = [c["section"], c["claim"], c["expected"], c["value"], "✔ holds" if c["ok"] else "✘ **fails**"]
                if both:
                    cells += [q["value"], "✔" if q["ok"] else "✘"] if q else ["–", "–"]
            cells.append("" if c["cell_seconds"] is None else f"{c['cell_seconds']:.1f}")
            lines.append("| " + " | ".join(x.replace("|", "\\|") for x in cells) + " |")
    return "\n".join(lines) + "\n"


def write_report() -> None:
    text = report_markdown(_load("paper"), _load("quick"))
    (ROOT / "REPRODUCTION.md").write_text(text)
    (ROOT / "REPRODUCTION.html").write_text(markdown_to_html(text, "Reproduction report"))
    print("wrote REPRODUCTION.md and REPRODUCTION.html")


def markdown_to_html(text: str, title: str) -> str:
    """A small Markdown-to-HTML conversion for the report (headings, bullets, tables, bold, code)."""
    def inline(s):
        s = html.escape(s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
        s = re.sub(r"`(.+?)`", r"<code>\1</code>", s)
        return s.replace("\\|", "|")

    body, in_table, in_list = [], False, False
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
                body.append("<tr>" + "".join(f"<th>{inline(c)}</th>" for c in cells) + "</tr>")
            else:
                body.append("<tr>" + "".join(f"<td>{inline(c)}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("* "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{inline(line[2:])}</li>")
            continue
        if in_list:
            body.append("</ul>")
            in_list = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{inline(line)}</p>")
    body.append("</table>" if in_table else "")
    style = ("body{font-family:sans-serif;max-width:75em;margin:auto;padding:1em}table{border-collapse:collapse}"
             "td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


# -- the static site ------------------------------------------------------------------------------------
def build_site(out: pathlib.Path) -> list[pathlib.Path]:
    """Every notebook as HTML (from its stored outputs, nothing executed), links between notebooks
    pointing to the HTML pages, and an index page; returns the pages written."""
    import nbformat
    from nbconvert import HTMLExporter

    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    pages, entries = [], []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        body, _ = exporter.from_notebook_node(nb)
        body = re.sub(r'href="(?:\.\./notebooks/|\./)?([0-9][0-9]_[A-Za-z0-9_]+)\.ipynb', r'href="\1.html', body)
        page = out / (path.stem + ".html")
        page.write_text(body)
        pages.append(page)
        title = next((line.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
                      for line in c.source.splitlines() if line.startswith("# ")), path.stem)
        entries.append((page.name, title))
    extra = []
    for name, target in (("REPRODUCTION.html", "Reproduction report"), ):
        if (ROOT / name).exists():
            (out / name).write_text((ROOT / name).read_text())
            extra.append((name, target))
    summary = NOTEBOOKS / "course_summary.md"
    if summary.exists():
        (out / "course_summary.html").write_text(markdown_to_html(summary.read_text(), "Course summary"))
        extra.append(("course_summary.html", "One-page summary of the course"))
    items = "\n".join(f"<li><a href='{html.escape(n)}'>{html.escape(t)}</a></li>" for n, t in entries + extra)
    index = out / "index.html"
    index.write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Deep ResNets, neural ODEs and "
                     "implicit regularization</title></head><body style='font-family:sans-serif;max-width:50em;"
                     "margin:auto'><h1>Deep ResNets, neural ODEs and the implicit regularization between them"
                     "</h1><p>An open notebook course on Marion, Wu, Sander &amp; Biau, ICLR 2024 "
                     "(arXiv:2309.01213).</p><ol>\n" + items + "\n</ol></body></html>\n")
    return [index] + pages


# -- the repository address -------------------------------------------------------------------------------
def repository() -> str:
    """The course's repository address, kept in one place: ``[project.urls] Homepage`` of pyproject.toml."""
    m = re.search(r'^Homepage\s*=\s*"([^"]+)"', PYPROJECT.read_text(), flags=re.M)
    if not m:
        raise SystemExit("pyproject.toml has no [project.urls] Homepage")
    return m.group(1).rstrip("/")


def repository_files() -> list[pathlib.Path]:
    return [ROOT / "README.md", *sorted(NOTEBOOKS.glob("*.ipynb"))]


def repository_mentions() -> dict:
    """``{file: {owner/name, ...}}``: every GitHub repository address in the README and the notebooks
    that is the course's own (badges, Binder, Colab, the install cell)."""
    found = {}
    for path in repository_files():
        text = path.read_text()
        names = {m.group(1) for m in re.finditer(r"git\+https://github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?(?=[\\\"'\s@)])", text)}
        names |= {m.group(1) for m in re.finditer(r"mybinder\.org/v2/gh/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/", text)}
        names |= {m.group(1) for m in re.finditer(r"colab\.research\.google\.com/github/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/", text)}
        if names:
            found[path.name] = names
    return found


def set_repository(url: str) -> None:
    """Point pyproject.toml, the README's badges and every notebook's badge and install cell at ``url``."""
    m = re.fullmatch(r"https://github\.com/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/?", url)
    if not m:
        raise SystemExit(f"url must look like https://github.com/OWNER/NAME, got {url!r}")
    old, new = repository().split("github.com/")[1], m.group(1)
    for path in [PYPROJECT, *repository_files()]:
        text = path.read_text()
        path.write_text(text.replace(old, new))
    print(f"repository: {old} -> {new} in pyproject.toml, README.md and {len(repository_files()) - 1} notebooks")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run notebooks headless and record every check")
    p.add_argument("--scale", choices=["quick", "paper"], default="quick")
    p.add_argument("--notebooks", nargs="*", help="numbers, e.g. 04 05 (default: all)")
    p.add_argument("--inplace", action="store_true", help="store the new outputs in the notebooks")
    p.add_argument("--figures", metavar="DIR", help="also save every figure as PNG and PDF into DIR")
    p.add_argument("--timeout", type=int, default=3600, help="seconds per cell")
    sub.add_parser("report", help="write REPRODUCTION.md and .html from reports/*.json")
    p = sub.add_parser("figures", help="every figure as PNG and PDF, named by notebook and section")
    p.add_argument("--scale", choices=["quick", "paper"], default="quick")
    p.add_argument("--out", default="figures_out")
    p.add_argument("--notebooks", nargs="*")
    p = sub.add_parser("site", help="the static HTML site")
    p.add_argument("--out", default="site")
    p = sub.add_parser("set-repository", help="change the repository address everywhere")
    p.add_argument("url")
    p = sub.add_parser("_one")
    p.add_argument("path")
    p.add_argument("--scale", default="quick")
    p.add_argument("--inplace", action="store_true")
    p.add_argument("--figures", action="store_true")
    p.add_argument("--timeout", type=int, default=3600)
    args = parser.parse_args(argv)
    if args.command == "_one":
        print(json.dumps(_execute_one(pathlib.Path(args.path), args.scale, args.inplace, args.figures, args.timeout)))
    elif args.command == "run":
        if args.inplace and args.figures:
            parser.error("--inplace and --figures cannot be combined (the stored execution counts would start at "
                         "2, after the figure set-up cell): run them separately")
        run(args.notebooks, args.scale, args.inplace, args.figures, args.timeout)
    elif args.command == "report":
        write_report()
    elif args.command == "figures":
        run(args.notebooks, args.scale, False, args.out, 3600)
        print(f"figures in {args.out}/")
    elif args.command == "site":
        pages = build_site(ROOT / args.out)
        print(f"wrote {len(pages)} pages into {args.out}/ (open {args.out}/index.html)")
    elif args.command == "set-repository":
        set_repository(args.url)


if __name__ == "__main__":
    main()
