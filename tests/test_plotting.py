import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import helpers as H


def test_plot_across_depth_colours_by_time():
    H.use_course_style()
    snaps = {s: torch.randn(10, 2, 3) for s in (0, 5, 10)}
    ax = H.plot_across_depth(snaps, entry=(1, 2), eta=0.1, against="k")
    assert len(ax.lines) == 3 and ax.get_xlabel() == "layer $k$"
    assert np.allclose(ax.lines[2].get_ydata(), snaps[10][:, 1, 2].numpy())
    plt.close("all")
    with pytest.raises(ValueError, match="curves"):
        H.plot_across_depth({})


def test_plot_across_depth_one_curve_per_depth():
    ax = H.plot_across_depth({4: torch.randn(4, 2, 2), 16: torch.randn(16, 2, 2)}, entry=(1, 1))
    assert len(ax.lines) == 2 and ax.get_xlabel() == "depth $s = k/L$"
    assert np.allclose(ax.lines[0].get_xdata(), [0.25, 0.5, 0.75, 1.0])
    with pytest.raises(ValueError, match=r"curves\[4\]"):
        H.plot_across_depth({4: torch.randn(5, 2, 2)})
    plt.close("all")


def test_plot_across_depth_states_and_grad_tensors():
    # states h_0..h_L (first_layer=0) as a tensor that requires grad: detached, plotted at s = 0..1
    h = torch.randn(5, requires_grad=True)
    ax = H.plot_across_depth({4: h * 2}, first_layer=0)
    assert np.allclose(ax.lines[0].get_xdata(), [0, 0.25, 0.5, 0.75, 1.0])
    ax = H.plot_across_depth({0: torch.randn(5), 3: torch.randn(5)}, first_layer=0, eta=0.1)
    assert np.allclose(ax.lines[1].get_xdata(), [0, 0.25, 0.5, 0.75, 1.0])    # states over training time
    with pytest.raises(ValueError, match="first_layer"):
        H.plot_across_depth({4: torch.randn(5)})          # 5 values for layers 1..4
    with pytest.raises(ValueError, match="against"):
        H.plot_across_depth({4: torch.randn(4)}, against="t")
    plt.close("all")


def test_plot_loglog_rate_reports_fitted_slope():
    x = np.array([2, 4, 8, 16])
    ax = H.plot_loglog_rate(x, 1 / x, label="gap")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("slope -1.00" in s for s in labels)
    assert any("reference slope -1" in s for s in labels)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2", "4", "8", "16"]
    plt.close("all")


def test_plot_heatmap_checks_shape():
    ax = H.plot_heatmap(np.random.rand(3, 4) + 0.1, x=[1, 2, 3, 4], y=[2, 4, 8], xlabel="t", ylabel="L")
    assert ax.get_ylabel() == "L"
    with pytest.raises(ValueError, match="shape"):
        H.plot_heatmap(np.ones((2, 2)), x=[1, 2, 3], y=[1, 2])
    plt.close("all")


def test_depth_colors():
    assert len(H.depth_colors([2, 16, 64])) == 3


def test_heatmap_ticks_are_round_on_an_even_axis():
    ax = H.plot_heatmap(np.random.rand(3, 101) + 0.1, x=list(range(101)), y=[2, 4, 8])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "20", "40", "60", "80", "100"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["2", "4", "8"]
    plt.close("all")


def test_numbers_may_be_lists_arrays_or_tensors_that_require_grad():
    w = torch.tensor([1.0, 0.5, 0.25], requires_grad=True)
    y = w * 1.0                                        # a non-leaf tensor that requires grad
    assert H.fit_loglog_slope([1, 2, 4], y).slope == pytest.approx(-1)
    H.plot_loglog_rate(torch.tensor([1.0, 2.0, 4.0]), y)
    H.plot_heatmap(torch.rand(2, 3, requires_grad=True) + 0.1, x=[1, 2, 3], y=[1, 2])
    plt.close("all")
    with pytest.raises(TypeError, match="x"):
        H.fit_loglog_slope({1: 2, 2: 3}, [1, 2])
    with pytest.raises(TypeError, match="y"):
        H.plot_loglog_rate([1, 2], ["a", "b"])
