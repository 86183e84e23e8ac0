"""Tables of main scores, derived from the long table of entries (:mod:`bench.leaderboard.entries`).

The suite table has one row per (model, revision, strategy) and one column per zero-shot task, plus
``mean`` over the tasks the row has; trained probes get their own table (they are not comparable
with zero-shot scores, so they stay out of the mean). Scores are shown x100.
"""

from __future__ import annotations

import pandas as pd

from bench.leaderboard.entries import ROW_KEY, entries_frame


def wide(entries: pd.DataFrame, kind: str = "zero-shot", with_mean: bool = True) -> pd.DataFrame:
    """Rows (model, revision, strategy), columns tasks of one kind, scores x100, sorted by ``mean``."""
    part = entries[entries["kind"] == kind] if not entries.empty else entries
    if part.empty:
        return pd.DataFrame()
    table = part.pivot_table(index=ROW_KEY, columns="task", values="score", aggfunc="last") * 100
    table.columns.name = None
    if with_mean:
        table["mean"] = table.mean(axis=1)
        table = table.sort_values("mean", ascending=False)
    return table.reset_index()


def legend(level: float, marks: bool) -> str:
    """What the leaderboard's numbers and marks mean (one text for the Markdown and the HTML page)."""
    text = ("Main scores x100: cosine Spearman for STS tasks, max average precision for pair classification "
            "(MTEB definitions); accuracy (NLI) and Spearman (relatedness) for trained probes. mean: average of "
            "the zero-shot tasks present in the row. Bold: best on the task. ≈: not significantly worse than the "
            f"best (paired bootstrap over the same test pairs, {level:.0%} interval of the difference reaches 0).")
    if not marks:
        text += " Significance marks were not computed for this rebuild: run python -m bench.leaderboard."
    return text


def scores_frame(records: list[dict]) -> pd.DataFrame:
    """The table a run prints: zero-shot tasks with their mean, or (a probe run) probe scores, no mean."""
    entries = entries_frame([("", record) for record in records])
    if entries.empty:
        return entries
    table = wide(entries, "zero-shot") if (entries["kind"] == "zero-shot").any() else wide(entries, "probe",
                                                                                             with_mean=False)
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
