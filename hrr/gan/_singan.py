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
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from hrr._device import resolve_device
from hrr._grad import enables_grad
from hrr._io import atomic_path
from hrr._training import EpochStats, StepOutput, TrainingLoop, progress_bar
from hrr._validate import check_int, check_real
from hrr.gan._adaptive import AdaptiveAdversarial
from hrr.gan._losses import gradient_penalty
from hrr.gan._perturb import FGM, PGD
from hrr.gan._singan_config import SinGANConfig
from hrr.gan._singan_nets import (
    PatchDiscriminator,
    ScaleGenerator,
    _resize,
    _to_model_range,
    pyramid_shapes,
    sr_step_count,
)


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
        bar = progress_bar(total, "SinGAN", progress)  # one bar over the scales' loops
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

    def _train_scale(
        self, n: int, shape: tuple[int, int], g: ScaleGenerator, d: PatchDiscriminator, gen: torch.Generator,
        bar: Any,
    ) -> None:
        """Scale ``n``: its fixed noise and noise amplitude, then one skeleton run of ``iters_per_scale`` steps."""
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
        numel = real[0].numel() if cfg.adv_target == "input" else cfg.channels * shape[0] * shape[1]
        step = _ScaleStep(self, n, g, d, gen, numel)
        milestone = [max(1, int(0.8 * cfg.iters_per_scale))]
        schedulers = [torch.optim.lr_scheduler.MultiStepLR(opt, milestone, gamma=0.1)
                      for opt in (step.opt_d, step.opt_g)]

        def entry(stats: EpochStats) -> dict[str, Any]:
            row: dict[str, Any] = {"scale": n, "shape": shape, "loss_d": float(stats.values["loss_d"].detach()),
                                   "loss_g": float(stats.values["loss_g"].detach()), "noise_amp": amp}
            if isinstance(step.attack, AdaptiveAdversarial):
                row.update(pgd_calls=step.choices["pgd"], fgm_calls=step.choices["fgm"],
                           mean_w_sigma=float(np.mean(step.sigmas)) if step.sigmas else float("nan"),
                           threshold=step.attack.last_threshold)
            return row

        # The schedule is per iteration (the 80 % milestone), so the schedulers step after every batch.
        self.history += TrainingLoop(step=step, batches=lambda _epoch: range(cfg.iters_per_scale), epochs=1,
                                     end_epoch=entry, metrics={"loss_d": "last", "loss_g": "last"},
                                     schedulers=schedulers, schedule="batch", bar=bar).run()

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

    @torch.no_grad()
    def super_resolve(self, factor: float = 4.0, *, seed: int | None = 0) -> Tensor:
        """Upscale the training image by ``factor`` through the finest generator (Tang et al. §5.4; SinGAN's SR).

        The finest-scale training image is upsampled k times by ``factor**(1/k)``, each time with fresh noise of
        the finest scale's amplitude, and refined by G_N: ``x ← G_N(amp·z + x↑, x↑)``. k is the number of steps
        closest to the pyramid's own ratio (finest / next-finest scale). For super-resolution, train on the
        low-resolution image with a large ``rec_weight`` (the paper: 100) and a pyramid whose ratio is
        ``factor**(1/k)`` (the paper's r = s^(1/k)): the pyramid fits its ratio so the coarsest scale lands on
        ``min_size``, so choose ``min_size`` = H / r^n for some n (for H = 64, ×4 in 5 steps: ``min_size=28``,
        ``scale_factor=4 ** (-1 / 5)``); otherwise the steps differ from the trained ratio.

        Parameters
        ----------
        factor : float
            Upscaling factor, > 1 (the paper: 4).
        seed : int or None
            Seed of the noise (None: 0). Same seed, same image.

        Returns
        -------
        Tensor
            (1, 3, round(H·factor), round(W·factor)) float32 in [0, 1], on the model's device, where (H, W) is the
            finest training scale.

        Raises
        ------
        TypeError
            ``factor`` is not a real number.
        ValueError
            ``factor`` is not finite or not > 1.
        RuntimeError
            The model is not trained.
        """
        self._check_trained()
        factor = check_real("factor", factor, "a real number > 1")
        if not (math.isfinite(factor) and factor > 1):
            raise ValueError(f"factor must be a finite number > 1, got {factor!r}")
        h, w = self.shapes[-1]
        steps = sr_step_count(self.shapes, factor, self.config.scale_factor)
        gen = torch.Generator(device="cpu").manual_seed(0 if seed is None else int(seed))
        x = self.reals[-1]
        for i in range(1, steps + 1):
            shape = (round(h * factor ** (i / steps)), round(w * factor ** (i / steps)))
            x = _resize(x, shape)
            z = torch.randn((1, 3, *shape), generator=gen).to(self.device) * self.noise_amps[-1]
            x = self.generators[-1](z, x)
        return ((x.clamp(-1, 1) + 1) / 2).float()

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


class _ScaleStep:
    """One iteration of a scale (Eqs. 7-8): ``d_steps`` critic updates (WGAN-GP, optionally attacked), then
    ``g_steps`` generator updates (adversarial + reconstruction), all noise from the run's private generator."""

    def __init__(self, model: SinGAN, n: int, g: ScaleGenerator, d: PatchDiscriminator, gen: torch.Generator,
                 numel: int) -> None:
        cfg = model.config
        self.model, self.n, self.g, self.d, self.gen = model, n, g, d, gen
        self.rec_in = model._coarse_input(n, 1, None, rec=True)
        self.opt_d = torch.optim.Adam(d.parameters(), lr=cfg.lr_d, betas=(0.5, 0.999))
        self.opt_g = torch.optim.Adam(g.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
        self.attack = self._make_attack(numel)  # None, FGM, PGD or the adaptive rule, sized for this scale
        self.on_real = cfg.attack_on in ("both", "real")
        self.on_fake = cfg.attack_on in ("both", "fake")
        self.choices = {"pgd": 0, "fgm": 0}  # the adaptive rule's picks and W_sigma values, for the history
        self.sigmas: list[float] = []

    def __call__(self, _iteration: int) -> StepOutput:
        cfg, model = self.model.config, self.model
        shape, real, amp = model.shapes[self.n], model.reals[self.n], model.noise_amps[self.n]
        prev = model._coarse_input(self.n, 1, self.gen, rec=False)
        for _ in range(cfg.d_steps):
            z = model._randn((1, 3, *shape), self.gen) * amp
            with torch.no_grad():
                fake = self.g(z, prev)
            self.opt_d.zero_grad(set_to_none=True)
            loss_d = self._critic(real, -1.0, self.on_real)
            self._record(self.on_real)
            loss_d = loss_d + self._critic(fake, 1.0, self.on_fake)
            self._record(self.on_fake)
            if cfg.gp_weight > 0:
                loss_d = loss_d + cfg.gp_weight * gradient_penalty(self.d, real, fake, generator=self.gen)
            loss_d.backward()
            self.opt_d.step()
        for _ in range(cfg.g_steps):
            z = model._randn((1, 3, *shape), self.gen) * amp
            self.opt_g.zero_grad(set_to_none=True)
            self.d.requires_grad_(False)
            adv = -self.d(self.g(z, prev)).mean()
            self.d.requires_grad_(True)
            rec = F.mse_loss(self.g(model.z_rec[self.n], self.rec_in), real)
            loss_g = adv + cfg.rec_weight * rec
            loss_g.backward()
            self.opt_g.step()
        return StepOutput({"loss_d": loss_d, "loss_g": loss_g})

    def _make_attack(self, numel: int) -> Any:
        cfg, d = self.model.config, self.d
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

    def _critic(self, x: Tensor, sign: float, attacked: bool) -> Tensor:
        """sign · mean D(x), with x (or D's embedding of x) adversarially perturbed to increase it if asked."""
        d, attack = self.d, self.attack
        if attack is None or not attacked:
            return sign * d(x).mean()
        if self.model.config.adv_target == "input":
            x_adv = attack(x, lambda t: sign * d(t).mean())
            return sign * d(x_adv).mean()
        h = d.features(x)
        h_adv = attack(h.detach(), lambda t: sign * d.head(t).mean())
        return sign * d.head(h + (h_adv - h.detach())).mean()

    def _record(self, attacked: bool) -> None:
        if isinstance(self.attack, AdaptiveAdversarial) and attacked:
            self.choices[self.attack.last_method or "fgm"] += 1
            self.sigmas.append(float(self.attack.last_sigma or 0.0))
