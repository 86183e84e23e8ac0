"""The results store: the one way results are written, reused and read.

Every writer (``bench``'s runs, ``bench.train``'s evaluations, which are runs, and ``bench.cross``) and every
reader (leaderboard, gate, compare, export, curves, the printed tables) goes through :class:`ResultsStore`, so
the rules that protect numbers live here once:

- layout: ``<root>/<model slug>/<revision>/<strategy>/<settings id>/<task>.json`` (:func:`bench.results.record.result_path`);
- reuse and overwrite: a result is kept only when its whole identity is the same (:meth:`ResultsStore.keep`, the
  ``overwrite`` policy: missing | always | never), and ``never`` is checked before any work;
- writing: the per-pair scores, then the result, then its index entry, each atomically, so a result that exists
  always has its per-pair file and a kill never leaves half a file (:meth:`ResultsStore.write`);
- reading: every valid result below the root (:meth:`ResultsStore.results`), or the index's rows
  (:meth:`ResultsStore.entries`), which are rebuilt from a result file whenever they disagree with it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np

from bench.atomic import write_json_atomic
from bench.errors import BenchError
from bench.results.index import add_entry, index_entries
from bench.results.record import (
    OVERWRITE_POLICIES,
    Result,
    iter_results,
    pairs_path,
    reusable_result,
    write_pairs_atomic,
)

log = logging.getLogger(__name__)


class Wanted(Protocol):
    """A result a run is about to produce: where it goes and its identity (:class:`bench.identity.Identity`)."""

    path: Path
    identity: str


class ResultsStore:
    """The results below one folder (``results_dir``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def keep(self, wanted: dict[str, Wanted], policy: str) -> dict[str, Result]:
        """The results a run keeps instead of computing (by name), by the overwrite policy.

        ``missing`` (default, resumes sweeps): every valid result of exactly its identity; ``always``: none;
        ``never``: none, and a :class:`BenchError` if any result would be replaced (call it before any work)."""
        if policy not in OVERWRITE_POLICIES:
            from bench.errors import unknown_choice

            raise unknown_choice("overwrite policy", policy, OVERWRITE_POLICIES)
        if policy == "always":
            return {}
        if policy == "never":
            taken = [str(item.path) for item in wanted.values() if item.path.exists()]
            if taken:
                raise BenchError(f"overwrite=never, but these results exist: {', '.join(taken)}. "
                                 f"Use overwrite=missing to keep them and compute the rest, or overwrite=always.")
            return {}
        kept = {}
        for name, item in wanted.items():
            result = reusable_result(item.path, item.identity)
            if result is not None:
                kept[name] = result
        return kept

    def write(self, path: Path, record: dict, pairs: dict[str, np.ndarray], targets: np.ndarray) -> Result:
        """One result: its per-pair scores, the record (checked against the contract unless it is a
        :class:`Result`, checked when built), its index entry."""
        result = Result.of(record, path)
        write_pairs_atomic(pairs_path(path), pairs, targets)
        write_json_atomic(path, result)
        add_entry(self.root, path, result)  # the leaderboard is built from the index
        if result.undefined_reason:
            log.warning("%s: %s is undefined (%s); recorded as null -> %s", result.task, result.main_score_name,
                        result.undefined_reason, path)
        else:
            log.info("%s: %s = %.4f -> %s", result.task, result.main_score_name, result.main_score, path)
        return result

    def results(self) -> list[tuple[Path, Result]]:
        """Every valid result below the root, as (path, result); malformed files are reported and skipped."""
        return iter_results(self.root)

    def entries(self) -> list[dict]:
        """One row per valid result (:func:`bench.results.index.entry`), from the index where it agrees with the file."""
        return index_entries(self.root)
