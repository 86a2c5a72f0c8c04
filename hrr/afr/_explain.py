"""Explaining a fitted additive model: its design, one component function at a time, and their plots (Eq. 5)."""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from sklearn.utils.validation import check_is_fitted

from hrr.afr._basis import SplineBasis


class AdditiveExplanation:
    """What a fitted ``CorrentropySAM`` shows about itself; mixed into the estimator (needs ``_design``,
    ``coef_``, ``knots_``, ``basis_transform_``, ``basis_offset_``, ``n_features_in_``)."""

    coef_: NDArray[np.float64]
    knots_: NDArray[np.float64]
    basis_transform_: NDArray[np.float64]
    basis_offset_: NDArray[np.float64]
    n_features_in_: int

    if TYPE_CHECKING:  # provided by the estimator the mixin goes into
        def _design(self, X: ArrayLike) -> Any: ...

    def basis_expansion(self, X: ArrayLike) -> NDArray[np.float64]:
        """Phi(X): the (n_samples, n_features * n_basis) design the model is linear in (features major).

        Useful to fit other linear models "on the same basis", e.g. ``LogisticRegression``.
        """
        design = self._design(X)
        return torch.cat([phi for _, phi in design.chunks()]).cpu().to(torch.float64).numpy()

    def _feature_index(self, feature: int | str) -> int:
        check_is_fitted(self)
        if isinstance(feature, str):
            names = list(getattr(self, "feature_names_in_", []))
            if not names:
                raise ValueError(f"feature {feature!r} is a name, but the model was fitted on an array without "
                                 f"column names: pass an index in [0, {self.n_features_in_})")
            if feature not in names:
                shown = ", ".join(map(repr, names[:10])) + (", ..." if len(names) > 10 else "")
                raise ValueError(f"feature {feature!r} is not among the fitted feature names [{shown}]")
            return names.index(feature)
        if not isinstance(feature, numbers.Integral) or not 0 <= feature < self.n_features_in_:
            raise ValueError(f"feature must be an index in [0, {self.n_features_in_}) or a name; got {feature!r}")
        return int(feature)

    def component_function(self, feature: int | str, x: ArrayLike) -> NDArray[np.float64]:
        """f_j(x) (Eq. 5) of one feature (index or name) at the 1-D values ``x``; zero mean on training data."""
        j = self._feature_index(feature)
        try:
            values = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"x must be a 1-D array of finite values; got {x!r} ({error})") from None
        if values.ndim != 1:
            raise ValueError(f"x must be a 1-D array of finite values; got shape {values.shape}")
        if not np.all(np.isfinite(values)):
            bad = np.flatnonzero(~np.isfinite(values))
            raise ValueError(f"x must be a 1-D array of finite values; got {bad.size} non-finite value(s), "
                             f"first at index {int(bad[0])}: {float(values[bad[0]])}")
        single = SplineBasis(
            knots=self.knots_[j : j + 1],
            transform=self.basis_transform_[j : j + 1],
            offset=self.basis_offset_[j : j + 1],
        ).to(torch.device("cpu"), torch.float64)
        psi = single.evaluate(torch.from_numpy(values[:, None].copy()))
        return (psi @ torch.from_numpy(self.coef_[j])).numpy()

    def plot_components(
        self,
        features: list[int | str] | None = None,
        *,
        max_features: int = 12,
        n_points: int = 200,
        n_cols: int = 4,
        X: ArrayLike | None = None,
        feature_names: list[str] | None = None,
    ):  # type: ignore[no-untyped-def]
        """Plot f_j over each feature's training range; returns a matplotlib Figure.

        ``features`` defaults to the selected features, largest ``feature_importances_`` first (at most
        ``max_features``). All panels share one y scale, so a weak component looks weak; the parts beyond the
        training range, where the spline is constant, are shaded. Pass the training ``X`` to draw the data's
        histogram under each curve, and ``feature_names`` (one per feature) to label the panels when X was
        not a DataFrame with column names.

        Raises
        ------
        ValueError
            ``feature_names`` of the wrong length, an unknown feature, or X of the wrong shape.
        """
        from hrr.afr._plotting import plot_components

        return plot_components(self, features, max_features=max_features, n_points=n_points, n_cols=n_cols, X=X,
                               feature_names=feature_names)
