"""The store from outside aflw-occ (issue 13), on a real store of every subset (48 ids): `aflw-occ export-table`
(CSV always, Parquet with pyarrow, a clear error without it), the README's plain-h5py recipe on every split (NOD and
clean included), and Hugging Face `datasets.load_dataset("hdf5", …)` as the README shows it (typed columns of every
split)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import REQUIRE_REAL, readme_python

from aflw_occ.store import open_store

pytestmark = pytest.mark.real
EXE = str(Path(sys.executable).parent / "aflw-occ")
STORE = "aflw-occ-2.0.0.h5"
#: the command in a Python without pyarrow (an import of it fails as if it were not installed)
NO_PYARROW = "import sys; sys.modules['pyarrow'] = None; from aflw_occ.cli import main; main()"


def run(*args: str, python: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", python, *args] if python else [EXE, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def check_table(table: pd.DataFrame, store: Path, splits: list[str]) -> None:
    """Every column against the store, split by split."""
    assert list(table["split"].unique()) == splits
    with open_store(store) as st:
        angles = st.file["base/angles_deg"][()]
        assert set(table["data_version"]) == {st.version} and set(table["manifest_sha256"]) == {st.manifest_sha256}
        for name in splits:
            sp, rows = st.split(name), table[table["split"] == name]
            assert list(rows["id"]) == list(sp.ids) and list(rows["source_id"]) == list(sp.source_ids)
            np.testing.assert_array_equal(rows[["pitch_deg", "yaw_deg", "roll_deg"]], angles[sp.source_index])
            if name == "clean":
                assert (rows["covered_fraction"] == 0).all() and (rows["occluder_category"].fillna("") == "").all()
                continue
            np.testing.assert_array_equal(rows["covered_fraction"], sp.covered_fraction)
            np.testing.assert_array_equal(rows["occluded_count"], sp.occluded.sum(axis=1))
            assert rows["occluded_count"].dtype == np.int64 and rows["seed"].dtype == np.int64
            if name == "nod":
                np.testing.assert_array_equal(rows["visible_rate"], sp.field("visible_rate"))
                assert set(rows["occluder_category"]) == {"natural"}
            elif name.startswith("csod"):
                first = sp.params(0)["occluders"][0]["color"]
                assert rows["occluder_colour"].iloc[0].startswith("#" + "".join(f"{c:02x}" for c in first))
                assert set(rows["occluder_category"]) == {"solid colour"}
            elif name == "nsod":
                assert list(rows["occluder_type"]) == [sp.params(i)["occluder"]["id"] for i in range(len(sp))]
            elif name == "randocc":
                assert set(rows["occluder_category"]) == {"blob"} and rows["occluder_colour"].str.startswith("#").all()
            if name != "nod":
                assert rows["visible_rate"].isna().all()


def test_export_table_csv_and_parquet(real_store: Path, tmp_path: Path) -> None:
    with open_store(real_store) as st:
        splits = list(st.splits)
    assert splits == ["clean", "csod-single", "csod-double", "csod-column", "nod", "nsod", "randocc"]
    r = run("export-table", str(real_store), "--out", str(tmp_path / "meta.parquet"))
    assert r.returncode == 0 and "wrote" in r.stdout and "manifest" in r.stdout, r.stderr
    check_table(pd.read_parquet(tmp_path / "meta.parquet"), real_store, splits)
    # CSV, two splits (a comma list and a repeated option), read back by plain pandas
    r = run("export-table", str(real_store), "--out", str(tmp_path / "meta.csv"), "--split", "nod,clean", "--split",
            "randocc")  # fmt: skip
    assert r.returncode == 0, r.stderr
    check_table(pd.read_csv(tmp_path / "meta.csv"), real_store, ["nod", "clean", "randocc"])


def test_export_table_errors(real_store: Path, tmp_path: Path) -> None:
    # no pyarrow: Parquet is one error line with the install hint, CSV still works
    r = run("export-table", str(real_store), "--out", str(tmp_path / "m.parquet"), python=NO_PYARROW)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "pip install 'aflw-occ[parquet]'" in r.stderr and not (tmp_path / "m.parquet").exists()
    r = run("export-table", str(real_store), "--out", str(tmp_path / "m.csv"), python=NO_PYARROW)
    assert r.returncode == 0 and (tmp_path / "m.csv").is_file(), r.stderr
    for args, why in [
        (["--out", str(tmp_path / "m.xlsx")], ".csv or .parquet"),
        (["--out", str(tmp_path / "m.csv"), "--split", "bogus"], "no split 'bogus'"),
        (["--out", str(tmp_path / "missing" / "m.csv")], "does not exist"),
    ]:
        r = run("export-table", str(real_store), *args)
        assert r.returncode == 2 and why in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_plain_h5py_recipe_reads_every_split(real_store: Path) -> None:
    """The README's recipe, run as written (only the file, group and row substituted), on every row of every
    split: the exact pixels and ids of the aflw-occ reader."""
    recipe = readme_python("import h5py, cv2")
    assert 'h5py.File("out/aflw-occ-2.0.0.h5", "r")' in recipe and 'g, i = f["csod/single"], 0' in recipe
    recipe = recipe.replace("out/aflw-occ-2.0.0.h5", str(real_store / STORE))
    with open_store(real_store) as st:
        for name in st.splits:
            sp = st.split(name, all_rows=True)
            code = compile(recipe.replace('f["csod/single"], 0', f'f["{sp.group}"], ROW'), "README.md", "exec")
            for row in range(0, len(sp), 5 if name != "nod" else 2):
                scope: dict[str, object] = {"ROW": row}
                exec(code, scope)
                assert scope["sid"] == sp.ids[row], (name, row)
                np.testing.assert_array_equal(scope["img"], sp.image(row), err_msg=f"{name} row {row}")


def _datasets_installed() -> bool:
    import importlib.util

    if importlib.util.find_spec("datasets") is not None:
        return True
    if REQUIRE_REAL:  # CI installs the test extra, which has it: its absence is a failure, not a skip
        pytest.fail("Hugging Face datasets is not installed (it is in the test extra: pip install -e '.[test]')")
    pytest.skip("Hugging Face datasets is not installed (pip install 'aflw-occ[hf]')")
    return False


HF_PROBE = """
import json, sys
store, recipe = sys.argv[1], sys.argv[2]
scope = {}
exec(compile(recipe.replace("out/aflw-occ-2.0.0.h5", store), "README.md", "exec"), scope)
ds = scope["ds"]
out = {"rows": ds.num_rows, "features": {k: repr(v) for k, v in ds.features.items()},
       "single_ids": list(scope["single"]["csod.single.ids"]), "nod_ids": list(scope["nod"]["nod.natural.ids"]),
       "splits": {}}
flat = ds.flatten()
for col in flat.column_names:
    if col.endswith(".ids") or col.endswith(".covered_fraction"):
        out["splits"][col] = list(flat[col])
print(json.dumps(out))
"""


def test_hugging_face_datasets_loads_every_split(real_store: Path, tmp_path: Path) -> None:
    """The README's `load_dataset("hdf5", …)` recipe: one row per source image, typed columns for every split, the
    same ids and values as the store; the NOD filter gives the NOD split."""
    _datasets_installed()
    recipe = readme_python("load_dataset(")
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-c", HF_PROBE, str(real_store / STORE), recipe], capture_output=True,
                       text=True, timeout=300, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.splitlines()[-1])
    with open_store(real_store) as st:
        assert got["rows"] == len(st.base_ids)
        for name in st.splits:
            sp = st.split(name, all_rows=True)
            key = sp.group.replace("/", ".")
            assert got["splits"][f"{key}.ids"] == list(sp.ids), name
            if name != "clean":
                np.testing.assert_array_equal(got["splits"][f"{key}.covered_fraction"], sp.covered_fraction)
        assert got["single_ids"] == list(st.split("csod-single").ids)
        assert got["nod_ids"] == list(st.split("nod").ids) and len(got["nod_ids"]) > 0
    features = got["features"]
    assert "'landmarks': Array2D(shape=(68, 3), dtype='float64')" in features["base"]
    assert "'ids': Value('string')" in features["base"] and "'jpeg': List(Value('uint8'))" in features["base"]
    for subset in ("csod", "nod", "nsod", "randocc"):
        assert "'occluded': List(Value('bool'), length=68)" in features[subset], features[subset]
        assert "'covered_fraction': Value('float64')" in features[subset]
        assert "'patch_box': List(Value('int32'), length=4)" in features[subset]
    assert "'field_visible_rate': Value('float64')" in features["nod"]
