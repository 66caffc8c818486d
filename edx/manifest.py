"""Study manifests: TOML files that say what each recording is.

A manifest lies beside its recordings and names, for every test of a study, the
file, channel and sweeps that hold it, the nerve or muscle, the stimulation sites
with their distances, and the clinical context (see ``edx/data/example_manifest.toml``
for a documented example and ``edx/data/manifest.schema.json`` for the JSON Schema).

* :func:`read_manifest` reads and validates one manifest into a :class:`edx.model.Study`;
* :func:`read_series` reads a folder of daily manifests of one patient;
* :func:`load_site` loads the samples of one site of a test;
* :func:`manifest_schema` returns the JSON Schema (for editors and other tools).

Every problem in a manifest becomes one :class:`edx.errors.ManifestError` whose
message has one line per problem, in the form ``FILE:LINE: KEY.PATH: what is
expected, got what``, sorted by line.  The structured list is also available as the
exception's ``problems`` attribute (``(line, key_path, text)`` tuples).

``import edx.manifest`` stays cheap: jsonschema and the loaders are imported inside
the functions that need them.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as _dt
import difflib
import functools
import json
import logging
import math
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ManifestError, MissingFileError, UnitError
from .model import (
    ClinicalContext,
    DataRef,
    FilterSettings,
    Patient,
    Recording,
    Response,
    StimulationSite,
    Stimulus,
    Study,
    Sweep,
    TestSpec,
    TestType,
    Trace,
)

if TYPE_CHECKING:  # pragma: no cover
    from jsonschema import ValidationError

__all__ = ["read_manifest", "read_series", "load_site", "manifest_schema", "SCHEMA_VERSION"]

log = logging.getLogger(__name__)

#: The manifest schema version this edx reads.
SCHEMA_VERSION = 1

_SCHEMA_RESOURCE = "data/manifest.schema.json"

#: Sweep windows (pre, post) in seconds around each stimulus, by test type.  F waves
#: of the lower limbs arrive near 56 ms, hence the long post-stimulus window.
_SWEEP_WINDOWS: dict[TestType, tuple[float, float]] = {
    TestType.MOTOR: (0.005, 0.045),
    TestType.DMS: (0.005, 0.045),
    TestType.SENSORY: (0.002, 0.018),
    TestType.F_WAVE: (0.005, 0.080),
}
#: A repetitive-stimulation train is one sweep from shortly before its first stimulus
#: to well after its last one.
_RNS_PRE_S = 0.005
_RNS_POST_S = 0.300

# Largest magnitude accepted for a TOML integer (so it converts to a finite float).
_MAX_NUMBER = 1e300


# --------------------------------------------------------------------------- schema


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    from importlib.resources import files

    return files("edx").joinpath(_SCHEMA_RESOURCE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_schema_text())
    return schema


def manifest_schema() -> dict[str, Any]:
    """Return the JSON Schema (Draft 2020-12) of study manifests.

    TOML dates appear in it as ISO 8601 strings (``YYYY-MM-DD``): a validator other
    than edx's must convert TOML dates to such strings first.  Some rules cannot be
    written in JSON Schema and are checked only by :func:`read_manifest` (unique
    test ids, the two sites of a DMS test, segment distances of multi-site motor
    tests, ``window_s`` end after start, paths confined to the manifest folder).

    Returns
    -------
    dict
        A fresh copy of the schema; changing it does not affect edx.
    """
    return copy.deepcopy(_schema())


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(_schema())


# ------------------------------------------------------------------ problems/report


class _Problem(NamedTuple):
    line: int | None
    path: tuple[str | int, ...]
    text: str


def _format_path(path: Sequence[str | int]) -> str:
    """``("tests", 2, "sites", 0, "distance_mm")`` -> ``tests[2].sites[0].distance_mm``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part, ensure_ascii=False)
            out += ("." if out else "") + name
    return out or "(top level)"


def _raise_problems(source: Path, problems: Iterable[_Problem]) -> None:
    """Raise one :class:`ManifestError` listing ``problems`` sorted by line."""
    unique = sorted(set(problems), key=lambda p: (p.line or 0, _format_path(p.path), p.text))
    if not unique:
        return
    lines = []
    for p in unique:
        where = f"{source}:{p.line}" if p.line is not None else f"{source}"
        lines.append(f"  {where}: {_format_path(p.path)}: {p.text}")
    n = len(unique)
    head = f"invalid study manifest {source} ({n} problem{'s' if n != 1 else ''}):"
    err = ManifestError("\n".join([head, *lines]))
    err.problems = [(p.line, _format_path(p.path), p.text) for p in unique]  # type: ignore[attr-defined]
    raise err


class _TomlDate(str):
    """ISO string that was a TOML date (or date-time/time) in the file."""

    __slots__ = ()


def _q(text: str) -> str:
    """Quote ``text`` as TOML (and JSON) would."""
    return json.dumps(text, ensure_ascii=False)


def _show(value: Any) -> str:
    """Render a manifest value for a message, in TOML spelling."""
    if isinstance(value, _TomlDate):
        kind = "date" if ":" not in value else ("date-time" if "-" in value else "time")
        return f"the {kind} {value}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return "the string " + json.dumps(text, ensure_ascii=False)
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        text = json.dumps(value, default=str, ensure_ascii=False)
        return "the array " + (text if len(text) <= 60 else text[:57] + "...")
    return repr(value)  # pragma: no cover - tomllib produces nothing else


# Friendly words for the schema's patterns.
_PATTERN_WORDS = {
    "^[A-Za-z0-9_.-]+$": "a string of letters, digits, '_', '.' or '-' (no spaces)",
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}$": "a date (TOML date 2026-03-14 or the string \"2026-03-14\")",
}
_TYPE_WORDS = {
    "string": ("a string", "strings"),
    "integer": ("an integer", "integers"),
    "number": ("a number", "numbers"),
    "boolean": ("true or false", "booleans"),
    "array": ("an array", "arrays"),
    "object": ("a table", "tables"),
}


def _resolve_ref(schema: Any) -> Any:
    """Follow local ``$ref`` chains (``#/$defs/...``) of the shipped schema."""
    root = _schema()
    seen = 0
    while isinstance(schema, dict) and "$ref" in schema and seen < 10:
        ref = schema["$ref"]
        node: Any = root
        if isinstance(ref, str) and ref.startswith("#/"):
            for part in ref[2:].split("/"):
                node = node.get(part, {}) if isinstance(node, dict) else {}
        schema = node
        seen += 1
    return schema


def _toml_literal(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _expect(schema: Any, plural: bool = False) -> str:
    """Describe in words what a (sub)schema accepts."""
    schema = _resolve_ref(schema)
    if schema is False:
        return "nothing (the key is not allowed here)"
    if not isinstance(schema, dict) or not schema:
        return "any value"
    if "const" in schema:
        return _toml_literal(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(_toml_literal(v) for v in schema["enum"])
    if "anyOf" in schema:
        return " or ".join(_expect(s, plural) for s in schema["anyOf"])
    pattern = schema.get("pattern")
    if pattern in _PATTERN_WORDS:
        return _PATTERN_WORDS[pattern]
    kind = schema.get("type")
    one, many = _TYPE_WORDS.get(kind, ("a value", "values")) if isinstance(kind, str) else ("a value", "values")
    words = many if plural else one
    if kind == "string" and schema.get("minLength") == 1:
        words = "non-empty strings" if plural else "a non-empty string"
    bounds = []
    for key, op in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in schema:
            bounds.append(f"{op} {schema[key]:g}")
    if bounds:
        words += " " + " and ".join(bounds)
    if kind == "array":
        items = schema.get("items")
        lo, hi = schema.get("minItems"), schema.get("maxItems")
        if lo is not None and lo == hi:
            words = f"an array of {lo}"
            words += f" {_expect(items, plural=True)}" if items is not None else " values"
        else:
            if items is not None:
                words += f" of {_expect(items, plural=True)}"
            if lo:
                words = f"{words} with at least {lo} element{'s' if lo != 1 else ''}"
        if schema.get("uniqueItems"):
            words += ", each at most once"
    return words


def _property_schema(parent: Any, key: str) -> Any:
    parent = _resolve_ref(parent)
    if isinstance(parent, dict):
        return parent.get("properties", {}).get(key)
    return None


def _schema_problems(errors: Iterable[ValidationError], lines: _LineIndex) -> list[_Problem]:
    """Turn jsonschema errors into problems with key paths, lines and expectations."""
    out: list[_Problem] = []
    for err in errors:
        path = tuple(err.absolute_path)
        kind = err.validator
        if kind == "required":
            instance = err.instance if isinstance(err.instance, dict) else {}
            # the reason of a conditional requirement is the description of its "then"
            conditional = isinstance(err.schema, dict) and "type" not in err.schema
            reason = err.schema.get("description") if conditional else None
            for key in err.validator_value:
                if key in instance:
                    continue
                full = (*path, key)
                parent_schema = _parent_schema_for(path)
                what = _expect(_property_schema(parent_schema, key))
                text = f"missing key{' (' + reason + ')' if reason else ''}; expected {what}"
                prop = _resolve_ref(_property_schema(parent_schema, key))
                if not path and isinstance(prop, dict) and prop.get("type") == "object":
                    text = f"missing: expected a [{key}] table"
                if key == "tests" and not path:
                    text = "missing: expected at least one [[tests]] table"
                elif key == "sites":
                    text = "missing: expected at least one [[tests.sites]] table"
                out.append(_Problem(lines.line_of(full), full, text))
        elif kind == "additionalProperties":
            instance = err.instance if isinstance(err.instance, dict) else {}
            allowed = list(err.schema.get("properties", {})) if isinstance(err.schema, dict) else []
            for key in instance:
                if key in allowed:
                    continue
                full = (*path, key)
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean {_q(close[0])}? " if close else ""
                text = f"unknown key {_q(key)}; {hint}allowed here: {', '.join(allowed)}"
                out.append(_Problem(lines.line_of(full), full, text))
        elif kind == "minItems" and path and path[-1] in ("tests", "sites") and not err.instance:
            table = "[[tests]]" if path[-1] == "tests" else "[[tests.sites]]"
            out.append(_Problem(lines.line_of(path), path, f"expected at least one {table} table, got an empty array"))
        elif kind in (
            "type",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "enum",
            "const",
            "pattern",
            "minLength",
            "minItems",
            "maxItems",
            "uniqueItems",
            "anyOf",
        ):
            out.append(_Problem(lines.line_of(path), path, f"expected {_expect(err.schema)}, got {_show(err.instance)}"))
        else:  # pragma: no cover - every keyword of the shipped schema is handled above
            out.append(_Problem(lines.line_of(path), path, err.message))
    return out


def _parent_schema_for(path: Sequence[str | int]) -> Any:
    """The schema of the object at ``path`` (following properties and items)."""
    node: Any = _schema()
    for part in path:
        node = _resolve_ref(node)
        if not isinstance(node, dict):
            return None
        if isinstance(part, int):
            node = node.get("items")
        else:
            node = node.get("properties", {}).get(part)
    return _resolve_ref(node)


# ------------------------------------------------------------------ line numbers


class _LineIndex:
    """Best-effort map from key paths to the line of a (syntactically valid) TOML text.

    Follows ``[table]`` and ``[[array.of.tables]]`` headers (counting the elements
    of each array of tables), dotted keys, inline tables and arrays, so that
    ``("tests", 2, "sites", 0, "distance_mm")`` finds the line where that key is
    written.  A key that is absent falls back to the line of the nearest enclosing
    table or key.  Any surprise in the text ends the scan: what was indexed so far
    is kept.
    """

    _BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.lines: dict[tuple[str | int, ...], int] = {}
        self._aot: dict[tuple[str | int, ...], int] = {}
        try:
            self._scan()
        except Exception:  # noqa: BLE001 - line numbers are best effort
            log.debug("line index stopped at line %d", self.line, exc_info=True)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path`` or of its nearest indexed ancestor (None if none)."""
        p = tuple(path)
        for k in range(len(p), 0, -1):
            hit = self.lines.get(p[:k])
            if hit is not None:
                return hit
        return None

    # -- scanner
    def _peek(self, k: int = 0) -> str:
        j = self.i + k
        return self.text[j] if j < len(self.text) else ""

    def _skip_ws(self) -> None:
        while self._peek() in (" ", "\t", "\r") and self._peek():
            self.i += 1

    def _skip_blank(self) -> None:
        while True:
            self._skip_ws()
            c = self._peek()
            if c == "#":
                end = self.text.find("\n", self.i)
                self.i = len(self.text) if end < 0 else end
            elif c == "\n":
                self.i += 1
                self.line += 1
            else:
                return

    def _string(self) -> str:
        """Consume a string of any kind at ``i`` and return its raw text."""
        t, start = self.text, self.i
        if t.startswith('"""', start) or t.startswith("'''", start):
            quote = t[start : start + 3]
            j = start + 3
            while True:
                if j >= len(t):
                    raise ValueError("unterminated string")
                if quote == '"""' and t[j] == "\\":
                    j += 2
                    continue
                if t.startswith(quote, j):
                    j += 3
                    extra = 0
                    while extra < 2 and j < len(t) and t[j] == quote[0]:
                        j += 1
                        extra += 1
                    break
                j += 1
            self.line += t.count("\n", start, j)
        elif t[start] == '"':
            j = start + 1
            while t[j] != '"':
                j += 2 if t[j] == "\\" else 1
            j += 1
        else:
            j = t.index("'", start + 1) + 1
        self.i = j
        return t[start:j]

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip_ws()
            c = self._peek()
            if c in ('"', "'"):
                raw = self._string()
                parts.append(tomllib.loads(f"k = {raw}")["k"])
            else:
                start = self.i
                while self._peek() and self._peek() in self._BARE:
                    self.i += 1
                if self.i == start:
                    raise ValueError(f"no key at line {self.line}")
                parts.append(self.text[start : self.i])
            self._skip_ws()
            if self._peek() != ".":
                return tuple(parts)
            self.i += 1

    def _record_key(self, base: tuple[str | int, ...], key: tuple[str, ...]) -> tuple[str | int, ...]:
        for k in range(1, len(key)):
            self.lines.setdefault((*base, *key[:k]), self.line)
        full = (*base, *key)
        self.lines[full] = self.line
        return full

    def _value(self, path: tuple[str | int, ...]) -> None:
        c = self._peek()
        if c in ('"', "'"):
            self._string()
        elif c == "[":
            self.i += 1
            idx = 0
            while True:
                self._skip_blank()
                if self._peek() == "]":
                    self.i += 1
                    return
                if not self._peek():
                    raise ValueError("unterminated array")
                self.lines.setdefault((*path, idx), self.line)
                self._value((*path, idx))
                self._skip_blank()
                if self._peek() == ",":
                    self.i += 1
                    idx += 1
        elif c == "{":
            self.i += 1
            while True:
                self._skip_blank()
                c = self._peek()
                if c == "}":
                    self.i += 1
                    return
                if c == ",":
                    self.i += 1
                    continue
                if not c:
                    raise ValueError("unterminated inline table")
                full = self._record_key(path, self._key())
                self._skip_ws()
                self.i += 1  # '='
                self._skip_ws()
                self._value(full)
        else:
            start = self.i
            while self._peek() and self._peek() not in ",]}\n#":
                self.i += 1
            if self.i == start:
                raise ValueError(f"no value at line {self.line}")

    def _header(self, names: tuple[str, ...], array: bool) -> tuple[str | int, ...]:
        path: tuple[str | int, ...] = ()
        for n, name in enumerate(names):
            path = (*path, name)
            if n < len(names) - 1 and path in self._aot:
                path = (*path, self._aot[path] - 1)
        if array:
            idx = self._aot.get(path, 0)
            self._aot[path] = idx + 1
            self.lines.setdefault(path, self.line)
            path = (*path, idx)
        self.lines[path] = self.line
        return path

    def _scan(self) -> None:
        table: tuple[str | int, ...] = ()
        while True:
            self._skip_blank()
            if not self._peek():
                return
            before = self.i
            if self._peek() == "[":
                array = self._peek(1) == "["
                self.i += 2 if array else 1
                names = self._key()
                self._skip_ws()
                self.i += 2 if array else 1
                table = self._header(names, array)
            else:
                full = self._record_key(table, self._key())
                self._skip_ws()
                self.i += 1  # '='
                self._skip_ws()
                self._value(full)
            if self.i <= before:  # pragma: no cover - no progress: give up
                return


# ----------------------------------------------------------------- reading a file


def _to_instance(value: Any, path: tuple[str | int, ...], problems: list[_Problem], lines: _LineIndex) -> Any:
    """Convert tomllib output into JSON-schema-checkable data; note non-finite numbers."""
    if isinstance(value, dict):
        return {k: _to_instance(v, (*path, k), problems, lines) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_instance(v, (*path, i), problems, lines) for i, v in enumerate(value)]
    if isinstance(value, (_dt.date, _dt.time)):  # datetime is a date subclass
        iso = _TomlDate(value.isoformat())
        # only study.date takes a TOML date; elsewhere its ISO text would pass for a string
        expected = _parent_schema_for(path) if path != ("study", "date") else None
        if expected is not None:
            problems.append(_Problem(lines.line_of(path), path, f"expected {_expect(expected)}, got {_show(iso)}"))
        return iso
    if isinstance(value, float) and not math.isfinite(value):
        problems.append(_Problem(lines.line_of(path), path, f"expected a finite number, got {value!r}"))
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_NUMBER:
        problems.append(_Problem(lines.line_of(path), path, "expected a number of sensible size, got a huge integer"))
    return value


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise MissingFileError(f"{path}: manifest file not found") from None
    except IsADirectoryError:
        raise ManifestError(f"{path}: is a folder, not a manifest file (read_series reads a folder)") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise ManifestError(f"{path}: cannot read the manifest: {getattr(exc, 'strerror', None) or exc}") from None
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        line = raw.count(b"\n", 0, at) + 1
        raise ManifestError(f"{path}:{line}: binary data (NUL byte at offset {at}); a manifest is a UTF-8 TOML text file")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]  # byte-order mark some Windows editors write
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ManifestError(
            f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "a manifest is a UTF-8 TOML text file: save it as UTF-8"
        ) from None


_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


def _parse_toml(path: Path, text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.search(msg)
        if m is not None:
            line = int(m.group(1))
            what = msg[: m.start()].strip()
            raise ManifestError(f"{path}:{line}: TOML syntax error: {what} (line {line}, column {m.group(2)})") from None
        line = text.count("\n") + 1
        what = msg.replace("(at end of document)", "").strip()
        raise ManifestError(f"{path}:{line}: TOML syntax error: {what} (at the end of the file)") from None
    except RecursionError:
        raise ManifestError(f"{path}: TOML nested too deeply to read") from None
    except Exception as exc:  # noqa: BLE001 - tomllib raising anything else is still a bad file
        raise ManifestError(f"{path}: cannot parse as TOML: {type(exc).__name__}: {exc}") from None


def read_manifest(path: str | Path) -> Study:
    """Read and validate a study manifest.

    Parameters
    ----------
    path : str or pathlib.Path
        The TOML manifest.  Data file paths in it are relative to its folder.

    Returns
    -------
    Study
        The study with its patient, clinical context and tests; every site's
        ``data.file`` is an absolute path inside the manifest folder (the data
        files need not exist yet: :func:`load_site` checks that).

    Raises
    ------
    edx.errors.MissingFileError
        The manifest does not exist.
    edx.errors.ManifestError
        The file is not UTF-8 TOML, is written for a newer schema version, or does
        not satisfy the schema and rules.  All problems are reported at once, one
        line each: ``FILE:LINE: key.path: expected ..., got ...``.
    """
    source = Path(path)
    text = _read_text(source)
    data = _parse_toml(source, text)
    lines = _LineIndex(text)

    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        line = lines.line_of(("schema_version",))
        where = f"{source}:{line}" if line else f"{source}"
        raise ManifestError(
            f"{where}: schema_version: this manifest was written for edx schema version {version}; "
            f"this edx reads {SCHEMA_VERSION}: upgrade edx"
        )

    problems: list[_Problem] = []
    instance = _to_instance(data, (), problems, lines)
    # a non-finite number was reported already: drop the schema's comments on its value
    flagged = {p.path for p in problems}
    problems.extend(
        p
        for p in _schema_problems(_validator().iter_errors(instance), lines)
        if p.path not in flagged or not p.text.startswith("expected")
    )
    base = source.absolute().parent
    problems.extend(_rule_problems(instance, lines, base))
    _raise_problems(source, problems)
    try:
        return _build_study(instance, source.absolute(), base)
    except (ValueError, TypeError, OverflowError) as exc:  # a model check the rules above missed
        raise ManifestError(f"{source}: {exc}") from exc


# -------------------------------------------------------------- rules in Python


def _rule_problems(doc: Any, lines: _LineIndex, base: Path) -> list[_Problem]:
    """Rules JSON Schema cannot express.  Defensive: wrong types are skipped (the
    schema already reported them)."""
    out: list[_Problem] = []

    def add(path: tuple[str | int, ...], text: str) -> None:
        out.append(_Problem(lines.line_of(path), path, text))

    if not isinstance(doc, dict):  # pragma: no cover - tomllib returns a table
        return out
    study = doc.get("study")
    if isinstance(study, dict) and isinstance(study.get("date"), str):
        date_text = study["date"]
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", date_text):
            try:
                _dt.date.fromisoformat(date_text)
            except ValueError:
                add(("study", "date"), f"expected a real calendar date YYYY-MM-DD, got {_show(date_text)}")

    tests = doc.get("tests")
    if not isinstance(tests, list):
        return out
    first_id: dict[str, tuple[int, int | None]] = {}
    base_resolved = _safe_resolve(base)
    for ti, test in enumerate(tests):
        if not isinstance(test, dict):
            continue
        tp: tuple[str | int, ...] = ("tests", ti)
        tid = test.get("id")
        if isinstance(tid, str):
            if tid in first_id:
                prev, prev_line = first_id[tid]
                at = f" on line {prev_line}" if prev_line else ""
                add((*tp, "id"), f"duplicate test id {_q(tid)} (already used by tests[{prev}]{at}); expected a unique id")
            else:
                first_id[tid] = (ti, lines.line_of((*tp, "id")))
        ttype = test.get("type")
        if "rate_hz" in test and isinstance(ttype, str) and ttype != "rns":
            add((*tp, "rate_hz"), f"rate_hz applies only to rns tests, this test is {_q(ttype)}; remove it")
        filters = test.get("filters")
        if isinstance(filters, dict):
            hp, lp = filters.get("highpass_hz"), filters.get("lowpass_hz")
            if _is_number(hp) and _is_number(lp) and lp > 0 and hp >= lp:
                add((*tp, "filters", "highpass_hz"), f"expected a high-pass corner below lowpass_hz ({lp:g} Hz), got {hp!r}")
        sites = test.get("sites")
        if not isinstance(sites, list):
            continue
        site_dicts = [(si, s) for si, s in enumerate(sites) if isinstance(s, dict)]
        names: dict[str, int] = {}
        for si, site in site_dicts:
            sp: tuple[str | int, ...] = (*tp, "sites", si)
            name = site.get("name")
            if isinstance(name, str):
                if name in names:
                    add((*sp, "name"), f"duplicate site name {_q(name)} in this test (also sites[{names[name]}]); expected unique names")
                else:
                    names[name] = si
            if site.get("stimulated") == "muscle" and isinstance(ttype, str) and ttype != "dms":
                add((*sp, "stimulated"), f"\"muscle\" is only for the direct-muscle site of a dms test; this test is {_q(ttype)}")
            window = site.get("window_s")
            if isinstance(window, list) and len(window) == 2 and all(_is_number(v) for v in window):
                if not window[1] > window[0]:
                    add((*sp, "window_s"), f"expected [start, end] with end > start, got {_show(window)}")
            unit = site.get("unit")
            if isinstance(unit, str) and unit:
                from .units import volts_per_unit

                try:
                    volts_per_unit(unit)
                except UnitError as exc:
                    add((*sp, "unit"), f"expected a voltage unit such as \"uV\", \"mV\" or \"V\", got {_show(unit)} ({exc})")
            file = site.get("file")
            if isinstance(file, str) and file:
                msg = _path_problem(file, base, base_resolved)
                if msg:
                    add((*sp, "file"), msg)
        if ttype == "dms" and len(site_dicts) == len(sites):
            kinds = [s.get("stimulated", "nerve") for _, s in site_dicts]
            n_nerve, n_muscle = kinds.count("nerve"), kinds.count("muscle")
            if (n_nerve, n_muscle) != (1, 1):
                add(
                    (*tp, "sites"),
                    "a dms test needs exactly one site with stimulated = \"nerve\" and one with "
                    f"stimulated = \"muscle\"; got {n_nerve} nerve and {n_muscle} muscle site(s)",
                )
        if ttype == "motor" and len(sites) > 1:
            for si, site in site_dicts[1:]:
                if site.get("distance_mm") == 0 and not isinstance(site.get("distance_mm"), bool):
                    add(
                        (*tp, "sites", si, "distance_mm"),
                        "expected a segment length > 0 mm from the previous site (two stimulation sites 0 mm apart "
                        "give no conduction velocity), got 0",
                    )
                if "distance_mm" not in site:
                    add(
                        (*tp, "sites", si, "distance_mm"),
                        "missing key (required for every site after the first of a motor test: segment length "
                        "in mm from the previous site, for the conduction velocity); expected a number >= 0",
                    )
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _safe_resolve(p: Path) -> Path:
    try:
        return p.resolve()
    except (OSError, RuntimeError, ValueError):
        return p


def _path_problem(file: str, base: Path, base_resolved: Path) -> str | None:
    """Why ``file`` is not an acceptable data path (None if it is)."""
    if "\x00" in file:
        return "expected a file path, got a string with a NUL character"
    posix, win = PurePosixPath(file), PureWindowsPath(file)
    if posix.is_absolute() or win.is_absolute() or win.drive or win.root:
        return f"expected a path relative to the manifest folder, got the absolute path {_q(file)}"
    if ".." in posix.parts or ".." in win.parts:
        return f"expected a path inside the manifest folder, got {_q(file)} which leaves it through '..'"
    try:
        target = (base / file).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        return f"cannot resolve the path {_q(file)}: {exc}"
    if not target.is_relative_to(base_resolved):
        return (
            f"expected a path inside the manifest folder, got {_q(file)} which resolves to {target} "
            "(a symbolic link pointing outside); copy the file into the folder"
        )
    if target == base_resolved:
        return f"expected a file, got {_q(file)} which names the manifest folder itself"
    return None


# ------------------------------------------------------------------ building


def _opt_float(d: Mapping[str, Any], key: str) -> float | None:
    v = d.get(key)
    return None if v is None else float(v)


def _build_study(doc: dict[str, Any], manifest: Path, base: Path) -> Study:
    p = doc["patient"]
    patient = Patient(
        id=p["id"],
        age_years=_opt_float(p, "age_years"),
        sex=p.get("sex"),
        height_cm=_opt_float(p, "height_cm"),
    )
    s = doc["study"]
    icu_day = s.get("icu_day")
    mrc = s.get("mrc_sum_score")
    context = ClinicalContext(
        icu_day=None if icu_day is None else int(icu_day),
        sedated=s.get("sedated"),
        oedema=tuple(s.get("oedema", ())),
        mrc_sum_score=None if mrc is None else int(mrc),
        handgrip_kg=_opt_float(s, "handgrip_kg"),
        biopsy=s.get("biopsy"),
        neuromuscular_blockers=s.get("neuromuscular_blockers"),
    )
    base_resolved = _safe_resolve(base)
    tests = tuple(_build_test(t, base_resolved) for t in doc["tests"])
    return Study(
        patient=patient,
        date=_dt.date.fromisoformat(s["date"]),
        context=context,
        tests=tests,
        manifest_path=manifest,
        schema_version=int(doc["schema_version"]),
    )


def _build_test(t: dict[str, Any], base: Path) -> TestSpec:
    f = t.get("filters")
    filters = (
        FilterSettings(
            highpass_hz=_opt_float(f, "highpass_hz"),
            lowpass_hz=_opt_float(f, "lowpass_hz"),
            notch_hz=_opt_float(f, "notch_hz"),
        )
        if f is not None
        else None
    )
    return TestSpec(
        id=t["id"],
        type=TestType(t["type"]),
        sites=tuple(_build_site(s, base) for s in t["sites"]),
        nerve=t.get("nerve"),
        muscle=t.get("muscle"),
        side=t.get("side"),
        recording_site=t.get("recording_site"),
        temperature_c=_opt_float(t, "temperature_c"),
        filters=filters,
        rate_hz=_opt_float(t, "rate_hz"),
        notes=t.get("notes", ""),
    )


def _build_site(s: dict[str, Any], base: Path) -> StimulationSite:
    sweeps = s.get("sweeps")
    window = s.get("window_s")
    data = DataRef(
        file=(base / s["file"]).resolve(),
        channel=s.get("channel"),
        sweeps=None if sweeps is None or sweeps == "all" else tuple(int(i) for i in sweeps),
        window_s=None if window is None else (float(window[0]), float(window[1])),
        stimulus_s=tuple(float(v) for v in s.get("stimulus_s", ())),
        fs_hz=_opt_float(s, "fs_hz"),
        unit=s.get("unit"),
    )
    return StimulationSite(
        name=s["name"],
        data=data,
        distance_mm=_opt_float(s, "distance_mm"),
        stimulated=s.get("stimulated", "nerve"),
        intensity_ma=_opt_float(s, "intensity_ma"),
        duration_ms=_opt_float(s, "duration_ms"),
    )


# ------------------------------------------------------------------ series


def read_series(folder: str | Path) -> list[Study]:
    """Read a patient's daily studies: every ``*.toml`` manifest directly in ``folder``.

    Parameters
    ----------
    folder : str or pathlib.Path
        Folder holding one manifest per study day (sub-folders are not searched).

    Returns
    -------
    list of Study
        Sorted by (date, ICU day); a study without an ICU day comes first on its date.

    Raises
    ------
    edx.errors.MissingFileError
        The folder does not exist.
    edx.errors.ManifestError
        No manifest in the folder; a manifest is invalid (all invalid manifests are
        reported together); the manifests name different patients; or two
        manifests describe the same date and ICU day.
    """
    root = Path(folder)
    if not root.exists():
        raise MissingFileError(f"{root}: folder not found")
    if not root.is_dir():
        raise ManifestError(f"{root}: is a file, not a folder of manifests (read_manifest reads one file)")
    files = sorted(p for p in root.glob("*.toml") if p.is_file())
    if not files:
        raise ManifestError(f"{root}: no *.toml study manifest in this folder")
    studies: list[Study] = []
    failures: list[str] = []
    for f in files:
        try:
            studies.append(read_manifest(f))
        except ManifestError as exc:
            failures.append(str(exc))
    if failures:
        raise ManifestError(f"{root}: {len(failures)} of {len(files)} manifest(s) are invalid:\n" + "\n".join(failures))

    by_id: dict[str, list[str]] = {}
    for st in studies:
        by_id.setdefault(st.patient.id, []).append(st.manifest_path.name if st.manifest_path else "?")
    if len(by_id) > 1:
        detail = "; ".join(f"{_q(pid)} in {', '.join(names)}" for pid, names in sorted(by_id.items()))
        raise ManifestError(
            f"{root}: a series holds the studies of one patient, but these manifests name "
            f"{len(by_id)} patient ids: {detail}; move the other patients' manifests to their own folders"
        )

    def key(st: Study) -> tuple[_dt.date, int, int]:
        day = st.context.icu_day
        return (st.date, 0 if day is None else 1, day or 0)

    studies.sort(key=key)
    for a, b in zip(studies, studies[1:]):
        if key(a) == key(b):
            day = "no ICU day" if a.context.icu_day is None else f"ICU day {a.context.icu_day}"
            raise ManifestError(
                f"{root}: {_name(a)} and {_name(b)} both describe {a.date.isoformat()} ({day}); "
                "a series has one manifest per study: merge them or correct date/icu_day"
            )
    days = [st.context.icu_day for st in studies if st.context.icu_day is not None]
    if any(later < earlier for earlier, later in zip(days, days[1:])):
        log.warning("%s: ICU days do not increase with the study dates: %s", root, days)
    return studies


def _name(study: Study) -> str:
    return study.manifest_path.name if study.manifest_path else "?"


# ------------------------------------------------------------------ loading data


def load_site(
    study: Study,
    test_id: str,
    site: str | int = 0,
    *,
    detect_stimulus: bool | None = None,
) -> Response | Recording:
    """Load the samples of one site of a test.

    Parameters
    ----------
    study : Study
        A study from :func:`read_manifest`.
    test_id : str
        The test's ``id``.
    site : str or int
        Site name, or its position in the test (0 = first, most distal).
    detect_stimulus : bool, optional
        Locate stimuli from the stimulus artifact when the file has no marks and
        the manifest gives no ``stimulus_s``.  Default: True for stimulus tests,
        False for needle tests.

    Returns
    -------
    Recording
        For needle tests: the chosen channel, restricted to ``window_s`` when the
        manifest gives one.
    Response
        For stimulus tests: the file's stored sweeps of the channel (the
        ``sweeps`` selection when given), or sweeps cut around the stimuli of
        continuous data (``window_s`` restricts which stimuli are used).  A
        repetitive-stimulation train becomes one sweep from 5 ms before its first
        to 300 ms after its last stimulus.

    Raises
    ------
    edx.errors.MissingFileError
        The data file does not exist.
    edx.errors.ManifestError
        Unknown test or site, several voltage channels and no ``channel``, a sweep
        number or window outside the data, or no stimulus found.
    edx.errors.EdxError
        Any loader error (format, unit, signal quality).
    """
    test, st, where = _find_site(study, test_id, site)
    data = st.data
    needle = test.type.is_needle
    detect = (not needle) if detect_stimulus is None else bool(detect_stimulus)

    from .io import load

    rec = load(
        data.file,
        channels=[data.channel] if data.channel else None,
        units=data.unit,
        fs_hz=data.fs_hz,
        stimulus_s=data.stimulus_s,
        detect_stimulus=detect,
    )
    channel = _pick_channel(rec, data, where)
    if needle:
        return _needle_recording(rec, channel, data, where)
    return _response(rec, channel, test, st, where)


def _find_site(study: Study, test_id: str, site: str | int) -> tuple[TestSpec, StimulationSite, str]:
    manifest = study.manifest_path or "study"
    try:
        test = study.test(test_id)
    except KeyError:
        ids = ", ".join(repr(t.id) for t in study.tests)
        raise ManifestError(f"{manifest}: no test with id {test_id!r}; tests are {ids}") from None
    ti = study.tests.index(test)
    if isinstance(site, int) and not isinstance(site, bool):
        if not -len(test.sites) <= site < len(test.sites):
            raise ManifestError(
                f"{manifest}: test {test_id!r} has {len(test.sites)} site(s); site number {site} does not exist"
            )
        si = site % len(test.sites)
    else:
        names = [s.name for s in test.sites]
        if site not in names:
            raise ManifestError(f"{manifest}: test {test_id!r} has no site {site!r}; sites are {names}")
        si = names.index(str(site))
    where = f"{manifest}: tests[{ti}].sites[{si}] (test {test_id!r}, site {test.sites[si].name!r}, file {test.sites[si].data.file})"
    return test, test.sites[si], where


def _pick_channel(rec: Recording, data: DataRef, where: str) -> str:
    if data.channel:
        if data.channel not in rec.channels:
            raise ManifestError(f"{where}: channel {data.channel!r} not in the file; channels are {list(rec.channels)}")
        return data.channel
    units = rec.unit_by_channel
    voltage = [c for c in rec.channels if units.get(c) == "V"]
    if len(voltage) == 1:
        return voltage[0]
    if not voltage:
        raise ManifestError(f"{where}: the file has no voltage channel (channels: {list(rec.channels)})")
    raise ManifestError(
        f"{where}: the file has {len(voltage)} voltage channels {voltage}; "
        "add channel = \"...\" to this site in the manifest to say which one to use"
    )


def _needle_recording(rec: Recording, channel: str, data: DataRef, where: str) -> Recording:
    traces = rec.traces_of(channel)
    if not traces:
        raise ManifestError(f"{where}: channel {channel!r} holds no continuous data for a needle test")
    if data.window_s is None:
        return dataclasses.replace(rec, traces=traces, sweeps=())
    start, end = data.window_s
    first, last = traces[0].start_s, max(t.end_s for t in traces)
    tol = 1.0 / traces[0].fs_hz
    if start < first - tol or end > last + tol:
        raise ManifestError(
            f"{where}: window_s [{start:g}, {end:g}] s lies outside the data of channel {channel!r} "
            f"({first:.3f} to {last:.3f} s); correct window_s"
        )
    cut: list[Trace] = []
    for t in traces:
        i0 = max(0, math.ceil((start - t.start_s) * t.fs_hz - 1e-9))
        i1 = min(t.n_samples, math.floor((end - t.start_s) * t.fs_hz + 1e-9))
        if i1 - i0 < 1:
            continue
        cut.append(
            dataclasses.replace(t, samples_v=t.samples_v[i0:i1], start_s=t.start_s + i0 / t.fs_hz)
        )
    if not cut:
        raise ManifestError(f"{where}: window_s [{start:g}, {end:g}] s holds no samples of channel {channel!r}")
    inside = [s for s in rec.stimuli if start <= s.time_s < end]
    notes = [a for a in rec.annotations if start <= a.onset_s < end]
    return dataclasses.replace(rec, traces=tuple(cut), sweeps=(), stimuli=tuple(inside), annotations=tuple(notes))


def _select(sweeps: Sequence[Sweep], wanted: tuple[int, ...] | None, where: str, kind: str) -> tuple[Sweep, ...]:
    if wanted is None:
        return tuple(sweeps)
    bad = [i for i in wanted if not 0 <= i < len(sweeps)]
    if bad:
        raise ManifestError(
            f"{where}: sweeps {bad} do not exist: the {kind} has {len(sweeps)} sweep(s) "
            f"(numbers 0 to {len(sweeps) - 1}); correct sweeps"
        )
    return tuple(sweeps[i] for i in wanted)


def _with_site_info(sw: Sweep, test: TestSpec, st: StimulationSite) -> Sweep:
    """Fill stimulus parameters and filters the file did not give from the manifest."""
    changes: dict[str, Any] = {}
    if sw.intensity_ma is None and st.intensity_ma is not None:
        changes["intensity_ma"] = st.intensity_ma
    if sw.stimulus_duration_ms is None and st.duration_ms is not None:
        changes["stimulus_duration_ms"] = st.duration_ms
    if test.filters is not None:
        changes["filters"] = test.filters
    return dataclasses.replace(sw, **changes) if changes else sw


def _response(rec: Recording, channel: str, test: TestSpec, st: StimulationSite, where: str) -> Response:
    data = st.data
    stored = rec.sweeps_of(channel)
    if stored:
        if data.window_s is not None:
            log.debug("%s: window_s ignored: the file stores sweeps", where)
        sweeps = _select(stored, data.sweeps, where, "file")
    else:
        stimuli = [s for s in rec.stimuli if s.channel in (None, channel)]
        if data.window_s is not None:
            start, end = data.window_s
            stimuli = [s for s in stimuli if start <= s.time_s < end]
        if not stimuli:
            raise ManifestError(
                f"{where}: no stimulus found: the file has no stimulus annotations or trigger channel "
                "and the artifact was not detected; give the stimulus times as stimulus_s = [...] in the manifest"
            )
        if test.type is TestType.RNS:
            sweeps = (_rns_sweep(rec, channel, stimuli, where),)
        else:
            from .io.sweeps import cut_sweeps

            pre, post = _SWEEP_WINDOWS.get(test.type, (0.005, 0.045))
            cut = cut_sweeps(rec, channel, pre_s=pre, post_s=post, stimuli=tuple(stimuli))
            sweeps = _select(cut, data.sweeps, where, "stimulus train")
    if not sweeps:
        raise ManifestError(f"{where}: no sweeps selected")
    return Response(
        sweeps=tuple(_with_site_info(sw, test, st) for sw in sweeps),
        test_id=test.id,
        site=st.name,
        distance_mm=st.distance_mm,
        stimulated=st.stimulated,
    )


def _rns_sweep(rec: Recording, channel: str, stimuli: Sequence[Stimulus], where: str) -> Sweep:
    """One sweep holding a whole repetitive-stimulation train."""
    times = sorted(s.time_s for s in stimuli)
    for t in rec.traces_of(channel):
        if t.start_s <= times[0] and times[-1] < t.end_s:
            trace = t
            break
    else:
        raise ManifestError(
            f"{where}: the {len(times)} stimuli ({times[0]:.3f} to {times[-1]:.3f} s) do not lie within one "
            f"continuous block of channel {channel!r}"
        )
    fs = trace.fs_hz
    i0 = max(0, int(math.floor((times[0] - _RNS_PRE_S - trace.start_s) * fs)))
    i1 = min(trace.n_samples, int(math.ceil((times[-1] + _RNS_POST_S - trace.start_s) * fs)) + 1)
    idx = sorted({min(i1 - i0 - 1, max(0, int(round((t - trace.start_s) * fs)) - i0)) for t in times})
    return Sweep(
        samples_v=trace.samples_v[i0:i1],
        fs_hz=fs,
        stimulus_indices=tuple(idx),
        channel=channel,
        start_s=trace.start_s + i0 / fs,
        index=0,
        stimulus_source=stimuli[0].source,
        filters=trace.filters,
        clip_range=trace.clip_range,
    )
