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
