import pytest
from helpers.activations import ACTIVATIONS
import torch

import helpers as H


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivatives_match_autograd(name):
    act = H.get_activation(name)
    x = torch.linspace(-3, 3, 101, dtype=torch.float64).requires_grad_(True)
    (grad,) = torch.autograd.grad(act(x).sum(), x)
    assert torch.allclose(act.prime(x.detach()), grad, atol=1e-12)
    pre, out = x.detach().clone(), torch.empty(101, dtype=torch.float64)
    act.sigma_out(pre, out)
    assert torch.allclose(out, act(x.detach()))
    act.prime_into(pre, out)
    assert torch.allclose(pre, grad, atol=1e-12)


def test_theory_assumptions_are_recorded():
    assert H.get_activation("tanh").bounded and H.get_activation("tanh").c2
    assert not H.get_activation("gelu").bounded and not H.get_activation("relu").c2


def test_unknown_activation():
    with pytest.raises(ValueError, match="activation must be one of"):
        H.get_activation("swish")
