"""What the small command-line tools (leaderboard, gate, export, compare, cache, curves) share: an
argument parser whose help is the tool's docstring, and user errors as one line with exit status 2."""

from __future__ import annotations

import argparse

from bench.config import conf_values
from bench.errors import user_errors_exit_2  # noqa: F401 -- the tools' decorator, next to their parser


def command_parser(prog: str, doc: str | None, results: bool = False) -> argparse.ArgumentParser:
    """The argument parser of a ``python -m bench.<tool>`` command: its module docstring as help and,
    with ``results``, the shared ``--results`` option."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if results:
        default = conf_values("paths", "default")["results"]
        parser.add_argument("--results", default=default, help=f"bench results folder (default: {default}, as paths.results)")
    return parser
