"""Chapter of notebook 08, *The long-time limit* (``notebooks/08_the_long_time_limit.ipynb``): Thm. 6,
Prop. 8 and Fig. 2 of Marion, Wu, Sander & Biau, ICLR 2024.

The notebook trains with :func:`helpers.train` (gradient descent on the depth-rescaled flow, the paper's
eq. (4), without clipping) on the data of Prop. 5 and Thm. 6 (:func:`helpers.sphere_data`: inputs on the
sphere of radius sqrt(q), small Gaussian targets), and measures here:

* :func:`theorem6_constants` -- the constants c_1..c_4 of Prop. 5 (its proof, the paper's Section 8.5, from
  :func:`helpers.prop5_constants` and :func:`helpers.hermite_coefficients`) and an upper bound on Thm. 6's
  target constant C, for a bounded activation;
* :func:`local_rates`, :func:`late_decay`, :func:`plot_loss`, :func:`plot_decay_rate` -- the loss against
  the gradient-flow time t, its local exponential rate -d log(loss)/dt and the recorded PL ratio of Def. 1;
* :func:`gap_summary` -- ``L max_k ||Z_{k+1} - Z_k||`` over the whole run (Prop. 8 (ii): bounded by K~
  uniformly in t): its supremum and its growth over the last half of training;
* :func:`pair_distances`, :func:`plot_pair_distances`, :func:`weight_speed`, :func:`exponential_rate` -- the
  double limit of Thm. 6: the L^2-in-depth distance between networks of depths L and 2L at every snapshot
  time (limit in L, uniformly in t), and the speed of the weights and its exponential rate (limit in t,
  Prop. 8 (iii)-(iv)).

Times: ``t = step * eta`` (the record's clock, on the loss the run used). Weights: ``V`` (L, q, m),
``W`` (L, m, q); ``||Z_k|| = ||V_k||_F + ||W_k||_F`` (the paper's Section 3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import _validation as check_arg
from ..activations import get_activation
from ..metrics import SlopeFit, depth_distance, fit_loglog_slope
from ..pl import hermite_coefficients, prop5_constants
from ..plotting import depth_colors
from ..train import TrainRecord


# -- the constants of Prop. 5 and Thm. 6 -------------------------------------------------------------------
@dataclass(frozen=True)
class Theorem6Constants:
    """The constants c_1..c_4 of Prop. 5 for a bounded activation (the paper's proof, Section 8.5; their
    formulas: :func:`helpers.prop5_constants`) with ``K = K_sigma`` (Lipschitz constant of sigma) and
    ``eta = |eta_r(sigma)|``, the radius ``M = c_3 / sqrt(n q)`` and PL constant ``mu = c_4 / (n sqrt(n) q)``,
    and ``C_upper``, an upper bound on the constant C of Thm. 6's target condition
    (1/n) sum_i ||y_i||^2 <= C (see :func:`theorem6_constants`)."""

    activation: str
    r: int
    eta_r: float
    K_sigma: float
    M_sigma: float
    n: int
    q: int
    c1: float
    c2: float
    c3: float
    c4: float
    M: float
    mu: float
    C_upper: float

    @property
    def width_needed(self) -> float:
        """``c_1 n``: the width Prop. 5 asks for."""
        return self.c1 * self.n

    @property
    def depth_needed(self) -> float:
        """``c_2 sqrt(n q)``: the depth Prop. 5 asks for."""
        return self.c2 * math.sqrt(self.n * self.q)


def theorem6_constants(n: int, q: int, *, activation: str = "tanh", r: int | None = None) -> Theorem6Constants:
    """The constants of Prop. 5 (c_1..c_4, the radius M and the PL constant mu) for ``n`` samples and hidden
    dimension ``q``, and an upper bound on the constant C of Thm. 6's small-target condition.

    Thm. 6's proof sets ``C = c_3^2 c_4^2 / (64 n^4 q^3 max(M_B K, M_B M_X, M_A M_X)^2 e^{2K})``. With inputs
    on the sphere of radius sqrt(q), ``M_X = sqrt(q)``, and ``M_A = ||A_init||_2 + M >= 1``, so the max is at
    least sqrt(q) and ``e^{2K} >= 1``: hence ``C <= C_upper = c_3^2 c_4^2 / (64 n^4 q^4)``.

    ``r``: the order of the Hermite coefficient used (default: the r in 2..12 with the largest |eta_r|,
    which gives the most favourable c_1..c_4; eta_r from :func:`helpers.hermite_coefficients`). sigma must be
    bounded (Prop. 5): ValueError naming ``activation`` otherwise. ``K_sigma`` and ``M_sigma`` are sup |sigma'|
    and sup |sigma| on [-30, 30].

    Example: ``theorem6_constants(8, 6).c1`` is about 1.3e7 for tanh.
    """
    n, q = check_arg.positive_int("n", n), check_arg.positive_int("q", q)
    sigma = get_activation(activation)
    if not sigma.bounded:
        raise ValueError(f"activation must be bounded for Prop. 5 (e.g. 'tanh'), got {sigma.name!r}")
    if r is not None:
        r = check_arg.positive_int("r", r, minimum=2)
    eta_all = np.abs(hermite_coefficients(sigma.name, r_max=12 if r is None else max(r, 12)).coefficients)
    if r is None:
        r = 2 + int(np.argmax(eta_all[2:13]))
    eta = float(eta_all[r])
    if eta < 1e-12:
        raise ValueError(f"r must give a non-zero Hermite coefficient eta_r({sigma.name}), got r = {r}")
    grid = torch.linspace(-30.0, 30.0, 60_001, dtype=torch.float64)
    K = float(sigma.prime(grid).abs().max())
    M_sigma = float(sigma(grid).abs().max())
    c = prop5_constants(eta, K_sigma=K)
    c3, c4 = c["c3"], c["c4"]
    return Theorem6Constants(activation=sigma.name, r=r, eta_r=eta, K_sigma=K, M_sigma=M_sigma, n=n, q=q,
                             c1=c["c1"], c2=c["c2"], c3=c3, c4=c4, M=c3 / math.sqrt(n * q),
                             mu=c4 / (n * math.sqrt(n) * q), C_upper=c3**2 * c4**2 / (64 * n**4 * q**4))


# -- the loss against time ----------------------------------------------------------------------------------
def _record(record, name: str = "record") -> TrainRecord:
    if not isinstance(record, TrainRecord):
        raise TypeError(f"{name} must be a helpers.TrainRecord (what H.train returns), got {type(record).__name__}")
    if record.steps < 2:
        raise ValueError(f"{name} must hold at least 2 training steps, got {record.steps}")
    return record


def _positive_losses(record: TrainRecord, a: int, b: int) -> np.ndarray:
    losses = record.losses[a: b + 1]
    if np.any(losses <= 0) or not np.all(np.isfinite(losses)):
        raise ValueError("record.losses must be positive and finite to fit an exponential rate")
    return np.log(losses)


def _rate(record: TrainRecord, a: int, b: int) -> float:
    """Least-squares exponential rate of the loss on steps a..b: minus the slope of log(loss) against t."""
    return float(-np.polyfit(record.t[a: b + 1], _positive_losses(record, a, b), 1)[0])


def local_rates(record: TrainRecord, *, window: int):
    """The loss's local exponential rate on consecutive windows of ``window`` steps,
    ``-(log l(t_b) - log l(t_a)) / (t_b - t_a)``, and the mean PL ratio of Def. 1 recorded on each window
    (NaN when ``record_pl`` was off). Under the gradient flow ``dl/dt = -(PL ratio) l`` exactly, so the two
    agree while gradient descent follows the flow.

    Returns ``(t_mid, rate, pl)``, three arrays of length ``steps // window``. Raises ValueError naming
    ``window`` if it exceeds the steps trained, or if a loss is not positive.
    """
    record = _record(record)
    window = check_arg.positive_int("window", window)
    if window > record.steps:
        raise ValueError(f"window must be at most the {record.steps} steps trained, got {window}")
    starts = np.arange(0, record.steps - window + 1, window)
    logs = _positive_losses(record, 0, record.steps)
    t = record.t
    rate = -(logs[starts + window] - logs[starts]) / (t[starts + window] - t[starts])
    pl = (np.array([record.pl_ratio[a: a + window].mean() for a in starts]) if record.pl_ratio is not None
          else np.full(len(starts), np.nan))
    return t[starts] + window * record.eta / 2, rate, pl


@dataclass(frozen=True)
class LateDecay:
    """Fitted exponential rate of the loss on the last part of a run (:func:`late_decay`): ``rate`` on the
    whole window, ``rate_first``/``rate_second`` on its two halves, ``pl_mean`` the mean recorded PL ratio
    on the window (NaN if not recorded), the window ``[t_start, t_end]``."""

    rate: float
    rate_first: float
    rate_second: float
    pl_mean: float
    t_start: float
    t_end: float

    @property
    def constancy(self) -> float:
        """``rate_second / rate_first``: 1 for an exponential decay, < 1 if the decay slows down."""
        return self.rate_second / self.rate_first

    @property
    def flow_agreement(self) -> float:
        """``rate / pl_mean``: 1 when gradient descent follows the gradient flow (dl/dt = -PL ratio * l)."""
        return self.rate / self.pl_mean


def late_decay(record: TrainRecord, *, fraction: float = 1 / 3) -> LateDecay:
    """Exponential fit ``l(t) ~ l_0 e^{-rate t}`` (least squares on log l) on the last ``fraction`` of the
    steps, and on each half of that window; with the PL ratio recorded by ``H.train(..., record_pl=True)``.

    ``fraction`` in (0, 1]; the window needs at least 4 steps. Raises ValueError/TypeError naming the argument.

    Example: ``dec = late_decay(rec); dec.rate, dec.constancy``.
    """
    record = _record(record)
    fraction = check_arg.positive_float("fraction", fraction)
    if fraction > 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    a = record.steps - int(round(fraction * record.steps))
    if record.steps - a < 4:
        raise ValueError(f"fraction must leave at least 4 steps in the window, got {record.steps - a}")
    mid = (a + record.steps) // 2
    pl = float(record.pl_ratio[a:].mean()) if record.pl_ratio is not None else float("nan")
    return LateDecay(rate=_rate(record, a, record.steps), rate_first=_rate(record, a, mid),
                     rate_second=_rate(record, mid, record.steps), pl_mean=pl,
                     t_start=float(record.t[a]), t_end=float(record.t[-1]))


def _records(records, name: str = "records") -> dict:
    if isinstance(records, TrainRecord):
        return {records.net.L: records}
    if not isinstance(records, dict) or not records or not all(isinstance(r, TrainRecord) for r in records.values()):
        raise TypeError(f"{name} must be a TrainRecord or a dict {{L: TrainRecord}}, got {records!r:.80}")
    return dict(sorted(records.items()))


def plot_loss(records, *, ax=None, title: str | None = None, ylabel: str = r"loss $\ell^L(t)$"):
    """The loss against the gradient-flow time t on a log scale, one curve per depth (``records``: a
    ``TrainRecord`` or ``{L: TrainRecord}``). Returns the axes."""
    records = _records(records)
    ax = ax if ax is not None else plt.subplots()[1]
    for (L, rec), color in zip(records.items(), depth_colors(list(records))):
        ax.semilogy(rec.t, rec.losses, color=color, label=f"L = {L}")
    ax.set_xlabel(r"training time $t$ (steps $\times\,\eta$)")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def plot_decay_rate(record: TrainRecord, *, window: int, ax=None, title: str | None = None, late: LateDecay | None = None):
    """The local rate of :func:`local_rates` (markers) and the recorded PL ratio (line) against t, with
    the fitted late rate ``late`` (a :class:`LateDecay`) as a dashed segment over its window. Log scale.
    Returns the axes."""
    t, rate, pl = local_rates(record, window=window)
    ax = ax if ax is not None else plt.subplots()[1]
    ok = rate > 0
    ax.semilogy(t[ok], rate[ok], "o", ms=3, label=r"local rate $-\,d\log\ell/dt$")
    if np.all(np.isfinite(pl)):
        ax.semilogy(t, pl, "-", lw=1.2, label="PL ratio (Def. 1)")
    if late is not None:
        ax.semilogy([late.t_start, late.t_end], [late.rate] * 2, "k--", lw=1.2,
                    label=f"late exponential fit: {late.rate:.3g}")
    ax.set_xlabel(r"training time $t$")
    ax.set_ylabel("rate (per unit of $t$)")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


# -- smoothness across depth, uniformly in time (Prop. 8 (ii)) --------------------------------------------
@dataclass(frozen=True)
class GapSummary:
    """``L max_k ||Z_{k+1}(t) - Z_k(t)||`` over a run (:func:`gap_summary`): ``sup`` over all recorded t,
    and ``growth`` = its max over the last half of the steps divided by its max over the first half
    (about 1 when the gaps have stopped growing; > 1 if they still grow)."""

    L: int
    sup: float
    growth: float


def gap_summary(record: TrainRecord) -> GapSummary:
    """Summarise the recorded ``max_gap`` of a run (one value per step, ``H.train``): see :class:`GapSummary`.
    Raises ValueError if the gaps are zero over the whole first half (nothing to compare with)."""
    record = _record(record)
    scaled = record.net.L * record.max_gap
    half = record.steps // 2
    first = float(scaled[: half + 1].max())
    if first <= 0:
        raise ValueError("record.max_gap is zero on the whole first half of the run: no growth to measure")
    return GapSummary(L=record.net.L, sup=float(scaled.max()), growth=float(scaled[half:].max()) / first)


# -- the double limit -------------------------------------------------------------------------------------
@dataclass
class PairDistances:
    """Distances between networks of consecutive depths ``L_j`` and ``L_{j+1}`` (a multiple of L_j), from
    :func:`pair_distances`: ``D[j, i]`` is the L^2-in-depth distance (:func:`helpers.depth_distance`)
    between their weights after ``steps[i]`` steps; ``AB[j]`` = ``||A^{L_j} - A^{L_{j+1}}||_F +
    ||B^{L_j} - B^{L_{j+1}}||_F`` at the end (NaN without maps A, B)."""

    depths: list          # L_j, j = 0..len - 1 (the shallower network of each pair)
    steps: list
    eta: float
    D: np.ndarray
    AB: np.ndarray

    @property
    def t(self) -> np.ndarray:
        return np.array(self.steps) * self.eta

    def end_slope(self) -> SlopeFit:
        """Slope in L of the distance after the last snapshot step (converged weights)."""
        return fit_loglog_slope(self.depths, self.D[:, -1])

    def sup_slope(self) -> SlopeFit:
        """Slope in L of ``sup_t D`` over the snapshot times: a 1/L rate uniform in t."""
        return fit_loglog_slope(self.depths, self.D.max(axis=1))


def pair_distances(records: dict) -> PairDistances:
    """The distance between the weights of consecutive depths at every common snapshot step,

        D_L(t) = ( (1/L) sum_k ||Z^L_k(t) - Z^{L'}_{k L'/L}(t)||^2 )^{1/2},   L' the next depth,

    from ``records`` = ``{L: TrainRecord}`` (>= 2 depths, each dividing the next, one step eta, the same
    ``snapshot_steps`` with all layers). If ``Z^L = Z_infinity + c/L + o(1/L)``, then ``D_L`` falls like 1/L
    (and for L' = 2L, D_L ~ ||c|| / (2L)). Raises ValueError/TypeError naming ``records``.
    """
    records = _records(records)
    depths = list(records)
    if len(depths) < 2:
        raise ValueError(f"records must hold at least two depths, got {depths}")
    if any(b % a for a, b in zip(depths, depths[1:])):
        raise ValueError(f"records' depths must each divide the next, got {depths}")
    if len({r.eta for r in records.values()}) > 1:
        raise ValueError("records must share one step eta (a snapshot step is the time step * eta)")
    steps = sorted(records[depths[0]].snapshots)
    if not steps or any(sorted(r.snapshots) != steps for r in records.values()):
        raise ValueError("records must all hold snapshots at the same steps (H.train's snapshot_steps)")
    if any(r.snapshots[steps[0]]["V"].shape[0] != L for L, r in records.items()):
        raise ValueError("records' snapshots must keep every layer (no snapshot_layers)")
    D = np.array([[depth_distance(records[a].snapshots[s]["V"], records[a].snapshots[s]["W"],
                                  records[b].snapshots[s]["V"], records[b].snapshots[s]["W"]) for s in steps]
                  for a, b in zip(depths, depths[1:])])
    AB = np.array([float((records[a].net.A - records[b].net.A).norm() + (records[a].net.B - records[b].net.B).norm())
                   if records[a].net.A is not None else float("nan") for a, b in zip(depths, depths[1:])])
    return PairDistances(depths=depths[:-1], steps=steps, eta=records[depths[0]].eta, D=D, AB=AB)


def plot_pair_distances(pairs: PairDistances, *, ax=None, title: str | None = None):
    """``D_L(t)`` of :func:`pair_distances` against t, one curve per depth L (light = shallow), log scale;
    zeros (e.g. at t = 0, where all networks start alike) are left out. Returns the axes."""
    if not isinstance(pairs, PairDistances):
        raise TypeError(f"pairs must be what pair_distances returns, got {type(pairs).__name__}")
    ax = ax if ax is not None else plt.subplots()[1]
    t = pairs.t
    for L, row, color in zip(pairs.depths, pairs.D, depth_colors(pairs.depths)):
        ok = row > 0
        ax.semilogy(t[ok], row[ok], color=color, marker="o", ms=2.5, label=f"L = {L}")
    ax.set_xlabel(r"training time $t$")
    ax.set_ylabel(r"$D_L(t)$: distance between depths $L$ and $2L$")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax


def weight_speed(record: TrainRecord):
    """The largest per-layer speed of the weights between consecutive snapshots,
    ``max_k ||Z_k(t_{i+1}) - Z_k(t_i)|| / (t_{i+1} - t_i)`` (``||Z|| = ||V||_F + ||W||_F``): a finite-difference
    estimate of ``sup_k ||dZ_k/dt||``, which Prop. 8 (iii) bounds by an integrable b(t) (its proof: a
    multiple of e^{-mu t / 2} sqrt(l(0))). Returns ``(t_mid, speed)``; needs >= 2 snapshots with all layers.
    """
    record = _record(record)
    steps = sorted(record.snapshots)
    if len(steps) < 2:
        raise ValueError(f"record must hold at least 2 snapshots (H.train's snapshot_steps), got {len(steps)}")
    snaps = [record.snapshots[s] for s in steps]
    if snaps[0]["V"].shape[0] != record.net.L:
        raise ValueError("record's snapshots must keep every layer (no snapshot_layers)")
    t = np.array(steps) * record.eta
    speed = np.array([float((torch.linalg.vector_norm(b["V"] - a["V"], dim=(1, 2))
                             + torch.linalg.vector_norm(b["W"] - a["W"], dim=(1, 2))).max())
                      for a, b in zip(snaps, snaps[1:])]) / np.diff(t)
    return (t[1:] + t[:-1]) / 2, speed


def exponential_rate(t, values, *, t_min: float) -> float:
    """Rate ``a`` of a least-squares fit ``values ~ b e^{-a t}`` on ``t >= t_min`` (at least 2 points there,
    positive values). Example: ``exponential_rate(t, 3 * np.exp(-0.2 * t), t_min=0)`` is 0.2."""
    t, v = check_arg.as_float_array("t", t).ravel(), check_arg.as_float_array("values", values).ravel()
    if t.shape != v.shape:
        raise ValueError(f"t and values must have one length, got {t.size} and {v.size}")
    t_min = check_arg.positive_float("t_min", t_min, allow_zero=True)
    keep = t >= t_min
    if keep.sum() < 2 or np.any(v[keep] <= 0) or not np.all(np.isfinite(v[keep])):
        raise ValueError(f"values need at least two positive finite points with t >= t_min = {t_min}")
    return float(-np.polyfit(t[keep], np.log(v[keep]), 1)[0])
