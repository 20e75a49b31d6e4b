"""``harness init``: a model card (and a starter suite) for a pipeline, read from what is on this machine.

From a ``save_pretrained`` folder, a hub id whose snapshot is in the local Hugging Face cache, or a hub id and a
pipeline class (``--pipeline``) when nothing is downloaded yet. What is read, and from where:

- the pipeline class: ``model_index.json``'s ``_class_name`` (or ``--pipeline``);
- modality and task: the class's ``__call__`` (its parameters and return annotation, read with :mod:`ast` as
  ``harness validate`` does): ``audio_end_in_s`` → audio, ``num_frames`` → video, ``prompt`` → text-to-…,
  ``class_labels`` → class-conditional;
- default call arguments: the literal defaults of ``__call__`` (``num_inference_steps=50``), and where the
  pipeline derives height and width from its config, ``sample_size`` × the VAE's downsampling factor (as
  diffusers' text-to-image pipelines do);
- dtype: the stored weights' dtype (the safetensors header of the denoiser), and a ``fp16`` variant where only
  ``*.fp16.safetensors`` files are present;
- license: the ``license:`` of the folder's README front matter.

Every value is written with where it came from, and the card is validated (``load_card`` + the ``__call__``
check) before it is written: ``init`` never leaves a card that ``harness validate`` refuses.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UserInputError
from harness.core.paths import hf_hub_cache

__all__ = ["Draft", "draft_card", "suite_data", "write_card", "write_suite"]

HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")
DENOISERS = ("transformer", "unet", "prior", "decoder")
SAFETENSORS_DTYPES = {"F16": "fp16", "BF16": "bf16", "F32": "fp32"}
# Tasks whose inputs a workload can carry (prompts, class labels, nothing); image inputs it cannot yet.
RUNNABLE = {"text-to-image", "text-to-video", "text-to-audio", "class-conditional", "unconditional"}


@dataclass
class Draft:
    """A card as ``init`` inferred it, with a note per field saying where the value came from."""

    name: str
    modality: str
    task: str
    pipeline: str
    source: dict[str, Any]
    dtype: str
    defaults: dict[str, Any]
    license: str
    homepage: str | None = None
    notes: str = ""
    provenance: dict[str, str] = field(default_factory=dict)

    def card(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "modality": self.modality,
            "task": self.task,
            "pipeline": self.pipeline,
            "source": self.source,
            "dtype": self.dtype,
            "defaults": self.defaults,
            "license": self.license,
        }
        if self.homepage:
            out["homepage"] = self.homepage
        if self.notes:
            out["notes"] = self.notes
        return out


# ------------------------------------------------------------------------------------------ the source


def cached_snapshot(repo_id: str, revision: str, cache_dir: Path | None = None) -> Path | None:
    """The snapshot folder of ``repo_id`` at ``revision`` in the local HF cache (its ``model_index.json``
    present), or None. Local files only: nothing is downloaded."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        repo_id, "model_index.json", cache_dir=str(cache_dir or hf_hub_cache()), revision=revision
    )
    return Path(found).parent if isinstance(found, str) else None


def _read_json(path: Path) -> dict[str, Any]:
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
        return _read_json(folder / component / "config.json")
    except UserInputError:
        return {}


# --------------------------------------------------------------------------------------- what to infer


def safe_name(text: str) -> str:
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


def _return_annotation(pipeline: str) -> str:
    import ast

    from harness.loaders.signature import _call_function

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
    from harness.loaders.signature import call_defaults

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


def safetensors_header(path: Path) -> dict[str, Any] | None:
    """A safetensors file's JSON header (tensor names → dtype, shape, offsets), read without a weight; None
    where the file is not a readable safetensors file."""
    try:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 100_000_000:
                return None
            header = json.loads(f.read(size))
    except (OSError, struct.error, ValueError):
        return None
    return header if isinstance(header, dict) else None


def safetensors_dtype(path: Path) -> str | None:
    """The most common tensor dtype in a safetensors file's header (read without loading a weight)."""
    header = safetensors_header(path)
    if header is None:
        return None
    counts: dict[str, int] = {}
    for key, info in header.items():
        if key != "__metadata__" and isinstance(info, dict) and isinstance(info.get("dtype"), str):
            counts[info["dtype"]] = counts.get(info["dtype"], 0) + 1
    return max(counts, key=lambda k: counts[k]) if counts else None


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
    import yaml

    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError:
        return None
    if not isinstance(meta, dict) or not meta.get("license"):
        return None
    lic = str(meta["license"])
    return f"{lic} ({meta['license_name']})" if meta.get("license_name") else lic


def draft_card(
    source: str,
    *,
    card_path: Path,
    name: str | None = None,
    pipeline: str | None = None,
    revision: str = "main",
    dtype: str | None = None,
    modality: str | None = None,
    task: str | None = None,
    cache_dir: Path | None = None,
) -> Draft:
    """Everything ``init`` writes into a card, inferred from ``source`` (a folder or a hub id).

    Raises:
        UserInputError: the folder is no save_pretrained folder, the hub id is not in the cache (and no
            ``--pipeline`` was given), the class is unknown, or the task is one a workload cannot feed.
    """
    from harness.loaders.signature import call_signature, locate_pipeline

    path = Path(source).expanduser()
    prov: dict[str, str] = {}
    if path.is_dir():
        folder: Path | None = path.resolve()
        if not (folder / "model_index.json").is_file():
            raise UserInputError(
                f"{source} has no model_index.json (expected a folder written by save_pretrained)"
            )
        # Relative to the card where the folder is in the same project (the card's folder's parent), so the
        # project moves as one; else absolute.
        project = card_path.parent.resolve().parent
        inside = folder == project or project in folder.parents
        rel = os.path.relpath(folder, card_path.parent.resolve()) if inside else str(folder)
        src: dict[str, Any] = {"kind": "local", "path": rel}
        origin = f"the save_pretrained folder {source}"
        default_name = folder.name
        homepage = None
    elif HUB_ID.match(source) and not path.exists():
        folder = cached_snapshot(source, revision, cache_dir)
        if folder is None and pipeline is None:
            raise UserInputError(
                f"'{source}' (revision {revision}) is not in the local Hugging Face cache "
                f"({cache_dir or hf_hub_cache()}): download it on a connected machine "
                f"(huggingface-cli download {source}) and copy the cache here, or give --pipeline CLASS "
                "to write the card from the class alone"
            )
        src = {"kind": "hub", "repo_id": source, "revision": revision}
        origin = (
            f"the Hugging Face cache (snapshot {folder.name[:12]})"
            if folder
            else "the pipeline class (not in the local cache)"
        )
        default_name = source.split("/")[1]
        homepage = f"https://huggingface.co/{source}"
    else:
        what = "does not exist" if not path.exists() else "is not a folder"
        raise UserInputError(
            f"{source} {what}: give a save_pretrained folder or a hub id (owner/name)", field="SOURCE"
        )
    index = _read_json(folder / "model_index.json") if folder is not None else {}
    if pipeline is None:
        cls = index.get("_class_name")
        if not isinstance(cls, str) or not cls:
            raise UserInputError(f"{origin}: model_index.json names no _class_name; give --pipeline CLASS")
        pipeline, prov["pipeline"] = cls, "model_index.json"
    else:
        prov["pipeline"] = "--pipeline"
    try:
        locate_pipeline(pipeline)
    except UserInputError as exc:
        extra = (
            " (a pipeline of your own: --pipeline package.module:Class)"
            if ":" not in pipeline and prov["pipeline"] == "model_index.json"
            else ""
        )
        raise UserInputError(f"{exc.detail}{extra}", field="--pipeline") from None
    sig = call_signature(pipeline)
    if sig is None:
        raise UserInputError(
            f"cannot read {pipeline}.__call__ from its source, so nothing can be inferred; write the card by hand "
            "(README, 'Model cards')"
        )
    inferred_modality, inferred_task, why = infer_modality_task(
        pipeline, sig.parameters, _return_annotation(pipeline)
    )
    call = f"{pipeline.split(':')[-1]}.__call__"
    why_modality, why_task = why.split("; ")
    prov["modality"] = "--modality" if modality else f"{call} {why_modality}"
    prov["task"] = "--task" if task else f"{call} {why_task}"
    modality, task = modality or inferred_modality, task or inferred_task
    if task not in RUNNABLE:
        raise UserInputError(
            f"{pipeline} is an {task} pipeline (its __call__ takes an input image); workloads carry prompts or "
            "class labels only, so harness run cannot feed it yet"
        )
    defaults = infer_defaults(pipeline, folder, index, prov)
    stored, variant, dtype_why = infer_dtype(folder, index)
    if dtype:
        prov["dtype"] = "--dtype"
    elif stored:
        dtype, prov["dtype"] = stored, dtype_why
    else:
        dtype, prov["dtype"] = "fp32", "no safetensors weights to read: fp32, the safe default"
    if variant and src["kind"] == "hub":
        src["variant"] = variant
        prov["source.variant"] = f"only *.{variant}.safetensors files are present"
    lic = readme_license(folder)
    prov["license"] = "the README's front matter" if lic else "not found: fill it in from the model's page"
    diffusers_version = index.get("_diffusers_version")
    components = sorted(k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and v[0])
    notes = f"Written by harness init from {origin}"
    if components:
        notes += f"; components: {', '.join(components)}"
    if isinstance(diffusers_version, str):
        notes += f"; saved with diffusers {diffusers_version}"
    return Draft(
        name=safe_name(name or default_name),
        modality=modality,
        task=task,
        pipeline=pipeline,
        source=src,
        dtype=dtype,
        defaults=defaults,
        license=lic or "unknown",
        homepage=homepage,
        notes=notes + ".",
        provenance=prov,
    )


# ------------------------------------------------------------------------------------------ the suite

PROMPTS = ["a red bicycle leaning against a brick wall", "a bowl of fruit on a wooden table, soft light"]
AUDIO_PROMPTS = ["rain falling on a tin roof", "a short piano melody in C major"]
VIDEO_PROMPTS = ["a paper boat drifting down a stream", "waves rolling onto a sandy beach at sunset"]
# Pairwise metrics need no weights; those that do are skipped, with how to provide them, where absent.
METRICS = {
    "image": ["psnr", "ssim", "lpips"],
    "video": ["psnr", "ssim", "temporal_ssim"],
    "audio": ["si_sdr", "stft_distance"],
}
ALIGNMENT = {"image": "clip_score", "video": "clip_score_frames", "audio": "clap_score"}


def suite_data(draft: Draft, card_ref: str) -> dict[str, Any]:
    """A starter suite: the card's defaults and a variant with half the steps, metrics of its modality."""
    steps = draft.defaults.get("steps")
    if isinstance(steps, int) and steps > 1:
        base, fast = f"steps-{steps}", f"steps-{max(1, steps // 2)}"
        variants = [{"name": base}, {"name": fast, "overrides": {"steps": max(1, steps // 2)}}]
    else:  # a pipeline without steps: the same call, two items per batch
        base = "default"
        variants = [{"name": "default"}, {"name": "batch-2", "batch_size": 2}]
    metrics = list(METRICS[draft.modality])
    workload: dict[str, Any] = {"seed": 0, "batch_size": 1, "num_samples": 4}
    if draft.task.startswith("text-to-"):
        metrics.append(ALIGNMENT[draft.modality])
        prompts = {"audio": AUDIO_PROMPTS, "video": VIDEO_PROMPTS}.get(draft.modality, PROMPTS)
        workload = {"prompts": prompts, **workload}
    elif draft.task == "class-conditional":
        workload = {"class_labels": [0, 1, 2, 3], **workload}
    first = METRICS[draft.modality][0]
    return {
        "name": draft.name,
        "version": 1,
        "description": f"Starter suite for {draft.name} (written by harness init): {base} against "
        f"{variants[1]['name']}.",
        "device": "auto",
        "models": [{"card": card_ref, "baseline": base, "variants": variants}],
        "backends": ["eager"],
        "workload": workload,
        "measurement": {"warmup": 1, "min_iterations": 3, "max_iterations": 10, "timeout_s": 1800},
        "metrics": metrics,
        "objectives": {"latency_per_item_ms.p50": "min", first: "max"},
    }


# ------------------------------------------------------------------------------------------- writing


def _yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110, default_flow_style=None)


def _check_target(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UserInputError(f"{path} exists (--force overwrites it)")
    if path.exists() and path.is_dir():
        raise UserInputError(f"{path} is a folder")


def _write_validated(path: Path, text: str, check: Any, what: str) -> None:
    """Write ``text`` beside ``path``, validate it with ``check(tmp)``, then move it into place; on a
    validation error nothing is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.init")
    tmp.write_text(text, encoding="utf-8")
    try:
        check(tmp)
    except UserInputError as exc:
        tmp.unlink(missing_ok=True)
        raise UserInputError(
            f"the {what} init wrote does not validate: {exc.detail}", field=exc.field
        ) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_card(draft: Draft, path: Path, *, force: bool = False) -> None:
    from harness.config import load_card
    from harness.config.plan import check_card

    _check_target(path, force)
    header = ["# Model card written by `harness init`. Where each value came from:"]
    header += [f"#   {k}: {v}" for k, v in draft.provenance.items()]
    text = "\n".join(header) + "\n" + _yaml(draft.card())

    def check(tmp: Path) -> None:
        card = load_card(tmp)
        check_card(card)

    _write_validated(path, text, check, "card")


def card_reference(card_path: Path, suite_path: Path, name: str) -> str:
    """The card by name where ``harness run`` will find it from the suite, else its path from the suite."""
    from harness.config.catalog import card_dirs

    if card_path.resolve().parent in card_dirs(suite_path.resolve()):
        return name
    return os.path.relpath(card_path.resolve(), suite_path.resolve().parent)


def write_suite(draft: Draft, card_path: Path, path: Path, *, force: bool = False) -> None:
    from harness.config import load_suite
    from harness.config.plan import check_suite

    _check_target(path, force)
    ref = card_reference(card_path, path, draft.name)
    text = (
        "# Starter suite written by `harness init`: edit the variants, workload and metrics to your question.\n"
        "# Metrics that need weights (lpips, clip_score, clap_score) are skipped with how to provide them where "
        "absent\n# (harness weights list); add fid/fvd/fad with a reference_path (harness refstats).\n"
        + _yaml(suite_data(draft, ref))
    )

    def check(tmp: Path) -> None:
        suite = load_suite(tmp)
        check_suite(suite)

    _write_validated(path, text, check, "suite")
