"""Chapter of notebook 04, *Implicit regularization in finite training time*
(``notebooks/04_finite_time_implicit_regularization.ipynb``): the measurements and figures of Prop. 3,
Thm. 4 and Fig. 1 of Marion, Wu, Sander & Biau, ICLR 2024.

The networks are those of Fig. 1 (the authors' scripts): ``make_resnet(L, d, m, kind="tied", V="zero",
seed=s)`` -- the simplified form ``h_k = h_{k-1} + (1/L) V_k sigma(W_k h_{k-1})`` with A = B = I, GELU,
``V_k(0) = 0`` and ``W_k(0) = W ~ N(0, 1)`` in every layer and at every depth -- trained by ``train``
(gradient descent on the depth-rescaled flow, eq. (4); with ``clip``, the clipped flow of eq. (5)). The
notebook runs the depth sweep of Fig. 1 (left) itself; this module measures and draws it:

* :func:`gap_table`, :func:`depth_slopes`, :func:`plot_gap_vs_depth` -- Fig. 1 (left): the largest gap
  between neighbouring layers up to a horizon T, which Prop. 3 bounds by K/L (slope -1 in L), or the
  released script's root-sum-of-squares over layers and steps (slope -1/2);
* :func:`scaled_gap_curves`, :func:`plot_scaled_gaps`, :func:`effective_exponential_rate`,
  :func:`alpha_lower_estimate` -- the measured constant ``L G_L(T)`` against Prop. 3's ``K = beta T e^{alpha T}``
  (alpha from the formula of Prop. 7, appendix);
* :func:`depth_limit_run` -- Fig. 1 (right) and Thm. 4 (ii), (iv): the L^2-in-depth distance of the
  weights to those of a much deeper reference network over training, and the gap between the outputs.

Tensors: data ``x``, ``y`` of shape (n, d); weights ``V`` (L, d, m), ``W`` (L, m, d).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import _validation as check_arg
from ..config import auto_threads, num_threads
from ..metrics import SlopeFit, depth_distance, fit_loglog_slope
from ..plotting import TIME_CMAP, depth_colors, plot_loglog_rate
from ..resnet import make_resnet
from ..train import TrainRecord, train

METRICS = ("max", "script")


# -- Fig. 1 (left): the largest gap between neighbouring layers, per horizon and depth -------------------
def _records(records) -> dict:
    """``records`` sorted by depth, or an error naming it: one ``TrainRecord`` per depth, one step eta."""
    if (not isinstance(records, dict) or len(records) < 2
            or not all(isinstance(r, TrainRecord) for r in records.values())):
        raise TypeError(f"records must be a dict {{L: TrainRecord}} (one H.train record per depth) with at "
                        f"least two depths, got {records!r:.80}")
    wrong = {L: r.net.L for L, r in records.items() if L != r.net.L}
    if wrong:
        raise ValueError(f"records must map each depth L to the record of a network of depth L, got "
                         f"{{key: depth}} = {wrong}")
    etas = sorted({r.eta for r in records.values()})
    if len(etas) > 1:
        raise ValueError(f"records must share one step eta (a horizon of i steps is the time T = i eta), got {etas}")
    return dict(sorted(records.items()))


def gap_table(records: dict, horizons, *, metric: str = "max") -> np.ndarray:
    """The quantity of Fig. 1 (left) for each horizon (rows, in steps) and depth (columns, increasing L),
    shape (len(horizons), len(records)); ``records``: ``{L: TrainRecord}`` of one depth sweep.

    ``metric="max"``: ``G_L(T) = max_{k, i <= T} ||Z_{k+1}(i) - Z_k(i)||`` with ``||Z|| = ||V||_F + ||W||_F``,
    what Prop. 3 bounds by K/L; ``metric="script"``: the released script's
    ``max(sqrt(sum_{i<T} sum_k ||V_{k+1}(i) - V_k(i)||_F^2), same for W)``.

    Example: ``gap_table({L: H.train(H.make_resnet(L, 16, 32, kind="tied", V="zero", seed=0), x, y,
    steps=50, eta=0.01, normalization="nd") for L in (2, 8, 32)}, [25, 50])``.
    """
    records = _records(records)
    check_arg.choice("metric", metric, METRICS)
    horizons = check_arg.int_list("horizons", horizons)
    steps = min(r.steps for r in records.values())
    if max(horizons) > steps:
        raise ValueError(f"horizons must be step counts in 1..{steps} (the steps trained), got {horizons}")
    value = TrainRecord.max_gap_up_to if metric == "max" else TrainRecord.script_metric
    return np.array([[value(r, h) for r in records.values()] for h in horizons])


def depth_slopes(records: dict, horizons, *, metric: str = "max") -> list:
    """Fitted log--log slope against L of each row of :func:`gap_table`: one :class:`SlopeFit` per horizon
    (about -1 for ``"max"``, Prop. 3; about -1/2 for ``"script"``)."""
    table = gap_table(records, horizons, metric=metric)
    return [fit_loglog_slope(sorted(records), row) for row in table]


def plot_gap_vs_depth(records: dict, horizons, *, metric: str = "max", ax=None, title: str | None = None):
    """Fig. 1 (left): :func:`gap_table` against L on log--log axes, one curve per horizon T (coloured by
    training time), fitted slopes in the legend, a dashed reference slope (-1 for ``"max"``, -1/2 for
    ``"script"``). Returns the axes."""
    table = gap_table(records, horizons, metric=metric)
    records, horizons = _records(records), check_arg.int_list("horizons", horizons)
    eta = next(iter(records.values())).eta
    ax = ax if ax is not None else plt.subplots()[1]
    cmap = plt.get_cmap(TIME_CMAP)
    for j, (h, row) in enumerate(zip(horizons, table)):
        last = j == len(horizons) - 1
        plot_loglog_rate(list(records), row, ax=ax, color=cmap(0.85 * j / max(len(horizons) - 1, 1)),
                         label=f"T = {h * eta:g} ({h} steps)",
                         ref_slope=(-1.0 if metric == "max" else -0.5) if last else None)
    ax.set_xlabel("depth $L$")
    ax.set_ylabel(r"$\max_{k,\,t\leq T}\,\|Z_{k+1}(t)-Z_k(t)\|_F$" if metric == "max"
                  else r"$S_L(T)=\max_{Z=V,W}(\sum_{t<T}\sum_k\|Z_{k+1}(t)-Z_k(t)\|_F^2)^{1/2}$")
    ax.set_title(title or ("largest gap between neighbouring layers" if metric == "max"
                           else "the released script's aggregated gap"))
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    return ax


# -- the constant K(T) of Prop. 3, against the horizon T ---------------------------------------------------
def scaled_gap_curves(records: dict) -> tuple:
    """``(t, {L: L G_L(t)})`` with ``G_L(t) = max_{k, t' <= t} ||Z_{k+1}(t') - Z_k(t')||``: the measured
    constant of Prop. 3 as a function of the horizon, ``t`` = step * eta. Curves of different L collapse
    when the gap is K(T)/L."""
    records = _records(records)
    steps = min(r.steps for r in records.values())
    t = next(iter(records.values())).t[: steps + 1]
    return t, {L: L * np.maximum.accumulate(r.max_gap[: steps + 1]) for L, r in records.items()}


def plot_scaled_gaps(records: dict, *, ax=None, title: str = "the constant of Prop. 3 against the horizon"):
    """:func:`scaled_gap_curves` against t, one curve per depth (light = shallow). Returns the axes."""
    t, curves = scaled_gap_curves(records)
    ax = ax if ax is not None else plt.subplots()[1]
    for (L, c), color in zip(curves.items(), depth_colors(list(curves))):
        ax.plot(t, c, color=color, label=f"L = {L}")
    ax.set_xlabel(r"horizon $T$ (gradient-flow time, steps $\times\,\eta$)")
    ax.set_ylabel(r"$L\,\max_{k,\,t\leq T}\|Z_{k+1}(t)-Z_k(t)\|_F$")
    ax.set_title(title)
    ax.legend()
    return ax


def effective_exponential_rate(t, constant, *, t_min: float) -> float:
    """Fitted rate ``a`` of ``constant(t) / t ~ b exp(a t)`` on ``t >= t_min``: the exponent the data would
    need in Prop. 3's bound ``K(T) = beta T exp(alpha T)``. ``t``, ``constant``: 1-D, of one length, finite,
    positive on the fitted range (at least two points there).

    Example: ``effective_exponential_rate(t, 0.3 * t * np.exp(1.7 * t), t_min=0.5)`` is 1.7.
    """
    t, c = check_arg.as_float_array("t", t), check_arg.as_float_array("constant", constant)
    if t.shape != c.shape or t.ndim != 1:
        raise ValueError(f"t and constant must be 1-D arrays of one length, got shapes {t.shape} and {c.shape}")
    t_min = check_arg.positive_float("t_min", t_min, allow_zero=True)
    for name, v in (("t", t), ("constant", c)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} contains {int((~np.isfinite(v)).sum())} NaN or infinite entries")
    keep = t >= t_min
    if keep.sum() < 2 or np.any(t[keep] <= 0) or np.any(c[keep] <= 0):
        raise ValueError(f"t and constant need at least two positive points with t >= t_min = {t_min}")
    return float(np.polyfit(t[keep], np.log(c[keep] / t[keep]), 1)[0])


def alpha_lower_estimate(W0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, sigma_prime_0: float) -> float:
    """A lower estimate of the exponent alpha of Prop. 3's bound for the Fig. 1 network, from the formula
    of Prop. 7 (appendix), ``alpha = 2 e^K K' M (e^K M^2 M_X + M_Y)``:

    * ``e^K >= 1``;
    * ``M >= ||Z(0)|| = ||W(0)||_F`` (V(0) = 0);
    * ``M_X >= max_i ||x_i||``, ``M_Y >= max_i ||y_i||``;
    * ``K' >= sigma'(0) ||W(0)||_2``: at h = 0 the cross derivative of ``f(h, Z) = V sigma(W h)`` in (V, h)
      is ``dV -> sigma'(0) dV W``, of operator norm ``sigma'(0) ||W||_2``.

    ``W0``: (m, d), the one matrix of the tied initialisation; ``x``: (n, d); ``y``: (n, d'). The formula
    is stated for the paper's loss (1/n) sum_i ||F(x_i) - y_i||^2 and its clock. Rough by design: it shows
    the order of magnitude of alpha, no more.

    Example: ``alpha_lower_estimate(W0, x, y, sigma_prime_0=0.5)`` (0.5 = GELU'(0)).
    """
    check_arg.tensor("x", x, ndim=2)
    check_arg.tensor("y", y, shape=(x.shape[0], None))
    check_arg.tensor("W0", W0, shape=(None, x.shape[1]))
    sigma_prime_0 = check_arg.positive_float("sigma_prime_0", sigma_prime_0)
    M = float(torch.linalg.matrix_norm(W0))
    K_prime = sigma_prime_0 * float(torch.linalg.matrix_norm(W0, ord=2))
    MX, MY = float(x.norm(dim=1).max()), float(y.norm(dim=1).max())
    return 2.0 * K_prime * M * (M * M * MX + MY)


# -- Fig. 1 (right) and Thm. 4: distance to a deep reference ---------------------------------------------
@dataclass
class DepthLimit:
    """Result of :func:`depth_limit_run`.

    ``distances[i, j]``: L^2-in-depth distance (:func:`helpers.depth_distance`) between the weights of depth
    ``depths[j]`` and of the reference (depth ``L_ref``) after ``steps[i]`` steps; ``output_gap[j]``:
    ``max_x ||F^L(x) - F^{L_ref}(x)||`` over the evaluation inputs after the last step; ``records``: the
    shallower networks' training records (snapshots dropped); ``ref_losses``, ``ref_max_gap``: the
    reference's loss and max gap at every step; ``wall_time`` in seconds.
    """

    depths: list
    L_ref: int
    steps: list
    eta: float
    distances: np.ndarray
    output_gap: np.ndarray
    records: dict = field(repr=False)
    ref_losses: np.ndarray = field(repr=False)
    ref_max_gap: np.ndarray = field(repr=False)
    wall_time: float = 0.0

    def distance_slope(self, step: int | None = None) -> SlopeFit:
        """Slope of the distance against L at ``step`` (default: the last snapshot step)."""
        if step is not None and step not in self.steps:
            raise ValueError(f"step must be one of the snapshot steps {self.steps}, got {step!r}")
        i = len(self.steps) - 1 if step is None else self.steps.index(step)
        return fit_loglog_slope(self.depths, self.distances[i])

    def output_slope(self) -> SlopeFit:
        """Slope of the output gap against L after the last step."""
        return fit_loglog_slope(self.depths, self.output_gap)


def depth_limit_run(x: torch.Tensor, y: torch.Tensor, depths, L_ref: int, *, m: int, steps: int, seed: int,
                    snapshot_steps, x_eval: torch.Tensor | None = None, eta: float = 0.01,
                    normalization: str = "nd", activation: str = "gelu", progress: bool | None = None) -> DepthLimit:
    """Train the Fig. 1 network (tied W, V = 0, from ``seed``) at depth ``L_ref`` (the stand-in for
    L = infinity) and at each depth of ``depths`` (each dividing ``L_ref``), and measure at ``snapshot_steps``

        D_L(t) = ( (1/L) sum_k ||Z^L_k(t) - Z^{L_ref}_{k L_ref / L}(t)||^2 )^{1/2},   ||Z|| = ||V||_F + ||W||_F,

    the L^2-in-depth distance of Fig. 1 (right) (Thm. 4 (ii): it tends to 0; no rate is stated), and, after
    the last step, the output gap ``max_x ||F^L(x) - F^{L_ref}(x)||`` over ``x_eval`` (default: ``x``;
    Thm. 4 (iv)). ``x``, ``y``: (n, d) data, whose dtype and device the networks take.

    Memory: the reference keeps only the rows the shallower networks are compared with (``snapshot_layers``:
    the ``lcm(depths)`` rows at s = k / lcm(depths), i.e. ``max(depths)`` rows for powers of 2), and each
    shallower network's snapshots are dropped once measured. Raises ValueError/TypeError naming the argument.

    Example
    -------
    >>> res = depth_limit_run(x, y, [2, 4, 8, 16], 256, m=32, steps=50, seed=0, snapshot_steps=range(0, 51, 5))
    >>> res.distance_slope().slope   # about -1
    """
    start = time.perf_counter()
    check_arg.tensor("x", x, ndim=2)
    if x.shape[0] == 0:        # H.train would divide by n = 0
        raise ValueError(f"x must hold at least one sample, got shape {tuple(x.shape)}")
    depths = sorted(set(check_arg.int_list("depths", depths, minimum=2)))
    if len(depths) < 2:
        raise ValueError(f"depths must hold at least two different depths (a rate needs two), got {depths}")
    L_ref = check_arg.positive_int("L_ref", L_ref, minimum=2)
    bad = [L for L in depths if L_ref % L or L >= L_ref]
    if bad:
        raise ValueError(f"depths must divide L_ref = {L_ref} and be smaller, got {bad}")
    snapshot_steps = sorted(set(check_arg.int_list("snapshot_steps", snapshot_steps, minimum=0)))

    def net(L):
        return make_resnet(L, x.shape[1], m, kind="tied", V="zero", seed=seed, activation=activation,
                           dtype=x.dtype, device=x.device)

    kw = dict(steps=steps, eta=eta, normalization=normalization, snapshot_steps=snapshot_steps, progress=progress)
    ref_net = net(L_ref)
    x_eval = x if x_eval is None else ref_net.check_input(x_eval, "x_eval")
    # the reference rows every depth is compared with: those at s = k / L_sub, L_sub = lcm(depths), which
    # every depth divides and which divides L_ref (for powers of 2, L_sub = max(depths))
    L_sub = math.lcm(*depths)
    rows = (torch.arange(1, L_sub + 1) * (L_ref // L_sub) - 1).tolist()
    # small matrices: one intra-op thread is fastest (the engine's rule), also for the forward passes below
    with num_threads(auto_threads(ref_net, x.shape[0])), torch.no_grad():
        ref = train(ref_net, x, y, snapshot_layers=rows, **kw)
        F_ref, ref_snaps, ref_losses, ref_max_gap = ref.net(x_eval), ref.snapshots, ref.losses, ref.max_gap
        del ref, ref_net                        # the full reference network is no longer needed
        distances = np.empty((len(snapshot_steps), len(depths)))
        output_gap = np.empty(len(depths))
        records = {}
        for j, L in enumerate(depths):
            rec = train(net(L), x, y, **kw)
            for i, s in enumerate(snapshot_steps):
                distances[i, j] = depth_distance(rec.snapshots[s]["V"], rec.snapshots[s]["W"],
                                                 ref_snaps[s]["V"], ref_snaps[s]["W"])
            output_gap[j] = float((rec.net(x_eval) - F_ref).norm(dim=1).max())
            records[L] = replace(rec, snapshots={})
    return DepthLimit(depths=depths, L_ref=L_ref, steps=snapshot_steps, eta=float(eta), distances=distances,
                      output_gap=output_gap, records=records, ref_losses=ref_losses, ref_max_gap=ref_max_gap,
                      wall_time=time.perf_counter() - start)
