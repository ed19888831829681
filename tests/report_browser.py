"""Open report pages in headless Chromium and say what rendered (shared by the report tests).

Chromium runs with a fresh profile, no network services, no sandbox (containers), and a probe script added to a copy
of the page: after ``load`` it lists images that did not decode, SVG plots with no size and the sections present,
and writes that as JSON into the DOM that ``--dump-dom`` prints. The report itself carries no script.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)

PROBE = """<script>addEventListener('load', () => {
  const r = {images: 0, broken: [], svgs: 0, empty_svgs: 0, sections: [], title: document.title};
  for (const i of document.images) { r.images++; if (!(i.complete && i.naturalWidth > 0)) r.broken.push(i.alt); }
  for (const s of document.querySelectorAll('svg')) {
    r.svgs++; const b = s.getBoundingClientRect(); if (!(b.width > 0 && b.height > 0)) r.empty_svgs++;
  }
  for (const s of document.querySelectorAll('section')) r.sections.push(s.id);
  const p = document.createElement('pre'); p.id = 'aflw-occ-probe'; p.textContent = JSON.stringify(r);
  document.body.appendChild(p);
});</script>"""


def chromium() -> str:
    """The Chromium executable; a missing one fails the test under CI (``AFLW_OCC_REQUIRE_REAL=1``), else skips."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and Path("/usr/bin/chromium").is_file():
        exe = "/usr/bin/chromium"
    if exe is None:
        message = "chromium is not installed (`make chromium` installs Debian's package)"
        if os.environ.get("AFLW_OCC_REQUIRE_REAL") == "1":
            pytest.fail(message + "; CI (AFLW_OCC_REQUIRE_REAL=1) must open the report in a browser")
        pytest.skip(message)
    return exe


def _run(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def probe(page: Path, work: Path) -> dict[str, Any]:
    """What rendered on ``page`` (see module docstring)."""
    work.mkdir(parents=True, exist_ok=True)
    copy = work / f"probe-{page.name}"
    text = page.read_text(encoding="utf-8")
    assert text.count("</body>") == 1
    copy.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    res = _run(["--virtual-time-budget=20000", "--dump-dom", copy.as_uri()], work / "profile-dom")
    assert res.returncode == 0, res.stderr[-2000:]
    m = re.search(r'<pre id="aflw-occ-probe">(.*?)</pre>', res.stdout, re.S)
    assert m is not None, "the page did not finish loading in Chromium (no probe output)"
    return json.loads(html.unescape(m.group(1)))  # type: ignore[no-any-return]


def screenshot(page: Path, out: Path, width: int = 1500, height: int = 6000) -> Path:
    """A PNG of the top ``height`` pixels of the page."""
    res = _run([f"--window-size={width},{height}", f"--screenshot={out}", page.as_uri()], out.parent / "profile-shot")
    assert res.returncode == 0 and out.is_file(), res.stderr[-2000:]
    return out
