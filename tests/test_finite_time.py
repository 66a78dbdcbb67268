import math

import numpy as np
import pytest
import torch

import helpers as H

D, M, N = 4, 6, 20


@pytest.fixture(scope="module")
def data():
    return H.gaussian_data(N, D, seed=0)


@pytest.fixture(scope="module")
def records(data):
    x, y = data
    return H.depth_sweep(x, y, [2, 8, 32], m=M, steps=30, eta=0.05, seed=0)


@pytest.fixture(scope="module")
def limit(data):
    x, y = data
    x_eval, _ = H.gaussian_data(15, D, seed=1)
    return H.depth_limit_run(x, y, [2, 4, 8], 64, m=M, steps=20, eta=0.05, seed=0,
                             snapshot_steps=range(0, 21, 2), x_eval=x_eval)


def test_fig1_network_is_zero_V_and_the_same_tied_W_for_every_depth():
    a, b = H.fig1_network(3, d=D, m=M, seed=0), H.fig1_network(7, d=D, m=M, seed=0)
    assert a.A is None and a.B is None and a.activation == "gelu" and a.dtype == torch.float64
    assert torch.equal(a.V, torch.zeros(3, D, M))
    assert torch.equal(a.W[0], b.W[6]) and torch.equal(b.W, b.W[:1].expand(7, M, D))
    assert torch.equal(a.W, H.init_weights(3, D, M, kind="tied", seed=0)[1])


@pytest.mark.parametrize("kind", ["smooth", "iid"])
def test_fig1_network_other_kinds_keep_V_zero(kind):
    net = H.fig1_network(5, d=D, m=M, seed=2, kind=kind)
    assert torch.equal(net.V, torch.zeros(5, D, M))
    assert torch.equal(net.W, H.init_weights(5, D, M, kind=kind, seed=2)[1])
    with pytest.raises(ValueError, match="kind must"):
        H.fig1_network(5, d=D, m=M, seed=2, kind="random")


def test_depth_sweep_max_gap_falls_like_one_over_L(records):
    assert list(records) == [2, 8, 32]
    slopes = [f.slope for f in H.depth_slopes(records, [5, 30])]
    assert all(abs(s + 1) < 0.15 for s in slopes), slopes
    table = H.gap_table(records, [5, 30])
    assert table.shape == (2, 3) and np.all(table[1] >= table[0])      # a max up to T grows with T


def test_script_metric_falls_like_one_over_sqrt_L(records):
    (fit,) = H.depth_slopes(records, [30], metric="script")
    assert abs(fit.slope + 0.5) < 0.15
    assert H.gap_table(records, [30], metric="script")[0, 0] == records[2].script_metric(30)


def test_gap_table_against_the_weights_of_every_step(data, records):
    # both metrics recomputed from the weights themselves, step by step (not from the engine's summaries)
    x, y = data
    T = 12
    rec = H.train(H.fig1_network(8, d=D, m=M, seed=0), x, y, steps=T, eta=0.05, normalization="nd",
                  snapshot_steps=range(T + 1))
    snaps = [rec.snapshots[i] for i in range(T + 1)]
    gap = lambda Z: torch.linalg.vector_norm(Z[1:] - Z[:-1], dim=(1, 2))
    max_metric = max(float((gap(s["V"]) + gap(s["W"])).max()) for s in snaps)
    script = max(math.sqrt(sum(float(gap(s[k]).pow(2).sum()) for s in snaps[:T])) for k in ("V", "W"))
    table = H.gap_table(records, [T], metric="max"), H.gap_table(records, [T], metric="script")
    assert math.isclose(table[0][0, 1], max_metric, rel_tol=1e-12)
    assert math.isclose(table[1][0, 1], script, rel_tol=1e-12)


def test_clipping_changes_the_trajectory_but_not_the_rate(data, records):
    x, y = data
    clipped = H.depth_sweep(x, y, [2, 8, 32], m=M, steps=30, eta=0.05, seed=0, clip=0.02)
    assert not torch.allclose(clipped[8].net.V, records[8].net.V)
    assert abs(H.depth_slopes(clipped, [30])[0].slope + 1) < 0.15


def test_depth_limit_distances(limit):
    assert limit.distances.shape == (11, 3) and limit.steps == list(range(0, 21, 2))
    # same tied initialisation and same first update for every depth: exactly equal weights at steps 0, 1
    assert np.all(limit.distances[0] == 0)
    assert np.all(limit.distances[1:] > 0)
    assert abs(limit.distance_slope().slope + 1) < 0.2
    assert np.all(np.diff(limit.output_gap) < 0) and limit.output_gap.shape == (3,)
    assert set(limit.records) == {2, 4, 8} and all(r.snapshots == {} for r in limit.records.values())
    assert limit.ref_losses.shape == (21,) and limit.ref_max_gap.shape == (21,)


def test_depth_limit_with_depths_that_do_not_divide_the_largest(data):
    # 4 and 6 both divide L_ref = 12, but 4 does not divide 6: the reference must keep the rows of both
    x, y = data
    res = H.depth_limit_run(x, y, [4, 6], 12, m=M, steps=3, eta=0.05, seed=0, snapshot_steps=[3])
    ref = H.train(H.fig1_network(12, d=D, m=M, seed=0), x, y, steps=3, eta=0.05, normalization="nd").net
    for j, L in enumerate([4, 6]):
        net = H.train(H.fig1_network(L, d=D, m=M, seed=0), x, y, steps=3, eta=0.05, normalization="nd").net
        assert math.isclose(res.distances[0, j], H.depth_distance(net.V, net.W, ref.V, ref.W), rel_tol=1e-12)


def test_depth_limit_restores_the_thread_count(data):
    x, y = data
    before = torch.get_num_threads()
    H.depth_limit_run(x, y, [2, 4], 8, m=M, steps=1, seed=0, snapshot_steps=[1])
    assert torch.get_num_threads() == before


def test_depth_limit_matches_a_direct_computation_with_the_full_reference(data, limit):
    x, y = data
    ref = H.train(H.fig1_network(64, d=D, m=M, seed=0), x, y, steps=20, eta=0.05, normalization="nd",
                  snapshot_steps=[20])
    net4 = H.train(H.fig1_network(4, d=D, m=M, seed=0), x, y, steps=20, eta=0.05, normalization="nd").net
    direct = H.depth_distance(net4.V, net4.W, ref.snapshots[20]["V"], ref.snapshots[20]["W"])
    assert math.isclose(limit.distances[-1, 1], direct, rel_tol=1e-12)
    x_eval, _ = H.gaussian_data(15, D, seed=1)
    gap = float((net4(x_eval) - ref.net(x_eval)).norm(dim=1).max())
    assert math.isclose(limit.output_gap[1], gap, rel_tol=1e-12)


def test_profiles_are_the_adjoint_states_and_the_flow_updates(data):
    x, y = data
    net = H.train(H.fig1_network(5, d=D, m=M, seed=0), x, y, steps=3, eta=0.05, normalization="nd").net
    pr = H.forward_backward_profiles(net, x, y, "nd")
    _, g = H.autograd_gradients(net, x, y, "nd")
    assert pr.L == 5 and pr.h.shape == (6, N, D) and pr.p.shape == (6, N, D)
    assert torch.allclose(pr.update_V, -5 * g.V) and torch.allclose(pr.update_W, -5 * g.W)
    assert torch.allclose(pr.h, net(x, return_states=True)[1])
    assert torch.allclose(pr.p[-1], 2 * (pr.h[-1] - y) / (N * D))


def test_scaled_gap_curves_and_effective_rate(records):
    t, curves = H.scaled_gap_curves(records)
    assert t.shape == (31,) and set(curves) == {2, 8, 32}
    assert np.array_equal(t, np.arange(31) * 0.05)
    for L, c in curves.items():
        assert np.array_equal(c, [L * records[L].max_gap_up_to(i) for i in range(31)])
    tt = np.linspace(0.1, 3, 30)
    assert math.isclose(H.effective_exponential_rate(tt, 0.3 * tt * np.exp(1.7 * tt), t_min=0.5), 1.7, rel_tol=1e-9)
    # only the points with t >= t_min count
    bent = np.where(tt < 1, 5.0, 0.3 * tt * np.exp(1.7 * tt))
    assert math.isclose(H.effective_exponential_rate(tt, bent, t_min=1.0), 1.7, rel_tol=1e-9)
    with pytest.raises(ValueError, match="constant contains 1 NaN"):
        H.effective_exponential_rate([1, 2, 3], [1, float("nan"), 3], t_min=0)
    with pytest.raises(TypeError, match="t_min"):
        H.effective_exponential_rate([1, 2, 3], [1, 2, 3], t_min="0")


def test_records_of_different_steps_or_wrong_depths_are_refused(data, records):
    x, y = data
    other = H.depth_sweep(x, y, [4, 16], m=M, steps=30, eta=0.01, seed=0)
    for f in (lambda r: H.gap_table(r, [5]), H.scaled_gap_curves):
        with pytest.raises(ValueError, match="one step eta"):
            f({**records, **other})
        with pytest.raises(ValueError, match="depth"):
            f({2: records[2], 9: records[8]})


def test_alpha_lower_estimate_follows_the_formula():
    W0 = torch.diag(torch.tensor([3.0, 4.0], dtype=torch.float64))
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    # M = 5, K' = 0.5 * 4, M_X = 2, M_Y = 1:  2 * 2 * 5 * (25 * 2 + 1)
    assert math.isclose(H.alpha_lower_estimate(W0, x, y, sigma_prime_0=0.5), 2 * 2 * 5 * 51)
    with pytest.raises(ValueError, match=r"W0 must have shape \(m, d\) with d = x.shape\[1\] = 2"):
        H.alpha_lower_estimate(torch.ones(2, 3, dtype=torch.float64), x, y, sigma_prime_0=0.5)


def test_bad_arguments_are_named(data, records):
    x, y = data
    with pytest.raises(ValueError, match="divide L_ref"):
        H.depth_limit_run(x, y, [2, 3], 8, m=M, steps=2, seed=0, snapshot_steps=[2])
    with pytest.raises(ValueError, match="snapshot_steps"):
        H.depth_limit_run(x, y, [2, 4], 8, m=M, steps=2, seed=0, snapshot_steps=[5])
    with pytest.raises(ValueError, match="depths"):
        H.depth_sweep(x, y, [4], m=M, steps=2, seed=0)
    with pytest.raises(ValueError, match="horizons"):
        H.gap_table(records, [31])
    with pytest.raises(ValueError, match="metric"):
        H.gap_table(records, [5], metric="mean")
    with pytest.raises(TypeError, match="records"):
        H.gap_table({2: None, 4: None}, [1])
    with pytest.raises(ValueError, match="y must have shape"):
        H.depth_sweep(x, y[:, :2], [2, 4], m=M, steps=2, seed=0)
    with pytest.raises(TypeError, match="net"):
        H.forward_backward_profiles("net", x, y, "nd")
    with pytest.raises(TypeError, match="horizons must be a list"):
        H.gap_table(records, 5)
    with pytest.raises(TypeError, match="snapshot_steps must be a list"):
        H.depth_limit_run(x, y, [2, 4], 8, m=M, steps=2, seed=0, snapshot_steps=2)
    with pytest.raises(TypeError, match="x_eval must have the dtype"):
        H.depth_limit_run(x, y, [2, 4], 8, m=M, steps=2, seed=0, snapshot_steps=[2], x_eval=x.float())
    with pytest.raises(ValueError, match="x must hold at least one sample"):
        H.depth_sweep(x[:0], y[:0], [2, 4], m=M, steps=2, seed=0)
    with pytest.raises(TypeError, match="depths must be a list"):
        H.depth_sweep(x, y, 4, m=M, steps=2, seed=0)


def test_distance_slope_at_a_step(limit):
    assert limit.distance_slope(limit.steps[-1]).slope == limit.distance_slope().slope
    assert limit.distance_slope(4).slope == H.fit_loglog_slope(limit.depths, limit.distances[2]).slope
    with pytest.raises(ValueError, match="step must be one of the snapshot steps"):
        limit.distance_slope(3)


def test_figures_draw(records, limit, data):
    import matplotlib.pyplot as plt

    x, y = data
    ax = H.plot_gap_vs_depth(records, [10, 30])
    assert "slope" in ax.get_legend().get_texts()[0].get_text()
    H.plot_gap_vs_depth(records, [30], metric="script")
    H.plot_distance_heatmap(limit)
    H.plot_scaled_gaps(records)
    _, fit = H.plot_rate_vs_depth(limit.depths, limit.output_gap)
    assert fit.slope < 0
    profiles = {L: H.forward_backward_profiles(records[L].net, x, y, "nd") for L in (8, 32)}
    axes = H.plot_profiles(profiles, sample=3, coord=1, entry=(2, 5))
    assert len(axes) == 3 and len(axes[2].lines) == 2
    assert np.array_equal(axes[0].lines[1].get_ydata(), profiles[32].h[:, 3, 1].numpy())
    assert np.array_equal(axes[2].lines[0].get_ydata(), profiles[8].update_V[:, 2, 5].numpy())
    for kwargs, match in [(dict(sample=N), "sample must be an index"), (dict(coord=-1), "coord must be"),
                          (dict(entry=(0, M)), r"entry\[1\] must be an index"), (dict(entry=0), "entry must be a pair")]:
        with pytest.raises((ValueError, TypeError), match=match):
            H.plot_profiles(profiles, **kwargs)
    with pytest.raises(ValueError, match="profiles\\[8\\] must come from a network of depth 8"):
        H.plot_profiles({8: profiles[32]})
    plt.close("all")


def test_plot_rate_vs_depth_keeps_each_value_with_its_depth():
    import matplotlib.pyplot as plt

    ax, fit = H.plot_rate_vs_depth([8, 2, 4], [1 / 8, 1 / 2, 1 / 4])
    assert math.isclose(fit.slope, -1.0, abs_tol=1e-12)
    assert np.array_equal(ax.lines[0].get_xdata(), [2, 4, 8])
    assert np.array_equal(ax.lines[0].get_ydata(), [1 / 2, 1 / 4, 1 / 8])
    with pytest.raises(ValueError, match="one number per depth"):
        H.plot_rate_vs_depth([2, 4, 8], [1.0, 0.5])
    plt.close("all")
