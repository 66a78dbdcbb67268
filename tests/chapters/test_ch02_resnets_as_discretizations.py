import math

import numpy as np
import pytest
import torch

import helpers as H
from helpers.chapters import ch02_resnets_as_discretizations as ch


@pytest.fixture
def x():
    return H.gaussian_data(12, 4, seed=0)[0]


def _net(L, m, *, kind="smooth", scaling="1/L", seed=0, activation="tanh"):
    return H.make_resnet(L, 4, m, kind=kind, scaling=scaling, form="normalized", activation=activation, seed=seed)


def _ode(m, *, seed=0, activation="tanh"):
    return H.NeuralODE(H.smooth_weight_functions(4, m, seed=seed), activation=activation, normalized=True)


def _outputs(x, depths, *, kind, scaling, m, seeds):
    """F^L(x) of shape (len(depths), len(seeds), n, q): the notebook's loop over depths and draws."""
    with torch.no_grad():
        return torch.stack([torch.stack([_net(L, m, kind=kind, scaling=scaling, seed=s)(x) for s in seeds])
                            for L in depths])


def test_sqrt_L_scaling_multiplies_V_for_every_kind():
    for kind in ("iid", "smooth"):
        scaled, plain = _net(16, 6, kind=kind, scaling="1/sqrt(L)", seed=3), _net(16, 6, kind=kind, seed=3)
        assert torch.allclose(scaled.V, 4.0 * plain.V) and torch.equal(scaled.W, plain.W)
        assert scaled.normalized and scaled.activation == "tanh"


def test_resnet_is_the_euler_scheme_of_its_ode_with_the_papers_factors(x):
    # one ResNet step with weights at s = k/L equals one Euler step of the normalised ODE field
    L, m = 8, 6
    net = _net(L, m, seed=1)
    h = net(x, return_states=True)[1]
    step = h[0] + _ode(m, seed=1)(1.0 / L, h[0]) / L          # V(1/L), W(1/L) are the weights of layer 1
    assert torch.allclose(h[1], step, atol=1e-12)
    assert torch.allclose(h[1], x + torch.tanh(x @ net.W[0].T / 2) @ net.V[0].T / (L * math.sqrt(m)))


@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_smooth_resnet_converges_to_the_ode_at_rate_one_over_L(x, activation):
    # the notebook's section 4 loop (and, with GELU, its exercise 1)
    depths = [8, 16, 32, 64, 128]
    F = _ode(6, activation=activation).solve(x, rtol=1e-10, atol=1e-10)
    errors = [float((_net(L, 6, activation=activation)(x) - F).norm(dim=1).max()) for L in depths]
    assert abs(H.fit_loglog_slope(depths, errors).slope + 1) < 0.1
    assert errors[-1] < 2e-2


def test_ode_path_matches_an_independent_fine_rk4_solve(x):
    # the reference of the notebook's section 3: dopri5 on s_eval against the course's fixed-step RK4
    ode = _ode(6)
    path = ode.solve(x, s_eval=np.linspace(0, 1, 5), rtol=1e-10, atol=1e-10, return_path=True)
    assert path.shape == (5, 12, 4) and torch.equal(path[0], x)
    with torch.no_grad():
        rk4_path = ode.solve(x, method="rk4", n_steps=2000, return_path=True)      # s = 0, 1/2000, ..., 1
    assert torch.allclose(path, rk4_path[::500], atol=1e-8)


def test_the_four_corners(x):
    depths = [8, 32, 128, 512]
    slope = {}
    for name, (kind, scaling) in ch.REGIMES.items():
        stats = ch.regime_statistics(x, _outputs(x, depths, kind=kind, scaling=scaling, m=6, seeds=range(3)))
        assert stats.displacement.shape == (4,) and stats.gaps.shape == (3,)
        slope[name] = H.fit_loglog_slope(depths, stats.displacement).slope
        if name == "ODE":
            assert H.fit_loglog_slope(depths[1:], stats.gaps).slope < -0.85
    assert abs(slope["identity"] + 0.5) < 0.15
    assert abs(slope["SDE-like"]) < 0.15 and abs(slope["ODE"]) < 0.05
    assert slope["explosion"] > 0.3


def test_iid_weights_with_sqrt_L_settle_in_law_while_independent_draws_stay_apart(x):
    # the notebook's SDE-like check: the mean displacement over draws settles with L (law) ...
    stats = ch.regime_statistics(x, _outputs(x, [16, 64, 256], kind="iid", scaling="1/sqrt(L)", m=6,
                                             seeds=range(16)))
    assert np.all(stats.displacement > 0.1)                                   # non-trivial ...
    assert np.ptp(stats.displacement) < 0.25 * stats.displacement.mean()      # ... and settled
    assert stats.gaps.min() > 0.2          # ... while outputs of independent draws stay O(1) apart
    # ... which the identity corner (same draws, 1/L) does not pass: its displacement vanishes
    identity = ch.regime_statistics(x, _outputs(x, [16, 64, 256], kind="iid", scaling="1/L", m=6,
                                                seeds=range(16)))
    assert np.ptp(identity.displacement) > 0.25 * identity.displacement.mean()


def test_statistics_are_the_documented_means(x):
    outs = _outputs(x, [2, 4, 8], kind="iid", scaling="1/L", m=3, seeds=range(2))
    stats = ch.regime_statistics(x, outs)
    j, r, i = 1, 1, 5
    assert math.isclose(float((outs[j, r, i] - x[i]).norm() / x[i].norm()),
                        float(((outs[j] - x).norm(dim=-1) / x.norm(dim=1))[r, i]))
    expected_gap = np.mean([float((outs[2, r] - outs[1, r])[i].norm() / x[i].norm())
                            for r in range(2) for i in range(12)])
    assert math.isclose(stats.gaps[1], expected_gap, rel_tol=1e-12)
    expected_displacement = np.mean([float((outs[0, r, i] - x[i]).norm() / x[i].norm())
                                     for r in range(2) for i in range(12)])
    assert math.isclose(stats.displacement[0], expected_displacement, rel_tol=1e-12)


def test_statistics_accept_outputs_that_require_grad(x):
    outs = _outputs(x, [2, 4], kind="iid", scaling="1/L", m=3, seeds=[0]).requires_grad_()
    assert ch.regime_statistics(x, outs).gaps.shape == (1,)


def test_bad_arguments_are_named(x):
    outs = _outputs(x, [2, 4], kind="iid", scaling="1/L", m=3, seeds=[0])
    with pytest.raises(TypeError, match="x"):
        ch.regime_statistics(x.numpy(), outs)
    with pytest.raises(TypeError, match="outputs"):
        ch.regime_statistics(x, outs.tolist())
    with pytest.raises(ValueError, match=r"outputs must have shape \(\*, \*, 12, 4\)"):
        ch.regime_statistics(x, outs[:, :, :5])
    with pytest.raises(ValueError, match="outputs must hold at least 2 depths"):
        ch.regime_statistics(x, outs[:1])
    with pytest.raises(TypeError, match="x: torch.float32"):
        ch.regime_statistics(x.float(), outs)
    zero_row = x.clone()
    zero_row[2] = 0.0
    with pytest.raises(ValueError, match=r"x has 1 row\(s\) of norm 0 \(rows \[2\]\)"):
        ch.regime_statistics(zero_row, outs)
