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

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "AdversarialStep": "hrr.robust._adversarial",
    "AdversarialTraining": "hrr.robust._adversarial",
    "robust_accuracy": "hrr.robust._adversarial",
    "train_robust": "hrr.robust._adversarial",
    "InversionAnomalyScore": "hrr.robust._anomaly",
    "InversionResult": "hrr.robust._anomaly",
    "auroc": "hrr.robust._anomaly",
    "linear_schedule": "hrr.robust._anomaly",
    "one_vs_all_auroc": "hrr.robust._anomaly",
    "LayerEncoder": "hrr.robust._encoder",
    "feature_shape": "hrr.robust._encoder",
    "FeatureInverter": "hrr.robust._inverter",
    "InversionDiscriminator": "hrr.robust._inverter",
    "inversion_losses": "hrr.robust._inverter",
    "train_inverter": "hrr.robust._inverter",
    "upsampling_plan": "hrr.robust._inverter",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

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

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
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
