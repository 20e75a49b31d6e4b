"""CMMD (Jayasumana et al. 2024, "Rethinking FID"): the MMD between CLIP embeddings of samples and a reference.

* ``mmd(x, y, sigma=10, scale=1000)``: the estimator of google-research's reference code (``cmmd/distance.py``)
  in float64: a Gaussian RBF kernel ``k(a, b) = exp(−‖a − b‖² / (2σ²))`` with squared distances expanded as
  ``‖a‖² + ‖b‖² − 2 a·b``, and ``scale · (mean K_xx + mean K_yy − 2 mean K_xy)`` where each mean runs over ALL
  entries of its kernel matrix, diagonals included (the biased, minimum-variance V-statistic of Gretton et al.
  2012, Eq. 5). Identical sets give exactly 0; two different samples of one distribution give a small positive
  value that shrinks as 1/n. Computed in row blocks: the same sums, without an n × m matrix in memory.
* ``cmmd``: that distance between the ``clip-vit-l-14-336`` embeddings of the samples (images, or every frame
  of videos) and reference embeddings (``reference_path``: an ``.npz`` with ``embeddings``, written by
  ``harness refstats build --for cmmd``; a ``--keep-features`` file's ``features`` of the same extractor also
  serve). A reference file made with another feature protocol is refused unless ``allow_mismatch: true``.

Lower is better. numpy only at import; torch and transformers load with the extractor.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from harness.core.errors import MetricInvalid, MetricSkipped, UserInputError
from harness.core.samples import Samples
from harness.metrics.base import MetricResult
from harness.metrics.feature_metric import ReferenceMetric
from harness.metrics.options import MetricOptions

__all__ = ["CMMD", "CMMDOptions", "mmd", "read_reference", "write_reference"]

SIGMA = 10.0  # the RBF bandwidth of the paper and the reference code
SCALE = 1000.0  # the reference code's factor for readable values
EMBEDDINGS_KEY = "embeddings"
_BLOCK_ELEMENTS = 1 << 22  # kernel entries per block (32 MiB of float64)


def _as_embeddings(a: Any, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"{name} must be an (n, d) array of embeddings with n, d >= 1, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise MetricInvalid(f"{name} of shape {arr.shape} contains NaN or Inf")
    return arr


def _positive(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _kernel_mean(a: np.ndarray, b: np.ndarray, gamma: float) -> float:
    """Mean of exp(−γ (‖a_i‖² + ‖b_j‖² − 2 a_i·b_j)) over every (i, j), diagonal included."""
    a_sq = np.einsum("ij,ij->i", a, a)
    b_sq = np.einsum("ij,ij->i", b, b)
    rows = max(1, _BLOCK_ELEMENTS // len(b))
    total = 0.0
    for i in range(0, len(a), rows):
        d2 = -2.0 * (a[i : i + rows] @ b.T) + a_sq[i : i + rows, None] + b_sq[None, :]
        total += float(np.exp(-gamma * d2).sum())
    return total / (len(a) * len(b))


def mmd(x: Any, y: Any, sigma: float = SIGMA, scale: float = SCALE) -> float:
    """The CMMD estimator of google-research's ``cmmd/distance.py``, in float64.

    Args:
        x: (n, d) embeddings (the reference code passes the reference set first; the value is symmetric).
        y: (m, d) embeddings; m may differ from n.
        sigma: The Gaussian RBF bandwidth σ (γ = 1 / (2σ²)).
        scale: The factor applied to the MMD² estimate.

    Returns:
        ``scale · (mean K_xx + mean K_yy − 2 mean K_xy)``, means over all entries, diagonals included.

    Raises:
        ValueError: A set is not an (n, d) array, the dimensions differ, or sigma / scale is not > 0.
        MetricInvalid: A set holds NaN or Inf, or the result is not finite (a ``ValueError`` too).
    """
    x, y = _as_embeddings(x, "x"), _as_embeddings(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same dimension d, got shapes {x.shape} and {y.shape}")
    gamma = 1.0 / (2.0 * _positive("sigma", sigma) ** 2)
    k_xx, k_yy, k_xy = _kernel_mean(x, x, gamma), _kernel_mean(y, y, gamma), _kernel_mean(x, y, gamma)
    value = _positive("scale", scale) * (k_xx + k_yy - 2.0 * k_xy)
    if not math.isfinite(value):
        raise MetricInvalid(f"the MMD is not finite ({value}): the embeddings overflow float64")
    return value


# ------------------------------------------------------------------------------------------- reference files


def write_reference(path: str | os.PathLike[str], embeddings: Any, **meta: Any) -> None:
    """Write reference embeddings (``embeddings``, ``n``) and metadata strings/numbers to an ``.npz``."""
    emb = _as_embeddings(embeddings, "embeddings")
    arrays: dict[str, Any] = {EMBEDDINGS_KEY: emb, "n": np.asarray(len(emb), dtype=np.int64)}
    for key, value in meta.items():
        if key in arrays:
            raise ValueError(f"metadata key {key!r} is reserved")
        arrays[key] = np.asarray(value)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


def read_reference(path: str | os.PathLike[str], what: str = "reference_path") -> tuple[np.ndarray, dict]:
    """``(embeddings (n, d) float64, metadata)`` of a reference ``.npz``; any problem is one line of bad input."""
    p = Path(path)
    if not p.exists():
        raise UserInputError("no such file", source=str(p), field=what)
    if p.is_dir() or p.suffix.lower() != ".npz" or not zipfile.is_zipfile(p):
        raise UserInputError(
            "not a readable .npz file of reference embeddings (`harness refstats build --for cmmd`)",
            source=str(p),
            field=what,
        )
    try:
        with np.load(p, allow_pickle=False) as z:
            key = next((k for k in (EMBEDDINGS_KEY, "features") if k in z.files), None)
            if key is None:
                raise UserInputError(
                    f"has no 'embeddings' (found keys {sorted(z.files)}): write one with "
                    "`harness refstats build --for cmmd`",
                    source=str(p),
                    field=what,
                )
            emb = _as_embeddings(z[key], key)
            meta = {
                k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files if k not in (key, "mu", "sigma")
            }
    except (OSError, EOFError, zipfile.BadZipFile, ValueError) as exc:
        raise UserInputError(f"cannot read the embeddings ({exc})", source=str(p), field=what) from None
    return emb, meta


# ------------------------------------------------------------------------------------------- metric


class CMMDOptions(MetricOptions):
    """``cmmd``."""

    reference_path: str | None = None
    extractor: str | None = Field(
        None, min_length=1, description="a registered extractor; null: clip-vit-l-14-336 (the paper's)"
    )
    batch_size: int | None = Field(None, ge=1, description="images per forward pass; null: the extractor's")
    weights_dir: str | None = None
    allow_mismatch: bool = False


class CMMD(ReferenceMetric):
    """CMMD of the samples' CLIP embeddings to reference embeddings (see the module docstring).

    Options: ``reference_path`` (an ``.npz`` with ``embeddings``), ``extractor`` (``clip-vit-l-14-336``),
    ``batch_size``, ``weights_dir``, ``allow_mismatch`` (accept a reference with another fingerprint).
    """

    name = "cmmd"
    higher_is_better = False
    default_extractor = "clip-vit-l-14-336"
    method = (
        f"MMD² x {SCALE:g}, Gaussian RBF sigma {SIGMA:g}, means over all kernel entries (diagonals included), "
        "float64, as google-research cmmd/distance.py (harness.metrics.cmmd.mmd)"
    )
    Options = CMMDOptions
    state_fields: ClassVar[dict[str, str]] = {
        **ReferenceMetric.state_fields,
        "_feats": "cat",
    }  # the kernel needs every embedding

    def __init__(
        self,
        device: str = "cpu",
        *,
        reference_path: str | None = None,
        extractor: str | None = None,
        batch_size: int | None = None,
        weights_dir: str | None = None,
        allow_mismatch: bool = False,
    ) -> None:
        super().__init__(
            device,
            reference_path=reference_path,
            allow_mismatch=allow_mismatch,
            extractor=extractor,
            batch_size=batch_size,
            weights_dir=weights_dir,
        )
        self._ref: tuple[np.ndarray, dict] | None = None
        self._feats: list[np.ndarray] = []

    def _reference(self) -> tuple[np.ndarray, dict]:
        if self._ref is None:
            if not self.reference_path:
                raise MetricSkipped(
                    "cmmd needs reference embeddings: set options.reference_path to a .npz (harness refstats "
                    f"build --for cmmd --images DIR -o ref.npz, extractor {self.extractor_name})"
                )
            self._ref = read_reference(self.reference_path)
        return self._ref

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        self._reference()  # a missing or bad reference fails before the network loads
        self._feats.append(self.features(samples))

    def compute(self) -> MetricResult:
        n = sum(len(f) for f in self._feats)
        if not n:
            return self.skipped("no samples")
        ref, meta = self._reference()
        stored, label = meta.get("fingerprint"), f"reference {self.reference_path}"
        note = (
            self.reference_note(stored)
            if stored
            else f"{label} has no fingerprint: its embeddings are assumed to follow the same protocol"
        )
        gen = np.concatenate(self._feats)
        if ref.shape[1] != gen.shape[1]:
            raise ValueError(f"{label} has d={ref.shape[1]} embeddings, the samples d={gen.shape[1]}")
        details = self.fingerprint_details()
        if note:
            details["note"] = note
        try:
            value = mmd(ref, _as_embeddings(gen, "the samples' embeddings"))
        except MetricInvalid as exc:
            return self.invalid(str(exc), n=n, details=details)
        return self.value(value, n=n, details=details)

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["n"] = sum(len(f) for f in self._feats)
        d["kernel"] = {"sigma": SIGMA, "scale": SCALE, "estimator": "biased (V-statistic)"}
        if self._ref is not None:
            d["reference"] = {
                "path": self.reference_path,
                "n": len(self._ref[0]),
                "fingerprint": self._ref[1].get("fingerprint"),
                "extractor": self._ref[1].get("extractor"),
            }
        return d
