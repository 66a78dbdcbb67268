"""Chapter of notebook 10, *Outlook* (``notebooks/10_outlook.ipynb``): three consequences of the neural-ODE
structure, measured, and the numerical side of the course's notes on Marion, Wu, Sander & Biau (ICLR 2024).

* Memory. :func:`memory_free_adjoint` computes the gradient of a ResNet without storing its hidden states: it
  runs the network forward keeping only ``h_L``, then walks back, *reconstructing* each ``h_{k-1}`` from ``h_k``
  by one reversed Euler step (or a few fixed-point iterations of it, ``iterations``) and taking the
  vector-Jacobian product of one layer at a time (the memory-free discrete adjoint of Sander, Ablin & Peyre,
  NeurIPS 2022). :func:`gradient_memory` measures the peak activation memory -- the tensors autograd saves for
  the backward pass (:func:`helpers.peak_saved_bytes`) -- for this method and for plain backpropagation.
* Depth. :func:`keep_every` keeps the layers r, 2r, ..., L of a trained network (depth L/r, residual scale
  r/L: Euler with a step r times larger); :func:`interpolate_depth` builds a network of any depth whose weights
  interpolate the given ones linearly in s; :func:`rms_output_gap` compares two networks on data;
  :func:`depth_change_table` and :func:`plot_depth_change` show what both operations cost.
* The paper's appendix. :func:`backward_recursion` runs the backward (adjoint) recursion with or without the
  transpose on the Jacobian; :func:`adjoint_ode_p0` integrates the limiting backward ODE in its four possible
  sign/transpose variants, so that the notebook can compare both with autograd.

Row-vector convention of the engine: data ``x`` (n, d), hidden states (n, q); weights ``V`` (L, q, m) and
``W`` (L, m, q); layer k = 1..L (tensor index k-1) sits at depth s = k/L. A layer computes
``h + c sigma(cw h W_k^T) V_k^T`` with ``c = net.residual_scale`` (1/L, times 1/sqrt(m) in the normalized form)
and ``cw = net.inner_scale`` (1, or 1/sqrt(q) in the normalized form); all tensors float64 by default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import _validation as check_arg
from ..activations import get_activation
from ..adjoint import Gradients
from ..config import auto_threads, num_threads
from ..memory import peak_saved_bytes
from ..ode import rk4
from ..plotting import COLORS, plot_loglog_rate
from ..resnet import LOSS_NORMALIZATIONS, ResNet

METHODS = ("backprop", "adjoint")


# -- the memory-free adjoint ---------------------------------------------------------------------------------
def _check_problem(net, x, y, normalization):
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    check_arg.choice("normalization", normalization, LOSS_NORMALIZATIONS)
    net.check_input(x, "x")
    check_arg.tensor("y", y, shape=(x.shape[0], net.d_out))
    if y.dtype != net.dtype:
        raise TypeError(f"y has dtype {y.dtype} but the network's weights are {net.dtype}; convert one of them")


def _residual(net, h, k):
    """``(1/L) f(h, Z_k)`` for 0-based layer k: ``c sigma(cw h W_k^T) V_k^T``, shape (n, q)."""
    return net.residual_scale * net.sigma(net.inner_scale * (h @ net.W[k].T)) @ net.V[k].T


def memory_free_adjoint(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str, *,
                        iterations: int = 1):
    """Loss and gradients of ``net`` by the memory-free discrete adjoint (Sander, Ablin & Peyre, NeurIPS 2022).

    Write a layer's branch as ``c_L f(h, Z_k)`` with ``c_L`` the branch scale: 1/L, or effectively 1/sqrt(L)
    for the SDE networks of ``helpers.make_resnet(..., scaling="1/sqrt(L)")`` (outer weights times sqrt(L)).
    Forward: ``h_k = h_{k-1} + c_L f(h_{k-1}, Z_k)``, keeping only the current state (no list of states).
    Backward, for k = L..1: reconstruct the input of layer k by the reversed Euler step (notebook 10, eq. 10.3)

        h_{k-1} ~ g_1,   g_{j+1} = h_k - c_L f(g_j, Z_k),   g_0 = h_k,   j < ``iterations``,

    (``iterations=1``: one reversed Euler step; more: fixed-point iterations of the exact relation
    ``h_{k-1} = h_k - c_L f(h_{k-1}, Z_k)``, each contracting the error by about c_L K_1, K_1 the Lipschitz
    constant of f in h), then take the vector-Jacobian product of that one layer at the reconstructed input
    with autograd: ``p_{k-1} = p_k + c_L d_1 f^T p_k`` and ``dloss/dZ_k = c_L d_2 f^T p_k`` (the course's
    recursion, notebook 03). Memory: the states of one layer at a time, independent of L. Accuracy (one
    iteration): each reconstruction errs by ``c_L K_1 |h_k - h_{k-1}|`` = O(c_L^2); with c_L = 1/L and bounded
    weights the L errors add up to O(1/L) in the gradient; with c_L = 1/sqrt(L) (the SDE regime) each errs by
    O(1/L) and they no longer add up to something that falls like 1/L (a heuristic, measured in notebook 10).

    ``x`` (n, d), ``y`` (n, d'); ``normalization`` as :func:`helpers.mse_loss`. Works for the three forms
    (``A``, ``B`` included). Returns ``(loss: float, Gradients)``. Raises TypeError/ValueError naming the argument
    (``iterations`` must be a positive int).

    Example: ``loss, g = memory_free_adjoint(net, x, y, "nd", iterations=2)``.
    """
    _check_problem(net, x, y, normalization)
    iterations = check_arg.positive_int("iterations", iterations)
    V, W = net.V.detach(), net.W.detach()
    A = None if net.A is None else net.A.detach()
    B = None if net.B is None else net.B.detach()
    n_loss = x.shape[0] if normalization == "n" else x.shape[0] * net.d_out
    dV, dW = torch.zeros_like(V), torch.zeros_like(W)
    sigma, c, cw = net.sigma, net.residual_scale, net.inner_scale
    with num_threads(auto_threads(net, x.shape[0])):
        with torch.no_grad():
            h = x if A is None else x @ A.T
            for k in range(net.L):
                h = h + _residual(net, h, k)
            out = h if B is None else h @ B.T
            loss = float((out - y).pow(2).sum()) / n_loss
            dout = 2.0 * (out - y) / n_loss
            p = dout if B is None else dout @ B
            dB = None if B is None else dout.T @ h
        for k in reversed(range(net.L)):
            with torch.no_grad():
                guess = h
                for _ in range(iterations):                      # reversed Euler step(s): h_{k-1}
                    guess = h - _residual(net, guess, k)
                h = guess
            h_in = h.detach().requires_grad_(True)
            V_k, W_k = V[k].detach().requires_grad_(True), W[k].detach().requires_grad_(True)
            with torch.enable_grad():
                h_out = h_in + c * sigma(cw * (h_in @ W_k.T)) @ V_k.T
                p, dV[k], dW[k] = torch.autograd.grad(h_out, (h_in, V_k, W_k), grad_outputs=p)
        dA = None if A is None else p.T @ x
    return loss, Gradients(dV, dW, dA, dB)


@dataclass
class GradientMemory:
    """One gradient and what it cost (:func:`gradient_memory`): the loss, the :class:`helpers.Gradients`,
    and the peak bytes held by tensors saved for backward."""

    loss: float
    grads: Gradients
    peak_bytes: int

    @property
    def peak_mb(self) -> float:
        return self.peak_bytes / 1e6


def _backprop(net, x, y, normalization):
    params = {k: getattr(net, k).detach().clone().requires_grad_(True)
              for k in ("V", "W", "A", "B") if getattr(net, k) is not None}
    twin = ResNet(activation=net.activation, normalized=net.normalized, **{k: params.get(k) for k in ("V", "W", "A", "B")})

    def run():
        loss = twin.loss(x, y, normalization)
        with num_threads(auto_threads(net, x.shape[0])):
            return float(loss.detach()), torch.autograd.grad(loss, list(params.values()))

    (loss, grads), peak = peak_saved_bytes(run, ignore=list(params.values()) + [x, y])
    named = dict(zip(params, grads))
    return GradientMemory(loss, Gradients(named["V"], named["W"], named.get("A"), named.get("B")), peak)


def gradient_memory(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str, *,
                    method: str) -> GradientMemory:
    """The gradient of the loss of ``net`` and its peak activation memory (the tensors saved for backward), by
    ``method="backprop"`` (autograd through :meth:`helpers.ResNet.forward`: it saves every layer's states) or
    ``method="adjoint"`` (:func:`memory_free_adjoint`: one layer's states at a time). Weights and data are not
    counted (:func:`helpers.peak_saved_bytes`); the gradient itself, of the size of the weights (2qm numbers
    per layer), is not either.

    Returns a :class:`GradientMemory`. Raises ValueError naming ``method``, or as :func:`memory_free_adjoint`.

    Example: ``gradient_memory(net, x, y, "nd", method="adjoint").peak_mb``.
    """
    check_arg.choice("method", method, METHODS)
    _check_problem(net, x, y, normalization)
    if method == "backprop":
        return _backprop(net, x, y, normalization)
    keep = [t for t in (net.V, net.W, net.A, net.B, x, y) if t is not None]
    (loss, grads), peak = peak_saved_bytes(lambda: memory_free_adjoint(net, x, y, normalization), ignore=keep)
    return GradientMemory(loss, grads, peak)


# -- changing the depth of a trained network -----------------------------------------------------------------
def keep_every(net: ResNet, r: int) -> ResNet:
    """The network of depth ``L/r`` that keeps the layers r, 2r, ..., L of ``net`` (1-based): layer j of the
    result has the weights of layer jr, at the same depth s = jr/L = j/(L/r), and the residual scale
    1/(L/r). For weights sampled from a Lipschitz function of s this is the Euler scheme of the same neural
    ODE with a step r times larger (Prop. 2: output error O(r/L)). Maps A, B and the form are kept.

    Raises ValueError naming ``r`` unless r is a positive integer dividing L.
    Example: ``keep_every(net, 4).L == net.L // 4``.
    """
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    r = check_arg.positive_int("r", r)
    if net.L % r:
        raise ValueError(f"r must divide the depth L = {net.L}, got r = {r}")
    return ResNet(net.V[r - 1::r].clone(), net.W[r - 1::r].clone(), activation=net.activation,
                  A=net.A, B=net.B, normalized=net.normalized)


def interpolate_depth(net: ResNet, L_new: int) -> ResNet:
    """A network of depth ``L_new`` whose layer j sits at s = j/L_new and gets the weights of ``net``
    interpolated linearly in s between its nodes s_k = k/L (constant before the first node, s < 1/L: those
    layers copy the first node's weights), with residual scale 1/L_new.
    ``interpolate_depth(keep_every(net, r), net.L)`` keeps every r-th layer and fills the gaps by
    interpolation; ``interpolate_depth(net, 4 * net.L)`` refines. For Lipschitz (smooth) weights in s
    the result discretizes the same neural ODE; for i.i.d. weights the in-between layers are averages of
    unrelated matrices. A depth-1 network is copied to every layer.

    Raises ValueError/TypeError naming ``L_new``.
    """
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    L_new = check_arg.positive_int("L_new", L_new)
    L = net.L
    s = torch.arange(1, L_new + 1, dtype=torch.float64) / L_new
    u = (s * L - 1.0).clamp(0.0, L - 1.0)                         # position among the nodes, 0-based
    i0 = u.floor().long().clamp(max=max(L - 2, 0))
    i1 = (i0 + 1).clamp(max=L - 1)
    a = (u - i0).clamp(0.0, 1.0).to(net.dtype).reshape(-1, 1, 1)
    lerp = lambda T: (1 - a) * T[i0] + a * T[i1]
    return ResNet(lerp(net.V), lerp(net.W), activation=net.activation, A=net.A, B=net.B,
                  normalized=net.normalized)


def rms_output_gap(net_a: ResNet, net_b: ResNet, x: torch.Tensor) -> float:
    """``( (1/n) sum_i ||F_a(x_i) - F_b(x_i)||^2 )^{1/2}`` on inputs ``x`` (n, d): how far two networks'
    outputs are, in the units of the outputs. Raises as :meth:`helpers.ResNet.check_input`."""
    for name, net in (("net_a", net_a), ("net_b", net_b)):
        if not isinstance(net, ResNet):
            raise TypeError(f"{name} must be a helpers.ResNet, got {type(net).__name__}")
    with torch.no_grad():
        return float((net_a(x) - net_b(x)).pow(2).sum(dim=1).mean().sqrt())


# -- the backward recursion and its limit, with and without the transpose ---------------------------------
_OPS = ("keep", "back")     # keep every r-th layer; keep, then interpolate back to depth L


def _depth_change_inputs(records, changed, r):
    if not isinstance(records, dict) or not isinstance(changed, dict) or not records:
        raise TypeError("records and changed must be non-empty dicts keyed by (start, L), as in notebook 10")
    if set(changed) != set(records):
        raise ValueError(f"changed must have the keys of records {sorted(records)}, got {sorted(changed)}")
    for key, c in changed.items():
        missing = [(op, f) for op in _OPS for f in ("gap", "loss", "lost", "variance")
                   if f not in c.get(op, {}) and not (op == "back" and f == "variance")]
        if missing:
            raise ValueError(f"changed[{key}] lacks {missing}")
    return check_arg.positive_int("r", r, minimum=2)


def depth_change_table(records: dict, changed: dict, r: int) -> str:
    """The table of notebook 10, Section 4: for each trained network ``records[start, L]`` (a
    :class:`~helpers.train.TrainRecord`) its losses l(0), l(T), and for each operation of ``changed[start, L]``
    (``"keep"``: every r-th layer kept, :func:`keep_every`; ``"back"``: then interpolated back,
    :func:`interpolate_depth`) the rms output change ``gap`` (:func:`rms_output_gap`), the new loss, the
    fraction of the training gain ``lost`` and, for ``"keep"``, ``variance`` = rms^2/d over the gain. Returns
    the text; raises TypeError/ValueError naming the argument when the two dicts do not match."""
    r = _depth_change_inputs(records, changed, r)
    lines = [f"{'start':>5} {'L':>3} {'l(0)':>6} {'l(T)':>6} | keep every {r}th: {'rms':>6} {'l_new':>6} {'lost':>6} "
             f"{'rms²/d':>6} | and interpolate: {'rms':>6} {'l_new':>6} {'lost':>6}"]
    for (kind, L), c in changed.items():
        rec, kp, bk = records[kind, L], c["keep"], c["back"]
        lines.append(f"{kind:>5} {L:3d} {rec.losses[0]:6.3f} {rec.losses[-1]:6.3f} | {'':15} {kp['gap']:6.3f} "
                     f"{kp['loss']:6.3f} {kp['lost']:6.1%} {kp['variance']:6.1%} | {'':16} {bk['gap']:6.3f} "
                     f"{bk['loss']:6.3f} {bk['lost']:6.1%}")
    return "\n".join(lines)


def plot_depth_change(records: dict, changed: dict, r: int, *, kinds=("tied", "iid")):
    """The figure of notebook 10, Section 4, in three panels: (left) one entry of the trained V_k against
    s = k/L at the largest depth, with the kept layers (dots) and the interpolation back (dashed); (middle) the
    rms output change against L, log--log, with reference slopes -1 (keep) and -2 (interpolate) for the tied
    start; (right) the percentage of the training gain lost, on a symlog axis (linear in [-1 %, 1 %]).
    Arguments as :func:`depth_change_table`; ``kinds``: the starts to draw. Returns the three axes."""
    r = _depth_change_inputs(records, changed, r)
    depths = sorted({L for _, L in records})
    L_top = depths[-1]
    fig, axes = plt.subplots(1, 3, figsize=(17, 5.2))
    for kind in kinds:
        V = records[kind, L_top].net.V[:, 0, 0]                  # one entry of V_k, k = 1..L
        s = np.arange(1, L_top + 1) / L_top
        back = interpolate_depth(keep_every(records[kind, L_top].net, r), L_top).V[:, 0, 0]
        axes[0].plot(s, V, color=COLORS[kind], lw=1.2, label=f"{kind}: trained $V_k$")
        axes[0].plot(s[r - 1::r], V[r - 1::r], "o", ms=4, color=COLORS[kind])
        axes[0].plot(s, back, "--", color=COLORS[kind], lw=1, label=f"{kind}: every {r}th kept (dots), interpolated")
    axes[0].set(xlabel="depth $s = k/L$", ylabel="entry (1, 1) of $V_k$",
                title=f"Trained weights across depth, L = {L_top}")
    axes[0].legend(fontsize=7, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.14))
    names = {"keep": f"keep every {r}th", "back": "interpolate back"}
    for kind in kinds:
        for op, marker in [("keep", "o"), ("back", "s")]:
            plot_loglog_rate(depths, [changed[kind, L][op]["gap"] for L in depths], ax=axes[1], marker=marker,
                             label=f"{kind}, {names[op]}", color=COLORS[kind],
                             ref_slope={"keep": -1, "back": -2}[op] if kind == "tied" else None)
    axes[1].set(xlabel="depth $L$", ylabel=r"rms over the data of $\|F_{\rm new}(x_i) - F^L(x_i)\|$",
                title="How far the outputs move")
    axes[1].legend(fontsize=7)
    for kind in kinds:
        for op, style in [("back", "s-"), ("keep", "o:")]:
            axes[2].plot(depths, [100 * changed[kind, L][op]["lost"] for L in depths], style, color=COLORS[kind],
                         label=f"{kind}, {names[op]}")
    axes[2].set_xscale("log")
    axes[2].set_yscale("symlog", linthresh=1)                    # linear in [-1 %, 1 %], logarithmic beyond
    axes[2].set_yticks([-3, -1, 0, 1, 3, 10, 30], ["-3", "-1", "0", "1", "3", "10", "30"])
    axes[2].axhline(0, color=COLORS["reference"], lw=0.8)
    axes[2].set_xticks(depths, [str(L) for L in depths])
    axes[2].minorticks_off()
    axes[2].set(xlabel="depth $L$", ylabel="% of the training gain lost (symlog)",
                title="What the change costs in training loss")
    axes[2].legend(fontsize=8, loc="center right")
    fig.tight_layout()
    return axes


def backward_recursion(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str, *,
                       transpose: bool = True) -> torch.Tensor:
    """Backward states ``p_0..p_L`` (L+1, n, q) of ``net`` from ``p_L = dloss/dh_L`` by

        p_k = p_{k+1} + (1/L) J_{k+1}^T p_{k+1}    (``transpose=True``: the chain rule, = autograd)
        p_k = p_{k+1} + (1/L) J_{k+1}   p_{k+1}    (``transpose=False``: the paper's appendix as printed)

    with ``J_{k+1} = d_1 f(h_k, Z_{k+1})`` the (q, q) Jacobian of layer k+1's residual in h (appendix Sec. 7,
    backpropagation equations). Row i of ``P[k]`` is sample i's state (with the loss's 1/n or 1/(n d')).
    Raises as :func:`memory_free_adjoint`.
    """
    _check_problem(net, x, y, normalization)
    sigma, c, cw = net.sigma, net.residual_scale, net.inner_scale
    with torch.no_grad(), num_threads(auto_threads(net, x.shape[0])):
        out, H = net.forward(x, return_states=True)
        n_loss = x.shape[0] if normalization == "n" else x.shape[0] * net.d_out
        dout = 2.0 * (out - y) / n_loss
        P = [dout if net.B is None else dout @ net.B]
        for k in reversed(range(net.L)):
            p = P[-1]
            slope = sigma.prime(cw * (H[k] @ net.W[k].T))                     # sigma'(pre), (n, m)
            if transpose:                                                      # rows: J^T p = c cw W^T (s' * V^T p)
                step = ((p @ net.V[k]) * slope) @ net.W[k]
            else:                                                              # rows: J p = c cw V (s' * W p)
                step = ((p @ net.W[k].T) * slope) @ net.V[k].T
            P.append(p + c * cw * step)
    return torch.stack(P[::-1])


def adjoint_ode_p0(V_fn: Callable, W_fn: Callable, x: torch.Tensor, y: torch.Tensor, *, activation: str,
                   normalized: bool, sign: int, transpose: bool, n_steps: int = 200,
                   normalization: str = "n") -> torch.Tensor:
    """``P(0)`` (n, q) of the backward (adjoint) ODE of the neural ODE ``dH/ds = c V(s) sigma(cw W(s) H)``
    (A = B = I; c = 1/sqrt(m), cw = 1/sqrt(q) if ``normalized``, else 1), integrated from s = 1 down to 0
    together with H by :func:`helpers.rk4` with ``n_steps`` steps:

        P(1) = dloss/dH(1),    dP/ds = sign * J(s)^T P   (``transpose=True``)  or  sign * J(s) P  (``False``),

    ``J(s) = d_1 f(H(s), Z(s))``, ``sign`` = +1 or -1. The chain rule gives ``sign=-1, transpose=True`` (the
    limit of :func:`backward_recursion` with the transpose); the paper's appendix prints ``sign=+1,
    transpose=False`` (Sec. 7.5). ``V_fn(s)`` (q, m) and ``W_fn(s)`` (m, q), e.g.
    :func:`helpers.smooth_weight_functions`. Raises TypeError/ValueError naming the argument.
    """
    if not (callable(V_fn) and callable(W_fn)):
        raise TypeError("V_fn and W_fn must be callables s -> matrix, e.g. helpers.smooth_weight_functions(q, m, seed=0)")
    if sign not in (1, -1) or isinstance(sign, bool):
        raise ValueError(f"sign must be +1 or -1, got {sign!r}")
    n_steps = check_arg.positive_int("n_steps", n_steps)
    check_arg.choice("normalization", normalization, LOSS_NORMALIZATIONS)
    sigma = get_activation(activation)
    V0 = V_fn(0.0)
    q, m = V0.shape
    check_arg.tensor("x", x, shape=(None, q))
    check_arg.tensor("y", y, shape=(x.shape[0], q))
    c, cw = (1 / math.sqrt(m), 1 / math.sqrt(q)) if normalized else (1.0, 1.0)

    def field(s, H):
        V, W = V_fn(float(s)), W_fn(float(s))
        return c * sigma(cw * (H @ W.T)) @ V.T

    n_loss = x.shape[0] if normalization == "n" else x.numel()

    def joint(s, Y):
        H, P = Y[0], Y[1]
        V, W = V_fn(float(s)), W_fn(float(s))
        pre = cw * (H @ W.T)
        slope = sigma.prime(pre)
        JP = ((P @ V) * slope) @ W if transpose else ((P @ W.T) * slope) @ V.T
        return torch.stack([c * sigma(pre) @ V.T, sign * c * cw * JP])

    with torch.no_grad(), num_threads(1 if x.shape[0] * q * m < 1_000_000 else None):   # tiny products: 1 thread
        H1 = rk4(field, x, n_steps=n_steps)
        P1 = 2.0 * (H1 - y) / n_loss
        return rk4(joint, torch.stack([H1, P1]), n_steps=n_steps, s0=1.0, s1=0.0)[1]
