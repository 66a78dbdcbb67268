"""Full-batch gradient descent on the depth-rescaled gradient flow, eq. (4) of the course:

    dZ_k/dt = -L dloss/dZ_k   (residual weights: the factor L offsets the 1/L inside the gradient)
    dA/dt = -dloss/dA,  dB/dt = -dloss/dB   (no factor L)

Gradient descent with step ``eta`` is the explicit Euler scheme of this flow: ``Z_k <- Z_k - eta L grad``,
and after ``i`` steps the gradient-flow time is ``t = i * eta``. With ``clip`` set, each right-hand side
goes through the coordinate clipping pi(z) = min(max(z, -clip), clip): the paper's clipped flow, eq. (5).

The engine (:func:`train`) reuses one :class:`~helpers.adjoint.AdjointWorkspace` for the whole run and
records, without storing the weights of every step:

* the loss at every step;
* ``max_k ||Z_{k+1} - Z_k||_F`` (with ``||Z|| = ||V||_F + ||W||_F``), the quantity Prop. 3 bounds by K/L;
* ``sum_k ||V_{k+1} - V_k||_F^2`` and the same for W, from which the reference scripts' aggregated metric
  follows (:meth:`TrainRecord.script_metric`);
* optionally the PL ratio ``(||dA||^2 + L sum_k ||dZ_k||^2 + ||dB||^2) / loss`` of Def. 1;
* weight snapshots at the steps asked for; the wall time.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import _validation as check_arg
from .adjoint import AdjointWorkspace
from .config import auto_threads, num_threads, progress_allowed, progress_bar
from .resnet import ResNet


class TrainingDivergedError(RuntimeError):
    """Raised when the loss becomes NaN/inf or explodes: the step ``eta`` is too large."""


@dataclass
class TrainRecord:
    """What :func:`train` measured. Arrays indexed by step ``i = 0..steps`` hold the value *after* i
    updates (``i = 0``: at initialisation); ``pl_ratio`` is indexed by ``i = 0..steps-1``."""

    net: ResNet                       # the trained network (a copy; the input network is untouched)
    eta: float                        # step size (gradient-flow time per step)
    L_factor: bool                    # whether the residual weights' step was multiplied by L
    losses: np.ndarray                # (steps + 1,)
    max_gap: np.ndarray               # (steps + 1,) max_k ||Z_{k+1} - Z_k||_F
    sum_sq_gap_V: np.ndarray          # (steps + 1,) sum_k ||V_{k+1} - V_k||_F^2
    sum_sq_gap_W: np.ndarray          # (steps + 1,) sum_k ||W_{k+1} - W_k||_F^2
    pl_ratio: np.ndarray | None       # (steps,) or None
    snapshots: dict = field(default_factory=dict)   # step -> {"V": ..., "W": ..., "A": ..., "B": ...}
    wall_time: float = 0.0            # seconds
    train_AB: bool = False            # whether A and B were trained (no factor L on them)
    float32_steps: int = 0            # steps 0..float32_steps-1 ran in float32 (the precision scheme of train)

    @property
    def steps(self) -> int:
        return len(self.losses) - 1

    @property
    def t(self) -> np.ndarray:
        """Gradient-flow time of each recorded step, ``i * eta``."""
        return np.arange(self.steps + 1) * self.eta

    def max_gap_up_to(self, step: int) -> float:
        """``max_{k, i <= step} ||Z_{k+1}(i) - Z_k(i)||_F`` -- the quantity of Fig. 1 (left) at horizon T = step * eta."""
        return float(self.max_gap[: step + 1].max())

    def script_metric(self, step: int) -> float:
        """The reference script's aggregate ``max(sqrt(sum_{i<step} sum_k ||dV_k||^2), same for W)``:
        a root-sum-of-squares over layers and steps, which scales like L^{-1/2}, not L^{-1}."""
        return float(max(math.sqrt(self.sum_sq_gap_V[:step].sum()), math.sqrt(self.sum_sq_gap_W[:step].sum())))


def _layer_gaps(T: torch.Tensor, buffer: torch.Tensor) -> torch.Tensor:
    """``||T_{k+1} - T_k||_F`` for k = 1..L-1, shape (L-1,); ``buffer`` (L-1, ...) receives the differences
    (one allocation per run instead of one per step)."""
    return torch.linalg.vector_norm(torch.sub(T[1:], T[:-1], out=buffer), dim=(1, 2))


def train(net: ResNet, x: torch.Tensor, y: torch.Tensor, *, steps: int, eta: float, normalization: str,
          L_factor: bool = True, train_AB: bool | None = None, clip: float | None = None,
          snapshot_steps=(), snapshot_layers=None, freeze=(), record_pl: bool = False,
          divergence_factor: float = 1e4, float32_steps: int = 0,
          progress: bool | None = None, threads: int | None = "auto") -> TrainRecord:
    """Train ``net`` by full-batch gradient descent on the depth-rescaled flow, eq. (4).

    Parameters
    ----------
    net : the ResNet to start from (not modified; the trained copy is ``record.net``).
    x, y : data, shapes (n, d) and (n, d'), same dtype as the network.
    steps : number of gradient steps.
    eta : step size = gradient-flow time per step. The residual weights move by ``eta * L * grad``
        (``L_factor=True``, the paper's flow) or ``eta * grad`` (``L_factor=False``, to show why the
        factor is needed). The reference scripts' ``lr = L * 0.01`` is ``eta = 0.01``.
    normalization : ``"n"`` (paper's loss) or ``"nd"`` (scripts' loss); see :func:`helpers.mse_loss`.
    train_AB : train A and B (no factor L); default: when the network has them.
    clip : if set, coordinate clipping of each right-hand side at this level (clipped flow, eq. (5)).
    snapshot_steps : steps after which to keep a copy of the weights (e.g. ``[0, 10, 50]``).
    snapshot_layers : 0-based layer indices to keep in each snapshot of ``V`` and ``W`` (default: all);
        e.g. the rows a shallower network is compared with, to keep snapshots of a very deep
        reference network small.
    freeze : names of weights not to train, among ``"V"`` and ``"W"`` (e.g. ``("V",)``).
    record_pl : record the PL ratio of Def. 1 at every step.
    divergence_factor : stop with :class:`TrainingDivergedError` when the loss exceeds this multiple
        of its initial value (or becomes NaN/inf).
    float32_steps : a precision scheme for long float64 runs (notebook 08, Fig. 2): the first
        ``float32_steps`` steps run in float32 (1.6 to 2 times faster per step, measured), on the data
        rounded to float32; then the weights are converted to float64 and training goes on in float64.
        Not guaranteed to give float64's result: the float64 phase keeps the small deviation the float32
        phase accumulated (it stops its growth as the loss gets small). Measured on Fig. 2's run, 40 000 of
        80 000 steps in float32 end 0.17% from float64's final loss. What the first phase records (losses,
        gaps, PL ratios, snapshots) is computed in float32 and stored as float64. Needs a float64 network;
        0 (default): off.
    progress : progress bar (``tqdm.auto``); ``None`` shows it when the run is predicted to take over ~2 s;
        never when ``COURSE_PROGRESS=0`` (tests, batch re-execution).
    threads : intra-op threads during the run; ``"auto"`` picks 1 for small layers (fastest), ``None``
        keeps torch's setting.

    Returns a :class:`TrainRecord`.

    Example
    -------
    >>> rec = train(net, x, y, steps=50, eta=0.01, normalization="nd", snapshot_steps=[0, 50])
    >>> rec.losses[-1] < rec.losses[0]
    True
    """
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    steps = check_arg.positive_int("steps", steps, minimum=0)
    eta = check_arg.positive_float("eta", eta)
    if clip is not None:
        clip = check_arg.positive_float("clip", clip)
    divergence_factor = check_arg.positive_float("divergence_factor", divergence_factor)
    snapshot_steps = sorted({check_arg.positive_int("snapshot_steps entry", s, minimum=0) for s in snapshot_steps})
    if snapshot_steps and snapshot_steps[-1] > steps:
        raise ValueError(f"snapshot_steps must lie in 0..steps = {steps}, got {snapshot_steps[-1]}")
    if isinstance(freeze, str) or not set(freeze) <= {"V", "W"}:
        raise ValueError(f"freeze must be a tuple of names among 'V' and 'W', got {freeze!r}")
    float32_steps = check_arg.positive_int("float32_steps", float32_steps, minimum=0)
    if float32_steps > steps:
        raise ValueError(f"float32_steps must lie in 0..steps = {steps}, got {float32_steps}")
    if float32_steps and net.dtype != torch.float64:
        raise ValueError(f"float32_steps needs a float64 network (it switches from float32 to float64), "
                         f"got a {net.dtype} network; leave float32_steps = 0")
    if snapshot_layers is not None:
        snapshot_layers = torch.as_tensor(list(snapshot_layers), dtype=torch.long)
        if snapshot_layers.numel() == 0 or int(snapshot_layers.min()) < 0 or int(snapshot_layers.max()) >= net.L:
            raise ValueError(f"snapshot_layers must be non-empty indices in 0..L-1 = {net.L - 1}, "
                             f"got {snapshot_layers.tolist()}")
    has_AB = net.A is not None or net.B is not None
    train_AB = has_AB if train_AB is None else bool(train_AB)
    if train_AB and not has_AB:
        raise ValueError("train_AB=True but the network has no maps A, B (simplified form, A = B = I)")

    net = net.clone()
    ws = ws_net = AdjointWorkspace(net, x, y, normalization)   # validates x, y and the normalisation
    run = net          # the network being trained: a float32 copy during the first float32_steps steps
    if float32_steps:
        run = net.to(torch.float32)
        ws = AdjointWorkspace(run, x.float(), y.float(), normalization)

    def to_float64() -> None:      # the precision switch: go on in float64 from the float32 weights
        nonlocal run, ws
        for k in ("V", "W", "A", "B"):
            if getattr(net, k) is not None:
                getattr(net, k).copy_(getattr(run, k))
        run, ws = net, ws_net

    if threads == "auto":
        threads = auto_threads(net, x.shape[0])
    step_Z = eta * net.L if L_factor else eta

    losses = np.empty(steps + 1)
    gaps = torch.empty(steps + 1, 3, dtype=torch.float64)   # max gap, sum sq V, sum sq W
    pl = np.empty(steps) if record_pl else None
    snapshots = {}

    diffs = {}         # dtype -> buffers for the layer differences of V and W

    def measure(i: int) -> None:
        if net.L > 1:
            if run.dtype not in diffs:
                diffs[run.dtype] = [w.new_empty(net.L - 1, *w.shape[1:]) for w in (run.V, run.W)]
            diff_V, diff_W = diffs[run.dtype]
            gV, gW = _layer_gaps(run.V, diff_V), _layer_gaps(run.W, diff_W)
            gaps[i, 0] = (gV + gW).max()
            gaps[i, 1] = gV.dot(gV)
            gaps[i, 2] = gW.dot(gW)
        else:
            gaps[i] = 0.0
        if i in snapshot_steps:
            snap = {k: getattr(run, k).detach().cpu().to(net.dtype, copy=True)
                    for k in ("A", "B") if getattr(run, k) is not None}
            for k in ("V", "W"):
                w = getattr(run, k).detach()
                w = w if snapshot_layers is None else w[snapshot_layers.to(w.device)]
                snap[k] = w.cpu().to(net.dtype, copy=True)
            snapshots[i] = snap

    def check_loss(i: int, loss: float) -> None:
        if not math.isfinite(loss) or (i > 0 and loss > divergence_factor * max(losses[0], 1e-300)):
            raise TrainingDivergedError(
                f"training diverged at step {i} (t = {i * eta:g}): loss = {loss:.3g}, initial loss = "
                f"{losses[0]:.3g}. The step eta = {eta:g} is too large for this network "
                f"(effective step on the residual weights: {step_Z:g}); try eta = {eta / 10:g}.")

    bar = None
    show = progress_allowed(progress)
    start = time.perf_counter()
    try:
        with num_threads(threads), torch.no_grad():
            for i in range(steps):
                if run is not net and i == float32_steps:
                    to_float64()
                loss = ws.forward()
                check_loss(i, loss)
                losses[i] = loss
                measure(i)
                grads = ws.backward(with_AB=train_AB)
                if record_pl:
                    pl[i] = grads.pl_numerator(net.L, include_AB=train_AB) / max(loss, 1e-300)
                updates = [(w, g, step_Z) for name, w, g in (("V", run.V, grads.V), ("W", run.W, grads.W))
                           if name not in freeze]
                if train_AB:
                    updates += [(run.A, grads.A, eta), (run.B, grads.B, eta)]
                for weight, grad, step in updates:
                    if grad is None:
                        continue
                    if clip is not None:
                        # pi(-L grad) with coordinate clipping, then an Euler step of length eta
                        grad.mul_(step / eta).clamp_(-clip, clip)
                        weight.add_(grad, alpha=-eta)
                    else:
                        weight.add_(grad, alpha=-step)
                if bar is None and show:
                    elapsed = time.perf_counter() - start
                    if progress or (i >= 2 and elapsed * steps / (i + 1) > 2.0):
                        bar = progress_bar(steps, f"training L={net.L}", initial=i + 1)
                elif bar is not None:
                    bar.update(1)
            if run is not net:                                  # float32_steps == steps
                to_float64()
            losses[steps] = ws.forward()
            check_loss(steps, losses[steps])
            measure(steps)
    finally:
        if bar is not None:     # also on an interrupt or a divergence: no bar is left open
            bar.close()
    gaps = gaps.numpy()
    return TrainRecord(net=net, eta=eta, L_factor=L_factor, losses=losses, max_gap=gaps[:, 0].copy(),
                       sum_sq_gap_V=gaps[:, 1].copy(), sum_sq_gap_W=gaps[:, 2].copy(), pl_ratio=pl,
                       snapshots=snapshots, wall_time=time.perf_counter() - start, train_AB=train_AB,
                       float32_steps=float32_steps)
