"""Which KL separation term? Train the same small detector with CE alone and with each candidate term.

The paper (HRR Sec. III-A, Eq. 4) wants the divergence between the real distribution P and the generated
distribution Q to *grow*, but writes the loss as D(P||Q). This script compares, on one task and several seeds:

* ``CE``: gamma = 0;
* ``+exp`` (library default): CE + 0.8 exp(-KL(P||Q));
* ``+inverse``: CE + 0.8 / (1 + KL);  ``+hinge``: CE + 0.8 max(0, 1 - KL);  ``+exp sym``: symmetrised KL;
* ``-KL (unbounded)``: CE - 0.8 KL, maximising the divergence directly;
* ``+KL (as written)``: CE + 0.8 KL, minimising Eq. 4 literally.

Task: 32x32 crops of photos shipped with scikit-image. Training fakes ("generator A") carry a faint period-2
checkerboard, the trace transposed convolutions leave; the held-out generator B up-samples half-resolution crops 2x
with nearest-neighbour and leaves a fainter checkerboard plus noise.
Reported: validation AP on generator A, AP on the held-out generator B, AP on generator A images downscaled 0.5x,
the final KL(P||Q) of validation features and the mean feature norm (which an unbounded term inflates).

Run: ``python benchmarks/bench_kl_separation.py [--seeds 3] [--epochs 8]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from _common import configure_threads, environment_header, markdown_table
from skimage import data as skdata
from sklearn.metrics import average_precision_score
from torch import nn

from hrr import KLSeparationLoss, TrainConfig
from hrr._images import save_png
from hrr.data import Sample
from hrr.detect import Detector, HRRLoss, train_detector
from hrr.detect._kl import batch_distributions, kl_divergence

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "retina")


class _Backbone(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _SignedKL(nn.Module):
    """CE + sign * gamma * KL(P||Q): the unbounded (-1) and the literal (+1) readings of Eq. 4."""

    def __init__(self, sign: float, gamma: float = 0.8) -> None:
        super().__init__()
        self.sign, self.gamma, self.ce = sign, gamma, HRRLoss(gamma=0.0)

    def forward(self, logits: torch.Tensor, feats: torch.Tensor, labels: torch.Tensor):
        ce, _ = self.ce(logits, feats, labels)
        pq = batch_distributions(feats, labels)
        kl = kl_divergence(*pq) if pq is not None else feats.sum() * 0.0
        return ce + self.sign * self.gamma * kl, {"ce": float(ce.detach()), "kl": float(kl.detach())}


def _crops(n: int, rng: np.random.Generator, size: int = 32) -> list[np.ndarray]:
    photos = [getattr(skdata, name)() for name in PHOTOS]
    photos = [np.repeat(p[..., None], 3, 2) if p.ndim == 2 else p[..., :3] for p in photos]
    out = []
    for _ in range(n):
        p = photos[int(rng.integers(len(photos)))].astype(np.float32) / 255.0
        y, x = rng.integers(0, p.shape[0] - size), rng.integers(0, p.shape[1] - size)
        out.append(p[y:y + size, x:x + size].copy())
    return out


def _checker(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return (((yy + xx) % 2) * 2.0 - 1.0)[..., None].astype(np.float32)


def _gen_a(img: np.ndarray) -> np.ndarray:
    """Transposed-convolution-like period-2 checkerboard of amplitude 0.06."""
    return np.clip(img + 0.06 * _checker(*img.shape[:2]), 0, 1)


def _gen_b(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Held-out: nearest-neighbour 2x up-sampling of a half-resolution crop, a fainter checkerboard and noise."""
    h, w = img.shape[:2]
    small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST) + 0.02 * _checker(h, w)
    return np.clip(up + rng.normal(0, 0.01, up.shape).astype(np.float32), 0, 1)


def _write(root: Path, name: str, images: list[np.ndarray], label: int) -> list[Sample]:
    samples = []
    for i, img in enumerate(images):
        path = root / name / f"{i:04d}.png"
        save_png(path, img)
        samples.append(Sample(path, label, name))
    return samples


def _probs_and_feats(model: Detector, images: list[np.ndarray]) -> tuple[np.ndarray, torch.Tensor]:
    model.eval()
    with torch.no_grad():
        batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
        logits, feats = model.forward_with_features(batch)
    return torch.sigmoid(logits).numpy(), feats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--n", type=int, default=96, help="training images per class")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-3)
    args = parser.parse_args()
    configure_threads(args.threads)
    print(environment_header("KL separation term: alternatives on one task", args))

    variants = {
        "CE": (0.0, None),
        "+exp (default)": (0.8, None),
        "+inverse": (0.8, KLSeparationLoss(form="inverse")),
        "+hinge (m=1)": (0.8, KLSeparationLoss(form="hinge", margin=1.0)),
        "+exp sym": (0.8, KLSeparationLoss(symmetric=True)),
        "-KL (unbounded)": (0.8, _SignedKL(-1.0)),
        "+KL (as written)": (0.8, _SignedKL(+1.0)),
    }
    results: dict[str, list[dict[str, float]]] = {k: [] for k in variants}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in range(args.seeds):
            rng = np.random.default_rng(seed)
            real_tr, base_tr = _crops(args.n, rng), _crops(args.n, rng)
            real_va, base_va = _crops(64, rng), _crops(64, rng)
            fake_tr, fake_va = [_gen_a(i) for i in base_tr], [_gen_a(i) for i in base_va]
            fake_b = [_gen_b(i, rng) for i in _crops(64, rng)]
            d = root / f"seed{seed}"
            train = _write(d, "real_tr", real_tr, 0) + _write(d, "fake_tr", fake_tr, 1)
            val = _write(d, "real_va", real_va, 0) + _write(d, "fake_va", fake_va, 1)
            down = [cv2.resize(i, (16, 16), interpolation=cv2.INTER_AREA) for i in real_va + fake_va]
            y_val = np.array([0] * len(real_va) + [1] * len(fake_va))
            for name, (gamma, crit) in variants.items():
                torch.manual_seed(seed)
                model = Detector(_Backbone())
                cfg = TrainConfig(epochs=args.epochs, batch_size=16, crop_size=32, blur_prob=0.0, jpeg_prob=0.0,
                                  lr=args.lr, gamma=gamma, patience=args.epochs, seed=seed)
                criterion = None if crit is None or isinstance(crit, _SignedKL) else HRRLoss(gamma, crit)
                if isinstance(crit, _SignedKL):
                    criterion = crit
                t0 = time.perf_counter()
                res = train_detector(model, train, d / name.replace(" ", "_").replace("/", ""),
                                     val_samples=val, config=cfg, device="cpu", progress=False,
                                     criterion=criterion)
                from safetensors.torch import load_file

                model.load_state_dict(load_file(str(d / name.replace(" ", "_").replace("/", "") /
                                                    "model.safetensors")))
                p_val, f_val = _probs_and_feats(model, real_va + fake_va)
                p_b, _ = _probs_and_feats(model, real_va + fake_b)
                p_down, _ = _probs_and_feats(model, down)
                pq = batch_distributions(f_val, torch.from_numpy(y_val))
                results[name].append({
                    "ap": average_precision_score(y_val, p_val),
                    "ap_b": average_precision_score(y_val, p_b),
                    "ap_down": average_precision_score(y_val, p_down),
                    "kl": float(kl_divergence(*pq)) if pq is not None else float("nan"),
                    "norm": float(f_val.norm(dim=1).mean()),
                    "epoch": res.best_epoch,
                    "seconds": time.perf_counter() - t0,
                })
                print(f"seed {seed} {name:18s} AP {results[name][-1]['ap']:.3f} heldout {results[name][-1]['ap_b']:.3f}"
                      f" 0.5x {results[name][-1]['ap_down']:.3f} KL {results[name][-1]['kl']:.3f}", flush=True)

    def ms(values: list[float]) -> str:
        return f"{statistics.mean(values):.3f} ± {statistics.pstdev(values):.3f}"

    rows = []
    for name, runs in results.items():
        rows.append([name] + [ms([r[k] for r in runs]) for k in ("ap", "ap_b", "ap_down", "kl", "norm")]
                    + [f"{statistics.mean(r['seconds'] for r in runs):.1f}"])
    print()
    print(markdown_table(["variant", "val AP (gen A)", "AP held-out gen B", "AP at 0.5x", "KL(P||Q) val",
                          "feature norm", "s/run"], rows))


if __name__ == "__main__":
    main()
