"""The leaderboard: Markdown, CSV and one self-contained HTML page, rebuilt from ``results/``.

It only reads results (through the results index, :mod:`bench.results.index`), so it can be rebuilt at any time
and aggregates every run (sweeps included). ``bench-leaderboard`` rebuilds it by hand; a run or
a whole sweep rebuilds it once at its end (:class:`bench.launch.sweep.Reports`, a Hydra callback).

Files (in the results folder unless told otherwise):
- ``leaderboard.md``: the suite table (zero-shot tasks and their mean), probe table, and a table per
  task with 95% intervals and the "not significantly worse than the best" marks;
- ``leaderboard.csv``: the suite table; ``leaderboard_entries.csv``: one row per result with
  interval, comparison with the best, and provenance;
- ``leaderboard.html``: the same, sortable, with a model x pooling heatmap and score-versus-dimension
  plots; no external resources, so it works offline and as a CI artifact.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd

from bench.atomic import write_text_atomic
from bench.errors import BenchError
from bench.reports.leaderboard.entries import frame_of
from bench.reports.leaderboard.significance import compare_with_best
from bench.reports.leaderboard.tables import Suite
from bench.results.store import ResultsStore

log = logging.getLogger(__name__)


def build(results_dir: str | Path, *, resamples: int = 1000, level: float = 0.95, seed: int = 0,
          state_dir: str | Path | None = None) -> pd.DataFrame:
    """Every result as one row (from the results index), with its comparison against the best entry of its task.

    ``state_dir``: where the significance cache goes when the results folder is read-only; the results are
    then read directly (the index, which lives in the results folder, is neither used nor updated)."""
    results_dir = Path(results_dir)
    entries = frame_of(ResultsStore(results_dir).entries())  # a read-only folder: the index is kept in memory
    return compare_with_best(entries, results_dir, resamples=resamples, level=level, seed=seed, cache_dir=state_dir)


def writable(folder: Path) -> bool:
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check.", suffix=".tmp"):
            return True
    except OSError:
        return False


def write_leaderboard(results_dir: str | Path, out_dir: str | Path | None = None, *, resamples: int = 1000,
                      level: float = 0.95, title: str = "bench leaderboard", suite: Suite | None = None
                      ) -> dict[str, Path]:
    """Rebuild the leaderboard files from every result under ``results_dir``.

    Jobs of a parallel sweep rebuild it concurrently: reading and writing under one lock means the
    last writer has read every result written before it, so no finished result goes missing.
    """
    from filelock import FileLock

    from bench.reports.leaderboard.html import render_html
    from bench.reports.leaderboard.markdown import render_markdown
    from bench.reports.leaderboard.tables import ROW_KEY, default_suite, suite_tables

    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir
    out.mkdir(parents=True, exist_ok=True)
    if not results_dir.is_dir():
        results_dir.mkdir(parents=True, exist_ok=True)
    # the lock and the caches (index, significance, plots) live in the results folder; a read-only one (an
    # archive, another user's) is only read, and the lock and caches go to the output folder
    results_writable = writable(results_dir)
    state = results_dir if results_writable else out
    if not results_writable and state == results_dir:
        raise BenchError(f"the results folder {results_dir} is read-only; write the leaderboard elsewhere: "
                         f"bench-leaderboard --results {results_dir} --out DIR")
    paths = {"md": out / "leaderboard.md", "csv": out / "leaderboard.csv",
             "entries_csv": out / "leaderboard_entries.csv", "html": out / "leaderboard.html"}
    with FileLock(str(state / ".leaderboard.lock")):
        entries = build(results_dir, resamples=resamples, level=level, state_dir=None if state == results_dir else state)
        suite = suite or default_suite()
        complete, partial = suite_tables(entries, suite)
        ranking = pd.concat([complete.assign(tasks=f"{len(suite.tasks)} of {len(suite.tasks)}"), partial],
                            ignore_index=True) if not complete.empty or not partial.empty else complete
        if not ranking.empty:
            ranking = ranking[ROW_KEY + ["tasks", *suite.tasks] + ([suite.mean_column] if not complete.empty else [])]
        write_text_atomic(paths["md"], render_markdown(entries, suite=suite, level=level, title=title,
                                                       marks=resamples > 0, results_dir=results_dir))
        write_text_atomic(paths["csv"], ranking.to_csv(index=False, float_format="%.4f"))
        shown = entries.assign(path=[_relative(p, results_dir) for p in entries["path"]]) if not entries.empty else entries
        write_text_atomic(paths["entries_csv"], shown.to_csv(index=False, float_format="%.6f"))
        write_text_atomic(paths["html"], render_html(shown, suite=suite, level=level, title=title,
                                                     marks=resamples > 0, plot_cache=state / ".plots",
                                                     results_dir=results_dir))
    return paths


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


__all__ = ["build", "write_leaderboard"]
