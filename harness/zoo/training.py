"""The zoo's training loops, shared by every modality: a classifier loop (the extractors) and the DDPM loop
(the generators), on one optimiser and schedule (AdamW, linear warm-up then cosine decay), seeded
mini-batches and pinned threads.

Deterministic: call a loop inside ``Threads(recipe.threads)`` after ``torch.manual_seed(recipe.seed)`` and
building the network; one ``torch.Generator`` seeded with ``recipe.seed`` then draws every batch, shift,
timestep and noise, so the same recipe gives the same bits (with the same library versions and CPU type).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Log = Callable[[str], None]


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def batches(n: int, batch: int, gen: Any) -> Iterator[Any]:
    """Endless mini-batches of indices: a fresh seeded permutation per epoch, no partial batches."""
    import torch

    while True:
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n - batch + 1, batch):
            yield perm[i : i + batch]


class Threads:
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


def shift(x: Any, max_shift: int, gen: Any) -> Any:
    """Translate each image (N, 1, H, W) by up to ``max_shift`` pixels (zero padding), independently per image;
    ``max_shift`` 0 returns ``x`` and draws nothing."""
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


class _Steps:
    """What both loops share: the seeded generator, AdamW with the recipe's schedule, the batches, and the
    mean loss of every ``log_every`` steps (logged, and kept)."""

    def __init__(self, recipe: Any, params: Any, n: int, total: int, log_every: int, log: Log) -> None:
        import torch

        self.recipe, self.total, self.log_every, self.log = recipe, total, log_every, log
        self.gen = torch.Generator().manual_seed(recipe.seed)
        self.opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: lr_factor(s, recipe.warmup_steps, total)
        )
        self.batches = batches(n, recipe.batch_size, self.gen)
        self.losses: list[float] = []
        self._window: list[float] = []
        self._t0 = time.perf_counter()

    def update(self, loss: Any, clip: Any = None) -> None:
        """One optimiser step on ``loss`` (gradients clipped by ``clip(...)`` first, where given)."""
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            clip()
        self.opt.step()
        self.sched.step()
        self._window.append(loss.item())

    def logged(self, step: int) -> None:
        """After step ``step`` (0-based): the mean loss of the window, every ``log_every`` steps and at the end."""
        if (step + 1) % self.log_every and step + 1 != self.total:
            return
        self.losses.append(float(np.mean(self._window)))
        self._window = []
        el = time.perf_counter() - self._t0
        self.log(
            f"{self.recipe.name}: step {step + 1}/{self.total} loss {self.losses[-1]:.4f} "
            f"lr {self.sched.get_last_lr()[0]:.2e} {el:.0f} s (eta {el / (step + 1) * (self.total - step - 1):.0f} s)"
        )


def train_classifier(
    recipe: Any, net: Any, x_all: Any, y_all: Any, *, total: int, log_every: int, log: Log = print
) -> list[float]:
    """Cross-entropy training of ``net`` on ``x_all`` (N, ...) and labels ``y_all``; images are shifted by up
    to ``recipe.max_shift`` pixels. Returns the mean loss per ``log_every`` steps."""
    import torch.nn.functional as F

    steps = _Steps(recipe, net.parameters(), len(y_all), total, log_every, log)
    net.train()
    for step in range(total):
        idx = next(steps.batches)
        x = shift(x_all[idx], recipe.max_shift, steps.gen)
        steps.update(F.cross_entropy(net(x), y_all[idx]))
        steps.logged(step)
    net.eval()
    return steps.losses


def _target(prediction_type: str, x0: Any, noise: Any, a: Any) -> Any:
    if prediction_type == "epsilon":
        return noise
    if prediction_type == "sample":
        return x0
    if prediction_type == "v_prediction":
        return a.sqrt() * noise - (1.0 - a).sqrt() * x0
    raise ValueError(f"unknown prediction type {prediction_type!r}")


def train_ddpm(
    recipe: Any, unet: Any, x_all: Any, y_all: Any, *, total: int, log_every: int = 200, log: Log = print
) -> tuple[Any, list[float]]:
    """The DDPM loop of the image, video and audio generators.

    ``unet(x_t, t, class_labels=y).sample`` is trained to predict ``recipe.prediction_type`` (epsilon, sample
    (x0) or v_prediction) with MSE over ``x_all`` (N, ...) in the model's value range and class labels
    ``y_all``; gradient clipping and an EMA of the weights (its decay warmed up as
    ``min(decay, (1 + k) / (10 + k))``). Returns the EMA model (buffers copied from the trained one) and the
    mean loss per ``log_every`` steps.
    """
    import torch
    import torch.nn.functional as F
    from diffusers import DDPMScheduler

    ema = copy.deepcopy(unet).requires_grad_(False)
    noise_sched = DDPMScheduler(
        num_train_timesteps=recipe.num_train_timesteps,
        beta_schedule=recipe.beta_schedule,
        beta_start=recipe.beta_start,
        beta_end=recipe.beta_end,
    )
    ac = noise_sched.alphas_cumprod.float()
    params = list(unet.parameters())
    steps = _Steps(recipe, unet.parameters(), len(y_all), total, log_every, log)
    ema_params = list(ema.parameters())
    clip = (lambda: torch.nn.utils.clip_grad_norm_(params, recipe.grad_clip)) if recipe.grad_clip else None
    unet.train()
    shape = (-1,) + (1,) * (x_all.ndim - 1)
    for step in range(total):
        idx = next(steps.batches)
        x0, y = x_all[idx], y_all[idx]
        t = torch.randint(0, recipe.num_train_timesteps, (len(idx),), generator=steps.gen)
        noise = torch.randn(x0.shape, generator=steps.gen)
        a = ac[t].view(shape)
        xt = a.sqrt() * x0 + (1.0 - a).sqrt() * noise
        target = _target(recipe.prediction_type, x0, noise, a)
        steps.update(F.mse_loss(unet(xt, t, class_labels=y).sample, target), clip)
        decay = min(recipe.ema_decay, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, params, 1.0 - decay)
        steps.logged(step)
    with torch.no_grad():
        for b_ema, b in zip(ema.buffers(), unet.buffers()):
            b_ema.copy_(b)
    return ema, steps.losses
