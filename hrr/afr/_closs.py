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


class CLoss:
    """The C-loss datafit of Eq. (8) on the residual r = y - f, with what the solvers need from it.

    Like skglm's datafit objects it carries its parameter and offers the value, the derivative and a curvature
    bound; the half-quadratic weights of Eq. (13) are its majoriser for Algorithm 1.

    Parameters
    ----------
    sigma : float
        Bandwidth sigma > 0 of Eq. (8).
    """

    def __init__(self, sigma: float) -> None:
        self.sigma = float(sigma)
        self.beta = closs_beta(self.sigma)

    def value(self, residual: Tensor) -> Tensor:
        """Elementwise loss l_sigma(r)."""
        return correntropy_loss(residual, self.sigma)

    def derivative(self, residual: Tensor) -> Tensor:
        """dl/dr = (2 beta / sigma^2) r exp(-r^2 / sigma^2)."""
        return (2.0 * self.beta / self.sigma**2) * residual * hq_weights(residual, self.sigma)

    def value_and_derivative(self, residual: Tensor) -> tuple[Tensor, Tensor]:
        """(l_sigma(r), dl/dr) from one exponential: a solver's gradient pass needs both."""
        shifted = torch.expm1(-(residual**2) / self.sigma**2)  # exp(-r^2 / sigma^2) - 1, exact near r = 0
        return -self.beta * shifted, self.curvature_bound * residual * (shifted + 1.0)

    def weights(self, residual: Tensor) -> Tensor:
        """Half-quadratic weights of Eq. (13)."""
        return hq_weights(residual, self.sigma)

    @property
    def curvature_bound(self) -> float:
        """L = sup_r d^2l/dr^2 = 2 beta / sigma^2 (attained at r = 0): the loss's derivative is L-Lipschitz."""
        return 2.0 * self.beta / self.sigma**2

    def optimal_intercept(self, y: Tensor) -> float:
        """argmin_b mean l_sigma(y - b) for labels y in {-1, +1}: the intercept of the model with no feature.

        With n_+ and n_- labels of each sign the mean loss is a smooth function of b, minimised on [-1, 1]
        (outside it both residuals grow). It is not convex for small sigma, so a grid of 401 points finds the
        global minimum's bracket and bounded Brent search refines it to machine precision.
        """
        from scipy.optimize import minimize_scalar

        frac_pos = float((y > 0).to(torch.float64).mean())
        sigma2 = self.sigma**2

        def mean_loss(b: float) -> float:  # beta dropped: it does not move the minimiser
            return -(frac_pos * math.expm1(-((1.0 - b) ** 2) / sigma2)
                     + (1.0 - frac_pos) * math.expm1(-((1.0 + b) ** 2) / sigma2))

        grid = [-1.0 + k / 200.0 for k in range(401)]
        best = min(range(len(grid)), key=lambda k: mean_loss(grid[k]))
        low, high = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
        found = minimize_scalar(mean_loss, bounds=(low, high), method="bounded", options={"xatol": 1e-13})
        return float(found.x) if mean_loss(float(found.x)) <= mean_loss(grid[best]) else grid[best]
