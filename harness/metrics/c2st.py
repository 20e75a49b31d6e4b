"""``c2st_<extractor>``: detectability, a classifier two-sample test (Lopez-Paz & Oquab, ICLR 2017) on features.

A classifier (scikit-learn: a standard scaler then logistic regression by default) is trained to tell the job's
samples from real ones on a registered extractor's features, with stratified k-fold cross-validation (seeded);
the value is the mean held-out ROC AUC over the folds (scikit-learn's ``cross_val_score(..., scoring="roc_auc")``).

* 0.5: the classifier cannot tell the samples from the real data (a generator that reproduced it); 1.0: every
  sample is detectable. The metric is an objective with **lower is better** ("less detectable"). A held-out AUC
  below 0.5 is chance as well (fold noise, or a classifier that overfits the training folds), not a better
  generator: read any value whose interval holds 0.5 as indistinguishable.
* Balanced classes: the larger set is subsampled (seeded) to the size of the smaller, so that 0.5 is chance
  whatever the sizes; the details say what was kept of each.
* ``ci95``: a t-interval over the fold AUCs (mean ± t(k−1) · sd / √k). The folds share training data, so this
  interval is approximate (no unbiased variance estimator of k-fold CV exists, Bengio & Grandvalet 2004).
* The real set: ``reference_path`` (a ``.npz`` with ``features``, ``harness refstats build --keep-features``)
  or, without one, the extractor's shipped real set (``reference_features()``: the zoo's held-out digits). Where
  the extractor also ships other real data (``control_features()``), the details carry the real-vs-real AUC with
  its interval at the same size: what a perfect generator would score.
* ``c2st_digits`` is the mini zoo's name for ``c2st_digits-extractor`` (as ``fd_digits``).

The core is :func:`c2st` (plain arrays); :class:`C2ST` is the metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from harness.core.registry import did_you_mean
from harness.core.samples import Samples
from harness.metrics.base import MetricResult, version_of
from harness.metrics.feature_metric import (
    EVERY_FEATURE_STATE,
    EXTRACTOR_ALIASES,
    ReferenceMetric,
    ReferenceOptions,
    per_extractor_class,
    per_extractor_getattr,
)
from harness.metrics.options import int_option

__all__ = ["C2ST", "CLASSIFIERS", "C2STOptions", "C2STResult", "c2st", "c2st_metric", "make_classifier"]

CLASSIFIERS = ("logistic", "knn")
KNN_NEIGHBOURS = 5
# Short names of extractors whose metrics the mini zoo names after the data (fd_digits): c2st_digits.


def make_classifier(name: str, seed: int = 0) -> Any:
    """The scikit-learn pipeline ``name`` (``logistic``: StandardScaler + LogisticRegression(lbfgs,
    max_iter 1000); ``knn``: StandardScaler + KNeighborsClassifier(5))."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
    if name == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=KNN_NEIGHBOURS))
    raise ValueError(f"unknown classifier {name!r} ({did_you_mean(name, CLASSIFIERS)})")


@dataclass
class C2STResult:
    """A classifier two-sample test: the fold AUCs, their mean and interval, and what was used of each set."""

    fold_auc: list[float]
    n_per_class: int
    n_real: int  # before balancing
    n_fake: int
    folds: int
    classifier: str
    seed: int
    ci95: list[float] = field(default_factory=list)

    @property
    def auc(self) -> float:
        return float(np.mean(self.fold_auc))

    def summary(self) -> dict[str, Any]:
        return {
            "auc": self.auc,
            "ci95": self.ci95,
            "n_per_class": self.n_per_class,
            "fold_auc": self.fold_auc,
        }


def balance(real: np.ndarray, fake: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sets at the smaller one's size: the larger one subsampled without replacement (seeded, in order)."""
    m = min(len(real), len(fake))
    rng = np.random.default_rng([seed, 27])

    def cut(x: np.ndarray) -> np.ndarray:
        return x if len(x) == m else x[np.sort(rng.choice(len(x), size=m, replace=False))]

    return cut(real), cut(fake)


def design(real: np.ndarray, fake: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The balanced two-sample problem: features (real rows, then generated) and labels (0 real, 1 generated)."""
    r, f = balance(real, fake, seed)
    x = np.concatenate([r, f]).astype(np.float64, copy=False)
    y = np.concatenate([np.zeros(len(r), dtype=np.int64), np.ones(len(f), dtype=np.int64)])
    return x, y


def folds_of(folds: int, seed: int) -> Any:
    """The cross-validation split: ``StratifiedKFold(folds, shuffle=True, random_state=seed)``."""
    from sklearn.model_selection import StratifiedKFold

    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def too_few(n_real: int, n_fake: int, folds: int) -> str | None:
    """Why ``folds``-fold C2ST cannot run on these set sizes (each fold needs a vector of each set), or None."""
    if min(n_real, n_fake) < folds:
        return (
            f"C2ST with {folds} folds needs at least {folds} vectors of each set, got {n_fake} samples and "
            f"{n_real} real vectors (set options.folds to at most {max(min(n_real, n_fake), 2)}, or give more samples)"
        )
    return None


def c2st(
    real: np.ndarray, fake: np.ndarray, *, folds: int = 5, seed: int = 0, classifier: str = "logistic"
) -> C2STResult:
    """Classifier two-sample test of ``fake`` (N, d) against ``real`` (M, d): held-out ROC AUC per fold.

    Raises:
        ValueError: Fewer vectors of a set than folds, features that are not finite, or dimensions that differ.
    """
    from scipy import stats
    from sklearn.model_selection import cross_val_score

    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"features must be (n, d) with the same d, got {real.shape} and {fake.shape}")
    why = too_few(len(real), len(fake), folds)
    if why:
        raise ValueError(why)
    for label, x in (("real", real), ("generated", fake)):
        if not np.isfinite(x).all():
            raise ValueError(f"{label} features hold {int((~np.isfinite(x)).sum())} NaN or infinite values")
    x, y = design(real, fake, seed)
    aucs = cross_val_score(
        make_classifier(classifier, seed), x, y, cv=folds_of(folds, seed), scoring="roc_auc"
    )
    aucs = [float(a) for a in aucs]
    mean, sd = float(np.mean(aucs)), float(np.std(aucs, ddof=1))
    half = float(stats.t.ppf(0.975, folds - 1)) * sd / math.sqrt(folds)
    return C2STResult(
        fold_auc=aucs,
        n_per_class=len(y) // 2,
        n_real=len(real),
        n_fake=len(fake),
        folds=folds,
        classifier=classifier,
        seed=seed,
        ci95=[max(0.0, mean - half), min(1.0, mean + half)],
    )


class C2STOptions(ReferenceOptions):
    """``c2st_<extractor>`` (``C2ST``'s constructor)."""

    reference_path: str | None = Field(
        None,
        description="a .npz with 'features' (harness refstats build --keep-features); null: the extractor's "
        "own real set where it ships one (digits-extractor)",
    )
    classifier: Literal["logistic", "knn"] = Field(
        "logistic",
        description="logistic: StandardScaler + LogisticRegression; knn: StandardScaler + 5-nearest neighbours",
    )
    folds: int = Field(
        5, ge=2, description="stratified cross-validation folds (each set needs at least this many)"
    )
    seed: int = Field(0, ge=0, description="seed of the folds' shuffle and of the balancing subsample")


class C2ST(ReferenceMetric):
    """Detectability: held-out ROC AUC of a classifier telling the samples from real data on extractor features.

    Value: the mean ROC AUC over stratified folds (0.5 = indistinguishable, 1 = every sample detectable); lower
    is better, and an AUC below 0.5 is chance too (see the module docstring). ``ci95``: t-interval over the folds.

    Options: ``reference_path`` (a ``.npz`` with ``features``; null: the extractor's own real set, where it ships
    one), ``extractor``, ``resize``, ``batch_size``, ``weights_dir``, ``allow_mismatch``, ``classifier``
    (``logistic`` | ``knn``), ``folds`` (5, >= 2), ``seed`` (folds and balancing). Too few samples for the folds
    give ``invalid`` with the reason; samples of a modality the extractor does not take, ``not_applicable``.
    """

    name = "c2st"
    higher_is_better = False
    modalities = ("image", "video", "audio")
    method = (
        "classifier two-sample test (Lopez-Paz & Oquab 2017): balanced classes (larger set subsampled, seeded), "
        "scikit-learn cross_val_score(scoring='roc_auc') over StratifiedKFold(shuffle, seeded); mean fold AUC, "
        "t-interval over folds"
    )
    Options = C2STOptions
    # The features (the classifier needs every sample) and why samples of another modality give no value.
    state_fields: ClassVar[dict[str, str]] = {**ReferenceMetric.state_fields, **EVERY_FEATURE_STATE}

    def __init__(
        self, device: str = "cpu", *, classifier: str = "logistic", folds: int = 5, seed: int = 0, **kw: Any
    ) -> None:
        super().__init__(device, **kw)
        if classifier not in CLASSIFIERS:
            raise TypeError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
        self.classifier = classifier
        self.folds = int_option("folds", folds, minimum=2)
        self.seed = int_option("seed", seed, minimum=0)
        self._feats: list[np.ndarray] = []
        self._not_applicable: str | None = None
        self._ref_info: dict[str, Any] | None = None
        self._result: C2STResult | None = None

    # -- the real set

    @classmethod
    def min_samples(cls, options: C2STOptions) -> tuple[str, int, str]:
        """``(option, least samples per job, why)``: each of the ``folds`` needs a sample (``harness validate``)."""
        return "folds", options.folds, f"{options.folds} folds need at least {options.folds} samples per job"

    def _real(self) -> tuple[np.ndarray, dict[str, Any]]:
        _, feats, info = self.shared_reference()
        return feats, dict(info)

    # -- the metric

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        self._not_applicable = self.not_for(samples)
        if self._not_applicable:
            return
        self.check_real_source()
        self._feats.append(self.shared_features(samples)[1])

    def compute(self) -> MetricResult:
        if self._not_applicable:
            return self.skipped(self._not_applicable, "not_applicable")
        if not self._feats:
            return self.skipped("no samples")
        real, info = self._real()
        note = self.reference_note(info.get("fingerprint")) if self.reference_path else None
        fake = np.concatenate(self._feats)
        if real.shape[1] != fake.shape[1]:
            raise ValueError(
                f"reference has d={real.shape[1]} features, the samples d={fake.shape[1]} ({self.extractor_name})"
            )
        self._ref_info = info
        why = too_few(len(real), len(fake), self.folds)
        if why:
            return self.invalid(why, n=len(fake))
        try:
            self._result = c2st(real, fake, folds=self.folds, seed=self.seed, classifier=self.classifier)
        except ValueError as exc:  # features that are not finite
            return self.invalid(str(exc), n=len(fake))
        details = self.fingerprint_details()
        details["fold_auc"] = self._result.fold_auc
        details["balanced"] = (
            f"{self._result.n_per_class} of each set: {self._result.n_fake} samples and {self._result.n_real} real "
            "vectors, the larger subsampled (seeded)"
        )
        control = None if self.reference_path else getattr(self._ext, "control_features", None)
        if control is not None:
            details["real_vs_real"] = self._real_vs_real(real, control, len(fake))
        if note:
            details["note"] = note
        return self.value(self._result.auc, n=len(fake), ci95=self._result.ci95, details=details)

    def _real_vs_real(self, real: np.ndarray, control: Callable[[], Any], n: int) -> dict[str, Any]:
        """The same test of other real data (``n`` of them, seeded) against the same real set: what a generator
        that reproduced the data would score at this sample size."""
        feats, what = control()
        m = min(n, len(feats))
        picked = feats[np.sort(np.random.default_rng([self.seed, 1]).choice(len(feats), m, replace=False))]
        if too_few(len(real), m, self.folds):
            return {"n": m, "control": what, "reason": too_few(len(real), m, self.folds)}
        res = c2st(real, picked, folds=self.folds, seed=self.seed, classifier=self.classifier)
        return {"n": m, "control": what, **res.summary()}

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        d["c2st"] = {"classifier": self.classifier, "folds": self.folds, "seed": self.seed}
        d["libraries"] = {**d.get("libraries", {}), "scikit-learn": version_of("scikit-learn")}
        d["n"] = sum(len(f) for f in self._feats)
        if self._ref_info is not None:
            d["reference"] = {
                "n": self._ref_info.get("n"),
                **({"source": self._ref_info["reference"]} if "reference" in self._ref_info else {}),
                **(
                    {"fingerprint": self._ref_info["fingerprint"]}
                    if self._ref_info.get("fingerprint")
                    else {}
                ),
            }
        return d


def c2st_metric(short: str) -> type[C2ST]:
    """The metric class ``c2st_<short>``: C2ST on the registered extractor ``short`` (or its alias, ``digits``)."""
    doc = f"C2ST detectability on '{EXTRACTOR_ALIASES.get(short, short)}' features (see C2ST)."
    return per_extractor_class(C2ST, "c2st_", short, f"C2ST_{short}", doc, __name__)


__getattr__ = per_extractor_getattr("c2st_", c2st_metric, __name__)
