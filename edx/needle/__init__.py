"""Needle EMG: spontaneous activity at rest and motor unit potential analysis."""
