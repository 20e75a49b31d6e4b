"""``image_reward``: ImageReward v1.0 (Xu et al., NeurIPS 2023) through the authors' package ``image-reward``.

The network is the package's own ``ImageReward.ImageReward.ImageReward`` (BLIP ViT-L/16 at 224 px, BLIP's
cross-attention BERT built from ``med_config.json``, the 768→1 MLP head and the reward normalisation
``(r - 0.16717) / 1.03334``), with every tensor from the pinned ``ImageReward.pt``; a batch is scored by the
package's ``score_gard`` on its own preprocessing (``model.preprocess``: bicubic resize to 224, centre crop, CLIP
mean/std) and tokenisation (BERT, padded to 35 tokens), which gives ``ImageReward.score(prompt, image)`` per image
(tested to 1e-5).

Two things the package does that a benchmark cannot: it downloads ``bert-base-uncased``'s vocabulary through
``BertTokenizer.from_pretrained`` (here the tokenizer is built from the pinned ``vocab.txt``, handed to the package
under a lock, as ``harness.metrics.inception`` hands pytorch-fid its Inception), and it loads the checkpoint with
``strict=False`` (here a missing tensor is an error, not a random weight).

image-reward 1.5 was written for transformers 4. ``import_image_reward`` applies, only while importing it and
only what is missing, a compatibility shim for transformers 5 (none of it changes a scoring computation):

* ``apply_chunking_to_forward`` and ``prune_linear_layer`` moved from ``transformers.modeling_utils`` to
  ``transformers.pytorch_utils``; ``find_pruneable_heads_and_indices`` is gone (BLIP uses it only to prune heads,
  never when scoring; the stand-in refuses to be called);
* ``PreTrainedModel.init_weights`` now expects ``post_init()`` to have run first (BLIP's ``BertModel`` calls
  ``init_weights()`` directly);
* ``get_head_mask`` and ``invert_attention_mask`` left ``PreTrainedModel``: BLIP's ``BertModel.forward`` gets
  transformers 4's behaviour back (no head mask; ``(1 - mask) * finfo.min`` for the cross-attention mask, which is
  all ones when scoring, so the constant never matters);
* tokenizers lost ``additional_special_tokens_ids`` (BLIP reads it to store its ``[ENC]`` token id).
"""

from __future__ import annotations

import sys
import threading
import warnings
from typing import Any, ClassVar

import numpy as np

from harness.metrics.loading import WeightsLoadError, load_state_dict_file
from harness.metrics.preference.base import PreferenceMetric

__all__ = ["IR_MEAN", "IR_STD", "ImageRewardScore", "build_image_reward", "import_image_reward"]

IR_MEAN, IR_STD = 0.16717362830052426, 1.0333394966054072  # the package's reward normalisation (for the docs)
MAX_TOKENS = 35  # ImageReward.score pads and truncates prompts to 35 BERT tokens

_IMPORT_LOCK = threading.Lock()
_PATCH_LOCK = threading.Lock()


def _no_head_pruning(*args: Any, **kw: Any) -> Any:
    raise NotImplementedError("head pruning is not supported by the harness's ImageReward shim")


def _get_head_mask(
    self: Any, head_mask: Any, num_hidden_layers: int, is_attention_chunked: bool = False
) -> Any:
    if head_mask is not None:
        raise NotImplementedError("head masks are not supported by the harness's ImageReward shim")
    return [None] * num_hidden_layers


def _invert_attention_mask(self: Any, mask: Any) -> Any:
    import torch

    ext = mask[:, None, :, :] if mask.dim() == 3 else mask[:, None, None, :]
    ext = ext.to(dtype=self.dtype)
    return (1.0 - ext) * torch.finfo(self.dtype).min


def _patch_transformers_5(med: Any) -> None:
    """Give BLIP's BertModel what transformers 5 removed (see the module docstring); no-op on transformers 4."""
    from transformers import PreTrainedModel

    base = med.BertPreTrainedModel
    if not hasattr(PreTrainedModel, "get_head_mask"):
        base.get_head_mask = _get_head_mask
    if not hasattr(PreTrainedModel, "invert_attention_mask"):
        base.invert_attention_mask = _invert_attention_mask
    # transformers 5's post_init records the tied-weight keys init_weights needs; transformers 4 has neither.
    if hasattr(PreTrainedModel, "get_expanded_tied_weights_keys") and "init_weights" not in vars(base):
        original = PreTrainedModel.init_weights

        def init_weights(self: Any) -> None:
            if not hasattr(self, "all_tied_weights_keys"):
                self.post_init()  # sets what transformers 5 needs, then calls init_weights again
            else:
                original(self)

        base.init_weights = init_weights


def import_image_reward() -> Any:
    """The ``ImageReward`` package, imported under the transformers-5 compatibility shim (module docstring)."""
    with _IMPORT_LOCK:
        if "ImageReward.models.BLIP.med" in sys.modules:
            _patch_transformers_5(sys.modules["ImageReward.models.BLIP.med"])
            return sys.modules["ImageReward"]
        import transformers.modeling_utils as mu
        import transformers.pytorch_utils as pu

        stand_ins = {
            "apply_chunking_to_forward": getattr(pu, "apply_chunking_to_forward", None),
            "prune_linear_layer": getattr(pu, "prune_linear_layer", None),
            "find_pruneable_heads_and_indices": getattr(
                pu, "find_pruneable_heads_and_indices", _no_head_pruning
            ),
        }
        added = [k for k, v in stand_ins.items() if not hasattr(mu, k) and v is not None]
        for key in added:
            setattr(mu, key, stand_ins[key])
        try:
            with warnings.catch_warnings():
                # clip (imported by ImageReward) warns that pkg_resources is deprecated; nothing to act on here.
                warnings.simplefilter("ignore", UserWarning)
                import ImageReward
                from ImageReward.models.BLIP import med
        finally:
            for key in added:
                delattr(mu, key)
        _patch_transformers_5(med)
        return ImageReward


def _local_bert_tokenizer(vocab_file: str) -> Any:
    """BERT's uncased WordPiece tokenizer from a verified vocab.txt (what bert-base-uncased's files give)."""
    import inspect

    from transformers import BertTokenizer
    from transformers.models.bert.tokenization_bert import load_vocab

    cls = BertTokenizer
    if not hasattr(BertTokenizer, "additional_special_tokens_ids"):

        class BlipBertTokenizer(BertTokenizer):
            @property
            def additional_special_tokens_ids(self) -> list[int]:
                return self.convert_tokens_to_ids([str(t) for t in self.extra_special_tokens])

        cls = BlipBertTokenizer
    if "vocab_file" in inspect.signature(BertTokenizer.__init__).parameters:  # transformers 4
        return cls(vocab_file=vocab_file, do_lower_case=True, model_max_length=512)
    return cls(vocab=load_vocab(vocab_file), do_lower_case=True, model_max_length=512)


class _OfflineBertTokenizer:
    """Stands in for ``transformers.BertTokenizer`` inside BLIP: ``from_pretrained('bert-base-uncased')`` gives the
    tokenizer of the pinned vocabulary, anything else is refused (nothing is downloaded)."""

    def __init__(self, vocab_file: str) -> None:
        self.vocab_file = vocab_file

    def from_pretrained(self, name: str, *args: Any, **kw: Any) -> Any:
        if name != "bert-base-uncased":
            raise ValueError(f"ImageReward asked for tokenizer {name!r}; only bert-base-uncased is pinned")
        return _local_bert_tokenizer(self.vocab_file)


def build_image_reward(
    checkpoint: Any, med_config: Any, vocab_file: Any, device: str = "cpu"
) -> tuple[Any, dict[str, Any]]:
    """The package's ``ImageReward`` model with every tensor from ``checkpoint`` (a state dict file).

    Returns:
        ``(model, notes)``: the model in eval mode on ``device``; ``notes`` lists checkpoint tensors the
        architecture does not use (ignored, as the package's own ``strict=False`` load ignores them).

    Raises:
        WeightsLoadError: The checkpoint lacks tensors of the architecture, or has misshapen ones.
    """
    import_image_reward()
    from ImageReward.ImageReward import ImageReward
    from ImageReward.models.BLIP import blip

    with _PATCH_LOCK:
        original = blip.BertTokenizer
        blip.BertTokenizer = _OfflineBertTokenizer(str(vocab_file))
        try:
            model = ImageReward(med_config=str(med_config), device=device)
        finally:
            blip.BertTokenizer = original
    sd = load_state_dict_file(checkpoint)
    try:
        info = model.load_state_dict(sd, strict=False)
    except RuntimeError as exc:  # misshapen tensors
        raise WeightsLoadError(f"{checkpoint}: does not fit ImageReward: {str(exc).strip()[:400]}") from None
    if info.missing_keys:
        raise WeightsLoadError(
            f"{checkpoint}: lacks {len(info.missing_keys)} tensors of ImageReward (no random weights are used), "
            f"e.g. {sorted(info.missing_keys)[:5]}"
        )
    notes = {"unused_checkpoint_tensors": sorted(info.unexpected_keys)} if info.unexpected_keys else {}
    return model.to(device).eval(), notes


class ImageRewardScore(PreferenceMetric):
    """ImageReward v1.0 of each image with its prompt (normalised reward; ~0 on average over the authors' data).

    Options: ``batch_size``, ``weights_dir``.
    """

    name = "image_reward"
    weights = ("imagereward-v1.0", "bert-base-uncased-vocab")
    protocol = (
        "ImageReward v1.0: BLIP ViT-L/16 224 px + cross-attention BERT (prompt padded/truncated to 35 tokens), "
        "MLP on the [CLS] feature, (r - 0.16717362830052426) / 1.0333394966054072"
    )
    reference = "image-reward's ImageReward.score(prompt, image), run by the package itself"
    packages = (*PreferenceMetric.packages, "image-reward", "transformers", "timm")
    state_fields: ClassVar[dict[str, str]] = {
        **PreferenceMetric.state_fields,
        "_notes": "same",
    }  # what the checkpoint load noted
    _notes: dict[str, Any] | None = None

    def _load(self, reward: Any, bert: Any) -> Any:
        model, self._notes = build_image_reward(
            reward.files["ImageReward.pt"],
            reward.files["med_config.json"],
            bert.files["vocab.txt"],
            self.device,
        )
        return model

    def _score(self, images: np.ndarray, prompts: list[str]) -> np.ndarray:
        import torch
        from PIL import Image

        model = self._model
        pixels = torch.stack([model.preprocess(Image.fromarray(img)) for img in images]).to(self.device)
        tok = model.blip.tokenizer(
            prompts, padding="max_length", truncation=True, max_length=MAX_TOKENS, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            rewards = model.score_gard(tok.input_ids, tok.attention_mask, pixels)
        return rewards.reshape(-1).double().cpu().numpy()

    def fingerprint_details(self) -> dict[str, Any]:
        d = super().fingerprint_details()
        if self._notes:
            d["notes"] = self._notes
        return d
