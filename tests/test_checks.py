import pytest

import helpers as H


def test_check_passes_and_prints(capsys):
    assert H.check("fitted slope", -1.02, target=-1, tol=0.15) is None
    assert capsys.readouterr().out == "✔ fitted slope: -1.02 (expected -1 ± 0.15)\n"
    H.check("final loss", 3e-8, upper=1e-7)
    assert "≤ 1e-07" in capsys.readouterr().out
    H.check("ratio", 0.5, lower=0, upper=1)
    assert "in [0, 1]" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs", [dict(target=-1, tol=0.15), dict(upper=-1.5), dict(lower=0)])
def test_check_fails_with_the_claim(kwargs):
    with pytest.raises(AssertionError, match="claim does not hold -- slope of the gap"):
        H.check("slope of the gap", -2.0 if "lower" in kwargs else -0.5, **kwargs)


def test_nan_never_passes():
    with pytest.raises(AssertionError):
        H.check("loss", float("nan"), upper=1.0)


def test_check_needs_a_criterion():
    with pytest.raises(ValueError, match="give a target"):
        H.check("something", 1.0)
    with pytest.raises(ValueError, match="go together"):
        H.check("something", 1.0, target=1.0)
    with pytest.raises(TypeError, match="value must be a number"):
        H.check("something", "one", upper=2)


def test_fixed_decimals_for_values_near_zero(capsys):
    H.check("slope", 0.0061, target=0, tol=0.15, decimals=1)
    assert capsys.readouterr().out.startswith("✔ slope: 0.0 (expected")


def test_negative_zero_prints_as_zero(capsys):
    H.check("slope", -0.004, target=0, tol=0.15, decimals=1)
    assert capsys.readouterr().out.startswith("✔ slope: 0.0 (expected")


def test_contradictory_bounds_are_a_bad_call_not_a_failed_claim():
    with pytest.raises(ValueError, match="lower"):
        H.check("a value in an empty interval", 0.5, lower=1.0, upper=0.0)
