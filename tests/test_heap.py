"""aflw_occ.heap: the worker heap settings take effect where glibc provides mallopt, and change no value."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest


def test_keep_freed_memory_takes_effect_on_glibc() -> None:
    """In a fresh interpreter (the settings are process-wide): True on Linux with glibc, where mallopt exists."""
    if not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"):
        pytest.skip("mallopt is glibc's; other C libraries keep their defaults (keep_freed_memory returns False)")
    code = "from aflw_occ.heap import keep_freed_memory; print(keep_freed_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True"


def test_results_do_not_depend_on_the_heap_settings() -> None:
    """The same composite bytes with and without the settings (each in its own interpreter). Reused heap memory is
    not zeroed: a pixel step that read an ``np.empty`` buffer before writing it would differ here."""
    code = (
        "import sys, hashlib, numpy as np\n"
        "from aflw_occ.heap import keep_freed_memory\n"
        "if sys.argv[1] == '1': keep_freed_memory()\n"
        "from aflw_occ.builders.compositing import composite\n"
        "from aflw_occ.builders.occluders.randocc import random_blob\n"
        "g = np.random.default_rng(3)\n"
        "img = g.integers(0, 256, (240, 240, 3), dtype=np.uint8)\n"
        "reg = np.zeros((240, 240), bool); reg[60:180, 70:170] = True\n"
        "h = hashlib.sha256()\n"
        "for k in range(4):\n"
        "    rng = np.random.default_rng(k)\n"
        "    blob, _ = random_blob(rng)\n"
        "    r = composite(img, reg, blob, rng)\n"
        "    h.update(r.image.tobytes()); h.update(r.mask.tobytes())\n"
        "print(h.hexdigest())\n"
    )
    runs = [subprocess.run([sys.executable, "-c", code, flag], capture_output=True, text=True, check=True).stdout
            for flag in ("0", "1")]  # fmt: skip
    assert runs[0] == runs[1] and len(runs[0].strip()) == 64
