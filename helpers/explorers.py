"""Interactive explorers: three figures of the course a student moves through with sliders (ipywidgets).

Each explorer comes in three layers, so that what it shows is tested and what it adds is thin:

* a pure ``compute_*`` function -- the numbers, validated and tested like any other helper;
* a plain ``plot_*(data, ..., *, axes=None)`` -- the figure for given parameter values, called in the
  notebook right below the widget, so that a static rendering (GitHub, nbviewer, HTML, nbval) shows it;
* a thin ``*_explorer()`` -- widgets wired to the plot function; returns an ``ipywidgets.VBox``.

1. :func:`trajectory_explorer` (notebook 02) -- ResNet vs neural ODE: hidden states against depth; moves the
   depth L, the start (tied, smooth, i.i.d.) and the scaling (1/L, 1/sqrt(L));
2. :func:`weights_explorer` (notebook 04) -- the weights against layer k through training; moves the training
   time t, the start (tied, i.i.d.) and the depth L;
3. :func:`pl_explorer` (notebook 07) -- the PL picture: loss and PL ratio along training; moves the width
   ratio m/n.

What is slow is done once (training runs, reference ODE solves: precomputed or cached); an update then
redraws one figure, 0.1-0.3 s at the default settings (``python -m pytest -s tests/test_explorers.py``
prints the measured times; each explorer shows its last one under the figure).

pyplot is imported when a figure is made (as in :mod:`helpers.plotting`); ipywidgets costs 0.06 s and 4 MB.
"""
from __future__ import annotations

import functools
import html
import io
import time
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib as mpl
import numpy as np
import torch

from . import _validation as check_arg
from .data import gaussian_data, sphere_data
from .init import KINDS, SCALINGS, smooth_weight_functions
from .ode import NeuralODE
from .plotting import COLORS, depth_colors, plot_across_depth, plot_loglog_rate
from .resnet import make_resnet
from .train import train

KIND_LABELS = {"smooth": "smooth", "tied": "tied", "iid": "i.i.d."}
SCALING_LABELS = {"1/L": "1/L", "1/sqrt(L)": "1/√L"}
EXPLORER_CLASS = "course-explorer"      # CSS class of every explorer's box (the browser test finds it by it)


def _figure(axes, n_panels: int, figsize):
    """``axes`` checked to hold ``n_panels`` axes, or a new figure with that many panels side by side."""
    if axes is None:
        import matplotlib.pyplot as plt

        return list(plt.subplots(1, n_panels, figsize=figsize)[1])
    axes = list(np.ravel(axes))
    if len(axes) != n_panels:
        raise ValueError(f"axes must hold {n_panels} matplotlib axes, got {len(axes)}")
    return axes


def _plain_log_labels(*axes) -> None:
    """Tick labels of the log-scaled axes of ``axes`` as plain numbers (1, 10, 0.001), minor ones unlabelled:
    matplotlib's default 10^k labels are typeset as mathtext, which doubles the time an explorer takes to
    redraw a figure with log axes."""
    for ax in axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                plain = mpl.ticker.FuncFormatter(lambda v, _: f"{v:g}")
                lo, hi = sorted(axis.get_view_interval())
                axis.set_major_formatter(plain)
                # within one decade there may be no major tick: then label the minor ones
                axis.set_minor_formatter(plain if hi < 10 * lo else mpl.ticker.NullFormatter())


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)     # cached arrays are shared between calls: nobody may change them
    return a


# =====================================================================================================
# 1. ResNet vs neural ODE: hidden-state trajectories (notebook 02)
# =====================================================================================================
TRAJECTORY_DEPTHS = (2, 4, 8, 16, 32, 64, 128, 256, 512)
# slope of the distance to the limit against L, per (start, scaling) -- notebook 02's table of regimes
REFERENCE_SLOPES = {("smooth", "1/L"): -1.0, ("tied", "1/L"): -1.0, ("iid", "1/L"): -0.5,
                    ("smooth", "1/sqrt(L)"): 0.5, ("tied", "1/sqrt(L)"): 0.5, ("iid", "1/sqrt(L)"): 0.0}


@dataclass
class Trajectories:
    """What :func:`compute_trajectories` measured for one depth, start and scaling.

    ``states`` (L+1, n, q): the ResNet's hidden states h_0..h_L, at depths s = k/L; ``reference``
    (n_s, n, q) on the grid ``s_ref`` (n_s,): the large-depth limit of the 1/L-scaled network -- the neural
    ODE H(s) of eq. (2.2) for smooth and tied starts, the input x (the identity) for i.i.d. ones;
    ``depths`` (D,) and ``distances`` (D,): ``max_i ||h_L(x_i) - H_i(1)||`` for every depth of the sweep;
    ``distance``: the same at depth ``L``."""

    L: int
    kind: str
    scaling: str
    states: np.ndarray
    s_ref: np.ndarray
    reference: np.ndarray
    reference_label: str
    depths: np.ndarray
    distances: np.ndarray
    distance: float

    @property
    def reference_slope(self) -> float:
        """The slope of ``distances`` against L in notebook 02's table of regimes."""
        return REFERENCE_SLOPES[self.kind, self.scaling]


def _trajectory_inputs(n, q, seed):
    return gaussian_data(n, q, seed=seed)[0]          # x (n, q); the same inputs as notebook 02, Section 3


def _resnet(L, kind, scaling, q, m, activation, seed):
    return make_resnet(L, q, m, kind=kind, scaling=scaling, form="normalized", activation=activation, seed=seed)


@functools.lru_cache(maxsize=32)
def _reference_path(kind, q, m, n, activation, seed, n_s):
    """(s (n_s,), H (n_s, n, q), label): the 1/L network's limit on a grid of depths (cached: one solve)."""
    x = _trajectory_inputs(n, q, seed)
    s = np.linspace(0.0, 1.0, n_s)
    if kind == "iid":
        path = x.numpy()[None].repeat(n_s, axis=0)
        label = "input $x$ (limit of i.i.d. weights, 1/L)"
    else:
        if kind == "smooth":
            weights = smooth_weight_functions(q, m, seed=seed)
        else:                                         # tied: every depth samples the constant functions V, W
            net = _resnet(1, "tied", "1/L", q, m, activation, seed)
            weights = (lambda _s, V=net.V[0]: V, lambda _s, W=net.W[0]: W)
        ode = NeuralODE(weights, activation=activation, normalized=True)
        with torch.no_grad():
            path = ode.solve(x, s_eval=s, rtol=1e-9, atol=1e-10, return_path=True).numpy()
        label = "neural ODE $H(s)$"
    return _readonly(s), _readonly(path), label


@functools.lru_cache(maxsize=16)
def _sweep(kind, scaling, depths, q, m, n, activation, seed, n_s):
    """{L: hidden states (L+1, n, q)} and ``max_i ||h_L(x_i) - H_i(1)||`` for each depth of the sweep
    (cached per start and scaling: about 1 MB for depths up to 512)."""
    x = _trajectory_inputs(n, q, seed)
    end = _reference_path(kind, q, m, n, activation, seed, n_s)[1][-1]
    states = {}
    with torch.no_grad():
        for L in depths:
            states[L] = _readonly(_resnet(L, kind, scaling, q, m, activation, seed)(x, return_states=True)[1].numpy())
    distances = np.array([np.linalg.norm(states[L][-1] - end, axis=1).max() for L in depths])
    return states, _readonly(distances)


def compute_trajectories(L: int, kind: str = "smooth", scaling: str = "1/L", *, q: int = 16, m: int = 32,
                         n: int = 8, activation: str = "tanh", seed: int = 0, depths=TRAJECTORY_DEPTHS,
                         n_s: int = 101) -> Trajectories:
    """Hidden states of a ResNet of depth ``L`` against its large-depth limit (notebook 02, Sections 3-5).

    The network is eq. (2.1) with A = B = I, ``make_resnet(L, q, m, kind=kind, scaling=scaling,
    form="normalized", activation=activation, seed=seed)``, on ``n`` Gaussian inputs of dimension q. The
    limit is that of the 1/L-scaled network: for ``kind="smooth"`` the neural ODE (2.2) driven by
    ``H.smooth_weight_functions(q, m, seed=seed)``, for ``"tied"`` the autonomous ODE of the tied matrices,
    both solved by dopri5 (rtol 1e-9) on ``n_s`` depths; for ``"iid"`` the identity (H(s) = x). The distance
    ``max_i ||h_L - H(1)||`` is measured at every depth of ``depths``: against L it has slope -1 (smooth,
    tied, 1/L: Prop. 2), -1/2 (i.i.d., 1/L), about 0 (i.i.d., 1/sqrt(L)), +1/2 (smooth or tied, 1/sqrt(L)).

    The limit and the depth sweep (with its hidden states) are cached per setting, so a second call with an
    ``L`` of ``depths`` costs nothing, with another ``L`` one forward pass. Raises ValueError/TypeError naming
    the argument.

    Example
    -------
    >>> tr = compute_trajectories(16, "smooth", "1/L")
    >>> tr.states.shape, tr.reference.shape
    ((17, 8, 16), (101, 8, 16))
    """
    L = check_arg.positive_int("L", L)
    check_arg.choice("kind", kind, KINDS)
    check_arg.choice("scaling", scaling, SCALINGS)
    q, m, n = (check_arg.positive_int(k, v) for k, v in (("q", q), ("m", m), ("n", n)))
    seed = check_arg.positive_int("seed", seed, minimum=0)
    n_s = check_arg.positive_int("n_s", n_s, minimum=2)
    depths = tuple(check_arg.int_list("depths", depths))
    s_ref, reference, label = _reference_path(kind, q, m, n, activation, seed, n_s)
    sweep, distances = _sweep(kind, scaling, depths, q, m, n, activation, seed, n_s)
    if L in sweep:
        states = sweep[L]
    else:
        with torch.no_grad():
            x = _trajectory_inputs(n, q, seed)
            states = _resnet(L, kind, scaling, q, m, activation, seed)(x, return_states=True)[1].numpy()
    distance = float(np.linalg.norm(states[-1] - reference[-1], axis=1).max())
    return Trajectories(L=L, kind=kind, scaling=scaling, states=states, s_ref=s_ref, reference=reference,
                        reference_label=label, depths=np.array(depths), distances=distances, distance=distance)


def plot_trajectories(tr: Trajectories, *, sample: int = 0, coords=(0, 1, 2), axes=None):
    """Two panels for a :class:`Trajectories`: left, the displacement of the hidden state from the input,
    ``h_k - x``, of input ``sample`` in the coordinates ``coords``, against s = k/L, with that of the limit,
    ``H(s) - x``; right, the distance to the limit at s = 1 against L on log-log axes (fitted and reference
    slopes in the legend), the current depth marked. ``axes``: two axes or None (a new figure). Returns the
    two axes. Raises TypeError/ValueError naming the argument.

    Example: ``plot_trajectories(compute_trajectories(16, "smooth", "1/L"))``.
    """
    if not isinstance(tr, Trajectories):
        raise TypeError(f"tr must be a Trajectories (from compute_trajectories), got {type(tr).__name__}")
    n, q = tr.states.shape[1:]
    sample = check_arg.positive_int("sample", sample, minimum=0)
    if sample >= n:
        raise ValueError(f"sample must be in 0..{n - 1}, got {sample}")
    coords = check_arg.int_list("coords", coords, minimum=0)
    if max(coords) >= q:
        raise ValueError(f"coords must lie in 0..{q - 1}, got {coords}")
    ax_s, ax_L = _figure(axes, 2, (12, 4))
    color, name = COLORS[tr.kind], f"{KIND_LABELS[tr.kind]} weights, scaling {SCALING_LABELS[tr.scaling]}"
    s = np.arange(tr.L + 1) / tr.L
    x = tr.states[0, sample]                       # h_0 = x (A = I)
    ref_style = dict(color=COLORS["ode"], lw=2.5, alpha=0.8, zorder=1)
    if tr.kind == "iid":
        ref_style.update(lw=1.5, ls=":")
    for j, c in enumerate(coords):
        ax_s.plot(tr.s_ref, tr.reference[:, sample, c] - x[c], label=tr.reference_label if j == 0 else None,
                  **ref_style)
        ax_s.plot(s, tr.states[:, sample, c] - x[c], "-", color=color, lw=1.3, marker="o" if tr.L <= 32 else None,
                  ms=3.5, label=f"ResNet, L = {tr.L}" if j == 0 else None)
    ax_s.set(xlabel="depth $s = k/L$", ylabel="displacement from the input $x$",
             title=f"Hidden state minus input, {len(coords)} coordinates: {name}")
    ax_s.legend()
    plot_loglog_rate(tr.depths, tr.distances, ax=ax_L, color=color, label=KIND_LABELS[tr.kind],
                     ref_slope=tr.reference_slope)
    ax_L.plot([tr.L], [tr.distance], "o", ms=12, mfc="none", mec="k", mew=1.8, label=f"L = {tr.L}")
    ax_L.legend()
    limit = "x" if tr.kind == "iid" else "H(1)"
    ax_L.set(xlabel="depth $L$", ylabel=rf"$\max_i \|h_L - {limit}\|$",
             title="distance to the limit of the 1/L network at $s = 1$")
    _plain_log_labels(ax_L)
    return ax_s, ax_L


def trajectory_explorer(*, L: int = 16, kind: str = "smooth", scaling: str = "1/L", depths=TRAJECTORY_DEPTHS,
                        **settings):
    """Explorer for notebook 02: a slider for the depth L (over ``depths``), buttons for the start (smooth,
    tied, i.i.d.) and for the scaling (1/L, 1/sqrt(L)); each change redraws :func:`plot_trajectories`.
    ``settings``: ``q``, ``m``, ``n``, ``activation``, ``seed``, ``n_s`` of :func:`compute_trajectories`. The
    limits and depth sweeps of all six (start, scaling) pairs are computed when the explorer is made (1-2 s
    of CPU), so that no update waits for a solve. Returns an ``ipywidgets.VBox``.

    Example: ``trajectory_explorer(L=16, q=16, m=32, activation="tanh", seed=0)``.
    """
    depths = check_arg.int_list("depths", depths)
    if L not in depths:
        raise ValueError(f"L must be one of the slider's depths {depths}, got {L!r}")
    check_arg.choice("kind", kind, KINDS)
    check_arg.choice("scaling", scaling, SCALINGS)
    for k in KINDS:                                   # validate and warm the caches: every update is a redraw
        for sc in SCALINGS:
            compute_trajectories(L, k, sc, depths=depths, **settings)
    controls = {
        "L": widgets.SelectionSlider(options=depths, value=L, description="depth L", continuous_update=False),
        "kind": _buttons([(KIND_LABELS[k], k) for k in KINDS], kind, "start"),
        "scaling": _buttons([(SCALING_LABELS[s], s) for s in SCALINGS], scaling, "scaling"),
    }
    draw = _draw(lambda **v: plot_trajectories(compute_trajectories(depths=depths, **v, **settings)))
    return _explorer(controls, draw)


# =====================================================================================================
# 2. Weights against layer k through training (notebook 04)
# =====================================================================================================
@dataclass
class WeightHistory:
    """What :func:`compute_weight_history` recorded, per start ``kind`` and depth ``L`` (keys ``(kind, L)``):

    ``V[kind, L]``, ``W[kind, L]`` (len(steps), L): the coefficient ``entry`` of V_k and W_k, k = 1..L, at each
    snapshot step; ``max_gap[kind, L]`` and ``losses[kind, L]`` (total_steps + 1,): ``max_k ||Z_{k+1} - Z_k||_F``
    and the loss at every step. ``steps``: the snapshot steps; time t = step * eta."""

    kinds: tuple
    depths: tuple
    steps: np.ndarray
    eta: float
    entry: tuple
    V: dict
    W: dict
    max_gap: dict
    losses: dict
    wall_time: float

    @property
    def t(self) -> np.ndarray:
        """Gradient-flow time of every step 0..total_steps."""
        return np.arange(len(next(iter(self.losses.values())))) * self.eta


def compute_weight_history(depths=(8, 32, 128), kinds=("tied", "iid"), *, n: int = 100, d: int = 16, m: int = 32,
                           steps: int = 100, every: int = 5, eta: float = 0.01, activation: str = "gelu",
                           normalization: str = "nd", entry=(0, 0), seed: int = 0) -> WeightHistory:
    """Train one network per start and depth, once, and keep one coefficient of every layer's weights at the
    steps 0, every, 2 every, ..., steps (notebook 04's setting, Fig. 1):

        net = make_resnet(L, d, m, kind=kind, V="zero", activation=activation, seed=seed)   # V_k(0) = 0
        rec = train(net, x, y, steps=steps, eta=eta, normalization=normalization, snapshot_steps=...)

    on ``x, y = gaussian_data(n, d, seed=seed)``. Only the coefficient ``entry`` = (i, j) of V_k (d, m) and of
    W_k (m, d) is kept (a few kB per run, whatever L). Raises ValueError/TypeError naming the argument
    (as :func:`helpers.make_resnet` and :func:`helpers.train` for the rest).

    Example: ``hist = compute_weight_history((4, 16), steps=20, every=5)``; ``hist.W["tied", 16].shape`` is (5, 16).
    """
    depths = tuple(check_arg.int_list("depths", depths))
    if isinstance(kinds, str) or not kinds or any(k not in KINDS for k in kinds):
        raise ValueError(f"kinds must be a non-empty tuple of starts among {KINDS}, got {kinds!r}")
    steps = check_arg.positive_int("steps", steps)
    every = check_arg.positive_int("every", every)
    if not (isinstance(entry, (tuple, list)) and len(entry) == 2):
        raise ValueError(f"entry must be a pair (i, j) of indices, got {entry!r}")
    i, j = (check_arg.positive_int("entry index", e, minimum=0) for e in entry)
    if i >= min(d, m) or j >= min(d, m):
        raise ValueError(f"entry must index both V_k ({d} x {m}) and W_k ({m} x {d}), got {entry!r}")
    snaps = sorted(set(range(0, steps + 1, every)) | {steps})
    x, y = gaussian_data(n, d, seed=seed)
    V, W, gaps, losses = {}, {}, {}, {}
    start = time.perf_counter()
    for kind in kinds:
        for L in depths:
            net = make_resnet(L, d, m, kind=kind, V="zero", activation=activation, seed=seed)
            rec = train(net, x, y, steps=steps, eta=eta, normalization=normalization, snapshot_steps=snaps)
            V[kind, L] = np.stack([rec.snapshots[s]["V"][:, i, j].numpy() for s in snaps])
            W[kind, L] = np.stack([rec.snapshots[s]["W"][:, i, j].numpy() for s in snaps])
            gaps[kind, L], losses[kind, L] = rec.max_gap, rec.losses
    return WeightHistory(kinds=tuple(kinds), depths=depths, steps=np.array(snaps), eta=float(eta), entry=(i, j),
                         V=V, W=W, max_gap=gaps, losses=losses, wall_time=time.perf_counter() - start)


def plot_weight_history(history: WeightHistory, *, kind: str = "tied", L: int | None = None,
                        step: int | None = None, axes=None):
    """Three panels for one start ``kind`` and depth ``L`` (default: the deepest) at the snapshot ``step``
    (default: the last) of a :class:`WeightHistory`: the coefficient of V_k (which starts at 0) and of the
    change W_k(t) - W_k(0) against s = k/L at time t = step * eta (dashed: t = 0; the y range is that of the
    whole run, so the curves move as t does) -- smooth in k from a tied start, rough from an i.i.d. one --
    and ``max_k ||Z_{k+1} - Z_k||_F`` against t for every depth of this start (the chosen one thick, the
    time t marked). ``axes``: three axes or None. Returns the three axes.

    Example: ``plot_weight_history(hist, kind="iid", L=16, step=20)``.
    """
    if not isinstance(history, WeightHistory):
        raise TypeError(f"history must be a WeightHistory (from compute_weight_history), got {type(history).__name__}")
    check_arg.choice("kind", kind, history.kinds)
    L = history.depths[-1] if L is None else L
    check_arg.choice("L", L, history.depths)
    step = int(history.steps[-1]) if step is None else step
    if step not in history.steps:
        raise ValueError(f"step must be one of the snapshot steps {history.steps.tolist()}, got {step!r}")
    idx = int(np.flatnonzero(history.steps == step)[0])
    t = step * history.eta
    ax_V, ax_W, ax_g = _figure(axes, 3, (15, 3.9))
    color = COLORS[kind]
    i, j = history.entry
    V, dW = history.V[kind, L], history.W[kind, L] - history.W[kind, L][0]
    for ax, values, name in ((ax_V, V, "V_k"), (ax_W, dW, "W_k - W_k(0)")):
        plot_across_depth({L: values[0]}, ax=ax, color=COLORS["reference"], linestyle="--")
        plot_across_depth({L: values[idx]}, ax=ax, color=color)
        ax.lines[-2].set_label("$t = 0$")
        ax.lines[-1].set_label(f"$t = {t:g}$")
        lo, hi = float(values.min()), float(values.max())
        pad = 0.08 * (hi - lo) + 1e-12
        ax.set_ylim(lo - pad, hi + pad)           # the range of the whole run: the curve moves, not the axis
        ax.ticklabel_format(axis="y", useOffset=False)
        label = f"$({name})_{{{i + 1}{j + 1}}}$"
        ax.set(ylabel=label, title=f"{KIND_LABELS[kind]} start, L = {L}: {label} at $t = {t:g}$")
        ax.legend(loc="best")
    depths = history.depths
    for L_, c in zip(depths, depth_colors(depths)):
        gap, time_ = history.max_gap[kind, L_], history.t
        pos = gap > 0
        ax_g.semilogy(time_[pos], gap[pos], color=c, lw=2.6 if L_ == L else 1.0, label=f"L = {L_}")
    ax_g.axvline(t, color="k", lw=1, ls=":")
    ax_g.set(xlabel="training time $t$", ylabel=r"$\max_k \|Z_{k+1} - Z_k\|_F$",
             title=f"{KIND_LABELS[kind]} start: largest gap between neighbours")
    ax_g.legend()
    _plain_log_labels(ax_g)
    return ax_V, ax_W, ax_g


def weights_explorer(history: WeightHistory | None = None, *, kind: str = "tied", L: int | None = None,
                     step: int | None = None, **settings):
    """Explorer for notebook 04: a slider over training time (the snapshot steps), buttons for the start
    (tied, i.i.d.) and for the depth; each change redraws :func:`plot_weight_history` from ``history``
    (computed with :func:`compute_weight_history` and ``settings`` if None: trained once, never on an
    update). Returns an ``ipywidgets.VBox``.

    Example: ``weights_explorer(compute_weight_history())``.
    """
    history = _given_or_computed("history", history, WeightHistory, compute_weight_history, settings)
    L = history.depths[-1] if L is None else L
    step = int(history.steps[-1]) if step is None else step
    check_arg.choice("kind", kind, history.kinds)
    check_arg.choice("L", L, history.depths)
    check_arg.choice("step", step, history.steps.tolist())
    controls = {
        "step": widgets.SelectionSlider(options=[(f"{s * history.eta:g}", int(s)) for s in history.steps],
                                        value=step, description="time t", continuous_update=False),
        "kind": _buttons([(KIND_LABELS[k], k) for k in history.kinds], kind, "start"),
        "L": _buttons(list(history.depths), L, "depth L"),
    }
    return _explorer(controls, _draw(lambda **v: plot_weight_history(history, **v)))


# =====================================================================================================
# 3. The PL picture: loss and PL ratio as the width ratio m/n changes (notebook 07)
# =====================================================================================================
@dataclass
class PLRuns:
    """What :func:`compute_pl_runs` recorded, per width ratio ``r = m/n`` (keys of the dicts): ``m[r]`` the
    width, ``loss_ratio[r]`` (steps + 1,) the loss over its initial value, ``pl[r]`` (steps,) the PL ratio
    ``L sum_k ||dl/dZ_k||^2 / l`` along the run (Def. 1's left side over the loss; A and B fixed). ``t``
    (steps + 1,): gradient-flow time."""

    ratios: tuple
    n: int
    m: dict
    t: np.ndarray
    loss_ratio: dict
    pl: dict
    wall_time: float


def compute_pl_runs(ratios=(0.25, 0.5, 1.0, 2.0, 4.0), *, n: int = 32, d: int = 8, d_out: int = 2, L: int = 8,
                    steps: int = 1000, eta: float = 5.0, target_scale: float = 1e-6, seed: int = 0) -> PLRuns:
    """One training run per width ratio m/n in the setting of Prop. 5 (notebook 07): the paper's form of eq. (3)
    with q = d + d_out, A = (I_d; 0) and B = (0, I_d') fixed, V_k(0) = 0, tied W ~ N(0, 1), tanh,

        net = make_resnet(L, q, m, kind="tied", V="zero", activation="tanh", form="paper", d=d, d_out=d_out, seed=seed)
        rec = train(net, x, y, steps=steps, eta=eta, normalization="n", train_AB=False, record_pl=True)

    with m = round(ratio * n) (at least 1), inputs x (n, d) uniform on the sphere of radius sqrt(q) and small
    Gaussian targets y (n, d_out) of scale ``target_scale``. For m < n the feature matrix of the proof has a
    null space: the loss stalls on a plateau and the PL ratio falls towards 0; for m >= n the loss decays
    exponentially. The step eta = 5 is stable at n = 32; the flow's stiffest direction grows like 1/n, so a
    smaller n needs a smaller eta (n = 16: eta = 2). Raises ValueError/TypeError naming the argument, and
    TrainingDivergedError for too large an ``eta``.

    Example: ``runs = compute_pl_runs((0.5, 2.0), steps=200)``; ``runs.loss_ratio[2.0][-1] < runs.loss_ratio[0.5][-1]``.
    """
    if isinstance(ratios, (str, bytes)) or not hasattr(ratios, "__iter__"):
        raise TypeError(f"ratios must be a list of width ratios m/n > 0, got {ratios!r}")
    ratios = tuple(sorted({check_arg.positive_float("ratios entry", r) for r in ratios}))
    if not ratios:
        raise ValueError("ratios is empty: give at least one width ratio m/n")
    n, d, d_out = (check_arg.positive_int(k, v) for k, v in (("n", n), ("d", d), ("d_out", d_out)))
    target_scale = check_arg.positive_float("target_scale", target_scale)
    q = d + d_out
    x, y = sphere_data(n, d, d_out, q=q, target_scale=target_scale, seed=seed)   # ||x_i|| = sqrt(q), Prop. 5
    widths, loss_ratio, pl = {}, {}, {}
    start = time.perf_counter()
    for r in ratios:
        widths[r] = max(1, round(r * n))
        net = make_resnet(L, q, widths[r], kind="tied", V="zero", activation="tanh", form="paper", d=d, d_out=d_out,
                          seed=seed)
        rec = train(net, x, y, steps=steps, eta=eta, normalization="n", train_AB=False, record_pl=True)
        loss_ratio[r], pl[r] = rec.losses / rec.losses[0], rec.pl_ratio
    return PLRuns(ratios=ratios, n=n, m=widths, t=rec.t, loss_ratio=loss_ratio, pl=pl,
                  wall_time=time.perf_counter() - start)


def plot_pl_runs(runs: PLRuns, *, ratio: float | None = None, axes=None):
    """Two panels of a :class:`PLRuns` against training time t: the loss l(t)/l(0) and the PL ratio (log
    scales), every width ratio thin (light: narrow, dark: wide) and ``ratio`` (default: the largest <= 1)
    thick. ``axes``: two axes or None. Returns the two axes.

    Example: ``plot_pl_runs(runs, ratio=0.5)``.
    """
    if not isinstance(runs, PLRuns):
        raise TypeError(f"runs must be a PLRuns (from compute_pl_runs), got {type(runs).__name__}")
    if ratio is None:
        ratio = max([r for r in runs.ratios if r <= 1] or runs.ratios[:1])
    if ratio not in runs.ratios:
        raise ValueError(f"ratio must be one of the computed width ratios {list(runs.ratios)}, got {ratio!r}")
    ax_l, ax_p = _figure(axes, 2, (12, 4))
    colors = [mpl.colormaps["viridis"](0.9 - 0.8 * u) for u in np.linspace(0, 1, len(runs.ratios))]
    pl_all = np.concatenate([runs.pl[r] for r in runs.ratios])
    floor = max(float(pl_all[pl_all > 0].min()) if (pl_all > 0).any() else 1e-12, 1e-6 * float(pl_all.max()))
    for r, c in zip(runs.ratios, colors):
        chosen = r == ratio
        style = dict(color=c, lw=2.8 if chosen else 1.0, alpha=1.0 if chosen else 0.55, zorder=3 if chosen else 2)
        ax_l.semilogy(runs.t, runs.loss_ratio[r], label=f"$m/n = {r:g}$ ($m = {runs.m[r]}$)", **style)
        ax_p.semilogy(runs.t[:-1], np.maximum(runs.pl[r], floor), **style)
    ax_l.set(xlabel="training time $t$", ylabel=r"$\ell(t)/\ell(0)$",
             title=f"loss, $n = {runs.n}$: thick $m/n = {ratio:g}$ ($m = {runs.m[ratio]}$)")
    ax_p.set(xlabel="training time $t$", ylabel=r"PL ratio $L\sum_k\|\partial\ell/\partial Z_k\|^2/\ell$",
             title="PL ratio along the run")
    ax_p.set_ylim(bottom=floor)
    ax_l.legend(fontsize=8)
    _plain_log_labels(ax_l, ax_p)
    return ax_l, ax_p


def pl_explorer(runs: PLRuns | None = None, *, ratio: float | None = None, **settings):
    """Explorer for notebook 07: a slider over the width ratio m/n; each change redraws :func:`plot_pl_runs`
    from ``runs`` (computed with :func:`compute_pl_runs` and ``settings`` if None: trained once, a few seconds).
    Returns an ``ipywidgets.VBox``.

    Example: ``pl_explorer(compute_pl_runs())``.
    """
    runs = _given_or_computed("runs", runs, PLRuns, compute_pl_runs, settings)
    if ratio is None:
        ratio = max([r for r in runs.ratios if r <= 1] or runs.ratios[:1])
    if ratio not in runs.ratios:
        raise ValueError(f"ratio must be one of the computed width ratios {list(runs.ratios)}, got {ratio!r}")
    controls = {"ratio": widgets.SelectionSlider(options=[(f"{r:g}", r) for r in runs.ratios], value=ratio,
                                                 description="m/n", continuous_update=False)}
    return _explorer(controls, _draw(lambda **v: plot_pl_runs(runs, **v)))


# =====================================================================================================
# the thin widget layer shared by the three explorers
# =====================================================================================================
def _given_or_computed(name: str, value, cls, compute, settings: dict):
    """An explorer's precomputed data: ``value`` if given (of type ``cls``), else ``compute(**settings)``."""
    if value is None:
        return compute(**settings)
    if settings:
        raise ValueError(f"give either {name} or settings to compute it, not both (got {sorted(settings)})")
    if not isinstance(value, cls):
        raise TypeError(f"{name} must be a {cls.__name__} (from {compute.__name__}), got {type(value).__name__}")
    return value


def _buttons(options, value, description):
    """A row of toggle buttons, narrow enough for the explorer's controls to fit on one line."""
    return widgets.ToggleButtons(options=options, value=value, description=description,
                                 style={"button_width": "64px", "description_width": "initial"})


def _draw(plot):
    """A function of the explorer's parameters that draws ``plot(**values)`` (a call of a plot function of
    this module, which makes its own figure and returns its axes) and returns the figure. The first figure
    is laid out by ``tight_layout``, the next ones reuse its margins: laying out log axes costs more than
    drawing them."""
    margins = {}

    def draw(**values):
        fig = plot(**values)[0].figure
        if margins:
            fig.subplots_adjust(**margins)
        else:
            fig.tight_layout()
            sp = fig.subplotpars
            margins.update(left=sp.left, right=sp.right, bottom=sp.bottom, top=sp.top, wspace=sp.wspace)
        return fig

    return draw


def _explorer(controls: dict, draw):
    """A box with the ``controls`` (widgets whose ``value`` are the keyword arguments of ``draw``), the
    figure ``draw(**values)`` returns, shown as a PNG in an ``ipywidgets.Image`` and redrawn whenever a
    control changes, and a line saying how long the last redraw took (or what went wrong). The box's
    ``image`` is that widget, ``controls`` the controls by name, ``update_times`` the seconds of every
    redraw (compute + draw + PNG: all the kernel does), and ``redraw()`` redraws by hand.

    An ``Image`` widget rather than an ``Output`` widget: its PNG travels as a binary buffer, and nbclient
    (``jupyter nbconvert --execute``, nbval) has nothing to capture -- its imitation of an Output widget
    fails with ``store_widget_state=False`` and can stall the execution of the next cell."""
    import matplotlib.pyplot as plt

    image = widgets.Image(format="png")
    status = widgets.HTML()
    times = []

    def redraw(change=None):
        start, fig = time.perf_counter(), None
        try:
            fig = draw(**{name: c.value for name, c in controls.items()})
            png = io.BytesIO()
            fig.savefig(png, format="png", dpi=fig.dpi)   # one rendering (no bbox_inches="tight": a second one)
            image.value = png.getvalue()
        except Exception as err:                          # shown under the figure, then raised (kernel log)
            status.value = f"<pre style='color:#b00020'>{html.escape(f'{type(err).__name__}: {err}')}</pre>"
            raise
        finally:
            if fig is not None:
                plt.close(fig)                             # the widget shows it, not the cell's output
        times.append(time.perf_counter() - start)
        status.value = f"<small style='color:#666'>redrawn in {times[-1]:.2f} s</small>"

    box = widgets.VBox([widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap")),
                        image, status])
    box.add_class(EXPLORER_CLASS)
    box.controls, box.image, box.update_times, box.redraw = controls, image, times, redraw
    for control in controls.values():
        control.observe(redraw, names="value")
    redraw()
    return box
