"""The demo's diffusion family: a small pixel-space DDPM trained on the CPU on the real training patches.

A diffusers ``UNet2DModel`` learns to predict the noise of noised patches (Ho et al. 2020, epsilon parameterisation,
cosine schedule). Two test generators come from it:

* ``ddpm``: samples, drawn from pure noise with the deterministic DDIM sampler (Song et al. 2021, eta = 0);
* ``ddpm-i2i``: img2img reconstructions of real patches (SDEdit: noise a real patch to a fraction ``strength`` of
  the schedule, then denoise it), the reconstruction family of diffusion models and what MSR does with the SD-XL
  refiner.

The network is fully convolutional, so it trains on small random crops (cheap) and samples at the patch size.
Every random draw comes from a seeded ``torch.Generator``: the same seed gives the same images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from hrr.demo._threads import torch_threads

__all__ = ["ddpm_img2img", "ddpm_samples", "train_ddpm", "train_noise_prediction"]

_TRAIN_TIMESTEPS = 1000


def _unet(size: int) -> Any:
    from diffusers import UNet2DModel

    # Three levels without attention: 0.6 M parameters, a fraction of a second per CPU step on 32 x 32 crops.
    return UNet2DModel(
        sample_size=size,
        in_channels=3,
        out_channels=3,
        block_out_channels=(16, 32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * 3,
        up_block_types=("UpBlock2D",) * 3,
        norm_num_groups=8,
    )


def _scheduler() -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=_TRAIN_TIMESTEPS, beta_schedule="squaredcos_cap_v2", clip_sample=True)


def _nchw(patches: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(patches.transpose(0, 3, 1, 2), dtype=np.float32))


def train_ddpm(patches: np.ndarray, *, steps: int, seed: int, crop: int = 32, batch: int = 16, lr: float = 2e-3,
               progress: bool = True, threads: int | None = None) -> Any:
    """Train the DDPM on random ``crop`` x ``crop`` crops of real patches ``(N, H, W, 3)`` float32 in [0, 1].

    Returns a diffusers ``DDPMPipeline`` (UNet in eval mode + the training scheduler); ``save_pretrained`` works on
    it. ``threads``: torch threads while training (default: the caller's; its setting is restored). Deterministic
    for a given seed and thread count.
    """
    from diffusers import DDPMPipeline

    x = _nchw(patches) * 2 - 1
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = _unet(x.shape[-1])
    scheduler = _scheduler()
    with torch_threads(threads or torch.get_num_threads()):
        train_noise_prediction(unet.parameters(), lambda noisy, t: unet(noisy, t).sample, x, scheduler, steps=steps,
                               seed=seed, crop=crop, batch=batch, lr=lr, progress=progress, desc="train ddpm")
    return DDPMPipeline(unet=unet.eval(), scheduler=scheduler)


def train_noise_prediction(params: Iterable[torch.nn.Parameter],
                           predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], data: torch.Tensor,
                           scheduler: Any, *, steps: int, seed: int, crop: int, batch: int, lr: float,
                           progress: bool, desc: str) -> None:
    """The DDPM objective (Ho et al. 2020, Eq. 14): noise random ``crop`` x ``crop`` crops of ``data`` (N, C, H, W)
    to uniformly drawn timesteps of ``scheduler`` and regress the noise, ``predict(noisy, t)``, with Adam and a
    one-cycle schedule. Pixel DDPMs and latent denoisers alike; every draw from one generator seeded ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(params, lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    size = data.shape[-1]
    crop = min(crop, size)
    for _ in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        idx = torch.randint(0, data.shape[0], (batch,), generator=gen)
        top = int(torch.randint(0, size - crop + 1, (1,), generator=gen))
        left = int(torch.randint(0, size - crop + 1, (1,), generator=gen))
        clean = data[idx, :, top:top + crop, left:left + crop]
        noise = torch.randn(clean.shape, generator=gen)
        t = torch.randint(0, scheduler.config.num_train_timesteps, (batch,), generator=gen)
        loss = F.mse_loss(predict(scheduler.add_noise(clean, noise, t), t), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()


def _ddim(pipe: Any, steps: int) -> Any:
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(pipe.scheduler.config)
    ddim.set_timesteps(steps)
    return ddim


def _denoise(pipe: Any, ddim: Any, x: torch.Tensor, timesteps: torch.Tensor) -> np.ndarray:
    for t in timesteps:
        eps = pipe.unet(x, t).sample
        x = ddim.step(eps, t, x, eta=0.0).prev_sample
    return ((x.clamp(-1, 1) + 1) / 2).permute(0, 2, 3, 1).numpy().astype(np.float32)


@torch.no_grad()
def ddpm_samples(pipe: Any, n: int, *, size: int, seed: int, num_inference_steps: int = 25, batch: int = 48,
                 progress: bool = False) -> np.ndarray:
    """``n`` DDIM samples ``(n, size, size, 3)`` float32 in [0, 1], image ``i`` from noise of seed ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    ddim = _ddim(pipe, num_inference_steps)
    out = []
    for start in tqdm(range(0, n, batch), desc="ddpm samples", disable=not progress, leave=False):
        m = min(batch, n - start)
        noise = torch.randn((m, 3, size, size), generator=gen)
        out.append(_denoise(pipe, ddim, noise, ddim.timesteps))
    return np.concatenate(out)


@torch.no_grad()
def ddpm_img2img(pipe: Any, patches: np.ndarray, *, strength: float, seed: int, num_inference_steps: int = 25,
                 batch: int = 48, progress: bool = False) -> np.ndarray:
    """SDEdit reconstructions of real patches ``(N, H, W, 3)`` in [0, 1]: noise to ``strength`` of the schedule,
    then run the remaining ``int(num_inference_steps * strength)`` DDIM steps; same shape, float32 in [0, 1]."""
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1]; got {strength!r}")
    run = int(num_inference_steps * strength)
    if run < 1:
        raise ValueError(f"num_inference_steps * strength must be at least 1; got {num_inference_steps} * {strength}")
    gen = torch.Generator().manual_seed(seed)
    ddim = _ddim(pipe, num_inference_steps)
    timesteps = ddim.timesteps[num_inference_steps - run:]
    out = []
    for start in tqdm(range(0, len(patches), batch), desc="ddpm img2img", disable=not progress, leave=False):
        clean = _nchw(patches[start:start + batch]) * 2 - 1
        noise = torch.randn(clean.shape, generator=gen)
        noisy = ddim.add_noise(clean, noise, timesteps[:1].repeat(clean.shape[0]))
        out.append(_denoise(pipe, ddim, noisy, timesteps))
    return np.concatenate(out)
