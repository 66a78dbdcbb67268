"""Notebook 01 (``notebooks/01_neural_odes.ipynb``, sections 4 and 5): a 2-D neural ODE a student can
*see*, and the measured cost of the two ways to differentiate through an ODE solver.

The neural ODE is the paper's eq. (6) (Marion, Wu, Sander & Biau, ICLR 2024, Section 3),
``H(0) = A x``, ``dH/ds = (1/sqrt m) V(s) sigma(W(s) H / sqrt q)``, ``F(x) = B H(1)``, solved by the
engine's :class:`~helpers.NeuralODE`.

* :func:`two_moons`, :func:`train_toy_ode`, :func:`plot_trajectories` -- the 2-D example (notebook 01,
  section 5): ``dH/ds = V(s) sigma(W(s) H)`` in the plane (q = d = 2, without the 1/sqrt m, 1/sqrt q
  factors), read out by the fixed row ``B = (1, 0)``, trained (backpropagation through RK4 steps, Adam)
  so that ``F(x_i)`` is the class +-1.
* :func:`gradient_cost` -- wall time and peak memory held by the autograd graph (bytes of the tensors
  saved for backward, counted with ``torch.autograd.graph.saved_tensors_hooks``) of one forward +
  backward pass of any closure.
* :func:`compare_gradient_methods`, :func:`plot_gradient_costs` -- that measurement for a
  :class:`~helpers.NeuralODE` solved with N explicit Euler steps, differentiated either by
  backpropagation through the steps (``torchdiffeq.odeint``) or by the adjoint method
  (``torchdiffeq.odeint_adjoint``; Chen et al., NeurIPS 2018), as N grows (notebook 01, section 4).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
import torchdiffeq

from .. import _validation as check_arg
from ..config import num_threads
from ..init import init_weights
from ..memory import SavedTensorMeter
from ..ode import NeuralODE
from ..plotting import COLORS, plot_loglog_rate
from ..resnet import mse_loss
from ..train import TrainingDivergedError


# --------------------------------------------------------------------------------------------------
# The 2-D example
# --------------------------------------------------------------------------------------------------
def two_moons(n: int, *, noise: float = 0.1, seed: int, dtype=torch.float64):
    """Two interleaved half circles in the plane (the classic "two moons"), centred and scaled to
    coordinates of order 1.

    Returns ``x`` (n, 2), ``labels`` (n,) in {0, 1} and targets ``y`` (n, 1) = -1 for class 0, +1 for class 1.
    Class 0 is the upper moon, class 1 the lower one; ``noise`` is the standard deviation of the
    Gaussian jitter added to every coordinate *in the unscaled coordinates* (the moons of radius 1),
    before the centring and the division by 0.75: in the returned ``x`` the jitter's standard deviation
    is ``noise / 0.75``. Raises ValueError/TypeError naming ``n``, ``noise``, ``seed`` or ``dtype``.

    Example: ``x, labels, y = two_moons(200, seed=0)``.
    """
    n = check_arg.positive_int("n", n, minimum=2)
    noise = check_arg.positive_float("noise", noise, allow_zero=True)
    dtype = check_arg.float_dtype("dtype", dtype)
    gen = torch.Generator().manual_seed(check_arg.positive_int("seed", seed, minimum=0))
    labels = torch.arange(n) % 2
    angle = math.pi * torch.rand(n, generator=gen, dtype=torch.float64)
    upper = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    lower = torch.stack([1.0 - torch.cos(angle), 0.5 - torch.sin(angle)], dim=1)
    x = torch.where(labels[:, None] == 0, upper, lower)
    x = x + noise * torch.randn(n, 2, generator=gen, dtype=torch.float64)
    x = (x - torch.tensor([0.5, 0.25], dtype=torch.float64)) / 0.75
    y = (2.0 * labels - 1.0).to(torch.float64)[:, None]
    return x.to(dtype), labels, y.to(dtype)


@dataclass
class ToyRecord:
    """What :func:`train_toy_ode` returns: the trained ODE, the loss after each step (``losses[0]``: at
    initialisation), the training accuracy (sign of F(x) against the class), the wall time (s) and the
    settings of the run."""

    ode: NeuralODE
    losses: np.ndarray
    accuracy: float
    wall_time: float
    settings: dict = field(default_factory=dict)


def train_toy_ode(x: torch.Tensor, y: torch.Tensor, *, L: int = 8, m: int = 16, steps: int = 300,
                  lr: float = 0.05, n_steps: int = 16, activation: str = "tanh", seed: int,
                  divergence_factor: float = 1e4) -> ToyRecord:
    """Train the 2-D neural ODE ``dH/ds = V(s) sigma(W(s) H)``, ``H(0) = x``, ``F(x) = (1, 0) H(1)``.

    The weights are a table of ``L`` layers ``V`` (L, 2, m), ``W`` (L, m, 2), linearly interpolated in s,
    initialised as the paper's theory does (Section 3: ``V_k = 0``, weight-tied ``W_k ~ N(0, 1)``, so the
    flow starts as the identity). Loss ``(1/n) sum_i (F(x_i) - y_i)^2``; Adam with step ``lr`` for
    ``steps`` full-batch steps; gradients by backpropagation through ``n_steps`` RK4 steps. The readout
    ``B = (1, 0)`` is fixed.

    This is plain Adam, a practical optimiser for the picture -- *not* the gradient flow of eq. (4) (no
    factor L, adaptive per-coordinate steps): for that flow use :func:`helpers.train` on a ResNet.

    ``x``: (n, 2); ``y``: (n, 1) with entries +-1, same dtype and device as ``x`` (tensors: convert a list
    or an array with ``torch.as_tensor(x, dtype=torch.float64)``). Returns a :class:`ToyRecord`.

    Raises :class:`helpers.TrainingDivergedError` (naming the step and suggesting a smaller ``lr``), as
    :func:`helpers.train` does, when the loss becomes NaN or infinite or exceeds ``divergence_factor``
    times the initial loss; ValueError/TypeError naming the argument for bad shapes, dtypes or settings.

    Example: ``x, labels, y = two_moons(200, seed=0); rec = train_toy_ode(x, y, seed=0)``.
    """
    check_arg.tensor("x", x, shape=(None, 2))
    check_arg.tensor("y", y, shape=(x.shape[0], 1))
    check_arg.same_dtype_device(x=x, y=y)
    steps = check_arg.positive_int("steps", steps, minimum=0)
    n_steps = check_arg.positive_int("n_steps", n_steps)
    lr = check_arg.positive_float("lr", lr)
    divergence_factor = check_arg.positive_float("divergence_factor", divergence_factor)
    V, W = init_weights(L, 2, m, kind="tied", V="zero", seed=seed, dtype=x.dtype, device=x.device)
    readout = torch.tensor([[1.0, 0.0]], dtype=x.dtype, device=x.device)
    ode = NeuralODE((V, W), activation=activation, B=readout, interpolation="linear")
    ode.B.requires_grad_(False)
    opt = torch.optim.Adam([ode.V_table, ode.W_table], lr=lr)
    losses = []

    def record(loss: torch.Tensor) -> None:    # losses[i]: after i steps; the same rule as helpers.train
        losses.append(float(loss.detach()))
        i = len(losses) - 1
        if not math.isfinite(losses[i]) or (i > 0 and losses[i] > divergence_factor * max(losses[0], 1e-300)):
            raise TrainingDivergedError(
                f"training diverged at step {i} of {steps}: loss = {losses[i]:.3g}, initial loss = "
                f"{losses[0]:.3g}. The step lr = {lr:g} is too large for this problem; try lr = {lr / 10:g}.")

    start = time.perf_counter()
    with num_threads(1):                      # 2-D states: one thread is fastest
        for _ in range(steps):
            opt.zero_grad()
            loss = mse_loss(ode.solve(x, method="rk4", n_steps=n_steps), y, "n")
            record(loss)
            loss.backward()
            opt.step()
        wall = time.perf_counter() - start
        with torch.no_grad():
            out = ode.solve(x, method="rk4", n_steps=n_steps)
    record(mse_loss(out, y, "n"))
    accuracy = float((torch.sign(out) == torch.sign(y)).double().mean())
    settings = dict(L=ode.V_table.shape[0], m=ode.m, steps=steps, lr=lr, n_steps=n_steps,
                    activation=ode.activation, seed=seed)
    return ToyRecord(ode=ode, losses=np.array(losses), accuracy=accuracy, wall_time=wall, settings=settings)


def _ode_reference(ode: NeuralODE) -> torch.Tensor:
    """A tensor of the ODE's weights, to read their dtype and device."""
    for p in ode.parameters():
        return p
    return torch.as_tensor(ode.V_fn(0.0))


def _check_ode_data(ode: NeuralODE, x: torch.Tensor, y: torch.Tensor | None = None) -> None:
    """``x`` (n, input width of ``ode``) and ``y`` (n, output width) with the ODE's dtype and device."""
    if not isinstance(ode, NeuralODE):
        raise TypeError(f"ode must be a helpers.NeuralODE, got {type(ode).__name__}")
    width_in = ode.q if ode.A is None else ode.A.shape[1]
    check_arg.tensor("x", x, shape=(None, width_in))
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one sample, got shape {tuple(x.shape)}")
    if y is not None:
        width_out = ode.q if ode.B is None else ode.B.shape[0]
        check_arg.tensor("y", y, shape=(x.shape[0], width_out))
    check_arg.same_dtype_device(x=x, y=y, ode_weights=_ode_reference(ode))


def plot_trajectories(ode: NeuralODE, x: torch.Tensor, labels, *, n_steps: int = 32, ax=None,
                      max_points: int = 150, title: str | None = "Points pushed by the neural ODE"):
    """Draw the paths ``s -> H(s)``, s in [0, 1], of the points ``x`` (n, 2) under a 2-D neural ODE
    (RK4 with ``n_steps`` steps): hollow circles at s = 0, filled dots at s = 1, colours by class, and the
    line ``H_1 = 0`` on which the readout ``(1, 0) H(1)`` changes sign. At most ``max_points`` points.

    ``x``: a tensor with the ODE's dtype and device; ``labels``: (n,) classes in {0, 1} (the second output
    of :func:`two_moons`), as a tensor, a list or a NumPy array. Returns the axes. Raises ValueError/TypeError
    naming ``ode``, ``x`` or ``labels``.

    Example: ``plot_trajectories(rec.ode, x, labels, ax=ax)``.
    """
    if not isinstance(ode, NeuralODE):
        raise TypeError(f"ode must be a helpers.NeuralODE, got {type(ode).__name__}")
    if ode.q != 2 or ode.A is not None:
        raise ValueError(f"plot_trajectories needs a neural ODE in the plane (q = 2, no input map A), "
                         f"got q = {ode.q}" + ("" if ode.A is None else " and an input map A"))
    _check_ode_data(ode, x)
    lab = check_arg.as_float_array("labels", labels)
    if lab.shape != (x.shape[0],):
        raise ValueError(f"labels must have shape ({x.shape[0]},) (one class per row of x), got {lab.shape}")
    bad = lab[(lab != 0) & (lab != 1)]
    if bad.size:
        raise ValueError(f"labels must be classes in {{0, 1}} (the second output of two_moons), got values "
                         f"{sorted(set(bad.tolist()))[:5]}; for targets y in {{-1, +1}} use (y[:, 0] > 0).long()")
    n_steps = check_arg.positive_int("n_steps", n_steps)
    k = min(x.shape[0], check_arg.positive_int("max_points", max_points))
    with torch.no_grad():
        path = ode.solve(x[:k], method="rk4", n_steps=n_steps, return_path=True).cpu().numpy()
    lab = lab[:k]
    class_colors = (COLORS["smooth"], COLORS["iid"])       # class -1 (blue), class +1 (orange)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    for c in (0, 1):
        sel = lab == c
        color, name = class_colors[c], "-1" if c == 0 else "+1"
        ax.plot(path[:, sel, 0], path[:, sel, 1], color=color, lw=0.7, alpha=0.45)
        ax.scatter(path[0, sel, 0], path[0, sel, 1], s=14, facecolors="none", edgecolors=color, lw=0.8,
                   label=f"class {name}, $s=0$")
        ax.scatter(path[-1, sel, 0], path[-1, sel, 1], s=14, color=color, label=f"class {name}, $s=1$")
    ax.axvline(0.0, color=COLORS["reference"], ls="--", lw=1, label=r"$H_1 = 0$ (readout changes sign)")
    ax.set_xlabel(r"$H_1(s)$")
    ax.set_ylabel(r"$H_2(s)$")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    return ax


# --------------------------------------------------------------------------------------------------
# Measuring the cost of a gradient
# --------------------------------------------------------------------------------------------------
@dataclass
class GradientCost:
    """What :func:`gradient_cost` measured for one forward + backward pass."""

    loss: float
    grads: tuple            # gradients, in the order of ``params``
    peak_bytes: int         # peak memory held by tensors saved for backward (forward and backward)
    graph_bytes: int        # memory held by the graph between the forward and the backward pass
    n_saved: int            # number of tensors saved for backward
    time: float             # best wall time of forward + backward over ``repeats`` runs (seconds)


def gradient_cost(loss_fn: Callable[[], torch.Tensor], params, *, repeats: int = 3,
                  ignore=()) -> GradientCost:
    """Measure the cost of one gradient: call ``loss_fn()`` (a closure returning a scalar tensor), then
    ``torch.autograd.grad(loss, params)``.

    * memory: one run while the tensors saved for backward are counted (per storage; ``params`` and the
      ``ignore`` tensors not counted);
    * time: the best of ``repeats`` further runs without the counting (its hooks cost time).

    ``params``: a tensor or a list of tensors with ``requires_grad=True``, each used by ``loss_fn``
    (a parameter the loss does not depend on raises, rather than giving a ``None`` gradient).

    Example
    -------
    >>> w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> cost = gradient_cost(lambda: (w.exp() * w).sum(), [w])
    >>> cost.graph_bytes      # exp saves its output (3 doubles); the product saves it again and w (ignored)
    24
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a callable returning a scalar tensor, got {type(loss_fn).__name__}")
    if isinstance(params, torch.Tensor):
        params = [params]                # one tensor, not a list: list(w) would split it into views
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"params must be a tensor or a list of tensors with requires_grad=True, "
                        f"got {type(params).__name__}") from None
    if not params or not all(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
        got = [f"tensor(requires_grad={p.requires_grad})" if isinstance(p, torch.Tensor) else type(p).__name__
               for p in params[:5]]
        raise ValueError(f"params must be a non-empty list of tensors with requires_grad=True, got {got}")
    repeats = check_arg.positive_int("repeats", repeats)
    with SavedTensorMeter(ignore=list(params) + list(ignore)) as tracker:
        loss = loss_fn()
        if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
            raise ValueError(f"loss_fn must return a scalar tensor, got {type(loss).__name__} "
                             f"of shape {tuple(getattr(loss, 'shape', ()))}")
        graph_bytes = tracker.live_bytes
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    unused = [i for i, g in enumerate(grads) if g is None]
    if unused:
        i = unused[0]
        raise ValueError(f"params[{i}] (shape {tuple(params[i].shape)}) is not used by loss_fn: its gradient is "
                         f"None; pass only the tensors the loss depends on ({len(unused)} of {len(params)} unused)")
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.autograd.grad(loss_fn(), params, allow_unused=True)
        times.append(time.perf_counter() - start)
    return GradientCost(loss=float(loss.detach()), grads=tuple(grads), peak_bytes=tracker.peak_bytes,
                        graph_bytes=graph_bytes, n_saved=tracker.n_saved, time=min(times))


def _euler_loss_fn(ode: NeuralODE, x: torch.Tensor, y: torch.Tensor, n_steps: int, adjoint: bool,
                   normalization: str) -> Callable[[], torch.Tensor]:
    """A closure returning the loss of ``ode`` solved by ``n_steps`` explicit Euler steps of torchdiffeq,
    differentiable by backpropagation through the steps (``adjoint=False``: ``odeint``) or by the adjoint
    method (``adjoint=True``: ``odeint_adjoint``, which integrates H and the adjoint state backward with
    the same Euler grid)."""
    integrate = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
    s = torch.tensor([0.0, 1.0], dtype=x.dtype, device=x.device)
    options = {"step_size": 1.0 / n_steps}

    def loss_fn():
        H1 = integrate(ode, ode.initial_state(x), s, method="euler", options=options)[-1]
        return mse_loss(ode.output(H1), y, normalization)

    return loss_fn


@dataclass
class GradientComparison:
    """Costs of backpropagation (``"backprop"``) and adjoint (``"adjoint"``) gradients against the number
    of Euler steps. Each dict maps a method to an array over ``n_steps``."""

    n_steps: np.ndarray
    peak_mb: dict
    time_s: dict
    n_evals: dict
    grad_gap: np.ndarray     # ||g_backprop - g_adjoint|| / ||g_adjoint|| (all parameters together)

    def table(self) -> str:
        """The measurements as a plain-text table."""
        head = f"{'N':>6} | {'graph MB backprop':>17} {'adjoint':>8} | {'time s backprop':>15} {'adjoint':>8} | " \
               f"{'f evals bp':>10} {'adj':>6} | {'gradient gap':>12}"
        rows = [head, "-" * len(head)]
        for i, N in enumerate(self.n_steps):
            rows.append(f"{N:>6d} | {self.peak_mb['backprop'][i]:>17.2f} {self.peak_mb['adjoint'][i]:>8.2f} | "
                        f"{self.time_s['backprop'][i]:>15.4f} {self.time_s['adjoint'][i]:>8.4f} | "
                        f"{self.n_evals['backprop'][i]:>10d} {self.n_evals['adjoint'][i]:>6d} | "
                        f"{self.grad_gap[i]:>12.2e}")
        return "\n".join(rows)


def compare_gradient_methods(ode: NeuralODE, x: torch.Tensor, y: torch.Tensor, n_steps_list, *,
                             repeats: int = 3, normalization: str = "n") -> GradientComparison:
    """For each N in ``n_steps_list``, the gradient of the loss of ``ode`` (solved by N Euler steps) with
    respect to its parameters, by backpropagation through the steps and by the adjoint method; measured
    with :func:`gradient_cost` (peak graph memory, best wall time) and the count of vector-field evaluations.

    ``x`` (n, d), ``y`` (n, d'): tensors with the ODE's dtype and device; ``n_steps_list``: a list (or
    range, or 1-D array) of positive integers; ``ode`` must have trainable parameters (a weight table).
    Raises ValueError/TypeError naming the argument.

    Example: ``compare_gradient_methods(ode, x, y, [16, 64, 256]).table()``.
    """
    if not isinstance(ode, NeuralODE):
        raise TypeError(f"ode must be a helpers.NeuralODE, got {type(ode).__name__}")
    params = [p for p in ode.parameters() if p.requires_grad]
    if not params:
        raise ValueError("ode has no trainable parameters: build the NeuralODE from a weight table")
    _check_ode_data(ode, x, y)
    n_steps_list = check_arg.int_list("n_steps_list", n_steps_list)
    methods = ("backprop", "adjoint")
    peak = {k: [] for k in methods}
    times = {k: [] for k in methods}
    evals = {k: [] for k in methods}
    gaps = []
    for N in n_steps_list:
        grads = {}
        for method in methods:
            fn = _euler_loss_fn(ode, x, y, N, method == "adjoint", normalization)
            ode.n_evals = 0
            torch.autograd.grad(fn(), params)
            evals[method].append(ode.n_evals)
            cost = gradient_cost(fn, params, repeats=repeats, ignore=[x, y])
            peak[method].append(cost.peak_bytes / 1e6)
            times[method].append(cost.time)
            grads[method] = torch.cat([g.reshape(-1) for g in cost.grads])
        gaps.append(float((grads["backprop"] - grads["adjoint"]).norm() / grads["adjoint"].norm()))
    as_arrays = lambda d, dt=float: {k: np.array(v, dtype=dt) for k, v in d.items()}
    return GradientComparison(n_steps=np.array(n_steps_list), peak_mb=as_arrays(peak), time_s=as_arrays(times),
                              n_evals=as_arrays(evals, int), grad_gap=np.array(gaps))


def plot_gradient_costs(result: GradientComparison, *, ax=None):
    """Three panels against the number of Euler steps N (log--log, fitted slopes in the legends): peak
    graph memory, wall time of one gradient, and the relative gap between the two gradients.

    ``ax``: three axes to draw in, or ``None`` (a new figure). Returns the three axes. A check cell
    computes its slopes with :func:`helpers.fit_loglog_slope` itself.

    Example: ``axes = plot_gradient_costs(compare_gradient_methods(ode, x, y, [16, 64, 256]))``.
    """
    if not isinstance(result, GradientComparison):
        raise TypeError(f"result must be a GradientComparison, got {type(result).__name__}")
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(1, 3, figsize=(14, 4.0))
    axes = list(np.ravel(ax))
    if len(axes) != 3:
        raise ValueError(f"ax must be three axes (memory, time, gap), got {len(axes)}")
    N = result.n_steps
    colors = {"backprop": COLORS["iid"], "adjoint": COLORS["smooth"]}
    for a, values, ylabel, title, refs in (
            (axes[0], result.peak_mb, "peak memory of the autograd graph (MB)", "Memory", (1.0, 0.0)),
            (axes[1], result.time_s, "wall time of one gradient (s)", "Time", (1.0, None))):
        for method, ref in zip(("backprop", "adjoint"), refs):
            plot_loglog_rate(N, values[method], ax=a, label=method, color=colors[method], ref_slope=ref)
        a.set_ylabel(ylabel)
        a.set_title(f"{title} of one gradient vs number of steps")
    plot_loglog_rate(N, result.grad_gap, ax=axes[2], label="backprop vs adjoint", color=COLORS["ode"],
                     ref_slope=-1.0)
    axes[2].set_ylabel(r"$\|g_{\mathrm{bp}} - g_{\mathrm{adj}}\| / \|g_{\mathrm{adj}}\|$")
    axes[2].set_title("Gap between the two gradients")
    for a in axes:
        a.set_xlabel("number of Euler steps $N$")
    if own_figure:                # a caller's figure keeps the caller's layout
        axes[0].figure.tight_layout()
    return np.array(axes)
