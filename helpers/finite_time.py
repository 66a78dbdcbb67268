"""Implicit regularization in finite training time (course notebook 04; Prop. 3 and Thm. 4 of Marion,
Wu, Sander & Biau, ICLR 2024, and the experiments of their Fig. 1).

Setting of Fig. 1 (the authors' scripts): the simplified ResNet ``h_{k+1} = h_k + (1/L) V_{k+1} sigma(W_{k+1} h_k)``
with A = B = I fixed, GELU, ``V_k(0) = 0`` and weight-tied ``W_k(0) = W ~ N(0, 1)``, full-batch gradient
descent on the loss averaged over n*d entries with ``eta = 0.01`` (``lr = 0.01 L``). This module runs

* :func:`depth_sweep` -- one training per depth, returning the records (Fig. 1 left: the largest gap
  between neighbouring layers, ``max_{k, t <= T} ||Z_{k+1}(t) - Z_k(t)||`` with ``||Z|| = ||V||_F + ||W||_F``,
  should fall like K/L, Prop. 3);
* :func:`depth_limit_run` -- a deep reference network (stand-in for L = infinity) and shallower ones, the
  L^2-in-depth distance between their weights at chosen steps (Fig. 1 right, Thm. 4 (ii)) and the gap
  between their outputs (Thm. 4 (iv));
* :func:`forward_backward_profiles` -- the forward states h_k, backward states p_k and updates
  ``-L dloss/dZ_k`` of one network: the objects of the proof of Prop. 3 (Prop. 7 of the appendix);

and draws the corresponding figures. Matplotlib and :mod:`helpers.plotting` are imported only inside the
plotting functions.

Tensors: data ``x``, ``y`` of shape (n, d); weights ``V`` (L, d, m), ``W`` (L, m, d); distances
(len(steps), len(depths)).
"""
from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import _validation as check_arg
from .init import init_weights
from .metrics import SlopeFit, depth_distance, fit_loglog_slope
from .resnet import LOSS_NORMALIZATIONS, ResNet
from .train import TrainRecord, auto_threads, num_threads, train

METRICS = ("max", "script")


# -- the network of Fig. 1 ----------------------------------------------------------------------------
def fig1_network(L: int, *, d: int, m: int, seed: int, activation: str = "gelu",
                 dtype=torch.float64, device=None, kind: str = "tied") -> ResNet:
    """The initial network of Fig. 1: simplified form (A = B = I), ``V_k = 0`` and ``W_k = W ~ N(0, 1)``
    for every k (weight-tied), ``W`` drawn from ``seed`` alone -- so networks of all depths start from the
    same function of depth (the trivial ODE dH/ds = 0).

    ``kind`` (``"tied"``, ``"smooth"`` or ``"iid"``, as :func:`helpers.init_weights`) draws W otherwise, for
    the contrasts of notebook 05; V still starts at 0.

    Example: ``fig1_network(64, d=16, m=32, seed=0).V.shape == (64, 16, 32)``.
    """
    V, W = init_weights(L, d, m, kind=kind, V="zero", seed=seed, dtype=dtype, device=device)
    return ResNet.simple(V, W, activation=activation)


def _int_list(name: str, values, what: str) -> list:
    """``values`` as a list, or a TypeError naming the argument (a bare int is not a list)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of {what}, got {values!r} of type {type(values).__name__}")
    return list(values)


def _depth_list(name: str, depths) -> list:
    depths = _int_list(name, depths, "integers >= 2")
    try:
        depths = [check_arg.positive_int(f"{name} entry", L, minimum=2) for L in depths]
    except TypeError:
        raise TypeError(f"{name} must be a list of integers >= 2, got {depths!r}") from None
    if len(depths) < 2 or len(set(depths)) != len(depths):
        raise ValueError(f"{name} must hold at least two different depths, got {depths}")
    return sorted(depths)


def _data(x, y) -> tuple:
    check_arg.tensor("x", x, ndim=2)
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must hold at least one sample of at least one coordinate, got shape {tuple(x.shape)}")
    check_arg.tensor("y", y, shape=tuple(x.shape))
    if x.dtype != y.dtype:
        raise TypeError(f"x and y must share one dtype, got {x.dtype} and {y.dtype}")
    check_arg.same_dtype_device(x=x, y=y)
    return x, y


# -- Fig. 1 (left): one training per depth --------------------------------------------------------------
def depth_sweep(x: torch.Tensor, y: torch.Tensor, depths, *, m: int, steps: int, seed: int, eta: float = 0.01,
                normalization: str = "nd", activation: str = "gelu", clip: float | None = None,
                progress: bool = False) -> dict:
    """Train the Fig. 1 network (:func:`fig1_network`) of every depth in ``depths`` for ``steps`` steps of
    gradient descent on the depth-rescaled flow, ``Z_k <- Z_k - eta L dloss/dZ_k`` (``H.train``).

    ``x``, ``y``: (n, d) data (their dtype is the network's); ``clip``: coordinate clipping of the
    right-hand side (the clipped flow, eq. (5)); ``normalization="nd"`` with ``eta = 0.01`` is the authors'
    ``lr = 0.01 L`` on the entry-averaged loss.

    Returns ``{L: TrainRecord}``; ``record.max_gap_up_to(i)`` is Fig. 1 (left) at horizon i steps
    (T = i * eta), ``record.script_metric(i)`` the authors' aggregated quantity.

    Example
    -------
    >>> x, y = gaussian_data(100, 16, seed=0)
    >>> records = depth_sweep(x, y, [2, 8, 32], m=32, steps=50, seed=0)
    >>> depth_slopes(records, [50])[0].slope   # about -1
    """
    x, y = _data(x, y)
    depths = _depth_list("depths", depths)
    m = check_arg.positive_int("m", m)
    steps = check_arg.positive_int("steps", steps)
    check_arg.choice("normalization", normalization, LOSS_NORMALIZATIONS)
    records = {}
    for L in depths:
        net = fig1_network(L, d=x.shape[1], m=m, seed=seed, activation=activation, dtype=x.dtype, device=x.device)
        records[L] = train(net, x, y, steps=steps, eta=eta, normalization=normalization, clip=clip,
                           progress=progress)
    return records


def _records(records) -> dict:
    if not isinstance(records, dict) or len(records) < 2 or not all(isinstance(r, TrainRecord) for r in records.values()):
        raise TypeError("records must be a dict {L: TrainRecord} with at least two depths, as depth_sweep returns")
    wrong = {L: r.net.L for L, r in records.items() if L != r.net.L}
    if wrong:
        raise ValueError(f"records must map each depth L to the record of a network of depth L, got keys "
                         f"and depths {wrong}")
    etas = {r.eta for r in records.values()}
    if len(etas) > 1:
        raise ValueError(f"records must share one step eta (a horizon of i steps is the time T = i * eta), "
                         f"got {sorted(etas)}")
    return dict(sorted(records.items()))


def _horizons(horizons, records: dict) -> list:
    steps = min(r.steps for r in records.values())
    horizons = [check_arg.positive_int("horizons entry", h) for h in _int_list("horizons", horizons, "step counts")]
    if not horizons or max(horizons) > steps:
        raise ValueError(f"horizons must be step counts in 1..{steps} (the steps trained), got {horizons}")
    return horizons


def gap_table(records: dict, horizons, *, metric: str = "max") -> np.ndarray:
    """The Fig. 1 (left) quantity for each horizon (rows, in steps) and depth (columns, increasing L).

    ``metric="max"``: ``max_{k, i <= T} ||Z_{k+1}(i) - Z_k(i)||`` (what Prop. 3 bounds by K/L);
    ``metric="script"``: the released script's ``max(sqrt(sum_{i<T} sum_k ||dV_k(i)||^2), same for W)``.
    Shape (len(horizons), len(records)).
    """
    records = _records(records)
    check_arg.choice("metric", metric, METRICS)
    horizons = _horizons(horizons, records)
    get = (lambda r, h: r.max_gap_up_to(h)) if metric == "max" else (lambda r, h: r.script_metric(h))
    return np.array([[get(r, h) for r in records.values()] for h in horizons])


def depth_slopes(records: dict, horizons, *, metric: str = "max") -> list:
    """Fitted log--log slope against L of :func:`gap_table`, one :class:`SlopeFit` per horizon."""
    table = gap_table(records, horizons, metric=metric)
    depths = list(_records(records))
    return [fit_loglog_slope(depths, row) for row in table]


def plot_gap_vs_depth(records: dict, horizons, *, metric: str = "max", ax=None, title: str | None = None):
    """Fig. 1 (left): the :func:`gap_table` quantity against L on log--log axes, one curve per horizon T
    (coloured by training time), fitted slopes in the legend and a dashed reference slope (-1 for
    ``"max"``, -1/2 for ``"script"``). Returns the axes."""
    import matplotlib.pyplot as plt
    from . import plotting

    records = _records(records)
    table = gap_table(records, horizons, metric=metric)
    horizons = _horizons(horizons, records)
    eta = next(iter(records.values())).eta
    ax = ax if ax is not None else plt.subplots()[1]
    cmap = plt.get_cmap(plotting.TIME_CMAP)
    depths = list(records)
    for j, (h, row) in enumerate(zip(horizons, table)):
        last = j == len(horizons) - 1
        plotting.plot_loglog_rate(depths, row, ax=ax, color=cmap(0.85 * j / max(len(horizons) - 1, 1)),
                                  label=f"T = {h * eta:g} ({h} steps)",
                                  ref_slope=(-1.0 if metric == "max" else -0.5) if last else None)
    ax.set_xlabel("depth $L$")
    ax.set_ylabel(r"$\max_{k,\,t\leq T}\,\|Z_{k+1}(t)-Z_k(t)\|_F$" if metric == "max"
                  else r"$S_L(T)=\max_{Z=V,W}(\sum_{t<T}\sum_k\|Z_{k+1}(t)-Z_k(t)\|_F^2)^{1/2}$")
    ax.set_title(title or ("largest gap between neighbouring layers" if metric == "max"
                           else "the released script's aggregated gap"))
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    _depth_ticks(ax, depths)
    return ax


def _depth_ticks(ax, depths) -> None:
    from matplotlib.ticker import NullLocator

    ax.set_xticks(list(depths), [str(L) for L in depths])
    ax.xaxis.set_minor_locator(NullLocator())


def plot_rate_vs_depth(depths, values, *, ax=None, label: str = "measured", ylabel: str = "", title: str = "",
                       ref_slope: float = -1.0):
    """``values`` against ``depths`` on log--log axes (``helpers.plot_loglog_rate``: fitted slope in the
    legend, dashed reference slope), with the depths as tick labels. Returns ``(ax, SlopeFit)``."""
    import matplotlib.pyplot as plt
    from . import plotting

    given = _int_list("depths", depths, "integers >= 2")
    depths = _depth_list("depths", given)                       # validated and sorted
    values = np.asarray(values, dtype=float).ravel()
    if values.size != len(given):
        raise ValueError(f"values must hold one number per depth ({len(given)}), got {values.size}")
    values = values[sorted(range(len(given)), key=lambda i: given[i])]     # each value follows its depth
    ax = ax if ax is not None else plt.subplots()[1]
    ax, fit = plotting.plot_loglog_rate(depths, values, ax=ax, label=label, ref_slope=ref_slope)
    ax.set(xlabel="depth $L$", ylabel=ylabel, title=title)
    _depth_ticks(ax, depths)
    return ax, fit


# -- the constant K(T) = L max gap, against T ------------------------------------------------------------
def scaled_gap_curves(records: dict) -> tuple:
    """``(t, {L: L * max_{k, t' <= t} ||Z_{k+1}(t') - Z_k(t')||})`` -- the measured constant of Prop. 3 as a
    function of the horizon; curves of different L collapse when the gap is K(T)/L. ``t`` = step * eta."""
    records = _records(records)
    steps = min(r.steps for r in records.values())
    t = next(iter(records.values())).t[: steps + 1]
    return t, {L: L * np.maximum.accumulate(r.max_gap[: steps + 1]) for L, r in records.items()}


def effective_exponential_rate(t, constant, *, t_min: float) -> float:
    """Fitted rate ``a`` of ``constant(t) / t ~ b exp(a t)`` on ``t >= t_min``: the exponent the data would
    need in Prop. 3's bound ``K(T) = beta T exp(alpha T)``. ``t``, ``constant``: 1-D arrays, positive on the
    fitted range (at least two points)."""
    t, c = np.asarray(t, dtype=float), np.asarray(constant, dtype=float)
    if t.shape != c.shape or t.ndim != 1:
        raise ValueError(f"t and constant must be 1-D arrays of one length, got shapes {t.shape} and {c.shape}")
    if isinstance(t_min, bool) or not isinstance(t_min, numbers.Real) or not math.isfinite(t_min):
        raise TypeError(f"t_min must be a finite real number, got {t_min!r}")
    for name, v in (("t", t), ("constant", c)):
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name} contains {int((~np.isfinite(v)).sum())} NaN or infinite entries")
    keep = t >= t_min
    if keep.sum() < 2 or np.any(t[keep] <= 0) or np.any(c[keep] <= 0):
        raise ValueError(f"need at least two positive points with t >= t_min = {t_min}")
    return float(np.polyfit(t[keep], np.log(c[keep] / t[keep]), 1)[0])


def plot_scaled_gaps(records: dict, *, ax=None, title: str = "the constant of Prop. 3 against the horizon"):
    """``L max_{k, t' <= t} ||Z_{k+1} - Z_k||`` against t, one curve per depth (light = shallow)."""
    import matplotlib.pyplot as plt
    from . import plotting

    t, curves = scaled_gap_curves(records)
    ax = ax if ax is not None else plt.subplots()[1]
    for (L, c), color in zip(curves.items(), plotting.depth_colors(list(curves))):
        ax.plot(t, c, color=color, label=f"L = {L}")
    ax.set_xlabel("horizon $T$ (gradient-flow time, steps $\\times\\,\\eta$)")
    ax.set_ylabel(r"$L\,\max_{k,\,t\leq T}\|Z_{k+1}(t)-Z_k(t)\|_F$")
    ax.set_title(title)
    ax.legend()
    return ax


def alpha_lower_estimate(W0: torch.Tensor, x: torch.Tensor, y: torch.Tensor, *, sigma_prime_0: float) -> float:
    """A lower estimate of the exponent of Prop. 3's bound for the Fig. 1 network, from the appendix's
    formula (Prop. 7) ``alpha = 2 e^K K' M (e^K M^2 M_X + M_Y)``:

    * ``e^K >= 1``;
    * ``M >= ||Z(0)|| = ||W(0)||_F`` (V(0) = 0);
    * ``M_X = max_i ||x_i||``, ``M_Y = max_i ||y_i||``;
    * ``K' >= sigma'(0) ||W(0)||_2``: at h = 0 the cross derivative of ``f(h, Z) = V sigma(W h)`` in (V, h)
      is ``dV -> sigma'(0) dV W``, whose operator norm is ``sigma'(0) ||W||_2``.

    ``W0``: (m, d) (one layer of the tied initialisation); ``x``, ``y``: (n, d). The formula is stated for
    the paper's loss (1/n) sum_i ||F(x_i) - y_i||^2 and its flow time. Rough by design: it only shows
    the order of magnitude of ``alpha``.
    """
    check_arg.tensor("W0", W0, ndim=2)
    x, y = _data(x, y)
    if W0.shape[1] != x.shape[1]:
        raise ValueError(f"W0 must have shape (m, d) with d = x.shape[1] = {x.shape[1]} (one layer W_k of the "
                         f"network), got {tuple(W0.shape)}")
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
    shallow networks' training records (snapshots dropped); ``ref_losses``, ``ref_max_gap``: the
    reference's loss and max gap at every step.
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
                    normalization: str = "nd", activation: str = "gelu", progress: bool = False) -> DepthLimit:
    """Train the Fig. 1 network at depth ``L_ref`` (the stand-in for L = infinity) and at each depth of
    ``depths`` (each dividing ``L_ref``) from the same tied initialisation, and measure at ``snapshot_steps``

        d_L(t) = ( (1/L) sum_k ||Z^L_k(t) - Z^{L_ref}_{k L_ref / L}(t)||^2 )^{1/2},   ||Z|| = ||V||_F + ||W||_F,

    the L^2-in-depth distance of Fig. 1 (right) (Thm. 4 (ii) says it tends to 0; Prop. 3 suggests O(1/L)),
    and, after the last step, the output gap ``max_x ||F^L(x) - F^{L_ref}(x)||`` over ``x_eval``
    (default: ``x``; Thm. 4 (iv)).

    Memory: the reference keeps only the rows the shallower networks are compared with (``snapshot_layers``:
    the ``lcm(depths)`` rows at s = k / lcm(depths), i.e. ``max(depths)`` rows for powers of 2), and each
    shallow network's snapshots are dropped once measured.

    Example
    -------
    >>> res = depth_limit_run(x, y, [2, 4, 8, 16], 256, m=32, steps=50, seed=0, snapshot_steps=range(0, 51, 5))
    >>> res.distance_slope().slope   # about -1
    """
    x, y = _data(x, y)
    depths = _depth_list("depths", depths)
    L_ref = check_arg.positive_int("L_ref", L_ref, minimum=2)
    bad = [L for L in depths if L_ref % L or L >= L_ref]
    if bad:
        raise ValueError(f"every depth must divide L_ref = {L_ref} and be smaller, got {bad}")
    m = check_arg.positive_int("m", m)
    steps = check_arg.positive_int("steps", steps)
    snapshot_steps = sorted({check_arg.positive_int("snapshot_steps entry", s, minimum=0)
                             for s in _int_list("snapshot_steps", snapshot_steps, "step counts")})
    if not snapshot_steps or snapshot_steps[-1] > steps:
        raise ValueError(f"snapshot_steps must be non-empty steps in 0..{steps}, got {snapshot_steps}")
    if x_eval is None:
        x_eval = x
    else:
        check_arg.tensor("x_eval", x_eval, shape=(None, x.shape[1]))
        if x_eval.dtype != x.dtype or x_eval.device != x.device:
            raise TypeError(f"x_eval must have the dtype and device of x ({x.dtype}, {x.device}), got "
                            f"{x_eval.dtype}, {x_eval.device}; convert it with x_eval.to(x)")
    ref_net = fig1_network(L_ref, d=x.shape[1], m=m, seed=seed, activation=activation, dtype=x.dtype,
                           device=x.device)
    # small matrices: one intra-op thread is fastest, and far faster on a busy machine -- the training
    # engine's rule (helpers.train.auto_threads), held for the whole run, reference forward pass included
    with num_threads(auto_threads(ref_net, x.shape[0])):
        return _depth_limit_run(x, y, depths, ref_net, m, steps, seed, snapshot_steps, x_eval, eta, normalization,
                                activation, progress)


def _depth_limit_run(x, y, depths, ref_net, m, steps, seed, snapshot_steps, x_eval, eta, normalization, activation,
                     progress) -> DepthLimit:
    start = time.perf_counter()
    L_ref = ref_net.L
    common = dict(m=m, seed=seed, activation=activation, dtype=x.dtype, device=x.device)
    kw = dict(steps=steps, eta=eta, normalization=normalization, snapshot_steps=snapshot_steps, progress=progress)

    # the reference rows every depth is compared with: those at s = k / L_sub, L_sub = lcm(depths), which
    # every depth divides and which divides L_ref (for powers of 2, L_sub = max(depths))
    L_sub = math.lcm(*depths)
    rows = (torch.arange(1, L_sub + 1) * (L_ref // L_sub) - 1).tolist()
    ref = train(ref_net, x, y, snapshot_layers=rows, **kw)
    with torch.no_grad():
        F_ref = ref.net(x_eval)
    ref_snaps, ref_losses, ref_max_gap = ref.snapshots, ref.losses, ref.max_gap
    del ref                                     # the full reference network is no longer needed

    distances = np.empty((len(snapshot_steps), len(depths)))
    output_gap = np.empty(len(depths))
    records = {}
    for j, L in enumerate(depths):
        rec = train(fig1_network(L, d=x.shape[1], **common), x, y, **kw)
        for i, s in enumerate(snapshot_steps):
            distances[i, j] = depth_distance(rec.snapshots[s]["V"], rec.snapshots[s]["W"],
                                             ref_snaps[s]["V"], ref_snaps[s]["W"])
        with torch.no_grad():
            output_gap[j] = float((rec.net(x_eval) - F_ref).norm(dim=1).max())
        records[L] = replace(rec, snapshots={})
    return DepthLimit(depths=depths, L_ref=L_ref, steps=snapshot_steps, eta=float(eta), distances=distances,
                      output_gap=output_gap, records=records, ref_losses=ref_losses, ref_max_gap=ref_max_gap,
                      wall_time=time.perf_counter() - start)


def plot_distance_heatmap(result: DepthLimit, *, ax=None,
                          title: str = "distance to the deepest network, over training"):
    """Fig. 1 (right): ``result.distances`` as a heat map, depth L (rows) against training step (columns),
    log colour scale (exact zeros, e.g. at steps 0 and 1 where every depth has the same weights, blank)."""
    import matplotlib.pyplot as plt
    from . import plotting

    if not isinstance(result, DepthLimit):
        raise TypeError(f"result must be a DepthLimit (from depth_limit_run), got {type(result).__name__}")
    ax = ax if ax is not None else plt.subplots()[1]
    plotting.plot_heatmap(result.distances.T, x=result.steps, y=result.depths, ax=ax, log=True,
                          xlabel="training step $t/\\eta$", ylabel="depth $L$",
                          cbar_label=rf"$\|\mathcal{{Z}}^L(\cdot,t)-\mathcal{{Z}}^{{{result.L_ref}}}(\cdot,t)\|$")
    ax.set_title(title)
    return ax


# -- the objects of the proof: forward states, backward states, updates ------------------------------------
def _index(name: str, value, size: int, what: str) -> int:
    value = check_arg.positive_int(name, value, minimum=0)
    if value >= size:
        raise ValueError(f"{name} must be an index in 0..{size - 1} (the number of {what} is {size}), got {value}")
    return value


@dataclass
class Profiles:
    """Forward states ``h`` (L+1, n, q) at s = k/L, backward states ``p = dloss/dh`` (L+1, n, q), and the
    flow's right-hand sides ``update_V = -L dloss/dV_k`` (L, q, m), ``update_W`` (L, m, q) at s = k/L (k = 1..L)."""

    h: torch.Tensor
    p: torch.Tensor
    update_V: torch.Tensor
    update_W: torch.Tensor

    @property
    def L(self) -> int:
        return self.update_V.shape[0]


def forward_backward_profiles(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str) -> Profiles:
    """One forward and one backward pass (the discrete adjoint of notebook 03) of ``net`` on (x, y),
    returning the states and updates whose smoothness in k drives the proof of Prop. 3: if ``h_k`` and
    ``p_k`` change by O(1/L) from one layer to the next, so does ``-L dloss/dZ_k``."""
    from .gradient_flow import forward_backward_states   # notebook 03's states, reused

    st = forward_backward_states(net, x, y, normalization)
    return Profiles(h=st.H, p=st.P, update_V=-net.L * st.grads.V, update_W=-net.L * st.grads.W)


def plot_profiles(profiles: dict, *, sample: int = 0, coord: int = 0, entry=(0, 0), axes=None):
    """Three panels against depth s = k/L, one curve per network ``{L: Profiles}`` (light = shallow): a
    coordinate of the forward state h_k, of the backward state p_k, and an entry of the update
    ``-L dloss/dV_k``. Returns the axes."""
    import matplotlib.pyplot as plt
    from . import plotting

    if not isinstance(profiles, dict) or not profiles or not all(isinstance(p, Profiles) for p in profiles.values()):
        raise TypeError("profiles must be a non-empty dict {L: Profiles} (from forward_backward_profiles)")
    first = next(iter(profiles.values()))
    (n, q), (_, m) = first.h.shape[1:], first.update_V.shape[1:]
    for L, pr in profiles.items():
        if pr.L != L or pr.h.shape[1:] != (n, q) or pr.update_V.shape[1:] != (q, m):
            raise ValueError(f"profiles[{L}] must come from a network of depth {L} on the same data and widths "
                             f"as the others (n = {n}, q = {q}, m = {m}); got depth {pr.L}, h of shape "
                             f"{tuple(pr.h.shape)}, update_V of shape {tuple(pr.update_V.shape)}")
    sample = _index("sample", sample, n, "samples")
    coord = _index("coord", coord, q, "coordinates of h_k")
    if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
        raise TypeError(f"entry must be a pair (row, column) of indices into V_k ({q} x {m}), got {entry!r}")
    entry = (_index("entry[0]", entry[0], q, "rows of V_k"), _index("entry[1]", entry[1], m, "columns of V_k"))
    if axes is None:
        axes = plt.subplots(1, 3, figsize=(14, 3.8), layout="constrained")[1]
    depths = sorted(profiles)
    i, j = entry
    for L, color in zip(depths, plotting.depth_colors(depths)):
        pr = profiles[L]
        style = dict(color=color, lw=1.3, marker="o" if L <= 16 else None, ms=3, label=f"L = {L}")
        s_states, s_layers = np.arange(L + 1) / L, np.arange(1, L + 1) / L
        axes[0].plot(s_states, pr.h[:, sample, coord].cpu().numpy(), **style)
        axes[1].plot(s_states, pr.p[:, sample, coord].cpu().numpy(), **style)
        axes[2].plot(s_layers, pr.update_V[:, i, j].cpu().numpy(), **style)
    labels = [(f"forward state $h_k$, coordinate {coord + 1}", "forward: $h_{k}$ smooth in $k$"),
              (f"backward state $p_k$, coordinate {coord + 1}", "backward: $p_{k}$ smooth in $k$"),
              (rf"update $-L\,\partial\ell/\partial V_k$, entry {(i + 1, j + 1)}", "hence smooth updates")]
    for ax, (ylabel, title) in zip(axes, labels):
        ax.set(xlabel="depth $s = k/L$", ylabel=ylabel, title=title)
    axes[0].legend()
    return axes
