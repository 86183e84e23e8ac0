"""``preflight=true``: resolve a run's data and model (downloads included) and load the model as the run
would, without encoding anything, so that a sweep's failures show up in seconds. Every problem is
collected and reported together."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from bench.backends import BackendSpec
from bench.encode import build_backend
from bench.errors import BenchError
from bench.models.loading import resolve
from bench.models.spec import ModelSpec, PoolingSpec
from bench.plan import check_settings, companions
from bench.tasks import load_task, task_specs


def preflight(cfg: DictConfig) -> dict:
    """A report of what was found, or a BenchError listing every problem."""
    check_settings(cfg)
    model_spec = ModelSpec.from_config(cfg.model)
    pooling = PoolingSpec.from_config(cfg.pooling)
    problems: list[str] = []
    data: dict[str, dict] = {}
    for spec in task_specs(cfg.task):
        try:
            parts = load_task(spec, cfg.data.root, check_rows=bool(cfg.data.check_rows))
        except BenchError as exc:
            problems.append(str(exc))
            continue
        data[spec.result_name] = {name: {"rows": len(part), **{k: part.source.get(k) for k in (
            "kind", "path", "revision", "sha256")}} for name, part in parts.items()}
    report = {"model": model_spec.name, "strategy": pooling.slug, "prompts": dict(model_spec.prompts), "data": data}
    try:  # encode.backend / quantize / attn_implementation: refused combinations and missing runtimes
        BackendSpec.from_config(cfg.encode).check(str(cfg.encode.device), bool(cfg.encode.half))
    except BenchError as exc:
        problems.append(str(exc))
    try:
        if pooling.uses_pipeline and not model_spec.has_sbert:
            raise BenchError(f"model '{model_spec.name}' has no sentence-transformers pipeline (pooling=sbert).")
        resolved = resolve(model_spec)
        backend = build_backend(resolved, companions(pooling, cfg.encode.precompute), "cpu", torch.float32)
        report.update(source=resolved.source, revision=resolved.resolved_revision or model_spec.revision,
                      weights=resolved.weights.format, weight_files=list(resolved.weights.files),
                      tokenizer=type(backend.model.tokenizer if pooling.uses_pipeline else backend.tokenizer).__name__,
                      pipeline=[type(m).__name__ for m in backend.model] if pooling.uses_pipeline else None)
    except BenchError as exc:
        problems.append(str(exc))
    if problems:
        raise BenchError(f"preflight of {model_spec.name} / {pooling.slug} found {len(problems)} problem(s):\n  - "
                         + "\n  - ".join(problems))
    return report
