"""A comparison as Markdown (pull requests, ``$GITHUB_STEP_SUMMARY``), JUnit XML and JSON.

All three carry the same three states of a check: ❌ regressed, ✅ within the gate, ⚠ inconclusive (the
comparison could not have caught a change of the threshold's size), besides 🟢 improved and – not compared.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from harness.gate.compare import Comparison, fmt
from harness.gate.stats import ALPHA, POWER
from harness.mdtext import md_code
from harness.results.columns import SAMPLED_COLUMNS

MARK = {"regressed": "❌", "improved": "🟢", "ok": "✅", "inconclusive": "⚠", "n/a": ""}
STATUS = {
    "compared": "ok",
    "added": "added",
    "removed": "removed",
    "missing": "❌ missing in head",
    "failed": "❌ failed in head",
    "fixed": "fixed",
    "failing": "failing in both",
}


def headline(cmp: Comparison) -> str:
    n_reg, n_inc = cmp.regressions, cmp.inconclusive
    if n_reg:
        return f"**FAIL: {n_reg} regression{'s' * (n_reg != 1)}**" + (
            f" · ⚠ {n_inc} inconclusive" if n_inc else ""
        )
    if n_inc and cmp.strict:
        return f"**FAIL (--strict): {n_inc} check{'s' * (n_inc != 1)} inconclusive**"
    if n_inc:
        return (
            f"**INCONCLUSIVE: no regression found, but {n_inc} check{'s' * (n_inc != 1)} could not have caught "
            "one** (⚠ below; `--strict` fails on these)"
        )
    return "**PASS: no regression**"


def to_markdown(cmp: Comparison) -> str:
    suite = cmp.head.meta.suite_name or ""
    lines = [
        f"### harness compare{f': {suite}' if suite else ''} — {cmp.base_label} → {md_code(cmp.head.name)}",
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
        cells = []
        for k in keys:
            c = by_key.get(k)
            if c is None or c.verdict == "n/a":
                cells.append("–")
                continue
            if c.verdict == "regressed" and c.head is None:
                cells.append(f"❌ {c.detail}".replace("|", "/"))
                continue
            arrow = f"{fmt(c.base)} → {fmt(c.head)}"
            cells.append(f"{MARK[c.verdict]} {arrow}{f' ({c.change})' if c.change else ''}".replace("|", "/"))
            if c.verdict == "inconclusive":
                undecided.append(f"- ⚠ {j.label} · {md_code(c.key)}: {c.detail.split('. ')[0]}")
        status = STATUS[j.status] + (f": {j.note}" if j.status == "failed" else "")
        if j.status == "missing":
            status = "⚠ missing in head (allowed by --allow-missing)" if j.allowed else STATUS["missing"]
            status += " — its record was cut short" if "cut short" in j.note else ""
        lines.append(f"| {j.label} | {status.replace('|', '/')} | " + " | ".join(cells) + " |")
    legend = "❌ regression · 🟢 improvement · ✅ within the gate · ⚠ inconclusive (could not have caught a change of the threshold's size)."
    if any(k in SAMPLED_COLUMNS for k in keys):
        legend += (
            f" Latency: Mann–Whitney U on the raw samples (one-sided α = {ALPHA:g}) and the Hodges–Lehmann "
            f"ratio with its {1 - 2 * ALPHA:.0%} interval; a regression needs p ≤ {ALPHA:g} and a ratio ≥ "
            f"√(1 + threshold); conclusive when a change of the threshold's size is caught ≥ {POWER:.0%} of the time."
        )
    lines += ["", legend + " Quality and memory: compared directly.", ""]
    if undecided:
        lines += ["Inconclusive:", "", *undecided, ""]
    return "\n".join(lines)


def to_junit(cmp: Comparison) -> str:
    """JUnit XML: one testcase per job × gated column (and one ``status`` case per job). Regressions fail;
    inconclusive checks are skipped with the reason (failures under ``--strict``)."""
    suite_name = cmp.head.meta.suite_name or "runs"
    cases: list[ET.Element] = []
    failures = skipped = 0
    for j in cmp.jobs:
        cls = f"{suite_name}.{j.label.replace(' / ', '.')}"
        st = ET.Element("testcase", classname=cls, name="status", time="0")
        if j.regressions and j.status in ("failed", "missing"):
            failures += 1
            kind = "JobFailed" if j.status == "failed" else "JobMissing"
            ET.SubElement(st, "failure", message=j.note, type=kind).text = j.note
        elif j.status in ("added", "removed", "failing", "missing"):
            skipped += 1
            ET.SubElement(st, "skipped", message=f"{j.status}: {j.note}")
        cases.append(st)
        for c in j.checks:
            tc = ET.Element("testcase", classname=cls, name=c.key, time="0")
            text = f"{fmt(c.base)} → {fmt(c.head)} ({c.change}); gate {c.threshold}; {c.detail}"
            if c.verdict == "regressed":
                failures += 1
                ET.SubElement(
                    tc,
                    "failure",
                    message=f"{c.key} regressed: {fmt(c.base)} → {fmt(c.head)} ({c.change or c.detail}), gate {c.threshold}",
                    type="Regression",
                ).text = text
            elif c.verdict == "inconclusive" and cmp.strict:
                failures += 1
                ET.SubElement(
                    tc, "failure", message=f"inconclusive (--strict): {c.detail}", type="Inconclusive"
                ).text = text
            elif c.verdict == "inconclusive":
                skipped += 1
                ET.SubElement(tc, "skipped", message=f"inconclusive: {c.detail}")
            elif c.verdict == "n/a":
                skipped += 1
                ET.SubElement(tc, "skipped", message=c.detail or "no value")
            else:
                ET.SubElement(tc, "system-out").text = f"{c.verdict}: {text}"
            cases.append(tc)
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": "0",
        "skipped": str(skipped),
        "time": "0",
    }
    ts = ET.Element("testsuite", name=f"harness compare {suite_name}", **counts)
    ts.extend(cases)
    root = ET.Element("testsuites", name="harness compare", **counts)
    root.append(ts)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
