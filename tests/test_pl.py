"""helpers.pl: the Hermite coefficients of sigma (Appendix 8) and the constants of Prop. 5's proof (Appendix 8.5)."""
import math

import numpy as np
import pytest
from scipy import integrate

import helpers as H
from helpers.pl import HermiteExpansion


# -- Hermite coefficients --------------------------------------------------------------------------------------
def _eta_by_quad(f, r):
    """eta_r(f) by adaptive quadrature (scipy), with He_r from its three-term recurrence: independent of numpy's."""
    def he(z):
        a, b = 1.0, z
        if r == 0:
            return a
        for k in range(1, r):
            a, b = b, z * b - k * a
        return b
    val, _ = integrate.quad(lambda z: f(z) * he(z) * math.exp(-z * z / 2), -40, 40, limit=200)
    return val / math.sqrt(2 * math.pi) / math.sqrt(math.factorial(r))


def test_hermite_coefficients_match_adaptive_quadrature_and_closed_forms():
    tanh = H.hermite_coefficients("tanh", r_max=7)
    assert isinstance(tanh, HermiteExpansion) and tanh.activation == "tanh" and tanh.coefficients.shape == (8,)
    for r in range(8):
        assert abs(tanh.coefficients[r] - _eta_by_quad(math.tanh, r)) < 1e-9
    assert abs(tanh.coefficients[1] - 0.606) < 1e-3 and abs(tanh.coefficients[2]) < 1e-12     # tanh is odd
    gelu = H.hermite_coefficients("gelu", r_max=4).coefficients
    assert abs(gelu[0] - 1 / (2 * math.sqrt(math.pi))) < 1e-12          # E[Z Phi(Z)] = E[phi(Z)]
    assert abs(gelu[1] - 0.5) < 1e-12
    assert abs(gelu[2] - 3 / (4 * math.sqrt(2 * math.pi))) < 1e-12
    assert abs(gelu[3]) < 1e-12
    ident = H.hermite_coefficients("identity", r_max=5)                 # x = h_1(x)
    assert np.allclose(ident.coefficients, [0, 1, 0, 0, 0, 0], atol=1e-12) and abs(ident.second_moment - 1) < 1e-12
    assert abs(tanh.second_moment - integrate.quad(lambda z: math.tanh(z) ** 2 * math.exp(-z * z / 2), -40, 40)[0]
               / math.sqrt(2 * math.pi)) < 1e-10


def test_first_nonzero_order():
    assert H.hermite_coefficients("tanh").first_nonzero(2) == 3
    assert H.hermite_coefficients("gelu").first_nonzero(2) == 2
    assert H.hermite_coefficients("tanh").first_nonzero(0) == 1
    with pytest.raises(ValueError, match="no Hermite coefficient of order >= 2"):
        H.hermite_coefficients("identity").first_nonzero(2)


@pytest.mark.parametrize("kw, error, match", [
    (dict(activation="sigmoid"), ValueError, "activation"),
    (dict(r_max=-1), ValueError, "r_max"),
    (dict(r_max=10, n_nodes=5), ValueError, "n_nodes"),
    (dict(r_max=2.5), TypeError, "r_max"),
])
def test_hermite_coefficients_refuse_bad_arguments(kw, error, match):
    args = dict(activation="tanh") | kw
    with pytest.raises(error, match=match):
        H.hermite_coefficients(args.pop("activation"), **args)


# -- the constants of Prop. 5 -------------------------------------------------------------------------------
def test_prop5_constants_follow_the_appendix_formulas():
    e, K = 0.148, 1.0
    c = H.prop5_constants(-e, K_sigma=K)                 # the sign of eta_r does not matter
    assert math.isclose(c["c1"], 1024 * math.exp(4 * math.sqrt(2)) / e**2)
    assert math.isclose(c["c2"], 128 * math.exp(2 * math.sqrt(2)) / e)
    assert math.isclose(c["c3"], e / (32 * math.sqrt(2)))
    assert math.isclose(c["c4"], e**3 / (2**14 * math.exp(6 * math.sqrt(2))))
    # c4 = C3^2 eta^3 / (2 C2) with C3 = e^{-2 sqrt2 K}/8, C2 = 128 K^2 e^{2 sqrt2 K} (the proof's last line)
    C3, C2 = math.exp(-2 * math.sqrt(2)) / 8, 128 * math.exp(2 * math.sqrt(2))
    assert math.isclose(c["c4"], C3**2 * e**3 / (2 * C2))
    assert H.prop5_constants(100.0)["c3"] == 0.5 and H.prop5_constants(1e3)["c1"] == 1.0
    K = 0.7                                              # the Lipschitz constant enters every constant
    c = H.prop5_constants(e, K_sigma=K)
    assert math.isclose(c["c2"], 128 * K**2 * math.exp(2 * math.sqrt(2) * K) / e)
    assert math.isclose(c["c4"], e**3 / (2**14 * K**2 * math.exp(6 * math.sqrt(2) * K)))


def test_prop5_constants_take_the_coefficient_of_hermite_coefficients():
    eta3 = H.hermite_coefficients("tanh").coefficients[3]          # a NumPy float
    assert math.isclose(H.prop5_constants(eta3)["c1"], 1.3e7, rel_tol=0.05)


@pytest.mark.parametrize("kw, match", [(dict(eta_r=0.0), "eta_r"), (dict(eta_r=float("nan")), "eta_r"),
                                       (dict(eta_r="0.1"), "eta_r"), (dict(K_sigma=-1.0), "K_sigma")])
def test_prop5_constants_refuse_bad_arguments(kw, match):
    args = dict(eta_r=0.1) | kw
    with pytest.raises(ValueError, match=match):
        H.prop5_constants(**args)
