"""Tests of spikegym.rl: extractors, policies, recipes, training, replay, export."""
