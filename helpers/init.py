"""Initialisations of the residual weights across depth (the paper's Sections 3 and 4.3; notebooks 02 and 04).

* ``"tied"``   -- every layer the same matrix: ``W_k = W ~ N(0, 1)`` (the theory's initialisation);
* ``"smooth"`` -- ``V_k = V(k/L)``, ``W_k = W(k/L)`` for a random smooth function of depth s in [0, 1]
  (a few Fourier modes with decaying amplitudes). The function is drawn from the seed alone, **not**
  from L, so networks of different depths discretize the *same* function;
* ``"iid"``    -- every entry of every layer independent N(0, 1).

``V`` may instead start at zero (``V="zero"``, the theory's choice: the network starts as the identity
map). With ``scaling="1/sqrt(L)"`` the outer weights are multiplied by sqrt(L), so that the residual
branch ``(1/L) V_k`` is effectively ``(1/sqrt(L)) N(0, 1)`` -- the scaling under which i.i.d. weights have a
non-trivial (stochastic) limit (Marion et al., JMLR 2025).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from . import _validation as check_arg

KINDS = ("tied", "smooth", "iid")
SCALINGS = ("1/L", "1/sqrt(L)")


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(check_arg.positive_int("seed", seed, minimum=0))


def smooth_function(shape: tuple, seed: int, n_modes: int = 4, dtype=torch.float64) -> Callable:
    """A random smooth function ``s -> tensor of `shape```, s in [0, 1].

    ``f(s) = a_0 + sum_{j=1}^{J} (a_j cos(pi j s) + b_j sin(pi j s)) / j`` with independent standard
    Gaussian coefficients, normalised so each entry has variance 1 on average over s. Its derivative
    is bounded (Lipschitz in s), as Prop. 2 and Prop. 3 require.

    Example: ``f = smooth_function((4, 6), seed=0); f(0.5).shape == (4, 6)``.
    """
    n_modes = check_arg.positive_int("n_modes", n_modes, minimum=0)
    gen = _generator(seed)
    coef = torch.randn((2 * n_modes + 1, *shape), generator=gen, dtype=torch.float64)
    j = torch.arange(1, n_modes + 1, dtype=torch.float64)
    # variance of a_0 + sum (a_j cos + b_j sin)/j is 1 + sum 1/j^2 exactly (cos^2 + sin^2 = 1); rescale to 1
    amplitude = torch.cat([torch.ones(1), 1.0 / j, 1.0 / j]) / math.sqrt(1.0 + float((1.0 / j**2).sum()))

    def f(s) -> torch.Tensor:
        s = torch.as_tensor(s, dtype=torch.float64)
        basis = torch.cat([torch.ones_like(s)[..., None], torch.cos(math.pi * s[..., None] * j),
                           torch.sin(math.pi * s[..., None] * j)], dim=-1) * amplitude
        return torch.tensordot(basis, coef, dims=1).to(dtype)

    return f


def init_weights(L: int, q: int, m: int, *, kind: str, seed: int, V: str = "same", scaling: str = "1/L",
                 n_modes: int = 4, dtype=torch.float64, device=None):
    """Residual weights ``V`` of shape ``(L, q, m)`` and ``W`` of shape ``(L, m, q)``.

    Parameters
    ----------
    L, q, m : depth, hidden dimension, width.
    kind : ``"tied"``, ``"smooth"`` or ``"iid"`` (see the module docstring).
    seed : the random seed (an explicit integer: results never depend on global random state).
    V : ``"same"`` (V drawn like W) or ``"zero"`` (V_k = 0, the theory's initialisation).
    scaling : ``"1/L"`` (default) or ``"1/sqrt(L)"`` (outer weights times sqrt(L), so that the residual
        branch is effectively scaled by 1/sqrt(L): the SDE-like regime for i.i.d. weights, the explosion
        regime for smooth or tied ones -- notebook 02).
    n_modes : number of Fourier modes of the smooth functions (``kind="smooth"``).

    Layer k = 1..L (tensor index k-1) sits at depth s = k / L.

    Example
    -------
    >>> V, W = init_weights(64, 16, 32, kind="tied", V="zero", seed=0)
    >>> V.shape, W.shape
    (torch.Size([64, 16, 32]), torch.Size([64, 32, 16]))
    """
    L = check_arg.positive_int("L", L)
    q = check_arg.positive_int("q", q)
    m = check_arg.positive_int("m", m)
    check_arg.choice("kind", kind, KINDS)
    check_arg.choice("V", V, ("same", "zero"))
    check_arg.choice("scaling", scaling, SCALINGS)
    check_arg.float_dtype("dtype", dtype)
    seed = check_arg.positive_int("seed", seed, minimum=0)
    if kind == "smooth":
        s = torch.arange(1, L + 1, dtype=torch.float64) / L
        Vw = smooth_function((q, m), seed=seed, n_modes=n_modes)(s)
        Ww = smooth_function((m, q), seed=seed + 1_000_003, n_modes=n_modes)(s)
    else:
        gen = _generator(seed)
        if kind == "tied":
            Vw = torch.randn(q, m, generator=gen, dtype=torch.float64).expand(L, q, m).clone()
            Ww = torch.randn(m, q, generator=gen, dtype=torch.float64).expand(L, m, q).clone()
        else:
            Vw = torch.randn(L, q, m, generator=gen, dtype=torch.float64)
            Ww = torch.randn(L, m, q, generator=gen, dtype=torch.float64)
    if scaling == "1/sqrt(L)":
        Vw = Vw * math.sqrt(L)
    if V == "zero":
        Vw = torch.zeros_like(Vw)
    return Vw.to(dtype=dtype, device=device), Ww.to(dtype=dtype, device=device)


def smooth_weight_functions(q: int, m: int, *, seed: int, n_modes: int = 4, dtype=torch.float64):
    """The functions ``s -> V(s)`` (q, m) and ``s -> W(s)`` (m, q) that ``init_weights(kind="smooth", seed=seed)``
    samples at s = k/L: the neural ODE of eq. (6) that those ResNets discretize."""
    q = check_arg.positive_int("q", q)
    m = check_arg.positive_int("m", m)
    seed = check_arg.positive_int("seed", seed, minimum=0)
    return (smooth_function((q, m), seed=seed, n_modes=n_modes, dtype=dtype),
            smooth_function((m, q), seed=seed + 1_000_003, n_modes=n_modes, dtype=dtype))
