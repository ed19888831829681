"""The report end to end on the real data: a store of 14 real images with every subset, the real 3DDFA_V2 mb05
model exported to ONNX and evaluated, the report built by the CLI and opened in headless Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from report_browser import probe, screenshot

EXE = str(Path(sys.executable).parent / "aflw-occ")
#: 12 ids of tests/data/repro_ids.txt (all three yaw bins) and 2 that NOD selects (naturally occluded)
IDS = [
    "image00002", "image00004", "image00006", "image00070", "image00112", "image00167", "image00174",
    "image00211", "image00283", "image00290", "image00306", "image00368", "image00808", "image01598",
]  # fmt: skip


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.mark.real
@pytest.mark.torch
def test_report_of_a_real_model_on_real_data(real_source: Path, shared: Path, tmp_path: Path) -> None:
    import cv2

    pytest.importorskip("torch")  # the [test] extra installs it (CI); the ONNX export needs it
    weights = shared / "models" / "3ddfa_v2_mb05" / "mb05_120x120.pth"
    assert weights.is_file(), f"{weights} missing from the shared data"
    (tmp_path / "ids.txt").write_text("\n".join(IDS) + "\n")
    store = tmp_path / "store"
    _cli("build", "--source", str(real_source), "--out", str(store), "--ids", f"@{tmp_path / 'ids.txt'}",
         "--subsets", "all", "--quiet")  # fmt: skip
    onnx = tmp_path / "mb05.onnx"
    _cli("export", "3ddfa-v2", "--weights", str(weights), "--out", str(onnx))
    res = tmp_path / "res"
    _cli("evaluate", "--model", f"3ddfa-v2:{onnx}", "--data", str(store), "--out", str(res), "--no-progress")
    page = tmp_path / "report.html"
    proc = _cli("report", str(res), "--out", str(page), "--no-progress")
    assert proc.stderr == "" and proc.stdout.startswith(f"wrote {page}")
    doc = page.read_text(encoding="utf-8")

    for proto in ("sparse-2d", "sparse-3d", "pose"):
        assert f'<h3 id="protocol-{proto}">' in doc
    assert "Not in the drops: NOD" in doc  # its images are the clean ones
    drops = re.search(r'<section id="drops">(.*?)</section>', doc, re.S)
    assert drops is not None
    cells = r"<tr><td>3ddfa-v2-mb05_120x120</td><td>CSOD column</td><td>14</td><td>balanced</td>(.*?)</tr>"
    row = re.search(cells, drops[1])
    assert row is not None
    delta = float(re.findall(r"<td>([-\d.]+)<br>", row[1])[0])
    assert delta > 1.0  # a full-height column over the face hurts a real model
    occ = re.search(r'<section id="occluders">(.*?)</section>', doc, re.S)
    assert occ is not None and "<h3>NSOD occluder category</h3>" in occ[1]
    assert occ[1].count("<svg ") == 1
    assert doc.count("data:image/jpeg") == 6 * 4 + 2  # 4 worst of each split; NOD holds 2 images
    assert len(doc) < 1_500_000

    seen = probe(page, tmp_path / "chrome")
    assert seen["broken"] == [] and seen["images"] == 26 and seen["empty_svgs"] == 0
    assert seen["sections"] == re.findall(r'<section id="([\w-]+)">', doc)
    shot = cv2.imread(str(screenshot(page, tmp_path / "report.png", height=4000)))
    assert shot is not None and shot.shape[:2] == (4000, 1500)
    assert float(np.mean(shot < 200)) > 0.02  # text, tables and plots, not a blank page
