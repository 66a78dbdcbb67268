"""Backpropagation through the ResNet, written by hand as a discrete adjoint (course notebook 03).

With 1-based layers ``h_k = h_{k-1} + c V_k sigma(cw W_k h_{k-1})`` (c = 1/L, or 1/(L sqrt m) and
cw = 1/sqrt q in the paper's form) and the backward state ``p_k = d loss / d h_k``:

    p_L = dloss/dF . B                                                     (final condition)
    p_{k-1} = p_k + c cw W_k^T [ sigma'(cw W_k h_{k-1}) * (V_k^T p_k) ]    (adjoint recursion, k = L..1)
    dloss/dV_k = c p_k sigma(cw W_k h_{k-1})^T
    dloss/dW_k = c cw [ sigma'(.) * (V_k^T p_k) ] h_{k-1}^T

Only the two recursions (forward in k for h, backward in k for p) are sequential. Everything else --
sigma and sigma' of every layer and the 2L weight gradients -- is computed for many layers at once with
batched operations; the per-layer loop issues two small matrix products and one or two element-wise
operations each way, written into buffers allocated once (:class:`AdjointWorkspace`). No autograd graph is built.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import _validation as check_arg
from .config import auto_threads, num_threads
from .resnet import LOSS_NORMALIZATIONS, ResNet

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


@dataclass
class Gradients:
    """Gradients of the loss: ``V`` (L, q, m), ``W`` (L, m, q), and ``A``, ``B`` (``None`` when the
    network has no such map)."""

    V: torch.Tensor
    W: torch.Tensor
    A: torch.Tensor | None = None
    B: torch.Tensor | None = None

    def relative_error(self, reference) -> float:
        """``||g - g_ref|| / ||g_ref||``, the Euclidean norm over all the weights' gradients together (V, W,
        and A, B when present): how far these gradients are from ``reference`` (a :class:`Gradients`, or a
        :class:`States` for its gradients), e.g. the hand-written adjoint against autograd (notebook 03,
        about 1e-15 in float64) or an approximate adjoint against backpropagation (notebook 10).

        Both zero: 0. Raises TypeError for another ``reference``, ValueError when a gradient is present in
        one set only, when shapes differ, or when only the reference is zero (the ratio is undefined)."""
        if isinstance(reference, States):
            reference = reference.grads
        if not isinstance(reference, Gradients):
            raise TypeError(f"reference must be a helpers.Gradients (or a helpers.States), "
                            f"got {type(reference).__name__}")
        num = den = 0.0
        for name in ("V", "W", "A", "B"):
            a, b = getattr(self, name), getattr(reference, name)
            if (a is None) != (b is None):
                raise ValueError(f"gradient {name} is present in one set and missing in the other")
            if a is None:
                continue
            if a.shape != b.shape:
                raise ValueError(f"gradient {name} has shape {tuple(a.shape)} but the reference {tuple(b.shape)}")
            num += float(torch.linalg.vector_norm((a - b).double())) ** 2
            den += float(torch.linalg.vector_norm(b.double())) ** 2
        if den == 0.0:
            if num == 0.0:
                return 0.0
            raise ValueError("the reference gradient is zero: a relative error is undefined")
        return math.sqrt(num / den)

    def pl_numerator(self, L: int, include_AB: bool = True) -> float:
        """``||dA||^2 + L sum_k ||dZ_k||^2 + ||dB||^2`` -- the left side of Def. 1 (local PL)."""
        sq = lambda g: float(torch.linalg.vector_norm(g)) ** 2     # no temporary the size of g
        total = L * (sq(self.V) + sq(self.W))
        if include_AB:
            total += sum(sq(g) for g in (self.A, self.B) if g is not None)
        return total


class AdjointWorkspace:
    """Buffers and per-layer views for repeated forward/backward passes of one network on one data set.

    The training engine keeps one workspace for a whole run; the weights of ``net`` may be updated in
    place between calls (the views stay valid).
    """

    U_MAX_ENTRIES = 1 << 20      # GELU keeps u = pre / sqrt 2 of every layer up to this size (8 MB in float64)

    def __init__(self, net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str):
        check_arg.choice("normalization", normalization, LOSS_NORMALIZATIONS)
        net.check_input(x, "x")
        check_arg.tensor("y", y, shape=(x.shape[0], net.d_out))
        if y.dtype != net.dtype:
            raise TypeError(f"y has dtype {y.dtype} but the network's weights are {net.dtype}; "
                            f"convert one of them, e.g. y.to({net.dtype})")
        self.net, self.x, self.y = net, x, y
        n, L, q, m = x.shape[0], net.L, net.q, net.m
        opts = dict(dtype=net.dtype, device=net.device)
        self.H = torch.empty(L + 1, n, q, **opts)    # hidden states h_0..h_L
        self.P = torch.empty(L + 1, n, q, **opts)    # backward states p_0..p_L
        self.PRE = torch.empty(L, n, m, **opts)      # pre-activations (GELU: erf(u)), later sigma', then V^T p sigma'
        self._tmp = torch.empty(n, m, **opts)        # one layer's sigma(pre) in forward, V^T p in backward
        self.dV = torch.empty(L, q, m, **opts)       # gradient buffers, overwritten by each backward()
        # dW is computed transposed, (L, q, m), the orientation in which the batched product is fastest
        # (180 against 280 us here); ``dW`` is its (L, m, q) view
        self.dWt = torch.empty(L, q, m, **opts)
        self.dW = self.dWt.transpose(1, 2)
        # W_k^T, contiguous and pre-scaled by the inner factor of the forward pass (cw, and 1/sqrt 2 for
        # GELU): refreshed at each forward pass (the weights may have changed), one batched copy that
        # makes each layer's product faster and spares a scaling per layer
        self.WsT = torch.empty(L, q, m, **opts)
        self._loss_scale = 1.0 / (n if normalization == "n" else n * net.d_out)
        # Per-layer views, made once: indexing a tensor inside the loop would cost a dispatch each time.
        self._h, self._p = self.H.unbind(0), self.P.unbind(0)
        self._pre = self.PRE.unbind(0)
        self._V, self._W = net.V.unbind(0), net.W.unbind(0)
        self._Vt = [v.T for v in self._V]
        self._WsT = self.WsT.unbind(0)
        # Batched work goes in blocks of ~2^18 entries: large enough to amortise the dispatch, small
        # enough that the temporaries torch makes inside (e.g. for transposed operands) stay small. The
        # activations sigma(pre) are not kept from the forward pass: the backward pass recomputes them one
        # block at a time (one batched pass, ~1 ns per entry), which saves an (L, n, m) buffer -- except for
        # GELU, whose recomputation would need erf again (see _forward_gelu).
        per_block = max(1, (1 << 18) // (n * m))
        self._blocks = [(a, min(a + per_block, L)) for a in range(0, L, per_block)]
        self._act_block = torch.empty(min(per_block, L), n, m, **opts)
        # GELU has its own path (see _forward_gelu): it keeps erf(u) in PRE, u itself in U up to
        # U_MAX_ENTRIES (beyond, the backward pass recomputes u), and needs a second block buffer.
        self._gelu = net.sigma.name == "gelu"
        self._aux_block = torch.empty_like(self._act_block) if self._gelu else None
        self.U = torch.empty(L, n, m, **opts) if self._gelu and L * n * m <= self.U_MAX_ENTRIES else None
        self._u = self.U.unbind(0) if self.U is not None else [self._tmp] * L

    def forward(self) -> float:
        """Forward pass (fills ``H`` and ``PRE``); returns the loss."""
        net, h = self.net, self._h
        torch.mul(net.W.transpose(1, 2), net.inner_scale * (_INV_SQRT2 if self._gelu else 1.0), out=self.WsT)
        if net.A is None:
            h[0].copy_(self.x)
        else:
            torch.mm(self.x, net.A.T, out=h[0])
        (self._forward_gelu if self._gelu else self._forward_generic)()
        out = h[-1] if net.B is None else h[-1] @ net.B.T
        self.residual = out - self.y
        return float(self.residual.pow(2).sum()) * self._loss_scale

    def _forward_generic(self) -> None:
        net, h, pre, act = self.net, self._h, self._pre, self._tmp
        sigma_out, c = net.sigma.sigma_out, net.residual_scale
        mm, addmm = torch.mm, torch.addmm
        for k, (WsT_k, Vt_k) in enumerate(zip(self._WsT, self._Vt)):
            mm(h[k], WsT_k, out=pre[k])                                # cw W_k h
            sigma_out(pre[k], act)
            addmm(h[k], act, Vt_k, alpha=c, out=h[k + 1])

    # GELU, sigma(x) = x Phi(x) with Phi(x) = (1 + erf(x / sqrt 2)) / 2, is composed from torch.erf instead of
    # torch's fused GELU: in float64 the fused kernel evaluates erf one entry at a time, at a cost that depends
    # on the values (measured: 4.5 and 17 ms for a whole forward-backward pass of Fig. 2's network with two
    # draws of random weights), while torch.erf is vectorised (about 2.5 ns per entry whatever the values).
    # With u = pre / sqrt 2 (the scale folded into the matrix products):
    #     sigma(pre) = (u + u erf(u)) / sqrt 2,     sigma'(pre) = (1 + erf(u)) / 2 + u exp(-u^2) / sqrt(pi).
    # The forward pass keeps erf(u) of every layer (and u, unless too large); the backward pass never
    # evaluates erf again.
    def _forward_gelu(self) -> None:
        net, h, erf_u, u, act = self.net, self._h, self._pre, self._u, self._tmp
        a_out = net.residual_scale * _INV_SQRT2
        mm, addmm, erf, addcmul = torch.mm, torch.addmm, torch.erf, torch.addcmul
        for k, (WsT_k, Vt_k) in enumerate(zip(self._WsT, self._Vt)):
            mm(h[k], WsT_k, out=u[k])                                  # u = cw W_k h / sqrt 2
            erf(u[k], out=erf_u[k])
            addcmul(u[k], u[k], erf_u[k], out=act)                     # sqrt 2 * sigma(pre)
            addmm(h[k], act, Vt_k, alpha=a_out, out=h[k + 1])

    def _prepare_block(self, a: int, b: int) -> tuple[torch.Tensor, float]:
        """Overwrite PRE[a:b] with sigma'(pre) and return sigma(pre) of layers a..b-1 (in a block buffer)
        and the factor to multiply it by."""
        net, pre, act = self.net, self.PRE[a:b], self._act_block[: b - a]
        if not self._gelu:
            net.sigma.sigma_out(pre, act)                      # sigma(pre) of these layers, recomputed
            net.sigma.prime_into(pre, act)                     # PRE[a:b] <- sigma'(pre)
            return act, 1.0
        erf_u, aux = pre, self._aux_block[: b - a]
        if self.U is not None:
            u = self.U[a:b]
        else:                                                  # recompute u, one batched product
            u = torch.bmm(self.H[a:b], self.WsT[a:b], out=act)
        torch.mul(u, u, out=aux)
        aux.neg_().exp_().mul_(u)                              # u exp(-u^2)
        torch.addcmul(u, u, erf_u, out=act)                    # sqrt 2 * sigma(pre)
        erf_u.add_(1.0).mul_(0.5).add_(aux, alpha=_INV_SQRT_PI)  # sigma'(pre)
        return act, _INV_SQRT2

    def backward(self, with_AB: bool = True) -> Gradients:
        """Backward pass after :meth:`forward`: the discrete adjoint recursion, then batched gradients.

        The returned ``V`` and ``W`` gradients live in this workspace's buffers: the next call
        overwrites them (copy them to keep them); ``W``'s is a transposed view of ``dWt``."""
        net, p, g, tmp = self.net, self._p, self._pre, self._tmp
        c, cw = net.residual_scale, net.inner_scale
        dout = self.residual * (2.0 * self._loss_scale)       # d loss / d F, shape (n, d')
        if net.B is None:
            p[-1].copy_(dout)
        else:
            torch.mm(dout, net.B, out=p[-1])
        mm, addmm, mul = torch.mm, torch.addmm, torch.mul
        for a, b in reversed(self._blocks):                    # from the last layers down to the first
            act_block, act_scale = self._prepare_block(a, b)  # PRE[a:b] <- sigma'(pre)
            for k in range(b - 1, a - 1, -1):                  # the adjoint recursion, layer by layer
                mm(p[k + 1], self._V[k], out=tmp)              # V_k^T p_k   (row-vector form)
                mul(tmp, g[k], out=g[k])                       # ... * sigma'(pre)
                addmm(p[k + 1], g[k], self._W[k], alpha=c * cw, out=p[k])
            # weight gradients of the block's layers at once
            torch.baddbmm(self.dV[a:b], self.P[a + 1:b + 1].transpose(1, 2), act_block, beta=0.0,
                          alpha=c * act_scale, out=self.dV[a:b])
            torch.baddbmm(self.dWt[a:b], self.H[a:b].transpose(1, 2), self.PRE[a:b], beta=0.0, alpha=c * cw,
                          out=self.dWt[a:b])
        dV, dW = self.dV, self.dW
        dA = p[0].T @ self.x if (with_AB and net.A is not None) else None
        dB = dout.T @ self.H[-1] if (with_AB and net.B is not None) else None
        return Gradients(dV, dW, dA, dB)


def loss_and_gradients(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str):
    """Loss and its gradient with respect to every ``V_k``, ``W_k`` (and ``A``, ``B`` when present),
    by the hand-written discrete adjoint (no autograd).

    ``x``: (n, d), ``y``: (n, d'), same dtype as the network (float32 or float64).
    ``normalization``: ``"n"`` (paper) or ``"nd"`` (scripts), see :func:`helpers.mse_loss`.

    Returns ``(loss: float, Gradients)``.

    Example
    -------
    >>> loss, grads = loss_and_gradients(net, x, y, normalization="n")
    >>> grads.V.shape == net.V.shape
    True
    """
    ws = AdjointWorkspace(net, x, y, normalization)
    with torch.no_grad(), num_threads(auto_threads(net, x.shape[0])):   # the engine's thread rule
        loss = ws.forward()
        g = ws.backward()
    return loss, Gradients(g.V, g.W.contiguous(), g.A, g.B)   # the workspace's W gradient is a transposed view


def autograd_gradients(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str):
    """The same as :func:`loss_and_gradients`, by autograd through :meth:`ResNet.forward` (the reference)."""
    params = {k: getattr(net, k).detach().clone().requires_grad_(True)
              for k in ("V", "W", "A", "B") if getattr(net, k) is not None}
    twin = ResNet(activation=net.activation, normalized=net.normalized,
                  **{k: params.get(k) for k in ("V", "W", "A", "B")})
    loss = twin.loss(x, y, normalization)                # forward on the engine's thread rule
    with num_threads(auto_threads(net, x.shape[0])):     # and so the backward pass
        grads = torch.autograd.grad(loss, list(params.values()))
    named = dict(zip(params, grads))
    return float(loss.detach()), Gradients(named["V"], named["W"], named.get("A"), named.get("B"))


@dataclass
class States:
    """What one forward and one backward pass computed (:func:`forward_backward_states`): ``H``
    (L+1, n, q) the hidden states h_0..h_L, ``P`` (L+1, n, q) the backward states p_k = d loss / d h_k,
    the ``loss`` and the ``grads`` (:class:`Gradients`)."""

    H: torch.Tensor
    P: torch.Tensor
    loss: float
    grads: Gradients

    @property
    def L(self) -> int:
        return self.H.shape[0] - 1


def forward_backward_states(net: ResNet, x: torch.Tensor, y: torch.Tensor, normalization: str) -> States:
    """Forward states ``h_k`` and backward (adjoint) states ``p_k = d loss / d h_k`` of ``net`` on the data,
    with the loss and the gradients (copied out of the workspace), by the recursions of the module
    docstring (notebook 03, eq. (3.5)-(3.6); their limit is the adjoint ODE of Thm. 4, notebook 04).

    Row i of ``P[k]`` is ``p_k`` for sample i (it contains the loss's 1/n). Raises as
    :func:`loss_and_gradients`.

    Example
    -------
    >>> st = forward_backward_states(net, x, y, "nd")
    >>> st.H.shape == st.P.shape == (net.L + 1, x.shape[0], net.q)
    True
    """
    if not isinstance(net, ResNet):
        raise TypeError(f"net must be a helpers.ResNet, got {type(net).__name__}")
    ws = AdjointWorkspace(net, x, y, normalization)
    with torch.no_grad(), num_threads(auto_threads(net, x.shape[0])):
        loss = ws.forward()
        g = ws.backward()
    c = lambda t: None if t is None else t.detach().clone(memory_format=torch.contiguous_format)
    return States(H=ws.H.clone(), P=ws.P.clone(), loss=loss, grads=Gradients(c(g.V), c(g.W), c(g.A), c(g.B)))
