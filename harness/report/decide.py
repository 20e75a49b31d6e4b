"""What a lead reads first: per modality, the fastest job meeting each constraint set, the knee, the ties."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.core.numfmt import fmt
from harness.report.panels import label_of
from harness.results.pareto import describe_constraint, feasible_mask, pick_best

MODALITY_ORDER = ("image", "video", "audio")


def speed_objective(objectives: dict[str, str]) -> tuple[str, str]:
    """The column "fastest" refers to: the first latency or throughput objective, else ``latency_ms.p50``."""
    for name, direction in objectives.items():
        if name.startswith(("latency", "throughput")):
            return name, direction
    return "latency_ms.p50", "min"


@dataclass
class Recommendation:
    constraints: list[str]
    text: str
    label: str | None  # the job recommended, None when no job meets the constraints
    value: float | None = None


@dataclass
class ModalitySummary:
    modality: str
    n_jobs: int
    front: list[str] = field(default_factory=list)
    tied: list[str] = field(default_factory=list)
    infeasible: list[tuple[str, str]] = field(default_factory=list)  # (label, what is violated)
    knee: str | None = None
    recommendations: list[Recommendation] = field(default_factory=list)


def constraint_sets(constraints: list[Any]) -> list[list[Any]]:
    """All constraints together; then each alone when there are several; ``[[]]`` when there are none."""
    if not constraints:
        return [[]]
    return [list(constraints), *([[c] for c in constraints] if len(constraints) > 1 else [])]


def summarize_frontier(ok, objectives: dict[str, str], constraints: list[Any]) -> list[ModalitySummary]:
    """Per modality (image, video, audio order), from a table classified by :func:`harness.results.pareto.classify`."""
    if ok is None or ok.empty:
        return []
    speed, direction = speed_objective(objectives)
    out = []
    present = [m for m in MODALITY_ORDER if m in set(ok["modality"])]
    present += [m for m in dict.fromkeys(ok["modality"]) if m not in present]
    for modality in present:
        part = ok[ok["modality"] == modality] if modality is not None else ok[ok["modality"].isna()]
        s = ModalitySummary(str(modality), len(part))
        labels = {i: label_of(row) for i, row in part.iterrows()}
        s.front = [labels[i] for i in part.index[part["on_front"]]]
        s.tied = [labels[i] for i in part.index[part["tied"]]]
        s.infeasible = [(labels[i], part.at[i, "violations"]) for i in part.index[~part["feasible"]]]
        knee = part.index[part["knee"]]
        s.knee = labels[knee[0]] if len(knee) else None
        combined = None
        for cset in constraint_sets(constraints):
            described = [describe_constraint(c) for c in cset]
            best = pick_best(part, speed, direction, feasible_mask(part, cset))
            word = "fastest" if speed.startswith("latency") else f"best {speed}"
            meeting = f" meeting {' and '.join(described)}" if described else ""
            if best is None:
                text = f"No {modality} job{' meets ' + ' and '.join(described) if described else ' has ' + speed}."
                s.recommendations.append(Recommendation(described, text, None))
                continue
            if combined is not None and len(cset) == 1 and best == combined:
                continue  # the same answer as with every constraint: say it once
            combined = best if combined is None else combined
            value = float(part.at[best, speed])
            unit = " ms" if speed.startswith("latency") else ""
            text = f"{word.capitalize()} {modality} job{meeting}: {labels[best]} ({speed} {fmt(value)}{unit})"
            s.recommendations.append(Recommendation(described, text, labels[best], value))
        out.append(s)
    return out
