"""Overview figure of the sample studies, read back from their files through the manifests.

One row per pattern study: the median (or ulnar) motor response at both sites, the
averaged median and sural SNAPs, the direct-muscle-stimulation pair, and a needle or
repetitive-stimulation panel.  Traces are drawn negative up, as on an EMG machine.

Run: ``python sample_data/plot_studies.py [OUT.png]`` (default ``sample_data/studies_overview.png``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import edx

HERE = Path(__file__).resolve().parent
ROWS = ["normal", "cim", "cip", "cinm", "demyelinating", "nmj_blockade"]


def _ms(sw: edx.Sweep) -> np.ndarray:
    return (np.arange(sw.n_samples) - sw.stimulus_index) / sw.fs_hz * 1e3


def _avg(resp: edx.Response) -> tuple[np.ndarray, np.ndarray]:
    sw = resp.sweeps[0]
    return _ms(sw), np.mean([s.samples_v for s in resp.sweeps], axis=0)


def main(out: Path) -> None:
    fig, axes = plt.subplots(len(ROWS), 4, figsize=(16, 2.6 * len(ROWS)))
    for r, name in enumerate(ROWS):
        study = edx.read_manifest(HERE / "studies" / name / "study.toml")
        ids = {t.id for t in study.tests}
        ax = axes[r, 0]
        for k, site in enumerate(("wrist", "elbow")):
            sw = edx.load_site(study, "median-motor-R", site).sweeps[0]
            ax.plot(_ms(sw), sw.samples_v * 1e3 + 6 * k, lw=0.8, label=site)
        ax.set(xlim=(-2, 35), title=f"{name}: median motor (APB)", ylabel="mV")
        ax.legend(fontsize=7, loc="lower right")
        ax = axes[r, 1]
        peak = 5.0
        for test, colour in (("median-sensory-R", "C0"), ("sural-sensory-R", "C1")):
            t, x = _avg(edx.load_site(study, test, 0))
            ax.plot(t, x * 1e6, lw=0.8, color=colour, label=test.split("-")[0])
            peak = max(peak, float(np.abs(x[t > 1.5]).max() * 1e6))
        # zoom on the responses; the 1 mV stimulus artifact at 0 ms runs off the scale
        ax.set(xlim=(-1, 10), ylim=(-1.3 * peak, 1.3 * peak), title="SNAPs (averaged)", ylabel="µV")
        ax.legend(fontsize=7, loc="lower right")
        ax = axes[r, 2]
        dms = "tibialis-anterior-dms-R"
        if dms in ids:
            for site in ("nerve", "muscle"):
                sw = edx.load_site(study, dms, site).sweeps[0]
                ax.plot(_ms(sw), sw.samples_v * 1e3, lw=0.8, label=f"{site}-evoked")
            ax.set(xlim=(-2, 30), title="tibialis anterior: nCMAP / mCMAP", ylabel="mV")
            ax.legend(fontsize=7, loc="lower right")
        else:
            ax.set_axis_off()
        ax = axes[r, 3]
        if "ulnar-rns-R" in ids:
            sw = edx.load_site(study, "ulnar-rns-R", 0).sweeps[0]
            ax.plot(np.arange(sw.n_samples) / sw.fs_hz, sw.samples_v * 1e3, lw=0.5)
            ax.set(title="ulnar 3 Hz repetitive stimulation", xlabel="s", ylabel="mV")
        else:
            test = "tibialis-anterior-rest-R"
            rec = edx.load_site(study, test, 0)
            tr = rec.traces[0]
            n = int(2.0 * tr.fs_hz)
            ax.plot(np.arange(n) / tr.fs_hz, tr.samples_v[:n] * 1e6, lw=0.4)
            ax.set(title="tibialis anterior at rest (2 s)", xlabel="s", ylabel="µV")
        for a in axes[r]:
            if a.axison:
                a.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out, dpi=80)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "studies_overview.png")
