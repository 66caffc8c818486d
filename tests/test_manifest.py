"""Tests of edx.manifest: reading, validating and loading study manifests."""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from importlib.resources import as_file, files
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edx
from edx.errors import EdxError, ManifestError, MissingFileError
from edx.manifest import load_site, manifest_schema, read_manifest, read_series
from edx.model import (
    ClinicalContext,
    DataRef,
    FilterSettings,
    Patient,
    Recording,
    Response,
    StimulationSite,
    Study,
    TestSpec,
    TestType,
)

# A complete manifest with every test type.  Line numbers matter to the tests
# below: the helper `line_of` finds them by text, so edits here stay safe.
VALID = """\
schema_version = 1

[patient]
id = "ICU-0042"
age_years = 63
sex = "M"
height_cm = 178

[study]
date = 2026-03-14
icu_day = 9
sedated = true
oedema = ["legs"]
mrc_sum_score = 36
handgrip_kg = 8.5
biopsy = "not done"
neuromuscular_blockers = false

[[tests]]
id = "peroneal-motor-R"
type = "motor"
nerve = "peroneal"
muscle = "EDB"
side = "R"
recording_site = "EDB belly"
temperature_c = 31.5
filters = { highpass_hz = 2, lowpass_hz = 10000, notch_hz = 50 }
notes = "supramaximal"
  [[tests.sites]]
  name = "ankle"
  distance_mm = 90
  stimulated = "nerve"
  intensity_ma = 45
  duration_ms = 0.2
  file = "peroneal_R.edf"
  channel = "EDB"
  sweeps = [0]
  [[tests.sites]]
  name = "fibular head"
  distance_mm = 310
  file = "peroneal_R.edf"
  channel = "EDB"
  sweeps = [1]

[[tests]]
id = "sural-R"
type = "sensory"
nerve = "sural"
side = "R"
  [[tests.sites]]
  name = "calf"
  distance_mm = 140
  file = "data/sural_R.npy"
  fs_hz = 20000
  unit = "uV"
  stimulus_s = [0.01, 0.51]
  window_s = [0.0, 2.0]
  sweeps = "all"

[[tests]]
id = "tibial-f-R"
type = "f_wave"
nerve = "tibial"
muscle = "AH"
  [[tests.sites]]
  name = "ankle"
  file = "tibial_f.edf"

[[tests]]
id = "ulnar-rns-L"
type = "rns"
nerve = "ulnar"
muscle = "ADM"
side = "L"
rate_hz = 3
  [[tests.sites]]
  name = "wrist"
  file = "ulnar_rns.edf"

[[tests]]
id = "ta-dms-R"
type = "dms"
nerve = "peroneal"
muscle = "TA"
  [[tests.sites]]
  name = "fibular head"
  stimulated = "nerve"
  file = "dms.edf"
  [[tests.sites]]
  name = "distal TA"
  stimulated = "muscle"
  file = "dms.edf"

[[tests]]
id = "ta-rest-R"
type = "needle_rest"
muscle = "TA"
  [[tests.sites]]
  name = "pos1"
  file = "needle.npy"
  fs_hz = 10000
  unit = "uV"
  window_s = [0.0, 30.0]

[[tests]]
id = "ta-min-R"
type = "needle_minimal"
muscle = "TA"
  [[tests.sites]]
  name = "pos1"
  file = "needle.npy"

[[tests]]
id = "ta-max-R"
type = "needle_maximal"
muscle = "TA"
  [[tests.sites]]
  name = "pos1"
  file = "needle.npy"
"""


def write(folder: Path, text: str, name: str = "study.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line number of the n-th line containing ``needle``."""
    hits = [i + 1 for i, line in enumerate(text.splitlines()) if needle in line]
    return hits[occurrence - 1]


def replace_line(text: str, old: str, new: str, occurrence: int = 1) -> str:
    """Replace the whole line holding the n-th occurrence of ``old`` with ``new``."""
    lines = text.splitlines()
    n = line_of(text, old, occurrence) - 1
    lines[n] = new
    return "\n".join(lines) + "\n"


def assert_problem(err: BaseException, path: Path, key: str, line: int | None, *expect: str) -> None:
    """The message names the file, the key path on the given line and the expectation."""
    msg = str(err)
    assert str(path) in msg, msg
    rows = [r for r in msg.splitlines() if f": {key}: " in r]
    assert rows, f"no problem reported for {key!r}:\n{msg}"
    if line is not None:
        assert any(f"{path}:{line}: {key}: " in r for r in rows), f"line {line} not given for {key!r}:\n{msg}"
    for text in expect:
        assert any(text in r for r in rows), f"{text!r} not in the report of {key!r}:\n{msg}"


def bad(tmp_path: Path, text: str) -> tuple[Path, ManifestError]:
    path = write(tmp_path, text)
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    return path, info.value


# ------------------------------------------------------------------ valid


def test_valid_manifest_builds_the_model(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    study = read_manifest(path)
    assert isinstance(study, Study)
    assert study.patient == Patient(id="ICU-0042", age_years=63.0, sex="M", height_cm=178.0)
    assert study.date == dt.date(2026, 3, 14)
    assert study.context == ClinicalContext(
        icu_day=9,
        sedated=True,
        oedema=("legs",),
        mrc_sum_score=36,
        handgrip_kg=8.5,
        biopsy="not done",
        neuromuscular_blockers=False,
    )
    assert study.schema_version == 1
    assert study.manifest_path is not None and study.manifest_path.is_absolute()
    assert study.manifest_path.samefile(path)
    assert [t.type for t in study.tests] == list(TestType)
    assert all(isinstance(t, TestSpec) and isinstance(t.type, TestType) for t in study.tests)
    assert isinstance(study.tests, tuple)

    motor = study.test("peroneal-motor-R")
    assert motor.nerve == "peroneal" and motor.muscle == "EDB" and motor.side == "R"
    assert motor.recording_site == "EDB belly" and motor.notes == "supramaximal"
    assert motor.temperature_c == 31.5
    assert motor.filters == FilterSettings(highpass_hz=2.0, lowpass_hz=10000.0, notch_hz=50.0)
    assert isinstance(motor.sites, tuple) and len(motor.sites) == 2
    ankle = motor.sites[0]
    assert isinstance(ankle, StimulationSite)
    assert (ankle.name, ankle.distance_mm, ankle.stimulated, ankle.intensity_ma, ankle.duration_ms) == (
        "ankle",
        90.0,
        "nerve",
        45.0,
        0.2,
    )
    assert ankle.data == DataRef(file=(tmp_path / "peroneal_R.edf").resolve(), channel="EDB", sweeps=(0,))
    assert ankle.data.file.is_absolute()
    assert motor.sites[1].distance_mm == 310.0 and motor.sites[1].data.sweeps == (1,)

    sural = study.test("sural-R").sites[0].data
    assert sural.file == (tmp_path / "data" / "sural_R.npy").resolve()
    assert sural.fs_hz == 20000.0 and sural.unit == "uV"
    assert sural.stimulus_s == (0.01, 0.51) and isinstance(sural.stimulus_s, tuple)
    assert sural.window_s == (0.0, 2.0) and isinstance(sural.window_s, tuple)
    assert sural.sweeps is None  # "all"

    rns = study.test("ulnar-rns-L")
    assert rns.rate_hz == 3.0 and rns.type is TestType.RNS
    dms = study.test("ta-dms-R")
    assert [s.stimulated for s in dms.sites] == ["nerve", "muscle"]
    needle = study.test("ta-rest-R")
    assert needle.type.is_needle and needle.nerve is None and needle.muscle == "TA"
    assert needle.sites[0].data.window_s == (0.0, 30.0)
    assert study.test("tibial-f-R").sites[0].data.channel is None
    assert study.test("tibial-f-R").notes == ""


def test_date_as_iso_string_and_minimal_manifest(tmp_path: Path) -> None:
    text = """\
schema_version = 1
[patient]
id = "P1"
[study]
date = "2026-03-15"
[[tests]]
id = "a"
type = "needle_rest"
muscle = "deltoid"
  [[tests.sites]]
  name = "p"
  file = "x.npy"
"""
    study = read_manifest(write(tmp_path, text))
    assert study.date == dt.date(2026, 3, 15)
    assert study.context == ClinicalContext()
    assert study.patient == Patient(id="P1")


def test_str_path_and_missing_data_files_are_accepted(tmp_path: Path) -> None:
    # the data files do not exist: read_manifest only validates the description
    path = write(tmp_path, VALID)
    study = read_manifest(str(path))
    assert not study.tests[0].sites[0].data.file.exists()


def test_symlink_inside_folder_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "real.edf").write_bytes(b"")
    os.symlink(tmp_path / "real.edf", tmp_path / "alias.edf")
    text = VALID.replace('file = "tibial_f.edf"', 'file = "alias.edf"')
    study = read_manifest(write(tmp_path, text))
    assert study.test("tibial-f-R").sites[0].data.file == (tmp_path / "real.edf").resolve()


# ------------------------------------------------------------------ bad cases


def test_missing_patient_id(tmp_path: Path) -> None:
    text = VALID.replace('id = "ICU-0042"\n', "")
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "patient.id", line_of(text, "[patient]"), "missing", "expected a string")


def test_missing_study_date(tmp_path: Path) -> None:
    text = VALID.replace("date = 2026-03-14\n", "")
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "study.date", line_of(text, "[study]"), "missing", "expected a date")


def test_wrong_type(tmp_path: Path) -> None:
    text = VALID.replace("age_years = 63", 'age_years = "old"')
    path, err = bad(tmp_path, text)
    assert_problem(
        err, path, "patient.age_years", line_of(text, "age_years"), 'expected a number >= 0 and <= 120, got the string "old"'
    )


def test_unknown_test_type(tmp_path: Path) -> None:
    text = VALID.replace('type = "sensory"', 'type = "emg"')
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "tests[1].type", line_of(text, '"emg"'), 'expected one of "motor"', '"emg"')


def test_negative_distance(tmp_path: Path) -> None:
    text = VALID.replace("distance_mm = 310", "distance_mm = -90")
    path, err = bad(tmp_path, text)
    assert_problem(
        err, path, "tests[0].sites[1].distance_mm", line_of(text, "-90"), "expected a number >= 0, got -90"
    )


def test_path_leaving_the_folder(tmp_path: Path) -> None:
    text = VALID.replace('file = "tibial_f.edf"', 'file = "../outside.edf"')
    path, err = bad(tmp_path, text)
    assert_problem(
        err, path, "tests[2].sites[0].file", line_of(text, "../outside.edf"), "inside the manifest folder", "../outside.edf"
    )


def test_absolute_path(tmp_path: Path) -> None:
    text = VALID.replace('file = "tibial_f.edf"', 'file = "/etc/passwd"')
    path, err = bad(tmp_path, text)
    assert_problem(
        err, path, "tests[2].sites[0].file", line_of(text, "/etc/passwd"), "expected a path relative", "/etc/passwd"
    )


def test_symlink_pointing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "secret.edf").write_bytes(b"")
    study_dir = tmp_path / "study"
    study_dir.mkdir()
    os.symlink(outside / "secret.edf", study_dir / "link.edf")
    text = VALID.replace('file = "tibial_f.edf"', 'file = "link.edf"')
    path, err = bad(study_dir, text)
    assert_problem(
        err, path, "tests[2].sites[0].file", line_of(text, "link.edf"), "inside the manifest folder", "symbolic link"
    )


def test_symlinked_folder_pointing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    study_dir = tmp_path / "study"
    study_dir.mkdir()
    os.symlink(outside, study_dir / "sub")
    text = VALID.replace('file = "tibial_f.edf"', 'file = "sub/x.edf"')
    path, err = bad(study_dir, text)
    assert_problem(err, path, "tests[2].sites[0].file", line_of(text, "sub/x.edf"), "inside the manifest folder")


def test_unknown_key_typo(tmp_path: Path) -> None:
    text = VALID.replace("distance_mm = 140", "distanse_mm = 140")
    path, err = bad(tmp_path, text)
    assert_problem(
        err, path, "tests[1].sites[0].distanse_mm", line_of(text, "distanse_mm"), 'unknown key "distanse_mm"', 'did you mean "distance_mm"'
    )


def test_unknown_key_in_inline_table(tmp_path: Path) -> None:
    text = VALID.replace("lowpass_hz = 10000", "lowpas_hz = 10000")
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "tests[0].filters.lowpas_hz", line_of(text, "lowpas_hz"), "unknown key", "lowpass_hz")


def test_duplicate_test_id(tmp_path: Path) -> None:
    text = VALID.replace('id = "ta-max-R"', 'id = "ta-rest-R"')
    path, err = bad(tmp_path, text)
    first = line_of(text, 'id = "ta-rest-R"', 1)
    second = line_of(text, 'id = "ta-rest-R"', 2)
    assert_problem(err, path, "tests[7].id", second, 'duplicate test id "ta-rest-R"', f"line {first}")


def test_dms_without_muscle_site(tmp_path: Path) -> None:
    text = VALID.replace('stimulated = "muscle"', 'stimulated = "nerve"')
    path, err = bad(tmp_path, text)
    # the report points at the test's first [[tests.sites]] header
    header = line_of(text, 'name = "fibular head"', 2) - 1
    assert_problem(err, path, "tests[4].sites", header, "exactly one site", '"muscle"', "0 muscle")


def test_muscle_stimulation_outside_dms(tmp_path: Path) -> None:
    text = VALID.replace('  stimulated = "nerve"\n  intensity_ma = 45', '  stimulated = "muscle"\n  intensity_ma = 45')
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "tests[0].sites[0].stimulated", line_of(text, 'stimulated = "muscle"'), "dms")


def test_multisite_motor_missing_distance(tmp_path: Path) -> None:
    text = VALID.replace("  distance_mm = 310\n", "")
    path, err = bad(tmp_path, text)
    header = line_of(text, 'name = "fibular head"', 1) - 1
    assert_problem(
        err, path, "tests[0].sites[1].distance_mm", header, "missing", "motor", "expected a number >= 0"
    )


def test_multisite_motor_zero_segment_length(tmp_path: Path) -> None:
    # a 0 mm segment gave no conduction velocity and no message (review4)
    text = VALID.replace("distance_mm = 310", "distance_mm = 0")
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "tests[0].sites[1].distance_mm", line_of(text, "distance_mm = 0"), "segment length > 0 mm")


def test_rns_without_rate(tmp_path: Path) -> None:
    text = VALID.replace("rate_hz = 3\n", "")
    path, err = bad(tmp_path, text)
    header = line_of(text, 'id = "ulnar-rns-L"') - 1
    assert_problem(err, path, "tests[3].rate_hz", header, "missing", "rns", "expected a number > 0 and <= 50")


def test_rate_outside_rns(tmp_path: Path) -> None:
    text = VALID.replace('nerve = "sural"', 'nerve = "sural"\nrate_hz = 3')
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "tests[1].rate_hz", line_of(text, "rate_hz = 3", 1), "only to rns")


def test_newer_schema_version(tmp_path: Path) -> None:
    text = VALID.replace("schema_version = 1", "schema_version = 2")
    path, err = bad(tmp_path, text)
    msg = str(err)
    assert f"{path}:1:" in msg and "schema_version" in msg
    assert "written for edx schema version 2; this edx reads 1" in msg


def test_schema_version_missing_or_wrong(tmp_path: Path) -> None:
    path, err = bad(tmp_path, VALID.replace("schema_version = 1\n", ""))
    assert_problem(err, path, "schema_version", None, "missing", "expected 1")
    path, err = bad(tmp_path, VALID.replace("schema_version = 1", 'schema_version = "1"'))
    assert_problem(err, path, "schema_version", 1, "expected 1")


def test_toml_syntax_error_reports_line(tmp_path: Path) -> None:
    text = VALID.replace('sex = "M"', 'sex = "M')
    path, err = bad(tmp_path, text)
    msg = str(err)
    line = line_of(text, 'sex = "M')
    assert f"{path}:{line}: TOML syntax error" in msg, msg
    assert f"line {line}" in msg


def test_syntax_error_at_end_of_file(tmp_path: Path) -> None:
    path, err = bad(tmp_path, VALID + "[[tests]\n")
    assert "TOML syntax error" in str(err) and str(path) in str(err)


def test_binary_garbage(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "garbage.toml"
    path.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ManifestError, match=re.escape(str(path))) as info:
        read_manifest(path)
    assert "UTF-8" in str(info.value) or "binary" in str(info.value)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes(VALID.replace("not done", "négatif").encode("latin-1"))
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    msg = str(info.value)
    assert f"{path}:{line_of(VALID, 'biopsy')}:" in msg and "UTF-8" in msg


def test_missing_manifest(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(MissingFileError, match="nope.toml"):
        read_manifest(path)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="folder"):
        read_manifest(tmp_path)


def test_other_value_problems(tmp_path: Path) -> None:
    text = (
        VALID.replace("temperature_c = 31.5", "temperature_c = nan")
        .replace("highpass_hz = 2,", "highpass_hz = 20000,")
        .replace("window_s = [0.0, 2.0]", "window_s = [2.0, 1.0]")
        .replace('unit = "uV"', 'unit = "MV"', 1)
        .replace("sweeps = [1]", "sweeps = [1, 1]")
        .replace("date = 2026-03-14", 'date = "2026-02-30"')
        .replace('name = "distal TA"', 'name = "fibular head"')
    )
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "tests[0].temperature_c", line_of(text, "temperature_c"), "finite number", "nan")
    assert_problem(err, path, "tests[0].filters.highpass_hz", line_of(text, "highpass_hz"), "below lowpass_hz")
    assert_problem(err, path, "tests[1].sites[0].window_s", line_of(text, "window_s = [2.0"), "end > start")
    assert_problem(err, path, "tests[1].sites[0].unit", line_of(text, '"MV"'), "voltage unit")
    assert_problem(err, path, "tests[0].sites[1].sweeps", line_of(text, "sweeps = [1, 1]"), "at most once")
    assert_problem(err, path, "study.date", line_of(text, "2026-02-30"), "calendar date")
    assert_problem(err, path, "tests[4].sites[1].name", line_of(text, 'name = "fibular head"', 3), "duplicate site name")


def test_toml_date_where_a_string_is_expected(tmp_path: Path) -> None:
    text = VALID.replace('biopsy = "not done"', "biopsy = 2026-03-01")
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "study.biopsy", line_of(text, "biopsy"), "expected a string, got the date 2026-03-01")


def test_path_with_nul_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError):
        read_manifest(str(tmp_path / "a\x00b.toml"))


def test_several_errors_reported_at_once_sorted_by_line(tmp_path: Path) -> None:
    text = (
        VALID.replace("age_years = 63", 'age_years = "old"')
        .replace('type = "sensory"', 'type = "emg"')
        .replace("distance_mm = 310", "distance_mm = -90")
        .replace("distance_mm = 140", "distanse_mm = 140")
        .replace("rate_hz = 3\n", "")
        .replace('id = "ta-max-R"', 'id = "ta-rest-R"')
    )
    path, err = bad(tmp_path, text)
    msg = str(err)
    keys = [
        "patient.age_years",
        "tests[0].sites[1].distance_mm",
        "tests[1].type",
        "tests[1].sites[0].distanse_mm",
        "tests[3].rate_hz",
        "tests[7].id",
    ]
    for key in keys:
        assert f": {key}: " in msg, msg
    assert msg.splitlines()[0] == f"invalid study manifest {path} (6 problems):"
    reported = [int(m.group(1)) for m in re.finditer(re.escape(str(path)) + r":(\d+): ", msg)]
    assert len(reported) == 6 and reported == sorted(reported)
    assert [p[1] for p in err.problems] == keys  # type: ignore[attr-defined]


def test_errors_from_inline_site_tables(tmp_path: Path) -> None:
    text = """\
schema_version = 1
patient = { id = "P1" }
study = { date = 2026-01-02 }
tests = [
  { id = "a", type = "needle_rest", muscle = "TA", sites = [
      { name = "p1", file = "a.npy" },
      { name = "p2", file = "b.npy", window_s = [1] },
  ] },
]
"""
    path, err = bad(tmp_path, text)
    assert_problem(err, path, "tests[0].sites[1].window_s", 7, "an array of 2 numbers >= 0")


# ------------------------------------------------------------------ schema


def test_schema_is_valid_json_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = manifest_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "changed"
    assert manifest_schema()["title"] != "changed"  # a copy


def _jsonable(value: object) -> object:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return value


def test_example_manifest_validates() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    example = files("edx").joinpath("data/example_manifest.toml")
    doc = tomllib.loads(example.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(manifest_schema()).validate(_jsonable(doc))
    with as_file(example) as path:
        study = read_manifest(path)
    assert {t.type for t in study.tests} == set(TestType)


def test_example_manifest_comments_every_key() -> None:
    text = files("edx").joinpath("data/example_manifest.toml").read_text(encoding="utf-8")
    commented = {m.group(1) for m in re.finditer(r"(?m)^\s*([A-Za-z_]+)\s*=.*#", text)}
    schema = manifest_schema()
    keys = set(schema["properties"])
    for name in ("patient", "study", "test", "site"):
        keys |= set(schema["$defs"][name]["properties"])
    keys -= {"patient", "study", "tests", "sites"}  # table headers, not key = value lines
    assert keys <= commented, f"keys without a comment in the example: {sorted(keys - commented)}"
    # the filter corners are shown in the (commented) inline table
    filters_line = next(line for line in text.splitlines() if line.startswith("filters ="))
    assert "#" in filters_line
    for key in schema["$defs"]["filters"]["properties"]:
        assert key in filters_line


# ------------------------------------------------------------------ series


def _day(pid: str, date: str, icu_day: int | None) -> str:
    day = f"icu_day = {icu_day}\n" if icu_day is not None else ""
    return f"""\
schema_version = 1
[patient]
id = "{pid}"
[study]
date = {date}
{day}[[tests]]
id = "rest"
type = "needle_rest"
muscle = "TA"
  [[tests.sites]]
  name = "p1"
  file = "rest.npy"
"""


def test_read_series_sorts_by_date_and_day(tmp_path: Path) -> None:
    write(tmp_path, _day("P7", "2026-03-20", 15), "a.toml")
    write(tmp_path, _day("P7", "2026-03-14", 9), "b.toml")
    write(tmp_path, _day("P7", "2026-03-16", 11), "c.toml")
    (tmp_path / "notes.txt").write_text("not a manifest")
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", _day("OTHER", "2026-01-01", 1), "x.toml")  # not searched
    series = read_series(tmp_path)
    assert [s.date for s in series] == [dt.date(2026, 3, 14), dt.date(2026, 3, 16), dt.date(2026, 3, 20)]
    assert [s.context.icu_day for s in series] == [9, 11, 15]
    assert [s.manifest_path.name for s in series if s.manifest_path] == ["b.toml", "c.toml", "a.toml"]


def test_read_series_same_date_sorted_by_icu_day(tmp_path: Path) -> None:
    write(tmp_path, _day("P7", "2026-03-14", 10), "a.toml")
    write(tmp_path, _day("P7", "2026-03-14", 9), "b.toml")
    assert [s.context.icu_day for s in read_series(str(tmp_path))] == [9, 10]


def test_read_series_mixed_patients(tmp_path: Path) -> None:
    write(tmp_path, _day("P7", "2026-03-14", 9), "a.toml")
    write(tmp_path, _day("P8", "2026-03-15", 10), "b.toml")
    with pytest.raises(ManifestError) as info:
        read_series(tmp_path)
    msg = str(info.value)
    for text in ('"P7" in a.toml', '"P8" in b.toml', str(tmp_path)):
        assert text in msg


def test_read_series_duplicate_day(tmp_path: Path) -> None:
    write(tmp_path, _day("P7", "2026-03-14", 9), "a.toml")
    write(tmp_path, _day("P7", "2026-03-14", 9), "b.toml")
    with pytest.raises(ManifestError, match=r"a\.toml and b\.toml both describe 2026-03-14"):
        read_series(tmp_path)


def test_read_series_empty_and_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no \\*.toml"):
        read_series(tmp_path)
    with pytest.raises(MissingFileError):
        read_series(tmp_path / "absent")


def test_read_series_reports_invalid_manifests(tmp_path: Path) -> None:
    write(tmp_path, _day("P7", "2026-03-14", 9), "a.toml")
    write(tmp_path, _day("P7", "2026-03-15", 0), "b.toml")
    with pytest.raises(ManifestError, match=r"b\.toml:6: study\.icu_day"):
        read_series(tmp_path)


# ------------------------------------------------------------------ load_site


def _needle_manifest(extra: str = "", file: str = "needle.npy") -> str:
    return f"""\
schema_version = 1
[patient]
id = "P1"
[study]
date = 2026-03-14
[[tests]]
id = "ta-rest"
type = "needle_rest"
muscle = "TA"
  [[tests.sites]]
  name = "pos1"
  file = "{file}"
  fs_hz = 10000
  unit = "uV"
{extra}"""


def test_load_site_needle_npy_in_volts(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    samples_uv = rng.normal(0.0, 20.0, 50_000)  # 5 s at 10 kHz, in microvolts
    np.save(tmp_path / "needle.npy", samples_uv)
    study = read_manifest(write(tmp_path, _needle_manifest()))
    rec = load_site(study, "ta-rest")
    assert isinstance(rec, Recording)
    (trace,) = rec.traces
    assert trace.fs_hz == 10000.0 and trace.unit == "V"
    np.testing.assert_allclose(trace.samples_v, samples_uv * 1e-6)
    assert rec.stimuli == ()  # no artifact detection on needle data
    assert load_site(study, "ta-rest", "pos1").traces[0].n_samples == 50_000


def test_load_site_needle_window(tmp_path: Path) -> None:
    samples_uv = np.arange(50_000, dtype=float)
    np.save(tmp_path / "needle.npy", samples_uv)
    study = read_manifest(write(tmp_path, _needle_manifest("  window_s = [1.0, 2.5]\n")))
    rec = load_site(study, "ta-rest")
    assert isinstance(rec, Recording)
    (trace,) = rec.traces
    assert trace.start_s == pytest.approx(1.0)
    assert trace.n_samples == 15_000
    np.testing.assert_allclose(trace.samples_v, samples_uv[10_000:25_000] * 1e-6)


def test_load_site_needle_window_outside_data(tmp_path: Path) -> None:
    np.save(tmp_path / "needle.npy", np.zeros(50_000))
    study = read_manifest(write(tmp_path, _needle_manifest("  window_s = [4.0, 30.0]\n")))
    with pytest.raises(ManifestError, match=r"window_s \[4, 30\] s lies outside the data"):
        load_site(study, "ta-rest")


def test_load_site_missing_data_file(tmp_path: Path) -> None:
    study = read_manifest(write(tmp_path, _needle_manifest()))
    with pytest.raises(edx.MissingFileError, match="needle.npy"):
        load_site(study, "ta-rest")


def test_load_site_several_channels_need_channel(tmp_path: Path) -> None:
    np.save(tmp_path / "needle.npy", np.zeros((2, 1000)))
    study = read_manifest(write(tmp_path, _needle_manifest()))
    with pytest.raises(ManifestError, match=r"2 voltage channels .*channel ="):
        load_site(study, "ta-rest")
    study = read_manifest(write(tmp_path, _needle_manifest('  channel = "ch1"\n')))
    rec = load_site(study, "ta-rest")
    assert isinstance(rec, Recording) and rec.channels == ("ch1",)


def test_load_site_unknown_test_or_site(tmp_path: Path) -> None:
    study = read_manifest(write(tmp_path, _needle_manifest()))
    with pytest.raises(ManifestError, match="no test with id 'nope'"):
        load_site(study, "nope")
    with pytest.raises(ManifestError, match="no site 'elbow'"):
        load_site(study, "ta-rest", "elbow")
    with pytest.raises(ManifestError, match="site number 3"):
        load_site(study, "ta-rest", 3)


def _motor_manifest(file: str, extra0: str = "", extra1: str = "") -> str:
    return f"""\
schema_version = 1
[patient]
id = "P1"
[study]
date = 2026-03-14
[[tests]]
id = "median-motor"
type = "motor"
nerve = "median"
muscle = "APB"
filters = {{ highpass_hz = 2, lowpass_hz = 10000 }}
  [[tests.sites]]
  name = "wrist"
  distance_mm = 70
  intensity_ma = 30
  file = "{file}"
  channel = "APB"
{extra0}  [[tests.sites]]
  name = "elbow"
  distance_mm = 230
  file = "{file}"
  channel = "APB"
{extra1}"""


def _write_edf_sweeps(path: Path, n_sweeps: int, fs: float = 10000.0) -> np.ndarray:
    """An EDF+D file with one 50 ms record (sweep) per stimulus; returns samples in V."""
    edf_write = pytest.importorskip("edx.io.edf_write")
    n = int(0.05 * fs)
    t = np.arange(n) / fs
    sweeps = np.stack([-(k + 1) * 1e-3 * np.exp(-(((t - 0.01) / 0.002) ** 2)) for k in range(n_sweeps)])
    edf_write.write_edf(
        path,
        [edf_write.EdfChannel("APB", fs, sweeps.reshape(-1), unit="uV")],
        record_duration_s=0.05,
        record_onsets_s=[k * 1.0 for k in range(n_sweeps)],
        annotations=[(k * 1.0 + 0.005, None, "Stim") for k in range(n_sweeps)],
    )
    return sweeps


def test_load_site_stored_sweeps(tmp_path: Path) -> None:
    sweeps = _write_edf_sweeps(tmp_path / "median.edf", 3)
    study = read_manifest(write(tmp_path, _motor_manifest("median.edf", "  sweeps = [2]\n")))
    resp = load_site(study, "median-motor", "wrist")
    assert isinstance(resp, Response)
    assert (resp.test_id, resp.site, resp.distance_mm, resp.stimulated) == ("median-motor", "wrist", 70.0, "nerve")
    (sw,) = resp.sweeps
    assert sw.index == 2 and sw.channel == "APB"
    np.testing.assert_allclose(sw.samples_v, sweeps[2], atol=2e-6)
    assert sw.stimulus_indices == (50,)
    assert sw.intensity_ma == 30.0  # from the manifest
    assert sw.filters == FilterSettings(highpass_hz=2.0, lowpass_hz=10000.0)  # manifest overrides
    resp = load_site(study, "median-motor", 1)
    assert isinstance(resp, Response) and len(resp.sweeps) == 3 and resp.distance_mm == 230.0


def test_load_site_sweep_out_of_range(tmp_path: Path) -> None:
    _write_edf_sweeps(tmp_path / "median.edf", 3)
    study = read_manifest(write(tmp_path, _motor_manifest("median.edf", "  sweeps = [0, 5]\n")))
    with pytest.raises(ManifestError) as info:
        load_site(study, "median-motor", "wrist")
    msg = str(info.value)
    for text in ("median-motor", "wrist", "[5]", "3 sweep(s)"):
        assert text in msg, msg


def _continuous_npy(path: Path, stim_s: list[float], fs: float = 10000.0, dur_s: float = 3.0) -> np.ndarray:
    """A continuous recording (µV) with a CMAP 5 ms after each stimulus."""
    t = np.arange(int(dur_s * fs)) / fs
    x = np.zeros_like(t)
    for s in stim_s:
        x += -5000.0 * np.exp(-(((t - s - 0.008) / 0.002) ** 2))
    np.save(path, x)
    return x


def test_load_site_cuts_sweeps_from_continuous_data(tmp_path: Path) -> None:
    pytest.importorskip("edx.io.sweeps")
    stim = [0.5, 1.0, 1.5, 2.0]
    _continuous_npy(tmp_path / "cont.npy", stim)
    extra = f"  fs_hz = 10000\n  unit = \"uV\"\n  stimulus_s = {stim}\n"
    text = _motor_manifest("cont.npy", extra, extra).replace('  channel = "APB"\n', "")
    study = read_manifest(write(tmp_path, text))
    resp = load_site(study, "median-motor", "wrist")
    assert isinstance(resp, Response) and len(resp.sweeps) == 4
    for sw, s in zip(resp.sweeps, stim):
        assert sw.n_samples == 500  # 5 ms + 45 ms at 10 kHz
        assert sw.stimulus_index == 50
        assert sw.start_s == pytest.approx(s - 0.005)
        assert sw.stimulus_source == "manifest"


def test_load_site_rns_is_one_sweep(tmp_path: Path) -> None:
    stim = [0.5 + k / 3 for k in range(5)]
    x = _continuous_npy(tmp_path / "rns.npy", stim, dur_s=3.0)
    text = f"""\
schema_version = 1
[patient]
id = "P1"
[study]
date = 2026-03-14
[[tests]]
id = "rns"
type = "rns"
nerve = "ulnar"
rate_hz = 3
  [[tests.sites]]
  name = "wrist"
  file = "rns.npy"
  fs_hz = 10000
  unit = "uV"
  stimulus_s = {stim}
"""
    study = read_manifest(write(tmp_path, text))
    resp = load_site(study, "rns")
    assert isinstance(resp, Response)
    (sw,) = resp.sweeps
    i0 = round((stim[0] - 0.005) * 10000)
    assert sw.start_s == pytest.approx(i0 / 10000)
    assert sw.stimulus_indices == tuple(round(s * 10000) - i0 for s in stim)
    assert sw.duration_s == pytest.approx(stim[-1] + 0.3 - stim[0] + 0.005, abs=2e-4)
    np.testing.assert_allclose(sw.samples_v, x[i0 : i0 + sw.n_samples] * 1e-6)


# ------------------------------------------------------------------ fuzz

_VALID_BYTES = VALID.encode("utf-8")

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(_VALID_BYTES) - 1), st.integers(1, 255)),
    st.tuples(st.just("truncate"), st.integers(0, len(_VALID_BYTES)), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, len(_VALID_BYTES)), st.binary(min_size=1, max_size=12)),
    st.tuples(
        st.just("line"),
        st.integers(0, VALID.count("\n")),
        st.sampled_from(
            [
                b"[[tests]]",
                b"[[tests.sites]]",
                b"[patient]",
                b"x = 1",
                b'file = "../a.edf"',
                b"distance_mm = -1",
                b"sweeps = 'all'",
                b"date = 2026-13-01",
                b"age_years = 1e999",
                b"icu_day = 99999999999999999999999999999999999",
                b"a = [[[[[[[[[[[[1]]]]]]]]]]]]",
                b'"quoted key" = 1',
                b"tests = 3",
                b"]]",
            ]
        ),
    ),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, object]]) -> bytes:
    out = bytearray(data)
    for kind, pos, arg in mutations:
        pos = min(pos, len(out))
        if kind == "flip" and pos < len(out):
            out[pos] ^= int(arg)  # type: ignore[arg-type]
        elif kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = arg  # type: ignore[assignment]
        elif kind == "line":
            lines = bytes(out).split(b"\n")
            lines.insert(min(pos, len(lines)), arg)  # type: ignore[arg-type]
            out = bytearray(b"\n".join(lines))
    return bytes(out)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_mutation, min_size=1, max_size=4))
def test_fuzz_mutated_manifest_raises_only_edx_errors(tmp_path: Path, mutations: list[tuple[str, int, object]]) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(_mutate(_VALID_BYTES, mutations))
    try:
        study = read_manifest(path)
    except EdxError as exc:
        assert str(exc)
    else:
        assert isinstance(study, Study)
