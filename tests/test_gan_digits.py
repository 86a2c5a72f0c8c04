"""The data-limited DCGAN study on scikit-learn's digits (hrr.gan._digits): data, the Fréchet distance, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hrr.gan._digits import (
    DigitGANSpec,
    classifier_features,
    digit_splits,
    frechet_distance,
    train_digit_classifier,
    train_digit_gan,
)


def test_splits_are_stratified_halves_in_the_image_range() -> None:
    train_x, train_y, ref_x, ref_y = digit_splits()
    assert train_x.shape[1:] == ref_x.shape[1:] == (1, 16, 16) and len(train_x) + len(ref_x) == 1797
    assert train_x.dtype == torch.float32 and train_x.min() >= -1 and train_x.max() <= 1
    counts_train, counts_ref = torch.bincount(train_y, minlength=10), torch.bincount(ref_y, minlength=10)
    assert (counts_train - counts_ref).abs().max() <= 1


def test_frechet_distance_matches_the_closed_form() -> None:
    from scipy import linalg

    rng = np.random.default_rng(0)
    a = rng.normal(size=(600, 12)) @ rng.normal(size=(12, 12))
    b = rng.normal(size=(500, 12)) @ rng.normal(size=(12, 12)) + 0.5
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    reference = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(ca + cb - 2 * linalg.sqrtm(ca @ cb).real)
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-9)
    assert abs(frechet_distance(a, a)) < 1e-8
    shift = np.arange(12) / 10.0  # a pure translation costs exactly |shift|^2
    assert frechet_distance(a + shift, a) == pytest.approx(float((shift**2).sum()), rel=1e-6)
    singular = np.c_[a[:, :5], np.zeros((600, 3))]  # constant features (dead ReLUs): no NaN, no warning
    assert np.isfinite(frechet_distance(singular, singular + 0.1))


def test_feature_classifier_separates_digits_and_the_score_orders_real_above_noise() -> None:
    train_x, train_y, ref_x, ref_y = digit_splits()
    model = train_digit_classifier(train_x, train_y, seed=0, epochs=4)  # 25 (the study's) give 0.977
    with torch.no_grad():
        assert float((model(ref_x).argmax(1) == ref_y).float().mean()) > 0.8  # chance: 0.1
    reference = classifier_features(model, ref_x)
    real = frechet_distance(classifier_features(model, train_x), reference)
    noise = frechet_distance(classifier_features(model, torch.rand(800, 1, 16, 16) * 2 - 1), reference)
    assert real < noise / 20


@pytest.mark.parametrize("regularizer", ["adaptivemix", "adaptive", "pgd"])
def test_training_is_deterministic_under_a_seed(regularizer: str) -> None:
    train_x = digit_splits()[0]
    spec = DigitGANSpec(regularizer=regularizer, iters=6, batch=16, n_train=64, adv_threshold=0.57)
    score = lambda run: float(run.samples(8).mean())  # noqa: E731
    a = train_digit_gan(spec, train_x, seed=5, score=score, eval_every=3)
    b = train_digit_gan(spec, train_x, seed=5, score=score, eval_every=3)
    c = train_digit_gan(spec, train_x, seed=6, score=score, eval_every=3)
    assert a.history == b.history and [h[0] for h in a.history] == [3, 6]
    assert torch.equal(a.samples(4), b.samples(4)) and not torch.equal(a.samples(4), c.samples(4))
    if regularizer == "adaptive":
        assert sum(a.attacks.values()) == 2 * spec.iters  # one call per real and per fake batch
    assert a.samples(4).shape == (4, 1, 16, 16)
