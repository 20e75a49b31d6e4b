"""Audio for the audio metrics and their networks: waveforms checked, made mono and resampled; the audio extractor
base; the registry of audio networks.

Every waveform is taken as the loaders give it, (N, C, T) float32 in [-1, 1] at ``samples.sample_rate``; the
channels are averaged to mono and resampled to the network's rate with ``torchaudio.functional.resample`` where
torchaudio is installed, else ``scipy.signal.resample_poly`` (Kaiser window, β 5); which one is in the fingerprint.

An ``AudioFeatureExtractor`` cuts each item into the network's windows, and every window gives one row (FAD's
samples are windows). Registered here: ``vggish`` (:mod:`harness.metrics.vggish`) and ``clap-htsat-unfused``
(:mod:`harness.metrics.clap`); other networks (the mini zoo's) register with ``register_audio_extractor``, and
``fd_<name>`` is then their Fréchet metric (:func:`harness.metrics.audio.audio_frechet_metric`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from harness.core.errors import MetricSkipped
from harness.core.samples import Samples
from harness.metrics.base import version_of
from harness.metrics.extractors import ExtractorSpec, FeatureExtractor, register_extractor
from harness.metrics.pairwise import check_range

__all__ = [
    "AUDIO_EXTRACTORS",
    "AudioFeatureExtractor",
    "check_audio",
    "mono_resampled",
    "register_audio_extractor",
    "resample",
    "resampler_name",
]

AUDIO_EXTRACTORS: set[str] = set()


def _torchaudio() -> Any:
    try:
        import torchaudio.functional as taf
    except Exception:  # not installed (or a build that does not match torch)
        return None
    return taf


def resampler_name() -> str:
    if _torchaudio() is not None:
        return f"torchaudio.functional.resample (sinc_interp_hann, width 6, rolloff 0.99; {version_of('torchaudio')})"
    return f"scipy.signal.resample_poly (kaiser 5.0; scipy {version_of('scipy')})"


def resample(wave: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample along the last axis (float64); torchaudio if present, else ``scipy.signal.resample_poly``."""
    wave = np.asarray(wave, dtype=np.float64)
    if sr_in == sr_out:
        return wave
    taf = _torchaudio()
    if taf is not None:
        import torch

        return taf.resample(torch.from_numpy(wave), int(sr_in), int(sr_out)).numpy()
    from scipy.signal import resample_poly

    g = math.gcd(int(sr_in), int(sr_out))
    return resample_poly(wave, int(sr_out) // g, int(sr_in) // g, axis=-1)


def check_audio(name: str, samples: Samples) -> np.ndarray:
    """The (N, C, T) waveforms of audio samples, checked: finite, in [-1, 1], with a sample rate."""
    if samples.modality != "audio":
        raise MetricSkipped(f"applies to audio, not {samples.modality}")
    if not samples.sample_rate:
        raise ValueError(f"{name}: the audio samples carry no sample_rate")
    check_range(name, samples.data, -1.0, 1.0)
    return samples.data


def mono_resampled(samples: Samples, sample_rate: int, name: str = "audio") -> list[np.ndarray]:
    """Each item averaged over channels and resampled to ``sample_rate``: a list of (T',) float64 arrays."""
    data = check_audio(name, samples)
    mono = data.astype(np.float64).mean(axis=1)  # (N, T)
    return list(resample(mono, int(samples.sample_rate), sample_rate))


class AudioFeatureExtractor(FeatureExtractor):
    """Turns audio items into (k, d) float64 embeddings: each item is cut into the network's windows and every
    window gives one row (FAD's samples are windows). Subclasses set ``sample_rate``, implement ``examples``
    (mono waveform at ``sample_rate`` → the network's inputs, one per window) and ``_forward`` (a batch of them)."""

    modality: ClassVar[str] = "audio"
    sample_rate: int = 16000
    min_seconds: float = 0.0

    def examples(self, wave: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def item_features(self, samples: Samples) -> list[np.ndarray]:
        """The window embeddings of each item: a list of (k_i, d) arrays (k_i may be 0 for short audio)."""
        out = []
        for wave in mono_resampled(samples, self.sample_rate, self.name or "audio"):
            ex = self.examples(wave)
            rows = []
            for i in range(0, len(ex), self.batch_size):
                y = self._forward(ex[i : i + self.batch_size])
                if hasattr(y, "detach"):
                    y = y.detach().cpu().double().numpy()
                rows.append(np.asarray(y, dtype=np.float64).reshape(len(y), -1))
            out.append(np.concatenate(rows) if rows else np.zeros((0, self.dim)))
        return out

    def samples_features(self, samples: Samples) -> np.ndarray:
        parts = self.item_features(samples)
        feats = np.concatenate(parts) if parts else np.zeros((0, self.dim))
        if not len(feats):
            t = samples.data.shape[-1] / float(samples.sample_rate or 1)
            raise MetricSkipped(
                f"{self.name} needs at least {self.min_seconds:g} s of audio per window; the items last {t:.3g} s"
            )
        return feats

    def features(self, images: np.ndarray) -> np.ndarray:
        raise TypeError("audio extractors take Samples: use samples_features(samples)")


def register_audio_extractor(spec: ExtractorSpec, *, replace: bool = False) -> ExtractorSpec:
    """Register an audio network (an ``AudioFeatureExtractor`` builder) in the shared extractor registry;
    ``fd_<spec.name>`` is then ``audio_frechet_metric(spec.name)`` (listed with ``register_audio_fd`` in
    ``harness.metrics``, pointing at the module that registers the spec on import)."""
    register_extractor(spec, replace=replace)
    AUDIO_EXTRACTORS.add(spec.name)
    return spec


register_audio_extractor(
    ExtractorSpec(
        name="vggish",
        builder="harness.metrics.vggish:VGGishFeatures",
        dim=128,
        weights="torchvggish-vggish",
        protocol="16 kHz mono; log-mel 64 (25 ms / 10 ms); 0.96 s windows, 0.96 s hop; 128-d pre-ReLU, no PCA",
        summary="VGGish (torchvggish port) embeddings of 0.96 s windows, for FAD",
    )
)
register_audio_extractor(
    ExtractorSpec(
        name="clap-htsat-unfused",
        builder="harness.metrics.clap:CLAPAudioFeatures",
        dim=512,
        weights="clap-htsat-unfused",
        protocol="48 kHz mono; 10 s windows, repeat-padded; CLAP audio embedding 512-d, L2-normalised",
        summary="LAION CLAP HTSAT-unfused audio embeddings of 10 s windows, for FAD-CLAP",
    )
)
