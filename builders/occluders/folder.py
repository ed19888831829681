"""A user library: a folder of RGBA PNG cut-outs (``folder:DIR``).

Every ``*.png`` below ``DIR`` (recursively, sorted) is one occluder; its category is the first sub-folder below
``DIR`` (files directly in ``DIR`` get category ``object``; a sub-folder named ``hand``/``hands`` makes NatOcc point
them at the face). A PNG is rejected when it has no alpha channel, when its alpha is fully opaque (a photo, not a
cut-out), when it is empty or smaller than ``MIN_SIDE`` pixels. In strict mode (building) the first rejected file is
an error naming the file; ``aflw-occ occluders list`` reads leniently and lists every rejection with its reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...hashing import sha256_bytes
from .library import LibraryKind, Occluder, OccluderError, OccluderLibrary, Rejected, decode_image, finish_rgba

IMAGE_SUFFIXES = (".png",)


def category_of(rel: Path, default: str = "object") -> str:
    """The first folder of a relative path (``hands/left/a.png`` → ``hands``), else ``default``."""
    return rel.parts[0].lower() if len(rel.parts) > 1 else default


def rgba_from_file(path: Path, data: bytes | None = None) -> tuple[np.ndarray | None, str]:
    """Decode a cut-out PNG and check its alpha. Returns (rgba, "") or (None, reason)."""
    try:
        data = path.read_bytes() if data is None else data
        arr = decode_image(data, str(path))
    except (OSError, OccluderError) as exc:
        return None, f"not a readable image ({exc.__class__.__name__})"
    if arr.shape[2] != 4:
        return None, "no alpha channel and no mask (RGB image: give an RGBA PNG or use natocc:IMGDIR,MASKDIR)"
    if int(arr[..., 3].min()) == 255:
        return None, "alpha channel is fully opaque everywhere (a photo, not a cut-out)"
    return finish_rgba(arr, str(path))


def read_folder(root: Path, *, strict: bool = True, library: str = "folder") -> OccluderLibrary:
    """Read every RGBA PNG below ``root``.

    Raises:
        OccluderError: ``root`` is not a folder, holds no PNG, no usable PNG, or (``strict``) any unusable PNG.
    """
    root = Path(root)
    if not root.is_dir():
        raise OccluderError(f"{root}: occluder folder does not exist")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise OccluderError(f"{root}: occluder folder holds no PNG file")
    items: list[Occluder] = []
    rejected: list[Rejected] = []
    for path in files:
        data = path.read_bytes()
        rgba, reason = rgba_from_file(path, data)
        if rgba is None:
            if strict:
                raise OccluderError(f"{path}: {reason}")
            rejected.append(Rejected(str(path), reason))
            continue
        rel = path.relative_to(root)
        items.append(
            Occluder(
                id=f"{library}:{root.name}/{rel.with_suffix('').as_posix()}",
                category=category_of(rel),
                source=str(path),
                sha256=sha256_bytes(data),
                library=library,
                rgba=rgba,
            )
        )
    if not items:
        first = rejected[0]
        raise OccluderError(
            f"{root}: no usable occluder among {len(files)} PNG files (e.g. {first.source}: {first.reason})"
        )
    return OccluderLibrary(items, rejected, spec=f"{library}:{root}")


LIBRARY = LibraryKind(
    kind="folder",
    forms=("folder:DIR",),
    summary="every RGBA PNG below DIR (category = first sub-folder)",
    min_args=1,
    max_args=1,
    load=lambda args, strict: read_folder(Path(args[0]), strict=strict),
)
