"""KL separation between real and generated feature distributions (HRR paper, Sec. III-A, Eq. 4 and the loss
``L = L_ce + gamma * L_kl`` of Sec. III-C).

The paper states the goal as *increasing* D(P||Q) between the distribution P of real images and Q of generated
images, but writes the loss as D(P||Q) itself, whose minimisation would pull the two together. We implement the stated
intent with a term that decreases as the divergence grows and is bounded below, so training cannot diverge by
inflating feature norms. See ``docs/detector.md`` ("KL separation: the choice") for the alternatives and measurements.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from hrr.detect._config import KL_FORMS

SeparationForm = Literal["exp", "inverse", "hinge"]


def _check_features_labels(features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(features, torch.Tensor) or not features.is_floating_point():
        raise TypeError(f"features must be a floating-point torch.Tensor of shape (B, D); got {type(features).__name__}"
                        + (f" of dtype {features.dtype}" if isinstance(features, torch.Tensor) else ""))
    if features.ndim == 1:
        features = features[:, None]
    if features.ndim != 2:
        raise ValueError(f"features must have shape (B, D) or (B,); got shape {tuple(features.shape)}")
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"labels must be a torch.Tensor of 0 (real) / 1 (generated) with shape (B,); "
                        f"got {type(labels).__name__}")
    labels = labels.reshape(-1)
    if labels.shape[0] != features.shape[0]:
        raise ValueError(f"labels must have one entry per row of features ({features.shape[0]}); "
                         f"got {labels.shape[0]}")
    if labels.numel() and not bool(((labels == 0) | (labels == 1)).all()):
        raise ValueError("labels must contain only 0 (real) and 1 (generated); "
                         f"got values {torch.unique(labels).tolist()[:6]}")
    return features, labels


def batch_distributions(features: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0
                        ) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The batch estimates of P (real) and Q (generated) over feature coordinates.

    Each row of ``features`` is turned into a categorical distribution ``softmax(z / T)``; P and Q are the mixtures
    (means) of those distributions over the real and the generated rows. A single logit per row (D = 1) is treated
    as the Bernoulli pair ``(1 - sigmoid(z/T), sigmoid(z/T))``.

    Returns ``None`` when the batch does not hold both classes.
    """
    features, labels = _check_features_labels(features, labels)
    if features.shape[1] == 1:
        features = torch.cat([torch.zeros_like(features), features], dim=1)
    real, fake = labels == 0, labels == 1
    if not bool(real.any()) or not bool(fake.any()):
        return None
    # softmax in float32 at least: under fp16 autocast the mixture of tiny probabilities underflows.
    work = features if features.dtype in (torch.float32, torch.float64) else features.float()
    probs = F.softmax(work / temperature, dim=1)
    return probs[real].mean(0), probs[fake].mean(0)


def kl_divergence(p: torch.Tensor, q: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``D(P||Q) = sum_x P(x) log(P(x) / Q(x))`` (Eq. 4), with ``eps`` guarding the logarithms."""
    return (p * (torch.log(p + eps) - torch.log(q + eps))).sum()


class KLSeparationLoss(nn.Module):
    """Separation term built on Eq. 4 of the HRR paper: minimising it *increases* KL(P||Q).

    P and Q are the batch distributions of real and generated samples (see :func:`batch_distributions`).
    With ``d = D(P||Q)`` (or ``(D(P||Q) + D(Q||P)) / 2`` when ``symmetric``), the loss is

    * ``"exp"`` (default): ``exp(-d)`` in (0, 1];
    * ``"inverse"``: ``1 / (1 + d)`` in (0, 1];
    * ``"hinge"``: ``max(0, margin - d)`` in [0, margin].

    All three are bounded below and decreasing in ``d``, so the optimum separates the distributions without
    rewarding unbounded feature growth. A batch holding only one class carries no information about P versus Q:
    the loss is then exactly zero but stays connected to the graph (so DDP sees every parameter used).

    Parameters
    ----------
    temperature : float, default=1.0
        Softmax temperature T applied to features before forming P and Q.
    symmetric : bool, default=False
        Use the symmetrised (Jeffreys) divergence ``(KL(P||Q) + KL(Q||P)) / 2``.
    form : {"exp", "inverse", "hinge"}, default="exp"
        How the divergence is turned into a bounded loss.
    margin : float, default=1.0
        Target divergence for ``form="hinge"``.
    eps : float, default=1e-8
        Guard inside the logarithms.

    Examples
    --------
    >>> import torch
    >>> loss = KLSeparationLoss()
    >>> feats = torch.randn(8, 16, requires_grad=True)
    >>> labels = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    >>> value = loss(feats, labels)
    >>> bool(0 < value <= 1)
    True
    """

    def __init__(self, temperature: float = 1.0, *, symmetric: bool = False, form: SeparationForm = "exp",
                 margin: float = 1.0, eps: float = 1e-8) -> None:
        super().__init__()
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            raise ValueError(f"temperature must be a positive number; got {temperature!r}")
        if form not in KL_FORMS:
            raise ValueError(f"form must be one of {KL_FORMS}; got {form!r}")
        if not (isinstance(margin, (int, float)) and margin > 0):
            raise ValueError(f"margin must be a positive number; got {margin!r}")
        if not (isinstance(eps, (int, float)) and eps > 0):
            raise ValueError(f"eps must be a positive number; got {eps!r}")
        self.temperature = float(temperature)
        self.symmetric = bool(symmetric)
        self.form = form
        self.margin = float(margin)
        self.eps = float(eps)

    def divergence(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
        """The (symmetrised) KL divergence between the batch's real and generated distributions, or ``None`` when
        the batch holds one class only. Useful for logging."""
        pq = batch_distributions(features, labels, self.temperature)
        if pq is None:
            return None
        p, q = pq
        d = kl_divergence(p, q, self.eps)
        if self.symmetric:
            d = 0.5 * (d + kl_divergence(q, p, self.eps))
        return d

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Separation loss for a batch.

        Parameters
        ----------
        features : torch.Tensor of shape (B, D) or (B,)
            Backbone features (or logits) of the batch, any floating dtype and device.
        labels : torch.Tensor of shape (B,)
            0 for real, 1 for generated (MSR pseudo-fakes count as generated).

        Returns
        -------
        torch.Tensor
            Scalar float32 loss.
        """
        d = self.divergence(features, labels)
        if d is None:
            return features.float().sum() * 0.0
        d = d.float() if d.dtype != torch.float64 else d
        if self.form == "exp":
            return torch.exp(-d)
        if self.form == "inverse":
            return 1.0 / (1.0 + d)
        return torch.clamp(self.margin - d, min=0.0)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, symmetric={self.symmetric}, form={self.form!r}"


class HRRLoss(nn.Module):
    """The HRR training objective ``L = L_ce + gamma * L_kl`` (Sec. III-C), ``gamma = 0.8`` as in the paper.

    ``L_ce`` is binary cross-entropy on the detector's logit (label 1 = generated); ``L_kl`` is
    :class:`KLSeparationLoss` on the backbone features.

    Parameters
    ----------
    gamma : float, default=0.8
        Weight of the separation term (0 disables it).
    separation : KLSeparationLoss, optional
        The separation term; defaults to ``KLSeparationLoss()``.

    Examples
    --------
    >>> import torch
    >>> criterion = HRRLoss()
    >>> logits, feats = torch.randn(4), torch.randn(4, 8)
    >>> total, parts = criterion(logits, feats, torch.tensor([0, 1, 0, 1]))
    >>> sorted(parts)
    ['ce', 'kl']
    """

    def __init__(self, gamma: float = 0.8, separation: KLSeparationLoss | None = None) -> None:
        super().__init__()
        if not (isinstance(gamma, (int, float)) and gamma >= 0):
            raise ValueError(f"gamma must be a non-negative number; got {gamma!r}")
        self.gamma = float(gamma)
        self.separation = separation if separation is not None else KLSeparationLoss()

    def forward(self, logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, float]]:
        """Return the total loss and its detached parts ``{"ce": ..., "kl": ...}`` for logging."""
        logits = logits.reshape(-1)
        features, labels = _check_features_labels(features, labels)
        if logits.shape[0] != labels.shape[0]:
            raise ValueError(f"logits must have one entry per label ({labels.shape[0]}); got {logits.shape[0]}")
        ce = F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        kl = self.separation(features, labels) if self.gamma > 0 else logits.float().sum() * 0.0
        return ce + self.gamma * kl, {"ce": float(ce.detach()), "kl": float(kl.detach())}
