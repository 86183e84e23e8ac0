"""One evaluation: a model, one embedding strategy, a task or suite -> result files.

``run(cfg)`` takes the composed Hydra config and returns the result records it wrote, so tests and
other programs call it without the CLI. All task data is read and validated before the model is
loaded: bad data fails fast, and no result file is written for a run that failed.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import platform
import random
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from bench import __version__
from bench.atomic import check_writable_dir, write_json_atomic
from bench.cache import EmbeddingCache
from bench.compress import CompressionSpec, Compressor
from bench.data.schema import PairData
from bench.encode import (
    Encoded,
    HiddenStateBackend,
    SentenceTransformerBackend,
    encode_distinct,
    pick_device,
    pick_dtype,
)
from bench.errors import BenchError, unknown_choice
from bench.index import add_entry
from bench.models.loading import ResolvedModel, load_sentence_transformer, load_transformer, resolve
from bench.models.spec import ModelSpec, PoolingSpec
from bench.probes import ProbeSpec, fit_and_score, label_indices, pair_features
from bench.provenance import git_commit, package_versions
from bench.results import (
    OVERWRITE_POLICIES,
    build_record,
    digest,
    model_revision,
    pairs_path,
    result_path,
    reusable_result,
    settings_id,
    write_pairs_atomic,
)
from bench.scoring import MAIN_SCORES, SCORERS, main_function
from bench.scoring.pair_classification import heldout_metrics
from bench.stats import bootstrap_ci
from bench.sweep import cluster_job
from bench.tasks import TaskSpec, load_task, mteb_data, task_specs

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_backend(resolved: ResolvedModel, strategies: list[PoolingSpec], device: str, dtype):
    if strategies[0].uses_pipeline:
        return SentenceTransformerBackend(load_sentence_transformer(resolved, device, dtype), strategies[0])
    tokenizer, model = load_transformer(resolved, device, dtype)
    return HiddenStateBackend(tokenizer, model, device, resolved.spec.max_seq_length, strategies)


def companions(pooling: PoolingSpec, precompute) -> list[PoolingSpec]:
    """The requested strategy first, then the companions that share its forward pass.

    Hidden-state strategies are cheap next to the transformer itself, so whenever the model runs it
    also computes ``encode.precompute`` (names of ``conf/pooling`` files, or inline specs) and caches
    them: a sweep over strategies then costs one forward pass. ``sbert`` runs its own pipeline alone.
    """
    if pooling.uses_pipeline:
        return [pooling]
    out = [pooling]
    for item in precompute or ():
        spec = PoolingSpec.from_config(item if not isinstance(item, str) else load_pooling_config(item))
        if not spec.uses_pipeline and spec.slug not in {s.slug for s in out}:
            out.append(spec)
    return out


def load_pooling_config(name: str):
    from bench.config import compose_config, group_choices

    if name not in group_choices("pooling"):
        raise unknown_choice("pooling (in encode.precompute)", name, group_choices("pooling"))
    return compose_config([f"pooling={name}"]).pooling


def _dataset_revision(split: PairData) -> str | None:
    """MTEB's ``dataset_revision``: the hub revision, or the original file's SHA-256."""
    return split.source.get("revision") or split.source.get("sha256")


def _overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except ValueError:  # not running under Hydra (tests, library use)
        return []


def _setting(cfg: DictConfig, key: str, kind: type, valid, expected: str, default=None):
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, key, default=default)
    try:
        number = kind(value) if value is not None and not isinstance(value, bool) else value
    except (TypeError, ValueError):
        number = None
    if value is not None and (number is None or not valid(number)):
        raise BenchError(f"{key}={value!r} is not valid: expected {expected}.")
    return number


def check_settings(cfg: DictConfig) -> None:
    """Numeric settings are checked before any data or model is touched, so a typo fails in a second
    with the valid range instead of a traceback after the encoding pass."""
    _setting(cfg, "seed", int, lambda v: True, "an integer", 42)
    _setting(cfg, "encode.batch_size", int, lambda v: v >= 1, "an integer >= 1", 32)
    _setting(cfg, "encode.threads", int, lambda v: v >= 1, "null or an integer >= 1")
    _setting(cfg, "stats.bootstrap", int, lambda v: v >= 0, "an integer >= 0 (0: no intervals)", 1000)
    _setting(cfg, "leaderboard.resamples", int, lambda v: v >= 0, "an integer >= 0 (0: no significance marks)", 0)
    _setting(cfg, "stats.level", float, lambda v: 0 < v < 1, "a confidence level between 0 and 1, e.g. 0.95", 0.95)
    policy = str(cfg.get("overwrite", "missing"))
    if policy not in OVERWRITE_POLICIES:
        raise unknown_choice("overwrite policy", policy, OVERWRITE_POLICIES)


@dataclasses.dataclass
class Plan:
    """Everything a run needs before any vector is computed: settings checked, data read and validated,
    model resolved (downloaded, weights and tokenizer files present)."""

    model_spec: ModelSpec
    pooling: PoolingSpec
    compression: CompressionSpec
    probe: ProbeSpec | None
    specs: list[TaskSpec]
    data: dict[str, dict[str, PairData]]
    fits: dict[str, PairData]
    resolved: ResolvedModel


def plan(cfg: DictConfig) -> Plan:
    check_settings(cfg)
    check_writable_dir(cfg.results_dir, "results_dir")  # before any work, not after the encoding pass
    if cfg.cache.enabled:
        check_writable_dir(cfg.cache.dir, "cache.dir")
    model_spec = ModelSpec.from_config(cfg.model)
    pooling = PoolingSpec.from_config(cfg.pooling)
    if pooling.uses_pipeline and not model_spec.has_sbert:
        raise BenchError(
            f"model '{model_spec.name}' has no sentence-transformers pipeline, so pooling=sbert is not available; "
            f"use cls, mean, max, mean_max or first_last_avg (set has_sbert: true in its config if it ships one)."
        )
    compression = CompressionSpec.from_config(cfg.get("compression"))
    probe = ProbeSpec.from_config(cfg.probe) if cfg.get("probe") else None
    specs = task_specs(cfg.task)
    if probe is not None:
        specs = probe_tasks(probe, specs)
    root = cfg.data.root
    check_rows = bool(cfg.data.get("check_rows", True))
    heldout = bool(cfg.get("scoring", {}).get("heldout_thresholds", True)) and probe is None
    wanted = splits_needed(specs, root, probe, compression, heldout)
    data: dict[str, dict[str, PairData]] = {
        spec.result_name: load_task(spec, root, splits=wanted[spec.result_name], check_rows=check_rows)
        for spec in specs}
    if probe is not None:
        check_probe_splits(probe, specs, data)
    fits = {spec.result_name: fit_split_for(spec, data, compression) for spec in specs} if compression.active else {}
    return Plan(model_spec, pooling, compression, probe, specs, data, fits, resolve(model_spec))


def splits_needed(specs: list[TaskSpec], root, probe: ProbeSpec | None, compression: CompressionSpec,
                  heldout: bool) -> dict[str, tuple[str, ...]]:
    """The splits each task's run reads: the evaluated one, validation for held-out thresholds (pair
    classification, where the source has it), train and validation for a probe, the compression's fit
    split for the task it is fitted on; nothing else, so a language with a test file only runs."""
    names: dict[str, set[str]] = {spec.result_name: {spec.eval_split} for spec in specs}
    by_name = {spec.name: spec.result_name for spec in specs} | {spec.result_name: spec.result_name for spec in specs}
    for spec in specs:
        available = spec.splits if root is not None else tuple(s for s in spec.splits if s in spec.hub.files)
        if probe is not None:
            names[spec.result_name] |= set(PROBE_SPLITS)
        if heldout and spec.type == "pair_classification" and spec.heldout_split in available:
            names[spec.result_name].add(spec.heldout_split)
        if compression.active:
            owner = by_name.get(compression.fit_task or spec.result_name)
            if owner is not None:
                names[owner].add(compression.fit_split)
    return {spec.result_name: tuple(s for s in spec.splits if s in names[spec.result_name]) for spec in specs}


def preflight(cfg: DictConfig) -> dict:
    """Resolve the run's data and model (downloads included) and load the model as the run would,
    without encoding anything, so that a sweep's failures show up in seconds. Every problem is
    collected and reported together (a BenchError listing them); otherwise a report of what was found."""
    check_settings(cfg)
    model_spec = ModelSpec.from_config(cfg.model)
    pooling = PoolingSpec.from_config(cfg.pooling)
    problems: list[str] = []
    data: dict[str, dict] = {}
    for spec in task_specs(cfg.task):
        try:
            parts = load_task(spec, cfg.data.root, check_rows=bool(cfg.data.get("check_rows", True)))
        except BenchError as exc:
            problems.append(str(exc))
            continue
        data[spec.result_name] = {name: {"rows": len(part), **{k: part.source.get(k) for k in (
            "kind", "path", "revision", "sha256")}} for name, part in parts.items()}
    report = {"model": model_spec.name, "strategy": pooling.slug, "prompts": dict(model_spec.prompts), "data": data}
    try:
        if pooling.uses_pipeline and not model_spec.has_sbert:
            raise BenchError(f"model '{model_spec.name}' has no sentence-transformers pipeline (pooling=sbert).")
        resolved = resolve(model_spec)
        backend = build_backend(resolved, companions(pooling, cfg.encode.get("precompute")), "cpu", torch.float32)
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


def run(cfg: DictConfig) -> list[dict]:
    planned = plan(cfg)
    seed_everything(int(cfg.seed))
    model_spec, pooling, compression, probe = planned.model_spec, planned.pooling, planned.compression, planned.probe
    specs, data, fits, resolved = planned.specs, planned.data, planned.fits, planned.resolved
    device = pick_device(str(cfg.encode.device))
    dtype = pick_dtype(device, bool(cfg.encode.half))
    dtype_name = str(dtype).removeprefix("torch.")
    heldout = {spec.result_name: data[spec.result_name][spec.heldout_split] for spec in specs
               if spec.type == "pair_classification" and spec.heldout_split in data[spec.result_name]
               and cfg.get("scoring", {}).get("heldout_thresholds", True) and probe is None}
    strategy = strategy_slug(pooling, compression)
    settings = {spec.result_name: task_settings(cfg, spec, planned, dtype_name, heldout.get(spec.result_name))
                for spec in specs}
    identities = {name: digest({"settings": task, "weights_sha256": resolved.weights_sha256,
                                "files_sha256": resolved.files_sha256, "bench": __version__})
                  for name, task in settings.items()}
    revision = model_revision(resolved.provenance())
    paths = {spec.result_name: result_path(cfg.results_dir, model_spec.slug, revision, strategy,
                                           settings_id(settings[spec.result_name]), output_name(spec, probe))
             for spec in specs}
    kept = existing_results(specs, paths, identities, str(cfg.get("overwrite", "missing")))
    specs = [spec for spec in specs if spec.result_name not in kept]
    if not specs:
        log.info("all %d results exist with these exact settings; nothing to compute (overwrite=missing).", len(kept))
        return list(kept.values())
    fits = {name: fit for name, fit in fits.items() if name in {s.result_name for s in specs}}
    if cfg.encode.get("threads"):
        torch.set_num_threads(int(cfg.encode.threads))
    log.info("model %s (%s) on %s, strategy %s", model_spec.name, resolved.path, device, pooling.slug)
    computed = companions(pooling, cfg.encode.get("precompute"))
    cache = EmbeddingCache(cfg.cache.dir, enabled=bool(cfg.cache.enabled))
    # Each task is encoded with its prompt (model.prompts, by task type); tasks sharing a prompt share
    # one deduplicated pass, and the model is loaded once for all of them (or never, on a warm cache).
    groups: dict[str, list[str]] = {}
    for spec in specs:
        texts = [t for split in splits_to_encode(spec, probe) for t in data[spec.result_name][split].sentences]
        texts += fits[spec.result_name].sentences if spec.result_name in fits else []
        texts += heldout[spec.result_name].sentences if spec.result_name in heldout else []
        groups.setdefault(model_spec.prompt(spec.type), []).extend(texts)
    backend = functools.cache(lambda: build_backend(resolved, computed, device, dtype))
    by_prompt: dict[str, Encoded] = {}
    for prompt, texts in groups.items():
        namespaces = {s.slug: cache.namespace(resolved.cache_key(s.as_dict(), dtype_name, prompt)) for s in computed}
        by_prompt[prompt] = encoded = encode_distinct(
            texts, backend, strategies=[pooling.slug], namespaces=namespaces, max_length=model_spec.max_seq_length,
            prefix=prompt, batch_size=int(cfg.encode.batch_size), progress=bool(cfg.encode.progress))
        log.info("%s%d distinct of %d sentences: %d encoded in %.1fs, %d from the cache (%d truncated)",
                 f"prompt {prompt!r}: " if prompt else "", encoded.n_distinct, encoded.n_input, encoded.n_encoded,
                 encoded.seconds, encoded.n_distinct - encoded.n_encoded, encoded.n_truncated)

    shared = {
        "model": resolved.provenance(),
        "pooling": {**pooling.as_dict(), "slug": pooling.slug},
        "strategy": strategy,
        "versions": package_versions(),
        "git": git_commit(),
        "seed": int(cfg.seed),
        "overrides": _overrides(),
        "host": {"name": platform.node(), "pid": os.getpid()},
        "cluster": cluster_job(),
    }

    def encoding(spec: TaskSpec) -> dict:
        prompt = model_spec.prompt(spec.type)
        return {**by_prompt[prompt].stats(), "prompt": prompt, "device": device, "dtype": dtype_name,
                "batch_size": int(cfg.encode.batch_size),
                "shared_by_tasks": [s.result_name for s in specs if model_spec.prompt(s.type) == prompt]}

    outputs = []  # every task is scored before any file is written: a suite fails whole or not at all
    for spec in specs:
        encoded = by_prompt[model_spec.prompt(spec.type)]
        name = spec.result_name
        task_shared = {**shared, "encoding": encoding(spec), "settings": settings[name],
                       "settings_id": settings_id(settings[name]), "identity": identities[name]}
        if probe is not None:
            record, (pairs, targets) = evaluate_probe(spec, data[name], encoded, pooling, compression, fits.get(name),
                                                      task_shared, probe, stats=cfg.get("stats"), seed=int(cfg.seed))
        else:
            record, (pairs, targets) = evaluate_task(spec, data[name], encoded, pooling, compression, fits.get(name),
                                                     task_shared, stats=cfg.get("stats"), seed=int(cfg.seed),
                                                     heldout=heldout.get(name))
        outputs.append((paths[name], record, pairs, targets))
    records = list(kept.values())
    for path, record, pairs, targets in outputs:
        write_pairs_atomic(pairs_path(path), pairs, targets)
        write_json_atomic(path, record)
        add_entry(Path(cfg.results_dir), path, record)  # the leaderboard is built from the index at the end
        split = next(iter(record["scores"]))
        log.info("%s: %s = %.4f -> %s", record["bench"]["task"], record["bench"]["main_score_name"],
                 record["scores"][split][0]["main_score"], path)
        records.append(record)
    return records


def data_id(part: PairData) -> str:
    """What identifies a split's data: the file's SHA-256, or the hub file at its revision."""
    source = part.source
    if source.get("sha256"):
        return f"sha256:{source['sha256']}"
    return f"hub:{source.get('path')}@{source.get('revision')}/{source.get('file') or source.get('split')}"


def task_settings(cfg: DictConfig, spec: TaskSpec, planned: Plan, dtype: str, heldout: PairData | None) -> dict:
    """Everything besides model weights, strategy name and task that can change this result's numbers."""
    parts = planned.data[spec.result_name]
    used = {name: data_id(parts[name]) for name in splits_to_encode(spec, planned.probe)}
    if heldout is not None:
        used[spec.heldout_split] = data_id(heldout)
    compression = None
    if planned.compression.active:
        fit = planned.fits[spec.result_name]
        compression = {**dataclasses.asdict(planned.compression), "fit_task": planned.compression.fit_task or
                       spec.result_name, "fit_data": data_id(fit)}
    stats = cfg.get("stats") or {}
    return {
        "model": {"max_seq_length": planned.model_spec.max_seq_length, "prompt": planned.model_spec.prompt(spec.type),
                  "dtype": dtype},
        "pooling": planned.pooling.as_dict(),
        "compression": compression,
        "data": used,
        "scoring": {"heldout_thresholds": heldout is not None, "bootstrap": int(stats.get("bootstrap", 1000)),
                    "level": float(stats.get("level", 0.95)), "seed": int(cfg.seed)},
        "probe": planned.probe.describe() if planned.probe is not None else None,
    }


def existing_results(specs: list[TaskSpec], paths: dict[str, Path], identities: dict[str, str],
                     policy: str) -> dict[str, dict]:
    """Results this run keeps instead of computing, by the overwrite policy.

    ``missing`` (default, resumes sweeps): keep every valid result of exactly this identity;
    ``always``: recompute everything; ``never``: refuse to run if any result would be replaced.
    """
    if policy == "always":
        return {}
    if policy == "never":
        taken = [str(p) for p in paths.values() if p.exists()]
        if taken:
            raise BenchError(f"overwrite=never, but these results exist: {', '.join(taken)}. "
                             f"Use overwrite=missing to keep them and compute the rest, or overwrite=always.")
        return {}
    kept = {}
    for spec in specs:
        record = reusable_result(paths[spec.result_name], identities[spec.result_name])
        if record is not None:
            kept[spec.result_name] = record
    return kept


def strategy_slug(pooling: PoolingSpec, compression: CompressionSpec) -> str:
    return pooling.slug + (f"+{compression.slug}" if compression.active else "")


def fit_split_for(spec: TaskSpec, data: dict[str, dict[str, PairData]], compression: CompressionSpec) -> PairData:
    """The split a task's compressor is fitted on: never the split being evaluated."""
    owner = compression.fit_task or spec.result_name
    if owner not in data:
        raise BenchError(f"compression.fit_task={owner} is not among this run's tasks ({', '.join(data)}); "
                         f"run it together with them, e.g. in the polish suite.")
    if compression.fit_split not in data[owner]:
        raise BenchError(f"compression needs the '{compression.fit_split}' split of {owner}, which this data source "
                         f"lacks; use data.root with the original files.")
    if owner == spec.result_name and compression.fit_split == spec.eval_split:
        raise BenchError(f"compression would be fitted on {owner}/{spec.eval_split}, the split being evaluated.")
    return data[owner][compression.fit_split]


def fitted_compressor(compression: CompressionSpec, fit_vectors: np.ndarray | None, dims: int):
    """A compressor fitted on the fit split's vectors (a no-op for compression=none) and its description."""
    compressor = Compressor(compression).fit(fit_vectors if fit_vectors is not None else np.zeros((0, dims), np.float32))
    return compressor, compressor.describe(dims)


def compressed(compressor: Compressor, vectors: np.ndarray, described: dict) -> np.ndarray:
    return compressor.scoring_view(compressor.transform(vectors), described["dims"])


def splits_to_encode(spec: TaskSpec, probe: ProbeSpec | None) -> tuple[str, ...]:
    return (*PROBE_SPLITS, spec.eval_split) if probe is not None else (spec.eval_split,)


PROBE_SPLITS = ("train", "validation")  # a probe is fitted on train and its regularisation chosen on validation


def output_name(spec: TaskSpec, probe: ProbeSpec | None) -> str:
    """The result's name in files and tables: ``cdsc_e``, or ``cdsc_e.nli_probe`` for a probe."""
    return spec.result_name if probe is None else f"{spec.result_name}.{probe.name}_probe"


def probe_tasks(probe: ProbeSpec, specs: list[TaskSpec]) -> list[TaskSpec]:
    """The run's tasks the probe applies to (by name, or name.lang); an error when there are none."""
    chosen = [spec for spec in specs if spec.name in probe.tasks or spec.result_name in probe.tasks]
    if not chosen:
        raise BenchError(f"probe={probe.name} applies to {', '.join(probe.tasks)}, and this run's tasks are "
                         f"{', '.join(s.result_name for s in specs)}; use task=polish or one of those tasks.")
    wanted_type = "pair_classification" if probe.kind == "classification" else "sts"
    for spec in chosen:
        if spec.type != wanted_type:
            raise BenchError(f"probe={probe.name} ({probe.kind}) needs {wanted_type} tasks; {spec.result_name} is {spec.type}.")
    return chosen


def check_probe_splits(probe: ProbeSpec, specs: list[TaskSpec], data: dict[str, dict[str, PairData]]) -> None:
    """Before any encoding: a probe needs train and validation beside the evaluated split."""
    for spec in specs:
        missing = [name for name in splits_to_encode(spec, probe) if name not in data[spec.result_name]]
        if missing:
            raise BenchError(f"probe={probe.name} needs the {', '.join(missing)} split(s) of {spec.result_name}, which "
                             f"this data source lacks; set data.root to the original files.")
        for name in splits_to_encode(spec, probe):  # labels the probe cannot use fail now, not after encoding
            probe_targets(probe, data[spec.result_name][name], f"{spec.result_name}/{name}")


def split_vectors(encoded: Encoded, pooling: PoolingSpec, compressor: Compressor, described: dict,
                  part: PairData) -> tuple[np.ndarray, np.ndarray]:
    """Both sides of a split's pairs: cached vectors of the strategy, compressed as configured."""
    return tuple(compressed(compressor, encoded.lookup(pooling.slug, side), described)
                 for side in (part.sentence1, part.sentence2))


def fitted_for_task(encoded: Encoded, pooling: PoolingSpec, compression: CompressionSpec, fit: PairData | None,
                    dims: int, task: str) -> tuple[Compressor, dict]:
    fit_vectors = encoded.lookup(pooling.slug, list(dict.fromkeys(fit.sentences))) if fit is not None else None
    compressor, described = fitted_compressor(compression, fit_vectors, dims)
    if fit is not None:
        described["fit"] = {"task": compression.fit_task or task, "split": compression.fit_split,
                            "sentences": int(fit_vectors.shape[0]), "source": fit.source}
    return compressor, described


def with_interval(scores: dict, main, pairs: dict, targets: np.ndarray, stats, seed: int) -> dict:
    resamples = int((stats or {}).get("bootstrap", 1000))
    if resamples > 0:
        scores["main_score_ci"] = bootstrap_ci(main, pairs, targets, resamples=resamples, seed=seed,
                                               level=float((stats or {}).get("level", 0.95)))
    return scores


def assemble_record(spec: TaskSpec, splits: dict[str, PairData], scores: dict, main_score_name: str,
                    encoded: Encoded, shared: dict, described: dict, seconds: float, task_type: str,
                    name: str | None = None, extra: dict | None = None) -> dict:
    split = splits[spec.eval_split]
    provenance = {
        **shared,
        "compression": described,
        "task_config": {"name": spec.name, "type": task_type, "lang": spec.lang, "eval_split": spec.eval_split},
        "mteb_data": mteb_data(spec, split),
        "data": {part_name: part.source for part_name, part in splits.items()},
        "scoring_seconds": round(seconds, 3),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    return build_record(task=spec, split=spec.eval_split, scores=scores, main_score_name=main_score_name,
                        dataset_revision=_dataset_revision(split), evaluation_time=seconds + encoded.seconds,
                        provenance=provenance, name=name)


def evaluate_task(spec: TaskSpec, splits: dict[str, PairData], encoded: Encoded, pooling: PoolingSpec,
                  compression: CompressionSpec, fit: PairData | None, shared: dict, stats=None,
                  seed: int = 0, heldout: PairData | None = None) -> tuple[dict, tuple[dict, np.ndarray]]:
    """Score one task zero-shot: the result record, and the per-pair scores with targets."""
    start = time.perf_counter()
    split = splits[spec.eval_split]
    dims = encoded.lookup(pooling.slug, split.sentence1[:1]).shape[1]
    compressor, described = fitted_for_task(encoded, pooling, compression, fit, dims, spec.result_name)
    scorer = SCORERS[spec.type]
    pairs = scorer.pair_scores(*split_vectors(encoded, pooling, compressor, described, split))
    scores = scorer.metrics(pairs, split.targets)
    if heldout is not None:
        held_pairs = scorer.pair_scores(*split_vectors(encoded, pooling, compressor, described, heldout))
        scores.update(heldout_metrics(held_pairs, heldout.targets, pairs, split.targets))
        scores["heldout_split"] = spec.heldout_split
    with_interval(scores, scorer.main, pairs, split.targets, stats, seed)
    record = assemble_record(spec, splits, scores, MAIN_SCORES[spec.type], encoded, shared, described,
                             time.perf_counter() - start, spec.type)
    return record, (pairs, split.targets)


def probe_targets(probe: ProbeSpec, part: PairData, where: str) -> np.ndarray:
    if probe.kind == "classification":
        return label_indices(part.raw_labels, probe.labels, where)
    return np.asarray(part.targets, dtype=np.float64)


def evaluate_probe(spec: TaskSpec, splits: dict[str, PairData], encoded: Encoded, pooling: PoolingSpec,
                   compression: CompressionSpec, fit: PairData | None, shared: dict, probe: ProbeSpec, stats=None,
                   seed: int = 0) -> tuple[dict, tuple[dict, np.ndarray]]:
    """Fit the probe on train, choose its regularisation on validation, score it on test."""
    start = time.perf_counter()
    dims = encoded.lookup(pooling.slug, splits[spec.eval_split].sentence1[:1]).shape[1]
    compressor, described = fitted_for_task(encoded, pooling, compression, fit, dims, spec.result_name)

    def features(name: str) -> tuple[np.ndarray, np.ndarray]:
        x = pair_features(*split_vectors(encoded, pooling, compressor, described, splits[name]), probe.features)
        return x, probe_targets(probe, splits[name], f"{spec.result_name}/{name}")

    test = features(spec.eval_split)
    result = fit_and_score(probe, features("train"), features("validation"), test, seed=seed)
    targets = test[1]
    pairs = {"prediction": result.predictions}
    scores = {**result.metrics, "probe_selection": result.selection}
    with_interval(scores, main_function(f"probe_{probe.kind}"), pairs, targets, stats, seed)
    record = assemble_record(spec, splits, scores, probe.main_score, encoded, shared, described,
                             time.perf_counter() - start, f"probe_{probe.kind}", name=output_name(spec, probe),
                             extra={"probe": probe.describe()})
    return record, (pairs, targets)
