"""Built-in image generators of the demo benchmark, each trained on the fly on the CPU.

They stand in for the generator families of the paper's test sets, which cannot be downloaded here:

* ``"tconv"`` — an autoencoder whose decoder up-samples with transposed convolutions: the AutoGAN simulator of GAN
  up-sampling artifacts (Zhang et al., WIFS 2019), the training generator of the demo (ProGAN's role);
* ``"upconv"`` — the same encoder with a nearest-neighbour-up-sampling + convolution decoder (a different
  up-sampling family, as in StyleGAN-like models);
* ``"singan"`` — the multi-scale single-image GAN of :mod:`hrr.gan` (Tang et al. Eqs. 5-8);
* ``"vae"`` — a latent-diffusion-style ``diffusers.AutoencoderKL`` round trip (the decoder of an LDM);
* ``"ddpm"`` and ``"ddpm-i2i"`` — samples and img2img reconstructions of a small pixel-space DDPM
  (:mod:`hrr.demo._diffusion`), the diffusion family.

Every generator maps float images ``(B, 3, H, W)`` in [0, 1] (or noise, for SinGAN) to images of the same size in
[0, 1], and is deterministic under its seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from hrr.demo._threads import torch_threads

GENERATORS: tuple[str, ...] = ("tconv", "upconv", "singan", "vae", "ddpm", "ddpm-i2i")


class _ConvAutoencoder(nn.Module):
    """Encoder: two stride-2 convolutions (x1/4). Decoder: two x2 up-sampling stages of the chosen family."""

    def __init__(self, family: str, width: int = 16) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        )
        if family == "tconv":
            up: list[nn.Module] = [
                nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
                nn.ConvTranspose2d(width, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            ]
        elif family == "upconv":
            up = [
                nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * width, width, 3, padding=1),
                nn.LeakyReLU(0.2),
                nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2),
            ]
        else:
            raise ValueError(f"family must be 'tconv' or 'upconv'; got {family!r}")
        self.decoder = nn.Sequential(*up, nn.Conv2d(width, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _tiny_vae() -> nn.Module:
    from diffusers import AutoencoderKL

    # Latent factor 4 and its own widths: a different decoder (fingerprint) from the MSR demo's VAE.
    return AutoencoderKL(
        block_out_channels=(8, 16, 16),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 3,
        up_block_types=["UpDecoderBlock2D"] * 3,
        mid_block_add_attention=False,
    )


def _vae_forward(vae: nn.Module, x: torch.Tensor) -> torch.Tensor:
    latents = vae.encode(x * 2 - 1).latent_dist.mode()  # type: ignore[operator]
    return (vae.decode(latents).sample + 1) / 2  # type: ignore[operator]


def _fit(model: nn.Module, forward: Callable[[nn.Module, torch.Tensor], torch.Tensor], patches: torch.Tensor, *,
         steps: int, batch: int, lr: float, seed: int, progress: bool, desc: str, threads: int = 1) -> nn.Module:
    """L1 reconstruction training with Adam and a one-cycle schedule, on ``threads`` torch threads (the small
    autoencoders gain nothing from a second one, and a busy CPU makes spinning OpenMP threads far slower; the VAE
    trains 1.5x faster on two)."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    with torch_threads(threads):
        model.train()
        for _ in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
            idx = torch.randint(0, patches.shape[0], (batch,), generator=gen)
            x = patches[idx]
            loss = F.l1_loss(forward(model, x), x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def train_reconstructor(kind: str, patches: np.ndarray, *, steps: int, seed: int, progress: bool = True,
                        threads: int | None = None) -> nn.Module:
    """Train the ``"tconv"``, ``"upconv"`` or ``"vae"`` generator on real patches ``(N, H, W, 3)`` float32 [0, 1].

    ``threads``: torch threads while training (the caller's setting is restored); by default one for the
    autoencoders and the caller's for the VAE. The weights depend on it (reduction order), not on the process.
    Raises ValueError for another ``kind`` or for ``patches`` of another shape.
    """
    if not (isinstance(patches, np.ndarray) and patches.ndim == 4 and patches.shape[3] == 3 and len(patches)):
        raise ValueError(f"patches must be a non-empty (N, H, W, 3) float array in [0, 1]; got "
                         f"{getattr(patches, 'shape', type(patches).__name__)}")
    x = torch.from_numpy(np.ascontiguousarray(patches.transpose(0, 3, 1, 2)))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if kind in ("tconv", "upconv"):
            model: nn.Module = _ConvAutoencoder(kind)
            return _fit(model, lambda m, t: m(t), x, steps=steps, batch=16, lr=3e-3, seed=seed, progress=progress,
                        desc=f"train {kind}", threads=threads or 1)
        if kind == "vae":
            return _fit(_tiny_vae(), _vae_forward, x, steps=steps, batch=16, lr=5e-3, seed=seed, progress=progress,
                        desc="train vae", threads=threads or torch.get_num_threads())
    raise ValueError(f"kind must be one of 'tconv', 'upconv', 'vae'; got {kind!r}")


@torch.no_grad()
def reconstruct(model: nn.Module, patches: np.ndarray, batch: int = 64) -> np.ndarray:
    """Pass real patches ``(N, H, W, 3)`` through a trained reconstructor: content-aligned fakes, same size."""
    is_vae = not isinstance(model, _ConvAutoencoder)
    out = []
    for start in range(0, len(patches), batch):
        x = torch.from_numpy(np.ascontiguousarray(patches[start:start + batch].transpose(0, 3, 1, 2)))
        y = _vae_forward(model, x) if is_vae else model(x)
        out.append(y.clamp(0, 1).permute(0, 2, 3, 1).numpy())
    return np.concatenate(out).astype(np.float32)


def singan_counts(n: int, photos: int) -> list[int]:
    """How many of ``n`` SinGAN fakes each of ``photos`` photos contributes (the first ones take the remainder)."""
    return [n // photos + (i < n % photos) for i in range(photos)]


def singan_samples(photo: np.ndarray, count: int, size: int, *, iters: int, seed: int, progress: bool = True
                   ) -> np.ndarray:
    """``count`` samples ``(count, h, w, 3)`` float32 in [0, 1] of one SinGAN trained on ``photo`` (HxWx3 float in
    [0, 1]) for ``size``-pixel crops; trained and sampled on one torch thread (the caller's setting is restored), so
    the result is the same in any process."""
    from hrr.gan import SinGAN

    with torch_threads(1):
        model = SinGAN(max_size=2 * size, min_size=max(16, size // 3), iters_per_scale=iters, channels=16)
        model.train(photo, seed=seed, progress=progress)
        samples = model.sample(count, seed=seed + 100).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return samples.astype(np.float32)


def singan_fakes(photos: list[np.ndarray], n: int, size: int, *, iters: int, seed: int, progress: bool = True,
                 samples: list[np.ndarray] | None = None) -> np.ndarray:
    """``n`` random ``size`` x ``size`` crops of samples from one SinGAN per photo (photos HxWx3 float [0, 1]).

    ``samples``: each photo's :func:`singan_samples` (photo ``i`` with seed ``seed + i``) when already computed,
    e.g. in a worker process; computed here otherwise.
    """
    rng = np.random.default_rng(seed)
    counts = singan_counts(n, len(photos))
    if samples is None:
        samples = [singan_samples(photo, count, size, iters=iters, seed=seed + i, progress=progress)
                   for i, (photo, count) in enumerate(zip(photos, counts, strict=True))]
    out: list[np.ndarray] = []
    for per_photo in samples:
        for s in per_photo:
            y = int(rng.integers(0, s.shape[0] - size + 1))
            x = int(rng.integers(0, s.shape[1] - size + 1))
            out.append(s[y:y + size, x:x + size])
    return np.stack(out).astype(np.float32)


_JOB_KINDS = ("tconv", "upconv", "vae", "ddpm", "singan")  # trainings that run on one torch thread as jobs


def _run_job(key: Any, kind: str, kwargs: dict[str, Any]) -> Any:
    try:
        if kind == "singan":
            return singan_samples(**kwargs)
        if kind == "ddpm":
            from hrr.demo._diffusion import train_ddpm

            return train_ddpm(**kwargs, threads=1)
        return train_reconstructor(kind, **kwargs, threads=1)
    except Exception as err:
        if hasattr(err, "add_note"):  # Python >= 3.11; the note travels back from a worker with the error
            err.add_note(f"in the generator job {key!r} ({kind})")
        raise


def run_one_thread_jobs(jobs: dict[Any, tuple[str, dict[str, Any]]], *, workers: int, progress: bool = True
                        ) -> dict[Any, Any]:
    """Run generator trainings on one torch thread each, ``workers`` at a time in fresh processes.

    ``jobs`` maps a key to ``("tconv" | "upconv" | "vae", train_reconstructor kwargs)``, ``("ddpm", train_ddpm
    kwargs)`` or ``("singan", singan_samples kwargs)`` (without ``progress`` and ``threads``); returns each key's
    trained model (a DDPMPipeline for "ddpm") or samples, in the order of ``jobs``. Every job trains on one thread:
    these small networks gain at most 1.6x from a second one (the DDPM 1.47x, the VAE 1.58x, the autoencoders
    nothing), so on a machine with as many cores as torch threads ``workers = torch.get_num_threads()`` jobs at once
    get more done. Their results equal an in-process run on one thread bit for bit (seeded draws only).
    ``workers <= 1`` runs them here, in order, with ``progress`` bars; in worker processes there are none (one bar
    counts finished jobs). A failing job raises its own error here, with a note naming its key.
    """
    for key, job in jobs.items():
        if not (isinstance(job, tuple) and len(job) == 2 and job[0] in _JOB_KINDS and isinstance(job[1], dict)):
            raise ValueError(f"jobs[{key!r}] must be (kind, kwargs) with kind one of {_JOB_KINDS}; got {job!r:.200}")
    if workers <= 1 or len(jobs) <= 1:
        return {key: _run_job(key, kind, {**kwargs, "progress": progress}) for key, (kind, kwargs) in jobs.items()}
    from joblib import Parallel, delayed, parallel_config

    # joblib's loky processes: fresh interpreters (a forked child would inherit torch's OpenMP state), safe from a
    # user's script without an ``if __name__ == "__main__"`` guard. max_nbytes=None: pickle the photos instead of
    # passing read-only memory maps (torch warns on those); idle_worker_timeout: the workers (~0.8 GB each with
    # torch) exit a second after the last job instead of idling for minutes.
    with parallel_config(backend="loky", n_jobs=workers, max_nbytes=None, idle_worker_timeout=1):
        runs = Parallel(return_as="generator")(
            delayed(_run_job)(key, kind, {**kwargs, "progress": False}) for key, (kind, kwargs) in jobs.items())
        values = list(tqdm(runs, total=len(jobs), desc=f"generators ({workers} processes)", disable=not progress,
                           leave=False))
    return dict(zip(jobs, values, strict=True))


def describe() -> dict[str, Any]:
    """What each built-in generator is, for reports."""
    return {
        "tconv": "autoencoder, transposed-convolution decoder (AutoGAN-style GAN up-sampling simulator)",
        "upconv": "autoencoder, nearest-neighbour up-sampling + convolution decoder",
        "singan": "multi-scale single-image GAN (hrr.gan.SinGAN), one per photo",
        "vae": "latent-diffusion-style AutoencoderKL round trip (x4 latent)",
        "ddpm": "samples of a small pixel-space DDPM (diffusers UNet2DModel, cosine schedule; DDIM sampler)",
        "ddpm-i2i": "img2img reconstructions by the same DDPM (noise a real patch to a fraction of the schedule, "
                    "then denoise: SDEdit)",
    }
