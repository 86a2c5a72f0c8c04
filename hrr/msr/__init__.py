"""Multi-scale Style Retrospection (MSR; HRR paper Sec. III-A, Eqs. 2-3, and Sec. IV-B).

Real images are shown at several scales, line-enhanced (Eq. 2) and regenerated through a latent diffusion model
(img2img, empty prompt), so a detector sees content-aligned pseudo-fakes that differ from the reals only by
generation traces.

Public API
----------
LineEnhancer
    Eq. 2, ``I + M * (f^n(I) - I)`` with ``M = h(g(f^n(I)))``.
MultiScaleRetrospector
    The resumable, shardable regeneration engine over folders of images.
DiffusersImg2ImgRegenerator, VAERegenerator, IdentityRegenerator
    Regenerator backends (any diffusers img2img pipeline, an autoencoder round trip, no-op).
Regenerator
    The backend protocol.
"""

from hrr.msr._engine import MultiScaleRetrospector
from hrr.msr._line import LineEnhancer
from hrr.msr._manifest import ManifestMismatchError
from hrr.msr._planner import WorkItem
from hrr.msr._regenerators import (
    DEFAULT_MODEL_ID,
    DiffusersImg2ImgRegenerator,
    IdentityRegenerator,
    Regenerator,
    VAERegenerator,
)
from hrr.msr._runner import RunReport
from hrr.msr._sizes import item_seed, target_size
from hrr.msr._transform import MSRViews

__all__ = [
    "DEFAULT_MODEL_ID",
    "DiffusersImg2ImgRegenerator",
    "IdentityRegenerator",
    "LineEnhancer",
    "MSRViews",
    "ManifestMismatchError",
    "MultiScaleRetrospector",
    "Regenerator",
    "RunReport",
    "VAERegenerator",
    "WorkItem",
    "item_seed",
    "target_size",
]
