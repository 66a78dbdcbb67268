"""``check``: the one call behind every check cell of the course.

A check cell states a claim of the paper in words and compares a measured number with the claimed
target within a stated tolerance. It prints one line when the claim holds and raises an
``AssertionError`` that states the claim when it does not, so that ``pytest`` fails.

What nbval compares is the verdict, the claim and the tolerance -- never the measured digits: the
sanitizer ``tests/nbval_sanitize.cfg`` (enabled in ``pyproject.toml``) replaces the value in
``✔ claim: VALUE (expected ...)`` on both sides, because PyTorch does not promise the same random streams
across releases. A claim that fails still fails the test, as an error in the cell.
"""
from __future__ import annotations

import math
import numbers


def _fmt(v: float, digits: int, decimals: int | None = None) -> str:
    text = f"{v:.{decimals}f}" if decimals is not None else f"{v:.{digits}g}"
    # a tiny negative value rounds to "-0.0": print "0.0", the same on every machine
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def check(claim: str, value, *, target=None, tol=None, lower=None, upper=None, digits: int = 3,
          decimals: int | None = None) -> None:
    """Check ``|value - target| <= tol`` and/or ``lower <= value <= upper``; print the verdict.

    Examples
    --------
    >>> check("fitted slope of max gap vs L", -1.02, target=-1, tol=0.15)
    ✔ fitted slope of max gap vs L: -1.02 (expected -1 ± 0.15)
    >>> check("final loss", 3e-8, upper=1e-7)
    ✔ final loss: 3e-08 (expected ≤ 1e-07)

    Returns nothing (so that a check cell shows only its verdict). ``digits`` sets the significant digits
    of the printed value, or ``decimals`` a fixed number of decimals (better for values near 0): keep them
    low in cells whose output nbval compares, so that the line is the same on every machine.
    """
    if not isinstance(claim, str) or not claim.strip():
        raise TypeError("claim must be a non-empty sentence saying what is checked")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"value must be a number, got {value!r}") from None
    value = float(value)
    if target is None and lower is None and upper is None:
        raise ValueError("give a target (with tol) or a bound (lower and/or upper) to check against")
    if (target is None) != (tol is None):
        raise ValueError("target and tol go together: give both or neither")
    if tol is not None and tol < 0:
        raise ValueError(f"tol must be >= 0, got {tol}")
    if lower is not None and upper is not None and lower > upper:
        raise ValueError(f"lower must be <= upper, got lower={lower}, upper={upper}: no value could pass")
    parts, ok = [], math.isfinite(value)
    if target is not None:
        parts.append(f"{_fmt(target, digits)} ± {_fmt(tol, digits)}")
        ok = ok and abs(value - target) <= tol
    if lower is not None and upper is not None:
        parts.append(f"in [{_fmt(lower, digits)}, {_fmt(upper, digits)}]")
    elif lower is not None:
        parts.append(f"≥ {_fmt(lower, digits)}")
    elif upper is not None:
        parts.append(f"≤ {_fmt(upper, digits)}")
    if lower is not None:
        ok = ok and value >= lower
    if upper is not None:
        ok = ok and value <= upper
    line = f"{claim}: {_fmt(value, digits, decimals)} (expected {', '.join(parts)})"
    if not ok:
        raise AssertionError(f"✘ claim does not hold -- {line}")
    print(f"✔ {line}")
