"""The demo's miniature benchmark: the shape of the paper's Tables IV and V, measured on a laptop CPU.

Protocol (HRR Sec. IV, scaled down):

1. Real images: patches of photos shipped with scikit-image and scikit-learn; train and test patches come from
   disjoint parts of every photo.
2. Fakes from six built-in generators trained on the fly on the real training patches (:mod:`._generators`,
   :mod:`._diffusion`), cached in the user cache folder under a key of version, settings and seed.
3. A detector is trained on generator 1 (``tconv``) only, plus MSR pseudo-fakes for the MSR variants: real training
   patches regenerated at two scales through :class:`hrr.MultiScaleRetrospector` by the library's diffusers img2img
   regenerator, running a tiny latent diffusion model trained once on the spot and loaded with ``from_pretrained``
   (:mod:`._ldm`; ``msr_backend="vae"``: a VAE round trip instead).
4. Four variants (Table IV): baseline (CE), w/o AFR (MSR data + CE + 0.8 KL, linear head), w/o MSR (CE, AFR head),
   HRR (MSR + KL + AFR); each tested on every generator at scales 1, 0.5 and 0.25 (Table V). Probabilities are
   calibrated on the validation split (:class:`hrr.detect.PlattScaling`).
5. Three seeds; every cell is the mean and the half-width of its 95 % t interval.

Every image, real or fake, is written through the same lossless PNG path, so the file format cannot be a shortcut.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrr._images import save_png
from hrr.data import Sample, TestTransform, scan_dataset
from hrr.demo._cache import cache_path, cached_arrays
from hrr.demo._diffusion import ddpm_img2img, ddpm_samples
from hrr.demo._generators import (
    GENERATORS,
    describe,
    reconstruct,
    run_one_thread_jobs,
    singan_counts,
    singan_fakes,
)
from hrr.demo._patches import cut_patches, packaged_photos
from hrr.demo._shortcut import shortcut_scores
from hrr.detect import (
    HRRDetector,
    SmallCNN,
    TrainConfig,
    fit_ablation_detectors,
    multiscale_table,
    to_markdown,
)

TRAIN_GENERATOR = "tconv"
HELD_OUT: tuple[str, ...] = tuple(g for g in GENERATORS if g != TRAIN_GENERATOR)  # not seen in training
VARIANTS: tuple[str, ...] = ("baseline", "w/o AFR", "w/o MSR", "HRR")
# Table IV's columns after the generators: the mean over all four and over the three not seen in training
SUMMARY_COLUMNS: tuple[str, ...] = (*GENERATORS, "mean", "held-out")
TABLE_V_KEYS: tuple[str, ...] = ("mean/acc", "mean/ap", "held-out/acc", "held-out/ap")
_HEADERS = {"held-out": "held-out mean"}
SHORTCUT = "shortcut"  # Table IV's control row: global statistics only, cross-validated on each generator's test set
VARIANT_DEFINITIONS = {
    "baseline": "the CNN trained with cross-entropy on real and tconv images, linear head.",
    "w/o AFR": "the CNN trained with cross-entropy + 0.8 x the KL separation term, on real, tconv and MSR images; "
               "linear head.",
    "w/o MSR": "the baseline's CNN with an AFR head (CorrentropySAM on its features) in place of the linear one.",
    "HRR": "the w/o AFR CNN (MSR images, cross-entropy + KL) with the AFR head: the full method.",
    SHORTCUT: "no CNN: logistic regression on global colour, histogram and sharpness statistics, 5-fold "
              "cross-validated on each generator's own test fakes against the real test patches (so it sees every "
              "generator, not only tconv). Near 50 means colour and blur alone do not give the fakes away.",
}
TEST_SCALES: tuple[float, ...] = (1.0, 0.5, 0.25)
PER_GENERATOR_METRICS: tuple[str, ...] = ("acc", "ap", "real_acc", "fake_acc")


@dataclasses.dataclass(frozen=True)
class BenchmarkSettings:
    """Sizes of the miniature benchmark (``quick`` halves most of them)."""

    patch: int = 64
    n_train: int = 320  # real training patches (and as many tconv fakes)
    n_val: int = 64
    n_test: int = 96  # per generator: real test patches and as many fakes
    gen_steps: int = 300
    vae_steps: int = 300
    singan_iters: int = 40
    singan_photos: tuple[str, ...] = ("astronaut", "coffee")
    ddpm_steps: int = 600
    ddpm_crop: int = 16
    ddpm_sample_steps: int = 15  # DDIM steps from pure noise
    ddpm_strength: float = 0.3  # img2img: fraction of the schedule re-run
    ddpm_i2i_steps: int = 20
    msr_scales: tuple[int, ...] = (32, 64)
    msr_backend: str = "diffusion"  # or "vae"
    msr_vae_steps: int = 200  # the "vae" backend's training steps
    msr_model_quick: bool = False  # the diffusion backend's model trained with MSRModelSettings.quick()
    epochs: int = 8
    crop: int = 32
    lr: float = 2e-3
    gamma: float = 0.8
    afr_lam: float = 0.01
    seeds: tuple[int, ...] = (0, 1, 2)

    def __post_init__(self) -> None:
        if self.msr_backend not in ("diffusion", "vae"):
            raise ValueError(f"msr_backend must be 'diffusion' or 'vae'; got {self.msr_backend!r}")

    @classmethod
    def quick(cls) -> BenchmarkSettings:
        return cls(n_train=128, n_val=32, n_test=48, gen_steps=120, vae_steps=120, singan_iters=15,
                   singan_photos=("astronaut",), ddpm_steps=200, msr_vae_steps=80, msr_model_quick=True, epochs=4,
                   seeds=(0,))


@dataclasses.dataclass
class BenchmarkResult:
    """Tables of one benchmark run (fractions; markdown shows percentages)."""

    table_iv: list[dict[str, Any]]  # variant x generator, scale 1 (Acc and AP)
    table_v: list[dict[str, Any]]  # variant x scale, means over generators
    per_seed: list[dict[str, Any]]
    timings: dict[str, float]
    settings: BenchmarkSettings
    generators: dict[str, str]
    out_dir: Path


def _stage(timings: dict[str, float], name: str, log: Callable[[str], None]) -> Callable[[], None]:
    start = time.perf_counter()
    log(f"[demo] {name} ...")

    def done() -> None:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start

    return done


def _images_spec(s: BenchmarkSettings, seed: int) -> dict[str, Any]:
    """The settings that decide the generated images: the cache key of :func:`_make_images`."""
    spec = {k: v for k, v in dataclasses.asdict(s).items() if k not in ("epochs", "lr", "gamma", "afr_lam", "seeds",
                                                                         "crop", "msr_scales", "msr_vae_steps",
                                                                         "msr_backend", "msr_model_quick")}
    spec["seed"] = seed
    spec["train_threads"] = 1  # every generator trains on one thread (the weights depend on it): not older entries
    return spec


def _one_thread_jobs(s: BenchmarkSettings, seed: int, photos: dict[str, np.ndarray]
                     ) -> dict[Any, tuple[str, dict[str, Any]]]:
    """The generator trainings of one seed, each on one torch thread (longest first): the VAE, the DDPM, SinGAN per
    photo, the two autoencoders. Keys are ``(seed, name)``; :func:`_make_images` takes their results as
    ``trained``."""
    real_train = cut_patches(photos, s.n_train, s.patch, seed=seed, part="train")
    jobs: dict[Any, tuple[str, dict[str, Any]]] = {
        (seed, "vae"): ("vae", {"patches": real_train, "steps": s.vae_steps, "seed": seed}),
        (seed, "ddpm"): ("ddpm", {"patches": real_train, "steps": s.ddpm_steps, "seed": seed, "crop": s.ddpm_crop,
                                  "batch": 32}),
    }
    for i, (name, count) in enumerate(zip(s.singan_photos, singan_counts(s.n_test, len(s.singan_photos)),
                                          strict=True)):
        jobs[(seed, f"singan/{i}")] = ("singan", {"photo": photos[name], "count": count, "size": s.patch,
                                                  "iters": s.singan_iters, "seed": seed + i})
    for kind in ("upconv", "tconv"):
        jobs[(seed, kind)] = (kind, {"patches": real_train, "steps": s.gen_steps, "seed": seed})
    return jobs


def _train_one_thread_generators(s: BenchmarkSettings, seeds: tuple[int, ...], progress: bool,
                                 log: Callable[[str], None] = print) -> dict[int, dict[str, Any]]:
    """Train the generators of every seed whose images are not cached, each on one thread, as many at a time as
    torch has threads (two on a 2-core machine)."""
    missing = [sd for sd in seeds if not cache_path("images", _images_spec(s, sd)).is_file()]
    photos = packaged_photos() if missing else {}
    jobs: dict[Any, tuple[str, dict[str, Any]]] = {}
    for sd in missing:
        jobs.update(_one_thread_jobs(s, sd, photos))
    # Worker interpreters take a few seconds each to start: worth it for the full run's 18 jobs and --quick's 5, not
    # for fewer (a seed's images cached but not another's still gives 6).
    workers = min(torch.get_num_threads(), len(jobs)) if len(jobs) >= 4 else 1
    if workers > 1:
        log(f"[demo] generators: {len(jobs)} one-thread trainings of every seed, {workers} processes at a time ...")
    results = run_one_thread_jobs(jobs, workers=workers, progress=progress)
    trained: dict[int, dict[str, Any]] = {}
    for (sd, name), value in results.items():
        trained.setdefault(sd, {})[name] = value
    return trained


def _make_images(s: BenchmarkSettings, seed: int, progress: bool, trained: dict[str, Any] | None = None
                 ) -> dict[str, np.ndarray]:
    """Real patches and every generator's fakes (cached). ``trained``: this seed's results of
    :func:`_one_thread_jobs` when they were trained elsewhere; otherwise the same jobs run here, on one thread each,
    so the generators are bit-identical either way (sampling runs on the caller's threads)."""

    def build() -> dict[str, np.ndarray]:
        photos = packaged_photos()
        models = trained or {name: value for (_, name), value in run_one_thread_jobs(
            _one_thread_jobs(s, seed, photos), workers=1, progress=progress).items()}
        out = {
            "real_train": cut_patches(photos, s.n_train, s.patch, seed=seed, part="train"),
            "real_val": cut_patches(photos, s.n_val, s.patch, seed=seed + 1, part="train"),
            "real_test": cut_patches(photos, s.n_test, s.patch, seed=seed + 2, part="test"),
        }
        # Fakes reconstruct *other* real patches, so no fake shares its content with a real image of its split.
        fake_src_train = cut_patches(photos, s.n_train + s.n_val, s.patch, seed=seed + 3, part="train")
        fake_src_test = cut_patches(photos, s.n_test, s.patch, seed=seed + 4, part="test")
        for kind in ("tconv", "upconv", "vae"):
            model = models[kind]
            out[f"{kind}_test"] = reconstruct(model, fake_src_test)
            if kind == TRAIN_GENERATOR:
                both = reconstruct(model, fake_src_train)
                out[f"{kind}_train"], out[f"{kind}_val"] = both[:s.n_train], both[s.n_train:]
        out["singan_test"] = singan_fakes([photos[p] for p in s.singan_photos], s.n_test, s.patch,
                                          iters=s.singan_iters, seed=seed, progress=progress,
                                          samples=[models[f"singan/{i}"] for i in range(len(s.singan_photos))])
        ddpm = models["ddpm"]
        out["ddpm_test"] = ddpm_samples(ddpm, s.n_test, size=s.patch, seed=seed + 5,
                                        num_inference_steps=s.ddpm_sample_steps, progress=progress)
        out["ddpm-i2i_test"] = ddpm_img2img(ddpm, fake_src_test, strength=s.ddpm_strength, seed=seed + 6,
                                            num_inference_steps=s.ddpm_i2i_steps, progress=progress)
        return out

    arrays, _ = cached_arrays("images", _images_spec(s, seed), build)
    return arrays


def _write_split(root: Path, arrays: dict[str, np.ndarray], s: BenchmarkSettings) -> None:
    """ForenSynths layout: train/ and val/ with tconv fakes; test/<generator>/{0_real,1_fake}."""
    def dump(folder: Path, images: np.ndarray) -> None:
        for i, img in enumerate(images):
            path = folder / f"{i:04d}.png"
            if not path.exists():
                save_png(path, img)

    dump(root / "train" / "patches" / "0_real", arrays["real_train"])
    dump(root / "train" / "patches" / "1_fake", arrays[f"{TRAIN_GENERATOR}_train"])
    dump(root / "val" / "patches" / "0_real", arrays["real_val"])
    dump(root / "val" / "patches" / "1_fake", arrays[f"{TRAIN_GENERATOR}_val"])
    for kind in GENERATORS:
        dump(root / "test" / kind / "0_real", arrays["real_test"])
        dump(root / "test" / kind / "1_fake", arrays[f"{kind}_test"])


def _msr_samples(root: Path, out: Path, s: BenchmarkSettings, seed: int, progress: bool) -> list[Sample]:
    """Regenerate the real training patches at ``msr_scales``: through the demo's latent diffusion model
    (``msr_backend="diffusion"``), or through a small VAE trained on them (``"vae"``)."""
    from hrr.msr import MultiScaleRetrospector, VAERegenerator

    if s.msr_backend == "diffusion":
        from hrr.demo._ldm import MSRModelSettings, demo_msr_regenerator

        regenerator: Any = demo_msr_regenerator(MSRModelSettings.quick() if s.msr_model_quick else None,
                                                    progress=progress)
    else:
        from hrr.demo._msr import train_demo_vae

        reals = [np.asarray(a) for a in _load_dir(root / "train" / "patches" / "0_real")]
        vae = train_demo_vae(reals[:64], steps=s.msr_vae_steps, seed=seed + 7, crop=s.crop, progress=progress)
        regenerator = VAERegenerator(vae, device="cpu")
    msr = MultiScaleRetrospector(regenerator, scales=s.msr_scales, seed=seed, batch_size=16, progress=progress,
                                 num_workers=0)
    msr.run(root / "train" / "patches" / "0_real", out)
    return scan_dataset(out, layout="msr")


def _load_dir(folder: Path) -> list[np.ndarray]:
    from hrr._images import load_image

    return [load_image(p) for p in sorted(folder.glob("*.png"))]


def _summary(result: Any) -> dict[str, float]:
    """Acc and AP as the unweighted mean over every generator ("mean/...") and over all but the training one
    ("held-out/...", the paper's question: does a detector trained on one generator recognise the others?)."""
    rows = {r["group"]: r for r in result.table()}
    out = {}
    for m in ("acc", "ap"):
        out[f"mean/{m}"] = rows["mean"][m]
        out[f"held-out/{m}"] = _nanmean([rows[g][m] for g in HELD_OUT if g in rows])
    return out


def _nanmean(values: list[float]) -> float:
    """The mean of the defined values (as the evaluation's own "mean" row skips an undefined AP); NaN if none."""
    defined = [v for v in values if not math.isnan(v)]
    return float(np.mean(defined)) if defined else float("nan")


def run_benchmark(out_dir: Path, *, quick: bool = False, progress: bool = True, seed: int = 0,
                  settings: BenchmarkSettings | None = None, log: Callable[[str], None] = print) -> BenchmarkResult:
    """Run the whole miniature benchmark and write its report folder; see the module docstring."""
    s = settings or (BenchmarkSettings.quick() if quick else BenchmarkSettings())
    if settings is None and seed != 0:
        s = dataclasses.replace(s, seeds=tuple(seed + i for i in range(len(s.seeds))))
    out_dir = Path(out_dir)
    timings: dict[str, float] = {}
    per_seed: list[dict[str, Any]] = []
    threads = torch.get_num_threads()
    start = time.perf_counter()
    trained = _train_one_thread_generators(s, s.seeds, progress, log)
    timings["generators (train or load from cache)"] = time.perf_counter() - start
    for sd in s.seeds:
        root = out_dir / "benchmark" / f"seed{sd}"
        done = _stage(timings, "generators (train or load from cache)", log)
        arrays = _make_images(s, sd, progress, trained.pop(sd, None))
        done()
        done = _stage(timings, "shortcut check (global statistics)", log)
        per_seed.append(_shortcut_row(arrays, sd))
        done()
        done = _stage(timings, "write images (lossless PNG)", log)
        _write_split(root / "data", arrays, s)
        done()
        done = _stage(timings, "MSR pseudo-fakes", log)
        msr = _msr_samples(root / "data", root / "msr", s, sd, progress)
        done()
        train = scan_dataset(root / "data", split="train")
        val = scan_dataset(root / "data", split="val")
        test = scan_dataset(root / "data", split="test")
        config = TrainConfig(epochs=s.epochs, batch_size=32, crop_size=s.crop, lr=s.lr, gamma=s.gamma,
                             blur_prob=0.1, jpeg_prob=0.1, patience=s.epochs, seed=sd)
        torch.set_num_threads(max(1, threads))
        done = _stage(timings, "train detectors (without and with MSR)", log)
        detectors, _ = fit_ablation_detectors(train, root / "runs", msr_samples=msr, val_samples=val,
                                              backbone=SmallCNN, config=config, afr_params={"lam": s.afr_lam},
                                              device="cpu", progress=progress, seed=sd)
        done()
        done = _stage(timings, "evaluate", log)
        for variant in VARIANTS:
            det = detectors[variant]
            sweep = multiscale_table(det.predict_proba, test, scales=TEST_SCALES, progress=False)
            # Scale 1 is the plain evaluation (TestTransform(scale=1) passes the images through unchanged, so the
            # probabilities are the same): reusing it saves a quarter of this stage; it is labelled as what it is.
            res = dataclasses.replace(sweep.results[TEST_SCALES.index(1.0)], setting=TestTransform().describe(),
                                      setting_in_words=TestTransform().describe_plainly())
            res.save(root / "eval" / variant.replace("/", "").replace(" ", "_"))
            row: dict[str, Any] = {"seed": sd, "variant": variant}
            for r in res.table():
                for m in PER_GENERATOR_METRICS:
                    row[f"{r['group']}/{m}"] = r[m]
            row["ece"] = res.calibration()["ece"]
            row.update(_summary(res))
            for scale, r in zip(TEST_SCALES, sweep.results, strict=True):
                row.update({f"x{scale:g}/{k}": v for k, v in _summary(r).items()})
            per_seed.append(row)
        done()
        if sd == s.seeds[0]:
            done = _stage(timings, "pictures", log)
            _pictures(out_dir, arrays, msr, detectors, test)
            done()
    table_iv, table_v = _aggregate(per_seed)
    return BenchmarkResult(table_iv, table_v, per_seed, timings, s, describe(), out_dir)


def _shortcut_row(arrays: dict[str, np.ndarray], seed: int) -> dict[str, Any]:
    """Per generator: can per-image colour, histogram and sharpness statistics alone separate its test fakes from
    the real test patches (5-fold cross-validated logistic regression)?"""
    row: dict[str, Any] = {"seed": seed, "variant": SHORTCUT}
    for g in GENERATORS:
        scores = shortcut_scores(arrays["real_test"], arrays[f"{g}_test"], seed=seed)
        row[f"{g}/acc"], row[f"{g}/ap"] = scores["acc"], scores["ap"]
    for m in ("acc", "ap"):
        row[f"mean/{m}"] = _nanmean([row[f"{g}/{m}"] for g in GENERATORS])
        row[f"held-out/{m}"] = _nanmean([row[f"{g}/{m}"] for g in HELD_OUT])
    return row


def _agg(values: list[float]) -> tuple[float, float]:
    """Mean over seeds and the half-width of its 95 % Student-t interval (0 for one seed)."""
    from scipy.stats import t

    vals = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return float("nan"), float("nan")
    if len(vals) == 1:
        return float(vals[0]), 0.0
    half = t.ppf(0.975, len(vals) - 1) * np.std(vals, ddof=1) / math.sqrt(len(vals))
    return float(np.mean(vals)), float(half)


def _aggregate(per_seed: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    table_iv, table_v = [], []
    for variant in (*VARIANTS, SHORTCUT):
        rows = [r for r in per_seed if r["variant"] == variant]
        if not rows:
            continue
        iv: dict[str, Any] = {"variant": variant}
        for key in rows[0]:
            if key not in ("seed", "variant"):
                iv[key], iv[f"{key}_sd"] = _agg([r[key] for r in rows])
        table_iv.append(iv)
        if variant == SHORTCUT:  # a property of the test images at scale 1, not a detector run at every scale
            continue
        v: dict[str, Any] = {"variant": variant}
        for scale in TEST_SCALES:
            for key in TABLE_V_KEYS:
                v[f"x{scale:g}/{key}"], v[f"x{scale:g}/{key}_sd"] = _agg([r[f"x{scale:g}/{key}"] for r in rows])
        table_v.append(v)
    return table_iv, table_v


def format_tables(result: BenchmarkResult) -> str:
    """Markdown: Table IV (per generator at scale 1, with the mean and the held-out mean: Acc, AP, then the real
    and per-generator fake accuracies with the ECE), Table V twice (the mean and the held-out mean per test scale),
    and a one-line definition of every row shown. Cells: mean over seeds ± the half-width of its 95 % t interval."""
    n = len(result.settings.seeds)
    over = (f"mean ± 95 % t-interval half-width over {n} seeds" if n > 1 else "one seed")

    def cell(row: dict[str, Any], key: str) -> str:
        mean, sd = row[key], row[f"{key}_sd"]
        if isinstance(mean, float) and math.isnan(mean):
            return "n/a"
        return f"{100 * mean:.1f}" + (f" ± {100 * sd:.1f}" if n > 1 else "")

    parts = []
    for metric, title in (("acc", "Accuracy (%)"), ("ap", "Average precision (%)")):
        rows = [{"variant": r["variant"], **{_HEADERS.get(g, g): cell(r, f"{g}/{metric}") for g in SUMMARY_COLUMNS}}
                for r in result.table_iv]
        parts.append(f"**Table IV analogue — {title}, trained on `{TRAIN_GENERATOR}` only, test scale 1** ({over})"
                     "\n\n" + to_markdown(rows, percent=False))
    # Every generator's test set shares the same real patches, so one real accuracy per detector says it all.
    rows = [{"variant": r["variant"], "real acc": cell(r, "mean/real_acc"),
             **{g: cell(r, f"{g}/fake_acc") for g in GENERATORS}, "ECE": _plain(r, "ece", n)}
            for r in result.table_iv if r["variant"] != SHORTCUT]
    parts.append("**Table IV analogue — accuracy on the real test patches and on each generator's fakes (%), and the "
                 f"expected calibration error of all test probabilities (0 = calibrated)** ({over})\n\n"
                 + to_markdown(rows, percent=False))
    held_out = ", ".join(f"`{g}`" for g in HELD_OUT)
    for group, title in (("mean", f"mean Acc / AP (%) over the {len(GENERATORS)} generators"),
                         ("held-out", f"held-out mean Acc / AP (%) over {held_out} (not seen in training)")):
        rows = [{"variant": r["variant"], **{f"{s:g}x {m}": cell(r, f"x{s:g}/{group}/{m}") for s in TEST_SCALES
                                             for m in ("acc", "ap")}} for r in result.table_v]
        parts.append(f"**Table V analogue — {title}, by test scale** ({over})\n\n" + to_markdown(rows, percent=False))
    parts.append("Rows:\n\n" + "\n".join(f"- *{name}*: {text}" for name, text in VARIANT_DEFINITIONS.items()
                                            if any(r["variant"] == name for r in result.table_iv)))
    return "\n\n".join(parts)


def _plain(row: dict[str, Any], key: str, n: int) -> str:
    """A cell that is not a percentage (the ECE), with its interval."""
    mean, half = row[key], row[f"{key}_sd"]
    return f"{mean:.3f}" + (f" ± {half:.3f}" if n > 1 else "")


def _pictures(out_dir: Path, arrays: dict[str, np.ndarray], msr: list[Sample], detectors: dict[str, HRRDetector],
              test: list[Sample]) -> None:
    """A grid of reals / fakes per generator / MSR pseudo-fakes, and CAMs of baseline vs HRR on test fakes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hrr._images import load_image
    from hrr._io import save_figure
    from hrr.detect import class_activation_maps, save_cam_grid

    k = 6
    rows = [("real", arrays["real_test"][:k])] + [(g, arrays[f"{g}_test"][:k]) for g in GENERATORS]
    regen = [load_image(s.path) for s in msr if s.label == 1 and "msr@64" in s.group][:k]
    if regen:
        rows.append(("MSR pseudo-fake", np.stack(regen)))
    # One labelled column per source, examples down the columns, tiles nearly touching
    fig, axes = plt.subplots(k, len(rows), figsize=(1.25 * len(rows), 1.25 * k + 0.35), squeeze=False)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.35 / (1.25 * k + 0.35), wspace=0.04,
                        hspace=0.04)
    for c, (name, imgs) in enumerate(rows):
        for r in range(k):
            ax = axes[r, c]
            ax.axis("off")
            if r < len(imgs):
                ax.imshow(np.clip(imgs[r], 0, 1), interpolation="nearest")
        axes[0, c].set_title(name, fontsize=8)
    save_figure(fig, out_dir / "images_grid.png")
    plt.close(fig)

    fakes = [s for s in test if s.label == 1 and s.group in GENERATORS]
    picked = [next(s for s in fakes if s.group == g) for g in GENERATORS]
    batch = torch.stack([torch.from_numpy(load_image(s.path)).permute(2, 0, 1) for s in picked])
    cams = {name: class_activation_maps(detectors[name].model, batch).cpu() for name in ("baseline", "w/o AFR")}
    # Each column's title carries what both detectors said of that image: P(generated), all of them fakes
    p_base, p_hrr = detectors["baseline"].predict_proba(batch), detectors["HRR"].predict_proba(batch)
    titles = [f"{s.group} (fake)\nP(fake): baseline {a:.2f}, HRR {b:.2f}"
              for s, a, b in zip(picked, p_base, p_hrr, strict=True)]
    save_cam_grid(batch, {"baseline": cams["baseline"], "HRR (MSR + KL network)": cams["w/o AFR"]},
                  out_dir / "cams.png", titles=titles, tile_inches=2.4)


__all__ = ["BenchmarkResult", "BenchmarkSettings", "format_tables", "run_benchmark"]


def _msr_words(s: BenchmarkSettings) -> str:
    if s.msr_backend == "vae":
        return f"a VAE trained for {s.msr_vae_steps} steps"
    from hrr.demo._ldm import MSRModelSettings

    m = MSRModelSettings.quick() if s.msr_model_quick else MSRModelSettings()
    return (f"the library's diffusers img2img regenerator (empty prompt, strength {m.strength:g}, "
            f"{m.num_inference_steps} steps) on a tiny latent diffusion model trained on the spot (VAE "
            f"{m.vae_steps} steps, UNet {m.unet_steps} steps) and loaded with `from_pretrained`")


def write_report(result: BenchmarkResult, seconds: float) -> Path:
    """``benchmark.md`` in the output folder: protocol, settings, tables, timings and the pictures."""
    from hrr._io import atomic_path

    s = result.settings
    quick = dataclasses.replace(s, seeds=BenchmarkSettings.quick().seeds) == BenchmarkSettings.quick()
    lines = [
        "# hrr demo: miniature generated-image detection benchmark",
        "",
        ("Run: `hrr demo --quick`: smaller sizes and one seed, a smoke test of the protocol; `hrr demo` runs the "
         "benchmark itself (three seeds, intervals)." if quick else
         f"Run: `hrr demo`, {len(s.seeds)} seeds; each cell is the mean over the seeds and its 95 % t-interval."),
        "",
        f"Real images: {s.patch}x{s.patch} patches of photos shipped with scikit-image and scikit-learn "
        f"({s.n_train} train, {s.n_val} validation, {s.n_test} test per generator; train and test patches come from "
        "disjoint parts of each photo). Every image is stored as lossless PNG.",
        "",
        "Generators (trained on the fly on the real training patches, cached in the user cache folder):",
        "",
        *[f"- `{k}`: {v}" for k, v in result.generators.items()],
        "",
        f"Training: fakes of `{TRAIN_GENERATOR}` only; {s.epochs} epochs of Adam (lr {s.lr:g}) on random "
        f"{s.crop}x{s.crop} crops with CNNDetection blur/JPEG augmentation (p = 0.1), a small CNN backbone "
        f"(`hrr.detect.SmallCNN`); MSR variants add real training patches regenerated at {list(s.msr_scales)} px "
        f"by {_msr_words(s)}, and gamma = {s.gamma:g} for the KL term; AFR: CorrentropySAM with "
        f"lam = {s.afr_lam:g}. Probabilities are calibrated on the validation split (Platt scaling). "
        f"Seeds: {list(s.seeds)}. Test images are not cropped.",
        "",
        format_tables(result),
        "",
        "Pictures: [reals, fakes per generator, MSR pseudo-fakes](images_grid.png); "
        "[class-activation maps, baseline vs HRR network](cams.png); per-variant PR curves under "
        "`benchmark/seed*/eval/<variant>/pr_curves.png`.",
        "",
        "Time per stage (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
        + f"; total {seconds:.1f}.",
    ]
    path = result.out_dir / "benchmark.md"
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
