"""The gate's parts: threshold syntax, the suite's ``gates:`` field, the latency test and rule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.config import load_suite
from harness.config.gates import Threshold, parse_threshold
from harness.core.errors import UserInputError
from harness.gate.stats import ALPHA, _null_sf, latency_rule, shift_test

# ----------------------------------------------------------------------------------------- thresholds


@pytest.mark.parametrize(
    ("value", "amount", "relative", "sign"),
    [
        ("+10%", 0.10, True, 1),
        ("-5%", 0.05, True, -1),
        ("5%", 0.05, True, 0),
        ("+0.5", 0.5, False, 1),
        ("-0.5", 0.5, False, -1),
        ("1e-6", 1e-6, False, 0),
        ("-1e-6", 1e-6, False, -1),
        (" +2.5 % ", 0.025, True, 1),
        (0.5, 0.5, False, 0),  # YAML reads +0.5 as 0.5: the column's own direction
        (-0.01, 0.01, False, -1),
        (0, 0.0, False, 0),
        (3, 3.0, False, 0),
    ],
)
def test_threshold_forms(value, amount, relative, sign):
    t = parse_threshold("k", value)
    assert (t.amount, t.relative, t.sign) == (pytest.approx(amount), relative, sign)


@pytest.mark.parametrize(
    "value", ["fast", "10%%", "+-5", "%", "", "5 ms", True, None, [5], math.inf, math.nan]
)
def test_bad_thresholds(value):
    with pytest.raises(ValueError, match=r"is not a threshold \(allowed: \+N%, -N%, \+N, -N or N"):
        parse_threshold("k", value)


def test_sign_against_the_direction_is_refused():
    t = parse_threshold("psnr", "+0.5")
    assert t.worse_sign(higher_is_better=False) == 1
    with pytest.raises(UserInputError, match=r"psnr: '\+0.5' says an increase is worse.*\(write '-0.5'\)"):
        t.worse_sign(higher_is_better=True)
    with pytest.raises(UserInputError, match="cannot happen"):
        Threshold("throughput", 1.0, True, -1, "-100%").worse_sign(higher_is_better=True)


def _suite(write_yaml, gates):
    return write_yaml(
        "s.yaml", {"name": "s", "models": [{"card": "tiny-sd"}], "metrics": ["psnr", "ssim"], "gates": gates}
    )


def test_suite_gates_are_validated(write_yaml):
    ok = load_suite(
        _suite(write_yaml, {"latency_ms.p50": "+10%", "peak_rss_mib": "+5%", "psnr": -0.01, "ssim": "1e-6"})
    )
    assert ok.gates == {"latency_ms.p50": "+10%", "peak_rss_mib": "+5%", "psnr": -0.01, "ssim": "1e-6"}
    assert load_suite(_suite(write_yaml, {})).gates == {}
    with pytest.raises(
        UserInputError, match=r"s.yaml: gates: unknown column 'fd_digits' \(.*available: .*psnr"
    ):
        load_suite(_suite(write_yaml, {"fd_digits": "+0.5"}))
    with pytest.raises(UserInputError, match=r"s.yaml: gates: psnr: 'lots' is not a threshold"):
        load_suite(_suite(write_yaml, {"psnr": "lots"}))


def test_repository_suites_still_validate(root):
    for path in sorted((root / "suites").glob("*.yaml")):
        load_suite(path)


# ------------------------------------------------------------------------------------ the latency test


def test_exact_null_distribution():
    sf = _null_sf(3, 2)  # C(5, 2) = 10 orderings; U ∈ 0..6 with counts 1 1 2 2 2 1 1
    assert sf[0] == pytest.approx(1.0)
    assert np.diff(-sf).tolist() == pytest.approx([c / 10 for c in (1, 1, 2, 2, 2, 1, 1)])
    assert sf[-1] == 0.0


@pytest.mark.parametrize(("n", "m"), [(5, 5), (7, 4), (30, 30), (12, 40)])
def test_p_values_match_scipy(n, m):
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(n * m)
    base, head = rng.lognormal(0, 0.05, m), rng.lognormal(0.02, 0.05, n)
    t = shift_test(base, head)
    assert t.exact[0]
    exp_hi = stats.mannwhitneyu(head, base, alternative="greater", method="exact").pvalue
    exp_lo = stats.mannwhitneyu(head, base, alternative="less", method="exact").pvalue
    assert t.p_higher[0] == pytest.approx(exp_hi, rel=1e-9)
    assert t.p_lower[0] == pytest.approx(exp_lo, rel=1e-9)
    # Hodges–Lehmann: the median of the pairwise log-ratios
    assert t.estimate[0] == pytest.approx(np.median(np.log(head)[None, :] - np.log(base)[:, None]))


def test_ties_use_the_normal_approximation_with_tie_correction():
    stats = pytest.importorskip("scipy.stats")
    base = np.array([10.0, 10, 11, 12, 12, 13, 14])
    head = np.array([10.0, 12, 12, 13, 15, 15, 16])
    t = shift_test(base, head)
    assert not t.exact[0]
    exp = stats.mannwhitneyu(head, base, alternative="greater", method="asymptotic", use_continuity=True)
    assert t.p_higher[0] == pytest.approx(exp.pvalue, rel=1e-9)


def test_the_bounds_are_where_the_test_turns():
    rng = np.random.default_rng(3)
    base = rng.lognormal(0, 0.03, 30)
    for shift in (0.0, 0.01, 0.02, 0.05):
        t = shift_test(base, base * math.exp(shift) * rng.lognormal(0, 0.03, 30))
        assert (t.lower[0] > 0) == (t.p_higher[0] <= ALPHA)
        assert (t.upper[0] < 0) == (t.p_lower[0] <= ALPHA)
        assert t.lower[0] <= t.estimate[0] <= t.upper[0]


def test_too_few_samples_can_never_be_significant():
    t = shift_test([1.0, 1.1, 1.2], [5.0, 6.0, 7.0])  # the smallest p with 3 + 3 samples is 1/20
    assert t.p_higher[0] == pytest.approx(0.05) and np.isinf(t.lower[0])
    assert latency_rule(t, 0.05)[0] == 0


def test_rule_needs_significance_and_half_the_threshold():
    rng = np.random.default_rng(0)
    base = 100 * rng.lognormal(0, 0.005, 30)  # precise: a 1.5 % slowdown is very significant
    precise_small = shift_test(base, 1.015 * 100 * rng.lognormal(0, 0.005, 30))
    assert precise_small.p_higher[0] < 1e-6
    assert latency_rule(precise_small, 0.05)[0] == 0  # below √1.05 − 1 = 2.47 %: passes
    assert latency_rule(precise_small, 0.02)[0] == 1  # a +2 % gate fails from 1 %
    noisy = 100 * rng.lognormal(0, 0.5, 30)
    assert latency_rule(shift_test(noisy, noisy * 1.10), 0.05)[0] == 0  # +10 % but not distinguishable
    faster = shift_test(base, 0.9 * 100 * rng.lognormal(0, 0.005, 30))
    assert latency_rule(faster, 0.05)[0] == -1
    # higher is better (throughput): a drop is the regression
    assert latency_rule(faster, 0.05, higher_is_worse=False)[0] == 1
    # absolute threshold in ms: shift ≥ 20/2 ms
    raw = shift_test(base, base + 12.0, log=False)
    assert latency_rule(raw, 20.0, relative=False)[0] == 1
    assert latency_rule(raw, 30.0, relative=False)[0] == 0


def test_shift_test_refuses_non_positive_samples_on_the_log_scale():
    with pytest.raises(ValueError, match="positive"):
        shift_test([1.0, 0.0], [1.0, 2.0])
