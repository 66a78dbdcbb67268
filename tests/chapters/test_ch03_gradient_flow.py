import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import helpers as H
from helpers.adjoint import Gradients
from helpers.chapters import ch03_gradient_flow as ch
from helpers.plotting import TIME_CMAP

F64 = torch.float64
WRONG_SHAPE = r"grad_fn must return a gradient of the shape of theta0, \(2,\), got shape \(3,\)"


def smooth_net(L, *, q=4, m=6, seed=1):
    return H.make_resnet(L, q, m, kind="smooth", seed=seed, form="normalized")


# -- the 2-D loss, gradient descent and gradient flow ----------------------------------------------------

def test_valley_loss_and_gradient_agree_with_autograd_and_keep_the_array_type():
    assert ch.valley_loss(np.array([0.0, 1.0])) == pytest.approx(5.0)
    assert ch.valley_loss([0.0, 1.0]) == pytest.approx(5.0)                  # a list is a point too
    assert ch.valley_loss(np.zeros(2)) == 0.0 and np.all(ch.valley_grad(np.zeros(2)) == 0)
    theta = torch.tensor([[1.3, -0.4], [-0.7, 0.9]], dtype=F64, requires_grad=True)
    loss = ch.valley_loss(theta, kappa=7.0, bend=0.3).sum()
    (auto,) = torch.autograd.grad(loss, theta)
    hand = ch.valley_grad(theta.detach(), kappa=7.0, bend=0.3)
    assert isinstance(hand, torch.Tensor) and torch.allclose(hand, auto, atol=1e-12)
    as_numpy = ch.valley_grad(theta.detach().numpy(), kappa=7.0, bend=0.3)
    assert isinstance(as_numpy, np.ndarray) and np.allclose(as_numpy, auto.numpy())


def test_valley_rejects_bad_points_and_parameters():
    with pytest.raises(ValueError, match=r"theta must have shape \(\.\.\., 2\)"):
        ch.valley_loss(np.zeros(3))
    with pytest.raises(ValueError, match="kappa"):
        ch.valley_grad(np.zeros(2), kappa=-1.0)
    with pytest.raises(TypeError, match="theta"):
        ch.valley_loss({"u": 1.0, "v": 0.0})


def test_gradient_descent_path_is_the_euler_scheme_and_stops_when_it_blows_up():
    theta0 = np.array([1.5, 0.0])
    path = ch.gradient_descent_path(ch.valley_grad, theta0, eta=0.01, steps=20)
    assert path.shape == (21, 2)
    assert np.allclose(path[1], theta0 - 0.01 * ch.valley_grad(theta0))
    assert np.allclose(path[2], path[1] - 0.01 * ch.valley_grad(path[1]))
    assert np.all(np.diff(ch.valley_loss(path)) < 0)            # small step: the loss decreases
    diverging = ch.gradient_descent_path(ch.valley_grad, theta0, eta=0.25, steps=500)
    assert len(diverging) < 501 and np.linalg.norm(diverging[-1]) > 1e6
    with pytest.raises(ValueError, match="eta"):
        ch.gradient_descent_path(ch.valley_grad, theta0, eta=0.0, steps=3)
    with pytest.raises(ValueError, match="theta0"):
        ch.gradient_descent_path(ch.valley_grad, [np.nan, 0.0], eta=0.1, steps=3)
    with pytest.raises(ValueError, match=WRONG_SHAPE):
        ch.gradient_descent_path(lambda th: np.zeros(3), theta0, eta=0.1, steps=2)
    with pytest.raises(TypeError, match="grad_fn must be a function"):
        ch.gradient_descent_path(None, theta0, eta=0.1, steps=2)


def test_gradient_descent_accepts_lists_arrays_and_tensors_and_says_what_grad_fn_receives():
    expected = ch.gradient_descent_path(ch.valley_grad, np.array([1.5, 0.0]), eta=0.01, steps=5)
    for theta0 in ([1.5, 0.0], (1.5, 0.0), torch.tensor([1.5, 0.0], dtype=F64, requires_grad=True)):
        assert np.array_equal(ch.gradient_descent_path(ch.valley_grad, theta0, eta=0.01, steps=5), expected)
    # a gradient returned as a list or as a tensor is converted
    as_list = ch.gradient_descent_path(lambda th: list(ch.valley_grad(th)), [1.5, 0.0], eta=0.01, steps=5)
    as_tensor = ch.gradient_descent_path(lambda th: torch.as_tensor(ch.valley_grad(th)), [1.5, 0.0], eta=0.01, steps=5)
    assert np.array_equal(as_list, expected) and np.array_equal(as_tensor, expected)
    # a grad_fn written for tensors only fails with a message naming grad_fn and what it receives
    tensor_only = lambda th: th.clone()
    with pytest.raises(TypeError, match="grad_fn failed when called with a NumPy float64 array"):
        ch.gradient_descent_path(tensor_only, [1.0, 0.0], eta=0.1, steps=2)
    with pytest.raises(TypeError, match="theta0"):
        ch.gradient_descent_path(ch.valley_grad, {"u": 1.0}, eta=0.1, steps=2)


def test_gradient_flow_path_matches_the_exact_flow_of_a_quadratic():
    # bend = 0: l = u^2/2 + kappa v^2/2, flow u0 e^{-t}, v0 e^{-kappa t}
    t = np.linspace(0, 2, 9)
    path = ch.gradient_flow_path(lambda th: ch.valley_grad(th, kappa=4.0, bend=0.0), [1.0, -2.0], t)
    exact = np.stack([np.exp(-t), -2.0 * np.exp(-4.0 * t)], axis=1)
    assert path.shape == (9, 2) and np.abs(path - exact).max() < 1e-9
    # times as a tensor, a start as a tensor: same result
    same = ch.gradient_flow_path(lambda th: ch.valley_grad(th, kappa=4.0, bend=0.0),
                                 torch.tensor([1.0, -2.0]), torch.as_tensor(t))
    assert np.abs(same - path).max() < 1e-12
    with pytest.raises(ValueError, match="start at 0"):
        ch.gradient_flow_path(ch.valley_grad, [1.0, 0.0], [0.5, 1.0])
    assert np.array_equal(ch.gradient_flow_path(ch.valley_grad, [1.0, 0.0], [0.0]), [[1.0, 0.0]])


def test_gradient_flow_path_accepts_a_tensor_gradient_and_names_a_wrong_one():
    t = np.linspace(0, 1, 3)
    # grad 2 theta: theta(t) = theta0 e^{-2t}, with grad_fn returning a tensor
    path = ch.gradient_flow_path(lambda th: 2 * torch.as_tensor(th), [1.0, -0.5], t)
    assert np.abs(path - np.outer(np.exp(-2 * t), [1.0, -0.5])).max() < 1e-9
    with pytest.raises(ValueError, match=WRONG_SHAPE):
        ch.gradient_flow_path(lambda th: torch.zeros(3, dtype=F64), [1.0, 0.0], t)
    with pytest.raises(TypeError, match="grad_fn must return an array, list or tensor"):
        ch.gradient_flow_path(lambda th: "gradient", [1.0, 0.0], t)


def test_gradient_descent_error_at_fixed_time_is_first_order():
    etas = [0.0125, 0.00625, 0.003125]
    gaps = ch.euler_gap_at_time(ch.valley_grad, [1.5, 0.0], T=1.0, etas=etas)
    assert np.all(np.diff(gaps) < 0)
    assert abs(H.fit_loglog_slope(etas, gaps).slope - 1.0) < 0.15
    assert np.array_equal(ch.euler_gap_at_time(ch.valley_grad, [1.5, 0.0], T=1.0, etas=np.array(etas)), gaps)
    assert np.isinf(ch.euler_gap_at_time(ch.valley_grad, [1.5, 0.0], T=50.0, etas=[0.25])[0])   # GD blew up
    with pytest.raises(ValueError, match="integer number of steps"):
        ch.euler_gap_at_time(ch.valley_grad, [1.5, 0.0], T=1.0, etas=[0.3])
    with pytest.raises(ValueError, match=r"etas must be a non-empty list of finite positive step sizes, got \[nan\]"):
        ch.euler_gap_at_time(ch.valley_grad, [1.5, 0.0], T=1.0, etas=[float("nan")])
    with pytest.raises(TypeError, match="etas"):
        ch.euler_gap_at_time(ch.valley_grad, [1.5, 0.0], T=1.0, etas={0.1: 1})


# -- comparing gradients -----------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["simple", "normalized"])
def test_hand_written_adjoint_and_autograd_agree(form):
    x, y = H.gaussian_data(7, 4, seed=0)
    net = H.make_resnet(6, 4, 5, kind="smooth", seed=2, activation="tanh", form=form)
    st = H.forward_backward_states(net, x, y, "nd")
    _, g_hand = H.loss_and_gradients(net, x, y, "nd")
    _, g_auto = H.autograd_gradients(net, x, y, "nd")
    assert g_hand.relative_error(g_auto) < 1e-13
    assert st.grads.relative_error(g_auto) < 1e-13


# -- why the factor L --------------------------------------------------------------------------------------

def test_per_layer_gradient_norms_scale_like_one_over_L_and_the_flow_speed_does_not():
    x, y = H.gaussian_data(20, 4, seed=0)
    depths = [8, 16, 32, 64]
    states = {L: H.forward_backward_states(smooth_net(L), x, y, "n") for L in depths}
    norms = [ch.per_layer_gradient_norms(states[L]).mean() for L in depths]
    assert ch.per_layer_gradient_norms(states[8]).shape == (8,)
    assert abs(H.fit_loglog_slope(depths, norms).slope + 1) < 0.1
    with_L = [ch.flow_speed(states[L]) for L in depths]
    without = [ch.flow_speed(states[L].grads, L_factor=False) for L in depths]
    assert abs(H.fit_loglog_slope(depths, with_L).slope) < 0.1
    assert abs(H.fit_loglog_slope(depths, without).slope + 1) < 0.1
    assert with_L[0] == pytest.approx(8 * without[0])          # no A, B: exactly a factor L
    with pytest.raises(TypeError, match="Gradients"):
        ch.per_layer_gradient_norms(smooth_net(8))


def test_flow_speed_is_the_initial_rate_of_loss_decrease():
    x, y = H.gaussian_data(10, 4, seed=3)
    net = H.make_resnet(12, 4, 5, kind="smooth", seed=0, form="normalized")
    speed = ch.flow_speed(H.forward_backward_states(net, x, y, "n"))
    eta = 1e-5
    rec = H.train(net, x, y, steps=1, eta=eta, normalization="n", progress=False)
    assert (rec.losses[0] - rec.losses[1]) / eta == pytest.approx(speed, rel=1e-3)


def test_flow_speed_sums_the_squares_of_V_and_W_separately():
    # the documented value: L sum_k (||dV_k||^2 + ||dW_k||^2), which is -dl/dt; not L sum_k (||dV_k|| + ||dW_k||)^2
    x, y = H.gaussian_data(20, 4, seed=0)
    st = H.forward_backward_states(smooth_net(8), x, y, "n")
    expected = 8 * float(st.grads.V.pow(2).sum() + st.grads.W.pow(2).sum())
    assert ch.flow_speed(st) == pytest.approx(expected, rel=1e-12)
    assert ch.flow_speed(st) < 8 * (ch.per_layer_gradient_norms(st) ** 2).sum()


# -- figures ---------------------------------------------------------------------------------------------

def test_plots_draw_one_curve_per_item_with_labelled_axes():
    H.use_course_style()
    theta0 = [1.5, 0.0]
    flow = ch.gradient_flow_path(ch.valley_grad, theta0, np.linspace(0, 1, 11))
    paths = {eta: ch.gradient_descent_path(ch.valley_grad, theta0, eta=eta, steps=10) for eta in (0.01, 0.05)}
    ax = ch.plot_descent_paths(ch.valley_loss, flow, paths)
    assert ax.get_xlabel() == r"$\theta_1$" and len(ax.get_legend().get_texts()) == 3
    with pytest.raises(ValueError, match="gd_paths"):
        ch.plot_descent_paths(ch.valley_loss, flow, {})
    ax = ch.plot_loss_along_paths(ch.valley_loss, np.linspace(0, 1, 11), flow, paths)
    assert len(ax.lines) == 3 and np.allclose(ax.lines[2].get_xdata(), 0.05 * np.arange(11))
    assert np.allclose(ax.lines[0].get_ydata(), ch.valley_loss(flow)) and ax.get_yscale() == "log"
    # lists in place of arrays
    ax = ch.plot_loss_along_paths(ch.valley_loss, list(np.linspace(0, 1, 11)), flow.tolist(),
                                  {e: p.tolist() for e, p in paths.items()})
    assert len(ax.lines) == 3
    x, y = H.gaussian_data(5, 3, seed=0)
    recs = {L: H.train(H.make_resnet(L, 3, 2, kind="tied", V="zero", seed=0), x, y, steps=3, eta=0.1,
                       normalization="n", progress=False) for L in (2, 4)}
    ax = ch.plot_loss_vs_time(recs)
    assert len(ax.lines) == 2 and np.allclose(ax.lines[0].get_xdata(), [0, 0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="records"):
        ch.plot_loss_vs_time({})
    with pytest.raises(TypeError, match=r"records\[2\] must be a helpers.TrainRecord"):
        ch.plot_loss_vs_time({2: recs[2].losses})
    plt.close("all")


def test_step_colours_come_from_the_course_time_colour_map():
    assert ch._step_colors(3) == [plt.get_cmap(TIME_CMAP)(0.85 * j / 2) for j in range(3)]
    assert ch._step_colors(1) == [plt.get_cmap(TIME_CMAP)(0.0)]
