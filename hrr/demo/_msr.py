"""MSR section of ``hrr demo``: multi-scale style retrospection on scikit-image's sample photos, fully offline.

No diffusion weights can be downloaded here, so the regenerator runs the demo's own tiny latent diffusion model
(:mod:`hrr.demo._ldm`: trained once on patches of packaged photos, cached, and loaded with
``DiffusersImg2ImgRegenerator.from_pretrained``, the code path of the SD-XL refiner). ``backend="vae"`` uses the
cheaper VAE round trip instead: a small ``AutoencoderKL`` trained for a fixed number of steps on random crops of the
same photos. The engine, the line enhancement (Eq. 2), the files and the report are exactly what
``hrr regenerate`` uses with the SD-XL refiner.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrr._images import load_image, save_png
from hrr.demo._threads import torch_threads
from hrr.msr import LineEnhancer, MultiScaleRetrospector, VAERegenerator

__all__ = ["MSRRow", "format_msr_table", "run_msr_demo", "train_demo_vae"]


@dataclass
class MSRRow:
    """One (photo, scale) of the demo."""

    image: str
    scale: int
    height: int
    width: int
    line_pixels: float  # fraction of pixels on the line mask M of Eq. 2
    psnr_regen: float  # PSNR of the regenerated view against the real view, dB


def _sample_photos() -> dict[str, np.ndarray]:
    from skimage import data

    return {name: getattr(data, name)().astype(np.float32) / 255.0 for name in ("astronaut", "chelsea", "coffee")}


def train_demo_vae(
    photos: list[np.ndarray],
    *,
    steps: int,
    seed: int = 0,
    crop: int = 32,
    batch: int = 8,
    block_out_channels: tuple[int, ...] = (8, 16),
    lr: float = 1e-2,
    loss: str = "mse",
    threads: int = 1,
    progress: bool = False,
) -> Any:
    """Train a small ``AutoencoderKL`` on random crops of ``photos`` (HxWx3 float32 in [0, 1]) for ``steps`` Adam
    steps with a one-cycle schedule.

    ``block_out_channels`` sets the widths and the latent factor (``2 ** (len - 1)``); ``loss`` is ``"mse"`` or
    ``"l1"`` on pixels in [-1, 1]; ``threads``: torch threads while training (the caller's setting is restored).
    Deterministic for a given seed and thread count. Returns the model in eval mode.
    """
    from diffusers import AutoencoderKL

    if loss not in ("mse", "l1"):
        raise ValueError(f"loss must be 'mse' or 'l1'; got {loss!r}")
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=tuple(block_out_channels),
        layers_per_block=1,
        norm_num_groups=8,
        latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * len(block_out_channels),
        up_block_types=["UpDecoderBlock2D"] * len(block_out_channels),
        mid_block_add_attention=False,
    )
    tensors = [torch.from_numpy(p).permute(2, 0, 1) for p in photos]
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(vae.parameters(), lr=lr)
    # one-cycle schedule: a short warm-up then annealing; far better colours than a constant rate in few steps
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    # The default widths gain nothing from a second thread, and a shared, busy CPU makes spinning OpenMP threads
    # many times slower: train on ``threads`` and restore the caller's setting.
    with torch_threads(threads):
        _train_steps(vae, opt, schedule, tensors, gen, steps=steps, crop=crop, batch=batch, l1=loss == "l1",
                     progress=progress)
    return vae.eval()


def _train_steps(
    vae: Any,
    opt: Any,
    schedule: Any,
    tensors: list[torch.Tensor],
    gen: torch.Generator,
    *,
    steps: int,
    crop: int,
    batch: int,
    l1: bool,
    progress: bool,
) -> None:
    from tqdm.auto import tqdm

    for _ in tqdm(range(steps), desc="training the demo VAE", disable=not progress, leave=False):
        crops = []
        for _ in range(batch):
            img = tensors[int(torch.randint(len(tensors), (1,), generator=gen))]
            y = int(torch.randint(img.shape[1] - crop + 1, (1,), generator=gen))
            x = int(torch.randint(img.shape[2] - crop + 1, (1,), generator=gen))
            crops.append(img[:, y : y + crop, x : x + crop])
        x = torch.stack(crops) * 2 - 1
        recon = vae.decode(vae.encode(x).latent_dist.mode()).sample
        loss = (torch.nn.functional.l1_loss if l1 else torch.nn.functional.mse_loss)(recon, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)


def _text_strip(text: str, width: int, height: int = 18) -> np.ndarray:
    import cv2

    strip = np.full((height, width, 3), 255, np.uint8)  # OpenCV draws text on 8-bit images only
    cv2.putText(strip, text, (3, height - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return strip.astype(np.float32) / 255.0


def _side_by_side(rows: list[tuple[str, int, list[np.ndarray]]], path: Path, gap: int = 4) -> None:
    """One row per (photo, scale) at native pixel size: real | line-enhanced | regenerated | |difference| x4."""
    titles = ["real", "line-enhanced (Eq. 2)", "regenerated", "|diff| x4"]
    blocks: list[np.ndarray] = []
    for name, scale, panels in rows:
        h = panels[0].shape[0]
        spacer = np.ones((h, gap, 3), np.float32)
        parts: list[np.ndarray] = []
        for panel in panels:
            parts.extend([np.clip(panel, 0, 1), spacer])
        body = np.concatenate(parts[:-1], axis=1)
        label = _text_strip(f"{name} @ {scale}: " + " | ".join(titles), body.shape[1])
        blocks.append(np.concatenate([label, body, np.ones((gap, body.shape[1], 3), np.float32)], axis=0))
    width = max(b.shape[1] for b in blocks)
    padded = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=1.0) for b in blocks]
    save_png(path, np.concatenate(padded, axis=0))


def run_msr_demo(
    out: str | Path, *, quick: bool = False, progress: bool = True, seed: int = 0, backend: str = "diffusion"
) -> tuple[list[MSRRow], Path, float]:
    """Run MSR on three scikit-image photos; write outputs and a side-by-side picture.

    Parameters
    ----------
    out : str or Path
        Demo folder; MSR writes under ``out/msr/`` and the picture to ``out/msr_side_by_side.png``.
    quick : bool, default False
        Smaller scales and fewer training steps.
    progress : bool, default True
    seed : int, default 0
    backend : {"diffusion", "vae"}, default "diffusion"
        The demo's latent diffusion model through the diffusers img2img regenerator, or a VAE round trip.

    Returns
    -------
    tuple
        ``(rows, picture_path, seconds)``.
    """
    if backend not in ("diffusion", "vae"):
        raise ValueError(f"backend must be 'diffusion' or 'vae'; got {backend!r}")
    start = time.perf_counter()
    out = Path(out)
    root = out / "msr"
    shutil.rmtree(root, ignore_errors=True)  # the demo's own folder: a rerun starts clean
    photos = _sample_photos()
    for name, photo in photos.items():
        save_png(root / "photos" / f"{name}.png", photo)
    scales = (64, 128) if quick else (128, 256)
    regenerator: Any
    if backend == "diffusion":
        from hrr.demo._ldm import MSRModelSettings, demo_msr_regenerator

        regenerator = demo_msr_regenerator(MSRModelSettings.quick() if quick else None, progress=progress)
    else:
        vae = train_demo_vae(list(photos.values()), steps=100 if quick else 250, seed=seed, progress=progress)
        regenerator = VAERegenerator(vae, device="cpu")
    msr = MultiScaleRetrospector(
        regenerator,
        scales=scales,
        line_enhancer=LineEnhancer(),
        seed=seed,
        batch_size=3,
        save_line_enhanced=True,
        progress=progress,
        shard=None,
    )
    report = msr.run(root / "photos", root / "regenerated")
    if report.failed:
        raise RuntimeError(report.summary())
    rows: list[MSRRow] = []
    panels: list[tuple[str, int, list[np.ndarray]]] = []
    for name in photos:
        for scale in msr.scales:
            views = {
                k: load_image(p, min_size=1) for k, p in msr.output_paths(root / "regenerated", name, scale).items()
            }
            real, line, regen = views["real"], views["lineE"], views["regen"]
            mask = LineEnhancer().line_mask(real)
            rows.append(MSRRow(name, scale, real.shape[0], real.shape[1], float(mask.mean()), _psnr(real, regen)))
            panels.append((name, scale, [real, line, regen, np.abs(regen - real) * 4]))
    picture = out / "msr_side_by_side.png"
    _side_by_side(panels, picture)
    return rows, picture, time.perf_counter() - start


def format_msr_table(rows: list[MSRRow]) -> str:
    """Markdown table of the demo rows."""
    lines = [
        "| photo | scale | size (HxW) | line pixels | PSNR regen vs real |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r.image} | {r.scale} | {r.height}x{r.width} | {100 * r.line_pixels:.1f}% | {r.psnr_regen:.1f} dB |"
        )
    return "\n".join(lines)
