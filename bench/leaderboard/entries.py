"""One row per result file: the score, its interval, what produced it, and where it came from.

Everything the leaderboard shows is derived from this long table, so Markdown, CSV and HTML always
agree. A row is identified by (model, revision, strategy, task).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results import model_revision

#: A row of the leaderboard: one model, revision, strategy and settings variant (``variant`` is empty unless
#: results of other settings exist beside it; then it names what differs, e.g. ``max_seq_length=16``).
ROW_KEY = ["model", "revision", "strategy", "variant"]


def result_kind(record: dict) -> str:
    """``zero-shot`` for similarity scoring, ``probe`` for a trained probe on frozen embeddings."""
    return "probe" if record["bench"].get("probe") else "zero-shot"


def entry(path: Path, record: dict) -> dict:
    meta = record["bench"]
    split = next(iter(record["scores"]))
    scores = record["scores"][split][0]
    ci = scores.get("main_score_ci") or {}
    compression = meta.get("compression") or {}
    git = meta.get("git") or {}
    versions = meta.get("versions") or {}
    encoding = meta.get("encoding") or {}
    model = meta["model"]
    lineage = meta.get("lineage") or model.get("lineage") or {}
    return {
        "model": model["name"],
        "revision": model_revision(model)[:12],  # local models: local-<weights digest>, so two are two rows
        "strategy": meta.get("strategy") or meta["pooling"].get("slug") or meta["pooling"].get("name"),
        "pooling": meta["pooling"].get("slug") or meta["pooling"].get("name"),
        "settings": meta.get("settings_id") or "",
        "settings_items": flatten(meta.get("settings") or {}),
        "compression": compression.get("method", "none"),
        "dims": compression.get("dims"),
        "bytes_per_vector": compression.get("bytes_per_vector"),
        "task": meta["task"],
        "kind": result_kind(record),
        "type": (meta.get("task_config") or {}).get("type"),
        "metric": meta.get("main_score_name"),
        "score": scores.get("main_score"),
        "ci_low": ci.get("low"),
        "ci_high": ci.get("high"),
        "ci_level": ci.get("level"),
        "dataset_revision": record.get("dataset_revision"),
        "model_source": model.get("source"),
        "weights_sha256": (model.get("weights_sha256") or "")[:16],
        "base_model": lineage.get("base_model"),
        "bench_version": versions.get("bench"),
        "git_commit": (git.get("commit") or "")[:10] + ("+dirty" if git.get("dirty") else ""),
        "torch": versions.get("torch"),
        "transformers": versions.get("transformers"),
        "device": encoding.get("device"),
        "dtype": encoding.get("dtype"),
        "created": meta.get("created"),
        "path": str(path),
    }


def flatten(settings: dict, prefix: str = "") -> dict[str, str]:
    """Settings as ``key.path -> short text``; the data of the splits becomes one item, where it came from
    (``hub`` or ``local``): which file it was differs from task to task and is not a variant."""
    out: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if name == "data" and isinstance(value, dict):
            test = str(value.get("test", next(iter(value.values()), "")))
            out["data"] = "hub" if test.startswith("hub:") else "local"
        elif name == "compression.fit_data":
            continue
        elif isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out


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


def entries_frame(results: list[tuple[Path, dict]]) -> pd.DataFrame:
    """The long table of every result (empty frame when there are none)."""
    frame = pd.DataFrame([entry(path, record) for path, record in results])
    if frame.empty:
        return frame
    frame["variant"] = variant_labels(frame)
    frame = frame.drop(columns=["settings_items"])
    return frame.sort_values(["task", "score"], ascending=[True, False], na_position="last").reset_index(drop=True)
