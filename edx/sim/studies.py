"""The sample patient studies shipped in ``sample_data/studies``.

Each study is a folder with its manifest (``study.toml``), its recordings in real file
formats (EDF+D with one sweep per data record for stimulus-locked sweeps, EDF+C with
annotations for continuous trains, EDF or WFDB for needle EMG) and a ``truth.json``:
the ground-truth measurements (from the clean simulated signals, see
:mod:`edx.sim.ncs` and :mod:`edx.sim.needle`) and the pattern the study was built to
show, with the source of that pattern's criteria.

Values are chosen against the reference values and criteria of the project's
clinical notes (CLINICAL.md §2–§4): "low" means below 80 % of the lower limit of
normal, "prolonged duration" above the EFNS/PNS upper limit of the distal CMAP
negative-peak duration, and so on; each study's truth says which.

Regenerate everything (byte-identical on the same platform)::

    python -m edx.sim sample_data/studies
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import shutil
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.edf_write import EdfChannel, write_edf
from . import ncs
from .ncs import DmsSpec, FWaveSpec, MotorSpec, Realism, RnsSpec, SensorySpec

__all__ = ["STUDIES", "generate_all", "generate_study", "generate_crimyne"]

SCHEMA_VERSION = 1
FS_NCS = 20_000.0
FS_NEEDLE = 20_000.0

SOURCES = {
    "criteria": "Stevens et al. 2009 Crit Care Med 37:S299 and Latronico & Bolton 2011 Lancet Neurol 10:931, "
    "criteria as tabulated in Neurohospitalist 2012;2:96 (Table 1) — CLINICAL.md §3",
    "dms": "Rich et al. 1996 Neurology, 1997 Muscle Nerve 20:665 (nCMAP/mCMAP 0.5); Weber-Carstens et al. 2009 "
    "Crit Care Med (mCMAP < 3 mV) — CLINICAL.md §1",
    "rns": "decrement > 10 % abnormal, 5–10 % equivocal (Norwegian KNF guideline; Abraham 2017 Muscle Nerve 55:166) "
    "— CLINICAL.md §1",
    "demyelination": "velocity < 70–80 % of LLN, distal latency > 130 % of ULN, conduction block, temporal "
    "dispersion exclude CIP — CLINICAL.md §3",
    "limits": "textbook lab table (Preston & Shapiro style, unconfirmed) and EFNS/PNS CMAP duration limits "
    "— CLINICAL.md §2",
    "crimyne": "Latronico et al. 2007 Crit Care 11:R11 (CRIMYNE): peroneal CMAP fall > 25 % of baseline on two "
    "consecutive days — CLINICAL.md §4",
    "needle": "fibrillation/PSW and MUP morphology, TA control MUP values — CLINICAL.md §1",
    "temperature": "limbs below 32 °C (hands) / 30 °C (feet) slow conduction — CLINICAL.md §2",
}

DEFINITIONS = {
    "onset_latency_ms": "stimulus to the first departure of the clean response from zero (the earliest "
    "responding unit or fibre)",
    "neg_peak_latency_ms": "stimulus to the minimum (negative peak) of the clean response",
    "amplitude_mv": "baseline (zero) to negative peak of the clean response; SNAPs in amplitude_uv",
    "peak_to_peak_mv": "maximum minus minimum of the clean response",
    "neg_duration_ms": "onset to the upward zero crossing that follows the negative peak",
    "total_duration_ms": "onset to the last time |clean| reaches 1 % of the negative-peak amplitude",
    "neg_area_mvms": "integral of the negative part of the clean response from onset to the end of the "
    "negative phase",
    "total_area_mvms": "integral of |clean| from onset to the end of the total duration",
    "cv_m_s": "segment length / difference of the truth onset latencies of the two sites",
    "decrement_pct": "(A1 - A4) / A1 x 100 on clean amplitudes (areas fall by the same factor)",
    "dms_ratio": "clean nCMAP amplitude / clean mCMAP amplitude",
    "fwaves": "per sweep: onset latency of the F component (first departure) and its peak-to-peak amplitude; "
    "persistence = sweeps with an F-wave / all sweeps",
    "needle": "see edx.sim.needle: discharge onset times, kinds, trains; MUP measures on the clean templates",
    "filters": "the simulated signals are analytic and unfiltered; the files state no filter",
}


def _seed(*parts: str) -> int:
    return zlib.crc32("/".join(parts).encode("utf-8"))


def _round(obj: Any) -> Any:
    """Recursively make ``obj`` JSON-ready: floats rounded, numpy scalars converted, arrays dropped."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _round({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, Mapping):
        return {str(k): _round(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, (list, tuple)):
        return [_round(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return None if not math.isfinite(v) else round(v, 6)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return None
    return obj


# ------------------------------------------------------------------ manifest text


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, float):
        return repr(round(v, 6))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v)} to TOML")


@dataclass
class _Site:
    name: str
    file: str
    distance_mm: float | None = None
    channel: str | None = None
    sweeps: list[int] | None = None
    window_s: list[float] | None = None
    stimulated: str | None = None
    intensity_ma: float | None = None
    duration_ms: float | None = None


@dataclass
class _Test:
    id: str
    type: str
    sites: list[_Site]
    nerve: str | None = None
    muscle: str | None = None
    side: str | None = None
    recording_site: str | None = None
    temperature_c: float | None = None
    rate_hz: float | None = None
    notes: str | None = None


@dataclass
class _Study:
    name: str
    patient: dict[str, Any]
    study: dict[str, Any]
    tests: list[_Test] = field(default_factory=list)
    truth: dict[str, Any] = field(default_factory=dict)

    def manifest_text(self, header: str) -> str:
        out = [f"# {line}".rstrip() for line in header.strip().splitlines()]
        out += ["", f"schema_version = {SCHEMA_VERSION}", "", "[patient]"]
        out += [f"{k} = {_toml_value(v)}" for k, v in self.patient.items()]
        out += ["", "[study]"]
        out += [f"{k} = {_toml_value(v)}" for k, v in self.study.items()]
        for t in self.tests:
            out += ["", "[[tests]]"]
            for k in ("id", "type", "nerve", "muscle", "side", "recording_site", "temperature_c", "rate_hz", "notes"):
                v = getattr(t, k)
                if v is not None:
                    out.append(f"{k} = {_toml_value(v)}")
            for s in t.sites:
                out.append("  [[tests.sites]]")
                for k in ("name", "distance_mm", "stimulated", "intensity_ma", "duration_ms", "file", "channel",
                          "sweeps", "window_s"):
                    v = getattr(s, k)
                    if v is not None:
                        out.append(f"  {k} = {_toml_value(v)}")
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------ writers


def _stim_text(site: str, intensity_ma: float, duration_ms: float = 0.2) -> str:
    return f"Stimulus {site} {intensity_ma:.1f} mA {duration_ms:.1f} ms"


def _write_sweeps(
    path: Path,
    channel: str,
    sweeps: Sequence[np.ndarray],
    fs_hz: float,
    stim_index: int | Sequence[int],
    labels: Sequence[str],
    start: dt.datetime,
    *,
    spacing_s: float = 2.0,
    marker_offset_s: float = 0.0,
    physical_range_uv: tuple[float, float] | None = None,
) -> None:
    """EDF+D: one sweep per data record, records ``spacing_s`` apart, one stimulus annotation each."""
    n = sweeps[0].size
    rec_s = n / fs_hz
    onsets = [k * max(spacing_s, rec_s) for k in range(len(sweeps))]
    idx = list(stim_index) if isinstance(stim_index, Sequence) else [stim_index] * len(sweeps)
    ann = [(o + i / fs_hz + marker_offset_s, None, lab) for o, i, lab in zip(onsets, idx, labels)]
    write_edf(path, [EdfChannel(channel, fs_hz, np.concatenate(sweeps), unit="uV", physical_range=physical_range_uv)],
              record_duration_s=rec_s, record_onsets_s=onsets, annotations=ann, start_datetime=start, patient="X X X X",
              recording=f"Startdate {start.strftime('%d-%b-%Y').upper()} X edx-sim X")


def _write_continuous(path: Path, channel: str, x: np.ndarray, fs_hz: float, start: dt.datetime,
                      annotations: Sequence[tuple[float, float | None, str]] = (), record_s: float = 0.1) -> None:
    spr = int(round(record_s * fs_hz))
    pad = (-x.size) % spr
    if pad:
        raise ValueError(f"{path.name}: {x.size} samples are not whole {record_s} s records")
    write_edf(path, [EdfChannel(channel, fs_hz, x, unit="uV")], record_duration_s=record_s, annotations=annotations,
              start_datetime=start, patient="X X X X",
              recording=f"Startdate {start.strftime('%d-%b-%Y').upper()} X edx-sim X")


def _whole_records(duration_s: float, record_s: float = 0.1) -> float:
    return math.ceil(round(duration_s / record_s, 9)) * record_s


# ------------------------------------------------------------------ test builders


@dataclass(frozen=True)
class _Nerve:
    """Reference geometry of a nerve study (distances as in CLINICAL.md §2)."""

    nerve: str
    muscle: str
    sites: tuple[tuple[str, float], ...]


MOTOR = {
    "median": _Nerve("median", "APB", (("wrist", 70.0), ("elbow", 230.0))),
    "ulnar": _Nerve("ulnar", "ADM", (("wrist", 70.0), ("below elbow", 220.0))),
    "peroneal": _Nerve("peroneal", "EDB", (("ankle", 90.0), ("fibular head", 300.0))),
    "tibial": _Nerve("tibial", "AH", (("ankle", 90.0), ("popliteal fossa", 380.0))),
}
SENSORY = {
    "median": ("digit 2", 130.0),
    "ulnar": ("digit 5", 110.0),
    "sural": ("lateral malleolus", 140.0),
    "superficial peroneal": ("ankle", 120.0),
}


class _Builder:
    """Writes one study's files and collects its manifest entries and truth."""

    def __init__(self, study: _Study, folder: Path, start: dt.datetime, fs_ncs: float = FS_NCS) -> None:
        self.s = study
        self.dir = folder
        self.start = start
        self.fs = fs_ncs
        self.truth_tests: dict[str, Any] = {}

    def seed(self, *parts: str) -> int:
        return _seed(self.s.name, *parts)

    def motor(self, nerve: str, side: str, spec: MotorSpec, *, realism: Realism = Realism(noise_uv_rms=8.0, artifact_mv=3.0),
              temperature_c: float | None = None, marker_offset_s: float = 0.0, sites: int = 2,
              clip_mv: float | None = None, notes: str | None = None) -> None:
        g = MOTOR[nerve]
        tid = f"{nerve}-motor-{side}"
        site_list = list(g.sites[:sites])
        responses, truth = ncs.simulate_motor(spec, site_list, self.fs, realism=realism, seed=self.seed(tid))
        sweeps = [r.samples_v[0] for r in responses]
        clipped_sites: list[str] = []
        if clip_mv is not None:
            # the amplifier's rail applies to every sweep recorded with that gain
            for k, sw in enumerate(sweeps):
                if np.any(np.abs(sw) >= clip_mv * 1e-3):
                    clipped_sites.append(site_list[k][0])
                sweeps[k] = np.clip(sw, -clip_mv * 1e-3, clip_mv * 1e-3)
        fname = f"{tid}.edf"
        intens = [25.0 + 10 * k for k in range(len(site_list))]
        rails = (-clip_mv * 1e3, clip_mv * 1e3) if clip_mv is not None else None  # the ADC rail is the clip level
        _write_sweeps(self.dir / fname, g.muscle, sweeps, self.fs, responses[0].stim_index,
                      [_stim_text(n, i) for (n, _), i in zip(site_list, intens)], self.start,
                      marker_offset_s=marker_offset_s, physical_range_uv=rails)
        self.s.tests.append(_Test(
            tid, "motor", [_Site(n, fname, d, g.muscle, [k], intensity_ma=i, duration_ms=0.2)
                           for k, ((n, d), i) in enumerate(zip(site_list, intens))],
            nerve=nerve, muscle=g.muscle, side=side, temperature_c=temperature_c, notes=notes))
        t = truth.to_dict()
        t.update(type="motor", nerve=nerve, muscle=g.muscle, side=side, model=_round(spec))
        if clip_mv is not None:
            t["clipped_sites"] = clipped_sites
            t["clip_mv"] = clip_mv
        if marker_offset_s:
            t["stimulus_marker_offset_ms"] = round(marker_offset_s * 1e3, 6)
            t["true_stimulus_index"] = responses[0].stim_index
        self.truth_tests[tid] = t

    def sensory(self, nerve: str, side: str, spec: SensorySpec, *, temperature_c: float | None = None,
                realism: Realism = Realism(noise_uv_rms=3.0, artifact_mv=1.0), n_sweeps: int = 8) -> None:
        rec_site, _ = SENSORY[nerve]
        tid = f"{nerve.replace(' ', '-')}-sensory-{side}"
        r = ncs.simulate_sensory(spec, self.fs, n_sweeps=n_sweeps, realism=realism, seed=self.seed(tid), site="stim")
        fname = f"{tid}.edf"
        _write_sweeps(self.dir / fname, "SNAP", list(r.samples_v), self.fs, r.stim_index,
                      [_stim_text("sensory", 12.0, 0.1)] * n_sweeps, self.start, spacing_s=0.5)
        self.s.tests.append(_Test(tid, "sensory", [_Site("stim", fname, spec.distance_mm, "SNAP", sweeps=None,
                                                         intensity_ma=12.0, duration_ms=0.1)],
                                  nerve=nerve, side=side, recording_site=rec_site, temperature_c=temperature_c))
        self.truth_tests[tid] = {"type": "sensory", "nerve": nerve, "side": side,
                                 "sites": {"stim": r.truth.to_dict(sensory=True)}, "n_sweeps": n_sweeps,
                                 "model": _round(spec)}

    def fwave(self, nerve: str, side: str, motor: MotorSpec, spec: FWaveSpec) -> None:
        g = MOTOR[nerve]
        tid = f"{nerve}-f-{side}"
        post = 80.0 if spec.min_latency_ms < 40 else 95.0
        r = ncs.simulate_fwaves(motor, spec, self.fs, realism=Realism(noise_uv_rms=8.0, artifact_mv=3.0),
                                post_ms=post, seed=self.seed(tid), site=g.sites[0][0])
        fname = f"{tid}.edf"
        _write_sweeps(self.dir / fname, g.muscle, list(r.samples_v), self.fs, r.stim_index,
                      [_stim_text(g.sites[0][0], 40.0)] * spec.n_sweeps, self.start, spacing_s=1.0)
        self.s.tests.append(_Test(tid, "f_wave", [_Site(g.sites[0][0], fname, g.sites[0][1], g.muscle)],
                                  nerve=nerve, muscle=g.muscle, side=side))
        self.truth_tests[tid] = {"type": "f_wave", "nerve": nerve, "side": side, "m_response": r.truth.to_dict(),
                                 "fwaves": _round(r.extra["fwaves"]), "model": _round(spec)}

    def rns(self, nerve: str, side: str, motor: MotorSpec, spec: RnsSpec) -> None:
        g = MOTOR[nerve]
        tid = f"{nerve}-rns-{side}"
        pre = 20.0
        span = pre + (spec.n_stimuli - 1) * 1000.0 / spec.rate_hz + 300.0
        post = _whole_records(span / 1000.0) * 1000.0 - pre - (spec.n_stimuli - 1) * 1000.0 / spec.rate_hz
        r = ncs.simulate_rns(motor, spec, self.fs, realism=Realism(noise_uv_rms=8.0, artifact_mv=3.0), pre_ms=pre,
                             post_ms=post, seed=self.seed(tid), site=g.sites[0][0])
        x = r.samples_v[0]
        x = x[: int(round(_whole_records(x.size / self.fs) * self.fs))]
        if x.size % int(round(0.1 * self.fs)):
            x = np.concatenate([x, np.zeros(int(round(0.1 * self.fs)) - x.size % int(round(0.1 * self.fs)))])
        fname = f"{tid}.edf"
        ann = [(i / self.fs, None, _stim_text(g.sites[0][0], 45.0)) for i in r.stim_indices]
        _write_continuous(self.dir / fname, g.muscle, x, self.fs, self.start, ann)
        self.s.tests.append(_Test(tid, "rns", [_Site(g.sites[0][0], fname, g.sites[0][1], g.muscle)],
                                  nerve=nerve, muscle=g.muscle, side=side, rate_hz=spec.rate_hz))
        self.truth_tests[tid] = {"type": "rns", "nerve": nerve, "side": side, "first_response": r.truth.to_dict(),
                                 "rns": _round(r.extra["rns"]), "model": _round(spec)}

    def dms(self, side: str, spec: DmsSpec) -> None:
        tid = f"tibialis-anterior-dms-{side}"
        nerve_r, muscle_r, summary = ncs.simulate_dms(spec, self.fs, realism=Realism(noise_uv_rms=10.0, artifact_mv=2.0),
                                                       seed=self.seed(tid))
        fname = f"{tid}.edf"
        _write_sweeps(self.dir / fname, "TA", [nerve_r.samples_v[0], muscle_r.samples_v[0]], self.fs,
                      nerve_r.stim_index, [_stim_text("fibular head", 40.0), _stim_text("muscle", 30.0, 0.1)], self.start)
        self.s.tests.append(_Test(tid, "dms", [
            _Site("nerve", fname, None, "TA", [0], stimulated="nerve", intensity_ma=40.0, duration_ms=0.2),
            _Site("muscle", fname, None, "TA", [1], stimulated="muscle", intensity_ma=30.0, duration_ms=0.1),
        ], nerve="peroneal", muscle="tibialis anterior", side=side))
        self.truth_tests[tid] = {"type": "dms", "side": side, "nerve": nerve_r.truth.to_dict(),
                                 "muscle": muscle_r.truth.to_dict(), **summary, "model": _round(spec)}

    def needle(self, muscle: str, side: str, kind: str, *, rest: Mapping[str, Any] | None, effort_kind: str | None,
               maximal: bool = True, wfdb: bool = False, fs_hz: float = FS_NEEDLE, rest_sites: int = 2,
               rest_s: float = 6.0, minimal_s: float = 4.0, minimal_sites: int = 5, maximal_s: float = 2.0) -> None:
        from . import needle as nd

        slug = muscle.replace(" ", "-")
        if rest is not None:
            tid = f"{slug}-rest-{side}"
            sites, truths = [], {}
            for k in range(rest_sites):
                x, truth = nd.simulate_rest(rest_s, fs_hz, seed=self.seed(tid, str(k)), **rest)
                fname = self._needle_file(f"{tid}-{k + 1}", x, fs_hz, wfdb)
                sites.append(_Site(f"site {k + 1}", fname, channel="EMG"))
                truths[f"site {k + 1}"] = _needle_truth(truth)
            self.s.tests.append(_Test(tid, "needle_rest", sites, muscle=muscle, side=side))
            self.truth_tests[tid] = {"type": "needle_rest", "muscle": muscle, "side": side, "sites": truths,
                                     "model": _round(rest)}
        if effort_kind is not None:
            # as an examiner does to collect >= 20 MUPs: several needle positions at minimal effort
            tid = f"{slug}-minimal-{side}"
            sites, truths = [], {}
            for k in range(minimal_sites):
                x, truth = nd.simulate_effort(minimal_s, fs_hz, kind=effort_kind, level="minimal",
                                              seed=self.seed(tid, str(k)))
                fname = self._needle_file(f"{tid}-{k + 1}", x, fs_hz, wfdb)
                sites.append(_Site(f"site {k + 1}", fname, channel="EMG"))
                truths[f"site {k + 1}"] = _needle_truth(truth)
            self.s.tests.append(_Test(tid, "needle_minimal", sites, muscle=muscle, side=side))
            self.truth_tests[tid] = {"type": "needle_minimal", "muscle": muscle, "side": side, "kind": effort_kind,
                                     "sites": truths}
            if maximal:
                tid = f"{slug}-maximal-{side}"
                x, truth = nd.simulate_effort(maximal_s, fs_hz, kind=effort_kind, level="maximal", seed=self.seed(tid))
                fname = self._needle_file(tid, x, fs_hz, wfdb)
                self.s.tests.append(_Test(tid, "needle_maximal", [_Site("site 1", fname, channel="EMG")],
                                          muscle=muscle, side=side))
                self.truth_tests[tid] = {"type": "needle_maximal", "muscle": muscle, "side": side, "kind": effort_kind,
                                         **_needle_truth(truth, discharges=False)}

    def _needle_file(self, stem: str, x: np.ndarray, fs_hz: float, wfdb: bool) -> str:
        if wfdb:
            import wfdb as _wfdb

            _wfdb.wrsamp(stem, fs=fs_hz, units=["mV"], sig_name=["EMG"], p_signal=(x * 1e3)[:, None], fmt=["16"],
                         adc_gain=[5000.0], baseline=[0], write_dir=str(self.dir))
            return f"{stem}.hea"
        spr = int(round(0.1 * fs_hz))
        n = x.size - x.size % spr
        _write_continuous(self.dir / f"{stem}.edf", "EMG", x[:n], fs_hz, self.start)
        return f"{stem}.edf"


def _needle_truth(truth: Any, discharges: bool = True) -> dict[str, Any]:
    d = _round(truth)
    d.pop("definitions", None)  # one copy per study, under "needle_definitions"
    if not discharges:
        d.pop("discharges", None)
    return d


# ------------------------------------------------------------------ the studies

_NOISE_MOTOR = Realism(noise_uv_rms=8.0, artifact_mv=3.0)


def _normal_nerves(b: _Builder, side: str = "R", *, fwave: bool = True, temperature_c: float = 33.0,
                   foot_temperature_c: float = 31.0) -> None:
    b.motor("median", side, MotorSpec(distal_latency_ms=3.6, amplitude_mv=9.5, cv_m_s=57.0), temperature_c=temperature_c)
    b.motor("ulnar", side, MotorSpec(distal_latency_ms=2.9, amplitude_mv=10.5, cv_m_s=60.0), temperature_c=temperature_c)
    b.motor("peroneal", side, MotorSpec(distal_latency_ms=4.6, amplitude_mv=6.0, cv_m_s=48.0),
            temperature_c=foot_temperature_c)
    b.motor("tibial", side, MotorSpec(distal_latency_ms=4.5, amplitude_mv=12.0, cv_m_s=47.0),
            temperature_c=foot_temperature_c)
    b.sensory("median", side, SensorySpec(distance_mm=130, amplitude_uv=35.0, cv_m_s=57.0), temperature_c=temperature_c)
    b.sensory("ulnar", side, SensorySpec(distance_mm=110, amplitude_uv=28.0, cv_m_s=57.0), temperature_c=temperature_c)
    b.sensory("sural", side, SensorySpec(distance_mm=140, amplitude_uv=18.0, cv_m_s=50.0),
              temperature_c=foot_temperature_c)
    if fwave:
        b.fwave("median", side, MotorSpec(distal_latency_ms=3.6, amplitude_mv=9.5), FWaveSpec(min_latency_ms=26.5))
        b.fwave("tibial", side, MotorSpec(distal_latency_ms=4.5, amplitude_mv=12.0),
                FWaveSpec(min_latency_ms=48.0, chronodispersion_ms=3.0))


def _study_normal(b: _Builder) -> dict[str, Any]:
    _normal_nerves(b)
    b.dms("R", DmsSpec(mcmap_mv=6.0, ncmap_mv=5.4))
    b.needle("tibialis anterior", "R", "normal", rest={"fibrillation_trains": 0, "psw_trains": 0}, effort_kind="normal")
    return {
        "pattern": "normal",
        "grade_at_most": None,
        "sources": [SOURCES["limits"], SOURCES["dms"], SOURCES["needle"]],
        "reasoning": [
            "all CMAP and SNAP amplitudes above 80 % of the lower limits, durations, latencies and velocities normal",
            "nCMAP/mCMAP 0.9 with a normal mCMAP (6 mV): ratio > 0.5 is not myopathic when the mCMAP is normal",
            "no spontaneous activity, normal MUPs and recruitment in tibialis anterior",
        ],
    }


def _study_cim(b: _Builder) -> dict[str, Any]:
    slow = 2.0  # m/s muscle-fibre conduction: prolongs CMAP duration
    b.motor("median", "R", MotorSpec(distal_latency_ms=3.9, amplitude_mv=2.4, cv_m_s=55.0, mfcv_m_s=slow), temperature_c=33.0)
    b.motor("ulnar", "R", MotorSpec(distal_latency_ms=3.1, amplitude_mv=3.0, cv_m_s=56.0, mfcv_m_s=slow), temperature_c=33.0)
    b.motor("peroneal", "R", MotorSpec(distal_latency_ms=5.0, amplitude_mv=0.9, cv_m_s=46.0, mfcv_m_s=slow), temperature_c=31.5)
    b.motor("tibial", "R", MotorSpec(distal_latency_ms=4.8, amplitude_mv=2.2, cv_m_s=45.0, mfcv_m_s=slow), temperature_c=31.5)
    b.sensory("median", "R", SensorySpec(distance_mm=130, amplitude_uv=28.0, cv_m_s=56.0), temperature_c=33.0)
    b.sensory("ulnar", "R", SensorySpec(distance_mm=110, amplitude_uv=22.0, cv_m_s=56.0), temperature_c=33.0)
    b.sensory("sural", "R", SensorySpec(distance_mm=140, amplitude_uv=14.0, cv_m_s=49.0), temperature_c=31.5)
    b.fwave("median", "R", MotorSpec(distal_latency_ms=3.9, amplitude_mv=2.4, mfcv_m_s=slow),
            FWaveSpec(min_latency_ms=27.5, persistence=0.6, amplitude_mv=0.15))
    b.dms("R", DmsSpec(mcmap_mv=1.6, ncmap_mv=1.2, mfcv_m_s=slow))
    b.needle("tibialis anterior", "R", "myopathic",
             rest={"fibrillation_trains": 4, "psw_trains": 1}, effort_kind="myopathic")
    return {
        "pattern": "CIM",
        "grade_at_most": "probable",
        "sources": [SOURCES["criteria"], SOURCES["dms"], SOURCES["limits"], SOURCES["needle"]],
        "reasoning": [
            "CMAP amplitudes below 80 % of the lower limit in 4 nerves (median 2.4, ulnar 3.0, peroneal 0.9, tibial 2.2 mV)",
            "CMAP negative-peak durations prolonged beyond the EFNS/PNS limits (muscle-fibre conduction 2 m/s)",
            "SNAPs above 80 % of the lower limit in 3 nerves",
            "normal velocities and distal latencies, no conduction block",
            "nCMAP/mCMAP 0.75 > 0.5 with mCMAP 1.6 mV < 3 mV: muscle membrane inexcitable",
            "fibrillation potentials; short, small, polyphasic MUPs with early recruitment",
            "no biopsy: at most 'probable'",
        ],
    }


def _study_cip(b: _Builder) -> dict[str, Any]:
    b.fs = 10_000.0  # this study's NCS sampled at 10 kHz
    b.motor("median", "R", MotorSpec(distal_latency_ms=3.8, amplitude_mv=2.2, cv_m_s=52.0), temperature_c=33.0)
    b.motor("ulnar", "R", MotorSpec(distal_latency_ms=3.0, amplitude_mv=2.6, cv_m_s=53.0), temperature_c=33.0)
    b.motor("peroneal", "R", MotorSpec(distal_latency_ms=5.2, amplitude_mv=0.7, cv_m_s=45.0), temperature_c=31.0)
    b.motor("tibial", "R", MotorSpec(distal_latency_ms=5.0, amplitude_mv=1.5, cv_m_s=43.0), temperature_c=31.0)
    b.sensory("median", "R", SensorySpec(distance_mm=130, amplitude_uv=7.0, cv_m_s=54.0), temperature_c=33.0)
    b.sensory("ulnar", "R", SensorySpec(distance_mm=110, amplitude_uv=5.0, cv_m_s=54.0), temperature_c=33.0)
    b.sensory("sural", "R", SensorySpec(distance_mm=140, amplitude_uv=2.5, cv_m_s=47.0), temperature_c=31.0)
    b.fwave("tibial", "R", MotorSpec(distal_latency_ms=5.0, amplitude_mv=1.5),
            FWaveSpec(min_latency_ms=52.0, persistence=0.4, amplitude_mv=0.2, chronodispersion_ms=3.5))
    b.dms("R", DmsSpec(mcmap_mv=5.0, ncmap_mv=1.0))
    b.needle("tibialis anterior", "R", "neurogenic",
             rest={"fibrillation_trains": 5, "psw_trains": 3}, effort_kind="neurogenic", wfdb=True, fs_hz=10_000.0)
    return {
        "pattern": "CIP",
        "grade_at_most": "probable",
        "sources": [SOURCES["criteria"], SOURCES["dms"], SOURCES["limits"], SOURCES["needle"]],
        "reasoning": [
            "CMAP amplitudes below 80 % of the lower limit in 4 nerves with normal durations",
            "SNAP amplitudes below 80 % of the lower limit in 3 nerves (median 7, ulnar 5, sural 2.5 µV)",
            "normal velocities and distal latencies: axonal, not demyelinating",
            "nCMAP/mCMAP 0.2 < 0.5 with a normal mCMAP (5 mV): muscle excitable, nerve not",
            "ICU day 21: fibrillations and positive sharp waves; long, large MUPs with reduced recruitment",
        ],
    }


def _study_cinm(b: _Builder) -> dict[str, Any]:
    b.fs = 48_000.0  # this study's NCS sampled at 48 kHz
    slow = 2.2
    b.motor("median", "R", MotorSpec(distal_latency_ms=4.0, amplitude_mv=2.0, cv_m_s=51.0, mfcv_m_s=slow), temperature_c=33.0)
    b.motor("ulnar", "R", MotorSpec(distal_latency_ms=3.2, amplitude_mv=2.5, cv_m_s=52.0, mfcv_m_s=slow), temperature_c=33.0)
    b.motor("peroneal", "R", MotorSpec(distal_latency_ms=5.4, amplitude_mv=0.6, cv_m_s=44.5, mfcv_m_s=slow), temperature_c=31.0)
    b.motor("tibial", "R", MotorSpec(distal_latency_ms=5.2, amplitude_mv=1.4, cv_m_s=42.0, mfcv_m_s=slow), temperature_c=31.0)
    b.sensory("median", "R", SensorySpec(distance_mm=130, amplitude_uv=8.0, cv_m_s=53.0), temperature_c=33.0)
    b.sensory("ulnar", "R", SensorySpec(distance_mm=110, amplitude_uv=6.0, cv_m_s=53.0), temperature_c=33.0)
    b.sensory("sural", "R", SensorySpec(distance_mm=140, amplitude_uv=2.0, cv_m_s=46.0), temperature_c=31.0)
    b.dms("R", DmsSpec(mcmap_mv=1.5, ncmap_mv=0.9, mfcv_m_s=slow))
    b.needle("tibialis anterior", "R", "myopathic", rest={"fibrillation_trains": 5, "psw_trains": 2},
             effort_kind="myopathic", maximal=False)
    return {
        "pattern": "CINM",
        "grade_at_most": "probable",
        "sources": [SOURCES["criteria"], SOURCES["dms"], SOURCES["limits"], SOURCES["needle"]],
        "reasoning": [
            "low CMAPs (4 nerves) with prolonged durations: myopathic component",
            "low SNAPs (3 nerves): neuropathic component",
            "nCMAP/mCMAP 0.6 > 0.5 with mCMAP 1.5 mV < 3 mV: muscle inexcitable",
            "myopathic MUPs; fibrillations and positive sharp waves",
            "criteria of both CIP and CIM met: CINM",
        ],
    }


def _study_demyelinating(b: _Builder) -> dict[str, Any]:
    b.motor("median", "R", MotorSpec(distal_latency_ms=6.2, amplitude_mv=5.5, cv_m_s=30.0, cv_spread_m_s=8.0,
                                     latency_dispersion_ms=0.7, block=(0.55,)), temperature_c=33.0)
    b.motor("ulnar", "R", MotorSpec(distal_latency_ms=4.6, amplitude_mv=6.5, cv_m_s=32.0, cv_spread_m_s=8.0,
                                    latency_dispersion_ms=0.7, block=(0.5,)), temperature_c=33.0)
    b.motor("peroneal", "R", MotorSpec(distal_latency_ms=8.8, amplitude_mv=3.0, cv_m_s=28.0, cv_spread_m_s=7.0,
                                       latency_dispersion_ms=0.8), temperature_c=31.5)
    b.motor("tibial", "R", MotorSpec(distal_latency_ms=7.8, amplitude_mv=6.0, cv_m_s=29.0, cv_spread_m_s=7.0,
                                     latency_dispersion_ms=0.8, block=(0.3,)), temperature_c=31.5)
    b.sensory("median", "R", SensorySpec(distance_mm=130, amplitude_uv=9.0, cv_m_s=38.0), temperature_c=33.0)
    b.sensory("ulnar", "R", SensorySpec(distance_mm=110, amplitude_uv=8.0, cv_m_s=38.0), temperature_c=33.0)
    b.sensory("sural", "R", SensorySpec(distance_mm=140, amplitude_uv=16.0, cv_m_s=47.0), temperature_c=31.5)
    b.fwave("median", "R", MotorSpec(distal_latency_ms=6.2, amplitude_mv=5.5), FWaveSpec(min_latency_ms=42.0,
            persistence=0.5, chronodispersion_ms=6.0))
    b.fwave("tibial", "R", MotorSpec(distal_latency_ms=7.8, amplitude_mv=6.0), FWaveSpec(min_latency_ms=70.0,
            persistence=0.45, chronodispersion_ms=7.0))
    b.needle("tibialis anterior", "R", "normal", rest={"fibrillation_trains": 0, "psw_trains": 0},
             effort_kind="normal", maximal=False)
    return {
        "pattern": "demyelinating",
        "grade_at_most": None,
        "sources": [SOURCES["demyelination"], SOURCES["limits"]],
        "reasoning": [
            "conduction velocities 28–32 m/s, below 70 % of the lower limits in 4 nerves",
            "distal latencies above 130 % of the upper limits (median 6.2, ulnar 4.6, peroneal 8.8, tibial 7.8 ms)",
            "conduction block with temporal dispersion in median, ulnar and tibial nerves",
            "prolonged minimal F latencies (median 42 ms, tibial 70 ms)",
            "abnormal median/ulnar SNAPs with a normal sural SNAP (sural sparing)",
            "demyelinating features exclude CIP: consider GBS/CIDP",
        ],
    }


def _study_nmj(b: _Builder) -> dict[str, Any]:
    _normal_nerves(b, fwave=False)
    b.rns("ulnar", "R", MotorSpec(distal_latency_ms=2.9, amplitude_mv=10.5), RnsSpec(rate_hz=3.0, decrement_pct=28.0))
    b.rns("median", "R", MotorSpec(distal_latency_ms=3.6, amplitude_mv=9.5), RnsSpec(rate_hz=3.0, decrement_pct=22.0))
    b.needle("tibialis anterior", "R", "normal", rest={"fibrillation_trains": 0, "psw_trains": 0}, effort_kind=None)
    return {
        "pattern": "neuromuscular_junction",
        "grade_at_most": None,
        "sources": [SOURCES["rns"], SOURCES["criteria"]],
        "reasoning": [
            "normal CMAP and SNAP amplitudes, durations, latencies and velocities",
            "decrement on 3 Hz repetitive stimulation 28 % (ulnar) and 22 % (median), > 10 %",
            "no spontaneous activity: prolonged neuromuscular blockade",
        ],
    }


def _study_absent(b: _Builder) -> dict[str, Any]:
    b.motor("median", "R", MotorSpec(distal_latency_ms=3.9, amplitude_mv=1.5, cv_m_s=50.0), temperature_c=33.0)
    b.motor("ulnar", "R", MotorSpec(distal_latency_ms=3.1, amplitude_mv=2.0, cv_m_s=51.0), temperature_c=33.0)
    b.motor("peroneal", "R", MotorSpec(distal_latency_ms=5.0, amplitude_mv=0.0), temperature_c=31.0,
            notes="no response at either site at maximal stimulation")
    b.motor("tibial", "R", MotorSpec(distal_latency_ms=5.1, amplitude_mv=0.8, cv_m_s=42.0), temperature_c=31.0)
    b.sensory("median", "R", SensorySpec(distance_mm=130, amplitude_uv=0.0), temperature_c=33.0)
    b.sensory("ulnar", "R", SensorySpec(distance_mm=110, amplitude_uv=4.0, cv_m_s=52.0), temperature_c=33.0)
    b.sensory("sural", "R", SensorySpec(distance_mm=140, amplitude_uv=0.0), temperature_c=31.0)
    b.dms("R", DmsSpec(mcmap_mv=4.5, ncmap_mv=0.0))
    return {
        "pattern": "CIP",
        "grade_at_most": "probable",
        "sources": [SOURCES["criteria"], SOURCES["dms"], SOURCES["limits"]],
        "reasoning": [
            "absent peroneal CMAP, absent median and sural SNAPs: absent responses are findings, not errors",
            "remaining CMAPs and the ulnar SNAP below 80 % of the lower limits",
            "no nerve-evoked tibialis anterior response while the muscle-evoked response is normal (4.5 mV): ratio 0",
        ],
    }


def _study_artifacts(b: _Builder) -> dict[str, Any]:
    b.motor("median", "R", MotorSpec(distal_latency_ms=3.6, amplitude_mv=12.0, cv_m_s=57.0), temperature_c=33.0,
            clip_mv=5.0, notes="amplifier gain too high: the sweeps are clipped at the 5 mV rail")
    b.motor("ulnar", "R", MotorSpec(distal_latency_ms=2.9, amplitude_mv=10.5, cv_m_s=60.0), temperature_c=33.0,
            marker_offset_s=0.0012, notes="the machine's stimulus markers are 1.2 ms late")
    b.motor("peroneal", "R", MotorSpec(distal_latency_ms=4.6, amplitude_mv=6.0, cv_m_s=48.0), temperature_c=31.0)
    b.motor("tibial", "R", MotorSpec(distal_latency_ms=4.5, amplitude_mv=12.0, cv_m_s=47.0), temperature_c=31.0,
            realism=Realism(noise_uv_rms=10.0, hum_uv=50.0, mains_hz=60.0, offset_uv=200.0, drift_uv=100.0,
                            artifact_mv=3.0))
    b.sensory("ulnar", "R", SensorySpec(distance_mm=110, amplitude_uv=28.0, cv_m_s=57.0), temperature_c=33.0)
    b.sensory("sural", "R", SensorySpec(distance_mm=140, amplitude_uv=18.0, cv_m_s=50.0), temperature_c=31.0,
              realism=Realism(noise_uv_rms=3.0, hum_uv=20.0, mains_hz=50.0, artifact_mv=1.0))
    return {
        "pattern": "normal",
        "grade_at_most": None,
        "sources": [SOURCES["limits"]],
        "reasoning": [
            "the clipped median sweeps cannot be measured (quality failure), the other nerves are normal",
            "the ulnar markers are 1.2 ms late: the stimulus must be taken from the artifact, then the ulnar "
            "nerve is normal",
            "tibial recorded with 60 Hz hum, offset and drift; sural with 50 Hz hum",
        ],
    }


def _study_cold(b: _Builder) -> dict[str, Any]:
    foot = 27.0
    cv = ncs.temperature_adjusted_cv
    b.motor("median", "R", MotorSpec(distal_latency_ms=3.6, amplitude_mv=9.5, cv_m_s=57.0), temperature_c=33.0)
    b.motor("peroneal", "R", MotorSpec(distal_latency_ms=5.6, amplitude_mv=6.5, cv_m_s=cv(50.0, foot)), temperature_c=foot)
    b.motor("tibial", "R", MotorSpec(distal_latency_ms=5.4, amplitude_mv=13.0, cv_m_s=cv(49.0, foot)), temperature_c=foot)
    b.sensory("median", "R", SensorySpec(distance_mm=130, amplitude_uv=35.0, cv_m_s=57.0), temperature_c=33.0)
    b.sensory("sural", "R", SensorySpec(distance_mm=140, amplitude_uv=20.0, cv_m_s=cv(50.0, foot)), temperature_c=foot)
    return {
        "pattern": "normal",
        "grade_at_most": None,
        "caveats": ["cold_limb"],
        "sources": [SOURCES["temperature"], SOURCES["limits"]],
        "reasoning": [
            "foot at 27 °C (below 30 °C): peroneal and tibial velocities and sural latency are slowed by cold "
            f"({ncs.CV_PER_DEG_C:g} m/s per °C below {ncs.REFERENCE_TEMP_C:g} °C in the simulation)",
            "amplitudes normal; the arm (33 °C) is normal: warm the limb and repeat, not demyelination",
        ],
    }


@dataclass(frozen=True)
class _Def:
    name: str
    patient: dict[str, Any]
    study: dict[str, Any]
    build: Callable[[_Builder], dict[str, Any]]
    description: str


STUDIES: tuple[_Def, ...] = (
    _Def("normal", {"id": "SIM-NORMAL-01", "age_years": 45, "sex": "M", "height_cm": 178},
         {"date": dt.date(2026, 3, 2), "icu_day": 5, "sedated": False, "mrc_sum_score": 58},
         _study_normal, "Normal control: an ICU patient with a normal full study."),
    _Def("cim", {"id": "SIM-CIM-01", "age_years": 62, "sex": "F", "height_cm": 165},
         {"date": dt.date(2026, 3, 3), "icu_day": 12, "sedated": False, "mrc_sum_score": 34, "handgrip_kg": 5.0},
         _study_cim, "Critical illness myopathy."),
    _Def("cip", {"id": "SIM-CIP-01", "age_years": 58, "sex": "M", "height_cm": 181},
         {"date": dt.date(2026, 3, 4), "icu_day": 21, "sedated": False, "mrc_sum_score": 38, "handgrip_kg": 9.0},
         _study_cip, "Critical illness polyneuropathy (axonal sensorimotor)."),
    _Def("cinm", {"id": "SIM-CINM-01", "age_years": 67, "sex": "M", "height_cm": 174},
         {"date": dt.date(2026, 3, 5), "icu_day": 18, "sedated": False, "mrc_sum_score": 30},
         _study_cinm, "Critical illness neuromyopathy (CIP and CIM)."),
    _Def("demyelinating", {"id": "SIM-GBS-01", "age_years": 40, "sex": "F", "height_cm": 168},
         {"date": dt.date(2026, 3, 6), "icu_day": 4, "sedated": False, "mrc_sum_score": 28},
         _study_demyelinating, "Demyelinating (GBS-like) differential."),
    _Def("nmj_blockade", {"id": "SIM-NMB-01", "age_years": 55, "sex": "M", "height_cm": 176},
         {"date": dt.date(2026, 3, 7), "icu_day": 6, "sedated": True, "neuromuscular_blockers": True},
         _study_nmj, "Prolonged neuromuscular blockade (decrement on 3 Hz RNS)."),
    _Def("absent_responses", {"id": "SIM-ABS-01", "age_years": 71, "sex": "F", "height_cm": 160},
         {"date": dt.date(2026, 3, 8), "icu_day": 19, "sedated": True, "oedema": ["legs"]},
         _study_absent, "Awkward case: absent responses (severe axonal neuropathy)."),
    _Def("artifacts", {"id": "SIM-ART-01", "age_years": 50, "sex": "M", "height_cm": 180},
         {"date": dt.date(2026, 3, 9), "icu_day": 3, "sedated": True},
         _study_artifacts, "Awkward case: a clipped sweep, late stimulus markers, hum, offset and drift."),
    _Def("cold_limb", {"id": "SIM-COLD-01", "age_years": 48, "sex": "F", "height_cm": 170},
         {"date": dt.date(2026, 3, 10), "icu_day": 2, "sedated": True},
         _study_cold, "Awkward case: a cold foot slowing lower-limb conduction."),
)


def generate_study(d: _Def, out: Path) -> Path:
    """Write one study folder (manifest, recordings, truth.json); return the folder."""
    folder = out / d.name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    study = _Study(d.name, dict(d.patient), dict(d.study))
    b = _Builder(study, folder, dt.datetime.combine(d.study["date"], dt.time(9, 0, 0)))
    expected = d.build(b)
    header = (f"edx sample study '{d.name}': {d.description}\nSimulated by edx.sim (python -m edx.sim); "
              "ground truth and the expected pattern in truth.json.")
    (folder / "study.toml").write_text(study.manifest_text(header), encoding="utf-8")
    truth = {
        "schema_version": SCHEMA_VERSION,
        "study": d.name,
        "description": d.description,
        "patient": _round(d.patient),
        "expected": _round(expected),
        "definitions": DEFINITIONS,
        "tests": _round(b.truth_tests),
    }
    if any(t.type.startswith("needle") for t in study.tests):
        from .needle import DEFINITIONS as NEEDLE_DEFINITIONS

        truth["needle_definitions"] = dict(NEEDLE_DEFINITIONS)
    _write_json(folder / "truth.json", truth)
    return folder


# ------------------------------------------------------------------ CRIMYNE series

CRIMYNE_DAYS = 7
# peroneal CMAP (EDB) per ICU day, mV: day-to-day variation, then a fall > 25 % from day 4 on
CRIMYNE_PERONEAL = {"R": (5.2, 5.35, 4.6, 3.6, 3.2, 2.8, 2.5), "L": (4.8, 4.7, 4.3, 3.4, 3.0, 2.7, 2.3)}
CRIMYNE_SURAL_UV = (14.0, 14.5, 13.8, 14.2, 13.5, 12.8, 12.0)


def generate_crimyne(out: Path) -> Path:
    """Write the CRIMYNE series: one patient's daily peroneal (both sides) and sural studies."""
    folder = out / "crimyne"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    days = []
    base = {s: v[0] for s, v in CRIMYNE_PERONEAL.items()}
    for k in range(CRIMYNE_DAYS):
        day = k + 1
        date = dt.date(2026, 4, 1) + dt.timedelta(days=k)
        study = _Study(f"crimyne-day{day:02d}", {"id": "SIM-CRIMYNE-01", "age_years": 59, "sex": "M", "height_cm": 177},
                       {"date": date, "icu_day": day, "sedated": True})
        sub = folder
        b = _Builder(study, sub, dt.datetime.combine(date, dt.time(8, 30, 0)))
        b.s.name = f"crimyne/day{day:02d}"
        for side, values in CRIMYNE_PERONEAL.items():
            b.motor("peroneal", side, MotorSpec(distal_latency_ms=4.7, amplitude_mv=values[k], cv_m_s=47.0), sites=1,
                    temperature_c=31.5)
        b.sensory("sural", "R", SensorySpec(distance_mm=140, amplitude_uv=CRIMYNE_SURAL_UV[k], cv_m_s=49.0),
                  temperature_c=31.5)
        # files of each day carry the day in their name
        for t in study.tests:
            for s in t.sites:
                new = f"day{day:02d}_{s.file}"
                (sub / s.file).rename(sub / new)
                s.file = new
        header = (f"edx sample CRIMYNE series, ICU day {day}: daily peroneal CMAP (both sides) and sural SNAP.\n"
                  "Simulated by edx.sim; ground truth and the expected alert in truth.json.")
        (sub / f"day{day:02d}.toml").write_text(study.manifest_text(header), encoding="utf-8")
        falls = {s: round(100.0 * (1 - CRIMYNE_PERONEAL[s][k] / base[s]), 6) for s in base}
        days.append({"icu_day": day, "date": date.isoformat(), "tests": _round(b.truth_tests), "fall_from_baseline_pct": falls})
    # the alert: the second of two consecutive days with a fall > 25 % (either side)
    over = [any(d["fall_from_baseline_pct"][s] > 25.0 for s in base) for d in days]
    alert_day = next((days[i]["icu_day"] for i in range(1, len(days)) if over[i] and over[i - 1]), None)
    truth = {
        "schema_version": SCHEMA_VERSION,
        "series": "crimyne",
        "patient": "SIM-CRIMYNE-01",
        "expected": {
            "alert_icu_day": alert_day,
            "first_day_over_25pct": next((days[i]["icu_day"] for i in range(len(days)) if over[i]), None),
            "rule": "peroneal CMAP more than 25 % below the day-1 (ICU admission) baseline on two consecutive days",
            "sources": [SOURCES["crimyne"]],
            "baseline_mv": base,
        },
        "definitions": DEFINITIONS,
        "days": days,
    }
    _write_json(folder / "truth.json", truth)
    return folder


def _write_json(path: Path, obj: Any) -> None:
    # insertion order (deterministic) keeps sites distal first and responses in train order
    path.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def generate_all(out: str | Path) -> list[Path]:
    """Regenerate every sample study and the CRIMYNE series under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    folders = [generate_study(d, out) for d in STUDIES]
    folders.append(generate_crimyne(out))
    return folders
