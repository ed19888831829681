"""A small, exact reader for the MATLAB 5 (Level 5) ``.mat`` files of the AFLW2000-3D release.

:func:`read_mat` returns exactly what ``scipy.io.loadmat(path, mat_dtype=True, variable_names=names)`` returns for
the variables (same keys, shapes, dtypes including byte order, and bit-identical values; the ``__header__``,
``__version__`` and ``__globals__`` keys are left out), but it parses the common case itself so that the hot path
never imports ``scipy.io`` (whose import alone costs ~0.25–0.8 s: it pulls in ``scipy.sparse``, ``numpy.testing``…).

Parsed natively (everything else goes to scipy, see below):

* the 128-byte header of a version-1 file (the Level-5 format: MATLAB's ``save -v6`` / ``-v7``),
  little-endian (``IM``) or big-endian (``MI``);
* top-level ``miMATRIX`` elements, raw or wrapped in ``miCOMPRESSED`` (zlib) elements;
* data elements with the 8-byte tag and with the 4-byte *small data element* tag;
* real, non-logical, non-global numeric arrays of every numeric class (double, single, int8 … uint64) with their data
  stored in any numeric ``mi`` type (MATLAB stores integer-valued doubles as e.g. ``miUINT8``): the stored values are
  viewed in place as a numpy array shaped column-major exactly as the MATLAB dims (``order="F"``, ≥ 2 dims, empty
  arrays included), then converted (copied) to the class's dtype in the file's byte order, as ``mat_dtype=True`` does;
* with ``names``, the variables not asked for are skipped after reading only their header (for a compressed element
  a :class:`zlib.decompressobj` keeps just its first inflated bytes, and at most its first 128 KiB of compressed data
  go through zlib, as in scipy); reading stops once every asked-for name was found.

Fallback rule (decided in one place, :func:`read_mat`): whenever the native parser meets anything outside that subset
— MAT v4 or v7.3 (HDF5) files, char / cell / struct / object / sparse / function / opaque content, complex, logical
or global arrays, an unusual tag layout, a repeated variable name, a malformed or truncated file, a zlib error, an
unreadable path … — it raises the internal :class:`_NotNative` and the *whole file* is read again by
``scipy.io.loadmat(str(path), mat_dtype=True, variable_names=names)`` (scipy is imported only then). Errors, warnings
and exotic content therefore behave exactly as with scipy. The native parser is deliberately at least as strict as
scipy's (every sub-element must fit its parent; a compressed element must inflate to exactly one complete zlib stream
whose content the matrix uses up to the last byte, read in scipy's 128 KiB blocks), so it never accepts a file scipy
would reject.

Speed (2-core AMD EPYC VM shared with other jobs, ``python -m benchmarks.bench_matfile``, medians): the 2000
AFLW2000-3D annotation files take 0.22 s of CPU with :func:`read_mat` against 0.44 s with ``scipy.io.loadmat``
(2.0×, ~107 against ~220 µs per file), and the 0.25–0.35 s of ``import scipy.io`` are no longer paid:
``AFLW2000_3D(source)`` in a fresh process 1.31 s → 0.60 s, the release mesh (``Code/Model_Shape_Sim.mat``, three
of its four variables) 0.24 s → 0.024 s.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Collection
from math import prod

import numpy as np

__all__ = ["read_mat"]

# data types (``mi*``) and array classes (``mx*``) of the Level-5 format
_MI_INT8 = 1
_MI_INT32 = 5
_MI_UINT32 = 6
_MI_MATRIX = 14
_MI_COMPRESSED = 15
_MX_OPAQUE = 17

_MI_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
_MX_DTYPES = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_FLAG_LOGICAL, _FLAG_GLOBAL, _FLAG_COMPLEX = 1 << 9, 1 << 10, 1 << 11

_HEADER_SIZE = 128
_ENDIAN = {b"IM": "<", b"MI": ">"}
_META_KEYS = frozenset({"__header__", "__version__", "__globals__"})
_HEAD_BYTES = 1024  # decompressed bytes inflated to read the header of a skipped compressed variable
_ZLIB_BLOCK = 131072  # scipy's ZlibInputStream feeds the compressed data to zlib in blocks of this size


class _ByteOrder:
    """Struct and dtypes of one file byte order ("<" or ">")."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.pair = struct.Struct(code + "II")
        self.head = struct.Struct(code + "6I2i")  # array flags tag, flags, nzmax, dims tag, 2 dims
        self.dims = {n: struct.Struct(f"{code}{n}i") for n in range(2, 33)}
        self.stored = {k: np.dtype(v).newbyteorder(code) for k, v in _MI_DTYPES.items()}
        self.classes = {k: np.dtype(v).newbyteorder(code) for k, v in _MX_DTYPES.items()}


_ORDERS = {code: _ByteOrder(code) for code in "<>"}


class _NotNative(Exception):
    """The file (or a part of it) is outside the natively parsed subset: read the whole file with scipy."""


def read_mat(path: str | os.PathLike[str], names: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Variables of a MATLAB 5 ``.mat`` file: ``scipy.io.loadmat(path, mat_dtype=True, variable_names=names)``.

    Args:
        path: the ``.mat`` file.
        names: the variables to read (others are skipped, missing ones are not reported); None reads all.

    Returns:
        name → array in file order (without scipy's ``__header__`` / ``__version__`` / ``__globals__`` keys). Numeric
        arrays keep the MATLAB dims as shape and the class's dtype; content read through the scipy fallback is
        whatever scipy returns for it (strings, object / structured arrays, sparse matrices).

    Raises:
        whatever ``scipy.io.loadmat`` raises for the file (the fallback reads every file the native parser refuses).
    """
    wanted = None if names is None else ([names] if isinstance(names, str) else list(names))
    try:
        return _read_native(path, wanted)
    except (_NotNative, OSError, ValueError, struct.error, zlib.error):
        # the single fallback point: anything not parsed natively is read by scipy, errors included
        return _read_with_scipy(path, wanted)


def _read_with_scipy(path: str | os.PathLike[str], wanted: list[str] | None) -> dict[str, np.ndarray]:
    import scipy.io

    raw = scipy.io.loadmat(os.fspath(path), mat_dtype=True, variable_names=wanted)
    return {k: v for k, v in raw.items() if k not in _META_KEYS}


def _read_native(path: str | os.PathLike[str], wanted: list[str] | None) -> dict[str, np.ndarray]:
    with open(path, "rb", buffering=0) as fh:
        data = fh.readall()
    order = _ORDERS[_byte_order(data)]
    buf = memoryview(data)
    remaining = None if wanted is None else list(wanted)
    out: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    pos, end = _HEADER_SIZE, len(data)
    while pos < end:  # scipy reads elements until the exact end of the file
        if pos + 8 > end:
            raise _NotNative("truncated element tag")
        mdtype, count = order.pair.unpack_from(buf, pos)
        stop = pos + 8 + count  # top-level elements are not padded (scipy seeks to exactly this position)
        if count == 0 or stop > end:
            raise _NotNative("empty or truncated top-level element")
        body = buf[pos + 8 : stop]
        pos = stop
        if mdtype == _MI_COMPRESSED:
            if remaining is not None:
                name = _variable_name(memoryview(_inflate_head(body)), order, compressed=True)
                if _skip(name, remaining, seen):
                    continue
            content = memoryview(_inflate(body))
            name, value = _matrix(content, order, compressed=True)
        elif mdtype == _MI_MATRIX:
            if remaining is not None:
                name = _variable_name(body, order, compressed=False)
                if _skip(name, remaining, seen):
                    continue
            name, value = _matrix(body, order, compressed=False)
        else:
            raise _NotNative(f"top-level data type {mdtype}")
        if remaining is None:
            if name in seen or name in _META_KEYS:
                raise _NotNative("repeated variable name")
            seen.add(name)
        out[name] = value
        if remaining is not None:
            remaining.remove(name)
            if not remaining:
                break
    return out


def _byte_order(data: bytes) -> str:
    """The byte order ("<" or ">") of a Level-5 (version 1) file, as scipy decides it; :class:`_NotNative` otherwise."""
    if len(data) < _HEADER_SIZE or 0 in data[:4]:  # a zero in the first 4 bytes means MAT v4 to scipy
        raise _NotNative("not a Level-5 header")
    code = _ENDIAN.get(data[126:128])
    if code is None:
        raise _NotNative("no endian indicator")
    major = data[125] if code == "<" else data[124]
    if major != 1:  # 2 = v7.3 (HDF5)
        raise _NotNative(f"version {major}")
    return code


def _skip(name: str, remaining: list[str], seen: set[str]) -> bool:
    """With ``names``: True when the variable is not (any more) asked for, as scipy decides it."""
    if name in seen or name in _META_KEYS:
        raise _NotNative("repeated variable name")
    seen.add(name)
    return name not in remaining


def _inflate(body: memoryview) -> bytes:
    """The content of an ``miCOMPRESSED`` element: one complete zlib stream, nothing after it.

    The data are fed in scipy's block size; a block (but the last) that yields no output would stop scipy's reader,
    so it is refused too.
    """
    inflater = zlib.decompressobj()
    if len(body) <= _ZLIB_BLOCK:
        content = inflater.decompress(body)
    else:
        parts = []
        for start in range(0, len(body), _ZLIB_BLOCK):
            part = inflater.decompress(body[start : start + _ZLIB_BLOCK])
            if not part and start + _ZLIB_BLOCK < len(body):
                raise _NotNative("empty zlib block")
            parts.append(part)
        content = b"".join(parts)
    if not inflater.eof or inflater.unused_data:
        raise _NotNative("incomplete zlib stream or data after it")
    return content


def _inflate_head(body: memoryview) -> bytes:
    """The first inflated bytes of an ``miCOMPRESSED`` element (enough for the matrix header).

    scipy inflates the whole first block of the compressed data to read a header, so a damaged block makes it fail
    even for a variable it then skips: the block is run through zlib here too, its output beyond the head discarded
    as it is produced (bounded memory).
    """
    inflater = zlib.decompressobj()
    head = inflater.decompress(body[:_ZLIB_BLOCK], _HEAD_BYTES)
    while inflater.unconsumed_tail:
        inflater.decompress(inflater.unconsumed_tail, 1 << 20)
    return head


def _element(buf: memoryview, pos: int, end: int, order: _ByteOrder) -> tuple[int, memoryview, int]:
    """(data type, data bytes, position after the padded element) of the data element at ``pos``.

    Tag: two uint32 (type, byte count) and the data padded to 8 bytes, or — small data element — one uint32 with the
    byte count (1..4) in its upper and the type in its lower 16 bits, followed by the data in the tag's last 4 bytes.
    """
    if pos + 8 > end:
        raise _NotNative("truncated tag")
    first, count = order.pair.unpack_from(buf, pos)
    small = first >> 16
    if small:
        if small > 4:
            raise _NotNative("bad small data element")
        return first & 0xFFFF, buf[pos + 4 : pos + 4 + small], pos + 8
    after = pos + 8 + count + (-count % 8)
    if after > end:
        raise _NotNative("truncated data element")
    return first, buf[pos + 8 : pos + 8 + count], after


def _header(buf: memoryview, order: _ByteOrder, compressed: bool) -> tuple[int, int, tuple[int, ...], str, int]:
    """(flags, class, dims, name, position after the name) of a matrix.

    ``buf`` is the inflated content of a compressed element (which starts with the ``miMATRIX`` tag) or the body of
    a raw ``miMATRIX`` element (after its tag). Layout: array flags element (``miUINT32``, 8 bytes: flags, nzmax),
    dims element (``miINT32``, ≥ 2 values, so never a small data element), name element (``miINT8``).
    """
    end = len(buf)
    pos = 0
    if compressed:
        if end < 8 or order.pair.unpack_from(buf, 0)[0] != _MI_MATRIX:
            raise _NotNative("compressed content is not a matrix")
        pos = 8
    if pos + 32 > end:
        raise _NotNative("truncated matrix header")
    ftype, fcount, flags, _nzmax, dtype, count, rows, cols = order.head.unpack_from(buf, pos)
    mclass = flags & 0xFF
    if ftype != _MI_UINT32 or fcount != 8 or mclass == _MX_OPAQUE or dtype != _MI_INT32:
        raise _NotNative("unusual array flags or dimensions element")  # (an opaque class has no dims)
    if count == 8:
        dims: tuple[int, ...] = (rows, cols)
    elif count % 4 or not 8 < count <= 128:
        raise _NotNative("unusual dimensions element")
    else:
        dims = order.dims[count // 4].unpack_from(buf, pos + 24)
    pos += 24 + count + (-count % 8)
    if pos + 8 > end or min(dims) < 0:
        raise _NotNative("truncated header or negative dimension")
    first, count = order.pair.unpack_from(buf, pos)
    if first >> 16:  # small data element: names of up to 4 characters
        count = first >> 16
        if first & 0xFFFF != _MI_INT8 or count > 4:
            raise _NotNative("unusual array name")
        name = str(buf[pos + 4 : pos + 4 + count], "latin1")
        pos += 8
    else:
        if first != _MI_INT8 or count == 0:
            raise _NotNative("unusual or empty array name")
        name = str(buf[pos + 8 : pos + 8 + count], "latin1")
        pos += 8 + count + (-count % 8)
        if pos > end:
            raise _NotNative("truncated array name")
    return flags, mclass, dims, name, pos


def _variable_name(buf: memoryview, order: _ByteOrder, compressed: bool) -> str:
    return _header(buf, order, compressed)[3]


def _matrix(buf: memoryview, order: _ByteOrder, compressed: bool) -> tuple[str, np.ndarray]:
    """(name, array) of a real numeric matrix; the compressed content must end exactly after its real part."""
    flags, mclass, dims, name, pos = _header(buf, order, compressed)
    class_dtype = order.classes.get(mclass)
    if class_dtype is None or flags & (_FLAG_LOGICAL | _FLAG_GLOBAL | _FLAG_COMPLEX):
        raise _NotNative(f"class {mclass} flags {flags:#x}")
    dtype, raw, pos = _element(buf, pos, len(buf), order)
    stored = order.stored.get(dtype)
    if stored is None or len(raw) != prod(dims) * stored.itemsize:
        raise _NotNative("unusual real part")
    if compressed and pos != len(buf):  # scipy checks that the inflated content is used up
        raise _NotNative("data after the real part")
    # column-major view of the stored values (positional arguments: the fastest constructor call), then the class
    return name, np.ndarray(dims, stored, raw, 0, None, "F").astype(class_dtype)
