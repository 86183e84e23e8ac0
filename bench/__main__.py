"""``python -m bench``: evaluate one model with one embedding strategy on a task or suite.

A thin shell: argument checks (bench.cli), Hydra composition, :func:`bench.run.run`, and a table of
main scores. User errors print one clear message and exit with status 2, without a traceback.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from bench.errors import BenchError

log = logging.getLogger("bench")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from bench.leaderboard.tables import scores_frame, to_markdown
    from bench.run import run

    try:
        records = run(cfg)
    except BenchError as exc:
        log.error("%s", exc)
        if _in_multirun():  # one bad combination (e.g. sbert on a model without a pipeline) must not end a sweep
            return
        sys.exit(2)
    print(to_markdown(scores_frame(records), digits=2), flush=True)


def _in_multirun() -> bool:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.get().mode == RunMode.MULTIRUN


def entry() -> None:
    from bench.cli import launch

    launch(main)


if __name__ == "__main__":
    entry()
