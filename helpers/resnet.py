"""The residual network of the course (the paper's eq. (3); notebooks 00 and 02).

Two forms share one class:

* the **paper's form** -- ``h_0 = A x``, ``h_{k+1} = h_k + 1/(L sqrt(m)) V_{k+1} sigma(W_{k+1} h_k / sqrt(q))``,
  ``F(x) = B h_L`` -- built with :meth:`ResNet.paper`;
* the **experiments' simplified form** -- ``A = B = I`` (not trained), no 1/sqrt(m), no 1/sqrt(q):
  ``h_{k+1} = h_k + (1/L) V_{k+1} sigma(W_{k+1} h_k)`` -- built with :meth:`ResNet.simple`.

Code works with row vectors, a batch of n inputs ``x`` of shape ``(n, d)``, so ``W_k h`` reads ``h @ W_k.T``.
The residual weights are stacked over depth: ``V`` of shape ``(L, q, m)`` and ``W`` of shape ``(L, m, q)``;
the paper's layer ``k = 1..L`` is ``V[k-1]``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from . import _validation as check_arg
from .activations import Activation, get_activation
from .config import auto_threads, num_threads
from .init import init_weights

LOSS_NORMALIZATIONS = ("n", "nd")
FORMS = ("simple", "normalized", "paper")


@dataclass
class ResNet:
    """A ResNet of depth ``L = V.shape[0]`` with stacked residual weights.

    Attributes
    ----------
    V : (L, q, m) tensor, the outer weights ``V_1..V_L``.
    W : (L, m, q) tensor, the inner weights ``W_1..W_L``.
    activation : name of sigma (``"tanh"``, ``"gelu"``, ``"relu"``, ``"identity"``).
    A : (q, d) input map or ``None`` (identity, d = q).
    B : (d', q) output map or ``None`` (identity, d' = q).
    normalized : ``True`` for the paper's 1/sqrt(m) and 1/sqrt(q) factors.

    Example
    -------
    >>> V, W = torch.zeros(8, 4, 6), torch.randn(8, 6, 4)
    >>> net = ResNet.simple(V, W, activation="tanh")
    >>> net(torch.randn(5, 4)).shape
    torch.Size([5, 4])
    """

    V: torch.Tensor
    W: torch.Tensor
    activation: str = "gelu"
    A: torch.Tensor | None = None
    B: torch.Tensor | None = None
    normalized: bool = False

    def __post_init__(self):
        check_arg.tensor("V", self.V, ndim=3)
        L, q, m = self.V.shape
        if L < 1:
            raise ValueError(f"depth L = V.shape[0] must be >= 1, got V of shape {tuple(self.V.shape)}")
        check_arg.tensor("W", self.W, shape=(L, m, q))
        get_activation(self.activation)
        if self.A is not None:
            check_arg.tensor("A", self.A, shape=(q, None))
        if self.B is not None:
            check_arg.tensor("B", self.B, shape=(None, q))
        check_arg.same_dtype_device(V=self.V, W=self.W, A=self.A, B=self.B)

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def simple(cls, V, W, activation: str = "gelu") -> "ResNet":
        """The experiments' form: A = B = I fixed, no width normalisations (course eq. for Fig. 1-3)."""
        return cls(V, W, activation=activation)

    @classmethod
    def paper(cls, V, W, A, B, activation: str = "tanh") -> "ResNet":
        """The paper's form, eq. (3): input map A, output map B, factors 1/(L sqrt(m)) and 1/sqrt(q)."""
        if A is None or B is None:
            raise ValueError("the paper's form needs both maps A (q, d) and B (d', q); "
                             "use ResNet.simple for A = B = I, or helpers.make_resnet(..., form='paper', d=..., d_out=...)")
        return cls(V, W, activation=activation, A=A, B=B, normalized=True)

    # -- sizes ------------------------------------------------------------------------------------
    @property
    def L(self) -> int:
        return self.V.shape[0]

    @property
    def q(self) -> int:
        return self.V.shape[1]

    @property
    def m(self) -> int:
        return self.V.shape[2]

    @property
    def d(self) -> int:
        """Input dimension."""
        return self.q if self.A is None else self.A.shape[1]

    @property
    def d_out(self) -> int:
        """Output dimension d'."""
        return self.q if self.B is None else self.B.shape[0]

    @property
    def dtype(self) -> torch.dtype:
        return self.V.dtype

    @property
    def device(self) -> torch.device:
        return self.V.device

    @property
    def sigma(self) -> Activation:
        return get_activation(self.activation)

    @property
    def residual_scale(self) -> float:
        """The factor in front of each residual: 1/L, times 1/sqrt(m) in the paper's form."""
        return 1.0 / (self.L * math.sqrt(self.m)) if self.normalized else 1.0 / self.L

    @property
    def inner_scale(self) -> float:
        """The factor inside sigma: 1/sqrt(q) in the paper's form, else 1."""
        return 1.0 / math.sqrt(self.q) if self.normalized else 1.0

    def clone(self) -> "ResNet":
        """A deep copy (weights cloned)."""
        c = lambda t: None if t is None else t.detach().clone()
        return replace(self, V=c(self.V), W=c(self.W), A=c(self.A), B=c(self.B))

    def to(self, dtype=None, device=None) -> "ResNet":
        """A copy with every weight converted to ``dtype`` and/or moved to ``device``."""
        c = lambda t: None if t is None else t.detach().to(dtype=dtype, device=device)
        return replace(self, V=c(self.V), W=c(self.W), A=c(self.A), B=c(self.B))

    # -- forward pass -----------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor, name: str = "x") -> torch.Tensor:
        """``x`` (n, d) with n >= 1, the network's dtype and device; else TypeError/ValueError naming ``name``."""
        check_arg.tensor(name, x, shape=(None, self.d))
        if x.shape[0] == 0:
            raise ValueError(f"{name} must hold at least one sample, got shape {tuple(x.shape)}")
        if x.dtype != self.dtype:
            raise TypeError(f"{name} has dtype {x.dtype} but the network's weights are {self.dtype}; "
                            f"convert one of them, e.g. {name}.to({self.dtype})")
        if x.device != self.device:
            raise ValueError(f"{name} is on {x.device} but the network is on {self.device}; move it with .to()")
        return x

    def forward(self, x: torch.Tensor, return_states: bool = False):
        """Output ``F(x)`` of shape ``(n, d')``, and, if ``return_states``, the hidden states
        ``h_0..h_L`` stacked as ``(L+1, n, q)``.

        Plain torch operations: autograd differentiates through this (it is the reference the
        hand-written adjoint of :mod:`helpers.adjoint` is tested against). Runs on the engine's thread
        rule (:func:`helpers.auto_threads`).
        """
        self.check_input(x)
        with num_threads(auto_threads(self, x.shape[0])):   # tiny per-layer products: one thread is fastest
            return self._forward(x, return_states)

    def _forward(self, x, return_states):
        sigma, c, cw = self.sigma, self.residual_scale, self.inner_scale
        h = x if self.A is None else x @ self.A.T
        states = [h]
        for V_k, W_k in zip(self.V, self.W):
            h = h + c * sigma(cw * (h @ W_k.T)) @ V_k.T
            if return_states:
                states.append(h)
        out = h if self.B is None else h @ self.B.T
        return (out, torch.stack(states)) if return_states else out

    __call__ = forward

    def loss(self, x: torch.Tensor, y: torch.Tensor, normalization: str) -> torch.Tensor:
        """Empirical risk of eq. (4): see :func:`mse_loss`."""
        return mse_loss(self.forward(x), y, normalization)


def mse_loss(out: torch.Tensor, y: torch.Tensor, normalization: str) -> torch.Tensor:
    """Squared loss with an explicit normalisation.

    ``normalization="n"``: the paper's ``(1/n) sum_i ||F(x_i) - y_i||^2``;
    ``normalization="nd"``: the reference scripts' mean over all ``n * d'`` entries (divides the effective
    learning rate by d'). ``out`` and ``y``: tensors of one shape (n, d') (TypeError/ValueError otherwise).
    """
    check_arg.choice("normalization", normalization, LOSS_NORMALIZATIONS)
    check_arg.tensor("out", out, finite=False)
    check_arg.tensor("y", y, finite=False)
    if out.shape != y.shape:
        raise ValueError(f"y must have the output's shape {tuple(out.shape)}, got {tuple(y.shape)}")
    n = out.shape[0] if normalization == "n" else out.numel()
    return ((out - y) ** 2).sum() / n


def theory_input_output_maps(d: int, d_out: int, q: int, dtype=torch.float64, device=None):
    """The theory's initial maps: ``A = (I_d; 0)`` of shape (q, d) and ``B = (0, I_d')`` of shape (d', q).

    They need ``q >= d + d'`` so that input and output use disjoint coordinates (Prop. 5).
    """
    d = check_arg.positive_int("d", d)
    d_out = check_arg.positive_int("d_out", d_out)
    q = check_arg.positive_int("q", q)
    if q < d + d_out:
        raise ValueError(f"q must be >= d + d_out = {d + d_out} for the theory's maps, got q = {q}")
    A = torch.zeros(q, d, dtype=dtype, device=device)
    A[:d, :d] = torch.eye(d, dtype=dtype, device=device)
    B = torch.zeros(d_out, q, dtype=dtype, device=device)
    B[:, q - d_out:] = torch.eye(d_out, dtype=dtype, device=device)
    return A, B


def make_resnet(L: int, q: int, m: int, *, kind: str, seed: int, V: str = "same", scaling: str = "1/L",
                activation: str = "gelu", form: str = "simple", d: int | None = None, d_out: int | None = None,
                n_modes: int = 4, dtype=torch.float64, device=None) -> ResNet:
    """The one network factory of the course: a ResNet of depth ``L``, hidden dimension ``q``, width ``m``.

    Weights from :func:`helpers.init_weights` (``kind`` = ``"tied"``, ``"smooth"`` or ``"iid"``; ``V`` =
    ``"same"`` or ``"zero"``; ``scaling`` = ``"1/L"`` or ``"1/sqrt(L)"``; ``seed``; ``n_modes``), in one of three
    forms (the paper's eq. (3) and its reference scripts; notebook 02):

    * ``"simple"`` -- the experiments' form ``h_{k+1} = h_k + (1/L) V_{k+1} sigma(W_{k+1} h_k)``, A = B = I
      (the reference scripts of Fig. 1-3; notebooks 00, 03-05);
    * ``"normalized"`` -- eq. (3)'s factors 1/(L sqrt m) and 1/sqrt q with A = B = I (notebook 02: keeps the
      residual branch O(1) for N(0, 1) weights);
    * ``"paper"`` -- eq. (3) in full: also the theory's maps ``A = (I_d; 0)`` (q, d) and ``B = (0, I_d')``
      (d', q), which need ``d`` and ``d_out`` with ``q >= d + d_out`` (Prop. 5).

    With ``kind="smooth"`` (or ``"tied"``) networks of every depth discretize the same weight functions
    of s = k/L, so a loop over depths with one seed builds a family that converges to a neural ODE.
    Raises ValueError/TypeError naming the argument for bad sizes, names, dtypes or seeds.

    Example
    -------
    >>> nets = {L: make_resnet(L, 16, 32, kind="tied", V="zero", seed=0) for L in (4, 16, 64)}
    >>> nets[16].V.shape
    torch.Size([16, 16, 32])
    """
    check_arg.choice("form", form, FORMS)
    get_activation(activation)
    Vw, Ww = init_weights(L, q, m, kind=kind, seed=seed, V=V, scaling=scaling, n_modes=n_modes, dtype=dtype,
                          device=device)
    if form == "paper":
        if d is None or d_out is None:
            raise ValueError("form='paper' needs the input and output dimensions d and d_out "
                             f"(with q >= d + d_out), got d={d!r}, d_out={d_out!r}")
        A, B = theory_input_output_maps(d, d_out, q, dtype=dtype, device=device)
        return ResNet.paper(Vw, Ww, A, B, activation=activation)
    if d is not None or d_out is not None:
        raise ValueError(f"d and d_out are for form='paper' (A, B maps); form={form!r} has d = d' = q")
    return ResNet(Vw, Ww, activation=activation, normalized=(form == "normalized"))
