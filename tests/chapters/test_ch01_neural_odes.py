import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torchdiffeq

import helpers as H
from helpers.memory import SavedTensorMeter
from helpers.chapters import ch01_neural_odes as ch

F64 = torch.float64


# ---------------------------------------------------------------------------------------- two moons
def test_two_moons_shapes_labels_and_targets():
    x, labels, y = ch.two_moons(50, seed=0)
    assert x.shape == (50, 2) and labels.shape == (50,) and y.shape == (50, 1)
    assert set(labels.tolist()) == {0, 1}
    assert torch.equal(y[:, 0], 2.0 * labels.double() - 1.0)
    x0, _, _ = ch.two_moons(50, seed=0)
    assert torch.equal(x, x0)
    # without noise, the upper moon lies on the unit circle (in the original coordinates)
    xc, lab, _ = ch.two_moons(40, noise=0.0, seed=1)
    upper = xc[lab == 0] * 0.75 + torch.tensor([0.5, 0.25], dtype=F64)
    assert torch.allclose(upper.norm(dim=1), torch.ones(20, dtype=F64))
    x32, _, y32 = ch.two_moons(10, seed=0, dtype=torch.float32)
    assert x32.dtype == y32.dtype == torch.float32


def test_two_moons_rejects_bad_arguments_naming_them():
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        ch.two_moons(1, seed=0)
    with pytest.raises(ValueError, match="noise"):
        ch.two_moons(10, noise=-1.0, seed=0)
    with pytest.raises(TypeError, match="dtype"):          # an integer dtype would truncate the points
        ch.two_moons(10, seed=0, dtype=torch.int64)
    with pytest.raises(TypeError, match="seed"):
        ch.two_moons(10, seed=0.5)


def test_two_moons_noise_is_in_the_unscaled_coordinates():
    # the docstring's promise: the jitter of the returned x has standard deviation noise / 0.75
    x0, _, _ = ch.two_moons(20000, noise=0.0, seed=3)
    x1, _, _ = ch.two_moons(20000, noise=0.1, seed=3)
    assert float((x1 - x0).std()) == pytest.approx(0.1 / 0.75, rel=0.02)


# ---------------------------------------------------------------------------------------- training
def test_train_toy_ode_separates_the_moons_and_starts_as_identity():
    x, labels, y = ch.two_moons(80, seed=0)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        rec = ch.train_toy_ode(x, y, L=4, m=8, steps=60, lr=0.05, n_steps=8, seed=0)
        assert torch.get_num_threads() == 3                 # the one-thread block restored the setting
    finally:
        torch.set_num_threads(before)
    # V = 0 at initialisation: the flow is the identity and F(x) = x_1
    assert rec.losses[0] == pytest.approx(float(((x[:, :1] - y) ** 2).mean()))
    assert rec.losses[-1] < 0.2 * rec.losses[0]
    assert rec.accuracy >= 0.95
    assert len(rec.losses) == 61 and rec.wall_time > 0
    assert not rec.ode.B.requires_grad and torch.equal(rec.ode.B, torch.tensor([[1.0, 0.0]], dtype=F64))
    assert rec.settings == dict(L=4, m=8, steps=60, lr=0.05, n_steps=8, activation="tanh", seed=0)


def test_train_toy_ode_with_zero_steps_is_the_identity_flow():
    x, labels, y = ch.two_moons(40, seed=0)
    rec = ch.train_toy_ode(x, y, L=2, m=4, steps=0, n_steps=4, seed=0)
    assert len(rec.losses) == 1
    assert rec.accuracy == pytest.approx(float(((x[:, 0] > 0).long() == labels).double().mean()))


def test_train_toy_ode_rejects_bad_arguments_naming_them():
    x, _, y = ch.two_moons(10, seed=0)
    with pytest.raises(ValueError, match="x must have shape"):
        ch.train_toy_ode(torch.zeros(10, 3, dtype=F64), y, seed=0)
    with pytest.raises(ValueError, match="y must have shape"):
        ch.train_toy_ode(x, y[:5], seed=0)
    with pytest.raises(ValueError, match="lr"):
        ch.train_toy_ode(x, y, lr=0.0, seed=0)
    with pytest.raises(TypeError, match="x: torch.float32, y: torch.float64"):
        ch.train_toy_ode(x.float(), y, seed=0)
    with pytest.raises(ValueError, match="L must be"):
        ch.train_toy_ode(x, y, L=0, seed=0)
    with pytest.raises(ValueError, match="activation"):
        ch.train_toy_ode(x, y, activation="sigmoid", steps=1, seed=0)


def test_train_toy_ode_says_it_needs_tensors_for_lists_and_arrays():
    x, _, y = ch.two_moons(10, seed=0)
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor.*torch.as_tensor\(x"):
        ch.train_toy_ode(x.numpy(), y, seed=0)
    with pytest.raises(TypeError, match=r"y must be a torch.Tensor.*torch.as_tensor\(y"):
        ch.train_toy_ode(x, y.tolist(), seed=0)


def test_train_toy_ode_nan_loss_is_a_training_diverged_error_naming_the_step():
    x, _, y = ch.two_moons(20, seed=0)
    with pytest.raises(H.TrainingDivergedError, match=r"at step \d+ of 50.*lr = 1e\+30.*try lr = 1e\+29"):
        ch.train_toy_ode(x, y, L=2, m=4, steps=50, lr=1e30, n_steps=4, activation="identity", seed=0)


def test_train_toy_ode_exploding_finite_loss_raises_like_helpers_train():
    # lr = 1 with an unbounded activation: the loss grows from 0.7 to ~1e6 while staying finite;
    # before the fix the run finished silently with such a loss
    x, _, y = ch.two_moons(20, seed=0)
    kwargs = dict(L=2, m=4, steps=30, n_steps=4, activation="identity", seed=0)
    with pytest.raises(H.TrainingDivergedError, match=r"at step \d+ of 30.*lr = 1 is too large.*try lr = 0.1"):
        ch.train_toy_ode(x, y, lr=1.0, **kwargs)
    with pytest.raises(ValueError, match="divergence_factor"):
        ch.train_toy_ode(x, y, lr=1.0, divergence_factor=0.0, **kwargs)
    rec = ch.train_toy_ode(x, y, lr=1.0, divergence_factor=1e300, **kwargs)     # the bound can be lifted
    assert rec.losses.max() > 1e4 * rec.losses[0]


# ---------------------------------------------------------------------------------------- trajectories
def test_plot_trajectories_draws_one_path_per_point():
    x, labels, y = ch.two_moons(20, seed=0)
    rec = ch.train_toy_ode(x, y, L=2, m=4, steps=2, n_steps=4, seed=0)
    ax = ch.plot_trajectories(rec.ode, x, labels, n_steps=5)
    assert len(ax.lines) == 20 + 1                       # 20 paths and the line H_1 = 0
    assert ax.lines[0].get_xydata().shape == (6, 2)      # n_steps + 1 points along s
    assert ax.get_xlabel() == r"$H_1(s)$" and ax.get_ylabel() == r"$H_2(s)$"
    plt.close(ax.figure)
    # labels as a list or a NumPy array are fine; the parameters of the trained table require grad
    assert rec.ode.V_table.requires_grad
    for lab in (labels.tolist(), labels.numpy()):
        ax = ch.plot_trajectories(rec.ode, x, lab, max_points=7)
        assert len(ax.lines) == 7 + 1
        plt.close(ax.figure)


def test_plot_trajectories_rejects_bad_arguments_naming_them():
    x, labels, y = ch.two_moons(20, seed=0)
    rec = ch.train_toy_ode(x, y, L=2, m=4, steps=2, n_steps=4, seed=0)
    with pytest.raises(ValueError, match=r"labels must have shape \(20,\)"):
        ch.plot_trajectories(rec.ode, x, labels[:3])
    ode3 = H.NeuralODE(H.init_weights(2, 3, 4, kind="iid", seed=0), activation="tanh")
    with pytest.raises(ValueError, match="q = 3"):
        ch.plot_trajectories(ode3, torch.zeros(4, 2, dtype=F64), torch.zeros(4, dtype=torch.long))
    # labels in {-1, +1} (the targets) would silently drop class -1
    with pytest.raises(ValueError, match=r"labels must be classes in \{0, 1\}.*got values \[-1.0\]"):
        ch.plot_trajectories(rec.ode, x, y[:, 0])
    with pytest.raises(TypeError, match="labels"):
        ch.plot_trajectories(rec.ode, x, {"a": 1})
    with pytest.raises(TypeError, match="x: torch.float32, ode_weights: torch.float64"):
        ch.plot_trajectories(rec.ode, x.float(), labels)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 2\), got \(20, 3\)"):
        ch.plot_trajectories(rec.ode, torch.zeros(20, 3, dtype=F64), labels)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        ch.plot_trajectories(rec.ode, x.numpy(), labels)
    with pytest.raises(TypeError, match="ode must be a helpers.NeuralODE"):
        ch.plot_trajectories(None, x, labels)
    plt.close("all")


# ---------------------------------------------------------------------------------------- gradient cost
def test_gradient_cost_counts_saved_storages_once_and_ignores_parameters():
    w = torch.randn(1000, dtype=F64, requires_grad=True)
    cost = ch.gradient_cost(lambda: (w.exp() * w).sum(), [w], repeats=2)
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

    costs = [ch.gradient_cost(chain(k), [w], repeats=1).graph_bytes for k in (1, 2, 4, 8)]
    assert costs == [4000, 8000, 16000, 32000]
    tracker = SavedTensorMeter(ignore=[w])
    with tracker:
        loss = chain(3)()
        assert tracker.live_bytes == 12000
        torch.autograd.grad(loss, [w])
    assert tracker.live_bytes == 0 and tracker.peak_bytes == 12000 and tracker.n_saved == 3


def test_gradient_cost_rejects_bad_arguments_naming_them():
    w = torch.randn(3, requires_grad=True)
    with pytest.raises(TypeError, match="loss_fn"):
        ch.gradient_cost(3.0, [w])
    with pytest.raises(ValueError, match="params must be a non-empty list"):
        ch.gradient_cost(lambda: w.sum(), [torch.randn(3)])
    with pytest.raises(ValueError, match="loss_fn must return a scalar tensor"):
        ch.gradient_cost(lambda: w * 2, [w])
    with pytest.raises(TypeError, match="params"):
        ch.gradient_cost(lambda: w.sum(), 3)
    with pytest.raises(ValueError, match="repeats"):
        ch.gradient_cost(lambda: w.sum(), [w], repeats=0)


def test_gradient_cost_accepts_one_tensor_and_refuses_unused_parameters():
    w = torch.randn(1000, dtype=F64, requires_grad=True)
    as_list = ch.gradient_cost(lambda: (w.exp() * w).sum(), [w], repeats=1)
    as_tensor = ch.gradient_cost(lambda: (w.exp() * w).sum(), w, repeats=1)      # not split into 0-d views
    assert len(as_tensor.grads) == 1 and torch.equal(as_tensor.grads[0], as_list.grads[0])
    assert as_tensor.graph_bytes == as_list.graph_bytes == 8000
    v = torch.randn(3, dtype=F64, requires_grad=True)
    with pytest.raises(ValueError, match=r"params\[1\] \(shape \(3,\)\) is not used by loss_fn"):
        ch.gradient_cost(lambda: (w * w).sum(), [w, v], repeats=1)


# ---------------------------------------------------------------------------------------- backprop vs adjoint
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
    res = ch.compare_gradient_methods(ode, x, y, [8, 16, 32, 64], repeats=1)
    bp, adj = res.peak_mb["backprop"], res.peak_mb["adjoint"]
    assert H.fit_loglog_slope(res.n_steps, bp).slope == pytest.approx(1.0, abs=0.05)   # graph ~ N
    assert np.ptp(adj) == 0 and adj[0] < bp[0]                                          # graph ~ 1
    assert list(res.n_evals["backprop"]) == [8, 16, 32, 64]
    assert list(res.n_evals["adjoint"]) == [16, 32, 64, 128]                            # forward + backward
    assert H.fit_loglog_slope(res.n_steps, res.grad_gap).slope == pytest.approx(-1.0, abs=0.15)
    assert "graph MB backprop" in res.table()
    axes = ch.plot_gradient_costs(res)
    assert len(axes) == 3 and all(a.get_xlabel() == "number of Euler steps $N$" for a in axes)
    assert "slope" in axes[0].get_legend_handles_labels()[1][0]                         # fitted slope in legend
    plt.close(axes[0].figure)
    _, given = plt.subplots(1, 3)
    assert ch.plot_gradient_costs(res, ax=given)[2] is given[2]
    with pytest.raises(ValueError, match="ax must be three axes"):
        ch.plot_gradient_costs(res, ax=given[:2])
    with pytest.raises(TypeError, match="result"):
        ch.plot_gradient_costs(res.table())
    plt.close("all")
    with pytest.raises(ValueError, match="no trainable parameters"):
        ch.compare_gradient_methods(H.NeuralODE(H.smooth_weight_functions(3, 5, seed=0)), x, y, [4])


def test_compare_gradient_methods_rejects_bad_data_and_step_lists():
    ode = _small_ode()
    x, y = H.gaussian_data(6, 3, seed=0)
    with pytest.raises(TypeError, match=r"n_steps_list.*write \[4\]"):
        ch.compare_gradient_methods(ode, x, y, 4, repeats=1)
    with pytest.raises(ValueError, match="n_steps_list is empty"):
        ch.compare_gradient_methods(ode, x, y, [], repeats=1)
    with pytest.raises(ValueError, match="n_steps_list"):
        ch.compare_gradient_methods(ode, x, y, [0], repeats=1)
    with pytest.raises(TypeError, match="x: torch.float32, y: torch.float32, ode_weights: torch.float64"):
        ch.compare_gradient_methods(ode, x.float(), y.float(), [4], repeats=1)
    with pytest.raises(ValueError, match=r"x must have shape \(\*, 3\), got \(6, 5\)"):
        ch.compare_gradient_methods(ode, torch.randn(6, 5, dtype=F64), y, [4], repeats=1)
    with pytest.raises(ValueError, match=r"y must have shape \(6, 3\), got \(5, 3\)"):
        ch.compare_gradient_methods(ode, x, y[:5], [4], repeats=1)
    with pytest.raises(TypeError, match="y must be a torch.Tensor"):
        ch.compare_gradient_methods(ode, x, y.numpy(), [4], repeats=1)
    res = ch.compare_gradient_methods(ode, x, y, np.array([2, 4]), repeats=1)      # NumPy integers are fine
    assert list(res.n_steps) == [2, 4]
    assert list(ch.compare_gradient_methods(ode, x, y, range(2, 4), repeats=1).n_steps) == [2, 3]


def test_measuring_helpers_take_values_computed_from_a_weight_table():
    # issue 9: numbers computed from a NeuralODE built from a weight table (parameters require grad)
    ode = _small_ode()
    x, _ = H.gaussian_data(6, 3, seed=0)
    errors = [(ode.solve(x, method="euler", n_steps=N) - ode.solve(x, method="rk4", n_steps=64)).norm()
              for N in (4, 8, 16)]
    assert errors[0].requires_grad
    assert H.fit_loglog_slope([4, 8, 16], errors).slope < 0
    ax = H.plot_loglog_rate([4, 8, 16], errors)
    plt.close(ax.figure)
