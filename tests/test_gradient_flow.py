import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import helpers as H

F64 = torch.float64
WRONG_SHAPE = r"grad_fn must return a gradient of the shape of theta0, \(2,\), got shape \(3,\)"


# -- the 2-D loss, gradient descent and gradient flow ----------------------------------------------------

def test_valley_loss_and_gradient_agree_with_autograd_and_keep_the_array_type():
    assert H.valley_loss(np.array([0.0, 1.0])) == pytest.approx(5.0)
    assert H.valley_loss(np.zeros(2)) == 0.0 and np.all(H.valley_grad(np.zeros(2)) == 0)
    theta = torch.tensor([[1.3, -0.4], [-0.7, 0.9]], dtype=F64, requires_grad=True)
    loss = H.valley_loss(theta, kappa=7.0, bend=0.3).sum()
    (auto,) = torch.autograd.grad(loss, theta)
    hand = H.valley_grad(theta.detach(), kappa=7.0, bend=0.3)
    assert isinstance(hand, torch.Tensor) and torch.allclose(hand, auto, atol=1e-12)
    as_numpy = H.valley_grad(theta.detach().numpy(), kappa=7.0, bend=0.3)
    assert isinstance(as_numpy, np.ndarray) and np.allclose(as_numpy, auto.numpy())


def test_valley_rejects_bad_points_and_parameters():
    with pytest.raises(ValueError, match=r"theta must have shape \(\.\.\., 2\)"):
        H.valley_loss(np.zeros(3))
    with pytest.raises(ValueError, match="kappa"):
        H.valley_grad(np.zeros(2), kappa=-1.0)


def test_gradient_descent_path_is_the_euler_scheme_and_stops_when_it_blows_up():
    theta0 = np.array([1.5, 0.0])
    path = H.gradient_descent_path(H.valley_grad, theta0, eta=0.01, steps=20)
    assert path.shape == (21, 2)
    assert np.allclose(path[1], theta0 - 0.01 * H.valley_grad(theta0))
    assert np.allclose(path[2], path[1] - 0.01 * H.valley_grad(path[1]))
    assert np.all(np.diff(H.valley_loss(path)) < 0)            # small step: the loss decreases
    diverging = H.gradient_descent_path(H.valley_grad, theta0, eta=0.25, steps=500)
    assert len(diverging) < 501 and np.linalg.norm(diverging[-1]) > 1e6
    with pytest.raises(ValueError, match="eta"):
        H.gradient_descent_path(H.valley_grad, theta0, eta=0.0, steps=3)
    with pytest.raises(ValueError, match="theta0"):
        H.gradient_descent_path(H.valley_grad, [np.nan, 0.0], eta=0.1, steps=3)
    with pytest.raises(ValueError, match=WRONG_SHAPE):
        H.gradient_descent_path(lambda th: np.zeros(3), theta0, eta=0.1, steps=2)
    with pytest.raises(TypeError, match="grad_fn must be a function"):
        H.gradient_descent_path(None, theta0, eta=0.1, steps=2)


def test_gradient_flow_path_matches_the_exact_flow_of_a_quadratic():
    # bend = 0: l = u^2/2 + kappa v^2/2, flow u0 e^{-t}, v0 e^{-kappa t}
    t = np.linspace(0, 2, 9)
    path = H.gradient_flow_path(lambda th: H.valley_grad(th, kappa=4.0, bend=0.0), [1.0, -2.0], t)
    exact = np.stack([np.exp(-t), -2.0 * np.exp(-4.0 * t)], axis=1)
    assert path.shape == (9, 2) and np.abs(path - exact).max() < 1e-9
    with pytest.raises(ValueError, match="start at 0"):
        H.gradient_flow_path(H.valley_grad, [1.0, 0.0], [0.5, 1.0])


def test_gradient_flow_path_accepts_a_numpy_gradient_and_names_a_wrong_one():
    t = np.linspace(0, 1, 3)
    # grad 2 theta: theta(t) = theta0 e^{-2t}, with grad_fn returning a NumPy array
    path = H.gradient_flow_path(lambda th: 2 * np.asarray(th), [1.0, -0.5], t)
    assert np.abs(path - np.outer(np.exp(-2 * t), [1.0, -0.5])).max() < 1e-9
    with pytest.raises(ValueError, match=WRONG_SHAPE):
        H.gradient_flow_path(lambda th: torch.zeros(3, dtype=F64), [1.0, 0.0], t)
    with pytest.raises(TypeError, match="grad_fn must return an array or a tensor"):
        H.gradient_flow_path(lambda th: "gradient", [1.0, 0.0], t)


def test_gradient_descent_error_at_fixed_time_is_first_order():
    etas = [0.0125, 0.00625, 0.003125]
    gaps = H.euler_gap_at_time(H.valley_grad, [1.5, 0.0], T=1.0, etas=etas)
    assert np.all(np.diff(gaps) < 0)
    assert abs(H.fit_loglog_slope(etas, gaps).slope - 1.0) < 0.15
    with pytest.raises(ValueError, match="integer number of steps"):
        H.euler_gap_at_time(H.valley_grad, [1.5, 0.0], T=1.0, etas=[0.3])
    with pytest.raises(ValueError, match=r"etas must be a non-empty list of finite positive step sizes, got \[nan\]"):
        H.euler_gap_at_time(H.valley_grad, [1.5, 0.0], T=1.0, etas=[float("nan")])
    # a grad_fn returning NumPy arrays works for both the flow and gradient descent
    numpy_grad = lambda th: np.asarray(H.valley_grad(np.asarray(th)))
    assert np.allclose(H.euler_gap_at_time(numpy_grad, [1.5, 0.0], T=1.0, etas=etas), gaps, rtol=1e-6)


# -- forward and backward states of a ResNet ----------------------------------------------------------------

@pytest.mark.parametrize("normalized", [False, True])
def test_states_are_the_hidden_states_and_the_adjoint_of_autograd(normalized):
    x, y = H.gaussian_data(7, 4, seed=0)
    net = H.make_resnets([6], q=4, m=5, kind="smooth", seed=2, activation="tanh", normalized=normalized)[6]
    st = H.forward_backward_states(net, x, y, "nd")
    L = net.L
    _, states = net.forward(x, return_states=True)
    assert torch.allclose(st.H, states, atol=1e-12)
    # p_k = d loss / d h_k, by autograd: restart the forward pass from a leaf h_k
    for k in (0, 3, L):
        h = st.H[k].clone().requires_grad_(True)
        out = h
        for V_k, W_k in zip(net.V[k:], net.W[k:]):
            out = out + net.residual_scale * net.sigma(net.inner_scale * out @ W_k.T) @ V_k.T
        (p_k,) = torch.autograd.grad(H.mse_loss(out, y, "nd"), h)
        assert torch.allclose(st.P[k], p_k, atol=1e-12), k
    assert torch.allclose(st.P[L], 2 * (st.H[L] - y) / y.numel())
    loss, g = H.loss_and_gradients(net, x, y, "nd")
    assert st.loss == pytest.approx(loss) and H.relative_gradient_error(st.grads, g) < 1e-14


def test_forward_states_ignore_the_targets_and_the_adjoint_is_linear_in_the_residual():
    x, y = H.gaussian_data(5, 3, seed=0)
    net = H.make_resnets([4], q=3, m=2, kind="iid", seed=0, normalized=True)[4]
    a = H.forward_backward_states(net, x, y, "n")
    # target 2 h_L - y flips the output residual h_L - y; (3.5) is linear in p, so every p_k and gradient flips
    b = H.forward_backward_states(net, x, 2 * a.H[-1] - y, "n")
    assert torch.equal(a.H, b.H) and b.loss == pytest.approx(a.loss)
    assert torch.allclose(b.P, -a.P, atol=1e-14) and torch.allclose(b.grads.W, -a.grads.W, atol=1e-14)
    assert a.P.abs().max() > 0


def test_relative_gradient_error():
    g = H.Gradients(torch.ones(2, 3, 4), torch.ones(2, 4, 3))
    assert H.relative_gradient_error(g, g) == 0.0
    h = H.Gradients(torch.ones(2, 3, 4) * 1.1, torch.ones(2, 4, 3))
    assert H.relative_gradient_error(h, g) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="missing"):
        H.relative_gradient_error(H.Gradients(g.V, g.W, A=torch.ones(3, 3)), g)


def test_relative_gradient_error_accepts_states_and_refuses_a_zero_reference():
    x, y = H.gaussian_data(5, 3, seed=0)
    st = H.forward_backward_states(H.make_resnets([4], q=3, m=2, kind="iid", seed=0)[4], x, y, "n")
    assert H.relative_gradient_error(st, st.grads) == 0.0 and H.relative_gradient_error(st.grads, st) == 0.0
    zero = H.Gradients(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2))
    ones = H.Gradients(torch.ones(1, 2, 2), torch.ones(1, 2, 2))
    with pytest.raises(ValueError, match="the reference gradient V is zero"):
        H.relative_gradient_error(ones, zero)
    assert H.relative_gradient_error(zero, zero) == 0.0                  # float32 zeros: 0, not NaN
    with pytest.raises(TypeError, match="reference must be a helpers.Gradients"):
        H.relative_gradient_error(ones, {"V": 1})


# -- why the factor L --------------------------------------------------------------------------------------

def test_per_layer_gradient_norms_scale_like_one_over_L_and_the_flow_speed_does_not():
    x, y = H.gaussian_data(20, 4, seed=0)
    depths = [8, 16, 32, 64]
    nets = H.make_resnets(depths, q=4, m=6, kind="smooth", seed=1, normalized=True)
    states = {L: H.forward_backward_states(net, x, y, "n") for L, net in nets.items()}
    norms = [H.per_layer_gradient_norms(states[L]).mean() for L in depths]
    assert H.per_layer_gradient_norms(states[8]).shape == (8,)
    assert abs(H.fit_loglog_slope(depths, norms).slope + 1) < 0.1
    with_L = [H.flow_speed(states[L]) for L in depths]
    without = [H.flow_speed(states[L].grads, L_factor=False) for L in depths]
    assert abs(H.fit_loglog_slope(depths, with_L).slope) < 0.1
    assert abs(H.fit_loglog_slope(depths, without).slope + 1) < 0.1
    assert with_L[0] == pytest.approx(8 * without[0])          # no A, B: exactly a factor L
    with pytest.raises(TypeError, match="Gradients"):
        H.per_layer_gradient_norms(nets[8])


def test_flow_speed_is_the_initial_rate_of_loss_decrease():
    x, y = H.gaussian_data(10, 4, seed=3)
    net = H.make_resnets([12], q=4, m=5, kind="smooth", seed=0, normalized=True)[12]
    speed = H.flow_speed(H.forward_backward_states(net, x, y, "n"))
    eta = 1e-5
    rec = H.train(net, x, y, steps=1, eta=eta, normalization="n", progress=False)
    assert (rec.losses[0] - rec.losses[1]) / eta == pytest.approx(speed, rel=1e-3)


def test_make_resnets_forms_and_validation():
    nets = H.make_resnets([2, 5], q=3, m=4, kind="tied", V="zero", seed=0, normalized=True)
    assert sorted(nets) == [2, 5] and nets[5].V.shape == (5, 3, 4) and nets[5].normalized
    assert torch.equal(nets[5].V, torch.zeros(5, 3, 4, dtype=F64)) and nets[5].A is None
    with pytest.raises(ValueError, match="depths is empty"):
        H.make_resnets([], q=3, m=4, kind="tied", seed=0)
    with pytest.raises(ValueError, match="depths entry"):
        H.make_resnets([0], q=3, m=4, kind="tied", seed=0)
    with pytest.raises(TypeError, match=r"depths must be a list .* got 4; for one depth write \[4\]"):
        H.make_resnets(4, q=3, m=4, kind="tied", seed=0)
    assert sorted(H.make_resnets(np.array([2, 3]), q=3, m=4, kind="tied", seed=0)) == [2, 3]


# -- figures ---------------------------------------------------------------------------------------------

def test_plots_draw_one_curve_per_item_with_labelled_axes():
    H.use_course_style()
    theta0 = [1.5, 0.0]
    flow = H.gradient_flow_path(H.valley_grad, theta0, np.linspace(0, 1, 11))
    paths = {eta: H.gradient_descent_path(H.valley_grad, theta0, eta=eta, steps=10) for eta in (0.01, 0.05)}
    ax = H.plot_descent_paths(H.valley_loss, flow, paths)
    assert ax.get_xlabel() == r"$\theta_1$" and len(ax.get_legend().get_texts()) == 3
    with pytest.raises(ValueError, match="gd_paths is empty"):
        H.plot_descent_paths(H.valley_loss, flow, {})
    ax = H.plot_loss_along_paths(H.valley_loss, np.linspace(0, 1, 11), flow, paths)
    assert len(ax.lines) == 3 and np.allclose(ax.lines[2].get_xdata(), 0.05 * np.arange(11))
    assert np.allclose(ax.lines[0].get_ydata(), H.valley_loss(flow)) and ax.get_yscale() == "log"
    ax = H.plot_across_depth({4: np.arange(5.0), 8: np.arange(9.0)}, ylabel="$h_k$")
    assert np.allclose(ax.lines[1].get_xdata(), np.arange(9) / 8) and "s = k/L" in ax.get_xlabel()
    ax = H.plot_across_depth({4: np.arange(4.0)}, first_layer=1)
    assert np.allclose(ax.lines[0].get_xdata(), np.arange(1, 5) / 4)
    with pytest.raises(ValueError, match=r"curves\[4\] must hold 5 values .*got shape \(7,\)"):
        H.plot_across_depth({4: np.arange(7.0)})
    with pytest.raises(ValueError, match=r"curves\[4\] must hold 4 values .*first_layer=1"):
        H.plot_across_depth({4: np.arange(5.0)}, first_layer=1)
    x, y = H.gaussian_data(5, 3, seed=0)
    recs = {L: H.train(net, x, y, steps=3, eta=0.1, normalization="n", progress=False)
            for L, net in H.make_resnets([2, 4], q=3, m=2, kind="tied", V="zero", seed=0).items()}
    ax = H.plot_loss_vs_time(recs)
    assert len(ax.lines) == 2 and np.allclose(ax.lines[0].get_xdata(), [0, 0.1, 0.2, 0.3])
    plt.close("all")


def test_step_colours_come_from_the_course_time_colour_map(monkeypatch):
    import matplotlib.pyplot as mplt
    from helpers import gradient_flow as G
    from helpers import plotting
    monkeypatch.setattr(plotting, "TIME_CMAP", "viridis")
    assert G._step_colors(3) == [mplt.get_cmap("viridis")(0.85 * j / 2) for j in range(3)]


def test_flow_speed_sums_the_squares_of_V_and_W_separately():
    # the documented value: L sum_k (||dV_k||^2 + ||dW_k||^2), which is -dl/dt; not L sum_k (||dV_k|| + ||dW_k||)^2
    x, y = H.gaussian_data(20, 4, seed=0)
    st = H.forward_backward_states(H.make_resnets([8], q=4, m=6, kind="smooth", seed=1, normalized=True)[8], x, y, "n")
    expected = 8 * float(st.grads.V.pow(2).sum() + st.grads.W.pow(2).sum())
    assert H.flow_speed(st) == pytest.approx(expected, rel=1e-12)
    assert H.flow_speed(st) < 8 * (H.per_layer_gradient_norms(st) ** 2).sum()
