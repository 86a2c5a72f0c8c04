"""Majorise-minimise with a fixed curvature bound: the default solver of Eq. (9).

The C-loss has a Lipschitz derivative: l''(r) <= L = 2 beta / sigma^2 for every r (``CLoss.curvature_bound``).
With r = y - b - Phi theta the Hessian of the mean loss in (b, theta) is therefore bounded by
L (1/n) [1 Phi]^T [1 Phi], a matrix that does not depend on the iterate. At (theta_t, b_t) with gradients
(g, g_b), the quadratic

    Q(theta, b) = R_t + g^T (theta - theta_t) + g_b (b - b_t)
                  + (L / 2n) || (b - b_t) 1 + Phi (theta - theta_t) ||^2 + lambda pen(theta)

majorises R and touches it at the iterate, so minimising Q lowers R (majorise-minimise, like Algorithm 1's
half-quadratic step, whose weights make a tighter but iterate-dependent bound). Minimising over b first gives
b = b_t - g_b / L - mu^T (theta - theta_t) with mu = Phi^T 1 / n, and leaves the group lasso

    min_theta  1/2 theta^T H theta - h^T theta + lambda pen(theta),
    H = L (G - mu mu^T),  G = Phi^T Phi / n,  h = H theta_t - (g - g_b mu),

whose H is the same at every step: one Gram pass and one factorisation (per ADMM penalty) serve the whole fit,
against one weighted Gram per step for Algorithm 1. Each step then costs one O(n dp) pass for the gradient and
a warm-started ADMM solve on (dp x dp) or, for wide problems, Woodbury's (n x n) system. Safeguarded SQUAREM
extrapolation (:mod:`hrr.afr._acceleration`) makes up for the looser bound. The fit stops on the optimality
conditions of Eq. (9) themselves (the largest per-group KKT violation and the intercept's gradient), not on a
slowing objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from hrr.afr._acceleration import SolverResult, descend
from hrr.afr._admm import DenseSystem, LinearSystem, WoodburySystem, admm_solve, subproblem_change
from hrr.afr._closs import CLoss
from hrr.afr._design import AdditiveDesign, gradient_pass, weighted_gram
from hrr.afr._penalties import GroupL2Penalty, L1Penalty

_INNER_TOL_CAP = 1e-3  # the inner tolerance follows the outer KKT violation (x 0.1), never looser than this
_TOL_EPS, _ADMM_TOL_EPS = 1000.0, 10.0  # tolerance floors in units of the working dtype's machine epsilon


@dataclass
class _Point:
    """An iterate with its objective R (Eq. 9), loss gradients and KKT violation."""

    coef: Tensor  # (p, d)
    intercept: float
    objective: float
    grad: Tensor  # (p, d): gradient of the mean loss in theta
    grad_intercept: float
    kkt: float

    def flat(self) -> Tensor:
        return torch.cat([self.coef.reshape(-1), self.coef.new_tensor([self.intercept])])


def curvature_system(design: AdditiveDesign, curvature: float, linear_solver: str) -> tuple[LinearSystem, Tensor]:
    """(H, mu): H = L (Phi^T Phi / n - mu mu^T) as a dense or Woodbury system, mu = Phi^T 1 / n."""
    n = design.n_samples
    dtype, device = design.basis.coeffs.dtype, design.x.device
    mu = torch.zeros(design.n_columns, dtype=dtype, device=device)
    for _rows, phi in design.chunks():
        mu += phi.sum(dim=0)
    mu /= n
    use_woodbury = linear_solver == "woodbury" or (
        linear_solver == "auto" and design.cached and n < design.n_columns
    )
    if use_woodbury:
        return WoodburySystem((design.dense() - mu) * math.sqrt(curvature / n)), mu
    everything = torch.arange(design.n_features, device=device)
    gram = weighted_gram(design, None, everything) / n - torch.outer(mu, mu)
    return DenseSystem(curvature * 0.5 * (gram + gram.T)), mu


@dataclass
class MajorizeMinimize:
    """Majorise-minimise with the C-loss's fixed curvature bound; see the module docstring.

    A solver object in the way of skglm's: it carries its own settings and minimises Eq. (9) (plus an unpenalised
    intercept) for any :class:`~hrr.afr._closs.CLoss` datafit and penalty with :meth:`solve`. It reaches the same
    stationary points as :class:`~hrr.afr._hq.HQADMM` (both are majorise-minimise methods; tests compare the
    objectives) at a fraction of the cost, because its majoriser's matrix is fixed.

    Attributes
    ----------
    max_iter : int
        Outer steps at most.
    tol : float
        Stop when the largest KKT violation of Eq. (9) (per group: the distance of the negative gradient to
        lambda times the penalty's subdifferential; and the intercept's gradient) is at most ``tol``. Never below
        1000 machine epsilons of the working dtype (1.2e-4 in float32), which round-off cannot certify.
    eta, max_admm_iter, admm_tol, accelerate
        The inner ADMM: initial penalty, iteration cap, the tightest Eq. (22) tolerance (the inner tolerance
        follows 0.1 x the outer KKT violation down to it), over-relaxation with residual balancing.
    acceleration : {"anderson", "squarem", "none"}
        Safeguarded extrapolation of the outer loop.
    linear_solver : {"auto", "dense", "woodbury"}
        ``"woodbury"`` factors n x n instead of dp x dp (needs the dense design); ``"auto"`` uses it when the
        design is cached and n < dp.
    progress : bool
        A tqdm bar over outer steps.
    """

    max_iter: int = 1000
    tol: float = 1e-6
    eta: float = 1.0
    max_admm_iter: int = 1000
    admm_tol: float = 1e-9
    accelerate: bool = True
    acceleration: str = "squarem"
    linear_solver: str = "auto"
    progress: bool = False
    working_set: bool = True

    def solve(self, design: AdditiveDesign, y: Tensor, datafit: CLoss, penalty: GroupL2Penalty | L1Penalty,
              lam: float, coef0: Tensor, intercept0: float) -> SolverResult:
        """Minimise Eq. (9) from (coef0, intercept0); ``y`` holds the labels as -1.0 / +1.0.

        With ``working_set``, when the groups that are active at the start or violate their optimality condition
        there are at most half of all groups, the steps run on those groups only (a design of their columns),
        and every group outside is checked once the working set has converged; violators join it and the solve
        goes on from where it stopped. Groups outside stay at zero, so the restricted objective is Eq. (9) itself
        and the result is a stationary point of the whole problem to the same ``tol``. Along a regularisation
        path most lambdas have a few active groups: their steps cost O(n |ws| d) instead of O(n p d).
        """
        if not self.working_set:
            return self._solve_all(design, y, datafit, penalty, lam, coef0, intercept0)
        tol, _ = self._tolerances(coef0.dtype)
        coef, intercept = coef0, intercept0
        _, grad, _ = _gradient(design, y, coef, intercept, datafit)
        violation = penalty.subdiff_distance(coef, grad, lam)
        members = torch.any(coef != 0, dim=1) | (violation > tol)
        total = SolverResult(coef=coef0, intercept=intercept0)
        while True:
            remaining = self.max_iter - total.n_iter
            size = int(members.sum())
            if size == 0 or 2 * size > design.n_features or remaining <= 0:  # nothing to restrict to, or little
                step = self._solve_all(design, y, datafit, penalty, lam, coef, intercept,
                                       max_iter=max(remaining, 0))
                return _merged(total, step, step.coef)
            features = members.nonzero().reshape(-1)
            step = self._solve_all(design.restricted(features), y, datafit, penalty, lam, coef[features],
                                   intercept, max_iter=remaining)
            coef = torch.zeros_like(coef0)
            coef[features] = step.coef
            intercept = step.intercept
            _, grad, grad_b = _gradient(design, y, coef, intercept, datafit)
            violation = penalty.subdiff_distance(coef, grad, lam)
            outside = ~members & (violation > tol)
            if not bool(outside.any()):
                merged = _merged(total, step, coef)
                merged.kkt = max(float(violation.max()), abs(grad_b))
                return merged
            total = _merged(total, step, coef)
            members = members | outside

    def _tolerances(self, dtype: torch.dtype) -> tuple[float, float]:
        """(tol, admm_tol) floored at what round-off in ``dtype`` can measure: float32 cannot certify 1e-6."""
        eps = torch.finfo(dtype).eps
        return max(self.tol, _TOL_EPS * eps), max(self.admm_tol, _ADMM_TOL_EPS * eps)

    def _solve_all(self, design: AdditiveDesign, y: Tensor, datafit: CLoss, penalty: GroupL2Penalty | L1Penalty,
                   lam: float, coef0: Tensor, intercept0: float, max_iter: int | None = None) -> SolverResult:
        """Majorise-minimise over every group of ``design`` (at most ``max_iter`` steps; default the setting)."""
        max_iter = self.max_iter if max_iter is None else max_iter
        curvature = datafit.curvature_bound

        def mm_system() -> tuple[LinearSystem, Tensor]:
            """Built at the first step only: a start that is already optimal (lam >= lambda_max) needs no Gram."""
            key = ("mm-system", curvature, self.linear_solver)  # the same at every lambda of a path: build once
            if key not in design.memo:
                design.memo[key] = curvature_system(design, curvature, self.linear_solver)
            return design.memo[key]
        tol, admm_tol = self._tolerances(coef0.dtype)
        shape = coef0.shape
        state = {"dual": torch.zeros_like(coef0), "eta": self.eta}
        result = SolverResult(coef=coef0, intercept=intercept0)

        def evaluate(coef: Tensor, intercept: float) -> _Point:
            loss, grad, grad_b = _gradient(design, y, coef.reshape(shape), intercept, datafit)
            kkt = max(float(penalty.subdiff_distance(coef, grad, lam).max()), abs(grad_b))
            return _Point(coef, intercept, float(loss + lam * penalty.value(coef)), grad, grad_b, kkt)

        def mm_step(base: _Point) -> tuple[_Point, bool]:
            system, mu = mm_system()
            flat = base.coef.reshape(-1)
            h = system.matvec(flat) - (base.grad.reshape(-1) - base.grad_intercept * mu)
            inner_tol = max(admm_tol, min(_INNER_TOL_CAP, 0.1 * base.kkt))
            coef = base.coef
            while True:
                step = admm_solve(system, h, lam, penalty, coef, state["dual"], state["eta"], self.max_admm_iter,
                                  inner_tol, self.accelerate)
                state["dual"], state["eta"], coef = step.dual, step.eta, step.coef
                result.n_admm_iter += step.n_iter
                result.admm_converged = step.converged
                # Majorise-minimise guarantee: keep the step only if it lowered the majoriser (an inexact ADMM
                # solve could otherwise raise R). Near a fixed point the inner tolerance that follows the KKT
                # violation can be too loose to do so: continue the same solve tighter, down to admm_tol.
                accepted = bool(subproblem_change(system, h, lam, penalty, base.coef, step.coef) <= 0.0)
                if accepted or inner_tol <= admm_tol:
                    break
                inner_tol = max(admm_tol, 0.01 * inner_tol)
            if not accepted:
                return base, False
            intercept = base.intercept - base.grad_intercept / curvature - float(mu @ (step.coef.reshape(-1) - flat))
            return evaluate(step.coef, intercept), True

        def converged(_previous: _Point, new: _Point) -> bool:
            return new.kkt <= tol

        start = evaluate(coef0, intercept0)
        with tqdm(total=max_iter, desc="CorrentropySAM MM", disable=not self.progress, leave=False) as bar:
            def on_step(new: _Point) -> None:
                bar.update(1)
                bar.set_postfix(objective=f"{new.objective:.6g}", kkt=f"{new.kkt:.1e}")

            if start.kkt <= tol or max_iter == 0:  # already optimal (e.g. lam >= lambda_max from the null model)
                out_best, path, n_iter, done = start, [start.objective], 0, True
            else:
                out = descend(start, mm_step,  # type: ignore[arg-type]
                              lambda flat: evaluate(flat[:-1].reshape(shape), float(flat[-1])),
                              max_iter=max_iter, converged=converged,  # type: ignore[arg-type]
                              acceleration=self.acceleration, on_step=on_step)  # type: ignore[arg-type]
                out_best, path, n_iter, done = out.best, out.objective_path, out.n_iter, out.converged
        best: _Point = out_best  # type: ignore[assignment]
        result.coef, result.intercept = best.coef, best.intercept
        result.objective_path, result.n_iter = path, n_iter
        # A rejected step is a fixed point only up to the inner tolerance: converged if the KKT test holds.
        result.converged = done and best.kkt <= max(tol, 10.0 * admm_tol)
        result.kkt = best.kkt
        return result


def _merged(before: SolverResult, step: SolverResult, coef: Tensor) -> SolverResult:
    """``step`` (whose coefficients, embedded in all groups, are ``coef``) after the steps counted in ``before``."""
    return SolverResult(
        coef=coef,
        intercept=step.intercept,
        objective_path=before.objective_path[:-1] + step.objective_path if before.objective_path
        else step.objective_path,
        n_iter=before.n_iter + step.n_iter,
        n_admm_iter=before.n_admm_iter + step.n_admm_iter,
        converged=step.converged,
        admm_converged=step.admm_converged,
        kkt=step.kkt,
    )


def _gradient(design: AdditiveDesign, y: Tensor, coef: Tensor, intercept: float,
              datafit: CLoss) -> tuple[Tensor, Tensor, float]:
    """``gradient_pass`` at (coef (p, d), intercept), the gradient shaped (p, d).

    The last one is kept in ``design.memo``: a warm-started path checks the working set of the next lambda at
    the point where the previous lambda's final check was made, and this saves that O(n p d) pass.
    """
    kept = design.memo.get("gradient")
    if (kept is not None and kept[0] == (datafit.sigma, intercept) and kept[1].shape == coef.shape
            and torch.equal(kept[1], coef)):
        return kept[2]
    loss, grad, grad_b = gradient_pass(design, y, coef.reshape(-1), intercept, datafit)
    out = (loss, grad.reshape(coef.shape), grad_b)
    design.memo["gradient"] = ((datafit.sigma, intercept), coef, out)
    return out
