"""Analyses on top of simulations and sweeps: global sensitivity, dose-response and more.

Modules are imported on their own (``from neurosim.analysis.sensitivity
import run_sensitivity``); this package imports nothing at start-up.
"""
