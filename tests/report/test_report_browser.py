"""report.html in headless Chromium: it renders (screenshot), logs nothing to the console, requests nothing.

Needs the ``chromium`` binary (Debian: ``apt-get install -y chromium``); skipped with that reason where it is
absent. Console messages are read from Chromium's own log (``--enable-logging=stderr``), where every
``console.*`` call, uncaught exception and Content-Security-Policy violation appears as a ``CONSOLE`` line:
the page writes nothing to the console, so any such line is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs headless Chromium: apt-get install -y chromium (Debian) or put chromium on PATH",
)

# The closed network makes Chromium's background services misbehave; these keep it quiet and local.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
SCREEN = (1400, 2400)


def chromium(tmp_path: Path, url: str, *args: str, timeout: float = 120) -> tuple[str, str]:
    """Run headless Chromium on ``url`` with a fresh profile; return (stdout, stderr)."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: the renderer and GPU processes too
        proc.communicate()
        pytest.fail(f"chromium did not finish in {timeout} s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-2000:]
    return out, err


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
def test_report_renders_without_console_errors(demo_report, tmp_path):
    _, out = demo_report
    page = out["html"]
    url = page.resolve().as_uri()

    shot = tmp_path / "report.png"
    _, err = chromium(tmp_path, url, f"--screenshot={shot}", f"--window-size={SCREEN[0]},{SCREEN[1]}")
    assert console_lines(err) == []
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == SCREEN
        rgb = im.convert("RGB")
        colors = rgb.getcolors(maxcolors=1 << 20)
        # A rendered report, not a blank or error page: many colours (plots), and mostly light background.
        assert colors is not None and len(colors) > 500
        white = (np.asarray(rgb.resize((140, 240))).min(axis=2) > 235).mean()
        assert 0.3 < white < 0.97

    # The DOM after the page's script ran (it marks <body data-ready="1"> and opens a linked job).
    dom, err = chromium(tmp_path, url + "#job-1", "--dump-dom")
    assert console_lines(err) == []
    assert 'data-ready="1"' in dom
    assert re.search(r'<details id="job-1" open=""', dom)
    table = dom.split('id="jobs-table"')[1].split("</table>")[0]
    assert table.count("<tr class=") == 13 and "&lt;script&gt;alert(1)&lt;/script&gt;" in table
    assert dom.count('<figure class="plot"><img src="data:image/png;base64,') == 3
    assert "<script>alert(1)</script>" not in dom
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", dom)


# Playwright's driver starts the system Chromium (executable_path): nothing is downloaded. It adds
# --headless itself and reads the console through the DevTools protocol, not Chromium's log.
PLAYWRIGHT_FLAGS = [f for f in FLAGS if f not in ("--headless", "--enable-logging=stderr", "--v=0")]
VIEWPORT = {"width": 1400, "height": 900}


def _changed(a, b) -> np.ndarray:
    """Where two screenshots differ visibly: a boolean mask, row by column."""
    from PIL import ImageChops

    return np.asarray(ImageChops.difference(a, b)).max(axis=2) > 24


@pytest.mark.slow
def test_frontier_point_hover_and_click(demo_report, tmp_path):
    """Hovering a frontier point shows its job's label, values with their 95% intervals and first sample
    beside it; clicking opens that job's details; focus works like hover. Screenshots before and after the
    hover differ where the tooltip is and nowhere else but the point's own highlight."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="needs Playwright for Python (pip install 'playwright>=1.40'); it drives the system "
        "Chromium, no browser download",
    )
    from PIL import Image

    _, out = demo_report
    url = out["html"].resolve().as_uri()
    problems: list[str] = []
    requests: list[str] = []
    before, after = tmp_path / "before-hover.png", tmp_path / "after-hover.png"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=PLAYWRIGHT_FLAGS, headless=True)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}"))
            page.on("pageerror", lambda e: problems.append(f"uncaught: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']", state="attached")
            # the knee of the image jobs in the first view (psnr against latency)
            point = page.locator('svg.frontier .pt[data-job="job-1"]').first
            point.evaluate("e => e.scrollIntoView({block: 'center'})")
            tip = page.locator("#tip")
            assert tip.is_hidden()
            scroll = page.evaluate("window.scrollY")
            page.screenshot(path=str(before))

            point.hover()
            tip.wait_for(state="visible")
            page.screenshot(path=str(after))
            assert page.evaluate("window.scrollY") == scroll  # same view: the screenshots line up
            text = tip.inner_text()
            assert text.splitlines()[0] == "tiny-sd / steps-4 / eager / fp32"
            assert "on the front" in text and "knee of this view" in text
            assert "latency_ms.p50: 55 [52, 58]" in text and "psnr: 32 [30, 34]" in text
            thumb = tip.locator("img")
            assert thumb.is_visible()
            assert thumb.get_attribute("src") == page.get_attribute("#thumb-job-1", "src")
            assert thumb.get_attribute("src").startswith("data:image/png;base64,")
            tip_box, point_box, thumb_box = tip.bounding_box(), point.bounding_box(), thumb.bounding_box()
            assert tip_box["x"] >= point_box["x"] + point_box["width"]  # beside the point, not over it
            assert tip_box["x"] + tip_box["width"] <= VIEWPORT["width"]
            assert tip_box["y"] >= 0 and tip_box["y"] + tip_box["height"] <= VIEWPORT["height"]

            page.mouse.move(5, 5)  # away: the tooltip goes
            tip.wait_for(state="hidden")

            assert not page.evaluate("document.getElementById('job-1').open")
            point.click()
            page.wait_for_function("document.getElementById('job-1').open")
            assert page.evaluate("location.hash") == "#job-1"
            top = page.evaluate("document.getElementById('job-1').getBoundingClientRect().top")
            assert -1 <= top < VIEWPORT["height"] / 2  # scrolled to it (to a fraction of a pixel)
            page.screenshot(path=str(tmp_path / "after-click.png"))

            # keyboard: focus shows the tooltip of that point, Enter opens its details
            audio = page.locator('svg.frontier .pt[data-job="job-10"]').first
            audio.focus()
            tip.wait_for(state="visible")
            assert tip.inner_text().startswith("tiny-stable-audio / steps-4 / eager / fp32")
            assert tip.locator("img").is_hidden()  # audio: no picture
            page.keyboard.press("Enter")
            page.wait_for_function("document.getElementById('job-10').open")
        finally:
            browser.close()
    assert problems == []
    assert requests and all(u.startswith(("file:", "data:")) for u in requests), requests

    with Image.open(before) as a, Image.open(after) as b:
        assert a.size == b.size == (VIEWPORT["width"], VIEWPORT["height"])
        changed = _changed(a.convert("RGB"), b.convert("RGB"))
    x0, y0 = int(tip_box["x"]), int(tip_box["y"])
    x1, y1 = int(tip_box["x"] + tip_box["width"]), int(tip_box["y"] + tip_box["height"])
    assert changed[y0:y1, x0:x1].mean() > 0.1  # the tooltip appeared there (white on a mostly white chart)
    tx, ty = int(thumb_box["x"]) + 2, int(thumb_box["y"]) + 2
    assert changed[ty : ty + int(thumb_box["height"]) - 4, tx : tx + int(thumb_box["width"]) - 4].mean() > 0.9
    # nothing else changed but the hovered point's highlight (and the tooltip's shadow)
    changed[max(y0 - 4, 0) : y1 + 12, max(x0 - 4, 0) : x1 + 12] = False
    px, py = int(point_box["x"]), int(point_box["y"])
    changed[py - 4 : py + int(point_box["height"]) + 4, px - 4 : px + int(point_box["width"]) + 4] = False
    assert not changed.any(), np.argwhere(changed)[:5]
