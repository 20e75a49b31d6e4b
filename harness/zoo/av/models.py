"""Networks of the video and audio zoo.

* ``VideoNet3D``: the moving-digits classifier (3-D CNN over (N, 1, 8, 16, 16) clips in [0, 1]).
* ``NotesNet``: the notes classifier (log-magnitude STFT from ``torch.stft`` → 1-D CNN over time).
  Both expose ``features`` (the penultimate linear layer BEFORE its ReLU: the Fréchet features) and
  ``head`` (class logits), like the image zoo's ``DigitsNet``.
* ``NotesUNet1D``: a small class-conditional 1-D diffusion UNet, a diffusers ``ModelMixin`` +
  ``ConfigMixin`` so ``save_pretrained`` / ``from_pretrained`` work; its config carries ``sample_rate``
  (the loader reads ``pipeline.unet.config.sample_rate``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from harness.zoo.extractor import ZooClassifier, ZooExtractor, conv_trunk

# ------------------------------------------------------------------------------------------ extractors


class VideoNet3D(ZooClassifier):
    """Clips (N, 1, F, H, W) in [0, 1] → features (N, feature_dim) → logits (N, num_classes)."""

    def __init__(
        self,
        channels: tuple[int, int] = (16, 32),
        feature_dim: int = 64,
        num_classes: int = 10,
        dropout: float = 0.3,
        frames: int = 8,
        size: int = 16,
    ):
        super().__init__()
        c0, c1 = channels
        self.conv = conv_trunk(nn.Conv3d, nn.MaxPool3d, c0, c1)
        self._head(c1 * (frames // 4) * (size // 4) ** 2, feature_dim, num_classes, dropout)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv((x - 0.5) / 0.5).flatten(1)


class NotesNet(ZooClassifier):
    """Waveforms (N, 1, T) in [-1, 1] → log|STFT| (n_fft 256, hop 64, Hann) → 1-D CNN → features → logits."""

    def __init__(
        self,
        channels: tuple[int, int] = (64, 64),
        feature_dim: int = 64,
        num_classes: int = 8,
        dropout: float = 0.3,
        n_fft: int = 256,
        hop: int = 64,
    ):
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        bins = n_fft // 2 + 1
        c0, c1 = channels
        self.conv = nn.Sequential(
            nn.Conv1d(bins, c0, 3, padding=1),
            nn.ReLU(),
            nn.Conv1d(c0, c1, 3, padding=1),
            nn.ReLU(),
        )
        self._head(2 * c1, feature_dim, num_classes, dropout)

    def spectrogram(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(
            x.reshape(-1, x.shape[-1]), self.n_fft, self.hop, window=self.window, return_complex=True
        )
        return torch.log(spec.abs() + 1e-3)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(self.spectrogram(x))
        return torch.cat([h.mean(-1), h.amax(-1)], dim=1)


NETS = {"VideoNet3D": VideoNet3D, "NotesNet": NotesNet}


class Extractor(ZooExtractor):
    """A video or audio zoo classifier (``config.json``: ``architecture.class`` in ``NETS`` and its kwargs).

    Batches of 100: CPU conv3d unfolds its input (a batch of 500 clips peaked at ~1.2 GB RSS).
    """

    def __init__(self, folder: str | Path, device: str = "cpu", batch_size: int = 100):
        super().__init__(folder, device=device, batch_size=batch_size)

    def build_net(self, arch: dict[str, Any]) -> tuple[nn.Module, int, int]:
        kwargs = arch["kwargs"]
        return NETS[arch["class"]](**kwargs), int(kwargs["feature_dim"]), int(kwargs["num_classes"])


# ------------------------------------------------------------------------------------------ 1-D UNet


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


def conditioning(
    model: nn.Module,
    sample: torch.Tensor,
    timestep: torch.Tensor | float | int,
    class_labels: torch.Tensor | None,
) -> torch.Tensor:
    """The embedding a zoo denoiser conditions on: its ``time_mlp`` of the sinusoidal timestep embedding plus
    its ``class_embedding`` of the labels (required where it has one)."""
    t = torch.as_tensor(timestep, device=sample.device)
    if t.ndim == 0:
        t = t.expand(sample.shape[0])
    emb = model.time_mlp(timestep_embedding(t, model.config.emb_dim).to(sample.dtype))
    if model.class_embedding is not None:
        if class_labels is None:
            raise ValueError(f"class_labels are required: this {type(model).__name__} has a class embedding")
        emb = emb + model.class_embedding(class_labels)
    return emb


class ResBlock1D(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int, kernel: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=kernel // 2)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(self.act(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None]
        h = self.conv2(self.act(self.norm2(h)))
        return h + self.skip(x)


class UNet1DOutput(dict):
    """``.sample`` like diffusers' UNet outputs."""

    def __init__(self, sample: torch.Tensor):
        super().__init__(sample=sample)
        self.sample = sample


class NotesUNet1D(ModelMixin, ConfigMixin):
    """Class-conditional 1-D UNet predicting ε for waveforms (N, 1, sample_size).

    The input is patchified by a strided convolution (``patch`` samples per step), then down-sampled by
    ``factor`` per level; each level has one residual block conditioned (additively) on the sum of a
    sinusoidal timestep embedding (through an MLP) and a learned class embedding.
    """

    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        sample_size: int = 2048,
        sample_rate: int = 8000,
        in_channels: int = 1,
        out_channels: int = 1,
        block_out_channels: tuple[int, ...] = (32, 48, 64),
        patch: int = 4,
        factor: int = 4,
        kernel_size: int = 5,
        norm_num_groups: int = 8,
        emb_dim: int = 64,
        num_class_embeds: int | None = 8,
    ):
        super().__init__()
        chans = list(block_out_channels)
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_embedding = nn.Embedding(num_class_embeds, emb_dim) if num_class_embeds else None
        self.conv_in = nn.Conv1d(in_channels, chans[0], 2 * patch, stride=patch, padding=patch // 2)
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c_prev = chans[0]
        for i, c in enumerate(chans):
            self.down.append(ResBlock1D(c_prev, c, emb_dim, kernel_size, norm_num_groups))
            last = i == len(chans) - 1
            self.downsample.append(
                nn.Identity() if last else nn.Conv1d(c, c, 2 * factor, stride=factor, padding=factor // 2)
            )
            c_prev = c
        self.mid = ResBlock1D(c_prev, c_prev, emb_dim, kernel_size, norm_num_groups)
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, c in reversed(list(enumerate(chans))):
            self.up.append(ResBlock1D(c_prev + c, c, emb_dim, kernel_size, norm_num_groups))
            self.upsample.append(
                nn.Identity()
                if i == 0
                else nn.ConvTranspose1d(c, chans[i - 1], 2 * factor, stride=factor, padding=factor // 2)
            )
            c_prev = chans[i - 1] if i > 0 else c
        self.norm_out = nn.GroupNorm(norm_num_groups, chans[0])
        self.conv_out = nn.ConvTranspose1d(
            chans[0], out_channels, 2 * patch, stride=patch, padding=patch // 2
        )
        self.act = nn.SiLU()

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        class_labels: torch.Tensor | None = None,
        return_dict: bool = True,
    ) -> UNet1DOutput | tuple:
        emb = conditioning(self, sample, timestep, class_labels)
        h = self.conv_in(sample)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid(h, emb)
        for block, up in zip(self.up, self.upsample):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            h = up(h)
        out = self.conv_out(self.act(self.norm_out(h)))
        if not return_dict:
            return (out,)
        return UNet1DOutput(sample=out)
