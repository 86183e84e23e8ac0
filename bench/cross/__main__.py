"""``python -m bench.cross``: fine-tune and score cross-encoders (Hydra config ``conf/crossencoder.yaml``,
recipes in ``conf/cross/``)."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from bench.config import CONF_PACKAGE, VERSION_BASE  # importing it registers the config schema before Hydra composes

log = logging.getLogger("bench.cross")


@hydra.main(**VERSION_BASE, config_path=CONF_PACKAGE, config_name="crossencoder")
def main(cfg: DictConfig) -> None:
    from bench.cross.loop import run_cross
    from bench.launch.cli import run_job
    from bench.reports.leaderboard.tables import scores_frame, to_markdown

    records = run_job(run_cross, cfg, log)
    if records:
        print(to_markdown(scores_frame(records), digits=2), flush=True)


def entry() -> None:
    from bench.launch.cli import launch

    launch(main, config_name="crossencoder")


if __name__ == "__main__":
    entry()
