"""The ``spikegym`` command line, one module per command group, on top of every other layer.

- :mod:`~spikegym.cli.main`: the parser and the dispatch (``spikegym = spikegym.cli.main:main``);
- :mod:`~spikegym.cli.encoding`: ``demo`` and ``score``;
- :mod:`~spikegym.cli.tune`: ``tune``;
- :mod:`~spikegym.cli.agents`: ``train``, ``replay`` and ``export``.

May import every layer; no layer imports it.
"""
