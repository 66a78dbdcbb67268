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


def test_unknown_attribute_is_an_attribute_error():
    try:
        H.no_such_helper
    except AttributeError as err:
        assert "no_such_helper" in str(err)
    else:
        raise AssertionError("expected AttributeError")
