"""Gradient-based calls work inside ``torch.no_grad()`` and ``torch.inference_mode()`` (evaluation loops).

Every public callable of ``hrr.gan``, ``hrr.robust`` and ``hrr.detect`` is classified: it needs autograd internally
(attacks, latent optimisation, CAMs, gradient penalty, training entry points), it is a loss that is merely
evaluated (no internal autograd: under ``no_grad`` it returns its value), or gradients do not apply. Each case of
the first two groups is run plainly and inside each context, with its inputs created *inside* the context (so
under ``inference_mode`` they are inference tensors), and must give the identical result and leave the caller's
grad / inference modes as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _detect_data import TinyBackbone, write_realfake
from torch import Tensor, nn

import hrr.detect
import hrr.gan
import hrr.robust
from hrr.data import scan_dataset
from hrr.detect import (
    Detector,
    HRRLoss,
    KLSeparationLoss,
    TrainConfig,
    class_activation_maps,
    fit_ablation_detectors,
    fit_hrr,
    run_ablation,
    train_detector,
)
from hrr.gan import (
    FGM,
    PGD,
    AdaptiveAdversarial,
    AdaptiveMix,
    SinGAN,
    adaptivemix_loss,
    fgm,
    gradient_penalty,
    lipschitz_ratio,
    pgd,
)
from hrr.robust import (
    AdversarialTraining,
    FeatureInverter,
    InversionAnomalyScore,
    InversionDiscriminator,
    LayerEncoder,
    inversion_losses,
    robust_accuracy,
    train_inverter,
    train_robust,
)

pytestmark = pytest.mark.usefixtures("one_thread")

CONTEXTS: dict[str, Callable[[], Any]] = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}

# Public names whose calls never need autograd (modules, configs, results, metrics, inference-only predictors).
NOT_APPLICABLE = {
    "gan": {"MeanHead", "OrthogonalHead", "PatchDiscriminator", "ScaleGenerator", "SinGANConfig",
            "SpectralNormEstimator", "class_prototypes", "ood_score", "patch_sliced_wasserstein", "power_iteration",
            "preserved_state", "project", "pyramid_shapes", "weight_matrix"},
    "robust": {"AdversarialStep", "FeatureInverter", "InversionDiscriminator", "InversionResult", "LayerEncoder",
               "auroc", "feature_shape", "linear_schedule", "one_vs_all_auroc", "upsampling_plan"},
    "detect": {"ABLATION_VARIANTS", "AblationResult", "DetectionResult", "Detector", "EvalResult", "HRRDetector",
               "PlattScaling", "SmallCNN", "SweepResult", "TrainConfig", "TrainResult", "best_threshold",
               "calibration_metrics", "detection_metrics", "evaluate", "extract_features", "find_cam_layer",
               "fit_refiner", "is_generated", "multiscale_table", "per_group_table", "plot_pr_curves",
               "plot_reliability", "robustness_sweep", "save_cam_grid", "to_csv", "to_json", "to_markdown"},
}

# A case: setup(tmp) runs outside any context (builds models) and returns run(), which is called plainly or inside
# a context and creates its input tensors itself.
Setup = Callable[[Path], Callable[[], Any]]
NEEDS_GRAD: dict[str, Setup] = {}  # autograd inside: must work in every context
EVALUATED: dict[str, Setup] = {}  # losses without internal autograd: merely evaluated under no_grad


def _case(table: dict[str, Setup], name: str) -> Callable[[Setup], Setup]:
    def register(setup: Setup) -> Setup:
        table[name] = setup
        return setup

    return register


def _net(out: int = 2, seed: int = 0) -> nn.Sequential:
    """2-layer conv classifier (B, 3, 16, 16) -> (B, out), with BatchNorm (buffers must survive the attacks)."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, out, 3, stride=2, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _images(n: int = 2, size: int = 16, seed: int = 1) -> Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _gen(seed: int = 2) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _state(*modules: nn.Module) -> list[dict[str, Tensor]]:
    return [{k: v.detach().clone() for k, v in m.state_dict().items()} for m in modules]


# ---------------------------------------------------------------- hrr.gan
@_case(NEEDS_GRAD, "gan.FGM")
def _fgm_object(tmp: Path) -> Callable[[], Any]:
    d = _net(1)
    return lambda: FGM(0.5, module=d, clamp=(0.0, 1.0))(_images(), lambda z: -d(z).mean())


@_case(NEEDS_GRAD, "gan.fgm")
def _fgm_function(tmp: Path) -> Callable[[], Any]:
    d = _net(1)
    return lambda: fgm(lambda z: d(z).mean(), _images(), 0.1, norm="linf", module=d)


@_case(NEEDS_GRAD, "gan.PGD")
def _pgd_object(tmp: Path) -> Callable[[], Any]:
    d = _net(1)
    attack = PGD(0.5, 0.2, 3, random_start=True, module=d)
    return lambda: attack(_images(), lambda z: -d(z).mean(), generator=_gen())


@_case(NEEDS_GRAD, "gan.pgd")
def _pgd_function(tmp: Path) -> Callable[[], Any]:
    d = _net(1)
    return lambda: pgd(lambda z: d(z).mean(), _images(), 0.5, 0.2, 3, module=d)


def _adaptive(kappa: float | str) -> Setup:
    def setup(tmp: Path) -> Callable[[], Any]:
        d = _net(1)
        adv = AdaptiveAdversarial(d, eps=0.5, step_size=0.2, steps=2, kappa=kappa)  # type: ignore[arg-type]

        def run() -> Any:
            x_adv = adv(_images(), lambda z: -d(z).mean())
            return x_adv, adv.last_method, adv.last_sigma, adv.last_threshold, _state(d)

        return run

    return setup


_case(NEEDS_GRAD, "gan.AdaptiveAdversarial[pgd]")(_adaptive(1e3))
_case(NEEDS_GRAD, "gan.AdaptiveAdversarial[fgm]")(_adaptive("auto"))


@_case(NEEDS_GRAD, "gan.gradient_penalty")
def _gradient_penalty(tmp: Path) -> Callable[[], Any]:
    d = _net(1)
    return lambda: gradient_penalty(d, _images(seed=1), _images(seed=3), generator=_gen()).detach()


@_case(NEEDS_GRAD, "gan.SinGAN.train")
def _singan_train(tmp: Path) -> Callable[[], Any]:
    def run() -> Any:
        model = SinGAN(min_size=8, max_size=10, iters_per_scale=2, channels=4, n_layers=2, regularizer="adaptive",
                       adv_kappa="auto")
        model.train(_images(1, 10)[0], seed=0, progress=False)
        return _state(*model.generators), [{k: v for k, v in h.items()} for h in model.history], model.sample(1)

    return run


@_case(EVALUATED, "gan.AdaptiveMix")
def _adaptivemix_object(tmp: Path) -> Callable[[], Any]:
    f = _net(4)
    return lambda: (AdaptiveMix(pairing="within")(f, _images(seed=1), _images(seed=3), generator=_gen()).detach(),
                    _state(f))


@_case(EVALUATED, "gan.adaptivemix_loss")
def _adaptivemix_function(tmp: Path) -> Callable[[], Any]:
    f = _net(4)
    return lambda: adaptivemix_loss(f, _images(seed=1), _images(seed=3), generator=_gen()).detach()


@_case(EVALUATED, "gan.lipschitz_ratio")
def _lipschitz(tmp: Path) -> Callable[[], Any]:
    f = _net(4)
    return lambda: lipschitz_ratio(f, _images(4), generator=_gen())


# ---------------------------------------------------------------- hrr.robust
@_case(NEEDS_GRAD, "robust.AdversarialTraining.perturb")
def _at_perturb(tmp: Path) -> Callable[[], Any]:
    net = _net()
    trainer = AdversarialTraining(net, torch.optim.SGD(net.parameters(), lr=0.1), eps=0.5, steps=2, step_size=0.3)
    return lambda: (trainer.perturb(_images(), torch.tensor([0, 1])), _state(net))


@_case(NEEDS_GRAD, "robust.AdversarialTraining.step")
def _at_step(tmp: Path) -> Callable[[], Any]:
    net = _net()
    trainer = AdversarialTraining(net, torch.optim.SGD(net.parameters(), lr=0.1), eps=0.5, steps=2, step_size=0.3)
    return lambda: (trainer.step(_images(), torch.tensor([0, 1])), _state(net))


@_case(NEEDS_GRAD, "robust.train_robust")
def _train_robust(tmp: Path) -> Callable[[], Any]:
    net = _net()

    def run() -> Any:
        data = (_images(4), torch.tensor([0, 1, 1, 0]))
        history = train_robust(net, data, epochs=2, lr=0.05, batch_size=2, eps=0.5, steps=2, step_size=0.3,
                               random_start=True, progress=False)
        return history, _state(net)

    return run


@_case(NEEDS_GRAD, "robust.robust_accuracy")
def _robust_accuracy(tmp: Path) -> Callable[[], Any]:
    net = _net()
    return lambda: robust_accuracy(net, _images(4), torch.tensor([0, 1, 1, 0]), eps=2.0, steps=3, batch_size=3)


def _encoder_and_inverter() -> tuple[nn.Module, FeatureInverter]:
    enc = LayerEncoder(_net(), "2")  # the ReLU after the first conv: (4, 16, 16)
    torch.manual_seed(1)
    return enc, FeatureInverter.for_encoder(enc, (3, 16, 16), max_channels=4, spectral_norm=False)


@_case(NEEDS_GRAD, "robust.InversionAnomalyScore")
def _inversion_score(tmp: Path) -> Callable[[], Any]:
    enc, inv = _encoder_and_inverter()
    scorer = InversionAnomalyScore(enc, inv, iterations=3, batch_size=1)

    def run() -> Any:
        images = _images()
        result = scorer.invert(images, keep_reconstructions=True)
        return scorer(images), dataclasses.asdict(result), _state(enc, inv)

    return run


@_case(NEEDS_GRAD, "robust.train_inverter")
def _train_inverter(tmp: Path) -> Callable[[], Any]:
    enc, inv = _encoder_and_inverter()
    torch.manual_seed(2)
    disc = InversionDiscriminator(inv.feature_shape, (3, 16, 16), spectral_norm=False)

    def run() -> Any:
        history = train_inverter(enc, inv, _images(4), epochs=1, batch_size=2, discriminator=disc, progress=False)
        return history, _state(enc, inv, disc)

    return run


@_case(EVALUATED, "robust.inversion_losses")
def _inversion_losses(tmp: Path) -> Callable[[], Any]:
    enc, inv = _encoder_and_inverter()
    inv.eval()

    def run() -> Any:
        x = _images()
        target = enc(x)
        return [t.detach() for t in inversion_losses(enc, x, target, inv(target))]

    return run


# ---------------------------------------------------------------- hrr.detect
def _cam_case(method: str) -> Setup:
    def setup(tmp: Path) -> Callable[[], Any]:
        net = _net(1)
        return lambda: class_activation_maps(net, _images(3), target_layer="2", method=method,  # type: ignore[arg-type]
                                             batch_size=2)

    return setup


_case(NEEDS_GRAD, "detect.class_activation_maps[gradcam]")(_cam_case("gradcam"))
_case(NEEDS_GRAD, "detect.class_activation_maps[hirescam]")(_cam_case("hirescam"))


def _features_and_labels() -> tuple[Tensor, Tensor, Tensor]:
    g = _gen(5)
    return torch.randn(6, generator=g), torch.randn(6, 8, generator=g), torch.tensor([0, 1, 0, 1, 1, 0])


@_case(EVALUATED, "detect.KLSeparationLoss")
def _kl(tmp: Path) -> Callable[[], Any]:
    loss = KLSeparationLoss(symmetric=True)

    def run() -> Any:
        _, feats, labels = _features_and_labels()
        return loss(feats, labels).detach(), loss.divergence(feats, labels).detach()  # type: ignore[union-attr]

    return run


@_case(EVALUATED, "detect.HRRLoss")
def _hrr_loss(tmp: Path) -> Callable[[], Any]:
    loss = HRRLoss()

    def run() -> Any:
        total, parts = loss(*_features_and_labels())
        return total.detach(), parts

    return run


FAST = TrainConfig(epochs=1, batch_size=4, crop_size=16, blur_prob=0.0, jpeg_prob=0.0, lr=1e-2)


def _task(tmp: Path) -> dict[str, list]:
    write_realfake(tmp / "train", n=4, size=16, seed=0)
    write_realfake(tmp / "val", n=2, size=16, seed=50)
    return {"train": scan_dataset(tmp / "train"), "val": scan_dataset(tmp / "val")}


def _result(result: Any) -> dict[str, Any]:
    out = dataclasses.asdict(result)
    out["history"] = [{k: v for k, v in row.items() if k != "seconds"} for row in out["history"]]  # wall time
    return out


@_case(NEEDS_GRAD, "detect.train_detector")
def _train_detector(tmp: Path) -> Callable[[], Any]:
    task = _task(tmp)
    torch.manual_seed(0)
    model = Detector(TinyBackbone(4))

    def run() -> Any:
        result = train_detector(model, task["train"], tmp / "run", val_samples=task["val"], config=FAST,
                                device="cpu", progress=False)
        return _result(result), _state(model)

    return run


@_case(NEEDS_GRAD, "detect.fit_hrr")
def _fit_hrr(tmp: Path) -> Callable[[], Any]:
    task = _task(tmp)
    torch.manual_seed(0)
    backbone = TinyBackbone(4)

    def run() -> Any:
        torch.manual_seed(1)  # the head is built inside fit_hrr (here: inside the context)
        det, result = fit_hrr(task["train"], tmp / "run", backbone=backbone, config=FAST, device="cpu",
                              afr_params={"lam": 0.01, "max_iter": 5}, progress=False)
        return _result(result), _state(det.model), det.predict_proba(_images(2, 16))

    return run


@_case(NEEDS_GRAD, "detect.run_ablation")
def _run_ablation(tmp: Path) -> Callable[[], Any]:
    task = _task(tmp)
    write_realfake(tmp / "msr", n=2, size=16, seed=70)
    msr = scan_dataset(tmp / "msr")
    torch.manual_seed(0)
    backbone = TinyBackbone(4)

    def run() -> Any:
        torch.manual_seed(1)
        out = run_ablation(task["train"], task["val"], tmp / "runs", msr_samples=msr, backbone=backbone,
                           config=FAST, afr_params={"lam": 0.01, "max_iter": 5}, device="cpu", progress=False)
        return {name: r.probs for name, r in out.results.items()}

    return run


@_case(NEEDS_GRAD, "detect.fit_ablation_detectors")
def _fit_ablation_detectors(tmp: Path) -> Callable[[], Any]:
    task = _task(tmp)
    write_realfake(tmp / "msr", n=2, size=16, seed=70)
    msr = scan_dataset(tmp / "msr")

    def run() -> Any:
        detectors, _ = fit_ablation_detectors(task["train"], tmp / "runs", msr_samples=msr,
                                              backbone=lambda: TinyBackbone(4), config=FAST, seed=1,
                                              afr_params={"lam": 0.01, "max_iter": 5}, device="cpu", progress=False)
        return {name: det.predict_proba(_images(2, 16)) for name, det in detectors.items()}

    return run


# ---------------------------------------------------------------- the checks
def assert_same(got: Any, expected: Any, where: str = "result") -> None:
    """Exact equality through tensors, arrays, dataclasses and containers."""
    if isinstance(expected, Tensor):
        assert isinstance(got, Tensor) and got.shape == expected.shape and got.dtype == expected.dtype, where
        assert torch.equal(got, expected), f"{where}: max |diff| {float((got - expected).abs().max())}"
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(got, expected, err_msg=where)
    elif dataclasses.is_dataclass(expected) and not isinstance(expected, type):
        assert_same(dataclasses.asdict(got), dataclasses.asdict(expected), where)  # type: ignore[arg-type]
    elif isinstance(expected, dict):
        assert set(got) == set(expected), where
        for key in expected:
            assert_same(got[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert len(got) == len(expected), where
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(expected, float) and np.isnan(expected):
        assert np.isnan(got), where
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"


_EXPECTED: dict[str, Any] = {}


def _plain(name: str, setup: Setup, factory: pytest.TempPathFactory) -> Any:
    """The result outside any context (computed once per case); grad mode stays on."""
    if name not in _EXPECTED:
        run = setup(factory.mktemp("plain"))
        _EXPECTED[name] = run()
        assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    return _EXPECTED[name]


def _in_context(context: str, setup: Setup, tmp: Path) -> Any:
    run = setup(tmp)
    with CONTEXTS[context]():
        got = run()
        # the call left the caller's modes as they were
        assert not torch.is_grad_enabled()
        assert torch.is_inference_mode_enabled() == (context == "inference_mode")
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    return got


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("name", sorted(NEEDS_GRAD))
def test_gradient_based_calls_work_in_evaluation_contexts(name: str, context: str, tmp_path: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    expected = _plain(name, NEEDS_GRAD[name], tmp_path_factory)
    assert_same(_in_context(context, NEEDS_GRAD[name], tmp_path), expected)


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("name", sorted(EVALUATED))
def test_losses_evaluate_to_the_same_value_in_evaluation_contexts(name: str, context: str, tmp_path: Path,
                                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    expected = _plain(name, EVALUATED[name], tmp_path_factory)
    assert_same(_in_context(context, EVALUATED[name], tmp_path), expected)


@pytest.mark.parametrize("context", CONTEXTS)
def test_gradient_penalty_keeps_its_graph_only_when_grad_is_on(context: str) -> None:
    d = _net(1)
    assert gradient_penalty(d, _images(seed=1), _images(seed=3)).requires_grad  # a loss term to backpropagate
    with CONTEXTS[context]():
        penalty = gradient_penalty(d, _images(seed=1), _images(seed=3))
    assert not penalty.requires_grad and penalty.grad_fn is None  # like any value computed under no_grad


@pytest.mark.parametrize("context", CONTEXTS)
def test_training_in_a_context_still_trains(context: str) -> None:
    net = _net()
    before = _state(net)[0]
    with CONTEXTS[context]():
        train_robust(net, (_images(4), torch.tensor([0, 1, 1, 0])), epochs=1, batch_size=4, eps=0.0,
                     progress=False)
    after = _state(net)[0]
    assert not torch.equal(before["0.weight"], after["0.weight"])
    assert all(p.grad is not None for p in net.parameters())


# Calls that use the caller's model without owning it refuse a model whose parameters were created under
# inference_mode (no gradient can ever flow through them), with an error naming the context.
def _inference_net(out: int = 2) -> nn.Sequential:
    with torch.inference_mode():
        return _net(out)


def _refuses_fgm() -> None:
    d = _inference_net(1)
    FGM(0.5, module=d)(_images(), lambda z: d(z).mean())


def _refuses_pgd() -> None:
    d = _inference_net(1)
    pgd(lambda z: d(z).mean(), _images(), 0.5, 0.2, 2, module=d)


def _refuses_adaptive() -> None:
    d = _inference_net(1)
    AdaptiveAdversarial(d, eps=0.5, step_size=0.2, steps=2, kappa=1.0)(_images(), lambda z: d(z).mean())


def _refuses_at_step() -> None:
    net = _inference_net()
    AdversarialTraining(net, torch.optim.SGD(net.parameters(), lr=0.1), eps=0.5).step(_images(), torch.tensor([0, 1]))


def _refuses_robust_accuracy() -> None:
    robust_accuracy(_inference_net(), _images(), torch.tensor([0, 1]), eps=1.0)


def _refuses_inversion_score() -> None:
    with torch.inference_mode():
        enc, inv = _encoder_and_inverter()
    InversionAnomalyScore(enc, inv, iterations=2)(_images())


def _refuses_train_inverter_encoder() -> None:
    with torch.inference_mode():
        enc = LayerEncoder(_net(), "2")
    inv = FeatureInverter.for_encoder(enc, (3, 16, 16), max_channels=4, spectral_norm=False)
    train_inverter(enc, inv, _images(4), epochs=1, batch_size=2, progress=False)


def _refuses_cam() -> None:
    class_activation_maps(_inference_net(1), _images(), target_layer="2")


REFUSES: dict[str, Callable[[], None]] = {
    "gan.FGM": _refuses_fgm, "gan.pgd": _refuses_pgd, "gan.AdaptiveAdversarial": _refuses_adaptive,
    "robust.AdversarialTraining.step": _refuses_at_step, "robust.robust_accuracy": _refuses_robust_accuracy,
    "robust.InversionAnomalyScore": _refuses_inversion_score, "robust.train_inverter": _refuses_train_inverter_encoder,
    "detect.class_activation_maps": _refuses_cam,
}


@pytest.mark.parametrize("context", [*CONTEXTS, "plain"])
@pytest.mark.parametrize("name", sorted(REFUSES))
def test_a_model_built_under_inference_mode_is_refused_naming_the_context(name: str, context: str) -> None:
    with CONTEXTS.get(context, torch.enable_grad)():
        with pytest.raises(RuntimeError, match=r"created under torch\.inference_mode\(\)"):
            REFUSES[name]()
        assert torch.is_inference_mode_enabled() == (context == "inference_mode")
        assert torch.is_grad_enabled() == (context == "plain")


Trained = list[tuple[nn.Module, dict[str, Tensor]]]  # (module, its weights before training)


def _train_detector_built_in_inference_mode(tmp: Path) -> Trained:
    with torch.inference_mode():
        model = Detector(TinyBackbone(4))
    before = _state(model)[0]
    train_detector(model, _task(tmp)["train"], tmp / "run", config=FAST, device="cpu", progress=False)
    return [(model, before)]


def _train_robust_built_in_inference_mode(tmp: Path) -> Trained:
    net = _inference_net()
    before = _state(net)[0]
    train_robust(net, (_images(4), torch.tensor([0, 1, 1, 0])), epochs=1, batch_size=2, eps=0.5, steps=2,
                 step_size=0.3, progress=False)
    return [(net, before)]


def _train_inverter_built_in_inference_mode(tmp: Path) -> Trained:
    enc = LayerEncoder(_net(), "2")
    with torch.inference_mode():
        inv = FeatureInverter.for_encoder(enc, (3, 16, 16), max_channels=4, spectral_norm=False)
        disc = InversionDiscriminator(inv.feature_shape, (3, 16, 16), spectral_norm=False)
    before = _state(inv, disc)
    train_inverter(enc, inv, _images(4), epochs=1, batch_size=2, discriminator=disc, progress=False)
    return [(inv, before[0]), (disc, before[1])]


@pytest.mark.parametrize("train", [_train_detector_built_in_inference_mode, _train_robust_built_in_inference_mode,
                                   _train_inverter_built_in_inference_mode])
def test_training_entry_points_train_a_model_built_under_inference_mode(train: Callable[[Path], Trained],
                                                                      tmp_path: Path) -> None:
    # they build their own optimizer, so they can swap inference tensors for normal copies (fit_hrr needs it:
    # under inference_mode it builds the detector head there)
    for model, before in train(tmp_path):
        assert not any(t.is_inference() for t in [*model.parameters(), *model.buffers()])
        after = _state(model)[0]
        assert set(after) == set(before)
        assert any(not torch.equal(after[k], before[k]) for k in before if k.endswith("weight"))  # it learned


def test_preserved_state_restores_flags_of_inference_mode_parameters() -> None:
    net = _inference_net()
    with hrr.gan.preserved_state(net):
        net.requires_grad_(False)
    assert all(p.requires_grad for p in net.parameters())


def test_every_public_callable_is_classified() -> None:
    covered = {key.split("[")[0].split(".")[1] for key in [*NEEDS_GRAD, *EVALUATED]}
    for package, module in (("gan", hrr.gan), ("robust", hrr.robust), ("detect", hrr.detect)):
        names = set(module.__all__)
        mine = {key.split("[")[0].split(".")[1] for key in [*NEEDS_GRAD, *EVALUATED] if key.startswith(package)}
        assert names == mine | NOT_APPLICABLE[package], (package, names ^ (mine | NOT_APPLICABLE[package]))
        assert not mine & NOT_APPLICABLE[package]
    assert covered
