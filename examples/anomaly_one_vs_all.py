"""One-vs-all anomaly detection with inverted standard and adversarially robust features (seed 003, Table A1).

The shape of Table A1 on data that ships with scikit-learn (8×8 handwritten digits, upsampled to 16×16):

1. Two encoders with the same small CNN: a standard one (cross-entropy, ε = 0) and an AR one (PGD-ℓ2 adversarial
   training, :func:`hrr.robust.train_robust`), trained on the training split of all ten classes. (The seed's
   encoders are ImageNet classifiers applied to CIFAR-10; here the classifier's own training split stands in.)
2. For every class c and each encoder, a :class:`hrr.robust.FeatureInverter` trained on the training images of c
   only (pixel ℓ1 + feature ℓ2, the seed's A1 weights rescaled to these image and feature sizes).
3. Every test image is scored by Eq. 8 (:class:`hrr.robust.InversionAnomalyScore`: latent optimisation from
   Gaussian noise, 100 iterations, learning rate 0.1 → 0.001); AUROC for "not class c" on the whole test split.

Writes ``table_a1.md`` (AUROC per class: standard, AR, and the AR encoder with the standard autoencoder's loss
weights, which separates the encoder's effect from the weights'; plus the encoders' clean / robust accuracy),
``auroc_per_class.png`` and ``reconstructions.png`` to ``--out``.

Run:  python examples/anomaly_one_vs_all.py [--quick] [--out anomaly_out]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

from hrr.robust import (
    FeatureInverter,
    InversionAnomalyScore,
    LayerEncoder,
    one_vs_all_auroc,
    robust_accuracy,
    train_inverter,
    train_robust,
)

# Seed 003 sets its weights for 224x224x3 images and 6x6x256 features with losses summed over entries;
# rescaling by the entry counts keeps each term's share of the criterion at these sizes.
SEED_PIXELS, SEED_FEATURES = 3 * 224 * 224, 256 * 6 * 6
WEIGHTS = {"standard": (2e-3, 1e-2), "AR": (2e-6, 1e-2)}  # (alpha_pix, alpha_feat), A1.2
# Table columns: (encoder, weights). The third one separates the encoder's effect from the weights'.
COLUMNS = {"standard": ("standard", "standard"), "AR": ("AR", "AR"), "AR, standard weights": ("AR", "standard")}


def digits(size: int, seed: int) -> tuple[torch.Tensor, ...]:
    data = load_digits()
    images = torch.tensor(data.images, dtype=torch.float32)[:, None] / 16.0
    images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    labels = torch.tensor(data.target)
    idx_train, idx_test = train_test_split(np.arange(len(labels)), test_size=0.5, stratify=labels.numpy(),
                                           random_state=seed)
    return images[idx_train], labels[idx_train], images[idx_test], labels[idx_test]


def make_classifier() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),   # "5": the layer that is inverted, 32x4x4
        nn.Flatten(), nn.Linear(32 * 4 * 4, 10),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="anomaly_out")
    parser.add_argument("--quick", action="store_true", help="3 classes, shorter training (about a minute)")
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--eps", type=float, default=1.0, help="l2 radius of AR training (seed: 3 at 224x224x3)")
    parser.add_argument("--encoder-epochs", type=int, default=30)
    parser.add_argument("--inverter-epochs", type=int, default=150)
    parser.add_argument("--iterations", type=int, default=100, help="i_max of Eq. 8")
    parser.add_argument("--test-per-class", type=int, default=30, help="test images per class that are scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    classes = list(range(3)) if args.quick else list(range(10))
    enc_epochs = 15 if args.quick else args.encoder_epochs
    inv_epochs = 40 if args.quick else args.inverter_epochs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    x_train, y_train, x_test, y_test = digits(args.size, args.seed)
    scored = torch.cat([torch.nonzero(y_test == c)[: args.test_per_class, 0] for c in range(10)])
    x_scored, y_scored = x_test[scored], y_test[scored]

    encoders: dict[str, LayerEncoder] = {}
    accuracy: dict[str, tuple[float, float]] = {}
    for name, eps in (("standard", 0.0), ("AR", args.eps)):
        torch.manual_seed(args.seed)
        net = make_classifier()
        train_robust(net, (x_train, y_train), epochs=enc_epochs, lr=0.05, lr_step=max(1, enc_epochs // 3),
                     batch_size=64, eps=eps, steps=7, step_size=eps / 6 if eps else 0.5, seed=args.seed,
                     progress=False)
        net.eval()
        accuracy[name] = (robust_accuracy(net, x_test, y_test, eps=0.0),
                          robust_accuracy(net, x_test, y_test, eps=args.eps, steps=20))
        encoders[name] = LayerEncoder(net, "5")
        print(f"{name} encoder: clean acc {accuracy[name][0]:.3f}, PGD-l2 eps={args.eps} acc "
              f"{accuracy[name][1]:.3f} ({time.perf_counter() - start:.0f} s)", flush=True)

    image_shape = tuple(x_train.shape[1:])
    feature_numel = 32 * 4 * 4
    scale_pix, scale_feat = SEED_PIXELS / x_train[0].numel(), SEED_FEATURES / feature_numel
    table: dict[str, dict[int, float]] = {name: {} for name in COLUMNS}
    examples: dict[str, dict[int, torch.Tensor]] = {name: {} for name in COLUMNS}
    for c in classes:
        positives = x_train[y_train == c]
        for name, (encoder_name, weights_name) in COLUMNS.items():
            encoder = encoders[encoder_name]
            pix, feat = WEIGHTS[weights_name]
            torch.manual_seed(args.seed + c)
            inverter = FeatureInverter.for_encoder(encoder, image_shape)  # type: ignore[arg-type]
            train_inverter(encoder, inverter, positives, epochs=inv_epochs, batch_size=32,
                           lr_step=max(1, inv_epochs // 3 * 2), pixel_weight=pix * scale_pix,
                           feature_weight=feat * scale_feat, seed=args.seed, progress=False)
            scorer = InversionAnomalyScore(encoder, inverter, iterations=args.iterations,
                                           pixel_weight=pix * scale_pix, feature_weight=feat * scale_feat,
                                           batch_size=512, seed=args.seed)
            result = scorer.invert(x_scored, keep_reconstructions=True)
            table[name][c] = one_vs_all_auroc(result.scores, y_scored.numpy(), c)
            assert result.reconstructions is not None
            examples[name][c] = result.reconstructions
        row = ", ".join(f"{name} {table[name][c]:.4f}" for name in COLUMNS)
        print(f"class {c}: AUROC {row} ({time.perf_counter() - start:.0f} s)", flush=True)

    lines = ["| positive class | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for c in classes:
        lines.append(f"| {c} | " + " | ".join(f"{table[name][c]:.4f}" for name in COLUMNS) + " |")
    mean = {name: float(np.mean(list(table[name].values()))) for name in table}
    lines.append("| **average** | " + " | ".join(f"**{mean[name]:.4f}**" for name in COLUMNS) + " |")
    lines += ["", f"| encoder | clean accuracy | PGD-ℓ2 accuracy (ε = {args.eps:g}, 20 steps) |", "|---|---|---|"]
    lines += [f"| {name} | {accuracy[name][0]:.3f} | {accuracy[name][1]:.3f} |" for name in accuracy]
    report = "\n".join(lines)
    (out / "table_a1.md").write_text(report + "\n")
    (out / "table_a1.json").write_text(json.dumps({"auroc": table, "accuracy": accuracy, "args": vars(args)},
                                                  indent=2))
    print(report)

    fig, ax = plt.subplots(figsize=(7, 3))
    width = 0.8 / len(COLUMNS)
    positions = np.arange(len(classes))
    for i, name in enumerate(COLUMNS):
        offset = (i - (len(COLUMNS) - 1) / 2) * width
        ax.bar(positions + offset, [table[name][c] for c in classes], width, label=f"{name} (mean {mean[name]:.3f})")
    ax.axhline(0.5, color="gray", lw=0.8, ls="--")
    ax.set_xticks(positions, [str(c) for c in classes])
    ax.set_xlabel("positive (normal) class")
    ax.set_ylabel("one-vs-all AUROC")
    ax.set_ylim(0, 1)
    ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "auroc_per_class.png", dpi=120)
    plt.close(fig)

    c0 = classes[0]
    shown = torch.cat([torch.nonzero(y_scored == c)[:1, 0] for c in range(8)])  # one image of each digit 0-7
    rows = [("input", x_scored[shown])] + [(f"{name}\nG of class {c0}", examples[name][c0][shown]) for name in COLUMNS]
    fig, axes = plt.subplots(len(rows), 8, figsize=(8, 1.15 * len(rows)))
    for r, (label, imgs) in enumerate(rows):
        for i in range(8):
            axes[r, i].imshow(imgs[i, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r, i].set_xticks([])
            axes[r, i].set_yticks([])
            if r == 0:
                axes[r, i].set_title(f"label {int(y_scored[shown[i]])}", fontsize=7)
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "reconstructions.png", dpi=120)
    plt.close(fig)
    elapsed = time.perf_counter() - start
    print(f"wrote {out / 'table_a1.md'}, auroc_per_class.png, reconstructions.png in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
