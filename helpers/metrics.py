"""Measurements of the course: smoothness of the weights across depth, distance to a deeper network,
and fitted rates on log--log axes."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import _validation as check_arg


def layer_gaps(V: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``||V_{k+1} - V_k||_F + ||W_{k+1} - W_k||_F`` for k = 1..L-1, shape (L-1,).

    The course's norm of ``Z_k = (V_k, W_k)`` is ``||Z_k|| = ||V_k||_F + ||W_k||_F`` (the paper's Section 3, notebook 00).
    """
    check_arg.tensor("V", V, ndim=3)
    check_arg.tensor("W", W, ndim=3)
    if V.shape[0] != W.shape[0]:
        raise ValueError(f"V and W must have the same depth, got {V.shape[0]} and {W.shape[0]}")
    return (torch.linalg.vector_norm(V[1:] - V[:-1], dim=(1, 2))
            + torch.linalg.vector_norm(W[1:] - W[:-1], dim=(1, 2)))


def max_layer_gap(V: torch.Tensor, W: torch.Tensor) -> float:
    """``max_k ||Z_{k+1} - Z_k||``: O(1/L) for weights that discretize a Lipschitz function of depth
    (Prop. 3), O(1) for i.i.d. weights. Zero for a network of depth 1."""
    gaps = layer_gaps(V, W)
    return float(gaps.max()) if gaps.numel() else 0.0


def depth_distance(V: torch.Tensor, W: torch.Tensor, V_ref: torch.Tensor, W_ref: torch.Tensor) -> float:
    """L^2-in-depth distance between a depth-L network and a deeper reference of depth L_ref
    (a multiple of L), the stand-in for L = infinity of Fig. 1 (right):

        ( (1/L) sum_k ||Z_k - Z^ref_{k L_ref / L}||^2 )^{1/2},   ||Z|| = ||V||_F + ||W||_F,

    comparing layer k (k = 1..L) with reference layer k L_ref / L, both at Prop. 2's depth s = k/L
    (V_k = V(k/L)). The authors' script (``V_true[int(i * N / len(V[t]))]``, i = k - 1, N = L_ref) pairs
    layer k with reference layer (k - 1) L_ref / L + 1, at s = (k - 1)/L + 1/L_ref: L_ref/L - 1 reference
    cells, i.e. 1/L - 1/L_ref in s -- about one coarse layer -- before Prop. 2's sampling and the paper's
    Z^L(s) = Z_{floor((L-1)s)+1}. The script's pairing is exact for the left-endpoint convention of
    ``helpers.ode.table_index`` (layer k on [(k-1)/L, k/L)). The two conventions differ by O(1/L) in s:
    the rate is the same, but since the distance is itself O(1/L), its values can change by an O(1) factor.
    """
    for name, t in (("V", V), ("W", W), ("V_ref", V_ref), ("W_ref", W_ref)):
        check_arg.tensor(name, t, ndim=3)
    L, L_ref = V.shape[0], V_ref.shape[0]
    if L_ref % L:
        raise ValueError(f"the reference depth must be a multiple of L, got L = {L}, L_ref = {L_ref}")
    rows = torch.arange(1, L + 1, device=V_ref.device) * (L_ref // L) - 1
    per_layer = (torch.linalg.vector_norm(V - V_ref[rows], dim=(1, 2))
                 + torch.linalg.vector_norm(W - W_ref[rows], dim=(1, 2)))
    return float(per_layer.pow(2).mean().sqrt())


@dataclass(frozen=True)
class SlopeFit:
    """Least-squares line ``log y = slope * log x + intercept`` with the standard error of the slope."""

    slope: float
    intercept: float
    stderr: float

    def predict(self, x) -> np.ndarray:
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope

    def __str__(self) -> str:
        err = "" if math.isnan(self.stderr) else f" ± {self.stderr:.2f}"
        return f"slope {round(self.slope, 2) + 0.0:.2f}{err}"      # + 0.0: never "-0.00"


def fit_loglog_slope(x, y) -> SlopeFit:
    """Fit ``y ~ C x^slope`` by least squares on log--log axes.

    ``stderr`` is the usual standard error of the slope (NaN with only two points). All values must be
    positive and finite.

    Example: ``fit_loglog_slope([1, 2, 4], [1, .5, .25]).slope == -1.0``.
    """
    x = check_arg.as_float_array("x", x).ravel()
    y = check_arg.as_float_array("y", y).ravel()
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.size} and {y.size}")
    if x.size < 2:
        raise ValueError(f"a slope needs at least 2 points, got {x.size}")
    for name, v in (("x", x), ("y", y)):
        if not np.all(np.isfinite(v)) or np.any(v <= 0):
            raise ValueError(f"{name} must be positive and finite for a log-log fit, got {v.tolist()}")
    lx, ly = np.log(x), np.log(y)
    if np.ptp(lx) == 0:
        raise ValueError("x must take at least two different values")
    slope, intercept = np.polyfit(lx, ly, 1)
    if x.size > 2:
        resid = ly - (slope * lx + intercept)
        stderr = math.sqrt(resid @ resid / (x.size - 2) / ((lx - lx.mean()) @ (lx - lx.mean())))
    else:
        stderr = float("nan")
    return SlopeFit(float(slope), float(intercept), stderr)
