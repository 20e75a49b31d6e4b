"""Rebuild a video or audio zoo model from its recipe (``harness zoo train NAME`` dispatches here).

* ``moving-digits-extractor`` / ``notes-extractor``: ``model.safetensors`` + ``config.json``, then the
  held-out reference statistics of ``fvd_digits`` / ``fad_notes`` (``*_heldout_stats.npz`` next to the
  folder: mu, sigma, n and the real-vs-real noise floor per sample size in its metadata).
* ``moving-digits`` / ``notes``: a ``save_pretrained`` folder of the pipeline (EMA weights, the recipe's
  scheduler) and ``zoo.json`` (recipe, losses, time).

Deterministic as the image zoo: seeded weights, one seeded ``torch.Generator`` for batches, timesteps and
noise, ``torch.set_num_threads(recipe.threads)``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness.zoo import ZOO_DIR
from harness.zoo.av import AUDIO_EXTRACTOR_DIR, AUDIO_HELDOUT_STATS, VIDEO_EXTRACTOR_DIR, VIDEO_HELDOUT_STATS
from harness.zoo.av.recipes import AV_RECIPES, AVExtractorRecipe, AVGeneratorRecipe
from harness.zoo.training import Log, _batches, _lr_factor, _Threads, train_ddpm

FLOOR_SIZES = {"video": (100, 250, 500, 1000), "audio": (100, 200, 400, 800)}
FLOOR_N = {"video": 500, "audio": 400}  # the sizes the suites generate
FLOOR_DRAWS = 20


def _split(modality: str) -> Any:
    from harness.zoo.av.data import moving_digits_split, notes_split

    return moving_digits_split() if modality == "video" else notes_split()


def extractor_inputs(modality: str, x: np.ndarray) -> np.ndarray:
    """Data arrays → extractor inputs: clips (N, F, H, W) → (N, 1, F, H, W); waveforms (N, T) → (N, 1, T)."""
    return np.ascontiguousarray(x[:, None], dtype=np.float32)


def train(
    recipe: AVExtractorRecipe | AVGeneratorRecipe, out: Path, *, steps: int | None = None, log: Log = print
) -> dict[str, Any]:
    if isinstance(recipe, AVExtractorRecipe):
        return train_extractor(recipe, out, steps=steps, log=log)
    return train_generator(recipe, out, steps=steps, log=log)


def default_stats_path(recipe: AVExtractorRecipe) -> tuple[Path, Path]:
    return (
        (VIDEO_EXTRACTOR_DIR, VIDEO_HELDOUT_STATS)
        if recipe.modality == "video"
        else (AUDIO_EXTRACTOR_DIR, AUDIO_HELDOUT_STATS)
    )


def _net(recipe: AVExtractorRecipe) -> tuple[Any, dict[str, Any]]:
    from harness.zoo.av import data
    from harness.zoo.av.models import NotesNet, VideoNet3D

    if recipe.modality == "video":
        kwargs = {
            "channels": list(recipe.channels),
            "feature_dim": recipe.feature_dim,
            "num_classes": data.VIDEO_CLASSES,
            "dropout": recipe.dropout,
            "frames": data.FRAMES,
            "size": data.CANVAS,
        }
        return VideoNet3D(**kwargs), {
            "class": "VideoNet3D",
            "kwargs": kwargs,
            "input": "(N, 1, 8, 16, 16) float32 in [0, 1]",
        }
    kwargs = {
        "channels": list(recipe.channels),
        "feature_dim": recipe.feature_dim,
        "num_classes": data.AUDIO_CLASSES,
        "dropout": recipe.dropout,
    }
    return NotesNet(**kwargs), {
        "class": "NotesNet",
        "kwargs": kwargs,
        "input": "(N, 1, 2048) float32 in [-1, 1] at 8 kHz",
    }


def train_extractor(
    recipe: AVExtractorRecipe, out: Path, *, steps: int | None = None, log: Log = print
) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from harness.zoo.extractor import save_net

    total = steps or recipe.steps
    split = _split(recipe.modality)
    t0 = time.perf_counter()
    with _Threads(recipe.threads):
        torch.manual_seed(recipe.seed)
        net, arch = _net(recipe)
        gen = torch.Generator().manual_seed(recipe.seed)
        x_all = torch.from_numpy(extractor_inputs(recipe.modality, split.x_train))
        y_all = torch.from_numpy(split.y_train)
        opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, recipe.warmup_steps, total))
        batches = _batches(len(y_all), recipe.batch_size, gen)
        net.train()
        running = 0.0
        for step in range(total):
            idx = next(batches)
            loss = F.cross_entropy(net(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
            if (step + 1) % 100 == 0 or step + 1 == total:
                log(
                    f"{recipe.name}: step {step + 1}/{total} loss {running / ((step % 100) + 1):.4f} "
                    f"{time.perf_counter() - t0:.0f} s"
                )
                running = 0.0
        net.eval()
        with torch.no_grad():
            x_ho = torch.from_numpy(extractor_inputs(recipe.modality, split.x_heldout))
            correct = sum(
                int((net(x_ho[i : i + 500]).argmax(1).numpy() == split.y_heldout[i : i + 500]).sum())
                for i in range(0, len(x_ho), 500)
            )
            acc_ho = correct / len(x_ho)
    train_s = time.perf_counter() - t0
    log(f"{recipe.name}: held-out accuracy {acc_ho:.4f} in {train_s:.0f} s")
    config = {
        "architecture": {**arch, "features": "fc1 output before its ReLU"},
        "modality": recipe.modality,
        "recipe": recipe.to_dict(),
        "steps": total,
        "heldout_accuracy": acc_ho,
        "train_s": round(train_s, 1),
        "torch": torch.__version__,
        "data": "harness.zoo.av.data "
        + ("moving_digits_split()" if recipe.modality == "video" else "notes_split()"),
    }
    digest = save_net(net, out, config)
    default_dir, default_stats = default_stats_path(recipe)
    stats_path = default_stats if out.resolve() == default_dir.resolve() else out / default_stats.name
    floor = build_reference_stats(recipe.modality, out, stats_path, log=log)
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


def build_reference_stats(
    modality: str, extractor_dir: str | Path, path: str | Path, *, log: Log = print
) -> float:
    """Held-out feature statistics and the real-vs-real noise floor: the Fréchet distance from random
    training subsets (without replacement, mean of ``FLOOR_DRAWS``) to the held-out statistics, per size."""
    from harness.metrics.feature_stats import StreamingStats
    from harness.zoo.av.models import Extractor

    split = _split(modality)
    ext = Extractor(extractor_dir)
    f_ho = ext.features(extractor_inputs(modality, split.x_heldout))
    f_tr = ext.features(extractor_inputs(modality, split.x_train))
    ref = StreamingStats.from_features(f_ho)
    rng = np.random.default_rng(0)
    meta: dict[str, Any] = {}
    for n in FLOOR_SIZES[modality]:
        values = [
            StreamingStats.from_features(f_tr[rng.choice(len(f_tr), size=n, replace=False)]).frechet_distance(
                ref
            )
            for _ in range(FLOOR_DRAWS)
        ]
        meta[f"floor_{n}"] = float(np.mean(values))
        meta[f"floor_{n}_std"] = float(np.std(values, ddof=1))
    meta["floor_all_train"] = float(StreamingStats.from_features(f_tr).frechet_distance(ref))
    floor = meta[f"floor_{FLOOR_N[modality]}"]
    what = "moving-digits held-out clips" if modality == "video" else "notes held-out split"
    ref.to_npz(
        path,
        floor=floor,
        floor_n=FLOOR_N[modality],
        extractor_sha256=ext.sha256,
        reference=f"{what} ({len(f_ho)} items), harness.zoo.av.data",
        floor_method=f"FD of {FLOOR_DRAWS} random train subsets (without replacement) to the held-out statistics, mean",
        **meta,
    )
    log(
        f"reference statistics {path}: n={ref.n}, d={ref.dim}; real-vs-real floor "
        + ", ".join(
            f"n={n}: {meta[f'floor_{n}']:.3f} ± {meta[f'floor_{n}_std']:.3f}" for n in FLOOR_SIZES[modality]
        )
        + f", all train: {meta['floor_all_train']:.3f}"
    )
    return floor


# ------------------------------------------------------------------------------------------ generators


def build_scheduler(recipe: AVGeneratorRecipe) -> Any:
    import diffusers

    cls = getattr(diffusers, recipe.scheduler["name"])
    return cls(
        num_train_timesteps=recipe.num_train_timesteps,
        beta_schedule=recipe.beta_schedule,
        beta_start=recipe.beta_start,
        beta_end=recipe.beta_end,
        **{"prediction_type": recipe.prediction_type, **recipe.scheduler.get("config", {})},
    )


def build_unet(recipe: AVGeneratorRecipe) -> Any:
    from harness.zoo.av import data

    if recipe.modality == "video":
        from diffusers import UNet2DModel

        return UNet2DModel(
            sample_size=data.CANVAS,
            in_channels=data.FRAMES,
            out_channels=data.FRAMES,
            block_out_channels=tuple(recipe.block_out_channels),
            layers_per_block=recipe.layers_per_block,
            down_block_types=tuple(recipe.down_block_types),
            up_block_types=tuple(recipe.up_block_types),
            norm_num_groups=recipe.norm_num_groups,
            attention_head_dim=recipe.attention_head_dim,
            num_class_embeds=data.VIDEO_CLASSES,
        )
    from harness.zoo.av.models import NotesUNet1D

    return NotesUNet1D(
        sample_size=data.LENGTH,
        sample_rate=data.SAMPLE_RATE,
        block_out_channels=tuple(recipe.block_out_channels),
        patch=recipe.patch,
        factor=recipe.factor,
        kernel_size=recipe.kernel_size,
        norm_num_groups=recipe.norm_num_groups,
        emb_dim=recipe.emb_dim,
        num_class_embeds=data.AUDIO_CLASSES,
    )


def train_generator(
    recipe: AVGeneratorRecipe, out: Path, *, steps: int | None = None, log: Log = print
) -> dict[str, Any]:
    import torch

    from harness.zoo.av.pipelines import MovingDigitsPipeline, NotesPipeline

    total = steps or recipe.steps
    split = _split(recipe.modality)
    t0 = time.perf_counter()
    with _Threads(recipe.threads):
        torch.manual_seed(recipe.seed)
        unet = build_unet(recipe)
        if recipe.modality == "video":
            x_all = torch.from_numpy(split.x_train) * 2.0 - 1.0  # (N, F, H, W): frames as channels
        else:
            x_all = torch.from_numpy(split.x_train)[:, None]  # (N, 1, T)
        y_all = torch.from_numpy(split.y_train)
        ema, losses = train_ddpm(
            recipe,
            unet,
            x_all,
            y_all,
            total=total,
            prediction_type=recipe.prediction_type,
            log_every=100,
            log=log,
        )
    train_s = time.perf_counter() - t0
    ema.eval()
    cls = MovingDigitsPipeline if recipe.modality == "video" else NotesPipeline
    pipe = cls(unet=ema, scheduler=build_scheduler(recipe))
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
        "loss_every_100_steps": [round(v, 5) for v in losses],
        "recipe": recipe.to_dict(),
        "torch": torch.__version__,
    }
    # the folder is where zoo.json lies: its path (a machine path) is not written into it
    saved = {k: v for k, v in summary.items() if k != "out"}
    (out / "zoo.json").write_text(json.dumps(saved, indent=2) + "\n")
    log(f"{recipe.name}: {n_params:,} parameters, {total} steps in {train_s:.0f} s → {out}")
    return summary


def default_out(name: str) -> Path:
    return ZOO_DIR / name


__all__ = ["AV_RECIPES", "train"]
