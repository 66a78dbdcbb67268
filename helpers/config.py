"""One place for the course's run-time settings: the scale switch, the device and the seed.

The *scale* is ``"quick"`` (the default: every notebook in about a minute on 2 CPU cores) or ``"paper"``
(the paper's settings: depths, steps and sample sizes of its experiments). It is read from the
environment variable ``COURSE_SCALE`` unless an explicit argument overrides it::

    COURSE_SCALE=paper jupyter lab          # whole course at the paper's scale
    helpers.setup(seed=0, scale="paper")    # one notebook at the paper's scale
"""
from __future__ import annotations

import contextlib
import os
import platform
import random
import sys
from dataclasses import dataclass

import matplotlib
import numpy as np
import torch
from tqdm.auto import tqdm

from . import _validation as check_arg

SCALE_ENV = "COURSE_SCALE"
PROGRESS_ENV = "COURSE_PROGRESS"     # "0" turns every progress bar off (tests, batch re-execution)
SCALES = ("quick", "paper")
_scale_override: str | None = None


def get_scale(scale: str | None = None) -> str:
    """The scale in force: ``scale`` if given, else the one fixed by :func:`setup`, else ``$COURSE_SCALE``,
    else ``"quick"``."""
    if scale is None:
        scale = _scale_override or os.environ.get(SCALE_ENV, "quick").strip().lower() or "quick"
        if scale not in SCALES:
            raise ValueError(f"environment variable {SCALE_ENV} must be one of {SCALES}, got {scale!r}")
    return check_arg.choice("scale", scale, SCALES)


def by_scale(quick, paper, scale: str | None = None):
    """Return ``quick`` or ``paper`` according to the scale in force (see :func:`get_scale`).

    Example: ``depths = by_scale(quick=[2, 16, 64], paper=[2, 16, 64, 256, 1014])``.
    """
    return paper if get_scale(scale) == "paper" else quick


def get_device(device: str | torch.device | None = None) -> torch.device:
    """The device the course's tensors live on: the CPU unless ``device`` asks for another one.

    The course runs on the CPU (its matrices are tiny: a GPU would not be faster); ``device="cuda"`` is
    accepted only where CUDA is available, else a ValueError names the argument.
    """
    if device is None:
        return torch.device("cpu")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} but this machine has no CUDA GPU available to PyTorch; use 'cpu'")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {str(device)!r}")
    return device


def _show_figures_inline() -> str | None:
    """In a Jupyter kernel whose matplotlib backend cannot show figures (e.g. ``MPLBACKEND=Agg`` set on a
    cluster or over SSH), switch to the inline backend and say so; elsewhere do nothing."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or not hasattr(shell, "kernel"):
        return None
    backend = matplotlib.get_backend().lower()
    if backend in ("agg", "pdf", "ps", "svg", "cairo", "template", "pgf"):
        shell.run_line_magic("matplotlib", "inline")
        return f"matplotlib backend {backend!r} shows no figures in a notebook: switched to 'inline'"
    return None


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) with one integer."""
    seed = check_arg.positive_int("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` fixed: the seed, the scale and the device."""

    seed: int
    scale: str
    device: torch.device

    def __str__(self) -> str:
        return (f"seed {self.seed} | scale {self.scale!r} | device {self.device.type} | "
                f"torch {torch.__version__.split('+')[0]} | python {platform.python_version()}")


def setup(seed: int = 0, scale: str | None = None, device: str | None = None, verbose: bool = True) -> Setup:
    """Fix the seed, the scale and the device (the CPU unless ``device`` says otherwise) for a notebook,
    make sure figures show in a notebook whatever matplotlib backend the environment set, and say so.

    Call it once, in the set-up cell. ``scale=None`` reads ``$COURSE_SCALE`` (default ``"quick"``);
    an explicit ``scale`` holds for the rest of the session (every later :func:`by_scale` uses it).
    """
    global _scale_override
    chosen = get_scale(scale)
    if scale is not None:
        _scale_override = chosen
    set_seed(seed)
    result = Setup(seed=seed, scale=chosen, device=get_device(device))
    note = _show_figures_inline()
    if verbose:
        print(result)
        if note:
            print("note:", note)
    return result


@contextlib.contextmanager
def num_threads(k: int | None):
    """Run a block with ``k`` intra-op threads (``None``: leave torch's setting), then restore the count.

    Example: ``with num_threads(auto_threads(net, n)): ...``.
    """
    if k is None:
        yield
        return
    k = check_arg.positive_int("num_threads", k)
    before = torch.get_num_threads()
    torch.set_num_threads(k)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def auto_threads(net, n: int) -> int | None:
    """The thread count for passes of a ResNet ``net`` over ``n`` samples: 1 for small layers on the CPU,
    ``None`` (torch's setting) otherwise. Used by every depth loop of the engine (training, states,
    neural-ODE solves)."""
    # The depth loop issues tiny matrix products (~n*q*m flops each); with several threads their
    # synchronisation costs more than the work, and far more on a busy machine. One thread is fastest
    # below ~1e6 multiply-adds per layer (measured: 100x16 by 16x32 at 2 us on one thread).
    # With two threads or fewer (laptops, Binder, Colab, CI) one thread is also safer for large layers:
    # on a busy 2-core machine two threads stall each other (a bridge cell of notebook 09: 89 s vs ~5 s).
    if net.device.type != "cpu":
        return None
    return 1 if n * net.q * net.m < 1_000_000 or torch.get_num_threads() <= 2 else None


def progress_allowed(progress: bool | None) -> bool:
    """Whether a progress bar may be shown: ``progress=False`` never; otherwise not when the environment
    variable ``COURSE_PROGRESS`` is ``0`` -- set by the tests and by batch re-execution of the notebooks,
    so that stored outputs carry no progress-bar debris."""
    if progress is False:
        return False
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def progress_bar(total: int, desc: str, initial: int = 0):
    """A notebook-aware tqdm bar (``tqdm.auto``: a widget in Jupyter, text in a terminal) that disappears
    when closed. Close it in a ``finally`` block, so that an interrupted run leaves no bar open."""
    return tqdm(total=total, initial=initial, desc=desc, leave=False)
