"""A result's identity: everything that can change its numbers, its path, and whether it can be reused.

The path holds the model, its revision and the strategy; the settings id (a digest of the rest, stored in
full as ``bench.settings``) makes results of other settings live apart. ``overwrite=missing`` reuses a
result only when its whole identity is the same: settings, the weights and tokenizer/config files, and
bench's version (a fix to bench's code must not be masked by an old number).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from omegaconf import DictConfig

from bench import __version__
from bench.data.schema import PairData
from bench.digests import digest_json
from bench.errors import BenchError
from bench.plan import Plan
from bench.results import model_revision, result_path, reusable_result, settings_id
from bench.tasks import TaskSpec


def data_id(part: PairData) -> str:
    """What identifies a split's data: the file's SHA-256, or the hub file at its revision."""
    source = part.source
    if source.get("sha256"):
        return f"sha256:{source['sha256']}"
    return f"hub:{source.get('path')}@{source.get('revision')}/{source.get('file') or source.get('split')}"


def task_settings(cfg: DictConfig, spec: TaskSpec, planned: Plan) -> dict:
    """Everything besides model weights, strategy name and task that can change this result's numbers."""
    parts = planned.data[spec.result_name]
    compression = None
    if planned.compression.active:
        compression = {**planned.compression.identity,
                       "fit_task": planned.compression.fit_task or spec.result_name,
                       "fit_data": data_id(planned.fits[spec.result_name])}
    scoring = planned.evaluator.settings(spec, parts)
    return {
        "model": {"max_seq_length": planned.model_spec.max_seq_length, "prompt": planned.model_spec.prompt(spec.type),
                  "dtype": planned.dtype, **planned.backend.identity()},
        "pooling": planned.pooling.as_dict(),
        "compression": compression,
        "data": {name: data_id(part) for name, part in parts.items()},
        "scoring": {**{k: v for k, v in scoring.items() if k != "probe"},
                    "bootstrap": int(cfg.stats.bootstrap), "level": float(cfg.stats.level), "seed": int(cfg.seed)},
        "probe": scoring.get("probe"),
    }


@dataclasses.dataclass(frozen=True)
class Identity:
    settings: dict
    settings_id: str
    identity: str
    path: Path


def identify(cfg: DictConfig, planned: Plan) -> dict[str, Identity]:
    """Each task's settings, identity and result path."""
    resolved = planned.resolved
    revision = model_revision(resolved.provenance())
    out = {}
    for spec in planned.specs:
        settings = task_settings(cfg, spec, planned)
        out[spec.result_name] = Identity(
            settings, settings_id(settings),
            digest_json({"settings": settings, "weights_sha256": resolved.weights_sha256,
                    "files_sha256": resolved.files_sha256, "bench": __version__}),
            result_path(cfg.results_dir, planned.model_spec.slug, revision, planned.strategy, settings_id(settings),
                        planned.evaluator.output_name(spec)))
    return out


def existing_results(identities: dict[str, Identity], policy: str) -> dict[str, dict]:
    """Results this run keeps instead of computing, by the overwrite policy.

    ``missing`` (default, resumes sweeps): keep every valid result of exactly this identity;
    ``always``: recompute everything; ``never``: refuse to run if any result would be replaced.
    """
    if policy == "always":
        return {}
    if policy == "never":
        taken = [str(i.path) for i in identities.values() if i.path.exists()]
        if taken:
            raise BenchError(f"overwrite=never, but these results exist: {', '.join(taken)}. "
                             f"Use overwrite=missing to keep them and compute the rest, or overwrite=always.")
        return {}
    kept = {}
    for name, identity in identities.items():
        record = reusable_result(identity.path, identity.identity)
        if record is not None:
            kept[name] = record
    return kept
