"""Activation functions sigma and their derivatives sigma', by name.

The finite-time results (Props. 3, 7, Thm. 4) hold for any residual map that is C^2 with f(0, .) = 0 and
locally Lipschitz (the paper's Section 4.3): ``tanh`` and ``gelu`` (the experiments' choice) qualify,
``relu`` does not (its derivative jumps at 0: the appendix's counterexample, notebook 05). Boundedness of
sigma is needed only for the PL condition (Prop. 5, notebook 07): ``tanh`` fits, ``gelu`` does not.
``identity`` makes the residual branch linear. The hand-written adjoint needs sigma' explicitly,
which is why each activation is given as a pair (for GELU the adjoint has its own path, composed from
``torch.erf``: :mod:`helpers.adjoint` says why).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _gelu_prime(x: torch.Tensor) -> torch.Tensor:
    # d/dx [x Phi(x)] = Phi(x) + x phi(x)   (exact GELU, as torch.nn.GELU())
    cdf = 0.5 * (1.0 + torch.erf(x * _INV_SQRT2))
    return cdf + x * torch.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _tanh_prime(x: torch.Tensor) -> torch.Tensor:
    return 1.0 - torch.tanh(x) ** 2


def _relu_prime(x: torch.Tensor) -> torch.Tensor:
    return (x > 0).to(x.dtype)  # the convention sigma'(0) = 0, as autograd


def _gelu_out(x, out):
    return torch._C._nn.gelu(x, out=out)


# sigma'(pre) written over ``pre`` for all layers at once (one fused pass, no temporaries: on large
# stacked tensors an allocation costs more than the arithmetic). ``act`` = sigma(pre) is available.
_ONE = torch.ones(())


def _gelu_prime_into(pre, act):
    torch.ops.aten.gelu_backward.grad_input(_ONE.to(pre).expand_as(pre), pre, grad_input=pre)


def _tanh_prime_into(pre, act):
    torch.addcmul(_ONE.to(pre), act, act, value=-1.0, out=pre)   # 1 - tanh^2


def _relu_prime_into(pre, act):
    pre.gt_(0.0)


def _identity_prime_into(pre, act):
    pre.fill_(1.0)


@dataclass(frozen=True)
class Activation:
    """An activation: ``sigma(x)``, ``prime(x)`` = sigma'(x), and ``sigma_out(x, out)`` writing into ``out``
    and ``prime_into(pre, act)`` overwriting ``pre`` with sigma'(pre) (both used by the training engine
    to avoid allocations); ``bounded`` and ``c2`` say whether the theory's assumptions hold."""

    name: str
    sigma: Callable[[torch.Tensor], torch.Tensor]
    prime: Callable[[torch.Tensor], torch.Tensor]
    sigma_out: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    prime_into: Callable[[torch.Tensor, torch.Tensor], None]
    bounded: bool
    c2: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.sigma(x)


ACTIVATIONS = {
    "tanh": Activation("tanh", torch.tanh, _tanh_prime, lambda x, out: torch.tanh(x, out=out),
                   _tanh_prime_into, True, True),
    "gelu": Activation("gelu", torch.nn.functional.gelu, _gelu_prime, _gelu_out, _gelu_prime_into, False, True),
    "relu": Activation("relu", torch.relu, _relu_prime, lambda x, out: torch.clamp_min(x, 0.0, out=out),
                       _relu_prime_into, False, False),
    "identity": Activation("identity", lambda x: x, torch.ones_like, lambda x, out: out.copy_(x),
                           _identity_prime_into, False, True),
}


def get_activation(name: str | Activation) -> Activation:
    """Look an activation up by name (``"tanh"``, ``"gelu"``, ``"relu"``, ``"identity"``)."""
    if isinstance(name, Activation):
        return name
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]
