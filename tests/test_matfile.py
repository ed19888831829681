"""The native MAT-5 reader against ``scipy.io.loadmat(mat_dtype=True)``: real release files, fabricated files (written
by scipy and built byte by byte here, both byte orders), the scipy fallback for everything else, and the callers."""

from __future__ import annotations

import struct
import subprocess
import sys
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.io
import scipy.sparse

from aflw_occ import matfile
from aflw_occ.errors import SourceError
from aflw_occ.matfile import read_mat
from aflw_occ.source import load_mat

META = ("__header__", "__version__", "__globals__")


# helpers ------------------------------------------------------------------------------------------------------------
def scipy_vars(path: Path, names: Any = None) -> dict[str, Any]:
    """The independent reference: scipy's reader, without its three metadata keys."""
    raw = scipy.io.loadmat(str(path), mat_dtype=True, variable_names=names)
    return {k: v for k, v in raw.items() if k not in META}


def assert_same(a: Any, b: Any) -> None:
    """Same type, dtype (byte order included), shape and bits, recursively for cells / structs / sparse."""
    assert type(a) is type(b), (type(a), type(b))
    if scipy.sparse.issparse(a):
        assert a.dtype == b.dtype and a.shape == b.shape and (a != b).nnz == 0
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.dtype.str == b.dtype.str and a.shape == b.shape, (a.dtype, b.dtype)
        if a.dtype.names:
            for field in a.dtype.names:
                assert_same(a[field], b[field])
        elif a.dtype.hasobject:
            for x, y in zip(a.ravel(order="F"), b.ravel(order="F"), strict=True):
                assert_same(x, y)
        else:
            bits_a = np.ascontiguousarray(a).reshape(-1).view(np.uint8)
            bits_b = np.ascontiguousarray(b).reshape(-1).view(np.uint8)
            assert np.array_equal(bits_a, bits_b)
    else:
        assert a == b


def assert_same_vars(got: dict[str, Any], ref: dict[str, Any]) -> None:
    assert list(got) == list(ref)
    for key in ref:
        assert_same(got[key], ref[key])


@pytest.fixture
def native_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the scipy fallback fail loudly: whatever is read now was parsed natively."""

    def refuse(path: Any, wanted: Any) -> dict[str, Any]:
        raise AssertionError(f"{path}: fell back to scipy")

    monkeypatch.setattr(matfile, "_read_with_scipy", refuse)


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every file read through the scipy fallback."""
    calls: list[str] = []
    original = matfile._read_with_scipy

    def spy(path: Any, wanted: Any) -> dict[str, Any]:
        calls.append(str(path))
        return original(path, wanted)

    monkeypatch.setattr(matfile, "_read_with_scipy", spy)
    return calls


# real files ---------------------------------------------------------------------------------------------------------
@pytest.mark.real
def test_all_real_annotations_match_scipy_natively(real_source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = sorted(real_source.glob("image*.mat"))
    assert len(files) == 2000
    monkeypatch.setattr(matfile, "_read_with_scipy", lambda p, w: pytest.fail(f"{p}: fell back to scipy"))
    got = [read_mat(f) for f in files]
    for f, g in zip(files, got, strict=True):
        assert_same_vars(g, scipy_vars(f))
    # the release's mixed storage is really exercised: single, double and int16 classes
    assert {str(v.dtype) for v in got[0].values()} == {"float32", "float64", "int16"}


@pytest.mark.real
@pytest.mark.parametrize("names", [["mu_shape", "tri", "keypoints"], None, ["keypoints"], "tri", []])
def test_real_release_mesh_matches_scipy(real_source: Path, names: Any, native_only: None) -> None:
    path = real_source / "Code" / "Model_Shape_Sim.mat"
    assert_same_vars(read_mat(path, names), scipy_vars(path, names))


@pytest.mark.real
def test_unwanted_variables_are_not_inflated(real_source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inflated: list[int] = []
    original = matfile._inflate
    monkeypatch.setattr(matfile, "_inflate", lambda body: inflated.append(len(body)) or original(body))
    out = read_mat(real_source / "Code" / "Model_Shape_Sim.mat", ["keypoints"])
    assert list(out) == ["keypoints"] and len(inflated) == 1 and inflated[0] < 1000  # not tri / mu_shape / mu_tex


@pytest.mark.real
def test_real_bfm_triangles_match_scipy(shared: Path, native_only: None) -> None:
    path = shared / "data" / "bfm-3ddfa" / "tri.mat"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    got = read_mat(path)
    assert_same_vars(got, scipy_vars(path))
    # the caller's conversion gives what it gave with scipy's default (mat_dtype=False) read
    old = np.asarray(scipy.io.loadmat(str(path))["tri"], dtype=np.int64)
    np.testing.assert_array_equal(np.asarray(got["tri"], dtype=np.int64), old)


@pytest.mark.real
def test_release_mesh_loader_unchanged(real_source: Path) -> None:
    from aflw_occ.face_mesh import _load_release_mesh

    mesh = _load_release_mesh(real_source)
    raw = scipy.io.loadmat(str(real_source / "Code" / "Model_Shape_Sim.mat"))  # the former reader, default options
    verts = np.asarray(raw["mu_shape"], dtype=np.float64).reshape(-1, 3)
    tri = np.asarray(raw["tri"], dtype=np.int64).T - 1
    kp = np.asarray(raw["keypoints"], dtype=np.int64).reshape(-1) - 1
    for got, want in ((mesh.vertices, verts), (mesh.triangles, tri), (mesh.keypoints, kp)):
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)


@pytest.mark.real
def test_load_mat_unchanged_on_real_files(real_source: Path) -> None:
    for path in sorted(real_source.glob("image*.mat"))[:50]:
        got = load_mat(path)
        raw = scipy.io.loadmat(str(path))  # the former reader, default options
        assert list(got)[:5] == ["Pose_Para", "Shape_Para", "Exp_Para", "pt3d_68", "pt2d"]
        for key, value in got.items():
            want = np.asarray(raw[key]).astype(np.float64)
            assert value.dtype == np.float64 and value.shape == want.shape
            assert np.array_equal(value.view(np.uint64), want.view(np.uint64))


@pytest.mark.real
def test_loading_the_release_does_not_import_scipy(real_source: Path) -> None:
    code = (
        "import sys\n"
        "from aflw_occ.source import AFLW2000_3D\n"
        "from aflw_occ.face_mesh import _load_release_mesh\n"
        f"ds = AFLW2000_3D({str(real_source)!r})\n"
        f"mesh = _load_release_mesh(__import__('pathlib').Path({str(real_source)!r}))\n"
        "print(len(ds), len(mesh.keypoints), 'scipy.io' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2000", "68", "False"]


# files written by scipy ---------------------------------------------------------------------------------------------
def numeric_vars() -> dict[str, Any]:
    rng = np.random.default_rng(7)
    out: dict[str, Any] = {}
    for dt in ("f8", "f4", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8"):
        info = np.finfo(dt) if dt[0] == "f" else np.iinfo(dt)
        a = (rng.standard_normal((3, 4)) * 100).astype(dt)
        a[0, 0], a[1, 0] = info.min, info.max
        out[f"m_{dt}"] = a
    out["special"] = np.array([[np.nan, np.inf, -np.inf, -0.0, 5e-324]])
    out["row"] = np.arange(5.0)[None, :]
    out["col"] = np.arange(6, dtype=np.int32)[:, None]
    out["flat"] = np.arange(4, dtype=np.uint16)  # 1-D: saved as a row
    out["scalar"] = np.float64(3.25)
    out["pyint"] = 7
    out["empty"] = np.zeros((0, 0))
    out["empty_cols"] = np.zeros((0, 5), np.float32)
    out["empty_1d"] = np.array([], dtype=np.int8)
    out["cube"] = np.arange(24.0).reshape(2, 3, 4)
    out["hyper"] = np.arange(120, dtype=np.int16).reshape(2, 3, 4, 5)
    out["f_order"] = np.asfortranarray(rng.standard_normal((4, 3)))
    return out


@pytest.mark.parametrize("compress", [True, False])
def test_scipy_written_numeric_files_read_natively(tmp_path: Path, compress: bool, native_only: None) -> None:
    path = tmp_path / "numeric.mat"
    scipy.io.savemat(path, numeric_vars(), do_compression=compress)
    assert_same_vars(read_mat(path), scipy_vars(path))
    for names in (["cube", "m_u8"], ["nope"], "special", ["row", "nope"], []):
        assert_same_vars(read_mat(path, names), scipy_vars(path, names))
    assert read_mat(path)["m_i1"].dtype == np.int8


EXOTIC: dict[str, Any] = {
    "char": {"s": "hello", "x": np.ones((2, 2))},
    "cell": {"c": np.array([1.0, "a"], dtype=object)},
    "struct": {"st": {"f": np.arange(3.0), "g": "txt"}},
    "sparse": {"sp": scipy.sparse.csc_array(np.eye(3))},
    "complex": {"z": np.array([[1 + 2j, -3j]])},
    "logical": {"b": np.array([[True, False, True]])},
}


@pytest.mark.filterwarnings("ignore:Casting complex values")  # scipy's mat_dtype=True drops imaginary parts
@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("kind", sorted(EXOTIC))
def test_exotic_content_falls_back_to_scipy(tmp_path: Path, kind: str, compress: bool, fallbacks: list[str]) -> None:
    path = tmp_path / f"{kind}.mat"
    scipy.io.savemat(path, EXOTIC[kind], do_compression=compress)
    got = read_mat(path)
    assert fallbacks == [str(path)]
    assert_same_vars(got, scipy_vars(path))


def test_mat4_file_falls_back(tmp_path: Path, fallbacks: list[str]) -> None:
    path = tmp_path / "v4.mat"
    scipy.io.savemat(path, {"a": np.arange(6.0).reshape(2, 3)}, format="4")
    assert_same_vars(read_mat(path), scipy_vars(path))
    assert fallbacks == [str(path)]


# files built byte by byte -------------------------------------------------------------------------------------------
MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}


def element(order: str, mdtype: int, payload: bytes, small: bool = True) -> bytes:
    """One data element: the small format (type and count in 4 bytes) when allowed and ≤ 4 bytes, else tag + padding."""
    if small and 0 < len(payload) <= 4:
        return struct.pack(order + "I", len(payload) << 16 | mdtype) + payload.ljust(4, b"\0")
    return struct.pack(order + "II", mdtype, len(payload)) + payload + b"\0" * (-len(payload) % 8)


def matrix(order: str, name: str, mclass: int, mi: int, values: Any, flags: int = 0) -> bytes:
    """A complete miMATRIX element holding a real array of class ``mclass`` stored as data type ``mi``."""
    values = np.asarray(values)
    dims = values.shape if values.ndim >= 2 else (1, values.size)
    data = np.asarray(values, dtype=np.dtype(MI_DTYPES[mi]).newbyteorder(order)).tobytes(order="F")
    body = (
        element(order, 6, struct.pack(order + "II", mclass | flags, 0), small=False)
        + element(order, 5, struct.pack(f"{order}{len(dims)}i", *dims), small=False)
        + element(order, 1, name.encode())
        + element(order, mi, data)
    )
    return struct.pack(order + "II", 14, len(body)) + body


def compressed(order: str, elem: bytes) -> bytes:
    z = zlib.compress(elem)
    return struct.pack(order + "II", 15, len(z)) + z


def mat_file(order: str, elements: list[bytes], version: int = 0x0100) -> bytes:
    text = b"MATLAB 5.0 MAT-file, built by test_matfile".ljust(116, b" ")
    endian = b"IM" if order == "<" else b"MI"
    return text + b"\0" * 8 + struct.pack(order + "H", version) + endian + b"".join(elements)


def mixed_storage(order: str) -> list[bytes]:
    """Classes stored in other data types, as MATLAB writes them, small data elements included."""
    return [
        matrix(order, "dbl_u8", 6, 2, [[0, 255, 7], [3, 1, 2]]),
        matrix(order, "dbl_i16", 6, 3, [[-300, 12000]]),
        matrix(order, "one", 6, 2, [[9]]),  # 1 byte of data: small data element
        matrix(order, "sgl", 7, 7, np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2)),
        matrix(order, "u16_u8", 11, 2, [[1, 2, 250]]),
        matrix(order, "i64", 14, 12, [[-(2**62), 2**62 + 1]]),
        matrix(order, "u64_u32", 15, 6, [[4_000_000_000]]),
        matrix(order, "i8_i8", 8, 1, [[-128, 127, 0, 5]]),  # 4 bytes: small data element
        matrix(order, "f8cube", 6, 9, np.arange(24.0).reshape(2, 3, 4)),
        matrix(order, "empty", 6, 9, np.zeros((0, 0))),
        matrix(order, "long_variable_name_of_the_file", 12, 5, [[1], [-2]]),
    ]


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("compress", [True, False])
def test_hand_built_files_read_natively(tmp_path: Path, order: str, compress: bool, native_only: None) -> None:
    elems = mixed_storage(order)
    path = tmp_path / "built.mat"
    path.write_bytes(mat_file(order, [compressed(order, e) for e in elems] if compress else elems))
    got = read_mat(path)
    assert_same_vars(got, scipy_vars(path))
    assert got["dbl_u8"].dtype == np.dtype("f8").newbyteorder(order)  # mat_dtype: the class, in the file's order
    assert got["dbl_i16"][0, 0] == -300 and got["f8cube"].shape == (2, 3, 4) and got["empty"].shape == (0, 0)
    for names in (["one", "f8cube"], ["i64", "nope"], "sgl"):
        assert_same_vars(read_mat(path, names), scipy_vars(path, names))


def broken_files(order: str) -> dict[str, bytes]:
    ok = matrix(order, "a", 6, 9, [[1.0, 2.0]])
    z = zlib.compress(ok)
    unnamed = (
        element(order, 6, struct.pack(order + "II", 6, 0), small=False)
        + element(order, 5, struct.pack(order + "2i", 1, 1), small=False)
        + element(order, 1, b"", small=False)
        + element(order, 9, struct.pack(order + "d", 1.0))
    )
    big = bytearray(compressed(order, matrix(order, "x", 6, 9, np.random.default_rng(1).standard_normal((40, 50)))))
    big[len(big) // 2] ^= 0xFF  # damaged far beyond the header of the variable
    return {
        "damaged_before": mat_file(order, [bytes(big), compressed(order, ok)]),
        "duplicate": mat_file(order, [ok, matrix(order, "a", 6, 9, [[3.0]])]),
        "global": mat_file(order, [matrix(order, "g", 6, 9, [[1.0]], flags=1 << 10)]),
        "zlib_cut": mat_file(order, [struct.pack(order + "II", 15, len(z) - 2) + z[:-2]]),
        "zlib_tail": mat_file(order, [struct.pack(order + "II", 15, len(z) + 3) + z + b"xyz"]),
        "zlib_garbage": mat_file(order, [struct.pack(order + "II", 15, 16) + b"\x78\x9c" + b"\xff" * 14]),
        "inflated_tail": mat_file(order, [compressed(order, ok + b"\0" * 8)]),
        "file_tail": mat_file(order, [ok, b"\0" * 8]),
        "short_data": mat_file(order, [ok[:-8]]),
        "v73": mat_file(order, [ok], version=0x0200),
        "no_endian": mat_file(order, [ok])[:126] + b"XX" + ok,
        "utf8_name": mat_file(order, [ok.replace(element(order, 1, b"a"), element(order, 16, b"a"))]),
        "no_name": mat_file(order, [struct.pack(order + "II", 14, len(unnamed)) + unnamed]),
        "header_only_cut": mat_file(order, [ok])[:127],
    }


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("case", sorted(broken_files("<")))
def test_malformed_or_unusual_files_behave_as_scipy(
    tmp_path: Path, order: str, case: str, fallbacks: list[str]
) -> None:
    path = tmp_path / f"{case}.mat"
    path.write_bytes(broken_files(order)[case])
    for names in (None, ["a"], ["a", "x"]):
        outcome = _outcome(lambda n=names: scipy_vars(path, n))
        got = _outcome(lambda n=names: read_mat(path, n))
        if isinstance(outcome, BaseException):
            assert type(got) is type(outcome) and str(got) == str(outcome)
        else:
            assert not isinstance(got, BaseException), got
            assert_same_vars(got, outcome)
    assert fallbacks  # none of them is read natively (with names=["a"] some are, e.g. the duplicate)
    if case == "damaged_before":  # scipy inflates the first block of a variable it skips: so must read_mat
        assert isinstance(_outcome(lambda: scipy_vars(path, ["a"])), zlib.error)


def _outcome(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return fn()
        except Exception as exc:
            return exc


def test_missing_file_raises_as_scipy(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_mat(tmp_path / "nope.mat")


# the annotation reader on damaged files -----------------------------------------------------------------------------
@pytest.mark.real
@pytest.mark.parametrize(
    ("kind", "number"),
    [("cut", 10), ("cut", 50), ("cut", 127), ("cut", 200), ("cut", -10), ("cut", -1), ("flip", 140), ("flip", 1500)],
)
def test_damaged_annotation_gives_source_error(real_source: Path, tmp_path: Path, kind: str, number: int) -> None:
    data = bytearray((real_source / "image00002.mat").read_bytes())
    if kind == "cut":
        data = data[:number]
    else:
        data[number] ^= 0xFF
    path = tmp_path / "image00002.mat"
    path.write_bytes(bytes(data))
    with pytest.raises(Exception) as former:  # what the former reader (scipy, default options) raised
        scipy.io.loadmat(str(path))
    msg = str(former.value).splitlines()[0] if str(former.value) else type(former.value).__name__
    with pytest.raises(SourceError) as err:
        load_mat(path)
    assert str(err.value) == f"{path}: corrupt or truncated .mat ({msg})"
