"""Chapter of notebook 06, *The Polyak-Lojasiewicz condition* (``notebooks/06_the_pl_condition.ipynb``):
small objectives on which the PL inequality, its failure and its local version can be watched exactly,
and the measurements of Def. 1 and Prop. 8 (appendix) of Marion, Wu, Sander & Biau, ICLR 2024 on a ResNet.

Convention of the course (notebook 06, eq. (6.1)): a loss ``l >= 0`` with ``inf l = 0`` satisfies the PL
inequality with constant ``mu > 0`` on a set when ``||grad l(theta)||^2 >= mu l(theta)`` there. (Karimi,
Nutini & Schmidt 2016 write ``(1/2)||grad f||^2 >= mu (f - f*)``: their mu is half of ours.)

* :class:`Objective` and three examples: :func:`karimi_example` (``x^2 + 3 sin^2 x``, non-convex and PL),
  :func:`quartic_example` (``x^4``, not PL), :func:`factorization_example` (``(ab - y)^2``, PL only away
  from the saddle at the origin, with ``||grad||^2 = 4 (a^2 + b^2) l`` exactly);
* :func:`gradient_flow` (RK4 on ``d theta/dt = -grad l``) and :func:`gradient_descent` (step ``eta``), both
  returning a :class:`Run` (time, path, loss, squared gradient norm, PL ratio, distance, path length);
* :func:`pl_constant_on_points`, :func:`pl_ratio_local_min`, :func:`ball_pl_constant_sampled`,
  :func:`factorization_ball_constant`, :func:`stay_in_ball_bound`, :func:`fitted_rate`, :func:`first_time`
  -- the constants and times of the notebook's statements;
* for a :class:`~helpers.ResNet`: :func:`pl_ratio_parts` (Def. 1's ratio with and without the factor L) and
  :func:`layer_displacements`; along a training run: :func:`snapshot_pairs`, :func:`run_measurements` (the
  quantities of Prop. 8's proof: distances moved and the per-layer speed constant of (6.19)) and
  :func:`measured_rates`;
* figures: :func:`plot_objective`, :func:`plot_loss_and_ratio`, :func:`plot_ball_runs`,
  :func:`plot_training_pl`, :func:`plot_depth_sweep`.

Units: ``t`` is gradient-flow time (for gradient descent, ``t = steps * eta``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.ticker import FormatStrFormatter
from scipy.optimize import minimize_scalar

from .. import _validation as check_arg
from ..adjoint import loss_and_gradients
from ..config import num_threads
from ..ode import rk4
from ..plotting import COLORS, plot_loglog_rate
from ..resnet import ResNet
from ..train import TrainRecord


# -- objectives ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Objective:
    """A loss ``l(theta) >= 0`` on R^p with its gradient, both acting on the last axis: ``loss`` maps
    (..., p) to (...), ``grad`` maps (..., p) to (..., p) (float64 tensors). ``name`` is for legends;
    ``smoothness`` is a global bound beta on the Hessian's norm when there is one (else ``None``)."""

    name: str
    p: int
    loss: Callable[[torch.Tensor], torch.Tensor]
    grad: Callable[[torch.Tensor], torch.Tensor]
    smoothness: float | None = None


def karimi_example() -> Objective:
    """``l(x) = x^2 + 3 sin^2 x`` on R (the classic example of Karimi, Nutini & Schmidt 2016): non-convex,
    since ``l''(x) = 2 + 6 cos 2x`` takes values in [-4, 8], yet PL (notebook 06, eq. (6.7)); global
    minimum 0 at x = 0 only; beta-smooth with beta = 8. Its gradient is ``2x + 3 sin 2x``."""
    return Objective("x² + 3 sin² x", 1, lambda x: (x ** 2 + 3 * torch.sin(x) ** 2).sum(-1),
                     lambda x: 2 * x + 3 * torch.sin(2 * x), smoothness=8.0)


def quartic_example() -> Objective:
    """``l(x) = x^4`` on R: convex, minimum 0 at x = 0, but ``l'^2 / l = 16 x^2 -> 0`` at the minimum, so no
    PL constant mu > 0 exists; the flow gives ``l(t) = x0^4 / (1 + 8 x0^2 t)^2`` (notebook 06, eq. (6.9))."""
    return Objective("x⁴", 1, lambda x: (x ** 4).sum(-1), lambda x: 4 * x ** 3)


def factorization_example(y: float) -> Objective:
    """``l(a, b) = (a b - y)^2`` on R^2: a linear network of width one fitting one target ``y`` (input 1).

    ``grad l = 2 (ab - y) (b, a)``, hence ``||grad l||^2 = 4 (a^2 + b^2) l`` (notebook 06, eq. (6.13)):
    PL holds with constant ``4 r^2`` outside the disc of radius r around the origin, and fails at the
    origin, a saddle point with loss ``y^2``. Raises TypeError if ``y`` is not a real number."""
    if isinstance(y, bool) or not isinstance(y, (int, float)) or not math.isfinite(y):
        raise TypeError(f"y must be a finite real number (the target), got {y!r}")
    y = float(y)

    def loss(th):
        return (th[..., 0] * th[..., 1] - y) ** 2

    def grad(th):
        r = th[..., 0] * th[..., 1] - y
        return torch.stack([2 * r * th[..., 1], 2 * r * th[..., 0]], dim=-1)

    return Objective(f"(ab − y)², y = {y:g}", 2, loss, grad)


def _objective(obj) -> Objective:
    if not isinstance(obj, Objective):
        raise TypeError(f"obj must be an Objective (e.g. karimi_example()), got {type(obj).__name__}")
    return obj


def _start(obj: Objective, theta0) -> torch.Tensor:
    if isinstance(theta0, (int, float)) and not isinstance(theta0, bool):
        theta0 = torch.tensor([float(theta0)], dtype=torch.float64)
    check_arg.tensor("theta0", theta0, shape=(obj.p,))
    return theta0.to(torch.float64)


# -- runs ------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """A trajectory: ``t`` (N+1,) gradient-flow times, ``theta`` (N+1, p) the path, ``loss`` (N+1,) and
    ``grad_sq`` (N+1,) = ``||grad l(theta)||^2`` along it (NumPy float64)."""

    t: np.ndarray
    theta: np.ndarray
    loss: np.ndarray
    grad_sq: np.ndarray

    @property
    def ratio(self) -> np.ndarray:
        """The PL ratio ``||grad l||^2 / l`` along the path (inf where l = 0). Under the flow it is the
        instantaneous exponential rate ``-d log l / dt`` (notebook 06, eq. (6.3))."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.loss > 0, self.grad_sq / np.where(self.loss > 0, self.loss, 1.0), np.inf)

    @property
    def step_rates(self) -> np.ndarray:
        """The measured rate of each step, ``-(log l(t_{i+1}) - log l(t_i)) / (t_{i+1} - t_i)``, shape (N,)
        (needs a positive loss). ``l(t) e^{mu t}`` is non-increasing along the run exactly when every entry
        is ``>= mu``: by eq. (6.3) the entries are the PL ratio averaged over each step."""
        if np.any(self.loss <= 0):
            raise ValueError("step_rates needs a positive loss along the run (it takes logarithms)")
        return -np.diff(np.log(self.loss)) / np.diff(self.t)

    @property
    def distance(self) -> np.ndarray:
        """``||theta(t) - theta(0)||`` (Euclidean), shape (N+1,)."""
        return np.linalg.norm(self.theta - self.theta[0], axis=1)

    @property
    def path_length(self) -> np.ndarray:
        """Length of the path travelled up to each time, ``int_0^t ||theta'||`` (polygonal), shape (N+1,)."""
        return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(self.theta, axis=0), axis=1))])


def _run(obj: Objective, t: np.ndarray, path: torch.Tensor) -> Run:
    with torch.no_grad():
        loss = obj.loss(path)
        grad_sq = obj.grad(path).pow(2).sum(-1)
    return Run(t=t, theta=path.numpy().copy(), loss=loss.numpy().copy(), grad_sq=grad_sq.numpy().copy())


def gradient_flow(obj: Objective, theta0, *, t_end: float, n_steps: int) -> Run:
    """The gradient flow ``d theta/dt = -grad l(theta)``, ``theta(0) = theta0`` (notebook 06, eq. (6.2)),
    integrated on [0, t_end] by classical RK4 (:func:`helpers.rk4`) with ``n_steps`` steps.

    ``theta0``: tensor of shape (p,) (a float is accepted for p = 1). Returns a :class:`Run` with
    ``t = linspace(0, t_end, n_steps + 1)``. Raises TypeError/ValueError naming ``obj``, ``theta0``,
    ``t_end`` or ``n_steps``.

    Example: ``gradient_flow(quartic_example(), 1.0, t_end=1.0, n_steps=200).loss[-1]`` is ``1/81``.
    """
    obj = _objective(obj)
    theta0 = _start(obj, theta0)
    t_end = check_arg.positive_float("t_end", t_end)
    n_steps = check_arg.positive_int("n_steps", n_steps)
    with torch.no_grad():
        path = rk4(lambda s, th: -obj.grad(th), theta0, n_steps=n_steps, s1=t_end, return_path=True)
    return _run(obj, np.linspace(0.0, t_end, n_steps + 1), path)


def gradient_descent(obj: Objective, theta0, *, eta: float, steps: int) -> Run:
    """Gradient descent ``theta_{k+1} = theta_k - eta grad l(theta_k)`` (the Euler scheme of the flow),
    ``steps`` steps; the Run's time is ``t_k = k eta``. Raises TypeError/ValueError naming ``obj``,
    ``theta0``, ``eta`` or ``steps``."""
    obj = _objective(obj)
    theta = _start(obj, theta0)
    eta = check_arg.positive_float("eta", eta)
    steps = check_arg.positive_int("steps", steps)
    path = [theta]
    with torch.no_grad():
        for _ in range(steps):
            theta = theta - eta * obj.grad(theta)
            path.append(theta)
    return _run(obj, eta * np.arange(steps + 1), torch.stack(path))


# -- constants -------------------------------------------------------------------------------------------
def pl_constant_on_points(obj: Objective, points) -> tuple:
    """``(min ratio, argmin)``: the smallest PL ratio ``||grad l||^2 / l`` over the given points (shape
    (N, p), or (N,) for p = 1), ignoring points where ``l = 0`` (minimisers). A minimum over finitely many
    points: an *upper* estimate of the PL constant of the region they sample. Raises ValueError naming
    ``points`` if none has a positive loss."""
    obj = _objective(obj)
    pts = torch.as_tensor(check_arg.as_float_array("points", points), dtype=torch.float64)
    if pts.ndim == 1 and obj.p == 1:
        pts = pts[:, None]
    check_arg.tensor("points", pts, shape=(None, obj.p))
    with torch.no_grad():
        loss, grad_sq = obj.loss(pts), obj.grad(pts).pow(2).sum(-1)
    keep = loss > 0
    if not bool(keep.any()):
        raise ValueError("points must contain at least one point with a positive loss")
    ratio = grad_sq[keep] / loss[keep]
    i = int(ratio.argmin())
    return float(ratio[i]), pts[keep][i].numpy().copy()


def pl_ratio_local_min(obj: Objective, x0: float, *, half_width: float = 0.05) -> tuple:
    """``(min ratio, argmin)`` of the PL ratio ``l'(x)^2 / l(x)`` of a one-dimensional objective (p = 1) on
    the interval ``[x0 - half_width, x0 + half_width]``, by bounded scalar minimisation (Brent's method,
    ``scipy.optimize.minimize_scalar``, tolerance 1e-12): the local refinement of a grid minimum
    (:func:`pl_constant_on_points`), which can only overestimate the infimum. The interval should avoid
    the minimisers: ValueError if the loss is 0 at an evaluated point. Raises TypeError/ValueError naming ``obj``,
    ``x0`` or ``half_width``."""
    obj = _objective(obj)
    if obj.p != 1:
        raise ValueError(f"obj must be one-dimensional (p = 1) for a scalar minimisation, got p = {obj.p}")
    if isinstance(x0, bool) or not isinstance(x0, (int, float, np.floating)) or not math.isfinite(x0):
        raise TypeError(f"x0 must be a finite real number, got {x0!r}")
    half_width = check_arg.positive_float("half_width", half_width)

    def ratio(x):
        th = torch.tensor([float(x)], dtype=torch.float64)
        with torch.no_grad():
            loss = float(obj.loss(th))
            if loss <= 0:
                raise ValueError(f"x0 +- half_width must avoid the minimisers (l = 0 at x = {float(x):g})")
            return float(obj.grad(th).pow(2).sum()) / loss

    lo, hi = float(x0) - half_width, float(x0) + half_width
    res = minimize_scalar(ratio, bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
    return float(res.fun), float(res.x)


def ball_pl_constant_sampled(obj: Objective, center, radius: float, *, n_samples: int, seed: int) -> float:
    """Smallest PL ratio over ``n_samples`` points drawn uniformly in the Euclidean ball of radius
    ``radius`` around ``center`` (shape (p,)), plus the same number on its boundary sphere: a Monte-Carlo
    *upper* estimate of the ball's PL constant (the true one is an infimum). Raises naming the argument."""
    obj = _objective(obj)
    center = _start(obj, center)
    radius = check_arg.positive_float("radius", radius)
    n_samples = check_arg.positive_int("n_samples", n_samples)
    gen = torch.Generator().manual_seed(check_arg.positive_int("seed", seed, minimum=0))
    u = torch.randn(2 * n_samples, obj.p, generator=gen, dtype=torch.float64)
    u = u / u.norm(dim=1, keepdim=True)
    r = torch.ones(2 * n_samples, 1, dtype=torch.float64)
    r[:n_samples, 0] = torch.rand(n_samples, generator=gen, dtype=torch.float64) ** (1.0 / obj.p)
    return pl_constant_on_points(obj, center + radius * r * u)[0]


def factorization_ball_constant(theta0, radius: float) -> float:
    """The exact PL constant of :func:`factorization_example` on the closed ball of radius ``radius``
    around ``theta0`` (shape (2,)): ``4 (||theta0|| - radius)^2`` if the ball avoids the origin, else 0
    (notebook 06, eq. (6.14)), since the ratio is ``4 ||theta||^2`` and the closest point of the ball to
    the origin is at distance ``||theta0|| - radius``. The same for every target y."""
    theta0 = check_arg.tensor("theta0", torch.as_tensor(check_arg.as_float_array("theta0", theta0)), shape=(2,))
    radius = check_arg.positive_float("radius", radius)
    return 4.0 * max(float(theta0.norm()) - radius, 0.0) ** 2


def stay_in_ball_bound(loss0: float, mu: float) -> float:
    """``2 sqrt(loss0 / mu)``: under the flow, while the PL inequality with constant ``mu`` holds, the path
    length from a start of loss ``loss0`` is at most this (notebook 06, eq. (6.11)); the flow cannot leave a
    ball of larger radius. Raises ValueError naming ``loss0`` or ``mu``."""
    loss0 = check_arg.positive_float("loss0", loss0, allow_zero=True)
    mu = check_arg.positive_float("mu", mu)
    return 2.0 * math.sqrt(loss0 / mu)


def fitted_rate(t, loss, *, t_min: float | None = None, t_max: float | None = None) -> float:
    """The rate ``r`` of the least-squares fit ``log l(t) ~ c - r t`` over ``t_min <= t <= t_max`` (default:
    all): the exponential rate of a run. ``t``, ``loss``: 1-D of one length, loss positive on the window
    (at least two points). Raises ValueError/TypeError naming the argument.

    Example: ``fitted_rate(t, 3 * np.exp(-0.5 * t))`` is 0.5.
    """
    t = check_arg.as_float_array("t", t).ravel()
    loss = check_arg.as_float_array("loss", loss).ravel()
    if t.shape != loss.shape:
        raise ValueError(f"t and loss must have the same length, got {t.size} and {loss.size}")
    lo = -np.inf if t_min is None else check_arg.positive_float("t_min", t_min, allow_zero=True)
    hi = np.inf if t_max is None else check_arg.positive_float("t_max", t_max)
    keep = (t >= lo) & (t <= hi)
    if keep.sum() < 2:
        raise ValueError(f"the window [t_min, t_max] = [{lo}, {hi}] must hold at least two times")
    if not np.all(np.isfinite(loss[keep])) or np.any(loss[keep] <= 0):
        raise ValueError("loss must be positive and finite on the fitted window (take a shorter window)")
    slope = np.polyfit(t[keep], np.log(loss[keep]), 1)[0]
    return float(-slope)


def first_time(t, condition) -> float:
    """The first time ``t[i]`` at which ``condition[i]`` is true (``nan`` if never): e.g. the time a flow
    leaves a ball, ``first_time(run.t, run.distance > M)``. ``t`` and ``condition`` 1-D of one length.
    Raises ValueError naming ``condition``."""
    t = check_arg.as_float_array("t", t).ravel()
    condition = np.asarray(condition)
    if condition.dtype != bool or condition.shape != t.shape:
        raise ValueError(f"condition must be a boolean array of the same length as t ({t.size}), "
                         f"got dtype {condition.dtype} and shape {condition.shape}")
    return float(t[np.argmax(condition)]) if condition.any() else float("nan")


# -- the ResNet: Def. 1 and the quantities of Prop. 8 ------------------------------------------------------
def _net(net) -> ResNet:
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    return net


def pl_ratio_parts(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str) -> dict:
    """The terms of Def. 1 at the network's current weights, divided by the loss:

    * ``"with_L"``: ``L sum_k ||dl/dZ_k||^2 / l`` (the residual weights, with Def. 1's factor L);
    * ``"without_L"``: ``sum_k ||dl/dZ_k||^2 / l`` (the same without it: ``with_L / L``);
    * ``"AB"``: ``(||dl/dA||^2 + ||dl/dB||^2) / l`` (0 for the simplified form, A = B = I not trained);
    * ``"ratio"``: ``with_L + AB``, Def. 1's ratio (what ``H.train(..., record_pl=True)`` records);
    * ``"loss"``: ``l``.

    ``||dl/dZ_k||^2 = ||dl/dV_k||_F^2 + ||dl/dW_k||_F^2``. ``normalization``: ``"n"`` (the paper's loss) or
    ``"nd"`` (mean over the n d' entries: every ratio is then divided by d'). Raises as
    :func:`helpers.loss_and_gradients`.
    """
    net = _net(net)
    loss, g = loss_and_gradients(net, x, y, normalization)
    z = float(g.V.pow(2).sum()) + float(g.W.pow(2).sum())
    ab = sum(float(t.pow(2).sum()) for t in (g.A, g.B) if t is not None)
    return {"loss": loss, "with_L": net.L * z / loss, "without_L": z / loss, "AB": ab / loss,
            "ratio": (net.L * z + ab) / loss}


def layer_displacements(V0: torch.Tensor, W0: torch.Tensor, V: torch.Tensor, W: torch.Tensor) -> np.ndarray:
    """``||Z_k - Z_k(0)||`` for k = 1..L, shape (L,), with the Euclidean norm of the pair,
    ``(||V_k - V_k(0)||_F^2 + ||W_k - W_k(0)||_F^2)^{1/2}`` (the norm of Z_k in R^p of the paper's
    appendix; the ``||V||_F + ||W||_F`` of Section 3 is at most sqrt(2) times larger). Def. 1's ball bounds
    the maximum over k; the Euclidean distance of all the weights is the root of the sum of squares.
    Tensors of shapes (L, q, m), (L, m, q) twice. Raises ValueError naming the argument."""
    check_arg.tensor("V0", V0, ndim=3)
    check_arg.tensor("W0", W0, ndim=3)
    check_arg.tensor("V", V, shape=tuple(V0.shape))
    check_arg.tensor("W", W, shape=tuple(W0.shape))
    if V0.shape[0] != W0.shape[0]:
        raise ValueError(f"V0 and W0 must have the same depth, got {V0.shape[0]} and {W0.shape[0]}")
    sq = (V - V0).pow(2).sum(dim=(1, 2)) + (W - W0).pow(2).sum(dim=(1, 2))
    return sq.sqrt().cpu().numpy()


def snapshot_pairs(steps: int, every: int) -> list:
    """The snapshot steps :func:`run_measurements` needs: ``0, 1, every, every + 1, 2 every, ...`` (pairs of
    consecutive steps, below ``steps``) and ``steps`` itself. Pass them to
    ``H.train(..., snapshot_steps=snapshot_pairs(steps, every))``. Raises naming ``steps`` or ``every``."""
    steps = check_arg.positive_int("steps", steps, minimum=2)
    every = check_arg.positive_int("every", every)
    return sorted({s + j for s in range(0, steps - 1, every) for j in (0, 1)} | {steps})


def run_measurements(record: TrainRecord) -> dict:
    """The quantities of the proof of Prop. 8 along one :func:`helpers.train` run (gradient descent on the
    flow (6.15) with the factor L, no clipping), from its weight snapshots (all layers):

    * at every snapshot step s (keys ``"t"``, flow time ``s * eta``): ``"max_layer_move"`` =
      ``max_k ||Z_k(t) - Z_k(0)||``, ``"rms_move"`` = ``(1/L sum_k ||Z_k(t) - Z_k(0)||^2)^{1/2}`` (the distance of
      the lemma (6.11) in the geometry of (6.15)) and ``"all_weights_move"`` = ``(sum_k ||...||^2)^{1/2}``;
    * at every snapshot step s whose successor s + 1 is also a snapshot (key ``"t_speed"``): ``"speed"`` =
      ``max_k ||dZ_k/dt|| / sqrt(l)``, the speed constant that (6.19) bounds by ``2 K e^K M_B``. It is read off
      the step itself: ``Z_k(s+1) - Z_k(s) = -eta L dl/dZ_k(s)``, so
      ``||dZ_k/dt|| = L ||dl/dZ_k|| = ||Z_k(s+1) - Z_k(s)|| / eta`` exactly (no extra gradient evaluation).

    ``||Z_k||`` is the Euclidean norm of the pair (V_k, W_k) (see :func:`layer_displacements`). Arrays are
    NumPy, sorted by time. Snapshots from ``snapshot_steps=snapshot_pairs(steps, every)``. Raises TypeError
    naming ``record``; ValueError if the snapshots are missing or partial, or if the run had no factor L.
    The speed formula assumes the plain, unclipped update: do not pass a run with ``clip`` set (its record
    cannot be told apart)."""
    if not isinstance(record, TrainRecord):
        raise TypeError(f"record must be a TrainRecord from H.train, got {type(record).__name__}")
    if not record.L_factor:
        raise ValueError("record must come from H.train with L_factor=True (the flow (6.15))")
    steps = sorted(record.snapshots)
    if not steps or steps[0] != 0 or not any(s + 1 in record.snapshots for s in steps):
        raise ValueError("record must hold snapshots at step 0 and at pairs of consecutive steps "
                         "(H.train(..., snapshot_steps=ch.snapshot_pairs(steps, every)))")
    s0 = record.snapshots[0]
    if s0["V"].shape[0] != record.net.L:
        raise ValueError("record's snapshots must keep every layer (snapshot_layers=None)")
    speed_steps = [s for s in steps if s + 1 in record.snapshots]
    speed = []
    with num_threads(1):        # snapshots live on the CPU; small element-wise work: one thread is fastest
        moves = np.array([layer_displacements(s0["V"], s0["W"], record.snapshots[s]["V"], record.snapshots[s]["W"])
                          for s in steps])                                    # (snapshots, L)
        for s in speed_steps:
            a, b = record.snapshots[s], record.snapshots[s + 1]
            per_layer = layer_displacements(a["V"], a["W"], b["V"], b["W"]) / record.eta
            speed.append(per_layer.max() / math.sqrt(record.losses[s]))
    return {"t": np.array(steps) * record.eta, "max_layer_move": moves.max(axis=1),
            "rms_move": np.sqrt((moves ** 2).mean(axis=1)), "all_weights_move": np.sqrt((moves ** 2).sum(axis=1)),
            "t_speed": np.array(speed_steps) * record.eta, "speed": np.array(speed)}


def measured_rates(record: TrainRecord) -> np.ndarray:
    """``-(log l_{k+1} - log l_k) / eta`` for k = 0..steps-1: the exponential rate of each gradient step on
    the flow's clock, to compare with the PL ratio recorded at step k (equal for the flow, eq. (6.3))."""
    if not isinstance(record, TrainRecord):
        raise TypeError(f"record must be a TrainRecord from H.train, got {type(record).__name__}")
    if np.any(record.losses <= 0):
        raise ValueError("record's losses must be positive to take logarithms")
    return -np.diff(np.log(record.losses)) / record.eta


# -- figures ---------------------------------------------------------------------------------------------
def plot_objective(obj: Objective, x, *, mu: float | None = None, marks: dict | None = None, axes=None,
                   title: str = ""):
    """Two panels against x for a one-dimensional objective (p = 1): the loss ``l(x)`` and the PL ratio
    ``l'(x)^2 / l(x)`` (log scale; points with l = 0 are skipped). ``x``: 1-D grid. With ``mu``: a dashed line
    at mu on the ratio panel. ``marks``: ``{label: x value or tuple of x values}`` drawn as dotted vertical
    lines on both panels (e.g. the two shoulders and the start). Returns the pair of axes. Raises naming
    ``obj``, ``x``, ``mu`` or ``marks``."""
    obj = _objective(obj)
    if obj.p != 1:
        raise ValueError(f"obj must be one-dimensional (p = 1) to be drawn against x, got p = {obj.p}")
    xs = torch.as_tensor(check_arg.as_float_array("x", x).ravel(), dtype=torch.float64)
    with torch.no_grad():
        loss = obj.loss(xs[:, None]).numpy()
        grad_sq = obj.grad(xs[:, None]).pow(2).sum(-1).numpy()
    xs = xs.numpy()
    pos = loss > 0
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(11, 3.6))[1]
    ax_l, ax_r = axes
    ax_l.plot(xs, loss, color=COLORS["smooth"], label=obj.name)
    ax_r.semilogy(xs[pos], grad_sq[pos] / loss[pos], color=COLORS["smooth"], label="PL ratio")
    if mu is not None:
        mu = check_arg.positive_float("mu", mu)
        ax_r.axhline(mu, ls="--", color=COLORS["reference"], lw=1, label=f"μ = {mu:.3g}")
    for (label, xm), c in zip((marks or {}).items(), [COLORS["iid"], COLORS["ode"], COLORS["tied"], "0.2"]):
        for ax in axes:
            for j, v in enumerate(np.atleast_1d(check_arg.as_float_array("marks", xm))):
                ax.axvline(v, ls=":", color=c, lw=1.4, label=label if j == 0 else None)
    ax_l.set(xlabel="$x$", ylabel=r"loss $\ell(x)$", title="the loss")
    ax_r.set(xlabel="$x$", ylabel=r"PL ratio $\ell'(x)^2/\ell(x)$", title="the PL ratio: its infimum is μ")
    ax_l.legend(fontsize=8)
    ax_r.legend(fontsize=8)
    if title:
        ax_l.figure.suptitle(title, y=1.02)
    return axes


def plot_loss_and_ratio(runs: dict, *, mu: float | None = None, bound: str | None = None, axes=None,
                        colors=None, title: str = ""):
    """Two panels against the flow time t: the loss (log scale) and the PL ratio ``||grad l||^2 / l`` (log
    scale), one curve per entry of ``runs`` (``{label: Run}``, at most four; the third is dashed, the fourth
    dotted). With ``mu``: a dashed line at mu on the ratio panel and, if ``bound`` names a run, the curve
    ``e^{-mu t} l(0)`` of that run on the loss panel. ``axes``: a pair of axes (default: a new figure).
    Returns the pair."""
    if not isinstance(runs, dict) or not runs or not all(isinstance(r, Run) for r in runs.values()):
        raise TypeError(f"runs must be a non-empty dict {{label: Run}}, got {runs!r:.60}")
    if bound is not None and bound not in runs:
        raise ValueError(f"bound must be one of the labels of runs {list(runs)}, got {bound!r}")
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(11, 3.8))[1]
    ax_l, ax_r = axes
    palette = colors or [COLORS["smooth"], COLORS["iid"], COLORS["ode"], COLORS["tied"]]
    styles = ["-", "-", "--", ":"]            # dashed from the third run on: a run that retraces another stays visible
    for (label, run), c, ls in zip(runs.items(), palette, styles):
        pos = run.loss > 0
        ax_l.semilogy(run.t[pos], run.loss[pos], color=c, ls=ls, label=label)
        ax_r.semilogy(run.t[pos], run.ratio[pos], color=c, ls=ls, label=label)
    if mu is not None:
        mu = check_arg.positive_float("mu", mu)
        ax_r.axhline(mu, ls="--", color=COLORS["reference"], lw=1, label=f"μ = {mu:.3g}")
        if bound is not None:
            run = runs[bound]
            ax_l.semilogy(run.t, run.loss[0] * np.exp(-mu * run.t), "--", color=COLORS["reference"], lw=1,
                          label=r"$e^{-\mu t}\,\ell(0)$ (" + bound + ")")
    ax_l.set(xlabel="gradient-flow time $t$", ylabel=r"loss $\ell(\theta(t))$")
    ax_r.set(xlabel="gradient-flow time $t$", ylabel=r"PL ratio $\|\nabla\ell\|^2/\ell$")
    ax_l.legend()
    ax_r.legend()
    if title:
        ax_l.figure.suptitle(title, y=1.02)
    return axes


def plot_ball_runs(runs: dict, *, mu: float, radius: float, axes=None, title: str = ""):
    """The local-PL experiment in two panels against the flow time t, one curve per entry of ``runs``
    (``{label: Run}``): the distance ``||theta(t) - theta(0)|| / M`` to the start in units of the ball's radius
    ``radius`` = M (a dashed line at 1: the border of the ball), and the loss ``l(t) / l(0)`` with the
    guarantee ``e^{-mu t}`` of eq. (6.4) (dashed), ``mu`` the PL constant of the ball. Returns the pair of axes."""
    if not isinstance(runs, dict) or not runs or not all(isinstance(r, Run) for r in runs.values()):
        raise TypeError(f"runs must be a non-empty dict {{label: Run}}, got {runs!r:.60}")
    mu = check_arg.positive_float("mu", mu)
    radius = check_arg.positive_float("radius", radius)
    if axes is None:
        axes = plt.subplots(1, 2, figsize=(11, 3.8))[1]
    ax_d, ax_l = axes
    palette = [COLORS["smooth"], COLORS["ode"], COLORS["iid"], COLORS["tied"]]
    for (label, run), c in zip(runs.items(), palette):
        ax_d.plot(run.t, run.distance / radius, color=c, label=label)
        pos = run.loss > 0
        ax_l.semilogy(run.t[pos], run.loss[pos] / run.loss[0], color=c, label=label)
    t = next(iter(runs.values())).t
    ax_d.axhline(1.0, ls="--", color=COLORS["reference"], lw=1, label="border of the ball")
    ax_l.semilogy(t, np.exp(-mu * t), "--", color=COLORS["reference"], lw=1,
                  label=rf"guarantee $e^{{-\mu t}}$, $\mu$ = {mu:.3g}")
    ax_d.set(xlabel="gradient-flow time $t$", ylabel=r"$\|\theta(t)-\theta(0)\|\,/\,M$",
             title="distance to the start, in units of M")
    ax_l.set(xlabel="gradient-flow time $t$", ylabel=r"$\ell(\theta(t))\,/\,\ell(\theta(0))$",
             title="loss against the local-PL guarantee")
    ax_d.legend()
    ax_l.legend()
    if title:
        ax_d.figure.suptitle(title, y=1.02)
    return axes


def plot_training_pl(record: TrainRecord, *, burn_in: int = 0, axes=None, title: str = ""):
    """Three panels against the flow time t = step * eta of one :func:`helpers.train` run with
    ``record_pl=True``: the loss (log scale); Def. 1's ratio recorded at each step (line) next to the measured
    rate of the steps (:func:`measured_rates`, hollow markers at every 40th step) -- the two agree when
    gradient descent follows the flow (eq. (6.3)); and their relative gap ``|rate / ratio - 1|`` at every step
    (log scale), with a dotted line at step ``burn_in`` if positive. ``axes``: three axes (default: a new
    figure). Returns the axes."""
    rates = measured_rates(record)     # validates record
    if record.pl_ratio is None:
        raise ValueError("record has no PL ratio: train with H.train(..., record_pl=True)")
    burn_in = check_arg.positive_int("burn_in", burn_in, minimum=0)
    if axes is None:
        axes = plt.subplots(1, 3, figsize=(15, 4.0))[1]
    ax_l, ax_r, ax_g = axes
    ax_l.semilogy(record.t, record.losses, color=COLORS["tied"])
    ax_l.set(xlabel="gradient-flow time $t$ (steps × η)", ylabel=r"loss $\ell^L$", title="training loss")
    t = record.t[:-1]
    ax_r.semilogy(t, record.pl_ratio, color=COLORS["smooth"], lw=1.8,
                  label=r"Def. 1 ratio $(L\sum_k\|\partial\ell/\partial Z_k\|^2)/\ell$")
    every = np.arange(0, len(t), 40)
    every = every[rates[every] > 0]
    ax_r.semilogy(t[every], rates[every], "o", mfc="none", mec=COLORS["iid"], ms=5, mew=1.0,
                  label=r"measured rate $-\Delta\log\ell/\eta$ (every 40th step)")
    ax_r.set(xlabel="gradient-flow time $t$ (steps × η)", ylabel="rate (1 / unit of t)",
             title="PL ratio along the run and the loss's rate")
    ax_r.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax_r.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
    ax_r.tick_params(axis="y", which="minor", labelsize=7)
    ax_r.legend(loc="upper right")
    gap = np.abs(rates / record.pl_ratio - 1)
    pos = gap > 0
    ax_g.semilogy(t[pos], gap[pos], color=COLORS["iid"], lw=1)
    if burn_in:
        ax_g.axvline(t[burn_in], ls=":", color=COLORS["reference"], label=f"step {burn_in}")
        ax_g.legend()
    ax_g.set(xlabel="gradient-flow time $t$ (steps × η)", ylabel=r"$|\mathrm{rate}/\mathrm{ratio} - 1|$",
             title="relative gap of each step")
    ax_l.figure.tight_layout()
    if title:
        ax_l.figure.suptitle(title, y=1.06)
    return axes


def plot_depth_sweep(depths, table: dict, *, T: float, axes=None, title: str = ""):
    """The depth sweep of notebook 06, Section 6, on a 2 x 2 grid of log--log panels against the depth L,
    each with its fitted slope (legend: slope ± its standard error) and a reference slope:

    * ``table["ratio"]``: Def. 1's ratio with the factor L at the end of the run (reference slope 0);
    * ``table["no_L"]``: measured rate of the flow *without* the factor L divided by Def. 1's ratio at the
      same weights (reference slope -1);
    * ``table["max_layer_move"]`` and ``table["all_weights_move"]``: the farthest layer's distance moved and
      that of all the residual weights (reference slopes 0 and 1/2);
    * ``table["speed"]``: the speed constant of (6.19) (reference slope 0).

    ``depths``: the depths; each entry of ``table`` one value per depth. ``T``: the run's flow time, for the
    titles. Returns the 2 x 2 array of axes. Raises naming ``table`` if a key is missing."""
    depths = check_arg.int_list("depths", depths)
    need = ("ratio", "no_L", "max_layer_move", "all_weights_move", "speed")
    if not isinstance(table, dict) or any(k not in table or len(table[k]) != len(depths) for k in need):
        raise ValueError(f"table must map each of {need} to one value per depth ({len(depths)})")
    T = check_arg.positive_float("T", T)
    if axes is None:
        axes = plt.subplots(2, 2, figsize=(12, 8.4))[1]
    (a, b), (c, d) = axes
    plot_loglog_rate(depths, table["ratio"], ax=a, ref_slope=0.0, label="Def. 1's ratio, with L",
                     color=COLORS["smooth"])
    a.set(xlabel="depth $L$", ylabel=r"$L\sum_k\|\partial\ell^L/\partial Z_k\|^2/\ell^L$",
          title=f"Def. 1's ratio at t = {T:g}")
    plot_loglog_rate(depths, table["no_L"], ax=b, ref_slope=-1.0, label="flow without L", color=COLORS["iid"])
    b.set(xlabel="depth $L$", ylabel="measured rate / Def. 1's ratio",
          title="the loss's rate without the factor L, relative to Def. 1")
    plot_loglog_rate(depths, table["max_layer_move"], ax=c, ref_slope=0.0, color=COLORS["tied"],
                     label=r"farthest layer, $\max_{t,k}\|Z_k(t)-Z_k(0)\|$")
    plot_loglog_rate(depths, table["all_weights_move"], ax=c, ref_slope=0.5, color=COLORS["ode"],
                     label=r"all layers, $\max_t(\sum_k\|Z_k(t)-Z_k(0)\|^2)^{1/2}$")
    c.set(xlabel="depth $L$", ylabel="distance moved", title=f"how far the weights moved, t ≤ {T:g}")
    c.set_ylim(bottom=min(1.0, 0.9 * min(table["max_layer_move"])))     # a labelled tick below the lower curve
    plot_loglog_rate(depths, table["speed"], ax=d, ref_slope=0.0, color=COLORS["smooth"],
                     label=r"$\max_{t>0,k}\|dZ_k/dt\|/\sqrt{\ell^L}$")
    d.set(xlabel="depth $L$", ylabel="speed constant", title="the speed constant of (6.19), over 0 < t < T")
    for ax, key in ((a, "ratio"), (d, "speed")):
        # a depth-independent quantity: show it on an axis spanning a factor of more than 8, as the other panels,
        # so that its small drift is not magnified into an apparent trend
        lo, hi = min(table[key]), max(table[key])
        ax.set_ylim(lo / 3, hi * 3)
    for ax in (a, b, c, d):
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.tick_params(axis="y", which="minor", labelsize=7)
        ax.legend(fontsize=8)
    axes[0, 0].figure.tight_layout()
    if title:
        axes[0, 0].figure.suptitle(title, y=1.02)
    return axes
