"""One fitting problem of Eq. (9): validated labels as -1 / +1, the spline basis and the design on the device.

Shared by :class:`~hrr.CorrentropySAM`, the regularisation path and :class:`~hrr.afr.CorrentropySAMCV`, so the
three read data the same way. Also the exact ``lambda_max``: the smallest lambda at which the model with no
feature (theta = 0, the intercept at its optimum) satisfies the optimality conditions of Eq. (9).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from hrr._memory import pin_mmap_threshold
from hrr.afr._basis import SplineBasis, fit_spline_basis_and_raw, transform_raw
from hrr.afr._closs import CLoss
from hrr.afr._design import CACHE_BYTES, AdditiveDesign, auto_chunk_rows, gradient_pass
from hrr.afr._penalties import GroupL2Penalty, L1Penalty


def binary_target(y: NDArray[Any]) -> tuple[NDArray[Any], NDArray[np.intp]]:
    """(classes, index of each label in classes) for a validated y with exactly two classes, else ValueError."""
    from sklearn.utils.multiclass import check_classification_targets, type_of_target

    check_classification_targets(y)
    y_type = type_of_target(y, input_name="y", raise_unknown=True)
    classes, y_index = np.unique(y, return_inverse=True)
    if y_type != "binary":
        raise ValueError(
            f"Only binary classification is supported. The type of the target is {y_type}; "
            f"y has {len(classes)} classes."
        )
    if len(classes) != 2:
        raise ValueError(f"y must contain samples of 2 classes; got 1 class: {classes.tolist()!r}")
    return classes, y_index


def as_tensor(X: np.ndarray, device: torch.device, dtype: torch.dtype) -> Tensor:
    """Zero-copy on CPU when the dtype already matches and the array is writeable (torch needs that)."""
    if not X.flags.writeable:
        X = np.array(X)
    return torch.from_numpy(np.ascontiguousarray(X)).to(device=device, dtype=dtype)


@dataclass
class Problem:
    """The design of the training rows and the labels as -1.0 / +1.0 tensors on the fitting device."""

    design: AdditiveDesign
    y: Tensor
    basis: SplineBasis

    @classmethod
    def build(cls, X: np.ndarray, y_index: NDArray[np.intp], *, n_basis: int, chunk_size: int | None,
              linear_solver: str, device: torch.device, dtype: torch.dtype) -> Problem:
        """Fit the basis on the validated training matrix ``X`` (n, p) and lay out its design."""
        n, p = X.shape
        itemsize = torch.finfo(dtype).bits // 8
        chunk_rows = chunk_size or auto_chunk_rows(p * n_basis, itemsize)
        x_t = as_tensor(X, device, dtype)
        cache = n * p * n_basis * itemsize <= CACHE_BYTES or linear_solver == "woodbury"
        # A cached design reuses the basis fit's raw spline values (one evaluation instead of two) when they fit.
        keep_raw = cache and n * p * max(n_basis + 1, 4) * 8 <= CACHE_BYTES
        basis, raw = fit_spline_basis_and_raw(x_t, n_basis, chunk_rows, keep_raw=keep_raw)
        if not cache:
            pin_mmap_threshold()  # streaming: make freed chunk buffers go back to the OS
        dense = transform_raw(raw, basis, dtype) if raw is not None else None
        design = AdditiveDesign(x_t, basis.to(device, dtype), chunk_rows, cache=cache, dense=dense)
        y_t = torch.as_tensor(2.0 * y_index - 1.0, device=device, dtype=dtype)
        return cls(design, y_t, basis)

    def null_model(self, datafit: CLoss, penalty: GroupL2Penalty | L1Penalty) -> tuple[float, float]:
        """(lambda_max, intercept) of the model with no feature.

        theta = 0 with the optimal intercept b* is stationary for Eq. (9) exactly when lambda is at least the
        dual norm of the loss gradient there: max_j ||g_j||_2 for the group penalty, max |g| for l1.
        """
        intercept = datafit.optimal_intercept(self.y)
        zero = torch.zeros(self.design.n_columns, dtype=self.y.dtype, device=self.y.device)
        _, grad, _ = gradient_pass(self.design, self.y, zero, intercept, datafit)
        grad = grad.reshape(self.design.n_features, self.design.n_basis)
        if isinstance(penalty, GroupL2Penalty):
            lam_max = float(torch.linalg.vector_norm(grad, dim=1).max())
        else:
            lam_max = float(grad.abs().max())
        return lam_max, intercept
