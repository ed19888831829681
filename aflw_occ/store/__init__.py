"""The versioned HDF5 store: layout, pixel codec, manifests, reader, verify."""

from __future__ import annotations

from .reader import DataStore, Split, open_store, read_ground_truth
from .versions import CURRENT_VERSION, DATA_VERSIONS

__all__ = ["CURRENT_VERSION", "DATA_VERSIONS", "DataStore", "Split", "open_store", "read_ground_truth"]
