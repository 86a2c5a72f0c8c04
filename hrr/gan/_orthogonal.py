"""Heads J for an F/J-split discriminator or classifier, and the AdaptiveMix OOD score (Liu et al., §3.3-3.5).

* :class:`MeanHead` - the averaging operator used as J for WGAN (Eq. 6).
* :class:`OrthogonalHead` - cosine classifier with orthogonally initialised, bias-free weights (Eqs. 7-9).
* :func:`class_prototypes` and :func:`ood_score` - first singular vector per class and the angle score (Eq. 10).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from hrr._validate import check_float_tensor, check_int, check_positive


class MeanHead(nn.Module):
    """J(v) = mean of v over all non-batch dimensions: the WGAN head of AdaptiveMix (Liu et al., Eq. 6).

    Examples
    --------
    >>> MeanHead()(torch.ones(2, 3, 4, 4)).shape
    torch.Size([2])
    """

    def forward(self, v: Tensor) -> Tensor:
        return v.flatten(1).mean(dim=1)


class OrthogonalHead(nn.Module):
    """Orthogonal cosine classifier (Liu et al., Eqs. 7-9).

    ``y_k = w_kᵀ v / (‖w_k‖ ‖v‖)`` (Eq. 7) with no bias and no activation; the rows w_k are initialised
    mutually orthogonal (Eq. 9, ``nn.init.orthogonal_``) and, by default, frozen as in the authors' code so the
    constraint holds throughout training. ``forward`` returns the logits ``scale · y`` for a softmax /
    cross-entropy (Eq. 8 with ``scale = 1``).

    Parameters
    ----------
    in_features : int
        Feature dimension of v = F(x) (flattened), >= num_classes (orthogonality needs it).
    num_classes : int
        n, >= 1.
    frozen : bool
        Keep W fixed (``requires_grad=False``).
    scale : float
        Multiplier of the cosine logits (1 = the paper's Eq. 8).
    generator : torch.Generator or None
        RNG for the orthogonal initialisation.

    Examples
    --------
    >>> head = OrthogonalHead(8, 3)
    >>> w = head.weight
    >>> torch.allclose(w @ w.T, torch.eye(3), atol=1e-5)
    True
    >>> head(torch.randn(5, 8)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        frozen: bool = True,
        scale: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_int("in_features", in_features, minimum=1)
        self.num_classes = check_int("num_classes", num_classes, minimum=1)
        if num_classes > in_features:
            raise ValueError(f"num_classes must be <= in_features for orthogonal rows (Eq. 9), got "
                             f"num_classes={num_classes}, in_features={in_features}")
        self.scale = check_positive("scale", scale)
        weight = torch.empty(num_classes, in_features)
        nn.init.orthogonal_(weight, generator=generator)
        self.weight = nn.Parameter(weight, requires_grad=not frozen)

    def forward(self, v: Tensor) -> Tensor:
        """Cosine logits (Eq. 7) of features v, (B, in_features) or (B, ...) flattened."""
        check_float_tensor("v", v)
        flat = v.flatten(1)
        if flat.shape[1] != self.in_features:
            raise ValueError(f"v must have {self.in_features} features per sample, got shape {tuple(v.shape)}")
        w = nn.functional.normalize(self.weight, dim=1)
        return self.scale * (nn.functional.normalize(flat, dim=1) @ w.t().to(flat.dtype))

    def probabilities(self, v: Tensor) -> Tensor:
        """p_i^k = softmax_k(y_i^k) (Eq. 8)."""
        return torch.softmax(self.forward(v), dim=1)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, scale={self.scale}"


def class_prototypes(features: Tensor, labels: Tensor, num_classes: int | None = None) -> Tensor:
    """v_k*: the first right singular vector of the features assigned to class k (Liu et al., §3.5).

    Parameters
    ----------
    features : Tensor
        (N, D) training features F(x) (flattened if more dims).
    labels : Tensor
        (N,) integer class per row: the predicted class ``argmax ỹ`` in the paper, or the label.
    num_classes : int or None
        Defaults to ``labels.max() + 1``.

    Returns
    -------
    Tensor
        (K, D) unit vectors (sign arbitrary; Eq. 10 uses |·|). A class with no row raises ValueError.

    Examples
    --------
    >>> f = torch.tensor([[2.0, 0.0], [3.0, 0.1], [0.0, 1.0], [0.1, 2.0]])
    >>> class_prototypes(f, torch.tensor([0, 0, 1, 1])).abs().round(decimals=1)
    tensor([[1., 0.],
            [0., 1.]])
    """
    check_float_tensor("features", features)
    flat = features.detach().flatten(1)
    if labels.dim() != 1 or labels.shape[0] != flat.shape[0]:
        raise ValueError(f"labels must be a 1-D tensor of length {flat.shape[0]}, got shape {tuple(labels.shape)}")
    k_total = int(labels.max()) + 1 if num_classes is None else check_int("num_classes", num_classes, minimum=1)
    protos = []
    for k in range(k_total):
        rows = flat[labels == k]
        if rows.shape[0] == 0:
            raise ValueError(f"class {k} has no feature rows; cannot compute its prototype")
        _, _, vh = torch.linalg.svd(rows.double(), full_matrices=False)
        protos.append(vh[0].to(flat.dtype))
    return torch.stack(protos)


def ood_score(features: Tensor, prototypes: Tensor) -> Tensor:
    """φ_t = min_k arccos(|F(x_t)ᵀ v_k*| / ‖F(x_t)‖) (Liu et al., Eq. 10); larger means more out-of-distribution.

    Parameters
    ----------
    features : Tensor
        (N, D) test features (flattened if more dims).
    prototypes : Tensor
        (K, D) class prototypes from :func:`class_prototypes` (normalised here).

    Returns
    -------
    Tensor
        (N,) angles in radians, in [0, π/2].

    Examples
    --------
    >>> protos = torch.eye(2)
    >>> ood_score(torch.tensor([[1.0, 0.0], [1.0, 1.0]]), protos)
    tensor([0.0000, 0.7854])
    """
    check_float_tensor("features", features)
    check_float_tensor("prototypes", prototypes, exact_dim=2)
    flat = features.flatten(1)
    if prototypes.shape[1] != flat.shape[1]:
        raise ValueError(f"prototypes must have {flat.shape[1]} columns to match features, got "
                         f"shape {tuple(prototypes.shape)}")
    v = nn.functional.normalize(prototypes.to(flat.dtype), dim=1)
    cos = (flat @ v.t()).abs() / flat.norm(dim=1, keepdim=True).clamp_min(1e-12)
    angles = torch.arccos(cos.clamp(0.0, 1.0))
    return angles.min(dim=1).values


