"""``stft_distance``: multi-resolution STFT distance of each waveform to the baseline's (pairwise, no weights).

The form of Parallel WaveGAN's / auraloss's loss: for each resolution (FFT 512, 1024, 2048; hops 128, 256, 512;
periodic Hann windows of the FFT size; ``torch.stft`` centred, reflect padding), spectral convergence
``‖|S_ref| − |S|‖_F / ‖|S_ref|‖_F`` plus the log-magnitude L1 ``mean |log |S_ref| − log |S||`` (power floored at
1e-7 inside the log only); the resolutions' sums averaged, per channel, then per item, then over items. A scaled
copy a·x of the baseline x gives |1 − a| + |log a|. Resolutions whose half-FFT is not shorter than the signal are
left out (and named in the details). ``si_sdr`` lives in ``harness.metrics.pairwise``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from harness.core.errors import MetricSkipped
from harness.core.samples import Samples
from harness.metrics.audio_features import check_audio
from harness.metrics.base import MetricResult, version_of
from harness.metrics.pairwise import PerItemPairwise, check_pair

__all__ = ["STFT_RESOLUTIONS", "STFTDistance", "multi_resolution_stft_distance"]

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


class STFTDistance(PerItemPairwise):
    """Multi-resolution STFT distance to the baseline's waveform (lower is closer; see the module docstring)."""

    name = "stft_distance"
    higher_is_better = False
    modalities = ("audio",)
    # Per item: the distance and its two terms; the resolutions the signal length allows.
    state_fields: ClassVar[dict[str, str]] = {
        **PerItemPairwise.state_fields,
        "_sc": "cat",
        "_mag": "cat",
        "_used": "same",
    }

    def __init__(self) -> None:
        super().__init__()
        self._sc: list[float] = []
        self._mag: list[float] = []
        self._used: list[tuple[int, int, int]] | None = None

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

    def compute(self) -> MetricResult:
        mv = super().compute()
        if mv.status == "ok":
            mv.details.update(
                spectral_convergence=float(np.mean(self._sc)),
                log_magnitude_l1=float(np.mean(self._mag)),
                resolutions_used=[list(r) for r in self._used or []],
            )
        return mv
