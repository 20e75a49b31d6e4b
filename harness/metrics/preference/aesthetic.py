"""``aesthetic``: LAION's improved aesthetic predictor (v2, "sac+logos+ava1-l14-linearMSE") on CLIP ViT-L/14.

The predictor (christophschuhmann/improved-aesthetic-predictor) is a 768 → 1024 → 128 → 64 → 16 → 1 linear
stack (dropout between, no activations; inactive at inference) on the L2-normalised image embedding of OpenAI's
CLIP ViT-L/14, trained to predict a 1-10 rating. The CLIP network is the one the authors' ``simple_inference.py``
and ImageReward's ``AestheticScore`` load: the ``clip`` package's ``clip.load("ViT-L/14")`` checkpoint
(``ViT-L-14.pt``, OpenAI's TorchScript archive, pinned here) with ``jit=False`` and the package's own
preprocessing (bicubic resize of the shorter side to 224, centre crop, CLIP mean/std). As ``clip.load`` does, the
network runs in float16 on CUDA and float32 on the CPU. The prompt does not enter the score: samples without
prompts are scored too.

Checked against ImageReward's ``AestheticScore.score`` (the same predictor, shipped by the ``image-reward``
package) on identical images.
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import numpy as np

from harness.metrics.loading import load_state_dict_file, load_strict
from harness.metrics.preference.base import PreferenceMetric

__all__ = ["AESTHETIC_WIDTHS", "Aesthetic", "aesthetic_head", "build_aesthetic"]

AESTHETIC_WIDTHS = (768, 1024, 128, 64, 16, 1)
_LOAD_LOCK = threading.Lock()


def aesthetic_head() -> Any:
    """The predictor's layers, indexed as its checkpoint names them (``layers.0`` … ``layers.7``)."""
    from torch import nn

    w = AESTHETIC_WIDTHS

    class AestheticHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Linear(w[0], w[1]),
                nn.Dropout(0.2),
                nn.Linear(w[1], w[2]),
                nn.Dropout(0.2),
                nn.Linear(w[2], w[3]),
                nn.Dropout(0.1),
                nn.Linear(w[3], w[4]),
                nn.Linear(w[4], w[5]),
            )

        def forward(self, x: Any) -> Any:
            return self.layers(x)

    return AestheticHead()


def import_clip() -> Any:
    """OpenAI's ``clip`` package (PyPI ``clip-anytorch``), quietly: it warns that pkg_resources is deprecated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import clip
    return clip


def build_aesthetic(clip_checkpoint: Any, head_checkpoint: Any, device: str = "cpu") -> tuple[Any, Any, Any]:
    """``(clip_model, preprocess, head)``: ``clip.load(checkpoint, jit=False)`` and the predictor, strictly loaded.

    Raises:
        WeightsLoadError: The predictor's file does not fit its layers.
    """
    clip = import_clip()
    with _LOAD_LOCK:
        model, preprocess = clip.load(str(clip_checkpoint), device=device, jit=False)
    head = aesthetic_head()
    load_strict(head, load_state_dict_file(head_checkpoint), head_checkpoint)
    return model.eval(), preprocess, head.to(device).eval()


class Aesthetic(PreferenceMetric):
    """LAION aesthetic score v2 of each image (about 1-10; the prompt is not used). Options: ``batch_size``,
    ``weights_dir``."""

    name = "aesthetic"
    requires_prompts = False
    weights = ("openai-clip-vit-l-14", "laion-aesthetic-v2-linear")
    protocol = (
        "LAION improved aesthetic predictor (sac+logos+ava1-l14-linearMSE) on the L2-normalised image embedding "
        "of OpenAI CLIP ViT-L/14 (clip.load, jit=False; its preprocessing: 224 bicubic, centre crop)"
    )
    reference = "image-reward's AestheticScore.score (the same predictor), run by the package itself"
    packages = (*PreferenceMetric.packages, "clip-anytorch")
    cuda_precision = "CLIP float16 (clip.load on cuda), predictor float32"

    def _load(self, clip_weights: Any, head_weights: Any) -> Any:
        return build_aesthetic(
            clip_weights.files["ViT-L-14.pt"],
            head_weights.files["sac+logos+ava1-l14-linearMSE.pth"],
            self.device,
        )

    def _score(self, images: np.ndarray, prompts: list[str]) -> np.ndarray:
        import torch
        import torch.nn.functional as F
        from PIL import Image

        model, preprocess, head = self._model
        pixels = torch.stack([preprocess(Image.fromarray(x)) for x in images]).to(self.device)
        with torch.inference_mode():
            features = F.normalize(model.encode_image(pixels)).float()
            return head(features).reshape(-1).double().cpu().numpy()
