"""Which entries are not significantly worse than the best one on the same task?

For every task, the best entry (highest main score) is compared with each other entry by a paired
bootstrap over the same test pairs (:func:`bench.scoring.stats.paired_bootstrap`, using the per-pair scores
stored beside each result). An entry is *not significantly worse* when the upper end of the
interval for (entry - best) reaches 0. Entries evaluated on other test pairs, or without per-pair
scores, get no mark (shown as "n/a").

Comparisons are cached in ``<results>/.significance.json`` under the SHA-256 of both per-pair files
and the bootstrap settings, so rebuilding the leaderboard after each run of a sweep stays cheap. The
cache is saved (atomically) as the comparisons finish, every few seconds, so a build that is killed
keeps what it computed and the next one computes only the rest.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.atomic import write_json_atomic
from bench.digests import sha256_file
from bench.errors import BenchError
from bench.results.record import ResultKind, pairs_path, read_pairs
from bench.scoring import main_function
from bench.scoring.stats import paired_bootstrap

log = logging.getLogger(__name__)

CACHE_NAME = ".significance.json"
COLUMNS = ["best", "not_worse", "diff_vs_best", "diff_low", "diff_high", "p_vs_best"]
#: A cross-encoder row against the best bi-encoder on its test pairs (:func:`versus_bi_encoders`).
VERSUS_BI = ["bi_best", "bi_score", "bi_diff", "bi_low", "bi_high", "bi_p"]
#: Comparisons computed are saved to the cache at least this often (seconds) while a build runs.
SAVE_SECONDS = 2.0


def _digest(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _load_cache(path: Path) -> dict:
    try:
        cache = json.loads(path.read_text(encoding="utf-8"))
        return cache if isinstance(cache, dict) else {}
    except (OSError, json.JSONDecodeError):
        return {}


class CacheWriter:
    """Saves the comparison cache while a build computes: the earlier entries plus every one computed so far,
    at most every :data:`SAVE_SECONDS`; at the end, only the entries this build used. A cache that cannot be
    written costs a warning (the marks are still in the leaderboard), never the build."""

    def __init__(self, path: Path, cache: dict):
        self.path, self.cache, self.last, self.failed = path, cache, time.monotonic(), False

    def computed(self, used: dict) -> None:
        if time.monotonic() - self.last >= SAVE_SECONDS:
            self._write({**self.cache, **used})

    def finish(self, used: dict) -> None:
        if used != self.cache:
            self._write(used)

    def _write(self, payload: dict) -> None:
        self.last = time.monotonic()
        if self.failed:
            return
        try:
            write_json_atomic(self.path, payload)
        except OSError as exc:
            self.failed = True
            log.warning("cannot save the significance cache %s (%s); the marks of this build are in the "
                        "leaderboard but will be computed again next time.", self.path, exc.strerror or exc)


def paired_from_files(task_type: str, path_a: Path, path_b: Path, *, resamples: int = 10000, level: float = 0.95,
                      seed: int = 0, task_type_b: str | None = None) -> dict:
    """Paired bootstrap over the per-pair score files of two results (``<task>.pairs.npz``); a
    :class:`BenchError` when a file is unreadable or the two were not scored on the same test pairs.
    ``task_type_b``: b's type when it differs (a bi-encoder against a cross-encoder, same metric)."""
    pairs_a, targets_a = read_pairs(path_a)
    pairs_b, targets_b = read_pairs(path_b)
    if not np.array_equal(targets_a, targets_b):
        raise BenchError(f"{path_a} and {path_b} hold different per-pair targets: not the same test pairs.")
    return paired_bootstrap(main_function(task_type), pairs_a, pairs_b, targets_a, resamples=resamples, seed=seed,
                            level=level, main_b=main_function(task_type_b or task_type))


def compare_with_best(entries: pd.DataFrame, results_dir: str | Path, *, resamples: int = 1000, level: float = 0.95,
                      seed: int = 0, cache_dir: str | Path | None = None) -> pd.DataFrame:
    """``entries`` with the columns of :data:`COLUMNS` added (one paired bootstrap per non-best entry).

    The comparisons are cached in ``cache_dir`` (default: the results folder)."""
    out = entries.copy()
    for column in COLUMNS:
        out[column] = pd.Series([None] * len(out), dtype=object)
    bests = mark_best(out)  # bold never depends on the significance resamples
    if out.empty or resamples <= 0:
        versus_bi_encoders(out, {}, {}, 0, level, seed)
        return out
    cache_path = Path(cache_dir if cache_dir is not None else results_dir) / CACHE_NAME
    cache = _load_cache(cache_path)
    writer = CacheWriter(cache_path, cache)
    used: dict = {}
    for task, group in comparable_rows(out).groupby("task"):
        if task not in bests:
            continue
        best = bests[task][0]  # tied bests are all bold; the others are compared with the first
        best_file = pairs_path(Path(out.at[best, "path"]))
        best_digest = _digest(best_file)
        if best_digest is None:
            continue
        for index in group.index.drop(bests[task]):
            other_file = pairs_path(Path(out.at[index, "path"]))
            digest = _digest(other_file)
            if digest is None or out.at[index, "score"] is None or pd.isna(out.at[index, "score"]):
                continue
            key = f"{digest}:{best_digest}:{resamples}:{level}:{seed}"
            result = cache.get(key)
            computed = key not in cache
            if computed:
                result = _paired(out.at[index, "type"], other_file, best_file, resamples, level, seed)
            used[key] = result
            if computed:
                writer.computed(used)
            if result is None:
                continue
            out.at[index, "diff_vs_best"] = result["difference"]
            out.at[index, "diff_low"] = result["low"]
            out.at[index, "diff_high"] = result["high"]
            out.at[index, "p_vs_best"] = result["p_value"]
            out.at[index, "not_worse"] = bool(result["high"] >= 0)
    versus_bi_encoders(out, cache, used, resamples, level, seed, writer)
    writer.finish(used)
    return out


def comparable_rows(out: pd.DataFrame) -> pd.DataFrame:
    """The rows on their task's reference data and metric (:mod:`bench.results.comparability`): only they compete."""
    return out[out["reference"].astype(bool)] if "reference" in out and not out.empty else out


def mark_best(out: pd.DataFrame) -> dict:
    """Set ``best`` (True for the highest score of each task among comparable rows, every one of them when tied;
    False for the others with a score) and ``not_worse`` of the best rows; returns each task's best row indices."""
    bests: dict = {}
    if out.empty:
        return bests
    for task, group in comparable_rows(out).groupby("task"):
        scored = group.dropna(subset=["score"])
        if scored.empty:
            continue
        top = scored["score"].astype(float)
        tied = list(top.index[top == top.max()])
        out.loc[scored.index, "best"] = False
        for index in tied:
            out.at[index, "best"] = True
            out.at[index, "not_worse"] = True
        bests[task] = tied
    return bests


def bi_encoder_counterparts(entries: pd.DataFrame, row) -> pd.DataFrame:
    """The bi-encoder results scored on a cross-encoder result's test pairs by the same metric: zero-shot
    results of its task for a regression or binary head, the 3-way NLI probes for an NLI head; only those
    on the same test data (:mod:`bench.results.comparability`)."""
    same_task = (entries["base_task"] == row["base_task"]) & (entries["data_key"] == row["data_key"])
    if row["type"] == "cross_nli":
        return entries[same_task & (entries["type"] == "probe_classification")]
    return entries[same_task & (entries["kind"] == ResultKind.ZERO_SHOT)]


def versus_bi_encoders(out: pd.DataFrame, cache: dict, used: dict, resamples: int, level: float, seed: int,
                       writer: CacheWriter | None = None) -> None:
    """For every cross-encoder row: the best bi-encoder on the same pairs (``bi_best``, ``bi_score``) and
    the paired difference cross - bi (``bi_diff`` with its interval and p-value when resamples > 0)."""
    for column in VERSUS_BI:
        out[column] = pd.Series([None] * len(out), dtype=object)
    if "base_task" not in out:
        return
    for index in out.index[out["kind"] == ResultKind.CROSS_ENCODER]:
        row = out.loc[index]
        candidates = bi_encoder_counterparts(out, row).dropna(subset=["score"])
        if candidates.empty or row["score"] is None or pd.isna(row["score"]):
            continue
        best = candidates.loc[candidates["score"].idxmax()]
        out.at[index, "bi_best"] = f"{best['model']} · {best['strategy']}" + (f" ({best['variant']})" if best["variant"] else "")
        out.at[index, "bi_score"] = best["score"]
        out.at[index, "bi_diff"] = row["score"] - best["score"]
        files = pairs_path(Path(row["path"])), pairs_path(Path(best["path"]))
        digests = [_digest(f) for f in files]
        if resamples <= 0 or None in digests:
            continue
        key = f"{digests[0]}:{digests[1]}:{resamples}:{level}:{seed}"
        computed = key not in cache
        result = cache[key] if not computed else _paired(row["type"], *files, resamples, level, seed,
                                                          task_type_b=best["type"])
        used[key] = result
        if computed and writer is not None:
            writer.computed(used)
        if result is not None:
            out.at[index, "bi_diff"] = result["difference"]
            out.at[index, "bi_low"], out.at[index, "bi_high"] = result["low"], result["high"]
            out.at[index, "bi_p"] = result["p_value"]


def _paired(task_type: str, path: Path, best_path: Path, resamples: int, level: float, seed: int,
            task_type_b: str | None = None) -> dict | None:
    try:
        return paired_from_files(task_type, path, best_path, resamples=resamples, level=level, seed=seed,
                                 task_type_b=task_type_b)
    except BenchError as exc:
        log.info("no significance mark: %s", exc)
        return None
