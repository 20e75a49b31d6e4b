"""Where a metric applies, given its options, and whether those options fit the feature extractor it names.

A metric declares the sample modalities it scores (``Metric.modalities``). One that runs a registered feature
extractor (``fid``, ``kid``, ``cmmd``, ``prdc_*``, ``fvd``, ``fad``…: its ``extractor_request()``) applies only
where that extractor takes the samples too (``fid`` with ``extractor: digits-extractor``: images only), and
the options it hands the extractor must be ones the extractor takes (``resize: clean`` means nothing to CLIP).
``harness validate`` asks :func:`metric_modalities` before any job, so such a contradiction is bad input
there rather than a ``TypeError`` in the middle of a run; a job's scorer asks it to tell a metric of another
modality (``not_applicable``) from one that failed.

This module imports the modules that register the video and audio extractors, so that every extractor is
registered (nothing heavy: no torch, no weights).
"""

from __future__ import annotations

import importlib
import inspect
import typing
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean
from harness.metrics.audio_features import AUDIO_EXTRACTORS
from harness.metrics.extractors import EXTRACTORS, extractor_spec
from harness.metrics.video_features import VIDEO_EXTRACTORS

__all__ = [
    "check_extractor_options",
    "extractor_builder",
    "extractor_class",
    "extractor_modalities",
    "metric_modalities",
    "registered_extractors",
]

# What build_extractor passes every builder itself: not the suite's to set through a metric's options.
_BUILD_ARGUMENTS = frozenset({"self", "device", "weights_dir", "batch_size"})


def registered_extractors() -> dict[str, Any]:
    """Every registered extractor: the image ones and those the video and audio modules register on import."""
    return EXTRACTORS


def extractor_builder(name: str) -> Any:
    """The registered builder of ``name`` (imported: its module's top-level imports run, no weights load)."""
    builder = extractor_spec(name).builder
    if isinstance(builder, str):
        module, _, attr = builder.partition(":")
        builder = getattr(importlib.import_module(module), attr)
    return builder


def extractor_modalities(name: str) -> tuple[str, ...]:
    """The sample modalities an extractor takes: its builder's ``modalities`` where it declares them, else
    video or audio for those modules' extractors, else images or every frame of a video."""
    if name in VIDEO_EXTRACTORS:
        return ("video",)
    if name in AUDIO_EXTRACTORS:
        return ("audio",)
    return tuple(getattr(extractor_builder(name), "modalities", ("image", "video")))


def extractor_class(name: str) -> type | None:
    """The class a registered extractor's builder makes: the builder itself, or the class its return
    annotation names (``def _build_clip(**kw) -> CLIPImageFeatures``); None where neither says."""
    builder = extractor_builder(name)
    if isinstance(builder, type):
        return builder
    try:
        made = typing.get_type_hints(builder).get("return")
    except (NameError, TypeError):
        return None
    return made if isinstance(made, type) else None


def check_extractor_options(name: str, options: Mapping[str, Any]) -> None:
    """That extractor ``name`` takes each of ``options`` (what a metric builds it with besides device, weights
    and batch size): a name its constructor has, a value of its type, a ``resize`` among its ``RESIZES``.

    Raises:
        ValueError: ``option: what is wrong (what is allowed)`` for the first option it does not take.
    """
    cls = extractor_class(name)
    if cls is None:
        return  # a builder that does not say what it builds: its own check at run time applies
    signature = inspect.signature(cls.__init__)
    if any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    takes = [p for p in signature.parameters if p not in _BUILD_ARGUMENTS]
    try:
        hints = typing.get_type_hints(cls.__init__)
    except (NameError, TypeError):
        hints = {}
    for key, value in options.items():
        where = "resize" if key == "resize" else f"extractor_options.{key}"
        if key not in takes:
            hint = "leave it out with this extractor" if key == "resize" else _options_hint(key, takes)
            raise ValueError(f"{where}: extractor '{name}' takes no {key} ({hint})")
        if key == "resize":
            allowed = tuple(getattr(cls, "RESIZES", ()))
            if value not in allowed:
                shown = ", ".join(allowed) if allowed else "none: its input size is fixed"
                raise ValueError(f"{where}: extractor '{name}' has no resize {value!r} (allowed: {shown})")
            continue
        if key in hints:
            try:
                TypeAdapter(hints[key]).validate_python(value, strict=True)
            except ValidationError:
                raise ValueError(
                    f"{where}: extractor '{name}' takes {_type_name(hints[key])}, got {value!r}"
                ) from None
            except Exception:  # a type pydantic cannot check: the constructor's own check applies
                continue


def _options_hint(key: str, takes: list[str]) -> str:
    return did_you_mean(key, takes) if takes else "it takes no options"


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def metric_modalities(metric: Any) -> tuple[str, ...]:
    """The sample modalities ``metric`` (built from a suite's options) applies to: its own, narrowed to those
    its feature extractor takes, where it runs one.

    Raises:
        ValueError: ``option: what is wrong (what is allowed)``: the extractor it names is unknown, takes none
            of the metric's modalities, or does not take an option the metric gives it.
    """
    own = tuple(metric.modalities)
    request = getattr(metric, "extractor_request", None)
    if request is None:
        return own
    name, options = request()
    known = registered_extractors()
    if name not in known:
        raise ValueError(f"extractor: unknown extractor '{name}' ({did_you_mean(name, known)})")
    takes = extractor_modalities(name)
    both = tuple(m for m in own if m in takes)
    if not both:
        raise ValueError(
            f"extractor: '{name}' takes {', '.join(takes)} samples and {metric.name} scores "
            f"{', '.join(own)}: they have none in common (allowed: an extractor of {', '.join(own)})"
        )
    try:
        check_extractor_options(name, options)
    except UserInputError as exc:
        raise ValueError(exc.detail) from None
    return both
