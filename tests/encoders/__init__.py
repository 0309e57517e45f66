"""Tests of spikegym.encoders: the stream-filter protocol, each encoder and decoder, errors."""
