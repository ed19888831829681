"""The torch Dataset wrapper: lazy per-worker HDF5, exact pixels, safe after a build in the same process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aflw_occ.builders import BuildOptions
from aflw_occ.demo import make_source
from aflw_occ.pipeline import BuildPlan, build
from aflw_occ.store import open_store

torch = pytest.importorskip("torch")


def test_dataloader_with_workers(tmp_path: Path) -> None:
    from aflw_occ.torch_dataset import AflwOccDataset

    src = make_source(tmp_path / "src", n=6)
    plan = BuildPlan(
        source=src, out=tmp_path / "o", version="2.0.0", subsets=("csod",), options=BuildOptions(), progress=False
    )
    path = build(plan).path
    ds = AflwOccDataset(path, "csod-double")
    # "forkserver", not the default "fork": this process has just built (worker pools, h5py, torch's sharing threads),
    # and a forked worker inherits any lock another thread held at that instant (a worker once hung for good in
    # _ResourceSharer.register). A forkserver child starts from a clean single-threaded server instead.
    loader = torch.utils.data.DataLoader(
        ds, batch_size=4, num_workers=2, multiprocessing_context="forkserver", persistent_workers=False
    )
    batches = list(loader)
    assert sum(len(b["id"]) for b in batches) == 6
    with open_store(path) as st:
        sp = st.split("csod-double")
        first = batches[0]
        assert first["image"].shape == (4, 3, 450, 450) and first["image"].dtype == torch.uint8
        np.testing.assert_array_equal(first["image"][1].numpy().transpose(1, 2, 0), sp.image(1))
        np.testing.assert_array_equal(first["occluded"][2].numpy(), sp.occluded[2])
        assert first["id"][0] == sp.ids[0]
