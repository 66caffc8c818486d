import pytest

import edx
from edx.units import volts_per_unit


@pytest.mark.parametrize(
    "unit,factor",
    [("V", 1.0), ("v", 1.0), ("mV", 1e-3), ("mv", 1e-3), ("uV", 1e-6), ("µV", 1e-6), ("μV", 1e-6),
     ("UV", 1e-6), (" uV ", 1e-6), ("nV", 1e-9), ("microvolts", 1e-6), ("Millivolt", 1e-3), ("kV", 1e3)],
)
def test_known_spellings(unit, factor):
    assert volts_per_unit(unit) == pytest.approx(factor)


@pytest.mark.parametrize("unit", ["", "  ", "mA", "degC", "counts", "MV", "Mv", "xV", "volt2"])
def test_unknown_or_ambiguous_units_raise(unit):
    with pytest.raises(edx.UnitError):
        volts_per_unit(unit)
