"""Batches from what users hold: image tensors (with labels or not) or any DataLoader.

Shared by the adversarial-training and inverter-training loops so both accept the same inputs and fail the same
way at the boundary.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import torch
from torch import Tensor

from hrr._pixels import check_image_batch
from hrr._validate import check_int

Data = Any  # Tensor | tuple[Tensor, Tensor] | Iterable of Tensor or (Tensor, Tensor, ...)


def check_images(name: str, x: Any) -> Tensor:
    """A float batch (B, C, H, W), any C, with values in [0, 1]; raised at the boundary with the argument's name."""
    return check_image_batch(x, name, channels=None)


def check_labels(name: str, y: Any, n: int) -> Tensor:
    if not isinstance(y, Tensor) or y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise TypeError(f"{name} must be an integer torch.Tensor of class indices (B,), got "
                        f"{type(y).__name__}{'' if not isinstance(y, Tensor) else ' ' + str(y.dtype)}")
    if y.dim() != 1 or y.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},) to match the images, got {tuple(y.shape)}")
    return y.long()


class TensorBatches:
    """Re-iterable mini-batches over in-memory tensors, reshuffled each pass from a seeded generator."""

    def __init__(self, tensors: tuple[Tensor, ...], batch_size: int, *, shuffle: bool, seed: int) -> None:
        self.tensors = tensors
        self.batch_size = check_int("batch_size", batch_size, minimum=1)
        self.shuffle = shuffle
        self._generator = torch.Generator().manual_seed(int(seed))

    def __len__(self) -> int:
        return -(-self.tensors[0].shape[0] // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        n = self.tensors[0].shape[0]
        order = torch.randperm(n, generator=self._generator) if self.shuffle else torch.arange(n)
        for start in range(0, n, self.batch_size):
            index = order[start:start + self.batch_size]
            yield tuple(t[index] for t in self.tensors)


def as_batches(
    name: str, data: Data, batch_size: int, *, labelled: bool, shuffle: bool, seed: int
) -> Iterable[Any]:
    """``data`` as an iterable of batches: tensors become a seeded :class:`TensorBatches`; loaders pass through."""
    if isinstance(data, Tensor):
        if labelled:
            raise TypeError(f"{name} must be a pair (images, labels) or a DataLoader yielding (images, labels); "
                            "got a single tensor")
        return TensorBatches((check_images(name, data),), batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        images = check_images(f"{name}[0]", data[0])
        if not labelled:
            return TensorBatches((images,), batch_size, shuffle=shuffle, seed=seed)
        labels = check_labels(f"{name}[1]", data[1], images.shape[0])
        return TensorBatches((images, labels), batch_size, shuffle=shuffle, seed=seed)
    if isinstance(data, Iterable) and not isinstance(data, (str, bytes)):
        return data
    raise TypeError(f"{name} must be an image tensor (B, C, H, W), a pair (images, labels) or an iterable of "
                    f"batches such as a DataLoader; got {type(data).__name__}")


def split_batch(name: str, batch: Any, *, labelled: bool) -> tuple[Tensor, Tensor | None]:
    """(images, labels) from one batch: a tensor, or a tuple/list/dict whose first entries are images, labels."""
    if isinstance(batch, dict):
        images, labels = batch.get("image", batch.get("images")), batch.get("label", batch.get("labels"))
    elif isinstance(batch, Tensor):
        images, labels = batch, None
    elif isinstance(batch, (tuple, list)) and batch:
        images, labels = batch[0], (batch[1] if len(batch) > 1 else None)
    else:
        raise TypeError(f"each batch of {name} must be a tensor, a (images, labels, ...) tuple or a dict with "
                        f"'image'/'label' keys; got {type(batch).__name__}")
    if not isinstance(images, Tensor) or images.dim() != 4 or not torch.is_floating_point(images):
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"batches of {name} must carry float images (B, C, H, W) in [0, 1]; got {shape}")
    if labelled:
        if labels is None:
            raise ValueError(f"batches of {name} must carry labels (images, labels) for classification training")
        labels = check_labels(f"labels in {name}", labels, images.shape[0])
    return images, labels
