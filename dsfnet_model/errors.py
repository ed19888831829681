"""DSFNet-specific error types (all subclasses of :class:`aflw_occ.errors.AflwOccError`)."""

from __future__ import annotations

from aflw_occ.errors import AflwOccError


class DSFNetError(AflwOccError):
    """Base class of DSFNet errors."""


class CheckpointError(DSFNetError):
    """A checkpoint does not match the DSFNet state dict (missing/unexpected keys, shape mismatch, unreadable)."""


class BasisError(DSFNetError):
    """The UV-space 3DMM basis file (or a file needed to build it) is missing or malformed."""


class InputError(DSFNetError):
    """Images, boxes or maps given to DSFNet have the wrong shape, dtype or range."""
