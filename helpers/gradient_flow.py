"""Gradient flow, gradient descent and backpropagation through depth (course notebook 03).

Three ideas, each with the few functions a notebook needs:

* **Gradient descent is the explicit Euler scheme of gradient flow.** For a loss ``l(theta)`` the flow is
  ``d theta/dt = -grad l(theta)``; gradient descent ``theta_{i+1} = theta_i - eta grad l(theta_i)`` is its
  Euler scheme with step ``eta``, and after ``i`` steps it approximates the flow at time ``t = i eta`` with
  an error O(eta). :func:`valley_loss` / :func:`valley_grad` give a small non-convex 2-D loss,
  :func:`gradient_descent_path` and :func:`gradient_flow_path` (torchdiffeq, tight tolerances) the two
  trajectories, :func:`euler_gap_at_time` the error at a fixed time, :func:`plot_descent_paths` and
  :func:`plot_loss_along_paths` the pictures.
* **Backpropagation is a discrete adjoint.** :func:`forward_backward_states` returns the forward states
  ``h_0..h_L`` and the backward states ``p_0..p_L = d loss / d h_k`` of a ResNet (from the training
  engine's :class:`~helpers.adjoint.AdjointWorkspace`), with the gradients; :func:`relative_gradient_error`
  compares two gradient sets.
* **Why the factor L.** :func:`per_layer_gradient_norms` measures ``||dl/dZ_k|| = ||dl/dV_k||_F +
  ||dl/dW_k||_F`` (it scales like 1/L); :func:`flow_speed` is ``-dl/dt`` at t = 0 under the flow with or
  without the factor L on the residual weights; :func:`plot_across_depth` and :func:`plot_loss_vs_time`
  draw states against depth s = k/L and losses against gradient-flow time t.

matplotlib, torchdiffeq (which pulls in SciPy) and :mod:`helpers.plotting` are imported inside the functions
that need them, so that the losses, gradient descent and the ResNet states stay light.
"""
from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import _validation as check_arg
from .adjoint import AdjointWorkspace, Gradients
from .init import init_weights
from .resnet import ResNet
from .train import auto_threads, num_threads

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
        theta = np.asarray(theta, dtype=float)
    if theta.shape[-1:] != (2,):
        raise ValueError(f"theta must have shape (..., 2) (points of the plane), got {tuple(theta.shape)}")
    u, v = theta[..., 0], theta[..., 1]
    return u, v, v - bend * u**2, kappa, bend


def valley_loss(theta, kappa: float = 10.0, bend: float = 0.5):
    """A curved valley in the plane: ``l(u, v) = u^2 / 2 + (kappa / 2) (v - bend u^2)^2``.

    Its only minimum is (0, 0), where the Hessian is diag(1, kappa): the valley floor ``v = bend u^2``
    is flat (curvature 1) and its walls are steep (curvature kappa). Not convex for ``bend > 0``.
    ``theta``: array or tensor of shape (..., 2); returns shape (...), same type.

    Example: ``valley_loss(np.array([0.0, 1.0]))`` is ``5.0`` (= kappa / 2).
    """
    u, _, r, kappa, _ = _valley_parts(theta, kappa, bend)
    return 0.5 * u**2 + 0.5 * kappa * r**2


def valley_grad(theta, kappa: float = 10.0, bend: float = 0.5):
    """Gradient of :func:`valley_loss`: ``(u - 2 kappa bend u r, kappa r)`` with ``r = v - bend u^2``.
    Shape (..., 2), same type (NumPy array or torch tensor) as ``theta``."""
    u, _, r, kappa, bend = _valley_parts(theta, kappa, bend)
    parts = (u - 2.0 * kappa * bend * u * r, kappa * r)
    return torch.stack(parts, dim=-1) if isinstance(theta, torch.Tensor) else np.stack(parts, axis=-1)


def _theta0(theta0) -> np.ndarray:
    theta0 = np.asarray(theta0, dtype=float)
    if theta0.ndim != 1 or theta0.size == 0 or not np.all(np.isfinite(theta0)):
        raise ValueError(f"theta0 must be a finite 1-D point, got {theta0!r}")
    return theta0


def _gradient(grad_fn: Callable, theta, like: str):
    """``grad_fn(theta)`` as an array (``like="numpy"``) or a float64 tensor (``"torch"``) of theta's shape."""
    g = grad_fn(theta)
    if like == "torch":
        if not isinstance(g, torch.Tensor):
            try:
                g = torch.as_tensor(np.asarray(g, dtype=float))
            except (TypeError, ValueError):
                raise TypeError(f"grad_fn must return an array or a tensor of shape {tuple(theta.shape)}, "
                                f"got {type(g).__name__}") from None
        g = g.to(dtype=theta.dtype, device=theta.device)
    else:
        try:
            g = np.asarray(g.detach().cpu() if isinstance(g, torch.Tensor) else g, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"grad_fn must return an array of shape {theta.shape}, got {type(g).__name__}") from None
    if tuple(g.shape) != tuple(theta.shape):
        raise ValueError(f"grad_fn must return a gradient of the shape of theta0, {tuple(theta.shape)}, got shape "
                         f"{tuple(g.shape)}")
    return g


def gradient_descent_path(grad_fn: Callable, theta0, *, eta: float, steps: int,
                          blow_up: float = 1e6) -> np.ndarray:
    """Iterates of gradient descent ``theta_{i+1} = theta_i - eta grad_fn(theta_i)``, i = 0..steps.

    This is the explicit Euler scheme of the gradient flow with step ``eta``: row ``i`` approximates the
    flow at time ``t = i * eta``. Returns an array of shape (steps + 1, p); if the iterates leave the ball
    of radius ``blow_up`` (the step is too large: GD diverges), the path stops at the first such point.

    Example: ``gradient_descent_path(valley_grad, [1.5, 0.0], eta=0.01, steps=100)[-1]`` is close to
    the flow at t = 1.
    """
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be a function theta -> gradient, got {type(grad_fn).__name__}")
    theta = _theta0(theta0)
    eta = check_arg.positive_float("eta", eta)
    steps = check_arg.positive_int("steps", steps, minimum=0)
    blow_up = check_arg.positive_float("blow_up", blow_up)
    path = [theta]
    for _ in range(steps):
        theta = theta - eta * _gradient(grad_fn, theta, "numpy")
        path.append(theta)
        if not np.all(np.isfinite(theta)) or np.linalg.norm(theta) > blow_up:
            break
    return np.array(path)


def gradient_flow_path(grad_fn: Callable, theta0, t, *, rtol: float = 1e-10, atol: float = 1e-12) -> np.ndarray:
    """The gradient flow ``d theta/dt = -grad_fn(theta)``, ``theta(0) = theta0``, at the times ``t``
    (increasing, starting at 0), solved accurately in float64 with torchdiffeq's adaptive Dormand--Prince
    scheme. ``grad_fn`` must accept a float64 torch tensor of shape (p,) and return a gradient of that shape
    (a tensor, or a NumPy array, which is converted). Returns shape (len(t), p).

    Example: ``gradient_flow_path(valley_grad, [1.5, 0.0], np.linspace(0, 1, 11))``.
    """
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be a function theta -> gradient, got {type(grad_fn).__name__}")
    theta = torch.as_tensor(_theta0(theta0), dtype=torch.float64)
    t = np.asarray(t, dtype=float).ravel()
    if t.size < 1 or t[0] != 0 or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"t must be finite, strictly increasing and start at 0, got {t.tolist()[:5]}...")
    rtol = check_arg.positive_float("rtol", rtol)
    atol = check_arg.positive_float("atol", atol)
    if t.size == 1:
        return theta.numpy()[None].copy()
    _gradient(grad_fn, theta, "torch")          # fail early, with a clear message, on a wrong gradient
    import torchdiffeq  # imported here: it pulls in SciPy

    sol = torchdiffeq.odeint(lambda s, y: -_gradient(grad_fn, y, "torch"), theta,
                             torch.as_tensor(t, dtype=torch.float64), rtol=rtol, atol=atol, method="dopri5")
    return sol.numpy()


def euler_gap_at_time(grad_fn: Callable, theta0, *, T: float, etas) -> np.ndarray:
    """``|| theta_GD(T / eta) - theta(T) ||`` for each step size ``eta``: the distance at flow time ``T``
    between gradient descent (after T/eta steps) and the gradient flow. O(eta) for a smooth loss
    (Euler is a first-order scheme). Each ``T / eta`` must be an integer. Returns shape (len(etas),).
    """
    T = check_arg.positive_float("T", T)
    if not callable(grad_fn):
        raise TypeError(f"grad_fn must be a function theta -> gradient, got {type(grad_fn).__name__}")
    try:
        etas = np.asarray(etas, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"etas must be a list of positive step sizes, got {etas!r}") from None
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


def plot_descent_paths(loss_fn: Callable, flow_path: np.ndarray, gd_paths: dict, *, ax=None,
                       extent=(-1.6, 1.8, -0.6, 1.6), levels: int = 25, title: str | None = None):
    """Contours of a 2-D loss, the gradient flow (thick black) and gradient-descent paths (one per step
    size, ``gd_paths = {eta: path (i+1, 2)}``), with markers at every iterate.

    ``loss_fn`` maps an array (..., 2) to (...); ``extent = (u_min, u_max, v_min, v_max)``.
    """
    if not gd_paths:
        raise ValueError("gd_paths is empty: give {eta: path} for at least one step size")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    u_min, u_max, v_min, v_max = extent
    U, Vv = np.meshgrid(np.linspace(u_min, u_max, 200), np.linspace(v_min, v_max, 200))
    Z = loss_fn(np.stack([U, Vv], axis=-1))
    ax.contour(U, Vv, np.log10(Z + 1e-3), levels=levels, colors="0.75", linewidths=0.6, linestyles="solid")
    ax.plot(*np.asarray(flow_path).T, color="k", lw=4, alpha=0.45, label="gradient flow", zorder=3)
    for eta, path, color in zip(sorted(gd_paths), [gd_paths[e] for e in sorted(gd_paths)], _step_colors(len(gd_paths))):
        path = np.asarray(path)
        diverged = np.linalg.norm(path[-1]) > 10 * max(abs(u_min), abs(u_max), abs(v_min), abs(v_max))
        label = f"GD, $\\eta$ = {eta:g}" + (" (diverges)" if diverged else "")
        ax.plot(*path.T, "o-" if len(path) <= 80 else "-", ms=3, lw=1.2, color=color, label=label, zorder=4)
    ax.plot(*np.asarray(flow_path)[0], "k*", ms=12, zorder=5)
    ax.set_xlim(u_min, u_max)
    ax.set_ylim(v_min, v_max)
    ax.set_xlabel(r"$\theta_1$")
    ax.set_ylabel(r"$\theta_2$")
    ax.legend(loc="upper left")
    if title:
        ax.set_title(title)
    return ax


def _step_colors(n: int) -> list:
    import matplotlib.pyplot as plt
    from .plotting import TIME_CMAP

    cmap = plt.get_cmap(TIME_CMAP)
    return [cmap(0.85 * j / max(n - 1, 1)) for j in range(n)]


def plot_loss_along_paths(loss_fn: Callable, t_flow, flow_path: np.ndarray, gd_paths: dict, *, ax=None,
                          title: str | None = None, ylim=None):
    """The loss along the gradient flow (thick grey-black, against t) and along gradient-descent paths,
    each plotted against its training time ``t = i * eta`` (``gd_paths = {eta: path (i+1, 2)}``), log scale.
    With t on the horizontal axis, small steps fall on the flow's curve."""
    if not gd_paths:
        raise ValueError("gd_paths is empty: give {eta: path} for at least one step size")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots()
    ax.semilogy(np.asarray(t_flow), loss_fn(np.asarray(flow_path)), color="k", lw=4, alpha=0.45, label="gradient flow")
    for eta, color in zip(sorted(gd_paths), _step_colors(len(gd_paths))):
        path = np.asarray(gd_paths[eta])
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
# 2. Backpropagation through a ResNet: forward and backward states
# ---------------------------------------------------------------------------------------------------


def make_resnets(depths, *, q: int, m: int, kind: str, seed: int, V: str = "same", activation: str = "gelu",
                 normalized: bool = False, dtype=torch.float64) -> dict:
    """One ResNet with A = B = I per depth, ``{L: ResNet}``, weights from :func:`helpers.init_weights`
    (``kind`` = "tied", "smooth" or "iid"; ``V`` = "same" or "zero"). With ``kind="smooth"`` every depth
    discretizes the same weight functions of s = k/L.

    ``normalized=False``: the experiments' form ``h_k = h_{k-1} + (1/L) V_k sigma(W_k h_{k-1})``;
    ``normalized=True``: the paper's factors of eq. (3), ``(1/(L sqrt m)) V_k sigma(W_k h_{k-1} / sqrt q)``,
    which keep the residual branch O(1) when V and W have N(0, 1) entries.

    Example: ``nets = make_resnets([4, 16], q=16, m=32, kind="tied", V="zero", seed=0)``.
    """
    if isinstance(depths, (numbers.Number, str)):
        raise TypeError(f"depths must be a list of positive integers, got {depths!r}; for one depth write [{depths!r}]")
    try:
        depths = list(depths)
    except TypeError:
        raise TypeError(f"depths must be a list of positive integers, got {type(depths).__name__}") from None
    depths = [check_arg.positive_int("depths entry", L) for L in depths]
    if not depths:
        raise ValueError("depths is empty: give at least one depth L")
    return {L: ResNet(*init_weights(L, q, m, kind=kind, seed=seed, V=V, dtype=dtype), activation=activation,
                      normalized=bool(normalized))
            for L in depths}


@dataclass
class States:
    """What one forward and one backward pass computed: ``H`` (L+1, n, q) the hidden states h_0..h_L,
    ``P`` (L+1, n, q) the backward states p_k = d loss / d h_k, the ``loss`` and the ``grads``."""

    H: torch.Tensor
    P: torch.Tensor
    loss: float
    grads: Gradients


def forward_backward_states(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str) -> States:
    """Forward states ``h_k`` and backward (adjoint) states ``p_k = d loss / d h_k`` of ``net`` on the data,
    with the loss and the gradients (all copied out of the workspace).

    Backward recursion (course indexing, layers k = 1..L, ``V[k-1]`` in code)::

        p_L = d loss / d h_L,      p_k = p_{k+1} + (1/L) (d f / d h (h_k, Z_{k+1}))^T p_{k+1}

    with ``f(h, Z) = V sigma(W h)`` for ``normalized=False``; for the paper's form (``normalized=True``,
    eq. (3)) ``f(h, Z) = (1/sqrt m) V sigma(W h / sqrt q)``, so the step carries the factor 1/(L sqrt m) and
    the Jacobian the inner 1/sqrt q: ``p_k = p_{k+1} + (1/(L sqrt m)) (1/sqrt q) W^T (sigma'(W h_k / sqrt q)
    * (V^T p_{k+1}))``. Row i of ``P[k]`` is ``p_k`` for sample i (it contains the loss's 1/n).

    Example
    -------
    >>> st = forward_backward_states(net, x, y, "nd")
    >>> st.H.shape == st.P.shape == (net.L + 1, x.shape[0], net.q)
    True
    """
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    ws = AdjointWorkspace(net, x, y, normalization)
    # one thread for small layers, as the training engine does (many tiny products: threads cost more)
    with torch.no_grad(), num_threads(auto_threads(net, x.shape[0])):
        loss = ws.forward()
        g = ws.backward()
    c = lambda t: None if t is None else t.detach().clone()
    return States(H=ws.H.clone(), P=ws.P.clone(), loss=loss, grads=Gradients(c(g.V), c(g.W), c(g.A), c(g.B)))


def relative_gradient_error(grads: Gradients, reference: Gradients) -> float:
    """``max`` over V, W (and A, B when present) of ``||g - g_ref|| / ||g_ref||`` (each argument a
    :class:`~helpers.Gradients` or a :class:`States`). A block that is zero in both sets counts as 0; a
    block that is zero in ``reference`` only raises (the relative error is undefined there)."""
    grads, reference = _grads(grads, "grads"), _grads(reference, "reference")
    errors = []
    for name in ("V", "W", "A", "B"):
        a, b = getattr(grads, name), getattr(reference, name)
        if (a is None) != (b is None):
            raise ValueError(f"gradient {name} is present in one set and missing in the other")
        if a is None:
            continue
        if a.shape != b.shape:
            raise ValueError(f"gradient {name} has shape {tuple(a.shape)} but the reference {tuple(b.shape)}")
        ref_norm = b.norm()
        if ref_norm == 0:
            if bool((a == 0).all()):
                errors.append(0.0)
                continue
            raise ValueError(f"the reference gradient {name} is zero, so the relative error of {name} is undefined "
                             f"(||g - g_ref|| = {float((a - b).norm()):.3g}); compare absolute errors instead")
        errors.append(float((a - b).norm() / ref_norm.clamp_min(1e-300)))
    if not errors:
        raise ValueError("grads and reference hold no gradients to compare")
    return max(errors)


# ---------------------------------------------------------------------------------------------------
# 3. Why the learning rate scales with L
# ---------------------------------------------------------------------------------------------------


def _grads(grads, name: str = "grads") -> Gradients:
    if isinstance(grads, States):
        grads = grads.grads
    if not isinstance(grads, Gradients):
        raise TypeError(f"{name} must be a helpers.Gradients (e.g. forward_backward_states(...).grads or the second "
                        f"output of loss_and_gradients), got {type(grads).__name__}")
    return grads


def per_layer_gradient_norms(grads: Gradients) -> np.ndarray:
    """``||dl/dZ_k|| = ||dl/dV_k||_F + ||dl/dW_k||_F`` for k = 1..L, shape (L,) (``grads``: a
    :class:`~helpers.Gradients` or :class:`States`).

    Each carries the residual's factor 1/L (``dl/dV_k = (1/L) sum_i p_{k,i} sigma(W_k h_{k-1,i})^T``), so
    at weights that discretize functions of s = k/L the norms scale like 1/L.

    Example: ``per_layer_gradient_norms(forward_backward_states(net, x, y, "nd"))``.
    """
    g = _grads(grads)
    return (torch.linalg.vector_norm(g.V, dim=(1, 2)) + torch.linalg.vector_norm(g.W, dim=(1, 2))).cpu().numpy()


def flow_speed(grads: Gradients, *, L_factor: bool = True) -> float:
    """``-dl/dt`` of the gradient flow at the weights where ``grads`` was computed (depth L = ``grads.V.shape[0]``):
    ``L sum_k (||dl/dV_k||_F^2 + ||dl/dW_k||_F^2) + ||dl/dA||_F^2 + ||dl/dB||_F^2`` with the factor L of
    eq. (4) on the residual weights (``L_factor=True``), or with 1 in place of L (plain gradient flow).
    (The squares of V and W are summed separately: this is not ``sum_k ||dl/dZ_k||^2`` with the norm
    ``||dl/dV_k||_F + ||dl/dW_k||_F`` of :func:`per_layer_gradient_norms`.)
    The first is O(1) in L, the second O(1/L): without the factor, deep networks barely train.

    Example: ``flow_speed(forward_backward_states(net, x, y, "nd"), L_factor=False)``.
    """
    g = _grads(grads)
    return g.pl_numerator(g.V.shape[0] if L_factor else 1)


def plot_across_depth(curves: dict, *, ax=None, ylabel: str = "", title: str | None = None,
                      first_layer: int = 0, linestyle: str = "-"):
    """Plot per-layer values against depth s = k / L, one curve per depth, coloured from shallow to deep.

    ``curves = {L: values}`` with values indexed by k = first_layer, first_layer + 1, ... (``first_layer=0``
    for states h_0..h_L, ``1`` for layer quantities k = 1..L). Curves of different L that discretize the
    same function of s lie on top of each other.
    """
    if not curves:
        raise ValueError("curves is empty: give {L: values} for at least one depth")
    first_layer = check_arg.positive_int("first_layer", first_layer, minimum=0)
    values_of = {}
    for L in curves:
        check_arg.positive_int("each depth L in curves", L)
        values = np.asarray(curves[L].detach().cpu() if hasattr(curves[L], "detach") else curves[L], dtype=float)
        expected = L + 1 - first_layer
        if values.ndim != 1 or len(values) != expected:
            raise ValueError(f"curves[{L}] must hold {expected} values (k = {first_layer}..{L}: L + 1 for states "
                             f"h_0..h_L with first_layer=0, L for layers 1..L with first_layer=1), got shape "
                             f"{values.shape} with first_layer={first_layer}")
        values_of[L] = values
    import matplotlib.pyplot as plt
    from .plotting import depth_colors

    if ax is None:
        _, ax = plt.subplots()
    depths = sorted(curves)
    for L, color in zip(depths, depth_colors(depths)):
        values = values_of[L]
        k = np.arange(first_layer, first_layer + len(values))
        ax.plot(k / L, values, linestyle, color=color, lw=1.4, label=f"L = {L}")
    ax.set_xlabel("depth $s = k/L$")
    ax.set_ylabel(ylabel)
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_loss_vs_time(records: dict, *, ax=None, title: str | None = None, logy: bool = True):
    """Loss against gradient-flow time ``t = step * eta``, one curve per depth: ``records = {L: TrainRecord}``."""
    if not records:
        raise ValueError("records is empty: give {L: TrainRecord} for at least one depth")
    import matplotlib.pyplot as plt
    from .plotting import depth_colors

    if ax is None:
        _, ax = plt.subplots()
    depths = sorted(records)
    for L, color in zip(depths, depth_colors(depths)):
        rec = records[L]
        ax.plot(rec.t, rec.losses, color=color, label=f"L = {L}")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel("gradient-flow time $t$ = steps $\\times\\ \\eta$")
    ax.set_ylabel(r"loss $\ell^L(t)$")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


__all__ = ["valley_loss", "valley_grad", "gradient_descent_path", "gradient_flow_path", "euler_gap_at_time",
           "plot_descent_paths", "plot_loss_along_paths", "make_resnets", "States", "forward_backward_states", "relative_gradient_error",
           "per_layer_gradient_norms", "flow_speed", "plot_across_depth", "plot_loss_vs_time"]
