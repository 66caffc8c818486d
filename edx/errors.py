"""Exception hierarchy of edx.

Every failure that edx detects in its input ends in a subclass of :class:`EdxError`
whose message names the file (and channel, key or line where it applies), the
problem, and what to do about it.  Errors raised by a dependency while reading a
file are caught at the loader boundary and re-raised as one of these, chained to
the original for debugging.
"""

from __future__ import annotations

__all__ = [
    "EdxError",
    "FormatError",
    "MissingFileError",
    "UnitError",
    "ManifestError",
    "SignalQualityError",
    "DependencyError",
    "ReferenceDataError",
    "StoreError",
]


class EdxError(Exception):
    """Base class of every error edx raises on purpose."""


class MissingFileError(EdxError, FileNotFoundError):
    """A file named by the caller or a manifest does not exist."""


class FormatError(EdxError, ValueError):
    """A file is not in the format its extension claims, is truncated or self-contradicting."""


class UnitError(EdxError, ValueError):
    """A physical unit is unknown, ambiguous or cannot be converted to volts."""


class ManifestError(EdxError, ValueError):
    """A study manifest is invalid: missing keys, wrong types, bad values or unsafe paths."""


class SignalQualityError(EdxError, ValueError):
    """Samples cannot be used at all: NaN/inf, empty, or otherwise unjudgeable."""


class DependencyError(EdxError, ImportError):
    """An optional package needed for this file type is not installed."""


class ReferenceDataError(EdxError, ValueError):
    """A reference-values or criteria file (or dict) is invalid: unknown keys, wrong types,
    missing sources."""


class StoreError(EdxError):
    """A results store cannot be used: not an SQLite file or not an edx store, written by a newer
    edx, locked for too long, or asked for a patient it does not hold."""
