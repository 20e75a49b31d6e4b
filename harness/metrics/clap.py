"""LAION CLAP (HTSAT-unfused) audio and text embeddings: ``fad_clap``'s network and ``clap_score``'s model.

``clap-htsat-unfused``: transformers ``ClapModel`` from the local, verified folder (``laion/clap-htsat-unfused``).
Protocol: 48 kHz mono; non-overlapping 10 s windows (a tail shorter than 1 s is dropped when a full window exists;
shorter audio is one window); the folder's ``ClapFeatureExtractor`` with ``truncation="rand_trunc"`` (never
triggered: windows are ≤ 10 s, so deterministic) and ``padding="repeatpad"``; the 512-d projected audio
embedding, L2-normalised (what ``get_audio_features`` returns, as laion_clap's).

Torch and transformers are imported only when the model is built.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from harness.metrics import weights as W
from harness.metrics.audio_features import AudioFeatureExtractor, resampler_name
from harness.metrics.loading import (
    WeightsLoadError,
    cached_model,
    check_loading_info,
    embeddings,
    text_embeddings,
)

__all__ = ["CLAPAudioFeatures", "load_clap"]


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
    check_loading_info(info, f"{weights_file}: does not fit the CLAP config", position_ids_missing_ok=True)
    processor = ClapProcessor.from_pretrained(folder, local_files_only=True)
    return model.eval().to(device), processor


class CLAPAudioFeatures(AudioFeatureExtractor):
    """LAION CLAP audio embeddings of 10 s windows at 48 kHz (see the module docstring)."""

    sample_rate = 48000
    window_s = 10.0
    min_tail_s = 1.0
    packages = (*AudioFeatureExtractor.packages, "transformers", "scipy")

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
        """Projected text embeddings (N, d) float64, as the model gives them."""
        tok = self.processor.tokenizer
        max_len = int(self.model.config.text_config.max_position_embeddings) - 2  # RoBERTa's position offset
        max_len = min(max_len, int(getattr(tok, "model_max_length", max_len) or max_len))
        return text_embeddings(
            self.model, tok, prompts, batch_size=self.batch_size, device=self.device, max_length=max_len
        )
