"""What the jobs of a run will import, imported once in the fork server before it forks.

A fresh job process used to pay diffusers' and transformers' lazy imports again (about 2 s of a 2.3 s
``load_s`` for a 0.3M-parameter zoo pipeline whose weights load in 0.03 s). The executor names the modules
and classes its jobs will touch (``warm_targets``); the fork server's preload module resolves them
(``warm``), so every forked job starts with them in memory and ``load_s`` is the pipeline's own load.

Only imports happen here: nothing allocates tensors or starts thread pools, which a fork would inherit
half-initialised. A target that fails to import is left for the job itself to report.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from harness.backends import BACKENDS
from harness.config import ConfigSource, LocalSource, ModelCard
from harness.config.job import Job
from harness.loaders.from_config import component_classes, read_model_index
from harness.metrics import METRICS

ENV = "HARNESS_WARM_TARGETS"

# What every job runs through, whatever its card: the pipeline loader and diffusers' loading machinery (which
# looks up every pipeline-module class, ONNX's included), and the worker's measuring modules.
COMMON = (
    "diffusers.pipelines.pipeline_utils:DiffusionPipeline",
    "diffusers.pipelines.onnx_utils",
    "harness.loaders.diffusers_pipeline",
    "harness.execute.worker",
    "harness.backends.eager",
    "harness.measure.timing",
    "harness.measure.stats",
    "harness.measure.stages",
    "harness.measure.conditions",
    "harness.measure.energy",
    "harness.results.record",
)


def warm_targets(jobs: Iterable[Job]) -> list[str]:
    """``"module"`` and ``"module:attr"`` strings for everything ``jobs`` will import: their pipelines and
    components (from ``model_index.json`` where the card's folder has one), schedulers (with the schedulers
    diffusers lists as compatible, which it imports when it loads one), backends and metrics."""
    out: dict[str, None] = dict.fromkeys(COMMON)
    cards: set[str] = set()
    for job in jobs:
        if job.card_path not in cards:
            cards.add(job.card_path)
            out.update(dict.fromkeys(_card_targets(job.card)))
        if job.call.scheduler is not None:
            out[f"scheduler:{job.call.scheduler.name}"] = None
        if job.backend in BACKENDS:
            out[BACKENDS.target(job.backend)] = None
            out.update(dict.fromkeys(_RUNTIMES.get(job.backend, ())))
        for spec in job.metrics:
            if spec.name in METRICS:
                out[METRICS.target(spec.name)] = None
    return list(out)


_RUNTIMES = {"onnxruntime": ("onnxruntime", "onnx"), "compile": ("torch._dynamo", "torch._inductor.config")}


def _card_targets(card: ModelCard) -> list[str]:
    targets = [card.pipeline if ":" in card.pipeline else f"diffusers:{card.pipeline}"]
    folder = _card_folder(card)
    if folder is not None:
        try:
            components = component_classes(read_model_index(folder)).values()
        except (OSError, ValueError):
            components = []  # the job reports it; warming is best effort
        for library, name in components:
            if library in ("diffusers", "transformers"):
                targets.append(f"scheduler:{name}" if "Scheduler" in name else f"{library}:{name}")
    if card.defaults.scheduler is not None:
        targets.append(f"scheduler:{card.defaults.scheduler.name}")
    return targets


def _card_folder(card: ModelCard) -> Path | None:
    """The folder of a card's pipeline where it has one here (a local or config source)."""
    if isinstance(card.source, LocalSource | ConfigSource):
        return card.resolve(card.source.path)
    return None


def warm(targets: Iterable[str]) -> list[str]:
    """Import each target (``module``, ``module:attr``, or ``scheduler:Name`` for a diffusers scheduler and its
    compatibles); returns the ones that failed, which are otherwise ignored."""
    failed = []
    for target in targets:
        try:
            if target.startswith("scheduler:"):
                import diffusers

                cls = getattr(diffusers, target.split(":", 1)[1])
                getattr(cls, "_get_compatibles", lambda: None)()
                continue
            module, _, attr = target.partition(":")
            obj = importlib.import_module(module)
            if attr:
                getattr(obj, attr)
        except Exception:
            failed.append(target)
    return failed


def warm_from_environment() -> list[str]:
    """The fork server's step: warm what the executor put in ``$HARNESS_WARM_TARGETS`` (a JSON list)."""
    try:
        targets = json.loads(os.environ.get(ENV, "[]"))
    except ValueError:
        return []
    return warm(t for t in targets if isinstance(t, str))
