"""Audio quality: FAD on VGGish or CLAP embeddings, CLAP text-audio score, multi-resolution STFT distance.

Every waveform is taken as the loaders give it, (N, C, T) float32 in [-1, 1] at ``samples.sample_rate``; the
channels are averaged to mono and resampled to the network's rate with ``torchaudio.functional.resample`` where
torchaudio is installed, else ``scipy.signal.resample_poly`` (Kaiser window, β 5); which one is in the fingerprint.

Distribution (pinned weights, reference statistics ``reference_path`` as for ``fid``):

* ``fad_vggish`` (``fad`` is the same metric under the short name): Fréchet Audio Distance (Kilgour et al. 2019)
  on VGGish embeddings, the torchvggish port's weights (``vggish-10086976.pth``, verified) in our own copy of its
  architecture (state-dict keys ``features.*``, ``embeddings.*``). Protocol: 16 kHz mono; log-mel as TF VGGish's
  ``mel_features`` (25 ms periodic-Hann windows, 10 ms hop, FFT 512, |STFT|, 64 HTK-mel bands 125–7500 Hz,
  log(mel + 0.01)); examples of 96 frames = 0.96 s with a 0.96 s hop (no overlap; a remainder shorter than 0.96 s
  is dropped, as torchvggish does); the 128-d embedding BEFORE the final ReLU and without PCA/quantisation (what
  the ``frechet_audio_distance`` package and Google's FAD take). Every 0.96 s example is one sample of the
  Gaussian: n counts windows, not clips.
* ``fad_clap``: FAD on LAION CLAP (``laion/clap-htsat-unfused`` via transformers ``ClapModel`` from the local,
  verified folder). Protocol: 48 kHz mono; non-overlapping 10 s windows (a tail shorter than 1 s is dropped when a
  full window exists; shorter audio is one window); the folder's ``ClapFeatureExtractor`` with
  ``truncation="rand_trunc"`` (never triggered: windows are ≤ 10 s, so deterministic) and ``padding="repeatpad"``;
  the 512-d projected audio embedding, L2-normalised (what ``get_audio_features`` returns, as laion_clap's).
* FAD∞ (Chong & Forsyth 2020, ``harness.metrics.frechet.fid_infinity``) is added to ``details["fad_infinity"]``
  when the windows allow it: subsets from ``n_min = 2 d`` (``infinity_min``) to n, n ≥ 2 n_min, 15 sizes spaced
  in 1/N; otherwise the details say why it was not computed.
* ``fd_<extractor>`` for an audio network registered with ``register_audio_extractor`` (the mini zoo's):
  ``audio_frechet_metric(name)`` makes the class on the same Fréchet core (FAD∞ included); listed with
  ``register_audio_fd(name, module=...)`` in ``harness.metrics``, as for video.

Per sample:

* ``clap_score``: ``100 · max(cos(E_audio, E_text), 0)`` with the item's prompt (``samples.prompts``); E_audio is
  the normalised mean of its windows' embeddings. Mean over items.

Pairwise vs the baseline variant, no weights:

* ``stft_distance``: multi-resolution STFT distance in the form of Parallel WaveGAN's / auraloss's loss: for each
  resolution (FFT 512, 1024, 2048; hops 128, 256, 512; periodic Hann windows of the FFT size; ``torch.stft``
  centred, reflect padding), spectral convergence ``‖|S_ref| − |S|‖_F / ‖|S_ref|‖_F`` plus the log-magnitude L1
  ``mean |log |S_ref| − log |S||`` (power floored at 1e-7 inside the log only); the resolutions' sums averaged,
  per channel, then per item, then over items. A scaled copy a·x of the baseline x gives |1 − a| + |log a|.
  Resolutions whose half-FFT is not shorter than the signal are left out (and named in the details).
* ``si_sdr`` lives in ``harness.metrics.pairwise`` (torchmetrics' scale-invariant SDR).
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from harness.core.errors import MetricSkipped
from harness.core.samples import Samples
from harness.metrics.base import Metric, MetricOptions, MetricValue, version_of
from harness.metrics.extractors import (
    ExtractorSpec,
    FeatureExtractor,
    WeightsLoadError,
    cached_model,
    embeddings,
    register_extractor,
)
from harness.metrics.frechet import FrechetWarning, StreamingStats, fid_infinity
from harness.metrics.modal import ModalFrechet, ModalFrechetOptions, save_reference_stats
from harness.metrics.pairwise import _PerItemPairwise, check_pair, check_range

__all__ = [
    "AUDIO_EXTRACTORS",
    "FAD",
    "CLAPAudioFeatures",
    "CLAPScore",
    "CLAPScoreOptions",
    "FADClap",
    "FADOptions",
    "FADVGGish",
    "STFTDistance",
    "VGGishFeatures",
    "VGGishNet",
    "audio_frechet_metric",
    "mono_resampled",
    "multi_resolution_stft_distance",
    "register_audio_extractor",
    "resample",
    "save_reference_stats",
    "vggish_examples",
]

AUDIO_EXTRACTORS: set[str] = set()


# --------------------------------------------------------------------------------------------- waveforms


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


# --------------------------------------------------------------------------------------------- audio extractors


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


# ----------------------------------------------------------------------------- VGGish (torchvggish's port)

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

        from harness.metrics import weights as W

        self.located = W.locate("torchvggish-vggish", weights_dir)
        self.device, self.activation, self.dim = device, activation, 128
        sha = self.located.sha256[self.located.path.name]
        self._net = cached_model(("vggish", sha, device), lambda: self._load(self.located.path, device))
        self._torch = torch

    @staticmethod
    def _load(path: Path, device: str) -> Any:
        import torch

        from harness.metrics.extractors import load_state_dict_file, load_strict

        with torch.device("meta"):  # every tensor comes from the file
            net = VGGishNet()
        load_strict(net, load_state_dict_file(path), path, assign=True)
        return net.eval().to(device)

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


def _build_vggish(**kw: Any) -> VGGishFeatures:
    return VGGishFeatures(**kw)


# ----------------------------------------------------------------------------- CLAP


def load_clap(located: Any, device: str = "cpu") -> tuple[Any, Any]:
    """``(ClapModel, ClapProcessor)`` from a located CLAP folder; the weights from its pytorch_model.bin only."""
    sha = located.sha256.get("pytorch_model.bin")
    return cached_model(("clap", str(located.root), sha, device), lambda: _load_clap(located, device))


def _load_clap(located: Any, device: str) -> tuple[Any, Any]:
    from transformers import ClapModel, ClapProcessor

    folder = str(located.root)
    weights_file = located.files["pytorch_model.bin"]
    if Path(weights_file).parent != Path(folder):
        raise WeightsLoadError(f"{weights_file}: expected in {folder} with the config and tokenizer files")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, info = ClapModel.from_pretrained(
            folder, local_files_only=True, use_safetensors=False, output_loading_info=True
        )
    unexpected = [k for k in info.get("unexpected_keys", ()) if not str(k).endswith("position_ids")]
    missing = [k for k in info.get("missing_keys", ()) if not str(k).endswith("position_ids")]
    mismatched = list(info.get("mismatched_keys", ()))
    if missing or unexpected or mismatched:
        raise WeightsLoadError(
            f"{weights_file}: does not fit the CLAP config (no random weights are used): missing "
            f"{sorted(missing)[:5]}, unexpected {sorted(unexpected)[:5]}, mismatched {sorted(map(str, mismatched))[:5]}"
        )
    processor = ClapProcessor.from_pretrained(folder, local_files_only=True)
    return model.eval().to(device), processor


class CLAPAudioFeatures(AudioFeatureExtractor):
    """LAION CLAP audio embeddings of 10 s windows at 48 kHz (see the module docstring)."""

    sample_rate = 48000
    window_s = 10.0
    min_tail_s = 1.0

    def __init__(
        self,
        *,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 8,
        weights: str = "clap-htsat-unfused",
    ) -> None:
        super().__init__(batch_size)
        import torch

        from harness.metrics import weights as W

        self.located = W.locate(weights, weights_dir)
        self.model, self.processor = load_clap(self.located, device)
        self.device, self.dim = device, int(self.model.config.projection_dim)
        self._torch = torch

    def protocol(self) -> dict[str, Any]:
        fe = self.processor.feature_extractor
        return {
            **super().protocol(),
            "network": "transformers ClapModel.get_audio_features",
            "weights": self.located.details(),
            "input": f"mono, {self.sample_rate} Hz ({resampler_name()})",
            "windows": "10 s, no overlap; a tail < 1 s dropped when a full window exists; one embedding per window",
            "preprocess": f"{type(fe).__name__} (mel {getattr(fe, 'feature_size', None)}, fft "
            f"{getattr(fe, 'fft_window_size', None)}, hop {getattr(fe, 'hop_length', None)}, "
            f"{getattr(fe, 'frequency_min', None)}-{getattr(fe, 'frequency_max', None)} Hz), "
            "truncation rand_trunc (never triggered), padding repeatpad",
            "output": "projected audio embedding, L2-normalised",
            "dtype": "float32 network, float64 features",
        }

    def libraries(self) -> dict[str, str | None]:
        return {
            **super().libraries(),
            "transformers": version_of("transformers"),
            "scipy": version_of("scipy"),
        }

    def examples(self, wave: np.ndarray) -> np.ndarray:
        size = int(self.window_s * self.sample_rate)
        if len(wave) == 0:
            return np.zeros((0, size), dtype=np.float32)
        starts = list(range(0, len(wave), size))
        if len(starts) > 1 and len(wave) - starts[-1] < self.min_tail_s * self.sample_rate:
            starts.pop()
        windows = [wave[s : s + size] for s in starts]
        # Windows shorter than 10 s keep their length: the feature extractor repeat-pads each.
        out = np.empty(len(windows), dtype=object)
        out[:] = [np.asarray(w, dtype=np.float32) for w in windows]
        return out

    def _forward(self, batch: np.ndarray) -> Any:
        torch = self._torch
        inputs = self.processor.feature_extractor(
            list(batch),
            sampling_rate=self.sample_rate,
            truncation="rand_trunc",
            padding="repeatpad",
            return_tensors="pt",
        )
        with torch.inference_mode():
            return embeddings(
                self.model.get_audio_features(
                    input_features=inputs["input_features"].to(self.device),
                    is_longer=inputs["is_longer"].to(self.device),
                )
            )

    def text_embeddings(self, prompts: list[str]) -> np.ndarray:
        """L2-normalised projected text embeddings (N, d) float64."""
        torch = self._torch
        tok = self.processor.tokenizer
        max_len = int(self.model.config.text_config.max_position_embeddings) - 2  # RoBERTa's position offset
        max_len = min(max_len, int(getattr(tok, "model_max_length", max_len) or max_len))
        out = []
        with torch.inference_mode():
            for i in range(0, len(prompts), self.batch_size):
                enc = tok(
                    prompts[i : i + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=max_len,
                    return_tensors="pt",
                )
                emb = embeddings(
                    self.model.get_text_features(
                        input_ids=enc["input_ids"].to(self.device),
                        attention_mask=enc["attention_mask"].to(self.device),
                    )
                )
                out.append(emb.double().cpu().numpy())
        return np.concatenate(out)


def _build_clap(**kw: Any) -> CLAPAudioFeatures:
    return CLAPAudioFeatures(**kw)


register_audio_extractor(
    ExtractorSpec(
        name="vggish",
        builder="harness.metrics.audio:_build_vggish",
        dim=128,
        weights="torchvggish-vggish",
        protocol="16 kHz mono; log-mel 64 (25 ms / 10 ms); 0.96 s windows, 0.96 s hop; 128-d pre-ReLU, no PCA",
        summary="VGGish (torchvggish port) embeddings of 0.96 s windows, for FAD",
    )
)
register_audio_extractor(
    ExtractorSpec(
        name="clap-htsat-unfused",
        builder="harness.metrics.audio:_build_clap",
        dim=512,
        weights="clap-htsat-unfused",
        protocol="48 kHz mono; 10 s windows, repeat-padded; CLAP audio embedding 512-d, L2-normalised",
        summary="LAION CLAP HTSAT-unfused audio embeddings of 10 s windows, for FAD-CLAP",
    )
)


# --------------------------------------------------------------------------------------------- FAD


class FADOptions(ModalFrechetOptions):
    """``fad``, ``fad_vggish``, ``fad_clap`` and the audio ``fd_<name>``: the Fréchet options (audio extractors
    take no ``resize``) plus FAD∞'s."""

    resize: None = Field(None, description="audio extractors have no resize")
    infinity: bool = True
    infinity_min: int | None = Field(None, ge=2, description="smallest FAD∞ subset; null: 2 d")
    infinity_points: int = Field(15, ge=2)


class FAD(ModalFrechet):
    """Fréchet Audio Distance to ``reference_path`` statistics (default VGGish; see the module docstring).

    Options as ``fid`` (``reference_path``, ``extractor``, ``batch_size``, ``weights_dir``, ``bootstrap``,
    ``allow_mismatch``, ``seed``), plus ``infinity`` (FAD∞ in the details when n allows, true),
    ``infinity_min`` (smallest subset, default 2 d) and ``infinity_points`` (15).
    """

    name: ClassVar[str] = "fad"
    modalities: ClassVar[tuple[str, ...]] = ("audio",)
    default_extractor: ClassVar[str] = "vggish"
    reference_hint: ClassVar[str] = (
        "harness.metrics.modal.save_reference_stats(extractor, real_audio_samples, 'ref.npz'), or a .npz with mu "
        "and sigma of the same embeddings"
    )
    Options: ClassVar[type[MetricOptions]] = FADOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        infinity: bool = True,
        infinity_min: int | None = None,
        infinity_points: int = 15,
        **kw: Any,
    ) -> None:
        super().__init__(device, **kw)
        if not isinstance(infinity, bool):
            raise TypeError(f"infinity must be true or false, got {infinity!r}")
        if infinity_min is not None and (
            not isinstance(infinity_min, int) or isinstance(infinity_min, bool) or infinity_min < 2
        ):
            raise TypeError(f"infinity_min must be an integer >= 2, got {infinity_min!r}")
        if not isinstance(infinity_points, int) or isinstance(infinity_points, bool) or infinity_points < 2:
            raise TypeError(f"infinity_points must be an integer >= 2, got {infinity_points!r}")
        self.infinity, self.infinity_min, self.infinity_points = infinity, infinity_min, infinity_points
        self._gen = StreamingStats(keep_features=True)  # FAD∞ draws subsets of the windows

    def _infinity(self) -> dict[str, Any]:
        n, d = self._gen.n or 0, self._gen.dim or 0
        n_min = self.infinity_min or 2 * d
        if n < 2 * n_min:
            return {"skipped": f"FAD∞ needs n >= 2 n_min = {2 * n_min} windows (n_min = {n_min}), got {n}"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FrechetWarning)
            res = fid_infinity(
                self._gen.features, self._ref, n_points=self.infinity_points, n_min=n_min, seed=self.seed
            )
        return {
            "value": res.value,
            "slope": res.slope,
            "n_min": n_min,
            "n_max": n,
            "points": self.infinity_points,
            "spacing": "inverse",
            "seed": self.seed,
            "method": "FD(N) = FAD_inf + slope / N, least squares over random subsets (Chong & Forsyth 2020)",
        }

    def compute(self) -> MetricValue:
        mv = super().compute()
        if mv.status == "ok" and self.infinity:
            mv.details["fad_infinity"] = self._infinity()
        return mv


class FADVGGish(FAD):
    """FAD on VGGish embeddings (``fad`` under its explicit name)."""

    name: ClassVar[str] = "fad_vggish"


class FADClap(FAD):
    """FAD on LAION CLAP (HTSAT-unfused) audio embeddings."""

    name: ClassVar[str] = "fad_clap"
    default_extractor: ClassVar[str] = "clap-htsat-unfused"


_AUDIO_FD: dict[str, type[FAD]] = {}


def audio_frechet_metric(extractor: str) -> type[FAD]:
    """The metric class ``fd_<extractor>`` for an audio extractor: FAD on its window embeddings."""
    if extractor not in _AUDIO_FD:
        _AUDIO_FD[extractor] = type(
            f"AudioFD_{extractor}",
            (FAD,),
            {
                "name": f"fd_{extractor}",
                "default_extractor": extractor,
                "__doc__": f"Fréchet distance on '{extractor}' audio embeddings (see FAD).",
                "__module__": __name__,
            },
        )
    return _AUDIO_FD[extractor]


def __getattr__(attr: str) -> Any:
    # "harness.metrics.audio:fd_<name>" in the metric registry resolves here.
    if attr.startswith("fd_") and len(attr) > 3:
        return audio_frechet_metric(attr[3:])
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


# --------------------------------------------------------------------------------------------- CLAP score


class CLAPScoreOptions(MetricOptions):
    """``clap_score``."""

    batch_size: int = Field(8, ge=1)
    weights_dir: str | None = None
    weights: str = Field(
        "clap-htsat-unfused", min_length=1, description="a CLAP bundle of `harness weights list`"
    )


class CLAPScore(Metric):
    """CLAP score ×100 of each audio item with its prompt, averaged. Options: ``batch_size``, ``weights_dir``,
    ``weights`` (a Hugging Face CLAP bundle of ``harness.metrics.weights``; default ``clap-htsat-unfused``)."""

    name: ClassVar[str] = "clap_score"
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = True
    kind: ClassVar = "per_sample"
    modalities: ClassVar[tuple[str, ...]] = ("audio",)
    requires_trained_weights: ClassVar[bool] = True
    accepts_device: ClassVar[bool] = True
    Options: ClassVar[type[MetricOptions]] = CLAPScoreOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        batch_size: int = 8,
        weights_dir: str | None = None,
        weights: str = "clap-htsat-unfused",
    ) -> None:
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise TypeError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(weights, str):
            raise TypeError(f"weights must be a name from `harness weights list`, got {weights!r}")
        if weights_dir is not None and not isinstance(weights_dir, (str, os.PathLike)):
            raise TypeError(f"weights_dir must be a string, got {weights_dir!r}")
        self.device, self.batch_size, self.weights = device, batch_size, weights
        self.weights_dir = None if weights_dir is None else os.fspath(weights_dir)
        self._ext: Any = None
        self._values: list[float] = []

    def extractor(self) -> CLAPAudioFeatures:
        from harness.core.errors import WeightsNotFoundError

        if self._ext is None:
            try:
                self._ext = CLAPAudioFeatures(
                    device=self.device,
                    weights_dir=self.weights_dir,
                    batch_size=self.batch_size,
                    weights=self.weights,
                )
            except WeightsNotFoundError as exc:
                raise MetricSkipped(str(exc)) from None
            self._ext.name = f"clap:{self.weights}"
        return self._ext

    def scores(self, samples: Samples, prompts: list[str]) -> np.ndarray:
        """``100 · max(cos, 0)`` of each item (its windows' mean embedding, renormalised) with its prompt."""
        ext = self.extractor()
        audio = []
        for rows in ext.item_features(samples):
            v = rows.mean(axis=0)
            audio.append(v / np.linalg.norm(v))
        a = np.stack(audio)
        t = ext.text_embeddings(prompts)
        t /= np.linalg.norm(t, axis=1, keepdims=True)
        return 100.0 * np.maximum((a * t).sum(axis=1), 0.0)

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        check_audio(self.name, samples)
        prompts = getattr(samples, "prompts", None)
        if not prompts:
            raise MetricSkipped("the samples carry no prompts (Samples.prompts is not set by the caller)")
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise ValueError(f"{self.name}: prompts must be a list of strings, got {type(prompts).__name__}")
        if len(prompts) != len(samples):
            raise ValueError(
                f"{self.name}: {len(prompts)} prompts for {len(samples)} samples (one per item expected)"
            )
        self._values.extend(float(v) for v in self.scores(samples, list(prompts)))

    def compute(self) -> MetricValue:
        if not self._values:
            return self.skipped("no samples")
        v = np.asarray(self._values)
        return self.value(float(v.mean()), n=len(v), std=float(v.std(ddof=1)) if len(v) > 1 else None)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["model"] = self._ext.protocol() if self._ext is not None else {"weights": self.weights}
        d.update(
            score="100 * max(cos(audio, text), 0) per item (audio: mean of its 10 s window embeddings), mean",
            text="the folder's tokenizer, truncated to the model's max positions",
            libraries={"transformers": version_of("transformers"), "torch": version_of("torch")},
            n=len(self._values),
        )
        return d


# --------------------------------------------------------------------------------------------- STFT distance

STFT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
_POWER_FLOOR = 1e-7


def multi_resolution_stft_distance(
    x: Any,
    ref: Any,
    resolutions: tuple[tuple[int, int, int], ...] = STFT_RESOLUTIONS,
) -> dict[str, Any]:
    """Spectral convergence and log-magnitude L1 of ``x`` against ``ref`` at each usable resolution.

    Args:
        x, ref: (..., T) float arrays or tensors (computed in float64).
        resolutions: ``(n_fft, hop, win_length)`` triples; periodic Hann windows.

    Returns:
        ``{"distance": (...,) mean over resolutions of sc + mag, "sc": ..., "mag": ..., "resolutions": used}``.
    """
    import torch

    xt = torch.as_tensor(np.asarray(x, dtype=np.float64))
    rt = torch.as_tensor(np.asarray(ref, dtype=np.float64))
    shape, t = xt.shape[:-1], xt.shape[-1]
    xt, rt = xt.reshape(-1, t), rt.reshape(-1, t)
    used = [r for r in resolutions if r[0] // 2 < t]
    if not used:
        raise MetricSkipped(f"signals of {t} samples are shorter than every STFT resolution's half-FFT")
    scs, mags = [], []
    for n_fft, hop, win in used:
        window = torch.hann_window(win, periodic=True, dtype=torch.float64)
        kw = dict(
            n_fft=n_fft,
            hop_length=hop,
            win_length=win,
            window=window,
            center=True,
            pad_mode="reflect",
            return_complex=True,
        )
        s_x = torch.stft(xt, **kw).abs()
        s_r = torch.stft(rt, **kw).abs()
        num = torch.linalg.vector_norm(s_r - s_x, dim=(-2, -1))
        den = torch.linalg.vector_norm(s_r, dim=(-2, -1))
        sc = torch.where(den > 0, num / den.clamp_min(1e-300), torch.where(num > 0, torch.inf, 0.0))
        log_r = 0.5 * torch.log(torch.clamp(s_r**2, min=_POWER_FLOOR))
        log_x = 0.5 * torch.log(torch.clamp(s_x**2, min=_POWER_FLOOR))
        mag = (log_r - log_x).abs().mean(dim=(-2, -1))
        scs.append(sc)
        mags.append(mag)
    sc_m = torch.stack(scs).mean(0).reshape(shape).numpy()
    mag_m = torch.stack(mags).mean(0).reshape(shape).numpy()
    return {"distance": sc_m + mag_m, "sc": sc_m, "mag": mag_m, "resolutions": used}


class STFTDistance(_PerItemPairwise):
    """Multi-resolution STFT distance to the baseline's waveform (lower is closer; see the module docstring)."""

    name: ClassVar[str] = "stft_distance"
    unit: ClassVar[str] = ""
    higher_is_better: ClassVar[bool] = False
    modalities: ClassVar[tuple[str, ...]] = ("audio",)

    def __init__(self) -> None:
        super().__init__()
        self._sc: list[float] = []
        self._mag: list[float] = []
        self._used: list[tuple[int, int, int]] = []

    def fingerprint_details(self) -> dict[str, Any]:
        return {
            **super().fingerprint_details(),
            "resolutions": [list(r) for r in STFT_RESOLUTIONS],
            "window": "periodic Hann, torch.stft center=True reflect",
            "terms": "spectral convergence ||S_ref - S||_F / ||S_ref||_F + mean |log S_ref - log S| (power floor "
            "1e-7 in the log), mean over resolutions, channels, items",
            "torch": version_of("torch"),
        }

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        ref = check_pair(self.name, samples, reference)
        check_audio(self.name, samples)
        check_audio(self.name, ref)
        out = multi_resolution_stft_distance(samples.data, ref.data)
        self._used = out["resolutions"]
        self._values.extend(float(v) for v in out["distance"].mean(axis=1))
        self._sc.extend(float(v) for v in out["sc"].mean(axis=1))
        self._mag.extend(float(v) for v in out["mag"].mean(axis=1))

    def compute(self) -> MetricValue:
        mv = super().compute()
        if mv.status == "ok":
            mv.details.update(
                spectral_convergence=float(np.mean(self._sc)),
                log_magnitude_l1=float(np.mean(self._mag)),
                resolutions_used=[list(r) for r in self._used],
            )
        return mv
