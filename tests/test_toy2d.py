import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torchdiffeq

import helpers as H
from helpers import toy2d as T

F64 = torch.float64


def test_two_moons_shapes_labels_and_targets():
    x, labels, y = T.two_moons(50, seed=0)
    assert x.shape == (50, 2) and labels.shape == (50,) and y.shape == (50, 1)
    assert set(labels.tolist()) == {0, 1}
    assert torch.equal(y[:, 0], 2.0 * labels.double() - 1.0)
    x0, _, _ = T.two_moons(50, seed=0)
    assert torch.equal(x, x0)
    # without noise, the upper moon lies on the unit circle (in the original coordinates)
    xc, lab, _ = T.two_moons(40, noise=0.0, seed=1)
    upper = xc[lab == 0] * 0.75 + torch.tensor([0.5, 0.25], dtype=F64)
    assert torch.allclose(upper.norm(dim=1), torch.ones(20, dtype=F64))
    with pytest.raises(ValueError, match="n must be an integer >= 2, got 1"):
        T.two_moons(1, seed=0)
    with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
        T.two_moons(10, noise=-1.0, seed=0)


def test_two_moons_noise_is_in_the_unscaled_coordinates():
    # the docstring's promise: the jitter of the returned x has standard deviation noise / 0.75
    x0, _, _ = T.two_moons(20000, noise=0.0, seed=3)
    x1, _, _ = T.two_moons(20000, noise=0.1, seed=3)
    assert float((x1 - x0).std()) == pytest.approx(0.1 / 0.75, rel=0.02)


def test_train_toy_ode_separates_the_moons_and_starts_as_identity():
    x, labels, y = T.two_moons(80, seed=0)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        rec = T.train_toy_ode(x, y, L=4, m=8, steps=60, lr=0.05, n_steps=8, seed=0)
        assert torch.get_num_threads() == 3                 # the one-thread block restored the setting
    finally:
        torch.set_num_threads(before)
    # V = 0 at initialisation: the flow is the identity and F(x) = x_1
    assert rec.losses[0] == pytest.approx(float(((x[:, :1] - y) ** 2).mean()))
    assert rec.losses[-1] < 0.2 * rec.losses[0]
    assert rec.accuracy >= 0.95
    assert len(rec.losses) == 61 and rec.wall_time > 0
    assert not rec.ode.B.requires_grad and torch.equal(rec.ode.B, torch.tensor([[1.0, 0.0]], dtype=F64))


def test_train_toy_ode_rejects_bad_arguments():
    x, _, y = T.two_moons(10, seed=0)
    with pytest.raises(ValueError, match="x must have shape"):
        T.train_toy_ode(torch.zeros(10, 3, dtype=F64), y, seed=0)
    with pytest.raises(ValueError, match="y must have shape"):
        T.train_toy_ode(x, y[:5], seed=0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        T.train_toy_ode(x, y, lr=0.0, seed=0)
    with pytest.raises(TypeError, match="x: torch.float32, y: torch.float64"):
        T.train_toy_ode(x.float(), y, seed=0)


def test_train_toy_ode_divergence_is_a_training_diverged_error_naming_the_step():
    x, _, y = T.two_moons(20, seed=0)
    with pytest.raises(H.TrainingDivergedError, match=r"at step \d+ of 50.*lr = 1e\+30"):
        T.train_toy_ode(x, y, L=2, m=4, steps=50, lr=1e30, n_steps=4, activation="identity", seed=0)


def test_plot_trajectories_draws_one_path_per_point():
    x, labels, y = T.two_moons(20, seed=0)
    rec = T.train_toy_ode(x, y, L=2, m=4, steps=2, n_steps=4, seed=0)
    ax = T.plot_trajectories(rec.ode, x, labels, n_steps=5)
    assert len(ax.lines) == 20 + 1                       # 20 paths and the line H_1 = 0
    assert ax.lines[0].get_xydata().shape == (6, 2)      # n_steps + 1 points along s
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="labels must be a tensor of shape"):
        T.plot_trajectories(rec.ode, x, labels[:3])
    ode3 = H.NeuralODE(H.init_weights(2, 3, 4, kind="iid", seed=0), activation="tanh")
    with pytest.raises(ValueError, match="q = 3"):
        T.plot_trajectories(ode3, torch.zeros(4, 2, dtype=F64), torch.zeros(4, dtype=torch.long))
    # labels in {-1, +1} (the targets) would silently drop class -1
    with pytest.raises(ValueError, match=r"labels must be classes in \{0, 1\}.*got values \[-1.0\]"):
        T.plot_trajectories(rec.ode, x, y[:, 0])
    with pytest.raises(TypeError, match="x: torch.float32, ode_weights: torch.float64"):
        T.plot_trajectories(rec.ode, x.float(), labels)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 2\), got \(20, 3\)"):
        T.plot_trajectories(rec.ode, torch.zeros(20, 3, dtype=F64), labels)
    with pytest.raises(TypeError, match="ode must be a helpers.NeuralODE"):
        T.plot_trajectories(None, x, labels)
    plt.close("all")


def test_gradient_cost_counts_saved_storages_once_and_ignores_parameters():
    w = torch.randn(1000, dtype=F64, requires_grad=True)
    cost = T.gradient_cost(lambda: (w.exp() * w).sum(), [w], repeats=2)
    assert cost.graph_bytes == 8000 and cost.peak_bytes == 8000      # exp's output, counted once
    assert torch.allclose(cost.grads[0], (w.exp() * (1 + w)).detach())
    assert cost.time > 0 and cost.loss == pytest.approx(float((w.exp() * w).sum().detach()))


def test_gradient_cost_grows_linearly_with_a_chain_and_frees_the_graph():
    w = torch.randn(500, dtype=F64, requires_grad=True)

    def chain(k):
        def fn():
            h = w
            for _ in range(k):
                h = torch.tanh(h)                               # each tanh saves its output
            return h.sum()
        return fn

    costs = [T.gradient_cost(chain(k), [w], repeats=1).graph_bytes for k in (1, 2, 4, 8)]
    assert costs == [4000, 8000, 16000, 32000]
    tracker = T.SavedTensorTracker(ignore=[w])
    with tracker:
        loss = chain(3)()
        assert tracker.live_bytes == 12000
        torch.autograd.grad(loss, [w])
    assert tracker.live_bytes == 0 and tracker.peak_bytes == 12000 and tracker.n_saved == 3


def test_gradient_cost_rejects_bad_arguments():
    w = torch.randn(3, requires_grad=True)
    with pytest.raises(TypeError, match="loss_fn must be a callable"):
        T.gradient_cost(3.0, [w])
    with pytest.raises(ValueError, match="params must be a non-empty list"):
        T.gradient_cost(lambda: w.sum(), [torch.randn(3)])
    with pytest.raises(ValueError, match="loss_fn must return a scalar tensor"):
        T.gradient_cost(lambda: w * 2, [w])
    with pytest.raises(TypeError, match="params must be a tensor or a list of tensors"):
        T.gradient_cost(lambda: w.sum(), 3)


def test_gradient_cost_accepts_one_tensor_and_refuses_unused_parameters():
    w = torch.randn(1000, dtype=F64, requires_grad=True)
    as_list = T.gradient_cost(lambda: (w.exp() * w).sum(), [w], repeats=1)
    as_tensor = T.gradient_cost(lambda: (w.exp() * w).sum(), w, repeats=1)      # not split into 0-d views
    assert len(as_tensor.grads) == 1 and torch.equal(as_tensor.grads[0], as_list.grads[0])
    assert as_tensor.graph_bytes == as_list.graph_bytes == 8000
    v = torch.randn(3, dtype=F64, requires_grad=True)
    with pytest.raises(ValueError, match=r"params\[1\] \(shape \(3,\)\) is not used by loss_fn"):
        T.gradient_cost(lambda: (w * w).sum(), [w, v], repeats=1)


def _small_ode():
    V, W = H.init_weights(4, 3, 5, kind="smooth", seed=0)
    return H.NeuralODE((V, W), activation="tanh", interpolation="linear", normalized=True)


def test_torchdiffeq_euler_is_the_course_euler():
    ode = _small_ode()
    x, _ = H.gaussian_data(6, 3, seed=0)
    with torch.no_grad():
        ours = ode.solve(x, method="euler", n_steps=20)
        theirs = torchdiffeq.odeint(ode, x, torch.tensor([0.0, 1.0], dtype=F64), method="euler",
                                    options={"step_size": 1 / 20})[-1]
    assert torch.allclose(ours, theirs, atol=1e-12)


def test_compare_gradient_methods_memory_evals_and_gap():
    ode = _small_ode()
    x, y = H.gaussian_data(32, 3, seed=0)
    res = T.compare_gradient_methods(ode, x, y, [8, 16, 32, 64], repeats=1)
    bp, adj = res.peak_mb["backprop"], res.peak_mb["adjoint"]
    assert H.fit_loglog_slope(res.n_steps, bp).slope == pytest.approx(1.0, abs=0.05)   # graph ~ N
    assert np.ptp(adj) == 0 and adj[0] < bp[0]                                          # graph ~ 1
    assert list(res.n_evals["backprop"]) == [8, 16, 32, 64]
    assert list(res.n_evals["adjoint"]) == [16, 32, 64, 128]                            # forward + backward
    assert H.fit_loglog_slope(res.n_steps, res.grad_gap).slope == pytest.approx(-1.0, abs=0.15)
    assert "graph MB backprop" in res.table()
    fig, axes, fits = T.plot_gradient_costs(res)
    assert set(fits) == {"memory_backprop", "memory_adjoint", "time_backprop", "time_adjoint", "gap"}
    plt.close(fig)
    with pytest.raises(ValueError, match="no trainable parameters"):
        T.compare_gradient_methods(H.NeuralODE(H.smooth_weight_functions(3, 5, seed=0)), x, y, [4])
    with pytest.raises(ValueError, match="n_steps must be an integer >= 1, got 0"):
        T.compare_gradient_methods(ode, x, y, [0])


def test_compare_gradient_methods_rejects_bad_data_and_step_lists():
    ode = _small_ode()
    x, y = H.gaussian_data(6, 3, seed=0)
    with pytest.raises(TypeError, match="n_steps_list must be a list of positive integers.*got 4.*write \\[4\\]"):
        T.compare_gradient_methods(ode, x, y, 4, repeats=1)
    with pytest.raises(ValueError, match="n_steps_list is empty"):
        T.compare_gradient_methods(ode, x, y, [], repeats=1)
    with pytest.raises(TypeError, match="x: torch.float32, y: torch.float32, ode_weights: torch.float64"):
        T.compare_gradient_methods(ode, x.float(), y.float(), [4], repeats=1)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 3\), got \(6, 5\)"):
        T.compare_gradient_methods(ode, torch.randn(6, 5, dtype=F64), y, [4], repeats=1)
    with pytest.raises(ValueError, match=r"y must have shape \(6, 3\), got \(5, 3\)"):
        T.compare_gradient_methods(ode, x, y[:5], [4], repeats=1)
    res = T.compare_gradient_methods(ode, x, y, np.array([2, 4]), repeats=1)      # NumPy integers are fine
    assert list(res.n_steps) == [2, 4]
