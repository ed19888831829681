"""A user library from COCO instance annotations (``coco:ANNOTATIONS.json,IMAGEDIR[,CAT+CAT...]``).

NatOcc's object source: every non-crowd instance of a face-occluding category whose mask area is at least
``MIN_AREA`` pixels and whose box does not touch the image border (a truncated object would show a straight cut) is
one occluder, cut out of its image with its instance mask. Polygons and RLE (uncompressed and compressed) are decoded
here with numpy/OpenCV (no pycocotools). Instances are decoded lazily, when first drawn.

:data:`DEFAULT_CATEGORIES` are the hand-held COCO categories; name others with ``,cat+cat`` (a requested category that
the file does not hold is an error naming the file).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .library import LibraryKind, Occluder, OccluderError, OccluderLibrary, Rejected, decode_image, finish_rgba

MIN_AREA = 4096
#: sub-pixel bits of the polygon rasteriser (pixel (r, c) covers [c, c+1)×[r, r+1); its centre is at +0.5)
POLY_SHIFT = 4
MARGIN = 2
DEFAULT_CATEGORIES = (
    "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "cell phone", "remote", "book", "scissors",
    "teddy bear", "hair drier", "toothbrush", "umbrella", "handbag", "tie", "frisbee", "sports ball", "baseball bat",
    "baseball glove", "tennis racket", "mouse",
)  # fmt: skip


# --------------------------------------------------------------------------------------------------------------
# segmentation decoding


def rle_from_string(s: str) -> list[int]:
    """Decode COCO's compressed RLE string into run lengths.

    Each count is stored in 5-bit groups (least significant first) as characters ``chr(48 + group)``, bit 0x20 meaning
    "more groups follow" and bit 0x10 of the last group the sign; from the third count on, the stored value is the
    difference to the count two places before.
    """
    counts: list[int] = []
    p, n = 0, len(s)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_decode(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    """(height, width) bool from run lengths (alternating 0/1 runs, starting with 0, column-major order)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.sum() != height * width or (counts < 0).any():
        raise ValueError(f"RLE counts sum to {int(counts.sum())}, expected {height}×{width}")
    values = (np.arange(len(counts)) % 2).astype(bool)
    return np.repeat(values, counts).reshape(width, height).T


def polygons_decode(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """(height, width) bool: union of filled polygons ``[x1, y1, x2, y2, ...]`` (pixel-centre rasterisation)."""
    mask = np.zeros((height, width), np.uint8)
    scale = 1 << POLY_SHIFT
    pts = [
        np.rint((np.asarray(p, np.float64).reshape(-1, 2) - 0.5) * scale).astype(np.int32)
        for p in polygons
        if len(p) >= 6
    ]
    if pts:
        cv2.fillPoly(mask, pts, 1, cv2.LINE_8, POLY_SHIFT)
    return mask.astype(bool)


def segmentation_mask(seg: Any, height: int, width: int) -> np.ndarray:
    """Decode any COCO segmentation (polygon list, uncompressed or compressed RLE)."""
    if isinstance(seg, list):
        return polygons_decode(seg, height, width)
    if isinstance(seg, dict) and "counts" in seg:
        h, w = (int(v) for v in seg.get("size", (height, width)))
        counts = rle_from_string(seg["counts"]) if isinstance(seg["counts"], str) else seg["counts"]
        return rle_decode(counts, h, w)
    raise ValueError("unknown segmentation format")


# --------------------------------------------------------------------------------------------------------------
# reading


def _loader(image_path: Path, seg: Any, height: int, width: int, bbox: Sequence[float], name: str):
    def load() -> np.ndarray:
        try:
            data = image_path.read_bytes()
        except OSError:
            raise OccluderError(f"{image_path}: COCO image missing ({name})") from None
        img = decode_image(data, str(image_path))
        if img.shape[:2] != (height, width):
            raise OccluderError(
                f"{image_path}: image is {img.shape[1]}×{img.shape[0]}, annotation says {width}×{height} ({name})"
            )
        x, y, w, h = bbox
        x0, y0 = max(int(x) - MARGIN, 0), max(int(y) - MARGIN, 0)
        x1, y1 = min(int(np.ceil(x + w)) + MARGIN, width), min(int(np.ceil(y + h)) + MARGIN, height)
        mask = segmentation_mask(seg, height, width)[y0:y1, x0:x1]
        rgba = np.dstack([img[y0:y1, x0:x1, :3], mask.astype(np.uint8) * 255])
        out, reason = finish_rgba(rgba, name)
        if out is None:
            raise OccluderError(f"{image_path}: {name}: {reason}")
        return out

    return load


def _read_annotations(annotations: Path) -> tuple[dict[int, str], dict[int, dict[str, Any]], list[dict[str, Any]]]:
    """(category id → name, image id → image record, annotation records) of a COCO instances file."""
    if not annotations.is_file():
        raise OccluderError(f"{annotations}: COCO annotation file does not exist")
    try:
        doc = json.loads(annotations.read_text())
        cats = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
        images = {int(i["id"]): i for i in doc["images"]}
        anns = doc["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise OccluderError(f"{annotations}: not a COCO instances file ({exc.__class__.__name__}: {exc})") from exc
    return cats, images, anns


def _wanted(annotations: Path, names: set[str], categories: Sequence[str] | None) -> set[str]:
    """The category names to index: ``categories`` (each must be in the file), else :data:`DEFAULT_CATEGORIES`
    present in the file (at least one)."""
    if categories is not None:
        missing = [c for c in categories if c not in names]
        if missing:
            raise OccluderError(
                f"{annotations}: requested COCO categories {missing} not in the file (it has {sorted(names)[:12]}…)"
            )
        return set(categories)
    wanted = set(DEFAULT_CATEGORIES) & names
    if not wanted:
        raise OccluderError(
            f"{annotations}: none of the face-occluding COCO categories (e.g. cup, bottle, cell phone) is in the "
            f"file (it has {sorted(names)[:12]}); name categories with coco:ANN,IMGDIR,CAT+CAT"
        )
    return wanted


def _skip_reason(ann: dict[str, Any], min_area: float) -> str | None:
    """Why an instance of a wanted category is not used before its image is looked at (None: keep looking)."""
    if ann.get("iscrowd", 0):
        return "crowd annotation"
    if float(ann.get("area", 0.0)) < min_area:
        return f"area < {min_area:g} px"
    return None


def _touches_border(bbox: Sequence[float], height: int, width: int) -> bool:
    """Whether the box [x, y, w, h] comes within 1 px of the image border (a truncated object)."""
    x, y, w, h = (float(v) for v in bbox)
    return x <= 1 or y <= 1 or x + w >= width - 1 or y + h >= height - 1


def _occluder(ann: dict[str, Any], img: dict[str, Any], cat: str, annotations: Path, image_dir: Path) -> Occluder:
    """The lazily decoded occluder of one instance; its sha256 is over the annotation record and the image name."""
    height, width = int(img["height"]), int(img["width"])
    name = f"annotation {ann['id']}"
    record = json.dumps(
        {"id": ann["id"], "file": img["file_name"], "segmentation": ann["segmentation"]}, sort_keys=True
    )
    return Occluder(
        id=f"coco:{annotations.stem}/{int(ann['id'])}",
        category=cat,
        source=f"{image_dir / img['file_name']}#{ann['id']}",
        sha256=hashlib.sha256(record.encode()).hexdigest(),
        library="coco",
        loader=_loader(image_dir / img["file_name"], ann["segmentation"], height, width, ann["bbox"], name),
        cache=False,
    )


def read_coco(
    annotations: Path,
    image_dir: Path,
    *,
    categories: Sequence[str] | None = None,
    min_area: float = MIN_AREA,
) -> OccluderLibrary:
    """Index the instances of ``categories`` (default: :data:`DEFAULT_CATEGORIES`) with area ≥ ``min_area``.

    Raises:
        OccluderError: unreadable JSON, missing keys, a requested category absent from the file, or no instance left.
    """
    annotations, image_dir = Path(annotations), Path(image_dir)
    cats, images, anns = _read_annotations(annotations)
    if not image_dir.is_dir():
        raise OccluderError(f"{image_dir}: COCO image folder does not exist")
    wanted = _wanted(annotations, set(cats.values()), categories)
    items: list[Occluder] = []
    skipped: Counter[str] = Counter()
    for ann in anns:
        cat = cats.get(int(ann.get("category_id", -1)))
        if cat not in wanted:
            continue
        reason = _skip_reason(ann, min_area)
        img = images.get(int(ann["image_id"])) if reason is None else None
        if reason is None and img is None:
            raise OccluderError(f"{annotations}: annotation {ann.get('id')} refers to unknown image {ann['image_id']}")
        if reason is None and _touches_border(ann["bbox"], int(img["height"]), int(img["width"])):
            reason = "touches the image border (truncated object)"
        if reason is not None:
            skipped[reason] += 1
            continue
        items.append(_occluder(ann, img, cat, annotations, image_dir))
    rejected = [Rejected(f"{annotations} ({n} instances)", reason) for reason, n in sorted(skipped.items())]
    if not items:
        raise OccluderError(
            f"{annotations}: no instance of {sorted(wanted)} left (area ≥ {min_area:g}, not crowd, not truncated)"
        )
    return OccluderLibrary(items, rejected, spec=f"coco:{annotations},{image_dir}")


def _load(args: tuple[str, ...], strict: bool) -> OccluderLibrary:
    """``coco:ANNOTATIONS.json,IMAGEDIR[,CAT+CAT...]`` (every instance is checked when drawn, so ``strict`` is moot)."""
    cats = tuple(c.strip() for c in args[2].split("+")) if len(args) == 3 else None
    return read_coco(Path(args[0]), Path(args[1]), categories=cats)


LIBRARY = LibraryKind(
    kind="coco",
    forms=("coco:ANNOTATIONS.json,IMAGEDIR[,CATEGORY+CATEGORY...]",),
    summary="COCO instances of face-occluding categories (default: the hand-held ones; name others with `,CAT+CAT`)",
    min_args=2,
    max_args=3,
    load=_load,
)
