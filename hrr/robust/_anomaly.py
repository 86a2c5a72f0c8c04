"""Inversion-based anomaly score of seed 003, A1 (Eq. 8), and one-vs-all AUROC.

For an image x the latent code is searched from white Gaussian noise,

    f̂ = argmin_f  α_pix ‖G(f) − x‖₁ + α_feat ‖F(G(f)) − F(x)‖₂²                      (Eq. 8)

by plain gradient descent for i_max = 100 iterations with a learning rate decaying linearly from 0.1 to 0.001
(A1.2, "Iterative Optimization Details"). A generator trained on one class reconstructs that class well and
everything else badly, so the criterion at f̂ scores how anomalous x is. Each image's code is optimised on its own
loss (the batch objective is the *sum* of per-image criteria and G runs in eval mode), so a score does not depend
on the batch it was computed in, and every image's starting noise is drawn from its own seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from hrr._grad import autograd_tensor, check_autograd_module, enables_grad
from hrr._state import preserved_state
from hrr._validate import check_choice, check_int, check_positive
from hrr.robust._data import check_images
from hrr.robust._encoder import feature_shape as _probe_shape

ScoreKind = Literal["objective", "pixel", "feature"]


def linear_schedule(start: float, end: float, iterations: int) -> np.ndarray:
    """Learning rates of A1.2: ``start`` at the first iteration, linearly down to ``end`` at the last."""
    iterations = check_int("iterations", iterations, minimum=1)
    if iterations == 1:
        return np.array([float(start)])
    return np.linspace(float(start), float(end), iterations)


@dataclass
class InversionResult:
    """Everything :meth:`InversionAnomalyScore.invert` computed, per image (N images, T iterations).

    Attributes
    ----------
    scores : ndarray (N,)
        The anomaly score selected by ``score`` (higher = more anomalous).
    objective, pixel, feature : ndarray (N,)
        Eq. 8 at f̂, and its two terms unweighted: ‖G(f̂) − x‖₁ and ‖F(G(f̂)) − F(x)‖₂² (sums over entries).
    loss_path : ndarray (T + 1, N)
        Eq. 8 per image before each iteration and after the last.
    lr_path : ndarray (T,)
        The learning rate used at each iteration.
    reconstructions : Tensor (N, C, H, W) or None
        G(f̂) in [0, 1] (CPU), when ``keep_reconstructions``.
    """

    scores: np.ndarray
    objective: np.ndarray
    pixel: np.ndarray
    feature: np.ndarray
    loss_path: np.ndarray
    lr_path: np.ndarray
    reconstructions: Tensor | None = None


class InversionAnomalyScore:
    """Anomaly score by latent optimisation through a trained inverter (seed 003, A1, Eq. 8).

    Parameters
    ----------
    encoder : nn.Module
        F_θ (frozen), e.g. :class:`hrr.robust.LayerEncoder` of a standard or AR classifier.
    inverter : nn.Module
        G_φ, trained on the normal class (:func:`hrr.robust.train_inverter`); maps latents to images in [0, 1].
    iterations : int, default=100
        i_max of A1.2.
    lr, final_lr : float, default=0.1, 0.001
        Linear learning-rate schedule of A1.2 (plain gradient descent on each latent).
    pixel_weight, feature_weight : float, default=2e-6, 1e-2
        α_pix, α_feat (A1.2, AR autoencoder; the standard one used α_pix = 2e-3). Sums over entries, see
        :func:`hrr.robust.train_inverter` for the scale.
    score : {"objective", "pixel", "feature"}, default="objective"
        Which reconstruction error is returned as the score: Eq. 8 at f̂, or one of its terms.
    batch_size : int, default=64
    seed : int, default=0
        Image ``i`` (its position in the call) starts from noise drawn with seed ``(seed, i)``.
    progress : bool, default=False

    Examples
    --------
    >>> from hrr.robust import FeatureInverter
    >>> enc = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU())
    >>> gen = FeatureInverter.for_encoder(enc, (1, 8, 8), spectral_norm=False).eval()
    >>> scorer = InversionAnomalyScore(enc, gen, iterations=5)
    >>> scorer(torch.rand(3, 1, 8, 8)).shape
    (3,)
    """

    def __init__(
        self,
        encoder: nn.Module,
        inverter: nn.Module,
        *,
        iterations: int = 100,
        lr: float = 0.1,
        final_lr: float = 0.001,
        pixel_weight: float = 2e-6,
        feature_weight: float = 1e-2,
        score: ScoreKind = "objective",
        batch_size: int = 64,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        for name, module in (("encoder", encoder), ("inverter", inverter)):
            if not isinstance(module, nn.Module):
                raise TypeError(f"{name} must be an nn.Module, got {type(module).__name__}")
        self.encoder = encoder
        self.inverter = inverter
        self.iterations = check_int("iterations", iterations, minimum=1)
        self.lr = check_positive("lr", lr)
        self.final_lr = check_positive("final_lr", final_lr)
        self.pixel_weight = check_positive("pixel_weight", pixel_weight, allow_zero=True)
        self.feature_weight = check_positive("feature_weight", feature_weight, allow_zero=True)
        if self.pixel_weight == 0 and self.feature_weight == 0:
            raise ValueError("pixel_weight and feature_weight cannot both be 0")
        self.score = check_choice("score", score, ("objective", "pixel", "feature"))
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.seed = int(seed)
        self.progress = bool(progress)

    def _latent_shape(self, images: Tensor) -> tuple[int, ...]:
        shape = getattr(self.inverter, "feature_shape", None)
        if shape is not None:
            return tuple(shape)
        return _probe_shape(self.encoder, tuple(images.shape[1:]))  # type: ignore[arg-type]

    def _noise(self, start: int, count: int, shape: tuple[int, ...], like: Tensor) -> Tensor:
        rows = [torch.randn(shape, generator=torch.Generator().manual_seed(self.seed * 1_000_003 + start + i))
                for i in range(count)]
        return torch.stack(rows).to(device=like.device, dtype=like.dtype)

    @enables_grad  # the latent descent needs autograd, also when scoring inside no_grad / inference_mode
    def invert(self, images: Tensor, *, keep_reconstructions: bool = False) -> InversionResult:
        """Solve Eq. 8 for every image (float (N, C, H, W) in [0, 1]) and return all the errors.

        Gives the same result under ``torch.no_grad()`` or ``torch.inference_mode()`` (autograd is switched on for
        the call and inference-mode images are copied to normal tensors); the caller's modes are restored.
        """
        images = check_images("images", images)
        check_autograd_module("encoder", self.encoder)
        check_autograd_module("inverter", self.inverter)
        param = next(iter(self.inverter.parameters()), None)
        device = param.device if param is not None else images.device
        dtype = param.dtype if param is not None else torch.float32
        schedule = linear_schedule(self.lr, self.final_lr, self.iterations)
        shape = self._latent_shape(images)
        n = images.shape[0]
        path = np.empty((self.iterations + 1, n))
        final = {key: np.empty(n) for key in ("objective", "pixel", "feature")}
        recons: list[Tensor] = []
        starts = range(0, n, self.batch_size)
        with preserved_state(self.encoder, self.inverter):
            self.encoder.eval()
            self.inverter.eval()
            self.encoder.requires_grad_(False)
            self.inverter.requires_grad_(False)
            for start in tqdm(starts, desc="Eq. 8 inversion", disable=not self.progress, leave=False):
                x = autograd_tensor(images[start:start + self.batch_size].to(device=device, dtype=dtype))
                with torch.no_grad():
                    target = self.encoder(x)
                latent = self._noise(start, x.shape[0], shape, x).requires_grad_(True)
                stop = start + x.shape[0]
                for t, step in enumerate(schedule):
                    objective, _, _ = self._criterion(latent, x, target)
                    path[t, start:stop] = objective.detach().double().cpu().numpy()
                    (grad,) = torch.autograd.grad(objective.sum(), latent)
                    with torch.no_grad():
                        latent -= float(step) * grad
                with torch.no_grad():
                    objective, pixel, feature, recon = self._criterion(latent, x, target, with_image=True)
                path[-1, start:stop] = objective.double().cpu().numpy()
                final["objective"][start:stop] = path[-1, start:stop]
                final["pixel"][start:stop] = pixel.double().cpu().numpy()
                final["feature"][start:stop] = feature.double().cpu().numpy()
                if keep_reconstructions:
                    recons.append(recon.detach().float().cpu())
        return InversionResult(
            scores=final[self.score].copy(), objective=final["objective"], pixel=final["pixel"],
            feature=final["feature"], loss_path=path, lr_path=schedule,
            reconstructions=torch.cat(recons) if keep_reconstructions else None)

    def _criterion(self, latent: Tensor, x: Tensor, target: Tensor, *, with_image: bool = False) -> Any:
        recon = self.inverter(latent)
        if recon.shape != x.shape:
            raise ValueError(f"the inverter produces images of shape {tuple(recon.shape[1:])}, but the images are "
                             f"{tuple(x.shape[1:])}")
        pixel = (recon - x).abs().flatten(1).sum(dim=1)
        feature = (self.encoder(recon) - target).pow(2).flatten(1).sum(dim=1)
        objective = self.pixel_weight * pixel + self.feature_weight * feature
        if with_image:
            return objective, pixel, feature, recon
        return objective, pixel, feature

    def __call__(self, images: Tensor) -> np.ndarray:
        """Anomaly scores (N,) for images float (N, C, H, W) in [0, 1]; higher means less like the training class."""
        return self.invert(images).scores


def auroc(is_anomaly: Any, scores: Any) -> float:
    """Area under the ROC curve of ``scores`` for the positives ``is_anomaly`` (Mann–Whitney U, ties count ½).

    AUROC = P(score of a random anomaly > score of a random normal sample), computed by scikit-learn's
    ``roc_auc_score``, with the inputs checked here so a bad call names its argument.
    """
    labels = np.asarray(is_anomaly)
    values = np.asarray(scores, dtype=np.float64)
    if labels.ndim != 1 or values.shape != labels.shape:
        raise ValueError(f"is_anomaly and scores must be 1-D of the same length; got {labels.shape} and "
                         f"{values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("scores contain NaN or inf")
    positive = labels.astype(bool)
    if set(np.unique(labels).tolist()) - {0, 1}:
        raise ValueError(f"is_anomaly must be binary (0/1 or bool), got values {np.unique(labels)[:5]}")
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"AUROC needs both normal and anomalous samples; got {n_pos} anomalies, {n_neg} normal")
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(positive, values))


def one_vs_all_auroc(scores: Any, labels: Any, normal_class: Any) -> float:
    """Table A1's protocol: AUROC of ``scores`` for detecting every sample whose label is not ``normal_class``."""
    labels = np.asarray(labels)
    if normal_class not in set(labels.tolist()):
        raise ValueError(f"normal_class {normal_class!r} does not occur in labels")
    return auroc(labels != normal_class, scores)
