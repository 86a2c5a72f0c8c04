"""Adversarially robust (AR) classifiers: PGD-ℓ2 adversarial training (Madry et al.), as used by seed 003.

Madry et al. train with the saddle-point objective

    min_θ  E_{(x, y)} [ max_{‖δ‖₂ ≤ ε} CE(f_θ(x + δ), y) ],

the inner maximum approximated by projected gradient ascent: the library's :func:`hrr.gan.pgd` (Tang et al.,
Eq. 13 is the same iteration). Seed 003, A4.1 (AR AlexNet on ImageNet): ℓ2 ball, ε = 3, 7 steps of size 0.5,
SGD with initial learning rate 0.1 divided by 10 every 30 epochs, 90 epochs, batch 256. These are the defaults
here; ε = 0 gives the standard (cross-entropy only) model the seed compares with. Table A3 sweeps ε from 0 to 3.5
on CIFAR-10: ε must be chosen for the image size (an ℓ2 radius grows with √(C·H·W)).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hrr._grad import autograd_tensor, check_autograd_module, enables_grad, replace_inference_tensors
from hrr._precision import autocast, grad_scaler
from hrr._state import preserved_state, unwrap
from hrr._training import EpochStats, StepOutput, TrainingLoop, repeat_batches
from hrr._validate import check_choice, check_clamp, check_generator, check_int, check_positive
from hrr.gan import pgd
from hrr.robust._data import Data, as_batches, check_images, check_labels, split_batch


@dataclass(frozen=True)
class AdversarialStep:
    """What one :meth:`AdversarialTraining.step` did.

    Attributes
    ----------
    loss : float
        Cross-entropy on the perturbed batch (the loss that was minimised).
    accuracy : float
        Accuracy of the model on the perturbed batch, before the update (robust training accuracy).
    max_perturbation : float
        Largest per-sample ``‖x_adv − x‖`` in the batch (``<= eps``; 0 for standard training).
    """

    loss: float
    accuracy: float
    max_perturbation: float


def _perturbation_norm(delta: Tensor, norm: str) -> Tensor:
    flat = delta.detach().flatten(1).double()
    return flat.abs().amax(dim=1) if norm == "linf" else flat.norm(dim=1)


class AdversarialTraining:
    """One PGD adversarial-training step at a time (Madry et al.; seed 003, A4.1 defaults), any classifier.

    ``step(x, y)`` perturbs the batch with PGD to *maximise* the cross-entropy inside the ε-ball, then takes one
    optimizer step on the cross-entropy of the perturbed batch. The attack forwards leave BatchNorm statistics,
    modes and ``requires_grad`` flags untouched (:func:`hrr.gan.preserved_state`); the update forward is the
    only one that moves them. Nothing is kept between calls except what ``optimizer`` and ``scaler`` keep.

    Parameters
    ----------
    model : nn.Module
        Classifier mapping images (B, C, H, W) in [0, 1] to logits (B, K). May be wrapped by DDP/accelerate.
    optimizer : torch.optim.Optimizer
        Optimizer over ``model``'s parameters (SGD in the seed). An accelerate-prepared optimizer works.
    eps : float, default=3.0
        Radius of the ℓ2 (or ℓ∞) ball; 0 disables the attack (standard training).
    steps : int, default=7
        PGD steps.
    step_size : float, default=0.5
        PGD step α (the seed: 0.5 for ε = 3).
    norm : {"l2", "linf"}, default="l2"
    random_start : bool, default=False
        Start the attack uniformly inside the ball instead of at ``x`` (drawn from the ``generator`` of ``step``).
    clamp : (low, high) or None, default=(0.0, 1.0)
        Keep ``x + δ`` a valid image.
    amp_dtype : torch.dtype or None
        Run forwards under ``torch.autocast`` with this dtype (``torch.float16`` / ``torch.bfloat16``); ignored
        when ``accelerator`` is given (its own mixed-precision setting applies).
    scaler : torch.amp.GradScaler or None
        Loss scaler for float16 training; its scale also protects the attack's input gradients from underflow.
    accelerator : accelerate.Accelerator or None
        Use ``accelerator.autocast()`` and ``accelerator.backward`` (model/optimizer prepared by the caller).

    Examples
    --------
    >>> net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    >>> trainer = AdversarialTraining(net, torch.optim.SGD(net.parameters(), lr=0.1), eps=0.5, step_size=0.2)
    >>> out = trainer.step(torch.rand(4, 3, 8, 8), torch.tensor([0, 1, 0, 1]))
    >>> out.max_perturbation <= 0.5
    True
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: Any,
        *,
        eps: float = 3.0,
        steps: int = 7,
        step_size: float = 0.5,
        norm: Literal["l2", "linf"] = "l2",
        random_start: bool = False,
        clamp: tuple[float, float] | None = (0.0, 1.0),
        amp_dtype: torch.dtype | None = None,
        scaler: Any = None,
        accelerator: Any = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module classifier, got {type(model).__name__}")
        if not hasattr(optimizer, "step") or not hasattr(optimizer, "zero_grad"):
            raise TypeError(f"optimizer must be a torch optimizer (step/zero_grad), got {type(optimizer).__name__}")
        if amp_dtype is not None and amp_dtype not in (torch.float16, torch.bfloat16):
            raise ValueError(f"amp_dtype must be None, torch.float16 or torch.bfloat16, got {amp_dtype!r}")
        self.model = model
        self.optimizer = optimizer
        self.eps = check_positive("eps", eps, allow_zero=True)
        self.steps = check_int("steps", steps, minimum=1)
        self.step_size = check_positive("step_size", step_size)
        self.norm = check_choice("norm", norm, ("l2", "linf"))
        self.random_start = bool(random_start)
        self.clamp = check_clamp("clamp", clamp)
        self.amp_dtype = amp_dtype
        self.scaler = scaler
        self.accelerator = accelerator

    def _autocast(self, device: torch.device) -> contextlib.AbstractContextManager[Any]:
        if self.accelerator is not None:
            return self.accelerator.autocast()
        return autocast(device, self.amp_dtype)

    def perturb(self, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        """PGD images ``x + δ`` (``‖δ‖ <= eps``) maximising the cross-entropy of ``model`` on labels ``y``.

        ``x``: float (B, C, H, W) in [0, 1]; ``y``: class indices (B,). Returns a detached tensor like ``x``.
        """
        x = check_images("x", x)
        y = check_labels("y", y, x.shape[0])
        check_generator("generator", generator)
        if self.eps == 0:
            return x.detach()
        check_autograd_module("model", self.model)
        y = autograd_tensor(y.to(x.device))  # saved for backward by the loss: no inference tensor

        def loss_fn(z: Tensor) -> Tensor:
            with self._autocast(z.device):
                logits = self.model(z)
            return F.cross_entropy(logits.float(), y)

        scale = float(self.scaler.get_scale()) if self.scaler is not None and self.scaler.is_enabled() else 1.0
        return pgd(loss_fn, x, self.eps, self.step_size, self.steps, norm=self.norm,  # type: ignore[arg-type]
                   random_start=self.random_start, clamp=self.clamp, loss_scale=scale, module=self.model,
                   generator=generator)

    @enables_grad  # a training step: also under torch.no_grad() / torch.inference_mode()
    def step(self, x: Tensor, y: Tensor, *, generator: torch.Generator | None = None) -> AdversarialStep:
        """Attack the batch, then one optimizer step on CE(model(x_adv), y). Returns an :class:`AdversarialStep`.

        Autograd is switched on for the call (also under ``torch.no_grad()`` / ``torch.inference_mode()``), and
        inference-mode inputs are copied to normal tensors; the caller's modes are restored afterwards.
        """
        check_autograd_module("model", self.model)  # the caller's optimizer holds these parameters: no swap
        x, y = autograd_tensor(x), autograd_tensor(y)
        x_adv = self.perturb(x, y, generator=generator)
        y = y.long().to(x.device)
        with self._autocast(x.device):
            logits = self.model(x_adv)
        loss = F.cross_entropy(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.accelerator is not None:
            self.accelerator.backward(loss)
            self.optimizer.step()
        elif self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        accuracy = float((logits.detach().argmax(dim=1) == y).float().mean())
        return AdversarialStep(float(loss.detach()), accuracy, float(_perturbation_norm(x_adv - x, self.norm).max()))

    def __repr__(self) -> str:
        return (f"AdversarialTraining(eps={self.eps}, steps={self.steps}, step_size={self.step_size}, "
                f"norm={self.norm!r}, random_start={self.random_start}, clamp={self.clamp})")


def _model_device(model: nn.Module) -> torch.device:
    param = next(iter(model.parameters()), None)
    return param.device if param is not None else torch.device("cpu")


@enables_grad  # a training run: also under torch.no_grad() / torch.inference_mode()
def train_robust(
    model: nn.Module,
    data: Data,
    *,
    epochs: int = 90,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    lr_step: int = 30,
    lr_gamma: float = 0.1,
    batch_size: int = 256,
    eps: float = 3.0,
    steps: int = 7,
    step_size: float = 0.5,
    norm: Literal["l2", "linf"] = "l2",
    random_start: bool = False,
    clamp: tuple[float, float] | None = (0.0, 1.0),
    amp_dtype: torch.dtype | None = None,
    accelerator: Any = None,
    seed: int = 0,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train ``model`` in place with PGD adversarial training (seed 003, A4.1); ``eps=0`` trains it plainly.

    SGD (momentum 0.9, weight decay 1e-4: the Robustness library's defaults, which the seed used; it lists only
    the learning rate schedule), learning rate ``lr`` divided by ``1/lr_gamma`` every ``lr_step`` epochs.

    Parameters
    ----------
    model : nn.Module
        Classifier, images (B, C, H, W) in [0, 1] → logits (B, K). Trained where it lives (its device).
    data : (images, labels) tensors or an iterable of (images, labels) batches (e.g. a DataLoader)
        Images float (N, C, H, W) in [0, 1], labels int64 (N,). Tensors are batched by ``batch_size`` and
        reshuffled every epoch from ``seed``.
    epochs, lr, momentum, weight_decay, lr_step, lr_gamma, batch_size
        Optimisation (seed: 90 epochs, 0.1, ÷10 every 30, batch 256).
    eps, steps, step_size, norm, random_start, clamp
        The attack, as in :class:`AdversarialTraining` (seed: ℓ2, 3, 7, 0.5).
    amp_dtype : torch.dtype or None
        Autocast dtype (float16 uses a ``GradScaler`` on CUDA).
    accelerator : accelerate.Accelerator or None
        If given, model, optimizer and data loader are ``accelerator.prepare``-d (DDP, mixed precision).
    seed : int
        Seeds the shuffling of tensor data and the attack's random start.
    progress : bool
        Show a tqdm bar per epoch.

    Returns
    -------
    list of dict
        One row per epoch: ``epoch``, ``lr``, ``loss`` (mean adversarial CE), ``accuracy`` (on the perturbed
        batches), ``max_perturbation``.

    Notes
    -----
    Autograd is switched on for the whole run, so it also trains when called under ``torch.no_grad()`` or
    ``torch.inference_mode()``; the caller's modes are restored afterwards.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module classifier, got {type(model).__name__}")
    epochs = check_int("epochs", epochs, minimum=1)
    lr_step = check_int("lr_step", lr_step, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    for name, value in (("lr", lr), ("lr_gamma", lr_gamma)):
        check_positive(name, value)
    check_positive("momentum", momentum, allow_zero=True)
    check_positive("weight_decay", weight_decay, allow_zero=True)
    batches = as_batches("data", data, batch_size, labelled=True, shuffle=True, seed=seed)
    replace_inference_tensors(model)  # a model built under inference_mode becomes trainable (optimizer made here)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=lr_step, gamma=lr_gamma)
    model, optimizer, batches, device = _placed(model, optimizer, batches, batch_size, seed, accelerator)
    scaler = None if accelerator is not None else grad_scaler(device, amp_dtype)  # accelerate scales on its own
    trainer = AdversarialTraining(model, optimizer, eps=eps, steps=steps, step_size=step_size, norm=norm,
                                  random_start=random_start, clamp=clamp, amp_dtype=amp_dtype, scaler=scaler,
                                  accelerator=accelerator)
    generator = torch.Generator(device=device).manual_seed(seed) if random_start else None
    model.train()

    def step(batch: Any) -> StepOutput:  # the trainer attacks and updates: the loop only reduces its metrics
        images, labels = split_batch("data", batch, labelled=True)
        assert labels is not None
        images, labels = images.to(device), labels.to(device)
        out = trainer.step(images, labels, generator=generator)
        return StepOutput(asdict(out), size=images.shape[0])

    def end_epoch(stats: EpochStats) -> dict[str, float]:
        return {"epoch": float(stats.epoch + 1), "lr": float(optimizer.param_groups[0]["lr"]),
                "loss": stats.mean("loss"), "accuracy": stats.mean("accuracy"),
                "max_perturbation": stats.values["max_perturbation"]}

    quiet = not progress or (accelerator is not None and not accelerator.is_local_main_process)
    return TrainingLoop(step=step, batches=repeat_batches(batches), epochs=epochs, end_epoch=end_epoch,
                        metrics={"loss": "mean", "accuracy": "mean", "max_perturbation": "max"},
                        schedulers=(scheduler,), desc="AR training", progress=not quiet, require_data=True).run()


def _placed(model: nn.Module, optimizer: Any, batches: Any, batch_size: int, seed: int,
            accelerator: Any) -> tuple[nn.Module, Any, Any, torch.device]:
    """Model, optimizer and batches where they train: ``accelerator.prepare``-d (DDP, mixed precision), or as is.

    Returns them with the device the batches go to.
    """
    if accelerator is None:
        return model, optimizer, batches, _model_device(model)
    if not isinstance(batches, torch.utils.data.DataLoader):
        tensors = getattr(batches, "tensors", None)
        if tensors is None:
            raise TypeError("with an accelerator, data must be (images, labels) tensors or a DataLoader")
        batches = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(*tensors), batch_size=batch_size, shuffle=True,
            generator=torch.Generator().manual_seed(seed))
    model, optimizer, batches = accelerator.prepare(model, optimizer, batches)
    return model, optimizer, batches, accelerator.device


def robust_accuracy(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    eps: float,
    steps: int = 7,
    step_size: float | None = None,
    norm: Literal["l2", "linf"] = "l2",
    clamp: tuple[float, float] | None = (0.0, 1.0),
    random_start: bool = False,
    batch_size: int = 256,
    seed: int = 0,
) -> float:
    """Accuracy of ``model`` (in eval mode) under a PGD attack of radius ``eps``; ``eps=0`` is clean accuracy.

    Parameters
    ----------
    model : nn.Module
        Classifier, images → logits. Its modes and buffers are left as they were.
    images : Tensor
        Float (N, C, H, W) in [0, 1].
    labels : Tensor
        Int (N,).
    eps, steps, norm, clamp, random_start
        The attack (the library's :func:`hrr.gan.pgd`).
    step_size : float or None
        Default ``2.5 * eps / steps`` (Madry et al.'s rule).
    batch_size : int
    seed : int
        For ``random_start``.

    Returns
    -------
    float
        Fraction of samples still classified correctly after the attack. The same under ``torch.no_grad()`` or
        ``torch.inference_mode()`` (the attack switches autograd on for its input gradients only).
    """
    images = check_images("images", images)
    labels = check_labels("labels", labels, images.shape[0])
    eps = check_positive("eps", eps, allow_zero=True)
    steps = check_int("steps", steps, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    step = 2.5 * eps / steps if step_size is None else check_positive("step_size", step_size)
    check_choice("norm", norm, ("l2", "linf"))
    clamp = check_clamp("clamp", clamp)
    if eps > 0:
        check_autograd_module("model", model)
    device = _model_device(model)
    generator = torch.Generator(device=device).manual_seed(seed) if random_start else None
    correct = 0
    inner = unwrap(model)
    with preserved_state(inner):
        inner.eval()
        for start in range(0, images.shape[0], batch_size):
            x = images[start:start + batch_size].to(device)
            y = autograd_tensor(labels[start:start + batch_size].to(device))  # the attack's loss saves it
            if eps > 0:
                def loss_fn(z: Tensor, y: Tensor = y) -> Tensor:
                    return F.cross_entropy(inner(z).float(), y)

                x = pgd(loss_fn, x, eps, step, steps, norm=norm, random_start=random_start, clamp=clamp,
                        generator=generator)
            with torch.no_grad():
                correct += int((inner(x).argmax(dim=1) == y).sum())
    return correct / images.shape[0]
