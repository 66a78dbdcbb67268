import math

import numpy as np
import pytest
import torch

import helpers as H
from helpers.chapters import ch05_what_breaks as ch


# -- the analytic w* ---------------------------------------------------------------------------------
def test_w_star_solves_its_equation_and_exceeds_2_log_C():
    for L in (1, 3, 16, 1000):
        for C in (1.1, 1.5, 2.0, 5.0):
            w = ch.relu_w_star(L, C)
            assert (1 + w / (2 * L)) ** L == pytest.approx(C, rel=1e-12)
            assert w >= 2 * math.log(C)
    assert ch.relu_w_star(1, 2.0) == pytest.approx(2.0)
    assert ch.relu_w_star(10**6, 2.0) == pytest.approx(2 * math.log(2), rel=1e-5)
    assert ch.relu_w_star(4, 2.0) > ch.relu_w_star(8, 2.0)          # decreasing in L


@pytest.mark.parametrize("kwargs, error, match", [(dict(L=0, C=2.0), ValueError, "L must"),
                                                  (dict(L=2, C=1.0), ValueError, "C must be > 1"),
                                                  (dict(L=2, C=-3.0), ValueError, "C must"),
                                                  (dict(L=2.5, C=2.0), TypeError, "L must")])
def test_w_star_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ch.relu_w_star(**kwargs)


# -- the network and its training ---------------------------------------------------------------------
def test_counterexample_net_is_the_appendix_model():
    net = ch.counterexample_net(3, "relu")
    assert net.L == 6 and net.q == 1 and net.m == 1
    assert torch.equal(net.V, torch.ones(6, 1, 1, dtype=torch.float64))
    assert torch.allclose(net.W.flatten(), torch.tensor([-1, 1, -1, 1, -1, 1], dtype=torch.float64) / 6)
    # forward pass by hand: odd layers (negative w) add relu(<0) = 0, even layers multiply by 1 + w/(2L)
    x = torch.tensor([[0.7]], dtype=torch.float64)
    assert float(net(x)) == pytest.approx(0.7 * (1 + (1 / 6) / 6) ** 3)
    h = 0.7
    tanh_net = ch.counterexample_net(3, "tanh")
    for w in tanh_net.W.flatten().tolist():
        h = h + math.tanh(w * h) / 6
    assert float(tanh_net(x)) == pytest.approx(h)


def test_counterexample_net_dtype_and_bad_arguments():
    net = ch.counterexample_net(2, dtype=torch.float32)
    assert net.V.dtype == net.W.dtype == torch.float32
    assert torch.equal(net.W.flatten(), torch.tensor([-0.25, 0.25, -0.25, 0.25]))
    for bad in ("float64", torch.int64):
        with pytest.raises(TypeError, match="dtype"):
            ch.counterexample_net(2, dtype=bad)
    with pytest.raises(ValueError, match="L must"):
        ch.counterexample_net(0)
    with pytest.raises(ValueError, match="activation"):
        ch.counterexample_net(2, "swish")


@pytest.mark.parametrize("L", [2, 8, 32])
def test_relu_odd_weights_frozen_even_weights_reach_w_star(L):
    run = ch.run_counterexample(L, C=1.5, steps=200)
    assert run.odd_drift == 0.0
    assert run.even_drift == pytest.approx(run.w_star - 1 / (2 * L), rel=1e-3)
    assert run.even_rel_error < 1e-3
    assert np.allclose(run.even, run.even[0])                      # all even layers follow one dynamics
    assert run.final_gap == pytest.approx(run.w_star + 1 / (2 * L), rel=1e-3)
    assert run.final_gap >= 2 * math.log(1.5)
    # training changed the gaps by the even weights' displacement (the odd ones stay): Omega(1)
    assert run.change_gap == pytest.approx(run.w_star - 1 / (2 * L), rel=1e-3)
    assert run.max_gap_overall == pytest.approx(run.final_gap)
    assert run.losses[-1] < 1e-12 * max(run.losses[0], 1.0)
    assert run.eta == pytest.approx(0.5 * L)
    assert run.w0.shape == run.w.shape == (2 * L,)


def test_without_training_nothing_changes():
    run = ch.run_counterexample(4, C=1.5, steps=0)
    assert run.change_gap == 0.0 and run.even_drift == 0.0 and run.odd_drift == 0.0
    assert np.array_equal(run.w, run.w0)
    assert run.max_gap_overall == pytest.approx(1 / 4)             # the initial gap 1/L


def test_relu_run_is_the_papers_gradient_flow():
    # one step of size eta moves each even weight by eta * 2 (C x - h) x * prod_{j != k}(1 + w_j/(2L)) / (2L)
    L, C, x = 4, 2.0, 0.8
    run = ch.run_counterexample(L, C=C, x=x, steps=1, step_scale=0.1)
    a = 1 + (1 / (2 * L)) / (2 * L)
    h = x * a ** L
    grad = -2 * (C * x - h) * x * a ** (L - 1) / (2 * L)
    assert run.even[0] == pytest.approx(1 / (2 * L) - run.eta * grad, rel=1e-12)
    assert run.losses[0] == pytest.approx((h - C * x) ** 2, rel=1e-12)


def test_smooth_activation_keeps_the_gap_of_order_one_over_L():
    runs = {L: ch.run_counterexample(L, C=1.5, activation="gelu", steps=200) for L in (8, 32)}
    assert 3.0 < runs[8].max_gap_overall / runs[32].max_gap_overall < 5.5     # ~ 4 = ratio of depths: O(1/L)
    assert 3.0 < runs[8].change_gap / runs[32].change_gap < 5.5
    relu = ch.run_counterexample(32, C=1.5, steps=200)
    assert relu.max_gap_overall > 10 * runs[32].max_gap_overall
    assert relu.change_gap > 10 * runs[32].change_gap


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(x=-1.0), ValueError, "x must"),
    (dict(C=0.5), ValueError, "C must be > 1"),
    (dict(activation="swish"), ValueError, "activation"),
    (dict(step_scale=0.0), ValueError, "step_scale"),
    (dict(steps=2.5), TypeError, "steps"),
    (dict(L=0), ValueError, "L must"),
])
def test_run_counterexample_rejects_bad_arguments(kwargs, error, match):
    kwargs = {"L": 4, "C": 2.0, **kwargs}
    with pytest.raises(error, match=match):
        ch.run_counterexample(kwargs.pop("L"), **kwargs)


# -- the notebook's Section 2 measurement on the engine ------------------------------------------------
def test_change_of_the_gaps_shrinks_like_one_over_L_from_tied_start_not_from_iid():
    # max_k ||dZ_k(T) - dZ_k(0)|| with dZ_k = Z_{k+1} - Z_k: the gaps of the displacement Z(T) - Z(0)
    x, y = H.gaussian_data(40, 8, seed=0)
    depths = [4, 16, 64]
    change, kept = {}, {}
    for kind in ("tied", "iid"):
        for L in depths:
            net = H.make_resnet(L, 8, 16, kind=kind, form="normalized", seed=0)
            rec = H.train(net, x, y, steps=20, eta=0.01, normalization="n", progress=False)
            assert rec.losses[-1] < rec.losses[0]
            change[kind, L] = H.max_layer_gap(rec.net.V - net.V, rec.net.W - net.W)
            kept[kind, L] = H.max_layer_gap(rec.net.V, rec.net.W) / max(H.max_layer_gap(net.V, net.W), 1e-300)
    assert H.fit_loglog_slope(depths, [change["tied", L] for L in depths]).slope == pytest.approx(-1, abs=0.15)
    assert abs(H.fit_loglog_slope(depths, [change["iid", L] for L in depths]).slope) < 0.15
    assert min(kept["iid", L] for L in depths) > 0.9                # training does not smooth the i.i.d. weights
