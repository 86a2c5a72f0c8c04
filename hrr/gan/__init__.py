"""GAN discriminator regularizers and a small single-image multi-scale GAN.

* Adversarial perturbations of discriminator inputs or embeddings that maximise any loss:
  :class:`FGM` / :func:`fgm` (Tang et al., Eq. 12), :class:`PGD` / :func:`pgd` (Eq. 13), :func:`project`.
* :class:`AdaptiveAdversarial`: Algorithm 1 of Tang et al. (PGD iff W_σ < κ/(2α), else FGM), with
  :class:`SpectralNormEstimator` / :func:`power_iteration` for W_σ.
* :class:`AdaptiveMix` / :func:`adaptivemix_loss`: Liu et al., Eqs. 1-2 (GAN use Eq. 6), :class:`MeanHead`.
* :class:`OrthogonalHead` (Eqs. 7-9), :func:`class_prototypes` and :func:`ood_score` (Eq. 10),
  :func:`lipschitz_ratio` (Table 3).
* :func:`gradient_penalty` (WGAN-GP), :func:`patch_sliced_wasserstein` (patch-distribution distance).
* :class:`SinGAN` / :class:`SinGANConfig`: the multi-scale GAN of Tang et al. §3-4.1 (Eqs. 5-8).
* :func:`preserved_state`: run extra forwards through a module without changing its buffers/modes/flags.

See docs/regularizers.md.
"""

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "preserved_state": "hrr._state",
    "AdaptiveAdversarial": "hrr.gan._adaptive",
    "AdaptiveMix": "hrr.gan._adaptivemix",
    "adaptivemix_loss": "hrr.gan._adaptivemix",
    "lipschitz_ratio": "hrr.gan._lipschitz",
    "gradient_penalty": "hrr.gan._losses",
    "MeanHead": "hrr.gan._orthogonal",
    "OrthogonalHead": "hrr.gan._orthogonal",
    "class_prototypes": "hrr.gan._orthogonal",
    "ood_score": "hrr.gan._orthogonal",
    "patch_sliced_wasserstein": "hrr.gan._patch_distance",
    "FGM": "hrr.gan._perturb",
    "PGD": "hrr.gan._perturb",
    "fgm": "hrr.gan._perturb",
    "pgd": "hrr.gan._perturb",
    "project": "hrr.gan._perturb",
    "PatchDiscriminator": "hrr.gan._singan_nets",
    "ScaleGenerator": "hrr.gan._singan_nets",
    "SinGAN": "hrr.gan._singan",
    "SinGANConfig": "hrr.gan._singan_config",
    "pyramid_shapes": "hrr.gan._singan_nets",
    "SpectralNormEstimator": "hrr.gan._spectral",
    "power_iteration": "hrr.gan._spectral",
    "weight_matrix": "hrr.gan._spectral",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

__all__ = [
    "FGM",
    "PGD",
    "AdaptiveAdversarial",
    "AdaptiveMix",
    "MeanHead",
    "OrthogonalHead",
    "PatchDiscriminator",
    "ScaleGenerator",
    "SinGAN",
    "SinGANConfig",
    "SpectralNormEstimator",
    "adaptivemix_loss",
    "class_prototypes",
    "fgm",
    "gradient_penalty",
    "lipschitz_ratio",
    "ood_score",
    "patch_sliced_wasserstein",
    "pgd",
    "power_iteration",
    "preserved_state",
    "project",
    "pyramid_shapes",
    "weight_matrix",
]

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
    from hrr._state import preserved_state
    from hrr.gan._adaptive import AdaptiveAdversarial
    from hrr.gan._adaptivemix import AdaptiveMix, adaptivemix_loss
    from hrr.gan._lipschitz import lipschitz_ratio
    from hrr.gan._losses import gradient_penalty
    from hrr.gan._orthogonal import MeanHead, OrthogonalHead, class_prototypes, ood_score
    from hrr.gan._patch_distance import patch_sliced_wasserstein
    from hrr.gan._perturb import FGM, PGD, fgm, pgd, project
    from hrr.gan._singan import SinGAN
    from hrr.gan._singan_config import SinGANConfig
    from hrr.gan._singan_nets import PatchDiscriminator, ScaleGenerator, pyramid_shapes
    from hrr.gan._spectral import SpectralNormEstimator, power_iteration, weight_matrix
