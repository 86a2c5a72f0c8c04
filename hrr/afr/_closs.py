"""The correntropy-induced loss (C-loss) and its half-quadratic weights.

HRR paper, Eq. (8):   l_sigma(y, f) = beta * (1 - exp(-(1 - y f)^2 / sigma^2)),
                      beta = 1 / (1 - exp(-1 / sigma^2)),  so that l_sigma(y, 0) = 1.
Appendix A, Eq. (13): b_i = -exp(-(y_i - f_i)^2 / sigma^2); we carry w_i = -b_i in (0, 1].

With labels in {-1, +1}, (1 - y f)^2 = (y - f)^2, so the same residual r = y - f feeds both.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def closs_beta(sigma: float) -> float:
    """Normalising constant beta of Eq. (8); ``-expm1`` keeps it exact for large sigma."""
    return 1.0 / -math.expm1(-1.0 / sigma**2)


def correntropy_loss(residual: Tensor, sigma: float) -> Tensor:
    """Elementwise C-loss of Eq. (8) as a function of the residual r = y - f (y in {-1, +1})."""
    return -closs_beta(sigma) * torch.expm1(-(residual**2) / sigma**2)


def hq_weights(residual: Tensor, sigma: float) -> Tensor:
    """Half-quadratic weights w = -b of Eq. (13): exp(-r^2 / sigma^2), in (0, 1]."""
    return torch.exp(-(residual**2) / sigma**2)
