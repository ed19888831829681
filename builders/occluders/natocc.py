"""A user library in NatOcc's layout: an image folder and a mask folder (``natocc:IMGDIR,MASKDIR``).

Every image (``.jpg``, ``.jpeg``, ``.png``, ``.bmp``) below ``IMGDIR`` is paired with the mask of the same relative path
and stem below ``MASKDIR`` (any of the same suffixes; e.g. ``img/hand_001.jpg`` ↔ ``mask/hand_001.png``). The mask's
grey value is the alpha (a 0/1 mask is scaled to 0/255). This is how NatOcc stores its COCO objects and 11k Hands
cut-outs.

Category: the first sub-folder below ``IMGDIR``; files directly in ``IMGDIR`` get ``hand`` when the folder's name
contains "hand" (11k Hands) and ``object`` otherwise. Hands are rotated to point at the face when composited.

Rejected (strict mode: an error naming the file): an image without a mask, a mask of another size than its image, an
unreadable file, an empty or too small mask.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...hashing import sha256_bytes
from .folder import category_of
from .library import LibraryKind, Occluder, OccluderError, OccluderLibrary, Rejected, decode_image, finish_rgba

SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def _mask_for(image_rel: Path, mask_dir: Path) -> Path | None:
    for suffix in SUFFIXES:
        for cand in (mask_dir / image_rel.with_suffix(suffix), mask_dir / image_rel.with_suffix(suffix.upper())):
            if cand.is_file():
                return cand
    return None


def pair_to_rgba(image_path: Path, mask_path: Path) -> tuple[np.ndarray | None, str, bytes]:
    """Combine an image and its mask into RGBA. Returns (rgba, "", hash material) or (None, reason, b"")."""
    try:
        img_bytes, mask_bytes = image_path.read_bytes(), mask_path.read_bytes()
        img = decode_image(img_bytes, str(image_path))
        mask = decode_image(mask_bytes, str(mask_path))
    except (OSError, OccluderError) as exc:
        return None, f"not readable ({exc})", b""
    if img.shape[:2] != mask.shape[:2]:
        return (
            None,
            f"mask {mask_path} is {mask.shape[1]}×{mask.shape[0]} but the image is {img.shape[1]}×{img.shape[0]}",
            b"",
        )
    # BT.601 luma in 14-bit fixed point (OpenCV's RGB2GRAY coefficients), integer arithmetic
    m = mask[..., :3].astype(np.int32)
    alpha = ((4899 * m[..., 0] + 9617 * m[..., 1] + 1868 * m[..., 2] + 8192) >> 14).astype(np.uint8)
    if alpha.max() == 1:
        alpha = alpha * np.uint8(255)
    rgba, reason = finish_rgba(np.dstack([img[..., :3], alpha]), str(image_path))
    return rgba, reason, img_bytes + mask_bytes


def read_natocc(image_dir: Path, mask_dir: Path, *, strict: bool = True) -> OccluderLibrary:
    """Read image + mask pairs.

    Raises:
        OccluderError: a folder is missing or holds no usable pair, or (``strict``) any unusable pair.
    """
    image_dir, mask_dir = Path(image_dir), Path(mask_dir)
    for d in (image_dir, mask_dir):
        if not d.is_dir():
            raise OccluderError(f"{d}: NatOcc folder does not exist")
    files = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise OccluderError(f"{image_dir}: NatOcc image folder holds no image")
    default_cat = "hand" if "hand" in image_dir.name.lower() else "object"
    items: list[Occluder] = []
    rejected: list[Rejected] = []
    for path in files:
        rel = path.relative_to(image_dir)
        mask_path = _mask_for(rel, mask_dir)
        if mask_path is None:
            rgba, reason, material = None, f"no mask {rel.with_suffix('')}.* in {mask_dir}", b""
        else:
            rgba, reason, material = pair_to_rgba(path, mask_path)
        if rgba is None:
            if strict:
                raise OccluderError(f"{path}: {reason}")
            rejected.append(Rejected(str(path), reason))
            continue
        items.append(
            Occluder(
                id=f"natocc:{image_dir.name}/{rel.with_suffix('').as_posix()}",
                category=category_of(rel, default_cat),
                source=str(path),
                sha256=sha256_bytes(material),
                library="natocc",
                rgba=rgba,
            )
        )
    if not items:
        first = rejected[0]
        raise OccluderError(
            f"{image_dir}: no usable image + mask pair among {len(files)} images (e.g. {first.source}: {first.reason})"
        )
    return OccluderLibrary(items, rejected, spec=f"natocc:{image_dir},{mask_dir}")


LIBRARY = LibraryKind(
    kind="natocc",
    forms=("natocc:IMGDIR,MASKDIR",),
    summary="NatOcc's layout: images + same-stem masks",
    min_args=2,
    max_args=2,
    load=lambda args, strict: read_natocc(Path(args[0]), Path(args[1]), strict=strict),
)
