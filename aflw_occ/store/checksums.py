"""Source checksums (TFDS style): the sha256 of every file of the source release a data version is built from.

A data version names its list (:attr:`DataVersion.checksums`), a TSV shipped in ``aflw_occ/assets/checksums/``:
one ``<file name>\\t<sha256>`` line per ``.jpg`` and ``.mat``. ``build`` checks every file of the requested ids
against it before building anything (``AFLW2000_3D(..., checksums=)``, :func:`aflw_occ.source.check_checksum`).
A synthetic source made by :func:`aflw_occ.demo.make_source` carries :data:`SYNTHETIC_MARKER` and is not checked
(the manifest's ``source.checksums`` says so).

Regenerate a list from the real data: ``python -m aflw_occ.store.checksums SOURCE_DIR > aflw2000-3d.tsv``.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from ..errors import SourceError
from ..hashing import sha256_file

SYNTHETIC_MARKER = "aflw-occ-synthetic.txt"
SUFFIXES = (".jpg", ".mat")


def load(name: str) -> dict[str, str]:
    """The checksum list ``name`` shipped with aflw-occ: file name → sha256."""
    res = resources.files("aflw_occ").joinpath("assets", "checksums", name)
    try:
        text = res.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"checksum list {name} is missing from this aflw-occ install ({exc})") from None
    return parse(text, name)


def parse(text: str, origin: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line or line.startswith("#"):
            continue
        fname, sep, digest = line.partition("\t")
        if not sep or len(digest) != 64:
            raise SourceError(f"{origin}: line {n} is not '<file>\\t<sha256>'")
        out[fname] = digest
    return out


def compute(folder: Path) -> dict[str, str]:
    """sha256 of every ``image*.jpg`` / ``image*.mat`` of a release folder, by file name."""
    files = sorted(p for p in folder.glob("image*") if p.suffix in SUFFIXES)
    return {p.name: sha256_file(p) for p in files}


def render(checksums: dict[str, str]) -> str:
    return "".join(f"{name}\t{digest}\n" for name, digest in sorted(checksums.items()))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m aflw_occ.store.checksums SOURCE_DIR > aflw2000-3d.tsv", file=sys.stderr)
        return 2
    sys.stdout.write(render(compute(Path(args[0]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
