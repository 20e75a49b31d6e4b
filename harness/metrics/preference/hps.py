"""``hps_v21``: Human Preference Score v2.1 (Wu et al., 2023), as ``hpsv2.img_score.score`` computes it.

The ``hpsv2`` package cannot be used here: its requirements pin ``pytest==7.2.0`` and ``protobuf<4`` (this
project needs pytest 8 and MLflow's protobuf), and its wheel lacks its own tokenizer vocabulary
(``hpsv2/src/open_clip/bpe_simple_vocab_16e6.txt.gz``), so ``import hpsv2.img_score`` fails. hpsv2 vendors an
older open_clip; this module runs the same computation on ``open-clip-torch``:

* network: open_clip ``ViT-H-14`` (``create_model``, no pretrained tag) with every tensor from the pinned
  ``HPS_v2.1_compressed.pt`` (its ``state_dict``; loaded strictly). Its state-dict keys and shapes equal hpsv2
  1.2.0's vendored builder's (checked on the meta device, see tests/metrics/test_preference.py);
* preprocessing: hpsv2's ``preprocess_val`` (``light_augmentation=True``): RGB → tensor in [0, 1] → resize the
  longer side to 224 (torchvision bicubic on the tensor) → zero-pad to 224 × 224 (the odd pixel right/bottom) →
  CLIP mean/std. hpsv2 skips the resize *and the pad* when the longer side is already 224 (a non-square image then
  fails there); here it is padded. torchvision ≥ 0.17 antialiases tensor resizes by default, as hpsv2 runs with
  today's torchvision; under older torchvision hpsv2 did not, so its scores of downscaled images differ slightly;
* text: open_clip's ``ViT-H-14`` tokenizer (OpenAI's BPE, 77 tokens, the same vocabulary file hpsv2 expects);
* score: ``diag(normalised image features @ normalised text features.T)`` from the model's forward pass, on CUDA
  under ``torch.autocast`` (float16), as hpsv2 runs it; float32 on the CPU.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from harness.metrics.loading import load_state_dict_file, load_strict
from harness.metrics.preference.base import PreferenceMetric

__all__ = ["HPS_ARCH", "HPSv21", "build_hps", "hps_preprocess"]

HPS_ARCH = "ViT-H-14"
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


def hps_preprocess(image: np.ndarray, size: int = 224, mean=OPENAI_MEAN, std=OPENAI_STD) -> Any:
    """hpsv2's ``preprocess_val`` of one (H, W, 3) uint8 image → (3, size, size) float32 tensor (module docstring)."""
    import torch
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).to(torch.float32).div(255)
    h, w = x.shape[1:]
    scale = size / float(max(h, w))
    if scale != 1.0:
        h, w = round(h * scale), round(w * scale)
        x = TF.resize(x, [h, w], interpolation=InterpolationMode.BICUBIC, antialias=True)
    pad_h, pad_w = size - h, size - w
    if pad_h or pad_w:
        x = TF.pad(x, [pad_w // 2, pad_h // 2, pad_w - pad_w // 2, pad_h - pad_h // 2], fill=0)
    return TF.normalize(x, list(mean), list(std))


def build_hps(checkpoint: Any, device: str = "cpu", arch: str = HPS_ARCH) -> tuple[Any, Any]:
    """open_clip ``arch`` with every tensor from an HPS checkpoint (``{'state_dict': ...}``), and its tokenizer.

    Raises:
        WeightsLoadError: The checkpoint does not fit the architecture (missing, unexpected or misshapen tensors).
    """
    import open_clip

    # Built on the CPU with its own (random) initialisation, then every tensor is overwritten from the file: the
    # meta device would leave open_clip's non-persistent causal text mask unset.
    model = open_clip.create_model(arch, pretrained=None, precision="fp32", device="cpu", output_dict=True)
    load_strict(model, load_state_dict_file(checkpoint), checkpoint)
    return model.to(device).eval(), open_clip.get_tokenizer(arch)


class HPSv21(PreferenceMetric):
    """HPS v2.1 of each image with its prompt (a cosine, typically 0.2-0.35). Options: ``batch_size``,
    ``weights_dir``."""

    name = "hps_v21"
    arch: ClassVar[str] = HPS_ARCH
    weights = ("hps-v2.1",)
    protocol = (
        "HPS v2.1: open_clip ViT-H-14 with HPS_v2.1_compressed.pt; hpsv2 preprocess_val (longer side to 224, "
        "bicubic, zero-pad, CLIP mean/std); diag(normalised image @ normalised text features.T)"
    )
    reference = "hpsv2.img_score.score (transcribed onto open-clip-torch; hpsv2 does not install)"
    packages = (*PreferenceMetric.packages, "open-clip-torch")
    cuda_precision = "float32 weights under torch.autocast float16 (cuda), as hpsv2"

    def _load(self, located: Any) -> Any:
        return build_hps(located.files["HPS_v2.1_compressed.pt"], self.device, self.arch)

    def _score(self, images: np.ndarray, prompts: list[str]) -> np.ndarray:
        import torch

        model, tokenizer = self._model
        size = model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else size
        pixels = torch.stack([hps_preprocess(img, size) for img in images]).to(self.device)
        text = tokenizer(prompts).to(self.device)
        cuda = str(self.device).startswith("cuda")
        with torch.inference_mode(), torch.autocast("cuda", enabled=cuda):
            out = model(pixels, text)
            logits = out["image_features"] @ out["text_features"].T
        return torch.diagonal(logits).double().cpu().numpy()
