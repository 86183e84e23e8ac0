"""Tables of main scores: printed after a run, and the leaderboard files built from ``results/``.

The leaderboard only reads result files, so it can be rebuilt at any time and aggregates every run
(a multirun sweep included): one row per (model, revision, pooling), one column per task, and the
mean over the tasks each row has.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results import iter_results, write_text_atomic


def record_row(record: dict) -> dict:
    """Flatten one result record to the fields a table needs."""
    meta = record["bench"]
    split = next(iter(record["scores"]))
    entry = record["scores"][split][0]
    return {
        "model": meta["model"]["name"],
        "revision": (meta["model"].get("resolved_revision") or meta["model"].get("revision") or "")[:12],
        "pooling": meta.get("strategy", meta["pooling"]["slug"]),
        "task": meta["task"],
        "main_score": entry["main_score"],
        "metric": meta.get("main_score_name"),
    }


def scores_frame(records: list[dict]) -> pd.DataFrame:
    """Wide table: rows (model, revision, pooling), columns tasks, plus ``mean``; scores x100."""
    if not records:
        return pd.DataFrame()
    long = pd.DataFrame([record_row(r) for r in records])
    wide = long.pivot_table(index=["model", "revision", "pooling"], columns="task", values="main_score", aggfunc="last")
    wide = wide * 100
    wide["mean"] = wide.mean(axis=1)
    return wide.sort_values("mean", ascending=False).reset_index()


def to_markdown(frame: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency)."""
    if frame.empty:
        return "_no results_\n"

    def cell(value) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value)

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"


def write_leaderboard(results_dir: str | Path) -> dict[str, Path]:
    """Rebuild ``leaderboard.md`` and ``leaderboard.csv`` from every result under ``results_dir``."""
    from filelock import FileLock

    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": results_dir / "leaderboard.md", "csv": results_dir / "leaderboard.csv"}
    notes = ("Main scores x100: cosine Spearman for STS tasks, max average precision for pair "
             "classification (MTEB definitions). `mean` averages the tasks present in the row.\n\n")
    # Jobs of a parallel sweep rebuild it concurrently: reading and writing under one lock means the
    # last writer has read every result written before it, so no finished result goes missing.
    with FileLock(str(results_dir / ".leaderboard.lock")):
        frame = scores_frame([record for _, record in iter_results(results_dir)])
        write_text_atomic(paths["md"], "# bench leaderboard\n\n" + notes + to_markdown(frame))
        write_text_atomic(paths["csv"], frame.to_csv(index=False, float_format="%.4f"))
    return paths
