import math

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import helpers as H
from helpers.chapters import ch07_pl_for_resnets as ch

N, D, D_OUT, L = 12, 4, 2, 4
Q = D + D_OUT


def paper_net(m, L=L, seed=0, **kw):
    """The network of notebook 07: the paper's form at the theory's initialisation, tanh."""
    return H.make_resnet(L, Q, m, kind="tied", V="zero", activation="tanh", form="paper", d=D, d_out=D_OUT,
                         seed=seed, **kw)


@pytest.fixture(scope="module")
def data():
    return H.sphere_data(N, D, D_OUT, q=Q, target_scale=1e-6, seed=0)


# -- Prop. 5's probability and Thm. 6's conditions (the data, eta_r and c_1..c_4: tests/test_data.py, test_pl.py) --
def test_delta_terms_follow_the_appendix_formula():
    n, m, d, q, e, r = 32, 64, 8, 10, 0.148, 3
    t = ch.delta_terms(n, m, d=d, q=q, eta_r=-e, r=r)
    assert math.isclose(t["norm_W"], math.exp(-q * m / 16))
    assert math.isclose(t["chernoff"], n * math.exp(-3 * m * e**2 / (64 * n)))
    assert math.isclose(t["overlap"], 2 * n**2 * math.exp(-d / 2 * (3 / (4 * n)) ** (2 / r)))
    assert math.isclose(t["total"], t["norm_W"] + t["chernoff"] + t["overlap"])
    tr = ch.delta_terms(n, m, d=d, q=q, eta_r=e, r=r, chernoff="tropp", M_sigma=2.0, v_x2=3.0)
    assert math.isclose(math.log(n / tr["chernoff"]), m * e**2 / (64 * 4 * n))          # a third of the exponent...
    assert math.isclose(math.log(n / ch.delta_terms(n, m, d=d, q=q, eta_r=e, r=r, M_sigma=2.0)["chernoff"]),
                        3 * m * e**2 / (64 * 4 * n))                                    # ...of the printed one
    assert math.isclose(tr["overlap"], 2 * n**2 * math.exp(-d / 6 * (3 / (4 * n)) ** (2 / r)))


@pytest.mark.parametrize("kw, error, match", [
    (dict(r=1), ValueError, "r must"), (dict(chernoff="exact"), ValueError, "chernoff"),
    (dict(eta_r=0.0), ValueError, "eta_r"), (dict(v_x2=0.0), ValueError, "v_x2"), (dict(d=2.5), TypeError, "d must"),
])
def test_delta_terms_refuse_bad_arguments(kw, error, match):
    args = dict(d=8, q=10, eta_r=0.1, r=3) | kw
    with pytest.raises(error, match=match):
        ch.delta_terms(32, 64, **args)


def test_long_time_conditions_turn_props_8_and_5_into_a_bound_on_the_targets():
    """Thm. 6's C is the l(0) at which Prop. 8's threshold equals Prop. 5's mu (the proof of Thm. 6)."""
    n, q, e = 32, 10, 0.148
    first = ch.long_time_conditions(n, q, ell0=1e-12, eta_r=e)
    c = H.prop5_constants(e)
    assert math.isclose(first["M"], c["c3"] / math.sqrt(n * q))
    assert math.isclose(first["mu_prop5"], c["c4"] / (n * math.sqrt(n) * q))
    at_C = ch.long_time_conditions(n, q, ell0=first["C_upper"], eta_r=e)
    assert math.isclose(at_C["mu_lower"], first["mu_prop5"], rel_tol=1e-12)
    M = first["M"]
    assert math.isclose(first["mu_lower"], (1 + M) * math.sqrt(q) * 8 / M * 1e-6)     # sqrt(l(0)) = 1e-6
    with pytest.raises(ValueError, match="ell0"):
        ch.long_time_conditions(n, q, ell0=0.0, eta_r=e)


# -- the feature matrix ----------------------------------------------------------------------------------------
def test_feature_matrix_is_sigma_of_the_first_preactivations(data):
    x, _ = data
    net = paper_net(7)
    phi = ch.feature_matrix(net, x)
    assert phi.shape == (N, 7)
    assert torch.allclose(phi, torch.tanh(x @ net.W[0, :, :D].T / math.sqrt(Q)))     # A = (I; 0)


def test_v_gradient_at_init_is_backward_state_times_features(data):
    """Step 2 of the proof: dl/dV_k = -(2/(n L sqrt m)) B^T Y^T Phi for every k (autograd reference)."""
    x, y = data
    m = 9
    net = paper_net(m)
    _, g = H.autograd_gradients(net, x, y, "n")
    expected = -2 / (N * L * math.sqrt(m)) * net.B.T @ y.T @ ch.feature_matrix(net, x)
    for k in range(L):
        assert torch.allclose(g.V[k], expected, rtol=1e-10, atol=1e-22)
    assert float(g.W.abs().max()) == 0.0


def test_min_eigenvalues_are_zero_below_m_equal_n_and_match_eigvalsh(data):
    x, _ = data
    lam = ch.min_eigenvalues(x, [N // 2, N, 4 * N], q=Q, d_out=D_OUT, seed=3)
    assert abs(lam[0]) < 1e-12 and lam[1] > 1e-10 and lam[2] > lam[1]
    phi = ch.feature_matrix(H.make_resnet(1, Q, 4 * N, kind="tied", V="zero", seed=3, activation="tanh",
                                          form="paper", d=D, d_out=D_OUT), x)
    assert math.isclose(lam[2], float(torch.linalg.eigvalsh(phi @ phi.T)[0]), rel_tol=1e-12)
    ident = ch.min_eigenvalues(torch.cat([x, x]), [8 * N], q=Q, d_out=D_OUT, activation="identity")
    assert abs(ident[0]) < 1e-10                         # rank <= d < 2N


def test_min_eigenvalues_refuse_a_bare_width(data):
    with pytest.raises(TypeError, match="m_values"):
        ch.min_eigenvalues(data[0], 8, q=Q, d_out=D_OUT)


def test_hermite_kernel_is_the_expectation_of_the_feature_gram_matrix():
    """(7.7): E_W[Phi Phi^T / m] = sum_r eta_r^2 G^{o r}, checked by Monte Carlo over many units."""
    x, _ = H.sphere_data(6, 3, 1, q=4, target_scale=1.0, seed=2)
    coef = H.hermite_coefficients("tanh", r_max=30).coefficients
    K = ch.hermite_kernel(x, coef)
    gen = torch.Generator().manual_seed(0)
    w = torch.randn(200_000, 3, generator=gen, dtype=torch.float64)
    phi = torch.tanh((x / x.norm(dim=1, keepdim=True)) @ w.T)
    assert float((phi @ phi.T / w.shape[0] - K).abs().max()) < 0.01
    assert torch.allclose(torch.diagonal(K), torch.full((6,), float((coef**2).sum()), dtype=torch.float64))


def test_hermite_kernel_refuses_empty_coefficients(data):
    with pytest.raises(ValueError, match="coefficients"):
        ch.hermite_kernel(data[0], [])


# -- the PL ratio at the initialisation ------------------------------------------------------------------------------
@pytest.mark.parametrize("train_AB", [False, True])
def test_init_kernel_gives_the_engines_pl_ratio(data, train_AB):
    x, y = data
    net = paper_net(2 * N)
    K = ch.init_kernel(net, x, train_AB=train_AB)
    assert math.isclose(ch.kernel_pl_ratio(K, -y), ch.pl_ratio(net, x, y, include_AB=train_AB), rel_tol=1e-9)
    eig = torch.linalg.eigvalsh(K)
    assert 4 / N * eig[0] <= ch.kernel_pl_ratio(K, -y) <= 4 / N * eig[-1]


def test_init_kernel_refuses_trained_or_simple_networks(data):
    x, y = data
    net = paper_net(8)
    rec = H.train(net, x, y, steps=2, eta=1.0, normalization="n", train_AB=False)
    with pytest.raises(ValueError, match="initialisation"):
        ch.init_kernel(rec.net, x)
    with pytest.raises(ValueError, match="paper's form"):
        ch.init_kernel(H.make_resnet(2, D, 8, kind="tied", V="zero", seed=0), x)
    with pytest.raises(TypeError, match="net"):
        ch.init_kernel("net", x)
    with pytest.raises(ValueError, match="residual"):
        ch.kernel_pl_ratio(ch.init_kernel(net, x), y[:3])


def test_pl_ratio_matches_autograd_away_from_the_initialisation(data):
    x, y = data
    net = paper_net(8)
    net = H.train(net, x, y * 1e5, steps=5, eta=0.05, normalization="n").net     # A, B, V, W all moved
    loss, g = H.autograd_gradients(net, x, y, "n")
    zpart = net.L * float(g.V.pow(2).sum() + g.W.pow(2).sum())
    assert math.isclose(ch.pl_ratio(net, x, y), zpart / loss, rel_tol=1e-9)
    full = zpart + float(g.A.pow(2).sum() + g.B.pow(2).sum())
    assert math.isclose(ch.pl_ratio(net, x, y, include_AB=True), full / loss, rel_tol=1e-9)


def test_lazy_plateau_is_the_least_squares_residual(data):
    x, y = data
    for m in (N // 3, N // 2):
        net = paper_net(m)
        phi = ch.feature_matrix(net, x)
        fit = phi @ torch.linalg.lstsq(phi, y).solution
        expected = float((y - fit).pow(2).sum() / y.pow(2).sum())
        assert math.isclose(ch.lazy_plateau(ch.init_kernel(net, x), y), expected, rel_tol=1e-8)
    assert ch.lazy_plateau(ch.init_kernel(paper_net(3 * N), x), y) == 0.0
    with pytest.raises(ValueError, match="rel_tol"):
        ch.lazy_plateau(ch.init_kernel(paper_net(3 * N), x), y, rel_tol=0)


# -- runs -----------------------------------------------------------------------------------------------------------------
def test_late_rate_of_an_exponential():
    t = np.linspace(0, 10, 101)
    assert math.isclose(ch.late_rate(t, 3 * np.exp(-0.3 * t)), 0.3, rel_tol=1e-9)
    with pytest.raises(ValueError, match="t and losses"):
        ch.late_rate(t, t[:-1] + 1)
    with pytest.raises(ValueError, match="start_fraction"):
        ch.late_rate(t, np.exp(-t), start_fraction=1.5)
    with pytest.raises(ValueError, match="positive"):
        ch.late_rate(t, -np.exp(-t))


def test_pl_picture_is_the_notebooks_loop(data):
    x, y = data
    steps = 40
    pic = ch.pl_picture(0.5, x, y, L=L, steps=steps, eta=1.0, seed=0)
    net0 = paper_net(N // 2)
    rec = H.train(net0, x, y, steps=steps, eta=1.0, normalization="n", train_AB=False, record_pl=True,
                  snapshot_steps=range(0, steps + 1, steps // 10))
    loop = ch.summarize_run(rec, net0, x, y)
    assert pic.m == N // 2 and pic.n == N and pic.m_over_n == 0.5
    assert np.array_equal(pic.loss_ratio, loop.loss_ratio) and np.array_equal(pic.pl, loop.pl)
    assert (pic.plateau, pic.mu_init, pic.excursion) == (loop.plateau, loop.mu_init, loop.excursion)
    assert pic.plateau > 0 and pic.mu_init == 0.0
    assert np.array_equal(pic.t, np.arange(steps + 1) * 1.0)
    # the rate is the ratio (7.5): log l(i+1) - log l(i) ~ -eta R(i) for a small step (here eta R < 0.05)
    dlog = np.diff(np.log(pic.loss_ratio))
    assert np.allclose(dlog[-10:], -1.0 * pic.pl[-10:], rtol=0.05)
    # distance travelled: max over snapshots of max_k ||dV_k|| + ||dW_k||
    far = max(float((torch.linalg.vector_norm(s["V"] - net0.V, dim=(1, 2))
                     + torch.linalg.vector_norm(s["W"] - net0.W, dim=(1, 2))).max()) for s in rec.snapshots.values())
    assert pic.excursion == far > 0


def test_summarize_run_knows_when_A_and_B_were_trained(data):
    x, y = data
    net0 = paper_net(2 * N)
    rec = H.train(net0, x, y, steps=4, eta=0.05, normalization="n", train_AB=True, record_pl=True)
    pic = ch.summarize_run(rec, net0, x, y)
    eig = torch.linalg.eigvalsh(ch.init_kernel(net0, x, train_AB=True))
    assert math.isclose(pic.mu_init, 4 / N * float(eig[0]), rel_tol=1e-12)
    assert math.isclose(pic.pl[0], ch.kernel_pl_ratio(ch.init_kernel(net0, x, train_AB=True), -y), rel_tol=1e-9)


def test_summarize_run_refuses_records_without_ratio(data):
    x, y = data
    net0 = paper_net(8)
    rec = H.train(net0, x, y, steps=4, eta=1.0, normalization="n", train_AB=False)
    with pytest.raises(ValueError, match="record_pl"):
        ch.summarize_run(rec, net0, x, y)
    with pytest.raises(TypeError, match="record"):
        ch.summarize_run({"losses": []}, net0, x, y)
    with pytest.raises(ValueError, match="m_over_n"):
        ch.pl_picture(0.0, x, y)


# -- the ball ------------------------------------------------------------------------------------------------------------
def test_ball_estimate_stays_in_the_ball_and_finds_the_kernels_worst_case(data):
    x, y = data
    M = 1e-4
    wide, narrow = paper_net(3 * N), paper_net(N // 2)
    est = ch.ball_pl_estimate(wide, x, y, radius=M, n_random=6, descent_steps=3, seed=0)
    mu0 = 4 / N * float(torch.linalg.eigvalsh(ch.init_kernel(wide, x))[0])
    assert est.minimum == min(est.random.min(), est.aimed, est.descent.min(), est.aimed_W)
    assert 0.9 * mu0 <= est.minimum <= 1.1 * mu0
    assert 0.9 * mu0 <= est.aimed_W <= 1.1 * mu0                  # the worst W of norm M/2 moves it by O(M)
    assert est.farthest <= M * (1 + 1e-9) and len(est.random) == 6 and len(est.descent) <= 4
    assert np.all(np.diff(est.descent) < 0)                       # descent only accepts decreases
    assert est.minimum <= ch.pl_ratio(wide, x, y)                 # the centre's ratio is no lower
    est_narrow = ch.ball_pl_estimate(narrow, x, y, radius=M, n_random=4, descent_steps=0, seed=0)
    assert est_narrow.minimum < 1e-8 * est.minimum and len(est_narrow.descent) == 1
    assert math.isnan(est_narrow.aimed_W)                          # m < n: no W search (the kernel is singular)


def test_projection_keeps_each_layer_in_the_ball():
    gen = torch.Generator().manual_seed(0)
    dV = torch.randn(5, 3, 4, generator=gen, dtype=torch.float64)
    dW = torch.randn(5, 4, 3, generator=gen, dtype=torch.float64)
    pV, pW = ch._project(dV, dW, 0.5)
    norms = torch.linalg.vector_norm(pV, dim=(1, 2)) + torch.linalg.vector_norm(pW, dim=(1, 2))
    assert float(norms.max()) <= 0.5 + 1e-12
    small = ch._project(dV * 1e-3, dW * 1e-3, 10.0)[0]
    assert torch.equal(small, dV * 1e-3)


@pytest.mark.parametrize("kw, error, match", [
    (dict(radius=0.0), ValueError, "radius"),
    (dict(n_random=0), ValueError, "n_random"),
    (dict(descent_steps=-1), ValueError, "descent_steps"),
    (dict(seed=-2), ValueError, "seed"),
])
def test_ball_estimate_refuses_bad_arguments(data, kw, error, match):
    x, y = data
    args = dict(radius=1e-4) | kw
    with pytest.raises(error, match=match):
        ch.ball_pl_estimate(paper_net(8), x, y, **args)


def test_ball_estimate_refuses_wrong_targets(data):
    x, y = data
    with pytest.raises(ValueError, match="y must have shape"):
        ch.ball_pl_estimate(paper_net(8), x, y[:, :1], radius=1e-4)


def test_worst_kernel_shift_stays_in_the_ball_and_matches_finite_differences(data):
    x, _ = data
    net = paper_net(3 * N)
    M = 1e-3
    ks = ch.worst_kernel_shift(net, x, radius=M, steps=10)
    lam_of = lambda W: float(torch.linalg.eigvalsh(
        torch.tanh(x @ net.A.T @ W.T / math.sqrt(Q)) @ torch.tanh(x @ net.A.T @ W.T / math.sqrt(Q)).T / W.shape[0])[0])
    W0 = net.W[0]
    assert math.isclose(ks.lam0, float(torch.linalg.eigvalsh(ch.init_kernel(net, x))[0]), rel_tol=1e-12)
    assert float(ks.dW.norm()) <= M * (1 + 1e-9) and ks.lam_worst < ks.lam0
    assert math.isclose(ks.lam_worst, lam_of(W0 + ks.dW), rel_tol=1e-10)
    # the first-order estimate M ||grad lambda_min||, by central differences along the direction found
    u, h = ks.dW / ks.dW.norm(), 1e-6
    slope = (lam_of(W0 + h * u) - lam_of(W0 - h * u)) / (2 * h)
    assert math.isclose(-slope * M, ks.first_order, rel_tol=1e-3)
    assert 0.9 < (ks.lam0 - ks.lam_worst) / ks.first_order < 1.1 and 0 < ks.relative_change < 0.05
    with pytest.raises(ValueError, match="m = 6 < n = 12"):
        ch.worst_kernel_shift(paper_net(N // 2), x, radius=M)
    with pytest.raises(ValueError, match="radius"):
        ch.worst_kernel_shift(net, x, radius=-1.0)


def test_feature_change_measures_how_far_w_and_the_hidden_states_moved(data):
    x, y = data
    net0 = paper_net(8)
    rec = H.train(net0, x, y * 1e5, steps=20, eta=0.5, normalization="n", train_AB=False)
    fc = ch.feature_change(rec, net0, x)
    dW = max(float((rec.net.W[k] - net0.W[k]).norm() / net0.W[k].norm()) for k in range(L))
    _, h = rec.net(x, return_states=True)
    dh = max(float((h[k] - h[0]).norm() / h[0].norm()) for k in range(L + 1))
    assert math.isclose(fc["W"], dW, rel_tol=1e-12) and math.isclose(fc["h"], dh, rel_tol=1e-12)
    assert fc["W"] > 0 and fc["h"] > 0
    tiny = ch.feature_change(H.train(net0, x, y, steps=2, eta=0.5, normalization="n", train_AB=False), net0, x)
    assert tiny["W"] < 1e-6 and tiny["h"] < 1e-6
    with pytest.raises(TypeError, match="record"):
        ch.feature_change("rec", net0, x)
    with pytest.raises(ValueError, match="same network"):
        ch.feature_change(rec, paper_net(9), x)


# -- figures ------------------------------------------------------------------------------------------------------------
def test_figures_return_their_axes_and_check_lengths(data):
    x, y = data
    pic = ch.pl_picture(2.0, x, y, L=2, steps=8, eta=1.0)
    axes = ch.plot_pl_picture({2.0: pic, 3.0: pic}, title="t")
    assert len(axes) == 2 and axes[0].get_ylabel() == r"$\ell(t)/\ell(0)$"
    assert ch.plot_pl_picture(pic) is not None
    ax = ch.plot_feature_spectrum([0.5, 1, 2], {"a": [1e-17, 1e-3, 2e-3]}, limits={"a": 3e-3})
    assert ax.get_xlabel().startswith("width")
    ax = ch.plot_rates_vs_width([0.5, 2], late_rate=[1e-13, 1e-3], trajectory_min=[1e-13, 1e-3], ball=[0, 1e-3],
                                mu_init=[0, 5e-4])
    assert len(ax.get_legend().get_texts()) == 5      # four series and the floor
    with pytest.raises(ValueError, match="curves"):
        ch.plot_feature_spectrum([0.5, 1], {"a": [1.0]})
    with pytest.raises(ValueError, match="one per m/n"):
        ch.plot_rates_vs_width([0.5, 2], late_rate=[1.0], trajectory_min=[1, 1], ball=[1, 1], mu_init=[1, 1])
    with pytest.raises(TypeError, match="pictures"):
        ch.plot_pl_picture({})
    plt.close("all")
