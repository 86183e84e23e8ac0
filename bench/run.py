"""One evaluation: a model, one embedding strategy, a task or suite -> result files.

The pipeline: plan (settings, data, model, evaluation mode; bad input fails here) -> identify each
result and keep those that exist -> encode what is missing, once -> evaluate every task -> write every
result. ``run(cfg)`` takes the composed Hydra config and returns the result records, so tests and other
programs call it without the CLI; the leaderboard is built at the end of a run or sweep by the CLI.
"""

from __future__ import annotations

import logging
import random
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from bench.encoding.backends import stream_plan
from bench.encoding.cache import EmbeddingCache
from bench.encoding.encode import Encoded, encode_by_prompt
from bench.encoding.vectors import TaskVectors
from bench.errors import OutputError
from bench.identity import Identity, identify
from bench.models.loading import ResolvedModel
from bench.plan import Plan, plan
from bench.results.provenance import run_provenance
from bench.results.record import Result, assemble_record
from bench.results.store import ResultsStore
from bench.tasks.spec import TaskSpec

log = logging.getLogger(__name__)


def run(cfg: DictConfig, model: ResolvedModel | None = None, store: bool = True) -> list[Result]:
    """``model``: a model in memory (:mod:`bench.models.memory`) in the place of ``cfg.model``; ``store=False``:
    score without reading or writing the results store (validation scores during training)."""
    planned = plan(cfg, model)
    seed_everything(planned.seed)
    identities = identify(planned)
    results = ResultsStore(planned.output.results_dir)
    kept = results.keep(identities, planned.output.overwrite) if store else {}
    todo = [spec for spec in planned.specs if spec.result_name not in kept]
    if not todo:
        log.info("all %d results exist with these exact settings; nothing to compute (overwrite=missing).", len(kept))
        return list(kept.values())
    encoded = encode(planned, todo)
    outputs = [evaluate(planned, spec, encoded, identities[spec.result_name]) for spec in todo]
    if not store:
        return [Result.of(record, path) for path, record, _, _ in outputs]
    written, failed = [], {}
    for path, record, pairs, targets in outputs:  # every task is scored before any file is written
        try:
            written.append(results.write(path, record, pairs, targets))
        except OSError as exc:  # a full disk, a folder turned read-only: try the others, then say which
            failed[record.task] = exc
    if failed:
        raise output_error([record.task for _, record, _, _ in outputs], failed, kept)
    return [*kept.values(), *written]


def output_error(tasks: list[str], failed: dict[str, OSError], kept: dict) -> OutputError:
    """Which results of this run were written, which were not and why, and how a rerun finishes the job."""
    written = [t for t in tasks if t not in failed]
    reasons = {}
    for task, exc in failed.items():
        reasons.setdefault(f"{exc.strerror or exc}" + (f" ({exc.filename})" if exc.filename else ""), []).append(task)
    why = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in reasons.items())
    return OutputError(
        f"could not write {len(failed)} of {len(tasks)} computed result(s): {why}. Written: "
        f"{', '.join(written) or 'none'}" + (f" (and {len(kept)} kept from earlier runs)" if kept else "")
        + ". Free space or fix the folder, then rerun the same command: only the missing results are computed.")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode(planned: Plan, specs: list[TaskSpec]) -> dict[str, Encoded]:
    """Every sentence the tasks need (evaluated split, the evaluator's other splits, the compression's fit
    split), under its task type's prompt, deduplicated, once."""
    settings = planned.encode
    if settings.threads:
        torch.set_num_threads(settings.threads)
    log.info("model %s (%s) on %s, strategy %s", planned.model_spec.name, planned.resolved.path, planned.device,
             planned.pooling.slug)
    texts: dict[str, list[str]] = {}
    for spec in specs:
        group = texts.setdefault(planned.model_spec.prompt(spec.type, spec.mteb_name), [])
        for part in planned.data[spec.result_name].values():
            group.extend(part.sentences)
        if spec.result_name in planned.fits:
            group.extend(planned.fits[spec.result_name].sentences)
    return encode_by_prompt(texts, planned.resolved, planned.companions,
                            cache=EmbeddingCache(settings.cache_dir, enabled=settings.cache_enabled),
                            device=planned.device, dtype=getattr(torch, planned.dtype),
                            batch_size=settings.batch_size, progress=settings.progress,
                            devices=planned.devices, runtime=planned.backend,
                            export_root=settings.export_root, threads=settings.threads, streams=settings.streams,
                            shard=planned.shard, max_memory=planned.max_memory)


def evaluate(planned: Plan, spec: TaskSpec, encoded: dict[str, Encoded],
             identity: Identity) -> tuple[Path, Result, dict, np.ndarray]:
    """One task's result record (checked, not yet written) and its per-pair values."""
    start = time.perf_counter()
    prompt = planned.model_spec.prompt(spec.type, spec.mteb_name)
    vectors = TaskVectors(encoded[prompt], planned.pooling.slug, planned.compression,
                          planned.fits.get(spec.result_name), spec.result_name)
    data = planned.data[spec.result_name]
    evaluation = planned.evaluator.evaluate(spec, data, vectors)
    provenance = {
        **run_provenance(planned.seed),
        "model": planned.resolved.provenance(),
        "pooling": {**planned.pooling.as_dict(), "slug": planned.pooling.slug},
        "strategy": planned.strategy,
        # why this strategy, length and prompt: asked for, the model config's, or the model's own files
        "strategy_reason": planned.reasons["strategy"],
        "max_seq_length_reason": planned.reasons["max_seq_length"],
        **({"prompts_reason": own["prompts"]} if "prompts" in (own := getattr(planned.resolved, "reasons", {})) else {}),
        "encoding": {**encoded[prompt].stats(), "prompt": prompt, "device": planned.device, "devices": planned.devices,
                     **({"sharded": True} if planned.shard else {}), "dtype": planned.dtype,
                     "batch_size": planned.encode.batch_size, **planned.backend.provenance(),
                     **({"streams": stream_plan(planned.encode.threads, planned.encode.streams)[0]}
                        if planned.backend.exported else {})},
        "settings": identity.settings,
        "settings_id": identity.settings_id,
        "identity": identity.identity,
    }
    record = assemble_record(spec, data, evaluation, name=planned.evaluator.output_name(spec), provenance=provenance,
                             described=vectors.described, seconds=time.perf_counter() - start,
                             encode_seconds=encoded[prompt].seconds)
    return identity.path, record, evaluation.pairs, evaluation.targets

