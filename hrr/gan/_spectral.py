"""Largest singular value W_σ of discriminator weights by warm-started power iteration (Tang et al., §4.3).

Weights are read as matrices the way spectral normalisation (Miyato et al.) does: a Linear weight as is,
a Conv weight (out, in, kh, kw) reshaped to (out, in·kh·kw), a ConvTranspose weight (in, out, kh, kw) with
``out`` moved to the front first. This is the "weight matrix" the paper names; it is not the operator norm of
the convolution (which can be up to √(kh·kw) times larger).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from hrr._state import preserved_state, unwrap
from hrr._validate import check_choice, check_int

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
SigmaOf = Literal["last", "max", "product"]


def weight_matrix(module: nn.Module) -> Tensor:
    """The 2-D matrix view (out, rest) of a Linear / Conv / ConvTranspose module's weight, detached."""
    w = module.weight.detach()
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        w = w.transpose(0, 1)
    return w.reshape(w.shape[0], -1)


def _normalize(v: Tensor) -> Tensor:
    return v / v.norm().clamp_min(1e-12)


def power_iteration(
    matrix: Tensor, u: Tensor | None = None, n_iter: int = 100, generator: torch.Generator | None = None
) -> tuple[float, Tensor]:
    """Estimate the largest singular value of ``matrix`` (2-D) by ``n_iter`` power iterations.

    Parameters
    ----------
    matrix : Tensor
        (m, n) float matrix.
    u : Tensor or None
        Warm-start left vector of length m (from a previous call); random if None.
    n_iter : int
        Iterations, >= 1.
    generator : torch.Generator or None
        RNG for the random start.

    Returns
    -------
    (sigma, u)
        ``sigma = uᵀ W v`` (a lower bound converging to σ_max) and the updated left vector.

    Examples
    --------
    >>> s, _ = power_iteration(torch.diag(torch.tensor([3.0, 1.0])), n_iter=50)
    >>> round(s, 4)
    3.0
    """
    if matrix.dim() != 2:
        raise ValueError(f"matrix must be 2-D, got shape {tuple(matrix.shape)}")
    check_int("n_iter", n_iter, minimum=1)
    w = matrix.detach()
    if w.dtype not in (torch.float32, torch.float64):
        w = w.float()
    if u is None:
        dev = generator.device if generator is not None else w.device
        u = torch.randn(w.shape[0], generator=generator, device=dev, dtype=w.dtype).to(w.device)
    u = _normalize(u.to(device=w.device, dtype=w.dtype))
    with torch.no_grad():
        v = _normalize(w.t() @ u)
        for _ in range(n_iter):
            u = _normalize(w @ v)
            v = _normalize(w.t() @ u)
        sigma = float(torch.dot(u, w @ v))
    return abs(sigma), u


class SpectralNormEstimator:
    """Cached W_σ of every Linear/Conv layer of a module, refreshed every ``refresh_every`` calls.

    The left singular vectors are kept in this object (explicit state; see :meth:`state_dict`) and warm-start
    the next refresh, so one power iteration per refresh tracks slowly drifting weights.

    Parameters
    ----------
    module : nn.Module
        The discriminator (or its head); DDP/compile wrappers are unwrapped.
    n_power_iterations : int
        Iterations per refresh (after the first).
    refresh_every : int
        Recompute every N calls of :meth:`update`; between refreshes the cached values are returned.
    init_iterations : int
        Cold-start iterations at the first refresh (random Gaussian weights have almost no spectral gap, so a
        1 % accurate cold estimate needs ~100).
    seed : int
        Seed for the initial random vectors (a private generator; the global RNG is not touched).

    Examples
    --------
    >>> est = SpectralNormEstimator(torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Linear(5, 1)))
    >>> sorted(est.update())
    ['0', '1']
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        n_power_iterations: int = 1,
        refresh_every: int = 1,
        init_iterations: int = 100,
        seed: int = 0,
    ) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module must be an nn.Module, got {type(module).__name__}")
        self.module = module
        self.n_power_iterations = check_int("n_power_iterations", n_power_iterations, minimum=1)
        self.refresh_every = check_int("refresh_every", refresh_every, minimum=1)
        self.init_iterations = check_int("init_iterations", init_iterations, minimum=1)
        self.seed = int(seed)
        self.layers: dict[str, nn.Module] = {
            name: sub for name, sub in unwrap(module).named_modules() if isinstance(sub, _WEIGHTED)
        }
        if not self.layers:
            raise ValueError("module has no Linear/Conv/ConvTranspose layer whose weight W_σ could be measured")
        self._u: dict[str, Tensor] = {}
        self.sigmas: dict[str, float] = {}
        self.calls = 0

    @property
    def last_layer(self) -> str:
        """Name of the last weighted layer in registration order (the one consuming the embedding)."""
        return next(reversed(self.layers))

    def refresh(self) -> dict[str, float]:
        """Run power iteration on every layer now (cold start on the first call) and return the σ per layer."""
        gen = None
        # reading a parametrized weight (e.g. torch's spectral_norm) runs its power iteration in place: protect it
        with torch.no_grad(), preserved_state(self.module):
            matrices = {name: weight_matrix(layer) for name, layer in self.layers.items()}
        for name, matrix in matrices.items():
            u = self._u.get(name)
            if u is None:
                if gen is None:
                    gen = torch.Generator(device="cpu").manual_seed(self.seed)
                u0 = torch.randn(matrix.shape[0], generator=gen, dtype=torch.float64).to(matrix.device)
                sigma, u = power_iteration(matrix, u0, self.init_iterations)
            else:
                sigma, u = power_iteration(matrix, u, self.n_power_iterations)
            self._u[name] = u
            self.sigmas[name] = sigma
        return dict(self.sigmas)

    def update(self) -> dict[str, float]:
        """Count one call; refresh if this is the first call or a multiple of ``refresh_every``."""
        if not self.sigmas or self.calls % self.refresh_every == 0:
            self.refresh()
        self.calls += 1
        return dict(self.sigmas)

    def sigma(self, which: SigmaOf | str = "last") -> float:
        """Reduce the cached per-layer values.

        ``"last"``: the last layer's σ (default, Tang et al. §4.2: the attacked embedding feeds the last layer);
        ``"max"``: the largest per-layer σ; ``"product"``: ∏ σ_i (Ẇ of Theorem 1, an upper bound on the
        Lipschitz constant of the whole network with 1-Lipschitz activations); or a layer name.
        """
        if not self.sigmas:
            self.refresh()
        if which == "last":
            return self.sigmas[self.last_layer]
        if which == "max":
            return max(self.sigmas.values())
        if which == "product":
            out = 1.0
            for s in self.sigmas.values():
                out *= s
            return out
        if which in self.sigmas:
            return self.sigmas[which]
        raise ValueError(f"which must be 'last', 'max', 'product' or a layer name in {sorted(self.sigmas)}, "
                         f"got {which!r}")

    def state_dict(self) -> dict[str, object]:
        """Cached vectors, values and call count (to resume training with the same warm start)."""
        return {"u": {k: v.clone() for k, v in self._u.items()}, "sigmas": dict(self.sigmas), "calls": self.calls}

    def load_state_dict(self, state: dict[str, object]) -> None:
        u = state["u"]
        if not isinstance(u, dict) or set(u) != set(self.layers):
            raise ValueError(f"state['u'] must hold vectors for layers {sorted(self.layers)}")
        self._u = {k: v.clone() for k, v in u.items()}
        self.sigmas = dict(state["sigmas"])  # type: ignore[call-overload]
        self.calls = int(state["calls"])  # type: ignore[call-overload]


def check_sigma_of(value: str) -> str:
    if value in ("last", "max", "product"):
        return value
    if isinstance(value, str) and value:
        return value
    return check_choice("sigma_of", value, ("last", "max", "product", "<layer name>"))
