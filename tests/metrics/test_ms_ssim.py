"""MS-SSIM vs the baseline: torchmetrics parity, fewer scales, the size each needs, the skip reason."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.errors import MetricSkipped
from harness.core.samples import Samples
from harness.metrics.lpips_metric import MSSSIM, ms_ssim_min_size


def _pair(size, n=2, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, (n, size, size, 3)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1).astype(np.float32)
    return Samples("image", a), Samples("image", b)


def test_equals_torchmetrics_per_image_mean():
    torch = pytest.importorskip("torch")
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms

    a, b = _pair(176, n=1)
    m = MSSSIM()
    m.update(a, b)
    v = m.compute()
    x = torch.from_numpy(a.data.transpose(0, 3, 1, 2)).double()
    y = torch.from_numpy(b.data.transpose(0, 3, 1, 2)).double()
    expected = ms(x, y, data_range=1.0, reduction="none")
    assert v.value == pytest.approx(float(expected.mean()), rel=1e-12) and v.n == 1
    assert 0.5 < v.value < 1.0 and v.details["scales"] == 5


def test_too_small_is_skipped_with_the_size_needed_and_fewer_scales_work():
    a, b = _pair(64)
    with pytest.raises(MetricSkipped, match=r"images are 64x64 px; MS-SSIM with 5 scales .* at least 176 px"):
        MSSSIM().update(a, b)
    m = MSSSIM(scales=3)
    m.update(a, b)
    v = m.compute()
    assert v.status == "ok" and abs(sum(v.details["betas"]) - 1) < 1e-12
    assert ms_ssim_min_size(5, 11) == 176 and ms_ssim_min_size(3, 11) == 44


def test_video_frames_are_averaged_per_item_and_options_are_checked():
    rng = np.random.default_rng(1)
    v = rng.uniform(0, 1, (2, 3, 48, 48, 3)).astype(np.float32)
    m = MSSSIM(scales=3)
    m.update(Samples("video", v), Samples("video", v))
    assert m.compute().value == pytest.approx(1.0, abs=1e-9)
    with pytest.raises(TypeError, match=r"scales must be an integer from 1 to 5"):
        MSSSIM(scales=6)
    with pytest.raises(TypeError, match=r"kernel_size must be an odd integer"):
        MSSSIM(kernel_size=4)
