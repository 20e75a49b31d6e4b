"""Model cards and suites: strict schemas (unknown keys are errors) and their YAML loaders.

Every validation error becomes one line, ``file: field: what is wrong (what is allowed)``, raised as
:class:`~harness.core.errors.UserInputError` so the CLI exits 2 without a traceback.

One module per job: ``fields`` (the strict base model, bounded numbers, vocabularies), ``card`` (the model
card and its call arguments), the suite's sections (``workload``, ``measurement``, ``scenario``, ``variants``,
``objectives``, ``cost``, ``gates``), ``suite``, ``roots`` (where paths may point), ``overrides`` (``--set``),
``loading`` (YAML → card or suite); ``catalog``, ``plan`` and ``scaffold`` build on them. The names below
are re-exported so ``from harness.config import Suite`` reads as before.
"""

from __future__ import annotations

from harness.config.card import (
    CallArgs,
    ConfigSource,
    HubSource,
    LocalSource,
    ModelCard,
    SchedulerSpec,
    Source,
)
from harness.config.cost import CostSpec
from harness.config.fields import (
    MAX_COUNT,
    MAX_SEED,
    NAME_PATTERN,
    Direction,
    DType,
    Modality,
    Strict,
    Task,
)
from harness.config.loading import CARD_KEYS, SUITE_KEYS, load_card, load_suite, sniff_kind
from harness.config.measurement import Measurement
from harness.config.objectives import Constraint
from harness.config.overrides import apply_overrides, parse_override
from harness.config.roots import ROOTS_ENV, allowed_roots, check_inside
from harness.config.scenario import PERCENTILES, ScenarioField, ScenarioSpec, SearchSpec, scenario_list
from harness.config.suite import SUITE_VERSIONS, MetricSpec, Suite, workload_for
from harness.config.variants import VARIANT_FIELDS, ModelEntry, VariantSpec
from harness.config.workload import Workload

__all__ = [
    "CARD_KEYS",
    "MAX_COUNT",
    "MAX_SEED",
    "NAME_PATTERN",
    "PERCENTILES",
    "ROOTS_ENV",
    "SUITE_KEYS",
    "SUITE_VERSIONS",
    "VARIANT_FIELDS",
    "CallArgs",
    "ConfigSource",
    "Constraint",
    "CostSpec",
    "DType",
    "Direction",
    "HubSource",
    "LocalSource",
    "Measurement",
    "MetricSpec",
    "Modality",
    "ModelCard",
    "ModelEntry",
    "ScenarioField",
    "ScenarioSpec",
    "SchedulerSpec",
    "SearchSpec",
    "Source",
    "Strict",
    "Suite",
    "Task",
    "VariantSpec",
    "Workload",
    "allowed_roots",
    "apply_overrides",
    "check_inside",
    "load_card",
    "load_suite",
    "parse_override",
    "scenario_list",
    "sniff_kind",
    "workload_for",
]
