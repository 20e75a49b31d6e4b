"""Expand a suite into Jobs with stable ids; check everything that can be checked before running."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from harness.config import CallArgs, ModelCard, Suite, Workload, scenario_list, workload_for
from harness.config.backends import check_backend, parse_backend_options
from harness.config.catalog import find_card
from harness.config.job import Job, JobMetric, portable_path
from harness.core.errors import UserInputError
from harness.core.registry import did_you_mean
from harness.results.columns import (
    COLUMN_NEEDS,
    MACHINE_NEEDS,
    NEEDS_ENERGY_METER,
    SPEED_COLUMNS,
    JobKind,
    MetricKind,
    Producers,
    metric_unmeasurable,
    unmeasurable,
)

__all__ = ["Job", "JobMetric", "check_suite", "job_id", "plan", "portable_path", "safe_name"]


def safe_name(text: str) -> str:
    """A file-name-safe rendering of any name (cards may carry hostile ones)."""
    cleaned = re.sub(r"[^A-Za-z0-9._=,+-]+", "_", text).strip("._") or "x"
    return cleaned[:80]


def job_id(model: str, variant: str, backend: str, scenario: str | None = None) -> str:
    """A stable id: the same model, variant, backend (and LoadGen scenario, when there is one) → the same id."""
    parts = [model, variant, backend] + ([scenario] if scenario else [])
    digest = hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:8]
    return "__".join([*(safe_name(p) for p in parts), digest])


def load_prompts(suite: Suite, wl: Workload | None = None) -> list[str] | None:
    wl = wl or suite.workload
    if wl.prompts_file is None:
        return wl.prompts
    from harness.config import check_inside

    path = check_inside(suite.resolve(wl.prompts_file), suite.path, field="workload.prompts_file")
    if not path.is_file():
        raise UserInputError(
            f"prompts file not found: {path} (set the variable it names, or write the file)",
            source=str(suite.path),
            field="workload.prompts_file",
        )
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    prompts = [ln for ln in lines if ln and not ln.startswith("#")]
    if not prompts:
        raise UserInputError(
            f"prompts file is empty: {path}", source=str(suite.path), field="workload.prompts_file"
        )
    return prompts


def check_suite(
    suite: Suite, *, check_files: bool = True, only: list[str] | None = None, device: str | None = None
) -> dict[str, ModelCard]:
    """Everything that can be checked without torch: names of cards, backends, metrics, objectives, and that
    every metric, objective, constraint and gate names something a job of the suite can measure.

    With ``only`` (``harness run --only``), a card the selection does not name by its reference and that
    fails to load (a local folder that is not on this machine) is left out instead of failing the run;
    ``plan`` says so if the selection then matches nothing. ``device``: the device ``harness run`` resolved
    for the jobs on this machine (its energy meter is then looked for, not assumed); None: the suite's own.
    """
    source = str(suite.path) if suite.path else None
    for i, name in enumerate(suite.backends):
        check_backend(name, source=source, field=f"backends[{i}]")
    metric_kinds = check_metrics(suite, check_files=check_files)
    columns = [*SPEED_COLUMNS, *suite.metric_names]
    for obj in suite.objectives:
        if obj not in columns:
            raise UserInputError(
                f"unknown objective '{obj}' ({did_you_mean(obj, columns)})", source=source, field="objectives"
            )
    for key, bounds in (("constraints", suite.constraints), ("fidelity_bounds", suite.fidelity_bounds)):
        allowed = columns if key == "constraints" else suite.metric_names
        for i, c in enumerate(bounds):
            if c.metric not in allowed:
                raise UserInputError(
                    f"unknown metric '{c.metric}' ({did_you_mean(c.metric, allowed)})",
                    source=source,
                    field=f"{key}[{i}].metric",
                )
    cards: dict[str, ModelCard] = {}
    unloaded: dict[str, str] = {}  # with --only: unselected-by-reference cards that did not load
    for i, entry in enumerate(suite.models):
        try:
            card = find_card(entry.card, suite)
        except UserInputError as exc:
            if only and entry.card not in only:
                unloaded[entry.card] = exc.detail
                continue
            raise UserInputError(exc.detail, source=exc.source or source, field=f"models[{i}].card") from None
        cards[entry.card] = card
        check_card(card)
        for j, v in enumerate(entry.variants):
            if v.backend is not None:
                check_backend(v.backend, source=source, field=f"models[{i}].variants[{j}].backend")
            for backend in [v.backend] if v.backend else suite.backends:
                parse_backend_options(
                    backend,
                    v.backend_options,
                    source=source,
                    field=f"models[{i}].variants[{j}].backend_options",
                )
            _check_call(card, v.overrides, field=f"models[{i}].variants[{j}].overrides", source=source)
        wl = workload_for(suite, entry)
        needs_text = card.task.startswith("text-to")
        if needs_text and not (wl.prompts or wl.prompts_file):
            raise UserInputError(
                f"card '{card.name}' is {card.task}: the workload needs prompts or prompts_file",
                source=source,
                field="workload",
            )
        if card.task == "class-conditional" and not wl.class_labels:
            raise UserInputError(
                f"card '{card.name}' is class-conditional: the workload needs class_labels",
                source=source,
                field="workload.class_labels",
            )
        if check_files and wl.prompts_file:
            load_prompts(suite, wl)
        if wl.shards > 1:
            where = (
                f"models[{i}].workload.shards"
                if entry.workload and "shards" in entry.workload.model_fields_set
                else "workload.shards"
            )
            check_shards(suite, wl, [v.batch_size or wl.batch_size for v in entry.variants], source, where)
        check_sample_counts(suite, wl, [v.batch_size or wl.batch_size for v in entry.variants], source)
    if not unloaded:  # with cards left out (--only), what the others measure is not the suite's whole story
        check_measurable(suite, _producers(suite, cards, metric_kinds, device))
    return cards


def check_on_device(suite: Suite, device: str, *, only: list[str] | None = None) -> None:
    """What ``harness run`` checks again once it has resolved the device the jobs run on here: a column that
    needs a CUDA device or an energy meter (``may_be_absent`` aside) is measured on this machine's, not assumed."""
    named = {*suite.objectives, *suite.gates, *(c.metric for c in suite.constraints)} - set(
        suite.may_be_absent
    )
    if any(COLUMN_NEEDS.get(c) in MACHINE_NEEDS for c in named):
        check_suite(suite, only=only, device=device)


def _producers(
    suite: Suite, cards: dict[str, ModelCard], metrics: dict[str, MetricKind], device: str | None
) -> Producers:
    """What the suite's jobs can measure (:class:`~harness.results.columns.Producers`)."""
    jobs = set()
    for entry in suite.models:
        card = cards[entry.card]
        for v in entry.variants:
            for sc in scenario_list(v.scenario or entry.scenario or suite.scenario) or [None]:
                kind = sc.kind if sc is not None and sc.uses_loadgen else None
                bound = kind == "server" and sc is not None and sc.latency_bound_ms is not None
                jobs.add(JobKind(card.modality, not card.random_weights, kind, bound))
    where = device or suite.device
    named = {*suite.objectives, *suite.gates, *(c.metric for c in suite.constraints)}
    needs_meter = any(COLUMN_NEEDS.get(c) == NEEDS_ENERGY_METER for c in named)
    return Producers(
        jobs=frozenset(jobs),
        metrics=metrics,
        device=where,
        energy_meter=_missing_energy_meter(where, measured=device is not None) if needs_meter else None,
        price="the suite sets no cost" if suite.cost is None else suite.cost.missing_price(where),
        may_be_absent=frozenset(suite.may_be_absent),
    )


def _missing_energy_meter(device: str, *, measured: bool) -> str | None:
    """Why the jobs on ``device`` would have no energy counter; None when they have one. Measured: the
    counters of this machine for the resolved device; else a CUDA device's NVML counter is assumed (it is read
    on the machine that runs the jobs) and only a cpu suite needs RAPL here."""
    from harness.measure.energy import counters, rapl_zones

    if measured:
        available, absent = counters(device)
        return None if available else "; ".join(absent)
    if device != "cpu":
        return None
    zones, why = rapl_zones()
    return None if zones else f"rapl: {why}"


def check_measurable(suite: Suite, producers: Producers) -> None:
    """Every metric applies to a job of the suite, and every objective, constraint, fidelity bound and gate
    names a column a job can give a value (:func:`harness.results.columns.unmeasurable`); else bad input."""
    source = str(suite.path) if suite.path else None
    for i, name in enumerate(suite.metric_names):
        why = metric_unmeasurable(name, producers)
        if why:
            raise UserInputError(f"measures nothing: {why}", source=source, field=f"metrics[{i}]")
    named = [
        *((f"objectives.{c}", c) for c in suite.objectives),
        *((f"constraints[{i}].metric", c.metric) for i, c in enumerate(suite.constraints)),
        *((f"fidelity_bounds[{i}].metric", c.metric) for i, c in enumerate(suite.fidelity_bounds)),
        *((f"gates.{c}", c) for c in suite.gates),
    ]
    for where, column in named:
        why = unmeasurable(column, producers)
        if why:
            raise UserInputError(f"cannot be measured: {why}", source=source, field=where)


def _check_call(card: ModelCard, call: CallArgs, *, field: str, source: str | None) -> None:
    from harness.loaders.signature import check_call_args

    try:
        check_call_args(card.pipeline, call, field=field, source=source)
    except UserInputError as exc:
        where = exc.source or source
        raise UserInputError(
            f"{exc.detail} (card '{card.name}')" if where != str(card.path) else exc.detail,
            source=where,
            field=exc.field,
        ) from None


def check_card(card: ModelCard) -> None:
    """What can be checked of a card without importing its pipeline: that ``pipeline`` names a class that
    exists, and that its ``defaults`` are arguments that class's ``__call__`` takes."""
    from harness.loaders.signature import check_call_args, locate_pipeline

    source = str(card.path) if card.path else None
    try:
        locate_pipeline(card.pipeline)
    except UserInputError as exc:
        raise UserInputError(exc.detail, source=source, field=exc.field) from None
    check_call_args(card.pipeline, card.defaults, field="defaults", source=source)


def check_shards(suite: Suite, wl: Workload, batch_sizes: list[int], source: str | None, field: str) -> None:
    """A sharded quality pass (#26): each shard makes whole batches (so that every item is generated as in one
    pass), so there are no more shards than batches; and every metric's state must merge."""
    from harness.metrics import METRICS

    for batch in sorted(set(batch_sizes), reverse=True):
        samples = wl.num_samples or batch
        batches = -(-samples // batch)
        if wl.shards > batches:
            raise UserInputError(
                f"{wl.shards} shards but the quality pass is {batches} batch{'es' if batches > 1 else ''} "
                f"({samples} samples, batch_size {batch}): each shard makes whole batches (allowed: 1 to "
                f"{batches}; or more num_samples)",
                source=source,
                field=field,
            )
    for i, m in enumerate(suite.metrics):
        why = METRICS.get(m if isinstance(m, str) else m.name).mergeable()
        if why:
            raise UserInputError(f"{why} (allowed with shards: 1)", source=source, field=f"metrics[{i}]")


def check_sample_counts(suite: Suite, wl: Workload, batch_sizes: list[int], source: str | None) -> None:
    """Each metric that needs a least number of samples per job (``min_samples``: C2ST's folds) gets them."""
    from harness.metrics import METRICS

    samples = wl.num_samples or min(batch_sizes)
    for i, m in enumerate(suite.metrics):
        cls = METRICS.get(m if isinstance(m, str) else m.name)
        need = getattr(cls, "min_samples", None)
        if need is None:
            continue
        key, minimum, why = need(cls.parse_options({} if isinstance(m, str) else m.options))
        if samples < minimum:
            raise UserInputError(
                f"{cls.name}: {why}, but a job makes {samples} (workload.num_samples): lower {key} or raise "
                "num_samples",
                source=source,
                field=f"metrics[{i}].options.{key}",
            )


def check_metrics(suite: Suite, *, check_files: bool = True) -> dict[str, MetricKind]:
    """Metric names, their options (typed, with did-you-mean, and not contradicting each other or the feature
    extractor they name), option paths (inside the allowed folders and, with ``check_files``, present), and
    gates whose sign contradicts a metric's direction. Returns where each metric applies."""
    from harness.config.gates import check_gate_keys
    from harness.metrics import METRICS
    from harness.metrics.applies import metric_modalities

    source = str(suite.path) if suite.path else None
    directions: dict[str, bool] = {}
    kinds: dict[str, MetricKind] = {}
    for i, m in enumerate(suite.metrics):
        name = m if isinstance(m, str) else m.name
        METRICS.check(name, source=source, field=f"metrics[{i}]")
        cls = METRICS.get(name)
        directions[name] = bool(cls.higher_is_better)
        options = {} if isinstance(m, str) else m.options
        cls.parse_options(options, source=source, field=f"metrics[{i}].options")
        try:  # the metric as a job builds it (nothing loads): what its constructor or extractor would refuse
            modalities = metric_modalities(cls.build(options))
        except (TypeError, ValueError) as exc:
            raise UserInputError(f"{name}: {exc}", source=source, field=f"metrics[{i}].options") from None
        kinds[name] = MetricKind(modalities, bool(cls.requires_trained_weights))
    for i, spec in enumerate(suite.metric_specs()):  # resolves *_path options inside the allowed folders
        for key, value in spec["options"].items():
            if check_files and key.endswith("_path") and isinstance(value, str) and not Path(value).exists():
                raise UserInputError(
                    f"{value} does not exist (paths are relative to the suite file)",
                    source=source,
                    field=f"metrics[{i}].options.{key}",
                )
    try:
        check_gate_keys(suite.gates, suite.metric_names, directions)
    except ValueError as exc:
        raise UserInputError(str(exc), source=source, field="gates") from None
    return kinds


def _variant_selection(suite: Suite, cards: dict[str, ModelCard], only: list[str] | None) -> dict[str, Any]:
    """``--only card/variant`` entries: card name or reference → the variants picked. ``__refs__`` lists the
    entries read so. An entry whose part before the last ``/`` is no card of the suite stays a card reference
    (a card path)."""
    out: dict[str, Any] = {"__refs__": []}
    for item in only or []:
        ref, sep, variant = item.rpartition("/")
        if not sep or not variant:
            continue
        entry = next(
            (e for e in suite.models if e.card in cards and ref in (e.card, cards[e.card].name)), None
        )
        if entry is None:
            continue
        names = [v.name for v in entry.variants]
        if variant not in names:
            raise UserInputError(
                f"--only: {cards[entry.card].name} has no variant '{variant}' ({did_you_mean(variant, names)})"
            )
        out.setdefault(cards[entry.card].name, set()).add(variant)
        out["__refs__"].append(item)
    return out


def plan(suite: Suite, only: list[str] | None = None) -> list[Job]:
    """Suite × cards × variants × backends → Jobs, baselines first within each model."""
    cards = check_suite(suite, only=only)
    wanted_variants = _variant_selection(suite, cards, only)
    selecting = bool(only)
    if only:
        only = [m for m in only if m not in wanted_variants["__refs__"]]
        unknown = [
            m
            for m in only
            if m not in {c.name for c in cards.values()} and m not in cards and m not in wanted_variants
        ]
        if unknown:
            names = sorted({c.name for c in cards.values()})
            unloaded = [e.card for e in suite.models if e.card not in cards]
            hint = f"; not loaded: {', '.join(unloaded)}" if unloaded else ""
            raise UserInputError(
                f"--only: unknown model '{unknown[0]}' in this suite ({did_you_mean(unknown[0], names)}{hint})"
            )
    metrics = tuple(JobMetric.parse(m["name"], m["options"]) for m in suite.metric_specs())
    jobs: list[Job] = []
    for entry in suite.models:
        if entry.card not in cards:
            continue  # left out by --only and not loadable here
        card = cards[entry.card]
        picked = wanted_variants.get(card.name) or wanted_variants.get(entry.card)
        if selecting and card.name not in (only or []) and entry.card not in (only or []) and not picked:
            continue
        wl = workload_for(suite, entry)
        prompts = load_prompts(suite, wl)
        variants = sorted(entry.variants, key=lambda v: v.name != entry.baseline)
        baseline_id: str | None = None
        for variant, backend, scenario in (
            (v, b, sc)
            for v in variants
            for b in ([v.backend] if v.backend else suite.backends)
            for sc in (scenario_list(v.scenario or entry.scenario or suite.scenario) or [None])
        ):
            uses_loadgen = scenario is not None and scenario.uses_loadgen
            jid = job_id(card.name, variant.name, backend, scenario.display_name if uses_loadgen else None)
            call = card.defaults.merged(variant.overrides)
            batch = variant.batch_size or wl.batch_size
            # The baseline is the baseline variant under its first backend (eager in most suites).
            is_baseline = variant.name == entry.baseline and baseline_id is None
            if picked and variant.name not in picked and card.name not in (only or []):
                if is_baseline:  # not run (--only), but still what the others compare against
                    baseline_id = jid
                continue
            jobs.append(
                Job(
                    job_id=jid,
                    suite=suite.name,
                    model=card.name,
                    variant=variant.name,
                    backend=backend,
                    backend_options=parse_backend_options(backend, variant.backend_options),
                    dtype=variant.dtype or card.dtype,
                    batch_size=batch,
                    call=call,
                    card_path=str(card.path),
                    baseline_job_id=None if is_baseline else baseline_id,
                    modality=card.modality,
                    task=card.task,
                    random_weights=card.random_weights,
                    card=card,
                    prompts=tuple(prompts) if prompts and card.task.startswith("text-to") else None,
                    class_labels=tuple(wl.class_labels)
                    if wl.class_labels and card.task == "class-conditional"
                    else None,
                    seed=wl.seed,
                    num_samples=wl.num_samples or batch,
                    shards=wl.shards,
                    audit_atol=wl.audit_atol,
                    metrics=metrics,
                    measurement=suite.measurement,
                    threads=suite.threads,
                    fidelity_bounds=tuple(suite.fidelity_bounds),
                    cost=suite.cost,
                    scenario=scenario if uses_loadgen else None,
                )
            )
            if is_baseline:
                baseline_id = jid
    ids = [j.job_id for j in jobs]
    if len(set(ids)) != len(ids):
        raise UserInputError(
            "two jobs of the suite have the same model, variant, backend and scenario", source=str(suite.path)
        )
    return jobs


def write_plan(jobs: list[Job], path: Path) -> None:
    path.write_text(json.dumps([j.to_dict() for j in jobs], indent=1))
