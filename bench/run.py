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

from bench.atomic import write_json_atomic
from bench.cache import EmbeddingCache
from bench.encode import Encoded, encode_by_prompt
from bench.identity import Identity, existing_results, identify
from bench.index import add_entry
from bench.plan import Plan, companions, plan
from bench.provenance import run_provenance
from bench.results import assemble_record, pairs_path, write_pairs_atomic
from bench.tasks import TaskSpec
from bench.vectors import TaskVectors

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> list[dict]:
    planned = plan(cfg)
    seed_everything(int(cfg.seed))
    identities = identify(cfg, planned)
    kept = existing_results(identities, str(cfg.overwrite))
    todo = [spec for spec in planned.specs if spec.result_name not in kept]
    if not todo:
        log.info("all %d results exist with these exact settings; nothing to compute (overwrite=missing).", len(kept))
        return list(kept.values())
    encoded = encode(cfg, planned, todo)
    outputs = [evaluate(cfg, planned, spec, encoded, identities[spec.result_name]) for spec in todo]
    for path, record, pairs, targets in outputs:  # every task is scored before any file is written
        write(Path(cfg.results_dir), path, record, pairs, targets)
    return [*kept.values(), *(record for _, record, _, _ in outputs)]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def encode(cfg: DictConfig, planned: Plan, specs: list[TaskSpec]) -> dict[str, Encoded]:
    """Every sentence the tasks need (evaluated split, the evaluator's other splits, the compression's fit
    split), under its task type's prompt, deduplicated, once."""
    if cfg.encode.threads:
        torch.set_num_threads(int(cfg.encode.threads))
    log.info("model %s (%s) on %s, strategy %s", planned.model_spec.name, planned.resolved.path, planned.device,
             planned.pooling.slug)
    texts: dict[str, list[str]] = {}
    for spec in specs:
        group = texts.setdefault(planned.model_spec.prompt(spec.type), [])
        for part in planned.data[spec.result_name].values():
            group.extend(part.sentences)
        if spec.result_name in planned.fits:
            group.extend(planned.fits[spec.result_name].sentences)
    return encode_by_prompt(texts, planned.resolved, companions(planned.pooling, cfg.encode.precompute),
                            cache=EmbeddingCache(cfg.cache.dir, enabled=bool(cfg.cache.enabled)),
                            device=planned.device, dtype=getattr(torch, planned.dtype),
                            batch_size=int(cfg.encode.batch_size), progress=bool(cfg.encode.progress),
                            runtime=planned.backend, export_root=Path(cfg.cache.dir) / "exports",
                            threads=cfg.encode.threads)


def evaluate(cfg: DictConfig, planned: Plan, spec: TaskSpec, encoded: dict[str, Encoded],
             identity: Identity) -> tuple[Path, dict, dict, np.ndarray]:
    """One task's result record (not yet written) and its per-pair values."""
    start = time.perf_counter()
    prompt = planned.model_spec.prompt(spec.type)
    vectors = TaskVectors(encoded[prompt], planned.pooling.slug, planned.compression,
                          planned.fits.get(spec.result_name), spec.result_name)
    data = planned.data[spec.result_name]
    evaluation = planned.evaluator.evaluate(spec, data, vectors)
    provenance = {
        **run_provenance(int(cfg.seed)),
        "model": planned.resolved.provenance(),
        "pooling": {**planned.pooling.as_dict(), "slug": planned.pooling.slug},
        "strategy": planned.strategy,
        "encoding": {**encoded[prompt].stats(), "prompt": prompt, "device": planned.device, "dtype": planned.dtype,
                     "batch_size": int(cfg.encode.batch_size), **planned.backend.provenance()},
        "settings": identity.settings,
        "settings_id": identity.settings_id,
        "identity": identity.identity,
    }
    record = assemble_record(spec, data, evaluation, name=planned.evaluator.output_name(spec), provenance=provenance,
                             described=vectors.described, seconds=time.perf_counter() - start,
                             encode_seconds=encoded[prompt].seconds)
    return identity.path, record, evaluation.pairs, evaluation.targets


def write(results_dir: Path, path: Path, record: dict, pairs: dict, targets: np.ndarray) -> None:
    write_pairs_atomic(pairs_path(path), pairs, targets)
    write_json_atomic(path, record)
    add_entry(results_dir, path, record)  # the leaderboard is built from the index at the end
    split = next(iter(record["scores"]))
    log.info("%s: %s = %.4f -> %s", record["bench"]["task"], record["bench"]["main_score_name"],
             record["scores"][split][0]["main_score"], path)
