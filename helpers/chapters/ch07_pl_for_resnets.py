"""Chapter of notebook 07, *Why the PL condition holds for wide residual networks*
(``notebooks/07_pl_for_residual_networks.ipynb``): the measurements and figures behind Prop. 5 of
Marion, Wu, Sander & Biau, ICLR 2024 (Section 4.2; proof in Appendix 8.5, Lemmas 18 and 21).

The network is the paper's form of eq. (3) (notebook 07, eq. (7.1)), built with
``make_resnet(L, q, m, kind="tied", V="zero", activation="tanh", form="paper", d=d, d_out=d_out, seed=s)``:
``h_0 = A x``, ``h_k = h_{k-1} + 1/(L sqrt m) V_k tanh(W_k h_{k-1} / sqrt q)``, ``F(x) = B h_L``, at the theory's
initialisation ``A = (I_d; 0)``, ``B = (0, I_d')``, ``V_k = 0``, ``W_k = W ~ N(0, 1)``. The loss is the paper's
``l = (1/n) sum_i ||F(x_i) - y_i||^2`` (normalisation ``"n"``) and the PL ratio is Def. 1's left side over the loss,

    R(theta) = ( ||dl/dA||^2 + L sum_k ||dl/dZ_k||^2 + ||dl/dB||^2 ) / l        (notebook 07, eq. (7.4)),

or its residual part ``L sum_k ||dl/dZ_k||^2 / l`` when A and B are not trained -- the part the proof of
Prop. 5 bounds from below (it keeps only the V-gradients).

The data of Prop. 5 (:func:`helpers.sphere_data`), the Hermite coefficients eta_r(sigma) of Appendix 8
(:func:`helpers.hermite_coefficients`) and the constants c_1..c_4 of Appendix 8.5 (:func:`helpers.prop5_constants`)
are in the engine (notebook 08 uses them too). Here:

* :func:`delta_terms` -- the three terms of the failure probability delta of Prop. 5 (Appendix 8.5);
* :func:`long_time_conditions` -- Thm. 6's bound on the targets and Prop. 8's threshold on mu, at given sizes;
* :func:`feature_matrix`, :func:`min_eigenvalues`, :func:`hermite_kernel`, :func:`plot_feature_spectrum` --
  the n x m feature matrix Phi = sigma(x A^T W^T / sqrt q) of the proof and lambda_min(Phi Phi^T) against m/n;
* :func:`init_kernel`, :func:`kernel_pl_ratio`, :func:`lazy_plateau`, :func:`pl_ratio` -- the PL ratio at the
  initialisation in closed form (a tangent kernel) and at any parameters (by backprop);
* :func:`summarize_run`, :func:`pl_picture` (:class:`PLPicture`), :func:`plot_pl_picture`, :func:`late_rate` --
  loss curve and PL ratio along training for one width ratio m/n (the figure an explorer of m/n redraws);
  :func:`feature_change` -- how far a run moved W and the hidden states;
* :func:`ball_pl_estimate` (:class:`BallEstimate`), :func:`plot_rates_vs_width` -- the smallest PL ratio found
  in the ball of radius M around the initialisation (random points, aimed points, descent on the ratio itself);
  :func:`worst_kernel_shift` (:class:`KernelShift`) -- the largest decrease of lambda_min(K) a W-perturbation of
  norm <= M can cause.

Tensors: data ``x`` (n, d), ``y`` (n, d'); weights ``V`` (L, q, m), ``W`` (L, m, q), ``A`` (q, d), ``B`` (d', q).
Time: gradient-flow time t = steps * eta.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import _validation as check_arg
from ..adjoint import forward_backward_states, loss_and_gradients
from ..config import auto_threads, num_threads
from ..pl import prop5_constants
from ..plotting import COLORS
from ..resnet import ResNet, make_resnet
from ..train import TrainRecord, train


# -- Prop. 5's probability and Thm. 6's conditions (Appendix 8.5) ----------------------------------------
def delta_terms(n: int, m: int, *, d: int, q: int, eta_r: float, r: int, M_sigma: float = 1.0, v_x2: float = 1.0,
                chernoff: str = "paper") -> dict:
    """The three terms of Prop. 5's probability of failure (Appendix 8.5; notebook 07, eq. (7.9)):

        norm_W   = exp(-q m / 16)                                     (Lemma 20: ||W||_F <= sqrt(2 q m) fails)
        chernoff = n exp(-3 m eta_r^2 / (64 M_sigma^2 n))             (Lemma 21, matrix Chernoff step, as printed)
        overlap  = 2 n^2 exp(-(d / (2 v_x2)) (3 / (4 n))^(2 / r))     (Lemma 21, some |<u_i, u_j>| too large)

    and ``total`` = their sum (a probability only when < 1). ``chernoff="tropp"`` replaces the middle exponent by
    the one the simplified matrix Chernoff bound gives at t = 1/2 (Tropp 2012, exponent (1 - t)^2 lambda / (2R)):
    ``n exp(-m eta_r^2 / (64 M_sigma^2 n))`` (notebook 07, note (a)). ``v_x2``: sub-Gaussian variance proxy of
    sqrt(d/q) x_i; 1 for inputs uniform on the sphere (Ball 1997, Lemma 2.2). Raises ValueError/TypeError naming
    the argument.

    Example: ``delta_terms(32, 64, d=8, q=10, eta_r=0.148, r=3)["chernoff"]`` is about 31.9 (> 1: no guarantee).
    """
    n, m, d, q = (check_arg.positive_int(k, v) for k, v in (("n", n), ("m", m), ("d", d), ("q", q)))
    r = check_arg.positive_int("r", r, minimum=2)
    if isinstance(eta_r, bool) or not isinstance(eta_r, (int, float, np.floating)) or not math.isfinite(eta_r) \
            or eta_r == 0:
        raise ValueError(f"eta_r must be a non-zero finite Hermite coefficient, got {eta_r!r}")
    M_sigma, v_x2 = check_arg.positive_float("M_sigma", M_sigma), check_arg.positive_float("v_x2", v_x2)
    chernoff = check_arg.choice("chernoff", chernoff, ("paper", "tropp"))
    rate = (3.0 if chernoff == "paper" else 1.0) * m * float(eta_r) ** 2 / (64 * M_sigma**2 * n)
    terms = {"norm_W": math.exp(-q * m / 16),
             "chernoff": n * math.exp(-rate),
             "overlap": 2 * n**2 * math.exp(-d / (2 * v_x2) * (3 / (4 * n)) ** (2 / r))}
    terms["total"] = sum(terms.values())
    return terms


def long_time_conditions(n: int, q: int, *, ell0: float, eta_r: float, K_sigma: float = 1.0) -> dict:
    """How the proof of Thm. 6 (Appendix 8) turns Prop. 8's threshold on mu into a condition on the targets, at
    given sizes, for the theory's initialisation (||A||_2 = ||B||_2 = 1) and inputs with ||x_i|| = sqrt(q):

        M        = c_3 / sqrt(n q)                                                (Prop. 5's radius)
        mu_lower = (1 + M) sqrt(q) * 8 / M * sqrt(ell0)    <=  max(M_B K, M_B M_X, M_A M_X) 8 e^K / M sqrt(ell0)
        C_upper  = c_3^2 c_4^2 / (64 n^4 q^3 (1 + M)^2 q)  >=  c_3^2 c_4^2 / (64 n^4 q^3 max(...)^2 e^{2K})

    -- Prop. 8's threshold on mu (its eq. (condition-mu), Appendix 7.2) is at least ``mu_lower`` and Thm. 6's bound
    C on (1/n) sum ||y_i||^2 = ell0 is at most ``C_upper`` (both use only M_A = M_B = 1 + M, M_X = sqrt(q) and
    K >= 0; the unknown K would make them stricter). ``ell0``: the initial loss (the mean ||y_i||^2, since F = 0 at
    the initialisation). Returns ``{"M", "mu_lower", "C_upper", "mu_prop5"}`` (``mu_prop5 = c_4 / (n sqrt(n) q)``).
    Raises ValueError/TypeError naming the argument.
    """
    n, q = check_arg.positive_int("n", n), check_arg.positive_int("q", q)
    ell0 = check_arg.positive_float("ell0", ell0)
    c = prop5_constants(eta_r, K_sigma)
    M = c["c3"] / math.sqrt(n * q)
    lead = (1 + M) * math.sqrt(q)
    return {"M": M, "mu_lower": lead * 8 / M * math.sqrt(ell0),
            "C_upper": c["c3"] ** 2 * c["c4"] ** 2 / (64 * n**4 * q**3 * lead**2),
            "mu_prop5": c["c4"] / (n * math.sqrt(n) * q)}


# -- the feature matrix of the proof -------------------------------------------------------------------------
def _paper_net(net) -> ResNet:
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    if not net.normalized or net.A is None or net.B is None:
        raise ValueError("net must be in the paper's form (H.make_resnet(..., form='paper', d=..., d_out=...)): "
                         "this chapter's formulas use A, B and the 1/sqrt(m), 1/sqrt(q) factors")
    return net


def feature_matrix(net: ResNet, x: torch.Tensor) -> torch.Tensor:
    """The n x m feature matrix of the proof of Prop. 5 at the initialisation,

        Phi = sigma( x A^T W_1^T / sqrt(q) ),   Phi[i, j] = sigma(<w_j, A x_i> / sqrt q)      (notebook 07, eq. (7.10)),

    the transpose of the paper's ``sigma(W A x / sqrt q)`` (m x n, data as columns). At the theory's
    initialisation every layer has ``W_k = W`` and ``h_{k-1} = A x``, so every layer sees this same matrix.
    ``net``: a paper-form ResNet; ``x``: (n, d). Raises TypeError/ValueError naming ``net`` or ``x``.
    """
    net = _paper_net(net)
    net.check_input(x)
    return net.sigma(x @ net.A.T @ net.W[0].T * net.inner_scale)


def min_eigenvalues(x: torch.Tensor, m_values, *, q: int, d_out: int, activation: str = "tanh",
                    seed: int = 0) -> np.ndarray:
    """``lambda_min(Phi Phi^T)`` (the smallest eigenvalue of the n x n Gram matrix of the features) for each
    width ``m`` in ``m_values``, each from the initial network ``make_resnet(1, q, m, kind="tied", V="zero",
    form="paper", ...)`` with one ``seed``. Zero (up to rounding, ~1e-15 times the largest) whenever m < n,
    since Phi has rank <= m. Shape (len(m_values),). Raises as :func:`helpers.make_resnet` and
    :func:`feature_matrix`.

    Example: ``min_eigenvalues(x, [8, 64], q=10, d_out=2)`` for n = 32: about ``[0, 0.1]``.
    """
    m_values = check_arg.int_list("m_values", m_values)
    check_arg.tensor("x", x, ndim=2)
    out = []
    for m in m_values:
        net = make_resnet(1, q, m, kind="tied", V="zero", seed=seed, activation=activation, form="paper",
                          d=x.shape[1], d_out=d_out, dtype=x.dtype)
        phi = feature_matrix(net, x)
        out.append(float(torch.linalg.eigvalsh(phi @ phi.T)[0]))
    return np.array(out)


def hermite_kernel(x: torch.Tensor, coefficients) -> torch.Tensor:
    """``K_inf = sum_r eta_r^2 (G)^{o r}`` (entrywise powers; notebook 07, eq. (7.7) and Step 3) with
    ``G = x x^T / (||x_i|| ||x_j||)`` the Gram matrix of the unit inputs: the expectation of ``Phi Phi^T / m`` over
    the Gaussian weights W (the classical Hermite identity ``E[sigma(<w,u>) sigma(<w,v>)] = sum_r eta_r^2 <u,v>^r``
    for unit u, v), truncated at the last coefficient given. Shape (n, n). The proof of Lemma 21 bounds
    ``lambda_min`` of this expectation from below. Raises TypeError/ValueError naming ``x`` or ``coefficients``.
    """
    check_arg.tensor("x", x, ndim=2)
    coef = check_arg.as_float_array("coefficients", coefficients).ravel()
    if coef.size == 0:
        raise ValueError("coefficients must hold at least eta_0")
    u = x / x.norm(dim=1, keepdim=True)
    G = u @ u.T
    K = torch.zeros_like(G)
    power = torch.ones_like(G)
    for c in coef:
        K += float(c) ** 2 * power
        power = power * G
    return K


def _zero_floor(series, zero_tol: float) -> float:
    """The height at which to draw values that are zero up to rounding (|v| <= zero_tol) on a log axis: a
    factor 30 below the smallest value that is not."""
    kept = np.concatenate([v[v > zero_tol] for v in series])
    return float(kept.min() / 30) if kept.size else zero_tol


def _label_ratios(ax, r) -> None:
    """x ticks at the measured width ratios themselves (0.25, 0.5, 1, ...), no minor labels."""
    ax.set_xticks(r, [f"{v:g}" for v in r])
    ax.xaxis.set_minor_formatter(mpl.ticker.NullFormatter())


def plot_feature_spectrum(m_over_n, curves: dict, *, limits: dict | None = None, zero_tol: float = 1e-12,
                          ax=None, title: str | None = None):
    """``lambda_min(Phi Phi^T) / m`` against ``m / n`` on log--log axes, one curve per key of ``curves``
    (``{label: values}``, values aligned with ``m_over_n``). Values with ``|v| <= zero_tol`` are zero up to
    rounding (an eigenvalue of a singular matrix comes out as +-1e-16 times the largest): they are drawn with
    crosses on a floor line labelled "0". ``limits`` (``{label: value}``): dashed horizontal lines, e.g.
    ``lambda_min(K_inf)`` of :func:`hermite_kernel`, the limit as m/n grows. A dotted vertical line marks m = n.
    Returns the axes. Raises ValueError naming ``curves`` for values of the wrong length.
    """
    r = check_arg.as_float_array("m_over_n", m_over_n).ravel()
    if not isinstance(curves, dict) or not curves:
        raise ValueError(f"curves must be a non-empty dict {{label: values}}, got {curves!r:.60}")
    values = {}
    for label, v in curves.items():
        v = check_arg.as_float_array(f"curves[{label!r}]", v).ravel()
        if v.shape != r.shape:
            raise ValueError(f"curves[{label!r}] must hold {r.size} values (one per m/n), got {v.size}")
        values[label] = v
    floor = _zero_floor(list(values.values()), zero_tol)
    ax = ax if ax is not None else plt.subplots()[1]
    colors = plt.get_cmap("viridis")(np.linspace(0.15, 0.85, len(values)))
    for (label, v), c in zip(values.items(), colors):
        zero = np.abs(v) <= zero_tol
        ax.loglog(r, np.where(zero, floor, v), "o-", color=c, label=label, ms=4)
        ax.loglog(r[zero], np.full(zero.sum(), floor), "x", color=c, ms=8)
        if limits and label in limits:
            ax.axhline(limits[label], color=c, ls="--", lw=1)
    ax.axvline(1.0, color=COLORS["reference"], ls=":", lw=1)
    ax.axhline(floor, color="0.6", lw=0.8, label=f"floor: values with $|v| \\leq$ {zero_tol:.0e} (zero up to "
               "rounding), drawn as crosses")
    _label_ratios(ax, r)
    ax.set_xlabel("width over sample size $m/n$")
    ax.set_ylabel(r"$\lambda_{\min}(\Phi\Phi^\top)/m$")
    ax.set_title(title or r"smallest eigenvalue of the feature Gram matrix $\Phi\Phi^\top$ at initialisation")
    ax.legend(fontsize=8)
    return ax


# -- the PL ratio at the initialisation, in closed form ---------------------------------------------------------
def init_kernel(net: ResNet, x: torch.Tensor, *, train_AB: bool = False) -> torch.Tensor:
    """The tangent kernel of the gradient flow (4) at the theory's initialisation, one n x n block:

        K = Phi Phi^T / m            (V and W trained; A, B frozen)
        K = Phi Phi^T / m + 2 x x^T  (A and B trained too)              (notebook 07, eq. (7.12)).

    At ``V = 0`` the W-gradients vanish, every V_k-gradient is ``-(2/(n L sqrt m)) B^T (y - F)^T Phi``, and
    ``B B^T = I``, ``A^T A = I``, so Def. 1's left side is ``(4/n^2) tr(r^T K r)`` for the residual
    ``r = F(x) - y`` (n, d') and the PL ratio is ``(4/n) tr(r^T K r) / ||r||_F^2`` (:func:`kernel_pl_ratio`),
    between ``(4/n) lambda_min(K)`` and ``(4/n) lambda_max(K)``. Valid only at the initialisation (V = 0, tied W);
    ValueError otherwise, or naming ``net`` / ``x``.
    """
    net = _paper_net(net)
    if bool(net.V.abs().max() > 0) or bool((net.W - net.W[0]).abs().max() > 0):
        raise ValueError("net must be at the theory's initialisation (V = 0 and the same W in every layer)")
    phi = feature_matrix(net, x)
    K = phi @ phi.T / net.m
    return K + 2 * x @ x.T if train_AB else K


def kernel_pl_ratio(K: torch.Tensor, residual: torch.Tensor) -> float:
    """``(4/n) tr(r^T K r) / ||r||_F^2``: the PL ratio (7.4) at the initialisation for the residual ``r = F(x) - y``
    (n, d'), with ``K`` from :func:`init_kernel` (the ratio H.train records at step 0: there F = 0, r = -y).
    Raises ValueError naming ``K`` or ``residual``."""
    check_arg.tensor("K", K, ndim=2)
    check_arg.tensor("residual", residual, shape=(K.shape[0], None))
    n = K.shape[0]
    return float(4.0 / n * torch.sum(residual * (K @ residual)) / residual.pow(2).sum())


def lazy_plateau(K: torch.Tensor, y: torch.Tensor, rel_tol: float = 1e-9) -> float:
    """The fraction of the initial loss ``||y||^2 / n`` that lies in the null space of ``K`` (eigenvalues below
    ``rel_tol`` times the largest): ``||P_null y||^2 / ||y||^2``. A gradient flow that stays at the initialisation
    to first order (small targets) cannot remove it, so ``l(t) / l(0)`` stalls at this level (notebook 07,
    eq. (7.13)); it is 0 when K is
    invertible (m >= n for K = Phi Phi^T / m). Raises ValueError naming ``K``, ``y`` or ``rel_tol``."""
    check_arg.tensor("K", K, ndim=2)
    check_arg.tensor("y", y, shape=(K.shape[0], None))
    rel_tol = check_arg.positive_float("rel_tol", rel_tol)
    lam, U = torch.linalg.eigh(K)
    null = U[:, lam <= rel_tol * lam[-1].clamp_min(1e-300)]
    return float((null.T @ y).pow(2).sum() / y.pow(2).sum())


def pl_ratio(net: ResNet, x: torch.Tensor, y: torch.Tensor, *, include_AB: bool = False) -> float:
    """The PL ratio (7.4) at the parameters of ``net``, by backprop (:func:`helpers.loss_and_gradients`), loss
    normalised by n: ``(||dA||^2 + L sum_k ||dZ_k||^2 + ||dB||^2) / l``, or only its residual part
    ``L sum_k ||dZ_k||^2 / l`` (``include_AB=False``, when A and B are not trained). Raises as the engine."""
    with torch.no_grad(), num_threads(auto_threads(net, x.shape[0])):
        loss, grads = loss_and_gradients(net, x, y, "n")
    return grads.pl_numerator(net.L, include_AB=include_AB) / loss


# -- loss curve and PL ratio along training, for one width ratio ---------------------------------------------------
@dataclass
class PLPicture:
    """One training run summarised for the figure "loss curve and PL ratio as m/n changes".

    ``t`` (steps+1,) gradient-flow time; ``loss_ratio`` (steps+1,) ``l(t)/l(0)``; ``pl`` (steps,) the ratio (7.4)
    along the run (H.train's record; residual part if A, B frozen); ``plateau``: :func:`lazy_plateau` of the
    initial kernel; ``mu_init``: ``(4/n) lambda_min(K)``, the PL ratio at the initialisation for the worst targets;
    ``late_rate``: minus the slope of ``log l`` against t over the second half of the run; ``excursion``:
    ``max_{t, k} ||Z_k(t) - Z_k(0)||`` (with ``||Z|| = ||V||_F + ||W||_F``) over the recorded snapshots."""

    m_over_n: float
    n: int
    m: int
    t: np.ndarray
    loss_ratio: np.ndarray
    pl: np.ndarray
    plateau: float
    mu_init: float
    late_rate: float
    excursion: float
    record: TrainRecord = field(repr=False)


def late_rate(t, losses, start_fraction: float = 0.5) -> float:
    """Minus the least-squares slope of ``log(losses)`` against ``t`` over the last ``1 - start_fraction`` of the
    run: the exponential rate of the late phase (``l ~ e^{-rate t}``). Raises ValueError naming the argument."""
    t, losses = check_arg.as_float_array("t", t).ravel(), check_arg.as_float_array("losses", losses).ravel()
    if t.shape != losses.shape or t.size < 4:
        raise ValueError(f"t and losses must be two curves of one length >= 4, got {t.size} and {losses.size}")
    if not np.all(losses > 0):
        raise ValueError("losses must be positive (a log scale is fitted)")
    start_fraction = check_arg.positive_float("start_fraction", start_fraction)
    if start_fraction >= 1:
        raise ValueError(f"start_fraction must lie in (0, 1), got {start_fraction}")
    i = int(start_fraction * (t.size - 1))
    return float(-np.polyfit(t[i:], np.log(losses[i:]), 1)[0])


def _excursion(V0, W0, snapshots: dict) -> float:
    far = 0.0
    for snap in snapshots.values():
        dist = (torch.linalg.vector_norm(snap["V"] - V0, dim=(1, 2))
                + torch.linalg.vector_norm(snap["W"] - W0, dim=(1, 2)))
        far = max(far, float(dist.max()))
    return far


def summarize_run(record: TrainRecord, net0: ResNet, x: torch.Tensor, y: torch.Tensor) -> PLPicture:
    """A :class:`PLPicture` from a training run ``record`` (``H.train(net0, x, y, ..., normalization="n",
    record_pl=True, snapshot_steps=...)``) of the initial network ``net0``: the loss curve, the recorded ratio,
    the closed-form quantities of the initial kernel (:func:`init_kernel` with A, B trained as in the run) and
    the distance travelled (over ``record.snapshots``; 0 if none were kept). Raises ValueError when the record
    has no PL ratio."""
    if not isinstance(record, TrainRecord):
        raise TypeError(f"record must be a helpers.TrainRecord, got {type(record).__name__}")
    if record.pl_ratio is None:
        raise ValueError("record has no PL ratio: train with record_pl=True")
    K = init_kernel(net0, x, train_AB=record.train_AB)
    n = x.shape[0]
    mu0 = 4.0 / n * float(torch.linalg.eigvalsh(K)[0])
    loss_ratio = record.losses / record.losses[0]
    return PLPicture(m_over_n=net0.m / n, n=n, m=net0.m, t=record.t, loss_ratio=loss_ratio, pl=record.pl_ratio,
                     plateau=lazy_plateau(K, y), mu_init=max(mu0, 0.0), late_rate=late_rate(record.t, loss_ratio),
                     excursion=_excursion(net0.V, net0.W, record.snapshots), record=record)


def feature_change(record: TrainRecord, net0: ResNet, x: torch.Tensor) -> dict:
    """How far a run moved the features away from those of the initialisation: ``{"W": max_k ||W_k(T) - W_k(0)||_F
    / ||W_k(0)||_F, "h": max_k ||h_k(T) - h_0(T)||_F / ||h_0(T)||_F}`` with ``record.net`` the trained network (at
    step T), ``net0`` the initial one and h_k(T) the hidden states (L+1, n, q) of ``x`` (n, d) through the trained
    network. At the theory's initialisation both are 0 (V = 0: every h_k equals A x); a run that stays in a ball of
    radius M keeps them of order M. Raises TypeError/ValueError naming ``record``, ``net0`` or ``x``."""
    if not isinstance(record, TrainRecord):
        raise TypeError(f"record must be a helpers.TrainRecord, got {type(record).__name__}")
    net0 = _paper_net(net0)
    net = record.net
    if net.V.shape != net0.V.shape:
        raise ValueError(f"record and net0 must be the same network: V shapes {tuple(net.V.shape)} and "
                         f"{tuple(net0.V.shape)}")
    with torch.no_grad():
        dW = torch.linalg.vector_norm(net.W - net0.W, dim=(1, 2)) / torch.linalg.vector_norm(net0.W, dim=(1, 2))
        _, h = net(x, return_states=True)
        dh = torch.linalg.vector_norm(h - h[0], dim=(1, 2)) / torch.linalg.vector_norm(h[0])
    return {"W": float(dW.max()), "h": float(dh.max())}


def pl_picture(m_over_n: float, x: torch.Tensor, y: torch.Tensor, *, L: int = 8, steps: int = 2000,
               eta: float = 5.0, seed: int = 0, train_AB: bool = False, n_snapshots: int = 10) -> PLPicture:
    """Loss curve and PL ratio along training for one width ratio ``m/n`` (m = round(m_over_n * n), at least 1):
    the loop of notebook 07, Section 7, for one value --

        net = make_resnet(L, q, m, kind="tied", V="zero", activation="tanh", form="paper", d=d, d_out=d', seed=seed)
        rec = train(net, x, y, steps=steps, eta=eta, normalization="n", train_AB=train_AB, record_pl=True, ...)

    with q = d + d' -- summarised by :func:`summarize_run`. ``x`` (n, d), ``y`` (n, d'), e.g. from
    :func:`helpers.sphere_data`. Gradient descent is stable while ``eta * (2/n) lambda_max(K) < 2`` (K of
    :func:`init_kernel`). The default eta = 5 suits notebook 07's sizes (n = 32, d = 8, A and B frozen:
    ``(2/n) lambda_max(Phi Phi^T / m) ~ 0.2-0.3``); fewer samples per input dimension make ``lambda_max`` larger
    (e.g. n = 12, d = 4 needs eta <= 4), and with A and B trained ``2 x x^T`` adds directions about 50 times
    stiffer: use eta <= 0.1 there. Raises as :func:`helpers.make_resnet` and :func:`helpers.train`
    (TrainingDivergedError for too large a step).

    Example: ``pic = pl_picture(2.0, *H.sphere_data(32, 8, 2, q=10, target_scale=1e-6, seed=0))``.
    """
    check_arg.tensor("x", x, ndim=2)
    check_arg.tensor("y", y, ndim=2)
    n, d, d_out = x.shape[0], x.shape[1], y.shape[1]
    m = max(1, round(check_arg.positive_float("m_over_n", m_over_n) * n))
    steps = check_arg.positive_int("steps", steps, minimum=4)
    n_snapshots = check_arg.positive_int("n_snapshots", n_snapshots)
    net0 = make_resnet(L, d + d_out, m, kind="tied", V="zero", seed=seed, activation="tanh", form="paper", d=d,
                       d_out=d_out, dtype=x.dtype)
    snaps = sorted({round(s) for s in np.linspace(0, steps, n_snapshots + 1)})
    rec = train(net0, x, y, steps=steps, eta=eta, normalization="n", train_AB=train_AB, record_pl=True,
                snapshot_steps=snaps)
    return summarize_run(rec, net0, x, y)


def plot_pl_picture(pictures, *, axes=None, title: str | None = None):
    """The figure "loss curve and PL ratio as m/n changes": left, ``l(t)/l(0)`` against the flow time t (log
    scale) with the lazy plateau of each run dashed; right, the PL ratio (7.4) along each run with the worst-case
    ratio at the initialisation ``(4/n) lambda_min(K)`` dotted. ``pictures``: one :class:`PLPicture` or a dict
    ``{m/n: PLPicture}``; colours go light (narrow) to dark (wide). ``axes``: two axes, or None for a new figure.
    Returns the two axes."""
    if isinstance(pictures, PLPicture):
        pictures = {pictures.m_over_n: pictures}
    if not isinstance(pictures, dict) or not pictures or not all(isinstance(p, PLPicture) for p in pictures.values()):
        raise TypeError(f"pictures must be a PLPicture or a non-empty dict {{m/n: PLPicture}}, got {pictures!r:.60}")
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(11, 4))[1]
    ax_loss, ax_pl = axes
    keys = sorted(pictures)
    colors = plt.get_cmap("viridis")(np.linspace(0.9, 0.1, len(keys))) if len(keys) > 1 else [COLORS["tied"]]
    for key, c in zip(keys, colors):
        p = pictures[key]
        ax_loss.semilogy(p.t, p.loss_ratio, color=c, label=f"$m/n = {p.m_over_n:g}$ ($m = {p.m}$)")
        if p.plateau > 0:
            ax_loss.axhline(p.plateau, color=c, ls="--", lw=0.9)
        ax_pl.semilogy(p.t[:-1], p.pl, color=c, label=f"$m/n = {p.m_over_n:g}$")
        if p.mu_init > 1e-14:
            ax_pl.axhline(p.mu_init, color=c, ls=":", lw=1.2)
    ax_loss.set(xlabel="training time $t$ = steps $\\times\\,\\tau$", ylabel=r"$\ell(t)/\ell(0)$",
                title="loss (dashed: plateau of the null space of $\\Phi\\Phi^\\top$)")
    ax_pl.set(xlabel="training time $t$", ylabel=r"PL ratio $R(\theta(t))$",
              title="PL ratio along the run (dotted: $\\frac{4}{n}\\lambda_{\\min}(K)$ at $t=0$;\n"
                    "it is 0, not drawn, for $m < n$)")
    ax_loss.legend(fontsize=8)
    if title:
        ax_loss.figure.suptitle(title, y=1.0)
        ax_loss.figure.tight_layout()
    return axes


# -- the PL constant over the ball of Def. 1 ------------------------------------------------------------------
@dataclass
class KernelShift:
    """The largest decrease of ``lambda_min(K)``, ``K = Phi(W) Phi(W)^T / m`` the kernel (7.12) at V = 0, that a
    tied perturbation ``W = W_bar + dW`` with ``||dW||_F <= radius`` was found to cause (:func:`worst_kernel_shift`):
    ``lam0`` at W_bar, ``lam_worst`` at the worst dW found, ``first_order = radius * ||grad_W lambda_min||_F`` (the
    largest decrease a linear function of dW can have on the ball), ``dW`` (m, q) the perturbation."""

    radius: float
    lam0: float
    lam_worst: float
    first_order: float
    dW: torch.Tensor

    @property
    def relative_change(self) -> float:
        """``(lam0 - lam_worst) / lam0``."""
        return (self.lam0 - self.lam_worst) / self.lam0


def _kernel_lam_min(net, x, W):
    phi = net.sigma(x @ net.A.T @ W.T * net.inner_scale)
    return torch.linalg.eigvalsh(phi @ phi.T / W.shape[0])[0]


def worst_kernel_shift(net: ResNet, x: torch.Tensor, *, radius: float, steps: int = 40) -> KernelShift:
    """Search for the W-perturbation of the ball that lowers the worst-case PL ratio at V = 0 the most: minimise
    ``lambda_min(K(W_bar + dW))`` over tied ``dW`` (m, q) with ``||dW||_F <= radius`` by projected gradient descent
    (gradient of the eigenvalue by autograd through ``eigvalsh``; start at the first-order worst point
    ``-radius * g / ||g||``, then ``steps`` normalised steps of size radius/10, each projected radially back onto
    the ball; the best point visited is kept).

    Why tied suffices at V = 0: there every h_k = A x and the V-part of Def. 1's left side is ``(4/n^2) tr(r^T K r)``
    with K the *average* over layers of ``Phi(W_k) Phi(W_k)^T / m``; lambda_min is concave, so the average is no
    worse than its worst layer, which a tied perturbation reproduces. ``net``: a paper-form network at the
    theory's initialisation with ``m >= n`` (for m < n, lambda_min(K) = 0 at every W: ValueError naming ``net``);
    ``x`` (n, d). Returns a :class:`KernelShift`. Raises TypeError/ValueError naming the argument.
    """
    net = _paper_net(net)
    init_kernel(net, x)                                        # checks the initialisation and x
    radius = check_arg.positive_float("radius", radius)
    steps = check_arg.positive_int("steps", steps, minimum=0)
    if net.m < x.shape[0]:
        raise ValueError(f"net has width m = {net.m} < n = {x.shape[0]}: lambda_min(Phi Phi^T) = 0 at every W, "
                         "there is nothing to lower; worst_kernel_shift needs m >= n")
    W0 = net.W[0].detach()

    def value_and_grad(dW):
        dW = dW.detach().clone().requires_grad_(True)
        lam = _kernel_lam_min(net, x, W0 + dW)
        (g,) = torch.autograd.grad(lam, dW)
        return float(lam.detach()), g

    with num_threads(auto_threads(net, x.shape[0])):
        lam0, g0 = value_and_grad(torch.zeros_like(W0))
        first_order = radius * float(g0.norm())
        dW = -radius * g0 / g0.norm().clamp_min(1e-300)
        best_lam, best = lam0, torch.zeros_like(W0)
        for _ in range(steps + 1):
            lam, g = value_and_grad(dW)
            if lam < best_lam:
                best_lam, best = lam, dW.clone()
            dW = dW - radius / 10 * g / g.norm().clamp_min(1e-300)
            dW = dW * min(1.0, radius / max(float(dW.norm()), 1e-300))
    return KernelShift(radius=radius, lam0=lam0, lam_worst=best_lam, first_order=first_order, dW=best)


@dataclass
class BallEstimate:
    """The smallest PL ratio found in the ball ``{sup_k ||Z_k - Z_k(0)|| <= radius}`` (A, B at their initial
    values): ``random`` (n_random,) the ratios at random points; ``aimed``: the ratio at the point the initial
    kernel predicts to be worst; ``descent`` (at most descent_steps + 1,) the ratios along projected descent on
    ``log R`` from the best random point (it stops early when backtracking finds no decrease); ``aimed_W``: the
    ratio at the aimed point built on the worst tied W-perturbation of norm radius/2 (:func:`worst_kernel_shift`;
    NaN when m < n, where the kernel is singular anyway); ``minimum``: the smallest of all -- an *upper* estimate
    of the local PL constant mu over the ball (the true constant is the infimum over every point); ``farthest``:
    the largest layer distance of the final descent point."""

    radius: float
    random: np.ndarray
    aimed: float
    descent: np.ndarray
    minimum: float
    farthest: float
    aimed_W: float = float("nan")


def _ratio_autograd(V, W, net, x, y):
    twin = ResNet(V=V, W=W, activation=net.activation, A=net.A, B=net.B, normalized=True)
    loss = twin.loss(x, y, "n")
    gV, gW = torch.autograd.grad(loss, (V, W), create_graph=True)
    return net.L * (gV.pow(2).sum() + gW.pow(2).sum()) / loss


def _project(dV, dW, radius):
    """Scale each layer's (dV_k, dW_k) back onto {||dV_k||_F + ||dW_k||_F <= radius} (radially)."""
    norm = torch.linalg.vector_norm(dV, dim=(1, 2)) + torch.linalg.vector_norm(dW, dim=(1, 2))
    scale = torch.clamp(radius / norm.clamp_min(1e-300), max=1.0)[:, None, None]
    return dV * scale, dW * scale


def _aimed_point(net, x, y, radius):
    """The tied perturbation dV that, to first order, fits the part of y outside the bottom eigenvectors of
    K = Phi Phi^T / m, so that the residual F - y = -P_S y lies in their span S (its ratio is at most
    (4/n) lambda_k): S = the null space and the k smallest eigenvectors, k as small as the budget radius/2 allows."""
    phi = feature_matrix(net, x)
    m = phi.shape[1]
    lam, U = torch.linalg.eigh(phi @ phi.T / m)
    n_null = int((lam <= 1e-9 * lam[-1]).sum())
    pinv = torch.linalg.pinv(phi)
    to_dV = lambda F: math.sqrt(m) * (pinv @ F @ net.B).T      # (q, m): Phi dV^T B^T = sqrt(m) P_range F
    for k in range(max(n_null, 1), phi.shape[0] + 1):
        S = U[:, :k]
        dV = to_dV(y - S @ (S.T @ y))
        if float(dV.norm()) <= radius / 2:
            break
    return _project(dV.expand(net.L, -1, -1).clone(), torch.zeros_like(net.W), radius)[0]


def ball_pl_estimate(net: ResNet, x: torch.Tensor, y: torch.Tensor, *, radius: float, n_random: int = 32,
                     descent_steps: int = 20, seed: int = 0) -> BallEstimate:
    """Estimate the local PL constant of Def. 1 over the ball of radius ``radius`` around the initial network
    ``net`` -- the residual part ``R(theta) = L sum_k ||dl/dZ_k||^2 / l`` (A and B held at their initial values, as
    in the runs of notebook 07, Section 7) -- by the smallest ratio found among

    1. ``n_random`` random points: each layer's ``(dV_k, dW_k)`` a random Gaussian direction, the radius shared
       between V and W at random, scaled by a random fraction of ``radius`` (every other point tied across k);
    2. the *aimed* point: the tied dV that, to first order, makes the residual point along the worst direction
       of the initial kernel K = Phi Phi^T / m (:func:`init_kernel`): with S the span of the k bottom eigenvectors
       of K (k as small as a budget ||dV||_F <= radius/2 allows), ``dV = sqrt(m) (Phi^+ (y - P_S y) B)^T`` makes
       the output, to first order ``Phi dV^T B^T / sqrt(m)``, equal ``y - P_S y``, so the residual is ``-P_S y``
       and its Rayleigh quotient at most (4/n) lambda_k; and the same point built on the worst tied W-perturbation
       of norm radius/2 (:func:`worst_kernel_shift`), when m >= n;
    3. ``descent_steps`` steps of projected descent on ``log R`` (gradients by autograd through the gradient
       itself) from the best random point: a step of length s along the normalised gradient, then each layer's
       ``(dV_k, dW_k)`` scaled radially back onto ``||dV_k||_F + ||dW_k||_F <= radius``; s starts at radius/4, is
       multiplied by 1.5 after an accepted step (one that lowers R) and halved otherwise (backtracking), and the
       descent stops when s falls below radius / 10^4.

    The result is an upper estimate of mu over the ball: a search never proves that no point is worse.
    ``net``: a paper-form network at the theory's initialisation; ``x`` (n, d), ``y`` (n, d').
    Raises TypeError/ValueError naming the argument.
    """
    net = _paper_net(net)
    init_kernel(net, x)                                        # checks the initialisation and x
    check_arg.tensor("y", y, shape=(x.shape[0], net.d_out))
    radius = check_arg.positive_float("radius", radius)
    n_random = check_arg.positive_int("n_random", n_random)
    descent_steps = check_arg.positive_int("descent_steps", descent_steps, minimum=0)
    gen = torch.Generator().manual_seed(check_arg.positive_int("seed", seed, minimum=0))
    L, V0, W0 = net.L, net.V, net.W
    at = lambda dV, dW: ResNet(V=V0 + dV, W=W0 + dW, activation=net.activation, A=net.A, B=net.B, normalized=True)

    def random_point(tied: bool):
        shape_V, shape_W = ((1,) if tied else (L,)) + V0.shape[1:], ((1,) if tied else (L,)) + W0.shape[1:]
        dV = torch.randn(shape_V, generator=gen, dtype=V0.dtype)
        dW = torch.randn(shape_W, generator=gen, dtype=W0.dtype)
        split = torch.rand(dV.shape[0], 1, 1, generator=gen, dtype=V0.dtype)
        rho = radius * float(torch.rand((), generator=gen, dtype=V0.dtype))
        dV = dV / torch.linalg.vector_norm(dV, dim=(1, 2), keepdim=True) * split * rho
        dW = dW / torch.linalg.vector_norm(dW, dim=(1, 2), keepdim=True) * (1 - split) * rho
        return dV.expand(L, -1, -1).clone(), dW.expand(L, -1, -1).clone()

    points = [random_point(tied=(i % 2 == 1)) for i in range(n_random)]
    random = np.array([pl_ratio(at(*p), x, y) for p in points])
    dV_aim = _aimed_point(net, x, y, radius)
    aimed = pl_ratio(at(dV_aim, torch.zeros_like(W0)), x, y)
    aimed_W = float("nan")
    if net.m >= x.shape[0]:                                   # the aimed point on the worst W of norm radius/2
        dW_bad = worst_kernel_shift(net, x, radius=radius / 2).dW.expand(L, -1, -1).clone()
        dV_bad = _aimed_point(at(torch.zeros_like(V0), dW_bad), x, y, radius)      # ||dV|| <= radius/2
        aimed_W = pl_ratio(at(*_project(dV_bad, dW_bad, radius)), x, y)
    best = points[int(np.argmin(random))]
    dV, dW = best[0].clone(), best[1].clone()
    path = [float(random.min())]
    step = radius / 4
    for _ in range(descent_steps):
        pV, pW = dV.clone().requires_grad_(True), dW.clone().requires_grad_(True)
        with num_threads(auto_threads(net, x.shape[0])):     # small layers: one thread is fastest
            value = _ratio_autograd(V0 + pV, W0 + pW, net, x, y)
            gV, gW = torch.autograd.grad(torch.log(value), (pV, pW))
        g_norm = float(torch.sqrt(gV.pow(2).sum() + gW.pow(2).sum()))
        if g_norm == 0:
            break
        while step > radius * 1e-4:                     # backtracking: accept a step only if R decreases
            cV, cW = _project(dV - step * gV / g_norm, dW - step * gW / g_norm, radius)
            trial = pl_ratio(at(cV, cW), x, y)
            if trial < path[-1]:
                dV, dW = cV, cW
                path.append(trial)
                step *= 1.5
                break
            step /= 2
        else:                                           # no decrease found down to radius / 10^4: stop
            break
    far = float((torch.linalg.vector_norm(dV, dim=(1, 2)) + torch.linalg.vector_norm(dW, dim=(1, 2))).max())
    descent = np.array(path)
    return BallEstimate(radius=radius, random=random, aimed=aimed, descent=descent,
                        minimum=float(np.nanmin([random.min(), aimed, descent.min(), aimed_W])), farthest=far,
                        aimed_W=aimed_W)


def plot_rates_vs_width(m_over_n, *, late_rate, trajectory_min, ball, mu_init, zero_tol: float = 1e-8, ax=None,
                        title: str | None = None):
    """Summary against ``m/n`` (log--log): the measured late convergence rate, the smallest PL ratio along each
    run, the smallest ratio found in the ball (:class:`BallEstimate` ``.minimum``) and the worst-case ratio at
    the initialisation ``(4/n) lambda_min(K)``. Values below ``zero_tol`` times the largest are zero up to rounding
    (a ratio at a stationary point comes out near 1e-13): they are drawn with crosses on a floor line. All
    arguments: sequences aligned with ``m_over_n``. Returns the axes."""
    r = check_arg.as_float_array("m_over_n", m_over_n).ravel()
    series = {"late rate of $\\ell(t)$ (fit on $[T/2, T]$)": (late_rate, "o-", COLORS["tied"]),
              "min of $R$ along the run": (trajectory_min, "s--", COLORS["smooth"]),
              "min of $R$ found in the ball": (ball, "v-", COLORS["iid"]),
              r"$\frac{4}{n}\lambda_{\min}(K)$ at $t = 0$": (mu_init, "d:", COLORS["ode"])}
    values = {}
    for label, (v, *_rest) in series.items():
        v = check_arg.as_float_array(label, v).ravel()
        if v.shape != r.shape:
            raise ValueError(f"each series must hold {r.size} values (one per m/n), got {v.size} for {label}")
        values[label] = v
    tol = check_arg.positive_float("zero_tol", zero_tol) * max(float(np.max(v)) for v in values.values())
    floor = _zero_floor(list(values.values()), tol)
    ax = ax if ax is not None else plt.subplots()[1]
    for label, (_, style, color) in series.items():
        v = values[label]
        low = v <= tol
        ax.loglog(r, np.where(low, floor, v), style, color=color, label=label, ms=5)
        if low.any():
            ax.loglog(r[low], np.full(low.sum(), floor), "x", color=color, ms=9)
    ax.axvline(1.0, color=COLORS["reference"], ls=":", lw=1)
    ax.axhline(floor, color="0.6", lw=0.8, label=f"floor: values below {zero_tol:.0e} $\\times$ the largest "
               "(zero up to rounding), drawn as crosses")
    _label_ratios(ax, r)
    ax.set_xlabel("width over sample size $m/n$")
    ax.set_ylabel("rate, or PL ratio (same units: 1 / time)")
    ax.set_title(title or "convergence rate and PL constants against the width")
    ax.legend(fontsize=8)
    return ax
