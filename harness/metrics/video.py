"""Video quality: FVD and the Fréchet family on clip features, and the image metrics over every frame.

Distribution (pinned weights, reference statistics ``reference_path`` as for ``fid``):

* ``fvd``: Fréchet distance on I3D features, the StyleGAN-V protocol (:mod:`harness.metrics.video_features`).
* ``fd_<extractor>`` for a 3-D network registered with ``register_video_extractor`` (the mini zoo's): the same
  Fréchet core (``harness.metrics.frechet``) on its clip features; ``video_frechet_metric(name)`` makes the class
  (a ``harness.metrics.modal.ModalFrechet``, shared with audio).
  A module that registers its ``ExtractorSpec`` on import and exposes ``fd_<name> = video_frechet_metric(name)``
  is listed with one line in ``harness.metrics``: ``register_video_fd(name, module="that.module")``.
* ``fid_frames``: FID on every frame of every video (the image FID path on N·F images).
* ``clip_score_frames``: CLIP score of each frame with its video's prompt, averaged over frames, then videos.

Per video, without weights: :mod:`harness.metrics.temporal` (temporal PSNR and SSIM, flicker) and
:mod:`harness.metrics.warping` (the RAFT warping error). Pairwise fidelity of a variant to its baseline per frame:
``psnr``, ``ssim``, ``lpips`` already take videos.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.metrics import video_features  # noqa: F401  (registers i3d-kinetics-400, FVD's extractor)
from harness.metrics.alignment import CLIPScore
from harness.metrics.frechet_metric import FID, fd_class, fd_getattr
from harness.metrics.modal import ModalFrechet, ModalFrechetOptions
from harness.metrics.options import int_option

__all__ = ["FVD", "CLIPScoreFrames", "FIDFrames", "FVDOptions", "video_frechet_metric"]


class FVDOptions(ModalFrechetOptions):
    """``fvd``: the Fréchet options plus the I3D clip protocol (null: the extractor's 16 frames, stride 1)."""

    num_frames: int | None = Field(None, ge=1)
    frame_stride: int | None = Field(None, ge=1)


class FVD(ModalFrechet):
    """Fréchet Video Distance (StyleGAN-V protocol, see the module docstring) to ``reference_path`` statistics.

    Options as ``fid`` (``reference_path``, ``batch_size``, ``weights_dir``, ``bootstrap``, ``allow_mismatch``,
    ``seed``), plus ``num_frames`` (16), ``frame_stride`` (1) and ``resize`` (``stretch`` | ``center_crop``).
    """

    name = "fvd"
    default_extractor = "i3d-kinetics-400"
    Options = FVDOptions

    def __init__(
        self,
        device: str = "cpu",
        *,
        num_frames: int | None = None,
        frame_stride: int | None = None,
        **kw: Any,
    ) -> None:
        clip = {"num_frames": num_frames, "frame_stride": frame_stride}
        opts = {k: int_option(k, v) for k, v in clip.items() if v is not None}
        super().__init__(
            device, extractor_options={**opts, **(kw.pop("extractor_options", None) or {})}, **kw
        )


def video_frechet_metric(extractor: str) -> type[ModalFrechet]:
    """The metric class ``fd_<extractor>`` for a video extractor: Fréchet distance on its clip features."""
    doc = f"Fréchet distance on '{extractor}' clip features (see ModalFrechet)."
    return fd_class(ModalFrechet, extractor, f"VideoFD_{extractor}", doc, __name__)


__getattr__ = fd_getattr(video_frechet_metric, __name__)


class FIDFrames(FID):
    """FID over every frame of every video (N·F images through the image ``fid`` path, same options)."""

    name = "fid_frames"
    modalities = ("video",)


class CLIPScoreFrames(CLIPScore):
    """CLIP score ×100 of each frame with its video's prompt, mean over frames, then videos (``clip_score``'s
    machinery and options)."""

    name = "clip_score_frames"
    modalities = ("video",)
