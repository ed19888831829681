"""DSFNet training: ground-truth targets from a 300W-LP-format sample (fabricated from AFLW2000-3D, same .mat
format), the augmentation hook, the schedule, and optimisation steps that lower the loss."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from session_cache import uv_basis_file  # noqa: E402

from dsfnet_model.basis import load_basis  # noqa: E402
from dsfnet_model.errors import InputError  # noqa: E402
from dsfnet_model.train import (  # noqa: E402
    TrainConfig,
    collate,
    dsfnet_loss,
    init_for_training,
    list_samples,
    lr_factor,
    make_sample,
    save_state_dict,
)

IDS = ["image00002", "image00006"]


@pytest.fixture(scope="module")
def basis(shared, tmp_path_factory):
    """The 40/10 basis, built once per session (test_dsfnet_basis checks the same file)."""
    return load_basis(uv_basis_file(tmp_path_factory, shared, n_shape=40, n_exp=10))


@pytest.fixture(scope="module")
def lp_folder(real_source, tmp_path_factory):
    """A 300W-LP-style folder (subfolder, <name>.jpg + <name>.mat) made from AFLW2000-3D files."""
    root = tmp_path_factory.mktemp("300W_LP")
    (root / "AFW").mkdir()
    for i in IDS:
        for ext in (".jpg", ".mat"):
            shutil.copy(real_source / f"{i}{ext}", root / "AFW" / f"{i}{ext}")
    return root


def test_targets_match_annotated_landmarks(lp_folder, basis):
    import scipy.io as sio

    images = list_samples(lp_folder)
    assert [p.stem for p in images] == IDS
    crop, t = make_sample(images[0], basis, None, None, TrainConfig())
    assert crop.shape == (256, 256, 3) and crop.dtype == np.uint8
    mat = sio.loadmat(images[0].with_suffix(".mat"))
    pt = mat["pt3d_68"][:2]
    lo, hi = pt.min(1), pt.max(1)
    size = int(1.5 * ((hi[0] - lo[0]) + (hi[1] - lo[1])) / 2)
    c = (lo + hi) / 2
    expect = (pt.T - c) * 256 / size + 128  # the annotation mapped into the crop, computed independently
    got = t.pos[:2, basis.kpt_ind[:, 0], basis.kpt_ind[:, 1]].T * 280
    assert np.abs(got - expect).mean() < 3.0  # UV keypoint texels vs annotated vertices: ~1 px
    # the pose matrix maps the raw canonical face onto the position map
    canon = (basis.mean_map + t.offset).astype(np.float64) / 1.5e-5
    tm = t.tm.reshape(3, 4).astype(np.float64)
    posed = np.tensordot(tm[:, :3], canon, axes=(1, 0)) + tm[:, 3].reshape(3, 1, 1)
    np.testing.assert_allclose(posed / 280, t.pos, atol=1e-3)
    # normalised coefficients: the annotation divided by the standard deviations
    np.testing.assert_allclose(t.shape[:40] * basis.shape_ev, mat["Shape_Para"].ravel()[:40], rtol=1e-4)
    assert not t.shape[40:].any()


def test_pixel_targets_are_consistent_with_position_map(lp_folder, basis):
    images = list_samples(lp_folder)
    _, t = make_sample(images[1], basis, None, None, TrainConfig())
    seg = t.seg[0] > 0
    assert 0.1 < seg.mean() < 0.9
    assert np.abs(t.grid).max() <= 1.0
    rows, cols = np.nonzero(seg)
    pick = np.random.default_rng(0).choice(rows.size, 200, replace=False)
    for r, c in zip(rows[pick], cols[pick], strict=True):
        u, v = t.grid[:, r, c]
        tr, tc = int((v + 1) * 128), int((u + 1) * 128)  # texel the pixel shows
        x, y, z = t.pos[:, tr, tc] * 280
        assert abs(x - c) < 2.5 and abs(y - r) < 2.5
        assert abs(t.depth[0, r, c] * 280 - z) < 2.5
    assert (t.depth[0][~seg] == 0).all() and (t.grid[:, ~seg] == 0).all()


def test_occlusion_hook_and_augmentation(lp_folder, basis):
    images = list_samples(lp_folder)

    def black_square(image, landmarks, rng):
        assert landmarks.shape == (68, 2)
        out = image.copy()
        out[100:160, 100:160] = 0
        return out

    cfg = TrainConfig(occlusion_p=1.0, colour_p=0.0)
    rng = np.random.default_rng(1)
    crop, t = make_sample(images[0], basis, rng, black_square, cfg)
    assert (crop[100:160, 100:160] == 0).all()
    assert (t.seg[0, 100:160, 100:160] == 0).all()
    _, clean = make_sample(images[0], basis, np.random.default_rng(1), None, cfg)
    assert clean.seg[0, 100:160, 100:160].sum() > 0  # only the hook removed the face there


def test_training_input_errors(tmp_path):
    with pytest.raises(InputError, match="no <name>.jpg"):
        list_samples(tmp_path)
    with pytest.raises(InputError, match="not found"):
        list_samples(tmp_path / "missing")


def test_schedule_follows_recipe():
    cfg = TrainConfig()
    assert lr_factor(0.0, cfg) == 1.0
    assert lr_factor(1.5, cfg) == pytest.approx(4.5)
    assert lr_factor(3.0, cfg) == pytest.approx(8.0)
    assert lr_factor(5.2, cfg) == pytest.approx(8.0 * 0.85**2)


def test_optimisation_steps_lower_the_loss(lp_folder, basis, shared, tmp_path):
    """Tiny setting: fixed (recorded) head outputs for one sample, the fusion U-Net's output heads trained."""
    from dsfnet_model.model import DSFNet
    from dsfnet_model.reference import HEAD_KEYS, reference_vectors

    torch.manual_seed(0)
    images = list_samples(lp_folder)
    batch = collate([make_sample(images[0], basis, np.random.default_rng(0), None, TrainConfig())])
    v = reference_vectors(shared)
    heads = {k: torch.from_numpy(v["hrnet." + k]) for k in HEAD_KEYS}
    model = init_for_training(DSFNet(basis)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    params = list(model.unet.offset_head.parameters()) + list(model.unet.kpt_head.parameters())
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam(params, lr=1e-2)
    losses = []
    for _ in range(3):
        out = model.decode(heads)
        out.update({"hrnet." + k: t for k, t in heads.items()})
        loss, parts = dsfnet_loss(model, out, batch)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
        assert np.isfinite(list(parts.values())).all()
    assert losses[-1] < losses[0]
    # checkpoints are written in the official format and load strictly
    path = save_state_dict(model, tmp_path / "net.pth")
    from dsfnet_model.checkpoint import load_dsfnet

    load_dsfnet(path)
