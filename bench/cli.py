"""Command-line conveniences in front of Hydra.

Hydra treats ``model=X`` as a config file name, so a hub id or local path there would fail. Before
Hydra parses the command line, :func:`rewrite_overrides`:

* turns ``model=ORG/NAME`` or ``model=./path`` (anything that is not a config name but looks like a
  hub id or an existing path) into ``model=hf model.name_or_path=...``;
* rejects unknown names in the ``model``, ``pooling`` and ``task`` groups with the valid choices and
  a "did you mean" suggestion (comma-separated multirun values are checked one by one).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.errors import BenchError, unknown_choice

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
CHECKED_GROUPS = ("model", "pooling", "task", "compression", "probe", "train")
SWEEP_SYNTAX = ("(", "[", "${")


def group_choices(group: str, conf_dir: Path = CONF_DIR) -> list[str]:
    """Config names in a group; names starting with '_' are shared fragments, not choices."""
    return sorted(p.stem for p in (conf_dir / group).glob("*.yaml") if not p.stem.startswith("_"))


def _looks_like_model_ref(value: str) -> bool:
    return "/" in value or os.path.isdir(os.path.expanduser(value))


def rewrite_overrides(argv: Sequence[str], conf_dir: Path = CONF_DIR) -> list[str]:
    out: list[str] = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep or key not in CHECKED_GROUPS or value.startswith(SWEEP_SYNTAX):
            out.append(arg)
            continue
        choices = group_choices(key, conf_dir)
        values = value.split(",")
        unknown = [v for v in values if v not in choices]
        if not unknown:
            out.append(arg)
        elif key == "model" and len(values) == 1 and _looks_like_model_ref(value):
            out += ["model=hf", f"model.name_or_path={value}"]
        else:
            error = unknown_choice(key, unknown[0], choices)
            if key == "model":
                error = BenchError(f"{error} A hub id (org/name) or a local model directory also works.")
            raise error
    return out


def launch(hydra_main) -> None:
    """Check and rewrite the command-line overrides, then start a Hydra entry point; a user error
    prints one line and exits with status 2."""
    try:
        sys.argv[1:] = rewrite_overrides(sys.argv[1:])
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    hydra_main()


def run_job(job: Callable, cfg, log: logging.Logger):
    """The work of a Hydra job. A :class:`BenchError` is logged as one line, without a traceback, and
    the process exits with status 2; in a multirun the job returns None instead, so one bad
    combination (e.g. sbert on a model without a pipeline) does not end the sweep."""
    try:
        return job(cfg)
    except BenchError as exc:
        log.error("%s", exc)
        if _in_multirun():
            return None
        sys.exit(2)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def command_parser(prog: str, doc: str | None, results: bool = False) -> argparse.ArgumentParser:
    """The argument parser of a ``python -m bench.<tool>`` command: its module docstring as help and,
    with ``results``, the shared ``--results`` option."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if results:
        parser.add_argument("--results", default="results", help="bench results folder (default: results)")
    return parser
