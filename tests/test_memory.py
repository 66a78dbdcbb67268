import pytest
import torch

import helpers as H
from helpers.memory import SavedTensorMeter


def test_meter_counts_saved_tensors_once_per_storage_and_releases_them():
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    with SavedTensorMeter(ignore=[w]) as meter:
        loss = (w.exp() * w).sum()              # exp saves its output (24 bytes), the product saves it again
        assert meter.live_bytes == 24 and meter.n_saved >= 2
        loss.backward()
    assert meter.peak_bytes == 24 and meter.live_bytes == 0


def test_peak_grows_linearly_with_depth_for_backprop():
    x = torch.randn(8, 4, dtype=torch.float64)
    peaks = []
    for L in (4, 8, 16):
        net = H.make_resnet(L, 4, 6, kind="iid", seed=0)
        V, W = net.V.requires_grad_(True), net.W.requires_grad_(True)
        _, peak = H.peak_saved_bytes(lambda: H.ResNet.simple(V, W, "tanh")(x).sum(), ignore=[V, W, x])
        peaks.append(peak)
    assert H.fit_loglog_slope([4, 8, 16], peaks).slope == pytest.approx(1.0, abs=0.05)


def test_bad_arguments():
    with pytest.raises(TypeError, match="fn"):
        H.peak_saved_bytes(3)
    with pytest.raises(TypeError, match="ignore"):
        SavedTensorMeter(ignore=[1.0])


def test_peak_saved_bytes_sees_a_graph_released_before_the_next_one():
    w = torch.randn(100, dtype=torch.float64, requires_grad=True)

    def one_at_a_time():
        for _ in range(5):
            torch.autograd.grad(w.exp().sum(), w)          # each graph is freed before the next is built

    def all_at_once():
        return torch.autograd.grad(sum(w.exp().sum() for _ in range(5)), w)

    assert H.peak_saved_bytes(one_at_a_time, ignore=[w])[1] == 800
    assert H.peak_saved_bytes(all_at_once, ignore=[w])[1] == 5 * 800
