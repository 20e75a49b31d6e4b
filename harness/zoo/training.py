"""The zoo's shared training machinery: the DDPM loop of the image, video and audio generators, seeded
mini-batches, the learning-rate schedule and pinned threads. ``harness.zoo.train`` (digits) and
``harness.zoo.av.train`` (video, audio) both build on it."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

Log = Callable[[str], None]


def _lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _batches(n: int, batch: int, gen: Any) -> Any:
    """Endless mini-batches of indices: a fresh seeded permutation per epoch, no partial batches."""
    import torch

    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch + 1, batch):
            yield perm[i : i + batch]


class _Threads:
    """Pin torch's intra-op threads for the duration (restored afterwards: tests train in-process)."""

    def __init__(self, n: int):
        self.n = n

    def __enter__(self) -> None:
        import torch

        self.before = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        import torch

        torch.set_num_threads(self.before)


def train_ddpm(
    recipe: Any,
    unet: Any,
    x_all: Any,
    y_all: Any,
    *,
    total: int,
    prediction_type: str = "epsilon",
    log_every: int = 200,
    log: Log = print,
) -> tuple[Any, list[float]]:
    """The zoo's DDPM training loop, shared by the image, video and audio generators.

    ``unet(x_t, t, class_labels=y).sample`` is trained to predict ``prediction_type`` (epsilon, sample
    (x0) or v_prediction) with MSE over ``x_all`` (N, ...) in the model's value range and class labels
    ``y_all``; AdamW, linear warm-up then cosine decay, gradient clipping and an EMA of the weights (its
    decay warmed up as ``min(decay, (1 + k) / (10 + k))``). ``recipe`` gives seed, batch size, learning
    rate, schedule and noise schedule fields. Call it inside ``_Threads(recipe.threads)`` after
    ``torch.manual_seed(recipe.seed)`` and building ``unet``: one seeded generator then draws batches,
    timesteps and noise, so the same recipe gives the same bits. Returns the EMA model (buffers copied
    from the trained one) and the mean loss per ``log_every`` steps.
    """
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler

    t0 = time.perf_counter()
    losses: list[float] = []
    ema = copy.deepcopy(unet).requires_grad_(False)
    noise_sched = DDPMScheduler(
        num_train_timesteps=recipe.num_train_timesteps,
        beta_schedule=recipe.beta_schedule,
        beta_start=recipe.beta_start,
        beta_end=recipe.beta_end,
    )
    ac = noise_sched.alphas_cumprod.float()
    gen = torch.Generator().manual_seed(recipe.seed)
    opt = torch.optim.AdamW(unet.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, recipe.warmup_steps, total))
    batches = _batches(len(y_all), recipe.batch_size, gen)
    ema_params = list(ema.parameters())
    params = list(unet.parameters())
    unet.train()
    window: list[float] = []
    shape = (-1,) + (1,) * (x_all.ndim - 1)
    for step in range(total):
        idx = next(batches)
        x0, y = x_all[idx], y_all[idx]
        t = torch.randint(0, recipe.num_train_timesteps, (len(idx),), generator=gen)
        noise = torch.randn(x0.shape, generator=gen)
        a = ac[t].view(shape)
        xt = a.sqrt() * x0 + (1.0 - a).sqrt() * noise
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "sample":
            target = x0
        elif prediction_type == "v_prediction":
            target = a.sqrt() * noise - (1.0 - a).sqrt() * x0
        else:
            raise ValueError(f"unknown prediction type {prediction_type!r}")
        loss = F.mse_loss(unet(xt, t, class_labels=y).sample, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if recipe.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)
        opt.step()
        sched.step()
        decay = min(recipe.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == total:
            losses.append(float(np.mean(window)))
            window = []
            el = time.perf_counter() - t0
            log(
                f"{recipe.name}: step {step + 1}/{total} loss {losses[-1]:.4f} "
                f"lr {sched.get_last_lr()[0]:.2e} {el:.0f} s (eta {el / (step + 1) * (total - step - 1):.0f} s)"
            )
    with torch.no_grad():
        for b_ema, b in zip(ema.buffers(), unet.buffers()):
            b_ema.copy_(b)
    return ema, losses
