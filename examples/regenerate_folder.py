"""MSR over a folder: regenerate every image at several scales, resume after an interruption, read the report.

With ``--model`` pointing at a diffusers img2img pipeline folder (e.g. a local copy of
``stabilityai/stable-diffusion-xl-refiner-1.0``) this is the paper's setting. Without it, the example stays offline:
it trains the small demo VAE for a few seconds and uses it as a VAE round-trip regenerator.

    python examples/regenerate_folder.py --out msr-example-output
    python examples/regenerate_folder.py --out msr-example-output --model /models/sdxl-refiner-1.0 --scales 512 1024

Writes ``<out>/photos/`` (the inputs: three scikit-image photos and one broken file), ``<out>/msr/`` (the MSR
outputs, manifest and reports).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from hrr import MultiScaleRetrospector
from hrr._images import load_image, save_png
from hrr.msr import DiffusersImg2ImgRegenerator, VAERegenerator


def write_photos(folder: Path) -> None:
    from skimage import data

    for name in ("astronaut", "chelsea", "coffee"):
        save_png(folder / f"{name}.png", getattr(data, name)())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")  # reported, never fatal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="msr-example-output")
    parser.add_argument("--model", default=None, help="diffusers img2img pipeline folder (default: offline demo VAE)")
    parser.add_argument("--scales", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--strength", type=float, default=0.3)
    args = parser.parse_args()

    out = Path(args.out)
    write_photos(out / "photos")
    if args.model:
        regenerator = DiffusersImg2ImgRegenerator.from_pretrained(args.model, strength=args.strength)
    else:
        from hrr.demo._msr import _sample_photos, train_demo_vae

        vae = train_demo_vae(list(_sample_photos().values()), steps=100)
        regenerator = VAERegenerator(vae, device="cpu")
    msr = MultiScaleRetrospector(regenerator, scales=args.scales, batch_size=4)

    start = time.perf_counter()
    report = msr.run(out / "photos", out / "msr")
    print(report.summary(), f"({time.perf_counter() - start:.1f} s)")

    # Running again resumes: complete items are skipped without being decoded or regenerated.
    again = msr.run(out / "photos", out / "msr")
    print(f"second run: {len(again.done)} done, {len(again.skipped)} skipped")

    for scale in msr.scales:
        paths = msr.output_paths(out / "msr", "chelsea", scale)
        real, regen = load_image(paths["real"]), load_image(paths["regen"])
        psnr = 10 * np.log10(1 / float(np.mean((real - regen) ** 2)))
        print(f"chelsea at {scale}: {real.shape[1]}x{real.shape[0]} px, regenerated PSNR {psnr:.1f} dB")
    print(f"outputs in {(out / 'msr').resolve()}; report {report.report_path}")


if __name__ == "__main__":
    main()
