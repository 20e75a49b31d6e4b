"""VBench dimensions (harness.metrics.vbench): exact answers, parity with vbench's own readers, skips and errors.

Networks are tiny or random and saved under the pinned file names (re-pinned to their hash, ``pin_to``); nothing is
downloaded. Tests that run vbench's code are skipped, with the reason, where vbench does not import.
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest

from harness.core.errors import MetricSkipped, UserInputError
from harness.core.samples import Samples
from harness.metrics import METRICS
from harness.metrics import weights as W
from harness.metrics.vbench import metrics as VM
from harness.metrics.vbench import nets
from tests.metrics.weights_helpers import pin_to, random_state_dict

SUBJECT = ["a person swimming in ocean", "a cat drinking water"]  # VBench subject_consistency prompts
STYLE = ["The bund Shanghai, Van Gogh style", "An astronaut flying in space, pixel art"]


def _vbench(module: str):
    try:
        return importlib.import_module(f"vbench.{module}")
    except ImportError as exc:
        pytest.skip(f"vbench.{module} does not import here: {exc}")


@pytest.fixture(autouse=True)
def one_thread(monkeypatch, tmp_path):
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("HARNESS_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    (tmp_path / "weights").mkdir()
    VM._MEMO.clear()
    yield tmp_path / "weights"
    torch.set_num_threads(threads)


def video(kind: str, frames: int = 9, size: int = 64, seed: int = 0) -> np.ndarray:
    """(F, H, W, 3) in [0, 1]: ``static`` (one random frame repeated), ``noise`` (every frame random),
    ``blocks`` (8 colours in 8 × 8 blocks, new per frame: few colours, so a GIF keeps it exactly)."""
    rng = np.random.default_rng(seed)
    if kind == "static":
        return np.repeat(rng.random((1, size, size, 3), dtype=np.float32), frames, axis=0)
    if kind == "noise":
        return rng.random((frames, size, size, 3), dtype=np.float32)
    colours = np.array([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=np.float32)
    idx = rng.integers(0, 8, size=(frames, size // 8, size // 8))
    return np.kron(colours[idx], np.ones((1, 8, 8, 1), dtype=np.float32)).reshape(frames, size, size, 3)


def samples(videos: list[np.ndarray], prompts: list[str] | None, fps: int = 16) -> Samples:
    return Samples("video", np.stack(videos), fps=fps, prompts=prompts, seeds=list(range(len(videos))))


# --------------------------------------------------------------------------------------------- weights made here


def make_dino(folder):
    import torch

    path = folder / "dino_vitbase16_pretrain.pth"
    torch.save(random_state_dict(lambda: nets.dino_vit(dim=64, depth=1, heads=1), seed=1), path)
    return path


def make_clip(folder):
    import torch

    clip_model = pytest.importorskip("clip.model", reason="the clip package (clip-anytorch) is not installed")

    torch.manual_seed(2)
    model = clip_model.CLIP(32, 224, 1, 64, 32, 77, 49408, 64, 1, 1)
    path = folder / "ViT-B-32.pt"
    torch.save(model.state_dict(), path)
    return path


def make_raft(folder):
    import torch
    from easydict import EasyDict

    raft = _vbench("third_party.RAFT.core.raft")
    args = EasyDict({"small": False, "mixed_precision": False, "alternate_corr": False})
    path = folder / "raft-things.pth"
    torch.save(random_state_dict(lambda: raft.RAFT(EasyDict(args)), seed=3), path)
    return path


def make_amt(folder, monkeypatch):
    """A random AMT-S saved as {'state_dict': ...} and pinned for this test only (the real file is unpinned)."""
    import torch
    from omegaconf import OmegaConf

    ms = _vbench("motion_smoothness")
    from vbench.third_party.amt.utils.build_utils import build_from_cfg

    cfg = OmegaConf.load(f"{ms.__file__.rsplit('/', 1)[0]}/third_party/amt/cfgs/AMT-S.yaml").network
    path = folder / "amt-s.pth"
    torch.manual_seed(4)
    torch.save({"state_dict": build_from_cfg(cfg).state_dict()}, path)
    return pin_amt(path, monkeypatch)


def pin_amt(path, monkeypatch):
    """Pin ``vbench-amt-s`` to a file made here, for this test only."""
    spec = W.WeightsSpec(
        name="vbench-amt-s",
        summary="test only",
        host="torch-hub",
        files=(W.WeightsFile("amt-s.pth", sha256=W.sha256_of(path), hash_source="made by this test"),),
        license="test",
    )
    monkeypatch.setitem(W.WEIGHTS, "vbench-amt-s", spec)
    return path


def pinned(monkeypatch, name, path):
    return pin_to(monkeypatch, name, path)


# --------------------------------------------------------------------------------------------- VBench's prompt suite


def test_vbench_standard_prompts_are_mlperfs_248():
    from harness.metrics.vbench.prompts import dimension_prompts

    _vbench("utils")
    counts = {d: len(dimension_prompts(d)) for d in VM.MLPERF_DIMENSIONS}
    assert counts == {
        "subject_consistency": 72,
        "dynamic_degree": 72,
        "motion_smoothness": 72,
        "appearance_style": 90,
        "scene": 86,
        "background_consistency": 86,
    }
    union = set().union(*(dimension_prompts(d) for d in VM.MLPERF_DIMENSIONS))
    assert len(union) == 248  # MLPerf's data/vbench_prompts.txt has 248 prompts
    style = dimension_prompts("appearance_style")["The bund Shanghai, Van Gogh style"]
    assert style.auxiliary["appearance_style"] == {"appearance_style": "Van Gogh style"}
    assert dimension_prompts("scene")["alley"].auxiliary["scene"] == {"scene": {"scene": "alley"}}


# --------------------------------------------------------------------------------------------- DINO


def test_dino_matches_timm_vit_at_224_and_dinos_position_resize():
    import torch

    tv = pytest.importorskip("timm.models.vision_transformer", reason="timm is the reference ViT")

    sd = random_state_dict(lambda: nets.dino_vit(dim=64, depth=2, heads=1), seed=5)
    ours = nets.dino_vit(dim=64, depth=2, heads=1)
    ours.load_state_dict(sd)
    ref = tv.VisionTransformer(img_size=224, patch_size=16, embed_dim=64, depth=2, num_heads=1, num_classes=0)
    ref.load_state_dict(sd)
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(x), ref.eval()(x), atol=1e-5)
    # facebookresearch/dino interpolate_pos_encoding, transcribed: 224 x 398 gives a 14 x 24 patch grid
    pos = sd["pos_embed"]
    grid = pos[:, 1:].reshape(1, 14, 14, -1).permute(0, 3, 1, 2)
    want = torch.nn.functional.interpolate(grid, scale_factor=(14.1 / 14, 24.1 / 14), mode="bicubic")
    want = torch.cat((pos[:, :1], want.permute(0, 2, 3, 1).reshape(1, 14 * 24, -1)), dim=1)
    assert torch.equal(nets.resized_pos_embed(pos, 14, 24), want)
    assert nets.resized_pos_embed(pos, 14, 14) is pos
    with torch.no_grad():
        assert ours(torch.randn(1, 3, 224, 398)).shape == (1, 64)


def test_dino_checkpoint_that_does_not_fit_is_refused(one_thread):
    import torch

    from harness.metrics.loading import WeightsLoadError

    path = one_thread / "dino_vitbase16_pretrain.pth"
    torch.save({"something": torch.zeros(2)}, path)
    with pytest.raises(WeightsLoadError, match=r"not a DINO ViT checkpoint \(no 'cls_token'\)"):
        nets.load_dino(W.Located(W.WEIGHTS["vbench-dino-vitb16"], path, {}, "test"), "cpu")


# --------------------------------------------------------------------------------------------- exact answers


def test_static_video_is_perfectly_consistent(one_thread, monkeypatch):
    _vbench("subject_consistency")
    _vbench("background_consistency")
    pinned(monkeypatch, "vbench-dino-vitb16", make_dino(one_thread))
    pinned(monkeypatch, "vbench-clip-vit-b-32", make_clip(one_thread))
    s = samples([video("static", seed=0), video("static", seed=1)], SUBJECT)
    subject = METRICS.get("vbench_subject_consistency").build({"prompts": "all"})
    background = METRICS.get("vbench_background_consistency").build({"prompts": "all"})
    for m in (subject, background):
        m.update(s)
        v = m.compute()
        assert v.status == "ok" and v.n == 2
        assert v.value == pytest.approx(1.0, abs=1e-6)
        assert v.ci95 == pytest.approx([1.0, 1.0], abs=1e-6)
    assert subject.compute().details["scorer"]["weights"][0]["name"] == "vbench-dino-vitb16"


class ConstantFlow:
    """A stand-in for RAFT: the flow of every pixel is the mean |difference| of the two frames (0-255 units)."""

    def __call__(self, image1, image2, iters, test_mode):
        import torch

        mag = (image2 - image1).abs().mean()
        return None, torch.stack([mag.expand(image1.shape[-2:]), torch.zeros(image1.shape[-2:])])[None]


def test_dynamic_degree_static_is_zero_and_moving_is_one(one_thread, monkeypatch):
    dd = _vbench("dynamic_degree")
    pinned(monkeypatch, "vbench-raft-things", make_raft(one_thread))
    monkeypatch.setattr(dd.DynamicDegree, "load_model", lambda self: setattr(self, "model", ConstantFlow()))
    s = samples([video("static"), video("noise"), video("static", seed=2)], [*SUBJECT, "x"])
    m = METRICS.get("vbench_dynamic_degree").build({"prompts": "all"})
    m.update(s)
    v = m.compute()
    assert (v.value, v.n) == (pytest.approx(1 / 3), 3)
    # fps 16 keeps frames 0, 2, .., 8: 4 pairs, 1 = round(4 * 5 / 16) must move by > 6 * 64 / 256 = 1.5 (noise: ~85)
    assert VM._MEMO.values() and VM._MEMO.values()[0] == [(0.0, 1.0), (1.0, 1.0), (0.0, 1.0)]


class MeanInterpolator:
    """A stand-in for AMT-S without parameters: the middle frame is the mean of its neighbours."""

    @staticmethod
    def make():
        import torch

        class Mean(torch.nn.Module):
            def forward(self, in_0, in_1, embt, scale_factor, eval):
                return {"imgt_pred": (in_0 + in_1) / 2}

        return Mean()


def test_motion_smoothness_exact_for_static_and_alternating_videos(one_thread, monkeypatch):
    import torch

    _vbench("motion_smoothness")
    import vbench.third_party.amt.utils.build_utils as bu

    path = one_thread / "amt-s.pth"
    torch.save({"state_dict": {}}, path)  # the stand-in has no parameters
    pin_amt(path, monkeypatch)
    monkeypatch.setattr(bu, "build_from_cfg", lambda cfg: MeanInterpolator.make())
    alternating = np.zeros((9, 32, 32, 3), dtype=np.float32)
    alternating[1::2] = 1.0  # even frames black, odd white: the interpolation misses by 255 everywhere
    s = samples([video("static", size=32), alternating], ["a", "b"])
    m = METRICS.get("vbench_motion_smoothness").build({"prompts": "all", "bootstrap": 0})
    m.update(s)
    v = m.compute()
    assert (v.value, v.n, v.ci95) == (0.5, 2, None)
    assert VM._MEMO.values()[0] == [(1.0, 1.0), (0.0, 1.0)]


def test_ratio_bootstrap_ci_collapses_for_equal_ratios_and_needs_two_videos():
    num, den = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    assert VM.ratio_bootstrap_ci(num, den, resamples=200, seed=0) == [0.5, 0.5]
    assert VM.ratio_bootstrap_ci(num[:1], den[:1], resamples=200, seed=0) is None
    assert VM.ratio_bootstrap_ci(num, den, resamples=0, seed=0) is None


# --------------------------------------------------------------------------------------------- parity with vbench's readers


def write_gif(path, frames):
    from PIL import Image

    from harness.metrics.vbench.scoring import to_uint8

    u8 = to_uint8(frames)
    ims = [Image.fromarray(f) for f in u8]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=62, loop=0)
    return u8


def test_subject_background_and_style_equal_vbench_reading_the_file(one_thread, monkeypatch):
    import torch

    sc, bc, ap = (_vbench(m) for m in ("subject_consistency", "background_consistency", "appearance_style"))
    from vbench.utils import load_video

    pinned(monkeypatch, "vbench-dino-vitb16", make_dino(one_thread))
    pinned(monkeypatch, "vbench-clip-vit-b-32", make_clip(one_thread))
    clips = [video("blocks", seed=7, size=48), video("blocks", seed=8, size=48)]
    gifs = [str(one_thread / f"v{i}.gif") for i in range(2)]
    for g, c in zip(gifs, clips):
        u8 = write_gif(g, c)
        assert np.array_equal(load_video(g, return_tensor=False), u8)  # the GIF holds the frames exactly
    s = samples(clips, STYLE)
    dino = nets.load_dino(W.locate("vbench-dino-vitb16"), "cpu")
    clip_model, preprocess = nets.load_clip_b32(W.locate("vbench-clip-vit-b-32"), "cpu")
    with torch.no_grad():
        want_sc, _ = sc.subject_consistency(dino, gifs, "cpu", False)
        want_bc, _ = bc.background_consistency(clip_model, preprocess, gifs, "cpu", False)
        style = [{"auxiliary_info": {"appearance_style": a}, "video_list": [g]} for a, g in
                 zip(["Van Gogh style", "pixel art"], gifs)]  # fmt: skip
        want_ap, _ = ap.appearance_style(clip_model, style, "cpu")
    got = {}
    for name, opts in (
        ("vbench_subject_consistency", {"prompts": "all"}),
        ("vbench_background_consistency", {"prompts": "all"}),
        ("vbench_appearance_style", {}),
    ):
        m = METRICS.get(name).build(opts)
        m.update(s)
        got[name] = m.compute().value
    assert got["vbench_subject_consistency"] == pytest.approx(want_sc, abs=1e-7)
    assert got["vbench_background_consistency"] == pytest.approx(want_bc, abs=1e-7)
    assert got["vbench_appearance_style"] == pytest.approx(want_ap, abs=1e-7)
    assert 0.0 < got["vbench_subject_consistency"] < 1.0


def write_frames(folder, frames):
    from PIL import Image

    from harness.metrics.vbench.scoring import to_uint8

    folder.mkdir()
    for i, f in enumerate(to_uint8(frames)):
        Image.fromarray(f).save(folder / f"{i:03d}.bmp")  # lossless; opencv 5.1's wheel fails on PIL PNGs
    return str(folder)


@pytest.mark.slow
def test_dynamic_degree_and_motion_smoothness_equal_vbench_reading_frame_folders(one_thread, monkeypatch):
    import torch
    from easydict import EasyDict

    dd, ms = _vbench("dynamic_degree"), _vbench("motion_smoothness")
    raft = pinned(monkeypatch, "vbench-raft-things", make_raft(one_thread))
    make_amt(one_thread, monkeypatch)
    clips = [video("noise", frames=5, size=64, seed=9), video("static", frames=5, size=64, seed=10)]
    folders = [write_frames(one_thread / f"f{i}", c) for i, c in enumerate(clips)]
    # fps 8: vbench's MP4 reader keeps every frame, as its frame-folder reader does
    s = samples(clips, ["a", "b"], fps=8)
    args = EasyDict({"model": str(one_thread / raft.files[0].filename), "small": False,
                     "mixed_precision": False, "alternate_corr": False})  # fmt: skip
    want_dd = [float(dd.DynamicDegree(args, "cpu").infer(f)) for f in folders]
    amt_cfg = f"{ms.__file__.rsplit('/', 1)[0]}/third_party/amt/cfgs/AMT-S.yaml"
    load = torch.load
    with monkeypatch.context() as mp:  # vbench's own torch.load of AMT checkpoints predates weights_only
        mp.setattr(torch, "load", lambda *a, **k: load(*a, **{**k, "weights_only": False}))
        ref = ms.MotionSmoothness(amt_cfg, str(one_thread / "amt-s.pth"), "cpu")
    want_ms = [ref.motion_score(f) for f in folders]
    assert np.isfinite(want_ms).all() and np.isfinite(want_dd).all()
    for name, want in (("vbench_dynamic_degree", want_dd), ("vbench_motion_smoothness", want_ms)):
        m = METRICS.get(name).build({"prompts": "all", "bootstrap": 0})
        m.update(s)
        assert m.compute().value == pytest.approx(float(np.mean(want)), abs=1e-9), name


# --------------------------------------------------------------------------------------------- skips and errors


def test_missing_weights_skip_with_the_fetch_command(one_thread):
    _vbench("subject_consistency")
    m = METRICS.get("vbench_subject_consistency").build({})
    with pytest.raises(MetricSkipped, match=r"weights 'vbench-dino-vitb16' not found: dino_vitbase16_pretrain\.pth;.*"
                       r"harness weights fetch vbench-dino-vitb16 --to DIR"):  # fmt: skip
        m.update(samples([video("static")], SUBJECT[:1]))


def test_unpinned_amt_and_scene_are_skipped_with_the_reason(one_thread):
    _vbench("motion_smoothness")
    m = METRICS.get("vbench_motion_smoothness").build({})
    with pytest.raises(
        MetricSkipped, match=r"weights 'vbench-amt-s' \(amt-s\.pth .*\) have no published sha256"
    ):
        m.update(samples([video("static")], SUBJECT[:1]))
    scene = METRICS.get("vbench_scene").build({})
    with pytest.raises(MetricSkipped, match=r"vbench's scene code does not import here|no published sha256"):
        scene.update(samples([video("static")], ["alley"]))


def test_videos_of_other_prompts_are_not_scored(one_thread):
    _vbench("utils")
    m = METRICS.get("vbench_subject_consistency").build({})
    with pytest.raises(
        MetricSkipped, match=r"none of the 2 prompts is one of VBench's subject_consistency prompts"
    ):
        m.update(samples([video("static")] * 2, ["alley", "a prompt of mine"]))
    with pytest.raises(MetricSkipped, match=r"the samples carry no prompts .*prompts: all"):
        m.update(samples([video("static")], None))


def test_bad_options_and_bad_input(one_thread):
    with pytest.raises(UserInputError, match=r"vbench_appearance_style: prompts: 'all' is not allowed"):
        METRICS.get("vbench_appearance_style").parse_options({"prompts": "all"})
    with pytest.raises(UserInputError, match=r"vbench_dynamic_degree: bootstrap: Input should be greater"):
        METRICS.get("vbench_dynamic_degree").parse_options({"bootstrap": -1})
    with pytest.raises(TypeError, match=r"prompts must be one of vbench, got 'all'"):
        VM.AppearanceStyle(prompts="all")
    m = METRICS.get("vbench_subject_consistency").build({"prompts": "all"})
    with pytest.raises(MetricSkipped, match=r"applies to video, not image"):
        m.update(Samples("image", np.zeros((1, 8, 8, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"expected values in \[0.0, 1.0\], received min \S+ max 2"):
        m.update(samples([video("static") * 2], None))
    with pytest.raises(ValueError, match=r"VBench compares frames: the videos have 1 frame"):
        m.update(samples([video("static", frames=1)], None))
    with pytest.raises(
        ValueError, match=r"expected videos \(N, F, H, W, 3 or 1\), got shape \(1, 2, 8, 8, 4\)"
    ):
        m.update(Samples("video", np.zeros((1, 2, 8, 8, 4), dtype=np.float32)))
    dyn = METRICS.get("vbench_dynamic_degree").build({"prompts": "all"})
    with pytest.raises(ValueError, match=r"needs the videos' fps"):
        dyn.update(Samples("video", np.zeros((1, 2, 8, 8, 3), dtype=np.float32)))


# --------------------------------------------------------------------------------------------- vbench_mlperf


@dataclasses.dataclass
class Fixed:
    value: float | None
    status: str = "ok"

    def update(self, samples):
        if self.status == "raise":
            raise MetricSkipped("no weights here")

    def compute(self):
        return VM.MetricResult(
            value=self.value,
            unit="",
            higher_is_better=True,
            status=self.status,
            reason=None if self.value else "none",
        )

    def fingerprint(self):
        return "f"


def test_vbench_mlperf_averages_all_six_or_none():
    m = VM.VBenchMLPerf()
    values = dict(zip(VM.MLPERF_DIMENSIONS, (0.95, 0.6, 0.98, 0.22, 0.4, 0.93)))
    m.parts = {d: Fixed(v) for d, v in values.items()}
    m.update(samples([video("static")], None))
    v = m.compute()
    assert v.status == "ok" and v.value == pytest.approx(100 * sum(values.values()) / 6)
    assert v.details["dimensions"] == values
    m = VM.VBenchMLPerf()
    m.parts = {d: Fixed(0.5) for d in VM.MLPERF_DIMENSIONS}
    m.parts["scene"] = Fixed(None, status="raise")
    m.update(samples([video("static")], None))
    v = m.compute()
    assert v.value is None and v.status == "skipped"
    assert v.reason == "needs all six VBench dimensions; scene: skipped: no weights here"


def test_vbench_mlperf_in_this_environment_is_skipped_naming_each_dimension(one_thread):
    _vbench("utils")
    m = METRICS.get("vbench_mlperf").build({})
    clips = [video("static") for _ in range(3)]
    m.update(samples(clips, ["a person swimming in ocean", "alley", "The bund Shanghai, Van Gogh style"]))
    v = m.compute()
    assert v.status == "skipped" and v.value is None
    for dim in VM.MLPERF_DIMENSIONS:
        assert f"{dim}: skipped" in v.reason


# --------------------------------------------------------------------------------------------- the MLPerf suite


def test_mlperf_t2v_suite_has_mlperfs_settings_and_threshold():
    from harness.config import load_card, load_suite
    from tests.helpers import ROOT

    suite = load_suite(ROOT / "suites" / "mlperf-t2v-wan22.yaml")
    card = load_card(ROOT / "model_cards" / f"{suite.models[0].card}.yaml")
    assert card.source.revision == "5be7df9619b54f4e2667b2755bc6a756675b5cd7"
    (variant,) = suite.models[0].variants
    call = card.defaults.merged(variant.overrides)
    assert (call.height, call.width, call.num_frames, call.fps, call.steps) == (720, 1280, 81, 16, 20)
    assert (call.guidance_scale, call.extra) == (4.0, {"guidance_scale_2": 3.0})
    assert call.negative_prompt.startswith(
        "vivid colors, overexposed, static, blurry details, subtitles, style,\n"
    )
    assert call.negative_prompt.endswith("many people in the background,\nwalking backwards")
    assert (variant.dtype, suite.workload.seed) == ("bf16", 42)
    assert "${HARNESS_DATA}" in suite.workload.prompts_file
    assert [(c.metric, c.min, c.max) for c in suite.constraints] == [("vbench_mlperf", 69.7752, None)]
    assert pytest.approx(70.48 * 0.99) == 69.7752
    assert set(suite.metric_names) == {f"vbench_{d}" for d in VM.MLPERF_DIMENSIONS} | {"vbench_mlperf"}
    kinds = {(s.kind, s.mlperf_model) for s in variant.scenario}
    assert kinds == {
        ("single_stream", None),
        ("single_stream", "wan-2.2-t2v-a14b"),
        ("offline", "wan-2.2-t2v-a14b"),
    }


def test_loadgen_knows_mlperfs_t2v_settings():
    pytest.importorskip("mlperf_loadgen")
    from harness.scenarios.loadgen import mlperf_settings

    offline = mlperf_settings("wan-2.2-t2v-a14b", "offline")
    assert (offline.min_query_count, offline.performance_sample_count_override) == (248, 248)
    assert offline.min_duration_ms == 600_000
