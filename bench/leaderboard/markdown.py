"""The leaderboard as Markdown: suite table, probe table, one table per task with intervals."""

from __future__ import annotations

import pandas as pd

from bench.leaderboard.entries import ROW_KEY
from bench.leaderboard.tables import legend, to_markdown, wide


def mark(row) -> str:
    """A score cell: bold when best, ``≈`` when not significantly worse than the best."""
    if row["score"] is None or pd.isna(row["score"]):
        return ""
    text = f"{row['score'] * 100:.2f}"
    if row.get("best") is True:
        return f"**{text}**"
    return text + (" ≈" if row.get("not_worse") is True else "")


def marked_wide(entries: pd.DataFrame, kind: str, with_mean: bool) -> pd.DataFrame:
    """:func:`~bench.leaderboard.tables.wide` with marked score cells (same rows, order and mean)."""
    scores = wide(entries, kind, with_mean)
    if scores.empty:
        return scores
    part = entries[entries["kind"] == kind]
    cells = part.assign(cell=[mark(row) for _, row in part.iterrows()])
    table = cells.pivot_table(index=ROW_KEY, columns="task", values="cell", aggfunc="last").fillna("")
    table.columns.name = None
    table = table.reset_index()
    return scores[ROW_KEY].merge(table, on=ROW_KEY, how="left").assign(
        **({"mean": scores["mean"].to_numpy()} if with_mean else {}))


def task_table(group: pd.DataFrame, level: float) -> pd.DataFrame:
    rows = []
    for rank, (_, row) in enumerate(group.sort_values("score", ascending=False).iterrows(), start=1):
        interval = ("" if row["ci_low"] is None or pd.isna(row["ci_low"])
                    else f"[{row['ci_low'] * 100:.2f}, {row['ci_high'] * 100:.2f}]")
        versus = ("best" if row["best"] is True else "n/a" if row["diff_vs_best"] is None
                  else f"{row['diff_vs_best'] * 100:+.2f} (p={row['p_vs_best']:.3f})")
        rows.append({"#": rank, **{k: row[k] for k in ROW_KEY},
                     "score": mark(row), f"{level:.0%} CI": interval, "vs best": versus,
                     "dims": "" if pd.isna(row["dims"]) else str(int(row["dims"]))})
    return pd.DataFrame(rows)


def render_markdown(entries: pd.DataFrame, *, level: float = 0.95, title: str = "bench leaderboard",
                    marks: bool = True) -> str:
    parts = [f"# {title}\n", legend(level, marks) + "\n"]
    if entries.empty:
        return "\n".join([*parts, "_no results_\n"])
    parts += ["## Suite (zero-shot)\n", to_markdown(marked_wide(entries, "zero-shot", True))]
    probes = marked_wide(entries, "probe", False)
    if not probes.empty:
        parts += ["## Trained probes (frozen embeddings)\n", to_markdown(probes)]
    for task, group in entries.groupby("task", sort=True):
        parts += [f"## {task} ({group['metric'].iloc[0]})\n", to_markdown(task_table(group, level))]
    return "\n".join(parts)
