"""What breaks the neural-ODE structure (course notebook 05): rough initialisations and a non-smooth
activation.

Three experiments, each a thin layer over the course's training engine :func:`helpers.train`:

* :func:`gap_sweep` -- train ResNets of several depths from one initialisation (tied or i.i.d., residual
  scaling 1/L or 1/sqrt(L)) and record ``max_{k, t <= T} ||Z_{k+1}(t) - Z_k(t)||`` against L. Prop. 7 of the
  paper bounds it by ``(||Z_{k+1}(0) - Z_k(0)|| + beta T / L) e^{alpha T}``: O(1/L) only if the initial
  gaps are.
* The **ReLU counterexample** of the paper's appendix (Section 10): depth 2L, d = 1, scalar layers

      h_0 = x,   h_k = h_{k-1} + (1/(2L)) sigma(w_k h_{k-1}),   k = 1..2L,
      loss = (h_{2L} - C x)^2,   w_k(0) = (-1)^k / (2L),   x > 0, C > 1,

  trained by the plain gradient flow dw/dt = -dloss/dw. With ReLU the odd layers never move and the even
  ones converge to w* with (1 + w*/(2L))^L = C (:func:`relu_w_star`), so neighbours end Omega(1) apart.
  :func:`counterexample_net` builds it as ``ResNet.simple`` with q = m = 1 and V_k = 1 (frozen);
  :func:`run_counterexample` trains it.
* :func:`plot_gap_sweeps`, :func:`plot_counterexample_weights` -- the figures.

matplotlib and :mod:`helpers.plotting` are imported inside the plotting functions only (``import helpers``
stays light). The networks come from the earlier chapters' factories: :func:`helpers.fig1_network` (notebook
04) for the simplified form, :func:`helpers.make_resnet` with :func:`helpers.regime_weights` (notebook 02)
for the paper's form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import _validation as check_arg
from .depth_limits import make_resnet, regime_weights
from .finite_time import fig1_network
from .init import KINDS, SCALINGS
from .metrics import SlopeFit, fit_loglog_slope, max_layer_gap
from .resnet import ResNet
from .train import train

FORMS = ("simple", "paper")
DTYPES = (torch.float32, torch.float64)


# -- the ReLU counterexample ---------------------------------------------------------------------
def relu_w_star(L: int, C: float) -> float:
    """The limit of the even weights in the ReLU counterexample: the root of ``(1 + w*/(2L))^L = C``,

        w* = 2L (C^{1/L} - 1)  >=  2 log C   (since e^u >= 1 + u with u = log(C)/L),

    decreasing in L towards ``2 log C``. ``L`` is half the depth; ``C > 1`` the target ratio y / x.

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
    ``h_k = h_{k-1} + (1/(2L)) sigma(w_k h_{k-1})``.

    Example: ``counterexample_net(2).W.flatten()`` is ``[-0.25, 0.25, -0.25, 0.25]``.
    """
    L = check_arg.positive_int("L", L)
    if dtype not in DTYPES:
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")
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
    def final_gap(self) -> float:
        """``max_k |w_{k+1}(T) - w_k(T)|``."""
        return float(self.max_gap[-1])

    @property
    def max_gap_overall(self) -> float:
        """``max_{k, t <= T} |w_{k+1}(t) - w_k(t)|``."""
        return float(self.max_gap.max())


def run_counterexample(L: int, *, C: float, x: float = 1.0, activation: str = "relu", steps: int = 200,
                       step_scale: float = 0.5) -> CounterexampleRun:
    """Train the appendix's network (depth 2L, one sample (x, C x)) by gradient descent on the plain flow
    ``dw_k/dt = -dloss/dw_k`` (no factor L: ``train(..., L_factor=False)``), V frozen, float64.

    Each weight's gradient carries the factor 1/(2L) of its layer, so the flow needs a time of order L
    to converge; the step is ``eta = step_scale * L`` (with ReLU, gradient descent near w* is stable
    below about ``4 L / (x C)^2``; the default 0.5 L is well inside for x C <= 2, also for GELU and tanh
    in the tests). After ``steps`` steps the flow time is ``steps * eta``.

    Example: ``run = run_counterexample(16, C=1.5)``; ``run.even_rel_error < 0.01``, ``run.odd_drift == 0``.
    """
    L = check_arg.positive_int("L", L)
    relu_w_star(L, C)                                   # validates C
    x = check_arg.positive_float("x", x)
    steps = check_arg.positive_int("steps", steps)
    step_scale = check_arg.positive_float("step_scale", step_scale)
    net = counterexample_net(L, activation)
    xs = torch.tensor([[x]], dtype=torch.float64)
    eta = step_scale * L
    rec = train(net, xs, C * xs, steps=steps, eta=eta, normalization="n", L_factor=False, freeze=("V",),
                progress=False)
    return CounterexampleRun(L=L, activation=activation, C=float(C), x=x, eta=eta,
                             w0=net.W.flatten().numpy().copy(), w=rec.net.W.flatten().numpy().copy(),
                             losses=rec.losses, max_gap=rec.max_gap)


# -- max gap against depth, for one initialisation ------------------------------------------------
@dataclass
class GapSweep:
    """Max gap between neighbouring layers against depth, for one (form, init, scaling, activation).

    ``max_gap[i]`` is ``max_{k, t <= T} (||V_{k+1} - V_k||_F + ||W_{k+1} - W_k||_F)`` for ``depths[i]``
    (with 1/sqrt(L) scaling, measured on the weights the residual actually multiplies by 1/sqrt(L),
    i.e. V / sqrt(L)); ``initial_gap`` the same at t = 0; ``loss_start``, ``loss_end`` the loss at t = 0
    and t = T = steps * eta."""

    label: str
    activation: str
    kind: str
    scaling: str
    depths: np.ndarray
    max_gap: np.ndarray
    initial_gap: np.ndarray
    loss_start: np.ndarray
    loss_end: np.ndarray
    steps: int
    eta: float

    def slope(self) -> SlopeFit:
        """Fitted exponent of ``max_gap ~ C L^slope`` (``-1`` for the O(1/L) of Prop. 3, ``0`` if it does not shrink)."""
        return fit_loglog_slope(self.depths, self.max_gap)


def _network(L, q, m, *, form, kind, scaling, seed, activation) -> ResNet:
    if form == "simple":     # notebook 04's Fig. 1 setting: V = 0, W ~ N(0, 1) drawn by kind
        return fig1_network(L, d=q, m=m, seed=seed, activation=activation, kind=kind)
    return make_resnet(*regime_weights(L, q, m, kind=kind, scaling=scaling, seed=seed), activation)


def gap_sweep(x: torch.Tensor, y: torch.Tensor, depths, *, form: str, kind: str, activation: str = "gelu",
              scaling: str = "1/L", m: int = 32, steps: int = 50, eta: float = 0.01,
              normalization: str = "nd", seed: int = 0, n_snapshots: int = 11, label: str | None = None) -> GapSweep:
    """Train one ResNet per depth with :func:`helpers.train` (flow (4): factor L on the residual weights,
    A = B = I fixed) and measure the largest gap between neighbouring layers over t <= T = steps * eta.

    Parameters
    ----------
    x, y : data, shapes (n, q) and (n, q), float64.
    depths : depths L (at least two, increasing).
    form : ``"simple"`` -- ``h_{k+1} = h_k + (1/L) V_{k+1} sigma(W_{k+1} h_k)`` from ``V = 0`` and W drawn by
        ``kind`` (notebook 04's Fig. 1 setting); ``"paper"`` -- eq. (3) with the factors 1/(L sqrt(m)) and
        1/sqrt(q), V and W both drawn by ``kind`` from N(0, 1) (notebook 02's regimes).
    kind : ``"tied"``, ``"smooth"`` or ``"iid"``.
    scaling : ``"1/L"`` or ``"1/sqrt(L)"`` (``form="paper"`` only: V is multiplied by sqrt(L)). The
        engine still moves the stored weights by ``eta * L * grad``; the gap is measured on V / sqrt(L), at
        ``n_snapshots`` evenly spaced steps (with 1/L scaling: at every step).

    Returns a :class:`GapSweep`.

    Example
    -------
    >>> x, y = gaussian_data(100, 16, seed=0)
    >>> sw = gap_sweep(x, y, [4, 16, 64], form="simple", kind="tied")
    >>> round(sw.slope().slope)
    -1
    """
    check_arg.choice("form", form, FORMS)
    check_arg.choice("kind", kind, KINDS)
    check_arg.choice("scaling", scaling, SCALINGS)
    if form == "simple" and scaling != "1/L":
        raise ValueError("the simplified form starts from V = 0, where the scaling plays no role; "
                         "use form='paper' for scaling='1/sqrt(L)'")
    if isinstance(depths, (str, bytes)) or not hasattr(depths, "__iter__"):
        raise TypeError(f"depths must be a list of integers >= 2, got {depths!r} of type {type(depths).__name__}")
    depths = [check_arg.positive_int("depths entry", L, minimum=2) for L in depths]
    if len(depths) < 2 or sorted(set(depths)) != depths:
        raise ValueError(f"depths must be at least two distinct increasing integers >= 2, got {depths}")
    check_arg.tensor("x", x, ndim=2)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must hold at least one sample of at least one coordinate, got shape {tuple(x.shape)}")
    if x.dtype != torch.float64:
        raise TypeError(f"x must be float64 (the weights are built in float64), got {x.dtype}; use x.double()")
    check_arg.tensor("y", y, shape=tuple(x.shape))
    if y.dtype != torch.float64:
        raise TypeError(f"y must be float64 like x, got {y.dtype}; use y.double()")
    q = x.shape[1]
    m = check_arg.positive_int("m", m)
    steps = check_arg.positive_int("steps", steps)
    n_snapshots = check_arg.positive_int("n_snapshots", n_snapshots, minimum=2)
    out = {k: [] for k in ("max_gap", "initial_gap", "loss_start", "loss_end")}
    for L in depths:
        net = _network(L, q, m, form=form, kind=kind, scaling=scaling, seed=seed, activation=activation)
        natural = scaling == "1/sqrt(L)"
        snaps = sorted({int(round(s)) for s in np.linspace(0, steps, n_snapshots)}) if natural else ()
        rec = train(net, x, y, steps=steps, eta=eta, normalization=normalization, snapshot_steps=snaps,
                    progress=False)
        if natural:
            gaps = [max_layer_gap(rec.snapshots[s]["V"] / math.sqrt(L), rec.snapshots[s]["W"]) for s in snaps]
            out["max_gap"].append(max(gaps))
            out["initial_gap"].append(gaps[0])
        else:
            out["max_gap"].append(rec.max_gap_up_to(steps))
            out["initial_gap"].append(float(rec.max_gap[0]))
        out["loss_start"].append(float(rec.losses[0]))
        out["loss_end"].append(float(rec.losses[-1]))
    if label is None:
        label = f"{kind}, {scaling}, {activation}"
    return GapSweep(label=label, activation=activation, kind=kind, scaling=scaling, depths=np.array(depths),
                    steps=steps, eta=float(eta), **{k: np.array(v) for k, v in out.items()})


# -- figures ------------------------------------------------------------------------------------------
def plot_gap_sweeps(ax, sweeps: dict, *, ref_slope: float | None = -1.0, colors: dict | None = None,
                    title: str | None = None):
    """Max gap against depth on log-log axes, one line per sweep (fitted slope in the legend) and one
    dashed reference slope through the first sweep's first point. ``sweeps``: ``{label: GapSweep}``;
    ``colors``: ``{label: colour}``. Returns ``{label: SlopeFit}``."""
    from . import plotting

    if not isinstance(sweeps, dict) or not sweeps:
        raise ValueError("sweeps is empty or not a dict: give {label: GapSweep}")
    for label, sw in sweeps.items():
        if not isinstance(sw, GapSweep):
            raise TypeError(f"sweeps[{label!r}] must be a GapSweep (from gap_sweep), got {type(sw).__name__}")
        if not np.all(sw.max_gap > 0):
            raise ValueError(f"sweeps[{label!r}].max_gap must be positive for a log-log plot, got "
                             f"{sw.max_gap.tolist()} (train for more steps: a tied start has no gap before step 2)")
    fits = {}
    for i, (label, sw) in enumerate(sweeps.items()):
        color = (colors or {}).get(label)
        _, fits[label] = plotting.plot_loglog_rate(sw.depths, sw.max_gap, ax=ax, label=label, color=color,
                                                   ref_slope=ref_slope if i == 0 else None)
    ax.set_xlabel("depth $L$")
    ax.set_ylabel(r"$\max_{k,\, t \leq T} \|Z_{k+1}(t) - Z_k(t)\|_F$")
    if title:
        ax.set_title(title)
    return fits


def plot_counterexample_weights(ax, runs: dict, *, colors: dict | None = None, title: str | None = None):
    """Trained weights w_k against depth s = k/(2L), one line per run (``{label: CounterexampleRun}``),
    with the ReLU prediction w* of the first run as a dotted line."""
    from . import plotting

    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs is empty or not a dict: give {label: CounterexampleRun}")
    for label, run in runs.items():
        if not isinstance(run, CounterexampleRun):
            raise TypeError(f"runs[{label!r}] must be a CounterexampleRun (from run_counterexample), got "
                            f"{type(run).__name__}")
    for label, run in runs.items():
        s = np.arange(1, 2 * run.L + 1) / (2 * run.L)
        color = (colors or {}).get(label)
        ax.plot(s, run.w, marker="o", ms=3, lw=1.0, color=color, label=label)
    first = next(iter(runs.values()))
    ax.axhline(first.w_star, ls=":", color=plotting.COLORS["reference"],
               label=f"ReLU prediction $w^* = {first.w_star:.3f}$")
    lo = min(float(np.min(r.w)) for r in runs.values())
    hi = max(max(float(np.max(r.w)) for r in runs.values()), first.w_star)
    ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.4 * (hi - lo))        # room for the legend above the curves
    ax.set_xlabel("depth $s = k / (2L)$")
    ax.set_ylabel("trained weight $w_k$")
    ax.legend(loc="upper center", ncol=2)
    if title:
        ax.set_title(title)
    return ax
