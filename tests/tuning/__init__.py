"""Tests of spikegym.tuning: objectives and optuna studies."""
