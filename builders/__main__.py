"""``python -m aflw_occ.builders README.md``: regenerate the README's split table from the subset registry."""

from __future__ import annotations

import sys

from .registry import update_readme

for readme in sys.argv[1:] or ["README.md"]:
    print(f"{readme}: {'updated' if update_readme(readme) else 'up to date'}")
