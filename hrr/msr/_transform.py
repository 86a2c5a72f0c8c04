"""The per-image maths of MSR (HRR paper Sec. III-A, Eqs. 2-3), without I/O and without state.

:class:`MSRTransform` turns one decoded image into the views of one scale (resize to the model's size, seeded noise,
line enhancement) and regenerates a batch of such views, flagging non-finite results per item. Everything it does is
fixed by its settings and the item's seed, so it can be shared by any number of runs and threads; what to do when the
model runs out of memory is the runner's business (:mod:`hrr.msr._runner`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hrr._pixels import check_image_array, tensor_to_arrays, to_tensor_batch, warn_upsampling
from hrr.msr._line import LineEnhancer
from hrr.msr._regenerators import Regenerator
from hrr.msr._sizes import ResizeMode, add_noise, item_seed, resize_to, target_size

__all__ = ["NON_FINITE_REASON", "MSRTransform", "MSRViews"]

NON_FINITE_REASON = (
    "the regenerated image contains NaN or infinity, most likely a float16 overflow in the model (running in "
    "{dtype}); run it in float32 or bfloat16 (--dtype), or use a VAE whose config sets force_upcast"
)


@dataclass
class MSRViews:
    """The views of one image at one scale (float32 ``(H, W, 3)`` arrays in ``[0, 1]``).

    Attributes
    ----------
    real : numpy.ndarray
        The resized real image (the detector's real sample at this scale).
    line_enhanced : numpy.ndarray
        What the regenerator was given: resized, noised and line-enhanced.
    regenerated : numpy.ndarray
        The pseudo-fake.
    seed : int
    """

    real: np.ndarray
    line_enhanced: np.ndarray
    regenerated: np.ndarray
    seed: int


@dataclass(frozen=True)
class MSRTransform:
    """Resize, noise, line-enhance and regenerate; the settings of :class:`~hrr.msr.MultiScaleRetrospector`.

    Parameters
    ----------
    regenerator : Regenerator
        The backend; only its ``regenerate`` (and ``dtype``, for messages) is used.
    size_multiple : int
        Every output side is a multiple of this.
    resize_mode : {"short_side", "square"}
    noise_std : float
        Standard deviation of the seeded Gaussian noise added after resizing.
    line_enhancer : LineEnhancer or None
        Eq. 2; ``None`` skips it.
    seed : int
        Base seed; item seeds are hashes of ``(seed, image_id, scale)``.
    """

    regenerator: Regenerator
    size_multiple: int
    resize_mode: ResizeMode
    noise_std: float
    line_enhancer: LineEnhancer | None
    seed: int

    def prepare(self, image: np.ndarray, image_id: str, scale: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(real_view, model_input, item_seed)`` of one image at one scale (see
        :meth:`~hrr.msr.MultiScaleRetrospector.prepare`)."""
        image = check_image_array(image, "image")
        # from the decoded size, not the planned one: a header can disagree with the pixels (EXIF after the data)
        size = target_size(image.shape[0], image.shape[1], scale, self.size_multiple, self.resize_mode)
        seed = item_seed(self.seed, image_id, scale)
        warn_upsampling(image.shape[:2], size, f"MSR at scale {scale}")
        real = resize_to(image, size, self.resize_mode)
        model_input = add_noise(real, self.noise_std, seed)
        if self.line_enhancer is not None:
            model_input = self.line_enhancer(model_input)
        return real, model_input, seed

    def regenerate(self, model_inputs: Sequence[np.ndarray], seeds: Sequence[int]) -> list[np.ndarray | None]:
        """Regenerate equally sized model inputs in one call of the backend.

        Parameters
        ----------
        model_inputs : sequence of numpy.ndarray
            Float ``(H, W, 3)`` views of one size, from :meth:`prepare`.
        seeds : sequence of int
            Their item seeds.

        Returns
        -------
        list
            One float32 ``(H, W, 3)`` array per input, or ``None`` where the result holds NaN or infinity
            (:meth:`non_finite_reason` says why).

        Raises
        ------
        RuntimeError
            The backend returned another shape. Its own errors, out-of-memory included, propagate unchanged.
        """
        images = to_tensor_batch(list(model_inputs))
        result = self.regenerator.regenerate(images, list(seeds))
        if result.shape != images.shape:
            raise RuntimeError(f"the regenerator returned shape {tuple(result.shape)} for {tuple(images.shape)}")
        # A NaN item must not reach the writer (whose range check would stop the whole run): flag it alone.
        finite = torch.isfinite(result).flatten(1).all(1).tolist()
        return [array if ok else None for ok, array in zip(finite, tensor_to_arrays(result), strict=True)]

    def non_finite_reason(self) -> str:
        """Why an item came back ``None`` from :meth:`regenerate`, naming the backend's dtype."""
        return NON_FINITE_REASON.format(dtype=getattr(self.regenerator, "dtype", "its dtype"))
