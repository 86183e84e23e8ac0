"""One row per result file: the score, its interval, what produced it, and where it came from.

Everything the leaderboard shows is derived from this long table, so Markdown, CSV and HTML always
agree. A row is identified by (model, revision, strategy, task).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.results import model_revision

ROW_KEY = ["model", "revision", "strategy"]


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
        "strategy": meta.get("strategy", meta["pooling"]["slug"]),
        "pooling": meta["pooling"]["slug"],
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


def entries_frame(results: list[tuple[Path, dict]]) -> pd.DataFrame:
    """The long table of every result (empty frame when there are none)."""
    frame = pd.DataFrame([entry(path, record) for path, record in results])
    if frame.empty:
        return frame
    return frame.sort_values(["task", "score"], ascending=[True, False], na_position="last").reset_index(drop=True)
