"""The quality pass scores batch by batch (``harness.execute.scoring.MetricScorer``): for every metric that runs
offline, feeding the outputs in uneven batches gives the value of feeding them at once, and pairwise metrics
see exactly the baseline's outputs for the same items."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import CallArgs, ModelCard
from harness.config.backends import EagerOptions
from harness.config.job import Job, JobMetric
from harness.core.samples import Samples
from harness.execute.scoring import MetricScorer

CASES = {
    "image": (
        ["psnr", "ssim", "max_abs_diff", "fd_digits", "class_accuracy"]
        + [
            {"name": f"prdc_{f}", "options": {"extractor": "digits-extractor"}}
            for f in ("precision", "recall")
        ],
        (16, 16, 1),
        {},
    ),
    "video": (
        ["psnr", "ssim", "temporal_psnr", "temporal_ssim", "flicker", "fvd_digits", "class_accuracy_video"],
        (8, 16, 16, 1),
        {"fps": 8},
    ),
    "audio": (
        ["psnr", "si_sdr", "stft_distance", "fad_notes", "class_accuracy_audio"],
        (1, 2048),
        {"sample_rate": 8000},
    ),
}


def _job(modality: str, metrics: list, baseline: str | None) -> Job:
    specs = [JobMetric.parse(**m) if isinstance(m, dict) else JobMetric.parse(m) for m in metrics]
    card = ModelCard(
        name="m",
        modality=modality,
        task="unconditional",
        pipeline="DDPMPipeline",
        source={"kind": "config", "path": "."},
        license="mit",
    )
    return Job(
        job_id="variant",
        suite="s",
        model="m",
        variant="v",
        backend="eager",
        backend_options=EagerOptions(),
        dtype="fp32",
        batch_size=4,
        call=CallArgs(),
        card_path="card.yaml",
        baseline_job_id=baseline,
        modality=modality,
        task="unconditional",
        random_weights=False,
        card=card,
        metrics=tuple(specs),
    )


def _samples(modality: str, shape: tuple, extra: dict, n: int, seed: int) -> Samples:
    rng = np.random.default_rng(seed)
    lo = -1.0 if modality == "audio" else 0.0
    data = rng.uniform(lo, 1.0, (n, *shape)).astype(np.float32)
    labels = [int(v) for v in rng.integers(0, 8, n)]
    return Samples(modality, data, seeds=list(range(n)), labels=labels, **extra)


def _values(out):
    return {name: (r.status, r.value, r.reason) for name, r in out.items()}


@pytest.mark.parametrize("modality", sorted(CASES))
def test_uneven_batches_give_the_values_of_one_batch(modality, tmp_path):
    metrics, shape, extra = CASES[modality]
    variant = _samples(modality, shape, extra, 23, seed=1)
    baseline = _samples(modality, shape, extra, 23, seed=2)
    (tmp_path / "outputs").mkdir()
    baseline.save_npz(tmp_path / "outputs" / "base.npz")
    job = _job(modality, metrics, baseline="base")

    whole = MetricScorer(job, tmp_path)
    whole.update(variant)
    streamed = MetricScorer(job, tmp_path)
    for start, stop in ((0, 5), (5, 6), (6, 17), (17, 23)):
        streamed.update(variant.take(start, stop))
    a, b = _values(whole.compute()), _values(streamed.compute())
    assert streamed.items == 23 and set(a) == set(b) == {
        m if isinstance(m, str) else m["name"] for m in metrics
    }
    for name in a:
        assert a[name][0] == b[name][0] == "ok", (name, a[name], b[name])
        va, vb = a[name][1], b[name][1]
        # pooled sums are added in another order, and the feature networks see other batch compositions
        # (oneDNN picks kernels by batch size: float32 features differ in the last bits): equal to rounding
        assert va == vb or (math.isfinite(va) and vb == pytest.approx(va, rel=1e-6, abs=1e-9)), name


def test_pairwise_metrics_see_the_baselines_same_items(tmp_path):
    """Each batch is compared with the baseline's outputs for the same item indices, not the baseline's first."""
    base = _samples("image", (8, 8, 3), {}, 10, seed=3)
    (tmp_path / "outputs").mkdir()
    base.save_npz(tmp_path / "outputs" / "base.npz")
    scorer = MetricScorer(_job("image", ["max_abs_diff", "psnr"], "base"), tmp_path)
    for start, stop in ((0, 4), (4, 10)):
        scorer.update(base.take(start, stop))  # the variant reproduces the baseline item for item
    out = scorer.compute()
    assert out["max_abs_diff"].value == 0.0 and out["psnr"].value == math.inf


def test_a_shorter_baseline_fails_the_pairwise_metrics_only(tmp_path):
    base = _samples("image", (16, 16, 1), {}, 3, seed=4)
    (tmp_path / "outputs").mkdir()
    base.save_npz(tmp_path / "outputs" / "base.npz")
    scorer = MetricScorer(_job("image", ["psnr", "class_accuracy"], "base"), tmp_path)
    scorer.update(_samples("image", (16, 16, 1), {}, 2, seed=5))
    scorer.update(_samples("image", (16, 16, 1), {}, 2, seed=6))
    out = scorer.compute()
    assert out["psnr"].status == "failed"
    assert "the baseline variant has 3 outputs (items 0 to 2), this job at least 4" in out["psnr"].reason
    assert out["class_accuracy"].status == "ok"


def test_a_batch_with_nan_makes_every_metric_invalid_and_stops_scoring(tmp_path):
    scorer = MetricScorer(_job("image", ["class_accuracy", "psnr", "fvd_digits"], None), tmp_path)
    good = _samples("image", (16, 16, 1), {}, 4, seed=7)
    bad = _samples("image", (16, 16, 1), {}, 4, seed=8)
    bad.data[1, 0, 0, 0] = np.nan
    scorer.update(good)
    scorer.update(bad)
    scorer.update(good)
    out = scorer.compute()
    assert out["fvd_digits"].status == "not_applicable"  # another modality's metric stays a blank cell
    assert {out[n].status for n in ("class_accuracy", "psnr")} == {"invalid"}
    assert out["psnr"].reason == "the outputs contain NaN or Inf" and scorer.items == 12


def test_a_metric_raising_metric_invalid_is_invalid_and_the_others_go_on(tmp_path):
    """#23 item 7: finite outputs whose features go NaN (the extractor overflowed): fid raised a ValueError in
    update() and was recorded ``failed``; it is ``invalid`` with the reason now, and the job's other metrics
    keep their values."""
    from harness.metrics.extractors import build_extractor, registered
    from harness.metrics.feature_stats import StreamingStats
    from harness.metrics.refstats import stats_meta
    from tests.metrics.weights_helpers import FLAT, FLAT_NAN

    with registered(FLAT), registered(FLAT_NAN):
        ref, ext = tmp_path / "ref.npz", build_extractor("test-flat-pixels")
        StreamingStats.from_features(
            ext.features(_samples("image", (16, 16, 1), {}, 20, seed=9).data)
        ).to_npz(ref, **stats_meta(ext))
        options = {"reference_path": str(ref), "extractor": "test-flat-pixels-nan", "allow_mismatch": True}
        scorer = MetricScorer(
            _job("image", [{"name": "fid", "options": options}, "class_accuracy"], None), tmp_path
        )
        scorer.update(_samples("image", (16, 16, 1), {}, 4, seed=10))
        out = scorer.compute()
    assert out["fid"].status == "invalid" and out["fid"].value is None
    assert out["fid"].reason == (
        "features contains 3072 NaN and 0 infinite values (shape (4, 768)); features must be finite"
    )
    assert out["class_accuracy"].status == "ok"


def test_no_outputs_are_kept_without_a_pairwise_metric(tmp_path):
    assert MetricScorer(_job("image", ["psnr"], None), tmp_path).keeps_outputs
    assert not MetricScorer(_job("image", ["fd_digits", "class_accuracy"], None), tmp_path).keeps_outputs


def test_samples_memo_computes_once_per_batch_and_forgets_freed_ones():
    from harness.metrics.base import SamplesMemo

    memo, calls = SamplesMemo(keep=2), []
    a = _samples("image", (4, 4, 1), {}, 2, seed=9)

    def make(tag):
        return lambda: calls.append(tag) or tag

    first = memo.get(a, ("k",), make("a"))
    assert first[1:] == ("a", True) and memo.get(a, ("k",), make("again"))[1:] == ("a", False)
    assert memo.get(a, ("other",), make("a2"))[1:] == ("a2", True)  # another key: its own value
    b = a.take(0, 2)  # equal data, another object: computed anew
    assert memo.get(b, ("k",), make("b"))[1:] == ("b", True) and calls == ["a", "a2", "b"]
    del a, first
    import gc

    gc.collect()
    memo.get(b, ("k2",), make("b2"))  # an insert drops the entries of freed batches
    assert memo.values() == ["b", "b2"]


def test_options_validate_refuses_fail_their_metric_with_the_reason_not_a_typeerror(tmp_path):
    """#23 smaller: a job carrying options validate now refuses (a run.json written before, resumed) fails
    that metric with the option and what is allowed at build time, instead of "TypeError: CLIPImageFeatures
    .__init__() got an unexpected keyword argument 'resize'" when the extractor loads; a metric whose extractor
    takes another modality is not applicable, as a metric of another modality."""
    clip = {"name": "fid", "options": {"extractor": "clip-vit-b-32", "resize": "clean"}}
    digits = {"name": "fid", "options": {"extractor": "digits-extractor"}}
    video = _samples("video", (8, 16, 16, 1), {"fps": 8}, 3, seed=0)
    for metric, status, reason in (
        (
            clip,
            "failed",
            "bad options: resize: extractor 'clip-vit-b-32' takes no resize (leave it out with this extractor)",
        ),
        (digits, "not_applicable", "applies to image with these options, not video"),
    ):
        scorer = MetricScorer(_job("video", [metric, "psnr"], baseline=None), tmp_path)
        scorer.update(video)
        out = scorer.compute()
        assert (out["fid"].status, out["fid"].reason) == (status, reason)
        assert out["psnr"].status == "ok"  # the others go on
