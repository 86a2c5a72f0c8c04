"""MSR: ``LineEnhancer`` against a straightforward reference, and the ``MultiScaleRetrospector`` engine against bare
pipeline calls on the same batches.

1. LineEnhancer (Eq. 2) throughput at 256x256 and 512x512 (scikit-image's astronaut photo) against the plain
   reference of ``tests/test_msr_line.py`` (float64 numpy blurs, Python breadth-first search for the components,
   Python loops for the passive dilation). Both produce the same line mask (checked). Target: >= 10x.
2. End to end: ``MultiScaleRetrospector.run`` over PNG files (header planning, loading, resizing, noise, line
   enhancement, regeneration, two lossless PNGs per item, manifest, report) against the bare
   ``pipe(prompt=[""] * B, image=..., generator=[...], output_type="pt")`` calls on exactly the same prepared
   batches, with a tiny random SD-XL-refiner-shaped img2img pipeline on the CPU. Target: <= 1.15x.
3. ``--gpu``: an SD-XL-refiner-shaped pipeline with random weights (the refiner's UNet/VAE/text-encoder shapes) in
   float16 at 512x512, images per second with and without the engine. Skips cleanly without CUDA.

Run: python benchmarks/bench_msr.py [--quick] [--gpu] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
from _common import (
    ContentionMeter,
    Timing,
    configure_threads,
    emit,
    environment_header,
    fmt_ratio,
    fmt_seconds,
    markdown_table,
    measure,
)

# The reference implementation and the tiny pipelines live with the tests; reuse them rather than copy them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from hrr._images import save_png
from hrr._pixels import to_tensor_batch
from hrr.msr import DiffusersImg2ImgRegenerator, LineEnhancer, MultiScaleRetrospector
from hrr.msr._sizes import resize_to


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller engine workload")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--images", type=int, default=16, help="images in the engine comparison")
    parser.add_argument("--scale", type=int, default=64, help="engine comparison: short side (tiny model)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--strength", type=float, default=0.5)
    parser.add_argument("--gpu", action="store_true", help="also run the SD-XL-refiner-shaped fp16 GPU benchmark")
    parser.add_argument("--gpu-images", type=int, default=16)
    parser.add_argument("--gpu-batch-size", type=int, default=4)
    parser.add_argument("--gpu-steps", type=int, default=20)
    return parser.parse_args()


def _photo(size: int) -> np.ndarray:
    from skimage import data

    img = data.astronaut().astype(np.float32) / 255.0
    return resize_to(img, (size, size))


def bench_line(args: argparse.Namespace) -> None:
    from test_msr_line import ref_enhance

    enh = LineEnhancer()
    rows = []
    for size in (256, 512):
        img = _photo(size)
        fast, (out, mask) = measure(lambda: enh(img, return_mask=True), args.repeats, warmup=1)
        ref, (ref_out, ref_mask) = measure(lambda: ref_enhance(img), 1 if args.quick or size == 512 else 2)
        mismatch = int((mask != ref_mask).sum())
        max_diff = float(np.abs(out - ref_out).max())
        rows.append(
            [
                f"{size}x{size}",
                fmt_seconds(ref.median),
                fmt_seconds(fast.median),
                f"{1 / fast.median:.1f}",
                fmt_ratio(ref.median / fast.median),
                f"{mismatch} px, max |diff| {max_diff:.1e}",
            ]
        )
    emit("### LineEnhancer vs plain reference (one image, median)\n")
    emit(
        markdown_table(
            ["size", "reference", "LineEnhancer", "images/s", "speed-up (target >= 10x)", "mask mismatch, output"],
            rows,
        )
    )
    emit()


def _make_sources(folder: Path, n: int, scale: int) -> None:
    from skimage import data

    photos = [data.astronaut(), data.chelsea(), data.coffee()]
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    h, w = scale * 3 // 2, scale * 2  # all one size at this scale, so batches are full in both measurements
    for i in range(n):
        photo = photos[i % 3]
        y = int(rng.integers(0, photo.shape[0] - h))
        x = int(rng.integers(0, photo.shape[1] - w))
        save_png(folder / f"img{i:04d}.png", photo[y : y + h, x : x + w])


def bench_engine(args: argparse.Namespace) -> None:
    from _tiny_diffusers import tiny_refiner

    work = Path(tempfile.mkdtemp(prefix="bench_msr_"))
    try:
        pipe = tiny_refiner(work / "tok")
        regen = DiffusersImg2ImgRegenerator(pipe, strength=args.strength, num_inference_steps=args.steps)
        n = 8 if args.quick else args.images
        _make_sources(work / "src", n, args.scale)
        msr = MultiScaleRetrospector(
            regen, scales=(args.scale,), batch_size=args.batch_size, progress=False, shard=None, num_workers=2
        )
        # the batches the engine will run, prepared once for the bare calls
        items, _ = msr.plan(work / "src")
        from hrr._images import load_image

        prepared = [msr.prepare(load_image(it.source), it.image_id, it.scale) for it in items]
        batches = [
            (
                to_tensor_batch([p[1] for p in prepared[i : i + args.batch_size]]),
                [p[2] for p in prepared[i : i + args.batch_size]],
            )
            for i in range(0, len(prepared), args.batch_size)
        ]

        def bare() -> None:
            for images, seeds in batches:
                pipe(
                    prompt=[""] * images.shape[0],
                    image=images,
                    strength=args.strength,
                    num_inference_steps=args.steps,
                    guidance_scale=5.0,
                    generator=[torch.Generator().manual_seed(s) for s in seeds],
                    output_type="pt",
                )

        counter = iter(range(10_000))

        def engine() -> None:
            report = msr.run(work / "src", work / f"out{next(counter)}")
            assert len(report.done) == n, report.summary()

        repeats = 2 if args.quick else args.repeats
        bare()  # warm-up (first-call allocations, kernel selection)
        engine()
        # interleave the repeats so both sides see the same machine load (the CPU may be shared)
        bare_t, engine_t = Timing(), Timing()
        for _ in range(repeats):
            t, _ = measure(bare, 1)
            bare_t.times += t.times
            t, _ = measure(engine, 1)
            engine_t.times += t.times
        rows = [
            [
                "bare pipeline calls (prompt list)",
                fmt_seconds(bare_t.median),
                f"{n / bare_t.median:.2f}",
                "1.00x",
                bare_t.spread(),
            ],
            [
                "MultiScaleRetrospector.run (files in, PNGs out)",
                fmt_seconds(engine_t.median),
                f"{n / engine_t.median:.2f}",
                fmt_ratio(engine_t.median / bare_t.median),
                engine_t.spread(),
            ],
        ]
        emit(
            f"### Engine vs bare pipeline calls: {n} images of {args.scale * 3 // 2}x{args.scale * 2} -> "
            f"{args.scale}x{int(args.scale * 4 / 3) // 4 * 4}, batch {args.batch_size}, tiny SD-XL-refiner-shaped "
            f"pipeline, {int(args.steps * args.strength)} denoising steps with CFG, CPU\n"
        )
        emit(markdown_table(["what", "median", "images/s", "time vs bare (target <= 1.15x)", "spread"], rows))
        emit(
            f"\nbest-of-{repeats} ratio (least disturbed by other processes): "
            f"{fmt_ratio(engine_t.best / bare_t.best)}\n"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _refiner_shaped_pipeline(tok_dir: Path) -> object:
    """SD-XL refiner shapes (UNet 384-768-1536-1536, SD-XL VAE, OpenCLIP-bigG text encoder 2) with random weights."""
    from _tiny_diffusers import refiner_pipeline, tiny_tokenizer
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    unet = UNet2DConditionModel(
        sample_size=128,
        in_channels=4,
        out_channels=4,
        block_out_channels=(384, 768, 1536, 1536),
        layers_per_block=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(6, 12, 24, 24),
        transformer_layers_per_block=4,
        cross_attention_dim=1280,
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2560,
    )
    vae = AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        latent_channels=4,
        layers_per_block=2,
        sample_size=1024,
        scaling_factor=0.13025,
        force_upcast=True,
    )
    text = CLIPTextModelWithProjection(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            vocab_size=514,
            hidden_size=1280,
            intermediate_size=5120,
            num_attention_heads=20,
            num_hidden_layers=32,
            projection_dim=1280,
            hidden_act="gelu",
            max_position_embeddings=77,
        )
    )
    return refiner_pipeline(vae, text, tiny_tokenizer(tok_dir), unet)


def bench_gpu(args: argparse.Namespace) -> None:
    emit("### GPU: SD-XL-refiner-shaped random pipeline, float16 UNet (VAE upcast to float32), 512x512\n")
    if not torch.cuda.is_available():
        emit("skipped: no CUDA device available in this process\n")
        return
    work = Path(tempfile.mkdtemp(prefix="bench_msr_gpu_"))
    try:
        pipe = _refiner_shaped_pipeline(work / "tok").to("cuda", torch.float16)
        regen = DiffusersImg2ImgRegenerator(pipe, strength=0.3, num_inference_steps=args.gpu_steps)
        n = args.gpu_images
        _make_sources(work / "src", n, 512 // 2)  # 384x512 sources; the scale below enlarges them
        msr = MultiScaleRetrospector(
            regen, scales=(512,), resize_mode="square", batch_size=args.gpu_batch_size, progress=False, shard=None
        )
        images = torch.rand(args.gpu_batch_size, 3, 512, 512)
        seeds = list(range(args.gpu_batch_size))
        sync = torch.cuda.synchronize
        bare_t, _ = measure(lambda: regen.regenerate(images, seeds), args.repeats, warmup=1, sync=sync)
        counter = iter(range(10_000))
        engine_t, _ = measure(lambda: msr.run(work / "src", work / f"out{next(counter)}"), 2, warmup=1, sync=sync)
        rows = [
            ["regenerator calls only", f"{args.gpu_batch_size / bare_t.median:.2f}", "1.00x"],
            [
                "MultiScaleRetrospector.run",
                f"{n / engine_t.median:.2f}",
                fmt_ratio((engine_t.median / n) / (bare_t.median / args.gpu_batch_size)),
            ],
        ]
        emit(markdown_table(["what", "images/s", "time per image vs bare"], rows))
        emit(
            f"\npeak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB; "
            f"{torch.cuda.get_device_name(0)}; {int(args.gpu_steps * 0.3)} denoising steps with CFG\n"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    args = parse_args()
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()  # the bare calls would print a dtype-cast warning per batch
    configure_threads(args.threads)
    torch.set_num_threads(args.threads)  # once more: with cv2/skimage loaded, the limiter alone leaves torch at 2
    meter = ContentionMeter()
    emit(environment_header("bench_msr: LineEnhancer and MultiScaleRetrospector", args, ("diffusers", "cv2")))
    start = time.perf_counter()
    bench_line(args)
    bench_engine(args)
    if args.gpu:
        bench_gpu(args)
    emit(f"total {time.perf_counter() - start:.0f} s")
    emit(meter.report())


if __name__ == "__main__":
    main()
