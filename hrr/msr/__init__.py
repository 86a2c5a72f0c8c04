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

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "MultiScaleRetrospector": "hrr.msr._engine",
    "LineEnhancer": "hrr.msr._line",
    "ManifestMismatchError": "hrr.msr._manifest",
    "WorkItem": "hrr.msr._planner",
    "DEFAULT_MODEL_ID": "hrr.msr._hub",
    "DiffusersImg2ImgRegenerator": "hrr.msr._img2img",
    "IdentityRegenerator": "hrr.msr._regenerators",
    "Regenerator": "hrr.msr._regenerators",
    "VAERegenerator": "hrr.msr._regenerators",
    "RunReport": "hrr.msr._runner",
    "item_seed": "hrr.msr._sizes",
    "target_size": "hrr.msr._sizes",
    "MSRViews": "hrr.msr._transform",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

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

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
    from hrr.msr._engine import MultiScaleRetrospector
    from hrr.msr._hub import DEFAULT_MODEL_ID
    from hrr.msr._img2img import DiffusersImg2ImgRegenerator
    from hrr.msr._line import LineEnhancer
    from hrr.msr._manifest import ManifestMismatchError
    from hrr.msr._planner import WorkItem
    from hrr.msr._regenerators import IdentityRegenerator, Regenerator, VAERegenerator
    from hrr.msr._runner import RunReport
    from hrr.msr._sizes import item_seed, target_size
    from hrr.msr._transform import MSRViews
