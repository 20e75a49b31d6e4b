"""Accuracy windows as constraints: ``{fid: [23.0109, 23.9501]}`` (MLPerf's SDXL rule), end to end."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.cli import main
from harness.config import Constraint, load_suite
from harness.core.errors import UserInputError
from harness.results.pareto import classify, constraint_violations, describe_constraint
from tests.helpers import tiny_suite


def test_the_short_form_is_a_window_with_both_ends():
    c = Constraint.model_validate({"fid": [23.0109, 23.9501]})
    assert (c.metric, c.min, c.max, c.is_window) == ("fid", 23.0109, 23.9501, True)
    assert c == Constraint(metric="fid", min=23.0109, max=23.9501)
    assert describe_constraint(c) == "23.0109 ≤ fid ≤ 23.9501"
    assert c.violation(23.5) is None and c.violation(23.0109) is None and c.violation(23.9501) is None
    assert c.violation(22.9) == "fid 22.9 outside its window [23.0109, 23.9501]"
    assert c.violation(24.0) == "fid 24 outside its window [23.0109, 23.9501]"
    assert c.violation(None) == "fid has no value"
    assert not Constraint(metric="psnr", min=30).is_window


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"fid": [24.0, 23.0]}, r"window of 'fid': the low end 24 is not below the high end 23"),
        ({"fid": [23.0]}, r"a window is 'fid: \[low, high\]' \(two numbers\), got \[23\.0\]"),
        ({"fid": [True, 2]}, r"window of 'fid': True is not a number"),
        ({"fid": ["a", 2]}, r"window of 'fid': 'a' is not a number"),
        ({"metirc": "fid"}, r"metirc"),  # a typo in the full form is still an unknown key, not a window
        ({"metric": "fid", "min": 3, "max": 1}, r"bound on 'fid': min 3 is above max 1"),
    ],
)
def test_bad_windows_are_one_line_errors(item, message, write_yaml):
    path = write_yaml("s.yaml", tiny_suite(constraints=[item]))
    with pytest.raises(UserInputError, match=message):
        load_suite(path)


def test_a_window_on_an_unknown_metric_is_refused_before_any_job(write_yaml, capsys):
    path = write_yaml("s.yaml", tiny_suite(constraints=[{"psnrr": [20, 30]}]))
    assert main(["validate", str(path)]) == 2
    assert "constraints[0].metric: unknown metric 'psnrr' (did you mean 'psnr'" in capsys.readouterr().err


def test_only_jobs_inside_the_window_are_feasible():
    table = pd.DataFrame(
        {
            "modality": ["image"] * 4,
            "latency_ms.p50": [1.0, 2.0, 3.0, 4.0],
            "fid": [22.0, 23.5, 23.9, 25.0],
        }
    )
    window = [Constraint.model_validate({"fid": [23.0109, 23.9501]})]
    v = constraint_violations(table, window)
    assert list(v == "") == [False, True, True, False]
    assert v[0] == "fid 22 outside its window [23.0109, 23.9501]"
    out = classify(table, {"latency_ms.p50": "min", "fid": "min"}, window, group_by="modality")
    assert list(out["frontier_status"]) == ["infeasible", "front", "dominated", "infeasible"]


def test_the_mlperf_sdxl_suite_carries_mlperfs_two_windows(root):
    suite = load_suite(root / "suites" / "mlperf-sdxl.yaml")
    windows = {c.metric: (c.min, c.max) for c in suite.constraints if c.is_window}
    assert windows["fid"] == (23.01085758, 23.95007626)
    assert windows["clip_score"] == (31.68631873, 31.81331801)


def test_infinity_is_drawn_beyond_every_threshold_so_never_inside_a_window_it_breaks():
    import numpy as np

    from harness.report.panels import finite_for_plot

    drawn, pos = finite_for_plot(np.array([24.0, 26.0, np.inf]), [("min", 24.0), ("max", 31.0)])
    assert pos > 31.0 and drawn[2] == pos and list(drawn[:2]) == [24.0, 26.0]
    drawn, _ = finite_for_plot(np.array([24.0, -np.inf]), [("min", 10.0)])
    assert drawn[1] < 10.0
