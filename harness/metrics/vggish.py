"""VGGish (AudioSet) embeddings for FAD: torchvggish's port, in our own copy of its architecture.

``vggish``: the torchvggish port's weights (``vggish-10086976.pth``, verified) in our copy of its architecture
(state-dict keys ``features.*``, ``embeddings.*``). Protocol: 16 kHz mono; log-mel as TF VGGish's
``mel_features`` (25 ms periodic-Hann windows, 10 ms hop, FFT 512, |STFT|, 64 HTK-mel bands 125–7500 Hz,
log(mel + 0.01)); examples of 96 frames = 0.96 s with a 0.96 s hop (no overlap; a remainder shorter than 0.96 s
is dropped, as torchvggish does); the 128-d embedding BEFORE the final ReLU and without PCA/quantisation (what
the ``frechet_audio_distance`` package and Google's FAD take). Every 0.96 s example is one sample of the
Gaussian: n counts windows, not clips.

Numpy for the log-mel; torch only when the network is built.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from harness.metrics import weights as W
from harness.metrics.audio_features import AudioFeatureExtractor, resampler_name
from harness.metrics.loading import cached_model, load_network

__all__ = [
    "VGGISH_SR",
    "VGGishFeatures",
    "VGGishNet",
    "vggish_examples",
    "vggish_log_mel",
    "vggish_mel_matrix",
]

VGGISH_SR = 16000
_STFT_WIN, _STFT_HOP, _FFT = 400, 160, 512  # 25 ms, 10 ms at 16 kHz; FFT = next power of two
_MEL_BINS, _MEL_LO, _MEL_HI, _LOG_OFFSET = 64, 125.0, 7500.0, 0.01
_EXAMPLE_FRAMES = 96  # 0.96 s of 10 ms frames, and the same hop


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def vggish_mel_matrix() -> np.ndarray:
    """(257, 64) triangular HTK-mel weights, as TF VGGish's ``spectrogram_to_mel_matrix`` (DC row zeroed)."""
    bins_mel = _hz_to_mel(np.linspace(0.0, VGGISH_SR / 2.0, _FFT // 2 + 1))
    edges = np.linspace(_hz_to_mel(_MEL_LO), _hz_to_mel(_MEL_HI), _MEL_BINS + 2)
    lo, centre, hi = edges[:-2], edges[1:-1], edges[2:]
    up = (bins_mel[:, None] - lo) / (centre - lo)
    down = (hi - bins_mel[:, None]) / (hi - centre)
    m = np.maximum(0.0, np.minimum(up, down))
    m[0, :] = 0.0
    return m


def vggish_log_mel(wave: np.ndarray) -> np.ndarray:
    """(frames, 64) log-mel of a 16 kHz mono waveform (TF VGGish's ``log_mel_spectrogram``)."""
    from numpy.lib.stride_tricks import sliding_window_view

    wave = np.asarray(wave, dtype=np.float64)
    if len(wave) < _STFT_WIN:
        return np.zeros((0, _MEL_BINS))
    frames = sliding_window_view(wave, _STFT_WIN)[::_STFT_HOP]
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi / _STFT_WIN * np.arange(_STFT_WIN))  # periodic Hann
    spec = np.abs(np.fft.rfft(frames * window, _FFT))
    return np.log(spec @ vggish_mel_matrix() + _LOG_OFFSET)


def vggish_examples(wave: np.ndarray) -> np.ndarray:
    """(k, 96, 64) float32 log-mel examples of a 16 kHz mono waveform: 0.96 s windows, 0.96 s hop."""
    from numpy.lib.stride_tricks import sliding_window_view

    log_mel = vggish_log_mel(wave)
    if len(log_mel) < _EXAMPLE_FRAMES:
        return np.zeros((0, _EXAMPLE_FRAMES, _MEL_BINS), dtype=np.float32)
    ex = sliding_window_view(log_mel, _EXAMPLE_FRAMES, axis=0)[::_EXAMPLE_FRAMES]  # (k, 64, 96)
    return np.ascontiguousarray(ex.transpose(0, 2, 1), dtype=np.float32)


@functools.cache
def _vggish_module() -> Any:
    import torch
    from torch import nn

    class VGGishNet(nn.Module):
        """torchvggish's ``VGG``: the same modules and state-dict keys (``features.*``, ``embeddings.*``)."""

        def __init__(self) -> None:
            super().__init__()
            layers: list[nn.Module] = []
            c = 1
            for v in (64, "M", 128, "M", 256, 256, "M", 512, 512, "M"):
                if v == "M":
                    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                else:
                    layers += [nn.Conv2d(c, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                    c = int(v)
            self.features = nn.Sequential(*layers)
            self.embeddings = nn.Sequential(
                nn.Linear(512 * 4 * 6, 4096),
                nn.ReLU(True),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Linear(4096, 128),
                nn.ReLU(True),
            )

        def forward(self, x: torch.Tensor, *, final_relu: bool = True) -> torch.Tensor:
            x = self.features(x)
            # (B, 512, 6, 4) → (B, 6, 4, 512), flattened: the TF layout the embeddings were trained on
            x = torch.transpose(x, 1, 3)
            x = torch.transpose(x, 1, 2)
            x = x.contiguous().view(x.size(0), -1)
            return self.embeddings(x) if final_relu else self.embeddings[:-1](x)

    return VGGishNet


def VGGishNet() -> Any:
    """torchvggish's VGGish architecture (the class is made on first use: torch is imported lazily)."""
    return _vggish_module()()


class VGGishFeatures(AudioFeatureExtractor):
    """VGGish 128-d embeddings of 0.96 s windows (see the module docstring)."""

    sample_rate = VGGISH_SR
    min_seconds = (_STFT_WIN + (_EXAMPLE_FRAMES - 1) * _STFT_HOP) / VGGISH_SR

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 32,
        activation: bool = False,
    ) -> None:
        super().__init__(batch_size)
        if not isinstance(activation, bool):
            raise ValueError(f"activation must be true or false, got {activation!r}")
        import torch

        self.located = W.locate("torchvggish-vggish", weights_dir)
        self.device, self.activation, self.dim = device, activation, 128
        sha = self.located.sha256[self.located.path.name]
        self._net = cached_model(("vggish", sha, device), lambda: self._load(self.located.path, device))
        self._torch = torch

    @staticmethod
    def _load(path: Path, device: str) -> Any:
        return load_network(VGGishNet, path).eval().to(device)

    def protocol(self) -> dict[str, Any]:
        return {
            **super().protocol(),
            "network": "VGGish (torchvggish port, our copy of its architecture)",
            "weights": self.located.details(),
            "input": f"mono, {VGGISH_SR} Hz ({resampler_name()})",
            "log_mel": "25 ms periodic Hann, 10 ms hop, FFT 512, |STFT|, 64 HTK mel 125-7500 Hz, log(mel + 0.01)",
            "windows": "96 frames (0.96 s), hop 0.96 s, remainder dropped; one embedding per window",
            "output": "128-d embedding "
            + ("after" if self.activation else "before")
            + " the final ReLU, no PCA",
            "dtype": "float32 network, float64 features",
        }

    def examples(self, wave: np.ndarray) -> np.ndarray:
        return vggish_examples(wave)

    def _forward(self, batch: np.ndarray) -> Any:
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))[:, None].to(self.device)
        with torch.inference_mode():
            return self._net(x, final_relu=self.activation)
