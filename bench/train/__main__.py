"""``python -m bench.train``: fine-tune (Hydra config ``conf/finetune.yaml``, recipes in ``conf/train/``)."""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from bench.config import CONF_PACKAGE, VERSION_BASE  # importing it registers the config schema before Hydra composes

log = logging.getLogger("bench.train")


@hydra.main(**VERSION_BASE, config_path=CONF_PACKAGE, config_name="finetune")
def main(cfg: DictConfig) -> None:
    from bench.launch.cli import run_job
    from bench.reports.leaderboard.tables import scores_frame, to_markdown
    from bench.train.loop import train

    summary = run_job(train, cfg, log, records=lambda s: s.get("records", []) + s.get("base_records", []))
    if summary is None or summary.get("process_index"):  # failed in a sweep, or not the reporting process
        return
    print(f"model: {summary['model_dir']}")
    records = summary.get("records", []) + summary.get("base_records", [])
    if records:
        print(to_markdown(scores_frame(records), digits=2), flush=True)


def entry() -> None:
    from bench.launch.cli import launch

    launch(main, config_name="finetune")


if __name__ == "__main__":
    entry()
