"""The PL condition of Def. 1 and Prop. 5: Hermite coefficients of sigma and the constants of Prop. 5's proof
(Marion, Wu, Sander & Biau, ICLR 2024, Section 4.2; proof in Appendix 8.5).

* :func:`hermite_coefficients` (:class:`HermiteExpansion`) -- the coefficients eta_r(sigma) of Appendix 8, by
  Gauss--Hermite quadrature;
* :func:`prop5_constants` -- c_1..c_4 of Appendix 8.5 from a non-zero eta_r and the Lipschitz constant of sigma.

Notebook 07 derives both (its eqs. (7.6) and (7.8)); notebook 08 uses them for Thm. 6's conditions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numpy.polynomial import hermite_e

from . import _validation as check_arg
from .activations import get_activation


@dataclass
class HermiteExpansion:
    """``coefficients[r] = eta_r(sigma) = E[sigma(Z) h_r(Z)]``, Z ~ N(0, 1), with the normalised probabilists'
    Hermite polynomials ``h_r = He_r / sqrt(r!)`` (orthonormal for the Gaussian weight, Appendix 8), and
    ``second_moment = E[sigma(Z)^2]``, which equals ``sum_r eta_r^2`` (Parseval)."""

    activation: str
    coefficients: np.ndarray
    second_moment: float

    def first_nonzero(self, min_order: int = 2, tol: float = 1e-10) -> int:
        """The smallest order r >= ``min_order`` with ``|eta_r| > tol`` (ValueError if none up to r_max)."""
        min_order = check_arg.positive_int("min_order", min_order, minimum=0)
        for r in range(min_order, len(self.coefficients)):
            if abs(self.coefficients[r]) > tol:
                return r
        raise ValueError(f"no Hermite coefficient of order >= {min_order} above {tol} up to r_max = "
                         f"{len(self.coefficients) - 1} for {self.activation!r}")


def hermite_coefficients(activation: str, r_max: int = 12, n_nodes: int = 200) -> HermiteExpansion:
    """Hermite coefficients ``eta_0..eta_{r_max}`` (notebook 07, eq. (7.6)) of the course's activation
    ``activation`` (``"tanh"``, ``"gelu"``, ``"relu"``, ``"identity"``), by Gauss--Hermite quadrature with
    ``n_nodes`` nodes (``numpy.polynomial.hermite_e.hermegauss``, weight exp(-z^2/2)):

        eta_r(sigma) = (1/sqrt(2 pi)) int sigma(z) h_r(z) exp(-z^2/2) dz,   h_r = He_r / sqrt(r!).

    Accurate to ~1e-12 for smooth sigma (tanh, GELU) with the defaults; for ReLU (a kink at 0) only to a few
    digits. Raises ValueError/TypeError naming ``activation``, ``r_max`` or ``n_nodes``.

    Example: ``hermite_coefficients("tanh").first_nonzero(2) == 3`` (tanh is odd: its even coefficients vanish);
    ``hermite_coefficients("tanh").coefficients[1]`` is about 0.606.
    """
    sigma = get_activation(activation)
    r_max = check_arg.positive_int("r_max", r_max, minimum=0)
    n_nodes = check_arg.positive_int("n_nodes", n_nodes, minimum=r_max + 2)
    z, w = hermite_e.hermegauss(n_nodes)
    w = w / math.sqrt(2 * math.pi)
    values = sigma(torch.as_tensor(z, dtype=torch.float64)).numpy()
    coef = np.empty(r_max + 1)
    for r in range(r_max + 1):
        basis = np.zeros(r + 1)
        basis[r] = 1.0
        coef[r] = np.sum(w * values * hermite_e.hermeval(z, basis)) / math.sqrt(math.factorial(r))
    return HermiteExpansion(sigma.name, coef, float(np.sum(w * values**2)))


def prop5_constants(eta_r: float, K_sigma: float = 1.0) -> dict:
    """The constants of Prop. 5 as its proof gives them (Appendix 8.5; notebook 07, eq. (7.8)), for an activation
    with Lipschitz constant ``K_sigma`` and a non-zero Hermite coefficient ``eta_r`` of order r >= 2 (its absolute
    value is used):

        c_1 = max(2^10 K^2 e^{4 sqrt2 K} / eta_r^2, 1)      (width:  m >= c_1 n)
        c_2 = 128 K^2 e^{2 sqrt2 K} / eta_r                 (depth:  L >= c_2 sqrt(n q))
        c_3 = min(eta_r / (32 sqrt2 K), 1/2)                (radius: M  = c_3 / sqrt(n q))
        c_4 = eta_r^3 / (2^14 K^2 e^{6 sqrt2 K})            (PL:     mu = c_4 / (n sqrt(n) q))

    Returns ``{"c1": ..., "c2": ..., "c3": ..., "c4": ...}``. Raises ValueError naming ``eta_r`` or ``K_sigma``.

    Example: for tanh (K = 1, eta_3 = -0.148), ``prop5_constants(-0.148)["c1"]`` is about 1.3e7.
    """
    if isinstance(eta_r, bool) or not isinstance(eta_r, (int, float, np.floating)) or not math.isfinite(eta_r) \
            or eta_r == 0:
        raise ValueError(f"eta_r must be a non-zero finite Hermite coefficient, got {eta_r!r}")
    e, K = abs(float(eta_r)), check_arg.positive_float("K_sigma", K_sigma)
    s2 = math.sqrt(2.0)
    return {"c1": max(2**10 * K**2 * math.exp(4 * s2 * K) / e**2, 1.0),
            "c2": 128 * K**2 * math.exp(2 * s2 * K) / e,
            "c3": min(e / (32 * s2 * K), 0.5),
            "c4": e**3 / (2**14 * K**2 * math.exp(6 * s2 * K))}
