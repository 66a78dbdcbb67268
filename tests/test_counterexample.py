import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import helpers as H


# -- the analytic w* ---------------------------------------------------------------------------------
def test_w_star_solves_its_equation_and_exceeds_2_log_C():
    for L in (1, 3, 16, 1000):
        for C in (1.1, 1.5, 2.0, 5.0):
            w = H.relu_w_star(L, C)
            assert (1 + w / (2 * L)) ** L == pytest.approx(C, rel=1e-12)
            assert w >= 2 * math.log(C)
    assert H.relu_w_star(1, 2.0) == pytest.approx(2.0)
    assert H.relu_w_star(10**6, 2.0) == pytest.approx(2 * math.log(2), rel=1e-5)
    assert H.relu_w_star(4, 2.0) > H.relu_w_star(8, 2.0)          # decreasing in L


@pytest.mark.parametrize("kwargs, match", [(dict(L=0, C=2.0), "L must"), (dict(L=2, C=1.0), "C must be > 1"),
                                           (dict(L=2, C=-3.0), "C must"), (dict(L=2.5, C=2.0), "L must")])
def test_w_star_rejects_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        H.relu_w_star(**kwargs)


# -- the network and its training ---------------------------------------------------------------------
def test_counterexample_net_is_the_appendix_model():
    net = H.counterexample_net(3, "relu")
    assert net.L == 6 and net.q == 1 and net.m == 1
    assert torch.allclose(net.W.flatten(), torch.tensor([-1, 1, -1, 1, -1, 1], dtype=torch.float64) / 6)
    # forward pass by hand: odd layers (negative w) add relu(<0) = 0, even layers multiply by 1 + w/(2L)
    x = torch.tensor([[0.7]], dtype=torch.float64)
    assert float(net(x)) == pytest.approx(0.7 * (1 + (1 / 6) / 6) ** 3)
    h = 0.7
    tanh_net = H.counterexample_net(3, "tanh")
    for w in tanh_net.W.flatten().tolist():
        h = h + math.tanh(w * h) / 6
    assert float(tanh_net(x)) == pytest.approx(h)


def test_counterexample_net_dtype():
    net = H.counterexample_net(2, dtype=torch.float32)
    assert net.V.dtype == net.W.dtype == torch.float32
    assert torch.equal(net.W.flatten(), torch.tensor([-0.25, 0.25, -0.25, 0.25]))
    for bad in ("float64", torch.int64):
        with pytest.raises(TypeError, match="dtype must be torch.float32 or torch.float64"):
            H.counterexample_net(2, dtype=bad)


@pytest.mark.parametrize("L", [2, 8, 32])
def test_relu_odd_weights_frozen_even_weights_reach_w_star(L):
    run = H.run_counterexample(L, C=1.5, steps=200)
    assert run.odd_drift == 0.0
    assert run.even_rel_error < 1e-3
    assert np.allclose(run.even, run.even[0])                      # all even layers follow one dynamics
    assert run.final_gap == pytest.approx(run.w_star + 1 / (2 * L), rel=1e-3)
    assert run.final_gap >= 2 * math.log(1.5)
    assert run.losses[-1] < 1e-12 * max(run.losses[0], 1.0)
    assert run.eta == pytest.approx(0.5 * L)


def test_relu_run_is_the_papers_gradient_flow():
    # one step of size eta moves each even weight by eta * 2 (C x - h) x * prod_{j != k}(1 + w_j/(2L)) / (2L)
    L, C, x = 4, 2.0, 0.8
    run = H.run_counterexample(L, C=C, x=x, steps=1, step_scale=0.1)
    a = 1 + (1 / (2 * L)) / (2 * L)
    h = x * a ** L
    grad = -2 * (C * x - h) * x * a ** (L - 1) / (2 * L)
    assert run.even[0] == pytest.approx(1 / (2 * L) - run.eta * grad, rel=1e-12)


def test_smooth_activation_keeps_the_gap_of_order_one_over_L():
    gaps = [H.run_counterexample(L, C=1.5, activation="gelu", steps=200).max_gap_overall for L in (8, 32)]
    assert 3.0 < gaps[0] / gaps[1] < 5.5                           # ~ 4 = ratio of depths: O(1/L)
    relu = H.run_counterexample(32, C=1.5, steps=200)
    assert relu.max_gap_overall > 10 * gaps[1]


def test_run_counterexample_rejects_bad_arguments():
    with pytest.raises(ValueError, match="x must"):
        H.run_counterexample(4, C=2.0, x=-1.0)
    with pytest.raises(ValueError, match="C must be > 1"):
        H.run_counterexample(4, C=0.5)
    with pytest.raises(ValueError, match="activation must be one of"):
        H.run_counterexample(4, C=2.0, activation="swish")


# -- gap sweeps ----------------------------------------------------------------------------------------
def test_tied_gap_shrinks_like_one_over_L_iid_gap_does_not():
    x, y = H.gaussian_data(20, 4, seed=0)
    tied = H.gap_sweep(x, y, [4, 16], form="simple", kind="tied", m=6, steps=20)
    assert tied.initial_gap.tolist() == [0.0, 0.0]
    assert tied.slope().slope == pytest.approx(-1, abs=0.15)
    assert np.all(tied.loss_end < tied.loss_start)
    iid = H.gap_sweep(x, y, [4, 16], form="paper", kind="iid", m=6, steps=20, normalization="n")
    assert abs(iid.slope().slope) < 0.15 and np.all(iid.initial_gap > 1)
    assert np.all(iid.loss_end < iid.loss_start)


@pytest.mark.parametrize("form, kind", [("simple", "tied"), ("simple", "smooth"), ("paper", "iid"), ("paper", "tied")])
def test_gap_sweep_trains_the_chapters_networks(form, kind):
    # simple form: notebook 04's fig1_network (V = 0, W by kind); paper form: notebook 02's make_resnet
    x, y = H.gaussian_data(12, 3, seed=2)
    sw = H.gap_sweep(x, y, [2, 4], form=form, kind=kind, m=5, steps=3, seed=1, normalization="n")
    for i, L in enumerate([2, 4]):
        net = (H.fig1_network(L, d=3, m=5, seed=1, kind=kind) if form == "simple" else
               H.make_resnet(*H.regime_weights(L, 3, 5, kind=kind, scaling="1/L", seed=1), "gelu"))
        rec = H.train(net, x, y, steps=3, eta=0.01, normalization="n")
        assert sw.max_gap[i] == rec.max_gap_up_to(3) and sw.initial_gap[i] == rec.max_gap[0]
        assert sw.loss_start[i] == rec.losses[0] and sw.loss_end[i] == rec.losses[-1]


def test_sqrt_L_gap_is_measured_on_the_natural_weights():
    x, y = H.gaussian_data(10, 4, seed=1)
    sw = H.gap_sweep(x, y, [4, 16], form="paper", kind="iid", scaling="1/sqrt(L)", m=6, steps=2)
    for L, g0 in zip(sw.depths, sw.initial_gap):
        V, W = H.init_weights(int(L), 4, 6, kind="iid", seed=0)    # regime_weights = these, V times sqrt(L)
        assert g0 == pytest.approx(H.max_layer_gap(V, W), rel=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(form="other", kind="tied"), "form must"),
    (dict(form="simple", kind="tied", scaling="1/sqrt(L)"), "simplified form"),
    (dict(form="simple", kind="random"), "kind must"),
    (dict(form="simple", kind="tied", depths=[4]), "at least two"),
    (dict(form="simple", kind="tied", depths=[16, 4]), "increasing"),
    (dict(form="simple", kind="tied", depths=[1, 4]), "depths entry"),
])
def test_gap_sweep_rejects_bad_arguments(kwargs, match):
    x, y = H.gaussian_data(5, 4, seed=0)
    kwargs = {"depths": [2, 4], **kwargs}
    with pytest.raises(ValueError, match=match):
        H.gap_sweep(x, y, kwargs.pop("depths"), steps=1, **kwargs)


def test_gap_sweep_rejects_bad_data():
    x, y = H.gaussian_data(5, 4, seed=0)
    cases = [((x, y, 4), TypeError, "depths must be a list"),
             ((x[:0], y[:0], [2, 4]), ValueError, "x must hold at least one sample"),
             ((x.float(), y.float(), [2, 4]), TypeError, "x must be float64"),
             ((x, y.float(), [2, 4]), TypeError, "y must be float64"),
             ((x, y[:, :2], [2, 4]), ValueError, "y must have shape"),
             ((x, y.tolist(), [2, 4]), TypeError, "y must be a torch.Tensor")]
    for args, error, match in cases:
        with pytest.raises(error, match=match):
            H.gap_sweep(*args, form="simple", kind="tied", steps=1)


# -- figures ---------------------------------------------------------------------------------------------
def test_plots_draw_and_return_fits():
    x, y = H.gaussian_data(10, 4, seed=0)
    sw = H.gap_sweep(x, y, [2, 4, 8], form="simple", kind="tied", m=5, steps=3)
    fig, (a1, a2) = plt.subplots(1, 2)
    fits = H.plot_gap_sweeps(a1, {"tied": sw}, title="t")
    assert fits["tied"].slope == pytest.approx(sw.slope().slope)
    runs = {"ReLU": H.run_counterexample(2, C=1.5, steps=5)}
    H.plot_counterexample_weights(a2, runs)
    assert len(a2.lines) == 2
    with pytest.raises(ValueError, match="empty"):
        H.plot_gap_sweeps(a1, {})
    with pytest.raises(ValueError, match="empty"):
        H.plot_counterexample_weights(a2, {})
    with pytest.raises(TypeError, match=r"sweeps\['a'\] must be a GapSweep"):
        H.plot_gap_sweeps(a1, {"a": 1})
    with pytest.raises(TypeError, match=r"runs\['a'\] must be a CounterexampleRun"):
        H.plot_counterexample_weights(a2, {"a": 1})
    flat = H.gap_sweep(x, y, [2, 4], form="simple", kind="tied", m=5, steps=1)      # no gap yet after one step
    with pytest.raises(ValueError, match=r"sweeps\['flat'\].max_gap must be positive"):
        H.plot_gap_sweeps(a1, {"flat": flat})
    plt.close(fig)
