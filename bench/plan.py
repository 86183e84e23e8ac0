"""A run's plan: everything decided and checked before any vector is computed.

Settings are range-checked, output folders checked writable, every task's data read and validated (only
the splits the run needs), the evaluation mode chosen and its checks run (a split on which the main score is undefined is refused),
the model resolved (downloaded, weights and tokenizer files present, its tokenizer able to tokenize each task's
sentences with few unknown tokens). Bad input fails here, in seconds, with nothing written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from bench.atomic import check_writable_dir
from bench.backends import BackendSpec, calibration_corpus
from bench.compress import CompressionSpec
from bench.data.schema import PairData
from bench.device import pick_device, pick_dtype
from bench.errors import BenchError, NotApplicable, unknown_choice
from bench.evaluators import Evaluator, evaluator_for
from bench.models.loading import ResolvedModel, check_unknown_tokens, resolve
from bench.models.spec import ModelSpec, PoolingSpec
from bench.models.weights import is_static, vector_size
from bench.parallel import pick_devices
from bench.pooling import COMPOSITES
from bench.results import OVERWRITE_POLICIES
from bench.tasks import TaskSpec, load_task, task_specs


@dataclass
class Plan:
    model_spec: ModelSpec
    pooling: PoolingSpec
    compression: CompressionSpec
    evaluator: Evaluator
    specs: list[TaskSpec]
    data: dict[str, dict[str, PairData]]
    fits: dict[str, PairData]
    resolved: ResolvedModel
    device: str
    dtype: str
    #: Why this strategy and this maximum length (asked for, the model config's, or the model's own files).
    reasons: dict[str, str]
    devices: list[str] | None = None  # data-parallel encoding: one process per device (bench.parallel)
    backend: BackendSpec = BackendSpec()  # the runtime that runs the encoder (bench.backends)

    @property
    def strategy(self) -> str:
        """The strategy's name in results: the pooling, a quantized model's precision (``mean+onnx-int8``), and
        its compression (``mean+pca256``)."""
        return (self.pooling.slug + (f"+{self.backend.slug}" if self.backend.slug else "")
                + (f"+{self.compression.slug}" if self.compression.active else ""))


#: The largest seed numpy (and so transformers' set_seed) takes.
MAX_SEED = 2**32 - 1
RANGES = (
    ("seed", int, lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED} (numpy's seed range)"),
    ("encode.batch_size", int, lambda v: v >= 1, "an integer >= 1"),
    ("encode.threads", int, lambda v: v >= 1, "null or an integer >= 1"),
    ("stats.bootstrap", int, lambda v: v >= 0, "an integer >= 0 (0: no intervals)"),
    ("leaderboard.resamples", int, lambda v: v >= 0, "an integer >= 0 (0: no significance marks)"),
    ("stats.level", float, lambda v: 0 < v < 1, "a confidence level between 0 and 1, e.g. 0.95"),
)


def check_settings(cfg: DictConfig) -> None:
    """Numeric ranges and choices the schema's types cannot express (types are checked when Hydra composes)."""
    for key, kind, valid, expected in RANGES:
        value = OmegaConf.select(cfg, key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not valid(kind(value))):
            raise BenchError(f"{key}={value!r} is not valid: expected {expected}.")
    if str(cfg.overwrite) not in OVERWRITE_POLICIES:
        raise unknown_choice("overwrite policy", str(cfg.overwrite), OVERWRITE_POLICIES)


def plan(cfg: DictConfig, model: ResolvedModel | None = None) -> Plan:
    """``model``: a model already in memory (:class:`bench.models.memory.InMemoryModel`) instead of ``cfg.model``."""
    check_settings(cfg)
    check_writable_dir(cfg.results_dir, "results_dir")  # before any work, not after the encoding pass
    if cfg.cache.enabled:
        try:
            check_writable_dir(cfg.cache.dir, "cache.dir")
        except BenchError:
            if not Path(str(cfg.cache.dir)).expanduser().is_dir():
                raise
            # a cache folder this user cannot write (a group's read-only cache, a read-only mount) is still read;
            # its writes are skipped with one warning when they come (bench.cache)
    model_spec = model.spec if model is not None else ModelSpec.from_config(cfg.model)
    asked = requested_pooling(cfg.pooling)
    if asked is not None:
        check_applicable(model_spec, asked)
    compression = CompressionSpec.from_config(cfg.compression)
    evaluator = evaluator_for(cfg)
    specs = evaluator.select(task_specs(cfg.task))
    wanted = splits_needed(specs, cfg.data.root, evaluator, compression)
    data = {spec.result_name: load_task(spec, cfg.data.root, splits=wanted[spec.result_name],
                                        check_rows=bool(cfg.data.check_rows)) for spec in specs}
    for spec in specs:
        evaluator.check(spec, data[spec.result_name])
    fits = {spec.result_name: fit_split_for(spec, data, compression) for spec in specs} if compression.active else {}
    backend = BackendSpec.from_config(cfg.encode, model_spec.attn_implementation)
    backend.check(str(cfg.encode.device), bool(cfg.encode.half))
    if backend.static:  # a fixed corpus from the whole task group (not the run's selection): one export serves all
        backend = backend.calibrated(calibration_corpus(task_specs(cfg.task), cfg.data.root))
    # an exported model runs on the CPU: device=auto means the CPU for it even where a GPU is present
    device = "cpu" if backend.exported and str(cfg.encode.device) == "auto" else pick_device(str(cfg.encode.device))
    devices = pick_devices(OmegaConf.to_container(cfg.encode.devices) if cfg.encode.get("devices") is not None else None)
    if devices and backend.exported:
        raise BenchError(f"encode.devices runs PyTorch processes; encode.backend={backend.name} runs one "
                         f"ONNX Runtime/OpenVINO process with its own threads: remove encode.devices.")
    dtype = str(pick_dtype((devices or [device])[0], bool(cfg.encode.half))).removeprefix("torch.")
    resolved = model if model is not None else resolve(model_spec)
    pooling, reasons = choose_strategy(cfg.pooling, resolved)
    if getattr(resolved, "path", None) is not None and is_static(resolved.path) and not pooling.uses_pipeline:
        raise BenchError(f"model '{model_spec.name}' is a static embedding (averaged token vectors, no transformer): "
                         f"it has no hidden states to pool with pooling={pooling.name}; use pooling=sbert.")
    check_unknown_tokens(resolved, pooling.uses_pipeline,
                         {name: [s for part in parts.values() for s in part.sentences] for name, parts in data.items()})
    check_compressed_size(compression, resolved, pooling)
    return Plan(resolved.spec, pooling, compression, evaluator, specs, data, fits, resolved, device, dtype, reasons,
                devices, backend)


#: The pooling config that leaves the strategy to the model (conf/pooling/auto.yaml).
AUTO = "auto"


def requested_pooling(pooling_cfg) -> PoolingSpec | None:
    """The strategy the config names, checked now (before data and model load); None for ``pooling=auto``, which
    the model decides once it is resolved (:func:`choose_strategy`)."""
    values = OmegaConf.to_container(pooling_cfg, resolve=True) if isinstance(pooling_cfg, DictConfig) else dict(pooling_cfg)
    return None if (values.get("fn") or values.get("name")) == AUTO else PoolingSpec.from_config(values)


def choose_strategy(pooling_cfg, resolved: ResolvedModel) -> tuple[PoolingSpec, dict[str, str]]:
    """The strategy a run uses, and why it and the maximum length are what they are.

    A strategy named in the config (``pooling=cls`` on the command line, or a model config's own ``override
    /pooling``) is used as named. ``pooling=auto`` (the default when none is asked for) takes the model's default:
    its config's ``default_pooling``, or for ``default_pooling: auto`` (``model=org/name``, a folder) its
    sentence-transformers pipeline when it ships one, else ``mean``. ``pooling.layers`` / ``pooling.normalize``
    given with ``auto`` apply to the chosen strategy."""
    from bench.config import conf_values, group_choices

    spec = resolved.spec
    asked = requested_pooling(pooling_cfg)
    own = getattr(resolved, "reasons", {})  # what resolve() read from the model's files (none for a model in memory)
    length_reason = own.get("max_seq_length") or "the model config's max_seq_length (model.max_seq_length)"
    if asked is not None:
        by_config = asked.name == spec.default_pooling and "pooling" not in own  # not an auto default
        reason = (f"the model config's default pooling (model.default_pooling={asked.name})" if by_config
                  else f"asked for (pooling={asked.name})")
        return asked, {"strategy": reason, "max_seq_length": length_reason}
    name = spec.default_pooling
    choices = [c for c in group_choices("pooling") if c != AUTO]
    if name not in choices:
        raise unknown_choice(f"model.default_pooling of '{spec.name}'", name, [*choices, AUTO])
    values = OmegaConf.to_container(pooling_cfg, resolve=True) if isinstance(pooling_cfg, DictConfig) else dict(pooling_cfg)
    chosen = conf_values("pooling", name)
    if list(values.get("layers") or [-1]) != [-1]:
        chosen["layers"] = list(values["layers"])
    if values.get("normalize"):
        chosen["normalize"] = True
    pooling = PoolingSpec.from_config(chosen)
    check_applicable(spec, pooling)
    reason = own.get("pooling") or f"the model config's default pooling (model.default_pooling={name})"
    return pooling, {"strategy": reason, "max_seq_length": length_reason}


def check_applicable(model_spec: ModelSpec, pooling: PoolingSpec) -> None:
    """The strategy exists for this model: ``sbert`` needs the model's own sentence-transformers pipeline."""
    if pooling.uses_pipeline and not model_spec.has_sbert:
        raise NotApplicable(
            f"model '{model_spec.name}' has no sentence-transformers pipeline, so pooling=sbert is not available; "
            f"use cls, mean, max, mean_max or first_last_avg (set has_sbert: true in its config if it ships one)."
        )


def check_compressed_size(compression: CompressionSpec, resolved: ResolvedModel, pooling: PoolingSpec) -> None:
    """``compression.dims`` against the size of the strategy's vectors, when the model's config files state it:
    a dimension the vectors do not have fails here, not after the encoding pass."""
    if not compression.compressor_class.needs_dims or resolved.path is None:  # in memory: checked on the vectors
        return
    parts = len(COMPOSITES.get(pooling.fn, (pooling.fn,)))
    size = vector_size(resolved.path, pipeline=pooling.uses_pipeline, parts=parts)
    if size is not None and compression.dims > size:
        raise NotApplicable(f"compression.dims={compression.dims} exceeds the embedding size {size} "
                            f"(model {resolved.spec.name}, strategy {pooling.slug}).")


def splits_needed(specs: list[TaskSpec], root, evaluator: Evaluator,
                  compression: CompressionSpec) -> dict[str, tuple[str, ...]]:
    """The splits each task's run reads: the evaluated one, what the evaluator needs (validation for
    held-out thresholds, train and validation for a probe), the compression's fit split for the task it is
    fitted on; nothing else, so a language with a test file only runs."""
    names: dict[str, set[str]] = {spec.result_name: {spec.eval_split} for spec in specs}
    by_name = {spec.name: spec.result_name for spec in specs} | {spec.result_name: spec.result_name for spec in specs}
    for spec in specs:
        names[spec.result_name] |= evaluator.splits(spec, spec.available_splits(root))
        if compression.active:
            owner = by_name.get(compression.fit_task or spec.result_name)
            if owner is not None:
                names[owner].add(compression.fit_split)
    return {spec.result_name: tuple(s for s in spec.splits if s in names[spec.result_name]) for spec in specs}


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


def companions(pooling: PoolingSpec, precompute) -> list[PoolingSpec]:
    """The requested strategy first, then the companions that share its forward pass.

    Hidden-state strategies are cheap next to the transformer itself, so whenever the model runs it
    also computes ``encode.precompute`` (names of ``conf/pooling`` files, or inline specs) and caches
    them: a sweep over strategies then costs one forward pass. ``sbert`` runs its own pipeline alone.
    """
    from bench.config import conf_values, group_choices

    if pooling.uses_pipeline:
        return [pooling]
    out = [pooling]
    for item in precompute or ():
        if isinstance(item, str):
            if item not in group_choices("pooling"):
                raise unknown_choice("pooling (in encode.precompute)", item, group_choices("pooling"))
            item = conf_values("pooling", item)  # the file's values: composing a whole config costs ~0.5 s
        spec = PoolingSpec.from_config(item)
        if not spec.uses_pipeline and spec.slug not in {s.slug for s in out}:
            out.append(spec)
    return out
