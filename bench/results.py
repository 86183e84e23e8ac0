"""Result records in MTEB's layout, plus bench's provenance block, written atomically.

Layout: ``RESULTS_DIR/<model slug>/<revision>/<pooling slug>/<task>.json`` -- one file per
(model, revision, pooling, task). The top level follows MTEB (``task_name``, ``dataset_revision``,
``evaluation_time``, ``scores.<split>[...]`` with ``main_score``, ``hf_subset``, ``languages``) so
MTEB tooling can read the scores; everything bench adds sits under ``bench``.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np

from bench.atomic import atomic_file
from bench.errors import BenchError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1


def result_path(results_dir: str | Path, model_slug: str, revision: str, pooling_slug: str, task: str) -> Path:
    return Path(results_dir) / model_slug / revision / pooling_slug / f"{task}.json"


def _finite(value):
    """JSON has no NaN: a correlation that is undefined (constant input) is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def build_record(*, task, split: str, scores: dict, main_score_name: str, dataset_revision: str | None,
                 evaluation_time: float, provenance: dict, name: str | None = None) -> dict:
    """``name`` is the result's name in tables and files (default: the task's result name)."""
    subset = task.lang if len(task.languages) > 1 else "default"
    entry = {**scores, "hf_subset": subset, "languages": [task.language_code]}
    return _finite({
        "task_name": task.mteb_name,
        "dataset_revision": dataset_revision,
        "evaluation_time": round(evaluation_time, 3),
        "mteb_version": None,
        "scores": {split: [entry]},
        "bench": {"schema_version": SCHEMA_VERSION, "task": name or task.result_name, "main_score_name": main_score_name,
                  **provenance},
    })


def model_revision(model: dict) -> str:
    """The revision a model's results are filed under and shown as (``model`` is a result's model
    provenance): the resolved hub commit or configured revision; for a local directory, which has no
    revision, ``local-`` and the first 12 hex digits of its weights' SHA-256."""
    if model.get("source") == "local" and model.get("weights_sha256"):
        return f"local-{model['weights_sha256'][:12]}"
    return model.get("resolved_revision") or model.get("revision") or ""


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text)


def write_json_atomic(path: Path, payload: dict) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


OVERWRITE_POLICIES = ("missing", "always", "never")


def reusable_result(path: Path, dataset_revision: str | None) -> dict | None:
    """An existing result that a resumed run may keep: readable, complete, and computed on the same
    data (same file checksum or hub revision). Anything else is reported and recomputed."""
    if not path.exists():
        return None
    try:
        record = read_result(path)
        split = next(iter(record["scores"]))
        record["scores"][split][0]["main_score"]
    except (BenchError, KeyError, IndexError, StopIteration, TypeError):
        log.warning("%s is unreadable or incomplete; recomputing it.", path)
        return None
    if record.get("dataset_revision") != dataset_revision:
        log.warning("%s was computed on other data (%s, now %s); recomputing it.", path,
                    record.get("dataset_revision"), dataset_revision)
        return None
    return record


def pairs_path(result: Path) -> Path:
    """Per-pair scores stored beside a result (``<task>.pairs.npz``), for paired comparisons."""
    return result.with_name(result.stem + ".pairs.npz")


def write_pairs_atomic(path: Path, pairs: dict[str, np.ndarray], targets: np.ndarray) -> None:
    """numpy's npz of plain numeric arrays (read back with allow_pickle=False), written atomically."""
    with atomic_file(path, "wb") as handle:
        np.savez(handle, targets=np.asarray(targets, dtype=np.float64),
                 **{f"score_{k}": np.asarray(v, dtype=np.float64) for k, v in pairs.items()})


def read_pairs(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            pairs = {k.removeprefix("score_"): data[k] for k in data.files if k.startswith("score_")}
            return pairs, data["targets"]
    except (OSError, ValueError, KeyError) as exc:
        raise BenchError(f"cannot read per-pair scores {path}: {exc}") from None


def read_result(path: Path) -> dict:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read result file {path}: {exc}") from None
    if "scores" not in record or "bench" not in record:
        raise BenchError(f"{path} is not a bench result (no 'scores'/'bench' keys).")
    return record


def iter_results(results_dir: str | Path) -> list[tuple[Path, dict]]:
    """Every readable bench result below ``results_dir``; unreadable files are reported, not used."""
    out = []
    for path in sorted(Path(results_dir).glob("**/*.json")):
        if path.name.startswith("."):
            continue
        try:
            out.append((path, read_result(path)))
        except BenchError as exc:
            log.warning("skipping %s", exc)
    return out
