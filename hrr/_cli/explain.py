"""``hrr explain``: class-activation maps of a trained detector on chosen images (the paper's Fig. 4)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hrr._cli._common import add_device_arg

_DESCRIPTION = """\
Grad-CAM maps of the run's network on each image, drawn over the images in a picture
grid.

Each image goes through the detector's own preprocessing (center crop to max_side, no
resizing) and its CAM is computed at that resolution. The CAM explains the network's
logit (its linear head); the probability printed and written over each tile is the
detector's, AFR when the run has it, exactly as `hrr detect` and `hrr eval` give it.
Images and maps are resized to --size only for the picture."""

_EPILOG = """\
output: PATH<TAB>PROBABILITY<TAB>generated|real per image (or PATH<TAB>ERROR<TAB>REASON),
in argument order, as in `hrr detect`; then where the picture was written.

exit codes: 0 every image explained; 1 some image could not be read; 2 usage error."""


def _run(args: argparse.Namespace) -> int:
    import torch
    import torch.nn.functional as F

    from hrr._images import load_image
    from hrr.detect import HRRDetector, class_activation_maps, save_cam_grid

    if args.size < 8:
        raise ValueError(f"--size must be at least 8 pixels; got {args.size}")
    detector = HRRDetector.load(args.run, device=args.device, use_afr=not args.no_afr)
    # The probabilities come from the same call as `hrr detect`'s, so the two always agree.
    results = detector.predict_paths(args.images, progress=False)
    tiles, maps, titles = [], [], []
    for r in results:
        if r.error is not None:
            print(f"{r.path}\tERROR\t{r.error}")
            continue
        print(f"{r.path}\t{r.probability:.4f}\t{'generated' if r.generated else 'real'}")
        image = detector.preprocess(torch.from_numpy(load_image(r.path)).permute(2, 0, 1)[None].contiguous())
        cam = class_activation_maps(detector.model, image.to(detector.device)).cpu()  # at the image's resolution
        size = (args.size, args.size)
        tiles.append(F.interpolate(image, size=size, mode="bilinear", antialias=True, align_corners=False)
                     .clamp_(0.0, 1.0))
        maps.append(F.interpolate(cam[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
                    .clamp_(0.0, 1.0))
        titles.append(f"{Path(r.path).name}\np(gen)={r.probability:.4f}")
    failed = len(results) - len(tiles)
    if not tiles:
        print("hrr explain: error: no image could be read; nothing written", file=sys.stderr)
        return 1
    out = save_cam_grid(torch.cat(tiles), torch.cat(maps), args.out, titles=titles)
    print(f"CAM grid written to {out.resolve()}" + (f" ({failed} unreadable skipped)" if failed else ""))
    return 1 if failed else 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="class-activation maps (Grad-CAM) of a detector on images",
                       description=_DESCRIPTION, epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by `hrr train`")
    p.add_argument("images", nargs="+", type=Path, help="image files or folders")
    p.add_argument("--out", type=Path, default=Path("hrr-cam.png"), help="output picture (default: %(default)s)")
    p.add_argument("--size", type=int, default=256,
                   help="tile size of the picture; only the display is resized (default: %(default)s)")
    p.add_argument("--no-afr", action="store_true", help="print the linear head's probability instead of AFR's")
    add_device_arg(p)
    p.set_defaults(func=_run)
