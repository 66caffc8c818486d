"""Reference values and interpretation criteria: loading, laboratory overrides, lookup.

The packaged defaults are :file:`edx/data/reference_values.toml` (normal values) and
:file:`edx/data/interpretation.toml` (criteria).  A laboratory passes its own file or a
dict of the same layout; it is merged over the defaults.  Every value looked up comes
back as a :class:`Limit` that carries the text of its source, so an interpretation can
say where each number it compared with comes from.
"""

from __future__ import annotations

import copy
import functools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import MissingFileError, ReferenceDataError

__all__ = [
    "Limit",
    "ReferenceValues",
    "Criteria",
    "load_reference",
    "load_criteria",
    "normalize_nerve",
    "normalize_muscle",
    "limb_of",
]

_NERVE_ALIASES = {
    "fibular": "peroneal",
    "common peroneal": "peroneal",
    "common fibular": "peroneal",
    "deep peroneal": "peroneal",
    "deep fibular": "peroneal",
    "superficial fibular": "superficial peroneal",
    "posterior tibial": "tibial",
}
_MUSCLE_ALIASES = {
    "abductor pollicis brevis": "apb",
    "abductor digiti minimi": "adm",
    "abductor digiti quinti": "adm",
    "extensor digitorum brevis": "edb",
    "abductor hallucis": "ah",
    "ta": "tibialis anterior",
}
_LOWER_LIMB = ("peroneal", "tibial", "sural", "superficial peroneal", "femoral", "saphenous", "plantar",
               "tibialis anterior", "edb", "ah", "gastrocnemius", "vastus", "quadriceps")

#: limit keys of a [[motor]] / [[sensory]] entry, with their unit for messages
MOTOR_LIMITS = ("amplitude_mv_min", "distal_latency_ms_max", "cv_m_s_min", "f_latency_ms_max", "neg_duration_ms_max")
SENSORY_LIMITS = ("amplitude_uv_min", "peak_latency_ms_max", "cv_m_s_min")
_IDENT = {"nerve", "muscle", "recording_site", "age_min_years", "age_max_years", "distal_distance_mm",
          "distance_mm", "source"}
_ENTRY_KEYS = {
    "motor": _IDENT | set(MOTOR_LIMITS) | {f"{k}_equation" for k in MOTOR_LIMITS} | {f"{k}_source" for k in MOTOR_LIMITS},
    "sensory": _IDENT | set(SENSORY_LIMITS) | {f"{k}_equation" for k in SENSORY_LIMITS}
    | {f"{k}_source" for k in SENSORY_LIMITS},
    "motor_mean": _IDENT | {"amplitude_mv_mean", "amplitude_mv_sd"},
}


def normalize_nerve(name: str | None) -> str:
    """Lower-case nerve name with common synonyms mapped (``fibular`` -> ``peroneal``)."""
    n = " ".join((name or "").lower().replace("_", " ").replace("-", " ").split())
    return _NERVE_ALIASES.get(n, n)


def normalize_muscle(name: str | None) -> str:
    """Lower-case muscle name with the usual abbreviations (``extensor digitorum brevis`` -> ``edb``)."""
    n = " ".join((name or "").lower().replace("_", " ").split())
    return _MUSCLE_ALIASES.get(n, n)


def limb_of(nerve: str | None, muscle: str | None = None) -> str | None:
    """``"lower"`` or ``"upper"`` for a nerve (or muscle) name, None when neither is given."""
    names = [normalize_nerve(nerve), normalize_muscle(muscle)]
    if not any(names):
        return None
    return "lower" if any(k in n for n in names if n for k in _LOWER_LIMB) else "upper"


@dataclass(frozen=True)
class Limit:
    """One reference number and where it comes from.

    Attributes
    ----------
    value : float
    source : str
        Full text of the source (with its status).
    how : str
        How the value was chosen: ``"fixed"``, an age band (``"age 40-"``) or
        ``"equation (age 62 y, height 165 cm)"``.
    """

    value: float
    source: str
    how: str = "fixed"


def _source_text(sources: Mapping[str, Any], key: str | None, where: str) -> str:
    if not key:
        raise ReferenceDataError(f"{where}: no source named")
    s = sources.get(key)
    if s is None:
        raise ReferenceDataError(f"{where}: source {key!r} is not in [sources]")
    if isinstance(s, str):
        return s
    status = s.get("status")
    return f"{s['text']} [{status}]" if status else str(s["text"])


def _deep_update(base: dict[str, Any], over: Mapping[str, Any], where: str, strict: bool) -> None:
    for k, v in over.items():
        if strict and k not in base and k != "sources":
            raise ReferenceDataError(f"{where}: unknown key {k!r}")
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _deep_update(base[k], v, f"{where}.{k}", strict and k != "sources")
        else:
            base[k] = copy.deepcopy(v)


def _read(spec: str | Path | Mapping[str, Any], what: str) -> dict[str, Any]:
    if isinstance(spec, Mapping):
        return copy.deepcopy(dict(spec))
    p = Path(spec)
    if not p.is_file():
        raise MissingFileError(f"{what} file not found: {p}")
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ReferenceDataError(f"{p}: not a valid TOML {what} file: {exc}") from exc


@functools.lru_cache(maxsize=4)
def _packaged(name: str) -> dict[str, Any]:
    return tomllib.loads(resources.files("edx").joinpath(f"data/{name}").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- criteria


class Criteria:
    """The interpreter's criteria (:file:`edx/data/interpretation.toml`, possibly overridden).

    ``criteria["amplitude"]["low_fraction_of_lln"]`` reads a number; :meth:`source` gives
    the source text of a section.
    """

    def __init__(self, doc: Mapping[str, Any], name: str) -> None:
        self._doc = doc
        self.name = name

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self._doc[section]

    def number(self, section: str, key: str) -> float:
        """A numeric criterion; a non-number is an error naming the key."""
        v = self._doc[section][key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ReferenceDataError(f"criteria [{section}] {key} must be a finite number, got {v!r}")
        return float(v)

    def source(self, section: str, key: str = "source") -> str:
        """Source text of ``section`` (its ``source`` key, or another key naming a source)."""
        return _source_text(self._doc["sources"], self._doc[section].get(key), f"criteria [{section}]")

    def as_dict(self) -> dict[str, Any]:
        """A deep copy of the merged criteria."""
        return copy.deepcopy(dict(self._doc))


def load_criteria(criteria: str | Path | Mapping[str, Any] | Criteria | None = None) -> Criteria:
    """The packaged criteria, overridden by a laboratory's file or dict.

    Parameters
    ----------
    criteria : str, Path, mapping, Criteria or None
        A TOML file or mapping with (part of) the layout of ``edx/data/interpretation.toml``;
        keys it names replace the packaged ones.  Unknown sections or keys are errors, so a
        misspelt override never passes silently.

    Returns
    -------
    Criteria
    """
    if isinstance(criteria, Criteria):
        return criteria
    doc = copy.deepcopy(_packaged("interpretation.toml"))
    name = "edx defaults"
    if criteria is not None:
        over = _read(criteria, "criteria")
        over.pop("schema", None)
        _deep_update(doc, over, "criteria", strict=True)
        name = str(criteria) if not isinstance(criteria, Mapping) else "laboratory criteria (dict)"
    out = Criteria(doc, name)
    for section, body in doc.items():  # every section's sources must resolve
        if isinstance(body, dict) and section != "sources":
            for k, v in body.items():
                if k == "source" or k.endswith("_source"):
                    out.source(section, k)
    return out


# ----------------------------------------------------------------------------- reference values


def _entry_key(kind: str, e: Mapping[str, Any]) -> tuple[Any, ...]:
    who = normalize_muscle(e.get("muscle")) if kind in ("motor", "motor_mean") else ""
    return (kind, normalize_nerve(e.get("nerve")), who, e.get("age_min_years"), e.get("age_max_years"))


class ReferenceValues:
    """Normal values of nerve conduction (:file:`edx/data/reference_values.toml`, merged
    with a laboratory's own)."""

    def __init__(self, doc: Mapping[str, Any], name: str) -> None:
        self._doc = doc
        self.name = name
        self.sources: Mapping[str, Any] = doc.get("sources", {})
        for kind in ("motor", "sensory", "motor_mean"):
            for i, e in enumerate(doc.get(kind, [])):
                where = f"reference [[{kind}]] #{i + 1} ({e.get('nerve')})"
                if not e.get("nerve"):
                    raise ReferenceDataError(f"{where}: no nerve")
                unknown = set(e) - _ENTRY_KEYS[kind]
                if unknown:
                    raise ReferenceDataError(f"{where}: unknown keys {sorted(unknown)}")
                _source_text(self.sources, e.get("source"), where)
                for k, v in e.items():
                    if k.endswith("_source"):
                        _source_text(self.sources, v, where)
                    elif k.endswith("_equation"):
                        if not isinstance(v, Mapping) or "intercept" not in v:
                            raise ReferenceDataError(f"{where}: {k} needs at least an intercept")
                        if v.get("source"):
                            _source_text(self.sources, v["source"], where)
                    elif k in MOTOR_LIMITS + SENSORY_LIMITS + ("amplitude_mv_mean", "amplitude_mv_sd"):
                        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0:
                            raise ReferenceDataError(f"{where}: {k} must be a positive number, got {v!r}")

    def as_dict(self) -> dict[str, Any]:
        """A deep copy of the merged reference values."""
        return copy.deepcopy(dict(self._doc))

    @staticmethod
    def _age_ok(e: Mapping[str, Any], age: float | None) -> bool | None:
        lo, hi = e.get("age_min_years"), e.get("age_max_years")
        if lo is None and hi is None:
            return True
        if age is None:
            return None
        return (lo is None or age >= lo) and (hi is None or age < hi)

    def _entries(self, kind: str, nerve: str | None, muscle: str | None, age: float | None) -> list[Mapping[str, Any]]:
        n = normalize_nerve(nerve)
        cands = [e for e in self._doc.get(kind, []) if normalize_nerve(e["nerve"]) == n]
        if kind in ("motor", "motor_mean"):
            muscles = {normalize_muscle(e.get("muscle")) for e in cands}
            if muscle:
                m = normalize_muscle(muscle)
                cands = [e for e in cands if normalize_muscle(e.get("muscle")) in (m, "")]
            elif len(muscles) > 1:
                return []  # ambiguous: the recording muscle decides
        banded = [e for e in cands if self._age_ok(e, age) is True and
                  (e.get("age_min_years") is not None or e.get("age_max_years") is not None)]
        plain = [e for e in cands if e.get("age_min_years") is None and e.get("age_max_years") is None]
        return banded + plain

    def _limit(self, kind: str, key: str, nerve: str | None, muscle: str | None, age: float | None,
               height_cm: float | None) -> Limit | None:
        for e in self._entries(kind, nerve, muscle, age):
            eq = e.get(f"{key}_equation")
            if eq is not None:
                per_year = float(eq.get("per_year", 0.0))
                per_cm = float(eq.get("per_cm", 0.0))
                if (per_year == 0.0 or age is not None) and (per_cm == 0.0 or height_cm is not None):
                    v = float(eq["intercept"]) + per_year * (age or 0.0) + per_cm * (height_cm or 0.0)
                    src = _source_text(self.sources, eq.get("source") or e.get("source"), "equation")
                    how = "equation (" + ", ".join(
                        x for x in (f"age {age:g} y" if per_year else "", f"height {height_cm:g} cm" if per_cm else "")
                        if x) + ")"
                    if v > 0:
                        return Limit(v, src, how.replace("()", "(constant)"))
            if key in e:
                src_key = e.get(f"{key}_source") or e.get("source")
                lo, hi = e.get("age_min_years"), e.get("age_max_years")
                how = "fixed" if lo is None and hi is None else f"age {'' if lo is None else f'{lo:g}'}-{'' if hi is None else f'{hi:g}'}"
                return Limit(float(e[key]), _source_text(self.sources, src_key, "reference"), how)
        return None

    def motor(self, key: str, nerve: str | None, muscle: str | None, *, age_years: float | None = None,
              height_cm: float | None = None) -> Limit | None:
        """A motor limit (``amplitude_mv_min``, ``distal_latency_ms_max``, ``cv_m_s_min``,
        ``f_latency_ms_max``, ``neg_duration_ms_max``) for a nerve recorded from a muscle;
        None when the reference has none (or the muscle is needed to choose and unknown)."""
        if key not in MOTOR_LIMITS:
            raise ValueError(f"unknown motor limit {key!r}")
        return self._limit("motor", key, nerve, muscle, age_years, height_cm)

    def sensory(self, key: str, nerve: str | None, *, age_years: float | None = None,
                height_cm: float | None = None) -> Limit | None:
        """A sensory limit (``amplitude_uv_min``, ``peak_latency_ms_max``, ``cv_m_s_min``)."""
        if key not in SENSORY_LIMITS:
            raise ValueError(f"unknown sensory limit {key!r}")
        return self._limit("sensory", key, nerve, None, age_years, height_cm)

    def motor_mean(self, nerve: str | None, muscle: str | None, *, age_years: float | None = None
                   ) -> tuple[float, float, Limit] | None:
        """Normative mean and SD of the CMAP amplitude (mV) with the source, or None."""
        for e in self._entries("motor_mean", nerve, muscle, age_years):
            lo, hi = e.get("age_min_years"), e.get("age_max_years")
            how = "fixed" if lo is None and hi is None else f"age {'' if lo is None else f'{lo:g}'}-{'' if hi is None else f'{hi:g}'}"
            src = _source_text(self.sources, e.get("source"), "reference")
            return float(e["amplitude_mv_mean"]), float(e["amplitude_mv_sd"]), Limit(float(e["amplitude_mv_mean"]), src, how)
        return None


def load_reference(reference: str | Path | Mapping[str, Any] | ReferenceValues | None = None) -> ReferenceValues:
    """The packaged reference values, merged with a laboratory's own.

    Parameters
    ----------
    reference : str, Path, mapping, ReferenceValues or None
        A TOML file or mapping with the layout of ``edx/data/reference_values.toml``.  Its
        entries replace the packaged entry with the same nerve, muscle (motor) and age
        band, key by key; other entries are added.  ``replace_defaults = true`` uses the
        laboratory's entries only.  Its ``[sources]`` are added to the packaged ones; an
        entry without ``source`` gets the laboratory file as its source.

    Returns
    -------
    ReferenceValues
    """
    if isinstance(reference, ReferenceValues):
        return reference
    doc = copy.deepcopy(_packaged("reference_values.toml"))
    if reference is None:
        return ReferenceValues(doc, str(doc.get("name", "edx defaults")))
    lab = _read(reference, "reference values")
    lab_name = str(lab.get("name") or (reference if not isinstance(reference, Mapping) else "laboratory values"))
    unknown = set(lab) - {"schema", "name", "sources", "replace_defaults", "motor", "sensory", "motor_mean"}
    if unknown:
        raise ReferenceDataError(f"reference values: unknown keys {sorted(unknown)}")
    sources = dict(doc.get("sources", {}))
    sources.update(lab.get("sources", {}))
    sources.setdefault("laboratory", {"text": f"laboratory reference values: {lab_name}", "status": "laboratory"})
    merged: dict[str, Any] = {"schema": doc.get("schema"), "name": lab_name, "sources": sources}
    for kind in ("motor", "sensory", "motor_mean"):
        base = [] if lab.get("replace_defaults") else list(doc.get(kind, []))
        index = {_entry_key(kind, e): i for i, e in enumerate(base)}
        for e in lab.get(kind, []):
            if not isinstance(e, Mapping):
                raise ReferenceDataError(f"reference values [[{kind}]]: each entry must be a table")
            e = dict(e)
            k = _entry_key(kind, e)
            if k in index:
                entry = dict(base[index[k]])
                lab_src = e.pop("source", "laboratory")
                if kind == "motor_mean":
                    e["source"] = lab_src
                else:
                    # the laboratory's numbers replace ours, and so do their sources; the
                    # limits it does not name keep theirs
                    for lim in [k for k in e if k in MOTOR_LIMITS + SENSORY_LIMITS]:
                        e.setdefault(f"{lim}_source", lab_src)
                entry.update(e)
                base[index[k]] = entry
            else:
                e.setdefault("source", "laboratory")
                index[k] = len(base)
                base.append(e)
        merged[kind] = base
    return ReferenceValues(merged, lab_name)
