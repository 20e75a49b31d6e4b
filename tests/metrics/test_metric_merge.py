"""Metric states merge exactly (#26 item 2), checked over every registered metric.

For each name of ``METRICS``: deterministic samples of its modality (11 items, tiny shapes; a pairwise metric gets
the matching items of a baseline) are split into shards in several ways, empty shards included. One instance per
shard is updated with its shard; the shards' states go through ``np.savez`` / ``np.load(allow_pickle=False)`` (as
they travel between processes) and are merged in order into a fresh instance, and into the first shard's. Both give
what one instance updated batch by batch with the same batches gives: status, value, n, std, ci95, fingerprint and
every detail, bit for bit, except where the state is a float64 sum (Fréchet statistics merged with Chan's update,
PSNR's pooled squared error): ≤ 1e-12 relative there. Every attribute ``update`` changes is declared state or is
a named cache.

Networks are stand-ins (``STAND_INS``, explicit per metric): deterministic functions of the samples in place of
extractors, scorers and flow networks, so the test reads no weights file and runs in seconds on one CPU thread. A
metric registered without a case in ``CASES`` fails here, saying what to add; one whose update reaches a weights
loader without a stand-in fails with the metric to add one for; one that declares no state fails on ``state()``.
"""

from __future__ import annotations

import dataclasses
import io
import math
import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from harness.core.samples import Samples
from harness.metrics import METRICS
from harness.metrics.base import Metric, MetricResult
from harness.metrics.extractors import FeatureExtractor

NAMES = METRICS.names()
N = 11
# Shard sizes: one shard, two, an empty one between others, an empty first shard.
SPLITS = {"one": [11], "two": [5, 6], "with-empty": [3, 0, 4, 4], "empty-first": [0, 11]}
BATCH = 2  # items per update: a shard holds several batches, so float sums are added in another order
PROMPTS = [f"a photo of thing {i}" for i in range(N)]
LABELS = [i % 3 for i in range(N)]
D = 4  # the stand-in extractors' feature dimension
STAND_IN_FINGERPRINT = "stand-in-extractor"
ZOO_SHA = "0" * 64

# Attributes update may change that are not state: networks and the caches of reference data or shared work.
CACHES = {
    "_ext",
    "_model",
    "_images",
    "_flow",
    "_scorer",
    "_located",
    "_ref",
    "_ref_sha",
    "_tokens",
    "_real_file",
}


@dataclass(frozen=True)
class Case:
    """A metric's samples and options for the test."""

    modality: str
    shape: tuple[int, ...]  # of one item
    options: dict[str, Any] = field(default_factory=dict)  # "{stats}", "{cmmd}", "{zoo_*}": reference files
    pairwise: bool = False
    prompts: bool = False
    labels: bool = False
    rel: float = 0.0  # 0: bit for bit; else the relative tolerance of float64 sums


IMG, VID = (6, 6, 3), (3, 8, 8, 3)
FD_OPTS = {"reference_path": "{stats}", "bootstrap": 7}
PRDC_OPTS = {"reference_path": "{stats}", "k": 3}
VBENCH_OPTS = {"bootstrap": 50}
FD = 1e-12
C2ST_OPTS = {"reference_path": "{stats}", "folds": 3}
FAMILY_EXTRACTORS = [
    *(
        (e, "image", IMG)
        for e in ("inception-v3-fid", "inception-v3-fid-logits", "clip-vit-b-32", "clip-vit-l-14-336")
    ),
    ("digits", "image", IMG),
    ("i3d-kinetics-400", "video", VID),
    ("vggish", "audio", (1, 256)),
    ("clap-htsat-unfused", "audio", (1, 256)),
    *((f"dinov2-vit-{s}-14", "image", IMG) for s in "sblg"),
]

CASES: dict[str, Case] = {
    "psnr": Case("image", IMG, pairwise=True, rel=FD),
    "ssim": Case("image", (12, 12, 3), pairwise=True),
    "max_abs_diff": Case("image", IMG, pairwise=True),
    "si_sdr": Case("audio", (1, 256), pairwise=True),
    "fid": Case("image", IMG, FD_OPTS, rel=FD),
    "fd_clip-vit-b-32": Case("image", IMG, FD_OPTS, rel=FD),
    "fd_dinov2": Case("image", IMG, FD_OPTS, rel=FD),
    **{f"fd_dinov2-vit-{s}-14": Case("image", IMG, FD_OPTS, rel=FD) for s in "sblg"},
    "kid": Case("image", IMG, {"reference_path": "{stats}", "subsets": 5, "subset_size": 4}),
    "inception_score": Case("image", IMG, {"splits": 3}),
    "cmmd": Case("image", IMG, {"reference_path": "{cmmd}"}),
    "prdc_precision": Case("image", IMG, PRDC_OPTS),
    "prdc_recall": Case("image", IMG, PRDC_OPTS),
    "prdc_density": Case("image", IMG, PRDC_OPTS),
    "prdc_coverage": Case("image", IMG, PRDC_OPTS),
    "lpips": Case("image", IMG, pairwise=True),
    "ms_ssim": Case("image", (12, 12, 3), {"scales": 2, "kernel_size": 3}, pairwise=True),
    "clip_score": Case("image", IMG, prompts=True),
    "image_reward": Case("image", IMG, prompts=True),
    "hps_v21": Case("image", IMG, prompts=True),
    "pickscore": Case("image", IMG, prompts=True),
    "aesthetic": Case("image", IMG, prompts=True),
    "fd_digits": Case("image", (12, 12, 3), {"reference_path": "{zoo}", "bootstrap": 5, "ci": "bootstrap"}),
    "class_accuracy": Case("image", (12, 12, 3), labels=True),
    "fvd": Case("video", VID, FD_OPTS, rel=FD),
    "fid_frames": Case("video", VID, FD_OPTS, rel=FD),
    "clip_score_frames": Case("video", VID, prompts=True),
    "temporal_psnr": Case("video", VID, rel=FD),
    "temporal_ssim": Case("video", VID),
    "flicker": Case("video", VID),
    "warping_error": Case("video", VID),
    "fad": Case("audio", (1, 256), FD_OPTS, rel=FD),
    "fad_vggish": Case("audio", (1, 256), FD_OPTS, rel=FD),
    "fad_clap": Case("audio", (1, 256), FD_OPTS, rel=FD),
    "clap_score": Case("audio", (1, 256), prompts=True),
    "stft_distance": Case("audio", (2, 600), pairwise=True),
    "fvd_digits": Case(
        "video", (8, 16, 16, 1), {"reference_path": "{zoo}", "bootstrap": 5, "ci": "bootstrap"}
    ),
    "fad_notes": Case("audio", (1, 2048), {"reference_path": "{zoo}", "bootstrap": 5}),
    "class_accuracy_video": Case("video", (8, 16, 16, 3), labels=True),
    "class_accuracy_audio": Case("audio", (1, 2048), labels=True),
    **{
        f"vbench_{d}": Case("video", VID, VBENCH_OPTS, prompts=True)
        for d in (
            "subject_consistency",
            "background_consistency",
            "motion_smoothness",
            "dynamic_degree",
            "appearance_style",
            "scene",
        )
    },
    "vbench_mlperf": Case("video", VID, prompts=True),
    # #27 items 2, 3: detectability and diversity on every registered extractor (its modality's items).
    **{
        f"{family}_{ext}": Case(modality, shape, C2ST_OPTS if family == "c2st" else {})
        for family in ("c2st", "vendi")
        for ext, modality, shape in FAMILY_EXTRACTORS
    },
}

# What stands in for each metric's network (installed by the ``stand_ins`` fixture); metrics not named run as
# they are (no network).
STAND_INS: dict[str, str] = {
    **{
        name: "extractors.build_extractor -> StandInExtractor (tanh of the flattened item times a fixed matrix)"
        for name in (
            "fid",
            "fd_clip-vit-b-32",
            "fd_dinov2",
            *(f"fd_dinov2-vit-{s}-14" for s in "sblg"),
            "kid",
            "inception_score",
            "cmmd",
            "prdc_precision",
            "prdc_recall",
            "prdc_density",
            "prdc_coverage",
            "fvd",
            "fid_frames",
            "fad",
            "fad_vggish",
            "fad_clap",
            *(f"{family}_{ext}" for family in ("c2st", "vendi") for ext, _, _ in FAMILY_EXTRACTORS),
        )
    },
    "lpips": "lpips_metric.build_lpips -> mean squared difference; linear_weights -> a fixed record",
    "clip_score": "alignment.CLIPImageFeatures / text_embeddings -> StandInCLIP (fixed projections)",
    "clip_score_frames": "alignment.CLIPImageFeatures / text_embeddings -> StandInCLIP (fixed projections)",
    "clap_score": "audio.CLAPAudioFeatures -> StandInCLAP (window statistics, prompt projections)",
    **{
        name: "weights.locate -> a fixed record; <class>._load / _score -> mean pixel + prompt hash"
        for name in ("image_reward", "hps_v21", "pickscore", "aesthetic")
    },
    "warping_error": "warping.RAFTFlow -> StandInFlow (a flow from the frames' mean difference)",
    **{
        f"vbench_{d}": "vbench SCORERS[dim] -> StandInScorer; dimension_prompts -> the test's prompts"
        for d in (
            "subject_consistency",
            "background_consistency",
            "motion_smoothness",
            "dynamic_degree",
            "appearance_style",
            "scene",
            "mlperf",
        )
    },
    **{
        name: "zoo load_extractor -> StandInZooClassifier (fixed projection, argmax of 3 classes)"
        for name in ("fd_digits", "class_accuracy", "fvd_digits", "fad_notes")
    },
    "class_accuracy_video": "zoo load_extractor -> StandInZooClassifier",
    "class_accuracy_audio": "zoo load_extractor -> StandInZooClassifier",
}


class WeightsTouched(AssertionError):
    """A metric's update reached a weights loader that no stand-in replaces."""


# ------------------------------------------------------------------------------------------------ stand-ins


def _projection(x: np.ndarray, d: int = D) -> np.ndarray:
    """(N, ...) → (N, d) float64: tanh of the flattened items times a matrix fixed by their size."""
    flat = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    w = np.random.default_rng(flat.shape[1]).standard_normal((flat.shape[1], d)) / math.sqrt(flat.shape[1])
    return np.tanh(flat @ w)


def _text(prompts: list[str], d: int = D) -> np.ndarray:
    return np.stack([np.random.default_rng(zlib.crc32(p.encode())).standard_normal(d) for p in prompts])


class StandInExtractor(FeatureExtractor):
    """Any registered extractor: a fixed projection of each item (images, videos or audio alike)."""

    dim = D

    def __init__(self, name: str) -> None:
        super().__init__(batch_size=4)
        self.name = name

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        return _projection(batch)

    def samples_features(self, samples: Samples) -> np.ndarray:
        return _projection(samples.data)

    def protocol(self) -> dict[str, Any]:
        return {"extractor": self.name, "stand_in": "tanh(x @ W)", "dim": D}

    def fingerprint(self) -> str:
        return STAND_IN_FINGERPRINT


class StandInCLIP:
    def __init__(self, *, device: str, weights_dir: Any, batch_size: int, weights: str) -> None:
        self.weights = weights
        self.model = SimpleNamespace(
            config=SimpleNamespace(text_config=SimpleNamespace(max_position_embeddings=77))
        )
        self.processor = SimpleNamespace(tokenizer=None)

    def features(self, images: np.ndarray) -> np.ndarray:
        return _projection(images)

    def protocol(self) -> dict[str, Any]:
        return {"network": "stand-in CLIP", "weights": self.weights}


class StandInCLAP:
    def __init__(self, *, device: str, weights_dir: Any, batch_size: int, weights: str) -> None:
        self.weights = weights

    def item_features(self, samples: Samples) -> list[np.ndarray]:
        return [_projection(item.mean(axis=0).reshape(-1, 64)) for item in samples.data]

    def text_embeddings(self, prompts: list[str]) -> np.ndarray:
        return _text(prompts)

    def protocol(self) -> dict[str, Any]:
        return {"network": "stand-in CLAP", "weights": self.weights}


class StandInFlow:
    def __init__(self, device: str, weights_dir: Any, *, updates: int = 12) -> None:
        self.updates = updates

    def __call__(self, a: Any, b: Any) -> Any:
        # A small flow from the frames' mean difference; 100 px (every pixel outside: a fully masked pair) where
        # the frame brightens.
        diff = (a - b).double().mean(dim=(1, 2, 3))
        shift = diff.where(diff < 0.01, diff.new_tensor(100.0)) * 3.0
        return shift.view(-1, 1, 1, 1).expand(-1, 2, *a.shape[-2:]).clone()

    def details(self) -> dict[str, Any]:
        return {"network": "stand-in flow", "num_flow_updates": self.updates}


class StandInScorer:
    def __init__(self, device: str, weights_dir: Any) -> None:
        pass

    def score(self, items: list[Any], fps: int | None) -> list[tuple[float, float]]:
        out = []
        for item in items:
            f = item.frames.astype(np.float64) / 255.0
            out.append((float(np.abs(np.diff(f, axis=0)).mean() * len(f)), float(len(f))))
        return out

    def details(self) -> dict[str, Any]:
        return {"code": "stand-in scorer", "weights": []}


class StandInZooClassifier:
    sha256, dim, num_classes, size = ZOO_SHA, D, 3, 16

    def features(self, x: np.ndarray) -> np.ndarray:
        return _projection(x)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(_projection(x, 3), axis=1)


def _refuse(what: str):
    def refuse(*args: Any, **kw: Any) -> Any:
        raise WeightsTouched(
            f"{what} called with {args!r}: the metric needs a stand-in for its network in STAND_INS "
            "(tests/metrics/test_metric_merge.py)"
        )

    return refuse


@pytest.fixture
def stand_ins(monkeypatch, tmp_path, one_thread):
    """Every network replaced by its stand-in (a loader without one raises ``WeightsTouched``); the reference
    files written; returns the option placeholders' values."""
    import safetensors.torch
    import torch

    import harness.metrics.alignment as alignment
    import harness.metrics.audio as audio
    import harness.metrics.extractors as E
    import harness.metrics.loading as L
    import harness.metrics.lpips_metric as lp
    import harness.metrics.warping as warping
    import harness.metrics.weights as W
    from harness.metrics.cmmd import write_reference
    from harness.metrics.feature_stats import StreamingStats
    from harness.metrics.prdc_metric import SHARED
    from harness.metrics.preference import Aesthetic, HPSv21, ImageRewardScore, PickScore
    from harness.metrics.vbench import metrics as VM
    from harness.metrics.vbench import scoring
    from harness.metrics.vbench.prompts import PromptInfo
    from harness.zoo import metrics as zoo
    from harness.zoo.av import metrics as zoo_av

    # Nothing reaches a weights file...
    monkeypatch.setattr(L, "cached_model", _refuse("cached_model"))
    monkeypatch.setattr(torch, "load", _refuse("torch.load"))
    monkeypatch.setattr(torch.jit, "load", _refuse("torch.jit.load"))
    monkeypatch.setattr(safetensors.torch, "load_file", _refuse("safetensors.torch.load_file"))
    preference_weights = {w for cls in (Aesthetic, HPSv21, ImageRewardScore, PickScore) for w in cls.weights}

    def locate(name: str, weights_dir: Any = None) -> Any:
        if name not in preference_weights:
            _refuse(f"weights.locate({name!r})")()
        return SimpleNamespace(details=lambda: {"name": name, "sha256": "stand-in"}, files={})

    monkeypatch.setattr(W, "locate", locate)
    # ...the stand-ins instead:
    monkeypatch.setattr(E, "build_extractor", lambda name, **kw: StandInExtractor(name))
    monkeypatch.setattr(lp, "build_lpips", lambda net, weights_dir, device: (_lpips, _located(net)))
    monkeypatch.setattr(lp, "linear_weights", lambda net: {"file": f"{net}.pth", "sha256": "stand-in"})
    monkeypatch.setattr(alignment, "CLIPImageFeatures", StandInCLIP)
    monkeypatch.setattr(alignment, "text_embeddings", lambda model, tok, prompts, **kw: _text(prompts))
    monkeypatch.setattr(audio, "CLAPAudioFeatures", StandInCLAP)
    monkeypatch.setattr(warping, "RAFTFlow", StandInFlow)
    for cls in (Aesthetic, HPSv21, PickScore):
        monkeypatch.setattr(cls, "_load", lambda self, *located: "stand-in")
    monkeypatch.setattr(ImageRewardScore, "_load", _image_reward_load)
    for cls in (Aesthetic, HPSv21, ImageRewardScore, PickScore):
        monkeypatch.setattr(cls, "_score", _preference_score)
    for dim in VM.DIMENSION_METRICS:
        monkeypatch.setitem(scoring.SCORERS, dim, StandInScorer)
    monkeypatch.setattr(VM.Scene, "scorer", VM.VBenchDimension.scorer)
    # Every dimension lists the test's prompts but two (never alone in a batch): their videos are left out.
    listed = [p for i, p in enumerate(PROMPTS) if i not in (1, 8)]
    monkeypatch.setattr(
        VM,
        "dimension_prompts",
        lambda dim: {p: PromptInfo(frozenset({dim}), {dim: "in the style of a test"}) for p in listed},
    )
    for cls in (zoo._DigitsInputs, zoo_av._VideoInputs):
        monkeypatch.setattr(cls, "load_extractor", lambda self: StandInZooClassifier())
    SHARED.clear()
    VM._MEMO.clear()

    # The reference files: features of other deterministic "real" data through the same stand-ins.
    real = np.random.default_rng(99).standard_normal((15, D))
    stats, cmmd, zoo_stats = tmp_path / "stats.npz", tmp_path / "cmmd.npz", tmp_path / "zoo.npz"
    StreamingStats.from_features(real, keep_features=True).to_npz(
        stats, include_features=True, fingerprint=STAND_IN_FINGERPRINT
    )
    write_reference(
        cmmd, real / np.linalg.norm(real, axis=1, keepdims=True), fingerprint=STAND_IN_FINGERPRINT
    )
    StreamingStats.from_features(real).to_npz(zoo_stats, extractor_sha256=ZOO_SHA, floor=0.5, floor_n=15)
    yield {"stats": str(stats), "cmmd": str(cmmd), "zoo": str(zoo_stats)}
    SHARED.clear()
    VM._MEMO.clear()


def _lpips(x: Any, y: Any) -> Any:
    return ((x - y) ** 2).mean(dim=(1, 2, 3), keepdim=True)


def _located(net: str) -> Any:
    return SimpleNamespace(details=lambda: {"name": f"torchvision-{net}", "sha256": "stand-in"})


def _image_reward_load(self: Any, *located: Any) -> str:
    self._notes = {"unused_checkpoint_tensors": ["stand-in"]}
    return "stand-in"


def _preference_score(self: Any, images: np.ndarray, prompts: list[str]) -> np.ndarray:
    return images.reshape(len(images), -1).mean(axis=1) / 255.0 + _text(prompts)[:, 0]


# ------------------------------------------------------------------------------------------------ helpers


def _samples(case: Case, seed: int) -> Samples:
    rng = np.random.default_rng(seed)
    lo = -1.0 if case.modality == "audio" else 0.0
    data = rng.uniform(lo, 1.0, (N, *case.shape)).astype(np.float32)
    return Samples(
        case.modality,
        data,
        sample_rate=8000 if case.modality == "audio" else None,
        fps=8 if case.modality == "video" else None,
        prompts=list(PROMPTS) if case.prompts else None,
        labels=list(LABELS) if case.labels else None,
    )


def _baseline(case: Case, samples: Samples) -> Samples:
    """The baseline's items: the samples nudged (pairwise metrics compare like with like)."""
    lo = -1.0 if case.modality == "audio" else 0.0
    noise = np.random.default_rng(7).normal(0.0, 0.05, samples.data.shape).astype(np.float32)
    return dataclasses.replace(samples, data=np.clip(samples.data + noise, lo, 1.0))


def _shards(samples: Samples, sizes: list[int]) -> list[tuple[int, int]]:
    assert sum(sizes) == len(samples)
    bounds, start = [], 0
    for size in sizes:
        bounds.append((start, start + size))
        start += size
    return bounds


def _update(metric: Metric, case: Case, samples: Samples, baseline: Samples, start: int, stop: int) -> None:
    """Items ``start`` … ``stop - 1`` in batches of ``BATCH``, as the quality pass hands them to a metric."""
    for i in range(start, stop, BATCH):
        j = min(i + BATCH, stop)
        # Each instance gets its own Samples objects: no memo of another instance's batch is read.
        batch = dataclasses.replace(samples.take(i, j))
        ref = dataclasses.replace(baseline.take(i, j)) if case.pairwise else None
        metric.update(batch, ref)


def roundtrip(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state written with ``np.savez`` and read back without pickle, checked unchanged."""
    buf = io.BytesIO()
    np.savez(buf, **state)
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        back = {k: z[k] for k in z.files}
    assert sorted(back) == sorted(state)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape, key
        assert back[key].tobytes() == value.tobytes(), key
    return back


def _same(a: Any, b: Any, rel: float, where: str) -> None:
    """Equal, recursively: floats bit for bit (``rel`` 0) or within ``rel``; everything else exactly."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a) == sorted(b), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            _same(a[k], b[k], rel, f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, rel, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float) and rel and math.isfinite(a):
        assert abs(a - b) <= rel * abs(a), (
            f"{where}: {a!r} vs {b!r} (relative {abs(a - b) / abs(a):.2e} > {rel})"
        )
    else:
        assert a == b and type(a) is type(b), f"{where}: {a!r} vs {b!r}"


def _changed(before: dict[str, Any], metric: Metric) -> set[str]:
    """The attributes of ``metric`` that differ from the ``_snapshot`` ``before``."""
    after = _snapshot(metric)
    return {k for k in after if before.get(k, object()) != after[k]}


def _snapshot(metric: Metric) -> dict[str, Any]:
    out = {}
    for k, v in vars(metric).items():
        if isinstance(v, (list, dict, set)):
            out[k] = (id(v), len(v), repr(v)[:2000])
        elif isinstance(v, np.ndarray):
            out[k] = (v.shape, v.tobytes())
        elif v is None or isinstance(v, (str, int, float, bool, tuple)):
            out[k] = repr(v)
        else:
            out[k] = (type(v).__name__, id(v), repr(vars(v)) if hasattr(v, "__dict__") else repr(v))
    return out


# ------------------------------------------------------------------------------------------------ the property


@pytest.mark.parametrize("split", list(SPLITS))
@pytest.mark.parametrize("name", NAMES)
def test_merged_shard_states_give_the_single_pass_result(name, split, stand_ins):
    """#26 item 2: the states of any split of the samples (empty shards included), merged in order, give the
    single pass's result: bit for bit, or ≤ 1e-12 relative where the state is a float64 sum."""
    assert name in CASES, (
        f"{name} has no case: add its modality, item shape, options (and in STAND_INS a stand-in for any network "
        "it runs) to CASES in tests/metrics/test_metric_merge.py"
    )
    case = CASES[name]
    cls = METRICS.get(name)
    assert cls.mergeable() is None, cls.mergeable()
    options = {k: v.format(**stand_ins) if isinstance(v, str) else v for k, v in case.options.items()}
    samples = _samples(case, seed=sum(map(ord, name)))
    baseline = _baseline(case, samples)
    bounds = _shards(samples, SPLITS[split])

    single = cls.build(options)
    for start, stop in bounds:
        if stop > start:
            _update(single, case, samples, baseline, start, stop)
    expected = single.compute()
    assert expected.status == "ok" and expected.value is not None, (expected.status, expected.reason)

    shards = [cls.build(options) for _ in bounds]
    for metric, (start, stop) in zip(shards, bounds):
        if stop > start:
            before = _snapshot(metric)
            _update(metric, case, samples, baseline, start, stop)
            undeclared = _changed(before, metric) - set(cls.state_fields) - CACHES
            assert not undeclared, f"update changed {sorted(undeclared)}, which state_fields does not declare"
    states = [roundtrip(m.state()) for m in shards]

    fresh = cls.build(options)
    for state in states:
        fresh.merge(state)
    first = shards[0]
    for state in states[1:]:
        first.merge(state)
    for merged in (fresh, first):
        _same(expected.model_dump(), merged.compute().model_dump(), case.rel, name)


def test_every_registered_metric_has_a_case_and_every_case_a_metric():
    """#26 item 2: a metric registered later joins the property test (and fails it until it has a case)."""
    assert sorted(set(NAMES) - set(CASES)) == []
    assert sorted(set(CASES) - set(NAMES)) == []
    assert set(STAND_INS) <= set(CASES)


# ------------------------------------------------------------------------------------------------ the contract


class _Stateless(Metric):
    name = "stateless"
    higher_is_better = True
    kind = "per_sample"

    def update(self, samples: Samples, reference: Samples | None = None) -> None:
        pass

    def compute(self) -> MetricResult:
        return self.skipped("no samples")


def test_a_metric_without_state_fields_says_why_it_cannot_merge():
    """#26 item 2: mergeable() names the metric and the missing declaration; state() and merge() refuse."""
    why = _Stateless.mergeable()
    assert why == "stateless declares no state (state_fields): its shards cannot be merged"
    with pytest.raises(TypeError, match=r"^stateless declares no state \(state_fields\)"):
        _Stateless().state()
    with pytest.raises(TypeError, match=r"^stateless declares no state"):
        _Stateless().merge({})
    bad = type("Bad", (_Stateless,), {"name": "bad", "state_fields": {"_x": "mean"}})
    assert bad.mergeable() == (
        "bad: unknown reductions ['mean'] in state_fields (allowed: "
        "['cat', 'first', 'max', 'metrics', 'min', 'same', 'stats', 'sum'])"
    )


def _psnr(modality: str = "image") -> Metric:
    from harness.metrics.pairwise import PSNR

    m = PSNR()
    shape = (3, 1, 64) if modality == "audio" else (3, 4, 4, 3)
    data = np.random.default_rng(0).uniform(0.0, 1.0, shape).astype(np.float32)
    m.update(Samples(modality, data), Samples(modality, data * np.float32(0.9)))
    return m


def test_a_state_missing_a_field_is_refused_and_the_metric_left_as_it_was():
    """#26 item 2: a state without one of the declared fields (another metric's, or a truncated file) fails the
    merge with the field's name, before anything is merged."""
    m, other = _psnr(), _psnr()
    state = other.state()
    del state["_sq_err"]
    before = m.state()
    with pytest.raises(ValueError, match=r"^PSNR: the state has no field '_sq_err' \(it has \['_count', "):
        m.merge(state)
    after = m.state()
    assert sorted(after) == sorted(before) and all(after[k].tobytes() == before[k].tobytes() for k in before)


def test_a_stats_state_missing_its_count_is_refused(stand_ins):
    """#26 item 2: a Fréchet state without its statistics' count is refused with the field's name."""
    fid = METRICS.get("fid").build({"reference_path": stand_ins["stats"]})
    state = fid.state()
    del state["_gen.n"]
    with pytest.raises(ValueError, match=r"^FID: the state has no field '_gen\.n'"):
        METRICS.get("fid").build({"reference_path": stand_ins["stats"]}).merge(state)


def test_statistics_of_another_dimension_are_refused_before_any_field_merges():
    """#26 item 2: Fréchet statistics of d=2 features do not merge into d=3 ones; nothing is merged."""
    from harness.metrics.feature_stats import StreamingStats
    from harness.metrics.state import merge_state, pack_state

    fields = {"values": "cat", "stats": "stats"}
    rng = np.random.default_rng(0)
    mine = SimpleNamespace(values=[1.0], stats=StreamingStats.from_features(rng.standard_normal((4, 3))))
    theirs = SimpleNamespace(values=[2.0], stats=StreamingStats.from_features(rng.standard_normal((4, 2))))
    with pytest.raises(ValueError, match=r"^SimpleNamespace\.stats: features of d=2 cannot merge into d=3$"):
        merge_state(mine, fields, pack_state(theirs, fields))
    assert mine.values == [1.0] and mine.stats.n == 4


def test_shards_that_ran_different_settings_do_not_merge():
    """#26 item 2: a "same" field (here PSNR's data range: 1 for images, 2 for audio) that differs between shards
    fails the merge, naming both values, rather than mixing two systems' numbers."""
    image, audio = _psnr("image"), _psnr("audio")
    with pytest.raises(
        ValueError, match=r"^PSNR\._range: the shards disagree \(1\.0 here, 2\.0 in the merged state\)"
    ):
        image.merge(audio.state())
    assert image.compute().value == _psnr("image").compute().value  # unchanged


def test_an_empty_shard_is_the_identity_and_its_state_round_trips(stand_ins):
    """#26 item 2: a metric that saw no sample has a state that np.savez writes without pickle and whose merge
    changes nothing, for every registered metric."""
    for name in NAMES:
        options = {
            k: v.format(**stand_ins) if isinstance(v, str) else v for k, v in CASES[name].options.items()
        }
        empty = METRICS.get(name).build(options)
        state = roundtrip(empty.state())
        target = METRICS.get(name).build(options)
        target.merge(state)
        assert target.compute().model_dump() == empty.compute().model_dump(), name


def test_samples_of_another_modality_stay_not_applicable_when_merged(stand_ins):
    """#26 item 2: PRDC on an image extractor given audio records "not applicable" (a blank cell, not a skip); the
    reason is state, so shards merged into a fresh instance say the same, not "no samples"."""
    case = Case("audio", (1, 64))
    samples = _samples(case, seed=3)
    options = {"reference_path": stand_ins["stats"], "k": 3}
    single = METRICS.get("prdc_precision").build(options)
    merged = METRICS.get("prdc_precision").build(options)
    for start, stop in [(0, 5), (5, 11)]:
        shard = METRICS.get("prdc_precision").build(options)
        _update(shard, case, samples, samples, start, stop)
        _update(single, case, samples, samples, start, stop)
        merged.merge(roundtrip(shard.state()))
    expected = single.compute()
    assert expected.status == "not_applicable" and expected.reason == (
        "inception-v3-fid features apply to image, video, not audio"
    )
    assert merged.compute().model_dump() == expected.model_dump()


def test_vbench_mlperf_keeps_the_first_problem_of_each_dimension_in_sample_order(stand_ins, monkeypatch):
    """#26 item 2: vbench_mlperf's dimension problems merge as one pass records them: the first in sample order."""
    from harness.metrics.vbench import metrics as VM
    from harness.metrics.vbench.prompts import PromptInfo

    # The scene dimension lists only the first prompt: each later batch, without it, is skipped for scene.
    monkeypatch.setattr(
        VM,
        "dimension_prompts",
        lambda dim: {
            p: PromptInfo(frozenset({dim}), {dim: "aux"}) for p in PROMPTS[: 1 if dim == "scene" else N]
        },
    )
    case = CASES["vbench_mlperf"]
    samples = _samples(case, seed=5)
    single, shards = METRICS.get("vbench_mlperf").build({}), []
    for start, stop in [(0, 3), (3, 6), (6, 11)]:
        _update(single, case, samples, samples, start, stop)
        shard = METRICS.get("vbench_mlperf").build({})
        _update(shard, case, samples, samples, start, stop)
        shards.append(roundtrip(shard.state()))
    merged = METRICS.get("vbench_mlperf").build({})
    for state in shards:
        merged.merge(state)
    expected = single.compute()
    # the first shard's second batch (one item), not a later shard's batches of two
    assert expected.status == "skipped" and "scene: skipped: none of the 1 prompts" in expected.reason
    assert merged.compute().model_dump() == expected.model_dump()
