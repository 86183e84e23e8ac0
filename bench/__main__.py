"""``python -m bench``: evaluate one model with one embedding strategy on a task or suite.

A thin shell: argument checks (bench.launch.cli), Hydra composition, :func:`bench.run.run`, and a table of
main scores. User errors print one clear message and exit with status 2, without a traceback.
"""

from __future__ import annotations

import logging

import hydra
from omegaconf import DictConfig

from bench.config import CONF_PACKAGE, VERSION_BASE  # importing it registers the config schema before Hydra composes

log = logging.getLogger("bench")


@hydra.main(**VERSION_BASE, config_path=CONF_PACKAGE, config_name="config")
def main(cfg: DictConfig) -> None:
    from bench.launch.cli import _in_multirun, run_job

    task = cfg.task.get("name") or "?"
    if not (cfg.get("preflight") and _in_multirun()):  # a preflight sweep: Hydra's line per job says it all
        log.info("bench: model %s, strategy %s, task %s%s", cfg.model.get("name") or cfg.model.get("name_or_path"),
                 cfg.pooling.get("name"), task, " (preflight)" if cfg.get("preflight") else "")
    from bench.preflight import preflight
    from bench.reports.leaderboard.tables import scores_frame, to_markdown
    from bench.reports.reference import comparison_markdown
    from bench.run import run

    if cfg.get("preflight"):
        report = run_job(preflight, cfg, log, records=lambda report: [],
                         extra=lambda report: {"checks": report["checks"]})
        if report is not None and not _in_multirun():  # a sweep lists each model and data source once, at the end
            print(preflight_text(report), flush=True)
        return
    records = run_job(run, cfg, log)
    if records is not None:
        print(to_markdown(scores_frame(records), digits=2), flush=True)
        notes = strategy_notes(records)
        if notes:
            print(notes, flush=True)
        published = comparison_markdown(records)
        if published:
            print(published, flush=True)


def strategy_notes(records: list[dict]) -> str:
    """Under the table: the strategy, maximum length and prompts each model was evaluated with, and why (asked for,
    the model config's, or the model's own files), once per model and strategy."""
    lines: list[str] = []
    for record in records:
        meta = record.get("bench") or {}
        if "strategy_reason" not in meta:  # a result kept from an older bench
            continue
        model = meta.get("model") or {}
        line = (f"{model.get('name')}: strategy {meta.get('strategy')}: {meta['strategy_reason']}; max length "
                f"{model.get('max_seq_length')}: {meta.get('max_seq_length_reason')}")
        if meta.get("prompts_reason"):
            line += f"; prompts {model.get('prompts') or 'none'}: {meta['prompts_reason']}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines)


def preflight_text(report: dict) -> str:
    """What ``preflight=true`` found, one line for the model and one per task."""
    pipeline = " -> ".join(report["pipeline"]) if report["pipeline"] else "no sbert pipeline used"
    lines = [f"OK {report['model']} @ {report['revision']} ({report['source']}): {report['weights']} weights "
             f"{', '.join(report['weight_files'])}; {report['tokenizer']}; {pipeline}; strategy {report['strategy']}"
             f"; prompts {report['prompts'] or 'none'}"]
    for what, why in (report.get("reasons") or {}).items():
        lines.append(f"   {what.replace('_', ' ')}: {why}")
    for task, splits in report["data"].items():
        parts = [f"{name} {info['rows']} ({info['kind']} {info.get('revision') or (info.get('sha256') or '')[:12]})"
                 for name, info in splits.items()]
        lines.append(f"   {task}: " + ", ".join(parts))
    return "\n".join(lines)


def entry() -> None:
    from bench.launch.cli import launch

    launch(main)


if __name__ == "__main__":
    entry()
