"""One place for the course's run-time settings: the scale switch, the device and the seed.

The *scale* is ``"quick"`` (the default: every notebook in about a minute on 2 CPU cores) or ``"paper"``
(the paper's settings: depths, steps and sample sizes of its experiments). It is read from the
environment variable ``COURSE_SCALE`` unless an explicit argument overrides it::

    COURSE_SCALE=paper jupyter lab          # whole course at the paper's scale
    helpers.setup(seed=0, scale="paper")    # one notebook at the paper's scale
"""
from __future__ import annotations

import os
import platform
import random
from dataclasses import dataclass

import numpy as np
import torch

from . import _validation as check_arg

SCALE_ENV = "COURSE_SCALE"
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
    """``device`` if given, else CUDA when a GPU is present, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


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
    """Fix the seed, the scale and the device for a notebook, and say which they are.

    Call it once, in the set-up cell. ``scale=None`` reads ``$COURSE_SCALE`` (default ``"quick"``);
    an explicit ``scale`` holds for the rest of the session (every later :func:`by_scale` uses it).
    """
    global _scale_override
    chosen = get_scale(scale)
    if scale is not None:
        _scale_override = chosen
    set_seed(seed)
    result = Setup(seed=seed, scale=chosen, device=get_device(device))
    if verbose:
        print(result)
    return result
