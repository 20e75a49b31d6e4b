"""What ``harness init`` infers of a card, and from where: the folder's ``model_index.json``, component configs
and README front matter, the stored weights' dtype, and the pipeline class's ``__call__`` (read with
:mod:`ast`, as ``harness validate`` does)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import yaml

from harness.core.errors import UserInputError
from harness.core.tensorfiles import safetensors_dtype
from harness.loaders.signature import _call_function, call_defaults

DENOISERS = ("transformer", "unet", "prior", "decoder")
SAFETENSORS_DTYPES = {"F16": "fp16", "BF16": "bf16", "F32": "fp32"}


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; bad input (one line) where it cannot be read or is not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"cannot read {path} ({exc})") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _config(folder: Path | None, component: str) -> dict[str, Any]:
    if folder is None or not (folder / component / "config.json").is_file():
        return {}
    try:
        return read_json(folder / component / "config.json")
    except UserInputError:
        return {}


def card_name_from(text: str) -> str:
    """A card name from a folder or repository name: lower case, runs of other characters as ``-``."""
    name = re.sub(r"[^a-z0-9._+=,-]+", "-", text.lower()).strip("-._+=,")
    return name[:100] or "my-model"


def infer_modality_task(pipeline: str, params: frozenset[str], annotation: str) -> tuple[str, str, str]:
    """(modality, task, why) from the ``__call__`` parameters, the return annotation and the class name."""
    cls = pipeline.partition(":")[2] or pipeline
    hints = f"{cls} {annotation}"
    if {"audio_end_in_s", "audio_length_in_s"} & params or re.search(r"Audio|Music", hints):
        modality, why = "audio", "takes an audio length or returns audio"
    elif {"num_frames", "video_length"} & params or "Video" in hints:
        modality, why = "video", "takes a frame count or returns video"
    else:
        modality, why = "image", "takes no audio length or frame count"
    if "image" in params or "video" in params:
        task = "image-to-video" if modality == "video" else "image-to-image"
        why_task = "takes an input image"
    elif "prompt" in params:
        task, why_task = f"text-to-{modality}", "takes a prompt"
    elif "class_labels" in params:
        task, why_task = "class-conditional", "takes class_labels, no prompt"
    else:
        task, why_task = "unconditional", "takes no prompt and no class labels"
    return modality, task, f"{why}; {why_task}"


def return_annotation(pipeline: str) -> str:
    """The return annotation of the pipeline class's ``__call__``, as source text ("" where it has none)."""
    fn = _call_function(pipeline)
    return ast.unparse(fn.returns) if fn is not None and fn.returns is not None else ""


def _spatial_factor(folder: Path | None, index: dict[str, Any]) -> int | None:
    vae = _config(folder, "vae")
    channels = vae.get("block_out_channels")
    if isinstance(channels, list) and channels:
        return int(2 ** (len(channels) - 1))
    return 1 if "vae" not in index else None


def infer_defaults(
    pipeline: str, folder: Path | None, index: dict[str, Any], notes: dict[str, str]
) -> dict[str, Any]:
    """Our call arguments from the ``__call__`` defaults (and the denoiser's ``sample_size``)."""
    found = call_defaults(pipeline)
    out: dict[str, Any] = {}

    def literal(name: str, ours: str, kind: type) -> None:
        value = found.get(name)
        if isinstance(value, bool) or value is None or not isinstance(value, int | float):
            return
        if kind is int and not isinstance(value, int):
            return
        out[ours] = kind(value)
        notes[ours] = f"{name}'s default in __call__"

    literal("num_inference_steps", "steps", int)
    literal("guidance_scale", "guidance_scale", float)
    h, w = found.get("height"), found.get("width")
    if isinstance(h, int) and isinstance(w, int) and not isinstance(h, bool):
        if h == w:
            out["resolution"] = h
        else:
            out["height"], out["width"] = h, w
        notes["resolution"] = "height/width defaults in __call__"
    elif "height" in found and h is None:
        denoiser = next((_config(folder, c) for c in DENOISERS if _config(folder, c)), {})
        size, factor = denoiser.get("sample_size"), _spatial_factor(folder, index)
        if isinstance(size, int) and factor:
            out["resolution"] = size * factor
            notes["resolution"] = f"the denoiser's sample_size {size} × the VAE's factor {factor}"
    for name in ("num_frames", "video_length"):
        if "num_frames" not in out:
            literal(name, "num_frames", int)
    for name in ("frame_rate", "fps"):
        if "fps" not in out:
            literal(name, "fps", int)
    for name in ("audio_end_in_s", "audio_length_in_s"):
        if "audio_seconds" not in out:
            literal(name, "audio_seconds", float)
    neg = found.get("negative_prompt")
    if isinstance(neg, str) and neg.strip():
        out["negative_prompt"] = neg
        notes["negative_prompt"] = "negative_prompt's default in __call__"
    return out


def infer_dtype(folder: Path | None, index: dict[str, Any]) -> tuple[str | None, str | None, str]:
    """(dtype, variant, why) from the weights of the denoiser (or the first component with weights)."""
    if folder is None:
        return None, None, ""
    components = [c for c in (*DENOISERS, *sorted(index)) if (folder / c).is_dir()]
    for comp in components:
        files = sorted((folder / comp).glob("*.safetensors"))
        if not files:
            continue
        plain = [f for f in files if not re.search(r"\.(fp16|bf16)\.safetensors$", f.name)]
        variant = None
        if not plain:
            variant = "fp16" if any(".fp16." in f.name for f in files) else "bf16"
        stored = safetensors_dtype((plain or files)[0])
        if stored in SAFETENSORS_DTYPES:
            return SAFETENSORS_DTYPES[stored], variant, f"the {comp} weights are {stored}"
    return None, None, ""


def readme_license(folder: Path | None) -> str | None:
    """``license:`` (and ``license_name:`` for ``other``) from the README's YAML front matter."""
    if folder is None or not (folder / "README.md").is_file():
        return None
    try:
        text = (folder / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    m = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.S)
    if not m:
        return None
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict) or not meta.get("license"):
        return None
    lic = str(meta["license"])
    return f"{lic} ({meta['license_name']})" if meta.get("license_name") else lic
