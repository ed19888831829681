"""What ``verify`` found: a :class:`VerifyReport` of :class:`Mismatch` lines (split, sample id, what differs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

STORE = "store"  # the split name of mismatches that concern the whole store (attributes, embedded manifest)


@dataclass
class Mismatch:
    split: str
    id: str
    what: str

    def __str__(self) -> str:
        return f"{self.split}/{self.id}: {self.what}"


@dataclass
class VerifyReport:
    store: Path
    version: str
    manifest_sha256: str
    manifest_origin: str
    checked: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches

    def add(self, split: str, sid: str, what: str) -> None:
        self.mismatches.append(Mismatch(split, sid, what))

    def summary(self, first: int = 10) -> str:
        head = (
            f"{self.store}: data version {self.version}, manifest {self.manifest_sha256[:12]} "
            f"({self.manifest_origin}): {self.checked} samples checked, {len(self.mismatches)} mismatch(es)"
        )
        lines = [head, *(f"  note: {n}" for n in self.notes), *(f"  MISMATCH {m}" for m in self.mismatches[:first])]
        if len(self.mismatches) > first:
            lines.append(f"  … and {len(self.mismatches) - first} more")
        return "\n".join(lines)
