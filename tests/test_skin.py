"""Skin segmenters on fabricated faces (colour, grey, dark skin, occluded) and the colour helpers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from aflw_occ.skin import (
    SegmenterError,
    SkinSegmenter,
    get_segmenter,
    is_grayscale,
    ita_degrees,
    rgb_to_ycbcr,
)
from aflw_occ.skin.adaptive import AdaptiveSkinSegmenter, mahalanobis_sq, robust_gaussian
from aflw_occ.skin.gmm import GmmSkinSegmenter, load_skin_gmm, skin_posterior

SIZE = 160


def template_landmarks(cx: float = 80.0, cy: float = 88.0, s: float = 1.0) -> np.ndarray:
    """A frontal 68-point iBUG layout (release coordinates, 1-based) built from ellipses and lines."""
    pts = np.zeros((68, 2))
    t = np.linspace(np.pi, 0.0, 17)  # jaw: lower half ellipse from image-left to image-right
    pts[0:17] = np.stack([cx - 44 * s * np.cos(t), cy + 4 * s + 46 * s * np.sin(t)], 1)
    pts[17:22] = np.stack([cx - np.linspace(40, 10, 5) * s, np.full(5, cy - 36 * s)], 1)
    pts[22:27] = np.stack([cx + np.linspace(10, 40, 5) * s, np.full(5, cy - 36 * s)], 1)
    pts[27:31] = np.stack([np.full(4, cx), cy - np.linspace(24, 0, 4) * s], 1)
    pts[31:36] = np.stack([cx + np.linspace(-10, 10, 5) * s, np.full(5, cy + 6 * s)], 1)
    a = np.linspace(0, 2 * np.pi, 7)[:-1]
    for k, ex in ((36, cx - 24 * s), (42, cx + 24 * s)):
        pts[k : k + 6] = np.stack([ex - 9 * s * np.cos(a), cy - 24 * s - 4 * s * np.sin(a)], 1)
    b = np.linspace(0, 2 * np.pi, 13)[:-1]
    pts[48:60] = np.stack([cx - 18 * s * np.cos(b), cy + 24 * s - 7 * s * np.sin(b)], 1)
    c = np.linspace(0, 2 * np.pi, 9)[:-1]
    pts[60:68] = np.stack([cx - 12 * s * np.cos(c), cy + 24 * s - 2 * s * np.sin(c)], 1)
    return pts + 1.0


def synthetic_face(
    skin: tuple[int, int, int], background: tuple[int, int, int] = (40, 90, 160), seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, landmarks, face mask): a skin-coloured ellipse with mild shading, dark eyes/mouth, noise."""
    rng = np.random.default_rng(seed)
    lm = template_landmarks()
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    face = ((xx - 79) / 50) ** 2 + ((yy - 80) / 66) ** 2 <= 1.0
    img = np.empty((SIZE, SIZE, 3))
    img[:] = background
    shade = 0.85 + 0.15 * (xx / SIZE)  # light from the right
    img[face] = np.asarray(skin, dtype=np.float64) * shade[face][:, None]
    for k in (36, 42):  # dark eyes
        c = lm[k : k + 6].mean(0) - 1
        img[((xx - c[0]) / 8) ** 2 + ((yy - c[1]) / 3) ** 2 <= 1] = (30, 25, 25)
    c = lm[48:60].mean(0) - 1
    img[((xx - c[0]) / 16) ** 2 + ((yy - c[1]) / 5) ** 2 <= 1] = (120, 40, 50)  # lips
    img += rng.normal(0, 2.0, img.shape)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), lm, face


def grey(img: np.ndarray) -> np.ndarray:
    y = np.round(0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2]).astype(np.uint8)
    return np.repeat(y[..., None], 3, axis=2)


def occluder() -> np.ndarray:
    m = np.zeros((SIZE, SIZE), dtype=bool)
    m[95:150, 20:80] = True  # lower-left quarter of the face (a hand-held object)
    return m


# ---------------------------------------------------------------------------------------------------------------
def test_registry_and_protocol() -> None:
    ad = get_segmenter("adaptive")
    assert ad.name == "adaptive" and isinstance(ad, SkinSegmenter)
    assert get_segmenter(None).name == "adaptive"
    gm = get_segmenter("gmm")
    assert gm.name == "gmm" and isinstance(gm, SkinSegmenter)
    with pytest.raises(SegmenterError, match="unknown segmenter spec"):
        get_segmenter("watershed")
    with pytest.raises(SegmenterError, match="weights path"):
        get_segmenter("bisenet")
    with pytest.raises(SegmenterError, match="unknown"):
        get_segmenter("gmm:extra")


def test_ycbcr_reference_values() -> None:
    rgb = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]], dtype=np.uint8)
    out = rgb_to_ycbcr(rgb)
    np.testing.assert_allclose(out[0], [16, 128, 128], atol=1e-3)
    np.testing.assert_allclose(out[1], [235, 128, 128], atol=1e-3)
    np.testing.assert_allclose(out[2], [16 + 65.481, 128 - 37.797, 128 + 112], atol=1e-3)
    np.testing.assert_allclose(out[3], [16 + 24.966, 128 + 112, 128 - 18.214], atol=1e-3)


def test_gmm_posterior_matches_scipy_reference() -> None:
    from scipy.stats import multivariate_normal

    gmm = load_skin_gmm()
    from importlib import resources

    raw = json.loads(resources.files("aflw_occ").joinpath("assets", "skin_gmm.json").read_text())
    assert "MIT" in raw["attribution"] and "Deep3DFaceRecon" in raw["attribution"]
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(50, 3)).astype(np.uint8)
    x = rgb_to_ycbcr(rgb).astype(np.float64)

    def mix(prefix: str) -> np.ndarray:
        out = np.zeros(len(x))
        for w, mu, inv in zip(raw[f"{prefix}_w"], raw[f"{prefix}_mu"], raw[f"{prefix}_cov_inv"], strict=True):
            out += w * multivariate_normal(mean=mu, cov=np.linalg.inv(np.array(inv))).pdf(x)
        return out

    ps, pn = 0.8 * mix("skin"), 0.2 * mix("nonskin")
    np.testing.assert_allclose(gmm.posterior(x), ps / (ps + pn), rtol=2e-3, atol=1e-9)
    img = rgb.reshape(5, 10, 3)
    np.testing.assert_allclose(skin_posterior(img, gmm).reshape(-1), gmm.posterior(x), rtol=1e-12)


def test_grayscale_detection() -> None:
    img, _, _ = synthetic_face((200, 150, 120))
    assert not is_grayscale(img)
    g = grey(img)
    assert is_grayscale(g)
    noisy = np.clip(g.astype(int) + np.random.default_rng(0).integers(-2, 3, g.shape), 0, 255).astype(np.uint8)
    assert is_grayscale(noisy)  # JPEG-like chroma noise of a few units
    sepia = np.clip(g.astype(int) + np.array([30, 10, -20]), 0, 255).astype(np.uint8)
    assert not is_grayscale(sepia)


def test_ita_against_skimage_lab() -> None:
    from skimage.color import rgb2lab

    mask = np.ones((8, 8), dtype=bool)
    for rgb in ((230, 190, 170), (150, 100, 70), (70, 45, 35)):
        img = np.empty((8, 8, 3), dtype=np.uint8)
        img[:] = rgb
        lab = rgb2lab(np.array([[rgb]], dtype=np.float64) / 255.0)[0, 0]
        ref = np.degrees(np.arctan((lab[0] - 50.0) / lab[2]))
        assert abs(ita_degrees(img, mask) - ref) < 0.5
    assert np.isnan(ita_degrees(grey(img), mask))
    assert np.isnan(ita_degrees(img, np.zeros((8, 8), bool)))
    assert ita_degrees(np.full((8, 8, 3), (70, 45, 35), np.uint8), mask) < ita_degrees(
        np.full((8, 8, 3), (230, 190, 170), np.uint8), mask
    )


def test_robust_gaussian_ignores_outliers() -> None:
    rng = np.random.default_rng(2)
    inl = rng.normal([100.0, 5.0], [4.0, 1.0], size=(400, 2))
    out = rng.normal([20.0, 40.0], [2.0, 2.0], size=(60, 2))
    mean, cov = robust_gaussian(np.concatenate([inl, out]), np.ones(460), trim=4.605)
    np.testing.assert_allclose(mean, [100.0, 5.0], atol=1.0)
    assert np.sqrt(cov[0, 0]) < 6.0
    x = rng.normal(size=(10, 2))
    c = np.array([[2.0, 0.3], [0.3, 1.0]])
    ref = np.array([v @ np.linalg.inv(c) @ v for v in x])
    np.testing.assert_allclose(mahalanobis_sq(x, np.zeros(2), c), ref, rtol=1e-10)


SKIN_TONES = {"light": (225, 180, 150), "medium": (180, 125, 90), "dark": (90, 58, 42), "very_dark": (60, 40, 32)}


@pytest.mark.parametrize("tone", list(SKIN_TONES))
@pytest.mark.parametrize("as_grey", [False, True])
def test_adaptive_finds_skin_and_rejects_occluder(tone: str, as_grey: bool) -> None:
    img, lm, face = synthetic_face(SKIN_TONES[tone])
    occ = occluder()
    img[occ] = (60, 170, 60) if not as_grey else (235, 235, 235)
    if as_grey:
        img = grey(img)
    mask = AdaptiveSkinSegmenter()(img, lm)
    assert mask.shape == (SIZE, SIZE) and mask.dtype == bool
    visible_face = face & ~occ
    assert mask[visible_face].mean() > 0.85, f"{tone} grey={as_grey}: visible skin found {mask[visible_face].mean()}"
    assert mask[occ & face].mean() < 0.1, f"{tone} grey={as_grey}: occluder taken for skin"
    if not as_grey:  # a grey background as bright as the skin cannot be told apart (and lies outside P)
        assert mask[~face & ~occ].mean() < 0.1


def test_plain_gmm_fails_where_adaptive_does_not() -> None:
    """The motivation, on fabricated data: the fixed colour model finds no skin at all in grey images."""
    for tone, as_grey in (("very_dark", True), ("light", True)):
        img, lm, face = synthetic_face(SKIN_TONES[tone])
        if as_grey:
            img = grey(img)
        g = GmmSkinSegmenter()(img, lm)
        a = AdaptiveSkinSegmenter()(img, lm)
        assert g[face].mean() < 0.5 < a[face].mean()


def test_adaptive_is_deterministic_and_validates_input() -> None:
    img, lm, _ = synthetic_face(SKIN_TONES["medium"], seed=3)
    seg = AdaptiveSkinSegmenter()
    np.testing.assert_array_equal(seg(img, lm), seg(img.copy(), lm.copy()))
    np.testing.assert_array_equal(seg(img, lm), seg(img, np.concatenate([lm, np.zeros((68, 1))], 1)))
    with pytest.raises(SegmenterError, match="uint8"):
        seg(img.astype(np.float32), lm)
    with pytest.raises(SegmenterError, match="landmarks"):
        seg(img, lm[:10])
    with pytest.raises(SegmenterError, match="uint8"):
        GmmSkinSegmenter()(img[..., 0], lm)
    far = lm + 1000.0  # face entirely outside the image: nothing to segment
    assert not seg(img, far).any()


def test_gmm_params_file_errors(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SegmenterError, match="bad.json"):
        load_skin_gmm(bad)
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps({"skin_w": [1.0]}))
    with pytest.raises(SegmenterError, match="missing"):
        load_skin_gmm(missing)


def test_segmenter_registry_declarations_help_and_no_torch_import() -> None:
    """Every kind resolves to the declaration of its module; the --skin help lists every form; listing them imports
    neither torch nor onnxruntime."""
    import subprocess
    import sys

    from click.testing import CliRunner

    from aflw_occ.cli import cli
    from aflw_occ.skin import SEGMENTERS, registry

    assert list(SEGMENTERS) == ["adaptive", "gmm", "bisenet", "bisenet-onnx"]
    assert [registry.segmenter(k).kind for k in SEGMENTERS] == list(SEGMENTERS)
    forms = registry.spec_forms()
    assert forms == ("adaptive", "gmm", "bisenet:PATH.pth", "bisenet-onnx:PATH.onnx")
    out = CliRunner().invoke(cli, ["build", "--help"], terminal_width=400).output
    assert all(form in out for form in forms), out
    code = (
        "import sys; from aflw_occ.skin import registry; registry.help_text(); "
        "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
