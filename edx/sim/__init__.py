"""Deterministic simulator of electrodiagnostic signals with exact ground truth.

* :mod:`edx.sim.ncs` — CMAP (motor-unit sum), SNAP, F-waves, repetitive stimulation,
  direct muscle stimulation;
* :mod:`edx.sim.needle` — fibrillation potentials, positive sharp waves, end-plate
  spikes, fasciculations, motor unit potential trains, recruitment, interference;
* :mod:`edx.sim.noise` — noise, mains hum, baseline drift, stimulus artifact, clipping;
* :mod:`edx.sim.studies` — the sample patient studies in ``sample_data/``.

Every function takes a seed; the same seed gives the same arrays and truth.
"""
