"""Result files as a table, bench's and MTEB's, and your runs ranked beside published ones.

:func:`load_results` reads a bench results folder, a clone of MTEB's results repository
(``embeddings-benchmark/results``) or an ``mteb`` results cache, in every format MTEB has written, following
the installed ``mteb`` package's own loader (``mteb.results.TaskResult.from_disk``):

* ``mteb-1.x`` (before 1.11): ``mteb_dataset_name``, the scores at the top level by split, metrics nested by
  similarity (``"cos_sim": {"spearman": ...}``, ``"max": {"ap": ...}``), no ``main_score``. As mteb converts
  them: ``cos_sim`` -> ``cosine_``, ``euclidean``/``manhattan``/``dot`` -> ``euclidean_``/``manhattan_``/``dot_``,
  ``max`` -> ``max_``; the main score is the task's main metric.
* ``mteb-1.11+``: ``task_name``, ``scores: {split: [{..., "main_score", "hf_subset", "languages"}]}``; before
  1.12.48 pair classification metrics may still be nested (``{"cos_sim": {"ap": ...}}`` -> ``cos_sim_ap``).
* ``mteb-2.x``: the same fields, ``mteb_version`` 2.x, and a ``model_meta.json`` (``name``, ``revision``) in the
  revision folder.

The model and revision come from ``model_meta.json`` when there is one, else from the folder layout
(``<org>__<name>/<revision>/<Task>.json``), as mteb does with ``require_model_meta=False``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.results.comparability import Basis, published_basis, published_data_basis, published_reasons, reference_bases
from bench.results.record import NOT_RESULTS, Result

log = logging.getLogger(__name__)

COLUMNS = ["origin", "format", "task", "mteb_task", "subset", "split", "main_score", "main_score_name",
           "main_score_low", "main_score_high", "model", "revision", "strategy", "dataset_revision", "mteb_version",
           "path", "data_key", "data_label"]
#: mteb's renames of similarity blocks in results before 1.11 (``TaskResult._convert_from_before_v1_11_0``).
OLD_BLOCKS = (("cosine", "cos_sim"), ("manhattan", "manhattan"), ("euclidean", "euclidean"), ("dot", "dot"),
              ("max", "max"), ("similarity", "similarity"))
#: Keys of a pre-1.11 split that are metric blocks, not language subsets (the same test as mteb's).
NOT_SUBSETS = {"v_measures", "cos_sim", "euclidean", "manhattan", "dot", "max"}
#: Tasks mteb renamed since (``renamed_tasks`` in mteb.results.task_result), the ones bench has.
RENAMED = {"PPC": "PpcPC"}
MODEL_META = "model_meta.json"


@dataclass(frozen=True)
class KnownTask:
    """A bench task as MTEB names it: its result name, type, main metric and the hub data it is scored on."""

    result_name: str
    mteb_task: str
    subset: str
    type: str
    main_score_name: str
    eval_split: str
    hub_revision: str
    hub_path: str


@lru_cache(maxsize=1)
def known_tasks() -> dict[tuple[str, str], KnownTask]:
    """bench's tasks by (MTEB task name, hf subset), read from the ``conf/task`` files (the keys used here
    are in each task's own file, so nothing is composed)."""
    from bench.config import conf_values, group_choices
    from bench.scoring import MAIN_SCORES

    out = {}
    for name in group_choices("task"):
        values = conf_values("task", name)
        if "type" not in values:  # a suite
            continue
        languages = values.get("languages") or {}
        for lang in languages:
            result_name = values["name"] if len(languages) == 1 else f"{values['name']}.{lang}"
            subset = "default" if len(languages) == 1 else lang
            key = (values.get("mteb_name", values["name"]), subset)
            out.setdefault(key, KnownTask(result_name, key[0], subset, values["type"], MAIN_SCORES[values["type"]],
                                          values.get("eval_split", "test"),
                                          str((values.get("hub") or {}).get("revision") or ""),
                                          str((values.get("hub") or {}).get("path") or "")))
    return out


def _version(text) -> tuple[int, ...] | None:
    numbers = re.findall(r"\d+", str(text or ""))[:3]
    return tuple(int(n) for n in numbers) if numbers else None


def _flatten_nested(entry: dict) -> dict:
    """``{"cos_sim": {"ap": x}}`` -> ``{"cos_sim_ap": x}`` (mteb's fix of pair classification before 1.12.48)."""
    out = {}
    for key, value in entry.items():
        if isinstance(value, dict):
            out.update({f"{key}_{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def _main_score_name(task: str, subset: str, entry: dict) -> str | None:
    """The metric whose value ``main_score`` is: bench's main metric for a bench task when they agree, else the
    first metric with the same value (None when none has it)."""
    value = entry.get("main_score")
    known = known_tasks().get((task, subset))
    if known is not None and entry.get(known.main_score_name) == value and value is not None:
        return known.main_score_name
    return next((k for k, v in entry.items() if k != "main_score" and v == value and isinstance(v, float)), None)


def from_before_1_11(data: dict) -> tuple[str, dict[str, list[dict]]]:
    """A pre-1.11 MTEB result as (task name, ``{split: [entry]}``), converted as mteb converts it."""
    scores = {k: v for k, v in data.items() if k not in ("dataset_revision", "mteb_dataset_name", "mteb_version")}
    task = RENAMED.get(data["mteb_dataset_name"], data["mteb_dataset_name"])
    nested = any(isinstance(v, dict) for part in scores.values() if isinstance(part, dict)
                 for k, v in part.items() if k not in NOT_SUBSETS)
    out: dict[str, list[dict]] = {}
    for split, part in scores.items():
        if not isinstance(part, dict):
            continue
        part = {k: v for k, v in part.items() if k != "evaluation_time"}
        subsets = part if nested else {"default": part}
        for subset, values in subsets.items():
            entry = {}
            for key, value in values.items():
                renamed = next((new for new, old in OLD_BLOCKS if old == key), None)
                if renamed is not None and isinstance(value, dict):
                    entry.update({f"{renamed}_{k}": v for k, v in value.items()})
                else:
                    entry[key] = value
            if "main_score" not in entry:
                known = known_tasks().get((task, subset))
                entry["main_score"] = entry.get(known.main_score_name) if known is not None else None
            out.setdefault(split, []).append({**entry, "hf_subset": subset})
    return task, out


def model_of(path: Path) -> tuple[str, str | None]:
    """The model and revision of an MTEB result file: ``model_meta.json`` beside it, else the folders."""
    meta = path.parent / MODEL_META
    if meta.is_file():
        try:
            values = json.loads(meta.read_text(encoding="utf-8"))
            return str(values["name"]), values.get("revision")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("%s is unreadable (%s); the model is read from the folder names", meta, exc)
    return path.parent.parent.name.replace("__", "/", 1), path.parent.name


def mteb_rows(path: Path, data: dict) -> list[dict]:
    """The rows of one MTEB result file (one per split and subset)."""
    if "mteb_dataset_name" in data and "scores" not in data:
        task, scores = from_before_1_11(data)
        kind = "mteb-1.x"
    elif isinstance(data.get("scores"), dict) and data.get("task_name"):
        task = RENAMED.get(data["task_name"], data["task_name"])
        version = _version(data.get("mteb_version"))
        flat = version is None or version >= (1, 12, 48)
        scores = {split: [entry if flat else _flatten_nested(entry) for entry in entries]
                  for split, entries in data["scores"].items()}
        kind = "mteb-2.x" if version is not None and version[0] >= 2 else "mteb-1.11+"
    else:
        raise BenchError(f"{path} is neither a bench result nor an MTEB result (no task_name/scores or "
                         f"mteb_dataset_name).")
    model, revision = model_of(path)
    rows = []
    for split, entries in scores.items():
        for entry in entries:
            subset = entry.get("hf_subset", "default")
            known = known_tasks().get((task, subset))
            main_score_name = _main_score_name(task, subset, entry)
            basis = published_basis(known.result_name if known else task, data.get("dataset_revision"),
                                    main_score_name, known.hub_path if known else None)
            rows.append({"origin": "published", "format": kind, "task": known.result_name if known else None,
                         "mteb_task": task, "subset": subset, "split": split, "main_score": entry.get("main_score"),
                         "main_score_name": main_score_name, "main_score_low": None,
                         "main_score_high": None, "model": model, "revision": revision, "strategy": None,
                         "dataset_revision": data.get("dataset_revision"), "mteb_version": data.get("mteb_version"),
                         "path": str(path), "data_key": basis.data, "data_label": basis.label})
    return rows


def bench_row(path: Path, record: dict) -> dict:
    result = Result.of(record, path)
    split = (result.meta.get("task_config") or {}).get("eval_split") or result.split
    basis = published_data_basis(result.meta, task=result.base_task, metric=result.main_score_name, eval_split=split)
    return {"origin": "run here", "format": "bench", "task": result.task, "mteb_task": result.task_name,
            "subset": result.subset, "split": result.split, "main_score": result.main_score,
            "main_score_name": result.main_score_name, "main_score_low": result.interval.get("low"),
            "main_score_high": result.interval.get("high"), "model": result.model.get("hub_id") or result.model_name,
            "revision": result.revision, "strategy": result.strategy,
            "dataset_revision": (result.meta.get("mteb_data") or {}).get("revision") or result.dataset_revision,
            "mteb_version": None, "path": str(path), "data_key": basis.data, "data_label": basis.label}


def result_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise BenchError(f"no results at {path}: give a result file or a folder of them (a bench results folder, "
                         f"a clone of embeddings-benchmark/results, an mteb results cache).")
    return sorted(p for p in path.rglob("*.json") if p.name not in NOT_RESULTS and p.name != MODEL_META
                  and not any(part.startswith(".") for part in p.relative_to(path).parts))


def load_results(path) -> pd.DataFrame:
    """Every result file under ``path`` (bench's and MTEB's, any MTEB format) as one table.

    Args:
        path: a result file, a bench results folder, a clone of MTEB's results repository or an mteb results
            cache (``~/.cache/mteb/results``).

    Returns:
        One row per result (MTEB files: per split and subset): ``origin`` (``run here`` for bench results,
        ``published`` for MTEB files), ``format`` (``bench``, ``mteb-1.x``, ``mteb-1.11+``, ``mteb-2.x``),
        ``task`` (bench's name, when bench has the task), ``mteb_task``, ``subset``, ``split``, ``main_score``,
        ``main_score_name``, the interval (bench results), ``model``, ``revision``, ``strategy`` (bench results),
        ``dataset_revision``, ``mteb_version``, ``path``, and the data the score is on as
        :mod:`bench.results.comparability` judges it against published numbers (``data_key``: ``mteb:<dataset revision>``,
        or a bench result's own test data when it is not a published copy; ``data_label``). Files that are
        neither are skipped with a warning.

    Example:
        >>> import bench
        >>> bench.load_results("results")[["task", "model", "main_score"]]
    """
    root = Path(path)
    rows = []
    for file in result_files(root):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise BenchError(f"{file} is not a JSON object")
            rows.extend([bench_row(file, data)] if "bench" in data else mteb_rows(file, data))
        except BenchError as exc:  # names the file; a bench result's is the contract's one message (Result.of)
            log.warning("skipping %s", exc)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("skipping %s: %s", file, exc)
    return pd.DataFrame(rows, columns=COLUMNS)


def row_basis(row) -> Basis:
    """A row's :class:`~bench.results.comparability.Basis` (its task, data and metric), as :func:`load_results` read it."""
    return Basis(str(row["task"]), str(row["data_key"]), str(row["data_label"]), str(row["main_score_name"] or "unknown"))


def task_reference(task: str, runs: pd.DataFrame, preferred: frozenset[str] = frozenset()) -> Basis:
    """The basis a task's rows are ranked on: the reference of its runs here (the leaderboard's,
    :func:`bench.results.comparability.reference_bases`; a tie goes to data a published number is on), or, with no
    runs, bench's own task: the MTEB dataset revision its config names and its main metric."""
    if len(runs):
        return reference_bases([row_basis(row) for _, row in runs.iterrows()], preferred)[task]
    known = next(k for k in known_tasks().values() if k.result_name == task)
    return published_basis(task, known.hub_revision, known.main_score_name, known.hub_path)


def comparability(row: pd.Series, runs: pd.DataFrame, reference: Basis | None = None) -> str:
    """Whether a published row can be ranked with the runs of its task here, by :mod:`bench.results.comparability`
    (same data, as MTEB dataset revisions; same metric; for a model also run here, the same model revision):
    ``yes`` or what differs."""
    reference = reference or task_reference(str(row["task"]), runs)
    same_model = runs[runs["model"] == row["model"]] if len(runs) else runs
    revisions = {str(r) for r in same_model["revision"]} if len(same_model) else set()
    reasons = published_reasons(row_basis(row), reference, row["revision"], revisions)
    return "yes" if not reasons else "; ".join(reasons)


def _run_label(row: pd.Series, reference: Basis) -> str:
    differences = row_basis(row).differences(reference)
    return "run here" if not differences else "run here; not comparable: " + "; ".join(differences)


def ranked(results_dir, published_dir) -> pd.DataFrame:
    """Your zero-shot runs and the published rows of the same tasks (their evaluation split), each with its
    comparability (``comparable``: ``run here``, ``yes``, or what differs); per task, the comparable rows are
    ranked by main score (``rank``), the others listed after them without a rank."""
    runs = load_results(results_dir) if Path(results_dir).exists() else pd.DataFrame(columns=COLUMNS)
    if len(runs):
        runs = runs[runs["task"].isin({k.result_name for k in known_tasks().values()})]
    published = load_results(published_dir)
    splits = {k.result_name: k.eval_split for k in known_tasks().values()}
    published = published[published["task"].notna()]
    published = published[published.apply(lambda r: splits.get(r["task"]) == r["split"], axis=1)]
    if published.empty and runs.empty:
        return pd.DataFrame(columns=[*COLUMNS, "comparable", "rank"])
    preferred = frozenset(published["data_key"])
    references = {task: task_reference(task, runs[runs["task"] == task], preferred)
                  for task in sorted({*runs["task"], *published["task"]})}
    published = published.assign(comparable=[comparability(row, runs[runs["task"] == row["task"]],
                                                           references[row["task"]])
                                             for _, row in published.iterrows()])
    runs = runs.assign(comparable=[_run_label(row, references[row["task"]]) for _, row in runs.iterrows()])
    frame = pd.concat([df for df in (runs, published) if len(df)], ignore_index=True)
    ranked_here = frame["comparable"].isin(["run here", "yes"])
    frame = frame.assign(_unranked=~ranked_here).sort_values(
        ["task", "_unranked", "main_score"], ascending=[True, True, False], na_position="last")
    frame["rank"] = (frame.groupby(["task", "_unranked"]).cumcount() + 1).where(~frame["_unranked"]).astype("Int64")
    return frame.drop(columns="_unranked").reset_index(drop=True)


def ranked_markdown(frame: pd.DataFrame) -> str:
    """One table per task: rank, model, revision, strategy, score, where it comes from, comparability."""
    lines = ["# Your runs beside published MTEB results", "",
             "Published rows were **not run here**: their numbers are read from the files given. `comparable` says, "
             "by bench's comparability rule (bench.results.comparability), whether the test data (MTEB dataset revision), "
             "the metric and (for a model also run here) the model revision agree; only comparable rows are ranked.",
             ""]
    for task, rows in frame.groupby("task", sort=True):
        lines += [f"## {task}", "", "| rank | model | revision | strategy | main score | origin | comparable |",
                  "|---:|---|---|---|---:|---|---|"]
        for _, row in rows.iterrows():
            score = "" if pd.isna(row["main_score"]) else f"{row['main_score']:.4f}"
            origin = "run here" if row["origin"] == "run here" else f"published ({row['format']}), not run here"
            rank = "" if pd.isna(row["rank"]) else row["rank"]
            lines.append(f"| {rank} | {row['model']} | {str(row['revision'] or '')[:12]} | "
                         f"{row['strategy'] or ''} | {score} | {origin} | {row['comparable']} |")
        lines.append("")
    return "\n".join(lines)


def write_ranked(results_dir, published_dir, out_dir=None) -> dict[str, Path]:
    """``leaderboard_published.md`` and ``.csv`` in ``out_dir`` (default: the results folder)."""
    from bench.atomic import write_text_atomic

    frame = ranked(results_dir, published_dir)
    out = Path(out_dir or results_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "leaderboard_published.md", "csv": out / "leaderboard_published.csv"}
    write_text_atomic(paths["markdown"], ranked_markdown(frame))
    write_text_atomic(paths["csv"], frame.to_csv(index=False))
    return paths
