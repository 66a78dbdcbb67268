import math

import pytest
import torch

import helpers as H
from helpers.adjoint import Gradients
from helpers.chapters import ch10_outlook as ch


def _data(n=5, d=4, seed=0):
    return H.gaussian_data(n, d, seed=seed)


def _smooth_net(L, q=4, m=6, seed=0):
    return H.make_resnet(L, q, m, kind="smooth", V="same", form="normalized", seed=seed)


def test_gradient_memory_matches_the_count_by_hand():
    # per layer autograd saves h (n x q), the pre-activation and the scaled activation (n x m each); h_0 = x is data
    x, y = _data()
    n, q, m, L = 5, 4, 6, 3
    net = H.make_resnet(L, q, m, kind="iid", V="same", form="simple", seed=0)
    bp = ch.gradient_memory(net, x, y, "n", method="backprop")
    adj = ch.gradient_memory(net, x, y, "n", method="adjoint")
    assert bp.peak_bytes == 8 * n * L * (q + 2 * m)
    assert adj.peak_bytes == 8 * n * (q + 2 * m)           # one layer at a time
    deep = H.make_resnet(4 * L, q, m, kind="iid", V="same", form="simple", seed=0)
    assert ch.gradient_memory(deep, x, y, "n", method="adjoint").peak_bytes == adj.peak_bytes
    assert bp.peak_mb == pytest.approx(bp.peak_bytes / 1e6)


def test_gradient_memory_backprop_is_autograd():
    x, y = _data()
    net = _smooth_net(6)
    gm = ch.gradient_memory(net, x, y, "nd", method="backprop")
    loss, ref = H.autograd_gradients(net, x, y, "nd")
    assert gm.loss == pytest.approx(loss, rel=1e-12)
    assert torch.allclose(gm.grads.V, ref.V, rtol=1e-12, atol=1e-14)
    assert torch.allclose(gm.grads.W, ref.W, rtol=1e-12, atol=1e-14)


def test_gradient_memory_rejects_an_unknown_method():
    x, y = _data()
    with pytest.raises(ValueError, match="method"):
        ch.gradient_memory(_smooth_net(2), x, y, "n", method="checkpoint")


# -- the memory-free adjoint ---------------------------------------------------------------------------------
def test_memory_free_adjoint_is_exact_when_the_residuals_vanish():
    # V = 0: every layer is the identity, the reversed Euler step reconstructs h exactly
    x, y = _data()
    net = H.make_resnet(8, 4, 6, kind="iid", V="zero", seed=0)
    loss, g = ch.memory_free_adjoint(net, x, y, "n")
    ref_loss, ref = H.autograd_gradients(net, x, y, "n")
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert g.relative_error(ref) < 1e-12


def test_memory_free_adjoint_error_falls_like_one_over_L():
    x, y = _data(20)
    errors = []
    for L in (16, 64):
        net = _smooth_net(L)
        _, g = ch.memory_free_adjoint(net, x, y, "n")
        errors.append(g.relative_error(H.autograd_gradients(net, x, y, "n")[1]))
    assert 0 < errors[1] < errors[0]
    assert math.log(errors[1] / errors[0]) / math.log(4) == pytest.approx(-1, abs=0.15)


def test_memory_free_adjoint_handles_the_paper_form():
    x, y = H.gaussian_data(6, 3, 2, seed=0)
    net = H.make_resnet(5, 6, 4, kind="tied", V="zero", form="paper", d=3, d_out=2, seed=0)
    loss, g = ch.memory_free_adjoint(net, x, y, "nd")
    ref_loss, ref = H.autograd_gradients(net, x, y, "nd")
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert g.A.shape == (6, 3) and g.B.shape == (2, 6)
    assert g.relative_error(ref) < 1e-12       # V = 0: exact, A and B included


def test_memory_free_adjoint_iterations_converge_to_the_exact_gradient():
    # the fixed point of g <- h_k - c f(g, Z_k) is the exact h_{k-1}: each iteration contracts the error
    x, y = _data(20)
    net = _smooth_net(16)
    ref_loss, ref = H.autograd_gradients(net, x, y, "n")
    errors = [ch.memory_free_adjoint(net, x, y, "n", iterations=it)[1].relative_error(ref)
              for it in (1, 2, 3)]
    assert errors[0] == ch.memory_free_adjoint(net, x, y, "n")[1].relative_error(ref)   # default: one
    assert errors[2] < errors[1] / 3 < errors[0] / 9
    loss, g = ch.memory_free_adjoint(net, x, y, "n", iterations=60)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    assert g.relative_error(ref) < 1e-10


@pytest.mark.parametrize("change, error, match", [
    (dict(net="not a net"), TypeError, "net"),
    (dict(iterations=0), ValueError, "iterations"),
    (dict(iterations=1.5), TypeError, "iterations"),
    (dict(normalization="mean"), ValueError, "normalization"),
    (dict(y=torch.zeros(5, 3, dtype=torch.float64)), ValueError, "y"),
    (dict(x=torch.zeros(5, 4, dtype=torch.float32)), TypeError, "x"),
])
def test_memory_free_adjoint_rejects_bad_inputs(change, error, match):
    x, y = _data()
    args = dict(net=_smooth_net(2), x=x, y=y, normalization="n") | change
    with pytest.raises(error, match=match):
        ch.memory_free_adjoint(**args)


# -- changing the depth --------------------------------------------------------------------------------------
def test_keep_every_of_a_tied_network_is_the_shallower_tied_network():
    x, _ = _data()
    net = H.make_resnet(12, 4, 6, kind="tied", V="same", seed=3)
    kept = ch.keep_every(net, 3)
    shallow = H.make_resnet(4, 4, 6, kind="tied", V="same", seed=3)      # the same matrices, 4 layers
    assert kept.L == 4
    assert torch.allclose(kept(x), shallow(x), rtol=1e-13, atol=1e-13)
    assert torch.equal(ch.keep_every(net, 1).V, net.V)
    assert torch.equal(kept.V, net.V[2::3])                                 # layers 3, 6, 9, 12


def test_keep_every_moves_a_smooth_network_by_order_r_over_L():
    x, _ = _data(20)
    gaps = [ch.rms_output_gap(ch.keep_every(_smooth_net(L), 2), _smooth_net(L), x) for L in (16, 64)]
    assert math.log(gaps[1] / gaps[0]) / math.log(4) == pytest.approx(-1, abs=0.15)


@pytest.mark.parametrize("r, error, match", [(5, ValueError, "r must divide"), (0, ValueError, "r"),
                                             (2.0, TypeError, "r")])
def test_keep_every_rejects_bad_r(r, error, match):
    with pytest.raises(error, match=match):
        ch.keep_every(_smooth_net(12), r)


def test_interpolate_depth_reproduces_an_affine_function_of_depth():
    L, L_new = 4, 12
    s = torch.arange(1, L + 1, dtype=torch.float64) / L
    V = (1.0 + 2.0 * s).reshape(L, 1, 1).expand(L, 2, 3).clone()
    W = (3.0 - s).reshape(L, 1, 1).expand(L, 3, 2).clone()
    new = ch.interpolate_depth(H.ResNet(V, W), L_new)
    s_new = torch.arange(1, L_new + 1, dtype=torch.float64) / L_new
    s_clamped = s_new.clamp(min=1 / L)                                     # constant before the first node
    assert new.L == L_new
    assert torch.allclose(new.V[:, 0, 0], 1.0 + 2.0 * s_clamped, atol=1e-14)
    assert torch.allclose(new.W[:, 1, 1], 3.0 - s_clamped, atol=1e-14)


def test_interpolate_depth_to_the_same_depth_is_the_identity_and_depth_one_is_copied():
    x, _ = _data()
    net = _smooth_net(8)
    assert ch.rms_output_gap(ch.interpolate_depth(net, 8), net, x) == pytest.approx(0.0, abs=1e-14)
    one = _smooth_net(1)
    assert torch.equal(ch.interpolate_depth(one, 5).W, one.W.expand(5, -1, -1))
    with pytest.raises(ValueError, match="L_new"):
        ch.interpolate_depth(net, 0)
    with pytest.raises(TypeError, match="net"):
        ch.interpolate_depth("net", 4)


def test_rms_output_gap_by_hand():
    x, _ = _data()
    a = H.make_resnet(3, 4, 6, kind="iid", V="zero", seed=0)               # the identity map
    b = H.make_resnet(3, 4, 6, kind="iid", V="same", seed=0)
    expected = float((b(x) - x).pow(2).sum(dim=1).mean().sqrt())
    assert ch.rms_output_gap(a, b, x) == pytest.approx(expected)
    assert ch.rms_output_gap(b, b, x) == 0.0
    with pytest.raises(TypeError, match="net_b"):
        ch.rms_output_gap(a, None, x)


# -- the backward recursion and its limit --------------------------------------------------------------------
def test_backward_recursion_with_the_transpose_is_backpropagation():
    x, y = _data()
    net = _smooth_net(10)
    P = ch.backward_recursion(net, x, y, "nd")
    assert torch.allclose(P, H.forward_backward_states(net, x, y, "nd").P, rtol=1e-12, atol=1e-15)
    x_in = x.clone().requires_grad_(True)
    (gx,) = torch.autograd.grad(net.loss(x_in, y, "nd"), x_in)
    assert torch.allclose(P[0], gx, rtol=1e-12, atol=1e-15)
    wrong = ch.backward_recursion(net, x, y, "nd", transpose=False)
    assert float((wrong[0] - gx).norm() / gx.norm()) > 0.01
    assert torch.equal(wrong[-1], P[-1])                                    # same final condition


def test_backward_recursion_transpose_is_irrelevant_for_symmetric_jacobians():
    x, y = _data()
    net = H.make_resnet(6, 4, 4, kind="smooth", V="same", form="normalized", seed=1)
    sym = H.ResNet(net.W.transpose(1, 2).contiguous(), net.W, activation="gelu", normalized=True)   # V_k = W_k^T
    assert torch.allclose(ch.backward_recursion(sym, x, y, "n"), ch.backward_recursion(sym, x, y, "n", transpose=False),
                          rtol=1e-12, atol=1e-15)


def test_adjoint_ode_is_the_limit_of_the_backward_recursion_only_with_the_chain_rule_sign_and_transpose():
    x, y = _data(8)
    V_fn, W_fn = H.smooth_weight_functions(4, 6, seed=0)
    p0 = {L: H.forward_backward_states(_smooth_net(L), x, y, "n").P[0] for L in (16, 64)}
    err = {}
    for sign, tr in [(-1, True), (1, False), (-1, False), (1, True)]:
        P0 = ch.adjoint_ode_p0(V_fn, W_fn, x, y, activation="gelu", normalized=True, sign=sign, transpose=tr, n_steps=64)
        err[sign, tr] = [float((P0 - p0[L]).norm() / p0[L].norm()) for L in (16, 64)]
    assert err[-1, True][1] < err[-1, True][0] / 3                          # converges like 1/L
    assert err[-1, True][1] < 0.02
    for variant in [(1, False), (-1, False), (1, True)]:
        assert min(err[variant]) > 0.05


@pytest.mark.parametrize("change, error, match", [
    (dict(sign=0), ValueError, "sign"), (dict(sign=True), ValueError, "sign"),
    (dict(V_fn=None), TypeError, "V_fn"), (dict(n_steps=0), ValueError, "n_steps"),
    (dict(x=torch.zeros(3, 5, dtype=torch.float64)), ValueError, "x"),
    (dict(activation="swish"), ValueError, "activation"),
])
def test_adjoint_ode_p0_rejects_bad_arguments(change, error, match):
    x, y = _data()
    V_fn, W_fn = H.smooth_weight_functions(4, 6, seed=0)
    args = dict(V_fn=V_fn, W_fn=W_fn, x=x, y=y, activation="gelu", normalized=True, sign=-1, transpose=True) | change
    with pytest.raises(error, match=match):
        ch.adjoint_ode_p0(**args)


# -- the table and figure of Section 4 ----------------------------------------------------------------------
def _depth_change_experiment(r=2):
    x, y = H.gaussian_data(12, 3, seed=0)
    records, changed = {}, {}
    for kind in ("tied", "iid"):
        for L in (4, 8):
            rec = H.train(H.make_resnet(L, 3, 5, kind=kind, V="zero" if kind == "tied" else "same", seed=0), x, y,
                          steps=20, eta=0.01, normalization="nd")
            records[kind, L] = rec
            gain = rec.losses[0] - rec.losses[-1]
            changed[kind, L] = {}
            kept = ch.keep_every(rec.net, r)
            for op, net in [("keep", kept), ("back", ch.interpolate_depth(kept, L))]:
                gap, loss = ch.rms_output_gap(net, rec.net, x), float(net.loss(x, y, "nd"))
                changed[kind, L][op] = dict(gap=gap, loss=loss, lost=(loss - rec.losses[-1]) / gain,
                                            variance=gap**2 / 3 / gain)
    return records, changed


def test_depth_change_table_and_figure():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    records, changed = _depth_change_experiment()
    table = ch.depth_change_table(records, changed, 2).splitlines()
    assert len(table) == 1 + len(records) and "keep every 2th" in table[0]
    assert table[1].split()[:2] == ["tied", "4"]
    assert f"{changed['tied', 4]['keep']['gap']:6.3f}".strip() in table[1]
    axes = ch.plot_depth_change(records, changed, 2)
    assert len(axes) == 3 and all(ax.get_xlabel() for ax in axes) and all(ax.get_ylabel() for ax in axes)
    assert len(axes[0].lines) == 6                    # per start: trained V, kept layers, interpolated back
    plt.close("all")


def test_depth_change_inputs_are_checked():
    records, changed = _depth_change_experiment()
    with pytest.raises(ValueError, match="changed must have the keys of records"):
        ch.depth_change_table(records, {k: v for k, v in changed.items() if k[0] == "tied"}, 2)
    with pytest.raises(ValueError, match="lacks"):
        ch.depth_change_table(records, {k: {"keep": {}, "back": {}} for k in changed}, 2)
    with pytest.raises(TypeError, match="records and changed"):
        ch.plot_depth_change([], changed, 2)
    with pytest.raises(ValueError, match="r"):
        ch.depth_change_table(records, changed, 1)
