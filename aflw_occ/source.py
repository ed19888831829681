"""The AFLW2000-3D reader: a release folder → ordered, keyed :class:`Sample` records.

Layout expected (the public release): ``DIR/imageXXXXX.jpg`` + ``DIR/imageXXXXX.mat`` for every image; optionally
3DDFA's evaluation folder (``AFLW2000-3D-Reannotated.pts68.npy``, ``AFLW2000-3D_crop.roi_box.npy``, their name list
``AFLW2000-3D_crop.list``) for the re-annotated 2D landmarks and the 3DDFA crop boxes.

Quirks handled (see ``docs/protocol.md`` of the shared data):

* stored dtypes vary between files (``Exp_Para`` uint8, ``pt2d`` int16/uint16, float32 pose): all cast to float64;
* ``pt2d`` is (2, 21) except in three files where it is (2, 23); kept as stored, ``-1`` = missing;
* angles are not wrapped (image03123 has yaw −351.2°): the raw values are kept, :func:`wrap_degrees` gives (−180, 180].

Strict mode (default) raises :class:`~aflw_occ.errors.SourceError` at the first bad file; lenient mode skips the
sample and records ``(file, reason)`` in :attr:`AFLW2000_3D.skipped`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import SourceError
from .hashing import sha256_file
from .matfile import read_mat

ID_PATTERN = re.compile(r"^image\d{5}$")
REANNOTATED_FILE = "AFLW2000-3D-Reannotated.pts68.npy"
ROI_BOX_FILE = "AFLW2000-3D_crop.roi_box.npy"
NAME_LIST_FILE = "AFLW2000-3D_crop.list"

# field name → accepted shapes (after squeezing nothing: shapes as stored in the release)
_EXPECTED_SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {
    "Pose_Para": ((1, 7),),
    "Shape_Para": ((199, 1),),
    "Exp_Para": ((29, 1),),
    "pt3d_68": ((3, 68),),
    "pt2d": ((2, 21), (2, 23)),
}


def wrap_degrees(angle: np.ndarray | float) -> np.ndarray:
    """Wrap angles in degrees to (−180, 180]."""
    a = np.asarray(angle, dtype=np.float64)
    wrapped = np.mod(a + 180.0, 360.0) - 180.0
    return np.where(wrapped == -180.0, 180.0, wrapped)


@dataclass(frozen=True)
class Sample:
    """One AFLW2000-3D image and its annotation, every array float64.

    ``pose_para`` is the raw ``Pose_Para`` row: [pitch, yaw, roll (radians, unwrapped), tx, ty, tz, f].
    ``pt3d_68`` is (3, 68) image pixels (x, y, z). ``reannotated_68`` is (2, 68) when the 3DDFA file was given.
    ``roi_box`` is 3DDFA's [sx, sy, ex, ey] crop box when the 3DDFA file was given.
    """

    id: str
    index: int
    image_path: Path
    mat_path: Path
    pose_para: np.ndarray
    pt3d_68: np.ndarray
    pt2d: np.ndarray
    shape_para: np.ndarray
    exp_para: np.ndarray
    reannotated_68: np.ndarray | None = None
    roi_box: np.ndarray | None = None
    extra: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def angles_rad(self) -> np.ndarray:
        """Raw (pitch, yaw, roll) in radians, as stored (unwrapped)."""
        return self.pose_para[:3]

    @property
    def angles_deg(self) -> np.ndarray:
        """Raw (pitch, yaw, roll) in degrees, as stored (unwrapped): the convention the benchmarks bin on."""
        return np.degrees(self.pose_para[:3])

    @property
    def angles_deg_wrapped(self) -> np.ndarray:
        """(pitch, yaw, roll) in degrees wrapped to (−180, 180]."""
        return wrap_degrees(self.angles_deg)

    @property
    def yaw_deg(self) -> float:
        """Raw yaw in degrees (unwrapped): ``degrees(Pose_Para[1])``."""
        return float(np.degrees(self.pose_para[1]))

    @property
    def translation(self) -> np.ndarray:
        return self.pose_para[3:6]

    @property
    def scale(self) -> float:
        return float(self.pose_para[6])

    @property
    def landmarks(self) -> np.ndarray:
        """The 68 ground-truth landmarks as (68, 3) image pixels."""
        return self.pt3d_68.T

    def read_image(self) -> np.ndarray:
        """Decode the JPEG as an RGB uint8 (H, W, 3) array; raises :class:`SourceError` naming the file."""
        return read_rgb(self.image_path)


def read_rgb(path: Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (H, W, 3); grayscale JPEGs are expanded to 3 channels."""
    import cv2

    data = np.fromfile(path, dtype=np.uint8) if path.exists() else None
    if data is None:
        raise SourceError(f"{path}: image file is missing")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        raise SourceError(f"{path}: image cannot be decoded (corrupt or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def check_jpeg_bytes(path: Path) -> str | None:
    """Cheap integrity check of a JPEG file: SOI marker at the start, EOI near the end. Returns a reason or None."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if size < 4:
        return "is empty or truncated"
    with path.open("rb") as fh:
        head = fh.read(2)
        fh.seek(max(0, size - 64))
        tail = fh.read()
    if head != b"\xff\xd8":
        return "is not a JPEG (no start-of-image marker)"
    if b"\xff\xd9" not in tail:
        return "is a truncated JPEG (no end-of-image marker)"
    return None


def check_checksum(path: Path, checksums: Mapping[str, str]) -> str | None:
    """Why ``path`` does not match its recorded sha256 in ``checksums`` (file name → sha256), or None."""

    want = checksums.get(path.name)
    if want is None:
        return "is not in the data version's source checksums (not a file of the release)"
    got = sha256_file(path)
    if got != want:
        return f"sha256 {got[:16]}… differs from the recorded {want[:16]}… (corrupt, or not the release's file)"
    return None


def load_mat(path: Path) -> dict[str, np.ndarray]:
    """Read one annotation ``.mat`` into float64 arrays with validated shapes; :class:`SourceError` otherwise."""
    try:
        raw = read_mat(path)
    except Exception as exc:  # scipy (read_mat's fallback) raises ValueError, TypeError, OSError... on corrupt files
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SourceError(f"{path}: corrupt or truncated .mat ({msg})") from None
    out: dict[str, np.ndarray] = {}
    for name, shapes in _EXPECTED_SHAPES.items():
        if name not in raw:
            raise SourceError(f"{path}: field {name} is missing")
        arr = np.asarray(raw[name])
        if arr.shape not in shapes:
            want = " or ".join(str(s) for s in shapes)
            raise SourceError(f"{path}: field {name} has shape {arr.shape}, expected {want}")
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise SourceError(f"{path}: field {name} is not numeric (dtype {arr.dtype})") from None
        if not np.all(np.isfinite(arr)):
            raise SourceError(f"{path}: field {name} holds NaN or inf")
        out[name] = arr
    for name in ("roi", "Tex_Para", "Color_Para", "Illum_Para"):
        if name in raw:
            try:
                out[name] = np.asarray(raw[name]).astype(np.float64)
            except (TypeError, ValueError):
                raise SourceError(f"{path}: field {name} is not numeric") from None
    return out


def _load_eval_arrays(eval_dir: Path) -> tuple[list[str], np.ndarray | None, np.ndarray | None]:
    names_path = eval_dir / NAME_LIST_FILE
    if not names_path.is_file():
        raise SourceError(f"{names_path}: 3DDFA name list is missing (needed to align the 3DDFA arrays)")
    names = [Path(n.strip()).stem for n in names_path.read_text().splitlines() if n.strip()]
    arrays: list[np.ndarray | None] = []
    for fname, tail in ((REANNOTATED_FILE, (2, 68)), (ROI_BOX_FILE, (4,))):
        p = eval_dir / fname
        if not p.is_file():
            arrays.append(None)
            continue
        try:
            a = np.load(p).astype(np.float64)
        except Exception as exc:
            raise SourceError(f"{p}: cannot be read ({exc})") from None
        if a.shape != (len(names), *tail):
            raise SourceError(f"{p}: shape {a.shape}, expected {(len(names), *tail)} (one row per name in the list)")
        arrays.append(a)
    return names, arrays[0], arrays[1]


def _release_files(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    """id → ``.jpg`` and id → ``.mat`` of a release folder; :class:`SourceError` when it is not one."""
    if not root.is_dir():
        raise SourceError(f"{root}: source folder does not exist (point --source at the AFLW2000-3D folder)")
    jpgs = {p.stem: p for p in root.glob("image*.jpg") if ID_PATTERN.match(p.stem)}
    mats = {p.stem: p for p in root.glob("image*.mat") if ID_PATTERN.match(p.stem)}
    if not jpgs and not mats:
        raise SourceError(f"{root}: no imageXXXXX.jpg / .mat files found (not an AFLW2000-3D folder)")
    return jpgs, mats


def _eval_rows(
    eval_dir: Path | None, keys: Sequence[str]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """id → re-annotated landmarks (2, 68) and id → crop box (4,) from 3DDFA's evaluation folder, for the ``keys``
    it lists (both empty without the folder)."""
    reann: dict[str, np.ndarray] = {}
    boxes: dict[str, np.ndarray] = {}
    if eval_dir is None:
        return reann, boxes
    names, re_arr, box_arr = _load_eval_arrays(eval_dir)
    row = {n: i for i, n in enumerate(names)}
    for k in keys:
        if k in row:
            if re_arr is not None:
                reann[k] = re_arr[row[k]]
            if box_arr is not None:
                boxes[k] = box_arr[row[k]]
    return reann, boxes


class AFLW2000_3D(Sequence[Sample]):
    """An AFLW2000-3D release folder as an ordered sequence of :class:`Sample`, also indexable by id.

    Args:
        root: the folder holding ``imageXXXXX.jpg`` / ``.mat`` pairs.
        eval_dir: optional 3DDFA evaluation folder (re-annotated landmarks and crop boxes).
        strict: raise at the first bad file (default); ``False`` skips bad samples and lists them in ``skipped``.
        ids: optional subset of ids to load (others are ignored, not reported).
        checksums: optional file name → sha256 (a data version's source checksums): each loaded sample's ``.jpg``
            and ``.mat`` must match, else it is a bad file (raised in strict mode, skipped in lenient mode).
    """

    def __init__(
        self,
        root: str | Path,
        eval_dir: str | Path | None = None,
        *,
        strict: bool = True,
        ids: Sequence[str] | None = None,
        checksums: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.checksums = checksums
        self.eval_dir = Path(eval_dir) if eval_dir is not None else None
        self.strict = strict
        self.skipped: list[tuple[str, str]] = []
        jpgs, mats = _release_files(self.root)
        keys = self._usable_ids(jpgs, mats, set(ids) if ids is not None else None)
        reann, boxes = _eval_rows(self.eval_dir, keys)
        samples: list[Sample] = []
        for k in keys:
            try:
                sample = self._load_one(k, jpgs[k], mats[k], reann.get(k), boxes.get(k), len(samples))
            except SourceError as exc:
                if strict:
                    raise
                file, _, reason = str(exc).partition(": ")
                self.skipped.append((file, reason))
                continue
            samples.append(sample)
        self._samples = samples
        self._by_id = {s.id: s for s in samples}

    def _usable_ids(self, jpgs: dict[str, Path], mats: dict[str, Path], wanted: set[str] | None) -> list[str]:
        """The sorted ids with both files (restricted to ``wanted``); an image without its ``.mat`` (or the other way
        round) or a wanted id that is not there is an error, or in lenient mode listed in ``skipped``."""
        no_mat = sorted(k for k in jpgs.keys() - mats.keys() if wanted is None or k in wanted)
        no_jpg = sorted(k for k in mats.keys() - jpgs.keys() if wanted is None or k in wanted)
        if no_mat or no_jpg:
            problems = [(str(jpgs[k]), "has no matching .mat annotation") for k in no_mat]
            problems += [(str(mats[k]), "has no matching .jpg image") for k in no_jpg]
            if self.strict:
                first = problems[0]
                raise SourceError(
                    f"{self.root}: incomplete source: {len(no_mat)} image(s) without .mat, "
                    f"{len(no_jpg)} .mat without image; first: {first[0]} {first[1]}"
                )
            self.skipped.extend(problems)
        keys = sorted(jpgs.keys() & mats.keys())
        if wanted is None:
            return keys
        missing = sorted(wanted - set(keys) - set(no_mat) - set(no_jpg))
        if missing and self.strict:
            raise SourceError(f"{self.root}: {len(missing)} requested id(s) not found; first: {missing[0]}")
        self.skipped.extend((str(self.root / f"{k}.jpg"), "requested id not found") for k in missing)
        return [k for k in keys if k in wanted]

    def _load_one(
        self, key: str, jpg: Path, mat: Path, reann: np.ndarray | None, box: np.ndarray | None, index: int
    ) -> Sample:
        for path in (jpg, mat) if self.checksums is not None else ():
            reason = check_checksum(path, self.checksums)
            if reason is not None:
                raise SourceError(f"{path}: {reason}")
        reason = check_jpeg_bytes(jpg)
        if reason is not None:
            raise SourceError(f"{jpg}: {reason}")
        fields = load_mat(mat)
        extra = {k: v for k, v in fields.items() if k in ("roi", "Tex_Para", "Color_Para", "Illum_Para")}
        return Sample(
            id=key,
            index=index,
            image_path=jpg,
            mat_path=mat,
            pose_para=fields["Pose_Para"].reshape(7),
            pt3d_68=fields["pt3d_68"],
            pt2d=fields["pt2d"],
            shape_para=fields["Shape_Para"].reshape(-1),
            exp_para=fields["Exp_Para"].reshape(-1),
            reannotated_68=reann,
            roi_box=box,
            extra=extra,
        )

    # Sequence protocol -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, key):  # type: ignore[override]
        if isinstance(key, str):
            try:
                return self._by_id[key]
            except KeyError:
                raise KeyError(f"{key}: no such sample in {self.root}") from None
        return self._samples[key]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self._samples)

    def __contains__(self, key: object) -> bool:
        return key in self._by_id

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self._samples]

    # Stacked arrays ----------------------------------------------------------------------------------------------
    def landmarks(self) -> np.ndarray:
        """(N, 68, 3) ground-truth landmarks in image pixels."""
        return np.stack([s.pt3d_68.T for s in self._samples])

    def reannotated(self) -> np.ndarray | None:
        """(N, 68, 2) re-annotated landmarks, or None when the 3DDFA file was not given (or misses a sample)."""
        if any(s.reannotated_68 is None for s in self._samples):
            return None
        return np.stack([s.reannotated_68.T for s in self._samples])  # type: ignore[union-attr]

    def angles_deg(self) -> np.ndarray:
        """(N, 3) raw (pitch, yaw, roll) in degrees."""
        return np.stack([s.angles_deg for s in self._samples])

    def roi_boxes(self) -> np.ndarray | None:
        if any(s.roi_box is None for s in self._samples):
            return None
        return np.stack([s.roi_box for s in self._samples])  # type: ignore[misc]

    def report(self) -> str:
        """One line per skipped file (lenient mode), or an empty string."""
        return "\n".join(f"skipped {f}: {r}" for f, r in self.skipped)
