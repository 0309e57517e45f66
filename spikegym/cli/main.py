"""The ``spikegym`` command: its parser and the dispatch to each command group's module.

>>> build_parser().parse_args(["train", "CartPole-v1", "--timesteps", "1000"]).timesteps
1000
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from spikegym._version import __version__
from spikegym.cli import agents, encoding, tune


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``spikegym`` command."""
    parser = argparse.ArgumentParser(prog="spikegym", description="Spike-encoded Gymnasium observations.")
    parser.add_argument("--version", action="version", version=f"spikegym {__version__}")
    commands = parser.add_subparsers(dest="command")
    encoding.add_parsers(commands)
    tune.add_parser(commands)
    agents.add_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    arguments = sys.argv[1:] if argv is None else list(argv)
    if args.command == "demo":
        return encoding.run_demo(args, parser)
    if args.command == "score":
        return encoding.run_score(args, parser)
    if args.command == "tune":
        return tune.run(args, parser, arguments)
    if args.command == "train":
        return agents.run_train(args, parser, arguments)
    if args.command == "replay":
        return agents.run_replay(args, parser)
    if args.command == "export":
        return agents.run_export(args, parser)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
