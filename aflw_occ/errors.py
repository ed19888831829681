"""Exception types. Every message is one line that names the file or sample and what is wrong."""

from __future__ import annotations


class AflwOccError(Exception):
    """Base class of every error the toolkit raises on bad input (exit code 2)."""

    exit_code = 2


class SourceError(AflwOccError):
    """The AFLW2000-3D source folder (or one of its files) is missing, incomplete or corrupt."""


class PredictionError(AflwOccError):
    """A prediction file or array does not satisfy the prediction-file contract."""


class ModelError(PredictionError):
    """A model could not be loaded or raised while predicting (the message names the model, the batch's first
    sample and the original error, kept as ``__cause__``), or a model file is missing, cannot be fetched, or is not
    the file its sha256 names (:mod:`aflw_occ.models`)."""


class EvaluationError(AflwOccError):
    """The data or the requested splits cannot be evaluated (unknown split, no roi boxes, ...)."""


class StoreError(AflwOccError):
    """An HDF5 data file or manifest is missing, corrupt, or of another version."""


class Interrupted(AflwOccError):
    """The command was interrupted (Ctrl-C, SIGTERM); the message says what was kept and how to continue."""

    exit_code = 130
