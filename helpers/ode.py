"""Neural ODEs (course notebook 01) and the fixed-step solvers a ResNet discretizes.

The neural ODE of eq. (6), for a weight function ``Z(s) = (V(s), W(s))``, s in [0, 1]:

    H(0) = A x,    dH/ds = c V(s) sigma(cw W(s) H),    F(x) = B H(1)

with c = 1/sqrt(m), cw = 1/sqrt(q) in the paper's form and c = cw = 1 in the simplified form.

* :func:`euler` and :func:`rk4` are written here (the course derives them); a ResNet of depth L is the
  Euler scheme with step 1/L.
* The reference solution and the adjoint gradients (Chen et al., 2018) come from **torchdiffeq**
  (``odeint`` / ``odeint_adjoint`` with an adaptive Dormand--Prince scheme).
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from . import _validation as check_arg
from .activations import get_activation
from .config import auto_threads, num_threads
from .resnet import ResNet, mse_loss

COURSE_SOLVERS = ("euler", "rk4")
REFERENCE_SOLVERS = ("dopri5", "dopri8", "bosh3", "adaptive_heun")


def _check_solver_args(f, y0, n_steps, s0, s1):
    if not callable(f):
        raise TypeError(f"f must be a callable f(s, y), got {type(f).__name__}")
    if not isinstance(y0, torch.Tensor):
        raise TypeError(f"y0 must be a torch.Tensor, got {type(y0).__name__}; "
                        "convert with torch.as_tensor(y0, dtype=torch.float64)")
    n_steps = check_arg.positive_int("n_steps", n_steps)
    if not (math.isfinite(s0) and math.isfinite(s1)) or s1 == s0:
        raise ValueError(f"the interval [s0, s1] must be finite and non-empty, got [{s0}, {s1}]")
    return n_steps


def _checked_field(f: Callable, s: float, y: torch.Tensor) -> torch.Tensor:
    """``f(s, y)``, checked to be a tensor of ``y``'s shape and dtype: a result of another shape would
    broadcast silently (an (n, 1) field on an (n,) state grows to (n, n), then blows up memory)."""
    out = f(s, y)
    if not isinstance(out, torch.Tensor) or out.shape != y.shape or out.dtype != y.dtype:
        got = (f"shape {tuple(out.shape)}, dtype {out.dtype}" if isinstance(out, torch.Tensor)
               else type(out).__name__)
        raise ValueError(f"f(s, y) must return a tensor of the state's shape {tuple(y.shape)} and dtype {y.dtype}, "
                         f"got {got}")
    return out


def euler(f: Callable, y0: torch.Tensor, *, n_steps: int, s0: float = 0.0, s1: float = 1.0,
          return_path: bool = False):
    """Explicit Euler: ``y_{j+1} = y_j + delta f(s_j, y_j)`` with delta = (s1 - s0) / n_steps.

    Global error O(delta) (order 1). Returns ``y(s1)``, or the path ``(n_steps + 1, *y0.shape)``.
    Raises ValueError if ``f``'s first value does not have ``y0``'s shape and dtype.
    Example: ``euler(lambda s, y: -y, torch.ones(1), n_steps=100)`` approximates exp(-1).
    """
    n_steps = _check_solver_args(f, y0, n_steps, s0, s1)
    delta = (s1 - s0) / n_steps
    y, path = y0, [y0]
    for j in range(n_steps):
        y = y + delta * (_checked_field(f, s0, y) if j == 0 else f(s0 + j * delta, y))
        if return_path:
            path.append(y)
    return torch.stack(path) if return_path else y


def rk4(f: Callable, y0: torch.Tensor, *, n_steps: int, s0: float = 0.0, s1: float = 1.0,
        return_path: bool = False):
    """Classical fourth-order Runge--Kutta with ``n_steps`` steps: global error O(delta^4).

    ``k1 = f(s, y)``, ``k2 = f(s + delta/2, y + delta k1/2)``, ``k3 = f(s + delta/2, y + delta k2/2)``,
    ``k4 = f(s + delta, y + delta k3)``, ``y <- y + delta (k1 + 2 k2 + 2 k3 + k4) / 6``.
    """
    n_steps = _check_solver_args(f, y0, n_steps, s0, s1)
    delta = (s1 - s0) / n_steps
    y, path = y0, [y0]
    for j in range(n_steps):
        s = s0 + j * delta
        k1 = _checked_field(f, s, y) if j == 0 else f(s, y)
        k2 = f(s + delta / 2, y + (delta / 2) * k1)
        k3 = f(s + delta / 2, y + (delta / 2) * k2)
        k4 = f(s + delta, y + delta * k3)
        y = y + (delta / 6) * (k1 + 2 * k2 + 2 * k3 + k4)
        if return_path:
            path.append(y)
    return torch.stack(path) if return_path else y


def table_index(s: float, L: int) -> int:
    """0-based layer whose weights drive the ODE at depth s for a table of L layers: layer k = 1..L
    covers s in [(k-1)/L, k/L), so that L Euler steps of the ODE reproduce the ResNet exactly.

    (The paper's interpolation ``Z^L(s) = Z_{floor((L-1)s)+1}`` differs by O(1/L) in s.)"""
    return min(max(int(math.floor(s * L)), 0), L - 1)


class NeuralODE(torch.nn.Module):
    """The vector field ``f(s, H) = c V(s) sigma(cw W(s) H)`` of eq. (6) and its solution map.

    ``weights`` is either

    * a pair of callables ``(V_fn, W_fn)``, each ``s -> matrix`` of shape (q, m) / (m, q)
      (for instance :func:`helpers.smooth_weight_functions`), or
    * a weight table: a pair of tensors ``(V, W)`` of shapes (L, q, m), (L, m, q), or a
      :class:`~helpers.ResNet` (its weights, activation, maps and normalisation are taken over).
      Tables are interpolated piecewise constantly (``interpolation="constant"``, see :func:`table_index`)
      or linearly between the nodes s_k = k / L (``"linear"``), and are trainable parameters
      (``odeint_adjoint`` differentiates with respect to them).

    Example
    -------
    >>> V_fn, W_fn = smooth_weight_functions(4, 8, seed=0)
    >>> ode = NeuralODE((V_fn, W_fn), activation="tanh")
    >>> ode.solve(torch.randn(5, 4, dtype=torch.float64), method="rk4", n_steps=50).shape
    torch.Size([5, 4])
    """

    def __init__(self, weights, activation: str = "tanh", normalized: bool = False, A=None, B=None,
                 interpolation: str = "constant"):
        super().__init__()
        if isinstance(weights, ResNet):
            net = weights
            weights, activation, normalized, A, B = (net.V, net.W), net.activation, net.normalized, net.A, net.B
        if not (isinstance(weights, (tuple, list)) and len(weights) == 2):
            raise TypeError("weights must be a pair (V_fn, W_fn) of callables, a pair (V, W) of weight tables "
                            f"or a helpers.ResNet, got {type(weights).__name__}")
        self.sigma = get_activation(activation)
        self.activation = self.sigma.name
        self.normalized = bool(normalized)
        self.interpolation = check_arg.choice("interpolation", interpolation, ("constant", "linear"))
        V, W = weights
        if isinstance(V, torch.Tensor):
            check_arg.tensor("V", V, ndim=3)
            L, q, m = V.shape
            check_arg.tensor("W", W, shape=(L, m, q))
            self.V_table = torch.nn.Parameter(V.detach().clone())
            self.W_table = torch.nn.Parameter(W.detach().clone())
            self.V_fn = self.W_fn = None
        elif callable(V) and callable(W):
            self.V_table = self.W_table = None
            self.V_fn, self.W_fn = V, W
            q, m = V(0.0).shape
        else:
            raise TypeError("weights must be two tensors or two callables, got "
                            f"{type(V).__name__} and {type(W).__name__}")
        self.q, self.m = q, m
        self.A = None if A is None else torch.nn.Parameter(A.detach().clone())
        self.B = None if B is None else torch.nn.Parameter(B.detach().clone())
        self.c = 1.0 / math.sqrt(m) if self.normalized else 1.0
        self.cw = 1.0 / math.sqrt(q) if self.normalized else 1.0
        self.n_evals = 0

    @property
    def jumps(self) -> list:
        """Depths where a table's interpolant switches layer or has a kink (told to adaptive solvers)."""
        if self.V_table is None:
            return []
        L = self.V_table.shape[0]
        return [k / L for k in range(1, L)]

    def weights_at(self, s: float):
        """``(V(s), W(s))``."""
        s = float(s.detach()) if isinstance(s, torch.Tensor) else float(s)
        if self.V_fn is not None:
            return self.V_fn(s), self.W_fn(s)
        L = self.V_table.shape[0]
        if self.interpolation == "constant" or L == 1:
            k = table_index(s, L)
            return self.V_table[k], self.W_table[k]
        u = min(max(s * L - 1.0, 0.0), L - 1.0)        # node k (0-based) sits at s = (k + 1) / L
        k = min(int(math.floor(u)), L - 2)
        a = u - k
        return ((1 - a) * self.V_table[k] + a * self.V_table[k + 1],
                (1 - a) * self.W_table[k] + a * self.W_table[k + 1])

    def forward(self, s, H: torch.Tensor) -> torch.Tensor:
        """The vector field ``f(s, H)``; ``H`` has shape (n, q)."""
        self.n_evals += 1
        V, W = self.weights_at(s)
        return self.c * self.sigma(self.cw * (H @ W.T)) @ V.T

    @property
    def dtype(self) -> torch.dtype:
        return self.V_table.dtype if self.V_table is not None else self.V_fn(0.0).dtype

    @property
    def device(self) -> torch.device:
        return self.V_table.device if self.V_table is not None else self.V_fn(0.0).device

    def initial_state(self, x: torch.Tensor) -> torch.Tensor:
        """``H(0) = A x`` (n, q); ``x`` (n, d) must have the ODE's width and dtype (ValueError/TypeError)."""
        d = self.q if self.A is None else self.A.shape[1]
        check_arg.tensor("x", x, shape=(None, d))
        if x.dtype != self.dtype:
            raise TypeError(f"x has dtype {x.dtype} but the ODE's weights are {self.dtype}; "
                            f"convert one of them, e.g. x.to({self.dtype})")
        return x if self.A is None else x @ self.A.T

    def output(self, H1: torch.Tensor) -> torch.Tensor:
        return H1 if self.B is None else H1 @ self.B.T

    def solve(self, x: torch.Tensor, *, method: str = "dopri5", n_steps: int | None = None,
              rtol: float = 1e-9, atol: float = 1e-10, adjoint: bool = False,
              return_path: bool = False, s_eval=None):
        """The output ``F(x) = B H(1)`` (n, d'), or the path ``H(s)`` on ``s_eval`` / the solver grid.

        ``method``: ``"euler"`` or ``"rk4"`` (the course's fixed-step solvers, ``n_steps`` required), or a
        torchdiffeq adaptive method (``"dopri5"``, ``"dopri8"``, ...) with tolerances ``rtol``, ``atol``.
        Default tolerances 1e-9 / 1e-10, for functions and tables alike. A table's jumps (s = k/L) are told
        to the solver. Measured on depth-16 and depth-64 tables (tied, smooth, i.i.d.; n = 50, q = 16,
        m = 32): 1 000-1 700 evaluations and errors <= 2e-7 at these tolerances, whereas looser ones are
        erratic at the jumps (up to 14 000 evaluations and errors of 3e-3 at 1e-6 / 1e-8).
        ``adjoint=True`` (torchdiffeq methods only) differentiates by the adjoint method
        (``odeint_adjoint``) instead of backpropagating through the solver's steps.
        Runs with the engine's thread rule (:func:`helpers.auto_threads`: one thread for small layers).
        """
        H0 = self.initial_state(x)
        with num_threads(auto_threads(self, H0.shape[0])):
            return self._solve(H0, method, n_steps, rtol, atol, adjoint, return_path, s_eval)

    def _solve(self, H0, method, n_steps, rtol, atol, adjoint, return_path, s_eval):
        rtol, atol = check_arg.positive_float("rtol", rtol), check_arg.positive_float("atol", atol)
        if method in COURSE_SOLVERS:
            if adjoint:
                raise ValueError("adjoint=True needs a torchdiffeq method such as 'dopri5'; the course's "
                                 "solvers are differentiated by backpropagation through their steps")
            if n_steps is None:
                raise ValueError(f"method={method!r} needs n_steps (a positive integer)")
            solver = euler if method == "euler" else rk4
            path = solver(self, H0, n_steps=n_steps, return_path=return_path)
            return path if return_path else self.output(path)
        check_arg.choice("method", method, COURSE_SOLVERS + REFERENCE_SOLVERS)
        s = torch.tensor([0.0, 1.0] if s_eval is None else list(s_eval), dtype=H0.dtype, device=H0.device)
        options = {"jump_t": torch.tensor(self.jumps, dtype=H0.dtype)} if self.jumps else None
        import torchdiffeq  # imported here: it pulls in SciPy (~40 MB), which only reference solves need

        integrate = torchdiffeq.odeint_adjoint if adjoint else torchdiffeq.odeint
        extra = {"adjoint_options": options} if (adjoint and options) else {}
        path = integrate(self, H0, s, method=method, rtol=rtol, atol=atol, options=options, **extra)
        return path if return_path else self.output(path[-1])

    def loss_and_gradients(self, x, y, *, normalization: str, **solve_kwargs):
        """Loss and its gradients with respect to the trainable parameters (a dict name -> tensor),
        by backpropagation through the solver or, with ``adjoint=True``, by the adjoint method."""
        params = dict(self.named_parameters())
        if not params:
            raise ValueError("this NeuralODE has no trainable parameters: build it from a weight table "
                             "(tensors or a ResNet), not from callables")
        loss = mse_loss(self.solve(x, **solve_kwargs), y, normalization)
        grads = torch.autograd.grad(loss, list(params.values()))
        return float(loss.detach()), dict(zip(params, grads))


def subsample_table(V: torch.Tensor, W: torch.Tensor, L: int):
    """The depth-L weights that sit at the same depths s = k/L (k = 1..L) as rows of a deeper table of
    depth L_ref (a multiple of L): rows ``k * L_ref / L`` (1-based)."""
    check_arg.tensor("V", V, ndim=3)
    L_ref = V.shape[0]
    L = check_arg.positive_int("L", L)
    if L_ref % L:
        raise ValueError(f"L must divide the table's depth {L_ref}, got L = {L}")
    rows = torch.arange(1, L + 1) * (L_ref // L) - 1
    return V[rows], W[rows]
