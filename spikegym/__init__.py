"""spikegym: spike-encoded Gymnasium observations for spiking reinforcement learning."""

__version__ = "0.1.0"
