"""The leaderboard: Markdown, CSV and one self-contained HTML page, rebuilt from ``results/``.

It only reads results (through the results index, :mod:`bench.index`), so it can be rebuilt at any time
and aggregates every run (sweeps included). ``python -m bench.leaderboard`` rebuilds it by hand; a run or
a whole sweep rebuilds it once at its end (:class:`bench.sweep.Reports`, a Hydra callback).

Files (in the results folder unless told otherwise):
- ``leaderboard.md``: the suite table (zero-shot tasks and their mean), probe table, and a table per
  task with 95% intervals and the "not significantly worse than the best" marks;
- ``leaderboard.csv``: the suite table; ``leaderboard_entries.csv``: one row per result with
  interval, comparison with the best, and provenance;
- ``leaderboard.html``: the same, sortable, with a model x pooling heatmap and score-versus-dimension
  plots; no external resources, so it works offline and as a CI artifact.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.atomic import write_text_atomic
from bench.index import index_entries
from bench.leaderboard.entries import frame_of
from bench.leaderboard.significance import compare_with_best
from bench.leaderboard.tables import Suite


def build(results_dir: str | Path, *, resamples: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Every result as one row (from the results index), with its comparison against the best entry of its task."""
    results_dir = Path(results_dir)
    entries = frame_of(index_entries(results_dir))
    return compare_with_best(entries, results_dir, resamples=resamples, level=level, seed=seed)


def write_leaderboard(results_dir: str | Path, out_dir: str | Path | None = None, *, resamples: int = 1000,
                      level: float = 0.95, title: str = "bench leaderboard", suite: Suite | None = None
                      ) -> dict[str, Path]:
    """Rebuild the leaderboard files from every result under ``results_dir``.

    Jobs of a parallel sweep rebuild it concurrently: reading and writing under one lock means the
    last writer has read every result written before it, so no finished result goes missing.
    """
    from filelock import FileLock

    from bench.leaderboard.html import render_html
    from bench.leaderboard.markdown import render_markdown
    from bench.leaderboard.tables import ROW_KEY, default_suite, suite_tables

    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir
    out.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "leaderboard.md", "csv": out / "leaderboard.csv",
             "entries_csv": out / "leaderboard_entries.csv", "html": out / "leaderboard.html"}
    with FileLock(str(results_dir / ".leaderboard.lock")):
        entries = build(results_dir, resamples=resamples, level=level)
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
                                                     marks=resamples > 0, plot_cache=results_dir / ".plots",
                                                     results_dir=results_dir))
    return paths


def _relative(path: str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


__all__ = ["build", "write_leaderboard"]
