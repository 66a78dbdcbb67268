import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import helpers as H
from helpers import depth_limits as DL


@pytest.fixture
def x():
    return H.gaussian_data(12, 4, seed=0)[0]


def test_sqrt_L_scaling_matches_init_weights_for_iid_and_multiplies_V_for_smooth():
    V1, W1 = DL.regime_weights(16, 4, 6, kind="iid", scaling="1/sqrt(L)", seed=3)
    V2, W2 = H.init_weights(16, 4, 6, kind="iid", scaling="1/sqrt(L)", seed=3)
    assert torch.equal(V1, V2) and torch.equal(W1, W2)
    Vs, Ws = DL.regime_weights(16, 4, 6, kind="smooth", scaling="1/sqrt(L)", seed=3)
    V0, W0 = H.init_weights(16, 4, 6, kind="smooth", seed=3)
    assert torch.allclose(Vs, 4.0 * V0) and torch.equal(Ws, W0)


def test_resnet_is_the_euler_scheme_of_its_ode_with_the_papers_factors(x):
    # one ResNet step with weights at s = k/L equals one Euler step of the normalised ODE field
    L, m = 8, 6
    V, W = DL.regime_weights(L, 4, m, kind="smooth", scaling="1/L", seed=1)
    h = DL.resnet_states(x, L, m=m, seed=1)
    ode = DL.make_ode(4, m, seed=1)
    step = h[0] + ode(1.0 / L, h[0]) / L          # V(1/L), W(1/L) are the weights of layer 1
    assert torch.allclose(h[1], step, atol=1e-12)
    assert torch.allclose(h[1], x + torch.tanh(x @ W[0].T / 2) @ V[0].T / (L * math.sqrt(m)))


def test_smooth_resnet_converges_to_the_ode_at_rate_one_over_L(x):
    sweep = DL.resnet_to_ode_errors(x, [8, 16, 32, 64, 128], m=6, seed=0)
    assert abs(H.fit_loglog_slope(sweep.depths, sweep.errors).slope + 1) < 0.1
    assert sweep.errors[-1] < 1e-2


def test_ode_path_matches_an_independent_fine_rk4_solve(x):
    # reference: the course's fixed-step RK4 with many steps (error ~ 1e-13), not another dopri5 solve
    s_eval = np.linspace(0, 1, 5)
    path = DL.ode_path(x, s_eval, m=6, seed=0)
    assert path.shape == (5, 12, 4)
    assert torch.equal(path[0], x)
    ode = DL.make_ode(4, m=6, seed=0)
    with torch.no_grad():
        rk4_path = ode.solve(x, method="rk4", n_steps=2000, return_path=True)      # s = 0, 1/2000, ..., 1
    assert torch.allclose(path, rk4_path[::500], atol=1e-8)
    out = DL.resnet_to_ode_errors(x, [2, 4], m=6, seed=0).ode_output
    assert torch.allclose(out, rk4_path[-1], atol=1e-8)


def test_the_four_corners(x):
    depths = [8, 32, 128, 512]
    slope = {}
    for name, (kind, scaling) in DL.REGIMES.items():
        sw = DL.regime_sweep(x, depths, kind=kind, scaling=scaling, m=6, seeds=range(3))
        assert sw.outputs.shape == (4, 3, 12, 4) and sw.gaps.shape == (3,)
        slope[name] = H.fit_loglog_slope(depths, sw.displacement).slope
        if name == "ODE":
            assert H.fit_loglog_slope(depths[1:], sw.gaps).slope < -0.85
    assert abs(slope["identity"] + 0.5) < 0.15
    assert abs(slope["SDE-like"]) < 0.15 and abs(slope["ODE"]) < 0.05
    assert slope["explosion"] > 0.3


def test_iid_weights_with_sqrt_L_keep_fluctuating_pathwise_but_settle_in_distribution(x):
    sw = DL.regime_sweep(x, [16, 64, 256], kind="iid", scaling="1/sqrt(L)", m=6, seeds=range(16))
    assert sw.gaps.min() > 0.2                                   # no pathwise limit under this coupling
    assert sw.spread.shape == (3,) and np.all(sw.spread > 0.1)   # the law stays spread out ...
    assert np.ptp(sw.spread) < 0.25 * sw.spread.mean()           # ... and settles (limit in distribution)
    expected = sw.outputs.std(dim=1).mean(dim=(1, 2)).numpy()
    assert np.allclose(sw.spread, expected)
    one_seed = DL.regime_sweep(x, [4, 8], kind="iid", scaling="1/sqrt(L)", m=6, seeds=0)
    assert np.all(np.isnan(one_seed.spread))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(depths=[8, 4]), ValueError, "strictly increasing"),
    (dict(depths=[8]), ValueError, "at least 2"),
    (dict(depths=[4, 8.5]), TypeError, "each depth"),
    (dict(depths=5), TypeError, "depths must be a list"),
    (dict(kind="gaussian"), ValueError, "kind must be one of"),
    (dict(scaling="1/L^2"), ValueError, "scaling must be one of"),
    (dict(seeds=[]), ValueError, "at least one seed"),
    (dict(seeds=1.5), TypeError, "seeds must be an integer >= 0 or a list of them, got 1.5"),
    (dict(seeds=[-1]), ValueError, "each seed must be an integer >= 0, got -1"),
    (dict(m=0), ValueError, "m must be an integer >= 1, got 0"),
])
def test_bad_arguments_are_named(x, kwargs, error, match):
    args = dict(depths=[4, 8], kind="iid", scaling="1/L", m=3, seeds=[0]) | kwargs
    with pytest.raises(error, match=match):
        DL.regime_sweep(x, **args)


def test_float32_input_is_refused(x):
    with pytest.raises(TypeError, match="x must be float64"):
        DL.resnet_to_ode_errors(x.float(), [2, 4], m=3, seed=0)
    with pytest.raises(ValueError, match="s_eval must be increasing"):
        DL.ode_path(x, [0.5, 1.0], m=3, seed=0)


def test_numpy_integer_seed_is_one_seed(x):
    a = DL.regime_sweep(x, [2, 4], kind="iid", scaling="1/L", m=3, seeds=np.int64(1))
    b = DL.regime_sweep(x, [2, 4], kind="iid", scaling="1/L", m=3, seeds=[1])
    assert a.outputs.shape[1] == 1 and torch.equal(a.outputs, b.outputs)


def test_bad_inputs_are_named_not_left_to_the_solver(x):
    empty = torch.zeros(0, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x must hold at least one sample.*\(0, 4\)"):
        DL.resnet_to_ode_errors(empty, [2, 4], m=3, seed=0)
    with pytest.raises(ValueError, match=r"x must hold at least one sample"):
        DL.regime_sweep(empty, [2, 4], kind="iid", scaling="1/L", m=3)
    zero_row = x.clone()
    zero_row[2] = 0.0
    with pytest.raises(ValueError, match=r"x has 1 row\(s\) of norm 0 \(rows \[2\]\)"):
        DL.regime_sweep(zero_row, [2, 4], kind="iid", scaling="1/L", m=3)
    with pytest.raises(ValueError, match=r"s_eval must be increasing, finite.*got \[0.0, nan\]"):
        DL.ode_path(x, [0.0, float("nan")], m=3, seed=0)
    with pytest.raises(TypeError, match="s_eval must be a 1-D sequence of depths.*got 0.5"):
        DL.ode_path(x, 0.5, m=3, seed=0)
    with pytest.raises(ValueError, match="rtol must be a finite number > 0, got -1.0"):
        DL.resnet_to_ode_errors(x, [2, 4], m=3, seed=0, rtol=-1.0)
    with pytest.raises(ValueError, match="atol must be a finite number > 0, got 0.0"):
        DL.ode_path(x, [0.0, 1.0], m=3, seed=0, atol=0.0)


def test_plots_draw_one_line_per_depth(x):
    fig, axes = plt.subplots(1, 3)
    tables = {L: DL.regime_weights(L, 4, 3, kind="smooth", scaling="1/L", seed=0)[1] for L in (4, 16)}
    assert len(DL.plot_weights_vs_depth(axes[0], tables).lines) == 2
    states = {L: DL.resnet_states(x, L, m=3, seed=0) for L in (4, 16)}
    path = DL.ode_path(x, np.linspace(0, 1, 11), m=3, seed=0)
    assert len(DL.plot_hidden_states(axes[1], np.linspace(0, 1, 11), path, states).lines) == 3
    sw = {"ODE": DL.regime_sweep(x, [4, 8], kind="smooth", scaling="1/L", m=3)}
    assert len(DL.plot_output_across_depth(axes[2], sw).lines) == 1
    plt.close(fig)


def test_plot_weights_vs_depth_draws_the_entry_against_s():
    tables = {L: DL.regime_weights(L, 4, 3, kind="iid", scaling="1/L", seed=0)[1] for L in (4, 8)}
    ax = DL.plot_weights_vs_depth(plt.subplots()[1], tables, entry=(1, 2), title="t")
    assert np.allclose(ax.lines[1].get_xdata(), np.arange(1, 9) / 8)
    assert np.allclose(ax.lines[1].get_ydata(), tables[8][:, 1, 2].numpy())
    assert ax.get_title() == "t" and ax.get_ylabel() == r"$(W_k)_{11}$" and "s = k/L" in ax.get_xlabel()
    with pytest.raises(ValueError, match="tables is empty"):
        DL.plot_weights_vs_depth(ax, {})
    plt.close("all")


def test_output_across_depth_colours_each_kind(x):
    from matplotlib.colors import to_hex
    sweeps = {kind: DL.regime_sweep(x, [4, 8], kind=kind, scaling="1/L", m=3) for kind in ("smooth", "tied", "iid")}
    ax = DL.plot_output_across_depth(plt.subplots()[1], sweeps)
    assert [to_hex(line.get_color()) for line in ax.lines] == [H.COLORS[k] for k in ("smooth", "tied", "iid")]
    plt.close("all")


def test_plot_hidden_states_rejects_indices_out_of_range(x):
    _, ax = plt.subplots()
    H_ode = torch.zeros(2, 3, 4, dtype=torch.float64)
    with pytest.raises(ValueError, match="sample must be an index < 3 .*got 5"):
        DL.plot_hidden_states(ax, [0, 1], H_ode, {2: torch.zeros(3, 3, 4)}, sample=5)
    with pytest.raises(ValueError, match="coord must be an index < 4 .*got 4"):
        DL.plot_hidden_states(ax, [0, 1], H_ode, {2: torch.zeros(3, 3, 4)}, coord=4)
    with pytest.raises(ValueError, match=r"states\[2\] must have shape \(3, 3, 4\)"):
        DL.plot_hidden_states(ax, [0, 1], H_ode, {2: torch.zeros(2, 3, 4)})
    with pytest.raises(ValueError, match="s_ode must have one depth per row of H_ode"):
        DL.plot_hidden_states(ax, [0, 0.5, 1], H_ode, {})
    plt.close("all")


def test_thread_setting_is_restored_and_one_thread_is_used(x, monkeypatch):
    seen = []
    forward = H.ResNet.forward

    def spy(self, *args, **kwargs):
        seen.append(torch.get_num_threads())
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(H.ResNet, "__call__", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        DL.regime_sweep(x, [2, 4], kind="iid", scaling="1/L", m=3)
        assert torch.get_num_threads() == 3
        DL.resnet_states(x, 4, m=3, seed=0)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    assert seen and set(seen) == {1}
