"""The results index: one small entry per result, so a leaderboard is built without re-reading every result.

``RESULTS_DIR/.index/<key>.json`` holds the row :func:`entry` makes of a result (what the leaderboard shows),
keyed by the result's relative path. :func:`index_entries` brings the index up to date by looking at
the result files' modification times only (a stat per file), and reads a result in full only when its
entry is missing or older than the file: results copied in from elsewhere are indexed on the next
build, and a recomputed result replaces its entry. Entries of results that were deleted are dropped.
The cost of a build is one stat per result plus one small read per entry; a job of a sweep adds its
own entries and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from bench.atomic import write_text_atomic
from bench.digests import digest_json
from bench.errors import BenchError
from bench.results.record import NOT_RESULTS, Result, read_result

log = logging.getLogger(__name__)

INDEX = ".index"
FORMAT = 3  # 2: kind may be cross-encoder, base_task added; 3: comparability basis, self-checked entries


def entry(path: Path, record: dict) -> dict:
    """The row a result is in the leaderboard (read through the result contract)."""
    result = Result.of(record, path)
    meta, model, ci, compression = result.meta, result.model, result.interval, result.compression
    git = meta.get("git") or {}
    versions = meta.get("versions") or {}
    encoding = meta.get("encoding") or {}
    lineage = result.lineage
    basis = result.basis
    return {
        "model": result.model_name,
        "revision": result.revision[:12],  # local models: local-<weights digest>, so two are two rows
        "strategy": result.strategy,
        "pooling": result.pooling,
        "settings": result.settings_id,
        "settings_items": flatten(result.settings),
        "compression": compression.get("method", "none"),
        "dims": compression.get("dims"),
        "bytes_per_vector": compression.get("bytes_per_vector"),
        "task": result.task,
        "kind": result.kind.value,
        "base_task": result.base_task,
        "type": result.task_type,
        "metric": result.main_score_name,
        "score": result.main_score,
        "ci_low": ci.get("low"),
        "ci_high": ci.get("high"),
        "ci_level": ci.get("level"),
        "dataset_revision": result.dataset_revision,
        "basis": basis.key,  # what the score may be compared with (bench.results.comparability)
        "data_key": basis.data,
        "data_label": basis.label,
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


#: The fields every index entry has (an entry without one of them is rebuilt from its result file).
ENTRY_FIELDS = ("model", "revision", "strategy", "pooling", "settings", "settings_items", "task", "kind", "base_task",
                "type", "metric", "score", "ci_low", "ci_high", "basis", "data_key", "data_label", "path")


def flatten(settings: dict, prefix: str = "") -> dict[str, str]:
    """Settings as ``key.path -> short text``; the data of the splits becomes one item, where it came from
    (``hub`` or ``local``): which file it was differs from task to task and is not a variant."""
    out: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if name == "data" and isinstance(value, dict):
            test = str(value.get("test", next(iter(value.values()), "")))
            out["data"] = "hub" if test.startswith("hub:") else "local"
            if isinstance(value.get("labels"), dict):  # a label definition other than the task file's
                out["positive"] = ",".join(value["labels"].get("positive") or ())
        elif name == "compression.fit_data":
            continue
        elif isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out




def _key(relative: str) -> str:
    return hashlib.sha256(relative.encode()).hexdigest()[:32]


def _stamp(path: Path) -> list[int]:
    """What changes whenever a result file does: its size, modification and status-change times and inode
    (a file copied in with its old modification time, or replaced, still gets a new ctime or inode)."""
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _payload(relative: str, stamp: list[int], row: dict) -> dict:
    body = {"format": FORMAT, "relative": relative, "stamp": stamp, "entry": row}
    return {**body, "check": digest_json(body)}


def _trusted(payload, relative: str, stamp: list[int]) -> bool:
    """An index entry is used only when it is intact (its own digest matches: no hand edit, no field lost) and
    was made from the result file as it is now; anything else is rebuilt from the file."""
    if not isinstance(payload, dict) or not isinstance(payload.get("entry"), dict):
        return False
    body = {k: payload.get(k) for k in ("format", "relative", "stamp", "entry")}
    return (payload.get("check") == digest_json(body) and body["format"] == FORMAT and body["relative"] == relative
            and body["stamp"] == stamp and set(ENTRY_FIELDS) <= set(body["entry"]))


def result_files(results_dir: Path) -> list[Path]:
    """Every result JSON below ``results_dir`` (hidden folders, leaderboards and job reports left out)."""
    out = []
    for path in results_dir.glob("**/*.json"):
        relative = path.relative_to(results_dir)
        if path.name in NOT_RESULTS or any(part.startswith(".") for part in relative.parts):
            continue
        out.append(path)
    return sorted(out)


def add_entry(results_dir: Path, path: Path, record: dict) -> dict:
    """Index one result (called when it is written); returns the index payload. A results folder that cannot
    be written (a read-only archive) keeps no index: the entry is returned all the same."""
    relative = str(path.relative_to(results_dir))
    payload = _payload(relative, _stamp(path), json.loads(json.dumps(entry(path, record), default=str)))
    try:
        write_text_atomic(results_dir / INDEX / f"{_key(relative)}.json", json.dumps(payload, ensure_ascii=False))
    except OSError as exc:  # the result is safe: the index is a cache of the result files
        log.debug("results index entry for %s not written (%s); it is rebuilt from the file when needed", path, exc)
    return payload


def index_entries(results_dir: str | Path) -> list[dict]:
    """The entries of every valid result under ``results_dir``, indexing what the index lacks and rebuilding
    what disagrees with its result file."""
    results_dir = Path(results_dir)
    folder = results_dir / INDEX
    entries, fresh = [], set()
    for path in result_files(results_dir):
        relative = str(path.relative_to(results_dir))
        fresh.add(_key(relative))
        try:
            stamp = _stamp(path)
        except OSError:
            continue
        try:
            payload = json.loads((folder / f"{_key(relative)}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            payload = None
        if not _trusted(payload, relative, stamp):
            try:
                payload = add_entry(results_dir, path, read_result(path))
            except BenchError as exc:
                log.warning("skipping %s", exc)
                continue
        row = dict(payload["entry"])
        row["path"] = str(path)
        entries.append(row)
    if folder.is_dir():
        for item in folder.glob("*.json"):
            if item.stem not in fresh:  # its result is gone
                try:
                    item.unlink(missing_ok=True)
                except OSError:
                    pass
    return entries
