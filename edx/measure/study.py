"""Measure every test of a study described by a manifest.

:func:`measure_study` loads each site through :func:`edx.manifest.load_site` and
measures it according to its test type: motor, sensory, F-wave, RNS, DMS, and needle EMG
at rest (spontaneous activity per site and the muscle's grade), at minimal effort (motor
unit potentials pooled over the sites) and at maximal effort (interference pattern per
site).  A test that fails to load or measure is kept with its error instead of aborting
the study: one bad file never costs the others.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import EdxError
from ..model import Study, TestSpec, TestType
from .late import DmsResult, FWaveResult, RnsResult, dms_ratio, measure_fwaves, rns_decrement
from .ncs import (
    CmapResult,
    SegmentResult,
    SnapResult,
    conduction_velocity,
    measure_cmap,
    measure_snap,
    sensory_velocity,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..needle.mup import InterferencePattern, MupAnalysis
    from ..needle.spontaneous import MuscleGrade, SpontaneousResult

log = logging.getLogger("edx.measure")

__all__ = ["TestMeasurement", "StudyMeasurements", "measure_study", "needle_rows", "F_MIN_LATENCY_MS"]

#: earliest F latency searched, by limb (upper limb F about 25–32 ms, lower limb about 45–56 ms;
#: CLINICAL.md §2 upper limits 31–32 and 56 ms)
F_MIN_LATENCY_MS = {"upper": 20.0, "lower": 35.0}
_LOWER = ("peroneal", "fibular", "tibial", "sural", "superficial peroneal", "femoral", "saphenous", "plantar")


@dataclass(frozen=True)
class TestMeasurement:
    """The measurements of one test; ``error`` is set when it could not be measured."""

    test: TestSpec
    sites: Mapping[str, CmapResult | SnapResult] = field(default_factory=dict)
    segments: tuple[tuple[str, str, SegmentResult], ...] = ()
    #: sensory tests: each site's velocity from the stimulus (distance / onset latency)
    velocities: Mapping[str, SegmentResult] = field(default_factory=dict)
    fwaves: FWaveResult | None = None
    rns: RnsResult | None = None
    dms: DmsResult | None = None
    spontaneous: Mapping[str, SpontaneousResult] = field(default_factory=dict)
    muscle_grade: MuscleGrade | None = None
    mups: MupAnalysis | None = None
    interference: Mapping[str, InterferencePattern] = field(default_factory=dict)
    error: str | None = None

    __test__ = False  # not a pytest test class

    def with_site(self, site: str, result: CmapResult | SnapResult) -> TestMeasurement:
        """A copy with one site's result replaced and the segments that touch it recomputed.

        For a corrected measurement, typically ``override_markers(tm.sites[site], ...)``.

        Parameters
        ----------
        site : str
            A site of this motor or sensory test.
        result : CmapResult or SnapResult
            Its new result.

        Returns
        -------
        TestMeasurement

        Raises
        ------
        KeyError
            ``site`` is not a site of this test.
        ValueError
            The test is not a motor or sensory test (an F-wave, RNS or DMS result is
            derived from its sweeps: measure it again instead).
        """
        if self.test.type not in (TestType.MOTOR, TestType.SENSORY):
            raise ValueError(f"test {self.test.id}: only motor and sensory sites can be replaced, "
                             f"not {self.test.type.value}")
        if site not in self.sites:
            raise KeyError(f"test {self.test.id} has no site {site!r} (sites: {', '.join(self.sites)})")
        sites = {**self.sites, site: result}
        segments = tuple(
            (a, b, conduction_velocity(sites[a], sites[b], seg.distance_mm) if site in (a, b) else seg)
            for a, b, seg in self.segments
        )
        velocities = {name: sensory_velocity(result, v.distance_mm) if name == site else v
                      for name, v in self.velocities.items()}
        return dataclasses.replace(self, sites=sites, segments=segments, velocities=velocities)


@dataclass(frozen=True)
class StudyMeasurements:
    """All tests of a study, in manifest order."""

    study: Study
    tests: tuple[TestMeasurement, ...]

    def with_site(self, test_id: str, site: str, result: CmapResult | SnapResult) -> StudyMeasurements:
        """A copy with one site's result replaced (see :meth:`TestMeasurement.with_site`);
        interpret the copy to see what the correction changes.

        Raises
        ------
        KeyError
            No test ``test_id`` (or no such site in it).
        """
        if not any(tm.test.id == test_id for tm in self.tests):
            ids = ", ".join(tm.test.id for tm in self.tests)
            raise KeyError(f"no test {test_id!r} in this study (tests: {ids})")
        return dataclasses.replace(
            self, tests=tuple(tm.with_site(site, result) if tm.test.id == test_id else tm for tm in self.tests))

    def rows(self) -> list[dict[str, Any]]:
        """One tidy row per site (and per segment), units in the column names."""
        out: list[dict[str, Any]] = []
        for tm in self.tests:
            t = tm.test
            base = {"test": t.id, "type": t.type.value, "nerve": t.nerve, "muscle": t.muscle, "side": t.side,
                    "temperature_c": t.temperature_c}
            if tm.error:
                out.append({**base, "error": tm.error})
                continue
            for site, r in tm.sites.items():
                row = {**base, "site": site, **_result_dict(r)}
                v = tm.velocities.get(site)
                if v is not None:
                    row["distance_mm"] = v.distance_mm
                    row["cv_m_s"] = v.cv_m_s
                    if "cv" in v.reasons and r.status == "ok":  # an absent or failed response says so itself
                        row["reasons"] = {**(row["reasons"] or {}), "cv": v.reasons["cv"]}
                    if v.quality:
                        row["quality"] = sorted(set(row["quality"]) | v.quality)
                out.append(row)
            for a, b, seg in tm.segments:
                out.append({**base, "site": f"{a} -> {b}", "distance_mm": seg.distance_mm, "cv_m_s": seg.cv_m_s,
                            "amplitude_drop_pct": seg.amplitude_drop_pct, "area_drop_pct": seg.area_drop_pct,
                            "duration_increase_pct": seg.duration_increase_pct,
                            "quality": sorted(q for q in seg.quality if ":" not in q),
                            "reasons": dict(seg.reasons) or None})
            if tm.fwaves is not None:
                f = tm.fwaves
                out.append({**base, "site": "F-waves", "f_min_latency_ms": f.min_latency_ms,
                            "f_mean_latency_ms": f.mean_latency_ms, "f_persistence_pct": f.persistence_pct,
                            "f_chronodispersion_ms": f.chronodispersion_ms, "n_sweeps": f.n_sweeps,
                            "n_judged": f.n_judged, "n_present": f.n_present,
                            # each sweep's own mains hum and drift removed before the search (None: none)
                            "f_hum_removed_uv": f.sweep_baseline.max_hum_uv if f.sweep_baseline else None,
                            "f_drift_removed_uv": f.sweep_baseline.max_drift_uv if f.sweep_baseline else None,
                            "quality": sorted(f.quality), "reasons": dict(f.reasons) or None})
            if tm.rns is not None:
                r = tm.rns
                out.append({**base, "site": "RNS", "rate_hz": r.rate_hz, "decrement_pct": r.decrement_pct,
                            "area_decrement_pct": r.area_decrement_pct,
                            "max_decrement_first5_pct": r.max_decrement_first5_pct,
                            "decrement_se_pct": r.decrement_se_pct, "quality": sorted(r.quality),
                            "reasons": dict(r.reasons) or None})
            if tm.dms is not None:
                d = tm.dms
                out.append({**base, "site": "nCMAP/mCMAP", "ncmap_mv": d.ncmap_mv, "mcmap_mv": d.mcmap_mv,
                            "dms_ratio": d.ratio, "quality": sorted(d.quality), "reasons": dict(d.reasons) or None})
            out.extend(needle_rows(base, spontaneous=tm.spontaneous, muscle_grade=tm.muscle_grade, mups=tm.mups,
                                   interference=tm.interference))
        return out


def _none_if_nan(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def needle_rows(
    base: Mapping[str, Any],
    *,
    spontaneous: Mapping[str, SpontaneousResult] | None = None,
    muscle_grade: MuscleGrade | None = None,
    mups: MupAnalysis | None = None,
    interference: Mapping[str, InterferencePattern] | None = None,
) -> list[dict[str, Any]]:
    """Tidy rows of needle EMG results (one per site, per muscle grade and per MUP analysis),
    each starting with the columns of ``base``."""
    rows: list[dict[str, Any]] = []
    for site, r in (spontaneous or {}).items():
        rows.append({**base, "site": site, "status": r.status, "duration_s": r.duration_s,
                     "noise_uv": _none_if_nan(r.noise_uv), "n_fibrillations": r.counts.get("fibrillation", 0),
                     "n_positive_sharp_waves": r.counts.get("positive_sharp_wave", 0),
                     "n_trains": len(r.trains),
                     "n_fibrillation_trains": sum(t.kind == "fibrillation" for t in r.trains),
                     "n_psw_trains": sum(t.kind == "positive_sharp_wave" for t in r.trains),
                     "grade": r.grade, "quality": sorted(r.quality),
                     "reasons": dict(r.reasons) or None})
    if muscle_grade is not None:
        g = muscle_grade
        rows.append({**base, "site": "muscle", "grade": g.grade, "n_sites": g.n_sites,
                     "n_sites_with_trains": g.n_sites_with_trains, "reasons": dict(g.reasons) or None})
    if mups is not None:
        m = mups
        sm = m.summary
        c = m.comparison
        rows.append({**base, "site": "MUPs", "status": m.status, "n_mups": sm.n_mups,
                     "mup_duration_ms": sm.mean_duration_ms, "mup_amplitude_uv": sm.mean_amplitude_uv,
                     "mup_phases": sm.mean_phases, "polyphasic_pct": sm.polyphasic_pct,
                     "firing_rate_hz": sm.mean_firing_rate_hz, "duration_z": c.duration_z,
                     "amplitude_z": c.amplitude_z, "mup_class": c.classification,
                     "recruitment": m.recruitment.pattern, "reference": c.source,
                     "quality": sorted(m.quality), "reasons": dict(m.reasons) or None})
    for site, ip in (interference or {}).items():
        rows.append({**base, "site": site, "turns_per_s": ip.turns_per_s,
                     "amplitude_per_turn_uv": ip.mean_amplitude_uv, "duration_s": ip.duration_s,
                     "quality": sorted(ip.quality), "reasons": dict(ip.reasons) or None})
    return rows


def _result_dict(r: CmapResult | SnapResult) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for f in dataclasses.fields(r):
        v = getattr(r, f.name)
        if f.name == "markers":
            d.update({f"marker_{k}": v2 for k, v2 in dataclasses.asdict(v).items()})
        elif f.name == "quality":
            d["quality"] = sorted(v)
        elif f.name == "reasons":
            d["reasons"] = dict(v) or None
        else:
            d[f.name] = None if isinstance(v, float) and not math.isfinite(v) else v
    return d


def _limb(test: TestSpec) -> str:
    name = (test.nerve or test.muscle or "").lower()
    return "lower" if any(k in name for k in _LOWER) else "upper"


def _measure_test(study: Study, test: TestSpec) -> TestMeasurement:
    from ..manifest import load_site

    if test.type.is_needle:
        return _measure_needle(study, test)
    if test.type is TestType.DMS:
        nerve = next(s for s in test.sites if s.stimulated == "nerve")
        muscle = next(s for s in test.sites if s.stimulated == "muscle")
        d = dms_ratio(load_site(study, test.id, nerve.name), load_site(study, test.id, muscle.name))
        return TestMeasurement(test, sites={nerve.name: d.nerve, muscle.name: d.muscle}, dms=d)
    if test.type is TestType.F_WAVE:
        f = measure_fwaves(load_site(study, test.id, 0), min_latency_ms=F_MIN_LATENCY_MS[_limb(test)])
        sites = {test.sites[0].name: f.m_response} if f.m_response is not None else {}
        return TestMeasurement(test, sites=sites, fwaves=f)
    if test.type is TestType.RNS:
        r = rns_decrement(load_site(study, test.id, 0))
        return TestMeasurement(test, sites={test.sites[0].name: r.responses[0]} if r.responses else {}, rns=r)
    results: dict[str, CmapResult | SnapResult] = {}
    loaded = {}
    for site in test.sites:
        resp = loaded[site.name] = load_site(study, test.id, site.name)
        results[site.name] = measure_snap(resp) if test.type is TestType.SENSORY else measure_cmap(resp)
    if test.type is TestType.MOTOR:
        results.update(_common_onset_share(results, lambda name, share: measure_cmap(loaded[name],
                                                                                     onset_share=share)))
    vel: dict[str, SegmentResult] = {}
    if test.type is TestType.SENSORY and test.sites[0].distance_mm:
        # one velocity per stimulation site, from the stimulus to the recording electrodes: the
        # first site's distance is stimulation to recording, each later one adds its segment
        total = 0.0
        for s in test.sites:
            if not s.distance_mm:
                break
            total += s.distance_mm
            vel[s.name] = sensory_velocity(results[s.name], total)
    segs = []
    names = [s.name for s in test.sites]
    for k in range(1, len(test.sites)):
        dist = test.sites[k].distance_mm
        if dist:
            segs.append((names[k - 1], names[k], conduction_velocity(results[names[k - 1]], results[names[k]], dist)))
    return TestMeasurement(test, sites=results, segments=tuple(segs), velocities=vel)


def _common_onset_share(results: Mapping[str, CmapResult | SnapResult],
                        remeasure: Callable[[str, float], CmapResult]) -> dict[str, CmapResult]:
    """The sites of one motor test measured again, where needed, with one onset estimator.

    Each CMAP's onset blends two estimators by its own signal-to-noise ratio
    (``onset_share``, see :func:`~edx.measure.ncs.measure_cmap`); their biases differ, and a
    velocity differences two onsets.  Across a conduction block the proximal response is
    smaller and would lean to the other estimator than the distal one.  So with two or more
    present sites, every site whose share differs from the smallest among them (the
    estimator the weakest response can support) is measured again with that share, and
    every velocity of the nerve differences onsets of the same estimator.
    ``remeasure(site, share)`` measures a site again with ``onset_share=share``; the sites
    measured again are returned.
    """
    shares = {name: r.onset_share for name, r in results.items()
              if isinstance(r, CmapResult) and r.present and r.onset_share is not None}
    if len(shares) < 2:
        return {}
    common = min(shares.values())
    return {name: remeasure(name, common)
            for name, share in shares.items() if share != common}


def _measure_needle(study: Study, test: TestSpec) -> TestMeasurement:
    from ..manifest import load_site
    from ..needle.mup import analyze_mups, interference_pattern
    from ..needle.spontaneous import detect_spontaneous, grade_muscle

    recs = {site.name: load_site(study, test.id, site.name) for site in test.sites}
    if test.type is TestType.NEEDLE_REST:
        spont = {name: detect_spontaneous(rec) for name, rec in recs.items()}
        return TestMeasurement(test, spontaneous=spont, muscle_grade=grade_muscle(list(spont.values())))
    if test.type is TestType.NEEDLE_MINIMAL:
        mups = analyze_mups(list(recs.values()), muscle=test.muscle, age_years=study.patient.age_years)
        return TestMeasurement(test, mups=mups)
    return TestMeasurement(test, interference={name: interference_pattern(rec) for name, rec in recs.items()})


def measure_study(study: Study) -> StudyMeasurements:
    """Measure every test of ``study``; failures are kept per test with their message."""
    out = []
    for test in study.tests:
        try:
            out.append(_measure_test(study, test))
        except EdxError as exc:
            log.warning("%s: test %s not measured: %s", study.manifest_path, test.id, exc)
            out.append(TestMeasurement(test, error=str(exc)))
    return StudyMeasurements(study, tuple(out))
