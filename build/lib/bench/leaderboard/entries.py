"""One row per result file: the score, its interval, what produced it, and where it came from.

Everything the leaderboard shows is derived from this long table, so Markdown, CSV and HTML always
agree. A row is identified by (model, revision, strategy, task).
"""

from __future__ import annotations

import pandas as pd

from bench.index import entry

#: A row of the leaderboard: one model, revision, strategy and settings variant (``variant`` is empty unless
#: results of other settings exist beside it; then it names what differs, e.g. ``max_seq_length=16``).
ROW_KEY = ["model", "revision", "strategy", "variant"]


#: Settings that legitimately differ between task types of one run.
BY_TASK_TYPE = frozenset({"model.prompt", "scoring.heldout_thresholds"})


def _label(key: str) -> str:
    return key.split(".", 1)[1] if key.startswith(("model.", "scoring.")) else key


def variant_labels(frame: pd.DataFrame) -> list[str]:
    """Rows of one (model, revision, strategy) whose settings differ from that group's usual ones get a
    label naming the difference (``max_seq_length=16``, ``data=hub``); the usual settings are the most
    common value of each item among results of the same task type, so a one-task rerun with another
    setting does not split the rest of the suite into another row."""
    labels = [""] * len(frame)
    for _, group in frame.groupby(["model", "revision", "strategy"], sort=False):
        if group["settings"].nunique() <= 1:
            continue
        usual: dict[tuple[str, str], str | None] = {}
        keys = {k for items in group["settings_items"] for k in items}
        for key in keys:  # per task type for what depends on it (prompt, held-out thresholds), else over all
            scopes = group.groupby("type", dropna=False) if key in BY_TASK_TYPE else [(None, group)]
            for task_type, scope in scopes:
                counts = scope["settings_items"].map(lambda items, k=key: items.get(k)).value_counts()
                tied = len(counts) > 1 and counts.iloc[0] == counts.iloc[1]
                for kind in (scope["type"].unique() if task_type is None else [task_type]):
                    usual[(kind, key)] = None if tied or counts.empty else counts.index[0]
        for index, row in group.iterrows():
            items = row["settings_items"]
            parts = [f"{_label(k)}={v}" for k, v in sorted(items.items()) if usual.get((row["type"], k)) != v]
            labels[frame.index.get_loc(index)] = ", ".join(parts)
        # two results of one task still sharing a label (e.g. two different local files): tell them apart
        for _, same in group.groupby("task"):
            positions = [frame.index.get_loc(i) for i in same.index]
            seen: dict[str, int] = {}
            for position in positions:
                seen[labels[position]] = seen.get(labels[position], 0) + 1
            for position, index in zip(positions, same.index):
                if seen[labels[position]] > 1:
                    labels[position] = (labels[position] + " " if labels[position] else "") + \
                        f"settings {frame.at[index, 'settings'][:6]}"
    return labels


def entries_frame(results: list[tuple]) -> pd.DataFrame:
    """The long table of results given as (path, record) pairs (empty frame when there are none)."""
    return frame_of([entry(path, record) for path, record in results])


def frame_of(rows: list[dict]) -> pd.DataFrame:
    """The long table of result rows (from :func:`bench.index.entry`, e.g. read from the results index)."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["variant"] = variant_labels(frame)
    frame = frame.drop(columns=["settings_items"])
    return frame.sort_values(["task", "score"], ascending=[True, False], na_position="last").reset_index(drop=True)
