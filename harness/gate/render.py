"""A comparison as Markdown (pull requests, ``$GITHUB_STEP_SUMMARY``), JUnit XML and JSON.

All three carry the same states of a check: ❌ regressed, ✅ within the gate, ⚠ inconclusive (the
comparison could not have caught a change of the threshold's size), 🟢 improved and "not compared" (no
value to compare: never ✅); and the same verdict word: PASS, FAIL, INCONCLUSIVE or NOT COMPARED.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from harness.core.mdtext import md_code
from harness.gate.checks import NOT_APPLICABLE, NOT_COMPARED, fmt_value
from harness.gate.compare import Comparison
from harness.gate.stats import ALPHA, POWER
from harness.results.columns import SAMPLED_COLUMNS

MARK = {"regressed": "❌", "improved": "🟢", "ok": "✅", "inconclusive": "⚠", NOT_COMPARED: ""}
STATUS = {
    "compared": "ok",
    "added": "added",
    "removed": "removed",
    "missing": "❌ missing in head",
    "failed": "❌ failed in head",
    "fixed": "fixed",
    "failing": "failing in both",
    "same": "not compared: the same record in both runs",
}


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def headline(cmp: Comparison) -> str:
    """The verdict in words: its one word (PASS, FAIL, INCONCLUSIVE, NOT COMPARED) and what made it."""
    n_reg, n_inc, n_nc = cmp.regressions, cmp.inconclusive, len(cmp.not_compared())
    undecided = [
        *([f"{_plural(n_inc, 'check')} inconclusive"] if n_inc else []),
        *([f"{_plural(n_nc, 'gate')} not compared"] if n_nc else []),
    ]
    verdict = cmp.verdict
    if verdict == NOT_COMPARED:
        return (
            f"**NOT COMPARED: no gate compared a value** (all {_plural(n_nc, 'gate')} below; nothing passed)"
        )
    if n_reg:
        return f"**FAIL: {_plural(n_reg, 'regression')}**" + "".join(f" · ⚠ {u}" for u in undecided)
    if verdict == "fail":
        return f"**FAIL (--strict): {' · '.join(undecided)}**"
    if verdict == "inconclusive":
        why = [
            *([f"{_plural(n_inc, 'check')} could not have caught one"] if n_inc else []),
            *([f"{_plural(n_nc, 'gate')} compared no value"] if n_nc else []),
        ]
        return f"**INCONCLUSIVE: no regression found, but {' and '.join(why)}** (below; `--strict` fails on these)"
    return "**PASS: no regression**"


def not_compared_lines(cmp: Comparison) -> list[str]:
    """One line per gate that compared no value in any job: the gate and why, job by job."""
    return [f"- {md_code(key)}: {why}" for key, why in cmp.not_compared().items()]


def _cell(c) -> str:
    if c is None or (c.verdict == NOT_COMPARED and c.detail == NOT_APPLICABLE):
        return "–"
    if c.verdict == NOT_COMPARED:
        return NOT_COMPARED
    if c.verdict == "regressed" and c.head is None:
        return f"❌ {c.detail}".replace("|", "/")
    arrow = f"{fmt_value(c.base)} → {fmt_value(c.head)}"
    return f"{MARK[c.verdict]} {arrow}{f' ({c.change})' if c.change else ''}".replace("|", "/")


def to_markdown(cmp: Comparison) -> str:
    suite = cmp.head.meta.suite_name or ""
    lines = [
        f"### harness compare{f': {suite}' if suite else ''} — {cmp.base_label} → {md_code(cmp.head.run_id)}",
        "",
    ]
    n_imp = cmp.improvements
    missing = cmp.count("missing")
    lines.append(
        f"{headline(cmp)} · {n_imp} improvement{'s' * (n_imp != 1)} · {cmp.count('added')} job(s) added · "
        f"{cmp.count('removed')} removed · {missing} missing · gates from {cmp.gate_source}"
    )
    if cmp.differences:
        lines += ["", f"> ⚠️ compared despite differences (--allow-mismatch): {'; '.join(cmp.differences)}"]
    for w in cmp.warnings:
        lines += ["", f"> ⚠️ {w}"]
    keys = list(cmp.gates)
    lines += [
        "",
        "| job | status | " + " | ".join(f"{k} ({cmp.gates[k].text})" for k in keys) + " |",
        "|---|---|" + "---|" * len(keys),
    ]
    undecided: list[str] = []
    for j in cmp.jobs:
        by_key = {c.key: c for c in j.checks}
        cells = [_cell(by_key.get(k)) for k in keys]
        for c in j.checks:
            if c.verdict == "inconclusive":
                undecided.append(f"- ⚠ {j.label} · {md_code(c.key)}: {c.detail.split('. ')[0]}")
        status = STATUS[j.status] + (f": {j.note}" if j.status == "failed" else "")
        if j.status == "missing":
            status = "⚠ missing in head (allowed by --allow-missing)" if j.allowed else STATUS["missing"]
            status += " — its record was cut short" if "cut short" in j.note else ""
        lines.append(f"| {j.label} | {status.replace('|', '/')} | " + " | ".join(cells) + " |")
    legend = (
        "❌ regression · 🟢 improvement · ✅ within the gate · ⚠ inconclusive (could not have caught a change "
        "of the threshold's size) · not compared: no value to compare (never a pass) · – does not apply."
    )
    if any(k in SAMPLED_COLUMNS for k in keys):
        legend += (
            f" Latency: Mann–Whitney U on the raw samples (one-sided α = {ALPHA:g}) and the Hodges–Lehmann "
            f"ratio with its {1 - 2 * ALPHA:.0%} interval; a regression needs p ≤ {ALPHA:g} and a ratio ≥ "
            f"√(1 + threshold); conclusive when a change of the threshold's size is caught ≥ {POWER:.0%} of the time."
        )
    lines += ["", legend + " Quality and memory: compared directly.", ""]
    if undecided:
        lines += ["Inconclusive:", "", *undecided, ""]
    not_compared = not_compared_lines(cmp)
    if not_compared:
        lines += ["Not compared (no job had a value of these in both runs):", "", *not_compared, ""]
    return "\n".join(lines)


def to_junit(cmp: Comparison) -> str:
    """JUnit XML: one testcase per job × gated column (and one ``status`` case per job). Regressions fail;
    inconclusive and not-compared checks are skipped with the reason (failures under ``--strict``: a
    not-compared check there when its gate compared nothing in any job). A comparison that compared nothing
    has one more case, ``comparison``, in error: an all-skipped suite must not read as a pass. The verdict
    word is the testsuite's ``verdict`` property."""
    suite_name = cmp.head.meta.suite_name or "runs"
    not_compared = cmp.not_compared()
    cases: list[ET.Element] = []
    failures = skipped = errors = 0
    for j in cmp.jobs:
        cls = f"{suite_name}.{j.label.replace(' / ', '.')}"
        st = ET.Element("testcase", classname=cls, name="status", time="0")
        if j.regressions and j.status in ("failed", "missing"):
            failures += 1
            kind = "JobFailed" if j.status == "failed" else "JobMissing"
            ET.SubElement(st, "failure", message=j.note, type=kind).text = j.note
        elif j.status in ("added", "removed", "failing", "missing", "same"):
            skipped += 1
            word = NOT_COMPARED if j.status == "same" else j.status
            ET.SubElement(st, "skipped", message=f"{word}: {j.note}")
        cases.append(st)
        for c in j.checks:
            tc = ET.Element("testcase", classname=cls, name=c.key, time="0")
            text = f"{fmt_value(c.base)} → {fmt_value(c.head)} ({c.change}); gate {c.threshold}; {c.detail}"
            if c.verdict == "regressed":
                failures += 1
                ET.SubElement(
                    tc,
                    "failure",
                    message=f"{c.key} regressed: {fmt_value(c.base)} → {fmt_value(c.head)} ({c.change or c.detail}), gate {c.threshold}",
                    type="Regression",
                ).text = text
            elif c.verdict == "inconclusive" and cmp.strict:
                failures += 1
                ET.SubElement(
                    tc, "failure", message=f"inconclusive (--strict): {c.detail}", type="Inconclusive"
                ).text = text
            elif c.verdict == NOT_COMPARED and cmp.strict and c.key in not_compared:
                failures += 1
                ET.SubElement(
                    tc, "failure", message=f"not compared (--strict): {c.detail}", type="NotCompared"
                ).text = f"gate {c.key} compared no value in any job: {not_compared[c.key]}"
            elif c.verdict in ("inconclusive", NOT_COMPARED):
                skipped += 1
                ET.SubElement(tc, "skipped", message=f"{c.verdict}: {c.detail}")
            else:
                ET.SubElement(tc, "system-out").text = f"{c.verdict}: {text}"
            cases.append(tc)
    if cmp.verdict == NOT_COMPARED:
        errors += 1
        why = "; ".join(f"{k}: {v}" for k, v in not_compared.items())
        cases.append(_nothing_compared_case(suite_name, f"no gate compared a value: {why}"))
    return _junit_document(suite_name, cases, cmp.verdict, failures=failures, skipped=skipped, errors=errors)


def _nothing_compared_case(suite_name: str, message: str) -> ET.Element:
    tc = ET.Element("testcase", classname=suite_name, name="comparison", time="0")
    ET.SubElement(tc, "error", message=message, type="NotCompared").text = message
    return tc


def _junit_document(
    suite_name: str, cases: list[ET.Element], verdict: str, *, failures: int, skipped: int, errors: int
) -> str:
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(skipped),
        "time": "0",
    }
    ts = ET.Element("testsuite", name=f"harness compare {suite_name}", **counts)
    props = ET.SubElement(ts, "properties")
    ET.SubElement(props, "property", name="verdict", value=verdict)
    ts.extend(cases)
    root = ET.Element("testsuites", name="harness compare", **counts)
    root.append(ts)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ------------------------------------------------------------ nothing compared at all (--skip-on-mismatch)


def skipped_markdown(reason: str) -> str:
    """The Markdown of a comparison skipped by ``--skip-on-mismatch``: nothing compared, nothing passed."""
    return f"### harness compare\n\n**NOT COMPARED (--skip-on-mismatch): nothing was compared and nothing passed**: {reason}\n"


def skipped_junit(reason: str) -> str:
    """JUnit XML of a comparison skipped by ``--skip-on-mismatch``: one skipped ``comparison`` case."""
    tc = ET.Element("testcase", classname="harness", name="comparison", time="0")
    ET.SubElement(tc, "skipped", message=f"not compared (--skip-on-mismatch): {reason}")
    return _junit_document("harness", [tc], NOT_COMPARED, failures=0, skipped=1, errors=0)
