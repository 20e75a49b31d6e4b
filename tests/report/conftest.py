"""Fabricated run folders for the report tests: small, written by hand, deterministic."""

from __future__ import annotations

import pytest

from harness.report.demo import DEMO_JOBS, demo_record, fabricate_run

HOSTILE = "<script>alert(1)</script>"
TWO_OBJECTIVES = {"latency_ms.p50": "min", "psnr": "max"}


def hostile_record() -> dict:
    """An ok image record whose names try to break out of HTML, Markdown and matplotlib's mathtext."""
    rec = demo_record(
        50,
        HOSTILE,
        '"><img src=x onerror=alert(2)>',
        "image",
        60.0,
        (58.0, 62.0),
        25.0,
        (24.0, 26.0),
        990.0,
        [],
    )
    rec["backend"] = "eager$|`*_"
    return rec


@pytest.fixture(scope="session")
def demo_report(tmp_path_factory):
    """The demo run (every frontier status among its image jobs, one failed job, one job with hostile
    names) and its report, built once: the tests only read it."""
    from harness.report import build_report

    run = fabricate_run(tmp_path_factory.mktemp("runs"), "demo-run", extra_records=[hostile_record()])
    return run, build_report(run)


def small_run(parent, name: str, **kw):
    """Four image jobs, two objectives: one plot with one panel, quick to report."""
    kw.setdefault("samples", 1)
    kw.setdefault("failed", False)
    kw.setdefault("jobs", DEMO_JOBS[:4])
    return fabricate_run(parent, name, objectives=TWO_OBJECTIVES, **kw)
