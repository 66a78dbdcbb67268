import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from scipy import integrate

import helpers as H
from helpers.train import TrainRecord
from helpers.chapters import ch08_long_time as ch


def record_with(losses, *, eta=0.1, L=4, max_gap=None, pl=None, snapshots=None):
    """A TrainRecord built by hand (for exact, known curves)."""
    losses = np.asarray(losses, dtype=float)
    steps = len(losses) - 1
    net = H.make_resnet(L, 3, 5, kind="tied", V="zero", seed=0)
    gap = np.zeros(steps + 1) if max_gap is None else np.asarray(max_gap, dtype=float)
    return TrainRecord(net=net, eta=eta, L_factor=True, losses=losses, max_gap=gap,
                         sum_sq_gap_V=np.zeros(steps + 1), sum_sq_gap_W=np.zeros(steps + 1),
                         pl_ratio=None if pl is None else np.asarray(pl, dtype=float),
                         snapshots={} if snapshots is None else snapshots)


@pytest.fixture(scope="module")
def theory_runs():
    """Tiny runs of the theorem's setting (paper form, tanh, sphere data) at depths 2, 4, 8."""
    x, y = H.sphere_data(6, 3, 2, q=5, target_scale=0.2, seed=0)
    runs = {}
    for L in (2, 4, 8):
        net = H.make_resnet(L, 5, 16, kind="tied", V="zero", seed=0, form="paper", d=3, d_out=2, activation="tanh")
        runs[L] = H.train(net, x, y, steps=60, eta=0.05, normalization="n", record_pl=True,
                          snapshot_steps=range(0, 61, 20))
    return runs


# -- constants ------------------------------------------------------------------------------------------------
def _eta_by_quad(f, r):
    He = np.polynomial.hermite_e.HermiteE.basis(r)
    val, _ = integrate.quad(lambda u: f(u) * He(u) * math.exp(-u * u / 2), -np.inf, np.inf)
    return val / math.sqrt(2 * math.pi * math.factorial(r))


def test_theorem6_constants_follow_the_papers_formulas():
    n, q = 8, 6
    c = ch.theorem6_constants(n, q)
    eta = abs(_eta_by_quad(math.tanh, 3))
    assert c.r == 3 and abs(c.eta_r - eta) < 1e-10 and abs(c.K_sigma - 1) < 1e-12 and abs(c.M_sigma - 1) < 1e-12
    e = math.exp
    assert math.isclose(c.c1, 2**10 * e(4 * math.sqrt(2)) / eta**2, rel_tol=1e-8)
    assert math.isclose(c.c2, 128 * e(2 * math.sqrt(2)) / eta, rel_tol=1e-8)
    assert math.isclose(c.c3, eta / (32 * math.sqrt(2)), rel_tol=1e-8)
    assert math.isclose(c.c4, eta**3 / (2**14 * e(6 * math.sqrt(2))), rel_tol=1e-8)
    assert math.isclose(c.M, c.c3 / math.sqrt(n * q)) and math.isclose(c.mu, c.c4 / (n * math.sqrt(n) * q))
    # C_upper bounds the proof's C for any admissible M_A >= 1, M_B, K >= 0 (M_X = sqrt(q))
    for MA, MB, K in ((1.0, 1.0, 0.0), (1.3, 2.0, 0.7)):
        C = c.c3**2 * c.c4**2 / (64 * n**4 * q**3 * max(MB * K, MB * math.sqrt(q), MA * math.sqrt(q))**2 * e(2 * K))
        assert C <= c.C_upper * (1 + 1e-12)
    assert c.width_needed == c.c1 * n and math.isclose(c.depth_needed, c.c2 * math.sqrt(n * q))
    # c_1..c_4 are the engine's (one formula), from the engine's eta_r
    eta_r = H.hermite_coefficients("tanh").coefficients[3]
    assert c.eta_r == abs(eta_r)
    assert {k: getattr(c, k) for k in ("c1", "c2", "c3", "c4")} == H.prop5_constants(eta_r, K_sigma=c.K_sigma)
    c5 = ch.theorem6_constants(n, q, r=5)
    assert c5.r == 5 and c5.eta_r == abs(H.hermite_coefficients("tanh", r_max=5).coefficients[5]) and c5.c1 > c.c1


def test_theorem6_constants_bad_inputs():
    with pytest.raises(ValueError, match="activation"):
        ch.theorem6_constants(8, 6, activation="gelu")               # unbounded: outside Prop. 5
    with pytest.raises(ValueError, match="r"):
        ch.theorem6_constants(8, 6, r=2)                             # eta_2(tanh) = 0
    with pytest.raises(ValueError, match="n"):
        ch.theorem6_constants(0, 6)


# -- decay rates ---------------------------------------------------------------------------------------------
def test_late_decay_of_an_exponential_and_of_a_power_law():
    t = np.arange(301) * 0.1
    dec = ch.late_decay(record_with(2 * np.exp(-0.5 * t), pl=np.full(300, 0.5)), fraction=0.5)
    assert abs(dec.rate - 0.5) < 1e-10 and abs(dec.constancy - 1) < 1e-10 and abs(dec.flow_agreement - 1) < 1e-10
    assert math.isclose(dec.t_start, 15.0) and math.isclose(dec.t_end, 30.0)
    slow = ch.late_decay(record_with(1 / (1 + t)))
    assert slow.constancy < 0.9 and math.isnan(slow.pl_mean)


def test_local_rates_match_the_pl_ratio_along_gradient_descent(theory_runs):
    # under the flow dl/dt = -(PL ratio) l; with a small step gradient descent follows it
    t_mid, rate, pl = ch.local_rates(theory_runs[4], window=10)
    assert len(t_mid) == 6 and math.isclose(t_mid[0], 0.25)
    assert np.all(np.abs(rate[2:] / pl[2:] - 1) < 0.01)               # after the first transient
    dec = ch.late_decay(theory_runs[4])
    assert abs(dec.flow_agreement - 1) < 0.1


def test_decay_bad_inputs():
    rec = record_with(np.exp(-np.arange(11.0)))
    with pytest.raises(ValueError, match="fraction"):
        ch.late_decay(rec, fraction=1.5)
    with pytest.raises(ValueError, match="fraction"):
        ch.late_decay(rec, fraction=0.1)                             # one step: too few
    with pytest.raises(TypeError, match="record"):
        ch.late_decay({"losses": [1, 2]})
    with pytest.raises(ValueError, match="window"):
        ch.local_rates(rec, window=20)
    with pytest.raises(ValueError, match="positive"):
        ch.late_decay(record_with(np.r_[np.ones(30), 0.0]))


def test_exponential_rate():
    t = np.linspace(0, 10, 21)
    assert abs(ch.exponential_rate(t, 3 * np.exp(-0.2 * t), t_min=4.0) - 0.2) < 1e-12
    with pytest.raises(ValueError, match="t_min"):
        ch.exponential_rate(t, np.exp(-t), t_min=20.0)
    with pytest.raises(ValueError, match="length"):
        ch.exponential_rate(t, t[:-1], t_min=0.0)


# -- gaps ---------------------------------------------------------------------------------------------------
def test_gap_summary_growth():
    t = np.arange(101.0)
    flat = ch.gap_summary(record_with(np.ones(101), L=4, max_gap=1 - np.exp(-t / 5)))
    assert flat.L == 4 and abs(flat.sup - 4 * (1 - np.exp(-20))) < 1e-12 and abs(flat.growth - 1) < 1e-4
    linear = ch.gap_summary(record_with(np.ones(101), max_gap=t))
    assert abs(linear.growth - 2) < 1e-12
    with pytest.raises(ValueError, match="zero"):
        ch.gap_summary(record_with(np.ones(101), max_gap=np.r_[np.zeros(60), np.ones(41)]))


def test_smooth_start_keeps_gaps_one_over_L(theory_runs):
    sup = [r.max_gap.max() for r in theory_runs.values()]
    assert abs(H.fit_loglog_slope(list(theory_runs), sup).slope + 1) < 0.15


# -- double limit --------------------------------------------------------------------------------------------
def test_pair_distances_against_a_direct_computation(theory_runs):
    pairs = ch.pair_distances(theory_runs)
    assert pairs.depths == [2, 4] and pairs.steps == [0, 20, 40, 60] and pairs.D.shape == (2, 4)
    assert np.all(pairs.D[:, 0] == 0)                      # tied starts: all depths alike at t = 0
    a, b = theory_runs[4].snapshots[40], theory_runs[8].snapshots[40]
    per_layer = [float(torch.linalg.matrix_norm(a["V"][k] - b["V"][2 * k + 1])
                       + torch.linalg.matrix_norm(a["W"][k] - b["W"][2 * k + 1])) for k in range(4)]
    assert abs(pairs.D[1, 2] - math.sqrt(np.mean(np.square(per_layer)))) < 1e-12
    A = theory_runs[2].net.A - theory_runs[4].net.A
    B = theory_runs[2].net.B - theory_runs[4].net.B
    assert abs(pairs.AB[0] - float(A.norm() + B.norm())) < 1e-12
    assert np.allclose(pairs.t, [0, 1, 2, 3])
    assert pairs.end_slope().slope < -0.5 and pairs.sup_slope().slope < -0.5


def test_pair_distances_bad_inputs(theory_runs):
    with pytest.raises(ValueError, match="two depths"):
        ch.pair_distances({2: theory_runs[2]})
    bad = record_with(np.ones(61), L=3, snapshots=theory_runs[2].snapshots)
    with pytest.raises(ValueError, match="divide"):
        ch.pair_distances({2: theory_runs[2], 3: bad})
    other = record_with(np.ones(61), eta=0.05, L=4, snapshots={0: theory_runs[4].snapshots[0]})
    with pytest.raises(ValueError, match="same steps"):
        ch.pair_distances({2: theory_runs[2], 4: other})
    with pytest.raises(TypeError, match="records"):
        ch.pair_distances([theory_runs[2], theory_runs[4]])


def test_weight_speed_of_a_linear_motion():
    L, q, m = 3, 2, 4
    direction_V, direction_W = torch.randn(L, q, m, dtype=torch.float64), torch.randn(L, m, q, dtype=torch.float64)
    snaps = {s: {"V": s * 0.1 * direction_V, "W": s * 0.1 * direction_W} for s in (0, 5, 10)}
    rec = record_with(np.ones(11), eta=0.1, L=L, snapshots=snaps)
    t, speed = ch.weight_speed(rec)
    expected = float((torch.linalg.vector_norm(direction_V, dim=(1, 2))
                      + torch.linalg.vector_norm(direction_W, dim=(1, 2))).max())
    assert np.allclose(t, [0.25, 0.75]) and np.allclose(speed, expected)
    with pytest.raises(ValueError, match="2 snapshots"):
        ch.weight_speed(record_with(np.ones(11), L=L, snapshots={0: snaps[0]}))


def test_plots_return_axes(theory_runs):
    fig, axes = plt.subplots(1, 3)
    assert ch.plot_loss(theory_runs, ax=axes[0]) is axes[0]
    assert ch.plot_decay_rate(theory_runs[2], window=10, ax=axes[1], late=ch.late_decay(theory_runs[2])) is axes[1]
    assert ch.plot_pair_distances(ch.pair_distances(theory_runs), ax=axes[2]) is axes[2]
    with pytest.raises(TypeError, match="pairs"):
        ch.plot_pair_distances({"D": 1})
    plt.close(fig)
