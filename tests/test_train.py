import numpy as np
import pytest
import torch

import helpers as H
import importlib

train_module = importlib.import_module("helpers.train")   # (helpers.train is the function)
from helpers.resnet import theory_input_output_maps


def _fig1_net(L, dtype=torch.float64, d=4, m=6):
    V, W = H.init_weights(L, d, m, kind="tied", V="zero", seed=0, dtype=dtype)
    return H.ResNet.simple(V, W, "gelu")


def test_training_lowers_the_loss_and_records_everything():
    x, y = H.gaussian_data(20, 4, seed=0)
    net = _fig1_net(8)
    rec = H.train(net, x, y, steps=30, eta=0.05, normalization="n", snapshot_steps=[0, 10, 30], record_pl=True)
    assert rec.losses.shape == (31,) and rec.max_gap.shape == (31,) and rec.pl_ratio.shape == (30,)
    assert rec.losses[-1] < 0.8 * rec.losses[0]
    assert np.all(np.diff(rec.losses) <= 1e-12)                    # small step: monotone descent
    assert sorted(rec.snapshots) == [0, 10, 30]
    assert torch.equal(rec.snapshots[30]["V"], rec.net.V)
    assert torch.equal(net.V, torch.zeros_like(net.V))              # the input network is untouched
    assert np.allclose(rec.t, np.arange(31) * 0.05)
    assert rec.wall_time > 0 and np.all(rec.pl_ratio > 0)
    assert rec.max_gap[0] == 0 and rec.max_gap[-1] > 0


def test_one_step_is_eta_L_times_the_gradient():
    x, y = H.gaussian_data(10, 4, seed=1)
    V, W = H.init_weights(6, 4, 5, kind="smooth", seed=0)
    net = H.ResNet.simple(V, W, "tanh")
    _, g = H.loss_and_gradients(net, x, y, "n")
    rec = H.train(net, x, y, steps=1, eta=0.1, normalization="n")
    assert torch.allclose(rec.net.V, V - 0.1 * 6 * g.V) and torch.allclose(rec.net.W, W - 0.1 * 6 * g.W)
    rec = H.train(net, x, y, steps=1, eta=0.1, normalization="n", L_factor=False)
    assert torch.allclose(rec.net.V, V - 0.1 * g.V)


def test_A_and_B_get_no_factor_L():
    d, q, L = 2, 4, 5
    A, B = theory_input_output_maps(d, d, q)
    V, W = H.init_weights(L, q, 3, kind="smooth", seed=0)
    net = H.ResNet.paper(V, W, A, B, "tanh")
    x, y = H.gaussian_data(6, d, seed=0)
    _, g = H.loss_and_gradients(net, x, y, "n")
    rec = H.train(net, x, y, steps=1, eta=0.1, normalization="n")
    assert torch.allclose(rec.net.A, A - 0.1 * g.A) and torch.allclose(rec.net.B, B - 0.1 * g.B)
    assert torch.allclose(rec.net.V, V - 0.1 * L * g.V)
    fixed = H.train(net, x, y, steps=1, eta=0.1, normalization="n", train_AB=False)
    assert torch.equal(fixed.net.A, A)


def test_clipped_flow_bounds_each_coordinate_of_the_update():
    x, y = H.gaussian_data(10, 4, seed=0)
    net = _fig1_net(4)
    rec = H.train(net, x, y, steps=1, eta=0.5, normalization="n", clip=1e-3)
    assert float((rec.net.V - net.V).abs().max()) <= 0.5 * 1e-3 * (1 + 1e-12)


def test_fig1_max_gap_scales_like_one_over_L():
    # Prop. 3 in miniature: tied init, V = 0, GELU; L * max gap is the same for every depth
    x, y = H.gaussian_data(30, 4, seed=0)
    depths = [4, 16, 64]
    gaps = [H.train(_fig1_net(L), x, y, steps=10, eta=0.05, normalization="nd").max_gap_up_to(10)
            for L in depths]
    fit = H.fit_loglog_slope(depths, gaps)
    assert abs(fit.slope + 1) < 0.15, fit


def test_script_metric_is_root_sum_of_squares():
    x, y = H.gaussian_data(10, 4, seed=0)
    rec = H.train(_fig1_net(8), x, y, steps=5, eta=0.05, normalization="nd")
    expected = max(np.sqrt(rec.sum_sq_gap_V[:5].sum()), np.sqrt(rec.sum_sq_gap_W[:5].sum()))
    assert rec.script_metric(5) == pytest.approx(expected)


def test_divergence_raises_a_clear_error():
    x, y = H.gaussian_data(20, 4, seed=0)
    V, W = H.init_weights(8, 4, 6, kind="smooth", seed=0)
    with pytest.raises(H.TrainingDivergedError, match=r"diverged at step \d+.*try eta = 100"):
        H.train(H.ResNet.simple(V, W, "identity"), x, y, steps=50, eta=1000.0, normalization="n")


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(eta=0.0), ValueError, "eta must be a finite number > 0, got 0.0"),
    (dict(eta=-1.0), ValueError, "eta must be a finite number > 0"),
    (dict(eta=float("nan")), ValueError, "eta must be a finite number"),
    (dict(steps=-3), ValueError, "steps must be an integer >= 0"),
    (dict(snapshot_steps=[99]), ValueError, "snapshot_steps must lie in 0..steps"),
    (dict(normalization="mean"), ValueError, "normalization must be one of"),
    (dict(train_AB=True), ValueError, "no maps A, B"),
])
def test_bad_training_arguments(kwargs, exc, match):
    x, y = H.gaussian_data(5, 4, seed=0)
    args = dict(steps=3, eta=0.1, normalization="n") | kwargs
    with pytest.raises(exc, match=match):
        H.train(_fig1_net(3), x, y, **args)


def test_nan_in_data_is_rejected():
    x, y = H.gaussian_data(5, 4, seed=0)
    x[2, 1] = float("nan")
    with pytest.raises(ValueError, match="x contains 1 NaN"):
        H.train(_fig1_net(3), x, y, steps=3, eta=0.1, normalization="n")


def test_progress_bar_can_be_forced_and_silenced(capsys, monkeypatch):
    monkeypatch.setenv("COURSE_PROGRESS", "1")
    x, y = H.gaussian_data(5, 4, seed=0)
    H.train(_fig1_net(3), x, y, steps=3, eta=0.1, normalization="n", progress=True)
    assert "training L=3" in capsys.readouterr().err
    H.train(_fig1_net(3), x, y, steps=3, eta=0.1, normalization="n", progress=False)
    assert capsys.readouterr().err == ""


def test_freeze_and_snapshot_layers():
    x, y = H.gaussian_data(10, 4, seed=0)
    V, W = H.init_weights(8, 4, 5, kind="smooth", seed=0)
    net = H.ResNet.simple(V, W, "tanh")
    rec = H.train(net, x, y, steps=3, eta=0.1, normalization="n", freeze=("V",), snapshot_steps=[3],
                  snapshot_layers=[1, 3, 7])
    assert torch.equal(rec.net.V, V) and not torch.equal(rec.net.W, W)
    assert rec.snapshots[3]["W"].shape == (3, 5, 4)
    assert torch.equal(rec.snapshots[3]["W"], rec.net.W[[1, 3, 7]])
    with pytest.raises(ValueError, match="snapshot_layers must be non-empty indices in 0..L-1 = 7"):
        H.train(net, x, y, steps=1, eta=0.1, normalization="n", snapshot_layers=[8])
    with pytest.raises(ValueError, match="freeze must be"):
        H.train(net, x, y, steps=1, eta=0.1, normalization="n", freeze=("A",))


def test_an_interrupted_run_closes_its_progress_bar(monkeypatch):
    # the kernel's stop button raises KeyboardInterrupt inside the loop: the bar must be closed anyway,
    # else every later bar in that kernel prints one line per update
    monkeypatch.setenv("COURSE_PROGRESS", "1")
    bars = []

    class FakeBar:
        closed = False

        def update(self, k):
            pass

        def close(self):
            self.closed = True

    monkeypatch.setattr(train_module, "progress_bar", lambda *a, **k: bars.append(FakeBar()) or bars[-1])
    calls = {"n": 0}
    backward = train_module.AdjointWorkspace.backward

    def interrupted(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(train_module.AdjointWorkspace, "backward", interrupted)
    x, y = H.gaussian_data(5, 4, seed=0)
    with pytest.raises(KeyboardInterrupt):
        H.train(_fig1_net(3), x, y, steps=10, eta=0.1, normalization="n", progress=True)
    assert len(bars) == 1 and bars[0].closed


def test_train_names_list_inputs():
    x, y = H.gaussian_data(5, 4, seed=0)
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        H.train(_fig1_net(3), x.tolist(), y, steps=1, eta=0.1, normalization="n")
    with pytest.raises(TypeError, match="net"):
        H.train("net", x, y, steps=1, eta=0.1, normalization="n")


def test_empty_data_is_refused():
    x, y = H.gaussian_data(5, 4, seed=0)
    with pytest.raises(ValueError, match="x must hold at least one sample"):
        H.train(_fig1_net(3), x[:0], y[:0], steps=1, eta=0.1, normalization="n")


def test_float32_steps_run_in_float32_then_in_float64():
    x, y = H.gaussian_data(12, 4, seed=0)
    net = H.make_resnet(8, 4, 32, kind="tied", V="zero", seed=0)
    kw = dict(steps=400, eta=0.01, normalization="nd", record_pl=True, snapshot_steps=[0, 100, 400])
    f64 = H.train(net, x, y, **kw)
    f32 = H.train(net.to(torch.float32), x.float(), y.float(), **kw)
    mixed = H.train(net, x, y, float32_steps=100, **kw)
    # the first 100 steps are the float32 run's, bit for bit; the later ones are not
    assert np.array_equal(mixed.losses[:100], f32.losses[:100])
    assert not np.array_equal(mixed.losses[101:], f32.losses[101:])
    # and the scheme ends where float64 throughout ends
    assert abs(mixed.losses[-1] - f64.losses[-1]) <= 1e-3 * f64.losses[-1]
    assert abs(mixed.max_gap[-1] - f64.max_gap[-1]) <= 1e-3 * f64.max_gap[-1]
    # everything it returns is float64, and the record says which steps were not
    assert mixed.float32_steps == 100 and f64.float32_steps == 0
    assert mixed.net.dtype == torch.float64
    assert all(w.dtype == torch.float64 for snap in mixed.snapshots.values() for w in snap.values())
    assert set(mixed.snapshots) == {0, 100, 400}
    # all steps in float32: converted at the end
    assert H.train(net, x, y, float32_steps=400, **kw).net.dtype == torch.float64


@pytest.mark.parametrize("float32_steps", [-1, 401, 2.5])
def test_float32_steps_out_of_range(float32_steps):
    x, y = H.gaussian_data(12, 4, seed=0)
    net = H.make_resnet(8, 4, 32, kind="tied", V="zero", seed=0)
    with pytest.raises((ValueError, TypeError), match="float32_steps"):
        H.train(net, x, y, steps=400, eta=0.01, normalization="nd", float32_steps=float32_steps)


def test_float32_steps_needs_a_float64_network():
    x, y = H.gaussian_data(12, 4, seed=0)
    net = H.make_resnet(8, 4, 32, kind="tied", V="zero", seed=0).to(torch.float32)
    with pytest.raises(ValueError, match="float32_steps"):
        H.train(net, x.float(), y.float(), steps=10, eta=0.01, normalization="nd", float32_steps=5)
