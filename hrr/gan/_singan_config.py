"""Hyper-parameters of :class:`hrr.gan.SinGAN` (Tang et al., §4.1), as data: one dataclass, validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from hrr._validate import check_choice, check_int, check_positive

Regularizer = Literal["none", "fgm", "pgd", "adaptive"]


@dataclass
class SinGANConfig:
    """Hyper-parameters of :class:`SinGAN` (defaults: a CPU-friendly small model; the paper uses 25 → 250 px).

    Attributes
    ----------
    min_size, max_size : int
        Shorter side of the coarsest scale and longer side of the finest scale, in pixels.
    scale_factor : float
        Target ratio between consecutive scales (< 1); the number of scales is chosen so the actual ratio is
        as close as possible (the paper keeps it near 3/4).
    channels, n_layers : int
        Width and depth (conv blocks incl. the output conv) of every G_n and D_n.
    iters_per_scale : int
        Optimisation iterations per scale.
    d_steps, g_steps : int
        D and G updates per iteration.
    lr_g, lr_d : float
        TTUR learning rates (Adam, betas (0.5, 0.999)).
    gp_weight : float
        WGAN-GP weight (SinGAN: 0.1).
    rec_weight : float
        α of Eq. 7 (SinGAN: 10).
    noise_amp : float
        Noise amplitude at scale n > 0 relative to the RMSE of the coarser reconstruction.
    regularizer : {"none", "fgm", "pgd", "adaptive"}
        Discriminator-step regularizer (Tang et al. Eqs. 12-13, Algorithm 1).
    adv_eps, adv_step_size : float
        Perturbation radius r and PGD step α as root-mean-square per element: the L2 radius is
        ``adv_eps·√(numel per sample)`` of the attacked tensor.
    adv_steps : int
        PGD steps T.
    adv_kappa : float or "auto"
        κ of the adaptive rule in the same per-element RMS units as ``adv_step_size`` (the absolute κ is
        ``adv_kappa·√(numel)``), so the switching threshold ``κ/(2α) = adv_kappa / (2·adv_step_size)`` does not
        depend on the scale's size. ``"auto"``: the smallest per-sample clean-gradient norm (see
        :class:`AdaptiveAdversarial`).
    adv_target : {"input", "embedding"}
        Attack D's input images or its embedding (the input of its last conv).
    attack_on : {"both", "real", "fake"}
        Which batches of the D step are perturbed.
    d_batch_norm : bool
        BatchNorm in the discriminator blocks (as in the official SinGAN critic).
    """

    min_size: int = 25
    max_size: int = 64
    scale_factor: float = 0.75
    channels: int = 32
    n_layers: int = 5
    iters_per_scale: int = 200
    d_steps: int = 1
    g_steps: int = 1
    lr_g: float = 2.5e-4
    lr_d: float = 5e-4
    gp_weight: float = 0.1
    rec_weight: float = 10.0
    noise_amp: float = 0.1
    regularizer: str = "none"
    adv_eps: float = 0.05
    adv_step_size: float = 0.02
    adv_steps: int = 3
    adv_kappa: float | str = 0.022
    adv_target: str = "input"
    attack_on: str = "both"
    d_batch_norm: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> SinGANConfig:
        check_int("min_size", self.min_size, minimum=8)
        check_int("max_size", self.max_size, minimum=self.min_size)
        check_positive("scale_factor", self.scale_factor)
        if not self.scale_factor < 1:
            raise ValueError(f"scale_factor must be in (0, 1), got {self.scale_factor!r}")
        check_int("channels", self.channels, minimum=1)
        check_int("n_layers", self.n_layers, minimum=2)
        check_int("iters_per_scale", self.iters_per_scale, minimum=1)
        check_int("d_steps", self.d_steps, minimum=1)
        check_int("g_steps", self.g_steps, minimum=1)
        for name in ("lr_g", "lr_d", "adv_eps", "adv_step_size"):
            check_positive(name, getattr(self, name))
        for name in ("gp_weight", "rec_weight", "noise_amp"):
            check_positive(name, getattr(self, name), allow_zero=True)
        check_choice("regularizer", self.regularizer, ("none", "fgm", "pgd", "adaptive"))
        check_int("adv_steps", self.adv_steps, minimum=1)
        if self.adv_kappa != "auto":
            check_positive("adv_kappa", self.adv_kappa)
        check_choice("adv_target", self.adv_target, ("input", "embedding"))
        check_choice("attack_on", self.attack_on, ("both", "real", "fake"))
        return self
