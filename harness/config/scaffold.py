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

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.config.catalog import card_dirs
from harness.config.infer import (
    card_name_from,
    infer_defaults,
    infer_dtype,
    infer_modality_task,
    read_json,
    readme_license,
    return_annotation,
)
from harness.config.loading import load_card, load_suite
from harness.config.plan import check_card, check_suite
from harness.core.errors import UserInputError
from harness.core.paths import hf_hub_cache, pipeline_snapshot
from harness.loaders.signature import call_signature, locate_pipeline

__all__ = ["Draft", "draft_card", "suite_data", "write_card", "write_suite"]

HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")

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


# ------------------------------------------------------------------------------------------ the card


@dataclass(frozen=True)
class _Origin:
    """Where a card's values are read from: the files (None: the pipeline class alone) and the card's source."""

    folder: Path | None
    source: dict[str, Any]
    what: str  # for the card's notes and for messages
    default_name: str
    homepage: str | None


def _origin(
    source: str, card_path: Path, revision: str, cache_dir: Path | None, pipeline: str | None
) -> _Origin:
    """A save_pretrained folder, or a hub id (its snapshot in the local cache, or the class alone)."""
    path = Path(source).expanduser()
    if path.is_dir():
        folder = path.resolve()
        if not (folder / "model_index.json").is_file():
            raise UserInputError(
                f"{source} has no model_index.json (expected a folder written by save_pretrained)"
            )
        # Relative to the card where the folder is in the same project (the card's folder's parent), so the
        # project moves as one; else absolute.
        project = card_path.parent.resolve().parent
        inside = folder == project or project in folder.parents
        rel = os.path.relpath(folder, card_path.parent.resolve()) if inside else str(folder)
        return _Origin(
            folder, {"kind": "local", "path": rel}, f"the save_pretrained folder {source}", folder.name, None
        )
    if HUB_ID.match(source) and not path.exists():
        snapshot = pipeline_snapshot(source, revision, cache_dir)
        if snapshot is None and pipeline is None:
            raise UserInputError(
                f"'{source}' (revision {revision}) is not in the local Hugging Face cache "
                f"({cache_dir or hf_hub_cache()}): download it on a connected machine "
                f"(huggingface-cli download {source}) and copy the cache here, or give --pipeline CLASS "
                "to write the card from the class alone"
            )
        what = (
            f"the Hugging Face cache (snapshot {snapshot.name[:12]})"
            if snapshot
            else "the pipeline class (not in the local cache)"
        )
        src = {"kind": "hub", "repo_id": source, "revision": revision}
        return _Origin(snapshot, src, what, source.split("/")[1], f"https://huggingface.co/{source}")
    what = "does not exist" if not path.exists() else "is not a folder"
    raise UserInputError(
        f"{source} {what}: give a save_pretrained folder or a hub id (owner/name)", field="SOURCE"
    )


def _pipeline_class(
    pipeline: str | None, index: dict[str, Any], origin: _Origin, prov: dict[str, str]
) -> str:
    """``--pipeline``, else model_index.json's ``_class_name``; the class must be importable."""
    if pipeline is None:
        cls = index.get("_class_name")
        if not isinstance(cls, str) or not cls:
            raise UserInputError(
                f"{origin.what}: model_index.json names no _class_name; give --pipeline CLASS"
            )
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
    return pipeline


def _modality_task(
    pipeline: str, modality: str | None, task: str | None, prov: dict[str, str]
) -> tuple[str, str]:
    """The flags where given, else what the class's ``__call__`` says; a task a workload cannot feed is refused."""
    sig = call_signature(pipeline)
    if sig is None:
        raise UserInputError(
            f"cannot read {pipeline}.__call__ from its source, so nothing can be inferred; write the card by hand "
            "(README, 'Model cards')"
        )
    inferred_modality, inferred_task, why = infer_modality_task(
        pipeline, sig.parameters, return_annotation(pipeline)
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
    return modality, task


def _dtype(
    dtype: str | None, origin: _Origin, index: dict[str, Any], prov: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    """``--dtype``, else the stored weights' dtype, else fp32; and the card's source, with the variant of a hub
    source whose weights are only one variant's files."""
    stored, variant, dtype_why = infer_dtype(origin.folder, index)
    if dtype:
        prov["dtype"] = "--dtype"
    elif stored:
        dtype, prov["dtype"] = stored, dtype_why
    else:
        dtype, prov["dtype"] = "fp32", "no safetensors weights to read: fp32, the safe default"
    source = origin.source
    if variant and source["kind"] == "hub":
        source = {**source, "variant": variant}
        prov["source.variant"] = f"only *.{variant}.safetensors files are present"
    return dtype, source


def _notes(origin: _Origin, index: dict[str, Any]) -> str:
    diffusers_version = index.get("_diffusers_version")
    components = sorted(k for k, v in index.items() if not k.startswith("_") and isinstance(v, list) and v[0])
    notes = f"Written by harness init from {origin.what}"
    if components:
        notes += f"; components: {', '.join(components)}"
    if isinstance(diffusers_version, str):
        notes += f"; saved with diffusers {diffusers_version}"
    return notes + "."


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
    prov: dict[str, str] = {}
    origin = _origin(source, card_path, revision, cache_dir, pipeline)
    index = read_json(origin.folder / "model_index.json") if origin.folder is not None else {}
    pipeline = _pipeline_class(pipeline, index, origin, prov)
    modality, task = _modality_task(pipeline, modality, task, prov)
    defaults = infer_defaults(pipeline, origin.folder, index, prov)
    dtype, source_spec = _dtype(dtype, origin, index, prov)
    lic = readme_license(origin.folder)
    prov["license"] = "the README's front matter" if lic else "not found: fill it in from the model's page"
    return Draft(
        name=card_name_from(name or origin.default_name),
        modality=modality,
        task=task,
        pipeline=pipeline,
        source=source_spec,
        dtype=dtype,
        defaults=defaults,
        license=lic or "unknown",
        homepage=origin.homepage,
        notes=_notes(origin, index),
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
    if card_path.resolve().parent in card_dirs(suite_path.resolve()):
        return name
    return os.path.relpath(card_path.resolve(), suite_path.resolve().parent)


def write_suite(draft: Draft, card_path: Path, path: Path, *, force: bool = False) -> None:
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
