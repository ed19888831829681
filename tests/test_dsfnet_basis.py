"""UV-space 3DMM basis: built from the shared 3DDFA BFM subset (40 shape / 10 expression), checked against the
released mean map and an independent brute-force rasterisation, then used to run the whole model."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io as sio
from session_cache import uv_basis_file

from dsfnet_model.basis import UVBasis, build_basis, load_basis, read_kpt_ind, uv_triangles
from dsfnet_model.errors import BasisError


@pytest.fixture(scope="module")
def bfm_dir(shared):
    return shared / "data" / "bfm-3ddfa"


@pytest.fixture(scope="module")
def basis(shared, tmp_path_factory) -> UVBasis:
    """``build_basis(bfm_dir, uv, n_shape=40, n_exp=10)``, built once per session and shared with test_dsfnet_train
    through a saved file (:meth:`UVBasis.save` / :func:`load_basis` are exact: test_save_load_roundtrip_and_errors)."""
    return load_basis(uv_basis_file(tmp_path_factory, shared, n_shape=40, n_exp=10))


def test_reduced_basis_shapes(basis):
    assert basis.shape_pc.shape == (40, 3, 256, 256) and basis.exp_pc.shape == (10, 3, 256, 256)
    assert basis.shape_ev.shape == (40,) and basis.exp_ev.shape == (10,)
    assert basis.face_mask.sum() == 43867
    assert np.all(basis.mean_map.any(0))  # the whole UV square is covered, like the released mean map


def test_mean_map_reproduces_released_mean_shape_map(basis, shared):
    released = np.load(shared / "data" / "uv" / "mean_shape_map.npy").transpose(2, 0, 1)
    err = np.abs(basis.mean_map - released).max(0)[basis.face_mask]
    assert np.median(err) < 1e-6
    assert np.mean(err < 1e-3) > 0.99  # the rest: mouth-interior triangles the 3DDFA subset lacks
    # nose tip at landmark 30 (docs/dsfnet.md §1.1)
    r, c = basis.kpt_ind[30]
    np.testing.assert_allclose(basis.mean_map[:, r, c], [0.021, -0.112, 1.976], atol=2e-3)


def test_rasterisation_against_brute_force(basis, bfm_dir):
    """Independent reference: for sample texels, search every triangle containing the texel centre (first one
    in list order) and interpolate the basis column barycentrically."""
    uv = sio.loadmat(bfm_dir / "BFM_UV.mat")["UV"].astype(np.float64)
    tri = sio.loadmat(bfm_dir / "tri.mat")["tri"].T.astype(np.int64) - 1
    w = np.load(bfm_dir / "w_shp_sim.npy")[:, 3].reshape(-1, 3).astype(np.float64)
    px = np.stack([uv[:, 0] * 255, 255 - uv[:, 1] * 255], 1)
    a, b, c = px[tri[:, 0]], px[tri[:, 1]], px[tri[:, 2]]
    rng = np.random.default_rng(0)
    rows, cols = np.nonzero(basis.face_mask)
    picks = rng.choice(rows.size, 25, replace=False)
    checked = 0
    for k in picks:
        p = np.array([cols[k], rows[k]], np.float64)
        # barycentric coordinates via solving p = A + u (C - A) + v (B - A)
        m = np.stack([c - a, b - a], 2)  # (T, 2, 2)
        det = m[:, 0, 0] * m[:, 1, 1] - m[:, 0, 1] * m[:, 1, 0]
        ok = np.abs(det) > 1e-12
        rhs = p - a
        u = np.where(ok, (rhs[:, 0] * m[:, 1, 1] - rhs[:, 1] * m[:, 0, 1]) / np.where(ok, det, 1), -1)
        v = np.where(ok, (m[:, 0, 0] * rhs[:, 1] - m[:, 1, 0] * rhs[:, 0]) / np.where(ok, det, 1), -1)
        inside = np.nonzero((u >= -1e-9) & (v >= -1e-9) & (u + v < 1 - 1e-9))[0]
        if inside.size == 0:
            continue
        t = inside[0]
        expect = (1 - u[t] - v[t]) * w[tri[t, 0]] + v[t] * w[tri[t, 1]] + u[t] * w[tri[t, 2]]
        np.testing.assert_allclose(basis.shape_pc[3, :, rows[k], cols[k]], expect, rtol=1e-4, atol=1e-6)
        checked += 1
    assert checked >= 20


def test_save_load_roundtrip_and_errors(basis, tmp_path):
    path = basis.save(tmp_path / "b.npz")
    again = load_basis(path)
    for name in UVBasis.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(again, name), getattr(basis, name))
    with pytest.raises(BasisError, match="build-basis"):
        load_basis(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", shape_pc=np.zeros(3))
    with pytest.raises(BasisError, match="bad.npz"):
        load_basis(tmp_path / "bad.npz")
    assert not list(tmp_path.glob(".*tmp*"))


def test_builder_input_errors(shared, bfm_dir, tmp_path):
    with pytest.raises(BasisError, match="not found"):
        build_basis(tmp_path / "nothing", shared / "data" / "uv")
    with pytest.raises(BasisError, match="uv_face_mask.png"):
        build_basis(bfm_dir, tmp_path, n_shape=2, n_exp=2)
    bad = tmp_path / "kpt.txt"
    bad.write_text("1 2 3\n")
    with pytest.raises(BasisError, match="kpt.txt"):
        read_kpt_ind(bad)


def test_uv_triangles_regular_grid():
    mask = np.zeros((256, 256), bool)
    mask[10:13, 20:23] = True  # 3×3 block → 2·2·2 = 8 triangles
    tris = uv_triangles(mask)
    assert tris.shape == (8, 3)
    assert mask.reshape(-1)[tris].all()


def test_whole_model_runs_with_reduced_basis(basis, shared):
    torch = pytest.importorskip("torch")
    from dsfnet_model.checkpoint import load_dsfnet
    from dsfnet_model.reference import HEAD_KEYS, reference_vectors, reference_weights

    sd = {k: torch.from_numpy(a) for k, a in reference_weights(shared).items()}
    v = reference_vectors(shared)
    model = load_dsfnet(sd, basis, mode="deterministic")
    heads = {k: torch.from_numpy(v["hrnet." + k]) for k in HEAD_KEYS}
    with torch.no_grad():
        out = model.decode(heads)
        # independent check of the 3DMM offset: leading 40/10 coefficients times EV times 1.5e-5
        expect = np.einsum("k,kchw->chw", v["hrnet.shape_para"][0, :40] * basis.shape_ev, basis.shape_pc.astype(
            np.float64)) + np.einsum("k,kchw->chw", v["hrnet.exp_para"][0, :10] * basis.exp_ev, basis.exp_pc.astype(
                np.float64))
    np.testing.assert_allclose(out["offset_uvm_ms"][0].numpy(), expect * 1.5e-5, rtol=1e-4,
                               atol=1e-5 * np.abs(expect * 1.5e-5).max())
    assert out["face_uvm"].shape == (1, 3, 256, 256) and torch.isfinite(out["face_uvm"]).all()
    assert out["kpt68"].shape == (1, 68, 3) and torch.isfinite(out["kpt68"]).all()
