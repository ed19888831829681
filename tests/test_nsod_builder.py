"""The NSOD builder: both variants on real images with the mesh face region, library errors, and a small pipeline build
that must not depend on the worker count."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from aflw_occ.builders.base import BuildOptions, SourceSample, sample_rng, sample_seed
from aflw_occ.builders.nsod import NSOD, RandOcc
from aflw_occ.builders.occluders.library import OccluderError
from aflw_occ.landmark_patches import landmarks_under


def _png(path: Path, rgba: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def small_library(root: Path) -> Path:
    """Two fabricated cut-outs: a round one and an elongated 'hand' (pointing)."""
    disc = np.zeros((64, 64, 4), np.uint8)
    cv2.circle(disc, (32, 32), 28, (200, 60, 30, 255), -1)
    stick = np.zeros((20, 120, 4), np.uint8)
    stick[4:16, 2:118] = (90, 160, 60, 255)
    _png(root / "objects" / "disc.png", disc)
    _png(root / "hand" / "stick.png", stick)
    return root


@pytest.mark.real
def test_nsod_on_real_images_with_the_mesh_region(real_dataset, shared: Path) -> None:
    from aflw_occ.face_mesh import load_face_mesh
    from aflw_occ.face_region import face_region_mask

    mesh = load_face_mesh(shared / "data" / "aflw2000-3d")
    builder = NSOD(BuildOptions(seed=3, occluders=("default",)))
    builder.prepare()
    prov = builder.provenance()
    assert prov["occluder_count"] == "133" and len(prov["occluder_fingerprint"]) == 64
    for i in (0, 777, 1999):
        s = real_dataset[i]
        img = s.read_image()
        img.setflags(write=False)
        region = face_region_mask(s, mesh)
        src = SourceSample(s.id, i, img, s.pt3d_68.T.copy(), s.pose_para, lambda _s, r=region: r.copy())
        for cls in (NSOD, RandOcc):
            config = cls.CONFIGS[0]
            seed32 = sample_seed(3, cls.name, config.name, s.id)
            ex = builder.generate(src, config, sample_rng(seed32))
            again = builder.generate(src, config, sample_rng(seed32))
            np.testing.assert_array_equal(ex.image, again.image)
            assert ex.params == again.params
            np.testing.assert_array_equal(ex.image[~ex.mask], img[~ex.mask])
            np.testing.assert_array_equal(ex.occluded, landmarks_under(ex.mask, src.landmarks))
            ref_cover = np.count_nonzero(ex.mask & region) / np.count_nonzero(region)
            assert ex.covered_fraction == pytest.approx(ref_cover) and ex.covered_fraction > 0.05
            p = json.loads(json.dumps(ex.params))
            assert p["variant"] == config.name and p["region"] == "face_region"
            if config.name == "natocc":
                assert p["occluder"]["id"].startswith(("tuxpaint:", "cc0:")) and len(p["occluder"]["sha256"]) == 64
            else:
                assert 3 <= p["occluder"]["blob"]["n_points"] <= 15
    assert [cls.split_name(cls.CONFIGS[0]) for cls in (NSOD, RandOcc)] == ["nsod", "randocc"]


def test_nsod_bad_library_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(OccluderError, match="empty: occluder folder holds no PNG"):
        NSOD(BuildOptions(occluders=(f"folder:{tmp_path / 'empty'}",))).prepare()


def test_nsod_pipeline_is_independent_of_worker_count(tmp_path: Path) -> None:
    from aflw_occ.demo import make_source
    from aflw_occ.pipeline import BuildPlan, build
    from aflw_occ.store import open_store

    src = make_source(tmp_path / "src", n=6, seed=1)
    lib = small_library(tmp_path / "lib")
    hashes = []
    for workers in (1, 2):
        plan = BuildPlan(
            source=src,
            out=tmp_path / f"out{workers}",
            version="2.0.0",
            subsets=("nsod", "randocc"),
            options=BuildOptions(seed=5, occluders=(f"folder:{lib}",)),
            workers=workers,
            progress=False,
        )
        res = build(plan)
        assert res.path is not None and res.splits["nsod"] == 6 and res.splits["randocc"] == 6
        with open_store(res.path) as store:
            rows = []
            for name in ("nsod", "randocc"):
                split = store.split(name)
                for k in range(len(split)):
                    img, mask = split.image(k), split.mask(k)
                    rows.append((name, str(split.ids[k]), img.tobytes(), mask.tobytes(), split.params(k)))
            ids = {r[4]["occluder"]["id"] for r in rows if r[0] == "nsod"}
            assert ids <= {"folder:lib/objects/disc", "folder:lib/hand/stick"}
            hashes.append(rows)
    assert hashes[0] == hashes[1]
