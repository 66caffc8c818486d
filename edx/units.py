"""Conversion of the unit strings found in files to volts.

Files write voltage units in many spellings ("uV", "µV", "μV", "mv", "Volt").  A
spelling that is known converts; one that is ambiguous (``"MV"``: megavolt or a
shouted millivolt?) or unknown raises :class:`edx.errors.UnitError` — edx never
guesses a factor of 10^3.
"""

from __future__ import annotations

import re

from .errors import UnitError

__all__ = ["volts_per_unit", "is_voltage_unit", "normalize_unit"]

# Prefix letter -> factor.  Upper-case "M" (mega) is deliberately absent: no
# electrophysiology amplifier records megavolts, so "MV" is far more likely a
# mis-cased millivolt than a real megavolt, and we refuse to guess either way.
_PREFIX = {"": 1.0, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12}
_WORDS = {
    "volt": 1.0,
    "volts": 1.0,
    "millivolt": 1e-3,
    "millivolts": 1e-3,
    "microvolt": 1e-6,
    "microvolts": 1e-6,
    "nanovolt": 1e-9,
    "nanovolts": 1e-9,
}
_SYMBOL = re.compile(r"^(?P<prefix>[kmunp]?)v$")


def normalize_unit(unit: str) -> str:
    """Return a canonical spelling: strip, map the micro signs to ``u``."""
    return unit.strip().replace("\u00b5", "u").replace("\u03bc", "u")


def volts_per_unit(unit: str) -> float:
    """Factor that converts a value in ``unit`` to volts.

    Parameters
    ----------
    unit : str
        Unit as written in a file or given by a caller, e.g. ``"uV"``, ``"µV"``,
        ``"mV"``, ``"mv"`` (WFDB headers), ``"V"``, ``"microvolts"``.

    Returns
    -------
    float
        Multiply samples in ``unit`` by this to obtain volts.

    Raises
    ------
    UnitError
        If the unit is empty, not a voltage, or ambiguous.
    """
    raw = unit
    u = normalize_unit(unit)
    if not u:
        raise UnitError("empty unit: the file does not say what its samples are; pass units= explicitly")
    low = u.lower()
    if low in _WORDS:
        return _WORDS[low]
    # Accept the symbol in any case except where case changes the meaning:
    # 'MV' (mega vs milli) is ambiguous; every other letter is unambiguous.
    if len(u) == 2 and u[0] == "M":
        raise UnitError(
            f"ambiguous unit {raw!r}: 'M' is mega, but megavolts are implausible; "
            "pass units='mV' (or the right unit) explicitly"
        )
    m = _SYMBOL.match(low)
    if m is None:
        raise UnitError(f"unknown unit {raw!r}: not a voltage unit edx can convert to volts")
    return _PREFIX[m.group("prefix")]


def is_voltage_unit(unit: str) -> bool:
    """True if :func:`volts_per_unit` accepts ``unit``."""
    try:
        volts_per_unit(unit)
    except UnitError:
        return False
    return True
