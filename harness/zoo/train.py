"""Rebuild a zoo model from its recipe: ``harness zoo train NAME [--out DIR] [--steps N]``.

* ``digits-extractor`` writes ``model.safetensors`` + ``config.json`` and then the held-out reference
  statistics of ``fd_digits`` (``digits_heldout_stats.npz``: mu, sigma, n, and the real-vs-real noise
  floor in its metadata), which depend on the extractor.
* ``digits-small`` / ``digits-large`` write a ``save_pretrained`` folder of ``ClassConditionalPipeline``
  (EMA weights, the recipe's scheduler) and ``zoo.json`` (recipe, loss, time).

Deterministic: ``torch.manual_seed(recipe.seed)`` before the weights are built, one seeded
``torch.Generator`` for batches, timesteps and noise, and ``torch.set_num_threads(recipe.threads)``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.zoo import EXTRACTOR_DIR, HELDOUT_STATS, ZOO_DIR
from harness.zoo.recipes import ExtractorRecipe, GeneratorRecipe, get_recipe
from harness.zoo.training import Log, _batches, _lr_factor, _Threads, train_ddpm

__all__ = ["Log", "_Threads", "_batches", "_lr_factor", "train", "train_ddpm"]

FLOOR_SIZES = (500, 1000)  # generated-set sizes for which the real-vs-real floor is stored
FLOOR_N = 1000  # the floor quoted as "floor" (the suites generate 1,000 samples)
FLOOR_DRAWS = 20


def default_out(name: str) -> Path:
    return ZOO_DIR / name


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
    folder = Path(out) if out is not None else default_out(name)
    if recipe.kind in ("video-extractor", "audio-extractor", "video-generator", "audio-generator"):
        from harness.zoo.av.train import train as train_av

        return train_av(recipe, folder, steps=steps, log=log)  # type: ignore[arg-type]
    if isinstance(recipe, ExtractorRecipe):
        return train_extractor(recipe, folder, steps=steps, log=log)
    return train_generator(recipe, folder, steps=steps, log=log)


# ------------------------------------------------------------------------------------------ extractor


def _shift(x: Any, max_shift: int, gen: Any) -> Any:
    """Translate each image by up to ``max_shift`` pixels (zero padding), independently per image."""
    import torch
    import torch.nn.functional as F

    if max_shift <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    dy = torch.randint(0, 2 * max_shift + 1, (b,), generator=gen)
    dx = torch.randint(0, 2 * max_shift + 1, (b,), generator=gen)
    rows = (dy[:, None] + torch.arange(h))[:, :, None]
    cols = (dx[:, None] + torch.arange(w))[:, None, :]
    return padded[torch.arange(b)[:, None, None], 0, rows, cols][:, None]


def train_extractor(
    recipe: ExtractorRecipe, out: Path, *, steps: int | None = None, log: Log = print
) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from harness.zoo.data import NUM_CLASSES, SIZE, digits_split
    from harness.zoo.extractor import DigitsNet, save_extractor

    total = steps or recipe.steps
    split = digits_split()
    t0 = time.perf_counter()
    with _Threads(recipe.threads):
        torch.manual_seed(recipe.seed)
        net = DigitsNet(recipe.channels, recipe.feature_dim, NUM_CLASSES, recipe.dropout, SIZE)
        gen = torch.Generator().manual_seed(recipe.seed)
        x_all = torch.from_numpy(split.x_train)
        y_all = torch.from_numpy(split.y_train)
        opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, recipe.warmup_steps, total))
        batches = _batches(len(y_all), recipe.batch_size, gen)
        net.train()
        running = 0.0
        for step in range(total):
            idx = next(batches)
            x = _shift(x_all[idx], recipe.max_shift, gen)
            loss = F.cross_entropy(net(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
            if (step + 1) % 200 == 0 or step + 1 == total:
                log(f"{recipe.name}: step {step + 1}/{total} loss {running / ((step % 200) + 1):.4f}")
                running = 0.0
        net.eval()
        with torch.no_grad():
            acc_ho = float(
                (net(torch.from_numpy(split.x_heldout)).argmax(1).numpy() == split.y_heldout).mean()
            )
            acc_tr = float((net(x_all).argmax(1).numpy() == split.y_train).mean())
    train_s = time.perf_counter() - t0
    log(f"{recipe.name}: held-out accuracy {acc_ho:.4f} (train {acc_tr:.4f}) in {train_s:.0f} s")
    config = {
        "architecture": {
            "class": "harness.zoo.extractor:DigitsNet",
            "channels": list(recipe.channels),
            "feature_dim": recipe.feature_dim,
            "num_classes": NUM_CLASSES,
            "dropout": recipe.dropout,
            "size": SIZE,
            "features": "fc1 output before its ReLU",
            "input": "(N, 1, 16, 16) float32 in [0, 1]",
        },
        "recipe": recipe.to_dict(),
        "steps": total,
        "heldout_accuracy": acc_ho,
        "train_accuracy": acc_tr,
        "train_s": round(train_s, 1),
        "torch": torch.__version__,
        "data": "sklearn load_digits /16, bilinear to 16x16; train_test_split(test_size=0.2, stratify=y, random_state=0)",
    }
    digest = save_extractor(net, out, config)
    stats_path = HELDOUT_STATS if out.resolve() == EXTRACTOR_DIR.resolve() else out / HELDOUT_STATS.name
    floor = build_reference_stats(out, stats_path, log=log)
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


def build_reference_stats(extractor_dir: str | Path, path: str | Path, *, log: Log = print) -> float:
    """Held-out feature statistics for ``fd_digits`` and the real-vs-real noise floor (returned).

    The floor is the Fréchet distance from random training subsets (the size of a generated set, without
    replacement; mean of ``FLOOR_DRAWS`` draws) to the held-out statistics: what a generator that
    reproduced the data distribution exactly would score at that sample size.
    """
    from harness.metrics.feature_stats import StreamingStats
    from harness.zoo.data import digits_split
    from harness.zoo.extractor import DigitsExtractor
    from harness.zoo.metrics import _one_blas_thread

    split = digits_split()
    # one torch and one BLAS thread: the file is the same bytes wherever it is rebuilt (on one CPU type)
    with _Threads(1), _one_blas_thread():
        ext = DigitsExtractor(extractor_dir)
        f_ho = ext.features(split.x_heldout)
        f_tr = ext.features(split.x_train)
        ref = StreamingStats.from_features(f_ho)
        rng = np.random.default_rng(0)
        meta: dict[str, Any] = {}
        for n in FLOOR_SIZES:
            values = []
            for _ in range(FLOOR_DRAWS):
                subset = f_tr[rng.choice(len(f_tr), size=n, replace=False)]
                values.append(StreamingStats.from_features(subset).frechet_distance(ref))
            meta[f"floor_{n}"] = float(np.mean(values))
            meta[f"floor_{n}_std"] = float(np.std(values, ddof=1))
        meta["floor_all_train"] = float(StreamingStats.from_features(f_tr).frechet_distance(ref))
    floor = meta[f"floor_{FLOOR_N}"]
    ref.to_npz(
        path,
        floor=floor,
        floor_n=FLOOR_N,
        extractor_sha256=ext.sha256,
        reference="digits held-out split (360 images): train_test_split(test_size=0.2, stratify=y, random_state=0)",
        floor_method=f"FD of {FLOOR_DRAWS} random train subsets (without replacement) to the held-out statistics, mean",
        **meta,
    )
    log(
        f"reference statistics {path}: n={ref.n}, d={ref.dim}; real-vs-real floor "
        + ", ".join(f"n={n}: {meta[f'floor_{n}']:.2f} ± {meta[f'floor_{n}_std']:.2f}" for n in FLOOR_SIZES)
        + f", all train: {meta['floor_all_train']:.2f}"
    )
    return floor


# ------------------------------------------------------------------------------------------ generators


def build_scheduler(recipe: GeneratorRecipe) -> Any:
    import diffusers

    cls = getattr(diffusers, recipe.scheduler["name"])
    return cls(
        num_train_timesteps=recipe.num_train_timesteps,
        beta_schedule=recipe.beta_schedule,
        beta_start=recipe.beta_start,
        beta_end=recipe.beta_end,
        **recipe.scheduler.get("config", {}),
    )


def train_generator(
    recipe: GeneratorRecipe, out: Path, *, steps: int | None = None, log: Log = print
) -> dict[str, Any]:
    import torch
    from diffusers import UNet2DModel

    from harness.zoo.data import digits_split
    from harness.zoo.pipeline import ClassConditionalPipeline

    total = steps or recipe.steps
    split = digits_split()
    t0 = time.perf_counter()
    with _Threads(recipe.threads):
        torch.manual_seed(recipe.seed)
        unet = UNet2DModel(**recipe.unet_config())
        x_all = torch.from_numpy(split.x_train) * 2.0 - 1.0
        y_all = torch.from_numpy(split.y_train)
        ema, losses = train_ddpm(recipe, unet, x_all, y_all, total=total, log=log)
    train_s = time.perf_counter() - t0
    ema.eval()
    pipe = ClassConditionalPipeline(unet=ema, scheduler=build_scheduler(recipe))
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out, safe_serialization=True)
    n_params = sum(p.numel() for p in ema.parameters())
    summary = {
        "name": recipe.name,
        "out": str(out),
        "steps": total,
        "train_s": round(train_s, 1),
        "parameters": n_params,
        "final_loss": losses[-1] if losses else None,
        "loss_every_200_steps": [round(v, 5) for v in losses],
        "recipe": recipe.to_dict(),
        "torch": torch.__version__,
    }
    # the folder is where zoo.json lies: its path (a machine path) is not written into it
    saved = {k: v for k, v in summary.items() if k != "out"}
    (out / "zoo.json").write_text(json.dumps(saved, indent=2) + "\n")
    log(f"{recipe.name}: {n_params:,} parameters, {total} steps in {train_s:.0f} s → {out}")
    return summary
