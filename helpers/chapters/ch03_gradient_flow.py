"""Notebook 03 (``notebooks/03_gradient_flow_and_backprop.ipynb``): gradient flow, gradient descent and
backpropagation through depth.

Marion, Wu, Sander & Biau (ICLR 2024) train with the gradient flow of their eq. (4),
``dZ_k/dt = -L dl/dZ_k``. The notebook explains the flow and the factor L; the engine provides the network
(:func:`helpers.make_resnet`), its forward and backward states (:func:`helpers.forward_backward_states`),
training (:func:`helpers.train`) and the plots against depth. This module holds the rest:

* **Gradient descent is the explicit Euler scheme of gradient flow** (notebook eq. (3.1)-(3.2)): a small
  non-convex loss in the plane, :func:`valley_loss` / :func:`valley_grad` (eq. (3.3)); the two trajectories,
  :func:`gradient_descent_path` and :func:`gradient_flow_path` (torchdiffeq, tight tolerances); the O(eta)
  error at a fixed time, :func:`euler_gap_at_time`; the pictures :func:`plot_descent_paths` and
  :func:`plot_loss_along_paths`.
* **Backpropagation is a discrete adjoint** (eq. (3.5)-(3.6)): the notebook compares the hand-written adjoint
  with autograd by the engine's ``Gradients.relative_error``.
* **Why the factor L** (eq. (3.7)-(3.8)): :func:`per_layer_gradient_norms` (they scale like 1/L),
  :func:`flow_speed` (``-dl/dt`` at the current weights, with or without the factor L: the left side of the
  paper's Def. 1 without A, B), :func:`plot_loss_vs_time` (loss curves against the flow time t).
"""
from __future__ import annotations

from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
import torchdiffeq

from .. import _validation as check_arg
from ..adjoint import Gradients, States
from ..plotting import TIME_CMAP, depth_colors
from ..train import TrainRecord

# ---------------------------------------------------------------------------------------------------
# 1. A 2-D loss, gradient descent and gradient flow
# ---------------------------------------------------------------------------------------------------


def _valley_parts(theta, kappa: float, bend: float):
    kappa = check_arg.positive_float("kappa", kappa)
    bend = check_arg.positive_float("bend", bend, allow_zero=True)
    if isinstance(theta, torch.Tensor):
        if not theta.is_floating_point():
            raise TypeError(f"theta must be a floating-point tensor, got dtype {theta.dtype}")
    else:
        theta = check_arg.as_float_array("theta", theta)
    if theta.shape[-1:] != (2,):
        raise ValueError(f"theta must have shape (..., 2) (points of the plane), got {tuple(theta.shape)}")
    u, v = theta[..., 0], theta[..., 1]
    return u, v - bend * u**2, kappa, bend


def valley_loss(theta, kappa: float = 10.0, bend: float = 0.5):
    """A curved valley in the plane, eq. (3.3): ``l(u, v) = u^2 / 2 + (kappa / 2) (v - bend u^2)^2``.

    Its only minimum is (0, 0), where the Hessian is diag(1, kappa): the valley floor ``v = bend u^2``
    is flat (curvature 1) and its walls are steep (curvature kappa). Not convex for ``bend > 0``.
    ``theta``: shape (..., 2), a tensor (the result is a tensor) or a list / NumPy array (NumPy result).

    Example: ``valley_loss([0.0, 1.0])`` is ``5.0`` (= kappa / 2).
    """
    u, r, kappa, _ = _valley_parts(theta, kappa, bend)
    return 0.5 * u**2 + 0.5 * kappa * r**2


def valley_grad(theta, kappa: float = 10.0, bend: float = 0.5):
    """Gradient of :func:`valley_loss`: ``(u - 2 kappa bend u r, kappa r)`` with ``r = v - bend u^2``.
    Shape (..., 2); a tensor for a tensor, else a NumPy array."""
    u, r, kappa, bend = _valley_parts(theta, kappa, bend)
    parts = (u - 2.0 * kappa * bend * u * r, kappa * r)
    return torch.stack(parts, dim=-1) if isinstance(theta, torch.Tensor) else np.stack(parts, axis=-1)


def _check_grad_fn(grad_fn) -> None:
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be a function theta -> gradient, got {type(grad_fn).__name__}")


def _theta0(theta0) -> np.ndarray:
    theta0 = check_arg.as_float_array("theta0", theta0)
    if theta0.ndim != 1 or theta0.size == 0 or not np.all(np.isfinite(theta0)):
        raise ValueError(f"theta0 must be a finite 1-D point (p numbers), got {theta0.tolist()!r}")
    return theta0


def _gradient(grad_fn: Callable, theta: np.ndarray) -> np.ndarray:
    """``grad_fn(theta)`` as a NumPy float64 array of theta's shape. ``grad_fn`` always receives a NumPy
    array (from gradient descent and from the flow solver alike), and may return an array, a list or a tensor."""
    try:
        g = grad_fn(theta)
    except (TypeError, AttributeError, RuntimeError) as err:
        raise TypeError(f"grad_fn failed when called with a NumPy float64 array of shape {theta.shape} "
                        f"({type(err).__name__}: {err}); grad_fn receives NumPy arrays: if it needs a tensor, "
                        f"convert inside it with torch.as_tensor(theta)") from err
    try:
        g = check_arg.as_float_array("grad_fn's result", g)
    except TypeError:
        raise TypeError(f"grad_fn must return an array, list or tensor of shape {theta.shape}, "
                        f"got {type(g).__name__}") from None
    if g.shape != theta.shape:
        raise ValueError(f"grad_fn must return a gradient of the shape of theta0, {theta.shape}, got shape {g.shape}")
    return g


def gradient_descent_path(grad_fn: Callable, theta0, *, eta: float, steps: int,
                          blow_up: float = 1e6) -> np.ndarray:
    """Iterates of gradient descent ``theta_{i+1} = theta_i - eta grad_fn(theta_i)``, eq. (3.2), i = 0..steps.

    This is the explicit Euler scheme of the gradient flow (3.1) with step ``eta``: row ``i`` approximates the
    flow at time ``t = i * eta``. ``theta0``: p numbers (list, tuple, NumPy array or tensor); ``grad_fn`` is
    called with a NumPy float64 array of shape (p,) and returns p numbers (array, list or tensor). Returns an
    array of shape (steps + 1, p); if the iterates leave the ball of radius ``blow_up`` (the step is too large:
    GD diverges), the path stops at the first such point. Raises TypeError/ValueError naming ``grad_fn``,
    ``theta0``, ``eta``, ``steps`` or ``blow_up``.

    Example: ``gradient_descent_path(valley_grad, [1.5, 0.0], eta=0.01, steps=100)[-1]`` is close to
    the flow at t = 1.
    """
    _check_grad_fn(grad_fn)
    theta = _theta0(theta0)
    eta = check_arg.positive_float("eta", eta)
    steps = check_arg.positive_int("steps", steps, minimum=0)
    blow_up = check_arg.positive_float("blow_up", blow_up)
    path = [theta]
    for _ in range(steps):
        theta = theta - eta * _gradient(grad_fn, theta)
        path.append(theta)
        if not np.all(np.isfinite(theta)) or np.linalg.norm(theta) > blow_up:
            break
    return np.array(path)


def gradient_flow_path(grad_fn: Callable, theta0, t, *, rtol: float = 1e-10, atol: float = 1e-12) -> np.ndarray:
    """The gradient flow (3.1) ``d theta/dt = -grad_fn(theta)``, ``theta(0) = theta0``, at the times ``t``
    (increasing, starting at 0; list, NumPy array or tensor), solved accurately in float64 with torchdiffeq's
    adaptive Dormand--Prince scheme. ``grad_fn`` as in :func:`gradient_descent_path` (it receives NumPy
    arrays here too). Returns shape (len(t), p).

    Example: ``gradient_flow_path(valley_grad, [1.5, 0.0], np.linspace(0, 1, 11))``.
    """
    _check_grad_fn(grad_fn)
    theta = _theta0(theta0)
    t = check_arg.as_float_array("t", t).ravel()
    if t.size < 1 or t[0] != 0 or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"t must be finite, strictly increasing and start at 0, got {t.tolist()[:5]}...")
    rtol = check_arg.positive_float("rtol", rtol)
    atol = check_arg.positive_float("atol", atol)
    if t.size == 1:
        return theta[None].copy()
    _gradient(grad_fn, theta)          # fail early, with a clear message, on a wrong gradient
    rhs = lambda s, y: -torch.from_numpy(_gradient(grad_fn, y.detach().numpy().copy()))
    sol = torchdiffeq.odeint(rhs, torch.from_numpy(theta), torch.from_numpy(t), rtol=rtol, atol=atol,
                             method="dopri5")
    return sol.numpy()


def euler_gap_at_time(grad_fn: Callable, theta0, *, T: float, etas) -> np.ndarray:
    """``|| theta_GD(T / eta) - theta(T) ||`` for each step size ``eta``: the distance at flow time ``T``
    between gradient descent (after T/eta steps) and the gradient flow. O(eta) for a smooth loss
    (Euler is a first-order scheme). ``etas``: list, NumPy array or tensor; each ``T / eta`` must be an
    integer. A path that blew up gives ``inf``. Returns shape (len(etas),).

    Example: ``euler_gap_at_time(valley_grad, [1.5, 0.0], T=1.0, etas=[0.01, 0.005])``.
    """
    _check_grad_fn(grad_fn)
    T = check_arg.positive_float("T", T)
    etas = check_arg.as_float_array("etas", etas).ravel()
    if etas.size == 0 or not np.all(np.isfinite(etas)) or np.any(etas <= 0):
        raise ValueError(f"etas must be a non-empty list of finite positive step sizes, got {etas.tolist()}")
    steps = np.rint(T / etas)
    if np.any(np.abs(steps * etas - T) > 1e-9 * T):
        raise ValueError(f"each T / eta must be an integer number of steps; T = {T}, etas = {etas.tolist()}")
    exact = gradient_flow_path(grad_fn, theta0, [0.0, T])[-1]
    gaps = []
    for eta, n in zip(etas, steps.astype(int)):
        path = gradient_descent_path(grad_fn, theta0, eta=float(eta), steps=int(n))
        gaps.append(np.linalg.norm(path[-1] - exact) if len(path) == n + 1 else np.inf)
    return np.array(gaps)


def _paths(gd_paths) -> dict:
    if not isinstance(gd_paths, dict) or not gd_paths:
        raise ValueError(f"gd_paths must be a non-empty dict {{eta: path (i+1, 2)}}, got {gd_paths!r:.60}")
    return {eta: check_arg.as_float_array(f"gd_paths[{eta}]", gd_paths[eta]) for eta in sorted(gd_paths)}


def _step_colors(n: int) -> list:
    cmap = plt.get_cmap(TIME_CMAP)
    return [cmap(0.85 * j / max(n - 1, 1)) for j in range(n)]


def plot_descent_paths(loss_fn: Callable, flow_path, gd_paths: dict, *, ax=None,
                       extent=(-1.6, 1.8, -0.6, 1.6), levels: int = 25, title: str | None = None):
    """Contours of a 2-D loss, the gradient flow (thick grey) and gradient-descent paths (one per step
    size, ``gd_paths = {eta: path (i+1, 2)}``), with markers at every iterate. Returns the axes.

    ``loss_fn`` maps an array (..., 2) to (...); ``flow_path`` has shape (len(t), 2);
    ``extent = (u_min, u_max, v_min, v_max)``. Raises ValueError naming ``gd_paths`` when it is empty.
    """
    paths = _paths(gd_paths)
    flow_path = check_arg.as_float_array("flow_path", flow_path)
    if ax is None:
        _, ax = plt.subplots()
    u_min, u_max, v_min, v_max = extent
    U, Vv = np.meshgrid(np.linspace(u_min, u_max, 200), np.linspace(v_min, v_max, 200))
    Z = loss_fn(np.stack([U, Vv], axis=-1))
    ax.contour(U, Vv, np.log10(Z + 1e-3), levels=levels, colors="0.75", linewidths=0.6, linestyles="solid")
    ax.plot(*flow_path.T, color="k", lw=4, alpha=0.45, label="gradient flow", zorder=3)
    far = 10 * max(abs(u_min), abs(u_max), abs(v_min), abs(v_max))
    for (eta, path), color in zip(paths.items(), _step_colors(len(paths))):
        label = f"GD, $\\eta$ = {eta:g}" + (" (diverges)" if np.linalg.norm(path[-1]) > far else "")
        ax.plot(*path.T, "o-" if len(path) <= 80 else "-", ms=3, lw=1.2, color=color, label=label, zorder=4)
    ax.plot(*flow_path[0], "k*", ms=12, zorder=5)
    ax.set_xlim(u_min, u_max)
    ax.set_ylim(v_min, v_max)
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)
    return ax


def plot_loss_along_paths(loss_fn: Callable, t_flow, flow_path, gd_paths: dict, *, ax=None,
                          title: str | None = None, ylim=None):
    """The loss along the gradient flow (thick grey, against t) and along gradient-descent paths, each
    plotted against its training time ``t = i * eta`` (``gd_paths = {eta: path (i+1, 2)}``), log scale.
    With t on the horizontal axis, small steps fall on the flow's curve. Returns the axes."""
    paths = _paths(gd_paths)
    t_flow = check_arg.as_float_array("t_flow", t_flow)
    flow_path = check_arg.as_float_array("flow_path", flow_path)
    if ax is None:
        _, ax = plt.subplots()
    ax.semilogy(t_flow, loss_fn(flow_path), color="k", lw=4, alpha=0.45, label="gradient flow")
    for (eta, path), color in zip(paths.items(), _step_colors(len(paths))):
        ax.semilogy(eta * np.arange(len(path)), loss_fn(path), "o-" if len(path) <= 80 else "-", ms=2.5, lw=1.2,
                    color=color, label=f"GD, $\\eta$ = {eta:g}")
    ax.set_xlabel(r"training time $t = i\,\eta$")
    ax.set_ylabel(r"loss $\ell(\theta)$")
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


# ---------------------------------------------------------------------------------------------------
# 2. Backpropagation as a discrete adjoint: comparing gradients
# ---------------------------------------------------------------------------------------------------


def _grads(grads, name: str = "grads") -> Gradients:
    if isinstance(grads, States):
        grads = grads.grads
    if not isinstance(grads, Gradients):
        raise TypeError(f"{name} must be a helpers.Gradients (e.g. H.forward_backward_states(...).grads or the second "
                        f"output of H.loss_and_gradients) or a helpers.States, got {type(grads).__name__}")
    return grads


def per_layer_gradient_norms(grads) -> np.ndarray:
    """``||dl/dZ_k|| = ||dl/dV_k||_F + ||dl/dW_k||_F`` for k = 1..L, shape (L,) (``grads``: a
    :class:`~helpers.Gradients` or :class:`~helpers.States`), the norm of eq. (3.7).

    Each carries the residual's factor 1/L (``dl/dV_k = (1/L) sum_i p_{k,i} sigma(W_k h_{k-1,i})^T``, eq. (3.6)),
    so at weights that discretize functions of s = k/L the norms scale like 1/L.

    Example: ``per_layer_gradient_norms(H.forward_backward_states(net, x, y, "nd"))``.
    """
    g = _grads(grads)
    return (torch.linalg.vector_norm(g.V, dim=(1, 2)) + torch.linalg.vector_norm(g.W, dim=(1, 2))).cpu().numpy()


def flow_speed(grads, *, L_factor: bool = True) -> float:
    """``-dl/dt`` of the gradient flow at the weights where ``grads`` was computed (depth L = ``grads.V.shape[0]``):
    ``L sum_k (||dl/dV_k||_F^2 + ||dl/dW_k||_F^2) + ||dl/dA||_F^2 + ||dl/dB||_F^2`` with the factor L of
    eq. (4) on the residual weights (``L_factor=True``, eq. (3.8)), or with 1 in place of L (plain gradient flow).
    (The squares of V and W are summed separately: this is not ``sum_k ||dl/dZ_k||^2`` with the norm
    ``||dl/dV_k||_F + ||dl/dW_k||_F`` of :func:`per_layer_gradient_norms`.)
    The first is O(1) in L, the second O(1/L): without the factor, deep networks barely train.

    Example: ``flow_speed(H.forward_backward_states(net, x, y, "nd"), L_factor=False)``.
    """
    g = _grads(grads)
    return g.pl_numerator(g.V.shape[0] if L_factor else 1)


def plot_loss_vs_time(records: dict, *, ax=None, title: str | None = None, logy: bool = True):
    """Loss against gradient-flow time ``t = step * eta``, one curve per depth, coloured from shallow to deep:
    ``records = {L: helpers.train.TrainRecord}`` (the results of :func:`helpers.train`). Returns the axes."""
    if not isinstance(records, dict) or not records:
        raise ValueError(f"records must be a non-empty dict {{L: helpers.train.TrainRecord}}, got {records!r:.60}")
    for L, rec in records.items():
        if not isinstance(rec, TrainRecord):
            raise TypeError(f"records[{L!r}] must be a helpers.TrainRecord (what H.train returns), "
                            f"got {type(rec).__name__}")
    if ax is None:
        _, ax = plt.subplots()
    depths = sorted(records)
    for L, color in zip(depths, depth_colors(depths)):
        ax.plot(records[L].t, records[L].losses, color=color, label=f"L = {L}")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("gradient-flow time $t$ = steps $\\times\\ \\eta$")
    ax.set_ylabel(r"loss $\ell^L(t)$")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


__all__ = ["valley_loss", "valley_grad", "gradient_descent_path", "gradient_flow_path", "euler_gap_at_time",
           "plot_descent_paths", "plot_loss_along_paths", "per_layer_gradient_norms",
           "flow_speed", "plot_loss_vs_time"]
