"""The explorers of helpers/explorers.py: their pure computations, their plain figures and the thin widget
layer (without a browser: tests/test_browser.py drives them in a real JupyterLab). The last test prints the
measured update times (no assertion on them: speed is reported, not tested)."""
import dataclasses
import time

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import helpers as H
from helpers import explorers as X

SMALL = dict(q=6, m=8, n=4, n_s=21, depths=(2, 4, 8, 16, 32))


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# -- 1. ResNet vs neural ODE ----------------------------------------------------------------------------
def test_trajectories_follow_the_ode_and_the_regimes():
    tr = X.compute_trajectories(8, "smooth", "1/L", **SMALL)
    assert tr.states.shape == (9, 4, 6) and tr.reference.shape == (21, 4, 6) and tr.s_ref[[0, -1]].tolist() == [0, 1]
    x = H.gaussian_data(4, 6, seed=0)[0].numpy()
    assert np.allclose(tr.states[0], x) and np.allclose(tr.reference[0], x)          # h_0 = H(0) = x
    net = H.make_resnet(8, 6, 8, kind="smooth", form="normalized", activation="tanh", seed=0)
    assert np.allclose(tr.states, net(torch.from_numpy(x), return_states=True)[1].numpy())
    # the distance at L is the sweep's entry at L, and it falls like 1/L (Prop. 2)
    assert tr.distance == pytest.approx(tr.distances[list(tr.depths).index(8)])
    assert H.fit_loglog_slope(tr.depths, tr.distances).slope == pytest.approx(-1, abs=0.15)
    # i.i.d. weights: the limit of the 1/L network is the identity, reached like L^(-1/2)
    iid = X.compute_trajectories(8, "iid", "1/L", **SMALL)
    assert np.allclose(iid.reference, x[None]) and iid.reference_slope == -0.5
    # smooth weights with 1/sqrt(L): the network moves away from the ODE as L grows
    explode = X.compute_trajectories(8, "smooth", "1/sqrt(L)", **SMALL)
    assert H.fit_loglog_slope(explode.depths, explode.distances).slope > 0.2
    # a depth outside the sweep is computed directly
    assert X.compute_trajectories(5, "tied", "1/L", **SMALL).states.shape == (6, 4, 6)


def test_trajectories_validate_and_cache():
    with pytest.raises(ValueError, match="kind"):
        X.compute_trajectories(8, "random", "1/L", **SMALL)
    with pytest.raises(ValueError, match="scaling"):
        X.compute_trajectories(8, "smooth", "1/sqrt", **SMALL)
    with pytest.raises(ValueError, match="L must be"):
        X.compute_trajectories(0, "smooth", "1/L", **SMALL)
    with pytest.raises(TypeError, match="depths"):
        X.compute_trajectories(8, "smooth", "1/L", **{**SMALL, "depths": 8})
    tr = X.compute_trajectories(8, "smooth", "1/L", **SMALL)
    with pytest.raises(ValueError, match="read-only"):
        tr.reference[0, 0, 0] = 1.0                      # cached arrays cannot be changed by a caller
    start = time.perf_counter()
    X.compute_trajectories(16, "smooth", "1/L", **SMALL)  # cached: no solve, no sweep
    assert time.perf_counter() - start < 0.5


def test_plot_trajectories_draws_states_and_limit():
    tr = X.compute_trajectories(8, "tied", "1/L", **SMALL)
    ax_s, ax_L = X.plot_trajectories(tr, sample=1, coords=[0, 2])
    assert len(ax_s.lines) == 4                           # limit and ResNet for two coordinates
    resnet = ax_s.lines[1]
    assert np.allclose(resnet.get_xdata(), np.arange(9) / 8)
    assert np.allclose(resnet.get_ydata(), tr.states[:, 1, 0] - tr.states[0, 1, 0])
    assert ax_L.get_xscale() == "log" and "slope" in ax_L.get_legend().get_texts()[0].get_text()
    with pytest.raises(ValueError, match="coords"):
        X.plot_trajectories(tr, coords=[6])
    with pytest.raises(ValueError, match="sample"):
        X.plot_trajectories(tr, sample=4)
    with pytest.raises(ValueError, match="2 matplotlib axes"):
        X.plot_trajectories(tr, axes=plt.subplots(1, 3)[1])
    with pytest.raises(TypeError, match="Trajectories"):
        X.plot_trajectories({"L": 8})


# -- 2. weights through training ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def history():
    return X.compute_weight_history((4, 16), n=20, d=4, m=6, steps=20, every=5)


def test_weight_history_records_the_starts(history):
    assert history.steps.tolist() == [0, 5, 10, 15, 20] and history.t[-1] == pytest.approx(0.2)
    assert history.V["tied", 16].shape == (5, 16) and history.W["iid", 4].shape == (5, 4)
    assert np.all(history.V["tied", 16][0] == 0) and np.all(history.V["iid", 16][0] == 0)   # V_k(0) = 0
    assert np.ptp(history.W["tied", 16][0]) == 0                  # tied: the same W_k at every layer
    # the recorded entry is the trained network's (same data, same seed, same steps)
    x, y = H.gaussian_data(20, 4, seed=0)
    net = H.make_resnet(16, 4, 6, kind="tied", V="zero", seed=0)
    rec = H.train(net, x, y, steps=20, eta=0.01, normalization="nd")
    assert np.allclose(history.V["tied", 16][-1], rec.net.V[:, 0, 0].numpy())
    assert np.allclose(history.max_gap["tied", 16], rec.max_gap)
    # tied: neighbours O(1/L) apart; i.i.d.: O(1)
    assert history.max_gap["tied", 16][-1] < 0.1 < history.max_gap["iid", 16][-1]


def test_weight_history_validates():
    with pytest.raises(ValueError, match="kinds"):
        X.compute_weight_history((4,), kinds="tied", steps=2)
    with pytest.raises(ValueError, match="entry"):
        X.compute_weight_history((4,), d=4, m=6, entry=(5, 0), steps=2)
    with pytest.raises(TypeError, match="depths"):
        X.compute_weight_history(4, steps=2)


def test_plot_weight_history_keeps_the_axes_still(history):
    axes_early = X.plot_weight_history(history, kind="iid", L=16, step=5)
    axes_late = X.plot_weight_history(history, kind="iid", L=16, step=20)
    for a, b in zip(axes_early[:2], axes_late[:2]):
        assert a.get_ylim() == b.get_ylim()            # the slider moves the curve, not the axis
    assert np.allclose(axes_late[0].lines[-1].get_ydata(), history.V["iid", 16][-1])
    dW = history.W["iid", 16][-1] - history.W["iid", 16][0]
    assert np.allclose(axes_late[1].lines[-1].get_ydata(), dW)
    assert len(axes_late[2].lines) == 3                  # one gap curve per depth and the time marker
    with pytest.raises(ValueError, match="step must be one of"):
        X.plot_weight_history(history, step=3)
    with pytest.raises(ValueError, match="L must be"):
        X.plot_weight_history(history, L=8)
    with pytest.raises(ValueError, match="kind"):
        X.plot_weight_history(history, kind="smooth")


# -- 3. the PL picture ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pl_runs():
    return X.compute_pl_runs((0.25, 2.0), n=16, eta=2.0, steps=300)


def test_pl_runs_width_helps(pl_runs):
    assert pl_runs.ratios == (0.25, 2.0) and pl_runs.m == {0.25: 4, 2.0: 32}
    assert pl_runs.loss_ratio[2.0][0] == 1.0 and pl_runs.pl[2.0].shape == (300,)
    # narrow: the loss stalls (null space of the features); wide: it keeps falling, with a larger PL ratio
    assert pl_runs.loss_ratio[2.0][-1] < 0.5 * pl_runs.loss_ratio[0.25][-1]
    assert pl_runs.pl[2.0][-1] > 10 * pl_runs.pl[0.25][-1]
    with pytest.raises(ValueError, match="ratios entry"):
        X.compute_pl_runs((0.5, -1.0), steps=2)
    with pytest.raises(TypeError, match="ratios"):
        X.compute_pl_runs(0.5, steps=2)


def test_plot_pl_runs_highlights_one_ratio(pl_runs):
    ax_l, ax_p = X.plot_pl_runs(pl_runs, ratio=2.0)
    assert [line.get_linewidth() for line in ax_l.lines] == [1.0, 2.8]
    assert np.allclose(ax_l.lines[1].get_ydata(), pl_runs.loss_ratio[2.0])
    assert ax_p.get_yscale() == "log"
    assert X.plot_pl_runs(pl_runs)[0].lines[0].get_linewidth() == 2.8       # default: largest m/n <= 1
    with pytest.raises(ValueError, match="ratio must be one of"):
        X.plot_pl_runs(pl_runs, ratio=1.0)


# -- the widget layer -------------------------------------------------------------------------------------
def _moves(box, name, value):
    """Set a control as a student would; return whether the shown PNG changed."""
    before, n = bytes(box.image.value), len(box.update_times)
    box.controls[name].value = value
    assert len(box.update_times) == n + 1
    return bytes(box.image.value) != before


def test_explorers_redraw_when_a_control_moves(history, pl_runs):
    import ipywidgets as widgets

    box = X.trajectory_explorer(L=8, **SMALL)
    assert isinstance(box, widgets.VBox) and X.EXPLORER_CLASS in box._dom_classes
    assert bytes(box.image.value).startswith(b"\x89PNG") and set(box.controls) == {"L", "kind", "scaling"}
    assert _moves(box, "L", 16) and _moves(box, "kind", "iid") and _moves(box, "scaling", "1/sqrt(L)")
    box = X.weights_explorer(history, L=4, step=0)
    assert _moves(box, "step", 20) and _moves(box, "kind", "iid") and _moves(box, "L", 16)
    box = X.pl_explorer(pl_runs)
    assert _moves(box, "ratio", 2.0)


def test_an_error_in_a_redraw_is_shown_and_raised(history):
    broken = dataclasses.replace(history, V={k: v for k, v in history.V.items() if k != ("tied", 4)})
    box = X.weights_explorer(broken)                 # built at L = 16: fine
    with pytest.raises(KeyError):
        box.controls["L"].value = 4                  # the run of depth 4 is missing: the redraw fails loudly
    assert "KeyError" in box.children[-1].value      # and says so under the figure


def test_explorers_validate_before_building(history, pl_runs):
    with pytest.raises(ValueError, match="L must be one of the slider's depths"):
        X.trajectory_explorer(L=3, **SMALL)
    with pytest.raises(ValueError, match="kind"):
        X.weights_explorer(history, kind="smooth")
    with pytest.raises(ValueError, match="not both"):
        X.weights_explorer(history, steps=10)
    with pytest.raises(ValueError, match="ratio must be one of"):
        X.pl_explorer(pl_runs, ratio=0.3)
    with pytest.raises(TypeError, match="PLRuns"):
        X.pl_explorer({0.5: None})


def test_update_times_at_default_settings(capsys):
    """Measured, printed, not asserted: wall and CPU seconds per update (compute + draw + PNG) at the
    explorers' default settings (notebook 04's history: its quick scale). Run with ``pytest -s`` to see."""
    H.use_course_style()
    boxes = {"trajectories (02)": (X.trajectory_explorer(), {"L": [32, 128, 512, 8], "kind": ["tied", "iid", "smooth"],
                                                            "scaling": ["1/sqrt(L)", "1/L"]}),
             "weights (04)": (X.weights_explorer(X.compute_weight_history((4, 16, 64))),
                              {"step": [0, 50, 100], "kind": ["iid", "tied"], "L": [4, 16]}),
             "PL picture (07)": (X.pl_explorer(X.compute_pl_runs()), {"ratio": [0.25, 1.0, 4.0, 0.5]})}
    rows = []
    for name, (box, moves) in boxes.items():
        wall, cpu = [], []
        for control, values in moves.items():
            for v in values:
                c0, w0 = time.process_time(), time.perf_counter()
                box.controls[control].value = v
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
        rows.append((name, len(wall), np.median(wall), max(wall), np.median(cpu), max(cpu)))
    with capsys.disabled():
        print("\nexplorer update times (s): compute + draw + PNG, the kernel's whole share of an update")
        print(f"{'explorer':>18} {'updates':>8} {'wall med':>9} {'wall max':>9} {'cpu med':>8} {'cpu max':>8}")
        for name, k, wm, wx, cm, cx in rows:
            print(f"{name:>18} {k:8d} {wm:9.2f} {wx:9.2f} {cm:8.2f} {cx:8.2f}")
    assert all(k > 0 for _, k, *_ in rows)
