"""The tests, one subpackage per layer of spikegym; the README and the scripts at the top."""
