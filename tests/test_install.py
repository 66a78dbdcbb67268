"""The install path (issue 8): Binder's conda-forge environment must be satisfiable and agree with pip's."""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONDA_FORGE_NEWEST_TORCHDIFFEQ = (0, 2, 2)     # conda-forge's newest torchdiffeq (checked 2026-11)


def _minimum(text, name):
    match = re.search(rf"{name}\s*>=\s*([0-9.]+)", text)
    assert match, f"no lower bound for {name}"
    return tuple(int(p) for p in match.group(1).split("."))


def test_torchdiffeq_bound_is_satisfiable_on_conda_forge_and_consistent():
    conda = _minimum((ROOT / "environment.yml").read_text(), "torchdiffeq")
    pip = _minimum((ROOT / "pyproject.toml").read_text(), "torchdiffeq")
    assert conda == pip and conda <= CONDA_FORGE_NEWEST_TORCHDIFFEQ


def test_readme_install_block_takes_the_cpu_build_first():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert block.index("download.pytorch.org/whl/cpu") < block.index('pip install -e ".[dev]"')
