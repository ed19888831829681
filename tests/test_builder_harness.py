"""One harness for every subset builder (TFDS's ``DatasetBuilderTestCase`` / torchvision's ``DatasetTestCase``
pattern): each entry of :data:`aflw_occ.builders.SUBSETS` is built through the pipeline on a fabricated mini-source
and checked for the same invariants —

* determinism: two builds with the same options are bit-identical (every pixel hash, mask hash, flag and parameter
  of the manifest, and every decoded image and mask), with one worker and big blocks, with two workers and blocks of
  one sample, and as two shards assembled in the other order;
* pixels outside the recorded occluder mask equal the source's pixels;
* every sample's parameters are recorded and survive a JSON round trip;
* the per-landmark flags are (n, 68) bool, in the HDF5 file and in the ground truth;
* the manifest round trip: build → verify against the build's own manifest passes, and one flipped byte (a flag of
  the first sample) fails naming that sample.

What each builder is given (nothing from the real release):

* the source: :data:`N` procedural faces of :func:`aflw_occ.demo.make_source` (``imageXXXXX.jpg`` + ``.mat`` with
  ``pt3d_68``, ``Pose_Para``, ``roi``), the same for every builder;
* ``csod``: nothing else (its occluders are drawn rectangles);
* ``nsod``: a fabricated ``folder:`` occluder library (two RGBA PNG cut-outs: a disc and an elongated ``hands``
  cut-out that NatOcc points at the face), standing in for the default tuxpaint/CC0 pack;
* ``randocc``: the same options (its blobs are procedural and use no library);
* ``nod``: a stand-in for the release's ``Code/Model_Shape_Sim.mat``: a small mesh in the demo template's model space
  (the 68 template points, which are its keypoints, plus a 6-unit grid inside the face outline, depth interpolated
  from the template, Delaunay triangles turned towards the camera), so that each sample's ``Pose_Para`` and
  ``pt3d_68`` describe it; the default ``adaptive`` segmenter needs no weights. The fabricated faces are unoccluded,
  so NOD selects none of them: its invariants are checked on all rows (``all_rows=True``), which it stores anyway.

A builder added to the registry is picked up here; if it needs another input, give it one in :func:`options_for`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import scipy.io
from matplotlib.path import Path as Outline
from scipy.interpolate import griddata
from scipy.spatial import Delaunay

from aflw_occ.builders import SUBSETS as REGISTRY
from aflw_occ.builders import BuildOptions
from aflw_occ.demo import face_template, make_source
from aflw_occ.pipeline import BuildPlan, build
from aflw_occ.store import open_store
from aflw_occ.store.verify import verify

N = 4
SUBSETS = list(REGISTRY)


def write_standin_mesh(src: Path, step: float = 6.0) -> Path:
    """``src/Code/Model_Shape_Sim.mat`` for the demo faces: ``mu_shape`` (3N, 1) interleaved x, y, z; ``tri`` (3, T)
    1-based; ``keypoints`` (1, 68) 1-based — the layout of the release's file."""
    t = face_template()
    outline = np.concatenate([t[:17], t[26:16:-1]])[:, :2]  # jaw, then the brows right to left: a closed outline
    xs, ys = np.meshgrid(np.arange(-80.0, 81.0, step), np.arange(-95.0, 61.0, step))
    grid = np.stack([xs.ravel(), ys.ravel()], axis=1)
    grid = grid[Outline(outline).contains_points(grid, radius=-3.0)]
    z = griddata(t[:, :2], t[:, 2], grid, method="linear")
    z = np.where(np.isnan(z), griddata(t[:, :2], t[:, 2], grid, method="nearest"), z)
    verts = np.concatenate([t, np.column_stack([grid, z])])
    tri = Delaunay(verts[:, :2]).simplices
    a, b, c = (verts[tri[:, k], :2] for k in range(3))
    clockwise = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]) > 0
    tri[clockwise] = tri[clockwise][:, [0, 2, 1]]  # model y points up: clockwise here faces the camera in the image
    path = src / "Code" / "Model_Shape_Sim.mat"
    path.parent.mkdir(parents=True, exist_ok=True)
    keypoints = np.arange(1, 69, dtype=np.float64)[None, :]
    scipy.io.savemat(str(path), {"mu_shape": verts.reshape(-1, 1), "tri": (tri + 1).T.astype(np.float64),
                                 "keypoints": keypoints})  # fmt: skip
    return path


def write_cutouts(folder: Path) -> Path:
    """Two RGBA PNG cut-outs: ``disc.png`` (category object) and ``hands/finger.png`` (elongated: points at the
    face)."""
    yy, xx = np.mgrid[:90, :90]
    disc = np.zeros((90, 90, 4), np.uint8)
    disc[..., :3] = (200, 60, 40)
    disc[..., 3] = np.where((yy - 45) ** 2 + (xx - 45) ** 2 < 40**2, 255, 0)
    finger = np.zeros((40, 150, 4), np.uint8)
    finger[..., :3] = (180, 140, 110)
    finger[6:34, 5:145, 3] = 255
    for rel, rgba in (("disc.png", disc), ("hands/finger.png", finger)):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(folder / rel), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    return folder


@pytest.fixture(scope="module")
def mini(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fabricated source with its stand-in mesh, the fabricated occluder folder)."""
    root = tmp_path_factory.mktemp("harness")
    src = make_source(root / "src", n=N, seed=3)
    write_standin_mesh(src)
    return src, write_cutouts(root / "cutouts")


def options_for(subset: str, cutouts: Path) -> BuildOptions:
    """The options every harness build of ``subset`` uses (see the module docstring)."""
    return BuildOptions(seed=11, occluders=(f"folder:{cutouts}",))


def _plan(subset: str, mini: tuple[Path, Path], out: Path, **kw: object) -> BuildPlan:
    src, cutouts = mini
    settings: dict[str, object] = dict(workers=1, block_size=N, progress=False)
    settings.update(kw)
    return BuildPlan(source=src, out=out, version="2.0.0", subsets=(subset,), options=options_for(subset, cutouts),
                     **settings)  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture(scope="module", params=SUBSETS)
def built(
    request: pytest.FixtureRequest, mini: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    """(subset, the store built with one worker), built once per subset."""
    subset = request.param
    path = build(_plan(subset, mini, tmp_path_factory.mktemp(subset))).path
    assert path is not None
    return subset, path


def _splits(path: Path) -> list[str]:
    with open_store(path) as st:
        return [s for s in st.splits if s != "clean"]


def _arrays(path: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    with open_store(path) as st:
        out = {}
        for name in _splits(path):
            sp = st.split(name, all_rows=True)
            out[name] = [(sp.image(i), sp.mask(i)) for i in range(len(sp))]
        return out


def test_registry_is_covered() -> None:
    assert SUBSETS and {"csod", "nod", "nsod", "randocc"} <= set(SUBSETS)


def test_builds_are_deterministic(built: tuple[str, Path], mini: tuple[Path, Path], tmp_path: Path) -> None:
    subset, path = built
    again = build(_plan(subset, mini, tmp_path / "again")).path
    parallel = build(_plan(subset, mini, tmp_path / "parallel", workers=2, block_size=1)).path
    sharded = tmp_path / "sharded"
    assert build(_plan(subset, mini, sharded, block_size=1, shard=(2, 2))).path is None  # the later shard first
    last = build(_plan(subset, mini, sharded, block_size=1, shard=(1, 2))).path
    assert again is not None and parallel is not None and last is not None
    texts = open_store(path).manifest_texts()
    assert _splits(path), f"{subset} wrote no split"
    for other in (again, parallel, last):
        assert open_store(other).manifest_texts()[1] == texts[1], f"{subset}: {other.parent.name} differs"
    first, second = _arrays(path), _arrays(again)
    for name, rows in first.items():
        for (img, mask), (img2, mask2) in zip(rows, second[name], strict=True):
            assert np.array_equal(img, img2) and np.array_equal(mask, mask2), name


def test_pixels_outside_the_mask_equal_the_source(built: tuple[str, Path]) -> None:
    subset, path = built
    with open_store(path) as st:
        for name in _splits(path):
            sp = st.split(name, all_rows=True)
            assert len(sp) == N
            for i in range(N):
                img, mask = sp.image(i), sp.mask(i)
                base = st.base_image(int(sp.source_index[i]))
                assert img.shape == base.shape and img.dtype == np.uint8 and mask.shape == base.shape[:2]
                assert mask.dtype == bool
                assert np.array_equal(img[~mask], base[~mask]), f"{name} row {i}"


def test_params_are_recorded_and_json(built: tuple[str, Path]) -> None:
    subset, path = built
    with open_store(path) as st:
        for name in _splits(path):
            sp = st.split(name, all_rows=True)
            for i in range(N):
                params = sp.params(i)
                assert isinstance(params, dict) and params, f"{name} row {i}: no parameters"
                assert json.loads(json.dumps(params, allow_nan=False)) == params


def test_flags_shape_and_dtype(built: tuple[str, Path]) -> None:
    subset, path = built
    with h5py.File(path, "r") as f:
        groups: list[str] = []
        f[subset].visititems(lambda n, obj: groups.append(n) if isinstance(obj, h5py.Dataset) and
                             n.endswith("/occluded") else None)  # fmt: skip
        assert groups, f"{subset}: no occlusion flags"
        for g in groups:
            assert f[subset][g].shape == (N, 68) and f[subset][g].dtype == np.bool_
    with open_store(path) as st:
        for name in _splits(path):
            gt = st.split(name, all_rows=True).ground_truth()
            assert gt.occluded is not None and gt.occluded.shape == (N, 68) and gt.occluded.dtype == np.bool_


def test_manifest_round_trip_and_a_tampered_byte(built: tuple[str, Path], tmp_path: Path) -> None:
    subset, path = built
    report = verify(path)
    assert report.ok, report.summary()
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    with h5py.File(copy, "r+") as f:
        groups: list[str] = []
        f[subset].visititems(lambda n, obj: groups.append(n.rpartition("/")[0]) if isinstance(obj, h5py.Dataset) and
                             n.endswith("/occluded") else None)  # fmt: skip
        g = f[subset][sorted(groups)[0]]
        flags = g["occluded"][()]
        flags[0, 30] = not flags[0, 30]
        g["occluded"][...] = flags
        victim = g["ids"].asstr()[0]
    report = verify(copy, path.parent / "manifest-2.0.0")
    assert not report.ok and [m.id for m in report.mismatches] == [victim]
