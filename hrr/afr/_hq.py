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

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from hrr.afr._admm import DenseSystem, LinearSystem, WoodburySystem, admm_solve, subproblem_objective
from hrr.afr._closs import closs_beta
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


@dataclass
class HQResult:
    coef: Tensor  # (p, d)
    intercept: float
    objective_path: list[float] = field(default_factory=list)
    n_iter: int = 0
    n_admm_iter: int = 0
    converged: bool = False
    admm_converged: bool = True  # did the last ADMM solve meet Eq. (22)?


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
        subproblem_objective(system, h[columns], kappa, penalty, coef[features])
        <= subproblem_objective(system, h[columns], kappa, penalty, coef0[features])
    )
    if not accepted:
        coef, dual = coef0, dual0
    return SubproblemResult(coef, dual, eta, n_admm, admm_converged, accepted)


_ANDERSON_MEMORY = 3  # 1, 3 and 5 needed 12, 11 and 11 HQ steps on the n=10k, p=200 probe (docs/afr.md)


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


class _Anderson:
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


class _Squarem:
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


_ACCELERATORS: dict[str, type[_Anderson] | type[_Squarem]] = {"anderson": _Anderson, "squarem": _Squarem}


def fit_hq(
    design: AdditiveDesign,
    y: Tensor,
    *,
    penalty: GroupL2Penalty | L1Penalty,
    lam: float,
    sigma: float,
    eta: float,
    coef0: Tensor,
    intercept0: float,
    max_iter: int,
    tol: float,
    max_admm_iter: int,
    admm_tol: float,
    accelerate: bool,
    linear_solver: str = "auto",
    working_set: bool = True,
    progress: bool = False,
    acceleration: str = "anderson",
) -> HQResult:
    """Minimise Eq. (9) (plus an unpenalised intercept) from (coef0, intercept0).

    ``max_iter`` and ``HQResult.n_iter`` count HQ steps (applications of the HQ map F: one weighted Gram and
    one ADMM solve each), stabilising steps after an extrapolation included. ``objective_path`` holds R at
    the start and after every HQ step, so it has n_iter + 1 entries and every returned model is an output of
    F (a prox: exact zeros). With ``acceleration`` "anderson" or "squarem" an extrapolated point is used only
    as the starting point of the next HQ step, and only when its objective is no worse than the best so far;
    that step then lowers R further (majorise-minimise), so the path stays monotone.
    """
    beta = closs_beta(sigma)
    kappa = lam * sigma**2 / beta
    shape = coef0.shape
    state = {"dual": torch.zeros_like(coef0), "eta": eta}
    result = HQResult(coef=coef0, intercept=intercept0)

    def evaluate(coef: Tensor, intercept: float) -> _Point:
        loss, weights, moments = hq_pass(design, y, coef.reshape(-1), intercept, sigma)
        return _Point(coef, intercept, float(loss + lam * penalty.value(coef)), weights, moments)

    def hq_step(base: _Point) -> tuple[_Point, bool]:
        step = solve_subproblem(
            design,
            base.moments,
            base.weights,
            penalty=penalty,
            kappa=kappa,
            coef0=base.coef,
            dual0=state["dual"],
            eta=state["eta"],
            max_admm_iter=max_admm_iter,
            admm_tol=admm_tol,
            accelerate=accelerate,
            linear_solver=linear_solver,
            working_set=working_set,
        )
        # The dual of the latest step warm-starts the next one, from an extrapolated point too.
        state["dual"], state["eta"] = step.dual, step.eta
        result.n_iter += 1
        result.n_admm_iter += step.n_admm_iter
        result.admm_converged = step.admm_converged
        intercept = float(base.moments.profiled_intercept(step.coef.reshape(-1)))
        return evaluate(step.coef, intercept), step.accepted

    best = evaluate(coef0, intercept0)  # the latest HQ output (the start at first): lowest R so far
    result.objective_path.append(best.objective)
    base, base_extrapolated = best, False  # where the next HQ step starts
    accelerator = _ACCELERATORS[acceleration]() if acceleration != "none" else None
    bar = tqdm(total=max_iter, desc="CorrentropySAM HQ", disable=not progress, leave=False)
    while result.n_iter < max_iter:
        new, accepted = hq_step(base)
        bar.update(1)
        if not accepted and base_extrapolated:
            # ADMM could not improve on the extrapolated point; go on plainly from the latest HQ output.
            base, base_extrapolated = best, False
            continue
        previous, best = best, new
        result.objective_path.append(best.objective)
        bar.set_postfix(objective=f"{best.objective:.6g}", groups=int(torch.any(best.coef != 0, dim=1).sum()))
        # A rejected step means ADMM could not improve on theta_t: a fixed point up to the ADMM tolerance.
        if not accepted or previous.objective - best.objective <= tol * max(1.0, abs(previous.objective)):
            result.converged = True
            break
        proposal = None if accelerator is None else accelerator.propose(base.flat(), best.flat(), base_extrapolated)
        base, base_extrapolated = best, False
        if proposal is not None and bool(torch.isfinite(proposal).all()):
            candidate = evaluate(proposal[:-1].reshape(shape), float(proposal[-1]))
            # Safeguard: extrapolate only when R does not get worse than the best HQ output so far.
            if candidate.objective <= best.objective:
                base, base_extrapolated = candidate, True
    bar.close()
    result.coef, result.intercept = best.coef, best.intercept
    return result
