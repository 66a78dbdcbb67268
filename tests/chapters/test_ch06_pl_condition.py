import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import helpers as H
from helpers.chapters import ch06_pl_condition as ch


# -- the objectives -------------------------------------------------------------------------------------
@pytest.mark.parametrize("obj", [ch.karimi_example(), ch.quartic_example(), ch.factorization_example(0.3),
                                 ch.factorization_example(-1.2)])
def test_gradients_match_autograd(obj):
    theta = torch.randn(7, obj.p, dtype=torch.float64, requires_grad=True)
    (auto,) = torch.autograd.grad(obj.loss(theta).sum(), theta)
    assert torch.allclose(obj.grad(theta.detach()), auto, rtol=1e-12, atol=1e-12)
    assert obj.loss(theta.detach()).shape == (7,)


def test_factorization_ratio_is_four_times_the_squared_norm():
    obj = ch.factorization_example(0.7)
    theta = torch.randn(50, 2, dtype=torch.float64)
    ratio = obj.grad(theta).pow(2).sum(-1) / obj.loss(theta)
    assert torch.allclose(ratio, 4 * theta.pow(2).sum(-1), rtol=1e-10)     # eq. (6.13)


def test_karimi_example_is_not_convex_and_beta_is_8():
    x = torch.linspace(-10, 10, 20001, dtype=torch.float64)[:, None]
    x.requires_grad_(True)
    obj = ch.karimi_example()
    (g,) = torch.autograd.grad(obj.loss(x).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    assert float(h.min()) == pytest.approx(-4.0, abs=1e-6) and float(h.max()) == pytest.approx(8.0, abs=1e-6)
    assert obj.smoothness == 8.0


def test_factorization_rejects_a_non_number():
    with pytest.raises(TypeError, match="y must"):
        ch.factorization_example("0.5")
    with pytest.raises(TypeError, match="y must"):
        ch.factorization_example(float("nan"))


# -- runs ------------------------------------------------------------------------------------------------
def test_gradient_flow_of_x4_matches_the_closed_form():
    x0 = 1.3
    run = ch.gradient_flow(ch.quartic_example(), x0, t_end=3.0, n_steps=1500)
    exact = x0 ** 4 / (1 + 8 * x0 ** 2 * run.t) ** 2                         # eq. (6.9)
    assert np.allclose(run.loss, exact, rtol=1e-7)
    assert np.allclose(run.ratio, 16 * run.theta[:, 0] ** 2, rtol=1e-10)
    assert run.t[0] == 0 and run.t[-1] == pytest.approx(3.0) and run.theta.shape == (1501, 1)


def test_run_distance_and_path_length():
    # a flow along a straight line: the path length equals the distance; on a quadratic it is exponential
    obj = ch.Objective("|x|^2", 2, lambda th: th.pow(2).sum(-1), lambda th: 2 * th)
    run = ch.gradient_flow(obj, torch.tensor([3.0, 4.0], dtype=torch.float64), t_end=2.0, n_steps=400)
    assert np.allclose(run.distance, run.path_length, rtol=1e-9)
    assert np.allclose(run.distance, 5 * (1 - np.exp(-2 * run.t)), rtol=1e-8)
    assert np.allclose(run.loss, 25 * np.exp(-4 * run.t), rtol=1e-8)
    assert ch.fitted_rate(run.t, run.loss) == pytest.approx(4.0, rel=1e-8)


def test_gradient_descent_is_the_plain_loop():
    obj = ch.karimi_example()
    run = ch.gradient_descent(obj, 3.0, eta=0.05, steps=30)
    x = 3.0
    for k in range(30):
        x -= 0.05 * (2 * x + 3 * math.sin(2 * x))
    assert run.theta[-1, 0] == pytest.approx(x, rel=1e-12)
    assert np.allclose(run.t, 0.05 * np.arange(31))


def test_gradient_descent_obeys_the_step_bound_of_eq_6_6():
    obj = ch.karimi_example()
    mu, _ = ch.pl_constant_on_points(obj, np.linspace(-20, 20, 40001))
    for eta in (0.02, 0.05, 1 / 8):
        run = ch.gradient_descent(obj, 4.0, eta=eta, steps=40)
        pos = run.loss[1:] > 0
        assert np.all(run.loss[1:][pos] / run.loss[:-1][pos] <= 1 - mu * eta / 2 + 1e-12)


def test_ratio_is_inf_at_a_minimiser():
    run = ch.Run(t=np.array([0.0, 1.0]), theta=np.zeros((2, 1)), loss=np.array([1.0, 0.0]),
                 grad_sq=np.array([2.0, 0.0]))
    assert run.ratio[0] == 2.0 and math.isinf(run.ratio[1])


@pytest.mark.parametrize("call, error, name", [
    (lambda: ch.gradient_flow("x^4", 1.0, t_end=1.0, n_steps=10), TypeError, "obj"),
    (lambda: ch.gradient_flow(ch.quartic_example(), torch.ones(2, dtype=torch.float64), t_end=1.0, n_steps=10),
     ValueError, "theta0"),
    (lambda: ch.gradient_flow(ch.quartic_example(), 1.0, t_end=-1.0, n_steps=10), ValueError, "t_end"),
    (lambda: ch.gradient_flow(ch.quartic_example(), 1.0, t_end=1.0, n_steps=0), ValueError, "n_steps"),
    (lambda: ch.gradient_descent(ch.quartic_example(), 1.0, eta=0.0, steps=10), ValueError, "eta"),
    (lambda: ch.gradient_descent(ch.quartic_example(), 1.0, eta=0.1, steps=2.5), TypeError, "steps"),
])
def test_runs_reject_bad_arguments(call, error, name):
    with pytest.raises(error, match=name):
        call()


# -- constants -------------------------------------------------------------------------------------------
def test_pl_constant_of_the_karimi_example():
    mu, x = ch.pl_constant_on_points(ch.karimi_example(), np.linspace(-30, 30, 120001))
    assert mu == pytest.approx(0.3511, abs=2e-4) and abs(abs(x[0]) - 2.2017) < 1e-3
    assert mu >= 0.12 > 1 / 16                       # the notebook's proof, and Karimi et al.'s 1/32 (ours: 1/16)


def test_pl_ratio_local_min_refines_the_grid():
    obj = ch.karimi_example()
    mu_grid, x_grid = ch.pl_constant_on_points(obj, np.linspace(-50, 50, 200001))
    mu_loc, x_loc = ch.pl_ratio_local_min(obj, float(x_grid[0]))
    assert 0 <= mu_grid - mu_loc < 1e-6 and abs(x_loc - x_grid[0]) < 1e-3
    # the ratio's derivative vanishes there (a minimum of a smooth function), by finite differences
    f = lambda v: (2 * v + 3 * math.sin(2 * v)) ** 2 / (v ** 2 + 3 * math.sin(v) ** 2)
    assert abs(f(x_loc + 1e-5) - f(x_loc - 1e-5)) / 2e-5 < 1e-4
    # x^4: ratio 16 x^2 on [0.5, 1.5] is smallest at the left end
    assert ch.pl_ratio_local_min(ch.quartic_example(), 1.0, half_width=0.5)[0] == pytest.approx(4.0, rel=1e-6)


@pytest.mark.parametrize("call, error, name", [
    (lambda: ch.pl_ratio_local_min(ch.factorization_example(1.0), 1.0), ValueError, "one-dimensional"),
    (lambda: ch.pl_ratio_local_min(ch.karimi_example(), "2"), TypeError, "x0"),
    (lambda: ch.pl_ratio_local_min(ch.karimi_example(), 2.0, half_width=0.0), ValueError, "half_width"),
    (lambda: ch.pl_ratio_local_min(ch.Objective("0", 1, lambda th: 0 * th.sum(-1), lambda th: 0 * th), 1.0),
     ValueError, "minimisers"),
])
def test_pl_ratio_local_min_rejects_bad_arguments(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_first_time_and_step_rates():
    t = np.linspace(0, 1, 11)
    assert ch.first_time(t, t > 0.45) == pytest.approx(0.5)
    assert math.isnan(ch.first_time(t, t > 2))
    with pytest.raises(ValueError, match="condition"):
        ch.first_time(t, (t > 0.5).astype(int))
    run = ch.gradient_flow(ch.Objective("x^2", 1, lambda th: th.pow(2).sum(-1), lambda th: 2 * th), 1.0,
                           t_end=1.0, n_steps=100)
    assert np.allclose(run.step_rates, 4.0, rtol=1e-8)           # l = e^{-4t}: every step has rate 4
    zero = ch.Run(t=np.array([0.0, 1.0]), theta=np.zeros((2, 1)), loss=np.array([1.0, 0.0]), grad_sq=np.zeros(2))
    with pytest.raises(ValueError, match="positive loss"):
        zero.step_rates


def test_pl_constant_ignores_minimisers_and_needs_a_positive_loss():
    mu, _ = ch.pl_constant_on_points(ch.quartic_example(), [0.0, 0.5, 1.0])
    assert mu == pytest.approx(16 * 0.25)
    with pytest.raises(ValueError, match="points"):
        ch.pl_constant_on_points(ch.quartic_example(), [0.0])
    with pytest.raises(ValueError, match="points"):
        ch.pl_constant_on_points(ch.factorization_example(1.0), np.ones((3, 3)))


def test_ball_constant_closed_form_and_sampled():
    theta0 = torch.tensor([1.0, 1.0], dtype=torch.float64)
    M = 2 ** 0.5 / 2
    exact = ch.factorization_ball_constant(theta0, M)
    assert exact == pytest.approx(2.0)
    sampled = ch.ball_pl_constant_sampled(ch.factorization_example(0.2), theta0, M, n_samples=3000, seed=1)
    assert exact <= sampled <= 1.01 * exact                # an infimum: samples can only be above it
    assert ch.factorization_ball_constant(theta0, 2.0) == 0.0                 # the ball contains the saddle
    with pytest.raises(ValueError, match="radius"):
        ch.factorization_ball_constant(theta0, -1.0)
    with pytest.raises(ValueError, match="theta0"):
        ch.factorization_ball_constant([1.0, 2.0, 3.0], 0.5)


def test_stay_in_ball_lemma_holds_along_a_flow():
    # eq. (6.11) at every time, for a target where (6.12) holds
    theta0, M = torch.tensor([1.0, 1.0], dtype=torch.float64), 2 ** 0.5 / 2
    mu = ch.factorization_ball_constant(theta0, M)
    run = ch.gradient_flow(ch.factorization_example(0.7), theta0, t_end=6.0, n_steps=1200)
    bound = 2 / math.sqrt(mu) * (math.sqrt(run.loss[0]) - np.sqrt(run.loss))
    assert np.all(run.path_length <= bound + 1e-9)
    assert ch.stay_in_ball_bound(run.loss[0], mu) == pytest.approx(2 * math.sqrt(run.loss[0] / mu))
    assert run.distance.max() < M
    with pytest.raises(ValueError, match="mu"):
        ch.stay_in_ball_bound(1.0, 0.0)


def test_fitted_rate_window_and_errors():
    t = np.linspace(0, 4, 81)
    loss = np.where(t < 2, np.exp(-t), np.exp(-2) * np.exp(-3 * (t - 2)))
    assert ch.fitted_rate(t, loss, t_min=2.0) == pytest.approx(3.0)
    assert ch.fitted_rate(t, loss, t_max=2.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same length"):
        ch.fitted_rate(t, loss[:-1])
    with pytest.raises(ValueError, match="window"):
        ch.fitted_rate(t, loss, t_min=10.0)
    with pytest.raises(ValueError, match="loss must be positive"):
        ch.fitted_rate(t, np.zeros_like(t))


# -- the ResNet measurements --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    return H.gaussian_data(6, 4, seed=0)


def _grad_sq(g):
    return float(g.V.pow(2).sum() + g.W.pow(2).sum())


def test_pl_ratio_parts_against_autograd(data):
    x, y = data
    net = H.make_resnet(5, 4, 7, kind="smooth", seed=1)          # V != 0: every gradient is non-zero
    parts = ch.pl_ratio_parts(net, x, y, "n")
    loss, g = H.autograd_gradients(net, x, y, "n")
    assert parts["loss"] == pytest.approx(loss, rel=1e-12)
    assert parts["with_L"] == pytest.approx(5 * _grad_sq(g) / loss, rel=1e-10)
    assert parts["without_L"] == pytest.approx(parts["with_L"] / 5, rel=1e-12)
    assert parts["AB"] == 0.0 and parts["ratio"] == parts["with_L"]
    nd = ch.pl_ratio_parts(net, x, y, "nd")
    assert parts["ratio"] / nd["ratio"] == pytest.approx(4.0, rel=1e-10)      # divided by d' = 4


def test_pl_ratio_parts_paper_form_and_the_engine_record(data):
    x, y = data
    net = H.make_resnet(3, 9, 5, kind="smooth", seed=2, form="paper", d=4, d_out=4, activation="tanh")
    parts = ch.pl_ratio_parts(net, x, y, "n")
    loss, g = H.autograd_gradients(net, x, y, "n")
    ab = float(g.A.pow(2).sum() + g.B.pow(2).sum())
    assert parts["AB"] == pytest.approx(ab / loss, rel=1e-10)
    assert parts["ratio"] == pytest.approx((3 * _grad_sq(g) + ab) / loss, rel=1e-10)
    rec = H.train(net, x, y, steps=2, eta=0.01, normalization="n", record_pl=True)
    assert rec.pl_ratio[0] == pytest.approx(parts["ratio"], rel=1e-10)        # what H.train records


def test_layer_displacements(data):
    V0, W0 = torch.randn(4, 3, 5, dtype=torch.float64), torch.randn(4, 5, 3, dtype=torch.float64)
    V, W = V0 + 0.1 * torch.randn_like(V0), W0.clone()
    moved = ch.layer_displacements(V0, W0, V, W)
    assert np.allclose(moved, [float((V[k] - V0[k]).norm()) for k in range(4)])
    with pytest.raises(ValueError, match="V must have shape"):
        ch.layer_displacements(V0, W0, V[:3], W)


def test_snapshot_pairs():
    assert ch.snapshot_pairs(10, 4) == [0, 1, 4, 5, 8, 9, 10]
    assert ch.snapshot_pairs(2, 5) == [0, 1, 2]
    with pytest.raises(ValueError, match="every"):
        ch.snapshot_pairs(10, 0)
    with pytest.raises(ValueError, match="steps"):
        ch.snapshot_pairs(1, 1)


def test_run_measurements_against_autograd(data):
    # the speed read off a gradient step equals max_k L ||dl/dZ_k|| / sqrt(l) computed by autograd
    x, y = data
    net = H.make_resnet(5, 4, 6, kind="smooth", seed=4)             # V != 0: W moves too
    steps = 12
    rec = H.train(net, x, y, steps=steps, eta=0.002, normalization="n", snapshot_steps=ch.snapshot_pairs(steps, 5))
    out = ch.run_measurements(rec)
    assert np.allclose(out["t"], 0.002 * np.array([0, 1, 5, 6, 10, 11, 12]))
    assert np.allclose(out["t_speed"], 0.002 * np.array([0, 5, 10, 11]))          # 11 and 12 are a pair too
    for j, s in enumerate([0, 5, 10, 11]):
        snap = rec.snapshots[s]
        twin = H.ResNet.simple(snap["V"].clone(), snap["W"].clone(), activation=net.activation)
        loss, g = H.autograd_gradients(twin, x, y, "n")
        per_layer = (g.V.pow(2).sum(dim=(1, 2)) + g.W.pow(2).sum(dim=(1, 2))).sqrt()
        assert out["speed"][j] == pytest.approx(5 * float(per_layer.max()) / math.sqrt(loss), rel=1e-9)
    moved = ch.layer_displacements(net.V, net.W, rec.net.V, rec.net.W)
    assert out["max_layer_move"][-1] == pytest.approx(moved.max())
    assert out["rms_move"][-1] == pytest.approx(np.sqrt((moved ** 2).mean()))
    assert out["all_weights_move"][-1] == pytest.approx(np.linalg.norm(moved))
    assert out["max_layer_move"][0] == 0.0


def test_run_measurements_rejects_bad_records(data):
    x, y = data
    net = H.make_resnet(3, 4, 5, kind="tied", V="zero", seed=0)
    with pytest.raises(TypeError, match="record"):
        ch.run_measurements("rec")
    with pytest.raises(ValueError, match="snapshots"):
        ch.run_measurements(H.train(net, x, y, steps=3, eta=0.05, normalization="n", snapshot_steps=[0, 3]))
    with pytest.raises(ValueError, match="L_factor"):
        ch.run_measurements(H.train(net, x, y, steps=3, eta=0.05, normalization="n", L_factor=False,
                                    snapshot_steps=[0, 1, 3]))
    with pytest.raises(ValueError, match="every layer"):
        ch.run_measurements(H.train(net, x, y, steps=3, eta=0.05, normalization="n", snapshot_steps=[0, 1, 3],
                                    snapshot_layers=[0]))


def test_measured_rates(data):
    x, y = data
    net = H.make_resnet(4, 4, 6, kind="tied", V="zero", seed=0)
    rec = H.train(net, x, y, steps=12, eta=0.05, normalization="n", record_pl=True)
    rates = ch.measured_rates(rec)
    assert rates.shape == (12,) and rates[3] == pytest.approx(math.log(rec.losses[3] / rec.losses[4]) / 0.05)
    with pytest.raises(TypeError, match="record"):
        ch.measured_rates(rec.losses)


# -- figures ---------------------------------------------------------------------------------------------
def test_plots_return_their_axes(data):
    runs = {"x^4": ch.gradient_flow(ch.quartic_example(), 1.0, t_end=1.0, n_steps=50),
            "PL": ch.gradient_flow(ch.karimi_example(), 3.0, t_end=1.0, n_steps=50)}
    axes = ch.plot_loss_and_ratio(runs, mu=0.35, bound="PL", title="t")
    assert len(axes) == 2 and axes[0].get_ylabel().startswith("loss")
    with pytest.raises(ValueError, match="bound"):
        ch.plot_loss_and_ratio(runs, mu=0.35, bound="nope")
    with pytest.raises(TypeError, match="runs"):
        ch.plot_loss_and_ratio({"a": 1})
    axes = ch.plot_ball_runs(runs, mu=2.0, radius=0.7)
    assert len(axes) == 2
    with pytest.raises(ValueError, match="radius"):
        ch.plot_ball_runs(runs, mu=2.0, radius=0.0)
    x, y = data
    rec = H.train(H.make_resnet(3, 4, 5, kind="tied", V="zero", seed=0), x, y, steps=5, eta=0.05,
                  normalization="n", record_pl=True)
    assert len(ch.plot_training_pl(rec, burn_in=2)) == 3
    with pytest.raises(ValueError, match="burn_in"):
        ch.plot_training_pl(rec, burn_in=-1)
    rec.pl_ratio = None
    with pytest.raises(ValueError, match="record_pl"):
        ch.plot_training_pl(rec)
    axes = ch.plot_objective(ch.karimi_example(), np.linspace(-4, 4, 81), mu=0.35, marks={"s": (-2.2, 2.2), "x0": 3.0})
    assert axes[1].get_ylabel().startswith("PL ratio")
    with pytest.raises(ValueError, match="one-dimensional"):
        ch.plot_objective(ch.factorization_example(1.0), np.linspace(-1, 1, 5))
    table = {k: [1.0, 2.0, 3.0] for k in ("ratio", "no_L", "max_layer_move", "all_weights_move", "speed")}
    assert ch.plot_depth_sweep([4, 8, 16], table, T=1.0).shape == (2, 2)
    with pytest.raises(ValueError, match="table"):
        ch.plot_depth_sweep([4, 8, 16], {"ratio": [1.0, 2.0, 3.0]}, T=1.0)
    plt.close("all")
