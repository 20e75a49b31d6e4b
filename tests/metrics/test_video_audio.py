"""Video and audio metrics: exact answers, the shared Fréchet core on fake extractors, and the real-weights paths.

Exact answers need no weights (temporal PSNR/SSIM, flicker, STFT distance, SI-SDR, warping of known flows).
FVD/FAD run on tiny registered extractors and must equal ``frechet_distance`` on the same features. The
pinned-weights paths (I3D TorchScript, RAFT-small, VGGish, CLAP) run offline on files made here under the real
file names in a temporary HARNESS_WEIGHTS_DIR, re-pinned to their hash (``pin_to``): found, verified and run;
with the real pin, rejected; absent, one line naming the file, and the metric skipped in a job with that reason.
The I3D file is a TorchScript module with the interface of StyleGAN-V's (``forward(x, rescale, resize,
return_features)`` → 400 values), not an I3D: it reports the input it received, which checks our clip protocol.
"""

from __future__ import annotations

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness.config.job import JobMetric  # noqa: E402
from harness.core.errors import MetricSkipped, UserInputError, WeightsNotFoundError  # noqa: E402
from harness.core.samples import Samples  # noqa: E402
from harness.metrics import (  # noqa: E402
    METRICS,
    audio_features,
    clap,
    modal,
    stft,
    temporal,
    vggish,
    video_features,
    warping,
)
from harness.metrics import audio as A  # noqa: E402
from harness.metrics import video as V  # noqa: E402
from harness.metrics import weights as W  # noqa: E402
from harness.metrics.extractors import ExtractorSpec, build_extractor, registered  # noqa: E402
from harness.metrics.frechet import frechet_distance  # noqa: E402
from tests.metrics.weights_helpers import pin_to, random_state_dict  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::harness.metrics.frechet.FrechetWarning")


def _video(seed: int, n: int = 3, f: int = 4, h: int = 8, w: int = 8, c: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.1, 0.9, (n, f, h, w, c)).astype(np.float32)


def _noise(seed: int, n: int, t: int, c: int = 1, amp: float = 0.3) -> np.ndarray:
    return (amp * np.random.default_rng(seed).standard_normal((n, c, t))).clip(-1, 1).astype(np.float32)


def _cov(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return f.mean(0), np.cov(f, rowvar=False)


# ------------------------------------------------------------------------------------------- temporal, exact


def test_temporal_psnr_still_video_is_inf_and_alternating_frames_follow_the_formula():
    still = np.full((2, 5, 6, 6, 3), 0.4, np.float32)
    m = temporal.TemporalPSNR()
    m.update(Samples("video", still))
    v = m.compute()
    assert v.status == "ok" and v.value == float("inf") and v.n == 2

    a, b = 0.25, 0.75
    alt = np.empty((1, 6, 4, 4, 3), np.float32)
    alt[:, 0::2], alt[:, 1::2] = a, b
    m = temporal.TemporalPSNR()
    m.update(Samples("video", alt))
    assert m.compute().value == pytest.approx(-20 * np.log10(abs(a - b)), rel=1e-12)

    # pooled over videos: MSE of all pairs together, as psnr pools items
    m = temporal.TemporalPSNR()
    m.update(Samples("video", np.concatenate([alt, np.full_like(alt, 0.5)])))
    assert m.compute().value == pytest.approx(-10 * np.log10((a - b) ** 2 / 2), rel=1e-12)


def test_temporal_ssim_of_a_still_video_is_one_and_drops_with_change():
    still = np.repeat(_video(1, n=1, f=1, h=16, w=16), 4, axis=1)
    m = temporal.TemporalSSIM()
    m.update(Samples("video", still))
    assert m.compute().value == pytest.approx(1.0, abs=1e-12)
    m = temporal.TemporalSSIM()
    m.update(Samples("video", _video(2, n=2, f=3, h=16, w=16)))
    v = m.compute()
    assert v.n == 2 and v.value < 0.5 and v.details["libraries"]["torchmetrics"]


def test_flicker_is_zero_when_still_and_the_step_of_a_luminance_ramp():
    m = temporal.Flicker()
    m.update(Samples("video", np.full((2, 5, 4, 4, 3), 0.3, np.float32)))
    assert m.compute().value == 0.0

    step, f = 0.05, 8
    ramp = (0.1 + step * np.arange(f, dtype=np.float64))[None, :, None, None, None]
    rgb = np.broadcast_to(ramp, (1, f, 4, 4, 3)).astype(np.float32)
    gray = np.broadcast_to(ramp, (1, f, 4, 4, 1)).astype(np.float32)
    for data in (rgb, gray):
        m = temporal.Flicker()
        m.update(Samples("video", data))
        assert m.compute().value == pytest.approx(step, rel=1e-6)  # float32 frames
    # luma weights: a pure-red step of s moves Y by 0.299 s
    red = np.zeros((1, 2, 2, 2, 3), np.float32)
    red[:, 1, ..., 0] = 0.5
    m = temporal.Flicker()
    m.update(Samples("video", red))
    assert m.compute().value == pytest.approx(0.299 * 0.5, rel=1e-7)


def test_temporal_metrics_check_input():
    with pytest.raises(MetricSkipped, match="applies to video, not image"):
        temporal.Flicker().update(Samples("image", np.zeros((1, 4, 4, 3), np.float32)))
    with pytest.raises(MetricSkipped, match="consecutive frames: the videos have 1 frame"):
        temporal.TemporalPSNR().update(Samples("video", np.zeros((1, 1, 4, 4, 3), np.float32)))
    with pytest.raises(ValueError, match=r"temporal_ssim: expected values in \[0.0, 1.0\], received min"):
        temporal.TemporalSSIM().update(Samples("video", np.full((1, 2, 4, 4, 3), 2.0, np.float32)))
    for name in ("temporal_psnr", "temporal_ssim", "flicker", "warping_error"):
        cls = METRICS.get(name)
        assert (
            cls.requires_trained_weights is False
            and cls.kind == "per_sample"
            and cls.modalities == ("video",)
        )


# ------------------------------------------------------------------------------------------- warping, exact


def test_warp_zero_flow_gives_the_frame_difference_and_a_pure_shift_gives_zero():
    rng = np.random.default_rng(3)
    f0 = torch.from_numpy(rng.uniform(0, 1, (2, 3, 9, 11)))
    f1 = torch.from_numpy(rng.uniform(0, 1, (2, 3, 9, 11)))
    zero = torch.zeros(2, 2, 9, 11, dtype=torch.float64)
    l2 = warping.warping_error_pair(f0, f1, zero, norm="l2")
    l1 = warping.warping_error_pair(f0, f1, zero, norm="l1")
    np.testing.assert_allclose(l2, ((f1 - f0) ** 2).mean(dim=(1, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(l1, (f1 - f0).abs().mean(dim=(1, 2, 3)), rtol=1e-12)
    # with the occlusion check: zero flows are consistent everywhere
    np.testing.assert_allclose(warping.warping_error_pair(f0, f1, zero, zero), l2, rtol=1e-12)

    k = 3  # frame t+1 is frame t moved k pixels right: I1(x) = I0(x - k); flow t+1 → t is (-k, 0)
    shifted = torch.zeros_like(f0)
    shifted[..., k:] = f0[..., :-k]
    flow_b = torch.zeros_like(zero)
    flow_b[:, 0] = -k
    warped, inside = warping.warp(f0, flow_b)
    assert inside[..., :k].sum() == 0 and bool(inside[..., k:].all())
    torch.testing.assert_close(warped[..., k:], shifted[..., k:], rtol=0, atol=1e-12)
    assert float(warping.warping_error_pair(f0, shifted, flow_b).max()) < 1e-24
    flow_f = -flow_b  # t → t+1: +k
    assert bool(warping.consistent(flow_b, flow_f)[..., k:].all())
    assert not bool(
        warping.consistent(flow_b, torch.zeros_like(flow_f))[..., k:].any()
    )  # |k|² = 9 > 0.09 k² + 0.5


def test_warping_error_metric_with_known_flows(monkeypatch):
    """The metric's aggregation over pairs and videos with an exact zero-flow model in place of RAFT."""
    videos = _video(4, n=2, f=3, h=6, w=5)
    m = warping.WarpingError(occlusion=False)
    monkeypatch.setattr(m, "flow_model", lambda: lambda a, b: torch.zeros(a.shape[0], 2, *a.shape[2:]))
    m.update(Samples("video", videos))
    v = m.compute()
    d = videos.astype(np.float64)
    per_video = ((d[:, 1:] - d[:, :-1]) ** 2).mean(axis=(2, 3, 4)).mean(axis=1)
    assert v.status == "ok" and v.value == pytest.approx(per_video.mean(), rel=1e-12) and v.n == 2
    with pytest.raises(TypeError, match="norm must be l1 or l2"):
        warping.WarpingError(norm="l3")


# ------------------------------------------------------------------------------------------- STFT, SI-SDR, exact


def test_stft_distance_identical_zero_scaled_copy_analytic_and_symmetry():
    x = _noise(5, 2, 4096, c=2, amp=0.2)
    out = stft.multi_resolution_stft_distance(x, x)
    assert np.all(out["distance"] == 0.0) and [r[0] for r in out["resolutions"]] == [512, 1024, 2048]
    # a >= 1 keeps every bin above the log's power floor (1e-7; x's weakest bin has ~3e-7)
    for a in (1.5, 2.0, 3.0):
        o = stft.multi_resolution_stft_distance(a * x.astype(np.float64), x)
        np.testing.assert_allclose(o["sc"], a - 1, rtol=1e-12)
        np.testing.assert_allclose(o["mag"], np.log(a), rtol=1e-10)
        back = stft.multi_resolution_stft_distance(x, a * x.astype(np.float64))  # reference scaled instead
        np.testing.assert_allclose(back["sc"], (a - 1) / a, rtol=1e-12)
        np.testing.assert_allclose(back["mag"], o["mag"], rtol=1e-12)  # the log term is symmetric
    np.testing.assert_allclose(stft.multi_resolution_stft_distance(0.25 * x, x)["sc"], 0.75, rtol=1e-12)
    y = _noise(6, 2, 4096, c=2, amp=0.2)
    np.testing.assert_allclose(
        stft.multi_resolution_stft_distance(x, y)["mag"],
        stft.multi_resolution_stft_distance(y, x)["mag"],
        rtol=1e-12,
    )

    loud = _noise(5, 2, 4096, c=2, amp=0.35)  # half of it stays above the power floor too
    m = stft.STFTDistance()
    m.update(Samples("audio", 0.5 * loud, sample_rate=16000), Samples("audio", loud, sample_rate=16000))
    v = m.compute()
    assert v.value == pytest.approx(0.5 + np.log(2.0), rel=1e-9) and v.n == 2
    assert v.details["spectral_convergence"] == pytest.approx(0.5, rel=1e-12)
    # short signals use only the resolutions that fit, and say so
    s = _noise(7, 1, 400)
    m = stft.STFTDistance()
    m.update(Samples("audio", s, sample_rate=16000), Samples("audio", s, sample_rate=16000))
    v = m.compute()
    assert v.value == 0.0 and v.details["resolutions_used"] == [[512, 128, 512]]
    with pytest.raises(MetricSkipped, match="shorter than every STFT resolution"):
        stft.multi_resolution_stft_distance(s[..., :200], s[..., :200])


def test_si_sdr_matches_torchmetrics_and_the_formula_and_is_scale_invariant():
    from torchmetrics.audio import ScaleInvariantSignalDistortionRatio

    from harness.metrics.pairwise import SISDR

    ref = _noise(8, 3, 2000, c=2)
    gen = (ref + _noise(9, 3, 2000, c=2, amp=0.1)).clip(-1, 1)
    m = SISDR()
    m.update(Samples("audio", gen, sample_rate=8000), Samples("audio", ref, sample_rate=8000))
    ours = m.compute().value
    tm = ScaleInvariantSignalDistortionRatio()
    tm.update(torch.from_numpy(gen).double(), torch.from_numpy(ref).double())
    assert ours == pytest.approx(float(tm.compute()), abs=1e-6)
    p, t = gen.astype(np.float64), ref.astype(np.float64)
    alpha = (p * t).sum(-1, keepdims=True) / (t * t).sum(-1, keepdims=True)
    by_hand = 10 * np.log10(((alpha * t) ** 2).sum(-1) / ((alpha * t - p) ** 2).sum(-1))
    assert ours == pytest.approx(by_hand.mean(), abs=1e-9)
    scaled = SISDR()
    scaled.update(Samples("audio", 0.3 * gen, sample_rate=8000), Samples("audio", ref, sample_rate=8000))
    assert scaled.compute().value == pytest.approx(ours, abs=1e-9)


# ------------------------------------------------------------------------------------------- shared Fréchet core


class ClipMeans(video_features.VideoFeatureExtractor):
    """Per-frame channel means of the first 2 frames: 6-d clip features, known exactly."""

    def __init__(self, *, device="cpu", weights_dir=None, batch_size=2):
        super().__init__(batch_size)
        self.dim = 6

    def clips(self, videos):
        return videos[:, :2]

    def _forward(self, batch):
        return batch.mean(axis=(2, 3)).reshape(len(batch), -1).astype(np.float64)


def _window_stats(wave: np.ndarray) -> np.ndarray:
    w = wave[: len(wave) // 64 * 64].reshape(-1, 64)
    return np.stack([w.mean(1), w.std(1), w.max(1), w.min(1)], axis=1)


class WindowStats(audio_features.AudioFeatureExtractor):
    """Mean, std, max, min of 64-sample windows at 8 kHz: 4-d features per window."""

    sample_rate = 8000
    min_seconds = 64 / 8000

    def __init__(self, *, device="cpu", weights_dir=None, batch_size=16):
        super().__init__(batch_size)
        self.dim = 4

    def examples(self, wave):
        return wave[: len(wave) // 64 * 64].reshape(-1, 64)

    def _forward(self, batch):
        return _window_stats(batch.reshape(-1))


VIDEO_SPEC = ExtractorSpec("test-clip-means", ClipMeans, 6, None, "channel means of 2 frames")
AUDIO_SPEC = ExtractorSpec("test-window-stats", WindowStats, 4, None, "stats of 64-sample windows")


@pytest.fixture
def fake_extractors():
    with registered(VIDEO_SPEC), registered(AUDIO_SPEC):
        yield


def test_fvd_on_a_fake_extractor_equals_frechet_distance(tmp_path, fake_extractors):
    real, gen = _video(10, n=12), _video(11, n=10)
    ref_path = tmp_path / "ref.npz"
    modal.save_reference_stats("test-clip-means", Samples("video", real), ref_path)
    m = V.FVD(reference_path=str(ref_path), extractor="test-clip-means")
    m.update(Samples("video", gen[:4]))
    m.update(Samples("video", gen[4:]))
    v = m.compute()
    fg = gen[:, :2].mean(axis=(2, 3)).reshape(10, -1).astype(np.float64)
    fr = real[:, :2].mean(axis=(2, 3)).reshape(12, -1).astype(np.float64)
    assert v.status == "ok" and v.n == 10
    assert v.value == pytest.approx(frechet_distance(*_cov(fg), *_cov(fr)), rel=1e-9)
    assert v.details["reference"]["n"] == 12 and v.fingerprint
    # fd_<name> through the hook: the same class family and number
    fd_cls = V.video_frechet_metric("test-clip-means")
    assert getattr(V, "fd_test-clip-means") is fd_cls and fd_cls.modalities == ("video",)
    fd = fd_cls(reference_path=str(ref_path))
    fd.update(Samples("video", gen))
    assert fd.compute().value == pytest.approx(v.value, rel=1e-12)
    with pytest.raises(MetricSkipped, match="applies to video, not image"):
        fd.update(Samples("image", gen[:, 0]))
    with pytest.raises(MetricSkipped, match=r"fvd needs reference statistics: set options\.reference_path"):
        V.FVD().update(Samples("video", gen))


def test_fad_on_a_fake_extractor_equals_frechet_distance_with_resampling_and_fad_infinity(
    tmp_path, fake_extractors
):
    from scipy.signal import resample_poly

    real = _noise(12, 6, 16000, c=2)  # 16 kHz stereo → 8 kHz mono
    gen = _noise(13, 5, 12000, c=1, amp=0.25)
    ref_path = tmp_path / "ref.npz"
    modal.save_reference_stats("test-window-stats", Samples("audio", real, sample_rate=16000), ref_path)
    m = A.FAD(reference_path=str(ref_path), extractor="test-window-stats", infinity_min=10)
    m.update(Samples("audio", gen, sample_rate=16000))
    v = m.compute()

    def feats(x):
        mono = resample_poly(x.astype(np.float64).mean(axis=1), 1, 2, axis=-1)
        return np.concatenate([_window_stats(w) for w in mono])

    fg, fr = feats(gen), feats(real)
    assert v.status == "ok" and v.n == len(fg) == 5 * (6000 // 64)  # one row per window
    assert v.value == pytest.approx(frechet_distance(*_cov(fg), *_cov(fr)), rel=1e-9)
    inf = v.details["fad_infinity"]
    assert inf["n_min"] == 10 and inf["n_max"] == len(fg) and np.isfinite(inf["value"])
    small = A.FAD(reference_path=str(ref_path), extractor="test-window-stats")
    small.update(Samples("audio", gen[:1, :, :1000], sample_rate=16000))  # 500 samples at 8 kHz: 7 windows
    v = small.compute()
    assert v.status == "ok" and v.details["fad_infinity"] == {
        "skipped": "FAD∞ needs n >= 2 n_min = 16 windows (n_min = 8), got 7"
    }
    fd_cls = A.audio_frechet_metric("test-window-stats")
    assert getattr(A, "fd_test-window-stats") is fd_cls and fd_cls.modalities == ("audio",)
    with pytest.raises(MetricSkipped, match=r"test-window-stats needs at least 0\.008 s of audio per window"):
        A.FAD(reference_path=str(ref_path), extractor="test-window-stats").update(
            Samples("audio", gen[:, :, :10], sample_rate=16000)
        )
    with pytest.raises(ValueError, match=r"fad: expected values in \[-1.0, 1.0\]"):
        A.FAD(reference_path=str(ref_path), extractor="test-window-stats").update(
            Samples("audio", gen * 10, sample_rate=16000)
        )


def test_fid_frames_is_the_image_fid_on_every_frame(tmp_path):
    from harness.metrics.feature_stats import StreamingStats
    from harness.metrics.frechet_metric import FID
    from harness.metrics.refstats import stats_meta
    from tests.metrics.weights_helpers import FLAT

    videos = _video(14, n=4, f=3, h=2, w=2)
    with registered(FLAT):
        ext = build_extractor("test-flat-pixels")
        ref = tmp_path / "ref.npz"
        StreamingStats.from_features(
            ext.features(_video(15, n=10, f=2, h=2, w=2).reshape(-1, 2, 2, 3))
        ).to_npz(ref, **stats_meta(ext))
        frames = V.FIDFrames(reference_path=str(ref), extractor="test-flat-pixels")
        frames.update(Samples("video", videos))
        images = FID(reference_path=str(ref), extractor="test-flat-pixels")
        images.update(Samples("image", videos.reshape(-1, 2, 2, 3)))
        a, b = frames.compute(), images.compute()
    assert a.n == b.n == 12 and a.value == pytest.approx(b.value, rel=1e-12)
    assert METRICS.get("fid_frames").modalities == METRICS.get("clip_score_frames").modalities == ("video",)


def test_registry_lists_every_new_metric_and_registration_helpers(monkeypatch):
    from harness.metrics import register_audio_fd, register_video_fd

    for name in (
        "fvd", "fid_frames", "clip_score_frames", "temporal_psnr", "temporal_ssim", "flicker", "warping_error",
        "fad", "fad_vggish", "fad_clap", "clap_score", "stft_distance",
    ):  # fmt: skip
        assert name in METRICS and METRICS.get(name).name == name
    assert (
        METRICS.get("fid_frames").modalities == ("video",)
        and METRICS.get("fad").default_extractor == "vggish"
    )
    assert METRICS.get("fad_clap").default_extractor == "clap-htsat-unfused"
    monkeypatch.setattr(METRICS, "_targets", dict(METRICS._targets))
    register_video_fd("test-clip-means")
    register_audio_fd("test-window-stats")
    with registered(VIDEO_SPEC), registered(AUDIO_SPEC):
        assert METRICS.get("fd_test-clip-means").modalities == ("video",)
        assert METRICS.get("fd_test-window-stats").modalities == ("audio",)


# ------------------------------------------------------------------------------------------- weights files


class FakeI3D(torch.nn.Module):
    """StyleGAN-V's detector interface; the first values describe the input it was given."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 393)

    def forward(
        self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False
    ) -> torch.Tensor:
        if rescale:
            x = x / 127.5 - 1.0
        b = x.shape[0]
        ones = torch.ones(b, dtype=x.dtype, device=x.device)
        info = torch.stack(
            [
                x.amin(dim=(1, 2, 3, 4)),
                x.amax(dim=(1, 2, 3, 4)),
                x.mean(dim=(1, 2, 3, 4)),
                ones * x.shape[1],
                ones * x.shape[2],
                ones * x.shape[3],
                ones * x.shape[4],
            ],
            dim=1,
        )
        feats = torch.cat([info, self.proj(x.mean(dim=(2, 3, 4)))], dim=1)
        return feats if return_features else feats.softmax(dim=1)


def make_i3d_file(folder):
    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # torch.jit.script is deprecated in torch 2.14
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(FakeI3D()).save(str(folder / "i3d_torchscript.pt"))
    return folder


def make_raft_file(folder):
    from torchvision.models.optical_flow import raft_small

    torch.save(
        random_state_dict(lambda: raft_small(weights=None), 1), folder / "raft_small_C_T_V2-01064c6d.pth"
    )


def make_vggish_file(folder):
    torch.save(random_state_dict(vggish.VGGishNet, 2), folder / "vggish-10086976.pth")


TINY_CHARS = "abcdefghijklmnopqrstuvwxyz"


def make_tiny_clap(folder):
    """A tiny random CLAP laid out as laion/clap-htsat-unfused's files (pytorch_model.bin, byte-level BPE)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, RobertaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for c in TINY_CHARS:
        vocab[c] = len(vocab)
        vocab["Ġ" + c] = len(vocab)
    vocab["<mask>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tok = RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    cfg = ClapConfig(
        text_config=dict(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=40,
            type_vocab_size=1,
            pad_token_id=1,
            bos_token_id=0,
            eos_token_id=2,
        ),
        audio_config=dict(
            depths=[1, 1, 1, 1],
            num_attention_heads=[1, 1, 1, 1],
            patch_embeds_hidden_size=8,
            hidden_size=64,
            window_size=8,
            enable_fusion=False,
        ),
        projection_dim=8,
    )
    torch.manual_seed(4)
    model = ClapModel(cfg).eval()
    cfg.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    ClapFeatureExtractor(frequency_min=50, frequency_max=14000, truncation="rand_trunc").save_pretrained(
        folder
    )
    tok.save_pretrained(folder)
    for extra in ("model.safetensors", "processor_config.json", "chat_template.jinja", "added_tokens.json"):
        (folder / extra).unlink(missing_ok=True)
    return folder


@pytest.fixture(scope="module")
def wdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("weights")
    make_i3d_file(d / "i3d-torchscript")
    make_raft_file(d)
    make_vggish_file(d)
    make_tiny_clap(d / "clap-htsat-unfused")
    return d


def _job(metrics):
    specs = tuple(JobMetric.parse(m["name"], m.get("options")) for m in metrics)
    return SimpleNamespace(baseline_job_id=None, modality=None, random_weights=False, metrics=specs)


# ------------------------------------------------------------------------------------------- I3D (FVD)


@pytest.mark.slow
def test_fvd_runs_offline_on_the_located_torchscript_with_the_clip_protocol(wdir, offline_env, monkeypatch):
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "i3d-torchscript", wdir / "i3d-torchscript")
    videos = np.full((3, 20, 10, 12, 3), 0.2, np.float32)
    videos[:, 16:] = 1.0  # frames after the first 16 are not in the clip
    videos[1] = 0.6
    ext = build_extractor("i3d-kinetics-400")
    f = ext.samples_features(Samples("video", videos))
    assert f.shape == (3, 400)
    v02 = np.rint(0.2 * 255) / 255 * 2 - 1  # uint8, then [-1, 1]
    np.testing.assert_allclose(f[0, :7], [v02, v02, v02, 3, 16, 224, 224], atol=1e-6)
    assert f[1, 1] == pytest.approx(np.rint(0.6 * 255) / 255 * 2 - 1, abs=1e-6)
    assert ext.protocol()["weights"]["sha256"]["i3d_torchscript.pt"] == W.sha256_of(
        wdir / "i3d-torchscript" / "i3d_torchscript.pt"
    )
    crop = build_extractor("i3d-kinetics-400", resize="center_crop", num_frames=8, frame_stride=2)
    assert crop.fingerprint() != ext.fingerprint()
    np.testing.assert_allclose(crop.samples_features(Samples("video", videos))[0, 3:7], [3, 8, 224, 224])

    ref = offline_env / "ref.npz"
    modal.save_reference_stats("i3d-kinetics-400", Samples("video", videos), ref)
    m = METRICS.get("fvd")(reference_path=str(ref))
    m.update(Samples("video", videos))
    v = m.compute()
    assert v.status == "ok" and v.value == pytest.approx(0.0, abs=1e-6) and v.n == 3
    assert v.details["extractor"]["output"] == "400 Kinetics logits before the softmax"
    assert v.details["extractor"]["clip"] == "first 16 frames, stride 1, one clip per video"
    with pytest.raises(MetricSkipped, match=r"takes 16 frames at stride 1 \(16 frames\), the videos have 8"):
        m.update(Samples("video", videos[:, :8]))
    # a reference made with another clip protocol is refused
    other = METRICS.get("fvd")(reference_path=str(ref), num_frames=8)
    other.update(Samples("video", videos))
    with pytest.raises(ValueError, match="made with another feature protocol"):
        other.compute()


def test_fvd_real_pin_rejects_the_file_and_missing_weights_skip_in_a_job(wdir, offline_env, monkeypatch):
    from harness.execute.worker import run_metrics

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    with pytest.raises(W.WeightsMismatchError, match=r"i3d-torchscript.*expected bec6519f66ea534e"):
        build_extractor("i3d-kinetics-400")
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(offline_env / "none"))
    with pytest.raises(
        WeightsNotFoundError, match=r"flateon/FVD-I3D-torchscript \(i3d_torchscript.pt\)"
    ) as info:
        build_extractor("i3d-kinetics-400")
    assert "\n" not in str(info.value)

    ref = offline_env / "ref.npz"
    from harness.metrics.feature_stats import StreamingStats

    StreamingStats.from_features(np.random.default_rng(0).standard_normal((5, 4))).to_npz(ref)
    job = _job(
        [
            {"name": "fvd", "options": {"reference_path": str(ref)}},
            {"name": "warping_error"},
            {"name": "temporal_psnr"},
            {"name": "fad_notes"},
        ]
    )
    job.modality = "video"
    out = run_metrics(job, Samples("video", _video(20, n=2, f=3)), offline_env, "cpu")
    assert out["fvd"].status == "skipped" and out["fvd"].reason.startswith(
        "weights 'i3d-torchscript' not found"
    )
    assert "\n" not in out["fvd"].reason
    assert out["warping_error"].status == "skipped"
    assert out["warping_error"].reason.startswith("weights 'torchvision-raft-small' not found")
    assert out["temporal_psnr"].status == "ok"
    # another modality's metric: skipped and flagged, so reports leave it blank; missing weights are not
    assert out["fad_notes"].status == "not_applicable"
    # Bad options never reach the worker now: a job's metric options are typed when it is made (#25 item 1).
    with pytest.raises(UserInputError, match=r"^fvd: num_frames: Input should be greater than or equal to 1"):
        _job([{"name": "fvd", "options": {"num_frames": 0}}])


# ------------------------------------------------------------------------------------------- RAFT


def test_warping_error_runs_raft_offline_and_rejects_the_unpinned_file(wdir, offline_env, monkeypatch):
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    with pytest.raises(W.WeightsMismatchError, match=r"torchvision-raft-small.*expected 01064c6dba73b0fc"):
        warping.WarpingError().update(Samples("video", _video(21, n=1, f=2)))
    pin_to(monkeypatch, "torchvision-raft-small", wdir / "raft_small_C_T_V2-01064c6d.pth")
    m = METRICS.get("warping_error")(device="cpu", flow_updates=1)
    m.update(Samples("video", _video(21, n=1, f=2, h=12, w=10)))
    v = m.compute()
    assert v.status == "ok" and v.value > 0 and v.n == 1  # seeded random weights: some flow, some pixels kept
    assert v.details["flow"]["weights"]["sha256"]["raft_small_C_T_V2-01064c6d.pth"] == W.sha256_of(
        wdir / "raft_small_C_T_V2-01064c6d.pth"
    )
    assert m.flow_model().details()["input"].startswith("[-1, 1], bilinear to >= 128 px")


# ------------------------------------------------------------------------------------------- VGGish (FAD)


@pytest.mark.slow
def test_fad_vggish_offline_equals_the_network_by_hand(wdir, offline_env, monkeypatch):
    from scipy.signal import resample_poly

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "torchvggish-vggish", wdir / "vggish-10086976.pth")
    audio = _noise(30, 2, 17000, c=2)  # 1.06 s at 16 kHz, stereo: one 0.96 s window each
    gen = Samples("audio", audio, sample_rate=16000)
    ext = build_extractor("vggish")
    f = ext.samples_features(gen)
    assert f.shape == (2, 128) and (f < 0).any()  # pre-ReLU embeddings
    net = ext._net  # the located file, loaded strictly into our copy of torchvggish's VGG
    assert torch.equal(
        net.embeddings[4].bias,
        torch.load(wdir / "vggish-10086976.pth", mmap=True, weights_only=True)["embeddings.4.bias"],
    )
    ex = np.concatenate([vggish.vggish_examples(w) for w in audio.astype(np.float64).mean(axis=1)])
    with torch.no_grad():
        x = net.features(torch.from_numpy(ex)[:, None]).permute(0, 2, 3, 1).reshape(len(ex), -1)
        by_hand = net.embeddings[:5](x).double().numpy()  # (B, 6, 4, 512) flattened; no final ReLU
    np.testing.assert_allclose(f, by_hand, rtol=1e-5, atol=1e-6)
    # 48 kHz input is resampled to 16 kHz (scipy resample_poly here: no torchaudio)
    hi = resample_poly(audio[:1].astype(np.float64), 3, 1, axis=-1).clip(-1, 1).astype(np.float32)
    f48 = ext.samples_features(Samples("audio", hi, sample_rate=48000))
    assert f48.shape == (1, 128) and "resample_poly" in ext.protocol()["input"]

    ref = offline_env / "ref.npz"
    modal.save_reference_stats("vggish", gen, ref)
    for name in ("fad", "fad_vggish"):
        m = METRICS.get(name)(reference_path=str(ref))
        m.update(gen)
        v = m.compute()
        assert v.status == "ok" and v.value == pytest.approx(0.0, abs=1e-6) and v.n == 2
        assert v.details["extractor"]["output"] == "128-d embedding before the final ReLU, no PCA"
        assert "FAD∞ needs n >= 2 n_min = 512 windows" in v.details["fad_infinity"]["skipped"]
    with pytest.raises(
        MetricSkipped, match=r"vggish needs at least 0.975 s of audio per window; the items last 0.5"
    ):
        METRICS.get("fad")(reference_path=str(ref)).update(
            Samples("audio", audio[..., :8000], sample_rate=16000)
        )


def test_vggish_checks_the_state_dict_the_pin_and_absence(wdir, offline_env, monkeypatch, tmp_path):
    from harness.metrics.loading import WeightsLoadError

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    with pytest.raises(W.WeightsMismatchError, match=r"torchvggish-vggish.*expected 1008697624580379"):
        build_extractor("vggish")
    bad = tmp_path / "bad"
    bad.mkdir()
    sd = torch.load(wdir / "vggish-10086976.pth", weights_only=True)
    sd.pop("embeddings.4.bias")
    torch.save(sd, bad / "vggish-10086976.pth")
    pin_to(monkeypatch, "torchvggish-vggish", bad / "vggish-10086976.pth")
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(bad))
    with pytest.raises(WeightsLoadError, match=r"does not fit the architecture: .*embeddings.4.bias"):
        build_extractor("vggish")
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(offline_env / "none"))
    with pytest.raises(WeightsNotFoundError) as info:
        build_extractor("vggish")
    msg = str(info.value)
    assert (
        "\n" not in msg and "vggish-10086976.pth" in msg and "harness weights fetch torchvggish-vggish" in msg
    )


# ------------------------------------------------------------------------------------------- CLAP


@pytest.mark.slow
def test_fad_clap_and_clap_score_offline(wdir, offline_env, monkeypatch):
    from harness.metrics.feature_stats import StreamingStats
    from harness.metrics.loading import embeddings
    from harness.metrics.refstats import stats_meta

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    pin_to(monkeypatch, "clap-htsat-unfused", wdir / "clap-htsat-unfused")
    audio = Samples("audio", _noise(40, 3, 36000, amp=0.2), sample_rate=48000)  # 0.75 s, one window each
    ext = build_extractor("clap-htsat-unfused")
    f = ext.samples_features(audio)
    assert f.shape == (3, 8) and np.allclose(np.linalg.norm(f, axis=1), 1.0)
    assert ext.located.root == wdir / "clap-htsat-unfused"

    ref = offline_env / "ref.npz"
    StreamingStats.from_features(f).to_npz(ref, **stats_meta(ext))  # what save_reference_stats writes
    m = METRICS.get("fad_clap")(reference_path=str(ref))
    m.update(audio)
    v = m.compute()
    assert v.status == "ok" and v.value == pytest.approx(0.0, abs=1e-6)

    cs = METRICS.get("clap_score")(device="cpu")
    with pytest.raises(MetricSkipped, match="no prompts"):
        cs.update(audio)
    audio.prompts = ["a dog barking", "rain on a roof", "abc"]
    cs.update(audio)
    v = cs.compute()
    assert v.status == "ok" and v.n == 3 and 0 <= v.value <= 100
    # by hand: the model on the same 48 kHz window and the prompts
    model, processor = clap.load_clap(W.locate("clap-htsat-unfused"))
    inp = processor.feature_extractor(
        list(audio.data[:, 0]),
        sampling_rate=48000,
        truncation="rand_trunc",
        padding="repeatpad",
        return_tensors="pt",
    )
    with torch.no_grad():
        e_a = embeddings(model.get_audio_features(**inp)).double()
        tok = processor.tokenizer(audio.prompts, padding=True, return_tensors="pt")
        e_t = embeddings(model.get_text_features(**tok)).double()
    cos = torch.nn.functional.cosine_similarity(e_a, e_t).numpy()
    np.testing.assert_allclose(cs._values, 100 * np.maximum(cos, 0), atol=1e-4)
    np.testing.assert_allclose(f, e_a.numpy(), atol=1e-5)


def test_clap_real_pins_reject_the_tiny_folder_and_missing_is_one_line(wdir, offline_env, monkeypatch):
    from harness.execute.worker import run_metrics

    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(wdir))
    with pytest.raises(W.WeightsMismatchError, match=r"clap-htsat-unfused.*sha256 mismatch"):
        build_extractor("clap-htsat-unfused")
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(offline_env / "none"))
    with pytest.raises(
        WeightsNotFoundError, match=r"laion/clap-htsat-unfused \(config.json, pytorch_model.bin"
    ) as e:
        build_extractor("clap-htsat-unfused")
    assert "Hugging Face cache" in str(e.value) and "\n" not in str(e.value)
    audio = Samples("audio", _noise(41, 2, 16000), sample_rate=16000, prompts=["a", "b"])
    job = _job([{"name": "clap_score"}, {"name": "stft_distance"}, {"name": "fad"}])
    job.modality = "audio"
    out = run_metrics(job, audio, offline_env, "cpu")
    assert out["clap_score"].status == "skipped"
    assert out["clap_score"].reason.startswith("weights 'clap-htsat-unfused' not found")
    assert out["stft_distance"].status == "ok" and out["stft_distance"].value == 0.0
    assert out["fad"].status == "skipped" and "reference_path" in out["fad"].reason
