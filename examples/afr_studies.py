"""The measured studies of docs/afr.md, one subcommand per table; each prints its table as Markdown.

    python examples/afr_studies.py init          # (g) initialisation: zeros vs Algorithm 1's U(0, 1)   ~5 s
    python examples/afr_studies.py sigma         # (h) sigma and label noise, 3 seeds                   ~1 min
    python examples/afr_studies.py lambda        # (i) the noise level of lambda, and a lambda sweep    ~10 s
    python examples/afr_studies.py acceleration  # (k) the HQ outer loop: none / anderson / squarem      ~30 s
    python examples/afr_studies.py hq-stopping   # (k) where Algorithm 1's rule stops, per extrapolation  ~30 s

Everything runs on the CPU in float64 with one torch thread, so the counts and accuracies do not depend on the
machine's core count; only the CPU-seconds column of ``init`` does.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.utils import check_random_state

from hrr import CorrentropySAM
from hrr.datasets import make_additive_classification

INFORMATIVE = [0, 1, 2, 3]


# The studies document Algorithm 1 (HQ + ADMM) and the model itself: the paper's classifier sign(f)
# (threshold=0.0); probabilities are not used.
ALGORITHM_1 = {"solver": "hq-admm", "calibration_cv": None, "threshold": 0.0}

def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def penalty_factor(sigma: float) -> float:
    """sigma^2 (e^{1/sigma^2} - 1): the effective penalty of the first HQ step is lam times this."""
    return sigma**2 * float(np.expm1(1.0 / sigma**2))


def study_init() -> None:
    """(g): CorrentropySAM(lam=0.1) from zeros and from Algorithm 1's U(0, 1), on n = 1000, p = 50, 20 % flips."""
    X, y = make_additive_classification(1000, 50, flip=0.2, random_state=0)
    X_test, y_test = make_additive_classification(5000, 50, random_state=1)
    rows, diagnostics = [], []
    for init, seed in (("zeros", None), ("uniform", 0), ("uniform", 1), ("uniform", 2)):
        model = CorrentropySAM(lam=0.1, device="cpu", **ALGORITHM_1, init=init, random_state=seed)
        model.fit(X, y)  # warm-up
        seconds = []
        for _ in range(7):
            start = time.process_time()
            model.fit(X, y)
            seconds.append(time.process_time() - start)
        path = model.objective_path_
        rows.append([
            f'`"{init}"`', "–" if seed is None else str(seed), str(model.n_iter_), str(model.n_admm_iter_),
            f"{path[0]:.4f}", f"{path[1]:.4f}", f"{path[-1]:.6f}", f"{model.score(X_test, y_test):.3f}",
            str(len(model.selected_features_)), f"{min(seconds):.3f}",
        ])
        if init == "uniform":
            # The starting point, drawn exactly as CorrentropySAM.fit draws it.
            draw = int(check_random_state(seed).randint(np.iinfo(np.int32).max))
            coef0 = torch.rand(*model.coef_.shape, generator=torch.Generator().manual_seed(draw), dtype=torch.float64)
            f0 = model.basis_expansion(X) @ coef0.numpy().ravel()
            residual = (2.0 * y - 1.0) - f0
            weights = np.exp(-(residual**2) / model.sigma**2)
            beta = 1.0 / -np.expm1(-1.0 / model.sigma**2)  # Eq. (8): the C-loss of f = 0 is 1
            closs = beta * float(np.mean(1.0 - weights))
            penalty = model.lam * float(np.linalg.norm(coef0.numpy(), axis=1).sum())
            diagnostics.append(
                f"uniform, random_state={seed}: std of the initial f {f0.std():.2f}; HQ weights below 1e-3 in "
                f"{np.mean(weights < 1e-3):.2f} of the rows, median {np.median(weights):.1e}, "
                f"mean {weights.mean():.3f}; "
                f"objective at start = C-loss {closs:.3f} + penalty {penalty:.3f}"
            )
    header = ["init", "`random_state`", "`n_iter_`", "`n_admm_iter_`", "objective at start", "after HQ step 1",
              "final objective", "clean test acc.", "selected", "CPU s"]
    print(table(header, rows))
    print()
    print("\n".join(diagnostics))


def study_sigma() -> None:
    """(h): clean test accuracy by sigma and label-flip rate, 3 seeds, lam = 0.1, n = 2000, p = 100."""
    sigmas, flips, seeds = (0.5, 1.0, 1.5, 2.0, 4.0), (0.0, 0.2, 0.3), (0, 1, 2)
    X_test, y_test = make_additive_classification(5000, 100, random_state=100)
    cells: dict[object, list[str]] = {sigma: [] for sigma in (*sigmas, "lr")}
    informative_kept = True
    for flip in flips:
        acc: dict[object, list[float]] = {key: [] for key in cells}
        selected: dict[object, list[int]] = {key: [] for key in cells}
        for seed in seeds:
            X, y = make_additive_classification(2000, 100, flip=flip, random_state=seed)
            for sigma in sigmas:
                model = CorrentropySAM(lam=0.1, sigma=sigma, device="cpu", **ALGORITHM_1).fit(X, y)
                acc[sigma].append(model.score(X_test, y_test))
                chosen = model.selected_features_
                selected[sigma].append(len(chosen))
                if len(chosen) >= 4 and not set(INFORMATIVE) <= set(chosen):
                    informative_kept = False
            lr = LogisticRegression(max_iter=3000).fit(model.basis_expansion(X), y)
            acc["lr"].append(lr.score(model.basis_expansion(X_test), y_test))
            selected["lr"].append(X.shape[1])
        for key in cells:
            mean, spread = statistics.mean(acc[key]), statistics.pstdev(acc[key])
            count = statistics.mean(selected[key])
            cells[key].append(f"{mean:.3f} ± {spread:.3f} ({count:.0f})" if key == "lr" or count == 0
                              else f"{mean:.3f} ± {spread:.3f} ({count:.1f})")
    rows = [[f"{sigma:.1f}", *cells[sigma]] for sigma in sigmas]
    rows.append(["LogisticRegression, same basis", *cells["lr"]])
    print(table(["σ", "0 % flips", "20 % flips", "30 % flips"], rows))
    print(f"\nthe 4 informative features were among the selected whenever at least 4 were: {informative_kept}")

    # Rescaling lam so that the first HQ step's effective penalty matches sigma = 1.5, lam = 0.1 (one seed, 20 %).
    X, y = make_additive_classification(2000, 100, flip=0.2, random_state=0)
    target = 0.1 * penalty_factor(1.5)
    for sigma in (0.5, 1.0):
        lam = target / penalty_factor(sigma)
        model = CorrentropySAM(lam=lam, sigma=sigma, device="cpu", **ALGORITHM_1).fit(X, y)
        print(f"sigma={sigma}, lam={lam:.4f}: clean test acc {model.score(X_test, y_test):.3f}, "
              f"{len(model.selected_features_)} features")


def study_lambda() -> None:
    """(i): the noise level of lambda as n grows, and a lambda sweep at n = 2000, p = 100."""
    sigma, d = 1.5, 5
    ns = (500, 2000, 8000, 32000)
    noise_levels, informative = [], []
    for n in ns:
        X, y = make_additive_classification(n, 50, flip=0.2, random_state=0)
        # Any fit builds the basis; max_iter=1 is enough for basis_expansion.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = CorrentropySAM(lam=1.0, sigma=sigma, max_iter=1, device="cpu", **ALGORITHM_1).fit(X, y)
        phi = model.basis_expansion(X).reshape(n, 50, d)
        y_c = (2.0 * y - 1.0) - np.mean(2.0 * y - 1.0)
        # At f = 0 all weights are equal, and the KKT check of group j compares ||(2/n) Phi_j^T y_c|| / factor to lam.
        level = np.linalg.norm(2.0 / n * np.einsum("ijk,i->jk", phi, y_c), axis=1) / penalty_factor(sigma)
        noise_levels.append(level[4:].max())
        informative.append((level[:4].min(), level[:4].max()))
    print(table(["n", *map(str, ns)], [
        ["noise level of λ", *(f"{v:.3f}" for v in noise_levels)],
        [f"sqrt(d/n), d = {d}", *(f"{np.sqrt(d / n):.{4 if n > 8000 else 3}f}" for n in ns)],
    ]))
    print("informative features on the same scale: " + ", ".join(
        f"n={n}: {lo:.2f}-{hi:.2f}" for n, (lo, hi) in zip(ns, informative, strict=True)))
    print()

    X, y = make_additive_classification(2000, 100, flip=0.2, random_state=0)
    X_test, y_test = make_additive_classification(5000, 100, random_state=100)
    lams = (5e-4, 0.01, 0.05, 0.1, 0.2)
    models = [CorrentropySAM(lam=lam, device="cpu", **ALGORITHM_1).fit(X, y) for lam in lams]
    print(table(["`lam`", "5e-4 (default)", "0.01", "0.05", "0.1", "0.2"], [
        ["selected features (of 100)", *(str(len(m.selected_features_)) for m in models)],
        ["clean test accuracy", *(f"{m.score(X_test, y_test):.3f}" for m in models)],
    ]))


def study_acceleration() -> None:
    """(k): the HQ outer loop plain, Anderson-accelerated and SQUAREM at the paper's lam on n = 10000, p = 200."""
    X, y = make_additive_classification(10000, 200, flip=0.2, random_state=0)
    rows = []
    for name in ("none", "anderson", "squarem"):
        model = CorrentropySAM(lam=5e-4, sigma=1.0, hq_acceleration=name, device="cpu", **ALGORITHM_1).fit(X, y)
        rows.append([f'`"{name}"`', str(model.n_iter_), str(model.n_admm_iter_), f"{model.objective_path_[-1]:.7f}"])
        if name == "none":
            path = model.objective_path_
            decrease = -np.diff(path) / path[:-1]
            ratios = decrease[1:] / decrease[:-1]
            print(f"plain loop: {model.n_iter_} HQ steps; median ratio of successive relative decreases "
                  f"{np.median(ratios[ratios > 0]):.2f}")
    print(table(["`hq_acceleration`", "HQ steps (Grams)", "ADMM iterations", "final objective"], rows))


# (n, p, flip rate, lam, sigma, seed): sigma 1.0 to 1.5, sparse and dense lam, clean to 30 % flips.
HQ_STOPPING_PROBLEMS = [(1000, 20, 0.2, 5e-4, 1.0, 0), (1000, 20, 0.2, 2e-2, 1.0, 1), (3000, 50, 0.2, 2e-2, 1.5, 2),
                        (2000, 40, 0.3, 1e-2, 1.5, 4), (2000, 40, 0.0, 5e-3, 1.0, 5), (1500, 30, 0.2, 1e-3, 1.2, 6)]


def study_hq_stopping() -> None:
    """(k): how far above the optimum Algorithm 1's relative-decrease rule stops, with each extrapolation."""
    rows, worst = [], {"none": 0.0, "anderson": 0.0, "squarem": 0.0}
    for n, p, flip, lam, sigma, seed in HQ_STOPPING_PROBLEMS:
        X, y = make_additive_classification(n, p, flip=flip, random_state=seed)
        optimum = CorrentropySAM(solver="mm", lam=lam, sigma=sigma, tol=1e-10, calibration_cv=None,
                                 device="cpu").fit(X, y).objective_path_[-1]
        cells = []
        for name in worst:
            model = CorrentropySAM(lam=lam, sigma=sigma, hq_acceleration=name, device="cpu", **ALGORITHM_1).fit(X, y)
            gap = (model.objective_path_[-1] - optimum) / abs(optimum)
            worst[name] = max(worst[name], gap)
            cells.append(f"{gap:.1e} ({model.n_iter_})")
        rows.append([f"n={n}, p={p}, flips {flip:.0%}, lam={lam:g}, sigma={sigma:g}", *cells])
    rows.append(["worst", *(f"{gap:.1e}" for gap in worst.values())])
    print(table(["problem", '`"none"`: gap (HQ steps)', '`"anderson"`', '`"squarem"`'], rows))


STUDIES = {"init": study_init, "sigma": study_sigma, "lambda": study_lambda, "acceleration": study_acceleration,
           "hq-stopping": study_hq_stopping}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("study", choices=sorted(STUDIES))
    args = parser.parse_args()
    torch.set_num_threads(1)
    STUDIES[args.study]()


if __name__ == "__main__":
    main()
