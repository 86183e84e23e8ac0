"""``preflight=true``: resolve a run's data and model (downloads included) and load the model as the run
would, without encoding anything, so that a sweep's failures show up in seconds. Every problem is
collected and reported together.

Besides the report, each check is summed up as one line per model and per data source (``checks``), so
a sweep's summary can list each model and each data source once, however many jobs shared it
(:func:`bench.launch.sweep.preflight_summary`)."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from bench.encoding.build import build_backend
from bench.errors import BenchError, NotApplicable
from bench.plan import companions, decide, prepare_model, read_task, requested_pooling
from bench.tasks.spec import TaskSpec


class PreflightError(BenchError):
    """The problems preflight found, with the one-line checks of every model and data source."""

    def __init__(self, message: str, checks: dict):
        super().__init__(message)
        self.checks = checks


def data_source(spec: TaskSpec, root) -> str:
    """Where a task's data is read from, in words: the original files' folder, or the hub copy and revision."""
    folder = spec.data_root(root)
    return f"files in {folder}" if folder is not None else f"hub {spec.hub.path} @ {spec.hub.revision[:12]}"


def preflight(cfg: DictConfig) -> dict:
    """A report of what was found, or a PreflightError listing every problem.

    The run's own planning steps (:mod:`bench.plan`) without the encoding: the config's decisions (a bad setting
    fails at once, as in a run), then each task's data, the runtime and the model, whose problems are collected
    and reported together. Nothing is written."""
    try:
        decided = decide(cfg)
    except NotApplicable:  # a combination that cannot exist: skipped in a sweep, not a problem
        raise
    except BenchError as exc:  # a setting the run would refuse, the runtime included
        name = cfg.model.get("name") or cfg.model.get("name_or_path")
        raise PreflightError(f"preflight of {name} found 1 problem(s):\n  - {exc}", {"model": None, "data": {}}) from exc
    asked = requested_pooling(cfg.pooling)  # None: auto, decided once the model is resolved
    problems: list[str] = []
    data: dict[str, dict] = {}
    read: dict[str, dict] = {}
    checks: dict = {"model": None, "data": {}}
    for spec in decided.specs:
        source = f"{spec.result_name} ({data_source(spec, cfg.data.root)})"
        try:
            parts = read[spec.result_name] = read_task(cfg, spec, decided)
        except BenchError as exc:
            problems.append(str(exc))
            checks["data"][source] = {"ok": False, "problem": str(exc)}
            continue
        data[spec.result_name] = {name: {"rows": len(part), **{k: part.source.get(k) for k in (
            "kind", "path", "revision", "sha256")}} for name, part in parts.items()}
        checks["data"][source] = {"ok": True, "detail": ", ".join(
            f"{name} {len(part)} rows" for name, part in parts.items())}
    model_spec = decided.model_spec
    report = {"model": model_spec.name, "strategy": asked.slug if asked else "auto", "prompts": {}, "data": data}
    model = f"{model_spec.name} ({model_spec.name_or_path} @ {model_spec.revision})"
    try:
        resolved, pooling, reasons = prepare_model(cfg, decided, read)
        # the prompt each task gets, resolved as the run resolves it (task name, type, instruction template)
        prompts = {spec.result_name: resolved.spec.prompt(spec.type, spec.mteb_name) for spec in decided.specs}
        report.update(strategy=pooling.slug, prompts={k: v for k, v in prompts.items() if v}, reasons=reasons)
        backend = build_backend(resolved, companions(pooling, cfg.encode.precompute), "cpu", torch.float32)
        report.update(source=resolved.source, revision=resolved.resolved_revision or model_spec.revision,
                      weights=resolved.weights.format, weight_files=list(resolved.weights.files),
                      tokenizer=type(backend.model.tokenizer if pooling.uses_pipeline else backend.tokenizer).__name__,
                      pipeline=[type(m).__name__ for m in backend.model] if pooling.uses_pipeline else None)
        checks["model"] = {"name": model, "ok": True, "detail": f"{report['weights']} weights, {report['tokenizer']}"}
    except BenchError as exc:
        problems.append(str(exc))
        checks["model"] = {"name": model, "ok": False, "problem": str(exc)}
    report["checks"] = checks
    if problems:
        raise PreflightError(f"preflight of {model_spec.name} / {report['strategy']} found {len(problems)} problem(s):"
                             f"\n  - " + "\n  - ".join(problems), checks)
    return report
