"""Networks from verified weights files: tensors only, every one of them, one copy per process.

* ``load_state_dict_file``: a checkpoint read with ``weights_only=True`` (no code runs from the file).
* ``load_network``: a network built without initialisation, every tensor from the file.
* ``load_strict``: every tensor loaded, refusing missing, unexpected or misshapen ones (no silent random weights);
  ``check_loading_info`` says the same of a Hugging Face ``from_pretrained(..., output_loading_info=True)``.
* ``cached_model``: one loaded network per (weights hash, options, device) in this process, the few most recent.
* ``embeddings`` and ``text_embeddings``: the projected embeddings of a transformers CLIP or CLAP model.

Torch is imported only inside the functions.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from harness.core.errors import HarnessError

__all__ = [
    "WeightsLoadError",
    "cached_model",
    "check_loading_info",
    "embeddings",
    "load_network",
    "load_state_dict_file",
    "load_strict",
    "text_embeddings",
]


class WeightsLoadError(HarnessError):
    """A verified weights file does not fit the architecture (missing or misshapen tensors)."""


def load_state_dict_file(path: os.PathLike[str] | str) -> dict[str, Any]:
    """A checkpoint of tensors only (``weights_only=True``: no code runs from the file)."""
    import torch

    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsLoadError(f"{path}: cannot be read as a PyTorch state dict: {exc}") from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise WeightsLoadError(f"{path}: expected a state dict, got {type(sd).__name__}")
    return sd


def load_strict(module: Any, sd: dict[str, Any], path: Any, *, assign: bool = False) -> None:
    """Load every tensor, refusing missing, unexpected or misshapen ones (no silent random weights)."""
    try:
        module.load_state_dict(sd, strict=True, assign=assign)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise WeightsLoadError(
            f"{path}: does not fit the architecture: {' '.join(first[:3])[:400]}"
        ) from None


def load_network(factory: Callable[[], Any], path: Any, sd: dict[str, Any] | None = None) -> Any:
    """``factory()``'s network with every tensor from the verified file at ``path`` (or its state dict ``sd``, read
    already): built on the meta device, so nothing is initialised and a tensor the file lacks is an error."""
    import torch

    with torch.device("meta"):
        module = factory()
    load_strict(module, load_state_dict_file(path) if sd is None else sd, path, assign=True)
    return module


_MODELS: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_MODELS_KEPT = 3
_MODELS_LOCK = threading.Lock()


def cached_model(key: tuple[Any, ...], factory: Callable[[], Any]) -> Any:
    """One loaded network per (weights hash, options, device) in this process: fid, kid and inception_score
    of a job share one Inception; the few most recent are kept."""
    with _MODELS_LOCK:
        if key in _MODELS:
            _MODELS.move_to_end(key)
            return _MODELS[key]
    model = factory()
    with _MODELS_LOCK:
        _MODELS[key] = model
        while len(_MODELS) > _MODELS_KEPT:
            _MODELS.popitem(last=False)
    return model


def check_loading_info(info: Mapping[str, Any], what: str, *, position_ids_missing_ok: bool = False) -> None:
    """Refuse a transformers model that ``from_pretrained`` did not fill from the file entirely.

    Args:
        info: ``from_pretrained(..., output_loading_info=True)``'s second value.
        what: The start of the message: the file and what it does not fit (``.../pytorch_model.bin: does not fit
            the CLIP config``).
        position_ids_missing_ok: Newer checkpoints may lack the position_ids buffers the model computes itself.

    Raises:
        WeightsLoadError: Tensors missing, unexpected or misshapen (older checkpoints' position_ids buffers,
            which newer transformers compute instead, are not counted).
    """
    unexpected = [k for k in info.get("unexpected_keys", ()) if not str(k).endswith("position_ids")]
    missing = [
        k
        for k in info.get("missing_keys", ())
        if not (position_ids_missing_ok and str(k).endswith("position_ids"))
    ]
    mismatched = list(info.get("mismatched_keys", ()))
    if missing or unexpected or mismatched:
        raise WeightsLoadError(
            f"{what} (no random weights are used): missing {sorted(missing)[:5]}, unexpected "
            f"{sorted(unexpected)[:5]}, mismatched {sorted(map(str, mismatched))[:5]}"
        )


def embeddings(out: Any) -> Any:
    """``get_image_features`` / ``get_text_features`` return a tensor (transformers 4) or an output whose
    ``pooler_output`` holds the projected embedding (transformers 5)."""
    return out if hasattr(out, "norm") else out.pooler_output


def text_embeddings(
    model: Any, tokenizer: Any, prompts: list[str], *, batch_size: int, device: str, max_length: int
) -> np.ndarray:
    """The projected text embeddings (``get_text_features``) of ``prompts``, in batches: (N, d) float64, as the
    model gives them (not normalised). Prompts are padded per batch and truncated to ``max_length`` tokens."""
    import torch

    out = []
    with torch.inference_mode():
        for i in range(0, len(prompts), batch_size):
            tok = tokenizer(
                prompts[i : i + batch_size],
                padding=True,
                truncation=True,
                max_length=max_length,
                return_tensors="pt",
            )
            emb = embeddings(
                model.get_text_features(
                    input_ids=tok["input_ids"].to(device), attention_mask=tok["attention_mask"].to(device)
                )
            )
            out.append(emb.double().cpu().numpy())
    return np.concatenate(out)
