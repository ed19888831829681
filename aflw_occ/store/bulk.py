"""The fast store image reader: many rows of several splits at once, exactly the pixels of ``Split.image``.

:class:`BulkReader` looks the h5py datasets and patch boxes up once, reads each per-row dataset of a batch in one
contiguous h5py read where the batch is dense enough (:func:`read_many`), decodes each base JPEG once per batch and
pastes each row's PNG patch on a copy of its base image. Reading row by row costs a dataset lookup and a small h5py
read per image, more than decoding it; ``evaluate`` reads every split through this class and ``verify`` reads the
base JPEGs of its split rows through :func:`read_many`.

:func:`bulk_readable` checks, split by split, that the reader gives exactly ``split.image(i)`` before it is used;
:func:`load_images` reads the bulk-readable splits in bulk and falls back to ``split.image`` for the others.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from . import codec

#: a block read is used when at most this many rows of the block are read per wanted row (else one read per row)
BLOCK_SLACK = 2


def read_many(ds: Any, rows: list[int]) -> dict[int, Any]:
    """Rows ``rows`` (sorted, unique) of a per-row h5py dataset: ``{row: value}``.

    One read of ``ds[rows[0]:rows[-1] + 1]`` when that block holds at most ``BLOCK_SLACK`` rows per wanted row,
    else one read per row.
    """
    if not rows:
        return {}
    lo, hi = rows[0], rows[-1] + 1
    if hi - lo <= BLOCK_SLACK * len(rows):
        block = ds[lo:hi]
        return {r: block[r - lo] for r in rows}
    return {r: ds[r] for r in rows}


def is_store_split(sp: Any) -> bool:
    """The HDF5 store's split (rows, source_index, group, store.file): bulk reading applies."""
    return all(hasattr(sp, a) for a in ("group", "rows", "source_index", "store")) and hasattr(sp.store, "file")


def base_images(file: Any, sources: list[int]) -> dict[int, np.ndarray]:
    """Decoded base images of the (sorted, unique) base rows ``sources`` of an open store file; ValueError naming
    an undecodable one."""
    base = {}
    for j, data in read_many(file["base/jpeg"], sources).items():
        img = codec.imdecode_rgb(data)
        if img is None:
            raise ValueError(f"base image {j}: JPEG cannot be decoded")
        base[j] = img
    return base


class BulkReader:
    """Reads store rows of several splits in bulk (see the module docstring).

    Gives exactly ``split.image(i)`` (``codec.decode_jpeg`` + ``codec.apply_patch``); :func:`bulk_readable` checks
    it on every split before use, and the tests compare it with ``Split.image``. Thread-safe: ``images`` may be
    called from several threads at once (each has its own reusable buffers).
    """

    def __init__(self, splits: list[Any]) -> None:
        self.splits = splits
        self._patch: dict[int, tuple[np.ndarray, Any]] = {}
        self._local = threading.local()

    def _buffers(self, shape: tuple[int, ...], count: int) -> np.ndarray:
        """This thread's reusable (≥ count, *shape) uint8 block (fresh pages cost more than the copy itself)."""
        bufs: dict[tuple[int, ...], np.ndarray] = self._local.__dict__.setdefault("bufs", {})
        buf = bufs.get(shape)
        if buf is None or len(buf) < count:
            buf = bufs[shape] = np.empty((count, *shape), dtype=np.uint8)
        return buf

    def _patches(self, k: int) -> tuple[np.ndarray, Any]:
        if k not in self._patch:
            g = self.splits[k].store.file[self.splits[k].group]
            self._patch[k] = (np.asarray(g["patch_box"][()]), g["patch_png"])
        return self._patch[k]

    def images(self, items: list[tuple[int, int]], reuse: bool = False) -> list[np.ndarray]:
        """Pixels of (split position, row) items. With ``reuse``, occluded images are written into memory this
        thread reuses at its next call: only for callers done with them by then."""
        splits = self.splits
        src = sorted({int(splits[k].source_index[i]) for k, i in items})
        base = base_images(splits[items[0][0]].store.file, src)
        pngs = self._patch_pngs(items)
        blocks = self._reuse_blocks(items, base) if reuse else {}
        used = dict.fromkeys(blocks, 0)
        out = []
        for k, i in items:
            sp = splits[k]
            img = base[int(sp.source_index[i])]
            if sp.group == "base":
                out.append(img)
                continue
            if reuse and img.dtype == np.uint8:
                dst = blocks[img.shape][used[img.shape]]
                used[img.shape] += 1
                np.copyto(dst, img)
                img = dst
            else:
                img = img.copy()
            out.append(self._paste(k, int(sp.rows[i]), img, pngs))
        return out

    def _patch_pngs(self, items: list[tuple[int, int]]) -> dict[tuple[int, int], Any]:
        """(split position, row) → the PNG bytes of its patch, for the items of occluded splits with a non-empty
        patch box (one bulk read per split)."""
        pngs: dict[tuple[int, int], Any] = {}
        for k in sorted({k for k, _ in items}):
            sp = self.splits[k]
            if sp.group == "base":
                continue
            boxes, ds = self._patches(k)
            rows = sorted({int(sp.rows[i]) for kk, i in items if kk == k})
            need = [r for r in rows if boxes[r][2] > boxes[r][0] and boxes[r][3] > boxes[r][1]]
            pngs.update({(k, r): v for r, v in read_many(ds, need).items()})
        return pngs

    def _reuse_blocks(self, items: list[tuple[int, int]], base: dict[int, np.ndarray]) -> dict[tuple[int, ...], Any]:
        """Reusable output buffers: per image shape, one per occluded item of that shape (:meth:`_buffers`)."""
        slots: dict[tuple[int, ...], int] = {}
        for k, i in items:
            if self.splits[k].group != "base":
                shape = base[int(self.splits[k].source_index[i])].shape
                slots[shape] = slots.get(shape, 0) + 1
        return {shape: self._buffers(shape, c) for shape, c in slots.items()}

    def _paste(self, k: int, r: int, img: np.ndarray, pngs: dict[tuple[int, int], Any]) -> np.ndarray:
        """``img`` (a writable copy of the base pixels) with row ``r``'s patch of split ``k`` pasted into its box."""
        x0, y0, x1, y1 = (int(v) for v in self._patches(k)[0][r])
        if x1 > x0 and y1 > y0:
            patch = codec.imdecode_rgb(pngs[(k, r)])
            if patch is None:
                raise ValueError(f"{self.splits[k].group} row {r}: PNG patch cannot be decoded")
            img[y0:y1, x0:x1] = patch
        return img


def bulk_images(splits: list[Any], items: list[tuple[int, int]]) -> list[np.ndarray]:
    """Pixels of many store rows (:class:`BulkReader`); checked against ``Split.image`` in the tests."""
    return BulkReader(splits).images(items)


def bulk_readable(splits: list[Any]) -> set[int]:
    """Positions of the splits whose rows the bulk reader decodes exactly like ``split.image``.

    Checked on each split's first and last row (read one by one), so a store layout the bulk reader does not know
    falls back to ``split.image`` instead of giving different pixels.
    """
    ok: set[int] = set()
    for k, sp in enumerate(splits):
        if not is_store_split(sp) or len(sp) == 0:
            continue
        try:
            reader = BulkReader([sp])
            same = all(np.array_equal(reader.images([(0, i)])[0], sp.image(i)) for i in sorted({0, len(sp) - 1}))
        except (KeyError, ValueError, TypeError, AttributeError, IndexError):
            same = False
        if same:
            ok.add(k)
    return ok


def load_images(
    splits: list[Any],
    items: list[tuple[int, int]],
    bulk: set[int] | None = None,
    reader: BulkReader | None = None,
    reuse: bool = False,
) -> list[np.ndarray]:
    """Images of (split position, row) items: bulk store reads for the ``bulk`` splits (default: the
    :func:`bulk_readable` ones), else ``split.image(row)`` (``reuse``: see :meth:`BulkReader.images`)."""
    if bulk is None:
        bulk = bulk_readable(splits)
    fast = [(k, i) for k, i in items if k in bulk]
    if fast and reader is None:
        reader = BulkReader(splits)
    got = dict(zip(fast, reader.images(fast, reuse), strict=True)) if fast else {}  # type: ignore[union-attr]
    return [got[(k, i)] if (k, i) in got else splits[k].image(i) for k, i in items]
