"""How the reports print numbers and names: intervals in their estimate's precision, code spans shown as is."""

from __future__ import annotations

import html
import json
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.core.mdtext import md_code
from harness.core.numfmt import fmt_ci, fmt_shared
from harness.report import build_report
from tests.report.conftest import small_run

NAN, INF = math.nan, math.inf


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # the two cells that read wrongly: a point outside its own interval, and scientific bounds
        ((101.7, 101.52, 105.83), "101.7 [101.5, 105.8]"),  # was "101.7 [102, 106]"
        ((1427.0, 1391.2, 1563.7), "1427 [1391, 1564]"),  # was "1427 [1.39e+03, 1.56e+03]"
        # zeros every number shares are dropped, the others kept so all three have as many decimals
        ((100.0, 96.0, 104.0), "100 [96, 104]"),
        ((55, 52, 58), "55 [52, 58]"),
        ((3.0, 2.82, 3.18), "3.00 [2.82, 3.18]"),
        ((-3.25, -3.4, -3.1), "-3.25 [-3.40, -3.10]"),
        ((12345.0, 12000.0, 12700.0), "12345 [12000, 12700]"),  # no 1.234e+04 for an ordinary number
        ((9.99996, 9.9, 10.1), "10.0 [9.9, 10.1]"),  # the estimate rounds up to the next decade
        # tiny and huge: fixed down to 1e-4, then a mantissa times the estimate's power of ten
        ((0.000123, 0.0001, 0.00015), "0.000123 [0.000100, 0.000150]"),
        ((1.23e-9, 9.8e-10, 1.5e-9), "1.23e-09 [0.98e-09, 1.50e-09]"),
        ((12345678.0, 1.1e7, 1.3e7), "1.235e+07 [1.100e+07, 1.300e+07]"),
        ((1e-5, -1e-7, 2e-5), "1.00e-05 [-0.01e-05, 2.00e-05]"),
        # lo == hi, zero, a zero estimate (the bounds set the scale), no negative zero
        ((5.0, 5.0, 5.0), "5 [5, 5]"),
        ((0.0, 0.0, 0.0), "0 [0, 0]"),
        ((0.0, -0.01, 0.02), "0.00 [-0.01, 0.02]"),
        ((0.5, -0.00001, 1.0), "0.5 [0.0, 1.0]"),
        # infinite and missing values
        ((INF, 30.0, INF), "∞ [30, ∞]"),
        ((INF, None, None), "∞"),
        ((-INF, None, None), "-∞"),
        ((NAN, 1.0, 2.0), "– [1, 2]"),
        ((20.5, NAN, 21.0), "20.5 [–, 21.0]"),
        ((None, None, None), "–"),
        ((42.0, None, None), "42"),
    ],
)
def test_interval_in_the_estimates_precision(args, expected):
    assert fmt_ci(*args) == expected


def test_shared_format_of_other_values():
    assert fmt_shared([0.25, 0.0, 0.5, 0.75, 1.0]) == ["0.25", "0.00", "0.50", "0.75", "1.00"]
    assert fmt_shared([2.0, 20.0, 22.0, 24.0]) == ["2", "20", "22", "24"]
    assert fmt_shared(["x", 1.5]) == ["–", "1.5"]  # not a number: missing, the next one sets the scale


@given(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(lambda v: abs(v) >= 1e-3),
    st.floats(min_value=0, max_value=1e5),
    st.floats(min_value=0, max_value=1e5),
)
def test_printed_interval_holds_its_estimate(value, below, above):
    """Printed in one format, an estimate inside its interval stays inside it, and all three have as many
    decimals (rounding to the same grid is monotone)."""
    lo, hi = value - below, value + above
    text = fmt_ci(value, lo, hi)
    m = re.fullmatch(r"(\S+) \[(\S+), (\S+)\]", text)
    assert m, text
    v, a, b = m.groups()
    assert float(a) <= float(v) <= float(b), text
    assert len({len(s.partition(".")[2]) for s in (v, a, b)}) == 1, text
    assert "e" not in text, text


def test_code_spans_show_names_as_they_are():
    assert md_code("fd_digits") == "`fd_digits`"
    assert md_code("peak_rss_mib ≤ 2000") == "`peak_rss_mib ≤ 2000`"
    assert md_code("a`b") == "``a`b``"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("a``b`c") == "```a``b`c```"
    assert md_code(" padded ") == "`  padded  `"
    assert md_code("a|b") == "`a|b`" and md_code("a|b", table=True) == "`a\\|b`"
    assert md_code("two\nlines") == "`two lines`"
    # raw HTML never reaches report.md: text with < or > is <code> around escaped text
    assert md_code("<script>alert(1)</script>") == "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"
    assert md_code("a_<b>") == "<code>a\\_&lt;b&gt;</code>"
    assert md_code("  ") == "<code>  </code>"


HOSTILE_NAMES = ["fd_digits", "x`y|z*_w", "`q`", "a\\_b", "<script>alert(1)</script>|`id`", " s p "]


def _render(markdown: str) -> str:
    mdit = pytest.importorskip("markdown_it", reason="needs markdown-it-py to render Markdown")
    return mdit.MarkdownIt("commonmark").enable("table").render(markdown)


def _code_texts(rendered: str) -> list[str]:
    return [html.unescape(t) for t in re.findall(r"<code>(.*?)</code>", rendered, flags=re.S)]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_code_spans_render_to_the_name(name):
    """In a paragraph and in a table cell, a CommonMark + GFM-tables renderer shows exactly the name."""
    rendered = _render(
        f"metric {md_code(name)} ok\n\n| a | b |\n|---|---|\n| {md_code(name, table=True)} | 1 |\n"
    )
    assert _code_texts(rendered) == [name, name]
    assert rendered.count("<td>") == 2  # a pipe in the name did not split the cell
    assert "<script>" not in rendered


def test_report_md_code_spans_are_not_backslash_escaped(tmp_path):
    """Objectives, constraints, noise floors and metrics not computed are code spans in report.md: no
    ``fd\\_digits``, and hostile metric names render to themselves without breaking the tables."""
    hostile = "x`y|<script>alert(1)</script>_z"
    constraints = [{"metric": "psnr", "min": 18.0, "max": None}]
    run = small_run(tmp_path, "names", samples=0, constraints=constraints)
    meta = json.loads((run / "run.json").read_text())
    meta["suite"]["objectives"] = {"latency_ms.p50": "min", "fd_digits": "min"}
    meta["suite"]["metrics"] = ["psnr", "fd_digits", hostile]
    (run / "run.json").write_text(json.dumps(meta))
    lines = []
    for line in (run / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        rec["metrics"]["fd_digits"] = {
            "value": 20.0 + rec["latency_ms"]["p50"],
            "higher_is_better": False,
            "status": "ok",
            "n": 100,
            "ci95": [19.0 + rec["latency_ms"]["p50"], 21.5 + rec["latency_ms"]["p50"]],
            "details": {"noise_floor": 9.5, "noise_floor_at_n": {"n": 100, "value": 12.5}},
        }
        rec["metrics"][hostile] = {
            "value": None,
            "higher_is_better": False,
            "status": "skipped",
            "reason": "no refs",
            "details": {"noise_floor": 1.0},
        }
        lines.append(json.dumps(rec))
    (run / "records.jsonl").write_text("\n".join(lines) + "\n")
    md = build_report(run, html=False)["markdown"].read_text()

    assert "Objectives: `latency_ms.p50` (min), `fd_digits` (min)." in md
    assert "Constraints: `psnr ≥ 18`." in md
    assert "| `fd_digits` | 12.5 | 100 | tiny-sd / steps-3 / eager | 65 |" in md
    assert "fd\\_digits`" not in md and "`fd_digits`" in md
    assert (
        "- tiny-sd / steps-8 / eager: <code>x\\`y\\|&lt;script&gt;alert(1)&lt;/script&gt;\\_z</code> skipped"
        in md
    )
    assert "<script>" not in md

    rendered = _render(md)
    codes = _code_texts(rendered)
    assert {"latency_ms.p50", "fd_digits", "psnr ≥ 18", hostile} <= set(codes)
    assert codes.count(hostile) == 4  # one line per job under "Metrics not computed"
    assert "<script>" not in rendered and "\\_" not in "".join(codes)
    # the jobs table keeps one cell per header in every row (intervals and names included)
    jobs = rendered.split("<h2>Jobs</h2>")[1].split("</table>")[0]
    heads = jobs.count("<th>")
    assert all(row.count("<td>") == heads for row in jobs.split("<tr>")[2:])
    assert "65 [64, 66.5]" not in md and "65.0 [64.0, 66.5]" in md  # fd_digits of steps-3, one format


def test_reports_print_intervals_in_one_format(tmp_path):
    """The two cells of the examples, end to end: report.md's jobs table, report.html's table (p50 and its
    interval in two columns), the job's details and the frontier point's tooltip."""
    jobs = [
        ("tiny-sd", "steps-4", "image", 101.7, (101.52, 105.83), 1427.0, (1391.2, 1563.7), 900.0),
        ("tiny-sd", "steps-2", "image", 50.0, (49.0, 51.0), 30.0, (29.0, 31.0), 900.0),
    ]
    run = small_run(tmp_path, "intervals", samples=0, jobs=jobs, constraints=[])
    out = build_report(run)
    md = out["markdown"].read_text()
    assert "| 101.7 [101.5, 105.8] |" in md and "| 1427 [1391, 1564] |" in md
    assert "[102, 106]" not in md and "e+03" not in md
    page = out["html"].read_text(encoding="utf-8")
    assert '<td data-sort="101.7">101.7</td><td data-sort="101.52">101.5 – 105.8</td>' in page
    assert page.count("1427 [1391, 1564]") == 3  # the jobs table, the job's metrics, the tooltip
    assert 'data-x="latency_ms.p50: 101.7 [101.5, 105.8]" data-y="psnr: 1427 [1391, 1564]"' in page
    assert "e+03" not in re.sub(r"data:[a-z/]+;base64,[A-Za-z0-9+/=]+", "", page)


@pytest.mark.parametrize(
    ("value", "kw", "expected"),
    [
        # general notation (reports): four significant digits, "g"
        (1234.5678, {}, "1235"),
        (123456.0, {}, "1.235e+05"),
        (0.5, {"digits": 2}, "0.5"),
        (None, {}, "–"),
        (NAN, {}, "–"),
        (-INF, {}, "-∞"),
        (7, {}, "7"),
        # fixed notation (the gate's tables): whole from 100, no exponent from 1e-3 to 1e6
        (123456.0, {"notation": "fixed"}, "123456"),
        (99.99, {"notation": "fixed"}, "99.99"),
        (0.000123, {"notation": "fixed"}, "1.230e-04"),
        (2.5e6, {"notation": "fixed"}, "2.500e+06"),
        (0.0, {"notation": "fixed"}, "0"),
        (NAN, {"notation": "fixed", "nan": "NaN"}, "NaN"),
        # a unit follows a number, never a missing value
        (12.5, {"unit": "ms"}, "12.5 ms"),
        (None, {"unit": "ms"}, "–"),
        (INF, {"unit": "dB"}, "∞ dB"),
    ],
)
def test_one_number_formatter(value, kw, expected):
    """#25 item 3 (one home per concept): one formatter, core.numfmt.fmt, writes the reports' numbers, the
    gate's compared values (``notation="fixed"``) and its thresholds (six digits)."""
    from harness.config.gates import parse_threshold
    from harness.core.numfmt import fmt
    from harness.gate.checks import fmt_value

    assert fmt(value, **kw) == expected
    assert fmt_value(123456.0) == "123456" and fmt_value(NAN) == "NaN" and fmt_value(None) == "–"
    assert (
        parse_threshold("psnr", -1e-6).text == "-1e-06"
        and parse_threshold("x", 12345678).text == "1.23457e+07"
    )
