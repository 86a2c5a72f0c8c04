"""Adversarially robust encoders, feature inversion and inversion-based anomaly scores (seed 003).

* :class:`AdversarialTraining` / :func:`train_robust`: PGD-ℓ2 adversarial training (Madry et al.) of any classifier
  with the seed's defaults (ε = 3, 7 steps of 0.5; SGD 0.1 ÷10 every 30 epochs); :func:`robust_accuracy`.
* :class:`LayerEncoder`: F_θ, the output of one named layer of a classifier.
* :class:`FeatureInverter` (Table A4, derived from the shapes), :class:`InversionDiscriminator` (Table A5) and
  :func:`train_inverter` (pixel ℓ1 + feature ℓ2 + optional adversarial loss, the seed's weights).
* :class:`InversionAnomalyScore`: Eq. 8 latent optimisation from Gaussian noise, 100 iterations, learning rate
  0.1 → 0.001 linearly; :func:`auroc`, :func:`one_vs_all_auroc` (Table A1 protocol).

See docs/robust.md.
"""

from hrr.robust._adversarial import AdversarialStep, AdversarialTraining, robust_accuracy, train_robust
from hrr.robust._anomaly import InversionAnomalyScore, InversionResult, auroc, linear_schedule, one_vs_all_auroc
from hrr.robust._encoder import LayerEncoder, feature_shape
from hrr.robust._inverter import (
    FeatureInverter,
    InversionDiscriminator,
    inversion_losses,
    train_inverter,
    upsampling_plan,
)

__all__ = [
    "AdversarialStep",
    "AdversarialTraining",
    "FeatureInverter",
    "InversionAnomalyScore",
    "InversionDiscriminator",
    "InversionResult",
    "LayerEncoder",
    "auroc",
    "feature_shape",
    "inversion_losses",
    "linear_schedule",
    "one_vs_all_auroc",
    "robust_accuracy",
    "train_inverter",
    "train_robust",
    "upsampling_plan",
]
