"""Tests of spikegym.cli: every command and its errors."""
