"""Reports at the end of a run or a sweep: the leaderboard, once; for a sweep (``-m``) a summary and an
honest exit status.

Each job writes ``bench_job.json`` into its Hydra output folder (status, error, overrides, the main
scores it produced, and on a cluster its job ids). :class:`Reports`, a Hydra callback, reads them
all when the sweep ends: it prints one table of every job's main scores, lists the jobs that failed
with their errors and log folders, and exits with status 1 if any job failed, so CI never reports
success for a sweep without results. Reports are plain JSON files in the sweep folder, so this works
the same for the local, joblib and SLURM launchers.
"""

from __future__ import annotations

import json
import logging
import sys
from contextlib import contextmanager
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from bench.results.provenance import cluster_job

log = logging.getLogger("bench.launch.sweep")

JOB_REPORT = "bench_job.json"
def result_rows(records: list[dict]) -> list[dict]:
    """The few fields of each result a sweep summary shows."""
    from bench.results.record import Result

    return [{"model": r.model_name, "revision": r.revision[:12], "strategy": r.strategy, "settings": r.settings_id,
             "task": r.task, "kind": r.kind, "score": r.main_score}
            for r in map(Result.of, records)]


def write_job_report(status: str, *, error: str | None = None, records: list[dict] | None = None,
                     extra: dict | None = None, results_dir: str | None = None) -> Path | None:
    """The job's report in its Hydra output folder (nothing outside a Hydra job)."""
    from hydra.core.hydra_config import HydraConfig

    from bench.atomic import write_text_atomic

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    path = Path(hydra.runtime.output_dir) / JOB_REPORT
    report = {"status": status, "error": error, "job": {"num": hydra.job.get("num"), "id": hydra.job.get("id"),
                                                         "overrides": list(hydra.overrides.task)},
              "results_dir": results_dir,
              "cluster": cluster_job(), "results": result_rows(records or []), **(extra or {})}
    try:
        write_text_atomic(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:  # a full disk: the job's own message says what matters, the summary lists it as missing
        log.warning("could not write the job report %s (%s)", path, exc.strerror or exc)
        return None
    return path


def natural_key(path: Path) -> tuple:
    """Sort key for job folders: job 2 before job 10 (Hydra names them by number)."""
    return len(path.parts), [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in path.parts]


def read_reports(sweep_dir: Path) -> list[dict]:
    reports = []
    for path in sorted(sweep_dir.glob(f"**/{JOB_REPORT}"), key=natural_key):
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            report = {"status": "failed", "error": f"unreadable job report {path}: {exc}", "job": {}, "results": []}
        report["folder"] = str(path.parent)
        reports.append(report)
    return reports


def job_folders(sweep_dir: Path) -> list[Path]:
    """Every job Hydra started in the sweep folder (it writes ``.hydra/`` into each job's folder)."""
    return sorted((p.parent for p in sweep_dir.glob("**/.hydra") if p.parent != sweep_dir), key=natural_key)


def summary_text(reports: list[dict], missing: list[Path]) -> tuple[str, int]:
    """The end-of-sweep summary (a table of main scores, then failures) and the number of failed jobs."""
    import pandas as pd

    from bench.reports.leaderboard.tables import to_markdown

    rows = [row for report in reports for row in report.get("results", [])]
    parts = []
    zero_shot = [r for r in rows if r["kind"] == "zero-shot" and r["score"] is not None]
    probes = [r for r in rows if r["kind"] == "probe" and r["score"] is not None]
    for kind, part in (("zero-shot main scores x100", zero_shot), ("probe scores x100", probes)):
        if not part:
            continue
        frame = pd.DataFrame(part)
        varied = frame.groupby(["model", "revision", "strategy", "task"])["settings"].nunique().max() > 1
        key = ["model", "revision", "strategy"] + (["settings"] if varied else [])
        table = frame.pivot_table(index=key, columns="task", values="score", aggfunc="last") * 100
        table.columns.name = None
        parts.append(f"Sweep summary, {kind}, {len(part)} result(s) from {len(reports)} job(s):\n\n"
                     + to_markdown(table.reset_index(), digits=2))
    checked = [r for r in reports if r.get("checks")]
    if checked:
        parts.append(preflight_summary(checked))
    skipped = [r for r in reports if r.get("status") == "skipped"]
    if skipped:
        parts.append(f"{len(skipped)} combination(s) skipped (they do not apply; not failures):\n" + "\n".join(
            f"  - {_job_line(report)}: {report.get('error')}" for report in skipped))
    failed = [r for r in reports if r.get("status") not in ("ok", "skipped")]
    lines = [f"  - {_job_line(report)}: {report.get('error')} [{report['folder']}]"
             for report in failed if not report.get("checks")]
    lines += [f"  - job in {folder}: no report (killed, or it failed before bench started)" for folder in missing]
    flagged = [str(report.get("job", {}).get("num", "?")) for report in failed if report.get("checks")]
    if flagged:  # their problems are listed once above
        lines.append(f"  - {len(flagged)} job(s) with the preflight problems above: {', '.join(flagged)} "
                     f"[{Path(failed[0]['folder']).parent}]")
    count = len(failed) + len(missing)
    if count:
        parts.append(f"{count} of {len(reports) + len(missing)} job(s) failed:\n" + "\n".join(lines))
    else:
        ran = len(reports) - len(skipped)
        parts.append(f"All {ran} job(s) succeeded" + (f" ({len(skipped)} skipped)." if skipped else "."))
    return "\n\n".join(parts), count


def _job_line(report: dict) -> str:
    job = report.get("job", {})
    return f"job {job.get('num', '?')} ({' '.join(job.get('overrides', [])) or '?'})"


def preflight_summary(reports: list[dict]) -> str:
    """A preflight sweep's findings: one line per model and per data source, however many jobs shared it, then
    each distinct problem once."""
    models: dict[str, list[dict]] = {}
    sources: dict[str, list[dict]] = {}
    for report in reports:
        checks = report["checks"]
        if checks.get("model"):
            models.setdefault(checks["model"]["name"], []).append(checks["model"])
        for source, check in checks.get("data", {}).items():
            sources.setdefault(source, []).append(check)
    problems: list[str] = []
    lines = []
    for kind, found in (("model", models), ("data", sources)):
        for name, results in found.items():
            own = list(dict.fromkeys(r["problem"] for r in results if not r["ok"]))
            problems += [p for p in own if p not in problems]
            if own:
                numbers = ", ".join(str(problems.index(p) + 1) for p in own)
                lines.append(f"  PROBLEM {kind} {name}: see problem {numbers}")
            else:
                lines.append(f"  OK      {kind} {name}: {results[0].get('detail', '')}")
    text = (f"Preflight of {len(reports)} job(s): {len(models)} model(s), {len(sources)} data source(s)\n"
            + "\n".join(lines))
    if problems:
        text += f"\n\n{len(problems)} problem(s):\n" + "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
    return text


def rebuild_leaderboards(folders: set[str], cfg: DictConfig) -> list[Path]:
    """The leaderboard of each results folder the run or sweep wrote to, built once from the index."""
    from bench.reports.leaderboard import write_leaderboard

    resamples = int(cfg.leaderboard.resamples)
    built = []
    for folder in sorted(folders):
        if Path(folder).is_dir():
            built.append(write_leaderboard(folder, resamples=resamples)["md"])
    return built


class Reports(Callback):
    """Hydra callback: after a run, its leaderboard; after a multirun, the leaderboard of every results
    folder once, the combined summary, and exit status 1 if any job failed. The leaderboard is never
    rebuilt per job, so a sweep of N jobs reads the results index once, not N times."""

    def on_run_end(self, config: DictConfig, **kwargs) -> None:
        if config.get("preflight"):  # nothing was written
            return
        with _failures_exit_1("building the leaderboard"):
            for path in rebuild_leaderboards({str(config.results_dir)}, config):
                log.info("leaderboard: %s (the page: %s)", path, path.with_suffix(".html"))

    def on_job_end(self, config: DictConfig, job_return, **kwargs) -> None:
        from hydra.core.utils import JobStatus

        if job_return.status == JobStatus.FAILED:  # an exception escaped bench's own handling
            error = job_return._return_value
            write_job_report("failed", error=f"{error.__class__.__name__}: {error}")

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        with _failures_exit_1("the end-of-sweep summary"):
            sweep_dir = Path(config.hydra.sweep.dir)
            reports = read_reports(sweep_dir)
            reported = {Path(r["folder"]) for r in reports}
            missing = [folder for folder in job_folders(sweep_dir) if folder not in reported]
            boards = [] if config.get("preflight") else rebuild_leaderboards(  # preflight writes no result
                {r["results_dir"] for r in reports if r.get("results_dir")}, config)
            text, failures = summary_text(reports, missing)
            print(text + "".join(f"\nleaderboard: {path} (the page: {path.with_suffix('.html')})" for path in boards),
                  flush=True)
        if failures:
            sys.exit(1)


@contextmanager
def _failures_exit_1(what: str):
    """Hydra turns an exception in a callback into a warning and exits 0; here it is an error and exit 1
    (the results already written stay valid)."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 -- any failure must fail the command
        log.error("%s failed: %s: %s", what, exc.__class__.__name__, exc)
        sys.exit(1)
