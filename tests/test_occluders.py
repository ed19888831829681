"""Occluder libraries: spec parsing, folder / NatOcc / COCO / tuxpaint (.deb too) / CC0 readers, RandOcc blobs, CLI.

Fabricated files for every bad input; the real tuxpaint stamps from the shared folder for the default pack.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import shutil
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from aflw_occ.builders.occluders import coco, randocc, registry, tuxpaint
from aflw_occ.builders.occluders.cc0_pack import read_cc0
from aflw_occ.builders.occluders.folder import read_folder
from aflw_occ.builders.occluders.library import OccluderError, OccluderLibrary
from aflw_occ.builders.occluders.natocc import read_natocc
from aflw_occ.builders.occluders.registry import LIBRARIES, load_library, parse_spec
from aflw_occ.errors import AflwOccError

STAMPS = ("occluders", "tuxpaint-stamps-default")


def write_png(path: Path, rgb_or_rgba: np.ndarray) -> bytes:
    """Write an RGB(A) uint8 array as PNG, return the file bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = rgb_or_rgba
    conv = cv2.COLOR_RGBA2BGRA if arr.ndim == 3 and arr.shape[2] == 4 else cv2.COLOR_RGB2BGR
    ok, buf = cv2.imencode(".png", cv2.cvtColor(arr, conv) if arr.ndim == 3 else arr)
    assert ok
    path.write_bytes(buf.tobytes())
    return buf.tobytes()


def disc_rgba(size: int = 64, radius: int = 24, colour: tuple[int, int, int] = (200, 30, 40)) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size]
    alpha = (((xx - size / 2) ** 2 + (yy - size / 2) ** 2) <= radius**2).astype(np.uint8) * 255
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[:] = colour
    return np.dstack([rgb, alpha])


# ---------------------------------------------------------------------------------------------------- specs


def test_parse_spec_kinds_and_errors() -> None:
    assert parse_spec("default").kind == "default" and parse_spec("default").args == ()
    assert parse_spec("natocc:/a/img,/a/mask").args == ("/a/img", "/a/mask")
    assert parse_spec("coco:ann.json,imgs,cup+bottle").args == ("ann.json", "imgs", "cup+bottle")
    with pytest.raises(OccluderError, match="unknown library kind 'zip'"):
        parse_spec("zip:foo")
    with pytest.raises(OccluderError, match="natocc:IMGDIR,MASKDIR"):
        parse_spec("natocc:only_one")
    with pytest.raises(OccluderError, match="folder:DIR"):
        parse_spec("folder")
    assert issubclass(OccluderError, AflwOccError)


README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_kind_is_declared_by_its_reader_module() -> None:
    """The registry lists each reader module's own declaration, and every form it declares parses to its kind."""
    import importlib

    assert list(LIBRARIES) == ["default", "cc0", "tuxpaint", "folder", "natocc", "coco"]
    modules = {"default": "default_pack", "cc0": "cc0_pack"}
    for kind, declared in LIBRARIES.items():
        module = importlib.import_module(f"aflw_occ.builders.occluders.{modules.get(kind, kind)}")
        assert module.LIBRARY is declared and declared.kind == kind
        for form in declared.forms:
            text = form.replace("[,CATEGORY+CATEGORY...]", ",cup").replace("|DEB", "")
            assert parse_spec(text).kind == kind, form


def test_readme_occluder_table_and_help_are_generated_from_the_registry() -> None:
    from aflw_occ.cli import cli

    block = registry.readme_block(README.read_text())
    assert block is not None, "README.md has no occluder-specs block"
    assert block == registry.markdown_table(), "regenerate it: python -m aflw_occ.builders.occluders README.md"
    forms = registry.spec_forms()
    assert len(forms) == 7 and all(form in registry.help_text() for form in forms)
    out = CliRunner().invoke(cli, ["occluders", "list", "--help"], terminal_width=400).output
    assert all(form in out for form in forms), out
    out = CliRunner().invoke(cli, ["build", "--help"], terminal_width=400).output
    assert "coco:ANNOTATIONS.json,IMAGEDIR" in out, out


# ---------------------------------------------------------------------------------------------------- folder


def test_folder_reads_rgba_pngs_with_categories_crop_and_hash(tmp_path: Path) -> None:
    rgba = np.zeros((80, 100, 4), np.uint8)
    rgba[10:30, 20:70] = (10, 20, 30, 255)
    data_a = write_png(tmp_path / "lib" / "hand" / "a.png", rgba)
    write_png(tmp_path / "lib" / "b.png", disc_rgba())
    lib = read_folder(tmp_path / "lib")
    assert [o.id for o in lib] == ["folder:lib/b", "folder:lib/hand/a"]
    a = lib[1]
    assert a.category == "hand" and a.points_at_face
    assert a.sha256 == hashlib.sha256(data_a).hexdigest()
    assert a.rgba().shape == (20, 50, 4)  # cropped to the alpha box rows 10:30, cols 20:70
    assert (a.rgba()[..., :3] == (10, 20, 30)).all()
    assert lib[0].category == "object" and not lib[0].points_at_face
    assert lib.categories() == {"hand": 1, "object": 1}


def test_folder_bad_inputs_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(OccluderError, match="does not exist"):
        read_folder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(OccluderError, match=r"empty: occluder folder holds no PNG"):
        read_folder(tmp_path / "empty")
    rgb = np.full((40, 40, 3), 90, np.uint8)
    write_png(tmp_path / "lib" / "photo.png", rgb)
    write_png(tmp_path / "lib" / "good.png", disc_rgba())
    with pytest.raises(OccluderError, match=r"photo\.png: no alpha channel and no mask"):
        read_folder(tmp_path / "lib")
    lenient = read_folder(tmp_path / "lib", strict=False)
    assert len(lenient) == 1 and len(lenient.rejected) == 1
    assert lenient.rejected[0].source.endswith("photo.png") and "no alpha" in lenient.rejected[0].reason
    # only unusable files: no usable image at all is an error even when lenient
    write_png(tmp_path / "bad" / "opaque.png", np.dstack([rgb, np.full((40, 40), 255, np.uint8)]))
    (tmp_path / "bad" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(OccluderError, match=r"bad: no usable occluder among 2 PNG files"):
        read_folder(tmp_path / "bad", strict=False)
    with pytest.raises(OccluderError, match=r"broken\.png: not a readable image"):
        read_folder(tmp_path / "bad")


# ---------------------------------------------------------------------------------------------------- NatOcc layout


def test_natocc_layout_pairs_images_and_masks(tmp_path: Path) -> None:
    img = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    mask = np.zeros((50, 60), np.uint8)
    mask[5:45, 10:40] = 1  # a 0/1 mask is scaled to 0/255
    write_png(tmp_path / "hands_img" / "h1.png", img)
    write_png(tmp_path / "hands_mask" / "h1.png", mask)
    lib = read_natocc(tmp_path / "hands_img", tmp_path / "hands_mask")
    (o,) = lib.items
    assert o.category == "hand" and o.id == "natocc:hands_img/h1"
    np.testing.assert_array_equal(o.rgba()[..., :3], img[5:45, 10:40])
    assert (o.rgba()[..., 3] == 255).all()


def test_natocc_bad_inputs_name_the_file(tmp_path: Path) -> None:
    img = np.full((50, 60, 3), 100, np.uint8)
    write_png(tmp_path / "img" / "a.png", img)
    write_png(tmp_path / "mask" / "a.png", np.full((40, 60), 255, np.uint8))
    with pytest.raises(OccluderError, match=r"a\.png: mask .* is 60×40 but the image is 60×50"):
        read_natocc(tmp_path / "img", tmp_path / "mask")
    write_png(tmp_path / "img2" / "b.png", img)
    (tmp_path / "mask2").mkdir()
    with pytest.raises(OccluderError, match=r"b\.png: no mask b\.\*"):
        read_natocc(tmp_path / "img2", tmp_path / "mask2")
    with pytest.raises(OccluderError, match="NatOcc folder does not exist"):
        read_natocc(tmp_path / "img", tmp_path / "nope")


# ---------------------------------------------------------------------------------------------------- COCO


def rle_encode_string(mask: np.ndarray) -> str:
    """Reference encoder of COCO's compressed RLE (written from the format description, independent of the reader)."""
    flat = mask.T.ravel().astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v == current:
            run += 1
        else:
            counts.append(run)
            current, run = v, 1
    counts.append(run)
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            group = x & 0x1F
            x >>= 5
            more = not ((x == 0 and not group & 0x10) or (x == -1 and group & 0x10))
            if more:
                group |= 0x20
            out.append(chr(group + 48))
    return "".join(out)


def test_rle_and_polygon_decoding_match_references() -> None:
    rng = np.random.default_rng(3)
    mask = np.zeros((37, 53), bool)
    mask[4:30, 7:41] = rng.random((26, 34)) > 0.3  # many runs, long and short (exercises signed deltas)
    s = rle_encode_string(mask)
    np.testing.assert_array_equal(coco.segmentation_mask({"size": [37, 53], "counts": s}, 37, 53), mask)
    runs = [int(n) for n in np.diff(np.flatnonzero(np.diff(np.r_[-1, mask.T.ravel().astype(int), -1]) != 0))]
    if mask.T.ravel()[0]:
        runs = [0] + runs
    np.testing.assert_array_equal(coco.segmentation_mask({"size": [37, 53], "counts": runs}, 37, 53), mask)
    # a polygon covering pixel centres x in [10, 20), y in [5, 15)
    poly = [[10.0, 5.0, 20.0, 5.0, 20.0, 15.0, 10.0, 15.0]]
    m = coco.segmentation_mask(poly, 30, 30)
    ref = np.zeros((30, 30), bool)
    ref[5:15, 10:20] = True
    edge = np.zeros((30, 30), bool)  # the far edge row/column may differ by the rasterisation convention
    edge[15, 10:21] = edge[5:16, 20] = True
    assert not ((m ^ ref) & ~edge).any()


def _coco_file(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    img = np.random.default_rng(1).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    write_png(tmp_path / "imgs" / "000001.png", img)
    big = np.zeros((120, 160), bool)
    big[20:100, 30:130] = True
    doc = {
        "images": [{"id": 1, "file_name": "000001.png", "width": 160, "height": 120}],
        "categories": [{"id": 47, "name": "cup"}, {"id": 1, "name": "person"}],
        "annotations": [
            {"id": 5, "image_id": 1, "category_id": 47, "iscrowd": 0, "area": 8000.0, "bbox": [30, 20, 100, 80],
             "segmentation": {"size": [120, 160], "counts": rle_encode_string(big)}},
            {"id": 6, "image_id": 1, "category_id": 47, "iscrowd": 0, "area": 100.0, "bbox": [5, 5, 10, 10],
             "segmentation": [[5, 5, 15, 5, 15, 15, 5, 15]]},
            {"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 9000.0, "bbox": [2, 2, 100, 100],
             "segmentation": [[2, 2, 102, 2, 102, 102]]},
        ],
    }  # fmt: skip
    ann = tmp_path / "instances.json"
    ann.write_text(json.dumps(doc))
    return ann, tmp_path / "imgs", img


def test_coco_cuts_out_instances_above_min_area(tmp_path: Path) -> None:
    ann, imgs, img = _coco_file(tmp_path)
    lib = coco.read_coco(ann, imgs)
    assert [o.id for o in lib] == ["coco:instances/5"] and lib[0].category == "cup"
    assert any("area" in r.reason and "(1 instances)" in r.source for r in lib.rejected)
    rgba = lib[0].rgba()
    assert rgba.shape == (80, 100, 4)
    np.testing.assert_array_equal(rgba[..., :3], img[20:100, 30:130])
    assert (rgba[..., 3] == 255).all()
    lib2 = load_library([f"coco:{ann},{imgs},person"])
    assert len(lib2) == 1 and lib2[0].category == "person"


def test_coco_bad_inputs_name_the_file(tmp_path: Path) -> None:
    ann, imgs, _ = _coco_file(tmp_path)
    with pytest.raises(OccluderError, match=r"instances\.json: requested COCO categories \['toothbrush'\]"):
        coco.read_coco(ann, imgs, categories=["toothbrush"])
    doc = json.loads(ann.read_text())
    doc["categories"] = [{"id": 1, "name": "person"}, {"id": 47, "name": "giraffe"}]
    other = tmp_path / "animals.json"
    other.write_text(json.dumps(doc))
    with pytest.raises(OccluderError, match=r"animals\.json: none of the face-occluding COCO categories"):
        coco.read_coco(other, imgs)
    with pytest.raises(OccluderError, match=r"nope\.json: COCO annotation file does not exist"):
        coco.read_coco(tmp_path / "nope.json", imgs)
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": []}')
    with pytest.raises(OccluderError, match=r"bad\.json: not a COCO instances file"):
        coco.read_coco(bad, imgs)
    (imgs / "000001.png").unlink()
    lib = coco.read_coco(ann, imgs)
    with pytest.raises(OccluderError, match=r"000001\.png: COCO image missing"):
        lib[0].rgba()


# ---------------------------------------------------------------------------------------------------- tuxpaint


@pytest.mark.real
def test_default_pack_real_stamps(shared: Path) -> None:
    sel = tuxpaint.load_selection()
    lib = tuxpaint.read_tuxpaint(shared.joinpath(*STAMPS))
    assert len(lib) == len(sel["selected"]) == 132
    assert len(lib.rejected) == len(sel["rejected"]) == 34
    cats = lib.categories()
    assert set(cats) == {"clothes", "food", "hobbies", "household", "medical", "plants", "sports"}
    ids = {o.id for o in lib}
    assert "tuxpaint:food/fruit/banana" in ids and "tuxpaint:clothes/t_shirt" not in ids  # line-art shirt rejected
    for o in lib.items[:10]:
        assert o.sha256 == hashlib.sha256(Path(o.source).read_bytes()).hexdigest()
        assert o.rgba().dtype == np.uint8 and o.rgba().shape[2] == 4 and max(o.rgba().shape[:2]) <= 400
    full = load_library(["default"])
    assert len(full) == 132 + 1 and full.categories()["household"] == 24 + 1
    # re-measuring the real stamps reproduces the committed list (criterion and hashes)
    doc = tuxpaint.build_selection(shared.joinpath(*STAMPS))
    assert [e["path"] for e in doc["selected"]] == [e["path"] for e in sel["selected"]]
    assert [e["sha256"] for e in doc["selected"]] == [e["sha256"] for e in sel["selected"]]


@pytest.mark.real
def test_tuxpaint_missing_or_changed_stamp_is_an_error(shared: Path, tmp_path: Path) -> None:
    sel = tuxpaint.load_selection()
    sub = {**sel, "selected": sel["selected"][:2], "rejected": []}
    for e in sub["selected"]:
        dst = tmp_path / "stamps" / e["path"]
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shared.joinpath(*STAMPS, e["path"]), dst)
    assert len(tuxpaint.read_tuxpaint(tmp_path / "stamps", selection=sub)) == 2
    changed = tmp_path / "stamps" / sub["selected"][1]["path"]
    changed.write_bytes(changed.read_bytes() + b"\0")
    with pytest.raises(OccluderError, match=rf"{changed.name}: sha256 .* differs from the committed selection"):
        tuxpaint.read_tuxpaint(tmp_path / "stamps", selection=sub)
    changed.unlink()
    with pytest.raises(OccluderError, match=rf"{changed.name}: selected tuxpaint stamp missing"):
        tuxpaint.read_tuxpaint(tmp_path / "stamps", selection=sub)


def _ar(members: list[tuple[str, bytes]]) -> bytes:
    """A Unix ar archive (the .deb container), written from the format description."""
    out = [b"!<arch>\n"]
    for name, data in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        assert len(header) == 60
        out += [header, data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def test_deb_is_unpacked_with_the_standard_library(tmp_path: Path) -> None:
    stamp = disc_rgba(48, 20)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(stamp, cv2.COLOR_RGBA2BGRA))
    png = buf.tobytes()
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w") as tf:
        for name, data in [
            ("./usr/share/tuxpaint/stamps/food/fruit/disc.png", png),
            ("./usr/share/tuxpaint/stamps/food/fruit/disc.txt", b"a disc"),
            ("./usr/share/doc/x.png", png),  # outside the stamps folder: ignored
            ("../escape.png", png),  # path traversal: ignored
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    deb = tmp_path / "tuxpaint-stamps-default_2022.06.04-1_all.deb"
    deb.write_bytes(_ar([("debian-binary", b"2.0\n"), ("control.tar.xz", lzma.compress(b"")),
                         ("data.tar.xz", lzma.compress(tar_buf.getvalue()))]))  # fmt: skip
    sel = {
        "version": "test",
        "selected": [{"path": "food/fruit/disc.png", "sha256": hashlib.sha256(png).hexdigest(), "category": "food"}],
        "rejected": [],
    }
    lib = tuxpaint.read_tuxpaint(deb, selection=sel, cache=tmp_path / "cache")
    assert [o.id for o in lib] == ["tuxpaint:food/fruit/disc"]
    root = next((tmp_path / "cache").iterdir())
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == [".complete", "usr/share/tuxpaint/stamps/food/fruit/disc.png"]
    assert not (tmp_path / "escape.png").exists()
    again = tuxpaint.read_tuxpaint(deb, selection=sel, cache=tmp_path / "cache")  # cached
    assert again.fingerprint == lib.fingerprint
    bad = tmp_path / "broken.deb"
    bad.write_bytes(b"hello")
    with pytest.raises(OccluderError, match=r"broken\.deb: not a \.deb \(ar\) archive"):
        tuxpaint.read_tuxpaint(bad, selection=sel, cache=tmp_path / "cache")


def test_selection_criterion_on_fabricated_stamps() -> None:
    rng = np.random.default_rng(0)
    drawing = disc_rgba(120, 50)  # one flat colour: a drawing
    assert tuxpaint.classify("x/drawing.png", tuxpaint.stamp_stats(drawing)).startswith("drawing: flat fills")
    photo = drawing.copy()
    photo[..., :3] = np.clip(rng.normal(128, 20, (120, 120, 3)), 0, 255).astype(np.uint8)  # sensor-like noise
    assert tuxpaint.classify("x/photo.png", tuxpaint.stamp_stats(photo)) == ""
    ghost = photo.copy()
    ghost[..., 3] = (ghost[..., 3] > 0) * 60
    ghost[45:75, 45:75, 3] = 255  # a small opaque core, mostly see-through (a glass)
    assert tuxpaint.classify("x/ghost.png", tuxpaint.stamp_stats(ghost)).startswith("translucent")
    assert tuxpaint.classify("household/toilet.png", tuxpaint.stamp_stats(photo)).startswith("not a hand-held")
    # line art: black outline around a noisy (crayon) fill with few distinct colours
    art = photo.copy()
    art[..., :3] = rng.choice([200, 210, 220], size=(120, 120, 1)).astype(np.uint8)
    ring = cv2.circle(np.zeros((120, 120), np.uint8), (60, 60), 48, 1, 4).astype(bool)
    art[ring, :3] = 0
    reason = tuxpaint.classify("x/art.png", tuxpaint.stamp_stats(art))
    assert reason.startswith("drawing"), reason


# ---------------------------------------------------------------------------------------------------- CC0 pack, library


def test_cc0_pack_is_committed_and_verified(tmp_path: Path) -> None:
    lib = read_cc0()
    assert [o.id for o in lib] == ["cc0:coffee_cup_saucer"]
    doc = json.loads((Path(lib[0].source).parent / "ATTRIBUTION.json").read_text())
    assert all("CC0" in e["licence"] or "copyright" in e["licence"] for e in doc["items"])
    copy = tmp_path / "cc0"
    shutil.copytree(Path(lib[0].source).parent, copy)
    (copy / "coffee_cup_saucer.png").write_bytes(b"changed")
    with pytest.raises(OccluderError, match=r"coffee_cup_saucer\.png: sha256 differs"):
        read_cc0(copy)


def test_library_combination_and_uniform_draw(tmp_path: Path) -> None:
    write_png(tmp_path / "a" / "x.png", disc_rgba())
    write_png(tmp_path / "a" / "y.png", disc_rgba(colour=(1, 2, 3)))
    lib = load_library([f"folder:{tmp_path / 'a'}", "cc0"])
    assert len(lib) == 3 and isinstance(lib, OccluderLibrary)
    with pytest.raises(OccluderError, match="duplicate occluder id"):
        load_library([f"folder:{tmp_path / 'a'}", f"folder:{tmp_path / 'a'}"])
    draws = [lib.draw(np.random.Generator(np.random.PCG64(7))).id for _ in range(3)]
    assert len(set(draws)) == 1  # same generator state → same item
    counts = np.bincount([lib.items.index(lib.draw(np.random.default_rng(s))) for s in range(1500)], minlength=3)
    assert counts.min() > 420  # ~500 each


# ---------------------------------------------------------------------------------------------------- RandOcc


def test_randocc_blobs_are_seeded_and_within_ranges() -> None:
    a, pa = randocc.random_blob(np.random.default_rng(11))
    b, pb = randocc.random_blob(np.random.default_rng(11))
    np.testing.assert_array_equal(a, b)
    assert pa == pb
    json.dumps(pa)
    seen_transparent = seen_opaque = 0
    kinds = set()
    for s in range(40):
        rgba, p = randocc.random_blob(np.random.default_rng(s), size=96)
        assert 3 <= p["n_points"] <= 15 and len(p["control_points"]) == p["n_points"]
        kinds.add(p["texture"]["kind"])
        alpha = rgba[..., 3]
        cover = (alpha > 0).mean()
        assert 0.1 < cover < 0.95
        if p["transparent"]:
            seen_transparent += 1
            assert 0.4 <= p["opacity"] <= 0.7
            assert abs(int(alpha.max()) - round(255 * p["opacity"])) <= 1
        else:
            seen_opaque += 1
            assert alpha.max() == 255
    assert seen_transparent >= 4 and seen_opaque >= 20 and len(kinds) >= 4


def test_bezier_outline_passes_through_control_points() -> None:
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    curve = randocc.bezier_outline(pts, 1.0, samples=10)
    np.testing.assert_allclose(curve[::10], pts)  # t = 0 of each segment is its start point


# ---------------------------------------------------------------------------------------------------- CLI


def test_cli_occluders_list(tmp_path: Path) -> None:
    from aflw_occ.cli import cli

    write_png(tmp_path / "lib" / "fruit" / "a.png", disc_rgba())
    write_png(tmp_path / "lib" / "fruit" / "b.png", disc_rgba(colour=(9, 9, 9)))
    write_png(tmp_path / "lib" / "rgb.png", np.full((30, 30, 3), 5, np.uint8))
    res = CliRunner().invoke(cli, ["occluders", "list", f"folder:{tmp_path / 'lib'}"])
    assert res.exit_code == 0, res.output
    assert "2 occluders, 1 rejected" in res.output
    assert "fruit" in res.output and "rgb.png: no alpha channel" in res.output
    res = CliRunner().invoke(cli, ["occluders", "list", "--json", "cc0"])
    assert json.loads(res.output)["categories"] == {"household": 1}
    res = CliRunner().invoke(cli, ["occluders", "list", f"folder:{tmp_path / 'nothing'}"])
    assert res.exit_code != 0 and "does not exist" in str(res.exception)


def test_default_without_stamps_names_where_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFLW_OCC_SHARED", str(tmp_path))
    if Path("/usr/share/tuxpaint/stamps").is_dir():
        pytest.skip("tuxpaint stamps are installed system-wide")
    with pytest.raises(OccluderError, match=r"apt-get download tuxpaint-stamps-default .* --occluders default:DIR"):
        load_library(["default"])
