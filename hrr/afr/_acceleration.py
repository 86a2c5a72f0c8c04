"""Safeguarded extrapolation of a monotone fixed-point iteration (the outer loops of the AFR solvers).

Both solvers of :class:`~hrr.CorrentropySAM` iterate a map F whose every application lowers the objective R of
Eq. (9): a half-quadratic step (Algorithm 1) or a majorise-minimise step with a fixed curvature bound. Both
converge only linearly, so :func:`descend` extrapolates over theta = (coef, intercept) with Anderson acceleration
or SQUAREM, and starts the next step from the extrapolated point only when R there is no worse than the best so
far. The path of R over the returned iterates therefore stays monotone and every returned model is an output of
F (a prox: exact zeros).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

_ANDERSON_MEMORY = 3  # 1, 3 and 5 needed 12, 11 and 11 HQ steps on the n=10k, p=200 probe (docs/afr.md)


class Anderson:
    """Anderson acceleration (type II, memory m) of the HQ map F over theta = (coef, intercept).

    From the last m + 1 pairs (x_i, g_i = F(x_i)) with residuals f_i = g_i - x_i it proposes
    g_k - dG gamma, gamma = argmin ||f_k - dF gamma|| (dF, dG: consecutive differences); the caller
    uses it as the next starting point only if its objective passes the safeguard.
    """

    def __init__(self, memory: int = _ANDERSON_MEMORY) -> None:
        self.memory = memory
        self._x: list[Tensor] = []
        self._g: list[Tensor] = []

    def propose(self, base: Tensor, new: Tensor, base_extrapolated: bool) -> Tensor | None:
        self._x = [*self._x, base][-(self.memory + 1) :]
        self._g = [*self._g, new][-(self.memory + 1) :]
        if len(self._x) < 2:
            return None
        g = torch.stack(self._g, dim=1)
        f = g - torch.stack(self._x, dim=1)
        df, dg = f[:, 1:] - f[:, :-1], g[:, 1:] - g[:, :-1]
        normal = df.T @ df
        # Tiny Tikhonov term: near convergence the residual differences become nearly collinear.
        ridge = 1e-10 * float(normal.diagonal().max()) + torch.finfo(normal.dtype).tiny
        normal = normal + ridge * torch.eye(normal.shape[0], dtype=normal.dtype, device=normal.device)
        gamma = torch.linalg.solve(normal, df.T @ f[:, -1])
        return g[:, -1] - dg @ gamma


class Squarem:
    """SQUAREM, scheme S3 (Varadhan & Roland 2008), over theta = (coef, intercept).

    From three consecutive iterates t0, t1 = F(t0), t2 = F(t1): r = t1 - t0, v = t2 - 2 t1 + t0,
    alpha = min(-||r|| / ||v||, -1) and t' = t0 - 2 alpha r + alpha^2 v. When t' passes the safeguard the
    next HQ step (the stabilising step) starts from it and the next chain is (t', F(t'), F(F(t'))): two HQ
    steps per cycle, which needed fewer steps than restarting the chain at F(t') (three per cycle).
    On rejection the chain slides on by one iterate.
    """

    def __init__(self) -> None:
        self._chain: list[Tensor] = []

    def propose(self, base: Tensor, new: Tensor, base_extrapolated: bool) -> Tensor | None:
        if base_extrapolated or not self._chain:
            self._chain = [base, new]
        else:
            self._chain.append(new)
        if len(self._chain) < 3:
            return None
        t0, t1, t2 = self._chain
        self._chain = self._chain[1:]
        r, v = t1 - t0, t2 - 2.0 * t1 + t0
        r_norm, v_norm = float(torch.linalg.vector_norm(r)), float(torch.linalg.vector_norm(v))
        if not v_norm > 0.0 or not math.isfinite(r_norm / v_norm):
            return None
        alpha = min(-r_norm / v_norm, -1.0)
        if alpha == -1.0:  # t' = t2: nothing to gain
            return None
        return t0 - (2.0 * alpha) * r + (alpha * alpha) * v


ACCELERATORS: dict[str, type[Anderson] | type[Squarem]] = {"anderson": Anderson, "squarem": Squarem}


@dataclass
class SolverResult:
    """A fit of Eq. (9) by one of the solvers."""

    coef: Tensor  # (p, d), exactly sparse
    intercept: float
    objective_path: list[float] = field(default_factory=list)
    n_iter: int = 0  # outer steps (applications of the solver's map)
    n_admm_iter: int = 0  # inner ADMM iterations, summed
    converged: bool = False
    admm_converged: bool = True  # did the last ADMM solve meet Eq. (22)?
    kkt: float = math.nan  # largest KKT violation of Eq. (9) at the result, where the solver measures it


class Iterate(Protocol):
    """A point of the outer loop: its objective R and its flattened (coef, intercept)."""

    objective: float

    def flat(self) -> Tensor: ...


@dataclass
class Descent:
    """What :func:`descend` returns: the last output of F, R along the way, and the step counts."""

    best: Iterate
    objective_path: list[float] = field(default_factory=list)
    n_iter: int = 0
    converged: bool = False


def descend(
    start: Iterate,
    step: Callable[[Iterate], tuple[Iterate, bool]],
    evaluate: Callable[[Tensor], Iterate],
    *,
    max_iter: int,
    converged: Callable[[Iterate, Iterate], bool],
    acceleration: str = "anderson",
    on_step: Callable[[Iterate], None] | None = None,
) -> Descent:
    """Iterate ``step`` (F) from ``start`` with safeguarded extrapolation.

    ``step(base) -> (new, accepted)``: one application of F; ``accepted`` False means F could not lower the
    majoriser at ``base`` (a fixed point up to the inner tolerance). ``evaluate(flat)`` makes an iterate from an
    extrapolated (coef, intercept). ``converged(previous, new)`` is the stopping rule. ``max_iter`` counts
    applications of F, steps from rejected extrapolations included; ``objective_path`` holds R at the start and
    after every accepted output of F.
    """
    out = Descent(best=start, objective_path=[start.objective])
    base, base_extrapolated = start, False  # where the next step starts
    accelerator = ACCELERATORS[acceleration]() if acceleration != "none" else None
    while out.n_iter < max_iter:
        new, accepted = step(base)
        out.n_iter += 1
        if on_step is not None:
            on_step(new)
        if not accepted and base_extrapolated:
            # F could not improve on the extrapolated point; go on plainly from the latest output of F.
            base, base_extrapolated = out.best, False
            continue
        previous, out.best = out.best, new
        out.objective_path.append(new.objective)
        if not accepted or converged(previous, new):
            out.converged = True
            break
        proposal = None if accelerator is None else accelerator.propose(base.flat(), new.flat(), base_extrapolated)
        base, base_extrapolated = new, False
        if proposal is not None and bool(torch.isfinite(proposal).all()):
            candidate = evaluate(proposal)
            # Safeguard: extrapolate only when R does not get worse than the best output of F so far.
            if candidate.objective <= new.objective:
                base, base_extrapolated = candidate, True
    return out
