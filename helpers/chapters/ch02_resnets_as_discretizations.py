"""Notebook 02 (``notebooks/02_resnets_as_discretizations.ipynb``, section 5): the four large-depth
regimes of a ResNet at initialisation, and the two statistics that tell them apart.

The ResNet is the paper's eq. (3) with A = B = I (Marion, Wu, Sander & Biau, ICLR 2024, Section 3),
``h_0 = x``, ``h_{k+1} = h_k + a_L (1/sqrt m) V_{k+1} sigma(W_{k+1} h_k / sqrt q)``, ``F^L(x) = h_L``, built
by the engine's ``make_resnet(..., form="normalized")``; eq. (3) has a_L = 1/L, and
``scaling="1/sqrt(L)"`` multiplies V by sqrt(L), i.e. a_L = 1/sqrt(L). With smooth weights and
a_L = 1/L the network is an Euler scheme of the neural ODE (6), at distance at most C/L (Prop. 2). The
four corners (weights across depth x scaling) follow Marion, Fermanian, Biau & Vert, *Scaling ResNets in
the large-depth regime* (arXiv:2206.06929):

=============  ==========  ============  ===================================================================
name           weights     scaling a_L   as L grows (notebook 02, section 5)
=============  ==========  ============  ===================================================================
"identity"     i.i.d.      1/L           residual branch vanishes: F^L(x) -> x
"SDE-like"     i.i.d.      1/sqrt(L)     O(1) random updates whose law settles (a limit in distribution)
"ODE"          smooth      1/L           the neural ODE (6), error O(1/L) (Prop. 2)
"explosion"    smooth      1/sqrt(L)     Euler for the field sqrt(L) f: ||h_L - h_0|| grows (observed here)
=============  ==========  ============  ===================================================================

The notebook builds the networks and their outputs itself (one short loop over regimes, depths and
draws of the weights); :func:`regime_statistics` reduces those outputs to the two curves it plots.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .. import _validation as check_arg

REGIMES = {
    "identity": ("iid", "1/L"),
    "SDE-like": ("iid", "1/sqrt(L)"),
    "ODE": ("smooth", "1/L"),
    "explosion": ("smooth", "1/sqrt(L)"),
}
"""The four (``kind``, ``scaling``) pairs of ``make_resnet``, by name."""


@dataclass
class RegimeStats:
    """Result of :func:`regime_statistics`, for outputs at depths L_1 < L_2 < ... of one regime.

    ``displacement[j]``: mean over draws and inputs of ``||F^{L_j}(x) - x|| / ||x||`` (= ``||h_L - h_0|| /
    ||h_0||``, as A = B = I) -- a statistic of the *law* of the output, which settles as L grows wherever
    that law has a limit.
    ``gaps[j]``: mean of ``||F^{L_{j+1}}(x) - F^{L_j}(x)|| / ||x||`` between consecutive depths, same draw
    index. A *pathwise* statistic: with smooth weights the same draw samples the same functions at every
    depth, and a sequence with a limit has gaps -> 0; with i.i.d. weights the draws of different depths
    are independent networks, so the gaps stay O(1) whether or not the law has a limit.
    """

    displacement: np.ndarray
    gaps: np.ndarray


def regime_statistics(x: torch.Tensor, outputs: torch.Tensor) -> RegimeStats:
    """Displacement and consecutive-depth gaps (see :class:`RegimeStats`) of ResNet outputs.

    ``x``: inputs (n, q), every row non-zero; ``outputs``: ``F^L(x)`` of shape (n_depths, n_draws, n, q),
    ``outputs[j, r]`` the output of draw r of the weights at the j-th depth (n_depths >= 2, increasing).
    Raises TypeError/ValueError naming ``x`` or ``outputs``.

    Example::

        outs = torch.stack([torch.stack([H.make_resnet(L, 16, 32, kind="iid", form="normalized",
                                                       activation="tanh", seed=s)(x) for s in range(4)])
                            for L in (16, 64, 256)])
        regime_statistics(x, outs).displacement          # ~ L^{-1/2}: the identity regime
    """
    check_arg.tensor("x", x, ndim=2)
    n, q = x.shape
    check_arg.tensor("outputs", outputs, shape=(None, None, n, q))
    if outputs.shape[0] < 2 or outputs.shape[1] < 1:
        raise ValueError("outputs must hold at least 2 depths and 1 draw, shape (n_depths, n_draws, n, q), got "
                         f"{tuple(outputs.shape)}")
    check_arg.same_dtype_device(x=x, outputs=outputs)
    norm_x = x.detach().norm(dim=1)
    zero_rows = (norm_x == 0).nonzero().flatten().tolist()
    if zero_rows:
        raise ValueError(f"x has {len(zero_rows)} row(s) of norm 0 (rows {zero_rows[:5]}): the relative "
                         "displacement ||h_L - h_0|| / ||h_0|| is undefined there; drop them")
    outputs = outputs.detach()
    displacement = ((outputs - x.detach()).norm(dim=-1) / norm_x).mean(dim=(1, 2))
    gaps = ((outputs[1:] - outputs[:-1]).norm(dim=-1) / norm_x).mean(dim=(1, 2))
    return RegimeStats(displacement=displacement.cpu().numpy(), gaps=gaps.cpu().numpy())
