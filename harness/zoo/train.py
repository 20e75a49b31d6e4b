"""Rebuild a zoo model from its recipe: ``harness zoo train NAME [--out DIR] [--steps N]``.

* Extractors (``digits-extractor``, ``moving-digits-extractor``, ``notes-extractor``) write
  ``model.safetensors`` + ``config.json`` and then the held-out reference statistics of their Fréchet distance
  (``*_heldout_stats.npz``: mu, sigma, n, and the real-vs-real noise floor per sample size in its metadata),
  which depend on the extractor.
* Generators (``digits-small``, ``digits-large``, ``moving-digits``, ``moving-digits-layered``, ``notes``,
  ``notes-ddsp``) write a ``save_pretrained``
  folder of their pipeline (EMA weights, the recipe's scheduler) and ``zoo.json`` (recipe, losses, time).

One loop per kind for every modality (:mod:`harness.zoo.training`); what differs by modality is in
:mod:`harness.zoo.domains`. Deterministic: ``torch.manual_seed(recipe.seed)`` before the weights are built,
one seeded ``torch.Generator`` for batches, shifts, timesteps and noise, and
``torch.set_num_threads(recipe.threads)``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.metrics.feature_stats import StreamingStats
from harness.zoo import ZOO_DIR
from harness.zoo.domains import DOMAINS, Domain
from harness.zoo.metrics import one_blas_thread
from harness.zoo.recipes import ExtractorRecipe, GeneratorRecipe, get_recipe
from harness.zoo.training import Log, Threads, train_classifier, train_ddpm

FLOOR_DRAWS = 20
EVAL_BATCH = 500  # CPU conv3d unfolds its input: a batch of all the clips would peak at gigabytes


def train(
    name: str, out: str | Path | None = None, steps: int | None = None, log: Log = print
) -> dict[str, Any]:
    """Train ``name`` from its recipe into ``out`` (default: its committed folder under model_cards/zoo).

    ``steps`` overrides the recipe's optimizer steps (the learning-rate schedule is stretched to it):
    a handful checks that a recipe still runs. Returns a summary (paths, time, quality).
    """
    recipe = get_recipe(name)
    if steps is not None and steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    folder = Path(out) if out is not None else ZOO_DIR / name
    domain = DOMAINS[recipe.modality]
    if isinstance(recipe, ExtractorRecipe):
        return train_extractor(recipe, domain, folder, steps=steps, log=log)
    return train_generator(recipe, domain, folder, steps=steps, log=log)


# ------------------------------------------------------------------------------------------ extractors


def accuracy(net: Any, x: np.ndarray, y: np.ndarray) -> float:
    """The share of ``x`` that ``net`` classifies as ``y``, in batches of :data:`EVAL_BATCH`."""
    import torch

    with torch.no_grad():
        correct = sum(
            int(
                (
                    net(torch.from_numpy(x[i : i + EVAL_BATCH])).argmax(1).numpy() == y[i : i + EVAL_BATCH]
                ).sum()
            )
            for i in range(0, len(x), EVAL_BATCH)
        )
    return correct / len(x)


def train_extractor(
    recipe: ExtractorRecipe, domain: Domain, out: Path, *, steps: int | None = None, log: Log = print
) -> dict[str, Any]:
    """Train the classifier, save it with its config, then build its reference statistics."""
    import torch

    from harness.zoo.extractor import save_net

    total = steps or recipe.steps
    split = domain.split()
    x_train = domain.extractor_inputs(split.x_train)
    t0 = time.perf_counter()
    with Threads(recipe.threads):
        torch.manual_seed(recipe.seed)
        net, arch = domain.extractor_net(recipe)
        y_all = torch.from_numpy(split.y_train)
        train_classifier(
            recipe, net, torch.from_numpy(x_train), y_all, total=total, log_every=domain.log_every, log=log
        )
        acc_ho = accuracy(net, domain.extractor_inputs(split.x_heldout), split.y_heldout)
        acc_tr = accuracy(net, x_train, split.y_train)
    train_s = time.perf_counter() - t0
    log(f"{recipe.name}: held-out accuracy {acc_ho:.4f} (train {acc_tr:.4f}) in {train_s:.0f} s")
    config = {
        "architecture": arch,
        "modality": recipe.modality,
        "recipe": recipe.to_dict(),
        "steps": total,
        "heldout_accuracy": acc_ho,
        "train_accuracy": acc_tr,
        "train_s": round(train_s, 1),
        "torch": torch.__version__,
        "data": domain.data,
    }
    digest = save_net(net, out, config)
    stats_path = domain.stats_for(out)
    floor = build_reference_stats(domain, out, stats_path, log=log)
    return {
        "name": recipe.name,
        "out": str(out),
        "steps": total,
        "train_s": train_s,
        "heldout_accuracy": acc_ho,
        "weights_sha256": digest,
        "reference_stats": str(stats_path),
        "floor": floor,
    }


def _floors(domain: Domain, f_tr: np.ndarray, y_tr: np.ndarray, ref: StreamingStats) -> dict[str, float]:
    """The Fréchet distance to the held-out statistics from random training subsets of each floor size
    (mean and std of :data:`FLOOR_DRAWS`), and from the whole training set.

    The subsets are class-balanced (n / classes items of each class, without replacement), as the zoo's
    workloads are (their ``class_labels`` cycle): the extractors' features cluster by class, so a subset
    drawn regardless of class is farther from the held-out set by its chance class proportions alone (notes,
    n = 400: 15.9 unbalanced against 0.73 balanced). Those are kept too, as ``unbalanced_floor_<n>``.
    """
    rng = np.random.default_rng(0)
    by_class = [np.flatnonzero(y_tr == c) for c in range(domain.classes)]
    meta: dict[str, float] = {}
    for n in domain.floor_sizes:
        if n % domain.classes:
            raise ValueError(f"floor size {n} is not a multiple of the {domain.classes} classes")
        balanced, unbalanced = [], []
        for _ in range(FLOOR_DRAWS):
            idx = np.concatenate([rng.choice(c, size=n // domain.classes, replace=False) for c in by_class])
            balanced.append(StreamingStats.from_features(f_tr[idx]).frechet_distance(ref))
            subset = f_tr[rng.choice(len(f_tr), size=n, replace=False)]
            unbalanced.append(StreamingStats.from_features(subset).frechet_distance(ref))
        meta[f"floor_{n}"] = float(np.mean(balanced))
        meta[f"floor_{n}_std"] = float(np.std(balanced, ddof=1))
        meta[f"unbalanced_floor_{n}"] = float(np.mean(unbalanced))
    meta["floor_all_train"] = float(StreamingStats.from_features(f_tr).frechet_distance(ref))
    return meta


def build_reference_stats(
    domain: Domain, extractor_dir: str | Path, path: str | Path, *, log: Log = print
) -> float:
    """Held-out feature statistics for the domain's Fréchet distance and the real-vs-real noise floor
    (returned): what a generator that reproduced the data distribution exactly would score at that sample
    size."""
    split = domain.split()
    # one torch and one BLAS thread: the file is the same bytes wherever it is rebuilt (on one CPU type)
    with Threads(1), one_blas_thread():
        ext = domain.load_extractor(extractor_dir)
        f_ho = ext.features(domain.extractor_inputs(split.x_heldout))
        f_tr = ext.features(domain.extractor_inputs(split.x_train))
        ref = StreamingStats.from_features(f_ho)
        meta = _floors(domain, f_tr, split.y_train, ref)
    floor = meta[f"floor_{domain.floor_n}"]
    ref.to_npz(
        path,
        floor=floor,
        floor_n=domain.floor_n,
        extractor_sha256=ext.sha256,
        reference=domain.reference.format(n=len(f_ho)),
        floor_method=f"FD of {FLOOR_DRAWS} random class-balanced train subsets (without replacement) to the held-out statistics, mean",
        **meta,
    )
    log(
        f"reference statistics {path}: n={ref.n}, d={ref.dim}; real-vs-real floor "
        + ", ".join(
            f"n={n}: {meta[f'floor_{n}']:.3f} ± {meta[f'floor_{n}_std']:.3f}" for n in domain.floor_sizes
        )
        + f", all train: {meta['floor_all_train']:.3f}"
    )
    return floor


# ------------------------------------------------------------------------------------------ generators


def build_scheduler(recipe: GeneratorRecipe) -> Any:
    """The scheduler saved with the pipeline: the recipe's noise schedule and prediction type, and its
    ``scheduler`` config."""
    import diffusers

    cls = getattr(diffusers, recipe.scheduler["name"])
    return cls(
        num_train_timesteps=recipe.num_train_timesteps,
        beta_schedule=recipe.beta_schedule,
        beta_start=recipe.beta_start,
        beta_end=recipe.beta_end,
        **{"prediction_type": recipe.prediction_type, **recipe.scheduler.get("config", {})},
    )


def train_generator(
    recipe: GeneratorRecipe, domain: Domain, out: Path, *, steps: int | None = None, log: Log = print
) -> dict[str, Any]:
    """Train the denoiser, save its EMA weights as the domain's pipeline, and ``zoo.json``."""
    import torch

    total = steps or recipe.steps
    split = domain.split()
    t0 = time.perf_counter()
    with Threads(recipe.threads):
        torch.manual_seed(recipe.seed)
        unet, x_all = domain.generator_setup(recipe, split.x_train, split.y_train)
        y_all = torch.from_numpy(split.y_train)
        ema, losses = train_ddpm(recipe, unet, x_all, y_all, total=total, log_every=domain.log_every, log=log)
    train_s = time.perf_counter() - t0
    ema.eval()
    out.mkdir(parents=True, exist_ok=True)
    domain.pipeline(ema, build_scheduler(recipe)).save_pretrained(out, safe_serialization=True)
    n_params = sum(p.numel() for p in ema.parameters())
    summary = {
        "name": recipe.name,
        "out": str(out),
        "steps": total,
        "train_s": round(train_s, 1),
        "parameters": n_params,
        "final_loss": losses[-1] if losses else None,
        f"loss_every_{domain.log_every}_steps": [round(v, 5) for v in losses],
        "recipe": recipe.to_dict(),
        "torch": torch.__version__,
    }
    # the folder is where zoo.json lies: its path (a machine path) is not written into it
    saved = {k: v for k, v in summary.items() if k != "out"}
    (out / "zoo.json").write_text(json.dumps(saved, indent=2) + "\n")
    log(f"{recipe.name}: {n_params:,} parameters, {total} steps in {train_s:.0f} s → {out}")
    return summary
