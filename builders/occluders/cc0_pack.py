"""The CC0 occluder pack: a few cut-outs made once from public-domain images bundled with scikit-image.

Run ``python -m aflw_occ.builders.occluders.cc0_pack`` to regenerate ``aflw_occ/assets/occluders/cc0/`` (RGBA PNGs +
``ATTRIBUTION.json`` with licence, source and sha256 of every file). The committed PNGs are the reference: they are read
by :func:`read_cc0` and verified against ``ATTRIBUTION.json``; regenerating with another OpenCV may change bytes.

Sources (licence as stated in the ``skimage.data`` docstrings of scikit-image 0.26):

* ``skimage.data.coffee()`` — "No copyright restrictions. CC0 by the photographer (Rachel Michetti)"; courtesy of
  Pikolo Espresso Bar. Cut-out: the espresso cup with saucer and spoon (a hand-placed ellipse fitted to rim points,
  unioned with the cup rim ellipse and the spoon tip, shrunk 2 px and feathered).

The other bundled photographs were checked and not used: ``chelsea`` (CC0) and ``astronaut`` (public domain) hold no
object that is both whole in the frame and plausible in front of a face; coins cut from ``coins`` (no known copyright
restrictions) looked fake at face size on the contact sheet; ``rocket``, ``camera`` and the grey textures are scenes
or surfaces. RandOcc uses the CC0 textures (``brick``, ``grass``, ``gravel``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...hashing import sha256_bytes
from ...paths import asset_path
from .library import LibraryKind, Occluder, OccluderError, OccluderLibrary, decode_image, finish_rgba

CC0_DIR = asset_path("occluders", "cc0")
ATTRIBUTION = "ATTRIBUTION.json"

COFFEE_LICENCE = "CC0 by the photographer (Rachel Michetti); no copyright restrictions (skimage.data.coffee docstring)"


def _feathered(mask: np.ndarray, shrink: int = 2, sigma: float = 1.0) -> np.ndarray:
    """uint8 alpha: the binary mask shrunk by ``shrink`` px then blurred (anti-aliased edge, no background rim)."""
    m = cv2.erode(mask.astype(np.uint8) * 255, np.ones((2 * shrink + 1, 2 * shrink + 1), np.uint8))
    return cv2.GaussianBlur(m, (0, 0), sigma)


def coffee_cup() -> np.ndarray:
    """The espresso cup + saucer + spoon of ``skimage.data.coffee()`` as RGBA uint8."""
    from skimage import data

    rgb = data.coffee()
    rim_points = np.array(
        [(76, 225), (100, 150), (156, 94), (175, 80), (480, 206), (437, 125), (262, 388), (125, 325), (406, 338),
         (412, 112)],
        np.float32,
    )
    mask = np.zeros(rgb.shape[:2], np.uint8)
    cv2.ellipse(mask, cv2.fitEllipse(rim_points), 1, -1)
    cv2.ellipse(mask, (290, 111), (117, 94), 0, 0, 360, 1, -1)
    cv2.fillPoly(mask, [np.array([(402, 78), (410, 66), (424, 68), (418, 112), (398, 112)], np.int32)], 1)
    return np.dstack([rgb, _feathered(mask > 0)])


def make_pack() -> list[tuple[str, str, str, str, np.ndarray]]:
    """(name, category, source, licence, rgba) of every pack item, cropped to the alpha box."""
    items = [("coffee_cup_saucer", "household", "skimage.data.coffee", COFFEE_LICENCE, coffee_cup())]
    out = []
    for name, cat, src, lic, rgba in items:
        cropped, reason = finish_rgba(rgba, name)
        if cropped is None:
            raise RuntimeError(f"cc0 pack item {name}: {reason}")
        out.append((name, cat, src, lic, cropped))
    return out


def write_pack(out_dir: Path = CC0_DIR) -> dict[str, Any]:
    """Write the PNGs and ``ATTRIBUTION.json`` (each file written to a temporary name, then renamed)."""
    import skimage

    out_dir.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, cat, src, lic, rgba in make_pack():
        ok, buf = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        assert ok
        data = buf.tobytes()
        tmp = out_dir / f".{name}.png.tmp"
        tmp.write_bytes(data)
        tmp.replace(out_dir / f"{name}.png")
        entries.append(
            {"file": f"{name}.png", "category": cat, "source": src, "licence": lic, "sha256": sha256_bytes(data)}
        )
    doc = {
        "made_by": "python -m aflw_occ.builders.occluders.cc0_pack",
        "scikit_image": skimage.__version__,
        "opencv": cv2.__version__,
        "items": entries,
    }
    tmp = out_dir / f".{ATTRIBUTION}.tmp"
    tmp.write_text(json.dumps(doc, indent=1) + "\n")
    tmp.replace(out_dir / ATTRIBUTION)
    return doc


def read_cc0(pack_dir: Path = CC0_DIR) -> OccluderLibrary:
    """The committed CC0 pack, verified against its ``ATTRIBUTION.json``."""
    try:
        doc = json.loads((pack_dir / ATTRIBUTION).read_text())
    except (OSError, ValueError) as exc:
        raise OccluderError(f"{pack_dir / ATTRIBUTION}: CC0 pack attribution unreadable ({exc})") from exc
    items = []
    for e in doc["items"]:
        path = pack_dir / e["file"]
        try:
            data = path.read_bytes()
        except OSError:
            raise OccluderError(f"{path}: CC0 pack file missing") from None
        if sha256_bytes(data) != e["sha256"]:
            raise OccluderError(f"{path}: sha256 differs from {ATTRIBUTION}")
        rgba, reason = finish_rgba(decode_image(data, str(path)), str(path))
        if rgba is None:
            raise OccluderError(f"{path}: {reason}")
        items.append(
            Occluder(
                id=f"cc0:{Path(e['file']).stem}",
                category=e["category"],
                source=str(path),
                sha256=e["sha256"],
                library="cc0",
                rgba=rgba,
            )
        )
    return OccluderLibrary(items, spec="cc0")


LIBRARY = LibraryKind(
    kind="cc0",
    forms=("cc0",),
    summary="only the CC0 pack committed in `aflw_occ/assets/occluders/cc0`",
    min_args=0,
    max_args=0,
    load=lambda args, strict: read_cc0(),
)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Regenerate the CC0 occluder pack from scikit-image's bundled images.")
    ap.add_argument("--out", type=Path, default=CC0_DIR)
    args = ap.parse_args(argv)
    doc = write_pack(args.out)
    for e in doc["items"]:
        print(f"{args.out / e['file']}: {e['category']}, {e['source']}")


if __name__ == "__main__":
    main()
