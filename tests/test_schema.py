"""The declared row schema: its invariants, record conformance, the row and mask hashes, line comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aflw_occ.store import schema
from aflw_occ.store.manifest import line_differences, render_line

DOCS = Path(__file__).resolve().parents[1] / "docs" / "store.md"


def _base_record() -> dict[str, Any]:
    return {
        "id": "image00002",
        "jpeg": np.arange(10, dtype=np.uint8),
        "jpeg_sha256": "a" * 64,
        "mat_sha256": "b" * 64,
        "pixels_sha256": "c" * 64,
        "shape": np.array([450, 450, 3]),
        "landmarks": np.ones((68, 3)),
        "reannotated": np.full((68, 2), np.nan),
        "pose_para": np.zeros(7, dtype=np.float32),
        "angles_deg": np.zeros(3),
        "roi_box": np.arange(4.0),
    }


def test_schema_invariants() -> None:
    for kind, cols in schema.COLUMNS.items():
        keys = [c.key for c in cols]
        assert len(set(keys)) == len(keys) and "id" in keys and cols[0].name == "ids", kind
        for c in cols:
            assert c.doc, c.name
            assert c.render is not schema.Render.ROW or c.row_hash, c.name  # pinned somewhere
            assert c.encoding is schema.Encoding.ARRAY or not c.row_hash, c.name
        assert {d.key for d in schema.DIGESTS[kind]}.isdisjoint(keys)


def test_docs_table_is_the_schema() -> None:
    assert schema.markdown_table() in DOCS.read_text()


def test_conform_casts_and_refuses() -> None:
    rec = schema.conform(schema.BASE, _base_record(), "x")
    assert rec["pose_para"].dtype == np.float64 and rec["shape"].dtype == np.int32
    with pytest.raises(schema.SchemaError, match=r"undeclared \['extra'\]"):
        schema.conform(schema.BASE, {**_base_record(), "extra": 1}, "x")
    with pytest.raises(schema.SchemaError, match=r"missing \['roi_box'\]"):
        schema.conform(schema.BASE, {k: v for k, v in _base_record().items() if k != "roi_box"}, "x")
    with pytest.raises(schema.SchemaError, match=r"landmarks has shape \(68, 2\)"):
        schema.conform(schema.BASE, {**_base_record(), "landmarks": np.ones((68, 2))}, "x")
    with pytest.raises(schema.SchemaError, match="shape has dtype float64"):
        schema.conform(schema.BASE, {**_base_record(), "shape": np.array([450.0, 450, 3])}, "x")
    with pytest.raises(schema.SchemaError, match="id must be a str"):
        schema.conform(schema.BASE, {**_base_record(), "id": b"image00002"}, "x")


def test_row_hash_pins_ground_truth_only() -> None:
    rec = schema.conform(schema.BASE, _base_record(), "x")
    digest = schema.row_sha256(schema.BASE, rec)
    for key in ("landmarks", "reannotated", "pose_para", "angles_deg", "roi_box", "shape"):
        other = {**rec, key: rec[key].copy()}
        other[key].flat[0] = 5.0 if key != "landmarks" else 2.0
        assert schema.row_sha256(schema.BASE, other) != digest, key
    assert schema.row_sha256(schema.BASE, {**rec, "pixels_sha256": "d" * 64}) == digest


def test_mask_hash() -> None:
    mask = np.zeros((5, 7), bool)
    a = schema.mask_sha256(mask)
    mask[2, 3] = True
    assert schema.mask_sha256(mask) != a
    assert schema.mask_sha256(np.zeros((7, 5), bool)) != a  # the shape is hashed too


def test_mask_hash_is_the_packed_bits_definition() -> None:
    """The digest is sha256("HxW:" + packbits(mask)) for a first set bit anywhere (either side of a 1 KiB boundary of
    the packed bytes), an empty mask, a full mask, a transposed view and a uint8 0/1 mask."""
    import hashlib

    def plain(m: np.ndarray) -> str:
        m = np.asarray(m, dtype=bool)
        return hashlib.sha256(f"{m.shape[0]}x{m.shape[1]}:".encode() + np.packbits(m, axis=None).tobytes()).hexdigest()

    step_bits = 1024 * 8
    rng = np.random.default_rng(5)
    for h, w in ((450, 450), (37, 2000), (1, 9), (0, 4)):
        n = h * w
        for first in sorted({0, 7, 8, step_bits - 1, step_bits, step_bits + 1, 2 * step_bits, n - 1}):
            if not 0 <= first < n:
                continue
            m = np.zeros((h, w), bool)
            m.reshape(-1)[first:] = rng.random(n - first) < 0.2
            m.reshape(-1)[first] = True
            for view in (m, m.T, m.astype(np.uint8)):
                assert schema.mask_sha256(view) == plain(view)
        for m in (np.zeros((h, w), bool), np.ones((h, w), bool)):
            assert schema.mask_sha256(m) == plain(m)


def test_line_render_and_comparison() -> None:
    rec = schema.conform(schema.BASE, _base_record(), "x")
    line = render_line(schema.BASE, rec, {})
    assert set(line) == {"id", "jpeg_sha256", "mat_sha256", "pixels_sha256", "row_sha256"}
    with pytest.raises(ValueError, match="digests"):
        render_line(schema.BASE, rec, {"mask_sha256": "x"})
    got = {"id": "a", "params": {"x": 1, "diagnostics": {"s": 1.0}}, "covered_fraction": float("nan"), "new": 1}
    want = {"id": "a", "params": {"x": 1, "diagnostics": {"s": 2.0}}, "covered_fraction": float("nan")}
    assert line_differences(got, want, level=1) == []  # format 1 pins only the keys its lines have
    assert line_differences(got, want, level=2) == ["new"]
    assert line_differences({**got, "params": {"x": 2}}, want, level=1) == ["params"]
