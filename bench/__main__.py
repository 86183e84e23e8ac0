"""``python -m bench``: evaluate one model with one embedding strategy on a task or suite.

A thin shell: argument checks (bench.cli), Hydra composition, :func:`bench.run.run`, and a table of
main scores. User errors print one clear message and exit with status 2, without a traceback.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

log = logging.getLogger("bench")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from bench.cli import run_job
    from bench.leaderboard.tables import scores_frame, to_markdown
    from bench.run import run

    records = run_job(run, cfg, log)
    if records is not None:
        print(to_markdown(scores_frame(records), digits=2), flush=True)


def entry() -> None:
    from bench.cli import launch

    launch(main)


if __name__ == "__main__":
    entry()
