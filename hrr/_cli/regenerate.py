"""``hrr regenerate``: multi-scale style retrospection (MSR) over a folder of images."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from hrr._cli._common import add_device_arg

_DTYPES = ("float16", "bfloat16", "float32")


def _scales(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"scales must be positive integers, got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"scales must be positive integers, got {text!r}")
    return values


def _shard(text: str) -> tuple[int, int]:
    try:
        rank, world = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must look like RANK/WORLD_SIZE (e.g. 0/4), got {text!r}") from None
    if not 0 <= rank < world:
        raise argparse.ArgumentTypeError(f"--shard needs 0 <= RANK < WORLD_SIZE, got {text!r}")
    return rank, world


def build_regenerator(args: argparse.Namespace) -> Any:
    """The backend named by ``--backend`` with the command line's settings."""
    import torch

    from hrr.msr import DiffusersImg2ImgRegenerator, IdentityRegenerator, VAERegenerator

    dtype = getattr(torch, args.dtype) if args.dtype else None
    if args.backend == "identity":
        return IdentityRegenerator(size_multiple=args.size_multiple or 64)
    if args.backend == "vae":
        return VAERegenerator.from_pretrained(
            args.model, device=args.device, dtype=dtype or torch.float32, sample=args.vae_sample
        )
    return DiffusersImg2ImgRegenerator.from_pretrained(
        args.model,
        device=args.device,
        dtype=dtype,
        variant=args.variant,
        cpu_offload=args.cpu_offload,
        strength=args.strength,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        prompt=args.prompt,
    )


def _run(args: argparse.Namespace) -> int:
    from hrr.msr import LineEnhancer, MultiScaleRetrospector

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    regenerator = build_regenerator(args)
    msr = MultiScaleRetrospector(
        regenerator,
        scales=[s for group in args.scales for s in group],
        resize_mode=args.resize_mode,
        noise_std=args.noise_std,
        line_enhancer=None if args.no_line_enhance else LineEnhancer(),
        seed=args.seed,
        batch_size=args.batch_size,
        save_line_enhanced=args.save_line_enhanced,
        num_workers=args.workers,
        progress=args.progress,
        shard=args.shard if args.shard is not None else "auto",
    )
    report = msr.run(args.src, args.out)
    print(report.summary())
    print(f"report: {report.report_path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from hrr.msr import DEFAULT_MODEL_ID  # hrr.msr loads lazily and this name's module is torch-free

    p = sub.add_parser(
        "regenerate",
        help="MSR: regenerate real images at several scales through a diffusion model (resumable)",
        description=(
            "Multi-scale style retrospection (HRR Sec. III-A): every image under SRC is resized to each scale, "
            "lightly noised, line-enhanced and regenerated; OUT/sNNNN/real and OUT/sNNNN/regen receive lossless "
            "PNGs of the real view and the pseudo-fake. Re-running resumes; RANK/WORLD_SIZE (accelerate launch, "
            "torchrun) or --shard split the work."
        ),
    )
    p.add_argument("src", help="folder of images (searched recursively) or one image file")
    p.add_argument("out", help="output folder (new, or made earlier with the same settings)")
    p.add_argument(
        "--backend",
        choices=("img2img", "vae", "identity"),
        default="img2img",
        help="img2img: diffusers pipeline (the paper); vae: its autoencoder round trip; identity: no-op",
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL_ID,
        help="diffusers pipeline folder or hub id (default: %(default)s)",
    )
    p.add_argument(
        "--scales",
        type=_scales,
        nargs="+",
        default=[[256, 512, 1024]],
        help="short sides, e.g. --scales 256 512 or 256,512 (default: 256 512 1024; rounded to the model's multiple)",
    )
    p.add_argument("--resize-mode", choices=("short_side", "square"), default="short_side")
    p.add_argument("--strength", type=float, default=0.3, help="img2img strength (default: %(default)s)")
    p.add_argument("--steps", type=int, default=50, help="scheduler steps at strength 1 (default: %(default)s)")
    p.add_argument("--guidance", type=float, default=5.0, help="guidance scale (default: %(default)s)")
    p.add_argument("--prompt", default="", help="prompt (the paper leaves it empty)")
    p.add_argument("--batch-size", type=int, default=4, help="images per model call (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default: %(default)s)")
    p.add_argument("--noise-std", type=float, default=2 / 255, help="noise added after resizing (default: 2/255)")
    p.add_argument("--no-line-enhance", action="store_true", help="skip the line enhancement of Eq. 2")
    p.add_argument("--save-line-enhanced", action="store_true", help="also write the model inputs (lineE/)")
    add_device_arg(p)
    p.add_argument("--dtype", choices=_DTYPES, default=None, help="model dtype (default: float16 on GPU, else float32)")
    p.add_argument("--variant", default=None, help="weight variant, e.g. fp16")
    p.add_argument("--cpu-offload", action="store_true", help="enable_model_cpu_offload for small GPUs")
    p.add_argument("--vae-sample", action="store_true", help="vae backend: decode a posterior sample, not its mode")
    p.add_argument("--size-multiple", type=int, default=None, help="identity backend: side multiple (default: 64)")
    p.add_argument("--workers", type=int, default=2, help="loader/writer threads (default: %(default)s)")
    p.add_argument("--shard", type=_shard, default=None, help="RANK/WORLD_SIZE, e.g. 0/4 (default: from env)")
    p.add_argument("--quiet", action="store_true", help="no progress bar (shown only on a terminal anyway)")
    p.set_defaults(func=_run)
