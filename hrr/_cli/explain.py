"""``hrr explain``: class-activation maps of a trained detector on chosen images (the paper's Fig. 4)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    import torch

    from hrr._images import list_images, load_image_or_none
    from hrr.data import TestTransform
    from hrr.detect import HRRDetector, class_activation_maps, save_cam_grid

    detector = HRRDetector.load(args.run, device=args.device, use_afr=False)
    files: list[Path] = []
    for p in args.images:
        files.extend(list_images(p) if p.is_dir() else [p])
    resize = TestTransform(size=args.size)
    images, names = [], []
    for f in files:
        image, reason = load_image_or_none(f)
        if image is None:
            print(f"{f}\tERROR\t{reason}")
            continue
        images.append(torch.from_numpy(resize(image)).permute(2, 0, 1))
        names.append(f.name)
    if not images:
        print("no readable image")
        return 1
    batch = torch.stack(images)
    cams = class_activation_maps(detector.model, batch.to(detector.device))
    probs = detector.predict_proba(batch)
    titles = [f"{n}\np(gen)={p:.2f}" for n, p in zip(names, probs, strict=True)]
    out = save_cam_grid(batch, cams.cpu(), args.out, titles=titles)
    for n, p in zip(names, probs, strict=True):
        print(f"{n}\t{p:.4f}")
    print(f"CAM grid written to {out.resolve()}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="class-activation maps (Grad-CAM) of a detector on images")
    p.add_argument("run", type=Path, help="run folder written by `hrr train`")
    p.add_argument("images", nargs="+", type=Path, help="image files or folders")
    p.add_argument("--out", type=Path, default=Path("hrr-cam.png"), help="output picture (default: %(default)s)")
    p.add_argument("--size", type=int, default=256, help="images are resized to size x size (default: 256)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_run)
