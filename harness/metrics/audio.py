"""Audio quality: FAD on VGGish or CLAP embeddings and the CLAP text-audio score.

Distribution (pinned weights, reference statistics ``reference_path`` as for ``fid``):

* ``fad_vggish`` (``fad`` is the same metric under the short name): Fréchet Audio Distance (Kilgour et al. 2019)
  on VGGish embeddings of 0.96 s windows (:mod:`harness.metrics.vggish`).
* ``fad_clap``: FAD on LAION CLAP embeddings of 10 s windows (:mod:`harness.metrics.clap`).
* FAD∞ (Chong & Forsyth 2020, ``harness.metrics.frechet_estimates.fid_infinity``) is added to
  ``details["fad_infinity"]`` when the windows allow it: subsets from ``n_min = 2 d`` (``infinity_min``) to n,
  n ≥ 2 n_min, 15 sizes spaced in 1/N; otherwise the details say why it was not computed.
* ``fd_<extractor>`` for an audio network registered with ``register_audio_extractor`` (the mini zoo's):
  ``audio_frechet_metric(name)`` makes the class on the same Fréchet core (FAD∞ included); listed with
  ``register_audio_fd(name, module=...)`` in ``harness.metrics``, as for video.

Per sample:

* ``clap_score``: ``100 · max(cos(E_audio, E_text), 0)`` with the item's prompt (``samples.prompts``); E_audio is
  the normalised mean of its windows' embeddings. Mean over items.

Waveforms (mono, resampled) are :mod:`harness.metrics.audio_features`'; the pairwise ``stft_distance`` is
:mod:`harness.metrics.stft`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from pydantic import Field

from harness.core.errors import MetricSkipped, WeightsNotFoundError
from harness.core.samples import Samples
from harness.metrics.alignment import PromptScore, prompts_of
from harness.metrics.audio_features import check_audio
from harness.metrics.base import MetricResult, versions_of
from harness.metrics.clap import CLAPAudioFeatures
from harness.metrics.feature_stats import StreamingStats
from harness.metrics.frechet import FrechetWarning
from harness.metrics.frechet_estimates import fid_infinity
from harness.metrics.frechet_metric import fd_class, fd_getattr
from harness.metrics.modal import ModalFrechet, ModalFrechetOptions
from harness.metrics.options import MetricOptions, flag_option, int_option

__all__ = [
    "FAD",
    "CLAPScore",
    "CLAPScoreOptions",
    "FADClap",
    "FADOptions",
    "FADVGGish",
    "audio_frechet_metric",
]


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

    name = "fad"
    modalities = ("audio",)
    default_extractor = "vggish"
    reference_hint = (
        "harness.metrics.modal.save_reference_stats(extractor, real_audio_samples, 'ref.npz'), or a .npz with mu "
        "and sigma of the same embeddings"
    )
    Options = FADOptions

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
        self.infinity = flag_option("infinity", infinity)
        self.infinity_min = (
            None if infinity_min is None else int_option("infinity_min", infinity_min, minimum=2)
        )
        self.infinity_points = int_option("infinity_points", infinity_points, minimum=2)
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

    def compute(self) -> MetricResult:
        mv = super().compute()
        if mv.status == "ok" and self.infinity:
            mv.details["fad_infinity"] = self._infinity()
        return mv


class FADVGGish(FAD):
    """FAD on VGGish embeddings (``fad`` under its explicit name)."""

    name = "fad_vggish"


class FADClap(FAD):
    """FAD on LAION CLAP (HTSAT-unfused) audio embeddings."""

    name = "fad_clap"
    default_extractor = "clap-htsat-unfused"


def audio_frechet_metric(extractor: str) -> type[FAD]:
    """The metric class ``fd_<extractor>`` for an audio extractor: FAD on its window embeddings."""
    doc = f"Fréchet distance on '{extractor}' audio embeddings (see FAD)."
    return fd_class(FAD, extractor, f"AudioFD_{extractor}", doc, __name__)


__getattr__ = fd_getattr(audio_frechet_metric, __name__)


class CLAPScoreOptions(MetricOptions):
    """``clap_score``."""

    batch_size: int = Field(8, ge=1)
    weights_dir: str | None = None
    weights: str = Field(
        "clap-htsat-unfused", min_length=1, description="a CLAP bundle of `harness weights list`"
    )


class CLAPScore(PromptScore):
    """CLAP score ×100 of each audio item with its prompt, averaged. Options: ``batch_size``, ``weights_dir``,
    ``weights`` (a Hugging Face CLAP bundle of ``harness.metrics.weights``; default ``clap-htsat-unfused``)."""

    name = "clap_score"
    modalities = ("audio",)
    Options = CLAPScoreOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        batch_size: int = 8,
        weights_dir: str | None = None,
        weights: str = "clap-htsat-unfused",
    ) -> None:
        super().__init__(device, batch_size, weights_dir, weights)
        self._ext: Any = None

    def extractor(self) -> CLAPAudioFeatures:
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
            self._model_details = self._ext.protocol()
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
        self._values.extend(float(v) for v in self.scores(samples, prompts_of(self.name, samples)))

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["model"] = self._model_details or {"weights": self.weights}
        d.update(
            score="100 * max(cos(audio, text), 0) per item (audio: mean of its 10 s window embeddings), mean",
            text="the folder's tokenizer, truncated to the model's max positions",
            libraries=versions_of(("transformers", "torch")),
            n=len(self._values),
        )
        return d
