"""The frontier views: a panel only where jobs have both values (PNG and report.html alike), and the
interactive SVG scatter of report.html (its points, their tooltips' data and their links)."""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from harness.report import build_report, classified_tables, load_runs
from harness.report.demo import DEMO_SUITE_DISTANCES, DEMO_SUITE_OBJECTIVES, fabricate_run
from harness.report.panels import panel_modalities
from harness.report.plots import pareto_figure


class _Page(HTMLParser):
    """The frontier SVGs of a report.html with their points' attributes, and the page's ids."""

    def __init__(self):
        super().__init__()
        self.svgs: list[dict] = []
        self.ids: dict[str, str] = {}
        self.details: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids[a["id"]] = tag
        if tag == "details" and "id" in a:
            self.details.add(a["id"])
        if tag == "svg" and "frontier" in (a.get("class") or "").split():
            self.svgs.append({"label": a.get("aria-label", ""), "points": []})
        if tag == "g" and "pt" in (a.get("class") or "").split():
            self.svgs[-1]["points"].append(a)


def _page(path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_panel_modalities():
    df = pd.DataFrame(
        {
            "modality": ["audio", "image", "video", "audio", "tabular", None],
            "a": [1.0, 2.0, None, 3.0, 4.0, 5.0],
            "b": [1.0, 2.0, 3.0, None, 4.0, 5.0],
        }
    )
    # image, video, audio first, then others by name, then rows without a modality; no panel for a
    # modality without a job with both values
    assert panel_modalities(df, "a", "b") == ["image", "audio", "tabular", None]
    assert panel_modalities(df.iloc[:5], "a", "b") == ["image", "audio", "tabular"]
    assert panel_modalities(df[df["modality"] == "video"], "a", "b") == []
    assert panel_modalities(df, "a", "missing") == [] and panel_modalities(df.iloc[0:0], "a", "b") == []
    assert panel_modalities(df.drop(columns="modality"), "a", "b") == [None]


def test_jobs_without_a_modality_get_a_panel_of_their_own():
    """Records may lack a modality (older ones): classified as a group of their own, drawn as one."""
    import matplotlib.pyplot as plt

    from harness.results.pareto import classify

    df = pd.DataFrame(
        {
            "model": ["m"] * 4,
            "variant": ["a", "b", "c", "d"],
            "backend": ["eager"] * 4,
            "modality": ["image", "image", None, None],
            "lat": [1.0, 2.0, 1.5, 3.0],
            "q": [None, None, 4.0, 5.0],  # no image job has q: the image panel is left out
        }
    )
    directions = {"lat": "min", "q": "max"}
    ok = classify(df, directions, group_by="modality")
    fig = pareto_figure(ok, "lat", "q", directions, "t")
    try:
        assert [ax.get_title() for ax in fig.axes] == ["no modality recorded"]
    finally:
        plt.close(fig)


def test_demo_suite_draws_no_empty_panel(tmp_path):
    """suites/demo.yaml's shape: a distance per modality (fd_digits images, fvd_digits videos, fad_notes
    audio) and latency per item. Each PNG has one panel, the modality whose jobs have that distance; a
    pair of two distances (no job has both) has no figure; report.html draws the same panels."""
    run = fabricate_run(
        tmp_path,
        "demo-suite",
        samples=1,
        objectives=DEMO_SUITE_OBJECTIVES,
        distances=DEMO_SUITE_DISTANCES,
        constraints=[],
    )
    out = build_report(run)
    lat = "latency_per_item_ms.p50"
    expected = {
        f"pareto_{lat}__fd_digits.png": ["image"],
        f"pareto_{lat}__fvd_digits.png": ["video"],
        f"pareto_{lat}__fad_notes.png": ["audio"],
    }
    assert out["panels"] == expected
    assert sorted(p.name for p in out["plots"]) == sorted(expected)
    assert sorted(p.name for p in run.glob("pareto_*.png")) == sorted(expected)

    # The figures themselves: one axes per drawn modality, each with a point (and a label) per job.
    import matplotlib.pyplot as plt
    from matplotlib.text import Annotation

    runs = load_runs(run)
    _, ok = classified_tables(runs)
    n_jobs = ok["modality"].value_counts().to_dict()
    for x, y in itertools.combinations(DEMO_SUITE_OBJECTIVES, 2):
        fig = pareto_figure(ok, x, y, runs.objectives, f"{y} vs {x}", runs.constraints)
        name = f"pareto_{x}__{y}.png"
        if name not in expected:
            assert fig is None, name
            continue
        try:
            assert [ax.get_title() for ax in fig.axes] == expected[name]
            for ax in fig.axes:
                assert not any("no jobs with both values" in t.get_text() for t in ax.texts)
                labels = [t for t in ax.texts if isinstance(t, Annotation)]
                assert len(labels) == n_jobs[ax.get_title()] > 0
        finally:
            plt.close(fig)

    page = _page(out["html"])
    assert [s["label"] for s in page.svgs] == [
        f"fd_digits vs {lat}, image",
        f"fvd_digits vs {lat}, video",
        f"fad_notes vs {lat}, audio",
    ]
    assert [len(s["points"]) for s in page.svgs] == [n_jobs["image"], n_jobs["video"], n_jobs["audio"]]
    html = out["html"].read_text(encoding="utf-8")
    assert html.count('<figure class="plot"><img src="data:image/png;base64,') == 3
    assert "no jobs with both values" not in html


def test_frontier_svg_points_carry_their_jobs(demo_report):
    """Every ok job is a point in each view of its modality, styled by its status, with what the tooltip
    shows (label, status, both values with their intervals) and links to its details and thumbnail."""
    _, out = demo_report
    page = _page(out["html"])
    assert len(page.svgs) == 9  # 3 pairs × image, video, audio
    assert [len(s["points"]) for s in page.svgs] == [8, 2, 2] * 3
    for svg in page.svgs:
        for p in svg["points"]:
            assert p["data-job"] in page.details
            assert p["data-thumb"] == "" or page.ids.get(p["data-thumb"]) == "img"
            assert p["tabindex"] == "0" and p["data-label"] and p["data-status"]

    first = {p["data-job"]: p for p in page.svgs[0]["points"]}  # psnr vs latency, image
    knee = first["job-1"]
    assert knee["data-label"] == "tiny-sd / steps-4 / eager / fp32"
    assert knee["class"] == "pt st-front"
    assert knee["data-status"] == "on the front · knee of the front · ★ knee of this view"
    assert knee["data-x"] == "latency_ms.p50: 55 [52, 58]" and knee["data-y"] == "psnr: 32 [30, 34]"
    assert knee["data-thumb"] == "thumb-job-1"
    assert first["job-0"]["data-y"] == "psnr: ∞"  # the baseline against itself: no interval
    assert first["job-3"]["class"] == "pt st-tied"
    assert first["job-4"]["class"] == "pt st-dominated"
    assert first["job-6"]["class"] == "pt st-infeasible"
    assert first["job-6"]["data-status"] == "infeasible (psnr 14 < 18)"
    hostile = first["job-12"]
    assert hostile["data-label"].startswith('<script>alert(1)</script> / "><img')  # as text, parsed
    video = {p["data-job"]: p for p in page.svgs[1]["points"]}
    audio = {p["data-job"]: p for p in page.svgs[2]["points"]}
    assert video["job-7"]["data-thumb"] == "thumb-job-7"  # a GIF's first frame
    assert audio["job-9"]["data-thumb"] == ""  # audio: no picture

    html = out["html"].read_text(encoding="utf-8")
    # escaped in the page's source; the thumbnails are the sample table's images, not copies
    assert 'data-label="&lt;script&gt;alert(1)&lt;/script&gt; / &#34;&gt;&lt;img' in html
    assert re.search(r'<img id="thumb-job-1" class="px" src="data:image/png;base64,', html)
    # the 3 PNGs and 2 thumbnails for each of the 7 image and 2 video jobs with samples, nothing more
    assert html.count("data:image/png;base64,") == 3 + 2 * 9


@pytest.mark.parametrize("modality", ["image", "video"])
def test_infeasible_region_and_thresholds(demo_report, modality):
    """A constraint on an axis shades the side that breaks it; one far beyond the data is named instead."""
    _, out = demo_report
    html = out["html"].read_text(encoding="utf-8")
    svgs = re.findall(r'<svg class="chart frontier".*?</svg>', html, flags=re.S)
    svg = next(s for s in svgs if f'aria-label="psnr vs latency_ms.p50, {modality}"' in s)
    assert "url(#" in svg and "psnr ≥ 18" in svg
    rss = next(s for s in svgs if f'aria-label="peak_rss_mib vs latency_ms.p50, {modality}"' in s)
    assert "hatch)" not in rss.split("</defs>")[1]  # 2000 MiB is far above 900-1200: not in the view
    assert "beyond the view: peak_rss_mib ≤ 2000" in html
