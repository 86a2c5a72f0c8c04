"""Half-quadratic outer loop of Algorithm 1 (Appendix A, Eqs. 10-15), with working sets.

At the iterate theta_t the weights w_i = exp(-r_i^2 / sigma^2) (Eq. 13) define the majoriser

    J(theta) = const + (beta / (n sigma^2)) sum_i w_i r_i(theta)^2 + lambda * pen(theta)  >=  R(theta),

tight at theta_t, because exp(-u) is convex in u. Minimising J over theta is, after scaling by
sigma^2 / beta, the weighted group lasso of Eq. (15) with kappa = lambda sigma^2 / beta, solved by ADMM.
Every step that lowers J lowers the objective R (Eq. 9), which is why ``objective_path`` is monotone:
the step is accepted only when the subproblem objective did not increase (an ADMM stopped early could
otherwise break the guarantee).

Working sets. Forming the full weighted Gram costs O(n (dp)^2) per half-quadratic step, although with
feature selection most groups stay at zero. Each step therefore solves the subproblem on a working set S
(the current support plus the groups that violate the optimality condition most), then checks the KKT
condition of every group outside S with one O(n dp) pass and grows S until no group violates it. The
result is the solution of the full subproblem; only the Gram of S is ever formed. When S and the violators
together cover half of the groups or more, all groups are used at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from hrr.afr._acceleration import SolverResult, descend
from hrr.afr._admm import DenseSystem, LinearSystem, WoodburySystem, admm_solve, subproblem_change
from hrr.afr._closs import CLoss
from hrr.afr._design import AdditiveDesign, WeightedMoments, hq_pass, weighted_cross, weighted_gram
from hrr.afr._penalties import GroupL2Penalty, L1Penalty

_MIN_GROWTH = 10
_MAX_ROUNDS = 50


@dataclass
class SubproblemResult:
    coef: Tensor  # (p, d), exactly sparse
    dual: Tensor  # (p, d) scaled ADMM dual, for warm starts
    eta: float
    n_admm_iter: int
    admm_converged: bool
    accepted: bool  # False when the step would have raised the subproblem objective; coef is then coef0


def build_system(
    design: AdditiveDesign, moments: WeightedMoments, weights: Tensor, features: Tensor, linear_solver: str
) -> LinearSystem:
    """The ADMM system for H_SS: dense Gram, or Woodbury on B = sqrt(2/n) W^{1/2} (Phi_S - weighted mean)."""
    columns = design.columns(features)
    use_woodbury = linear_solver == "woodbury" or (
        linear_solver == "auto" and design.cached and design.n_samples < columns.numel()
    )
    if not use_woodbury:
        return DenseSystem(moments.hessian(weighted_gram(design, weights, features), columns))
    centred = design.dense().index_select(1, columns) - moments.phi_w[columns] / moments.sw_safe
    return WoodburySystem(centred * torch.sqrt(weights * (2.0 / design.n_samples))[:, None])


def _violations(
    penalty: GroupL2Penalty | L1Penalty, coef: Tensor, grad: Tensor, kappa: float, inside: Tensor
) -> Tensor:
    """KKT violation of every group, zeroed inside the working set (solved there by ADMM)."""
    return torch.where(
        inside, torch.zeros((), dtype=coef.dtype, device=coef.device), penalty.subdiff_distance(coef, grad, kappa)
    )


def _grow(inside: Tensor, violation: Tensor, tol: float) -> Tensor:
    """Add the worst violators (at least 10, or as many as S already has). Use all groups at once when S and
    every violator together reach half of them: a dense solution gains nothing from growing rounds."""
    violating = violation > tol
    if 2 * int((inside | violating).sum()) >= inside.numel():
        return torch.ones_like(inside)
    budget = min(int(violating.sum()), max(_MIN_GROWTH, int(inside.sum())))
    grown = inside.clone()
    if budget:
        grown[torch.topk(violation, budget).indices] = True
    return grown


def solve_subproblem(
    design: AdditiveDesign,
    moments: WeightedMoments,
    weights: Tensor,
    *,
    penalty: GroupL2Penalty | L1Penalty,
    kappa: float,
    coef0: Tensor,
    dual0: Tensor,
    eta: float,
    max_admm_iter: int,
    admm_tol: float,
    accelerate: bool = True,
    linear_solver: str = "auto",
    working_set: bool = True,
) -> SubproblemResult:
    """One half-quadratic step: the weighted group lasso of Eq. (15) at fixed weights, from (coef0, dual0).

    ``moments`` must come from ``hq_pass`` at ``coef0`` (its ``phi_wf`` gives the gradient there).
    """
    h = moments.linear_term()

    def gradient(cross: Tensor, coef: Tensor) -> Tensor:  # H coef - h, from cross = Phi^T W Phi coef
        return (moments.hessian_product(cross, coef.reshape(-1)) - h).reshape(coef.shape)

    grad = gradient(moments.phi_wf, coef0)
    support = torch.any(coef0 != 0, dim=1)
    inside = (
        _grow(support, _violations(penalty, coef0, grad, kappa, support), admm_tol)
        if working_set
        else torch.ones_like(support)
    )
    coef, dual = coef0, dual0  # the ADMM warm start; each round starts from the previous one
    n_admm, admm_converged = 0, True
    system = features = columns = None
    for _round in range(_MAX_ROUNDS):
        features = torch.nonzero(inside).reshape(-1)
        if features.numel() == 0:  # theta = 0 satisfies the KKT conditions of this subproblem
            system = None
            break
        system = build_system(design, moments, weights, features, linear_solver)
        columns = design.columns(features)
        step = admm_solve(
            system, h[columns], kappa, penalty, coef[features], dual[features], eta, max_admm_iter, admm_tol, accelerate
        )
        n_admm, admm_converged, eta = n_admm + step.n_iter, step.converged, step.eta
        coef, dual = torch.zeros_like(coef0), torch.zeros_like(dual0)
        coef[features], dual[features] = step.coef, step.dual
        if bool(inside.all()):
            break
        step_grad = gradient(weighted_cross(design, weights, coef.reshape(-1)), coef)
        violation = _violations(penalty, coef, step_grad, kappa, inside)
        if float(violation.max()) <= admm_tol:
            break
        inside = _grow(inside, violation, admm_tol)
    # Majorise-minimise guarantee: keep the step only if it did not raise the subproblem objective.
    # Both iterates are supported inside the final working set, so H_SS is all that is needed.
    accepted = system is None or bool(
        subproblem_change(system, h[columns], kappa, penalty, coef0[features], coef[features]) <= 0.0
    )
    if not accepted:
        coef, dual = coef0, dual0
    return SubproblemResult(coef, dual, eta, n_admm, admm_converged, accepted)


@dataclass
class _Point:
    """An iterate with what the next HQ step needs: its objective R (Eq. 9), weights and moments."""

    coef: Tensor  # (p, d)
    intercept: float
    objective: float
    weights: Tensor
    moments: WeightedMoments

    def flat(self) -> Tensor:
        return torch.cat([self.coef.reshape(-1), self.coef.new_tensor([self.intercept])])


@dataclass
class HQADMM:
    """Algorithm 1 of Appendix A: half-quadratic reweighting (Eqs. 10-15), each step an ADMM solve (Eqs. 16-22).

    A solver object in the way of skglm's: it carries its own settings and minimises Eq. (9) (plus an unpenalised
    intercept) for any :class:`~hrr.afr._closs.CLoss` datafit and penalty with :meth:`solve`.

    Attributes
    ----------
    max_iter : int
        Half-quadratic steps at most (one weighted Gram and one ADMM solve each).
    tol : float
        Stop when a step lowers R by at most ``tol * max(1, R)``.
    eta, max_admm_iter, admm_tol, accelerate
        ADMM penalty (initial value with ``accelerate``), iteration cap, Eq. (22) tolerance, and over-relaxation
        with residual balancing.
    acceleration : {"anderson", "squarem", "none"}
        Safeguarded extrapolation of the outer loop (:func:`hrr.afr._acceleration.descend`).
    working_set, linear_solver
        See :func:`solve_subproblem` and :func:`build_system`.
    progress : bool
        A tqdm bar over half-quadratic steps.
    """

    max_iter: int = 100
    tol: float = 1e-5
    eta: float = 0.1
    max_admm_iter: int = 1000
    admm_tol: float = 1e-6
    accelerate: bool = True
    acceleration: str = "anderson"
    working_set: bool = True
    linear_solver: str = "auto"
    progress: bool = False

    def solve(self, design: AdditiveDesign, y: Tensor, datafit: CLoss, penalty: GroupL2Penalty | L1Penalty,
              lam: float, coef0: Tensor, intercept0: float) -> SolverResult:
        """Minimise Eq. (9) from (coef0, intercept0); ``y`` holds the labels as -1.0 / +1.0."""
        sigma = datafit.sigma
        kappa = lam * sigma**2 / datafit.beta
        shape = coef0.shape
        state = {"dual": torch.zeros_like(coef0), "eta": self.eta}
        result = SolverResult(coef=coef0, intercept=intercept0)

        def evaluate(coef: Tensor, intercept: float) -> _Point:
            loss, weights, moments = hq_pass(design, y, coef.reshape(-1), intercept, sigma)
            return _Point(coef, intercept, float(loss + lam * penalty.value(coef)), weights, moments)

        def hq_step(base: _Point) -> tuple[_Point, bool]:
            step = solve_subproblem(
                design, base.moments, base.weights, penalty=penalty, kappa=kappa, coef0=base.coef,
                dual0=state["dual"], eta=state["eta"], max_admm_iter=self.max_admm_iter, admm_tol=self.admm_tol,
                accelerate=self.accelerate, linear_solver=self.linear_solver, working_set=self.working_set,
            )
            # The dual of the latest step warm-starts the next one, from an extrapolated point too.
            state["dual"], state["eta"] = step.dual, step.eta
            result.n_admm_iter += step.n_admm_iter
            result.admm_converged = step.admm_converged
            intercept = float(base.moments.profiled_intercept(step.coef.reshape(-1)))
            return evaluate(step.coef, intercept), step.accepted

        def converged(previous: _Point, new: _Point) -> bool:
            return previous.objective - new.objective <= self.tol * max(1.0, abs(previous.objective))

        with tqdm(total=self.max_iter, desc="CorrentropySAM HQ", disable=not self.progress, leave=False) as bar:
            def on_step(new: _Point) -> None:
                bar.update(1)
                bar.set_postfix(objective=f"{new.objective:.6g}", groups=int(torch.any(new.coef != 0, dim=1).sum()))

            out = descend(evaluate(coef0, intercept0), hq_step,  # type: ignore[arg-type]
                          lambda flat: evaluate(flat[:-1].reshape(shape), float(flat[-1])),
                          max_iter=self.max_iter, converged=converged,  # type: ignore[arg-type]
                          acceleration=self.acceleration, on_step=on_step)  # type: ignore[arg-type]
        best: _Point = out.best  # type: ignore[assignment]
        result.coef, result.intercept = best.coef, best.intercept
        result.objective_path, result.n_iter, result.converged = out.objective_path, out.n_iter, out.converged
        return result
