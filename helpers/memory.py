"""The memory backpropagation adds to a forward pass: the tensors autograd saves for the backward pass
(notebook 01: backprop through a solver vs the adjoint; notebook 10: backprop vs a memory-free adjoint at
large depth). For a ResNet of depth L they are the hidden states and activations of every layer,
O(L n (q + m)) numbers -- the memory the adjoint method of Chen et al. (2018) avoids.
"""
from __future__ import annotations

import weakref
from typing import Callable

import torch


class _Holder:
    __slots__ = ("tensor", "__weakref__")

    def __init__(self, tensor):
        self.tensor = tensor


class SavedTensorMeter:
    """Counts the memory held by the tensors saved for backward while it is active (a context manager).

    Memory is counted per storage (views of one tensor count once); the storages of the ``ignore`` tensors
    (the parameters and the data, which live in memory anyway) are not counted. A saved tensor is released
    when autograd frees the graph node that saved it. ``live_bytes``: held now; ``peak_bytes``: the largest
    total held at any moment; ``n_saved``: the number of tensors saved. Only first-order gradients can be
    taken through a metered graph (the saved tensors are stored detached).

    Example
    -------
    >>> w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    >>> with SavedTensorMeter(ignore=[w]) as meter:
    ...     loss = (w.exp() * w).sum()           # exp saves its output: 3 doubles
    >>> meter.live_bytes
    24
    """

    def __init__(self, ignore=()):
        ignore = list(ignore)
        for i, t in enumerate(ignore):
            if not isinstance(t, torch.Tensor):
                raise TypeError(f"ignore[{i}] must be a torch.Tensor, got {type(t).__name__}")
        self._ignore = {t.untyped_storage().data_ptr() for t in ignore}
        self._refs: dict = {}                  # storage pointer -> [saves alive, bytes]
        self.live_bytes = 0
        self.peak_bytes = 0
        self.n_saved = 0
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)

    def _pack(self, t):
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key in self._ignore or storage.nbytes() == 0:
            return t
        self.n_saved += 1
        ref = self._refs.get(key)
        if ref is None:
            ref = self._refs[key] = [0, storage.nbytes()]
            self.live_bytes += ref[1]
            self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        ref[0] += 1
        holder = _Holder(t.detach())           # a detached alias: no cycle tensor -> grad_fn -> holder
        weakref.finalize(holder, self._release, key)
        return holder

    def _release(self, key):
        ref = self._refs[key]
        ref[0] -= 1
        if ref[0] == 0:
            del self._refs[key]
            self.live_bytes -= ref[1]

    @staticmethod
    def _unpack(holder):
        return holder.tensor if isinstance(holder, _Holder) else holder

    def __enter__(self):
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        return self._hooks.__exit__(*exc)


def peak_saved_bytes(fn: Callable, *, ignore=()):
    """Run ``fn()`` and return ``(fn's result, peak bytes)``: the largest memory held at any moment by the
    tensors autograd saved for backward during the call (:class:`SavedTensorMeter`; the ``ignore`` tensors
    not counted). Raises TypeError if ``fn`` is not callable or ``ignore`` holds a non-tensor.

    Example: ``_, peak = peak_saved_bytes(lambda: (w.exp() * w).sum(), ignore=[w])`` (24 bytes for 3 doubles).
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no argument, got {type(fn).__name__}")
    with SavedTensorMeter(ignore) as meter:
        result = fn()
    return result, meter.peak_bytes
