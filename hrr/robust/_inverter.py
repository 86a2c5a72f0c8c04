"""Feature inversion: a decoder G_φ trained to reconstruct images x from F_θ(x) (seed 003, A4.1, Tables A4-A5).

Training minimises, over the decoder (the encoder F stays frozen),

    λ_pix ‖G(F(x)) − x‖₁ + λ_feat ‖F(G(F(x))) − F(x)‖₂² + λ_GAN L_adv(G),

with the seed's weights λ_pix = 2e-6, λ_feat = 1e-2, λ_GAN = 100 (discriminator weight 2e-6), Adam with
β = (0, 0.9), learning rates 3e-4 (G) and 12e-4 (D) divided by 10 every 30 epochs, batch 128. The norms are
*sums* over pixels / feature entries per image, averaged over the batch: that is the scale at which the seed's
weights were set (224² RGB images, 6×6×256 features), so other sizes need rescaled weights (see docs/robust.md).

The decoder follows Table A4 but is derived from the shapes instead of hard-wired to AlexNet: a 3×3 conv at the
feature resolution, one stride-1 transposed conv that grows the map to H / 2^k when needed (6 → 7 for AlexNet),
then k stages of (4×4 stride-2 transposed conv, 3×3 conv), channels halving from the second stage on down to
``min_channels``, and a final 3×3 conv. Every conv is batch-normalised, ReLU-activated and (optionally) spectrally
normalised, as in the seed. The output is (tanh + 1) / 2 so images live in [0, 1] like everywhere in ``hrr``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from hrr._grad import autograd_tensor, check_autograd_module, enables_grad, replace_inference_tensors
from hrr._state import preserved_state
from hrr._training import EpochStats, StepOutput, TrainingLoop, repeat_batches
from hrr._validate import check_int, check_positive
from hrr.robust._data import Data, as_batches, split_batch
from hrr.robust._encoder import feature_shape


def _shape3(name: str, shape: Any) -> tuple[int, int, int]:
    """(C, h, w) from a 3-tuple, or (F, 1, 1) from a 1-tuple / int (vector features)."""
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(int(s) for s in shape)
    if len(shape) == 1:
        shape = (shape[0], 1, 1)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name} must be (C, H, W) (or (F,) for vector features) with positive sizes, got {shape}")
    return shape  # type: ignore[return-value]


def upsampling_plan(feature_hw: tuple[int, int], image_hw: tuple[int, int]) -> tuple[int, tuple[int, int]]:
    """(k, (h0, w0)): k stride-2 stages from an h0 × w0 map reach at least the image size, h0 >= feature size.

    k is the largest count for which ceil(H / 2^k) is still >= the feature height (and the same for widths);
    AlexNet's 6×6 conv5 to 224×224 gives k = 5 from 7×7, as in Table A4.
    """
    (h, w), (height, width) = feature_hw, image_hw
    if h > height or w > width:
        raise ValueError(f"the feature map ({h}x{w}) is larger than the image ({height}x{width}); invert a deeper "
                         "layer or upsample the images")
    k = 0
    while True:
        nh, nw = math.ceil(height / 2 ** (k + 1)), math.ceil(width / 2 ** (k + 1))
        if nh < h or nw < w or (nh == 1 and nw == 1):  # (1, 1): vector features need no further halving
            break
        k += 1
    return k, (math.ceil(height / 2**k), math.ceil(width / 2**k))


class FeatureInverter(nn.Module):
    """Decoder G_φ: features F(x) (B, C_f, h, w) or (B, F) → images (B, C, H, W) in [0, 1] (Table A4, generalised).

    Parameters
    ----------
    feature_shape : tuple
        (C_f, h, w) of the encoder output, or (F,) for a vector (treated as F × 1 × 1).
    image_shape : tuple
        (C, H, W) of the images to reconstruct.
    max_channels : int or None, default=None
        Width of the first layers (Table A4: the feature channels, 256). A smaller value makes a lighter decoder
        for wide features; later stages halve from it.
    min_channels : int, default=32
        Channel floor of the late stages (Table A4: 32).
    spectral_norm : bool, default=True
        Spectral normalisation on every conv / transposed conv (seed 003, A4.1).

    Examples
    --------
    >>> g = FeatureInverter((256, 6, 6), (3, 224, 224), spectral_norm=False)
    >>> g(torch.randn(1, 256, 6, 6)).shape
    torch.Size([1, 3, 224, 224])
    """

    def __init__(
        self,
        feature_shape: tuple[int, ...],
        image_shape: tuple[int, int, int],
        *,
        max_channels: int | None = None,
        min_channels: int = 32,
        spectral_norm: bool = True,
    ) -> None:
        super().__init__()
        self.feature_shape = _shape3("feature_shape", feature_shape)
        self.image_shape = _shape3("image_shape", image_shape)
        self.min_channels = check_int("min_channels", min_channels, minimum=1)
        self.max_channels = None if max_channels is None else check_int("max_channels", max_channels, minimum=1)
        self.spectral_norm = bool(spectral_norm)
        in_channels, h, w = self.feature_shape
        channels = in_channels if self.max_channels is None else min(in_channels, self.max_channels)
        image_channels, height, width = self.image_shape
        k, (h0, w0) = upsampling_plan((h, w), (height, width))
        self.n_stages = k
        sn = _spectral_norm if spectral_norm else (lambda m: m)

        def block(conv: nn.Module, out_channels: int) -> list[nn.Module]:
            return [sn(conv), nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True)]

        layers: list[nn.Module] = block(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), channels)
        if (h0, w0) != (h, w):  # Table A4 layers 2a-2b: stride-1 transposed conv, 6x6 -> 7x7 for AlexNet
            kernel = (h0 - h + 3, w0 - w + 3)
            layers += block(nn.ConvTranspose2d(channels, channels, kernel, stride=1, padding=1, bias=False), channels)
            layers += block(nn.Conv2d(channels, channels, 3, padding=1, bias=False), channels)
        current = channels
        for stage in range(k):
            out = max(self.min_channels, channels // 2**stage)
            layers += block(nn.ConvTranspose2d(current, current, 4, stride=2, padding=1, bias=False), current)
            layers += block(nn.Conv2d(current, out, 3, padding=1, bias=False), out)
            current = out
        layers.append(sn(nn.Conv2d(current, image_channels, 3, padding=1)))
        self.body = nn.Sequential(*layers)
        self._raw_size = (h0 * 2**k, w0 * 2**k)

    @classmethod
    def for_encoder(cls, encoder: nn.Module, image_shape: tuple[int, int, int], **kwargs: Any) -> FeatureInverter:
        """A decoder shaped for ``encoder``'s output on images of ``image_shape`` (C, H, W) (one probe forward)."""
        return cls(feature_shape(encoder, _shape3("image_shape", image_shape)), image_shape, **kwargs)

    def forward(self, features: Tensor) -> Tensor:
        """Images (B, C, H, W) in [0, 1] from features (B, *feature_shape) or (B, F)."""
        if features.dim() == 2:
            features = features[:, :, None, None]
        if tuple(features.shape[1:]) != self.feature_shape:
            raise ValueError(f"features must have shape (B, {', '.join(map(str, self.feature_shape))}); got "
                             f"{tuple(features.shape)}")
        out = self.body(features)
        _, height, width = self.image_shape
        if self._raw_size != (height, width):  # e.g. odd sizes: crop the centre of the slightly larger map
            top, left = (self._raw_size[0] - height) // 2, (self._raw_size[1] - width) // 2
            out = out[:, :, top:top + height, left:left + width]
        return (torch.tanh(out) + 1) / 2


class InversionDiscriminator(nn.Module):
    """Conditional discriminator of Table A5 (after Dosovitskiy & Brox): logit that an image is real given F(x).

    D₁: strided 3×3 convs (ReLU, 32 → 64 → 128 → 256 channels) until the map is at most 12×12, then global
    average pooling; D₂: an MLP (F → 1024 → 512) on the flattened target features; D₃: (256 + 512) → 512 → 1.
    It returns logits; Table A5's final sigmoid is folded into the binary cross-entropy for stability.
    """

    def __init__(self, feature_shape: tuple[int, ...], image_shape: tuple[int, int, int], *,
                 spectral_norm: bool = True) -> None:
        super().__init__()
        self.feature_shape = _shape3("feature_shape", feature_shape)
        image_channels, height, width = _shape3("image_shape", image_shape)
        sn = _spectral_norm if spectral_norm else (lambda m: m)
        layers: list[nn.Module] = []
        current, widths, size = image_channels, [32, 64, 128, 256], max(height, width)
        for i, out in enumerate(widths):
            stride = 2 if size > 12 or i == 0 else 1
            layers += [sn(nn.Conv2d(current, out, 3, stride=stride, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
            size = math.ceil(size / stride)
            current = out
        self.image_branch = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        n_features = math.prod(self.feature_shape)
        self.feature_branch = nn.Sequential(
            nn.Flatten(), sn(nn.Linear(n_features, 1024)), nn.LeakyReLU(0.2, inplace=True),
            sn(nn.Linear(1024, 512)), nn.LeakyReLU(0.2, inplace=True))
        self.head = nn.Sequential(sn(nn.Linear(256 + 512, 512)), nn.LeakyReLU(0.2, inplace=True), sn(nn.Linear(512, 1)))

    def forward(self, images: Tensor, features: Tensor) -> Tensor:
        """Logits (B,) for images (B, C, H, W) in [0, 1] and their target features (B, *feature_shape)."""
        joint = torch.cat([self.image_branch(images), self.feature_branch(features)], dim=1)
        return self.head(joint).squeeze(1)


def inversion_losses(
    encoder: nn.Module, images: Tensor, target: Tensor, reconstruction: Tensor
) -> tuple[Tensor, Tensor]:
    """Per-image pixel ‖x̂ − x‖₁ and feature ‖F(x̂) − F(x)‖₂² (sums over entries), shape (B,) each."""
    pixel = (reconstruction - images).abs().flatten(1).sum(dim=1)
    feature = (encoder(reconstruction) - target).pow(2).flatten(1).sum(dim=1)
    return pixel, feature


_INVERSION_METRICS = ("pixel", "feature", "adversarial", "disc", "total")  # per-epoch means, in history order


@enables_grad  # a training run: also under torch.no_grad() / torch.inference_mode()
def train_inverter(
    encoder: nn.Module,
    inverter: FeatureInverter,
    data: Data,
    *,
    epochs: int = 90,
    batch_size: int = 128,
    lr: float = 3e-4,
    betas: tuple[float, float] = (0.0, 0.9),
    lr_step: int = 30,
    lr_gamma: float = 0.1,
    pixel_weight: float = 2e-6,
    feature_weight: float = 1e-2,
    discriminator: InversionDiscriminator | None = None,
    adversarial_weight: float = 100.0,
    discriminator_weight: float = 2e-6,
    discriminator_lr: float = 12e-4,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``inverter`` to reconstruct images from ``encoder`` features (seed 003, A4.1 losses and schedule).

    The encoder is frozen for the whole call (its parameters, ``requires_grad`` flags, buffers and mode are left
    exactly as they were; it runs in eval mode). The adversarial term is used only when ``discriminator`` is
    given: non-saturating BCE, D trained on (x, F(x)) vs (G(F(x)), F(x)) with weight ``discriminator_weight``.

    Parameters
    ----------
    encoder : nn.Module
        F_θ, e.g. :class:`hrr.robust.LayerEncoder`. Must live on the same device as ``inverter``.
    inverter : FeatureInverter
        G_φ, trained in place.
    data : Tensor or iterable
        Images float (N, C, H, W) in [0, 1] (batched by ``batch_size`` and reshuffled from ``seed``), or an
        iterable of batches (tensor or (images, ...) tuples), e.g. a DataLoader.
    epochs, batch_size, lr, betas, lr_step, lr_gamma
        Adam and its step schedule (seed: 90, 128, 3e-4, (0, 0.9), ÷10 every 30 epochs).
    pixel_weight, feature_weight, adversarial_weight, discriminator_weight, discriminator_lr
        λ_pix, λ_feat, λ_GAN, λ_disc and D's learning rate (seed: 2e-6, 1e-2, 100, 2e-6, 12e-4).
    discriminator : InversionDiscriminator or None
        Enables the adversarial loss.
    seed : int
        Shuffling of tensor data.
    progress : bool
        tqdm bar per epoch.

    Returns
    -------
    list of dict
        Per epoch: ``epoch``, ``lr``, ``pixel`` and ``feature`` (mean per-image sums), ``adversarial``, ``disc``,
        ``total`` (weighted generator loss).

    Notes
    -----
    Autograd is switched on for the whole run, so it also trains when called under ``torch.no_grad()`` or
    ``torch.inference_mode()``; the caller's modes are restored afterwards.
    """
    if not isinstance(inverter, nn.Module):
        raise TypeError(f"inverter must be an nn.Module (FeatureInverter), got {type(inverter).__name__}")
    if not isinstance(encoder, nn.Module):
        raise TypeError(f"encoder must be an nn.Module, got {type(encoder).__name__}")
    epochs = check_int("epochs", epochs, minimum=1)
    lr_step = check_int("lr_step", lr_step, minimum=1)
    for name, value in (("lr", lr), ("lr_gamma", lr_gamma), ("discriminator_lr", discriminator_lr)):
        check_positive(name, value)
    weights = {name: check_positive(name, value, allow_zero=True) for name, value in (
        ("pixel_weight", pixel_weight), ("feature_weight", feature_weight),
        ("adversarial_weight", adversarial_weight), ("discriminator_weight", discriminator_weight))}
    if weights["pixel_weight"] == 0 and weights["feature_weight"] == 0 and discriminator is None:
        raise ValueError("pixel_weight and feature_weight are both 0 and no discriminator is given: nothing to train")
    batches = as_batches("data", data, batch_size, labelled=False, shuffle=True, seed=seed)
    check_autograd_module("encoder", encoder)  # frozen and left as it was: refused rather than swapped
    for module in (inverter, discriminator):  # trained here, optimizers made here: made trainable if needed
        if module is not None:
            replace_inference_tensors(module)
    step = _InversionStep(encoder, inverter, discriminator, weights, lr, discriminator_lr, betas)
    schedulers = [torch.optim.lr_scheduler.StepLR(opt, step_size=lr_step, gamma=lr_gamma) for opt in step.optimizers]
    if discriminator is not None:
        discriminator.train()
    inverter.train()

    def end_epoch(stats: EpochStats) -> dict[str, float]:
        return {"epoch": float(stats.epoch + 1), "lr": float(step.optimizers[0].param_groups[0]["lr"]),
                **{k: stats.mean(k) for k in _INVERSION_METRICS}}

    with preserved_state(encoder):
        encoder.eval()
        encoder.requires_grad_(False)
        history = TrainingLoop(step=step, batches=repeat_batches(batches), epochs=epochs, end_epoch=end_epoch,
                               metrics=dict.fromkeys(_INVERSION_METRICS, "mean"), schedulers=schedulers,
                               desc="inverter", progress=progress, require_data=True).run()
    inverter.eval()
    return history


class _InversionStep:
    """One batch of :func:`train_inverter`: a G step on the weighted losses, then (with a discriminator) a D step."""

    def __init__(self, encoder: nn.Module, inverter: nn.Module, discriminator: nn.Module | None,
                 weights: dict[str, float], lr: float, discriminator_lr: float, betas: tuple[float, float]) -> None:
        self.encoder, self.inverter, self.discriminator, self.weights = encoder, inverter, discriminator, weights
        self.device = next(inverter.parameters()).device
        self.optimizers = [torch.optim.Adam(inverter.parameters(), lr=lr, betas=betas)]
        if discriminator is not None:
            self.optimizers.append(torch.optim.Adam(discriminator.parameters(), lr=discriminator_lr, betas=betas))

    def __call__(self, batch: Any) -> StepOutput:
        images, _ = split_batch("data", batch, labelled=False)
        images = autograd_tensor(images.to(self.device))  # the discriminator saves it for backward
        with torch.no_grad():
            target = self.encoder(images)
        recon = self.inverter(target)
        pixel, feature = inversion_losses(self.encoder, images, target, recon)
        loss = self.weights["pixel_weight"] * pixel.mean() + self.weights["feature_weight"] * feature.mean()
        adv = disc = torch.zeros((), device=self.device)
        if self.discriminator is not None:
            adv = F.binary_cross_entropy_with_logits(
                self.discriminator(recon, target), torch.ones(images.shape[0], device=self.device))
            loss = loss + self.weights["adversarial_weight"] * adv
        g_opt = self.optimizers[0]
        g_opt.zero_grad(set_to_none=True)
        loss.backward()
        g_opt.step()
        if self.discriminator is not None:
            real = self.discriminator(images, target)
            fake = self.discriminator(recon.detach(), target)
            disc = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + \
                F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
            d_opt = self.optimizers[1]
            d_opt.zero_grad(set_to_none=True)
            (self.weights["discriminator_weight"] * disc).backward()
            d_opt.step()
        values = (pixel.mean(), feature.mean(), adv, disc, loss)
        return StepOutput({k: float(v.detach()) for k, v in zip(_INVERSION_METRICS, values, strict=True)},
                          size=images.shape[0])
