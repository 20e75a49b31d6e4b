"""``pickscore``: PickScore v1 (Kirstain et al., NeurIPS 2023), as the authors' model card computes it.

PickScore has no package; the reference is the snippet in the authors' model card (yuvalkirstain/PickScore_v1):
``AutoProcessor`` of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K``, ``AutoModel`` of ``yuvalkirstain/PickScore_v1``
(a transformers ``CLIPModel``), image and text embeddings L2-normalised, score ``logit_scale.exp() * cos``. Here:

* the model is ``CLIPModel`` built from the pinned ``config.json`` with every tensor from the pinned
  ``model.safetensors`` (missing or misshapen tensors are an error);
* images go through the pinned ``preprocessor_config.json`` as PIL images, with the PIL image processor the
  snippet ran under transformers 4 (bicubic resize of the shorter side to 224, centre crop, CLIP mean/std;
  transformers 5's default ``CLIPImageProcessor`` resizes with torchvision instead: ``CLIPImageProcessorPil``);
* each distinct prompt is tokenised alone, as the snippet does (``padding=True, truncation=True,
  max_length=77`` on one prompt: no padding), with the pinned ``tokenizer.json`` (CLIP's BPE).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness.metrics.loading import check_loading_info, embeddings
from harness.metrics.preference.base import PreferenceMetric

__all__ = ["PickScore", "build_pickscore"]

MAX_TOKENS = 77


def _pil_image_processor() -> Any:
    """The PIL image processor the authors' transformers 4 ran (transformers 5's ``CLIPImageProcessor`` resizes
    with torchvision, whose bicubic kernel differs from PIL's)."""
    import transformers

    return getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor


def build_pickscore(
    model_dir: Any, processor_files: dict[str, Any], device: str = "cpu"
) -> tuple[Any, Any, Any]:
    """``(CLIPModel, CLIPImageProcessor, tokenizer)`` from the pinned files (nothing is downloaded).

    Raises:
        WeightsLoadError: The weights do not fit the config (no random weights are used).
    """
    from transformers import CLIPModel, PreTrainedTokenizerFast

    model, info = CLIPModel.from_pretrained(
        str(model_dir), local_files_only=True, use_safetensors=True, output_loading_info=True
    )
    check_loading_info(info, f"{model_dir}: model.safetensors does not fit config.json")
    folder = str(Path(processor_files["preprocessor_config.json"]).parent)
    images = _pil_image_processor().from_pretrained(folder, local_files_only=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(processor_files["tokenizer.json"]),
        bos_token="<|startoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        model_max_length=MAX_TOKENS,
    )
    return model.eval().to(device), images, tokenizer


class PickScore(PreferenceMetric):
    """PickScore v1 of each image with its prompt (``logit_scale.exp() · cos``, typically 18-23). Options:
    ``batch_size``, ``weights_dir``."""

    name = "pickscore"
    weights = ("pickscore-v1", "clip-vit-h-14-laion2b-processor")
    protocol = (
        "PickScore v1: CLIPModel (ViT-H/14) with the laion CLIP-ViT-H-14 processor (224 bicubic, centre crop, "
        "CLIP mean/std; BPE, 77 tokens, each prompt alone); logit_scale.exp() * cos(image, text)"
    )
    reference = "the model card's snippet (yuvalkirstain/PickScore_v1), transcribed"
    packages = (*PreferenceMetric.packages, "transformers", "tokenizers", "safetensors")

    def _load(self, model: Any, processor: Any) -> Any:
        return build_pickscore(model.root, processor.files, self.device)

    def _score(self, images: np.ndarray, prompts: list[str]) -> np.ndarray:
        import torch
        from PIL import Image

        model, image_processor, tokenizer = self._model
        unique = list(dict.fromkeys(prompts))
        with torch.inference_mode():
            pixels = image_processor(images=[Image.fromarray(x) for x in images], return_tensors="pt")
            img = embeddings(model.get_image_features(pixel_values=pixels["pixel_values"].to(self.device)))
            img = img / torch.norm(img, dim=-1, keepdim=True)
            txt = {}
            for p in unique:
                # the snippet's padding=True pads nothing for one prompt, so no pad token is needed
                tok = tokenizer(p, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
                e = embeddings(
                    model.get_text_features(
                        input_ids=tok["input_ids"].to(self.device),
                        attention_mask=tok["attention_mask"].to(self.device),
                    )
                )
                txt[p] = (e / torch.norm(e, dim=-1, keepdim=True))[0]
            text = torch.stack([txt[p] for p in prompts])
            scores = model.logit_scale.exp() * (img * text).sum(-1)
        return scores.double().cpu().numpy()
