"""Data sets of the course: synthetic Gaussian data (the paper's Fig. 1 and 2), inputs on a sphere (the data
of Prop. 5 and Thm. 6) and a real data set that ships inside scikit-learn (8x8 handwritten digits), so that
nothing is downloaded at run time."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import _validation as check_arg


def gaussian_data(n: int, d: int, d_out: int | None = None, *, seed: int, dtype=torch.float64, device=None):
    """Inputs ``x`` (n, d) and targets ``y`` (n, d_out), all entries i.i.d. standard Gaussian (as the
    paper's synthetic experiments: d = d' = 16). ``d_out`` defaults to ``d``."""
    n = check_arg.positive_int("n", n)
    d = check_arg.positive_int("d", d)
    d_out = d if d_out is None else check_arg.positive_int("d_out", d_out)
    check_arg.float_dtype("dtype", dtype)
    gen = torch.Generator().manual_seed(check_arg.positive_int("seed", seed, minimum=0))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = torch.randn(n, d_out, generator=gen, dtype=torch.float64)
    return x.to(dtype=dtype, device=device), y.to(dtype=dtype, device=device)


def sphere_data(n: int, d: int, d_out: int, *, q: int, target_scale: float, seed: int, dtype=torch.float64):
    """Prop. 5's inputs and some targets: ``x`` (n, d) with rows i.i.d. uniform on the sphere of radius
    ``sqrt(q)`` (so that ``||x_i|| = sqrt(q)``), ``y`` (n, d_out) = ``target_scale`` times i.i.d. standard
    Gaussians, so that E[(1/n) sum_i ||y_i||^2] = d_out * target_scale^2 (Thm. 6 asks this mean to be small).

    With ``||x_i|| = sqrt(q)`` every pre-activation ``<w, A x_i> / sqrt(q)`` of the initial network is a standard
    Gaussian for a Gaussian row w -- the normalisation under which the Hermite coefficients of sigma enter.
    Needs ``q >= d + d_out`` (the hidden dimension of Prop. 5). Raises TypeError/ValueError naming the argument.

    Example: ``x, y = sphere_data(32, 8, 2, q=10, target_scale=1e-6, seed=0)``; ``x.norm(dim=1)`` is all sqrt(10).
    """
    n, d, d_out = (check_arg.positive_int(k, v) for k, v in (("n", n), ("d", d), ("d_out", d_out)))
    q = check_arg.positive_int("q", q)
    if q < d + d_out:
        raise ValueError(f"q must be >= d + d_out = {d + d_out} (Prop. 5), got q = {q}")
    target_scale = check_arg.positive_float("target_scale", target_scale)
    check_arg.float_dtype("dtype", dtype)
    gen = torch.Generator().manual_seed(check_arg.positive_int("seed", seed, minimum=0))
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    x = x / x.norm(dim=1, keepdim=True) * math.sqrt(q)
    y = target_scale * torch.randn(n, d_out, generator=gen, dtype=torch.float64)
    return x.to(dtype), y.to(dtype)


@dataclass
class Digits:
    """scikit-learn's 8x8 digits: ``x`` (n, 64) standardised pixels, ``labels`` (n,) in 0..9,
    ``y`` (n, 10) one-hot targets; ``images`` (n, 8, 8) raw pixels in 0..16."""

    x: torch.Tensor
    y: torch.Tensor
    labels: torch.Tensor
    images: np.ndarray


def digits_data(n: int | None = None, *, seed: int, dtype=torch.float64, device=None) -> Digits:
    """``n`` random samples (all 1797 if ``None``) of the digits data set bundled with scikit-learn
    (no download). Pixels are standardised to mean 0 and variance 1 over the whole set."""
    from sklearn.datasets import load_digits   # here: scikit-learn loads SciPy, which only this data set needs

    data = load_digits()
    total = len(data.target)
    if n is None:
        n = total
    n = check_arg.positive_int("n", n)
    check_arg.float_dtype("dtype", dtype)
    if n > total:
        raise ValueError(f"n must be <= {total} (the size of the digits data set), got {n}")
    rng = np.random.default_rng(check_arg.positive_int("seed", seed, minimum=0))
    idx = np.sort(rng.choice(total, size=n, replace=False))
    pixels = data.data.astype(np.float64)
    pixels = (pixels - pixels.mean(axis=0)) / (pixels.std(axis=0) + 1e-8)
    labels = torch.as_tensor(data.target[idx], device=device)
    x = torch.as_tensor(pixels[idx], dtype=dtype, device=device)
    y = torch.nn.functional.one_hot(labels, 10).to(dtype=dtype, device=device)
    return Digits(x=x, y=y, labels=labels, images=data.images[idx])
