"""The NOD builder on real samples: an index into base plus v, P, F and per-landmark flags."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from aflw_occ.builders import BuildOptions, get_builder
from aflw_occ.builders.base import SourceSample, sample_rng
from aflw_occ.face_mesh import load_face_mesh
from aflw_occ.skin import get_segmenter
from aflw_occ.visibility import VisibilityWarning, select_nod, visible_rate


def _source_sample(s) -> SourceSample:
    img = s.read_image()
    img.setflags(write=False)
    return SourceSample(s.id, s.index, img, s.pt3d_68.T.copy(), s.pose_para)


@pytest.mark.real
def test_nod_builder_rows(real_source, real_dataset) -> None:
    cls = get_builder("nod")
    assert cls.name == "nod" and not cls.adds_pixels and len(cls.CONFIGS) == 1
    builder = cls(BuildOptions(source=real_source))
    builder.prepare()
    mesh = load_face_mesh(real_source).prepare()
    seg = get_segmenter("adaptive")
    for sid in ("image00002", "image00013", "image03123"):
        s = real_dataset[sid]
        src = _source_sample(s)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VisibilityWarning)
            ex = builder.generate(src, cls.CONFIGS[0], sample_rng(0))
            ref = visible_rate(s.read_image(), s, mesh, seg)
        assert ex.image is None and ex.source_id == sid
        v = float(ex.fields["visible_rate"])
        assert v == ref.v and ex.params["visible_rate"] == ref.v
        assert ex.selected == bool(select_nod(np.array([ref.v]), np.array([s.yaw_deg]))[0])
        np.testing.assert_array_equal(ex.masks["region"], ref.region)
        np.testing.assert_array_equal(ex.masks["skin"], ref.skin)
        np.testing.assert_array_equal(ex.mask, ref.region & ~ref.skin)
        np.testing.assert_array_equal(ex.occluded, ref.landmark_occluded)
        assert ex.covered_fraction == pytest.approx(1.0 - v)
        assert ex.params["rule"] == {"max_visible_rate": 0.6, "max_abs_yaw_deg": 60.0}
        assert ex.params["segmenter"] == "adaptive" and ex.params["mesh"] == "Model_Shape_Sim"
    # image03123 has yaw −351.2°, i.e. 8.8° once wrapped: the rule uses the wrapped angle
    assert abs(real_dataset["image03123"].yaw_deg) > 300


@pytest.mark.real
def test_nod_builder_with_bfm_mesh(shared, real_source, real_dataset) -> None:
    cls = get_builder("nod")
    builder = cls(BuildOptions(source=real_source, bfm=shared / "data" / "bfm-3ddfa", skin="gmm"))
    builder.prepare()
    s = real_dataset["image00004"]
    ex = builder.generate(_source_sample(s), cls.CONFIGS[0], sample_rng(0))
    assert ex.params["mesh"] == "bfm-3ddfa" and ex.params["segmenter"] == "gmm"
    ref = load_face_mesh(bfm_dir=shared / "data" / "bfm-3ddfa").prepare()
    r = visible_rate(s.read_image(), s, ref, get_segmenter("gmm"))
    np.testing.assert_array_equal(ex.masks["region"], r.region)
    assert float(ex.fields["visible_rate"]) == r.v
    # the pipeline's samples carry the BFM coefficients: the same result without reading the .mat again
    carried = _source_sample(s)
    carried.shape_para, carried.exp_para = s.shape_para, s.exp_para
    ex2 = builder.generate(carried, cls.CONFIGS[0], sample_rng(0))
    np.testing.assert_array_equal(ex2.masks["region"], r.region)
    assert float(ex2.fields["visible_rate"]) == r.v
