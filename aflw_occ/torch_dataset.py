"""A torch ``Dataset`` over one split of a built store (needs the ``torch`` extra).

The HDF5 file is opened lazily in each DataLoader worker (the store reopens itself after ``fork``/pickling), so
``num_workers > 0`` is safe.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .store import DataStore


class AflwOccDataset(Dataset):
    """Samples of one split as dicts: ``image`` (3, H, W) uint8 tensor, ``landmarks`` (68, 3) float32,
    ``angles_deg`` (3,), ``occluded`` (68,) bool, ``mask`` (H, W) bool, ``id``, ``source_id``.

    ``transform`` (optional) receives and returns that dict.
    """

    def __init__(self, path: str | Path, split: str = "clean", transform: Callable[[dict], dict] | None = None):
        self.store = DataStore(path)
        sp = self.store.split(split)
        self.split = split
        self.ids = list(sp.ids)
        self.transform = transform
        gt = sp.ground_truth()
        self._landmarks = gt.landmarks.astype(np.float32)
        self._angles = gt.angles_deg.astype(np.float32)
        self._occluded = np.zeros((len(self.ids), 68), bool) if gt.occluded is None else gt.occluded
        self._source_ids = list(sp.source_ids)
        self.store.close()
        self._split = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self._split is None:
            self._split = self.store.split(self.split)
        sp = self._split
        item = {
            "image": torch.from_numpy(np.ascontiguousarray(sp.image(i).transpose(2, 0, 1))),
            "mask": torch.from_numpy(sp.mask(i)),
            "landmarks": torch.from_numpy(self._landmarks[i]),
            "angles_deg": torch.from_numpy(self._angles[i]),
            "occluded": torch.from_numpy(self._occluded[i]),
            "id": self.ids[i],
            "source_id": self._source_ids[i],
        }
        return self.transform(item) if self.transform else item

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_split"] = None
        return state
