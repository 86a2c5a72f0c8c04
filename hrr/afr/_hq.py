"""Half-quadratic outer loop of Algorithm 1 (Appendix A, Eqs. 10-15).

At the iterate theta_t the weights w_i = exp(-r_i^2 / sigma^2) (Eq. 13) define the majoriser

    J(theta) = const + (beta / (n sigma^2)) sum_i w_i r_i(theta)^2 + lambda * pen(theta)  >=  R(theta),

tight at theta_t, because exp(-u) is convex in u. Minimising J over theta is, after scaling by
sigma^2 / beta, the weighted group lasso of Eq. (15) with kappa = lambda sigma^2 / beta, solved by ADMM.
Every step that lowers J lowers the objective R (Eq. 9), which is why ``objective_path`` is monotone:
the step is accepted only when the subproblem objective did not increase (an ADMM stopped early could
otherwise break the guarantee).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from hrr.afr._admm import DenseSystem, LinearSystem, WoodburySystem, admm_solve, subproblem_objective
from hrr.afr._closs import closs_beta
from hrr.afr._design import AdditiveDesign, WeightedMoments, hq_pass
from hrr.afr._penalties import GroupL2Penalty, L1Penalty


@dataclass
class HQResult:
    coef: Tensor  # (p, d)
    intercept: float
    objective_path: list[float] = field(default_factory=list)
    n_iter: int = 0
    n_admm_iter: int = 0
    converged: bool = False
    admm_converged: bool = True  # did the last ADMM solve meet Eq. (22)?


def build_system(design: AdditiveDesign, moments: WeightedMoments, weights: Tensor, woodbury: bool) -> LinearSystem:
    """The ADMM linear system for H = (2/n) Phi_c^T W Phi_c: dense Gram, or B = sqrt(2/n) W^{1/2} Phi_c."""
    hessian, _, _ = moments.profiled_quadratic()
    if not woodbury:
        assert hessian is not None
        return DenseSystem(hessian)
    sw = torch.clamp(moments.sw, min=torch.finfo(moments.sw.dtype).tiny)
    centred = design.dense() - moments.phi_w / sw
    b = centred * torch.sqrt(weights * (2.0 / design.n_samples))[:, None]
    return WoodburySystem(b)


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
    woodbury: bool,
    progress: bool = False,
) -> HQResult:
    """Minimise Eq. (9) (plus an unpenalised intercept) from (coef0, intercept0)."""
    beta = closs_beta(sigma)
    kappa = lam * sigma**2 / beta
    coef, intercept = coef0, intercept0
    dual = torch.zeros_like(coef0)
    result = HQResult(coef=coef, intercept=intercept)

    loss, weights, moments = hq_pass(design, y, coef.reshape(-1), intercept, sigma, need_gram=not woodbury)
    objective = float(loss + lam * penalty.value(coef))
    result.objective_path.append(objective)
    bar = tqdm(total=max_iter, desc="CorrentropySAM HQ", disable=not progress, leave=False)
    for _ in range(max_iter):
        system = build_system(design, moments, weights, woodbury)
        _, h, _ = moments.profiled_quadratic()
        step = admm_solve(system, h, kappa, penalty, coef, dual, eta, max_admm_iter, admm_tol, accelerate)
        result.n_admm_iter += step.n_iter
        result.n_iter += 1
        result.admm_converged = step.converged
        eta = step.eta
        # Majorise-minimise guarantee: keep the step only if it did not raise the subproblem objective.
        accepted = bool(
            subproblem_objective(system, h, kappa, penalty, step.coef)
            <= subproblem_objective(system, h, kappa, penalty, coef)
        )
        if accepted:
            coef, dual = step.coef, step.dual
        intercept = float(moments.profiled_intercept(coef.reshape(-1)))
        loss, weights, moments = hq_pass(design, y, coef.reshape(-1), intercept, sigma, need_gram=not woodbury)
        new_objective = float(loss + lam * penalty.value(coef))
        result.objective_path.append(new_objective)
        bar.update(1)
        bar.set_postfix(objective=f"{new_objective:.6g}")
        # A rejected step means ADMM could not improve on theta_t: a fixed point up to the ADMM tolerance.
        if not accepted or objective - new_objective <= tol * max(1.0, abs(objective)):
            result.converged = True
            break
        objective = new_objective
    bar.close()
    result.coef, result.intercept = coef, intercept
    return result
