import math

import pytest
import torch

import helpers as H
from helpers.ode import subsample_table
from helpers.resnet import theory_input_output_maps

F64 = torch.float64


def _rotation(s, y):  # y' = J y, exact solution a rotation by angle s
    return torch.stack([y[1], -y[0]])


@pytest.mark.parametrize("solver,order", [(H.euler, 1), (H.rk4, 4)])
def test_empirical_orders(solver, order):
    y0 = torch.tensor([1.0, 0.0], dtype=F64)
    exact = torch.tensor([math.cos(1.0), -math.sin(1.0)], dtype=F64)
    steps = [8, 16, 32, 64]
    errors = [float((solver(_rotation, y0, n_steps=N) - exact).norm()) for N in steps]
    fit = H.fit_loglog_slope(steps, errors)
    assert abs(fit.slope + order) < 0.15, fit


def test_solver_path_and_arguments():
    path = H.rk4(lambda s, y: -y, torch.ones(3, dtype=F64), n_steps=10, return_path=True)
    assert path.shape == (11, 3)
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1, got 0"):
        H.euler(lambda s, y: y, torch.ones(1), n_steps=0)
    with pytest.raises(TypeError, match="y0 must be a torch.Tensor"):
        H.euler(lambda s, y: y, [1.0], n_steps=3)


def test_resnet_with_smooth_weights_converges_to_its_ode_at_rate_one_over_L():
    q, m = 4, 8
    x, _ = H.gaussian_data(10, q, seed=0)
    ode = H.NeuralODE(H.smooth_weight_functions(q, m, seed=0), activation="tanh")
    reference = ode.solve(x, method="dopri5")            # torchdiffeq, adaptive, tight tolerances
    depths = [8, 16, 32, 64, 128]
    errors = [float((H.ResNet.simple(*H.init_weights(L, q, m, kind="smooth", seed=0), "tanh")(x)
                     - reference).norm()) for L in depths]
    fit = H.fit_loglog_slope(depths, errors)
    assert abs(fit.slope + 1) < 0.15, fit


def test_resnet_with_iid_weights_does_not_converge_at_rate_one_over_L():
    q, m, L_ref = 4, 8, 2048
    x, _ = H.gaussian_data(10, q, seed=0)
    V, W = H.init_weights(L_ref, q, m, kind="iid", seed=0)
    with torch.no_grad():
        reference = H.NeuralODE((V, W), activation="tanh").solve(x, method="euler", n_steps=L_ref)
    depths = [8, 16, 32, 64, 128]
    errors = [float((H.ResNet.simple(*subsample_table(V, W, L), "tanh")(x) - reference).norm())
              for L in depths]
    assert H.fit_loglog_slope(depths, errors).slope > -0.8


def test_resnet_is_exactly_euler_on_its_piecewise_constant_ode():
    V, W = H.init_weights(16, 4, 6, kind="iid", seed=0)
    net = H.ResNet.simple(V, W, "gelu")
    x, _ = H.gaussian_data(5, 4, seed=0)
    with torch.no_grad():
        assert torch.allclose(H.NeuralODE(net).solve(x, method="euler", n_steps=16), net(x), atol=1e-12)


def test_own_rk4_agrees_with_torchdiffeq():
    x, _ = H.gaussian_data(6, 3, seed=1)
    ode = H.NeuralODE(H.smooth_weight_functions(3, 5, seed=1), activation="gelu")
    assert torch.allclose(ode.solve(x, method="rk4", n_steps=128), ode.solve(x, method="dopri5"), atol=1e-6)


def test_adjoint_gradients_equal_backprop_through_the_solver():
    V, W = H.init_weights(8, 3, 4, kind="smooth", seed=0)
    x, y = H.gaussian_data(6, 3, seed=0)
    ode = H.NeuralODE((V, W), activation="tanh", interpolation="linear")
    _, g_bp = ode.loss_and_gradients(x, y, normalization="n", method="dopri5", rtol=1e-10, atol=1e-12)
    _, g_adj = ode.loss_and_gradients(x, y, normalization="n", method="dopri5", rtol=1e-10, atol=1e-12,
                                      adjoint=True)
    for k in g_bp:
        assert float((g_bp[k] - g_adj[k]).norm() / g_bp[k].norm()) < 1e-6, k


def test_paper_form_ode_and_bad_arguments():
    d, q, m = 2, 4, 3
    A, B = theory_input_output_maps(d, d, q)
    V, W = H.init_weights(32, q, m, kind="smooth", seed=0)
    net = H.ResNet.paper(V, W, A, B, "tanh")
    x, _ = H.gaussian_data(4, d, seed=0)
    with torch.no_grad():
        assert torch.allclose(H.NeuralODE(net).solve(x, method="euler", n_steps=32), net(x), atol=1e-12)
    with pytest.raises(ValueError, match="needs n_steps"):
        H.NeuralODE(net).solve(x, method="rk4")
    with pytest.raises(ValueError, match="method must be one of"):
        H.NeuralODE(net).solve(x, method="heun3")
    with pytest.raises(TypeError, match="weights must be"):
        H.NeuralODE("tanh")
    with pytest.raises(ValueError, match="L must divide"):
        subsample_table(V, W, 5)


def test_solvers_check_what_f_returns():
    # an (n, 1) field for an (n,) state would broadcast to (n, n) and grow until memory runs out
    for solver in (H.euler, H.rk4):
        with pytest.raises(ValueError, match="f"):
            solver(lambda s, y: y[:, None], torch.ones(5), n_steps=3)
        with pytest.raises(ValueError, match="dtype"):
            solver(lambda s, y: y.float(), torch.ones(5, dtype=torch.float64), n_steps=3)
        with pytest.raises(TypeError, match="y0"):
            solver(lambda s, y: y, [1.0, 2.0], n_steps=3)


def test_neural_ode_solve_names_dtype_and_width():
    net = H.make_resnet(4, 3, 2, kind="iid", seed=0)
    ode = H.NeuralODE(net)
    x, _ = H.gaussian_data(5, 3, seed=0)
    with pytest.raises(TypeError, match="x"):
        ode.solve(x.float())
    with pytest.raises(ValueError, match="x"):
        ode.solve(x[:, :2], method="rk4", n_steps=4)
    assert ode.device.type == "cpu" and ode.dtype == torch.float64


def test_table_solve_runs_on_one_thread_for_small_layers():
    net = H.make_resnet(16, 3, 2, kind="iid", seed=0, activation="tanh")
    x, _ = H.gaussian_data(5, 3, seed=0)
    seen = []
    ode = H.NeuralODE(net)
    original = ode.forward

    def spy(s, h):
        seen.append(torch.get_num_threads())
        return original(s, h)

    ode.forward = spy
    with torch.no_grad():
        out = ode.solve(x)
    assert set(seen) == {1}
    with torch.no_grad():
        tight = ode.solve(x, rtol=1e-11, atol=1e-13)
    assert torch.allclose(out, tight, atol=1e-6)
