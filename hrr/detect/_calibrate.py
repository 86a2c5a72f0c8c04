"""Calibrated "probability of generated": Platt scaling of a detector's score on held-out images.

A network trained with cross-entropy (and the KL term) to zero training loss has large training margins whatever
it does on new images, so the sigmoid of its logit is overconfident; a detector at chance would still answer 0
and 1. The map from score to probability is therefore fitted on images the detector never trained on (the
validation split), as scikit-learn's ``CalibratedClassifierCV(cv="prefit")`` does with Platt's sigmoid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["PlattScaling"]

_MIN_SLOPE = 1e-6  # > 0: probabilities stay strictly increasing in the score, so AP and ROC-AUC are unchanged


class PlattScaling:
    """P(generated) = sigmoid(a * score + b) with a > 0, fitted by maximum likelihood on held-out scores.

    Platt (1999): the 0 / 1 targets are smoothed to ``1 / (n_real + 2)`` and ``(n_fake + 1) / (n_fake + 2)``, so a
    perfectly separated calibration set gives a finite slope, not a certainty. The slope is kept at or above 1e-6:
    scores that carry no information (or point the wrong way) give a ~ 0 and probabilities near the calibration
    set's share of generated images, and the probability stays strictly increasing in the score, so rankings
    (AP, ROC-AUC) never change.

    Attributes
    ----------
    slope_, intercept_ : float
        ``a`` and ``b``.
    n_samples_ : int
        Size of the calibration set.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> scores = rng.normal(size=4000)
    >>> labels = (rng.random(4000) < 1 / (1 + np.exp(-(2 * scores + 0.5)))).astype(int)
    >>> cal = PlattScaling().fit(scores, labels)
    >>> round(cal.slope_, 1), round(cal.intercept_, 1)
    (2.0, 0.5)
    """

    def fit(self, scores: ArrayLike, labels: ArrayLike) -> PlattScaling:
        """Fit ``a`` and ``b`` on held-out ``scores`` (n,) (logits or any increasing score) and 0 / 1 ``labels`` (n,).

        Raises
        ------
        ValueError
            ``scores`` and ``labels`` differ in length, are empty, hold non-finite scores, labels other than 0 and
            1, or a single class.
        """
        s = np.asarray(scores, dtype=np.float64)
        y = np.asarray(labels)
        if s.ndim != 1 or y.ndim != 1:
            raise ValueError(f"scores and labels must be 1-D arrays (n,); got shapes {s.shape} and {y.shape}")
        if s.shape != y.shape or s.size == 0:
            raise ValueError(f"scores and labels must be non-empty and of equal length; got {s.size} scores and "
                             f"{y.size} labels")
        if not np.isfinite(s).all():
            raise ValueError("scores must be finite; got NaN or infinite values")
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"labels must be 0 (real) or 1 (generated); got values {sorted(set(y.tolist()))[:5]}")
        n_fake = int(y.sum())
        n_real = y.size - n_fake
        if n_fake == 0 or n_real == 0:
            raise ValueError(f"calibration needs real and generated images; got {n_real} real and {n_fake} generated")
        target = np.where(y == 1, (n_fake + 1.0) / (n_fake + 2.0), 1.0 / (n_real + 2.0))
        a, b = self._newton(s, target)
        if a < _MIN_SLOPE:  # the constrained optimum sits on the boundary: refit b alone at the smallest slope
            a = _MIN_SLOPE
            b = self._intercept_only(a * s, target)
        self.slope_, self.intercept_, self.n_samples_ = float(a), float(b), int(s.size)
        return self

    @staticmethod
    def _newton(s: NDArray[np.float64], t: NDArray[np.float64]) -> tuple[float, float]:
        """Unconstrained Newton with step halving on the (convex) cross-entropy in (a, b)."""
        theta = np.array([0.0, math.log((t.sum() + 1e-12) / (t.size - t.sum() + 1e-12))])
        design = np.stack([s, np.ones_like(s)], axis=1)

        def loss(th: NDArray[np.float64]) -> float:
            z = design @ th
            return float(np.sum(np.logaddexp(0.0, z) - t * z))

        current = loss(theta)
        for _ in range(100):
            p = 0.5 * (1.0 + np.tanh(0.5 * (design @ theta)))
            grad = design.T @ (p - t)
            hess = design.T @ (design * (p * (1.0 - p))[:, None]) + 1e-12 * np.eye(2)
            step = np.linalg.solve(hess, grad)
            scale = 1.0
            while scale > 1e-8:
                trial = theta - scale * step
                value = loss(trial)
                if value <= current:
                    break
                scale *= 0.5
            else:
                break
            converged = abs(current - value) <= 1e-12 * max(1.0, abs(current))
            theta, current = trial, value
            if converged:
                break
        return float(theta[0]), float(theta[1])

    @staticmethod
    def _intercept_only(offset: NDArray[np.float64], t: NDArray[np.float64]) -> float:
        b = 0.0
        for _ in range(100):
            p = 0.5 * (1.0 + np.tanh(0.5 * (offset + b)))
            hess = float(np.sum(p * (1.0 - p))) + 1e-12
            step = float(np.sum(p - t)) / hess
            b -= step
            if abs(step) < 1e-12:
                break
        return b

    def transform(self, scores: ArrayLike) -> NDArray[np.float64]:
        """Probabilities (n,) in (0, 1) of scores (n,) (a scalar counts as one score).

        Raises
        ------
        RuntimeError
            Not fitted yet.
        ValueError
            ``scores`` is not 1-D or holds NaN or infinite values.
        """
        if not hasattr(self, "slope_"):
            raise RuntimeError("this PlattScaling is not fitted yet; call fit(scores, labels) first")
        s = np.atleast_1d(np.asarray(scores, dtype=np.float64))
        if s.ndim != 1:
            raise ValueError(f"scores must be a 1-D array (n,); got shape {s.shape}")
        if not np.isfinite(s).all():
            raise ValueError(f"scores must be finite; got {int((~np.isfinite(s)).sum())} NaN or infinite values")
        z = self.slope_ * s + self.intercept_
        return 0.5 * (1.0 + np.tanh(0.5 * z))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"method", "slope", "intercept", "n_samples"}``."""
        return {"method": "platt", "slope": self.slope_, "intercept": self.intercept_, "n_samples": self.n_samples_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PlattScaling:
        """Inverse of :meth:`to_dict`; raises ValueError naming what is missing or wrong."""
        if not isinstance(data, dict) or data.get("method") != "platt":
            raise ValueError(f"calibration must be a dict with method 'platt'; got {data!r}")
        try:
            slope, intercept, n = float(data["slope"]), float(data["intercept"]), int(data["n_samples"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"calibration needs numeric slope, intercept and n_samples; got {data!r}") from exc
        if not (math.isfinite(slope) and math.isfinite(intercept)) or slope <= 0:
            raise ValueError(f"calibration slope must be finite and > 0 and the intercept finite; got {data!r}")
        out = cls()
        out.slope_, out.intercept_, out.n_samples_ = slope, intercept, n
        return out

    def __repr__(self) -> str:
        if not hasattr(self, "slope_"):
            return "PlattScaling()"
        return f"PlattScaling(slope={self.slope_:.4g}, intercept={self.intercept_:.4g}, n={self.n_samples_})"
