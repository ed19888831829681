"""``python -m aflw_occ.builders.occluders [README.md ...]``: regenerate the README's occluder-spec table from the
library kinds the readers declare (:func:`.registry.update_readme`)."""

from __future__ import annotations

import sys

from .registry import update_readme

for readme in sys.argv[1:] or ["README.md"]:
    print(f"{readme}: {'updated' if update_readme(readme) else 'up to date'}")
