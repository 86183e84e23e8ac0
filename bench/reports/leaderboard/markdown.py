"""The leaderboard as Markdown: suite table, probe table, one table per task with intervals."""

from __future__ import annotations

import pandas as pd

from bench.reports.leaderboard.entries import ROW_KEY
from bench.reports.leaderboard.tables import Suite, cross_table, legend, suite_tables, to_markdown, wide
from bench.results.record import ResultKind
from bench.scoring.stats import format_p, signed


def mark(row) -> str:
    """A score cell: bold when best, ``≈`` when not significantly worse than the best."""
    if row["score"] is None or pd.isna(row["score"]):
        return "n/a"  # a result whose main score is undefined (recorded as null): never shown as a number
    text = f"{row['score'] * 100:.2f}"
    if row.get("best") is True:
        return f"**{text}**"
    return text + (" ≈" if row.get("not_worse") is True else "")


def marked(table: pd.DataFrame, entries: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``table`` (rows keyed by ROW_KEY, a column per task) with its score cells marked; other columns kept."""
    if table.empty:
        return table
    part = entries[entries["kind"] == kind]
    cells = {(tuple(row[k] for k in ROW_KEY), row["task"]): mark(row) for _, row in part.iterrows()}
    out = table.copy().astype(object)
    tasks = [c for c in table.columns if c in set(part["task"])]
    for index, row in table.iterrows():
        key = tuple(row[k] for k in ROW_KEY)
        for task in tasks:
            out.at[index, task] = cells.get((key, task), "")
    return out


NOT_COMPUTED = "not computed"


def recompute_note(results_dir) -> str:
    """Where "vs best" says it was not computed: the command that computes it."""
    where = f" --results {results_dir}" if results_dir is not None else ""
    return (f'"vs best" ({NOT_COMPUTED} in this rebuild: leaderboard.resamples=0) and the ≈ marks come from the '
            f"paired bootstrap: bench-leaderboard{where}")


def versus_best(row, marks: bool) -> str:
    """A "vs best" cell: ``best``, the paired difference with its p-value, ``not computed`` (no resamples in
    this rebuild) or ``n/a`` (not comparable: other test pairs, or no per-pair scores)."""
    if row["best"] is True:
        return "best"
    if row["score"] is None or pd.isna(row["score"]):
        return ""
    if not marks:
        return NOT_COMPUTED
    if row["diff_vs_best"] is None or pd.isna(row["diff_vs_best"]):
        return "n/a"
    return f"{signed(row['diff_vs_best'] * 100)} ({format_p(row['p_vs_best'])})"


def task_table(group: pd.DataFrame, level: float, marks: bool = True) -> pd.DataFrame:
    """One task's rows: those on its reference data ranked, then those on other data, unranked, saying what
    differs (:mod:`bench.results.comparability`)."""
    rows = []
    on_reference = group["reference"].astype(bool) if "reference" in group else pd.Series(True, index=group.index)
    ordered = pd.concat([group[on_reference].sort_values("score", ascending=False),
                         group[~on_reference].sort_values("score", ascending=False)])
    for rank, (index, row) in enumerate(ordered.iterrows(), start=1):
        interval = ("" if row["ci_low"] is None or pd.isna(row["ci_low"])
                    else f"[{row['ci_low'] * 100:.2f}, {row['ci_high'] * 100:.2f}]")
        versus = versus_best(row, marks) if on_reference[index] else f"not comparable ({row['data']})"
        rows.append({"#": rank if on_reference[index] else "", **{k: row[k] for k in ROW_KEY},
                     "score": mark(row), f"{level:.0%} CI": interval, "vs best": versus,
                     "dims": "" if pd.isna(row["dims"]) else str(int(row["dims"]))})
    return pd.DataFrame(rows)


def render_markdown(entries: pd.DataFrame, *, suite: Suite, level: float = 0.95, title: str = "bench leaderboard",
                    marks: bool = True, results_dir=None) -> str:
    parts = [f"# {title}\n", legend(level, marks, suite) + "\n"]
    if not marks:
        parts.append(recompute_note(results_dir) + "\n")
    if entries.empty:
        return "\n".join([*parts, "_no results_\n"])
    complete, partial = suite_tables(entries, suite)
    parts += [f"## Suite: {suite.name} ({len(suite.tasks)} tasks, complete rows only)\n",
              f"Ranked by the mean over {', '.join(suite.tasks)}.\n",
              to_markdown(marked(complete, entries, ResultKind.ZERO_SHOT)) if not complete.empty else
              "_no row has every task of the suite yet_\n"]
    if not partial.empty:
        parts += [f"## Partial rows (fewer than the {len(suite.tasks)} suite tasks; not ranked)\n",
                  to_markdown(marked(partial, entries, ResultKind.ZERO_SHOT))]
    probes = wide(entries, ResultKind.PROBE)
    if not probes.empty:
        parts += ["## Trained probes (frozen embeddings)\n", to_markdown(marked(probes, entries, ResultKind.PROBE))]
    crosses = cross_table(entries, level)
    if not crosses.empty:  # a missing number (no bi-encoder on these pairs) is an empty cell, never "None"
        crosses = crosses.apply(lambda column: column.map(lambda v: float("nan") if v is None else v))
        parts += ["## Cross-encoders (fine-tuned on each task's pairs; not embeddings, never ranked with them)\n",
                  "Each beside the best bi-encoder scored on the same test pairs by the same metric (zero-shot "
                  "embeddings; the 3-way NLI probe for NLI heads), with the paired bootstrap difference.\n",
                  to_markdown(crosses)]
    for task, group in entries.groupby("task", sort=True):
        parts += [f"## {task} ({group['metric'].iloc[0]})\n", to_markdown(task_table(group, level, marks))]
    return "\n".join(parts)
