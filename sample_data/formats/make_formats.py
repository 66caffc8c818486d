"""Write one small synthetic ulnar motor study in every file format edx reads.

The same two responses (ADM recording; stimulation at the wrist and 230 mm proximal at
the elbow) are stored as EDF+C, EDF+D, BDF+D, WFDB (+ stimulus annotation file),
BrainVision, Axon ABF (episodic), .npy, .npz and .csv, together with a manifest
(``formats.toml``) whose tests point at each file.  The tests use these files, and
``edx info sample_data/formats`` shows them.

The waveform is a plain analytic biphasic wave with seeded noise — enough to exercise
the loaders.  Physiologically modelled studies with ground truth come from ``edx.sim``.

Run: ``python sample_data/formats/make_formats.py`` (needs the ``test`` extra: pybv, pyabf).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from edx.io.edf_write import EdfChannel, write_edf

HERE = Path(__file__).resolve().parent
FS = 20_000.0  # Hz
SWEEP_S = 0.05  # 50 ms per sweep
PRE_S = 0.005  # stimulus 5 ms into each sweep
START = dt.datetime(2026, 3, 14, 10, 0, 0)
SITES = {"wrist": 3.0e-3, "elbow": 7.0e-3}  # onset latency (s): 230 mm / 4 ms = 57.5 m/s


def sweep(latency_s: float, rng: np.random.Generator) -> np.ndarray:
    """One 50 ms sweep (volts): small stimulus artifact, then a biphasic CMAP of about 8 mV."""
    t = np.arange(int(SWEEP_S * FS)) / FS - PRE_S
    x = rng.normal(0.0, 5e-6, t.size)
    k = int(round(PRE_S * FS))
    x[k : k + 3] += np.array([1.2e-3, -0.6e-3, 0.2e-3])
    neg = -8e-3 * np.exp(-0.5 * ((t - latency_s - 2.2e-3) / 1.1e-3) ** 2)
    pos = 3e-3 * np.exp(-0.5 * ((t - latency_s - 6.5e-3) / 2.0e-3) ** 2)
    onset = 0.5 * (1 + np.tanh((t - latency_s) / 0.15e-3))
    return x + (neg + pos) * onset


def main() -> None:
    rng = np.random.default_rng(20260314)
    wrist = sweep(SITES["wrist"], rng)
    elbow = sweep(SITES["elbow"], rng)
    both = np.concatenate([wrist, elbow])
    stim_label = "Stimulus 18.0 mA 0.2 ms"

    # EDF+D and BDF+D: one sweep per data record, records 2.0 s apart
    onsets = [0.0, 2.0]
    ann = [(o + PRE_S, None, stim_label) for o in onsets]
    for name, bdf in (("ulnar_edfd.edf", False), ("ulnar_bdfd.bdf", True)):
        write_edf(HERE / name, [EdfChannel("ADM", FS, both, unit="uV", prefiltering="HP:2Hz LP:10kHz")],
                  record_duration_s=SWEEP_S, record_onsets_s=onsets, annotations=ann, bdf=bdf, start_datetime=START)

    # EDF+C: continuous 2 s, the two responses at 0.5 s and 1.5 s
    cont = rng.normal(0.0, 5e-6, int(2.0 * FS))
    for t0, x in ((0.5, wrist), (1.5, elbow)):
        i = int(round((t0 - PRE_S) * FS))
        cont[i : i + x.size] = x
    write_edf(HERE / "ulnar_edfc.edf", [EdfChannel("ADM", FS, cont, unit="uV", prefiltering="HP:2Hz LP:10kHz")],
              record_duration_s=0.1, annotations=[(0.5, None, stim_label), (1.5, None, stim_label)],
              start_datetime=START)

    # WFDB with a stimulus annotation file
    import wfdb

    wfdb.wrsamp("ulnar_wfdb", fs=FS, units=["mV"], sig_name=["ADM"], p_signal=(cont * 1e3)[:, None], fmt=["16"],
                adc_gain=[2000.0], baseline=[0], write_dir=str(HERE))
    wfdb.wrann("ulnar_wfdb", "atr", np.array([int(0.5 * FS), int(1.5 * FS)]), symbol=['"', '"'],
               aux_note=["stim", "stim"], fs=FS, write_dir=str(HERE))

    # BrainVision (pybv), microvolts, stimulus markers
    import pybv

    pybv.write_brainvision(data=cont[None, :],  # pybv takes volts and stores in `unit`
                           sfreq=FS, ch_names=["ADM"], fname_base="ulnar_brainvision",
                           folder_out=str(HERE), overwrite=True, unit="µV", resolution=0.01,
                           events=np.array([[int(0.5 * FS), 0, 1], [int(1.5 * FS), 0, 1]]), fmt="binary_float32")

    # Axon ABF1 (episodic): one sweep per stimulation site, millivolts
    import pyabf.abfWriter

    pyabf.abfWriter.writeABF1(np.vstack([wrist, elbow]) * 1e3, str(HERE / "ulnar_axon.abf"), FS, units="mV")

    # arrays
    np.save(HERE / "ulnar_continuous.npy", cont * 1e6)  # microvolts; rate and unit in the manifest
    np.savez(HERE / "ulnar_sweeps.npz", samples=both[None, :] * 1e3, fs_hz=FS, unit="mV",
             channel_names=np.array(["ADM"]), stimulus_s=np.array([PRE_S, SWEEP_S + PRE_S]))
    t = np.arange(cont.size) / FS
    lines = ["time_s,ADM [mV]"] + [f"{ti:.6f},{xi * 1e3:.6f}" for ti, xi in zip(t, cont)]
    (HERE / "ulnar_continuous.csv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
