"""The README's shell examples, run as written (issue 13), so that they cannot drift from the code.

Every fenced ``bash`` block of README.md that holds an ``aflw-occ`` command carries an HTML comment on the line
above it:

* ``<!-- test -->``: every command of the block is run, in README order, in one temporary working folder shared by
  the whole README (``out/`` built by one block is read by the next), and must exit 0;
* ``<!-- test: small -->``: the same, but a build gets ``--ids @tests/data/readme_ids.txt`` (48 images, two journal
  blocks) unless it names its own ``--ids``, and a ``verify --manifest`` of such a build gets ``--partial``;
* ``<!-- no-test: why -->``: not run (it needs data or weights that cannot be had here), and says why.

Only paths are replaced: ``~/data/AFLW2000`` and ``~/data/aflw2000-3d-eval`` by the real AFLW2000-3D and 3DDFA's
evaluation folder, ``manifests/…`` by this repository's, ``mb05_120x120.pth`` by the 3DDFA_V2 weights of the shared
data. The input files the examples name (``my_predictions.npz``, ``my_ids.txt``, ``pts68_crop.npy``, the README
that ``leaderboard --readme`` rewrites, …) are put in the working folder first. The command-line reference table is
checked against the commands' options as well.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from conftest import README, ReadmeBlock, readme_blocks

from aflw_occ.cli import cli

pytestmark = pytest.mark.real
REPO = Path(__file__).resolve().parents[1]
EXE = str(Path(sys.executable).parent / "aflw-occ")
SMALL_IDS = REPO / "tests" / "data" / "readme_ids.txt"


def runnable(block: ReadmeBlock) -> bool:
    return block.lang == "bash" and any(ln.strip().startswith("aflw-occ ") for ln in block.text.splitlines())


def commands(text: str) -> list[list[str]]:
    """The commands of a block: continuation lines joined, comments dropped, split into words as bash would."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [words for line in joined.splitlines() if (words := shlex.split(line, comments=True))]


def test_every_example_is_marked() -> None:
    blocks = [b for b in readme_blocks() if runnable(b)]
    unmarked = [b.line for b in blocks if not re.fullmatch(r"test|test: small|no-test: .{10,}", b.marker)]
    assert not unmarked, f"README bash blocks without a test / no-test marker at lines {unmarked}"
    tested = [b for b in blocks if b.marker.startswith("test")]
    assert len(tested) >= 5 and sum(len(commands(b.text)) for b in tested) >= 25


@pytest.fixture(scope="module")
def workdir(real_source: Path, real_eval_dir: Path, shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder the examples run in, with the input files they name."""
    cwd = tmp_path_factory.mktemp("readme")
    peers = shared / "reference" / "peer_scores"
    for name in ("preds.npz", "mine.npz"):  # clean images: the 2000 ids of the release
        shutil.copy(peers / "noise2.npz", cwd / name)
    shutil.copy(peers / "mb05_official_v2.npz", cwd / "baseline.npz")
    # predictions for the csod-single split of the (small) builds: its ids are "<source id>.csod-single"
    noise = np.load(peers / "noise2.npz")
    rows = np.flatnonzero(np.isin(noise["ids"], SMALL_IDS.read_text().split()))
    split_ids = np.array([f"{i}.csod-single" for i in noise["ids"][rows]])
    for name in ("my_predictions.npz", "csod_single_preds.npz"):
        np.savez(cwd / name, ids=split_ids, landmarks=noise["landmarks"][rows])
    (cwd / "my_ids.txt").write_text("\n".join(SMALL_IDS.read_text().split()[:10]) + "\n")
    shutil.copy(README, cwd / "README.md")  # `leaderboard --readme README.md` rewrites it
    # a 3DDFA/SynergyNet array: mb05's landmarks in 120×120 crop coordinates, (2000, 3, 68), the release's order
    pred = np.load(peers / "mb05_official_v2.npz")
    order = np.argsort(pred["ids"])
    boxes = np.load(real_eval_dir / "AFLW2000-3D_crop.roi_box.npy")
    names = [Path(n.strip()).stem for n in (real_eval_dir / "AFLW2000-3D_crop.list").read_text().split()]
    assert names == sorted(names) == list(pred["ids"][order])
    lm = pred["landmarks"][order]
    sx, sy, ex, ey = (boxes[:, i, None] for i in range(4))
    crop = np.stack([(lm[..., 0] - sx) * 120 / (ex - sx), (lm[..., 1] - sy) * 120 / (ey - sy),
                     lm[..., 2] * 120 / ((ex - sx + ey - sy) / 2)], axis=1)  # fmt: skip
    np.save(cwd / "pts68_crop.npy", crop)
    return cwd


def substitute(word: str, paths: dict[str, Path]) -> str:
    for placeholder, real in paths.items():
        if word == placeholder or word.startswith(placeholder + "/"):
            return str(real) + word[len(placeholder) :]
    return word


def prepare(words: list[str], small: bool, paths: dict[str, Path], cwd: Path) -> list[str]:
    """One README command as it is run: paths replaced, globs expanded; a small build on the README's id list."""
    assert words[0] == "aflw-occ", words
    args = [substitute(w, paths) for w in words[1:]]
    expanded = [m for a in args for m in (sorted(glob.glob(a, root_dir=cwd)) if "*" in a else [a])]
    if small and args[0] == "build" and "--ids" not in args:
        expanded += ["--ids", f"@{SMALL_IDS}"]
    if small and args[0] == "verify" and "--manifest" in args and "--partial" not in args:
        expanded.append("--partial")
    return [EXE, *expanded]


TESTED = [b for b in readme_blocks() if runnable(b) and b.marker.startswith("test")]


@pytest.mark.parametrize("block", TESTED, ids=[f"line{b.line}" for b in TESTED])
def test_readme_block(block: ReadmeBlock, workdir: Path, real_source: Path, real_eval_dir: Path, shared: Path) -> None:
    paths = {
        "~/data/AFLW2000": real_source,
        "~/data/aflw2000-3d-eval": real_eval_dir,
        "manifests": REPO / "manifests",
        "mb05_120x120.pth": shared / "models" / "3ddfa_v2_mb05" / "mb05_120x120.pth",
    }
    env = {**os.environ, "AFLW_OCC_SHARED": str(shared)}
    for words in commands(block.text):
        cmd = prepare(words, block.marker == "test: small", paths, workdir)
        r = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=600, env=env)
        shown = shlex.join(words)
        out = f"{r.stdout[-2000:]}\n{r.stderr[-3000:]}"
        assert r.returncode == 0, f"README line {block.line}: `{shown}` exited {r.returncode}:\n{out}"
        assert "Traceback" not in r.stderr and "error:" not in r.stderr, f"`{shown}`:\n{r.stderr[-3000:]}"
        if words[1] == "verify":
            assert " 0 mismatch(es)" in r.stdout, r.stdout


def reference_table() -> dict[str, set[str]]:
    """``command → options`` of the README's command-line reference table."""
    text = README.read_text(encoding="utf-8").split("## Command-line reference", 1)[1]
    rows: dict[str, set[str]] = {}
    for line in text.split("\n\n**`export-table`**", 1)[0].splitlines():
        m = re.match(r"^\| `([a-z0-9 -]+?)(?: [A-Z]+)?` \| .* \| ((?:`--[a-z0-9-]+` ?)+|–) \|$", line)  # – : none
        if m:
            rows[m.group(1)] = set(re.findall(r"`(--[a-z0-9-]+)`", m.group(2)))
    return rows


def leaf_commands(cmd: click.Command = cli, path: str = "") -> dict[str, set[str]]:
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        out: dict[str, set[str]] = {}
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None
            out.update(leaf_commands(sub, f"{path} {name}".strip()))
        return out
    return {path: {p.opts[0] for p in cmd.params if isinstance(p, click.Option) and not p.hidden}}


def test_cli_reference_lists_every_command_and_option() -> None:
    assert reference_table() == leaf_commands()
