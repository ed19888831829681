"""The default occluder pack: photographic object stamps of Debian's ``tuxpaint-stamps-default`` 2022.06.04-1.

Users get the stamps with ``apt-get download tuxpaint-stamps-default && dpkg -x tuxpaint-stamps-default_*.deb DIR``
(or point at an installed ``/usr/share/tuxpaint/stamps``, or at the ``.deb`` itself: it is unpacked with the Python
standard library — ``ar`` + ``tar.xz``/``tar.gz``/``tar.bz2``; ``tar.zst`` needs the ``zstandard`` module or the
``zstd`` program — into a cache folder). The stamps are GPL-2 (see the package's copyright file): they are read as
build input and never shipped with this toolkit.

Which stamps are used is fixed by the committed list ``aflw_occ/assets/occluders/tuxpaint_selection.json``: every
selected file with its sha256, verified on load (a missing or changed file is an error naming it), and every stamp that
was *not* selected with the measured reason. The list was produced by :func:`build_selection` (run
``python -m aflw_occ.builders.occluders.tuxpaint DIR --out FILE``) with this criterion, measured on the
straight-alpha RGBA stamp:

* **drawing (flat fills)** — ``flat ≥ 0.25`` where ``flat`` is the fraction of interior pixels (alpha = 255, eroded
  5×5) at which the 3×3 Laplacian of every colour channel is ≤ 1 in absolute value: vector art and renders are made
  of flat fills and linear gradients, photographs carry sensor noise and texture (photos here: ≤ 0.15, drawings ≥ 0.47);
* **drawing (ink outline)** — ``outline ≥ 0.5`` and ``distinct ≤ 0.9``, where ``outline`` is the share of near-black
  pixels (luma < 60) in the 2-pixel silhouette band minus their share inside, and ``distinct`` the number of distinct
  RGB colours per opaque pixel (line art outlined in black with crayon fills; small photos with a shaded rim have
  ``distinct`` ≈ 1);
* **translucent** — median alpha of the non-transparent pixels < 128 (a glass, strings: the face stays visible);
* **too small** — alpha bounding box under 32 pixels, or fewer than 256 pixels with alpha ≥ 128;
* **not a hand-held object** — an explicit list (:data:`SCENE_OBJECTS`: whole trees, bins, a toilet, a cement mixer, a
  drum kit, a gas cylinder, goal posts) that cannot plausibly be held in front of a face.

The category of a stamp is its top-level stamp folder (clothes, food, hobbies, household, medical, plants, sports).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import cv2
import numpy as np

from ...atomic import atomic_folder
from ...hashing import sha256_bytes, sha256_file
from ...paths import asset_path, shared_dir
from .library import LibraryKind, Occluder, OccluderError, OccluderLibrary, Rejected, decode_image, finish_rgba

PACKAGE = "tuxpaint-stamps-default"
PACKAGE_VERSION = "2022.06.04-1"
STAMPS_IN_DEB = "usr/share/tuxpaint/stamps"
SELECTION_FILE = asset_path("occluders", "tuxpaint_selection.json")

FLAT_MAX = 0.25
OUTLINE_MIN = 0.5
DISTINCT_MAX = 0.9
TRANSLUCENT_MEDIAN = 128
MIN_SIDE = 32
MIN_OPAQUE = 256
SCENE_OBJECTS: dict[str, str] = {
    "household/toilet.png": "a toilet",
    "household/tools/cementmixer.png": "a cement mixer",
    "household/garbagecan.png": "a dustbin",
    "household/wheelie_bin.png": "a wheelie bin",
    "household/home_compost_bin.png": "a compost bin",
    "household/cylinder.png": "a gas cylinder",
    "hobbies/music/percussion/drumkit.png": "a whole drum kit",
    "sports/rugby_goal_posts.png": "goal posts",
    "plants/trees/birch.png": "a whole tree",
    "plants/trees/tree336.png": "a whole tree",
    "plants/trees/liberia-palm.png": "a whole tree",
    "plants/trees/holm_oak.png": "a whole tree",
}


# --------------------------------------------------------------------------------------------------------------
# locating the stamps


def default_tuxpaint_path() -> Path:
    """``$AFLW_OCC_SHARED/occluders/tuxpaint-stamps-default``, else an installed ``/usr/share/tuxpaint/stamps``."""
    candidates = [shared_dir() / "occluders" / PACKAGE, Path("/") / STAMPS_IN_DEB]
    for c in candidates:
        if c.is_dir():
            return c
    raise OccluderError(
        f"default occluders: tuxpaint stamps not found at {candidates[0]} or {candidates[1]}; get them with "
        f"`apt-get download {PACKAGE} && dpkg -x {PACKAGE}_*.deb DIR` and pass --occluders default:DIR"
    )


def cache_dir() -> Path:
    """Where unpacked packages are cached: ``$AFLW_OCC_CACHE`` or ``$XDG_CACHE_HOME/aflw-occ`` (``~/.cache``)."""
    if os.environ.get("AFLW_OCC_CACHE"):
        return Path(os.environ["AFLW_OCC_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")).expanduser()
    return base / "aflw-occ"


def stamps_root(path: Path, cache: Path | None = None) -> Path:
    """The stamps folder (holding ``food/``, ``household/`` …) for a stamps folder, a ``dpkg -x`` root or a .deb."""
    path = Path(path)
    if path.is_file():
        if path.suffix != ".deb":
            raise OccluderError(f"{path}: tuxpaint stamps must be a folder or a .deb file")
        return unpack_deb(path, cache) / STAMPS_IN_DEB
    if not path.is_dir():
        raise OccluderError(f"{path}: tuxpaint stamps folder or .deb does not exist")
    for sub in (STAMPS_IN_DEB, "stamps"):
        if (path / sub).is_dir():
            return path / sub
    return path


# --------------------------------------------------------------------------------------------------------------
# .deb unpacking with the standard library


def ar_members(fh: BinaryIO, name: str) -> Iterator[tuple[str, int, int]]:
    """(member name, data offset, size) of a Unix ``ar`` archive (the .deb container)."""
    if fh.read(8) != b"!<arch>\n":
        raise OccluderError(f"{name}: not a .deb (ar) archive")
    while True:
        header = fh.read(60)
        if not header:
            return
        if len(header) < 60 or header[58:60] != b"`\n":
            raise OccluderError(f"{name}: corrupt ar member header")
        member = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        offset = fh.tell()
        yield member, offset, size
        fh.seek(offset + size + (size & 1))


class _Slice(io.RawIOBase):
    """A read-only window ``[offset, offset + size)`` of an open binary file."""

    def __init__(self, fh: BinaryIO, offset: int, size: int) -> None:
        self._fh, self._left = fh, size
        fh.seek(offset)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self._left)
        if n <= 0:
            return 0
        data = self._fh.read(n)
        buf[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _open_data_tar(fh: BinaryIO, offset: int, size: int, member: str, name: str) -> tarfile.TarFile:
    """A streaming tar reader over the data.tar member (xz, gz, bz2 or plain; zst via zstandard or zstd)."""
    window = io.BufferedReader(_Slice(fh, offset, size), buffer_size=1 << 20)
    if member.endswith(".zst"):
        try:
            import zstandard  # type: ignore[import-not-found]

            return tarfile.open(fileobj=zstandard.ZstdDecompressor().stream_reader(window), mode="r|")
        except ImportError:
            exe = shutil.which("zstd")
            if exe is None:
                raise OccluderError(
                    f"{name}: {member} is zstd-compressed; install the `zstandard` module or the `zstd` program, "
                    "or unpack it with `dpkg -x`"
                ) from None
            data = subprocess.run([exe, "-dc"], input=window.read(), capture_output=True, check=True).stdout
            return tarfile.open(fileobj=io.BytesIO(data), mode="r|")
    return tarfile.open(fileobj=window, mode="r|*")


def _extract_stamps(tf: tarfile.TarFile, into: Path) -> None:
    """Extract the regular ``.png`` files below :data:`STAMPS_IN_DEB` of a .deb's data tar into ``into`` (no links,
    no absolute or ``..`` paths)."""
    prefix = tuple(STAMPS_IN_DEB.split("/"))
    for info in tf:
        name = info.name[2:] if info.name.startswith("./") else info.name
        rel = PurePosixPath(name)
        if not info.isfile() or rel.suffix.lower() != ".png" or rel.is_absolute() or ".." in rel.parts:
            continue
        if rel.parts[: len(prefix)] != prefix:
            continue
        target = into.joinpath(*rel.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        src = tf.extractfile(info)
        assert src is not None
        target.write_bytes(src.read())

def unpack_deb(deb: Path, cache: Path | None = None) -> Path:
    """Unpack the stamp PNGs of a .deb into ``cache/<package>-<sha256[:16]>`` once and return that root.

    Only regular ``.png`` files below ``usr/share/tuxpaint/stamps`` are extracted (no links, no absolute or ``..``
    paths). The folder is written under a temporary name and renamed when complete
    (:func:`aflw_occ.atomic.atomic_folder`).
    """
    deb = Path(deb)
    root = (cache or cache_dir()) / f"{deb.stem.split('_')[0]}-{sha256_file(deb)[:16]}"
    if (root / ".complete").exists():
        return root
    try:
        with atomic_folder(root) as tmp, deb.open("rb") as fh:
            found = next(((m, o, s) for m, o, s in ar_members(fh, str(deb)) if m.startswith("data.tar")), None)
            if found is None:
                raise OccluderError(f"{deb}: .deb holds no data.tar member")
            with _open_data_tar(fh, found[1], found[2], found[0], str(deb)) as tf:
                _extract_stamps(tf, tmp)
            (tmp / ".complete").write_text(f"{deb.name}\n")
    except (tarfile.TarError, OSError, EOFError, ValueError, subprocess.CalledProcessError) as exc:
        raise OccluderError(f"{deb}: cannot unpack ({exc})") from exc
    return root


# --------------------------------------------------------------------------------------------------------------
# the selection criterion


def stamp_stats(rgba: np.ndarray) -> dict[str, float]:
    """The measured statistics of one stamp (straight-alpha RGBA uint8), see the module docstring."""
    rgb = np.ascontiguousarray(rgba[..., :3])
    alpha = rgba[..., 3]
    k3 = np.ones((3, 3), np.uint8)
    interior = cv2.erode((alpha == 255).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    lap = np.abs(cv2.Laplacian(rgb.astype(np.float32), cv2.CV_32F, ksize=1)).max(axis=-1)
    flat = float((lap[interior] <= 1.0).mean()) if interior.any() else 0.0
    opaque = alpha >= 128
    inner = cv2.erode(opaque.astype(np.uint8), k3, iterations=2) > 0
    band = opaque & ~inner
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    dark = luma < 60
    outline = float(dark[band].mean() - dark[inner].mean()) if band.any() and inner.any() else 0.0
    px = rgb[opaque].astype(np.int64)
    distinct = float(np.unique(px[:, 0] << 16 | px[:, 1] << 8 | px[:, 2]).size / max(len(px), 1))
    nz = alpha[alpha > 0]
    return {
        "flat": round(flat, 4),
        "outline": round(outline, 4),
        "distinct": round(distinct, 4),
        "median_alpha": float(np.median(nz)) if nz.size else 0.0,
        "opaque_px": int(opaque.sum()),
        "width": int(rgba.shape[1]),
        "height": int(rgba.shape[0]),
    }


def classify(rel: str, stats: dict[str, float]) -> str:
    """Why a stamp is not a natural occluder ("" when it is selected)."""
    if max(stats["width"], stats["height"]) < MIN_SIDE or stats["opaque_px"] < MIN_OPAQUE:
        return f"too small ({stats['width']}×{stats['height']} px, {stats['opaque_px']} opaque px)"
    if stats["median_alpha"] < TRANSLUCENT_MEDIAN:
        return f"translucent (median alpha {stats['median_alpha']:.0f} < {TRANSLUCENT_MEDIAN})"
    if stats["flat"] >= FLAT_MAX:
        return f"drawing: flat fills (flat {stats['flat']:.2f} ≥ {FLAT_MAX})"
    if stats["outline"] >= OUTLINE_MIN and stats["distinct"] <= DISTINCT_MAX:
        return (
            f"drawing: ink outline (outline {stats['outline']:.2f} ≥ {OUTLINE_MIN}, "
            f"distinct colours {stats['distinct']:.2f} ≤ {DISTINCT_MAX})"
        )
    if rel in SCENE_OBJECTS:
        return f"not a hand-held object ({SCENE_OBJECTS[rel]})"
    return ""


def build_selection(root: Path) -> dict[str, Any]:
    """Measure every PNG below a stamps folder and return the selection document (committed as JSON)."""
    root = stamps_root(root)
    selected: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    for path in sorted(root.rglob("*.png")):
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        rgba = decode_image(data, str(path))
        if rgba.shape[2] != 4:
            rejected.append({"path": rel, "sha256": sha256_bytes(data), "reason": "no alpha channel"})
            continue
        stats = stamp_stats(rgba)
        reason = classify(rel, stats)
        entry = {"path": rel, "sha256": sha256_bytes(data), "category": rel.split("/")[0], "stats": stats}
        if reason:
            entry["reason"] = reason
            rejected.append(entry)
        else:
            selected.append(entry)
    return {
        "package": PACKAGE,
        "version": PACKAGE_VERSION,
        "stamps_dir_in_package": STAMPS_IN_DEB,
        "licence": "GPL-2 (per-stamp upstream credits in the package's copyright file); not shipped, read as input",
        "criterion": {
            "flat_max": FLAT_MAX,
            "outline_min": OUTLINE_MIN,
            "distinct_max": DISTINCT_MAX,
            "translucent_median_alpha": TRANSLUCENT_MEDIAN,
            "min_side": MIN_SIDE,
            "min_opaque_px": MIN_OPAQUE,
            "scene_objects": sorted(SCENE_OBJECTS),
            "doc": "aflw_occ.builders.occluders.tuxpaint (module docstring)",
        },
        "selected": selected,
        "rejected": rejected,
    }


def load_selection(path: Path = SELECTION_FILE) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise OccluderError(f"{path}: tuxpaint selection list unreadable ({exc})") from exc


# --------------------------------------------------------------------------------------------------------------
# reading


def read_tuxpaint(path: Path, *, selection: dict[str, Any] | None = None, cache: Path | None = None) -> OccluderLibrary:
    """The selected, hash-verified tuxpaint stamps found at ``path`` (stamps folder, ``dpkg -x`` root or .deb).

    Raises:
        OccluderError: a selected stamp is missing or its sha256 differs from the committed list.
    """
    root = stamps_root(Path(path), cache)
    sel = load_selection() if selection is None else selection
    items: list[Occluder] = []
    for entry in sel["selected"]:
        file = root / entry["path"]
        try:
            data = file.read_bytes()
        except OSError:
            raise OccluderError(
                f"{file}: selected tuxpaint stamp missing (expected {PACKAGE} {sel.get('version', '?')})"
            ) from None
        digest = sha256_bytes(data)
        if digest != entry["sha256"]:
            raise OccluderError(
                f"{file}: sha256 {digest[:16]}… differs from the committed selection ({entry['sha256'][:16]}…); "
                f"expected {PACKAGE} {sel.get('version', '?')}"
            )
        rgba, reason = finish_rgba(decode_image(data, str(file)), str(file))
        if rgba is None:
            raise OccluderError(f"{file}: selected stamp unusable: {reason}")
        items.append(
            Occluder(
                id="tuxpaint:" + entry["path"].removesuffix(".png"),
                category=entry["category"],
                source=str(file),
                sha256=digest,
                library="tuxpaint",
                rgba=rgba,
            )
        )
    rejected = [Rejected(str(root / e["path"]), e["reason"]) for e in sel["rejected"]]
    return OccluderLibrary(items, rejected, spec=f"tuxpaint:{path}")


LIBRARY = LibraryKind(
    kind="tuxpaint",
    forms=("tuxpaint:DIR|DEB",),
    summary="the selected tuxpaint stamps (a stamps folder, a `dpkg -x` root, or the .deb itself)",
    min_args=1,
    max_args=1,
    load=lambda args, strict: read_tuxpaint(Path(args[0])),
)


def main(argv: list[str] | None = None) -> None:
    """Regenerate the selection list: ``python -m aflw_occ.builders.occluders.tuxpaint DIR [--out FILE]``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stamps", type=Path, help="stamps folder, dpkg -x root, or the .deb")
    ap.add_argument("--out", type=Path, default=SELECTION_FILE)
    args = ap.parse_args(argv)
    doc = build_selection(args.stamps)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    tmp.replace(args.out)
    print(f"{args.out}: {len(doc['selected'])} selected, {len(doc['rejected'])} rejected")


if __name__ == "__main__":
    main()
