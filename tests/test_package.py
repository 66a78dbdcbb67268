import subprocess
import sys

import helpers as H


def test_every_lazy_name_resolves():
    for name in H._LAZY_NAMES:
        assert getattr(H, name) is not None, name
    assert set(H._LAZY_NAMES) <= set(H.__all__) and "train" in H.__all__


def test_import_stays_light():
    # the benchmark's memory target: importing the package must not load matplotlib, SciPy or torchdiffeq
    code = ("import sys, helpers; heavy = [m for m in ('matplotlib', 'scipy', 'torchdiffeq') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import helpers loaded {out}"


def test_non_plotting_chapter_helpers_stay_light():
    # the chapter modules import matplotlib, SciPy (via torchdiffeq) and helpers.plotting inside the functions
    # that need them: computing with them must not load those libraries
    code = ("import sys, helpers as H\n"
            "H.valley_grad([1.0, 0.5]); H.gradient_descent_path(H.valley_grad, [1.0, 0.5], eta=0.1, steps=2)\n"
            "H.regime_weights(4, 3, 2, kind='iid', scaling='1/sqrt(L)', seed=0)\n"
            "H.two_moons(10, seed=0); H.make_resnets([2], q=3, m=2, kind='tied', seed=0)\n"
            "x, y = H.gaussian_data(5, 2, seed=0); r = H.depth_sweep(x, y, [2, 4], m=2, steps=2, seed=0)\n"
            "H.gap_table(r, [2]); H.scaled_gap_curves(r); H.forward_backward_profiles(r[2].net, x, y, 'nd')\n"
            "H.depth_limit_run(x, y, [2, 4], 8, m=2, steps=1, seed=0, snapshot_steps=[1])\n"
            "H.run_counterexample(2, C=1.5, steps=2); H.gap_sweep(x, y, [2, 4], form='paper', kind='iid', m=2, steps=1)\n"
            "heavy = [m for m in ('matplotlib', 'scipy', 'torchdiffeq') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"the chapter helpers loaded {out}"


def test_unknown_attribute_is_an_attribute_error():
    try:
        H.no_such_helper
    except AttributeError as err:
        assert "no_such_helper" in str(err)
    else:
        raise AssertionError("expected AttributeError")
