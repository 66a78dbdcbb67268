"""Argument checks shared by the public helpers.

Every public function validates its inputs here, at the boundary, so that a mistake is reported with
the argument's name, the value received and what was expected -- never as a shape error from deep
inside torch.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import torch


def positive_int(name: str, value, *, minimum: int = 1) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def positive_float(name: str, value, *, allow_zero: bool = False) -> float:
    """Return ``value`` as a finite float > 0 (or >= 0), or raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value}")
    return value


def choice(name: str, value, options) -> str:
    """Return ``value`` if it is one of ``options``, or raise listing them."""
    if value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}, got {value!r}")
    return value


def tensor(name: str, value, *, ndim: int | None = None, shape: tuple | None = None,
           finite: bool = True) -> torch.Tensor:
    """Check that ``value`` is a floating-point tensor of the given rank / shape with finite entries.

    ``shape`` may contain ``None`` for a free dimension.
    """
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}; "
                        f"convert with torch.as_tensor({name}, dtype=torch.float64)")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor (float32 or float64), got dtype {value.dtype}")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(value.shape)}")
    if shape is not None:
        if value.ndim != len(shape) or any(s is not None and s != v for s, v in zip(shape, value.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {want}, got {tuple(value.shape)}")
    if finite and not bool(torch.isfinite(value).all()):
        bad = int((~torch.isfinite(value)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite entries; clean the data before using it")
    return value


def same_dtype_device(**tensors) -> None:
    """Raise if the given tensors (``None`` ignored) do not share one dtype and one device."""
    given = {k: t for k, t in tensors.items() if t is not None}
    dtypes = {t.dtype for t in given.values()}
    if len(dtypes) > 1:
        listing = ", ".join(f"{k}: {t.dtype}" for k, t in given.items())
        raise TypeError(f"all tensors must share one dtype, got {listing}; convert them, e.g. with .double()")
    devices = {t.device for t in given.values()}
    if len(devices) > 1:
        listing = ", ".join(f"{k}: {t.device}" for k, t in given.items())
        raise ValueError(f"all tensors must be on one device, got {listing}; move them with .to(device)")


def int_list(name: str, values, *, minimum: int = 1, nonempty: bool = True) -> list:
    """``values`` (a list, tuple, range or 1-D array of integers >= ``minimum``) as a list of ints.

    The one validator for depth lists, seed lists and step lists: a bare integer is refused with a hint
    (``[4]``, not ``4``), so that ``depths=64`` does not fail deep inside a loop.
    """
    if isinstance(values, (str, bytes, numbers.Number)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of integers >= {minimum}, got {values!r}; "
                        f"for a single value write [{values!r}]")
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    out = [positive_int(f"{name} entry", v.item() if hasattr(v, "item") else v, minimum=minimum)
           for v in values]
    if nonempty and not out:
        raise ValueError(f"{name} is empty: give at least one value")
    return out


def as_float_array(name: str, values):
    """Numbers a student may hold in any form -- a list, a tuple, a NumPy array, a torch tensor (also
    one that requires grad, or lives on a GPU) -- as a NumPy float64 array. The one conversion rule of
    the measuring and plotting helpers. A dict, a string or a non-numeric entry raises naming ``name``."""
    if isinstance(values, (dict, str, bytes)):
        raise TypeError(f"{name} must be a sequence of numbers (list, NumPy array or tensor), "
                        f"got {type(values).__name__}" + ("; pass list(d.values())" if isinstance(values, dict) else ""))
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
    elif isinstance(values, (list, tuple)) and any(isinstance(v, torch.Tensor) for v in values):
        values = [v.detach().cpu() if isinstance(v, torch.Tensor) else v for v in values]
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold numbers only, got {values!r:.80}") from None


def float_dtype(name: str, dtype) -> torch.dtype:
    """``dtype`` if it is a floating-point torch dtype, else raise (an integer dtype would truncate)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point torch dtype (torch.float32 or torch.float64), got {dtype!r}")
    return dtype
