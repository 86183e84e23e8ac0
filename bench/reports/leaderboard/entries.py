"""One row per result file: the score, its interval, what produced it, and where it came from.

Everything the leaderboard shows is derived from this long table, so Markdown, CSV and HTML always
agree. A row is identified by (model, revision, strategy, task).
"""

from __future__ import annotations

import pandas as pd

from bench.results.index import entry

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
                counts = scope["settings_items"].map(lambda items, k=key: items.get(k)).value_counts(dropna=False)
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


def comparability(frame: pd.DataFrame) -> tuple[list[bool], list[str]]:
    """Each row against its task's reference basis (:func:`bench.results.comparability.reference_bases`): whether it is on
    it (ranked with the others) and, when not, what differs (``data: hub copy ... vs CDS_test_annotated.txt ...``)."""
    from bench.results.comparability import Basis, reference_bases

    bases = [Basis(row.base_task, row.data_key, row.data_label, row.metric)
             for row in frame[["base_task", "data_key", "data_label", "metric"]].itertuples(index=False)]
    kinds = list(frame["kind"])
    references = {kind: reference_bases([b for b, k in zip(bases, kinds) if k == kind]) for kind in set(kinds)}
    on_reference, differences = [], []
    for basis, kind in zip(bases, kinds):
        reference = references[kind][basis.task]
        differs = basis.differences(reference)
        on_reference.append(not differs)
        differences.append("; ".join(differs))
    return on_reference, differences


def other_data_label(difference: str) -> str:
    """The short label an off-reference result adds to its row's variant (the details are in ``data``)."""
    if difference.startswith("data: hub copy"):
        return "other test data: hub copy"
    if difference.startswith("data: other pairs or labels"):
        return "other test data: other labels or pairs"
    if difference.startswith("data:"):
        return "other test data: other file"
    return "other metric"


def frame_of(rows: list[dict]) -> pd.DataFrame:
    """The long table of result rows (from :func:`bench.results.index.entry`, e.g. read from the results index), with
    ``reference`` (on its task's reference data and metric: ranked) and ``data`` (what differs, when not)."""
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame["variant"] = variant_labels(frame)
    frame["reference"], frame["data"] = comparability(frame)
    frame["variant"] = [variant if not data else ", ".join(filter(None, [variant, other_data_label(data)]))
                        for variant, data in zip(frame["variant"], frame["data"])]
    frame = frame.drop(columns=["settings_items"])
    return frame.sort_values(["task", "score"], ascending=[True, False], na_position="last").reset_index(drop=True)
