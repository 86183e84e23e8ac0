"""Result records in MTEB's layout, plus bench's provenance block, written atomically.

Layout: ``RESULTS_DIR/<model slug>/<revision>/<strategy>/<settings id>/<task>.json``: one file per
(model, revision, strategy, settings, task). The settings id is a digest of everything else that can
change the numbers (maximum length, prompt, dtype, compression and its fit data, the data files of every
split used, scoring settings), so results of different settings never share a path, and a resumed run
reuses a result only when its whole identity (settings, weights, tokenizer files, bench version) is the
same. The top level follows MTEB (``task_name``, ``dataset_revision``, ``evaluation_time``,
``scores.<split>[...]`` with ``main_score``, ``hf_subset``, ``languages``) so MTEB tooling can read the
scores; everything bench adds sits under ``bench``, including what the result is (``bench.kind``,
:class:`ResultKind`).

One contract, checked once: a record is checked (:func:`record_problems`, :meth:`Result.of`) when it is built,
before anything is written, or when it is read from a file; a :class:`Result` is a checked record, so the store,
the index and every report pass it on without checking it again, and a record that fails is refused with one
message wherever it is met.
"""

from __future__ import annotations

import json
import logging
import math
import re
from enum import Enum
from pathlib import Path

import numpy as np

from bench.atomic import atomic_file
from bench.digests import digest_json
from bench.errors import BenchError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 3: bench.kind written
PATH_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+=@-]*$")


def safe_part(value: str, what: str) -> str:
    """A name that becomes one folder or file name: no separators, no ``..``, nothing hidden."""
    if not isinstance(value, str) or not PATH_PART.match(value) or ".." in value or len(value) > 200:
        raise BenchError(f"{what} {value!r} cannot name a results folder: use letters, digits and . _ - + = @ "
                         f"(no '/', no '..', not starting with '.').")
    return value


def result_path(results_dir: str | Path, model_slug: str, revision: str, strategy: str, settings_id: str,
                task: str) -> Path:
    parts = [safe_part(model_slug, "model"), safe_part(revision, "model revision"), safe_part(strategy, "strategy"),
             safe_part(settings_id, "settings id"), safe_part(f"{task}.json", "task")]
    return Path(results_dir).joinpath(*parts)


def settings_id(settings: dict) -> str:
    """The short folder name of a settings variant."""
    return digest_json(settings, 10)


def _finite(value):
    """JSON has no NaN: a correlation that is undefined (constant input) is stored as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


class ResultKind(str, Enum):
    """What a result measures, written in every record as ``bench.kind``: three tables that are never ranked
    together. ``zero-shot``: a model's embeddings compared by similarity; ``probe``: a small model trained on
    frozen embeddings (:mod:`bench.evaluators.probe`); ``cross-encoder``: a model fine-tuned on the pairs
    themselves (:mod:`bench.cross`). A training evaluation (``bench.train``) is a zero-shot run of the
    fine-tuned model: ``zero-shot``, with ``bench.lineage`` saying where the model came from.

    The kind is not a setting: it follows from the evaluation mode, which the settings already name, so it is
    not in the settings id and results written before it existed keep their identity (:func:`result_kind`)."""

    ZERO_SHOT = "zero-shot"
    PROBE = "probe"
    CROSS_ENCODER = "cross-encoder"

    def __str__(self) -> str:
        return self.value


def result_kind(meta: dict) -> ResultKind:
    """The kind of a result from its ``bench`` block: ``bench.kind`` as written since schema 3, or, for a
    record written before, the block its evaluation mode added (``cross_encoder``, ``probe``; neither:
    zero-shot). The one place a kind is read, so no reader tries keys."""
    written = meta.get("kind")
    if written is not None:
        return ResultKind(written)
    if meta.get("cross_encoder"):
        return ResultKind.CROSS_ENCODER
    return ResultKind.PROBE if meta.get("probe") else ResultKind.ZERO_SHOT


def build_record(*, task, split: str, scores: dict, main_score_name: str, dataset_revision: str | None,
                 evaluation_time: float, provenance: dict, name: str | None = None,
                 kind: ResultKind = ResultKind.ZERO_SHOT) -> Result:
    """``name`` is the result's name in tables and files (default: the task's result name)."""
    subset = task.lang if len(task.languages) > 1 else "default"
    entry = {**scores, "hf_subset": subset, "languages": [task.language_code]}
    record = _finite({
        "task_name": task.mteb_name,
        "dataset_revision": dataset_revision,
        "evaluation_time": round(evaluation_time, 3),
        "mteb_version": None,
        "scores": {split: [entry]},
        "bench": {"schema_version": SCHEMA_VERSION, "kind": ResultKind(kind).value, "task": name or task.result_name,
                  "main_score_name": main_score_name, **provenance},
    })
    return Result.of(record)  # checked against the contract before anything is written


def assemble_record(spec, data: dict, evaluation, *, name: str, provenance: dict, described: dict,
                    seconds: float, encode_seconds: float) -> Result:
    """A result record: MTEB's fields, and bench's provenance (run, compression, task, data, timing)."""
    from datetime import datetime, timezone

    from bench.results.comparability import test_data_block
    from bench.scoring import undefined_reason
    from bench.tasks.spec import mteb_data

    split = data[spec.eval_split]
    main_score = evaluation.scores.get("main_score")
    undefined = {}
    if main_score is None or not math.isfinite(main_score):  # stored as null, with the reason, never as a number
        undefined = {"main_score_undefined": undefined_reason(evaluation.pairs, evaluation.targets)}
    block = {
        **provenance,
        **evaluation.extra,
        **undefined,
        "compression": described,
        "task_config": {"name": spec.name, "type": evaluation.task_type, "lang": spec.lang,
                        "eval_split": spec.eval_split},
        "mteb_data": mteb_data(spec, split),
        "test_data": test_data_block(split),  # what the score may be compared with (bench.results.comparability)
        "data": {part_name: part.source for part_name, part in data.items()},
        "scoring_seconds": round(seconds, 3),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return build_record(task=spec, split=spec.eval_split, scores=evaluation.scores,
                        main_score_name=evaluation.main_score_name,
                        dataset_revision=split.source.get("revision") or split.source.get("sha256"),
                        evaluation_time=seconds + encode_seconds, provenance=block, name=name, kind=evaluation.kind)


def model_revision(model: dict) -> str:
    """The revision a model's results are filed under and shown as (``model`` is a result's model
    provenance): the resolved hub commit or configured revision; for a local directory, which has no
    revision, ``local-`` and the first 12 hex digits of its weights' SHA-256."""
    if model.get("source") == "local" and model.get("weights_sha256"):
        return f"local-{model['weights_sha256'][:12]}"
    return model.get("resolved_revision") or model.get("revision") or ""


OVERWRITE_POLICIES = ("missing", "always", "never")


def reusable_result(path: Path, identity: str) -> Result | None:
    """An existing result that a resumed run may keep: readable, complete, with readable per-pair scores,
    and of exactly this identity (settings, weights, tokenizer files, bench version). Anything else is
    reported and recomputed."""
    if not path.exists():
        return None
    try:
        record = read_result(path)
        read_pairs(pairs_path(path))
    except BenchError as exc:
        log.warning("%s; recomputing it.", exc)
        return None
    if record["bench"].get("identity") != identity:
        log.warning("%s was computed with other weights, tokenizer files or bench version; recomputing it.", path)
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
    except Exception as exc:  # missing, truncated (BadZipFile, EOFError), or foreign content
        raise BenchError(f"cannot read per-pair scores {path}: {exc.__class__.__name__}: {exc}") from None


def record_problems(record) -> list[str]:
    """What a result file lacks for bench's readers (empty for a valid result)."""
    if not isinstance(record, dict):
        return [f"not a JSON object (got {type(record).__name__})"]
    problems = []
    scores, meta = record.get("scores"), record.get("bench")
    if not isinstance(scores, dict) or not scores:
        problems.append("no scores")
    else:
        entries = next(iter(scores.values()))
        if not (isinstance(entries, list) and entries and isinstance(entries[0], dict) and "main_score" in entries[0]):
            problems.append("no main_score")
    if not isinstance(meta, dict):
        problems.append("no bench provenance block")
    else:
        for key, kind in (("task", str), ("main_score_name", str), ("model", dict), ("pooling", dict)):
            if not isinstance(meta.get(key), kind):
                problems.append(f"no bench.{key}")
        if isinstance(meta.get("model"), dict) and not meta["model"].get("name"):
            problems.append("no bench.model.name")
        problems.extend(kind_problems(meta))
    return problems


def kind_problems(meta: dict) -> list[str]:
    """What the ``bench`` block lacks for its kind: a known ``bench.kind``, and, for a cross-encoder, the suite
    task it was scored on (``bench.cross_encoder.task``)."""
    try:
        kind = result_kind(meta)
    except (TypeError, ValueError):
        return [f"bench.kind {meta.get('kind')!r} is none of {', '.join(k.value for k in ResultKind)}"]
    block = meta.get("cross_encoder")
    if kind is ResultKind.CROSS_ENCODER and not (isinstance(block, dict) and isinstance(block.get("task"), str)):
        return ["no bench.cross_encoder.task"]
    return []


class Result(dict):
    """The result contract, shared by the writer and every reader (leaderboard, gate, export, compare,
    reuse): MTEB's TaskResult fields (``task_name``, ``dataset_revision``, ``evaluation_time``,
    ``mteb_version``, ``scores``) and bench's provenance block (``bench``). :meth:`of` checks a record
    against it, so readers use typed fields instead of trying keys, and a record is checked when built or
    read, once: a ``Result`` is a checked record, and :meth:`of` passes it on without checking it again.

    What :func:`bench.run.run` returns: typed fields (``main_score``, ``basis``, ``kind``, ``path``...) on the
    record as written, which it is (a ``dict``: ``result["scores"]``, ``json.dumps(result)``)."""

    def __init__(self, record: dict, path: Path | None = None):
        super().__init__(record)
        self.path = path

    @property
    def record(self) -> dict:
        return self

    @classmethod
    def of(cls, record, path: Path | None = None) -> Result:
        """The one check of a record against the contract, and its one message when it fails."""
        if isinstance(record, Result):  # checked when it was made
            return record if path is None or record.path == path else cls(record, path)
        problems = record_problems(record)
        if problems:
            raise BenchError(f"{path or 'the record'} is not a complete bench result ({', '.join(problems)}).")
        return cls(record, path)

    @property
    def meta(self) -> dict:
        return self.record["bench"]

    @property
    def split(self) -> str:
        return next(iter(self.record["scores"]))

    @property
    def scores(self) -> dict:
        return self.record["scores"][self.split][0]

    @property
    def main_score(self) -> float | None:
        return self.scores.get("main_score")

    @property
    def undefined_reason(self) -> str | None:
        """Why the main score has no value (None when it has one): the reason the writer recorded
        (``bench.main_score_undefined``), or, for an older result with a null score, that it is missing."""
        if self.main_score is not None:
            return None
        return self.meta.get("main_score_undefined") or "the result records no value for its main score"

    @property
    def main_score_name(self) -> str:
        return self.meta["main_score_name"]

    @property
    def interval(self) -> dict:
        return self.scores.get("main_score_ci") or {}

    @property
    def task(self) -> str:
        """bench's name of the result (``cdsc_r``, ``stsb_multi_mt.pl``, ``cdsc_e.nli_probe``)."""
        return self.meta["task"]

    @property
    def task_name(self) -> str | None:
        """MTEB's task name (``CDSC-R``)."""
        return self.record.get("task_name")

    @property
    def task_type(self) -> str | None:
        return (self.meta.get("task_config") or {}).get("type")

    @property
    def subset(self) -> str:
        return self.scores.get("hf_subset", "default")

    @property
    def dataset_revision(self) -> str | None:
        return self.record.get("dataset_revision")

    @property
    def model(self) -> dict:
        return self.meta["model"]

    @property
    def model_name(self) -> str:
        return self.model["name"]

    @property
    def revision(self) -> str:
        return model_revision(self.model)

    @property
    def pooling(self) -> str:
        return self.meta["pooling"].get("slug") or self.meta["pooling"].get("name")

    @property
    def strategy(self) -> str:
        return self.meta.get("strategy") or self.pooling

    @property
    def kind(self) -> ResultKind:
        """What the result measures (:class:`ResultKind`): written in the record, inferred for older ones."""
        return result_kind(self.meta)

    @property
    def is_probe(self) -> bool:
        return self.kind is ResultKind.PROBE

    @property
    def base_task(self) -> str:
        """The suite task whose test pairs a result was scored on (``cdsc_e`` for ``cdsc_e.cross_nli``)."""
        if self.kind is ResultKind.CROSS_ENCODER:
            return self.meta["cross_encoder"]["task"]
        return self.task.rsplit(".", 1)[0] if self.kind is ResultKind.PROBE else self.task

    @property
    def lineage(self) -> dict:
        """Where a fine-tuned model came from (``bench.lineage``, or its model block's), empty otherwise."""
        return self.meta.get("lineage") or self.model.get("lineage") or {}

    @property
    def settings(self) -> dict:
        return self.meta.get("settings") or {}

    @property
    def settings_id(self) -> str:
        return self.meta.get("settings_id") or ""

    @property
    def compression(self) -> dict:
        return self.meta.get("compression") or {}

    @property
    def basis(self):
        """What this score was computed on (test pairs, metric): :class:`bench.results.comparability.Basis`."""
        from bench.results.comparability import basis_of

        split = (self.meta.get("task_config") or {}).get("eval_split") or self.split
        return basis_of(self.meta, task=self.base_task, metric=self.main_score_name, eval_split=split)

    @property
    def prompt(self) -> str:
        return (self.meta.get("encoding") or {}).get("prompt", "")


def read_result(path: Path) -> Result:
    """A result file, checked against the contract (:meth:`Result.of`): the one way a result is read."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BenchError(f"cannot read result file {path}: {exc}") from None
    return Result.of(record, path)


def iter_results(results_dir: str | Path) -> list[tuple[Path, Result]]:
    """Every valid bench result below ``results_dir``; malformed files are reported and skipped."""
    out = []
    root = Path(results_dir)
    for path in sorted(root.glob("**/*.json")):
        if path.name in NOT_RESULTS or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue  # hidden: Hydra's job folders (.hydra/), temporary files
        try:
            out.append((path, read_result(path)))
        except BenchError as exc:
            log.warning("skipping %s", exc)
    return out


#: JSON files that live in results folders but are not results (job reports, the leaderboard index).
NOT_RESULTS = frozenset({"bench_job.json", "leaderboard_index.json", "multirun.json"})
