"""The CI regression gate: compare two runs job by job against per-column thresholds.

- :mod:`.thresholds`: ``gates:`` (``+10%``, ``-1e-6``…) and gate files;
- :mod:`.stats`: the latency test (Mann–Whitney U, Hodges–Lehmann), its rule and how much it can detect;
- :mod:`.baselines`: folders of per-machine baselines (the runs themselves are read by
  :mod:`harness.results.runs`, as every reader reads them);
- :mod:`.checks`: one job × one gated column; :mod:`.compare`: the comparison and its verdict (pass, fail,
  inconclusive, not compared);
- :mod:`.render`: Markdown, JUnit; :mod:`.export`: pytest-benchmark JSON; :mod:`.derive`: thresholds from noise.

No torch, no scipy: ``harness compare`` starts fast. Names are re-exported lazily so that importing one
submodule (the config imports :mod:`.thresholds`) does not import the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ALPHA": "stats",
    "shift_test": "stats",
    "latency_rule": "stats",
    "detectable_shift": "stats",
    "Threshold": "thresholds",
    "parse_threshold": "thresholds",
    "parse_gates": "thresholds",
    "load_gate_file": "thresholds",
    "record_baseline": "baselines",
    "open_baseline": "baselines",
    "Check": "checks",
    "Comparison": "compare",
    "compare_runs": "compare",
    "to_markdown": "render",
    "to_junit": "render",
    "benchmark_stats": "export",
    "to_pytest_benchmark": "export",
    "derive_gates": "derive",
    "gates_yaml": "derive",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'harness.gate' has no attribute {name!r}")
    return getattr(importlib.import_module(f"harness.gate.{_EXPORTS[name]}"), name)
