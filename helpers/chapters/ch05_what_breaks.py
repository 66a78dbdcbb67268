"""The ReLU counterexample of notebook 05 (``notebooks/05_what_breaks_the_ode_structure.ipynb``): a
non-smooth activation tears neighbouring layers Omega(1) apart from an O(1/L) start.

The paper's appendix (Marion, Wu, Sander & Biau, ICLR 2024, Section 10) takes depth 2L, d = 1 and scalar
layers (notebook 05, eqs. (5.3)-(5.6))

    h_0 = x,   h_k = h_{k-1} + (1/(2L)) sigma(w_k h_{k-1}),   k = 1..2L,
    loss = (h_{2L} - C x)^2,   w_k(0) = (-1)^k / (2L),   x > 0, C > 1,

trained by the plain gradient flow dw/dt = -dloss/dw. With ReLU the odd layers never move and the even
ones converge to w* with (1 + w*/(2L))^L = C (:func:`relu_w_star`), so neighbours end Omega(1) apart,
although Prop. 7's other hypothesis (initial gaps O(1/L)) holds: only the smoothness of sigma fails.

* :func:`relu_w_star` -- the limit w* of the even weights, eq. (5.6);
* :func:`counterexample_net` -- the network, as :meth:`helpers.ResNet.simple` with q = m = 1 and V_k = 1;
* :func:`run_counterexample` -- trains it with :func:`helpers.train` and returns a :class:`CounterexampleRun`.

The notebook's other experiments (i.i.d. starts, GELU/ReLU/tanh on Fig. 1's task) are loops over
:func:`helpers.make_resnet` and :func:`helpers.train` written in the notebook itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from .. import _validation as check_arg
from ..resnet import ResNet
from ..train import train


def relu_w_star(L: int, C: float) -> float:
    """The limit of the even weights in the ReLU counterexample (notebook 05, eq. (5.6)): the root of
    ``(1 + w*/(2L))^L = C``,

        w* = 2L (C^{1/L} - 1)  >=  2 log C   (since e^u >= 1 + u with u = log(C)/L),

    decreasing in L towards ``2 log C``. ``L`` is half the depth; ``C > 1`` the target ratio y / x.
    Raises TypeError/ValueError naming ``L`` or ``C``.

    Example: ``relu_w_star(1, 2.0) == 2.0``; ``relu_w_star(10**6, 2.0)`` is close to ``2 log 2 = 1.386``.
    """
    L = check_arg.positive_int("L", L)
    C = check_arg.positive_float("C", C)
    if C <= 1:
        raise ValueError(f"C must be > 1 (the target C x must lie above the input x > 0), got {C}")
    return 2 * L * math.expm1(math.log(C) / L)


def counterexample_net(L: int, activation: str = "relu", dtype=torch.float64) -> ResNet:
    """The appendix's network of depth 2L as a :class:`~helpers.ResNet` (simplified form, q = m = 1):
    ``V`` of shape (2L, 1, 1) all ones (kept frozen in training), ``W`` of shape (2L, 1, 1) with layer
    k = 1..2L (tensor index k-1) equal to ``(-1)^k / (2L)``. Its forward pass is
    ``h_k = h_{k-1} + (1/(2L)) sigma(w_k h_{k-1})`` (notebook 05, eq. (5.3)).

    Raises TypeError/ValueError naming ``L``, ``activation`` or ``dtype``.

    Example: ``counterexample_net(2).W.flatten()`` is ``[-0.25, 0.25, -0.25, 0.25]``.
    """
    L = check_arg.positive_int("L", L)
    dtype = check_arg.float_dtype("dtype", dtype)
    k = torch.arange(1, 2 * L + 1, dtype=torch.float64)
    W = ((-1.0) ** k / (2 * L)).reshape(2 * L, 1, 1)
    V = torch.ones(2 * L, 1, 1, dtype=torch.float64)
    return ResNet.simple(V.to(dtype), W.to(dtype), activation=activation)


@dataclass
class CounterexampleRun:
    """One training run of the counterexample. ``w0`` and ``w`` are the weights w_1..w_{2L} (shape (2L,))
    at the start and at the end; ``losses`` and ``max_gap`` (``max_k |w_{k+1} - w_k|``) are indexed by step."""

    L: int
    activation: str
    C: float
    x: float
    eta: float
    w0: np.ndarray
    w: np.ndarray
    losses: np.ndarray
    max_gap: np.ndarray

    @property
    def w_star(self) -> float:
        """The ReLU prediction for the even weights, :func:`relu_w_star`."""
        return relu_w_star(self.L, self.C)

    @property
    def even(self) -> np.ndarray:
        """Final weights of the even layers k = 2, 4, ..., 2L."""
        return self.w[1::2]

    @property
    def odd(self) -> np.ndarray:
        """Final weights of the odd layers k = 1, 3, ..., 2L-1."""
        return self.w[0::2]

    @property
    def even_rel_error(self) -> float:
        """``max_k |w_{2k} / w* - 1|`` at the end of training."""
        return float(np.max(np.abs(self.even / self.w_star - 1.0)))

    @property
    def odd_drift(self) -> float:
        """``max_k |w_{2k+1}(T) - w_{2k+1}(0)|``: how far the odd weights moved."""
        return float(np.max(np.abs(self.odd - self.w0[0::2])))

    @property
    def even_drift(self) -> float:
        """``max_k |w_{2k}(T) - w_{2k}(0)|``: how far the even weights moved."""
        return float(np.max(np.abs(self.even - self.w0[1::2])))

    @property
    def final_gap(self) -> float:
        """``max_k |w_{k+1}(T) - w_k(T)|``."""
        return float(self.max_gap[-1])

    @property
    def max_gap_overall(self) -> float:
        """``max_{k, t <= T} |w_{k+1}(t) - w_k(t)|``."""
        return float(self.max_gap.max())

    @property
    def change_gap(self) -> float:
        """``max_k |(w_{k+1}(T) - w_k(T)) - (w_{k+1}(0) - w_k(0))|``: the largest change of a gap between
        neighbours made by training (the gap between neighbours of the displacement ``w(T) - w(0)``);
        0 without training."""
        return float(np.max(np.abs(np.diff(self.w - self.w0))))


def run_counterexample(L: int, *, C: float, x: float = 1.0, activation: str = "relu", steps: int = 200,
                       step_scale: float = 0.5) -> CounterexampleRun:
    """Train the appendix's network (depth 2L, one sample (x, C x)) by gradient descent on the plain flow
    ``dw_k/dt = -dloss/dw_k`` (no factor L: ``train(..., L_factor=False)``), V frozen, float64.

    Each weight's gradient carries the factor 1/(2L) of its layer, so the flow needs a time of order L
    to converge; the step is ``eta = step_scale * L`` (with ReLU, gradient descent near w* is stable
    below about ``4 L / (x C)^2``; the default 0.5 L is well inside for x C <= 2, also for GELU and tanh
    in the tests). After ``steps`` steps the flow time is ``steps * eta``.

    Raises TypeError/ValueError naming ``L``, ``C``, ``x``, ``step_scale`` (here), ``activation`` or
    ``steps`` (in the engine).

    Example: ``run = run_counterexample(16, C=1.5)``; ``run.even_rel_error < 0.01``, ``run.odd_drift == 0``.
    """
    relu_w_star(L, C)                                   # validates L and C
    x = check_arg.positive_float("x", x)
    step_scale = check_arg.positive_float("step_scale", step_scale)
    net = counterexample_net(L, activation)
    xs = torch.tensor([[x]], dtype=torch.float64)
    eta = step_scale * L
    rec = train(net, xs, C * xs, steps=steps, eta=eta, normalization="n", L_factor=False, freeze=("V",),
                progress=False)
    return CounterexampleRun(L=L, activation=activation, C=float(C), x=x, eta=eta,
                             w0=net.W.flatten().numpy().copy(), w=rec.net.W.flatten().numpy().copy(),
                             losses=rec.losses, max_gap=rec.max_gap)
