"""A compact SinGAN-style multi-scale GAN trained on one image (Tang et al., §3-4.1, Eqs. 5-8).

Per scale n (coarsest first) a fully convolutional generator refines the upsampled coarser output,

    x̃_n = (x̃_{n+1})↑ + ψ_n(z_n + (x̃_{n+1})↑)                              (Eqs. 5-6)

and is trained against a patch critic D_n with the WGAN-GP loss plus a reconstruction loss with fixed noise,

    min_G max_D  L_adv(G_n, D_n) + α_rec · ‖G_n(Z_n, (x̃^rec_{n+1})↑) − x_n‖²       (Eqs. 7-8)

with separate learning rates for G and D (TTUR). The discriminator step can be regularised with FGM, PGD or
the adaptive rule of Algorithm 1 (attacks on D's input or on its embedding, the input of its last layer).

Differences from the official SinGAN code (documented choices): 'same' zero padding in every conv (instead of
padding the input once), no BatchNorm in the generators (so a batch of samples is a batch of independent
samples; ConSinGAN does the same), the usual per-sample gradient penalty, Adam(0.5, 0.999) with one decay ×0.1 at
80 % of each scale's iterations.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from hrr._device import resolve_device
from hrr._grad import enables_grad
from hrr._io import atomic_path
from hrr._validate import check_choice, check_int, check_positive
from hrr.gan._adaptive import AdaptiveAdversarial
from hrr.gan._losses import gradient_penalty
from hrr.gan._perturb import FGM, PGD

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


def _block(c_in: int, c_out: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(c_out))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


class ScaleGenerator(nn.Module):
    """G_n: ``x̃ = up + ψ(z + up)`` (Eq. 6), ψ a fully convolutional net with a tanh output."""

    def __init__(self, channels: int, n_layers: int) -> None:
        super().__init__()
        blocks = [_block(3, channels, False)] + [_block(channels, channels, False) for _ in range(n_layers - 2)]
        self.body = nn.Sequential(*blocks)
        self.tail = nn.Conv2d(channels, 3, 3, padding=1)

    def forward(self, z: Tensor, up: Tensor) -> Tensor:
        return up + torch.tanh(self.tail(self.body(z + up)))


class PatchDiscriminator(nn.Module):
    """D_n = J ∘ F: ``features`` (conv blocks) then ``head`` (last conv to a 1-channel critic map)."""

    def __init__(self, channels: int, n_layers: int, batch_norm: bool = True) -> None:
        super().__init__()
        blocks = [_block(3, channels, batch_norm)] + [
            _block(channels, channels, batch_norm) for _ in range(n_layers - 2)
        ]
        self.features = nn.Sequential(*blocks)
        self.head = nn.Conv2d(channels, 1, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


def _to_model_range(image: Any) -> Tensor:
    """(1, 3, H, W) float32 in [-1, 1] from a uint8/float HWC array or a float (3, H, W)/(1, 3, H, W) tensor."""
    if isinstance(image, np.ndarray):
        arr = image
        if arr.ndim != 3 or arr.shape[2] not in (3, 4):
            raise ValueError(f"image array must be H×W×3 (RGB), got shape {arr.shape}")
        arr = arr[..., :3]
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).float()
        if arr.dtype == np.uint8:
            t = t / 255.0
        t = t.unsqueeze(0)
    elif isinstance(image, Tensor):
        t = image.detach().float()
        if t.dim() == 3:
            t = t.unsqueeze(0)
        if t.dim() != 4 or t.shape[0] != 1 or t.shape[1] != 3:
            raise ValueError(f"image tensor must be (3, H, W) or (1, 3, H, W) in [0, 1], "
                             f"got shape {tuple(image.shape)}")
    else:
        raise TypeError(f"image must be a numpy H×W×3 array or a torch tensor (3, H, W), got {type(image).__name__}")
    if float(t.min()) < -1e-6 or float(t.max()) > 1 + 1e-6:
        raise ValueError(f"image values must lie in [0, 1] (uint8 arrays are scaled), got range "
                         f"[{float(t.min()):.3g}, {float(t.max()):.3g}]")
    return t.clamp(0, 1) * 2 - 1


def pyramid_shapes(height: int, width: int, min_size: int, max_size: int, scale_factor: float) -> list[tuple[int, int]]:
    """Scale shapes from coarsest to finest: finest longer side = max_size (never upscaled), coarsest shorter
    side = min_size, with a constant ratio close to ``scale_factor`` between neighbours."""
    top = min(1.0, max_size / max(height, width))
    fh, fw = max(1, round(height * top)), max(1, round(width * top))
    short = min(fh, fw)
    if short < min_size:
        raise ValueError(f"the image is too small: its shorter side at the finest scale is {short} px, below "
                         f"min_size={min_size}")
    n_steps = max(1, round(math.log(min_size / short) / math.log(scale_factor))) if short > min_size else 0
    if n_steps == 0:
        return [(fh, fw)]
    ratio = (min_size / short) ** (1.0 / n_steps)
    shapes = []
    for k in range(n_steps, -1, -1):
        s = ratio**k
        shapes.append((max(1, round(fh * s)), max(1, round(fw * s))))
    return shapes


def _resize(x: Tensor, shape: tuple[int, int]) -> Tensor:
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=shape, mode="bicubic", align_corners=False, antialias=True).clamp(-1, 1)


class SinGAN:
    """Multi-scale single-image GAN (Tang et al., Eqs. 5-8) with optional FGM/PGD/adaptive D regularisation.

    Parameters
    ----------
    config : SinGANConfig or None
        Hyper-parameters; keyword overrides are applied on top (``SinGAN(iters_per_scale=50)``).

    Attributes
    ----------
    shapes : list of (H, W)
        Pyramid, coarsest first (after :meth:`train`).
    generators : nn.ModuleList
        G_n, coarsest first.
    history : list of dict
        Per scale: final D/G losses and, for ``regularizer="adaptive"``, the number of PGD/FGM choices and the
        mean W_σ.

    Examples
    --------
    >>> import skimage.data
    >>> model = SinGAN(max_size=32, min_size=25, iters_per_scale=2, channels=8)
    >>> _ = model.train(skimage.data.astronaut(), seed=0, progress=False)
    >>> model.sample(2, seed=0).shape
    torch.Size([2, 3, 32, 32])
    """

    def __init__(self, config: SinGANConfig | None = None, **overrides: Any) -> None:
        base = SinGANConfig() if config is None else config
        known = {f.name for f in fields(SinGANConfig)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown SinGAN option(s) {sorted(unknown)}; valid: {sorted(known)}")
        self.config = SinGANConfig(**{**asdict(base), **overrides}).validate()
        self.generators = nn.ModuleList()
        self.shapes: list[tuple[int, int]] = []
        self.noise_amps: list[float] = []
        self.z_rec: list[Tensor] = []
        self.reals: list[Tensor] = []
        self.history: list[dict[str, Any]] = []
        self.device = torch.device("cpu")

    # ------------------------------------------------------------------ training
    @enables_grad  # a training run: also under torch.no_grad() / torch.inference_mode()
    def train(
        self,
        image: Any,
        *,
        seed: int = 0,
        progress: bool = True,
        device: str | torch.device = "auto",
    ) -> SinGAN:
        """Train all scales on one image.

        Parameters
        ----------
        image : numpy array (H, W, 3) uint8 / float in [0, 1], or Tensor (3, H, W) / (1, 3, H, W) in [0, 1]
            The training photo, e.g. ``skimage.data.astronaut()``.
        seed : int
            Seeds weight initialisation (via a forked RNG, the global state is restored) and all noise (private
            generator): the same seed on the same machine gives the same model.
        progress : bool
            Show a tqdm bar.
        device : str or torch.device, default "auto"
            ``"auto"``: this process's CUDA device if available, else the CPU.

        Returns
        -------
        SinGAN
            ``self``.

        Notes
        -----
        Autograd is switched on for the whole run, so it also trains when called under ``torch.no_grad()`` or
        ``torch.inference_mode()``; the caller's modes are restored afterwards.
        """
        cfg = self.config
        self.device = resolve_device(device)
        real_full = _to_model_range(image).to(self.device)
        self.shapes = pyramid_shapes(real_full.shape[2], real_full.shape[3], cfg.min_size, cfg.max_size,
                                     cfg.scale_factor)
        self.reals = [_resize(real_full, s) for s in self.shapes]
        self.generators = nn.ModuleList()
        self.noise_amps, self.z_rec, self.history = [], [], []
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        total = len(self.shapes) * cfg.iters_per_scale
        bar = tqdm(total=total, disable=not progress, desc="SinGAN", leave=False)
        prev_d: PatchDiscriminator | None = None
        try:
            for n, shape in enumerate(self.shapes):
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(seed) * 1000 + n)
                    g = ScaleGenerator(cfg.channels, cfg.n_layers).to(self.device)
                    d = PatchDiscriminator(cfg.channels, cfg.n_layers, cfg.d_batch_norm).to(self.device)
                if n > 0:  # warm start from the previous scale (same widths), as SinGAN does
                    g.load_state_dict(self.generators[-1].state_dict())
                    if prev_d is not None:
                        d.load_state_dict(prev_d.state_dict())
                self._train_scale(n, shape, g, d, gen, bar)
                self.generators.append(g.eval().requires_grad_(False))
                prev_d = d
        finally:
            bar.close()
        return self

    def _randn(self, shape: tuple[int, ...], gen: torch.Generator) -> Tensor:
        return torch.randn(shape, generator=gen).to(self.device)

    def _coarse_input(self, n: int, batch: int, gen: torch.Generator | None, rec: bool) -> Tensor:
        """(x̃_{n-1})↑ for scale n: random noise at every coarser scale, or the fixed reconstruction noise."""
        h, w = self.shapes[0]
        x = torch.zeros(batch, 3, h, w, device=self.device)
        with torch.no_grad():
            for k in range(n):
                if rec:
                    z = self.z_rec[k].expand(batch, -1, -1, -1)
                else:
                    assert gen is not None
                    z = self._randn((batch, 3, *self.shapes[k]), gen) * self.noise_amps[k]
                x = self.generators[k](z, x)
                x = _resize(x, self.shapes[k + 1])
        return x

    def _make_attack(self, d: PatchDiscriminator, numel: int) -> Any:
        cfg = self.config
        eps = cfg.adv_eps * math.sqrt(numel)
        step = cfg.adv_step_size * math.sqrt(numel)
        module = d.head if cfg.adv_target == "embedding" else d
        if cfg.regularizer == "fgm":
            return FGM(eps, module=d)
        if cfg.regularizer == "pgd":
            return PGD(eps, step, cfg.adv_steps, module=d)
        if cfg.regularizer == "adaptive":
            kappa = cfg.adv_kappa if cfg.adv_kappa == "auto" else float(cfg.adv_kappa) * math.sqrt(numel)
            return AdaptiveAdversarial(module, eps=eps, step_size=step, steps=cfg.adv_steps,
                                       kappa=kappa)  # type: ignore[arg-type]
        return None

    def _critic(self, d: PatchDiscriminator, x: Tensor, sign: float, attack: Any, attacked: bool) -> Tensor:
        """sign · mean D(x), with x (or D's embedding of x) adversarially perturbed to increase it if asked."""
        if attack is None or not attacked:
            return sign * d(x).mean()
        if self.config.adv_target == "input":
            x_adv = attack(x, lambda t: sign * d(t).mean())
            return sign * d(x_adv).mean()
        h = d.features(x)
        h_adv = attack(h.detach(), lambda t: sign * d.head(t).mean())
        return sign * d.head(h + (h_adv - h.detach())).mean()

    def _train_scale(
        self, n: int, shape: tuple[int, int], g: ScaleGenerator, d: PatchDiscriminator, gen: torch.Generator,
        bar: Any,
    ) -> None:
        cfg = self.config
        real = self.reals[n]
        if n == 0:
            z_rec = self._randn((1, 3, *shape), gen)
            amp = 1.0
        else:
            z_rec = torch.zeros(1, 3, *shape, device=self.device)
            rec_prev = self._coarse_input(n, 1, None, rec=True)
            amp = cfg.noise_amp * float(torch.sqrt(F.mse_loss(rec_prev, real)))
        self.z_rec.append(z_rec)
        self.noise_amps.append(amp)
        rec_in = self._coarse_input(n, 1, None, rec=True)
        opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
        opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
        milestone = [max(1, int(0.8 * cfg.iters_per_scale))]
        sched_d = torch.optim.lr_scheduler.MultiStepLR(opt_d, milestone, gamma=0.1)
        sched_g = torch.optim.lr_scheduler.MultiStepLR(opt_g, milestone, gamma=0.1)
        numel = real[0].numel() if cfg.adv_target == "input" else cfg.channels * shape[0] * shape[1]
        attack = self._make_attack(d, numel)
        on_real = cfg.attack_on in ("both", "real")
        on_fake = cfg.attack_on in ("both", "fake")
        choices = {"pgd": 0, "fgm": 0}
        sigmas: list[float] = []
        loss_d = loss_g = torch.zeros(())
        for _ in range(cfg.iters_per_scale):
            prev = self._coarse_input(n, 1, gen, rec=False)
            for _ in range(cfg.d_steps):
                z = self._randn((1, 3, *shape), gen) * amp
                with torch.no_grad():
                    fake = g(z, prev)
                opt_d.zero_grad(set_to_none=True)
                loss_d = self._critic(d, real, -1.0, attack, on_real)
                if isinstance(attack, AdaptiveAdversarial) and on_real:
                    choices[attack.last_method or "fgm"] += 1
                    sigmas.append(float(attack.last_sigma or 0.0))
                loss_d = loss_d + self._critic(d, fake, 1.0, attack, on_fake)
                if isinstance(attack, AdaptiveAdversarial) and on_fake:
                    choices[attack.last_method or "fgm"] += 1
                    sigmas.append(float(attack.last_sigma or 0.0))
                if cfg.gp_weight > 0:
                    loss_d = loss_d + cfg.gp_weight * gradient_penalty(d, real, fake, generator=gen)
                loss_d.backward()
                opt_d.step()
            for _ in range(cfg.g_steps):
                z = self._randn((1, 3, *shape), gen) * amp
                opt_g.zero_grad(set_to_none=True)
                d.requires_grad_(False)
                adv = -d(g(z, prev)).mean()
                d.requires_grad_(True)
                rec = F.mse_loss(g(z_rec, rec_in), real)
                loss_g = adv + cfg.rec_weight * rec
                loss_g.backward()
                opt_g.step()
            sched_d.step()
            sched_g.step()
            bar.update(1)
        entry: dict[str, Any] = {"scale": n, "shape": shape, "loss_d": float(loss_d.detach()),
                                 "loss_g": float(loss_g.detach()),
                                 "noise_amp": amp}
        if isinstance(attack, AdaptiveAdversarial):
            entry.update(pgd_calls=choices["pgd"], fgm_calls=choices["fgm"],
                         mean_w_sigma=float(np.mean(sigmas)) if sigmas else float("nan"),
                         threshold=attack.last_threshold)
        self.history.append(entry)

    # ------------------------------------------------------------------ sampling
    def _check_trained(self) -> None:
        if not self.generators:
            raise RuntimeError("this SinGAN is not trained; call train(image) or SinGAN.load(path) first")

    @torch.no_grad()
    def sample(self, n: int, *, seed: int | None = 0, generator: torch.Generator | None = None,
               batch_size: int = 16) -> Tensor:
        """Draw ``n`` random images at the finest scale.

        Parameters
        ----------
        n : int
            Number of samples, >= 1.
        seed : int or None
            Seed of a private generator (ignored when ``generator`` is given). Same seed, same images.
        generator : torch.Generator or None
            CPU generator to draw the noise from (advanced; overrides ``seed``).
        batch_size : int
            Samples per forward pass (memory bound only; results do not depend on it).

        Returns
        -------
        Tensor
            (n, 3, H, W) float32 in [0, 1], on the model's device.
        """
        self._check_trained()
        check_int("n", n, minimum=1)
        check_int("batch_size", batch_size, minimum=1)
        if generator is None:
            generator = torch.Generator(device="cpu").manual_seed(0 if seed is None else int(seed))
        # noise for all samples is drawn sample by sample, so the result does not depend on batch_size
        noises = [[torch.randn((1, 3, *s), generator=generator) for s in self.shapes] for _ in range(n)]
        out = []
        for start in range(0, n, batch_size):
            chunk = noises[start:start + batch_size]
            b = len(chunk)
            x = torch.zeros(b, 3, *self.shapes[0], device=self.device)
            for k, shape in enumerate(self.shapes):
                if k > 0:
                    x = _resize(x, shape)
                z = torch.cat([c[k] for c in chunk]).to(self.device) * self.noise_amps[k]
                x = self.generators[k](z, x)
            out.append(x)
        return ((torch.cat(out).clamp(-1, 1) + 1) / 2).float()

    @torch.no_grad()
    def reconstruct(self) -> Tensor:
        """The reconstruction from the fixed noise Z (Eq. 8), (1, 3, H, W) in [0, 1]."""
        self._check_trained()
        x = self._coarse_input(len(self.shapes) - 1, 1, None, rec=True)
        x = self.generators[-1](self.z_rec[-1], x)
        return (x.clamp(-1, 1) + 1) / 2

    def real_image(self, scale: int = -1) -> Tensor:
        """The training image at a pyramid scale, (1, 3, H, W) in [0, 1]."""
        self._check_trained()
        return (self.reals[scale] + 1) / 2

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write generators, noise and pyramid to one ``.safetensors`` file (config in its metadata), atomically."""
        from safetensors.torch import save_file

        self._check_trained()
        tensors: dict[str, Tensor] = {}
        for k, g in enumerate(self.generators):
            for name, value in g.state_dict().items():
                tensors[f"g{k}.{name}"] = value.detach().cpu().contiguous()
            tensors[f"z_rec{k}"] = self.z_rec[k].detach().cpu().contiguous()
            tensors[f"real{k}"] = self.reals[k].detach().cpu().contiguous()
        meta = {"config": json.dumps(asdict(self.config)), "shapes": json.dumps(self.shapes),
                "noise_amps": json.dumps(self.noise_amps), "history": json.dumps(self.history, default=str)}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "auto") -> SinGAN:
        """Load a model written by :meth:`save` (safetensors: no code is executed)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as fh:
            meta = fh.metadata()
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118 - safe_open has no __iter__
        model = cls(SinGANConfig(**json.loads(meta["config"])))
        model.device = resolve_device(device)
        model.shapes = [tuple(s) for s in json.loads(meta["shapes"])]  # type: ignore[misc]
        model.noise_amps = [float(a) for a in json.loads(meta["noise_amps"])]
        model.history = json.loads(meta.get("history", "[]"))
        for k in range(len(model.shapes)):
            g = ScaleGenerator(model.config.channels, model.config.n_layers)
            prefix = f"g{k}."
            g.load_state_dict({n[len(prefix):]: t for n, t in tensors.items() if n.startswith(prefix)})
            model.generators.append(g.to(model.device).eval().requires_grad_(False))
            model.z_rec.append(tensors[f"z_rec{k}"].to(model.device))
            model.reals.append(tensors[f"real{k}"].to(model.device))
        return model
