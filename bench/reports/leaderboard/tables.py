"""Tables of main scores, derived from the long table of entries (:mod:`bench.reports.leaderboard.entries`).

Rankings compare like with like. The suite ranking holds only rows (model, revision, strategy, variant)
that have every task of a declared suite (:class:`Suite`, the Polish suite by default), ranked by the
mean over exactly those tasks; rows with some suite tasks are listed apart, unranked, with their task
count; trained probes get their own table (they are not comparable with zero-shot scores). Scores x100.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from bench.reports.leaderboard.entries import ROW_KEY, entries_frame
from bench.results.record import ResultKind
from bench.scoring.stats import format_p, signed


@dataclass(frozen=True)
class Suite:
    """The tasks a ranking averages over (result names, e.g. ``stsb_multi_mt.pl``)."""

    name: str
    tasks: tuple[str, ...]

    @property
    def mean_column(self) -> str:
        return f"mean ({len(self.tasks)} tasks)"


def default_suite() -> Suite:
    from bench.tasks.spec import suite_members

    return Suite("polish", suite_members("polish"))


def wide(entries: pd.DataFrame, kind: str = ResultKind.ZERO_SHOT) -> pd.DataFrame:
    """Rows (model, revision, strategy, variant), one column per task of one kind, scores x100."""
    part = entries[entries["kind"] == kind] if not entries.empty else entries
    if part.empty:
        return pd.DataFrame()
    table = part.pivot_table(index=ROW_KEY, columns="task", values="score", aggfunc="last", dropna=False) * 100
    # dropna=False keeps tasks without a score, but also makes every combination of the key's values a row
    # (model A with model B's revision): keep the rows that exist
    table = table[table.index.isin(pd.MultiIndex.from_frame(part[ROW_KEY].drop_duplicates()))]
    table.columns.name = None
    return table.reset_index()


def cross_table(entries: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Cross-encoders beside the best bi-encoder on the same test pairs (scores x100): the cross-encoder's
    score and interval, the bi-encoder's score, and the paired difference cross - bi with its interval."""
    if entries.empty or "bi_best" not in entries:
        return pd.DataFrame()
    part = entries[entries["kind"] == ResultKind.CROSS_ENCODER]
    rows = []
    for _, row in part.sort_values(["base_task", "score"], ascending=[True, False]).iterrows():
        def pct(value):
            return None if value is None or pd.isna(value) else float(value) * 100

        interval = ("" if pct(row["ci_low"]) is None else f"[{pct(row['ci_low']):.2f}, {pct(row['ci_high']):.2f}]")
        if pct(row["bi_diff"]) is None:
            versus = "n/a (no bi-encoder result on these pairs)"
        elif pct(row["bi_low"]) is None:
            versus = f"{signed(pct(row['bi_diff']))} (no paired test: run bench-leaderboard)"
        else:
            versus = (f"{signed(pct(row['bi_diff']))} [{signed(pct(row['bi_low']))}, {signed(pct(row['bi_high']))}] "
                      f"{format_p(row['bi_p'])}")
        rows.append({"task": row["base_task"], "head": str(row["type"]).removeprefix("cross_"), "model": row["model"],
                     "revision": row["revision"], "metric": row["metric"], "cross-encoder": pct(row["score"]),
                     f"{level:.0%} CI": interval, "best bi-encoder": row["bi_best"] or "",
                     "bi-encoder": pct(row["bi_score"]), "cross - bi (paired)": versus})
    return pd.DataFrame(rows)


def suite_tables(entries: pd.DataFrame, suite: Suite) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(complete rows ranked by the mean over the suite's tasks, partial rows with their task count). A row with a
    result on other test data than its task's reference (:mod:`bench.results.comparability`) is never ranked: it is listed
    with the partial rows, its variant saying so."""
    table = wide(entries, ResultKind.ZERO_SHOT)
    if table.empty:
        return table, table
    for task in suite.tasks:
        if task not in table.columns:
            table[task] = float("nan")
    scores = table[list(suite.tasks)]
    present = scores.notna().sum(axis=1)
    zero_shot = entries[entries["kind"] == ResultKind.ZERO_SHOT]
    flags = zero_shot["reference"].astype(bool) if "reference" in zero_shot else pd.Series(True, index=zero_shot.index)
    off = {tuple(key) for key in zero_shot.loc[~flags, ROW_KEY].itertuples(index=False)}
    on_reference = pd.Series([tuple(key) not in off for key in table[ROW_KEY].itertuples(index=False)], index=table.index)
    complete = table[(present == len(suite.tasks)) & on_reference][ROW_KEY + list(suite.tasks)].copy()
    complete[suite.mean_column] = complete[list(suite.tasks)].mean(axis=1)
    complete = complete.sort_values(suite.mean_column, ascending=False).reset_index(drop=True)
    partial = table[(present > 0) & ((present < len(suite.tasks)) | ~on_reference)][ROW_KEY + list(suite.tasks)].copy()
    partial.insert(len(ROW_KEY), "tasks", [f"{present[i]} of {len(suite.tasks)}" + ("" if on_reference[i] else
                                           ", other test data") for i in partial.index])
    partial = partial.sort_values(ROW_KEY).reset_index(drop=True)
    return complete, partial


def legend(level: float, marks: bool, suite: Suite | None = None) -> str:
    """What the leaderboard's numbers and marks mean (one text for the Markdown and the HTML page)."""
    averaged = (f"mean ({len(suite.tasks)} tasks): average over the {suite.name} suite's tasks "
                f"({', '.join(suite.tasks)}), only for rows that have all of them; rows with fewer are listed apart, "
                f"unranked. " if suite else "")
    text = ("Main scores x100: cosine Spearman for STS tasks, max average precision for pair classification "
            "(MTEB definitions); accuracy (NLI) and Spearman (relatedness) for trained probes. " + averaged +
            "variant: what differs from the usual settings of that model and strategy (empty: the usual ones). "
            "Bold: best on the task. ≈: not significantly worse than the best (paired bootstrap over the same "
            f"test pairs, {level:.0%} interval of the difference reaches 0).")
    if not marks:
        text += " Significance marks were not computed for this rebuild: run bench-leaderboard."
    return text


def scores_frame(records: list[dict], suite: Suite | None = None) -> pd.DataFrame:
    """The table a run prints: its tasks, with a mean only over several tasks, labelled with what it
    averages (the whole suite, or the tasks of this run); probe scores have no mean."""
    entries = entries_frame([("", record) for record in records])
    if entries.empty:
        return entries
    kind = next(k for k in ResultKind if (entries["kind"] == k).any())
    table = wide(entries, kind)
    tasks = [c for c in table.columns if c not in ROW_KEY]
    if kind is ResultKind.ZERO_SHOT and len(tasks) > 1:
        suite = suite or default_suite()
        label = suite.mean_column if sorted(tasks) == sorted(suite.tasks) else f"mean of these {len(tasks)} tasks"
        table[label] = table[tasks].mean(axis=1, skipna=False)
    return table if table["variant"].astype(str).str.len().any() else table.drop(columns=["variant"])


MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*[]<>|"})  # intraword _ is literal in GFM


def markdown_text(text: str) -> str:
    """Names as plain text in a Markdown table: no accidental emphasis, links, HTML or extra columns.
    Marks bench adds itself (bold best, ≈) are written after escaping."""
    if text.startswith("**") and text.endswith("**") or text.endswith(" ≈"):
        return text
    return text.translate(MARKDOWN_SPECIAL).replace("\n", " ")


def to_markdown(frame: pd.DataFrame, digits: int = 2) -> str:
    """A GitHub-flavoured Markdown table (no extra dependency); a ``variant`` column shows only when used."""
    if frame.empty:
        return "_no results_\n"
    if "variant" in frame.columns and not frame["variant"].astype(str).str.len().any():
        frame = frame.drop(columns=["variant"])

    def cell(value) -> str:
        if isinstance(value, float):
            return "" if pd.isna(value) else f"{value:.{digits}f}"
        return markdown_text(str(value))

    header = "| " + " | ".join(markdown_text(str(c)) for c in frame.columns) + " |"
    rule = "|" + "|".join("---:" if pd.api.types.is_numeric_dtype(frame[c]) else "---" for c in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows]) + "\n"
