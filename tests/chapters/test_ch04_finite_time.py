import math

import numpy as np
import pytest
import torch

import helpers as H
from helpers.chapters import ch04_finite_time as ch

D, M, N = 4, 6, 20


def fig1_net(L, **kw):
    """The network of Fig. 1: tied W, V = 0 (as notebook 04 builds it)."""
    return H.make_resnet(L, D, M, kind="tied", V="zero", seed=0, **kw)


def sweep(x, y, depths, *, steps, eta, **kw):
    """Notebook 04's depth sweep: one training per depth."""
    return {L: H.train(fig1_net(L), x, y, steps=steps, eta=eta, normalization="nd", **kw) for L in depths}


@pytest.fixture(scope="module")
def data():
    return H.gaussian_data(N, D, seed=0)


@pytest.fixture(scope="module")
def records(data):
    x, y = data
    return sweep(x, y, [2, 8, 32], steps=30, eta=0.05)


@pytest.fixture(scope="module")
def limit(data):
    x, y = data
    x_eval, _ = H.gaussian_data(15, D, seed=1)
    return ch.depth_limit_run(x, y, [2, 4, 8], 64, m=M, steps=20, eta=0.05, seed=0,
                              snapshot_steps=range(0, 21, 2), x_eval=x_eval)


def test_max_gap_falls_like_one_over_L(records):
    slopes = [f.slope for f in ch.depth_slopes(records, [5, 30])]
    assert all(abs(s + 1) < 0.15 for s in slopes), slopes
    table = ch.gap_table(records, [5, 30])
    assert table.shape == (2, 3) and np.all(table[1] >= table[0])      # a max up to T grows with T


def test_gap_table_columns_follow_increasing_depth(records):
    shuffled = {L: records[L] for L in (32, 2, 8)}
    assert np.array_equal(ch.gap_table(shuffled, [30]), ch.gap_table(records, [30]))
    assert ch.gap_table(records, [30])[0, 0] == records[2].max_gap_up_to(30)


def test_script_metric_falls_like_one_over_sqrt_L(records):
    (fit,) = ch.depth_slopes(records, [30], metric="script")
    assert abs(fit.slope + 0.5) < 0.15
    assert ch.gap_table(records, [30], metric="script")[0, 0] == records[2].script_metric(30)


def test_gap_table_against_the_weights_of_every_step(data, records):
    # both metrics recomputed from the weights themselves, step by step (not from the engine's summaries)
    x, y = data
    T = 12
    rec = H.train(fig1_net(8), x, y, steps=T, eta=0.05, normalization="nd", snapshot_steps=range(T + 1))
    snaps = [rec.snapshots[i] for i in range(T + 1)]
    gap = lambda Z: torch.linalg.vector_norm(Z[1:] - Z[:-1], dim=(1, 2))
    max_metric = max(float((gap(s["V"]) + gap(s["W"])).max()) for s in snaps)
    script = max(math.sqrt(sum(float(gap(s[k]).pow(2).sum()) for s in snaps[:T])) for k in ("V", "W"))
    table = ch.gap_table(records, [T], metric="max"), ch.gap_table(records, [T], metric="script")
    assert math.isclose(table[0][0, 1], max_metric, rel_tol=1e-12)
    assert math.isclose(table[1][0, 1], script, rel_tol=1e-12)


def test_clipping_changes_the_trajectory_but_not_the_rate(data, records):
    x, y = data
    clipped = sweep(x, y, [2, 8, 32], steps=30, eta=0.05, clip=0.02)
    assert not torch.allclose(clipped[8].net.V, records[8].net.V)
    assert abs(ch.depth_slopes(clipped, [30])[0].slope + 1) < 0.15


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
    res = ch.depth_limit_run(x, y, [6, 4], 12, m=M, steps=3, eta=0.05, seed=0, snapshot_steps=[3])
    assert res.depths == [4, 6]
    ref = H.train(fig1_net(12), x, y, steps=3, eta=0.05, normalization="nd").net
    for j, L in enumerate([4, 6]):
        net = H.train(fig1_net(L), x, y, steps=3, eta=0.05, normalization="nd").net
        assert math.isclose(res.distances[0, j], H.depth_distance(net.V, net.W, ref.V, ref.W), rel_tol=1e-12)


def test_depth_limit_restores_the_thread_count(data):
    x, y = data
    before = torch.get_num_threads()
    ch.depth_limit_run(x, y, [2, 4], 8, m=M, steps=1, seed=0, snapshot_steps=[1])
    assert torch.get_num_threads() == before


def test_depth_limit_matches_a_direct_computation_with_the_full_reference(data, limit):
    x, y = data
    ref = H.train(fig1_net(64), x, y, steps=20, eta=0.05, normalization="nd", snapshot_steps=[20])
    net4 = H.train(fig1_net(4), x, y, steps=20, eta=0.05, normalization="nd").net
    direct = H.depth_distance(net4.V, net4.W, ref.snapshots[20]["V"], ref.snapshots[20]["W"])
    assert math.isclose(limit.distances[-1, 1], direct, rel_tol=1e-12)
    x_eval, _ = H.gaussian_data(15, D, seed=1)
    gap = float((net4(x_eval) - ref.net(x_eval)).norm(dim=1).max())
    assert math.isclose(limit.output_gap[1], gap, rel_tol=1e-12)


def test_scaled_gap_curves_and_effective_rate(records):
    t, curves = ch.scaled_gap_curves(records)
    assert t.shape == (31,) and set(curves) == {2, 8, 32}
    assert np.array_equal(t, np.arange(31) * 0.05)
    for L, c in curves.items():
        assert np.array_equal(c, [L * records[L].max_gap_up_to(i) for i in range(31)])
    tt = np.linspace(0.1, 3, 30)
    assert math.isclose(ch.effective_exponential_rate(tt, 0.3 * tt * np.exp(1.7 * tt), t_min=0.5), 1.7,
                        rel_tol=1e-9)
    # only the points with t >= t_min count
    bent = np.where(tt < 1, 5.0, 0.3 * tt * np.exp(1.7 * tt))
    assert math.isclose(ch.effective_exponential_rate(tt, bent, t_min=1.0), 1.7, rel_tol=1e-9)
    with pytest.raises(ValueError, match="constant"):
        ch.effective_exponential_rate([1, 2, 3], [1, float("nan"), 3], t_min=0)
    with pytest.raises(TypeError, match="t_min"):
        ch.effective_exponential_rate([1, 2, 3], [1, 2, 3], t_min="0")
    with pytest.raises(ValueError, match="t and constant"):
        ch.effective_exponential_rate([1, 2, 3], [1, 2], t_min=0)


def test_records_of_different_steps_or_wrong_depths_are_refused(data, records):
    x, y = data
    other = sweep(x, y, [4, 16], steps=30, eta=0.01)
    for f in (lambda r: ch.gap_table(r, [5]), ch.scaled_gap_curves):
        with pytest.raises(ValueError, match="records"):
            f({**records, **other})                     # two step sizes
        with pytest.raises(ValueError, match="records"):
            f({2: records[2], 9: records[8]})           # key 9, network of depth 8
        with pytest.raises(TypeError, match="records"):
            f({2: None, 4: None})


def test_alpha_lower_estimate_follows_the_formula():
    W0 = torch.diag(torch.tensor([3.0, 4.0], dtype=torch.float64))
    x = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    y = torch.tensor([[0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)
    # M = 5, K' = 0.5 * 4, M_X = 2, M_Y = 1:  2 * 2 * 5 * (25 * 2 + 1)
    assert math.isclose(ch.alpha_lower_estimate(W0, x, y, sigma_prime_0=0.5), 2 * 2 * 5 * 51)
    with pytest.raises(ValueError, match="W0"):
        ch.alpha_lower_estimate(torch.ones(2, 3, dtype=torch.float64), x, y, sigma_prime_0=0.5)
    with pytest.raises(ValueError, match="sigma_prime_0"):
        ch.alpha_lower_estimate(W0, x, y, sigma_prime_0=0.0)


def test_bad_arguments_are_named(data, records):
    x, y = data
    run = lambda **kw: ch.depth_limit_run(**{**dict(x=x, y=y, depths=[2, 4], L_ref=8, m=M, steps=2, seed=0,
                                                    snapshot_steps=[2]), **kw})
    bad = [(dict(depths=[2, 3]), ValueError, "depths"), (dict(depths=[4]), ValueError, "depths"),
           (dict(depths=4), TypeError, "depths"), (dict(L_ref=8.0), TypeError, "L_ref"),
           (dict(snapshot_steps=[5]), ValueError, "snapshot_steps"),
           (dict(snapshot_steps=2), TypeError, "snapshot_steps"),
           (dict(x_eval=x.float()), TypeError, "x_eval"), (dict(x_eval=x[:, :2]), ValueError, "x_eval"),
           (dict(y=y[:, :2]), ValueError, "y"), (dict(x=x[:0], y=y[:0]), ValueError, "x"),
           (dict(x=x.numpy()), TypeError, "x"), (dict(m=0), ValueError, "m"),
           (dict(eta=-1.0), ValueError, "eta"), (dict(normalization="mean"), ValueError, "normalization")]
    for kw, error, name in bad:
        with pytest.raises(error, match=rf"^{name} "):        # the message starts with the argument
            run(**kw)
    with pytest.raises(ValueError, match="horizons"):
        ch.gap_table(records, [31])
    with pytest.raises(TypeError, match="horizons"):
        ch.gap_table(records, 5)
    with pytest.raises(ValueError, match="metric"):
        ch.gap_table(records, [5], metric="mean")


def test_distance_slope_at_a_step(limit):
    assert limit.distance_slope(limit.steps[-1]).slope == limit.distance_slope().slope
    assert limit.distance_slope(4).slope == H.fit_loglog_slope(limit.depths, limit.distances[2]).slope
    with pytest.raises(ValueError, match="step"):
        limit.distance_slope(3)


def test_figures_draw(records):
    import matplotlib.pyplot as plt

    ax = ch.plot_gap_vs_depth(records, [10, 30])
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert len(texts) == 3 and "slope" in texts[0] and "reference slope -1" in texts[-1]
    assert np.array_equal(ax.lines[0].get_xdata(), [2, 8, 32])
    assert np.array_equal(ax.lines[0].get_ydata(), ch.gap_table(records, [10])[0])
    ax = ch.plot_gap_vs_depth(records, [30], metric="script")
    assert "reference slope -0.5" in ax.get_legend().get_texts()[-1].get_text()
    ax = ch.plot_scaled_gaps(records)
    t, curves = ch.scaled_gap_curves(records)
    assert len(ax.lines) == 3 and np.array_equal(ax.lines[2].get_ydata(), curves[32])
    plt.close("all")
