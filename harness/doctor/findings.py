"""What ``harness doctor`` reports: one :class:`Finding` per check, gathered in a :class:`DoctorReport`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Finding:
    """One check's answer. ``ok=False`` makes the machine unfit to measure; ``ok=None`` is information."""

    section: str
    name: str
    value: str
    ok: bool | None
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoctorReport:
    """Every finding on one device, and how long the checks took."""

    device: str
    findings: list[Finding]
    seconds: float = 0.0

    @property
    def reasons(self) -> list[str]:
        return [f"{f.section}: {f.name}: {f.detail or f.value}" for f in self.findings if f.ok is False]

    @property
    def fit(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "fit": self.fit,
            "reasons": self.reasons,
            "seconds": self.seconds,
            "findings": [asdict(f) for f in self.findings],
        }
