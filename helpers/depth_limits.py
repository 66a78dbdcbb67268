"""Large-depth limits of a ResNet at initialisation (course notebook 02).

A ResNet of depth L with residual scaling ``a_L`` (the paper's eq. (3) has a_L = 1/L)::

    h_0 = x,   h_{k+1} = h_k + a_L (1/sqrt(m)) V_{k+1} sigma(W_{k+1} h_k / sqrt(q)),   F^L(x) = h_L

(here A = B = I and q = d = d'). With a_L = 1/L and ``V_k = V(k/L)``, ``W_k = W(k/L)`` for Lipschitz
functions V, W it is an Euler scheme with step 1/L of the neural ODE (6) -- the step from s = k/L to
(k+1)/L takes the state at its left end, h_k, but the weights at its right end, s = (k+1)/L (the explicit
Euler scheme would take them at s = k/L); the two differ by O(1/L) per unit of depth -- and
``sup_x ||F(x) - F^L(x)|| <= C/L`` (Prop. 2 of Marion, Wu, Sander & Biau, 2024). This module measures
that error, and the four corners (weights across depth x scaling) of Marion, Fermanian, Biau & Vert
(*Scaling ResNets in the large-depth regime*, arXiv:2206.06929):

=============  ==========  ============  =====================================================
name           weights     scaling a_L   as L -> infinity
=============  ==========  ============  =====================================================
"identity"     i.i.d.      1/L           residual branch vanishes: F^L(x) -> x
"SDE-like"     i.i.d.      1/sqrt(L)     O(1) random updates: an SDE limit, in distribution
"ODE"          smooth      1/L           the neural ODE (6), error O(1/L) (Prop. 2)
"explosion"    smooth      1/sqrt(L)     the ODE's field times sqrt(L): ||h_L - h_0|| grows
=============  ==========  ============  =====================================================

The scaling 1/sqrt(L) is implemented, as in :func:`helpers.init_weights`, by multiplying the outer
weights V by sqrt(L) inside a 1/L network: ``(1/L) (sqrt(L) V) = (1/sqrt(L)) V``.

Tensors: inputs ``x`` of shape (n, q); weights ``V`` (L, q, m), ``W`` (L, m, q); hidden states (L+1, n, q).
The computations run on one intra-op thread (:func:`helpers.num_threads`): the tensors are tiny (16 x 32),
and a second thread only adds synchronisation, which on a busy 2-core machine made a forward pass 10-500x
slower. matplotlib is imported inside the figure functions only.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import torch

from . import _validation as check_arg
from .init import KINDS, SCALINGS, init_weights, smooth_weight_functions
from .ode import NeuralODE
from .resnet import ResNet
from .train import num_threads

REGIMES = {
    "identity": ("iid", "1/L"),
    "SDE-like": ("iid", "1/sqrt(L)"),
    "ODE": ("smooth", "1/L"),
    "explosion": ("smooth", "1/sqrt(L)"),
}
"""The four (weights across depth, scaling) pairs, by name."""


# -- argument checks --------------------------------------------------------------------------------
def _depths(depths) -> list:
    try:
        depths = [check_arg.positive_int("each depth", L) for L in depths]
    except TypeError as err:
        if "each depth" in str(err):
            raise
        raise TypeError(f"depths must be a list of positive integers, got {depths!r}") from None
    if len(depths) < 2 or any(b <= a for a, b in zip(depths, depths[1:])):
        raise ValueError(f"depths must hold at least 2 strictly increasing depths, got {depths}")
    return depths


def _seeds(seeds) -> list:
    if isinstance(seeds, numbers.Integral):
        seeds = [seeds]
    try:
        seeds = list(seeds)
    except TypeError:
        raise TypeError(f"seeds must be an integer >= 0 or a list of them, got {seeds!r} of type "
                        f"{type(seeds).__name__}") from None
    seeds = [check_arg.positive_int("each seed", s, minimum=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    return seeds


def _x(x) -> torch.Tensor:
    check_arg.tensor("x", x, ndim=2)
    if x.dtype != torch.float64:
        raise TypeError(f"x must be float64 (errors here go far below 1e-6), got {x.dtype}; use x.double()")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"x must hold at least one sample of at least one coordinate, got shape {tuple(x.shape)}")
    if x.device.type != "cpu":
        raise ValueError(f"x must be on the CPU (the weights here are built there), got device {x.device}")
    return x


def _s_eval(s_eval) -> list:
    values = np.asarray(s_eval, dtype=float) if not isinstance(s_eval, torch.Tensor) else \
        s_eval.detach().cpu().double().numpy()
    if values.ndim != 1:
        raise TypeError(f"s_eval must be a 1-D sequence of depths, e.g. numpy.linspace(0, 1, 101), got {s_eval!r}")
    s_eval = [float(s) for s in values]
    if (len(s_eval) < 2 or s_eval[0] != 0.0 or not all(math.isfinite(s) for s in s_eval)
            or any(b <= a for a, b in zip(s_eval, s_eval[1:]))):
        raise ValueError("s_eval must be increasing, finite depths starting at 0, e.g. numpy.linspace(0, 1, 101); "
                         f"got {s_eval[:6]}{' ...' if len(s_eval) > 6 else ''}")
    return s_eval


# -- the models -------------------------------------------------------------------------------------
def regime_weights(L: int, q: int, m: int, *, kind: str, scaling: str, seed: int, n_modes: int = 4):
    """Residual weights ``V`` (L, q, m) and ``W`` (L, m, q) of one (weights, scaling) pair, float64.

    ``kind``: ``"smooth"``, ``"tied"`` or ``"iid"`` (as :func:`helpers.init_weights`);
    ``scaling``: ``"1/L"`` or ``"1/sqrt(L)"`` -- the latter multiplies V by sqrt(L), for every kind
    (``init_weights`` allows it for i.i.d. weights only; the smooth case is the "explosion" corner).

    Example: ``V, W = regime_weights(64, 16, 32, kind="smooth", scaling="1/sqrt(L)", seed=0)``.
    """
    check_arg.choice("kind", kind, KINDS)
    check_arg.choice("scaling", scaling, SCALINGS)
    V, W = init_weights(L, q, m, kind=kind, seed=seed, n_modes=n_modes)
    if scaling == "1/sqrt(L)":
        V = V * math.sqrt(L)
    return V, W


def make_resnet(V: torch.Tensor, W: torch.Tensor, activation: str = "tanh") -> ResNet:
    """The ResNet of eq. (3) with the paper's factors 1/(L sqrt(m)) and 1/sqrt(q), and A = B = I."""
    return ResNet(V, W, activation=activation, normalized=True)


def make_ode(q: int, m: int, *, seed: int, activation: str = "tanh", n_modes: int = 4) -> NeuralODE:
    """The neural ODE (6) ``dH/ds = (1/sqrt(m)) V(s) sigma(W(s) H / sqrt(q))``, A = B = I, driven by the
    smooth functions that ``init_weights(kind="smooth", seed=seed)`` samples at s = k/L."""
    return NeuralODE(smooth_weight_functions(q, m, seed=seed, n_modes=n_modes), activation=activation,
                     normalized=True)


# -- Prop. 2: the ResNet -> ODE error ---------------------------------------------------------------
@dataclass
class ODEErrorSweep:
    """Result of :func:`resnet_to_ode_errors`: ``errors[j] = max_i ||F(x_i) - F^{L_j}(x_i)||``."""

    depths: list
    errors: np.ndarray
    ode_output: torch.Tensor      # F(x), (n, q)
    outputs: dict                 # L -> F^L(x), (n, q)


def resnet_to_ode_errors(x: torch.Tensor, depths, *, m: int, seed: int, activation: str = "tanh",
                         n_modes: int = 4, rtol: float = 1e-10, atol: float = 1e-10) -> ODEErrorSweep:
    """Prop. 2 measured: ``max_i ||F(x_i) - F^L(x_i)||`` for each depth L, where F^L is the ResNet with
    smooth weights ``V_k = V(k/L)``, ``W_k = W(k/L)`` and F the solution of its neural ODE (6), computed by
    torchdiffeq's adaptive Dormand--Prince solver with tolerances ``rtol``, ``atol`` (far below the errors).

    ``x``: (n, q) float64. Example::

        x, _ = gaussian_data(32, 16, seed=0)
        sweep = resnet_to_ode_errors(x, [8, 16, 32, 64], m=32, seed=0)   # errors ~ C / L
    """
    x, depths = _x(x), _depths(depths)
    m = check_arg.positive_int("m", m)
    rtol, atol = check_arg.positive_float("rtol", rtol), check_arg.positive_float("atol", atol)
    q = x.shape[1]
    with torch.no_grad(), num_threads(1):
        ode_out = make_ode(q, m, seed=seed, activation=activation, n_modes=n_modes).solve(
            x, method="dopri5", rtol=rtol, atol=atol)
        outputs = {L: make_resnet(*regime_weights(L, q, m, kind="smooth", scaling="1/L", seed=seed,
                                                  n_modes=n_modes), activation)(x) for L in depths}
        errors = np.array([float((outputs[L] - ode_out).norm(dim=1).max()) for L in depths])
    return ODEErrorSweep(depths=depths, errors=errors, ode_output=ode_out, outputs=outputs)


# -- hidden-state trajectories ----------------------------------------------------------------------
def resnet_states(x: torch.Tensor, L: int, *, m: int, seed: int, kind: str = "smooth", scaling: str = "1/L",
                  activation: str = "tanh", n_modes: int = 4) -> torch.Tensor:
    """Hidden states ``h_0..h_L`` of shape (L+1, n, q) of the ResNet of one (weights, scaling) pair;
    ``h_k`` sits at depth s = k/L."""
    x = _x(x)
    with torch.no_grad(), num_threads(1):
        V, W = regime_weights(L, x.shape[1], check_arg.positive_int("m", m), kind=kind, scaling=scaling,
                              seed=seed, n_modes=n_modes)
        return make_resnet(V, W, activation)(x, return_states=True)[1]


def ode_path(x: torch.Tensor, s_eval, *, m: int, seed: int, activation: str = "tanh", n_modes: int = 4,
             rtol: float = 1e-10, atol: float = 1e-10) -> torch.Tensor:
    """The solution ``H(s)`` of the neural ODE (6) at the depths ``s_eval`` (increasing, from 0), shape
    (len(s_eval), n, q) -- the curve the hidden states of the smooth ResNets follow."""
    x = _x(x)
    s_eval = _s_eval(s_eval)
    rtol, atol = check_arg.positive_float("rtol", rtol), check_arg.positive_float("atol", atol)
    with torch.no_grad(), num_threads(1):
        return make_ode(x.shape[1], check_arg.positive_int("m", m), seed=seed, activation=activation,
                        n_modes=n_modes).solve(x, s_eval=s_eval, rtol=rtol, atol=atol, return_path=True)


# -- the four corners -------------------------------------------------------------------------------
@dataclass
class RegimeSweep:
    """Result of :func:`regime_sweep` for one (weights, scaling) pair.

    ``displacement[j]``: mean over seeds and samples of ``||h_L - h_0|| / ||h_0||`` at depth ``depths[j]``;
    ``gaps[j]``: mean of ``||F^{L_{j+1}}(x) - F^{L_j}(x)|| / ||x||`` (consecutive depths, same seed). The
    gaps measure *pathwise* convergence under this coupling, in which the weights of different depths are
    independent draws (i.i.d. kinds) or samples of the same functions (smooth kind): a sequence with a
    pathwise limit has gaps -> 0. The SDE-like corner (i.i.d., 1/sqrt(L)) has a limit in *distribution*
    only, so its gaps stay O(1) while the law of F^L(x) settles; ``spread`` measures that law.
    ``outputs``: (len(depths), len(seeds), n, q).
    ``spread[j]``: standard deviation over the seeds of ``F^{L_j}(x)``, averaged over samples and
    coordinates -- a distributional statistic, which settles as L grows wherever the law of F^L(x) has a
    limit (every corner but "explosion"); NaN with a single seed.
    """

    kind: str
    scaling: str
    depths: list
    displacement: np.ndarray
    gaps: np.ndarray
    outputs: torch.Tensor
    spread: np.ndarray = field(default=None, repr=False)


def regime_sweep(x: torch.Tensor, depths, *, kind: str, scaling: str, m: int, seeds=(0,),
                 activation: str = "tanh", n_modes: int = 4) -> RegimeSweep:
    """``||h_L - h_0|| / ||h_0||``, the (pathwise) gaps between consecutive depths and the spread over
    seeds, against L, for one pair (see :class:`RegimeSweep`). Every row of ``x`` must be non-zero.

    Example: ``regime_sweep(x, [4, 16, 64], kind="iid", scaling="1/L", m=32, seeds=range(4))``
    (displacement ~ L^{-1/2}: the identity corner).
    """
    x, depths, seeds = _x(x), _depths(depths), _seeds(seeds)
    check_arg.choice("kind", kind, KINDS)
    check_arg.choice("scaling", scaling, SCALINGS)
    zero_rows = (x.norm(dim=1) == 0).nonzero().flatten().tolist()
    if zero_rows:
        raise ValueError(f"x has {len(zero_rows)} row(s) of norm 0 (rows {zero_rows[:5]}): the relative "
                         "displacement ||h_L - h_0|| / ||h_0|| is undefined there; drop them")
    q = x.shape[1]
    m = check_arg.positive_int("m", m)
    with torch.no_grad(), num_threads(1):
        outputs = torch.stack([torch.stack([
            make_resnet(*regime_weights(L, q, m, kind=kind, scaling=scaling, seed=s, n_modes=n_modes),
                        activation)(x) for s in seeds]) for L in depths])
        norm_x = x.norm(dim=1)
        displacement = ((outputs - x).norm(dim=-1) / norm_x).mean(dim=(1, 2)).numpy()
        gaps = ((outputs[1:] - outputs[:-1]).norm(dim=-1) / norm_x).mean(dim=(1, 2)).numpy()
        spread = (outputs.std(dim=1).mean(dim=(1, 2)).numpy() if len(seeds) > 1
                  else np.full(len(depths), np.nan))
    return RegimeSweep(kind=kind, scaling=scaling, depths=depths, displacement=displacement, gaps=gaps,
                       outputs=outputs, spread=spread)


# -- figures ----------------------------------------------------------------------------------------
def plot_weights_vs_depth(ax, tables: dict, *, entry=(0, 0), title: str = "", ylabel: str = r"$(W_k)_{11}$"):
    """One coefficient of weight tables ``{L: tensor (L, a, b)}`` against s = k/L, one curve per depth
    (light = shallow, dark = deep). Smooth weights fall on one curve; i.i.d. ones do not.
    (:func:`helpers.plot_weights_against_s` with the axes first and this module's default label.)"""
    if not tables:
        raise ValueError("tables is empty: give {L: weight tensor of shape (L, a, b)}")
    from .plotting import plot_weights_against_s

    return plot_weights_against_s(tables, entry=entry, ax=ax, ylabel=ylabel, title=title or None)


def _index(name: str, value, size: int, what: str) -> int:
    value = check_arg.positive_int(name, value, minimum=0)
    if value >= size:
        raise ValueError(f"{name} must be an index < {size} (the number of {what}), got {value}")
    return value


def plot_hidden_states(ax, s_ode, H_ode, states: dict, *, sample: int = 0, coord: int = 0):
    """Coordinate ``coord`` of the hidden state of input ``sample``: the ODE solution ``H_ode``
    (len(s_ode), n, q) as a line, the ResNets' ``states`` ``{L: (L+1, n, q)}`` as markers at s = k/L."""
    if not isinstance(H_ode, torch.Tensor) or H_ode.ndim != 3:
        raise ValueError(f"H_ode must be a tensor of shape (len(s_ode), n, q) (from ode_path), got "
                         f"{tuple(H_ode.shape) if isinstance(H_ode, torch.Tensor) else type(H_ode).__name__}")
    if len(s_ode) != H_ode.shape[0]:
        raise ValueError(f"s_ode must have one depth per row of H_ode ({H_ode.shape[0]}), got {len(s_ode)}")
    sample = _index("sample", sample, H_ode.shape[1], "inputs in H_ode")
    coord = _index("coord", coord, H_ode.shape[2], "coordinates in H_ode")
    for L, h in states.items():
        if not isinstance(h, torch.Tensor) or tuple(h.shape) != (L + 1, *H_ode.shape[1:]):
            raise ValueError(f"states[{L}] must have shape {(L + 1, *H_ode.shape[1:])} (h_0..h_L, like H_ode), got "
                             f"{tuple(h.shape) if isinstance(h, torch.Tensor) else type(h).__name__}")
    from .plotting import COLORS, depth_colors

    ax.plot(np.asarray(s_ode), H_ode[:, sample, coord].cpu().numpy(), color=COLORS["ode"], lw=2.5,
            label="neural ODE $H(s)$", zorder=1)
    for (L, h), color in zip(sorted(states.items()), depth_colors(sorted(states))):
        ax.plot(np.arange(L + 1) / L, h[:, sample, coord].cpu().numpy(), "o-" if L <= 16 else "-",
                color=color, ms=4, lw=1, label=f"ResNet $h_k$, L = {L}", zorder=2)
    ax.set(xlabel="depth $s = k/L$", ylabel=f"$h$, coordinate {coord + 1}")
    ax.legend()
    return ax


def plot_output_across_depth(ax, sweeps: dict, *, sample: int = 0, coord: int = 0, seed_index: int = 0):
    """One output coordinate ``F^L(x)`` against L for several :class:`RegimeSweep` (log axis in L),
    coloured by the kind of weights (``helpers.COLORS``)."""
    from .plotting import COLORS

    for name, sw in sweeps.items():
        color = COLORS.get(sw.kind, COLORS["iid"])
        style = "o-" if sw.scaling == "1/L" else "s--"
        ax.semilogx(sw.depths, sw.outputs[:, seed_index, sample, coord].numpy(), style, color=color,
                    label=f"{name} ({sw.kind}, {sw.scaling})")
    ax.set(xlabel="depth $L$", ylabel=f"$F^L(x)$, coordinate {coord + 1}")
    ax.legend()
    return ax
