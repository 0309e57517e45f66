"""Tests of spikegym.envs: layout, bounds, configs, the wrappers, rollouts."""
